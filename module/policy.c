// SPDX-License-Identifier: GPL-2.0
/*
 * Overflow policies, loss counts and the urgent lane.
 *
 * Policies.  A mailbox's policy (struct kmbox_qos, fixed at creation)
 * decides what a send does when the message finds no room:
 *  - KMBOX_POLICY_BLOCK waits for room, as every mailbox always did; the
 *    send path tests the policy only once it has found no room, so the
 *    hot path of such a mailbox is what it was;
 *  - KMBOX_POLICY_DROP_OLDEST takes out the oldest message of the lowest
 *    priority queued, as many as it takes to make room, and queues the new
 *    one.  A new message of a lower priority than every queued one is
 *    itself the oldest message of the lowest priority: it is dropped on
 *    arrival, and the send still succeeds.  Messages in flight to a
 *    receiver are not in the queue and are never dropped: if they alone
 *    fill the mailbox, the send waits as with BLOCK;
 *  - KMBOX_POLICY_REJECT fails the send with EAGAIN at once, blocking or
 *    not, and counts it;
 *  - KMBOX_POLICY_REPLACE looks, on every send, for a queued message with
 *    the new one's tag (the first of them in receive order, one descent of
 *    the tag index) and puts the new message in its place: it takes the
 *    old one's arrival number, and the old one is freed.  Nothing to
 *    replace: as BLOCK.
 * Everything happens under kmbox->lock, in the sender's lock round, so a
 * receiver never sees a mailbox between a drop and the send that made it.
 *
 * What a discarded message leaves behind (kmbox_discard_locked()): its
 * room is taken by the new message at once (the caller holds the lock),
 * so nobody is woken for it; a zero-copy slot moves QUEUED -> TAKEN ->
 * free through region.c's state machine, exactly as if a receiver had
 * copied it out (the sender's zc_completed counts it; reservers are woken
 * after the lock round); a synchronous sender or a caller waiting for it
 * is told with ENOBUFS (call.c), at once, as a receiving file that closes
 * tells it EPIPE, and a synchronous zero-copy sender gets its slot back,
 * reserved (QUEUED -> RESERVED, kmbox_zc_unsend_locked()), as one that
 * gives up does: its send failed.  The messages are freed after the lock
 * is dropped.
 *
 * Loss counts.  kmbox->loss counts, under the lock, each message the
 * mailbox dropped, refused or replaced.  A receive that reports losses
 * (KMBOX_IOC_RECVX) takes, under the lock round in which it takes its
 * message, the difference between those totals and the file's
 * kmbox_file->loss_seen, and moves loss_seen up to them: the receiver
 * learns, with the message, how much it missed since its previous such
 * receive.  Receives that cannot report them (read(), KMBOX_IOC_RECV,
 * batches) do not move loss_seen, so no loss is ever forgotten, and they
 * pay nothing.  A receive that fails after taking its message gives the
 * difference back (kmbox_loss_untake()).
 *
 * The urgent lane.  Messages of priority urgent_prio and above are urgent.
 * The queue is ordered by priority, so one is queued exactly when the
 * leftmost message is urgent (kmbox_has_urgent_locked()).  The room test
 * is against max_msgs for an urgent message and normal_max (max_msgs less
 * the urgent room) for any other (kmbox_room_limit()): one comparison,
 * whatever the mailbox.  Poll reports EPOLLPRI while an urgent message is
 * queued; a send that queues one wakes the EPOLLPRI pollers and, as a
 * socket's urgent data does (sock_wake_async(SOCK_WAKE_URG)), calls
 * kill_fasync(SIGURG, POLL_PRI): every O_ASYNC file whose owner chose a
 * signal with F_SETSIG gets it once more, with si_code POLL_PRI and
 * si_band POLLPRI (F_SETSIG of SIGURG makes it SIGURG).  A file without
 * F_SETSIG gets its one SIGIO per message only: the kernel's
 * send_sigurg(), with which a socket also signals an owner that did not
 * ask, is not exported to modules.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/string.h>

#include "kmbox.h"
#include "trace.h"

/**
 * kmbox_qos_check() - can a mailbox be created with @q?
 * @q: the creator's struct kmbox_qos
 * @attr: the resolved attributes, or NULL to check only what does not
 *	depend on them (the room against max_msgs)
 *
 * Return: 0 or -EINVAL.
 */
int kmbox_qos_check(const struct kmbox_qos *q, const struct kmbox_attr *attr)
{
	if (q->policy > KMBOX_POLICY_REPLACE || q->__pad || q->ttl_ns > KTIME_MAX ||
	    memchr_inv(q->__reserved, 0, sizeof(q->__reserved)))
		return -EINVAL;
	if (q->urgent_prio >= KMBOX_PRIO_MAX || (!q->urgent_prio && q->urgent_room))
		return -EINVAL;
	if (!attr)
		return 0;
	if (q->urgent_room >= attr->max_msgs)
		return -EINVAL;
	/* Nothing is buffered: nothing to drop, refuse, replace or reserve. */
	if ((attr->flags & KMBOX_ATTR_RENDEZVOUS) &&
	    (q->policy != KMBOX_POLICY_BLOCK || q->urgent_room || q->ttl_ns))
		return -EINVAL;
	return 0;
}

/**
 * kmbox_qos_init() - set a new mailbox's policy and urgent lane
 * @mb: the mailbox, not yet published, max_msgs set
 * @q: checked with kmbox_qos_check(), or NULL for the defaults
 */
void kmbox_qos_init(struct kmbox *mb, const struct kmbox_qos *q)
{
	mb->policy = q ? q->policy : KMBOX_POLICY_BLOCK;
	mb->urgent_prio = q && q->urgent_prio ? q->urgent_prio : KMBOX_PRIO_MAX;
	mb->normal_max = mb->max_msgs - (q ? q->urgent_room : 0);
	mb->ttl_ns = q ? q->ttl_ns : 0;
	mb->send_hooks = mb->ttl_ns || mb->policy == KMBOX_POLICY_REPLACE;
}

/**
 * kmbox_qos_read() - KMBOX_IOC_QOS: the policy, urgent lane and totals
 * @mb: the mailbox
 * @q: out
 */
void kmbox_qos_read(struct kmbox *mb, struct kmbox_qos *q)
{
	memset(q, 0, sizeof(*q));
	q->policy = mb->policy;
	if (mb->urgent_prio < KMBOX_PRIO_MAX) {
		q->urgent_prio = mb->urgent_prio;
		q->urgent_room = mb->max_msgs - mb->normal_max;
	}
	q->ttl_ns = mb->ttl_ns;
	spin_lock(&mb->lock);
	q->lost = mb->loss;
	spin_unlock(&mb->lock);
}

/**
 * kmbox_has_urgent_locked() - is an urgent message queued?
 * @mb: the mailbox, locked (or a racy look, for poll's fast answer)
 *
 * Return: true if the first message in receive order is urgent.
 */
bool kmbox_has_urgent_locked(struct kmbox *mb)
{
	struct kmbox_msg *first = kmbox_queue_first(mb);

	return first && first->prio >= mb->urgent_prio;
}

/**
 * kmbox_discard_locked() - a message is lost for good
 * @mb: the mailbox, locked
 * @msg: a queued message, or (!@queued) one being sent, counted as sent,
 *	its slot queued, that is dropped on arrival
 * @v: where it goes, to be freed after the lock round
 * @queued: @msg is in the queue: take it out, and give its room back
 *	(the caller takes the room at once, or wakes a sender)
 * @err: what a synchronous sender or caller waiting for it gets:
 *	-ENOBUFS (the policy discarded it), -ETIMEDOUT (it expired)
 *
 * Its slot is freed through the slot state machine, a waiter for it fails
 * with @err.
 */
void kmbox_discard_locked(struct kmbox *mb, struct kmbox_msg *msg, struct kmbox_victims *v,
			  bool queued, int err)
{
	lockdep_assert_held(&mb->lock);
	if (queued)
		kmbox_unqueue_locked(mb, msg);
	else
		trace_kmbox_drop(mb, msg);
	/*
	 * A waiter's send fails: it keeps its slot, reserved, as when it
	 * withdraws.  Any other: QUEUED -> TAKEN by nobody -> free, a
	 * copied-out message's path.
	 */
	if (msg->slot == KMBOX_NO_SLOT)
		;
	else if (msg->sync && kmbox_sync_unsend_locked(mb, msg))
		;	/* freeing the message leaves the slot alone */
	else if (!kmbox_zc_take_locked(mb, msg->slot, NULL) &&
		 kmbox_zc_deliver_locked(mb, msg->slot) > 0)
		v->slots_freed = true;
	if (msg->sync)
		kmbox_sync_drop_locked(mb, msg, err);
	msg->pool_node.next = v->head;
	v->head = &msg->pool_node;
}

/* The oldest message of the lowest priority queued: its ring's first. */
static struct kmbox_msg *kmbox_oldest_lowest_locked(struct kmbox *mb)
{
	return kmbox_queue_oldest_lowest(mb);
}

/**
 * kmbox_overflow_locked() - @msg finds no room: apply the policy
 * @mb: the mailbox, locked; not KMBOX_POLICY_BLOCK
 * @msg: the message being sent
 * @limit: kmbox_room_limit() for @msg
 * @v: messages dropped to make room go here
 *
 * Return: what the caller does with @msg (enum kmbox_ovf).  With
 * KMBOX_OVF_GO there is room for @msg now.
 */
enum kmbox_ovf kmbox_overflow_locked(struct kmbox *mb, struct kmbox_msg *msg, u32 limit,
				     struct kmbox_victims *v)
{
	struct kmbox_msg *old;

	lockdep_assert_held(&mb->lock);
	switch (mb->policy) {
	case KMBOX_POLICY_REJECT:
		return KMBOX_OVF_REJECT;
	case KMBOX_POLICY_DROP_OLDEST:
		while (atomic_read(&mb->used) >= limit) {
			old = kmbox_oldest_lowest_locked(mb);
			if (!old)
				return KMBOX_OVF_WAIT;	/* all in flight */
			if (old->prio > msg->prio)
				return KMBOX_OVF_SELF;
			mb->loss.dropped++;
			kmbox_discard_locked(mb, old, v, true, -ENOBUFS);
		}
		return KMBOX_OVF_GO;
	default:	/* REPLACE found nothing to replace: as BLOCK */
		return KMBOX_OVF_WAIT;
	}
}

/**
 * kmbox_replace_find_locked() - the queued message @msg replaces, if any
 * @mb: the mailbox, locked; KMBOX_POLICY_REPLACE
 * @msg: the message being sent (its tag set)
 *
 * Return: the first queued message, in receive order, with @msg's tag, or
 * NULL.
 */
struct kmbox_msg *kmbox_replace_find_locked(struct kmbox *mb, const struct kmbox_msg *msg)
{
	struct kmbox_match m = { .tag = msg->tag, .mask = U64_MAX };

	return kmbox_tags_first_locked(mb, &m);
}

/**
 * kmbox_victims_free() - after the lock round: free what it discarded
 * @mb: the mailbox, unlocked
 * @v: the messages
 */
void kmbox_victims_free(struct kmbox *mb, struct kmbox_victims *v)
{
	struct llist_node *node = v->head, *next;

	for (; node; node = next) {
		next = node->next;
		kmbox_msg_free(mb, container_of(node, struct kmbox_msg, pool_node));
	}
	if (v->slots_freed)
		kmbox_zc_wake(mb);
}

/**
 * kmbox_expire_send_locked() - @msg is being sent at @now: give it the
 * mailbox's time to live unless it has a deadline of its own
 * @mb: the mailbox, locked
 * @msg: the message
 * @now: host CLOCK_MONOTONIC
 *
 * Return: true if its deadline has passed already: the caller discards
 * it, as expired, instead of sending it.
 */
bool kmbox_expire_send_locked(struct kmbox *mb, struct kmbox_msg *msg, u64 now)
{
	lockdep_assert_held(&mb->lock);
	/* Saturated: a TTL beyond KTIME_MAX never comes. */
	if (!msg->expires && mb->ttl_ns)
		msg->expires = now + min_t(u64, mb->ttl_ns, KTIME_MAX - now);
	if (!msg->expires)
		return false;
	if (msg->expires <= now)
		return true;
	mb->may_expire = true;
	return false;
}

/**
 * kmbox_expired_locked() - a receive or peek meets @msg: has it expired?
 * @mb: the mailbox, locked
 * @msg: a queued message
 * @now: host time, read here the first time it is needed (0: not yet)
 * @v: an expired @msg goes here: kmbox_expired_free() after unlocking
 *
 * Return: true if @msg expired: it is out of the queue, counted, its
 * waiter told ETIMEDOUT; look again.
 */
bool kmbox_expired_locked(struct kmbox *mb, struct kmbox_msg *msg, u64 *now,
			  struct kmbox_victims *v)
{
	if (!msg->expires)
		return false;
	if (!*now)
		*now = ktime_get_ns();
	if (msg->expires > *now)
		return false;
	mb->loss.expired++;
	kmbox_discard_locked(mb, msg, v, true, -ETIMEDOUT);
	return true;
}

/**
 * kmbox_expire_purge_locked() - a full mailbox: free its expired messages
 * @mb: the mailbox, locked
 * @now: host CLOCK_MONOTONIC
 * @v: they go here
 *
 * A walk of the whole queue, made only when a send finds no room in a
 * mailbox where a message with a deadline was once queued.
 *
 * Return: true if any was freed (there is room now).
 */
bool kmbox_expire_purge_locked(struct kmbox *mb, u64 now, struct kmbox_victims *v)
{
	struct kmbox_msg *msg, *next;
	bool any = false;

	lockdep_assert_held(&mb->lock);
	if (!mb->may_expire)
		return false;
	for (msg = kmbox_queue_first(mb); msg; msg = next) {
		/* Found before @msg goes: taking it out leaves the rest as is. */
		next = kmbox_queue_next(msg);
		if (msg->expires && msg->expires <= now) {
			mb->loss.expired++;
			kmbox_discard_locked(mb, msg, v, true, -ETIMEDOUT);
			any = true;
		}
	}
	return any;
}

/**
 * kmbox_expired_free() - after a receive's lock round that met expired
 * messages: free them, and wake a sender for the room they leave
 * @mb: the mailbox, unlocked
 * @v: the messages
 */
void kmbox_expired_free(struct kmbox *mb, struct kmbox_victims *v)
{
	kmbox_victims_free(mb, v);
	kmbox_wake_room(mb);
	v->head = NULL;
	v->slots_freed = false;
}

/**
 * kmbox_loss_take_locked() - a loss-reporting receive takes its message
 * @mb: the mailbox, locked
 * @kf: the receiving file
 * @out: the losses since @kf's previous such receive
 */
void kmbox_loss_take_locked(struct kmbox *mb, struct kmbox_file *kf, struct kmbox_loss *out)
{
	lockdep_assert_held(&mb->lock);
	out->dropped = mb->loss.dropped - kf->loss_seen.dropped;
	out->rejected = mb->loss.rejected - kf->loss_seen.rejected;
	out->replaced = mb->loss.replaced - kf->loss_seen.replaced;
	out->expired = mb->loss.expired - kf->loss_seen.expired;
	kf->loss_seen = mb->loss;
}

/**
 * kmbox_loss_untake() - the receive failed after all: its losses go back
 * @kf: the receiving file
 * @l: what kmbox_loss_take_locked() gave it
 *
 * The next loss-reporting receive of @kf reports them again.
 */
void kmbox_loss_untake(struct kmbox_file *kf, const struct kmbox_loss *l)
{
	spin_lock(&kf->mb->lock);
	kf->loss_seen.dropped -= l->dropped;
	kf->loss_seen.rejected -= l->rejected;
	kf->loss_seen.replaced -= l->replaced;
	kf->loss_seen.expired -= l->expired;
	spin_unlock(&kf->mb->lock);
}

/**
 * kmbox_loss_bind() - a file is bound: its first loss-reporting receive
 * reports what was lost from now on
 * @kf: the file, bound
 */
void kmbox_loss_bind(struct kmbox_file *kf)
{
	spin_lock(&kf->mb->lock);
	kf->loss_seen = kf->mb->loss;
	spin_unlock(&kf->mb->lock);
}
