"""`ebcap bench` plumbing on a tiny run: every figure present, no namespace or file left behind;
and its pure parts (file counting, statistics lines, tool templates) on data made here.

Timings are never asserted: the machine is shared and the run is far too short to mean anything.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import dpkt
import pytest
from click.testing import CliRunner

from ebcap.capture.bench.cli import bench
from ebcap.capture.bench.measure import CpuGroup, count_capture_file, parse_exit_stats
from ebcap.capture.bench.runner import FIGURES
from ebcap.capture.bench.scenarios import all_scenarios, parse_scenario, parse_tool
from ebcap.capture.bench.traffic import MAIN_SPORT, TICKER_SPORT

SCENARIOS = ("egress all 64B", "ingress 1% 1400B")
# The figures only a capture has: null for the no-capture baseline.
CAPTURE_ONLY = {"cpu_capture_s", "cpu_capture_per_mpkt", "cpu_exit_s", "captured", "received_by_filter",
                "dropped_by_kernel", "packets_in_file", "missing_in_file", "file_bytes",
                "bytes_per_packet", "ready_s", "first_packet_s"}


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, text=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    for tool in ("trafgen", "tcpdump"):
        if not shutil.which(tool):
            pytest.skip(f"needs {tool}")
    tmp = tmp_path_factory.mktemp("bench")
    files = tmp / "files"
    files.mkdir()
    args = ["--duration", "0.3", "--rounds", "1", "--json", str(tmp / "out.json"),
            "--dir", str(files), "--tool", "tcpdump -s 96",
            # a tool that dies at once: its figures must still all be there, as nulls
            "--tool", "broken=false {iface} {file} {filter}"]
    for name in SCENARIOS:
        args += ["--scenario", name]
    if importlib.util.find_spec("matplotlib"):
        args += ["--plot", str(tmp / "out.png")]
    result = CliRunner().invoke(bench, args, catch_exceptions=False)
    return result, tmp, files


@pytest.mark.kernel
def test_exits_cleanly_and_prints_a_table(tiny_run):
    result, _, _ = tiny_run
    assert result.exit_code == 0, result.output
    for name in SCENARIOS:
        assert name in result.output
    assert "tcpdump -s 96" in result.output


@pytest.mark.kernel
def test_json_has_every_figure_for_every_scenario_and_tool(tiny_run):
    _, tmp, _ = tiny_run
    doc = json.loads((tmp / "out.json").read_text())
    assert set(doc["figures"]) == set(FIGURES)
    assert set(doc["scenarios"]) == set(SCENARIOS)
    for name, scenario in doc["scenarios"].items():
        assert set(scenario["tools"]) == {"none", "tcpdump -s 96", "broken"}, name
        for tool, figures in scenario["tools"].items():
            assert set(figures) == set(FIGURES), (name, tool)

        baseline = scenario["tools"]["none"]
        assert baseline["error"] is None
        assert baseline["rate_ratio"] == 1.0
        assert all(baseline[k] is None for k in CAPTURE_ONLY)
        assert baseline["packets_sent"] > 0

        tcpdump = scenario["tools"]["tcpdump -s 96"]
        assert tcpdump["error"] is None, tcpdump["error"]
        missing = [k for k, v in tcpdump.items() if v is None and k != "error"]
        assert not missing, (name, missing)
        assert tcpdump["packets_in_file"] <= tcpdump["expected_in_file"]

        broken = scenario["tools"]["broken"]
        assert broken["error"] and "exited" in broken["error"]


@pytest.mark.kernel
def test_chart_is_a_png(tiny_run):
    _, tmp, _ = tiny_run
    if not importlib.util.find_spec("matplotlib"):
        pytest.skip("matplotlib not installed")
    assert (tmp / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.kernel
def test_leaves_no_namespace_and_no_file(tiny_run):
    _, _, files = tiny_run
    # Only this process's testbeds: other tests may run their own at the same time.
    assert not [ns for ns in _netns() if ns.startswith(f"ebcap-bench-{os.getpid()}-")]
    assert list(files.iterdir()) == []
    groups = [os.path.join(root, name) for root in _CGROUP_ROOTS if os.path.isdir(root)
              for name in os.listdir(root) if name == f"ebcap-bench-{os.getpid()}"]
    assert groups == []


_CGROUP_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")


@pytest.mark.kernel
def test_cpu_group_counts_what_the_process_started_and_its_exit(tmp_path):
    """The bench's clock for a tool: CPU burnt by a child the process reaped counts (wait4's
    rusage holds it, the process's own schedstat does not), and the group goes away after."""
    group = CpuGroup.create(f"ebcap-test-{os.getpid()}")
    if group is None:
        pytest.skip("no writable cgroup v2 on this machine")
    try:
        burn = "import time; t = time.process_time(); exec('while time.process_time() - t < 0.1: pass')"
        proc = subprocess.Popen([sys.executable, "-I", "-c",
                                 "import subprocess, sys, time; time.sleep(0.2); "
                                 f"subprocess.run([sys.executable, '-I', '-c', {burn!r}])"])
        assert group.add(proc.pid)
        before = group.cpu_seconds()
        proc.wait()
        assert group.cpu_seconds() - before >= 0.1
    finally:
        group.remove()
    assert not os.path.exists(group.path)


# --- the pure parts, on files and text made here --------------------------------------------

def _frame(sport: int) -> bytes:
    return (b"\x02" * 12 + b"\x08\x00"
            + bytes([0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2])
            + sport.to_bytes(2, "big") + (9984).to_bytes(2, "big") + b"\x00\x1e\x00\x00"
            + bytes(22))


def test_exit_statistics_are_parsed_singular_and_plural():
    text = ("tcpdump: listening on veth-l, link-type EN10MB (Ethernet), snapshot length 96 bytes\n"
            "1 packet captured\n12 packets received by filter\n0 packets dropped by kernel\n")
    assert parse_exit_stats(text) == {"captured": 1, "received_by_filter": 12,
                                      "dropped_by_kernel": 0}
    assert parse_exit_stats("") == dict.fromkeys(["captured", "received_by_filter",
                                                   "dropped_by_kernel"])


@pytest.mark.parametrize("fmt", ["pcap", "pcap-ns", "pcapng"])
def test_capture_files_are_counted_by_source_port(tmp_path, fmt):
    path = tmp_path / "f"
    frames = [(1764000000.25, _frame(TICKER_SPORT))] + [
        (1764000001.0 + i, _frame(MAIN_SPORT)) for i in range(3)]
    with open(path, "wb") as f:
        if fmt == "pcapng":
            writer = dpkt.pcapng.Writer(f, snaplen=96)
        else:
            writer = dpkt.pcap.Writer(f, snaplen=96, nano=fmt == "pcap-ns")
        for ts, frame in frames:
            writer.writepkt(frame, ts=ts)
    count = count_capture_file(str(path), MAIN_SPORT)
    assert (count.packets, count.packets_from_port) == (4, 3)
    assert count.first_ts == pytest.approx(1764000000.25, abs=1e-6)
    assert count.size == path.stat().st_size


def test_a_file_cut_short_counts_its_whole_records(tmp_path):
    path = tmp_path / "f.pcap"
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=96)
        for i in range(2):
            writer.writepkt(_frame(MAIN_SPORT), ts=1.0 + i)
    path.write_bytes(path.read_bytes()[:-5])
    assert count_capture_file(str(path), MAIN_SPORT).packets == 1


def test_tool_templates_keep_the_filter_one_argument():
    tool = parse_tool("x=tcpdump -i {iface} -w {file} -s 96 {filter}")
    assert tool.argv("veth-l", "/tmp/f", "udp dst port 9984") == [
        "tcpdump", "-i", "veth-l", "-w", "/tmp/f", "-s", "96", "udp dst port 9984"]
    assert parse_tool("tcpdump").name == "tcpdump"
    with pytest.raises(ValueError):
        parse_tool("no-such-tool")


def test_every_scenario_name_parses_back():
    for scenario in all_scenarios():
        assert parse_scenario(scenario.name) == scenario
