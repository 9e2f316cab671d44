/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libkmbox: io_uring commands on kmbox mailboxes, for liburing users.
 *
 * Header only: static inline helpers that fill a liburing SQE with a
 * KMBOX_URING_* command (see "io_uring commands" in kmbox(4)).  The ring
 * must be set up with IORING_SETUP_SQE128.  Nothing here links against
 * libkmbox or liburing: include <liburing.h> first, and link liburing.
 *
 * A command never waits: where the ioctl would, its CQE says -EAGAIN.
 * Wait with io_uring_prep_poll_multishot(sqe, fd, POLLIN) (or POLLOUT)
 * and submit the command again.  See kmbox_uring_prep_send(3).
 */
#ifndef LIBKMBOX_URING_H
#define LIBKMBOX_URING_H

#include <stdint.h>
#include <string.h>

#include <linux/kmbox.h>

/* The 80 bytes of a 128-byte SQE's command area, from sqe->cmd. */
#define KMBOX_URING_CMD_BYTES	80

/* io_uring_prep_rw() for IORING_OP_URING_CMD, and the argument copied in. */
static inline void kmbox__uring_prep(struct io_uring_sqe *sqe, int fd, uint32_t cmd_op,
				     const void *arg, size_t len)
{
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = cmd_op;
	memset(sqe->cmd, 0, KMBOX_URING_CMD_BYTES);
	memcpy(sqe->cmd, arg, len);
}

/*
 * Send the message @s describes (buffer, length, priority, flags, tag or
 * zero-copy slot), as KMBOX_IOC_SEND.  The SQE holds a copy of @s; the
 * buffer @s->buf points to must stay valid until the command completes.
 */
static inline void kmbox_uring_prep_send(struct io_uring_sqe *sqe, int fd,
					 const struct kmbox_send *s)
{
	kmbox__uring_prep(sqe, fd, KMBOX_URING_SEND, s, sizeof(*s));
}

/*
 * Receive one message as KMBOX_IOC_RECV with @r (buffer, its size, flags,
 * tag and mask to match); what the ioctl would write back into its
 * argument goes to @result, which must stay valid until the command
 * completes (it may be @r's own storage).
 */
static inline void kmbox_uring_prep_recv(struct io_uring_sqe *sqe, int fd,
					 const struct kmbox_recv *r,
					 struct kmbox_recv *result)
{
	struct kmbox_uring_recv a;

	memset(&a, 0, sizeof(a));
	a.recv = *r;
	a.result = (uint64_t)(uintptr_t)result;
	kmbox__uring_prep(sqe, fd, KMBOX_URING_RECV, &a, sizeof(a));
}

/*
 * Send up to @b->count messages to one mailbox as KMBOX_IOC_SEND_BATCH
 * with @b (entries, flags, tags: KMBOX_F_TIMEOUT and KMBOX_F_SYNC are
 * refused).  The CQE's res is how many were sent, in order (fewer when
 * the mailbox filled up, or a later entry was bad), or -EAGAIN if there
 * was no room for the first.  The entries, their buffers and the tags
 * array must stay valid until the command completes; @b itself is copied.
 */
static inline void kmbox_uring_prep_send_batch(struct io_uring_sqe *sqe, int fd,
					       const struct kmbox_batch *b)
{
	struct kmbox_uring_send_batch a;

	memset(&a, 0, sizeof(a));
	a.b = *b;
	kmbox__uring_prep(sqe, fd, KMBOX_URING_SEND_BATCH, &a, sizeof(a));
}

/*
 * Receive up to @b->count messages of one mailbox as KMBOX_IOC_RECV_BATCH
 * with @b (entries, flags, tokens, tags: KMBOX_F_TIMEOUT is refused).
 * The CQE's res is how many were received, or -EAGAIN if none was
 * queued.  The entries and the tokens and tags arrays @b points to are
 * written when the command completes and must stay valid until then; @b
 * itself is copied.  @lost: NULL, or where the losses go as with
 * KMBOX_IOC_RECV_BATCHX (written only with a count).
 */
static inline void kmbox_uring_prep_recv_batch(struct io_uring_sqe *sqe, int fd,
					       const struct kmbox_batch *b,
					       struct kmbox_loss *lost)
{
	struct kmbox_uring_recv_batch a;

	memset(&a, 0, sizeof(a));
	a.b = *b;
	a.lost = (uint64_t)(uintptr_t)lost;
	kmbox__uring_prep(sqe, fd, KMBOX_URING_RECV_BATCH, &a, sizeof(a));
}

#endif /* LIBKMBOX_URING_H */
