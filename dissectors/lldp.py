"""LLDP (print-lldp.c, IEEE 802.1AB; ethertype 0x88cc): the headline and the system name, and with -v
every TLV: chassis and port ids, TTL, descriptions, capabilities, management addresses and IEEE 802.3's
organisation-specific TLVs. (Other organisations' TLVs are dumped in hex.)"""

from __future__ import annotations

from ebcap.dissectors.errors import Truncated
from ebcap.dissectors.extract import u16, u32
from ebcap.dissectors.hexdump import hex_dump
from ebcap.dissectors.names import ip4, ip6, mac
from ebcap.dissectors.oui import OUI_IEEE_8023, OUIS
from ebcap.dissectors.text import bits_text, printjn

END, CHASSIS_ID, PORT_ID, TTL, PORT_DESCR, SYSTEM_NAME, SYSTEM_DESCR, SYSTEM_CAP, MGMT_ADDR = range(9)
PRIVATE = 127
TLVS = {END: "End", CHASSIS_ID: "Chassis ID", PORT_ID: "Port ID", TTL: "Time to Live",
        PORT_DESCR: "Port Description", SYSTEM_NAME: "System Name", SYSTEM_DESCR: "System Description",
        SYSTEM_CAP: "System Capabilities", MGMT_ADDR: "Management Address", PRIVATE: "Organization specific"}
CHASSIS_SUBTYPES = {1: "Chassis component", 2: "Interface alias", 3: "Port component", 4: "MAC address",
                    5: "Network address", 6: "Interface name", 7: "Local"}
PORT_SUBTYPES = {1: "Interface alias", 2: "Port component", 3: "MAC address", 4: "Network Address",
                 5: "Interface Name", 6: "Agent circuit ID", 7: "Local"}
# the id subtypes that are a MAC address, a network address, or text
CHASSIS_KINDS = {4: "mac", 5: "net", 1: "text", 2: "text", 3: "text", 6: "text", 7: "text"}
PORT_KINDS = {3: "mac", 4: "net", 1: "text", 2: "text", 5: "text", 6: "text", 7: "text"}
CAPABILITIES = ((0x01, "Other"), (0x02, "Repeater"), (0x04, "Bridge"), (0x08, "WLAN AP"), (0x10, "Router"),
                (0x20, "Telephone"), (0x40, "Docsis"), (0x80, "Station Only"))
INTF_NUMBERING = {2: "Interface Index", 3: "System Port Number"}
AFNUM_INET, AFNUM_INET6, AFNUM_802 = 1, 2, 6
AF_NAMES = {0: "Reserved", 1: "IPv4", 2: "IPv6", 3: "NSAP", 4: "HDLC", 5: "BBN 1822", 6: "802"}
DOT3_SUBTYPES = {1: "MAC/PHY configuration/status", 2: "Power via MDI", 3: "Link aggregation", 4: "Max frame size"}
DOT3_MACPHY, DOT3_MDIPOWER, DOT3_LINKAGGR, DOT3_MTU = 1, 2, 3, 4
AUTONEG = ((0x01, "supported"), (0x02, "enabled"))
AGGREGATION = ((0x01, "supported"), (0x02, "enabled"))
PMD_CAPABILITIES = ((1 << 14, "10BASE-T hdx"), (1 << 13, "10BASE-T fdx"), (1 << 12, "100BASE-T4"),
                    (1 << 11, "100BASE-TX hdx"), (1 << 10, "100BASE-TX fdx"), (1 << 9, "100BASE-T2 hdx"),
                    (1 << 8, "100BASE-T2 fdx"), (1 << 7, "Pause for fdx links"), (1 << 6, "Asym PAUSE for fdx"),
                    (1 << 5, "Sym PAUSE for fdx"), (1 << 4, "Asym and Sym PAUSE for fdx"),
                    (1 << 3, "1000BASE-{X LX SX CX} hdx"), (1 << 2, "1000BASE-{X LX SX CX} fdx"),
                    (1 << 1, "1000BASE-T hdx"), (1 << 0, "1000BASE-T fdx"))
MAU_TYPES = ("Unknown", "AUI", "10BASE_5", "FOIRL", "10BASE2", "10BASET duplex mode unknown", "10BASEFP",
             "10BASEFB", "10BASEFL duplex mode unknown", "10BROAD36", "10BASET hdx", "10BASET fdx",
             "10BASEFL hdx", "10BASEFL fdx", "100BASET4", "100BASETX hdx", "100BASETX fdx", "100BASEFX hdx",
             "100BASEFX fdx", "100BASET2 hdx", "100BASET2 fdx", "1000BASEX hdx", "1000BASEX fdx",
             "1000BASELX hdx", "1000BASELX fdx", "1000BASESX hdx", "1000BASESX fdx", "1000BASECX hdx",
             "1000BASECX fdx", "1000BASET hdx", "1000BASET fdx", "10GBASEX", "10GBASELX4", "10GBASER",
             "10GBASEER", "10GBASELR", "10GBASESR", "10GBASEW", "10GBASEEW", "10GBASELW", "10GBASESW")
INTF_NUM_LEN = 5


def lldp_print(nd, data: bytes, off: int, length: int) -> None:
    nd.proto = "lldp"
    out = nd.out
    verbose = nd.verbose
    out.append("LLDP, length %u" % length)
    cp, left = off, length
    while left >= 2:
        if len(data) < cp + 2:
            raise Truncated
        tlv = u16(data, cp)[0]
        kind, tlen = tlv >> 9, tlv & 0x1FF
        cp, left = cp + 2, left - 2
        if verbose:
            out.append("\n\t%s TLV (%u), length %u" % (TLVS.get(kind, "Unknown"), kind, tlen))
        if not kind or not tlen:
            break
        if len(data) < cp + tlen or left < tlen:
            raise Truncated
        value = data[cp:cp + tlen]
        if kind == SYSTEM_NAME:     # printed without -v too, as CDP's Device-ID is
            out.append(": " + printjn(value))
            hexdump = False
        elif verbose:
            hexdump = _tlv(out, kind, value)
        if verbose > 1 or (verbose and hexdump):
            out.append(hex_dump(value, "\n\t  "))
        cp, left = cp + tlen, left - tlen


def _tlv(out: list[str], kind: int, v: bytes) -> bool:
    """One TLV's -v text; True where tcpdump dumps its bytes after it."""
    n = len(v)
    if kind in (CHASSIS_ID, PORT_ID):
        if n < 2:
            raise Truncated
        subtype = v[0]
        names, kinds = (CHASSIS_SUBTYPES, CHASSIS_KINDS) if kind == CHASSIS_ID else (PORT_SUBTYPES, PORT_KINDS)
        out.append("\n\t  Subtype %s (%u): " % (names.get(subtype, "Unknown"), subtype))
        how = kinds.get(subtype)
        if how == "mac":
            if n < 7:
                raise Truncated
            out.append(mac(v[1:7]))
        elif how == "text":
            out.append(printjn(v[1:]))
        elif how == "net":
            out.append(_network_address(v[1:]))
        else:
            return True
    elif kind == TTL:
        if n < 2:
            raise Truncated
        out.append(": TTL %us" % u16(v, 0)[0])
    elif kind == PORT_DESCR:
        out.append(": " + printjn(v))
    elif kind == SYSTEM_DESCR:
        out.append("\n\t  " + printjn(v))
    elif kind == SYSTEM_CAP:
        if n < 4:
            raise Truncated
        cap, enabled = u16(v, 0)[0], u16(v, 2)[0]
        out.append("\n\t  System  Capabilities [%s] (0x%04x)\n\t  Enabled Capabilities [%s] (0x%04x)" % (
            bits_text(CAPABILITIES, cap, "none"), cap, bits_text(CAPABILITIES, enabled, "none"), enabled))
    elif kind == MGMT_ADDR:
        _management_address(out, v)
    elif kind == PRIVATE:
        if n < 3:
            raise Truncated
        oui = int.from_bytes(v[:3], "big")
        out.append(": OUI %s (0x%06x)" % (OUIS.get(oui, "Unknown"), oui))
        return _dot3(out, v) if oui == OUI_IEEE_8023 else True
    else:
        return True
    return False


def _network_address(v: bytes) -> str:
    """lldp_network_addr_print; Truncated where tcpdump gives up on the TLV."""
    if not v:
        raise Truncated
    af, rest = v[0], v[1:]
    need = {AFNUM_INET: 4, AFNUM_INET6: 16, AFNUM_802: 6}.get(af)
    name = AF_NAMES.get(af, "Unknown")
    if need is None:
        return "AFI %s (%u), no AF printer !" % (name, af)
    if len(rest) < need:
        raise Truncated
    text = ip4(rest[:4]) if af == AFNUM_INET else ip6(rest[:16]) if af == AFNUM_INET6 else mac(rest[:6])
    return "AFI %s (%u): %s" % (name, af, text)


def _management_address(out: list[str], v: bytes) -> None:
    if not v:
        raise Truncated
    addr_len, rest = v[0], v[1:]
    if len(rest) < addr_len:
        raise Truncated
    out.append("\n\t  Management Address length %u, %s" % (addr_len, _network_address(rest[:addr_len])))
    rest = rest[addr_len:]
    if len(rest) < INTF_NUM_LEN:
        raise Truncated
    out.append("\n\t  %s Interface Numbering (%u): %u" % (INTF_NUMBERING.get(rest[0], "Unknown"), rest[0],
                                                          u32(rest, 1)[0]))
    rest = rest[INTF_NUM_LEN:]
    if rest:
        oid_len = rest[0]
        if len(rest) < 1 + oid_len:
            raise Truncated
        if oid_len:
            out.append("\n\t  OID length %u" % oid_len + printjn(rest[1:1 + oid_len]))


def _dot3(out: list[str], v: bytes) -> bool:
    """lldp_private_8023_print."""
    n = len(v)
    if n < 4:
        return False
    subtype = v[3]
    out.append("\n\t  %s Subtype (%u)" % (DOT3_SUBTYPES.get(subtype, "unknown"), subtype))
    if subtype == DOT3_MACPHY:
        if n >= 9:
            pmd, mau = u16(v, 5)[0], u16(v, 7)[0]
            out.append("\n\t    autonegotiation [%s] (0x%02x)\n\t    PMD autoneg capability [%s] (0x%04x)"
                       "\n\t    MAU type %s (0x%04x)" % (
                           bits_text(AUTONEG, v[4], "none"), v[4], bits_text(PMD_CAPABILITIES, pmd, "unknown"), pmd,
                           MAU_TYPES[mau] if mau < len(MAU_TYPES) else "unknown", mau))
    elif subtype == DOT3_LINKAGGR:
        if n >= 9:
            out.append("\n\t    aggregation status [%s], aggregation port ID %u" % (
                bits_text(AGGREGATION, v[4], "none"), u32(v, 5)[0]))
    elif subtype == DOT3_MTU:
        if n >= 6:
            out.append("\n\t    MTU size %u" % u16(v, 4)[0])
    else:
        return True     # Power via MDI is not decoded
    return False
