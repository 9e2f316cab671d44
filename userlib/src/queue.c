// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * libkmbox hot paths: send and receive, timed, batched and zero-copy.
 *
 * Every call is one ioctl.  Arguments the kernel cannot see wrongly (a
 * size_t longer than the __u32 it travels in, a malformed timespec) are
 * checked here first; everything else is the kernel's to judge.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kmbox.h"
#include "lib.h"
#include "syscall.h"

static int do_send(int fd, struct kmbox_send *s)
{
	return sys_ioctl(fd, KMBOX_IOC_SEND, s) < 0 ? -1 : 0;
}

static void fill_info(struct kmbox_msginfo *info, const struct kmbox_recv *r)
{
	if (!info)
		return;
	*info = (struct kmbox_msginfo){
		.prio = r->prio,
		.pid = r->pid,
		.uid = r->uid,
		.gid = r->gid,
		.send_ns = r->send_ns,
		.flags = r->msg_flags,
		.len = r->len,
		.reply_token = r->reply_token,
		.tag = r->tag,
	};
}

/*
 * One KMBOX_IOC_RECV; @r->buf, @r->len and @r->flags are set by the caller.
 * On EMSGSIZE the kernel wrote the message's length to @r->len: pass it on
 * in @info->len, the rest of @info zeroed.  A receive that reports what it
 * learnt takes call requests (their tokens go to @info); one that cannot
 * (@info NULL) fails them.
 */
static ssize_t do_receive(int fd, struct kmbox_recv *r,
			  struct kmbox_msginfo *info)
{
	struct kmbox_recvx x = { .r = *r };
	int ret;

	if (!info)
		return sys_ioctl(fd, KMBOX_IOC_RECV, r) < 0 ? -1 : (ssize_t)r->len;
	/*
	 * A receive that reports what it learnt takes call requests, and
	 * the losses (KMBOX_IOC_RECVX); a module without them gets the
	 * plain receive (ENOTTY before anything is taken).
	 */
	x.r.flags |= KMBOX_F_CALLS;
	ret = sys_ioctl(fd, KMBOX_IOC_RECVX, &x);
	if (ret < 0 && errno == ENOTTY) {
		memset(&x.lost, 0, sizeof(x.lost));
		ret = sys_ioctl(fd, KMBOX_IOC_RECV, &x.r);
	}
	*r = x.r;
	if (ret < 0) {
		if (errno == EMSGSIZE)
			*info = (struct kmbox_msginfo){ .len = r->len };
		return -1;
	}
	fill_info(info, r);
	info->lost = x.lost.dropped + x.lost.replaced + x.lost.expired;
	return r->len;
}

int kmbox_timedsend(int fd, const void *msg, size_t len, unsigned int prio,
		    const struct timespec *abs_timeout)
{
	struct kmbox_send s = {
		.buf = (__u64)(uintptr_t)msg,
		.prio = prio,
	};

	if (kmbox_deadline(abs_timeout, &s.flags, &s.deadline_ns))
		return -1;
	if (kmbox_len_too_big(len)) {
		errno = EMSGSIZE;
		return -1;
	}
	s.len = (__u32)len;
	return do_send(fd, &s);
}

int kmbox_send(int fd, const void *msg, size_t len, unsigned int prio)
{
	return kmbox_timedsend(fd, msg, len, prio, NULL);
}

int kmbox_send_sync(int fd, const void *msg, size_t len, unsigned int prio,
		    const struct timespec *abs_timeout)
{
	struct kmbox_send s = {
		.buf = (__u64)(uintptr_t)msg,
		.prio = prio,
		.flags = KMBOX_F_SYNC,
	};

	if (kmbox_deadline(abs_timeout, &s.flags, &s.deadline_ns))
		return -1;
	if (kmbox_len_too_big(len)) {
		errno = EMSGSIZE;
		return -1;
	}
	s.len = (__u32)len;
	return do_send(fd, &s);
}

ssize_t kmbox_call(int fd, const void *req, size_t reqlen, unsigned int prio,
		   void *reply, size_t replylen, struct kmbox_msginfo *info,
		   const struct timespec *abs_timeout)
{
	struct kmbox_call c = {
		.req = (__u64)(uintptr_t)req,
		.prio = prio,
		.reply = (__u64)(uintptr_t)reply,
		.reply_len = kmbox_clamp_len(replylen),
	};

	if (kmbox_deadline(abs_timeout, &c.flags, &c.deadline_ns))
		return -1;
	if (kmbox_len_too_big(reqlen)) {
		errno = EMSGSIZE;
		return -1;
	}
	c.req_len = (__u32)reqlen;
	if (sys_ioctl(fd, KMBOX_IOC_CALL, &c) < 0)
		return -1;
	if (info)
		*info = (struct kmbox_msginfo){
			.pid = c.pid,
			.uid = c.uid,
			.gid = c.gid,
			.send_ns = c.send_ns,
		};
	return c.reply_len;
}

int kmbox_reply(int fd, uint64_t token, const void *msg, size_t len)
{
	struct kmbox_reply r = {
		.token = token,
		.buf = (__u64)(uintptr_t)msg,
	};

	if (kmbox_len_too_big(len)) {
		errno = EMSGSIZE;
		return -1;
	}
	r.len = (__u32)len;
	return sys_ioctl(fd, KMBOX_IOC_REPLY, &r) < 0 ? -1 : 0;
}

ssize_t kmbox_reply_recv(int fd, uint64_t *token, const void *reply,
			 size_t replylen, void *buf, size_t len,
			 struct kmbox_msginfo *info,
			 const struct timespec *abs_timeout)
{
	struct kmbox_recvx x = {
		.r = {
			.buf = (__u64)(uintptr_t)buf,
			.len = kmbox_clamp_len(len),
		},
	};
	struct kmbox_reply_recv rr = { .recv = (__u64)(uintptr_t)&x };
	struct kmbox_msginfo mine;
	ssize_t ret;

	if (!token) {
		errno = EINVAL;
		return -1;
	}
	if (kmbox_deadline(abs_timeout, &x.r.flags, &x.r.deadline_ns))
		return -1;
	if (*token) {
		if (kmbox_len_too_big(replylen)) {
			errno = EMSGSIZE;
			return -1;
		}
		rr.reply.token = *token;
		rr.reply.buf = (__u64)(uintptr_t)reply;
		rr.reply.len = (__u32)replylen;
	}
	if (!info)
		info = &mine;
	x.r.flags |= KMBOX_F_CALLS;
	ret = sys_ioctl(fd, KMBOX_IOC_REPLY_RECV, &rr);
	if (ret < 0 && errno == ENOTTY) {
		/* A module without it: the same, in two calls. */
		if (*token && kmbox_reply(fd, *token, reply, replylen) < 0)
			return -1;
		*token = 0;
		x.r.flags &= ~(__u32)KMBOX_F_CALLS;
		ret = do_receive(fd, &x.r, info);
		if (ret >= 0)
			*token = info->reply_token;
		return ret;
	}
	*token = rr.reply.token;
	if (ret < 0) {
		/* The receive's EMSGSIZE: the length needed, as receive_info. */
		if (!*token && errno == EMSGSIZE)
			*info = (struct kmbox_msginfo){ .len = x.r.len };
		return -1;
	}
	fill_info(info, &x.r);
	info->lost = x.lost.dropped + x.lost.replaced + x.lost.expired;
	*token = x.r.reply_token;
	return x.r.len;
}

/* A receive that takes call requests only if @info can report the token. */
static ssize_t receive(int fd, void *buf, size_t len, struct kmbox_msginfo *info,
		       const struct timespec *abs_timeout)
{
	struct kmbox_recv r = {
		.buf = (__u64)(uintptr_t)buf,
		.len = kmbox_clamp_len(len),
	};

	if (kmbox_deadline(abs_timeout, &r.flags, &r.deadline_ns))
		return -1;
	return do_receive(fd, &r, info);
}

int kmbox_send_tagged(int fd, const void *msg, size_t len, unsigned int prio,
		      uint64_t tag, const struct timespec *abs_timeout)
{
	struct kmbox_send s = {
		.buf = (__u64)(uintptr_t)msg,
		.prio = prio,
		.flags = KMBOX_F_TAG,
	};

	s.tag = tag;
	if (kmbox_deadline(abs_timeout, &s.flags, &s.deadline_ns))
		return -1;
	if (kmbox_len_too_big(len)) {
		errno = EMSGSIZE;
		return -1;
	}
	s.len = (__u32)len;
	return do_send(fd, &s);
}

int kmbox_send_expiring(int fd, const void *msg, size_t len, unsigned int prio,
			uint64_t tag, const struct timespec *expiry,
			const struct timespec *abs_timeout)
{
	struct kmbox_send s = {
		.buf = (__u64)(uintptr_t)msg,
		.prio = prio,
		.flags = KMBOX_F_TAG,
	};
	__u32 eflags = 0;

	s.tag = tag;
	if (kmbox_deadline(abs_timeout, &s.flags, &s.deadline_ns) ||
	    kmbox_deadline(expiry, &eflags, &s.expire_ns))
		return -1;
	if (eflags)
		s.flags |= KMBOX_F_EXPIRE;
	if (kmbox_len_too_big(len)) {
		errno = EMSGSIZE;
		return -1;
	}
	s.len = (__u32)len;
	return do_send(fd, &s);
}

ssize_t kmbox_receive_match(int fd, void *buf, size_t len, uint64_t tag,
			    uint64_t mask, struct kmbox_msginfo *info,
			    const struct timespec *abs_timeout)
{
	struct kmbox_recv r = {
		.buf = (__u64)(uintptr_t)buf,
		.len = kmbox_clamp_len(len),
		.flags = KMBOX_F_MATCH,
	};

	r.tag = tag;
	r.match_mask = mask;
	if (kmbox_deadline(abs_timeout, &r.flags, &r.deadline_ns))
		return -1;
	return do_receive(fd, &r, info);
}

ssize_t kmbox_peek(int fd, void *buf, size_t len, int flags, uint64_t tag,
		   uint64_t mask, struct kmbox_msginfo *info,
		   const struct timespec *abs_timeout)
{
	struct kmbox_recv r = {
		.buf = (__u64)(uintptr_t)buf,
		.len = kmbox_clamp_len(len),
		.flags = (__u32)flags | KMBOX_F_PEEK,
	};

	if (kmbox_check_flags(flags))
		return -1;
	r.tag = tag;
	r.match_mask = mask;
	if (kmbox_deadline(abs_timeout, &r.flags, &r.deadline_ns))
		return -1;
	/* No KMBOX_F_CALLS: a peek takes no request, so reports no token. */
	if (sys_ioctl(fd, KMBOX_IOC_RECV, &r) < 0)
		return -1;
	fill_info(info, &r);
	return r.len;
}

int kmbox_set_filter(int fd, uint64_t tag, uint64_t mask)
{
	struct kmbox_filter f = {
		.tag = tag,
		.mask = mask,
		.flags = KMBOX_FILTER_SET,
	};

	return sys_ioctl(fd, KMBOX_IOC_FILTER, &f) < 0 ? -1 : 0;
}

int kmbox_get_filter(int fd, uint64_t *tag, uint64_t *mask)
{
	struct kmbox_filter f = { .flags = 0 };

	if (sys_ioctl(fd, KMBOX_IOC_FILTER, &f) < 0)
		return -1;
	if (tag)
		*tag = f.tag;
	if (mask)
		*mask = f.mask;
	return 0;
}

ssize_t kmbox_receive_info(int fd, void *buf, size_t len,
			   struct kmbox_msginfo *info,
			   const struct timespec *abs_timeout)
{
	return receive(fd, buf, len, info, abs_timeout);
}

ssize_t kmbox_timedreceive(int fd, void *buf, size_t len, unsigned int *prio,
			   const struct timespec *abs_timeout)
{
	struct kmbox_recv r = {
		.buf = (__u64)(uintptr_t)buf,
		.len = kmbox_clamp_len(len),
	};
	ssize_t ret;

	/* No token reaches the caller: a call's request fails (EPIPE). */
	if (kmbox_deadline(abs_timeout, &r.flags, &r.deadline_ns))
		return -1;
	ret = do_receive(fd, &r, NULL);
	if (ret >= 0 && prio)
		*prio = r.prio;
	return ret;
}

ssize_t kmbox_receive(int fd, void *buf, size_t len, unsigned int *prio)
{
	return kmbox_timedreceive(fd, buf, len, prio, NULL);
}

/*
 * Common checks of the batch and reserve calls.  Like sendmmsg(2), a call
 * looks at no more than one kernel call takes (KMBOX_BATCH_MAX entries);
 * its return value tells the caller how far it got.
 */
static int prep_many(unsigned int n, int flags,
		     const struct timespec *abs_timeout, __u32 *count,
		     __u32 *kflags, __u64 *deadline_ns)
{
	if (!n) {
		errno = EINVAL;
		return -1;
	}
	if (kmbox_check_flags(flags))
		return -1;
	*count = n > KMBOX_BATCH_MAX ? KMBOX_BATCH_MAX : n;
	*kflags = (__u32)flags;
	return kmbox_deadline(abs_timeout, kflags, deadline_ns);
}

static int do_batch(int fd, unsigned long cmd, struct kmbox_mmsg *msgs,
		    unsigned int n, int flags,
		    const struct timespec *abs_timeout)
{
	struct kmbox_batch b = {
		.msgs = (__u64)(uintptr_t)msgs,
	};

	if (prep_many(n, flags, abs_timeout, &b.count, &b.flags,
		      &b.deadline_ns))
		return -1;
	return sys_ioctl(fd, cmd, &b);
}

int kmbox_send_batch(int fd, struct kmbox_mmsg *msgs, unsigned int n,
		     int flags, const struct timespec *abs_timeout)
{
	return do_batch(fd, KMBOX_IOC_SEND_BATCH, msgs, n, flags, abs_timeout);
}

int kmbox_receive_batch(int fd, struct kmbox_mmsg *msgs, unsigned int n,
			int flags, const struct timespec *abs_timeout)
{
	return do_batch(fd, KMBOX_IOC_RECV_BATCH, msgs, n, flags, abs_timeout);
}

int kmbox_receive_batch_lost(int fd, struct kmbox_mmsg *msgs, unsigned int n,
			     int flags, const struct timespec *abs_timeout,
			     struct kmbox_loss *lost)
{
	struct kmbox_batchx x = {
		.b.msgs = (__u64)(uintptr_t)msgs,
	};
	int ret;

	if (!lost) {
		errno = EINVAL;
		return -1;
	}
	if (prep_many(n, flags, abs_timeout, &x.b.count, &x.b.flags,
		      &x.b.deadline_ns))
		return -1;
	ret = sys_ioctl(fd, KMBOX_IOC_RECV_BATCHX, &x);
	if (ret < 0)
		return -1;
	*lost = x.lost;
	return ret;
}

int kmbox_zc_reserve(int fd, uint32_t *slots, unsigned int n, int flags,
		     const struct timespec *abs_timeout)
{
	struct kmbox_slots s = {
		.slots = (__u64)(uintptr_t)slots,
	};

	if (prep_many(n, flags, abs_timeout, &s.count, &s.flags,
		      &s.deadline_ns))
		return -1;
	return sys_ioctl(fd, KMBOX_IOC_ZC_RESERVE, &s);
}

int kmbox_zc_release(int fd, const uint32_t *slots, unsigned int n)
{
	/* All or nothing, so a long array cannot be cut short here. */
	if (!n || n > KMBOX_BATCH_MAX) {
		errno = EINVAL;
		return -1;
	}

	struct kmbox_slots s = {
		.slots = (__u64)(uintptr_t)slots,
		.count = n,
	};

	return sys_ioctl(fd, KMBOX_IOC_ZC_RELEASE, &s) < 0 ? -1 : 0;
}

int kmbox_zc_send(int fd, uint32_t slot, size_t len, unsigned int prio,
		  int flags, const struct timespec *abs_timeout)
{
	struct kmbox_send s = {
		.prio = prio,
		.slot = slot,
	};

	if (kmbox_check_flags(flags))
		return -1;
	s.flags = (__u32)flags | KMBOX_F_ZC;
	if (kmbox_deadline(abs_timeout, &s.flags, &s.deadline_ns))
		return -1;
	if (kmbox_len_too_big(len)) {
		errno = EMSGSIZE;
		return -1;
	}
	s.len = (__u32)len;
	return do_send(fd, &s);
}

ssize_t kmbox_zc_receive(int fd, void *buf, size_t len,
			 struct kmbox_msginfo *info, uint32_t *slot,
			 const struct timespec *abs_timeout)
{
	struct kmbox_recv r = {
		.buf = (__u64)(uintptr_t)buf,
		.len = kmbox_clamp_len(len),
		.flags = KMBOX_F_ZC,
	};
	ssize_t ret;

	if (!slot) {
		errno = EINVAL;
		return -1;
	}
	if (kmbox_deadline(abs_timeout, &r.flags, &r.deadline_ns))
		return -1;
	ret = do_receive(fd, &r, info);
	if (ret >= 0)
		*slot = (r.msg_flags & KMBOX_MSG_ZC) ? r.slot : KMBOX_NO_SLOT;
	return ret;
}
