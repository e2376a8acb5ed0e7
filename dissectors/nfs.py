"""NFS over Sun RPC (print-nfs.c; udp and tcp 2049): `NFS request xid N LEN PROC`, `NFS reply xid N
reply ok LEN`. What follows the procedure's name (file handles, names, attributes, which tcpdump
decodes with its server-guessing Parse_fh) is not decoded: the line ends after the name, or with
[|nfs] where the credentials run past the capture as tcpdump reports it."""

from __future__ import annotations

import struct

from ebcap.dissectors.errors import Truncated

NFS_PORT = 2049
CALL, REPLY = 0, 1
NFS_VER3 = 3
PROCS = ("null", "getattr", "setattr", "lookup", "access", "readlink", "read", "write", "create", "mkdir",
         "symlink", "mknod", "remove", "rmdir", "rename", "link", "readdir", "readdirplus", "fsstat",
         "fsinfo", "pathconf", "commit")
NOOP = 25
# NFSv2's procedure numbers in v3's numbering (nfsv3_procid)
V2_PROCS = (0, 1, 2, NOOP, 3, 5, 6, NOOP, 7, 8, 12, 14, 15, 10, 9, 13, 16, 18, NOOP, NOOP, NOOP, NOOP,
            NOOP, NOOP, NOOP, NOOP)
_HANDLE_PROCS = (1, 2, 5, 18, 19, 20, 3, 8, 9, 12, 13, 4)    # parsereq and parsefh come first
_REJECT = {0: "RPC Version mismatch", 1: "Auth"}
_AUTH = {0: "Success", 1: "bogus credentials (seal broken)", 2: "client should begin new session",
         3: "bogus verifier (seal broken)", 4: "verifier expired or was replayed", 5: "too weak",
         6: "bogus response verifier", 7: "unknown failure"}


def nfs_message(nd, data: bytes, rp: int, length: int, sport: int, dport: int, prefix: str) -> bool:
    """The RPC message at rp if it is an NFS call or reply (False: not NFS, print as usual)."""
    if rp + 8 > len(data):
        return False
    xid, direction = struct.unpack_from("!II", data, rp)
    if dport == NFS_PORT and direction == CALL:
        nd.proto = "nfs"
        nd.out.append("%sNFS request xid %u " % (prefix, xid))
        _request(nd, data, rp, length)
        return True
    if sport == NFS_PORT and direction == REPLY:
        nd.proto = "nfs"
        nd.out.append("%sNFS reply xid %u " % (prefix, xid))
        _reply(nd, data, rp, length)
        return True
    return False


def nfs_tcp_print(nd, data: bytes, pay: int, length: int) -> None:
    """tcp 2049: a record mark, then the RPC message (print-tcp.c's NFS test). A port printer is not
    told which port matched: both are taken as 2049, so a call *from* port 2049 prints as NFS where
    tcpdump prints nothing (clients do not send from 2049)."""
    if length < 4 or pay + 4 > len(data):
        return
    fraglen = min(struct.unpack_from("!I", data, pay)[0] & 0x7FFFFFFF, length - 4)
    nfs_message(nd, data, pay + 4, fraglen, NFS_PORT, NFS_PORT, ": ")


def _request(nd, data: bytes, rp: int, length: int) -> None:
    out = nd.out
    out.append("%u" % length)
    vers, proc = struct.unpack_from("!II", data, rp + 16) if rp + 24 <= len(data) else _short()
    v3 = vers == NFS_VER3
    if not v3 and proc < len(V2_PROCS):
        proc = V2_PROCS[proc]
    out.append(" " + (PROCS[proc] if proc < len(PROCS) else "nop" if proc == NOOP else "proc-%u" % proc))
    if proc in _HANDLE_PROCS and _arguments(data, rp + 24, length - 24) is None:
        raise IndexError        # print-nfs.c's ND_TCHECKs longjmp: -x then dumps from the link header


def _short():
    raise Truncated


def _arguments(data: bytes, cred: int, length: int) -> int | None:
    """parsereq: where the procedure's arguments start, None where the capture ends first."""
    if length < 8 or cred + 8 > len(data):
        return None
    clen = struct.unpack_from("!I", data, cred + 4)[0]
    rounded = (clen + 3) & ~3
    if cred + 8 + rounded > len(data) or 8 + rounded > length:
        return None
    verf = cred + 8 + rounded
    length -= 8 + rounded
    if length < 8 or verf + 8 > len(data):
        return None
    vlen = struct.unpack_from("!I", data, verf + 4)[0]
    rounded = (vlen + 3) & ~3
    if verf + 8 + rounded > len(data) or 8 + rounded >= length:
        return None
    return verf + 8 + rounded


def _reply(nd, data: bytes, rp: int, length: int) -> None:
    out = nd.out
    if rp + 12 > len(data):
        raise Truncated
    stat = struct.unpack_from("!I", data, rp + 8)[0]
    if stat == 0:
        out.append("reply ok %u" % length)
    elif stat == 1:
        out.append("reply ERR %u: " % length)
        if rp + 16 > len(data):
            raise Truncated
        reject = struct.unpack_from("!I", data, rp + 12)[0]
        if reject == 0:
            if rp + 24 > len(data):
                raise Truncated
            out.append("RPC Version mismatch (%u-%u)" % struct.unpack_from("!II", data, rp + 16))
        elif reject == 1:
            if rp + 20 > len(data):
                raise Truncated
            why = struct.unpack_from("!I", data, rp + 16)[0]
            out.append("Auth %s" % _AUTH.get(why, "Invalid failure code %u" % why))
        else:
            out.append("Unknown reason for rejecting rpc message %u" % reject)
    else:
        out.append("reply Unknown rpc response code=%u %u" % (stat, length))
