"""HTTP request/status line, tcpdump's print-http.c (txtproto_print with the second-token rule)."""

from __future__ import annotations

from ebcap.dissectors.errors import trunc

METHODS = frozenset(("GET", "PUT", "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST", "BCOPY", "BMOVE",
                     "MKCOL", "TRACE", "LABEL", "MERGE", "DELETE", "SEARCH", "UNLOCK", "REPORT",
                     "UPDATE", "NOTIFY", "BDELETE", "CONNECT", "OPTIONS", "PROPFIND", "SUBSCRIBE",
                     "BPROPFIND", "BPROPPATCH", "UNSUBSCRIBE", "MKWORKSPACE", "CHECKOUT", "CHECKIN",
                     "UNCHECKOUT", "VERSION-CONTROL", "BASELINE-CONTROL", "MKACTIVITY", "ORDERPATCH",
                     "ACL", "PROPPATCH", "LINK", "UNLINK", "PATCH", "RPC_IN_DATA", "RPC_OUT_DATA",
                     "POLL"))
MAX_TOKEN = 128
TRUNC = trunc("http")


class Short(IndexError):
    """The capture ended inside bytes tcpdump had to read; `partial` is the text printed so far."""

    def __init__(self, partial: str = "") -> None:
        super().__init__(partial)
        self.partial = partial


_Short = Short


def _token(buf: bytes, idx: int, length: int) -> tuple[int, bytes]:
    """fetch_token: (index after the token and its trailing blanks, token) or (0, b'')."""
    tok = bytearray()
    while idx < length:
        if idx >= len(buf):
            return 0, b""
        c = buf[idx]
        if c >= 0x80:
            return 0, b""
        if c in b" \t\r\n":
            break
        if not 0x20 <= c <= 0x7E or len(tok) + 2 > MAX_TOKEN:
            return 0, b""
        tok.append(c)
        idx += 1
    if not tok:
        return 0, b""
    while idx < length and idx < len(buf):
        c = buf[idx]
        if c in b"\r\n" or not 0x20 <= c <= 0x7E or c not in b" \t":
            break
        idx += 1
    return idx, bytes(tok)


def _line(buf: bytes, idx: int, length: int) -> tuple[int, str, bool]:
    """print_txt_line: (next index or 0, text, truncated)."""
    start = idx
    while idx < length:
        if idx >= len(buf):
            raise _Short
        c = buf[idx]
        if c == 0x0A:
            return idx + 1, buf[start:idx].decode("ascii"), False
        if c == 0x0D:
            if idx + 1 >= length:
                return 0, "", False
            if idx + 1 >= len(buf):
                raise _Short
            if buf[idx + 1] == 0x0A:
                return idx + 2, buf[start:idx].decode("ascii"), False
            return 0, "", False
        if not (0x20 <= c <= 0x7E) and c != 0x09:
            return 0, "", False
        idx += 1
    return 0, buf[start:idx].decode("ascii"), True


def http_text(payload: bytes, length: int, verbose: int = 0) -> str:
    """What tcpdump prints after `length N: ` for a TCP segment on port 80/8080.

    Raises Short (an IndexError) when the capture ends where tcpdump would stop with [|http].
    """
    out = ["HTTP"]
    try:
        idx, tok = _token(payload, 0, length)
        show = False
        if idx:
            if tok.decode("ascii").upper() in METHODS:
                show = True
            idx, tok = _token(payload, idx, length)
            if idx and len(tok) == 3 and tok.isdigit():
                show = True
        if show:
            if verbose:
                out.append(", length: %u" % length)
                idx = 0
                while idx < length:
                    nxt, text, trunc = _line(payload, idx, length)
                    if nxt == 0 and not text and not trunc:
                        break
                    out.append("\n\t" + text)
                    if trunc:
                        out.append(TRUNC)
                        break
                    idx = nxt
            else:
                nxt, text, trunc = _line(payload, 0, length)
                if nxt or text or trunc:
                    out.append(": " + text)
                if trunc:
                    out.append(TRUNC)
    except _Short:
        raise Short("".join(out)) from None
    return "".join(out)


def http_print(nd, data: bytes, pay: int, length: int) -> None:
    """The port table's printer for 80 and 8080."""
    nd.out.append(": ")
    nd.proto = "http"
    try:
        nd.out.append(http_text(data[pay:pay + length], length, nd.verbose))
    except Short as short:
        nd.out.append(short.partial)
        raise
