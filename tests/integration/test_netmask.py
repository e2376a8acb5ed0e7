"""The netmask a live capture compiles its filter with (`ip broadcast` needs it) comes from two
ioctls instead of libpcap's pcap_lookupnet() (capture/filter/libpcap.py: a warm start then
needs no dlopen of libpcap); here both answer the same for every kind of interface: with an
IPv4 address of several prefix lengths, with a secondary address, labelled addresses, with no
IPv4 address at all (libpcap fails: 0, as tcpdump then passes), a /32 (PCAP_NETMASK_UNKNOWN:
`ip broadcast` refused), down, a
name libpcap answers itself, and no such interface."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

_COMPARE = r"""
import sys
from ebcap.capture.filter.libpcap import (FilterError, compile_filter, interface_netmask,
                                          lookupnet_netmask)
def outcome(netmask):
    try:
        return compile_filter("ip broadcast", 1, netmask=netmask)
    except FilterError as exc:
        return str(exc)
for name in sys.argv[1:]:
    ours, libpcap = interface_netmask(name), lookupnet_netmask(name)
    got = outcome(ours)
    print(name, ours, libpcap, got == outcome(libpcap), got if isinstance(got, str) else "ok")
"""


def test_netmask_is_pcap_lookupnets(testbed):
    tb = testbed
    ns = tb.left.netns
    setup = [("d24", ["10.9.1.7/24"]), ("d16", ["172.20.3.4/16"]), ("d32", ["10.9.2.1/32"]),
             ("d8", ["10.1.2.3/8"]), ("dsec", ["10.9.3.1/24", "10.9.4.1/28"]),
             ("dnone", []), ("ddown", ["192.168.7.9/25"]), ("anyd", ["10.9.5.1/24"])]
    for n, (name, addresses) in enumerate(setup):     # veth pairs: no dummy module here
        subprocess.run(["ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name",
                        f"peer{n}"], check=True)
        for address in addresses:
            subprocess.run(["ip", "-n", ns, "addr", "add", address, "dev", name], check=True)
        if name != "ddown":
            subprocess.run(["ip", "-n", ns, "link", "set", name, "up"], check=True)
    # a labelled secondary address: the ioctls look addresses up by label, as libpcap's do
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.9.6.1/20", "dev", "d24", "label",
                    "d24:1"], check=True)
    names = [name for name, _ in setup] + ["d24:1", "lo", tb.left.ifname, "nosuchif"]
    out = tb.run(tb.left, [sys.executable, "-I", "-c", _COMPARE, *names],
                 capture_output=True, text=True, check=True).stdout.splitlines()
    results = {line.split(" ", 1)[0]: line.split(" ", 4)[1:] for line in out}
    assert set(results) == set(names)
    for name, (ours, libpcap, same, _compiled) in results.items():
        assert (ours, same) == (libpcap, "True"), name
    # libpcap fails: 0, as tcpdump passes then (`ip broadcast` compiles against it)
    assert results["dnone"][0] == results["nosuchif"][0] == "0"
    # 255.255.255.255 is PCAP_NETMASK_UNKNOWN: libpcap refuses `ip broadcast` either way
    assert results["d32"][3] == "netmask not known, so 'ip broadcast' not supported"
    assert results["d24"][3] == results["d16"][3] == "ok"
    assert len({results[name][0] for name in ("d24", "d16", "d8", "ddown")}) == 4
