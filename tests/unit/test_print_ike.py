"""ISAKMP payload chains that the print corpus does not hold, against tcpdump 4.99.3's text
(taken from tcpdump -n -v on these frames): both versions name payload types by one table
(IKEv1's chain prints `pay15`, not `#15`), and IKEv1's attribute maps leave group 18 in hex
as tcpdump's do."""

from __future__ import annotations

import io
import struct

from ebcap.capture.packet import Interface
from ebcap.dissectors import PrintOptions, TimestampMode, make_printer
from tests.helpers.printing import group_by_packet, read_pcap


def payload(np: int, body: bytes) -> bytes:
    return struct.pack("!BBH", np, 0, 4 + len(body)) + body


def ike_frame(first: int, version: int, exchange: int, body: bytes) -> bytes:
    ike = struct.pack("!8s8sBBBBII", b"\x11" * 8, bytes(8), first, version, exchange, 0, 0,
                      28 + len(body)) + body
    udp = struct.pack("!HHHH", 500, 500, 8 + len(ike), 0) + ike
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes([10, 0, 0, 1]),
                     bytes([10, 0, 0, 2]))
    words = struct.unpack("!10H", ip)
    total = sum(words)
    total = (total >> 16) + (total & 0xFFFF)
    ip = ip[:10] + struct.pack("!H", ~(total + (total >> 16)) & 0xFFFF) + ip[12:]
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


def v1_sa(proto: int, group: int) -> bytes:
    attribute = struct.pack("!HH", 0x8004 if proto == 1 else 0x8003, group)   # group desc
    transform = payload(0, struct.pack("!BBH", 1, 1, 0) + attribute)
    proposal = payload(0, struct.pack("!BBBB", 1, proto, 0, 1) + transform)
    return payload(0, struct.pack("!II", 1, 1) + proposal)


def printed(tmp_path, frames: list[bytes]) -> list[str]:
    path = tmp_path / "ike.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1764000000 + i, 0, len(frame), len(frame)) + frame)
    linktype, packets = read_pcap(path)
    out = io.StringIO()
    printer = make_printer(PrintOptions(numeric=True, verbose=1, timestamp_mode=TimestampMode.EPOCH),
                           [Interface("eth0", linktype)], out)
    for packet in packets:
        printer.print(packet)
    return [entry.split("\n", 2)[2] for entry in group_by_packet(out.getvalue().split("\n")[:-1])]


def test_ikev1_attribute_groups_as_tcpdump_names_them(tmp_path):
    frames = [ike_frame(1, 0x10, 2, v1_sa(proto, group)) for proto in (1, 3) for group in (17, 18, 19)]
    assert printed(tmp_path, frames) == [
        "    (sa: doi=ipsec situation=identity\n        (p: #1 protoid=isakmp transform=1\n"
        f"            (t: #1 id=ike (type=group desc value={value}))))"
        for value in ("modp6144", "0012", "0013")] + [
        "    (sa: doi=ipsec situation=identity\n        (p: #1 protoid=ipsec-esp transform=1\n"
        f"            (t: #1 id=1des-iv64 (type=group desc value={value}))))"
        for value in ("modp6144", "0012", "0013")]


def test_both_versions_name_payload_types_by_one_table(tmp_path):
    v1 = payload(15, b"ab") + payload(20, b"cd") + payload(0, b"ef")
    v2 = payload(15, b"ab") + payload(0, b"cd")
    first_v1, first_v2 = ike_frame(8, 0x10, 2, v1), ike_frame(20, 0x20, 34, v2)
    assert printed(tmp_path, [first_v1, first_v2]) == [
        "    (hash: len=2)\n    (pay15)\n    (pay20)",
        "    (pay20)\n    (pay15)",
    ]
