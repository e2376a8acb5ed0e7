"""What the bench reads off the machine: CPU time, a capture tool's own statistics, its output file."""

from __future__ import annotations

import mmap
import os
import re
import struct
from dataclasses import dataclass

from ebcap.capture.pcapng.format import (BT_EPB, BT_IDB, BT_SHB, BT_SPB, OPT_IF_TSRESOL,
                                         PCAP_FILE_HEADER, PCAP_MAGICS, PCAP_RECORD, iter_options,
                                         scan_blocks, tsresol_units)

CLK_TCK = os.sysconf("SC_CLK_TCK")

# /proc/stat's cpu line: user nice system idle iowait irq softirq steal guest guest_nice.
# Busy is user, nice, system, irq and softirq; guest time is already inside user. Idle and iowait
# are not work, and steal is time the hypervisor gave another guest: this machine did nothing.
_BUSY_FIELDS = (0, 1, 2, 5, 6)


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far, all CPUs, softirq and irq included, steal
    left out."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields[i] for i in _BUSY_FIELDS) / CLK_TCK


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds one live process has run so far (its threads', not its children's), or None
    once it is gone.

    From each thread's /proc/PID/task/TID/schedstat, in ns: /proc/PID/stat counts in clock
    ticks (10 ms here), too coarse against the ~0.1 s a capture spends on a million packets.
    Threads that already ended are not in it; the bench's tools have none by the time they
    report ready (checked: stat and schedstat agree there to the tick).
    """
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return None
    total = 0
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            continue            # a thread that ended meanwhile
    return total / 1e9


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the children `pid` has reaped so far, from /proc/PID/stat (clock ticks)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / CLK_TCK     # cutime, cstime


class CpuGroup:
    """A cgroup v2 of its own for one process: the CPU time of the process and of everything it
    starts, precise to the microsecond, counted up to the end of its exit.

    The bench counts a tool's CPU from the start of the traffic to its exit. Reaped children
    show in wait4()'s rusage but not in the process's own schedstat, so a tool that ran a helper
    while starting up (ctypes' find_library() runs ldconfig) would be charged for it against a
    baseline that does not hold it; the group's clock holds both ends.
    """

    def __init__(self, path: str):
        self.path = path

    @classmethod
    def create(cls, name: str) -> CpuGroup | None:
        """A new group under the cgroup v2 root, or None where there is none to write to."""
        root = _cgroup2_root()
        if root is None:
            return None
        path = os.path.join(root, name)
        try:
            os.mkdir(path)
        except OSError:
            return None
        return cls(path)

    def add(self, pid: int) -> bool:
        try:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(pid))
            return True
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        with open(os.path.join(self.path, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
        raise OSError(f"no usage_usec in {self.path}/cpu.stat")

    def remove(self) -> None:
        """Once its processes are gone (an exited process leaves its group as it is reaped)."""
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass


def _cgroup2_root() -> str | None:
    with open("/proc/self/mounts") as f:
        for line in f:
            _dev, mountpoint, fstype, *_ = line.split()
            if fstype == "cgroup2" and os.access(mountpoint, os.W_OK):
                return mountpoint
    return None


_STATS_LINE = re.compile(r"^(\d+) packets? (captured|received by filter|dropped by kernel)$")
_STATS_KEYS = {"captured": "captured", "received by filter": "received_by_filter",
               "dropped by kernel": "dropped_by_kernel"}


def parse_exit_stats(stderr: str) -> dict[str, int | None]:
    """The three statistics lines tcpdump (and ebcap) print on exit; None for a missing line."""
    stats: dict[str, int | None] = dict.fromkeys(_STATS_KEYS.values())
    for line in stderr.splitlines():
        m = _STATS_LINE.match(line.strip())
        if m:
            stats[_STATS_KEYS[m.group(2)]] = int(m.group(1))
    return stats


@dataclass(frozen=True)
class Match:
    """Which packets of a capture are the measured traffic's: IPv4 protocol `proto` (17 UDP, 6 TCP)
    with `port` as the source port, or as the destination port with `dst`."""

    proto: int
    port: int
    dst: bool = False

    @property
    def offset(self) -> int:
        # Ethernet + option-less IPv4 header (the bench's packets have no options), then the
        # source port, then the destination port: the same place in UDP and in TCP.
        return 14 + 20 + (2 if self.dst else 0)

    def __call__(self, data: bytes | mmap.mmap, at: int, caplen: int) -> bool:
        port_at = at + self.offset
        return (caplen >= self.offset + 2 and data[at + 23] == self.proto
                and data[port_at] == self.port >> 8 and data[port_at + 1] == self.port & 0xFF)


@dataclass
class FileCount:
    """What a capture file holds: packets in all, the measured traffic's packets, the first
    packet's time, and the longest packet on the wire among the measured ones (a TCP stream's
    GSO super-packets are longer than any frame)."""

    packets: int = 0
    packets_matched: int = 0
    first_ts: float | None = None
    size: int = 0
    largest_matched: int | None = None

    def add(self, matched: bool, wire_len: int) -> None:
        self.packets += 1
        if matched:
            self.packets_matched += 1
            if self.largest_matched is None or wire_len > self.largest_matched:
                self.largest_matched = wire_len


def count_capture_file(path: str, match: Match) -> FileCount:
    """Count the packets of a pcap or pcapng file without dissecting them (the files get big)."""
    count = FileCount(size=os.path.getsize(path))
    if count.size < 24:
        return count
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pcap = PCAP_MAGICS.get(data[:4])
        if pcap is not None:
            _walk_pcap(data, pcap, match, count)
        else:
            _walk_pcapng(data, match, count)
    return count


def _walk_pcap(data: mmap.mmap, pcap: tuple[str, int], match: Match, count: FileCount) -> None:
    order, ns_per_unit = pcap
    record = struct.Struct(order + PCAP_RECORD)
    at, end = 4 + struct.calcsize(PCAP_FILE_HEADER), len(data)
    while at + record.size <= end:
        sec, frac, caplen, wire_len = record.unpack_from(data, at)
        at += record.size
        if at + caplen > end:  # a record cut short by the tool being stopped
            break
        if count.first_ts is None:
            count.first_ts = sec + frac * ns_per_unit / 1e9
        count.add(match(data, at, caplen), wire_len)
        at += caplen


def _walk_pcapng(data: mmap.mmap, match: Match, count: FileCount) -> None:
    units: list[tuple[int, int]] = []
    for btype, body, end, order in scan_blocks(data):
        if btype == BT_SHB:
            units = []
        elif btype == BT_IDB:
            resol = dict(iter_options(data[body:end], 8, order)).get(OPT_IF_TSRESOL, b"")
            units.append(tsresol_units(resol))
        elif btype == BT_EPB:
            ifid, ts_hi, ts_lo, caplen, wire_len = struct.unpack_from(order + "IIIII", data, body)
            if count.first_ts is None:
                mult, div = units[ifid] if ifid < len(units) else tsresol_units(b"")
                count.first_ts = ((ts_hi << 32) | ts_lo) * mult / div / 1e9
            count.add(match(data, body + 20, caplen), wire_len)
        elif btype == BT_SPB:  # simple packet block: no timestamp, no interface
            (orig,) = struct.unpack_from(order + "I", data, body)
            count.add(match(data, body + 4, min(orig, end - body - 4)), orig)
