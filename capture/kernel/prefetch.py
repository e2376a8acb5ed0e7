"""A repeated capture's kernel work, begun before the command line is even parsed.

Of a warm start, the imports before click has parsed anything take ~55 ms and the verifier
~45 ms, one after the other. So a live capture leaves a record of what it loaded, per command
line (argv, working directory, user): the compiled program's cache key, the spliced filter's
instructions, the programs, and the hooks (interface name, ifindex, tcx attach type). The next
start with that command line reads it first thing (capture/cli/launch.py), links a placeholder
to the hooks (capture/kernel/tcx.py: in its own thread) and, in a thread, makes the maps and
loads the programs (the verifier runs while click and the session import). The session then
computes everything as it always does and takes the prefetched objects only if they are exactly
what it would load: the same cache key, the same filter instructions byte for byte, the same
hooks in the same network namespace. Anything else is closed and loaded as usual, so a record
can make a start faster, never different.

A record also keeps the CaptureConfig click and the CLI's checks made of the command line, with
the stamps of the files that went into it besides argv (remember_config()); while none of them
changed, the next start takes the config from the record and never imports click
(recorded_config(), capture/cli/launch.py). And it keeps where BCC's version was found, with
the stamps that say it still is (capture/kernel/cache.py's bcc_version(), for the cache key),
and libpcap's compiles of the filter with the stamps of the library (capture/filter/libpcap.py).

Records live in the program cache directory (`start-<sha256>.rec`), under its ownership rules
(capture/kernel/cache.py), the newest MAX_RECORDS of them. EBCAP_NO_CACHE=1 disables them too.
They are marshal's, as the cache's entries: json's import (its regular expressions, ~3 ms) was
on the main thread a warm start waits for.
"""

from __future__ import annotations

import marshal
import os
import threading
from _socket import if_nametoindex     # socket.py's import costs ~4 ms: its enums

try:        # as capture/kernel/cache.py: hashlib would load OpenSSL
    from _sha256 import sha256
except ImportError:
    from hashlib import sha256

FORMAT_VERSION = 4     # 2: the filters as {stub: instructions}; 3: the parsed command line;
                       # 4: marshal, not JSON
MAX_RECORDS = 64
_PREFIX, _SUFFIX = "start-", ".rec"


class _State:
    def __init__(self):
        self.hint: str | None = None        # this command line's record name; None: no start()
        self.record: dict | None = None     # what the record said
        self.loaded = None                  # LoadedProgram, its programs loaded by `thread`
        self.links = None                   # tcx.EarlyLinks to the recorded hooks (start())
        self.ready = threading.Event()      # set once `loaded` is made (or not)
        self.thread: threading.Thread | None = None
        self.pending: dict | None = None    # the record save() is to write
        self.cli: dict | None = None        # the parsed command line (remember_config())


_state = _State()


def _netns() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def _cache():
    from ebcap.capture.kernel.cache import ProgramCache
    cache = ProgramCache.default()
    return cache if cache is not None and cache.refusal() is None else None


def start(argv: list[str]) -> None:
    """Read this command line's record, if any, and begin its work: the links at once, the
    programs in a thread. Never fails: whatever goes wrong here leaves the session to do
    everything itself."""
    try:
        digest = sha256("\0".join([f"ebcap start {FORMAT_VERSION}", os.getcwd(),
                                   str(os.geteuid()), *argv]).encode())
        _state.hint = digest.hexdigest()
        from ebcap.capture.kernel.cache import program_cache_dir
        directory = program_cache_dir()
        name = f"{_PREFIX}{_state.hint}{_SUFFIX}"
        if directory is None or not os.path.exists(os.path.join(directory, name)):
            return          # the common case for a new command line: nothing more imported
        cache = _cache()
        record = cache.read_private(name) if cache else None
        if record is None:
            return
        _state.record = marshal.loads(record)
        if not isinstance(_state.record, dict) or \
                _state.record.get("format") != FORMAT_VERSION:
            _state.record = None
            return
        from ebcap.capture.kernel.cache import use_bcc_memo
        use_bcc_memo(_state.record.get("bcc"))      # BCC's version for the cache key, if unchanged
    except Exception:
        _state.record = None
        return
    # The links before anything else: each costs the kernel an RCU grace period (~6-8 ms here,
    # tens of ms on a busy machine) during which no Python runs, so the sooner they begin, the
    # sooner they are ready; begun from the thread below they came ~15 ms later (the thread's
    # own imports and the program's cache entry came first, the main thread importing meanwhile).
    try:
        from ebcap.capture.kernel import tcx
        if _same_interfaces(_state.record) and tcx.available():
            _state.links = tcx.EarlyLinks([(int(index), int(kind))
                                           for _name, index, kind in _state.record["hooks"]])
    except Exception:
        _state.links = None
    # The thread's imports here, in this thread. The thread makes no dataclass (the compiled
    # program and map specs are named tuples): one made there while the main thread was
    # importing typing (click's import) read the half-made module from sys.modules and failed,
    # as dataclasses looks typing up there, not through the import lock.
    try:
        from ebcap.capture.kernel.loader import LoadedProgram
    except Exception:
        if _state.links is not None:
            _state.links.close()
        _state.links = _state.record = None
        return
    _state.thread = threading.Thread(target=_work, args=(cache, _state.record, LoadedProgram),
                                     name="ebcap-prefetch", daemon=True)
    _state.thread.start()
    try:        # after the work has begun: its ctypes structures take a while
        from ebcap.capture.filter.libpcap import use_compiled
        use_compiled(_state.record.get("pcap"))     # the classic BPF, if libpcap is unchanged
    except Exception:
        pass


def _work(cache, record: dict, LoadedProgram) -> None:
    loaded = None
    try:
        compiled = cache.load(str(record["program"]))
        names = [str(name) for name in record["programs"]]
        if compiled is None or not set(names) <= compiled.programs.keys():
            return
        loaded = LoadedProgram(compiled, {int(stub): bytes.fromhex(insns)
                                           for stub, insns in record["filter"].items()})
        loaded.load_in_background(names)    # the verifier, while the main thread imports
        _state.loaded = loaded
    except Exception:
        if loaded is not None:
            loaded.close()
        _state.loaded = None
    finally:
        _state.ready.set()


def _same_interfaces(record: dict) -> bool:
    """Whether the record's hooks are on interfaces that still have those names and indexes,
    in the network namespace the record was made in."""
    try:
        return bool(record["hooks"]) and record.get("netns") == _netns() and all(
            if_nametoindex(str(name)) == int(index) for name, index, _kind in record["hooks"])
    except (OSError, TypeError, ValueError):
        return False


def take_program(key: str | None, filter_insns: dict[int, bytes]):
    """The prefetched LoadedProgram if it is the program `key` with exactly this filter (its
    programs may still be verifying: it waits for them when used), else None."""
    if _state.thread is None or _state.record is None:
        return None
    _state.ready.wait()
    loaded, _state.loaded = _state.loaded, None
    if loaded is None:
        return None
    if key != _state.record.get("program") or _encoded(filter_insns) != _state.record["filter"]:
        loaded.close()
        return None
    return loaded


def take_links(hooks: list[tuple[int, int]]):
    """The prefetched placeholder links if they are for exactly these hooks, in this network
    namespace; else None (and they are closed)."""
    if _state.thread is None:
        return None
    links, _state.links = _state.links, None     # made by start(), in this thread
    if links is None:
        return None
    if _state.record is None or _state.record.get("netns") != _netns() or \
            [(index, kind) for _name, index, kind in _state.record["hooks"]] != list(hooks):
        links.close()
        return None
    return links


def remember_config(config, inputs: list[str]) -> None:
    """The CaptureConfig click and build_config() made of this command line, and the files that
    went into it besides argv (the CLI's and click's modules, the -F file): remember() puts both
    in the record, and the next start of the command line takes the config from there instead
    of importing click (recorded_config()). Only configs of plain values are kept (to_record())."""
    if _state.hint is None:
        return
    values = config.to_record()
    try:
        stamps = [_stamp(path) for path in inputs]
    except OSError:
        return
    _state.cli = None if values is None else {"config": values, "inputs": stamps}


def recorded_config():
    """The CaptureConfig recorded for this command line (remember_config()) if none of the
    files it was made from changed since, else None. Never fails."""
    record = _state.record
    if record is None or not record.get("cli"):
        return None
    try:
        cli = record["cli"]
        if any(_stamp(str(stamp[0])) != stamp for stamp in cli["inputs"]):
            return None
        from ebcap.capture.config import CaptureConfig
        config = CaptureConfig.from_record(cli["config"])
    except Exception:
        return None
    _state.cli = cli                # what remember() records again: the record stays as it is
    return config


def _stamp(path: str) -> list:
    """What says a file is unchanged: [path, mtime (ns), size, inode]."""
    st = os.stat(path)
    return [path, st.st_mtime_ns, st.st_size, st.st_ino]


def remember(key: str | None, filter_insns: dict[int, bytes], programs: list[str],
             hooks: list[tuple[str, int, int]]) -> None:
    """What a start loaded (the compiled program's cache key, the filter spliced in, the
    programs loaded, the (interface name, ifindex, tcx attach type) hooks): save() writes it
    down for the next start of this command line."""
    if _state.hint is None or key is None:
        return
    from ebcap.capture.filter.libpcap import compiled
    from ebcap.capture.kernel.cache import bcc_memo
    record = {"format": FORMAT_VERSION, "program": key, "filter": _encoded(filter_insns),
              "programs": sorted(programs), "hooks": [list(h) for h in hooks],
              "netns": _netns(), "cli": _state.cli, "bcc": bcc_memo(), "pcap": compiled()}
    _state.pending = None if record == _state.record else record


def save() -> None:
    """Write what remember() was told, once the capture is listening (off the critical path).
    Fails soft."""
    record, _state.pending = _state.pending, None
    if record is None:
        return
    try:
        cache = _cache()
        if cache is not None:
            cache.write_private(f"{_PREFIX}{_state.hint}{_SUFFIX}", marshal.dumps(record),
                                keep=(_PREFIX, _SUFFIX, MAX_RECORDS))
    except Exception:
        pass


def _encoded(filters: dict[int, bytes]) -> dict[str, str]:
    """The spliced filters as the record holds them ({stub: hex})."""
    return {str(stub): insns.hex() for stub, insns in sorted(filters.items())}
