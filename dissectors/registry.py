"""The dispatch tables: link type -> ethertype -> IP protocol -> well-known port (tcpdump's print.c,
print-ether.c, print-ip-demux.c, print-tcp.c/print-udp.c). Adding a protocol is one module and one row.

Rows by layer, with the printer's signature (see dissectors/context.py):
  LINK_TYPES      f(nd, data, length)                          the frame from its first byte
  ETHERTYPES      f(nd, data, off, length)                     a network-layer header at off
  IP_PROTOCOLS    f(nd, data, off, length, ip, fragmented)     see dissectors/ipdemux.py
  TCP/UDP_PORTS   f(nd, data, pay, length)                     the payload at pay
  TCP_TRAILERS    f(nd, data, pay, length, sport, dport)       ebcap's own text after tcpdump's
"""

from __future__ import annotations

from ebcap.capture.packet import LinkType
from ebcap.dissectors import (
    ah,
    arp,
    bfd,
    bgp,
    bootp,
    dccp,
    dhcp6,
    dns,
    eapol,
    esp,
    ethernet,
    geneve,
    gre,
    hsrp,
    http,
    icmp,
    icmp6,
    ieee802_11,
    igmp,
    ipv4,
    ipv6,
    isakmp,
    lldp,
    mpls,
    nflog,
    nfs,
    ntp,
    null,
    openflow,
    ospf,
    pim,
    ppp,
    pppoe,
    radiotap,
    radius,
    raw,
    rip,
    sctp,
    sflow,
    sll,
    slow,
    snmp,
    ssh,
    syslog,
    tcp,
    tftp,
    tls,
    udp,
    vrrp,
    vxlan,
)
from ebcap.dissectors import babel, bcm_li, eigrp, l2tp, ldp, ptp, ripng  # issue 15, part A
from ebcap.dissectors.context import PortTable

LINK_TYPES = {
    LinkType.NULL: null.null_print,
    null.LINKTYPE_LOOP: null.null_print,
    LinkType.ETHERNET: ethernet.ether_print,
    LinkType.RAW: raw.raw_print,
    LinkType.BSD_RAW_12: raw.raw_print,
    LinkType.BSD_RAW_14: raw.raw_print,
    LinkType.IPV4: raw.raw_print,
    LinkType.IPV6: raw.raw_print,
    LinkType.LINUX_SLL: sll.sll_print,
    LinkType.LINUX_SLL2: sll.sll2_print,
    LinkType.PPP: ppp.ppp_if_print,
    LinkType.PPP_ETHER: pppoe.pppoe_if_print,
    LinkType.NFLOG: nflog.nflog_if_print,
    LinkType.IEEE802_11: ieee802_11.ieee802_11_if_print,
    LinkType.IEEE802_11_RADIO: radiotap.radiotap_if_print,
}
# Link types whose header names the interface, so the printer writes no `IFNAME In` prefix of its own.
NAMES_INTERFACE = frozenset((LinkType.LINUX_SLL2,))

ETHERTYPES = {
    0x0800: ipv4.ip_print,
    0x86DD: ipv6.ip6_print,
    0x0806: arp.arp_print,
    0x8035: arp.arp_print,
    0x8847: mpls.mpls_print,
    0x8848: mpls.mpls_print,
    0x8863: pppoe.pppoe_print,
    0x8864: pppoe.pppoe_print,
    0x8809: slow.slow_print,
    0x888E: eapol.eapol_print,
    0x88CC: lldp.lldp_print,
}

IP_PROTOCOLS = {
    1: icmp.icmp_print,
    2: igmp.igmp_print,
    4: ipv4.ip_in_ip_print,
    6: tcp.tcp_print,
    17: udp.udp_print,
    41: ipv6.ip6_in_ip_print,
    47: gre.gre_print,
    50: esp.esp_print,
    51: ah.ah_print,
    58: icmp6.icmp6_print,
    59: ipv6.no_next_header_print,
    89: ospf.ospf_print,
    103: pim.pim_print,
    112: vrrp.vrrp_print,
    132: sctp.sctp_print,
    # issue 15, part B
    33: dccp.dccp_print,
}

# In order of precedence: where both ports have a printer, the earlier row's wins.
TCP_PORTS = PortTable([
    (179, bgp.bgp_print),
    (22, ssh.ssh_print),
    (80, http.http_print),
    (8080, http.http_print),
    (53, dns.domain_tcp_print),
    # issue 15, part B (print-tcp.c tests OpenFlow before HTTP and DNS: rare where both ports match)
    (6633, openflow.openflow_print),
    (6653, openflow.openflow_print),
    (2049, nfs.nfs_tcp_print),
])
# print-udp.c's order; LLMNR (5355) has no row there: tcpdump 4.99 prints it as plain UDP.
UDP_PORTS = PortTable([
    (53, dns.domain_print),
    (5353, dns.mdns_print),
    (69, tftp.tftp_print),
    (67, bootp.bootp_print),
    (68, bootp.bootp_print),
    (520, rip.rip_print),
    (161, snmp.snmp_print),
    (162, snmp.snmp_print),
    (123, ntp.ntp_print),
    (546, dhcp6.dhcp6_print),
    (547, dhcp6.dhcp6_print),
    *((port, radius.radius_print) for port in radius.PORTS),
    (1985, hsrp.hsrp_print),
    (bcm_li.BCM_LI_PORT, bcm_li.bcm_li_print),   # issue 15, part A: print-udp.c tries it before BFD
    (3784, bfd.bfd_control_print),
    (4784, bfd.bfd_multihop_print),
    (6784, bfd.bfd_lag_print),
    (3785, bfd.bfd_echo_print),
    (514, syslog.syslog_print),
    (4789, vxlan.vxlan_print),
    (6081, geneve.geneve_print),
    (6635, mpls.mpls_print),
    # issue 15, part B (print-udp.c tests ISAKMP before SNMP, NTP, ...: rare where both ports match)
    (500, isakmp.isakmp_print),
    (4500, isakmp.isakmp_rfc3948_print),
    (7500, isakmp.isakmp_print),
    (8500, isakmp.isakmp_print),
    (6343, sflow.sflow_print),
])
TCP_TRAILERS = (tls.client_hello_print,)

# issue 15, part A: rows after every row above (the UDP ones in print-udp.c's order).
ETHERTYPES.update({
    0x88F7: ptp.ptp_print,
})
IP_PROTOCOLS.update({
    88: eigrp.eigrp_print,
})
UDP_PORTS.append_rows([
    (1701, l2tp.l2tp_print),
    (521, ripng.ripng_print),
    (6696, babel.babel_print),
    (6697, babel.babel_print),
    (646, ldp.ldp_print),
    (319, ptp.ptp_print),
    (320, ptp.ptp_print),
])
TCP_PORTS.append_rows([
    (646, ldp.ldp_print),
])
