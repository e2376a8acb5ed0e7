"""Wireshark's extcap protocol for ebcap: Wireshark lists `ebcap-IF` interfaces and captures
through ebcap, with the capture filter typed in its GUI running in the kernel.

Wireshark runs this module (through the wrapper that `--install` writes) in one of these ways:
  --extcap-interfaces [--extcap-version=V]          which interfaces there are
  --extcap-interface X --extcap-dlts                 their link type
  --extcap-interface X --extcap-config               the options its dialog shows
  --extcap-interface X --extcap-capture-filter EXPR  is the filter valid? (no --capture)
  --capture --extcap-interface X --fifo PATH [--extcap-capture-filter EXPR] [options]

A capture runs `ebcap -i IF -w - -U ...` as a child process whose stdout is the fifo. The child is
the same program as the command line tool, and its BPF program and tcx links belong to it alone:
the kernel releases them when it exits, however it exits. This process only opens the fifo,
forwards Wireshark's SIGTERM, stops the child when Wireshark closes the fifo (the fifo's write
end reports POLLERR, even before ebcap has a packet to write), and keeps ebcap's stderr to itself
unless the capture failed, because Wireshark shows any extcap stderr as "Error by extcap pipe".
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ebcap.capture import __version__
from ebcap.capture.config import DIRECTIONS
from ebcap.capture.errors import EbcapError, FilterError, InterfaceError, OutputError, TranslateError
from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN

PREFIX = "ebcap-"                   # Wireshark's interface name is PREFIX + the kernel's name
WRAPPER_NAME = "ebcap"              # the executable --install puts into Wireshark's extcap folder
DOCS = Path(__file__).resolve().parents[2] / "docs" / "extcap.md"
STOP_GRACE_SECONDS = 10.0           # SIGTERM to the child, then SIGKILL
POLL_MILLISECONDS = 200             # how soon a stop request starts the grace period
FIFO_RETRY_SECONDS = 0.05           # how often to retry opening the fifo before its reader exists
PR_SET_PDEATHSIG = 1
# Wireshark's EXTCAP_BOOLEAN_REGEX: how it reads a boolean option's value itself
BOOLEAN_TRUE = re.compile(r"^.*([yt1-9])", re.IGNORECASE)


@dataclass(frozen=True)
class ConfigArg:
    """One option in Wireshark's interface dialog; `call` is also this module's flag for it."""

    number: int
    call: str
    display: str
    tooltip: str
    type: str
    default: str
    range: tuple[int, int] | None = None
    values: tuple[tuple[str, str], ...] = ()     # (value, display) for a selector

    def arg_line(self) -> str:
        extra = f"{{range={self.range[0]},{self.range[1]}}}" if self.range else ""
        default = "" if self.values else f"{{default={self.default}}}"
        return (f"arg {{number={self.number}}}{{call={self.call}}}{{display={self.display}}}"
                f"{{tooltip={self.tooltip}}}{{type={self.type}}}{extra}{default}")

    def value_lines(self) -> list[str]:
        return [f"value {{arg={self.number}}}{{value={value}}}{{display={display}}}"
                f"{{default={'true' if value == self.default else 'false'}}}"
                for value, display in self.values]


CONFIG_ARGS = (
    ConfigArg(0, "--snaplen", "Snapshot length",
              "Bytes copied per packet; 0 copies the headers only, up to the end of the "
              "transport header", "integer", "0", range=(0, MAXIMUM_SNAPLEN)),
    ConfigArg(1, "--direction", "Direction",
              "Packets to capture, chosen in the kernel by the TC hooks attached", "selector",
              "inout", values=(("inout", "In and out"), ("in", "In (ingress)"),
                               ("out", "Out (egress)"))),
    ConfigArg(2, "--promiscuous", "Promiscuous mode",
              "Put the interface in promiscuous mode while capturing", "boolean", "true"),
    ConfigArg(3, "--buffer-kib", "Ring buffer (KiB)",
              "Kernel ring buffer size, rounded up to a power of two; 0 uses ebcap's default",
              "unsigned", "0", range=(0, 1 << 20)),
)


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


# --- the answers to Wireshark's questions ---------------------------------------------------

def version_line() -> str:
    help_url = f"{{help={DOCS.as_uri()}}}" if DOCS.exists() else ""
    return f"extcap {{version={__version__}}}{help_url}"


def interface_lines() -> list[str]:
    """One line per local interface whose link type ebcap captures, in ifindex order."""
    from ebcap.capture.net.interfaces import linktype
    lines = []
    for _index, name in sorted(socket.if_nameindex()):
        try:
            linktype(name)
        except InterfaceError:
            continue
        lines.append(f"interface {{value={PREFIX}{name}}}"
                     f"{{display=ebcap: {name} (eBPF, filter in kernel)}}")
    return lines


def kernel_name(interface: str) -> str:
    """`ebcap-veth0` -> `veth0`."""
    if not interface.startswith(PREFIX) or len(interface) == len(PREFIX):
        raise InterfaceError(f"{interface}: not an ebcap interface (expected {PREFIX}IFNAME)")
    return interface[len(PREFIX):]


def dlt_lines(interface: str) -> list[str]:
    from ebcap.capture.net.interfaces import LINKTYPE_NAMES, linktype
    dlt = linktype(kernel_name(interface))
    short, display = LINKTYPE_NAMES[dlt]
    return [f"dlt {{number={int(dlt)}}}{{name={short}}}{{display={display}}}"]


def config_lines(reload_option: str | None = None) -> list[str]:
    """All options, or with `reload_option` only the values of that one (none is reloadable,
    so this answers with the same list Wireshark already has)."""
    if reload_option is not None:
        call = "--" + reload_option.lstrip("-")
        return [line for arg in CONFIG_ARGS if arg.call == call for line in arg.value_lines()]
    return ([arg.arg_line() for arg in CONFIG_ARGS]
            + [line for arg in CONFIG_ARGS for line in arg.value_lines()])


def filter_problem(expression: str, interface: str) -> str | None:
    """None if ebcap can run `expression` on `interface`, else the message to show: libpcap's,
    or the translator's for a filter libpcap accepts but the kernel program cannot express."""
    from ebcap.capture.filter.translate import translate
    from ebcap.capture.net.interfaces import linktype
    from ebcap.capture.filter.libpcap import compile_filter
    dlt = linktype(kernel_name(interface))
    try:
        translate(compile_filter(expression, dlt))
    except (FilterError, TranslateError) as exc:
        return str(exc)
    return None


# --- the capture ----------------------------------------------------------------------------

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


class _StopForwarder:
    """SIGTERM/SIGINT/SIGHUP set a flag and are passed on to the child as SIGTERM."""

    def __init__(self):
        self.requested = False
        self.child_pid: int | None = None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        self.forward()

    def forward(self) -> None:
        if self.child_pid is not None:
            try:
                os.kill(self.child_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _open_fifo(path: str, stop: _StopForwarder) -> int | None:
    """The fifo's write end, once Wireshark has opened its read end; None if told to stop first.
    O_NONBLOCK fails with ENXIO while there is no reader, so a SIGTERM is noticed while waiting
    (a blocking open would be restarted after the signal handler returns)."""
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CREAT | os.O_CLOEXEC
    while not stop.requested:
        try:
            fd = os.open(path, flags, 0o644)
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


def _supervise(child: subprocess.Popen, fifo_fd: int, stop: _StopForwarder) -> bytes:
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
                stop.requested = True
                stop.forward()
            elif events & (select.POLLIN | select.POLLHUP):
                chunk = os.read(err_fd, 65536)
                if not chunk:               # the child has exited
                    return bytes(stderr)
                stderr += chunk
        if stop.requested and kill_at is None:
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
    stop = _StopForwarder()
    stop.install()
    fifo_fd = _open_fifo(request.fifo, stop)
    if fifo_fd is None:
        return 0
    try:
        parent = os.getpid()
        child = subprocess.Popen(ebcap_argv(request), stdin=subprocess.DEVNULL, stdout=fifo_fd,
                                 stderr=subprocess.PIPE, preexec_fn=lambda: _die_with_parent(parent))
        stop.child_pid = child.pid
        if stop.requested:                  # the signal came while the child was starting
            stop.forward()
        stderr = _supervise(child, fifo_fd, stop)
        status = child.wait()
    finally:
        os.close(fifo_fd)
    stop.child_pid = None
    errors = [line.removeprefix("ebcap: ") for line in stderr.decode(errors="replace").splitlines()
              if line.startswith("ebcap: ") and not line.startswith("ebcap: listening on")]
    # Stopped on request, ebcap may still exit non-zero without a word: writing its last block
    # into a fifo Wireshark has closed fails with EPIPE, which click turns into exit status 1.
    if status == 0 or (stop.requested and not errors):
        return 0
    raise EbcapError(errors[-1] if errors else f"ebcap exited with status {status}")


# --- installing into Wireshark --------------------------------------------------------------

def wireshark_folders(tshark: str = "tshark") -> dict[str, str]:
    """`tshark -G folders` as {label: path} (the first line of each label)."""
    try:
        out = subprocess.run([tshark, "-G", "folders"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EbcapError(f"cannot ask Wireshark for its folders ({tshark} -G folders: {exc}); "
                         "install tshark or pass --dir") from None
    return parse_folders(out)


def parse_folders(text: str) -> dict[str, str]:
    folders: dict[str, str] = {}
    for line in text.splitlines():
        label, sep, path = line.partition(":")
        if sep and path.strip():
            folders.setdefault(label.strip(), path.strip())
    return folders


def extcap_folder(folders: dict[str, str], system: bool) -> Path:
    """Wireshark 4.2 and later name both folders; 4.0 shows only the global one as "Extcap
    path" and looks for personal extcaps in "<personal configuration>/extcap"."""
    if system:
        path = folders.get("Global Extcap path") or folders.get("Extcap path")
    elif "Personal Extcap path" in folders:
        path = folders["Personal Extcap path"]
    else:
        base = folders.get("Personal configuration")
        path = str(Path(base) / "extcap") if base else None
    if not path:
        raise EbcapError("Wireshark did not name its extcap folder; pass --dir")
    return Path(path)


def wrapper_text(python: str) -> str:
    return ("#!/bin/sh\n"
            "# Wireshark extcap for ebcap, written by `python -I -m ebcap.capture.extcap.command --install`.\n"
            f"exec {shlex.quote(python)} -I -m ebcap.capture.extcap.command \"$@\"\n")


def install(folder: Path, python: str = sys.executable) -> Path:
    """Write the wrapper (atomically, mode 0755) and return its path."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / WRAPPER_NAME
        temporary = folder / f".{WRAPPER_NAME}.{os.getpid()}"
        temporary.write_text(wrapper_text(python))
        temporary.chmod(0o755)
        temporary.replace(target)
    except OSError as exc:
        raise OutputError(f"{folder}: {exc.strerror or exc}") from None
    return target


def uninstall(folder: Path) -> Path:
    target = folder / WRAPPER_NAME
    try:
        target.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"{target}: {exc.strerror or exc}") from None
    return target


# --- command line ---------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise EbcapError(message)


def _boolean(text: str) -> bool:
    return BOOLEAN_TRUE.match(text) is not None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -I -m ebcap.capture.extcap.command", allow_abbrev=False, description=(
        "Wireshark extcap for ebcap. Install with --install; Wireshark then runs this itself."))
    p.add_argument("--extcap-interfaces", action="store_true")
    p.add_argument("--extcap-version", nargs="?", const="", metavar="WIRESHARK_VERSION")
    p.add_argument("--extcap-interface", metavar="IF")
    p.add_argument("--extcap-dlts", action="store_true")
    p.add_argument("--extcap-config", action="store_true")
    p.add_argument("--extcap-reload-option", metavar="OPTION")
    p.add_argument("--extcap-capture-filter", metavar="EXPR")
    p.add_argument("--extcap-control-in", help=argparse.SUPPRESS)    # no toolbar: ignored
    p.add_argument("--extcap-control-out", help=argparse.SUPPRESS)
    p.add_argument("--capture", action="store_true")
    p.add_argument("--fifo", metavar="PATH")
    snaplen, direction, promiscuous, buffer_kib = CONFIG_ARGS
    p.add_argument(snaplen.call, type=int, default=int(snaplen.default), metavar="N")
    p.add_argument(direction.call, choices=DIRECTIONS, default=direction.default)
    p.add_argument(promiscuous.call, type=_boolean, nargs="?", const=True,
                   default=_boolean(promiscuous.default), metavar="BOOL")
    p.add_argument(buffer_kib.call, type=int, default=int(buffer_kib.default), metavar="KiB")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--install", action="store_true",
                       help="write the extcap wrapper into Wireshark's extcap folder")
    where.add_argument("--uninstall", action="store_true", help="remove it")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--user", action="store_true", help="personal folder (the default)")
    scope.add_argument("--system", action="store_true", help="global folder (needs root)")
    scope.add_argument("--dir", metavar="DIR", help="this folder")
    return p


def program(args: argparse.Namespace) -> int:
    """Answer one Wireshark call; errors go up to main()."""
    if args.install or args.uninstall:
        folder = (Path(args.dir) if args.dir
                  else extcap_folder(wireshark_folders(), system=args.system))
        print(install(folder) if args.install else uninstall(folder))
        return 0
    if args.extcap_interfaces or (args.extcap_version is not None and not args.extcap_interface):
        print(version_line())
        if args.extcap_interfaces:
            print("\n".join(interface_lines()))
        return 0
    if not args.extcap_interface:
        raise EbcapError("--extcap-interface is required (or --extcap-interfaces, --install)")
    if args.capture:
        if not args.fifo:
            raise EbcapError("--capture needs --fifo")
        if not 0 <= args.snaplen <= MAXIMUM_SNAPLEN or args.buffer_kib < 0:
            raise EbcapError("--snaplen or --buffer-kib out of range")
        return run_capture(CaptureRequest(
            interface=kernel_name(args.extcap_interface), fifo=args.fifo,
            expression=args.extcap_capture_filter or "", snaplen=args.snaplen,
            direction=args.direction, promiscuous=args.promiscuous,
            buffer_kib=args.buffer_kib))
    if args.extcap_dlts:
        print("\n".join(dlt_lines(args.extcap_interface)))
        return 0
    if args.extcap_config or args.extcap_reload_option is not None:
        print("\n".join(config_lines(args.extcap_reload_option)))
        return 0
    if args.extcap_capture_filter is not None:
        # Wireshark's protocol: an empty stdout means valid, else its first line is the error
        # shown under the filter field; a non-zero exit would mean "could not check".
        problem = filter_problem(args.extcap_capture_filter, args.extcap_interface)
        if problem:
            print(problem)
        return 0
    raise EbcapError("nothing to do: give --extcap-dlts, --extcap-config, "
                     "--extcap-capture-filter or --capture")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        status = program(build_parser().parse_args(argv))
    except EbcapError as exc:
        print(f"ebcap: {exc}", file=sys.stderr)
        status = exc.exit_status
    except BrokenPipeError:
        status = 0
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)


if __name__ == "__main__":
    main()
