/* The one definition of what the kernel hands to user space. capture/kernel/ring.py reads these
 * layouts; tests/unit/test_record_layout.py checks that the two agree.
 *
 * Each ring buffer record holds one or more complete pcapng Enhanced Packet Blocks back to back,
 * built in the kernel, so that writing a file costs user space one copy per record: head, data
 * zero-padded to 4, tail, then the next block. Each block's total_length says where it ends; the
 * blocks end at the record's end, where less than a block head is left, or at a total_length of
 * 0 (a record longer than its block, of ebcap.c's size classes, has a zero word there). */
#ifndef EBCAP_RECORD_H
#define EBCAP_RECORD_H

/* Values are pcapng's epb_flags direction bits. */
enum ebcap_direction {
	EBCAP_DIR_UNKNOWN = 0,
	EBCAP_DIR_IN = 1,
	EBCAP_DIR_OUT = 2,
};

#define EBCAP_BT_EPB 6
#define EBCAP_OPT_EPB_FLAGS 2

struct ebcap_epb_head {
	__u32 block_type;	/* EBCAP_BT_EPB */
	__u32 total_length;
	__u32 interface_id;	/* the pcapng interface id user space gave this ifindex */
	__u32 ts_high;		/* wall clock in ns (if_tsresol 9), high and low words */
	__u32 ts_low;
	__u32 caplen;
	__u32 wirelen;		/* length of the packet (with a VLAN tag put back, see ebcap.c) */
};

/* The owner of a packet's socket (--owners, bpf/ebcap.c), as the cgroup socket hooks saw it.
 * No __u64 fields: the option lands 4-aligned in the block, and the struct must have no padding
 * (capture/owner.py's OWNER_OPTION unpacks it). */
struct ebcap_owner {
	__u32 tgid;		/* 0: no owner found */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u32 cgroup_lo;	/* cgroup v2 id (the inode number of its directory), low and high words */
	__u32 cgroup_hi;
	__u8 comm[16];
	__u32 in_cgroup;	/* 1: under --cgroup's (or --run's) cgroup when a hook saw it */
};

/* A pcapng option code for local use (pcapng reserves codes with the top bit set): the kernel's
 * owner option, which user space always replaces with ptcpdump's opt_comments, so no file holds it. */
#define EBCAP_OPT_OWNER 0x8EBC

struct ebcap_owner_opt {
	__u16 code;		/* EBCAP_OPT_OWNER */
	__u16 length;		/* sizeof(struct ebcap_owner) */
	struct ebcap_owner owner;
};

struct ebcap_epb_tail {
	__u16 flags_code;	/* EBCAP_OPT_EPB_FLAGS */
	__u16 flags_length;	/* 4 */
	__u32 flags;		/* enum ebcap_direction */
#if EBCAP_OWNERS
	struct ebcap_owner_opt owner;	/* with --owners only: the fast path's blocks are unchanged */
#endif
	__u32 end_of_options;	/* opt_endofopt: code 0, length 0 */
	__u32 total_length;
};

/* Per-CPU, per-interface state (bpf/ebcap.c's "slots" array, or its "interfaces" hash for an
 * interface whose slot another one holds). User space creates each entry with the interface id;
 * the kernel counts. */
struct ebcap_iface {
	/* Packets the filter accepted: "packets received by filter" and the ISB's ifrecv as well
	 * as its filter-accept count, since refused ones are not counted (bpf/ebcap.c's
	 * filter_in_place says why); one counter, one write a packet fewer. */
	__u64 accepted;
	__u64 lost;		/* accepted, but the ring buffer was full */
	__u32 interface_id;
	__u32 ifindex;		/* whose entry this is (a slot is shared by ifindexes) */
};

#endif
