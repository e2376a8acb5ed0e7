"""Golden tests: -e -v -vv -vvv -x -xx -X -XX -A -q -S -K output against tcpdump's own text.

fixtures/print/golden/*.txt hold tcpdump 4.99.3's output (written by make_print_corpus.py), so these
tests run without tcpdump installed.
"""

from __future__ import annotations

import io

import pytest

from ebcap.capture.packet import Interface
from ebcap.dissectors import PrintOptions, TimestampMode, make_printer

from tests.helpers.paths import PRINT_CORPUS as CORPUS
from tests.helpers.printing import EBCAP_SUFFIX, FAMILIES, FLAG_OPTIONS, corpus_script, group_by_packet, read_pcap

golden_flags, golden_name = corpus_script().golden_flags, corpus_script().golden_name
CASES = [(family, flags) for family in FAMILIES for flags in golden_flags(family)]

# Known differences: (family, packet index) -> reason, for the flag sets with -v.
KNOWN: dict[tuple[str, int], str] = {}


def render(family: str, options: PrintOptions) -> list[str]:
    linktype, packets = read_pcap(CORPUS / f"{family}.pcap")
    out = io.StringIO()
    printer = make_printer(options, [Interface("eth0", linktype)], out)
    for p in packets:
        printer.print(p)
    return group_by_packet(out.getvalue().split("\n")[:-1])


@pytest.mark.parametrize("family,flags", CASES)
def test_matches_tcpdump_golden(family, flags):
    golden = CORPUS / "golden" / golden_name(family, flags)
    if not golden.exists():
        pytest.skip("golden files not generated (needs tcpdump)")
    expected = group_by_packet(golden.read_text().split("\n")[:-1])
    options = PrintOptions(numeric=True, timestamp_mode=TimestampMode.EPOCH, **FLAG_OPTIONS[flags])
    mine = render(family, options)
    assert len(mine) == len(expected)
    diffs = []
    for i, (a, b) in enumerate(zip(mine, expected)):
        a = EBCAP_SUFFIX.sub("", a)
        if a != b and not ("v" in flags and (family, i) in KNOWN):
            diffs.append(f"[{i}]\n  ebcap:   {a!r}\n  tcpdump: {b!r}")
    assert not diffs, "\n".join(diffs)


def test_timestamp_modes():
    from ebcap.dissectors.timefmt import TimestampFormatter

    ts = [1764000000_123456789, 1764000001_223456789, 1764000000_000000000]
    def run(**kw):
        f = TimestampFormatter(PrintOptions(**kw))
        return [f(t) for t in ts]
    assert run(timestamp_mode=1) == ["", "", ""]
    assert run(timestamp_mode=2) == ["1764000000.123456 ", "1764000001.223456 ", "1764000000.000000 "]
    assert run(timestamp_mode=2, nano=True)[0] == "1764000000.123456789 "
    assert run(timestamp_mode=3) == [" 00:00:00.000000 ", " 00:00:01.100000 ", "-00:00:01.223456 "]
    assert run(timestamp_mode=5) == [" 00:00:00.000000 ", " 00:00:01.100000 ", "-00:00:00.123456 "]


def test_show_interface_prefix():
    from ebcap.capture.packet import Direction
    linktype, packets = read_pcap(CORPUS / "arp.pcap")
    out = io.StringIO()
    printer = make_printer(PrintOptions(numeric=True, timestamp_mode=1, show_interface=True),
                           [Interface("veth0", linktype)], out)
    printer.print(packets[0]._replace(direction=Direction.OUT))
    assert out.getvalue() == "veth0 Out ARP, Request who-has 10.0.0.1 tell 10.0.0.9, length 28\n"


def test_protocol_names_without_n_are_tcpdumps_own():
    """Without -n, IP protocols are named from tcpdump's table (ipproto.c), not the host's
    /etc/protocols: the corpus's ipproto family holds numbers where the two disagree (Debian's
    file: 0 "ip", 143 "ethernet", no 7, 16, 253, 255). Its -n goldens are the test above's."""
    golden = CORPUS / "golden" / corpus_script().names_golden_name("ipproto")
    expected = group_by_packet(golden.read_text().split("\n")[:-1])
    mine = render("ipproto", PrintOptions(numeric=False, timestamp_mode=TimestampMode.EPOCH))
    assert [EBCAP_SUFFIX.sub("", a) for a in mine] == expected


def test_protocol_names_do_not_read_etc_protocols(monkeypatch):
    """The same names on a host without /etc/protocols (or with another one)."""
    import builtins

    from ebcap.dissectors import names

    def no_file(path, *args, **kwargs):
        if str(path) == "/etc/protocols":
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", no_file)
    assert [names.protocol_name(p) for p in (0, 6, 7, 143, 255, 200)] == \
        ["hopopt", "tcp", "cbt", None, "reserved", None]


def test_protocol_names_without_n_against_the_installed_tcpdump():
    """The golden file above, made again by this host's tcpdump (when it is 4.99, as the
    corpus's): the table is tcpdump's whatever this host's /etc/protocols says."""
    import os
    import shutil
    import subprocess
    if not shutil.which("tcpdump") or not shutil.which("unshare") or os.geteuid() != 0:
        pytest.skip("needs tcpdump, unshare and root")
    version = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True).stdout
    if "tcpdump version 4.99" not in version:
        pytest.skip(f"the corpus is tcpdump 4.99's: {version.splitlines()[0]}")
    script = corpus_script()
    assert script.tcpdump_names(CORPUS / "ipproto.pcap") == \
        (CORPUS / "golden" / script.names_golden_name("ipproto")).read_text()
