"""`ebcap extcap ...`: Wireshark's calls parsed with argparse (its flag names are Wireshark's,
not ebcap's), each answered by protocol.py, supervise.py or install.py."""

from __future__ import annotations

import argparse
from pathlib import Path

import click

from ebcap.capture.cli.exit import ExitStatus
from ebcap.capture.config import DIRECTIONS
from ebcap.capture.errors import EbcapError
from ebcap.capture.extcap.install import extcap_folder, install, uninstall, wireshark_folders
from ebcap.capture.extcap.protocol import (BOOLEAN_TRUE, CONFIG_ARGS, config_lines, dlt_lines,
                                           filter_problem, interface_lines, kernel_name,
                                           version_line)
from ebcap.capture.extcap.supervise import CaptureRequest, run_capture
from ebcap.capture.filter.libpcap import MAXIMUM_SNAPLEN


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise EbcapError(message)


def _boolean(text: str) -> bool:
    return BOOLEAN_TRUE.match(text) is not None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ebcap extcap", allow_abbrev=False, description=(
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
    """Answer one Wireshark call; errors go up to capture/cli/main.py's run()."""
    if args.install or args.uninstall:
        folder = (Path(args.dir) if args.dir
                  else extcap_folder(wireshark_folders(), system=args.system))
        print(install(folder) if args.install else uninstall(folder))
        return ExitStatus.SUCCESS
    if args.extcap_interfaces or (args.extcap_version is not None and not args.extcap_interface):
        print(version_line())
        if args.extcap_interfaces:
            print("\n".join(interface_lines()))
        return ExitStatus.SUCCESS
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
        return ExitStatus.SUCCESS
    if args.extcap_config or args.extcap_reload_option is not None:
        print("\n".join(config_lines(args.extcap_reload_option)))
        return ExitStatus.SUCCESS
    if args.extcap_capture_filter is not None:
        # Wireshark's protocol: an empty stdout means valid, else its first line is the error
        # shown under the filter field; a non-zero exit would mean "could not check".
        problem = filter_problem(args.extcap_capture_filter, args.extcap_interface)
        if problem:
            print(problem)
        return ExitStatus.SUCCESS
    raise EbcapError("nothing to do: give --extcap-dlts, --extcap-config, "
                     "--extcap-capture-filter or --capture")


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []},
               add_help_option=False, help="The Wireshark extcap (see docs/extcap.md).")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def extcap(arguments: tuple[str, ...]) -> int:
    return program(build_parser().parse_args(list(arguments)))
