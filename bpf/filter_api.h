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

/* EBCAP_PEEK (a -D from capture/loader.py, which has it from capture/cbpf.py's PEEK_BYTES, as the
 * translated filter depends on it): how many bytes of the virtual packet bpf/ebcap.c copies
 * into a per-CPU buffer (the "peek") before the filter runs. The filter and the header parser
 * read those with plain loads; only loads beyond them call bpf_skb_load_bytes(). Measured on
 * the bench's veth (frames whose headers sit in page fragments), each helper call cost
 * ~30-50 ns, and a "udp" capture made seven of them per packet. */
#ifndef EBCAP_PEEK
#error "EBCAP_PEEK is given by capture/loader.py"
#endif

/* What a filter reads from skb metadata, read once when it starts (clang tends to keep
 * &skb->field in a register across a long filter, and the verifier refuses loads through such a
 * modified context pointer), and the peek. */
struct ebcap_view {
	int tagged;		/* a VLAN tag is held in metadata */
	__u32 tag;		/* TPID << 16 | TCI, as it goes back at offset 12 */
	const __u8 *peek;	/* the first peek_len bytes of the virtual packet */
	__u32 peek_len;		/* min(its length, EBCAP_PEEK) */
};

static __always_inline struct ebcap_view ebcap_view_of(struct __sk_buff *skb)
{
	struct ebcap_view v = { .tagged = ebcap_has_meta_vlan(skb), .tag = 0, .peek = 0,
				.peek_len = 0 };
	if (v.tagged)
		v.tag = ((__u32)bpf_ntohs(skb->vlan_proto) << 16) | skb->vlan_tci;
	return v;
}

/* An empty asm the compiler must assume changes `var`: stops it from optimizing a bounds check
 * away, or moving it to a copy, when the verifier needs to see it on this very register. */
#define barrier_var(var) asm volatile("" : "+r"(var))

/* Where `size` bytes at virtual offset `off` start in the peek, or -1 when they are not all in
 * it. The constant bound is tested on the register the caller then indexes with (barrier), which
 * is what lets the verifier accept v->peek + off even for protochain's computed offsets. */
static __always_inline long ebcap_peek_at(const struct ebcap_view *v, __u32 off, const __u32 size)
{
	__u64 o = off;
	barrier_var(o);
	if (o > EBCAP_PEEK - size || o + size > v->peek_len)
		return -1;
	return o;
}

/* Loads from the peek only: -1 when the bytes are not in it. */
static __always_inline int ebcap_peek_u8(const struct ebcap_view *v, __u32 off, __u32 *a)
{
	long o = ebcap_peek_at(v, off, 1);
	if (o < 0)
		return -1;
	*a = v->peek[o];
	return 0;
}

static __always_inline int ebcap_peek_u16(const struct ebcap_view *v, __u32 off, __u32 *a)
{
	long o = ebcap_peek_at(v, off, 2);
	if (o < 0)
		return -1;
	*a = ((__u32)v->peek[o] << 8) | v->peek[o + 1];
	return 0;
}

static __always_inline int ebcap_peek_u32(const struct ebcap_view *v, __u32 off, __u32 *a)
{
	long o = ebcap_peek_at(v, off, 4);
	if (o < 0)
		return -1;
	*a = ((__u32)v->peek[o] << 24) | ((__u32)v->peek[o + 1] << 16) |
	     ((__u32)v->peek[o + 2] << 8) | v->peek[o + 3];
	return 0;
}

/* One byte of the virtual packet, from the skb. */
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

/* Loads from the skb only (the virtual packet: a tag held in metadata appears at 12). */
static __always_inline int ebcap_skb_u8(struct __sk_buff *skb, const struct ebcap_view *v,
					__u32 off, __u32 *a)
{
	__u8 b;
	if (ebcap_load_byte(skb, v, off, &b))
		return -1;
	*a = b;
	return 0;
}

static __always_inline int ebcap_skb_u16(struct __sk_buff *skb, const struct ebcap_view *v,
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

static __always_inline int ebcap_skb_u32(struct __sk_buff *skb, const struct ebcap_view *v,
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

/* Loads at an offset known only at run time (cBPF's indirect loads): from the peek when the
 * bytes lie inside EBCAP_PEEK (and fail there past the packet's end, as the peek then holds the
 * whole packet), from the skb beyond. */
static __always_inline int ebcap_load_u8(struct __sk_buff *skb, const struct ebcap_view *v,
					 __u32 off, __u32 *a)
{
	return off < EBCAP_PEEK ? ebcap_peek_u8(v, off, a) : ebcap_skb_u8(skb, v, off, a);
}

static __always_inline int ebcap_load_u16(struct __sk_buff *skb, const struct ebcap_view *v,
					  __u32 off, __u32 *a)
{
	return off <= EBCAP_PEEK - 2 ? ebcap_peek_u16(v, off, a) : ebcap_skb_u16(skb, v, off, a);
}

static __always_inline int ebcap_load_u32(struct __sk_buff *skb, const struct ebcap_view *v,
					  __u32 off, __u32 *a)
{
	return off <= EBCAP_PEEK - 4 ? ebcap_peek_u32(v, off, a) : ebcap_skb_u32(skb, v, off, a);
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
