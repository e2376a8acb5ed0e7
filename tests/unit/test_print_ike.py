"""ISAKMP payload chains that the print corpus does not hold, against tcpdump 4.99.3's text
(taken from tcpdump -n -v on these frames): both versions name payload types by one table
(IKEv1's chain prints `pay15`, not `#15`) and print them by one table too (an IKEv1 message's
IKEv2 notification is IKEv2's), IKEv1's attribute maps leave group 18 in hex as tcpdump's do,
identification, certificate, notification and delete payloads show their contents, and an
all-zero initiator cookie is `?`. Then fixtures/print/ike_chains.py's generated chains against
the tcpdump installed here, where there is one."""

from __future__ import annotations

import importlib.util
import io
import shutil
import struct
import subprocess

import pytest

from ebcap.capture.packet import Interface
from ebcap.dissectors import PrintOptions, TimestampMode, make_printer
from tests.helpers.paths import PRINT_CORPUS
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


def chain(items: list[tuple[int, bytes]]) -> bytes:
    """Payloads of these (type, body), each header naming the next one's type."""
    return b"".join(payload(items[n + 1][0] if n + 1 < len(items) else 0, body)
                    for n, (_np, body) in enumerate(items))


def print_file(path, verbose: int = 1) -> str:
    linktype, packets = read_pcap(path)
    out = io.StringIO()
    printer = make_printer(PrintOptions(numeric=True, verbose=verbose, timestamp_mode=TimestampMode.EPOCH),
                           [Interface("eth0", linktype)], out)
    for packet in packets:
        printer.print(packet)
    return out.getvalue()


def printed(tmp_path, frames: list[bytes], headlines: bool = False) -> list[str]:
    """Each frame's text after its IP header's line: from its UDP headline, or from its payloads."""
    path = tmp_path / "ike.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1764000000 + i, 0, len(frame), len(frame)) + frame)
    return [entry.split("\n", 1 if headlines else 2)[-1]
            for entry in group_by_packet(print_file(path).split("\n")[:-1])]


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


def headline(text: str) -> str:
    return "    10.0.0.1.500 > 10.0.0.2.500: " + text


def test_payload_contents_as_tcpdump_prints_them(tmp_path):
    v1 = [(5, struct.pack("!BBH", 4, 17, 500) + bytes([10, 1, 0, 0, 255, 255, 0, 0])),
          (5, struct.pack("!BBH", 2, 0, 0) + b"vpn.example.org"),
          (6, b"\x04" + b"\xab" * 3),
          (7, b"\x05"),
          (11, struct.pack("!IBBH", 1, 3, 4, 24576) + b"\x01\x02\x03\x04" + struct.pack("!HH", 0x800B, 1)
           + struct.pack("!HHI", 0x000C, 4, 3600)),
          (11, struct.pack("!IBBH", 1, 3, 0, 24577) + struct.pack("!I", 1)),
          (12, struct.pack("!IBBH", 1, 3, 4, 2) + b"\x11" * 4 + b"\x22" * 4),
          (41, struct.pack("!BBH", 0, 0, 16384))]
    v2 = [(36, struct.pack("!B3s", 2, bytes(3)) + b"gw.example.net"),
          (35, struct.pack("!B3s", 1, bytes(3)) + bytes([192, 0, 2, 1])),
          (41, struct.pack("!BBH", 3, 4, 16388) + b"\x01\x02\x03\x04" + b"\x77" * 4),
          (41, struct.pack("!BBH", 0, 0, 16390) + b"\x5a" * 8),
          (44, struct.pack("!B3s", 1, bytes(3)) + struct.pack("!BBHBBHH4s4s", 7, 0, 16, 0, 0, 0, 65535, bytes(4),
                                                               b"\xff" * 4)),
          (12, struct.pack("!IBBH", 1, 3, 4, 1) + b"\x33" * 4)]
    zero_cookie = bytearray(ike_frame(8, 0x10, 4, chain([(8, b"\x42" * 4), (46, bytes(8))])))
    zero_cookie[42:50] = bytes(8)
    assert printed(tmp_path, [ike_frame(5, 0x10, 2, chain(v1)), ike_frame(36, 0x20, 34, chain(v2)),
                              bytes(zero_cookie)], headlines=True) == [
        headline("isakmp 1.0 msgid 00000000: phase 1 I ident:\n"
                 "    (id: idtype=IPv4net protoid=17 port=500 len=8 10.1.0.0/255.255.0.0)\n"
                 "    (id: idtype=FQDN protoid=0 port=0 len=15 vpn.example.org)\n"
                 "    (cert: len=4 type=x509sign)\n"
                 "    (cr: len=1 type=x509ke)\n"
                 "    (n: doi=ipsec proto=ipsec-esp type=RESPONDER-LIFETIME spi=01020304 attrs=((type=lifetype "
                 "value=sec)(type=lifeduration len=4 value=00000e10)))\n"
                 "    (n: doi=ipsec proto=ipsec-esp type=REPLAY-STATUS status=(replay detection enabled))\n"
                 "    (d: doi=ipsec proto=ipsec-esp spilen=4 nspi=2 spi=11111111,22222222)\n"
                 "    (n: prot_id=#0 type=16384(initial_contact))"),
        headline("isakmp 2.0 msgid 00000000: parent_sa ikev2_init:\n"
                 "    (v2IDr: len=18 fqdn:gw.example.net)\n"
                 "    (v2IDi: len=8 ipv4:c0000201)\n"
                 "    (n: prot_id=ipsec-esp type=16388(nat_detection_source_ip) spi=01020304)\n"
                 "    (n: prot_id=#0 type=16390(cookie) data=(5a5a5a5a5a5a5a5a0c00...ffffffff0000001000000001"
                 "0304000133333333))\n"
                 "    (v2TSi: len=22)\n"
                 "    (d: doi=ipsec proto=ipsec-esp spilen=4 nspi=1 spi=33333333)"),
        headline("isakmp 1.0 msgid 00000000: phase 1 ? agg:\n    (hash: len=4)\n    (v2e)"),
    ]


def ike_chains():
    """fixtures/print/ike_chains.py (loaded by path: the fixtures are scripts, not a package)."""
    path = PRINT_CORPUS / "ike_chains.py"
    spec = importlib.util.spec_from_file_location("ike_chains", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
@pytest.mark.parametrize("verbose", [1, 2, 3, 4])
def test_generated_chains_print_as_tcpdump_prints_them(tmp_path, verbose):
    """400 generated messages of every payload type, some damaged, some cut short: all as tcpdump."""
    chains = ike_chains()
    path = tmp_path / "chains.pcap"
    chains.write_pcap(path, chains.packets(1))
    theirs = subprocess.run(["tcpdump", "-n", "-tt", "-" + "v" * verbose, "-r", str(path)], capture_output=True,
                            text=True, errors="backslashreplace", check=True).stdout
    ours = print_file(path, verbose)
    different = [(a, b) for a, b in zip(chains.by_packet(theirs), chains.by_packet(ours)) if a != b]
    assert len(chains.by_packet(ours)) == chains.PACKETS
    assert different == []
