"""Proof that a raw tracepoint on kfree_skb reads struct sk_buff right only at the running
kernel's BTF offsets, and that reasons and locations name themselves through btf and kallsyms.

Sends a few UDP datagrams over loopback to a closed port on 127.0.0.1 (nothing else) and prints,
for each drop of one of them, the reason, the location and what was read from the sk_buff: once at
the BTF offsets (passed to the program as -D constants) and once through BCC's `struct sk_buff`,
which it lays out from the headers tree it compiles against. Needs root and BCC:

    sudo .venv/bin/python benchmarks/kfree_skb_btf.py
"""

from __future__ import annotations

import ctypes
import socket
import sys
import time

from ebcap.capture.kernel import btf, kallsyms, kheaders

PROGRAM = r"""
#include <linux/skbuff.h>
#include <linux/ip.h>
#include <linux/udp.h>

struct drop {
    u64 location;
    u32 reason;
    u32 len_btf;          /* skb->len at the BTF offset */
    u32 len_headers;      /* skb->len where the headers tree says it is */
    u16 network_header;   /* at the BTF offset */
    u16 network_header_headers;
    u64 head;             /* at the BTF offset */
    u64 head_headers;
    u64 data;             /* at the BTF offset */
    u16 dport;            /* from the packet: head + network_header */
    u32 daddr;
};
BPF_RINGBUF_OUTPUT(drops, 8);

RAW_TRACEPOINT_PROBE(kfree_skb)
{
    /* 6.18: trace_kfree_skb(skb, location, reason, rx_sk) */
    void *skb = (void *)ctx->args[0];
    struct drop d = {};
    unsigned char *head = 0;
    struct iphdr ip;
    struct udphdr udp;

    if (ctx->args[2] <= 1)          /* NOT_DROPPED_YET, CONSUMED: not drops */
        return 0;
    bpf_probe_read_kernel(&head, sizeof(head), skb + SKB_HEAD);
    bpf_probe_read_kernel(&d.network_header, sizeof(d.network_header), skb + SKB_NETWORK_HEADER);
    if (bpf_probe_read_kernel(&ip, sizeof(ip), head + d.network_header) || ip.protocol != IPPROTO_UDP)
        return 0;
    if (bpf_probe_read_kernel(&udp, sizeof(udp), head + d.network_header + ip.ihl * 4)
        || udp.dest != htons(PROBE_PORT))
        return 0;
    d.location = ctx->args[1];
    d.reason = ctx->args[2];
    d.dport = ntohs(udp.dest);
    d.daddr = ip.daddr;
    bpf_probe_read_kernel(&d.len_btf, sizeof(d.len_btf), skb + SKB_LEN);
    bpf_probe_read_kernel(&d.len_headers, sizeof(d.len_headers), &((struct sk_buff *)skb)->len);
    d.head = (u64)head;
    bpf_probe_read_kernel(&d.data, sizeof(d.data), skb + SKB_DATA);
    bpf_probe_read_kernel(&d.head_headers, sizeof(d.head_headers), &((struct sk_buff *)skb)->head);
    bpf_probe_read_kernel(&d.network_header_headers, sizeof(d.network_header_headers),
                          &((struct sk_buff *)skb)->network_header);
    drops.ringbuf_output(&d, sizeof(d), 0);
    return 0;
}
"""


class Drop(ctypes.Structure):
    _fields_ = [("location", ctypes.c_uint64), ("reason", ctypes.c_uint32),
                ("len_btf", ctypes.c_uint32), ("len_headers", ctypes.c_uint32),
                ("network_header", ctypes.c_uint16), ("network_header_headers", ctypes.c_uint16),
                ("head", ctypes.c_uint64), ("head_headers", ctypes.c_uint64),
                ("data", ctypes.c_uint64), ("dport", ctypes.c_uint16), ("daddr", ctypes.c_uint32)]


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    from bcc import BPF

    headers = kheaders.point_bcc_at_headers()
    offsets = {name: btf.struct_member_offset("sk_buff", field)
               for name, field in (("SKB_HEAD", "head"), ("SKB_DATA", "data"), ("SKB_LEN", "len"),
                                   ("SKB_NETWORK_HEADER", "network_header"))}
    port = closed_udp_port()
    cflags = [f"-D{name}={value}" for name, value in offsets.items()] + [f"-DPROBE_PORT={port}"]
    print(f"headers for BCC: {headers}")
    print(f"BTF offsets: {offsets}; closed port 127.0.0.1:{port}")
    started = time.perf_counter()
    program = BPF(text=PROGRAM, cflags=cflags)
    print(f"compiled and loaded in {time.perf_counter() - started:.2f} s")
    reasons = {value: name for name, value in btf.drop_reasons().items()}
    symbols = kallsyms.kernel_symbols()
    seen = []

    def on_drop(_ctx, data, _size):
        drop = ctypes.cast(data, ctypes.POINTER(Drop)).contents
        seen.append(drop.reason)
        daddr = socket.inet_ntoa(drop.daddr.to_bytes(4, sys.byteorder))
        print(f"drop reason={drop.reason} {reasons.get(drop.reason, '?')} "
              f"at {symbols.symbolize(drop.location)} dst={daddr}:{drop.dport} "
              f"len={drop.len_btf} (headers offset: {drop.len_headers})")
        print(f"  BTF offsets:     head=0x{drop.head:x} data=0x{drop.data:x} "
              f"network_header={drop.network_header}")
        print(f"  headers offsets: head=0x{drop.head_headers:x} "
              f"network_header={drop.network_header_headers}")

    program["drops"].open_ring_buffer(on_drop)
    payload = b"ebcap-drop-probe" * 4   # 64 bytes; UDP drops it past the IP header: skb->len 72
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(3):
            sender.sendto(payload, ("127.0.0.1", port))
    deadline = time.monotonic() + 2
    while len(seen) < 3 and time.monotonic() < deadline:
        program.ring_buffer_poll(100)
    program.cleanup()
    return 0 if seen and all(reasons.get(r) == "NO_SOCKET" for r in seen) else 1


if __name__ == "__main__":
    sys.exit(main())
