// SPDX-License-Identifier: GPL-2.0
/*
 * The attacker's tests of the copy paths that the pool, batch and reply
 * work of December 2026 rewrites: message buffers reused from a pool or
 * from recycled pages, batch receives that detach many messages at once
 * and put them back on a fault, and the reply to a call.
 *
 * Invariants checked, whatever the implementation underneath:
 *  - a receiver never sees a byte it was not sent: a buffer that held a
 *    longer message (or a send that faulted half way) leaves nothing in
 *    a shorter one, and nothing past a message's length is written;
 *  - a send whose payload faults half way queues nothing, charges
 *    nothing, and leaves /proc/kmbox/stats where it was;
 *  - a receive (single, batch, batchx) that faults anywhere consumes
 *    nothing, and what it put back comes out in the exact order it would
 *    have (priority, then arrival);
 *  - threads sharing one file, receiving singly and in batches at once,
 *    get every message exactly once, each in order per sender and
 *    priority; receivers killed mid-batch never make a message appear
 *    twice;
 *  - a reply racing its caller's death is delivered or refused (ENOENT),
 *    never leaked; a reply's buffer reused for a shorter reply shows
 *    nothing of the longer one;
 *  - large payloads are charged to the sender's memory cgroup, and the
 *    charge goes with the mailbox.
 * Each runs as root, as uid 1000, and as uid 1000 in fresh user and IPC
 * namespaces where that makes a difference (variants).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox_attack5.h"

#define A5_BIG		(256 << 10)	/* max_msgsize of the reuse mailboxes */
#define A5_PAD		4096		/* bytes checked past a message's end */
#define A5_CANARY	0x5a
#define A5_SECRET	0xa5

static long a5_page;

FIXTURE(a5) {
	struct kt_stats before;
};

FIXTURE_VARIANT(a5) {
	int who;
};

FIXTURE_VARIANT_ADD(a5, root) { .who = A5_ROOT };
FIXTURE_VARIANT_ADD(a5, uid1000) { .who = A5_USER };
FIXTURE_VARIANT_ADD(a5, userns) { .who = A5_USERNS };

FIXTURE_SETUP(a5)
{
	KT_REQUIRE_MODULE();
	a5_page = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(0, kt_read_stats(&self->before));
	A5_BECOME(variant->who);
}

FIXTURE_TEARDOWN(a5)
{
}

/* ---- buffers with a hole ------------------------------------------------ */

/*
 * @len bytes whose first @good are readable and writable and the rest
 * are on a PROT_NONE page (mapped, so never another mapping's).  The
 * mapping is @*map of @*maplen bytes.
 */
static char *a5_holed(size_t len, size_t good, void **map, size_t *maplen)
{
	size_t pg = a5_page, head = (good + pg - 1) / pg * pg;
	size_t total = head + (len - good + pg - 1) / pg * pg + pg;
	char *m;

	m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m + head, total - head, PROT_NONE)) {
		munmap(m, total);
		return NULL;
	}
	*map = m;
	*maplen = total;
	return m + head - good;
}

static int a5_anon(int oflags, __u32 max_msgs, __u32 max_msgsize)
{
	return kt_anon(oflags, max_msgs, max_msgsize);
}

/* @len bytes of @buf all @c? */
static int a5_all(const unsigned char *buf, size_t len, int c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != c)
			return 0;
	return 1;
}

/* Sizes around every boundary an implementation may have. */
static const __u32 a5_sizes[] = {
	0, 1, 7, 8, 63, 64, 65, 127, 128, 200, 255, 256, 500, 511, 512, 513,
	900, 920, 940, 1000, 1023, 1024, 1025, 2000, 2048, 3900, 4000, 4095,
	4096, 4097, 5000, 8191, 8192, 8193, 12288, 16384, 32768, 65535, 65536,
	65537, 131072, 200000, A5_BIG,
};
#define A5_NSIZES	(sizeof(a5_sizes) / sizeof(a5_sizes[0]))

/*
 * Receive one message into a buffer of A5_BIG + A5_PAD bytes of canary
 * through @how (0 ioctl RECV, 1 read(), 2 RECV_BATCH of one, 3 readv of
 * two pieces), and check it is @len bytes of kt_fill(@seed) with the
 * canary untouched after it.  Return: NULL, or what was wrong.
 */
static const char *a5_recv_check(int fd, unsigned char *rbuf, __u32 len, uint32_t seed, int how)
{
	size_t cap = A5_BIG + A5_PAD;
	static char why[128];
	long got;

	memset(rbuf, A5_CANARY, cap);
	if (how == 0) {
		got = kt_recv(fd, rbuf, A5_BIG, KMBOX_F_NONBLOCK, 0, NULL);
	} else if (how == 1) {
		got = read(fd, rbuf, A5_BIG);
	} else if (how == 2) {
		struct kmbox_mmsg e = { .buf = KT_PTR(rbuf), .len = A5_BIG };
		struct kmbox_batch b = { .msgs = KT_PTR(&e), .count = 1,
					 .flags = KMBOX_F_NONBLOCK };

		got = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
		got = got == 1 ? (long)e.len : -1;
	} else {
		struct iovec iov[2] = {
			{ rbuf, A5_BIG / 2 }, { rbuf + A5_BIG / 2, A5_BIG / 2 },
		};

		got = readv(fd, iov, 2);
	}
	if (got != (long)len) {
		snprintf(why, sizeof(why), "how %d: got %ld (%s), not %u", how, got,
			 got < 0 ? strerror(errno) : "", len);
		return why;
	}
	if (!kt_check_fill(rbuf, len, seed)) {
		snprintf(why, sizeof(why), "how %d: %u bytes are not what was sent", how, len);
		return why;
	}
	if (!a5_all(rbuf + len, A5_PAD, A5_CANARY)) {
		snprintf(why, sizeof(why), "how %d: bytes written past the %u of the message",
			 how, len);
		return why;
	}
	return NULL;
}

/* Fill the mailbox's buffers with the secret: @n messages of each size, received. */
static int a5_secret_round(int fd, unsigned char *sbuf, unsigned char *rbuf, int n)
{
	unsigned int i;
	int k;

	memset(sbuf, A5_SECRET, A5_BIG);
	for (i = 0; i < A5_NSIZES; i++) {
		for (k = 0; k < n; k++)
			if (kt_send(fd, sbuf, a5_sizes[A5_NSIZES - 1 - i], 0, KMBOX_F_NONBLOCK, 0))
				return -1;
		for (k = 0; k < n; k++)
			if (kt_recv(fd, rbuf, A5_BIG, KMBOX_F_NONBLOCK, 0, NULL) < 0)
				return -1;
	}
	return 0;
}

/*
 * A buffer that held a longer message (all of it the secret byte), or a
 * send that faulted half way, is reused for every size in turn: the
 * receiver gets exactly the message, and nothing is written past it,
 * through every receive path.
 */
TEST_F(a5, reuse_never_shows_stale_bytes)
{
	unsigned char *sbuf = malloc(A5_BIG), *rbuf = malloc(A5_BIG + A5_PAD);
	unsigned int i;
	int fd, how;

	ASSERT_NE(NULL, sbuf);
	ASSERT_NE(NULL, rbuf);
	fd = a5_anon(O_RDWR, 4, A5_BIG);
	ASSERT_LE(0, fd) TH_LOG("anon mailbox of %d B messages: %s", A5_BIG, strerror(errno));
	for (how = 0; how < 4; how++) {
		ASSERT_EQ(0, a5_secret_round(fd, sbuf, rbuf, 3)) TH_LOG("%s", strerror(errno));
		for (i = 0; i < A5_NSIZES; i++) {
			__u32 len = a5_sizes[i];
			const char *why;

			kt_fill(sbuf, len, i * 7 + how);
			if (how & 1) {
				ASSERT_EQ((long)len, write(fd, sbuf, len)) TH_LOG("%s", strerror(errno));
			} else {
				ASSERT_EQ(0, kt_send(fd, sbuf, len, 0, KMBOX_F_NONBLOCK, 0));
			}
			why = a5_recv_check(fd, rbuf, len, i * 7 + how, how);
			ASSERT_EQ(NULL, why) TH_LOG("size %u after the secret: %s", len, why);
			/* And the secret again, so the next size reuses it. */
			memset(sbuf, A5_SECRET, A5_BIG);
			ASSERT_EQ(0, kt_send(fd, sbuf, A5_BIG - len, 0, KMBOX_F_NONBLOCK, 0));
			ASSERT_EQ((int)(A5_BIG - len), kt_recv(fd, rbuf, A5_BIG, KMBOX_F_NONBLOCK, 0, NULL));
		}
	}
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	free(sbuf);
	free(rbuf);
	A5_STATS_BACK();
}

/*
 * A send whose payload faults half way (its source runs into a PROT_NONE
 * page) through SEND, write() and SEND_BATCH: EFAULT, nothing queued; the
 * next message of the same size, which may get the same buffer, is only
 * itself.
 */
TEST_F(a5, send_faulting_half_way_queues_nothing)
{
	unsigned char *good = malloc(A5_BIG), *rbuf = malloc(A5_BIG + A5_PAD);
	unsigned int i;
	int fd, path;

	ASSERT_NE(NULL, good);
	ASSERT_NE(NULL, rbuf);
	fd = a5_anon(O_RDWR, 8, A5_BIG);
	ASSERT_LE(0, fd);
	for (i = 0; i < A5_NSIZES; i++) {
		__u32 len = a5_sizes[i];
		void *map;
		size_t maplen;
		char *bad;

		if (len < 2)
			continue;
		bad = a5_holed(len, len / 2, &map, &maplen);
		ASSERT_NE(NULL, bad);
		memset(bad, A5_SECRET, len / 2);
		for (path = 0; path < 3; path++) {
			const char *why;
			long ret;

			errno = 0;
			if (path == 0) {
				ret = kt_send(fd, bad, len, 0, KMBOX_F_NONBLOCK, 0);
			} else if (path == 1) {
				ret = write(fd, bad, len);
			} else {
				/* Entry 0 good, entry 1 faulting: one sent. */
				struct kmbox_mmsg e[2] = {
					{ .buf = KT_PTR(good), .len = 3 },
					{ .buf = KT_PTR(bad), .len = len },
				};
				struct kmbox_batch b = { .msgs = KT_PTR(e), .count = 2,
							 .flags = KMBOX_F_NONBLOCK };

				kt_fill(good, 3, 99);
				ret = ioctl(fd, KMBOX_IOC_SEND_BATCH, &b);
				ASSERT_EQ(1, ret) TH_LOG("size %u: batch [good, faulting] gave %ld (%s)",
							 len, ret, strerror(errno));
				why = a5_recv_check(fd, rbuf, 3, 99, 0);
				ASSERT_EQ(NULL, why) TH_LOG("%s", why);
				/* Entry 0 faulting: nothing at all. */
				b.msgs = KT_PTR(&e[1]);
				b.count = 1;
				errno = 0;
				ret = ioctl(fd, KMBOX_IOC_SEND_BATCH, &b);
			}
			ASSERT_EQ(-1, ret) TH_LOG("size %u path %d: a faulting send gave %ld", len, path, ret);
			ASSERT_EQ(EFAULT, errno) TH_LOG("size %u path %d: %s", len, path, strerror(errno));
			ASSERT_EQ(0, kt_cur_msgs(fd)) TH_LOG("size %u path %d: something queued", len, path);
			/* The same size, good: only itself comes out. */
			kt_fill(good, len, len + path);
			ASSERT_EQ(0, kt_send(fd, good, len, 0, KMBOX_F_NONBLOCK, 0));
			why = a5_recv_check(fd, rbuf, len, len + path, path & 1);
			ASSERT_EQ(NULL, why) TH_LOG("size %u after a faulting send: %s", len, why);
		}
		munmap(map, maplen);
	}
	close(fd);
	free(good);
	free(rbuf);
	A5_STATS_BACK();
}

/*
 * A peek (which copies a cut version) and a receive whose buffer faults
 * half way: the peek writes min(len, buffer) bytes and nothing after;
 * the faulting receive consumes nothing and the message comes out whole
 * afterwards.
 */
TEST_F(a5, peek_and_faulting_receive_write_only_the_message)
{
	unsigned char *sbuf = malloc(A5_BIG), *rbuf = malloc(A5_BIG + A5_PAD);
	unsigned int i;
	int fd;

	ASSERT_NE(NULL, sbuf);
	ASSERT_NE(NULL, rbuf);
	fd = a5_anon(O_RDWR, 4, A5_BIG);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, a5_secret_round(fd, sbuf, rbuf, 2));
	for (i = 0; i < A5_NSIZES; i++) {
		__u32 len = a5_sizes[i], cut = len / 3;
		struct kmbox_recv r;
		const char *why;
		void *map;
		size_t maplen;
		char *bad;
		int how;

		kt_fill(sbuf, len, i);
		ASSERT_EQ(0, kt_send(fd, sbuf, len, 5, KMBOX_F_NONBLOCK, 0));
		memset(rbuf, A5_CANARY, A5_BIG + A5_PAD);
		ASSERT_EQ((int)len, kt_recv(fd, rbuf, cut, KMBOX_F_PEEK | KMBOX_F_NONBLOCK, 0, &r))
			TH_LOG("size %u: peek into %u: %s", len, cut, strerror(errno));
		EXPECT_TRUE(kt_check_fill(rbuf, cut, i));
		EXPECT_TRUE(a5_all(rbuf + cut, A5_PAD, A5_CANARY))
			TH_LOG("size %u: a peek into %u bytes wrote past them", len, cut);
		if (len >= 2) {
			bad = a5_holed(A5_BIG, len / 2, &map, &maplen);
			ASSERT_NE(NULL, bad);
			for (how = 0; how < 3; how++) {
				long ret;

				errno = 0;
				if (how == 0) {
					ret = kt_recv(fd, bad, A5_BIG, KMBOX_F_NONBLOCK, 0, NULL);
				} else if (how == 1) {
					ret = read(fd, bad, A5_BIG);
				} else {
					struct kmbox_mmsg e = { .buf = KT_PTR(bad), .len = A5_BIG };
					struct kmbox_batch b = { .msgs = KT_PTR(&e), .count = 1,
								 .flags = KMBOX_F_NONBLOCK };

					ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
				}
				ASSERT_EQ(-1, ret) TH_LOG("size %u how %d: gave %ld", len, how, ret);
				ASSERT_EQ(EFAULT, errno);
				ASSERT_EQ(1, kt_cur_msgs(fd)) TH_LOG("size %u how %d: consumed", len, how);
			}
			munmap(map, maplen);
		}
		why = a5_recv_check(fd, rbuf, len, i, 0);
		ASSERT_EQ(NULL, why) TH_LOG("size %u after faults: %s", len, why);
	}
	close(fd);
	free(sbuf);
	free(rbuf);
	A5_STATS_BACK();
}

/* ---- batch receive: faults put back in place --------------------------- */

#define A5_Q		24

/* Payload of the queue-order tests: sequence number and priority. */
struct a5_msg {
	uint32_t seq, prio, sender, pad;
};

/* Priorities of message i in the queue-order tests. */
static unsigned int a5_prio(unsigned int i)
{
	static const unsigned int p[] = { 0, 3, 0, 1, 3, 2, 0, 1 };

	return p[i % 8] + (i % 5 == 4 ? 7 : 0);
}

/* The receive order of a5_prio()'s queue: seqs sorted by -prio, then seq. */
static void a5_expected(unsigned int *order, unsigned int n)
{
	unsigned int i, j, k = 0;
	int p;

	for (p = 16; p >= 0; p--)
		for (i = 0; i < n; i++)
			if (a5_prio(i) == (unsigned int)p)
				order[k++] = i;
	for (j = k; j < n; j++)
		order[j] = ~0U;
}

/*
 * Messages of mixed priorities are queued; batch receives fail in every
 * way a user can make them fail after they took their messages (entries
 * read-only; entry k's buffer unmapped; tokens and tags unwritable; the
 * BATCHX argument read-only; RECVX's argument read-only); each consumes
 * nothing, or exactly the entries before the fault, and the rest comes
 * out in the exact order it would have without the faults.
 */
TEST_F(a5, batch_faults_put_back_in_order)
{
	unsigned int order[A5_Q], next = 0, i;
	struct a5_msg bufs[KMBOX_BATCH_MAX];
	struct kmbox_mmsg ents[KMBOX_BATCH_MAX];
	char *ro, *hole;
	size_t pg;
	int fd, step;

	pg = a5_page;
	fd = a5_anon(O_RDWR, 64, 256);
	ASSERT_LE(0, fd);
	for (i = 0; i < A5_Q; i++) {
		struct a5_msg m = { .seq = i, .prio = a5_prio(i) };
		struct kmbox_send s = { .buf = KT_PTR(&m), .len = sizeof(m), .prio = m.prio,
					.flags = KMBOX_F_NONBLOCK | KMBOX_F_TAG, .tag = 1000 + i };

		ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));
	}
	a5_expected(order, A5_Q);
	/* A read-only page and an unmapped one. */
	ro = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	hole = ro + pg;
	ASSERT_EQ(0, munmap(hole, pg));

	for (step = 0; step < 8; step++) {
		struct kmbox_batchx *x = (void *)ro;
		struct kmbox_batch b;
		unsigned int n = 5, got_n = 0;
		long ret;

		memset(ents, 0, sizeof(ents));
		memset(bufs, 0, sizeof(bufs));
		for (i = 0; i < n; i++) {
			ents[i].buf = KT_PTR(&bufs[i]);
			ents[i].len = sizeof(bufs[i]);
		}
		memset(&b, 0, sizeof(b));
		b.msgs = KT_PTR(ents);
		b.count = n;
		b.flags = KMBOX_F_NONBLOCK;
		errno = 0;
		switch (step) {
		case 0:	/* entries on a read-only page */
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
			memcpy(ro, ents, n * sizeof(ents[0]));
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
			b.msgs = KT_PTR(ro);
			ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
			break;
		case 1:	/* entry 2's buffer unmapped: two taken */
			ents[2].buf = KT_PTR(hole);
			ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
			got_n = 2;
			break;
		case 2:	/* tags unwritable */
			b.flags |= KMBOX_F_TAG;
			b.tags = KT_PTR(hole);
			ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
			break;
		case 3:	/* tags read-only, the last few bytes */
			b.flags |= KMBOX_F_TAG;
			b.tags = KT_PTR(ro + pg - 2 * sizeof(__u64));
			ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
			break;
		case 4:	/* BATCHX whose argument is read-only: the losses cannot go */
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
			memset(x, 0, sizeof(*x));
			x->b = b;
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
			ret = ioctl(fd, KMBOX_IOC_RECV_BATCHX, x);
			break;
		case 5:	/* RECVX whose argument is read-only */
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
			memset(x, 0, sizeof(struct kmbox_recvx));
			((struct kmbox_recvx *)ro)->r.buf = KT_PTR(&bufs[0]);
			((struct kmbox_recvx *)ro)->r.len = sizeof(bufs[0]);
			((struct kmbox_recvx *)ro)->r.flags = KMBOX_F_NONBLOCK;
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
			ret = ioctl(fd, KMBOX_IOC_RECVX, ro);
			break;
		case 6:	/* entry 0 too small: EMSGSIZE, nothing taken */
			ents[0].len = sizeof(bufs[0]) - 1;
			ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
			ASSERT_EQ(-1, ret);
			ASSERT_EQ(EMSGSIZE, errno);
			ASSERT_EQ(sizeof(struct a5_msg), ents[0].len);
			continue;
		default: /* entry 3 too small: three taken, the rest stays */
			ents[3].len = 1;
			ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
			got_n = 3;
			break;
		}
		if (!got_n) {
			ASSERT_EQ(-1, ret) TH_LOG("step %d: gave %ld", step, ret);
			ASSERT_EQ(EFAULT, errno) TH_LOG("step %d: %s", step, strerror(errno));
		} else {
			ASSERT_EQ((long)got_n, ret) TH_LOG("step %d: %s", step, strerror(errno));
			for (i = 0; i < got_n; i++) {
				ASSERT_EQ(order[next], bufs[i].seq)
					TH_LOG("step %d: entry %u is seq %u, not %u", step, i,
					       bufs[i].seq, order[next]);
				ASSERT_EQ(a5_prio(order[next]), ents[i].prio);
				next++;
			}
		}
		ASSERT_EQ(A5_Q - next, kt_cur_msgs(fd)) TH_LOG("step %d", step);
	}
	/* The rest, one at a time, in order, with their tags. */
	for (; next < A5_Q; next++) {
		struct a5_msg m;
		struct kmbox_recv r;

		ASSERT_EQ((int)sizeof(m), kt_recv(fd, &m, sizeof(m), KMBOX_F_NONBLOCK, 0, &r));
		ASSERT_EQ(order[next], m.seq) TH_LOG("after the faults: seq %u, not %u", m.seq,
						     order[next]);
		ASSERT_EQ(1000 + m.seq, r.tag);
	}
	ASSERT_EQ(-1, kt_recv(fd, bufs, sizeof(bufs[0]), KMBOX_F_NONBLOCK, 0, NULL));
	ASSERT_EQ(EAGAIN, errno);
	munmap(ro, pg);
	close(fd);
	A5_STATS_BACK();
}

/* ---- batches of one priority: runs -------------------------------------- */

struct a5_rmsg {
	uint32_t seq, prio;
};

/* Send @n messages of @prio numbered from *@seq in one SEND_BATCH; its result. */
static long a5_send_run(int fd, unsigned int n, unsigned int prio, uint32_t *seq,
			struct a5_rmsg *store)
{
	struct kmbox_mmsg e[KMBOX_BATCH_MAX];
	struct kmbox_batch b = { .msgs = KT_PTR(e), .count = n, .flags = KMBOX_F_NONBLOCK };
	unsigned int i;
	long ret;

	for (i = 0; i < n; i++) {
		store[*seq + i] = (struct a5_rmsg){ *seq + i, prio };
		e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&store[*seq + i]),
					    .len = sizeof(store[0]), .prio = prio };
	}
	ret = ioctl(fd, KMBOX_IOC_SEND_BATCH, &b);
	if (ret > 0)
		*seq += ret;
	return ret;
}

/* Receive up to @n with RECV_BATCH (entry @small 1 byte, entry @hole unmapped). */
static long a5_recv_run(int fd, unsigned int n, int small, void *hole, struct a5_rmsg *out,
			struct kmbox_mmsg *e)
{
	struct kmbox_batch b = { .msgs = KT_PTR(e), .count = n, .flags = KMBOX_F_NONBLOCK };
	unsigned int i;

	for (i = 0; i < n; i++)
		e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&out[i]), .len = sizeof(out[0]) };
	if (small >= 0)
		e[small].len = 1;
	if (hole)
		e[n / 2].buf = KT_PTR(hole);
	return ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
}

/*
 * Batches of one priority, which a queue may link and take as runs, up
 * against the room (an urgent lane keeps two places), behind messages of
 * the same priority already queued, and taken back by batch receives cut
 * short by a small buffer or a fault: every message once, in priority
 * then arrival order; the counters (KMBOX_IOC_STATS, cur_msgs, cur_bytes)
 * agree; an edge-triggered epoll watch sees an edge for each batch.
 */
TEST_F(a5, runs_of_one_priority_keep_order_room_and_counts)
{
	struct kmbox_attr a;
	struct kmbox_qos q = { .policy = KMBOX_POLICY_BLOCK, .urgent_prio = 6, .urgent_room = 2 };
	struct a5_rmsg sent[64], got[KMBOX_BATCH_MAX];
	struct kmbox_mmsg e[KMBOX_BATCH_MAX];
	struct kmbox_stats st;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	uint32_t order[64], seq = 0;
	unsigned int i, k = 0, next = 0;
	int fd, ep, round;
	void *hole;

	hole = mmap(NULL, a5_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	kt_attr_init(&a, 20, 64);
	fd = kt_anon_qos(O_RDWR, &a, &q);
	ASSERT_LE(0, fd) TH_LOG("urgent lane: %s", strerror(errno));
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));

	for (round = 0; round < 3; round++) {
		uint32_t base = seq;

		k = 0;
		ASSERT_EQ(12, a5_send_run(fd, 12, 1, &seq, sent));
		ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0)) TH_LOG("round %d: no edge for a batch", round);
		/* Room for 6 more non-urgent: 4 of priority 3, then 2 of 1 (a run cut). */
		ASSERT_EQ(4, a5_send_run(fd, 4, 3, &seq, sent));
		ASSERT_EQ(2, a5_send_run(fd, 4, 1, &seq, sent));
		ASSERT_EQ(-1, a5_send_run(fd, 3, 1, &seq, sent));
		ASSERT_EQ(EAGAIN, errno);
		/* Urgent: the two places kept for them, no more. */
		ASSERT_EQ(2, a5_send_run(fd, 3, 6, &seq, sent));
		ASSERT_EQ(20, kt_cur_msgs(fd));
		ASSERT_EQ(0, kt_getattr(fd, &a));
		ASSERT_EQ(20 * sizeof(struct a5_rmsg), a.cur_bytes);
		/* The receive order. */
		for (i = base; i < seq; i++)
			if (sent[i].prio == 6)
				order[k++] = i;
		for (i = base; i < seq; i++)
			if (sent[i].prio == 3)
				order[k++] = i;
		for (i = base; i < seq; i++)
			if (sent[i].prio == 1)
				order[k++] = i;
		ASSERT_EQ(20, k);
		next = 0;
		/* Cut by a small buffer at entry 9. */
		ASSERT_EQ(9, a5_recv_run(fd, 16, 9, NULL, got, e));
		for (i = 0; i < 9; i++, next++)
			ASSERT_EQ(order[next], got[i].seq) TH_LOG("round %d: entry %u", round, i);
		/* Cut by a fault at entry 4 (n / 2 of 8): four taken, the rest back. */
		ASSERT_EQ(4, a5_recv_run(fd, 8, -1, hole, got, e));
		for (i = 0; i < 4; i++, next++)
			ASSERT_EQ(order[next], got[i].seq) TH_LOG("round %d: entry %u", round, i);
		ASSERT_EQ(7, kt_cur_msgs(fd));
		/* Room again: a new run goes behind the queued ones of its priority. */
		ASSERT_EQ(5, a5_send_run(fd, 5, 1, &seq, sent));
		for (i = seq - 5; i < seq; i++)
			order[k++] = i;
		ASSERT_EQ(0, kt_getattr(fd, &a));
		ASSERT_EQ(12 * sizeof(struct a5_rmsg), a.cur_bytes);
		/* The rest at once. */
		ASSERT_EQ(12, a5_recv_run(fd, KMBOX_BATCH_MAX, -1, NULL, got, e));
		for (i = 0; i < 12; i++, next++)
			ASSERT_EQ(order[next], got[i].seq) TH_LOG("round %d: entry %u", round, i);
		ASSERT_EQ(0, kt_cur_msgs(fd));
		ASSERT_EQ(0, kt_getattr(fd, &a));
		ASSERT_EQ(0, a.cur_bytes);
		ASSERT_EQ(0, epoll_wait(ep, &ev, 1, 0));
		seq = 0;
	}
	memset(&st, 0xa5, sizeof(st));
	st.flags = 0;
	memset(st.__reserved, 0, sizeof(st.__reserved));
	st.__pad = 0;
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_STATS, &st)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(3 * 25, st.msgs_in);
	EXPECT_EQ(3 * 25, st.msgs_out);
	EXPECT_EQ(3 * 25 * sizeof(struct a5_rmsg), st.bytes_out);
	for (i = 0, k = 0; i < KMBOX_STATS_BUCKETS; i++)
		k += st.qtime_hist[i];
	EXPECT_EQ(st.msgs_out, k) TH_LOG("the queue-time buckets do not add up");
	EXPECT_EQ(20, st.max_depth);
	close(ep);
	close(fd);
	munmap(hole, a5_page);
	A5_STATS_BACK();
}

/* ---- threads sharing one file ------------------------------------------ */

#define A5_SENDERS	2
#define A5_PRIOS	4
#define A5_PER_SENDER	6000
#define A5_RECEIVERS	4
#define A5_TOTAL	(A5_SENDERS * A5_PER_SENDER)

struct a5_share {
	int fd, rfd;	/* rfd: a REOPENed O_NONBLOCK file for read() */
	int faulting;			/* receiver 3 faults half of its calls */
	atomic_int received;
	atomic_int stop;
	/* per message (sender * A5_PER_SENDER + i): who took it, +1 */
	atomic_uchar taker[A5_TOTAL];
	/* last seq seen per receiver, sender, prio (order check) */
	int last[A5_RECEIVERS][A5_SENDERS][A5_PRIOS];
	int disorder[A5_RECEIVERS];
	int dup, bad, errs[A5_RECEIVERS];
	char *hole;
};

struct a5_rarg {
	struct a5_share *sh;
	int id;
};

static void *a5_sender(void *p)
{
	struct a5_rarg *a = p;
	struct a5_share *sh = a->sh;
	int seq[A5_PRIOS] = { 0 }, i = 0;

	while (i < A5_PER_SENDER) {
		struct a5_msg m[16];
		struct kmbox_mmsg e[16];
		int n = a->id ? 1 : 1 + (i % 16), k;

		if (i + n > A5_PER_SENDER)
			n = A5_PER_SENDER - i;
		for (k = 0; k < n; k++) {
			/* Sender 0: runs of one priority (linked at once); 1: mixed. */
			unsigned int prio = a->id ? (i + k) * 7 % A5_PRIOS : (i + k) / 6 % A5_PRIOS;

			m[k] = (struct a5_msg){ .seq = seq[prio]++, .prio = prio,
						.sender = a->id, .pad = i + k };
			e[k] = (struct kmbox_mmsg){ .buf = KT_PTR(&m[k]), .len = sizeof(m[k]),
						    .prio = prio };
		}
		if (n == 1) {
			if (kt_send(sh->fd, &m[0], sizeof(m[0]), m[0].prio, 0, 0))
				return (void *)(long)errno;
		} else {
			struct kmbox_batch b = { .msgs = KT_PTR(e), .count = n };
			int done = 0;

			while (done < n) {
				long r;

				b.msgs = KT_PTR(&e[done]);
				b.count = n - done;
				r = ioctl(sh->fd, KMBOX_IOC_SEND_BATCH, &b);
				if (r <= 0)
					return (void *)(long)errno;
				done += r;
			}
		}
		i += n;
	}
	return NULL;
}

static void a5_note(struct a5_share *sh, int rid, const struct a5_msg *m, __u32 len, __u32 prio)
{
	unsigned int idx;
	unsigned char was;

	if (len != sizeof(*m) || m->sender >= A5_SENDERS || m->pad >= A5_PER_SENDER ||
	    m->prio != prio || m->prio >= A5_PRIOS) {
		sh->bad++;
		return;
	}
	idx = m->sender * A5_PER_SENDER + m->pad;
	was = atomic_exchange(&sh->taker[idx], (unsigned char)(rid + 1));
	if (was)
		sh->dup++;
	if ((int)m->seq <= sh->last[rid][m->sender][m->prio])
		sh->disorder[rid]++;
	sh->last[rid][m->sender][m->prio] = m->seq;
	atomic_fetch_add(&sh->received, 1);
}

/*
 * Receiver @id: 0 single RECV, 1 RECV_BATCH of 8, 2 read(), 3 RECV_BATCHX
 * of 16 that, when faulting, has half its calls fail (entries read-only or
 * entry 5's buffer unmapped).
 */
static void *a5_receiver(void *p)
{
	struct a5_rarg *a = p;
	struct a5_share *sh = a->sh;
	int rid = a->id, calls = 0;

	while (!atomic_load(&sh->stop)) {
		struct a5_msg m[16];
		struct kmbox_mmsg e[16];
		__u64 dl = kt_deadline_ms(50);
		int k, n;

		calls++;
		if (rid == 0) {
			struct kmbox_recv r;

			if (kt_recv(sh->fd, &m[0], sizeof(m[0]), KMBOX_F_TIMEOUT, dl, &r) < 0) {
				if (errno != ETIMEDOUT)
					sh->errs[rid]++;
				continue;
			}
			a5_note(sh, rid, &m[0], r.len, r.prio);
		} else if (rid == 2) {
			struct pollfd pfd = { .fd = sh->rfd, .events = POLLIN };
			ssize_t got;

			got = read(sh->rfd, &m[0], sizeof(m[0]));
			if (got < 0) {
				if (errno != EAGAIN)
					sh->errs[rid]++;
				poll(&pfd, 1, 20);
				continue;
			}
			a5_note(sh, rid, &m[0], got, m[0].prio);
		} else {
			struct kmbox_batchx x;
			int fault = sh->faulting && rid == 3 ? calls % 4 : 0;

			n = rid == 1 ? 8 : 16;
			for (k = 0; k < n; k++)
				e[k] = (struct kmbox_mmsg){ .buf = KT_PTR(&m[k]), .len = sizeof(m[k]) };
			if (fault == 1)
				e[5].buf = KT_PTR(sh->hole);
			memset(&x, 0, sizeof(x));
			x.b.msgs = KT_PTR(e);
			x.b.count = n;
			x.b.flags = KMBOX_F_TIMEOUT;
			x.b.deadline_ns = dl;
			if (fault == 3)
				x.b.msgs = KT_PTR(sh->hole);	/* nothing read: EFAULT at once */
			k = ioctl(sh->fd, rid == 1 ? KMBOX_IOC_RECV_BATCH : KMBOX_IOC_RECV_BATCHX, &x);
			if (k < 0) {
				if (errno != ETIMEDOUT && !(fault && errno == EFAULT))
					sh->errs[rid]++;
				continue;
			}
			if (fault == 1 && k > 5)
				sh->bad++;	/* entry 5 could not be written */
			for (n = 0; n < k; n++)
				a5_note(sh, rid, &m[n], e[n].len, e[n].prio);
		}
		if (atomic_load(&sh->received) >= A5_TOTAL)
			break;
	}
	return NULL;
}

static void a5_share_run(struct __test_metadata *_metadata, int faulting)
{
	struct a5_share *sh = calloc(1, sizeof(*sh));
	pthread_t st[A5_SENDERS], rt[A5_RECEIVERS];
	struct a5_rarg sa[A5_SENDERS], ra[A5_RECEIVERS];
	struct kmbox_reopen reopen = { .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC };
	uint64_t end;
	int i, j, k;

	ASSERT_NE(NULL, sh);
	sh->faulting = faulting;
	sh->hole = mmap(NULL, a5_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh->hole);
	memset(sh->last, 0xff, sizeof(sh->last));
	sh->fd = a5_anon(O_RDWR, 32, 64);
	ASSERT_LE(0, sh->fd);
	sh->rfd = ioctl(sh->fd, KMBOX_IOC_REOPEN, &reopen);
	ASSERT_LE(0, sh->rfd) TH_LOG("REOPEN: %s", strerror(errno));
	for (i = 0; i < A5_RECEIVERS; i++) {
		ra[i] = (struct a5_rarg){ sh, i };
		ASSERT_EQ(0, pthread_create(&rt[i], NULL, a5_receiver, &ra[i]));
	}
	for (i = 0; i < A5_SENDERS; i++) {
		sa[i] = (struct a5_rarg){ sh, i };
		ASSERT_EQ(0, pthread_create(&st[i], NULL, a5_sender, &sa[i]));
	}
	for (i = 0; i < A5_SENDERS; i++) {
		void *r;

		pthread_join(st[i], &r);
		EXPECT_EQ(NULL, r) TH_LOG("sender %d: errno %ld", i, (long)r);
	}
	end = kt_deadline_ms(60000);
	while (atomic_load(&sh->received) < A5_TOTAL && kt_now_ns() < end)
		kt_sleep_ms(10);
	atomic_store(&sh->stop, 1);
	for (i = 0; i < A5_RECEIVERS; i++)
		pthread_join(rt[i], NULL);
	EXPECT_EQ(A5_TOTAL, atomic_load(&sh->received));
	EXPECT_EQ(0, sh->dup) TH_LOG("messages received twice");
	EXPECT_EQ(0, sh->bad) TH_LOG("messages not as sent");
	for (i = 0, k = 0; i < A5_TOTAL; i++)
		k += !atomic_load(&sh->taker[i]);
	EXPECT_EQ(0, k) TH_LOG("%d messages never received", k);
	for (i = 0; i < A5_RECEIVERS; i++) {
		EXPECT_EQ(0, sh->errs[i]) TH_LOG("receiver %d: unexpected errors", i);
		/* A faulting receiver's put-back may pass another's: order only without. */
		if (!faulting)
			EXPECT_EQ(0, sh->disorder[i])
				TH_LOG("receiver %d saw a sender's messages of one priority out of order",
				       i);
	}
	for (i = 0, j = 0; i < A5_RECEIVERS; i++)
		j += sh->last[i][0][0] >= 0;
	TH_LOG("receivers that got something from sender 0 prio 0: %d", j);
	EXPECT_EQ(0, kt_cur_msgs(sh->fd));
	close(sh->rfd);
	close(sh->fd);
	munmap(sh->hole, a5_page);
	free(sh);
}

/*
 * Two senders (one in batches) and four receivers (single, batch, read(),
 * batchx) on one file: every message exactly once, and each receiver sees
 * each sender's messages of one priority in order.
 */
TEST_F(a5, batch_and_single_receivers_share_one_file)
{
	a5_share_run(_metadata, 0);
	A5_STATS_BACK();
}

/* The same with one receiver whose batches fault half the time: exactly once. */
TEST_F(a5, faulting_batch_receiver_among_others_loses_nothing)
{
	a5_share_run(_metadata, 1);
	A5_STATS_BACK();
}

/* ---- receivers killed mid-batch ---------------------------------------- */

#define A5_KILL_MSGS	3000

/*
 * Children sharing the file receive in batches and singly and note each
 * message in shared memory; the parent sends and SIGKILLs them at random.
 * What a killed child took without noting it is lost to the test, but no
 * message may be noted twice (or by a child and the final drain), and
 * after the last close nothing stays counted.
 */
TEST_F(a5, receivers_killed_mid_batch_never_duplicate)
{
	unsigned char *seen;
	pid_t kids[3] = { 0 };
	int fd, i, sent = 0, kills = 0, dup = 0, noted = 0;
	unsigned int rnd = 12345;

	seen = mmap(NULL, A5_KILL_MSGS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, seen);
	memset(seen, 0, A5_KILL_MSGS);
	fd = a5_anon(O_RDWR, 64, 64);
	ASSERT_LE(0, fd);
	while (sent < A5_KILL_MSGS) {
		for (i = 0; i < 3; i++) {
			if (kids[i])
				continue;
			kids[i] = kt_fork(60);
			ASSERT_LE(0, kids[i]);
			if (!kids[i]) {
				for (;;) {
					uint32_t m[16] = { 0 };
					struct kmbox_mmsg e[16];
					struct kmbox_batch b = { .msgs = KT_PTR(e), .count = 16 };
					int k, n;

					for (k = 0; k < 16; k++)
						e[k] = (struct kmbox_mmsg){ .buf = KT_PTR(&m[k]),
									    .len = 4 };
					if (i == 2)
						b.count = 1;
					n = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
					for (k = 0; k < n; k++)
						if (m[k] < A5_KILL_MSGS)
							__atomic_fetch_add(&seen[m[k]], 1,
									   __ATOMIC_SEQ_CST);
				}
			}
		}
		for (i = 0; i < 37 && sent < A5_KILL_MSGS; i++, sent++)
			ASSERT_EQ(0, kt_send(fd, &sent, 4, sent % 3, 0, 0));
		rnd = rnd * 1103515245 + 12345;
		i = (rnd >> 16) % 3;
		if ((rnd >> 8) & 1)
			sched_yield();
		kill(kids[i], SIGKILL);
		kt_wait(kids[i]);
		kids[i] = 0;
		kills++;
	}
	for (i = 0; i < 3; i++) {
		if (kids[i]) {
			kill(kids[i], SIGKILL);
			kt_wait(kids[i]);
			kills++;
		}
	}
	/* What is left comes out, never something noted already. */
	for (;;) {
		uint32_t m;

		if (kt_recv(fd, &m, 4, KMBOX_F_NONBLOCK, 0, NULL) < 0)
			break;
		ASSERT_GT(A5_KILL_MSGS, m);
		seen[m]++;
	}
	ASSERT_EQ(EAGAIN, errno);
	for (i = 0; i < A5_KILL_MSGS; i++) {
		dup += seen[i] > 1;
		noted += seen[i] > 0;
	}
	TH_LOG("%d kills; %d of %d messages noted (the rest died with a receiver)", kills,
	       noted, A5_KILL_MSGS);
	EXPECT_EQ(0, dup) TH_LOG("%d messages received twice", dup);
	EXPECT_LE(A5_KILL_MSGS - kills * 16, noted);
	close(fd);
	munmap(seen, A5_KILL_MSGS);
	A5_STATS_BACK();
}

/* ---- call and reply ---------------------------------------------------- */

/*
 * Eight callers; a receiver with a file of its own takes requests in
 * batches (KMBOX_F_CALLS) and is SIGKILLed at a random point, holding
 * whatever it took; the parent then takes the rest with its own file and
 * answers them.  Every caller ends: with EPIPE if the killed receiver's
 * file had its request, with its reply otherwise; none hangs, none gets
 * both, and nothing stays counted.
 */
TEST_F(a5, calls_held_by_a_killed_batch_receiver_fail_with_epipe)
{
	int *res, fd, round;

	res = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	fd = a5_anon(O_RDWR, 16, 64);
	ASSERT_LE(0, fd);
	for (round = 0; round < 12; round++) {
		pid_t callers[8], rcv;
		int i, left, epipe = 0, replied = 0;

		memset(res, 0, 4096);
		for (i = 0; i < 8; i++) {
			callers[i] = kt_fork(60);
			ASSERT_LE(0, callers[i]);
			if (!callers[i]) {
				uint32_t q = i, r = 0;
				int ret = kt_call(fd, &q, 4, &r, 4, 0, 0, NULL);

				res[i] = ret == 4 && r == 100 + (uint32_t)i ? 1 :
					 ret < 0 && errno == EPIPE ? 2 : 3;
				_exit(0);
			}
		}
		rcv = kt_fork(60);
		ASSERT_LE(0, rcv);
		if (!rcv) {
			struct kmbox_reopen ro = { .flags = O_RDONLY | O_CLOEXEC };
			int rfd = ioctl(fd, KMBOX_IOC_REOPEN, &ro);

			CHILD_ASSERT(rfd >= 0);
			close(fd);
			for (;;) {
				uint32_t m[4];
				__u64 tok[4];
				struct kmbox_mmsg e[4];
				struct kmbox_batch b = { .msgs = KT_PTR(e), .count = 1 + round % 4,
							 .flags = KMBOX_F_CALLS, .tokens = KT_PTR(tok) };
				int k;

				for (k = 0; k < 4; k++)
					e[k] = (struct kmbox_mmsg){ .buf = KT_PTR(&m[k]), .len = 4 };
				if (ioctl(rfd, KMBOX_IOC_RECV_BATCH, &b) > 0)
					res[64]++;
			}
		}
		/* Kill it after it took something, or at once. */
		if (round % 3) {
			uint64_t end = kt_deadline_ms(5000);

			while (!__atomic_load_n(&res[64], __ATOMIC_SEQ_CST) && kt_now_ns() < end)
				sched_yield();
		}
		kill(rcv, SIGKILL);
		kt_wait(rcv);
		/* The rest: taken and answered here, until every caller ended. */
		for (left = 8; left;) {
			struct kmbox_recv r;
			uint32_t q, rep;

			if (kt_recv(fd, &q, 4, KMBOX_F_CALLS | KMBOX_F_TIMEOUT, kt_deadline_ms(50),
				    &r) == 4) {
				rep = 100 + q;
				ASSERT_EQ(0, kt_reply(fd, r.reply_token, &rep, 4));
			}
			for (i = 0; i < 8; i++) {
				if (callers[i] && waitpid(callers[i], NULL, WNOHANG) == callers[i]) {
					callers[i] = 0;
					left--;
				}
			}
		}
		for (i = 0; i < 8; i++) {
			ASSERT_NE(0, res[i]) TH_LOG("round %d: caller %d never ended", round, i);
			ASSERT_NE(3, res[i]) TH_LOG("round %d: caller %d: neither its reply nor EPIPE",
						    round, i);
			epipe += res[i] == 2;
			replied += res[i] == 1;
		}
		ASSERT_EQ(8, epipe + replied);
		ASSERT_EQ(0, kt_cur_msgs(fd));
	}
	close(fd);
	munmap(res, 4096);
	A5_STATS_BACK();
}


/*
 * A caller is killed while its request waits for its reply, in every
 * order against the reply: the reply succeeds (the caller was still
 * waiting) or gets ENOENT (it was gone); after every round nothing is
 * left counted, and a second reply to the same token is ENOENT.
 */
TEST_F(a5, reply_racing_the_callers_death)
{
	int fd, round, ok = 0, gone = 0;
	char req[64], rep[700];

	fd = a5_anon(O_RDWR, 8, 1024);
	ASSERT_LE(0, fd);
	memset(rep, A5_SECRET, sizeof(rep));
	for (round = 0; round < 150; round++) {
		__u64 token = 0;
		pid_t caller;
		int ret, st;

		caller = kt_fork(30);
		ASSERT_LE(0, caller);
		if (!caller) {
			char buf[1024];

			memset(req, round, sizeof(req));
			_exit(kt_call(fd, req, sizeof(req), buf, sizeof(buf), 0, 0, NULL) < 0 ? 2 : 0);
		}
		ASSERT_EQ((int)sizeof(req), kt_take(fd, req, sizeof(req), 0, &token))
			TH_LOG("round %d: %s", round, strerror(errno));
		ASSERT_NE(0, token);
		switch (round % 3) {
		case 0:		/* killed, reaped, then the reply */
			kill(caller, SIGKILL);
			st = kt_wait(caller);
			ret = kt_reply(fd, token, rep, round * 4 % sizeof(rep));
			ASSERT_EQ(-1, ret);
			ASSERT_EQ(ENOENT, errno);
			break;
		case 1:		/* killed, and the reply at once */
			kill(caller, SIGKILL);
			ret = kt_reply(fd, token, rep, round * 4 % sizeof(rep));
			ASSERT_TRUE(ret == 0 || errno == ENOENT) TH_LOG("%s", strerror(errno));
			st = kt_wait(caller);
			break;
		default:	/* the reply, and the kill at once */
			ret = kt_reply(fd, token, rep, round * 4 % sizeof(rep));
			kill(caller, SIGKILL);
			ASSERT_EQ(0, ret) TH_LOG("%s", strerror(errno));
			st = kt_wait(caller);
			break;
		}
		ret ? gone++ : ok++;
		ASSERT_TRUE(st == 0 || st == 128 + SIGKILL) TH_LOG("caller ended %d", st);
		ASSERT_EQ(-1, kt_reply(fd, token, rep, 1));
		ASSERT_EQ(ENOENT, errno);
	}
	TH_LOG("%d replies landed, %d found the caller gone", ok, gone);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	A5_STATS_BACK();
}

/*
 * A reply buffer that held a longer reply: the caller's buffer gets the
 * reply and nothing after it; a reply whose payload faults half way is
 * EFAULT and the caller keeps waiting for the good one; a reply longer
 * than the caller's buffer is EMSGSIZE, the caller still waits.
 */
TEST_F(a5, replies_show_only_themselves)
{
	static const __u32 lens[] = { 0, 1, 63, 64, 65, 500, 900, 1000, 4000, 4097, 8192, 70000 };
	unsigned char *rep = malloc(A5_BIG);
	unsigned int i;
	int fd;

	ASSERT_NE(NULL, rep);
	fd = a5_anon(O_RDWR, 8, A5_BIG);
	ASSERT_LE(0, fd);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		__u32 len = lens[i];
		__u64 token;
		char req[8];
		pid_t caller;
		void *map;
		size_t maplen;
		char *bad;

		/* A long secret reply first, to an earlier call. */
		caller = kt_fork(30);
		ASSERT_LE(0, caller);
		if (!caller) {
			unsigned char *buf = malloc(A5_BIG);

			CHILD_ASSERT(kt_call(fd, "s", 1, buf, A5_BIG, 0, 0, NULL) == A5_BIG);
			_exit(0);
		}
		ASSERT_EQ(1, kt_take(fd, req, sizeof(req), 0, &token));
		memset(rep, A5_SECRET, A5_BIG);
		ASSERT_EQ(0, kt_reply(fd, token, rep, A5_BIG));
		ASSERT_EQ(0, kt_wait(caller));

		caller = kt_fork(30);
		ASSERT_LE(0, caller);
		if (!caller) {
			unsigned char *buf = malloc(A5_BIG + A5_PAD);
			struct kmbox_call c;

			memset(buf, A5_CANARY, A5_BIG + A5_PAD);
			CHILD_ASSERT(kt_call(fd, "q", 1, buf, len + 16, 0, 0, &c) == (int)len);
			CHILD_ASSERT(c.reply_len == len);
			CHILD_ASSERT(kt_check_fill(buf, len, len));
			CHILD_ASSERT(a5_all(buf + len, A5_PAD, A5_CANARY));
			_exit(0);
		}
		ASSERT_EQ(1, kt_take(fd, req, sizeof(req), 0, &token));
		if (len >= 2) {
			bad = a5_holed(len, len / 2, &map, &maplen);
			ASSERT_NE(NULL, bad);
			memset(bad, A5_SECRET, len / 2);
			ASSERT_EQ(-1, kt_reply(fd, token, bad, len));
			ASSERT_EQ(EFAULT, errno);
			munmap(map, maplen);
		}
		memset(rep, A5_SECRET, A5_BIG);
		ASSERT_EQ(-1, kt_reply(fd, token, rep, len + 17));
		ASSERT_EQ(EMSGSIZE, errno);
		kt_fill(rep, len, len);
		ASSERT_EQ(0, kt_reply(fd, token, rep, len)) TH_LOG("len %u: %s", len, strerror(errno));
		ASSERT_EQ(0, kt_wait(caller)) TH_LOG("len %u: the caller saw more than its reply", len);
	}
	close(fd);
	free(rep);
	A5_STATS_BACK();
}

/* ---- a memory cgroup with a tiny limit ----------------------------------- */

#define A5_CG_ROOM	(4 << 20)
#define A5_CG_MSG	65536

/*
 * A sender in a memory cgroup that may grow by 4 MiB queues 64 KiB
 * messages (paged payloads, recycled pages or whatever backs them) into
 * its own mailbox, whose quota would allow 64 MiB: the cgroup's limit
 * stops it with an error, not the OOM killer, and once the mailbox is
 * closed the cgroup is back where it started: payload memory is charged
 * to whoever sent it, and goes with it.
 */
TEST(large_payloads_are_charged_to_the_senders_memcg)
{
	struct { int sent, err; long long before, peak, after; } *res;
	unsigned long long quota = 0;
	char dir[128];
	const char *why;
	pid_t kid;
	int st;

	KT_REQUIRE_MODULE();
	if (geteuid())
		SKIP(return, "needs root to make a cgroup");
	if (kt_param_get("user_quota", &quota) == 0 && quota && quota < 4 * A5_CG_ROOM)
		SKIP(return, "user_quota %llu would stop the sender before the cgroup does", quota);
	why = a5_cg_make(dir, sizeof(dir));
	if (why)
		SKIP(return, "%s", why);
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	memset(res, 0, sizeof(*res));
	kid = kt_fork(120);
	ASSERT_LE(0, kid);
	if (!kid) {
		static char buf[A5_CG_MSG];
		char lim[32];
		cpu_set_t cpus;
		int fd;

		CPU_ZERO(&cpus);
		CPU_SET(0, &cpus);
		sched_setaffinity(0, sizeof(cpus), &cpus);
		memset(buf, 1, sizeof(buf));
		CHILD_ASSERT(a5_cg_write(dir, "cgroup.procs", "0") == 0);
		fd = a5_anon(O_RDWR, 4096, A5_CG_MSG);
		CHILD_ASSERT(fd >= 0);
		res->before = a5_cg_read(dir, "memory.current");
		snprintf(lim, sizeof(lim), "%lld", res->before + A5_CG_ROOM);
		CHILD_ASSERT(a5_cg_write(dir, "memory.max", lim) == 0);
		while (res->sent < 4096) {
			if (kt_send(fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0)) {
				res->err = errno;
				break;
			}
			res->sent++;
		}
		res->peak = a5_cg_read(dir, "memory.current");
		close(fd);
		res->after = a5_cg_read(dir, "memory.current");
		_exit(0);
	}
	st = kt_wait(kid);
	/* The charge may reach the cgroup a little late (per-cpu stock). */
	if (res->after > res->before + (1 << 20))
		kt_sleep_ms(200);
	TH_LOG("child %d: sent %d x 64 KiB, then %s; cgroup %lld before, %lld full, %lld after close",
	       st, res->sent, strerror(res->err), res->before, res->peak, res->after);
	ASSERT_EQ(0, st) TH_LOG("the sender was killed (memcg OOM?) instead of getting an error");
	EXPECT_LT(res->sent, 4096) TH_LOG("the cgroup's limit stopped nothing");
	EXPECT_LE((long long)res->sent * A5_CG_MSG, A5_CG_ROOM + (1 << 20))
		TH_LOG("%d x 64 KiB queued past a 4 MiB limit: payloads not charged to the cgroup",
		       res->sent);
	EXPECT_TRUE(res->err == ENOMEM || res->err == ENOBUFS) TH_LOG("%s", strerror(res->err));
	EXPECT_LE(res->after, res->before + (1 << 20))
		TH_LOG("the cgroup still holds %lld bytes after the mailbox went",
		       res->after - res->before);
	rmdir(dir);
	munmap(res, sizeof(*res));
}

/* One "key value" line of @dir's memory.stat, or -1. */
static long long a5_cg_stat(const char *dir, const char *key)
{
	char path[256], k[64];
	long long v, ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2)
		if (!strcmp(k, key))
			ret = v;
	fclose(f);
	return ret;
}

/*
 * Pages freed by one memory cgroup's messages must not carry another
 * cgroup's messages uncharged.  Root (outside the cgroup) sends and
 * receives 4 x 64 KiB on a mailbox, so whatever the module keeps of those
 * pages for reuse was charged to root's cgroup; then a child in a cgroup
 * of its own sends 4 x 64 KiB into the same mailbox and keeps them
 * queued: its cgroup's kernel memory (memory.stat "kernel", which the
 * per-cpu charge stock does not hide, read after the 2 s stats flush)
 * must grow by about what it queued.
 */
TEST(recycled_payload_pages_are_charged_to_the_new_sender)
{
	struct { int sent, err; long long before, after; } *res;
	static char buf[A5_CG_MSG];
	char dir[128];
	const char *why;
	long recycled;
	pid_t kid;
	int fd, i, st;

	KT_REQUIRE_MODULE();
	if (geteuid())
		SKIP(return, "needs root to make a cgroup");
	why = a5_cg_make(dir, sizeof(dir));
	if (why)
		SKIP(return, "%s", why);
	if (a5_cg_stat(dir, "kernel") < 0)
		SKIP(return, "no \"kernel\" line in %s/memory.stat", dir);
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	memset(res, 0, sizeof(*res));
	fd = a5_anon(O_RDWR, 16, A5_CG_MSG);
	ASSERT_LE(0, fd);
	memset(buf, 7, sizeof(buf));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, kt_send(fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(A5_CG_MSG, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	recycled = kt_fdinfo_long(fd, "kmbox-recycled-pages");
	kid = kt_fork(60);
	ASSERT_LE(0, kid);
	if (!kid) {
		memset(buf, 9, sizeof(buf));
		CHILD_ASSERT(a5_cg_write(dir, "cgroup.procs", "0") == 0);
		/* At once: the idle trim frees kept pages a second or two later. */
		res->before = a5_cg_stat(dir, "kernel");
		while (res->sent < 4) {
			if (kt_send(fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0)) {
				res->err = errno;
				break;
			}
			res->sent++;
		}
		/* memory.stat is flushed every 2 s (or after enough changes). */
		kt_sleep_ms(2500);
		res->after = a5_cg_stat(dir, "kernel");
		_exit(0);
	}
	st = kt_wait(kid);
	TH_LOG("child %d: sent %d x 64 KiB, then %s; the cgroup's kernel memory %lld -> %lld; "
	       "kmbox-recycled-pages %ld before the child's sends, %ld after",
	       st, res->sent, res->err ? strerror(res->err) : "-", res->before, res->after,
	       recycled, kt_fdinfo_long(fd, "kmbox-recycled-pages"));
	EXPECT_EQ(0, st);
	EXPECT_EQ(4, res->sent);
	EXPECT_LE((long long)res->sent * A5_CG_MSG * 3 / 4, res->after - res->before)
		TH_LOG("the cgroup's kernel memory grew by %lld for %d x 64 KiB it queued: the "
		       "payload pages stay charged to the cgroup that freed them",
		       res->after - res->before, res->sent);
	close(fd);
	rmdir(dir);
	munmap(res, sizeof(*res));
}

TEST_HARNESS_MAIN
