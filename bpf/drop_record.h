/* The one definition of what bpf/drops.c hands to user space, and of the filter's view of a
 * dropped packet. capture/kernel/drop_record.py reads the record, capture/filter/translate.py's
 * tracepoint context reads the meta; tests/unit/test_drop_record.py checks both against this.
 *
 * Unlike ebcap.c's records these are not pcapng blocks: the EPB of a drop carries comments
 * (reason, location by name) that only user space can write, so the kernel sends the facts. */
#ifndef EBCAP_DROP_RECORD_H
#define EBCAP_DROP_RECORD_H

#define EBCAP_DROP_KIND 0x44524f50	/* "DROP" */
#define EBCAP_DROP_RAW 1		/* flags: data starts at the network header (no link header) */
#define EBCAP_DROP_OWNED 2		/* flags: a struct ebcap_owner (record.h) follows this header,
					   before the frame (--owners; its tgid 0: no owner) */
#define EBCAP_DROP_DIR_SHIFT 8		/* flags: enum ebcap_direction (record.h) in bits 8-9 */

/* One ring record: this header, the owner with EBCAP_DROP_OWNED, then caplen bytes of the frame. total_length sits where an
 * EPB's does, so capture/kernel/ring.py's block drain slices records of either kind. */
struct ebcap_drop_record {
	__u32 kind;		/* EBCAP_DROP_KIND */
	__u32 total_length;	/* this header + the owner (EBCAP_DROP_OWNED) + caplen */
	__u64 ts;		/* wall clock, ns */
	__u64 location;		/* the kernel text address that freed the packet */
	__u32 reason;		/* enum skb_drop_reason (the running kernel's values) */
	__u32 ifindex;		/* skb->dev's, 0 without a device */
	__u32 caplen;
	__u32 wirelen;		/* from the frame's first byte to the skb's end */
	__u32 flags;		/* EBCAP_DROP_RAW, EBCAP_DROP_OWNED, the direction << EBCAP_DROP_DIR_SHIFT */
	__u32 pad;
};

/* What the translated filter gets in place of a __sk_buff (its first argument) in a raw
 * tracepoint, where there is no __sk_buff: the frame's kernel address for loads past the peek
 * (bpf_probe_read_kernel, bounded by `linear`), and the metadata it may read. The spliced code
 * is two filters, libpcap's for Ethernet frames and for frames without a link header: `raw`
 * chooses (capture/kernel/drop_program.py). */
struct ebcap_drop_meta {
	__u64 frame;		/* kernel address of the frame's first byte */
	__u32 linear;		/* bytes from `frame` in the skb's linear part */
	__u32 len;		/* libpcap's `len`: the frame's length */
	__u32 protocol;		/* skb->protocol: a __be16 in the low half, as in __sk_buff */
	__u32 ifindex;
	__u32 mark;
	__u32 hash;
	__u32 raw;		/* no link header: the frame starts at the network header */
	__u32 tag;		/* TPID << 16 | TCI of a VLAN tag held in metadata, 0: none. It is
				   back at offset 12 of what the filter sees: past byte 15, the
				   frame's offsets are 4 lower */
	__u32 pkt_type;		/* skb->pkt_type (PACKET_HOST, ...): SKF_AD_PKTTYPE, for libpcap's
				   `inbound` and `outbound` (PACKET_OUTGOING when going out) */
};

/* Per CPU, summed by user space: of the kfree_skb calls that are not normal frees, */
struct ebcap_drop_counters {
	__u64 foreign;		/* in another network namespace */
	__u64 unowned;		/* no device, no socket: namespace unknown, left out */
	__u64 considered;	/* in the namespace, on -i's device: the filter ran */
	__u64 matched;		/* the filter accepted */
	__u64 lost;		/* accepted, but the ring buffer was full */
};

/* --drop-reason: the reasons below this are chosen one by one (a bit each), the others
 * (subsystems' reasons, which carry the subsystem in their top 16 bits) all or none */
#define EBCAP_REASON_BITS 1024

/* Set by user space before the program is attached. */
struct ebcap_drop_config {
	__u32 netns_inum;	/* ebcap's network namespace (/proc/self/ns/net's inode) */
	__u32 ifindex;		/* -i: only drops on this device; 0: any */
	__u32 other_reasons;	/* 1: report reasons >= EBCAP_REASON_BITS */
	__u32 direction;	/* -Q: only drops of this enum ebcap_direction; 0: any */
	__u64 reasons[EBCAP_REASON_BITS / 64];	/* bit r: report reason r */
};

#endif
