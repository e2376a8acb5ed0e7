/* ebcap --drops: the packets the kernel frees as dropped (the skb:kfree_skb tracepoint), with
 * the reason and the place, when they match the user's pcap filter.
 *
 * A raw tracepoint program (BPF_PROG_TYPE_RAW_TRACEPOINT) attached by a BPF link
 * (capture/kernel/tracepoint.py). Built by BCC like ebcap.c, once per configuration, with:
 *   EBCAP_L2_ETHERNET  1: this program takes frames with an Ethernet header; 0: frames without
 *                      a link header (mac header unset, or no room for one), from the IP header.
 *                      A capture loads one of each, each with the filter compiled for its type.
 *   EBCAP_RING_PAGES   ring buffer size in pages
 *   EBCAP_PEEK         bytes copied for the filter (filter_api.h)
 *   EBCAP_DROP_ROOM    the most bytes of a frame a record holds (a power of two)
 *   EBCAP_TP_RX_SK     1 when the tracepoint has its fourth argument, rx_sk (6.18 has)
 *   EBCAP_REASON_NOT_DROPPED_YET, EBCAP_REASON_CONSUMED
 *                      enum skb_drop_reason's values in the running kernel (normal frees)
 *   BTF_*              struct member offsets in the running kernel, from its BTF: BCC compiles
 *                      against whatever headers it finds (Debian's 6.1 ones here, where sk_buff's
 *                      head is at 200, against 192 in the running 6.18), so struct sk_buff is
 *                      never dereferenced here, only read at these offsets.
 * Per drop: the frame's first bytes are copied from skb->head + its mac (or network) header into
 * a per-CPU peek, the spliced filter (filter_api.h's ebcap_filter, in its tracepoint context)
 * reads them and a struct ebcap_drop_meta, and a match is copied into the ring. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>

#include "record.h"
#include "drop_record.h"
#include "filter_api.h"

BPF_RINGBUF_OUTPUT(events, EBCAP_RING_PAGES);
/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns, kept current by user space (as ebcap.c's) */
BPF_ARRAY(wall_clock, __u64, 1);
BPF_ARRAY(drop_config, struct ebcap_drop_config, 1);
BPF_PERCPU_ARRAY(counters, struct ebcap_drop_counters, 1);

struct drop_scratch {
	struct ebcap_drop_meta meta;
	__u8 peek[EBCAP_PEEK];
};
BPF_PERCPU_ARRAY(scratch, struct drop_scratch, 1);

#define MAC_HEADER_UNSET 0xffff		/* (u16)~0U: skb_mac_header_was_set() is false */

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
static __always_inline __u32 netns_of(void *skb, void *rx_sk, void *dev)
{
	void *net = 0;
	void *sk = rx_sk;
	__u32 inum = 0;

	if (sk)
		READ_AT(net, sk, BTF_SOCK_NET);
	if (!net && dev)
		READ_AT(net, dev, BTF_NETDEV_NET);
	if (!net) {
		READ_AT(sk, skb, BTF_SKB_SK);
		if (sk)
			READ_AT(net, sk, BTF_SOCK_NET);
	}
	if (net)
		READ_AT(inum, net, BTF_NET_INUM);
	return inum;
}

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

	void *skb = (void *)ctx->args[0];
#if EBCAP_TP_RX_SK
	void *rx_sk = (void *)ctx->args[3];
#else
	void *rx_sk = 0;	/* a kernel whose tracepoint has no rx_sk: reading args[3] would
				   make the attach fail (the context is as long as the arguments) */
#endif
	void *dev = 0;
	READ_AT(dev, skb, BTF_SKB_DEV);
	__u32 inum = netns_of(skb, rx_sk, dev);
	if (inum != config->netns_inum) {
#if EBCAP_L2_ETHERNET
		if (inum)
			count->foreign++;
		else
			count->unowned++;
#endif
		return 0;
	}
	__u32 ifindex = 0;
	if (dev)
		READ_AT(ifindex, dev, BTF_NETDEV_IFINDEX);
	if (config->ifindex && ifindex != config->ifindex)
		return 0;

	__u64 head = 0, data = 0;
	__u16 mac = MAC_HEADER_UNSET, network = 0;
	__u32 len = 0, tail = 0;
	READ_AT(head, skb, BTF_SKB_HEAD);
	READ_AT(data, skb, BTF_SKB_DATA);
	READ_AT(mac, skb, BTF_SKB_MAC_HEADER);
	READ_AT(network, skb, BTF_SKB_NETWORK_HEADER);
	READ_AT(len, skb, BTF_SKB_LEN);
	READ_AT(tail, skb, BTF_SKB_TAIL);
	int ethernet = mac != MAC_HEADER_UNSET && network >= mac && network - mac == ETH_HLEN;
	if (ethernet != EBCAP_L2_ETHERNET)
		return 0;
	__u32 start = ethernet ? mac : network;

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
	meta->linear = linear;
	meta->len = wirelen;
	meta->protocol = 0;
	READ_AT(*(__u16 *)&meta->protocol, skb, BTF_SKB_PROTOCOL);
	meta->ifindex = ifindex;
	meta->mark = 0;
	READ_AT(meta->mark, skb, BTF_SKB_MARK);
	meta->hash = 0;
	READ_AT(meta->hash, skb, BTF_SKB_HASH);

	__u64 peek_len = linear < EBCAP_PEEK ? linear : EBCAP_PEEK;
	if (peek_len && bpf_probe_read_kernel(s->peek, ((peek_len - 1) & (EBCAP_PEEK - 1)) + 1,
					      (void *)meta->frame))
		peek_len = 0;
	count->considered++;
	if (!ebcap_filter((void *)meta, s->peek, peek_len, EBCAP_DIR_UNKNOWN, 0))
		return 0;
	count->matched++;

	struct ebcap_drop_record *rec = events.ringbuf_reserve(sizeof(*rec) + EBCAP_DROP_ROOM);
	if (!rec) {
		count->lost++;
		return 0;
	}
	/* Read back from memory, not the value the filter's paths each bounded differently: the
	 * verifier then walks what follows once, not once per matching path (see ebcap.c) */
	__u64 n = *(volatile __u32 *)&meta->linear;
	barrier_var(n);
	if (n > EBCAP_DROP_ROOM)
		n = EBCAP_DROP_ROOM;
	__u32 caplen = 0;
	if (n && !bpf_probe_read_kernel(rec + 1, ((n - 1) & (EBCAP_DROP_ROOM - 1)) + 1,
					(void *)meta->frame))
		caplen = n;
	rec->kind = EBCAP_DROP_KIND;
	rec->total_length = sizeof(*rec) + caplen;
	rec->ts = wall_clock_ns();
	rec->location = ctx->args[1];
	rec->reason = reason;
	rec->ifindex = ifindex;
	rec->caplen = caplen;
	rec->wirelen = *(volatile __u32 *)&meta->len;
	rec->flags = ethernet ? 0 : EBCAP_DROP_RAW;
	rec->pad = 0;
	events.ringbuf_submit(rec, 0);
	return 0;
}
