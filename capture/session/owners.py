"""--owners in user space: each kernel-built EPB carries its socket's owner as a local-use option
(bpf/record.h's struct ebcap_owner_opt, between epb_flags and the end of options); here it
becomes ptcpdump's opt_comments (capture/owner.py), with what only /proc knows: the executable
path and the command line (cached per pid), and the cgroup's path (from its id, the inode
number of its directory in the cgroup v2 hierarchy).

A block without an owner (tgid 0: ingress, forwarded, the kernel's own replies) is written
without the option, as ebcap writes blocks without --owners.

/proc/PID is read when the block is drained, at most a second after the packet: a process that
has exited by then keeps its pid, thread id, comm and uid (the kernel's), and its Cmd is its
comm with no Args. After -Z, /proc/PID/exe of another user's process cannot be read (it needs
ptrace access): Cmd is then the comm as well."""

from __future__ import annotations

import os
import struct
import time

from ebcap.capture.kernel.owners import OWNER, cgroup2_mount
from ebcap.capture.owner import Owner
from ebcap.capture.pcapng.format import (EPB_HEAD, OPT_COMMENT, OPT_ENDOFOPT, encode_option)

OPT_OWNER = 0x8EBC                      # bpf/record.h's EBCAP_OPT_OWNER
_FLAGS_OPTION = 8
_u32 = struct.Struct("<I")
_END_OF_OPTIONS = struct.pack("<HH", OPT_ENDOFOPT, 0)
CGROUP_RESCAN_SECONDS = 1.0             # an unknown cgroup id walks the hierarchy at most this often


class OwnerDirectory:
    """Turns owner options into comments; one per live session."""

    def __init__(self):
        self._processes: dict[tuple[int, str], tuple[str, str]] = {}  # (pid, comm) -> (exe, args)
        self._cgroups: dict[int, str] = {}                    # cgroup id -> path
        self._cgroup_root = cgroup2_mount()
        self._scanned = 0.0
        self._encoded: dict[Owner, bytes] = {}                # owner -> its comment options
        self._by_raw: dict[bytes, tuple[Owner, bytes]] = {}   # the kernel's bytes -> both
        # Every socket a packet is attributed to is in the capture's network namespace: an
        # egress packet leaves its socket's namespace's interface, an ingress one is looked up
        # in the interface's namespace (bpf/ebcap.c). Read here, after --netns, before -Z.
        try:
            self._netns = os.stat("/proc/self/ns/net").st_ino
        except OSError:
            self._netns = 0

    def rewrite(self, block: bytes) -> tuple[bytes, Owner | None]:
        """The block as it is written (owner option replaced by comments), and its owner."""
        caplen = EPB_HEAD.unpack_from(block)[5]
        flags_at = EPB_HEAD.size + ((caplen + 3) & ~3)
        owner_at = flags_at + _FLAGS_OPTION
        code = struct.unpack_from("<H", block, owner_at)[0]
        if code != OPT_OWNER:               # a block of a program without owners
            return block, None
        if not _u32.unpack_from(block, owner_at + 4)[0]:       # tgid 0: no owner
            total = owner_at + 8
            return b"".join((block[:4], _u32.pack(total), block[8:owner_at],
                             _END_OF_OPTIONS, _u32.pack(total))), None
        raw = block[owner_at + 4:owner_at + 4 + OWNER.size]
        known = self._by_raw.get(raw)
        if known is None:           # most packets come from a socket met before: one lookup
            if len(self._by_raw) > 65536:
                self._by_raw.clear()
            owner = self.owner(OWNER.unpack(raw))
            known = self._by_raw[raw] = (owner, self._comments(owner))
        owner, comments = known
        total = owner_at + len(comments) + 8
        return b"".join((block[:4], _u32.pack(total), block[8:owner_at], comments,
                         _END_OF_OPTIONS, _u32.pack(total))), owner

    def _comments(self, owner: Owner) -> bytes:
        encoded = self._encoded.get(owner)
        if encoded is None:
            if len(self._encoded) > 65536:
                self._encoded.clear()
            encoded = self._encoded[owner] = b"".join(
                encode_option(OPT_COMMENT, text.encode("utf-8", "replace"))
                for text in owner.comments())
        return encoded

    def owner(self, fields: tuple) -> Owner:
        tgid, tid, uid, _gid, cg_lo, cg_hi, comm, _in_cgroup = fields
        thread = comm.split(b"\0", 1)[0].decode("utf-8", "replace")
        exe, args = self.process(tgid, thread)
        return Owner(tgid, exe, args, tid, thread, uid, self.cgroup_path(cg_hi << 32 | cg_lo),
                     self._netns)

    def process(self, pid: int, comm: str) -> tuple[str, str]:
        """(executable path, arguments) of `pid` while its thread is named `comm`, read once;
        (comm, '') when it is gone. Keyed by the name as well: a process that has exec'd since
        (a shim, `env`, a shell's exec) is read again, not given its earlier program."""
        known = self._processes.get((pid, comm))
        if known is not None:
            return known
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            exe = comm
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                args = handle.read().rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            args = ""
        if len(self._processes) > 65536:
            self._processes.clear()
        self._processes[(pid, comm)] = (exe, args)
        return exe, args

    def remember(self, pid: int) -> None:
        """Read /proc/PID now (--pid, --run: before any -Z drop), under its present name."""
        try:
            with open(f"/proc/{pid}/comm", "rb") as handle:
                comm = handle.read().rstrip(b"\n").decode("utf-8", "replace")
        except OSError:
            return
        self.process(pid, comm)

    def cgroup_path(self, cgroup_id: int) -> str:
        path = self._cgroups.get(cgroup_id)
        if path is None and self._cgroup_root and cgroup_id:
            now = time.monotonic()
            if now - self._scanned >= CGROUP_RESCAN_SECONDS:
                self._scanned = now
                self._scan()
            path = self._cgroups.get(cgroup_id)
        return path or ""

    def _scan(self) -> None:
        root = self._cgroup_root
        for directory, _subdirs, _files in os.walk(root):
            try:
                inode = os.stat(directory).st_ino
            except OSError:
                continue
            self._cgroups[inode] = "/" + os.path.relpath(directory, root).lstrip(".")
