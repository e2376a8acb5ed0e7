"""What a warm start does and does not do: a cached `-w` capture imports neither the printer,
the reader, the compiler child's tools nor OpenSSL, the same command line again not even click,
and the tcx links made while the programs verify (capture/kernel/tcx.py's EarlyLinks) are gone
when a program is refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.processes import Capturer

pytestmark = pytest.mark.kernel

LAUNCH = "import sys; from ebcap.capture.cli.launch import main; sys.argv[0] = 'ebcap'; main()"

# Modules a cached `-w` start has no use for (README "Performance", benchmarks/startup.py):
# the printer and the file reader, BCC's child's tools (tempfile, shutil, subprocess), OpenSSL
# (hashlib), the clsact fallback, and tracebacks (only with --debug); and, the command line
# being the same as before, click and the CLI's parsing (its config comes from the record,
# capture/kernel/prefetch.py), with the translations click looks up (gettext, locale); and
# dataclasses (its import brings inspect, ast and tokenize) and platform; typing (the records are
# collections' named tuples), socket.py and signal.py (their enums: _socket and _signal do),
# json (records and cache entries are marshal's), resource, and what only -i any or --owners
# use.
NOT_ON_THE_WARM_PATH = ("ebcap.dissectors", "ebcap.capture.pcapng.reader",
                        "ebcap.capture.session.offline", "ebcap.capture.kernel.clsact",
                        "bcc", "hashlib", "_hashlib", "tempfile", "shutil", "subprocess",
                        "traceback", "scapy", "click", "ebcap.capture.cli.main",
                        "ebcap.capture.cli.options", "gettext", "locale", "dataclasses",
                        "inspect", "platform", "typing", "socket", "signal", "json",
                        "resource", "ebcap.capture.kernel.packet_socket",
                        "ebcap.capture.kernel.owners_seed")
# What a warm start's prefetch imports before its links and verifier begin (the last of them,
# loader) comes before these, which then import while the verifier runs: nothing on the way,
# site's .pth files included, needs them.
AFTER_THE_PREFETCH = ("pathlib", "re", "enum")


def _imported(stderr: str) -> list[str]:
    """The modules `python -X importtime` reported, in the order their imports ended."""
    return [line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and "|" in line]


def test_cached_write_start_imports_only_what_it_uses(testbed, tmp_path):
    tb = testbed
    env = dict(os.environ, EBCAP_CACHE_DIR=str(tmp_path / "cache"))
    argv = [sys.executable, "-X", "importtime", "-I", "-c", LAUNCH, "-i", tb.left.ifname,
            "-w", str(tmp_path / "out.pcapng"), "tcp port 443"]
    runs = []
    for _ in range(2):          # the first fills the cache (BCC compiles), the second is warm
        cap = Capturer(tb, tb.left, argv, env=env)
        status, stderr = cap.stop()
        assert status == 0, stderr
        runs.append(_imported(stderr))
    cold, warm = runs
    assert "ebcap.capture.session.live" in warm and "ebcap.capture.kernel.tcx" in warm
    assert "tempfile" in cold               # the compile happened, and importtime saw it
    found = {name for name in warm
             if any(name == bad or name.startswith(bad + ".") for bad in NOT_ON_THE_WARM_PATH)}
    assert found == set()
    loader = warm.index("ebcap.capture.kernel.loader")
    assert [name for name in AFTER_THE_PREFETCH if warm.index(name) < loader] == []


# Run inside the testbed's namespace: the capture, with the kernel refusing the egress program
# as a verifier would; afterwards the process lists the BPF links it still holds.
_REFUSED = r"""
import os, sys
from ebcap.capture.kernel import bpfsys, loader
real_load = loader.prog_load
def refuse_egress(insns, name, *args, **kw):
    if name == "ebcap_egress":
        raise bpfsys.ProgramRefused(13, "R1 invalid mem access 'scalar'\nprocessed 9 insns\n")
    return real_load(insns, name, *args, **kw)
loader.prog_load = refuse_egress
from ebcap.capture.cli.main import run
status = run(sys.argv[1:])
def is_link(fd):
    try:
        return "link_type:" in open(f"/proc/self/fdinfo/{fd}").read()
    except FileNotFoundError:       # listdir's own fd, closed since
        return False
links = [fd for fd in os.listdir("/proc/self/fd") if is_link(fd)]
print(f"status {status} links {len(links)}", flush=True)
"""


def test_refused_program_leaves_no_placeholder_link(testbed, tmp_path):
    tb = testbed
    env = dict(os.environ, EBCAP_CACHE_DIR=str(tmp_path / "cache"))
    proc = tb.run(tb.left, [sys.executable, "-I", "-c", _REFUSED, "-i", tb.left.ifname,
                            "-w", str(tmp_path / "out.pcapng"), "icmp"],
                  env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.stdout.strip() == "status 1 links 0", proc.stderr
    assert proc.stderr.splitlines() == [
        "ebcap: the kernel refused the BPF program: R1 invalid mem access 'scalar'"]
    assert not (tmp_path / "out.pcapng").exists()
    listing = tb.run(tb.left, ["bpftool", "net", "show", "dev", tb.left.ifname],
                     capture_output=True, text=True).stdout
    assert "ebcap" not in listing


PREFETCHED = "ebcap: debug: BPF program prefetched for this command line"
FROM_CACHE = "ebcap: debug: BPF program from the cache, no compiler"


def _icmp_capture(tb, tmp_path, env) -> tuple[str, int]:
    """`ebcap -F FILE` capturing 3 pings each way: (stderr, packets written)."""
    from tests.helpers.kernel_state import bpf_ids_held_by, tcx_links
    from tests.helpers.processes import ebcap, read_packets
    out = tmp_path / "out.pcapng"
    cap = ebcap(tb, tb.left, "--debug", "-i", tb.left.ifname, "-w", str(out),
                "-F", str(tmp_path / "filter"), env=env)
    # two programs, each linked once: a prefetch not taken left nothing loaded or linked
    programs, links = bpf_ids_held_by(cap.proc.pid)
    assert len(programs) == 2 and len(links) == 2
    assert {link["prog_id"] for link in tcx_links() if link["id"] in links} == programs
    tb.ping(tb.left, tb.right.ipv4, count=3)
    status, err = cap.stop()
    assert status == 0, err
    return err, len(read_packets(out))


def test_repeated_command_line_is_prefetched_and_a_changed_filter_is_not(testbed, tmp_path):
    """The same command line again: its program was loaded before the CLI parsed it
    (capture/kernel/prefetch.py) and captures the same. The same command line whose filter
    file changed: the prefetched program is not what the session wants, so it is closed and
    the session loads its own."""
    tb = testbed
    env = dict(os.environ, EBCAP_CACHE_DIR=str(tmp_path / "cache"))
    (tmp_path / "filter").write_text("icmp")
    err, first = _icmp_capture(tb, tmp_path, env)
    assert PREFETCHED not in err and first == 6
    err, second = _icmp_capture(tb, tmp_path, env)
    assert PREFETCHED in err and second == 6
    (tmp_path / "filter").write_text("icmp[icmptype] = icmp-echo")
    err, third = _icmp_capture(tb, tmp_path, env)
    assert PREFETCHED not in err and FROM_CACHE in err and third == 3
    err, fourth = _icmp_capture(tb, tmp_path, env)
    assert PREFETCHED in err and fourth == 3


def test_console_script_starts_without_site_and_a_warm_start_never_loads_it(testbed, tmp_path):
    """The console script `make setup` writes (capture/cli/script.py) runs Python with -S: a
    warm start, whose imports are the standard library's and ebcap's, never runs site (nor
    BCC's lookup for the cache key: its version comes from the record, stamps checked); a
    cold one, which needs BCC, loads site when the lookup misses and compiles as always. The
    warm ones take libpcap's compile from the record as well (capture/filter/libpcap.py)."""
    from ebcap.capture.cli import script
    (tmp_path / "bin").mkdir()     # as the venv's bin/: the script's folder, first on sys.path,
    launcher = tmp_path / "bin" / "ebcap"       # is one BCC's lookup stamps
    script.write(str(launcher))
    assert launcher.read_text().splitlines()[0] == f"#!{sys.executable} -S"
    tb = testbed
    env = dict(os.environ, EBCAP_CACHE_DIR=str(tmp_path / "cache"))
    # the script's own first line, with importtime: python -S -X importtime SCRIPT
    argv = [sys.executable, "-S", "-X", "importtime", str(launcher), "-i", tb.left.ifname,
            "-w", str(tmp_path / "out.pcapng"), "tcp port 443"]
    runs, libpcap_loaded = [], []
    for _ in range(3):          # cold (BCC compiles), warm (the record), warm again
        cap = Capturer(tb, tb.left, argv, env=env)
        with open(f"/proc/{cap.proc.pid}/maps") as maps:
            libpcap_loaded.append("/libpcap.so" in maps.read())
        status, stderr = cap.stop()
        assert status == 0, stderr
        runs.append(_imported(stderr))
    cold, warm, again = runs
    assert "site" in cold and "tempfile" in cold
    for imported in (warm, again):
        assert "ebcap.capture.session.live" in imported
        assert {"site", "sitecustomize", "importlib.util", "click"} & set(imported) == set()
    # the filter's classic BPF came from the record too: libpcap not even loaded
    assert libpcap_loaded == [True, False, False]
