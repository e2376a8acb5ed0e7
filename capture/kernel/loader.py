"""Loading a compiled program: its maps made again with BPF_MAP_CREATE, the instructions' map
references pointed at them, the programs loaded with BPF_PROG_LOAD, and the verifier's refusals
turned into one line. Nothing is pinned: the kernel frees programs and maps with the last fd,
when ebcap exits at the latest."""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Mapping

from ebcap.capture.errors import KernelFeatureError, PrivilegeError, TranslateError
from ebcap.capture.kernel.bpfsys import (BPF_MAP_TYPE_SK_STORAGE, BPF_PROG_TYPE_SCHED_CLS, BpfMap,
                                         MapSpec, ProgramRefused,
                                         map_create, prog_load)
from ebcap.capture.kernel.build import CompiledProgram, first_error
from ebcap.capture.kernel import stage_timer
from ebcap.capture.kernel.splice import LD_IMM64, splice, stub_calls

BPF_PSEUDO_MAP_FD = 1           # ... whose imm is a map fd


def relocate(insns: bytes, fds: dict[int, int]) -> bytes:
    """`insns` with every map reference (ld_imm64 with src_reg BPF_PSEUDO_MAP_FD, imm the fd)
    moved from the compiler child's fd to ours. Whatever else would need relocating (a map
    value's address, BTF ids...) this loader cannot provide: refused, never loaded half right.
    (The second slot of an ld_imm64 has code 0, so scanning every slot is safe.)"""
    out = bytearray(insns)
    for index, (code, regs, _off, imm) in enumerate(struct.iter_unpack("<BBhi", insns)):
        if code != LD_IMM64 or regs >> 4 == 0:
            continue
        if regs >> 4 != BPF_PSEUDO_MAP_FD:
            raise KernelFeatureError(f"the compiled BPF program needs a relocation ebcap does not "
                                     f"make (ld_imm64 with src_reg {regs >> 4}, instruction "
                                     f"{index})")
        if imm not in fds:
            raise KernelFeatureError(f"the compiled BPF program refers to map fd {imm}, which is "
                                     f"not one of its maps (instruction {index})")
        struct.pack_into("<i", out, index * 8 + 4, fds[imm])
    return bytes(out)


def _create_map(spec: MapSpec, timer_btf: stage_timer.TimerBtf) -> int:
    try:
        if spec.type == BPF_MAP_TYPE_SK_STORAGE:             # --owners
            from ebcap.capture.kernel.owners import create_storage_map
            return create_storage_map(spec)
        if spec.name == stage_timer.TIMER_MAP:
            return stage_timer.create_timer_map(spec, timer_btf.get())
        return map_create(spec)
    except OSError as exc:
        if exc.errno == errno.EPERM:
            # Kernels before 5.11 charge maps to RLIMIT_MEMLOCK, as BCC and libbpf know.
            import resource         # only here: ~0.5 ms of every start otherwise
            try:
                resource.setrlimit(resource.RLIMIT_MEMLOCK,
                                   (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                return map_create(spec)
            except (OSError, ValueError):
                raise PrivilegeError("loading BPF programs needs root (CAP_BPF and "
                                     "CAP_NET_ADMIN)") from exc
        raise KernelFeatureError(f"creating the BPF map {spec.name} failed: "
                                 f"{os.strerror(exc.errno)}") from exc


class _Prepared(Mapping):
    """name -> a program's instructions ready to load, relocated and spliced when first asked
    for: a start loads one to three of the programs (-i any only the socket filter), and each
    costs ~0.8 ms of Python to prepare."""

    def __init__(self, programs: dict[str, bytes], prepare):
        self._programs = programs
        self._prepare = prepare
        self._ready: dict[str, bytes] = {}

    def __getitem__(self, name: str) -> bytes:
        if name not in self._ready:
            self._ready[name] = self._prepare(self._programs[name])
        return self._ready[name]

    def __contains__(self, name) -> bool:      # Mapping's would prepare it
        return name in self._programs

    def __iter__(self):
        return iter(self._programs)

    def __len__(self) -> int:
        return len(self._programs)


class LoadedProgram:
    """The maps of a compiled program, and its programs with the filter spliced in, loaded on
    first use. Close it to free them (links hold their own references)."""

    def __init__(self, compiled: CompiledProgram, filter_insns: bytes | dict[int, bytes]):
        self._log = [compiled.log]
        self._fds: dict[str, int] = {}
        self.pending = None             # waits for load_in_background's thread
        self.maps: dict[str, BpfMap] = {}
        self._timer_btf = stage_timer.TimerBtf()
        try:
            ours = {}
            for child_fd, map_spec in compiled.maps.items():
                self.maps[map_spec.name] = BpfMap(_create_map(map_spec, self._timer_btf),
                                                  map_spec)
                ours[child_fd] = self.maps[map_spec.name].fd
            programs = dict(compiled.programs)
            callback = programs.pop(stage_timer.CALLBACK, None)   # not a program of its own

            def prepare(code: bytes) -> bytes:
                # the hooks that call the filter get it (the TC hooks, the drop program);
                # --owners' socket hooks (kernel/owners.py) do not call it
                code = splice(relocate(code, ours), filter_insns) if stub_calls(code) \
                    else relocate(code, ours)
                if callback is not None:
                    code = stage_timer.attach_callback(code, relocate(callback, ours))
                return code
            self.insns = _Prepared(programs, prepare)
        except BaseException:
            self.close()
            raise

    @property
    def loaded(self) -> list[str]:
        """The programs loaded so far."""
        return list(self._fds)

    def log(self) -> str:
        """What the compiler and the verifier said."""
        return "".join(self._log)

    def program_fd(self, name: str, prog_type: int = BPF_PROG_TYPE_SCHED_CLS,
                   attach_type: int = 0, attach_btf_id: int = 0) -> int:
        """Load one of the programs (a TC hook's unless `prog_type` says) into the kernel and
        return its fd."""
        self._wait_pending()
        return self._program_fd(name, prog_type, attach_type, attach_btf_id)

    def _program_fd(self, name: str, prog_type: int = BPF_PROG_TYPE_SCHED_CLS,
                    attach_type: int = 0, attach_btf_id: int = 0) -> int:
        if name not in self._fds:
            if name not in self.insns:
                raise KernelFeatureError(f"the BPF program has no function {name}")
            insns = self.insns[name]
            btf = None
            if stage_timer.names_callback(insns):
                btf = (self._timer_btf.get(), stage_timer.func_info(insns))
            try:
                self._fds[name] = prog_load(insns, name, prog_type, attach_type=attach_type,
                                            attach_btf_id=attach_btf_id, btf=btf)
            except ProgramRefused as exc:
                self._log.append(exc.log)
                raise _refusal(exc) from exc
        return self._fds[name]

    def load(self, names: list[str]) -> None:
        """Load these programs at once: the verifier of each runs in its own thread (the
        syscall releases the GIL, and privileged loads are verified in parallel), ~13 ms less
        than one after the other for ingress and egress here (37 -> 25 ms)."""
        self._wait_pending()
        self._load(names)

    def load_in_background(self, names: list[str]) -> None:
        """Begin loading these programs in a thread (capture/kernel/prefetch.py); every other
        method waits for it first, and a refusal is left for load() to meet again and report."""
        import threading

        def load_quietly() -> None:
            try:
                self._load(names)
            except Exception:
                pass
        thread = threading.Thread(target=load_quietly, name="ebcap-verify", daemon=True)
        self.pending = thread.join
        thread.start()

    def _load(self, names: list[str]) -> None:
        todo = [name for name in dict.fromkeys(names) if name not in self._fds]
        if len(todo) < 2:
            for name in todo:
                self._program_fd(name)
            return
        import threading
        errors: list[BaseException] = []

        def load_one(name: str) -> None:
            try:
                self._program_fd(name)
            except BaseException as exc:        # re-raised in the caller's thread
                errors.append(exc)
        threads = [threading.Thread(target=load_one, args=(name,)) for name in todo[1:]]
        for thread in threads:
            thread.start()
        load_one(todo[0])
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _wait_pending(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending()

    def close(self) -> None:
        self._wait_pending()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        for table in self.maps.values():
            table.close()
        self.maps.clear()
        self._timer_btf.close()


def _refusal(exc: ProgramRefused) -> Exception:
    """The error to raise for a refused program: privileges, a filter too complex for the
    verifier, or the verifier's first error line."""
    text = exc.log
    if exc.errno in (errno.EPERM, errno.EACCES) and "processed" not in text:
        return PrivilegeError("loading BPF programs needs root (CAP_BPF and CAP_NET_ADMIN)")
    if "too large" in text or "too complex" in text or "complexity" in text:
        return TranslateError("the filter is too complex for the kernel's BPF verifier: "
                              f"{first_error(text)}")
    reason = first_error(text) if text.strip() else os.strerror(exc.errno)
    return KernelFeatureError(f"the kernel refused the BPF program: {reason}")
