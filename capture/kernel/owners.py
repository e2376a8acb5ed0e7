"""The cgroup socket hooks of --owners (bpf/ebcap.c): loaded from the capture's compiled program
(they share its maps, so the TC programs read the owners they store) and attached as BPF links
at the root of the cgroup v2 hierarchy. Links are owned by their fds, so the kernel detaches
them when ebcap exits, SIGKILL included; BCC's attach_func (BPF_PROG_ATTACH) would not be.

Socket-local storage (the `owners` map) can only be made with BTF for its key and value, which
the compiler child had and the capture process has not: storage_btf() makes the smallest BTF
that passes the kernel's check (an `int` key, the value as a byte array of its size)."""

from __future__ import annotations

import errno
import os
import struct
from collections import namedtuple
from contextlib import ExitStack

from ebcap.capture.errors import EbcapError, KernelFeatureError, PrivilegeError
from ebcap.capture.kernel import bpfsys

BPF_PROG_TYPE_CGROUP_SOCK, BPF_PROG_TYPE_CGROUP_SOCK_ADDR = 9, 18
BPF_CGROUP_INET_SOCK_CREATE = 2
BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT = 10, 11
BPF_CGROUP_UDP4_SENDMSG, BPF_CGROUP_UDP6_SENDMSG = 14, 15

# (function, program type, attach type). A sock_addr program must be loaded with the attach type
# it is attached with, so ebcap_sock_addr is loaded once per hook.
HOOKS = (
    ("ebcap_sock_create", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE),
    ("ebcap_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT),
    ("ebcap_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT),
    ("ebcap_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG),
    ("ebcap_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG),
)

MAX_COMMS = 8                   # bpf/ebcap.c's EBCAP_MAX_COMMS: --comm given at most this often
# bpf/record.h's struct ebcap_owner: tgid, tid, uid, gid, cgroup id (low, high), comm, in_cgroup
OWNER = struct.Struct("<IIIIII16sI")

_BTF_KIND_INT, _BTF_KIND_ARRAY = 1, 3
_BTF_INT_SIGNED = 1


def cgroup2_mount() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a
    hybrid layout), or None."""
    found = _cgroup2_in("/proc/self/mountinfo")
    return found[0] if found else None


def cgroup2_root() -> str | None:
    """The v2 hierarchy's mount point here, mounted for ebcap alone when `ip netns exec` left
    none (mount_cgroup2_privately); None when there is none."""
    return cgroup2_mount() or mount_cgroup2_privately()


def mount_cgroup2_privately() -> str | None:
    """`ip netns exec` runs its command in a mount namespace of its own with a fresh /sys, where
    cgroup2 is not mounted (init's mount, through /proc/1/root, needs ptrace rights over init,
    refused here). The hierarchy is the same wherever it is mounted, so ebcap mounts it for
    itself: in a mount namespace of its own (a copy of the one it was in, so every path still
    means the same), made private first, so that nothing of it is seen anywhere else. Only when
    `ip netns exec` already gave ebcap a namespace of its own: never in the host's."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    ms_rec, ms_private, clone_newns = 0x4000, 1 << 18, 0x20000
    try:
        if os.readlink("/proc/self/ns/mnt") == os.readlink("/proc/1/ns/mnt"):
            return None
    except OSError:
        pass                # init's namespace unreadable: not init's own, then
    target = "/sys/fs/cgroup"
    if (libc.unshare(clone_newns) != 0
            or libc.mount(b"none", b"/", None, ms_rec | ms_private, None) != 0
            or not os.path.isdir(target)
            or libc.mount(b"cgroup2", target.encode(), b"cgroup2", 0, None) != 0):
        return None
    found = _cgroup2_in("/proc/self/mountinfo")    # mountinfo: the format it parses
    return found[0] if found else None


def _cgroup2_in(mountinfo: str) -> tuple[str, str] | None:
    """(mount point, the hierarchy's directory mounted there) of the first cgroup2 mount: the
    second is '/' unless a part of the hierarchy was bind-mounted (or a cgroup namespace's)."""
    try:
        with open(mountinfo, encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                if "-" not in fields:
                    continue
                dash = fields.index("-")
                if len(fields) > dash + 1 and fields[dash + 1] == "cgroup2":
                    # mountinfo escapes spaces and the like as octal
                    return (fields[4].encode().decode("unicode_escape"),
                            fields[3].encode().decode("unicode_escape"))
    except OSError:
        pass
    return None


class CgroupTarget(namedtuple("CgroupTarget", [
        "path",             # str, relative to the v2 hierarchy's root: /system.slice/nginx.service
        "directory",        # str: where it is seen here
        "id",               # int: its cgroup id, the inode number of its directory
        "level",            # int: its depth below the root (the root: 0)
        ])):
    """A cgroup whose sockets' packets are captured (--cgroup, --run), with what the kernel
    compares (bpf/ebcap.c's wanted_cgroup). A named tuple of collections', as capture/filter/
    libpcap.py's Insn says why."""

    __slots__ = ()


def find_cgroup(path: str) -> CgroupTarget:
    """--cgroup PATH, a path relative to the v2 hierarchy's root wherever it is mounted."""
    if not path.startswith("/"):
        path = "/" + path
    path = os.path.normpath(path)
    if path.startswith("//"):
        path = path[1:]
    root = cgroup2_root()
    mounted = _cgroup2_in("/proc/self/mountinfo")
    if root is None or mounted is None:
        raise KernelFeatureError("--cgroup needs the cgroup v2 hierarchy, which is not mounted")
    hierarchy_dir = mounted[1]
    inside = os.path.relpath(path, hierarchy_dir)
    directory = os.path.normpath(os.path.join(root, inside))
    if inside.startswith("..") or not os.path.isdir(directory) \
            or not os.path.exists(os.path.join(directory, "cgroup.procs")):
        raise EbcapError(f"--cgroup {path}: no such cgroup")
    level = 0 if path == "/" else path.count("/")
    return CgroupTarget(path, directory, os.stat(directory).st_ino, level)


def want_owners(maps: dict, pids: tuple[int, ...], comms: tuple[str, ...],
                cgroup: CgroupTarget | None) -> None:
    """Fill the owner filters' maps (bpf/ebcap.c's wanted_pids, wanted_comms, wanted_cgroup);
    a map that the program was built without is not there, nor asked for."""
    for pid in pids:
        maps["wanted_pids"].update(struct.pack("<I", pid), b"\1")
    if comms:
        names = b"".join(comm_key(comm) for comm in comms)
        maps["wanted_comms"].update(struct.pack("<I", 0), names.ljust(16 * MAX_COMMS, b"\0")
                                    + struct.pack("<II", len(comms), 0))
    if cgroup is not None:
        maps["wanted_cgroup"].update(struct.pack("<I", 0),
                                     struct.pack("<QII", cgroup.id, cgroup.level, 0))


def comm_key(name: str) -> bytes:
    """A thread name as the kernel keeps it: at most 15 bytes, NUL-padded to 16."""
    return name.encode("utf-8", "surrogateescape")[:15].ljust(16, b"\0")


def storage_btf(value_size: int) -> bytes:
    """BTF with type 1 `int` (the key), 2 `char`, 3 `char[value_size]` (the value)."""
    strings = b"\0int\0char\0"
    types = b"".join([
        struct.pack("<IIII", 1, _BTF_KIND_INT << 24, 4, (_BTF_INT_SIGNED << 24) | 32),
        struct.pack("<IIII", 5, _BTF_KIND_INT << 24, 1, 8),
        struct.pack("<IIIIII", 0, _BTF_KIND_ARRAY << 24, 0, 2, 1, value_size),
    ])
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return header + types + strings


def create_storage_map(spec: bpfsys.MapSpec) -> int:
    """The socket-local storage map of `spec`, with its BTF."""
    btf_fd = bpfsys.btf_load(storage_btf(spec.value_size))
    try:
        return bpfsys.map_create(spec, (btf_fd, 1, 3))
    finally:
        os.close(btf_fd)            # the map keeps its own reference


def attach_hooks(stack: ExitStack, insns: dict[str, bytes]) -> None:
    """Load and attach every hook; each program and link is closed when `stack` closes."""
    root = cgroup2_root()
    if root is None:
        raise KernelFeatureError("--owners needs the cgroup v2 hierarchy, which is not mounted")
    cgroup_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name, prog_type, attach_type in HOOKS:
            if name not in insns:
                raise KernelFeatureError(f"the BPF program has no function {name}")
            try:
                prog_fd = bpfsys.prog_load(insns[name], name, prog_type, attach_type=attach_type)
            except bpfsys.ProgramRefused as exc:
                raise KernelFeatureError(f"the kernel refused the socket hook {name}: "
                                         f"{_last_line(exc.log) or exc.strerror}") from exc
            stack.callback(os.close, prog_fd)
            stack.callback(os.close, _link(prog_fd, cgroup_fd, attach_type, root))
    finally:
        os.close(cgroup_fd)


def _link(prog_fd: int, cgroup_fd: int, attach_type: int, root: str) -> int:
    try:
        # BPF_LINK_CREATE's first words are the same for tcx and cgroups: prog, target, type
        return bpfsys.tcx_attach(prog_fd, cgroup_fd, attach_type)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise PrivilegeError("attaching socket hooks needs root (CAP_SYS_ADMIN)") from exc
        raise KernelFeatureError(f"attaching a socket hook to the cgroup {root} failed: "
                                 f"{os.strerror(exc.errno)}") from exc


def _last_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.strip() and
             not line.startswith("processed ")]
    return lines[-1] if lines else ""
