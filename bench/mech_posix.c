// SPDX-License-Identifier: GPL-2.0
/*
 * Classic kernel IPC mechanisms: pipe, FIFO, Unix stream socket and TCP
 * loopback (byte streams, framed here), POSIX mqueue, System V message
 * queue, Unix datagram and seqpacket sockets (message based).
 *
 * Stream framing: each message is an 8-byte header (length, magic) plus
 * the payload, sent with one write() of header and payload together.  The
 * receiver reads into a buffer whose size is a whole number of messages
 * (at least 64 KiB, at least two messages), taking as many bytes as the
 * kernel has ready, and hands out messages in place; a message that is
 * not complete yet is completed by further reads.  With fixed-size
 * messages the message boundaries fall on the buffer's end, so no byte is
 * ever moved inside the buffer: one copy out of the kernel, like a
 * message queue.  This is how a careful program frames messages on a
 * stream, and it lets a stream take several small messages per read().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define FRAME_HDR	8
#define FRAME_MAGIC	0x6b6d6278U	/* "kmbx" */

static unsigned int chan_seq;

/* the fd a role uses: fd[0] sends, fd[1] receives; duplex reverses */
static int chan_fd(const struct chan *c, int role)
{
	if (c->rev_of)
		return c->rev_of->fd[role == ROLE_TX ? 1 : 0];
	return c->fd[role == ROLE_TX ? 0 : 1];
}

static void close_fds(struct chan *c)
{
	for (int i = 0; i < 4; i++) {
		if (c->fd[i] >= 0 && !c->rev_of)
			close(c->fd[i]);
		c->fd[i] = -1;
	}
}

/* ------------------------------------------------------------ streams */

struct stream_st {
	int fd;
	bool own_fd;		/* opened by attach (FIFO) */
	char *buf;
	size_t cap, pos, fill, cur, max;
};

static int stream_setup(struct chan *c, struct ep *e, int role, int fd,
			bool own)
{
	struct stream_st *s = xcalloc(1, sizeof(*s));
	size_t unit = FRAME_HDR + c->cfg.msg_size;

	s->fd = fd;
	s->own_fd = own;
	s->max = c->cfg.max_size;
	if (role == ROLE_TX) {
		s->cap = FRAME_HDR + s->max;
	} else {
		size_t k = (64 * KiB + unit - 1) / unit;

		if (k < 2)
			k = 2;
		s->cap = k * unit;
		if (s->cap < FRAME_HDR + s->max)
			s->cap = FRAME_HDR + s->max;
	}
	s->buf = xaligned(s->cap);
	e->st = s;
	return 0;
}

static int stream_attach(struct chan *c, struct ep *e, int role)
{
	return stream_setup(c, e, role, chan_fd(c, role), false);
}

static void stream_detach(struct ep *e)
{
	struct stream_st *s = e->st;

	if (!s)
		return;
	if (s->own_fd)
		close(s->fd);
	free(s->buf);
	free(s);
	e->st = NULL;
}

static void *stream_tx_begin(struct ep *e, size_t len)
{
	struct stream_st *s = e->st;

	if (len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	return s->buf + FRAME_HDR;
}

static int stream_tx_commit(struct ep *e, size_t len)
{
	struct stream_st *s = e->st;
	uint32_t h[2] = { (uint32_t)len, FRAME_MAGIC };

	memcpy(s->buf, h, sizeof(h));
	return write_all(s->fd, s->buf, FRAME_HDR + len);
}

static const void *stream_rx_begin(struct ep *e, size_t *len)
{
	struct stream_st *s = e->st;

	for (;;) {
		size_t avail = s->fill - s->pos, need = FRAME_HDR;
		ssize_t r;

		if (avail >= FRAME_HDR) {
			uint32_t h[2];

			memcpy(h, s->buf + s->pos, sizeof(h));
			if (h[1] != FRAME_MAGIC || h[0] > s->max) {
				errno = EPROTO;
				return NULL;
			}
			need = FRAME_HDR + h[0];
			if (avail >= need) {
				s->cur = need;
				*len = h[0];
				return s->buf + s->pos + FRAME_HDR;
			}
		}
		if (s->pos + need > s->cap) {
			memmove(s->buf, s->buf + s->pos, avail);
			s->pos = 0;
			s->fill = avail;
		}
		r = read(s->fd, s->buf + s->fill, s->cap - s->fill);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (r == 0) {
			errno = EPIPE;
			return NULL;
		}
		s->fill += (size_t)r;
	}
}

static int stream_rx_end(struct ep *e)
{
	struct stream_st *s = e->st;

	s->pos += s->cur;
	if (s->pos == s->fill)
		s->pos = s->fill = 0;
	return 0;
}

/* pipe */

static int pipe_create_sz(struct chan *c, int sz)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	c->fd[0] = p[1];
	c->fd[1] = p[0];
	if (sz && fcntl(p[1], F_SETPIPE_SZ, sz) < 0) {
		close_fds(c);
		return -1;
	}
	return 0;
}

static int pipe_create(struct chan *c)
{
	return pipe_create_sz(c, 0);
}

static int pipe1m_create(struct chan *c)
{
	return pipe_create_sz(c, (int)MiB);
}

static void fds_destroy(struct chan *c)
{
	close_fds(c);
}

const struct mech mech_pipe = {
	.name = "pipe", .desc = "pipe(2), default 64 KiB buffer, framed",
	.flags = MF_STREAM,
	.create = pipe_create, .destroy = fds_destroy,
	.attach = stream_attach, .detach = stream_detach,
	.tx_begin = stream_tx_begin, .tx_commit = stream_tx_commit,
	.rx_begin = stream_rx_begin, .rx_end = stream_rx_end,
};

const struct mech mech_pipe1m = {
	.name = "pipe-1m", .desc = "pipe(2) with F_SETPIPE_SZ 1 MiB, framed",
	.flags = MF_STREAM,
	.create = pipe1m_create, .destroy = fds_destroy,
	.attach = stream_attach, .detach = stream_detach,
	.tx_begin = stream_tx_begin, .tx_commit = stream_tx_commit,
	.rx_begin = stream_rx_begin, .rx_end = stream_rx_end,
};

/* FIFO: each side opens the path itself */

static int fifo_create(struct chan *c)
{
	const char *dir = getenv("TMPDIR");

	snprintf(c->name, sizeof(c->name), "%s/kmbox-bench-%s-%u.fifo",
		 dir && *dir ? dir : "/tmp", bench_tag, chan_seq++);
	unlink(c->name);
	return mkfifo(c->name, 0600);
}

static void fifo_destroy(struct chan *c)
{
	if (c->name[0])
		unlink(c->name);
	c->name[0] = 0;
}

static int fifo_attach(struct chan *c, struct ep *e, int role)
{
	int fd;

	do
		fd = open(c->name, (role == ROLE_TX ? O_WRONLY : O_RDONLY) |
			  O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	return stream_setup(c, e, role, fd, true);
}

const struct mech mech_fifo = {
	.name = "fifo", .desc = "named pipe (mkfifo), opened by each side, framed",
	.flags = MF_STREAM,
	.create = fifo_create, .destroy = fifo_destroy,
	.attach = fifo_attach, .detach = stream_detach,
	.tx_begin = stream_tx_begin, .tx_commit = stream_tx_commit,
	.rx_begin = stream_rx_begin, .rx_end = stream_rx_end,
};

/* Unix stream socket */

static int set_sndbuf(int fd, size_t want)
{
	int v = want > (1U << 30) ? (1 << 30) : (int)want;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) == 0)
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int sockpair_create(struct chan *c, int type)
{
	int sv[2];

	if (c->rev_of)
		return 0;
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	c->fd[0] = sv[0];
	c->fd[1] = sv[1];
	if (type != SOCK_STREAM) {
		/*
		 * A connected pair is bounded by the sender's sk_sndbuf (no
		 * max_dgram_qlen for a socketpair); a datagram must be smaller
		 * than it.  Give it room for the queue depth, as the message
		 * queues get.  Each skb costs about 1 KiB of truesize extra.
		 */
		size_t want = (size_t)c->cfg.depth * (c->cfg.max_size + 1024);

		if (want < 2 * (c->cfg.max_size + 4096))
			want = 2 * (c->cfg.max_size + 4096);
		if (want > 212992 &&
		    (set_sndbuf(sv[0], want) < 0 || set_sndbuf(sv[1], want) < 0)) {
			close_fds(c);
			return -1;
		}
	}
	return 0;
}

static int uds_stream_create(struct chan *c)
{
	return sockpair_create(c, SOCK_STREAM);
}

const struct mech mech_uds_stream = {
	.name = "uds-stream", .desc = "AF_UNIX SOCK_STREAM socketpair, framed",
	.flags = MF_STREAM | MF_DUPLEX,
	.create = uds_stream_create, .destroy = fds_destroy,
	.attach = stream_attach, .detach = stream_detach,
	.tx_begin = stream_tx_begin, .tx_commit = stream_tx_commit,
	.rx_begin = stream_rx_begin, .rx_end = stream_rx_end,
};

/* TCP over 127.0.0.1, TCP_NODELAY, connected in the parent */

static bool lo_raised;

static void lo_restore(void)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags &= ~IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

/* a bare initramfs may leave lo down: bring it up (root) for the run */
static int tcp_probe(char *why, size_t n)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (s < 0) {
		snprintf(why, n, "no AF_INET socket: %s", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		snprintf(why, n, "no loopback interface: %s", strerror(errno));
		ret = -1;
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
			snprintf(why, n, "loopback is down and cannot be brought up: %s",
				 strerror(errno));
			ret = -1;
		} else if (!lo_raised) {
			lo_raised = true;
			atexit(lo_restore);
			sysinfo_set("loopback", "was down; brought up for the run");
		}
	}
	close(s);
	return ret;
}

static int tcp_create(struct chan *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, cl = -1, sv = -1, one = 1;

	if (c->rev_of)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0 ||
	    listen(l, 1) < 0)
		goto fail;
	cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cl < 0 || connect(cl, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	sv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (sv < 0)
		goto fail;
	if (setsockopt(cl, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(sv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		goto fail;
	close(l);
	c->fd[0] = cl;
	c->fd[1] = sv;
	return 0;
fail:
	{
		int err = errno;

		close(l);
		if (cl >= 0)
			close(cl);
		if (sv >= 0)
			close(sv);
		errno = err;
	}
	return -1;
}

const struct mech mech_tcp = {
	.name = "tcp", .desc = "TCP over 127.0.0.1, TCP_NODELAY, framed",
	.flags = MF_STREAM | MF_DUPLEX,
	.probe = tcp_probe,
	.create = tcp_create, .destroy = fds_destroy,
	.attach = stream_attach, .detach = stream_detach,
	.tx_begin = stream_tx_begin, .tx_commit = stream_tx_commit,
	.rx_begin = stream_rx_begin, .rx_end = stream_rx_end,
};

/* ----------------------------------------------------- message queues */

struct msg_st {
	int fd;
	char *buf;		/* SysV: mtype first, payload after */
	size_t max, cur;
};

static int msg_attach(struct chan *c, struct ep *e, int role)
{
	struct msg_st *s = xcalloc(1, sizeof(*s));

	s->fd = chan_fd(c, role);
	s->max = c->cfg.max_size;
	s->buf = xaligned(sizeof(long) + s->max + 64);
	e->st = s;
	return 0;
}

static void msg_detach(struct ep *e)
{
	struct msg_st *s = e->st;

	if (!s)
		return;
	free(s->buf);
	free(s);
	e->st = NULL;
}

static void *msg_tx_begin(struct ep *e, size_t len)
{
	struct msg_st *s = e->st;

	if (len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	return s->buf;
}

static int msg_rx_end(struct ep *e)
{
	(void)e;
	return 0;
}

/* POSIX mqueue; the name is unlinked at once, the children inherit it */

static int mq_create(struct chan *c)
{
	struct mq_attr at = {
		.mq_maxmsg = c->cfg.depth,
		.mq_msgsize = (long)(c->cfg.max_size ? c->cfg.max_size : 1),
	};
	mqd_t q;

	snprintf(c->name, sizeof(c->name), "/kmbox-bench-%s-%u", bench_tag,
		 chan_seq++);
	/*
	 * Over RLIMIT_MSGQUEUE (EMFILE; raising it needs CAP_SYS_RESOURCE):
	 * take the deepest queue that fits and say so, rather than nothing.
	 */
	for (;;) {
		q = mq_open(c->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &at);
		if (q != (mqd_t)-1 || errno != EMFILE || at.mq_maxmsg <= 1)
			break;
		at.mq_maxmsg /= 2;
	}
	if (q == (mqd_t)-1) {
		struct rlimit rl;
		int err = errno;

		if (err == EMFILE && getrlimit(RLIMIT_MSGQUEUE, &rl) == 0)
			snprintf(mech_err, sizeof(mech_err),
				 "mq_open: RLIMIT_MSGQUEUE %llu B < one %ld B message (needs CAP_SYS_RESOURCE to raise)",
				 (unsigned long long)rl.rlim_cur, at.mq_msgsize);
		errno = err;
		return -1;
	}
	if ((unsigned int)at.mq_maxmsg < c->cfg.depth)
		snprintf(mech_err, sizeof(mech_err),
			 "depth %ld instead of %u: RLIMIT_MSGQUEUE (no CAP_SYS_RESOURCE)",
			 at.mq_maxmsg, c->cfg.depth);
	mq_unlink(c->name);
	c->fd[0] = c->fd[1] = q;
	return 0;
}

static void mq_destroy(struct chan *c)
{
	if (c->fd[0] >= 0)
		mq_close(c->fd[0]);
	c->fd[0] = c->fd[1] = -1;
}

static int mq_tx_commit(struct ep *e, size_t len)
{
	struct msg_st *s = e->st;

	while (mq_send(s->fd, s->buf, len, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static const void *mq_rx_begin(struct ep *e, size_t *len)
{
	struct msg_st *s = e->st;
	ssize_t r;

	do
		r = mq_receive(s->fd, s->buf, s->max ? s->max : 1, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return NULL;
	*len = (size_t)r;
	return s->buf;
}

const struct mech mech_mq = {
	.name = "posix-mq", .desc = "POSIX mqueue (mq_send/mq_receive), limits raised",
	.flags = MF_MPMC,
	.create = mq_create, .destroy = mq_destroy,
	.attach = msg_attach, .detach = msg_detach,
	.tx_begin = msg_tx_begin, .tx_commit = mq_tx_commit,
	.rx_begin = mq_rx_begin, .rx_end = msg_rx_end,
};

/* System V message queue */

static int sysv_create(struct chan *c)
{
	struct msqid_ds ds;
	size_t qb;

	c->id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (c->id < 0)
		return -1;
	/* msg_fits_inqueue() bounds bytes and message count by qbytes */
	qb = (size_t)c->cfg.depth * (c->cfg.msg_size ? c->cfg.msg_size : 1);
	if (qb < c->cfg.max_size)
		qb = c->cfg.max_size;
	if (msgctl(c->id, IPC_STAT, &ds) < 0)
		goto fail;
	ds.msg_qbytes = qb;
	if (msgctl(c->id, IPC_SET, &ds) < 0)
		goto fail;
	return 0;
fail:
	{
		int err = errno;

		msgctl(c->id, IPC_RMID, NULL);
		c->id = -1;
		errno = err;
	}
	return -1;
}

static void sysv_destroy(struct chan *c)
{
	if (c->id >= 0)
		msgctl(c->id, IPC_RMID, NULL);
	c->id = -1;
}

static int sysv_attach(struct chan *c, struct ep *e, int role)
{
	struct msg_st *s;

	msg_attach(c, e, role);
	s = e->st;
	s->fd = c->id;
	return 0;
}

static void *sysv_tx_begin(struct ep *e, size_t len)
{
	struct msg_st *s = e->st;

	if (len > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	return s->buf + sizeof(long);
}

static int sysv_tx_commit(struct ep *e, size_t len)
{
	struct msg_st *s = e->st;
	long one = 1;

	memcpy(s->buf, &one, sizeof(one));
	while (msgsnd(s->fd, s->buf, len, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static const void *sysv_rx_begin(struct ep *e, size_t *len)
{
	struct msg_st *s = e->st;
	ssize_t r;

	do
		r = msgrcv(s->fd, s->buf, s->max, 0, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return NULL;
	*len = (size_t)r;
	return s->buf + sizeof(long);
}

const struct mech mech_sysv = {
	.name = "sysv-msg", .desc = "System V msgsnd/msgrcv, msgmax/msgmnb raised",
	.flags = MF_MPMC,
	.create = sysv_create, .destroy = sysv_destroy,
	.attach = sysv_attach, .detach = msg_detach,
	.tx_begin = sysv_tx_begin, .tx_commit = sysv_tx_commit,
	.rx_begin = sysv_rx_begin, .rx_end = msg_rx_end,
};

/* Unix datagram and seqpacket socketpairs */

static int uds_dgram_create(struct chan *c)
{
	return sockpair_create(c, SOCK_DGRAM);
}

static int uds_seqpacket_create(struct chan *c)
{
	return sockpair_create(c, SOCK_SEQPACKET);
}

static int sock_tx_commit(struct ep *e, size_t len)
{
	struct msg_st *s = e->st;
	ssize_t r;

	do
		r = send(s->fd, s->buf, len, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if ((size_t)r != len) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

static const void *sock_rx_begin(struct ep *e, size_t *len)
{
	struct msg_st *s = e->st;
	ssize_t r;

	do
		r = recv(s->fd, s->buf, s->max + 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return NULL;
	if ((size_t)r > s->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	*len = (size_t)r;
	return s->buf;
}

const struct mech mech_uds_dgram = {
	.name = "uds-dgram", .desc = "AF_UNIX SOCK_DGRAM socketpair, SO_SNDBUF sized to depth",
	.flags = MF_MPMC | MF_DUPLEX,
	.create = uds_dgram_create, .destroy = fds_destroy,
	.attach = msg_attach, .detach = msg_detach,
	.tx_begin = msg_tx_begin, .tx_commit = sock_tx_commit,
	.rx_begin = sock_rx_begin, .rx_end = msg_rx_end,
};

const struct mech mech_uds_seqpacket = {
	.name = "uds-seqpacket", .desc = "AF_UNIX SOCK_SEQPACKET socketpair, SO_SNDBUF sized to depth",
	.flags = MF_MPMC | MF_DUPLEX,
	.create = uds_seqpacket_create, .destroy = fds_destroy,
	.attach = msg_attach, .detach = msg_detach,
	.tx_begin = msg_tx_begin, .tx_commit = sock_tx_commit,
	.rx_begin = sock_rx_begin, .rx_end = msg_rx_end,
};
