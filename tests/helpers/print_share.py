"""The share of ebcap's lines identical to tcpdump 4.99.3's, per protocol, over the whole print corpus.

Issue 15's proof: at least 90% of the packets' text identical for every protocol and 95% overall.
Every golden file of fixtures/print/golden counts (the plain `-n` lines and each flag set the corpus
script names, -v included), and so does every capture of real daemons in fixtures/print/captures with
its goldens. A packet is one entry (continuation lines joined), so a -v packet whose second line
differs counts once, as a miss.

A synthetic family (fixtures/print/<family>.pcap) is one protocol; a daemon capture mixes protocols,
so its packets are sorted by the words tcpdump's line starts its payload with (DAEMON_PROTOCOLS).

Run it to see the table:  .venv/bin/python -m tests.helpers.print_share [-v]
"""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ebcap.capture.packet import Interface
from ebcap.dissectors import PrintOptions, TimestampMode, make_printer
from tests.helpers.paths import PRINT_CORPUS
from tests.helpers.printing import (EBCAP_SUFFIX, FAMILIES, FLAG_OPTIONS, corpus_script, group_by_packet,
                                    read_pcap)

CAPTURES = PRINT_CORPUS / "captures"
GOLDEN = PRINT_CORPUS / "golden"
# A daemon capture's packet -> protocol, by the first pattern that matches tcpdump's text.
DAEMON_PROTOCOLS = [
    (re.compile(r"BOOTP/DHCP"), "dhcp"),
    (re.compile(r" dhcp6 "), "dhcp6"),
    (re.compile(r": NTPv\d"), "ntp"),
    (re.compile(r"SYSLOG"), "syslog"),
    (re.compile(r"RADIUS"), "radius"),
    (re.compile(r"\.(161|162): |[ {]SNMPv|GetRequest|GetResponse|Trap\("), "snmp"),
    (re.compile(r"\.69: | tftp-| TFTP"), "tftp"),
    (re.compile(r"\.5353: "), "mdns"),
    (re.compile(r"\.5355: "), "llmnr"),
    (re.compile(r"\.53: |\.53 > "), "dns"),
    (re.compile(r"ICMP6, "), "icmp6"),
    (re.compile(r"ICMP "), "icmp"),
    (re.compile(r"igmp|IGMP"), "igmp"),
    (re.compile(r"ARP, "), "arp"),
    (re.compile(r"Flags \["), "tcp"),
]


@dataclass
class Share:
    identical: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.identical / self.total if self.total else 1.0


def render(pcap: Path, flags: str) -> list[str]:
    """ebcap's packets for one file and flag set, as tcpdump -n -tt would print them."""
    linktype, packets = read_pcap(pcap)
    options = PrintOptions(numeric=True, timestamp_mode=TimestampMode.EPOCH, **FLAG_OPTIONS[flags])
    out = io.StringIO()
    printer = make_printer(options, [Interface("eth0", linktype)], out)
    for p in packets:
        printer.print(p)
    return group_by_packet(out.getvalue().split("\n")[:-1])


def sources() -> list[tuple[str, Path, str, Path]]:
    """(family, pcap, flags, golden file) for every golden file that exists."""
    script = corpus_script()
    found = []
    for family in FAMILIES:
        for flags in script.golden_flags(family):
            found.append((family, PRINT_CORPUS / f"{family}.pcap", flags,
                          GOLDEN / script.golden_name(family, flags)))
    for pcap in sorted(CAPTURES.glob("*.pcap")):
        for golden in sorted((CAPTURES / "golden").glob(pcap.stem + "*.txt")):
            flags = golden.stem[len(pcap.stem):].replace("_", " -").strip()
            if flags in FLAG_OPTIONS:
                found.append(("", pcap, flags, golden))
    return [s for s in found if s[3].exists()]


def daemon_protocol(text: str) -> str:
    for pattern, name in DAEMON_PROTOCOLS:
        if pattern.search(text):
            return name
    return "other"


def shares() -> dict[str, Share]:
    """protocol -> Share, over every golden file."""
    table: dict[str, Share] = {}
    for family, pcap, flags, golden in sources():
        expected = group_by_packet(golden.read_text().split("\n")[:-1])
        mine = render(pcap, flags)
        mine += ["<missing>"] * (len(expected) - len(mine))
        for a, b in zip(mine, expected):
            share = table.setdefault(family or daemon_protocol(b), Share())
            share.total += 1
            if EBCAP_SUFFIX.sub("", a) == b:
                share.identical += 1
            else:
                share.misses.append(f"{pcap.name} {flags or '-n'}\n  ebcap:   {a!r}\n  tcpdump: {b!r}")
    return table


def overall(table: dict[str, Share]) -> Share:
    return Share(sum(s.identical for s in table.values()), sum(s.total for s in table.values()))


def format_table(table: dict[str, Share]) -> str:
    rows = ["%-12s %7s %7s %7s" % ("protocol", "same", "packets", "share")]
    for name, s in sorted(table.items()) + [("OVERALL", overall(table))]:
        rows.append("%-12s %7u %7u %6.1f%%" % (name, s.identical, s.total, 100 * s.ratio))
    return "\n".join(rows)


if __name__ == "__main__":
    result = shares()
    print(format_table(result))
    if "-v" in sys.argv[1:]:
        for name, s in sorted(result.items()):
            for miss in s.misses:
                print(f"[{name}] {miss}")
