"""`ebcap --drops`: the packets the kernel drops in ebcap's network namespace, with why and
where. A raw tracepoint program on skb:kfree_skb (kernel/drop_program.py) runs the user's
filter compiled for the frame's link type (Ethernet, or none); its ring is drained into pcapng, where each
packet's EPB carries `Drop: REASON` and `Location: symbol+0xoff` comments, and into lines that
end with ` [drop REASON at symbol]`. Interfaces get an IDB when their first drop is met.

With --owners (and --pid, --comm, --cgroup, --run, which imply it) the program is a BTF
tracepoint one with the cgroup socket hooks of its own, as live capture's (session/live.py):
each drop whose socket (the receiving one the tracepoint names, or the skb's) has an owner
carries ptcpdump's owner comments after the drop's, and the owner filters choose drops in the
kernel."""

from __future__ import annotations

import os
import select
import socket
import sys
import time
from collections import Counter
from contextlib import ExitStack

from ebcap.capture.config import CaptureConfig
from ebcap.capture.errors import FilterError, InterfaceError
from ebcap.capture.filter.libpcap import Insn, compile_filter
from ebcap.capture.kernel import btf, kallsyms, owners
from ebcap.capture.kernel.drop_program import DropProgram, DropSpec, record_room
from ebcap.capture.kernel.drop_record import (DropCounters, DropRecord, drop_comments,
                                              parse_record, reason_name, select_reasons)
from ebcap.capture.kernel.owners import OWNER
from ebcap.capture.kernel.ring import RingReader
from ebcap.capture.kernel.source import owner_fields, ring_size
from ebcap.capture.net import interfaces
from ebcap.capture.packet import Direction, Interface, LinkType, Packet
from ebcap.capture.pcapng.rotation import CaptureComplete
from ebcap.capture.pcapng.writer import InterfaceStats
from ebcap.capture.session.clock import monotonic_to_wall_offset, offset_moved
from ebcap.capture.session.drop_headers import headers_length
from ebcap.capture.session.drop_print import drop_printer, print_reasons
from ebcap.capture.session.sinks import open_sinks
from ebcap.capture.session.stats import print_statistics
from ebcap.capture.session.stop import StopSignals

LINKTYPES = (LinkType.ETHERNET, LinkType.RAW)   # DropProgram's order
BPF_RET_K = 0x06
POLL_SECONDS = 0.1          # printing: how long a drop may wait for its line
FLUSH_SECONDS = 1.0         # a file is complete up to its last block at least this often
ANY = "any"
# -Q: a drop of unknown direction (no device) is in neither
QUEUE_DIRECTIONS = {"inout": Direction.UNKNOWN, "in": Direction.IN, "out": Direction.OUT}


def netns_inum() -> int:
    """The inode of this process's network namespace, as the kernel's net->ns.inum."""
    return os.stat("/proc/self/ns/net").st_ino


class DropSession:
    def __init__(self, config: CaptureConfig, stack: ExitStack):
        self.config = config
        self.stack = stack
        self.snaplen = (record_room(0) if config.headers_only
                        else min(config.snaplen, record_room(config.snaplen)))
        self.programs: list[DropProgram] = []
        self.rings: list[RingReader] = []
        self.interfaces: list[Interface] = []           # pcapng ids, in IDB order
        self.iface_id: dict[tuple[int, int], int] = {}  # (ifindex, link type) -> id
        self.reasons_met: Counter = Counter()
        self.written: Counter = Counter()               # pcapng interface id -> packets
        self.start_ns = time.time_ns()
        # Read while still root: kallsyms shows zeros to others, and -Z comes later.
        self.symbols = kallsyms.kernel_symbols()
        self.locations: dict[int, str] = {}             # address -> symbol+0xoff, as met
        self.reason_names = {value: name for name, value in btf.drop_reasons().items()}
        self.sinks = None
        self.printer = None
        self.epoll = select.epoll()
        stack.callback(self.epoll.close)
        self.cgroup: owners.CgroupTarget | None = None     # --cgroup, --run
        self.directory = None           # session/owners.OwnerDirectory with --owners
        self.owners_met: dict[bytes, tuple] = {}           # the kernel's owner -> (owner, comments)
        self._wall_offset: int | None = None    # what flush() gave every program (session/clock.py)

    def load(self, ifindex: int) -> None:
        ring_bytes = ring_size(self.config.buffer_kib)
        config = self.config
        program = DropProgram(*filters_for(config.expression),
                              DropSpec(config.snaplen, ring_bytes,
                                       **owner_fields(config, self.cgroup)))
        self.stack.callback(program.close)
        if config.owners:
            owners.attach_hooks(self.stack, program.loaded.insns)
            owners.want_owners(program.loaded.maps, config.pids, config.comms, self.cgroup)
            from ebcap.capture.kernel.owners_seed import seed_owners
            seed_owners(program.loaded.maps["owners"], owners.cgroup2_mount(), self.cgroup)
        program.configure(netns_inum(), ifindex,
                          select_reasons(self.config.drop_reasons, btf.drop_reasons()),
                          QUEUE_DIRECTIONS[self.config.direction])
        program.maps.set_wall_clock(monotonic_to_wall_offset())
        ring = RingReader(program.maps.ring_fd, ring_bytes, batched=False)
        self.stack.callback(ring.close)
        self.epoll.register(program.maps.ring_fd, select.EPOLLIN)
        self.programs.append(program)
        self.rings.append(ring)
        program.attach()

    def interface(self, ifindex: int, linktype: int) -> int:
        """The pcapng interface id of a device and link type, with an IDB the first time."""
        key = (ifindex, linktype)
        if key not in self.iface_id:
            try:
                name = socket.if_indextoname(ifindex) if ifindex else "(no device)"
            except OSError:
                name = f"ifindex {ifindex}"
            iface = Interface(name=name, linktype=linktype, snaplen=self.snaplen,
                              filter=self.config.expression, ifindex=ifindex,
                              description="packets the kernel dropped (ebcap --drops)")
            self.iface_id[key] = len(self.interfaces)
            self.interfaces.append(iface)
            if self.sinks is not None and self.sinks.writer is not None:
                self.sinks.add_interface(iface)
        return self.iface_id[key]

    def deliver(self, drop: DropRecord) -> None:
        linktype = LinkType.RAW if drop.raw else LinkType.ETHERNET
        reason = reason_name(self.reason_names, drop.reason)
        location = self.locations.get(drop.location)
        if location is None:
            location = self.locations[drop.location] = self.symbols.symbolize(drop.location)
        self.reasons_met[reason] += 1
        data = drop.data
        if self.config.headers_only:
            data = data[:headers_length(data, drop.raw)]
        elif len(data) > self.snaplen:      # the kernel copies a power of two: -s is exact
            data = data[:self.snaplen]
        comments = drop_comments(reason, location)
        owner = None
        if drop.owner:
            owner, owner_comments = self.owner(drop.owner)
            comments += owner_comments
        packet = Packet(drop.ts_ns, self.interface(drop.ifindex, linktype), drop.direction,
                        drop.wirelen, data, comments, owner)
        if self.sinks is not None:
            self.sinks.packet(packet)
            self.written[packet.interface] += 1
        if self.printer is not None:
            self.printer.print(packet)

    def owner(self, raw: bytes) -> tuple:
        """(Owner or None, its comments) of a record's struct ebcap_owner, tgid 0: no owner."""
        known = self.owners_met.get(raw)
        if known is None:
            if len(self.owners_met) > 65536:
                self.owners_met.clear()
            fields = OWNER.unpack(raw)
            if not fields[0]:
                known = (None, ())
            else:
                owner = self.directory.owner(fields)
                known = (owner, tuple(owner.comments()))
            self.owners_met[raw] = known
        return known

    def drain(self, limit: int) -> int:
        got = 0
        for ring in self.rings:
            batch: list[bytes] = []
            ring.drain_blocks(batch, limit - got if limit else 0)
            for record in batch:
                self.deliver(parse_record(record))
            got += len(batch)
        return got

    def counters(self) -> DropCounters:
        total = DropCounters()
        for program in self.programs:
            total += program.counters()
        return total

    def statistics(self) -> list[InterfaceStats]:
        """An ISB's counts per interface (dumpcap writes them at the end of a file, and so does
        live capture). What was written is known for each; the kernel counts the drops it
        filtered and lost for all interfaces together, so those are said only for the one
        interface of `-i IF`: otherwise they are left out, never shared out by guess."""
        now = time.time_ns()
        kernel = (None, None, None)
        if len(self.interfaces) == 1 and self.programs and self.programs[0].ifindex:
            counters = self.counters()
            kernel = (counters.considered, counters.matched, counters.lost)
        return [InterfaceStats(self.start_ns, now, *kernel, self.written[n])
                for n in range(len(self.interfaces))]

    def flush(self) -> None:
        if self.sinks is not None:
            self.sinks.flush()
        if self.printer is not None:
            self.printer.flush()
        offset = monotonic_to_wall_offset(self._wall_offset)
        if not offset_moved(offset, self._wall_offset):
            return
        self._wall_offset = offset
        for program in self.programs:
            program.maps.set_wall_clock(offset)


NO_MATCH = [Insn(BPF_RET_K, 0, 0, 0)]        # ret #0


def filters_for(expression: str) -> list[list[Insn]]:
    """The expression compiled for each link type a drop may have. One that has no meaning for
    a link type (`vlan` without a link header) matches none of its frames; one that has none for
    either is the error libpcap gives for Ethernet."""
    filters, errors = [], []
    for linktype in LINKTYPES:
        try:
            filters.append(compile_filter(expression, linktype))
        except FilterError as exc:
            filters.append(NO_MATCH)
            errors.append(exc)
    if len(errors) == len(LINKTYPES):
        raise errors[0]
    return filters


def _ifindex(config: CaptureConfig) -> int:
    names = [name for name in config.interfaces if name != ANY]
    if len(names) > 1:
        raise InterfaceError("--drops takes one -i interface (or any)")
    return interfaces.ifindex(names[0]) if names else 0


def run_drops(config: CaptureConfig) -> int:
    if config.netns:
        from ebcap.capture.net.netns import enter
        enter(config.netns)
    stop = StopSignals()
    with ExitStack() as stack:
        session = DropSession(config, stack)
        command = None
        if config.run is not None:          # its cgroup before the program that filters on it
            from ebcap.capture.kernel.owners_cgroup import make_run_cgroup
            session.cgroup = make_run_cgroup(stack)
        elif config.cgroup is not None:
            session.cgroup = owners.find_cgroup(config.cgroup)
        if config.owners:
            from ebcap.capture.session.owners import OwnerDirectory
            session.directory = OwnerDirectory()
            for pid in config.pids:         # while /proc/PID/exe can still be read (-Z)
                session.directory.remember(pid)
        session.load(_ifindex(config))
        if config.run is not None:          # attached: the command's first drop is seen
            from ebcap.capture.session.owners_run import RunCommand, command_argv, run_as
            command = RunCommand(command_argv(config.run), session.cgroup.directory,
                                 run_as(config.user))
            stack.callback(command.abandon)
            session.directory.remember(command.pid)
        if config.user:
            from ebcap.capture.net.privileges import drop_to
            drop_to(config.user)
        if config.write_to is not None:
            # the file only: lines are the drop printer's, which names the drop
            session.sinks = open_sinks(config._replace(print_packets=False),
                                       session.interfaces, session.statistics)
            stack.callback(session.sinks.abort)
        if config.write_to is None or config.print_packets:
            session.printer = drop_printer(config, session.interfaces)
        stop.install(wakeup=True)
        stack.callback(stop.restore)
        session.epoll.register(stop.wakeup_fd, select.EPOLLIN)
        where = ", ".join(config.interfaces) or ANY
        print(f"ebcap: listening on {where} for the packets the kernel drops, snapshot length "
              f"{session.snaplen} bytes", file=sys.stderr, flush=True)
        if command is not None:
            def command_exited() -> None:
                stop.raised = True
            command.watch(command_exited)
            stack.callback(command.unwatch)
        written = _loop(config, session, stop)
        counters = session.counters()
        if session.sinks is not None:
            session.sinks.close(session.statistics())
        print_statistics(written, counters.considered, counters.lost)
        print_reasons(session.reasons_met)
        if config.verbose:
            print(f"{counters.foreign} drops in other network namespaces and {counters.unowned} "
                  "with neither a device nor a socket left out", file=sys.stderr)
        if command is not None:
            # stopped by its exit or by -c: its status; by a signal: it is stopped too
            return command.finish(wait=command.exited or not stop.raised)
    return 0


def _loop(config: CaptureConfig, session: DropSession, stop: StopSignals) -> int:
    written = 0
    last_flush = time.monotonic()
    timeout = POLL_SECONDS if session.printer is not None else FLUSH_SECONDS
    try:
        while not stop.raised:
            written += session.drain(config.count - written if config.count else 0)
            if config.count and written >= config.count:
                break
            now = time.monotonic()
            if config.packet_buffered or now >= last_flush + FLUSH_SECONDS:
                session.flush()
                last_flush = now
            for fd, _events in session.epoll.poll(timeout):
                if fd == stop.wakeup_fd:
                    stop.clear()
        if not (config.count and written >= config.count):
            written += session.drain(config.count - written if config.count else 0)
    except CaptureComplete:
        pass
    except BrokenPipeError:
        if session.sinks is not None:
            session.sinks.reader_gone()
        session.printer = None
    return written
