"""The console script `ebcap`. Before the command line's imports (click, the session: ~55 ms),
it lets capture/kernel/prefetch.py begin the kernel work a capture with this same command line
did last time, so that the verifier runs meanwhile; then the CLI runs as always, or, when the
record holds what click and the checks made of this command line, not even click: the recorded
config goes straight to the work (capture/cli/program.py). Importing click and parsing took
~25 ms of CPU of a warm start's ~110 (python -I, chrt, medians of 21)."""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    from ebcap.capture.kernel import prefetch
    prefetch.start(argv)
    config = prefetch.recorded_config()
    if config is not None:
        from ebcap.capture.cli.program import finish, run_recorded
        finish(run_recorded(config, "--debug" in argv))
    from ebcap.capture.cli.main import main as cli_main
    cli_main()
