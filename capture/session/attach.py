"""Which TC hooks a capture attaches, and how: tcx links where the kernel has them, clsact
filters with a guard process before that (capture/kernel/tcx.py, capture/kernel/clsact.py).
Everything attached is closed by the session's ExitStack, and by the kernel if ebcap dies."""

from __future__ import annotations

import os
from contextlib import ExitStack

from ebcap.capture.kernel import clsact, tcx
from ebcap.capture.kernel.source import EGRESS, INGRESS

_CLSACT_PARENT = {tcx.INGRESS: clsact.INGRESS_PARENT, tcx.EGRESS: clsact.EGRESS_PARENT}


def hooks(direction: str, loopback: bool) -> list[tuple[str, int]]:
    """(program, tcx attach type) for -Q. On loopback every packet leaves and comes back;
    libpcap shows it once, as it comes in, and so does ebcap."""
    ingress, egress = (INGRESS, tcx.INGRESS), (EGRESS, tcx.EGRESS)
    if direction == "in" or (direction == "inout" and loopback):
        return [ingress]
    if direction == "out":
        return [egress]
    return [ingress, egress]


def attach(stack: ExitStack, program_fd, ifindex: int,
           wanted: list[tuple[str, int]]) -> None:
    """Attach `program_fd(name)` at each wanted hook of the interface, until `stack` closes."""
    if tcx.available():
        for name, attach_type in wanted:
            stack.callback(os.close, tcx.attach(program_fd(name), ifindex, attach_type))
    else:
        guard = clsact.attach(ifindex, [(_CLSACT_PARENT[attach_type], program_fd(name))
                                        for name, attach_type in wanted])
        stack.callback(os.close, guard)
