// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring mechanisms (liburing, linked statically):
 *
 *  kmbox-uring    kmbox through IORING_OP_WRITE/READ, one message per op
 *  kmbox-ucmd     kmbox through its io_uring commands KMBOX_URING_SEND_BATCH
 *                 and KMBOX_URING_RECV_BATCH
 *  seqpacket-uring  an AF_UNIX SOCK_SEQPACKET socketpair through
 *                 IORING_OP_WRITE/READ, the message-keeping peer
 *  pipe-uring     pipe(2) (O_NONBLOCK, so that io_uring polls it rather
 *                 than blocking an io-wq worker) through
 *                 IORING_OP_WRITE/READ, framed as the pipe mechanism is
 *                 (mech_posix.c: an 8-byte header, one write per
 *                 message); the receiver reads as much as the pipe holds
 *                 into one buffer, one READ at a time
 *
 * Both sides batch: up to nb operations go in one io_uring_enter()
 * (nb = 1 for ping-pong, else at most half the depth and 32).  Order is
 * kept as each mechanism allows:
 *  - writes are linked (IOSQE_IO_LINK): a write waiting for room holds
 *    back the ones behind it, which io_uring issues only once it is done;
 *  - reads of kmbox-uring and seqpacket-uring stay outstanding (nb of
 *    them, polled by io_uring); they complete in the order they take
 *    messages, and are handed out in completion order;
 *  - kmbox commands never wait: the sender's one SEND_BATCH command
 *    sends as many of its nb messages as there is room for, in order,
 *    and the receiver's one RECV_BATCH command takes up to nb, as a
 *    pipe-uring READ takes what the pipe holds.  On -EAGAIN a side waits
 *    for POLLIN (POLLOUT) with poll(2) and goes on from there; a sender
 *    sends the rest.
 *
 * At detach each side counts the io-wq worker threads of its process
 * (iou-wrk-*) and prints the count to stderr when it is not 0: the issue
 * asks for none.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "bench.h"
#include "kmbox_uring.h"

#define KU_DEVICE	"/dev/kmbox"
#define KU_MAXB		32

enum ku_kind { KU_RW, KU_CMD, KU_SEQ, KU_PIPE };

/* pipe-uring framing, as mech_posix.c's streams: length, magic */
#define KU_HDR		8
#define KU_MAGIC	0x6b6d6278U

static unsigned int ku_seq;

/* ------------------------------------------------------- kmbox setup */

static int ku_bind(int fd, const char *name, struct kmbox_attr *a, unsigned int flags)
{
	struct kmbox_open o = {
		.name = (__u64)(uintptr_t)name,
		.attr = (__u64)(uintptr_t)a,
		.flags = flags,
		.mode = 0600,
	};

	return ioctl(fd, KMBOX_IOC_OPEN, &o);
}

static int ku_open(const char *name, int oflag, struct kmbox_attr *a, unsigned int flags)
{
	int fd = open(KU_DEVICE, oflag | O_CLOEXEC), err;

	if (fd < 0)
		return -1;
	if (ku_bind(fd, name, a, flags) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static int ku_probe_feat(char *why, size_t n, uint64_t feat)
{
	struct kmbox_info info;
	int fd = open(KU_DEVICE, O_RDONLY | O_CLOEXEC), r;
	struct io_uring ring;

	if (fd < 0) {
		snprintf(why, n, "%s missing: kmbox module not loaded", KU_DEVICE);
		return -1;
	}
	memset(&info, 0, sizeof(info));
	r = ioctl(fd, KMBOX_IOC_INFO, &info);
	close(fd);
	if (r < 0) {
		snprintf(why, n, "KMBOX_IOC_INFO failed: %s", strerror(errno));
		return -1;
	}
	if ((info.features & feat) != feat) {
		snprintf(why, n, "module lacks feature bit(s) 0x%llx",
			 (unsigned long long)(feat & ~info.features));
		return -1;
	}
	r = io_uring_queue_init(4, &ring, IORING_SETUP_SQE128);
	if (r < 0) {
		snprintf(why, n, "io_uring_queue_init: %s", strerror(-r));
		return -1;
	}
	io_uring_queue_exit(&ring);
	return 0;
}

static int ku_probe_rw(char *why, size_t n)
{
	return ku_probe_feat(why, n, 0);
}

static int ku_probe_cmd(char *why, size_t n)
{
	return ku_probe_feat(why, n, KMBOX_FEAT_URING);
}

/* pipes and sockets: any ring will do */
static int ku_probe_seq(char *why, size_t n)
{
	struct io_uring ring;
	int r = io_uring_queue_init(4, &ring, 0);

	if (r < 0) {
		snprintf(why, n, "io_uring_queue_init: %s", strerror(-r));
		return -1;
	}
	io_uring_queue_exit(&ring);
	return 0;
}

static size_t ku_max_msg(const struct chan_cfg *cfg)
{
	(void)cfg;
	return 4 * MiB;
}

static size_t ku_max_msg_seq(const struct chan_cfg *cfg)
{
	(void)cfg;
	return 64 * KiB;	/* what a default socket buffer carries */
}

static int ku_create_kmbox(struct chan *c, enum ku_kind kind)
{
	struct kmbox_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.max_msgs = c->cfg.depth;
	a.max_msgsize = (uint32_t)(c->cfg.max_size ? c->cfg.max_size : 1);
	c->priv = kind;
	snprintf(c->name, sizeof(c->name), "kmbox-bench-u-%s-%u", bench_tag, ku_seq++);
	fd = ku_open(c->name, O_RDWR, &a, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL);
	if (fd < 0)
		return -1;
	return close(fd);
}

static int ku_create_rw(struct chan *c)
{
	return ku_create_kmbox(c, KU_RW);
}

static int ku_create_cmd(struct chan *c)
{
	return ku_create_kmbox(c, KU_CMD);
}

static int ku_create_seq(struct chan *c)
{
	int sv[2];
	int sz = (int)(c->cfg.depth * (c->cfg.max_size + 64));

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	/* as uds-dgram: buffers sized to the depth (FORCE needs root) */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	c->fd[0] = sv[0];	/* send */
	c->fd[1] = sv[1];	/* receive */
	c->priv = KU_SEQ;
	return 0;
}

static int ku_create_pipe(struct chan *c)
{
	int p[2];

	/*
	 * Non-blocking, as kmbox's files are FMODE_NOWAIT: 6.1's io_uring
	 * tries a read or write without blocking, and polls when it would
	 * block, only on a file that can say so; a blocking pipe's every
	 * READ and every WRITE to a full pipe went to an io-wq worker.
	 */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	c->fd[0] = p[1];	/* send */
	c->fd[1] = p[0];	/* receive */
	c->priv = KU_PIPE;
	return 0;
}

static void ku_destroy(struct chan *c)
{
	if (c->priv == KU_SEQ || c->priv == KU_PIPE) {
		close(c->fd[0]);
		close(c->fd[1]);
		return;
	}
	{
		struct kmbox_unlink u = { .name = (__u64)(uintptr_t)c->name };
		int fd = open(KU_DEVICE, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ioctl(fd, KMBOX_IOC_UNLINK, &u);
			close(fd);
		}
	}
}

/* ------------------------------------------------------------ endpoints */

struct ku_st {
	const char *name;		/* the mechanism's */
	enum ku_kind kind;
	int role, fd;
	struct io_uring ring;
	size_t max, stride;
	char *buf;			/* nb buffers of stride bytes */
	unsigned int nb;
	/* tx: buffers filled and not yet sent: [sent, n); off: bytes written */
	unsigned int n, sent;
	size_t len[KU_MAXB], off[KU_MAXB];
	struct kmbox_mmsg ents[KU_MAXB];	/* kmbox-ucmd: a batch's entries */
	/* rx */
	unsigned int ready[KU_MAXB];	/* buffer index of each message, in order */
	int rlen[KU_MAXB];
	unsigned int nready, k;
	unsigned int outstanding;	/* kmbox-uring, seqpacket: reads in flight */
	unsigned int resubmit[KU_MAXB], nresubmit;
	/* pipe-uring rx: one stream buffer, [pos, fill) read, cur handed out */
	char *sbuf;
	size_t cap, pos, fill, cur;
	bool latency;
};

static int iou_workers(void)
{
	char path[300], comm[64];
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	FILE *f;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "iou-wrk-", 8))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static char *ku_buf(struct ku_st *s, unsigned int i)
{
	return s->buf + (size_t)i * s->stride;
}

static void ku_prep_read(struct ku_st *s, unsigned int i)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	io_uring_prep_read(sqe, s->fd, ku_buf(s, i), (unsigned int)s->max, -1);
	io_uring_sqe_set_data64(sqe, i);
	s->outstanding++;
}

static int ku_attach(struct chan *c, struct ep *e, int role)
{
	struct ku_st *s = xcalloc(1, sizeof(*s));
	const struct chan_cfg *cfg = &c->cfg;
	unsigned int flags = c->priv == KU_CMD ? IORING_SETUP_SQE128 : 0;
	int r;

	s->name = c->m->name;
	s->kind = (enum ku_kind)c->priv;
	s->role = role;
	s->latency = cfg->latency;
	s->max = cfg->max_size ? cfg->max_size : 1;
	s->stride = (s->max + (s->kind == KU_PIPE ? KU_HDR : 0) + 63) & ~(size_t)63;
	s->nb = 1;
	if (!cfg->latency) {
		s->nb = cfg->depth / 2;
		if (s->nb < 1)
			s->nb = 1;
		if (s->nb > KU_MAXB)
			s->nb = KU_MAXB;
		if ((size_t)s->nb * s->stride > 4 * MiB)
			s->nb = (unsigned int)(4 * MiB / s->stride) ? : 1;
	}
	s->fd = -1;
	r = io_uring_queue_init(2 * KU_MAXB, &s->ring, flags);
	if (r < 0) {
		errno = -r;
		free(s);
		return -1;
	}
	if (s->kind == KU_SEQ || s->kind == KU_PIPE)
		s->fd = dup(c->fd[role == ROLE_TX ? 0 : 1]);
	else
		s->fd = ku_open(c->name, role == ROLE_TX ? O_WRONLY : O_RDONLY, NULL, 0);
	if (s->fd < 0) {
		int err = errno;

		io_uring_queue_exit(&s->ring);
		free(s);
		errno = err;
		return -1;
	}
	s->buf = xaligned((size_t)s->nb * s->stride);
	if (s->kind == KU_PIPE && role == ROLE_RX) {
		/* as mech_posix.c: a whole number of messages, >= 64 KiB */
		size_t unit = KU_HDR + cfg->msg_size, k = (64 * KiB + unit - 1) / unit;

		s->cap = (k < 2 ? 2 : k) * unit;
		if (s->cap < KU_HDR + s->max)
			s->cap = KU_HDR + s->max;
		s->sbuf = xaligned(s->cap);
	}
	e->st = s;
	return 0;
}

static void ku_detach(struct ep *e)
{
	struct ku_st *s = e->st;
	int w;

	if (!s)
		return;
	w = iou_workers();
	if (w)
		fprintf(stderr, "kmbox-bench: %s %s: %d io-wq worker thread(s)\n",
			s->name, s->role == ROLE_TX ? "sender" : "receiver", w);
	io_uring_queue_exit(&s->ring);
	close(s->fd);
	free(s->buf);
	free(s->sbuf);
	free(s);
	e->st = NULL;
}

/* Wait for @events on the file; EINTR after a cancel request means "stop". */
static int ku_wait(struct ku_st *s, short events)
{
	struct pollfd p = { .fd = s->fd, .events = events };
	int r;

	do
		r = poll(&p, 1, -1);
	while (r < 0 && errno == EINTR && !bench_cancel);
	if (r < 0 && errno == EINTR)
		errno = ECANCELED;
	return r < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ tx */

static void *ku_tx_begin(struct ep *e, size_t len)
{
	struct ku_st *s = e->st;

	if (len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	return ku_buf(s, s->n) + (s->kind == KU_PIPE ? KU_HDR : 0);
}

/*
 * kmbox-ucmd: submit the batch command just prepared and wait for its CQE.
 * Return: how many messages it moved; 0 if none could (-EAGAIN), once
 * @events came; -1 with errno on an error.
 */
static int ku_batch_done(struct ku_st *s, short events)
{
	struct io_uring_cqe *cqe;
	int r;

	do
		r = io_uring_submit_and_wait(&s->ring, 1);
	while (r == -EINTR);
	if (r >= 0)
		do
			r = io_uring_wait_cqe(&s->ring, &cqe);
		while (r == -EINTR);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	r = cqe->res;
	io_uring_cqe_seen(&s->ring, cqe);
	if (r > 0)
		return r;
	if (r != -EAGAIN) {
		errno = r < 0 ? -r : EPROTO;
		return -1;
	}
	return ku_wait(s, events) < 0 ? -1 : 0;
}

/* kmbox-ucmd: send buffers [sent, n) with SEND_BATCH commands, in order */
static int ku_flush_cmd(struct ku_st *s)
{
	unsigned int i;

	for (i = s->sent; i < s->n; i++)
		s->ents[i] = (struct kmbox_mmsg){
			.buf = (__u64)(uintptr_t)ku_buf(s, i), .len = (__u32)s->len[i],
		};
	while (s->sent < s->n) {
		struct kmbox_batch b = {
			.msgs = (__u64)(uintptr_t)&s->ents[s->sent],
			.count = s->n - s->sent,
		};
		int r;

		kmbox_uring_prep_send_batch(io_uring_get_sqe(&s->ring), s->fd, &b);
		r = ku_batch_done(s, POLLOUT);
		if (r < 0)
			return -1;
		s->sent += (unsigned int)r;
	}
	s->n = s->sent = 0;
	return 0;
}

/*
 * Send buffers [sent, n) as one linked chain of writes, in one
 * io_uring_enter, and wait for it.  A short write (a pipe taking part of
 * a big message) fails the links behind it; the rest goes again.
 */
static int ku_flush(struct ep *e)
{
	struct ku_st *s = e->st;

	if (s->kind == KU_CMD)
		return ku_flush_cmd(s);
	while (s->sent < s->n) {
		unsigned int i, cnt = s->n - s->sent;
		int res[KU_MAXB], r;
		struct io_uring_cqe *cqe;

		for (i = s->sent; i < s->n; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

			/* a pipe may have taken part of a big message */
			io_uring_prep_write(sqe, s->fd, ku_buf(s, i) + s->off[i],
					    (unsigned int)(s->len[i] - s->off[i]), -1);
			io_uring_sqe_set_data64(sqe, i);
			if (i + 1 < s->n)
				sqe->flags |= IOSQE_IO_LINK;
		}
		do
			r = io_uring_submit_and_wait(&s->ring, cnt);
		while (r == -EINTR);
		if (r < 0) {
			errno = -r;
			return -1;
		}
		for (i = 0; i < cnt; i++) {
			do
				r = io_uring_wait_cqe(&s->ring, &cqe);
			while (r == -EINTR);
			if (r < 0) {
				errno = -r;
				return -1;
			}
			res[cqe->user_data - s->sent] = cqe->res;
			io_uring_cqe_seen(&s->ring, cqe);
		}
		/* The chain ran in order and stopped at the first short write. */
		for (i = 0; i < cnt; i++) {
			unsigned int k = s->sent;

			if (res[i] < 0) {
				errno = -res[i];
				return -1;
			}
			s->off[k] += (size_t)res[i];
			if (s->off[k] < s->len[k])
				break;
			s->off[k] = 0;
			s->sent++;
		}
	}
	s->n = s->sent = 0;
	return 0;
}

static int ku_tx_commit(struct ep *e, size_t len)
{
	struct ku_st *s = e->st;

	if (s->kind == KU_PIPE) {
		uint32_t h[2] = { (uint32_t)len, KU_MAGIC };

		memcpy(ku_buf(s, s->n), h, sizeof(h));
		len += KU_HDR;
	}
	s->len[s->n++] = len;
	if (s->n == s->nb || s->latency)
		return ku_flush(e);
	return 0;
}

/* ------------------------------------------------------------------ rx */

/*
 * kmbox-ucmd: one RECV_BATCH command for up to nb messages (a pipe-uring
 * READ takes as many as the pipe holds, too); until one message came.
 */
static int ku_fill_cmd(struct ku_st *s)
{
	for (;;) {
		struct kmbox_batch b = {
			.msgs = (__u64)(uintptr_t)s->ents,
			.count = s->nb,
		};
		unsigned int i;
		int r;

		for (i = 0; i < s->nb; i++) {
			s->ents[i].buf = (__u64)(uintptr_t)ku_buf(s, i);
			s->ents[i].len = (__u32)s->max;
		}
		kmbox_uring_prep_recv_batch(io_uring_get_sqe(&s->ring), s->fd, &b, NULL);
		r = ku_batch_done(s, POLLIN);
		if (r < 0)
			return -1;
		if (!r)
			continue;
		for (i = 0; i < (unsigned int)r; i++) {
			s->ready[i] = i;
			s->rlen[i] = (int)s->ents[i].len;
		}
		s->nready = (unsigned int)r;
		s->k = 0;
		return 0;
	}
}

/* kmbox-uring, seqpacket-uring: nb reads outstanding, handed out as they complete */
static int ku_fill_rw(struct ku_st *s)
{
	struct io_uring_cqe *cqe;
	unsigned int i, got = 0;
	int r;

	for (i = 0; i < s->nresubmit; i++)
		ku_prep_read(s, s->resubmit[i]);
	s->nresubmit = 0;
	if (!s->outstanding)
		for (i = 0; i < s->nb; i++)
			ku_prep_read(s, i);
	do {
		r = io_uring_submit_and_wait(&s->ring, 1);
		if (r == -EINTR && bench_cancel) {
			errno = ECANCELED;
			return -1;
		}
	} while (r == -EINTR);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	while (got < KU_MAXB && !io_uring_peek_cqe(&s->ring, &cqe)) {
		s->outstanding--;
		if (cqe->res < 0) {
			errno = -cqe->res;
			io_uring_cqe_seen(&s->ring, cqe);
			return -1;
		}
		s->ready[got] = (unsigned int)cqe->user_data;
		s->rlen[got++] = cqe->res;
		io_uring_cqe_seen(&s->ring, cqe);
	}
	s->nready = got;
	s->k = 0;
	return 0;
}

/*
 * pipe-uring: the next framed message in the stream buffer, read with
 * IORING_OP_READ (one at a time, as much as the pipe holds) until whole.
 */
static const void *ku_pipe_rx_begin(struct ku_st *s, size_t *len)
{
	for (;;) {
		size_t avail = s->fill - s->pos, need = KU_HDR;
		struct io_uring_cqe *cqe;
		int r;

		if (avail >= KU_HDR) {
			uint32_t h[2];

			memcpy(h, s->sbuf + s->pos, sizeof(h));
			if (h[1] != KU_MAGIC || h[0] > s->max) {
				errno = EPROTO;
				return NULL;
			}
			need = KU_HDR + h[0];
			if (avail >= need) {
				s->cur = need;
				*len = h[0];
				return s->sbuf + s->pos + KU_HDR;
			}
		}
		if (s->pos + need > s->cap) {
			memmove(s->sbuf, s->sbuf + s->pos, avail);
			s->pos = 0;
			s->fill = avail;
		}
		if (!s->outstanding) {
			io_uring_prep_read(io_uring_get_sqe(&s->ring), s->fd, s->sbuf + s->fill,
					   (unsigned int)(s->cap - s->fill), -1);
			s->outstanding = 1;
		}
		do {
			r = io_uring_submit_and_wait(&s->ring, 1);
			if (r == -EINTR && bench_cancel) {
				errno = ECANCELED;
				return NULL;
			}
		} while (r == -EINTR);
		if (r < 0) {
			errno = -r;
			return NULL;
		}
		r = io_uring_peek_cqe(&s->ring, &cqe);
		if (r < 0)
			continue;
		s->outstanding = 0;
		r = cqe->res;
		io_uring_cqe_seen(&s->ring, cqe);
		if (r < 0) {
			errno = -r;
			return NULL;
		}
		if (r == 0) {
			errno = EPIPE;
			return NULL;
		}
		s->fill += (size_t)r;
	}
}

static const void *ku_rx_begin(struct ep *e, size_t *len)
{
	struct ku_st *s = e->st;
	int r;

	if (s->kind == KU_PIPE)
		return ku_pipe_rx_begin(s, len);
	while (s->k == s->nready) {
		r = s->kind == KU_CMD ? ku_fill_cmd(s) : ku_fill_rw(s);
		if (r < 0)
			return NULL;
	}
	*len = (size_t)s->rlen[s->k];
	return ku_buf(s, s->ready[s->k]);
}

static int ku_rx_end(struct ep *e)
{
	struct ku_st *s = e->st;

	if (s->kind == KU_PIPE) {
		s->pos += s->cur;
		if (s->pos == s->fill)
			s->pos = s->fill = 0;
		return 0;
	}
	/* a read's buffer is free again: read into it at the next fill */
	if (s->kind != KU_CMD)
		s->resubmit[s->nresubmit++] = s->ready[s->k];
	s->k++;
	return 0;
}

static unsigned int ku_rx_pending(struct ep *e)
{
	struct ku_st *s = e->st;

	return s->nready - s->k;
}

const struct mech mech_kmbox_uring = {
	.name = "kmbox-uring", .desc = "kmbox through io_uring READ/WRITE (batched, polled)",
	.flags = MF_KMBOX | MF_EXTRA,
	.probe = ku_probe_rw, .max_msg = ku_max_msg,
	.create = ku_create_rw, .destroy = ku_destroy,
	.attach = ku_attach, .detach = ku_detach,
	.tx_begin = ku_tx_begin, .tx_commit = ku_tx_commit, .tx_flush = ku_flush,
	.rx_begin = ku_rx_begin, .rx_end = ku_rx_end, .rx_pending = ku_rx_pending,
};

const struct mech mech_kmbox_ucmd = {
	.name = "kmbox-ucmd", .desc = "kmbox io_uring commands KMBOX_URING_SEND_BATCH, RECV_BATCH",
	.flags = MF_KMBOX | MF_EXTRA,
	.probe = ku_probe_cmd, .max_msg = ku_max_msg,
	.create = ku_create_cmd, .destroy = ku_destroy,
	.attach = ku_attach, .detach = ku_detach,
	.tx_begin = ku_tx_begin, .tx_commit = ku_tx_commit, .tx_flush = ku_flush,
	.rx_begin = ku_rx_begin, .rx_end = ku_rx_end, .rx_pending = ku_rx_pending,
};

const struct mech mech_seqpacket_uring = {
	.name = "seqpacket-uring", .desc = "AF_UNIX seqpacket through io_uring READ/WRITE (batched)",
	.flags = MF_EXTRA,
	.probe = ku_probe_seq, .max_msg = ku_max_msg_seq,
	.create = ku_create_seq, .destroy = ku_destroy,
	.attach = ku_attach, .detach = ku_detach,
	.tx_begin = ku_tx_begin, .tx_commit = ku_tx_commit, .tx_flush = ku_flush,
	.rx_begin = ku_rx_begin, .rx_end = ku_rx_end, .rx_pending = ku_rx_pending,
};

const struct mech mech_pipe_uring = {
	.name = "pipe-uring", .desc = "pipe(2) through io_uring READ/WRITE (batched writes), framed",
	.flags = MF_STREAM | MF_EXTRA,
	.probe = ku_probe_seq,
	.create = ku_create_pipe, .destroy = ku_destroy,
	.attach = ku_attach, .detach = ku_detach,
	.tx_begin = ku_tx_begin, .tx_commit = ku_tx_commit, .tx_flush = ku_flush,
	.rx_begin = ku_rx_begin, .rx_end = ku_rx_end,
};
