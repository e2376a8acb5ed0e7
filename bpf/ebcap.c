/* ebcap's kernel side: runs the user's pcap filter on TC ingress/egress and copies the headers
 * (or the first EBCAP_SNAPLEN bytes) of matching packets into a BPF ring buffer.
 *
 * Built by BCC (capture/kernel/build.py, once per configuration: the program cache keeps it)
 * with these compile-time constants:
 *   EBCAP_LINK         how a packet's link header is walked (capture/kernel/linklayers.py):
 *                      EBCAP_LINK_ETHERNET (Ethernet, VLAN tags), _ETHERTYPE (a fixed header
 *                      with an ethertype at EBCAP_LINK_PROTO_OFF), _IP (a fixed header, then IP
 *                      told by its version nibble), _OPAQUE (not walked)
 *   EBCAP_LINK_HLEN    bytes before the network header (_ETHERTYPE, _IP)
 *   EBCAP_LINK_PROTO_OFF  where _ETHERTYPE's ethertype is
 *   EBCAP_SNAPLEN      bytes to copy at most; 0 = headers only (up to the transport header)
 *   EBCAP_RING_PAGES   ring buffer size in pages (a power of two)
 *   EBCAP_OFFLINE      1 when run by BPF_PROG_TEST_RUN on packets from a file
 *   EBCAP_PEEK         bytes of each packet copied before the filter runs (filter_api.h)
 *   EBCAP_HEADERS_MAX  the most a headers-only copy holds, even when the headers are longer
 *                      (IPv6 extension chains); a power of two
 *   EBCAP_IFACE_SLOTS  entries of the direct-mapped interface table (a power of two)
 *   EBCAP_OWNERS       1: each EPB carries its socket's owner (the EBCAP_OWNERS block, --owners)
 *   EBCAP_PID_FILTER   1: only packets of the tgids in `wanted_pids` (--pid; needs EBCAP_OWNERS)
 * The filter is not in it: ebcap_filter() (filter_api.h) is the call that user space turns into a
 * call to the filter translated from libpcap's classic BPF. Nothing else about the filter is
 * known here.
 *
 * Per packet: the filter first reads the packet in place (ebcap_filter_direct, filter_api.h);
 * a packet it refuses costs no copy. Where it cannot decide (headers in page fragments), the
 * first EBCAP_PEEK bytes are copied (the peek) for the copying filter, where the block would go.
 * A matching packet's block is built where it goes, in this CPU's stage (emit): the packet's
 * first bytes copied there once, its headers walked there, the head and tail written around
 * them; the stage goes into the ring as one record of many blocks. */
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

#if !EBCAP_OFFLINE
/* One flush timer per CPU (see arm_flush), by CPU number: bpf_timer lives in a plain array
 * (not a per-CPU one), whose map has BTF for it (capture/kernel/stage_timer.py makes it).
 * `stage_timers` must stay the second map declared: bpf_timer_init() takes the map. */
#define EBCAP_MAX_CPUS 1024
struct ebcap_stage_timer {
	struct bpf_timer timer;
	__u32 ready;		/* initialised, its callback set (once per CPU) */
	__u32 pending;		/* started, its callback not run yet (arm_flush) */
};
BPF_ARRAY(stage_timers, struct ebcap_stage_timer, EBCAP_MAX_CPUS);
#define EBCAP_STAGE_TIMERS_MAP ((void *)bpf_pseudo_fd(1, -2))
#endif
/* Each interface's counters and pcapng id, per CPU: in slot ifindex % EBCAP_IFACE_SLOTS, or in
 * the hash when another captured interface holds that slot (user space decides,
 * capture/kernel/maps.py). A per-CPU array lookup is a few inlined instructions; the hash's cost
 * ~50 ns a packet on the bench's veth (perf: hashing and the bucket walk were a third as much
 * as the whole program). */
BPF_PERCPU_ARRAY(slots, struct ebcap_iface, EBCAP_IFACE_SLOTS);
/* Not preallocated: a preallocated hash makes all its elements for every possible CPU when it is
 * created, 5.7 ms of every start here for a table that is empty unless slots collide. */
BPF_F_TABLE("percpu_hash", __u32, struct ebcap_iface, interfaces, EBCAP_MAX_INTERFACES,
	    BPF_F_NO_PREALLOC);
/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns, kept current by user space (it moves when the clock
 * is set or slewed). */
BPF_ARRAY(wall_clock, __u64, 1);

/* Room a copy needs past its length, for a VLAN tag put back (copy_packet) */
#define EBCAP_TAG_SLACK (EBCAP_VLAN_OFF + EBCAP_VLAN_LEN)

/* What a writer into the ring remembers of its last bpf_ringbuf_query (ring_flags). */
struct ebcap_ring_query {
	__u64 since_query;	/* ring bytes this writer wrote since its last query */
	__u64 unread;		/* the ring's unread bytes at that query */
};

/* A block's most when its bytes are the peek's: head, the peek (with the room copy_packet needs)
 * and tail. */
#define EBCAP_PEEKED_MAX (sizeof(struct ebcap_epb_head) + EBCAP_PEEK + EBCAP_TAG_SLACK + \
			  sizeof(struct ebcap_epb_tail))

#if !EBCAP_OFFLINE
/* Per CPU: finished EPBs waiting to go into the ring as one record (stage_slot). One ring
 * reservation costs 53-81 ns a packet on this VM whatever its size (benchmarks/tc_cost.py:
 * reserving 8 bytes and discarding them cost as much as a whole record): its lock and the
 * producer's and header's cache lines, which the reader's CPU shares. A per-CPU array value is
 * at most 32 KiB. A quarter of the ring at most (-B 4 to 32: 1 to 8 KiB), so that a stage's
 * record always fits in the ring with room for the reader to be behind: with 16 KiB stages a
 * ring of 4 or 8 KiB (-B 4, -B 8) could hold no record at all, and lost every packet. */
#define EBCAP_STAGE_BYTES (EBCAP_RING_PAGES >= 16 ? 16384 : EBCAP_RING_PAGES * 1024)
/* How long a block may wait in the stage: checked by each packet, and the timer's delay (arm_flush;
 * capture/session/drain.py's STAGED_SECONDS waits for it at the end). */
#define EBCAP_STAGE_NS 2000000ULL
#else
/* -r: one test run per packet, whose record user space takes at once: one block, never staged */
#define EBCAP_STAGE_BYTES EBCAP_PEEKED_MAX
#endif
/* Per CPU (ingress, egress and the socket filter never nest on a CPU, nor the flush timer's
 * callback with them: see arm_flush): the blocks staged for the ring, and the one being built
 * after them, in place: a packet's first bytes are copied from the skb straight to where its
 * block goes (as the copying filter's peek, or once the in-place filter matched), and the
 * block is finished around them (emit), so that nothing is copied twice. The staged blocks
 * always leave room for one more. */
struct ebcap_stage {
	__u32 used;		/* bytes of finished blocks in data */
	__u32 packets;		/* finished blocks in data */
	__u32 ifindex;		/* whose blocks they are: one interface's (stage_slot) */
	__u32 interface_id;	/* ... and its pcapng id */
	__u64 since;		/* bpf_ktime_get_ns() of the first */
	__u64 wall_offset;	/* wall_clock's, when the first was staged (stage_slot) */
	__u32 peek_len;		/* how much of the block being built is the packet's (capture) */
	__u32 forget;		/* see forget() */
	__u32 alone;		/* the block being built goes into the ring by itself (emit) */
	__u32 pad;
	struct ebcap_ring_query ring;	/* every record this CPU writes */
	__u8 data[EBCAP_STAGE_BYTES];
};
BPF_PERCPU_ARRAY(stage, struct ebcap_stage, 1);

#if EBCAP_OWNERS
/* Socket owners (--owners, --pid, --comm, --cgroup): the maps, the socket hooks' work and the
 * owner filters are bpf/owners.h's (which says what its includer defines below the #include,
 * and why).
 *
 * At TC, find_owner() copies the owner of the skb's socket (or, for a SYN-ACK sent from a
 * request socket, of its listener) into this CPU's `owner_now`, and fill_tail() puts it into
 * the block as the EBCAP_OPT_OWNER option (bpf/record.h). Packets without a local full socket
 * (ingress, forwarded, the kernel's own RSTs, TIME_WAIT ACKs) get tgid 0: no owner. */
#include "owners.h"

/* The owner of the packet being captured, per CPU and hook (find_owner's `slot`). */
BPF_PERCPU_ARRAY(owner_now, struct ebcap_owner, 2);

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

/* Where the network header starts at TC (live capture: Ethernet, or raw IP on a tun) */
#if EBCAP_LINK == EBCAP_LINK_ETHERNET
#define EBCAP_OWNER_L3 ETH_HLEN
#else
#define EBCAP_OWNER_L3 EBCAP_LINK_HLEN
#endif

/* Ping sockets and raw ICMP sockets (ping, ping -6): a reply has no socket that the lookup
 * helpers can find (ping sockets are in a table of their own, raw sockets in none), so each
 * echo request that leaves an ICMP socket leaves its owner here, by the request's peer and
 * identifier (a ping socket's identifier is its "port", on the wire as the kernel wrote it),
 * and the reply that comes back with them is given it. An LRU: nothing to clear. */
struct ebcap_ping {
	__u8 peer[16];		/* the other end's address (IPv4: its first 4 bytes) */
	__u16 id;		/* the echo identifier, network order */
	__u16 family;		/* 4 or 6 */
};
BPF_TABLE("lru_hash", struct ebcap_ping, struct ebcap_owner, pings, 4096);

struct ebcap_ipv4_head {
	__u8 vihl, tos;
	__u16 len, id, frag;
	__u8 ttl, proto;
	__u16 check;
	__u32 saddr, daddr;
};

/* type, code, checksum, then an echo's identifier */
struct ebcap_icmp_head {
	__u8 type, code;
	__u16 check, id;
};

/* Egress, from an ICMP socket: an echo request's peer and identifier -> its owner. */
static __always_inline void remember_ping(struct __sk_buff *skb, struct ebcap_owner *now)
{
	struct ebcap_ping key = {};
	struct ebcap_icmp_head icmp;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct ebcap_ipv4_head ip;
		if (bpf_skb_load_bytes(skb, EBCAP_OWNER_L3, &ip, sizeof(ip)) ||
		    ip.proto != IPPROTO_ICMP || (ip.frag & bpf_htons(0x1fff)) ||
		    bpf_skb_load_bytes(skb, EBCAP_OWNER_L3 + (ip.vihl & 0xf) * 4, &icmp, sizeof(icmp)) ||
		    icmp.type != 8)		/* ICMP_ECHO */
			return;
		__builtin_memcpy(key.peer, &ip.daddr, 4);
		key.family = 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		__u8 next;
		if (bpf_skb_load_bytes(skb, EBCAP_OWNER_L3 + 6, &next, 1) || next != IPPROTO_ICMPV6 ||
		    bpf_skb_load_bytes(skb, EBCAP_OWNER_L3 + 24, key.peer, 16) ||
		    bpf_skb_load_bytes(skb, EBCAP_OWNER_L3 + 40, &icmp, sizeof(icmp)) ||
		    icmp.type != 128)		/* ICMPV6_ECHO_REQUEST */
			return;
		key.family = 6;
	} else {
		return;
	}
	key.id = icmp.id;
	pings.update(&key, now);
}

/* Ingress: an echo reply's owner, from its request's (remember_ping). */
static __always_inline void ping_reply_owner(struct ebcap_owner *now,
					     const struct ebcap_icmp_head *icmp, const __u8 *peer,
					     __u32 family)
{
	if (icmp->type != (family == 4 ? 0 : 129))	/* ICMP_ECHOREPLY, ICMPV6_ECHO_REPLY */
		return;
	struct ebcap_ping key = { .id = icmp->id, .family = family };
	__builtin_memcpy(key.peer, peer, family == 4 ? 4 : 16);
	struct ebcap_owner *owner = pings.lookup(&key);
	if (owner)
		__builtin_memcpy(now, owner, sizeof(*now));
}

/* Ingress: the packet has no socket yet at TC; the one it is for is looked up as the stack will
 * (bpf_sk_lookup_tcp/udp in the interface's namespace: a SYN finds the listener, a request
 * socket gives its listener, TIME_WAIT nothing). Only the plain cases: IPv4 not a later
 * fragment, IPv6 with TCP or UDP right after its header. The lookup takes a reference, which
 * every path must release (the verifier checks). An ICMP error (destination unreachable, time
 * exceeded) about a datagram or segment a local socket sent quotes its header: the socket is
 * looked up by that header's tuple turned round, as the stack hands the error to it. */
static __always_inline void receiver_owner(struct __sk_buff *skb, struct ebcap_owner *now)
{
	struct bpf_sock_tuple tuple = {};
	struct ebcap_icmp_head icmp;
	__u32 size, l4;
	__u8 proto;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		/* the header in one helper call: each costs ~10-20 ns */
		struct ebcap_ipv4_head ip;
		if (bpf_skb_load_bytes(skb, EBCAP_OWNER_L3, &ip, sizeof(ip)))
			return;
		if (ip.frag & bpf_htons(0x1fff))
			return;
		proto = ip.proto;
		l4 = EBCAP_OWNER_L3 + (ip.vihl & 0xf) * 4;
		if (proto == IPPROTO_ICMP) {
			if (bpf_skb_load_bytes(skb, l4, &icmp, sizeof(icmp)))
				return;
			if (icmp.type != 3 && icmp.type != 11) {
				ping_reply_owner(now, &icmp, (const __u8 *)&ip.saddr, 4);
				return;
			}
			struct ebcap_ipv4_head inner;
			__u16 ports[2];
			if (bpf_skb_load_bytes(skb, l4 + 8, &inner, sizeof(inner)) ||
			    (inner.frag & bpf_htons(0x1fff)) ||
			    bpf_skb_load_bytes(skb, l4 + 8 + (inner.vihl & 0xf) * 4, ports, 4))
				return;
			proto = inner.proto;
			tuple.ipv4.saddr = inner.daddr;
			tuple.ipv4.daddr = inner.saddr;
			tuple.ipv4.sport = ports[1];
			tuple.ipv4.dport = ports[0];
		} else {
			tuple.ipv4.saddr = ip.saddr;
			tuple.ipv4.daddr = ip.daddr;
			if (bpf_skb_load_bytes(skb, l4, &tuple.ipv4.sport, 4))
				return;
		}
		size = sizeof(tuple.ipv4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, EBCAP_OWNER_L3 + 6, &proto, 1))
			return;
		l4 = EBCAP_OWNER_L3 + 40;
		if (proto == IPPROTO_ICMPV6) {
			if (bpf_skb_load_bytes(skb, l4, &icmp, sizeof(icmp)))
				return;
			if (icmp.type != 1 && icmp.type != 3) {
				if (bpf_skb_load_bytes(skb, EBCAP_OWNER_L3 + 8, &tuple.ipv6.saddr, 16))
					return;
				ping_reply_owner(now, &icmp, (const __u8 *)&tuple.ipv6.saddr, 6);
				return;
			}
			/* the quoted IPv6 header, 8 bytes in; no extension header after it */
			__u16 ports[2];
			if (bpf_skb_load_bytes(skb, l4 + 8 + 6, &proto, 1) ||
			    bpf_skb_load_bytes(skb, l4 + 8 + 8, &tuple.ipv6.daddr, 16) ||
			    bpf_skb_load_bytes(skb, l4 + 8 + 24, &tuple.ipv6.saddr, 16) ||
			    bpf_skb_load_bytes(skb, l4 + 8 + 40, ports, 4))
				return;
			tuple.ipv6.sport = ports[1];
			tuple.ipv6.dport = ports[0];
		} else if (bpf_skb_load_bytes(skb, EBCAP_OWNER_L3 + 8, &tuple.ipv6.saddr, 32) ||
			   bpf_skb_load_bytes(skb, l4, &tuple.ipv6.sport, 4)) {
			return;
		}
		size = sizeof(tuple.ipv6);
	} else {
		return;
	}
	struct bpf_sock *sk;
	if (proto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	else if (proto == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(skb, &tuple, size, BPF_F_CURRENT_NETNS, 0);
	else
		return;
	if (!sk)
		return;
	struct ebcap_owner *owner = owner_of(sk, 0);
	if (owner)
		__builtin_memcpy(now, owner, sizeof(*now));
	bpf_sk_release(sk);
}

/* 0 when --pid, --comm or --cgroup leaves this packet out. */
static __always_inline int find_owner(struct __sk_buff *skb, __u32 slot)
{
	struct ebcap_owner *now = owner_now.lookup(&slot);
	if (!now)
		return 1;	/* cannot happen: an array has every slot */
	now->tgid = 0;
	if (slot == 0) {
		receiver_owner(skb, now);
	} else {
		struct ebcap_owner *owner = 0;
		struct bpf_sock *sk = skb->sk;
		struct bpf_sock *full = 0;
		if (sk) {
			full = bpf_sk_fullsock(sk);
			if (!full)
				full = bpf_get_listener_sock(sk);	/* a request socket's SYN-ACK */
			if (full)
				owner = owner_of(full, 0);
		}
		if (owner) {
			__builtin_memcpy(now, owner, sizeof(*now));
			if (full->protocol == IPPROTO_ICMP || full->protocol == IPPROTO_ICMPV6)
				remember_ping(skb, now);
		}
	}
	return owner_chosen(now);
}

static __always_inline void put_owner(struct ebcap_owner_opt *opt, __u32 direction)
{
	__u32 slot = direction == EBCAP_DIR_OUT;
	struct ebcap_owner *now = owner_now.lookup(&slot);
	opt->code = EBCAP_OPT_OWNER;
	opt->length = sizeof(opt->owner);
	if (now)
		__builtin_memcpy(&opt->owner, now, sizeof(opt->owner));
	else
		opt->owner.tgid = 0;
}
#endif

/* Less than this in the skb's linear part (an Ethernet and an IPv4 header): the headers are
 * in page fragments (trafgen's frames: the link header alone is linear), where the in-place
 * filter would give up at its first bound; not calling it saved ~15 ns a packet there
 * (benchmarks/tc_cost.py). */
#define EBCAP_LINEAR_MIN 34

#define EBCAP_IPV6_EXT_MAX 6
/* Whole packets are limited to tcpdump's maximum snapshot length. */
#define EBCAP_MAXPACKET 262144

/* An interface's entry if it is registered, its slot first (the hash only where two share one),
 * else NULL. */
static __always_inline struct ebcap_iface *registered_iface(__u32 ifindex)
{
	__u32 slot = ifindex & (EBCAP_IFACE_SLOTS - 1);
	struct ebcap_iface *iface = slots.lookup(&slot);
	if (iface && iface->ifindex == ifindex)
		return iface;
	return interfaces.lookup(&ifindex);
}

static __always_inline struct ebcap_iface *iface_of(__u32 ifindex)
{
	__u32 slot = ifindex & (EBCAP_IFACE_SLOTS - 1);
	struct ebcap_iface *iface = slots.lookup(&slot);
	if (iface && iface->ifindex == ifindex)
		return iface;
	struct ebcap_iface zero = { .ifindex = ifindex };
	return interfaces.lookup_or_try_init(&ifindex, &zero);
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, as user space last set it */
static __always_inline __u64 wall_clock_offset(void)
{
	__u32 key = 0;
	__u64 *offset = wall_clock.lookup(&key);
	return offset ? *offset : 0;
}

/* `value`, as the verifier knows nothing of it: passed through map memory, whose contents it does
 * not track. The header walk below ends each combination of header types with another `off`,
 * and the verifier cannot take two states that differ in a value used as an offset for one: it
 * walked what follows once per combination. Forgetting `off` where the paths meet (every load
 * checks its own bounds, so nothing needs the exact value) cut a headers-only "udp" program from
 * 41,000 to 11,000 instructions verified, with the NULL checks on the interface entry gone as
 * well: from ~90 to ~16 ms of CPU per program loaded, twice per capture (ingress and egress). */
static __always_inline __u32 forget(struct ebcap_stage *st, __u32 value)
{
	st->forget = value;
	return *(volatile __u32 *)&st->forget;
}

#if EBCAP_LINK == EBCAP_LINK_ETHERNET
/* Where the transport header ends in the most common packet, Ethernet, then IPv4 without
 * options, not a later fragment, then UDP or TCP; 0 for any other (headers_end walks it). Read
 * at constant offsets under one bound on the peek, it costs a matching packet ~20 ns less than
 * the walk, whose every load tests its own bound and whose offsets pass through forget()
 * (benchmarks/tc_cost.py 5 2 against the walk alone, paired: socket-sent -19 [-25..-7] ns,
 * lower in every round; paged -22 [-45..3]; README, "fifth pass"). */
static __always_inline __u32 plain_ipv4_end(const struct ebcap_view *v)
{
	const __u8 *p = v->peek;
	if (v->peek_len < ETH_HLEN + 20 + 8 || *(const __u16 *)(p + 12) != bpf_htons(ETH_P_IP) ||
	    p[ETH_HLEN] != 0x45 || (*(const __u16 *)(p + ETH_HLEN + 6) & bpf_htons(0x1fff)))
		return 0;
	__u32 l4 = p[ETH_HLEN + 9];
	if (l4 == IPPROTO_UDP)
		return ETH_HLEN + 20 + 8;
	if (l4 == IPPROTO_TCP && v->peek_len >= ETH_HLEN + 20 + 13)
		return ETH_HLEN + 20 + (p[ETH_HLEN + 20 + 12] >> 4) * 4;
	return 0;
}
#endif

/* Offset of the end of the transport header in the virtual packet (a VLAN tag held in metadata
 * counts, as it is put back), or of the last header ebcap understands. The headers are read from
 * the peek only: a header that starts past it ends the walk there (the peek holds 128 bytes, so
 * only long IPv6 extension chains get there). Reading on from the skb made clang emit code the
 * verifier refused (an uninitialized register spilled on a merged error path). */
static __always_inline __u32 headers_end(struct ebcap_stage *st, const struct ebcap_view *v,
					 __u32 vlen)
{
	__u32 off = 0;
	__u32 proto;
	__u32 l4 = 0;

#if EBCAP_LINK == EBCAP_LINK_ETHERNET
	__u32 plain = plain_ipv4_end(v);
	if (plain)
		return plain;
	if (ebcap_peek_u16(v, 12, &proto))
		return vlen;
	off = ETH_HLEN;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (ebcap_peek_u16(v, off + 2, &proto))
			return off;
		off += 4;
	}
#elif EBCAP_LINK == EBCAP_LINK_ETHERTYPE
	if (ebcap_peek_u16(v, EBCAP_LINK_PROTO_OFF, &proto))
		return vlen;
	off = EBCAP_LINK_HLEN;
#elif EBCAP_LINK == EBCAP_LINK_IP
	__u32 version;
	if (ebcap_peek_u8(v, EBCAP_LINK_HLEN, &version))
		return EBCAP_LINK_HLEN;
	off = EBCAP_LINK_HLEN;
	/* tun's raw IP has always been read as IPv4 unless it says 6 */
	proto = (version >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP;
#else
	/* EBCAP_LINK_OPAQUE: 802.11, radiotap, NFLOG, whose headers' lengths are in the packet
	 * (radiotap's own length, the 802.11 frame kind, NFLOG's TLVs); a radiotap header can
	 * put the transport header past the peek, where this walk stops. HEADERS_MAX holds every
	 * header of everyday frames. */
	return EBCAP_HEADERS_MAX;
#endif
	off = forget(st, off);

	if (proto == ETH_P_IP) {
		__u32 vihl, frag;
		if (ebcap_peek_u8(v, off, &vihl) || ebcap_peek_u16(v, off + 6, &frag) ||
		    ebcap_peek_u8(v, off + 9, &l4))
			return off;
		off += (vihl & 0xf) * 4;
		if (frag & 0x1fff)	/* not the first fragment: no transport header */
			return off;
	} else if (proto == ETH_P_IPV6) {
		if (ebcap_peek_u8(v, off + 6, &l4))
			return off;
		off += 40;
#pragma unroll
		for (int i = 0; i < EBCAP_IPV6_EXT_MAX; i++) {
			__u32 next, len;
			if (l4 != IPPROTO_HOPOPTS && l4 != IPPROTO_ROUTING && l4 != IPPROTO_DSTOPTS &&
			    l4 != IPPROTO_FRAGMENT && l4 != IPPROTO_AH)
				break;
			if (ebcap_peek_u8(v, off, &next) || ebcap_peek_u8(v, off + 1, &len))
				return off;
			if (l4 == IPPROTO_FRAGMENT) {
				__u32 frag;
				if (ebcap_peek_u16(v, off + 2, &frag))
					return off;
				off += 8;
				if (frag & 0xfff8)
					return off;
			} else if (l4 == IPPROTO_AH) {
				off += (len + 2) * 4;
			} else {
				off += (len + 1) * 8;
			}
			off = forget(st, off);
			l4 = next;
		}
	} else if (proto == ETH_P_ARP || proto == ETH_P_RARP) {
		return off + 28;
	} else {
		return off + 64;	/* unknown network layer: its first bytes, to show something */
	}
	off = forget(st, off);

	if (l4 == IPPROTO_TCP) {
		__u32 doff;
		if (ebcap_peek_u8(v, off + 12, &doff))
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
 * has room for `room` (a power of two) + EBCAP_TAG_SLACK bytes; returns n, or 0 when nothing
 * could be copied. The masks look redundant after the clamps: they are there because the
 * verifier must see 1 <= length <= room on the very register passed to the helper, and clang
 * tends to test a copy. */
static __always_inline __u32 copy_packet(struct __sk_buff *skb, __u8 *data, __u64 n,
					 const __u64 room, int tagged, __u32 vlan_tag)
{
	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	if (!tagged || n <= EBCAP_VLAN_OFF)
		return bpf_skb_load_bytes(skb, 0, data, ((n - 1) & (room - 1)) + 1) ? 0 : n;
	if (bpf_skb_load_bytes(skb, 0, data, EBCAP_VLAN_OFF))
		return 0;
	__u32 tag = bpf_htonl(vlan_tag);
	__builtin_memcpy(data + EBCAP_VLAN_OFF, &tag, EBCAP_VLAN_LEN);
	if (n <= EBCAP_TAG_SLACK)
		return n;
	/* rest < room, so the mask keeps its value; the slack keeps it inside the record */
	__u64 rest = n - EBCAP_TAG_SLACK;
	return bpf_skb_load_bytes(skb, EBCAP_VLAN_OFF, data + EBCAP_TAG_SLACK,
				  ((rest - 1) & (room - 1)) + 1) ? 0 : n;
}

/* The first bytes of a packet the in-place filter matched, copied from the skb's linear part by
 * direct packet access into `data` (room for EBCAP_PEEK bytes): min(vlen, EBCAP_PEEK) bytes, or
 * with headers only as many of those as the linear part holds when that is all of a plain
 * packet's headers (plain_ipv4_end: a TCP segment's payload is paged); 0 otherwise (then
 * copy_packet copies with the helper). In 8-byte words, the last
 * one overlapping its predecessor. Hand-written for speed: bpf_skb_load_bytes of a 64-byte
 * datagram cost a minimal batched capture ~30 ns more than these loads and stores (README,
 * sixth pass). */
static __always_inline __u32 copy_linear(struct __sk_buff *skb, __u8 *data, __u64 vlen)
{
	void *start = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u64 want = vlen < EBCAP_PEEK ? vlen : EBCAP_PEEK;
	__u64 n = end - start;
	if (n > want)
		n = want;
	if (n < 8 || n > EBCAP_PEEK)
		return 0;
#if EBCAP_SNAPLEN == 0 && EBCAP_LINK == EBCAP_LINK_ETHERNET
	int shortened = n < want;
#else
	if (n < want)
		return 0;
#endif
	/* n is min(the linear part, EBCAP_PEEK) (the linear part never exceeds vlen: no tag in
	 * metadata here), so the words up to `end` are the words up to n: testing n as well
	 * made the verifier walk 30,356 instructions of a headers-only "udp" program, not
	 * 25,088 (~10 ms of CPU per program loaded on an AMD EPYC VM) */
#pragma unroll
	for (int i = 0; i < EBCAP_PEEK / 8; i++) {
		if (start + (i + 1) * 8 > end)
			break;
		((__u64 *)data)[i] = ((const __u64 *)start)[i];
	}
	__u64 last = (n - 8) & (EBCAP_PEEK - 8 + 7);
	const __u8 *word = start + last;
	if ((void *)(word + 8) > end)
		return 0;
	*(__u64 *)(data + last) = *(const __u64 *)word;
#if EBCAP_SNAPLEN == 0 && EBCAP_LINK == EBCAP_LINK_ETHERNET
	if (shortened) {
		/* the walk reads the peek only, and would end at the header it lacks: so short of
		 * min(vlen, EBCAP_PEEK) only when the linear part holds the plain packet's headers */
		struct ebcap_view v = { .peek = data, .peek_len = n };
		__u32 headers = plain_ipv4_end(&v);
		if (!headers || headers > n)
			return 0;
	}
#endif
	return n;
}

/* Waking the reader for every record that finds it idle costs the sending CPU an irq_work and the
 * reader a wake-up per handful of packets (measured: ~5 packets per wake-up at 200 kpps). So the
 * reader is woken when the ring's unread bytes pass EBCAP_WAKEUP_BYTES; below that it collects
 * what arrived when its poll times out (capture/session/drain.py). Forcing a wake-up for every
 * record above the mark (as ebcap did) raised an irq_work, a self-IPI, per packet until the
 * reader had drained, ~10 % of the program's cost in perf.
 *
 * How full the ring is, bpf_ringbuf_query() says; asking it for every record cost ~15 ns a
 * record (benchmarks/tc_cost.py, the query left out), so each CPU asks once per EBCAP_QUERY_BYTES it writes and
 * remembers the answer: the record that finds the ring past the mark, where the last answer on
 * this CPU was below it (or the reader has drained since), wakes the reader. A crossing can be
 * noticed up to EBCAP_QUERY_BYTES late per CPU, or missed when two CPUs cross together; past
 * half the ring every query wakes the reader again, so a late or missed crossing costs latency,
 * not packets. The mark is a quarter of the ring: at 1/16 the reader woke every ~5,000 64-byte
 * packets of the default 8 MiB ring, each wake-up an irq_work on the sending CPU. */
#define EBCAP_RING_BYTES (EBCAP_RING_PAGES * 4096ULL)
#define EBCAP_WAKEUP_BYTES (EBCAP_RING_BYTES / 4)
#define EBCAP_QUERY_BYTES (EBCAP_RING_BYTES / 256)

static __always_inline __u64 unread_bytes(void)
{
	return bpf_ringbuf_query(EBCAP_EVENTS_MAP, BPF_RB_AVAIL_DATA);
}

/* The flags for a record of `record` ring bytes from the writer that keeps `q`; `reserved`: it
 * is already in the ring (reserve/submit), so a query counts it. A batched record counts as its
 * bytes, as the records it replaces did: the mark is passed at the same fill level. */
static __always_inline __u64 ring_flags(struct ebcap_ring_query *q, __u64 record, int reserved)
{
#if EBCAP_OFFLINE
	return BPF_RB_NO_WAKEUP;
#else
	__u64 since = q->since_query + record;
	if (since < EBCAP_QUERY_BYTES) {
		q->since_query = since;
		return BPF_RB_NO_WAKEUP;
	}
	q->since_query = 0;
	__u64 before = q->unread;
	__u64 now = unread_bytes() + (reserved ? 0 : record);
	q->unread = now;
	if (now >= EBCAP_RING_BYTES / 2)
		return BPF_RB_FORCE_WAKEUP;
	if (now >= EBCAP_WAKEUP_BYTES && (before < EBCAP_WAKEUP_BYTES || now < before))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
#endif
}

/* What a record takes in the ring: its 8-byte header, and the payload padded to 8. */
#define EBCAP_RING_RECORD(size) ((((size) + 7) & ~7ULL) + 8)

/* `ts`: the wall clock in ns (bpf_ktime_get_ns(), read once per packet, plus the offset) */
static __always_inline void fill_head(struct ebcap_epb_head *head, __u32 interface_id,
				      __u32 total, __u32 caplen, __u32 wirelen, __u64 ts)
{
	head->block_type = EBCAP_BT_EPB;
	head->total_length = total;
	head->interface_id = interface_id;
	head->ts_high = ts >> 32;
	head->ts_low = (__u32)ts;
	head->caplen = caplen;
	head->wirelen = wirelen;
}

static __always_inline void fill_tail(struct ebcap_epb_tail *tail, __u32 direction, __u32 total)
{
	tail->flags_code = EBCAP_OPT_EPB_FLAGS;
	tail->flags_length = 4;
	tail->flags = direction;
#if EBCAP_OWNERS
	put_owner(&tail->owner, direction);
#endif
	tail->end_of_options = 0;
	tail->total_length = total;
}

#if !EBCAP_OFFLINE
#ifndef BPF_F_TIMER_CPU_PIN
#define BPF_F_TIMER_CPU_PIN (1ULL << 1)	/* uapi/linux/bpf.h of 6.7+; BCC's headers may be older */
#endif
#define EBCAP_CLOCK_MONOTONIC 1

/* The flush callback (ebcap_flush below) is not C that this program can name: BCC compiles each
 * function on its own, so bpf_timer_set_callback() gets this 64-bit constant (an ld_imm64), which
 * user space points at ebcap_flush's instructions appended to the program
 * (capture/kernel/stage_timer.py), as it does the filter's stubs (capture/kernel/splice.py). */
#define EBCAP_FLUSH_STUB ((void *)0x7EBCC00000000ULL)

/* The staged blocks into the ring as one record, counted for their interface as accepted
 * then (one lookup of its entry a record, not a packet: stage_slot); a full ring loses them all,
 * counted as lost (the ISB's ifdrop). */
static __always_inline void flush_stage(struct ebcap_stage *st)
{
	__u64 used = st->used;
	barrier_var(used);
	if (used == 0 || used > EBCAP_STAGE_BYTES)
		return;
	/* BCC takes the type of what ringbuf_output() is given (for its Python event class): a
	 * struct pointer, not the array */
	struct ebcap_epb_head *first = (struct ebcap_epb_head *)st->data;
	struct ebcap_iface *iface = registered_iface(st->ifindex);
	if (iface)
		iface->accepted += st->packets;
	if (events.ringbuf_output(first, used, ring_flags(&st->ring, EBCAP_RING_RECORD(used), 0)) &&
	    iface)
		iface->lost += st->packets;
	st->used = 0;
	st->packets = 0;
}

/* So that the last blocks of a burst do not wait for a next packet: this CPU's timer, armed when
 * its stage goes from empty to not, flushes it EBCAP_STAGE_NS later (pinned: the callback runs
 * on this CPU, in softirq, which never interrupts a TC or socket program here: egress runs with
 * bottom halves off, ingress in the receive softirq). 0: no timer for this CPU.
 *
 * A timer still pending (armed for a stage that filled and went into the ring before it fired)
 * is left as it is: it flushes the stage that follows, younger than EBCAP_STAGE_NS, early. Each
 * start of a pending timer reprograms the CPU's timer device, and each firing is an interrupt:
 * in a VM both exit to the hypervisor. On an AMD EPYC VM, leaving a pending timer alone and a
 * 2 ms delay instead of 1 ms cost a matching packet 10 [-19..12] ns less on socket-sent and 37
 * [-81..13] less on paged frames (benchmarks/tc_cost.py 7 2, paired), and the whole machine
 * 7.5 ms of CPU a second less at 10 kpps (README, "seventh pass"). */
static __always_inline int arm_flush(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct ebcap_stage_timer *t = stage_timers.lookup(&cpu);
	if (!t)
		return 0;
	if (t->pending)
		return 1;
	if (!t->ready) {
		/* -EBUSY when another of the programs did it first: the callback is set either way */
		bpf_timer_init(&t->timer, EBCAP_STAGE_TIMERS_MAP, EBCAP_CLOCK_MONOTONIC);
		if (bpf_timer_set_callback(&t->timer, EBCAP_FLUSH_STUB))
			return 0;
		t->ready = 1;
	}
	if (bpf_timer_start(&t->timer, EBCAP_STAGE_NS, BPF_F_TIMER_CPU_PIN))
		return 0;
	t->pending = 1;
	return 1;
}

/* bpf_timer callback (EBCAP_FLUSH_STUB): this CPU's stage into the ring. Its arguments (the
 * timer's map, key and value) are not needed; BCC rewrites a function's further arguments as
 * a kprobe's, so it takes only the first. */
int ebcap_flush(void *map)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct ebcap_stage_timer *t = stage_timers.lookup(&cpu);
	if (t)
		t->pending = 0;
	__u32 zero = 0;
	struct ebcap_stage *st = stage.lookup(&zero);
	if (st)
		flush_stage(st);
	return 0;
}

#endif

/* Where the block of a matching packet of interface `ifindex` goes in this CPU's stage: its
 * offset in st->data, after the staged blocks (or 0, after they went into the ring because they
 * are another interface's, or the first is older than EBCAP_STAGE_NS at `now`). EBCAP_ALONE:
 * the block goes into the ring by itself (-r, one test run per packet whose record user space
 * takes at once; or no flush timer on this CPU), from the stage's start; EBCAP_NOT_CAPTURED:
 * the interface has no entry (the hash is full: EBCAP_MAX_INTERFACES interfaces sharing slots).
 *
 * The interface's entry (`iface`: the socket filter's; NULL at TC) is looked up only when a
 * stage starts, and its pcapng id kept in the stage for the blocks that follow, as is the wall
 * clock's offset (what user space changes reaches blocks within EBCAP_STAGE_NS: a clock step
 * shows within a second anyway, capture/session/clock.py); the packets staged are counted when
 * the stage goes into the ring (flush_stage). Looked up per packet at TC (skb->ifindex, the per-CPU
 * array's pointer, the entry: cold lines after the sender's microseconds of stack), it cost a
 * matching socket-sent packet ~16 ns, paged ~11 (README: "fourth pass"). */
#define EBCAP_ALONE (~0ULL)
#define EBCAP_NOT_CAPTURED (~1ULL)
static __always_inline __u64 stage_slot(struct ebcap_stage *st, struct ebcap_iface *iface,
					__u32 ifindex, __u64 now)
{
#if !EBCAP_OFFLINE
	if (st->used && (st->ifindex != ifindex || now - st->since >= EBCAP_STAGE_NS))
		flush_stage(st);
	if (st->used)
		return st->used;
#endif
	if (!iface)
		iface = iface_of(ifindex);
	if (!iface)
		return EBCAP_NOT_CAPTURED;
	st->ifindex = ifindex;
	st->interface_id = iface->interface_id;
	st->wall_offset = wall_clock_offset();
#if EBCAP_OFFLINE
	return EBCAP_ALONE;
#else
	if (!arm_flush())
		return EBCAP_ALONE;
	st->since = now;
	return 0;
#endif
}

/* Records longer than the peek are copied from the skb straight into the ring, after what the
 * CPU has staged (so that its blocks stay in order). The verifier wants a constant size for
 * bpf_ringbuf_reserve(), so these come in a few size classes (`room`, a constant once inlined)
 * and carry their real length in caplen. */
static __always_inline void emit_record(struct __sk_buff *skb, struct ebcap_stage *st,
					struct ebcap_iface *iface, __u32 direction, __u32 wirelen,
					__u32 caplen, int tagged, __u32 vlan_tag, const __u64 room)
{
	const __u64 reserved = sizeof(struct ebcap_epb_head) + room + EBCAP_TAG_SLACK +
			       sizeof(struct ebcap_epb_tail);
#if !EBCAP_OFFLINE
	if (st->used)
		flush_stage(st);
#endif
	struct ebcap_epb_head *head = events.ringbuf_reserve(reserved);
	if (!head) {
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
	__u8 *data = (__u8 *)(head + 1);

	fill_head(head, iface->interface_id, total, len, wirelen,
		  bpf_ktime_get_ns() + wall_clock_offset());
	/* zero the pad bytes first (ring memory is not cleared); the copy then overwrites
	 * the packet's part of that word */
	*(__u32 *)(data + (len & ~3ULL)) = 0;
	copy_packet(skb, data, len, room, tagged, vlan_tag);
	fill_tail((struct ebcap_epb_tail *)(data + padded), direction, total);
	/* the record is longer than the block (at least EBCAP_TAG_SLACK): a next block's head
	 * with total_length 0 tells the reader there is none (bpf/record.h) */
	*(__u64 *)((__u8 *)head + total) = 0;
	events.ringbuf_submit(head, ring_flags(&st->ring, EBCAP_RING_RECORD(reserved), 1));
}

#define EMIT_IN(ROOM)								\
	if (caplen <= (ROOM))							\
		return emit_record(skb, st, iface, direction, wirelen, caplen, view->tagged, \
				   view->tag, (ROOM));

/* A record longer than the peek, counted at once. */
static __always_inline void emit_long(struct __sk_buff *skb, struct ebcap_stage *st,
				      __u32 direction, const struct ebcap_view *view,
				      __u32 wirelen, __u32 caplen)
{
	struct ebcap_iface *iface = registered_iface(st->ifindex);
	if (!iface)
		return;		/* cannot happen: stage_slot found it */
	iface->accepted++;
#if EBCAP_SNAPLEN == 0
	EMIT_IN(EBCAP_HEADERS_MAX)
#else
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

/* A matching packet's block, finished where capture() copied its first bytes: at `at`, after
 * the CPU's staged blocks. Its headers are walked there, and the head and tail written around
 * what of them the capture keeps. Staged, it goes into the ring with many others as one record
 * (flush_stage); alone, by itself at its exact size (bpf_ringbuf_output takes a variable
 * length; reserve wants a constant, which made every headers-only record 128 bytes of packet
 * room). */
static __always_inline void emit(struct __sk_buff *skb, struct ebcap_stage *st, __u64 at,
				 struct ebcap_iface *iface, __u32 ifindex, __u32 direction,
				 const struct ebcap_view *view, __u32 vlen)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 to = stage_slot(st, iface, ifindex, now);
	if (to == EBCAP_NOT_CAPTURED)
		return;
	/* kept in memory, not a register: the verifier walks what follows once, not once each */
	st->alone = to == EBCAP_ALONE;
	if (to == EBCAP_ALONE)
		to = 0;
	if (to != at) {
		/* the staged blocks went into the ring first (another interface's, or too old,
		 * once a millisecond at most): the packet's bytes move to the start, in whole
		 * words, front to back (the two may overlap) */
		barrier_var(at);
		if (at > EBCAP_STAGE_BYTES - EBCAP_PEEKED_MAX)
			return;	/* cannot happen: capture() checked it */
		__u64 *dst = (__u64 *)(st->data + sizeof(struct ebcap_epb_head));
		const __u64 *src = (const __u64 *)(st->data + at + sizeof(struct ebcap_epb_head));
#pragma unroll
		for (int i = 0; i < EBCAP_PEEK / 8; i++)
			dst[i] = src[i];
	}
	/* Through memory: after the move or not, and the verifier walks what follows once. */
	at = forget(st, to);
	barrier_var(at);
	if (at > EBCAP_STAGE_BYTES - EBCAP_PEEKED_MAX)
		return;		/* cannot happen: at its place, or at the start after a flush */
	struct ebcap_epb_head *head = (struct ebcap_epb_head *)(st->data + at);
	__u8 *data = (__u8 *)(head + 1);
	/* The filter's every matching path reaches this point knowing something else about
	 * peek_len (each load in the peek narrows its range), and the verifier would check what
	 * follows once per path (a 300-term filter: too complex). Read back from memory, peek_len
	 * is just "some number" again: the paths are pruned as one. */
	struct ebcap_view here = { .tagged = view->tagged, .tag = view->tag, .peek = data,
				   .peek_len = *(volatile __u32 *)&st->peek_len };
	__u32 wirelen = ebcap_packet_len(skb, view);
	__u32 caplen;
#if EBCAP_SNAPLEN == 0
	caplen = forget(st, headers_end(st, &here, vlen));
	if (caplen > vlen)
		caplen = vlen;
	if (caplen > EBCAP_HEADERS_MAX)
		caplen = EBCAP_HEADERS_MAX;
#else
	caplen = vlen < EBCAP_SNAPLEN ? vlen : EBCAP_SNAPLEN;
#endif
	if (caplen > here.peek_len)
		return emit_long(skb, st, direction, view, wirelen, caplen);

	__u64 len = caplen;
	barrier_var(len);
	if (len > EBCAP_PEEK)
		len = EBCAP_PEEK;
	__u64 padded = (len + 3) & ~3ULL;
	__u64 total = sizeof(*head) + padded + sizeof(struct ebcap_epb_tail);
	fill_head(head, st->interface_id, total, len, wirelen, now + st->wall_offset);
	/* zero the pad bytes; whatever of these three lies past the padding, the tail overwrites */
	data[len] = 0;
	data[len + 1] = 0;
	data[len + 2] = 0;
	fill_tail((struct ebcap_epb_tail *)(data + padded), direction, total);
	if (*(volatile __u32 *)&st->alone) {
		/* counted at once, as it goes into the ring at once */
		struct ebcap_iface *entry = registered_iface(st->ifindex);
		if (!entry)
			return;	/* cannot happen: stage_slot found it */
		entry->accepted++;
		if (events.ringbuf_output(head, total,
					  ring_flags(&st->ring, EBCAP_RING_RECORD(total), 0)))
			entry->lost++;
		return;
	}
#if !EBCAP_OFFLINE
	st->used = at + total;
	st->packets++;
	/* so that the next block, and the peek before it, always fit (capture, emit) */
	if (at + total > EBCAP_STAGE_BYTES - EBCAP_PEEKED_MAX)
		flush_stage(st);
#endif
}

/* The in-place filter, for a TC hook's packet (direct packet access; a socket filter may not
 * read skb->data, and always takes the copying path): 0 refused, 1 matching, or
 * EBCAP_FILTER_UNDECIDED. It runs before anything else, so a refused packet costs the filter
 * alone: --owners' socket lookup (75-375 ns, README) and the VLAN tag's reads come after, and
 * refused packets are not counted. "packets received by filter" and the ISB's ifrecv are the
 * packets the filter accepted, as libpcap's on Linux (PACKET_STATISTICS' tp_packets counts what
 * passed the socket's filter, the ones then dropped included; dumpcap's isb_ifrecv is that
 * figure). Counting refused ones cost 15-20 ns a packet (floor + 16..18 without, + 31..36 with:
 * benchmarks/tc_cost.py, 5 rounds, twice): a line of the interface's entry written per packet,
 * cold after the sender's microseconds of stack; a plain array by CPU and slot, or a 4 KiB one
 * by CPU alone, cost the same or 6 ns less. */
static __always_inline __u64 filter_in_place(struct __sk_buff *skb, __u32 direction)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (ebcap_has_meta_vlan(skb) || data + EBCAP_LINEAR_MIN > data_end)
		return EBCAP_FILTER_UNDECIDED;
	return ebcap_filter_direct(skb, data, data_end, direction, 0);
}

/* `verdict`: the in-place filter's (filter_in_place), or EBCAP_FILTER_UNDECIDED where it
 * cannot run; the copying filter decides what it left undecided. */
static __always_inline int capture(struct __sk_buff *skb, struct ebcap_iface *iface,
				   __u32 direction, __u64 verdict, const int tc)
{
	/* `iface`: the socket filter's entry (socket_iface: NULL for a packet it is not to take);
	 * a TC hook's (`tc`) is looked up only once a packet has matched, and then only if its
	 * stage does not hold the interface's blocks (stage_slot), so that a refused packet reads
	 * none of it (its ifindex, the per-CPU array's pointer, the entry: three cache misses). */
	if (!tc && !iface)
		return TC_ACT_UNSPEC;
#if EBCAP_OWNERS
	if (!find_owner(skb, direction == EBCAP_DIR_OUT))	/* --pid: before anything is copied */
		return TC_ACT_UNSPEC;
#endif
	__u32 zero = 0;
	struct ebcap_stage *st = stage.lookup(&zero);
	if (!st)
		return TC_ACT_UNSPEC;	/* cannot happen: an array has every slot */
	/* where this packet's block would go: after the staged ones, which always leave room
	 * for it (emit) */
	__u64 at = st->used;
	barrier_var(at);
	if (at > EBCAP_STAGE_BYTES - EBCAP_PEEKED_MAX)
		return TC_ACT_UNSPEC;	/* cannot happen */
	struct ebcap_view view = ebcap_view_of(skb);
	__u32 vlen = skb->len + (view.tagged ? EBCAP_VLAN_LEN : 0);
	/* The peek: where the block's bytes go, so that a matching packet's are copied once (not
	 * on the stack, where a refused packet would write no map memory: the filter loads words
	 * at any offset, and the verifier wants stack loads aligned). */
	view.peek = st->data + at + sizeof(struct ebcap_epb_head);
	view.peek_len = tc && verdict == 1 ? copy_linear(skb, (__u8 *)view.peek, vlen) : 0;
	if (!view.peek_len)
		view.peek_len = copy_packet(skb, (__u8 *)view.peek, vlen, EBCAP_PEEK, view.tagged,
					    view.tag);
	st->peek_len = view.peek_len;
	if (verdict == EBCAP_FILTER_UNDECIDED &&
	    !ebcap_filter(skb, view.peek, view.peek_len, direction, view.tagged ? view.tag : 0))
		return TC_ACT_UNSPEC;
	emit(skb, st, at, iface, tc ? skb->ifindex : iface->ifindex, direction, &view, vlen);
	return TC_ACT_UNSPEC;	/* TCX_NEXT: let the packet and any other program go on */
}

int ebcap_ingress(struct __sk_buff *skb)
{
	__u64 verdict = filter_in_place(skb, EBCAP_DIR_IN);
	if (!verdict)
		return TC_ACT_UNSPEC;	/* refused without a byte copied, and not counted */
	return capture(skb, NULL, EBCAP_DIR_IN, verdict, 1);
}

int ebcap_egress(struct __sk_buff *skb)
{
	__u64 verdict = filter_in_place(skb, EBCAP_DIR_OUT);
	if (!verdict)
		return TC_ACT_UNSPEC;	/* refused without a byte copied, and not counted */
	return capture(skb, NULL, EBCAP_DIR_OUT, verdict, 1);
}

/* -i any without --owners: one socket filter on an unbound ETH_P_ALL packet socket
 * (capture/kernel/packet_socket.py) sees every interface's packets, where a TC program needs a
 * link on each (~8.5 ms apiece, serialised in the kernel). The kernel hands it the packet from
 * the link header on (af_packet.c pushes back to the MAC header for SOCK_RAW), and it takes the
 * same filter and writes the same records as the TC hooks. It returns 0: the packet is not
 * queued on the socket, which therefore never needs reading.
 *
 * Only interfaces user space registered are captured (their link type is this program's; a
 * socket per link type shares the traffic), in the directions socket_directions holds for them:
 * [0] ordinary interfaces, [1] loopback (ifindex 1 in every namespace), where every packet
 * leaves and comes back and libpcap shows it once, as it comes in. */
#define EBCAP_PACKET_OUTGOING 4		/* uapi/linux/if_packet.h */
#define EBCAP_LOOPBACK_IFINDEX 1	/* net/core/dev.c: each namespace's lo */
BPF_ARRAY(socket_directions, __u32, 2);

/* The packet's interface entry if user space registered it and -Q wants this direction there,
 * else NULL: iface_of() without its registering of an interface not seen before. */
static __always_inline struct ebcap_iface *socket_iface(struct __sk_buff *skb, __u32 direction)
{
	__u32 ifindex = skb->ifindex;
	__u32 kind = ifindex == EBCAP_LOOPBACK_IFINDEX;
	__u32 *wanted = socket_directions.lookup(&kind);
	if (!wanted || !(*wanted & direction))
		return NULL;
	return registered_iface(ifindex);
}

int ebcap_socket(struct __sk_buff *skb)
{
	__u32 direction = skb->pkt_type == EBCAP_PACKET_OUTGOING ? EBCAP_DIR_OUT : EBCAP_DIR_IN;
	capture(skb, socket_iface(skb, direction), direction, EBCAP_FILTER_UNDECIDED, 0);
	return 0;
}
