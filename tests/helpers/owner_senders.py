"""What the owner tests (tests/integration/test_owner_filters.py, test_drop_owners.py) set up
alike: UDP senders in a testbed's namespace that two tests drive in step, so that the chosen
process and another one send at the same time, and an ebcap started until "listening on" and
stopped with SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

# A UDP sender that names its thread first when given a name (prctl PR_SET_NAME: the hooks record
# the name the socket is made under), says "ready", sends COUNT datagrams of SIZE bytes GAP
# seconds apart when told (so that two senders overlap), then waits to be told again. IPv6 for
# an IPv6 address.
SENDER = """
import ctypes, socket, sys, time
addr, port, count, name, size, gap = sys.argv[1:7]
if name:
    ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True); sys.stdin.readline()
for _ in range(int(count)):
    s.sendto(b"u" * int(size), (addr, int(port))); time.sleep(float(gap))
print("sent", flush=True); sys.stdin.readline()
"""


def sender(tb, host, addr: str, port: int, count: int, name: str = "", size: int = 32,
           gap: float = 0.005) -> subprocess.Popen:
    """A SENDER in host's namespace, ready: send_together() makes it send, finish() ends it."""
    proc = tb.popen(host, [sys.executable, "-I", "-c", SENDER, addr, str(port), str(count),
                           name, str(size), str(gap)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def send_together(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.stdout.readline().strip() == "sent"


def finish(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.stdin.write("end\n")
        proc.stdin.flush()
        proc.wait(timeout=10)


def start_listening(argv: list[str]) -> subprocess.Popen:
    """ebcap (argv), once it said "listening on"."""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "listening on" in line, line + proc.stderr.read()
    return proc


def stop_listening(proc: subprocess.Popen, settle: float) -> str:
    """SIGINT after `settle` seconds (for the last packets' drain), a clean exit; its stderr."""
    time.sleep(settle)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return err
