"""L2TPv2 (print-l2tp.c, RFC 2661; udp 1701): flags, tunnel and session ids, sequence numbers, then
a control message's AVPs or a data message's PPP frame in braces. (AVPs with structured values beyond
the common ones print their name and an empty value.)"""

from __future__ import annotations

from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.ppp import ppp_print
from ebcap.dissectors.text import printable

VERSION_MASK, VERSION_L2F, VERSION_L2TP = 0x000F, 1, 2
FLAG_TYPE, FLAG_LENGTH, FLAG_SEQUENCE, FLAG_OFFSET, FLAG_PRIORITY = 0x8000, 0x4000, 0x0800, 0x0200, 0x0100
AVP_MANDATORY, AVP_HIDDEN, AVP_LEN_MASK = 0x8000, 0x4000, 0x03FF
MSG_TYPES = {1: "SCCRQ", 2: "SCCRP", 3: "SCCCN", 4: "StopCCN", 6: "HELLO", 7: "OCRQ", 8: "OCRP", 9: "OCCN",
             10: "ICRQ", 11: "ICRP", 12: "ICCN", 14: "CDN", 15: "WEN", 16: "SLI"}
AVPS = ("MSGTYPE", "RESULT_CODE", "PROTO_VER", "FRAMING_CAP", "BEARER_CAP", "TIE_BREAKER", "FIRM_VER",
        "HOST_NAME", "VENDOR_NAME", "ASSND_TUN_ID", "RECV_WIN_SIZE", "CHALLENGE", "Q931_CC", "CHALLENGE_RESP",
        "ASSND_SESS_ID", "CALL_SER_NUM", "MINIMUM_BPS", "MAXIMUM_BPS", "BEARER_TYPE", "FRAMING_TYPE",
        "PACKET_PROC_DELAY", "CALLED_NUMBER", "CALLING_NUMBER", "SUB_ADDRESS", "TX_CONN_SPEED",
        "PHY_CHANNEL_ID", "INI_RECV_LCP", "LAST_SENT_LCP", "LAST_RECV_LCP", "PROXY_AUTH_TYPE",
        "PROXY_AUTH_NAME", "PROXY_AUTH_CHAL", "PROXY_AUTH_ID", "PROXY_AUTH_RESP", "CALL_ERRORS", "ACCM",
        "RANDOM_VECTOR", "PRIVATE_GRP_ID", "RX_CONN_SPEED", "SEQ_REQUIRED")
AVP_PPP_DISCON_CC = 46
U16_AVPS = frozenset((6, 9, 10, 14))
U32_AVPS = frozenset((15, 16, 17, 24, 25, 38))
STRING_AVPS = frozenset((7, 8, 21, 22, 23, 30, 37))
OCTET_AVPS = frozenset((11, 26, 27, 28, 31, 33, 36))


def l2tp_print(nd, data: bytes, pay: int, length: int) -> None:
    nd.proto = "l2tp"
    out = nd.out
    flags = u16(data, pay)[0]
    version = flags & VERSION_MASK
    if version == VERSION_L2F:
        out.append(" l2f:")
        return
    if version != VERSION_L2TP:
        out.append(" Unknown Version, neither L2F(1) nor L2TP(2)")
        return
    out.append(" l2tp:[%s%s%s%s%s]" % ("T" if flags & FLAG_TYPE else "", "L" if flags & FLAG_LENGTH else "",
                                       "S" if flags & FLAG_SEQUENCE else "", "O" if flags & FLAG_OFFSET else "",
                                       "P" if flags & FLAG_PRIORITY else ""))
    at = pay + 2
    l2tp_len = 0
    if flags & FLAG_LENGTH:
        l2tp_len = u16(data, at)[0]
        at += 2
    out.append("(%u/%u)" % (u16(data, at)[0], u16(data, at + 2)[0]))
    at += 4
    if flags & FLAG_SEQUENCE:
        out.append("Ns=%u,Nr=%u" % (u16(data, at)[0], u16(data, at + 2)[0]))
        at += 4
    if flags & FLAG_OFFSET:
        pad = u16(data, at)[0]
        if len(data) < at + 2 + pad:
            raise IndexError
        at += 2 + pad
    if flags & FLAG_LENGTH:
        if length < l2tp_len:
            out.append(" Length %u larger than packet" % l2tp_len)
            return
        length = l2tp_len
    cnt = at - pay
    if length < cnt:
        out.append(" Length %u smaller than header length" % length)
        return
    if not flags & FLAG_TYPE:
        out.append(" {")
        ppp_print(nd, data, at, length - cnt)
        out.append("}")
        return
    if not flags & FLAG_LENGTH:
        out.append(" No length")
        return
    if length == cnt:
        out.append(" ZLB")
        return
    while length > cnt:
        used = _avp(nd, data, at, length - cnt)
        if not used:
            return
        cnt += used
        at += used


def _avp(nd, data: bytes, at: int, left: int) -> int:
    out = nd.out
    out.append(" ")
    head = u16(data, at)[0]
    avp_len = head & AVP_LEN_MASK
    if avp_len < 6 or avp_len > left:
        out.append(" [|l2tp]")
        return 0
    if len(data) < at + avp_len:
        raise IndexError
    if head & AVP_MANDATORY:
        out.append("*")
    if head & AVP_HIDDEN:
        out.append("?")
    vendor = u16(data, at + 2)[0]
    value, vlen = at + 6, avp_len - 6
    if vendor:
        out.append("VENDOR%04x:ATTR%04x(%s)" % (vendor, u16(data, at + 4)[0], data[value:value + vlen].hex()))
        return avp_len
    attr = u16(data, at + 4)[0]
    name = AVPS[attr] if attr < len(AVPS) else "PPP_DISCON_CC" if attr == AVP_PPP_DISCON_CC else "AVP-#%u" % attr
    out.append(name + "(")
    if head & AVP_HIDDEN:
        out.append("???")
    else:
        out.append(_value(data, attr, value, vlen))
    out.append(")")
    return avp_len


def _value(data: bytes, attr: int, at: int, n: int) -> str:
    raw = data[at:at + n]
    if attr == 0:
        return "AVP too short" if n < 2 else MSG_TYPES.get(u16(raw, 0)[0], "MSGTYPE-#%u" % u16(raw, 0)[0])
    if attr == 2:
        return "AVP too short" if n < 2 else "%u.%u" % (raw[0], raw[1])
    if attr in (3, 4):
        if n < 4:
            return "AVP too short"
        v = u32(raw, 0)[0]
        first, second = ("A", "S") if attr == 3 else ("A", "D")
        return ("%s" % first if v & 2 else "") + (second if v & 1 else "")
    if attr == 5:
        return "AVP too short" if n < 8 else raw[:8].hex()
    if attr == 13:
        return "AVP too short" if n < 16 else raw[:16].hex()
    if attr in U16_AVPS:
        return "AVP too short" if n < 2 else "%u" % u16(raw, 0)[0]
    if attr in U32_AVPS:
        return "AVP too short" if n < 4 else "%u" % u32(raw, 0)[0]
    if attr in STRING_AVPS:
        return printable(raw)
    if attr in OCTET_AVPS:
        return raw.hex()
    return ""
