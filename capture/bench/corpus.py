"""The offline bench's capture file: everyday traffic captured for real, then repeated.

A throwaway testbed (testbed.py) carries a few seconds of what a host sees every day: TCP
connections with payloads over IPv4 and IPv6, HTTP (curl to Python's http.server), UDP, DNS
queries and answers, pings (ICMP and ICMPv6), ARP. tcpdump captures it on the right end
(classic pcap, microseconds, as `tcpdump -w` writes); that seed is repeated, its timestamps
shifted past the previous copy, until the file holds the packets asked for. The file is cached
under $TMPDIR by its packet count: building a million-packet one takes about a minute.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ebcap.capture.bench.testbed import Testbed, wait_listening

PCAP_HEADER = struct.Struct("<IHHiIII")
RECORD = struct.Struct("<IIII")
HTTP_PORT, ECHO_PORT, ECHO6_PORT, DNS_PORT, UDP_PORT = 8080, 7007, 7008, 53, 9999

# A DNS server answering every A query with one address, and a client asking names in turn.
_DNS_SERVER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    tid = q[:2]
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc6\x12\x00\x63"
    s.sendto(tid + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + q[12:] + answer, peer)
"""

_DNS_CLIENT = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
server = (sys.argv[1], int(sys.argv[2]))
names = [b"example.com", b"www.debian.org", b"mail.example.net", b"api.github.com"]
for i in range(int(sys.argv[3])):
    name = names[i % len(names)]
    qname = b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\0"
    s.sendto(struct.pack(">HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + qname + b"\0\1\0\1", server)
    s.recvfrom(512)
"""

_HTTP_CLIENT_ROUNDS = 40


def default_path(packets: int) -> Path:
    return Path(tempfile.gettempdir()) / f"ebcap-offline-corpus-{packets}.pcap"


def build_corpus(packets: int, path: Path | None = None) -> Path:
    """The corpus file of `packets` packets (made once, then reused from the cache)."""
    path = path or default_path(packets)
    if path.exists() and path.stat().st_size > PCAP_HEADER.size:
        return path
    with tempfile.TemporaryDirectory(prefix="ebcap-corpus-") as tmp:
        seed = Path(tmp) / "seed.pcap"
        capture_seed(seed)
        partial = path.with_suffix(".partial")
        repeat_pcap(seed, partial, packets)
        partial.rename(path)
    return path


def capture_seed(seed: Path) -> None:
    """A few thousand packets of real traffic on a testbed, captured by tcpdump."""
    with Testbed("corpus") as bed:
        left, right = bed.left, bed.right
        dump = bed.popen(right, ["tcpdump", "-i", right.ifname, "-s", "0", "-U", "-w", str(seed)],
                         stderr=subprocess.PIPE)
        wait_listening(dump)
        _generate(bed)
        time.sleep(0.3)
        dump.terminate()
        dump.wait(timeout=10)


def _generate(bed: Testbed) -> None:
    left, right = bed.left, bed.right
    py = [sys.executable, "-I", "-c"]
    web = bed.popen(right, [sys.executable, "-I", "-m", "http.server", "--bind", right.ipv4,
                            str(HTTP_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dns = bed.popen(right, py + [_DNS_SERVER, right.ipv4, str(DNS_PORT)], stdout=subprocess.PIPE)
    dns.stdout.readline()
    for _ in range(50):                      # http.server is ready when it accepts
        if bed.run(left, ["curl", "-s", "-o", "/dev/null", f"http://{right.ipv4}:{HTTP_PORT}/"],
                   check=False).returncode == 0:
            break
        time.sleep(0.1)
    for round_ in range(3):
        # ARP: the left forgets its IPv4 neighbour, so the next packet asks again
        bed.run(left, ["ip", "neigh", "flush", "dev", left.ifname], check=False)
        bed.ping(left, right.ipv4, count=5)
        bed.ping(left, right.ipv6, count=5)
        bed.tcp_exchange(right, left, right.ipv4, ECHO_PORT + 10 * round_, rounds=150)
        bed.tcp_exchange(right, left, right.ipv6, ECHO6_PORT + 10 * round_, rounds=100)
        bed.udp_packets(left, right.ipv4, UDP_PORT, count=300, size=200)
        bed.udp_packets(left, right.ipv6, UDP_PORT, count=100, size=120)
        bed.run(left, py + [_DNS_CLIENT, right.ipv4, str(DNS_PORT), "150"], timeout=30)
        for _ in range(_HTTP_CLIENT_ROUNDS):
            bed.run(left, ["curl", "-s", "-o", "/dev/null",
                           f"http://{right.ipv4}:{HTTP_PORT}/"], check=False)
    web.kill()
    dns.kill()


def repeat_pcap(seed: Path, out: Path, packets: int) -> None:
    """Write the seed's records again and again (timestamps shifted) until `packets`."""
    data = seed.read_bytes()
    magic, vmaj, vmin, zone, sigfigs, snaplen, linktype = PCAP_HEADER.unpack_from(data)
    if magic != 0xA1B2C3D4:
        raise RuntimeError(f"{seed}: not a little-endian microsecond pcap")
    records, offset = [], PCAP_HEADER.size
    while offset + RECORD.size <= len(data):
        sec, usec, caplen, wirelen = RECORD.unpack_from(data, offset)
        end = offset + RECORD.size + caplen
        if end > len(data):
            break
        records.append((sec * 1_000_000 + usec, data[offset + RECORD.size:end], wirelen))
        offset = end
    if not records:
        raise RuntimeError(f"{seed}: no packets captured")
    first, last = records[0][0], records[-1][0]
    span = last - first + 1000
    with open(out, "wb") as stream:
        stream.write(PCAP_HEADER.pack(magic, vmaj, vmin, zone, sigfigs, snaplen, linktype))
        written, copy = 0, 0
        while written < packets:
            chunk = []
            for ts, frame, wirelen in records[:packets - written]:
                t = ts + copy * span
                chunk.append(RECORD.pack(t // 1_000_000, t % 1_000_000, len(frame), wirelen))
                chunk.append(frame)
            stream.write(b"".join(chunk))
            written += min(len(records), packets - written)
            copy += 1


def main(argv: list[str]) -> int:
    packets = int(argv[1]) if len(argv) > 1 else 1_000_000
    path = build_corpus(packets, Path(argv[2]) if len(argv) > 2 else None)
    print(f"{path}: {packets} packets, {os.path.getsize(path) / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
