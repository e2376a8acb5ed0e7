"""The command line: `ebcap [capture flags] [EXPRESSION]` (the default command, tcpdump's flags)
and the subcommands `ebcap bench`, `ebcap doctor`, `ebcap extcap`. Click parses into a
CaptureConfig and `program()` (capture/cli/program.py) does the work; `run()` maps every error
to one stderr line and an ExitStatus, for every entry point alike."""

from __future__ import annotations

import importlib
import sys

import click

from ebcap.capture import __version__
from ebcap.capture.cli.checks import build_config, check_linktype
from ebcap.capture.cli.exit import ExitStatus
from ebcap.capture.cli.options import capture_options
from ebcap.capture.cli.program import finish, guarded, program

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
CAPTURE = "capture"             # the default command's name: never typed
# Subcommands, imported only when used: `ebcap -i eth0` never loads the bench.
SUBCOMMANDS = {
    "bench": "ebcap.capture.bench.cli:bench",
    "doctor": "ebcap.capture.cli.main:doctor",
    "extcap": "ebcap.capture.extcap.command:extcap",
}


class _ReaderGone(Exception):
    """stdout's reader went away. Raised instead of BrokenPipeError, which click turns into a
    bare exit status 1 when standalone_mode is off."""


class EbcapGroup(click.Group):
    """A group whose default command is the capture: a first word that names no subcommand
    (an option, a filter word, `--`) goes to it, so `ebcap host doctor` and `ebcap -- doctor`
    capture that host while `ebcap doctor` runs the doctor."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == CAPTURE:
            return capture_command
        if name not in SUBCOMMANDS:
            return None
        module, _, attribute = SUBCOMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in SUBCOMMANDS:
            args = [CAPTURE, *args]
        return super().parse_args(ctx, args)


class CaptureCommand(click.Command):
    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("ebcap", "[OPTIONS] [EXPRESSION]...")
        formatter.write_usage("ebcap", "{bench|doctor|extcap} [ARGS]...")


@click.group(cls=EbcapGroup, context_settings=CONTEXT)
def cli() -> None:
    pass


@click.command(cls=CaptureCommand, context_settings=CONTEXT, help=(
    "Capture packets with eBPF: the pcap filter EXPRESSION runs in the kernel at the interface's "
    "TC hooks and only matching packets (headers only unless -s) reach user space. Flags follow "
    "tcpdump. Subcommands: `ebcap bench` measures overhead against tcpdump, `ebcap doctor` shows "
    "what this host supports, `ebcap extcap` is the Wireshark extcap (`ebcap extcap --install`)."))
@capture_options
@click.version_option(__version__, "--version", prog_name="ebcap")
def capture_command(**o) -> int:
    if o["doctor"]:
        from ebcap.capture.cli.doctor import run_doctor
        return run_doctor()
    if o["list_interfaces"]:
        from ebcap.capture.net.interfaces import list_interfaces
        if o["netns"]:
            from ebcap.capture.net.netns import enter
            enter(o["netns"])
        print("\n".join(list_interfaces()))
        return ExitStatus.SUCCESS
    if o["list_dlts"] or o["linktype"]:
        check_linktype(o)
        if o["list_dlts"]:
            return ExitStatus.SUCCESS
    config = build_config(o)
    from ebcap.capture.kernel import prefetch
    prefetch.remember_config(config, _config_inputs(o))
    try:
        return program(config)
    except BrokenPipeError:
        raise _ReaderGone from None


def _config_inputs(o: dict) -> list[str]:
    """The files a command line's CaptureConfig is made from besides argv (prefetch.py's record
    keeps their stamps): the code that parses and checks it, click's included, and -F's file."""
    from ebcap.capture import config
    from ebcap.capture.cli import checks, options
    files = [__file__, options.__file__, checks.__file__, config.__file__,
             sys.modules["click.core"].__file__, sys.modules["click.parser"].__file__,
             sys.modules["click.types"].__file__]
    return files + [o["filter_file"]] if o["filter_file"] else files


@click.command(context_settings=CONTEXT, help="Show what this host offers ebcap, one line per "
               "feature (kernel, BPF, capabilities, BTF, attachments, BCC, headers, cache).")
def doctor() -> int:
    from ebcap.capture.cli.doctor import run_doctor
    return run_doctor()


def run(argv: list[str]) -> int:
    """Run one command line in this process; returns the exit status."""
    def work() -> int | None:
        try:
            return cli.main(argv, prog_name="ebcap", standalone_mode=False)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.exceptions.Abort:
            return ExitStatus.ERROR
        except click.ClickException as exc:
            print(f"ebcap: {exc.format_message()}", file=sys.stderr)
            return ExitStatus.ERROR
        except _ReaderGone:
            raise BrokenPipeError from None
    return guarded(work, "--debug" in argv)


def main() -> None:
    """The console script."""
    finish(run(sys.argv[1:]))
