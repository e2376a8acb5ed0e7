"""Issue 15 part A's printers: the dispatch rows they need and the checks the golden files cannot
show (precedence against existing rows, checksums computed, not copied)."""

from __future__ import annotations

import io
import struct

from ebcap.capture.packet import Direction, Interface, LinkType, Packet
from ebcap.dissectors import PrintOptions, TimestampMode, make_printer, registry
from ebcap.dissectors.context import PortTable
from ebcap.dissectors.isoclns import osi_checksum


def line(frame: bytes, **options) -> str:
    out = io.StringIO()
    printer = make_printer(PrintOptions(numeric=True, timestamp_mode=TimestampMode.NONE, **options),
                           [Interface("eth0", LinkType.ETHERNET)], out)
    printer.print(Packet(0, 0, Direction.IN, len(frame), frame))
    return out.getvalue()


def udp_frame(sport: int, dport: int, payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0, bytes([10, 0, 0, 1]),
                     bytes([10, 0, 0, 2]))
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + udp + payload


def test_append_rows_ranks_after_every_row_and_keeps_existing_ports():
    first, second, third = object(), object(), object()
    table = PortTable([(10, first)])
    table.append_rows([(20, second), (10, third)])
    assert table.lookup(10, 20) is first      # the earlier row wins where both ports match
    assert table.lookup(99, 20) is second
    assert table[10][1] is first              # a port already there keeps its row


def test_part_a_rows_are_registered():
    assert registry.ETHERTYPES[0x88F7].__module__.endswith("ptp")
    assert registry.IP_PROTOCOLS[88].__module__.endswith("eigrp")
    for port in (319, 320, 521, 646, 1701, 6696, 6697, 49152):
        assert port in registry.UDP_PORTS
    assert 646 in registry.TCP_PORTS


def test_broadcom_li_shim_is_taken_by_source_port_only():
    shim = struct.pack("!I", 3 << 29 | 5 << 25 | 3 << 22 | 77)
    assert "BCM-LI-SHIM: direction ingress, pkt-type ipv4" in line(udp_frame(49152, 4784, shim))
    # as the destination port it is not the shim (print-udp.c tests the source port)
    assert line(udp_frame(5000, 49152, shim)).endswith("UDP, length 4\n")


def test_bfd_control_verbose_timers():
    bfd = struct.pack("!BBBBIIIII", 0x20, 0xC0, 3, 24, 1, 2, 300000, 300000, 50000)
    text = line(udp_frame(49200, 3784, bfd), verbose=1)
    assert "BFDv1, length: 24\n\tControl, State Up, Flags: [none], Diagnostic: No Diagnostic (0x00)" in text
    assert "Detection Timer Multiplier: 3 (900 ms Detection time)" in text
    assert "Required min Echo Interval:   50 ms" in text


def test_osi_checksum_is_the_fletcher_sum_that_verifies():
    pdu = bytearray(bytes(range(1, 30)))
    pdu[12:14] = b"\0\0"
    checksum = osi_checksum(bytes(pdu), 12, len(pdu))
    pdu[12:14] = checksum.to_bytes(2, "big")
    # ISO 8473's check: both running sums over the whole PDU, checksum included, are 0 mod 255
    c0 = c1 = 0
    for b in pdu:
        c0 = (c0 + b) % 255
        c1 = (c1 + c0) % 255
    assert (c0, c1) == (0, 0)
