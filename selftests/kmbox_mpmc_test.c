// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox many-to-many: 4 producer and 4 consumer processes, spread over
 * the CPUs, share one anonymous mailbox.  Every message carries its
 * producer, a sequence number, a priority, a length and a checksum.
 *
 * Afterwards: every message was received exactly once, intact, with the
 * priority, length and sender pid the kernel reports matching what was
 * sent; and each consumer saw each producer's messages of one priority
 * in increasing sequence (FIFO within a priority).  Variants cover a deep
 * and a 1-deep mailbox, deadlines, and non-blocking files driven by poll.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define NPROD		4
#define NCONS		4
#define PER_PROD	1500
#define TOTAL		(NPROD * PER_PROD)
#define NPRIO		3
#define MAXPAY		200
#define STOP		0xffffffffU

struct mp_msg {
	__u32 producer;
	__u32 seq;
	__u32 prio;
	__u32 len;		/* payload bytes */
	__u64 csum;
	unsigned char payload[MAXPAY];
};

#define HDR	offsetof(struct mp_msg, payload)
#define MSGSIZE	sizeof(struct mp_msg)

struct mp_shared {
	pid_t prod_pid[NPROD];
	int seen[NPROD][PER_PROD];
	int bad_csum, bad_meta, bad_order;
	int count[NCONS];
};

static __u64 mp_csum(const struct mp_msg *m)
{
	__u64 h = 0xcbf29ce484222325ULL;
	const unsigned char *p = (const unsigned char *)m;
	size_t i;

	for (i = 0; i < offsetof(struct mp_msg, csum); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	for (i = 0; i < m->len; i++)
		h = (h ^ m->payload[i]) * 0x100000001b3ULL;
	return h;
}

static __u32 mp_hash(__u32 a, __u32 b)
{
	__u32 x = a * 0x9e3779b1U ^ (b + 0x7f4a7c15U) * 0x85ebca6bU;

	x ^= x >> 15;
	x *= 0xc2b2ae35U;
	return x ^ (x >> 13);
}

enum mp_mode { MP_BLOCK, MP_TIMED, MP_POLL };

FIXTURE(mpmc) {
	int fd;
	struct mp_shared *sh;
};

FIXTURE_VARIANT(mpmc) {
	__u32 depth;
	enum mp_mode mode;
};

FIXTURE_VARIANT_ADD(mpmc, blocking_depth_16) { .depth = 16, .mode = MP_BLOCK, };
FIXTURE_VARIANT_ADD(mpmc, blocking_depth_1) { .depth = 1, .mode = MP_BLOCK, };
FIXTURE_VARIANT_ADD(mpmc, timed_depth_4) { .depth = 4, .mode = MP_TIMED, };
FIXTURE_VARIANT_ADD(mpmc, nonblocking_poll_depth_8) { .depth = 8, .mode = MP_POLL, };

FIXTURE_SETUP(mpmc)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR | (variant->mode == MP_POLL ? O_NONBLOCK : 0),
			   variant->depth, MSGSIZE);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
}

FIXTURE_TEARDOWN(mpmc)
{
	if (self->fd >= 0)
		close(self->fd);
}

static void pin(int i)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (ncpu < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(i % ncpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int mp_wait_fd(int fd, short ev)
{
	struct pollfd pfd = { .fd = fd, .events = ev };

	return poll(&pfd, 1, 10000) == 1 ? 0 : -1;
}

static int mp_send(int fd, enum mp_mode mode, const struct mp_msg *m,
		   __u32 len)
{
	for (;;) {
		switch (mode) {
		case MP_BLOCK:
			return kt_send(fd, m, len, m->prio, 0, 0);
		case MP_TIMED:
			return kt_send(fd, m, len, m->prio, KMBOX_F_TIMEOUT,
				       kt_deadline_ms(30000));
		case MP_POLL:
			if (!kt_send(fd, m, len, m->prio, 0, 0))
				return 0;
			if (errno != EAGAIN || mp_wait_fd(fd, POLLOUT))
				return -1;
			break;
		}
	}
}

static int mp_recv(int fd, enum mp_mode mode, struct mp_msg *m,
		   struct kmbox_recv *r)
{
	for (;;) {
		switch (mode) {
		case MP_BLOCK:
			return kt_recv(fd, m, MSGSIZE, 0, 0, r);
		case MP_TIMED:
			return kt_recv(fd, m, MSGSIZE, KMBOX_F_TIMEOUT,
				       kt_deadline_ms(30000), r);
		case MP_POLL: {
			int n = kt_recv(fd, m, MSGSIZE, 0, 0, r);

			if (n >= 0)
				return n;
			if (errno != EAGAIN || mp_wait_fd(fd, POLLIN))
				return -1;
			break;
		}
		}
	}
}

static void producer(int fd, enum mp_mode mode, __u32 p)
{
	struct mp_msg m;
	__u32 seq, i, h;

	pin(p);
	for (seq = 0; seq < PER_PROD; seq++) {
		h = mp_hash(p, seq);
		m.producer = p;
		m.seq = seq;
		m.prio = h % NPRIO;
		m.len = (h >> 8) % (MAXPAY + 1);
		for (i = 0; i < m.len; i++)
			m.payload[i] = (unsigned char)(h >> (i % 24)) + i;
		m.csum = mp_csum(&m);
		CHILD_ASSERT(mp_send(fd, mode, &m, HDR + m.len) == 0);
	}
	_exit(0);
}

static void consumer(int fd, enum mp_mode mode, struct mp_shared *sh, int c)
{
	/* last seq seen per producer and priority, by this consumer */
	long last[NPROD][NPRIO];
	struct kmbox_recv r;
	struct mp_msg m;
	int n, p, q;

	for (p = 0; p < NPROD; p++)
		for (q = 0; q < NPRIO; q++)
			last[p][q] = -1;
	pin(c + 1);
	for (;;) {
		n = mp_recv(fd, mode, &m, &r);
		CHILD_ASSERT(n >= (int)HDR);
		if (m.producer == STOP)
			break;
		if (m.producer >= NPROD || m.seq >= PER_PROD ||
		    m.prio >= NPRIO || m.len > MAXPAY) {
			__atomic_fetch_add(&sh->bad_meta, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (n != (int)(HDR + m.len) || mp_csum(&m) != m.csum)
			__atomic_fetch_add(&sh->bad_csum, 1, __ATOMIC_RELAXED);
		if (r.prio != m.prio || r.pid != sh->prod_pid[m.producer] ||
		    r.msg_flags != 0)
			__atomic_fetch_add(&sh->bad_meta, 1, __ATOMIC_RELAXED);
		if ((long)m.seq <= last[m.producer][m.prio])
			__atomic_fetch_add(&sh->bad_order, 1, __ATOMIC_RELAXED);
		last[m.producer][m.prio] = m.seq;
		__atomic_fetch_add(&sh->seen[m.producer][m.seq], 1,
				   __ATOMIC_RELAXED);
		sh->count[c]++;
	}
	_exit(0);
}

TEST_F_TIMEOUT(mpmc, every_message_arrives_once_intact_and_in_order, 150)
{
	pid_t prod[NPROD], cons[NCONS];
	struct mp_msg stop = { .producer = STOP };
	int i, p, s, missing = 0, dup = 0, total = 0;
	__u64 t0 = kt_now_ns();

	for (i = 0; i < NCONS; i++) {
		cons[i] = kt_fork(120);
		ASSERT_GE(cons[i], 0);
		if (cons[i] == 0)
			consumer(self->fd, variant->mode, self->sh, i);
	}
	for (i = 0; i < NPROD; i++) {
		prod[i] = kt_fork(120);
		ASSERT_GE(prod[i], 0);
		if (prod[i] == 0) {
			/* wait until the parent has published our pid */
			while (!__atomic_load_n(&self->sh->prod_pid[i],
						__ATOMIC_ACQUIRE))
				kt_sleep_ms(1);
			producer(self->fd, variant->mode, i);
		}
		__atomic_store_n(&self->sh->prod_pid[i], prod[i],
				 __ATOMIC_RELEASE);
	}
	/*
	 * Wait for the producers without reaping them until the consumers
	 * are done: a reaped sender is reported as pid 0.
	 */
	for (i = 0; i < NPROD; i++) {
		siginfo_t si;

		ASSERT_EQ(0, waitid(P_PID, prod[i], &si, WEXITED | WNOWAIT));
	}
	/* lowest priority, queued after all data: drained last */
	for (i = 0; i < NCONS; i++) {
		ASSERT_EQ(0, mp_send(self->fd, variant->mode, &stop, HDR));
	}
	for (i = 0; i < NCONS; i++) {
		EXPECT_EQ(0, kt_wait(cons[i])) TH_LOG("consumer %d", i);
	}
	for (i = 0; i < NPROD; i++) {
		EXPECT_EQ(0, kt_wait(prod[i])) TH_LOG("producer %d", i);
	}

	for (p = 0; p < NPROD; p++) {
		for (s = 0; s < PER_PROD; s++) {
			if (self->sh->seen[p][s] == 0)
				missing++;
			else if (self->sh->seen[p][s] > 1)
				dup++;
		}
	}
	for (i = 0; i < NCONS; i++)
		total += self->sh->count[i];
	TH_LOG("%d messages in %llu ms; per consumer %d %d %d %d",
	       total, (unsigned long long)(kt_now_ns() - t0) / 1000000,
	       self->sh->count[0], self->sh->count[1], self->sh->count[2],
	       self->sh->count[3]);
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, dup);
	EXPECT_EQ(TOTAL, total);
	EXPECT_EQ(0, self->sh->bad_csum);
	EXPECT_EQ(0, self->sh->bad_meta);
	EXPECT_EQ(0, self->sh->bad_order);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

/*
 * Name churn: four processes open (creating or not), exclusively create,
 * send to, receive from, hold and unlink the same four names at random.
 * Every call either works or fails with the error its situation allows
 * (ENOENT, EEXIST, EAGAIN); once all is unlinked and closed, the module
 * is back where it started.
 */
#define CHURN_WORKERS	4
#define CHURN_ITERS	400
#define CHURN_NAMES	4

static void churn_worker(pid_t base, int w)
{
	__u32 seed = mp_hash(w, base), x;
	int held[4] = { -1, -1, -1, -1 }, i, fd, n;
	char name[64], buf[32];

	pin(w);
	for (i = 0; i < CHURN_ITERS; i++) {
		seed = mp_hash(seed, i);
		x = seed;
		snprintf(name, sizeof(name), "kt-%d-churn%u", (int)base,
			 x % CHURN_NAMES);
		x /= CHURN_NAMES;
		switch (x % 6) {
		case 0:
		case 1:
			fd = kt_open(name, O_RDWR | O_NONBLOCK, KMBOX_OPEN_CREAT,
				     0600, 4, 32);
			CHILD_ASSERT(fd >= 0);
			n = write(fd, "c", 1);
			CHILD_ASSERT(n == 1 || (n < 0 && errno == EAGAIN));
			n = read(fd, buf, sizeof(buf));
			CHILD_ASSERT(n == 1 || (n < 0 && errno == EAGAIN));
			CHILD_ASSERT(kt_cur_msgs(fd) >= 0);
			close(fd);
			break;
		case 2:
			CHILD_ASSERT(!kt_unlink(name) || errno == ENOENT);
			break;
		case 3:
			fd = kt_open(name, O_RDONLY | O_NONBLOCK, 0, 0, 0, 0);
			CHILD_ASSERT(fd >= 0 || errno == ENOENT);
			if (fd >= 0) {
				n = read(fd, buf, sizeof(buf));
				CHILD_ASSERT(n == 1 || (n < 0 && errno == EAGAIN));
				close(fd);
			}
			break;
		case 4:
			fd = kt_create(name, O_WRONLY, 0600, 4, 32);
			CHILD_ASSERT(fd >= 0 || errno == EEXIST);
			if (fd >= 0)
				close(fd);
			break;
		case 5:
			/* keep one open for a while: it may outlive its name */
			if (held[i % 4] >= 0)
				close(held[i % 4]);
			held[i % 4] = kt_open(name, O_WRONLY | O_NONBLOCK,
					      KMBOX_OPEN_CREAT, 0600, 4, 32);
			CHILD_ASSERT(held[i % 4] >= 0);
			n = write(held[i % 4], "h", 1);
			CHILD_ASSERT(n == 1 || (n < 0 && errno == EAGAIN));
			break;
		}
	}
	_exit(0);
}

TEST(name_churn_leaves_nothing_behind)
{
	struct kt_stats s0, s1;
	pid_t pid[CHURN_WORKERS], base = getpid();
	char name[64];
	int i;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&s0));
	for (i = 0; i < CHURN_WORKERS; i++) {
		pid[i] = kt_fork(25);
		ASSERT_GE(pid[i], 0);
		if (pid[i] == 0)
			churn_worker(base, i);
	}
	for (i = 0; i < CHURN_WORKERS; i++) {
		EXPECT_EQ(0, kt_wait(pid[i])) TH_LOG("worker %d", i);
	}
	for (i = 0; i < CHURN_NAMES; i++) {
		snprintf(name, sizeof(name), "kt-%d-churn%d", (int)base, i);
		EXPECT_TRUE(!kt_unlink(name) || errno == ENOENT);
	}
	ASSERT_EQ(0, kt_read_stats(&s1));
	EXPECT_EQ(s0.mailboxes, s1.mailboxes);
	EXPECT_EQ(s0.messages, s1.messages);
	EXPECT_EQ(s0.bytes, s1.bytes);
	EXPECT_EQ(s0.users, s1.users);
}

TEST_HARNESS_MAIN
