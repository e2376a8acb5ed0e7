/* The packet as libpcap sees it, for the filter and the header parser.
 *
 * A VLAN tag that the kernel moved into skb metadata (on receive, or on a device with tx-vlan
 * offload) is put back in the bytes at offset 12, so `vlan 10` means at TC what it means in
 * tcpdump. Offsets are therefore "virtual": with a tag in metadata, 12..15 are the tag and
 * everything after shifts by four.
 *
 * The filter itself is not C: it is translated from libpcap's classic BPF into eBPF
 * (capture/filter/translate.py) and spliced into the compiled program (capture/kernel/splice.py)
 * where ebcap_filter() is called. A load beyond the packet fails there, and the filter then
 * returns 0, as the kernel's cBPF does. */
#ifndef EBCAP_FILTER_API_H
#define EBCAP_FILTER_API_H

#include <uapi/linux/bpf.h>
#include "record.h"

/* bpf/ebcap.c's EBCAP_LINK values (capture/kernel/linklayers.py) */
#define EBCAP_LINK_ETHERNET 0
#define EBCAP_LINK_ETHERTYPE 1
#define EBCAP_LINK_IP 2
#define EBCAP_LINK_OPAQUE 3

#define EBCAP_VLAN_OFF 12
#define EBCAP_VLAN_LEN 4

static __always_inline int ebcap_has_meta_vlan(struct __sk_buff *skb)
{
#if EBCAP_LINK == EBCAP_LINK_ETHERNET
	return skb->vlan_present;
#else
	return 0;
#endif
}

/* EBCAP_PEEK (a -D from capture/kernel/source.py, which has it from capture/filter/translate.py's
 * PEEK_BYTES, as the translated filter depends on it): how many bytes of the virtual packet bpf/ebcap.c copies
 * into a per-CPU buffer (the "peek") before the filter runs. The filter and the header parser
 * read those with plain loads; only loads beyond them call bpf_skb_load_bytes(). Measured on
 * the bench's veth (frames whose headers sit in page fragments), each helper call cost
 * ~30-50 ns, and a "udp" capture made seven of them per packet. */
#ifndef EBCAP_PEEK
#error "EBCAP_PEEK is given by capture/kernel/source.py"
#endif

/* The filter: this call names no helper. User space puts the translated filter in its place
 * (capture/kernel/inline.py), or where it cannot, turns it into a BPF-to-BPF call to the filter
 * appended to the program as a subprogram (capture/kernel/splice.py), so that a new filter needs
 * no compiler. Its arguments are the filter's whole view of the packet: the skb (for loads past
 * the peek and for metadata), the peek and its length, the direction (inbound/outbound), and
 * the tag held in metadata (TPID << 16 | TCI, 0 for none). Non-zero: the packet matches. */
#define EBCAP_FILTER_STUB 0x7EBCA
static __u64 (*ebcap_filter)(struct __sk_buff *skb, const __u8 *peek, __u64 peek_len,
			     __u64 direction, __u64 tag) = (void *)EBCAP_FILTER_STUB;

/* The same filter reading the packet in place, called first (capture/filter/contexts.py's
 * tc-direct): data and data_end are skb->data and skb->data_end, the skb's linear part, and
 * the packet's VLAN tag, if any, must be in its bytes. It returns 0 or 1 as ebcap_filter()
 * would, or EBCAP_FILTER_UNDECIDED when a load falls past the linear part: then only
 * ebcap_filter(), on the peek, can decide. Socket-sent packets have their headers there, so
 * most are decided without copying anything. */
#define EBCAP_FILTER_DIRECT_STUB 0x7EBCB
#define EBCAP_FILTER_UNDECIDED 2
static __u64 (*ebcap_filter_direct)(struct __sk_buff *skb, const void *data,
				    const void *data_end, __u64 direction,
				    __u64 tag) = (void *)EBCAP_FILTER_DIRECT_STUB;

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

/* Loads from the peek (the header parser's): -1 when the bytes are not in it. */
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
