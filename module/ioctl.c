// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl dispatch and argument checking.  Each handler copies its argument
 * in, rejects unknown flags and non-zero reserved fields, range-checks
 * sizes, converts pointers with u64_to_user_ptr(), does the work, and
 * copies results out; on a fault after messages were taken it puts them
 * back, so a bad pointer leaves the mailbox as it was.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/nsproxy.h>
#include <linux/overflow.h>
#include <linux/pid.h>
#include <linux/slab.h>
#include <linux/time_namespace.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/user_namespace.h>
#include <linux/cred.h>

#include "kmbox.h"
#include "trace.h"

#define KMBOX_WAIT_FLAGS	(KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT)

/*
 * Time namespaces.  User space gives and gets CLOCK_MONOTONIC times of its
 * own time namespace, whose clock reads the host's plus an offset; the
 * module sleeps and stamps in host time.  timens_ktime_to_host()'s
 * worker is not exported, so the offset is applied here, saturating as
 * it does: a time before the host's boot is 0 (a deadline already
 * passed), one past KTIME_MAX is KTIME_MAX.
 */
static s64 kmbox_timens_offset(void)
{
#ifdef CONFIG_TIME_NS
	return timespec64_to_ns(&current->nsproxy->time_ns->offsets.monotonic);
#else
	return 0;
#endif
}

static s64 kmbox_time_clamp(s64 t, bool overflow, bool up)
{
	if (overflow)
		return up ? KTIME_MAX : 0;
	return t < 0 ? 0 : t;
}

/* The caller's CLOCK_MONOTONIC @t (0..KTIME_MAX) in host time. */
static ktime_t kmbox_time_to_host(u64 t)
{
	s64 off = kmbox_timens_offset(), host;
	bool ovf = check_sub_overflow((s64)t, off, &host);

	return kmbox_time_clamp(host, ovf, off < 0);
}

/* Host CLOCK_MONOTONIC @t (0..KTIME_MAX) in the caller's time namespace. */
static u64 kmbox_time_from_host(u64 t)
{
	s64 off = kmbox_timens_offset(), mine;
	bool ovf = check_add_overflow((s64)t, off, &mine);

	return kmbox_time_clamp(mine, ovf, off > 0);
}

static int kmbox_wait_init(struct kmbox_wait *w, struct file *file, u32 flags, u64 deadline_ns)
{
	if (!(flags & KMBOX_F_TIMEOUT) && deadline_ns)
		return -EINVAL;
	if (deadline_ns > KTIME_MAX)
		return -EINVAL;
	/* Every field: handoff_only and loss are read by mbox.c. */
	*w = (struct kmbox_wait){
		.nonblock = (flags & KMBOX_F_NONBLOCK) || (file->f_flags & O_NONBLOCK),
		.timed = flags & KMBOX_F_TIMEOUT,
	};
	w->deadline = w->timed ? kmbox_time_to_host(deadline_ns) : 0;
	return 0;
}

static long kmbox_ioctl_info(void __user *uarg)
{
	struct kmbox_info info = {
		.api_version = KMBOX_API_VERSION,
		.prio_max = KMBOX_PRIO_MAX,
		.features = KMBOX_FEAT_ZEROCOPY | KMBOX_FEAT_BATCH | KMBOX_FEAT_CREDS |
			    KMBOX_FEAT_SYNC | KMBOX_FEAT_STATS |
			    KMBOX_FEAT_TAGS | KMBOX_FEAT_POLICY | KMBOX_FEAT_URGENT |
			    KMBOX_FEAT_EXPIRY | KMBOX_FEAT_BATCH_LOSS | KMBOX_FEAT_REPLY_RECV |
			    (IS_ENABLED(CONFIG_IO_URING) ? KMBOX_FEAT_URING : 0),
		.max_msgs_cap = READ_ONCE(kmbox_params.max_msgs_cap),
		.max_msgsize_cap = READ_ONCE(kmbox_params.max_msgsize_cap),
		.default_max_msgs = READ_ONCE(kmbox_params.default_max_msgs),
		.default_max_msgsize = READ_ONCE(kmbox_params.default_max_msgsize),
		.user_quota = READ_ONCE(kmbox_params.user_quota),
		.region_cap = READ_ONCE(kmbox_params.region_cap),
	};

	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long kmbox_ioctl_open(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_open o;
	int ret;

	if (copy_from_user(&o, uarg, sizeof(o)))
		return -EFAULT;
	ret = kmbox_bind(file, kf, &o);
	if (!ret)
		kmbox_poll_bound(file, kf);
	return ret;
}

static long kmbox_ioctl_unlink(void __user *uarg)
{
	struct kmbox_unlink u;

	if (copy_from_user(&u, uarg, sizeof(u)))
		return -EFAULT;
	if (memchr_inv(u.__reserved, 0, sizeof(u.__reserved)))
		return -EINVAL;
	return kmbox_unlink_name(u.name);
}

static long kmbox_ioctl_getattr(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_attr a;

	kmbox_getattr(kf, &a);
	if (file->f_flags & O_NONBLOCK)
		a.flags |= KMBOX_ATTR_NONBLOCK;
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
}

/**
 * kmbox_send_args() - the work of KMBOX_IOC_SEND, on an argument copied in
 * @file: the file, open for writing (the caller checked)
 * @kf: its private data, bound
 * @s: the argument, in kernel memory; nothing in it is trusted
 * @nowait: never wait, whatever @s and the file say (io_uring, uring.c)
 *
 * Return: 0 or a negative errno, as KMBOX_IOC_SEND.
 */
long kmbox_send_args(struct file *file, struct kmbox_file *kf, const struct kmbox_send *s,
		     bool nowait)
{
	struct kmbox_msg *msg;
	struct kmbox_wait w;
	int ret;

	if (s->flags & ~(KMBOX_WAIT_FLAGS | KMBOX_F_ZC | KMBOX_F_SYNC | KMBOX_F_TAG |
			 KMBOX_F_EXPIRE) ||
	    (!(s->flags & KMBOX_F_TAG) && s->tag) ||
	    (!(s->flags & KMBOX_F_EXPIRE) && s->expire_ns) || s->expire_ns > KTIME_MAX)
		return -EINVAL;
	ret = kmbox_wait_init(&w, file, s->flags, s->deadline_ns);
	if (ret)
		return ret;
	w.nonblock |= nowait;

	msg = kmbox_prepare(kf, u64_to_user_ptr(s->buf), s->len, s->prio,
			    s->flags & KMBOX_F_ZC, s->slot, NULL);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	msg->tag = s->tag;
	/* 0 is "never" inside: a time before the host's boot is 1 ns. */
	if (s->flags & KMBOX_F_EXPIRE)
		msg->expires = max_t(u64, kmbox_time_to_host(s->expire_ns), 1);
	return kmbox_send_msg(kf, msg, &w, s->flags & KMBOX_F_SYNC);
}

static long kmbox_ioctl_send(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	/* Written whole by the copy in before any use: see kmbox_ioctl_recv(). */
	struct kmbox_send s __uninitialized;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (copy_from_user(&s, uarg, sizeof(s)))
		return -EFAULT;
	return kmbox_send_args(file, kf, &s, false);
}

/*
 * @uid, @gid in user namespace @uns, as from_kuid_munged() and
 * from_kgid_munged() give them: the initial namespace maps every valid id
 * to itself, so the common case needs no walk of the id maps.
 */
static void kmbox_ids_in(struct user_namespace *uns, kuid_t kuid, kgid_t kgid, __u32 *uid,
			 __u32 *gid)
{
	if (likely(uns == &init_user_ns && uid_valid(kuid) && gid_valid(kgid))) {
		*uid = __kuid_val(kuid);
		*gid = __kgid_val(kgid);
		return;
	}
	*uid = from_kuid_munged(uns, kuid);
	*gid = from_kgid_munged(uns, kgid);
}

/* Who sent @msg, as the calling process sees it. */
static void kmbox_msg_who(const struct kmbox_msg *msg, __s32 *pid, __u32 *uid, __u32 *gid)
{
	struct user_namespace *uns = current_user_ns();

	/*
	 * A number is reported only while the sending process exists (a
	 * zombie counts): once it has been reaped, the number may belong to
	 * another process.
	 */
	*pid = pid_vnr(msg->pid);
	if (!pid_has_task(msg->pid, PIDTYPE_TGID))
		*pid = 0;
	kmbox_ids_in(uns, msg->uid, msg->gid, uid, gid);
}

static void kmbox_msg_creds(const struct kmbox_msg *msg, struct kmbox_recv *r)
{
	kmbox_msg_who(msg, &r->pid, &r->uid, &r->gid);
	r->prio = msg->prio;
	r->tag = msg->tag;
	r->send_ns = kmbox_time_from_host(msg->send_ns);
}

/*
 * KMBOX_IOC_RECV with KMBOX_F_PEEK: the payload goes through a kernel
 * buffer (tags.c), at most max_msgsize bytes of it, the rest of the user's
 * buffer is not written.
 */
static long kmbox_ioctl_peek(struct file *file, struct kmbox_file *kf, struct kmbox_recv *r,
			     void __user *uarg, size_t size, const struct kmbox_match *m,
			     const struct kmbox_wait *w)
{
	u32 bufsz = min(r->len, kf->mb->max_msgsize);
	struct user_namespace *uns = current_user_ns();
	struct kmbox_peeked p;
	void *kbuf = NULL;
	u32 n;
	int ret;

	if (bufsz) {
		kbuf = kvmalloc(bufsz, GFP_KERNEL_ACCOUNT);
		if (!kbuf)
			return -ENOMEM;
	}
	ret = kmbox_peek(kf, m, kbuf, bufsz, w, &p);
	if (ret)
		goto out_free;
	n = min(p.len, bufsz);
	r->msg_flags = p.len > r->len ? KMBOX_MSG_TRUNC : 0;
	r->len = p.len;
	r->prio = p.prio;
	r->tag = p.tag;
	r->slot = KMBOX_NO_SLOT;
	r->pid = pid_vnr(p.pid);
	if (!pid_has_task(p.pid, PIDTYPE_TGID))
		r->pid = 0;
	put_pid(p.pid);
	r->uid = from_kuid_munged(uns, p.uid);
	r->gid = from_kgid_munged(uns, p.gid);
	r->send_ns = kmbox_time_from_host(p.send_ns);
	r->match_mask = 0;
	ret = -EFAULT;
	if (n && copy_to_user(u64_to_user_ptr(r->buf), kbuf, n))
		goto out_free;
	if (copy_to_user(uarg, r, size))
		goto out_free;
	ret = p.len;
out_free:
	kvfree(kbuf);
	return ret;
}

/*
 * The checks of a receive argument copied in (@r), made before anything
 * is done: its flags, match and deadline, into *@w and *@m (NULL, or
 * @match filled in).
 */
static int kmbox_recv_check(struct file *file, const struct kmbox_recv *r,
			    struct kmbox_match *match, struct kmbox_match **m,
			    struct kmbox_wait *w)
{
	*m = NULL;
	if (r->flags & ~(KMBOX_WAIT_FLAGS | KMBOX_F_ZC | KMBOX_F_CALLS | KMBOX_F_MATCH |
			 KMBOX_F_PEEK))
		return -EINVAL;
	if (r->flags & KMBOX_F_MATCH) {
		match->tag = r->tag;
		match->mask = r->match_mask;
		if (kmbox_match_check(match))
			return -EINVAL;
		*m = match;
	} else if (r->match_mask || r->tag) {
		return -EINVAL;
	}
	if ((r->flags & KMBOX_F_PEEK) && (r->flags & (KMBOX_F_ZC | KMBOX_F_CALLS)))
		return -EINVAL;
	return kmbox_wait_init(w, file, r->flags, r->deadline_ns);
}

/*
 * The work of KMBOX_IOC_RECV on an argument copied in (@r, which is
 * written over with the result) and checked (kmbox_recv_check() gave @m
 * and @w), and of KMBOX_IOC_RECVX when @x is not NULL: @x is then the
 * whole argument, copied in and checked, and @r is &@x->r; the losses go
 * in @x->lost.  The result is written at @uarg (RECV's struct, or
 * RECVX's whole).  @r is taken by reference: a struct kmbox_recv passed
 * by value is copied at each call.
 */
static long kmbox_recv_run_at(struct file *file, struct kmbox_file *kf, struct kmbox_recv *r,
			      void __user *uarg, struct kmbox_recvx *x,
			      const struct kmbox_match *m, struct kmbox_wait *w)
{
	struct kmbox_recv __user *ur = uarg;
	struct kmbox_msg *msg;
	bool as_slot;
	u32 need = 0;
	int ret;

	BUILD_BUG_ON(offsetof(struct kmbox_recvx, r));
	if (r->flags & KMBOX_F_PEEK) {
		/*
		 * A peek has lost nothing: x->lost stays zero.  x->r comes
		 * first in *x, so copying sizeof(*x) bytes from @r copies
		 * all of *x.
		 */
		return kmbox_ioctl_peek(file, kf, r, uarg, x ? sizeof(*x) : sizeof(*r), m, w);
	}
	if (x)
		w->loss = &x->lost;

	ret = kmbox_recv_match(kf, &msg, &r->len, 1, r->flags & KMBOX_F_ZC, w, &need, m);
	if (ret == -EMSGSIZE)
		return put_user(need, &ur->len) ? -EFAULT : -EMSGSIZE;
	if (ret < 0)
		return ret;

	as_slot = (r->flags & KMBOX_F_ZC) && msg->slot != KMBOX_NO_SLOT;
	if (!as_slot && kmbox_copy_out(kf->mb, u64_to_user_ptr(r->buf), msg))
		goto out_requeue;
	kmbox_msg_creds(msg, r);
	r->len = msg->len;
	r->slot = as_slot ? msg->slot : KMBOX_NO_SLOT;
	r->msg_flags = as_slot ? KMBOX_MSG_ZC : 0;
	/* @match_mask is @reply_token: a receive reports the token or 0. */
	r->reply_token = r->flags & KMBOX_F_CALLS ? msg->token : 0;
	/* Sizes known at compile time: no run-time object check for them. */
	if (x ? copy_to_user(uarg, x, sizeof(*x)) : copy_to_user(uarg, r, sizeof(*r)))
		goto out_requeue;
	kmbox_consume(kf, &msg, 1, r->flags & KMBOX_F_CALLS);
	return r->len;

out_requeue:
	kmbox_requeue(kf, &msg, 1);
	if (x)
		kmbox_loss_untake(kf, &x->lost);
	return -EFAULT;
}

/* kmbox_recv_run_at() for an @r given by value (KMBOX_IOC_REPLY_RECV's). */
static long kmbox_recv_run(struct file *file, struct kmbox_file *kf, struct kmbox_recv r,
			   void __user *uarg, struct kmbox_recvx *x,
			   const struct kmbox_match *m, struct kmbox_wait *w)
{
	if (x) {
		x->r = r;
		return kmbox_recv_run_at(file, kf, &x->r, uarg, x, m, w);
	}
	return kmbox_recv_run_at(file, kf, &r, uarg, NULL, m, w);
}

/* kmbox_recv_check(), then kmbox_recv_run_at(); @nowait: never wait. */
static long kmbox_recv_do(struct file *file, struct kmbox_file *kf, struct kmbox_recv *r,
			  void __user *uarg, struct kmbox_recvx *x, bool nowait)
{
	struct kmbox_match match, *m;
	struct kmbox_wait w;
	int ret;

	ret = kmbox_recv_check(file, r, &match, &m, &w);
	if (ret)
		return ret;
	w.nonblock |= nowait;
	return kmbox_recv_run_at(file, kf, r, uarg, x, m, &w);
}

/**
 * kmbox_recv_args() - the work of KMBOX_IOC_RECV, on an argument copied in
 * @file: the file, open for reading (the caller checked)
 * @kf: its private data, bound
 * @rp: the argument, in kernel memory; nothing in it is trusted
 * @ur: where the result goes: the filled struct (the ioctl's own
 *	argument), or just its len on EMSGSIZE; a fault there puts the
 *	message back
 * @nowait: never wait, whatever @rp and the file say (io_uring, uring.c)
 *
 * Return: the message's length or a negative errno, as KMBOX_IOC_RECV.
 */
long kmbox_recv_args(struct file *file, struct kmbox_file *kf, const struct kmbox_recv *rp,
		     struct kmbox_recv __user *ur, bool nowait)
{
	struct kmbox_recv r = *rp;

	return kmbox_recv_do(file, kf, &r, ur, NULL, nowait);
}

/* KMBOX_IOC_RECV. */
static long kmbox_ioctl_recv(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	/*
	 * Not zeroed on entry (CONFIG_INIT_STACK_ALL_ZERO): copy_from_user()
	 * writes all of it, or the call fails before it is used.
	 */
	struct kmbox_recv r __uninitialized;

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	return kmbox_recv_do(file, kf, &r, uarg, NULL, false);
}

/*
 * KMBOX_IOC_RECVX, whose argument is RECV's followed by the losses: its r
 * is the whole argument of RECV.  Out of line: its larger argument is not
 * on (and zeroed in) the frame of every RECV.
 */
static noinline long kmbox_ioctl_recvx(struct file *file, struct kmbox_file *kf,
				       void __user *uarg)
{
	struct kmbox_recvx x;

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (copy_from_user(&x, uarg, sizeof(x)))
		return -EFAULT;
	if (memchr_inv(x.__reserved, 0, sizeof(x.__reserved)))
		return -EINVAL;
	memset(&x.lost, 0, sizeof(x.lost));
	return kmbox_recv_do(file, kf, &x.r, uarg, &x, false);
}

/*
 * The work arrays of one batch call, in one allocation: @ents first (a
 * copy of the user's entries), then @msgs, then the optional @tokens and
 * @tags, then @bufsz.  One allocation per call instead of one per array,
 * and none at all when the file kept its last one (struct
 * kmbox_batch_mem).
 */
struct kmbox_batch_bufs {
	struct kmbox_batch_mem *mem;
	struct kmbox_mmsg *ents;
	struct kmbox_msg **msgs;
	u64 *tokens;
	u64 *tags;
	u32 *bufsz;
};

/*
 * Work arrays kept by a file between batch calls (@kf->batch), up to
 * KMBOX_BATCH_KEEP bytes with this header: a batch of small messages
 * would otherwise pay, on every call, for a kvmalloc(), for the zeroing
 * init_on_alloc does of memory the entries' copy overwrites at once, and
 * for a kvfree().  Taken and given back with xchg(): threads sharing the
 * file never share one (a second is allocated and freed as before).
 * Charged to the memory cgroup like the file itself; freed with the file
 * (kmbox_batch_mem_release()).  Nothing read from it is trusted or
 * returned before this call wrote it.
 */
struct kmbox_batch_mem {
	size_t size;		/* bytes of @data */
	u64 data[];
};

#define KMBOX_BATCH_KEEP	(2 * PAGE_SIZE)

/* @need bytes of work arrays for a batch call through @kf, in *@mp, or NULL. */
static void *kmbox_batch_mem_get(struct kmbox_file *kf, size_t need,
				 struct kmbox_batch_mem **mp)
{
	struct kmbox_batch_mem *m = xchg(&kf->batch, NULL);
	size_t alloc;

	if (m && m->size >= need)
		goto out;
	kvfree(m);
	alloc = sizeof(*m) + need;
	/* A size to keep gets all of its slab object. */
	if (alloc <= KMBOX_BATCH_KEEP)
		alloc = kmalloc_size_roundup(alloc);
	m = kvmalloc(alloc, KMBOX_MSG_GFP);
	if (!m)
		return NULL;
	m->size = alloc - sizeof(*m);
out:
	*mp = m;
	return m->data;
}

/* The call is done with @m: kept by @kf for its next batch, or freed. */
static void kmbox_batch_mem_put(struct kmbox_file *kf, struct kmbox_batch_mem *m)
{
	if (sizeof(*m) + m->size <= KMBOX_BATCH_KEEP)
		m = xchg(&kf->batch, m);
	kvfree(m);
}

/**
 * kmbox_batch_mem_release() - free the work arrays @kf kept
 * @kf: the file, being released
 */
void kmbox_batch_mem_release(struct kmbox_file *kf)
{
	kvfree(xchg(&kf->batch, NULL));
}

/*
 * Check a batch argument copied in (@b), get the work arrays (@tokens,
 * @tags: wanted) and copy in the entries.  Return: 0 or an error; on
 * success kmbox_batch_mem_put(kf, bb->mem) gives everything back.
 */
static int kmbox_batch_ents(struct file *file, const struct kmbox_batch *b,
			    struct kmbox_wait *w, u32 allowed, bool tokens, bool tags,
			    struct kmbox_batch_bufs *bb)
{
	size_t per = sizeof(*bb->ents) + sizeof(*bb->msgs) + sizeof(*bb->bufsz) +
		     (tokens ? sizeof(u64) : 0) + (tags ? sizeof(u64) : 0);
	struct kmbox_file *kf = file->private_data;
	unsigned int n = b->count;
	void *p;
	int ret;

	/* A receiver of calls must be told their tokens, or they fail. */
	if (b->flags & ~allowed || !b->count || b->count > KMBOX_BATCH_MAX ||
	    !b->tokens != !(b->flags & KMBOX_F_CALLS) ||
	    !b->tags != !(b->flags & KMBOX_F_TAG))
		return -EINVAL;
	ret = kmbox_wait_init(w, file, b->flags, b->deadline_ns);
	if (ret)
		return ret;
	/* At most KMBOX_BATCH_MAX entries: no overflow. */
	p = kmbox_batch_mem_get(kf, n * per, &bb->mem);
	if (!p)
		return -ENOMEM;
	bb->ents = p;
	bb->msgs = (struct kmbox_msg **)(bb->ents + n);
	p = bb->msgs + n;
	bb->tokens = tokens ? p : NULL;
	p += tokens ? n * sizeof(u64) : 0;
	bb->tags = tags ? p : NULL;
	p += tags ? n * sizeof(u64) : 0;
	bb->bufsz = p;
	if (copy_from_user(bb->ents, u64_to_user_ptr(b->msgs), n * sizeof(*bb->ents))) {
		kmbox_batch_mem_put(kf, bb->mem);
		return -EFAULT;
	}
	return 0;
}

/**
 * kmbox_send_batch_args() - the work of KMBOX_IOC_SEND_BATCH, on an
 * argument copied in
 * @file: the file, open for writing (the caller checked)
 * @kf: its private data, bound
 * @b: the argument, in kernel memory; nothing in it is trusted
 * @nowait: never wait, whatever @b and the file say (io_uring, uring.c)
 *
 * Return: how many messages were sent, or a negative errno, as
 * KMBOX_IOC_SEND_BATCH.
 */
long kmbox_send_batch_args(struct file *file, struct kmbox_file *kf, const struct kmbox_batch *b,
			   bool nowait)
{
	struct kmbox_batch_bufs bb;
	struct llist_node *pool;
	struct kmbox_msg **msgs;
	struct kmbox_wait w;
	unsigned int i, n;
	int ret = 0;

	ret = kmbox_batch_ents(file, b, &w, KMBOX_WAIT_FLAGS | KMBOX_F_SYNC | KMBOX_F_TAG,
			       false, b->flags & KMBOX_F_TAG, &bb);
	if (ret)
		return ret;
	w.nonblock |= nowait;
	if (bb.tags &&
	    copy_from_user(bb.tags, u64_to_user_ptr(b->tags), array_size(b->count, sizeof(u64)))) {
		kmbox_batch_mem_put(kf, bb.mem);
		return -EFAULT;
	}
	msgs = bb.msgs;

	pool = b->count > 1 ? kmbox_pool_take(kf->mb, b->count) : NULL;
	for (n = 0; n < b->count; n++) {
		struct kmbox_mmsg *e = &bb.ents[n];

		if (e->flags & ~KMBOX_MSG_ZC) {
			ret = -EINVAL;
			break;
		}
		msgs[n] = kmbox_prepare(kf, u64_to_user_ptr(e->buf), e->len, e->prio,
					e->flags & KMBOX_MSG_ZC, e->slot, &pool);
		if (IS_ERR(msgs[n])) {
			ret = PTR_ERR(msgs[n]);
			break;
		}
		msgs[n]->tag = bb.tags ? bb.tags[n] : 0;
	}
	if (n && ((b->flags & KMBOX_F_SYNC) || kf->mb->rendezvous)) {
		ret = kmbox_send_sync_batch(kf, msgs, n, &w);
	} else if (n) {
		ret = kmbox_send_many(kf, msgs, n, &w);
		for (i = ret < 0 ? 0 : ret; i < n; i++)
			kmbox_msg_free(kf->mb, msgs[i]);
	}
	kmbox_pool_give(kf->mb, pool);
	kmbox_batch_mem_put(kf, bb.mem);
	return ret;
}

static long kmbox_ioctl_send_batch(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_batch b;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (copy_from_user(&b, uarg, sizeof(b)))
		return -EFAULT;
	return kmbox_send_batch_args(file, kf, &b, false);
}

static_assert(sizeof(struct kmbox_batchx) == 88);

/**
 * kmbox_recv_batch_args() - the work of KMBOX_IOC_RECV_BATCH(X), on an
 * argument copied in
 * @file: the file, open for reading (the caller checked)
 * @kf: its private data, bound
 * @b: the argument, in kernel memory; nothing in it is trusted
 * @ulost: NULL (RECV_BATCH: losses stay for the next receive that can
 *	report them), or where RECV_BATCHX's losses go
 * @nowait: never wait, whatever @b and the file say (io_uring, uring.c)
 *
 * The losses are taken with the messages (mbox.c, through w.loss) and
 * written to @ulost last, after the entries, tokens and tags: a fault
 * anywhere puts the messages back, and with them the losses
 * (kmbox_loss_untake()), so a read-only or unmapped argument consumes
 * nothing.
 *
 * Return: how many messages were received, or a negative errno, as
 * KMBOX_IOC_RECV_BATCH.
 */
long kmbox_recv_batch_args(struct file *file, struct kmbox_file *kf, const struct kmbox_batch *b,
			   struct kmbox_loss __user *ulost, bool nowait)
{
	struct kmbox_mmsg __user *uents;
	struct kmbox_loss lost = {};
	struct kmbox_batch_bufs bb;
	struct kmbox_msg **msgs;
	struct kmbox_mmsg *ents;
	struct kmbox_wait w;
	u64 *tokens, *tags;
	unsigned int i;
	u32 need = 0;
	bool zc, calls;
	int ret;
	const u32 allowed = KMBOX_WAIT_FLAGS | KMBOX_F_ZC | KMBOX_F_CALLS | KMBOX_F_TAG;

	ret = kmbox_batch_ents(file, b, &w, allowed, b->flags & KMBOX_F_CALLS,
			       b->flags & KMBOX_F_TAG, &bb);
	if (ret)
		return ret;
	w.nonblock |= nowait;
	if (ulost)
		w.loss = &lost;
	uents = u64_to_user_ptr(b->msgs);
	zc = b->flags & KMBOX_F_ZC;
	calls = b->flags & KMBOX_F_CALLS;
	ents = bb.ents;
	msgs = bb.msgs;
	tokens = bb.tokens;
	tags = bb.tags;
	for (i = 0; i < b->count; i++)
		bb.bufsz[i] = ents[i].len;

	ret = kmbox_recv_many(kf, msgs, bb.bufsz, b->count, zc, &w, &need);
	if (ret == -EMSGSIZE && put_user(need, &uents[0].len))
		ret = -EFAULT;
	if (ret < 0)
		goto out_free;

	for (i = 0; i < ret; i++) {
		struct kmbox_msg *msg = msgs[i];
		bool as_slot = zc && msg->slot != KMBOX_NO_SLOT;

		if (!as_slot && kmbox_copy_out(kf->mb, u64_to_user_ptr(ents[i].buf), msg))
			break;
		ents[i].len = msg->len;
		ents[i].prio = msg->prio;
		ents[i].slot = as_slot ? msg->slot : KMBOX_NO_SLOT;
		ents[i].flags = as_slot ? KMBOX_MSG_ZC : 0;
		if (calls)
			tokens[i] = msg->token;
		if (tags)
			tags[i] = msg->tag;
	}
	if (i && copy_to_user(uents, ents, array_size(i, sizeof(*ents))))
		i = 0;
	if (i && calls &&
	    copy_to_user(u64_to_user_ptr(b->tokens), tokens, array_size(i, sizeof(*tokens))))
		i = 0;
	if (i && tags &&
	    copy_to_user(u64_to_user_ptr(b->tags), tags, array_size(i, sizeof(*tags))))
		i = 0;
	if (i && ulost && copy_to_user(ulost, &lost, sizeof(lost)))
		i = 0;
	kmbox_requeue(kf, msgs + i, ret - i);
	if (!i && ulost)
		kmbox_loss_untake(kf, &lost);
	kmbox_consume(kf, msgs, i, calls);
	ret = i ? i : -EFAULT;

out_free:
	kmbox_batch_mem_put(kf, bb.mem);
	return ret;
}

/*
 * KMBOX_IOC_RECV_BATCH, and KMBOX_IOC_RECV_BATCHX (@ext), whose argument
 * is the same followed by the losses: its b is the whole argument of
 * RECV_BATCH.
 */
static long kmbox_ioctl_recv_batch(struct file *file, struct kmbox_file *kf, void __user *uarg,
				   bool ext)
{
	struct kmbox_batchx __user *ux = uarg;
	struct kmbox_batchx x;

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (copy_from_user(&x, uarg, ext ? sizeof(x) : sizeof(x.b)))
		return -EFAULT;
	if (ext && memchr_inv(x.__reserved, 0, sizeof(x.__reserved)))
		return -EINVAL;
	return kmbox_recv_batch_args(file, kf, &x.b, ext ? &ux->lost : NULL, false);
}

/* Copy in a slots argument; return the slot array or an error. */
static u32 *kmbox_slots_in(struct file *file, void __user *uarg, struct kmbox_slots *s,
			   struct kmbox_wait *w, u32 allowed, bool copy_in)
{
	int ret;

	if (copy_from_user(s, uarg, sizeof(*s)))
		return ERR_PTR(-EFAULT);
	if (s->flags & ~allowed || memchr_inv(s->__reserved, 0, sizeof(s->__reserved)) ||
	    !s->count || s->count > KMBOX_BATCH_MAX)
		return ERR_PTR(-EINVAL);
	ret = kmbox_wait_init(w, file, s->flags, s->deadline_ns);
	if (ret)
		return ERR_PTR(ret);
	if (copy_in)
		return memdup_user(u64_to_user_ptr(s->slots), array_size(s->count, sizeof(u32)));
	return kmalloc_array(s->count, sizeof(u32), GFP_KERNEL) ?: ERR_PTR(-ENOMEM);
}

static long kmbox_ioctl_zc_reserve(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_slots s;
	struct kmbox_wait w;
	u32 *slots, tag;
	int ret;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	slots = kmbox_slots_in(file, uarg, &s, &w, KMBOX_WAIT_FLAGS, false);
	if (IS_ERR(slots))
		return PTR_ERR(slots);
	ret = kmbox_zc_reserve(kf, slots, s.count, &w, &tag);
	if (ret > 0 && copy_to_user(u64_to_user_ptr(s.slots), slots, ret * sizeof(u32))) {
		kmbox_zc_unreserve(kf, slots, ret, tag);
		ret = -EFAULT;
	}
	if (trace_kmbox_zc_reserve_enabled()) {
		int i;

		for (i = 0; i < ret; i++)
			trace_kmbox_zc_reserve(kf->mb, slots[i]);
	}
	kfree(slots);
	return ret;
}

static long kmbox_ioctl_call(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_msg *msg, *reply;
	struct kmbox_call c;
	struct kmbox_wait w;
	int ret;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (c.flags & ~(KMBOX_WAIT_FLAGS | KMBOX_F_TAG) || c.__pad || c.__reserved[1] ||
	    (!(c.flags & KMBOX_F_TAG) && c.tag))
		return -EINVAL;
	ret = kmbox_wait_init(&w, file, c.flags, c.deadline_ns);
	if (ret)
		return ret;

	msg = kmbox_prepare(kf, u64_to_user_ptr(c.req), c.req_len, c.prio, false, 0, NULL);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	msg->tag = c.tag;
	ret = kmbox_call_wait(kf, msg, c.reply_len, &w, &reply);
	if (ret) {
		trace_kmbox_call(kf->mb, c.req_len, c.prio, ret);
		return ret;
	}

	/* The reply is the caller's now: a fault loses it (EFAULT). */
	ret = kmbox_copy_out(kf->mb, u64_to_user_ptr(c.reply), reply);
	if (!ret) {
		c.reply_len = reply->len;
		kmbox_msg_who(reply, &c.pid, &c.uid, &c.gid);
		c.send_ns = kmbox_time_from_host(reply->send_ns);
		ret = copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : c.reply_len;
	}
	kmbox_msg_free(kf->mb, reply);
	trace_kmbox_call(kf->mb, c.req_len, c.prio, ret);
	return ret;
}

/*
 * The reply half of KMBOX_IOC_REPLY and KMBOX_IOC_REPLY_RECV, on an
 * argument copied in and checked; @done as kmbox_reply_to().
 */
static long kmbox_reply_do(struct kmbox_file *kf, const struct kmbox_reply *r,
			   u64 __user *done)
{
	struct kmbox_msg *msg;
	int ret;

	if (!r->token)
		return -ENOENT;
	msg = kmbox_prepare(kf, u64_to_user_ptr(r->buf), r->len, 0, false, 0, NULL);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	ret = kmbox_reply_to(kf, r->token, msg, done);
	trace_kmbox_reply(kf->mb, r->token, r->len, ret);
	if (ret)
		kmbox_msg_free(kf->mb, msg);
	return ret;
}

static long kmbox_ioctl_reply(struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_reply r;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	/* Two words: no memchr_inv() call on the way of every reply. */
	BUILD_BUG_ON(sizeof(r.__reserved) != 2 * sizeof(r.__reserved[0]));
	if (r.flags || r.__reserved[0] || r.__reserved[1])
		return -EINVAL;
	return kmbox_reply_do(kf, &r, NULL);
}

/*
 * KMBOX_IOC_REPLY_RECV: KMBOX_IOC_REPLY, then KMBOX_IOC_RECVX.  Both
 * arguments are copied in and checked before anything is done, so bad
 * input changes nothing; the argument is 8-byte aligned (EINVAL), so
 * reply.token lies in one page and is zeroed in the user's argument in
 * the step that delivers the reply (kmbox_reply_to()), and a reply that
 * fails returns at once, receiving nothing.  So after any error, a
 * non-zero reply.token means nothing was done, and a zero one that the
 * reply went (or there was none) and the error is the receive's.  A
 * restart after a signal in the receive sees the token zeroed and only
 * receives.
 */
static_assert(sizeof(struct kmbox_reply_recv) == 56);

static long kmbox_ioctl_reply_recv(struct file *file, struct kmbox_file *kf,
				   void __user *uarg)
{
	struct kmbox_reply_recv __user *ua = uarg;
	struct kmbox_match match, *m;
	struct kmbox_reply_recv rr;
	struct kmbox_recvx x;
	void __user *ux;
	struct kmbox_wait w;
	long ret;

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (copy_from_user(&rr, uarg, sizeof(rr)))
		return -EFAULT;
	/* reply.token must not straddle two pages: its clearing is one store. */
	BUILD_BUG_ON(offsetof(struct kmbox_reply_recv, reply.token) % sizeof(u64));
	if (!IS_ALIGNED((unsigned long)uarg, sizeof(u64)))
		return -EINVAL;
	if (rr.reply.flags || rr.reply.__reserved[0] || rr.reply.__reserved[1] ||
	    rr.__reserved)
		return -EINVAL;
	ux = u64_to_user_ptr(rr.recv);
	if (copy_from_user(&x, ux, sizeof(x)))
		return -EFAULT;
	if (x.__reserved[0] || x.__reserved[1])
		return -EINVAL;
	ret = kmbox_recv_check(file, &x.r, &match, &m, &w);
	if (ret)
		return ret;
	memset(&x.lost, 0, sizeof(x.lost));
	/* Token 0: nothing to answer (buf and len are not looked at). */
	if (rr.reply.token) {
		ret = kmbox_reply_do(kf, &rr.reply, &ua->reply.token);
		if (ret)
			return ret;
		/*
		 * The caller just woken may be due this CPU: let it run now,
		 * as it would on our way back to user space between a REPLY
		 * and a RECV, so that its next request is usually queued by
		 * the time we look, and we need not sleep for it.
		 */
		cond_resched();
	}
	return kmbox_recv_run(file, kf, x.r, ux, &x, m, &w);
}

static long kmbox_ioctl_zc_release(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_slots s;
	struct kmbox_wait w;
	u32 *slots;
	int ret;

	slots = kmbox_slots_in(file, uarg, &s, &w, 0, true);
	if (IS_ERR(slots))
		return PTR_ERR(slots);
	ret = kmbox_zc_release(kf, slots, s.count);
	if (!ret && trace_kmbox_zc_release_enabled()) {
		u32 i;

		for (i = 0; i < s.count; i++)
			trace_kmbox_zc_release(kf->mb, slots[i]);
	}
	kfree(slots);
	return ret;
}

static long kmbox_ioctl_filter(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_filter f;
	struct kmbox_match m;
	int ret;

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (copy_from_user(&f, uarg, sizeof(f)))
		return -EFAULT;
	if (f.flags & ~KMBOX_FILTER_SET || memchr_inv(f.__reserved, 0, sizeof(f.__reserved)))
		return -EINVAL;
	if (!(f.flags & KMBOX_FILTER_SET) && (f.tag || f.mask))
		return -EINVAL;
	/*
	 * A filter whose old value cannot be written back would change
	 * without its caller knowing: the argument takes a write first (what
	 * it holds), so a read-only one is EFAULT with nothing changed, as a
	 * stats reset is.  Only a page unmapped meanwhile faults below.
	 */
	if ((f.flags & KMBOX_FILTER_SET) && copy_to_user(uarg, &f, sizeof(f)))
		return -EFAULT;
	m.tag = f.tag;
	m.mask = f.mask;
	ret = kmbox_filter_xchg(kf, &m, f.flags & KMBOX_FILTER_SET);
	if (ret)
		return ret;
	f.tag = m.tag;
	f.mask = m.mask;
	return copy_to_user(uarg, &f, sizeof(f)) ? -EFAULT : 0;
}

/*
 * KMBOX_IOC_REOPEN: a new file on @kf's mailbox, as if /dev/kmbox had been
 * opened again (dentry_open() of the same device node runs kmbox_open()
 * with the caller's credentials) and bound to it.  Its access mode must
 * be within @file's, so nothing is granted that the caller did not have.
 * Return: the new descriptor, or -EINVAL, -EACCES, -EFAULT, -EMFILE,
 * -ENFILE, -ENOMEM.
 */
static long kmbox_ioctl_reopen(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_file *nkf;
	struct kmbox_reopen r;
	struct file *nfile;
	fmode_t want;
	int fd;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (r.flags & ~(O_ACCMODE | O_NONBLOCK | O_CLOEXEC) ||
	    memchr_inv(r.__reserved, 0, sizeof(r.__reserved)))
		return -EINVAL;
	switch (r.flags & O_ACCMODE) {
	case O_RDONLY:
		want = FMODE_READ;
		break;
	case O_WRONLY:
		want = FMODE_WRITE;
		break;
	case O_RDWR:
		want = FMODE_READ | FMODE_WRITE;
		break;
	default:	/* O_RDWR|O_WRONLY: neither, as at KMBOX_IOC_OPEN */
		return -EINVAL;
	}
	if (want & ~file->f_mode)
		return -EACCES;

	fd = get_unused_fd_flags(r.flags & O_CLOEXEC);
	if (fd < 0)
		return fd;
	nfile = dentry_open(&file->f_path, r.flags & (O_ACCMODE | O_NONBLOCK), current_cred());
	if (IS_ERR(nfile)) {
		put_unused_fd(fd);
		return PTR_ERR(nfile);
	}
	if (nfile->f_op != file->f_op) {	/* the node is ours while @file is open */
		fput(nfile);
		put_unused_fd(fd);
		return -ENODEV;
	}
	nkf = nfile->private_data;
	kref_get(&kf->mb->ref);
	/* Nobody sees @nfile before fd_install(), which publishes it. */
	nkf->mb = kf->mb;
	kmbox_loss_bind(nkf);
	fd_install(fd, nfile);
	return fd;
}

/*
 * KMBOX_IOC_STATS: any bound file reads; resetting is checked in
 * kmbox_stats_read().  Only flags, __pad and __reserved are input.
 */
static long kmbox_ioctl_stats(struct file *file, struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_stats *st;
	long ret;

	/* 432 bytes: not on the stack */
	st = kmalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	ret = -EFAULT;
	if (copy_from_user(st, uarg, sizeof(*st)))
		goto out;
	ret = -EINVAL;
	if ((st->flags & ~KMBOX_STATS_RESET) || st->__pad ||
	    memchr_inv(st->__reserved, 0, sizeof(st->__reserved)))
		goto out;
	/*
	 * A reset whose answer cannot be written would lose the counts:
	 * make sure the argument takes a write first (writing back what it
	 * holds), so a read-only one is EFAULT with nothing reset.
	 */
	ret = -EFAULT;
	if ((st->flags & KMBOX_STATS_RESET) && copy_to_user(uarg, st, sizeof(*st)))
		goto out;
	ret = kmbox_stats_read(kf, file, st);
	if (ret)
		goto out;
	st->since_ns = kmbox_time_from_host(st->since_ns);
	ret = copy_to_user(uarg, st, sizeof(*st)) ? -EFAULT : 0;
out:
	kfree(st);
	return ret;
}

/* KMBOX_IOC_QOS: any bound file reads the policy and the totals. */
static long kmbox_ioctl_qos(struct kmbox_file *kf, void __user *uarg)
{
	struct kmbox_qos q;

	kmbox_qos_read(kf->mb, &q);
	return copy_to_user(uarg, &q, sizeof(q)) ? -EFAULT : 0;
}

/**
 * kmbox_ioctl() - unlocked_ioctl of /dev/kmbox files
 * @file: the file
 * @cmd: KMBOX_IOC_*
 * @arg: user pointer to the command's argument
 *
 * Return: per command (see uapi/linux/kmbox.h); -ENOTTY for unknown
 * commands, -EBADFD for mailbox commands on an unbound file.
 */
long kmbox_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kmbox_file *kf = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KMBOX_IOC_INFO:
		return kmbox_ioctl_info(uarg);
	case KMBOX_IOC_OPEN:
		return kmbox_ioctl_open(file, kf, uarg);
	case KMBOX_IOC_UNLINK:
		return kmbox_ioctl_unlink(uarg);
	case KMBOX_IOC_GETATTR:
	case KMBOX_IOC_SEND:
	case KMBOX_IOC_RECV:
	case KMBOX_IOC_SEND_BATCH:
	case KMBOX_IOC_RECV_BATCH:
	case KMBOX_IOC_ZC_RESERVE:
	case KMBOX_IOC_ZC_RELEASE:
	case KMBOX_IOC_CALL:
	case KMBOX_IOC_REPLY:
	case KMBOX_IOC_REOPEN:
	case KMBOX_IOC_STATS:
	case KMBOX_IOC_FILTER:
	case KMBOX_IOC_QOS:
	case KMBOX_IOC_RECVX:
	case KMBOX_IOC_RECV_BATCHX:
	case KMBOX_IOC_REPLY_RECV:
		break;
	default:
		return -ENOTTY;
	}

	if (!kmbox_file_mb(kf))
		return -EBADFD;

	switch (cmd) {
	case KMBOX_IOC_GETATTR:
		return kmbox_ioctl_getattr(file, kf, uarg);
	case KMBOX_IOC_SEND:
		return kmbox_ioctl_send(file, kf, uarg);
	case KMBOX_IOC_RECV:
		return kmbox_ioctl_recv(file, kf, uarg);
	case KMBOX_IOC_RECVX:
		return kmbox_ioctl_recvx(file, kf, uarg);
	case KMBOX_IOC_QOS:
		return kmbox_ioctl_qos(kf, uarg);
	case KMBOX_IOC_SEND_BATCH:
		return kmbox_ioctl_send_batch(file, kf, uarg);
	case KMBOX_IOC_RECV_BATCH:
		return kmbox_ioctl_recv_batch(file, kf, uarg, false);
	case KMBOX_IOC_RECV_BATCHX:
		return kmbox_ioctl_recv_batch(file, kf, uarg, true);
	case KMBOX_IOC_ZC_RESERVE:
		return kmbox_ioctl_zc_reserve(file, kf, uarg);
	case KMBOX_IOC_CALL:
		return kmbox_ioctl_call(file, kf, uarg);
	case KMBOX_IOC_REPLY:
		return kmbox_ioctl_reply(kf, uarg);
	case KMBOX_IOC_REPLY_RECV:
		return kmbox_ioctl_reply_recv(file, kf, uarg);
	case KMBOX_IOC_REOPEN:
		return kmbox_ioctl_reopen(file, kf, uarg);
	case KMBOX_IOC_STATS:
		return kmbox_ioctl_stats(file, kf, uarg);
	case KMBOX_IOC_FILTER:
		return kmbox_ioctl_filter(file, kf, uarg);
	default:
		return kmbox_ioctl_zc_release(file, kf, uarg);
	}
}
