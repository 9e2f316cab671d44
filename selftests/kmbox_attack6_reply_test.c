// SPDX-License-Identifier: GPL-2.0
/*
 * The attacker's tests of KMBOX_IOC_REPLY_RECV's token, round six: the
 * page holding reply.token is taken away, write-protected or handed to a
 * userfaultfd while the kernel clears the token in the step that delivers
 * the reply (module/call.c kmbox_reply_to(), kmbox_fault_in_word()).
 *
 * The contract (docs/semantics.md "Reply and receive"): after any error a
 * non-zero token means nothing was done and 0 means the reply went; a
 * page that cannot be made writable is EFAULT with the token as it was.
 * Every round below checks the token against what the caller got, and
 * that no call hangs.
 *
 * Each test runs as root, as uid 1000, and as uid 1000 in fresh user and
 * IPC namespaces (which exit with the test).
 */
#define _GNU_SOURCE
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox_attack5.h"

#ifndef KMBOX_IOC_REPLY_RECV

TEST(reply_recv)
{
	SKIP(return, "the uapi this was built against has no KMBOX_IOC_REPLY_RECV");
}

#else

#ifndef MADV_COLD
#define MADV_COLD	20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY	1
#endif

FIXTURE(rr6) {
	struct kt_stats before;
	long page;
	int who;
};

FIXTURE_VARIANT(rr6) {
	int who;
};

FIXTURE_VARIANT_ADD(rr6, root) { .who = A5_ROOT };
FIXTURE_VARIANT_ADD(rr6, uid1000) { .who = A5_USER };
FIXTURE_VARIANT_ADD(rr6, userns) { .who = A5_USERNS };

FIXTURE_SETUP(rr6)
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
	self->who = variant->who;
	ASSERT_EQ(0, kt_read_stats(&self->before));
	A5_BECOME(variant->who);
}

FIXTURE_TEARDOWN(rr6)
{
}

/* ---- a caller, and one checked round --------------------------------- */

struct a6_req {
	uint32_t seq;
};

/* The reply: @seq of the request, and who sent it (1: REPLY_RECV, 2: REPLY). */
struct a6_rep {
	uint32_t seq, from;
};

/*
 * A caller process making one call {@seq}: exit 0 and the reply's sender
 * in *@from (shared memory), 1 for a wrong reply, 2 if the call failed.
 */
static pid_t a6_caller(int fd, uint32_t seq, _Atomic uint32_t *from)
{
	struct a6_req q = { seq };
	struct a6_rep p;
	pid_t pid = kt_fork(120);
	int ret;

	if (pid)
		return pid;
	memset(&p, 0xee, sizeof(p));
	ret = kt_call(fd, &q, sizeof(q), &p, sizeof(p), 0, 0, NULL);
	if (ret != (int)sizeof(p)) {
		fprintf(stderr, "# caller %u: the call gave %d (%s)\n", seq, ret, strerror(errno));
		_exit(2);
	}
	if (p.seq != seq || (p.from != 1 && p.from != 2)) {
		fprintf(stderr, "# caller %u: got the reply {%u, %u}\n", seq, p.seq, p.from);
		_exit(1);
	}
	atomic_store(from, p.from);
	_exit(0);
}

static void a6_rr(struct kmbox_reply_recv *rr, struct kmbox_recvx *x, __u64 token,
		  const void *rep, __u32 replen, void *buf, __u32 len)
{
	memset(rr, 0, sizeof(*rr));
	memset(x, 0, sizeof(*x));
	rr->reply.token = token;
	rr->reply.buf = KT_PTR(rep);
	rr->reply.len = replen;
	rr->recv = KT_PTR(x);
	x->r.buf = KT_PTR(buf);
	x->r.len = len;
	x->r.flags = KMBOX_F_CALLS | KMBOX_F_NONBLOCK;
}

/* The rival: answers the call it is given from another thread sharing the file. */
struct a6_rival {
	int fd;
	_Atomic uint32_t seq;
	_Atomic __u64 token;
	atomic_int stop;
	atomic_int tries;
};

/*
 * Where the argument goes when the test cannot simply store it: @put
 * places it (the token known) and returns what the kernel is given, @get
 * reads the token back.
 */
struct a6_place {
	struct kmbox_reply_recv *(*put)(void *ctx, const struct kmbox_reply_recv *rr);
	__u64 (*get)(void *ctx);
	void *ctx;
};

/* What the rounds of a test came to. */
struct a6_tally {
	int went, faulted, lost_race;
};

/*
 * One round: a caller calls, the server takes the request and answers it
 * with REPLY_RECV (non-blocking, nothing else queued) whose argument is
 * at @arg; the test reads and writes it through @rw, the same memory
 * mapped where nothing takes it away (or @arg itself).  A token read as
 * 0 must mean the reply went and the caller got it from REPLY_RECV; a
 * token unchanged must mean EFAULT (or ENOENT when @rival answered
 * first) and no reply from REPLY_RECV, and a plain REPLY then lands.
 * Returns 0, or -1 with the reason in @why.
 */
static int a6_round(int fd, int round, struct kmbox_reply_recv *arg, struct kmbox_reply_recv *rw,
		    const struct a6_place *pl,
		    _Atomic uint32_t *from, struct a6_rival *rival, struct a6_tally *t,
		    char *why, size_t whylen)
{
	struct kmbox_reply_recv tmp;
	struct kmbox_recvx x;
	struct a6_req q;
	struct a6_rep p = { round, 1 };
	struct a6_rep p2 = { round, 2 };
	__u64 token, left;
	int ret, err, st;
	pid_t c;

	atomic_store(from, 0);
	c = a6_caller(fd, round, from);
	if (c < 0)
		return snprintf(why, whylen, "fork: %s", strerror(errno)), -1;
	if (kt_take(fd, &q, sizeof(q), 0, &token) != (int)sizeof(q) || q.seq != (uint32_t)round)
		return snprintf(why, whylen, "take: %s", strerror(errno)), -1;
	a6_rr(&tmp, &x, token, &p, sizeof(p), &q, sizeof(q));
	if (pl) {
		arg = pl->put(pl->ctx, &tmp);
		if (!arg)
			return snprintf(why, whylen, "placing the argument: %s",
					strerror(errno)), -1;
	} else {
		memcpy(rw, &tmp, sizeof(tmp));
	}
	if (rival) {
		atomic_store(&rival->seq, round);
		atomic_store(&rival->token, token);
	}
	errno = 0;
	ret = ioctl(fd, KMBOX_IOC_REPLY_RECV, arg);
	err = errno;
	left = pl ? pl->get(pl->ctx) : rw->reply.token;
	if (ret != -1)
		return snprintf(why, whylen, "REPLY_RECV gave %d with nothing queued", ret), -1;
	if (!left) {
		if (err != EAGAIN)
			return snprintf(why, whylen, "token 0 after %s", strerror(err)), -1;
		st = kt_wait(c);
		if (st || atomic_load(from) != 1)
			return snprintf(why, whylen, "token 0 (the reply went) but the caller "
					"ended %d with a reply from %u", st, atomic_load(from)), -1;
		t->went++;
		return 0;
	}
	if (left != token)
		return snprintf(why, whylen, "token %#llx read %#llx after %s",
				(unsigned long long)token, (unsigned long long)left,
				strerror(err)), -1;
	if (err == ENOENT && rival) {
		/* The rival thread answered first: the caller has its reply. */
		st = kt_wait(c);
		if (st || atomic_load(from) != 2)
			return snprintf(why, whylen, "ENOENT, the token unchanged, but the caller "
					"ended %d with a reply from %u", st, atomic_load(from)), -1;
		t->lost_race++;
		return 0;
	}
	if (err != EFAULT)
		return snprintf(why, whylen, "token unchanged after %s", strerror(err)), -1;
	if (!rival && waitpid(c, NULL, WNOHANG) != 0)
		return snprintf(why, whylen, "the token says no reply, yet the caller ended"), -1;
	ret = kt_reply(fd, token, &p2, sizeof(p2));
	if (ret && !(rival && errno == ENOENT))
		return snprintf(why, whylen, "EFAULT, then REPLY: %s", strerror(errno)), -1;
	st = kt_wait(c);
	if (st || atomic_load(from) != 2)
		return snprintf(why, whylen, "EFAULT with the token unchanged, but the caller "
				"ended %d with a reply from %u", st, atomic_load(from)), -1;
	t->faulted++;
	return 0;
}

static _Atomic uint32_t *a6_shared_word(void)
{
	void *p = mmap(NULL, sizeof(_Atomic uint32_t), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---- userfaultfd -------------------------------------------------------- */

/* Non-blocking: poll() of a blocking userfaultfd is always EPOLLERR. */
static int a6_userfaultfd(int flags)
{
	return syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | flags);
}

/* 1 if this process may take kernel-mode faults with a userfaultfd. */
static int a6_uffd_full(int who)
{
	FILE *f;
	int v = 0;

	if (who == A5_ROOT)
		return 1;
	f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v == 1;
}

/*
 * A userfaultfd write-protecting @len bytes at @addr (populated): full, or
 * user-mode only (kernel accesses then fail as from a bad address).
 * Returns the fd, -2 if userfaultfd or its write-protect mode is missing.
 */
static int a6_uffd_wp(void *addr, size_t len, int full)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	struct uffdio_register reg = {
		.range = { (unsigned long)addr, len }, .mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { (unsigned long)addr, len }, .mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	int u = a6_userfaultfd(full ? 0 : UFFD_USER_MODE_ONLY);

	if (u < 0)
		return errno == ENOSYS || errno == EPERM || errno == EINVAL ? -2 : -1;
	if (ioctl(u, UFFDIO_API, &api) || ioctl(u, UFFDIO_REGISTER, &reg)) {
		close(u);
		return errno == EINVAL ? -2 : -1;
	}
	if (ioctl(u, UFFDIO_WRITEPROTECT, &wp)) {
		close(u);
		return -1;
	}
	return u;
}

struct a6_uffd_handler {
	int uffd;
	int resolve;		/* 0: see the fault and leave it waiting */
	atomic_int faults;
	atomic_int stop;
	_Atomic uint32_t *note;	/* set to 5 at a fault, if not NULL */
};

/* Lift the write protection of each faulting page (or only count it). */
static void *a6_uffd_handle(void *arg)
{
	struct a6_uffd_handler *h = arg;

	while (!atomic_load(&h->stop)) {
		struct pollfd pfd = { h->uffd, POLLIN, 0 };
		struct uffd_msg msg;
		long pg = sysconf(_SC_PAGESIZE);

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		if (read(h->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		atomic_fetch_add(&h->faults, 1);
		if (h->note)
			atomic_store(h->note, 5);
		if (h->resolve) {
			struct uffdio_writeprotect wp = {
				.range = { msg.arg.pagefault.address & ~(pg - 1), pg },
				.mode = 0,
			};

			ioctl(h->uffd, UFFDIO_WRITEPROTECT, &wp);
		}
	}
	return NULL;
}

/* The argument stored, then its page write-protected. */
struct a6_wp_place {
	char *area;
	long pg;
	int uffd;
};

static struct kmbox_reply_recv *a6_wp_put(void *ctx, const struct kmbox_reply_recv *rr)
{
	struct a6_wp_place *w = ctx;
	struct uffdio_writeprotect wp = {
		.range = { (unsigned long)w->area, w->pg }, .mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	memcpy(w->area, rr, sizeof(*rr));
	if (ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp))
		return NULL;
	return (void *)w->area;
}

static __u64 a6_wp_get(void *ctx)
{
	struct a6_wp_place *w = ctx;

	return ((struct kmbox_reply_recv *)w->area)->reply.token;
}

/*
 * The argument lies in a page write-protected by a userfaultfd.  The
 * kernel reads it, then must write the token: a write fault that the
 * userfaultfd's handler resolves, as it would for a user-space store or
 * for any system call's copy_to_user().  So the reply goes and the token
 * reads 0, the handler having seen the fault.  With a user-mode-only
 * userfaultfd (uid 1000 while vm.unprivileged_userfaultfd is 0), kernel
 * faults are not the handler's: EFAULT, the token as it was.
 */
TEST_F(rr6, token_page_write_protected_by_userfaultfd)
{
	struct a6_uffd_handler h = { .resolve = 1 };
	struct a6_tally t = { 0 };
	_Atomic uint32_t *from;
	int fd, round, full;
	char *area, why[160];
	pthread_t th;

	full = a6_uffd_full(self->who);
	area = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	memset(area, 0, self->page);
	from = a6_shared_word();
	ASSERT_NE(NULL, from);
	fd = kt_anon(O_RDWR, 8, 256);
	ASSERT_LE(0, fd);
	h.uffd = a6_uffd_wp(area, self->page, full);
	if (h.uffd == -2)
		SKIP(return, "no userfaultfd write-protect mode for anonymous memory here");
	ASSERT_LE(0, h.uffd) TH_LOG("userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, pthread_create(&th, NULL, a6_uffd_handle, &h));
	for (round = 0; round < 8; round++) {
		struct a6_wp_place wpp = { area, self->page, h.uffd };
		struct a6_place pl = { a6_wp_put, a6_wp_get, &wpp };
		int before = atomic_load(&h.faults);
		int r;

		r = a6_round(fd, round, NULL, NULL, &pl, from, NULL, &t, why, sizeof(why));
		ASSERT_EQ(0, r) TH_LOG("round %d (%s userfaultfd): %s", round,
				       full ? "full" : "user-mode-only", why);
		if (full) {
			ASSERT_EQ(round + 1, t.went) TH_LOG("round %d: the token's page was "
				"write-protected by a userfaultfd whose handler lifts it, yet "
				"REPLY_RECV failed with EFAULT (%d handler faults)", round,
				atomic_load(&h.faults) - before);
		} else {
			ASSERT_EQ(round + 1, t.faulted);
		}
	}
	atomic_store(&h.stop, 1);
	pthread_join(th, NULL);
	TH_LOG("%s userfaultfd: %d replies went, %d EFAULT, %d faults handled",
	       full ? "full" : "user-mode-only", t.went, t.faulted, atomic_load(&h.faults));
	close(h.uffd);
	close(fd);
	munmap(area, self->page);
	munmap((void *)from, sizeof(*from));
	A5_STATS_BACK();
}

/*
 * A server process whose token page is write-protected by a userfaultfd
 * whose handler never lifts it: REPLY_RECV waits in that fault (as any
 * system call writing there would) or fails with EFAULT; SIGKILL ends it
 * either way, nothing is delivered (a plain REPLY from the test then
 * lands) and nothing is left behind.
 */
TEST_F(rr6, sigkill_while_the_token_faults_in)
{
	_Atomic uint32_t *from, *state;
	int fd, full, st, i;
	struct a6_req q;
	struct a6_rep p2 = { 0, 2 };
	__u64 token;
	pid_t c, srv;

	full = a6_uffd_full(self->who);
	from = a6_shared_word();
	state = a6_shared_word();
	ASSERT_NE(NULL, from);
	ASSERT_NE(NULL, state);
	fd = kt_anon(O_RDWR, 8, 256);
	ASSERT_LE(0, fd);
	c = a6_caller(fd, 0, from);
	ASSERT_LT(0, c);
	ASSERT_EQ((int)sizeof(q), kt_take(fd, &q, sizeof(q), 0, &token));
	srv = kt_fork(60);
	ASSERT_LE(0, srv);
	if (srv == 0) {
		struct a6_uffd_handler h = { .resolve = 0, .note = state };
		struct kmbox_reply_recv *rr;
		struct kmbox_recvx x;
		struct a6_rep p = { 0, 1 };
		pthread_t th;
		char *area;

		area = mmap(NULL, self->page, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (area == MAP_FAILED)
			_exit(3);
		rr = (void *)area;
		a6_rr(rr, &x, token, &p, sizeof(p), &q, sizeof(q));
		h.uffd = a6_uffd_wp(area, self->page, full);
		if (h.uffd == -2)
			_exit(4);
		if (h.uffd < 0 || pthread_create(&th, NULL, a6_uffd_handle, &h))
			_exit(3);
		atomic_store(state, 1);
		if (ioctl(fd, KMBOX_IOC_REPLY_RECV, rr) == -1 && errno == EFAULT &&
		    rr->reply.token == token)
			atomic_store(state, 2);
		else
			atomic_store(state, 3);
		/* Wait for the kill: the test decides when. */
		for (;;)
			pause();
	}
	/* Until the server has come back, or its fault has reached the handler. */
	for (i = 0; i < 2000 && atomic_load(state) < 2; i++)
		kt_sleep_ms(5);
	/* Kill it while it waits in the fault, if it does. */
	ASSERT_EQ(0, kill(srv, SIGKILL));
	st = kt_wait(srv);
	if (st == 4) {
		kt_reply(fd, token, &p2, sizeof(p2));
		kt_wait(c);
		SKIP(return, "no userfaultfd write-protect mode for anonymous memory here");
	}
	ASSERT_EQ(128 + SIGKILL, st);
	ASSERT_NE(3, atomic_load(state)) TH_LOG("REPLY_RECV came back with something "
						"other than EFAULT and the token as it was");
	TH_LOG("the server was %s when killed (%s userfaultfd)",
	       atomic_load(state) == 2 ? "back with EFAULT" : atomic_load(state) == 5 ?
	       "waiting in the fault" : "still on its way", full ? "full" : "user-mode-only");
	/* Nothing was delivered: the caller still waits, and our reply lands. */
	ASSERT_EQ(0, waitpid(c, NULL, WNOHANG));
	p2.seq = q.seq;
	ASSERT_EQ(0, kt_reply(fd, token, &p2, sizeof(p2))) TH_LOG("REPLY: %s", strerror(errno));
	ASSERT_EQ(0, kt_wait(c));
	ASSERT_EQ(2, atomic_load(from));
	close(fd);
	munmap((void *)from, sizeof(*from));
	munmap((void *)state, sizeof(*state));
	A5_STATS_BACK();
}

/* ---- pages that are never writable, or only through a copy ------------- */

enum a6_kind {
	A6_RO_FILE,		/* MAP_SHARED, PROT_READ, of a file opened O_RDONLY */
	A6_SEAL_WRITE,		/* MAP_SHARED, PROT_READ, of a memfd with F_SEAL_WRITE */
	A6_SEAL_FUTURE,		/* a new read-only MAP_SHARED after F_SEAL_FUTURE_WRITE */
	A6_SEAL_FUTURE_OLD,	/* a writable MAP_SHARED made before F_SEAL_FUTURE_WRITE */
	A6_PRIVATE_SEALED,	/* MAP_PRIVATE, writable, of a memfd with F_SEAL_WRITE */
	A6_KSM,			/* private anonymous, merged by KSM with a twin page */
	A6_KINDS
};

static const char *const a6_kind_names[A6_KINDS] = {
	"read-only file", "F_SEAL_WRITE", "F_SEAL_FUTURE_WRITE", "writable map before "
	"F_SEAL_FUTURE_WRITE", "MAP_PRIVATE of F_SEAL_WRITE", "KSM",
};

struct a6_file_place {
	enum a6_kind kind;
	long pg;
	int mfd;
	char *map, *old;
	int problem;		/* a mapping the seals should have refused was allowed */
	int unmerged;		/* KSM did not merge the page in time */
};

static void a6_file_place_clear(struct a6_file_place *f)
{
	if (f->map && f->map != MAP_FAILED)
		munmap(f->map, f->kind == A6_KSM ? 3 * f->pg : f->pg);
	if (f->old && f->old != MAP_FAILED)
		munmap(f->old, f->pg);
	if (f->mfd >= 0)
		close(f->mfd);
	f->map = f->old = NULL;
	f->mfd = -1;
}

/* KSM's count of pages shared, or -1. */
static long a6_ksm_sharing(void)
{
	FILE *fp = fopen("/sys/kernel/mm/ksm/pages_sharing", "r");
	long v = -1;

	if (!fp)
		return -1;
	if (fscanf(fp, "%ld", &v) != 1)
		v = -1;
	fclose(fp);
	return v;
}

static struct kmbox_reply_recv *a6_file_put(void *ctx, const struct kmbox_reply_recv *rr)
{
	struct a6_file_place *f = ctx;
	char path[64];
	int rofd, i;

	a6_file_place_clear(f);
	if (f->kind == A6_KSM) {
		long base = a6_ksm_sharing();

		/* Three identical pages (the argument first): KSM merges them. */
		f->map = mmap(NULL, 3 * f->pg, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (f->map == MAP_FAILED)
			return NULL;
		for (i = 0; i < 3; i++) {
			memset(f->map + i * f->pg, 0x5a, f->pg);
			memcpy(f->map + i * f->pg, rr, sizeof(*rr));
		}
		if (madvise(f->map, 3 * f->pg, MADV_MERGEABLE))
			return NULL;
		for (i = 0; i < 2000 && a6_ksm_sharing() < base + 2; i++)
			kt_sleep_ms(10);
		f->unmerged += a6_ksm_sharing() < base + 2;
		return (void *)f->map;
	}
	f->mfd = memfd_create("a6-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f->mfd < 0 || ftruncate(f->mfd, f->pg) ||
	    pwrite(f->mfd, rr, sizeof(*rr), 0) != sizeof(*rr))
		return NULL;
	switch (f->kind) {
	case A6_RO_FILE:
		snprintf(path, sizeof(path), "/proc/self/fd/%d", f->mfd);
		rofd = open(path, O_RDONLY | O_CLOEXEC);
		if (rofd < 0)
			return NULL;
		if (mmap(NULL, f->pg, PROT_READ | PROT_WRITE, MAP_SHARED, rofd, 0) != MAP_FAILED)
			f->problem++;
		f->map = mmap(NULL, f->pg, PROT_READ, MAP_SHARED, rofd, 0);
		close(rofd);
		break;
	case A6_SEAL_WRITE:
		if (fcntl(f->mfd, F_ADD_SEALS, F_SEAL_WRITE))
			return NULL;
		f->map = mmap(NULL, f->pg, PROT_READ, MAP_SHARED, f->mfd, 0);
		if (f->map != MAP_FAILED && !mprotect(f->map, f->pg, PROT_READ | PROT_WRITE))
			f->problem++;
		break;
	case A6_SEAL_FUTURE:
	case A6_SEAL_FUTURE_OLD:
		f->old = mmap(NULL, f->pg, PROT_READ | PROT_WRITE, MAP_SHARED, f->mfd, 0);
		if (f->old == MAP_FAILED || fcntl(f->mfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE))
			return NULL;
		f->map = mmap(NULL, f->pg, PROT_READ, MAP_SHARED, f->mfd, 0);
		if (f->map != MAP_FAILED && !mprotect(f->map, f->pg, PROT_READ | PROT_WRITE))
			f->problem++;
		if (f->kind == A6_SEAL_FUTURE_OLD)
			return (void *)f->old;
		break;
	case A6_PRIVATE_SEALED:
		if (fcntl(f->mfd, F_ADD_SEALS, F_SEAL_WRITE))
			return NULL;
		f->map = mmap(NULL, f->pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, f->mfd, 0);
		break;
	default:
		return NULL;
	}
	return f->map == MAP_FAILED ? NULL : (void *)f->map;
}

static __u64 a6_file_get(void *ctx)
{
	struct a6_file_place *f = ctx;
	struct kmbox_reply_recv rr;

	if (f->kind == A6_KSM || f->kind == A6_PRIVATE_SEALED)
		return ((struct kmbox_reply_recv *)f->map)->reply.token;
	if (f->kind == A6_SEAL_FUTURE_OLD)
		return ((struct kmbox_reply_recv *)f->old)->reply.token;
	/* Through the file: what every mapping of it reads. */
	if (pread(f->mfd, &rr, sizeof(rr), 0) != sizeof(rr))
		return ~0ULL;
	return rr.reply.token;
}

/*
 * The argument in a page that cannot be made writable (a read-only
 * shared mapping of a file opened O_RDONLY, of a memfd sealed against
 * writes, or mapped after F_SEAL_FUTURE_WRITE): EFAULT each time, the
 * token as it was in the file, the caller still waiting.  The argument
 * in a page writable only through a copy or a mapping made before the
 * seal (MAP_PRIVATE of a sealed memfd, a KSM page shared with its twin,
 * a writable mapping older than F_SEAL_FUTURE_WRITE): the reply goes and
 * the token reads 0, and the file keeps its bytes where it must.
 */
TEST_F_TIMEOUT(rr6, token_page_never_writable_or_only_by_copy, 60)
{
	_Atomic uint32_t *from;
	char ksm_run[16] = "";
	int fd, kind, round;
	FILE *fp;

	from = a6_shared_word();
	ASSERT_NE(NULL, from);
	fd = kt_anon(O_RDWR, 8, 256);
	ASSERT_LE(0, fd);
	if (self->who == A5_ROOT) {
		fp = fopen("/sys/kernel/mm/ksm/run", "r");
		if (fp) {
			if (!fgets(ksm_run, sizeof(ksm_run), fp))
				ksm_run[0] = 0;
			fclose(fp);
			a5_write("/sys/kernel/mm/ksm/run", "1");
		}
	}
	for (kind = 0; kind < A6_KINDS; kind++) {
		struct a6_file_place f = { .kind = kind, .pg = self->page, .mfd = -1 };
		struct a6_place pl = { a6_file_put, a6_file_get, &f };
		struct a6_tally t = { 0 };
		int must_go = kind >= A6_SEAL_FUTURE_OLD;
		char why[160];

		if (kind == A6_KSM && !ksm_run[0]) {
			TH_LOG("KSM: not run (%s)", self->who == A5_ROOT ?
			       "no /sys/kernel/mm/ksm" : "root only: it starts ksmd");
			continue;
		}
		for (round = 0; round < (kind == A6_KSM ? 1 : 3); round++) {
			ASSERT_EQ(0, a6_round(fd, round, NULL, NULL, &pl, from, NULL, &t, why,
					      sizeof(why))) TH_LOG("%s, round %d: %s",
							    a6_kind_names[kind], round, why);
			ASSERT_EQ(0, f.problem) TH_LOG("%s: a writable mapping was allowed",
						       a6_kind_names[kind]);
			if (kind == A6_KSM && f.unmerged) {
				TH_LOG("KSM: the pages were not merged within 20 s");
				break;
			}
			if (must_go) {
				ASSERT_EQ(round + 1, t.went) TH_LOG("%s, round %d: EFAULT, though "
					"a write fault makes the page writable",
					a6_kind_names[kind], round);
			} else {
				ASSERT_EQ(round + 1, t.faulted) TH_LOG("%s, round %d",
					a6_kind_names[kind], round);
			}
			if (kind == A6_PRIVATE_SEALED) {
				struct kmbox_reply_recv rr;

				/* The sealed file kept its bytes: the copy took the store. */
				ASSERT_EQ((ssize_t)sizeof(rr), pread(f.mfd, &rr, sizeof(rr), 0));
				ASSERT_NE(0, rr.reply.token);
			}
		}
		TH_LOG("%s: %d replies went, %d EFAULT", a6_kind_names[kind], t.went, t.faulted);
		a6_file_place_clear(&f);
	}
	if (ksm_run[0])
		a5_write("/sys/kernel/mm/ksm/run", ksm_run);
	close(fd);
	munmap((void *)from, sizeof(*from));
	A5_STATS_BACK();
}

/* ---- the token's page taken away, every way ---------------------------- */

enum a6_how {
	A6_DONTNEED,	/* memfd, MAP_SHARED: the page stays in the file */
	A6_FREE,	/* private anonymous: MADV_FREE, then MADV_COLD */
	A6_PAGEOUT,	/* memfd: MADV_COLD and MADV_PAGEOUT */
	A6_FORK,	/* private anonymous: fork()s make it copy-on-write */
	A6_THP,		/* a transparent huge page, fork()s and 4 KiB zaps */
	A6_HUGETLB,	/* a hugetlb page (root only), fork()s */
	A6_MPROTECT,	/* memfd: read-only and back, with a rival REPLY */
	A6_MMAPSTORM,	/* memfd: zaps while another thread holds mmap_lock for writing */
	A6_NR
};

static const char *const a6_names[A6_NR] = {
	"MADV_DONTNEED", "MADV_FREE", "MADV_PAGEOUT", "fork", "THP", "hugetlb",
	"mprotect+rival", "mmap storm",
};

struct a6_taker {
	enum a6_how how;
	char *page;		/* the page the kernel is given */
	size_t len;		/* what to zap or protect from @page */
	atomic_int stop;
	atomic_long n;
};

static void *a6_take_away(void *arg)
{
	struct a6_taker *t = arg;

	while (!atomic_load(&t->stop)) {
		switch (t->how) {
		case A6_DONTNEED:
		case A6_MMAPSTORM:
			madvise(t->page, t->len, MADV_DONTNEED);
			break;
		case A6_FREE:
			madvise(t->page, t->len, MADV_FREE);
			sched_yield();
			madvise(t->page, t->len, MADV_COLD);
			break;
		case A6_PAGEOUT:
			madvise(t->page, t->len, MADV_COLD);
			sched_yield();
			madvise(t->page, t->len, MADV_PAGEOUT);
			break;
		case A6_FORK:
		case A6_HUGETLB: {
			pid_t pid = fork();

			if (pid == 0)
				_exit(0);
			if (pid > 0)
				waitpid(pid, NULL, 0);
			break;
		}
		case A6_THP: {
			pid_t pid = fork();

			if (pid == 0)
				_exit(0);
			if (pid > 0)
				waitpid(pid, NULL, 0);
			madvise(t->page, t->len, MADV_DONTNEED);
			break;
		}
		case A6_MPROTECT:
			mprotect(t->page, t->len, PROT_READ);
			sched_yield();
			mprotect(t->page, t->len, PROT_READ | PROT_WRITE);
			break;
		default:
			break;
		}
		atomic_fetch_add(&t->n, 1);
		sched_yield();
	}
	return NULL;
}

/* The mmap storm: big populated mappings made and unmade. */
static void *a6_storm(void *arg)
{
	struct a6_taker *t = arg;

	while (!atomic_load(&t->stop)) {
		void *p = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

		if (p != MAP_FAILED)
			munmap(p, 8 << 20);
	}
	return NULL;
}

/* Every other call it is given, the rival answers it too. */
static void *a6_rival_run(void *arg)
{
	struct a6_rival *r = arg;
	unsigned int n = 0;

	while (!atomic_load(&r->stop)) {
		__u64 tok = atomic_exchange(&r->token, 0);
		struct a6_rep p2 = { atomic_load(&r->seq), 2 };

		if (!tok || (n++ & 1)) {
			sched_yield();
			continue;
		}
		atomic_fetch_add(&r->tries, 1);
		kt_reply(r->fd, tok, &p2, sizeof(p2));
	}
	return NULL;
}

/* Memory for @how: the page the kernel gets, and a writable view of it. */
static int a6_memory(enum a6_how how, long pg, char **page, char **rw, size_t *len,
		     size_t *maplen, char **base)
{
	int mfd;

	*len = pg;
	switch (how) {
	case A6_DONTNEED:
	case A6_PAGEOUT:
	case A6_MPROTECT:
	case A6_MMAPSTORM:
		mfd = memfd_create("a6-token", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, pg))
			return -1;
		*page = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		*rw = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		close(mfd);
		if (*page == MAP_FAILED || *rw == MAP_FAILED)
			return -1;
		*base = *page;
		*maplen = pg;
		return 0;
	case A6_FREE:
	case A6_FORK:
		*base = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (*base == MAP_FAILED)
			return -1;
		*page = *rw = *base;
		*maplen = pg;
		return 0;
	case A6_THP: {
		size_t huge = 2UL << 20;
		char *p = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -1;
		*base = p;
		*maplen = 2 * huge;
		p = (char *)(((unsigned long)p + huge - 1) & ~(huge - 1));
		madvise(p, huge, MADV_HUGEPAGE);
		memset(p, 1, huge);
		/* The token in the huge page's second half; zaps hit its first. */
		*page = *rw = p + huge / 2;
		return 1;
	}
	case A6_HUGETLB: {
		size_t huge = 2UL << 20;
		char *p = mmap(NULL, huge, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

		if (p == MAP_FAILED)
			return 2;
		memset(p, 1, huge);
		*base = *page = *rw = p;
		*maplen = huge;
		return 0;
	}
	default:
		return -1;
	}
}

/* vm.nr_hugepages, or -1. */
static long a6_nr_hugepages(void)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Another thread takes the token's page away in one way after another
 * (zapped, lazily freed, paged out, made copy-on-write by fork(), a huge
 * page split, read-only, while a third thread hammers mmap_lock for
 * writing) while REPLY_RECV answers, 60 rounds each.  Every round ends,
 * and its token tells the truth about the reply; with mprotect, another
 * thread sharing the file races to answer the same call.
 */
TEST_F_TIMEOUT(rr6, token_page_taken_away_every_way, 120)
{
	_Atomic uint32_t *from;
	long hp_old;
	int fd, how;

	from = a6_shared_word();
	ASSERT_NE(NULL, from);
	fd = kt_anon(O_RDWR, 8, 256);
	ASSERT_LE(0, fd);
	/* Root reserves a huge page for the hugetlb round, and gives it back. */
	hp_old = self->who == A5_ROOT ? a6_nr_hugepages() : -1;
	if (hp_old == 0)
		a5_write("/proc/sys/vm/nr_hugepages", "1");
	for (how = 0; how < A6_NR; how++) {
		struct a6_taker tk = { .how = how };
		struct a6_rival rv = { .fd = fd };
		struct a6_tally t = { 0 };
		pthread_t th, storm, rival;
		char *page, *rw, *base, why[160];
		size_t maplen;
		int r, round;

		r = a6_memory(how, self->page, &page, &rw, &tk.len, &maplen, &base);
		if (r == 2) {
			TH_LOG("%s: no hugetlb page to be had (vm.nr_hugepages): not run",
			       a6_names[how]);
			continue;
		}
		ASSERT_LE(0, r) TH_LOG("%s: memory: %s", a6_names[how], strerror(errno));
		tk.page = how == A6_THP ? page - (1UL << 20) : page;
		if (how == A6_THP)
			tk.len = self->page;
		ASSERT_EQ(0, pthread_create(&th, NULL, a6_take_away, &tk));
		if (how == A6_MMAPSTORM)
			ASSERT_EQ(0, pthread_create(&storm, NULL, a6_storm, &tk));
		if (how == A6_MPROTECT)
			ASSERT_EQ(0, pthread_create(&rival, NULL, a6_rival_run, &rv));
		for (round = 0; round < 60; round++) {
			r = a6_round(fd, round, (void *)page, (void *)rw, NULL, from,
				     how == A6_MPROTECT ? &rv : NULL, &t, why, sizeof(why));
			ASSERT_EQ(0, r) TH_LOG("%s, round %d: %s", a6_names[how], round, why);
		}
		atomic_store(&tk.stop, 1);
		atomic_store(&rv.stop, 1);
		pthread_join(th, NULL);
		if (how == A6_MMAPSTORM)
			pthread_join(storm, NULL);
		if (how == A6_MPROTECT)
			pthread_join(rival, NULL);
		TH_LOG("%s: %d replies went, %d EFAULT, %d answered by the rival (%ld takes)",
		       a6_names[how], t.went, t.faulted, t.lost_race, atomic_load(&tk.n));
		if (rw != page)
			munmap(rw, self->page);
		munmap(base, maplen);
	}
	if (hp_old == 0)
		a5_write("/proc/sys/vm/nr_hugepages", "0");
	close(fd);
	munmap((void *)from, sizeof(*from));
	A5_STATS_BACK();
}

#endif /* KMBOX_IOC_REPLY_RECV */

TEST_HARNESS_MAIN
