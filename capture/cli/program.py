"""The work of a parsed command line and its one error table, without click: `ebcap` runs it
through click (capture/cli/main.py), and a command line whose capture ran before straight from
its record (capture/cli/launch.py, capture/kernel/prefetch.py). Either way every error ends as
one stderr line and an ExitStatus."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ebcap.capture.cli.exit import ExitStatus
from ebcap.capture.config import CaptureConfig
from ebcap.capture.errors import EbcapError


def program(config: CaptureConfig) -> int:
    """Do the work; errors go up to the caller (failure())."""
    if config.dump_level or config.dump_c or config.dump_ebpf:
        from ebcap.capture.session.dumps import print_dump
        return print_dump(config)
    if config.read_from is not None:
        if config.filters_from:
            from ebcap.capture.session.offline import run_filter_batch
            return run_filter_batch(config)
        from ebcap.capture.session.offline import run_offline
        return run_offline(config)
    from ebcap.capture.net.privileges import check_bpf_privileges
    check_bpf_privileges()
    if config.drops:
        from ebcap.capture.session.drops import run_drops
        return run_drops(config)
    from ebcap.capture.session.live import run_live
    return run_live(config)


def failure(exc: BaseException, debug: bool) -> int:
    """The exit status for an error that is not click's, its line printed."""
    if isinstance(exc, EbcapError):
        if debug:
            import traceback
            traceback.print_exc()
        print(f"ebcap: {exc}", file=sys.stderr)
        return ExitStatus.ERROR
    if isinstance(exc, BrokenPipeError):
        # the reader of -w - or of our lines went away: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.SUCCESS
    if isinstance(exc, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if not isinstance(exc, Exception):
        raise exc                   # SystemExit and the like are not errors
    if debug:                       # a bug: still one line, the traceback with --debug
        import traceback
        traceback.print_exc()
    print(f"ebcap: internal error: {type(exc).__name__}: {exc} (run with --debug for "
          "details)", file=sys.stderr)
    return ExitStatus.INTERNAL_ERROR


def guarded(work: Callable[[], int | None], debug: bool) -> int:
    """work()'s exit status, or failure()'s."""
    if debug:
        from ebcap.capture import debug as debug_notes
        debug_notes.enabled = True
    try:
        status = work()
    except BaseException as exc:
        status = failure(exc, debug)
    return int(status) if isinstance(status, int) else ExitStatus.SUCCESS


def run_recorded(config: CaptureConfig, debug: bool) -> int:
    """A command line's config from its record: the checks build_config() makes beyond the
    parsing (--pid's process must still exist...), then the work."""
    from ebcap.capture.cli.checks import check_combinations

    def work() -> int:
        check_combinations(config)
        return program(config)
    return guarded(work, debug)


def finish(status: int) -> None:
    """Exit with `status`, the output flushed."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    # Skip the interpreter's teardown (BCC's atexit clean-up walks every table and module): the
    # kernel drops programs, maps and links with the fds. Measured: 0.07 s of CPU per exit.
    os._exit(status)
