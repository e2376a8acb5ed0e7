"""From parsed options to a CaptureConfig: the -F file, snaplen, print options, and the checks
of flag combinations (one clear line for each, before anything is attached)."""

from __future__ import annotations

import os
import sys

from ebcap.capture.config import CaptureConfig, parse_snaplen
from ebcap.capture.errors import EbcapError


def read_filter_file(path: str) -> str:
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
        numeric=o["n"] > 0, timestamp_mode=TimestampMode(min(o["t"], TimestampMode.DELTA_FIRST)),
        link_header=o["e"], quiet=o["q"], verbose=o["v"], hex=o["x"], hex_ascii=o["X"],
        ascii=int(o["A"]), absolute_seq=o["S"], no_checksum=o["K"], tree=o["tree"],
        json=o["json"], nano=o["time_stamp_precision"] == "nano",
    )


def build_config(o: dict) -> CaptureConfig:
    expression = " ".join(o["expression"])
    if o["filter_file"]:
        expression = read_filter_file(o["filter_file"])
    snaplen = 0 if o["headers_only"] else parse_snaplen(o["snaplen"], o["read_from"] is not None)
    config = CaptureConfig(
        interfaces=tuple(o["interfaces"]), expression=expression, read_from=o["read_from"],
        write_to=o["write_to"], count=o["count"] or 0, snaplen=snaplen,
        direction=o["direction"], promiscuous=not o["no_promiscuous_mode"],
        buffer_kib=o["buffer_size"], packet_buffered=o["packet_buffered"],
        print_packets=o["print_packets"], line_buffered=o["l"], dump_level=o["dump"],
        dump_c=o["dump_c"], dump_ebpf=o["dump_ebpf"], verbose=o["v"], debug=o["debug"],
        rotate_size=o["rotate_size"] * 1_000_000 if o["rotate_size"] else None,
        rotate_seconds=o["rotate_seconds"], max_files=o["max_files"], user=o["user"],
        netns=o["netns"], filters_from=o["filters_from"], out_dir=o["out_dir"], drops=o["drops"],
        drop_reasons=tuple(o["drop_reasons"]),
        owners=o["owners"] or bool(o["pids"] or o["comms"] or o["cgroup"] or o["run"]),
        pids=tuple(dict.fromkeys(o["pids"])), comms=tuple(dict.fromkeys(o["comms"])),
        cgroup=o["cgroup"], run=o["run"],
        print_options=_print_options(o) if (o["write_to"] is None or o["print_packets"])
        else None,
    )
    check_combinations(config)
    return config


def check_combinations(config: CaptureConfig) -> None:
    if config.filters_from and not (config.read_from and config.out_dir):
        raise EbcapError("--filters-from needs -r FILE and --out-dir DIR")
    if (config.rotate_size or config.rotate_seconds) and not config.write_to:
        raise EbcapError("-C and -G need -w FILE")
    if config.max_files and not (config.rotate_size or config.rotate_seconds):
        raise EbcapError("-W needs -C or -G")
    if config.owners and config.read_from:
        raise EbcapError("--owners, --pid, --comm, --cgroup and --run need a live capture (-r "
                         "prints a file's owners by itself)")
    check_owner_filters(config)
    if config.drops:
        check_drops(config)
    elif config.drop_reasons:
        raise EbcapError("--drop-reason needs --drops")


def check_owner_filters(config: CaptureConfig) -> None:
    """Each filter names something that exists (--cgroup's is looked up when the capture
    starts, where the cgroup v2 hierarchy is found, before anything is attached)."""
    for pid in config.pids:
        if not os.path.exists(f"/proc/{pid}"):
            raise EbcapError(f"--pid {pid}: no such process")
    for comm in config.comms:
        if not comm or "/" in comm or "\0" in comm:
            raise EbcapError(f"--comm {comm!r}: not a process name")
    from ebcap.capture.kernel.owners import MAX_COMMS
    if len(config.comms) > MAX_COMMS:
        raise EbcapError(f"--comm can be given at most {MAX_COMMS} times")
    if config.run is not None:
        if config.cgroup is not None:
            raise EbcapError("--run and --cgroup cannot be used together (--run captures the "
                             "cgroup it makes for the command)")
        from ebcap.capture.session.owners_run import command_argv
        command_argv(config.run)


def check_drops(config: CaptureConfig) -> None:
    """What --drops cannot do (yet): a dropped packet is not read from a file, and its program
    is not ebcap.c (whose dumps these are)."""
    for given, flag in ((config.read_from is not None, "-r"),
                        (config.dump_level or config.dump_c or config.dump_ebpf,
                         "-d, --dump-c and --dump-ebpf"),
                        (len([i for i in config.interfaces if i != "any"]) > 1, "several -i")):
        if given:
            raise EbcapError(f"--drops cannot be used with {flag}")


def check_linktype(o: dict) -> None:
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
