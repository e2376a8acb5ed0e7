"""Opening -w files: created 0600, and never through a trap planted in a shared directory.

ebcap runs as root, and captures hold other people's traffic: like dumpcap, a new file is
created 0600 (an existing file of the user's own keeps its mode, and is truncated, as tcpdump
and dumpcap do). Like tcpdump, ebcap follows the user's symlinks and overwrites the user's files.

A shared directory (/tmp, /var/tmp, /dev/shm: world-writable and sticky) is where another user
can plant a name before ebcap opens it: a symlink to /etc/shadow, or a file of theirs that root
would fill with the capture while they keep reading it. In a sticky directory the kernel
refuses both when fs.protected_symlinks and fs.protected_regular/fs.protected_fifos are set;
ebcap does not rely on them (they are 0 on some hosts). In a shared directory a symlink is
followed only when it belongs to the user or to root, and an existing file (regular or FIFO) is
written only when it belongs to the user or to root and has no other hard link (else someone
may have linked root's own file there: fs.protected_hardlinks).

Each decision is taken on what was opened, not on a name looked up before: every directory on
the way is opened O_NOFOLLOW (a symlink is read through its own descriptor, whose owner fstat
tells), and the file is opened O_NOFOLLOW without O_TRUNC, checked with fstat, and only then
truncated. A FIFO is opened without blocking first, so that another user's FIFO cannot hold
ebcap until its owner starts reading.
"""

from __future__ import annotations

import errno
import io
import os
import pwd
import stat
import sys

from ebcap.capture.errors import OutputError

FILE_MODE = 0o600
_MAX_SYMLINKS = 40                   # the kernel's own limit on one path walk (MAXSYMLINKS)
_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class _Refused(Exception):
    """A planted name in a shared directory: the message says which and whose."""


def open_output_file(path: str) -> io.FileIO:
    """The -w target as an unbuffered binary stream; `-` is stdout. Raises OutputError (one
    line naming the file) when it cannot be opened or is refused."""
    if path == "-":
        return io.FileIO(os.dup(sys.stdout.fileno()), "wb")
    try:
        return io.FileIO(_open_for_writing(path), "wb")
    except _Refused as exc:
        raise OutputError(f"{path}: {exc}") from None
    except OSError as exc:
        raise OutputError(f"{path}: {exc.strerror or exc}") from None


def shared_directory(st: os.stat_result) -> bool:
    """A directory where other users may plant names: writable by everyone (sticky, as /tmp,
    or not), or sticky and writable by its group (what fs.protected_regular = 2 covers)."""
    mode = st.st_mode
    return bool(mode & stat.S_IWOTH or mode & stat.S_ISVTX and mode & stat.S_IWGRP)


def _trusted(uid: int) -> bool:
    return uid in (os.geteuid(), 0)


def _owner(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


class _Walk:
    """One path walk: directory descriptors opened O_PATH, symlinks resolved by hand."""

    def __init__(self) -> None:
        self.links = 0

    def open_file(self, path: str) -> int:
        head, name = os.path.split(path)
        if not name:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        dir_fd = self.directory(_start(path), head)
        try:
            return self._open_in(dir_fd, name)
        finally:
            os.close(dir_fd)

    def directory(self, fd: int, path: str) -> int:
        """The directory `path` relative to directory `fd` (taken over: closed or returned)."""
        for part in path.split("/"):
            if part not in ("", "."):
                fd = self._step(fd, part)
        return fd

    def _step(self, dir_fd: int, part: str) -> int:
        """The directory `part` of directory `dir_fd`, opened; `dir_fd` is closed."""
        try:
            fd = os.open(part, _PATH, dir_fd=dir_fd)
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    fd, opened = -1, fd
                    return opened
                if not stat.S_ISLNK(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
                target = self._link_target(dir_fd, fd, st)
            finally:
                if fd >= 0:
                    os.close(fd)
            start = _start(target) if target.startswith("/") else os.dup(dir_fd)
        finally:
            os.close(dir_fd)
        return self.directory(start, target)

    def _link_target(self, dir_fd: int, link_fd: int, st: os.stat_result) -> str:
        """The symlink's text, read through its own descriptor after its owner was checked."""
        self._count_link()
        if not _trusted(st.st_uid) and shared_directory(os.fstat(dir_fd)):
            raise _Refused(f"refusing to follow a symlink owned by {_owner(st.st_uid)} in a "
                           "shared directory")
        return os.readlink("", dir_fd=link_fd)

    def _open_in(self, dir_fd: int, name: str) -> int:
        shared = shared_directory(os.fstat(dir_fd))
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(name, flags | os.O_NONBLOCK, FILE_MODE, dir_fd=dir_fd)
        except OSError as exc:
            # A symlink: ELOOP. Another user's symlink in a world-writable sticky directory:
            # EACCES, whatever the sysctls (the kernel's may_create_in_sticky() refuses
            # O_CREAT on anything of another user's there but a regular file or a FIFO).
            if exc.errno == errno.ELOOP or exc.errno == errno.EACCES and _is_symlink(dir_fd, name):
                return self._follow(dir_fd, name)
            if exc.errno != errno.ENXIO:            # ENXIO: a FIFO nobody reads yet
                raise
            # Wait for the FIFO's reader, as tcpdump does: but check first whose it is, and
            # again on what was opened (the name may have changed meanwhile).
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if shared and not _trusted(st.st_uid):
                raise _refused_file(st) from None
            fd = os.open(name, flags, FILE_MODE, dir_fd=dir_fd)
        return _checked(fd, shared)

    def _follow(self, dir_fd: int, name: str) -> int:
        fd = os.open(name, _PATH, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISLNK(st.st_mode):         # replaced since: start again (counted,
                self._count_link()                   # so that a flipping name cannot loop)
                return self._open_in(dir_fd, name)
            if _on_procfs(st):
                # /dev/stdout -> /proc/self/fd/1 -> "pipe:[1234]": a magic link, whose text is
                # no path; only the kernel can follow it. /proc holds no shared directory.
                return _checked(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
                                        FILE_MODE, dir_fd=dir_fd), shared=False)
            target = self._link_target(dir_fd, fd, st)
        finally:
            os.close(fd)
        head, base = os.path.split(target)
        if not base:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        start = _start(target) if target.startswith("/") else os.dup(dir_fd)
        target_dir = self.directory(start, head)
        try:
            return self._open_in(target_dir, base)
        finally:
            os.close(target_dir)

    def _count_link(self) -> None:
        self.links += 1
        if self.links > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))


def _checked(fd: int, shared: bool) -> int:
    """The opened file, once it is known whose it is; a regular file is truncated only now."""
    try:
        st = os.fstat(fd)
        if shared and not _trusted(st.st_uid):
            raise _refused_file(st)
        if shared and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            # root's own file, linked here by someone else (fs.protected_hardlinks = 0)
            raise _Refused(f"refusing to write into a file with {st.st_nlink} hard links in a "
                           "shared directory")
        if stat.S_ISREG(st.st_mode):
            # Not a file just made (nothing in it, no blocks): on ext4 any truncate to 0 marks
            # the file to be written back when closed (auto_da_alloc), which then costs the
            # exit ~5.6 ms of CPU per 150 MiB written (and `ebcap bench` 8-14 ms an exit);
            # tcpdump's O_TRUNC on a file it creates truncates nothing.
            if st.st_size or st.st_blocks:
                os.ftruncate(fd, 0)
        else:
            os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _on_procfs(st: os.stat_result) -> bool:
    return st.st_dev == os.stat("/proc").st_dev


def _is_symlink(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _start(path: str) -> int:
    return os.open("/" if path.startswith("/") else ".", _PATH | os.O_DIRECTORY)


def _refused_file(st: os.stat_result) -> _Refused:
    kind = "file" if stat.S_ISREG(st.st_mode) else "FIFO" if stat.S_ISFIFO(st.st_mode) else "node"
    return _Refused(f"refusing to write into a {kind} owned by {_owner(st.st_uid)} in a shared "
                    "directory")


def _open_for_writing(path: str) -> int:
    return _Walk().open_file(path)
