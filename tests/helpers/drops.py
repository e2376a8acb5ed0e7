"""Drops provoked for real, in a testbed's namespaces: a TC program that drops everything on an
interface's ingress or egress (this kernel has no gact action to do it with `tc`), an nftables
drop rule, a UDP receiver whose packets are delivered, a tun device nobody reads, and reading
the comments back."""

from __future__ import annotations

import subprocess
import sys

from ebcap.capture.pcapng.format import (BT_EPB, BT_IDB, BT_ISB, ISB_FILTERACCEPT, ISB_IFRECV,
                                        ISB_OSDROP, ISB_USRDELIV, OPT_COMMENT, iter_options,
                                        walk_blocks)

# r0 = TC_ACT_SHOT (2); exit. Attached by a tcx link that lives as long as the process.
_TC_DROP = r"""
import socket, struct, sys
from ebcap.capture.kernel import bpfsys
fd = bpfsys.prog_load(struct.pack("<BBhi", 0xb7, 0, 0, 2) + struct.pack("<BBhi", 0x95, 0, 0, 0),
                      "test_tc_drop")
hook = bpfsys.BPF_TCX_EGRESS if sys.argv[2] == "egress" else bpfsys.BPF_TCX_INGRESS
link = bpfsys.tcx_attach(fd, socket.if_nametoindex(sys.argv[1]), hook)
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


def drop_ingress(tb, host, hook: str = "ingress"):
    """Drop every packet arriving on host's veth (or leaving it: hook "egress"), until the
    returned process is killed."""
    proc = tb.popen(host, [sys.executable, "-c", _TC_DROP, host.ifname, hook],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("the TC drop program did not attach")
    return proc


def nft_drop(tb, host, rule: str) -> None:
    """An nftables rule in host's namespace, `rule` in the input hook of a table of its own
    (which goes with the namespace): e.g. "udp dport 7100 drop"."""
    for command in ("add table inet ebcap_test",
                    "add chain inet ebcap_test input { type filter hook input priority 0 ; }",
                    f"add rule inet ebcap_test input {rule}"):
        subprocess.run(["ip", "netns", "exec", host.netns, "nft", command], check=True)


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


ISB_COUNTS = {ISB_IFRECV: "ifrecv", ISB_FILTERACCEPT: "filteraccept", ISB_OSDROP: "osdrop",
              ISB_USRDELIV: "usrdeliv"}


def statistics_in_file(path) -> dict[int, dict[str, int]]:
    """The counts of each ISB of a file, by interface id: {"usrdeliv": 3, ...}, the options
    the block has."""
    found = {}
    for block in walk_blocks(path.read_bytes()):
        if block.type == BT_ISB:
            iid = int.from_bytes(block.body[:4], "little")
            found[iid] = {ISB_COUNTS[code]: int.from_bytes(value, "little")
                          for code, value in iter_options(block.body, 12) if code in ISB_COUNTS}
    return found


_INJECT = r"""
import socket, struct, sys
ifname, src_mac, dst_mac, src, dst, port, corrupt = sys.argv[1:8]
def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
payload = b"corrupt" * 4
udp = struct.pack("!HHHH", 40000, int(port), 8 + len(payload), 0x1234) + payload  # wrong sum
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack("!H", checksum(ip) ^ (0xFFFF if corrupt == "ip" else 0)) + ip[12:]
if corrupt == "ihl":                # a header length below the 20-byte minimum
    ip = b"\x44" + ip[1:]
frame = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) \
    + b"\x08\x00" + ip + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
for _ in range(3):
    s.send(frame)
"""


def inject_corrupt_udp(tb, port: int, corrupt: str) -> None:
    """Three UDP datagrams from left to right, sent as raw frames: with a wrong UDP checksum
    (`corrupt` = "udp"), a wrong IP header checksum as well ("ip"), or an IP header length of
    16 bytes ("ihl")."""
    left, right = tb.left, tb.right
    tb.run(left, [sys.executable, "-I", "-c", _INJECT, left.ifname, tb.mac(left), tb.mac(right),
                  left.ipv4, right.ipv4, str(port), corrupt])


_SEND_FRAMES = r"""
import socket, struct, sys
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
at = 0
while at < len(data):                   # each frame after its u16 length
    (n,) = struct.unpack_from("!H", data, at)
    s.send(data[at + 2:at + 2 + n])
    at += 2 + n
"""


def send_frames(tb, host, frames: list[bytes]) -> None:
    """Each frame as it is, onto host's veth (AF_PACKET), for the peer to receive."""
    tb.run(host, [sys.executable, "-I", "-c", _SEND_FRAMES, host.ifname],
           input=b"".join(len(frame).to_bytes(2, "big") + frame for frame in frames))
