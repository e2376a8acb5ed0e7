"""What the bench runs: the scenarios (which traffic, where, which filter, which frame size) and
the tools."""

from __future__ import annotations

import itertools
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ebcap.capture.bench.traffic import DPORT_BASE, DPORT_SPREAD, TRAFFIC_KINDS

SIDES = ("egress", "ingress")  # capture on the sender's interface, or on the receiver's
FILTERS = {
    # name: (expression, share of the bench's frames it matches)
    "all": ("udp", 1.0),
    "1%": (f"udp dst port {DPORT_BASE}", 1 / DPORT_SPREAD),
}
# The TCP stream's one filter: the stream both ways and the start-up ticker's UDP frames.
TCP_FILTER = ("ip", 1.0)
FRAME_LENS = (64, 1400)
SOCKET_FRAME_LENS = (64,)
NO_CAPTURE = "none"


@dataclass(frozen=True)
class Scenario:
    side: str
    filter_name: str
    frame_len: int | None   # None for the TCP stream: its packets are what TCP makes them
    traffic: str = "trafgen"  # one of traffic.TRAFFIC_KINDS

    def __post_init__(self):
        if self.traffic not in TRAFFIC_KINDS:
            raise ValueError(f"unknown traffic {self.traffic!r}; known: {', '.join(TRAFFIC_KINDS)}")

    @property
    def name(self) -> str:
        if self.traffic == "tcp":
            return f"{self.side} {self.filter_name} tcp"
        name = f"{self.side} {self.filter_name} {self.frame_len}B"
        return name if self.traffic == "trafgen" else f"{name} {self.traffic}"

    @property
    def filter(self) -> str:
        return (TCP_FILTER if self.traffic == "tcp" else FILTERS[self.filter_name])[0]

    @property
    def match_share(self) -> float:
        return (TCP_FILTER if self.traffic == "tcp" else FILTERS[self.filter_name])[1]


def all_scenarios() -> list[Scenario]:
    """trafgen's frames over the whole grid, socket datagrams at 64 B, and the TCP stream."""
    return ([Scenario(side, flt, size)
             for side, flt, size in itertools.product(SIDES, FILTERS, FRAME_LENS)]
            + [Scenario(side, flt, size, "socket")
               for side, flt, size in itertools.product(SIDES, FILTERS, SOCKET_FRAME_LENS)]
            + [Scenario(side, "all", None, "tcp") for side in SIDES])


# --quick's subset: each kind of traffic, both sides, both filters, both frame sizes, once or more.
QUICK_SCENARIOS = ("egress all 64B", "ingress all 64B", "egress 1% 1400B", "ingress all 1400B",
                   "egress all 64B socket", "ingress 1% 64B socket", "egress all tcp",
                   "ingress all tcp")


def quick_scenarios() -> list[Scenario]:
    return [parse_scenario(name) for name in QUICK_SCENARIOS]


def round_order(names: Sequence[str], round_index: int, scenario_index: int) -> list[str]:
    """The order a scenario's measurements run in, in one round: rotated by one place per round
    and per scenario, so every tool (and "no capture") takes each place in turn and a drift over
    a round (the machine's other work, a cache warming up) does not always favour the same one."""
    shift = (round_index + scenario_index) % len(names)
    return [*names[shift:], *names[:shift]]


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
