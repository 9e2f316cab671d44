// SPDX-License-Identifier: GPL-2.0
/*
 * Message tags: the tag index, receivers that wait with a filter, peek,
 * and the file's standing filter.
 *
 * Every message carries a 64-bit tag (0 unless its sender set one).  A
 * filter (struct kmbox_match) lets through the messages whose
 * tag & mask == tag; mask 0 lets everything through, and is what a file
 * starts with.  A receive takes the first message its filter lets
 * through, in the queue's order (priority descending, then arrival), so
 * among the matching messages priority and FIFO order are kept.
 *
 * Finding the first match.
 *  - mask 0: the leftmost message of the queue, as always.
 *  - mask ~0 (an exact tag, the common case): a second rbtree, kmbox->tags,
 *    holds the queued messages ordered by (tag, priority descending,
 *    arrival); the first message of a tag is the leftmost node with that
 *    tag, one descent away: O(log n) in the number of messages queued,
 *    whatever their tags and wherever the match is.  Kept only once a
 *    receive has asked for an exact tag (kmbox->tags_indexed, then for
 *    the mailbox's life), so that a mailbox whose users never do pays
 *    nothing; the first such receive indexes what is queued, once.  A
 *    tree rather than a hash of per-tag lists: no allocation under the
 *    spinlock, and no tag a sender can choose makes it slower.
 *  - any other mask: a walk of the queue in order, O(position of the
 *    match), as SysV msgrcv() walks its list.
 *
 * Waiting.  A receiver that lets everything through sleeps on rd_list,
 * and may be handed its message by a sender (mbox.c): nothing changes for
 * it.  A receiver with a filter, and every peek, sleeps instead on
 * kmbox->flt_wait, never on rd_list, so no sender hands it a message and
 * the hand-off rule of mbox.c ("only while the queue is empty") still
 * keeps order: a filtered sleeper may sleep while messages it does not
 * want are queued.  The rule that no wake-up is lost:
 *  - the sleeper, holding kmbox->lock, finds no message it wants, counts
 *    itself in flt_sleepers and joins flt_wait (prepare_to_wait(), which
 *    also sets its task state) before it drops the lock;
 *  - a sender or a receive that puts messages back queues them under the
 *    lock and, if flt_sleepers is not 0 then, notes their tags
 *    (struct kmbox_tagwake); after unlocking it wakes, on flt_wait, every
 *    sleeper whose filter one of those tags passes (all of them when more
 *    tags were queued than are noted).
 * The lock orders the two: a message queued after the sleeper looked is
 * noted (the sleeper was counted) and its wake-up finds the sleeper on
 * flt_wait (it joined before unlocking); if the wake-up comes before the
 * sleeper calls schedule(), its task state is already running again.
 * Every matching sleeper is woken, not one: there is no hand-over of
 * responsibility between filtered sleepers to get wrong, and whichever
 * loses the race for the message looks again and sleeps again.  A
 * message queued behind any number of unwanted ones wakes whoever wants
 * it.  Peekers are woken the same way (each sees the message).
 *
 * A receive reads the filter once, when it starts: a thread that changes
 * the file's filter does not change what a receive already asleep waits
 * for.  Changing it wakes the file's pollers (EPOLLIN may now be true).
 *
 * Peek.  The message stays queued, so another receiver may take and free
 * it at any moment once the lock is dropped: peek copies the payload into
 * a kernel buffer under the lock (as SysV's MSG_COPY does), then to user
 * space after dropping it.  The copy is a memcpy from kernel pages, or
 * from the region's pages for a zero-copy message; it never faults.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hrtimer.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>

#include "kmbox.h"

/**
 * kmbox_match_check() - is @m a filter a user may ask for?
 * @m: the filter
 *
 * Return: 0, or -EINVAL if the tag has a bit the mask ignores (it could
 * never match).
 */
int kmbox_match_check(const struct kmbox_match *m)
{
	return m->tag & ~m->mask ? -EINVAL : 0;
}

/* (tag asc, prio desc, seq asc): the first of a tag is its leftmost node. */
static bool kmbox_tag_less(struct rb_node *a, const struct rb_node *b)
{
	const struct kmbox_msg *x = rb_entry(a, struct kmbox_msg, tag_node);
	const struct kmbox_msg *y = rb_entry(b, struct kmbox_msg, tag_node);

	if (x->tag != y->tag)
		return x->tag < y->tag;
	if (x->prio != y->prio)
		return x->prio > y->prio;
	return x->seq < y->seq;
}

/* Note @tag for kmbox_tags_wake(), if a filtered sleeper may want it. */
static void kmbox_tagwake_note(struct kmbox *mb, struct kmbox_tagwake *tw, u64 tag)
{
	unsigned int i;

	/* Raised under the lock we hold: see "Waiting" above. */
	if ((!atomic_read(&mb->flt_sleepers) && !atomic_read(&mb->flt_pollers)) || tw->all)
		return;
	for (i = 0; i < tw->n; i++)
		if (tw->tags[i] == tag)
			return;
	if (tw->n == ARRAY_SIZE(tw->tags))
		tw->all = true;
	else
		tw->tags[tw->n++] = tag;
}

/**
 * kmbox_tags_insert_locked() - @msg was just queued
 * @mb: the mailbox, locked
 * @msg: the message
 * @tw: where to note its tag for the filtered sleepers
 */
void kmbox_tags_insert_locked(struct kmbox *mb, struct kmbox_msg *msg, struct kmbox_tagwake *tw)
{
	lockdep_assert_held(&mb->lock);
	if (mb->tags_indexed)
		rb_add(&msg->tag_node, &mb->tags, kmbox_tag_less);
	kmbox_tagwake_note(mb, tw, msg->tag);
}

/**
 * kmbox_tags_erase_locked() - @msg is leaving the queue
 * @mb: the mailbox, locked
 * @msg: the message
 */
void kmbox_tags_erase_locked(struct kmbox *mb, struct kmbox_msg *msg)
{
	lockdep_assert_held(&mb->lock);
	if (mb->tags_indexed)
		rb_erase(&msg->tag_node, &mb->tags);
}

/* The first receive by exact tag: index what is queued, from now on. */
static void kmbox_tags_index_locked(struct kmbox *mb)
{
	struct kmbox_msg *msg;

	for (msg = kmbox_queue_first(mb); msg; msg = kmbox_queue_next(msg))
		rb_add(&msg->tag_node, &mb->tags, kmbox_tag_less);
	mb->tags_indexed = true;
}

/**
 * kmbox_tags_first_locked() - the message a receive with filter @m takes
 * @mb: the mailbox, locked
 * @m: the filter
 *
 * Return: the first queued message, in the queue's order, whose tag @m
 * lets through, or NULL.
 */
struct kmbox_msg *kmbox_tags_first_locked(struct kmbox *mb, const struct kmbox_match *m)
{
	struct kmbox_msg *msg, *found = NULL;
	struct rb_node *node;

	lockdep_assert_held(&mb->lock);
	if (!m->mask)
		return kmbox_queue_first(mb);
	if (m->mask == U64_MAX) {
		if (unlikely(!mb->tags_indexed))
			kmbox_tags_index_locked(mb);
		node = mb->tags.rb_node;
		while (node) {
			msg = rb_entry(node, struct kmbox_msg, tag_node);
			if (msg->tag < m->tag) {
				node = node->rb_right;
			} else {
				if (msg->tag == m->tag)
					found = msg;
				node = node->rb_left;
			}
		}
		return found;
	}
	for (msg = kmbox_queue_first(mb); msg; msg = kmbox_queue_next(msg))
		if (kmbox_match(m, msg->tag))
			return msg;
	return NULL;
}

/**
 * struct kmbox_tagwaiter - a receiver or peeker asleep on flt_wait
 * @entry: on kmbox->flt_wait
 * @m: what it waits for
 */
struct kmbox_tagwaiter {
	struct wait_queue_entry entry;
	struct kmbox_match m;
};

static int kmbox_tagwaiter_wake(struct wait_queue_entry *entry, unsigned int mode, int sync,
				void *key)
{
	struct kmbox_tagwaiter *tw = container_of(entry, struct kmbox_tagwaiter, entry);
	const struct kmbox_tagwake *k = key;
	unsigned int i;

	if (k && !k->all) {
		for (i = 0; i < k->n; i++)
			if (kmbox_match(&tw->m, k->tags[i]))
				break;
		if (i == k->n)
			return 0;
	}
	return autoremove_wake_function(entry, mode, sync, key);
}

/**
 * kmbox_tags_wait_locked() - sleep on flt_wait until a message @m lets
 * through may have been queued, a signal or the deadline
 * @mb: the mailbox, locked; no queued message matches @m
 * @m: the filter
 * @w: how to wait (not non-blocking)
 *
 * Returns with the lock dropped.  The caller looks again (the message may
 * be gone already) and calls again to sleep again.
 *
 * Return: 0 (look again), -ERESTARTSYS or -ETIMEDOUT.
 */
int kmbox_tags_wait_locked(struct kmbox *mb, const struct kmbox_match *m,
			   const struct kmbox_wait *w)
	__releases(&mb->lock)
{
	struct kmbox_tagwaiter tw = {
		.entry = {
			.private = current,
			.func = kmbox_tagwaiter_wake,
			.entry = LIST_HEAD_INIT(tw.entry.entry),
		},
		.m = *m,
	};
	ktime_t expires = w->deadline;
	int ret = 0;

	lockdep_assert_held(&mb->lock);
	/* Counted and queued before the lock goes: see "Waiting" above. */
	atomic_inc(&mb->flt_sleepers);
	prepare_to_wait(&mb->flt_wait, &tw.entry, TASK_INTERRUPTIBLE);
	spin_unlock(&mb->lock);
	if (signal_pending(current))
		ret = -ERESTARTSYS;
	else if (!w->timed)
		schedule();
	else if (!schedule_hrtimeout_range(&expires, current->timer_slack_ns, HRTIMER_MODE_ABS))
		ret = -ETIMEDOUT;
	finish_wait(&mb->flt_wait, &tw.entry);
	atomic_dec(&mb->flt_sleepers);
	return ret;
}

/**
 * kmbox_tags_wake() - wake the filtered sleepers a lock round noted
 * @mb: the mailbox, unlocked
 * @tw: the tags noted by kmbox_tags_insert_locked()
 */
void kmbox_tags_wake(struct kmbox *mb, struct kmbox_tagwake *tw)
{
	if (tw->n || tw->all)
		__wake_up(&mb->flt_wait, TASK_INTERRUPTIBLE, 0, tw);
}

/* Copy up to @bufsz bytes of @msg's payload to @kbuf; never faults. */
static void kmbox_peek_copy(struct kmbox *mb, const struct kmbox_msg *msg, void *kbuf, u32 bufsz)
{
	u32 n = min(msg->len, bufsz);
	struct kvec kv = { .iov_base = kbuf, .iov_len = n };
	struct iov_iter iter;

	if (!n)
		return;
	iov_iter_kvec(&iter, ITER_DEST, &kv, 1, n);
	/*
	 * Into kernel memory, so the copy cannot fail; short of the whole
	 * message it reports -EFAULT after copying the @n bytes it had room
	 * for, which is the cut a peek asks for.
	 */
	kmbox_msg_copy_to_iter(mb, msg, &iter);
}

/**
 * kmbox_peek() - copy the message a receive would take, and leave it
 * @kf: the file (bound, open for reading)
 * @m: the filter; NULL: @kf's filter, as it is when the call starts
 * @kbuf: kernel buffer for up to @bufsz bytes of the payload
 * @bufsz: its size
 * @w: how to wait for a message
 * @out: what the message is
 *
 * Return: 0, or -EAGAIN, -ETIMEDOUT, -ERESTARTSYS.
 */
int kmbox_peek(struct kmbox_file *kf, const struct kmbox_match *m, void *kbuf, u32 bufsz,
	       const struct kmbox_wait *w, struct kmbox_peeked *out)
{
	struct kmbox_victims v = { .head = NULL };
	struct kmbox *mb = kf->mb;
	struct kmbox_match f;
	struct kmbox_msg *msg;
	u64 now = 0;
	int ret;

	spin_lock(&mb->lock);
	f = m ? *m : kf->filter;
	for (;;) {
		msg = kmbox_tags_first_locked(mb, &f);
		/* An expired message is never shown either (policy.c). */
		if (msg && unlikely(msg->expires) && kmbox_expired_locked(mb, msg, &now, &v))
			continue;
		if (msg)
			break;
		if (v.head) {
			spin_unlock(&mb->lock);
			kmbox_expired_free(mb, &v);
			now = 0;
			spin_lock(&mb->lock);
			continue;
		}
		if (w->nonblock) {
			spin_unlock(&mb->lock);
			return -EAGAIN;
		}
		ret = kmbox_tags_wait_locked(mb, &f, w);
		if (ret)
			return ret;
		now = 0;
		spin_lock(&mb->lock);
	}
	kmbox_peek_copy(mb, msg, kbuf, bufsz);
	out->len = msg->len;
	out->prio = msg->prio;
	out->tag = msg->tag;
	out->send_ns = msg->send_ns;
	out->pid = get_pid(msg->pid);
	out->uid = msg->uid;
	out->gid = msg->gid;
	spin_unlock(&mb->lock);
	if (unlikely(v.head))
		kmbox_expired_free(mb, &v);
	return 0;
}

/**
 * kmbox_filter_xchg() - read, and if @set replace, @kf's filter
 * @kf: the file (bound)
 * @m: in: the new filter (if @set); out: the old one
 * @set: replace it
 *
 * Return: 0 or -EINVAL (a filter that can never match).
 */
int kmbox_filter_xchg(struct kmbox_file *kf, struct kmbox_match *m, bool set)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_match old;

	if (set && kmbox_match_check(m))
		return -EINVAL;
	spin_lock(&mb->lock);
	old = kf->filter;
	if (set)
		kf->filter = *m;
	spin_unlock(&mb->lock);
	*m = old;
	/*
	 * What the file's pollers wait for changed: they look again, on
	 * either queue (a wake-up the relay judged by the old filter is
	 * made good here).
	 */
	if (set && wq_has_sleeper(&mb->rd_wait))
		wake_up_interruptible_poll(&mb->rd_wait, EPOLLIN | EPOLLRDNORM);
	if (set && wq_has_sleeper(&kf->flt_poll))
		wake_up_interruptible_poll(&kf->flt_poll, EPOLLIN | EPOLLRDNORM);
	return 0;
}

/*
 * Polling with a filter.  Every queued message wakes rd_wait with
 * EPOLLIN, whether a filtered file wants it or not.  epoll looks again
 * and finds nothing, at a small cost; io_uring trusts the key, retries
 * the read, gets EAGAIN and polls again, and after a bounded number of
 * such rounds (APOLL_MAX_RETRY, 128 on 6.1) hands the read to an io-wq
 * worker that sleeps in it.  So a file polled while it has a filter has
 * its pollers wait on its own flt_poll, and one relay entry of the file
 * on flt_wait, counted in flt_pollers so that senders note tags for it,
 * wakes flt_poll only for a tag the file's filter lets through, by the
 * rule of "Waiting" above (the relay joins flt_wait and is counted under
 * the lock, before the poll looks at the queue under it).  The relay
 * reads the filter as it is at the wake-up; kmbox_filter_xchg() wakes
 * flt_poll after a change, which covers a wake-up judged by the old one.
 * A poller that registered on rd_wait before the filter was set (an
 * epoll watch) keeps getting every wake-up there: spurious, never lost.
 * The relay stays until the file is released.
 */
static int kmbox_flt_relay_wake(struct wait_queue_entry *entry, unsigned int mode, int sync,
				void *key)
{
	struct kmbox_file *kf = container_of(entry, struct kmbox_file, flt_relay);
	const struct kmbox_tagwake *k = key;
	struct kmbox_match m = {
		.tag = READ_ONCE(kf->filter.tag),
		.mask = READ_ONCE(kf->filter.mask),
	};
	unsigned int i;

	if (k && !k->all) {
		for (i = 0; i < k->n; i++)
			if (kmbox_match(&m, k->tags[i]))
				break;
		if (i == k->n)
			return 0;
	}
	wake_up_interruptible_poll(&kf->flt_poll, EPOLLIN | EPOLLRDNORM);
	return 0;
}

/**
 * kmbox_tags_poll_queue() - where a poll of @kf waits for EPOLLIN
 * @kf: the file (bound, open for reading)
 *
 * Return: kmbox->rd_wait for a file without a filter, else @kf->flt_poll,
 * with the file's relay on flt_wait (see above).
 */
wait_queue_head_t *kmbox_tags_poll_queue(struct kmbox_file *kf)
{
	struct kmbox *mb = kf->mb;

	/* A plain load: a filter set meanwhile costs spurious wake-ups only. */
	if (!READ_ONCE(kf->filter.mask))
		return &mb->rd_wait;
	if (READ_ONCE(kf->flt_relayed))
		return &kf->flt_poll;
	spin_lock(&mb->lock);
	if (!kf->flt_relayed) {
		atomic_inc(&mb->flt_pollers);
		add_wait_queue(&mb->flt_wait, &kf->flt_relay);
		WRITE_ONCE(kf->flt_relayed, true);
	}
	spin_unlock(&mb->lock);
	return &kf->flt_poll;
}

/* Called by the file's open. */
void kmbox_tags_file_init(struct kmbox_file *kf)
{
	init_waitqueue_head(&kf->flt_poll);
	init_waitqueue_func_entry(&kf->flt_relay, kmbox_flt_relay_wake);
}

/* Called by the file's release, while it is bound: take its relay off flt_wait. */
void kmbox_tags_file_release(struct kmbox_file *kf)
{
	if (!kf->flt_relayed)
		return;
	remove_wait_queue(&kf->mb->flt_wait, &kf->flt_relay);
	atomic_dec(&kf->mb->flt_pollers);
}

/**
 * kmbox_tags_poll() - poll's answer for @kf, given the mailbox's @mask
 * @kf: the file (bound)
 * @mask: kmbox_poll_mask()'s answer
 *
 * Return: @mask, without EPOLLIN|EPOLLRDNORM if the file has a filter and
 * no queued message passes it.
 */
__poll_t kmbox_tags_poll(struct kmbox_file *kf, __poll_t mask)
{
	struct kmbox *mb = kf->mb;

	/* A plain load: the filter is a snapshot, the lock orders what counts. */
	if (!(mask & EPOLLIN) || !READ_ONCE(kf->filter.mask))
		return mask;
	spin_lock(&mb->lock);
	if (kf->filter.mask && !kmbox_tags_first_locked(mb, &kf->filter))
		mask &= ~(EPOLLIN | EPOLLRDNORM);
	spin_unlock(&mb->lock);
	return mask;
}
