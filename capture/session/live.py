"""A live capture: attach the kernel program to the interfaces' TC hooks (or, for -i any, to a
packet socket per link type), drain the ring buffers into pcapng (or the printer), stop cleanly
on -c, SIGINT, SIGTERM or an output error."""

from __future__ import annotations

import select
import sys
import time
from contextlib import ExitStack

from ebcap.capture import debug
from ebcap.capture.config import CaptureConfig
from ebcap.capture.errors import InterfaceError
from ebcap.capture.filter.libpcap import compile_filter, interface_netmask
from ebcap.capture.kernel import owners, prefetch
from ebcap.capture.kernel.bpfsys import BPF_PROG_TYPE_SOCKET_FILTER
from ebcap.capture.kernel.program import KernelProgram, load_program
from ebcap.capture.kernel.ring import RingReader
from ebcap.capture.kernel.source import SOCKET, ProgramSpec, owner_fields, ring_size
from ebcap.capture.net import interfaces
from ebcap.capture.packet import Interface
from ebcap.capture.pcapng.writer import InterfaceStats
from ebcap.capture.session import attach
from ebcap.capture.session.clock import monotonic_to_wall_offset, offset_moved
from ebcap.capture.session.drain import Drainer
from ebcap.capture.session.sinks import open_sinks
from ebcap.capture.session.stats import print_statistics
from ebcap.capture.session.stop import StopSignals

ANY = "any"


class LiveSession:
    """Programs (one per link type), their rings, and the interfaces they are attached to;
    everything is held by `stack`."""

    def __init__(self, config: CaptureConfig, stack: ExitStack):
        self.config = config
        self.stack = stack
        self.interfaces: list[Interface] = []        # pcapng interface ids, in IDB order
        self.iface_id: dict[int, int] = {}           # ifindex -> interface id
        self.programs: dict[int, KernelProgram] = {}  # link type -> program
        self._wall_offset: int | None = None        # what the programs' wall_clock maps hold
        self.rings: list[RingReader] = []
        self.delivered: dict[int, int] = {}          # interface id -> blocks delivered
        self.epoll = select.epoll()
        stack.callback(self.epoll.close)
        self.sinks = None
        self.privileged = True
        self.netmask = 0            # set from the first interface, as tcpdump does
        self.start_ns = 0
        self.watch_new = ANY in config.interfaces
        self.link_watcher: interfaces.LinkWatcher | None = None
        self.cgroup: owners.CgroupTarget | None = None     # --cgroup, --run
        self.any_by_socket = attach.by_socket(config)
        self.sockets: dict[int, PacketSocket | None] = {}   # link type -> its socket (-i any)

    def program(self, linktype: int) -> KernelProgram:
        if linktype not in self.programs:
            spec = ProgramSpec(linktype=linktype, snaplen=self.config.snaplen,
                               ring_bytes=ring_size(self.config.buffer_kib),
                               **owner_fields(self.config, self.cgroup))
            kernel = load_program(compile_filter(self.config.expression, linktype,
                                                 netmask=self.netmask), spec)
            self.stack.callback(kernel.close)
            if spec.owners:
                # each program has its own owners map, so each gets its socket hooks
                owners.attach_hooks(self.stack, kernel.loaded.insns)
                owners.want_owners(kernel.loaded.maps, self.config.pids, self.config.comms,
                                   self.cgroup)
                # after the hooks: a socket made meanwhile is the hooks', not lost (imported
                # here: it imports socket.py, ~4 ms of enums, which a start without --owners skips)
                from ebcap.capture.kernel.owners_seed import seed_owners
                seed_owners(kernel.loaded.maps["owners"], owners.cgroup2_mount(), self.cgroup)
            ring = RingReader(kernel.maps.ring_fd, spec.ring_bytes)
            self.stack.callback(ring.close)
            # Edge-triggered: the ring reports readable while any record waits, so a level-
            # triggered poll would return at once and the loop would spin on a few records at
            # a time. Edges come only from the kernel's wake-ups (ring 1/4 full, bpf/ebcap.c).
            self.epoll.register(kernel.maps.ring_fd, select.EPOLLIN | select.EPOLLET)
            if self._wall_offset is None:       # a later program takes the others' offset:
                self._wall_offset = monotonic_to_wall_offset()     # refresh_clock moves all
            kernel.maps.set_wall_clock(self._wall_offset)
            self.programs[linktype] = kernel
            self.rings.append(ring)
        return self.programs[linktype]

    def add(self, records: list[interfaces.InterfaceInfo], *, skip_unusable: bool = False) -> None:
        """Capture on these interfaces: each gets its interface id, and either its link type's
        packet socket (-i any, capture/session/attach.py's by_socket) or its hooks attached
        (all at once) and, unless -p or -i any, promiscuous mode. With `skip_unusable`, an
        interface with a link type ebcap does not capture is left out instead of failing the
        capture."""
        found = []
        for record in records:
            try:
                found.append((record.name, record.index, record.linktype, record.loopback))
            except InterfaceError:
                if skip_unusable:
                    continue
                raise
        by_socket, by_tc = [], []       # one pass: `not in by_socket` was quadratic
        for entry in found:
            (by_socket if self.packet_socket(entry[2]) is not None else by_tc).append(entry)
        self.add_by_socket(by_socket)
        self.add_by_tc(by_tc)

    def packet_socket(self, linktype: int) -> PacketSocket | None:
        """-i any: the packet socket that captures this link type's interfaces (made on first
        use), or None where they are attached at TC."""
        if not self.any_by_socket:
            return None
        if linktype not in self.sockets:
            # here: socket.py's import (~4 ms: its enums) only for -i any
            from ebcap.capture.kernel.packet_socket import FilterTooLong, PacketSocket
            kernel = self.program(linktype)
            kernel.maps.set_socket_directions(*attach.socket_directions(self.config.direction))
            try:
                sock = PacketSocket(kernel.loaded.program_fd(SOCKET, BPF_PROG_TYPE_SOCKET_FILTER))
            except FilterTooLong as exc:
                debug.note(f"-i any at TC for link type {linktype}: {exc}")
                sock = None
            else:
                self.stack.callback(sock.close)
            self.sockets[linktype] = sock
        return self.sockets[linktype]

    def add_by_socket(self, found: list[tuple[str, int, int, bool]]) -> None:
        """Interfaces their link type's packet socket already sees: registering them is all
        (one map update for all; no privilege needed, so this goes on after -Z)."""
        self._register(found)
        for name, index, dlt, _loopback in found:
            self._added(Interface(name=name, linktype=dlt, snaplen=self.config.record_snaplen,
                                  filter=self.config.expression, ifindex=index))

    def _register(self, found: list[tuple[str, int, int, bool]]) -> None:
        """The pcapng interface ids these interfaces are about to get, in their link type's
        program: one map update per map, however many interfaces."""
        ids: dict[int, list[tuple[int, int]]] = {}         # link type -> (ifindex, id)
        for number, (_name, index, dlt, _loopback) in enumerate(found, len(self.interfaces)):
            ids.setdefault(dlt, []).append((index, number))
        for dlt, entries in ids.items():
            self.program(dlt).maps.register_interfaces(entries)

    def _added(self, iface: Interface) -> None:
        self.iface_id[iface.ifindex] = len(self.interfaces)
        self.interfaces.append(iface)
        if self.sinks is not None:
            self.sinks.add_interface(iface)

    def add_by_tc(self, found: list[tuple[str, int, int, bool]]) -> None:
        """Interfaces whose TC hooks get the program."""
        if not found:
            return
        # each interface's (program, tcx attach type) pairs, decided once: they depend on its
        # loopback flag alone, and -i any may bring hundreds of interfaces
        hooked = [(entry, attach.hooks(self.config.direction, entry[3], self.config.owners))
                  for entry in found]
        wanted: dict[int, list[str]] = {}         # link type -> the hook programs it needs
        for (_name, _index, dlt, _loopback), pairs in hooked:
            wanted.setdefault(dlt, []).extend(program for program, _kind in pairs)
        named = [(name, index, kind) for (name, index, _dlt, _loopback), pairs in hooked
                 for _program, kind in pairs]
        targets = [(index, kind) for _name, index, kind in named]
        early = attach.start(self.stack, targets)
        for dlt, programs in wanted.items():
            self.program(dlt).loaded.load(programs)
        self._register(found)
        jobs, added = [], []
        for (name, index, dlt, loopback), pairs in hooked:
            kernel = self.program(dlt)
            jobs += [(kernel.loaded.program_fd(program), index, kind) for program, kind in pairs]
            added.append((Interface(name=name, linktype=dlt, snaplen=self.config.record_snaplen,
                                    filter=self.config.expression, ifindex=index), loopback))
        attach.attach(self.stack, jobs, early)
        if not self.interfaces and len(wanted) == 1:    # the start: for the next one like it
            kernel = self.program(next(iter(wanted)))
            prefetch.remember(kernel.cache_key, kernel.filter_insns, kernel.loaded.loaded, named)
        for iface, loopback in added:
            # tcpdump -i any does not make interfaces promiscuous (the "any" device cannot be)
            if self.config.promiscuous and not loopback and not self.watch_new:
                self.stack.callback(interfaces.Promiscuous(iface.ifindex).close)
            self._added(iface)

    def add_new_interfaces(self) -> None:
        """-i any: interfaces that came up since the last look. After -Z, only those a packet
        socket already sees (docs/security.md): the others would need a program or a link."""
        changed = self.link_watcher.changed() if self.link_watcher is not None else None
        new = [record for record in (interfaces.links() if changed is None else changed)
               if record.up and record.index not in self.iface_id]
        if not self.privileged:
            new = [record for record in new if self._socket_sees(record)]
        if not new:
            return
        try:
            self.add(new, skip_unusable=True)
        except InterfaceError:      # one went away while being attached: the others alone
            for record in new:
                try:
                    self.add([record], skip_unusable=True)
                except InterfaceError:
                    continue

    def _socket_sees(self, record: interfaces.InterfaceInfo) -> bool:
        try:
            return self.sockets.get(record.linktype) is not None
        except InterfaceError:
            return False

    def refresh_clock(self) -> None:
        # capture/session/clock.py: the check is cheap while the offset stands, and the map
        # update, the costly part, is made only for a step
        last = self._wall_offset
        offset = monotonic_to_wall_offset(last)
        if not offset_moved(offset, last):
            return
        self._wall_offset = offset
        for kernel in self.programs.values():
            kernel.maps.set_wall_clock(offset)

    def statistics(self) -> list[InterfaceStats]:
        now = time.time_ns()
        counts: dict[int, tuple[int, int]] = {}
        for kernel in self.programs.values():
            counts.update(kernel.maps.counters())
        stats = []
        for n, record in enumerate(self.interfaces):
            accepted, lost = counts.get(record.ifindex, (0, 0))
            # received by the filter and accepted are one count, as libpcap's on Linux
            stats.append(InterfaceStats(self.start_ns, now, accepted, accepted, lost,
                                        self.delivered.get(n, 0)))
        return stats


def _interfaces(config: CaptureConfig) -> list[interfaces.InterfaceInfo]:
    """-i any: every interface that is up, from one netlink dump; else the named ones (or
    tcpdump's default)."""
    if ANY in config.interfaces:
        return [record for record in interfaces.links() if record.up]
    names = list(config.interfaces) or [interfaces.default_interface()]
    with interfaces.ioctl_socket() as sock:
        return [interfaces.lookup(name, sock) for name in names]


def run_live(config: CaptureConfig) -> int:
    if config.netns:
        from ebcap.capture.net.netns import enter
        enter(config.netns)
    watch_new = ANY in config.interfaces
    stop = StopSignals()
    with ExitStack() as stack:
        session = LiveSession(config, stack)
        if watch_new:           # before the first look, so that nothing appears unseen
            session.link_watcher = interfaces.LinkWatcher()
            stack.callback(session.link_watcher.close)
            session.epoll.register(session.link_watcher.fileno(), select.EPOLLIN)
        command = None
        if config.run is not None:          # its cgroup before the programs that filter on it
            from ebcap.capture.kernel.owners_cgroup import make_run_cgroup
            session.cgroup = make_run_cgroup(stack)
        elif config.cgroup is not None:
            session.cgroup = owners.find_cgroup(config.cgroup)
        found = _interfaces(config)
        if len(found) == 1:
            session.netmask = interface_netmask(found[0].name)
        session.add(found, skip_unusable=watch_new)
        directory = None
        if config.owners:
            from ebcap.capture.session.owners import OwnerDirectory
            directory = OwnerDirectory()
            for pid in config.pids:         # while /proc/PID/exe can still be read (-Z)
                directory.remember(pid)
        if not session.interfaces:
            raise InterfaceError("no interface to capture on")
        if config.run is not None:          # every hook attached: its first packet is seen
            from ebcap.capture.session.owners_run import RunCommand, command_argv, run_as
            command = RunCommand(command_argv(config.run), session.cgroup.directory,
                                 run_as(config.user))
            stack.callback(command.abandon)
            directory.remember(command.pid)     # exec'd: its exe and arguments are there now
            debug.note(f"--run: pid {command.pid} in the cgroup {session.cgroup.directory}")
        if config.user:
            from ebcap.capture.net.privileges import drop_to
            drop_to(config.user)
            session.privileged = False
            # attaching needs root, and nothing keeps it (docs/security.md); a packet
            # socket sees new interfaces of its link type without
            if watch_new and not any(session.sockets.values()):
                print("ebcap: with -Z, interfaces that appear later are not captured",
                      file=sys.stderr)
        session.start_ns = time.time_ns()
        sinks = open_sinks(_printing_config(config, len(found) > 1 or watch_new),
                           session.interfaces, session.statistics, directory)
        session.sinks = sinks
        stack.callback(sinks.abort)
        stop.install(wakeup=True)
        stack.callback(stop.restore)
        session.epoll.register(stop.wakeup_fd, select.EPOLLIN)
        print(f"ebcap: listening on {_describe(config, session)}", file=sys.stderr, flush=True)
        prefetch.save()                     # what the next such start can begin with
        if command is not None:
            def command_exited() -> None:
                stop.raised = True
            command.watch(command_exited)
            stack.callback(command.unwatch)
        written = Drainer(config, session, stop).run()
        stats = session.statistics()
        sinks.close(stats)
        print_statistics(written, sum(s.accepted for s in stats), sum(s.dropped for s in stats))
        if command is not None:
            # stopped by its exit or by -c: its status; by a signal: it is stopped too
            return command.finish(wait=command.exited or not stop.raised)
    return 0


def _printing_config(config: CaptureConfig, several: bool) -> CaptureConfig:
    """With several interfaces, lines say which one, like tcpdump -i any; with --owners too,
    like ptcpdump ("eth0 curl.3553 Out")."""
    if (several or config.owners) and config.print_options is not None:
        import dataclasses      # PrintOptions (dissectors) is a dataclass; only a printing start
        options = dataclasses.replace(config.print_options, show_interface=True)
        return config._replace(print_options=options)
    return config


def _describe(config: CaptureConfig, session: LiveSession) -> str:
    names = ANY if ANY in config.interfaces else ", ".join(i.name for i in session.interfaces)
    types = ", ".join(dict.fromkeys(interfaces.describe_linktype(i.linktype)
                                    for i in session.interfaces))
    mode = " (headers only)" if config.headers_only else ""
    return f"{names}, link-type {types}, snapshot length {config.record_snaplen} bytes{mode}"
