"""What reading the kernel's facts costs: BTF (/sys/kernel/btf/vmlinux) and /proc/kallsyms, each
in fresh processes so every load is the first of its process. Run from the repository:

    .venv/bin/python benchmarks/kernel_facts.py --runs 7

Reports medians of wall-clock and CPU time. On a shared machine only the CPU column is steady.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, time
def clocks():
    return time.perf_counter(), time.process_time()
def since(start):
    now = clocks()
    return [(now[0] - start[0]) * 1e3, (now[1] - start[1]) * 1e3]
out = {}
start = clocks()
from ebcap.capture.kernel import btf, kallsyms
out["import"] = since(start)
start = clocks(); data = open(btf.VMLINUX, "rb").read(); out["btf read"] = since(start)
start = clocks(); table = btf.Btf(data); out["btf parse+index"] = since(start)
start = clocks(); table.struct_member_offset("sk_buff", "head"); out["first member lookup"] = since(start)
start = clocks()
for name in ("data", "mac_header", "network_header", "len", "dev", "sk", "protocol", "skb_iif"):
    table.struct_member_offset("sk_buff", name)
out["next member lookup (each of 8)"] = [t / 8 for t in since(start)]
start = clocks(); table.struct_member_offset("task_struct", "tgid"); out["other struct lookup"] = since(start)
start = clocks(); btf.drop_reasons(table); out["drop_reasons()"] = since(start)
start = clocks(); symbols = kallsyms.Kallsyms.load(); out["kallsyms load+build"] = since(start)
start = clocks()
for addr in range(0xffffffff81e95070, 0xffffffff81e95070 + 1000):
    symbols.lookup(addr)
out["kallsyms lookup (each of 1000)"] = [t / 1000 for t in since(start)]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    samples: dict[str, list[list[float]]] = {}
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
        for key, value in json.loads(out.stdout).items():
            samples.setdefault(key, []).append(value)
    print(f"{'median of ' + str(runs) + ' fresh processes':40} {'wall ms':>9} {'cpu ms':>9}")
    for key, values in samples.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"{key:40} {wall:9.3f} {cpu:9.3f}")


if __name__ == "__main__":
    main()
