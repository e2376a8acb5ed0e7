"""--run 'CMD ARGS': ebcap starts the command in the cgroup it made for it
(capture/kernel/owners_cgroup.py), captures what the command and its children send and receive,
stops when the command exits, and exits with its status (as strace and time do).

Who the command runs as (docs/security.md's privilege rule: the command is the user's, not
ebcap's): with -Z USER, as USER; else, under sudo, as the user who ran sudo (SUDO_UID,
SUDO_GID, and SUDO_USER's groups); else as ebcap's own user. Changing user is done in the child
between fork and exec, after it has joined its cgroup (which needs root): its groups, gid and
uid, as `sudo -u` or `su` would; leaving uid 0 clears its capabilities. HOME, USER and LOGNAME
are that user's.

The command is started once every hook is attached, before ebcap itself drops root: its first
packet is captured (the ring holds it until the drain loop starts)."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass

from ebcap.capture.errors import EbcapError

TERM_WAIT_SECONDS = 5.0         # after SIGTERM, before SIGKILL, when ebcap stops first


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int
    groups: tuple[int, ...]
    name: str
    home: str


def command_argv(command: str) -> list[str]:
    """The command line, split as a shell would (no shell runs it); one clear error when there
    is no command or it cannot be found."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise EbcapError(f"--run: {exc}") from None
    if not argv:
        raise EbcapError("--run needs a command")
    if shutil.which(argv[0]) is None:
        raise EbcapError(f"--run: {argv[0]}: command not found")
    return argv


def run_as(user: str | None) -> RunAs | None:
    """The user the command runs as, None for ebcap's own."""
    if user is None:
        sudo_uid = os.environ.get("SUDO_UID", "")
        if os.geteuid() != 0 or not sudo_uid.isdigit() or int(sudo_uid) == 0:
            return None
        try:
            entry = pwd.getpwuid(int(sudo_uid))
        except KeyError:
            return None
        gid = int(os.environ["SUDO_GID"]) if os.environ.get("SUDO_GID", "").isdigit() \
            else entry.pw_gid
    else:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise EbcapError(f"Couldn't find user '{user}'") from None
        gid = entry.pw_gid
    return RunAs(entry.pw_uid, gid, tuple(os.getgrouplist(entry.pw_name, gid)), entry.pw_name,
                 entry.pw_dir)


class RunCommand:
    """The started command: when it has exited, `exited` is set and the stop callback called."""

    def __init__(self, argv: list[str], cgroup_dir: str, user: RunAs | None):
        procs = os.path.join(cgroup_dir, "cgroup.procs")
        env = dict(os.environ)
        if user is not None:
            env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)

        def enter() -> None:        # in the child, between fork and exec
            with open(procs, "w", encoding="ascii") as handle:
                handle.write("0")
            if user is not None:
                os.setgroups(list(user.groups))
                os.setgid(user.gid)
                os.setuid(user.uid)
        try:
            self.proc = subprocess.Popen(argv, preexec_fn=enter, env=env)
        except (OSError, subprocess.SubprocessError) as exc:
            raise EbcapError(f"--run: {argv[0]}: {getattr(exc, 'strerror', None) or exc}") \
                from None
        self.pid = self.proc.pid
        self.exited = False

    def watch(self, on_exit) -> None:
        """Call `on_exit` once the command has exited (SIGCHLD; the live loop's poll wakes up
        for it, as for the stop signals, through the signal wake-up fd)."""
        def check(_signum=None, _frame=None) -> None:
            if not self.exited and self.proc.poll() is not None:
                self.exited = True
                on_exit()
        self._previous = signal.signal(signal.SIGCHLD, check)
        check()                     # it may have exited already

    def unwatch(self) -> None:
        signal.signal(signal.SIGCHLD, self._previous)

    def finish(self, wait: bool) -> int:
        """The command's exit status as a shell gives it (128 + N for signal N). With `wait`,
        the command is waited for; without, one still running is sent SIGTERM (then SIGKILL)."""
        if self.proc.poll() is None and not wait:
            self.proc.terminate()
            try:
                self.proc.wait(TERM_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        code = self.proc.wait()
        return 128 - code if code < 0 else code

    def abandon(self) -> None:
        """ebcap failed while the command ran: it does not run on unobserved."""
        if self.proc.poll() is None:
            self.finish(wait=False)
