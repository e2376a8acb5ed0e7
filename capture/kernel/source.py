"""The C that BCC compiles for one configuration (link type, snaplen mode, ring size, offline):
bpf/ebcap.c with the configuration as -D constants. The filter is not part of it (it is
spliced in as instructions, capture/kernel/splice.py), so one compiled program serves every
filter. `text()` is exactly what is compiled (`ebcap --dump-c`)."""

from __future__ import annotations

import os
from collections import namedtuple

from ebcap.bpf import SOURCE_DIR
from ebcap.capture.config import HEADERS_MAX
from ebcap.capture.errors import KernelFeatureError
from ebcap.capture.filter.translate import PEEK_BYTES
from ebcap.capture.kernel import stage_timer
from ebcap.capture.kernel.linklayers import layout_of
from ebcap.capture.kernel.maps import IFACE_SLOTS
from ebcap.capture.packet import LinkType

PROGRAM_SOURCE = SOURCE_DIR / "ebcap.c"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_RING_BYTES = 8 << 20
INGRESS, EGRESS = "ebcap_ingress", "ebcap_egress"
SOCKET = "ebcap_socket"          # -i any's socket filter (capture/kernel/packet_socket.py)
PROGRAMS = (INGRESS, EGRESS, SOCKET)
# bpf/ebcap.c's cgroup socket hooks (--owners) (capture/kernel/owners.py attaches them)
OWNER_PROGRAMS = ("ebcap_sock_create", "ebcap_sock_addr")


# The owner options, which bpf/owners.h compiles in: the same in this program's spec and the
# drop program's (drop_program.DropSpec), each off by default. field -> its -D constant
OWNER_FIELDS = {
    "owners": "EBCAP_OWNERS",               # records carry their socket's owner (--owners)
    "pid_filter": "EBCAP_PID_FILTER",       # only the tgids in wanted_pids (--pid)
    "comm_filter": "EBCAP_COMM_FILTER",     # only the thread names in wanted_comms (--comm)
    "cgroup_filter": "EBCAP_CGROUP_FILTER",  # sockets made under wanted_cgroup (--cgroup, --run)
}


def owner_fields(config, cgroup) -> dict[str, bool]:
    """The owner options a CaptureConfig asks for (`cgroup`: its --cgroup or --run target, or
    None), as a spec's keyword arguments."""
    return {"owners": config.owners, "pid_filter": bool(config.pids),
            "comm_filter": bool(config.comms), "cgroup_filter": cgroup is not None}


class OwnerSpec:
    """What ProgramSpec and DropSpec share: the OWNER_FIELDS (fields of their named tuples) and
    what those add to a program, its socket hooks and -D constants."""

    __slots__ = ()

    @property
    def owner_programs(self) -> tuple[str, ...]:
        return OWNER_PROGRAMS if self.owners else ()

    def owner_defines(self, always: tuple[str, ...] = ()) -> list[str]:
        """-D for each owner option that is set, and for those in `always` whatever their value
        (the C defaults the others to 0): a program's flags, and so its cache entry, stay as
        they were when an option it never named is added."""
        return [f"-D{macro}={int(getattr(self, field))}"
                for field, macro in OWNER_FIELDS.items()
                if field in always or getattr(self, field)]


_SPEC_FIELDS = {                    # name: default
    "linktype": LinkType.ETHERNET,
    "snaplen": 0,                   # bytes to copy at most; 0 = headers only
    "ring_bytes": DEFAULT_RING_BYTES,
    "offline": False,               # run by BPF_PROG_TEST_RUN on packets from a file
    **dict.fromkeys(OWNER_FIELDS, False),
}


class ProgramSpec(OwnerSpec, namedtuple("ProgramSpec", _SPEC_FIELDS,
                                        defaults=_SPEC_FIELDS.values())):
    """Everything that shapes the compiled program besides the filter. (collections' named
    tuple: capture/filter/libpcap.py's Insn says why.)"""

    __slots__ = ()

    @property
    def programs(self) -> tuple[str, ...]:
        """The functions to compile: the hooks, and live the staging buffer's flush callback
        (capture/kernel/stage_timer.py appends it to them)."""
        hooks = PROGRAMS + self.owner_programs
        return hooks if self.offline else hooks + (stage_timer.CALLBACK,)

    def cflags(self) -> list[str]:
        layout = layout_of(self.linktype)
        if layout is None:
            raise KernelFeatureError(f"link type {self.linktype} is not supported")
        return [
            f"-DEBCAP_LINK={layout.kind}",
            f"-DEBCAP_LINK_HLEN={layout.header_length}",
            f"-DEBCAP_LINK_PROTO_OFF={layout.proto_offset}",
            f"-DEBCAP_SNAPLEN={self.snaplen}",
            f"-DEBCAP_RING_PAGES={self.ring_bytes // PAGE_SIZE}",
            f"-DEBCAP_OFFLINE={int(self.offline)}",
            f"-DEBCAP_PEEK={PEEK_BYTES}",
            f"-DEBCAP_HEADERS_MAX={HEADERS_MAX}",
            f"-DEBCAP_IFACE_SLOTS={IFACE_SLOTS}",
            # --comm and --cgroup came later: named only when set
            *self.owner_defines(always=("owners", "pid_filter")),
        ]


def ring_size(kib: int | None) -> int:
    """-B in KiB (tcpdump's unit) rounded up to what a BPF ring buffer needs: a power-of-two
    number of pages."""
    if kib is None:
        return DEFAULT_RING_BYTES
    size = max(kib * 1024, PAGE_SIZE)
    return 1 << (size - 1).bit_length()


class ProgramSource:
    """One spec, as the text the compiler gets."""

    def __init__(self, spec: ProgramSpec):
        self.spec = spec
        self.cflags = [f"-I{SOURCE_DIR}", *spec.cflags()]

    def text(self) -> str:
        """The exact C that is compiled: flags, then the program (bpf/'s headers it includes
        are in program_text())."""
        return "".join([
            f"// clang flags: {' '.join(self.cflags)}\n",
            f"// ---- {PROGRAM_SOURCE} ----\n",
            PROGRAM_SOURCE.read_text(),
        ])


def program_text(source_text: str, kernel_headers: str) -> str:
    """All the text the bytecode depends on, for the cache key: what is compiled, every header
    in bpf/ (more than ebcap.c includes costs a needless compile at worst; fewer, a stale
    program) and the kernel headers tree BCC compiles against."""
    headers = "".join(f"// ---- {path.name} ----\n{path.read_text()}"
                      for path in sorted(SOURCE_DIR.glob("*.h")))
    return f"// kernel headers: {kernel_headers}\n{source_text}{headers}"
