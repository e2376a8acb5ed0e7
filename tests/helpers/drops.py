"""Drops provoked for real, in a testbed's namespaces: a TC program that drops everything on an
interface's ingress (this kernel has no gact action to do it with `tc`), a UDP receiver whose
packets are delivered, a tun device nobody reads, and reading the comments back."""

from __future__ import annotations

import subprocess
import sys

from ebcap.capture.pcapng.format import BT_EPB, BT_IDB, OPT_COMMENT, iter_options, walk_blocks

# r0 = TC_ACT_SHOT (2); exit. Attached by a tcx link that lives as long as the process.
_TC_DROP = r"""
import socket, struct, sys
from ebcap.capture.kernel import bpfsys
fd = bpfsys.prog_load(struct.pack("<BBhi", 0xb7, 0, 0, 2) + struct.pack("<BBhi", 0x95, 0, 0, 0),
                      "test_tc_drop")
link = bpfsys.tcx_attach(fd, socket.if_nametoindex(sys.argv[1]), bpfsys.BPF_TCX_INGRESS)
print("ready", flush=True)
sys.stdin.read()
"""

_RECEIVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
for _ in range(int(sys.argv[3])):
    s.recv(65536)
"""


def drop_ingress(tb, host):
    """Drop every packet arriving on host's veth, until the returned process is killed."""
    proc = tb.popen(host, [sys.executable, "-c", _TC_DROP, host.ifname],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("the TC drop program did not attach")
    return proc


def receiver(tb, host, addr: str, port: int, count: int):
    """A UDP socket that reads `count` datagrams (so none is freed unread at its close)."""
    proc = tb.popen(host, [sys.executable, "-I", "-c", _RECEIVER, addr, str(port), str(count)],
                    stdout=subprocess.PIPE)
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("the UDP receiver did not start")
    return proc


def static_ipv4_neighbour(tb, host, peer) -> None:
    """With the peer dropping everything, ARP would go unanswered too."""
    subprocess.run(["ip", "-n", host.netns, "neigh", "replace", peer.ipv4, "lladdr",
                    tb.mac(peer), "dev", host.ifname, "nud", "permanent"], check=True)


def drops_in_file(path) -> list[tuple[int, tuple[str, ...], bytes]]:
    """(link type of its interface, comments, data) of each packet of an ebcap --drops file."""
    linktypes, out = [], []
    for block in walk_blocks(path.read_bytes()):
        if block.type == BT_IDB:
            linktypes.append(int.from_bytes(block.body[:2], "little"))
        elif block.type == BT_EPB:
            iid = int.from_bytes(block.body[:4], "little")
            caplen = int.from_bytes(block.body[12:16], "little")
            data = block.body[20:20 + caplen]
            comments = tuple(value.decode() for code, value in
                             iter_options(block.body, 20 + caplen + (-caplen % 4))
                             if code == OPT_COMMENT)
            out.append((linktypes[iid], comments, data))
    return out
