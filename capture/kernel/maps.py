"""The maps ebcap itself reads and writes once the program is loaded (bpf/ebcap.c): the ring
buffer, the interface table (pcapng interface id per ifindex, and its counters) and the wall
clock offset. Their layouts are bpf/record.h's (tests/unit/test_record_layout.py compares)."""

from __future__ import annotations

import struct

from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.kernel.bpfsys import BpfMap, possible_cpus

EVENTS, SLOTS, INTERFACES, WALL_CLOCK = "events", "slots", "interfaces", "wall_clock"
# struct ebcap_iface: accepted, lost, interface_id, ifindex
IFACE = struct.Struct("<QQII")
IFACE_SLOTS = 256               # bpf/ebcap.c's direct-mapped interface table (a power of two)
_u32 = struct.Struct("<I")
_u64 = struct.Struct("<Q")


class CaptureMaps:
    def __init__(self, maps: dict[str, BpfMap]):
        self._maps = maps
        self._slot_owners: dict[int, int] = {}          # slot -> ifindex

    def _map(self, name: str) -> BpfMap:
        try:
            return self._maps[name]
        except KeyError:
            raise KernelFeatureError(f"the BPF program has no map {name}") from None

    @property
    def ring_fd(self) -> int:
        return self._map(EVENTS).fd

    def register_interface(self, ifindex: int, interface_id: int) -> None:
        """Tell the kernel which pcapng interface id its blocks carry for this ifindex: in the
        ifindex's slot, or in the hash when another interface holds the slot."""
        self.register_interfaces([(ifindex, interface_id)])

    def register_interfaces(self, entries: list[tuple[int, int]]) -> None:
        """register_interface() of each (ifindex, interface id), a syscall per map."""
        cpus = possible_cpus()
        slots, hashed = [], []
        for ifindex, interface_id in entries:
            value = [IFACE.pack(0, 0, interface_id, ifindex)] * cpus
            slot = ifindex % IFACE_SLOTS
            if self._slot_owners.setdefault(slot, ifindex) == ifindex:
                slots.append((_u32.pack(slot), value))
            else:
                hashed.append((_u32.pack(ifindex), value))
        self._map(SLOTS).update_batch(slots)
        self._map(INTERFACES).update_batch(hashed)

    def set_wall_clock(self, offset_ns: int) -> None:
        """CLOCK_REALTIME - CLOCK_MONOTONIC, which the kernel adds to bpf_ktime_get_ns()."""
        self._map(WALL_CLOCK).update(_u32.pack(0), _u64.pack(offset_ns & 0xFFFFFFFFFFFFFFFF))

    def set_socket_directions(self, ordinary: int, loopback: int) -> None:
        """The directions (enum ebcap_direction bits) ebcap_socket captures on ordinary
        interfaces and on loopback (bpf/ebcap.c's socket_directions)."""
        table = self._map("socket_directions")
        table.update(_u32.pack(0), _u32.pack(ordinary))
        table.update(_u32.pack(1), _u32.pack(loopback))

    def counters(self) -> dict[int, tuple[int, int]]:
        """ifindex -> (accepted, lost), summed over CPUs. The kernel counts accepted packets
        only (bpf/record.h): what libpcap on Linux reports as received by the filter, and what
        the filter accepted (the ISB's ifrecv and filteraccept are both this figure)."""
        slots, table = self._map(SLOTS), self._map(INTERFACES)
        entries = [(ifindex, slots, _u32.pack(slot)) for slot, ifindex in self._slot_owners.items()]
        entries += [(_u32.unpack(key)[0], table, key) for key in table.keys()]
        totals = {}
        for ifindex, entries_map, key in entries:
            per_cpu = entries_map.lookup(key)
            if per_cpu is None:
                continue
            rows = [IFACE.unpack(value) for value in per_cpu]
            accepted = sum(r[0] for r in rows)
            totals[ifindex] = (accepted, sum(r[1] for r in rows))
        return totals

    def want_pids(self, pids: tuple[int, ...]) -> None:
        """--pid: the tgids whose packets the kernel captures (bpf/ebcap.c's wanted_pids)."""
        table = self._map("wanted_pids")
        for pid in pids:
            table.update(_u32.pack(pid), b"\1")
