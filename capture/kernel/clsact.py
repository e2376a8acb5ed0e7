"""TC attachment through clsact filters, for kernels without tcx links (before Linux 6.6).

A clsact filter, unlike a tcx link, outlives the process that added it. So each attachment has a
guard: a small child process holding the read end of a pipe whose write end only ebcap holds.
However ebcap ends, SIGKILL included, the kernel closes that end, the guard reads EOF and deletes
the filters. ebcap's other programs are not touched: the filters carry their own priority.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ebcap.capture.errors import KernelFeatureError

INGRESS_PARENT, EGRESS_PARENT = "ffff:fff2", "ffff:fff3"
PRIORITY = 0xEBCA & 0x7FFF            # a priority of ebcap's own, for adding and deleting
ETH_P_ALL = 0x0003


def _filters(ipr, action: str, ifindex: int, hooks: list[tuple[str, int | None]]) -> None:
    for parent, fd in hooks:
        kwargs = dict(parent=parent, prio=PRIORITY, protocol=ETH_P_ALL)
        if action == "add-filter":
            kwargs.update(fd=fd, name="ebcap", classid=1, direct_action=True)
        ipr.tc(action, "bpf", ifindex, ":1", **kwargs)


def attach(ifindex: int, hooks: list[tuple[str, int]]) -> int:
    """Add the filters (parent, program fd) and start their guard; returns the pipe's write fd,
    to keep open as long as the capture runs."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    with IPRoute() as ipr:
        created = True
        try:
            ipr.tc("add", "clsact", ifindex)
        except NetlinkError as exc:
            if exc.code != 17:                 # EEXIST: the device has one already
                raise KernelFeatureError(f"adding a clsact qdisc failed: {exc}") from exc
            created = False
        read_end, write_end = os.pipe()
        spec = json.dumps({"ifindex": ifindex, "parents": [parent for parent, _fd in hooks],
                           "qdisc": created})
        guard = subprocess.Popen([sys.executable, "-I", "-m", "ebcap.capture.kernel.clsact",
                                  str(read_end), spec],
                                 pass_fds=(read_end,), stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        os.close(read_end)
        try:
            _filters(ipr, "add-filter", ifindex, hooks)
        except NetlinkError as exc:
            os.close(write_end)
            guard.wait()
            raise KernelFeatureError(f"adding a TC filter failed: {exc}") from exc
    return write_end


def _guard(read_fd: int, spec: str) -> None:
    """The guard: wait for ebcap to end, then delete its filters."""
    config = json.loads(spec)
    while os.read(read_fd, 1):
        pass
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        for parent in config["parents"]:
            try:
                _filters(ipr, "del-filter", config["ifindex"], [(parent, None)])
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
