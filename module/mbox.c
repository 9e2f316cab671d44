// SPDX-License-Identifier: GPL-2.0
/*
 * The mailbox object: creation and freeing, the priority queue, blocking
 * send and receive, poll.
 *
 * Queue.  Messages are received by (priority descending, arrival number
 * ascending).  As in ipc/mqueue.c, an rbtree holds the priorities, the
 * highest leftmost (cached), and each priority keeps its messages in
 * arrival order: its first message is the tree's node, the others wait
 * in a ring behind it (kmbox_msg->link).  A send descends the tree of
 * priorities (a few at most in common use) and joins the ring's tail; a
 * receive takes the leftmost ring's first, whose successor, if any,
 * takes its place in the tree: neither costs more with 65 536 messages
 * queued than with 10.  A message that has to go back (the receiver's
 * buffer faulted) keeps its arrival number and so returns to exactly
 * where it was: usually the head of its ring; from further in (a
 * filtered receive took it) its ring is walked from the head or the
 * tail, whichever its arrival number is nearer.
 *
 * Copies.  A sender allocates the message and copies the payload in
 * before taking kmbox->lock; a receiver unlinks the message under the
 * lock and copies it out after dropping it (ipc/mqueue.c does the same),
 * so the spinlock never covers a page fault.  Until the copy-out is done
 * the message is "in flight": off the queue (no other receiver can take
 * it) but still taking up room (no sender can take its place).  If the
 * copy-out faults, the message is put back (kmbox_requeue()) and the
 * caller gets EFAULT: the mailbox is exactly as it was, and nobody was
 * signalled.  Only a delivered message (kmbox_consume()) frees room and
 * wakes senders.
 *
 * Buffers.  Messages are allocated, filled and freed in msg.c.
 *
 * Hand-off.  A receiver that finds the queue empty goes to sleep on
 * kmbox->rd_list.  A sender that finds a receiver there (so the queue is
 * empty) gives the message straight to it, under kmbox->lock, as
 * ipc/mqueue.c's pipelined send does: the message never enters the queue
 * and the woken receiver need not take the lock again.  It is in flight
 * from that moment, like one taken off the queue.  A receiver that cannot
 * take it (its buffer is too small) or that asked for a batch is instead
 * woken to look at the queue.  A receiver with a tag filter, or a peek,
 * never sleeps on rd_list: it may sleep while messages it does not want
 * are queued, so it waits on flt_wait and is woken to look (tags.c).
 *
 * Wake-ups: one rule for every sleeper.  What a sleeper waits for is one
 * word of the mailbox: a message to take (nr_msgs), room to send (used:
 * messages queued or in flight to a receiver), a slot to reserve (the
 * region's free count).  A sleeper (a blocked receiver, sender or
 * reserver, or a poller) first makes itself visible and then reads the
 * word; a waker first changes the word and then looks for sleepers.  Each
 * side has a full barrier between its two steps, so at least one of them
 * sees the other (the store-buffering pattern of memory-barriers.txt):
 *  - a receiver asleep in a receive is on rd_list: it joins, reads and
 *    leaves under kmbox->lock, where senders change nr_msgs and look for
 *    it; the lock orders both sides, and the sender hands it the message
 *    or wakes it;
 *  - everyone else sleeps on a wait queue: rd_wait (EPOLLIN pollers),
 *    wr_wait (blocked senders, EPOLLOUT and EPOLLWRBAND pollers: a file
 *    polls on two queues at most, which io_uring's poll supports), zc_wait
 *    (blocked reservers).  The sleeper's barrier is the
 *    set_current_state() in prepare_to_wait_exclusive(), or the smp_mb()
 *    after poll_wait() in kmbox_poll(); the waker's is the smp_mb() of
 *    wq_has_sleeper(), or smp_mb__after_atomic() after the atomic that
 *    made room.
 * A word never says "go" by mistake on the way to saying "stop": a
 * receive that has to put its message back (kmbox_requeue()) changes
 * nr_msgs but not used, which counted the message all along.
 *
 * Wake-ups carry their poll key, so that epoll wakes only the watchers
 * of that event, and a file polls only the queues its access mode can
 * use.  One event wakes one blocked sleeper (exclusive waits, and the
 * hand-off picks one receiver); whoever leaves without using what it was
 * woken for (a signal, the deadline, an error) while the word still says
 * "go" passes the wake-up on, and a sender or receiver that leaves room
 * or messages behind wakes the next of its kind, so one wake-up for a
 * batch is enough.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/fcntl.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "kmbox.h"
#include "trace.h"

static atomic64_t kmbox_next_id = ATOMIC64_INIT(0);

static bool kmbox_has_msg(struct kmbox *mb)
{
	return READ_ONCE(mb->nr_msgs) != 0;
}

/**
 * struct kmbox_rwaiter - a receiver asleep on kmbox->rd_list
 * @node: in rd_list (under kmbox->lock)
 * @task: the receiver
 * @kf: its file
 * @bufsz: its (first) buffer
 * @zc: it takes zero-copy messages as slots
 * @batch: it asked for more than one message: handed one only by a send
 *	that can go no other way (see kmbox_handoff_target_locked())
 * @msg: the message handed over (KMBOX_RW_HANDED)
 * @loss: it reports losses: the sender that hands it a message takes
 *	them for it (policy.c)
 * @state: KMBOX_RW_WAITING until a sender chooses it; written under
 *	kmbox->lock with release, read locklessly with acquire
 */
struct kmbox_rwaiter {
	struct list_head node;
	struct task_struct *task;
	struct kmbox_file *kf;
	u32 bufsz;
	bool zc;
	bool batch;
	struct kmbox_msg *msg;
	struct kmbox_loss *loss;
	int state;
};

enum { KMBOX_RW_WAITING, KMBOX_RW_HANDED, KMBOX_RW_WOKEN };

/*
 * Receivers a sender chose under kmbox->lock, woken after it unlocks.
 * The task reference keeps each one valid: a chosen receiver may see its
 * state and return before it is woken.
 */
struct kmbox_wakeups {
	struct task_struct *task[2];
	unsigned int n;
};

static void kmbox_rw_choose_locked(struct kmbox *mb, struct kmbox_rwaiter *rw, int state,
				   struct kmbox_wakeups *wk)
{
	list_del(&rw->node);
	WRITE_ONCE(mb->rd_waiters, mb->rd_waiters - 1);
	get_task_struct(rw->task);
	wk->task[wk->n++] = rw->task;
	/* Pairs with smp_load_acquire() in kmbox_recv_wait_locked(). */
	smp_store_release(&rw->state, state);
}

/* Under kmbox->lock: wake the first receiver asleep, to look at the queue. */
static void kmbox_wake_receiver_locked(struct kmbox *mb, struct kmbox_wakeups *wk)
{
	lockdep_assert_held(&mb->lock);
	if (list_empty(&mb->rd_list) || wk->n == ARRAY_SIZE(wk->task))
		return;
	kmbox_rw_choose_locked(mb, list_first_entry(&mb->rd_list, struct kmbox_rwaiter, node),
			       KMBOX_RW_WOKEN, wk);
}

/*
 * Under kmbox->lock: the receiver asleep that @msg can be handed to
 * straight away, or NULL: the first one, if the queue is empty and it can
 * take @msg.  Once per call (@wk still empty): the rest of a batch is
 * queued, and the one wake-up left in @wk goes to the next receiver for
 * them.  A receiver in a batch receive is woken to take what is queued
 * rather than handed one message, unless @only: a send that may only go
 * by hand (w->handoff_only) hands it its message, since it polled
 * EPOLLOUT for it.
 */
static struct kmbox_rwaiter *
kmbox_handoff_target_locked(struct kmbox *mb, const struct kmbox_msg *msg,
			    const struct kmbox_wakeups *wk, bool only)
{
	struct kmbox_rwaiter *rw;
	bool as_slot;

	lockdep_assert_held(&mb->lock);
	if (mb->nr_msgs || wk->n || list_empty(&mb->rd_list))
		return NULL;
	rw = list_first_entry(&mb->rd_list, struct kmbox_rwaiter, node);
	as_slot = rw->zc && msg->slot != KMBOX_NO_SLOT;
	if ((rw->batch && !only) || (!as_slot && msg->len > rw->bufsz))
		return NULL;
	return rw;
}

/*
 * Under kmbox->lock: give @msg to @rw, from kmbox_handoff_target_locked().
 * Return: true if it did (false only if a state machine refused: a kmbox
 * bug, and the message is queued instead).
 */
static bool kmbox_handoff_locked(struct kmbox *mb, struct kmbox_rwaiter *rw,
				 struct kmbox_msg *msg, struct kmbox_wakeups *wk)
{
	bool as_slot = rw->zc && msg->slot != KMBOX_NO_SLOT;

	if (msg->slot != KMBOX_NO_SLOT &&
	    kmbox_zc_take_locked(mb, msg->slot, as_slot ? rw->kf : NULL))
		return false;
	if (msg->sync && kmbox_sync_take_locked(mb, msg)) {
		if (msg->slot != KMBOX_NO_SLOT)
			kmbox_zc_untake_locked(mb, msg->slot);
		return false;
	}
	rw->msg = msg;
	if (unlikely(rw->loss))
		kmbox_loss_take_locked(mb, rw->kf, rw->loss);
	kmbox_rw_choose_locked(mb, rw, KMBOX_RW_HANDED, wk);
	/* Never queued: it spent no time in the queue. */
	mb->st.handoffs++;
	kmbox_stat_out_locked(mb, msg, 0);
	trace_kmbox_handoff(mb, msg, rw->task);
	return true;
}

static noinline void __kmbox_wake_chosen(struct kmbox_wakeups *wk)
{
	unsigned int i;

	for (i = 0; i < wk->n; i++) {
		wake_up_process(wk->task[i]);
		put_task_struct(wk->task[i]);
	}
}

/* Most lock rounds chose nobody: a test, not a call. */
static __always_inline void kmbox_wake_chosen(struct kmbox_wakeups *wk)
{
	if (wk->n)
		__kmbox_wake_chosen(wk);
}

/*
 * kmbox_recv_wait_locked() - sleep on rd_list until a sender chooses us,
 * a signal or the deadline.  Called with kmbox->lock held and the queue
 * empty; returns with it dropped.
 *
 * Return: 1 with *@msgp handed over (in flight, and its slot taken for
 * @kf if @zc), 0 when woken to look at the queue, -ERESTARTSYS or -ETIMEDOUT.
 */
static int kmbox_recv_wait_locked(struct kmbox_file *kf, u32 bufsz, bool zc, bool batch,
				  const struct kmbox_wait *w, struct kmbox_msg **msgp)
	__releases(&kf->mb->lock)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_rwaiter rw = {
		.task = current, .kf = kf, .bufsz = bufsz, .zc = zc, .batch = batch,
		.loss = w->loss, .state = KMBOX_RW_WAITING,
	};
	ktime_t expires = w->deadline;
	bool state_first = true;
	int state, ret = 0;

	list_add_tail(&rw.node, &mb->rd_list);
	WRITE_ONCE(mb->rd_waiters, mb->rd_waiters + 1);
	for (;;) {
		/* Under the lock: a sender that chooses us wakes us after. */
		__set_current_state(TASK_INTERRUPTIBLE);
		spin_unlock(&mb->lock);
		/* A rendezvous mailbox is writable while a receiver waits. */
		if (mb->rendezvous && state_first && wq_has_sleeper(&mb->wr_wait))
			wake_up_interruptible_poll(&mb->wr_wait, EPOLLOUT | EPOLLWRNORM);
		state_first = false;
		if (!w->timed)
			schedule();
		else if (!schedule_hrtimeout_range(&expires, current->timer_slack_ns,
						   HRTIMER_MODE_ABS))
			ret = -ETIMEDOUT;
		/* Pairs with smp_store_release() in kmbox_rw_choose_locked(). */
		state = smp_load_acquire(&rw.state);
		if (state != KMBOX_RW_WAITING)
			break;
		spin_lock(&mb->lock);
		state = rw.state;
		if (state != KMBOX_RW_WAITING) {
			spin_unlock(&mb->lock);
			break;
		}
		if (signal_pending(current))
			ret = -ERESTARTSYS;
		if (ret) {
			list_del(&rw.node);
			WRITE_ONCE(mb->rd_waiters, mb->rd_waiters - 1);
			spin_unlock(&mb->lock);
			break;
		}
	}
	__set_current_state(TASK_RUNNING);
	if (state == KMBOX_RW_HANDED) {
		*msgp = rw.msg;
		return 1;
	}
	return state == KMBOX_RW_WOKEN ? 0 : ret;
}

/* Room for a message that is not urgent (an urgent one: kmbox_room_limit()). */
static bool kmbox_has_room(struct kmbox *mb)
{
	return atomic_read(&mb->used) < mb->normal_max;
}

static bool kmbox_has_urgent_room(struct kmbox *mb)
{
	return atomic_read(&mb->used) < mb->max_msgs;
}

/*
 * Pollers and O_ASYNC owners: messages arrived (@queued: in the queue;
 * @urgent: an urgent one among them, see policy.c).
 */
static void kmbox_wake_readers(struct kmbox *mb, bool queued, bool urgent)
{
	/* The waker's barrier of the rule at the top of this file. */
	if (queued && wq_has_sleeper(&mb->rd_wait))
		wake_up_interruptible_sync_poll(&mb->rd_wait, EPOLLIN | EPOLLRDNORM |
						(urgent ? EPOLLPRI : 0));
	if (unlikely(READ_ONCE(mb->fasync))) {
		kill_fasync(&mb->fasync, SIGIO, POLL_IN);
		if (urgent)
			kill_fasync(&mb->fasync, SIGURG, POLL_PRI);
	}
}

static noinline void kmbox_wake_writers_now(struct kmbox *mb)
{
	/* waitqueue_active() is safe: the callers' barrier orders it */
	if (!waitqueue_active(&mb->wr_wait))
		;
	else if (likely(mb->normal_max == mb->max_msgs))
		wake_up_interruptible_sync_poll(&mb->wr_wait, EPOLLOUT | EPOLLWRNORM);
	else	/* urgent room: the room may be for an urgent sender only */
		__wake_up(&mb->wr_wait, TASK_INTERRUPTIBLE, 0,
			  poll_to_key(EPOLLOUT | EPOLLWRNORM));
	if (unlikely(READ_ONCE(mb->fasync)))
		kill_fasync(&mb->fasync, SIGIO, POLL_OUT);
}

/*
 * After an atomic RMW that made room (hence smp_mb__after_atomic()).
 * Nobody to wake is the common case: two tests inline, no call.
 */
static __always_inline void __kmbox_wake_writers(struct kmbox *mb)
{
	/* waitqueue_active() is safe: the callers' barrier orders it */
	if (waitqueue_active(&mb->wr_wait) || unlikely(READ_ONCE(mb->fasync)))
		kmbox_wake_writers_now(mb);
}

static void kmbox_wake_writers(struct kmbox *mb)
{
	/*
	 * The waker's barrier of the rule at the top of this file: it pairs
	 * with the sleeper's in prepare_to_wait_exclusive() or kmbox_poll().
	 * A sender going to sleep sees the room, or we see it on the queue.
	 */
	smp_mb__after_atomic();
	__kmbox_wake_writers(mb);
}

/**
 * kmbox_wake_room() - room was made under the lock (a message withdrawn
 * by kmbox_unqueue_locked()): wake a sender and the EPOLLOUT pollers
 * @mb: the mailbox, after the lock round
 */
void kmbox_wake_room(struct kmbox *mb)
{
	/* The waker's barrier, as in kmbox_wake_writers(). */
	smp_mb();
	__kmbox_wake_writers(mb);
}

/*
 * The tag index and the filtered sleepers (tags.c), on the way of every
 * message: tags.c is called only when a mailbox has them, so that one
 * without costs a test, not a call.
 */
static inline void kmbox_tags_queued_locked(struct kmbox *mb, struct kmbox_msg *msg,
					    struct kmbox_tagwake *tw)
{
	if (unlikely(mb->tags_indexed || atomic_read(&mb->flt_sleepers) ||
		     atomic_read(&mb->flt_pollers)))
		kmbox_tags_insert_locked(mb, msg, tw);
}

static inline void kmbox_tags_wake_noted(struct kmbox *mb, struct kmbox_tagwake *tw)
{
	if (unlikely(tw->n || tw->all))
		kmbox_tags_wake(mb, tw);
}

/* Take @msg off the queue, wherever it is; it is in flight (or withdrawn). */
void kmbox_dequeue_locked(struct kmbox *mb, struct kmbox_msg *msg)
{
	if (!RB_EMPTY_NODE(&msg->node)) {
		bool alone = list_empty(&msg->link);

		/* The first of its priority: the next, if any, takes its place. */
		if (!alone) {
			rb_replace_node_cached(&msg->node, &list_next_entry(msg, link)->node,
					       &mb->queue);
		} else if (mb->queue.rb_root.rb_node == &msg->node && !msg->node.rb_left &&
			   !msg->node.rb_right) {
			/*
			 * The only message queued (a queue drained as it
			 * fills): the tree is empty, without a walk for the
			 * next leftmost or a rebalancing.
			 */
			mb->queue = RB_ROOT_CACHED;
		} else {
			rb_erase_cached(&msg->node, &mb->queue);
		}
		RB_CLEAR_NODE(&msg->node);
		if (alone) {
			/* Alone in its ring: off the queue, as list_del() leaves it. */
			msg->link.next = LIST_POISON1;
			msg->link.prev = LIST_POISON2;
			goto unlinked;
		}
	}
	list_del(&msg->link);
unlinked:
	if (unlikely(mb->tags_indexed))
		kmbox_tags_erase_locked(mb, msg);
	WRITE_ONCE(mb->nr_msgs, mb->nr_msgs - 1);
	mb->bytes -= msg->len;
}

/**
 * kmbox_unqueue_locked() - take a queued message out, wherever it is
 * @mb: the mailbox
 * @msg: a queued message (a synchronous send withdrawn by its sender)
 *
 * Its room is free: the caller calls kmbox_wake_room() after unlocking.
 */
void kmbox_unqueue_locked(struct kmbox *mb, struct kmbox_msg *msg)
{
	lockdep_assert_held(&mb->lock);
	kmbox_dequeue_locked(mb, msg);
	atomic_dec(&mb->used);
	trace_kmbox_drop(mb, msg);
}

/*
 * Resolve creation attributes against the module parameters.  Fills @out
 * with the limits to use.  Return: 0 or -EINVAL.
 */
static int kmbox_attr_resolve(const struct kmbox_attr *in, struct kmbox_attr *out)
{
	u32 msgs_cap = READ_ONCE(kmbox_params.max_msgs_cap);
	u32 size_cap = READ_ONCE(kmbox_params.max_msgsize_cap);
	u64 region_cap = READ_ONCE(kmbox_params.region_cap);
	u32 slot_cap = roundup_pow_of_two(max_t(u32, size_cap, KMBOX_SLOT_MIN));
	u32 slot_size;

	memset(out, 0, sizeof(*out));
	out->max_msgs = in->max_msgs ?:
		min(READ_ONCE(kmbox_params.default_max_msgs), msgs_cap);
	/*
	 * A creator who sizes slots but not messages means messages as large
	 * as a slot: max_msgsize 0 then follows zc_slot_size (a bad slot size
	 * is refused below all the same).
	 */
	if (in->max_msgsize)
		out->max_msgsize = in->max_msgsize;
	else if (in->zc_slots && in->zc_slot_size)
		out->max_msgsize = min(in->zc_slot_size, size_cap);
	else
		out->max_msgsize = min(READ_ONCE(kmbox_params.default_max_msgsize), size_cap);
	if (!out->max_msgs || out->max_msgs > msgs_cap || out->max_msgsize > size_cap)
		return -EINVAL;
	/* The only input bit; output bits (GETATTR's) are ignored. */
	if (in->flags & ~(KMBOX_ATTR_RENDEZVOUS | KMBOX_ATTR_NONBLOCK | KMBOX_ATTR_NAMED |
			  KMBOX_ATTR_UNLINKED))
		return -EINVAL;
	out->flags = in->flags & KMBOX_ATTR_RENDEZVOUS;

	if (!in->zc_slots)
		return in->zc_slot_size ? -EINVAL : 0;
	if (in->zc_slots > KMBOX_SLOTS_MAX)
		return -EINVAL;

	slot_size = in->zc_slot_size;
	if (!slot_size)
		slot_size = roundup_pow_of_two(max_t(u32, out->max_msgsize, KMBOX_SLOT_MIN));
	if (!is_power_of_2(slot_size) || slot_size < KMBOX_SLOT_MIN || slot_size > slot_cap)
		return -EINVAL;
	if ((u64)in->zc_slots * slot_size > region_cap)
		return -EINVAL;
	out->zc_slots = in->zc_slots;
	out->zc_slot_size = slot_size;
	return 0;
}

/*
 * What a mailbox itself takes, charged to its creator: the structure and
 * a name's buffer (names.c allocates KMBOX_NAME_MAX + 1 bytes).
 */
static size_t kmbox_mbox_cost(void)
{
	return kmalloc_size_roundup(sizeof(struct kmbox)) +
	       kmalloc_size_roundup(KMBOX_NAME_MAX + 1);
}

/**
 * kmbox_alloc() - make a mailbox
 * @in: creation attributes (zeroes take the module defaults)
 * @qos: overflow policy and urgent lane (checked but for the room), or
 *	NULL for the defaults
 * @ns: namespace it is created in (the mailbox takes a reference)
 * @creator: charge chain of the creating file: charged for the mailbox,
 *	its region and its pool
 *
 * The mailbox is private to the caller: it sets the identity fields
 * (name, owner, mode) and then publishes it (names.c), or drops it.
 *
 * Context: Process context, no lock held; may sleep (a region can be
 * 64 MiB).
 * Return: the mailbox with one reference, or ERR_PTR(-EINVAL) for bad
 * attributes, -ENOSPC when @ns has max_mailboxes, -EMFILE when a user
 * of @creator has user_max_mailboxes or its quota cannot cover the
 * mailbox, -ENOMEM.
 */
struct kmbox *kmbox_alloc(const struct kmbox_attr *in, const struct kmbox_qos *qos,
			  struct kmbox_ns *ns, struct kmbox_chain *creator)
{
	struct kmbox_attr attr;
	unsigned long cost;
	struct kmbox *mb;
	int ret;

	ret = kmbox_attr_resolve(in, &attr);
	if (!ret && qos)
		ret = kmbox_qos_check(qos, &attr);
	if (ret)
		return ERR_PTR(ret);

	if (atomic_inc_return(&ns->nr_mailboxes) >
	    READ_ONCE(kmbox_params.max_mailboxes) && !creator->exempt) {
		ret = -ENOSPC;
		goto out_uncount;
	}
	ret = kmbox_charge_mailbox(creator);
	if (ret)
		goto out_uncount;

	cost = kmbox_mbox_cost();
	if (attr.zc_slots)
		cost += kmbox_region_cost(attr.zc_slots, attr.zc_slot_size);
	if (kmbox_charge(creator, cost)) {
		ret = -EMFILE;
		goto out_uncharge_mailbox;
	}

	mb = kzalloc(sizeof(*mb), GFP_KERNEL_ACCOUNT);
	if (!mb) {
		ret = -ENOMEM;
		goto out_uncharge;
	}
	kref_init(&mb->ref);
	spin_lock_init(&mb->lock);
	mb->queue = RB_ROOT_CACHED;
	mb->max_msgs = attr.max_msgs;
	mb->max_msgsize = attr.max_msgsize;
	INIT_LIST_HEAD(&mb->rd_list);
	init_waitqueue_head(&mb->rd_wait);
	init_waitqueue_head(&mb->wr_wait);
	init_waitqueue_head(&mb->zc_wait);
	mb->tags = RB_ROOT;
	init_waitqueue_head(&mb->flt_wait);
	atomic_set(&mb->flt_sleepers, 0);
	atomic_set(&mb->flt_pollers, 0);
	atomic_set(&mb->used, 0);
	atomic_set(&mb->wr_waiters, 0);
	INIT_LIST_HEAD(&mb->all);
	INIT_HLIST_NODE(&mb->hnode);
	INIT_LIST_HEAD(&mb->nsnode);
	mb->id = atomic64_inc_return(&kmbox_next_id);
	mb->ns = ns;
	mb->stats = ns->pcpu;
	mb->st.since_ns = ktime_get_ns();

	if (attr.zc_slots) {
		ret = kmbox_region_create(mb, attr.zc_slots, attr.zc_slot_size);
		if (ret)
			goto out_free;
	}
	mb->creator = kmbox_chain_hold(creator);
	init_llist_head(&mb->pool);
	atomic_set(&mb->pool_size, 0);
	mb->pool_max = attr.max_msgs + KMBOX_POOL_EXTRA;
	INIT_LIST_HEAD(&mb->pool_link);
	mb->rendezvous = attr.flags & KMBOX_ATTR_RENDEZVOUS;
	kmbox_qos_init(mb, qos);
	atomic64_set(&mb->next_token, 0);
	refcount_inc(&ns->ref);
	atomic_long_inc(&kmbox_stats.mailboxes);
	return mb;

out_free:
	kfree(mb);
out_uncharge:
	kmbox_uncharge(creator, cost);
out_uncharge_mailbox:
	kmbox_uncharge_mailbox(creator);
out_uncount:
	atomic_dec(&ns->nr_mailboxes);
	return ERR_PTR(ret);
}

/* A grace period after the last put: no /proc reader can still see @mb. */
static void kmbox_free_rcu(struct rcu_head *head)
{
	struct kmbox *mb = container_of(head, struct kmbox, rcu);

	kfree(mb->name);
	kfree(mb);
}

static void kmbox_free(struct kmbox *mb)
{
	struct rb_node *node;
	unsigned long cost = kmbox_mbox_cost();

	while ((node = rb_first_cached(&mb->queue))) {
		struct kmbox_msg *first = rb_entry(node, struct kmbox_msg, node), *msg, *tmp;

		rb_erase_cached(node, &mb->queue);
		/* The ring behind it: first->link serves as the list head. */
		list_for_each_entry_safe(msg, tmp, &first->link, link)
			kmbox_msg_free(mb, msg);
		kmbox_msg_free(mb, first);
	}
	cost += kmbox_pool_destroy(mb);
	if (mb->region)
		cost += kmbox_region_destroy(mb);
	kmbox_uncharge(mb->creator, cost);
	kmbox_uncharge_mailbox(mb->creator);
	kmbox_chain_put(mb->creator);
	atomic_dec(&mb->ns->nr_mailboxes);
	atomic_long_dec(&kmbox_stats.mailboxes);
	kmbox_ns_put(mb->ns);
	call_rcu(&mb->rcu, kmbox_free_rcu);
}

static void kmbox_release(struct kref *ref)
{
	struct kmbox *mb = container_of(ref, struct kmbox, ref);

	kmbox_unlist(mb);
	kmbox_free(mb);
}

/**
 * kmbox_put() - drop a reference to a mailbox; the last one frees it
 * @mb: the mailbox
 *
 * No global lock is taken: a mailbox with a name holds a reference of
 * the name table's, so the last put is never racing with a lookup.
 *
 * Context: Process context, no kmbox lock held; the last put may sleep
 * (it may put the last reference to a dead namespace's mount).
 */
void kmbox_put(struct kmbox *mb)
{
	kref_put(&mb->ref, kmbox_release);
}

/*
 * @msg joins the ring of @first, the first queued of its priority, in
 * arrival order: at the tail (a new message), or where its arrival number
 * puts it (one put back, or taking a replaced message's place).
 */
static void kmbox_ring_add_locked(struct kmbox *mb, struct kmbox_msg *first,
				  struct kmbox_msg *msg)
{
	struct kmbox_msg *pos = list_prev_entry(first, link);	/* the tail */

	if (msg->seq < first->seq) {
		/* Its new first: before the old one, which leaves the tree. */
		list_add_tail(&msg->link, &first->link);
		rb_replace_node_cached(&first->node, &msg->node, &mb->queue);
		RB_CLEAR_NODE(&first->node);
		return;
	}
	if (pos->seq > msg->seq && msg->seq - first->seq < pos->seq - msg->seq) {
		/* Nearer the head, by arrival numbers: walk from there. */
		pos = first;
		while (list_next_entry(pos, link)->seq < msg->seq)
			pos = list_next_entry(pos, link);
	} else {
		while (pos != first && pos->seq > msg->seq)
			pos = list_prev_entry(pos, link);
	}
	list_add(&msg->link, &pos->link);
	RB_CLEAR_NODE(&msg->node);
}

/* @tw: filtered sleepers to wake for @msg, after unlocking (tags.c) */
static void kmbox_enqueue_locked(struct kmbox *mb, struct kmbox_msg *msg,
				 struct kmbox_tagwake *tw)
{
	struct rb_node **link = &mb->queue.rb_root.rb_node, *parent = NULL;
	bool leftmost = true;

	lockdep_assert_held(&mb->lock);
	/* One descent of the priorities queued. */
	while (*link) {
		struct kmbox_msg *first = rb_entry(*link, struct kmbox_msg, node);

		if (msg->prio == first->prio) {
			kmbox_ring_add_locked(mb, first, msg);
			goto queued;
		}
		parent = *link;
		if (msg->prio > first->prio) {
			link = &parent->rb_left;
		} else {
			link = &parent->rb_right;
			leftmost = false;
		}
	}
	/* The first of its priority, alone in its ring. */
	INIT_LIST_HEAD(&msg->link);
	rb_link_node(&msg->node, parent, link);
	rb_insert_color_cached(&msg->node, &mb->queue, leftmost);
queued:
	WRITE_ONCE(mb->nr_msgs, mb->nr_msgs + 1);
	mb->bytes += msg->len;
	if (mb->nr_msgs > mb->st.max_depth)
		mb->st.max_depth = mb->nr_msgs;
	kmbox_tags_queued_locked(mb, msg, tw);
}

/*
 * Under kmbox->lock: a send found no room below @limit; expired messages
 * may make some (policy.c).  Return: true if there is room now.
 */
static bool kmbox_room_expired_locked(struct kmbox *mb, u32 limit, u64 now,
				      struct kmbox_victims *v)
{
	return unlikely(mb->may_expire) && kmbox_expire_purge_locked(mb, now, v) &&
	       atomic_read(&mb->used) < limit;
}

/* A blocked sender or reserver, woken only by the event it waits for. */
struct kmbox_waiter {
	struct wait_queue_entry entry;
	__poll_t key;
};

/*
 * A keyed wake-up for another event (EPOLLWRBAND pollers share wr_wait
 * with blocked senders) passes this sleeper by, and does not count as
 * the one exclusive wake-up the waker gives.
 */
static int kmbox_waiter_wake(struct wait_queue_entry *entry, unsigned int mode, int sync,
			     void *key)
{
	struct kmbox_waiter *w = container_of(entry, struct kmbox_waiter, entry);

	if (key && !(key_to_poll(key) & w->key))
		return 0;
	return autoremove_wake_function(entry, mode, sync, key);
}

/**
 * kmbox_wait_event() - sleep until @cond(@mb), a signal or the deadline
 * @wq: where to sleep (exclusively)
 * @key: the poll event the sleeper waits for: wake-ups for others pass it
 *	by, and a wake-up it does not use is passed on with it
 * @waiters: counter of sleepers, for introspection
 * @cond: lockless test, true when the caller should try again
 * @mb: the mailbox
 * @w: how to wait
 *
 * Context: Process context, no locks held.
 * Return: 0 when @cond held, -EAGAIN for a non-blocking call, -ETIMEDOUT,
 * or -ERESTARTSYS when a signal is pending.
 */
int kmbox_wait_event(wait_queue_head_t *wq, __poll_t key, atomic_t *waiters,
		     bool (*cond)(struct kmbox *), struct kmbox *mb, const struct kmbox_wait *w)
{
	struct kmbox_waiter wait = {
		.entry = {
			.private = current,
			.func = kmbox_waiter_wake,
			.entry = LIST_HEAD_INIT(wait.entry.entry),
		},
		.key = key,
	};
	ktime_t expires = w->deadline;
	int ret = 0;

	if (w->nonblock)
		return -EAGAIN;

	atomic_inc(waiters);
	for (;;) {
		prepare_to_wait_exclusive(wq, &wait.entry, TASK_INTERRUPTIBLE);
		if (cond(mb))
			break;
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		if (!w->timed) {
			schedule();
		} else if (!schedule_hrtimeout_range(&expires, current->timer_slack_ns,
						     HRTIMER_MODE_ABS)) {
			ret = -ETIMEDOUT;
			break;
		}
		/*
		 * Most wake-ups are the event itself, and the waker has taken
		 * us off the queue: look before queueing again, and
		 * finish_wait() needs no lock either.
		 */
		if (cond(mb))
			break;
	}
	finish_wait(wq, &wait.entry);
	atomic_dec(waiters);

	/* We may have been the one woken: pass the wake-up on. */
	if (ret && cond(mb))
		wake_up_interruptible_poll(wq, key);
	return ret;
}

/*
 * Under kmbox->lock: @msg goes into the mailbox now.  Its slot, if any,
 * is queued; it is stamped and counted as sent.  Return: 0, or the slot
 * state machine's error (the message is not sent).
 */
static __always_inline int kmbox_send_commit_locked(struct kmbox_file *kf,
						    struct kmbox_msg *msg, u64 now)
{
	struct kmbox *mb = kf->mb;

	if (msg->slot != KMBOX_NO_SLOT) {
		int ret = kmbox_zc_send_locked(kf, msg->slot);

		if (ret)
			return ret;
		trace_kmbox_zc_queue(mb, msg->slot);
	}
	msg->send_ns = now;
	kmbox_stat_in_locked(mb, msg);
	trace_kmbox_send(mb, msg);
	return 0;
}

/*
 * Under kmbox->lock, for a message with a deadline, or to a mailbox with a
 * TTL or KMBOX_POLICY_REPLACE (policy.c): one past its time is counted as
 * sent and expired at once; one with a queued namesake takes its place.
 *
 * Return: 0 to send @msg as usual, 1 if it expired, 2 if it replaced a
 * queued message (in both cases it belongs to the mailbox now), or the
 * slot state machine's error.
 */
static noinline int kmbox_send_hooks_locked(struct kmbox_file *kf, struct kmbox_msg *msg,
					    u64 now, const struct kmbox_wait *w,
					    struct kmbox_victims *v, struct kmbox_tagwake *tw,
					    bool *urgent)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_msg *old = NULL;
	bool expired;
	int ret;

	expired = kmbox_expire_send_locked(mb, msg, now);
	/* Conflation: a namesake queued is replaced, full or not. */
	if (!expired && mb->policy == KMBOX_POLICY_REPLACE && !w->handoff_only)
		old = kmbox_replace_find_locked(mb, msg);
	if (!expired && !old)
		return 0;
	ret = kmbox_send_commit_locked(kf, msg, now);
	if (ret)
		return ret;
	if (expired) {
		msg->seq = mb->seq++;
		mb->loss.expired++;
		kmbox_discard_locked(mb, msg, v, false, -ETIMEDOUT);
		return 1;
	}
	/* Its place: the same arrival number; the room changes hands. */
	msg->seq = old->seq;
	mb->loss.replaced++;
	kmbox_discard_locked(mb, old, v, true, -ENOBUFS);
	atomic_inc(&mb->used);
	kmbox_enqueue_locked(mb, msg, tw);
	*urgent |= msg->prio >= mb->urgent_prio;
	return 2;
}

/*
 * Under kmbox->lock: link a run of a batch into the queue at once, in
 * constant work under the lock for the queue itself (one descent of the
 * priorities, one splice), so that a receiver on another CPU waits less
 * for the lock.  The run is @msgs' longest prefix of copied messages
 * (no slot), not synchronous and without a deadline, of the first's
 * priority, that fits in the room: each would have been linked at its
 * ring's tail by kmbox_enqueue_locked() one after the other (a new
 * arrival number is the largest), stamped and counted the same way, and
 * the caller has ruled out what would have made one of them go another
 * way (a hand-off, the send hooks, the tag index, filtered sleepers).
 *
 * Return: how many were linked; 0 (nothing done) for a run shorter than
 * two, which the caller sends one by one.
 */
static unsigned int kmbox_link_run_locked(struct kmbox *mb, struct kmbox_msg **msgs,
					  unsigned int n, u64 now)
{
	struct rb_node **link = &mb->queue.rb_root.rb_node, *parent = NULL;
	u32 prio = msgs[0]->prio, used = atomic_read(&mb->used);
	u32 limit = kmbox_room_limit(mb, msgs[0]);
	struct kmbox_msg *first = NULL, *head, *tail;
	bool leftmost = true;
	unsigned int i, k;
	u64 bytes = 0;

	lockdep_assert_held(&mb->lock);
	if (used >= limit)
		return 0;
	n = min(n, limit - used);
	for (k = 0; k < n; k++) {
		struct kmbox_msg *m = msgs[k];

		if (m->prio != prio || m->slot != KMBOX_NO_SLOT || m->expires || m->sync)
			break;
	}
	if (k < 2)
		return 0;

	/*
	 * Stamp, number and chain them: msgs[0] .. msgs[k - 1] through
	 * ->link, open at both ends until spliced below (plain stores: the
	 * messages are still the sender's own).
	 */
	for (i = 0; i < k; i++) {
		struct kmbox_msg *m = msgs[i];

		m->send_ns = now;
		m->seq = mb->seq++;
		bytes += m->len;
		RB_CLEAR_NODE(&m->node);
		if (i) {
			m->link.prev = &msgs[i - 1]->link;
			msgs[i - 1]->link.next = &m->link;
		}
		trace_kmbox_send(mb, m);
	}
	head = msgs[0];
	tail = msgs[k - 1];
	mb->st.msgs_in += k;
	mb->st.bytes_in += bytes;
	atomic_add(k, &mb->used);

	/* One descent of the priorities queued. */
	while (*link) {
		struct kmbox_msg *f = rb_entry(*link, struct kmbox_msg, node);

		if (prio == f->prio) {
			first = f;
			break;
		}
		parent = *link;
		if (prio > f->prio) {
			link = &parent->rb_left;
		} else {
			link = &parent->rb_right;
			leftmost = false;
		}
	}
	if (first) {
		/* Behind the ring's tail: first->link.prev. */
		struct list_head *last = first->link.prev;

		last->next = &head->link;
		head->link.prev = last;
		tail->link.next = &first->link;
		first->link.prev = &tail->link;
	} else {
		/* The first of its priority; the rest is its ring. */
		head->link.prev = &tail->link;
		tail->link.next = &head->link;
		rb_link_node(&head->node, parent, link);
		rb_insert_color_cached(&head->node, &mb->queue, leftmost);
	}
	WRITE_ONCE(mb->nr_msgs, mb->nr_msgs + k);
	mb->bytes += bytes;
	if (mb->nr_msgs > mb->st.max_depth)
		mb->st.max_depth = mb->nr_msgs;
	return k;
}

/* Under kmbox->lock: nothing but the queue itself sees a message queued. */
static bool kmbox_plain_queue_locked(struct kmbox *mb)
{
	return !mb->send_hooks && !mb->tags_indexed && !atomic_read(&mb->flt_sleepers) &&
	       !atomic_read(&mb->flt_pollers);
}

/**
 * kmbox_send_many() - queue up to @n prepared messages, in order
 * @kf: the sending file (bound)
 * @msgs: the messages; those queued belong to the mailbox afterwards
 * @n: how many
 * @w: how to wait for room
 *
 * Sleeps only until the first message fits.  A zero-copy message whose
 * slot this file does not hold ends the batch.
 *
 * Return: how many were queued (>= 1), or the error that stopped the
 * first: -EAGAIN, -ETIMEDOUT, -ERESTARTSYS, -EINVAL (slot).
 */
int kmbox_send_many(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n,
		    const struct kmbox_wait *w)
{
	struct kmbox_wakeups wk = { .n = 0 };
	struct kmbox_tagwake tw = { .n = 0 };
	struct kmbox_victims v = { .head = NULL };
	struct kmbox *mb = kf->mb;
	unsigned int done = 0;
	bool queued = false, urgent = false, waited = false;
	int ret = 0;

	for (;;) {
		/* One clock read per lock round: the batch is queued at once. */
		u64 now = ktime_get_ns();

		spin_lock(&mb->lock);
		while (done < n) {
			struct kmbox_msg *msg = msgs[done];
			u32 limit = kmbox_room_limit(mb, msg);
			struct kmbox_rwaiter *rw;

			/* A run of the batch that can go in at once. */
			if (n - done > 1 && !w->handoff_only && kmbox_plain_queue_locked(mb) &&
			    !kmbox_handoff_target_locked(mb, msg, &wk, false)) {
				unsigned int k;

				k = kmbox_link_run_locked(mb, msgs + done, n - done, now);

				if (k) {
					done += k;
					queued = true;
					urgent |= msg->prio >= mb->urgent_prio;
					continue;
				}
			}
			if (msg->slot != KMBOX_NO_SLOT) {
				ret = kmbox_zc_check_send_locked(kf, msg->slot);
				if (ret)
					break;
			}
			/* The one test on the way of a mailbox without them: policy.c. */
			if (unlikely(msg->expires | mb->send_hooks)) {
				ret = kmbox_send_hooks_locked(kf, msg, now, w, &v, &tw, &urgent);
				if (ret < 0)
					break;
				if (ret) {
					queued |= ret == 2;
					done++;
					continue;
				}
			}
			if (atomic_read(&mb->used) >= limit &&
			    !kmbox_room_expired_locked(mb, limit, now, &v)) {
				enum kmbox_ovf ovf;

				/* Full: a block mailbox waits; see policy.c for the others. */
				if (likely(mb->policy == KMBOX_POLICY_BLOCK) || w->handoff_only)
					break;
				ovf = kmbox_overflow_locked(mb, msg, limit, &v);
				if (ovf == KMBOX_OVF_REJECT) {
					mb->loss.rejected += n - done;
					ret = -EAGAIN;
					break;
				}
				if (ovf == KMBOX_OVF_WAIT)
					break;
				if (ovf == KMBOX_OVF_SELF) {
					/* Lower than all queued: the oldest of the lowest. */
					ret = kmbox_send_commit_locked(kf, msg, now);
					if (ret)
						break;
					msg->seq = mb->seq++;
					mb->loss.dropped++;
					kmbox_discard_locked(mb, msg, &v, false, -ENOBUFS);
					done++;
					continue;
				}
			}
			rw = kmbox_handoff_target_locked(mb, msg, &wk, w->handoff_only);
			if (!rw && w->handoff_only) {
				ret = -EAGAIN;
				break;
			}
			ret = kmbox_send_commit_locked(kf, msg, now);
			if (ret)
				break;
			atomic_inc(&mb->used);
			msg->seq = mb->seq++;
			if (!rw || !kmbox_handoff_locked(mb, rw, msg, &wk)) {
				kmbox_enqueue_locked(mb, msg, &tw);
				queued = true;
				urgent |= msg->prio >= mb->urgent_prio;
			}
			done++;
		}
		if (queued)
			kmbox_wake_receiver_locked(mb, &wk);
		if (done)
			kmbox_pool_refill_locked(kf);
		else if (!ret && !w->nonblock)
			mb->st.full_waits++;
		spin_unlock(&mb->lock);
		if (done || ret)
			break;
		ret = kmbox_wait_event(&mb->wr_wait, EPOLLOUT | EPOLLWRNORM, &mb->wr_waiters,
				       msgs[0]->prio >= mb->urgent_prio ?
				       kmbox_has_urgent_room : kmbox_has_room, mb, w);
		if (ret)
			break;
		waited = true;
	}
	if (unlikely(v.head || v.slots_freed))
		kmbox_victims_free(mb, &v);
	if (!done) {
		/*
		 * A slot that went bad while we slept (another user of the
		 * file released it): we may have been the sender woken for
		 * the room, so pass it on.
		 */
		if (ret == -EINVAL && kmbox_has_room(mb) && wq_has_sleeper(&mb->wr_wait))
			wake_up_interruptible_poll(&mb->wr_wait, EPOLLOUT | EPOLLWRNORM);
		return ret;
	}

	kmbox_wake_chosen(&wk);
	kmbox_tags_wake_noted(mb, &tw);
	kmbox_wake_readers(mb, queued, urgent);
	/*
	 * Room left: the next sender's turn, if we took a wake-up that made
	 * room for more than us (a batch received).  A sender that did not
	 * wait took none: whoever made the room woke a sleeper for it.
	 */
	if (waited && kmbox_has_room(mb) && wq_has_sleeper(&mb->wr_wait))
		wake_up_interruptible_poll(&mb->wr_wait, EPOLLOUT | EPOLLWRNORM);
	return done;
}

/**
 * kmbox_send_msg() - send one prepared message: kmbox_send_one()
 * @kf: the sending file (bound)
 * @msg: the message; consumed (queued, delivered, or freed) in every case
 * @w: how to wait
 * @sync: wait until a receiver's receive has returned it
 *
 * A send that is neither synchronous nor to a rendezvous mailbox (the
 * common one) goes straight to kmbox_send_many(): no synchronous waiter
 * is built on the stack for it.
 *
 * Return: as kmbox_send_one().
 */
int kmbox_send_msg(struct kmbox_file *kf, struct kmbox_msg *msg, const struct kmbox_wait *w,
		   bool sync)
{
	int ret;

	if (sync || kf->mb->rendezvous)
		return kmbox_send_one(kf, msg, w, sync);
	ret = kmbox_send_many(kf, &msg, 1, w);
	if (ret >= 0)
		return 0;
	kmbox_msg_free(kf->mb, msg);
	return ret;
}

/*
 * Under kmbox->lock: take a run of messages off the queue at once, from
 * @first, the first queued, along its priority's ring: constant work
 * under the lock for the queue itself (one cut of the ring, one change to
 * the tree), however long the run.  The run is the longest of copied
 * messages (no slot), not synchronous, without a deadline, each fitting
 * its buffer in @bufsz, at most @n: each would have been taken by
 * kmbox_dequeue_locked() one after the other, and is counted and traced
 * the same way.  The caller has ruled out the tag index.
 *
 * Return: how many were taken into @msgs; 0 (nothing done) for a run
 * shorter than two, which the caller takes one by one.
 */
static unsigned int kmbox_take_run_locked(struct kmbox *mb, struct kmbox_msg *first,
					  struct kmbox_msg **msgs, const u32 *bufsz,
					  unsigned int n, u64 *now)
{
	struct kmbox_msg *m = first, *next;
	unsigned int i, k = 0;
	u64 bytes = 0;

	lockdep_assert_held(&mb->lock);
	do {
		if (m->expires || m->slot != KMBOX_NO_SLOT || m->sync || m->len > bufsz[k])
			break;
		msgs[k++] = m;
		m = list_next_entry(m, link);
	} while (k < n && m != first);
	if (k < 2)
		return 0;

	/* Cut msgs[0 .. k - 1] out of the ring; next takes first's place. */
	next = list_next_entry(msgs[k - 1], link);
	if (next == first) {
		rb_erase_cached(&first->node, &mb->queue);
	} else {
		struct list_head *last = first->link.prev;

		next->link.prev = last;
		last->next = &next->link;
		rb_replace_node_cached(&first->node, &next->node, &mb->queue);
	}
	RB_CLEAR_NODE(&first->node);

	if (!*now)
		*now = ktime_get_ns();
	for (i = 0; i < k; i++) {
		/* As kmbox_recv_match() counts one taken alone. */
		u64 qtime = *now > msgs[i]->send_ns ? *now - msgs[i]->send_ns : 1;

		m = msgs[i];
		/* Off the queue, as list_del() leaves it. */
		m->link.next = LIST_POISON1;
		m->link.prev = LIST_POISON2;
		bytes += m->len;
		kmbox_stat_out_locked(mb, m, qtime);
		trace_kmbox_recv(mb, m, qtime);
	}
	WRITE_ONCE(mb->nr_msgs, mb->nr_msgs - k);
	mb->bytes -= bytes;
	return k;
}

/**
 * kmbox_recv_many() - take up to @n messages off the queue
 * @kf: the receiving file (bound)
 * @msgs: out: the messages taken, in order
 * @bufsz: size of the buffer each message is for
 * @n: how many at most
 * @zc: zero-copy messages are handed over as slots (they need no buffer;
 *	their slots are taken for this file, and become its own when
 *	kmbox_consume() delivers them)
 * @w: how to wait for the first message
 * @need: out: with -EMSGSIZE, the length of the message that did not fit
 *
 * A message that does not fit its buffer stays queued and ends the batch.
 * A receiver that has to wait may be handed its message by the sender.
 * The caller copies the payloads out and then calls kmbox_consume(), or
 * kmbox_requeue() for those it could not deliver.
 *
 * Return: how many were taken (>= 1), or -EMSGSIZE, -EAGAIN, -ETIMEDOUT,
 * -ERESTARTSYS, or -EIO if the slot state machine refused (a kmbox bug).
 */
int kmbox_recv_many(struct kmbox_file *kf, struct kmbox_msg **msgs, const u32 *bufsz,
		    unsigned int n, bool zc, const struct kmbox_wait *w, u32 *need)
{
	return kmbox_recv_match(kf, msgs, bufsz, n, zc, w, need, NULL);
}

/**
 * kmbox_recv_match() - kmbox_recv_many() with a filter
 * @kf: the receiving file (bound)
 * @msgs: out: the messages taken, in order
 * @bufsz: size of the buffer each message is for
 * @n: how many at most
 * @zc: zero-copy messages are handed over as slots
 * @w: how to wait for the first message
 * @need: out: with -EMSGSIZE, the length of the message that did not fit
 * @m: take only messages whose tag matches @m; NULL: @kf's filter, as it
 *	is when the call starts
 *
 * As kmbox_recv_many(), among the matching messages only.  A receiver
 * with a filter that lets everything through waits on rd_list and may be
 * handed its message; any other waits on flt_wait (tags.c).
 *
 * Return: as kmbox_recv_many().
 */
int kmbox_recv_match(struct kmbox_file *kf, struct kmbox_msg **msgs, const u32 *bufsz,
		     unsigned int n, bool zc, const struct kmbox_wait *w, u32 *need,
		     const struct kmbox_match *m)
{
	struct kmbox_wakeups wk = { .n = 0 };
	struct kmbox_victims v = { .head = NULL };
	struct kmbox *mb = kf->mb;
	struct kmbox_match f;
	bool first = true, waited = false;
	unsigned int got = 0;
	int ret = 0;

	for (;;) {
		/*
		 * The time a message spent queued, for the statistics: read
		 * the clock before locking when a message is likely there, so
		 * that the lock is not held across it (a sender waits for
		 * it).  One that finds the queue empty sleeps without
		 * reading it: a message handed to it spent no time queued.
		 */
		u64 now = kmbox_has_msg(mb) ? ktime_get_ns() : 0;

		spin_lock(&mb->lock);
		if (first) {
			/* The file's filter as the call starts: see tags.c. */
			f = m ? *m : kf->filter;
			first = false;
		}
		while (got < n) {
			struct kmbox_msg *msg = likely(!f.mask) ? kmbox_queue_first(mb) :
						kmbox_tags_first_locked(mb, &f);
			bool as_slot;
			u64 qtime;

			if (!msg)
				break;
			/* A run that can be taken at once (see there). */
			if (likely(!f.mask) && n - got > 1 && !mb->tags_indexed) {
				unsigned int k = kmbox_take_run_locked(mb, msg, msgs + got,
								       bufsz + got, n - got, &now);

				if (k) {
					got += k;
					continue;
				}
			}
			/* Never delivered once expired: freed, look again. */
			if (unlikely(msg->expires) && kmbox_expired_locked(mb, msg, &now, &v))
				continue;
			as_slot = zc && msg->slot != KMBOX_NO_SLOT;
			if (!as_slot && msg->len > bufsz[got]) {
				if (!got) {
					*need = msg->len;
					ret = -EMSGSIZE;
				}
				break;
			}
			if (msg->sync && kmbox_sync_take_locked(mb, msg)) {
				if (!got)
					ret = -EIO;
				break;
			}
			if (msg->slot != KMBOX_NO_SLOT &&
			    kmbox_zc_take_locked(mb, msg->slot, as_slot ? kf : NULL)) {
				if (msg->sync)
					kmbox_sync_untake_locked(mb, msg);
				if (!got)
					ret = -EIO;
				break;
			}
			kmbox_dequeue_locked(mb, msg);
			/* One clock read per lock round, only if one is taken. */
			if (!now)
				now = ktime_get_ns();
			/*
			 * The clock may have been read before this message was
			 * stamped and queued: it was queued all the same, so it
			 * waited 1 ns at least (0 is a hand-off's).
			 */
			qtime = now > msg->send_ns ? now - msg->send_ns : 1;
			kmbox_stat_out_locked(mb, msg, qtime);
			trace_kmbox_recv(mb, msg, qtime);
			msgs[got++] = msg;
		}
		if (got || ret) {
			if (got && unlikely(w->loss))
				kmbox_loss_take_locked(mb, kf, w->loss);
			/* Messages left behind: the next receiver's turn. */
			if (mb->nr_msgs)
				kmbox_wake_receiver_locked(mb, &wk);
			spin_unlock(&mb->lock);
			break;
		}
		if (unlikely(v.head)) {
			/* Only expired ones: free them, wake a sender, look again. */
			spin_unlock(&mb->lock);
			kmbox_expired_free(mb, &v);
			continue;
		}
		if (w->nonblock) {
			spin_unlock(&mb->lock);
			return -EAGAIN;
		}
		/* Once a call, however often a filtered receiver looks again. */
		if (!waited) {
			mb->st.empty_waits++;
			waited = true;
		}
		if (f.mask) {
			/* Not on rd_list: never handed a message, woken to look. */
			ret = kmbox_tags_wait_locked(mb, &f, w);
			if (ret)
				return ret;
		} else {
			ret = kmbox_recv_wait_locked(kf, bufsz[0], zc, n > 1, w, &msgs[0]);
			if (ret) {
				if (ret < 0)
					return ret;
				/* Handed over: never queued. */
				trace_kmbox_recv(mb, msgs[0], 0);
				return 1;
			}
		}
	}
	kmbox_wake_chosen(&wk);
	if (unlikely(v.head))
		kmbox_expired_free(mb, &v);
	return got ?: ret;
}

/**
 * kmbox_requeue() - put back messages taken by kmbox_recv_many()
 * @kf: the receiving file
 * @msgs: the messages
 * @n: how many
 *
 * Each returns to its old place (same priority and arrival number), and
 * its slot, if any, is queued again.  The room they took never changed
 * hands (used counted them all along), so no sender is woken and no
 * signal is sent; only a receiver that went to sleep meanwhile is woken.
 */
void kmbox_requeue(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n)
{
	struct kmbox_wakeups wk = { .n = 0 };
	struct kmbox_tagwake tw = { .n = 0 };
	struct kmbox *mb = kf->mb;
	unsigned int i, lost = 0;

	if (!n)
		return;
	spin_lock(&mb->lock);
	for (i = 0; i < n; i++) {
		struct kmbox_msg *msg = msgs[i];

		/* Not received after all. */
		kmbox_stat_unout_locked(mb, msg);
		trace_kmbox_requeue(mb, msg);
		/* A slot in the wrong state: never queue what points at it. */
		if (msg->slot != KMBOX_NO_SLOT && kmbox_zc_untake_locked(mb, msg->slot)) {
			if (msg->sync)
				kmbox_sync_drop_locked(mb, msg, -EIO);
			msgs[lost++] = msg;
			continue;
		}
		/* Nor what a killed synchronous sender or caller left. */
		if (msg->sync && kmbox_sync_untake_locked(mb, msg)) {
			msgs[lost++] = msg;
			continue;
		}
		kmbox_enqueue_locked(mb, msg, &tw);
	}
	kmbox_wake_receiver_locked(mb, &wk);
	spin_unlock(&mb->lock);
	kmbox_wake_chosen(&wk);
	kmbox_tags_wake_noted(mb, &tw);
	if (wq_has_sleeper(&mb->rd_wait))
		wake_up_interruptible_poll(&mb->rd_wait, EPOLLIN | EPOLLRDNORM);
	if (lost) {
		atomic_sub(lost, &mb->used);
		kmbox_wake_writers(mb);
		kmbox_msg_free_many(mb, msgs, lost);
	}
}

/**
 * kmbox_consume() - finish delivered messages
 * @kf: the receiving file
 * @msgs: messages taken by kmbox_recv_many() and delivered
 * @n: how many
 * @calls: the receive reported reply tokens (KMBOX_F_CALLS)
 *
 * Their room is free now: senders are woken.  A slot taken as a slot
 * becomes @kf's; a slot whose payload was copied out is free.  A
 * synchronous sender is done; a call's request waits for its reply in
 * @kf's table, or fails its caller if @calls is false (call.c).
 */
void kmbox_consume(struct kmbox_file *kf, struct kmbox_msg **msgs, unsigned int n, bool calls)
{
	struct kmbox *mb = kf->mb;
	bool freed = false;
	unsigned int i;

	if (!n)
		return;
	/* A waiter may detach itself (call.c): look again under the lock. */
	for (i = 0; i < n && msgs[i]->slot == KMBOX_NO_SLOT && !READ_ONCE(msgs[i]->sync); i++)
		;
	if (i == n) {
		/* Copied messages only: kmbox_wake_writers() orders this. */
		atomic_sub(n, &mb->used);
	} else {
		/*
		 * With the slots' and waiters' states, so that a snapshot under
		 * the lock never sees a slot taken whose message is no longer
		 * counted.
		 */
		spin_lock(&mb->lock);
		for (; i < n; i++) {
			if (msgs[i]->slot != KMBOX_NO_SLOT)
				freed |= kmbox_zc_deliver_locked(mb, msgs[i]->slot) > 0;
			if (msgs[i]->sync)
				kmbox_sync_deliver_locked(mb, msgs[i], kf, calls);
		}
		atomic_sub(n, &mb->used);
		spin_unlock(&mb->lock);
	}
	kmbox_wake_writers(mb);
	if (freed)
		kmbox_zc_wake(mb);
	kmbox_msg_free_many(mb, msgs, n);
}

/**
 * kmbox_poll_mask() - readiness of @mb for a file opened with @fmode
 * @mb: the mailbox
 * @fmode: the file's f_mode
 *
 * Return: EPOLLIN|EPOLLRDNORM when a message is queued (and EPOLLPRI when
 * an urgent one is), EPOLLOUT|
 * EPOLLWRNORM when one more fits, EPOLLWRBAND when a zero-copy slot is
 * free; the first two only for files open for reading, resp. writing.
 */
__poll_t kmbox_poll_mask(struct kmbox *mb, fmode_t fmode)
{
	__poll_t mask = 0;

	if ((fmode & FMODE_READ) && kmbox_has_msg(mb)) {
		mask |= EPOLLIN | EPOLLRDNORM;
		/* The urgent lane: the queue's first message is urgent. */
		if (unlikely(mb->urgent_prio < KMBOX_PRIO_MAX)) {
			spin_lock(&mb->lock);
			if (kmbox_has_urgent_locked(mb))
				mask |= EPOLLPRI;
			spin_unlock(&mb->lock);
		}
	}
	if (fmode & FMODE_WRITE) {
		/* A rendezvous mailbox takes a message while a receiver waits. */
		if (kmbox_has_room(mb) && (!mb->rendezvous || READ_ONCE(mb->rd_waiters)))
			mask |= EPOLLOUT | EPOLLWRNORM;
		if (mb->region && kmbox_zc_nfree(mb))
			mask |= EPOLLWRBAND;
	}
	return mask;
}

/**
 * kmbox_getattr() - snapshot of @kf's mailbox, as KMBOX_IOC_GETATTR says
 * @kf: a bound file
 * @attr: out
 */
void kmbox_getattr(struct kmbox_file *kf, struct kmbox_attr *attr)
{
	struct kmbox *mb = kf->mb;

	memset(attr, 0, sizeof(*attr));
	spin_lock(&mb->lock);
	attr->max_msgs = mb->max_msgs;
	attr->max_msgsize = mb->max_msgsize;
	attr->cur_msgs = mb->nr_msgs;
	attr->cur_bytes = mb->bytes;
	if (mb->region) {
		struct kmbox_zc_counts c;

		kmbox_zc_counts_locked(mb, &c);
		attr->zc_slots = c.slots;
		attr->zc_slot_size = c.slot_size;
		attr->zc_free = c.free;
	}
	attr->zc_held = kf->zc_held;
	attr->zc_completed = kf->zc_completed;
	spin_unlock(&mb->lock);
	attr->rd_waiters = READ_ONCE(mb->rd_waiters) + atomic_read(&mb->flt_sleepers);
	attr->wr_waiters = atomic_read(&mb->wr_waiters);
	if (mb->name)
		attr->flags |= KMBOX_ATTR_NAMED;
	if (READ_ONCE(mb->unlinked))
		attr->flags |= KMBOX_ATTR_UNLINKED;
	if (mb->rendezvous)
		attr->flags |= KMBOX_ATTR_RENDEZVOUS;
}

/**
 * kmbox_file_detach() - a bound file is going away
 * @kf: the file's private data
 *
 * Gives its spare buffer back to the pool, gives back every slot @kf
 * holds and forgets it as a sender.
 */
void kmbox_file_detach(struct kmbox_file *kf)
{
	struct kmbox *mb = kf->mb;
	struct kmbox_msg *spare = xchg(&kf->spare, NULL);
	bool freed;

	if (spare)
		llist_add(&spare->pool_node, &mb->pool);
	/* Nothing else uses the file now: its table can be read unlocked. */
	if (!RB_EMPTY_ROOT(&kf->calls)) {
		spin_lock(&mb->lock);
		kmbox_calls_detach_locked(kf);
		spin_unlock(&mb->lock);
	}
	if (!mb->region || !kf->zc_used)
		return;
	spin_lock(&mb->lock);
	freed = kmbox_zc_file_detach_locked(kf);
	spin_unlock(&mb->lock);
	if (freed)
		kmbox_zc_wake(mb);
}
