#!/usr/bin/env python3
"""Both CPUs producing into one ring buffer: ebcap_egress's ns per packet (kernel.bpf_stats, on
for the run only) with trafgen sending 64-byte UDP from one CPU and from two, on a throwaway veth
testbed. Run as root from the repository:

    .venv/bin/python -I benchmarks/ring_contention.py
"""
import json, os, signal, subprocess, sys, tempfile, time
from ebcap.capture.bench.testbed import Testbed, wait_listening
from ebcap.capture.bench import traffic
EBCAP = os.path.join(os.path.dirname(sys.executable), "ebcap")

def prog_stats():
    out = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout)
    return {p["name"]: (p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in out if p.get("name", "").startswith("ebcap_e")}

subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
try:
    with Testbed("mc") as tb:
        traffic.add_blackhole(tb)
        traffic.quiet_links(tb)
        flow = traffic.Flow.across(tb, 64)
        for cpus in (1, 2, 1, 2):
            out = tempfile.mktemp(suffix=".pcapng")
            cap = tb.popen(tb.left, [EBCAP, "-i", tb.left.ifname, "-Q", "out", "-w", out, "udp"], stderr=subprocess.PIPE)
            wait_listening(cap)
            fd, conf = tempfile.mkstemp(suffix=".trafgen")
            os.write(fd, traffic.trafgen_config(flow, traffic.MAIN_SPORT, True).encode()); os.close(fd)
            argv = traffic.trafgen_argv(flow.src.ifname, conf, 600000 * cpus)
            argv[argv.index("-P") + 1] = str(cpus)
            before = prog_stats()
            t = time.monotonic()
            subprocess.run(tb.argv(tb.left, argv), capture_output=True, timeout=60)
            dt = time.monotonic() - t
            after = prog_stats()
            ns, cnt = [a - b for a, b in zip(after["ebcap_egress"], before.get("ebcap_egress", (0, 0)))]
            cap.send_signal(signal.SIGINT); _o, e = cap.communicate()
            lost = [l for l in e.decode().splitlines() if "dropped" in l]
            print(f"{cpus} sending CPU(s): {cnt} packets in {dt:.2f} s, {ns / max(cnt, 1):.0f} ns per packet in ebcap_egress; {lost}")
            os.unlink(out); os.unlink(conf)
finally:
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"])
