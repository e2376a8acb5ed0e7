"""A lower bound for ebcap's matching TC path, as benchmarks/tc_cost.py measures it (bpf_stats of
the egress program on socket-sent 64-byte UDP, headers-only, the empty program's floor in the same
rounds): a program that does only what every captured packet must cost, with nothing else: this
CPU's stage looked up, the clock read, an 88-byte block (EPB head, the first 44 bytes, tail)
written after the staged ones, and every ~180 blocks the stage into the ring as one record. No
filter, no header walk, no interface entry, no timer. Variants: `helper`, the bytes copied by
bpf_skb_load_bytes (min(len, 128), as copy_packet) instead of direct packet access; `noclock`,
no clock read. Then `ebcap ... udp` in the same rounds. Needs root:

    sudo .venv/bin/python benchmarks/tc_bound.py [ROUNDS] [SECONDS]
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed
from ebcap.capture.bench.traffic import Flow, add_blackhole, quiet_links

_spec = importlib.util.spec_from_file_location("tc_cost", Path(__file__).with_name("tc_cost.py"))
tc_cost = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tc_cost)

BOUND_C = r"""
#define STAGE 16384
#define BLOCK 88
struct blk { __u32 w[22]; };
struct stage_t { __u32 used; __u32 packets; __u8 data[STAGE]; };
BPF_RINGBUF_OUTPUT(events, 256);
BPF_PERCPU_ARRAY(stage, struct stage_t, 1);

int bound(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct stage_t *st = stage.lookup(&zero);
	if (!st)
		return -1;
#ifdef NOCLOCK
	__u64 now = skb->len;
#else
	__u64 now = bpf_ktime_get_ns();
#endif
	__u64 used = st->used;
	if (used > STAGE - 160) {
		struct blk *first = (struct blk *)st->data;
		events.ringbuf_output(first, STAGE - 160, 0);
		used = 0;
		st->packets = 0;
	}
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (data + 48 > end)
		return -1;
	__u8 *b = st->data + used;
	__u32 *h = (__u32 *)b;
	h[0] = 6; h[1] = BLOCK; h[2] = 0; h[3] = now >> 32; h[4] = (__u32)now; h[5] = 42;
	h[6] = skb->len;
#ifdef HELPERCOPY
	__u64 n = skb->len;
	if (n > 128)
		n = 128;
	if (n)
		bpf_skb_load_bytes(skb, 0, b + 28, ((n - 1) & 127) + 1);
#else
	__u32 *s4 = data;
	__u32 *d4 = (__u32 *)(b + 28);
#pragma unroll
	for (int i = 0; i < 11; i++)
		d4[i] = s4[i];
#endif
	__u32 *t = (__u32 *)(b + 72);
	t[0] = 0x00040002; t[1] = 2; t[2] = 0; t[3] = BLOCK;
	st->used = used + BLOCK;
	st->packets++;
	return -1;
}
"""

# Compiles BOUND_C with the variant's flags, attaches it to tcx egress, waits for stdin to close.
_LOADER = r"""
import sys
from bcc import BPF
from ebcap.capture.kernel import bpfsys
from ebcap.capture.kernel.kheaders import point_bcc_at_headers
point_bcc_at_headers()
flags = {"bound": [], "helper": ["-DHELPERCOPY"], "noclock": ["-DNOCLOCK"]}[sys.argv[2]]
fn = BPF(text=sys.stdin.readline().replace("\\n", "\n"), cflags=flags).load_func("bound", BPF.SCHED_CLS)
link = bpfsys.tcx_attach(fn.fd, int(open(f"/sys/class/net/{sys.argv[1]}/ifindex").read()), 47)
print("ready", flush=True)
sys.stdin.read()
"""

VARIANTS = ("bound", "helper", "noclock")


def measure_bound(testbed: Testbed, flow: Flow, variant: str, seconds: float) -> float:
    host = flow.src
    proc = testbed.popen(host, [sys.executable, "-c", _LOADER, host.ifname, variant],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdin.write(BOUND_C.replace("\n", "\\n") + "\n")
    proc.stdin.flush()
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the {variant} program did not attach")
    try:
        ns0, cnt0 = tc_cost.prog_stats(proc.pid, "bound")
        tc_cost.send(testbed, flow, "socket", seconds)
        ns1, cnt1 = tc_cost.prog_stats(proc.pid, "bound")
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    return (ns1 - ns0) / (cnt1 - cnt0)


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.5
    runs = ["floor", *VARIANTS, tc_cost.MATCHING]
    results = {what: [] for what in runs}
    stats_fd = tc_cost.enable_stats()
    try:
        with Testbed("tcbound") as testbed:
            add_blackhole(testbed)
            quiet_links(testbed)
            flow = Flow.across(testbed, tc_cost.FRAME)
            for r in range(rounds):
                for what in runs[r % len(runs):] + runs[:r % len(runs)]:
                    results[what].append(
                        measure_bound(testbed, flow, what, seconds) if what in VARIANTS
                        else tc_cost.measure(testbed, flow, "socket", what, seconds))
                print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    finally:
        os.close(stats_fd)
    print(f"ns per run of the egress TC program (bpf_stats), socket-sent {tc_cost.FRAME}-byte UDP, "
          f"median of {rounds} rounds [min..max]; floor+ paired within rounds:")
    for what in runs:
        xs = results[what]
        label = f"ebcap '{what}'" if what == tc_cost.MATCHING else what
        print(f"  {label:14} {statistics.median(xs):6.0f} {tc_cost.spread(xs)}"
              f"  floor+{tc_cost.paired(xs, results['floor'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
