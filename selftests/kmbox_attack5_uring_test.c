// SPDX-License-Identifier: GPL-2.0
/*
 * The attacker's tests of KMBOX_URING_RECV_BATCH, the io_uring command
 * that takes up to count messages of one mailbox at once:
 *
 *  - call requests taken by the command: with KMBOX_F_CALLS and a tokens
 *    array it cannot write, nothing is taken and no caller is failed;
 *    without KMBOX_F_CALLS, each caller gets EPIPE at once;
 *  - the command (some of them forced into an io-wq worker), a batch
 *    ioctl and a single receive on one file, with two senders: every
 *    message exactly once, each receiver in order per sender;
 *  - zero-copy: a command whose entries cannot be written puts its slots
 *    back while another thread of the same file releases every slot
 *    number it can: never a slot free twice (zc_free <= zc_slots), and
 *    every slot free at the end;
 *  - a file's receive filter: the command takes only what it lets
 *    through, in order.
 *
 * Built against a uapi without KMBOX_URING_RECV_BATCH, the program has
 * one test, which skips saying so.
 */
#define _GNU_SOURCE
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#ifndef KMBOX_URING_RECV_BATCH

TEST(uring_recv_batch)
{
	SKIP(return, "the uapi this was built against has no KMBOX_URING_RECV_BATCH");
}

#else

/* A ring with 128-byte SQEs, or skip saying why. */
#define A5_RING(ring, n) do {						\
	int _r = io_uring_queue_init((n), (ring), IORING_SETUP_SQE128);	\
	if (_r)								\
		SKIP(return, "no io_uring with IORING_SETUP_SQE128: %s", strerror(-_r)); \
} while (0)

static void a5_prep_batch(struct io_uring_sqe *sqe, int fd, const struct kmbox_batch *b,
			  struct kmbox_loss *lost)
{
	struct kmbox_uring_recv_batch a;

	memset(&a, 0, sizeof(a));
	a.b = *b;
	a.lost = KT_PTR(lost);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = KMBOX_URING_RECV_BATCH;
	memset(sqe->cmd, 0, 80);
	memcpy(sqe->cmd, &a, sizeof(a));
}

/* Submit one RECV_BATCH command (@flags: IOSQE_*) and wait for its CQE's res. */
static int a5_cmd(struct io_uring *ring, int fd, const struct kmbox_batch *b,
		  struct kmbox_loss *lost, unsigned int flags)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	if (!sqe)
		return -ENOSPC;
	a5_prep_batch(sqe, fd, b, lost);
	sqe->flags |= flags;
	if (io_uring_submit(ring) != 1)
		return -EIO;
	if (io_uring_wait_cqe(ring, &cqe))
		return -EIO;
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void a5_require(struct __test_metadata *_metadata)
{
	struct kmbox_info info;
	int fd = kt_dev(O_RDWR);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_info(fd, &info));
	close(fd);
	if (!(info.features & KMBOX_FEAT_URING))
		SKIP(_exit(255), "the module has no io_uring commands");
}

static void a5_stats_back(struct __test_metadata *_metadata, const struct kt_stats *before)
{
	struct kt_stats now;
	int i;

	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, kt_read_stats(&now));
		if (now.messages == before->messages && now.bytes == before->bytes &&
		    now.mailboxes == before->mailboxes && now.zc_slots_held == before->zc_slots_held)
			return;
		kt_sleep_ms(10);
	}
	EXPECT_TRUE(0) TH_LOG("/proc/kmbox/stats: mailboxes %ld messages %ld bytes %ld slots held %ld, was %ld %ld %ld %ld",
			      now.mailboxes, now.messages, now.bytes, now.zc_slots_held,
			      before->mailboxes, before->messages, before->bytes,
			      before->zc_slots_held);
}

/* ---- call requests --------------------------------------------------------- */

/*
 * Three calls are queued.  The command with KMBOX_F_CALLS and a tokens
 * array on a read-only page: -EFAULT, all three still queued, no caller
 * failed.  With a good array: three tokens, each answered, each caller
 * gets its own reply.  A fourth call taken by the command without
 * KMBOX_F_CALLS: its caller gets EPIPE.
 */
TEST(cmd_batch_takes_calls_only_when_it_can_report_tokens)
{
	struct kt_stats before;
	struct io_uring ring;
	struct kmbox_mmsg e[4];
	struct kmbox_batch b;
	uint32_t req[4];
	__u64 tokens[4], *ro;
	pid_t callers[4];
	int fd, i, res;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	ASSERT_EQ(0, kt_read_stats(&before));
	A5_RING(&ring, 8);
	fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_LE(0, fd);
	for (i = 0; i < 3; i++) {
		callers[i] = kt_fork(60);
		ASSERT_LE(0, callers[i]);
		if (!callers[i]) {
			uint32_t q = i, r = 0;

			CHILD_ASSERT(kt_call(fd, &q, 4, &r, 4, 0, 0, NULL) == 4);
			CHILD_ASSERT(r == 1000 + (uint32_t)i);
			_exit(0);
		}
		while (kt_cur_msgs(fd) < i + 1)
			kt_sleep_ms(1);
	}
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	for (i = 0; i < 4; i++)
		e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&req[i]), .len = 4 };
	b = (struct kmbox_batch){ .msgs = KT_PTR(e), .count = 4, .flags = KMBOX_F_CALLS,
				  .tokens = KT_PTR(ro) };
	res = a5_cmd(&ring, fd, &b, NULL, 0);
	ASSERT_EQ(-EFAULT, res);
	ASSERT_EQ(3, kt_cur_msgs(fd)) TH_LOG("a faulting command consumed requests");
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, waitpid(callers[i], NULL, WNOHANG)) TH_LOG("caller %d failed", i);
	/* Forced into a worker, with a good array. */
	memset(tokens, 0, sizeof(tokens));
	b.tokens = KT_PTR(tokens);
	res = a5_cmd(&ring, fd, &b, NULL, IOSQE_ASYNC);
	ASSERT_EQ(3, res);
	for (i = 0; i < 3; i++) {
		uint32_t r = 1000 + req[i];

		ASSERT_EQ((uint32_t)i, req[i]);
		ASSERT_NE(0, tokens[i]);
		ASSERT_EQ(0, kt_reply(fd, tokens[i], &r, 4)) TH_LOG("token %d: %s", i, strerror(errno));
	}
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, kt_wait(callers[i]));
	/* Without KMBOX_F_CALLS: EPIPE for the caller. */
	callers[3] = kt_fork(60);
	ASSERT_LE(0, callers[3]);
	if (!callers[3]) {
		uint32_t q = 3, r;

		CHILD_ASSERT(kt_call(fd, &q, 4, &r, 4, 0, 0, NULL) == -1 && errno == EPIPE);
		_exit(0);
	}
	while (kt_cur_msgs(fd) < 1)
		kt_sleep_ms(1);
	b = (struct kmbox_batch){ .msgs = KT_PTR(e), .count = 4 };
	ASSERT_EQ(1, a5_cmd(&ring, fd, &b, NULL, 0));
	ASSERT_EQ(0, kt_wait(callers[3]));
	munmap(ro, 4096);
	close(fd);
	io_uring_queue_exit(&ring);
	a5_stats_back(_metadata, &before);
}

/* ---- one file, every kind of receiver ---------------------------------- */

#define A5_N		4000	/* per sender */
#define A5_RCV		4

struct a5_msg {
	uint32_t sender, seq;
};

struct a5_sh {
	int fd;
	atomic_int received, stop;
	atomic_uchar taker[2 * A5_N];
	int last[A5_RCV][2];
	int disorder[A5_RCV], dup, bad, errs[A5_RCV];
};

struct a5_arg {
	struct a5_sh *sh;
	int id;
};

static void *a5_send(void *p)
{
	struct a5_arg *a = p;
	int i = 0;

	while (i < A5_N) {
		struct a5_msg m[8];
		struct kmbox_mmsg e[8];
		struct kmbox_batch b = { .msgs = KT_PTR(e) };
		int n = a->id ? 1 : 8, k;
		long r;

		if (i + n > A5_N)
			n = A5_N - i;
		for (k = 0; k < n; k++) {
			m[k] = (struct a5_msg){ a->id, i + k };
			e[k] = (struct kmbox_mmsg){ .buf = KT_PTR(&m[k]), .len = sizeof(m[k]) };
		}
		b.count = n;
		r = ioctl(a->sh->fd, KMBOX_IOC_SEND_BATCH, &b);
		if (r <= 0)
			return (void *)(long)errno;
		i += r;
	}
	return NULL;
}

static void a5_note(struct a5_sh *sh, int rid, const struct a5_msg *m, __u32 len)
{
	if (len != sizeof(*m) || m->sender > 1 || m->seq >= A5_N) {
		sh->bad++;
		return;
	}
	if (atomic_exchange(&sh->taker[m->sender * A5_N + m->seq], rid + 1))
		sh->dup++;
	if ((int)m->seq <= sh->last[rid][m->sender])
		sh->disorder[rid]++;
	sh->last[rid][m->sender] = m->seq;
	atomic_fetch_add(&sh->received, 1);
}

/*
 * 0: the command on a ring of its own, every third forced into a worker;
 * 1: the command on another ring, with the losses; 2: RECV_BATCH ioctl;
 * 3: single RECV.  The ioctls wait 30 ms at most; the commands never wait.
 */
static void *a5_recv(void *p)
{
	struct a5_arg *a = p;
	struct a5_sh *sh = a->sh;
	struct io_uring ring;
	int rid = a->id, calls = 0;

	if (rid < 2 && io_uring_queue_init(4, &ring, IORING_SETUP_SQE128)) {
		sh->errs[rid]++;
		return NULL;
	}
	while (!atomic_load(&sh->stop) && atomic_load(&sh->received) < 2 * A5_N) {
		struct a5_msg m[16];
		struct kmbox_mmsg e[16];
		struct kmbox_batch b = { .msgs = KT_PTR(e), .count = 16 };
		struct kmbox_loss lost;
		int k, res;

		calls++;
		for (k = 0; k < 16; k++)
			e[k] = (struct kmbox_mmsg){ .buf = KT_PTR(&m[k]), .len = sizeof(m[k]) };
		if (rid < 2) {
			res = a5_cmd(&ring, sh->fd, &b, rid ? &lost : NULL,
				     rid == 0 && calls % 3 == 0 ? IOSQE_ASYNC : 0);
			if (res == -EAGAIN) {
				sched_yield();
				continue;
			}
		} else if (rid == 2) {
			b.flags = KMBOX_F_TIMEOUT;
			b.deadline_ns = kt_deadline_ms(30);
			res = ioctl(sh->fd, KMBOX_IOC_RECV_BATCH, &b);
			if (res < 0)
				res = -errno;
			if (res == -ETIMEDOUT)
				continue;
		} else {
			struct kmbox_recv r;

			res = kt_recv(sh->fd, &m[0], sizeof(m[0]), KMBOX_F_TIMEOUT,
				      kt_deadline_ms(30), &r);
			if (res < 0 && errno == ETIMEDOUT)
				continue;
			if (res >= 0) {
				a5_note(sh, rid, &m[0], res);
				continue;
			}
			res = -errno;
		}
		if (res < 0) {
			sh->errs[rid]++;
			continue;
		}
		for (k = 0; k < res; k++)
			a5_note(sh, rid, &m[k], e[k].len);
	}
	if (rid < 2)
		io_uring_queue_exit(&ring);
	return NULL;
}

TEST(cmd_batch_among_every_receiver_of_one_file)
{
	struct a5_sh *sh = calloc(1, sizeof(*sh));
	struct a5_arg sa[2], ra[A5_RCV];
	pthread_t st[2], rt[A5_RCV];
	struct kt_stats before;
	struct io_uring probe;
	uint64_t end;
	int i, missing = 0;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	A5_RING(&probe, 2);
	io_uring_queue_exit(&probe);
	ASSERT_NE(NULL, sh);
	ASSERT_EQ(0, kt_read_stats(&before));
	memset(sh->last, 0xff, sizeof(sh->last));
	sh->fd = kt_anon(O_RDWR, 32, 64);
	ASSERT_LE(0, sh->fd);
	for (i = 0; i < A5_RCV; i++) {
		ra[i] = (struct a5_arg){ sh, i };
		ASSERT_EQ(0, pthread_create(&rt[i], NULL, a5_recv, &ra[i]));
	}
	for (i = 0; i < 2; i++) {
		sa[i] = (struct a5_arg){ sh, i };
		ASSERT_EQ(0, pthread_create(&st[i], NULL, a5_send, &sa[i]));
	}
	for (i = 0; i < 2; i++) {
		void *r;

		pthread_join(st[i], &r);
		EXPECT_EQ(NULL, r) TH_LOG("sender %d: errno %ld", i, (long)r);
	}
	end = kt_deadline_ms(60000);
	while (atomic_load(&sh->received) < 2 * A5_N && kt_now_ns() < end)
		kt_sleep_ms(10);
	atomic_store(&sh->stop, 1);
	for (i = 0; i < A5_RCV; i++)
		pthread_join(rt[i], NULL);
	for (i = 0; i < 2 * A5_N; i++)
		missing += !atomic_load(&sh->taker[i]);
	EXPECT_EQ(2 * A5_N, atomic_load(&sh->received));
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, sh->dup) TH_LOG("messages received twice");
	EXPECT_EQ(0, sh->bad);
	for (i = 0; i < A5_RCV; i++) {
		EXPECT_EQ(0, sh->errs[i]) TH_LOG("receiver %d", i);
		EXPECT_EQ(0, sh->disorder[i]) TH_LOG("receiver %d saw a sender out of order", i);
		TH_LOG("receiver %d got up to %d / %d", i, sh->last[i][0], sh->last[i][1]);
	}
	close(sh->fd);
	free(sh);
	a5_stats_back(_metadata, &before);
}

/* ---- zero-copy slots put back while another thread releases ------------- */

struct a5_rel {
	int fd;
	atomic_int stop;
	atomic_long ok;
};

static void *a5_releaser(void *p)
{
	struct a5_rel *r = p;
	uint32_t s = 0;

	while (!atomic_load(&r->stop)) {
		struct kmbox_slots sl = { .slots = KT_PTR(&s), .count = 1 };

		if (!ioctl(r->fd, KMBOX_IOC_ZC_RELEASE, &sl))
			atomic_fetch_add(&r->ok, 1);
		s = (s + 1) % 4;
	}
	return NULL;
}

/*
 * A zero-copy message is sent and taken by the command with entries it
 * cannot write (the slot is put back), 300 times, while another thread of
 * the same file releases slots 0..3 in a loop: a release may only ever
 * free a slot this file holds, so zc_free never exceeds zc_slots, the
 * message is received after the fault with its payload, and at the end
 * every slot is free.
 */
TEST(cmd_zc_batch_put_back_while_another_thread_releases)
{
	struct a5_rel rel = { 0 };
	struct kmbox_attr a;
	struct kt_stats before;
	struct io_uring ring;
	struct kmbox_mmsg *ro;
	unsigned char *region;
	pthread_t th;
	int fd, round, over = 0;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	ASSERT_EQ(0, kt_read_stats(&before));
	A5_RING(&ring, 4);
	kt_attr_init(&a, 8, 64);
	a.zc_slots = 4;
	a.zc_slot_size = 64;
	fd = kt_dev(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a)) TH_LOG("%s", strerror(errno));
	region = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, region);
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	rel.fd = fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, a5_releaser, &rel));
	for (round = 0; round < 300; round++) {
		struct kmbox_slots sl;
		struct kmbox_send s;
		struct kmbox_mmsg e = { .len = 64 };
		struct kmbox_batch b = { .msgs = KT_PTR(ro), .count = 1, .flags = KMBOX_F_ZC };
		uint32_t slot = KMBOX_NO_SLOT;
		int res;

		sl = (struct kmbox_slots){ .slots = KT_PTR(&slot), .count = 1 };
		ASSERT_EQ(1, ioctl(fd, KMBOX_IOC_ZC_RESERVE, &sl)) TH_LOG("round %d: %s", round,
									   strerror(errno));
		ASSERT_GT(4, slot);
		memset(region + slot * 64, round & 0xff, 48);
		s = (struct kmbox_send){ .len = 48, .flags = KMBOX_F_ZC, .slot = slot };
		res = ioctl(fd, KMBOX_IOC_SEND, &s);
		if (res) {
			/* The releaser freed our reserved slot first: fine, again. */
			ASSERT_EQ(EINVAL, errno) TH_LOG("round %d: %s", round, strerror(errno));
			continue;
		}
		res = a5_cmd(&ring, fd, &b, NULL, round % 2 ? IOSQE_ASYNC : 0);
		ASSERT_EQ(-EFAULT, res) TH_LOG("round %d", round);
		ASSERT_EQ(0, kt_getattr(fd, &a));
		over += a.zc_free > a.zc_slots;
		ASSERT_EQ(1, a.cur_msgs) TH_LOG("round %d: the faulting command consumed", round);
		b.msgs = KT_PTR(&e);
		res = a5_cmd(&ring, fd, &b, NULL, 0);
		ASSERT_EQ(1, res) TH_LOG("round %d", round);
		ASSERT_EQ(48, e.len);
		if (e.flags & KMBOX_MSG_ZC) {
			ASSERT_GT(4, e.slot);
			/* The releaser may free it before us: either is fine. */
			sl = (struct kmbox_slots){ .slots = KT_PTR(&e.slot), .count = 1 };
			ioctl(fd, KMBOX_IOC_ZC_RELEASE, &sl);
		}
		ASSERT_EQ(0, kt_getattr(fd, &a));
		over += a.zc_free > a.zc_slots;
	}
	atomic_store(&rel.stop, 1);
	pthread_join(th, NULL);
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, over) TH_LOG("zc_free went over zc_slots: a slot freed twice");
	EXPECT_EQ(a.zc_slots, a.zc_free);
	EXPECT_EQ(0, a.cur_msgs);
	TH_LOG("%ld releases by the other thread succeeded", atomic_load(&rel.ok));
	munmap(region, 4096);
	munmap(ro, 4096);
	close(fd);
	io_uring_queue_exit(&ring);
	a5_stats_back(_metadata, &before);
}

/* ---- a filtered file ---------------------------------------------------- */

/*
 * A file whose filter lets through tags with bit 0 set: the command takes
 * only those, in priority then arrival order, and leaves the others; the
 * unfiltered receive then gets the rest in order.
 */
TEST(cmd_batch_follows_the_files_filter)
{
	struct kmbox_filter f = { .tag = 1, .mask = 1, .flags = KMBOX_FILTER_SET };
	struct kt_stats before;
	struct io_uring ring;
	struct kmbox_mmsg e[32];
	uint32_t m[32], want[32];
	__u64 tags[32];
	int fd, rfd, i, k = 0, res;
	struct kmbox_reopen ro = { .flags = O_RDWR | O_CLOEXEC };

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	ASSERT_EQ(0, kt_read_stats(&before));
	A5_RING(&ring, 4);
	fd = kt_anon(O_RDWR, 64, 64);
	ASSERT_LE(0, fd);
	rfd = ioctl(fd, KMBOX_IOC_REOPEN, &ro);
	ASSERT_LE(0, rfd);
	ASSERT_EQ(0, ioctl(rfd, KMBOX_IOC_FILTER, &f)) TH_LOG("%s", strerror(errno));
	for (i = 0; i < 24; i++) {
		uint32_t v = i;
		struct kmbox_send s = { .buf = KT_PTR(&v), .len = 4, .prio = i % 3,
					.flags = KMBOX_F_TAG, .tag = i % 4 };

		ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));
	}
	for (int p = 2; p >= 0; p--)
		for (i = 0; i < 24; i++)
			if (i % 3 == p && (i % 4) & 1)
				want[k++] = i;
	for (i = 0; i < 32; i++)
		e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&m[i]), .len = 4 };
	{
		struct kmbox_batch b = { .msgs = KT_PTR(e), .count = 32, .flags = KMBOX_F_TAG,
					 .tags = KT_PTR(tags) };

		res = a5_cmd(&ring, rfd, &b, NULL, 0);
	}
	ASSERT_EQ(k, res);
	for (i = 0; i < k; i++) {
		ASSERT_EQ(want[i], m[i]) TH_LOG("entry %d", i);
		ASSERT_EQ(m[i] % 4, tags[i]);
	}
	{
		struct kmbox_batch b = { .msgs = KT_PTR(e), .count = 32 };

		ASSERT_EQ(-EAGAIN, a5_cmd(&ring, rfd, &b, NULL, 0));
		ASSERT_EQ(24 - k, a5_cmd(&ring, fd, &b, NULL, 0));
	}
	for (i = 0, k = 0; i < 24 - 12; i++)
		ASSERT_EQ(0, (m[i] % 4) & 1);
	close(rfd);
	close(fd);
	io_uring_queue_exit(&ring);
	a5_stats_back(_metadata, &before);
}

#endif /* KMBOX_URING_RECV_BATCH */

TEST_HARNESS_MAIN
