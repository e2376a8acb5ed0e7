"""A live capture: attach the kernel program to the interface's TC hooks, drain the ring buffer
into pcapng (or the printer), stop cleanly on -c, SIGINT, SIGTERM or an output error."""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import ExitStack

from capture import bpfsys, interfaces
from capture.config import CaptureConfig
from capture.errors import EbcapError, InterfaceError, KernelFeatureError, PrivilegeError
from capture.loader import EGRESS, INGRESS, KernelProgram, ProgramSpec, ring_size
from capture.output import open_sinks
from capture.packet import Direction, Interface, Packet
from capture.pcapfilter import compile_filter
from capture.pcapng import InterfaceStats
from capture.ring import RingReader
from capture.stats import print_statistics

POLL_SECONDS = 0.1          # longest wait for data: bounds the reaction time to signals
FLUSH_SECONDS = 1.0         # the file is complete up to its last block at least this often


def monotonic_to_wall_offset() -> int:
    """ns to add to bpf_ktime_get_ns() (CLOCK_MONOTONIC) for wall-clock time."""
    best = None
    for _ in range(5):
        before = time.monotonic_ns()
        wall = time.time_ns()
        after = time.monotonic_ns()
        if best is None or after - before < best[0]:
            best = (after - before, wall - (before + after) // 2)
    return best[1]


class _StopFlag:
    """SIGINT/SIGTERM only set a flag; the loop notices within POLL_SECONDS and finishes."""

    def __init__(self):
        self.raised = False
        self._previous = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        self.raised = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _hooks(direction: str, loopback: bool) -> list[tuple[str, int]]:
    """The TC hooks to attach for -Q. On loopback every packet leaves and comes back; libpcap
    shows it once, as it comes in, and so does ebcap."""
    ingress, egress = (INGRESS, bpfsys.BPF_TCX_INGRESS), (EGRESS, bpfsys.BPF_TCX_EGRESS)
    if direction == "in" or (direction == "inout" and loopback):
        return [ingress]
    if direction == "out":
        return [egress]
    return [ingress, egress]


def _attach(kernel: KernelProgram, index: int, hooks: list[tuple[str, int]],
            stack: ExitStack) -> None:
    for program, attach_type in hooks:
        fd = kernel.program_fd(program)
        try:
            link = bpfsys.tcx_attach(fd, index, attach_type)
        except OSError as exc:
            if exc.errno in (1, 13):        # EPERM, EACCES
                raise PrivilegeError("attaching to TC needs CAP_NET_ADMIN (run as root)") from exc
            if exc.errno in (22, 95):       # EINVAL, EOPNOTSUPP: no tcx on this kernel
                raise KernelFeatureError("this kernel has no tcx links (Linux 6.6 or newer "
                                         "needed)") from exc
            raise KernelFeatureError(f"attaching to TC failed: {os.strerror(exc.errno)}") from exc
        stack.callback(os.close, link)


def run_live(config: CaptureConfig) -> int:
    name = config.interfaces[0] if config.interfaces else _default_interface()
    index = interfaces.ifindex(name)
    dlt = interfaces.linktype(name)
    insns = compile_filter(config.expression, dlt)
    spec = ProgramSpec(linktype=dlt, snaplen=config.snaplen, ring_bytes=ring_size(config.buffer_kib))
    iface = Interface(name=name, linktype=dlt, snaplen=config.record_snaplen,
                      filter=config.expression, ifindex=index)
    stop = _StopFlag()
    with ExitStack() as stack:
        kernel = KernelProgram(insns, spec)
        stack.callback(kernel.close)
        if config.dump_c:
            sys.stdout.write(kernel.source_text())
            return 0
        ring = RingReader(kernel.ring_fd, spec.ring_bytes)
        stack.callback(ring.close)
        _attach(kernel, index, _hooks(config.direction, interfaces.is_loopback(name)), stack)
        if config.promiscuous:
            promisc = interfaces.Promiscuous(index)
            stack.callback(promisc.close)
        sinks = open_sinks(config, [iface])
        stack.callback(sinks.abort)
        stop.install()
        stack.callback(stop.restore)
        mode = " (headers only)" if config.headers_only else ""
        print(f"ebcap: listening on {name}, link-type {interfaces.describe_linktype(dlt)}, "
              f"snapshot length {config.record_snaplen} bytes{mode}", file=sys.stderr, flush=True)
        start_ns = time.time_ns()
        written = _drain_loop(config, ring, sinks, stop)
        seen, matched, lost = kernel.counters()
        end_ns = time.time_ns()
        sinks.close([InterfaceStats(start_ns, end_ns, seen, matched, lost, written)])
        print_statistics(written, matched, lost)
    return 0


def _drain_loop(config: CaptureConfig, ring: RingReader, sinks, stop: _StopFlag) -> int:
    offset = monotonic_to_wall_offset()
    packet = sinks.packet
    written = 0

    def handle(ts: int, _ifindex: int, wirelen: int, direction: int, data: bytes) -> None:
        packet(Packet(ts + offset, 0, Direction(direction), wirelen, data))

    last_flush = last_report = time.monotonic()
    show_progress = sinks.writes_file and sys.stderr.isatty()
    while not stop.raised:
        limit = config.count - written if config.count else 0
        got = ring.drain(handle, limit)
        written += got
        if config.count and written >= config.count:
            break
        now = time.monotonic()
        if config.packet_buffered and got or now - last_flush >= FLUSH_SECONDS:
            sinks.flush()
            last_flush = now
        if show_progress and now - last_report >= 1.0:
            print(f"\rGot {written}", end="", file=sys.stderr, flush=True)
            last_report = now
        if not got:
            ring.wait(POLL_SECONDS)
    if not (config.count and written >= config.count):
        limit = config.count - written if config.count else 0
        written += ring.drain(handle, limit)       # what arrived before the stop
    if show_progress:
        print(f"\rGot {written}", file=sys.stderr, flush=True)
    return written


def _default_interface() -> str:
    """tcpdump's choice without -i: the first interface that is up and not loopback."""
    for line in interfaces.list_interfaces():
        name = line.split(".", 1)[1].split(" ", 1)[0]
        if "Loopback" not in line and "[Up, Running" in line:
            return name
    raise InterfaceError("no suitable device found")


__all__ = ["run_live", "EbcapError"]
