"""What every line printer is handed, tcpdump's netdissect_options: the print flags, the line being
built, per-connection state, and the dispatch tables (dissectors/registry.py).

A printer is a plain function `xxx_print(nd, data, off, length, ...)`: `data` is the whole captured
frame, `off` where its header starts, `length` what the layer below says it is on the wire. It
appends text to nd.out and names itself in nd.proto, so a read past the captured bytes (IndexError,
struct.error, Truncated) ends the line with ` [|proto]` for the layer being decoded.
"""

from __future__ import annotations

from types import ModuleType
from typing import Callable

from ebcap.dissectors import hexdump
from ebcap.dissectors.names import InterfaceNames, ServiceNames, numeric_port
from ebcap.dissectors.options import PrintOptions


class Context:
    """One per line printer; out, proto and ll_len are reset for every frame."""

    __slots__ = ("out", "proto", "ll_len", "verbose", "quiet", "link_header", "numeric", "no_checksum",
                 "absolute_seq", "suppress_default_print", "port", "ifname", "tcp_seq", "ethertypes",
                 "ip_protocols", "tcp_ports", "udp_ports", "tcp_trailers", "udp_ip", "isakmp_cookies")

    def __init__(self, options: PrintOptions, tables: ModuleType) -> None:
        self.out: list[str] = []
        self.proto = ""          # the layer being decoded, named by the truncation marker
        self.ll_len = 0          # link header length: where -x/-X/-A dumps start
        self.verbose = options.verbose
        self.quiet = options.quiet
        self.link_header = options.link_header
        self.numeric = options.numeric
        self.no_checksum = options.no_checksum
        self.absolute_seq = options.absolute_seq
        # tcpdump's -q, -x and -X (not -A) leave out the hex of bytes no printer decodes.
        self.suppress_default_print = bool(options.quiet or options.hex or options.hex_ascii)
        self.port: Callable[[int, str], str] = numeric_port if options.numeric else ServiceNames().port
        self.ifname: Callable[[int], str] = InterfaceNames().name
        self.tcp_seq: dict[tuple, list[int]] = {}     # connection -> [ISN one way, ISN the other]
        self.ethertypes = tables.ETHERTYPES
        self.ip_protocols = tables.IP_PROTOCOLS
        self.tcp_ports: PortTable = tables.TCP_PORTS
        self.udp_ports: PortTable = tables.UDP_PORTS
        self.tcp_trailers = tables.TCP_TRAILERS
        self.udp_ip: tuple = ()     # the IP header's tuple (ipdemux.py) of the datagram a UDP port printer is given
        self.isakmp_cookies: list = []   # ISAKMP initiator cookies and addresses: who is I, who is R

    def default_print(self, payload: bytes) -> None:
        """ND_DEFAULTPRINT: bytes no printer decodes, as -X would show them."""
        if not self.suppress_default_print and payload:
            self.out.append(hexdump.hex_ascii_dump(payload))


class PortTable(dict):
    """Well-known port -> (rank, application printer). Where both ports have one, the earlier row
    wins, as in print-udp.c's and print-tcp.c's chains of IS_SRC_OR_DST_PORT tests. A dict, so the
    transports' `sport in table` test, false for most packets, costs no Python call."""

    def __init__(self, rows: list[tuple[int, Callable]]) -> None:
        super().__init__((port, (rank, printer)) for rank, (port, printer) in enumerate(rows))

    def append_rows(self, rows: list[tuple[int, Callable]]) -> None:
        """More rows, ranked after every row already there (a port already there keeps its row)."""
        for port, printer in rows:
            self.setdefault(port, (len(self), printer))

    def lookup(self, sport: int, dport: int) -> Callable | None:
        s = self.get(sport)
        d = self.get(dport)
        if s is None:
            return d and d[1]
        if d is None or s[0] < d[0]:
            return s[1]
        return d[1]
