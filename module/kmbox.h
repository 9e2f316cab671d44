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

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/pid.h>
#include <linux/rbtree.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/kmbox.h>

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
 * struct kmbox_stats - module-wide counts, checked at unload
 * @mailboxes: mailboxes allocated and not yet freed
 * @region_pages: pages of all zero-copy regions
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
struct kmbox_stats {
	atomic_long_t mailboxes;
	atomic_long_t region_pages;
	atomic_long_t users;
	atomic_long_t messages;
	atomic_long_t bytes;
	atomic_long_t slots_held;
};

extern struct kmbox_stats kmbox_stats;

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
 * struct kmbox_user - memory charged to one user (by euid)
 * @node: in the users hash, under kmbox_users_lock
 * @uid: whose
 * @ref: one per file opened by the user, per message and per mailbox
 *	charged to the user
 * @bytes: bytes charged now
 * @mailboxes: mailboxes created by the user and alive
 */
struct kmbox_user {
	struct hlist_node node;
	kuid_t uid;
	refcount_t ref;
	atomic_long_t bytes;
	atomic_t mailboxes;
};

/* Fixed charge of a mailbox, and per copied message beyond its payload. */
#define KMBOX_MBOX_COST		1024
#define KMBOX_MSG_COST		(sizeof(struct kmbox_msg))

/*
 * Message pool.  Each mailbox keeps the 1 KiB buffers of its small
 * messages (payload up to KMBOX_POOL_DATA, 944 bytes today, and every
 * zero-copy message) for reuse, so that the steady state of a
 * small-message exchange allocates nothing.  A pool grows on demand to
 * max_msgs + KMBOX_POOL_EXTRA buffers (spares and batches being built),
 * KMBOX_POOL_MAX at most, each charged to the mailbox's creator, and is
 * freed with the mailbox.  Plain kmalloc(): no cache of our own, whose
 * creation could half-fail at insmod (6.1's sysfs_slab_add() leaks the
 * name when fault injection fails it).
 */
#define KMBOX_POOL_COST		1024	/* a kmalloc size class: nothing wasted */
#define KMBOX_POOL_DATA		(KMBOX_POOL_COST - sizeof(struct kmbox_msg))
#define KMBOX_POOL_EXTRA	8
#define KMBOX_POOL_MAX		256

/**
 * struct kmbox_msg - one queued message
 * @node: in kmbox->queue, ordered by (prio desc, seq asc)
 * @pool_node: in kmbox->pool while the buffer is free (pooled ones only)
 * @seq: arrival number in the mailbox; a message put back after a failed
 *	copy keeps it and so returns to its exact place
 * @user: charged for this message, NULL for zero-copy and pooled ones
 * @pid: sender's thread group; a pooled buffer keeps its last sender's
 *	reference while free, so a sender that reuses its own saves a
 *	get_pid()/put_pid() pair
 * @uid: sender's euid
 * @gid: sender's egid
 * @send_ns: CLOCK_MONOTONIC time of queueing
 * @len: payload length
 * @prio: priority
 * @slot: region slot holding the payload, or KMBOX_NO_SLOT
 * @pooled: the buffer belongs to the mailbox's pool
 * @data: the payload of a copied message
 */
struct kmbox_msg {
	union {
		struct rb_node node;
		struct llist_node pool_node;
	};
	u64 seq;
	struct kmbox_user *user;
	struct pid *pid;
	kuid_t uid;
	kgid_t gid;
	u64 send_ns;
	u32 len;
	u32 prio;
	u32 slot;
	bool pooled;
	char data[];
};

struct kmbox_region;

/**
 * struct kmbox - one mailbox
 * @ref: one per bound file, one for the name table while named and linked
 * @lock: see the top of this file
 * @queue: queued messages, leftmost = next to receive
 * @last: rightmost node of @queue (where a new message of the lowest
 *	priority queued goes), or NULL when empty
 * @seq: next arrival number
 * @nr_msgs: messages in @queue
 * @inflight: messages taken off @queue by receivers and not yet delivered;
 *	they still take up room, so a receive that faults and puts its message
 *	back never finds the mailbox overfilled (changed under @lock, read
 *	locklessly by the room test)
 * @bytes: payload bytes in @queue
 * @max_msgs: capacity, messages
 * @max_msgsize: largest message
 * @rd_list: receivers asleep for a message (struct kmbox_rwaiter), oldest
 *	first; only while @queue is empty does a sender hand a message to one
 * @rd_wait: pollers for EPOLLIN
 * @wr_wait: senders and pollers for EPOLLOUT
 * @zc_wait: zero-copy slot reservers and pollers for EPOLLWRBAND
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
 * @creator: user charged for the mailbox, its region and its pool
 * @creator_exempt: @creator is not held to the quota
 * @pool: free pooled buffers; anyone adds, takers hold @lock
 * @pool_size: pooled buffers allocated (free or in use)
 * @pool_max: most pooled buffers
 * @all: in @ns->mailboxes once published (under @ns->lock; RCU readers)
 * @hnode: in the name table (under kmbox_mutex)
 * @nsnode: in @ns->named while in the name table (under kmbox_mutex)
 * @rcu: frees the struct and @name a grace period after the last put
 */
struct kmbox {
	struct kref ref;
	spinlock_t lock;	/* see the top of this file */
	struct rb_root_cached queue;
	struct rb_node *last;
	u64 seq;
	u32 nr_msgs;
	atomic_t inflight;
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
	struct kmbox_user *creator;
	bool creator_exempt;
	struct llist_head pool;
	atomic_t pool_size;
	u32 pool_max;
	struct list_head all;
	struct hlist_node hnode;
	struct list_head nsnode;
	struct rcu_head rcu;
};

/**
 * struct kmbox_file - private data of a file opened on /dev/kmbox
 * @mb: bound mailbox; NULL until KMBOX_IOC_OPEN, then never changes
 * @user: user charged for messages sent through this file (opener's euid)
 * @exempt: opener had CAP_SYS_RESOURCE: no quota
 * @spare: a pooled buffer set aside for this file's next send (xchg())
 * @zc_used: the file has reserved or received a slot, so slots may
 *	name it as owner or sender (under @mb->lock)
 * @zc_held: slots this file holds (under @mb->lock)
 * @zc_completed: zero-copy sends of this file since released (under
 *	@mb->lock)
 */
struct kmbox_file {
	struct kmbox *mb;
	struct kmbox_user *user;
	bool exempt;
	struct kmbox_msg *spare;
	bool zc_used;
	u32 zc_held;
	u64 zc_completed;
};

/* Wait/operation flags, from the uapi KMBOX_F_* plus the file's O_NONBLOCK */
struct kmbox_wait {
	bool nonblock;
	bool timed;
	ktime_t deadline;
};

/* mbox.c */
struct kmbox *kmbox_alloc(const struct kmbox_attr *attr, struct kmbox_ns *ns,
			  struct kmbox_user *creator, bool exempt);
void kmbox_put(struct kmbox *mb);
struct kmbox_msg *kmbox_msg_alloc(struct kmbox_file *kf, u32 len, u32 slot,
				  struct llist_node **pool);
void kmbox_msg_free(struct kmbox *mb, struct kmbox_msg *msg);
struct llist_node *kmbox_pool_take(struct kmbox *mb, unsigned int n);
void kmbox_pool_give(struct kmbox *mb, struct llist_node *chain);
int kmbox_send_many(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n,
		    const struct kmbox_wait *w);
int kmbox_recv_many(struct kmbox_file *kf, struct kmbox_msg **msgs, const u32 *bufsz,
		    unsigned int n, bool zc, const struct kmbox_wait *w, u32 *need);
void kmbox_requeue(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n);
int kmbox_copy_out(struct kmbox *mb, void __user *buf, const struct kmbox_msg *msg);
void kmbox_consume(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n, bool zc);
__poll_t kmbox_poll_mask(struct kmbox *mb, fmode_t fmode);
void kmbox_getattr(struct kmbox_file *kf, struct kmbox_attr *attr);
int kmbox_wait_event(wait_queue_head_t *wq, atomic_t *waiters, bool (*cond)(struct kmbox *),
		     struct kmbox *mb, const struct kmbox_wait *w);
void kmbox_file_detach(struct kmbox_file *kf);

/* user.c */
struct kmbox_user *kmbox_user_get(kuid_t uid);
void kmbox_user_put(struct kmbox_user *u);
int kmbox_charge(struct kmbox_user *u, unsigned long bytes, bool exempt);
void kmbox_uncharge(struct kmbox_user *u, unsigned long bytes);
void kmbox_users_exit(void);
long kmbox_users_visible(struct user_namespace *ns);

/* region.c */
int kmbox_region_create(struct kmbox *mb, u32 nslots, u32 slot_size);
size_t kmbox_region_destroy(struct kmbox *mb);
int kmbox_region_mmap(struct kmbox *mb, struct vm_area_struct *vma);
int kmbox_zc_reserve(struct kmbox_file *kf, u32 *slots, unsigned int n,
		     const struct kmbox_wait *w);
int kmbox_zc_release(struct kmbox_file *kf, const u32 *slots, unsigned int n);
int kmbox_zc_check_send_locked(struct kmbox_file *kf, u32 slot, u32 len);
void kmbox_zc_queued_locked(struct kmbox_file *kf, u32 slot);
void kmbox_zc_hold_locked(struct kmbox_file *kf, u32 slot);
void kmbox_zc_unhold_locked(struct kmbox_file *kf, u32 slot);
bool kmbox_zc_consumed_locked(struct kmbox *mb, u32 slot);
int kmbox_zc_check_slot(struct kmbox *mb, u32 *slot, u32 len);
void *kmbox_slot_addr(struct kmbox *mb, u32 slot);
void kmbox_zc_file_detach_locked(struct kmbox_file *kf);
u32 kmbox_zc_nfree(struct kmbox *mb);
void kmbox_zc_attr(struct kmbox *mb, struct kmbox_attr *attr);

/* names.c */
int kmbox_bind(struct file *file, struct kmbox_file *kf, const struct kmbox_open *o);
int kmbox_unlink_name(u64 uname);
void kmbox_names_exit(void);
void kmbox_unlist(struct kmbox *mb);
void kmbox_ns_put(struct kmbox_ns *ns);
void kmbox_list_show(struct seq_file *m);
void kmbox_stats_show(struct seq_file *m);
void kmbox_show_fdinfo(struct seq_file *m, struct file *file);

/* ioctl.c */
long kmbox_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
struct kmbox_msg *kmbox_prepare(struct kmbox_file *kf, const void __user *buf, u32 len,
				u32 prio, bool zc, u32 slot, struct llist_node **pool);

/**
 * kmbox_file_mb() - the mailbox @kf is bound to, or NULL
 * @kf: a file's private data
 *
 * Once non-NULL it never changes, so callers may use @kf->mb afterwards.
 */
static inline struct kmbox *kmbox_file_mb(struct kmbox_file *kf)
{
	/* Pairs with cmpxchg_release() in kmbox_bind(). */
	return smp_load_acquire(&kf->mb);
}

#endif /* _KMBOX_INTERNAL_H */
