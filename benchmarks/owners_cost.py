#!/usr/bin/env python3
"""What --owners costs, on a throwaway veth testbed. Run as root from the repository:

    .venv/bin/python -I benchmarks/owners_cost.py [ROUNDS]

Per packet: ebcap_egress's (and ebcap_ingress's, on the receiving side) run_time_ns / run_cnt (kernel.bpf_stats, on for the run only) while
one UDP socket, made after ebcap started, sends 64-byte datagrams, without and with --owners
(and with --pid of the sender). Per socket: a loop of socket() + connect() + close() (UDP:
sock_create and connect4 hooks; TCP to a listener in the other namespace: the handshake too),
with no ebcap running and with `ebcap --owners`; the difference is what the hooks add.
Rounds alternate the modes, and each figure is the median over rounds.

Seeding (sockets made before ebcap started, capture/kernel/owners_seed.py): one process holding
SEED_SOCKETS UDP sockets (1,000 and 10,000 by default), then `ebcap --owners --debug`, whose
note says how many sockets it seeded and in how long; per 1,000 sockets is the difference from
a start with none held, over the sockets held. ONLY=seed measures that alone, ONLY=packet the
per-packet figures alone (--comm and --cgroup / matching every packet among them)."""
import json, os, re, signal, statistics, subprocess, sys, time
from ebcap.capture.bench.testbed import Testbed, wait_listening

EBCAP = os.path.join(os.path.dirname(sys.executable), "ebcap")
PACKETS = int(os.environ.get("PACKETS", 200_000))
SOCKETS = int(os.environ.get("SOCKETS", 20_000))
SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(s.getsockname(), flush=True); sys.stdin.readline()
payload, addr = b"x" * 22, (sys.argv[1], 9)
for _ in range(int(sys.argv[2])):
    s.sendto(payload, addr)
print("done", flush=True); sys.stdin.readline()
"""
CONNECTS = """
import socket, struct, sys, time
kind = socket.SOCK_DGRAM if sys.argv[3] == "udp" else socket.SOCK_STREAM
addr, n = (sys.argv[1], int(sys.argv[2])), int(sys.argv[4])
t = time.perf_counter()
for _ in range(n):
    s = socket.socket(socket.AF_INET, kind)
    if kind == socket.SOCK_STREAM:      # RST at close: no TIME_WAIT, no exhausted ports
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.connect(addr)
    s.close()
print((time.perf_counter() - t) / n * 1e9)
"""
HOLDER = """
import resource, socket, sys
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
print("ready", flush=True); sys.stdin.readline()
"""
SEED_SOCKETS = [int(n) for n in os.environ.get("SEED_SOCKETS", "1000,10000").split(",")]
RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 9))
while True:
    s.recv(100)
"""
LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7777)); s.listen(4096); print("ready", flush=True)
while True:
    s.accept()[0].close()
"""


def egress_stats(pid, names=("ebcap_egress",)):
    """(run_time_ns, run_cnt) summed over the programs of `pid` with these names."""
    ids = set()
    for entry in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = open(f"/proc/{pid}/fdinfo/{entry}").read()
        except OSError:
            continue
        ids |= {int(line.split()[1]) for line in text.splitlines() if line.startswith("prog_id:")}
    total = [0, 0]
    for pid_ in ids:
        info = json.loads(subprocess.run(["bpftool", "-j", "prog", "show", "id", str(pid_)],
                                         capture_output=True, text=True).stdout)
        if info.get("name") in names:
            total[0] += info.get("run_time_ns", 0)
            total[1] += info.get("run_cnt", 0)
    return tuple(total)


def start(tb, *flags, host=None, direction="out"):
    host = host or tb.left
    cap = subprocess.Popen([EBCAP, "--netns", host.netns, "-i", host.ifname, "-Q", direction,
                            "-w", "/dev/null", *flags], stderr=subprocess.PIPE)
    wait_listening(cap)
    return cap


def stop(cap):
    cap.send_signal(signal.SIGINT)
    cap.communicate(timeout=30)


def per_packet(tb, mode):
    """Egress of the sender's packets on veth-l; mode "in ..." measures their ingress on veth-r,
    where a UDP socket bound to the port receives them (the lookup finds it)."""
    sender = tb.popen(tb.left, [sys.executable, "-I", "-c", SENDER, tb.right.ipv4, str(PACKETS)],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sender.stdout.readline()
    comm = open(f"/proc/{sender.pid}/comm").read().strip()
    flags = {"plain": [], "owners": ["--owners"], "pid": ["--pid", str(sender.pid)],
             "comm": ["--comm", comm], "cgroup": ["--cgroup", "/"],
             "in plain": [], "in owners": ["--owners"]}[mode]
    if mode.startswith("in"):
        cap = start(tb, *flags, host=tb.right, direction="in")
        names = ("ebcap_ingress",)
    else:
        cap = start(tb, *flags)
        names = ("ebcap_egress",)
    before = egress_stats(cap.pid, names)
    sender.stdin.write("go\n"); sender.stdin.flush(); sender.stdout.readline()
    after = egress_stats(cap.pid, names)
    sender.stdin.write("end\n"); sender.stdin.flush(); sender.wait()
    stop(cap)
    ns, cnt = after[0] - before[0], after[1] - before[1]
    return ns / max(cnt, 1)


HOOKS = ("ebcap_sock_crea", "ebcap_sock_addr")       # the kernel keeps 15 characters of a name


def per_socket(tb, kind, with_ebcap, hooks):
    """ns per socket+connect+close; with ebcap, the hooks' (ns, runs) go to `hooks`."""
    cap = start(tb, "--owners") if with_ebcap else None
    before = egress_stats(cap.pid, HOOKS) if cap else None
    port = "9" if kind == "udp" else "7777"
    out = tb.run(tb.left, [sys.executable, "-I", "-c", CONNECTS, tb.right.ipv4, port, kind,
                           str(SOCKETS)], capture_output=True, text=True).stdout
    if cap:
        after = egress_stats(cap.pid, HOOKS)
        hooks.append(((after[0] - before[0]) / SOCKETS, (after[1] - before[1]) / SOCKETS))
        stop(cap)
    return float(out)


def seeding(tb, n):
    """(sockets seeded, ms) of one ebcap start while a process holds `n` sockets."""
    holder = None
    if n:
        holder = tb.popen(tb.left, [sys.executable, "-I", "-c", HOLDER, str(n)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "ready"
    cap = subprocess.Popen([EBCAP, "--netns", tb.left.netns, "-i", tb.left.ifname, "-w",
                            "/dev/null", "--owners", "--debug"], stderr=subprocess.PIPE)
    err = wait_listening(cap)
    stop(cap)
    if holder:
        holder.stdin.write("end\n"); holder.stdin.flush(); holder.wait()
    found = re.search(rb"(\d+) existing sockets seeded in ([0-9.]+) ms", err)
    return int(found.group(1)), float(found.group(2))


def main_seeding(rounds):
    with Testbed("oc") as tb:
        runs = {n: [] for n in [0, *SEED_SOCKETS]}
        for _ in range(rounds):
            for n in runs:
                runs[n].append(seeding(tb, n))
    base = statistics.median(ms for _count, ms in runs[0])
    print(f"seeding with no socket held: {base:.1f} ms "
          f"({[round(ms, 1) for _c, ms in runs[0]]}), {runs[0][0][0]} sockets seeded")
    for n in SEED_SOCKETS:
        ms = statistics.median(ms for _count, ms in runs[n])
        seeded = statistics.median(count for count, _ms in runs[n]) - runs[0][0][0]
        print(f"{n} sockets held: {seeded:.0f} seeded in {ms:.1f} ms "
              f"({[round(m, 1) for _c, m in runs[n]]}): {(ms - base) / n * 1000:.1f} ms "
              f"per 1,000 sockets")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if os.environ.get("ONLY") == "seed":
        return main_seeding(rounds)
    old = subprocess.run(["sysctl", "-n", "kernel.bpf_stats_enabled"], capture_output=True,
                         text=True).stdout.strip() or "0"
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    packet = {"plain": [], "owners": [], "pid": [], "comm": [], "cgroup": [], "in plain": [],
              "in owners": []}
    if os.environ.get("MODES"):         # e.g. MODES=plain,owners,comm (the figures need all)
        packet = {mode: [] for mode in os.environ["MODES"].split(",")}
    sockets = {(k, w): [] for k in ("udp", "tcp") for w in (False, True)}
    hooks = {"udp": [], "tcp": []}
    try:
        with Testbed("oc") as tb:
            listener = tb.popen(tb.right, [sys.executable, "-I", "-c", LISTENER, tb.right.ipv4],
                                stdout=subprocess.PIPE)
            listener.stdout.readline()
            receiver = tb.popen(tb.right, [sys.executable, "-I", "-c", RECEIVER, tb.right.ipv4])
            for _ in range(rounds):
                for mode in packet:
                    packet[mode].append(per_packet(tb, mode))
                if os.environ.get("ONLY") == "packet":
                    continue
                for key in sockets:
                    sockets[key].append(per_socket(tb, *key, hooks[key[0]]))
    finally:
        subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={old}"])
    med = {k: statistics.median(v) for k, v in packet.items()}
    print(f"ns per packet (median of {rounds}; bpf_stats' own clock reads included): "
          + ", ".join(f"{k} {v:.0f} ({min(packet[k]):.0f}..{max(packet[k]):.0f})"
                      for k, v in med.items()))
    if len(med) < 7:
        return
    print(f"  egress: --owners adds {med['owners'] - med['plain']:.0f} ns, --pid "
          f"{med['pid'] - med['plain']:.0f} ns, --comm {med['comm'] - med['plain']:.0f} ns, "
          f"--cgroup {med['cgroup'] - med['plain']:.0f} ns; ingress (ebcap_ingress, the "
          "lookup): --owners "
          f"adds {med['in owners'] - med['in plain']:.0f} ns")
    for kind in ("udp", "tcp"):
        if not sockets[(kind, False)]:
            continue
        off, on = (statistics.median(sockets[(kind, w)]) for w in (False, True))
        print(f"{kind} socket+connect+close: {off:.0f} ns without ebcap, {on:.0f} ns with "
              f"--owners: +{on - off:.0f} ns per socket "
              f"(rounds {[round(x) for x in sockets[(kind, False)]]} / "
              f"{[round(x) for x in sockets[(kind, True)]]}); the hooks themselves: "
              f"{statistics.median(h[0] for h in hooks[kind]):.0f} ns in "
              f"{statistics.median(h[1] for h in hooks[kind]):.1f} runs per socket")
    print("(each hook's ns per run: bpftool prog show, ebcap_sock_crea / ebcap_sock_addr)")


if __name__ == "__main__":
    main()
