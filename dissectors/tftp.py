"""TFTP (print-tftp.c): opcode, then the file name and mode, block number or error."""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16
from ebcap.dissectors.text import printztn

OPCODES = {1: "RRQ", 2: "WRQ", 3: "DATA", 4: "ACK", 5: "ERROR", 6: "OACK"}
ERRORS = ("EUNDEF", "ENOTFOUND", "EACCESS", "ENOSPACE", "EBADOP", "EBADID", "EEXISTS", "ENOUSER")


def tftp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "tftp"
    out = nd.out
    out.append("TFTP, length %u" % length)
    if length < 2:
        raise Truncated
    opcode = u16(data, pay)[0]
    name = OPCODES.get(opcode)
    if name is None:
        out.append(", tftp-#%u" % opcode)
        return
    out.append(", " + name)
    cp, length = pay + 2, length - 2
    if opcode in (1, 2):
        _request(out, data, cp, length)
    elif opcode == 6:
        _strings(out, data, cp, length)
    elif opcode in (3, 4):
        if length < 2:
            raise Truncated
        out.append(" block %u" % u16(data, cp)[0])
    else:
        _error(out, data, cp, length)


def _request(out: list[str], data: bytes, cp: int, length: int) -> None:
    """RRQ/WRQ: "file" mode, then the options."""
    if length == 0:
        raise Truncated
    out.append(' "')
    used = printztn(out, data, cp, length)
    out.append('"')
    if used == 0:
        raise Truncated
    cp, length = cp + used, length - used
    if length == 0:
        raise Truncated
    out.append(" ")
    used = printztn(out, data, cp, length)
    if used == 0:
        raise Truncated
    _strings(out, data, cp + used, length - used)


def _strings(out: list[str], data: bytes, cp: int, length: int) -> None:
    while length:
        if data[cp] != 0:
            out.append(" ")
        used = printztn(out, data, cp, length)
        if used == 0:
            raise Truncated
        cp, length = cp + used, length - used


def _error(out: list[str], data: bytes, cp: int, length: int) -> None:
    if length < 2:
        raise Truncated
    code = u16(data, cp)[0]
    out.append(" " + (ERRORS[code] if code < len(ERRORS) else 'tftp-err-#%u "' % code))
    if length == 2:
        raise Truncated
    out.append(' "')
    used = printztn(out, data, cp + 2, length - 2)
    out.append('"')
    if used == 0:
        raise Truncated
