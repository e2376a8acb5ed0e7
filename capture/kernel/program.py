"""One capture's kernel program, end to end: the C for its configuration (source.py), compiled
by BCC in a child (build.py) once and then taken from the cache (cache.py), the filter
translated from libpcap's classic BPF (filter/translate.py) and spliced in (splice.py), loaded
(loader.py), and the maps ebcap reads and writes (maps.py). The capture process never imports
BCC, and a filter never needs it."""

from __future__ import annotations

import os
from collections import namedtuple

from ebcap.capture import debug
from ebcap.capture.filter.libpcap import Insn
from ebcap.capture.filter.translate import translate
from ebcap.capture.kernel.build import CompiledProgram, compile_program
from ebcap.capture.kernel.cache import ProgramCache, cache_key
from ebcap.capture.kernel.kheaders import point_bcc_at_headers
from ebcap.capture.kernel import prefetch
from ebcap.capture.kernel.loader import LoadedProgram
from ebcap.capture.kernel.splice import DIRECT_STUB, FILTER_STUB
from ebcap.capture.kernel.maps import CaptureMaps
from ebcap.capture.kernel.source import PROGRAM_SOURCE, ProgramSource, ProgramSpec, program_text


class KernelProgram(namedtuple("KernelProgram", [
        "source",                       # ProgramSource
        "loaded",                       # LoadedProgram
        "maps",                         # CaptureMaps
        "cache_key",                    # str | None (None): the compiled program's entry
                                        # (None: no cache)
        "filter_insns",                 # bytes (b""): the filter subprogram spliced in
        ], defaults=(None, b""))):
    """(collections' named tuple: capture/filter/libpcap.py's Insn says why.)"""

    __slots__ = ()

    def close(self) -> None:
        self.loaded.close()


def tc_filters(insns: list[Insn], offline: bool) -> dict[int, bytes]:
    """The two filters bpf/ebcap.c calls: the one that reads the packet in place, and the
    copying one that decides what it cannot."""
    return {FILTER_STUB: translate(insns, offline=offline),
            DIRECT_STUB: translate(insns, context="offline-direct" if offline else "tc-direct")}


def load_program(insns: list[Insn], spec: ProgramSpec) -> KernelProgram:
    """Translate the filter, get the program for the spec, splice and load them; close the
    result to free it all."""
    filter_insns = tc_filters(insns, spec.offline)
    source = ProgramSource(spec)
    entry = cache_entry(source)
    key = entry[1]
    loaded = prefetch.take_program(key, filter_insns)       # begun before the CLI's imports
    if loaded is not None:
        debug.note("BPF program prefetched for this command line (capture/kernel/prefetch.py)")
    else:
        loaded = LoadedProgram(compiled_program(source, entry=entry), filter_insns)
    return KernelProgram(source, loaded, CaptureMaps(loaded.maps), key, filter_insns)


def cache_entry(source: ProgramSource) -> tuple[ProgramCache | None, str | None]:
    """The cache to use and the key of `source`'s program in it ((None, None): no cache)."""
    headers = point_bcc_at_headers()
    cache = ProgramCache.default()
    if cache is None:
        return None, None
    tree = os.environ.get("BCC_KERNEL_SOURCE") or headers
    return cache, cache_key(program_text(source.text(), tree))


def compiled_program(source: ProgramSource, path=PROGRAM_SOURCE,
                     functions: tuple[str, ...] | None = None,
                     entry: tuple[ProgramCache | None, str | None] | None = None
                     ) -> CompiledProgram:
    """From the cache when it has this exact program, else from BCC (then cached). `source`
    is anything with the text() and cflags of the C file `path` (bpf/drops.c has its own);
    `functions` default to the spec's programs (the TC hooks, and with --owners the cgroup
    socket hooks). `entry`: cache_entry(source), when the caller has it (the program's text
    and its hash: ~1.7 ms)."""
    functions = functions or source.spec.programs
    cache, key = entry or cache_entry(source)
    if cache is None:
        debug.note("BPF program compiled by BCC (no cache)")
        return compile_program(path, source.cflags, functions)
    entry = f"{cache.dir}/{key}.entry"
    compiled = cache.load(key)
    if compiled is not None and set(functions) <= compiled.programs.keys():
        debug.note(f"BPF program from the cache, no compiler ({entry})")
        return compiled
    compiled = compile_program(path, source.cflags, functions)
    debug.note(f"BPF program compiled by BCC (cache: {entry})")
    cache.store(key, compiled)
    return compiled

