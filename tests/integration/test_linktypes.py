"""`ebcap -r` on every link type of fixtures/corpus/ (fixtures/make_linktype_corpus.py): the
banner names the link type as tcpdump does, the headers-only cut ends at the transport header
after each link header, and without an expression any link type reads (no kernel needed).
What ebcap's kernel program cannot filter gets one line naming the link type.

Which packets a filter selects on each link type: tests/integration/test_filter_differential.py."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ebcap.capture.config import HEADERS_MAX
from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.paths import EBCAP, FIXTURES

CORPUS = FIXTURES / "corpus"
TCPDUMP = shutil.which("tcpdump") or "/usr/bin/tcpdump"
# link header length of each corpus file (the headers-only cut starts after it)
LINK_HEADER = {"ethernet": 14, "linux_sll": 16, "linux_sll2": 20, "null": 4, "loop": 4, "ppp": 4,
               "ppp_ether": 8, "raw12": 0, "ipv4": 0, "raw": 0}


def ebcap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EBCAP), *args], capture_output=True, text=True, timeout=120)


def read(path: Path):
    with path.open("rb") as f:
        reader = CaptureFileReader(f, str(path))
        packets = list(reader)
        return reader.interfaces, packets


def pcap_file(path: Path, linktype: int, frames: list[bytes]) -> Path:
    parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for i, data in enumerate(frames):
        parts += [struct.pack("<IIII", 1764000000, i, len(data), len(data)), data]
    path.write_bytes(b"".join(parts))
    return path


@pytest.mark.parametrize("name", sorted(LINK_HEADER))
def test_banner_is_tcpdumps(name):
    path = CORPUS / f"{name}.pcap"
    want = subprocess.run([TCPDUMP, "-r", str(path), "-c", "1"], capture_output=True,
                          text=True).stderr.splitlines()[0]
    got = ebcap("-r", str(path), "-c", "1").stderr.splitlines()[0]
    assert got == want


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(LINK_HEADER))
def test_headers_only_cuts_after_the_transport_header(name, tmp_path):
    """IPv4 TCP: the cut is the link header, the IP header and the TCP header, whatever the
    link type (bpf/ebcap.c's headers_end() with the link's -D constants)."""
    path, out = CORPUS / f"{name}.pcap", tmp_path / "out.pcapng"
    run = ebcap("-r", str(path), "--headers-only", "-w", str(out), "ip and tcp")
    assert run.returncode == 0, run.stderr
    _, inputs = read(path)
    full = {p.ts_ns: p.data for p in inputs}
    _, packets = read(out)
    assert packets
    hlen = LINK_HEADER[name]
    for p in packets:
        data = full[p.ts_ns]
        if len(data) < hlen + 20:
            continue
        ihl = (data[hlen] & 0xF) * 4
        first_fragment = struct.unpack_from(">H", data, hlen + 6)[0] & 0x1FFF == 0
        doff = 0
        if first_fragment and len(data) > hlen + ihl + 12:
            doff = (data[hlen + ihl + 12] >> 4) * 4     # a later fragment has no TCP header
        assert p.data == data[:min(len(data), hlen + ihl + doff)]


OPAQUE = ["ieee802_11", "ieee802_11_radio", "nflog"]


@pytest.mark.parametrize("name", OPAQUE)
def test_banner_of_opaque_link_types_is_tcpdumps(name):
    test_banner_is_tcpdumps(name)


@pytest.mark.kernel
@pytest.mark.parametrize("name", OPAQUE)
def test_headers_only_keeps_headers_max_of_a_link_header_ebcap_does_not_walk(name, tmp_path):
    path, out = CORPUS / f"{name}.pcap", tmp_path / "out.pcapng"
    run = ebcap("-r", str(path), "--headers-only", "-w", str(out), "len > 0")
    assert run.returncode == 0, run.stderr
    _, inputs = read(path)
    _, packets = read(out)
    assert [p.data for p in packets] == [p.data[:HEADERS_MAX] for p in inputs]


def test_no_expression_needs_no_kernel_and_reads_any_link_type(tmp_path):
    """LINKTYPE_USER0 (147): nothing to filter, so every packet is written as it is."""
    frames = [b"\x01\x02\x03", bytes(range(60)), bytes(2000)]
    path, out = pcap_file(tmp_path / "user0.pcap", 147, frames), tmp_path / "out.pcapng"
    run = ebcap("-r", str(path), "-w", str(out))
    assert run.returncode == 0, run.stderr
    interfaces, packets = read(out)
    assert [i.linktype for i in interfaces] == [147]
    assert [p.data for p in packets] == frames
    run = ebcap("-r", str(path), "-s", "10", "-w", str(out))
    assert [p.data for p in read(out)[1]] == [f[:10] for f in frames]


@pytest.mark.kernel
def test_an_expression_on_an_unknown_link_type_is_one_line(tmp_path):
    path = pcap_file(tmp_path / "user0.pcap", 147, [bytes(60)])
    run = ebcap("-r", str(path), "link[0] = 0")
    assert run.returncode == 1
    assert run.stderr.splitlines()[1:] == [
        "ebcap: link type 147 (unknown) is not supported by ebcap's kernel program"]


# ---------------------------------------------------------------------------- several link types
def first_packets(name: str, n: int):
    return read(CORPUS / f"{name}.pcap")[1][:n]


def mixed_pcapng(path: Path) -> tuple[Path, list[tuple[int, bytes]]]:
    """Ethernet declared first; LINUX_SLL2 declared after a packet; NULL after more packets;
    then a second section whose only interface is LINUX_SLL. Returns the file and, in order,
    (output interface id, data) of every packet."""
    from ebcap.capture.packet import Interface, Packet
    from ebcap.capture.pcapng.writer import encode_epb, encode_idb, encode_shb
    blocks, expected, ts = [encode_shb(), encode_idb(Interface("eth0", 1))], [], 1764000000 * 10**9

    def packet(section_id: int, output_id: int, data: bytes) -> None:
        nonlocal ts
        ts += 1000
        blocks.append(encode_epb(Packet(ts, section_id, 0, len(data), data)))
        expected.append((output_id, data))

    eth, sll2, null, sll = (first_packets(n, 3) for n in ("ethernet", "linux_sll2", "null", "linux_sll"))
    packet(0, 0, eth[0].data)
    blocks.append(encode_idb(Interface("any", 276)))
    packet(1, 1, sll2[0].data)
    packet(0, 0, eth[1].data)
    blocks.append(encode_idb(Interface("lo0", 0)))
    packet(2, 2, null[0].data)
    packet(1, 1, sll2[1].data)
    blocks += [encode_shb(), encode_idb(Interface("cooked", 113))]
    packet(0, 3, sll[0].data)
    packet(0, 3, sll[1].data)
    path.write_bytes(b"".join(blocks))
    return path, expected


@pytest.mark.parametrize("expression", ["", pytest.param("tcp", marks=pytest.mark.kernel)])
def test_interfaces_of_several_link_types_and_declared_late(expression, tmp_path):
    """tcpdump refuses such a file ("an interface has a type 276 different from the type of
    the first interface"); ebcap runs each packet through its link type's filter."""
    path, expected = mixed_pcapng(tmp_path / "mixed.pcapng")
    out = tmp_path / "out.pcapng"
    run = ebcap("-r", str(path), "-w", str(out), *([expression] if expression else []))
    assert run.returncode == 0, run.stderr
    interfaces, packets = read(out)
    assert [(i.name, i.linktype) for i in interfaces] == [
        ("eth0", 1), ("any", 276), ("lo0", 0), ("cooked", 113)]
    assert [(p.interface, p.data) for p in packets] == expected   # the first packets are all TCP


def test_each_interface_prints_with_its_link_types_printer(tmp_path):
    path, expected = mixed_pcapng(tmp_path / "mixed.pcapng")
    run = ebcap("-r", str(path), "-n", "-t")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(expected)
    # SLL2 names the interface (by index: ifb0, ifb1 as tcpdump -r does) and the direction
    prefixes = ["IP ", "ifb0  In  IP ", "IP ", "IP ", "ifb1  B   IP ", "IP ", "IP "]
    assert [line[:len(p)] for line, p in zip(lines, prefixes)] == prefixes


# ---------------------------------------------------------------------------- printing
# Lines of the protocols ebcap's fast path decodes as tcpdump does: on every link type they must
# come out the same (the others are the printers' work, not the link types').
# (the decoded protocol right after the addresses: not inside a tunnel)
DECODED = re.compile(r"^\S+ (\S+ +(In|Out|B|M|P) +)?(PPPoE  \[ses 0x1234\] )?"
                     r"(\S+ Mb/s \d+ MHz 11g -\d+dBm signal )?IP6? \S+ > \S+: "
                     r"(Flags \[|ICMP echo|ICMP6, echo).*length \d+$")
PRINTED = ["ethernet", "linux_sll", "linux_sll2", "null", "loop", "ppp", "ppp_ether", "raw12",
           "ipv4", "ipv6", "nflog", "ieee802_11", "ieee802_11_radio"]


def lines_by_time(argv: list[str]) -> dict[str, str]:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    # a packet's first line starts with its -tt time; dumps and continuation lines do not
    return {line.split(" ", 1)[0]: line for line in out.splitlines()
            if re.match(r"\d+\.\d{6} ", line)}


@pytest.mark.parametrize("name", PRINTED)
def test_prints_as_tcpdump_on_every_link_type(name):
    path = str(CORPUS / f"{name}.pcap")
    want = lines_by_time([TCPDUMP, "-n", "-tt", "-r", path])
    got = lines_by_time([str(EBCAP), "-n", "-tt", "-r", path])
    assert got.keys() == want.keys()
    compared = {t: line for t, line in want.items() if DECODED.match(line)}
    assert len(compared) >= 5
    assert {t: got[t] for t in compared} == compared
    # where the link header itself is cut short, both say so the same way
    cut = {t: line for t, line in want.items() if re.search(r"\[\|(ppp|pppoe|nflog|null|sll|sll2)\]", line)}
    assert {t: got[t] for t in cut} == cut


@pytest.mark.parametrize("name", ["ppp", "ppp_ether", "nflog", "ieee802_11", "ieee802_11_radio"])
def test_link_header_with_e_is_tcpdumps(name):
    path = str(CORPUS / f"{name}.pcap")
    want = lines_by_time([TCPDUMP, "-n", "-e", "-tt", "-c", "17", "-r", path])   # plain TCP
    got = lines_by_time([str(EBCAP), "-n", "-e", "-tt", "-c", "17", "-r", path])
    assert got == want


@pytest.mark.parametrize("name", ["ieee802_11", "ieee802_11_radio"])
def test_management_and_control_frames_print_as_tcpdump(name):
    """A beacon, a probe request, an ACK and an RTS (with radiotap's rate, channel, signal)."""
    path = str(CORPUS / f"{name}.pcap")
    want = subprocess.run([TCPDUMP, "-n", "-tt", "-r", path], capture_output=True, text=True)
    got = ebcap("-n", "-tt", "-r", path)
    assert got.stdout.splitlines()[-4:] == want.stdout.splitlines()[-4:]
    want = subprocess.run([TCPDUMP, "-n", "-e", "-tt", "-r", path], capture_output=True, text=True)
    got = ebcap("-n", "-e", "-tt", "-r", path)
    assert got.stdout.splitlines()[-4:] == want.stdout.splitlines()[-4:]


@pytest.mark.kernel
def test_drop_privileges_after_loading_every_link_types_program(tmp_path):
    """-Z loads a program for every link type before it drops root; one whose filter libpcap
    refuses (`tcp` on NFLOG) matters only if the file declares it."""
    path, expected = mixed_pcapng(tmp_path / "mixed.pcapng")
    run = ebcap("-r", str(path), "-Z", "nobody", "-n", "-t", "tcp")
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == len(expected)
    run = ebcap("-r", str(CORPUS / "nflog.pcap"), "-Z", "nobody", "tcp")
    assert run.returncode == 1
    assert run.stderr.splitlines()[1:] == ["ebcap: NFLOG link-layer type filtering not implemented"]


@pytest.mark.kernel
def test_openbsd_raw_value_14_reads_as_raw_ip(tmp_path):
    """libpcap on Linux knows no link type 14 (tcpdump: "unknown data link type 14"); ebcap reads
    it as the raw IP it is on OpenBSD: the same selection as the file saying 12, written as
    LINKTYPE_RAW as tcpdump writes 12."""
    data = bytearray((CORPUS / "raw12.pcap").read_bytes())
    struct.pack_into("<I", data, 20, 14)
    path = tmp_path / "raw14.pcap"
    path.write_bytes(data)
    outs = []
    for name, source in (("12", CORPUS / "raw12.pcap"), ("14", path)):
        out = tmp_path / f"out{name}.pcapng"
        run = ebcap("-r", str(source), "-w", str(out), "tcp port 80")
        assert run.returncode == 0, run.stderr
        interfaces, packets = read(out)
        assert [i.linktype for i in interfaces] == [101]
        outs.append([(p.ts_ns, p.data) for p in packets])
    assert outs[0] and outs[0] == outs[1]
    assert ebcap("-n", "-r", str(path)).stdout == ebcap("-n", "-r", str(CORPUS / "raw12.pcap")).stdout
