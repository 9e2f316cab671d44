// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox attack tests: the zero-copy slot state machine, the poll relay of
 * files polled before they were bound, and the region's fault handler,
 * attacked the way a hostile local user would.  Claims, one per test:
 *
 *  - slots: with three threads sharing one file, a forked process
 *    sharing it too (SIGKILLed half way), a file closed and reopened, a
 *    read-only receiver and a file that only ever tries to release or
 *    send slots it does not hold, all at once, doing every kind of
 *    reserve, send, receive (zero-copy and copy, single and batch, with
 *    argument and buffer pages read-only or unmapped so that copy-outs
 *    fault) and release: no slot is ever held by two actors at once,
 *    every payload is the one its sender wrote, every message is
 *    delivered exactly once, the state counts of /proc/kmbox/mailboxes
 *    (a snapshot under the lock) always add up to zc_slots and agree
 *    with the message counts, slots held by a killed process sharing a
 *    file stay that file's, and once everything is drained and released
 *    every slot is free and zc_completed counts every zero-copy send;
 *  - close of a file while another thread is blocked in a zero-copy
 *    receive on it: the receive still completes (or fails) as a whole,
 *    and the slot it got is given back when the file finally goes away,
 *    or stays queued with its message when the receive faulted;
 *  - the relay: an unbound file watched by many epoll instances and a
 *    nested one, then bound, reports every message to all of them; its
 *    relay entries leave the mailbox's queues when it closes, in every
 *    order of closing the file, its dup and the epoll instances (the
 *    mailbox is kept alive and woken afterwards, so a stale entry would
 *    be a use after free); a bind racing with EPOLL_CTL_ADD or poll() in
 *    another thread never loses the first message; SIGKILL at any moment
 *    of an epoll-before-bind process leaves nothing behind; a reader
 *    watched edge-triggered before the bind drains every message of
 *    senders blocking on a small mailbox without waiting for an edge;
 *  - poll by access mode, edge-triggered, through the relay and directly:
 *    an O_RDONLY file gets one EPOLLIN edge per message, an O_WRONLY file
 *    one EPOLLOUT edge per receive that makes room and one EPOLLWRBAND
 *    edge per slot that comes free;
 *  - the region: pages spliced into a pipe with vmsplice() stay the
 *    region's bytes after every mapping, file and the mailbox are gone
 *    and other regions were created; writes through /proc/self/mem and
 *    process_vm_writev() reach the region only through a writable
 *    mapping; mremap (move, shrink, partial unmap), MADV_DONTNEED,
 *    MADV_COLD, MADV_PAGEOUT and mprotect round trips keep showing the
 *    region, MADV_FREE and MADV_REMOVE are refused; a mapping inherited
 *    by fork keeps the mailbox (and its region pages) alive after the
 *    parent closed everything, and nothing is left once it is gone.
 *
 * Every test runs three times: as root, as uid 1000, and as uid 1000 in
 * fresh user and IPC namespaces, each in a forked child.  Loops are
 * bounded by iterations and time; a bound on a wait is for liveness only.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox.h"

#define KA_PASS	0
#define KA_FAIL	1
#define KA_SKIP	4

#ifndef KA_LOOP_MS
#define KA_LOOP_MS	4000
#endif
/* Bound of one wait that a lost wake-up would turn into a hang. */
#define KA_WAIT_MS	5000
#define KA_PAGE		4096

#define KA_CHECK(cond, fmt, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "# %s:%d: check failed: %s: " fmt	\
			" (errno %d: %s)\n", __FILE__, __LINE__, #cond,	\
			##__VA_ARGS__, errno, strerror(errno));		\
		return KA_FAIL;						\
	}								\
} while (0)

#define ka_note(fmt, ...) fprintf(stderr, "# " fmt "\n", ##__VA_ARGS__)

/* ---- helpers ------------------------------------------------------------ */

enum { KA_ROOT, KA_UID1000, KA_USERNS };

static int ka_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	kt_close_keep_errno(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/*
 * Become the variant's user.  Return: KA_PASS, KA_FAIL, or KA_SKIP when
 * the kernel has no user namespaces for us.
 */
static int ka_enter(int who)
{
	if (who == KA_ROOT)
		return KA_PASS;
	KA_CHECK(kt_become(1000, 1000) == 0, "setresuid(1000)");
	/* Non-dumpable after setresuid: process_vm_* and /proc/pid/mem. */
	KA_CHECK(prctl(PR_SET_DUMPABLE, 1) == 0, "PR_SET_DUMPABLE");
	if (who != KA_USERNS)
		return KA_PASS;
	if (unshare(CLONE_NEWUSER | CLONE_NEWIPC)) {
		ka_note("SKIP: unshare(CLONE_NEWUSER | CLONE_NEWIPC): %s",
			strerror(errno));
		return KA_SKIP;
	}
	KA_CHECK(ka_write_file("/proc/self/setgroups", "deny") == 0,
		 "setgroups deny");
	KA_CHECK(ka_write_file("/proc/self/uid_map", "1000 1000 1\n") == 0,
		 "uid_map");
	KA_CHECK(ka_write_file("/proc/self/gid_map", "1000 1000 1\n") == 0,
		 "gid_map");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	KA_CHECK(prctl(PR_SET_DUMPABLE, 1) == 0, "PR_SET_DUMPABLE");
	return KA_PASS;
}

static int ka_open_attr(const char *name, int oflags, __u32 kflags,
			__u32 max_msgs, __u32 max_msgsize, __u32 nslots,
			__u32 slot_size)
{
	struct kmbox_attr a;
	int fd;

	fd = kt_dev(oflags);
	if (fd < 0)
		return -1;
	kt_attr_init(&a, max_msgs, max_msgsize);
	a.zc_slots = nslots;
	a.zc_slot_size = slot_size;
	if (kt_bind(fd, name, kflags, name ? 0600 : 0, &a)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

/* Create the named mailbox @name (O_RDWR file). */
static int ka_create(const char *name, __u32 max_msgs, __u32 max_msgsize,
		     __u32 nslots, __u32 slot_size)
{
	return ka_open_attr(name, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL,
			    max_msgs, max_msgsize, nslots, slot_size);
}

/* Open the existing mailbox @name with @oflags. */
static int ka_open(const char *name, int oflags)
{
	return ka_open_attr(name, oflags, 0, 0, 0, 0, 0);
}

static int ka_reserve(int fd, __u32 *slots, __u32 count, __u32 flags)
{
	struct kmbox_slots s = {
		.slots = KT_PTR(slots),
		.count = count,
		.flags = flags,
	};

	return ioctl(fd, KMBOX_IOC_ZC_RESERVE, &s);
}

static int ka_release(int fd, const __u32 *slots, __u32 count)
{
	struct kmbox_slots s = {
		.slots = KT_PTR(slots),
		.count = count,
	};

	return ioctl(fd, KMBOX_IOC_ZC_RELEASE, &s);
}

static int ka_zc_send(int fd, __u32 slot, __u32 len, __u32 flags)
{
	struct kmbox_send s = {
		.len = len,
		.flags = KMBOX_F_ZC | flags,
		.slot = slot,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

static void *ka_map(int fd, size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, KMBOX_OFF_REGION);

	return p == MAP_FAILED ? NULL : p;
}

/* A page holding @len bytes of @src, then made read-only. */
static void *ka_ro_page(const void *src, size_t len)
{
	void *p = mmap(NULL, KA_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, src, len);
	if (mprotect(p, KA_PAGE, PROT_READ)) {
		munmap(p, KA_PAGE);
		return NULL;
	}
	return p;
}

/*
 * A page nobody may touch: every access faults.  (PROT_NONE rather than
 * unmapped, so that no later mmap() can land there.)
 */
static void *ka_hole(void)
{
	void *p = mmap(NULL, KA_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static uint32_t ka_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static int ka_loop_done(uint64_t end)
{
	return kt_now_ns() >= end;
}

/*
 * The /proc/kmbox/mailboxes line of the named mailbox @name, checked
 * against the invariants that every snapshot must satisfy.  Return:
 * 1 found and sane, 0 not found, -1 unreadable or broken (printed).
 */
static int ka_proc_line(const char *name, struct kt_mbline *m)
{
	int found = kt_find_mailbox(name, 0, 0, m, NULL);
	unsigned long sum;

	if (found != 1)
		return found;
	sum = m->zc_free + m->zc_reserved + m->zc_queued + m->zc_taken +
	      m->zc_held;
	if (sum != m->zc_slots || m->zc_queued > m->msgs ||
	    m->zc_taken > m->inflight || m->msgs > m->max_msgs ||
	    m->inflight > m->max_msgs || m->msgs + m->inflight > m->max_msgs) {
		ka_note("/proc/kmbox/mailboxes %s: msgs %lu inflight %lu max_msgs %lu; slots %lu = free %lu + reserved %lu + queued %lu + taken %lu + held %lu?",
			name, m->msgs, m->inflight, m->max_msgs, m->zc_slots,
			m->zc_free, m->zc_reserved, m->zc_queued, m->zc_taken,
			m->zc_held);
		return -1;
	}
	return 1;
}

/* Run @fn in a child bounded by @secs, as @who. */
static int ka_run(int who, int (*fn)(void), unsigned int secs)
{
	pid_t pid = kt_fork(secs);

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int rc = ka_enter(who);

		if (rc != KA_PASS)
			_exit(rc);
		_exit(fn());
	}
	return kt_wait(pid);
}

FIXTURE(atk) {
	int unused;
};

FIXTURE_VARIANT(atk) {
	int who;
};

FIXTURE_VARIANT_ADD(atk, root) {
	.who = KA_ROOT,
};

FIXTURE_VARIANT_ADD(atk, uid1000) {
	.who = KA_UID1000,
};

FIXTURE_VARIANT_ADD(atk, userns) {
	.who = KA_USERNS,
};

FIXTURE_SETUP(atk)
{
	KT_REQUIRE_MODULE();
}

FIXTURE_TEARDOWN(atk)
{
}

/* Run a scenario in a child as the variant's user; 128 + 14 is SIGALRM. */
#define KA_RUN(fn, secs) do {						\
	int _rc = ka_run(variant->who, fn, secs);			\
									\
	if (_rc == KA_SKIP)						\
		SKIP(return, "%s: see the reason printed above", #fn);	\
	ASSERT_EQ(0, _rc) TH_LOG("%s as %s: exit %d%s", #fn,		\
				 variant->who == KA_ROOT ? "root" :	\
				 variant->who == KA_UID1000 ? "uid 1000" : \
				 "uid 1000 in a user+IPC namespace",	\
				 _rc, _rc == 128 + SIGALRM ?		\
				 " (killed by its alarm: hung)" : "");	\
} while (0)

/* ---- slots: everybody at once ------------------------------------------ */

/*
 * Actors, by id (0 is "nobody" in the holder table):
 *  1, 2, 3  threads sharing file A (O_RDWR), every operation
 *  4        a thread with its own file B (O_RDWR | O_NONBLOCK), every
 *           operation plus read()/write(), closes and reopens B now and then
 *  5        a thread with file C (O_RDONLY): receives and releases only
 *  6        a forked process sharing file A, every operation; SIGKILLed
 *           at a random moment half way
 *  7        a thread with file E (O_RDWR) that only tries to release and
 *           send slots it does not hold: always EINVAL
 *  8, 9     two threads sharing file G: 8 only receives with a read-only
 *           argument (each receive takes a message, maybe a slot for G,
 *           and must then fail and put it back), 9 only tries to release
 *           and send slots through G, which never holds one: always EINVAL
 *           (review finding 1 was such a release succeeding)
 * and a monitor thread reading /proc/kmbox/mailboxes and GETATTR.
 */
#define KS_SLOTS	24
#define KS_SLOT_SIZE	256
#define KS_MAX_MSGS	12
#define KS_MSGSIZE	256
#define KS_ACTORS	10
#define KS_CHILD	6
#define KS_EVIL		7
#define KS_FAULTER	8
#define KS_GUESSER	9
#define KS_MAXSEQ	32768
#define KS_HOLD		16
#define KS_BATCH	4
#define KS_MAGIC	0x6b6d6278u
#define KS_NOSLOT	0xffffu

struct ks_hdr {
	uint32_t magic;
	uint16_t actor;
	uint16_t slot;		/* KS_NOSLOT for a copied send */
	uint32_t seq;
	uint32_t len;		/* of the whole message */
};

/* Shared with the forked actor (MAP_SHARED). */
struct ks_shared {
	_Atomic uint32_t holder[KS_SLOTS];	/* who holds each slot */
	_Atomic uint32_t next_seq[KS_ACTORS];	/* seqs below were sent */
	_Atomic uint64_t zc_sent_a;		/* ZC sends through A */
	_Atomic int stop;
	_Atomic int failed;
	_Atomic int child_busy;	/* the child is between two steps? */
	_Atomic unsigned long ops[KS_ACTORS];
	_Atomic unsigned long efault, eagain, samples, partial;
	_Atomic uint8_t got[KS_ACTORS][KS_MAXSEQ];
};

static struct ks_shared *ks;
static unsigned char *ks_region;
static char ks_name[64];

struct ks_actor {
	int id;
	int fd;
	bool rdonly;
	bool reopen;		/* B: closes and reopens its file */
	bool via_a;		/* its ZC sends count toward A's zc_completed */
	uint32_t rng;
	__u32 held[KS_HOLD];
	bool reserved[KS_HOLD];	/* else received */
	int nheld;
	uint64_t zc_sent_file;	/* through the current incarnation of fd */
	struct kmbox_recv *ro_recv[2];	/* read-only: buffer valid / a hole */
	struct kmbox_recv *ro_timed;	/* read-only but for its deadline */
	struct kmbox_mmsg *ro_ents;	/* read-only entries, valid buffers */
	void *hole;
	unsigned char *ro_payload;	/* a read-only page with a message */
	unsigned char buf[KS_BATCH][KS_MSGSIZE];
	pthread_t th;
};

static pthread_mutex_t ks_print = PTHREAD_MUTEX_INITIALIZER;

static void ks_fail(int line, const char *cond, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	atomic_store(&ks->stop, 1);
	if (atomic_fetch_add(&ks->failed, 1) >= 4)
		return;
	pthread_mutex_lock(&ks_print);
	fprintf(stderr, "# %s:%d: pid %d: check failed: %s: ", __FILE__, line,
		getpid(), cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (errno %d: %s)\n", e, strerror(e));
	pthread_mutex_unlock(&ks_print);
}

#define KS_T(cond, fmt, ...) do {					\
	if (!(cond)) {							\
		ks_fail(__LINE__, #cond, fmt, ##__VA_ARGS__);		\
		return -1;						\
	}								\
} while (0)

static unsigned char ks_byte(uint32_t actor, uint32_t seq, uint32_t i)
{
	return (unsigned char)(actor * 31 + seq * 7 + i + (i >> 8));
}

static void ks_fill(unsigned char *p, uint32_t actor, uint32_t slot,
		    uint32_t seq, uint32_t len)
{
	struct ks_hdr h = {
		.magic = KS_MAGIC, .actor = actor, .slot = slot, .seq = seq,
		.len = len,
	};
	uint32_t i;

	memcpy(p, &h, sizeof(h));
	for (i = sizeof(h); i < len; i++)
		p[i] = ks_byte(actor, seq, i);
}

/* Check a message of @len bytes at @p; @slot: what its header must say. */
static int ks_check(const unsigned char *p, uint32_t len, uint32_t slot,
		    struct ks_hdr *h)
{
	uint32_t i;

	if (len < sizeof(*h))
		return -1;
	memcpy(h, p, sizeof(*h));
	if (h->magic != KS_MAGIC || h->len != len || !h->actor ||
	    h->actor >= KS_ACTORS || h->seq >= KS_MAXSEQ ||
	    (slot != KMBOX_NO_SLOT && h->slot != slot))
		return -1;
	for (i = sizeof(*h); i < len; i++)
		if (p[i] != ks_byte(h->actor, h->seq, i))
			return -1;
	return 0;
}

static uint32_t ks_len(struct ks_actor *a)
{
	return sizeof(struct ks_hdr) +
	       ka_rand(&a->rng) % (KS_MSGSIZE - sizeof(struct ks_hdr) + 1);
}

/* A message arrived: exactly once, and not one that was never sent. */
static int ks_got(const struct ks_hdr *h)
{
	uint8_t prev = atomic_fetch_add(&ks->got[h->actor][h->seq], 1);

	KS_T(prev == 0, "message %u of actor %u delivered %u times", h->seq,
	     h->actor, prev + 1);
	KS_T(h->seq < atomic_load(&ks->next_seq[h->actor]) + KS_BATCH,
	     "message %u of actor %u delivered, only %u sent", h->seq,
	     h->actor, atomic_load(&ks->next_seq[h->actor]));
	return 0;
}

static int ks_take_copy(struct ks_actor *a, const unsigned char *buf,
			uint32_t len)
{
	struct ks_hdr h;

	KS_T(ks_check(buf, len, KMBOX_NO_SLOT, &h) == 0,
	     "actor %d: copied message of %u bytes is not what was sent",
	     a->id, len);
	return ks_got(&h);
}

/* We received @slot: it must have been nobody's, and hold its message. */
static int ks_take_slot(struct ks_actor *a, uint32_t slot, uint32_t len)
{
	struct ks_hdr h;
	uint32_t prev;

	KS_T(slot < KS_SLOTS, "actor %d received slot %u", a->id, slot);
	prev = atomic_exchange(&ks->holder[slot], a->id);
	KS_T(prev == 0, "slot %u received by actor %d while actor %u holds it",
	     slot, a->id, prev);
	KS_T(ks_check(ks_region + slot * KS_SLOT_SIZE, len, slot, &h) == 0,
	     "actor %d: slot %u (len %u) does not hold the message sent in it",
	     a->id, slot, len);
	KS_T(a->nheld < KS_HOLD, "actor %d holds too much", a->id);
	a->held[a->nheld] = slot;
	a->reserved[a->nheld++] = false;
	return ks_got(&h);
}

static void ks_forget(struct ks_actor *a, int i)
{
	a->held[i] = a->held[a->nheld - 1];
	a->reserved[i] = a->reserved[a->nheld - 1];
	a->nheld--;
}

/* Give up our claim on @slot before the call that gives it back. */
static int ks_unclaim(struct ks_actor *a, uint32_t slot)
{
	uint32_t prev = atomic_exchange(&ks->holder[slot], 0);

	KS_T(prev == (uint32_t)a->id, "actor %d gives back slot %u held by %u",
	     a->id, slot, prev);
	return 0;
}

static int ks_reclaim(struct ks_actor *a, uint32_t slot)
{
	uint32_t prev = atomic_exchange(&ks->holder[slot], a->id);

	KS_T(prev == 0, "actor %d still holds slot %u, but actor %u took it",
	     a->id, slot, prev);
	return 0;
}

/* Sleeping calls sleep this long at most (a releaser may wake them). */
static __u64 ks_deadline(void)
{
	return kt_now_ns() + 3000000ULL;
}

static int ks_op_reserve(struct ks_actor *a)
{
	__u32 slots[3];
	int n, i, want = 1 + ka_rand(&a->rng) % 3;
	struct kmbox_slots sl = {
		.slots = KT_PTR(slots), .count = want,
		.flags = KMBOX_F_NONBLOCK,
	};

	if (a->nheld + want > KS_HOLD)
		return 0;
	if (ka_rand(&a->rng) % 3 == 0) {
		sl.flags = KMBOX_F_TIMEOUT;
		sl.deadline_ns = ks_deadline();
	}
	n = ioctl(a->fd, KMBOX_IOC_ZC_RESERVE, &sl);
	if (n < 0) {
		KS_T(errno == EAGAIN || errno == ETIMEDOUT,
		     "actor %d: reserve", a->id);
		return 0;
	}
	KS_T(n >= 1 && n <= want, "actor %d: reserve of %d gave %d", a->id,
	     want, n);
	for (i = 0; i < n; i++) {
		uint32_t prev;

		KS_T(slots[i] < KS_SLOTS, "reserve gave slot %u", slots[i]);
		prev = atomic_exchange(&ks->holder[slots[i]], a->id);
		KS_T(prev == 0, "slot %u reserved by actor %d while actor %u holds it",
		     slots[i], a->id, prev);
		a->held[a->nheld] = slots[i];
		a->reserved[a->nheld++] = true;
	}
	return 0;
}

static void ks_sent(struct ks_actor *a, unsigned int nzc)
{
	a->zc_sent_file += nzc;
	if (a->via_a)
		atomic_fetch_add(&ks->zc_sent_a, nzc);
}

/* Send one reserved slot (ZC), or a copied message from odd places. */
static int ks_op_send(struct ks_actor *a, bool zc)
{
	uint32_t seq = atomic_load(&ks->next_seq[a->id]);
	uint32_t len = ks_len(a), r = ka_rand(&a->rng) % 4;
	int i, ret;

	if (seq >= KS_MAXSEQ - KS_BATCH)
		return 0;
	if (zc) {
		for (i = 0; i < a->nheld && !a->reserved[i]; i++)
			;
		if (i == a->nheld)
			return 0;
		ks_fill(ks_region + a->held[i] * KS_SLOT_SIZE, a->id,
			a->held[i], seq, len);
		if (ks_unclaim(a, a->held[i]))
			return -1;
		ret = ka_zc_send(a->fd, a->held[i], len, KMBOX_F_NONBLOCK);
		if (ret) {
			KS_T(errno == EAGAIN, "actor %d: ZC send of slot %u",
			     a->id, a->held[i]);
			return ks_reclaim(a, a->held[i]);
		}
		atomic_store(&ks->next_seq[a->id], seq + 1);
		ks_sent(a, 1);
		ks_forget(a, i);
		return 0;
	}
	if (r == 0) {
		/* From a hole: EFAULT, and nothing is queued. */
		ret = kt_send(a->fd, a->hole, len, 0, KMBOX_F_NONBLOCK, 0);
		KS_T(ret == -1 && (errno == EFAULT || errno == EAGAIN),
		     "actor %d: send from a hole returned %d", a->id, ret);
		return 0;
	}
	if (r == 1 && a->reopen) {
		ks_fill(a->buf[0], a->id, KS_NOSLOT, seq, len);
		ret = write(a->fd, a->buf[0], len);
		if (ret < 0) {
			KS_T(errno == EAGAIN, "actor %d: write", a->id);
			return 0;
		}
		KS_T(ret == (int)len, "write returned %d of %u", ret, len);
		atomic_store(&ks->next_seq[a->id], seq + 1);
		return 0;
	}
	/* From a read-only page (fine) or our own buffer. */
	ks_fill(a->buf[0], a->id, KS_NOSLOT, seq, len);
	if (r == 2) {
		if (mprotect(a->ro_payload, KA_PAGE, PROT_READ | PROT_WRITE))
			return 0;
		memcpy(a->ro_payload, a->buf[0], len);
		mprotect(a->ro_payload, KA_PAGE, PROT_READ);
	}
	ret = kt_send(a->fd, r == 2 ? a->ro_payload : a->buf[0], len, 0,
		      KMBOX_F_NONBLOCK, 0);
	if (ret) {
		KS_T(errno == EAGAIN, "actor %d: send", a->id);
		return 0;
	}
	atomic_store(&ks->next_seq[a->id], seq + 1);
	return 0;
}

/* SEND_BATCH of up to KS_BATCH reserved slots, maybe one copied entry. */
static int ks_op_send_batch(struct ks_actor *a)
{
	uint32_t seq = atomic_load(&ks->next_seq[a->id]);
	struct kmbox_mmsg m[KS_BATCH];
	int idx[KS_BATCH], n = 0, i, ret;
	struct kmbox_batch b = { .msgs = KT_PTR(m), .flags = KMBOX_F_NONBLOCK };

	if (seq >= KS_MAXSEQ - KS_BATCH)
		return 0;
	memset(m, 0, sizeof(m));
	for (i = 0; i < a->nheld && n < KS_BATCH; i++) {
		uint32_t len = ks_len(a);

		if (!a->reserved[i])
			continue;
		if (n && ka_rand(&a->rng) % 4 == 0) {
			/* a copied entry between the slots */
			ks_fill(a->buf[n], a->id, KS_NOSLOT, seq + n, len);
			m[n].buf = KT_PTR(a->buf[n]);
			m[n].len = len;
			idx[n++] = -1;
			if (n == KS_BATCH)
				break;
			len = ks_len(a);
		}
		ks_fill(ks_region + a->held[i] * KS_SLOT_SIZE, a->id,
			a->held[i], seq + n, len);
		m[n].len = len;
		m[n].slot = a->held[i];
		m[n].flags = KMBOX_MSG_ZC;
		m[n].prio = ka_rand(&a->rng) % 3;
		idx[n++] = i;
	}
	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		if (idx[i] >= 0 && ks_unclaim(a, m[i].slot))
			return -1;
	b.count = n;
	ret = ioctl(a->fd, KMBOX_IOC_SEND_BATCH, &b);
	if (ret < 0) {
		KS_T(errno == EAGAIN, "actor %d: send batch of %d", a->id, n);
		ret = 0;
	}
	KS_T(ret <= n, "send batch of %d returned %d", n, ret);
	atomic_store(&ks->next_seq[a->id], seq + ret);
	for (i = 0; i < n; i++) {
		if (idx[i] < 0)
			continue;
		if (i >= ret) {
			if (ks_reclaim(a, m[i].slot))
				return -1;
			continue;
		}
		ks_sent(a, 1);
		a->held[idx[i]] = KMBOX_NO_SLOT;	/* forgotten below */
	}
	for (i = a->nheld - 1; i >= 0; i--)
		if (a->held[i] == KMBOX_NO_SLOT)
			ks_forget(a, i);
	return 0;
}

/* RECV, zero-copy or not, with the argument or buffer sometimes faulting. */
static int ks_op_recv(struct ks_actor *a)
{
	uint32_t r = ka_rand(&a->rng) % 8;
	bool zc = ka_rand(&a->rng) & 1;
	struct kmbox_recv rv = {
		.buf = KT_PTR(a->buf[0]),
		.len = KS_MSGSIZE,
		.flags = KMBOX_F_NONBLOCK | (zc ? KMBOX_F_ZC : 0),
	};
	int ret;

	if (a->nheld > KS_HOLD - 1) {
		zc = false;
		rv.flags &= ~KMBOX_F_ZC;
	}
	if (r == 0 || r == 1) {
		/* The answer cannot be written back: EFAULT, nothing taken. */
		ret = ioctl(a->fd, KMBOX_IOC_RECV, a->ro_recv[r]);
		KS_T(ret == -1 && (errno == EFAULT || errno == EAGAIN),
		     "actor %d: RECV with a read-only argument returned %d",
		     a->id, ret);
		atomic_fetch_add(errno == EFAULT ? &ks->efault : &ks->eagain, 1);
		return 0;
	}
	if (r == 2)
		rv.buf = KT_PTR(a->hole);	/* only a slot can come */
	if (r == 4) {
		/* Asleep when the queue is empty: a sender hands it over. */
		rv.flags = (rv.flags & ~KMBOX_F_NONBLOCK) | KMBOX_F_TIMEOUT;
		rv.deadline_ns = ks_deadline();
	}
	if (r == 3 && a->reopen) {
		ret = read(a->fd, a->buf[0], KS_MSGSIZE);
		if (ret < 0) {
			KS_T(errno == EAGAIN, "actor %d: read", a->id);
			return 0;
		}
		return ks_take_copy(a, a->buf[0], ret);
	}
	ret = ioctl(a->fd, KMBOX_IOC_RECV, &rv);
	if (ret < 0) {
		KS_T(errno == EAGAIN || (r == 2 && errno == EFAULT) ||
		     (r == 4 && errno == ETIMEDOUT),
		     "actor %d: RECV%s%s", a->id, zc ? " ZC" : "",
		     r == 2 ? " into a hole" : "");
		atomic_fetch_add(errno == EFAULT ? &ks->efault : &ks->eagain, 1);
		return 0;
	}
	KS_T(ret == (int)rv.len, "RECV returned %d, len %u", ret, rv.len);
	if (rv.msg_flags & KMBOX_MSG_ZC) {
		KS_T(zc, "a slot came to a receive without KMBOX_F_ZC");
		return ks_take_slot(a, rv.slot, rv.len);
	}
	KS_T(rv.slot == KMBOX_NO_SLOT && r != 2,
	     "copied message: slot %u, into %s", rv.slot,
	     r == 2 ? "a hole" : "the buffer");
	return ks_take_copy(a, a->buf[0], rv.len);
}

/* RECV_BATCH, zero-copy or not, with entries or one buffer faulting. */
static int ks_op_recv_batch(struct ks_actor *a)
{
	uint32_t r = ka_rand(&a->rng) % 6;
	bool zc = (ka_rand(&a->rng) & 1) && a->nheld <= KS_HOLD - KS_BATCH;
	unsigned int n = 1 + ka_rand(&a->rng) % KS_BATCH, i;
	struct kmbox_mmsg m[KS_BATCH];
	struct kmbox_batch b = {
		.msgs = KT_PTR(m), .count = n,
		.flags = KMBOX_F_NONBLOCK | (zc ? KMBOX_F_ZC : 0),
	};
	int ret;

	memset(m, 0, sizeof(m));
	for (i = 0; i < n; i++) {
		m[i].buf = KT_PTR(a->buf[i]);
		m[i].len = KS_MSGSIZE;
	}
	if (r == 0) {
		/* Entries on a read-only page: nothing can be delivered. */
		b.msgs = KT_PTR(a->ro_ents);
		ret = ioctl(a->fd, KMBOX_IOC_RECV_BATCH, &b);
		KS_T(ret == -1 && (errno == EFAULT || errno == EAGAIN),
		     "actor %d: RECV_BATCH of %u with read-only entries returned %d",
		     a->id, n, ret);
		atomic_fetch_add(errno == EFAULT ? &ks->efault : &ks->eagain, 1);
		return 0;
	}
	if (r == 1 && n > 1)
		m[1].buf = KT_PTR(a->hole);	/* entry 1 faults if copied */
	if (r == 5) {
		b.flags = (b.flags & ~KMBOX_F_NONBLOCK) | KMBOX_F_TIMEOUT;
		b.deadline_ns = ks_deadline();
	}
	ret = ioctl(a->fd, KMBOX_IOC_RECV_BATCH, &b);
	if (ret < 0) {
		KS_T(errno == EAGAIN || (r == 5 && errno == ETIMEDOUT),
		     "actor %d: RECV_BATCH of %u", a->id, n);
		atomic_fetch_add(&ks->eagain, 1);
		return 0;
	}
	KS_T(ret >= 1 && ret <= (int)n, "RECV_BATCH of %u returned %d", n,
	     ret);
	if (r == 1 && n > 1 && ret == 1)
		atomic_fetch_add(&ks->partial, 1);
	for (i = 0; i < (unsigned int)ret; i++) {
		if (m[i].flags & KMBOX_MSG_ZC) {
			KS_T(zc, "a slot came to a batch without KMBOX_F_ZC");
			if (ks_take_slot(a, m[i].slot, m[i].len))
				return -1;
			continue;
		}
		KS_T(m[i].slot == KMBOX_NO_SLOT && !(r == 1 && i == 1),
		     "entry %u: copied, slot %u", i, m[i].slot);
		if (ks_take_copy(a, a->buf[i], m[i].len))
			return -1;
	}
	return 0;
}

/* Release some of what we hold, or try a list with a duplicate. */
static int ks_op_release(struct ks_actor *a, bool dup)
{
	__u32 list[KS_HOLD + 1];
	int n = 0, i, ret;

	if (!a->nheld)
		return 0;
	if (dup) {
		list[0] = a->held[ka_rand(&a->rng) % a->nheld];
		list[1] = a->held[ka_rand(&a->rng) % a->nheld];
		list[2] = list[0];
		ret = ka_release(a->fd, list, 3);
		KS_T(ret == -1 && errno == EINVAL,
		     "actor %d: release list with slot %u twice returned %d",
		     a->id, list[0], ret);
		return 0;
	}
	for (i = a->nheld - 1; i >= 0; i--) {
		if (ka_rand(&a->rng) % 2 && n)
			continue;
		list[n++] = a->held[i];
		if (ks_unclaim(a, a->held[i]))
			return -1;
		ks_forget(a, i);
	}
	ret = ka_release(a->fd, list, n);
	KS_T(ret == 0, "actor %d: release of %d slots it holds (first %u)",
	     a->id, n, list[0]);
	return 0;
}

static int ks_release_all(struct ks_actor *a)
{
	while (a->nheld)
		if (ks_op_release(a, false))
			return -1;
	return 0;
}

/* Close our file (the kernel gives back what it holds) and reopen. */
static int ks_op_reopen(struct ks_actor *a)
{
	struct kmbox_attr at;
	int i;

	for (i = 0; i < a->nheld; i++)
		if (ks_unclaim(a, a->held[i]))
			return -1;
	a->nheld = 0;
	close(a->fd);
	a->fd = ka_open(ks_name, O_RDWR | O_NONBLOCK);
	KS_T(a->fd >= 0, "reopen %s", ks_name);
	a->zc_sent_file = 0;
	KS_T(kt_getattr(a->fd, &at) == 0 && at.zc_held == 0 &&
	     at.zc_completed == 0, "new file: zc_held %u zc_completed %llu",
	     at.zc_held, (unsigned long long)at.zc_completed);
	return 0;
}

/* A file used by this actor alone: GETATTR's zc_held is exactly ours. */
static int ks_op_getattr(struct ks_actor *a, bool exact)
{
	struct kmbox_attr at;

	KS_T(kt_getattr(a->fd, &at) == 0, "getattr");
	KS_T(at.zc_free <= at.zc_slots && at.zc_slots == KS_SLOTS &&
	     at.cur_msgs <= KS_MAX_MSGS,
	     "zc_free %u of %u, cur_msgs %u", at.zc_free, at.zc_slots,
	     at.cur_msgs);
	KS_T(!exact || at.zc_held == (__u32)a->nheld,
	     "actor %d: zc_held %u, holds %d", a->id, at.zc_held, a->nheld);
	return 0;
}

/* A receive through a dup of our file. */
static int ks_op_dup(struct ks_actor *a)
{
	int fd = a->fd, ret;

	a->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	KS_T(a->fd >= 0, "dup");
	ret = ks_op_recv(a);
	close(a->fd);
	a->fd = fd;
	return ret;
}

static int ks_step(struct ks_actor *a)
{
	uint32_t r = ka_rand(&a->rng) % 100;

	if (a->rdonly) {
		if (r < 40)
			return ks_op_recv(a);
		if (r < 75)
			return ks_op_recv_batch(a);
		if (r < 95)
			return ks_op_release(a, false);
		if (r < 97)
			return ks_op_release(a, true);
		return ks_op_getattr(a, true);
	}
	if (r < 16)
		return ks_op_reserve(a);
	if (r < 30)
		return ks_op_send(a, true);
	if (r < 37)
		return ks_op_send_batch(a);
	if (r < 46)
		return ks_op_send(a, false);
	if (r < 62)
		return ks_op_recv(a);
	if (r < 76)
		return ks_op_recv_batch(a);
	if (r < 90)
		return ks_op_release(a, false);
	if (r < 93)
		return ks_op_release(a, true);
	if (r < 97)
		return ks_op_getattr(a, !a->via_a);
	if (a->reopen)
		return ks_op_reopen(a);
	return ks_op_dup(a);
}

/*
 * The child says when it is inside a step: killed there, it may have
 * taken messages (and slots) it never got to count.
 */
static int ks_actor_run(struct ks_actor *a, uint64_t end)
{
	bool child = a->id == KS_CHILD;
	int ret = 0;

	while (!atomic_load(&ks->stop) && !ka_loop_done(end)) {
		if (child)
			atomic_store(&ks->child_busy, 1);
		if (ks_step(a))
			return -1;
		if (child)
			atomic_store(&ks->child_busy, 0);
		atomic_fetch_add(&ks->ops[a->id], 1);
	}
	if (child)
		atomic_store(&ks->child_busy, 1);
	ret = ks_release_all(a);
	if (child)
		atomic_store(&ks->child_busy, 0);
	return ret;
}

static uint64_t ks_end;

static void *ks_actor_main(void *p)
{
	ks_actor_run(p, ks_end);
	return NULL;
}

/* Actor 7: nothing it tries may succeed. */
static int ks_evil_step(struct ks_actor *a)
{
	__u32 list[3];
	int n = 1 + ka_rand(&a->rng) % 3, i, ret;

	for (i = 0; i < n; i++)
		list[i] = ka_rand(&a->rng) % (KS_SLOTS + 2);
	ret = ka_release(a->fd, list, n);
	KS_T(ret == -1 && errno == EINVAL,
	     "file holding nothing released %d slot(s), first %u: %d", n,
	     list[0], ret);
	ret = ka_zc_send(a->fd, list[0], 16, KMBOX_F_NONBLOCK);
	KS_T(ret == -1 && (errno == EINVAL),
	     "file holding nothing sent slot %u: %d", list[0], ret);
	return ks_op_getattr(a, true);
}

static void *ks_evil_main(void *p)
{
	struct ks_actor *a = p;

	while (!atomic_load(&ks->stop) && !ka_loop_done(ks_end)) {
		if (ks_evil_step(a))
			break;
		atomic_fetch_add(&ks->ops[a->id], 1);
		sched_yield();
	}
	return NULL;
}

/*
 * Actor 8: every receive takes something and must give it back.  Half of
 * them sleep (a sender hands the message, and its slot, to the sleeping
 * receive) while actor 9 tries to release that slot through the file.
 */
static int ks_faulter_step(struct ks_actor *a)
{
	struct kmbox_batch b = {
		.msgs = KT_PTR(a->ro_ents), .count = 1 + ka_rand(&a->rng) % KS_BATCH,
		.flags = KMBOX_F_NONBLOCK | KMBOX_F_ZC,
	};
	bool sleep = ka_rand(&a->rng) % 2;
	struct kmbox_recv *rv = sleep ? a->ro_timed : a->ro_recv[0];
	int ret;

	if (sleep) {
		KS_T(mprotect(rv, KA_PAGE, PROT_READ | PROT_WRITE) == 0,
		     "mprotect");
		rv->flags = KMBOX_F_ZC | KMBOX_F_TIMEOUT;
		rv->deadline_ns = ks_deadline();
		KS_T(mprotect(rv, KA_PAGE, PROT_READ) == 0, "mprotect");
		b.flags = KMBOX_F_ZC | KMBOX_F_TIMEOUT;
		b.deadline_ns = rv->deadline_ns;
	}
	if (ka_rand(&a->rng) % 2)
		ret = ioctl(a->fd, KMBOX_IOC_RECV, rv);
	else
		ret = ioctl(a->fd, KMBOX_IOC_RECV_BATCH, &b);
	KS_T(ret == -1 && (errno == EFAULT || errno == EAGAIN ||
			   (sleep && errno == ETIMEDOUT)),
	     "a receive that cannot write its answer returned %d", ret);
	atomic_fetch_add(errno == EFAULT ? &ks->efault : &ks->eagain, 1);
	return 0;
}

static void *ks_faulter_main(void *p)
{
	struct ks_actor *a = p;

	while (!atomic_load(&ks->stop) && !ka_loop_done(ks_end)) {
		if (ks_faulter_step(a))
			break;
		atomic_fetch_add(&ks->ops[a->id], 1);
	}
	return NULL;
}

static void *ks_monitor_main(void *p)
{
	struct ks_actor *a = p;
	struct kt_mbline m;
	int r;

	while (!atomic_load(&ks->stop)) {
		r = ka_proc_line(ks_name, &m);
		if (r != 1) {
			ks_fail(__LINE__, "ka_proc_line", "%s in /proc/kmbox/mailboxes: %d",
				ks_name, r);
			break;
		}
		if (m.zc_slots != KS_SLOTS || m.max_msgs != KS_MAX_MSGS) {
			ks_fail(__LINE__, "columns", "zc_slots %lu max_msgs %lu",
				m.zc_slots, m.max_msgs);
			break;
		}
		if (ks_op_getattr(a, true))
			break;
		atomic_fetch_add(&ks->samples, 1);
		sched_yield();
	}
	return NULL;
}

static int ks_actor_init(struct ks_actor *a, int id, int fd)
{
	struct kmbox_recv rv = {
		.buf = KT_PTR(a->buf[0]), .len = KS_MSGSIZE,
		.flags = KMBOX_F_NONBLOCK | KMBOX_F_ZC,
	};
	struct kmbox_mmsg m[KS_BATCH];
	int i;

	memset(a, 0, sizeof(*a));
	a->id = id;
	a->fd = fd;
	a->rng = 0x9e3779b9u * (id + 1) ^ (uint32_t)getpid();
	a->hole = ka_hole();
	a->ro_recv[0] = ka_ro_page(&rv, sizeof(rv));
	a->ro_timed = ka_ro_page(&rv, sizeof(rv));
	rv.buf = KT_PTR(a->hole);
	rv.flags = KMBOX_F_NONBLOCK;
	a->ro_recv[1] = ka_ro_page(&rv, sizeof(rv));
	memset(m, 0, sizeof(m));
	for (i = 0; i < KS_BATCH; i++) {
		m[i].buf = KT_PTR(a->buf[i]);
		m[i].len = KS_MSGSIZE;
	}
	a->ro_ents = ka_ro_page(m, sizeof(m));
	a->ro_payload = ka_ro_page(m, 1);
	return a->hole && a->ro_recv[0] && a->ro_recv[1] && a->ro_timed &&
	       a->ro_ents && a->ro_payload ? 0 : -1;
}

/*
 * Everything A holds now is the killed child's: give it back through A.
 * Slots it had not claimed yet (or no longer) are only possible if it
 * died inside a step.
 */
static int ks_orphans(int fd_a, bool busy, unsigned int *orphans)
{
	unsigned int booked = 0, extra = 0;
	__u32 s;

	for (s = 0; s < KS_SLOTS; s++) {
		uint32_t h = atomic_load(&ks->holder[s]);
		int ret = ka_release(fd_a, &s, 1);

		KA_CHECK(h == 0 || h == KS_CHILD,
			 "slot %u still claimed by actor %u after it stopped",
			 s, h);
		if (h == KS_CHILD) {
			KA_CHECK(ret == 0,
				 "slot %u that the killed child held through A cannot be released through A",
				 s);
			booked++;
			atomic_store(&ks->holder[s], 0);
		} else if (ret == 0) {
			extra++;
		} else {
			KA_CHECK(errno == EINVAL, "release of slot %u", s);
		}
	}
	KA_CHECK(extra <= (busy ? KS_BATCH : 0),
		 "A held %u slots nobody had claimed (the child was killed holding %u, %s)",
		 extra, booked, busy ? "inside a step" : "between two steps");
	*orphans = booked + extra;
	return KA_PASS;
}

static int ks_everybody(void)
{
	struct ks_actor *act;
	struct kt_stats st0, st1;
	struct kt_mbline m;
	struct kmbox_attr at;
	pthread_t mon;
	unsigned int orphans, drained = 0, i, child_slack, lost = 0;
	bool busy;
	int fd_a, fd_c, fd_e, fd_g, fd_d, id, rc;
	uint64_t start;
	pid_t child;
	uint32_t seq;

	ks = mmap(NULL, sizeof(*ks), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	KA_CHECK(ks != MAP_FAILED, "shared state");
	act = mmap(NULL, KS_ACTORS * sizeof(*act), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KA_CHECK(act != MAP_FAILED, "actors");
	KA_CHECK(kt_read_stats(&st0) == 0, "/proc/kmbox/stats");

	kt_name(ks_name, sizeof(ks_name), "everybody");
	fd_a = ka_create(ks_name, KS_MAX_MSGS, KS_MSGSIZE, KS_SLOTS,
			 KS_SLOT_SIZE);
	KA_CHECK(fd_a >= 0, "create %s", ks_name);
	ks_region = ka_map(fd_a, KS_SLOTS * KS_SLOT_SIZE, PROT_READ | PROT_WRITE);
	KA_CHECK(ks_region, "map the region");
	fd_c = ka_open(ks_name, O_RDONLY);
	fd_e = ka_open(ks_name, O_RDWR);
	fd_g = ka_open(ks_name, O_RDWR);
	KA_CHECK(fd_c >= 0 && fd_e >= 0 && fd_g >= 0, "open C, E and G");
	for (id = 1; id < KS_ACTORS; id++) {
		int fd = id <= 3 || id == KS_CHILD ? fd_a :
			 id == 4 ? ka_open(ks_name, O_RDWR | O_NONBLOCK) :
			 id == 5 ? fd_c : id == KS_EVIL ? fd_e : fd_g;

		KA_CHECK(fd >= 0 && ks_actor_init(&act[id], id, fd) == 0,
			 "actor %d", id);
		act[id].via_a = fd == fd_a;
	}
	act[4].reopen = true;
	act[5].rdonly = true;

	start = kt_now_ns();
	ks_end = start + (uint64_t)KA_LOOP_MS * 1000000ULL;
	child = fork();
	KA_CHECK(child >= 0, "fork");
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		ks_actor_run(&act[KS_CHILD], ks_end);
		_exit(0);
	}
	for (id = 1; id < KS_ACTORS; id++)
		if (id != KS_CHILD)
			KA_CHECK(pthread_create(&act[id].th, NULL,
						id == KS_EVIL || id == KS_GUESSER ?
						ks_evil_main : id == KS_FAULTER ?
						ks_faulter_main : ks_actor_main,
						&act[id]) == 0,
				 "thread %d", id);
	KA_CHECK(pthread_create(&mon, NULL, ks_monitor_main, &act[KS_EVIL]) == 0,
		 "monitor");

	/* Half way (give or take), the child dies wherever it is. */
	kt_sleep_ms(KA_LOOP_MS / 4 + ka_rand(&act[1].rng) % (KA_LOOP_MS / 2));
	kill(child, SIGKILL);
	rc = kt_wait(child);
	for (id = 1; id < KS_ACTORS; id++)
		if (id != KS_CHILD)
			pthread_join(act[id].th, NULL);
	atomic_store(&ks->stop, 1);
	pthread_join(mon, NULL);
	if (atomic_load(&ks->failed))
		return KA_FAIL;
	KA_CHECK(rc == 128 + SIGKILL || rc == 0, "child exit %d", rc);

	/* Every actor stopped: check the counts at rest, then clean up. */
	KA_CHECK(ka_proc_line(ks_name, &m) == 1, "/proc line at rest");
	KA_CHECK(m.zc_taken == 0 && m.inflight == 0,
		 "at rest: zc_taken %lu inflight %lu", m.zc_taken, m.inflight);
	busy = atomic_load(&ks->child_busy);
	if (ks_orphans(fd_a, busy, &orphans))
		return KA_FAIL;

	fd_d = ka_open(ks_name, O_RDONLY | O_NONBLOCK);
	KA_CHECK(fd_d >= 0, "drain file");
	for (;;) {
		struct ks_hdr h;
		int n = read(fd_d, act[1].buf[0], KS_MSGSIZE);

		if (n < 0) {
			KA_CHECK(errno == EAGAIN, "drain read");
			break;
		}
		KA_CHECK(ks_check(act[1].buf[0], n, KMBOX_NO_SLOT, &h) == 0,
			 "drained message of %d bytes is not what was sent", n);
		if (ks_got(&h))
			return KA_FAIL;
		drained++;
	}
	KA_CHECK(ka_proc_line(ks_name, &m) == 1, "/proc line after the drain");
	KA_CHECK(m.msgs == 0 && m.inflight == 0 && m.zc_free == KS_SLOTS,
		 "after the drain: msgs %lu inflight %lu free %lu reserved %lu queued %lu taken %lu held %lu",
		 m.msgs, m.inflight, m.zc_free, m.zc_reserved, m.zc_queued,
		 m.zc_taken, m.zc_held);

	/*
	 * Exactly once, per actor.  Killed inside a step, the child may have
	 * sent one batch it did not count, or received one it did not.
	 */
	for (id = 1; id < KS_ACTORS; id++) {
		uint32_t sent = atomic_load(&ks->next_seq[id]);

		child_slack = id == KS_CHILD && busy ? KS_BATCH : 0;
		for (seq = 0; seq < KS_MAXSEQ; seq++) {
			uint8_t g = atomic_load(&ks->got[id][seq]);

			if (seq < sent && g == 0 && busy && lost < KS_BATCH) {
				lost++;
				continue;
			}
			if (seq < sent)
				KA_CHECK(g == 1,
					 "actor %d message %u (of %u sent) delivered %u times (the child died %s)",
					 id, seq, sent, g,
					 busy ? "inside a step" : "between two steps");
			else if (seq < sent + child_slack)
				KA_CHECK(g <= 1, "actor %d message %u delivered %u times",
					 id, seq, g);
			else
				KA_CHECK(g == 0,
					 "actor %d message %u delivered but only %u were sent",
					 id, seq, sent);
		}
	}

	/* Completions: every ZC send of A, and of B's last incarnation. */
	KA_CHECK(kt_getattr(fd_a, &at) == 0, "getattr A");
	KA_CHECK(at.zc_held == 0 && at.zc_completed >= ks->zc_sent_a &&
		 at.zc_completed <= ks->zc_sent_a + KS_BATCH,
		 "A: zc_held %u zc_completed %llu, %llu ZC sends through A",
		 at.zc_held, (unsigned long long)at.zc_completed,
		 (unsigned long long)ks->zc_sent_a);
	KA_CHECK(kt_getattr(act[4].fd, &at) == 0, "getattr B");
	KA_CHECK(at.zc_held == 0 && at.zc_completed == act[4].zc_sent_file,
		 "B: zc_held %u zc_completed %llu, %llu ZC sends through it",
		 at.zc_held, (unsigned long long)at.zc_completed,
		 (unsigned long long)act[4].zc_sent_file);
	KA_CHECK(kt_getattr(fd_e, &at) == 0 && at.zc_held == 0 &&
		 at.zc_completed == 0, "E: zc_held %u zc_completed %llu",
		 at.zc_held, (unsigned long long)at.zc_completed);
	KA_CHECK(kt_getattr(fd_g, &at) == 0 && at.zc_held == 0 &&
		 at.zc_completed == 0, "G: zc_held %u zc_completed %llu",
		 at.zc_held, (unsigned long long)at.zc_completed);
	KA_CHECK(kt_read_stats(&st1) == 0, "/proc/kmbox/stats");
	KA_CHECK(st1.zc_slots_held == st0.zc_slots_held &&
		 st1.messages == st0.messages,
		 "stats: zc_slots_held %ld -> %ld, messages %ld -> %ld",
		 st0.zc_slots_held, st1.zc_slots_held, st0.messages,
		 st1.messages);

	for (i = 1; i < KS_ACTORS; i++)
		ka_note("actor %u: %lu ops, %u sent", i, atomic_load(&ks->ops[i]),
			atomic_load(&ks->next_seq[i]));
	ka_note("%lu /proc samples, %lu EFAULT, %lu EAGAIN, %lu partial batches, %u orphans of the child (died %s), %u drained, %u lost with it",
		atomic_load(&ks->samples), atomic_load(&ks->efault),
		atomic_load(&ks->eagain), atomic_load(&ks->partial), orphans,
		busy ? "inside a step" : "between two steps", drained, lost);
	KA_CHECK(atomic_load(&ks->ops[KS_CHILD]) > 0 && atomic_load(&ks->samples) > 0,
		 "nothing ran");

	munmap(ks_region, KS_SLOTS * KS_SLOT_SIZE);
	close(fd_d);
	close(act[4].fd);
	close(fd_g);
	close(fd_e);
	close(fd_c);
	close(fd_a);
	KA_CHECK(kt_unlink(ks_name) == 0, "unlink");
	KA_CHECK(kt_find_mailbox(ks_name, 0, 0, NULL, NULL) == 0,
		 "%s still listed", ks_name);
	return KA_PASS;
}

TEST_F_TIMEOUT(atk, slots_stay_consistent_with_everybody_at_once, 90)
{
	KA_RUN(ks_everybody, 80);
}

/* ---- close while another thread is blocked in a zero-copy receive ------- */

enum { KC_HANDOFF, KC_RO_RECV, KC_RO_BATCH, KC_DUP_KEPT };

struct kc_rx {
	int fd;
	unsigned long cmd;
	void *arg;
	int ret, err;
};

static void *kc_rx_main(void *p)
{
	struct kc_rx *rx = p;

	rx->ret = ioctl(rx->fd, rx->cmd, rx->arg);
	rx->err = errno;
	return NULL;
}

/* The mailbox's /proc line must read exactly so. */
static int kc_expect(const char *name, unsigned long msgs, unsigned long free,
		     unsigned long queued, unsigned long held)
{
	struct kt_mbline m;

	KA_CHECK(ka_proc_line(name, &m) == 1, "/proc line of %s", name);
	KA_CHECK(m.msgs == msgs && m.zc_free == free && m.zc_queued == queued &&
		 m.zc_held == held && m.zc_taken == 0 && m.zc_reserved == 0 &&
		 m.inflight == 0,
		 "msgs %lu inflight %lu free %lu reserved %lu queued %lu taken %lu held %lu; want msgs %lu free %lu queued %lu held %lu",
		 m.msgs, m.inflight, m.zc_free, m.zc_reserved, m.zc_queued,
		 m.zc_taken, m.zc_held, msgs, free, queued, held);
	return KA_PASS;
}

/*
 * A thread sleeps in a zero-copy receive on file R; another closes R's
 * descriptor (R stays open: the receive holds it); a sender hands the
 * receive a slot.  The receive completes or fails as a whole, and the
 * slot is never left taken: given back when R goes away after the
 * receive, held by R while a dup keeps it open, or queued again with its
 * message when the receive could not write its answer.
 */
static int kc_case(int mode)
{
	struct kmbox_recv rv = { .len = 64, .flags = KMBOX_F_ZC }, got;
	struct kmbox_mmsg ents[2];
	struct kmbox_batch b = { .count = 2, .flags = KMBOX_F_ZC };
	struct kmbox_attr at;
	struct kc_rx rx = { 0 };
	unsigned char buf[64], *region;
	char name[64];
	pthread_t th;
	int fd_s, fd_r, fd_dup = -1;
	__u32 slot;

	kt_name(name, sizeof(name), "closeblk");
	fd_s = ka_create(name, 4, 64, 4, 64);
	KA_CHECK(fd_s >= 0, "create");
	fd_r = ka_open(name, O_RDWR);
	KA_CHECK(fd_r >= 0, "open R");
	region = ka_map(fd_s, KA_PAGE, PROT_READ | PROT_WRITE);
	KA_CHECK(region, "map");
	rv.buf = KT_PTR(buf);
	memset(ents, 0, sizeof(ents));
	ents[0].buf = KT_PTR(buf);
	ents[0].len = sizeof(buf);
	ents[1] = ents[0];

	rx.fd = fd_r;
	rx.cmd = KMBOX_IOC_RECV;
	rx.arg = &rv;
	if (mode == KC_RO_RECV) {
		rx.arg = ka_ro_page(&rv, sizeof(rv));
		KA_CHECK(rx.arg, "read-only argument");
	} else if (mode == KC_RO_BATCH) {
		b.msgs = KT_PTR(ka_ro_page(ents, sizeof(ents)));
		KA_CHECK(b.msgs, "read-only entries");
		rx.cmd = KMBOX_IOC_RECV_BATCH;
		rx.arg = &b;
	} else if (mode == KC_DUP_KEPT) {
		fd_dup = fcntl(fd_r, F_DUPFD_CLOEXEC, 0);
		KA_CHECK(fd_dup >= 0, "dup");
	}
	KA_CHECK(pthread_create(&th, NULL, kc_rx_main, &rx) == 0, "thread");
	KA_CHECK(kt_wait_waiters(fd_s, 1, 0, KA_WAIT_MS) == 0,
		 "receiver asleep");
	KA_CHECK(close(fd_r) == 0, "close R under the sleeping receive");

	KA_CHECK(ka_reserve(fd_s, &slot, 1, KMBOX_F_NONBLOCK) == 1, "reserve");
	kt_fill(region + slot * 64, 32, slot + 7);
	KA_CHECK(ka_zc_send(fd_s, slot, 32, KMBOX_F_NONBLOCK) == 0, "send");
	pthread_join(th, NULL);

	switch (mode) {
	case KC_HANDOFF:
	case KC_DUP_KEPT:
		KA_CHECK(rx.ret == 32 && rv.slot == slot &&
			 rv.msg_flags == KMBOX_MSG_ZC,
			 "receive: ret %d errno %d slot %u flags %u (want slot %u)",
			 rx.ret, rx.err, rv.slot, rv.msg_flags, slot);
		KA_CHECK(kt_check_fill(region + slot * 64, 32, slot + 7),
			 "payload");
		if (mode == KC_HANDOFF) {
			/* R went away when the receive returned. */
			if (kc_expect(name, 0, 4, 0, 0))
				return KA_FAIL;
			break;
		}
		if (kc_expect(name, 0, 3, 0, 1))
			return KA_FAIL;
		KA_CHECK(ka_release(fd_s, &slot, 1) == -1 && errno == EINVAL,
			 "the sender released the slot R holds");
		KA_CHECK(ka_release(fd_dup, &slot, 1) == 0,
			 "release through the dup of R");
		close(fd_dup);
		if (kc_expect(name, 0, 4, 0, 0))
			return KA_FAIL;
		break;
	default:
		KA_CHECK(rx.ret == -1 && rx.err == EFAULT,
			 "receive with a read-only %s: ret %d errno %d",
			 mode == KC_RO_RECV ? "argument" : "entry array",
			 rx.ret, rx.err);
		if (kc_expect(name, 1, 3, 1, 0))
			return KA_FAIL;
		KA_CHECK(kt_recv(fd_s, buf, sizeof(buf),
				 KMBOX_F_ZC | KMBOX_F_NONBLOCK, 0, &got) == 32 &&
			 got.slot == slot && got.msg_flags == KMBOX_MSG_ZC,
			 "the message came back with slot %u flags %u (want %u)",
			 got.slot, got.msg_flags, slot);
		KA_CHECK(kt_check_fill(region + slot * 64, 32, slot + 7),
			 "payload");
		KA_CHECK(ka_release(fd_s, &slot, 1) == 0, "release");
		if (kc_expect(name, 0, 4, 0, 0))
			return KA_FAIL;
	}
	KA_CHECK(kt_getattr(fd_s, &at) == 0 && at.zc_completed == 1 &&
		 at.zc_held == 0, "sender: zc_completed %llu zc_held %u",
		 (unsigned long long)at.zc_completed, at.zc_held);
	munmap(region, KA_PAGE);
	close(fd_s);
	KA_CHECK(kt_unlink(name) == 0, "unlink");
	return KA_PASS;
}

static int kc_handoff(void)
{
	return kc_case(KC_HANDOFF);
}

static int kc_ro_recv(void)
{
	return kc_case(KC_RO_RECV);
}

static int kc_ro_batch(void)
{
	return kc_case(KC_RO_BATCH);
}

static int kc_dup_kept(void)
{
	return kc_case(KC_DUP_KEPT);
}

TEST_F(atk, close_under_a_zc_receive_gives_the_slot_back_after_it)
{
	KA_RUN(kc_handoff, 25);
}

TEST_F(atk, close_under_a_faulting_zc_receive_leaves_the_message_queued)
{
	KA_RUN(kc_ro_recv, 25);
}

TEST_F(atk, close_under_a_faulting_zc_batch_receive_leaves_the_message_queued)
{
	KA_RUN(kc_ro_batch, 25);
}

TEST_F(atk, close_of_one_dup_under_a_zc_receive_leaves_the_slot_held)
{
	KA_RUN(kc_dup_kept, 25);
}

/*
 * The same, in a process SIGKILLed at a random moment around the
 * hand-off: whether the receive got the slot or not, once the process is
 * gone no slot is reserved, taken or held, and a message not delivered
 * is queued with its slot.
 */
static int kc_killed(void)
{
	uint32_t rng = 0x2545f491u ^ (uint32_t)getpid();
	unsigned int round, delivered = 0;
	struct kt_mbline m;
	char name[64];
	int fd_s;

	kt_name(name, sizeof(name), "closekill");
	fd_s = ka_create(name, 4, 64, 4, 64);
	KA_CHECK(fd_s >= 0, "create");
	for (round = 0; round < 40; round++) {
		int ready[2], fd_r, st;
		__u32 slot;
		char c;
		pid_t pid;

		KA_CHECK(pipe2(ready, O_CLOEXEC) == 0, "pipe");
		fd_r = ka_open(name, O_RDWR);
		KA_CHECK(fd_r >= 0, "open R");
		pid = kt_fork(20);
		KA_CHECK(pid >= 0, "fork");
		if (pid == 0) {
			struct kmbox_recv rv = { .len = 0, .flags = KMBOX_F_ZC };
			struct kc_rx rx = {
				.fd = fd_r, .cmd = KMBOX_IOC_RECV, .arg = &rv,
			};
			pthread_t th;

			if (pthread_create(&th, NULL, kc_rx_main, &rx))
				_exit(1);
			if (kt_wait_waiters(fd_s, 1, 0, KA_WAIT_MS))
				_exit(2);
			close(fd_r);
			if (write(ready[1], "r", 1) != 1)
				_exit(3);
			pthread_join(th, NULL);
			pause();
			_exit(0);
		}
		close(fd_r);
		close(ready[1]);
		KA_CHECK(read(ready[0], &c, 1) == 1, "child ready (exit %d)",
			 kt_wait(pid));
		close(ready[0]);
		KA_CHECK(ka_reserve(fd_s, &slot, 1, KMBOX_F_NONBLOCK) == 1,
			 "reserve");
		if (ka_rand(&rng) & 1)
			kill(pid, SIGKILL);
		KA_CHECK(ka_zc_send(fd_s, slot, 0, KMBOX_F_NONBLOCK) == 0,
			 "send");
		usleep(ka_rand(&rng) % 2000);
		kill(pid, SIGKILL);
		st = kt_wait(pid);
		KA_CHECK(st == 128 + SIGKILL, "child exit %d", st);

		KA_CHECK(ka_proc_line(name, &m) == 1, "/proc line");
		KA_CHECK(m.zc_taken == 0 && m.zc_held == 0 && m.zc_reserved == 0 &&
			 m.inflight == 0 && m.zc_queued == m.msgs &&
			 m.msgs <= 1 && m.zc_free + m.zc_queued == 4,
			 "round %u, process gone: msgs %lu inflight %lu free %lu reserved %lu queued %lu taken %lu held %lu",
			 round, m.msgs, m.inflight, m.zc_free, m.zc_reserved,
			 m.zc_queued, m.zc_taken, m.zc_held);
		if (m.msgs) {
			struct kmbox_recv got;
			unsigned char buf[8];

			KA_CHECK(kt_recv(fd_s, buf, sizeof(buf),
					 KMBOX_F_NONBLOCK, 0, &got) == 0,
				 "the undelivered message");
		} else {
			delivered++;
		}
	}
	ka_note("%u of %u handed-off slots were delivered before the kill",
		delivered, round);
	close(fd_s);
	KA_CHECK(kt_unlink(name) == 0, "unlink");
	return KA_PASS;
}

TEST_F_TIMEOUT(atk, sigkill_around_a_zc_receive_on_a_closed_fd_leaves_no_slot, 60)
{
	KA_RUN(kc_killed, 50);
}

/* ---- the relay of a file polled before it was bound --------------------- */

#define KR_EPS		8

/* Does @ep report @events for the file within @ms? */
static int kr_sees(int ep, uint32_t events, int ms)
{
	struct epoll_event out[4];
	int n = epoll_wait(ep, out, 4, ms), i;

	for (i = 0; i < n; i++)
		if (out[i].events & events)
			return 1;
	return 0;
}

/*
 * Work every queue of @fd's mailbox once: a message in and out (rd_wait,
 * wr_wait), a slot reserved and released (zc_wait).  A relay entry left
 * behind by a closed file is walked, and called, by each of these.
 */
static int kr_stir(int fd)
{
	unsigned char buf[8];
	__u32 slot;
	int i;

	for (i = 0; i < 4; i++) {
		KA_CHECK(kt_send(fd, "s", 1, 0, KMBOX_F_NONBLOCK, 0) == 0, "send");
		KA_CHECK(kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0,
				 NULL) == 1, "recv");
		KA_CHECK(ka_reserve(fd, &slot, 1, KMBOX_F_NONBLOCK) == 1,
			 "reserve");
		KA_CHECK(ka_release(fd, &slot, 1) == 0, "release");
	}
	return KA_PASS;
}

enum { KR_EPOLLS_FIRST, KR_FILE_FIRST, KR_DUP, KR_INTERLEAVED, KR_ORDERS };

/*
 * An unbound file F watched by KR_EPS epoll instances (level- and
 * edge-triggered, some for EPOLLOUT and EPOLLWRBAND too) and by a nested
 * pair (E2 watches E1 watches F), then bound to a mailbox that another
 * file G keeps alive.  Every watcher reports G's message.  Then F, its
 * dup and the epoll instances are closed in the order @order says, and
 * the mailbox's queues are woken again through G.
 */
static int kr_many(int order)
{
	struct epoll_event ev;
	int eps[KR_EPS], e1, e2, fd_f, fd_g, fd_dup = -1, i;
	unsigned char buf[8];
	char name[64];

	kt_name(name, sizeof(name), "relay");
	fd_g = ka_create(name, 4, 64, 2, 64);
	KA_CHECK(fd_g >= 0, "create");
	fd_f = kt_dev(O_RDWR);
	KA_CHECK(fd_f >= 0, "open F");
	for (i = 0; i < KR_EPS; i++) {
		eps[i] = epoll_create1(EPOLL_CLOEXEC);
		KA_CHECK(eps[i] >= 0, "epoll_create1");
		ev.events = i % 3 == 0 ? EPOLLIN : i % 3 == 1 ?
			    EPOLLIN | EPOLLET :
			    EPOLLIN | EPOLLOUT | EPOLLWRBAND | EPOLLET;
		ev.data.u32 = i;
		KA_CHECK(epoll_ctl(eps[i], EPOLL_CTL_ADD, fd_f, &ev) == 0,
			 "watch %d of the unbound file", i);
	}
	e1 = epoll_create1(EPOLL_CLOEXEC);
	e2 = epoll_create1(EPOLL_CLOEXEC);
	KA_CHECK(e1 >= 0 && e2 >= 0, "epoll_create1");
	ev.events = EPOLLIN;
	KA_CHECK(epoll_ctl(e1, EPOLL_CTL_ADD, fd_f, &ev) == 0, "E1 watches F");
	KA_CHECK(epoll_ctl(e2, EPOLL_CTL_ADD, e1, &ev) == 0, "E2 watches E1");

	KA_CHECK(kt_bind(fd_f, name, 0, 0, NULL) == 0, "bind F");
	for (i = 0; i < KR_EPS; i++)
		KA_CHECK(!kr_sees(eps[i], EPOLLIN, 0),
			 "watch %d: EPOLLIN on an empty mailbox", i);
	KA_CHECK(kt_send(fd_g, "m", 1, 0, KMBOX_F_NONBLOCK, 0) == 0, "send");
	for (i = 0; i < KR_EPS; i++)
		KA_CHECK(kr_sees(eps[i], EPOLLIN, KA_WAIT_MS),
			 "watch %d never reported the message", i);
	KA_CHECK(kr_sees(e2, EPOLLIN, KA_WAIT_MS),
		 "the nested epoll never reported the message");
	KA_CHECK(kt_recv(fd_f, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL) == 1,
		 "recv through F");

	switch (order) {
	case KR_EPOLLS_FIRST:
		for (i = 0; i < KR_EPS; i++)
			close(eps[i]);
		close(e2);
		close(e1);
		if (kr_stir(fd_g))
			return KA_FAIL;
		close(fd_f);
		break;
	case KR_FILE_FIRST:
		close(fd_f);
		if (kr_stir(fd_g))
			return KA_FAIL;
		for (i = 0; i < KR_EPS; i++)
			KA_CHECK(!kr_sees(eps[i], EPOLLIN | EPOLLOUT, 0),
				 "watch %d of a closed file still reports", i);
		close(e1);
		for (i = 0; i < KR_EPS; i++)
			close(eps[i]);
		close(e2);
		break;
	case KR_DUP:
		fd_dup = fcntl(fd_f, F_DUPFD_CLOEXEC, 0);
		KA_CHECK(fd_dup >= 0, "dup");
		close(fd_f);
		/* The watches are on the file, which the dup keeps open. */
		KA_CHECK(kt_send(fd_g, "n", 1, 0, KMBOX_F_NONBLOCK, 0) == 0,
			 "send");
		for (i = 0; i < KR_EPS; i++)
			KA_CHECK(kr_sees(eps[i], EPOLLIN, KA_WAIT_MS),
				 "watch %d lost the file when one of its descriptors closed",
				 i);
		KA_CHECK(kt_recv(fd_dup, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0,
				 NULL) == 1, "recv through the dup");
		close(fd_dup);
		if (kr_stir(fd_g))
			return KA_FAIL;
		close(e2);
		for (i = 0; i < KR_EPS; i++)
			close(eps[i]);
		close(e1);
		break;
	default:
		for (i = 0; i < KR_EPS; i += 2)
			close(eps[i]);
		close(e1);
		if (kr_stir(fd_g))
			return KA_FAIL;
		close(fd_f);
		if (kr_stir(fd_g))
			return KA_FAIL;
		for (i = 1; i < KR_EPS; i += 2)
			close(eps[i]);
		close(e2);
	}
	/* Only G is left on the mailbox: wake every queue again. */
	if (kr_stir(fd_g))
		return KA_FAIL;
	close(fd_g);
	KA_CHECK(kt_unlink(name) == 0, "unlink");
	return KA_PASS;
}

static int kr_all_orders(void)
{
	int order;

	for (order = 0; order < KR_ORDERS; order++)
		if (kr_many(order)) {
			ka_note("close order %d", order);
			return KA_FAIL;
		}
	return KA_PASS;
}

TEST_F_TIMEOUT(atk, relay_reports_to_every_watcher_and_leaves_with_the_file, 60)
{
	KA_RUN(kr_all_orders, 50);
}

struct kr_racer {
	int fd, ep;
	bool use_poll;
	uint32_t events;
	atomic_int go;
	int ret;
	short revents;
};

static void *kr_racer_main(void *p)
{
	struct kr_racer *r = p;
	struct epoll_event ev = { .events = r->events };

	while (!atomic_load(&r->go))
		;
	if (r->use_poll) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

		r->ret = poll(&pfd, 1, KA_WAIT_MS);
		r->revents = pfd.revents;
	} else {
		r->ret = epoll_ctl(r->ep, EPOLL_CTL_ADD, r->fd, &ev);
	}
	return NULL;
}

/*
 * KMBOX_IOC_OPEN in one thread, EPOLL_CTL_ADD (or poll()) of the same
 * file in another, at the same moment: the first message is reported.
 */
static int kr_race(void)
{
	uint64_t end = kt_deadline_ms(KA_LOOP_MS);
	unsigned int round, via_err = 0;
	unsigned char buf[8];
	char name[64];
	int fd_g;

	kt_name(name, sizeof(name), "race");
	fd_g = ka_create(name, 4, 64, 2, 64);
	KA_CHECK(fd_g >= 0, "create");
	for (round = 0; round < 400 && !ka_loop_done(end); round++) {
		struct kr_racer r = {
			.use_poll = round % 3 == 2,
			.events = EPOLLIN | (round & 1 ? EPOLLET : 0),
		};
		pthread_t th;

		r.fd = kt_dev(round % 2 ? O_RDONLY : O_RDWR);
		r.ep = epoll_create1(EPOLL_CLOEXEC);
		KA_CHECK(r.fd >= 0 && r.ep >= 0, "open, epoll_create1");
		KA_CHECK(pthread_create(&th, NULL, kr_racer_main, &r) == 0,
			 "thread");
		atomic_store(&r.go, 1);
		KA_CHECK(kt_bind(r.fd, name, 0, 0, NULL) == 0, "bind");
		if (r.use_poll) {
			KA_CHECK(kt_send(fd_g, "p", 1, 0, KMBOX_F_NONBLOCK, 0) == 0,
				 "send");
			pthread_join(th, NULL);
			KA_CHECK(r.ret == 1 && (r.revents & (POLLIN | POLLERR)),
				 "round %u: poll() racing the bind returned %d, revents %#x",
				 round, r.ret, r.revents);
			via_err += !!(r.revents & POLLERR);
		} else {
			pthread_join(th, NULL);
			KA_CHECK(r.ret == 0, "EPOLL_CTL_ADD");
			KA_CHECK(kt_send(fd_g, "e", 1, 0, KMBOX_F_NONBLOCK, 0) == 0,
				 "send");
			KA_CHECK(kr_sees(r.ep, EPOLLIN, KA_WAIT_MS),
				 "round %u: the watch added while binding missed the first message",
				 round);
		}
		KA_CHECK(kt_recv(fd_g, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0,
				 NULL) == 1, "drain");
		close(r.ep);
		close(r.fd);
	}
	ka_note("%u rounds, %u poll()s saw the file still unbound", round,
		via_err);
	close(fd_g);
	KA_CHECK(kt_unlink(name) == 0, "unlink");
	return KA_PASS;
}

TEST_F_TIMEOUT(atk, bind_racing_a_watch_never_loses_the_first_message, 60)
{
	KA_RUN(kr_race, 50);
}

/*
 * A process watches an unbound file with epoll (and a nested epoll),
 * binds it and waits for messages; it is SIGKILLed at a random moment,
 * from before the bind to the middle of its receives, while another
 * process sends.  The mailbox carries on, its queues woken, and the
 * counts stay sane.
 */
static int kr_killed(void)
{
	uint32_t rng = 0x68e31da4u ^ (uint32_t)getpid();
	uint64_t end = kt_deadline_ms(KA_LOOP_MS);
	unsigned int round;
	struct kt_mbline m;
	char name[64], c;
	int fd_g;

	kt_name(name, sizeof(name), "relaykill");
	fd_g = ka_create(name, 8, 64, 2, 64);
	KA_CHECK(fd_g >= 0, "create");
	for (round = 0; round < 60 && !ka_loop_done(end); round++) {
		pid_t pid = kt_fork(20);
		int i, st;

		KA_CHECK(pid >= 0, "fork");
		if (pid == 0) {
			struct epoll_event ev = { .events = EPOLLIN }, out;
			int f = kt_dev(O_RDWR), e1, e2;
			unsigned char buf[8];

			e1 = epoll_create1(0);
			e2 = epoll_create1(0);
			if (f < 0 || e1 < 0 || e2 < 0 ||
			    epoll_ctl(e1, EPOLL_CTL_ADD, f, &ev) ||
			    epoll_ctl(e2, EPOLL_CTL_ADD, e1, &ev) ||
			    kt_bind(f, name, 0, 0, NULL))
				_exit(1);
			for (;;) {
				if (epoll_wait(e2, &out, 1, -1) < 0 && errno != EINTR)
					_exit(2);
				while (kt_recv(f, buf, sizeof(buf),
					       KMBOX_F_NONBLOCK | KMBOX_F_ZC, 0,
					       NULL) >= 0)
					;
			}
		}
		for (i = ka_rand(&rng) % 6; i > 0; i--) {
			kt_send(fd_g, "k", 1, 0, KMBOX_F_NONBLOCK, 0);
			usleep(ka_rand(&rng) % 500);
		}
		kill(pid, SIGKILL);
		st = kt_wait(pid);
		KA_CHECK(st == 128 + SIGKILL, "round %u: child exit %d", round,
			 st);
		while (kt_recv(fd_g, &c, 1, KMBOX_F_NONBLOCK, 0, NULL) == 1)
			;
		KA_CHECK(errno == EAGAIN, "drain");
		if (kr_stir(fd_g))
			return KA_FAIL;
		KA_CHECK(ka_proc_line(name, &m) == 1, "/proc line");
		KA_CHECK(m.inflight == 0 && m.zc_free == 2 && m.rd_waiters == 0,
			 "round %u, watcher gone: inflight %lu free %lu rd_waiters %lu",
			 round, m.inflight, m.zc_free, m.rd_waiters);
	}
	ka_note("%u rounds", round);
	close(fd_g);
	KA_CHECK(kt_unlink(name) == 0, "unlink");
	return KA_PASS;
}

TEST_F_TIMEOUT(atk, sigkill_of_a_relayed_watcher_at_any_moment_leaves_nothing, 60)
{
	KA_RUN(kr_killed, 50);
}

#define KR_SENDERS	3
#define KR_PER_SENDER	300

struct kr_sender {
	int fd;
	int ret;
};

static void *kr_sender_main(void *p)
{
	struct kr_sender *sn = p;
	unsigned int i;
	__u64 deadline;

	for (i = 0; i < KR_PER_SENDER; i++) {
		deadline = kt_now_ns() + (__u64)KA_WAIT_MS * 1000000ULL;
		if (kt_send(sn->fd, "d", 1, 0, KMBOX_F_TIMEOUT, deadline)) {
			sn->ret = errno;
			return NULL;
		}
	}
	return NULL;
}

/*
 * An O_RDONLY file watched edge-triggered before it was bound drains
 * every message of senders that keep blocking on a small mailbox: after
 * each edge it reads until EAGAIN, and never waits KA_WAIT_MS for an edge
 * while messages are still to come.
 */
static int kr_drain(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out;
	struct kr_sender sn[KR_SENDERS];
	pthread_t th[KR_SENDERS];
	unsigned int got = 0, edges = 0, i;
	unsigned char buf[8];
	char name[64];
	int fd_f, ep, n;

	kt_name(name, sizeof(name), "drain");
	for (i = 0; i < KR_SENDERS; i++) {
		sn[i].fd = i ? ka_open(name, O_WRONLY) :
			   ka_create(name, 4, 8, 0, 0);
		sn[i].ret = 0;
		KA_CHECK(sn[i].fd >= 0, "sender file %u", i);
	}
	fd_f = kt_dev(O_RDONLY | O_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	KA_CHECK(fd_f >= 0 && ep >= 0, "open, epoll_create1");
	KA_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd_f, &ev) == 0, "watch");
	KA_CHECK(kt_bind(fd_f, name, 0, 0, NULL) == 0, "bind");
	for (i = 0; i < KR_SENDERS; i++)
		KA_CHECK(pthread_create(&th[i], NULL, kr_sender_main, &sn[i]) == 0,
			 "sender thread");
	while (got < KR_SENDERS * KR_PER_SENDER) {
		n = epoll_wait(ep, &out, 1, KA_WAIT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		KA_CHECK(n == 1, "no edge for %d ms after %u of %u messages",
			 KA_WAIT_MS, got, KR_SENDERS * KR_PER_SENDER);
		edges++;
		while (read(fd_f, buf, sizeof(buf)) == 1)
			got++;
		KA_CHECK(errno == EAGAIN, "read");
	}
	for (i = 0; i < KR_SENDERS; i++) {
		pthread_join(th[i], NULL);
		KA_CHECK(sn[i].ret == 0, "sender %u: %s", i, strerror(sn[i].ret));
	}
	KA_CHECK(read(fd_f, buf, sizeof(buf)) == -1 && errno == EAGAIN,
		 "a message more than was sent");
	ka_note("%u messages in %u edges", got, edges);
	close(ep);
	close(fd_f);
	for (i = 0; i < KR_SENDERS; i++)
		close(sn[i].fd);
	KA_CHECK(kt_unlink(name) == 0, "unlink");
	return KA_PASS;
}

TEST_F_TIMEOUT(atk, relayed_edge_triggered_reader_drains_blocking_senders, 60)
{
	KA_RUN(kr_drain, 50);
}

/* ---- poll by access mode, edge-triggered -------------------------------- */

enum { KE_IN, KE_OUT, KE_WRBAND };

/*
 * One edge per event, and none for events of the other access mode:
 * an O_RDONLY file watched for EPOLLIN gets one edge per message G
 * sends; an O_WRONLY file watched for EPOLLOUT gets one per receive that
 * makes room after its own send filled the mailbox, and one watched for
 * EPOLLWRBAND one per slot of its that G's copy receive frees.  Through
 * the relay (watched before the bind) and directly.
 */
static int ke_case(bool relay, int what)
{
	static const uint32_t evs[] = { EPOLLIN, EPOLLOUT, EPOLLWRBAND };
	struct epoll_event ev = { .events = evs[what] | EPOLLET }, out[4];
	unsigned char buf[8];
	unsigned int round;
	char name[64];
	int fd_g, fd_f, ep, n;
	__u32 slot;

	kt_name(name, sizeof(name), "edges");
	fd_g = ka_create(name, 1, 64, 1, 64);
	KA_CHECK(fd_g >= 0, "create");
	fd_f = kt_dev(what == KE_IN ? O_RDONLY : O_WRONLY);
	ep = epoll_create1(EPOLL_CLOEXEC);
	KA_CHECK(fd_f >= 0 && ep >= 0, "open, epoll_create1");
	if (relay)
		KA_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd_f, &ev) == 0, "watch");
	KA_CHECK(kt_bind(fd_f, name, 0, 0, NULL) == 0, "bind");
	if (!relay)
		KA_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd_f, &ev) == 0, "watch");
	/* The level at the start: room and a free slot, no message. */
	n = epoll_wait(ep, out, 4, 0);
	KA_CHECK(n == (what == KE_IN ? 0 : 1), "first epoll_wait: %d", n);

	for (round = 0; round < 40; round++) {
		switch (what) {
		case KE_IN:
			KA_CHECK(kt_send(fd_g, "i", 1, 0, KMBOX_F_NONBLOCK, 0) == 0,
				 "send");
			break;
		case KE_OUT:
			KA_CHECK(kt_send(fd_f, "o", 1, 0, KMBOX_F_NONBLOCK, 0) == 0,
				 "send through F");
			KA_CHECK(epoll_wait(ep, out, 4, 0) == 0,
				 "round %u: an edge for filling the mailbox", round);
			KA_CHECK(kt_recv(fd_g, buf, sizeof(buf), KMBOX_F_NONBLOCK,
					 0, NULL) == 1, "recv");
			break;
		default:
			KA_CHECK(ka_reserve(fd_f, &slot, 1, KMBOX_F_NONBLOCK) == 1,
				 "reserve through F");
			KA_CHECK(ka_zc_send(fd_f, slot, 0, KMBOX_F_NONBLOCK) == 0,
				 "send slot %u through F", slot);
			KA_CHECK(epoll_wait(ep, out, 4, 0) == 0,
				 "round %u: an edge for taking the slot", round);
			KA_CHECK(kt_recv(fd_g, buf, sizeof(buf), KMBOX_F_NONBLOCK,
					 0, NULL) == 0, "copy receive");
		}
		n = epoll_wait(ep, out, 4, KA_WAIT_MS);
		KA_CHECK(n == 1 && (out[0].events & evs[what]),
			 "round %u: %s file, %s: %d events (%#x), want one %#x edge",
			 round, what == KE_IN ? "O_RDONLY" : "O_WRONLY",
			 relay ? "relayed" : "direct", n, n > 0 ? out[0].events : 0,
			 evs[what]);
		if (what == KE_IN) {
			KA_CHECK(kt_recv(fd_f, buf, sizeof(buf), KMBOX_F_NONBLOCK,
					 0, NULL) == 1, "recv through F");
			/* A receive wakes writers only: no edge for F. */
			KA_CHECK(epoll_wait(ep, out, 4, 0) == 0,
				 "round %u: an edge after the receive", round);
		}
	}
	close(ep);
	close(fd_f);
	close(fd_g);
	KA_CHECK(kt_unlink(name) == 0, "unlink");
	return KA_PASS;
}

static int ke_all(void)
{
	int what, relay;

	for (relay = 0; relay < 2; relay++)
		for (what = KE_IN; what <= KE_WRBAND; what++)
			if (ke_case(relay, what))
				return KA_FAIL;
	return KA_PASS;
}

TEST_F_TIMEOUT(atk, edge_triggered_watchers_see_every_event_of_their_access_mode, 60)
{
	KA_RUN(ke_all, 50);
}

/* ---- the region's pages ------------------------------------------------- */

/* Does page @i of a mapping hold the pattern of seed @seed? */
static int kg_page_is(const unsigned char *map, unsigned int i, uint32_t seed)
{
	return kt_check_fill(map + (size_t)i * KA_PAGE, KA_PAGE, seed);
}

/*
 * Region pages spliced into a pipe with vmsplice() (which pins them)
 * still hold the region's bytes when the pipe is read after the mapping,
 * the file and the mailbox are gone and other mailboxes got regions of
 * their own: a pinned page is never freed under the pipe and handed to
 * somebody else.
 */
static int kg_vmsplice(void)
{
	struct kt_stats st0, st1;
	unsigned char *map, *buf;
	int fd, p[2], others[8], i;
	struct iovec iov;
	ssize_t n;

	KA_CHECK(kt_read_stats(&st0) == 0, "stats");
	fd = ka_open_attr(NULL, O_RDWR, KMBOX_OPEN_ANON, 4, 64, 4, KA_PAGE);
	KA_CHECK(fd >= 0, "anon mailbox with 4 one-page slots");
	map = ka_map(fd, 4 * KA_PAGE, PROT_READ | PROT_WRITE);
	KA_CHECK(map, "map");
	for (i = 0; i < 4; i++)
		kt_fill(map + i * KA_PAGE, KA_PAGE, 100 + i);
	KA_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
	iov.iov_base = map + KA_PAGE;
	iov.iov_len = 2 * KA_PAGE;
	n = vmsplice(p[1], &iov, 1, 0);
	KA_CHECK(n == 2 * KA_PAGE, "vmsplice of two region pages: %zd", n);
	KA_CHECK(munmap(map, 4 * KA_PAGE) == 0, "munmap");
	close(fd);
	KA_CHECK(kt_read_stats(&st1) == 0, "stats");
	KA_CHECK(st1.mailboxes == st0.mailboxes &&
		 st1.region_pages == st0.region_pages,
		 "the mailbox is not gone: mailboxes %ld -> %ld, region_pages %ld -> %ld",
		 st0.mailboxes, st1.mailboxes, st0.region_pages,
		 st1.region_pages);

	/* New regions, full of something else, maybe on the freed pages. */
	for (i = 0; i < 8; i++) {
		others[i] = ka_open_attr(NULL, O_RDWR, KMBOX_OPEN_ANON, 4, 64, 4,
					 KA_PAGE);
		KA_CHECK(others[i] >= 0, "another mailbox");
		map = ka_map(others[i], 4 * KA_PAGE, PROT_READ | PROT_WRITE);
		KA_CHECK(map, "map another region");
		memset(map, 0xee, 4 * KA_PAGE);
		munmap(map, 4 * KA_PAGE);
	}
	buf = malloc(2 * KA_PAGE);
	KA_CHECK(buf, "malloc");
	KA_CHECK(read(p[0], buf, 2 * KA_PAGE) == 2 * KA_PAGE, "read the pipe");
	KA_CHECK(kg_page_is(buf, 0, 101) && kg_page_is(buf, 1, 102),
		 "the pipe's pages changed after the region was freed (first bytes %02x %02x)",
		 buf[0], buf[KA_PAGE]);
	for (i = 0; i < 8; i++)
		close(others[i]);
	free(buf);
	close(p[0]);
	close(p[1]);
	return KA_PASS;
}

TEST_F(atk, pages_spliced_from_a_region_outlive_it_unchanged)
{
	KA_RUN(kg_vmsplice, 25);
}

/*
 * Writes through /proc/self/mem and process_vm_writev() (both able to
 * write through mappings the writer itself could not) reach the region
 * through a writable mapping, and never through the read-only mapping of
 * an O_RDONLY file; reads work through both.  A zero-copy message whose
 * slot was written through /proc/self/mem carries those bytes.
 */
static int kg_foreign_writes(void)
{
	unsigned char pat[64], got[64], *rw, *ro;
	struct kmbox_recv r;
	struct iovec lio, rio;
	char name[64];
	int fd, fd_ro, mem, ready[2], st;
	__u32 slot;
	pid_t pid;
	ssize_t n;
	char c;

	kt_name(name, sizeof(name), "foreign");
	fd = ka_create(name, 4, 256, 2, KA_PAGE);
	KA_CHECK(fd >= 0, "create");
	fd_ro = ka_open(name, O_RDONLY);
	KA_CHECK(fd_ro >= 0, "open read-only");
	rw = ka_map(fd, 2 * KA_PAGE, PROT_READ | PROT_WRITE);
	ro = ka_map(fd_ro, 2 * KA_PAGE, PROT_READ);
	KA_CHECK(rw && ro, "map writable and read-only");
	KA_CHECK(!ka_map(fd_ro, 2 * KA_PAGE, PROT_READ | PROT_WRITE) &&
		 errno == EACCES, "writable mapping of a read-only file");
	KA_CHECK(mprotect(ro, KA_PAGE, PROT_READ | PROT_WRITE) == -1 &&
		 errno == EACCES, "mprotect of the read-only mapping");

	KA_CHECK(ka_reserve(fd, &slot, 1, KMBOX_F_NONBLOCK) == 1, "reserve");
	mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	KA_CHECK(mem >= 0, "/proc/self/mem");
	kt_fill(pat, sizeof(pat), 41);
	n = pwrite(mem, pat, sizeof(pat),
		   (off_t)(uintptr_t)(rw + slot * KA_PAGE + 100));
	KA_CHECK(n == sizeof(pat), "write through /proc/self/mem: %zd", n);
	KA_CHECK(!memcmp(ro + slot * KA_PAGE + 100, pat, sizeof(pat)),
		 "the read-only mapping does not show the write");
	kt_fill(got, sizeof(got), 42);
	n = pwrite(mem, got, sizeof(got),
		   (off_t)(uintptr_t)(ro + slot * KA_PAGE + 100));
	KA_CHECK(n == -1, "write through /proc/self/mem into the read-only mapping of an O_RDONLY file: %zd",
		 n);
	KA_CHECK(!memcmp(rw + slot * KA_PAGE + 100, pat, sizeof(pat)),
		 "the region changed through the read-only mapping");
	KA_CHECK(pread(mem, got, sizeof(got),
		       (off_t)(uintptr_t)(ro + slot * KA_PAGE + 100)) ==
		 sizeof(got) && !memcmp(got, pat, sizeof(pat)),
		 "read through /proc/self/mem");
	/* The slot goes out with what /proc/self/mem wrote. */
	KA_CHECK(ka_zc_send(fd, slot, 164, KMBOX_F_NONBLOCK) == 0, "send");
	{
		unsigned char msg[164];

		KA_CHECK(kt_recv(fd_ro, msg, sizeof(msg), KMBOX_F_NONBLOCK, 0,
				 &r) == 164 && !memcmp(msg + 100, pat, sizeof(pat)),
			 "the copied message does not carry the bytes written");
	}

	/* process_vm_writev() into a child's mappings (a descendant). */
	KA_CHECK(pipe2(ready, O_CLOEXEC) == 0, "pipe");
	pid = kt_fork(20);
	KA_CHECK(pid >= 0, "fork");
	if (pid == 0) {
		close(ready[0]);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	KA_CHECK(read(ready[0], &c, 1) == 1, "child ready");
	kt_fill(pat, sizeof(pat), 43);
	lio.iov_base = pat;
	lio.iov_len = sizeof(pat);
	rio.iov_base = ro + 200;
	rio.iov_len = sizeof(pat);
	n = process_vm_writev(pid, &lio, 1, &rio, 1, 0);
	if (n == -1 && (errno == EPERM || errno == ENOSYS)) {
		ka_note("process_vm_writev: %s (Yama, or no CONFIG_CROSS_MEMORY_ATTACH); that part is skipped",
			strerror(errno));
	} else {
		KA_CHECK(n == -1 && errno == EFAULT,
			 "process_vm_writev into the read-only mapping: %zd", n);
		KA_CHECK(!kt_check_fill(rw + 200, sizeof(pat), 43),
			 "the region changed through a read-only mapping");
		rio.iov_base = rw + 300;
		KA_CHECK(process_vm_writev(pid, &lio, 1, &rio, 1, 0) ==
			 sizeof(pat), "process_vm_writev into the writable mapping");
		KA_CHECK(kt_check_fill(ro + 300, sizeof(pat), 43),
			 "the child's write is not in the region");
		lio.iov_base = got;
		rio.iov_base = ro + 300;
		KA_CHECK(process_vm_readv(pid, &lio, 1, &rio, 1, 0) ==
			 sizeof(got) && kt_check_fill(got, sizeof(got), 43),
			 "process_vm_readv of the read-only mapping");
	}
	kill(pid, SIGKILL);
	st = kt_wait(pid);
	KA_CHECK(st == 128 + SIGKILL, "child exit %d", st);
	close(ready[0]);
	close(mem);
	munmap(rw, 2 * KA_PAGE);
	munmap(ro, 2 * KA_PAGE);
	close(fd_ro);
	close(fd);
	KA_CHECK(kt_unlink(name) == 0, "unlink");
	return KA_PASS;
}

TEST_F(atk, proc_mem_and_process_vm_writes_need_a_writable_mapping)
{
	KA_RUN(kg_foreign_writes, 25);
}

/*
 * A region mapping moved, split, shrunk, zapped, paged out, protected
 * and unprotected still shows the region (checked against a second
 * mapping); the madvise()s that would free or punch its pages fail.
 */
static int kg_reshape(void)
{
	unsigned char *a, *b, *view;
	void *spot;
	int fd, i, ret;

	fd = ka_open_attr(NULL, O_RDWR, KMBOX_OPEN_ANON, 4, 64, 4, KA_PAGE);
	KA_CHECK(fd >= 0, "anon mailbox with 4 one-page slots");
	a = ka_map(fd, 4 * KA_PAGE, PROT_READ | PROT_WRITE);
	view = ka_map(fd, 4 * KA_PAGE, PROT_READ);
	KA_CHECK(a && view, "map twice");
	for (i = 0; i < 4; i++)
		kt_fill(a + i * KA_PAGE, KA_PAGE, 200 + i);

	/* Move it somewhere else (a fixed spot we reserved). */
	spot = mmap(NULL, 4 * KA_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	KA_CHECK(spot != MAP_FAILED, "spot");
	b = mremap(a, 4 * KA_PAGE, 4 * KA_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   spot);
	KA_CHECK(b == spot, "mremap move");
	for (i = 0; i < 4; i++)
		KA_CHECK(kg_page_is(b, i, 200 + i), "moved page %d", i);
	/* Split it: unmap page 1; shrink the tail to page 2 alone. */
	KA_CHECK(munmap(b + KA_PAGE, KA_PAGE) == 0, "munmap page 1");
	KA_CHECK(mremap(b + 2 * KA_PAGE, 2 * KA_PAGE, KA_PAGE, 0) ==
		 b + 2 * KA_PAGE, "shrink pages 2-3 to page 2");
	KA_CHECK(kg_page_is(b, 0, 200) && kg_page_is(b, 2, 202),
		 "pages 0 and 2 after the split");
	KA_CHECK(mremap(b + 2 * KA_PAGE, KA_PAGE, 2 * KA_PAGE, 0) == MAP_FAILED,
		 "growing the tail back");

	/* Zap, cool and page out: the pages come back from the region. */
	KA_CHECK(madvise(b, KA_PAGE, MADV_DONTNEED) == 0, "MADV_DONTNEED");
	KA_CHECK(kg_page_is(b, 0, 200), "page 0 after MADV_DONTNEED");
	ret = madvise(b, KA_PAGE, MADV_COLD);
	KA_CHECK(ret == 0 || errno == EINVAL, "MADV_COLD");
	ret = madvise(b + 2 * KA_PAGE, KA_PAGE, MADV_PAGEOUT);
	KA_CHECK(ret == 0 || errno == EINVAL, "MADV_PAGEOUT");
	KA_CHECK(kg_page_is(b, 0, 200) && kg_page_is(b, 2, 202),
		 "pages after MADV_COLD and MADV_PAGEOUT");
	madvise(b, KA_PAGE, MADV_WILLNEED);	/* whatever it says */
	/* Neither freeing nor punching is the mapping's to do. */
	KA_CHECK(madvise(b, KA_PAGE, MADV_FREE) == -1, "MADV_FREE worked");
	KA_CHECK(madvise(b, KA_PAGE, MADV_REMOVE) == -1, "MADV_REMOVE worked");
	KA_CHECK(kg_page_is(b, 0, 200) && kg_page_is(view, 0, 200),
		 "page 0 after MADV_FREE and MADV_REMOVE");

	KA_CHECK(mprotect(b, KA_PAGE, PROT_NONE) == 0, "PROT_NONE");
	KA_CHECK(mprotect(b, KA_PAGE, PROT_READ | PROT_WRITE) == 0,
		 "PROT_READ | PROT_WRITE again");
	kt_fill(b, KA_PAGE, 300);
	kt_fill(b + 2 * KA_PAGE, KA_PAGE, 302);
	KA_CHECK(kg_page_is(view, 0, 300) && kg_page_is(view, 1, 201) &&
		 kg_page_is(view, 2, 302) && kg_page_is(view, 3, 203),
		 "the other mapping does not show the region as written");
	munmap(b, KA_PAGE);
	munmap(b + 2 * KA_PAGE, KA_PAGE);
	munmap(view, 4 * KA_PAGE);
	close(fd);
	return KA_PASS;
}

TEST_F(atk, a_reshaped_mapping_still_shows_the_region)
{
	KA_RUN(kg_reshape, 25);
}

/*
 * A mapping inherited by fork keeps the mailbox and its region alive
 * after the parent unmapped and closed everything (and so did the
 * child, but for the mapping); when the child is gone, so is all.
 */
static int kg_fork_keeps(void)
{
	struct kt_stats st0, st1;
	unsigned char *map;
	int fd, go[2], st;
	pid_t pid;
	char c;

	KA_CHECK(kt_read_stats(&st0) == 0, "stats");
	fd = ka_open_attr(NULL, O_RDWR, KMBOX_OPEN_ANON, 4, 64, 2, KA_PAGE);
	KA_CHECK(fd >= 0, "anon mailbox");
	map = ka_map(fd, 2 * KA_PAGE, PROT_READ | PROT_WRITE);
	KA_CHECK(map, "map");
	kt_fill(map, 2 * KA_PAGE, 77);
	KA_CHECK(pipe2(go, O_CLOEXEC) == 0, "pipe");
	pid = kt_fork(20);
	KA_CHECK(pid >= 0, "fork");
	if (pid == 0) {
		close(fd);
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		if (!kt_check_fill(map, 2 * KA_PAGE, 77))
			_exit(2);
		kt_fill(map + KA_PAGE, KA_PAGE, 78);
		if (!kt_check_fill(map + KA_PAGE, KA_PAGE, 78))
			_exit(3);
		_exit(0);
	}
	close(go[0]);
	KA_CHECK(munmap(map, 2 * KA_PAGE) == 0, "munmap");
	close(fd);
	KA_CHECK(kt_read_stats(&st1) == 0, "stats");
	KA_CHECK(st1.mailboxes == st0.mailboxes + 1 &&
		 st1.region_pages == st0.region_pages + 2,
		 "with only the child's mapping left: mailboxes %ld -> %ld, region_pages %ld -> %ld",
		 st0.mailboxes, st1.mailboxes, st0.region_pages,
		 st1.region_pages);
	KA_CHECK(write(go[1], "g", 1) == 1, "go");
	st = kt_wait(pid);
	KA_CHECK(st == 0, "child exit %d", st);
	KA_CHECK(kt_read_stats(&st1) == 0, "stats");
	KA_CHECK(st1.mailboxes == st0.mailboxes &&
		 st1.region_pages == st0.region_pages,
		 "after the child: mailboxes %ld -> %ld, region_pages %ld -> %ld",
		 st0.mailboxes, st1.mailboxes, st0.region_pages,
		 st1.region_pages);
	close(go[1]);
	return KA_PASS;
}

TEST_F(atk, a_mapping_inherited_by_fork_keeps_the_mailbox_alone)
{
	KA_RUN(kg_fork_keeps, 25);
}

TEST_HARNESS_MAIN
