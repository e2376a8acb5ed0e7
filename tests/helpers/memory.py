"""Peak RSS of a process, under an address-space limit.

wait4's ru_maxrss counts the memory a child had before it exec'd, and a child forked (or
vforked) from pytest starts as a copy of pytest: ~140 MB after the unit tests. So a small
Python parent (~10 MB, which the figure then includes) forks the measured program and reports
its ru_maxrss through a file.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

_PARENT = """
import os, resource, sys
limit, report, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


class MeasuredProcess:
    """`argv` started under RLIMIT_AS = `address_space`; `wait()` gives the exit status, and
    `peak_mb` is then its peak RSS."""

    def __init__(self, argv: list[str], address_space: int, **popen):
        self._report = tempfile.NamedTemporaryFile(prefix="ebcap-rss-", mode="r")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _PARENT, str(address_space), self._report.name,
             *argv], **popen)
        self.peak_mb: float | None = None

    def wait(self, timeout: float = 120) -> int:
        status = self.proc.wait(timeout)
        self.peak_mb = int(self._report.read() or 0) / 1024
        self._report.close()
        return status
