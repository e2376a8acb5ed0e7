"""Who a packet belongs to (--owners), and how a pcapng file says it: ptcpdump's opt_comments
(internal/writer/pcapng.go), so that files go both ways between the two tools:

    PID: 3553\\nCmd: /usr/bin/curl\\nArgs: curl -s http://10.0.0.2/
    ThreadId: 3553\\nThreadName: curl
    UserId: 1000

and two of ebcap's own, `Cgroup: /user.slice/user-1000.slice/session-3.scope` and
`NetNs: 4026531840` (the socket's network namespace, its inode number as lsns shows it). Each is
one opt_comment. Printed lines name the owner ptcpdump's way, `curl.3553`: the command's base name
and the pid."""

from __future__ import annotations

import os
from typing import NamedTuple


class Owner(NamedTuple):
    pid: int
    cmd: str             # executable path (the thread's comm when it could not be read)
    args: str            # the command line, arguments separated by spaces
    tid: int
    thread: str          # the thread's comm
    uid: int
    cgroup: str = ""     # cgroup v2 path, '' when unknown
    netns: int = 0       # the socket's network namespace (inode number), 0 when unknown

    @property
    def label(self) -> str:
        return f"{os.path.basename(self.cmd) or self.thread}.{self.pid}"

    def comments(self) -> list[str]:
        out = [f"PID: {self.pid}\nCmd: {self.cmd}\nArgs: {self.args}",
               f"ThreadId: {self.tid}\nThreadName: {self.thread}",
               f"UserId: {self.uid}"]
        if self.cgroup:
            out.append(f"Cgroup: {self.cgroup}")
        if self.netns:
            out.append(f"NetNs: {self.netns}")
        return out

    def json(self) -> dict:
        """--json's `owner` object."""
        return {"pid": self.pid, "cmd": self.cmd, "args": self.args, "tid": self.tid,
                "thread": self.thread, "uid": self.uid, "cgroup": self.cgroup,
                "netns": self.netns}


def owner_from_comments(comments: list[str]) -> Owner | None:
    """The owner a file's comments give (ptcpdump's or ebcap's), or None when they name no PID."""
    fields: dict[str, str] = {}
    for comment in comments:
        for line in comment.split("\n"):
            key, sep, value = line.partition(": ")
            if sep and key not in fields:
                fields[key] = value
    try:
        pid = int(fields["PID"])
    except (KeyError, ValueError):
        return None

    def number(key: str) -> int:
        try:
            return int(fields.get(key, ""))
        except ValueError:
            return -1
    return Owner(pid, fields.get("Cmd", ""), fields.get("Args", ""), number("ThreadId"),
                 fields.get("ThreadName", ""), number("UserId"), fields.get("Cgroup", ""),
                 max(number("NetNs"), 0))
