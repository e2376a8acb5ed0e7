"""One capture's kernel program, end to end: its C (source.py), compiled by BCC in a child
(build.py) or taken from the cache (cache.py), loaded (loader.py), and the maps ebcap reads and
writes (maps.py). The capture process never imports BCC."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ebcap.capture import debug
from ebcap.capture.filter.libpcap import Insn
from ebcap.capture.kernel.build import CompiledProgram, compile_program
from ebcap.capture.kernel.cache import ProgramCache, cache_key
from ebcap.capture.kernel.kheaders import point_bcc_at_headers
from ebcap.capture.kernel.loader import LoadedProgram
from ebcap.capture.kernel.maps import CaptureMaps
from ebcap.capture.kernel.source import (PROGRAM_SOURCE, PROGRAMS, ProgramSource, ProgramSpec,
                                         program_text)


@dataclass
class KernelProgram:
    source: ProgramSource
    loaded: LoadedProgram
    maps: CaptureMaps

    def close(self) -> None:
        self.loaded.close()


def load_program(insns: list[Insn], spec: ProgramSpec) -> KernelProgram:
    """Translate the filter, get the bytecode, load it; close the result to free it all."""
    source = ProgramSource(insns, spec)
    loaded = LoadedProgram(compiled_program(source))
    return KernelProgram(source, loaded, CaptureMaps(loaded.maps))


def compiled_program(source: ProgramSource) -> CompiledProgram:
    """From the cache when it has this exact program, else from BCC (then cached)."""
    headers = point_bcc_at_headers()
    cache = ProgramCache.default()
    if cache is None:
        debug.note("BPF program compiled by BCC (no cache)")
        return _compile(source)
    tree = os.environ.get("BCC_KERNEL_SOURCE") or headers
    key = cache_key(program_text(source.text(), tree))
    entry = f"{cache.dir}/{key}.json"
    compiled = cache.load(key)
    if compiled is not None and set(PROGRAMS) <= compiled.programs.keys():
        debug.note(f"BPF program from the cache, no compiler ({entry})")
        return compiled
    compiled = _compile(source)
    debug.note(f"BPF program compiled by BCC (cache: {entry})")
    cache.store(key, compiled)
    return compiled


def _compile(source: ProgramSource) -> CompiledProgram:
    return compile_program(PROGRAM_SOURCE, source.cflags, source.filter_header, PROGRAMS)
