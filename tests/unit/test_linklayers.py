"""The link types -r reads: every layout the kernel program knows is named as tcpdump names it,
and the kind values Python passes as -D EBCAP_LINK are the C's."""

import ctypes
import re

import pytest

from ebcap.bpf import SOURCE_DIR
from ebcap.capture.kernel import linklayers
from ebcap.capture.kernel.source import ProgramSpec
from ebcap.capture.net.interfaces import describe_linktype
from ebcap.capture.packet import LinkType


def test_link_kinds_are_the_c_ones():
    api = (SOURCE_DIR / "filter_api.h").read_text()
    c = {name: int(value) for name, value in re.findall(r"#define EBCAP_LINK_(\w+) (\d+)", api)}
    assert c == {"ETHERNET": linklayers.ETHERNET, "ETHERTYPE": linklayers.ETHERTYPE,
                 "IP": linklayers.IP, "OPAQUE": linklayers.OPAQUE}


def _libpcap_name(dlt: int) -> str | None:
    lib = ctypes.CDLL("libpcap.so.0.8")
    for fn in (lib.pcap_datalink_val_to_name, lib.pcap_datalink_val_to_description):
        fn.restype = ctypes.c_char_p
    name = lib.pcap_datalink_val_to_name(dlt)
    if name is None:
        return None
    return f"{name.decode()} ({lib.pcap_datalink_val_to_description(dlt).decode()})"


@pytest.mark.parametrize("linktype", sorted(linklayers.LAYOUTS))
def test_every_layout_is_named_as_tcpdump_names_it(linktype):
    described = describe_linktype(linktype)
    dlt = {LinkType.RAW: 12, LinkType.BSD_RAW_14: 12}.get(linktype, linktype)
    expected = _libpcap_name(dlt)
    assert expected is not None
    assert described == expected


@pytest.mark.parametrize("linktype", sorted(linklayers.LAYOUTS))
def test_every_layout_builds_flags(linktype):
    flags = ProgramSpec(linktype=linktype).cflags()
    layout = linklayers.LAYOUTS[linktype]
    assert f"-DEBCAP_LINK={layout.kind}" in flags
    assert f"-DEBCAP_LINK_HLEN={layout.header_length}" in flags


def test_unknown_link_type_is_refused_by_the_program_spec():
    from ebcap.capture.errors import KernelFeatureError
    with pytest.raises(KernelFeatureError):
        ProgramSpec(linktype=147).cflags()
    assert describe_linktype(147) == "147 (unknown)"
