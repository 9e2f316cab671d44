// SPDX-License-Identifier: GPL-2.0
/*
 * Differential test against POSIX message queues.  A seeded random
 * sequence of operations (sends with random priorities and sizes,
 * oversize sends, receives, timed calls with a passed deadline) runs on
 * a POSIX mqueue and on a kmbox mailbox with the same limits.  Both must
 * answer every operation identically: return value, errno (EAGAIN when
 * full or empty, EMSGSIZE, ETIMEDOUT), received length, priority and
 * bytes, and the queue length.
 *
 * Needs root: the mqueue limits are raised (and restored) for the run.
 */
#define _GNU_SOURCE
#include <mqueue.h>
#include <sys/resource.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox.h"	/* libkmbox, for the library variant */

#define DEPTH	32
#define SIZE	512
#define MQ_MSG_MAX	"/proc/sys/fs/mqueue/msg_max"
#define MQ_MSGSIZE_MAX	"/proc/sys/fs/mqueue/msgsize_max"

static int read_long(const char *path, long *v)
{
	FILE *f = fopen(path, "re");
	int ret;

	if (!f)
		return -1;
	ret = fscanf(f, "%ld", v) == 1 ? 0 : -1;
	fclose(f);
	return ret;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "we");
	int ret;

	if (!f)
		return -1;
	ret = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	if (fclose(f))
		ret = -1;
	return ret;
}

static __u64 rng_next(__u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

FIXTURE(diff) {
	char mqname[64], kname[64];
	mqd_t mq, mq_blk;	/* O_NONBLOCK, and blocking, on one queue */
	int kb, kb_blk;		/* the same for the mailbox */
	long old_msg_max, old_msgsize_max;
	int restore;
};

FIXTURE_VARIANT(diff) {
	__u64 seed;
	int ops;
	int send_pct;		/* chance of a send, in percent */
	__u32 prio_range;	/* priorities 0 .. prio_range-1 */
	int phases;		/* alternate fill and drain phases */
	int lib;		/* drive the mailbox through libkmbox */
};

FIXTURE_VARIANT_ADD(diff, few_prios) {
	.seed = 1, .ops = 10000, .send_pct = 55, .prio_range = 4,
};
FIXTURE_VARIANT_ADD(diff, all_prios) {
	.seed = 2, .ops = 10000, .send_pct = 50, .prio_range = KMBOX_PRIO_MAX,
};
FIXTURE_VARIANT_ADD(diff, fifo_fill_and_drain) {
	.seed = 3, .ops = 10000, .prio_range = 1, .phases = 1,
};
FIXTURE_VARIANT_ADD(diff, mostly_full) {
	.seed = 4, .ops = 10000, .send_pct = 75, .prio_range = 8,
};
FIXTURE_VARIANT_ADD(diff, mostly_empty) {
	.seed = 5, .ops = 10000, .send_pct = 30, .prio_range = 8,
};
FIXTURE_VARIANT_ADD(diff, through_libkmbox) {
	.seed = 6, .ops = 10000, .send_pct = 55, .prio_range = 16, .lib = 1,
};

FIXTURE_SETUP(diff)
{
	struct mq_attr ma = { .mq_maxmsg = DEPTH, .mq_msgsize = SIZE };
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	self->mq = self->mq_blk = (mqd_t)-1;
	self->kb = self->kb_blk = -1;
	KT_REQUIRE_MODULE();
	if (geteuid())
		SKIP(_exit(255), "needs root to raise the mqueue limits");
	ASSERT_EQ(0, read_long(MQ_MSG_MAX, &self->old_msg_max))
		TH_LOG("%s: %s (CONFIG_POSIX_MQUEUE?)", MQ_MSG_MAX,
		       strerror(errno));
	ASSERT_EQ(0, read_long(MQ_MSGSIZE_MAX, &self->old_msgsize_max));
	self->restore = 1;
	if (self->old_msg_max < DEPTH)
		ASSERT_EQ(0, write_long(MQ_MSG_MAX, DEPTH));
	if (self->old_msgsize_max < SIZE)
		ASSERT_EQ(0, write_long(MQ_MSGSIZE_MAX, SIZE));
	ASSERT_EQ(0, setrlimit(RLIMIT_MSGQUEUE, &rl));

	snprintf(self->mqname, sizeof(self->mqname), "/kt-%d-diff", getpid());
	self->mq = mq_open(self->mqname, O_RDWR | O_CREAT | O_EXCL |
			   O_NONBLOCK, 0600, &ma);
	ASSERT_NE((mqd_t)-1, self->mq) TH_LOG("mq_open: %s", strerror(errno));
	self->mq_blk = mq_open(self->mqname, O_RDWR);
	ASSERT_NE((mqd_t)-1, self->mq_blk);

	kt_name(self->kname, sizeof(self->kname), "diff");
	self->kb = kt_create(self->kname, O_RDWR | O_NONBLOCK, 0600, DEPTH,
			     SIZE);
	ASSERT_GE(self->kb, 0) TH_LOG("kmbox create: %s", strerror(errno));
	self->kb_blk = kt_open(self->kname, O_RDWR, 0, 0, 0, 0);
	ASSERT_GE(self->kb_blk, 0);
	alarm(60);
}

FIXTURE_TEARDOWN(diff)
{
	if (self->mq != (mqd_t)-1) {
		mq_close(self->mq);
		mq_unlink(self->mqname);
	}
	if (self->mq_blk != (mqd_t)-1)
		mq_close(self->mq_blk);
	if (self->kb >= 0) {
		close(self->kb);
		kt_unlink(self->kname);
	}
	if (self->kb_blk >= 0)
		close(self->kb_blk);
	if (self->restore) {
		write_long(MQ_MSG_MAX, self->old_msg_max);
		write_long(MQ_MSGSIZE_MAX, self->old_msgsize_max);
	}
}

/* One operation's outcome. */
struct outcome {
	long ret;
	int err;
	unsigned int prio;
	unsigned char buf[SIZE];
};

enum op { OP_SEND, OP_RECV, OP_TSEND, OP_TRECV, OP_BIGSEND };

static const char *const op_names[] = {
	"send", "recv", "timedsend(past)", "timedrecv(past)", "oversize send",
};

static void past_realtime(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec -= 1;
}

static void past_monotonic(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec -= 1;
}

static void do_mq(FIXTURE_DATA(diff) *self, enum op op, const void *msg,
		  size_t len, unsigned int prio, struct outcome *o)
{
	struct timespec ts;

	memset(o, 0, sizeof(*o));
	switch (op) {
	case OP_SEND:
	case OP_BIGSEND:
		o->ret = mq_send(self->mq, msg, len, prio);
		break;
	case OP_TSEND:
		past_realtime(&ts);
		o->ret = mq_timedsend(self->mq_blk, msg, len, prio, &ts);
		break;
	case OP_RECV:
		o->ret = mq_receive(self->mq, (char *)o->buf, SIZE, &o->prio);
		break;
	case OP_TRECV:
		past_realtime(&ts);
		o->ret = mq_timedreceive(self->mq_blk, (char *)o->buf, SIZE,
					 &o->prio, &ts);
		break;
	}
	o->err = o->ret < 0 ? errno : 0;
}

/*
 * The mailbox side: raw ioctls, or write()/read() for some priority-0
 * sends and some receives, or libkmbox.
 */
static void do_kmbox(FIXTURE_DATA(diff) *self, int lib, int plain,
		     enum op op, const void *msg, size_t len,
		     unsigned int prio, struct outcome *o)
{
	struct kmbox_recv r;
	struct timespec ts;
	long n;

	memset(o, 0, sizeof(*o));
	switch (op) {
	case OP_SEND:
	case OP_BIGSEND:
		if (lib) {
			o->ret = kmbox_send(self->kb, msg, len, prio);
		} else if (plain && prio == 0) {
			n = write(self->kb, msg, len);
			o->ret = n < 0 ? -1 : 0;
			if (n >= 0 && (size_t)n != len)
				o->ret = -1000;	/* short write: mismatch */
		} else {
			o->ret = kt_send(self->kb, msg, len, prio, 0, 0);
		}
		break;
	case OP_TSEND:
		if (lib) {
			past_monotonic(&ts);
			o->ret = kmbox_timedsend(self->kb_blk, msg, len, prio,
						 &ts);
		} else {
			o->ret = kt_send(self->kb_blk, msg, len, prio,
					 KMBOX_F_TIMEOUT,
					 kt_now_ns() - 1000000000ULL);
		}
		break;
	case OP_RECV:
		if (lib) {
			o->ret = kmbox_receive(self->kb, o->buf, SIZE, &o->prio);
		} else if (plain) {
			/* read() does not tell the priority: take it on trust */
			o->ret = read(self->kb, o->buf, SIZE);
			o->prio = ~0U;
		} else {
			o->ret = kt_recv(self->kb, o->buf, SIZE, 0, 0, &r);
			o->prio = r.prio;
		}
		break;
	case OP_TRECV:
		if (lib) {
			past_monotonic(&ts);
			o->ret = kmbox_timedreceive(self->kb_blk, o->buf, SIZE,
						    &o->prio, &ts);
		} else {
			o->ret = kt_recv(self->kb_blk, o->buf, SIZE,
					 KMBOX_F_TIMEOUT,
					 kt_now_ns() - 1000000000ULL, &r);
			o->prio = r.prio;
		}
		break;
	}
	o->err = o->ret < 0 ? errno : 0;
}

TEST_F_TIMEOUT(diff, same_answers_as_posix_mqueue, 90)
{
	static unsigned char msg[SIZE + 128];
	struct outcome a, b;
	__u64 rng = variant->seed * 0x9e3779b97f4a7c15ULL + 1;
	int i, sends = 0, recvs = 0, eagain = 0, emsgsize = 0, etimedout = 0;
	int filling = 1;
	struct kmbox_attr ka;
	struct mq_attr ma;

	for (i = 0; i < variant->ops; i++) {
		__u64 x = rng_next(&rng);
		int pct = x % 100, plain = (x >> 8) & 1;
		unsigned int prio = (x >> 16) % variant->prio_range;
		size_t len;
		enum op op;

		if (variant->phases) {
			/* fill until full, then drain until empty, ... */
			op = filling ? OP_SEND : OP_RECV;
		} else {
			op = pct < variant->send_pct ? OP_SEND : OP_RECV;
		}
		switch ((x >> 32) % 25) {
		case 0:
			op = op == OP_SEND ? OP_TSEND : OP_TRECV;
			break;
		case 1:
			if (op == OP_SEND)
				op = OP_BIGSEND;
			break;
		}
		switch ((x >> 40) % 20) {
		case 0:
			len = 0;
			break;
		case 1:
			len = SIZE;
			break;
		default:
			len = (x >> 48) % (SIZE + 1);
		}
		if (op == OP_BIGSEND)
			len = SIZE + 1 + (x >> 48) % 100;
		kt_fill(msg, len > SIZE ? SIZE + 1 : len, i);

		do_mq(self, op, msg, len, prio, &a);
		do_kmbox(self, variant->lib, plain, op, msg, len, prio, &b);

		ASSERT_EQ(a.ret, b.ret)
			TH_LOG("op %d (%s, len %zu, prio %u): mqueue %ld (%s), kmbox %ld (%s)",
			       i, op_names[op], len, prio, a.ret,
			       strerror(a.err), b.ret, strerror(b.err));
		ASSERT_EQ(a.err, b.err)
			TH_LOG("op %d (%s): mqueue %s, kmbox %s", i,
			       op_names[op], strerror(a.err), strerror(b.err));
		if ((op == OP_RECV || op == OP_TRECV) && a.ret >= 0) {
			if (b.prio != ~0U)
				ASSERT_EQ(a.prio, b.prio) TH_LOG("op %d", i);
			ASSERT_EQ(0, memcmp(a.buf, b.buf, a.ret))
				TH_LOG("op %d: payloads differ", i);
		}
		if (a.ret < 0) {
			eagain += a.err == EAGAIN;
			emsgsize += a.err == EMSGSIZE;
			etimedout += a.err == ETIMEDOUT;
		} else if (op == OP_RECV || op == OP_TRECV) {
			recvs++;
		} else {
			sends++;
		}

		ASSERT_EQ(0, mq_getattr(self->mq, &ma));
		ASSERT_EQ(0, kt_getattr(self->kb, &ka));
		ASSERT_EQ(ma.mq_curmsgs, ka.cur_msgs) TH_LOG("after op %d", i);
		/* turn round once the queue answers EAGAIN */
		if (variant->phases && a.err == EAGAIN)
			filling = op == OP_RECV;
	}
	TH_LOG("%d sends, %d receives; EAGAIN %d, EMSGSIZE %d, ETIMEDOUT %d",
	       sends, recvs, eagain, emsgsize, etimedout);
	/* the sequence really went through full and empty */
	EXPECT_LT(0, eagain);
	EXPECT_LT(0, emsgsize);
	EXPECT_LT(0, etimedout);
}

TEST_HARNESS_MAIN
