// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring commands (file_operations.uring_cmd): KMBOX_URING_SEND,
 * KMBOX_URING_RECV, KMBOX_URING_SEND_BATCH and KMBOX_URING_RECV_BATCH,
 * the ioctls of the same name with their argument in the SQE, so that a
 * batch of sends and receives on many mailboxes is one io_uring_enter().
 *
 * A command never sleeps and never stays pending (uapi/linux/kmbox.h says
 * why): it runs the ioctl's code with "never wait" forced, and completes
 * the request itself with whatever that gave, -EAGAIN included.  Returning
 * -EAGAIN from ->uring_cmd would instead make io_uring retry the command
 * in an io-wq worker, blocking; and a positive result (a receive's length)
 * returned from ->uring_cmd is taken by the io_uring of 6.1 for a failure
 * to issue (io_queue_async(), io_wq_submit_work() in io_uring/io_uring.c;
 * later kernels return IOU_OK for it): the CQE still says the length, but
 * the commands linked behind it are cancelled and the completion takes
 * the slow path.  The argument is copied out of the SQE,
 * which user space can rewrite at any moment, once, and only the copy is
 * looked at; the checks are the ioctls' own (kmbox_send_args(),
 * kmbox_recv_args(), kmbox_recv_batch_args() in ioctl.c).
 */
#include <linux/fs.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "kmbox.h"
#include "compat.h"

/*
 * Complete @ioucmd with @ret now, and tell io_uring it is done: never hand
 * it -EAGAIN (a retry in a worker) nor a length (a failed issue, above).
 * With IO_URING_F_COMPLETE_DEFER in @issue_flags (issued from the
 * submitting task, the ring locked) the CQE joins the batch io_uring posts
 * at the end of the submission.
 */
static int kmbox_uring_ret(struct io_uring_cmd *ioucmd, long ret, unsigned int issue_flags)
{
	kmbox_uring_cmd_done(ioucmd, (int)ret, issue_flags);
	return -EIOCBQUEUED;
}

static long kmbox_uring_send(struct file *file, struct kmbox_file *kf, const void *payload)
{
	struct kmbox_send s;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	memcpy(&s, payload, sizeof(s));
	/* Both would wait: for the deadline, or for a receiver to take it. */
	if (s.flags & (KMBOX_F_TIMEOUT | KMBOX_F_SYNC))
		return -EINVAL;
	if (kf->mb->rendezvous)
		return -EOPNOTSUPP;
	return kmbox_send_args(file, kf, &s, true);
}

static long kmbox_uring_recv(struct file *file, struct kmbox_file *kf, const void *payload)
{
	struct kmbox_uring_recv r;

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	memcpy(&r, payload, sizeof(r));
	if (r.recv.flags & KMBOX_F_TIMEOUT)
		return -EINVAL;
	return kmbox_recv_args(file, kf, &r.recv, u64_to_user_ptr(r.result), true);
}

/*
 * RECV_BATCH's argument with a pointer for the losses (RECV_BATCHX's,
 * which would not fit whole in the SQE), and run by the same code.
 */
static long kmbox_uring_recv_batch(struct file *file, struct kmbox_file *kf,
				   const void *payload)
{
	struct kmbox_uring_recv_batch a;

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	memcpy(&a, payload, sizeof(a));
	if ((a.b.flags & KMBOX_F_TIMEOUT) || a.__reserved[0] || a.__reserved[1])
		return -EINVAL;
	return kmbox_recv_batch_args(file, kf, &a.b, u64_to_user_ptr(a.lost), true);
}

/* SEND_BATCH's argument, with room to grow, and run by the same code. */
static long kmbox_uring_send_batch(struct file *file, struct kmbox_file *kf,
				   const void *payload)
{
	struct kmbox_uring_send_batch a;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	memcpy(&a, payload, sizeof(a));
	if ((a.b.flags & (KMBOX_F_TIMEOUT | KMBOX_F_SYNC)) ||
	    memchr_inv(a.__reserved, 0, sizeof(a.__reserved)))
		return -EINVAL;
	if (kf->mb->rendezvous)
		return -EOPNOTSUPP;
	return kmbox_send_batch_args(file, kf, &a.b, true);
}

/**
 * kmbox_uring_cmd() - file_operations.uring_cmd of /dev/kmbox files
 * @ioucmd: the command
 * @issue_flags: io_uring's IO_URING_F_* for this issue
 *
 * Return: the CQE's result, or -EIOCBQUEUED once it was posted.
 */
int kmbox_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	struct file *file = ioucmd->file;
	struct kmbox_file *kf = file->private_data;
	const void *payload;
	long ret;

	BUILD_BUG_ON(sizeof(struct kmbox_send) > KMBOX_URING_CMD_MAX);
	BUILD_BUG_ON(sizeof(struct kmbox_uring_recv) > KMBOX_URING_CMD_MAX);
	BUILD_BUG_ON(sizeof(struct kmbox_uring_recv_batch) > KMBOX_URING_CMD_MAX);
	BUILD_BUG_ON(sizeof(struct kmbox_uring_send_batch) > KMBOX_URING_CMD_MAX);

	switch (ioucmd->cmd_op) {
	case KMBOX_URING_SEND:
	case KMBOX_URING_RECV:
	case KMBOX_URING_RECV_BATCH:
	case KMBOX_URING_SEND_BATCH:
		break;
	default:
		return -ENOTTY;
	}
	/* Only a 128-byte SQE has room for the argument. */
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	if (!kmbox_file_mb(kf))
		return -EBADFD;
	payload = kmbox_uring_cmd_payload(ioucmd);
	if (ioucmd->cmd_op == KMBOX_URING_SEND)
		ret = kmbox_uring_send(file, kf, payload);
	else if (ioucmd->cmd_op == KMBOX_URING_RECV)
		ret = kmbox_uring_recv(file, kf, payload);
	else if (ioucmd->cmd_op == KMBOX_URING_SEND_BATCH)
		ret = kmbox_uring_send_batch(file, kf, payload);
	else
		ret = kmbox_uring_recv_batch(file, kf, payload);
	return kmbox_uring_ret(ioucmd, ret, issue_flags);
}
