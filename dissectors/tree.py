"""Scapy-based full decodes: the -V layer tree (like tshark -V) and --json (ndjson).

These modes are for reading, not for line rate, so Scapy (imported here, lazily) is the right tool:
it knows far more protocols than the line printer.
"""

from __future__ import annotations

import enum
import ipaddress
import json
from typing import Any, TextIO

from ebcap.capture.packet import Direction, Interface, LinkType, Packet
from ebcap.dissectors.null import LINKTYPE_LOOP
from ebcap.dissectors.options import PrintOptions
from ebcap.dissectors.timefmt import TimestampFormatter


def _scapy_class(linktype: int):
    """The Scapy layer class that starts a frame of this link type."""
    from scapy.config import conf
    from scapy.layers.inet import IP
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether, Loopback, LoopbackOpenBSD
    from scapy.packet import Raw

    found = {
        LinkType.ETHERNET: Ether,
        LinkType.LINUX_SLL: CookedLinux,
        LinkType.LINUX_SLL2: CookedLinuxV2,
        LinkType.NULL: Loopback,
        LINKTYPE_LOOP: LoopbackOpenBSD,
        **dict.fromkeys(RAW_IP, IP),
    }.get(linktype)
    # Scapy's own table for the rest (PPP, PPPoE, 802.11, radiotap, ...), which loads its layers
    return found or conf.l2types.get(linktype) or Raw


# raw IP, whichever value says so: the version nibble picks the class (dissect)
RAW_IP = (LinkType.RAW, LinkType.BSD_RAW_12, LinkType.BSD_RAW_14, LinkType.IPV4, LinkType.IPV6)


def dissect(data: bytes, linktype: int):
    """Decode with Scapy; a frame Scapy itself cannot parse comes back as one Raw layer."""
    from scapy.config import conf
    from scapy.packet import Raw

    cls = _scapy_class(linktype)
    if linktype in RAW_IP and data[:1] and data[0] >> 4 == 6:
        from scapy.layers.inet6 import IPv6
        cls = IPv6
    try:
        return cls(data)
    except Exception:  # noqa: BLE001 - Scapy raises anything on hostile input; show the bytes
        return conf.raw_layer(data) if hasattr(conf, "raw_layer") else Raw(data)


class _Base:
    def __init__(self, options: PrintOptions, interfaces: list[Interface], stream: TextIO) -> None:
        import scapy.all  # noqa: F401 - registers every layer binding, so dissection goes deep

        self._o = options
        self._interfaces = interfaces
        self._stream = stream
        self._timestamp = TimestampFormatter(options)

    def _interface(self, packet: Packet) -> tuple[str, int]:
        if 0 <= packet.interface < len(self._interfaces):
            iface = self._interfaces[packet.interface]
            return iface.name, iface.linktype
        return "?", LinkType.ETHERNET


class TreePrinter(_Base):
    """A frame header line, then Scapy's show() layer tree; an optional hex dump; a blank line."""

    def print(self, packet: Packet) -> None:
        name, linktype = self._interface(packet)
        direction = _direction(packet.direction)
        stamp = self._timestamp(packet.ts_ns).strip()
        head = "Frame: %sinterface %s, direction %s, %u bytes on wire, %u bytes captured" % (
            stamp + ", " if stamp else "", name, direction, packet.wirelen, len(packet.data))
        pkt = dissect(packet.data, linktype)
        try:
            tree = pkt.show(dump=True)
        except Exception as exc:  # noqa: BLE001 - a field that cannot render must not stop the capture
            tree = "###[ Undecodable ]###\n  error     = %s\n  load      = %r\n" % (exc, packet.data)
        parts = [head, "\n", tree.rstrip("\n"), "\n"]
        if self._o.hex or self._o.hex_ascii:
            from ebcap.dissectors.hexdump import hex_ascii_dump, hex_dump
            dump = hex_ascii_dump if self._o.hex_ascii else hex_dump
            parts.append(dump(packet.data).lstrip("\n") + "\n")
        parts.append("\n")
        self._stream.write("".join(parts))


class JsonPrinter(_Base):
    """One JSON object per packet per line: frame metadata and a list of layers with their fields."""

    def print(self, packet: Packet) -> None:
        self._stream.write(json.dumps(self.record(packet), separators=(",", ":"), ensure_ascii=False) + "\n")

    def record(self, packet: Packet) -> dict[str, Any]:
        name, linktype = self._interface(packet)
        layers = []
        layer = dissect(packet.data, linktype)
        while layer is not None and layer.__class__.__name__ != "NoPayload":
            layers.append({"layer": layer.name, "fields": _fields(layer)})
            layer = layer.payload if layer.payload else None
        out = {
            "timestamp": "%d.%09d" % divmod(packet.ts_ns, 1_000_000_000) if self._o.nano
            else "%d.%06d" % divmod(packet.ts_ns // 1000, 1_000_000),
            "ts_ns": packet.ts_ns,
            "interface": name,
            "direction": _direction(packet.direction),
            "wirelen": packet.wirelen,
            "caplen": len(packet.data),
            "layers": layers,
        }
        if packet.owner is not None:        # --owners, or a file's owner comments
            out["owner"] = packet.owner.json()
        return out


def _direction(d: int) -> str:
    return {Direction.IN: "in", Direction.OUT: "out"}.get(d, "unknown")


def _fields(layer) -> dict[str, Any]:
    out = {}
    for fdesc in layer.fields_desc:
        try:
            value = layer.getfieldval(fdesc.name)
        except Exception:  # noqa: BLE001
            value = None
        out[fdesc.name] = json_safe(value)
    return out


def json_safe(value: Any, depth: int = 0) -> Any:
    """Turn a Scapy field value into something json.dumps accepts, losing no information."""
    if depth > 20:
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value, depth + 1)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            text = raw.decode("ascii")
            if text.isprintable():
                return text
        except UnicodeDecodeError:
            pass
        return {"hex": raw.hex()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if hasattr(value, "fields_desc"):   # a Packet nested in a field (DNS records, options)
        return {"layer": value.name, "fields": _fields(value)}
    if isinstance(value, int):          # FlagValue and friends subclass nothing JSON knows
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)

