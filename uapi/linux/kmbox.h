/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * kmbox: kernel-buffered message mailboxes behind /dev/kmbox.
 *
 * A file opened on /dev/kmbox is "unbound" until KMBOX_IOC_OPEN binds it
 * to a named mailbox (created or looked up in the caller's IPC namespace)
 * or to a new anonymous one.  From then on the file *is* the mailbox:
 * write() sends one message at priority 0, read() receives one, poll,
 * O_NONBLOCK, O_ASYNC/F_SETOWN/F_SETSIG and mmap behave as documented in
 * kmbox(4) and docs/semantics.md.  An unbound file accepts only KMBOX_IOC_INFO,
 * KMBOX_IOC_OPEN and KMBOX_IOC_UNLINK; everything else gives EBADFD.
 *
 * Conventions (Documentation/process/botching-up-ioctls.rst):
 *  - every field is fixed width, structs have no holes and the same size
 *    on 32 and 64 bit; user pointers travel as __u64;
 *  - unknown flag bits and non-zero __reserved fields give EINVAL;
 *  - time is an absolute CLOCK_MONOTONIC deadline in nanoseconds, used
 *    only when KMBOX_F_TIMEOUT is set, so a restarted call keeps it;
 *  - every time in or out is on the CLOCK_MONOTONIC of the calling
 *    process's time namespace (time_namespaces(7)): what clock_gettime()
 *    returns there.  A deadline that falls before the host booted has
 *    passed; one beyond the host's KTIME_MAX never comes.
 *
 * Zero-copy region: see "memory-ordering contract" at the top of
 * module/region.c.  The region holds payload bytes only; no index,
 * offset or length the kernel acts on ever lives in shared memory.
 */
#ifndef _UAPI_LINUX_KMBOX_H
#define _UAPI_LINUX_KMBOX_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define KMBOX_API_VERSION	1

#define KMBOX_NAME_MAX		255	/* bytes in a name, without the NUL */
#define KMBOX_PRIO_MAX		32768	/* priorities are 0 .. KMBOX_PRIO_MAX-1 */
#define KMBOX_BATCH_MAX		256	/* entries in one batch or slot call */
#define KMBOX_NO_SLOT		0xffffffffU
#define KMBOX_SLOT_MIN		64	/* smallest zero-copy slot, bytes */
#define KMBOX_SLOTS_MAX		65536	/* most slots in one region */

/* struct kmbox_info.features */
#define KMBOX_FEAT_ZEROCOPY	_BITULL(0)	/* mmap region + KMBOX_IOC_ZC_* */
#define KMBOX_FEAT_BATCH	_BITULL(1)	/* KMBOX_IOC_{SEND,RECV}_BATCH */
#define KMBOX_FEAT_CREDS	_BITULL(2)	/* sender pid/uid/gid in recv */
/* KMBOX_F_SYNC, KMBOX_ATTR_RENDEZVOUS, KMBOX_IOC_CALL/REPLY */
#define KMBOX_FEAT_SYNC		_BITULL(3)
#define KMBOX_FEAT_STATS	_BITULL(4)	/* KMBOX_IOC_STATS */
/* message tags: KMBOX_F_TAG, KMBOX_F_MATCH, KMBOX_F_PEEK, KMBOX_IOC_FILTER */
#define KMBOX_FEAT_TAGS		_BITULL(5)
/* overflow policies and loss counts: kmbox_open.qos, KMBOX_IOC_QOS, RECVX */
#define KMBOX_FEAT_POLICY	_BITULL(6)
/* the urgent lane: kmbox_qos.urgent_prio and urgent_room, EPOLLPRI, SIGURG */
#define KMBOX_FEAT_URGENT	_BITULL(7)
/* message expiry: KMBOX_F_EXPIRE, kmbox_qos.ttl_ns, kmbox_loss.expired */
#define KMBOX_FEAT_EXPIRY	_BITULL(8)
/* io_uring commands: KMBOX_URING_SEND, KMBOX_URING_RECV and their batches */
#define KMBOX_FEAT_URING	_BITULL(9)
/* losses in band on batch receives: KMBOX_IOC_RECV_BATCHX */
#define KMBOX_FEAT_BATCH_LOSS	_BITULL(10)
/* answer a call and wait for the next message at once: KMBOX_IOC_REPLY_RECV */
#define KMBOX_FEAT_REPLY_RECV	_BITULL(11)

/**
 * struct kmbox_info - answer to KMBOX_IOC_INFO (any /dev/kmbox file)
 * @api_version: KMBOX_API_VERSION of the running module
 * @prio_max: KMBOX_PRIO_MAX of the running module
 * @features: KMBOX_FEAT_* bits
 * @max_msgs_cap: largest max_msgs a mailbox may be created with
 * @max_msgsize_cap: largest max_msgsize a mailbox may be created with
 * @default_max_msgs: max_msgs used when the creator passes 0
 * @default_max_msgsize: max_msgsize used when the creator passes 0
 * @user_quota: bytes of kernel memory one user may pin (0 = no limit)
 * @region_cap: largest zero-copy region, bytes
 * @__reserved: zero
 */
struct kmbox_info {
	__u32	api_version;
	__u32	prio_max;
	__u64	features;
	__u32	max_msgs_cap;
	__u32	max_msgsize_cap;
	__u32	default_max_msgs;
	__u32	default_max_msgsize;
	__u64	user_quota;
	__u64	region_cap;
	__u64	__reserved[2];
};

/* struct kmbox_attr.flags (output only) */
#define KMBOX_ATTR_NONBLOCK	_BITUL(0)	/* this file has O_NONBLOCK */
#define KMBOX_ATTR_NAMED	_BITUL(1)	/* created with a name */
#define KMBOX_ATTR_UNLINKED	_BITUL(2)	/* named, and since unlinked */
/*
 * In and out: a zero-capacity mailbox.  Every send (write() included) is
 * synchronous, nothing is buffered beyond the senders that wait; cur_msgs
 * counts them and max_msgs bounds them.  The only input bit of flags: the
 * output bits above are ignored on input, any other bit is EINVAL.
 */
#define KMBOX_ATTR_RENDEZVOUS	_BITUL(3)

/**
 * struct kmbox_attr - mailbox limits and state
 * @max_msgs: in/out: messages the mailbox holds, 0 = module default
 * @max_msgsize: in/out: largest message, bytes; 0 = the zc_slot_size
 *	given with it if both zc_slots and zc_slot_size are non-zero (up
 *	to the module's max_msgsize_cap), else the module default
 * @cur_msgs: out: messages queued now
 * @flags: out: KMBOX_ATTR_* bits
 * @cur_bytes: out: payload bytes queued now (copied and zero-copy)
 * @zc_slots: in/out: slots in the zero-copy region, 0 = no region,
 *	at most KMBOX_SLOTS_MAX
 * @zc_slot_size: in/out: bytes per slot, a power of two from
 *	KMBOX_SLOT_MIN up to the module's max_msgsize_cap (0 with
 *	zc_slots != 0 means max_msgsize rounded up to a power of two); a
 *	zero-copy message holds at most min(zc_slot_size, max_msgsize)
 * @zc_free: out: slots free for KMBOX_IOC_ZC_RESERVE now
 * @zc_held: out: slots this file holds (reserved, or received and not
 *	yet released)
 * @zc_completed: out: zero-copy messages sent through this file whose
 *	slot has since come free: released by the receiver, read with a
 *	copy, or given back when the receiving file closed
 * @rd_waiters: out: receivers sleeping on the mailbox now
 * @wr_waiters: out: senders sleeping on the mailbox now
 * @__reserved: in: zero; out: zero
 *
 * Input to KMBOX_IOC_OPEN when it creates a mailbox (only the fields
 * marked "in" are read; output fields are ignored; __reserved must be
 * zero); output of KMBOX_IOC_GETATTR.
 */
struct kmbox_attr {
	__u32	max_msgs;
	__u32	max_msgsize;
	__u32	cur_msgs;
	__u32	flags;
	__u64	cur_bytes;
	__u32	zc_slots;
	__u32	zc_slot_size;
	__u32	zc_free;
	__u32	zc_held;
	__u64	zc_completed;
	__u32	rd_waiters;
	__u32	wr_waiters;
	__u32	__reserved[2];
};

/* struct kmbox_open.flags */
#define KMBOX_OPEN_CREAT	_BITUL(0)	/* create if absent */
#define KMBOX_OPEN_EXCL		_BITUL(1)	/* with CREAT: EEXIST if present */
#define KMBOX_OPEN_ANON		_BITUL(2)	/* new anonymous mailbox; name = 0 */

/**
 * struct kmbox_open - KMBOX_IOC_OPEN argument: bind this file
 * @name: user pointer to a NUL-terminated name of 1..KMBOX_NAME_MAX
 *	bytes without '/'; 0 with KMBOX_OPEN_ANON
 * @attr: user pointer to a struct kmbox_attr used on creation; 0 = defaults
 * @flags: KMBOX_OPEN_*
 * @mode: permission bits (0..0777) of a mailbox this call creates; the
 *	caller's umask is applied to named mailboxes, as mq_open(3) does
 * @qos: user pointer to a struct kmbox_qos, the overflow policy and
 *	urgent lane of a mailbox this call creates; 0 = KMBOX_POLICY_BLOCK,
 *	no urgent lane.  Only with KMBOX_OPEN_ANON or KMBOX_OPEN_CREAT
 *	(EINVAL otherwise); with CREAT of a name that exists it is checked
 *	and ignored, as @attr is
 * @__reserved: [0] is @qos; [1] and [2] zero
 *
 * The file's access mode (O_RDONLY, O_WRONLY, O_RDWR given to open(2))
 * decides what is checked: read permission to receive, write to send.  A
 * file opened with O_RDWR|O_WRONLY has neither and gets EINVAL.
 */
struct kmbox_open {
	__u64	name;
	__u64	attr;
	__u32	flags;
	__u32	mode;

	__extension__ union {
		__u64	qos;
		__u64	__reserved[3];
	};
};

/**
 * struct kmbox_unlink - KMBOX_IOC_UNLINK argument (any /dev/kmbox file)
 * @name: user pointer to the NUL-terminated name
 * @__reserved: zero
 */
struct kmbox_unlink {
	__u64	name;
	__u64	__reserved[3];
};

/* flags of send, recv, batch and slot calls */
#define KMBOX_F_NONBLOCK	_BITUL(0)	/* EAGAIN instead of sleeping */
#define KMBOX_F_TIMEOUT		_BITUL(1)	/* deadline_ns is valid */
/* send: the payload is in a slot; recv: zero-copy messages come as slots */
#define KMBOX_F_ZC		_BITUL(2)
/*
 * send: return only once a receiver's receive has returned the message;
 * a deadline or signal before any receiver took it withdraws it (never
 * delivered later).  With KMBOX_F_NONBLOCK: only if a receiver is
 * waiting already, else EAGAIN and nothing is queued.
 */
#define KMBOX_F_SYNC		_BITUL(3)
/*
 * recv, recv batch: this receiver takes call requests and reports their
 * reply tokens.  A request received without it fails its caller with
 * EPIPE at once (read() never sets it).
 */
#define KMBOX_F_CALLS		_BITUL(4)
/*
 * send, send batch, call: the message carries the tag given in @tag (the
 * batch: in the array @tags points to); without it the tag is 0 and
 * @tag must be 0.  recv batch: write each entry's tag to @tags.  (A
 * single receive always reports the tag.)
 */
#define KMBOX_F_TAG		_BITUL(5)
/*
 * recv: take the first message, in priority then arrival order, whose
 * tag & @match_mask == @tag, instead of the first message the file's
 * filter (KMBOX_IOC_FILTER) lets through.  @tag must have no bit outside
 * @match_mask (EINVAL); a mask of 0 matches every message.
 */
#define KMBOX_F_MATCH		_BITUL(6)
/*
 * recv: copy the message that would be received out, and leave it
 * queued.  The buffer may be shorter than the message: the copy is cut
 * (KMBOX_MSG_TRUNC) and @len and the return value give its whole length.
 * Not with KMBOX_F_ZC or KMBOX_F_CALLS.
 */
#define KMBOX_F_PEEK		_BITUL(7)
/*
 * send: the message expires at @expire_ns (absolute CLOCK_MONOTONIC of the
 * caller's time namespace, 0..KTIME_MAX), instead of after the mailbox's
 * ttl_ns: from then on it is never delivered (nor peeked).  An expired
 * message is freed when a receive or peek meets it, or when a send finds
 * the mailbox full; it is counted in kmbox_loss.expired, and a
 * synchronous sender or caller waiting for it gets ETIMEDOUT.  One whose
 * time has passed when it is sent is counted and freed at once, and the
 * send succeeds.  Poll may report EPOLLIN for a mailbox holding only
 * expired messages; the receive then finds none.
 */
#define KMBOX_F_EXPIRE		_BITUL(8)

/**
 * struct kmbox_send - KMBOX_IOC_SEND argument
 * @buf: user pointer to the payload (ignored with KMBOX_F_ZC)
 * @len: payload length, 0..max_msgsize (and ..zc_slot_size with ZC)
 * @prio: priority, 0..KMBOX_PRIO_MAX-1
 * @flags: KMBOX_F_*
 * @slot: with KMBOX_F_ZC: a slot this file reserved (a received slot
 *	cannot be sent on: EINVAL); otherwise 0
 * @deadline_ns: with KMBOX_F_TIMEOUT: absolute CLOCK_MONOTONIC of the
 *	caller's time namespace, 0..KTIME_MAX; else 0
 * @tag: with KMBOX_F_TAG: the message's tag, any 64-bit value; else 0
 * @expire_ns: with KMBOX_F_EXPIRE: when the message expires (absolute
 *	CLOCK_MONOTONIC of the caller's time namespace, 0..KTIME_MAX); else 0
 * @__reserved: [0] is @tag, [1] is @expire_ns
 */
struct kmbox_send {
	__u64	buf;
	__u32	len;
	__u32	prio;
	__u32	flags;
	__u32	slot;
	__u64	deadline_ns;

	__extension__ union {
		__extension__ struct {
			__u64	tag;
			__u64	expire_ns;
		};
		__u64	__reserved[2];
	};
};

/* struct kmbox_recv.msg_flags and struct kmbox_mmsg.flags */
#define KMBOX_MSG_ZC		_BITUL(0)	/* the payload is in @slot */
#define KMBOX_MSG_TRUNC		_BITUL(1)	/* peek: the copy was cut short */

/**
 * struct kmbox_recv - KMBOX_IOC_RECV argument
 * @buf: user pointer to the buffer
 * @len: in: buffer size; out: message length (also on EMSGSIZE, when the
 *	message stays queued)
 * @flags: KMBOX_F_*
 * @deadline_ns: with KMBOX_F_TIMEOUT: absolute CLOCK_MONOTONIC of the
 *	caller's time namespace, 0..KTIME_MAX; else 0
 * @prio: out: the message's priority
 * @slot: out: with KMBOX_MSG_ZC, the slot now held by this file; else
 *	KMBOX_NO_SLOT
 * @pid: out: sender's thread-group id in the receiver's pid namespace,
 *	0 if the sender is not visible there or has exited and been reaped
 * @uid: out: sender's euid in the receiver's user namespace
 * @gid: out: sender's egid in the receiver's user namespace
 *	(the sender of a message sent with write() is the process that
 *	opened the file, with the file's credentials; that of one sent with
 *	KMBOX_IOC_SEND or SEND_BATCH is the calling process: kmbox(7))
 * @msg_flags: out: KMBOX_MSG_*
 * @send_ns: out: time the message was queued, on the CLOCK_MONOTONIC of
 *	the receiver's time namespace (0 if that clock had not started yet)
 * @reply_token: out: with KMBOX_F_CALLS, the token to answer a call
 *	request with (KMBOX_IOC_REPLY on this file), 0 for an ordinary
 *	message
 * @match_mask: in (the same field as @reply_token): with KMBOX_F_MATCH,
 *	the bits of the tag that must equal those of @tag; else zero
 * @tag: in: with KMBOX_F_MATCH, the tag wanted; else zero; out: the
 *	message's tag
 * @__reserved: the same field as @tag
 */
struct kmbox_recv {
	__u64	buf;
	__u32	len;
	__u32	flags;
	__u64	deadline_ns;
	__u32	prio;
	__u32	slot;
	__s32	pid;
	__u32	uid;
	__u32	gid;
	__u32	msg_flags;
	__u64	send_ns;

	__extension__ union {
		__u64	reply_token;
		__u64	match_mask;
	};

	__extension__ union {
		__u64	tag;
		__u64	__reserved;
	};
};

/**
 * struct kmbox_mmsg - one entry of a batch
 * @buf: user pointer to payload or buffer (unused for zero-copy entries)
 * @len: send: payload length; recv: in buffer size, out message length
 * @prio: send: in; recv: out
 * @slot: send with KMBOX_MSG_ZC: in; recv: out (KMBOX_NO_SLOT if copied)
 * @flags: send: in KMBOX_MSG_ZC or 0; recv: out KMBOX_MSG_*
 */
struct kmbox_mmsg {
	__u64	buf;
	__u32	len;
	__u32	prio;
	__u32	slot;
	__u32	flags;
};

/**
 * struct kmbox_batch - KMBOX_IOC_SEND_BATCH / KMBOX_IOC_RECV_BATCH
 * @msgs: user pointer to @count struct kmbox_mmsg
 * @count: 1..KMBOX_BATCH_MAX
 * @flags: KMBOX_F_NONBLOCK, KMBOX_F_TIMEOUT; send also KMBOX_F_SYNC; recv
 *	also KMBOX_F_ZC and KMBOX_F_CALLS
 * @deadline_ns: with KMBOX_F_TIMEOUT: absolute CLOCK_MONOTONIC of the
 *	caller's time namespace, 0..KTIME_MAX; else 0
 * @tokens: recv with KMBOX_F_CALLS: user pointer to @count __u64, written
 *	with each received entry's reply token (0 for an ordinary message);
 *	otherwise 0
 * @tags: with KMBOX_F_TAG: user pointer to @count __u64, the tags of the
 *	entries sent (read) or received (written); otherwise 0
 * @__reserved: the same field as @tags
 *
 * A receive batch takes the messages the file's filter lets through
 * (KMBOX_IOC_FILTER), in order.
 *
 * Like sendmmsg(2)/recvmmsg(2): the call sleeps (unless NONBLOCK) only
 * until the first entry can be done, then does as many as it can and
 * returns how many.  An error on entry 0 is returned as the error; an
 * error on a later entry ends the batch early and leaves it undone.  A
 * synchronous send batch (KMBOX_F_SYNC, or any send to a rendezvous
 * mailbox) sends its entries one at a time: the first waits for a
 * receiver as a synchronous send does, each later one only goes if a
 * receiver is waiting already.
 */
struct kmbox_batch {
	__u64	msgs;
	__u32	count;
	__u32	flags;
	__u64	deadline_ns;
	__u64	tokens;

	__extension__ union {
		__u64	tags;
		__u64	__reserved;
	};
};

/**
 * struct kmbox_slots - KMBOX_IOC_ZC_RESERVE / KMBOX_IOC_ZC_RELEASE
 * @slots: user pointer to an array of @count __u32 slot indices
 *	(written by RESERVE, read by RELEASE)
 * @count: 1..KMBOX_BATCH_MAX
 * @flags: RESERVE: KMBOX_F_NONBLOCK, KMBOX_F_TIMEOUT; RELEASE: 0
 * @deadline_ns: RESERVE with KMBOX_F_TIMEOUT; otherwise 0
 * @__reserved: zero
 *
 * RESERVE sleeps until at least one slot is free, then hands out up to
 * @count and returns how many.  RELEASE takes back slots this file holds
 * (reserved and not sent, or received): all of them, or none and EINVAL.
 */
struct kmbox_slots {
	__u64	slots;
	__u32	count;
	__u32	flags;
	__u64	deadline_ns;
	__u64	__reserved[2];
};

/**
 * struct kmbox_call - KMBOX_IOC_CALL argument: send a request, wait for
 * its reply
 * @req: user pointer to the request's payload
 * @req_len: its length, 0..max_msgsize
 * @prio: the request's priority, 0..KMBOX_PRIO_MAX-1
 * @reply: user pointer to the buffer for the reply
 * @reply_len: in: the buffer's size; out: the reply's length
 * @flags: KMBOX_F_NONBLOCK (queue the request only if a receiver is
 *	waiting already, else EAGAIN), KMBOX_F_TIMEOUT, KMBOX_F_TAG
 * @deadline_ns: with KMBOX_F_TIMEOUT: absolute CLOCK_MONOTONIC of the
 *	caller's time namespace for the whole call; else 0
 * @pid: out: the replier's thread-group id, as in struct kmbox_recv
 * @uid: out: the replier's euid
 * @gid: out: the replier's egid
 * @__pad: zero
 * @send_ns: out: when the reply was sent, on the caller's clock
 * @tag: with KMBOX_F_TAG: the request's tag; else 0
 * @__reserved: [0] is @tag; [1] zero
 *
 * The request is an ordinary message (priority, order, poll) that carries
 * a reply token.  The call returns the reply's length once a receiver
 * that took it (with KMBOX_F_CALLS) answers with KMBOX_IOC_REPLY.  EPIPE:
 * the receiving file closed without answering, or the request was
 * received without KMBOX_F_CALLS.  ETIMEDOUT, EINTR: the caller gave up;
 * a request still queued is withdrawn, one already received can no longer
 * be answered (its reply gets ENOENT).  A request in flight to a receiver
 * when the caller gives up is answered or withdrawn first.
 */
struct kmbox_call {
	__u64	req;
	__u32	req_len;
	__u32	prio;
	__u64	reply;
	__u32	reply_len;
	__u32	flags;
	__u64	deadline_ns;
	__s32	pid;
	__u32	uid;
	__u32	gid;
	__u32	__pad;
	__u64	send_ns;

	__extension__ union {
		__u64	tag;
		__u64	__reserved[2];
	};
};

/**
 * struct kmbox_reply - KMBOX_IOC_REPLY argument: answer a call
 * @token: the reply token a receive of this file reported
 * @buf: user pointer to the reply's payload
 * @len: its length, at most the caller's reply buffer (else EMSGSIZE, and
 *	the caller keeps waiting) and max_msgsize
 * @flags: zero
 * @__reserved: zero
 *
 * ENOENT: no unanswered request of this file has @token (never issued, on
 * another file, answered already, or its caller gave up).  Any thread of
 * any process sharing the file may answer, in any order.
 */
struct kmbox_reply {
	__u64	token;
	__u64	buf;
	__u32	len;
	__u32	flags;
	__u64	__reserved[2];
};

/**
 * struct kmbox_reopen - KMBOX_IOC_REOPEN argument: a new file on this mailbox
 * @flags: the new file's access mode (O_RDONLY, O_WRONLY or O_RDWR of
 *	<fcntl.h>), or-ed with O_NONBLOCK and O_CLOEXEC
 * @__reserved: zero
 *
 * Opens another file on the mailbox the ioctl's file is bound to, as if
 * /dev/kmbox had been opened again and bound to it, and returns its
 * descriptor.  The new file is the caller's: messages it writes carry the
 * caller's credentials, its charges go to the caller, and the zero-copy
 * slots it reserves or receives are its own, released when it closes.
 * Its access mode may not exceed the old file's (EACCES): a reopen never
 * grants more than the descriptor it starts from.
 */
struct kmbox_reopen {
	__u32	flags;
	__u32	__reserved[3];
};

/* struct kmbox_stats.flags */
#define KMBOX_STATS_RESET	_BITUL(0)	/* zero the counts after reading */

/* Buckets of struct kmbox_stats.qtime_hist */
#define KMBOX_STATS_BUCKETS	40

/**
 * struct kmbox_stats - KMBOX_IOC_STATS argument: a mailbox's counts
 * @flags: in: KMBOX_STATS_RESET or 0.  Resetting needs a file open for
 *	writing, or the caller to own the mailbox (fsuid is its uid):
 *	otherwise EPERM and nothing is read or reset
 * @nbuckets: out: KMBOX_STATS_BUCKETS
 * @since_ns: out: when the counts started (the mailbox's creation or
 *	the last reset), on the CLOCK_MONOTONIC of the caller's time
 *	namespace (0 if that clock had not started yet)
 * @msgs_in: out: messages sent (queued or handed to a receiver)
 * @msgs_out: out: messages received (a receive that faulted and put its
 *	message back does not count)
 * @bytes_in: out: payload bytes of @msgs_in
 * @bytes_out: out: payload bytes of @msgs_out
 * @handoffs: out: messages handed straight to a sleeping receiver,
 *	never queued (counted in @msgs_in and @msgs_out too)
 * @full_waits: out: sends that found no room and went to wait for it
 * @empty_waits: out: receives that found no message and went to wait
 * @max_depth: out: most messages queued at once
 * @__pad: in: zero; out: zero
 * @__reserved: in: zero; out: zero
 * @qtime_hist: out: the messages of @msgs_out by time spent queued
 *	(from the send to the receive that took them): bucket 0 counts 0 ns
 *	(a hand-off), bucket b from 1 counts 2^(b-1) up to 2^b - 1 ns, the
 *	last bucket everything from 2^(KMBOX_STATS_BUCKETS-2) ns on.  The
 *	buckets add up to @msgs_out.
 *
 * Any bound file may read the counts.  They are taken under the mailbox's
 * lock, one consistent snapshot; with KMBOX_STATS_RESET, the snapshot
 * returned is the last one before the reset and no message escapes both.
 * A message withdrawn before anybody received it (a synchronous send
 * that gave up) counts in @msgs_in only.
 */
struct kmbox_stats {
	__u32	flags;
	__u32	nbuckets;
	__u64	since_ns;
	__u64	msgs_in;
	__u64	msgs_out;
	__u64	bytes_in;
	__u64	bytes_out;
	__u64	handoffs;
	__u64	full_waits;
	__u64	empty_waits;
	__u32	max_depth;
	__u32	__pad;
	__u64	__reserved[4];
	__u64	qtime_hist[KMBOX_STATS_BUCKETS];
};

/* struct kmbox_filter.flags */
#define KMBOX_FILTER_SET	_BITUL(0)	/* replace the filter */

/**
 * struct kmbox_filter - KMBOX_IOC_FILTER argument: the file's receive filter
 * @tag: in: with KMBOX_FILTER_SET, the tag wanted; out: the filter's tag
 *	before the call
 * @mask: in: with KMBOX_FILTER_SET, the bits of a message's tag that must
 *	equal those of @tag (0: every message, the filter a file starts
 *	with); out: the mask before the call
 * @flags: KMBOX_FILTER_SET, or 0 to only read the filter
 * @__reserved: zero
 *
 * Every receive on the file that does not bring its own (KMBOX_F_MATCH)
 * takes only messages whose tag & @mask == @tag: read(), KMBOX_IOC_RECV,
 * RECV_BATCH, and a peek; and poll reports EPOLLIN only while such a
 * message is queued.  A receive already asleep keeps the filter it began
 * with.  The file must be open for reading (EBADF); @tag with a bit
 * outside @mask is EINVAL.  A file from KMBOX_IOC_REOPEN starts with no
 * filter.
 */
struct kmbox_filter {
	__u64	tag;
	__u64	mask;
	__u32	flags;
	__u32	__reserved[3];
};

/* struct kmbox_qos.policy: what a send does when the mailbox is full */
#define KMBOX_POLICY_BLOCK		0	/* wait for room (or EAGAIN) */
#define KMBOX_POLICY_DROP_OLDEST	1	/* discard the oldest, lowest priority */
#define KMBOX_POLICY_REJECT		2	/* fail at once with EAGAIN */
#define KMBOX_POLICY_REPLACE		3	/* replace the queued one of the same tag */

/**
 * struct kmbox_loss - messages a mailbox did not deliver, by cause
 * @dropped: queued, then discarded to make room (KMBOX_POLICY_DROP_OLDEST),
 *	or, with a lower priority than every message queued, discarded on
 *	arrival
 * @rejected: sends refused with EAGAIN by KMBOX_POLICY_REJECT (never
 *	queued; each message of a batch counts)
 * @replaced: queued, then replaced by a newer message with the same tag
 *	(KMBOX_POLICY_REPLACE)
 * @expired: queued (or sent), and never delivered because their time to
 *	live or deadline (KMBOX_F_EXPIRE) passed first
 */
struct kmbox_loss {
	__u64	dropped;
	__u64	rejected;
	__u64	replaced;
	__u64	expired;
};

/**
 * struct kmbox_qos - a mailbox's overflow policy, urgent lane and losses
 * @policy: in/out: KMBOX_POLICY_*; a rendezvous mailbox takes only
 *	KMBOX_POLICY_BLOCK
 * @urgent_prio: in/out: messages of this priority and above are urgent
 *	(1..KMBOX_PRIO_MAX-1); 0 = no urgent lane
 * @urgent_room: in/out: of max_msgs, how many only urgent messages may
 *	take (0..max_msgs-1; 0 without an urgent lane or when rendezvous):
 *	a mailbox holding max_msgs - @urgent_room messages is full for the
 *	others, and still takes urgent ones
 * @__pad: zero
 * @ttl_ns: in/out: time to live, in nanoseconds from the send, of the
 *	messages sent without KMBOX_F_EXPIRE (0..KTIME_MAX; 0 = for ever;
 *	0 on a rendezvous mailbox).  Batch sends and calls have no deadline
 *	of their own: this one applies
 * @lost: out: the mailbox's totals since its creation
 * @__reserved: zero
 *
 * Input of KMBOX_IOC_OPEN (kmbox_open.qos) when it creates a mailbox
 * (@lost is ignored there), output of KMBOX_IOC_QOS, which any bound file
 * may call.  Unknown policies, priorities or room out of range, and
 * non-zero @__pad or @__reserved give EINVAL.
 *
 * A dropped or replaced message is freed at once.  If it was zero-copy,
 * its slot comes free (counted in the sender's zc_completed, as if a
 * receiver had copied it).  If it was a synchronous send or a call's
 * request, its sender or caller fails with ENOBUFS; a message already
 * taken by a receiver is never dropped.  A full mailbox whose messages
 * are all in flight to receivers has nothing to drop: the send waits as
 * with KMBOX_POLICY_BLOCK.  KMBOX_POLICY_REPLACE replaces the first queued
 * message (in receive order) whose tag equals the new one's, whether the
 * mailbox is full or not; the new message takes the old one's arrival
 * number, so with the same priority it takes its exact place; a message
 * with no queued namesake is sent as with KMBOX_POLICY_BLOCK.
 */
struct kmbox_qos {
	__u32	policy;
	__u32	urgent_prio;
	__u32	urgent_room;
	__u32	__pad;
	__u64	ttl_ns;
	struct kmbox_loss lost;
	__u64	__reserved[4];
};

/**
 * struct kmbox_recvx - KMBOX_IOC_RECVX argument: a receive that reports
 * losses
 * @r: as the argument of KMBOX_IOC_RECV, with the same flags and results
 * @lost: out: what the mailbox lost since this file's previous receive
 *	that reported losses (a KMBOX_IOC_RECVX that returned a message),
 *	taken when this receive took its message; zero for a peek
 * @__reserved: zero
 *
 * KMBOX_IOC_RECV's argument has no room left, and old binaries must see
 * no change, so losses come with this larger argument under a new number.
 * A receive that cannot report them (read(), KMBOX_IOC_RECV, RECV_BATCH)
 * leaves them for the next one that can (RECVX or RECV_BATCHX): none is
 * forgotten.  Threads that
 * share a file share its count: each loss is reported once, to whichever
 * of them took a message first.  A receive that fails after taking its
 * message (a fault) puts the losses back with the message.
 */
struct kmbox_recvx {
	struct kmbox_recv r;
	struct kmbox_loss lost;
	__u64	__reserved[2];
};

/**
 * struct kmbox_reply_recv - KMBOX_IOC_REPLY_RECV argument: answer a call,
 * then receive the next message, in one system call
 * @reply: in: as the argument of KMBOX_IOC_REPLY, with the same checks and
 *	errors; @reply.token 0: nothing to answer (@reply.buf and @reply.len
 *	are then not looked at).  out: the kernel sets @reply.token to 0 in
 *	the same step that delivers the reply, and writes nothing else here
 * @recv: user pointer to a struct kmbox_recvx: the receive, as
 *	KMBOX_IOC_RECVX with the same flags (KMBOX_F_CALLS to be given the
 *	next request's token), deadline, results and errors
 * @__reserved: zero
 *
 * The reply first, then the receive, and the receive only if the reply
 * was delivered.  Both arguments are read and checked before anything is
 * done (EFAULT, EINVAL, EBADF: nothing done).  After any error, a
 * non-zero @reply.token says the reply was not delivered (the error is
 * the reply's: ENOENT, EMSGSIZE, EFAULT, ...; its caller keeps waiting
 * or has given up as with KMBOX_IOC_REPLY) and nothing was received; a
 * zero one says the reply went, or there was none, and the error is the
 * receive's (EAGAIN, ETIMEDOUT, EINTR, EMSGSIZE, EFAULT, ...: as
 * KMBOX_IOC_RECVX, the message stays queued).  A delivered reply is never
 * taken back.  A restart after a signal in the receive finds the token
 * zeroed and only receives.
 */
struct kmbox_reply_recv {
	struct kmbox_reply	reply;
	__u64			recv;
	__u64			__reserved;
};

/**
 * struct kmbox_batchx - KMBOX_IOC_RECV_BATCHX argument: a receive batch,
 * copied or zero-copy, that reports losses
 * @b: as the argument of KMBOX_IOC_RECV_BATCH, with the same flags
 *	(KMBOX_F_ZC included) and results; the kernel writes only through
 *	its pointers, never into @b
 * @lost: out: what the mailbox lost since this file's previous receive
 *	that reported losses (a KMBOX_IOC_RECVX or RECV_BATCHX that
 *	returned at least one message), taken when this batch took its
 *	messages; written only when the call returns a count
 * @__reserved: zero
 *
 * KMBOX_IOC_RECV_BATCH's argument has no room left (its last reserved
 * field became @tags) and it is _IOW, so losses come with this larger
 * argument under a new number, as RECVX extends RECV; RECV_BATCH is
 * unchanged.  Losses are counted as for RECVX: shared by the threads of
 * one file, each reported once, to whichever receive took a message
 * first; a batch that fails after taking its messages (a fault writing
 * the entries, tokens, tags or @lost) puts back the messages and the
 * losses, and the next loss-reporting receive reports them.
 */
struct kmbox_batchx {
	struct kmbox_batch b;
	struct kmbox_loss lost;
	__u64	__reserved[2];
};

/*
 * 0xD4 is unused in Documentation/userspace-api/ioctl/ioctl-number.rst (as
 * of 6.1 and later); an out-of-tree module cannot register it there, which
 * is the first thing a submission upstream would do.
 *
 * RECV_BATCH and ZC_RESERVE are _IOW although they write results: they
 * write through the pointers embedded in their argument (the entries, the
 * slot numbers), never into the argument itself, so the direction names
 * what the kernel does with the struct the number encodes.
 */
#define KMBOX_IOC_MAGIC		0xD4

#define KMBOX_IOC_INFO		_IOR(KMBOX_IOC_MAGIC, 0x00, struct kmbox_info)
#define KMBOX_IOC_OPEN		_IOW(KMBOX_IOC_MAGIC, 0x01, struct kmbox_open)
#define KMBOX_IOC_UNLINK	_IOW(KMBOX_IOC_MAGIC, 0x02, struct kmbox_unlink)
#define KMBOX_IOC_GETATTR	_IOR(KMBOX_IOC_MAGIC, 0x03, struct kmbox_attr)
#define KMBOX_IOC_SEND		_IOW(KMBOX_IOC_MAGIC, 0x04, struct kmbox_send)
#define KMBOX_IOC_RECV		_IOWR(KMBOX_IOC_MAGIC, 0x05, struct kmbox_recv)
#define KMBOX_IOC_SEND_BATCH	_IOW(KMBOX_IOC_MAGIC, 0x06, struct kmbox_batch)
#define KMBOX_IOC_RECV_BATCH	_IOW(KMBOX_IOC_MAGIC, 0x07, struct kmbox_batch)
#define KMBOX_IOC_ZC_RESERVE	_IOW(KMBOX_IOC_MAGIC, 0x08, struct kmbox_slots)
#define KMBOX_IOC_ZC_RELEASE	_IOW(KMBOX_IOC_MAGIC, 0x09, struct kmbox_slots)
#define KMBOX_IOC_REOPEN	_IOW(KMBOX_IOC_MAGIC, 0x0A, struct kmbox_reopen)
#define KMBOX_IOC_CALL		_IOWR(KMBOX_IOC_MAGIC, 0x0B, struct kmbox_call)
#define KMBOX_IOC_REPLY		_IOW(KMBOX_IOC_MAGIC, 0x0C, struct kmbox_reply)
#define KMBOX_IOC_STATS		_IOWR(KMBOX_IOC_MAGIC, 0x0D, struct kmbox_stats)
#define KMBOX_IOC_FILTER	_IOWR(KMBOX_IOC_MAGIC, 0x0E, struct kmbox_filter)
#define KMBOX_IOC_QOS		_IOR(KMBOX_IOC_MAGIC, 0x0F, struct kmbox_qos)
#define KMBOX_IOC_RECVX		_IOWR(KMBOX_IOC_MAGIC, 0x10, struct kmbox_recvx)
#define KMBOX_IOC_RECV_BATCHX	_IOWR(KMBOX_IOC_MAGIC, 0x11, struct kmbox_batchx)
#define KMBOX_IOC_REPLY_RECV	_IOWR(KMBOX_IOC_MAGIC, 0x12, struct kmbox_reply_recv)

/*
 * mmap(2) offset of the zero-copy region: zc_slots * zc_slot_size bytes
 * (rounded up to a page), slot i at byte i * zc_slot_size.  MAP_SHARED
 * only; never PROT_EXEC.  Linux maps no file that is not open for reading,
 * so a zero-copy sender (which writes slots) opens O_RDWR; a receiver may
 * open O_RDONLY and map PROT_READ.
 */
#define KMBOX_OFF_REGION	0x0ULL

/*
 * io_uring commands: IORING_OP_URING_CMD on a bound kmbox file, with
 * sqe->cmd_op one of KMBOX_URING_* and the command's argument in the
 * SQE's cmd area, which is 80 bytes only on a ring set up with
 * IORING_SETUP_SQE128 (EINVAL on any other ring).  On an
 * IORING_SETUP_IOPOLL ring io_uring itself says EOPNOTSUPP, up to the
 * kernels that run commands without polled completion there as on any
 * ring (7.x).  The kernel copies the argument out of the
 * SQE once, when the command is issued, and checks it as the ioctl of the
 * same name checks its own; the SQE may be reused as soon as io_uring
 * has consumed it.  An unknown cmd_op is ENOTTY.
 *
 * A kmbox command never sleeps and never stays pending: it completes
 * when io_uring issues it, with -EAGAIN in the CQE where the ioctl would
 * wait (no message, no room), whether or not the file has O_NONBLOCK.
 * Wait for readiness with IORING_OP_POLL_ADD (multishot: one SQE for
 * the life of the mailbox) and submit the command again.  So a command
 * cannot hold up the ring's exit or a cancellation, on kernels (6.1)
 * that cannot cancel a pending command.  KMBOX_F_TIMEOUT, and a
 * synchronous send (KMBOX_F_SYNC, or any send on a rendezvous mailbox:
 * EOPNOTSUPP), would wait, and are refused.  KMBOX_F_NONBLOCK is
 * accepted and changes nothing.
 *
 * A batch of commands on any number of mailboxes is one io_uring_enter(2).
 */
#define KMBOX_URING_SEND	0x10	/* struct kmbox_send; CQE res: 0 */
#define KMBOX_URING_RECV	0x11	/* struct kmbox_uring_recv; CQE res: length */
/* struct kmbox_uring_recv_batch; CQE res: messages received */
#define KMBOX_URING_RECV_BATCH	0x12
/* struct kmbox_uring_send_batch; CQE res: messages sent */
#define KMBOX_URING_SEND_BATCH	0x13

/**
 * struct kmbox_uring_recv - KMBOX_URING_RECV argument, in the SQE
 * @recv: as the argument of KMBOX_IOC_RECV, with the same flags (but for
 *	KMBOX_F_TIMEOUT): where the payload goes, how much room, what to
 *	take (KMBOX_F_ZC, KMBOX_F_MATCH, KMBOX_F_PEEK, KMBOX_F_CALLS)
 * @result: user pointer to a struct kmbox_recv that receives what
 *	KMBOX_IOC_RECV writes back into its argument (length, priority,
 *	tag, sender, slot, reply token; only @len on EMSGSIZE).  A fault
 *	there puts the message back and the CQE says -EFAULT.
 */
struct kmbox_uring_recv {
	struct kmbox_recv	recv;
	__u64			result;
};

/**
 * struct kmbox_uring_recv_batch - KMBOX_URING_RECV_BATCH argument, in the
 *	SQE: up to @b.count messages of one mailbox in one command
 * @b: as the argument of KMBOX_IOC_RECV_BATCH, with the same flags (but
 *	for KMBOX_F_TIMEOUT) and the same results, written through its
 *	pointers (the entries, @b.tokens, @b.tags): the kernel writes
 *	nothing into the SQE
 * @lost: 0: the losses stay for the next receive that can report them,
 *	as with RECV_BATCH; else a user pointer to a struct kmbox_loss
 *	that receives them as RECV_BATCHX's @lost does, written only when
 *	the command receives at least one message
 * @__reserved: zero
 *
 * Takes the messages the file's filter lets through, in order, as many
 * as are queued up to @b.count; the CQE's res is how many (1..count), or
 * -EAGAIN at once if there is none.  It runs the ioctl's own code: a
 * fault writing the entries, tokens, tags or @lost puts every message
 * (and the losses) back and the CQE says -EFAULT.
 */
struct kmbox_uring_recv_batch {
	struct kmbox_batch	b;
	__u64			lost;
	__u64			__reserved[2];
};

/**
 * struct kmbox_uring_send_batch - KMBOX_URING_SEND_BATCH argument, in the
 *	SQE: up to @b.count messages to one mailbox in one command
 * @b: as the argument of KMBOX_IOC_SEND_BATCH, with the same flags but
 *	for KMBOX_F_TIMEOUT and KMBOX_F_SYNC (EINVAL), and not to a
 *	rendezvous mailbox (EOPNOTSUPP): those would wait
 * @__reserved: zero
 *
 * Sends the entries in order, as many as there is room for; the CQE's
 * res is how many (1..count), or -EAGAIN at once if the mailbox has no
 * room for the first.  The entries are read as the ioctl reads them: an
 * error on entry 0 is the CQE's res and sends nothing; an error on a
 * later entry (a fault in its buffer, a bad slot, a message too long)
 * ends the batch there, with the entries before it sent.  So a sender
 * that must keep its order submits the unsent rest again, and links
 * nothing behind a batch it has not seen complete whole.
 */
struct kmbox_uring_send_batch {
	struct kmbox_batch	b;
	__u64			__reserved[3];
};

#endif /* _UAPI_LINUX_KMBOX_H */
