"""What the bench runs: the scenarios (where, which filter, which frame size) and the tools."""

from __future__ import annotations

import itertools
import os
import shlex
import sys
from dataclasses import dataclass

from ebcap.capture.bench.traffic import DPORT_BASE, DPORT_SPREAD

SIDES = ("egress", "ingress")  # capture on the sender's interface, or on the receiver's
FILTERS = {
    # name: (expression, share of the bench's frames it matches)
    "all": ("udp", 1.0),
    "1%": (f"udp dst port {DPORT_BASE}", 1 / DPORT_SPREAD),
}
FRAME_LENS = (64, 1400)
NO_CAPTURE = "none"


@dataclass(frozen=True)
class Scenario:
    side: str
    filter_name: str
    frame_len: int

    @property
    def name(self) -> str:
        return f"{self.side} {self.filter_name} {self.frame_len}B"

    @property
    def filter(self) -> str:
        return FILTERS[self.filter_name][0]

    @property
    def match_share(self) -> float:
        return FILTERS[self.filter_name][1]


def all_scenarios() -> list[Scenario]:
    return [Scenario(side, flt, size)
            for side, flt, size in itertools.product(SIDES, FILTERS, FRAME_LENS)]


def parse_scenario(name: str) -> Scenario:
    """The inverse of Scenario.name, e.g. 'ingress 1% 1400B'."""
    for scenario in all_scenarios():
        if scenario.name == name:
            return scenario
    raise ValueError(f"unknown scenario {name!r}; known: "
                     + ", ".join(s.name for s in all_scenarios()))


@dataclass(frozen=True)
class Tool:
    """A capture command as a template: {iface}, {file} and {filter} are filled per run.

    {filter} stands alone as one argument. The tool must print a line containing
    "listening on" on stderr once it captures, and the three statistics lines on SIGINT.
    """

    name: str
    template: str

    def argv(self, iface: str, file: str, filter: str) -> list[str]:
        fields = {"iface": iface, "file": file, "filter": filter, "bindir": _bindir()}
        return [filter if word == "{filter}" else word.format(**fields)
                for word in shlex.split(self.template)]


def _bindir() -> str:
    return os.path.dirname(sys.executable)


# -Z root: tcpdump otherwise drops to the "tcpdump" user before opening the output file, which
# then cannot be created in the bench's private temporary directory.
DEFAULT_TOOLS = (
    Tool("tcpdump -s 96", "tcpdump -Z root -i {iface} -w {file} -s 96 {filter}"),
    Tool("tcpdump", "tcpdump -Z root -i {iface} -w {file} {filter}"),
    Tool("ebcap", "{bindir}/ebcap -i {iface} -w {file} {filter}"),
)


def parse_tool(spec: str) -> Tool:
    """'NAME=TEMPLATE' on the command line, or the name of a default tool."""
    name, sep, template = spec.partition("=")
    if sep:
        return Tool(name.strip(), template.strip())
    for tool in DEFAULT_TOOLS:
        if tool.name == spec:
            return tool
    raise ValueError(f"unknown tool {spec!r}; give NAME=TEMPLATE or one of: "
                     + ", ".join(t.name for t in DEFAULT_TOOLS))
