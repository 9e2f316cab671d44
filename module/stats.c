// SPDX-License-Identifier: GPL-2.0
/*
 * Always-on statistics of each mailbox: messages and bytes in and out,
 * hand-offs, waits for room and for messages, the deepest the queue got
 * and a log2 histogram of the time messages spent queued.
 *
 * Cost.  Every count lives in struct kmbox_mbstats inside the mailbox and
 * changes under kmbox->lock, at places that hold it already (mbox.c): a
 * send adds to two counters, a receive to three and one histogram bucket.
 * No atomics and no allocation.  The counters a message changes share
 * one cache line (struct kmbox_mbstats is aligned to one), so a message
 * writes that line and the line of its bucket, both owned by whoever
 * holds the lock.  The time in queue is now - send_ns with one clock
 * read per receive lock round, and none for a hand-off (the message was
 * never queued: 0 ns, bucket 0).
 *
 * Exactness.  A message counts as received when a receiver takes it; a
 * receive that cannot deliver it (its buffer faulted) puts it back with
 * kmbox_requeue(), which takes it out of the counts again with the bucket
 * the message remembers.  So the buckets always add up to msgs_out.  A
 * reset in between bumps the generation, and the requeue leaves the new
 * counts alone.
 *
 * Readers: KMBOX_IOC_STATS (one mailbox, through a file bound to it) and
 * /proc/kmbox/mailbox_stats (every mailbox of the reader's IPC
 * namespace, as /proc/kmbox/mailboxes).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/seq_file.h>
#include <linux/string.h>

#include "kmbox.h"

/* The one place the tracepoints of trace.h are defined. */
#define CREATE_TRACE_POINTS
#include "trace.h"

/**
 * kmbox_stat_unout_locked() - @msg was put back: it was not received
 * @mb: the mailbox, locked
 * @msg: a message kmbox_stat_out_locked() counted
 */
void kmbox_stat_unout_locked(struct kmbox *mb, const struct kmbox_msg *msg)
{
	struct kmbox_mbstats *st = &mb->st;

	lockdep_assert_held(&mb->lock);
	/*
	 * Counted before a reset: the new counts never had it.  The
	 * generation is 8 bits: after 256 resets while one receive was in
	 * flight (a user can stall a copy-out) it may match again, so never
	 * go below zero either, and do not WARN: a user can get here.
	 */
	if (msg->qgen != st->gen || !st->hist[msg->qbucket] || !st->msgs_out)
		return;
	st->hist[msg->qbucket]--;
	st->msgs_out--;
	st->bytes_out -= min_t(u64, msg->len, st->bytes_out);
}

/**
 * kmbox_stats_read() - KMBOX_IOC_STATS: snapshot, and maybe reset, the counts
 * @kf: a bound file
 * @file: its file
 * @out: in: flags (checked by the caller); out: the snapshot, since_ns in
 *	host time; every field not set here zero
 *
 * Resetting needs @file open for writing (its opener could send: it had
 * write permission, or was given a writable file) or the caller to own
 * the mailbox; a reader of a read-only file cannot wipe what others
 * monitor.
 *
 * Return: 0, or -EPERM (reset refused; nothing read).
 */
int kmbox_stats_read(struct kmbox_file *kf, struct file *file, struct kmbox_stats *out)
{
	struct kmbox *mb = kf->mb;
	bool reset = out->flags & KMBOX_STATS_RESET;
	u32 flags = out->flags;
	struct kmbox_mbstats *st = &mb->st;

	if (reset && !(file->f_mode & FMODE_WRITE) && !uid_eq(current_fsuid(), mb->uid))
		return -EPERM;
	memset(out, 0, sizeof(*out));
	out->flags = flags;
	out->nbuckets = KMBOX_STATS_BUCKETS;

	spin_lock(&mb->lock);
	out->since_ns = st->since_ns;
	out->msgs_in = st->msgs_in;
	out->msgs_out = st->msgs_out;
	out->bytes_in = st->bytes_in;
	out->bytes_out = st->bytes_out;
	out->handoffs = st->handoffs;
	out->full_waits = st->full_waits;
	out->empty_waits = st->empty_waits;
	out->max_depth = st->max_depth;
	BUILD_BUG_ON(sizeof(out->qtime_hist) != sizeof(st->hist));
	memcpy(out->qtime_hist, st->hist, sizeof(st->hist));
	if (reset) {
		u8 gen = st->gen + 1;

		memset(st, 0, sizeof(*st));
		st->gen = gen;
		st->since_ns = ktime_get_ns();
		/* What is queued now is the new period's depth too. */
		st->max_depth = mb->nr_msgs;
	}
	spin_unlock(&mb->lock);
	return 0;
}

/**
 * kmbox_mbstats_show_one() - one line of /proc/kmbox/mailbox_stats
 * @m: the seq_file
 * @mb: a mailbox of the reader's namespace (RCU read-side section)
 *
 * qtime_hist is the buckets from 0 up to the last non-zero one, separated
 * by commas ("0" when no message was received).
 */
void kmbox_mbstats_show_one(struct seq_file *m, struct kmbox *mb)
{
	struct kmbox_mbstats st;
	int b, last = 0;

	spin_lock(&mb->lock);
	if (mb->dead) {
		spin_unlock(&mb->lock);
		return;
	}
	st = mb->st;
	spin_unlock(&mb->lock);

	seq_printf(m, "%llu %llu %llu %llu %llu %u %llu %llu %llu ", mb->id, st.msgs_in,
		   st.msgs_out, st.bytes_in, st.bytes_out, st.max_depth, st.handoffs,
		   st.full_waits, st.empty_waits);
	for (b = 0; b < KMBOX_STATS_BUCKETS; b++)
		if (st.hist[b])
			last = b;
	for (b = 0; b <= last; b++)
		seq_printf(m, b ? ",%llu" : "%llu", st.hist[b]);
	seq_putc(m, '\n');
}

/**
 * kmbox_mbstats_show() - /proc/kmbox/mailbox_stats
 * @m: the seq_file
 *
 * One line per mailbox of the reader's IPC namespace, each a snapshot
 * under its lock; the columns are in kmbox(4).
 */
void kmbox_mbstats_show(struct seq_file *m)
{
	seq_puts(m, "id msgs_in msgs_out bytes_in bytes_out max_depth handoffs full_waits empty_waits qtime_hist\n");
	kmbox_list_walk(m, kmbox_mbstats_show_one);
}
