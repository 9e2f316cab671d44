// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox blocking behaviour: sleeping senders and receivers, O_NONBLOCK and
 * KMBOX_F_NONBLOCK, absolute CLOCK_MONOTONIC deadlines, signals (EINTR,
 * SA_RESTART, SIGKILL), poll/select/epoll (level and edge triggered) and
 * O_ASYNC/F_SETOWN/F_SETSIG notification.
 *
 * A test that needs a peer forks a helper.  The helper learns that the
 * test process is really asleep in the mailbox from rd_waiters/wr_waiters
 * (KMBOX_IOC_GETATTR) before it acts, so no test depends on sleep timing
 * for correctness.  Every wait is bounded by alarm() or a timeout.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define MSGSIZE	64

static volatile sig_atomic_t nsig;

static void count_sig(int sig)
{
	nsig++;
}

/* Shared with helpers: the handler sets it so a helper can see it ran. */
static volatile int *shared_flag;

static void flag_sig(int sig)
{
	nsig++;
	if (shared_flag)
		*shared_flag = 1;
}

static int wait_flag(volatile int *flag, unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);

	while (!*flag) {
		if (kt_now_ns() > end)
			return -1;
		kt_sleep_ms(1);
	}
	return 0;
}

FIXTURE(blk) {
	int fd;			/* anonymous, O_RDWR, blocking */
	volatile int *flag;	/* MAP_SHARED page */
};

FIXTURE_SETUP(blk)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR, 2, MSGSIZE);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	self->flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->flag);
	shared_flag = self->flag;
	nsig = 0;
	alarm(25);
}

FIXTURE_TEARDOWN(blk)
{
	alarm(0);
	if (self->fd >= 0)
		close(self->fd);
}

static void fill(struct __test_metadata *_metadata, int fd)
{
	ASSERT_EQ(1, write(fd, "A", 1));
	ASSERT_EQ(1, write(fd, "B", 1));
}

/* Helper: wait until @fd has a sleeping receiver/sender, then write/read. */
static pid_t helper_send_when_waiting(int fd, const char *msg)
{
	pid_t pid = kt_fork(20);

	if (pid == 0) {
		CHILD_ASSERT(kt_wait_waiters(fd, 1, 0, 15000) == 0);
		CHILD_ASSERT(write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg));
		_exit(0);
	}
	return pid;
}

static pid_t helper_recv_when_waiting(int fd, const char *expect)
{
	pid_t pid = kt_fork(20);

	if (pid == 0) {
		char buf[MSGSIZE];

		CHILD_ASSERT(kt_wait_waiters(fd, 0, 1, 15000) == 0);
		CHILD_ASSERT(read(fd, buf, sizeof(buf)) == (ssize_t)strlen(expect));
		CHILD_ASSERT(!memcmp(buf, expect, strlen(expect)));
		_exit(0);
	}
	return pid;
}

/* Helper: wait for a sleeper, signal @target with @sig. */
static pid_t helper_signal_when_waiting(int fd, int rd, pid_t target, int sig)
{
	pid_t pid = kt_fork(20);

	if (pid == 0) {
		CHILD_ASSERT(kt_wait_waiters(fd, rd, !rd, 15000) == 0);
		CHILD_ASSERT(kill(target, sig) == 0);
		_exit(0);
	}
	return pid;
}

/* ---- blocking and non-blocking ------------------------------------------ */

TEST_F(blk, recv_on_empty_blocks_until_a_send)
{
	char buf[MSGSIZE];
	pid_t pid;

	pid = helper_send_when_waiting(self->fd, "wake");
	ASSERT_GE(pid, 0);
	EXPECT_EQ(4, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "wake", 4));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

/*
 * A receiver asleep with a buffer too small for what arrives wakes with
 * EMSGSIZE and the real length; the message is not lost in a hand-over.
 */
TEST_F(blk, sleeping_recv_with_short_buffer_wakes_with_emsgsize)
{
	struct kmbox_recv r;
	char buf[MSGSIZE];
	pid_t pid;

	pid = helper_send_when_waiting(self->fd, "longer");
	ASSERT_GE(pid, 0);
	EXPECT_EQ(-1, kt_recv(self->fd, buf, 3, 0, 0, &r));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(6, r.len);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(6, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "longer", 6));
}

/*
 * Two receivers asleep, the first with a buffer too small: it wakes with
 * EMSGSIZE and must pass the wake-up on, so the second gets the message
 * (without that it would sleep on with a message queued).
 */
TEST_F(blk, short_buffered_sleeper_passes_the_message_to_the_next)
{
	pid_t small, big;
	char buf[MSGSIZE];

	small = kt_fork(20);
	ASSERT_GE(small, 0);
	if (small == 0) {
		struct kmbox_recv r;

		CHILD_ASSERT(kt_recv(self->fd, buf, 3, 0, 0, &r) == -1);
		CHILD_ASSERT(errno == EMSGSIZE && r.len == 6);
		_exit(0);
	}
	/* the short buffer sleeps first, so it is the first one chosen */
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 1, 0, 15000));
	big = kt_fork(20);
	ASSERT_GE(big, 0);
	if (big == 0) {
		CHILD_ASSERT(read(self->fd, buf, sizeof(buf)) == 6);
		CHILD_ASSERT(!memcmp(buf, "longer", 6));
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 2, 0, 15000));
	ASSERT_EQ(6, write(self->fd, "longer", 6));
	EXPECT_EQ(0, kt_wait(small));
	EXPECT_EQ(0, kt_wait(big));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

/*
 * A message given to a receiver asleep whose buffer then faults goes
 * back to the queue, exactly as one taken off the queue would.
 */
TEST_F(blk, sleeper_whose_buffer_faults_leaves_the_message_queued)
{
	char buf[MSGSIZE];
	void *bad;
	pid_t pid;

	bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, bad);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(read(self->fd, bad, 64) == -1 && errno == EFAULT);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 1, 0, 15000));
	ASSERT_EQ(5, write(self->fd, "fault", 5));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(5, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "fault", 5));
	munmap(bad, 4096);
}

/* Three receivers asleep, one batch of three: each gets one. */
TEST(one_batch_wakes_three_sleeping_receivers)
{
	struct kmbox_mmsg out[3] = {
		{ .buf = KT_PTR("a"), .len = 1 },
		{ .buf = KT_PTR("b"), .len = 1 },
		{ .buf = KT_PTR("c"), .len = 1 },
	};
	struct kmbox_batch b = { .msgs = KT_PTR(out), .count = 3 };
	pid_t r[3];
	int fd, i;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR, 4, MSGSIZE);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 3; i++) {
		r[i] = kt_fork(20);
		ASSERT_GE(r[i], 0);
		if (r[i] == 0) {
			char buf[MSGSIZE];

			_exit(read(fd, buf, sizeof(buf)) == 1 ? 0 : 1);
		}
	}
	ASSERT_EQ(0, kt_wait_waiters(fd, 3, 0, 15000));
	ASSERT_EQ(3, ioctl(fd, KMBOX_IOC_SEND_BATCH, &b));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, kt_wait(r[i]));
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
}

/* A batch receiver asleep gets the whole batch sent at once, not one. */
TEST_F(blk, sleeping_batch_receiver_gets_the_whole_batch)
{
	struct kmbox_mmsg out[2] = {
		{ .buf = KT_PTR("one"), .len = 3 },
		{ .buf = KT_PTR("two"), .len = 3 },
	};
	struct kmbox_batch b = { .msgs = KT_PTR(out), .count = 2 };
	pid_t pid;

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char bufs[4][MSGSIZE];
		struct kmbox_mmsg in[4];
		struct kmbox_batch rb = { .msgs = KT_PTR(in), .count = 4 };
		int i;

		for (i = 0; i < 4; i++)
			in[i] = (struct kmbox_mmsg){ .buf = KT_PTR(bufs[i]),
						     .len = MSGSIZE };
		CHILD_ASSERT(ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &rb) == 2);
		CHILD_ASSERT(in[0].len == 3 && !memcmp(bufs[0], "one", 3));
		CHILD_ASSERT(in[1].len == 3 && !memcmp(bufs[1], "two", 3));
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 1, 0, 15000));
	ASSERT_EQ(2, ioctl(self->fd, KMBOX_IOC_SEND_BATCH, &b));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(blk, send_on_full_blocks_until_a_recv)
{
	char buf[MSGSIZE];
	pid_t pid;

	fill(_metadata, self->fd);
	pid = helper_recv_when_waiting(self->fd, "A");
	ASSERT_GE(pid, 0);
	EXPECT_EQ(1, write(self->fd, "C", 1));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ('B', buf[0]);
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ('C', buf[0]);
}

TEST_F(blk, one_message_wakes_one_of_two_receivers)
{
	pid_t r[2], first, other;
	int i, st;

	for (i = 0; i < 2; i++) {
		r[i] = kt_fork(20);
		ASSERT_GE(r[i], 0);
		if (r[i] == 0) {
			char buf[MSGSIZE];

			_exit(read(self->fd, buf, sizeof(buf)) == 1 ? 0 : 1);
		}
	}
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 2, 0, 15000));
	ASSERT_EQ(1, write(self->fd, "1", 1));
	/* exactly one receiver gets it; the other sleeps on */
	first = waitpid(-1, &st, 0);
	ASSERT_TRUE(first == r[0] || first == r[1]);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	other = first == r[0] ? r[1] : r[0];
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 1, 0, 15000));
	EXPECT_EQ(0, waitpid(other, &st, WNOHANG));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	ASSERT_EQ(1, write(self->fd, "2", 1));
	EXPECT_EQ(0, kt_wait(other));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(blk, read_on_empty_with_o_nonblock_is_eagain)
{
	char buf[MSGSIZE];

	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(blk, recv_on_empty_with_o_nonblock_is_eagain)
{
	char buf[MSGSIZE];

	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(blk, recv_on_empty_with_f_nonblock_is_eagain)
{
	char buf[MSGSIZE];

	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_NONBLOCK,
			      0, NULL));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(blk, write_on_full_with_o_nonblock_is_eagain)
{
	fill(_metadata, self->fd);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-1, write(self->fd, "C", 1));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
}

TEST_F(blk, send_on_full_with_f_nonblock_is_eagain)
{
	fill(_metadata, self->fd);
	EXPECT_EQ(-1, kt_send(self->fd, "C", 1, 0, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
}

TEST(o_nonblock_at_open_makes_read_eagain)
{
	char buf[MSGSIZE];
	int fd;

	KT_REQUIRE_MODULE();
	alarm(10);
	fd = kt_anon(O_RDWR | O_NONBLOCK, 2, MSGSIZE);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	close(fd);
}

/* ---- deadlines ---------------------------------------------------------- */

TEST_F(blk, recv_deadline_on_empty_is_etimedout_once_passed)
{
	char buf[MSGSIZE];
	__u64 deadline = kt_deadline_ms(300), end;

	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_TIMEOUT,
			      deadline, NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
	end = kt_now_ns();
	EXPECT_LE(deadline, end);
	EXPECT_GT(deadline + 5000000000ULL, end);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(blk, send_deadline_on_full_is_etimedout_once_passed)
{
	__u64 deadline, end;

	fill(_metadata, self->fd);
	deadline = kt_deadline_ms(300);
	EXPECT_EQ(-1, kt_send(self->fd, "C", 1, 0, KMBOX_F_TIMEOUT, deadline));
	EXPECT_EQ(ETIMEDOUT, errno);
	end = kt_now_ns();
	EXPECT_LE(deadline, end);
	EXPECT_GT(deadline + 5000000000ULL, end);
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
}

TEST_F(blk, recv_past_deadline_on_empty_is_etimedout_at_once)
{
	char buf[MSGSIZE];

	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, 1,
			      NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
}

TEST_F(blk, recv_past_deadline_with_message_queued_succeeds)
{
	char buf[MSGSIZE];

	ASSERT_EQ(1, write(self->fd, "m", 1));
	EXPECT_EQ(1, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, 1,
			     NULL));
	EXPECT_EQ('m', buf[0]);
}

TEST_F(blk, send_past_deadline_with_room_succeeds)
{
	EXPECT_EQ(0, kt_send(self->fd, "m", 1, 0, KMBOX_F_TIMEOUT, 1));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
}

TEST_F(blk, timed_recv_returns_a_message_sent_before_the_deadline)
{
	char buf[MSGSIZE];
	__u64 deadline = kt_deadline_ms(15000);
	pid_t pid;

	pid = helper_send_when_waiting(self->fd, "t");
	ASSERT_GE(pid, 0);
	EXPECT_EQ(1, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_TIMEOUT,
			     deadline, NULL));
	EXPECT_EQ('t', buf[0]);
	EXPECT_GT(deadline, kt_now_ns());
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(blk, timed_send_completes_when_room_appears)
{
	__u64 deadline;
	pid_t pid;

	fill(_metadata, self->fd);
	deadline = kt_deadline_ms(15000);
	pid = helper_recv_when_waiting(self->fd, "A");
	ASSERT_GE(pid, 0);
	EXPECT_EQ(0, kt_send(self->fd, "C", 1, 0, KMBOX_F_TIMEOUT, deadline));
	EXPECT_GT(deadline, kt_now_ns());
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
}

/* ---- signals ------------------------------------------------------------ */

TEST_F(blk, blocked_recv_interrupted_by_signal_is_eintr)
{
	char buf[MSGSIZE];
	pid_t pid;

	ASSERT_EQ(0, kt_sigaction(SIGUSR1, count_sig, 0));
	pid = helper_signal_when_waiting(self->fd, 1, getpid(), SIGUSR1);
	ASSERT_GE(pid, 0);
	EXPECT_EQ(-1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(EINTR, errno);
	EXPECT_EQ(1, nsig);
	EXPECT_EQ(0, kt_wait(pid));
	/* nothing consumed, the mailbox still works */
	ASSERT_EQ(1, write(self->fd, "x", 1));
	EXPECT_EQ(1, read(self->fd, buf, sizeof(buf)));
}

TEST_F(blk, blocked_send_interrupted_by_signal_is_eintr_and_queues_nothing)
{
	char buf[MSGSIZE];
	pid_t pid;

	fill(_metadata, self->fd);
	ASSERT_EQ(0, kt_sigaction(SIGUSR1, count_sig, 0));
	pid = helper_signal_when_waiting(self->fd, 0, getpid(), SIGUSR1);
	ASSERT_GE(pid, 0);
	EXPECT_EQ(-1, write(self->fd, "C", 1));
	EXPECT_EQ(EINTR, errno);
	EXPECT_EQ(1, nsig);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ('A', buf[0]);
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ('B', buf[0]);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(blk, timed_recv_interrupted_by_signal_is_eintr)
{
	char buf[MSGSIZE];
	pid_t pid;

	ASSERT_EQ(0, kt_sigaction(SIGUSR1, count_sig, 0));
	pid = helper_signal_when_waiting(self->fd, 1, getpid(), SIGUSR1);
	ASSERT_GE(pid, 0);
	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_TIMEOUT,
			      kt_deadline_ms(15000), NULL));
	EXPECT_EQ(EINTR, errno);
	EXPECT_EQ(1, nsig);
	EXPECT_EQ(0, kt_wait(pid));
}

/*
 * SA_RESTART: the helper signals the sleeping test process, waits until
 * the handler has run and the call sleeps again, then completes it.
 */
TEST_F(blk, blocked_recv_restarts_under_sa_restart)
{
	char buf[MSGSIZE];
	pid_t pid;
	int fd = self->fd;

	ASSERT_EQ(0, kt_sigaction(SIGUSR1, flag_sig, SA_RESTART));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_wait_waiters(fd, 1, 0, 15000) == 0);
		CHILD_ASSERT(kill(getppid(), SIGUSR1) == 0);
		CHILD_ASSERT(wait_flag(self->flag, 15000) == 0);
		CHILD_ASSERT(kt_wait_waiters(fd, 1, 0, 15000) == 0);
		CHILD_ASSERT(write(fd, "r", 1) == 1);
		_exit(0);
	}
	EXPECT_EQ(1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ('r', buf[0]);
	EXPECT_EQ(1, nsig);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(fd));
}

TEST_F(blk, blocked_send_restarts_under_sa_restart)
{
	char buf[MSGSIZE];
	pid_t pid;
	int fd = self->fd;

	fill(_metadata, fd);
	ASSERT_EQ(0, kt_sigaction(SIGUSR1, flag_sig, SA_RESTART));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_wait_waiters(fd, 0, 1, 15000) == 0);
		CHILD_ASSERT(kill(getppid(), SIGUSR1) == 0);
		CHILD_ASSERT(wait_flag(self->flag, 15000) == 0);
		CHILD_ASSERT(kt_wait_waiters(fd, 0, 1, 15000) == 0);
		CHILD_ASSERT(read(fd, buf, sizeof(buf)) == 1 && buf[0] == 'A');
		_exit(0);
	}
	EXPECT_EQ(1, write(fd, "C", 1));
	EXPECT_EQ(1, nsig);
	EXPECT_EQ(0, kt_wait(pid));
	/* B then C: the restarted send was queued exactly once */
	ASSERT_EQ(2, kt_cur_msgs(fd));
	ASSERT_EQ(1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ('B', buf[0]);
	ASSERT_EQ(1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ('C', buf[0]);
}

/*
 * A restarted timed receive keeps its absolute deadline: signalled 3 s
 * into a 4 s wait, it must end near the deadline, not 4 s after the
 * signal (what re-arming the original relative timeout would give).
 */
TEST_F(blk, restarted_timed_recv_keeps_its_deadline)
{
	char buf[MSGSIZE];
	__u64 deadline, end;
	pid_t pid;
	int fd = self->fd;

	ASSERT_EQ(0, kt_sigaction(SIGUSR1, flag_sig, SA_RESTART));
	deadline = kt_deadline_ms(4000);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_wait_waiters(fd, 1, 0, 15000) == 0);
		while (kt_now_ns() + 1000000000ULL < deadline)
			kt_sleep_ms(10);
		CHILD_ASSERT(kill(getppid(), SIGUSR1) == 0);
		_exit(0);
	}
	EXPECT_EQ(-1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, deadline,
			      NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
	end = kt_now_ns();
	EXPECT_EQ(1, nsig);
	EXPECT_LE(deadline, end);
	EXPECT_GT(deadline + 2000000000ULL, end)
		TH_LOG("ended %llu ms after the deadline",
		       (unsigned long long)(end - deadline) / 1000000);
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(blk, sigkill_ends_a_blocked_recv)
{
	struct kmbox_attr a;
	pid_t pid;
	int fd = self->fd;

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char buf[MSGSIZE];

		read(fd, buf, sizeof(buf));
		_exit(1);
	}
	ASSERT_EQ(0, kt_wait_waiters(fd, 1, 0, 15000));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.rd_waiters);
	/* the dead receiver takes nothing */
	ASSERT_EQ(1, write(fd, "k", 1));
	EXPECT_EQ(1, kt_cur_msgs(fd));
}

TEST_F(blk, sigkill_ends_a_blocked_send)
{
	struct kmbox_attr a;
	char buf[MSGSIZE];
	pid_t pid;
	int fd = self->fd;

	fill(_metadata, fd);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		write(fd, "K", 1);
		_exit(1);
	}
	ASSERT_EQ(0, kt_wait_waiters(fd, 0, 1, 15000));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.wr_waiters);
	EXPECT_EQ(2, a.cur_msgs);
	ASSERT_EQ(1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ('A', buf[0]);
	ASSERT_EQ(1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ('B', buf[0]);
}

/*
 * A stream of sequence-numbered messages through a 2-deep mailbox while
 * both ends are hit by SIGUSR1 every millisecond or so: each message
 * arrives exactly once, in order.  Without SA_RESTART the ends retry
 * on EINTR; with SA_RESTART no call may ever return EINTR.
 */
FIXTURE(storm) {
	int fd;
	int *eintr;	/* shared: EINTRs seen by sender [0], receiver [1] */
};

FIXTURE_VARIANT(storm) {
	int sa_flags;
};

FIXTURE_VARIANT_ADD(storm, no_restart) { .sa_flags = 0, };
FIXTURE_VARIANT_ADD(storm, sa_restart) { .sa_flags = SA_RESTART, };

FIXTURE_SETUP(storm)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR, 2, 16);
	ASSERT_GE(self->fd, 0);
	self->eintr = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->eintr);
}

FIXTURE_TEARDOWN(storm)
{
	if (self->fd >= 0)
		close(self->fd);
}

#define STORM_MSGS 3000

static void storm_sender(int fd, int *eintr)
{
	__u32 seq = 0;

	while (seq < STORM_MSGS) {
		if (kt_send(fd, &seq, sizeof(seq), 0, 0, 0) == 0) {
			seq++;
			continue;
		}
		CHILD_ASSERT(errno == EINTR);
		(*eintr)++;
	}
	_exit(0);
}

static void storm_receiver(int fd, int *eintr)
{
	__u32 want = 0, got;
	int n;

	while (want < STORM_MSGS) {
		n = read(fd, &got, sizeof(got));
		if (n < 0) {
			CHILD_ASSERT(errno == EINTR);
			(*eintr)++;
			continue;
		}
		CHILD_ASSERT(n == sizeof(got));
		if (got != want) {
			fprintf(stderr, "# got message %u, want %u\n", got, want);
			_exit(2);
		}
		want++;
	}
	_exit(0);
}

TEST_F_TIMEOUT(storm, signals_lose_and_duplicate_nothing, 60)
{
	pid_t pid[2];
	int live = 2, i, st;

	/* installed before fork: the first SIGUSR1 may come at once */
	ASSERT_EQ(0, kt_sigaction(SIGUSR1, count_sig, variant->sa_flags));
	pid[0] = kt_fork(50);
	ASSERT_GE(pid[0], 0);
	if (pid[0] == 0)
		storm_sender(self->fd, &self->eintr[0]);
	pid[1] = kt_fork(50);
	ASSERT_GE(pid[1], 0);
	if (pid[1] == 0)
		storm_receiver(self->fd, &self->eintr[1]);

	/* signal both ends until they are done */
	while (live) {
		for (i = 0; i < 2; i++) {
			if (pid[i] <= 0)
				continue;
			if (waitpid(pid[i], &st, WNOHANG) == pid[i]) {
				EXPECT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st))
					TH_LOG("%s status %#x",
					       i ? "receiver" : "sender", st);
				pid[i] = 0;
				live--;
				continue;
			}
			kill(pid[i], SIGUSR1);
		}
		kt_sleep_ms(1);
	}
	TH_LOG("EINTR seen: sender %d, receiver %d", self->eintr[0],
	       self->eintr[1]);
	if (variant->sa_flags & SA_RESTART) {
		EXPECT_EQ(0, self->eintr[0]);
		EXPECT_EQ(0, self->eintr[1]);
	}
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

/* ---- poll, select, epoll ------------------------------------------------ */

#define POLL_ALL (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLWRBAND | \
		  POLLPRI | POLLRDBAND)

static short poll_now(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLL_ALL };

	if (poll(&pfd, 1, 0) < 0)
		return -1;
	return pfd.revents;
}

TEST_F(blk, poll_on_empty_reports_only_writable)
{
	EXPECT_EQ(POLLOUT | POLLWRNORM, poll_now(self->fd));
}

TEST_F(blk, poll_with_a_message_reports_readable_and_writable)
{
	ASSERT_EQ(1, write(self->fd, "p", 1));
	EXPECT_EQ(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
		  poll_now(self->fd));
}

TEST_F(blk, poll_on_full_reports_only_readable)
{
	fill(_metadata, self->fd);
	EXPECT_EQ(POLLIN | POLLRDNORM, poll_now(self->fd));
}

TEST_F(blk, poll_reports_a_zero_length_message_as_readable)
{
	ASSERT_EQ(0, write(self->fd, "", 0));
	EXPECT_EQ(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
		  poll_now(self->fd));
}

FIXTURE(acc) {
	char name[64];
	int rd, wr;
};

FIXTURE_SETUP(acc)
{
	KT_REQUIRE_MODULE();
	self->rd = self->wr = -1;
	kt_name(self->name, sizeof(self->name), "poll");
	self->wr = kt_create(self->name, O_WRONLY, 0600, 2, MSGSIZE);
	ASSERT_GE(self->wr, 0);
	self->rd = kt_open(self->name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(self->rd, 0);
}

FIXTURE_TEARDOWN(acc)
{
	if (self->rd >= 0)
		close(self->rd);
	if (self->wr >= 0)
		close(self->wr);
	kt_unlink(self->name);
}

TEST_F(acc, poll_on_read_only_file_never_reports_writable)
{
	EXPECT_EQ(0, poll_now(self->rd));
	ASSERT_EQ(1, write(self->wr, "x", 1));
	EXPECT_EQ(POLLIN | POLLRDNORM, poll_now(self->rd));
}

TEST_F(acc, poll_on_write_only_file_never_reports_readable)
{
	ASSERT_EQ(1, write(self->wr, "x", 1));
	EXPECT_EQ(POLLOUT | POLLWRNORM, poll_now(self->wr));
	ASSERT_EQ(1, write(self->wr, "y", 1));
	EXPECT_EQ(0, poll_now(self->wr));
}

TEST_F(acc, poll_reports_no_hangup_after_the_other_file_closes)
{
	close(self->wr);
	self->wr = -1;
	EXPECT_EQ(0, poll_now(self->rd));
}

TEST_F(blk, poll_wakes_when_a_message_arrives)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN };
	pid_t pid;
	int fd = self->fd;

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		kt_sleep_ms(200);
		CHILD_ASSERT(write(fd, "w", 1) == 1);
		_exit(0);
	}
	EXPECT_EQ(1, poll(&pfd, 1, 15000));
	EXPECT_EQ(POLLIN, pfd.revents);
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(blk, poll_wakes_when_room_appears)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLOUT };
	pid_t pid;
	int fd = self->fd;

	fill(_metadata, fd);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char buf[MSGSIZE];

		kt_sleep_ms(200);
		CHILD_ASSERT(read(fd, buf, sizeof(buf)) == 1);
		_exit(0);
	}
	EXPECT_EQ(1, poll(&pfd, 1, 15000));
	EXPECT_EQ(POLLOUT, pfd.revents);
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(blk, select_follows_readable_and_writable)
{
	struct timeval tv;
	fd_set r, w;

	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(self->fd, &r);
	FD_SET(self->fd, &w);
	tv = (struct timeval){ 0, 0 };
	ASSERT_EQ(1, select(self->fd + 1, &r, &w, NULL, &tv));
	EXPECT_FALSE(FD_ISSET(self->fd, &r));
	EXPECT_TRUE(FD_ISSET(self->fd, &w));

	fill(_metadata, self->fd);
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(self->fd, &r);
	FD_SET(self->fd, &w);
	tv = (struct timeval){ 0, 0 };
	ASSERT_EQ(1, select(self->fd + 1, &r, &w, NULL, &tv));
	EXPECT_TRUE(FD_ISSET(self->fd, &r));
	EXPECT_FALSE(FD_ISSET(self->fd, &w));
}

static int ep_add(int fd, __u32 events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return -1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		kt_close_keep_errno(ep);
		return -1;
	}
	return ep;
}

/* Events pending on @ep now (0 if none), or -1. */
static int ep_now(int ep, __u32 *events)
{
	struct epoll_event ev;
	int n = epoll_wait(ep, &ev, 1, 0);

	if (n == 1)
		*events = ev.events;
	return n;
}

TEST_F(blk, epoll_level_triggered_reports_until_drained)
{
	char buf[MSGSIZE];
	__u32 ev;
	int ep;

	ep = ep_add(self->fd, EPOLLIN);
	ASSERT_GE(ep, 0);
	EXPECT_EQ(0, ep_now(ep, &ev));
	ASSERT_EQ(1, write(self->fd, "l", 1));
	ASSERT_EQ(1, ep_now(ep, &ev));
	EXPECT_EQ(EPOLLIN, ev);
	ASSERT_EQ(1, ep_now(ep, &ev));
	EXPECT_EQ(EPOLLIN, ev);
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, ep_now(ep, &ev));
	close(ep);
}

TEST(epoll_edge_triggered_reports_each_arrival_once)
{
	__u32 ev;
	int fd, ep, i;

	KT_REQUIRE_MODULE();
	alarm(20);
	fd = kt_anon(O_RDWR, 8, MSGSIZE);
	ASSERT_GE(fd, 0);
	ep = ep_add(fd, EPOLLIN | EPOLLET);
	ASSERT_GE(ep, 0);
	EXPECT_EQ(0, ep_now(ep, &ev));
	for (i = 0; i < 3; i++) {
		/* each arrival is an edge, even with messages still queued */
		ASSERT_EQ(1, write(fd, "e", 1));
		ASSERT_EQ(1, ep_now(ep, &ev)) TH_LOG("arrival %d", i);
		EXPECT_EQ(EPOLLIN, ev);
		EXPECT_EQ(0, ep_now(ep, &ev)) TH_LOG("arrival %d", i);
	}
	close(ep);
	close(fd);
}

TEST_F(blk, epoll_edge_triggered_reports_room_once)
{
	char buf[MSGSIZE];
	__u32 ev;
	int ep;

	fill(_metadata, self->fd);
	ep = ep_add(self->fd, EPOLLOUT | EPOLLET);
	ASSERT_GE(ep, 0);
	EXPECT_EQ(0, ep_now(ep, &ev));
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	ASSERT_EQ(1, ep_now(ep, &ev));
	EXPECT_EQ(EPOLLOUT, ev);
	EXPECT_EQ(0, ep_now(ep, &ev));
	close(ep);
}

TEST_F(blk, epoll_wait_wakes_when_a_message_arrives)
{
	struct epoll_event ev;
	pid_t pid;
	int ep, fd = self->fd;

	ep = ep_add(fd, EPOLLIN | EPOLLET);
	ASSERT_GE(ep, 0);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		kt_sleep_ms(200);
		CHILD_ASSERT(write(fd, "w", 1) == 1);
		_exit(0);
	}
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 15000));
	EXPECT_EQ(EPOLLIN, ev.events);
	EXPECT_EQ(fd, ev.data.fd);
	EXPECT_EQ(0, kt_wait(pid));
	close(ep);
}

/* ---- O_ASYNC / F_SETOWN / F_SETSIG -------------------------------------- */

static int make_async(int fd, pid_t owner, int sig)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETOWN, owner) ||
	    (sig && fcntl(fd, F_SETSIG, sig)) ||
	    fcntl(fd, F_SETFL, fl | O_ASYNC))
		return -1;
	return 0;
}

/* Wait up to @ms for @sig (blocked); returns 1 and @si, 0 if none, -1. */
static int take_sig(int sig, siginfo_t *si, unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	if (sigtimedwait(&set, si, &ts) == sig)
		return 1;
	return errno == EAGAIN ? 0 : -1;
}

static void block_sig(int sig)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

TEST_F(blk, sigio_is_sent_on_each_arrival)
{
	ASSERT_EQ(0, kt_sigaction(SIGIO, count_sig, 0));
	ASSERT_EQ(0, make_async(self->fd, getpid(), 0));
	ASSERT_EQ(1, write(self->fd, "1", 1));
	EXPECT_EQ(1, nsig);
	ASSERT_EQ(1, write(self->fd, "2", 1));
	EXPECT_EQ(2, nsig);
}

TEST_F(blk, sigio_is_sent_when_a_receive_frees_room)
{
	char buf[MSGSIZE];

	ASSERT_EQ(1, write(self->fd, "1", 1));
	ASSERT_EQ(0, kt_sigaction(SIGIO, count_sig, 0));
	ASSERT_EQ(0, make_async(self->fd, getpid(), 0));
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(1, nsig);
}

TEST_F(blk, no_sigio_without_o_async)
{
	siginfo_t si;

	block_sig(SIGIO);
	ASSERT_EQ(0, fcntl(self->fd, F_SETOWN, getpid()));
	ASSERT_EQ(1, write(self->fd, "1", 1));
	EXPECT_EQ(0, take_sig(SIGIO, &si, 0));
}

TEST_F(blk, f_setsig_arrival_carries_poll_in_band_and_fd)
{
	int sig = SIGRTMIN + 1;
	siginfo_t si;

	block_sig(sig);
	ASSERT_EQ(0, make_async(self->fd, getpid(), sig));
	ASSERT_EQ(1, write(self->fd, "1", 1));
	ASSERT_EQ(1, take_sig(sig, &si, 0));
	EXPECT_EQ(sig, si.si_signo);
	EXPECT_EQ(POLL_IN, si.si_code);
	EXPECT_EQ(POLLIN | POLLRDNORM, si.si_band);
	EXPECT_EQ(self->fd, si.si_fd);
	/* one arrival, one signal */
	EXPECT_EQ(0, take_sig(sig, &si, 0));
}

TEST_F(blk, f_setsig_receive_carries_poll_out_band)
{
	int sig = SIGRTMIN + 1;
	char buf[MSGSIZE];
	siginfo_t si;

	ASSERT_EQ(1, write(self->fd, "1", 1));
	block_sig(sig);
	ASSERT_EQ(0, make_async(self->fd, getpid(), sig));
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	ASSERT_EQ(1, take_sig(sig, &si, 0));
	EXPECT_EQ(POLL_OUT, si.si_code);
	EXPECT_EQ(POLLOUT | POLLWRNORM, si.si_band & (POLLOUT | POLLWRNORM));
	EXPECT_EQ(0, si.si_band & (POLLIN | POLLRDNORM));
	EXPECT_EQ(self->fd, si.si_fd);
	EXPECT_EQ(0, take_sig(sig, &si, 0));
}

TEST_F(acc, sigio_reaches_every_async_file_of_the_mailbox)
{
	int s1 = SIGRTMIN + 2, s2 = SIGRTMIN + 3, other;
	siginfo_t si;

	alarm(20);
	other = kt_open(self->name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(other, 0);
	block_sig(s1);
	block_sig(s2);
	ASSERT_EQ(0, make_async(self->rd, getpid(), s1));
	ASSERT_EQ(0, make_async(other, getpid(), s2));
	ASSERT_EQ(1, write(self->wr, "x", 1));
	ASSERT_EQ(1, take_sig(s1, &si, 0));
	EXPECT_EQ(self->rd, si.si_fd);
	EXPECT_EQ(POLL_IN, si.si_code);
	ASSERT_EQ(1, take_sig(s2, &si, 0));
	EXPECT_EQ(other, si.si_fd);
	EXPECT_EQ(POLL_IN, si.si_code);
	close(other);
}

TEST_F(acc, closed_async_file_gets_no_more_signals)
{
	int sig = SIGRTMIN + 2, other;
	siginfo_t si;

	alarm(20);
	other = kt_open(self->name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(other, 0);
	block_sig(sig);
	ASSERT_EQ(0, make_async(other, getpid(), sig));
	close(other);	/* still O_ASYNC */
	ASSERT_EQ(1, write(self->wr, "x", 1));
	EXPECT_EQ(0, take_sig(sig, &si, 0));
	/* and the mailbox is fine */
	EXPECT_EQ(1, kt_cur_msgs(self->rd));
}

TEST_F(blk, sigio_goes_to_the_owner_process)
{
	int sig = SIGRTMIN + 4, fd = self->fd;
	siginfo_t si;
	pid_t pid;

	block_sig(sig);	/* inherited: the helper takes it synchronously */
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(take_sig(sig, &si, 15000) == 1);
		CHILD_ASSERT(si.si_code == POLL_IN && si.si_fd == fd);
		_exit(0);
	}
	ASSERT_EQ(0, make_async(fd, pid, sig));
	ASSERT_EQ(1, write(fd, "o", 1));
	EXPECT_EQ(0, kt_wait(pid));
	/* and not to us */
	EXPECT_EQ(0, take_sig(sig, &si, 0));
}

TEST_HARNESS_MAIN
