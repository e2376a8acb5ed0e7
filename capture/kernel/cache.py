"""Compiled programs kept between runs, so that a capture starts without BCC at all.

An entry is what the compiler child reports (capture/kernel/build.py: instructions and map specs),
stored as DIR/<key>.entry, in marshal's format: json's import (its regular expressions: ~3 ms)
was on a warm start's path (capture/kernel/prefetch.py reads an entry first thing). The key is
a sha256 of everything that shapes the bytecode: the exact compiled text (flags, generated
filter header, program, the headers in bpf/), the kernel release and headers tree, BCC's
version and the format version below.

ebcap loads what it finds here into the kernel as root, so it uses the cache only where nobody
else could have written: the directory and every entry must belong to the effective user and be
writable by nobody else, and no directory above it may be writable by others (unless sticky, as
/tmp). Entries are written whole (temp file, then rename) and carry a digest; anything unreadable
or malformed is a miss and gets compiled again. When the cache cannot be written (read-only file
system, full disk...) ebcap simply runs without it.

    EBCAP_CACHE_DIR=DIR   use DIR (the tests use their own)
    EBCAP_NO_CACHE=1      neither read nor write the cache

A warm start reads its record and an entry here before anything else (capture/kernel/prefetch.py),
so reading takes os.path's strings: pathlib (with re, fnmatch, urllib.parse and ipaddress)
imports later, while the verifier runs, not before it begins (the prefetch done ~14 ms sooner,
in-process timestamps in the README). `dir` and `entries()` give pathlib's paths to the rest.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
import time

try:        # CPython's own sha256: hashlib's import loads OpenSSL (~4 ms of every start)
    from _sha256 import sha256
except ImportError:
    from hashlib import sha256

FORMAT_VERSION = 2                  # 2: marshal, not JSON
MAX_ENTRIES = 512                   # the oldest (by last use) go first
STALE_TEMP_SECONDS = 600            # a temp file this old was left by a crash
_SUFFIX = ".entry"


def cache_root() -> str:
    """ebcap's cache directory: /var/cache/ebcap for root, else under XDG_CACHE_HOME."""
    if os.geteuid() == 0:
        return "/var/cache/ebcap"
    return os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ebcap")


def program_cache_dir() -> str | None:
    """The compiled-program cache's directory, or None when EBCAP_NO_CACHE is set."""
    if os.environ.get("EBCAP_NO_CACHE", "") not in ("", "0"):
        return None
    return os.environ.get("EBCAP_CACHE_DIR") or os.path.join(cache_root(), "programs")


def bcc_version() -> str:
    """BCC's version, read without importing it (the import alone maps LLVM).

    Finding BCC walks sys.path (importlib's find_spec: ~0.8 ms), and where Python started
    without site (capture/cli/script.py) it would load site for it, on a warm start's main
    thread. So a start's record (capture/kernel/prefetch.py) keeps what was found
    (bcc_memo()) with the stamps of what the walk looked at: every sys.path entry up to BCC's
    (a package installed in one changes its mtime), BCC's folder and its version.py; the next
    start hands it back (use_bcc_memo()) and, while none of them changed, the version is that
    one."""
    global _bcc_found
    if _bcc_found is None:
        memo, _state["memo"] = _state["memo"], None
        version = _checked(memo) if memo is not None else None
        _bcc_found = (version, memo) if version is not None else _find_bcc_version()
    return _bcc_found[0]


_bcc_found: tuple[str, dict | None] | None = None   # (version, memo or None) once looked up
_state = {"memo": None}                             # a record's memo, not yet checked


def use_bcc_memo(memo) -> None:
    """A memo bcc_memo() gave a start before: bcc_version() takes it if it still holds."""
    _state["memo"] = memo


def bcc_memo() -> dict | None:
    """What bcc_version() found, with its stamps, for a record (None: nothing to keep)."""
    return None if _bcc_found is None else _bcc_found[1]


def _checked(memo) -> str | None:
    try:
        if memo["format"] != FORMAT_VERSION or memo["where"] != _interpreter():
            return None
        *dirs, version_py = memo["stamps"]
        if any(_dir_stamp(str(stamp[0])) != stamp for stamp in dirs) or \
                _file_stamp(str(version_py[0])) != version_py:
            return None
        return str(memo["version"])
    except Exception:
        return None


def _interpreter() -> list:
    """What, besides the directories, decides where an import looks."""
    return [sys.executable, os.environ.get("PYTHONPATH", "")]


def _dir_stamp(path: str) -> list:
    try:
        st = os.stat(path)
    except OSError:
        return [path, None]
    return [path, st.st_mtime_ns, st.st_ino]


def _file_stamp(path: str) -> list:
    st = os.stat(path)
    return [path, st.st_mtime_ns, st.st_size, st.st_ino]


def _find_bcc_version() -> tuple[str, dict | None]:
    """(BCC's version, its memo for a record, or None: nothing to keep)."""
    import importlib.util
    import re
    try:
        spec = importlib.util.find_spec("bcc")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return "none", None
    folder = os.path.dirname(spec.origin)
    version_py = os.path.join(folder, "version.py")
    try:
        with open(version_py) as source:
            text = source.read()
        stamp = _file_stamp(version_py)
    except OSError:
        return "unknown", None
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
    version = match.group(1) if match else "unknown"
    # the sys.path entries the walk tried before BCC's (its parent is one of them)
    parent = os.path.dirname(folder)
    entries = []
    for entry in sys.path:
        entry = os.path.abspath(entry or os.getcwd())
        entries.append(_dir_stamp(entry))
        if entry == parent:
            break
    else:
        return version, None        # a finder's, not a path's
    return version, {"format": FORMAT_VERSION, "where": _interpreter(), "version": version,
                     "stamps": [*entries, _dir_stamp(folder), stamp]}


def cache_key(text: str) -> str:
    """The entry name for a program compiled from `text` (see the module's docstring)."""
    digest = sha256()
    for part in (f"ebcap program cache {FORMAT_VERSION}", os.uname().release, bcc_version(),
                 text):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _owned_and_private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


class ProgramCache:
    """One cache directory. Every method fails soft: a cache is never a reason to fail."""

    def __init__(self, directory: str | os.PathLike):
        self.path = os.path.realpath(directory)      # as pathlib's resolve()
        self._dir = None

    @property
    def dir(self):                  # pathlib.Path
        # made once: the import statement and a Path per access were on every entry's use
        if self._dir is None:
            from pathlib import Path
            self._dir = Path(self.path)
        return self._dir

    @classmethod
    def default(cls) -> "ProgramCache | None":
        """The cache this process should use, or None when EBCAP_NO_CACHE is set."""
        directory = program_cache_dir()
        return None if directory is None else cls(directory)

    def refusal(self) -> str | None:
        """Why the directory may not be used (None: it may, or it does not exist yet)."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            return f"{self.path}: {exc.strerror}"
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                return f"{self.path} is not a directory"
            if not _owned_and_private(st):
                return f"{self.path} is not owned by uid {os.geteuid()} alone"
        for parent in _parents(self.path):
            try:
                st = os.stat(parent)
            except OSError:
                continue                    # made later, with our own permissions
            if st.st_uid not in (0, os.geteuid()) or (
                    st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and
                    not st.st_mode & stat.S_ISVTX):
                return f"{parent} is writable by other users"
        return None

    def read_private(self, name: str) -> bytes | None:
        """The file `name` in the directory, if it and the directory may be trusted."""
        if self.refusal() is not None:
            return None
        try:
            fd = os.open(os.path.join(self.path, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with open(fd, "rb") as entry:
            st = os.fstat(entry.fileno())
            if not stat.S_ISREG(st.st_mode) or not _owned_and_private(st):
                return None
            return entry.read()

    def write_private(self, name: str, data: bytes,
                      keep: tuple[str, str, int] | None = None) -> None:
        """Write the file `name` whole (temp file, then rename); with `keep` (prefix, suffix,
        count), only the newest `count` files so named stay. Raises OSError."""
        self._make_dir()
        if self.refusal() is not None:
            return
        import tempfile             # only when writing: not on a cached start
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=_SUFFIX, dir=self.dir)
        try:
            with open(fd, "wb") as entry:
                entry.write(data)
            os.replace(temp, self.dir / name)
        except BaseException:
            os.unlink(temp)
            raise
        if keep is not None:
            prefix, suffix, count = keep
            self._keep_newest([p for p in self.dir.iterdir()
                               if p.name.startswith(prefix) and p.name.endswith(suffix)], count)

    def load(self, key: str) -> CompiledProgram | None:     # build.CompiledProgram
        # build.py (dataclasses, base64, signal) only here: prefetch.py reads its records
        # through this class first thing, before it starts the links
        from ebcap.capture.kernel.build import CompiledProgram
        data = self.read_private(key + _SUFFIX)
        if data is None:
            return None
        path = os.path.join(self.path, key + _SUFFIX)
        try:
            header, payload = marshal.loads(data)
            if (header["format"] != FORMAT_VERSION or header["key"] != key
                    or header["sha256"] != sha256(payload).hexdigest()):
                return None
            program = CompiledProgram.from_json(marshal.loads(payload))
        except Exception:               # corrupt or foreign: compile again
            return None
        try:
            os.utime(path)              # last use, for pruning
        except OSError:
            pass
        return program

    def store(self, key: str, program: CompiledProgram) -> None:     # build.CompiledProgram
        try:
            payload = marshal.dumps(program.to_json())
            header = {"format": FORMAT_VERSION, "key": key, "sha256": sha256(payload).hexdigest()}
            self.write_private(key + _SUFFIX, marshal.dumps((header, payload)))
            self._prune()
        except OSError:
            pass

    def entries(self) -> list:          # pathlib.Path
        try:
            return [p for p in self.dir.iterdir()
                    if p.name.endswith(_SUFFIX) and not p.name.startswith(".")]
        except OSError:
            return []

    def _make_dir(self) -> None:
        if not self.dir.is_dir():
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(self.dir, 0o700)
            except FileExistsError:
                pass

    def _prune(self) -> None:
        now = time.time()
        for path in self.dir.glob(".tmp-*"):
            try:
                if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                    path.unlink()
            except OSError:
                pass
        self._keep_newest(self.entries(), MAX_ENTRIES)

    @staticmethod
    def _keep_newest(paths: list, count: int) -> None:
        """Remove all but the `count` most recently used of `paths`."""
        if len(paths) <= count:
            return
        aged = []
        for path in paths:
            try:
                aged.append((path.stat().st_mtime, path))
            except OSError:
                pass
        aged.sort()
        for _mtime, path in aged[:len(aged) - count]:
            try:
                path.unlink()
            except OSError:
                pass


def _parents(path: str) -> list[str]:
    """The directories above an absolute path, nearest first (pathlib's `parents`)."""
    parents = []
    while (parent := os.path.dirname(path)) != path:
        parents.append(parent)
        path = parent
    return parents
