// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox synchronous messaging, attacked: what kmbox_sync_test.c shows
 * working, pushed where it breaks.  Threads sharing one file, argument
 * pages read-only or unmapped, receives held half-way by userfaultfd,
 * SIGKILL at every step, fork()ed and REOPENed servers, unprivileged users
 * in fresh namespaces, and a storm with an exactly-once oracle.
 *
 * The window attacks.  A receive takes a message (TAKEN), copies it out
 * and only then commits it.  A receive whose buffer is a userfaultfd page
 * stops in that copy for as long as the test likes, so the test can let a
 * caller's deadline pass, signal or kill the caller, close the server's
 * file or unlink the mailbox inside the window, and then let the copy
 * finish, or fail.  DESIGN.md decides every outcome:
 *  - a caller that gave up (deadline, handled signal) while TAKEN ends
 *    once the receive is decided: ETIMEDOUT/EINTR, and the reply is ENOENT;
 *    if the receive failed, the request is withdrawn, never delivered;
 *  - a killed caller's request may still be received: its token is then
 *    ENOENT;
 *  - a server that dies or closes inside the window fails nobody by
 *    mistake: a request whose receive failed goes back and is answered by
 *    the next server; one that was received gets EPIPE when the file goes.
 *
 * A reply the caller cannot store (its reply buffer read-only or
 * unmapped) is not lost silently: the replier succeeds (the caller had
 * asked for it) and the caller's call fails with EFAULT; the reply is
 * freed.  Nothing is left behind in /proc/kmbox/stats.
 *
 * Every wait is bounded (alarm, deadline, a polled waitpid); tests learn
 * that a peer sleeps from /proc/PID/stat or the mailbox's counters.  No
 * test asserts a time.
 */
#define _GNU_SOURCE
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define MSGSIZE	256

/* ---- helpers ------------------------------------------------------------ */

static long sa_page;

/* Wait until @tid (a thread or process) sleeps, up to @ms. */
static int sa_wait_sleeping(pid_t tid, unsigned int ms)
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
			if (p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D'))
				return 0;
		}
		kt_sleep_ms(2);
	} while (kt_now_ns() < end);
	errno = ETIMEDOUT;
	return -1;
}

static int sa_wait_msgs(int fd, long n, unsigned int ms)
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

/*
 * Wait for @pid for up to @ms: its exit code, 128 + signal, or -1 if it
 * is still running then (it is killed and reaped: a bounded wait).
 */
static int sa_wait_for(pid_t pid, unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);
	int status;
	pid_t r;

	do {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return -1;
		kt_sleep_ms(5);
	} while (kt_now_ns() < end);
	kill(pid, SIGKILL);
	kt_wait(pid);
	errno = ETIMEDOUT;
	return -1;
}

static int sa_reopen(int fd, __u32 flags)
{
	struct kmbox_reopen ro = { .flags = flags | O_CLOEXEC };

	return ioctl(fd, KMBOX_IOC_REOPEN, &ro);
}

static void sa_nop(int sig)
{
	(void)sig;
}

static struct kt_stats sa_before;

static void sa_stats_start(void)
{
	kt_read_stats(&sa_before);
}

/* /proc/kmbox/stats back where it started: nothing left behind. */
static int sa_stats_back(unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);
	struct kt_stats now;

	do {
		if (!kt_read_stats(&now) && now.mailboxes == sa_before.mailboxes &&
		    now.messages == sa_before.messages && now.bytes == sa_before.bytes &&
		    now.zc_slots_held == sa_before.zc_slots_held)
			return 0;
		kt_sleep_ms(5);
	} while (kt_now_ns() < end);
	fprintf(stderr, "# stats: mailboxes %ld->%ld messages %ld->%ld bytes %ld->%ld\n",
		sa_before.mailboxes, now.mailboxes, sa_before.messages, now.messages,
		sa_before.bytes, now.bytes);
	return -1;
}

/* A page mapped, then made read-only (or PROT_NONE): argument attacks. */
static void *sa_page_with(int prot)
{
	void *p = mmap(NULL, sa_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, sa_page);
	if (mprotect(p, sa_page, prot)) {
		munmap(p, sa_page);
		return NULL;
	}
	return p;
}

/* An address with nothing mapped there. */
static void *sa_hole(void)
{
	void *p = sa_page_with(PROT_NONE);

	if (p)
		munmap(p, sa_page);
	return p;
}

/* ---- userfaultfd: hold a copy-out for as long as the test likes -------- */

struct sa_uffd {
	int fd;
	char *area;	/* sa_page bytes, registered MISSING, never touched */
};

/* Return: 0, or -1 with errno (the caller skips: no userfaultfd here). */
static int sa_uffd_open(struct sa_uffd *u)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	u->area = mmap(NULL, sa_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (u->area == MAP_FAILED)
		return -1;
	u->fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->fd < 0)
		return -1;
	reg.range.start = (uintptr_t)u->area;
	reg.range.len = sa_page;
	if (ioctl(u->fd, UFFDIO_API, &api) || ioctl(u->fd, UFFDIO_REGISTER, &reg)) {
		kt_close_keep_errno(u->fd);
		return -1;
	}
	return 0;
}

/* Wait up to @ms for the fault on the area: a copy-out is held now. */
static int sa_uffd_wait_fault(struct sa_uffd *u, unsigned int ms)
{
	struct pollfd pfd = { .fd = u->fd, .events = POLLIN };
	struct uffd_msg m;

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	if (read(u->fd, &m, sizeof(m)) != sizeof(m) || m.event != UFFD_EVENT_PAGEFAULT)
		return -1;
	return 0;
}

/* Let the held copy-out go on: the page appears, filled with zeros. */
static int sa_uffd_resolve(struct sa_uffd *u)
{
	static char zeros[65536];
	struct uffdio_copy cp = {
		.dst = (uintptr_t)u->area, .src = (uintptr_t)zeros, .len = sa_page,
	};

	return ioctl(u->fd, UFFDIO_COPY, &cp);
}

/*
 * Make the held copy-out fail: the page goes away and the fault is woken
 * (explicitly: a child may share the userfaultfd, so closing it here
 * would not).
 */
static void sa_uffd_fail(struct sa_uffd *u)
{
	struct uffdio_range r = { .start = (uintptr_t)u->area, .len = sa_page };

	munmap(u->area, sa_page);
	ioctl(u->fd, UFFDIO_WAKE, &r);
	close(u->fd);
	u->fd = -1;
}

static void sa_uffd_close(struct sa_uffd *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}

/*
 * For the tests whose userfaultfd is opened in a child: the parent learns
 * first whether there is one, instead of waiting for a child that left.
 */
static int sa_uffd_available(void)
{
	struct sa_uffd u;

	if (sa_uffd_open(&u))
		return -1;
	sa_uffd_close(&u);
	munmap(u.area, sa_page);
	return 0;
}

#define SA_REQUIRE_UFFD(u) do {						\
	if (sa_uffd_open(u))						\
		SKIP(return, "no userfaultfd here: %s", strerror(errno));	\
} while (0)

/* A receive in a thread of its own: the one the test holds. */
struct sa_taker {
	pthread_t thread;
	pid_t tid;
	int fd;
	void *buf;
	__u32 len;
	__u32 flags;
	int ret, err;
	__u64 token;
};

static void *sa_taker_main(void *arg)
{
	struct sa_taker *t = arg;

	t->tid = gettid();
	t->ret = kt_take(t->fd, t->buf, t->len, t->flags, &t->token);
	t->err = errno;
	return NULL;
}

static int sa_taker_start(struct sa_taker *t, int fd, void *buf, __u32 len)
{
	memset(&t->tid, 0, sizeof(*t) - offsetof(struct sa_taker, tid));
	t->fd = fd;
	t->buf = buf;
	t->len = len;
	return pthread_create(&t->thread, NULL, sa_taker_main, t);
}

/* A descriptor the callers close: they must not keep a server's file open. */
static int sa_child_close = -1;

/* A caller in a child process: exits 0 if its call ended with @want. */
static pid_t sa_caller(int fd, const char *req, int want, const char *want_reply,
		       __u32 flags, unsigned int deadline_ms, bool handle_usr1)
{
	pid_t pid = kt_fork(60);

	if (pid == 0) {
		char rep[MSGSIZE];
		int ret;

		if (sa_child_close >= 0)
			close(sa_child_close);
		if (handle_usr1)
			CHILD_ASSERT(kt_sigaction(SIGUSR1, sa_nop, 0) == 0);
		ret = kt_call(fd, req, strlen(req), rep, sizeof(rep), flags,
			      deadline_ms ? kt_deadline_ms(deadline_ms) : 0, NULL);
		if (want == 0) {
			CHILD_ASSERT(ret == (int)strlen(want_reply));
			CHILD_ASSERT(!memcmp(rep, want_reply, ret));
		} else {
			CHILD_ASSERT(ret == -1);
			CHILD_ASSERT(errno == want);
		}
		_exit(0);
	}
	return pid;
}

FIXTURE(mb) {
	int fd;		/* anonymous, O_RDWR, blocking, 8 x MSGSIZE */
};

FIXTURE_SETUP(mb)
{
	KT_REQUIRE_MODULE();
	sa_page = sysconf(_SC_PAGESIZE);
	self->fd = kt_anon(O_RDWR, 8, MSGSIZE);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	sa_stats_start();
	alarm(90);
}

FIXTURE_TEARDOWN(mb)
{
	alarm(0);
	if (self->fd >= 0)
		close(self->fd);
}

/* ---- bad input: EINVAL (or the documented errno), and nothing changed --- */

TEST_F(mb, every_unknown_call_flag_and_reserved_field_is_einval_and_queues_nothing)
{
	char rep[8];
	struct kmbox_call c;
	unsigned int bit;

	for (bit = 0; bit < 32; bit++) {
		/* The flags a call knows (KMBOX_F_TAG since tags). */
		if ((1u << bit) & (KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT | KMBOX_F_TAG))
			continue;
		c = (struct kmbox_call){ .req = KT_PTR("x"), .req_len = 1, .reply = KT_PTR(rep),
					 .reply_len = sizeof(rep), .flags = 1u << bit };
		EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
		EXPECT_EQ(EINVAL, errno) TH_LOG("flag bit %u", bit);
	}
	c = (struct kmbox_call){ .req_len = 1, .req = KT_PTR("x"), .__reserved[1] = 1 };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EINVAL, errno);
	c = (struct kmbox_call){ .req_len = 1, .req = KT_PTR("x"), .__reserved[0] = 1ULL << 63 };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EINVAL, errno);
	/* A deadline past KTIME_MAX, and one without KMBOX_F_TIMEOUT. */
	c = (struct kmbox_call){ .flags = KMBOX_F_TIMEOUT, .deadline_ns = 1ULL << 63 };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EINVAL, errno);
	c = (struct kmbox_call){ .flags = KMBOX_F_NONBLOCK, .deadline_ns = 5 };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EINVAL, errno);
	/* Priority out of range, request too long, request unreadable. */
	c = (struct kmbox_call){ .req = KT_PTR("x"), .req_len = 1, .prio = KMBOX_PRIO_MAX };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EINVAL, errno);
	c = (struct kmbox_call){ .req = KT_PTR(rep), .req_len = MSGSIZE + 1 };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EMSGSIZE, errno);
	c = (struct kmbox_call){ .req = KT_PTR(rep), .req_len = 0xffffffffu };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EMSGSIZE, errno);
	c = (struct kmbox_call){ .req = KT_PTR(sa_hole()), .req_len = 16,
				 .flags = KMBOX_F_NONBLOCK };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, &c));
	EXPECT_EQ(EFAULT, errno);
	/* The argument itself unreadable. */
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, sa_hole()));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_CALL, (void *)(1ULL << 63)));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* A bad reply changes nothing: the caller waits on and a good one lands. */
TEST_F(mb, a_bad_reply_changes_nothing_and_the_caller_waits_for_the_good_one)
{
	struct kmbox_reply r;
	char req[MSGSIZE], big[MSGSIZE + 1];
	unsigned int bit;
	__u64 token;
	pid_t pid;

	pid = sa_caller(self->fd, "q", 0, "good", 0, 0, false);
	ASSERT_GE(pid, 0);
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &token));
	ASSERT_NE(0, token);
	for (bit = 0; bit < 32; bit++) {
		r = (struct kmbox_reply){ .token = token, .buf = KT_PTR("bad"), .len = 3,
					  .flags = 1u << bit };
		EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY, &r));
		EXPECT_EQ(EINVAL, errno) TH_LOG("flag bit %u", bit);
	}
	r = (struct kmbox_reply){ .token = token, .buf = KT_PTR("bad"), .len = 3,
				  .__reserved[1] = 1 };
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY, &r));
	EXPECT_EQ(EINVAL, errno);
	/* Unreadable payload, a payload longer than the mailbox takes. */
	EXPECT_EQ(-1, kt_reply(self->fd, token, sa_hole(), 4));
	EXPECT_EQ(EFAULT, errno);
	memset(big, 'b', sizeof(big));
	EXPECT_EQ(-1, kt_reply(self->fd, token, big, sizeof(big)));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(-1, kt_reply(self->fd, token, big, 0xffffffffu));
	EXPECT_EQ(EMSGSIZE, errno);
	/* Neighbouring tokens, token 0, all ones: never issued. */
	EXPECT_EQ(-1, kt_reply(self->fd, token + 1, "bad", 3));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, kt_reply(self->fd, 0, "bad", 3));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, kt_reply(self->fd, ~0ULL, "bad", 3));
	EXPECT_EQ(ENOENT, errno);
	/* The argument unreadable. */
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY, sa_hole()));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, sa_wait_sleeping(pid, 10000));
	EXPECT_EQ(0, kt_reply(self->fd, token, "good", 4));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(-1, kt_reply(self->fd, token, "good", 4));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* A reply buffer of size 0 takes an empty reply, and nothing longer. */
TEST_F(mb, a_call_with_no_reply_room_takes_only_an_empty_reply)
{
	char req[MSGSIZE];
	__u64 token;
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_call(self->fd, "", 0, NULL, 0, 0, 0, NULL) == 0);
		_exit(0);
	}
	ASSERT_EQ(0, kt_take(self->fd, req, sizeof(req), 0, &token));
	EXPECT_EQ(-1, kt_reply(self->fd, token, "x", 1));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(0, kt_reply(self->fd, token, NULL, 0));
	EXPECT_EQ(0, kt_wait(pid));
}

/* A receive whose tokens array cannot be written delivers nothing. */
TEST_F(mb, batch_receive_whose_tokens_cannot_be_written_puts_every_request_back)
{
	struct kmbox_mmsg m[4];
	char bufs[4][MSGSIZE];
	__u64 *ro, tokens[4] = { 0 };
	struct kmbox_batch b = { .msgs = KT_PTR(m), .count = 4, .flags = KMBOX_F_CALLS };
	unsigned int i;
	pid_t pid[2];

	ro = sa_page_with(PROT_READ);
	ASSERT_NE(NULL, ro);
	pid[0] = sa_caller(self->fd, "one", 0, "r-one", 0, 0, false);
	ASSERT_EQ(0, sa_wait_msgs(self->fd, 1, 10000));
	pid[1] = sa_caller(self->fd, "two", 0, "r-two", 0, 0, false);
	ASSERT_EQ(0, sa_wait_msgs(self->fd, 2, 10000));
	for (i = 0; i < 4; i++)
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(bufs[i]), .len = MSGSIZE };
	b.tokens = KT_PTR(ro);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ(EFAULT, errno);
	b.tokens = KT_PTR(sa_hole());
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ(EFAULT, errno);
	/* Both back, in order, and neither caller was told EPIPE. */
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
	EXPECT_EQ(0, waitpid(pid[0], NULL, WNOHANG));
	EXPECT_EQ(0, waitpid(pid[1], NULL, WNOHANG));
	b.tokens = KT_PTR(tokens);
	ASSERT_EQ(2, ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ(0, memcmp(bufs[0], "one", 3));
	EXPECT_EQ(0, memcmp(bufs[1], "two", 3));
	EXPECT_NE(0, tokens[0]);
	EXPECT_NE(0, tokens[1]);
	EXPECT_NE(tokens[0], tokens[1]);
	/* Answered in the other order. */
	EXPECT_EQ(0, kt_reply(self->fd, tokens[1], "r-two", 5));
	EXPECT_EQ(0, kt_reply(self->fd, tokens[0], "r-one", 5));
	EXPECT_EQ(0, kt_wait(pid[0]));
	EXPECT_EQ(0, kt_wait(pid[1]));
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* The receive's own struct read-only: the request goes back, not EPIPE. */
TEST_F(mb, receive_whose_result_cannot_be_written_puts_the_request_back)
{
	struct kmbox_recv *ro;
	char req[MSGSIZE];
	__u64 token;
	pid_t pid;

	ro = sa_page_with(PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, ro);
	pid = sa_caller(self->fd, "ro", 0, "ok", 0, 0, false);
	ASSERT_EQ(0, sa_wait_msgs(self->fd, 1, 10000));
	*ro = (struct kmbox_recv){ .buf = KT_PTR(req), .len = sizeof(req),
				   .flags = KMBOX_F_CALLS };
	ASSERT_EQ(0, mprotect(ro, sa_page, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, ro));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG));
	ASSERT_EQ(2, kt_take(self->fd, req, sizeof(req), 0, &token));
	EXPECT_EQ(0, kt_reply(self->fd, token, "ok", 2));
	EXPECT_EQ(0, kt_wait(pid));
}

/* ---- the caller cannot store its reply --------------------------------- */

/*
 * DESIGN.md: nothing is lost silently.  The replier succeeded (the caller
 * was waiting for exactly that reply); the caller learns it could not
 * store it: EFAULT, and the reply is freed.
 */
TEST_F(mb, a_reply_the_caller_cannot_store_fails_the_call_with_efault)
{
	char req[MSGSIZE];
	__u64 token;
	int round;
	pid_t pid;

	for (round = 0; round < 3; round++) {
		pid = kt_fork(30);
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			void *where = round == 0 ? sa_page_with(PROT_READ) :
				      round == 1 ? sa_hole() : (void *)(1ULL << 63);

			CHILD_ASSERT(where != NULL);
			CHILD_ASSERT(kt_call(self->fd, "f", 1, where, 64, 0, 0, NULL) == -1);
			CHILD_ASSERT(errno == EFAULT);
			_exit(0);
		}
		ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &token));
		EXPECT_EQ(0, kt_reply(self->fd, token, "lost?", 5)) TH_LOG("round %d", round);
		EXPECT_EQ(0, kt_wait(pid)) TH_LOG("round %d", round);
		EXPECT_EQ(-1, kt_reply(self->fd, token, "again", 5));
		EXPECT_EQ(ENOENT, errno);
	}
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* The call struct read-only: the reply lands in the buffer, then EFAULT. */
TEST_F(mb, a_call_struct_that_cannot_be_written_back_is_efault_after_the_reply)
{
	char req[MSGSIZE];
	__u64 token;
	pid_t pid;

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		static char rep[64];
		struct kmbox_call *c = sa_page_with(PROT_READ | PROT_WRITE);

		CHILD_ASSERT(c != NULL);
		*c = (struct kmbox_call){ .req = KT_PTR("s"), .req_len = 1, .reply = KT_PTR(rep),
					  .reply_len = sizeof(rep) };
		CHILD_ASSERT(mprotect(c, sa_page, PROT_READ) == 0);
		CHILD_ASSERT(ioctl(self->fd, KMBOX_IOC_CALL, c) == -1);
		CHILD_ASSERT(errno == EFAULT);
		CHILD_ASSERT(!memcmp(rep, "stored", 6));
		_exit(0);
	}
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &token));
	EXPECT_EQ(0, kt_reply(self->fd, token, "stored", 6));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* ---- threads sharing one file ------------------------------------------ */

#define RACE_ROUNDS	200

struct sa_racer {
	int fd;
	_Atomic __u64 *token;
	_Atomic int *go;
	int wins, enoent, other;
	int round;
};

static void *sa_racer_main(void *arg)
{
	struct sa_racer *r = arg;
	int seen = 0;

	for (;;) {
		__u64 t;

		while (atomic_load(r->go) == seen)
			sched_yield();
		seen = atomic_load(r->go);
		if (seen < 0)
			return NULL;
		t = atomic_load(r->token);
		if (!kt_reply(r->fd, t, "won", 3))
			r->wins++;
		else if (errno == ENOENT)
			r->enoent++;
		else
			r->other++;
	}
}

TEST_F(mb, two_threads_answering_one_token_exactly_one_wins)
{
	_Atomic __u64 token = 0;
	_Atomic int go = 0;
	struct sa_racer r[2] = {
		{ .fd = self->fd, .token = &token, .go = &go },
		{ .fd = self->fd, .token = &token, .go = &go },
	};
	pthread_t th[2];
	char req[MSGSIZE];
	int i, wins = 0;
	pid_t pid;

	pid = kt_fork(80);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char rep[8];

		for (i = 0; i < RACE_ROUNDS; i++) {
			CHILD_ASSERT(kt_call(self->fd, "r", 1, rep, sizeof(rep), 0, 0, NULL) == 3);
			CHILD_ASSERT(!memcmp(rep, "won", 3));
		}
		_exit(0);
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, sa_racer_main, &r[i]));
	for (i = 0; i < RACE_ROUNDS; i++) {
		__u64 t;
		int before = r[0].wins + r[1].wins + r[0].enoent + r[1].enoent + r[0].other +
			     r[1].other;

		ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &t));
		atomic_store(&token, t);
		atomic_store(&go, i + 1);
		/* Both tried before the next round. */
		while (r[0].wins + r[1].wins + r[0].enoent + r[1].enoent + r[0].other +
		       r[1].other < before + 2)
			sched_yield();
	}
	atomic_store(&go, -1);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	wins = r[0].wins + r[1].wins;
	EXPECT_EQ(RACE_ROUNDS, wins);
	EXPECT_EQ(RACE_ROUNDS, r[0].enoent + r[1].enoent);
	EXPECT_EQ(0, r[0].other + r[1].other);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* ---- dup, fork, REOPEN -------------------------------------------------- */

TEST_F(mb, a_token_works_through_dup_and_fork_and_not_through_reopen)
{
	char req[MSGSIZE];
	int dupfd, other;
	__u64 token;
	pid_t pid, helper;

	dupfd = dup(self->fd);
	ASSERT_GE(dupfd, 0);
	other = sa_reopen(self->fd, O_RDWR);
	ASSERT_GE(other, 0);

	/* dup(): the same file. */
	pid = sa_caller(other, "via dup", 0, "dup", 0, 0, false);
	ASSERT_EQ(7, kt_take(self->fd, req, sizeof(req), 0, &token));
	EXPECT_EQ(-1, kt_reply(other, token, "reo", 3));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, kt_reply(dupfd, token, "dup", 3));
	EXPECT_EQ(0, kt_wait(pid));

	/* A child sharing the file answers what the parent received. */
	pid = sa_caller(other, "via fork", 0, "child", 0, 0, false);
	ASSERT_EQ(8, kt_take(self->fd, req, sizeof(req), 0, &token));
	helper = kt_fork(30);
	ASSERT_GE(helper, 0);
	if (helper == 0) {
		CHILD_ASSERT(kt_reply(self->fd, token, "child", 5) == 0);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(helper));
	EXPECT_EQ(0, kt_wait(pid));

	/* Received on the REOPENed file: only that file answers it. */
	pid = sa_caller(self->fd, "via reopen", 0, "reopen", 0, 0, false);
	ASSERT_EQ(10, kt_take(other, req, sizeof(req), 0, &token));
	EXPECT_EQ(-1, kt_reply(self->fd, token, "nope", 4));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, kt_reply(dupfd, token, "nope", 4));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, kt_reply(other, token, "reopen", 6));
	EXPECT_EQ(0, kt_wait(pid));
	close(other);
	close(dupfd);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/*
 * Servers fork()ed from one another share the file: a server that exits
 * with an unanswered request fails nobody while a sibling keeps the file
 * open (the sibling answers); the last close fails the callers with EPIPE.
 */
TEST_F(mb, forked_servers_share_their_requests_until_the_last_one_closes)
{
	int pfd[2], srv;
	char req[MSGSIZE];
	__u64 token;
	pid_t caller, child;

	ASSERT_EQ(0, pipe(pfd));
	srv = sa_reopen(self->fd, O_RDONLY);
	ASSERT_GE(srv, 0);
	sa_child_close = srv;
	caller = sa_caller(self->fd, "shared", 0, "sibling", 0, 0, false);
	child = kt_fork(30);
	ASSERT_GE(child, 0);
	if (child == 0) {
		CHILD_ASSERT(kt_take(srv, req, sizeof(req), 0, &token) == 6);
		CHILD_ASSERT(write(pfd[1], &token, sizeof(token)) == sizeof(token));
		_exit(0);	/* without answering */
	}
	EXPECT_EQ(0, kt_wait(child));
	ASSERT_EQ(sizeof(token), read(pfd[0], &token, sizeof(token)));
	/* The caller still waits: the file is open here. */
	EXPECT_EQ(0, sa_wait_sleeping(caller, 10000));
	EXPECT_EQ(0, waitpid(caller, NULL, WNOHANG));
	EXPECT_EQ(0, kt_reply(srv, token, "sibling", 7));
	EXPECT_EQ(0, kt_wait(caller));

	/* Now nobody answers: the last close is EPIPE. */
	caller = sa_caller(self->fd, "orphan", EPIPE, NULL, 0, 0, false);
	child = kt_fork(30);
	ASSERT_GE(child, 0);
	if (child == 0) {
		CHILD_ASSERT(kt_take(srv, req, sizeof(req), 0, &token) == 6);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(child));
	EXPECT_EQ(0, sa_wait_sleeping(caller, 10000));
	EXPECT_EQ(0, waitpid(caller, NULL, WNOHANG));
	close(srv);
	EXPECT_EQ(0, sa_wait_for(caller, 10000));
	close(pfd[0]);
	close(pfd[1]);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* ---- the TAKEN window, held open with userfaultfd ---------------------- */

/* Hold a receive of @fd in the copy-out of the request; 0 when held. */
static int sa_hold_receive(struct sa_taker *t, struct sa_uffd *u, int fd)
{
	if (sa_taker_start(t, fd, u->area, MSGSIZE))
		return -1;
	return sa_uffd_wait_fault(u, 10000);
}

TEST_F(mb, caller_killed_while_its_request_is_being_received_leaves_an_enoent_token)
{
	struct sa_taker t;
	struct sa_uffd u;
	pid_t caller;

	SA_REQUIRE_UFFD(&u);
	caller = sa_caller(self->fd, "killed", 0, "never", 0, 0, false);
	ASSERT_EQ(0, sa_hold_receive(&t, &u, self->fd));
	ASSERT_EQ(0, sa_wait_sleeping(caller, 10000));
	kill(caller, SIGKILL);
	/* The killed caller leaves at once, whatever the receive does. */
	EXPECT_EQ(128 + SIGKILL, sa_wait_for(caller, 10000));
	ASSERT_EQ(0, sa_uffd_resolve(&u));
	pthread_join(t.thread, NULL);
	/* The request was received (as an ordinary message now or not). */
	EXPECT_EQ(6, t.ret) TH_LOG("receive: %s", strerror(t.err));
	if (t.token) {
		EXPECT_EQ(-1, kt_reply(self->fd, t.token, "late", 4));
		EXPECT_EQ(ENOENT, errno);
	}
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	sa_uffd_close(&u);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* Also: the kill, then the receive fails: the request is not delivered twice. */
TEST_F(mb, caller_killed_then_the_receive_fails_delivers_the_request_at_most_once)
{
	char req[MSGSIZE];
	struct sa_taker t;
	struct sa_uffd u;
	pid_t caller;
	int n;

	SA_REQUIRE_UFFD(&u);
	caller = sa_caller(self->fd, "twice?", 0, "never", 0, 0, false);
	ASSERT_EQ(0, sa_hold_receive(&t, &u, self->fd));
	ASSERT_EQ(0, sa_wait_sleeping(caller, 10000));
	kill(caller, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, sa_wait_for(caller, 10000));
	sa_uffd_fail(&u);
	pthread_join(t.thread, NULL);
	EXPECT_EQ(-1, t.ret);
	EXPECT_EQ(EFAULT, t.err);
	/* Withdrawn or requeued: at most one more receive sees it. */
	n = kt_recv(self->fd, req, sizeof(req), KMBOX_F_NONBLOCK, 0, NULL);
	if (n >= 0)
		EXPECT_EQ(0, memcmp(req, "twice?", 6));
	EXPECT_EQ(-1, kt_recv(self->fd, req, sizeof(req), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/*
 * The caller's deadline passes, or a handled signal comes, while its
 * request is TAKEN.  Once the receive has returned it, the caller has
 * given up on a request received: ETIMEDOUT / EINTR at once, not when
 * the server answers or closes; the reply is then ENOENT.
 */
static void sa_give_up_while_taken(struct __test_metadata *_metadata, int fd, bool by_signal)
{
	struct sa_taker t;
	struct sa_uffd u;
	pid_t caller;
	int rc;

	SA_REQUIRE_UFFD(&u);
	caller = sa_caller(fd, "window", by_signal ? EINTR : ETIMEDOUT, NULL,
			   by_signal ? 0 : KMBOX_F_TIMEOUT, by_signal ? 0 : 300, by_signal);
	ASSERT_EQ(0, sa_hold_receive(&t, &u, fd));
	ASSERT_EQ(0, sa_wait_sleeping(caller, 10000));
	if (by_signal)
		kill(caller, SIGUSR1);
	else
		kt_sleep_ms(400);	/* the deadline passes (not asserted) */
	/* The caller may not leave yet: the receive may still fail. */
	EXPECT_EQ(0, waitpid(caller, NULL, WNOHANG));
	ASSERT_EQ(0, sa_uffd_resolve(&u));
	pthread_join(t.thread, NULL);
	EXPECT_EQ(6, t.ret) TH_LOG("receive: %s", strerror(t.err));
	/* Received, and nobody answers: the caller must end by itself. */
	rc = sa_wait_for(caller, 10000);
	EXPECT_EQ(0, rc) TH_LOG("the caller %s", rc < 0 ? "still slept 10 s after the receive" :
				 "ended another way");
	EXPECT_EQ(-1, kt_reply(fd, t.token, "late", 4));
	EXPECT_EQ(ENOENT, errno);
	sa_uffd_close(&u);
	EXPECT_EQ(0, sa_stats_back(2000));
}

TEST_F(mb, caller_deadline_inside_the_receive_window_ends_the_call_once_received)
{
	sa_give_up_while_taken(_metadata, self->fd, false);
}

TEST_F(mb, caller_signal_inside_the_receive_window_ends_the_call_once_received)
{
	sa_give_up_while_taken(_metadata, self->fd, true);
}

/* Deadline inside the window, then the receive fails: withdrawn, never delivered. */
TEST_F(mb, caller_deadline_inside_the_window_then_a_failed_receive_withdraws_it)
{
	char req[MSGSIZE];
	struct sa_taker t;
	struct sa_uffd u;
	pid_t caller;

	SA_REQUIRE_UFFD(&u);
	caller = sa_caller(self->fd, "withdrawn", ETIMEDOUT, NULL, KMBOX_F_TIMEOUT, 300, false);
	ASSERT_EQ(0, sa_hold_receive(&t, &u, self->fd));
	ASSERT_EQ(0, sa_wait_sleeping(caller, 10000));
	kt_sleep_ms(400);
	EXPECT_EQ(0, waitpid(caller, NULL, WNOHANG));
	sa_uffd_fail(&u);
	pthread_join(t.thread, NULL);
	EXPECT_EQ(-1, t.ret);
	EXPECT_EQ(EFAULT, t.err);
	EXPECT_EQ(0, sa_wait_for(caller, 10000));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	EXPECT_EQ(-1, kt_recv(self->fd, req, sizeof(req), KMBOX_F_NONBLOCK | KMBOX_F_CALLS, 0,
			      NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/*
 * The same for a synchronous send: deadline inside the window, receive
 * returns it: success (it was received); receive fails: ETIMEDOUT and
 * withdrawn.
 */
TEST_F(mb, sync_sender_deadline_inside_the_window_follows_the_receive)
{
	char req[MSGSIZE];
	struct sa_taker t;
	struct sa_uffd u;
	int round;
	pid_t pid;

	for (round = 0; round < 2; round++) {
		SA_REQUIRE_UFFD(&u);
		pid = kt_fork(30);
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			int ret = kt_send(self->fd, "sync", 4, 0, KMBOX_F_SYNC | KMBOX_F_TIMEOUT,
					  kt_deadline_ms(300));

			if (round == 0)
				CHILD_ASSERT(ret == 0);
			else
				CHILD_ASSERT(ret == -1 && errno == ETIMEDOUT);
			_exit(0);
		}
		ASSERT_EQ(0, sa_hold_receive(&t, &u, self->fd));
		kt_sleep_ms(400);
		EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG));
		if (round == 0) {
			ASSERT_EQ(0, sa_uffd_resolve(&u));
			sa_uffd_close(&u);
		} else {
			sa_uffd_fail(&u);
		}
		pthread_join(t.thread, NULL);
		EXPECT_EQ(round == 0 ? 4 : -1, t.ret);
		EXPECT_EQ(0, t.token);
		EXPECT_EQ(0, sa_wait_for(pid, 10000)) TH_LOG("round %d", round);
		EXPECT_EQ(-1, kt_recv(self->fd, req, sizeof(req), KMBOX_F_NONBLOCK, 0, NULL));
		EXPECT_EQ(EAGAIN, errno);
	}
	EXPECT_EQ(0, sa_stats_back(2000));
}

/*
 * Another thread closes the server's file while its receive is held: the
 * receive completes (it holds the file), and when it returns the file
 * goes, holding the unanswered request: the caller gets EPIPE.
 */
TEST_F(mb, server_file_closed_by_another_thread_inside_the_window_is_epipe)
{
	struct sa_taker t;
	struct sa_uffd u;
	pid_t caller;
	int srv;

	SA_REQUIRE_UFFD(&u);
	srv = sa_reopen(self->fd, O_RDONLY);
	ASSERT_GE(srv, 0);
	sa_child_close = srv;
	caller = sa_caller(self->fd, "closed", EPIPE, NULL, 0, 0, false);
	ASSERT_EQ(0, sa_hold_receive(&t, &u, srv));
	EXPECT_EQ(0, close(srv));
	ASSERT_EQ(0, sa_uffd_resolve(&u));
	pthread_join(t.thread, NULL);
	EXPECT_EQ(6, t.ret) TH_LOG("receive: %s", strerror(t.err));
	EXPECT_NE(0, t.token);
	EXPECT_EQ(0, sa_wait_for(caller, 10000));
	EXPECT_EQ(-1, kt_reply(self->fd, t.token, "x", 1));
	EXPECT_EQ(ENOENT, errno);
	sa_uffd_close(&u);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* The mailbox is unlinked inside the window: nothing changes for the call. */
TEST(mailbox_unlinked_inside_the_window_still_answers_the_call)
{
	char name[64];
	struct sa_taker t;
	struct sa_uffd u;
	pid_t caller;
	int fd;

	KT_REQUIRE_MODULE();
	sa_page = sysconf(_SC_PAGESIZE);
	alarm(60);
	SA_REQUIRE_UFFD(&u);
	kt_name(name, sizeof(name), "unl");
	fd = kt_create(name, O_RDWR, 0600, 4, MSGSIZE);
	ASSERT_GE(fd, 0);
	caller = sa_caller(fd, "unlink", 0, "still here", 0, 0, false);
	ASSERT_EQ(0, sa_hold_receive(&t, &u, fd));
	EXPECT_EQ(0, kt_unlink(name));
	ASSERT_EQ(0, sa_uffd_resolve(&u));
	pthread_join(t.thread, NULL);
	EXPECT_EQ(6, t.ret);
	EXPECT_EQ(0, kt_reply(fd, t.token, "still here", 10));
	EXPECT_EQ(0, sa_wait_for(caller, 10000));
	sa_uffd_close(&u);
	close(fd);
}

/*
 * The server is SIGKILLed inside the window: its receive fails, the
 * request goes back (the caller is not told EPIPE: nobody received it),
 * and the next server answers it.
 */
TEST_F(mb, server_killed_inside_the_window_hands_the_request_to_the_next_server)
{
	char req[MSGSIZE];
	int ready[2];
	__u64 token;
	pid_t caller, server;
	char c;

	if (sa_uffd_available())
		SKIP(return, "no userfaultfd here: %s", strerror(errno));
	ASSERT_EQ(0, pipe(ready));
	caller = sa_caller(self->fd, "again", 0, "second server", 0, 0, false);
	server = kt_fork(30);
	ASSERT_GE(server, 0);
	if (server == 0) {
		struct sa_taker t;
		struct sa_uffd u;

		if (sa_uffd_open(&u))
			_exit(4);
		CHILD_ASSERT(sa_hold_receive(&t, &u, self->fd) == 0);
		CHILD_ASSERT(write(ready[1], "h", 1) == 1);
		pause();
		_exit(1);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1)) TH_LOG("the server could not hold its receive");
	kill(server, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(server));
	EXPECT_EQ(0, waitpid(caller, NULL, WNOHANG));
	ASSERT_EQ(5, kt_take(self->fd, req, sizeof(req), 0, &token));
	EXPECT_EQ(0, memcmp(req, "again", 5));
	EXPECT_EQ(0, kt_reply(self->fd, token, "second server", 13));
	EXPECT_EQ(0, sa_wait_for(caller, 10000));
	close(ready[0]);
	close(ready[1]);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* The caller is killed while its own reply copy-out is held: nothing leaks. */
struct sa_reply_caller {
	int fd;
	void *rep;
	int ret;
};

static void *sa_reply_caller_main(void *arg)
{
	struct sa_reply_caller *rc = arg;

	rc->ret = kt_call(rc->fd, "copy", 4, rc->rep, MSGSIZE, 0, 0, NULL);
	return NULL;
}

TEST_F(mb, caller_killed_while_copying_its_reply_out_leaks_nothing)
{
	char req[MSGSIZE], c;
	int ready[2];
	__u64 token;
	pid_t caller;

	if (sa_uffd_available())
		SKIP(return, "no userfaultfd here: %s", strerror(errno));
	ASSERT_EQ(0, pipe(ready));
	caller = kt_fork(30);
	ASSERT_GE(caller, 0);
	if (caller == 0) {
		struct sa_reply_caller rc = { .fd = self->fd };
		struct sa_uffd u;
		pthread_t th;

		if (sa_uffd_open(&u))
			_exit(4);
		rc.rep = u.area;
		CHILD_ASSERT(pthread_create(&th, NULL, sa_reply_caller_main, &rc) == 0);
		CHILD_ASSERT(sa_uffd_wait_fault(&u, 20000) == 0);
		CHILD_ASSERT(write(ready[1], "h", 1) == 1);
		pause();
		_exit(1);
	}
	ASSERT_EQ(4, kt_take(self->fd, req, sizeof(req), 0, &token));
	EXPECT_EQ(0, kt_reply(self->fd, token, "the reply", 9));
	ASSERT_EQ(1, read(ready[0], &c, 1)) TH_LOG("the caller could not hold its copy-out");
	kill(caller, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(caller));
	EXPECT_EQ(-1, kt_reply(self->fd, token, "again", 5));
	EXPECT_EQ(ENOENT, errno);
	close(ready[0]);
	close(ready[1]);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* ---- rendezvous --------------------------------------------------------- */

/* An anonymous mailbox, with a region of @zc_slots slots if not 0. */
static int sa_anon(int oflags, __u32 max_msgs, __u32 zc_slots, __u32 attr_flags)
{
	struct kmbox_attr a;
	int fd = kt_dev(oflags);

	if (fd < 0)
		return -1;
	kt_attr_init(&a, max_msgs, zc_slots ? 0 : MSGSIZE);
	a.flags = attr_flags;
	if (zc_slots) {
		a.zc_slots = zc_slots;
		a.zc_slot_size = MSGSIZE;
	}
	if (kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0600, &a)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static int sa_rendezvous(int oflags, __u32 max_msgs, __u32 zc_slots)
{
	return sa_anon(oflags, max_msgs, zc_slots, KMBOX_ATTR_RENDEZVOUS);
}

struct sa_batcher {
	int fd;
	__u32 flags;	/* more flags: KMBOX_F_CALLS */
	int ret, err;
	char bufs[4][MSGSIZE];
	__u64 tokens[4];
};

static void *sa_batcher_main(void *arg)
{
	struct sa_batcher *b = arg;
	struct kmbox_mmsg m[4];
	struct kmbox_batch bt = {
		.msgs = KT_PTR(m), .count = 4, .flags = KMBOX_F_TIMEOUT,
		.deadline_ns = kt_deadline_ms(10000),
	};
	unsigned int i;

	bt.flags |= b->flags;
	if (b->flags & KMBOX_F_CALLS)
		bt.tokens = KT_PTR(b->tokens);
	for (i = 0; i < 4; i++)
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(b->bufs[i]), .len = MSGSIZE };
	b->ret = ioctl(b->fd, KMBOX_IOC_RECV_BATCH, &bt);
	b->err = errno;
	return NULL;
}

/*
 * A receiver waiting in a batch receive is a waiting receiver: the
 * mailbox polls EPOLLOUT for it, so a non-blocking synchronous send (and
 * any non-blocking send to a rendezvous mailbox) must go to it, not fail
 * with EAGAIN: an event loop that waits for EPOLLOUT and then sends would
 * spin for ever.
 */
TEST(nonblocking_sync_send_goes_to_a_receiver_waiting_in_a_batch_receive)
{
	struct sa_batcher b;
	pthread_t th;
	int round, fd;

	KT_REQUIRE_MODULE();
	alarm(60);
	for (round = 0; round < 4; round++) {
		struct pollfd pfd;
		pid_t caller = 0;

		fd = round == 0 || round == 3 ? sa_rendezvous(O_RDWR, 4, 0) :
		     kt_anon(O_RDWR, 4, MSGSIZE);
		ASSERT_GE(fd, 0);
		memset(&b, 0, sizeof(b));
		b.fd = fd;
		b.flags = round == 3 ? KMBOX_F_CALLS : 0;
		ASSERT_EQ(0, pthread_create(&th, NULL, sa_batcher_main, &b));
		ASSERT_EQ(0, kt_wait_waiters(fd, 1, 0, 10000));
		if (round == 0) {
			pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
			EXPECT_EQ(1, poll(&pfd, 1, 0));
			/* write() with O_NONBLOCK, as an event loop would. */
			fcntl(fd, F_SETFL, O_NONBLOCK);
			EXPECT_EQ(5, write(fd, "batch", 5)) TH_LOG("write: %s", strerror(errno));
		} else if (round == 1) {
			EXPECT_EQ(0, kt_send(fd, "batch", 5, 0, KMBOX_F_SYNC | KMBOX_F_NONBLOCK, 0))
				TH_LOG("send: %s", strerror(errno));
		} else if (round == 2) {
			EXPECT_EQ(0, kmbox_send_sync(fd, "batch", 5, 0, NULL));
		} else {
			/* A non-blocking call, to a server receiving calls in batches. */
			caller = sa_caller(fd, "batch", 0, "answer", KMBOX_F_NONBLOCK, 0, false);
		}
		pthread_join(th, NULL);
		if (caller) {
			EXPECT_NE(0, b.tokens[0]);
			EXPECT_EQ(0, kt_reply(fd, b.tokens[0], "answer", 6));
			EXPECT_EQ(0, sa_wait_for(caller, 10000));
		}
		EXPECT_EQ(1, b.ret) TH_LOG("round %d: batch receive: %s", round, strerror(b.err));
		EXPECT_EQ(0, memcmp(b.bufs[0], "batch", 5));
		EXPECT_EQ(0, kt_cur_msgs(fd));
		close(fd);
	}
}

/* Edge-triggered epoll on a rendezvous mailbox sees both peers arrive. */
TEST(rendezvous_epoll_edge_triggered_sees_receivers_and_callers_arrive)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
	struct sa_batcher b = { 0 };
	char req[MSGSIZE];
	pthread_t th;
	__u64 token;
	pid_t caller;
	int fd, ep;

	KT_REQUIRE_MODULE();
	sa_page = sysconf(_SC_PAGESIZE);
	alarm(60);
	fd = sa_rendezvous(O_RDWR, 4, 0);
	ASSERT_GE(fd, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(ep, 0);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	/* A receiver arrives: EPOLLOUT, once. */
	b.fd = fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, sa_batcher_main, &b));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 10000));
	EXPECT_TRUE(ev.events & EPOLLOUT);
	EXPECT_FALSE(ev.events & EPOLLIN);
	EXPECT_EQ(0, kmbox_send_sync(fd, "et", 2, 0, NULL));
	pthread_join(th, NULL);
	EXPECT_EQ(1, b.ret);
	/* Nobody waits now: what the exchange left is not reported. */
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	/* A caller arrives: EPOLLIN. */
	caller = sa_caller(fd, "rdv call", 0, "rdv reply", 0, 0, false);
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 10000));
	EXPECT_TRUE(ev.events & EPOLLIN);
	EXPECT_EQ(1, kt_cur_msgs(fd));
	ASSERT_EQ(8, kt_take(fd, req, sizeof(req), KMBOX_F_NONBLOCK, &token));
	EXPECT_EQ(0, kt_cur_msgs(fd));
	EXPECT_EQ(0, kt_reply(fd, token, "rdv reply", 9));
	EXPECT_EQ(0, kt_wait(caller));
	/* Nobody waits now: nothing to report, and nothing to take. */
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(-1, kt_recv(fd, req, sizeof(req), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	close(ep);
	close(fd);
}

/* A zero-copy sender killed while it waits gives its slot back. */
TEST(rendezvous_zero_copy_sender_killed_while_waiting_gives_its_slot_back)
{
	struct kmbox_attr a;
	pid_t pid;
	int fd;

	KT_REQUIRE_MODULE();
	alarm(60);
	sa_stats_start();
	fd = sa_rendezvous(O_RDWR, 4, 4);
	ASSERT_GE(fd, 0);
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		__u32 slot;
		struct kmbox_slots s = { .slots = KT_PTR(&slot), .count = 1 };
		struct kmbox_send snd = { .len = 8, .flags = KMBOX_F_ZC };
		/* A file of its own: a withdrawn slot goes back to its sender. */
		int own = sa_reopen(fd, O_RDWR);

		CHILD_ASSERT(own >= 0);
		CHILD_ASSERT(ioctl(own, KMBOX_IOC_ZC_RESERVE, &s) == 1);
		snd.slot = slot;
		ioctl(own, KMBOX_IOC_SEND, &snd);
		_exit(1);
	}
	ASSERT_EQ(0, sa_wait_msgs(fd, 1, 10000));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(3, a.zc_free);
	ASSERT_EQ(0, sa_wait_sleeping(pid, 10000));
	kill(pid, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.cur_msgs);
	EXPECT_EQ(4, a.zc_free);
	EXPECT_EQ(0, a.zc_held);
	close(fd);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/*
 * A non-blocking synchronous send goes only to a receiver that waits
 * already.  If that receive then fails (its buffer cannot be written),
 * the message is back in the queue and nobody waits for it: the send must
 * not sleep on as if it had blocked, but withdraw the message and fail
 * with EAGAIN, and a zero-copy one's slot is the sender's again.  On an
 * ordinary and a rendezvous mailbox, copied and zero-copy.
 */
TEST(nonblocking_sync_send_whose_receiver_faults_is_eagain_and_withdrawn)
{
	static const char *const names[] = {
		"copied", "copied, rendezvous", "zero-copy", "zero-copy, rendezvous",
	};
	void *ro;
	int v;

	KT_REQUIRE_MODULE();
	alarm(120);
	sa_page = sysconf(_SC_PAGESIZE);
	/* Read-only, and kept mapped: a hole could get a thread's stack. */
	ro = sa_page_with(PROT_READ);
	ASSERT_NE(NULL, ro);
	sa_stats_start();
	for (v = 0; v < 4; v++) {
		bool zc = v & 2;
		struct sa_taker t;
		char buf[MSGSIZE];
		pid_t pid;
		int fd;

		fd = sa_anon(O_RDWR, 4, zc ? 2 : 0, v & 1 ? KMBOX_ATTR_RENDEZVOUS : 0);
		ASSERT_GE(fd, 0) TH_LOG("%s: %s", names[v], strerror(errno));
		ASSERT_EQ(0, sa_taker_start(&t, fd, ro, MSGSIZE));
		ASSERT_EQ(0, kt_wait_waiters(fd, 1, 0, 10000));
		pid = kt_fork(30);
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			struct kmbox_send snd = {
				.buf = KT_PTR("abc"), .len = 3,
				.flags = KMBOX_F_SYNC | KMBOX_F_NONBLOCK,
			};
			struct kmbox_attr a;
			__u32 slot;

			if (zc) {
				struct kmbox_slots rs = { .slots = KT_PTR(&slot), .count = 1 };

				CHILD_ASSERT(ioctl(fd, KMBOX_IOC_ZC_RESERVE, &rs) == 1);
				snd.buf = 0;
				snd.flags |= KMBOX_F_ZC;
				snd.slot = slot;
			}
			CHILD_ASSERT(ioctl(fd, KMBOX_IOC_SEND, &snd) == -1 && errno == EAGAIN);
			if (zc) {
				struct kmbox_slots rel = { .slots = KT_PTR(&slot), .count = 1 };

				CHILD_ASSERT(kt_getattr(fd, &a) == 0 && a.zc_held == 1);
				CHILD_ASSERT(ioctl(fd, KMBOX_IOC_ZC_RELEASE, &rel) == 0);
			}
			_exit(0);
		}
		pthread_join(t.thread, NULL);
		EXPECT_EQ(-1, t.ret) TH_LOG("%s", names[v]);
		EXPECT_EQ(EFAULT, t.err) TH_LOG("%s", names[v]);
		/* Still asleep after 5 s: it is killed, and that fails the test. */
		EXPECT_EQ(0, sa_wait_for(pid, 5000))
			TH_LOG("%s: the non-blocking sender did not return EAGAIN", names[v]);
		EXPECT_EQ(0, kt_cur_msgs(fd)) TH_LOG("%s", names[v]);
		EXPECT_EQ(-1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
		EXPECT_EQ(EAGAIN, errno) TH_LOG("%s: the withdrawn message was delivered", names[v]);
		close(fd);
	}
	munmap(ro, sa_page);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/* ---- SIGKILL at every step, unprivileged, in fresh namespaces ----------- */

enum { KS_QUEUED, KS_PENDING, KS_SERVER_PENDING, KS_BOTH, KS_RDV_SENDER, KS_STEPS };

static const char *const ks_names[] = {
	"caller killed while queued", "caller killed while pending",
	"server killed holding the request", "both killed while pending",
	"rendezvous sender killed while waiting",
};

static int sa_kill_step(int step)
{
	char name[64], req[MSGSIZE];
	int fd, srvfd, rdv;
	pid_t caller, server;
	int ready[2];
	__u64 token;
	char c;

	kt_name(name, sizeof(name), "ks");
	fd = kt_create(name, O_RDWR, 0600, 4, MSGSIZE);
	if (fd < 0 || pipe(ready))
		return 10;
	switch (step) {
	case KS_QUEUED:
		caller = sa_caller(fd, "q", 0, "never", 0, 0, false);
		if (sa_wait_msgs(fd, 1, 10000))
			return 11;
		kill(caller, SIGKILL);
		if (kt_wait(caller) != 128 + SIGKILL || kt_cur_msgs(fd) != 0)
			return 12;
		break;
	case KS_PENDING:
		caller = sa_caller(fd, "p", 0, "never", 0, 0, false);
		if (kt_take(fd, req, sizeof(req), 0, &token) != 1 ||
		    sa_wait_sleeping(caller, 10000))
			return 13;
		kill(caller, SIGKILL);
		if (kt_wait(caller) != 128 + SIGKILL)
			return 14;
		if (kt_reply(fd, token, "late", 4) != -1 || errno != ENOENT)
			return 15;
		break;
	case KS_SERVER_PENDING:
	case KS_BOTH:
		caller = sa_caller(fd, "s", EPIPE, NULL, 0, 0, false);
		server = kt_fork(30);
		if (server == 0) {
			srvfd = kt_open(name, O_RDONLY, 0, 0, 0, 0);
			CHILD_ASSERT(srvfd >= 0);
			CHILD_ASSERT(kt_take(srvfd, req, sizeof(req), 0, &token) == 1);
			CHILD_ASSERT(write(ready[1], "t", 1) == 1);
			pause();
			_exit(1);
		}
		if (read(ready[0], &c, 1) != 1 || sa_wait_sleeping(caller, 10000))
			return 16;
		if (step == KS_BOTH)
			kill(caller, SIGKILL);
		kill(server, SIGKILL);
		kt_wait(server);
		if (step == KS_BOTH) {
			if (kt_wait(caller) != 128 + SIGKILL)
				return 17;
		} else if (sa_wait_for(caller, 10000) != 0) {
			return 18;	/* EPIPE, at once */
		}
		break;
	case KS_RDV_SENDER:
		rdv = sa_rendezvous(O_RDWR, 4, 0);
		if (rdv < 0)
			return 19;
		caller = kt_fork(30);
		if (caller == 0) {
			kmbox_send_sync(rdv, "gone", 4, 0, NULL);
			_exit(1);
		}
		if (sa_wait_msgs(rdv, 1, 10000))
			return 20;
		kill(caller, SIGKILL);
		if (kt_wait(caller) != 128 + SIGKILL || kt_cur_msgs(rdv) != 0)
			return 21;
		if (kt_recv(rdv, req, sizeof(req), KMBOX_F_NONBLOCK, 0, NULL) != -1 ||
		    errno != EAGAIN)
			return 22;
		close(rdv);
		break;
	}
	if (kt_cur_msgs(fd) != 0)
		return 23;
	close(fd);
	close(ready[0]);
	close(ready[1]);
	return kt_unlink(name) ? 24 : 0;
}

TEST(sigkill_at_every_step_as_an_unprivileged_user_leaves_nothing_behind)
{
	int step, rc;
	pid_t pid;

	KT_REQUIRE_MODULE();
	sa_page = sysconf(_SC_PAGESIZE);
	alarm(120);
	sa_stats_start();
	for (step = 0; step < KS_STEPS; step++) {
		pid = kt_fork(60);
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			CHILD_ASSERT(kt_become(1000, 1000) == 0);
			CHILD_ASSERT(unshare(CLONE_NEWUSER | CLONE_NEWIPC) == 0);
			_exit(sa_kill_step(step));
		}
		rc = kt_wait(pid);
		EXPECT_EQ(0, rc) TH_LOG("%s: step failed at check %d", ks_names[step], rc);
		EXPECT_EQ(0, sa_stats_back(5000)) TH_LOG("%s", ks_names[step]);
	}
}

/* A non-blocking call: only to a waiting receiver, then it waits for the reply. */
TEST_F(mb, nonblocking_call_needs_a_waiting_receiver_and_then_waits_for_its_reply)
{
	struct sa_taker t;
	char rep[16], buf[MSGSIZE];
	pid_t pid;
	int nb;

	nb = sa_reopen(self->fd, O_RDWR | O_NONBLOCK);
	ASSERT_GE(nb, 0);
	EXPECT_EQ(-1, kt_call(nb, "x", 1, rep, sizeof(rep), 0, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, kt_call(self->fd, "x", 1, rep, sizeof(rep), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	ASSERT_EQ(0, sa_taker_start(&t, self->fd, buf, sizeof(buf)));
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 1, 0, 10000));
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_call(nb, "nb", 2, rep, sizeof(rep), 0, 0, NULL) == 5);
		CHILD_ASSERT(!memcmp(rep, "later", 5));
		_exit(0);
	}
	pthread_join(t.thread, NULL);
	ASSERT_EQ(2, t.ret);
	EXPECT_EQ(0, sa_wait_sleeping(pid, 10000));
	EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG));
	EXPECT_EQ(0, kt_reply(self->fd, t.token, "later", 5));
	EXPECT_EQ(0, kt_wait(pid));
	close(nb);
}


/*
 * A reply racing with the close of the server's file (another thread):
 * the caller gets the reply exactly when the REPLY succeeded, EPIPE
 * otherwise; never both, never neither.
 */
#define CLOSE_RACE_ROUNDS	100

struct sa_closer {
	int fd;
	_Atomic int *go;
};

static void *sa_closer_main(void *arg)
{
	struct sa_closer *c = arg;

	while (!atomic_load(c->go))
		;
	close(c->fd);
	return NULL;
}

TEST_F(mb, a_reply_racing_the_close_of_the_server_file_is_exactly_once)
{
	int i, replied = 0, epipe = 0;

	for (i = 0; i < CLOSE_RACE_ROUNDS; i++) {
		_Atomic int go = 0;
		struct sa_closer c = { .go = &go };
		char req[MSGSIZE];
		unsigned int spin;
		pthread_t th;
		__u64 token;
		pid_t caller;
		int srv, rc, r;

		srv = sa_reopen(self->fd, O_RDONLY);
		ASSERT_GE(srv, 0);
		sa_child_close = srv;
		caller = kt_fork(30);
		ASSERT_GE(caller, 0);
		if (caller == 0) {
			char rep[8];

			close(srv);
			r = kt_call(self->fd, "race", 4, rep, sizeof(rep), 0, 0, NULL);
			if (r == 4 && !memcmp(rep, "won!", 4))
				_exit(10);
			_exit(r == -1 && errno == EPIPE ? 11 : 12);
		}
		ASSERT_EQ(4, kt_take(srv, req, sizeof(req), 0, &token));
		c.fd = srv;
		ASSERT_EQ(0, pthread_create(&th, NULL, sa_closer_main, &c));
		atomic_store(&go, 1);
		/* A head start for the close, longer each round, so both win. */
		for (spin = 0; spin < (unsigned int)i * 2000; spin++)
			__asm__ __volatile__("" ::: "memory");
		r = kt_reply(srv, token, "won!", 4);
		if (r)
			EXPECT_TRUE(errno == EBADF || errno == ENOENT) TH_LOG("reply: %s",
									    strerror(errno));
		pthread_join(th, NULL);
		rc = sa_wait_for(caller, 10000);
		EXPECT_EQ(r == 0 ? 10 : 11, rc) TH_LOG("round %d: reply %d, caller %d", i, r, rc);
		if (rc == 10)
			replied++;
		else if (rc == 11)
			epipe++;
	}
	sa_child_close = -1;
	ksft_print_msg("reply won %d times, close won %d times\n", replied, epipe);
	EXPECT_EQ(CLOSE_RACE_ROUNDS, replied + epipe);
	EXPECT_EQ(0, sa_stats_back(2000));
}

/*
 * A rendezvous sender killed while its message is TAKEN, and the receive
 * then fails: no sender waits any more, so nothing may stay buffered
 * (DESIGN.md: nothing is buffered beyond the senders that wait).
 */
TEST(rendezvous_sender_killed_inside_a_failed_receive_leaves_nothing_buffered)
{
	char buf[MSGSIZE];
	struct sa_taker t;
	struct sa_uffd u;
	pid_t pid;
	int fd;

	KT_REQUIRE_MODULE();
	sa_page = sysconf(_SC_PAGESIZE);
	alarm(60);
	fd = sa_rendezvous(O_RDWR, 4, 0);
	ASSERT_GE(fd, 0);
	SA_REQUIRE_UFFD(&u);
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		kmbox_send_sync(fd, "orphan", 6, 0, NULL);
		_exit(1);
	}
	ASSERT_EQ(0, sa_wait_msgs(fd, 1, 10000));
	ASSERT_EQ(0, sa_hold_receive(&t, &u, fd));
	kill(pid, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, sa_wait_for(pid, 10000));
	sa_uffd_fail(&u);
	pthread_join(t.thread, NULL);
	EXPECT_EQ(-1, t.ret);
	EXPECT_EQ(EFAULT, t.err);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	EXPECT_EQ(-1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	close(fd);
}

/* ---- the storm ------------------------------------------------------------ */

#define STORM_CALLERS	3	/* processes */
#define STORM_THREADS	2	/* calling threads in each */
#define STORM_CALLS	150	/* calls per thread */
#define STORM_SERVERS	2
#define STORM_IDS	(STORM_CALLERS * STORM_THREADS * STORM_CALLS)

enum { SO_NONE, SO_REPLY, SO_EPIPE, SO_ETIMEDOUT, SO_EINTR, SO_EAGAIN, SO_OTHER, SO_N };

static const char *const so_names[] = {
	"none", "reply", "EPIPE", "ETIMEDOUT", "EINTR", "EAGAIN", "other",
};

struct sa_storm {
	_Atomic int outcome[STORM_IDS];
	_Atomic int ends[STORM_IDS];
	_Atomic int replied[STORM_IDS];
	_Atomic int nonblock[STORM_IDS];
	_Atomic int wrong_reply;	/* a reply carrying another call's id */
	_Atomic int bad_errno;		/* a reply or receive with an undocumented errno */
	_Atomic int forged_ok;		/* a never-issued or foreign token accepted */
	_Atomic int twice_ok;		/* a token answered twice */
	_Atomic int stop;
	_Atomic long replies_ok, replies_enoent, plain_reads;
};

struct sa_storm_req {
	__u32 id, magic;
};

struct sa_storm_rep {
	__u32 id, inv;
	__s32 server;
};

static struct sa_storm *storm;

struct sa_storm_thread {
	int fd;
	unsigned int base;
	unsigned int seed;
	pthread_t th;
};

static void *sa_storm_caller(void *arg)
{
	struct sa_storm_thread *t = arg;
	unsigned int k;

	for (k = 0; k < STORM_CALLS; k++) {
		unsigned int id = t->base + k, r = rand_r(&t->seed) % 8;
		struct sa_storm_req req = { .id = id, .magic = 0x5a5a5a5a };
		struct sa_storm_rep rep = { 0 };
		__u32 flags = 0;
		__u64 dl = 0;
		int ret, o;

		if (r < 3) {
			flags = KMBOX_F_TIMEOUT;
			dl = kt_deadline_ms(1 + rand_r(&t->seed) % 20);
		} else if (r == 3) {
			flags = KMBOX_F_NONBLOCK;
			atomic_store(&storm->nonblock[id], 1);
		}
		ret = kt_call(t->fd, &req, sizeof(req), &rep, sizeof(rep), flags, dl, NULL);
		if (ret >= 0) {
			o = SO_REPLY;
			if (ret != sizeof(rep) || rep.id != id || rep.inv != ~id)
				atomic_fetch_add(&storm->wrong_reply, 1);
		} else {
			o = errno == EPIPE ? SO_EPIPE : errno == ETIMEDOUT ? SO_ETIMEDOUT :
			    errno == EINTR ? SO_EINTR : errno == EAGAIN ? SO_EAGAIN : SO_OTHER;
		}
		atomic_store(&storm->outcome[id], o);
		atomic_fetch_add(&storm->ends[id], 1);
	}
	return NULL;
}

static void sa_storm_caller_proc(int fd, unsigned int idx)
{
	struct sa_storm_thread t[STORM_THREADS];
	unsigned int i, seed = 77 + idx, n;

	CHILD_ASSERT(kt_sigaction(SIGUSR1, sa_nop, 0) == 0);
	for (i = 0; i < STORM_THREADS; i++) {
		t[i] = (struct sa_storm_thread){
			.fd = fd, .base = (idx * STORM_THREADS + i) * STORM_CALLS,
			.seed = seed * 31 + i,
		};
		CHILD_ASSERT(pthread_create(&t[i].th, NULL, sa_storm_caller, &t[i]) == 0);
	}
	/* Signal the calling threads now and then, until they are done. */
	for (n = 0;; n++) {
		for (i = 0; i < STORM_THREADS; i++)
			if (t[i].th && pthread_tryjoin_np(t[i].th, NULL) == 0)
				t[i].th = 0;
		for (i = 0; i < STORM_THREADS && !t[i].th; i++)
			;
		if (i == STORM_THREADS)
			break;
		if (t[i].th && rand_r(&seed) % 4 == 0)
			pthread_kill(t[i].th, SIGUSR1);
		usleep(500 + rand_r(&seed) % 3000);
	}
	_exit(0);
}

/* Answer @token on @fd with @id's reply; record what happened. */
static void sa_storm_answer(int fd, __u64 token, __u32 id)
{
	struct sa_storm_rep rep = { .id = id, .inv = ~id, .server = getpid() };

	if (!kt_reply(fd, token, &rep, sizeof(rep))) {
		atomic_fetch_add(&storm->replied[id], 1);
		atomic_fetch_add(&storm->replies_ok, 1);
		/* Answered: a second answer is ENOENT. */
		if (!kt_reply(fd, token, &rep, sizeof(rep)))
			atomic_fetch_add(&storm->twice_ok, 1);
		else if (errno != ENOENT)
			atomic_fetch_add(&storm->bad_errno, 1);
	} else if (errno == ENOENT) {
		atomic_fetch_add(&storm->replies_enoent, 1);
	} else {
		atomic_fetch_add(&storm->bad_errno, 1);
	}
}

struct sa_held {
	int fd;
	__u64 token;
	__u32 id;
};

static void sa_storm_server(int fd, unsigned int idx)
{
	unsigned int seed = 1000 + idx, iter;
	struct sa_held held[4];
	int nheld = 0, ro = -1, nb, i;

	nb = sa_reopen(fd, O_RDONLY | O_NONBLOCK);
	CHILD_ASSERT(nb >= 0);

	for (iter = 0;; iter++) {
		struct sa_storm_req req[4];
		struct kmbox_mmsg m[4];
		__u64 tokens[4];
		int use, n, r = rand_r(&seed) % 20;
		bool stopping = atomic_load(&storm->stop);

		/* A file of our own now and then, closed with what it holds. */
		if (iter % 16 == 0 || stopping) {
			for (i = 0; i < nheld; i++)
				if (held[i].fd == fd)
					sa_storm_answer(fd, held[i].token, held[i].id);
			nheld = 0;
			if (ro >= 0)
				close(ro);
			ro = sa_reopen(fd, O_RDWR);
			CHILD_ASSERT(ro >= 0);
		}
		if (stopping && kt_cur_msgs(fd) == 0)
			break;
		use = rand_r(&seed) % 3 == 0 ? ro : fd;
		if (r == 0) {
			/* read(): the caller gets EPIPE. */
			n = read(nb, req, sizeof(req));
			if (n > 0)
				atomic_fetch_add(&storm->plain_reads, 1);
			continue;
		}
		if (r < 5) {
			struct kmbox_batch b = {
				.msgs = KT_PTR(m), .count = 4,
				.flags = KMBOX_F_CALLS | KMBOX_F_TIMEOUT,
				.deadline_ns = kt_deadline_ms(20), .tokens = KT_PTR(tokens),
			};

			for (i = 0; i < 4; i++)
				m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&req[i]),
							    .len = sizeof(req[i]) };
			n = ioctl(use, KMBOX_IOC_RECV_BATCH, &b);
		} else {
			struct kmbox_recv rv;

			n = kt_recv(use, &req[0], sizeof(req[0]), KMBOX_F_CALLS | KMBOX_F_TIMEOUT,
				    kt_deadline_ms(20), &rv) < 0 ? -1 : 1;
			tokens[0] = rv.reply_token;
		}
		if (n < 0) {
			if (errno != ETIMEDOUT && errno != EINTR && errno != EAGAIN)
				atomic_fetch_add(&storm->bad_errno, 1);
			continue;
		}
		for (i = 0; i < n; i++) {
			__u32 id = req[i].id;
			int what = rand_r(&seed) % 10;

			if (id >= STORM_IDS || req[i].magic != 0x5a5a5a5a || !tokens[i]) {
				atomic_fetch_add(&storm->wrong_reply, 1);
				continue;
			}
			/* Forged: a token never issued, or answered on the other file. */
			if (!kt_reply(use, tokens[i] ^ (1ULL << 62), "f", 1) ||
			    (use != ro && !kt_reply(ro, tokens[i], "f", 1)) ||
			    (use == ro && !kt_reply(fd, tokens[i], "f", 1)))
				atomic_fetch_add(&storm->forged_ok, 1);
			if (what < 2 && nheld < 4) {
				/* Later, out of order. */
				held[nheld++] = (struct sa_held){ use, tokens[i], id };
			} else if (what == 2 && use == ro) {
				/* Never: EPIPE when ro closes. */
			} else {
				sa_storm_answer(use, tokens[i], id);
			}
		}
		/* Answer the oldest held one now and then. */
		if (nheld && rand_r(&seed) % 2) {
			sa_storm_answer(held[0].fd, held[0].token, held[0].id);
			memmove(held, held + 1, --nheld * sizeof(held[0]));
		}
	}
	close(ro);
	close(nb);
	_exit(0);
}

static int sa_storm_run(void)
{
	pid_t callers[STORM_CALLERS], servers[STORM_SERVERS];
	char name[64];
	unsigned int i;
	int fd, rc = 0;

	if (kt_become(1000, 1000) || unshare(CLONE_NEWUSER | CLONE_NEWIPC))
		return 30;
	kt_name(name, sizeof(name), "storm");
	fd = kt_create(name, O_RDWR, 0600, 16, MSGSIZE);
	if (fd < 0)
		return 31;
	for (i = 0; i < STORM_SERVERS; i++) {
		servers[i] = kt_fork(100);
		if (servers[i] == 0)
			sa_storm_server(fd, i);
	}
	for (i = 0; i < STORM_CALLERS; i++) {
		callers[i] = kt_fork(90);
		if (callers[i] == 0)
			sa_storm_caller_proc(fd, i);
	}
	for (i = 0; i < STORM_CALLERS; i++)
		if (kt_wait(callers[i]))
			rc = 32;
	atomic_store(&storm->stop, 1);
	for (i = 0; i < STORM_SERVERS; i++)
		if (kt_wait(servers[i]))
			rc = 33;
	if (kt_cur_msgs(fd) != 0)
		rc = 34;
	close(fd);
	kt_unlink(name);
	return rc;
}

/*
 * Every call ends exactly once: with its own reply, EPIPE, ETIMEDOUT,
 * EINTR (or EAGAIN, non-blocking); a call that got a reply was answered
 * exactly once, and one that did not was answered never; forged tokens and
 * second answers are ENOENT; nothing is left behind.
 */
TEST(storm_of_calls_ends_every_call_exactly_once_unprivileged)
{
	long counts[SO_N] = { 0 };
	unsigned int id;
	pid_t pid;
	int rc;

	KT_REQUIRE_MODULE();
	alarm(150);
	sa_stats_start();
	storm = mmap(NULL, sizeof(*storm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	ASSERT_NE(MAP_FAILED, storm);
	pid = kt_fork(120);
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(sa_storm_run());
	rc = kt_wait(pid);
	EXPECT_EQ(0, rc) TH_LOG("storm runner failed at check %d", rc);
	for (id = 0; id < STORM_IDS; id++) {
		int o = atomic_load(&storm->outcome[id]), r = atomic_load(&storm->replied[id]);

		counts[o]++;
		EXPECT_EQ(1, atomic_load(&storm->ends[id])) TH_LOG("call %u", id);
		EXPECT_TRUE(o == SO_REPLY || o == SO_EPIPE || o == SO_ETIMEDOUT || o == SO_EINTR ||
			    (o == SO_EAGAIN && storm->nonblock[id]))
			TH_LOG("call %u ended with %s", id, so_names[o]);
		EXPECT_EQ(o == SO_REPLY, r) TH_LOG("call %u: %s, answered %d times", id,
						    so_names[o], r);
	}
	EXPECT_EQ(0, storm->wrong_reply);
	EXPECT_EQ(0, storm->bad_errno);
	EXPECT_EQ(0, storm->forged_ok);
	EXPECT_EQ(0, storm->twice_ok);
	ksft_print_msg("storm: %d calls: reply %ld, EPIPE %ld, ETIMEDOUT %ld, EINTR %ld, EAGAIN %ld, other %ld, none %ld; replies ok %ld, ENOENT %ld; read() %ld\n",
		       STORM_IDS, counts[SO_REPLY], counts[SO_EPIPE], counts[SO_ETIMEDOUT],
		       counts[SO_EINTR], counts[SO_EAGAIN], counts[SO_OTHER], counts[SO_NONE],
		       (long)storm->replies_ok, (long)storm->replies_enoent,
		       (long)storm->plain_reads);
	/* Each outcome happened: the storm reached every path. */
	EXPECT_GT(counts[SO_REPLY], 0);
	EXPECT_GT(counts[SO_EPIPE], 0);
	EXPECT_GT(counts[SO_ETIMEDOUT] + counts[SO_EINTR], 0);
	EXPECT_EQ(0, sa_stats_back(5000));
	munmap(storm, sizeof(*storm));
}

TEST_HARNESS_MAIN
