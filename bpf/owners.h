/* Socket owners (--owners, and the owner filters --pid, --comm, --cgroup and --run): the maps,
 * what the cgroup socket hooks write, and the filters' test, for a program built with
 * EBCAP_OWNERS=1 (bpf/drops.c).
 *
 * cgroup v2 socket hooks (attached by capture/kernel/owners.py as BPF links at the root of the
 * v2 hierarchy, so every process is covered) write the calling thread's ids into the socket's
 * local storage: when the socket is made (sock_create), and again when it connects or sends to
 * an address (connect4/6, sendmsg4/6: a socket handed to another process, or made before a fork,
 * is attributed to whoever uses it last). The storage is made with BPF_F_CLONE, so the kernel
 * copies a listener's owner to every socket it accepts: accepted sockets pass none of the hooks.
 * The capturing program reads a packet's owner from its socket's storage (find_owner() there).
 *
 * What stays in the program that includes this, and why (BCC 0.26, tried):
 * - Map calls. BCC rewrites `owners.sk_storage_get(...)` or `map.lookup(...)` into helper calls
 *   only in the file it compiles; in a header the call is left as it is, which clang compiles
 *   to an indirect call through the map struct's (null) function pointer, and the verifier
 *   refuses the program ("unknown opcode 8d"). Maps declared here are made as usual (BCC reads
 *   declarations in every file), so the includer defines, after the #include, the accessors
 *   declared below, one map call each. (A raw bpf_map_lookup_elem((void *)bpf_pseudo_fd(1, -N))
 *   here would work too, but N is the map's place in the includer's declaration order: a map
 *   added above the #include would silently make it another map.)
 *   Nor in a macro expanded there ("cannot use map function inside a macro"): the accessors
 *   are the includer's own text, the only owner code each program repeats.
 * - The hook programs, ebcap_sock_create and ebcap_sock_addr: BCC makes a program section only
 *   for the functions of the file it compiles (from a header: "Unknown program"), which a
 *   function a macro defines there is: the includer writes EBCAP_OWNER_HOOKS (below).
 */
#ifndef EBCAP_OWNERS_H
#define EBCAP_OWNERS_H

#include "record.h"

#ifndef EBCAP_PID_FILTER
#define EBCAP_PID_FILTER 0
#endif
#ifndef EBCAP_COMM_FILTER
#define EBCAP_COMM_FILTER 0
#endif
#ifndef EBCAP_CGROUP_FILTER
#define EBCAP_CGROUP_FILTER 0
#endif
#define EBCAP_OWNER_FILTER (EBCAP_PID_FILTER || EBCAP_COMM_FILTER || EBCAP_CGROUP_FILTER)

/* BCC 0.26's BPF_SK_STORAGE hard-codes the flags to BPF_F_NO_PREALLOC; the same with BPF_F_CLONE
 * added (which the kernel only honours together with it). */
struct owners_table_t {
	int key;
	struct ebcap_owner leaf;
	void *(*sk_storage_get)(void *, void *, int);
	int (*sk_storage_delete)(void *);
	u32 flags;
};
__attribute__((section("maps/sk_storage")))
struct owners_table_t owners = { .flags = BPF_F_NO_PREALLOC | BPF_F_CLONE };
BPF_ANNOTATE_KV_PAIR(owners, int, struct ebcap_owner);

/* --pid: the tgids whose packets are captured (user space fills it, capture/kernel/owners.py). */
#define EBCAP_MAX_PIDS 1024
BPF_HASH(wanted_pids, __u32, __u8, EBCAP_MAX_PIDS);

/* The other owner filters, each compiled in only when asked for (capture/kernel/owners.py
 * fills their maps); a packet must pass every one compiled in:
 *   EBCAP_COMM_FILTER    --comm: the owner's thread name is one of `wanted_comms` (the
 *                        kernel's 16 bytes, NUL-padded, as bpf_get_current_comm writes them)
 *   EBCAP_CGROUP_FILTER  --cgroup, --run: the owner was in the cgroup `wanted_cgroup` names,
 *                        or below it, when a hook saw it use the socket: decided there
 *                        (bpf_get_current_ancestor_cgroup_id at the wanted level, one call, no
 *                        walk) and kept as the owner's in_cgroup. At TC, the socket's own
 *                        cgroup cannot be had at ingress: bpf_sk_ancestor_cgroup_id is not a
 *                        helper tc programs may call (refused on 6.18). */
#if EBCAP_COMM_FILTER
/* A few names compared as two words each. A hash keyed by the 16 bytes measured +262 ns a
 * packet over no owners (owners_cost.py, 5 rounds, wide spread; --owners alone +64); this,
 * +80 ns (9 rounds; --owners alone +89): nothing --owners' noise can tell apart. */
#define EBCAP_MAX_COMMS 8
struct ebcap_comms {
	__u64 name[EBCAP_MAX_COMMS][2];
	__u32 count;
	__u32 unused;
};
BPF_ARRAY(wanted_comms, struct ebcap_comms, 1);
#endif
#if EBCAP_CGROUP_FILTER
struct ebcap_cgroup_want {
	__u64 id;		/* the cgroup's id (the inode number of its directory) */
	__u32 level;		/* its depth below the hierarchy's root (the root: 0) */
	__u32 unused;
};
BPF_ARRAY(wanted_cgroup, struct ebcap_cgroup_want, 1);
#endif

/* The includer's accessors (see the top), defined after the #include:
 *   owner_of(sk, flags)  owners.sk_storage_get(sk, 0, flags)
 *   pid_wanted(tgid)     whether wanted_pids has tgid
 *   comm_list()          wanted_comms' one entry (EBCAP_COMM_FILTER)
 *   cgroup_want()        wanted_cgroup's one entry (EBCAP_CGROUP_FILTER) */
static __always_inline struct ebcap_owner *owner_of(void *sk, __u64 flags);
static __always_inline int pid_wanted(__u32 tgid);
#if EBCAP_COMM_FILTER
static __always_inline struct ebcap_comms *comm_list(void);
#endif
#if EBCAP_CGROUP_FILTER
static __always_inline struct ebcap_cgroup_want *cgroup_want(void);
#endif

#if EBCAP_COMM_FILTER
static __always_inline int comm_wanted(const struct ebcap_owner *now)
{
	struct ebcap_comms *comms = comm_list();
	if (!comms)
		return 0;
	__u64 low, high;
	__builtin_memcpy(&low, now->comm, 8);
	__builtin_memcpy(&high, now->comm + 8, 8);
#pragma unroll
	for (int i = 0; i < EBCAP_MAX_COMMS; i++) {
		if (i >= comms->count)
			break;
		if (comms->name[i][0] == low && comms->name[i][1] == high)
			return 1;
	}
	return 0;
}
#endif

/* The socket hooks' work: the calling thread's ids into the socket's storage. Returns 1, which
 * a cgroup hook returns to let the socket call go on. */
static __always_inline int remember_owner(void *sk)
{
	struct ebcap_owner *owner = owner_of(sk, BPF_SK_STORAGE_GET_F_CREATE);
	if (!owner)
		return 1;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u64 cgroup = bpf_get_current_cgroup_id();
	owner->tgid = pid_tgid >> 32;
	owner->tid = (__u32)pid_tgid;
	owner->uid = (__u32)uid_gid;
	owner->gid = uid_gid >> 32;
	owner->cgroup_lo = (__u32)cgroup;
	owner->cgroup_hi = cgroup >> 32;
	bpf_get_current_comm(owner->comm, sizeof(owner->comm));
	owner->in_cgroup = 0;
#if EBCAP_CGROUP_FILTER
	struct ebcap_cgroup_want *want = cgroup_want();
	if (want && want->id && bpf_get_current_ancestor_cgroup_id(want->level) == want->id)
		owner->in_cgroup = 1;
#endif
	return 1;
}

/* The cgroup socket hooks (capture/kernel/owners.py attaches them), defined where the includer
 * writes this (see the top):
 *   ebcap_sock_create  BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE: the context is
 *                      the new socket
 *   ebcap_sock_addr    BPF_PROG_TYPE_CGROUP_SOCK_ADDR (connect4/6, udp4/6_sendmsg): ctx->sk is
 *                      a full socket */
#define EBCAP_OWNER_HOOKS						\
int ebcap_sock_create(struct bpf_sock *sk)				\
{									\
	return remember_owner(sk);					\
}									\
									\
int ebcap_sock_addr(struct bpf_sock_addr *ctx)				\
{									\
	struct bpf_sock *sk = ctx->sk;					\
	if (sk)								\
		remember_owner(sk);					\
	return 1;							\
}

/* 0 when --pid, --comm or --cgroup leaves out a packet whose owner is `now` (tgid 0: none). */
static __always_inline int owner_chosen(const struct ebcap_owner *now)
{
#if EBCAP_PID_FILTER
	__u32 tgid = now->tgid;
	if (!tgid || !pid_wanted(tgid))
		return 0;
#endif
#if EBCAP_COMM_FILTER
	if (!now->tgid || !comm_wanted(now))
		return 0;
#endif
#if EBCAP_CGROUP_FILTER
	if (!now->tgid || !now->in_cgroup)
		return 0;
#endif
	return 1;
}

#endif
