"""The command line: click parses tcpdump's flags into a CaptureConfig; main() maps errors to one
stderr line and an exit status. Nothing here captures."""

from __future__ import annotations

import os
import sys
import traceback

import click

from ebcap.capture import __version__
from ebcap.capture.config import DIRECTIONS, CaptureConfig, parse_snaplen
from ebcap.capture.errors import EbcapError

class _ReaderGone(Exception):
    """stdout's reader went away. Raised instead of BrokenPipeError, which click turns into a
    bare exit status 1 when standalone_mode is off."""


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _read_filter_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise EbcapError(f"{path}: {exc.strerror}") from None
    # tcpdump: '#' starts a comment to the end of the line in -F files
    return " ".join(line.split("#", 1)[0] for line in text.splitlines()).strip()


def _print_options(o: dict):
    from ebcap.dissectors.options import PrintOptions, TimestampMode
    return PrintOptions(
        numeric=o["n"] > 0, timestamp_mode=TimestampMode(min(o["t"], TimestampMode.DELTA_FIRST)), link_header=o["e"], quiet=o["q"],
        verbose=o["v"], hex=o["x"], hex_ascii=o["X"], ascii=int(o["A"]), absolute_seq=o["S"],
        no_checksum=o["K"], tree=o["tree"], json=o["json"],
        nano=o["time_stamp_precision"] == "nano",
    )


@click.command(context_settings=CONTEXT, help=(
    "Capture packets with eBPF: the pcap filter EXPRESSION runs in the kernel at the interface's "
    "TC hooks and only matching packets (headers only unless -s) reach user space. "
    "Flags follow tcpdump. Subcommand: `ebcap bench` measures overhead against tcpdump."))
@click.option("-i", "--interface", "interfaces", multiple=True, metavar="IF",
              help="Interface to capture on.")
@click.option("-w", "write_to", metavar="FILE", help="Write pcapng to FILE ('-' = stdout).")
@click.option("-r", "read_from", metavar="FILE",
              help="Read pcap/pcapng FILE ('-' = stdin) through the same kernel filter.")
@click.option("-c", "count", type=click.IntRange(min=1), help="Stop after N packets.")
@click.option("-s", "--snapshot-length", "snaplen", type=click.IntRange(min=0), metavar="N",
              help="Copy up to N bytes per packet (0 = 262144). Default live: headers only.")
@click.option("--headers-only", is_flag=True,
              help="Copy only up to the end of the transport header (the live default).")
@click.option("-Q", "--direction", type=click.Choice(DIRECTIONS), default="inout",
              help="Capture direction, chosen in the kernel.")
@click.option("-D", "--list-interfaces", is_flag=True, help="List interfaces and exit.")
@click.option("-L", "--list-data-link-types", "list_dlts", is_flag=True,
              help="List the interface's data link types and exit.")
@click.option("-y", "--linktype", metavar="TYPE",
              help="Data link type (only the interface's own: EN10MB, or RAW on tun).")
@click.option("-d", "dump", count=True, help="Print the compiled classic BPF and exit (-dd, -ddd).")
@click.option("--dump-c", is_flag=True, help="Print the exact C program that is compiled, and exit.")
@click.option("-U", "--packet-buffered", is_flag=True, help="Write each packet as it arrives.")
@click.option("-p", "--no-promiscuous-mode", is_flag=True, help="Do not enter promiscuous mode.")
@click.option("-B", "--buffer-size", type=click.IntRange(min=1), metavar="KiB",
              help="Ring buffer size in KiB (rounded up to a power of two).")
@click.option("-C", "rotate_size", type=click.IntRange(min=1), metavar="SIZE",
              help="Start a new file when the current one exceeds SIZE x 1,000,000 bytes.")
@click.option("-G", "rotate_seconds", type=click.IntRange(min=1), metavar="SECONDS",
              help="Start a new file every SECONDS (-w may hold strftime fields).")
@click.option("-W", "max_files", type=click.IntRange(min=1), metavar="N",
              help="With -C: a ring of N files. With -G: stop after N files.")
@click.option("-Z", "--relinquish-privileges", "user", metavar="USER",
              help="Drop root for USER once attached, before opening output files.")
@click.option("--netns", metavar="NAME|PATH|PID",
              help="Capture in this network namespace (ip netns name, ns file or PID).")
@click.option("-F", "filter_file", metavar="FILE", help="Read the filter expression from FILE.")
@click.option("-n", "n", count=True, help="Don't resolve names (-nn accepted).")
@click.option("-t", "t", count=True, help="Timestamps: -t none, -tt epoch, -ttt delta, -tttt date, "
              "-ttttt since first.")
@click.option("-e", "e", is_flag=True, help="Print the link-level header.")
@click.option("-q", "q", is_flag=True, help="Quick (short) output.")
@click.option("-v", "v", count=True, help="Verbose output (-vv more).")
@click.option("-x", "x", count=True, help="Hex dump (-xx with link header).")
@click.option("-X", "X", count=True, help="Hex and ASCII dump (-XX with link header).")
@click.option("-A", "A", is_flag=True, help="ASCII dump.")
@click.option("-S", "S", is_flag=True, help="Absolute TCP sequence numbers.")
@click.option("-K", "K", is_flag=True, help="Don't verify checksums.")
@click.option("-l", "l", is_flag=True, help="Line-buffered output.")
@click.option("-V", "--tree", is_flag=True, help="Print the full layer tree of each packet.")
@click.option("--json", is_flag=True, help="One JSON object per packet (ndjson).")
@click.option("--print", "print_packets", is_flag=True, help="Print packets while writing -w.")
@click.option("--time-stamp-precision", type=click.Choice(["micro", "nano"]), default="micro",
              help="Printed timestamp precision.")
@click.option("--filters-from", metavar="LIST",
              help="With -r and --out-dir: run every expression in LIST (one a line).")
@click.option("--out-dir", metavar="DIR", help="Where --filters-from writes NNNN.pcapng.")
@click.option("--doctor", is_flag=True, help="Show what this host supports for ebcap, and exit.")
@click.option("--debug", is_flag=True, help="Show tracebacks and BPF build logs on errors.")
@click.version_option(__version__, "--version", prog_name="ebcap")
@click.argument("expression", nargs=-1)
def capture_command(**o) -> int:
    if o["doctor"]:
        from ebcap.capture.cli.doctor import run_doctor
        return run_doctor()
    if o["list_interfaces"]:
        from ebcap.capture.net.interfaces import list_interfaces
        print("\n".join(list_interfaces()))
        return 0
    if o["list_dlts"] or o["linktype"]:
        _check_linktype(o)
        if o["list_dlts"]:
            return 0
    expression = " ".join(o["expression"])
    if o["filter_file"]:
        expression = _read_filter_file(o["filter_file"])
    reading = o["read_from"] is not None
    snaplen = parse_snaplen(o["snaplen"], reading)
    if o["headers_only"]:
        snaplen = 0
    config = CaptureConfig(
        interfaces=tuple(o["interfaces"]), expression=expression, read_from=o["read_from"],
        write_to=o["write_to"], count=o["count"] or 0, snaplen=snaplen,
        direction=o["direction"], promiscuous=not o["no_promiscuous_mode"],
        buffer_kib=o["buffer_size"], packet_buffered=o["packet_buffered"],
        print_packets=o["print_packets"], line_buffered=o["l"], dump_level=o["dump"],
        dump_c=o["dump_c"], verbose=o["v"], debug=o["debug"],
        rotate_size=o["rotate_size"] * 1_000_000 if o["rotate_size"] else None,
        rotate_seconds=o["rotate_seconds"], max_files=o["max_files"], user=o["user"],
        netns=o["netns"],
        extra={"filters_from": o["filters_from"], "out_dir": o["out_dir"]}
        if o["filters_from"] else {},
        print_options=_print_options(o) if (o["write_to"] is None or o["print_packets"]) else None,
    )
    try:
        return program(config)
    except BrokenPipeError:
        raise _ReaderGone from None


def _check_linktype(o: dict) -> None:
    """-L lists, -y checks: at TC a packet starts with the interface's own link layer, so that is
    the one link type ebcap offers (tcpdump offers more only where the driver does)."""
    from ebcap.capture.net.interfaces import describe_linktype, linktype
    if o["netns"]:
        from ebcap.capture.net.netns import enter
        enter(o["netns"])
    name = (o["interfaces"] or ("",))[0]
    if not name:
        raise EbcapError("-L and -y need -i INTERFACE")
    dlt = linktype(name)
    if o["list_dlts"]:
        # tcpdump prints this list on stderr
        print(f"Data link types for {name} (use option -y to set):", file=sys.stderr)
        print(f"  {describe_linktype(dlt)}", file=sys.stderr)
    if o["linktype"]:
        from ebcap.capture.filter.libpcap import datalink_value, dlt_of
        wanted = datalink_value(o["linktype"])
        if wanted is None:
            raise EbcapError(f"invalid data link type {o['linktype']}")
        if wanted != dlt_of(dlt):
            raise EbcapError(f"{o['linktype']} is not one of the DLTs supported by this device")


def program(config: CaptureConfig) -> int:
    """Do the work; errors go up to main()."""
    if config.dump_level:
        from ebcap.capture.filter.libpcap import compile_filter, dump_program
        from ebcap.capture.net.interfaces import linktype
        if config.read_from:
            from ebcap.capture.session.offline import file_linktype
            dlt = file_linktype(config.read_from)
        else:
            dlt = linktype(config.interfaces[0]) if config.interfaces else 1
        print(dump_program(compile_filter(config.expression, dlt), config.dump_level))
        return 0
    if config.extra.get("filters_from") and not (config.read_from and config.extra["out_dir"]):
        raise EbcapError("--filters-from needs -r FILE and --out-dir DIR")
    if (config.rotate_size or config.rotate_seconds) and not config.write_to:
        raise EbcapError("-C and -G need -w FILE")
    if config.max_files and not (config.rotate_size or config.rotate_seconds):
        raise EbcapError("-W needs -C or -G")
    if config.read_from is not None:
        if config.extra.get("filters_from"):
            from ebcap.capture.session.offline import run_filter_batch
            return run_filter_batch(config, config.extra["filters_from"], config.extra["out_dir"])
        from ebcap.capture.session.offline import run_offline
        return run_offline(config)
    from ebcap.capture.kernel.program import check_bpf_privileges
    check_bpf_privileges()
    from ebcap.capture.session.live import run_live
    return run_live(config)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if debug:
        from ebcap.capture import debug as debug_notes
        debug_notes.enabled = True
    try:
        if argv and argv[0] == "bench":
            from ebcap.capture.bench.cli import bench
            status = bench.main(argv[1:], prog_name="ebcap bench", standalone_mode=False)
        else:
            status = capture_command.main(argv, prog_name="ebcap", standalone_mode=False)
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except click.exceptions.Abort:
        status = 1
    except click.ClickException as exc:
        print(f"ebcap: {exc.format_message()}", file=sys.stderr)
        status = 1
    except EbcapError as exc:
        if debug:
            traceback.print_exc()
        print(f"ebcap: {exc}", file=sys.stderr)
        status = exc.exit_status
    except (_ReaderGone, BrokenPipeError):
        # the reader of -w - or of our lines went away: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    except KeyboardInterrupt:
        status = 130
    except Exception as exc:        # a bug: still one line, the traceback with --debug
        if debug:
            traceback.print_exc()
        print(f"ebcap: internal error: {type(exc).__name__}: {exc} (run with --debug for "
              "details)", file=sys.stderr)
        status = 2
    status = status if isinstance(status, int) else 0
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    # Skip the interpreter's teardown (BCC's atexit clean-up walks every table and module): the
    # kernel drops programs, maps and links with the fds. Measured: 0.07 s of CPU per exit.
    os._exit(status)
