"""The compiled-program cache for real: a capture with a filter used before starts without any
compiler and captures the same, damaged or untrusted entries are compiled again, and nothing is
left behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.paths import FIXTURES
from tests.helpers.processes import ebcap, in_time_order, read_packets, tcpdump, tshark
from tests.helpers.paths import EBCAP
from tests.helpers.kernel_state import maps_held_elsewhere

pytestmark = pytest.mark.kernel

CORPUS = FIXTURES / "corpus" / "ethernet.pcap"
COMPILED = "ebcap: debug: BPF program compiled by BCC"
FROM_CACHE = "ebcap: debug: BPF program from the cache, no compiler"
OUR_MAPS = {"events", "interfaces", "wall_clock"}


def ebcap_maps() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True).stdout
    return {m["id"] for m in json.loads(out or "[]") if m.get("name") in OUR_MAPS}


def capture_443(tb, tmp_path: Path, run: str, env: dict) -> tuple[str, list, list]:
    ours, theirs = tmp_path / f"{run}.pcapng", tmp_path / f"{run}-tcpdump.pcap"
    cap = ebcap(tb, tb.left, "--debug", "-i", tb.left.ifname, "-w", str(ours), "tcp port 443",
                env=env)
    ref = tcpdump(tb, tb.left, "-i", tb.left.ifname, "-s", "0", "-w", str(theirs),
                  "tcp port 443")
    tb.udp_packets(tb.left, tb.right.ipv4, 5353)
    tb.tcp_exchange(tb.right, tb.left, tb.right.ipv4, 443, rounds=2)
    tb.tcp_exchange(tb.right, tb.left, tb.right.ipv6, 443)
    tb.ping(tb.left, tb.right.ipv4)
    time.sleep(0.3)
    status, err = cap.stop()
    ref.stop()
    assert status == 0, err
    return err, in_time_order(read_packets(ours)), in_time_order(read_packets(theirs))


def test_second_capture_loads_the_cached_program_without_a_compiler(testbed, tmp_path):
    tb = testbed
    cache = tmp_path / "cache"
    env = dict(os.environ, EBCAP_CACHE_DIR=str(cache))
    maps_before = ebcap_maps()

    err, got, want = capture_443(tb, tmp_path, "cold", env)
    assert COMPILED in err and FROM_CACHE not in err
    # the compiled program, and the record of this command line (capture/kernel/prefetch.py)
    entries = sorted(cache.glob("*.entry"))
    assert len(entries) == 1 and len(list(cache.glob("start-*.rec"))) == 1
    assert oct(cache.stat().st_mode & 0o777) == "0o700"

    err, got2, want2 = capture_443(tb, tmp_path, "warm", env)
    assert FROM_CACHE in err and COMPILED not in err
    assert sorted(cache.glob("*.entry")) == entries

    for got_run, want_run in ((got, want), (got2, want2)):
        assert len(want_run) >= 20
        assert len(got_run) == len(want_run)
        for (_, caplen, wirelen, data, _), (_, _, ref_len, ref_data, _) in zip(got_run, want_run):
            assert wirelen == ref_len and data == ref_data[:caplen]
    assert len(got2) == len(got)
    for run in ("cold", "warm"):
        proc = tshark("-r", str(tmp_path / f"{run}.pcapng"), "-T", "fields",
                      "-e", "frame.packet_flags_direction", "-e", "tcp.port")
        assert proc.returncode == 0 and proc.warnings == []
        rows = [line.split("\t") for line in proc.stdout.splitlines()]
        assert len(rows) == len(got) and all("443" in r[1] for r in rows)
        assert {int(r[0], 16) for r in rows} == {1, 2}
    # programs and maps went with the process (maps other captures on the host use aside)
    assert ebcap_maps() - maps_held_elsewhere() <= maps_before


def run_offline(cache: Path, out: Path, *extra: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(EBCAP), "--debug", "-r", str(CORPUS), "-w", str(out), *extra,
                           "tcp"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, EBCAP_CACHE_DIR=str(cache), **env))


def test_corrupt_entry_is_compiled_again(tmp_path):
    cache = tmp_path / "cache"
    first = run_offline(cache, tmp_path / "a.pcapng")
    assert first.returncode == 0 and COMPILED in first.stderr, first.stderr
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:-100])
    again = run_offline(cache, tmp_path / "b.pcapng")
    assert again.returncode == 0 and COMPILED in again.stderr, again.stderr
    third = run_offline(cache, tmp_path / "c.pcapng")
    assert third.returncode == 0 and FROM_CACHE in third.stderr, third.stderr
    packets = [read_packets(tmp_path / f"{n}.pcapng") for n in "abc"]
    assert len(packets[0]) > 0 and packets[0] == packets[1] == packets[2]


def test_cache_writable_by_others_is_neither_read_nor_written(tmp_path):
    cache = tmp_path / "cache"
    assert run_offline(cache, tmp_path / "a.pcapng").returncode == 0
    (entry,) = cache.iterdir()
    os.chmod(cache, 0o770)
    proc = run_offline(cache, tmp_path / "b.pcapng", "-s", "100")  # another program
    assert proc.returncode == 0 and COMPILED in proc.stderr, proc.stderr
    assert list(cache.iterdir()) == [entry]
    proc = run_offline(cache, tmp_path / "c.pcapng")              # the cached one
    assert proc.returncode == 0 and FROM_CACHE not in proc.stderr


def test_no_cache_compiles_every_time(tmp_path):
    cache = tmp_path / "cache"
    for n in "ab":
        proc = run_offline(cache, tmp_path / f"{n}.pcapng", EBCAP_NO_CACHE="1")
        assert proc.returncode == 0 and COMPILED in proc.stderr, proc.stderr
    assert not cache.exists()


def test_without_debug_stderr_is_unchanged(tmp_path):
    proc = subprocess.run([str(EBCAP), "-r", str(CORPUS), "-w", str(tmp_path / "x.pcapng"),
                           "tcp"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, EBCAP_CACHE_DIR=str(tmp_path / "cache")))
    assert proc.returncode == 0
    assert "debug" not in proc.stderr
