"""Big-endian field readers (tcpdump's extract.h): `u16(data, off)[0]` and friends.

Each is a struct.Struct's unpack_from, so a read past the captured bytes raises struct.error, which
the line printer turns into ` [|proto]`. A header with a layout of its own declares its Struct in
its module.
"""

from __future__ import annotations

import struct

u16 = struct.Struct("!H").unpack_from
u32 = struct.Struct("!I").unpack_from
u16_pair = struct.Struct("!HH").unpack_from     # ports; ICMP id and sequence
u32_pair = struct.Struct("!II").unpack_from     # a SACK block; TCP timestamps
