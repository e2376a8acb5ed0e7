"""UDP from a socket, as a host's applications send it: the bench's "socket" traffic.

    python -I udpsend.py SRC SPORT DST DPORT_BASE DPORT_SPREAD PAYLOAD SECONDS COUNT CPU

Run as a script by path with `python -I`, in the sending namespace; it imports nothing but the
standard library, so nothing from a working directory can slip in. One socket bound to
SRC:SPORT sends PAYLOAD-byte datagrams with sendto() to DST, the destination port counting
DPORT_BASE+1, +2, ... +SPREAD-1, +0 and over again like the trafgen frames, for SECONDS or
COUNT datagrams (rounded up to whole cycles of ports), whichever comes first, pinned to CPU.
It prints the number of datagrams the kernel took on stdout. SIGINT or SIGTERM stops it early,
and it still prints; a send that fails stops it (exit status 1), so the count still tells which
ports went out.
"""

import os
import signal
import socket
import sys
import time


_stopping = []


def _stop(signum, frame):
    # A flag, not an exception: an exception could land between a sendto() and its count.
    _stopping.append(signum)


def destinations(dst: str, base: int, spread: int) -> list[tuple[str, int]]:
    """One cycle of (address, port), built once: the loop then costs a sendto() and little else.
    Like trafgen's counter, the first datagram goes to base+1 and every spread-th to base+0."""
    return [(dst, base + (i + 1) % spread) for i in range(spread)]


def main(argv: list[str]) -> int:
    src, sport, dst, base, spread, payload, seconds, count, cpu = argv
    sport, base, spread, count = int(sport), int(base), int(spread), int(count)
    os.sched_setaffinity(0, {int(cpu)})
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((src, sport))
    data = bytes(int(payload))
    targets = destinations(dst, base, spread)
    sendto, clock = sock.sendto, time.monotonic
    deadline = clock() + float(seconds)
    sent, status = 0, 0
    try:
        while sent < count:
            for target in targets:      # checking the clock every `spread` datagrams is enough
                sendto(data, target)
                sent += 1
            if _stopping or clock() >= deadline:
                break
    except OSError as exc:  # stop at once, so `sent` still says which ports went out
        print(f"udpsend: {exc}", file=sys.stderr)
        status = 1
    print(sent, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
