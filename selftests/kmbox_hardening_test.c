// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox hardening: regression tests for the outside review of December
 * 2026 (../shared/notes/REVIEW-2026-12.md), the findings about slot
 * ownership and wake-ups.  Claims, one per test:
 *
 *  - finding 1: a zero-copy slot handed to a receive that has not
 *    committed yet cannot be released, by anyone; when that receive
 *    faults the message is requeued with its slot, and the free count
 *    never exceeds the number of slots (deterministic: a SCHED_IDLE
 *    receiver pinned to our CPU; and racing: the library alone);
 *  - finding 17: a RESERVE whose copy-out faults leaves no slot reserved,
 *    even when another thread of the file sends one of those slots;
 *  - finding 10: a region mapping survives MADV_DONTNEED and still shows
 *    the region;
 *  - finding 11: an epoll watch added before KMBOX_IOC_OPEN reports the
 *    first message after it;
 *  - finding 13: a read-only file watched for EPOLLIN is not woken by
 *    events that only concern writers;
 *  - findings 5 and 6: poll() for POLLOUT or POLLWRBAND, and a blocked
 *    sender, are woken by the event that makes room or frees a slot, also
 *    when it races with the registration or with a requeue (bounded
 *    loops: a lost wake-up fails at its per-iteration bound instead of
 *    hanging).  Their windows are a few instructions wide: these loops
 *    guard the code, they are not expected to catch the old bugs under
 *    QEMU's TCG.
 *
 * Finding 12 is about documentation only and has no test here.  No test
 * passes because of timing: where one waits to see whether something
 * that must not happen happens (a wrong wake-up), the wait only bounds
 * how long it looks.
 *
 * Every test runs twice: as root and as uid 1000, in a forked child that
 * drops its privileges first, since each of these is reachable without
 * any privilege.  A child checks with KH_CHECK (print, exit non-zero);
 * each scenario stops at the first broken invariant, before the bug can
 * go on to corrupt kernel memory.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox.h"

#define KH_PASS	0
#define KH_FAIL	1
#define KH_SKIP	4

/*
 * Loops stop after this many iterations or this long, whichever first
 * (build with -DKH_LOOP_MS=... -DKH_ITERS=... for a longer hunt).
 */
#ifndef KH_ITERS
#define KH_ITERS	20000
#endif
#ifndef KH_LOOP_MS
#define KH_LOOP_MS	3000
#endif
/* Bound of one wait that a lost wake-up would turn into a hang. */
#define KH_WAIT_MS	5000

#define KH_CHECK(cond, fmt, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "# %s:%d: check failed: %s: " fmt	\
			" (errno %d: %s)\n", __FILE__, __LINE__, #cond,	\
			##__VA_ARGS__, errno, strerror(errno));		\
		return KH_FAIL;						\
	}								\
} while (0)

#define kh_note(fmt, ...) fprintf(stderr, "# " fmt "\n", ##__VA_ARGS__)

/* ---- helpers ------------------------------------------------------------ */

static pid_t kh_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static int kh_anon(__u32 max_msgs, __u32 max_msgsize, __u32 nslots,
		   __u32 slot_size)
{
	struct kmbox_attr a;
	int fd;

	fd = kt_dev(O_RDWR);
	if (fd < 0)
		return -1;
	kt_attr_init(&a, max_msgs, max_msgsize);
	a.zc_slots = nslots;
	a.zc_slot_size = slot_size;
	if (kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static int kh_create(const char *name, __u32 max_msgs, __u32 max_msgsize,
		     __u32 nslots, __u32 slot_size)
{
	struct kmbox_attr a;
	int fd;

	fd = kt_dev(O_RDWR);
	if (fd < 0)
		return -1;
	kt_attr_init(&a, max_msgs, max_msgsize);
	a.zc_slots = nslots;
	a.zc_slot_size = slot_size;
	if (kt_bind(fd, name, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600, &a)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static int kh_reserve(int fd, __u32 *slots, __u32 count, __u32 flags)
{
	struct kmbox_slots s = {
		.slots = KT_PTR(slots),
		.count = count,
		.flags = flags,
	};

	return ioctl(fd, KMBOX_IOC_ZC_RESERVE, &s);
}

static int kh_release(int fd, const __u32 *slots, __u32 count)
{
	struct kmbox_slots s = {
		.slots = KT_PTR(slots),
		.count = count,
	};

	return ioctl(fd, KMBOX_IOC_ZC_RELEASE, &s);
}

static int kh_zc_send(int fd, __u32 slot, __u32 len, __u32 flags)
{
	struct kmbox_send s = {
		.len = len,
		.flags = KMBOX_F_ZC | flags,
		.slot = slot,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

/* A page holding @len bytes of @src, then made read-only. */
static void *kh_ro_page(const void *src, size_t len)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, src, len);
	if (mprotect(p, 4096, PROT_READ)) {
		munmap(p, 4096);
		return NULL;
	}
	return p;
}

static int kh_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* Two CPUs this process may use, or -1 for those it does not have. */
static void kh_two_cpus(int *a, int *b)
{
	cpu_set_t set;
	int i;

	*a = *b = -1;
	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (*a < 0) {
			*a = i;
		} else {
			*b = i;
			return;
		}
	}
}

static uint32_t kh_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Busy-wait a few hundred cycles at most, to sweep a race window. */
static void kh_spin(uint32_t n)
{
	volatile uint32_t i;

	for (i = 0; i < n; i++)
		;
}

static unsigned long long kh_ms_since(uint64_t start)
{
	return (kt_now_ns() - start) / 1000000ULL;
}

static int kh_loop_done(unsigned int iter, uint64_t end)
{
	return iter >= KH_ITERS || kt_now_ns() >= end;
}

/* voluntary_ctxt_switches of thread @tid of this process, or -1. */
static long kh_nvcsw(pid_t tid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* State letter of thread @tid of this process, or 0. */
static char kh_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Run @fn in a child bounded by @secs, as @uid if non-zero. */
static int kh_run(uid_t uid, int (*fn)(void), unsigned int secs)
{
	pid_t pid = kt_fork(secs);

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (uid && kt_become(uid, uid)) {
			perror("# setresuid");
			_exit(KH_FAIL);
		}
		_exit(fn());
	}
	return kt_wait(pid);
}

FIXTURE(hard) {
	int unused;
};

FIXTURE_VARIANT(hard) {
	uid_t uid;
};

FIXTURE_VARIANT_ADD(hard, root) {
	.uid = 0,
};

FIXTURE_VARIANT_ADD(hard, uid1000) {
	.uid = 1000,
};

FIXTURE_SETUP(hard)
{
	KT_REQUIRE_MODULE();
}

FIXTURE_TEARDOWN(hard)
{
}

/* Run a scenario in a child, as the variant's uid; 128 + 14 is SIGALRM. */
#define KH_RUN(fn, secs) do {						\
	int _rc = kh_run(variant->uid, fn, secs);			\
									\
	if (_rc == KH_SKIP)						\
		SKIP(return, "%s: see the reason printed above", #fn);	\
	ASSERT_EQ(0, _rc) TH_LOG("%s as uid %d: exit %d%s", #fn,	\
				 (int)variant->uid, _rc,		\
				 _rc == 128 + SIGALRM ?			\
				 " (killed by its alarm: hung)" : "");	\
} while (0)

/* ---- finding 1: a slot in flight to a receiver ------------------------- */

struct f1_rx {
	int fd;
	int cpu;
	struct kmbox_recv *ro;	/* RECV argument on a read-only page */
	atomic_int done;
	int setup_err;
	int ret, err;
};

static void *f1_rx_main(void *p)
{
	struct f1_rx *rx = p;
	struct sched_param sp = { .sched_priority = 0 };

	if (kh_pin(rx->cpu) || sched_setscheduler(0, SCHED_IDLE, &sp)) {
		rx->setup_err = errno;
		atomic_store(&rx->done, 1);
		return NULL;
	}
	/* copy_from_user works; the copy_to_user at the end will fault */
	rx->ret = ioctl(rx->fd, KMBOX_IOC_RECV, rx->ro);
	rx->err = errno;
	atomic_store(&rx->done, 1);
	return NULL;
}

/*
 * The review's trigger.  The receiver sleeps in RECV(KMBOX_F_ZC); our
 * SEND hands it the message, which holds the slot for it, but as a
 * SCHED_IDLE thread on our CPU it cannot run before we block.  So the
 * receive has not committed when we release the slot: that must fail.
 * Then the receiver faults on its read-only argument, the message goes
 * back with its slot, and a second receive gets it again.
 */
static int f1_handoff(void)
{
	struct kmbox_recv init = { .flags = KMBOX_F_ZC }, r;
	__u32 slot, two[2], extra;
	struct kmbox_attr a;
	unsigned int attempt, missed = 0;
	struct f1_rx rx;
	pthread_t th;
	int fd, cpu;

	fd = kh_anon(4, 64, 2, 64);
	KH_CHECK(fd >= 0, "anon mailbox, 2 slots of 64 bytes");
	cpu = sched_getcpu();
	KH_CHECK(cpu >= 0 && kh_pin(cpu) == 0, "pin to cpu %d", cpu);

	for (attempt = 0; attempt < 10; attempt++) {
		memset(&rx, 0, sizeof(rx));
		rx.fd = fd;
		rx.cpu = cpu;
		rx.ro = kh_ro_page(&init, sizeof(init));
		KH_CHECK(rx.ro, "read-only page");
		KH_CHECK(pthread_create(&th, NULL, f1_rx_main, &rx) == 0,
			 "receiver thread");
		KH_CHECK(kt_wait_waiters(fd, 1, 0, KH_WAIT_MS) == 0,
			 "receiver asleep (setup errno %d)", rx.setup_err);

		KH_CHECK(kh_reserve(fd, &slot, 1, KMBOX_F_NONBLOCK) == 1,
			 "reserve");
		KH_CHECK(kh_zc_send(fd, slot, 8, KMBOX_F_NONBLOCK) == 0,
			 "send of slot %u (hand-off)", slot);
		KH_CHECK(kt_getattr(fd, &a) == 0, "getattr");
		if (atomic_load(&rx.done) || a.cur_msgs != 0) {
			/* The receiver ran already: the window was missed. */
			missed++;
			pthread_join(th, NULL);
			KH_CHECK(rx.ret == -1 && rx.err == EFAULT,
				 "receiver: ret %d errno %d", rx.ret, rx.err);
			memset(&r, 0, sizeof(r));
			r.flags = KMBOX_F_ZC | KMBOX_F_NONBLOCK;
			KH_CHECK(ioctl(fd, KMBOX_IOC_RECV, &r) == 8,
				 "receive again");
			KH_CHECK(kh_release(fd, &r.slot, 1) == 0, "release");
			munmap(rx.ro, 4096);
			continue;
		}

		/* The receive has the slot but has not committed. */
		if (kh_release(fd, &slot, 1) == 0) {
			kt_getattr(fd, &a);
			kh_note("finding 1: ZC_RELEASE of slot %u succeeded while the RECV it was handed to had not committed",
				slot);
			kh_note("zc_free is now %u of %u; stopping before the requeue and a second release overflow the free list",
				a.zc_free, a.zc_slots);
			return KH_FAIL;
		}
		KH_CHECK(errno == EINVAL, "release of slot %u in flight",
			 slot);

		pthread_join(th, NULL);
		KH_CHECK(rx.setup_err == 0, "receiver setup");
		KH_CHECK(rx.ret == -1 && rx.err == EFAULT,
			 "receiver: ret %d errno %d (want EFAULT)", rx.ret,
			 rx.err);
		KH_CHECK(kt_getattr(fd, &a) == 0, "getattr");
		KH_CHECK(a.cur_msgs == 1 && a.zc_free == 1 && a.zc_held == 0,
			 "after the requeue: cur_msgs %u zc_free %u zc_held %u (want 1 1 0)",
			 a.cur_msgs, a.zc_free, a.zc_held);

		memset(&r, 0, sizeof(r));
		r.flags = KMBOX_F_ZC | KMBOX_F_NONBLOCK;
		KH_CHECK(ioctl(fd, KMBOX_IOC_RECV, &r) == 8, "receive again");
		KH_CHECK(r.msg_flags == KMBOX_MSG_ZC && r.slot == slot,
			 "received slot %u flags %u (want %u)", r.slot,
			 r.msg_flags, slot);
		KH_CHECK(kt_getattr(fd, &a) == 0 && a.zc_free <= a.zc_slots &&
			 a.zc_free == 1 && a.zc_held == 1,
			 "while received: zc_free %u of %u, zc_held %u",
			 a.zc_free, a.zc_slots, a.zc_held);
		KH_CHECK(kh_release(fd, &slot, 1) == 0, "release after commit");
		KH_CHECK(kt_getattr(fd, &a) == 0 && a.zc_free == 2 &&
			 a.zc_held == 0,
			 "after release: zc_free %u of %u, zc_held %u",
			 a.zc_free, a.zc_slots, a.zc_held);

		/* Both slots, each once, and nothing more. */
		KH_CHECK(kh_reserve(fd, &two[0], 1, KMBOX_F_NONBLOCK) == 1 &&
			 kh_reserve(fd, &two[1], 1, KMBOX_F_NONBLOCK) == 1,
			 "reserve two");
		KH_CHECK(two[0] != two[1] && two[0] < 2 && two[1] < 2,
			 "reserves gave slots %u and %u", two[0], two[1]);
		KH_CHECK(kh_reserve(fd, &extra, 1, KMBOX_F_NONBLOCK) == -1 &&
			 errno == EAGAIN, "third reserve gave slot %u", extra);
		KH_CHECK(kt_getattr(fd, &a) == 0 && a.zc_free == 0,
			 "zc_free %u with both slots reserved", a.zc_free);
		KH_CHECK(kh_release(fd, two, 2) == 0, "release both");
		if (missed)
			kh_note("finding 1: %u attempt(s) missed the window",
				missed);
		munmap(rx.ro, 4096);
		close(fd);
		return KH_PASS;
	}
	kh_note("SKIP: the SCHED_IDLE receiver ran before the release in all %u attempts",
		attempt);
	return KH_SKIP;
}

TEST_F_TIMEOUT(hard, f1_slot_handed_to_an_uncommitted_recv_cannot_be_released, 60)
{
	KH_RUN(f1_handoff, 50);
}

struct f1_race {
	int fd;
	int cpu;
	struct kmbox_mmsg *ro;	/* one entry, on a read-only page */
	atomic_int stop;
	unsigned long efault, eagain, other;
	int other_ret, other_err;
};

static void *f1_race_rx(void *p)
{
	struct f1_race *t = p;
	int ret;

	kh_pin(t->cpu);
	while (!atomic_load(&t->stop)) {
		ret = kmbox_receive_batch(t->fd, t->ro, 1,
					  KMBOX_F_ZC | KMBOX_F_NONBLOCK, NULL);
		if (ret == -1 && errno == EFAULT) {
			t->efault++;
		} else if (ret == -1 && errno == EAGAIN) {
			t->eagain++;
		} else {
			t->other++;
			t->other_ret = ret;
			t->other_err = errno;
		}
	}
	return NULL;
}

/*
 * The racing variant, through the library only: one thread keeps taking
 * the queued zero-copy message into a read-only batch (so every receive
 * faults and requeues), another keeps releasing its slot through the same
 * file.  No release may succeed, and the free count stays at the one slot
 * nobody uses.
 */
static int f1_race(void)
{
	struct kmbox_mmsg ent = { .len = 0 };
	unsigned long tries = 0;
	struct f1_race t;
	struct kmbox_attr a;
	struct kmbox_mmsg out;
	__u32 slot, two[2];
	pthread_t th;
	uint64_t start, end;
	int cpu_a, cpu_b;

	memset(&t, 0, sizeof(t));
	kh_two_cpus(&cpu_a, &cpu_b);
	t.cpu = cpu_a;
	t.fd = kh_anon(4, 64, 2, 64);
	KH_CHECK(t.fd >= 0, "anon mailbox, 2 slots");
	t.ro = kh_ro_page(&ent, sizeof(ent));
	KH_CHECK(t.ro, "read-only page");
	KH_CHECK(kmbox_zc_reserve(t.fd, &slot, 1, KMBOX_F_NONBLOCK, NULL) == 1,
		 "reserve");
	KH_CHECK(kmbox_zc_send(t.fd, slot, 8, 0, KMBOX_F_NONBLOCK, NULL) == 0,
		 "send");
	kh_pin(cpu_b);
	KH_CHECK(pthread_create(&th, NULL, f1_race_rx, &t) == 0, "thread");

	start = kt_now_ns();
	end = start + KH_LOOP_MS * 1000000ULL;
	while (kt_now_ns() < end) {
		int ret = kmbox_zc_release(t.fd, &slot, 1);
		int err = errno;

		tries++;
		if (ret == 0) {
			atomic_store(&t.stop, 1);
			pthread_join(th, NULL);
			kt_getattr(t.fd, &a);
			kh_note("finding 1 (race): kmbox_zc_release() of queued slot %u succeeded on try %lu, after %lu faulting receives",
				slot, tries, t.efault);
			kh_note("zc_free is now %u of %u; stopping before a second release overflows the free list",
				a.zc_free, a.zc_slots);
			return KH_FAIL;
		}
		if (err != EINVAL) {
			atomic_store(&t.stop, 1);
			pthread_join(th, NULL);
		}
		KH_CHECK(err == EINVAL, "release on try %lu", tries);
		KH_CHECK(kt_getattr(t.fd, &a) == 0, "getattr");
		if (a.zc_free != 1) {
			atomic_store(&t.stop, 1);
			pthread_join(th, NULL);
		}
		KH_CHECK(a.zc_free == 1, "zc_free %u of %u on try %lu",
			 a.zc_free, a.zc_slots, tries);
	}
	atomic_store(&t.stop, 1);
	pthread_join(th, NULL);
	kh_note("finding 1 (race): %lu releases refused against %lu faulting receives (%lu EAGAIN) in %llu ms",
		tries, t.efault, t.eagain, kh_ms_since(start));
	KH_CHECK(t.other == 0, "receive returned %d errno %d (want EFAULT)",
		 t.other_ret, t.other_err);
	KH_CHECK(t.efault > 0, "no receive faulted");

	KH_CHECK(kt_getattr(t.fd, &a) == 0 && a.cur_msgs == 1 &&
		 a.zc_free == 1 && a.zc_held == 0,
		 "after the race: cur_msgs %u zc_free %u zc_held %u",
		 a.cur_msgs, a.zc_free, a.zc_held);
	memset(&out, 0, sizeof(out));
	KH_CHECK(kmbox_receive_batch(t.fd, &out, 1,
				     KMBOX_F_ZC | KMBOX_F_NONBLOCK, NULL) == 1,
		 "receive into a writable entry");
	KH_CHECK(out.flags == KMBOX_MSG_ZC && out.slot == slot,
		 "got slot %u flags %u", out.slot, out.flags);
	KH_CHECK(kmbox_zc_release(t.fd, &slot, 1) == 0, "release");
	KH_CHECK(kmbox_zc_reserve(t.fd, &two[0], 1, KMBOX_F_NONBLOCK, NULL) == 1 &&
		 kmbox_zc_reserve(t.fd, &two[1], 1, KMBOX_F_NONBLOCK, NULL) == 1,
		 "reserve two");
	KH_CHECK(two[0] != two[1] && two[0] < 2 && two[1] < 2,
		 "slots %u and %u", two[0], two[1]);
	KH_CHECK(kt_getattr(t.fd, &a) == 0 && a.zc_free == 0,
		 "zc_free %u", a.zc_free);
	close(t.fd);
	return KH_PASS;
}

TEST_F_TIMEOUT(hard, f1_release_racing_a_faulting_batch_receive_always_fails, 60)
{
	KH_RUN(f1_race, 50);
}

/* ---- finding 17: RESERVE whose copy-out faults ------------------------- */

struct f17_tx {
	int fd;
	int cpu;
	atomic_int armed, stop;
	atomic_ulong passes, sent;
	unsigned long tries;
};

static void *f17_tx_main(void *p)
{
	struct f17_tx *t = p;

	kh_pin(t->cpu);
	while (!atomic_load(&t->stop)) {
		/*
		 * The region has slots 0 and 1, and RESERVE(2) takes both:
		 * send one of them, then leave the other to the rollback.
		 */
		if (atomic_load(&t->armed) &&
		    kh_zc_send(t->fd, t->tries++ & 1, 8, KMBOX_F_NONBLOCK) == 0) {
			atomic_store(&t->armed, 0);
			atomic_fetch_add(&t->sent, 1);
		}
		atomic_fetch_add(&t->passes, 1);
	}
	return NULL;
}

/*
 * Disarm the sender and wait until a send it began while armed is over:
 * the pass that ends second after this began after the disarm.
 */
static void f17_disarm(struct f17_tx *t)
{
	unsigned long p;

	atomic_store(&t->armed, 0);
	p = atomic_load(&t->passes);
	while (atomic_load(&t->passes) < p + 2)
		sched_yield();
}

/*
 * RESERVE(2) into a read-only array: the slots are taken, the copy-out
 * faults and the call gives them back.  Meanwhile another thread of the
 * same file tries to send slot 0 or 1, and sometimes gets one of them in
 * while the two are reserved.  Afterwards the file holds nothing, and
 * every slot is free or queued.
 */
static int f17_reserve_fault(void)
{
	__u32 zero[2] = { 0, 0 };
	struct kmbox_attr a;
	struct f17_tx t;
	unsigned long iter, hits = 0;
	char buf[64];
	void *ro;
	pthread_t th;
	uint64_t start, end;
	int cpu_a, cpu_b, ret;

	memset(&t, 0, sizeof(t));
	kh_two_cpus(&cpu_a, &cpu_b);
	t.cpu = cpu_a;
	t.fd = kh_anon(4, 64, 2, 64);
	KH_CHECK(t.fd >= 0, "anon mailbox, 2 slots");
	ro = kh_ro_page(zero, sizeof(zero));
	KH_CHECK(ro, "read-only page");
	kh_pin(cpu_b);
	KH_CHECK(pthread_create(&th, NULL, f17_tx_main, &t) == 0, "thread");

	start = kt_now_ns();
	end = start + KH_LOOP_MS * 1000000ULL;
	for (iter = 0; !kh_loop_done(iter, end); iter++) {
		unsigned long sent = atomic_load(&t.sent);
		int err;

		atomic_store(&t.armed, 1);
		ret = kh_reserve(t.fd, ro, 2, KMBOX_F_NONBLOCK);
		err = errno;
		f17_disarm(&t);
		errno = err;
		KH_CHECK(ret == -1 && errno == EFAULT,
			 "reserve into a read-only array returned %d", ret);
		hits += atomic_load(&t.sent) != sent;

		KH_CHECK(kt_getattr(t.fd, &a) == 0, "getattr");
		if (a.zc_held != 0 || a.zc_free + a.cur_msgs != 2) {
			atomic_store(&t.stop, 1);
			pthread_join(th, NULL);
			kh_note("finding 17: after a faulting RESERVE (iteration %lu, %lu sends slipped in) the file still holds %u slot(s)",
				iter, hits, a.zc_held);
			kh_note("zc_free %u, queued %u, of 2 slots",
				a.zc_free, a.cur_msgs);
			return KH_FAIL;
		}
		/* Copy out what slipped in: that frees its slot. */
		while (kt_recv(t.fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0,
			       NULL) >= 0)
			;
		KH_CHECK(errno == EAGAIN, "drain");
		KH_CHECK(kt_getattr(t.fd, &a) == 0 && a.zc_free == 2,
			 "zc_free %u after the drain", a.zc_free);
	}
	atomic_store(&t.stop, 1);
	pthread_join(th, NULL);
	kh_note("finding 17: %lu faulting reserves, %lu with a send of a reserved slot in between (%lu sends tried) in %llu ms",
		iter, hits, t.tries, kh_ms_since(start));
	close(t.fd);
	return KH_PASS;
}

TEST_F_TIMEOUT(hard, f17_faulting_reserve_leaves_no_slot_reserved, 60)
{
	KH_RUN(f17_reserve_fault, 50);
}

/* ---- finding 10: MADV_DONTNEED on the region ---------------------------- */

static sigjmp_buf kh_jmp;
static volatile sig_atomic_t kh_sig;

static void kh_on_fault(int sig)
{
	kh_sig = sig;
	siglongjmp(kh_jmp, 1);
}

/*
 * Two mappings of one region; MADV_DONTNEED drops the first one's pages.
 * Touching them again must not SIGBUS, and must show the region: what
 * one mapping writes the other reads, and so does the kernel's copy-out.
 */
static int f10_dontneed(void)
{
	enum { NSL = 4, SL = 4096 };
	size_t size = NSL * SL;
	unsigned char *A, *B, buf[SL];
	volatile unsigned char sink = 0;
	const char *volatile step = "setting up";
	__u32 slot;
	size_t i;
	int fd;

	fd = kh_anon(4, SL, NSL, SL);
	KH_CHECK(fd >= 0, "anon mailbox, 4 slots of 4 KiB");
	A = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	B = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	KH_CHECK(A != MAP_FAILED && B != MAP_FAILED, "two mappings");
	KH_CHECK(kh_reserve(fd, &slot, 1, KMBOX_F_NONBLOCK) == 1, "reserve");
	kt_fill(A + slot * SL, SL, 1);
	KH_CHECK(kt_check_fill(B + slot * SL, SL, 1), "shared before");

	KH_CHECK(madvise(A, size, MADV_DONTNEED) == 0, "MADV_DONTNEED");
	kt_sigaction(SIGBUS, kh_on_fault, 0);
	kt_sigaction(SIGSEGV, kh_on_fault, 0);
	if (sigsetjmp(kh_jmp, 1)) {
		kh_note("finding 10: signal %d (%s) %s after MADV_DONTNEED",
			(int)kh_sig, strsignal(kh_sig), (const char *)step);
		return KH_FAIL;
	}
	step = "reading the dropped mapping";
	for (i = 0; i < size; i += 4096)
		sink += A[i];
	KH_CHECK(kt_check_fill(A + slot * SL, SL, 1),
		 "the dropped mapping lost the slot's bytes");
	step = "writing through the other mapping";
	kt_fill(B + slot * SL, SL, 2);
	KH_CHECK(kt_check_fill(A + slot * SL, SL, 2),
		 "a write through B is not seen through A");
	step = "writing through the dropped mapping";
	kt_fill(A + slot * SL, SL, 3);
	KH_CHECK(kt_check_fill(B + slot * SL, SL, 3),
		 "a write through A is not seen through B");
	signal(SIGBUS, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	(void)sink;

	KH_CHECK(kh_zc_send(fd, slot, SL, KMBOX_F_NONBLOCK) == 0, "send");
	KH_CHECK(kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL) == SL,
		 "copy the slot out");
	KH_CHECK(kt_check_fill(buf, SL, 3),
		 "the kernel's copy differs from what A wrote");
	munmap(A, size);
	munmap(B, size);
	close(fd);
	return KH_PASS;
}

TEST_F(hard, f10_region_mapping_survives_madv_dontneed)
{
	KH_RUN(f10_dontneed, 25);
}

/* ---- finding 11: epoll before bind ------------------------------------- */

static void *f11_sender(void *p)
{
	int fd = *(int *)p;

	kt_send(fd, "x", 1, 0, KMBOX_F_NONBLOCK, 0);
	return NULL;
}

/*
 * An event loop adds the file to epoll before binding it, binds, polls
 * once (nothing yet), and then another thread sends: epoll_wait must
 * report EPOLLIN.
 */
static int f11_epoll_before_bind(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	struct kmbox_attr a;
	pthread_t th;
	int fd, ep, n, i;

	fd = kt_dev(O_RDWR);
	KH_CHECK(fd >= 0, "open");
	ep = epoll_create1(EPOLL_CLOEXEC);
	KH_CHECK(ep >= 0, "epoll_create1");
	ev.data.fd = fd;
	KH_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0,
		 "EPOLL_CTL_ADD of an unbound file");
	kt_attr_init(&a, 4, 64);
	KH_CHECK(kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a) == 0, "bind");
	n = epoll_wait(ep, out, 4, 0);
	KH_CHECK(n >= 0, "epoll_wait(0)");
	for (i = 0; i < n; i++)
		KH_CHECK(!(out[i].events & EPOLLIN),
			 "EPOLLIN on an empty mailbox (events %#x)",
			 out[i].events);

	KH_CHECK(pthread_create(&th, NULL, f11_sender, &fd) == 0, "thread");
	n = epoll_wait(ep, out, 4, KH_WAIT_MS);
	pthread_join(th, NULL);
	KH_CHECK(kt_cur_msgs(fd) == 1, "the message was not sent");
	if (n == 0) {
		kh_note("finding 11: epoll_wait saw nothing in %d ms although a message is queued: the watch added before OPEN is never woken",
			KH_WAIT_MS);
		return KH_FAIL;
	}
	KH_CHECK(n == 1 && (out[0].events & EPOLLIN) && out[0].data.fd == fd,
		 "epoll_wait returned %d, events %#x", n, out[0].events);
	close(ep);
	close(fd);
	return KH_PASS;
}

TEST_F(hard, f11_epoll_watch_added_before_bind_sees_the_first_message)
{
	KH_RUN(f11_epoll_before_bind, 25);
}

/* ---- finding 13: writer-only events and a read-only watcher ------------ */

/*
 * A read-only file, edge-triggered for EPOLLIN, with one message queued
 * whose edge it has already seen.  Events that only concern writers must
 * not give it another edge: after each, epoll_wait(0) reports nothing.
 * (An edge the watcher gets here is a wake-up it should not have had: the
 * level is unchanged, only the callback ran.)
 */
static int f13_edges(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out[2];
	static const char *const what[] = {
		"ZC_RESERVE of one slot of four",
		"ZC_RELEASE of that slot",
		"SEND of a slot not reserved (EINVAL)",
		"ZC_RESERVE of all four slots",
		"ZC_RELEASE of all four slots",
	};
	unsigned int i, spurious = 0;
	__u32 slot, all[4];
	char name[64];
	int w, r, ep, n, ret = 0;

	kt_name(name, sizeof(name), "f13");
	w = kh_create(name, 8, 64, 4, 64);
	KH_CHECK(w >= 0, "create");
	r = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	KH_CHECK(r >= 0, "open O_RDONLY");
	kt_unlink(name);
	ep = epoll_create1(EPOLL_CLOEXEC);
	KH_CHECK(ep >= 0, "epoll_create1");
	KH_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, r, &ev) == 0, "EPOLL_CTL_ADD");
	KH_CHECK(kt_send(w, "m", 1, 0, KMBOX_F_NONBLOCK, 0) == 0, "send");
	KH_CHECK(epoll_wait(ep, out, 2, 0) == 1 && (out[0].events & EPOLLIN),
		 "the message's edge");
	KH_CHECK(epoll_wait(ep, out, 2, 0) == 0, "edge-triggered: once");

	for (i = 0; i < ARRAY_SIZE(what); i++) {
		switch (i) {
		case 0:
			ret = kh_reserve(w, &slot, 1, KMBOX_F_NONBLOCK) == 1;
			break;
		case 1:
			ret = kh_release(w, &slot, 1) == 0;
			break;
		case 2:
			ret = kh_zc_send(w, 3, 8, KMBOX_F_NONBLOCK) == -1 &&
			      errno == EINVAL;
			break;
		case 3:
			ret = kh_reserve(w, all, 4, KMBOX_F_NONBLOCK) == 4;
			break;
		case 4:
			ret = kh_release(w, all, 4) == 0;
			break;
		}
		KH_CHECK(ret, "%s", what[i]);
		n = epoll_wait(ep, out, 2, 0);
		KH_CHECK(n >= 0, "epoll_wait");
		if (n) {
			spurious++;
			kh_note("finding 13: the read-only EPOLLIN watcher got an edge (events %#x) from: %s",
				out[0].events, what[i]);
		}
	}
	KH_CHECK(kt_send(w, "n", 1, 0, KMBOX_F_NONBLOCK, 0) == 0, "send");
	KH_CHECK(epoll_wait(ep, out, 2, 0) == 1 && (out[0].events & EPOLLIN),
		 "a new message's edge");
	KH_CHECK(spurious == 0, "%u of %zu writer-only events woke the reader",
		 spurious, ARRAY_SIZE(what));
	close(ep);
	close(r);
	close(w);
	return KH_PASS;
}

TEST_F(hard, f13_read_only_et_watcher_gets_no_edge_from_writer_events)
{
	KH_RUN(f13_edges, 25);
}

struct f13_waiter {
	int ep;
	atomic_int tid;
	int n;
	struct epoll_event out[4];
};

static void *f13_waiter_main(void *p)
{
	struct f13_waiter *t = p;

	atomic_store(&t->tid, kh_gettid());
	t->n = epoll_wait(t->ep, t->out, 4, -1);
	return NULL;
}

struct f13_rx {
	int fd;
	int ret;
};

static void *f13_rx_main(void *p)
{
	struct f13_rx *t = p;
	char buf[64];

	t->ret = kt_recv(t->fd, buf, sizeof(buf), KMBOX_F_TIMEOUT,
			 kt_deadline_ms(KH_WAIT_MS), NULL);
	return NULL;
}

/*
 * A thread sleeps in epoll_wait on a read-only file (EPOLLIN) and an
 * eventfd.  A send that is handed straight to a sleeping receiver on
 * another file never queues anything, so it must not wake that thread;
 * today its room pass-on does, with a keyless wake-up of every poller.
 * The thread's voluntary context switches are the observable: they must
 * not change until the eventfd ends its wait.
 */
static int f13_handoff_wakes(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct f13_waiter t;
	struct f13_rx rx;
	pthread_t wt, rt;
	uint64_t one = 1, end;
	long nv0, nv;
	char name[64];
	int w, r, efd, i;
	pid_t tid;

	kt_name(name, sizeof(name), "f13h");
	w = kh_create(name, 4, 64, 0, 0);
	KH_CHECK(w >= 0, "create");
	r = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	KH_CHECK(r >= 0, "open O_RDONLY (watched)");
	rx.fd = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	KH_CHECK(rx.fd >= 0, "open O_RDONLY (receiver)");
	kt_unlink(name);
	efd = eventfd(0, EFD_CLOEXEC);
	KH_CHECK(efd >= 0, "eventfd");
	memset(&t, 0, sizeof(t));
	t.ep = epoll_create1(EPOLL_CLOEXEC);
	KH_CHECK(t.ep >= 0, "epoll_create1");
	ev.data.fd = r;
	KH_CHECK(epoll_ctl(t.ep, EPOLL_CTL_ADD, r, &ev) == 0, "add reader");
	ev.data.fd = efd;
	KH_CHECK(epoll_ctl(t.ep, EPOLL_CTL_ADD, efd, &ev) == 0, "add eventfd");

	KH_CHECK(pthread_create(&wt, NULL, f13_waiter_main, &t) == 0, "waiter");
	for (i = 0; i < 2500 && (!atomic_load(&t.tid) ||
				 kh_state(atomic_load(&t.tid)) != 'S'); i++)
		kt_sleep_ms(2);
	tid = atomic_load(&t.tid);
	KH_CHECK(tid && kh_state(tid) == 'S', "waiter asleep in epoll_wait");
	KH_CHECK(pthread_create(&rt, NULL, f13_rx_main, &rx) == 0, "receiver");
	KH_CHECK(kt_wait_waiters(w, 1, 0, KH_WAIT_MS) == 0, "receiver asleep");

	nv0 = kh_nvcsw(tid);
	KH_CHECK(nv0 >= 0, "voluntary_ctxt_switches of the waiter");
	KH_CHECK(kt_send(w, "x", 1, 0, KMBOX_F_NONBLOCK, 0) == 0, "send");
	pthread_join(rt, NULL);
	KH_CHECK(rx.ret == 1, "the receiver got the message");
	/* Give a wrongly woken waiter time to run and sleep again. */
	end = kt_deadline_ms(1000);
	do {
		nv = kh_nvcsw(tid);
		if (nv != nv0)
			break;
		kt_sleep_ms(10);
	} while (kt_now_ns() < end);

	KH_CHECK(write(efd, &one, sizeof(one)) == sizeof(one), "eventfd");
	pthread_join(wt, NULL);
	KH_CHECK(t.n >= 1, "epoll_wait ended with %d", t.n);
	for (i = 0; i < t.n; i++)
		KH_CHECK(t.out[i].data.fd == efd,
			 "the reader was reported (events %#x)",
			 t.out[i].events);
	if (nv != nv0) {
		kh_note("finding 13: a send handed to another file's receiver woke the read-only EPOLLIN watcher %ld time(s) (voluntary_ctxt_switches %ld -> %ld)",
			nv - nv0, nv0, nv);
		return KH_FAIL;
	}
	close(t.ep);
	close(efd);
	close(rx.fd);
	close(r);
	close(w);
	return KH_PASS;
}

TEST_F(hard, f13_read_only_poller_sleeps_through_a_handed_off_send)
{
	KH_RUN(f13_handoff_wakes, 25);
}

/* ---- findings 5 and 6: lost wake-ups ----------------------------------- */

struct f5 {
	int fd;
	int cpu;
	pthread_barrier_t go, done;
	atomic_int stop;
	int release;		/* 0: receive a message; 1: release slot 0 */
	uint32_t seed;
	int err;
};

static void *f5_actor(void *p)
{
	struct f5 *t = p;
	char buf[8];
	__u32 slot = 0;

	kh_pin(t->cpu);
	for (;;) {
		pthread_barrier_wait(&t->go);
		if (atomic_load(&t->stop))
			return NULL;
		kh_spin(kh_rand(&t->seed) % 2048);
		if (t->release) {
			if (kh_release(t->fd, &slot, 1))
				t->err = errno;
		} else {
			if (kt_recv(t->fd, buf, sizeof(buf), KMBOX_F_NONBLOCK,
				    0, NULL) < 0)
				t->err = errno;
		}
		pthread_barrier_wait(&t->done);
	}
}

/*
 * poll() sleeps for @events on a mailbox that has none of them, while a
 * thread on the other CPU makes one true (receives from a full mailbox
 * without a region, or releases the only slot).  Both start together
 * with random delays, to sweep the poller's registration across the
 * waker's test for sleepers.  A lost wake-up leaves poll() asleep until
 * its bound: that fails the iteration.
 */
static int f5_loop(int release)
{
	struct kmbox_attr a;
	struct pollfd pfd;
	struct f5 t;
	pthread_t th;
	unsigned int iter;
	uint32_t seed = 0x9e3779b9;
	uint64_t start, end;
	int cpu_a, cpu_b, n;
	__u32 slot;

	memset(&t, 0, sizeof(t));
	kh_two_cpus(&cpu_a, &cpu_b);
	t.cpu = cpu_a;
	t.release = release;
	t.seed = 0x12345678;
	t.fd = release ? kh_anon(4, 64, 1, 64) : kh_anon(1, 8, 0, 0);
	KH_CHECK(t.fd >= 0, "anon mailbox");
	pthread_barrier_init(&t.go, NULL, 2);
	pthread_barrier_init(&t.done, NULL, 2);
	kh_pin(cpu_b);
	KH_CHECK(pthread_create(&th, NULL, f5_actor, &t) == 0, "thread");
	pfd.fd = t.fd;
	pfd.events = release ? POLLWRBAND : POLLOUT;

	start = kt_now_ns();
	end = start + KH_LOOP_MS * 1000000ULL;
	for (iter = 0; !kh_loop_done(iter, end); iter++) {
		if (release)
			KH_CHECK(kh_reserve(t.fd, &slot, 1,
					    KMBOX_F_NONBLOCK) == 1 && slot == 0,
				 "reserve the only slot");
		else
			KH_CHECK(kt_send(t.fd, "f", 1, 0, KMBOX_F_NONBLOCK,
					 0) == 0, "fill");
		pthread_barrier_wait(&t.go);
		kh_spin(kh_rand(&seed) % 2048);
		pfd.revents = 0;
		n = poll(&pfd, 1, KH_WAIT_MS);
		if (n == 0) {
			kt_getattr(t.fd, &a);
			kh_note("finding 5: poll() for %s slept %d ms through the %s that made it true (iteration %u; cur_msgs %u of %u, zc_free %u)",
				release ? "POLLWRBAND" : "POLLOUT", KH_WAIT_MS,
				release ? "release" : "receive", iter,
				a.cur_msgs, a.max_msgs, a.zc_free);
			return KH_FAIL;
		}
		KH_CHECK(n == 1 && (pfd.revents & pfd.events),
			 "poll returned %d revents %#x", n, pfd.revents);
		pthread_barrier_wait(&t.done);
		KH_CHECK(t.err == 0, "the other thread's %s failed: %s",
			 release ? "release" : "receive", strerror(t.err));
	}
	atomic_store(&t.stop, 1);
	pthread_barrier_wait(&t.go);
	pthread_join(th, NULL);
	kh_note("finding 5: %u iterations of poll(%s) against a %s on cpu %d (poller on cpu %d) in %llu ms, no wake-up lost",
		iter, release ? "POLLWRBAND" : "POLLOUT",
		release ? "release" : "receive", cpu_a, cpu_b,
		kh_ms_since(start));
	close(t.fd);
	return KH_PASS;
}

static int f5_pollout(void)
{
	return f5_loop(0);
}

static int f5_wrband(void)
{
	return f5_loop(1);
}

TEST_F_TIMEOUT(hard, f5_pollout_poller_is_woken_by_a_racing_receive, 60)
{
	KH_RUN(f5_pollout, 50);
}

TEST_F_TIMEOUT(hard, f5_wrband_poller_is_woken_by_a_racing_release, 60)
{
	KH_RUN(f5_wrband, 50);
}

struct f6 {
	int fd;
	void *ro;		/* read-only buffer: R2's receives fault */
	pthread_barrier_t go, done;
	atomic_int stop;
	int s_ret, s_err, r1_ret, r1_err, r2_ret, r2_err;
};

struct f6_arg {
	struct f6 *t;
	int role;		/* 0: sender, 1: receiver, 2: faulting receiver */
	int cpu;
	uint32_t seed;
};

static void *f6_actor(void *p)
{
	struct f6_arg *a = p;
	struct f6 *t = a->t;
	char buf[8];
	int ret;

	kh_pin(a->cpu);
	for (;;) {
		pthread_barrier_wait(&t->go);
		if (atomic_load(&t->stop))
			return NULL;
		kh_spin(kh_rand(&a->seed) % 2048);
		switch (a->role) {
		case 0:
			ret = kt_send(t->fd, "s", 1, 0, KMBOX_F_TIMEOUT,
				      kt_deadline_ms(KH_WAIT_MS));
			t->s_ret = ret;
			t->s_err = errno;
			break;
		case 1:
			ret = kt_recv(t->fd, buf, sizeof(buf),
				      KMBOX_F_TIMEOUT,
				      kt_deadline_ms(KH_WAIT_MS), NULL);
			t->r1_ret = ret;
			t->r1_err = errno;
			break;
		default:
			ret = kt_recv(t->fd, t->ro, 8, KMBOX_F_NONBLOCK, 0,
				      NULL);
			t->r2_ret = ret;
			t->r2_err = errno;
			break;
		}
		pthread_barrier_wait(&t->done);
	}
}

/*
 * Finding 6's interleaving, swept with random delays: a full mailbox of
 * two, a sender blocking for room, a receiver that takes a message and
 * frees its room, and a receiver whose copy-out faults so that its
 * message is requeued.  The first receiver always makes room for one
 * message, so the sender must get in before its bound; ETIMEDOUT with
 * room free is a lost wake-up.
 */
static int f6_requeue(void)
{
	struct f6_arg args[3];
	pthread_t th[3];
	struct kmbox_attr a;
	unsigned int iter, i, left, efault = 0;
	char buf[8], zero[8] = { 0 };
	uint64_t start, end;
	int cpu_a, cpu_b;
	struct f6 t;

	memset(&t, 0, sizeof(t));
	kh_two_cpus(&cpu_a, &cpu_b);
	t.fd = kh_anon(2, 8, 0, 0);
	KH_CHECK(t.fd >= 0, "anon mailbox of 2");
	t.ro = kh_ro_page(zero, sizeof(zero));
	KH_CHECK(t.ro, "read-only page");
	pthread_barrier_init(&t.go, NULL, 4);
	pthread_barrier_init(&t.done, NULL, 4);
	for (i = 0; i < 3; i++) {
		args[i].t = &t;
		args[i].role = i;
		args[i].cpu = i == 1 ? cpu_b : cpu_a;
		args[i].seed = 0x1234567 * (i + 1);
		KH_CHECK(pthread_create(&th[i], NULL, f6_actor, &args[i]) == 0,
			 "thread %u", i);
	}

	start = kt_now_ns();
	end = start + KH_LOOP_MS * 1000000ULL;
	for (iter = 0; !kh_loop_done(iter, end); iter++) {
		KH_CHECK(kt_send(t.fd, "a", 1, 0, KMBOX_F_NONBLOCK, 0) == 0 &&
			 kt_send(t.fd, "b", 1, 0, KMBOX_F_NONBLOCK, 0) == 0,
			 "fill");
		pthread_barrier_wait(&t.go);
		pthread_barrier_wait(&t.done);
		if (t.s_ret != 0) {
			kt_getattr(t.fd, &a);
			kh_note("finding 6: the blocked sender got %s after %d ms although a receive made room (iteration %u; cur_msgs %u of %u now)",
				strerror(t.s_err), KH_WAIT_MS, iter,
				a.cur_msgs, a.max_msgs);
			return KH_FAIL;
		}
		KH_CHECK(t.r1_ret == 1, "receiver: %d (%s)", t.r1_ret,
			 strerror(t.r1_err));
		KH_CHECK(t.r2_ret == -1 && (t.r2_err == EFAULT ||
					    t.r2_err == EAGAIN),
			 "faulting receiver: %d (%s)", t.r2_ret,
			 strerror(t.r2_err));
		efault += t.r2_err == EFAULT;
		for (left = 0; kt_recv(t.fd, buf, sizeof(buf),
				       KMBOX_F_NONBLOCK, 0, NULL) == 1; left++)
			;
		KH_CHECK(errno == EAGAIN && left == 2,
			 "drained %u messages (want 2)", left);
	}
	atomic_store(&t.stop, 1);
	pthread_barrier_wait(&t.go);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	kh_note("finding 6: %u iterations (%u requeues) in %llu ms, the blocked sender was always woken",
		iter, efault, kh_ms_since(start));
	KH_CHECK(efault > 0, "no receive faulted");
	close(t.fd);
	return KH_PASS;
}

TEST_F_TIMEOUT(hard, f6_blocked_sender_is_woken_despite_a_racing_requeue, 60)
{
	KH_RUN(f6_requeue, 50);
}

TEST_HARNESS_MAIN
