"""The capture command's options: tcpdump's flags, then ebcap's own. Only definitions here;
capture/cli/checks.py turns the parsed values into a CaptureConfig."""

from __future__ import annotations

import click

from ebcap.capture.config import DIRECTIONS


def _options(*decorators):
    def apply(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


capture_options = _options(
    click.option("-i", "--interface", "interfaces", multiple=True, metavar="IF",
                 help="Interface to capture on ('any': all, and those that appear)."),
    click.option("-w", "write_to", metavar="FILE", help="Write pcapng to FILE ('-' = stdout)."),
    click.option("-r", "read_from", metavar="FILE",
                 help="Read pcap/pcapng FILE ('-' = stdin) through the same kernel filter."),
    click.option("-c", "count", type=click.IntRange(min=1), help="Stop after N packets."),
    click.option("-s", "--snapshot-length", "snaplen", type=click.IntRange(min=0), metavar="N",
                 help="Copy up to N bytes per packet (0 = 262144). Default live: headers only."),
    click.option("--headers-only", is_flag=True,
                 help="Copy only up to the end of the transport header (the live default)."),
    click.option("-Q", "--direction", type=click.Choice(DIRECTIONS), default="inout",
                 help="Capture direction, chosen in the kernel."),
    click.option("-D", "--list-interfaces", is_flag=True, help="List interfaces and exit."),
    click.option("-L", "--list-data-link-types", "list_dlts", is_flag=True,
                 help="List the interface's data link types and exit."),
    click.option("-y", "--linktype", metavar="TYPE",
                 help="Data link type (only the interface's own: EN10MB, or RAW on tun)."),
    click.option("-d", "dump", count=True,
                 help="Print the compiled classic BPF and exit (-dd, -ddd)."),
    click.option("--dump-c", is_flag=True,
                 help="Print the exact C program that is compiled (for any filter), and exit."),
    click.option("--dump-ebpf", is_flag=True,
                 help="Print the eBPF program the kernel gets, the filter spliced in, and exit."),
    click.option("-U", "--packet-buffered", is_flag=True, help="Write each packet as it arrives."),
    click.option("-p", "--no-promiscuous-mode", is_flag=True, help="Do not enter promiscuous mode."),
    click.option("-B", "--buffer-size", type=click.IntRange(min=1), metavar="KiB",
                 help="Ring buffer size in KiB (rounded up to a power of two)."),
    click.option("-C", "rotate_size", type=click.IntRange(min=1), metavar="SIZE",
                 help="Start a new file when the current one exceeds SIZE x 1,000,000 bytes."),
    click.option("-G", "rotate_seconds", type=click.IntRange(min=1), metavar="SECONDS",
                 help="Start a new file every SECONDS (-w may hold strftime fields)."),
    click.option("-W", "max_files", type=click.IntRange(min=1), metavar="N",
                 help="With -C: a ring of N files. With -G: stop after N files."),
    click.option("-Z", "--relinquish-privileges", "user", metavar="USER",
                 help="Drop root for USER once attached, before opening output files."),
    click.option("--drops", is_flag=True,
                 help="Capture the packets the kernel drops (skb:kfree_skb), with the reason and "
                      "the place, in this network namespace."),
    click.option("--drop-reason", "drop_reasons", multiple=True, metavar="[!]NAME",
                 help="With --drops: only drops for this reason (the kernel's name, e.g. "
                      "NO_SOCKET); !NAME: all but it. Repeatable."),
    click.option("--netns", metavar="NAME|PATH|PID",
                 help="Capture in this network namespace (ip netns name, ns file or PID)."),
    click.option("-F", "filter_file", metavar="FILE", help="Read the filter expression from FILE."),
    click.option("-n", "n", count=True, help="Don't resolve names (-nn accepted)."),
    click.option("-t", "t", count=True, help="Timestamps: -t none, -tt epoch, -ttt delta, "
                 "-tttt date, -ttttt since first."),
    click.option("-e", "e", is_flag=True, help="Print the link-level header."),
    click.option("-q", "q", is_flag=True, help="Quick (short) output."),
    click.option("-v", "v", count=True, help="Verbose output (-vv more)."),
    click.option("-x", "x", count=True, help="Hex dump (-xx with link header)."),
    click.option("-X", "X", count=True, help="Hex and ASCII dump (-XX with link header)."),
    click.option("-A", "A", is_flag=True, help="ASCII dump."),
    click.option("-S", "S", is_flag=True, help="Absolute TCP sequence numbers."),
    click.option("-K", "K", is_flag=True, help="Don't verify checksums."),
    click.option("-l", "l", is_flag=True, help="Line-buffered output."),
    click.option("-V", "--tree", is_flag=True, help="Print the full layer tree of each packet."),
    click.option("--json", is_flag=True, help="One JSON object per packet (ndjson)."),
    click.option("--print", "print_packets", is_flag=True, help="Print packets while writing -w."),
    click.option("--time-stamp-precision", type=click.Choice(["micro", "nano"]), default="micro",
                 help="Printed timestamp precision."),
    click.option("--filters-from", metavar="LIST",
                 help="With -r and --out-dir: filter the file with every expression in LIST (one "
                      "a line), as `ebcap -r FILE -w DIR/NNNN.pcapng EXPR` each would."),
    click.option("--out-dir", metavar="DIR", help="Where --filters-from writes NNNN.pcapng."),
    click.option("--owners", is_flag=True,
                 help="Tag each packet with its socket's process (pcapng comments, ptcpdump's form)."),
    click.option("--pid", "pids", multiple=True, type=click.IntRange(min=1), metavar="PID",
                 help="Only this process's packets, decided in the kernel (repeatable; "
                      "implies --owners)."),
    click.option("--comm", "comms", multiple=True, metavar="NAME",
                 help="Only packets of processes (threads) with this name, the kernel's 15 "
                      "characters (repeatable; implies --owners)."),
    click.option("--cgroup", metavar="PATH",
                 help="Only packets of sockets made in this cgroup v2 or below it (PATH from "
                      "the hierarchy's root, e.g. /system.slice/nginx.service; implies --owners)."),
    click.option("--run", metavar="'CMD ARGS'",
                 help="Start CMD (as -Z USER, or as sudo's user), capture its and its "
                      "children's packets only, stop when it exits, exit with its status."),
    click.option("--doctor", is_flag=True, help="Same as `ebcap doctor`."),
    click.option("--debug", is_flag=True, help="Show tracebacks and BPF build logs on errors."),
    click.argument("expression", nargs=-1),
)
