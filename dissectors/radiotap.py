"""Radiotap (print-802_11.c's ieee802_11_radio_print): the fields of the first presence word
that tcpdump prints on one line, then the 802.11 frame (dissectors/ieee802_11.py).

Each field is aligned to its own size from the start of the header; a field whose size ebcap
does not know ends the walk there (the fields after it cannot be found)."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.ieee802_11 import ieee802_11_print

F_SHORTPRE, F_FCS, F_DATAPAD, F_CFP, F_WEP, F_FRAG, F_BADFCS = 0x02, 0x10, 0x20, 0x01, 0x04, 0x08, 0x40
BIT_FLAGS, BIT_MCS, BIT_EXT = 1, 19, 31
# bit: (struct format, alignment); formats little-endian
FIELDS = {0: ("<Q", 8), 1: ("<B", 1), 2: ("<B", 1), 3: ("<HH", 2), 4: ("<BB", 1), 5: ("<b", 1),
          6: ("<b", 1), 7: ("<H", 2), 8: ("<H", 2), 9: ("<H", 2), 10: ("<b", 1), 11: ("<B", 1),
          12: ("<B", 1), 13: ("<B", 1), 14: ("<H", 2), 15: ("<H", 2), 16: ("<B", 1),
          17: ("<B", 1), 18: ("<IHBB", 4), 19: ("<BBB", 1), 20: ("<IHBB", 4)}
CHAN_TURBO, CHAN_CCK, CHAN_OFDM, CHAN_2GHZ, CHAN_5GHZ = 0x10, 0x20, 0x40, 0x80, 0x100
CHAN_DYN, CHAN_GFSK, CHAN_HALF, CHAN_QUARTER = 0x400, 0x800, 0x4000, 0x8000
CHAN_HT20, CHAN_HT40U, CHAN_HT40D = 0x10000, 0x20000, 0x40000


def radiotap_if_print(nd, data: bytes, length: int) -> None:
    nd.proto = "radiotap"
    if len(data) < 8:
        raise Truncated
    hlen = struct.unpack_from("<H", data, 2)[0]
    if hlen < 8 or len(data) < hlen:
        raise Truncated
    words, off = [], 4
    while True:                              # the presence words, bit 31 saying one more follows
        if off + 4 > hlen:
            raise Truncated
        word = struct.unpack_from("<I", data, off)[0]
        words.append(word)
        off += 4
        if not word & (1 << BIT_EXT):
            break
    present, flags = words[0], 0
    for bit in range(BIT_EXT):
        if not present & (1 << bit):
            continue
        if bit not in FIELDS:
            break
        fmt, align = FIELDS[bit]
        off = (off + align - 1) & ~(align - 1)
        size = struct.calcsize(fmt)
        if off + size > hlen:
            raise Truncated
        values = struct.unpack_from(fmt, data, off)
        off += size
        if bit == BIT_FLAGS:
            flags = values[0]
        _field(nd, bit, values, present)
    nd.ll_len = hlen
    nd.ll_len = hlen + ieee802_11_print(nd, data, hlen, length - hlen, pad=bool(flags & F_DATAPAD),
                                        fcslen=4 if flags & F_FCS else 0)


# bit -> (the text of a field of one value, the value's sign); print-802_11.c's
# print_radiotap_field prints the attenuations (8, 9) negated
_ONE_VALUE = {0: ("%uus tsft ", 1), 5: ("%ddBm signal ", 1), 6: ("%ddBm noise ", 1), 7: ("%u sq ", 1),
              8: ("%d tx power ", -1), 9: ("%ddB tx attenuation ", -1), 10: ("%ddBm tx power ", 1),
              11: ("antenna %u ", 1), 12: ("%udB signal ", 1), 13: ("%udB noise ", 1)}


def _field(nd, bit: int, v: tuple, present: int) -> None:
    out = nd.out
    one = _ONE_VALUE.get(bit)
    if one is not None:
        text, sign = one
        out.append(text % (sign * v[0]))
    elif bit == 1:
        for flag, text in ((F_CFP, "cfp "), (F_SHORTPRE, "short preamble "), (F_WEP, "wep "),
                           (F_FRAG, "fragmented "), (F_BADFCS, "bad-fcs ")):
            if v[0] & flag:
                out.append(text)
    elif bit == 2:
        if 0x80 <= v[0] <= 0x8F:
            out.append("MCS %u " % (v[0] & 0x7F))
        else:
            out.append("%2.1f Mb/s " % (0.5 * v[0]))
    elif bit == 3:
        out.append(_chaninfo(v[0], v[1], present))
    elif bit == 4:
        out.append("fhset %u fhpat %u " % v)


def _chaninfo(freq: int, flags: int, present: int) -> str:
    text = "%u MHz" % freq
    if present & (1 << BIT_MCS):
        text += " 11n"
    else:
        if flags & (CHAN_2GHZ | CHAN_GFSK) == CHAN_2GHZ | CHAN_GFSK:
            text += " FHSS"
        if flags & (CHAN_5GHZ | CHAN_OFDM) == CHAN_5GHZ | CHAN_OFDM:
            text += " 11a/10Mhz" if flags & CHAN_HALF else " 11a/5Mhz" if flags & CHAN_QUARTER else " 11a"
        if (flags & (CHAN_2GHZ | CHAN_OFDM) == CHAN_2GHZ | CHAN_OFDM
                or flags & (CHAN_2GHZ | CHAN_DYN) == CHAN_2GHZ | CHAN_DYN):
            text += " 11g/10Mhz" if flags & CHAN_HALF else " 11g/5Mhz" if flags & CHAN_QUARTER else " 11g"
        elif flags & (CHAN_2GHZ | CHAN_CCK) == CHAN_2GHZ | CHAN_CCK:
            text += " 11b"
        if flags & CHAN_TURBO:
            text += " Turbo"
    if flags & CHAN_HT20:
        text += " ht/20"
    elif flags & CHAN_HT40D:
        text += " ht/40-"
    elif flags & CHAN_HT40U:
        text += " ht/40+"
    return text + " "
