"""`ebcap -r FILE [expr]`: packets from a file through the same kernel program as live capture.

Each packet is handed to the kernel with BPF_PROG_TEST_RUN, for every link type whose header
the kernel program knows (capture/kernel/linklayers.py): libpcap compiles the filter for the
file's link type, so its offsets are the file's own; the program filters it and, when it
matches, writes its record (headers only or -s bytes) into the ring buffer exactly as on a live
interface. So offline and live filtering share one code path. This needs root (or CAP_BPF and
CAP_NET_ADMIN); without it ebcap says so and stops rather than filtering differently.

The kernel refuses to test-run frames shorter than an Ethernet header, frames whose ethertype
promises an IP header they are too short to hold, and frames that do not fit one page with the
skb's overhead (about 3,700 bytes: jumbo frames). For those alone libpcap's
own interpreter decides, with the same compiled program, and the copy is cut at -s (or at
HEADERS_MAX bytes in headers-only mode).

Without an expression there is nothing to filter: packets are only cut at -s, with no kernel
(nor root), so any link type reads. Headers-only still asks the kernel for its cut where the
kernel program knows the link type.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from ebcap.capture.kernel import bpfsys
from ebcap.capture.config import HEADERS_MAX, CaptureConfig
from ebcap.capture.errors import (EbcapError, FilterError, InputError, KernelFeatureError,
                                  PrivilegeError)
from ebcap.capture.net.interfaces import describe_linktype
from ebcap.capture.kernel.program import load_program
from ebcap.capture.kernel.linklayers import LAYOUTS, layout_of
from ebcap.capture.kernel.source import INGRESS, ProgramSpec
from ebcap.capture.net.privileges import check_bpf_privileges
from ebcap.capture.session.offline_fast import fast_reader
from ebcap.capture.session.sinks import open_sinks
from ebcap.capture.packet import Interface, LinkType, Packet
from ebcap.capture.filter.libpcap import compile_filter, offline_match
from ebcap.capture.pcapng.writer import InterfaceStats
from ebcap.capture.pcapng.reader import CaptureFileReader
from ebcap.capture.kernel.ring import RingReader
from ebcap.capture.pcapng.format import parse_epb
from ebcap.capture.kernel.xdp_offline import load_xdp_filter
from ebcap.capture.session.stats import print_statistics

ETH_HLEN = 14
# Test runs always take frames in this range; outside it the kernel may refuse one (too short for
# the IP header its ethertype announces, or too long for a page).
TEST_RUN_SURE_MIN, TEST_RUN_SURE_MAX = 14 + 40, 1518
OFFLINE_RING_BYTES = 1 << 20        # holds one record at a time, up to 262144 bytes


def _open_input(path: str):
    if path == "-":
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None


def file_linktype(path: str) -> int:
    with _open_input(path) as stream:
        reader = CaptureFileReader(stream, path)
        if not reader.interfaces:
            raise InputError(f"{path}: no interface description in the file")
        return reader.interfaces[0].linktype


class _KernelFilter:
    """The compiled program for one link type, run on one packet at a time."""

    def __init__(self, config: CaptureConfig, linktype: int, stack: ExitStack,
                 savefile: str | None):
        # libpcap first, as tcpdump: a bad expression is reported without root, and with
        # libpcap's words for the file (e.g. `inbound` cannot be answered from a file).
        self.insns = compile_filter(config.expression, linktype, savefile=savefile)
        if layout_of(linktype) is None:
            raise KernelFeatureError(f"link type {describe_linktype(linktype)} is not supported "
                                     "by ebcap's kernel program")
        try:
            check_bpf_privileges()
        except PrivilegeError:
            raise PrivilegeError("-r runs the filter in the kernel (BPF_PROG_TEST_RUN), which "
                                 "needs root (CAP_BPF and CAP_NET_ADMIN)") from None
        self.snaplen = config.snaplen
        # The kernel reads bytes 12-13 as an ethertype whatever the link type (skb->protocol),
        # and refuses a frame too short for the IP header that "ethertype" announces: outside
        # Ethernet that says nothing about the frame, so libpcap decides such a frame.
        self.refusals_expected = linktype != LinkType.ETHERNET
        self.kernel = load_program(self.insns, ProgramSpec(
            linktype=linktype, snaplen=config.snaplen, ring_bytes=OFFLINE_RING_BYTES,
            offline=True))
        stack.callback(self.kernel.close)
        self.runner = bpfsys.TestRunner(self.kernel.loaded.program_fd(INGRESS))
        self.ring = RingReader(self.kernel.maps.ring_fd, OFFLINE_RING_BYTES)
        stack.callback(self.ring.close)
        # the C loop's cheaper first call (Ethernet only: elsewhere the kernel's refusals decide)
        self.xdp = load_xdp_filter(self.insns, config.snaplen) \
            if linktype == LinkType.ETHERNET else None
        if self.xdp is not None:
            stack.callback(self.xdp.close)
        self.matched = 0

    def run(self, packet: Packet) -> bytes | None:
        """The bytes to keep when the packet matches, else None."""
        if len(packet.data) < ETH_HLEN:
            return self._libpcap_decides(packet)
        try:
            self.runner.run(packet.data, packet.wirelen)
        except OSError as exc:
            if exc.errno == errno.EINVAL and (self.refusals_expected or not (
                    TEST_RUN_SURE_MIN <= len(packet.data) <= TEST_RUN_SURE_MAX)):
                return self._libpcap_decides(packet)
            raise KernelFeatureError(f"BPF_PROG_TEST_RUN failed: {os.strerror(exc.errno)}") from exc
        blocks: list[bytes] = []
        if not self.ring.drain_blocks(blocks):
            return None
        self.matched += 1
        return parse_epb(blocks[0])[4]


    def _libpcap_decides(self, packet: Packet) -> bytes | None:
        if not offline_match(self.insns, packet.data, packet.wirelen):
            return None
        self.matched += 1
        return packet.data[:self.snaplen or HEADERS_MAX]


class _Unfiltered:
    """No expression: nothing to filter, so no kernel (and no privileges) needed. Only the
    headers-only cut needs the kernel's header walk; where ebcap has none for the link type,
    the first HEADERS_MAX bytes are kept, as the kernel program does for an opaque link."""

    def __init__(self, config: CaptureConfig):
        self.cut = config.snaplen or HEADERS_MAX
        self.matched = 0

    def run(self, packet: Packet) -> bytes:
        self.matched += 1
        return packet.data[:self.cut]


# libpcap on Linux reads no file of OpenBSD's DLT_RAW value: its filter is compiled for DLT_RAW
# on a dead handle instead (filter/libpcap.dlt_of), so the file's own handle is not asked.
_LIBPCAP_READS = frozenset(LAYOUTS) - {LinkType.BSD_RAW_14}


# The link types the kernel program is built for (capture/kernel/linklayers.py).
KERNEL_LINKTYPES = tuple(LAYOUTS)


class _Filters:
    """The kernel filter of each link type met in the file, made on first use."""

    def __init__(self, config: CaptureConfig, stack: ExitStack, first: int):
        self.config, self.stack, self.first = config, stack, first
        self.savefile = None if config.read_from == "-" else config.read_from
        self.by_linktype: dict[int, _KernelFilter | _Unfiltered] = {}
        self.needs_kernel = bool(config.expression) or config.headers_only
        self.refused: dict[int, FilterError] = {}

    def _make(self, linktype: int) -> _KernelFilter | _Unfiltered:
        if linktype not in self.by_linktype:
            if not self.config.expression and (not self.config.headers_only
                                               or layout_of(linktype) is None):
                self.by_linktype[linktype] = _Unfiltered(self.config)
                return self.by_linktype[linktype]
            self.by_linktype[linktype] = _KernelFilter(
                self.config, linktype, self.stack,
                self.savefile if linktype == self.first and linktype in _LIBPCAP_READS else None)
        return self.by_linktype[linktype]

    def preload(self) -> None:
        """Load the program of every link type the kernel can run, before -Z drops root: a file
        may declare another interface at any point (docs/security.md). An expression libpcap
        refuses for a link type (`tcp` on NFLOG) is an error only when the file has that link
        type: the error is kept for then. (~0.5 s with the compiled programs cached; the first
        time, each link type's program is compiled once.)"""
        for linktype in KERNEL_LINKTYPES:
            try:
                self(linktype)
            except FilterError as exc:
                self.refused[linktype] = exc

    def __call__(self, linktype: int) -> _KernelFilter | _Unfiltered:
        found = self.by_linktype.get(linktype)
        if found is not None:
            return found
        if linktype in self.refused:
            raise self.refused[linktype]
        return self._make(linktype)

    @property
    def matched(self) -> int:
        return sum(f.matched for f in self.by_linktype.values())


def run_offline(config: CaptureConfig, quiet: bool = False) -> int:
    with ExitStack() as stack:
        stream = stack.enter_context(_open_input(config.read_from))
        reader = CaptureFileReader(stream, config.read_from)
        first = reader.interfaces[0] if reader.interfaces else Interface(config.read_from)
        if not quiet:
            print(f"reading from file {config.read_from}, link-type "
                  f"{describe_linktype(first.linktype)}, snapshot length {first.snaplen}",
                  file=sys.stderr, flush=True)
        kernel_filter = _Filters(config, stack, first.linktype)
        kernel_filter(first.linktype)       # a bad expression fails before any output
        if config.user:
            # docs/security.md: everything that needs root is done before the drop; a test run
            # of an already loaded program works after setuid (BPF_PROG_TEST_RUN checks the fd).
            if kernel_filter.needs_kernel:
                kernel_filter.preload()
            from ebcap.capture.net.privileges import drop_to
            drop_to(config.user)
        outputs = _OutputInterfaces(config)
        sinks = None
        start_ns = time.time_ns()
        seen = written = 0
        # The file's records go through the C loop (offline_fast.py) between the ones that need
        # this loop: the first (which opens the sinks), and any the C loop hands back (other
        # blocks, other link types, anything the reader must judge).
        fast = fast_reader(reader, kernel_filter(first.linktype), first.linktype)
        packets = iter(reader)
        while (packet := next(packets, None)) is not None:
            if reader.interfaces is not outputs.section or len(reader.interfaces) > outputs.read:
                # interfaces declared after packets (a file of -i any, another section): the
                # sinks and the writer get their IDBs as they appear
                added = outputs.sync(reader.interfaces)
                if sinks is None:
                    sinks = open_sinks(config, outputs.interfaces)
                    stack.callback(sinks.abort)
                else:
                    for iface in added:
                        sinks.add_interface(iface)
            seen += 1
            data = kernel_filter(reader.interfaces[packet.interface].linktype).run(packet)
            if data is not None:
                if outputs.base:
                    packet = packet._replace(interface=outputs.base + packet.interface)
                sinks.packet(packet._replace(data=data))
                written += 1
                if config.count and written >= config.count:
                    break
            if fast is not None:
                more_seen, more_written = fast.run(
                    sinks, config.count - written if config.count else 0, outputs.base)
                seen += more_seen
                written += more_written
                if config.count and written >= config.count:
                    break
        if sinks is None:
            outputs.sync(reader.interfaces)
            sinks = open_sinks(config, outputs.interfaces)
        sinks_ifaces = outputs.interfaces
        matched = kernel_filter.matched
        end_ns = time.time_ns()
        sinks.close([InterfaceStats(start_ns, end_ns, seen, matched, 0, written)]
                    + [InterfaceStats(start_ns, end_ns, 0, 0, 0, 0)] * (len(sinks_ifaces) - 1))
        if config.write_to is not None and not quiet:
            print_statistics(written, matched, 0)
    return 0


def _one_of_batch(config: CaptureConfig) -> str | None:
    try:
        run_offline(config, quiet=True)
    except EbcapError as exc:
        return f"ebcap: {exc}"
    return None


def run_filter_batch(config: CaptureConfig) -> int:
    """--filters-from LIST --out-dir DIR: each expression in LIST (one a line, # comments) over
    the same file, into DIR/NNNN.pcapng, or DIR/NNNN.error holding the one stderr line ebcap
    would print. For checking many filters at once (fixtures/filters): each still gets its own
    compiled kernel program; the processes are reused, spread over the CPUs."""
    from concurrent.futures import ProcessPoolExecutor

    list_path, out_dir = config.filters_from, config.out_dir

    try:
        lines = Path(list_path).read_text().splitlines()
    except OSError as exc:
        raise InputError(f"{list_path}: {exc.strerror}") from None
    expressions = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    configs = [config._replace(expression=e, write_to=str(out / f"{n:04d}.pcapng"))
               for n, e in enumerate(expressions)]
    # Workers compile in their own process, without a child per filter (1.36 s a filter against
    # 1.56 s, measured): LLVM's memory does not matter in a process that lives for the batch.
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for n, error in enumerate(pool.map(_one_of_batch, configs)):
            if error is not None:
                (out / f"{n:04d}.error").write_text(error + "\n")
    print(f"{len(expressions)} expressions from {list_path} into {out}", file=sys.stderr)
    return 0


class _OutputInterfaces:
    """The output's interfaces: one for each interface of every section of the input, in order,
    so that a packet's output id is `base` + its id in its section. One record is made for each
    distinct input record: a file may declare the same interface hundreds of thousands of times
    (docs/security.md, hostile files)."""

    def __init__(self, config: CaptureConfig):
        self.config = config
        self.interfaces: list[Interface] = []   # the sinks' list: it grows
        self.section: list[Interface] | None = None    # the reader's list of this section
        self.read = 0                            # how much of it is in self.interfaces
        self.base = 0                            # output id of the section's first interface
        self._made: dict[Interface, Interface] = {}

    def sync(self, section: list[Interface]) -> list[Interface]:
        """Take in what the reader declared since; returns the output interfaces added."""
        if section is not self.section:
            self.section, self.read, self.base = section, 0, len(self.interfaces)
        added = []
        for iface in section[self.read:]:
            if iface not in self._made:
                self._made[iface] = _output_interface(iface, self.config)
            added.append(self._made[iface])
        self.read = len(section)
        self.interfaces += added
        return added


# The BSDs' raw IP values are written as LINKTYPE_RAW, as tcpdump does (libpcap's DLT_RAW
# becomes LINKTYPE_RAW in a file).
_WRITTEN_AS = {LinkType.BSD_RAW_12: LinkType.RAW, LinkType.BSD_RAW_14: LinkType.RAW}


def _output_interface(iface: Interface, config: CaptureConfig) -> Interface:
    snaplen = config.record_snaplen if config.snaplen else iface.snaplen
    return Interface(name=iface.name, linktype=_WRITTEN_AS.get(iface.linktype, iface.linktype),
                     snaplen=min(snaplen, iface.snaplen) if iface.snaplen else snaplen,
                     filter=config.expression, description=iface.description)
