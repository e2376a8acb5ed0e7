"""What the translated filter's first argument is, in each kind of program that calls it: the
context tells capture/filter/translate.py where libpcap's `len` and the Linux ancillary fields
are, and how bytes past the peek are read. One translator, these contexts:
  tc          a TC program's struct __sk_buff (bpf/ebcap.c at its hooks)
  offline     the same, run by BPF_PROG_TEST_RUN on packets from a file
  tc-direct, offline-direct
              the same two, for the filter that reads the packet in place (direct packet
              access, skb->data to skb->data_end: the skb's linear part) before anything is
              copied; a load it cannot prove inside that part makes it return UNDECIDED, and
              the copying filter (tc, offline) decides instead
  offline-xdp the in-place filter of -r's XDP program (capture/kernel/xdp_offline.py)
  tracepoint  bpf/drops.c's struct ebcap_drop_meta: a raw tracepoint has no __sk_buff
"""

from __future__ import annotations

from collections import namedtuple

# struct __sk_buff (uapi/linux/bpf.h), the fields the filter reads
SKB_LEN, SKB_PKT_TYPE, SKB_MARK, SKB_QUEUE_MAPPING, SKB_PROTOCOL = 0, 4, 8, 12, 16
SKB_VLAN_TCI, SKB_VLAN_PROTO, SKB_IFINDEX, SKB_HASH, SKB_WIRE_LEN = 24, 28, 40, 68, 160

# struct ebcap_drop_meta (bpf/drop_record.h; tests/unit/test_drop_record.py compares)
META_FRAME, META_LINEAR, META_LEN, META_PROTOCOL, META_IFINDEX, META_MARK, META_HASH = \
    0, 8, 12, 16, 20, 24, 28
META_RAW = 32               # read by the drop program's choice of filter, not by a filter
META_PKT_TYPE = 40

# Ancillary loads (SKF_AD_* offsets from SKF_AD_OFF) that read a field of the context
SKF_PROTOCOL, SKF_IFINDEX, SKF_MARK, SKF_QUEUE, SKF_RXHASH, SKF_VLAN_TCI, SKF_VLAN_TPID = \
    0, 8, 20, 24, 32, 44, 60


class Context(namedtuple("Context", [
        "name",                     # str
        "length",                   # int: offset of libpcap's `len` in the context
        "fields",                   # dict: SKF_AD_* index -> offset of a u32 field in it
        "skb_loads",                # bool: past the peek, bpf_skb_load_bytes (else
                                    # probe_read_kernel)
        "pkttype",                  # int | None: offset of pkt_type, None when there is none
        "length_adds_tag",          # bool (False): `len` is the skb's plus a VLAN tag held in
                                    # metadata
        "direct",                   # bool (False): reads skb->data..data_end in place (never
                                    # the peek)
        ], defaults=(False, False))):
    """What the filter's first argument is, and so how it reads the packet past the peek and
    the packet's metadata. One translator serves both; only these differ. (collections' named
    tuple: capture/filter/libpcap.py's Insn says why.)"""

    __slots__ = ()


# A TC program's __sk_buff (offline: the file's length is wire_len, set by the test run)
TC = Context("tc", SKB_LEN, {SKF_PROTOCOL: SKB_PROTOCOL, SKF_IFINDEX: SKB_IFINDEX,
                             SKF_MARK: SKB_MARK, SKF_QUEUE: SKB_QUEUE_MAPPING,
                             SKF_RXHASH: SKB_HASH, SKF_VLAN_TCI: SKB_VLAN_TCI,
                             SKF_VLAN_TPID: SKB_VLAN_PROTO}, True, SKB_PKT_TYPE, True)
OFFLINE = Context("offline", SKB_WIRE_LEN, TC.fields, True, SKB_PKT_TYPE)
# A raw tracepoint's view (bpf/drops.c): no __sk_buff and no bpf_skb_load_bytes there, so the
# context is a struct ebcap_drop_meta, and bytes past the peek are read from the frame's kernel
# address with bpf_probe_read_kernel, within its linear part (4 lower past the VLAN tag the drop
# program puts back, as at TC). It has no queue or VLAN fields to offer.
TRACEPOINT = Context("tracepoint", META_LEN, {SKF_PROTOCOL: META_PROTOCOL,
                                              SKF_IFINDEX: META_IFINDEX, SKF_MARK: META_MARK,
                                              SKF_RXHASH: META_HASH}, False, META_PKT_TYPE)
# In place: bpf/ebcap.c calls these only for a packet whose VLAN tag (if any) is in its bytes,
# so virtual offsets are the skb's and `len` is skb->len (offline: the file's wire_len).
TC_DIRECT = Context("tc-direct", SKB_LEN, TC.fields, True, SKB_PKT_TYPE, direct=True)
OFFLINE_DIRECT = Context("offline-direct", SKB_WIRE_LEN, TC.fields, True, SKB_PKT_TYPE,
                         direct=True)
# An offline XDP program's view (capture/kernel/xdp_offline.py): the frame in place, `len` the
# first u32 of a struct the caller makes; no skb metadata, so a filter that reads any cannot be
# translated here (and the SCHED_CLS program filters it).
OFFLINE_XDP = Context("offline-xdp", 0, {}, True, None, direct=True)
CONTEXTS = {c.name: c for c in (TC, OFFLINE, TC_DIRECT, OFFLINE_DIRECT, OFFLINE_XDP,
                                TRACEPOINT)}
