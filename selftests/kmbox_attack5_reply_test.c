// SPDX-License-Identifier: GPL-2.0
/*
 * The attacker's tests of KMBOX_IOC_REPLY_RECV: a server answers one call
 * and receives the next message in one system call.
 *
 * The contract under attack (uapi/linux/kmbox.h): bad input changes
 * nothing; the reply first, and the receive only if the reply went;
 * after any error a non-zero reply.token says nothing was done and a zero
 * one that the reply went and the error is the receive's; a delivered
 * reply is never taken back nor sent twice (a restart only receives); a
 * receive that faults consumes nothing.
 *
 * Each test runs as root, as uid 1000, and as uid 1000 in fresh user and
 * IPC namespaces.  Built against a uapi without KMBOX_IOC_REPLY_RECV, the
 * program has one test, which skips saying so.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox_attack5.h"

#ifndef KMBOX_IOC_REPLY_RECV

TEST(reply_recv)
{
	SKIP(return, "the uapi this was built against has no KMBOX_IOC_REPLY_RECV");
}

#else

FIXTURE(rr) {
	struct kt_stats before;
	long page;
};

FIXTURE_VARIANT(rr) {
	int who;
};

FIXTURE_VARIANT_ADD(rr, root) { .who = A5_ROOT };
FIXTURE_VARIANT_ADD(rr, uid1000) { .who = A5_USER };
FIXTURE_VARIANT_ADD(rr, userns) { .who = A5_USERNS };

FIXTURE_SETUP(rr)
{
	struct kmbox_info info;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_info(fd, &info));
	close(fd);
	if (!(info.features & KMBOX_FEAT_REPLY_RECV))
		SKIP(_exit(255), "the module has no KMBOX_FEAT_REPLY_RECV");
	self->page = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(0, kt_read_stats(&self->before));
	A5_BECOME(variant->who);
}

FIXTURE_TEARDOWN(rr)
{
}

/* A call's request and the reply it expects. */
struct a5_req {
	uint32_t caller, seq;
};

struct a5_rep {
	uint32_t caller, seq, check;
};

/*
 * A caller process: @n calls of struct a5_req {@id, i}, each checking
 * that the reply is {@id, i, ~i} (exit 1 if not, 2 if a call failed).
 */
static pid_t a5_caller(int fd, uint32_t id, int n)
{
	pid_t pid = kt_fork(120);
	int i;

	if (pid)
		return pid;
	for (i = 0; i < n; i++) {
		struct a5_req q = { id, i };
		struct a5_rep p;
		int ret;

		memset(&p, 0xee, sizeof(p));
		ret = kt_call(fd, &q, sizeof(q), &p, sizeof(p), 0, 0, NULL);
		if (ret != (int)sizeof(p)) {
			fprintf(stderr, "# caller %u: call %d gave %d (%s)\n", id, i, ret,
				strerror(errno));
			_exit(2);
		}
		if (p.caller != id || p.seq != (uint32_t)i || p.check != ~(uint32_t)i) {
			fprintf(stderr, "# caller %u: call %d got the reply {%u, %u, %#x}\n", id, i,
				p.caller, p.seq, p.check);
			_exit(1);
		}
	}
	_exit(0);
}

/* Set up @rr to answer @token with @rep and receive into @x (@buf, @len, @flags). */
static void a5_rr(struct kmbox_reply_recv *rr, struct kmbox_recvx *x, __u64 token,
		  const void *rep, __u32 replen, void *buf, __u32 len, __u32 flags)
{
	memset(rr, 0, sizeof(*rr));
	memset(x, 0, sizeof(*x));
	rr->reply.token = token;
	rr->reply.buf = KT_PTR(rep);
	rr->reply.len = replen;
	rr->recv = KT_PTR(x);
	x->r.buf = KT_PTR(buf);
	x->r.len = len;
	x->r.flags = flags;
}

/*
 * Two calls are made; the server holds the first's token.  Every bad
 * argument of REPLY_RECV, and every failing reply (forged token, too long,
 * faulting payload, the argument read-only so the token cannot be
 * cleared), fails with the token left as it was and nothing received;
 * the first caller still waits.  Then a reply whose receive faults (its
 * argument read-only) delivers the reply exactly once and leaves the
 * second request queued; token 0 only receives; and a non-blocking
 * receive with nothing queued is EAGAIN with the reply gone.
 */
TEST_F(rr, bad_input_and_failed_replies_change_nothing)
{
	struct kmbox_reply_recv rr, *ro_rr;
	struct kmbox_recvx x, *ro_x;
	struct a5_req q;
	struct a5_rep p;
	__u64 token, token2;
	pid_t c1, c2;
	char *ro, *hole, *edge;
	long pg = self->page;
	int fd, step;

	fd = kt_anon(O_RDWR, 8, 256);
	ASSERT_LE(0, fd);
	c1 = a5_caller(fd, 1, 1);
	ASSERT_LT(0, c1);
	ASSERT_EQ((int)sizeof(q), kt_take(fd, &q, sizeof(q), 0, &token));
	ASSERT_EQ(1, q.caller);
	c2 = a5_caller(fd, 2, 1);
	ASSERT_LT(0, c2);
	while (kt_cur_msgs(fd) < 1)
		kt_sleep_ms(1);

	ro = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	hole = ro + pg;
	ASSERT_EQ(0, munmap(hole, pg));
	p = (struct a5_rep){ 1, 0, ~0U };

	edge = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, edge);
	for (step = 0; step < 15; step++) {
		int want = EINVAL;
		long ret;

		a5_rr(&rr, &x, token, &p, sizeof(p), &q, sizeof(q), KMBOX_F_CALLS | KMBOX_F_NONBLOCK);
		ro_rr = &rr;
		switch (step) {
		case 0:
			rr.__reserved = 1;
			break;
		case 1:
			rr.reply.flags = 1;
			break;
		case 2:
			rr.reply.__reserved[1] = 1;
			break;
		case 3:
			rr.recv = 0;
			want = EFAULT;
			break;
		case 4:
			rr.recv = KT_PTR(hole);
			want = EFAULT;
			break;
		case 5:
			x.__reserved[1] = 1;
			break;
		case 6:
			x.r.flags |= 1U << 30;
			break;
		case 7:
			x.r.flags |= KMBOX_F_PEEK;
			break;
		case 8:		/* a token never issued */
			rr.reply.token = token + 1000;
			want = ENOENT;
			break;
		case 9:		/* longer than the caller's buffer */
			rr.reply.len = sizeof(p) + 1;
			want = EMSGSIZE;
			break;
		case 10:	/* payload faulting half way */
			rr.reply.buf = KT_PTR(hole - 6);
			want = EFAULT;
			break;
		case 11:	/* the argument read-only: the token cannot be cleared */
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
			memcpy(ro, &rr, sizeof(rr));
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
			ro_rr = (void *)ro;
			want = EFAULT;
			break;
		case 12:	/* the argument unmapped right after the token */
			ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
			ro_rr = (void *)(hole - sizeof(rr.reply.token));
			memcpy(ro_rr, &rr, sizeof(rr.reply.token));
			want = EFAULT;
			break;
		case 13:	/* the token straddling a writable and a read-only page */
			ro_rr = (void *)(edge + pg - sizeof(rr.reply.token) / 2);
			ASSERT_EQ(0, mprotect(edge + pg, pg, PROT_READ | PROT_WRITE));
			memcpy(ro_rr, &rr, sizeof(rr));
			ASSERT_EQ(0, mprotect(edge + pg, pg, PROT_READ));
			break;
		default:	/* misaligned, all of it writable */
			ro_rr = (void *)(edge + 4);
			memcpy(ro_rr, &rr, sizeof(rr));
			break;
		}
		errno = 0;
		ret = ioctl(fd, KMBOX_IOC_REPLY_RECV, ro_rr);
		ASSERT_EQ(-1, ret) TH_LOG("step %d: gave %ld", step, ret);
		ASSERT_EQ(step == 8 ? token + 1000 : token, ro_rr->reply.token)
			TH_LOG("step %d: the token was changed to %#llx, yet nothing was done",
			       step, (unsigned long long)ro_rr->reply.token);
		ASSERT_EQ(want, errno) TH_LOG("step %d: %s", step, strerror(errno));
		ASSERT_EQ(0, x.r.len == sizeof(q) && x.r.reply_token) TH_LOG("step %d: received", step);
		ASSERT_EQ(1, kt_cur_msgs(fd)) TH_LOG("step %d: the next request was consumed", step);
		ASSERT_EQ(0, waitpid(c1, NULL, WNOHANG)) TH_LOG("step %d: caller 1 ended", step);
	}

	/* The receive's argument read-only: the reply goes, the receive faults. */
	a5_rr(&rr, &x, token, &p, sizeof(p), &q, sizeof(q), KMBOX_F_CALLS | KMBOX_F_NONBLOCK);
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
	memcpy(ro, &x, sizeof(x));
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
	ro_x = (void *)ro;
	rr.recv = KT_PTR(ro_x);
	ASSERT_EQ(-1, ioctl(fd, KMBOX_IOC_REPLY_RECV, &rr));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(0, rr.reply.token) TH_LOG("the reply went, but the token says it did not");
	ASSERT_EQ(0, kt_wait(c1)) TH_LOG("caller 1 did not get its reply once");
	ASSERT_EQ(1, kt_cur_msgs(fd)) TH_LOG("the faulting receive consumed the next request");

	/* Token 0: only the receive. */
	a5_rr(&rr, &x, 0, NULL, 12345, &q, sizeof(q), KMBOX_F_CALLS | KMBOX_F_NONBLOCK);
	ASSERT_EQ((int)sizeof(q), ioctl(fd, KMBOX_IOC_REPLY_RECV, &rr)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(2, q.caller);
	token2 = x.r.reply_token;
	ASSERT_NE(0, token2);
	ASSERT_NE(token, token2);
	/* The old token again, as a reply_recv that forgot it went: ENOENT, nothing more. */
	a5_rr(&rr, &x, token, &p, sizeof(p), &q, sizeof(q), KMBOX_F_CALLS | KMBOX_F_NONBLOCK);
	ASSERT_EQ(-1, ioctl(fd, KMBOX_IOC_REPLY_RECV, &rr));
	ASSERT_EQ(ENOENT, errno);
	/* A non-blocking receive with nothing queued: the reply goes, EAGAIN. */
	p = (struct a5_rep){ 2, 0, ~0U };
	a5_rr(&rr, &x, token2, &p, sizeof(p), &q, sizeof(q), KMBOX_F_CALLS | KMBOX_F_NONBLOCK);
	ASSERT_EQ(-1, ioctl(fd, KMBOX_IOC_REPLY_RECV, &rr));
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, rr.reply.token);
	ASSERT_EQ(0, kt_wait(c2));
	ASSERT_EQ(-1, kt_reply(fd, token2, &p, sizeof(p)));
	ASSERT_EQ(ENOENT, errno);
	munmap(ro, 3 * pg);
	munmap(edge, 2 * pg);
	close(fd);
	A5_STATS_BACK();
}

static void a5_on_usr1(int sig)
{
	(void)sig;
}

/*
 * The receive half sleeps and a handled signal comes.  With SA_RESTART
 * the restarted call finds the token cleared and only receives: it gets
 * the next request, not ENOENT for a reply that went, and the reply is
 * not sent twice.  Without it: EINTR and the token cleared.
 */
TEST_F(rr, a_restart_after_a_signal_only_receives)
{
	int fd, restart;

	fd = kt_anon(O_RDWR, 8, 256);
	ASSERT_LE(0, fd);
	for (restart = 1; restart >= 0; restart--) {
		struct kmbox_reply_recv rr;
		struct kmbox_recvx x;
		struct a5_req q;
		struct a5_rep p = { 10 + restart, 0, ~0U };
		__u64 token;
		pid_t c1, helper;
		long ret;

		ASSERT_EQ(0, kt_sigaction(SIGUSR1, a5_on_usr1, restart ? SA_RESTART : 0));
		c1 = a5_caller(fd, 10 + restart, 1);
		ASSERT_LT(0, c1);
		ASSERT_EQ((int)sizeof(q), kt_take(fd, &q, sizeof(q), 0, &token));
		/* Signal the server once it sleeps in the receive, then call. */
		helper = kt_fork(60);
		ASSERT_LE(0, helper);
		if (!helper) {
			pid_t server = getppid();
			struct a5_req hq = { 20, 0 };
			struct a5_rep hp;

			CHILD_ASSERT(kt_wait_waiters(fd, 1, 0, 20000) == 0);
			kill(server, SIGUSR1);
			if (!restart)
				_exit(0);
			/* The restarted receive sleeps again: then call. */
			kt_sleep_ms(50);
			CHILD_ASSERT(kt_wait_waiters(fd, 1, 0, 20000) == 0);
			CHILD_ASSERT(kt_call(fd, &hq, sizeof(hq), &hp, sizeof(hp), 0, 0, NULL) ==
				     sizeof(hp));
			CHILD_ASSERT(hp.caller == 20 && hp.check == ~0U);
			_exit(0);
		}
		a5_rr(&rr, &x, token, &p, sizeof(p), &q, sizeof(q), KMBOX_F_CALLS);
		errno = 0;
		ret = ioctl(fd, KMBOX_IOC_REPLY_RECV, &rr);
		ASSERT_EQ(0, rr.reply.token) TH_LOG("restart %d: the token was not cleared", restart);
		if (restart) {
			ASSERT_EQ((long)sizeof(q), ret)
				TH_LOG("the restarted call gave %ld (%s), not the next request", ret,
				       strerror(errno));
			ASSERT_EQ(20, q.caller);
			p = (struct a5_rep){ 20, 0, ~0U };
			ASSERT_EQ(0, kt_reply(fd, x.r.reply_token, &p, sizeof(p)));
		} else {
			ASSERT_EQ(-1, ret);
			ASSERT_EQ(EINTR, errno);
		}
		ASSERT_EQ(0, kt_wait(c1)) TH_LOG("restart %d: caller 1", restart);
		ASSERT_EQ(0, kt_wait(helper)) TH_LOG("restart %d: the helper", restart);
		ASSERT_EQ(0, kt_cur_msgs(fd));
	}
	close(fd);
	A5_STATS_BACK();
}

/* ---- threads sharing the server's file ---------------------------------- */

#define A5_CALLERS	3
#define A5_CALLS	300
#define A5_SERVERS	3

struct a5_srv {
	int fd;
	pthread_mutex_t lock;
	/* requests received and not answered yet, by any thread */
	struct { __u64 token; struct a5_req q; } held[64];
	int nheld;
	atomic_int answered, stop;
	int errs, enoent;
};

/* Pop a random held request (any thread's): 1, or 0 if none. */
static int a5_pop(struct a5_srv *s, __u64 *token, struct a5_req *q, unsigned int *rnd)
{
	int k, ok = 0;

	pthread_mutex_lock(&s->lock);
	if (s->nheld) {
		*rnd = *rnd * 1103515245 + 12345;
		k = (*rnd >> 16) % s->nheld;
		*token = s->held[k].token;
		*q = s->held[k].q;
		s->held[k] = s->held[--s->nheld];
		ok = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static void a5_push(struct a5_srv *s, __u64 token, const struct a5_req *q)
{
	pthread_mutex_lock(&s->lock);
	if (s->nheld < 64) {
		s->held[s->nheld].token = token;
		s->held[s->nheld].q = *q;
		s->nheld++;
	} else {
		s->errs++;
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * A server thread: answer a random held request (often another thread's)
 * and receive the next one, in one REPLY_RECV each time.
 */
static void *a5_server(void *arg)
{
	struct a5_srv *s = arg;
	unsigned int rnd = (unsigned int)(uintptr_t)&rnd;

	while (!atomic_load(&s->stop)) {
		struct kmbox_reply_recv rr;
		struct kmbox_recvx x;
		struct a5_req q, next;
		struct a5_rep p;
		__u64 token = 0;
		long ret;

		if (a5_pop(s, &token, &q, &rnd))
			p = (struct a5_rep){ q.caller, q.seq, ~q.seq };
		a5_rr(&rr, &x, token, &p, sizeof(p), &next, sizeof(next),
		      KMBOX_F_CALLS | KMBOX_F_TIMEOUT);
		x.r.deadline_ns = kt_deadline_ms(30);
		ret = ioctl(s->fd, KMBOX_IOC_REPLY_RECV, &rr);
		if (token && !rr.reply.token)
			atomic_fetch_add(&s->answered, 1);
		if (token && rr.reply.token) {
			/* The reply did not go: only ENOENT could say so here. */
			if (ret < 0 && errno == ENOENT)
				s->enoent++;
			else
				s->errs++;
		}
		if (ret == sizeof(next) && x.r.reply_token)
			a5_push(s, x.r.reply_token, &next);
		else if (ret >= 0 || (errno != ETIMEDOUT && errno != ENOENT))
			s->errs++;
	}
	return NULL;
}

/*
 * Three caller processes make 300 calls each into one mailbox; three
 * threads sharing the server's file answer them out of order, each
 * answering requests another received, with REPLY_RECV only.  Every call
 * gets its own reply, once.
 */
TEST_F(rr, threads_sharing_the_server_file_answer_out_of_order)
{
	struct a5_srv *s = calloc(1, sizeof(*s));
	pthread_t th[A5_SERVERS];
	pid_t callers[A5_CALLERS];
	int i;

	ASSERT_NE(NULL, s);
	pthread_mutex_init(&s->lock, NULL);
	s->fd = kt_anon(O_RDWR, 16, 256);
	ASSERT_LE(0, s->fd);
	for (i = 0; i < A5_CALLERS; i++) {
		callers[i] = a5_caller(s->fd, 100 + i, A5_CALLS);
		ASSERT_LT(0, callers[i]);
	}
	for (i = 0; i < A5_SERVERS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, a5_server, s));
	for (i = 0; i < A5_CALLERS; i++)
		EXPECT_EQ(0, kt_wait(callers[i])) TH_LOG("caller %d", 100 + i);
	atomic_store(&s->stop, 1);
	for (i = 0; i < A5_SERVERS; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(A5_CALLERS * A5_CALLS, atomic_load(&s->answered));
	EXPECT_EQ(0, s->enoent) TH_LOG("replies to live callers refused");
	EXPECT_EQ(0, s->errs);
	EXPECT_EQ(0, s->nheld);
	close(s->fd);
	free(s);
	A5_STATS_BACK();
}

/*
 * The caller is SIGKILLed around a REPLY_RECV that would also take a
 * second, queued request: the reply goes (token cleared, the receive
 * takes the second request) or finds the caller gone (ENOENT, token
 * kept, the second request still queued); never the second request taken
 * with the reply refused.
 */
TEST_F(rr, reply_recv_racing_the_callers_death)
{
	int fd, round, went = 0, gone = 0;

	fd = kt_anon(O_RDWR, 8, 256);
	ASSERT_LE(0, fd);
	for (round = 0; round < 120; round++) {
		struct kmbox_reply_recv rr;
		struct kmbox_recvx x;
		struct a5_req q, q2;
		struct a5_rep p = { 0, 0, ~0U };
		__u64 token;
		pid_t c1, c2;
		long ret;
		int st;

		c1 = a5_caller(fd, 1, 1);
		ASSERT_LT(0, c1);
		ASSERT_EQ((int)sizeof(q), kt_take(fd, &q, sizeof(q), 0, &token));
		c2 = a5_caller(fd, 2, 1);
		ASSERT_LT(0, c2);
		while (kt_cur_msgs(fd) < 1)
			sched_yield();
		p.caller = 1;
		a5_rr(&rr, &x, token, &p, sizeof(p), &q2, sizeof(q2),
		      KMBOX_F_CALLS | KMBOX_F_NONBLOCK);
		if (round % 2)
			kill(c1, SIGKILL);
		if (round % 4 == 0) {
			kill(c1, SIGKILL);
			kt_wait(c1);
		}
		ret = ioctl(fd, KMBOX_IOC_REPLY_RECV, &rr);
		if (round % 4 == 2)
			kill(c1, SIGKILL);
		if (ret < 0) {
			ASSERT_EQ(ENOENT, errno) TH_LOG("round %d: %s", round, strerror(errno));
			ASSERT_EQ(token, rr.reply.token);
			ASSERT_EQ(1, kt_cur_msgs(fd)) TH_LOG("round %d: refused, yet received", round);
			ASSERT_EQ((int)sizeof(q2), kt_take(fd, &q2, sizeof(q2), 0, &x.r.reply_token));
			gone++;
		} else {
			ASSERT_EQ((long)sizeof(q2), ret);
			ASSERT_EQ(0, rr.reply.token);
			went++;
		}
		ASSERT_EQ(2, q2.caller);
		p.caller = 2;
		ASSERT_EQ(0, kt_reply(fd, x.r.reply_token, &p, sizeof(p)));
		ASSERT_EQ(0, kt_wait(c2));
		if (round % 4 != 0) {
			st = kt_wait(c1);
			ASSERT_TRUE(st == 0 || st == 128 + SIGKILL) TH_LOG("caller 1 ended %d", st);
		}
	}
	TH_LOG("%d replies went, %d found the caller gone", went, gone);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	A5_STATS_BACK();
}

/* ---- the token's page changing under the call --------------------------- */

struct a5_flip {
	char *page;	/* flipped: what the kernel is given */
	char *rw;	/* the same memory, always writable: what the test uses */
	long pg;
	atomic_int stop;
	atomic_long flips;
};

static void *a5_flipper(void *arg)
{
	struct a5_flip *f = arg;

	while (!atomic_load(&f->stop)) {
		mprotect(f->page, f->pg, PROT_READ);
		sched_yield();
		mprotect(f->page, f->pg, PROT_READ | PROT_WRITE);
		atomic_fetch_add(&f->flips, 1);
		sched_yield();
	}
	return NULL;
}

/*
 * Another thread makes the argument's page read-only and writable again
 * in a loop while REPLY_RECV answers: each time, the reply went exactly
 * when the token was cleared (the caller ends with it), or did not (the
 * caller still waits, and a plain REPLY then lands); the call always
 * ends.
 */
TEST_F(rr, token_page_flipping_read_only)
{
	struct a5_flip f = { .pg = self->page };
	int fd, mfd, round, went = 0, faulted = 0;
	pthread_t th;

	mfd = memfd_create("a5-token", MFD_CLOEXEC);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, f.pg));
	f.page = mmap(NULL, f.pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, f.page);
	f.rw = mmap(NULL, f.pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, f.rw);
	close(mfd);
	fd = kt_anon(O_RDWR, 8, 256);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pthread_create(&th, NULL, a5_flipper, &f));
	for (round = 0; round < 200; round++) {
		struct kmbox_reply_recv *rr = (void *)f.rw;
		struct kmbox_reply_recv tmp;
		struct kmbox_recvx x;
		struct a5_req q;
		struct a5_rep p = { 1, 0, ~0U };
		__u64 token, left;
		pid_t c1;
		long ret;

		c1 = a5_caller(fd, 1, 1);
		ASSERT_LT(0, c1);
		ASSERT_EQ((int)sizeof(q), kt_take(fd, &q, sizeof(q), 0, &token));
		a5_rr(&tmp, &x, token, &p, sizeof(p), &q, sizeof(q), KMBOX_F_CALLS | KMBOX_F_NONBLOCK);
		memcpy(rr, &tmp, sizeof(tmp));
		errno = 0;
		ret = ioctl(fd, KMBOX_IOC_REPLY_RECV, f.page);
		left = rr->reply.token;
		ASSERT_EQ(-1, ret);
		if (!left) {
			ASSERT_EQ(EAGAIN, errno) TH_LOG("round %d: token %#llx read 0 after %s", round,
							 (unsigned long long)token, strerror(errno));
			went++;
		} else {
			ASSERT_EQ(EFAULT, errno) TH_LOG("round %d: %s", round, strerror(errno));
			ASSERT_EQ(token, left) TH_LOG("round %d: token %#llx read %#llx", round,
						      (unsigned long long)token, (unsigned long long)left);
			ASSERT_EQ(0, waitpid(c1, NULL, WNOHANG)) TH_LOG("round %d: the token "
									"says no reply, the caller ended", round);
			ASSERT_EQ(0, kt_reply(fd, token, &p, sizeof(p)));
			faulted++;
		}
		ASSERT_EQ(0, kt_wait(c1)) TH_LOG("round %d", round);
	}
	atomic_store(&f.stop, 1);
	pthread_join(th, NULL);
	TH_LOG("%d replies went, %d found the token unwritable (%ld flips)", went, faulted,
	       atomic_load(&f.flips));
	close(fd);
	munmap(f.page, f.pg);
	munmap(f.rw, f.pg);
	A5_STATS_BACK();
}

#endif /* KMBOX_IOC_REPLY_RECV */

TEST_HARNESS_MAIN
