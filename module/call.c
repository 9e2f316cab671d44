// SPDX-License-Identifier: GPL-2.0
/*
 * Synchronous sends and calls: a sender that waits for its message to be
 * received, and a caller that waits for the answer to its request.
 *
 * The waiter.  A synchronous sender or a caller keeps a struct kmbox_sync
 * on its stack, and its message points to it (kmbox_msg->sync) from the
 * moment it is queued.  The message itself is an ordinary message: same
 * queue, priority order, room, poll, hand-off to a sleeping receiver.
 *
 * Life of a waiter.  Every transition is one function below, made with
 * kmbox->lock held; nothing outside this file writes a waiter's state.
 *
 *                      take (a receive takes the message,
 *          send        or the sender hands it to a sleeper)
 *   (none) ----> QUEUED -------------------------------> TAKEN
 *                  |  ^                                    |  |  |
 *         withdraw |  +------ untake (copy-out faulted) ---+  |  |
 *   (the waiter    |                                          |  |
 *    gives up)     v          deliver: a synchronous send,     |  |
 *              WITHDRAWN      or a request received without   |  |
 *                             KMBOX_F_CALLS (result EPIPE)    |  |
 *                   DONE <-------------------------------------+  |
 *                    ^  ^                                         |
 *                    |  |     deliver: a request received with    |
 *                    |  |     KMBOX_F_CALLS, entered in the       v
 *                    |  +---- receiving file's table -------- PENDING
 *                    |        reply (result 0), or the            |
 *                    |        receiving file closes (EPIPE)       |
 *                    |                                            |
 *                 ABANDONED <---- the caller gives up ------------+
 *                 (its token is gone: a later reply gets ENOENT)
 *
 * A waiter never leaves while its message is TAKEN: the receive that took
 * it may still fail and put it back, so neither a deadline nor a handled
 * signal can decide the outcome then; the waiter sleeps on (killably) until
 * the message is delivered (it returns success) or put back (it withdraws
 * it and fails).  Only a fatal signal lets it go: it detaches itself from
 * the message, which then points to kmbox_sync_orphan: delivered, it is an
 * ordinary message (a request's token is then ENOENT); put back, it is
 * withdrawn, as a dead waiter's QUEUED message is (so a rendezvous mailbox
 * never keeps a message nobody waits for).  Every move
 * out of TAKEN wakes a waiter that has given up (->giving_up): to DONE as
 * always, back to QUEUED to withdraw, and to PENDING to abandon the call.
 *
 * Waking.  A waiter sleeps without the lock and reads its state without
 * it too; it takes the lock only to give up.  Whoever changes the state to
 * one the waiter acts on wakes it, and every change but the last is made
 * under the lock, which the waiter needs to act on it: so a waker never
 * touches a waiter that has left.  The last change, to DONE, lets the
 * waiter leave without the lock (its struct is on its stack, and a call
 * returns at once, without a lock round against the replier who still
 * holds it): everything the waiter reads afterwards is written before the
 * state, which is stored with release (kmbox_sync_finish()), and the waker
 * touches only the task, which it holds, afterwards.
 *
 * Tokens.  A request carries a reply token, from a per-mailbox counter
 * (never 0, never repeated).  A receive that reports tokens enters the
 * request in its file's table; KMBOX_IOC_REPLY looks the token up in the
 * table of the file it is made on, and nowhere else, so a token is useless
 * on another file, and one never issued, answered, or given up is ENOENT.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hrtimer.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include "kmbox.h"

/**
 * struct kmbox_sync - a synchronous sender or caller, on its stack
 * @task: the waiting task
 * @kf: the file it sent through
 * @msg: its message, while QUEUED or TAKEN
 * @server: PENDING: the file that received the request
 * @node: PENDING: in @server's calls, by @token
 * @token: a call's reply token; 0 for a synchronous send
 * @reply_cap: a call's reply buffer size
 * @reply: DONE: the reply of a call, if it was answered
 * @state: enum kmbox_sync_state
 * @result: DONE: 0, or -EPIPE
 * @giving_up: the waiter has decided to fail (deadline, signal) and waits
 *	only for its TAKEN message to be delivered or put back
 */
struct kmbox_sync {
	struct task_struct *task;
	struct kmbox_file *kf;
	struct kmbox_msg *msg;
	struct kmbox_file *server;
	struct rb_node node;
	u64 token;
	u32 reply_cap;
	struct kmbox_msg *reply;
	int state;
	int result;
	bool giving_up;
};

enum kmbox_sync_state {
	KMBOX_SYNC_QUEUED,
	KMBOX_SYNC_TAKEN,
	KMBOX_SYNC_PENDING,
	KMBOX_SYNC_DONE,
	KMBOX_SYNC_WITHDRAWN,
	KMBOX_SYNC_ABANDONED,
};

static bool kmbox_sync_less(struct rb_node *a, const struct rb_node *b)
{
	return rb_entry(a, struct kmbox_sync, node)->token <
	       rb_entry(b, struct kmbox_sync, node)->token;
}

static int kmbox_sync_cmp(const void *key, const struct rb_node *n)
{
	u64 token = *(const u64 *)key;
	u64 other = rb_entry(n, struct kmbox_sync, node)->token;

	return token < other ? -1 : token > other;
}

/*
 * What the message of a waiter killed while TAKEN points to (a copied
 * message only: a slot's owner may be gone, so a zero-copy one is left an
 * ordinary message).  Never queued, never woken: see kmbox_sync_detach_locked().
 */
static struct kmbox_sync kmbox_sync_orphan = { .state = KMBOX_SYNC_ABANDONED };

/* The one place a waiter's state changes, but for DONE (read locklessly). */
static void kmbox_sync_move(struct kmbox_sync *s, enum kmbox_sync_state to)
{
	WRITE_ONCE(s->state, to);
}

/*
 * -> DONE, under the lock.  The waiter may see it and leave at once: @s
 * must not be touched afterwards (see "Waking" above).  Return: the
 * waiter's task, held, for kmbox_sync_wake().
 */
static struct task_struct *kmbox_sync_finish(struct kmbox_sync *s, int result)
{
	struct task_struct *task = get_task_struct(s->task);

	s->result = result;
	/* Pairs with smp_load_acquire() in kmbox_sync_wait(). */
	smp_store_release(&s->state, KMBOX_SYNC_DONE);
	return task;
}

static void kmbox_sync_wake(struct task_struct *task)
{
	wake_up_process(task);
	put_task_struct(task);
}

/* -> DONE, and wake the waiter. */
static void kmbox_sync_done(struct kmbox_sync *s, int result)
{
	kmbox_sync_wake(kmbox_sync_finish(s, result));
}

/**
 * kmbox_sync_take_locked() - take: a receive takes a waiter's message
 * @mb: the mailbox
 * @msg: a message with ->sync, just taken off the queue or handed over
 *
 * Return: 0, or -EINVAL (a kmbox bug) if the waiter was not QUEUED.
 */
int kmbox_sync_take_locked(struct kmbox *mb, struct kmbox_msg *msg)
{
	struct kmbox_sync *s = msg->sync;

	lockdep_assert_held(&mb->lock);
	if (WARN_ON_ONCE(s == &kmbox_sync_orphan || s->state != KMBOX_SYNC_QUEUED))
		return -EINVAL;
	kmbox_sync_move(s, KMBOX_SYNC_TAKEN);
	return 0;
}

/**
 * kmbox_sync_untake_locked() - untake: the receive failed, the message is back
 * @mb: the mailbox
 * @msg: a message with ->sync, to be queued again
 *
 * A waiter that gave up meanwhile is woken to withdraw it.
 *
 * Return: true if the message must not be queued again but freed: its
 * waiter was killed while it was TAKEN (withdrawn, as if QUEUED then).
 */
bool kmbox_sync_untake_locked(struct kmbox *mb, struct kmbox_msg *msg)
{
	struct kmbox_sync *s = msg->sync;

	lockdep_assert_held(&mb->lock);
	if (s == &kmbox_sync_orphan) {
		WRITE_ONCE(msg->sync, NULL);
		return true;
	}
	if (WARN_ON_ONCE(s->state != KMBOX_SYNC_TAKEN))
		return false;
	kmbox_sync_move(s, KMBOX_SYNC_QUEUED);
	wake_up_process(s->task);
	return false;
}

/**
 * kmbox_sync_deliver_locked() - deliver: the receive of a waiter's message
 * committed
 * @mb: the mailbox
 * @msg: a message with ->sync, delivered (freed by the caller after)
 * @rkf: the receiving file
 * @calls: the receive reported reply tokens (KMBOX_F_CALLS)
 *
 * A synchronous sender is done.  A request is entered in @rkf's table if
 * the receive reported its token, and fails its caller with EPIPE if not.
 */
void kmbox_sync_deliver_locked(struct kmbox *mb, struct kmbox_msg *msg,
			       struct kmbox_file *rkf, bool calls)
{
	struct kmbox_sync *s = msg->sync;

	lockdep_assert_held(&mb->lock);
	WRITE_ONCE(msg->sync, NULL);
	if (s == &kmbox_sync_orphan)
		return;		/* nobody waits: an ordinary message */
	s->msg = NULL;
	if (WARN_ON_ONCE(s->state != KMBOX_SYNC_TAKEN))
		return;
	if (!s->token) {
		kmbox_sync_done(s, 0);
		return;
	}
	if (!calls) {
		kmbox_sync_done(s, -EPIPE);
		return;
	}
	s->server = rkf;
	rb_add(&s->node, &rkf->calls, kmbox_sync_less);
	kmbox_sync_move(s, KMBOX_SYNC_PENDING);
	/* A caller that gave up while TAKEN can now abandon the request. */
	if (s->giving_up)
		wake_up_process(s->task);
}

/**
 * kmbox_sync_drop_locked() - a waiter's message is dropped: by the
 * mailbox's overflow policy while QUEUED (policy.c, @err -ENOBUFS), or
 * for a kmbox bug elsewhere (kmbox_requeue(), -EIO)
 * @mb: the mailbox
 * @msg: a message with ->sync, freed by the caller after
 * @err: what its sender or caller gets
 */
void kmbox_sync_drop_locked(struct kmbox *mb, struct kmbox_msg *msg, int err)
{
	struct kmbox_sync *s = msg->sync;

	lockdep_assert_held(&mb->lock);
	WRITE_ONCE(msg->sync, NULL);
	if (s == &kmbox_sync_orphan)
		return;
	s->msg = NULL;
	kmbox_sync_done(s, err);
}

/**
 * kmbox_sync_unsend_locked() - a waiter's zero-copy message, queued, is
 * discarded (policy.c): its slot goes back to the sender's file, reserved,
 * as when the waiter withdraws it, since its send fails
 * @mb: the mailbox
 * @msg: a message with ->sync and a slot, in the QUEUED slot state
 *
 * Return: true if the slot went back.
 */
bool kmbox_sync_unsend_locked(struct kmbox *mb, struct kmbox_msg *msg)
{
	struct kmbox_sync *s = msg->sync;

	lockdep_assert_held(&mb->lock);
	if (s == &kmbox_sync_orphan)
		return false;
	return !kmbox_zc_unsend_locked(s->kf, msg->slot);
}

/**
 * kmbox_calls_detach_locked() - a file closes: its unanswered requests fail
 * @kf: the closing file
 *
 * Every caller whose request @kf received and did not answer gets EPIPE.
 */
void kmbox_calls_detach_locked(struct kmbox_file *kf)
{
	struct rb_node *node;

	lockdep_assert_held(&kf->mb->lock);
	while ((node = rb_first(&kf->calls))) {
		struct kmbox_sync *s = rb_entry(node, struct kmbox_sync, node);

		rb_erase(node, &kf->calls);
		s->server = NULL;
		kmbox_sync_done(s, -EPIPE);
	}
}

/*
 * The waiter gives up under the lock (deadline, signal): withdraw a queued
 * message (returned, for the caller to free; a zero-copy one's slot is
 * reserved by the sender again, as before the send), forget a pending
 * request.  Return: true if it may leave now, false while its message is
 * TAKEN.
 */
static bool kmbox_sync_give_up_locked(struct kmbox *mb, struct kmbox_sync *s,
				      struct kmbox_msg **withdrawn)
{
	switch (s->state) {
	case KMBOX_SYNC_QUEUED:
		kmbox_unqueue_locked(mb, s->msg);
		if (s->msg->slot != KMBOX_NO_SLOT)
			kmbox_zc_unsend_locked(s->kf, s->msg->slot);
		WRITE_ONCE(s->msg->sync, NULL);
		*withdrawn = s->msg;
		s->msg = NULL;
		kmbox_sync_move(s, KMBOX_SYNC_WITHDRAWN);
		return true;
	case KMBOX_SYNC_PENDING:
		rb_erase(&s->node, &s->server->calls);
		s->server = NULL;
		kmbox_sync_move(s, KMBOX_SYNC_ABANDONED);
		return true;
	case KMBOX_SYNC_TAKEN:
		return false;
	default:	/* DONE */
		return true;
	}
}

/*
 * A fatal signal while the message is TAKEN: detach from it and leave.
 * The receive that took it decides: delivered, it is an ordinary message;
 * put back, it is withdrawn (kmbox_sync_untake_locked()).
 */
static void kmbox_sync_detach_locked(struct kmbox_sync *s)
{
	WRITE_ONCE(s->msg->sync, s->msg->slot == KMBOX_NO_SLOT ? &kmbox_sync_orphan : NULL);
	s->msg = NULL;
	kmbox_sync_move(s, KMBOX_SYNC_ABANDONED);
}

/*
 * Wait until @s is DONE, or give up at the deadline or a signal.  A
 * non-blocking sender's message went straight to a waiting receiver; if
 * that receive fails and puts it back (QUEUED again), nobody waits for it
 * any more, and the sender gives up at once, as when no receiver waited.
 * Return: 0 (DONE: see s->result), -EAGAIN (non-blocking, put back),
 * -ETIMEDOUT, -ERESTARTSYS (nothing was received: the call may be
 * restarted) or -EINTR (a request was received and is given up: a restart
 * would send it again).  *@withdrawn is the message taken back, for the
 * caller to free.
 */
static int kmbox_sync_wait(struct kmbox *mb, struct kmbox_sync *s, const struct kmbox_wait *w,
			   struct kmbox_msg **withdrawn)
{
	ktime_t expires = w->deadline;
	bool timed = w->timed;
	int ret = 0;

	*withdrawn = NULL;
	for (;;) {
		int state;

		/* Until the error is decided, only a fatal signal counts. */
		set_current_state(ret ? TASK_KILLABLE : TASK_INTERRUPTIBLE);
		/*
		 * Pairs with smp_store_release() in kmbox_sync_finish(); the
		 * barrier of set_current_state() orders it after our state, and
		 * whoever changes it wakes us after: see "Waking" above.
		 */
		state = smp_load_acquire(&s->state);
		if (state == KMBOX_SYNC_DONE) {
			__set_current_state(TASK_RUNNING);
			return 0;
		}
		/* Nothing to give up: sleep on, without the lock. */
		if (!ret && !(w->nonblock && state == KMBOX_SYNC_QUEUED) &&
		    !signal_pending(current))
			goto sleep;
		spin_lock(&mb->lock);
		state = s->state;
		if (state == KMBOX_SYNC_DONE) {
			spin_unlock(&mb->lock);
			__set_current_state(TASK_RUNNING);
			return 0;
		}
		if (!ret && w->nonblock && state == KMBOX_SYNC_QUEUED)
			ret = -EAGAIN;
		if (!ret && signal_pending(current))
			ret = -ERESTARTSYS;
		if (ret && fatal_signal_pending(current) && state == KMBOX_SYNC_TAKEN)
			kmbox_sync_detach_locked(s);
		if (ret) {
			if (state == KMBOX_SYNC_PENDING && ret == -ERESTARTSYS)
				ret = -EINTR;
			if (kmbox_sync_give_up_locked(mb, s, withdrawn)) {
				spin_unlock(&mb->lock);
				__set_current_state(TASK_RUNNING);
				if (*withdrawn)
					kmbox_wake_room(mb);
				return ret;
			}
			/* TAKEN: delivery or untake must wake us (see deliver). */
			s->giving_up = true;
		}
		spin_unlock(&mb->lock);
sleep:
		if (!timed || ret) {
			schedule();
		} else if (!schedule_hrtimeout_range(&expires, current->timer_slack_ns,
						     HRTIMER_MODE_ABS)) {
			ret = -ETIMEDOUT;
		}
	}
}

/**
 * kmbox_send_one() - send one prepared message, synchronously if asked
 * @kf: the sending file (bound)
 * @msg: the message; consumed (queued, delivered, or freed) in every case
 * @w: how to wait
 * @sync: wait until a receiver's receive has returned it (also implied
 *	by a rendezvous mailbox)
 *
 * Return: 0, or -EAGAIN (non-blocking: no room, or for a synchronous send
 * no receiver waiting), -ETIMEDOUT, -ERESTARTSYS, -EINTR, -EINVAL (slot).
 * On an error the message was not delivered and never will be.
 */
int kmbox_send_one(struct kmbox_file *kf, struct kmbox_msg *msg, const struct kmbox_wait *w,
		   bool sync)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_sync s = {
		.task = current, .kf = kf, .msg = msg, .state = KMBOX_SYNC_QUEUED,
	};
	struct kmbox_wait qw = *w;
	struct kmbox_msg *back;
	int ret;

	if (!sync && !mb->rendezvous) {
		ret = kmbox_send_many(kf, &msg, 1, w);
		if (ret < 0)
			kmbox_msg_free(mb, msg);
		return ret < 0 ? ret : 0;
	}
	/* Non-blocking: only straight into the hands of a waiting receiver. */
	qw.handoff_only = w->nonblock;
	msg->sync = &s;
	ret = kmbox_send_many(kf, &msg, 1, &qw);
	if (ret < 0) {
		msg->sync = NULL;
		kmbox_msg_free(mb, msg);
		return ret;
	}
	ret = kmbox_sync_wait(mb, &s, w, &back);
	if (back)
		kmbox_msg_free(mb, back);
	return ret ?: s.result;
}

/**
 * kmbox_send_sync_batch() - send prepared messages synchronously, in order
 * @kf: the sending file (bound)
 * @msgs: the messages; all consumed
 * @n: how many, >= 1
 * @w: how to wait for the first
 *
 * The first waits for a receiver as kmbox_send_one() does; each later one
 * is sent only if a receiver is waiting already (as sendmmsg(2) does as
 * much as it can without sleeping again).
 *
 * Return: how many were received (>= 1), or the first one's error.
 */
int kmbox_send_sync_batch(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n,
			  const struct kmbox_wait *w)
{
	struct kmbox_wait more = *w;
	unsigned int i = 1;
	int ret;

	ret = kmbox_send_one(kf, msgs[0], w, true);
	if (ret)
		goto out_free;
	more.nonblock = true;
	for (; i < n; i++) {
		if (kmbox_send_one(kf, msgs[i], &more, true)) {
			ret = i++;	/* msgs[i] is consumed too */
			goto out_free;
		}
	}
	return n;

out_free:
	for (; i < n; i++)
		kmbox_msg_free(kf->mb, msgs[i]);
	return ret;
}

/**
 * kmbox_call_wait() - send a request and wait for its reply
 * @kf: the calling file (bound)
 * @msg: the request, prepared; consumed in every case
 * @reply_cap: the caller's reply buffer size
 * @w: how to wait, for the whole call
 * @reply: out: the reply (kmbox_msg_free() it), on success
 *
 * Return: 0 with *@reply, or -EPIPE (received by a file that closed
 * without answering, or by a receive that could not report the token),
 * -EAGAIN, -ETIMEDOUT, -ERESTARTSYS (not received: may be restarted),
 * -EINTR (received, and given up).
 */
int kmbox_call_wait(struct kmbox_file *kf, struct kmbox_msg *msg, u32 reply_cap,
		    const struct kmbox_wait *w, struct kmbox_msg **reply)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_sync s = {
		.task = current, .kf = kf, .msg = msg, .state = KMBOX_SYNC_QUEUED,
		.token = atomic64_inc_return(&mb->next_token), .reply_cap = reply_cap,
	};
	struct kmbox_wait qw = *w;
	struct kmbox_msg *back;
	int ret;

	qw.handoff_only = w->nonblock;
	msg->sync = &s;
	msg->token = s.token;
	ret = kmbox_send_many(kf, &msg, 1, &qw);
	if (ret < 0) {
		msg->sync = NULL;
		kmbox_msg_free(mb, msg);
		return ret;
	}
	ret = kmbox_sync_wait(mb, &s, w, &back);
	if (back)
		kmbox_msg_free(mb, back);
	if (ret)
		return ret;
	if (s.result)
		return s.result;
	*reply = s.reply;
	return 0;
}

/* Rounds of kmbox_reply_to() against a @done word whose page keeps going. */
#define KMBOX_DONE_TRIES	4

/*
 * Make the user word @p present and writable, as a write fault would,
 * but without writing it (fault_in_writeable() would store a zero byte,
 * which the word's reader takes for "done").  The fault may drop
 * mmap_lock and wait, killably, as a store's fault from user space or
 * from copy_to_user() would: for a userfaultfd's handler (a page it
 * write-protects, or one it has yet to supply), for I/O.  Without
 * @unlocked such a fault cannot wait and fails, and a word that any
 * system call could write would be EFAULT here.
 */
static int kmbox_fault_in_word(u64 __user *p)
{
	struct mm_struct *mm = current->mm;
	bool unlocked = false;
	int ret;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	ret = fixup_user_fault(mm, (unsigned long)p, FAULT_FLAG_WRITE, &unlocked);
	mmap_read_unlock(mm);
	if (ret == -EINTR)
		return ret;
	return ret ? -EFAULT : 0;
}

/**
 * kmbox_reply_to() - answer the request @token that @kf received
 * @kf: the file the request was received on
 * @token: its token
 * @reply: the reply, prepared; consumed on success only
 * @done: NULL, or an aligned user word set to 0 in the same locked step
 *	that delivers the reply, and only then (KMBOX_IOC_REPLY_RECV: its
 *	reply.token), so that user space can always tell whether the reply
 *	went
 *
 * Return: 0, -ENOENT (no unanswered request of @kf has @token),
 * -EMSGSIZE (longer than the caller's buffer: the caller keeps waiting),
 * -EFAULT (@done cannot be written: nothing was delivered, @done is as
 * it was) or -EINTR (killed while faulting @done in: likewise).
 */
int kmbox_reply_to(struct kmbox_file *kf, u64 token, struct kmbox_msg *reply,
		   u64 __user *done)
{
	static const u64 zero;
	struct task_struct *caller = NULL;
	u64 now = ktime_get_ns();
	struct kmbox *mb = kf->mb;
	struct kmbox_sync *s;
	struct rb_node *node;
	int tries = 0;
	int ret;

again:
	ret = 0;
	spin_lock(&mb->lock);
	node = rb_find(&token, &kf->calls, kmbox_sync_cmp);
	if (!node) {
		ret = -ENOENT;
		goto out_unlock;
	}
	s = rb_entry(node, struct kmbox_sync, node);
	if (reply->len > s->reply_cap) {
		ret = -EMSGSIZE;
		goto out_unlock;
	}
	/*
	 * The word is written with page faults disabled, since we hold the
	 * lock.  It is aligned (the ioctl checks), so that write is all or
	 * nothing.  If its page is not there or not writable, fault it in
	 * for writing without the lock, writing nothing, and look the token
	 * up again (its caller may have given up meanwhile).  Another thread
	 * may take the page away again each time, so only a few rounds: a
	 * word that cannot be written is EFAULT, the word is left as it
	 * was, and the caller keeps waiting.
	 */
	if (done && copy_to_user_nofault(done, &zero, sizeof(zero))) {
		spin_unlock(&mb->lock);
		if (++tries > KMBOX_DONE_TRIES)
			return -EFAULT;
		ret = kmbox_fault_in_word(done);
		if (ret)
			return ret;
		goto again;
	}
	rb_erase(node, &kf->calls);
	s->server = NULL;
	reply->send_ns = now;
	s->reply = reply;
	caller = kmbox_sync_finish(s, 0);
out_unlock:
	spin_unlock(&mb->lock);
	/* After unlocking: the caller need not wait for our lock round. */
	if (caller)
		kmbox_sync_wake(caller);
	return ret;
}
