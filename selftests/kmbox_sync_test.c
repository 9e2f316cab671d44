// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox synchronous messaging: synchronous send (KMBOX_F_SYNC,
 * kmbox_send_sync()), rendezvous mailboxes (KMBOX_ATTR_RENDEZVOUS) and
 * call/reply (KMBOX_IOC_CALL/REPLY, kmbox_call()/kmbox_reply()).
 *
 * Claims, one per test: a synchronous send returns only once a receive
 * has returned its message, and a message whose sender gave up (deadline,
 * signal, O_NONBLOCK) is never delivered; a rendezvous mailbox buffers
 * nothing beyond its waiting senders and polls as documented; a call gets
 * its own reply whatever the order of the answers, EPIPE when its server
 * dies or reads it with read(), and a reply to a caller that gave up, to a
 * token never issued or on another file gets ENOENT; bad arguments are
 * EINVAL; nothing is left behind.  Every wait is bounded (alarm, deadline
 * or kt_fork()'s timer); a test learns that a peer sleeps from
 * /proc/PID/stat or the mailbox's counters before it acts.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <linux/userfaultfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define MSGSIZE	256

/* ---- helpers ------------------------------------------------------------ */

static struct timespec st_ts_ms(unsigned int ms)
{
	uint64_t t = kt_deadline_ms(ms);

	return (struct timespec){ .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };
}

/* Wait until @tid (a thread or process) sleeps, up to @ms. */
static int st_wait_sleeping(pid_t tid, unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	do {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return 0;
		}
		kt_sleep_ms(2);
	} while (kt_now_ns() < end);
	errno = ETIMEDOUT;
	return -1;
}

/* Wait until the mailbox of @fd holds @n messages, up to @ms. */
static int st_wait_msgs(int fd, long n, unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);

	do {
		if (kt_cur_msgs(fd) == n)
			return 0;
		kt_sleep_ms(2);
	} while (kt_now_ns() < end);
	errno = ETIMEDOUT;
	return -1;
}

static int st_rendezvous(int oflags, __u32 max_msgs)
{
	struct kmbox_attr a;
	int fd = kt_dev(oflags);

	if (fd < 0)
		return -1;
	kt_attr_init(&a, max_msgs, MSGSIZE);
	a.flags = KMBOX_ATTR_RENDEZVOUS;
	if (kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0600, &a)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static void st_nop(int sig)
{
	(void)sig;
}

static struct kt_stats st_before;

static void st_stats_start(void)
{
	kt_read_stats(&st_before);
}

/* /proc/kmbox/stats back where it started: nothing left behind. */
static int st_stats_back(unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);
	struct kt_stats now;

	do {
		if (!kt_read_stats(&now) && now.mailboxes == st_before.mailboxes &&
		    now.messages == st_before.messages && now.bytes == st_before.bytes)
			return 0;
		kt_sleep_ms(5);
	} while (kt_now_ns() < end);
	return -1;
}

FIXTURE(mb) {
	int fd;		/* anonymous, O_RDWR, blocking, 8 x MSGSIZE */
};

FIXTURE_SETUP(mb)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR, 8, MSGSIZE);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	alarm(60);
}

FIXTURE_TEARDOWN(mb)
{
	alarm(0);
	if (self->fd >= 0)
		close(self->fd);
}

/* ---- synchronous send --------------------------------------------------- */

TEST(info_reports_the_sync_feature)
{
	struct kmbox_info info;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_TRUE(info.features & KMBOX_FEAT_SYNC);
	close(fd);
}

TEST_F(mb, sync_send_returns_only_after_the_receive_returned)
{
	volatile int *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char buf[MSGSIZE];
	pid_t pid;

	ASSERT_NE(MAP_FAILED, done);
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kmbox_send_sync(self->fd, "hello", 5, 7, NULL) == 0);
		*done = 1;
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	/* Queued and counted like any message, and its sender still waits. */
	EXPECT_EQ(0, *done);
	EXPECT_EQ(5, kt_recv(self->fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(1, *done);
	munmap((void *)done, 4096);
}

TEST_F(mb, sync_send_to_a_sleeping_receiver_is_handed_over)
{
	char buf[MSGSIZE];
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_recv(self->fd, buf, sizeof(buf), 0, 0, NULL) == 3);
		CHILD_ASSERT(!memcmp(buf, "abc", 3));
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 1, 0, 10000));
	EXPECT_EQ(0, kmbox_send_sync(self->fd, "abc", 3, 0, NULL));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mb, sync_send_past_its_deadline_is_withdrawn)
{
	struct timespec ts = st_ts_ms(100);
	char buf[MSGSIZE];

	EXPECT_EQ(-1, kmbox_send_sync(self->fd, "late", 4, 0, &ts));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(mb, nonblocking_sync_send_without_a_receiver_is_eagain_and_queues_nothing)
{
	EXPECT_EQ(-1, kt_send(self->fd, "x", 1, 0, KMBOX_F_SYNC | KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mb, nonblocking_sync_send_to_a_waiting_receiver_succeeds)
{
	char buf[MSGSIZE];
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_recv(self->fd, buf, sizeof(buf), 0, 0, NULL) == 2);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 1, 0, 10000));
	EXPECT_EQ(0, kt_send(self->fd, "ok", 2, 0, KMBOX_F_SYNC | KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(mb, sync_send_interrupted_by_a_signal_is_eintr_and_withdrawn)
{
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_sigaction(SIGUSR1, st_nop, 0) == 0);
		CHILD_ASSERT(kmbox_send_sync(self->fd, "sig", 3, 0, NULL) == -1);
		CHILD_ASSERT(errno == EINTR);
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	kill(pid, SIGUSR1);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mb, sync_send_restarts_after_an_sa_restart_signal)
{
	char buf[MSGSIZE];
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_sigaction(SIGUSR1, st_nop, SA_RESTART) == 0);
		CHILD_ASSERT(kmbox_send_sync(self->fd, "rst", 3, 0, NULL) == 0);
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	kill(pid, SIGUSR1);
	/* Withdrawn, then sent again by the restarted call. */
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	EXPECT_EQ(3, kt_recv(self->fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mb, sync_send_whose_receiver_faults_waits_for_the_next_receiver)
{
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char buf[MSGSIZE];
	pid_t pid;

	ASSERT_NE(MAP_FAILED, ro);
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kmbox_send_sync(self->fd, "again", 5, 0, NULL) == 0);
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	/* The copy-out faults: the message goes back, its sender waits on. */
	EXPECT_EQ(-1, kt_recv(self->fd, ro, 16, 0, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	EXPECT_EQ(5, kt_recv(self->fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(0, kt_wait(pid));
	munmap(ro, 4096);
}

/*
 * Exactly once under a storm: senders make synchronous sends with short
 * random deadlines while their own signals interrupt them; receivers take
 * what comes.  Every message whose send returned 0 was received exactly
 * once, and no message whose send failed was ever received.
 */
#define STORM_SENDERS	4
#define STORM_MSGS	300

struct storm {
	/* [sender][msg]: 1 send succeeded, 2 send failed; receives counted */
	unsigned char sent[STORM_SENDERS][STORM_MSGS];
	unsigned short got[STORM_SENDERS][STORM_MSGS];
	int stop;
};

TEST(sync_sends_under_deadlines_and_signals_are_delivered_exactly_once)
{
	struct storm *st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t snd[STORM_SENDERS], rcv[2];
	unsigned int i, j, ok = 0, failed = 0;
	int fd;

	KT_REQUIRE_MODULE();
	ASSERT_NE(MAP_FAILED, st);
	fd = kt_anon(O_RDWR, 4, 64);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 2; i++) {
		rcv[i] = kt_fork(120);
		ASSERT_GE(rcv[i], 0);
		if (rcv[i] == 0) {
			unsigned int id[2];
			struct timespec ts;

			while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE)) {
				ts = st_ts_ms(20);
				if (kmbox_timedreceive(fd, id, sizeof(id), NULL, &ts) == sizeof(id)) {
					CHILD_ASSERT(id[0] < STORM_SENDERS && id[1] < STORM_MSGS);
					__atomic_add_fetch(&st->got[id[0]][id[1]], 1, __ATOMIC_RELAXED);
				}
				if (rand() % 4 == 0)
					kt_sleep_ms(rand() % 3);
			}
			_exit(0);
		}
	}
	for (i = 0; i < STORM_SENDERS; i++) {
		snd[i] = kt_fork(120);
		ASSERT_GE(snd[i], 0);
		if (snd[i] == 0) {
			struct itimerval it = { { 0, 1500 }, { 0, 1500 } };

			srand(getpid());
			CHILD_ASSERT(kt_sigaction(SIGALRM, st_nop, 0) == 0);
			setitimer(ITIMER_REAL, &it, NULL);	/* replaces kt_fork's alarm */
			for (j = 0; j < STORM_MSGS; j++) {
				unsigned int id[2] = { i, j };
				struct timespec ts = st_ts_ms(rand() % 5);
				int r = kmbox_send_sync(fd, id, sizeof(id), rand() % 3,
							rand() % 2 ? &ts : NULL);

				CHILD_ASSERT(r == 0 || errno == ETIMEDOUT || errno == EINTR);
				st->sent[i][j] = r == 0 ? 1 : 2;
			}
			_exit(0);
		}
	}
	for (i = 0; i < STORM_SENDERS; i++)
		EXPECT_EQ(0, kt_wait(snd[i]));
	__atomic_store_n(&st->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, kt_wait(rcv[i]));
	for (i = 0; i < STORM_SENDERS; i++) {
		for (j = 0; j < STORM_MSGS; j++) {
			EXPECT_EQ(st->sent[i][j] == 1, st->got[i][j])
				TH_LOG("message %u/%u: send %s, received %u times", i, j,
				       st->sent[i][j] == 1 ? "succeeded" : "failed",
				       st->got[i][j]);
			ok += st->sent[i][j] == 1;
			failed += st->sent[i][j] == 2;
		}
	}
	TH_LOG("%u delivered, %u withdrawn", ok, failed);
	EXPECT_GT(ok, 0);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	munmap(st, sizeof(*st));
}

TEST(withdrawn_zero_copy_sync_send_gives_the_slot_back_to_its_sender)
{
	struct kmbox_attr a;
	struct kmbox_send s = { .len = 8, .flags = KMBOX_F_ZC | KMBOX_F_SYNC | KMBOX_F_TIMEOUT };
	__u32 slot;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&a, 4, 64);
	a.zc_slots = 2;
	a.zc_slot_size = 64;
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0600, &a));
	ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot, 1, 0, NULL));
	s.slot = slot;
	s.deadline_ns = kt_deadline_ms(50);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_SEND, &s));
	EXPECT_EQ(ETIMEDOUT, errno);
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.cur_msgs);
	EXPECT_EQ(1, a.zc_held);
	EXPECT_EQ(1, a.zc_free);
	/* Still the sender's: it can send it again, or release it. */
	EXPECT_EQ(0, kmbox_zc_release(fd, &slot, 1));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(2, a.zc_free);
	close(fd);
}

/* ---- rendezvous --------------------------------------------------------- */

TEST(rendezvous_write_blocks_until_a_receiver_took_it)
{
	volatile int *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kmbox_attr a;
	char buf[MSGSIZE];
	pid_t pid;
	int fd;

	KT_REQUIRE_MODULE();
	ASSERT_NE(MAP_FAILED, done);
	fd = st_rendezvous(O_RDWR, 4);
	ASSERT_GE(fd, 0) TH_LOG("rendezvous: %s", strerror(errno));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_TRUE(a.flags & KMBOX_ATTR_RENDEZVOUS);
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(write(fd, "rdv", 3) == 3);
		*done = 1;
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(fd, 1, 10000));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	EXPECT_EQ(0, *done);
	EXPECT_EQ(3, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(1, *done);
	close(fd);
	munmap((void *)done, 4096);
}

TEST(rendezvous_nonblocking_send_and_receive_without_a_peer_are_eagain)
{
	char buf[MSGSIZE];
	int fd;

	KT_REQUIRE_MODULE();
	fd = st_rendezvous(O_RDWR | O_NONBLOCK, 4);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, write(fd, "x", 1));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, kt_send(fd, "x", 1, 0, 0, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	close(fd);
}

TEST(rendezvous_polls_in_while_a_sender_waits_and_out_while_a_receiver_waits)
{
	struct pollfd p;
	char buf[MSGSIZE];
	pid_t pid;
	int fd;

	KT_REQUIRE_MODULE();
	fd = st_rendezvous(O_RDWR, 4);
	ASSERT_GE(fd, 0);
	p = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
	EXPECT_EQ(0, poll(&p, 1, 0));

	/* A receiver waits: writable; a poller sleeping for it is woken. */
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		kt_sleep_ms(200);
		CHILD_ASSERT(read(fd, buf, sizeof(buf)) == 2);
		_exit(0);
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	EXPECT_EQ(1, poll(&p, 1, 10000));
	EXPECT_EQ(POLLOUT, p.revents & (POLLOUT | POLLIN));
	EXPECT_EQ(2, write(fd, "hi", 2));
	EXPECT_EQ(0, kt_wait(pid));

	/* A sender waits: readable. */
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(write(fd, "yo", 2) == 2);
		_exit(0);
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	EXPECT_EQ(1, poll(&p, 1, 10000));
	EXPECT_EQ(POLLIN, p.revents & (POLLOUT | POLLIN));
	EXPECT_EQ(2, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, kt_wait(pid));
	close(fd);
}

/*
 * 4 senders x 4 receivers, 10000 messages: each delivered exactly once,
 * and the mailbox never holds more than the senders that wait (4).
 */
#define RDV_SENDERS	4
#define RDV_PER		2500

TEST(rendezvous_four_by_four_delivers_exactly_once_and_buffers_nothing)
{
	struct rdv {
		unsigned short got[RDV_SENDERS][RDV_PER];
		int senders_done;
	} *st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	pid_t pid[2 * RDV_SENDERS];
	unsigned long max_seen = 0, i, j;
	struct kmbox_attr a;
	int fd;

	KT_REQUIRE_MODULE();
	ASSERT_NE(MAP_FAILED, st);
	fd = st_rendezvous(O_RDWR, 64);
	ASSERT_GE(fd, 0);
	for (i = 0; i < RDV_SENDERS; i++) {
		pid[i] = kt_fork(240);
		ASSERT_GE(pid[i], 0);
		if (pid[i] == 0) {
			for (j = 0; j < RDV_PER; j++) {
				unsigned int id[2] = { i, j };

				CHILD_ASSERT(write(fd, id, sizeof(id)) == sizeof(id));
			}
			__atomic_add_fetch(&st->senders_done, 1, __ATOMIC_RELEASE);
			_exit(0);
		}
	}
	for (i = 0; i < RDV_SENDERS; i++) {
		pid[RDV_SENDERS + i] = kt_fork(240);
		ASSERT_GE(pid[RDV_SENDERS + i], 0);
		if (pid[RDV_SENDERS + i] == 0) {
			unsigned int id[2];
			struct timespec ts;

			for (;;) {
				ts = st_ts_ms(50);
				if (kmbox_timedreceive(fd, id, sizeof(id), NULL, &ts) == sizeof(id)) {
					CHILD_ASSERT(id[0] < RDV_SENDERS && id[1] < RDV_PER);
					__atomic_add_fetch(&st->got[id[0]][id[1]], 1,
							   __ATOMIC_RELAXED);
				} else if (__atomic_load_n(&st->senders_done, __ATOMIC_ACQUIRE) ==
					   RDV_SENDERS) {
					break;
				}
			}
			_exit(0);
		}
	}
	while (__atomic_load_n(&st->senders_done, __ATOMIC_ACQUIRE) < RDV_SENDERS) {
		ASSERT_EQ(0, kt_getattr(fd, &a));
		if (a.cur_msgs > max_seen)
			max_seen = a.cur_msgs;
		kt_sleep_ms(1);
	}
	for (i = 0; i < 2 * RDV_SENDERS; i++)
		EXPECT_EQ(0, kt_wait(pid[i]));
	EXPECT_LE(max_seen, RDV_SENDERS);
	for (i = 0; i < RDV_SENDERS; i++)
		for (j = 0; j < RDV_PER; j++)
			ASSERT_EQ(1, st->got[i][j]) TH_LOG("message %lu/%lu", i, j);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	munmap(st, sizeof(*st));
}

TEST(rendezvous_send_batch_sends_only_what_waiting_receivers_take)
{
	struct kmbox_mmsg m[3];
	struct kmbox_batch b = { .msgs = KT_PTR(m), .count = 3 };
	char buf[MSGSIZE];
	pid_t pid;
	int fd;

	KT_REQUIRE_MODULE();
	fd = st_rendezvous(O_RDWR, 4);
	ASSERT_GE(fd, 0);
	memset(m, 0, sizeof(m));
	m[0] = (struct kmbox_mmsg){ .buf = KT_PTR("a"), .len = 1 };
	m[1] = (struct kmbox_mmsg){ .buf = KT_PTR("b"), .len = 1 };
	m[2] = (struct kmbox_mmsg){ .buf = KT_PTR("c"), .len = 1 };
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(read(fd, buf, sizeof(buf)) == 1 && buf[0] == 'a');
		_exit(0);
	}
	/* The first waits for the one receiver; nobody waits for the rest. */
	EXPECT_EQ(1, ioctl(fd, KMBOX_IOC_SEND_BATCH, &b));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
}

/* ---- call and reply ----------------------------------------------------- */

TEST_F(mb, call_gets_the_reply_and_the_repliers_credentials)
{
	char req[MSGSIZE], rep[MSGSIZE];
	struct kmbox_msginfo info;
	__u64 token;
	pid_t pid;
	ssize_t n;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_msginfo mi;

		CHILD_ASSERT(kmbox_receive_info(self->fd, req, sizeof(req), &mi, NULL) == 4);
		CHILD_ASSERT(!memcmp(req, "ping", 4) && mi.reply_token != 0);
		CHILD_ASSERT(kmbox_reply(self->fd, mi.reply_token, "pong!", 5) == 0);
		/* Answered once: a second answer finds nobody. */
		CHILD_ASSERT(kmbox_reply(self->fd, mi.reply_token, "x", 1) == -1 &&
			     errno == ENOENT);
		_exit(0);
	}
	n = kmbox_call(self->fd, "ping", 4, 3, rep, sizeof(rep), &info, NULL);
	EXPECT_EQ(5, n) TH_LOG("call: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(rep, "pong!", 5));
	EXPECT_EQ(pid, info.pid);
	EXPECT_EQ(getuid(), info.uid);
	EXPECT_EQ(0, kt_wait(pid));
	(void)token;
}

/* 8 callers on one server file, answered in reverse order. */
TEST_F(mb, replies_reach_the_right_callers_when_answered_out_of_order)
{
	__u64 tokens[8];
	unsigned int ids[8], i;
	pid_t pid[8];

	for (i = 0; i < 8; i++) {
		pid[i] = kt_fork(30);
		ASSERT_GE(pid[i], 0);
		if (pid[i] == 0) {
			unsigned int id = i, back = ~0u;

			CHILD_ASSERT(kmbox_call(self->fd, &id, sizeof(id), 0, &back, sizeof(back),
						NULL, NULL) == sizeof(back));
			CHILD_ASSERT(back == id * 1000 + 7);
			_exit(0);
		}
	}
	for (i = 0; i < 8; i++)
		ASSERT_EQ(sizeof(ids[i]), kt_take(self->fd, &ids[i], sizeof(ids[i]), 0, &tokens[i]));
	for (i = 8; i-- > 0;) {
		unsigned int back = ids[i] * 1000 + 7;

		EXPECT_EQ(0, kt_reply(self->fd, tokens[i], &back, sizeof(back)));
	}
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0, kt_wait(pid[i]));
}

/*
 * Lost wake-ups on the call path.  Callers (threads sharing one file) make
 * many short calls, each with a deadline far longer than a call takes, to
 * two servers sharing the file: one blocks in its receive, the other
 * polls and receives without blocking.  A handled signal (SA_RESTART)
 * keeps hitting half of the callers, so that their waits are cut short
 * and resumed at every point; the other half is never signalled (a
 * signal would wake a caller whose wake-up was lost).  A caller whose
 * wake-up is lost sleeps for good (the calls have no deadline, which would
 * wake it too): the harness's timeout ends the test, failed.  EINTR (a
 * signal after the request was received) is allowed and the call made
 * again.
 */
#define WK_CALLERS	4
#define WK_CALLS	2500

struct wk {
	int fd;
	volatile int stop;
	unsigned int bad, eintr, done;
};

static void *wk_caller(void *arg)
{
	struct wk *wk = arg;
	unsigned int i, req, back;

	for (i = 0; i < WK_CALLS; i++) {
		ssize_t r;

		/* One caller failed: the others stop too, the test has failed. */
		if (__atomic_load_n(&wk->bad, __ATOMIC_RELAXED))
			break;
		req = (unsigned int)(uintptr_t)pthread_self() ^ (i * 2654435761u);
		back = 0;
		r = kmbox_call(wk->fd, &req, sizeof(req), 0, &back, sizeof(back), NULL, NULL);
		if (r < 0 && errno == EINTR) {
			__atomic_add_fetch(&wk->eintr, 1, __ATOMIC_RELAXED);
			i--;
			continue;
		}
		if (r != sizeof(back) || back != req * 3 + 1) {
			__atomic_add_fetch(&wk->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		__atomic_add_fetch(&wk->done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *wk_server(void *arg)
{
	struct wk *wk = arg;

	while (!__atomic_load_n(&wk->stop, __ATOMIC_ACQUIRE)) {
		unsigned int req, back;
		struct kmbox_recv r;

		/* Blocking, with a deadline so that it sees @stop. */
		if (kt_recv(wk->fd, &req, sizeof(req), KMBOX_F_CALLS | KMBOX_F_TIMEOUT,
			    kt_deadline_ms(50), &r) != sizeof(req))
			continue;
		back = req * 3 + 1;
		kt_reply(wk->fd, r.reply_token, &back, sizeof(back));
	}
	return NULL;
}

static void *wk_poll_server(void *arg)
{
	struct wk *wk = arg;
	struct pollfd p = { .fd = wk->fd, .events = POLLIN };

	while (!__atomic_load_n(&wk->stop, __ATOMIC_ACQUIRE)) {
		unsigned int req, back;
		__u64 token;

		if (poll(&p, 1, 20) <= 0)
			continue;
		if (kt_take(wk->fd, &req, sizeof(req), KMBOX_F_NONBLOCK, &token) < 0)
			continue;
		back = req * 3 + 1;
		kt_reply(wk->fd, token, &back, sizeof(back));
	}
	return NULL;
}

TEST_F(mb, calls_from_threads_sharing_a_file_never_lose_their_wake_up)
{
	struct wk wk = { .fd = self->fd };
	pthread_t caller[WK_CALLERS], server[2];
	unsigned int i, n = 0;

	ASSERT_EQ(0, kt_sigaction(SIGUSR1, st_nop, SA_RESTART));
	ASSERT_EQ(0, pthread_create(&server[0], NULL, wk_server, &wk));
	ASSERT_EQ(0, pthread_create(&server[1], NULL, wk_poll_server, &wk));
	for (i = 0; i < WK_CALLERS; i++)
		ASSERT_EQ(0, pthread_create(&caller[i], NULL, wk_caller, &wk));
	/* Signals at the callers until they are done. */
	while (__atomic_load_n(&wk.done, __ATOMIC_RELAXED) < WK_CALLERS * WK_CALLS &&
	       !__atomic_load_n(&wk.bad, __ATOMIC_RELAXED) && n < 200000) {
		for (i = 0; i < WK_CALLERS / 2; i++)
			pthread_kill(caller[i], SIGUSR1);
		usleep(200);
		n++;
	}
	for (i = 0; i < WK_CALLERS; i++)
		pthread_join(caller[i], NULL);
	__atomic_store_n(&wk.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		pthread_join(server[i], NULL);
	TH_LOG("%u calls, %u cut short by a signal after their request was taken, %u signal rounds",
	       wk.done, wk.eintr, n);
	EXPECT_EQ(0, wk.bad);
	EXPECT_EQ(WK_CALLERS * WK_CALLS, wk.done);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

FIXTURE(named) {
	char name[64];
	int fd;		/* the callers' file, O_RDWR */
};

FIXTURE_SETUP(named)
{
	KT_REQUIRE_MODULE();
	kt_name(self->name, sizeof(self->name), "srv");
	self->fd = kt_create(self->name, O_RDWR, 0600, 16, MSGSIZE);
	ASSERT_GE(self->fd, 0) TH_LOG("create: %s", strerror(errno));
	alarm(60);
}

FIXTURE_TEARDOWN(named)
{
	alarm(0);
	if (self->fd >= 0)
		close(self->fd);
	kt_unlink(self->name);
}

/* A server with a file of its own takes @n requests, then sleeps. */
static pid_t st_server_taking(const char *name, unsigned int n)
{
	pid_t pid = kt_fork(60);

	if (pid == 0) {
		char req[MSGSIZE];
		unsigned int i;
		__u64 t;
		int sfd = kt_open(name, O_RDWR, 0, 0, 0, 0);

		CHILD_ASSERT(sfd >= 0);
		for (i = 0; i < n; i++)
			CHILD_ASSERT(kt_take(sfd, req, sizeof(req), 0, &t) >= 0);
		pause();
		_exit(0);
	}
	return pid;
}

static pid_t st_caller_expecting(int fd, int err)
{
	pid_t pid = kt_fork(30);

	if (pid == 0) {
		char rep[8];

		CHILD_ASSERT(kmbox_call(fd, "q", 1, 0, rep, sizeof(rep), NULL, NULL) == -1);
		CHILD_ASSERT(errno == err);
		_exit(0);
	}
	return pid;
}

TEST_F(named, server_killed_with_eight_unanswered_requests_fails_every_caller_with_epipe)
{
	pid_t pid[8], server;
	uint64_t t0;
	unsigned int i;

	for (i = 0; i < 8; i++) {
		pid[i] = st_caller_expecting(self->fd, EPIPE);
		ASSERT_GE(pid[i], 0);
	}
	/*
	 * All eight queued before the server starts: one that queued only
	 * after the server died would wait for a server that never comes.
	 */
	ASSERT_EQ(0, st_wait_msgs(self->fd, 8, 10000));
	server = st_server_taking(self->name, 8);
	ASSERT_GE(server, 0);
	ASSERT_EQ(0, st_wait_msgs(self->fd, 0, 10000));
	ASSERT_EQ(0, st_wait_sleeping(server, 10000));
	t0 = kt_now_ns();
	kill(server, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(server));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0, kt_wait(pid[i]));
	/* "At once": a generous bound for a slow guest, not a timing claim. */
	EXPECT_LT(kt_now_ns() - t0, 10000000000ULL);
}

TEST_F(named, server_closing_its_file_fails_its_unanswered_callers)
{
	char req[MSGSIZE];
	__u64 token;
	pid_t pid;
	int sfd;

	pid = st_caller_expecting(self->fd, EPIPE);
	ASSERT_GE(pid, 0);
	/* Opened after the fork: the caller does not share it. */
	sfd = kt_open(self->name, O_RDWR, 0, 0, 0, 0);
	ASSERT_GE(sfd, 0);
	ASSERT_EQ(1, kt_take(sfd, req, sizeof(req), 0, &token));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	close(sfd);
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(mb, call_received_by_read_fails_with_epipe)
{
	char buf[MSGSIZE], rep[8];
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kmbox_call(self->fd, "r", 1, 0, rep, sizeof(rep), NULL, NULL) == -1);
		CHILD_ASSERT(errno == EPIPE);
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	EXPECT_EQ(1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(mb, call_received_without_kmbox_f_calls_fails_with_epipe)
{
	char buf[MSGSIZE], rep[8];
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kmbox_call(self->fd, "r", 1, 0, rep, sizeof(rep), NULL, NULL) == -1);
		CHILD_ASSERT(errno == EPIPE);
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	EXPECT_EQ(1, kmbox_receive(self->fd, buf, sizeof(buf), NULL));
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(mb, unknown_tokens_are_enoent)
{
	char req[MSGSIZE];
	__u64 token;
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[8];

		CHILD_ASSERT(kmbox_call(self->fd, "t", 1, 0, rep, sizeof(rep), NULL, NULL) == 2);
		_exit(0);
	}
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &token));
	ASSERT_NE(0, token);
	EXPECT_EQ(-1, kt_reply(self->fd, token + 1000, "no", 2));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, kt_reply(self->fd, 0, "no", 2));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, kt_reply(self->fd, token, "ok", 2));
	EXPECT_EQ(0, kt_wait(pid));
}

TEST(tokens_of_one_named_mailbox_file_are_enoent_on_another_file)
{
	char name[64], req[MSGSIZE];
	int a, b;
	__u64 token;
	pid_t pid;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "tok");
	a = kt_create(name, O_RDWR, 0600, 4, MSGSIZE);
	ASSERT_GE(a, 0);
	b = kt_open(name, O_RDWR, 0, 0, 0, 0);
	ASSERT_GE(b, 0);
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[8];

		CHILD_ASSERT(kmbox_call(a, "t", 1, 0, rep, sizeof(rep), NULL, NULL) == 2);
		_exit(0);
	}
	ASSERT_EQ(1, kt_take(a, req, sizeof(req), 0, &token));
	EXPECT_EQ(-1, kt_reply(b, token, "no", 2));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, kt_reply(a, token, "ok", 2));
	EXPECT_EQ(0, kt_wait(pid));
	close(a);
	close(b);
	kt_unlink(name);
}

TEST_F(mb, reply_longer_than_the_callers_buffer_is_emsgsize_and_the_caller_waits_on)
{
	char req[MSGSIZE], big[64];
	__u64 token;
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[4];

		CHILD_ASSERT(kmbox_call(self->fd, "m", 1, 0, rep, sizeof(rep), NULL, NULL) == 4);
		CHILD_ASSERT(!memcmp(rep, "fits", 4));
		_exit(0);
	}
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &token));
	memset(big, 'x', sizeof(big));
	EXPECT_EQ(-1, kt_reply(self->fd, token, big, sizeof(big)));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(0, kt_reply(self->fd, token, "fits", 4));
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(mb, call_timing_out_while_queued_is_withdrawn)
{
	char rep[8];

	EXPECT_EQ(-1, kt_call(self->fd, "w", 1, rep, sizeof(rep), KMBOX_F_TIMEOUT,
			      kt_deadline_ms(100), NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mb, call_timing_out_after_it_was_received_makes_the_reply_enoent)
{
	char req[MSGSIZE];
	__u64 token;
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[8];

		CHILD_ASSERT(kt_call(self->fd, "w", 1, rep, sizeof(rep), KMBOX_F_TIMEOUT,
				     kt_deadline_ms(500), NULL) == -1);
		CHILD_ASSERT(errno == ETIMEDOUT);
		_exit(0);
	}
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &token));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(-1, kt_reply(self->fd, token, "late", 4));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(mb, caller_interrupted_after_it_was_received_is_eintr_not_restarted)
{
	char req[MSGSIZE];
	__u64 token;
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[8];

		/* SA_RESTART would resend the request: it must not. */
		CHILD_ASSERT(kt_sigaction(SIGUSR1, st_nop, SA_RESTART) == 0);
		CHILD_ASSERT(kmbox_call(self->fd, "i", 1, 0, rep, sizeof(rep), NULL, NULL) == -1);
		CHILD_ASSERT(errno == EINTR);
		_exit(0);
	}
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &token));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	kill(pid, SIGUSR1);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	EXPECT_EQ(-1, kt_reply(self->fd, token, "late", 4));
	EXPECT_EQ(ENOENT, errno);
}

/*
 * A page whose first touch blocks in userfaultfd for @delay_ms, then is
 * filled: a receive copying into it holds its message TAKEN that long.
 */
struct st_slow_page {
	int uffd;
	char *page;
	unsigned int delay_ms;
	pid_t signal_pid;	/* if set, gets SIGUSR1 once the page is touched */
	pthread_t thread;
};

static void *st_slow_page_server(void *arg)
{
	struct st_slow_page *sp = arg;
	struct uffd_msg m;
	struct pollfd pfd = { .fd = sp->uffd, .events = POLLIN };
	static char zero[4096];
	struct uffdio_copy copy = {
		.dst = (uintptr_t)sp->page, .src = (uintptr_t)zero, .len = 4096,
	};

	if (poll(&pfd, 1, 20000) != 1 || read(sp->uffd, &m, sizeof(m)) != sizeof(m))
		return NULL;
	if (sp->signal_pid)
		kill(sp->signal_pid, SIGUSR1);
	kt_sleep_ms(sp->delay_ms);
	ioctl(sp->uffd, UFFDIO_COPY, &copy);
	return NULL;
}

/* Return: 0, or -1 with errno (no userfaultfd in this kernel or for us). */
static int st_slow_page_start(struct st_slow_page *sp, unsigned int delay_ms)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	sp->delay_ms = delay_ms;
	sp->signal_pid = 0;
	sp->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (sp->uffd < 0)
		return -1;
	sp->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sp->page == MAP_FAILED)
		goto out_close;
	reg.range.start = (uintptr_t)sp->page;
	reg.range.len = 4096;
	if (ioctl(sp->uffd, UFFDIO_API, &api) || ioctl(sp->uffd, UFFDIO_REGISTER, &reg))
		goto out_unmap;
	if (!pthread_create(&sp->thread, NULL, st_slow_page_server, sp))
		return 0;
out_unmap:
	munmap(sp->page, 4096);
out_close:
	kt_close_keep_errno(sp->uffd);
	return -1;
}

static void st_slow_page_stop(struct st_slow_page *sp)
{
	pthread_join(sp->thread, NULL);
	munmap(sp->page, 4096);
	close(sp->uffd);
}

/* Wait up to @ms for @pid to exit; its kt_wait() code, or -1 if it did not. */
static int st_wait_exit(pid_t pid, unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		kt_sleep_ms(5);
	} while (kt_now_ns() < end);
	return -1;
}

/*
 * The caller's deadline passes while the server's receive has its request
 * TAKEN (the copy-out is held in userfaultfd).  Once that receive commits,
 * the request is PENDING, and the caller must leave with ETIMEDOUT at
 * once, not sleep until someone answers or closes.
 */
TEST_F(mb, caller_whose_deadline_passed_while_taken_leaves_once_received)
{
	struct st_slow_page sp;
	__u64 token = 0;
	pid_t pid;
	int code;

	if (st_slow_page_start(&sp, 800))
		SKIP(return, "userfaultfd unavailable: %s", strerror(errno));
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[8];

		CHILD_ASSERT(kt_call(self->fd, "t", 1, rep, sizeof(rep), KMBOX_F_TIMEOUT,
				     kt_deadline_ms(200), NULL) == -1);
		CHILD_ASSERT(errno == ETIMEDOUT);
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	/* Blocks ~800 ms in the copy-out, past the caller's deadline. */
	EXPECT_EQ(1, kt_take(self->fd, sp.page, 16, 0, &token));
	st_slow_page_stop(&sp);
	code = st_wait_exit(pid, 3000);
	EXPECT_EQ(0, code) TH_LOG("the caller did not leave when its request was received");
	if (code < 0) {
		kt_reply(self->fd, token, "x", 1);	/* let it go */
		EXPECT_EQ(0, kt_wait(pid));
		return;
	}
	EXPECT_EQ(-1, kt_reply(self->fd, token, "late", 4));
	EXPECT_EQ(ENOENT, errno);
}

/* The same with a handled signal, which arrives while the request is TAKEN. */
TEST_F(mb, caller_signalled_while_taken_leaves_with_eintr_once_received)
{
	struct st_slow_page sp;
	__u64 token = 0;
	pid_t pid;
	int code;

	if (st_slow_page_start(&sp, 500))
		SKIP(return, "userfaultfd unavailable: %s", strerror(errno));
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[8];

		CHILD_ASSERT(kt_sigaction(SIGUSR1, st_nop, SA_RESTART) == 0);
		CHILD_ASSERT(kmbox_call(self->fd, "s", 1, 0, rep, sizeof(rep), NULL, NULL) == -1);
		CHILD_ASSERT(errno == EINTR);
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	ASSERT_EQ(0, st_wait_sleeping(pid, 10000));
	sp.signal_pid = pid;
	EXPECT_EQ(1, kt_take(self->fd, sp.page, 16, 0, &token));
	st_slow_page_stop(&sp);
	code = st_wait_exit(pid, 3000);
	EXPECT_EQ(0, code) TH_LOG("the caller did not leave when its request was received");
	if (code < 0) {
		kt_reply(self->fd, token, "x", 1);
		EXPECT_EQ(0, kt_wait(pid));
		return;
	}
	EXPECT_EQ(-1, kt_reply(self->fd, token, "late", 4));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(mb, killed_callers_leave_replies_enoent_and_nothing_behind)
{
	__u64 tokens[4];
	char req[MSGSIZE];
	unsigned int i;
	pid_t pid[4];

	st_stats_start();
	for (i = 0; i < 4; i++) {
		pid[i] = kt_fork(30);
		ASSERT_GE(pid[i], 0);
		if (pid[i] == 0) {
			char rep[8];

			kmbox_call(self->fd, "k", 1, 0, rep, sizeof(rep), NULL, NULL);
			_exit(1);
		}
	}
	for (i = 0; i < 4; i++)
		ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &tokens[i]));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, st_wait_sleeping(pid[i], 10000));
		kill(pid[i], SIGKILL);
		EXPECT_EQ(128 + SIGKILL, kt_wait(pid[i]));
	}
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(-1, kt_reply(self->fd, tokens[i], "gone", 4));
		EXPECT_EQ(ENOENT, errno);
	}
	EXPECT_EQ(0, st_stats_back(5000));
}

TEST_F(mb, batch_receive_with_kmbox_f_calls_reports_the_tokens)
{
	struct kmbox_mmsg m[4];
	__u64 tokens[4] = { 0 };
	char bufs[4][MSGSIZE];
	struct kmbox_batch b = {
		.msgs = KT_PTR(m), .count = 4, .flags = KMBOX_F_CALLS, .tokens = KT_PTR(tokens),
	};
	unsigned int i;
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[8];

		CHILD_ASSERT(kmbox_call(self->fd, "b", 1, 0, rep, sizeof(rep), NULL, NULL) == 3);
		_exit(0);
	}
	ASSERT_EQ(0, st_wait_msgs(self->fd, 1, 10000));
	ASSERT_EQ(0, kt_send(self->fd, "plain", 5, 0, 0, 0));
	for (i = 0; i < 4; i++)
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(bufs[i]), .len = MSGSIZE };
	ASSERT_EQ(2, ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_NE(0, tokens[0]);
	EXPECT_EQ(0, tokens[1]);
	EXPECT_EQ(0, kt_reply(self->fd, tokens[0], "yes", 3));
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(mb, bad_arguments_of_the_new_calls_are_einval)
{
	struct kmbox_batch b = { .count = 1, .flags = KMBOX_F_CALLS };
	struct kmbox_mmsg m = { 0 };
	struct kmbox_reply rp = { .token = 1, .flags = 1 };
	struct kmbox_recv r = { .reply_token = 1 };
	struct kmbox_call c = { .flags = KMBOX_F_ZC };
	struct kmbox_attr a;
	char rep[8];
	int fd;

	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EINVAL, errno);
	c = (struct kmbox_call){ .__pad = 1 };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EINVAL, errno);
	c = (struct kmbox_call){ .deadline_ns = 1 };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY, &rp));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, &r));
	EXPECT_EQ(EINVAL, errno);
	/* KMBOX_F_CALLS on a batch needs somewhere to put the tokens. */
	b.msgs = KT_PTR(&m);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ(EINVAL, errno);
	/* The send flags on a receive, and the reverse. */
	EXPECT_EQ(-1, kt_recv(self->fd, rep, sizeof(rep), KMBOX_F_SYNC, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, kt_send(self->fd, "x", 1, 0, KMBOX_F_CALLS, 0));
	EXPECT_EQ(EINVAL, errno);
	/* Unknown attribute flags at creation; output flags are ignored. */
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&a, 4, 64);
	a.flags = 1u << 20;
	EXPECT_EQ(-1, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0600, &a));
	EXPECT_EQ(EINVAL, errno);
	a.flags = KMBOX_ATTR_NAMED | KMBOX_ATTR_NONBLOCK;
	EXPECT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0600, &a));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.flags & (KMBOX_ATTR_RENDEZVOUS | KMBOX_ATTR_NAMED));
	close(fd);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST(call_on_a_file_not_open_for_writing_is_ebadf)
{
	char name[64], rep[8];
	int fd, ro;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "ro");
	fd = kt_create(name, O_RDWR, 0600, 4, MSGSIZE);
	ASSERT_GE(fd, 0);
	ro = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(ro, 0);
	EXPECT_EQ(-1, kmbox_call(ro, "x", 1, 0, rep, sizeof(rep), NULL, NULL));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(ro);
	close(fd);
	kt_unlink(name);
}

/* An unprivileged user in fresh user and IPC namespaces: everything works. */
TEST(call_and_sync_send_work_for_an_unprivileged_user_in_new_namespaces)
{
	pid_t pid;

	KT_REQUIRE_MODULE();
	pid = kt_fork(60);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char name[64], rep[8];
		pid_t server;
		int fd;

		CHILD_ASSERT(kt_become(1000, 1000) == 0);
		CHILD_ASSERT(unshare(CLONE_NEWUSER | CLONE_NEWIPC) == 0);
		kt_name(name, sizeof(name), "unpriv");
		fd = kt_create(name, O_RDWR, 0600, 4, 64);
		CHILD_ASSERT(fd >= 0);
		server = fork();
		CHILD_ASSERT(server >= 0);
		if (server == 0) {
			struct kmbox_msginfo mi;
			char req[64];

			CHILD_ASSERT(kmbox_receive_info(fd, req, sizeof(req), &mi, NULL) == 2);
			CHILD_ASSERT(kmbox_reply(fd, mi.reply_token, "re", 2) == 0);
			CHILD_ASSERT(kmbox_receive(fd, req, sizeof(req), NULL) == 3);
			_exit(0);
		}
		CHILD_ASSERT(kmbox_call(fd, "rq", 2, 0, rep, sizeof(rep), NULL, NULL) == 2);
		CHILD_ASSERT(kmbox_send_sync(fd, "syn", 3, 0, NULL) == 0);
		CHILD_ASSERT(kt_wait(server) == 0);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_HARNESS_MAIN
