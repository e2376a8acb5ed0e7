"""SSH (print-ssh.c; tcp 22): the version banner (`SSH-2.0-...`) when a segment carries it."""

from __future__ import annotations


def ssh_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "ssh"
    for i, c in enumerate(b"SSH-"):
        if data[pay + i] != c:      # a byte past the capture raises: tcpdump's [|ssh]
            return
    idx = 4
    while idx < length:
        c = data[pay + idx]
        if c == 0x0A or (c == 0x0D and idx + 1 < length and data[pay + idx + 1] == 0x0A):
            nd.out.append(": SSH: " + data[pay:pay + idx].decode("ascii"))
            return
        if c == 0x0D or not 0x20 <= c <= 0x7E:
            return
        idx += 1
