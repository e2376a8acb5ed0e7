"""`ebcap bench` plumbing on a tiny run: every figure present for each kind of traffic, the
packet sizes each kind puts on the wire, no namespace or file left behind; and its pure parts
(file counting, statistics lines, tool templates, the order of a round, the summaries over
rounds, the socket sender on loopback) on data made here.

Timings are never asserted: the machine is shared and the run is far too short to mean anything.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import struct
import subprocess
import sys

import dpkt
import pytest
from click.testing import CliRunner

from ebcap.capture.bench import udpsend
from ebcap.capture.bench.cli import bench
from ebcap.capture.bench.measure import CpuGroup, Match, count_capture_file, parse_exit_stats
from ebcap.capture.bench.runner import FIGURES, SUMMARIES, compare_with_baseline, empty_result, \
    summarize
from ebcap.capture.bench.scenarios import (QUICK_SCENARIOS, all_scenarios, parse_scenario,
                                           parse_tool, quick_scenarios, round_order)
from ebcap.capture.bench.traffic import (DPORT_BASE, IPERF_PORT, MAIN_SPORT, MATCHES, TICKER_SPORT,
                                         UDPSEND, missing_program)

ROUNDS = 2
TOOLS = ("tcpdump -s 96", "ebcap")
# One scenario of each kind of traffic; the TCP stream's only where iperf3 is installed.
SCENARIOS = ("egress all 64B", "ingress 1% 64B socket", "egress all tcp")
# The figures only a capture has: null for the no-capture baseline.
CAPTURE_ONLY = {"cpu_startup_s", "cpu_capture_s", "cpu_capture_per_mpkt", "cpu_exit_s",
                "cpu_machine_added_per_mpkt", "captured", "received_by_filter",
                "dropped_by_kernel", "packets_in_file", "missing_in_file", "largest_packet",
                "file_bytes", "bytes_per_packet", "ready_s", "first_packet_s"}


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
    args = ["--duration", "0.3", "--rounds", str(ROUNDS), "--json", str(tmp / "out.json"),
            "--dir", str(files), *(a for tool in TOOLS for a in ("--tool", tool)),
            # a tool that dies at once: its figures must still all be there, as nulls
            "--tool", "broken=false {iface} {file} {filter}"]
    for name in SCENARIOS:
        args += ["--scenario", name]
    if importlib.util.find_spec("matplotlib"):
        args += ["--plot", str(tmp / "out.png")]
    result = CliRunner().invoke(bench, args, catch_exceptions=False)
    return result, tmp, files


@pytest.mark.kernel
def test_exits_cleanly(tiny_run):
    result, _, _ = tiny_run
    assert result.exit_code == 0, result.output


def _ran() -> tuple[str, ...]:
    """The scenarios the tiny run has figures for: the TCP stream's needs iperf3."""
    return tuple(n for n in SCENARIOS if not missing_program(parse_scenario(n).traffic))


@pytest.mark.kernel
def test_exits_cleanly_and_says_what_it_skipped(tiny_run):
    result, tmp, _ = tiny_run
    doc = json.loads((tmp / "out.json").read_text())
    skipped = {n for n in SCENARIOS if n not in _ran()}
    assert set(doc["meta"]["skipped"]) == skipped
    for name in skipped:
        assert "iperf3" in doc["meta"]["skipped"][name]
        assert f"skipping {name!r}" in result.output


@pytest.mark.kernel
def test_json_has_every_figure_for_every_scenario_tool_and_round(tiny_run):
    _, tmp, _ = tiny_run
    doc = json.loads((tmp / "out.json").read_text())
    assert set(doc["figures"]) == set(FIGURES)
    assert set(doc["meta"]["senders"]) == {"trafgen", "socket", "tcp"}
    assert set(doc["scenarios"]) == set(_ran())
    for name, scenario in doc["scenarios"].items():
        assert set(scenario["tools"]) == {"none", *TOOLS, "broken"}, name
        for tool, summary in scenario["tools"].items():
            assert set(summary) == {*SUMMARIES, "rounds"}, (name, tool)
            assert len(summary["rounds"]) == ROUNDS, (name, tool)
            for figures in [summary[s] for s in SUMMARIES] + summary["rounds"]:
                assert set(figures) == set(FIGURES), (name, tool)
            for key in FIGURES:
                low, mid, high = (summary[s][key] for s in ("min", "median", "max"))
                if isinstance(mid, (int, float)):
                    assert low <= mid <= high, (name, tool, key)

        for baseline in scenario["tools"]["none"]["rounds"]:
            assert baseline["error"] is None
            assert baseline["rate_ratio"] == 1.0
            assert all(baseline[k] is None for k in CAPTURE_ONLY)
            assert baseline["packets_sent"] > 0

        for tool in TOOLS:
            for figures in scenario["tools"][tool]["rounds"]:
                assert figures["error"] is None, (name, tool, figures["error"])
                missing = [k for k, v in figures.items() if v is None and k != "error"]
                assert not missing, (name, tool, missing)
                assert figures["packets_in_file"] <= figures["expected_in_file"]
                assert figures["cpu_startup_s"] > 0 and figures["cpu_exit_s"] > 0

        for broken in scenario["tools"]["broken"]["rounds"]:
            assert broken["error"] and "exited" in broken["error"]


@pytest.mark.kernel
def test_each_traffic_puts_its_own_packets_on_the_wire(tiny_run):
    """Both tools saw frames of exactly the scenario's size, and the TCP stream's GSO
    super-packets whole (as one packet each, longer than any frame)."""
    _, tmp, _ = tiny_run
    doc = json.loads((tmp / "out.json").read_text())
    for name, scenario in doc["scenarios"].items():
        for tool in TOOLS:
            largest = [r["largest_packet"] for r in scenario["tools"][tool]["rounds"]]
            if scenario["traffic"] == "tcp":
                assert all(size > 1514 for size in largest), (name, tool, largest)
            else:
                assert largest == [scenario["frame_len"]] * ROUNDS, (name, tool, largest)


@pytest.mark.kernel
def test_the_table_shows_every_scenario_and_tool(tiny_run):
    result, _, _ = tiny_run
    for name in (*_ran(), *TOOLS):
        assert name in result.output
    assert f"medians over {ROUNDS} round(s)" in result.output


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
    count = count_capture_file(str(path), Match(17, MAIN_SPORT))
    assert (count.packets, count.packets_matched) == (4, 3)
    assert count.largest_matched == len(_frame(MAIN_SPORT))
    assert count.first_ts == pytest.approx(1764000000.25, abs=1e-6)
    assert count.size == path.stat().st_size


def test_a_file_cut_short_counts_its_whole_records(tmp_path):
    path = tmp_path / "f.pcap"
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=96)
        for i in range(2):
            writer.writepkt(_frame(MAIN_SPORT), ts=1.0 + i)
    path.write_bytes(path.read_bytes()[:-5])
    assert count_capture_file(str(path), Match(17, MAIN_SPORT)).packets == 1


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


def _tcp_frame(sport: int, dport: int) -> bytes:
    return (b"\x02" * 12 + b"\x08\x00"
            + bytes([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2])
            + sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(16))


def test_the_tcp_stream_is_counted_by_destination_port_with_its_wire_length(tmp_path):
    """The TCP stream's packets are those to iperf3's port (data and control, not the ACKs
    back); a headers-only record still tells the super-packet's length on the wire."""
    path = tmp_path / "f.pcap"
    records = [((40000, IPERF_PORT), 65226), ((IPERF_PORT, 40000), 66),
               ((40001, IPERF_PORT), 1514)]
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 96, 1))
        for (sport, dport), wire_len in records:
            head = _tcp_frame(sport, dport)
            f.write(struct.pack("<IIII", 1, 0, len(head), wire_len) + head)
    count = count_capture_file(str(path), MATCHES["tcp"])
    assert (count.packets, count.packets_matched) == (3, 2)
    assert count.largest_matched == 65226


def test_a_round_puts_every_tool_in_every_place_in_turn():
    names = ["none", "a", "b", "c"]
    for scenario_index in range(3):
        orders = [round_order(names, r, scenario_index) for r in range(len(names))]
        assert all(sorted(order) == sorted(names) for order in orders)
        for place in range(len(names)):
            assert sorted(order[place] for order in orders) == sorted(names)
    # and within one round the scenarios do not all start with the same tool
    assert len({round_order(names, 0, i)[0] for i in range(len(names))}) == len(names)


def test_rounds_are_summed_up_as_median_min_and_max():
    rounds = [dict(empty_result(), packets_per_s=v, captured=c)
              for v, c in ((3.0, None), (1.0, 5), (2.0, 7))]
    rounds[1]["error"] = "RuntimeError: x"
    summary = summarize(rounds)
    assert [summary[s]["packets_per_s"] for s in ("median", "min", "max")] == [2.0, 1.0, 3.0]
    assert summary["median"]["captured"] == 6          # over the rounds that have it
    assert summary["median"]["ready_s"] is None
    assert summary["median"]["error"] == "RuntimeError: x"


def test_the_added_machine_cpu_is_against_the_same_rounds_baseline():
    baseline = dict(empty_result(), packets_per_s=100.0, bits_per_s=800.0,
                    cpu_machine_per_mpkt=2.0)
    capture = dict(empty_result(), packets_per_s=50.0, bits_per_s=400.0,
                   cpu_machine_per_mpkt=3.5)
    compare_with_baseline(capture, baseline)
    compare_with_baseline(baseline, baseline)
    assert (capture["rate_ratio"], capture["bit_rate_ratio"]) == (0.5, 0.5)
    assert capture["cpu_machine_added_per_mpkt"] == 1.5
    assert baseline["rate_ratio"] == 1.0 and baseline["cpu_machine_added_per_mpkt"] is None


def test_a_scenario_whose_program_is_missing_says_which_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))       # an empty directory: no program at all
    assert "iperf3" in missing_program("tcp") and "Debian package iperf3" in missing_program("tcp")
    assert "netsniff-ng" in missing_program("trafgen")
    assert missing_program("socket") is None        # this Python is all it needs


@pytest.mark.kernel
def test_without_iperf3_the_tcp_scenarios_are_skipped_and_said_so(monkeypatch):
    """Where only TCP scenarios were asked for and iperf3 is missing, nothing runs and the
    reason names the package; no testbed is built for it."""
    if os.geteuid() != 0 or not shutil.which("trafgen"):
        pytest.skip("needs root and trafgen")
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k:
                        None if name == "iperf3" else real_which(name, *a, **k))
    result = CliRunner().invoke(bench, ["--scenario", "egress all tcp", "--duration", "0.1"])
    assert result.exit_code != 0
    assert "skipping 'egress all tcp': needs iperf3" in result.output
    assert "Debian package iperf3" in result.output
    assert "no scenario left to run" in str(result.exception) + result.output


def test_quick_scenarios_hold_every_kind_of_traffic():
    assert len(QUICK_SCENARIOS) == len(set(QUICK_SCENARIOS))
    scenarios = quick_scenarios()
    assert {s.traffic for s in scenarios} == {"trafgen", "socket", "tcp"}
    assert {s.side for s in scenarios} == {"egress", "ingress"}
    assert {s.filter_name for s in scenarios} == {"all", "1%"}


def test_the_socket_sender_steps_the_port_like_trafgen():
    cycle = udpsend.destinations("198.18.1.2", DPORT_BASE, 100)
    assert cycle[0] == ("198.18.1.2", DPORT_BASE + 1) and cycle[99] == ("198.18.1.2", DPORT_BASE)
    assert sorted(port for _, port in cycle) == list(range(DPORT_BASE, DPORT_BASE + 100))


def test_the_socket_sender_counts_what_it_sent():
    """On loopback: every datagram it says it sent arrives, with the payload asked for, two
    cycles of ports; and it runs isolated, by path, from a directory that is not the project's."""
    listeners = []
    try:
        for port in range(DPORT_BASE, DPORT_BASE + 100):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            listeners.append(sock)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                pytest.skip(f"port {port} on loopback is taken")
            sock.setblocking(False)
        out = subprocess.run([sys.executable, "-I", str(UDPSEND), "127.0.0.1", "0", "127.0.0.1",
                              str(DPORT_BASE), "100", "22", "60", "200", "0"],
                             capture_output=True, text=True, timeout=30, cwd="/")
        assert out.returncode == 0, out.stderr
        assert int(out.stdout) == 200
        got = {}
        for sock in listeners:
            while True:
                try:
                    data = sock.recv(100)
                except BlockingIOError:
                    break
                assert len(data) == 22
                port = sock.getsockname()[1]
                got[port] = got.get(port, 0) + 1
        assert got == {port: 2 for port in range(DPORT_BASE, DPORT_BASE + 100)}
    finally:
        for sock in listeners:
            sock.close()


def test_wait_listening_returns_at_the_line_and_reports_an_early_exit():
    """benchmarks/*.py and the demo wait for a capture tool with this one helper."""
    from ebcap.capture.bench.testbed import wait_listening
    script = ("import sys, time; sys.stderr.write('warming\\n'); sys.stderr.flush(); "
              "time.sleep(0.1); sys.stderr.write('listening on x\\n'); sys.stderr.flush(); "
              "sys.stdin.read(); sys.stderr.write('after')")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert wait_listening(proc, timeout=10) == b"warming\nlistening on x\n"
    _out, rest = proc.communicate(b"", timeout=10)
    assert rest == b"after"             # nothing of it was left in a buffer
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('no such iface')"],
                            stderr=subprocess.PIPE)
    with pytest.raises(RuntimeError, match="ended before it listened: no such iface"):
        wait_listening(proc, timeout=10)
    proc.wait()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                            stderr=subprocess.PIPE)
    with pytest.raises(RuntimeError, match="did not start in 0.2 s"):
        wait_listening(proc, timeout=0.2)
    proc.kill()
    proc.wait()
