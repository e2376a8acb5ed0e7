"""The console script `ebcap`. Before the command line's imports (click, the session: ~55 ms),
it lets capture/kernel/prefetch.py begin the kernel work a capture with this same command line
did last time, so that the verifier runs meanwhile; then the CLI runs as always."""

from __future__ import annotations

import sys


def main() -> None:
    from ebcap.capture.kernel import prefetch
    prefetch.start(sys.argv[1:])
    from ebcap.capture.cli.main import main as cli_main
    cli_main()
