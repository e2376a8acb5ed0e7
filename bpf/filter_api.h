/* What a translated pcap filter may call (capture/cbpf.py emits calls to these).
 *
 * Filters see the packet as libpcap would: a VLAN tag that the kernel moved into skb metadata
 * (on receive, or on a device with tx-vlan offload) is put back in the bytes at offset 12, so
 * `vlan 10` means at TC what it means in tcpdump. Offsets are therefore "virtual": with a tag in
 * metadata, 12..15 are the tag and everything after shifts by four.
 *
 * A load beyond the packet fails, and the filter then returns 0, as the kernel's cBPF does. */
#ifndef EBCAP_FILTER_API_H
#define EBCAP_FILTER_API_H

#include <uapi/linux/bpf.h>
#include "record.h"

#define EBCAP_VLAN_OFF 12
#define EBCAP_VLAN_LEN 4

static __always_inline int ebcap_has_meta_vlan(struct __sk_buff *skb)
{
#if EBCAP_L2_ETHERNET
	return skb->vlan_present;
#else
	return 0;
#endif
}

/* What a filter reads from skb metadata, read once when it starts: clang tends to keep
 * &skb->field in a register across a long filter, and the verifier refuses loads through such a
 * modified context pointer. */
struct ebcap_view {
	int tagged;		/* a VLAN tag is held in metadata */
	__u32 tag;		/* TPID << 16 | TCI, as it goes back at offset 12 */
};

static __always_inline struct ebcap_view ebcap_view_of(struct __sk_buff *skb)
{
	struct ebcap_view v = { .tagged = ebcap_has_meta_vlan(skb), .tag = 0 };
	if (v.tagged)
		v.tag = ((__u32)bpf_ntohs(skb->vlan_proto) << 16) | skb->vlan_tci;
	return v;
}

/* One byte of the virtual packet. */
static __always_inline int ebcap_load_byte(struct __sk_buff *skb, const struct ebcap_view *v,
					   __u32 off, __u8 *to)
{
	if (!v->tagged || off < EBCAP_VLAN_OFF)
		return bpf_skb_load_bytes(skb, off, to, 1);
	if (off >= EBCAP_VLAN_OFF + EBCAP_VLAN_LEN)
		return bpf_skb_load_bytes(skb, off - EBCAP_VLAN_LEN, to, 1);
	*to = v->tag >> (8 * (EBCAP_VLAN_OFF + 3 - off));
	return 0;
}

static __always_inline int ebcap_load_u8(struct __sk_buff *skb, const struct ebcap_view *v,
					 __u32 off, __u32 *a)
{
	__u8 b;
	if (ebcap_load_byte(skb, v, off, &b))
		return -1;
	*a = b;
	return 0;
}

static __always_inline int ebcap_load_u16(struct __sk_buff *skb, const struct ebcap_view *v,
					  __u32 off, __u32 *a)
{
	if (!v->tagged || off + 2 <= EBCAP_VLAN_OFF) {
		__u16 w;
		if (bpf_skb_load_bytes(skb, off, &w, 2))
			return -1;
		*a = bpf_ntohs(w);
		return 0;
	}
	__u8 b0, b1;
	if (ebcap_load_byte(skb, v, off, &b0) || ebcap_load_byte(skb, v, off + 1, &b1))
		return -1;
	*a = ((__u32)b0 << 8) | b1;
	return 0;
}

static __always_inline int ebcap_load_u32(struct __sk_buff *skb, const struct ebcap_view *v,
					  __u32 off, __u32 *a)
{
	if (!v->tagged || off + 4 <= EBCAP_VLAN_OFF) {
		__u32 w;
		if (bpf_skb_load_bytes(skb, off, &w, 4))
			return -1;
		*a = bpf_ntohl(w);
		return 0;
	}
	__u8 b0, b1, b2, b3;
	if (ebcap_load_byte(skb, v, off, &b0) || ebcap_load_byte(skb, v, off + 1, &b1) ||
	    ebcap_load_byte(skb, v, off + 2, &b2) || ebcap_load_byte(skb, v, off + 3, &b3))
		return -1;
	*a = ((__u32)b0 << 24) | ((__u32)b1 << 16) | ((__u32)b2 << 8) | b3;
	return 0;
}

/* SKF_AD_PKTTYPE (libpcap's inbound/outbound): at TC egress skb->pkt_type still says
 * PACKET_HOST; an AF_PACKET tap would see PACKET_OUTGOING there, and so does the filter. */
#define EBCAP_PACKET_OUTGOING 4

static __always_inline __u32 ebcap_pkt_type(struct __sk_buff *skb, __u32 direction)
{
	return direction == EBCAP_DIR_OUT ? EBCAP_PACKET_OUTGOING : skb->pkt_type;
}

/* BPF_LD|BPF_LEN: libpcap's "len" is the length on the wire. Offline (BPF_PROG_TEST_RUN) the
 * packet in the file may be truncated, so the runner passes the original length as wire_len. */
static __always_inline __u32 ebcap_packet_len(struct __sk_buff *skb, const struct ebcap_view *v)
{
#if EBCAP_OFFLINE
	return skb->wire_len;
#else
	return skb->len + (v->tagged ? EBCAP_VLAN_LEN : 0);
#endif
}

#endif
