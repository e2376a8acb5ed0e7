"""Which TC hooks a capture attaches, and how: tcx links where the kernel has them, clsact
filters with a guard process before that (capture/kernel/tcx.py, capture/kernel/clsact.py).
Everything attached is detached when the session's ExitStack closes, and by the kernel if
ebcap dies.

Creating or closing a tcx link costs ~8.5 ms here (the kernel swaps the interface's program
array and waits for RCU readers), serialised in the kernel: 100 links from 8 or 32 threads
took 1.4 s against 0.85 s from one, so links are made one after the other. `-i any` over 300
interfaces (601 links) took ~6.4 s to start that way, and as long to stop. So `-i any` captures
with one socket filter on an ETH_P_ALL packet socket per link type instead, as tcpdump's `any`
(capture/kernel/packet_socket.py), unless something needs the TC context (by_socket())."""

from __future__ import annotations

import os
from contextlib import ExitStack

from ebcap.capture.config import CaptureConfig
from ebcap.capture.kernel import tcx
from ebcap.capture.kernel.source import EGRESS, INGRESS


def hooks(direction: str, loopback: bool, owners: bool = False) -> list[tuple[str, int]]:
    """(program, tcx attach type) for -Q. On loopback every packet leaves and comes back;
    libpcap shows it once, as it comes in, and so does ebcap; with --owners, as it leaves,
    where the packet still has its socket (at ingress it has none)."""
    ingress, egress = (INGRESS, tcx.INGRESS), (EGRESS, tcx.EGRESS)
    if direction == "inout" and loopback and owners:
        return [egress]
    if direction == "in" or (direction == "inout" and loopback):
        return [ingress]
    if direction == "out":
        return [egress]
    return [ingress, egress]


def start(stack: ExitStack, hooks: list[tuple[int, int]]) -> tcx.EarlyLinks | None:
    """Before the programs are loaded: with tcx, links for these (ifindex, tcx attach type) to a
    placeholder, made while the programs verify (capture/kernel/tcx.py); attach() then points
    them at the programs. Whatever happens meanwhile, `stack` detaches them."""
    if not hooks or not tcx.available():
        return None
    from ebcap.capture.kernel import prefetch
    early = prefetch.take_links(hooks) or tcx.EarlyLinks(hooks)
    stack.callback(early.close)
    return early


def by_socket(config: CaptureConfig) -> bool:
    """-i any by packet socket: not with --owners (and the flags that imply it), whose socket
    lookups only a TC program may make, nor with EBCAP_ANY=tc (the tests compare the two). A
    program too long for a socket (net.core.optmem_max) goes to TC as well (live.py)."""
    return "any" in config.interfaces and not config.owners and \
        os.environ.get("EBCAP_ANY") != "tc"


def socket_directions(direction: str) -> tuple[int, int]:
    """The directions (epb_flags bits: 1 in, 2 out) the socket filter takes for -Q on ordinary
    interfaces and on loopback, as hooks() attaches them."""
    wanted = {"in": 1, "out": 2, "inout": 3}[direction]
    return wanted, 1 if direction == "inout" else wanted


def attach(stack: ExitStack, jobs: list[tuple[int, int, int]],
           early: tcx.EarlyLinks | None = None) -> None:
    """Attach each (program fd, ifindex, tcx attach type), until `stack` closes, through the
    links start() made if given (in the same order). With tcx, either every job is attached or
    none stays (the links made before an error are closed); clsact guards already started stay
    with `stack`, which the caller's error then closes."""
    if early is not None:
        for fd in early.finish(jobs):
            stack.callback(os.close, fd)
        return
    if not tcx.available():
        from ebcap.capture.kernel import clsact     # a subprocess guard: not on the tcx path
        parent = {tcx.INGRESS: clsact.INGRESS_PARENT, tcx.EGRESS: clsact.EGRESS_PARENT}
        for ifindex in dict.fromkeys(ifindex for _fd, ifindex, _type in jobs):
            wanted = [(parent[kind], fd) for fd, index, kind in jobs if index == ifindex]
            stack.callback(os.close, clsact.attach(ifindex, wanted))
        return
    links: list[int] = []
    try:
        for job in jobs:
            links.append(tcx.attach(*job))
    except BaseException:
        for fd in links:
            os.close(fd)
        raise
    for fd in links:
        stack.callback(os.close, fd)
