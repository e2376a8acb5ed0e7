"""TC attachment through clsact filters, for kernels without tcx links (before Linux 6.6).

A clsact filter, unlike a tcx link, outlives the process that added it. So each attachment has a
guard: a small child process holding the read end of a pipe whose write end only ebcap holds.
However ebcap ends, SIGKILL included, the kernel closes that end, the guard reads EOF and deletes
the filters.

Every capture has filters of its own: ebcap's priority, a handle that is its pid, and a name
that says which process owns them (`ebcap pid=PID start=TICKS`, the start time telling a reused
pid apart). Several ebcaps on one interface therefore never touch each other's filters, and
other programs on the interface are never touched at all. Should ebcap and its guard both be
killed, their filters stay; the next ebcap attaching to that interface removes filters whose
owner no longer exists, and only those.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ebcap.capture.errors import KernelFeatureError

INGRESS_PARENT, EGRESS_PARENT = "ffff:fff2", "ffff:fff3"
PRIORITY = 0xEBCA & 0x7FFF            # a priority of ebcap's own, for adding and deleting
ETH_P_ALL = 0x0003
_OWNER = re.compile(r"^ebcap pid=(\d+) start=(\d+)$")


def _start_ticks(pid: int) -> int | None:
    """The process's start time (/proc/PID/stat field 22), None when there is no such process."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def owner_name(pid: int) -> str:
    return f"ebcap pid={pid} start={_start_ticks(pid)}"


def _filter_owner(message) -> tuple[int, int] | None:
    """(pid, start) of an ebcap filter from a netlink filter dump, else None."""
    if (message["info"] >> 16) != PRIORITY or message.get_attr("TCA_KIND") != "bpf":
        return None
    options = message.get_attr("TCA_OPTIONS")
    match = _OWNER.match((options.get_attr("TCA_BPF_NAME") or "") if options else "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _delete(ipr, ifindex: int, parent: str, handle: int) -> None:
    ipr.tc("del-filter", "bpf", ifindex, handle, parent=parent, prio=PRIORITY,
           protocol=ETH_P_ALL)


def remove_orphans(ipr, ifindex: int) -> int:
    """Delete the ebcap filters on the interface whose owning process is gone; returns how many.
    A live capture's filters are never touched."""
    removed = 0
    for parent in (INGRESS_PARENT, EGRESS_PARENT):
        for message in ipr.get_filters(ifindex, parent=parent):
            owner = _filter_owner(message)
            if owner is None or _start_ticks(owner[0]) == owner[1]:
                continue
            try:
                _delete(ipr, ifindex, parent, message["handle"])
                removed += 1
            except Exception:               # removed by someone else meanwhile
                pass
    return removed


def attach(ifindex: int, hooks: list[tuple[str, int]]) -> int:
    """Add the filters (parent, program fd) and start their guard; returns the pipe's write fd,
    to keep open as long as the capture runs."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    pid = os.getpid()
    with IPRoute() as ipr:
        created = True
        try:
            ipr.tc("add", "clsact", ifindex)
        except NetlinkError as exc:
            if exc.code != 17:                 # EEXIST: the device has one already
                raise KernelFeatureError(f"adding a clsact qdisc failed: {exc}") from exc
            created = False
            remove_orphans(ipr, ifindex)
        read_end, write_end = os.pipe()
        spec = json.dumps({"ifindex": ifindex, "handle": pid, "qdisc": created,
                           "parents": [parent for parent, _fd in hooks]})
        guard = subprocess.Popen([sys.executable, "-I", "-m", "ebcap.capture.kernel.clsact",
                                  str(read_end), spec],
                                 pass_fds=(read_end,), stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        os.close(read_end)
        try:
            for parent, fd in hooks:
                ipr.tc("add-filter", "bpf", ifindex, pid, parent=parent, prio=PRIORITY,
                       protocol=ETH_P_ALL, fd=fd, name=owner_name(pid), classid=1,
                       direct_action=True)
        except NetlinkError as exc:
            os.close(write_end)
            guard.wait()
            raise KernelFeatureError(f"adding a TC filter failed: {exc}") from exc
    return write_end


def _guard(read_fd: int, spec: str) -> None:
    """The guard: wait for ebcap to end, then delete its own filters."""
    config = json.loads(spec)
    while os.read(read_fd, 1):
        pass
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        for parent in config["parents"]:
            try:
                _delete(ipr, config["ifindex"], parent, config["handle"])
            except Exception:               # gone with the device, or never added
                pass
        if config["qdisc"]:                 # ebcap added the clsact: remove it if now empty
            try:
                left = [f for parent in (INGRESS_PARENT, EGRESS_PARENT)
                        for f in ipr.get_filters(config["ifindex"], parent=parent)]
                if not left:
                    ipr.tc("del", "clsact", config["ifindex"])
            except Exception:
                pass


if __name__ == "__main__":
    _guard(int(sys.argv[1]), sys.argv[2])
