"""IEEE 802.2 LLC and SNAP (print-llc.c), behind an 802.3 length field: SAPs, control, then STP,
IP, OSI (IS-IS, ES-IS) or SNAP's ethertype. `llc_print` returns tcpdump's header length, negative when nothing decoded
the payload (the caller then prints it raw)."""

from __future__ import annotations

from ebcap.dissectors.cdp import cdp_print
from ebcap.dissectors.cisco_l2 import dtp_print, udld_print
from ebcap.dissectors.errors import trunc
from ebcap.dissectors.hexdump import hex_ascii_dump
from ebcap.dissectors.isoclns import isoclns_print
from ebcap.dissectors.names import ETHERTYPE_NAMES, mac
from ebcap.dissectors.stp import stp_print

SAPS = {0x00: "Null", 0xFF: "Global", 0x02: "802.1B I", 0x03: "802.1B G", 0x06: "IP", 0x04: "SNA",
        0x0E: "ProWay NM", 0x42: "STP", 0x4E: "RS511", 0x7E: "ISO8208", 0x8E: "ProWay", 0xAA: "SNAP",
        0xE0: "IPX", 0xF0: "NetBeui", 0xFE: "OSI"}
U_COMMANDS = {0x03: "ui", 0xE3: "test", 0xAF: "xid", 0x63: "ua", 0x43: "disc", 0x0F: "dm", 0x6F: "sabme",
              0x87: "frmr"}
FLAGS = {0: "Command", 1: "Response", 0x10: "Poll", 0x11: "Final", 0x100: "Poll", 0x101: "Final"}
SUPERVISORY = ("Receiver Ready", "Receiver not Ready", "Reject")
OUIS = {0x000000: "Ethernet", 0x00000C: "Cisco", 0x0000F8: "Cisco", 0x080007: "Appletalk",
        0x0080C2: "IEEE 802.1 Private", 0x00120F: "IEEE 802.3 Private"}
CISCO_PIDS = {0x2000: "CDP", 0x2003: "VTP", 0x2004: "DTP", 0x0111: "UDLD", 0x010B: "PVST",
              0x010C: "VLAN Bridge"}
CISCO_PRINTERS = {0x2000: cdp_print, 0x2004: dtp_print, 0x0111: udld_print}
LLC_UI = 0x03
LLC_XID, LLC_XID_FI = 0xAF, 0x81
SAP_STP, SAP_IP, SAP_SNAP, SAP_OSI = 0x42, 0x06, 0xAA, 0xFE


def llc_print(nd, data: bytes, off: int, length: int) -> int:
    nd.proto = "llc"
    caplen = len(data) - off
    if min(caplen, length) < 3:
        _truncated(nd, data, off)
        return min(caplen, length)
    dsap_field, ssap_field, control = data[off], data[off + 1], data[off + 2]
    is_u = control & 3 == 3
    hdrlen = 3 if is_u else 4
    if not is_u:
        if min(caplen, length) < 4:
            _truncated(nd, data, off)
            return min(caplen, length)
        control = data[off + 2] | data[off + 3] << 8
    dsap, ssap = dsap_field & 0xFE, ssap_field & 0xFE
    if nd.link_header:
        nd.out.append("LLC, dsap %s (0x%02x) %s, ssap %s (0x%02x) %s, ctrl 0x%0*x: " % (
            SAPS.get(dsap, "Unknown"), dsap, ("Individual", "Group")[dsap_field & 1],
            SAPS.get(ssap, "Unknown"), ssap, ("Command", "Response")[ssap_field & 1],
            2 if is_u else 4, control))
    pay, left = off + hdrlen, length - hdrlen
    if dsap == ssap and control == LLC_UI and dsap in (SAP_SNAP, SAP_STP, SAP_IP):
        return _ui_payload(nd, data, off, pay, left, dsap, hdrlen)
    if dsap == ssap == SAP_OSI and control == LLC_UI:
        isoclns_print(nd, data, pay, left)
        return hdrlen
    if _unknown(nd, data, pay, left, dsap, ssap, ssap_field, control, is_u, length):
        return hdrlen
    return -hdrlen


def _truncated(nd, data: bytes, at: int) -> None:
    """print-llc.c's truncation: the marker, then the captured bytes with -X's dump whatever the
    flags (it calls ND_DEFAULTPRINT itself, without the -q/-x check)."""
    nd.out.append(trunc("llc"))
    nd.out.append(hex_ascii_dump(data[at:]))


def _ui_payload(nd, data: bytes, off: int, pay: int, left: int, sap: int, hdrlen: int) -> int:
    if sap == SAP_SNAP:
        return hdrlen + 5 if snap_print(nd, data, pay, left) else -(hdrlen + 5)
    if sap == SAP_STP:
        stp_print(nd, data, pay, left)
    else:
        nd.ethertypes[0x0800](nd, data, pay, left)
    return hdrlen


def _unknown(nd, data: bytes, pay: int, left: int, dsap: int, ssap: int, ssap_field: int, control: int,
             is_u: bool, length: int) -> bool:
    """The SAPs and the control field's meaning; True when nothing is left to print raw."""
    out = nd.out
    if not nd.link_header:
        src, dst = mac(data[6:12]), mac(data[0:6])
        if ssap == dsap:
            out.append("%s > %s %s " % (src, dst, SAPS.get(dsap, "Unknown DSAP 0x%02x" % dsap)))
        else:
            out.append("%s %s > %s %s " % (src, SAPS.get(ssap, "Unknown SSAP 0x%02x" % ssap), dst,
                                           SAPS.get(dsap, "Unknown DSAP 0x%02x" % dsap)))
    if is_u:
        cmd = control & 0xEF
        out.append("Unnumbered, %s, Flags [%s], length %u" % (
            U_COMMANDS.get(cmd, "%02x" % cmd), FLAGS.get((ssap_field & 1) | (control & 0x10), "?"), length))
        return control & 0xEF == LLC_XID and _xid(nd, data, pay, left)
    if control & 1:
        kind = (control >> 2) & 3
        out.append("Supervisory, %s, rcv seq %u, Flags [%s], length %u" % (
            SUPERVISORY[kind] if kind < 3 else "?", (control >> 9) & 0x7F,
            FLAGS.get((ssap_field & 1) | (control & 0x100), "?"), length))
        return True     # no payload
    out.append("Information, send seq %u, rcv seq %u, Flags [%s], length %u" % (
        (control >> 1) & 0x7F, (control >> 9) & 0x7F,
        FLAGS.get((ssap_field & 1) | (control & 0x100), "?"), length))
    return False


def _xid(nd, data: bytes, pay: int, left: int) -> bool:
    """An XID frame's format identifier 0x81: its two bytes of parameters."""
    caplen = len(data) - pay
    if left == 0:
        return True
    if caplen < 1:
        nd.out.append(trunc("llc"))
        return True
    if data[pay] != LLC_XID_FI:
        return False
    if caplen < 3 or left < 3:
        _truncated(nd, data, pay)
    else:
        nd.out.append(": %02x %02x" % (data[pay + 1], data[pay + 2]))
    return True


def snap_print(nd, data: bytes, off: int, length: int) -> bool:
    """The OUI and ethertype/PID; True when a printer decoded what follows."""
    nd.proto = "snap"
    if len(data) < off + 5 or length < 5:
        nd.out.append(trunc("snap"))
        return True
    oui = int.from_bytes(data[off:off + 3], "big")
    et = int.from_bytes(data[off + 3:off + 5], "big")
    pid_name = (ETHERTYPE_NAMES if oui in (0, 0xF8, 0x080007) else CISCO_PIDS if oui == 0x0C else {}).get(et, "Unknown")
    if nd.link_header:
        nd.out.append("oui %s (0x%06x), %s %s (0x%04x), length %u: " % (
            OUIS.get(oui, "Unknown"), oui, "ethertype" if oui == 0 else "pid", pid_name, et, length - 5))
    pay, left = off + 5, length - 5
    if oui in (0, 0xF8) and et in nd.ethertypes:
        nd.ethertypes[et](nd, data, pay, left)
        return True
    if oui == 0x0C and et in (0x010B, 0x010C):
        stp_print(nd, data, pay, left)
        return True
    printer = oui == 0x0C and CISCO_PRINTERS.get(et)
    if printer:
        printer(nd, data, pay, left)
        return True
    if not nd.link_header:
        nd.out.append("%s > %s " % (mac(data[6:12]), mac(data[0:6])))
        if oui == 0:
            nd.out.append("SNAP, ethertype %s (0x%04x), length %u: " % (pid_name, et, left))
        else:
            nd.out.append("SNAP, oui %s (0x%06x), pid %s (0x%04x), length %u: " % (
                OUIS.get(oui, "Unknown"), oui, pid_name, et, left))
    return False
