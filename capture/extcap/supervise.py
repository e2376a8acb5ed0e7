"""An extcap capture: `ebcap -i IF -w - -U ...` as a child process whose stdout is Wireshark's
fifo, stopped when Wireshark closes the fifo or asks (SIGTERM), its stderr kept unless it failed."""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ebcap.capture.cli.exit import ExitStatus
from ebcap.capture.errors import EbcapError, FilterError, OutputError
from ebcap.capture.extcap.protocol import PREFIX, filter_problem
from ebcap.capture.session.stop import StopSignals

STOP_GRACE_SECONDS = 10.0           # SIGTERM to the child, then SIGKILL
POLL_MILLISECONDS = 200             # how soon a stop request starts the grace period
FIFO_RETRY_SECONDS = 0.05           # how often to retry opening the fifo before its reader exists
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class CaptureRequest:
    """What Wireshark asked for with --capture; the defaults are CONFIG_ARGS' defaults."""

    interface: str                  # the kernel's name, without PREFIX
    fifo: str
    expression: str = ""
    snaplen: int = 0                # 0 = headers only
    direction: str = "inout"
    promiscuous: bool = True
    buffer_kib: int = 0             # 0 = ebcap's default


def ebcap_path() -> Path:
    return Path(sys.executable).parent / "ebcap"


def ebcap_argv(request: CaptureRequest) -> list[str]:
    """The child's command line: pcapng on stdout, each packet written as it arrives (-U), so
    Wireshark shows packets live."""
    argv = [str(ebcap_path()), "-i", request.interface, "-w", "-", "-U", "-Q", request.direction]
    if request.snaplen:
        argv += ["-s", str(request.snaplen)]
    if not request.promiscuous:
        argv.append("-p")
    if request.buffer_kib:
        argv += ["-B", str(request.buffer_kib)]
    if request.expression:
        argv += ["--", request.expression]
    return argv


class _ChildStopper:
    """Passes a stop on to the capture child as SIGTERM, once it exists."""

    def __init__(self):
        self.child_pid: int | None = None

    def forward(self) -> None:
        if self.child_pid is not None:
            try:
                os.kill(self.child_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _open_fifo(path: str, stop: StopSignals) -> int | None:
    """The fifo's write end, once Wireshark has opened its read end; None if told to stop first.
    O_NONBLOCK fails with ENXIO while there is no reader, so a SIGTERM is noticed while waiting
    (a blocking open would be restarted after the signal handler returns)."""
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CREAT | os.O_CLOEXEC
    while not stop.raised:
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                select.select([], [], [], FIFO_RETRY_SECONDS)
                continue
            raise OutputError(f"{path}: {exc.strerror}") from None
        os.set_blocking(fd, True)
        return fd
    return None


def _die_with_parent(parent: int) -> None:
    """In the child before exec: if this process dies (even by SIGKILL), the kernel sends the
    child SIGTERM, so a capture never outlives the extcap Wireshark is watching."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:          # the parent died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def _supervise(child: subprocess.Popen, fifo_fd: int, stop: StopSignals,
               stopper: _ChildStopper) -> bytes:
    """Wait for the child, stopping it when Wireshark closes the fifo (SIGKILL if it has not
    exited STOP_GRACE_SECONDS after SIGTERM); its stderr is returned."""
    poller = select.poll()
    poller.register(fifo_fd, 0)             # POLLERR (reader gone) is reported unasked
    err_fd = child.stderr.fileno()
    poller.register(err_fd, select.POLLIN)
    stderr = bytearray()
    kill_at = None
    while True:
        for fd, events in poller.poll(POLL_MILLISECONDS):
            if fd == fifo_fd:
                poller.unregister(fifo_fd)
                stop.raised = True
                stopper.forward()
            elif events & (select.POLLIN | select.POLLHUP):
                chunk = os.read(err_fd, 65536)
                if not chunk:               # the child has exited
                    return bytes(stderr)
                stderr += chunk
        if stop.raised and kill_at is None:
            kill_at = time.monotonic() + STOP_GRACE_SECONDS
        elif kill_at is not None and time.monotonic() > kill_at:
            child.kill()


def run_capture(request: CaptureRequest) -> int:
    problem = filter_problem(request.expression, PREFIX + request.interface)
    if problem:
        raise FilterError(problem)
    if not ebcap_path().exists():
        raise EbcapError(f"{ebcap_path()}: not found (ebcap is not installed next to "
                         f"{sys.executable})")
    stopper = _ChildStopper()
    stop = StopSignals(on_signal=stopper.forward)
    stop.install()
    fifo_fd = _open_fifo(request.fifo, stop)
    if fifo_fd is None:
        return ExitStatus.SUCCESS
    try:
        parent = os.getpid()
        child = subprocess.Popen(ebcap_argv(request), stdin=subprocess.DEVNULL, stdout=fifo_fd,
                                 stderr=subprocess.PIPE, preexec_fn=lambda: _die_with_parent(parent))
        stopper.child_pid = child.pid
        if stop.raised:                     # the signal came while the child was starting
            stopper.forward()
        stderr = _supervise(child, fifo_fd, stop, stopper)
        status = child.wait()
    finally:
        os.close(fifo_fd)
    stopper.child_pid = None
    errors = [line.removeprefix("ebcap: ") for line in stderr.decode(errors="replace").splitlines()
              if line.startswith("ebcap: ") and not line.startswith("ebcap: listening on")]
    # Stopped on request, ebcap may still exit non-zero without a word: writing its last block
    # into a fifo Wireshark has closed fails with EPIPE, which click turns into exit status 1.
    if status == 0 or (stop.raised and not errors):
        return ExitStatus.SUCCESS
    raise EbcapError(errors[-1] if errors else f"ebcap exited with status {status}")
