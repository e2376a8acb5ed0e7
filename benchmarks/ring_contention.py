#!/usr/bin/env python3
"""Both CPUs producing into one ring buffer: ebcap_egress's ns per packet (kernel.bpf_stats, on
for the run only) with trafgen sending 64-byte UDP from one CPU and from two, on a throwaway veth
testbed. Run as root from the repository:

    .venv/bin/python -I benchmarks/ring_contention.py [ROUNDS] [--perf]

Each round runs, in turn, a matching capture (`udp`: every packet staged, one ring record per
many) and a refusing one (`udp dst port 7`: nothing reaches the ring), each with one and with
two sending CPUs. The refused path is the control: what two busy CPUs cost each other without
the ring (on a VM two vCPUs may share a core's caches, and the capture process's CPU is then a
sender's too). The ring's share of the growth is the matching growth less the refused growth.
--perf then samples both CPUs (`perf record -a -g -e cpu-clock`) during one more matching
two-CPU run, not counted in the figures, and prints the inclusive shares (callees included: the
lock inside the reservation) of the program and of the ring's output and reservation.
"""
import json, os, signal, statistics, subprocess, sys, tempfile, time
from ebcap.capture.bench.testbed import Testbed, wait_listening
from ebcap.capture.bench import traffic
EBCAP = os.path.join(os.path.dirname(sys.executable), "ebcap")
FILTERS = {"matching": "udp", "refused": "udp dst port 7"}
PACKETS_PER_CPU = 600000
RING_SYMBOLS = ("bpf_ringbuf_output", "__bpf_ringbuf_reserve", "bpf_ringbuf_commit")


def prog_stats():
    out = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout)
    return {p["name"]: (p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in out if p.get("name", "").startswith("ebcap_e")}


def perf_shares(data):
    """Inclusive share of all samples (both CPUs) of each ring symbol and of the program."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--children", "--sort", "sym",
                          "-q", "-g", "none"], capture_output=True, text=True).stdout
    shares = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].endswith("%") and (
                parts[-1] in RING_SYMBOLS or parts[-1].startswith("bpf_prog_")):
            # the JIT's symbol of a TC program is bpf_prog_TAG_NAME, its BTF func's name
            name = "program" if parts[-1].endswith("_ebcap_entry") else parts[-1]
            if name == "program" or name in RING_SYMBOLS:
                shares.setdefault(name, float(parts[0].rstrip("%")))
    return shares


def run(tb, flow, filt, cpus, perf_data=None):
    out = tempfile.mktemp(suffix=".pcapng")
    cap = tb.popen(tb.left, [EBCAP, "-i", tb.left.ifname, "-Q", "out", "-w", out, filt], stderr=subprocess.PIPE)
    wait_listening(cap)
    fd, conf = tempfile.mkstemp(suffix=".trafgen")
    os.write(fd, traffic.trafgen_config(flow, traffic.MAIN_SPORT, True).encode()); os.close(fd)
    argv = traffic.trafgen_argv(flow.src.ifname, conf, PACKETS_PER_CPU * cpus)
    argv[argv.index("-P") + 1] = str(cpus)
    perf = None
    if perf_data:
        perf = subprocess.Popen(["perf", "record", "-a", "-g", "-e", "cpu-clock", "-o", perf_data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    before = prog_stats()
    subprocess.run(tb.argv(tb.left, argv), capture_output=True, timeout=60)
    after = prog_stats()
    if perf:
        perf.send_signal(signal.SIGINT); perf.wait()
    ns, cnt = [a - b for a, b in zip(after["ebcap_egress"], before.get("ebcap_egress", (0, 0)))]
    cap.send_signal(signal.SIGINT); _o, e = cap.communicate()
    lost = [l for l in e.decode().splitlines() if "dropped" in l]
    os.unlink(out); os.unlink(conf)
    return ns / max(cnt, 1), cnt, lost


def main():
    rounds = int(next((a for a in sys.argv[1:] if a.isdigit()), "2"))
    want_perf = "--perf" in sys.argv
    results = {(f, c): [] for f in FILTERS for c in (1, 2)}
    shares = None
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        with Testbed("mc") as tb:
            traffic.add_blackhole(tb)
            traffic.quiet_links(tb)
            flow = traffic.Flow.across(tb, 64)
            for r in range(rounds):
                order = [(f, c) for f in FILTERS for c in (1, 2)]
                if r % 2:
                    order.reverse()
                for name, cpus in order:
                    ns, cnt, lost = run(tb, flow, FILTERS[name], cpus)
                    results[(name, cpus)].append(ns)
                    print(f"round {r + 1}: {name:8s} {cpus} sending CPU(s): {cnt} packets, "
                          f"{ns:.0f} ns per packet in ebcap_egress; {lost}", flush=True)
            if want_perf:
                data = tempfile.mktemp(suffix=".perf")
                run(tb, flow, FILTERS["matching"], 2, data)
                shares = perf_shares(data)
                os.unlink(data)
    finally:
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"])
    med = {k: statistics.median(v) for k, v in results.items()}
    for name in FILTERS:
        grow = [two - one for one, two in zip(results[(name, 1)], results[(name, 2)])]
        print(f"{name:8s}: 1 CPU {med[(name, 1)]:.0f} ns ({min(results[(name, 1)]):.0f}.."
              f"{max(results[(name, 1)]):.0f}), 2 CPUs {med[(name, 2)]:.0f} ns "
              f"({min(results[(name, 2)]):.0f}..{max(results[(name, 2)]):.0f}); 2 - 1 in each "
              f"round {statistics.median(grow):+.0f} ns ({min(grow):+.0f}..{max(grow):+.0f})")
    ring = [(m2 - m1) - (r2 - r1) for m1, m2, r1, r2 in zip(
        results[("matching", 1)], results[("matching", 2)], results[("refused", 1)],
        results[("refused", 2)])]
    print(f"matching growth less refused growth, per round: {statistics.median(ring):+.0f} ns "
          f"({min(ring):+.0f}..{max(ring):+.0f})")
    if shares is not None:
        prog = shares.pop("program", 0.0)
        print(f"perf, matching, 2 CPUs (not counted above): the program {prog:.2f} % of all "
              "samples; inclusive, of the program's: "
              + (", ".join(f"{s} {100 * p / prog:.1f} %" for s, p in sorted(shares.items()))
                 if prog else "program not sampled"))


main()
