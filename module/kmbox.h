/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmbox internals.
 *
 * Locking, outermost first:
 *
 *  kmbox_mutex (names.c)  the list of live IPC namespaces (struct
 *                         kmbox_ns), the name table and each namespace's
 *                         list of names; taken to look up, create, unlink
 *                         and reap, and by /proc readers to find their
 *                         namespace.  Nothing under it allocates, sleeps
 *                         for long or walks more than the namespaces and
 *                         one hash chain; kmbox_put() never takes it.
 *  kmbox_ns->lock         a namespace's list of mailboxes, written when a
 *                         mailbox is published and when it dies, walked
 *                         under RCU by /proc; a leaf.
 *  kmbox->lock            everything in a mailbox that changes after
 *                         creation: the queue, counters, the region's slot
 *                         states, the kmbox_file fields marked below and
 *                         @dead.  A spinlock, never held across a user
 *                         copy or an allocation that may sleep; never
 *                         nested with kmbox_ns->lock.
 *  kmbox_users_lock       the per-user accounting hash (user.c); a leaf.
 *
 * Wait queues (rd_wait, wr_wait, zc_wait) have their own locks; we wake
 * after dropping kmbox->lock.
 */
#ifndef _KMBOX_INTERNAL_H
#define _KMBOX_INTERNAL_H

#include "compat.h"

#include <linux/bitops.h>
#include <linux/cache.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/pid.h>
#include <linux/rbtree.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/stddef.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/kmbox.h>

struct cred;
struct iov_iter;
struct ipc_namespace;
struct seq_file;
struct user_namespace;
struct vfsmount;

/**
 * struct kmbox_params - module parameters, read with READ_ONCE()
 * @default_max_msgs: max_msgs of a mailbox created with 0
 * @default_max_msgsize: max_msgsize of a mailbox created with 0
 * @max_msgs_cap: largest max_msgs accepted
 * @max_msgsize_cap: largest max_msgsize (and zero-copy slot) accepted
 * @max_mailboxes: mailboxes alive at once per IPC namespace (CAP_SYS_RESOURCE
 *	goes past it, as with mqueue's queues_max)
 * @user_max_mailboxes: mailboxes one user may have created and alive
 * @user_quota: bytes one user may pin, 0 = unlimited
 * @region_cap: largest zero-copy region, bytes
 */
struct kmbox_params {
	unsigned int default_max_msgs;
	unsigned int default_max_msgsize;
	unsigned int max_msgs_cap;
	unsigned int max_msgsize_cap;
	unsigned int max_mailboxes;
	unsigned int user_max_mailboxes;
	unsigned long user_quota;
	unsigned long region_cap;
};

extern struct kmbox_params kmbox_params;

/**
 * struct kmbox_totals - module-wide counts, checked at unload
 * @mailboxes: mailboxes allocated and not yet freed
 * @region_pages: pages of all zero-copy regions
 * @pool_buffers: buffers of all message pools
 * @users: per-user accounting records
 * @messages: what freed namespaces left of their per-message counts
 *	(struct kmbox_pcpu_stats), which must be 0
 * @bytes: likewise
 * @slots_held: likewise
 *
 * /proc/kmbox/stats shows the reader's namespace (struct kmbox_ns).  These
 * totals over every namespace are what kmbox_exit() checks, so that a leak
 * in a namespace nobody reads is still caught.  A namespace's per-message
 * counts are added in when it is freed; until then a leaked message keeps
 * its mailbox, and so @mailboxes, from reaching 0.
 */
struct kmbox_totals {
	atomic_long_t mailboxes;
	atomic_long_t region_pages;
	atomic_long_t pool_buffers;
	atomic_long_t users;
	atomic_long_t messages;
	atomic_long_t bytes;
	atomic_long_t slots_held;
};

extern struct kmbox_totals kmbox_stats;

/**
 * struct kmbox_pcpu_stats - the counts that change per message, per CPU
 * @messages: messages allocated and not yet freed (queued or in flight)
 * @bytes: payload bytes of those messages (copied ones)
 * @slots_held: zero-copy slots reserved or received and not released
 *
 * One set per IPC namespace (kmbox_ns->pcpu).  One CPU sends and another
 * receives, so each CPU's part drifts without bound; only the sum over all
 * CPUs means anything.  Adding is one this_cpu_add() (a single
 * instruction on x86), with no shared line, no lock and no preemption
 * toggling.
 */
struct kmbox_pcpu_stats {
	long messages;
	long bytes;
	long slots_held;
};

/* Count @v more of @field (of struct kmbox_pcpu_stats) for mailbox @mb. */
#define kmbox_stat_add(mb, field, v)	this_cpu_add((*(mb)->stats).field, (long)(v))

/**
 * struct kmbox_ns - kmbox's state for one IPC namespace (names.c)
 * @mnt: the namespace's mqueue mount, pinned with mntget(): the key
 * @ref: one while on the list of live namespaces, one per mailbox created
 *	in the namespace, one per user of the moment (bind, /proc)
 * @node: in the list of live namespaces (under kmbox_mutex)
 * @named: named mailboxes in the name table (kmbox->nsnode, under
 *	kmbox_mutex)
 * @lock: guards @mailboxes
 * @mailboxes: every published mailbox created here (kmbox->all); RCU
 * @nr_mailboxes: mailboxes created here and alive, for max_mailboxes
 * @region_pages: pages of their zero-copy regions
 * @pool_buffers: buffers of their message pools
 * @pcpu: per-message counts of their messages and slots
 * @initial: this is the initial IPC namespace
 * @dead: taken off the list: the namespace ended (or the module is going);
 *	its names are gone (set under kmbox_mutex)
 */
struct kmbox_ns {
	struct vfsmount *mnt;
	refcount_t ref;
	struct list_head node;
	struct list_head named;
	spinlock_t lock;	/* guards @mailboxes */
	struct list_head mailboxes;
	atomic_t nr_mailboxes;
	atomic_long_t region_pages;
	atomic_long_t pool_buffers;
	struct kmbox_pcpu_stats __percpu *pcpu;
	bool initial;
	bool dead;
};

/* A region of @pages pages (< 0: freed) for a mailbox created in @ns. */
static inline void kmbox_stat_pages(struct kmbox_ns *ns, long pages)
{
	atomic_long_add(pages, &ns->region_pages);
	atomic_long_add(pages, &kmbox_stats.region_pages);
}

/**
 * struct kmbox_user - memory and mailboxes charged to one user (a kuid)
 * @node: in the users hash, under kmbox_users_lock
 * @uid: whose
 * @ref: one per charge chain that lists the user
 * @bytes: bytes charged now
 * @mailboxes: mailboxes charged now
 */
struct kmbox_user {
	struct hlist_node node;
	kuid_t uid;
	refcount_t ref;
	atomic_long_t bytes;
	atomic_t mailboxes;
};

/* The opener's euid and one owner per user namespace level (32 at most). */
#define KMBOX_CHAIN_MAX		40

/**
 * struct kmbox_chain - the users one file's charges go to
 * @ref: one per file opened with it, per message and per mailbox charged
 *	through it; so every charge is given back to exactly the users it
 *	was made to, whatever happens to the namespaces afterwards
 * @exempt: the opener had CAP_SYS_RESOURCE in the initial user namespace:
 *	no limit applies (the charges are still counted)
 * @n: entries in @users, 1 .. KMBOX_CHAIN_MAX
 * @users: the opener's euid, then the owner of each user namespace from
 *	the opener's up to (not including) the initial one, each user once
 *
 * Like mqueue's ucounts: a charge is made to every user listed, and each
 * is held to the limits, so a user's subordinate ids (a rootless
 * container's) all share their owner's quota.
 */
struct kmbox_chain {
	refcount_t ref;
	bool exempt;
	unsigned int n;
	struct kmbox_user *users[];
};

/**
 * struct kmbox_msg - one queued message
 * @node: in kmbox->queue while it is the first queued of its priority
 *	(the tree is ordered by priority, highest first); RB_EMPTY_NODE()
 *	while it is queued behind another of its priority
 * @pool_node: in kmbox->pool while the buffer is free (pooled ones only)
 * @link: while queued: in the ring of its priority's messages, in
 *	arrival order from the first (the one in kmbox->queue)
 * @seq: arrival number in the mailbox; a message put back after a failed
 *	copy keeps it and so returns to its exact place
 * @chain: charged for this message, NULL for pooled ones
 * @pid: sender's thread group; a pooled buffer keeps its last sender's
 *	reference while free, so a sender that reuses its own saves a
 *	get_pid()/put_pid() pair
 * @uid: sender's euid
 * @gid: sender's egid
 *	(pid, uid and gid: see enum kmbox_creds)
 * @send_ns: CLOCK_MONOTONIC time of queueing
 * @len: payload length; with @slot, fixed from allocation to freeing (the
 *	charge is computed from them)
 * @prio: priority
 * @slot: region slot holding the payload, or KMBOX_NO_SLOT
 * @pooled: the buffer belongs to the mailbox's pool
 * @qbucket: while in flight to a receiver: the qtime_hist bucket it was
 *	counted in (stats.c), so that a requeue takes it out again
 * @qgen: the mailbox's stats generation then (a reset in between means
 *	there is nothing to take out)
 * @sync: the synchronous sender or caller waiting for this message (see
 *	call.c), or NULL; changed under kmbox->lock
 * @token: the reply token of a call's request, 0 otherwise (fixed once
 *	queued)
 * @tag: the message's tag (fixed once queued)
 * @expires: host CLOCK_MONOTONIC time from which it is never delivered,
 *	0 = never (policy.c; fixed once queued)
 * @tag_node: in kmbox->tags while queued and the mailbox is indexed
 *	(tags.c)
 * @data: the payload, inline (see "Message layouts")
 * @pages: the payload's pages, linked through page->lru (a paged message)
 */
struct kmbox_msg {
	union {
		struct rb_node node;
		struct llist_node pool_node;
	};
	struct list_head link;
	u64 seq;
	struct kmbox_chain *chain;
	struct pid *pid;
	kuid_t uid;
	kgid_t gid;
	u64 send_ns;
	u32 len;
	u32 prio;
	u32 slot;
	bool pooled;
	u8 qbucket;
	u8 qgen;
	struct kmbox_sync *sync;
	u64 token;
	u64 tag;
	u64 expires;
	struct rb_node tag_node;
	union {
		DECLARE_FLEX_ARRAY(char, data);
		struct list_head pages;
	};
};

/*
 * Message layouts (msg.c).  A message is one of:
 *  - pooled: a KMBOX_POOL_COST buffer of its mailbox's pool, with the
 *    payload (up to KMBOX_POOL_DATA bytes; none for zero-copy) inline;
 *  - zero-copy, not pooled: the header alone (KMBOX_MSG_HDR bytes);
 *  - inline: header and payload in one kmalloc() of at most PAGE_SIZE;
 *  - paged: a header, and the payload in order-0 pages on ->pages, so
 *    that no message needs a high-order allocation.
 * A message not from the pool is charged to its sender for exactly what
 * these allocations take (kmalloc size classes and whole pages).
 */
#define KMBOX_MSG_HDR		offsetof(struct kmbox_msg, data)
#define KMBOX_INLINE_MAX	(PAGE_SIZE - KMBOX_MSG_HDR)

/*
 * Message pool.  Each mailbox keeps the 1 KiB buffers of its small
 * messages (payload up to KMBOX_POOL_DATA, 872 bytes today, and every
 * zero-copy message) for reuse, so that the steady state of a
 * small-message exchange allocates nothing, at any depth: no kmalloc(),
 * no memory cgroup charge and no init_on_alloc zeroing per message, each
 * of which a buffer pays once, when the pool grows.
 *
 * Size.  A pool grows on demand with its queue, to max_msgs +
 * KMBOX_POOL_EXTRA buffers (spares and batches being built), each charged
 * to the mailbox's creator (user_quota) and, by __GFP_ACCOUNT, to the
 * memory cgroup of the sender that made it grow; a buffer the creator's
 * quota or the cgroup cannot cover is not pooled, and the message is
 * allocated for its size and charged to its sender instead.  So the pool
 * never pins more than its creator's quota allows.  Beyond
 * KMBOX_POOL_KEEP buffers only a send charged to the creator's own users
 * (kmbox_chain_same()) grows the pool: another user's traffic must not
 * spend the creator's quota past what the creator always accepted, and
 * its messages are allocated and charged to it as before.  Everything is freed
 * with the mailbox.
 *
 * Surplus.  KMBOX_POOL_KEEP buffers a pool keeps for good; those beyond
 * (the surplus) it gives back (msg.c):
 *  - under memory pressure: a shrinker frees every surplus buffer that is
 *    free (not holding a message) at once;
 *  - when idle: every KMBOX_POOL_TRIM_MS, a pool that did not grow since
 *    the last pass is trimmed of the free buffers beyond the mailbox's
 *    messages of the moment (queued and in flight) + KMBOX_POOL_EXTRA,
 *    KMBOX_POOL_KEEP at least.  A queue that stays deep keeps its pool; a
 *    drained one gives its surplus back within two passes.
 * A pool with a surplus is on a list of the module's (msg.c), which the
 * shrinker and the trim pass walk under a mutex; kmbox_pool_destroy()
 * takes it off under the same mutex.
 *
 * Plain kmalloc(): no cache of our own, whose creation could half-fail at
 * insmod (6.1's sysfs_slab_add() leaks the name when fault injection fails
 * it), and which would save only the zeroing of a buffer's first use.
 */
#define KMBOX_POOL_COST		1024	/* a kmalloc size class: nothing wasted */
#define KMBOX_POOL_DATA		(KMBOX_POOL_COST - KMBOX_MSG_HDR)
#define KMBOX_POOL_EXTRA	8
#define KMBOX_POOL_KEEP		256
#define KMBOX_POOL_TRIM_MS	1000

/*
 * Recycled pages.  A paged message, once freed, is kept whole (header and
 * pages) on its mailbox's recycled list, up to KMBOX_RECYCLE_MAX pages
 * per mailbox, and the next paged message of the mailbox takes it: no
 * page allocation, memory cgroup charge or init_on_alloc zeroing of
 * memory its copy is about to overwrite (every byte of the payload is;
 * the rest of its last page is never copied out, and a send whose copy
 * faults fails, so a receiver never sees a byte of an earlier message).
 * While kept, it is charged to the mailbox's creator (as its pool is) if
 * the creator's quota covers it, else freed; its pages stay charged to
 * the memory cgroup that allocated them, so only a sender of that cgroup
 * takes it (one of another cgroup allocates anew: it would otherwise
 * queue its data in memory charged to someone else).  The sender that
 * takes it is charged for it as for a new one.  The shrinker and the idle trim pass
 * free them as they do a pool's surplus (the mailbox is on the same
 * list); a mailbox that recycles after a trim took it off the list keeps
 * at most KMBOX_RECYCLE_MAX pages until its next paged send lists it
 * again, or it goes.
 */
#define KMBOX_RECYCLE_MAX	64

/*
 * Every message allocation: charged to the memory cgroup, and when the
 * cgroup (or the system) is out of memory the send fails with ENOMEM
 * rather than calling the OOM killer.
 */
#define KMBOX_MSG_GFP		(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

struct kmbox_region;
struct kmbox_batch_mem;

/**
 * struct kmbox_mbstats - one mailbox's always-on counts (stats.c)
 * @msgs_in: messages sent (queued or handed over)
 * @bytes_in: their payload bytes
 * @msgs_out: messages taken by receivers and not put back
 * @bytes_out: their payload bytes
 * @handoffs: messages handed to a sleeping receiver
 * @max_depth: most messages queued at once
 * @gen: bumped by every reset (see kmbox_msg.qgen)
 * @full_waits: sends that went to wait for room
 * @empty_waits: receives that went to wait for a message
 * @hist: @msgs_out by time queued, log2 buckets of nanoseconds
 * @since_ns: CLOCK_MONOTONIC of creation or the last reset
 *
 * All under kmbox->lock, which every place that changes them holds
 * already: no atomics.  What a message changes is in the first cache
 * line (the struct is aligned to one) and one bucket of @hist; the
 * rarely written fields come after.
 */
struct kmbox_mbstats {
	u64 msgs_in;
	u64 bytes_in;
	u64 msgs_out;
	u64 bytes_out;
	u64 handoffs;
	u32 max_depth;
	u8 gen;
	u64 full_waits;
	u64 empty_waits;
	u64 hist[KMBOX_STATS_BUCKETS];
	u64 since_ns;
};

/**
 * struct kmbox - one mailbox
 * @ref: one per bound file, one for the name table while named and linked
 * @lock: see the top of this file
 * @queue: the queue, as mqueue keeps it: an rbtree of priorities, highest
 *	leftmost, and each priority's messages in arrival order: the first
 *	of each is in the tree, the others in its ring (struct kmbox_msg
 *	@node and @link).  Leftmost = next to receive.  A send costs one
 *	descent of the priorities, a receive none, however deep the queue
 * @seq: next arrival number
 * @nr_msgs: messages in @queue
 * @used: messages queued or in flight (taken by a receiver, or handed to
 *	one, and not yet delivered): the room test, one word (see "Wake-ups"
 *	in mbox.c).  A message in flight still takes up room, so a receive
 *	that faults and puts its message back never finds the mailbox
 *	overfilled.  Raised under @lock; lowered when a receive commits
 * @bytes: payload bytes in @queue
 * @max_msgs: capacity, messages
 * @max_msgsize: largest message
 * @rd_list: receivers asleep for a message (struct kmbox_rwaiter), oldest
 *	first; only while @queue is empty does a sender hand a message to one
 * @rd_wait: pollers for EPOLLIN (woken with that key)
 * @wr_wait: blocked senders and pollers for EPOLLOUT and EPOLLWRBAND
 *	(woken with those keys; senders let EPOLLWRBAND pass)
 * @zc_wait: blocked slot reservers (woken with EPOLLWRBAND; pollers for
 *	it wait on @wr_wait)
 * @rd_waiters: receivers asleep now, on @rd_list (under @lock)
 * @wr_waiters: senders and reservers asleep now
 * @fasync: O_ASYNC files
 * @region: zero-copy region, or NULL
 * @id: unique number, for /proc
 * @name: name, or NULL for an anonymous mailbox
 * @ns: namespace the mailbox was created in (referenced)
 * @stats: @ns->pcpu, for kmbox_stat_add()
 * @uid: owner
 * @gid: group
 * @mode: permission bits
 * @unlinked: named, and removed from the name table (under kmbox_mutex)
 * @dead: the last reference is gone and the mailbox is being freed; /proc
 *	readers who still find it skip it (under @lock)
 * @creator: charged for the mailbox, its region and its pool
 * @pool: free pooled buffers; anyone adds, takers hold @lock
 * @pool_size: pooled buffers allocated (free or in use)
 * @pool_max: most pooled buffers (fixed)
 * @pool_grew: the pool grew past KMBOX_POOL_KEEP since the last trim pass
 * @pool_link: on the list of pools with a surplus or recycled pages
 *	(msg.c), or empty; under that list's mutex
 * @recycled: freed paged messages kept whole for reuse (see "Recycled
 *	pages"), chained through pool_node; added to and emptied whole only
 *	(llist_add(), llist_del_all()), without a lock
 * @recycled_pages: the pages they hold
 * @rendezvous: created with KMBOX_ATTR_RENDEZVOUS: every send is
 *	synchronous
 * @tags: the queued messages again, by (tag, priority desc, arrival), once
 *	@tags_indexed (tags.c)
 * @tags_indexed: a receive has asked for an exact tag: @tags is kept
 * @flt_wait: receivers and peekers asleep with a filter (tags.c)
 * @flt_sleepers: how many (raised under @lock)
 * @policy: KMBOX_POLICY_*, fixed at creation (policy.c)
 * @urgent_prio: messages of this priority and above are urgent;
 *	KMBOX_PRIO_MAX when there is no urgent lane (fixed)
 * @normal_max: the messages there is room for unless urgent: max_msgs
 *	less the urgent room (fixed)
 * @ttl_ns: default time to live of its messages, 0 = none (fixed)
 * @send_hooks: a send must look at @ttl_ns or the policy before the room
 *	test: a TTL, or KMBOX_POLICY_REPLACE (fixed; mbox.c's one test)
 * @may_expire: a message with a deadline was queued once: a full mailbox
 *	looks for expired messages to make room (under @lock)
 * @loss: what the mailbox lost, totals (under @lock)
 * @flt_pollers: files with a filter whose pollers wait behind a relay on
 *	@flt_wait (tags.c; raised under @lock)
 * @next_token: the last reply token issued
 * @st: the always-on counts (under @lock)
 * @all: in @ns->mailboxes once published (under @ns->lock; RCU readers)
 * @hnode: in the name table (under kmbox_mutex)
 * @nsnode: in @ns->named while in the name table (under kmbox_mutex)
 * @rcu: frees the struct and @name a grace period after the last put
 */
struct kmbox {
	struct kref ref;
	spinlock_t lock;	/* see the top of this file */
	struct rb_root_cached queue;
	u64 seq;
	u32 nr_msgs;
	atomic_t used;
	u64 bytes;
	u32 max_msgs;
	u32 max_msgsize;
	struct list_head rd_list;
	wait_queue_head_t rd_wait;
	wait_queue_head_t wr_wait;
	wait_queue_head_t zc_wait;
	u32 rd_waiters;
	atomic_t wr_waiters;
	struct fasync_struct *fasync;
	struct kmbox_region *region;
	u64 id;
	char *name;
	struct kmbox_ns *ns;
	struct kmbox_pcpu_stats __percpu *stats;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	bool unlinked;
	bool dead;
	struct kmbox_chain *creator;
	struct llist_head pool;
	atomic_t pool_size;
	u32 pool_max;
	bool pool_grew;
	struct list_head pool_link;
	struct llist_head recycled;
	atomic_t recycled_pages;
	bool rendezvous;
	struct rb_root tags;
	bool tags_indexed;
	wait_queue_head_t flt_wait;
	atomic_t flt_sleepers;
	u8 policy;
	u32 urgent_prio;
	u32 normal_max;
	u64 ttl_ns;
	u64 send_hooks;
	bool may_expire;
	struct kmbox_loss loss;
	atomic_t flt_pollers;
	atomic64_t next_token;
	struct kmbox_mbstats st ____cacheline_aligned_in_smp;
	struct list_head all;
	struct hlist_node hnode;
	struct list_head nsnode;
	struct rcu_head rcu;
};

/**
 * struct kmbox_relay - forwards a mailbox queue's wake-ups to a file's own
 * @entry: on the mailbox's wait queue
 * @head: that wait queue
 */
struct kmbox_relay {
	struct wait_queue_entry entry;
	wait_queue_head_t *head;
};

/**
 * struct kmbox_file - private data of a file opened on /dev/kmbox
 * @mb: bound mailbox; NULL until KMBOX_IOC_OPEN, then never changes
 * @chain: charged for messages sent and mailboxes created through this
 *	file (the opener's)
 * @opener: thread group that opened the file: the sender of its write()s
 * @cred: the file's f_cred (the opener's): euid/egid of its write()s
 * @spare: a pooled buffer set aside for this file's next send (xchg())
 * @batch: the work arrays of its last batch call, kept for the next
 *	(xchg(); ioctl.c)
 * @zc_used: the file has reserved or received a slot, so slots may
 *	name it as owner or sender (under @mb->lock)
 * @zc_held: slots this file holds, reserved or delivered to it (under
 *	@mb->lock)
 * @zc_completed: zero-copy sends of this file since released (under
 *	@mb->lock)
 * @unbound_wait: where the file is polled while it is unbound
 * @relays: the mailbox queues wired to @unbound_wait when the file was
 *	bound while polled (see kmbox_poll())
 * @nrelays: how many of @relays are in use
 * @calls: requests received through this file and not answered yet
 *	(struct kmbox_sync, by token; under @mb->lock)
 * @filter: the file's receive filter (KMBOX_IOC_FILTER; under @mb->lock)
 * @loss_seen: @mb->loss as this file's last loss-reporting receive took
 *	its message (policy.c; under @mb->lock)
 * @flt_poll: where the file is polled for EPOLLIN while it has a filter
 * @flt_relay: on @mb->flt_wait once @flt_relayed: wakes @flt_poll for the
 *	messages @filter lets through (tags.c)
 * @flt_relayed: @flt_relay is on @mb->flt_wait (set under @mb->lock)
 */
struct kmbox_file {
	struct kmbox *mb;
	struct kmbox_chain *chain;
	struct pid *opener;
	const struct cred *cred;
	struct kmbox_msg *spare;
	struct kmbox_batch_mem *batch;
	bool zc_used;
	u32 zc_held;
	u64 zc_completed;
	wait_queue_head_t unbound_wait;
	struct kmbox_relay relays[2];
	unsigned int nrelays;
	struct rb_root calls;
	struct kmbox_match {
		u64 tag;
		u64 mask;
	} filter;
	struct kmbox_loss loss_seen;
	wait_queue_head_t flt_poll;
	struct wait_queue_entry flt_relay;
	bool flt_relayed;
};

/**
 * enum kmbox_creds - whose credentials a message carries
 * @KMBOX_CREDS_CALLER: the calling task's (KMBOX_IOC_SEND, SEND_BATCH)
 * @KMBOX_CREDS_OPENER: the file opener's (write() and friends), which a
 *	more privileged process that inherited or was passed the file cannot
 *	lend to it (the confused deputy of binder's CVE-2021-39686)
 */
enum kmbox_creds {
	KMBOX_CREDS_CALLER,
	KMBOX_CREDS_OPENER,
};

/*
 * Wait/operation flags, from the uapi KMBOX_F_* plus the file's O_NONBLOCK;
 * handoff_only: queue nothing, only hand a message to a waiting receiver
 * (a non-blocking synchronous send); loss: a receive that reports losses
 * (KMBOX_IOC_RECVX) gets them here when it takes its message.
 */
struct kmbox_wait {
	bool nonblock;
	bool timed;
	ktime_t deadline;
	bool handoff_only;
	struct kmbox_loss *loss;
};

/* mbox.c */
struct kmbox *kmbox_alloc(const struct kmbox_attr *attr, const struct kmbox_qos *qos,
			  struct kmbox_ns *ns, struct kmbox_chain *creator);
void kmbox_put(struct kmbox *mb);
int kmbox_send_many(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n,
		    const struct kmbox_wait *w);
int kmbox_send_msg(struct kmbox_file *kf, struct kmbox_msg *msg, const struct kmbox_wait *w,
		   bool sync);
int kmbox_recv_many(struct kmbox_file *kf, struct kmbox_msg **msgs, const u32 *bufsz,
		    unsigned int n, bool zc, const struct kmbox_wait *w, u32 *need);
void kmbox_requeue(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n);
void kmbox_consume(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n, bool calls);
__poll_t kmbox_poll_mask(struct kmbox *mb, fmode_t fmode);
void kmbox_getattr(struct kmbox_file *kf, struct kmbox_attr *attr);
int kmbox_wait_event(wait_queue_head_t *wq, __poll_t key, atomic_t *waiters,
		     bool (*cond)(struct kmbox *), struct kmbox *mb, const struct kmbox_wait *w);
void kmbox_file_detach(struct kmbox_file *kf);
void kmbox_unqueue_locked(struct kmbox *mb, struct kmbox_msg *msg);
void kmbox_dequeue_locked(struct kmbox *mb, struct kmbox_msg *msg);

/* The queue in receive order (see struct kmbox @queue), under kmbox->lock. */
static inline struct kmbox_msg *kmbox_queue_first(struct kmbox *mb)
{
	struct rb_node *node = rb_first_cached(&mb->queue);

	return node ? rb_entry(node, struct kmbox_msg, node) : NULL;
}

/* The message after @msg, a queued one, in receive order, or NULL. */
static inline struct kmbox_msg *kmbox_queue_next(struct kmbox_msg *msg)
{
	struct kmbox_msg *next = list_next_entry(msg, link);
	struct rb_node *node;

	/* Behind @msg in its priority's ring, unless that is its first. */
	if (RB_EMPTY_NODE(&next->node))
		return next;
	node = rb_next(&next->node);
	return node ? rb_entry(node, struct kmbox_msg, node) : NULL;
}

/* The oldest message of the lowest priority queued, or NULL. */
static inline struct kmbox_msg *kmbox_queue_oldest_lowest(struct kmbox *mb)
{
	struct rb_node *node = rb_last(&mb->queue.rb_root);

	return node ? rb_entry(node, struct kmbox_msg, node) : NULL;
}

void kmbox_wake_room(struct kmbox *mb);

int kmbox_recv_match(struct kmbox_file *kf, struct kmbox_msg **msgs, const u32 *bufsz,
		     unsigned int n, bool zc, const struct kmbox_wait *w, u32 *need,
		     const struct kmbox_match *m);

/**
 * struct kmbox_tagwake - filtered sleepers a lock round must wake (tags.c)
 * @n: tags in @tags
 * @all: more tags than fit: wake every filtered sleeper
 * @tags: tags of the messages queued
 */
struct kmbox_tagwake {
	unsigned int n;
	bool all;
	u64 tags[4];
};

/**
 * struct kmbox_peeked - what a peek saw (tags.c)
 * @len: the message's length
 * @prio: its priority
 * @tag: its tag
 * @send_ns: when it was queued (host clock)
 * @pid: its sender (a reference: put_pid() it)
 * @uid: its sender's euid
 * @gid: its sender's egid
 */
struct kmbox_peeked {
	u32 len;
	u32 prio;
	u64 tag;
	u64 send_ns;
	struct pid *pid;
	kuid_t uid;
	kgid_t gid;
};

/* policy.c: overflow policies, loss counts, the urgent lane */
int kmbox_qos_check(const struct kmbox_qos *q, const struct kmbox_attr *attr);
void kmbox_qos_init(struct kmbox *mb, const struct kmbox_qos *q);
void kmbox_qos_read(struct kmbox *mb, struct kmbox_qos *q);

/* What kmbox_overflow_locked() decided for a message that found no room. */
enum kmbox_ovf {
	KMBOX_OVF_GO,		/* there is room now: queue it */
	KMBOX_OVF_WAIT,		/* wait for room, as KMBOX_POLICY_BLOCK */
	KMBOX_OVF_REJECT,	/* fail the send with EAGAIN */
	KMBOX_OVF_SELF,		/* the message itself is dropped */
};

/**
 * struct kmbox_victims - messages a lock round took out, freed after it
 * @head: chained through kmbox_msg.pool_node
 * @slots_freed: a slot came free: wake the reservers after unlocking
 */
struct kmbox_victims {
	struct llist_node *head;
	bool slots_freed;
};

enum kmbox_ovf kmbox_overflow_locked(struct kmbox *mb, struct kmbox_msg *msg, u32 limit,
				     struct kmbox_victims *v);
struct kmbox_msg *kmbox_replace_find_locked(struct kmbox *mb, const struct kmbox_msg *msg);
void kmbox_discard_locked(struct kmbox *mb, struct kmbox_msg *msg, struct kmbox_victims *v,
			  bool queued, int err);
bool kmbox_expire_send_locked(struct kmbox *mb, struct kmbox_msg *msg, u64 now);
bool kmbox_expire_purge_locked(struct kmbox *mb, u64 now, struct kmbox_victims *v);
bool kmbox_expired_locked(struct kmbox *mb, struct kmbox_msg *msg, u64 *now,
			  struct kmbox_victims *v);
void kmbox_expired_free(struct kmbox *mb, struct kmbox_victims *v);
void kmbox_loss_bind(struct kmbox_file *kf);
void kmbox_victims_free(struct kmbox *mb, struct kmbox_victims *v);
void kmbox_loss_take_locked(struct kmbox *mb, struct kmbox_file *kf, struct kmbox_loss *out);
void kmbox_loss_untake(struct kmbox_file *kf, const struct kmbox_loss *l);
bool kmbox_has_urgent_locked(struct kmbox *mb);

/* Under kmbox->lock: how many messages may be queued or in flight before @msg waits. */
static inline u32 kmbox_room_limit(const struct kmbox *mb, const struct kmbox_msg *msg)
{
	return msg->prio >= mb->urgent_prio ? mb->max_msgs : mb->normal_max;
}

/* tags.c: the tag index, filtered waits, peek; see the top of tags.c */
int kmbox_match_check(const struct kmbox_match *m);

static inline bool kmbox_match(const struct kmbox_match *m, u64 tag)
{
	return (tag & m->mask) == m->tag;
}

void kmbox_tags_insert_locked(struct kmbox *mb, struct kmbox_msg *msg, struct kmbox_tagwake *tw);
void kmbox_tags_erase_locked(struct kmbox *mb, struct kmbox_msg *msg);
struct kmbox_msg *kmbox_tags_first_locked(struct kmbox *mb, const struct kmbox_match *m);
int kmbox_tags_wait_locked(struct kmbox *mb, const struct kmbox_match *m,
			   const struct kmbox_wait *w) __releases(&mb->lock);
void kmbox_tags_wake(struct kmbox *mb, struct kmbox_tagwake *tw);
int kmbox_peek(struct kmbox_file *kf, const struct kmbox_match *m, void *kbuf, u32 bufsz,
	       const struct kmbox_wait *w, struct kmbox_peeked *out);
int kmbox_filter_xchg(struct kmbox_file *kf, struct kmbox_match *m, bool set);
__poll_t kmbox_tags_poll(struct kmbox_file *kf, __poll_t mask);
wait_queue_head_t *kmbox_tags_poll_queue(struct kmbox_file *kf);
void kmbox_tags_file_init(struct kmbox_file *kf);

/* ioctl.c: the work of SEND, RECV and the batches on an argument in kernel memory */
long kmbox_send_args(struct file *file, struct kmbox_file *kf, const struct kmbox_send *s,
		     bool nowait);
long kmbox_recv_args(struct file *file, struct kmbox_file *kf, const struct kmbox_recv *rp,
		     struct kmbox_recv __user *ur, bool nowait);
void kmbox_batch_mem_release(struct kmbox_file *kf);
long kmbox_send_batch_args(struct file *file, struct kmbox_file *kf, const struct kmbox_batch *b,
			   bool nowait);
long kmbox_recv_batch_args(struct file *file, struct kmbox_file *kf, const struct kmbox_batch *b,
			   struct kmbox_loss __user *ulost, bool nowait);

/* uring.c: io_uring commands */
struct io_uring_cmd;
int kmbox_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags);
void kmbox_tags_file_release(struct kmbox_file *kf);

/* call.c: synchronous sends and calls; see the top of call.c */
struct kmbox_sync;
int kmbox_sync_take_locked(struct kmbox *mb, struct kmbox_msg *msg);
bool kmbox_sync_untake_locked(struct kmbox *mb, struct kmbox_msg *msg);
void kmbox_sync_deliver_locked(struct kmbox *mb, struct kmbox_msg *msg,
			       struct kmbox_file *rkf, bool calls);
void kmbox_sync_drop_locked(struct kmbox *mb, struct kmbox_msg *msg, int err);
bool kmbox_sync_unsend_locked(struct kmbox *mb, struct kmbox_msg *msg);
void kmbox_calls_detach_locked(struct kmbox_file *kf);
int kmbox_send_one(struct kmbox_file *kf, struct kmbox_msg *msg, const struct kmbox_wait *w,
		   bool sync);
int kmbox_send_sync_batch(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n,
			  const struct kmbox_wait *w);
int kmbox_call_wait(struct kmbox_file *kf, struct kmbox_msg *msg, u32 reply_cap,
		    const struct kmbox_wait *w, struct kmbox_msg **reply);
int kmbox_reply_to(struct kmbox_file *kf, u64 token, struct kmbox_msg *reply,
		   u64 __user *done);

/* msg.c */
struct kmbox_msg *kmbox_msg_alloc(struct kmbox_file *kf, u32 len, u32 slot,
				  struct llist_node **pool, enum kmbox_creds creds);
struct kmbox_msg *kmbox_prepare(struct kmbox_file *kf, const void __user *buf, u32 len,
				u32 prio, bool zc, u32 slot, struct llist_node **pool);
void kmbox_msg_free(struct kmbox *mb, struct kmbox_msg *msg);
void kmbox_msg_free_many(struct kmbox *mb, struct kmbox_msg **msgs, unsigned int n);
int kmbox_msg_fill(struct kmbox_msg *msg, struct iov_iter *from);
int kmbox_msg_fill_user(struct kmbox_msg *msg, const void __user *buf);
int kmbox_msg_copy_to_iter(struct kmbox *mb, const struct kmbox_msg *msg, struct iov_iter *to);
int kmbox_copy_out(struct kmbox *mb, void __user *buf, const struct kmbox_msg *msg);
struct llist_node *kmbox_pool_take(struct kmbox *mb, unsigned int n);
void kmbox_pool_give(struct kmbox *mb, struct llist_node *chain);
void kmbox_pool_refill_locked(struct kmbox_file *kf);
unsigned long kmbox_pool_destroy(struct kmbox *mb);
int kmbox_pool_init(void);
void kmbox_pool_exit(void);

/* user.c */
struct kmbox_chain *kmbox_chain_get(const struct cred *cred, bool exempt);
void kmbox_chain_put(struct kmbox_chain *c);
bool kmbox_chain_same(const struct kmbox_chain *a, const struct kmbox_chain *b);
int kmbox_charge(struct kmbox_chain *c, unsigned long bytes);
void kmbox_uncharge(struct kmbox_chain *c, unsigned long bytes);
int kmbox_charge_mailbox(struct kmbox_chain *c);
void kmbox_uncharge_mailbox(struct kmbox_chain *c);
void kmbox_users_exit(void);
long kmbox_users_visible(struct user_namespace *ns);

/**
 * kmbox_chain_hold() - take another reference to @c
 * @c: a charge chain
 *
 * Return: @c.
 */
static inline struct kmbox_chain *kmbox_chain_hold(struct kmbox_chain *c)
{
	refcount_inc(&c->ref);
	return c;
}

/**
 * struct kmbox_zc_counts - a region's slots per state, under kmbox->lock
 * @slots: all of them (the sum of the five counts below)
 * @slot_size: bytes per slot
 * @free: free
 * @reserved: reserved by a sender file
 * @queued: in a queued message
 * @taken: in a message in flight to a receiver
 * @held: delivered to a receiver file as a slot
 */
struct kmbox_zc_counts {
	u32 slots;
	u32 slot_size;
	u32 free;
	u32 reserved;
	u32 queued;
	u32 taken;
	u32 held;
};

/* region.c: the slot state machine; see the top of region.c */
size_t kmbox_region_cost(u32 nslots, u32 slot_size);
int kmbox_region_create(struct kmbox *mb, u32 nslots, u32 slot_size);
size_t kmbox_region_destroy(struct kmbox *mb);
int kmbox_region_mmap(struct kmbox *mb, struct vm_area_struct *vma);
int kmbox_zc_reserve(struct kmbox_file *kf, u32 *slots, unsigned int n,
		     const struct kmbox_wait *w, u32 *tag);
void kmbox_zc_unreserve(struct kmbox_file *kf, const u32 *slots, unsigned int n, u32 tag);
int kmbox_zc_release(struct kmbox_file *kf, const u32 *slots, unsigned int n);
int kmbox_zc_check_send_locked(struct kmbox_file *kf, u32 slot);
int kmbox_zc_send_locked(struct kmbox_file *kf, u32 slot);
int kmbox_zc_unsend_locked(struct kmbox_file *kf, u32 slot);
int kmbox_zc_take_locked(struct kmbox *mb, u32 slot, struct kmbox_file *rkf);
int kmbox_zc_untake_locked(struct kmbox *mb, u32 slot);
int kmbox_zc_deliver_locked(struct kmbox *mb, u32 slot);
int kmbox_zc_check_slot(struct kmbox *mb, u32 *slot, u32 len);
void *kmbox_slot_addr(struct kmbox *mb, u32 slot);
bool kmbox_zc_file_detach_locked(struct kmbox_file *kf);
u32 kmbox_zc_nfree(struct kmbox *mb);
void kmbox_zc_wake(struct kmbox *mb);
void kmbox_zc_counts_locked(struct kmbox *mb, struct kmbox_zc_counts *c);
void kmbox_zc_file_counts_locked(struct kmbox_file *kf, u32 *reserved, u32 *received);

/* names.c */
int kmbox_bind(struct file *file, struct kmbox_file *kf, const struct kmbox_open *o);
int kmbox_unlink_name(u64 uname);
void kmbox_names_exit(void);
void kmbox_unlist(struct kmbox *mb);
void kmbox_ns_put(struct kmbox_ns *ns);
void kmbox_list_show(struct seq_file *m);
void kmbox_stats_show(struct seq_file *m);
void kmbox_show_fdinfo(struct seq_file *m, struct file *file);

/* stats.c: the always-on counts of struct kmbox_mbstats */

/* The bucket of a time in queue of @ns nanoseconds. */
static inline unsigned int kmbox_qbucket(u64 ns)
{
	return min_t(unsigned int, fls64(ns), KMBOX_STATS_BUCKETS - 1);
}

/* Under kmbox->lock: @msg was sent (queued or handed over). */
static inline void kmbox_stat_in_locked(struct kmbox *mb, const struct kmbox_msg *msg)
{
	mb->st.msgs_in++;
	mb->st.bytes_in += msg->len;
}

/* Under kmbox->lock: @msg was taken by a receiver after @qtime ns queued. */
static inline void kmbox_stat_out_locked(struct kmbox *mb, struct kmbox_msg *msg, u64 qtime)
{
	unsigned int b = kmbox_qbucket(qtime);

	mb->st.msgs_out++;
	mb->st.bytes_out += msg->len;
	mb->st.hist[b]++;
	msg->qbucket = b;
	msg->qgen = mb->st.gen;
}

void kmbox_stat_unout_locked(struct kmbox *mb, const struct kmbox_msg *msg);
int kmbox_stats_read(struct kmbox_file *kf, struct file *file, struct kmbox_stats *out);
void kmbox_mbstats_show(struct seq_file *m);
void kmbox_mbstats_show_one(struct seq_file *m, struct kmbox *mb);

/* names.c, for stats.c: every mailbox of the reader's namespace */
void kmbox_list_walk(struct seq_file *m, void (*show)(struct seq_file *m, struct kmbox *mb));

/* ioctl.c */
long kmbox_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* main.c */
void kmbox_poll_bound(struct file *file, struct kmbox_file *kf);

/**
 * kmbox_file_mb() - the mailbox @kf is bound to, or NULL
 * @kf: a file's private data
 *
 * Once non-NULL it never changes, so callers may use @kf->mb afterwards.
 *
 * Return: the mailbox, or NULL while the file is unbound.
 */
static inline struct kmbox *kmbox_file_mb(struct kmbox_file *kf)
{
	/* Pairs with cmpxchg_release() in kmbox_bind(). */
	return smp_load_acquire(&kf->mb);
}

#endif /* _KMBOX_INTERNAL_H */
