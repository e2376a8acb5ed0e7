"""Differential test: the default line printer against tcpdump -n -tt on the fixture corpus."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from ebcap.capture.packet import Direction, Interface, Packet
from ebcap.dissectors import PrintOptions, TimestampMode, make_printer, registry
from ebcap.dissectors.context import PortTable
from tests.helpers.paths import PRINT_CORPUS as CORPUS
from tests.helpers.printing import FAMILIES, read_pcap

TCPDUMP = shutil.which("tcpdump")

# Lines where ebcap is known to differ from tcpdump: (family, packet index) -> reason.
# Empty means identity is asserted for every packet of the listed families.
KNOWN_DIFFERENCES: dict[tuple[str, int], str] = {}


def ebcap_lines(path: Path, options: PrintOptions) -> list[str]:
    linktype, packets = read_pcap(path)
    out = io.StringIO()
    printer = make_printer(options, [Interface("eth0", linktype)], out)
    for p in packets:
        printer.print(p)
    return out.getvalue().splitlines()


def tcpdump_lines(path: Path, *flags: str) -> list[str]:
    res = subprocess.run([TCPDUMP, "-r", str(path), *flags], capture_output=True, text=True,
                         env={**os.environ, "TZ": "UTC"}, check=True)
    return res.stdout.splitlines()


EBCAP_EXTRA = re.compile(r" TLS ClientHello.*$")
NUMERIC_EPOCH = PrintOptions(numeric=True, timestamp_mode=TimestampMode.EPOCH)


def identity(family: str) -> tuple[int, int, list[str]]:
    path = CORPUS / f"{family}.pcap"
    mine = ebcap_lines(path, NUMERIC_EPOCH)
    theirs = tcpdump_lines(path, "-n", "-tt")
    diffs = []
    same = 0
    for i, (a, b) in enumerate(zip(mine, theirs)):
        a = EBCAP_EXTRA.sub("", a)   # ebcap's own TLS summary comes after tcpdump's text
        if a == b:
            same += 1
        elif (family, i) not in KNOWN_DIFFERENCES:
            diffs.append(f"{family}[{i}]\n  ebcap:   {a}\n  tcpdump: {b}")
    if len(mine) != len(theirs):
        diffs.append(f"{family}: {len(mine)} lines vs tcpdump {len(theirs)}")
    return same, len(theirs), diffs


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed")
@pytest.mark.parametrize("family", FAMILIES)
def test_lines_identical_to_tcpdump(family):
    same, total, diffs = identity(family)
    assert not diffs, "\n".join(diffs)


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump not installed")
def test_identity_share_report(capsys):
    same = total = 0
    shares = []
    for family in FAMILIES:
        s, t, _ = identity(family)
        same += s
        total += t
        shares.append(f"{family} {s}/{t}")
    with capsys.disabled():
        print(f"\nebcap vs tcpdump -n -tt: {same} of {total} lines identical ({', '.join(shares)})")
    assert same >= total - len(KNOWN_DIFFERENCES)


def test_relative_sequence_numbers_and_absolute_flag():
    path = CORPUS / "tcp.pcap"
    rel = ebcap_lines(path, NUMERIC_EPOCH)
    absolute = ebcap_lines(path, PrintOptions(numeric=True, timestamp_mode=TimestampMode.EPOCH, absolute_seq=True))
    assert "seq 1:93, ack 1," in rel[3]
    assert "seq 603899917:603900009, ack 1078823770," in absolute[3]


def test_tls_client_hello_is_appended_after_the_tcpdump_text():
    line = ebcap_lines(CORPUS / "tcp.pcap", NUMERIC_EPOCH)[3]
    assert line.endswith("length 92 TLS ClientHello sni example.com alpn [h2,http/1.1]")


def test_port_table_precedence_follows_row_order():
    first, second = object(), object()
    table = PortTable([(80, first), (53, second)])
    assert table.lookup(53, 80) is first
    assert table.lookup(80, 53) is first
    assert table.lookup(40000, 53) is second
    assert table.lookup(1, 2) is None


def test_a_protocol_is_one_printer_and_one_table_row(monkeypatch):
    """The frame loop and the transports know no application by name: a UDP row is enough."""
    def echo_print(nd, data, pay, length):
        nd.proto = "echo"
        nd.out.append("ECHO %r, length %u" % (data[pay:pay + length], length))

    monkeypatch.setattr(registry, "UDP_PORTS", PortTable([(7, echo_print)]))
    frame = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=40000, dport=7) / b"ping")
    out = io.StringIO()
    make_printer(NUMERIC_EPOCH, [Interface("eth0")], out).print(Packet(0, 0, Direction.IN, len(frame), frame))
    assert out.getvalue() == "0.000000 IP 10.0.0.1.40000 > 10.0.0.2.7: ECHO b'ping', length 4\n"
