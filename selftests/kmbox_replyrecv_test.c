// SPDX-License-Identifier: GPL-2.0
/*
 * KMBOX_IOC_REPLY_RECV: a server answers one call and receives the next
 * message in one system call.  What the tests hold the kernel to:
 *
 *  - the reply goes first, the receive only if the reply was delivered;
 *  - after any error, reply.token in the argument tells which half failed:
 *    unchanged, nothing was done (the reply's caller keeps waiting or has
 *    given up as with KMBOX_IOC_REPLY, and nothing was received); zero,
 *    the reply went exactly once and the receive failed, leaving its
 *    message queued;
 *  - bad input of either half (flags, reserved words, unreadable
 *    arguments, a token word that cannot be written) changes nothing;
 *  - the receive half waits as KMBOX_IOC_RECVX does: O_NONBLOCK, deadline,
 *    signals (a restarted call only receives);
 *  - threads sharing the server file, answering out of order, callers and
 *    servers killed at each step: every call ends once, nothing is left
 *    in /proc/kmbox/stats;
 *  - an unprivileged user in fresh user and IPC namespaces can use it.
 *
 * Every wait is bounded (alarm, deadline, a polled waitpid); no test
 * asserts a time.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define MSGSIZE	256

/* ---- helpers ------------------------------------------------------------ */

static long rr_page;

/* Wait until @tid (a thread or process) sleeps, up to @ms. */
static int rr_wait_sleeping(pid_t tid, unsigned int ms)
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

static int rr_wait_msgs(int fd, long n, unsigned int ms)
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

/* Wait for @pid up to @ms: its exit code, 128 + signal, or -1 (killed). */
static int rr_wait_for(pid_t pid, unsigned int ms)
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

static struct kt_stats rr_before;

static void rr_stats_start(void)
{
	kt_read_stats(&rr_before);
}

/* /proc/kmbox/stats back where it started: nothing left behind. */
static int rr_stats_back(unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);
	struct kt_stats now;

	do {
		if (!kt_read_stats(&now) && now.mailboxes == rr_before.mailboxes &&
		    now.messages == rr_before.messages && now.bytes == rr_before.bytes)
			return 0;
		kt_sleep_ms(5);
	} while (kt_now_ns() < end);
	fprintf(stderr, "# stats: mailboxes %ld->%ld messages %ld->%ld bytes %ld->%ld\n",
		rr_before.mailboxes, now.mailboxes, rr_before.messages, now.messages,
		rr_before.bytes, now.bytes);
	return -1;
}

/* A page mapped, filled with @fill, then given @prot. */
static void *rr_page_with(int prot, int fill)
{
	void *p = mmap(NULL, rr_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, fill, rr_page);
	if (mprotect(p, rr_page, prot)) {
		munmap(p, rr_page);
		return NULL;
	}
	return p;
}

/* An address with nothing mapped there. */
static void *rr_hole(void)
{
	void *p = rr_page_with(PROT_NONE, 0);

	if (p)
		munmap(p, rr_page);
	return p;
}

/* The two arguments, set up for a reply of @rep (if @token) then a receive. */
static void rr_prep(struct kmbox_reply_recv *a, struct kmbox_recvx *x, __u64 token,
		    const void *rep, __u32 replen, void *buf, __u32 len, __u32 flags,
		    __u64 deadline)
{
	memset(a, 0, sizeof(*a));
	memset(x, 0, sizeof(*x));
	a->reply.token = token;
	a->reply.buf = KT_PTR(rep);
	a->reply.len = replen;
	a->recv = KT_PTR(x);
	x->r.buf = KT_PTR(buf);
	x->r.len = len;
	x->r.flags = flags;
	x->r.deadline_ns = deadline;
}

/*
 * One KMBOX_IOC_REPLY_RECV with KMBOX_F_CALLS | @flags: *@token in, and
 * out as the kernel left it; the next request's token in *@next.
 */
static int rr(int fd, __u64 *token, const char *rep, void *buf, __u32 len, __u32 flags,
	      __u64 deadline, __u64 *next)
{
	struct kmbox_reply_recv a;
	struct kmbox_recvx x;
	int ret;

	rr_prep(&a, &x, *token, rep, rep ? strlen(rep) : 0, buf, len, KMBOX_F_CALLS | flags,
		deadline);
	ret = ioctl(fd, KMBOX_IOC_REPLY_RECV, &a);
	*token = a.reply.token;
	if (next)
		*next = ret >= 0 ? x.r.reply_token : 0;
	return ret < 0 ? -1 : (int)x.r.len;
}

/* A caller in a child process: exits 0 if its call ended with @want. */
static pid_t rr_caller(int fd, const char *req, int want, const char *want_reply)
{
	pid_t pid = kt_fork(60);

	if (pid == 0) {
		char rep[MSGSIZE];
		int ret;

		ret = kt_call(fd, req, strlen(req), rep, sizeof(rep), 0, 0, NULL);
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

/* A caller whose reply buffer holds only @cap bytes; exits 0 on @want_reply. */
static pid_t rr_small_caller(int fd, const char *req, __u32 cap, const char *want_reply)
{
	pid_t pid = kt_fork(60);

	if (pid == 0) {
		char rep[MSGSIZE];
		int ret = kt_call(fd, req, strlen(req), rep, cap, 0, 0, NULL);

		CHILD_ASSERT(ret == (int)strlen(want_reply));
		CHILD_ASSERT(!memcmp(rep, want_reply, ret));
		_exit(0);
	}
	return pid;
}

FIXTURE(mb) {
	int fd;		/* anonymous, O_RDWR, blocking, 8 x MSGSIZE */
	pid_t c1, c2;	/* callers "q1" and "q2" */
	__u64 t1;	/* the token of "q1", received; "q2" queued */
};

FIXTURE_SETUP(mb)
{
	KT_REQUIRE_MODULE();
	rr_page = sysconf(_SC_PAGESIZE);
	self->fd = kt_anon(O_RDWR, 8, MSGSIZE);
	self->c1 = self->c2 = -1;
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	rr_stats_start();
	alarm(90);
}

FIXTURE_TEARDOWN(mb)
{
	alarm(0);
	if (self->c1 > 0)
		rr_wait_for(self->c1, 1);
	if (self->c2 > 0)
		rr_wait_for(self->c2, 1);
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * The common start: caller 1 ("q1", wants @want1) is received, its token
 * in self->t1; caller 2 ("q2", wants "r2") is queued behind it.
 */
static void rr_two_callers(struct __test_metadata *_metadata, FIXTURE_DATA(mb) *self,
			   const char *want1)
{
	char req[MSGSIZE];

	self->c1 = rr_caller(self->fd, "q1", 0, want1);
	ASSERT_GE(self->c1, 0);
	ASSERT_EQ(2, kt_take(self->fd, req, sizeof(req), 0, &self->t1));
	ASSERT_NE(0, self->t1);
	self->c2 = rr_caller(self->fd, "q2", 0, "r2");
	ASSERT_GE(self->c2, 0);
	ASSERT_EQ(0, rr_wait_msgs(self->fd, 1, 10000));
	ASSERT_EQ(0, rr_wait_sleeping(self->c1, 10000));
}

/* Caller 2 is still queued: receive it normally, answer it, reap both. */
static void rr_finish(struct __test_metadata *_metadata, FIXTURE_DATA(mb) *self)
{
	char req[MSGSIZE];
	__u64 t2;

	ASSERT_EQ(2, kt_take(self->fd, req, sizeof(req), 0, &t2));
	EXPECT_EQ(0, memcmp(req, "q2", 2));
	EXPECT_EQ(0, kt_reply(self->fd, t2, "r2", 2));
	EXPECT_EQ(0, rr_wait_for(self->c2, 10000));
	self->c2 = -1;
}

/* ---- the contract ------------------------------------------------------- */

TEST(info_reports_the_reply_recv_feature)
{
	struct kmbox_info info;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_TRUE(info.features & KMBOX_FEAT_REPLY_RECV);
	close(fd);
}

TEST_F(mb, reply_then_the_next_request_in_one_call)
{
	char req[MSGSIZE];
	__u64 tok, next;

	rr_two_callers(_metadata, self, "r1");
	tok = self->t1;
	ASSERT_EQ(2, rr(self->fd, &tok, "r1", req, sizeof(req), 0, 0, &next));
	EXPECT_EQ(0, tok);
	EXPECT_EQ(0, memcmp(req, "q2", 2));
	EXPECT_NE(0, next);
	EXPECT_NE(self->t1, next);
	EXPECT_EQ(0, rr_wait_for(self->c1, 10000));
	self->c1 = -1;
	/* The first reply went once: its token is spent. */
	EXPECT_EQ(-1, kt_reply(self->fd, self->t1, "again", 5));
	EXPECT_EQ(ENOENT, errno);
	/* Answer the second and find nothing: the reply still goes. */
	tok = next;
	EXPECT_EQ(-1, rr(self->fd, &tok, "r2", req, sizeof(req), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, tok);
	EXPECT_EQ(0, rr_wait_for(self->c2, 10000));
	self->c2 = -1;
	EXPECT_EQ(0, rr_stats_back(5000));
}

TEST_F(mb, token_zero_only_receives_and_looks_at_no_reply)
{
	struct kmbox_reply_recv a;
	struct kmbox_recvx x;
	char req[MSGSIZE];
	__u64 tok = 0;

	ASSERT_EQ(0, kt_send(self->fd, "plain", 5, 0, 0, 0));
	/* buf and len are junk: with token 0 they are not looked at. */
	rr_prep(&a, &x, 0, rr_hole(), 0xffffffff, req, sizeof(req), KMBOX_F_CALLS, 0);
	ASSERT_EQ(5, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, &a));
	EXPECT_EQ(0, a.reply.token);
	EXPECT_EQ(0, x.r.reply_token);	/* an ordinary message */
	EXPECT_EQ(0, memcmp(req, "plain", 5));
	EXPECT_EQ(-1, rr(self->fd, &tok, NULL, req, sizeof(req), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
}

/* ---- the receive half fails after the reply went ------------------------ */

TEST_F(mb, receive_buffer_unmapped_after_the_reply_is_efault_and_the_request_stays)
{
	struct kmbox_reply_recv a;
	struct kmbox_recvx x;

	rr_two_callers(_metadata, self, "r1");
	rr_prep(&a, &x, self->t1, "r1", 2, rr_hole(), MSGSIZE, KMBOX_F_CALLS, 0);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, &a));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, a.reply.token);		/* the reply went */
	EXPECT_EQ(0, rr_wait_for(self->c1, 10000));
	self->c1 = -1;
	EXPECT_EQ(1, kt_cur_msgs(self->fd));	/* "q2" still queued */
	EXPECT_EQ(-1, kt_reply(self->fd, self->t1, "twice", 5));
	EXPECT_EQ(ENOENT, errno);
	rr_finish(_metadata, self);
	EXPECT_EQ(0, rr_stats_back(5000));
}

TEST_F(mb, receive_argument_read_only_after_the_reply_is_efault_and_the_request_stays)
{
	struct kmbox_reply_recv a;
	struct kmbox_recvx *ro = rr_page_with(PROT_READ | PROT_WRITE, 0);
	char req[MSGSIZE];

	ASSERT_NE(NULL, ro);
	rr_two_callers(_metadata, self, "r1");
	rr_prep(&a, ro, self->t1, "r1", 2, req, sizeof(req), KMBOX_F_CALLS, 0);
	ASSERT_EQ(0, mprotect(ro, rr_page, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, &a));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, a.reply.token);
	EXPECT_EQ(0, rr_wait_for(self->c1, 10000));
	self->c1 = -1;
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	rr_finish(_metadata, self);
	munmap(ro, rr_page);
	EXPECT_EQ(0, rr_stats_back(5000));
}

TEST_F(mb, receive_buffer_too_short_after_the_reply_is_emsgsize_with_the_length)
{
	struct kmbox_reply_recv a;
	struct kmbox_recvx x;
	char req[1];

	rr_two_callers(_metadata, self, "r1");
	rr_prep(&a, &x, self->t1, "r1", 2, req, sizeof(req), KMBOX_F_CALLS, 0);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, &a));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(0, a.reply.token);
	EXPECT_EQ(2, x.r.len);
	EXPECT_EQ(0, rr_wait_for(self->c1, 10000));
	self->c1 = -1;
	rr_finish(_metadata, self);
}

/* ---- nothing done: the reply half fails, or the arguments are bad ------- */

/* "q1" still waits for a reply and "q2" is still queued: answer both. */
static void rr_nothing_done(struct __test_metadata *_metadata, FIXTURE_DATA(mb) *self)
{
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(0, rr_wait_sleeping(self->c1, 10000));
	EXPECT_EQ(0, kt_reply(self->fd, self->t1, "r1", 2));
	EXPECT_EQ(0, rr_wait_for(self->c1, 10000));
	self->c1 = -1;
	rr_finish(_metadata, self);
}

TEST_F(mb, a_failed_reply_receives_nothing_and_keeps_its_token)
{
	struct kmbox_reply_recv a;
	struct kmbox_recvx x, pattern;
	char req[MSGSIZE], big[MSGSIZE];
	int other;
	__u64 tok;

	rr_two_callers(_metadata, self, "r1");
	memset(big, 'b', sizeof(big));
	/* A token never issued, and one of another file: ENOENT. */
	other = kt_anon(O_RDWR, 2, MSGSIZE);
	ASSERT_GE(other, 0);
	tok = self->t1 + 1000;
	EXPECT_EQ(-1, rr(self->fd, &tok, "r1", req, sizeof(req), 0, 0, NULL));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(self->t1 + 1000, tok);
	tok = self->t1;
	EXPECT_EQ(-1, rr(other, &tok, "r1", req, sizeof(req), 0, 0, NULL));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(self->t1, tok);
	close(other);
	/* Longer than max_msgsize, and than the caller's buffer: EMSGSIZE. */
	rr_prep(&a, &x, self->t1, big, MSGSIZE + 1, req, sizeof(req), KMBOX_F_CALLS, 0);
	memset(&x, 0xa5, sizeof(x));
	x.r.buf = KT_PTR(req);
	x.r.len = sizeof(req);
	x.r.flags = KMBOX_F_CALLS;
	x.r.deadline_ns = 0;
	x.r.reply_token = 0;
	x.r.tag = 0;
	memset(&x.__reserved, 0, sizeof(x.__reserved));
	pattern = x;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, &a));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(self->t1, a.reply.token);
	EXPECT_EQ(0, memcmp(&x, &pattern, sizeof(x)));	/* not written */
	/* The reply payload unreadable: EFAULT before the reply. */
	rr_prep(&a, &x, self->t1, rr_hole(), 2, req, sizeof(req), KMBOX_F_CALLS, 0);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, &a));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(self->t1, a.reply.token);
	rr_nothing_done(_metadata, self);
}

TEST_F(mb, a_reply_longer_than_the_callers_buffer_keeps_it_waiting_and_receives_nothing)
{
	char req[MSGSIZE];
	pid_t small;
	__u64 tok, t;

	small = rr_small_caller(self->fd, "s", 4, "ok");
	ASSERT_GE(small, 0);
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &t));
	ASSERT_EQ(0, kt_send(self->fd, "next", 4, 0, 0, 0));
	tok = t;
	EXPECT_EQ(-1, rr(self->fd, &tok, "too long", req, sizeof(req), 0, 0, NULL));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(t, tok);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(0, rr_wait_sleeping(small, 10000));
	EXPECT_EQ(4, rr(self->fd, &tok, "ok", req, sizeof(req), 0, 0, NULL));
	EXPECT_EQ(0, tok);
	EXPECT_EQ(0, rr_wait_for(small, 10000));
}

TEST_F(mb, bad_input_in_either_half_is_refused_before_the_reply)
{
	struct kmbox_reply_recv a;
	struct kmbox_recvx x;
	char req[MSGSIZE];
	int wo, i;

	rr_two_callers(_metadata, self, "r1");
	for (i = 0; i < 9; i++) {
		rr_prep(&a, &x, self->t1, "r1", 2, req, sizeof(req), KMBOX_F_CALLS, 0);
		switch (i) {
		case 0: a.reply.flags = 1; break;
		case 1: a.reply.__reserved[0] = 1; break;
		case 2: a.reply.__reserved[1] = 1; break;
		case 3: a.__reserved = 1; break;
		case 4: x.__reserved[1] = 1; break;
		case 5: x.r.flags |= 1u << 31; break;
		case 6: x.r.deadline_ns = 1; break;	/* without KMBOX_F_TIMEOUT */
		case 7: x.r.flags |= KMBOX_F_PEEK; break;	/* with KMBOX_F_CALLS */
		case 8: x.r.tag = 1; break;		/* without KMBOX_F_MATCH */
		}
		EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, &a)) TH_LOG("case %d", i);
		EXPECT_EQ(EINVAL, errno) TH_LOG("case %d", i);
		EXPECT_EQ(self->t1, a.reply.token) TH_LOG("case %d", i);
	}
	/* The receive argument unreadable: EFAULT, nothing done. */
	rr_prep(&a, &x, self->t1, "r1", 2, req, sizeof(req), KMBOX_F_CALLS, 0);
	a.recv = KT_PTR(rr_hole());
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, &a));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(self->t1, a.reply.token);
	/* The argument itself unreadable. */
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, rr_hole()));
	EXPECT_EQ(EFAULT, errno);
	/* A file not open for reading: EBADF. */
	wo = ioctl(self->fd, KMBOX_IOC_REOPEN, &(struct kmbox_reopen){ .flags = O_WRONLY });
	ASSERT_GE(wo, 0);
	rr_prep(&a, &x, self->t1, "r1", 2, req, sizeof(req), KMBOX_F_CALLS, 0);
	EXPECT_EQ(-1, ioctl(wo, KMBOX_IOC_REPLY_RECV, &a));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(self->t1, a.reply.token);
	close(wo);
	rr_nothing_done(_metadata, self);
}

TEST_F(mb, an_argument_whose_token_cannot_be_written_delivers_nothing)
{
	struct kmbox_reply_recv *ro = rr_page_with(PROT_READ | PROT_WRITE, 0);
	struct kmbox_recvx x;
	char req[MSGSIZE];

	ASSERT_NE(NULL, ro);
	rr_two_callers(_metadata, self, "r1");
	rr_prep(ro, &x, self->t1, "r1", 2, req, sizeof(req), KMBOX_F_CALLS, 0);
	ASSERT_EQ(0, mprotect(ro, rr_page, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, ro));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(self->t1, ro->reply.token);
	munmap(ro, rr_page);
	rr_nothing_done(_metadata, self);
}

/*
 * The argument on a private file page never written by the process: the
 * copy in maps it read-only (copy on write), so the kernel's first write
 * of the token, made under the mailbox lock, cannot fault it in.  It is
 * faulted in and the write made again: the reply goes once.
 */
TEST_F(mb, an_argument_on_a_copy_on_write_page_is_written_after_a_fault)
{
	struct kmbox_reply_recv img, *cow;
	struct kmbox_recvx x;
	char req[MSGSIZE];
	int mfd;

	rr_two_callers(_metadata, self, "r1");
	rr_prep(&img, &x, self->t1, "r1", 2, req, sizeof(req), KMBOX_F_CALLS, 0);
	mfd = memfd_create("rr", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	ASSERT_EQ(0, ftruncate(mfd, rr_page));
	ASSERT_EQ((ssize_t)sizeof(img), pwrite(mfd, &img, sizeof(img), 0));
	cow = mmap(NULL, rr_page, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	ASSERT_NE(MAP_FAILED, cow);
	EXPECT_EQ(2, ioctl(self->fd, KMBOX_IOC_REPLY_RECV, cow));
	EXPECT_EQ(0, cow->reply.token);
	EXPECT_EQ(0, memcmp(req, "q2", 2));
	EXPECT_NE(0, x.r.reply_token);
	EXPECT_EQ(0, rr_wait_for(self->c1, 10000));
	self->c1 = -1;
	EXPECT_EQ(0, kt_reply(self->fd, x.r.reply_token, "r2", 2));
	EXPECT_EQ(0, rr_wait_for(self->c2, 10000));
	self->c2 = -1;
	munmap(cow, rr_page);
	close(mfd);
}

/* ---- waiting in the receive half: deadline, signals -------------------- */

TEST_F(mb, a_deadline_in_the_receive_half_is_etimedout_after_the_reply)
{
	char req[MSGSIZE];
	pid_t c;
	__u64 t;

	c = rr_caller(self->fd, "q", 0, "r");
	ASSERT_GE(c, 0);
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &t));
	EXPECT_EQ(-1, rr(self->fd, &t, "r", req, sizeof(req), KMBOX_F_TIMEOUT,
			 kt_deadline_ms(50), NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, t);
	EXPECT_EQ(0, rr_wait_for(c, 10000));
}

struct rr_sleeper {
	pthread_t thread;
	pid_t tid;
	int fd;
	__u64 token;
	int ret, err;
	char buf[MSGSIZE];
};

static void *rr_sleeper_main(void *arg)
{
	struct rr_sleeper *s = arg;

	s->tid = gettid();
	s->ret = rr(s->fd, &s->token, "r", s->buf, sizeof(s->buf), 0, 0, NULL);
	s->err = errno;
	return NULL;
}

static atomic_int rr_signals;

static void rr_count(int sig)
{
	(void)sig;
	atomic_fetch_add(&rr_signals, 1);
}

static void rr_signal_in_receive(struct __test_metadata *_metadata, FIXTURE_DATA(mb) *self,
				 bool restart)
{
	struct rr_sleeper s = { .fd = self->fd };
	char req[MSGSIZE];
	pid_t c;

	atomic_store(&rr_signals, 0);
	ASSERT_EQ(0, kt_sigaction(SIGUSR1, rr_count, restart ? SA_RESTART : 0));
	c = rr_caller(self->fd, "q", 0, "r");
	ASSERT_GE(c, 0);
	ASSERT_EQ(1, kt_take(self->fd, req, sizeof(req), 0, &s.token));
	ASSERT_EQ(0, pthread_create(&s.thread, NULL, rr_sleeper_main, &s));
	/* The reply went (the caller is done) and the thread sleeps for more. */
	EXPECT_EQ(0, rr_wait_for(c, 10000));
	while (!__atomic_load_n(&s.tid, __ATOMIC_ACQUIRE))
		kt_sleep_ms(1);
	ASSERT_EQ(0, rr_wait_sleeping(s.tid, 10000));
	ASSERT_EQ(0, pthread_kill(s.thread, SIGUSR1));
	if (restart) {
		/* Restarted with the token zeroed: it only receives. */
		while (atomic_load(&rr_signals) == 0)
			kt_sleep_ms(1);
		ASSERT_EQ(0, rr_wait_sleeping(s.tid, 10000));
		ASSERT_EQ(0, kt_send(self->fd, "after", 5, 0, 0, 0));
		pthread_join(s.thread, NULL);
		EXPECT_EQ(5, s.ret);
		EXPECT_EQ(0, memcmp(s.buf, "after", 5));
	} else {
		pthread_join(s.thread, NULL);
		EXPECT_EQ(-1, s.ret);
		EXPECT_EQ(EINTR, s.err);
	}
	EXPECT_EQ(1, atomic_load(&rr_signals));
	EXPECT_EQ(0, s.token);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	kt_sigaction(SIGUSR1, SIG_DFL, 0);
}

TEST_F(mb, a_signal_in_the_receive_half_is_eintr_after_the_reply)
{
	rr_signal_in_receive(_metadata, self, false);
}

TEST_F(mb, a_restarted_call_only_receives)
{
	rr_signal_in_receive(_metadata, self, true);
}

/* ---- threads sharing the server file, out of order ---------------------- */

#define RR_CALLERS	4
#define RR_CALLS	150

struct rr_shared {
	int fd;
	atomic_int answered;
	atomic_int bad;
};

static void *rr_caller_thread(void *arg)
{
	struct rr_shared *sh = arg;
	char req[32], rep[48], want[48];
	int i, n;

	for (i = 0; i < RR_CALLS; i++) {
		snprintf(req, sizeof(req), "%lx.%d", (long)gettid(), i);
		snprintf(want, sizeof(want), "re:%s", req);
		n = kt_call(sh->fd, req, strlen(req), rep, sizeof(rep), 0, 0, NULL);
		if (n != (int)strlen(want) || memcmp(rep, want, n))
			atomic_fetch_add(&sh->bad, 1);
	}
	return NULL;
}

/*
 * A server thread holds up to two requests and answers the newer first,
 * each answer made with the receive of the next request.
 */
static void *rr_server_thread(void *arg)
{
	struct rr_shared *sh = arg;
	char held[2][40], req[40], rep[48];
	__u64 tokens[2], tok = 0, next;
	int nheld = 0, n;

	while (atomic_load(&sh->answered) < RR_CALLERS * RR_CALLS) {
		const char *out = NULL;

		if (nheld == 2) {
			nheld--;
			snprintf(rep, sizeof(rep), "re:%s", held[nheld]);
			out = rep;
			tok = tokens[nheld];
		}
		n = rr(sh->fd, &tok, out, req, sizeof(req) - 1, KMBOX_F_TIMEOUT,
		       kt_deadline_ms(100), &next);
		if (out) {
			if (tok)	/* the reply failed */
				atomic_fetch_add(&sh->bad, 1);
			else
				atomic_fetch_add(&sh->answered, 1);
			tok = 0;
		}
		if (n >= 0) {
			req[n] = '\0';
			snprintf(held[nheld], sizeof(held[nheld]), "%s", req);
			tokens[nheld++] = next;
			continue;
		}
		if (errno != ETIMEDOUT)
			atomic_fetch_add(&sh->bad, 1);
		/* Nothing more is coming for now: answer what is held. */
		while (nheld) {
			nheld--;
			snprintf(rep, sizeof(rep), "re:%s", held[nheld]);
			if (kt_reply(sh->fd, tokens[nheld], rep, strlen(rep)))
				atomic_fetch_add(&sh->bad, 1);
			else
				atomic_fetch_add(&sh->answered, 1);
		}
	}
	return NULL;
}

TEST_F(mb, threads_sharing_the_server_file_answer_out_of_order_and_every_call_ends_once)
{
	pthread_t callers[RR_CALLERS], servers[2];
	struct rr_shared sh = { .fd = self->fd };
	int i;

	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&servers[i], NULL, rr_server_thread, &sh));
	for (i = 0; i < RR_CALLERS; i++)
		ASSERT_EQ(0, pthread_create(&callers[i], NULL, rr_caller_thread, &sh));
	for (i = 0; i < RR_CALLERS; i++)
		pthread_join(callers[i], NULL);
	for (i = 0; i < 2; i++)
		pthread_join(servers[i], NULL);
	EXPECT_EQ(0, atomic_load(&sh.bad));
	EXPECT_EQ(RR_CALLERS * RR_CALLS, atomic_load(&sh.answered));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	EXPECT_EQ(0, rr_stats_back(5000));
}

/* ---- SIGKILL at each step ----------------------------------------------- */

TEST_F(mb, a_caller_killed_before_the_reply_makes_it_enoent_and_nothing_is_received)
{
	char req[MSGSIZE];
	__u64 tok;

	rr_two_callers(_metadata, self, "never");
	kill(self->c1, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(self->c1));
	self->c1 = -1;
	tok = self->t1;
	EXPECT_EQ(-1, rr(self->fd, &tok, "r1", req, sizeof(req), 0, 0, NULL));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(self->t1, tok);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	rr_finish(_metadata, self);
	EXPECT_EQ(0, rr_stats_back(5000));
}

TEST_F(mb, a_caller_killed_while_queued_is_never_received)
{
	char req[MSGSIZE];
	pid_t c;
	__u64 tok = 0;

	c = rr_caller(self->fd, "doomed", 0, "x");
	ASSERT_GE(c, 0);
	ASSERT_EQ(0, rr_wait_msgs(self->fd, 1, 10000));
	kill(c, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(c));
	EXPECT_EQ(-1, rr(self->fd, &tok, NULL, req, sizeof(req), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, rr_stats_back(5000));
}

/*
 * A server process killed at each step of its loop: holding a request
 * received by KMBOX_IOC_REPLY_RECV (its caller gets EPIPE), and asleep in
 * the receive half after a reply (that caller has its reply).
 */
TEST(a_server_killed_at_each_step_fails_only_the_calls_it_held)
{
	char name[64];
	pid_t good, held, server;
	int fd;

	KT_REQUIRE_MODULE();
	alarm(60);
	rr_stats_start();
	kt_name(name, sizeof(name), "rrkill");
	fd = kt_create(name, O_RDWR, 0600, 8, MSGSIZE);
	ASSERT_GE(fd, 0);
	good = rr_caller(fd, "a", 0, "A");
	ASSERT_GE(good, 0);
	ASSERT_EQ(0, rr_wait_msgs(fd, 1, 10000));
	server = kt_fork(60);
	ASSERT_GE(server, 0);
	if (server == 0) {
		char req[MSGSIZE];
		__u64 tok = 0, next;
		int sfd = kt_open(name, O_RDWR, 0, 0, 0, 0);

		CHILD_ASSERT(sfd >= 0);
		/* Receive "a", answer it with the receive of "b", then hold "b". */
		CHILD_ASSERT(rr(sfd, &tok, NULL, req, sizeof(req), 0, 0, &next) == 1);
		tok = next;
		CHILD_ASSERT(rr(sfd, &tok, "A", req, sizeof(req), 0, 0, &next) == 1);
		pause();
		_exit(0);
	}
	EXPECT_EQ(0, rr_wait_for(good, 10000));
	held = rr_caller(fd, "b", EPIPE, NULL);
	ASSERT_GE(held, 0);
	ASSERT_EQ(0, rr_wait_msgs(fd, 0, 10000));
	ASSERT_EQ(0, rr_wait_sleeping(server, 10000));
	ASSERT_EQ(0, rr_wait_sleeping(held, 10000));
	kill(server, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(server));
	EXPECT_EQ(0, rr_wait_for(held, 10000));

	/* Killed asleep in the receive half, after its reply went. */
	good = rr_caller(fd, "c", 0, "C");
	ASSERT_GE(good, 0);
	ASSERT_EQ(0, rr_wait_msgs(fd, 1, 10000));
	server = kt_fork(60);
	ASSERT_GE(server, 0);
	if (server == 0) {
		char req[MSGSIZE];
		__u64 tok = 0, next;
		int sfd = kt_open(name, O_RDWR, 0, 0, 0, 0);

		CHILD_ASSERT(sfd >= 0);
		CHILD_ASSERT(rr(sfd, &tok, NULL, req, sizeof(req), 0, 0, &next) == 1);
		tok = next;
		rr(sfd, &tok, "C", req, sizeof(req), 0, 0, &next);
		_exit(1);
	}
	EXPECT_EQ(0, rr_wait_for(good, 10000));
	ASSERT_EQ(0, rr_wait_sleeping(server, 10000));
	kill(server, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(server));
	close(fd);
	kt_unlink(name);
	EXPECT_EQ(0, rr_stats_back(5000));
	alarm(0);
}

/* ---- the library, and an unprivileged user in new namespaces ------------ */

TEST(library_loop_of_an_unprivileged_server_in_new_namespaces)
{
	pid_t pid;

	KT_REQUIRE_MODULE();
	pid = kt_fork(60);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char name[64];
		pid_t server;
		int fd, i;

		CHILD_ASSERT(kt_become(1000, 1000) == 0);
		CHILD_ASSERT(unshare(CLONE_NEWUSER | CLONE_NEWIPC) == 0);
		kt_name(name, sizeof(name), "rrunpriv");
		fd = kt_create(name, O_RDWR, 0600, 4, 64);
		CHILD_ASSERT(fd >= 0);
		server = fork();
		CHILD_ASSERT(server >= 0);
		if (server == 0) {
			struct kmbox_msginfo mi;
			char req[64], out[64];
			uint64_t token = 0;
			size_t outlen = 0;
			ssize_t n;

			for (;;) {
				n = kmbox_reply_recv(fd, &token, out, outlen, req, sizeof(req),
						     &mi, NULL);
				CHILD_ASSERT(n >= 0);
				CHILD_ASSERT(token == mi.reply_token);
				if (n == 4 && !memcmp(req, "quit", 4))
					break;
				CHILD_ASSERT(token != 0);
				outlen = (size_t)snprintf(out, sizeof(out), "len %zd", n);
			}
			/* token 0 (an ordinary message): nothing to answer. */
			CHILD_ASSERT(kmbox_reply_recv(fd, &token, "x", 1, req, 1, &mi,
						      NULL) == -1);
			CHILD_ASSERT(errno == EMSGSIZE && token == 0 && mi.len == 5);
			_exit(0);
		}
		for (i = 0; i < 20; i++) {
			char req[32], rep[16], want[16];
			int n = snprintf(req, sizeof(req), "%*d", i + 1, i);

			snprintf(want, sizeof(want), "len %d", n);
			CHILD_ASSERT(kmbox_call(fd, req, n, 0, rep, sizeof(rep), NULL, NULL) ==
				     (ssize_t)strlen(want));
			CHILD_ASSERT(!memcmp(rep, want, strlen(want)));
		}
		CHILD_ASSERT(kmbox_send(fd, "quit", 4, 0) == 0);
		CHILD_ASSERT(kmbox_send(fd, "big!!", 5, 0) == 0);
		CHILD_ASSERT(kt_wait(server) == 0);
		kt_unlink(name);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_HARNESS_MAIN
