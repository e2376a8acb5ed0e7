"""--run's cgroup: a fresh cgroup v2 directory, `ebcap-run-PID` at the hierarchy's root, that the
command is started in. Its children are born in it, so every socket they make is made in it, and
the kernel program captures the packets of those sockets only (bpf/ebcap.c's wanted_cgroup).

A cgroup directory outlives the process that made it, and after -Z ebcap could not remove it
(rmdir needs write access to the root's directory). So, as clsact filters are (clsact.py), it
has a guard: a small child started while ebcap is root, holding the read end of a pipe whose
write end only ebcap holds. However ebcap ends, SIGKILL included, the guard reads EOF, waits
until nothing is left in the cgroup (its `cgroup.events` says `populated 0`; the command, or
what it left running, may still be there when ebcap is killed) and removes it. The guard runs
in a session of its own, so the terminal's Ctrl-C does not reach it, and does nothing else."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from contextlib import ExitStack

from ebcap.capture.errors import EbcapError, KernelFeatureError
from ebcap.capture.kernel.owners import CgroupTarget, cgroup2_root

GUARD_WAIT_SECONDS = 5.0        # ebcap waits this long for an empty cgroup to be removed


def make_run_cgroup(stack: ExitStack) -> CgroupTarget:
    """Create the cgroup and its guard; when `stack` closes, the cgroup is removed (at once if
    it is empty, else by the guard once it is)."""
    root = cgroup2_root()
    if root is None:
        raise KernelFeatureError("--run needs the cgroup v2 hierarchy, which is not mounted")
    name = f"ebcap-run-{os.getpid()}"
    directory = os.path.join(root, name)
    try:
        os.mkdir(directory, 0o755)
    except FileExistsError:         # a SIGKILLed ebcap's of the same pid, guard and all: reuse
        pass
    except OSError as exc:
        raise EbcapError(f"--run: cannot make the cgroup {directory}: {exc.strerror}") from None
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        guard = subprocess.Popen([sys.executable, "-I", "-m", "ebcap.capture.kernel.owners_cgroup",
                                  str(read_end), directory],
                                 pass_fds=(read_end,), stdin=subprocess.DEVNULL,
                                 start_new_session=True)
    except OSError as exc:
        os.rmdir(directory)
        raise EbcapError(f"--run: cannot start the cgroup's guard: {exc.strerror}") from None
    finally:
        os.close(read_end)
    stack.callback(_release, guard, write_end, directory)
    return CgroupTarget("/" + name, directory, os.stat(directory).st_ino, 1)


def _release(guard: subprocess.Popen, write_end: int, directory: str) -> None:
    os.close(write_end)             # the guard's EOF
    if populated(directory):
        print(f"ebcap: processes the command left are still in the cgroup {directory}; it "
              "is removed when they have exited", file=sys.stderr)
        return
    try:
        guard.wait(GUARD_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        pass


def populated(directory: str) -> bool:
    """Whether the cgroup (or one below it) has a process; False when it is gone."""
    try:
        with open(os.path.join(directory, "cgroup.events"), encoding="ascii") as handle:
            return "populated 1" in handle.read()
    except OSError:
        return False


def _wait_empty(directory: str) -> None:
    """Until the cgroup has no process: cgroup.events reports a change as POLLPRI."""
    try:
        events = open(os.path.join(directory, "cgroup.events"), "rb", buffering=0)
    except OSError:
        return
    with events:
        poller = select.poll()
        poller.register(events, select.POLLPRI | select.POLLERR)
        while True:
            events.seek(0)
            if b"populated 1" not in events.read():
                return
            poller.poll(1000)       # and a look each second, should a change be missed


def _guard(read_fd: int, directory: str) -> None:
    while os.read(read_fd, 1):
        pass
    for _attempt in range(50):
        _wait_empty(directory)
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError:             # EBUSY: a process arrived between the look and rmdir
            time.sleep(0.1)


if __name__ == "__main__":
    _guard(int(sys.argv[1]), sys.argv[2])
