/* The one definition of what the kernel hands to user space: the ring buffer record and the
 * counter indices. capture/ring.py reads this layout; tests/unit/test_record_layout.py checks
 * that the two agree. */
#ifndef EBCAP_RECORD_H
#define EBCAP_RECORD_H

/* Values are pcapng's epb_flags direction bits. */
enum ebcap_direction {
	EBCAP_DIR_UNKNOWN = 0,
	EBCAP_DIR_IN = 1,
	EBCAP_DIR_OUT = 2,
};

/* Per-CPU counters per interface (BPF_PERCPU_HASH "counters", keyed by ifindex). */
struct ebcap_counters {
	__u64 seen;		/* packets that reached the hook */
	__u64 matched;		/* packets the filter accepted */
	__u64 lost;		/* accepted, but the ring buffer was full */
};

struct ebcap_record {
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;
	__u32 wirelen;		/* length of the packet (with a VLAN tag put back, see ebcap.c) */
	__u32 caplen;		/* bytes of data[] that are valid */
	__u32 direction;	/* enum ebcap_direction */
	__u8 data[];
};

#endif
