"""The print corpus (fixtures/print): its families, its packets, and tcpdump's golden text."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

from ebcap.capture.packet import Packet
from ebcap.capture.pcapng.reader import CaptureFileReader
from tests.helpers.paths import PRINT_CORPUS

# The golden files' tcpdump flags -> the PrintOptions that ask ebcap for the same text.
FLAG_OPTIONS = {
    "": dict(),
    "-e": dict(link_header=True), "-v": dict(verbose=1), "-vv": dict(verbose=2), "-vvv": dict(verbose=3),
    "-x": dict(hex=1), "-xx": dict(hex=2), "-X": dict(hex_ascii=1), "-XX": dict(hex_ascii=2),
    "-A": dict(ascii=1), "-q": dict(quiet=True), "-S": dict(absolute_seq=True),
    "-e -q": dict(link_header=True, quiet=True), "-v -K": dict(verbose=1, no_checksum=True),
}
# ebcap's own text after tcpdump's (not a difference from tcpdump's decoding)
EBCAP_SUFFIX = re.compile(r" TLS ClientHello[^\n]*")


def read_pcap(path: Path) -> tuple[int, list[Packet]]:
    """A capture file's packets through ebcap's own reader; returns (linktype, packets)."""
    with open(path, "rb") as stream:
        reader = CaptureFileReader(stream, str(path))
        packets = list(reader)
        return reader.interfaces[0].linktype, packets


def group_by_packet(lines: list[str]) -> list[str]:
    """Join continuation lines (-v, -x) so one entry is one packet."""
    packets: list[str] = []
    for line in lines:
        if packets and (line.startswith("\t") or line.startswith("    ") or not line[:1].isdigit()):
            packets[-1] += "\n" + line
        else:
            packets.append(line)
    return packets


@cache
def corpus_script():
    """fixtures/print/make_print_corpus.py, which names the golden files (loaded by path: the
    fixtures are scripts, not a package)."""
    path = PRINT_CORPUS / "make_print_corpus.py"
    spec = importlib.util.spec_from_file_location("make_print_corpus", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAMILIES = list(corpus_script().CORPUS)
