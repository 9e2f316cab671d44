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
 * And of KMBOX_URING_SEND_BATCH, up to count messages to one mailbox:
 *
 *  - the sender killed with SIGKILL with batches in flight (some in
 *    io-wq workers) and its ring torn down: what arrived is an unbroken
 *    prefix of what it sent, nothing twice, and the stats come back;
 *  - entry 2's buffer page supplied by a userfaultfd while another
 *    thread fills the mailbox (nothing of the batch is queued: -EAGAIN),
 *    unmaps the page (the first two sent) or closes the descriptor (all
 *    sent); the page flipped between PROT_READ and PROT_NONE by another
 *    thread: all four or exactly the first two, each time;
 *  - KMBOX_BATCH_MAX entries of the largest message size; a sender in
 *    a memory cgroup with 4 MiB of room: cut short or refused, never
 *    the OOM killer, exactly the counts returned queued;
 *  - an SQPOLL ring: the messages carry the submitting process and its
 *    uid, and a full mailbox is -EAGAIN at once.
 *
 * Built against a uapi without KMBOX_URING_RECV_BATCH, the program has
 * one test, which skips saying so.
 */
#define _GNU_SOURCE
#include <linux/userfaultfd.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox_attack5.h"

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

static void a5_expect_stats_back(struct __test_metadata *_metadata,
				 const struct kt_stats *before)
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
	a5_expect_stats_back(_metadata, &before);
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
	a5_expect_stats_back(_metadata, &before);
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
	a5_expect_stats_back(_metadata, &before);
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
	a5_expect_stats_back(_metadata, &before);
}


/* ---- KMBOX_URING_SEND_BATCH ----------------------------------------------- */

#ifdef KMBOX_URING_SEND_BATCH

static void a5_prep_sbatch(struct io_uring_sqe *sqe, int fd, const struct kmbox_batch *b)
{
	struct kmbox_uring_send_batch a;

	memset(&a, 0, sizeof(a));
	a.b = *b;
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = KMBOX_URING_SEND_BATCH;
	memset(sqe->cmd, 0, 80);
	memcpy(sqe->cmd, &a, sizeof(a));
}

/*
 * Submit one SEND_BATCH of @count entries at @e (@flags: IOSQE_*) and
 * wait up to 20 s for its CQE's res: a command that never completes is
 * -ETIME, not a hung test.
 */
static int a5_scmd(struct io_uring *ring, int fd, const struct kmbox_mmsg *e, __u32 count,
		   unsigned int flags)
{
	struct kmbox_batch b = { .msgs = KT_PTR(e), .count = count };
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct __kernel_timespec ts = { .tv_sec = 20 };
	struct io_uring_cqe *cqe;
	int res;

	if (!sqe)
		return -ENOSPC;
	a5_prep_sbatch(sqe, fd, &b);
	sqe->flags |= flags;
	res = io_uring_submit(ring);
	/*
	 * On an SQPOLL ring, liburing's count is of the entries the SQ
	 * thread has not taken yet: 0 when it was quicker than the count.
	 */
	if (res < 0 || (res != 1 && !(ring->flags & IORING_SETUP_SQPOLL)))
		return -EIO;
	res = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (res)
		return res == -ETIME ? -ETIME : -EIO;
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

/* @n entries over @v[0..n), four bytes each, v[i] = @base + i. */
static void a5_sents(struct kmbox_mmsg *e, uint32_t *v, int n, uint32_t base)
{
	int i;

	for (i = 0; i < n; i++) {
		v[i] = base + i;
		e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&v[i]), .len = 4 };
	}
}

/*
 * Receive what @fd holds: the number of four-byte messages @first,
 * @first + 1, ... in that order until it is empty, or -1 for anything
 * else.
 */
static int a5_sdrain(int fd, uint32_t first)
{
	uint32_t v;
	int n = 0, len;

	while ((len = kt_recv(fd, &v, sizeof(v), KMBOX_F_NONBLOCK, 0, NULL)) >= 0) {
		if (len != 4 || v != first + n)
			return -1;
		n++;
	}
	return errno == EAGAIN ? n : -1;
}

/*
 * A sender killed with SIGKILL at any moment, with batch commands going
 * (some forced into io-wq workers, several in flight at once on a second
 * mailbox), and its ring torn down by the exit: what arrived on the
 * ordered mailbox is an unbroken prefix of what it sent, nothing twice
 * on the other, and /proc/kmbox/stats is back once the files close.
 */
TEST(cmd_send_batch_sigkill_in_flight)
{
	enum { ROUNDS = 12 };
	struct kt_stats before;
	int round;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	ASSERT_EQ(0, kt_read_stats(&before));
	for (round = 0; round < ROUNDS; round++) {
		static unsigned char seen[1 << 16];
		int ofd = kt_anon(O_RDWR, 16, 8), sfd = kt_anon(O_RDWR, 64, 8);
		int got, n, i;
		uint32_t v;
		pid_t kid;

		ASSERT_LE(0, ofd);
		ASSERT_LE(0, sfd);
		kid = kt_fork(60);
		ASSERT_LE(0, kid);
		if (!kid) {
			static uint32_t ov[1 << 16], sv[1 << 16];
			static struct kmbox_mmsg oe[1 << 16], se[1 << 16];
			struct io_uring ring;
			uint32_t next = 0, snext = 0;
			unsigned int k = 0;

			CHILD_ASSERT(io_uring_queue_init(16, &ring, IORING_SETUP_SQE128) == 0);
			a5_sents(oe, ov, 1 << 16, 0);
			a5_sents(se, sv, 1 << 16, 0);
			for (;;) {
				struct kmbox_batch b = { .msgs = KT_PTR(&oe[next]), .count = 8 };
				struct io_uring_sqe *sqe;
				struct io_uring_cqe *cqe;
				int j, r = 0;

				/* several at once on the spray mailbox, some in workers */
				for (j = 0; j < 4 && snext + 8 <= (1 << 16); j++, snext += 8) {
					struct kmbox_batch sb = { .msgs = KT_PTR(&se[snext]),
								  .count = 8 };

					sqe = io_uring_get_sqe(&ring);
					CHILD_ASSERT(sqe);
					a5_prep_sbatch(sqe, sfd, &sb);
					if ((k + j) & 1)
						sqe->flags |= IOSQE_ASYNC;
					sqe->user_data = 1;
				}
				/* one at a time on the ordered one, the rest again */
				sqe = io_uring_get_sqe(&ring);
				CHILD_ASSERT(sqe);
				a5_prep_sbatch(sqe, ofd, &b);
				if (k++ % 3 == 0)
					sqe->flags |= IOSQE_ASYNC;
				sqe->user_data = 2;
				CHILD_ASSERT(io_uring_submit(&ring) >= 1);
				for (;;) {
					CHILD_ASSERT(io_uring_wait_cqe(&ring, &cqe) == 0);
					j = cqe->user_data == 2;
					r = cqe->res;
					io_uring_cqe_seen(&ring, cqe);
					if (j)
						break;
				}
				CHILD_ASSERT(r > 0 || r == -EAGAIN);
				if (r > 0)
					next += r;
				if (next + 8 > (1 << 16) || snext + 8 > (1 << 16))
					pause();
			}
		}
		/* take some, then kill it at a different moment each round */
		for (i = 0; i < round * 3; i++) {
			ASSERT_EQ(4, kt_recv(ofd, &v, 4, KMBOX_F_TIMEOUT, kt_deadline_ms(10000), NULL));
			ASSERT_EQ(i, v);
		}
		kt_sleep_ms(round % 4);
		kill(kid, SIGKILL);
		ASSERT_EQ(128 + SIGKILL, kt_wait(kid));
		got = a5_sdrain(ofd, round * 3);
		ASSERT_LE(0, got) TH_LOG("round %d: the ordered mailbox has a gap or a duplicate",
					 round);
		memset(seen, 0, sizeof(seen));
		n = 0;
		while (kt_recv(sfd, &v, 4, KMBOX_F_NONBLOCK, 0, NULL) == 4) {
			ASSERT_LT(v, 1 << 16);
			ASSERT_EQ(0, seen[v]++) TH_LOG("round %d: %u twice", round, v);
			n++;
		}
		ASSERT_EQ(0, kt_cur_msgs(sfd));
		close(ofd);
		close(sfd);
	}
	a5_expect_stats_back(_metadata, &before);
}

/* ---- a buffer page that changes while the batch copies ---------------------- */

struct a5_uffd {
	int uffd, fd, wfd, mode;
	char *page;
	long pg;
	int filled, err;
};

/* How long the handler waits for the batch's fault before it gives up. */
#define A5_UFFD_WAIT_MS	10000

/*
 * The handler of one fault in @u->page, taken while the batch copies its
 * entry 2: 0: fill the mailbox through another file first, then supply
 * the page; 1: unmap the page (the copy then faults for good); 2: close
 * the command's descriptor, then supply the page.
 *
 * Without a fault message within A5_UFFD_WAIT_MS it closes the
 * userfaultfd (err 1): that wakes every fault waiting on it, and the
 * copy then reads a zero page, so the submitter is never left stuck in
 * a fault nobody will resolve.  A message that is gone when read (its
 * fault woke for another reason and will come again) is waited for
 * again.
 */
static void *a5_uffd_handle(void *p)
{
	struct a5_uffd *u = p;
	struct pollfd pfd = { u->uffd, POLLIN, 0 };
	uint64_t end = kt_deadline_ms(A5_UFFD_WAIT_MS);
	struct uffd_msg msg;
	static char src[65536];

	for (;;) {
		if (kt_now_ns() >= end) {
			close(u->uffd);
			u->uffd = -1;
			u->err = 1;
			return NULL;
		}
		if (poll(&pfd, 1, 100) == 1 && read(u->uffd, &msg, sizeof(msg)) == sizeof(msg))
			break;
	}
	if (msg.event != UFFD_EVENT_PAGEFAULT ||
	    (msg.arg.pagefault.address & ~(__u64)(u->pg - 1)) != (uintptr_t)u->page) {
		u->err = 4;
		close(u->uffd);
		u->uffd = -1;
		return NULL;
	}
	if (u->mode == 0) {
		/* the lock is not held across the copy, or this would never return */
		while (kt_send(u->wfd, "fill", 4, 0, KMBOX_F_NONBLOCK, 0) == 0)
			u->filled++;
	} else if (u->mode == 1) {
		struct uffdio_range w = { (unsigned long)u->page, u->pg };

		/* the fault, woken, finds no page at all */
		munmap(u->page, u->pg);
		if (ioctl(u->uffd, UFFDIO_WAKE, &w))
			u->err = 3;
		return NULL;
	} else {
		close(u->fd);
	}
	memcpy(src, "uffd-page", 9);
	{
		struct uffdio_copy c = {
			.dst = (unsigned long)u->page, .src = (unsigned long)src, .len = u->pg,
		};

		if (ioctl(u->uffd, UFFDIO_COPY, &c))
			u->err = 2;
	}
	return NULL;
}

/*
 * Entry 2's buffer is in a page a userfaultfd supplies, so the batch
 * stops in its copy while another thread acts: it fills the mailbox
 * (the batch, which queues nothing before every entry is copied, then
 * says -EAGAIN and nothing of it is queued), unmaps the page (res 2, the
 * first two sent), or closes the descriptor the command was submitted
 * on (the command holds the file: all four sent).
 *
 * The three rounds share one ring, made before the first and torn down
 * after the last.  A ring torn down between rounds could make the next
 * round's fault spin where it should sleep: its exit work (a worker,
 * maybe late) queues task work on this thread with TWA_SIGNAL, a
 * kernel-mode userfault with a signal pending does not sleep but is
 * retried at once (only a fatal signal ends it), and its message,
 * queued and taken back on each retry, may never be seen by the
 * handler: the submitter then spins in io_uring_enter() until killed.
 */
TEST(cmd_send_batch_page_changes_while_copying)
{
	struct kt_stats before;
	struct io_uring ring;
	int mode;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	ASSERT_EQ(0, kt_read_stats(&before));
	A5_RING(&ring, 4);
	for (mode = 0; mode < 3; mode++) {
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
		struct a5_uffd u = { .mode = mode, .pg = sysconf(_SC_PAGESIZE) };
		struct kmbox_reopen ro = { .flags = O_RDWR | O_CLOEXEC };
		struct kmbox_mmsg e[4];
		char buf[16];
		uint32_t v[4];
		pthread_t th;
		int res, i;

		u.uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (u.uffd < 0)
			SKIP(return, "no userfaultfd for kernel-mode faults: %s", strerror(errno));
		ASSERT_EQ(0, ioctl(u.uffd, UFFDIO_API, &api));
		u.page = mmap(NULL, u.pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			      -1, 0);
		ASSERT_NE(MAP_FAILED, u.page);
		reg.range.start = (unsigned long)u.page;
		reg.range.len = u.pg;
		ASSERT_EQ(0, ioctl(u.uffd, UFFDIO_REGISTER, &reg));
		u.fd = kt_anon(O_RDWR, 8, 16);
		ASSERT_LE(0, u.fd);
		u.wfd = ioctl(u.fd, KMBOX_IOC_REOPEN, &ro);
		ASSERT_LE(0, u.wfd);
		a5_sents(e, v, 4, 0);
		e[2].buf = KT_PTR(u.page);
		e[2].len = 9;
		ASSERT_EQ(0, pthread_create(&th, NULL, a5_uffd_handle, &u));
		res = a5_scmd(&ring, u.fd, e, 4, 0);
		ASSERT_EQ(0, pthread_join(th, NULL));
		ASSERT_EQ(0, u.err) TH_LOG("mode %d: %s (res %d)", mode,
					   u.err == 1 ? "no fault message in 10 s" :
					   u.err == 4 ? "a fault message for another address" :
					   "the handler's ioctl failed", res);
		if (mode == 0) {
			ASSERT_EQ(-EAGAIN, res);
			ASSERT_EQ(8, u.filled);
			for (i = 0; i < 8; i++) {
				ASSERT_EQ(4, kt_recv(u.wfd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
				ASSERT_EQ(0, memcmp(buf, "fill", 4));
			}
			ASSERT_EQ(0, kt_cur_msgs(u.wfd));
		} else if (mode == 1) {
			ASSERT_EQ(2, res);
			ASSERT_EQ(2, a5_sdrain(u.wfd, 0));
		} else {
			ASSERT_EQ(4, res);
			for (i = 0; i < 4; i++) {
				int len = kt_recv(u.wfd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL);

				ASSERT_EQ(i == 2 ? 9 : 4, len);
				ASSERT_EQ(0, memcmp(buf, i == 2 ? (void *)"uffd-page" : (void *)&v[i],
						    len));
			}
		}
		ASSERT_EQ(0, kt_cur_msgs(u.wfd));
		if (mode != 2)
			close(u.fd);
		close(u.wfd);
		if (mode != 1)
			munmap(u.page, u.pg);
		close(u.uffd);
	}
	io_uring_queue_exit(&ring);
	a5_expect_stats_back(_metadata, &before);
}

/*
 * Another thread flips entry 2's buffer page between PROT_READ and
 * PROT_NONE while batches of four are submitted: each sends all four or
 * exactly the first two, and what arrives is exactly that.
 */
struct a5_flip {
	char *page;
	long pg;
	atomic_int stop;
};

static void *a5_mprotect_flip(void *p)
{
	struct a5_flip *f = p;
	int k = 0;

	while (!atomic_load(&f->stop))
		mprotect(f->page, f->pg, k++ & 1 ? PROT_NONE : PROT_READ);
	mprotect(f->page, f->pg, PROT_READ);
	return NULL;
}

TEST(cmd_send_batch_page_mprotected_by_another_thread)
{
	enum { ROUNDS = 400 };
	struct a5_flip f = { .pg = sysconf(_SC_PAGESIZE) };
	struct kt_stats before;
	struct io_uring ring;
	struct kmbox_mmsg e[4];
	uint32_t v[4];
	int fd, i, res, all = 0, two = 0;
	pthread_t th;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	ASSERT_EQ(0, kt_read_stats(&before));
	A5_RING(&ring, 4);
	fd = kt_anon(O_RDWR, 8, 16);
	ASSERT_LE(0, fd);
	f.page = mmap(NULL, f.pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, f.page);
	a5_sents(e, v, 4, 0);
	v[2] = 2;
	memcpy(f.page, &v[2], 4);
	e[2].buf = KT_PTR(f.page);
	ASSERT_EQ(0, pthread_create(&th, NULL, a5_mprotect_flip, &f));
	for (i = 0; i < ROUNDS; i++) {
		res = a5_scmd(&ring, fd, e, 4, i % 5 == 0 ? IOSQE_ASYNC : 0);
		ASSERT_TRUE(res == 4 || res == 2) TH_LOG("round %d: %d", i, res);
		ASSERT_EQ(res, a5_sdrain(fd, 0)) TH_LOG("round %d", i);
		all += res == 4;
		two += res == 2;
	}
	atomic_store(&f.stop, 1);
	ASSERT_EQ(0, pthread_join(th, NULL));
	TH_LOG("%d batches whole, %d cut at the page", all, two);
	close(fd);
	munmap(f.page, f.pg);
	io_uring_queue_exit(&ring);
	a5_expect_stats_back(_metadata, &before);
}

/* ---- the largest batch --------------------------------------------------- */

/*
 * KMBOX_BATCH_MAX entries of max_msgsize each, all from one buffer: the
 * command sends them all, or as many as the module's limits allow (a
 * count, or ENOBUFS / ENOMEM for the first), and exactly that many
 * arrive whole.
 */
TEST(cmd_send_batch_max_entries_of_max_msgsize)
{
	static struct kmbox_mmsg e[KMBOX_BATCH_MAX];
	struct kt_stats before;
	struct kmbox_info info;
	struct io_uring ring;
	unsigned char *buf, *got;
	__u32 size;
	int fd, i, res;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	ASSERT_EQ(0, kt_read_stats(&before));
	A5_RING(&ring, 4);
	fd = kt_dev(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_info(fd, &info));
	close(fd);
	size = info.max_msgsize_cap < (1U << 20) ? info.max_msgsize_cap : 1U << 20;
	fd = kt_anon(O_RDWR, KMBOX_BATCH_MAX, size);
	ASSERT_LE(0, fd) TH_LOG("a mailbox of %u x %u bytes: %s", KMBOX_BATCH_MAX, size,
				strerror(errno));
	buf = malloc(size);
	got = malloc(size);
	ASSERT_TRUE(buf && got);
	kt_fill(buf, size, 77);
	for (i = 0; i < KMBOX_BATCH_MAX; i++)
		e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(buf), .len = size, .prio = i % 4 };
	res = a5_scmd(&ring, fd, e, KMBOX_BATCH_MAX, 0);
	TH_LOG("%d x %u bytes: %d", KMBOX_BATCH_MAX, size, res);
	ASSERT_TRUE(res > 0 || res == -ENOBUFS || res == -ENOMEM) TH_LOG("%s", strerror(-res));
	ASSERT_EQ(res > 0 ? res : 0, kt_cur_msgs(fd));
	for (i = 0; i < res; i++) {
		ASSERT_EQ((int)size, kt_recv(fd, got, size, KMBOX_F_NONBLOCK, 0, NULL));
		if (i % 64 == 0)
			ASSERT_TRUE(kt_check_fill(got, size, 77));
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	free(buf);
	free(got);
	io_uring_queue_exit(&ring);
	a5_expect_stats_back(_metadata, &before);
}

/* ---- a memory cgroup --------------------------------------------------------- */

/*
 * A sender in a memory cgroup that may grow by 4 MiB submits batches of
 * KMBOX_BATCH_MAX 64 KiB messages (16 MiB each) to its own mailbox,
 * whose quota would allow more: the cgroup's limit cuts the first batch
 * short (a count) or refuses it (ENOMEM, ENOBUFS), never the OOM killer;
 * exactly the counts returned are queued, and once the mailbox is closed
 * the cgroup is back where it started.
 */
TEST(cmd_send_batch_charged_to_the_senders_memcg)
{
	enum { ROOM = 4 << 20, MSG = 65536 };
	struct { int res[4], n; long queued; long long before, after; } *res;
	unsigned long long quota = 0;
	char dir[128];
	const char *why;
	pid_t kid;
	int st, i;
	long sum = 0;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	if (geteuid())
		SKIP(return, "needs root to make a cgroup");
	if (kt_param_get("user_quota", &quota) == 0 && quota && quota < 4 * ROOM)
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
		static struct kmbox_mmsg e[KMBOX_BATCH_MAX];
		static char buf[MSG];
		struct io_uring ring;
		cpu_set_t cpus;
		char lim[32];
		int fd;

		CPU_ZERO(&cpus);
		CPU_SET(0, &cpus);
		sched_setaffinity(0, sizeof(cpus), &cpus);
		memset(buf, 1, sizeof(buf));
		for (i = 0; i < KMBOX_BATCH_MAX; i++)
			e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(buf), .len = MSG };
		CHILD_ASSERT(a5_cg_write(dir, "cgroup.procs", "0") == 0);
		CHILD_ASSERT(io_uring_queue_init(4, &ring, IORING_SETUP_SQE128) == 0);
		fd = kt_anon(O_RDWR, 4096, MSG);
		CHILD_ASSERT(fd >= 0);
		res->before = a5_cg_read(dir, "memory.current");
		snprintf(lim, sizeof(lim), "%lld", res->before + ROOM);
		CHILD_ASSERT(a5_cg_write(dir, "memory.max", lim) == 0);
		for (res->n = 0; res->n < 4; res->n++) {
			res->res[res->n] = a5_scmd(&ring, fd, e, KMBOX_BATCH_MAX, 0);
			if (res->res[res->n] <= 0) {
				res->n++;
				break;
			}
		}
		res->queued = kt_cur_msgs(fd);
		close(fd);
		io_uring_queue_exit(&ring);
		res->after = a5_cg_read(dir, "memory.current");
		_exit(0);
	}
	st = kt_wait(kid);
	if (res->after > res->before + (1 << 20))
		kt_sleep_ms(200);
	for (i = 0; i < res->n; i++) {
		TH_LOG("batch %d: %d", i, res->res[i]);
		if (res->res[i] > 0)
			sum += res->res[i];
	}
	TH_LOG("child %d: %ld queued; cgroup %lld before, %lld after close", st, res->queued,
	       res->before, res->after);
	ASSERT_EQ(0, st) TH_LOG("the sender was killed (memcg OOM?) instead of getting an error");
	ASSERT_LT(0, res->n);
	ASSERT_GT(KMBOX_BATCH_MAX, res->res[0]) TH_LOG("the cgroup's limit stopped nothing");
	EXPECT_EQ(sum, res->queued) TH_LOG("the counts returned are not what was queued");
	EXPECT_LE(sum * MSG, ROOM + (1 << 20))
		TH_LOG("%ld x 64 KiB queued past a 4 MiB limit: not charged to the cgroup", sum);
	i = res->res[res->n - 1];
	EXPECT_TRUE(i == -ENOMEM || i == -ENOBUFS) TH_LOG("the last batch: %d", i);
	EXPECT_LE(res->after, res->before + (1 << 20))
		TH_LOG("the cgroup still holds %lld bytes after the mailbox went",
		       res->after - res->before);
	rmdir(dir);
	munmap(res, sizeof(*res));
}

/* ---- an SQPOLL ring -------------------------------------------------------- */

/*
 * On an IORING_SETUP_SQPOLL ring the command runs in the ring's SQ
 * thread: the messages still carry the submitting process (its pid,
 * uid 1000 and gid 1000, as KMBOX_URING_SEND's do), a full mailbox is
 * -EAGAIN at once and the SQ thread goes on with the next command.
 */
TEST(cmd_send_batch_on_an_sqpoll_ring)
{
	struct kt_stats before;
	pid_t kid;
	int st;

	KT_REQUIRE_MODULE();
	a5_require(_metadata);
	ASSERT_EQ(0, kt_read_stats(&before));
	kid = kt_fork(60);
	ASSERT_LE(0, kid);
	if (!kid) {
		struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL | IORING_SETUP_SQE128,
					     .sq_thread_idle = 1000 };
		struct kmbox_mmsg e[8];
		struct kmbox_recv r;
		struct io_uring ring;
		uint32_t v[8], m;
		int fd, i, res;

		CHILD_ASSERT(a5_become(A5_USER) == 0);
		i = io_uring_queue_init_params(8, &ring, &p);
		if (i)
			_exit(i == -EPERM ? 200 : 201);
		fd = kt_anon(O_RDWR, 6, 8);
		CHILD_ASSERT(fd >= 0);
		a5_sents(e, v, 8, 0);
		CHILD_ASSERT(a5_scmd(&ring, fd, e, 4, 0) == 4);
		CHILD_ASSERT(a5_scmd(&ring, fd, e + 4, 4, 0) == 2);
		for (i = 0; i < 2; i++) {
			/* full: what came instead, if it was not -EAGAIN */
			res = a5_scmd(&ring, fd, e + 6, 2, i ? IOSQE_ASYNC : 0);
			if (res != -EAGAIN)
				fprintf(stderr, "# full mailbox, try %d: res %d, %ld queued\n", i,
					res, kt_cur_msgs(fd));
			CHILD_ASSERT(res == -EAGAIN);
		}
		for (i = 0; i < 6; i++) {
			CHILD_ASSERT(kt_recv(fd, &m, 4, KMBOX_F_NONBLOCK, 0, &r) == 4);
			CHILD_ASSERT(m == (uint32_t)i);
			CHILD_ASSERT(r.pid == getpid());
			CHILD_ASSERT(r.uid == A5_UID && r.gid == A5_UID);
		}
		CHILD_ASSERT(a5_scmd(&ring, fd, e + 6, 2, 0) == 2);
		CHILD_ASSERT(a5_sdrain(fd, 6) == 2);
		close(fd);
		io_uring_queue_exit(&ring);
		_exit(0);
	}
	st = kt_wait(kid);
	if (st == 200)
		SKIP(return, "uid %d may not make an SQPOLL ring", A5_UID);
	if (st == 201)
		SKIP(return, "no SQPOLL ring with 128-byte SQEs here");
	ASSERT_EQ(0, st);
	a5_expect_stats_back(_metadata, &before);
}

#endif /* KMBOX_URING_SEND_BATCH */

#endif /* KMBOX_URING_RECV_BATCH */

TEST_HARNESS_MAIN
