// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox-icount: path length of kmbox's hot paths, and of a pipe's and a
 * POSIX mq's, for `make bench-icount` (qemu/bench-icount.sh).
 *
 * Under QEMU's -icount shift=0 the guest's clocks advance by one
 * nanosecond per instruction executed, whatever the host is doing; so the
 * CLOCK_MONOTONIC time of a loop on an otherwise idle one-CPU guest is
 * the number of instructions it took, user and kernel, and it repeats to
 * a fraction of a percent on a busy host.  That makes it the measure for
 * a per-message cost while other VMs share the host; what it cannot show
 * is anything about waiting: cache misses, lock contention and wake-up
 * latency cost no instructions (docs/performance.md).  Outside -icount
 * the same figures are nanoseconds.
 *
 * Each operation is run @reps times @n times over; the least mean is
 * printed, as "ICOUNT <label> <op> <per-op>" for the script to compare.
 * Every op checks what it gets, and stops the program on a wrong result.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "kmbox.h"
#include "kmbox_uring.h"

#define SMALL	64
#define BATCH	16
#define DEPTH_PRIOS 32

static int n_ops = 5000, reps = 3;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "kmbox-icount: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin0(void)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(0, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static int mbox(unsigned int max_msgs, unsigned int max_msgsize)
{
	struct kmbox_attr a = { .max_msgs = max_msgs, .max_msgsize = max_msgsize };

	return kmbox_create_anon(O_RDWR, &a);
}

/* ---- one thread: a send and a receive per iteration ------------------------------- */

struct loop {
	int fd, p[2];
	struct io_uring ring;
	mqd_t mq;
	size_t size;
	char *buf, *rb;
};

static void rw_once(struct loop *l)
{
	if (write(l->fd, l->buf, l->size) != (ssize_t)l->size ||
	    read(l->fd, l->rb, l->size) != (ssize_t)l->size)
		die("kmbox write/read");
}

static void ioctl_once(struct loop *l)
{
	if (kmbox_send(l->fd, l->buf, l->size, 0) < 0 ||
	    kmbox_receive(l->fd, l->rb, l->size, NULL) != (ssize_t)l->size)
		die("kmbox_send/kmbox_receive");
}

static void pipe_once(struct loop *l)
{
	if (write(l->p[1], l->buf, l->size) != (ssize_t)l->size ||
	    read(l->p[0], l->rb, l->size) != (ssize_t)l->size)
		die("pipe write/read");
}

static void mq_once(struct loop *l)
{
	if (mq_send(l->mq, l->buf, l->size, 0) < 0 ||
	    mq_receive(l->mq, l->rb, 8192, NULL) != (ssize_t)l->size)
		die("mq_send/mq_receive");
}

/*
 * BATCH messages written, then read, one call each; counted per message.
 * At 4 KiB a freed message's page goes to the mailbox's recycled list
 * and the next send takes it: a burst makes that list BATCH long.
 */
static void burst_once(struct loop *l)
{
	int i;

	for (i = 0; i < BATCH; i++)
		if (write(l->fd, l->buf, l->size) != (ssize_t)l->size)
			die("kmbox write (burst)");
	for (i = 0; i < BATCH; i++)
		if (read(l->fd, l->rb, l->size) != (ssize_t)l->size)
			die("kmbox read (burst)");
}

/* BATCH messages each way in two calls; counted per message */
static void batch_once(struct loop *l)
{
	struct kmbox_mmsg m[BATCH];
	int i;

	for (i = 0; i < BATCH; i++)
		kmbox_mmsg_prep(&m[i], l->buf, SMALL, 0);
	if (kmbox_send_batch(l->fd, m, BATCH, 0, NULL) != BATCH)
		die("kmbox_send_batch");
	for (i = 0; i < BATCH; i++)
		kmbox_mmsg_prep(&m[i], l->rb + i * SMALL, SMALL, 0);
	if (kmbox_receive_batch(l->fd, m, BATCH, 0, NULL) != BATCH)
		die("kmbox_receive_batch");
}

/*
 * Zero-copy, as the benchmark's kmbox-zc: slots reserved 8 at a time, the
 * payload written into the slot, sent, received by reference, read, and
 * released 8 at a time; per message.
 */
struct zc {
	int fd;
	struct kmbox_region r;
	uint32_t stash[8], held[8];
	unsigned int nstash, nheld;
};

static struct zc zcs;

static void zc_once(struct loop *l)
{
	struct zc *z = &zcs;
	uint32_t slot;
	const char *p;

	if (!z->nstash) {
		int r = kmbox_zc_reserve(z->fd, z->stash, 8, 0, NULL);

		if (r <= 0)
			die("kmbox_zc_reserve");
		z->nstash = (unsigned int)r;
	}
	slot = z->stash[--z->nstash];
	memcpy(kmbox_slot_ptr(&z->r, slot), l->buf, SMALL);
	if (kmbox_zc_send(z->fd, slot, SMALL, 0, 0, NULL) < 0)
		die("kmbox_zc_send");
	if (kmbox_zc_receive(z->fd, NULL, 0, NULL, &slot, NULL) != SMALL ||
	    !(p = kmbox_slot_ptr(&z->r, slot)))
		die("kmbox_zc_receive");
	memcpy(l->rb, p, SMALL);
	z->held[z->nheld++] = slot;
	if (z->nheld == 8) {
		if (kmbox_zc_release(z->fd, z->held, 8) < 0)
			die("kmbox_zc_release");
		z->nheld = 0;
	}
}

/*
 * io_uring, as the benchmark's kmbox-ucmd and pipe-uring stream: BATCH
 * messages sent in one io_uring_enter (one SEND_BATCH command, or BATCH
 * linked framed writes of 8 + 64 B to an O_NONBLOCK pipe), then received
 * in one (a RECV_BATCH command, or one READ of what the pipe holds); per
 * message.
 */
/* Submit what was prepared and reap one CQE: its res, or stop on a ring error. */
static int uring_one(struct loop *l)
{
	struct io_uring_cqe *cqe;
	int r;

	if (io_uring_submit_and_wait(&l->ring, 1) != 1 || io_uring_wait_cqe(&l->ring, &cqe) < 0)
		die("io_uring_submit_and_wait");
	r = cqe->res;
	io_uring_cqe_seen(&l->ring, cqe);
	return r;
}

static void ucmd_once(struct loop *l)
{
	struct kmbox_mmsg m[BATCH];
	struct kmbox_batch b = { .msgs = (__u64)(uintptr_t)m, .count = BATCH };
	int i;

	for (i = 0; i < BATCH; i++)
		kmbox_mmsg_prep(&m[i], l->buf, SMALL, 0);
	kmbox_uring_prep_send_batch(io_uring_get_sqe(&l->ring), l->fd, &b);
	if (uring_one(l) != BATCH) {
		errno = EPROTO;
		die("kmbox uring send batch");
	}
	for (i = 0; i < BATCH; i++)
		kmbox_mmsg_prep(&m[i], l->rb + i * SMALL, SMALL, 0);
	kmbox_uring_prep_recv_batch(io_uring_get_sqe(&l->ring), l->fd, &b, NULL);
	if (uring_one(l) != BATCH) {
		errno = EPROTO;
		die("kmbox uring recv batch");
	}
}

/* A module before KMBOX_URING_SEND_BATCH says ENOTTY: the op is skipped. */
static int ucmd_probe(struct loop *l)
{
	struct kmbox_mmsg m;
	struct kmbox_batch b = { .msgs = (__u64)(uintptr_t)&m, .count = 1 };
	int r;

	kmbox_mmsg_prep(&m, l->buf, SMALL, 0);
	kmbox_uring_prep_send_batch(io_uring_get_sqe(&l->ring), l->fd, &b);
	r = uring_one(l);
	if (r == 1 && kmbox_receive(l->fd, l->rb, SMALL, NULL) != SMALL)
		die("kmbox_receive after the probe");
	return r == 1 ? 0 : r < 0 ? r : -EPROTO;
}

static void pipe_uring_once(struct loop *l)
{
	static char frames[BATCH][8 + SMALL];
	struct io_uring_cqe *cqe;
	int i;

	for (i = 0; i < BATCH; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

		io_uring_prep_write(sqe, l->p[1], frames[i], sizeof(frames[i]), -1);
		if (i + 1 < BATCH)
			sqe->flags |= IOSQE_IO_LINK;
	}
	if (io_uring_submit_and_wait(&l->ring, BATCH) != BATCH)
		die("pipe uring write");
	for (i = 0; i < BATCH; i++) {
		if (io_uring_wait_cqe(&l->ring, &cqe) < 0 || cqe->res != (int)sizeof(frames[i])) {
			errno = EPROTO;
			die("pipe uring write");
		}
		io_uring_cqe_seen(&l->ring, cqe);
	}
	io_uring_prep_read(io_uring_get_sqe(&l->ring), l->p[0], l->rb, BATCH * (8 + SMALL), -1);
	if (uring_one(l) != BATCH * (8 + SMALL)) {
		errno = EPROTO;
		die("pipe uring read");
	}
}

static unsigned int xs = 2463534242u;

static unsigned int rnd(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 17;
	xs ^= xs << 5;
	return xs;
}

static void depth_once(struct loop *l)
{
	if (kmbox_send(l->fd, l->buf, SMALL, rnd() % DEPTH_PRIOS) < 0 ||
	    kmbox_receive(l->fd, l->rb, SMALL, NULL) != SMALL)
		die("kmbox_send/kmbox_receive at depth");
}

static double time_loop(void (*once)(struct loop *), struct loop *l, int per)
{
	double best = 1e30;

	for (int r = 0; r < reps; r++) {
		double t0 = now();

		for (int i = 0; i < n_ops; i++)
			once(l);
		t0 = (now() - t0) / n_ops / per;
		if (t0 < best)
			best = t0;
	}
	return best;
}

static void report(const char *label, const char *op, double v, const char *what)
{
	printf("ICOUNT %s %s %.0f\n", label, op, v);
	printf("# %-12s %-22s %8.0f  %s\n", label, op, v, what);
}

static void skip(const char *label, const char *op, const char *why)
{
	printf("ICOUNT %s %s skip\n", label, op);
	printf("# %-12s %-22s     skip  %s\n", label, op, why);
}

static bool wanted(const char *only, const char *op)
{
	size_t n;

	if (!only)
		return true;
	n = strlen(op);
	for (const char *p = only; (p = strstr(p, op)); p += n)
		if ((p == only || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

static void loops(const char *label, const char *only)
{
	static char buf[65536], rb[65536];
	struct mq_attr ma = { .mq_maxmsg = 8, .mq_msgsize = 8192 };
	static const size_t big[] = { 4096, 65536 };
	struct loop l = { .buf = buf, .rb = rb, .size = SMALL };
	char name[64], why[128];

	memset(buf, 'x', sizeof(buf));
	l.fd = mbox(BATCH, 256);
	if (l.fd < 0 || pipe(l.p))
		die("kmbox_create_anon/pipe");
	if (wanted(only, "rw"))
		report(label, "rw", time_loop(rw_once, &l, 1), "64 B write()+read(), one mailbox");
	if (wanted(only, "ioctl"))
		report(label, "ioctl", time_loop(ioctl_once, &l, 1), "64 B kmbox_send()+kmbox_receive()");
	if (wanted(only, "batch16"))
		report(label, "batch16", time_loop(batch_once, &l, BATCH),
		       "64 B by 16 in kmbox_send_batch()+kmbox_receive_batch(), per message");
	if (wanted(only, "zc")) {
		struct kmbox_attr a = { .max_msgs = 32, .max_msgsize = 256,
					.zc_slots = 32, .zc_slot_size = 256 };

		zcs.fd = kmbox_create_anon(O_RDWR, &a);
		if (zcs.fd < 0 || kmbox_region_map(zcs.fd, &zcs.r) < 0)
			die("zero-copy mailbox");
		report(label, "zc", time_loop(zc_once, &l, 1),
		       "64 B zero-copy: reserve/8, send, receive, release/8, per message");
		kmbox_region_unmap(&zcs.r);
		close(zcs.fd);
	}
	if (wanted(only, "ucmd16")) {
		int r = io_uring_queue_init(2 * BATCH, &l.ring, IORING_SETUP_SQE128);

		if (r < 0) {
			snprintf(why, sizeof(why), "io_uring_queue_init: %s", strerror(-r));
			skip(label, "ucmd16", why);
		} else {
			r = ucmd_probe(&l);
			if (r < 0) {
				snprintf(why, sizeof(why), "KMBOX_URING_SEND_BATCH: %s", strerror(-r));
				skip(label, "ucmd16", why);
			} else {
				report(label, "ucmd16", time_loop(ucmd_once, &l, BATCH),
				       "64 B by 16: one KMBOX_URING_SEND_BATCH, one RECV_BATCH, per message");
			}
			io_uring_queue_exit(&l.ring);
		}
	}
	if (wanted(only, "pipeuring16")) {
		int r = io_uring_queue_init(2 * BATCH, &l.ring, 0);

		if (r < 0) {
			snprintf(why, sizeof(why), "io_uring_queue_init: %s", strerror(-r));
			skip(label, "pipeuring16", why);
		} else {
			/* io_uring polls only a pipe that says it would block (mech_uring.c) */
			if (fcntl(l.p[0], F_SETFL, O_NONBLOCK) || fcntl(l.p[1], F_SETFL, O_NONBLOCK))
				die("fcntl(O_NONBLOCK) on the pipe");
			report(label, "pipeuring16", time_loop(pipe_uring_once, &l, BATCH),
			       "8+64 B by 16: linked pipe WRITEs, one READ, per message");
			io_uring_queue_exit(&l.ring);
			fcntl(l.p[0], F_SETFL, 0);
			fcntl(l.p[1], F_SETFL, 0);
		}
	}
	if (wanted(only, "pipe"))
		report(label, "pipe", time_loop(pipe_once, &l, 1), "64 B pipe write()+read()");
	if (wanted(only, "mq")) {
		snprintf(name, sizeof(name), "/kmbox-icount-%d", getpid());
		l.mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &ma);
		if (l.mq == (mqd_t)-1) {
			snprintf(why, sizeof(why), "mq_open: %s", strerror(errno));
			skip(label, "mq", why);
		} else {
			mq_unlink(name);
			report(label, "mq", time_loop(mq_once, &l, 1), "64 B mq_send()+mq_receive()");
			mq_close(l.mq);
		}
	}
	close(l.fd);
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		snprintf(name, sizeof(name), "rw%zu", big[i]);
		if (!wanted(only, name))
			continue;
		l.fd = mbox(4, big[i]);
		if (l.fd < 0) {
			snprintf(why, sizeof(why), "mailbox of %zu B messages: %s", big[i],
				 strerror(errno));
			skip(label, name, why);
			continue;
		}
		l.size = big[i];
		snprintf(why, sizeof(why), "%zu B write()+read(), one mailbox", big[i]);
		report(label, name, time_loop(rw_once, &l, 1), why);
		close(l.fd);
	}
	if (wanted(only, "burst4096")) {
		l.fd = mbox(BATCH, 4096);
		if (l.fd < 0)
			die("kmbox_create_anon (burst)");
		l.size = 4096;
		report(label, "burst4096", time_loop(burst_once, &l, BATCH),
		       "4096 B by 16: 16 write()s, then 16 read()s, per message");
		close(l.fd);
	}
	l.size = SMALL;
	close(l.p[0]);
	close(l.p[1]);
}

/*
 * At depth @d: the queue holds d - 1 messages of random priorities; one is
 * sent (d queued) and one taken, as the benchmark's depth workload does.
 */
static void depth(const char *label, const char *only, unsigned int d)
{
	static char buf[SMALL], rb[SMALL];
	struct loop l = { .buf = buf, .rb = rb, .size = SMALL };
	char op[32], why[128];

	snprintf(op, sizeof(op), "depth%u", d);
	if (!wanted(only, op))
		return;
	l.fd = mbox(d, SMALL);
	if (l.fd < 0) {
		snprintf(why, sizeof(why), "mailbox of %u messages: %s (max_msgs_cap?)", d,
			 strerror(errno));
		skip(label, op, why);
		return;
	}
	for (unsigned int i = 0; i + 1 < d; i++)
		if (kmbox_send(l.fd, buf, SMALL, rnd() % DEPTH_PRIOS) < 0) {
			snprintf(why, sizeof(why), "filling to %u: %s at %u", d, strerror(errno), i);
			skip(label, op, why);
			close(l.fd);
			return;
		}
	snprintf(why, sizeof(why), "64 B send+receive, random priority, %u-%u queued", d - 1, d);
	report(label, op, time_loop(depth_once, &l, 1), why);
	close(l.fd);
}

/* ---- two threads on CPU 0: a round trip per iteration ----------------------------- */

enum rtt_mode { RTT_RW2, RTT_CALL, RTT_CALL1, RTT_PIPE2 };

struct rtt {
	enum rtt_mode mode;
	int req, rep, a[2], b[2];
};

static void *server(void *arg)
{
	struct rtt *p = arg;
	char buf[SMALL];

	pin0();
	if (p->mode == RTT_CALL1) {
		/* Each answer goes with the receive of the next; the last alone. */
		uint64_t token = 0;

		for (int i = 0; i < n_ops; i++)
			if (kmbox_reply_recv(p->req, &token, buf, i ? SMALL : 0, buf, SMALL, NULL,
					     NULL) != SMALL || !token)
				die("server kmbox_reply_recv");
		if (kmbox_reply(p->req, token, buf, SMALL) < 0)
			die("server kmbox_reply");
		return NULL;
	}
	for (int i = 0; i < n_ops; i++) {
		struct kmbox_msginfo info;

		switch (p->mode) {
		case RTT_RW2:
			if (read(p->req, buf, SMALL) != SMALL || write(p->rep, buf, SMALL) != SMALL)
				die("server write/read");
			break;
		case RTT_CALL:
			if (kmbox_receive_info(p->req, buf, SMALL, &info, NULL) != SMALL ||
			    kmbox_reply(p->req, info.reply_token, buf, SMALL) < 0)
				die("server kmbox_receive_info/kmbox_reply");
			break;
		case RTT_CALL1:		/* above */
			break;
		case RTT_PIPE2:
			if (read(p->a[0], buf, SMALL) != SMALL || write(p->b[1], buf, SMALL) != SMALL)
				die("server pipe");
			break;
		}
	}
	return NULL;
}

static double rtt_once(enum rtt_mode mode)
{
	struct rtt p = { .mode = mode };
	char buf[SMALL] = "y", rb[SMALL];
	pthread_t t;
	double t0;

	p.req = mbox(8, 256);
	p.rep = mbox(8, 256);
	if (p.req < 0 || p.rep < 0 || pipe(p.a) || pipe(p.b))
		die("round trip set-up");
	pin0();
	if (pthread_create(&t, NULL, server, &p))
		die("pthread_create");
	t0 = now();
	for (int i = 0; i < n_ops; i++) {
		switch (mode) {
		case RTT_RW2:
			if (write(p.req, buf, SMALL) != SMALL || read(p.rep, rb, SMALL) != SMALL)
				die("client write/read");
			break;
		case RTT_CALL:
		case RTT_CALL1:
			if (kmbox_call(p.req, buf, SMALL, 0, rb, SMALL, NULL, NULL) != SMALL)
				die("kmbox_call");
			break;
		case RTT_PIPE2:
			if (write(p.a[1], buf, SMALL) != SMALL || read(p.b[0], rb, SMALL) != SMALL)
				die("client pipe");
			break;
		}
	}
	t0 = (now() - t0) / n_ops;
	pthread_join(t, NULL);
	close(p.req);
	close(p.rep);
	close(p.a[0]);
	close(p.a[1]);
	close(p.b[0]);
	close(p.b[1]);
	return t0;
}

static void rtts(const char *label, const char *only)
{
	static const struct {
		enum rtt_mode mode;
		const char *op, *what;
	} m[] = {
		{ RTT_RW2, "rtt-rw2", "64 B round trip, two mailboxes, write()/read(), one CPU" },
		{ RTT_CALL, "rtt-call", "64 B kmbox_call(), server kmbox_receive_info()+kmbox_reply()" },
		{ RTT_CALL1, "rtt-call1", "64 B kmbox_call(), server kmbox_reply_recv(): one call per request" },
		{ RTT_PIPE2, "rtt-pipe2", "64 B round trip over a pair of pipes, one CPU" },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		double best = 1e30;

		if (!wanted(only, m[i].op))
			continue;
		for (int r = 0; r < reps; r++) {
			double d = rtt_once(m[i].mode);

			if (d < best)
				best = d;
		}
		report(label, m[i].op, best, m[i].what);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kmbox-icount [-n OPS] [-r REPS] [-o OP,OP...] LABEL\n"
		"ops: rw ioctl batch16 zc pipe mq rw4096 rw65536 burst4096 depth10 depth65536\n"
		"     rtt-rw2 rtt-call rtt-call1 rtt-pipe2 (default: all)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int c;

	while ((c = getopt(argc, argv, "n:r:o:h")) != -1) {
		switch (c) {
		case 'n':
			n_ops = atoi(optarg);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'o':
			only = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || n_ops < 1 || reps < 1)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	pin0();
	loops(argv[optind], only);
	depth(argv[optind], only, 10);
	depth(argv[optind], only, 65536);
	rtts(argv[optind], only);
	return 0;
}
