// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox backends.
 *
 *  kmbox           write()/read(): one message per call, two copies
 *  kmbox-ioctl     KMBOX_IOC_SEND/RECV (kmbox_send/kmbox_receive)
 *  kmbox-batch     KMBOX_IOC_SEND_BATCH/RECV_BATCH, copied payloads
 *  kmbox-zc        mmap region: ZC_RESERVE (several slots per call), the
 *                  payload written in the slot, SEND with KMBOX_F_ZC; RECV
 *                  with KMBOX_F_ZC, payload read in place, ZC_RELEASE of
 *                  several slots per call
 *  kmbox-zc-batch  as kmbox-zc, but sends and receives go through the
 *                  batch calls (zero-copy entries)
 *
 * Every mailbox is named, created by the parent before fork with
 * max_msgs = depth, and opened by each child on its own (O_WRONLY to send,
 * O_RDWR to send zero-copy because mmap needs read access, O_RDONLY to
 * receive), so each side has its own file, as unrelated processes would.
 *
 * Held slots and deadlock: a sender reserves up to res_batch slots at a
 * time and only when it holds none (flushing any unsent batch first); a
 * receiver gives slots back once it holds rel_batch of them.  With
 * nprod * res_batch + ncons * rel_batch <= depth / 2 some slot is always
 * free or queued while everyone waits, so no side can block the other
 * forever.
 *
 * The library (userlib/libkmbox.a) is used when the Makefile finds it
 * (KB_USE_LIBKMBOX); its hot path is one ioctl per call.  Otherwise the
 * ioctls are issued here directly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kmbox.h>

#ifdef KB_USE_LIBKMBOX
#include "kmbox.h"
#endif

#include "bench.h"

static struct kmbox_info kinfo;
static int kinfo_ok;
static unsigned int kb_seq;

/* ------------------------------------------------- thin wrapper layer */

#ifdef KB_USE_LIBKMBOX

static int kb_get_info(struct kmbox_info *i)
{
	return kmbox_info(-1, i);
}

static int kb_create(const char *name, struct kmbox_attr *a)
{
	int fd = kmbox_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600, a);

	return fd < 0 ? -1 : close(fd);
}

static int kb_open(const char *name, int oflag)
{
	return kmbox_open(name, oflag | O_CLOEXEC);
}

static int kb_unlink(const char *name)
{
	return kmbox_unlink(name);
}

static int kb_send(int fd, const void *buf, size_t len)
{
	return kmbox_send(fd, buf, len, 0);
}

static ssize_t kb_recv(int fd, void *buf, size_t len)
{
	return kmbox_receive(fd, buf, len, NULL);
}

static int kb_send_batch(int fd, struct kmbox_mmsg *m, unsigned int n)
{
	return kmbox_send_batch(fd, m, n, 0, NULL);
}

static int kb_recv_batch(int fd, struct kmbox_mmsg *m, unsigned int n,
			 int flags)
{
	return kmbox_receive_batch(fd, m, n, flags, NULL);
}

static int kb_reserve(int fd, uint32_t *slots, unsigned int n)
{
	return kmbox_zc_reserve(fd, slots, n, 0, NULL);
}

static int kb_zc_send(int fd, uint32_t slot, size_t len)
{
	return kmbox_zc_send(fd, slot, len, 0, 0, NULL);
}

static ssize_t kb_zc_recv(int fd, void *buf, size_t len, uint32_t *slot)
{
	return kmbox_zc_receive(fd, buf, len, NULL, slot, NULL);
}

static int kb_release(int fd, const uint32_t *slots, unsigned int n)
{
	return kmbox_zc_release(fd, slots, n);
}

static int kb_send_prio(int fd, const void *buf, size_t len, unsigned int prio)
{
	return kmbox_send(fd, buf, len, prio);
}

static ssize_t kb_call(int fd, const void *req, size_t len, void *reply,
		       size_t rlen)
{
	return kmbox_call(fd, req, len, 0, reply, rlen, NULL, NULL);
}

/* a receive that takes call requests: their token in @token (0 if none) */
static ssize_t kb_recv_token(int fd, void *buf, size_t len, uint64_t *token)
{
	struct kmbox_msginfo info;
	ssize_t r = kmbox_receive_info(fd, buf, len, &info, NULL);

	if (r >= 0)
		*token = info.reply_token;
	return r;
}

static int kb_reply(int fd, uint64_t token, const void *buf, size_t len)
{
	return kmbox_reply(fd, token, buf, len);
}

/* answer *@token (0: none) and receive the next request, in one call */
static ssize_t kb_reply_recv(int fd, uint64_t *token, const void *rep, size_t rlen,
			     void *buf, size_t len)
{
	return kmbox_reply_recv(fd, token, rep, rlen, buf, len, NULL, NULL);
}

#else /* raw ioctls */

static int kb_get_info(struct kmbox_info *i)
{
	int fd = open(KMBOX_DEVICE, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	memset(i, 0, sizeof(*i));
	r = ioctl(fd, KMBOX_IOC_INFO, i);
	close(fd);
	return r < 0 ? -1 : 0;
}

static int kb_bind(int fd, const char *name, struct kmbox_attr *a,
		   unsigned int flags)
{
	struct kmbox_open o = {
		.name = (__u64)(uintptr_t)name,
		.attr = (__u64)(uintptr_t)a,
		.flags = flags,
		.mode = 0600,
	};

	return ioctl(fd, KMBOX_IOC_OPEN, &o);
}

static int kb_create(const char *name, struct kmbox_attr *a)
{
	int fd = open(KMBOX_DEVICE, O_RDWR | O_CLOEXEC), err;

	if (fd < 0)
		return -1;
	if (kb_bind(fd, name, a, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

static int kb_open(const char *name, int oflag)
{
	int fd = open(KMBOX_DEVICE, oflag | O_CLOEXEC), err;

	if (fd < 0)
		return -1;
	if (kb_bind(fd, name, NULL, 0) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static int kb_unlink(const char *name)
{
	struct kmbox_unlink u = { .name = (__u64)(uintptr_t)name };
	int fd = open(KMBOX_DEVICE, O_RDONLY | O_CLOEXEC), r, err;

	if (fd < 0)
		return -1;
	r = ioctl(fd, KMBOX_IOC_UNLINK, &u);
	err = errno;
	close(fd);
	errno = err;
	return r;
}

static int kb_send(int fd, const void *buf, size_t len)
{
	struct kmbox_send s = {
		.buf = (__u64)(uintptr_t)buf,
		.len = (__u32)len,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

static ssize_t kb_recv(int fd, void *buf, size_t len)
{
	struct kmbox_recv r = {
		.buf = (__u64)(uintptr_t)buf,
		.len = (__u32)len,
	};

	if (ioctl(fd, KMBOX_IOC_RECV, &r) < 0)
		return -1;
	return r.len;
}

static int kb_send_prio(int fd, const void *buf, size_t len, unsigned int prio)
{
	struct kmbox_send s = {
		.buf = (__u64)(uintptr_t)buf,
		.len = (__u32)len,
		.prio = prio,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

static ssize_t kb_call(int fd, const void *req, size_t len, void *reply,
		       size_t rlen)
{
	struct kmbox_call c = {
		.req = (__u64)(uintptr_t)req,
		.req_len = (__u32)len,
		.reply = (__u64)(uintptr_t)reply,
		.reply_len = (__u32)rlen,
	};

	if (ioctl(fd, KMBOX_IOC_CALL, &c) < 0)
		return -1;
	return c.reply_len;
}

static ssize_t kb_recv_token(int fd, void *buf, size_t len, uint64_t *token)
{
	struct kmbox_recv r = {
		.buf = (__u64)(uintptr_t)buf,
		.len = (__u32)len,
		.flags = KMBOX_F_CALLS,
	};

	if (ioctl(fd, KMBOX_IOC_RECV, &r) < 0)
		return -1;
	*token = r.reply_token;
	return r.len;
}

static int kb_reply(int fd, uint64_t token, const void *buf, size_t len)
{
	struct kmbox_reply r = {
		.token = token,
		.buf = (__u64)(uintptr_t)buf,
		.len = (__u32)len,
	};

	return ioctl(fd, KMBOX_IOC_REPLY, &r);
}

static ssize_t kb_reply_recv(int fd, uint64_t *token, const void *rep, size_t rlen,
			     void *buf, size_t len)
{
	struct kmbox_recvx x = {
		.r = {
			.buf = (__u64)(uintptr_t)buf,
			.len = (__u32)len,
			.flags = KMBOX_F_CALLS,
		},
	};
	struct kmbox_reply_recv a = {
		.reply = {
			.token = *token,
			.buf = (__u64)(uintptr_t)rep,
			.len = (__u32)rlen,
		},
		.recv = (__u64)(uintptr_t)&x,
	};
	int r = ioctl(fd, KMBOX_IOC_REPLY_RECV, &a);

	*token = a.reply.token;
	if (r < 0)
		return -1;
	*token = x.r.reply_token;
	return x.r.len;
}

static int kb_send_batch(int fd, struct kmbox_mmsg *m, unsigned int n)
{
	struct kmbox_batch b = {
		.msgs = (__u64)(uintptr_t)m,
		.count = n,
	};

	return ioctl(fd, KMBOX_IOC_SEND_BATCH, &b);
}

static int kb_recv_batch(int fd, struct kmbox_mmsg *m, unsigned int n,
			 int flags)
{
	struct kmbox_batch b = {
		.msgs = (__u64)(uintptr_t)m,
		.count = n,
		.flags = (__u32)flags,
	};

	return ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
}

static int kb_reserve(int fd, uint32_t *slots, unsigned int n)
{
	struct kmbox_slots s = {
		.slots = (__u64)(uintptr_t)slots,
		.count = n,
	};

	return ioctl(fd, KMBOX_IOC_ZC_RESERVE, &s);
}

static int kb_zc_send(int fd, uint32_t slot, size_t len)
{
	struct kmbox_send s = {
		.len = (__u32)len,
		.flags = KMBOX_F_ZC,
		.slot = slot,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

static ssize_t kb_zc_recv(int fd, void *buf, size_t len, uint32_t *slot)
{
	struct kmbox_recv r = {
		.buf = (__u64)(uintptr_t)buf,
		.len = (__u32)len,
		.flags = KMBOX_F_ZC,
	};

	if (ioctl(fd, KMBOX_IOC_RECV, &r) < 0)
		return -1;
	*slot = (r.msg_flags & KMBOX_MSG_ZC) ? r.slot : KMBOX_NO_SLOT;
	return r.len;
}

static int kb_release(int fd, const uint32_t *slots, unsigned int n)
{
	struct kmbox_slots s = {
		.slots = (__u64)(uintptr_t)slots,
		.count = n,
	};

	return ioctl(fd, KMBOX_IOC_ZC_RELEASE, &s);
}

#endif /* KB_USE_LIBKMBOX */

/* ------------------------------------------------------------- probing */

static int kb_probe_common(char *why, size_t n, uint64_t feat)
{
	if (!kinfo_ok) {
		if (kb_get_info(&kinfo) < 0) {
			if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
				snprintf(why, n, "%s missing: kmbox module not loaded",
					 KMBOX_DEVICE);
			else
				snprintf(why, n, "KMBOX_IOC_INFO failed: %s",
					 strerror(errno));
			return -1;
		}
		kinfo_ok = 1;
		kmbox_present = 1;
	}
	if ((kinfo.features & feat) != feat) {
		snprintf(why, n, "module lacks feature bit(s) 0x%llx",
			 (unsigned long long)(feat & ~kinfo.features));
		return -1;
	}
	return 0;
}

static int kb_probe(char *why, size_t n)
{
	return kb_probe_common(why, n, 0);
}

static int kb_probe_batch(char *why, size_t n)
{
	return kb_probe_common(why, n, KMBOX_FEAT_BATCH);
}

static int kb_probe_zc(char *why, size_t n)
{
	return kb_probe_common(why, n, KMBOX_FEAT_ZEROCOPY);
}

static int kb_probe_zc_batch(char *why, size_t n)
{
	return kb_probe_common(why, n, KMBOX_FEAT_ZEROCOPY | KMBOX_FEAT_BATCH);
}

static int kb_probe_call2(char *why, size_t n)
{
	return kb_probe_common(why, n, KMBOX_FEAT_SYNC);
}

/* never the library's two-call stand-in for an older module */
static int kb_probe_call(char *why, size_t n)
{
	return kb_probe_common(why, n, KMBOX_FEAT_SYNC | KMBOX_FEAT_REPLY_RECV);
}

static size_t kb_max_msg(const struct chan_cfg *cfg)
{
	(void)cfg;
	return kinfo_ok ? kinfo.max_msgsize_cap : 0;
}

static size_t kb_max_msg_zc(const struct chan_cfg *cfg)
{
	size_t lim = kinfo_ok ? kinfo.max_msgsize_cap : 0;

	/* the region must fit depth slots of the rounded-up size */
	if (kinfo_ok && cfg && cfg->depth &&
	    pow2_at_least(cfg->max_size) * cfg->depth > kinfo.region_cap)
		return 1;
	return lim;
}

/* ------------------------------------------------------ create/destroy */

enum kb_kind { KB_RW, KB_IOCTL, KB_BATCH, KB_ZC, KB_ZC_BATCH, KB_CALL };

static uint32_t zc_slot_size(const struct chan_cfg *cfg)
{
	size_t s = pow2_at_least(cfg->max_size);

	return (uint32_t)(s < KMBOX_SLOT_MIN ? KMBOX_SLOT_MIN : s);
}

static int kb_create_kind(struct chan *c, enum kb_kind kind)
{
	struct kmbox_attr a;

	memset(&a, 0, sizeof(a));
	a.max_msgs = c->cfg.depth;
	a.max_msgsize = (uint32_t)(c->cfg.max_size ? c->cfg.max_size : 1);
	if (kind == KB_ZC || kind == KB_ZC_BATCH) {
		a.zc_slots = c->cfg.depth;
		a.zc_slot_size = zc_slot_size(&c->cfg);
		a.max_msgsize = a.zc_slot_size;
	}
	c->priv = kind;
	snprintf(c->name, sizeof(c->name), "kmbox-bench-%s-%u", bench_tag,
		 kb_seq++);
	return kb_create(c->name, &a);
}

static int kb_create_rw(struct chan *c)
{
	return kb_create_kind(c, KB_RW);
}

static int kb_create_ioctl(struct chan *c)
{
	return kb_create_kind(c, KB_IOCTL);
}

static int kb_create_batch(struct chan *c)
{
	return kb_create_kind(c, KB_BATCH);
}

static int kb_create_zc(struct chan *c)
{
	return kb_create_kind(c, KB_ZC);
}

static int kb_create_zc_batch(struct chan *c)
{
	return kb_create_kind(c, KB_ZC_BATCH);
}

static int kb_create_call(struct chan *c)
{
	return kb_create_kind(c, KB_CALL);
}

static void kb_destroy(struct chan *c)
{
	if (c->name[0])
		kb_unlink(c->name);
	c->name[0] = 0;
}

/* -------------------------------------------------------- attach/detach */

struct kb_st {
	int fd;
	int role;
	enum kb_kind kind;
	size_t max;
	char *buf;			/* copy buffer(s), nb * stride bytes */
	size_t stride;
	/* batches */
	struct kmbox_mmsg *mm;
	unsigned int nb;		/* entries per batch call */
	unsigned int n;			/* tx: entries filled; rx: returned */
	unsigned int k;			/* rx: next entry to hand out */
	/* zero-copy */
	char *region;
	size_t region_len;
	uint32_t slot_size, nslots;
	uint32_t cur;			/* tx: slot being filled; rx: slot read */
	uint32_t stash[KMBOX_BATCH_MAX];
	unsigned int nstash, res_batch;
	uint32_t held[KMBOX_BATCH_MAX];
	unsigned int nheld, rel_batch;
	/* call: the client's reply buffer, the server's reply payload */
	char *rbuf;
	uint64_t token;			/* server: request being answered */
	/* kmbox-call server: a reply made, sent with the next receive */
	bool deferred;
	size_t rlen;
};

static unsigned int clampu(unsigned int v, unsigned int lo, unsigned int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static int kb_attach(struct chan *c, struct ep *e, int role)
{
	struct kb_st *s = xcalloc(1, sizeof(*s));
	const struct chan_cfg *cfg = &c->cfg;
	bool zc = c->priv == KB_ZC || c->priv == KB_ZC_BATCH;
	bool batch = c->priv == KB_BATCH || c->priv == KB_ZC_BATCH;
	int oflag;

	s->kind = (enum kb_kind)c->priv;
	s->role = role;
	s->max = cfg->max_size;
	s->stride = (s->max + 63) & ~(size_t)63;
	if (!s->stride)
		s->stride = 64;
	s->nb = 1;
	if (batch && !cfg->latency) {
		/*
		 * As many as fit in about 512 KiB, and at most half the
		 * mailbox depth: a batch the size of the whole queue would
		 * make the two sides take turns (the receiver's batch holds
		 * all the room until it is delivered), where half-depth
		 * batches let one side fill while the other drains.
		 */
		size_t fit = 512 * KiB / s->stride;

		s->nb = clampu((unsigned int)(fit ? fit : 1), 1,
			       clampu(cfg->depth / 2, 1, KMBOX_BATCH_MAX));
	}
	s->res_batch = clampu(cfg->depth / (4 * cfg->nprod), 1, 32);
	s->rel_batch = clampu(cfg->depth / (4 * cfg->ncons), 1, 32);

	if (role == ROLE_RX)
		oflag = O_RDONLY;
	else
		oflag = zc ? O_RDWR : O_WRONLY;
	s->fd = kb_open(c->name, oflag);
	if (s->fd < 0)
		goto fail;
	s->buf = xaligned(s->nb * s->stride);
	if (s->kind == KB_CALL)
		s->rbuf = xaligned(s->stride);
	if (batch) {
		s->mm = xcalloc(s->nb, sizeof(*s->mm));
		for (unsigned int i = 0; i < s->nb; i++) {
			s->mm[i].buf = (__u64)(uintptr_t)(s->buf + i * s->stride);
			s->mm[i].len = (__u32)s->max;
		}
	}
	if (zc) {
		s->slot_size = zc_slot_size(cfg);
		s->nslots = cfg->depth;
		s->region_len = ((size_t)s->slot_size * s->nslots + 4095) &
				~(size_t)4095;
		s->region = mmap(NULL, s->region_len,
				 PROT_READ | (role == ROLE_TX ? PROT_WRITE : 0),
				 MAP_SHARED, s->fd, KMBOX_OFF_REGION);
		if (s->region == MAP_FAILED) {
			s->region = NULL;
			goto fail;
		}
		/* as for the rings: no first-touch faults inside a measurement */
		prefault(s->region, s->region_len, role == ROLE_TX);
	}
	e->st = s;
	return 0;
fail:
	{
		int err = errno;

		if (s->fd >= 0)
			close(s->fd);
		free(s->buf);
		free(s->rbuf);
		free(s->mm);
		free(s);
		errno = err;
	}
	return -1;
}

static void kb_detach(struct ep *e)
{
	struct kb_st *s = e->st;

	if (!s)
		return;
	if (s->region)
		munmap(s->region, s->region_len);
	close(s->fd);		/* frees any slot still held */
	free(s->buf);
	free(s->rbuf);
	free(s->mm);
	free(s);
	e->st = NULL;
}

/* ----------------------------------------------------------- copy paths */

/* a receive failed; EINTR after a cancel request means "stop" */
static const void *kb_rx_fail(void)
{
	if (errno == EINTR && bench_cancel)
		errno = ECANCELED;
	return NULL;
}

static void *kb_tx_begin_copy(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;

	if (len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	return s->buf;
}

static int kb_tx_commit_rw(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;
	ssize_t r;

	do
		r = write(s->fd, s->buf, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if ((size_t)r != len) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

static const void *kb_rx_begin_rw(struct ep *e, size_t *len)
{
	struct kb_st *s = e->st;
	ssize_t r;

	do
		r = read(s->fd, s->buf, s->max);
	while (r < 0 && errno == EINTR && !bench_cancel);
	if (r < 0)
		return kb_rx_fail();
	*len = (size_t)r;
	return s->buf;
}

static int kb_tx_commit_ioctl(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;

	while (kb_send(s->fd, s->buf, len) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static const void *kb_rx_begin_ioctl(struct ep *e, size_t *len)
{
	struct kb_st *s = e->st;
	ssize_t r;

	do
		r = kb_recv(s->fd, s->buf, s->max);
	while (r < 0 && errno == EINTR && !bench_cancel);
	if (r < 0)
		return kb_rx_fail();
	*len = (size_t)r;
	return s->buf;
}

static int kb_rx_end_nop(struct ep *e)
{
	(void)e;
	return 0;
}

/* ---------------------------------------------------------- batch paths */

static int kb_flush(struct ep *e)
{
	struct kb_st *s = e->st;
	unsigned int done = 0;

	while (done < s->n) {
		int r = kb_send_batch(s->fd, s->mm + done, s->n - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EPROTO;
			return -1;
		}
		done += (unsigned int)r;
	}
	s->n = 0;
	return 0;
}

static void *kb_tx_begin_batch(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;

	if (len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	return s->buf + (size_t)s->n * s->stride;
}

static int kb_tx_commit_batch(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;
	struct kmbox_mmsg *m = &s->mm[s->n++];

	m->buf = (__u64)(uintptr_t)(s->buf + (size_t)(s->n - 1) * s->stride);
	m->len = (__u32)len;
	m->prio = 0;
	m->slot = 0;
	m->flags = 0;
	return s->n == s->nb ? kb_flush(e) : 0;
}

static int kb_fill_batch(struct kb_st *s, int flags)
{
	int r;

	for (unsigned int i = 0; i < s->n; i++) {
		s->mm[i].buf = (__u64)(uintptr_t)(s->buf + i * s->stride);
		s->mm[i].len = (__u32)s->max;
	}
	do
		r = kb_recv_batch(s->fd, s->mm, s->nb, flags);
	while (r < 0 && errno == EINTR && !bench_cancel);
	if (r <= 0) {
		if (r == 0)
			errno = EPROTO;
		else
			kb_rx_fail();
		s->n = 0;
		return -1;
	}
	s->n = (unsigned int)r;
	s->k = 0;
	return 0;
}

static const void *kb_rx_begin_batch(struct ep *e, size_t *len)
{
	struct kb_st *s = e->st;
	struct kmbox_mmsg *m;

	if (s->k == s->n && kb_fill_batch(s, 0) < 0)
		return NULL;
	m = &s->mm[s->k];
	*len = m->len;
	return (const void *)(uintptr_t)m->buf;
}

static unsigned int kb_rx_pending(struct ep *e)
{
	struct kb_st *s = e->st;

	return s->n - s->k;
}

static int kb_rx_end_batch(struct ep *e)
{
	struct kb_st *s = e->st;

	s->k++;
	return 0;
}

/* ------------------------------------------------------ zero-copy paths */

static int kb_release_held(struct kb_st *s)
{
	if (!s->nheld)
		return 0;
	if (kb_release(s->fd, s->held, s->nheld) < 0)
		return -1;
	s->nheld = 0;
	return 0;
}

static void *kb_tx_begin_zc(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;

	if (len > s->slot_size || len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (!s->nstash) {
		int r;

		/* never sleep for a slot while holding unsent ones */
		if (s->n && kb_flush(e) < 0)
			return NULL;
		do
			r = kb_reserve(s->fd, s->stash, s->res_batch);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			if (r == 0)
				errno = EPROTO;
			return NULL;
		}
		s->nstash = (unsigned int)r;
		for (int i = 0; i < r; i++)
			if (s->stash[i] >= s->nslots) {
				errno = ERANGE;
				return NULL;
			}
	}
	s->cur = s->stash[--s->nstash];
	return s->region + (size_t)s->cur * s->slot_size;
}

static int kb_tx_commit_zc(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;

	while (kb_zc_send(s->fd, s->cur, len) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int kb_tx_commit_zc_batch(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;
	struct kmbox_mmsg *m = &s->mm[s->n++];

	m->buf = 0;
	m->len = (__u32)len;
	m->prio = 0;
	m->slot = s->cur;
	m->flags = KMBOX_MSG_ZC;
	return s->n == s->nb ? kb_flush(e) : 0;
}

static const void *kb_slot_or_buf(struct kb_st *s, uint32_t slot,
				  const void *buf)
{
	s->cur = slot;
	if (slot == KMBOX_NO_SLOT)
		return buf;
	if (slot >= s->nslots) {
		errno = ERANGE;
		return NULL;
	}
	return s->region + (size_t)slot * s->slot_size;
}

static const void *kb_rx_begin_zc(struct ep *e, size_t *len)
{
	struct kb_st *s = e->st;
	uint32_t slot;
	ssize_t r;

	do
		r = kb_zc_recv(s->fd, s->buf, s->max, &slot);
	while (r < 0 && errno == EINTR && !bench_cancel);
	if (r < 0)
		return kb_rx_fail();
	*len = (size_t)r;
	if ((size_t)r > s->slot_size) {
		errno = EPROTO;
		return NULL;
	}
	return kb_slot_or_buf(s, slot, s->buf);
}

static int kb_rx_end_zc(struct ep *e)
{
	struct kb_st *s = e->st;

	if (s->cur != KMBOX_NO_SLOT) {
		s->held[s->nheld++] = s->cur;
		if (s->nheld >= s->rel_batch)
			return kb_release_held(s);
	}
	return 0;
}

static const void *kb_rx_begin_zc_batch(struct ep *e, size_t *len)
{
	struct kb_st *s = e->st;
	struct kmbox_mmsg *m;

	if (s->k == s->n && kb_fill_batch(s, KMBOX_F_ZC) < 0)
		return NULL;
	m = &s->mm[s->k];
	*len = m->len;
	if (m->len > s->slot_size) {
		errno = EPROTO;
		return NULL;
	}
	return kb_slot_or_buf(s, (m->flags & KMBOX_MSG_ZC) ? m->slot :
			      KMBOX_NO_SLOT, (const void *)(uintptr_t)m->buf);
}

static int kb_rx_end_zc_batch(struct ep *e)
{
	struct kb_st *s = e->st;

	s->k++;
	return kb_rx_end_zc(e);
}

/* ------------------------------------------------------- call / reply */

/*
 * kmbox-call, kmbox-call2: one mailbox.  The client (O_WRONLY) fills
 * s->buf and calls kmbox_call(), the reply lands in s->rbuf.  The server
 * (O_RDONLY) of kmbox-call answers each request with the receive of the
 * next (kmbox_reply_recv(): one system call per request); that of
 * kmbox-call2 receives with KMBOX_F_CALLS (kmbox_receive_info()) and
 * answers with kmbox_reply() on the same descriptor: two.
 */
static void *kb_tx_begin_call(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;

	if (len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	/* the server writes its reply apart from the request it read */
	return s->role == ROLE_RX ? s->rbuf : s->buf;
}

static const void *kb_call_call(struct ep *e, size_t len, size_t *rlen)
{
	struct kb_st *s = e->st;
	ssize_t r = kb_call(s->fd, s->buf, len, s->rbuf, s->max);

	if (r < 0)
		return NULL;
	*rlen = (size_t)r;
	return s->rbuf;
}

static int kb_tx_commit_call2(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;

	if (s->role != ROLE_RX || !s->token) {
		errno = EPROTO;		/* a reply without a request */
		return -1;
	}
	if (kb_reply(s->fd, s->token, s->rbuf, len) < 0)
		return -1;
	s->token = 0;
	return 0;
}

static const void *kb_rx_begin_call2(struct ep *e, size_t *len)
{
	struct kb_st *s = e->st;
	ssize_t r;

	do
		r = kb_recv_token(s->fd, s->buf, s->max, &s->token);
	while (r < 0 && errno == EINTR && !bench_cancel);
	if (r < 0)
		return kb_rx_fail();
	if (!s->token) {
		errno = EPROTO;		/* an ordinary message, not a call */
		return NULL;
	}
	*len = (size_t)r;
	return s->buf;
}

/* The reply waits for the next receive, or for the end (kb_detach_call). */
static int kb_tx_commit_call(struct ep *e, size_t len)
{
	struct kb_st *s = e->st;

	if (s->role != ROLE_RX || !s->token || s->deferred) {
		errno = EPROTO;		/* a reply without a request */
		return -1;
	}
	s->deferred = true;
	s->rlen = len;
	return 0;
}

static const void *kb_rx_begin_call(struct ep *e, size_t *len)
{
	struct kb_st *s = e->st;
	uint64_t tok;
	ssize_t r;

	for (;;) {
		tok = s->deferred ? s->token : 0;
		r = kb_reply_recv(s->fd, &tok, s->rbuf, s->rlen, s->buf, s->max);
		if (r >= 0 || !tok)
			s->deferred = false;	/* the reply went */
		if (r >= 0)
			break;
		if (tok)
			return NULL;		/* the reply failed: errno */
		if (errno != EINTR || bench_cancel)
			return kb_rx_fail();
	}
	s->token = tok;
	if (!s->token) {
		errno = EPROTO;		/* an ordinary message, not a call */
		return NULL;
	}
	*len = (size_t)r;
	return s->buf;
}

/* The last reply, made after the end marker, goes alone. */
static void kb_detach_call(struct ep *e)
{
	struct kb_st *s = e->st;

	if (s && s->deferred)
		kb_reply(s->fd, s->token, s->rbuf, s->rlen);
	kb_detach(e);
}

/* ----------------------------------------------------------- the table */

const struct mech mech_kmbox = {
	.name = "kmbox", .desc = "kmbox copy path: write()/read()",
	.flags = MF_MPMC | MF_KMBOX,
	.probe = kb_probe, .max_msg = kb_max_msg,
	.create = kb_create_rw, .destroy = kb_destroy,
	.attach = kb_attach, .detach = kb_detach,
	.tx_begin = kb_tx_begin_copy, .tx_commit = kb_tx_commit_rw,
	.rx_begin = kb_rx_begin_rw, .rx_end = kb_rx_end_nop,
};

const struct mech mech_kmbox_ioctl = {
	.name = "kmbox-ioctl", .desc = "kmbox copy path: KMBOX_IOC_SEND/RECV",
	.flags = MF_MPMC | MF_KMBOX,
	.probe = kb_probe, .max_msg = kb_max_msg,
	.create = kb_create_ioctl, .destroy = kb_destroy,
	.attach = kb_attach, .detach = kb_detach,
	.tx_begin = kb_tx_begin_copy, .tx_commit = kb_tx_commit_ioctl,
	.rx_begin = kb_rx_begin_ioctl, .rx_end = kb_rx_end_nop,
};

const struct mech mech_kmbox_batch = {
	.name = "kmbox-batch", .desc = "kmbox SEND_BATCH/RECV_BATCH (copied payloads)",
	.flags = MF_MPMC | MF_KMBOX,
	.probe = kb_probe_batch, .max_msg = kb_max_msg,
	.create = kb_create_batch, .destroy = kb_destroy,
	.attach = kb_attach, .detach = kb_detach,
	.tx_begin = kb_tx_begin_batch, .tx_commit = kb_tx_commit_batch,
	.tx_flush = kb_flush,
	.rx_begin = kb_rx_begin_batch, .rx_end = kb_rx_end_batch,
	.rx_pending = kb_rx_pending,
};

const struct mech mech_kmbox_zc = {
	.name = "kmbox-zc", .desc = "kmbox zero-copy: region slots, SEND/RECV with KMBOX_F_ZC, batched reserve/release",
	.flags = MF_MPMC | MF_KMBOX,
	.probe = kb_probe_zc, .max_msg = kb_max_msg_zc,
	.create = kb_create_zc, .destroy = kb_destroy,
	.attach = kb_attach, .detach = kb_detach,
	.tx_begin = kb_tx_begin_zc, .tx_commit = kb_tx_commit_zc,
	.rx_begin = kb_rx_begin_zc, .rx_end = kb_rx_end_zc,
};

const struct mech mech_kmbox_zc_batch = {
	.name = "kmbox-zc-batch", .desc = "kmbox zero-copy through SEND_BATCH/RECV_BATCH",
	.flags = MF_MPMC | MF_KMBOX,
	.probe = kb_probe_zc_batch, .max_msg = kb_max_msg_zc,
	.create = kb_create_zc_batch, .destroy = kb_destroy,
	.attach = kb_attach, .detach = kb_detach,
	.tx_begin = kb_tx_begin_zc, .tx_commit = kb_tx_commit_zc_batch,
	.tx_flush = kb_flush,
	.rx_begin = kb_rx_begin_zc_batch, .rx_end = kb_rx_end_zc_batch,
	.rx_pending = kb_rx_pending,
};

const struct mech mech_kmbox_call = {
	.name = "kmbox-call", .desc = "kmbox call/reply: kmbox_call(); server: kmbox_reply_recv(), one call per request (call workload only)",
	.flags = MF_KMBOX | MF_CALL,
	.probe = kb_probe_call, .max_msg = kb_max_msg,
	.create = kb_create_call, .destroy = kb_destroy,
	.attach = kb_attach, .detach = kb_detach_call,
	.tx_begin = kb_tx_begin_call, .tx_commit = kb_tx_commit_call,
	.rx_begin = kb_rx_begin_call, .rx_end = kb_rx_end_nop,
	.call = kb_call_call,
};

const struct mech mech_kmbox_call2 = {
	.name = "kmbox-call2", .desc = "kmbox call/reply: kmbox_call(); server: receive with KMBOX_F_CALLS, then kmbox_reply(): two calls per request (call workload only)",
	.flags = MF_KMBOX | MF_CALL,
	.probe = kb_probe_call2, .max_msg = kb_max_msg,
	.create = kb_create_call, .destroy = kb_destroy,
	.attach = kb_attach, .detach = kb_detach,
	.tx_begin = kb_tx_begin_call, .tx_commit = kb_tx_commit_call2,
	.rx_begin = kb_rx_begin_call2, .rx_end = kb_rx_end_nop,
	.call = kb_call_call,
};

/* -------------------------------------- depth workload (depth.c) */

int kmbox_depth_open(const char *name, unsigned int max_msgs, size_t msgsize)
{
	struct kmbox_attr a;
	int fd, err;

	memset(&a, 0, sizeof(a));
	a.max_msgs = max_msgs;
	a.max_msgsize = (uint32_t)(msgsize ? msgsize : 1);
	if (kb_create(name, &a) < 0)
		return -1;
	fd = kb_open(name, O_RDWR);
	err = errno;
	kb_unlink(name);	/* the open file keeps it alive */
	errno = err;
	return fd;
}

int kmbox_depth_send(int fd, const void *buf, size_t len, unsigned int prio)
{
	return kb_send_prio(fd, buf, len, prio);
}

ssize_t kmbox_depth_recv(int fd, void *buf, size_t len)
{
	return kb_recv(fd, buf, len);
}

int kmbox_probe_features(char *why, size_t n, uint64_t feat)
{
	return kb_probe_common(why, n, feat);
}

unsigned int kmbox_max_msgs_cap(void)
{
	return kinfo_ok ? kinfo.max_msgs_cap : 0;
}

void kmbox_describe(char *buf, size_t n)
{
	char why[160];

	if (kb_probe(why, sizeof(why)) < 0) {
		snprintf(buf, n, "not available (%s)", why);
		return;
	}
	snprintf(buf, n,
		 "api %u, features 0x%llx (%s%s%s%s), max_msgs_cap %u, max_msgsize_cap %u, region_cap %llu, user_quota %llu%s",
		 kinfo.api_version, (unsigned long long)kinfo.features,
		 kinfo.features & KMBOX_FEAT_ZEROCOPY ? "zerocopy " : "",
		 kinfo.features & KMBOX_FEAT_BATCH ? "batch " : "",
		 kinfo.features & KMBOX_FEAT_CREDS ? "creds " : "",
		 kinfo.features & KMBOX_FEAT_SYNC ? "sync" : "",
		 kinfo.max_msgs_cap, kinfo.max_msgsize_cap,
		 (unsigned long long)kinfo.region_cap,
		 (unsigned long long)kinfo.user_quota,
#ifdef KB_USE_LIBKMBOX
		 "; via libkmbox"
#else
		 "; via raw ioctls"
#endif
		 );
}
