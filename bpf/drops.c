/* ebcap --drops: the packets the kernel frees as dropped (the skb:kfree_skb tracepoint), with
 * the reason and the place, when they match the user's pcap filter.
 *
 * A raw tracepoint program (BPF_PROG_TYPE_RAW_TRACEPOINT) attached by a BPF link
 * (capture/kernel/tracepoint.py); with EBCAP_OWNERS a BTF tracepoint one (tp_btf/kfree_skb:
 * BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP), the same code, which may also call
 * bpf_sk_storage_get on the sockets its arguments give. Built by BCC like ebcap.c, once per
 * configuration, with:
 *   EBCAP_RING_PAGES   ring buffer size in pages
 *   EBCAP_PEEK         bytes copied for the filter (filter_api.h)
 *   EBCAP_DROP_ROOM    the most bytes of a frame a record holds (a power of two)
 *   EBCAP_TP_RX_SK     1 when the tracepoint has its fourth argument, rx_sk (6.18 has)
 *   EBCAP_META_VLAN    1 when sk_buff.vlan_all says whether a VLAN tag is held in metadata
 *                      (kernels without the older vlan_present bit)
 *   EBCAP_OWNERS       1: each record carries the owner of the drop's socket (--owners), and
 *                      EBCAP_PID_FILTER, EBCAP_COMM_FILTER, EBCAP_CGROUP_FILTER choose drops
 *                      by it, as in ebcap.c
 *   EBCAP_REASON_NOT_DROPPED_YET, EBCAP_REASON_CONSUMED
 *                      enum skb_drop_reason's values in the running kernel (normal frees)
 *   BTF_*              struct member offsets in the running kernel, from its BTF (and, for
 *                      a bitfield, its _SHIFT and _MASK within its byte): BCC compiles
 *                      against whatever headers it finds (Debian's 6.1 ones here, where sk_buff's
 *                      head is at 200, against 192 in the running 6.18), so struct sk_buff is
 *                      never dereferenced here, only read at these offsets. BTF_SKB_SPAN and
 *                      BTF_NETDEV_SPAN are the first offset and the length of the part of each
 *                      struct that holds every member read.
 * Per drop: the sk_buff's fields (one read of its span), the frame's first bytes from
 * skb->head + its mac (or network) header into a per-CPU peek, then the spliced filter
 * (filter_api.h's ebcap_filter, in its tracepoint context: libpcap's filter for Ethernet
 * frames, or for frames without a link header, as meta.raw says), and a match into the ring.
 * Each bpf_probe_read_kernel is a helper call with its own fault handling: reading the members
 * one by one, in one program per link type (~16 calls a drop each), cost ~1.2 us a drop here
 * (benchmarks/drops_cost.py); one program reading two spans costs 4-5 calls a drop. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>

#include "record.h"
#include "drop_record.h"
#include "filter_api.h"

/* `events` must stay the first map declared: BCC 0.26 has no ringbuf_query() method, and refers
 * to maps in raw helper calls by declaration order (bpf_pseudo_fd(1, -1) is the first). */
BPF_RINGBUF_OUTPUT(events, EBCAP_RING_PAGES);
#define EBCAP_EVENTS_MAP ((void *)bpf_pseudo_fd(1, -1))
/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns, kept current by user space (as ebcap.c's) */
BPF_ARRAY(wall_clock, __u64, 1);
BPF_ARRAY(drop_config, struct ebcap_drop_config, 1);
BPF_PERCPU_ARRAY(counters, struct ebcap_drop_counters, 1);

#ifndef EBCAP_OWNERS
#define EBCAP_OWNERS 0
#endif

#if EBCAP_OWNERS
/* --owners for drops: the maps, the socket hooks' work and the owner filters are bpf/owners.h's
 * (which says what its includer defines below the #include, and why); the drop session attaches
 * these hooks (capture/kernel/owners.py), so this program's `owners` map is the one they fill. */
#include "owners.h"

static __always_inline struct ebcap_owner *owner_of(void *sk, __u64 flags)
{
	return owners.sk_storage_get(sk, 0, flags);
}

static __always_inline int pid_wanted(__u32 tgid)
{
	return wanted_pids.lookup(&tgid) != 0;
}

#if EBCAP_COMM_FILTER
static __always_inline struct ebcap_comms *comm_list(void)
{
	__u32 zero = 0;
	return wanted_comms.lookup(&zero);
}
#endif

#if EBCAP_CGROUP_FILTER
static __always_inline struct ebcap_cgroup_want *cgroup_want(void)
{
	__u32 zero = 0;
	return wanted_cgroup.lookup(&zero);
}
#endif

EBCAP_OWNER_HOOKS

/* The owner of the drop's socket into `now` (tgid 0: none): the receiving socket the
 * tracepoint names (rx_sk: a full receive buffer, a socket filter), else the skb's own (on its
 * way out). Both are typed pointers in a BTF tracepoint, which bpf_sk_storage_get takes (it
 * finds nothing for a request or time-wait socket). skb->sk is loaded by an instruction of our
 * own: BCC would turn `*(skb + off)` into bpf_probe_read, whose result is a plain number the
 * verifier refuses as a socket. Over loopback and veth the skb is orphaned on its way in, so
 * a drop there has rx_sk or no socket. Returns 0 when an owner filter leaves the drop out. */
static __always_inline int find_owner(struct ebcap_owner *now, void *skb, void *rx_sk)
{
	struct ebcap_owner *owner = 0;
	void *sk;

	if (rx_sk)
		owner = owner_of(rx_sk, 0);
	if (!owner) {
		asm volatile("%[sk] = *(u64 *)(%[skb] + %[off])"
			     : [sk] "=r"(sk) : [skb] "r"(skb), [off] "i"(BTF_SKB_SK));
		if (sk)
			owner = owner_of(sk, 0);
	}
	if (owner)
		__builtin_memcpy(now, owner, sizeof(*now));
	else
		now->tgid = 0;
	return owner_chosen(now);
}
#define EBCAP_DROP_OWNER_LEN sizeof(struct ebcap_owner)
#else
#define EBCAP_OWNER_FILTER 0
#define EBCAP_DROP_OWNER_LEN 0
#endif

/* Room a copy needs past its length, for a VLAN tag put back (copy_frame) */
#define EBCAP_TAG_SLACK (EBCAP_VLAN_OFF + EBCAP_VLAN_LEN)

struct drop_scratch {
	struct ebcap_drop_meta meta;
#if EBCAP_OWNERS
	struct ebcap_owner owner;		/* find_owner()'s, for the record */
#endif
	__u8 skb[BTF_SKB_SPAN_LEN];		/* sk_buff from BTF_SKB_SPAN on */
	__u8 netdev[BTF_NETDEV_SPAN_LEN];	/* net_device from BTF_NETDEV_SPAN on */
	__u8 peek[EBCAP_PEEK + EBCAP_TAG_SLACK];
};
BPF_PERCPU_ARRAY(scratch, struct drop_scratch, 1);

#define MAC_HEADER_UNSET 0xffff		/* (u16)~0U: skb_mac_header_was_set() is false */

/* A member of the sk_buff or net_device, from the span of it read into the scratch */
#define SKB_FIELD(type, off) (*(type *)(s->skb + (off) - BTF_SKB_SPAN))
#define NETDEV_FIELD(type, off) (*(type *)(s->netdev + (off) - BTF_NETDEV_SPAN))

/* The `size` bytes at kernel address `base + off`: 0 when they could not be read. */
#define READ_AT(dst, base, off) bpf_probe_read_kernel(&(dst), sizeof(dst), (void *)(base) + (off))

static __always_inline __u64 wall_clock_ns(void)
{
	__u32 key = 0;
	__u64 *offset = wall_clock.lookup(&key);
	return bpf_ktime_get_ns() + (offset ? *offset : 0);
}

/* The inode number of the network namespace a drop belongs to: the receiving socket's (the
 * tracepoint's rx_sk), else the device's, else the skb's socket's; 0 when it has none. */
static __always_inline __u32 netns_of(void *rx_sk, void *dev_net, void *skb_sk)
{
	void *net = 0;
	__u32 inum = 0;

	if (rx_sk)
		READ_AT(net, rx_sk, BTF_SOCK_NET);
	if (!net)
		net = dev_net;
	if (!net && skb_sk)
		READ_AT(net, skb_sk, BTF_SOCK_NET);
	if (net)
		READ_AT(inum, net, BTF_NET_INUM);
	return inum;
}

/* Wake the reader only when a record takes the ring's unread bytes past 1/16 of it (and for
 * every record past half), as ebcap.c does and for its reasons: otherwise the reader drains when
 * its poll times out (capture/session/drops.py). Waking it for every record that found it idle
 * (flags 0) cost the dropping CPU an irq_work each: a drop written cost +3.6 us of the sender's
 * CPU, against +0.8 us so (benchmarks/drops_cost.py). */
#define EBCAP_RING_BYTES (EBCAP_RING_PAGES * 4096ULL)
#define EBCAP_WAKEUP_BYTES (EBCAP_RING_BYTES / 16)
/* What a record takes in the ring: its 8-byte header, and the payload padded to 8. */
#define EBCAP_RING_RECORD(size) ((((size) + 7) & ~7ULL) + 8)

/* The flags for a record of `taken` ring bytes, already reserved (so counted as unread). */
static __always_inline __u64 wakeup_flags(__u64 taken)
{
	__u64 after = bpf_ringbuf_query(EBCAP_EVENTS_MAP, BPF_RB_AVAIL_DATA);
	__u64 before = after > taken ? after - taken : 0;
	if (before < EBCAP_WAKEUP_BYTES && after >= EBCAP_WAKEUP_BYTES)
		return BPF_RB_FORCE_WAKEUP;
	return after >= EBCAP_RING_BYTES / 2 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Copy the first `n` bytes of the frame as libpcap sees it (a VLAN tag the kernel holds in
 * metadata back at offset 12, as ebcap.c does) into `dst`, which has room for `room` (a power
 * of two) + EBCAP_TAG_SLACK bytes; returns n, or 0 when nothing could be copied. The masks keep
 * the verifier's 1 <= size <= room on the register passed to the helper. */
static __always_inline __u64 copy_frame(__u8 *dst, __u64 n, const __u64 room, __u64 frame,
					__u32 tag)
{
	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	if (!tag || n <= EBCAP_VLAN_OFF)
		return bpf_probe_read_kernel(dst, ((n - 1) & (room - 1)) + 1, (void *)frame) ? 0 : n;
	if (bpf_probe_read_kernel(dst, EBCAP_VLAN_OFF, (void *)frame))
		return 0;
	__u32 be = bpf_htonl(tag);
	__builtin_memcpy(dst + EBCAP_VLAN_OFF, &be, EBCAP_VLAN_LEN);
	if (n <= EBCAP_TAG_SLACK)
		return n;
	__u64 rest = n - EBCAP_TAG_SLACK;
	return bpf_probe_read_kernel(dst + EBCAP_TAG_SLACK, ((rest - 1) & (room - 1)) + 1,
				     (void *)(frame + EBCAP_VLAN_OFF)) ? 0 : n;
}

/* One record into the ring, in a size class: bpf_ringbuf_reserve() wants a constant size, and
 * reserving -s 0's 64 KiB for every record let a 4 MiB ring hold 64 of them. */
static __always_inline int emit_record(struct bpf_raw_tracepoint_args *ctx,
				       struct drop_scratch *s, struct ebcap_drop_counters *count,
				       __u32 reason, __u32 direction, __u64 n, const __u64 room)
{
	struct ebcap_drop_meta *meta = &s->meta;
	const __u64 reserved = sizeof(struct ebcap_drop_record) + EBCAP_DROP_OWNER_LEN + room +
			       EBCAP_TAG_SLACK;
	struct ebcap_drop_record *rec = events.ringbuf_reserve(reserved);
	if (!rec) {
		count->lost++;
		return 0;
	}
	barrier_var(n);
	__u32 caplen = copy_frame((__u8 *)(rec + 1) + EBCAP_DROP_OWNER_LEN, n, room, meta->frame,
				  meta->tag);
#if EBCAP_OWNERS
	__builtin_memcpy(rec + 1, &s->owner, sizeof(s->owner));
#endif
	rec->kind = EBCAP_DROP_KIND;
	rec->total_length = sizeof(*rec) + EBCAP_DROP_OWNER_LEN + caplen;
	rec->ts = wall_clock_ns();
	rec->location = ctx->args[1];
	rec->reason = reason;
	rec->ifindex = meta->ifindex;
	rec->caplen = caplen;
	rec->wirelen = meta->len;
	rec->flags = (meta->raw ? EBCAP_DROP_RAW : 0) | direction << EBCAP_DROP_DIR_SHIFT |
		     (EBCAP_OWNERS ? EBCAP_DROP_OWNED : 0);
	rec->pad = 0;
	events.ringbuf_submit(rec, wakeup_flags(EBCAP_RING_RECORD(reserved)));
	return 0;
}

#define EMIT_IN(ROOM)							\
	if (n <= (ROOM))						\
		return emit_record(ctx, s, count, reason, direction, n, (ROOM));

int ebcap_drop(struct bpf_raw_tracepoint_args *ctx)
{
	/* 6.18: trace_kfree_skb(skb, location, reason, rx_sk) */
	__u32 reason = ctx->args[2];
	if (reason == EBCAP_REASON_CONSUMED || reason == EBCAP_REASON_NOT_DROPPED_YET)
		return 0;

	__u32 zero = 0;
	struct ebcap_drop_counters *count = counters.lookup(&zero);
	struct ebcap_drop_config *config = drop_config.lookup(&zero);
	struct drop_scratch *s = scratch.lookup(&zero);
	if (!count || !config || !s)
		return 0;	/* cannot happen: an array has every slot */
	/* --drop-reason. The mask looks redundant after the test: clang moves the test to a copy
	 * of `reason` and the verifier, seeing no bound on the index, refuses the load. */
	if (reason < EBCAP_REASON_BITS) {
		__u64 word = reason / 64;
		barrier_var(word);
		word &= EBCAP_REASON_BITS / 64 - 1;
		if (!((config->reasons[word] >> (reason % 64)) & 1))
			return 0;
	} else if (!config->other_reasons) {
		return 0;
	}

	void *skb = (void *)ctx->args[0];
#if EBCAP_TP_RX_SK
	void *rx_sk = (void *)ctx->args[3];
#else
	void *rx_sk = 0;	/* a kernel whose tracepoint has no rx_sk: reading args[3] would
				   make the attach fail (the context is as long as the arguments) */
#endif
	if (bpf_probe_read_kernel(s->skb, sizeof(s->skb), skb + BTF_SKB_SPAN))
		return 0;
	void *dev = SKB_FIELD(void *, BTF_SKB_DEV);
	void *dev_net = 0;
	__u32 ifindex = 0;
	if (dev && !bpf_probe_read_kernel(s->netdev, sizeof(s->netdev), dev + BTF_NETDEV_SPAN)) {
		ifindex = NETDEV_FIELD(__u32, BTF_NETDEV_IFINDEX);
		dev_net = NETDEV_FIELD(void *, BTF_NETDEV_NET);
	}
	__u32 inum = netns_of(rx_sk, dev_net, SKB_FIELD(void *, BTF_SKB_SK));
	if (inum != config->netns_inum) {
		if (inum)
			count->foreign++;
		else
			count->unowned++;
		return 0;
	}
	if (config->ifindex && ifindex != config->ifindex)
		return 0;
	/* Received on its device: the stack sets skb_iif to the device's ifindex as it takes a
	 * packet in (__netif_receive_skb_core). Otherwise on its way out of the device: a local
	 * packet has skb_iif 0, a forwarded one its input device's. Unknown without a device. */
	__u32 direction = !ifindex ? EBCAP_DIR_UNKNOWN
		: SKB_FIELD(__u32, BTF_SKB_IIF) == ifindex ? EBCAP_DIR_IN : EBCAP_DIR_OUT;
	if (config->direction && direction != config->direction)
		return 0;
#if EBCAP_OWNER_FILTER
	if (!find_owner(&s->owner, skb, rx_sk))	/* --pid: before anything is copied */
		return 0;
#endif

	__u64 head = SKB_FIELD(__u64, BTF_SKB_HEAD);
	__u64 data = SKB_FIELD(__u64, BTF_SKB_DATA);
	__u16 mac = SKB_FIELD(__u16, BTF_SKB_MAC_HEADER);
	__u16 network = SKB_FIELD(__u16, BTF_SKB_NETWORK_HEADER);
	__u32 len = SKB_FIELD(__u32, BTF_SKB_LEN);
	__u32 tail = SKB_FIELD(__u32, BTF_SKB_TAIL);
	int ethernet = mac != MAC_HEADER_UNSET && network >= mac && network - mac == ETH_HLEN;
	__u32 start = ethernet ? mac : network;
	__u32 tag = 0;
#if EBCAP_META_VLAN
	/* skb_vlan_tag_present(): the tag is in metadata when vlan_all is not 0 */
	if (ethernet && SKB_FIELD(__u32, BTF_SKB_VLAN_ALL))
		tag = ((__u32)bpf_ntohs(SKB_FIELD(__u16, BTF_SKB_VLAN_PROTO)) << 16) |
		      SKB_FIELD(__u16, BTF_SKB_VLAN_TCI);
#endif

	/* skb->len counts from skb->data, which the stack has moved past the headers on receive
	 * (UDP drops its "no socket" packets with data at the UDP header) */
	__s64 wirelen = (__s64)len + (__s64)(data - head) - start;
	if (wirelen < 0)
		wirelen = 0;
	__u64 linear = tail > start ? tail - start : 0;
	if (linear > wirelen)
		linear = wirelen;

	struct ebcap_drop_meta *meta = &s->meta;
	meta->frame = head + start;
	meta->linear = linear;		/* of the frame in the skb: no tag */
	meta->len = wirelen + (tag ? EBCAP_VLAN_LEN : 0);
	meta->protocol = SKB_FIELD(__u16, BTF_SKB_PROTOCOL);	/* __be16, as in __sk_buff */
	meta->ifindex = ifindex;
	meta->mark = SKB_FIELD(__u32, BTF_SKB_MARK);
	meta->hash = SKB_FIELD(__u32, BTF_SKB_HASH);
	meta->raw = !ethernet;
	meta->tag = tag;
	meta->pkt_type = (SKB_FIELD(__u8, BTF_SKB_PKT_TYPE) >> BTF_SKB_PKT_TYPE_SHIFT) &
			 BTF_SKB_PKT_TYPE_MASK;

	__u64 peek_len = copy_frame(s->peek, linear + (tag ? EBCAP_VLAN_LEN : 0), EBCAP_PEEK,
				    meta->frame, tag);
	count->considered++;
	if (!ebcap_filter((void *)meta, s->peek, peek_len, direction, tag))
		return 0;
#if EBCAP_OWNERS && !EBCAP_OWNER_FILTER
	find_owner(&s->owner, skb, rx_sk);	/* --owners alone: only for a drop written */
#endif
	count->matched++;

	/* Read back from memory, not the value the filter's paths each bounded differently: the
	 * verifier then walks what follows once, not once per matching path (see ebcap.c) */
	__u64 n = *(volatile __u32 *)&meta->linear + (*(volatile __u32 *)&meta->tag ? EBCAP_VLAN_LEN : 0);
	if (n > EBCAP_DROP_ROOM)
		n = EBCAP_DROP_ROOM;
	EMIT_IN(128)
#if EBCAP_DROP_ROOM > 512
	EMIT_IN(512)
#endif
#if EBCAP_DROP_ROOM > 2048
	EMIT_IN(2048)
#endif
#if EBCAP_DROP_ROOM > 16384
	EMIT_IN(16384)
#endif
	EMIT_IN(EBCAP_DROP_ROOM)
	return 0;
}
