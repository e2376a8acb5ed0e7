"""BCC, kept out of the capture process: a forked child compiles the C program and reports what
loading it takes (each program's instructions, each map's spec and the fd it had in the child),
then exits, taking LLVM's ~130 MB and their tear-down with it. The capture process never imports
bcc; capture/kernel/loader.py makes the maps and loads the programs itself. A program is
compiled once per configuration (the filter is spliced in later), then comes from the cache.
"""

from __future__ import annotations

import binascii
import contextlib
import ctypes
import os
from collections import namedtuple

from ebcap.capture.kernel.bpfsys import MapSpec, map_info
from ebcap.capture.errors import KernelFeatureError

_PR_SET_PDEATHSIG = 1


class CompiledProgram(namedtuple("CompiledProgram", "programs maps log", defaults=("",))):
    """BCC's output, as loading needs it: `programs`, function -> instructions (map references
    hold child fds); `maps`, the child's map fd -> the MapSpec to create instead; `log`, what
    clang printed (warnings). A named tuple, not a dataclass: a warm start's prefetch thread
    reads one from the cache (capture/kernel/prefetch.py), and dataclasses' import (inspect,
    ast, tokenize: ~13 ms) was on the path to its verifier runs; collections' namedtuple, as
    in bpfsys.MapSpec, since that path does not import typing either."""

    __slots__ = ()

    # base64 through binascii: base64's module imports re (and enum), which a warm start then
    # paid before its verifier began (prefetch reads a cached program first thing)
    def to_json(self) -> dict:
        return {"programs": {name: binascii.b2a_base64(insns, newline=False).decode()
                             for name, insns in self.programs.items()},
                "maps": [{"fd": fd, **spec._asdict()} for fd, spec in self.maps.items()],
                "log": self.log}

    @classmethod
    def from_json(cls, data: dict) -> "CompiledProgram":
        """The inverse of to_json; raises (KeyError, TypeError, ValueError...) on anything
        malformed, which callers treat as no result at all."""
        programs = {str(name): binascii.a2b_base64(text, strict_mode=True)
                    for name, text in data["programs"].items()}
        if any(len(insns) % 8 for insns in programs.values()):
            raise ValueError("instructions are 8 bytes each")
        maps = {}
        for entry in data["maps"]:
            entry = dict(entry)
            fd = int(entry.pop("fd"))
            spec = MapSpec(**entry)
            if not isinstance(spec.name, str) or not all(
                    isinstance(getattr(spec, field), int) for field in
                    ("type", "key_size", "value_size", "max_entries", "flags", "extra")):
                raise ValueError("bad map spec")
            maps[fd] = spec
        return cls(programs, maps, str(data.get("log", "")))


@contextlib.contextmanager
def _stderr_captured(log: list[str]):
    """clang and libbpf print straight to fd 2: keep that out of the user's terminal, and
    append it to `log` for error messages and --debug."""
    import tempfile                 # only when compiling: not on a cached start
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            log.append(sink.read().decode(errors="replace"))


def first_error(log: str) -> str:
    """The line of a compiler or verifier log that says what went wrong (the verifier ends
    with a "processed N insns" summary, which says nothing about it)."""
    lines = [line.strip() for line in log.splitlines()
             if line.strip() and not line.startswith("processed ")]
    for line in lines:
        if ("error:" in line or "invalid" in line.lower() or "too large" in line
                or "too complex" in line or "limit" in line or "unreachable" in line):
            return line
    return lines[-1] if lines else "no message"


def compile_program(source: str | os.PathLike, cflags: list[str],
                    functions: tuple[str, ...]) -> CompiledProgram:
    """Compile `source` with `cflags`.

    Raises KernelFeatureError with the compiler's first error line, as ebcap always has."""
    result = _compile_in_child(source, cflags, functions)
    if result.get("error") == "no-bcc":
        raise KernelFeatureError("BCC's Python module is missing (apt-get install python3-bpfcc)")
    if "error" in result:
        raise KernelFeatureError(f"compiling the BPF program failed: "
                                 f"{first_error(result.get('log', ''))}")
    return CompiledProgram.from_json(result)


def _compile_in_child(source: str | os.PathLike, cflags: list[str],
                      functions: tuple[str, ...]) -> dict:
    # json and signal here, for a compile only: a cached start has neither (json's regular
    # expressions and signal's enums: ~4 ms of a warm start's main thread)
    import json
    import signal
    parent = os.getpid()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child: never returns
        status = 1
        try:
            os.close(read_end)
            _child_setup(parent)
            try:
                # No clean-up: exiting frees the module faster than BCC's walk of it.
                result = _compile(source, cflags, functions)
            except Exception as exc:
                result = {"error": "compile", "log": f"error: {type(exc).__name__}: {exc}"}
            data = json.dumps(result).encode()
            with open(write_end, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)    # no atexit, no flushing of the parent's buffers
    os.close(write_end)
    try:
        with open(read_end, "rb") as pipe:
            data = pipe.read()
    except BaseException:
        os.kill(pid, signal.SIGKILL)                # e.g. ^C while it compiles
        raise
    finally:
        _pid, status = os.waitpid(pid, 0)
    try:
        return json.loads(data)
    except ValueError:
        how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.waitstatus_to_exitcode(status)}")
        return {"error": "compile", "log": f"error: the compiler process ended ({how})"}


def _child_setup(parent: int) -> None:
    """Die with ebcap (its maps must not outlive it); leave signals to ebcap, which kills the
    child when it gives up."""
    import signal
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def _compile(source: str | os.PathLike, cflags: list[str],
             functions: tuple[str, ...]) -> dict:
    """BCC compiles and creates the maps; we keep the instructions and the maps' specs. The
    result is plain JSON data (what the cache keeps, in marshal's format: kernel/cache.py)."""
    try:
        from bcc import BPF
        from bcc.libbcc import lib
    except ImportError:
        return {"error": "no-bcc"}
    log: list[str] = []
    try:
        with _stderr_captured(log):
            bpf = BPF(src_file=str(source).encode(), cflags=cflags)
    except Exception as exc:
        return {"error": "compile", "log": "".join(log) or str(exc)}
    # No bpf.cleanup(): the child exits, which frees the module faster than BCC's walk of it.
    programs = {}
    for name in functions:
        try:
            programs[name] = bpf.dump_func(name)
        except Exception:
            return {"error": "compile", "log": f"error: no function {name} in {source}"}
    return CompiledProgram(programs, _maps(lib, bpf.module), "".join(log)).to_json()


def _maps(lib, module) -> dict[int, MapSpec]:
    """Every map BCC made for the module, by the fd the instructions refer to it with."""
    lib.bpf_num_tables.restype = ctypes.c_ulonglong
    lib.bpf_num_tables.argtypes = [ctypes.c_void_p]
    lib.bpf_table_name.restype = ctypes.c_char_p
    lib.bpf_table_name.argtypes = [ctypes.c_void_p, ctypes.c_ulonglong]
    lib.bpf_table_fd_id.restype = ctypes.c_int
    lib.bpf_table_fd_id.argtypes = [ctypes.c_void_p, ctypes.c_ulonglong]
    maps = {}
    for i in range(lib.bpf_num_tables(module)):
        fd = lib.bpf_table_fd_id(module, i)
        if fd >= 0:
            maps[fd] = map_info(fd, lib.bpf_table_name(module, i).decode())
    return maps
