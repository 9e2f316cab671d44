// SPDX-License-Identifier: GPL-2.0
/*
 * The message pool (module/kmbox.h, "Message pool"): it grows with its
 * queue to max_msgs + 8 buffers, keeps 256 for good, and gives the rest
 * back under memory pressure (drop_caches runs the shrinker) and when its
 * mailbox is idle; it is charged to its creator's quota, which it never
 * goes past; and nothing is left when its mailbox goes, however it goes.
 *
 * Observed through the mailbox's fdinfo (kmbox-pool-buffers) and
 * /proc/kmbox/stats (pool_buffers).  Every test that changes a module
 * parameter puts it back in its teardown.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define KEEP		256	/* KMBOX_POOL_KEEP */
#define EXTRA		8	/* KMBOX_POOL_EXTRA */
#define POOL		"kmbox-pool-buffers"
#define DEPTH		1000
#define MSG		64
#define KT_USER		1000

/* Run the shrinkers: 0, or -1. */
static int drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, "2", 1) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

/* Send @n messages numbered from @seed, priorities 0..3; how many went. */
static int fill(int fd, int n, uint32_t seed)
{
	char buf[MSG];
	int i;

	for (i = 0; i < n; i++) {
		kt_fill(buf, sizeof(buf), seed + i);
		if (kt_send(fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0))
			break;
	}
	return i;
}

/* Receive @n messages and check they are @seed.. in order; how many were right. */
static int drain(int fd, int n, uint32_t seed)
{
	char buf[MSG];
	int i;

	for (i = 0; i < n; i++)
		if (kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL) != MSG ||
		    !kt_check_fill(buf, sizeof(buf), seed + i))
			break;
	return i;
}

FIXTURE(pool) {
	int fd;
	unsigned long long quota;
	int have_quota;
};

FIXTURE_SETUP(pool)
{
	KT_REQUIRE_MODULE();
	self->have_quota = kt_param_get("user_quota", &self->quota) == 0;
	self->fd = kt_anon(O_RDWR | O_NONBLOCK, DEPTH, MSG);
	ASSERT_GE(self->fd, 0) TH_LOG("anon mailbox: %s", strerror(errno));
	ASSERT_LE(0, kt_fdinfo_long(self->fd, POOL)) TH_LOG("no kmbox-pool-buffers in fdinfo");
}

FIXTURE_TEARDOWN(pool)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->have_quota)
		kt_param_set("user_quota", self->quota);
}

/* Every queued small message has a pooled buffer, past the 256 kept for good. */
TEST_F(pool, grows_with_its_queue_past_256)
{
	long before = kt_stat_long("pool_buffers");

	ASSERT_EQ(DEPTH, fill(self->fd, DEPTH, 1));
	EXPECT_GE(kt_fdinfo_long(self->fd, POOL), DEPTH);
	EXPECT_LE(kt_fdinfo_long(self->fd, POOL), DEPTH + EXTRA);
	EXPECT_GE(kt_stat_long("pool_buffers") - before, DEPTH);
	EXPECT_EQ(DEPTH, drain(self->fd, DEPTH, 1));
}

/*
 * Memory pressure takes every free buffer beyond 256.  The shrinker skips
 * a round while the idle trim holds the list of pools (it only trylocks
 * it), so a few rounds of drop_caches may be needed.
 */
TEST_F(pool, drop_caches_gives_a_drained_pools_surplus_back)
{
	int rounds = 0;

	ASSERT_EQ(DEPTH, fill(self->fd, DEPTH, 1));
	ASSERT_EQ(DEPTH, drain(self->fd, DEPTH, 1));
	do {
		ASSERT_EQ(0, drop_caches()) TH_LOG("drop_caches: %s", strerror(errno));
		rounds++;
		if (kt_fdinfo_long(self->fd, POOL) > KEEP)
			kt_sleep_ms(20);
	} while (kt_fdinfo_long(self->fd, POOL) > KEEP && rounds < 10);
	TH_LOG("pool of %ld after %d rounds of drop_caches", kt_fdinfo_long(self->fd, POOL), rounds);
	EXPECT_EQ(KEEP, kt_fdinfo_long(self->fd, POOL));
	/* and the mailbox works on, growing again */
	ASSERT_EQ(DEPTH, fill(self->fd, DEPTH, 7));
	EXPECT_GE(kt_fdinfo_long(self->fd, POOL), DEPTH);
	EXPECT_EQ(DEPTH, drain(self->fd, DEPTH, 7));
}

/* Buffers holding messages are never taken: only the free ones go. */
TEST_F(pool, drop_caches_keeps_the_buffers_of_queued_messages)
{
	long pool;

	ASSERT_EQ(DEPTH, fill(self->fd, DEPTH, 1));
	ASSERT_EQ(DEPTH / 4, drain(self->fd, DEPTH / 4, 1));
	ASSERT_EQ(0, drop_caches());
	pool = kt_fdinfo_long(self->fd, POOL);
	EXPECT_GE(pool, DEPTH - DEPTH / 4);
	EXPECT_LE(pool, DEPTH - DEPTH / 4 + 1);	/* + the file's spare */
	EXPECT_EQ(DEPTH - DEPTH / 4, drain(self->fd, DEPTH, 1 + DEPTH / 4));
}

/* A drained mailbox left alone gives its surplus back on its own. */
TEST_F(pool, idle_pool_gives_its_surplus_back_within_seconds)
{
	long pool = -1;
	int i;

	ASSERT_EQ(DEPTH, fill(self->fd, DEPTH, 1));
	ASSERT_EQ(DEPTH, drain(self->fd, DEPTH, 1));
	/* two trim passes of a second each; allow for a slow guest */
	for (i = 0; i < 300; i++) {
		pool = kt_fdinfo_long(self->fd, POOL);
		if (pool <= KEEP)
			break;
		kt_sleep_ms(100);
	}
	TH_LOG("pool %ld after %d ms idle", pool, i * 100);
	EXPECT_EQ(KEEP, pool);
}

/*
 * The depth workload's steady state: the queue stays deep, one message
 * out and one in; trim passes meanwhile take nothing it uses, and every
 * message comes out intact.
 */
TEST_F(pool, queue_kept_deep_keeps_its_pool)
{
	uint64_t end = kt_now_ns() + 3000000000ULL;
	uint32_t out = 1, in = 1 + DEPTH;
	char buf[MSG];

	ASSERT_EQ(DEPTH, fill(self->fd, DEPTH, 1));
	while (kt_now_ns() < end) {
		ASSERT_EQ(1, drain(self->fd, 1, out++));
		kt_fill(buf, sizeof(buf), in++);
		ASSERT_EQ(0, kt_send(self->fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0));
		if (!(in % 64)) {
			ASSERT_GE(kt_fdinfo_long(self->fd, POOL), DEPTH);
			kt_sleep_ms(5);
		}
	}
	EXPECT_GE(kt_fdinfo_long(self->fd, POOL), DEPTH);
	EXPECT_EQ(DEPTH, drain(self->fd, DEPTH, out));
}

#define QUOTA	(512 << 10)

/*
 * A user at its quota cannot go past it through its pool: the pool grows
 * only as far as the creator's quota covers it (past 256 here), and the
 * sends then end with ENOBUFS.
 */
TEST_F(pool, growth_stops_at_the_creators_quota)
{
	struct { long pool; int sent, err, right; } *r;
	pid_t pid;

	if (!self->have_quota)
		SKIP(return, "no user_quota parameter");
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	ASSERT_EQ(0, kt_param_set("user_quota", QUOTA));
	pid = kt_fork(60);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd;

		CHILD_ASSERT(kt_become(KT_USER, KT_USER) == 0);
		fd = kt_anon(O_RDWR | O_NONBLOCK, 2000, MSG);
		CHILD_ASSERT(fd >= 0);
		r->sent = fill(fd, 2000, 1);
		r->err = errno;
		r->pool = kt_fdinfo_long(fd, POOL);
		r->right = drain(fd, r->sent, 1);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait(pid));
	TH_LOG("quota %d: %d sent, pool of %ld buffers, then %s", QUOTA, r->sent, r->pool,
	       strerror(r->err));
	EXPECT_EQ(ENOBUFS, r->err);
	EXPECT_LE(r->pool * 1024, QUOTA);
	EXPECT_GT(r->pool, KEEP);
	EXPECT_GE(r->sent, r->pool - 1);
	EXPECT_EQ(r->sent, r->right);
}

/*
 * Beyond 256 buffers only the creator's own sends grow its pool: another
 * user's messages are charged to that user, not to the creator's quota.
 * Then the creator's own sends grow it as usual.
 */
TEST(another_users_sends_do_not_grow_the_creators_pool_past_256)
{
	struct { long pool; int sent, err; } *r;
	char name[64];
	pid_t pid;
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "poolother");
	umask(0);
	fd = kt_create(name, O_RDWR | O_NONBLOCK, 0666, DEPTH, MSG);
	ASSERT_GE(fd, 0) TH_LOG("create %s: %s", name, strerror(errno));
	ASSERT_LE(0, kt_fdinfo_long(fd, POOL)) TH_LOG("no kmbox-pool-buffers in fdinfo");
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	pid = kt_fork(60);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int ofd;

		CHILD_ASSERT(kt_become(KT_USER, KT_USER) == 0);
		ofd = kt_open(name, O_WRONLY | O_NONBLOCK, 0, 0, 0, 0);
		CHILD_ASSERT(ofd >= 0);
		r->sent = fill(ofd, DEPTH, 1);
		r->err = errno;
		r->pool = kt_fdinfo_long(ofd, POOL);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait(pid));
	TH_LOG("uid %d sent %d (then %s), pool of %ld buffers", KT_USER, r->sent,
	       r->sent < DEPTH ? strerror(r->err) : "-", r->pool);
	EXPECT_EQ(DEPTH, r->sent);
	EXPECT_LE(r->pool, KEEP);
	EXPECT_EQ(r->sent, drain(fd, r->sent, 1));

	/* The creator's own messages grow it past 256. */
	ASSERT_EQ(DEPTH, fill(fd, DEPTH, 5000));
	EXPECT_GE(kt_fdinfo_long(fd, POOL), DEPTH);
	EXPECT_EQ(DEPTH, drain(fd, DEPTH, 5000));
	EXPECT_EQ(0, kt_unlink(name));
	close(fd);
}

/* ---- a mailbox going while the shrinker and the trim pass work on it ---- */

#define ROUNDS	12

struct churn {
	int fd;
	uint32_t first;		/* the reader's first message */
	volatile int stop;
	int bad;
};

/* A thread sharing the file: receive whatever comes, in order. */
static void *churn_reader(void *arg)
{
	struct churn *c = arg;
	uint32_t seed = c->first;
	char buf[MSG];

	while (!c->stop) {
		int n = kt_recv(c->fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL);

		if (n < 0)
			continue;
		if (n != MSG || !kt_check_fill(buf, sizeof(buf), seed++))
			c->bad++;
	}
	return NULL;
}

/*
 * One mailbox's life in a child: fill deep, drain most (surplus), then a
 * second thread receives while this one sends, until killed or done.
 */
static void churn_child(unsigned int round)
{
	struct churn c = { .first = DEPTH - 99 };
	uint32_t seed = DEPTH + 1;
	pthread_t t;
	char buf[MSG];
	int i;

	c.fd = kt_anon(O_RDWR | O_NONBLOCK, DEPTH + 200, MSG);
	CHILD_ASSERT(c.fd >= 0);
	CHILD_ASSERT(fill(c.fd, DEPTH, 1) == DEPTH);
	/* a surplus of free buffers for the shrinker; 100 messages left */
	CHILD_ASSERT(drain(c.fd, DEPTH - 100, 1) == DEPTH - 100);
	CHILD_ASSERT(pthread_create(&t, NULL, churn_reader, &c) == 0);
	for (i = 0; i < 2000 + (int)round * 100; i++) {
		kt_fill(buf, sizeof(buf), seed);
		if (!kt_send(c.fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0))
			seed++;
	}
	c.stop = 1;
	pthread_join(t, NULL);
	_exit(c.bad ? 1 : 0);
}

TEST(mailboxes_die_under_the_shrinker_and_leave_nothing)
{
	long mb0, pool0, pool1 = -1, mb1 = -1;
	pid_t shrinker, kids[ROUNDS];
	unsigned int i;
	int bad = 0;

	KT_REQUIRE_MODULE();
	mb0 = kt_stat_long("mailboxes");
	pool0 = kt_stat_long("pool_buffers");
	if (pool0 < 0)
		SKIP(return, "no pool_buffers in /proc/kmbox/stats");
	shrinker = kt_fork(60);
	ASSERT_GE(shrinker, 0);
	if (shrinker == 0) {
		for (;;)
			drop_caches();
	}
	for (i = 0; i < ROUNDS; i++) {
		kids[i] = kt_fork(60);
		ASSERT_GE(kids[i], 0);
		if (kids[i] == 0)
			churn_child(i);
		/* every other one is killed at some step of its life */
		if (i % 2)
			kt_sleep_ms(20 + 37 * i % 200);
		if (i % 2)
			kill(kids[i], SIGKILL);
	}
	for (i = 0; i < ROUNDS; i++) {
		int st = kt_wait(kids[i]);

		if (st != 0 && st != 128 + SIGKILL)
			bad++;
	}
	kill(shrinker, SIGKILL);
	kt_wait(shrinker);
	EXPECT_EQ(0, bad) TH_LOG("%d children saw a corrupted or misordered message", bad);
	/* mailboxes are freed when the last file goes: wait a little for exits */
	for (i = 0; i < 100; i++) {
		mb1 = kt_stat_long("mailboxes");
		pool1 = kt_stat_long("pool_buffers");
		if (mb1 == mb0 && pool1 == pool0)
			break;
		kt_sleep_ms(50);
	}
	EXPECT_EQ(mb0, mb1);
	EXPECT_EQ(pool0, pool1);
}

TEST_HARNESS_MAIN
