"""What ebcap answers Wireshark's extcap questions: its interfaces, their link type, the options
its dialog shows, and whether a capture filter is valid."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from ebcap.capture import __version__
from ebcap.capture.errors import FilterError, InterfaceError, TranslateError
from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN

PREFIX = "ebcap-"                   # Wireshark's interface name is PREFIX + the kernel's name
DOCS = Path(__file__).resolve().parents[2] / "docs" / "extcap.md"
# Wireshark's EXTCAP_BOOLEAN_REGEX: how it reads a boolean option's value itself
BOOLEAN_TRUE = re.compile(r"^.*([yt1-9])", re.IGNORECASE)


@dataclass(frozen=True)
class ConfigArg:
    """One option in Wireshark's interface dialog; `call` is also this module's flag for it."""

    number: int
    call: str
    display: str
    tooltip: str
    type: str
    default: str
    range: tuple[int, int] | None = None
    values: tuple[tuple[str, str], ...] = ()     # (value, display) for a selector

    def arg_line(self) -> str:
        extra = f"{{range={self.range[0]},{self.range[1]}}}" if self.range else ""
        default = "" if self.values else f"{{default={self.default}}}"
        return (f"arg {{number={self.number}}}{{call={self.call}}}{{display={self.display}}}"
                f"{{tooltip={self.tooltip}}}{{type={self.type}}}{extra}{default}")

    def value_lines(self) -> list[str]:
        return [f"value {{arg={self.number}}}{{value={value}}}{{display={display}}}"
                f"{{default={'true' if value == self.default else 'false'}}}"
                for value, display in self.values]


CONFIG_ARGS = (
    ConfigArg(0, "--snaplen", "Snapshot length",
              "Bytes copied per packet; 0 copies the headers only, up to the end of the "
              "transport header", "integer", "0", range=(0, MAXIMUM_SNAPLEN)),
    ConfigArg(1, "--direction", "Direction",
              "Packets to capture, chosen in the kernel by the TC hooks attached", "selector",
              "inout", values=(("inout", "In and out"), ("in", "In (ingress)"),
                               ("out", "Out (egress)"))),
    ConfigArg(2, "--promiscuous", "Promiscuous mode",
              "Put the interface in promiscuous mode while capturing", "boolean", "true"),
    ConfigArg(3, "--buffer-kib", "Ring buffer (KiB)",
              "Kernel ring buffer size, rounded up to a power of two; 0 uses ebcap's default",
              "unsigned", "0", range=(0, 1 << 20)),
)



def version_line() -> str:
    help_url = f"{{help={DOCS.as_uri()}}}" if DOCS.exists() else ""
    return f"extcap {{version={__version__}}}{help_url}"


def interface_lines() -> list[str]:
    """One line per local interface whose link type ebcap captures, in ifindex order."""
    from ebcap.capture.net.interfaces import linktype
    lines = []
    for _index, name in sorted(socket.if_nameindex()):
        try:
            linktype(name)
        except InterfaceError:
            continue
        lines.append(f"interface {{value={PREFIX}{name}}}"
                     f"{{display=ebcap: {name} (eBPF, filter in kernel)}}")
    return lines


def kernel_name(interface: str) -> str:
    """`ebcap-veth0` -> `veth0`."""
    if not interface.startswith(PREFIX) or len(interface) == len(PREFIX):
        raise InterfaceError(f"{interface}: not an ebcap interface (expected {PREFIX}IFNAME)")
    return interface[len(PREFIX):]


def dlt_lines(interface: str) -> list[str]:
    from ebcap.capture.net.interfaces import LINKTYPE_NAMES, linktype
    dlt = linktype(kernel_name(interface))
    short, display = LINKTYPE_NAMES[dlt]
    return [f"dlt {{number={int(dlt)}}}{{name={short}}}{{display={display}}}"]


def config_lines(reload_option: str | None = None) -> list[str]:
    """All options, or with `reload_option` only the values of that one (none is reloadable,
    so this answers with the same list Wireshark already has)."""
    if reload_option is not None:
        call = "--" + reload_option.lstrip("-")
        return [line for arg in CONFIG_ARGS if arg.call == call for line in arg.value_lines()]
    return ([arg.arg_line() for arg in CONFIG_ARGS]
            + [line for arg in CONFIG_ARGS for line in arg.value_lines()])


def filter_problem(expression: str, interface: str) -> str | None:
    """None if ebcap can run `expression` on `interface`, else the message to show: libpcap's,
    or the translator's for a filter libpcap accepts but the kernel program cannot express."""
    from ebcap.capture.filter.translate import translate
    from ebcap.capture.net.interfaces import linktype
    from ebcap.capture.filter.libpcap import compile_filter
    dlt = linktype(kernel_name(interface))
    try:
        translate(compile_filter(expression, dlt))
    except (FilterError, TranslateError) as exc:
        return str(exc)
    return None
