"""A live capture: attach the kernel program to the interfaces' TC hooks, drain the ring buffers
into pcapng (or the printer), stop cleanly on -c, SIGINT, SIGTERM or an output error."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import socket
import sys
import time
from contextlib import ExitStack

from ebcap.capture.kernel import bpfsys
from ebcap.capture.net import interfaces
from ebcap.capture.config import CaptureConfig
from ebcap.capture.errors import EbcapError, InterfaceError, KernelFeatureError, PrivilegeError
from ebcap.capture.kernel.program import EGRESS, INGRESS, KernelProgram, ProgramSpec, ring_size
from ebcap.capture.session.sinks import open_sinks
from ebcap.capture.packet import Interface
from ebcap.capture.filter.libpcap import compile_filter, interface_netmask
from ebcap.capture.pcapng.format import epb_interface_id
from ebcap.capture.pcapng.writer import InterfaceStats
from ebcap.capture.kernel.ring import RingReader
from ebcap.capture.pcapng.rotation import CaptureComplete
from ebcap.capture.session.stats import print_statistics

# The kernel wakes the reader only when its ring is 1/16 full (bpf/ebcap.c); otherwise records
# wait for the poll timeout, which bounds the latency of a trickle of packets. Printed packets
# (and -U) get a short one. A file is drained and written once a second, when it is flushed,
# like tcpdump -w's blocks, which libpcap hands over when full or after its 1 s timeout. Every
# timed wake-up costs: ~0.1 ms of CPU idle on this VM (an epoll_wait loop alone: 22 ms in 4 s
# at 20 ms), and under load more, as the softirq work that interrupts the reader is charged to
# it. Measured in the bench's 1% scenarios (3 s of traffic, 8k packets written): 12 wake-ups
# and 2.7 ms of CPU with a 0.25 s poll, 3 and 1.3 ms at once a second; tcpdump: 5-6 and 1.8 ms.
POLL_SECONDS = 0.02
FLUSH_SECONDS = 1.0         # the file is complete up to its last block at least this often
EARLY = 0.005               # a timed poll may end this much before its deadline
RESCAN_SECONDS = 1.0        # -i any: how often to look for interfaces that appeared
ANY = "any"


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
    """SIGINT/SIGTERM/SIGHUP only set a flag, and wake the loop's epoll through a pipe
    (signal.set_wakeup_fd): it stops at once however long its poll timeout."""

    def __init__(self):
        self.raised = False
        self._previous = {}
        self.wakeup_fd = -1
        self._write_fd = -1
        self._previous_wakeup = -1

    def install(self) -> None:
        self.wakeup_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        self.raised = True

    def clear(self) -> None:
        """Empty the wake-up pipe (epoll reported it)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.wakeup_fd, 4096)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._write_fd >= 0:
            signal.set_wakeup_fd(self._previous_wakeup)
            os.close(self._write_fd)
            os.close(self.wakeup_fd)
            self._write_fd = self.wakeup_fd = -1


def _hooks(direction: str, loopback: bool) -> list[tuple[str, int]]:
    """The TC hooks to attach for -Q. On loopback every packet leaves and comes back; libpcap
    shows it once, as it comes in, and so does ebcap."""
    ingress, egress = (INGRESS, bpfsys.BPF_TCX_INGRESS), (EGRESS, bpfsys.BPF_TCX_EGRESS)
    if direction == "in" or (direction == "inout" and loopback):
        return [ingress]
    if direction == "out":
        return [egress]
    return [ingress, egress]


def use_tcx() -> bool:
    """tcx links from Linux 6.6 on; clsact filters before (or with EBCAP_ATTACH=clsact, which the
    tests use to cover the fallback on a kernel that has tcx)."""
    if os.environ.get("EBCAP_ATTACH") == "clsact":
        return False
    if os.environ.get("EBCAP_ATTACH") == "tcx":
        return True
    release = os.uname().release.split(".")
    try:
        return (int(release[0]), int(release[1].split("-")[0])) >= (6, 6)
    except (ValueError, IndexError):
        return True


def _tcx_attach(prog_fd: int, index: int, attach_type: int) -> int:
    try:
        return bpfsys.tcx_attach(prog_fd, index, attach_type)
    except OSError as exc:
        if exc.errno in (1, 13):        # EPERM, EACCES
            raise PrivilegeError("attaching to TC needs CAP_NET_ADMIN (run as root)") from exc
        if exc.errno in (22, 95):       # EINVAL, EOPNOTSUPP: no tcx on this kernel
            raise KernelFeatureError("this kernel has no tcx links (Linux 6.6 or newer "
                                     "needed)") from exc
        if exc.errno == 19:             # ENODEV: the interface went away meanwhile
            raise InterfaceError(f"interface {index} disappeared") from exc
        raise KernelFeatureError(f"attaching to TC failed: {os.strerror(exc.errno)}") from exc


class LiveSession:
    """Programs (one per link type), their rings, and the interfaces they are attached to."""

    def __init__(self, config: CaptureConfig, stack: ExitStack):
        self.config = config
        self.stack = stack
        self.interfaces: list[Interface] = []        # pcapng interface ids, in IDB order
        self.iface_id: dict[int, int] = {}           # ifindex -> interface id
        self.programs: dict[int, tuple[KernelProgram, RingReader]] = {}
        self.epoll = select.epoll()
        stack.callback(self.epoll.close)
        self.sinks = None
        self.privileged = True
        self.netmask = 0            # set from the first interface, as tcpdump does

    def program(self, linktype: int) -> tuple[KernelProgram, RingReader]:
        if linktype not in self.programs:
            spec = ProgramSpec(linktype=linktype, snaplen=self.config.snaplen,
                               ring_bytes=ring_size(self.config.buffer_kib))
            kernel = KernelProgram(compile_filter(self.config.expression, linktype,
                                                  netmask=self.netmask), spec)
            self.stack.callback(kernel.close)
            ring = RingReader(kernel.ring_fd, spec.ring_bytes)
            self.stack.callback(ring.close)
            # Edge-triggered: the ring reports readable while any record waits, so a level-
            # triggered poll would return at once and the loop would spin on a few records at
            # a time. Edges come only from the kernel's wake-ups (ring 1/16 full, bpf/ebcap.c).
            self.epoll.register(kernel.ring_fd, select.EPOLLIN | select.EPOLLET)
            kernel.set_wall_clock(monotonic_to_wall_offset())
            self.programs[linktype] = (kernel, ring)
        return self.programs[linktype]

    def add(self, name: str) -> Interface:
        index = interfaces.ifindex(name)
        dlt = interfaces.linktype(name)
        kernel, _ring = self.program(dlt)
        kernel.register_interface(index, len(self.interfaces))
        hooks = _hooks(self.config.direction, interfaces.is_loopback(name))
        if use_tcx():
            for program, attach_type in hooks:
                link = _tcx_attach(kernel.program_fd(program), index, attach_type)
                self.stack.callback(os.close, link)
        else:
            from ebcap.capture.kernel import clsact
            parents = {bpfsys.BPF_TCX_INGRESS: clsact.INGRESS_PARENT,
                       bpfsys.BPF_TCX_EGRESS: clsact.EGRESS_PARENT}
            guard = clsact.attach(index, [(parents[attach_type], kernel.program_fd(program))
                                          for program, attach_type in hooks])
            self.stack.callback(os.close, guard)
        if self.config.promiscuous and not interfaces.is_loopback(name):
            promisc = interfaces.Promiscuous(index)
            self.stack.callback(promisc.close)
        iface = Interface(name=name, linktype=dlt, snaplen=self.config.record_snaplen,
                          filter=self.config.expression, ifindex=index)
        self.iface_id[index] = len(self.interfaces)
        self.interfaces.append(iface)
        if self.sinks is not None:
            self.sinks.add_interface(iface)
        return iface

    def add_new_interfaces(self) -> None:
        """-i any: interfaces that came up since the last look."""
        for index, name in socket.if_nameindex():
            if index in self.iface_id or not interfaces.is_up(name):
                continue
            try:
                self.add(name)
            except InterfaceError:
                continue            # gone again, or a link type ebcap does not capture

    def refresh_clock(self) -> None:
        offset = monotonic_to_wall_offset()
        for kernel, _ring in self.programs.values():
            kernel.set_wall_clock(offset)

    def statistics(self) -> list[InterfaceStats]:
        now = time.time_ns()
        counts: dict[int, tuple[int, int, int]] = {}
        for kernel, _ring in self.programs.values():
            counts.update(kernel.counters())
        return [InterfaceStats(self.start_ns, now, *counts.get(i.ifindex, (0, 0, 0)),
                               self.delivered.get(n, 0))
                for n, i in enumerate(self.interfaces)]

def _interface_names(config: CaptureConfig) -> list[str]:
    names = list(config.interfaces) or [_default_interface()]
    if ANY in names:
        return [name for _index, name in socket.if_nameindex() if interfaces.is_up(name)]
    return names


def run_live(config: CaptureConfig) -> int:
    if config.netns:
        from ebcap.capture.net.netns import enter
        enter(config.netns)
    watch_new = ANY in config.interfaces
    stop = _StopFlag()
    with ExitStack() as stack:
        session = LiveSession(config, stack)
        names = _interface_names(config)
        if len(names) == 1:
            session.netmask = interface_netmask(names[0])
        for name in names:
            try:
                session.add(name)
            except InterfaceError:
                if not watch_new:
                    raise
        if not session.interfaces:
            raise InterfaceError("no interface to capture on")
        if config.dump_c:
            kernel, _ring = next(iter(session.programs.values()))
            sys.stdout.write(kernel.source_text())
            return 0
        if config.user:
            from ebcap.capture.net.privileges import drop_to
            drop_to(config.user)
            session.privileged = False
        session.start_ns = time.time_ns()
        session.delivered = {}
        sinks = open_sinks(_printing_config(config, len(names) > 1 or watch_new),
                           session.interfaces, session.statistics)
        session.sinks = sinks
        stack.callback(sinks.abort)
        stop.install()
        stack.callback(stop.restore)
        session.epoll.register(stop.wakeup_fd, select.EPOLLIN)
        print(f"ebcap: listening on {_describe(config, session)}", file=sys.stderr, flush=True)
        written = _drain_loop(config, session, stop, watch_new)
        stats = session.statistics()
        sinks.close(stats)
        print_statistics(written, sum(s.accepted for s in stats), sum(s.dropped for s in stats))
    return 0


def _printing_config(config: CaptureConfig, several: bool) -> CaptureConfig:
    """With several interfaces, lines say which one, like tcpdump -i any."""
    if several and config.print_options is not None:
        options = dataclasses.replace(config.print_options, show_interface=True)
        return dataclasses.replace(config, print_options=options)
    return config


def _describe(config: CaptureConfig, session: LiveSession) -> str:
    names = ANY if ANY in config.interfaces else ", ".join(i.name for i in session.interfaces)
    types = ", ".join(dict.fromkeys(interfaces.describe_linktype(i.linktype)
                                    for i in session.interfaces))
    mode = " (headers only)" if config.headers_only else ""
    return f"{names}, link-type {types}, snapshot length {config.record_snaplen} bytes{mode}"


def _drain_loop(config: CaptureConfig, session: LiveSession, stop: _StopFlag,
                watch_new: bool) -> int:
    sinks = session.sinks
    delivered = session.delivered
    rings = [ring for _kernel, ring in session.programs.values()]

    def drain_all(limit: int) -> int:
        # One interface into one plain file: the blocks go from the ring into the writer's
        # buffer untouched, never looked at one by one.
        straight = sinks.plain_file and len(session.interfaces) == 1
        got = 0
        for ring in rings:
            left = limit - got if limit else 0
            if straight:
                n = sinks.writer.fill_from(ring.drain_into, left)
                delivered[0] = delivered.get(0, 0) + n
            else:
                batch: list[bytes] = []
                n = ring.drain_blocks(batch, left)
                if n:
                    sinks.blocks(batch)
                    if len(session.interfaces) == 1:
                        delivered[0] = delivered.get(0, 0) + n
                    else:
                        for block in batch:
                            iid = epb_interface_id(block)
                            delivered[iid] = delivered.get(iid, 0) + 1
            got += n
            if limit and got >= limit:
                break
        return got

    written = 0
    last_flush = last_report = last_scan = time.monotonic()
    show_progress = sinks.writes_file and sys.stderr.isatty()
    short_poll = sinks.printer or config.packet_buffered
    try:
        while not stop.raised:
            got = drain_all(config.count - written if config.count else 0)
            written += got
            if config.count and written >= config.count:
                break
            now = time.monotonic()
            if config.packet_buffered and got or now >= last_flush + FLUSH_SECONDS - EARLY:
                sinks.flush()
                session.refresh_clock()
                last_flush = now
            if show_progress and now - last_report >= 1.0:
                print(f"\rGot {written}", end="", file=sys.stderr, flush=True)
                last_report = now
            if watch_new and session.privileged and now >= last_scan + RESCAN_SECONDS - EARLY:
                session.add_new_interfaces()
                rings[:] = [ring for _kernel, ring in session.programs.values()]
                last_scan = now
            timeout = POLL_SECONDS if short_poll else last_flush + FLUSH_SECONDS - now
            for fd, _events in session.epoll.poll(max(timeout, 0.0)):
                if fd == stop.wakeup_fd:
                    stop.clear()
        if not (config.count and written >= config.count):
            written += drain_all(config.count - written if config.count else 0)
    except CaptureComplete:
        written = sum(delivered.values())
    except BrokenPipeError:
        # the reader of -w - or of the printed lines went away: stop like an interrupt
        written = sum(delivered.values())
        sinks.reader_gone()
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
