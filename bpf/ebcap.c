/* ebcap's kernel side: runs the user's pcap filter on TC ingress/egress and copies the headers
 * (or the first EBCAP_SNAPLEN bytes) of matching packets into a BPF ring buffer.
 *
 * Built by BCC at run time (capture/loader.py) with these compile-time constants:
 *   EBCAP_L2_ETHERNET  1: packets start with an Ethernet header; 0: with an IP header (tun)
 *   EBCAP_SNAPLEN      bytes to copy at most; 0 = headers only (up to the transport header)
 *   EBCAP_RING_PAGES   ring buffer size in pages (a power of two)
 *   EBCAP_OFFLINE      1 when run by BPF_PROG_TEST_RUN on packets from a file
 * and the filter, `ebcap_filter(struct __sk_buff *, __u32 direction)`, from a generated header given
 * with -include (capture/cbpf.py). Nothing else about the filter is known here. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/in.h>
#include <uapi/linux/in6.h>
#include <uapi/linux/pkt_cls.h>

#include "record.h"
#include "filter_api.h"

/* Interfaces one program can count for (-i any on a busy host). */
#define EBCAP_MAX_INTERFACES 4096

/* `events` must stay the first map declared: BCC 0.26 has no ringbuf_query() method, and refers
 * to maps in raw helper calls by declaration order (bpf_pseudo_fd(1, -1) is the first). */
BPF_RINGBUF_OUTPUT(events, EBCAP_RING_PAGES);
#define EBCAP_EVENTS_MAP ((void *)bpf_pseudo_fd(1, -1))
BPF_PERCPU_HASH(interfaces, __u32, struct ebcap_iface, EBCAP_MAX_INTERFACES);
/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns, kept current by user space (it moves when the clock
 * is set or slewed). */
BPF_ARRAY(wall_clock, __u64, 1);

/* An empty asm the compiler must assume changes `var`: stops it from optimizing a bounds check
 * away when the verifier needs to see it on this very register. */
#define barrier_var(var) asm volatile("" : "+r"(var))

/* Headers-only copies stop here even when the headers are longer (IPv6 extension chains). */
#define EBCAP_HEADERS_MAX 256
#define EBCAP_IPV6_EXT_MAX 6
/* Whole packets are limited to tcpdump's maximum snapshot length. */
#define EBCAP_MAXPACKET 262144

static __always_inline struct ebcap_iface *iface_of(struct __sk_buff *skb)
{
	__u32 key = skb->ifindex;
	struct ebcap_iface zero = {};
	return interfaces.lookup_or_try_init(&key, &zero);
}

static __always_inline __u64 wall_clock_ns(void)
{
	__u32 key = 0;
	__u64 *offset = wall_clock.lookup(&key);
	return bpf_ktime_get_ns() + (offset ? *offset : 0);
}

/* Offset of the end of the transport header in the packet's bytes (not counting a tag held in
 * metadata), or of the last header ebcap understands. */
static __always_inline __u32 headers_end(struct __sk_buff *skb)
{
	__u32 off = 0;
	__u16 proto;
	__u8 l4 = 0;

#if EBCAP_L2_ETHERNET
	if (bpf_skb_load_bytes(skb, 12, &proto, 2))
		return skb->len;
	off = ETH_HLEN;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (bpf_skb_load_bytes(skb, off + 2, &proto, 2))
			return off;
		off += 4;
	}
#else
	__u8 version;
	if (bpf_skb_load_bytes(skb, 0, &version, 1))
		return 0;
	proto = (version >> 4) == 6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP);
#endif

	if (proto == bpf_htons(ETH_P_IP)) {
		__u8 vihl;
		__u16 frag;
		if (bpf_skb_load_bytes(skb, off, &vihl, 1) ||
		    bpf_skb_load_bytes(skb, off + 6, &frag, 2) ||
		    bpf_skb_load_bytes(skb, off + 9, &l4, 1))
			return off;
		off += (vihl & 0xf) * 4;
		if (bpf_ntohs(frag) & 0x1fff)	/* not the first fragment: no transport header */
			return off;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, off + 6, &l4, 1))
			return off;
		off += 40;
#pragma unroll
		for (int i = 0; i < EBCAP_IPV6_EXT_MAX; i++) {
			__u8 ext[2];
			if (l4 != IPPROTO_HOPOPTS && l4 != IPPROTO_ROUTING && l4 != IPPROTO_DSTOPTS &&
			    l4 != IPPROTO_FRAGMENT && l4 != IPPROTO_AH)
				break;
			if (bpf_skb_load_bytes(skb, off, ext, 2))
				return off;
			if (l4 == IPPROTO_FRAGMENT) {
				__u16 frag;
				if (bpf_skb_load_bytes(skb, off + 2, &frag, 2))
					return off;
				off += 8;
				if (bpf_ntohs(frag) & 0xfff8)
					return off;
			} else if (l4 == IPPROTO_AH) {
				off += (ext[1] + 2) * 4;
			} else {
				off += (ext[1] + 1) * 8;
			}
			l4 = ext[0];
		}
	} else if (proto == bpf_htons(ETH_P_ARP) || proto == bpf_htons(ETH_P_RARP)) {
		return off + 28;
	} else {
		return off + 64;	/* unknown network layer: its first bytes, to show something */
	}

	if (l4 == IPPROTO_TCP) {
		__u8 doff;
		if (bpf_skb_load_bytes(skb, off + 12, &doff, 1))
			return off;
		return off + (doff >> 4) * 4;
	}
	if (l4 == IPPROTO_UDP || l4 == IPPROTO_UDPLITE || l4 == IPPROTO_ICMP ||
	    l4 == IPPROTO_ICMPV6 || l4 == IPPROTO_IGMP)
		return off + 8;
	if (l4 == IPPROTO_SCTP)
		return off + 12;
	if (l4 == IPPROTO_GRE)
		return off + 4;
	return off;
}

/* Copy `n` bytes of the virtual packet (tag put back when held in metadata) into `data`, which
 * has room for `room` (a power of two) + EBCAP_TAG_SLACK bytes. The masks look redundant after
 * the clamps: they are there because the verifier must see 1 <= length <= room on the very
 * register passed to the helper, and clang tends to test a copy. */
#define EBCAP_TAG_SLACK (EBCAP_VLAN_OFF + EBCAP_VLAN_LEN)

static __always_inline void copy_packet(struct __sk_buff *skb, __u8 *data, __u64 n, const __u64 room,
					int tagged, __u32 vlan_tag)
{
	if (n > room)
		n = room;
	if (n == 0)
		return;
	if (!tagged) {
		bpf_skb_load_bytes(skb, 0, data, ((n - 1) & (room - 1)) + 1);
		return;
	}
	if (n <= EBCAP_TAG_SLACK)
		return;
	bpf_skb_load_bytes(skb, 0, data, EBCAP_VLAN_OFF);
	__u32 tag = bpf_htonl(vlan_tag);
	__builtin_memcpy(data + EBCAP_VLAN_OFF, &tag, EBCAP_VLAN_LEN);
	/* rest < room, so the mask keeps its value; the slack keeps it inside the record */
	__u64 rest = n - EBCAP_TAG_SLACK;
	bpf_skb_load_bytes(skb, EBCAP_VLAN_OFF, data + EBCAP_TAG_SLACK, ((rest - 1) & (room - 1)) + 1);
}

/* Waking the reader for every record that finds it idle costs the sending CPU an irq_work and the
 * reader a wake-up per handful of packets (measured: ~5 packets per wake-up at 200 kpps). So the
 * reader is woken only once the ring holds EBCAP_WAKEUP_BYTES; below that it collects what
 * arrived when its poll times out (capture/session.py POLL_SECONDS). */
#define EBCAP_WAKEUP_BYTES (EBCAP_RING_PAGES * 4096 / 16)

static __always_inline __u64 wakeup_flags(void)
{
#if EBCAP_OFFLINE
	return BPF_RB_NO_WAKEUP;
#else
	return bpf_ringbuf_query(EBCAP_EVENTS_MAP, BPF_RB_AVAIL_DATA) >= EBCAP_WAKEUP_BYTES ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
#endif
}

/* The verifier wants a constant size for bpf_ringbuf_reserve(), so records come in a few size
 * classes (`room`, a constant once inlined) and carry their real length in caplen. */
static __always_inline void emit_record(struct __sk_buff *skb, struct ebcap_iface *iface,
					__u32 direction, __u32 wirelen, __u32 caplen, int tagged,
					__u32 vlan_tag, const __u64 room)
{
	struct ebcap_epb_head *head = events.ringbuf_reserve(
		sizeof(*head) + room + EBCAP_TAG_SLACK + sizeof(struct ebcap_epb_tail));
	if (!head) {
		if (iface)
			iface->lost++;
		return;
	}
	/* clang knows caplen <= room from the caller and drops this clamp, but tests a copy of
	 * caplen there, so the verifier never learns the bound: the barrier keeps the clamp */
	__u64 len = caplen;
	barrier_var(len);
	if (len > room)
		len = room;
	__u64 padded = (len + 3) & ~3ULL;
	__u32 total = sizeof(*head) + padded + sizeof(struct ebcap_epb_tail);
	__u64 ts = wall_clock_ns();
	__u8 *data = (__u8 *)(head + 1);

	head->block_type = EBCAP_BT_EPB;
	head->total_length = total;
	head->interface_id = iface ? iface->interface_id : 0;
	head->ts_high = ts >> 32;
	head->ts_low = (__u32)ts;
	head->caplen = len;
	head->wirelen = wirelen;
	/* zero the pad bytes first (ring memory is not cleared); the copy then overwrites
	 * the packet's part of that word */
	*(__u32 *)(data + (len & ~3ULL)) = 0;
	copy_packet(skb, data, len, room, tagged, vlan_tag);
	struct ebcap_epb_tail *tail = (struct ebcap_epb_tail *)(data + padded);
	tail->flags_code = EBCAP_OPT_EPB_FLAGS;
	tail->flags_length = 4;
	tail->flags = direction;
	tail->end_of_options = 0;
	tail->total_length = total;
	events.ringbuf_submit(head, wakeup_flags());
}

#define EMIT_IN(ROOM)								\
	if (caplen <= (ROOM))							\
		return emit_record(skb, iface, direction, wirelen, caplen, tagged, view.tag, (ROOM));

static __always_inline void emit(struct __sk_buff *skb, struct ebcap_iface *iface,
				 __u32 direction)
{
	const struct ebcap_view view = ebcap_view_of(skb);
	int tagged = view.tagged;
	__u32 wirelen = ebcap_packet_len(skb, &view);
	__u32 caplen;

#if EBCAP_SNAPLEN == 0
	caplen = headers_end(skb);
	if (caplen > skb->len)
		caplen = skb->len;
	if (tagged)
		caplen += EBCAP_VLAN_LEN;
	if (caplen > EBCAP_HEADERS_MAX)
		caplen = EBCAP_HEADERS_MAX;
	EMIT_IN(128)
	EMIT_IN(EBCAP_HEADERS_MAX)
#else
	caplen = skb->len + (tagged ? EBCAP_VLAN_LEN : 0);
	if (caplen > EBCAP_SNAPLEN)
		caplen = EBCAP_SNAPLEN;
	EMIT_IN(128)
#if EBCAP_SNAPLEN > 128
	EMIT_IN(512)
#endif
#if EBCAP_SNAPLEN > 512
	EMIT_IN(2048)
#endif
#if EBCAP_SNAPLEN > 2048
	EMIT_IN(16384)
#endif
#if EBCAP_SNAPLEN > 16384
	EMIT_IN(65536)
#endif
#if EBCAP_SNAPLEN > 65536
	EMIT_IN(EBCAP_MAXPACKET)
#endif
#endif
}

static __always_inline int capture(struct __sk_buff *skb, __u32 direction)
{
	struct ebcap_iface *iface = iface_of(skb);
	if (iface)
		iface->seen++;
	if (!ebcap_filter(skb, direction))
		return TC_ACT_UNSPEC;
	if (iface)
		iface->matched++;
	emit(skb, iface, direction);
	return TC_ACT_UNSPEC;	/* TCX_NEXT: let the packet and any other program go on */
}

int ebcap_ingress(struct __sk_buff *skb)
{
	return capture(skb, EBCAP_DIR_IN);
}

int ebcap_egress(struct __sk_buff *skb)
{
	return capture(skb, EBCAP_DIR_OUT);
}
