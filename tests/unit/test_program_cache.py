"""The compiled-program cache: its key, when it may be trusted, and that a damaged entry is only
a miss (capture/kernel/cache.py, capture/kernel/source.py)."""

from __future__ import annotations

import json
import marshal
import os

import pytest

from ebcap.capture.kernel import source as loader
from ebcap.capture.kernel import cache as progcache
from ebcap.capture.kernel.build import CompiledProgram
from ebcap.capture.kernel.bpfsys import BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_RINGBUF, MapSpec
from ebcap.capture.kernel.cache import ProgramCache, cache_key

PROGRAM = CompiledProgram(
    programs={"ebcap_ingress": bytes(range(24)), "ebcap_egress": b"\x95" + bytes(7)},
    maps={7: MapSpec("events", BPF_MAP_TYPE_RINGBUF, 0, 0, 1 << 20),
          8: MapSpec("interfaces", BPF_MAP_TYPE_PERCPU_HASH, 4, 32, 4096, flags=0)},
    log="a warning\n")


# ---------------------------------------------------------------------------- the cache key
def test_key_follows_text_release_bcc_and_format(monkeypatch):
    base = cache_key("program")
    assert cache_key("program") == base and len(base) == 64
    assert cache_key("program ") != base
    monkeypatch.setattr(progcache, "bcc_version", lambda: "0.0.1")
    assert cache_key("program") != base
    monkeypatch.undo()
    monkeypatch.setattr(progcache, "FORMAT_VERSION", progcache.FORMAT_VERSION + 1)
    assert cache_key("program") != base
    monkeypatch.undo()
    release = os.uname()
    monkeypatch.setattr(progcache.os, "uname",
                        lambda: os.uname_result((*release[:2], "0.0-other", *release[3:])))
    assert cache_key("program") != base


def test_program_text_holds_the_bpf_headers_and_the_kernel_headers_tree():
    text = loader.program_text("// the source\n", "/usr/src/linux-headers-x")
    for header in ("record.h", "filter_api.h"):
        assert (loader.SOURCE_DIR / header).read_text() in text
    assert "// the source\n" in text and "/usr/src/linux-headers-x" in text
    assert loader.program_text("// the source\n", "/other") != text


def test_bcc_version_is_read_without_importing_bcc():
    import sys
    had = "bcc" in sys.modules
    version = progcache.bcc_version()
    assert version != "unknown"
    assert ("bcc" in sys.modules) == had


# ---------------------------------------------------------------------------- the cache
@pytest.fixture
def cache(tmp_path) -> ProgramCache:
    return ProgramCache(tmp_path / "programs")


def entry(cache: ProgramCache, key: str):
    return cache.dir / f"{key}.entry"


def test_stored_program_comes_back(cache):
    cache.store("k1", PROGRAM)
    assert cache.load("k1") == PROGRAM
    assert cache.load("k2") is None
    assert oct(cache.dir.stat().st_mode & 0o777) == "0o700"
    assert oct(entry(cache, "k1").stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in cache.dir.iterdir()] == ["k1.entry"]     # no temp file left


@pytest.mark.parametrize("damage", [
    lambda data: b"",
    lambda data: data[:len(data) // 2],                     # cut short
    lambda data: data.replace(b"events", b"evenst"),        # digest no longer matches
    lambda data: b"not marshal" + data,
    lambda data: marshal.dumps((marshal.loads(data)[0], marshal.dumps([]))),   # digest differs
    lambda data: marshal.dumps(marshal.loads(data)[1]),                         # no header
])
def test_corrupt_entry_is_a_miss(cache, damage):
    cache.store("k1", PROGRAM)
    path = entry(cache, "k1")
    path.write_bytes(damage(path.read_bytes()))
    assert cache.load("k1") is None
    cache.store("k1", PROGRAM)                               # and is replaced by a good one
    assert cache.load("k1") == PROGRAM


def test_malformed_payload_with_a_good_digest_is_a_miss(cache):
    """A consistent file whose content is not a program (e.g. another version's layout)."""
    import hashlib
    payload = marshal.dumps({"programs": {"ebcap_ingress": "AAAA"}, "maps": []})
    header = {"format": progcache.FORMAT_VERSION, "key": "k1",
              "sha256": hashlib.sha256(payload).hexdigest()}
    cache.dir.mkdir(mode=0o700)
    entry(cache, "k1").write_bytes(marshal.dumps((header, payload)))
    os.chmod(entry(cache, "k1"), 0o600)
    assert cache.load("k1") is None                           # 3 bytes: not whole instructions


def test_entry_under_another_key_name_is_a_miss(cache):
    cache.store("k1", PROGRAM)
    os.rename(entry(cache, "k1"), entry(cache, "k2"))
    assert cache.load("k2") is None


@pytest.mark.parametrize("mode", [0o770, 0o702, 0o777])
def test_directory_writable_by_others_is_not_used(cache, mode):
    cache.store("k1", PROGRAM)
    os.chmod(cache.dir, mode)
    assert "not owned by uid" in cache.refusal()
    assert cache.load("k1") is None
    cache.store("k2", PROGRAM)
    assert not entry(cache, "k2").exists()


def test_entry_writable_by_others_is_not_used(cache):
    cache.store("k1", PROGRAM)
    os.chmod(entry(cache, "k1"), 0o666)
    assert cache.load("k1") is None


def test_entry_through_a_symlink_is_not_used(cache, tmp_path):
    cache.store("k1", PROGRAM)
    os.rename(entry(cache, "k1"), tmp_path / "elsewhere.entry")
    os.symlink(tmp_path / "elsewhere.entry", entry(cache, "k1"))
    assert cache.load("k1") is None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_directory_or_entry_of_another_user_is_not_used(cache):
    cache.store("k1", PROGRAM)
    os.chown(entry(cache, "k1"), 65534, 65534)
    assert cache.load("k1") is None
    os.chown(entry(cache, "k1"), 0, 0)
    os.chown(cache.dir, 65534, 65534)
    assert cache.refusal() is not None and cache.load("k1") is None


def test_parent_writable_by_others_is_not_used(tmp_path):
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chmod(parent, 0o777)
    cache = ProgramCache(parent / "programs")
    assert "writable by other users" in cache.refusal()
    cache.store("k1", PROGRAM)
    assert cache.load("k1") is None
    os.chmod(parent, 0o1777)                                  # sticky, as /tmp: fine
    assert cache.refusal() is None


def test_unwritable_cache_is_skipped_silently(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = ProgramCache(blocker / "programs")                # cannot be made
    cache.store("k1", PROGRAM)
    assert cache.load("k1") is None


def test_oldest_entries_are_pruned(cache, monkeypatch):
    monkeypatch.setattr(progcache, "MAX_ENTRIES", 3)
    for n in range(5):
        cache.store(f"k{n}", PROGRAM)
        os.utime(entry(cache, f"k{n}"), (1000 + n, 1000 + n))
    cache.store("k5", PROGRAM)
    assert sorted(p.name for p in cache.entries()) == ["k3.entry", "k4.entry", "k5.entry"]


def test_a_hit_counts_as_recent_use(cache, monkeypatch):
    monkeypatch.setattr(progcache, "MAX_ENTRIES", 2)
    for n in range(2):
        cache.store(f"k{n}", PROGRAM)
        os.utime(entry(cache, f"k{n}"), (1000 + n, 1000 + n))
    assert cache.load("k0") == PROGRAM                        # k0 is now the newest
    cache.store("k2", PROGRAM)
    assert sorted(p.name for p in cache.entries()) == ["k0.entry", "k2.entry"]


def test_environment_chooses_or_disables_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EBCAP_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("EBCAP_NO_CACHE", raising=False)
    assert ProgramCache.default().dir == tmp_path / "c"
    monkeypatch.setenv("EBCAP_NO_CACHE", "1")
    assert ProgramCache.default() is None
    monkeypatch.setenv("EBCAP_NO_CACHE", "0")
    assert ProgramCache.default() is not None


def test_compiled_program_survives_json():
    data = json.loads(json.dumps(PROGRAM.to_json()))
    assert CompiledProgram.from_json(data) == PROGRAM


# ---------------------------------------------------------------------------- start records
def test_private_files_keep_the_newest_and_are_trusted_like_entries(cache):
    """The command-line records of capture/kernel/prefetch.py: written whole, the newest few
    kept (entries untouched), refused when someone else could have written them."""
    cache.store("k1", PROGRAM)
    for n in range(4):
        cache.write_private(f"start-{n}.rec", b"record %d" % n, keep=("start-", ".rec", 2))
        os.utime(cache.dir / f"start-{n}.rec", (n + 1, n + 1))     # the order they were made in
    cache.write_private("start-4.rec", b"record 4", keep=("start-", ".rec", 2))
    assert sorted(p.name for p in cache.dir.iterdir()) == ["k1.entry", "start-3.rec",
                                                           "start-4.rec"]
    assert cache.read_private("start-4.rec") == b"record 4"
    assert cache.read_private("start-0.rec") is None
    assert cache.entries() == [entry(cache, "k1")]          # records are not entries
    os.chmod(cache.dir / "start-4.rec", 0o620)
    assert cache.read_private("start-4.rec") is None
