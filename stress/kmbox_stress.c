// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox_stress: bounded, seeded multi-process stress of /dev/kmbox that
 * checks exactly-once delivery.
 *
 * Usage: kmbox_stress [--seed S] [--duration SECONDS] [--procs N] [--verbose]
 *        kmbox_stress --hold-mapping SECONDS
 * Arguments are also taken from $KMBOX_STRESS_ARGS (command line wins).
 * Defaults: --seed 1 --duration 30 --procs 6 (N/2 producers, N/2
 * consumers, at least one of each), plus helpers: a killer, a signal
 * thrower, a name churner, a mapping churner and an idle waiter.
 *
 * --hold-mapping: create an anonymous mailbox with a region, mmap it,
 * close the file, print "mapped" and sleep (for lifecycle.sh: rmmod must
 * be refused while only a mapping refers to the module).
 *
 * What runs, for --duration seconds, on several mailboxes at once:
 *  - producers send messages of random size (0..max_msgsize) and
 *    priority with write(), KMBOX_IOC_SEND, SEND_BATCH and zero-copy
 *    (ZC_RESERVE, write into the mapped region, SEND with KMBOX_F_ZC),
 *    blocking, with random deadlines, or non-blocking;
 *  - consumers receive with read(), RECV (sometimes with a buffer too
 *    small: EMSGSIZE, then again), RECV_BATCH and zero-copy RECV
 *    (reading in place, holding slots a while, ZC_RELEASE);
 *  - everybody closes and reopens its files now and then, changes its
 *    SIGUSR1 handler between SA_RESTART and not, and remaps the region;
 *  - the killer SIGKILLs producers at any moment (blocked or not),
 *    consumers while they hold received zero-copy slots, and the idle
 *    waiter while it sleeps in recv/send; workers also SIGKILL
 *    themselves while holding reserved or received slots;
 *  - the signal thrower sends SIGUSR1 to random workers every few ms;
 *  - the name churner unlinks a named mailbox in use and creates a new
 *    one under the same name, keeping the old ones open to drain them
 *    at the end;
 *  - the mapping churner mmaps and munmaps the region (whole, partial,
 *    after close, across fork) and checks the mmap error rules.
 *
 * Accounting.  Every non-empty message carries (producer id, sequence,
 * mailbox, length, priority, checksum).  A producer marks a sequence in
 * the shared "sent" bitmap only after the send returned success, and
 * publishes the range it is sending meanwhile ("in flight").  Consumers
 * test-and-set the "received" bitmap at once: a bit already set is a
 * duplicate.  After every mailbox is drained:
 *  - sent and not received: lost;
 *  - received and not sent: a phantom, except inside the in-flight range
 *    of a producer that was SIGKILLed (its send may or may not have
 *    happened);
 *  - a failed send is retried with the same sequence, so a send that
 *    reported failure but queued anyway shows up as a duplicate.
 * Consumers are killed only at points where nothing they took is
 * unaccounted (after marking), so no loss is excused.  Empty messages
 * carry nothing and are counted: received == sent, plus at most one per
 * producer killed while sending one.
 *
 * A watchdog reads /proc/kmbox/mailboxes: a mailbox of ours with
 * messages queued and receivers asleep (or room and senders asleep)
 * while nothing moves on it for 5 s is reported as a lost wake-up.
 *
 * Output: KTAP (9 cases) and "# totals" lines.  Exit 0 if all passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmbox.h"
#include "stress_util.h"

#define MAX_IDS		1024		/* producer incarnations per run */
#define MAX_SEQ		65536		/* messages per producer incarnation */
#define MAX_CONS	32
#define MAX_CHILDREN	128
#define MAX_CHURN	200		/* old instances the churner keeps */
#define MAX_ERRS	16
#define MSG_MAGIC	0x6b6d6278u	/* "kmbx" */
#define BATCH_MAX	8
#define STALL_NS	(5ULL * 1000000000ULL)

enum { MB_PLAIN, MB_ZC, MB_ANON, MB_CHURN, NMB };

struct mbdef {
	const char *name;	/* NULL: anonymous */
	__u32 max_msgs, max_msgsize, zc_slots, zc_slot_size;
};

static const struct mbdef mbdefs[NMB] = {
	[MB_PLAIN] = { "kmbox-stress-plain", 8, 4096, 0, 0 },
	[MB_ZC]    = { "kmbox-stress-zc", 16, 2048, 16, 2048 },
	[MB_ANON]  = { NULL, 4, 512, 0, 0 },
	[MB_CHURN] = { "kmbox-stress-churn", 32, 1024, 0, 0 },
};

static const char *const idle_empty_name = "kmbox-stress-idle-empty";
static const char *const idle_full_name = "kmbox-stress-idle-full";

struct msg_hdr {
	__u32 magic;
	__u16 id;
	__u16 mbx;
	__u32 seq;
	__u32 len;
	__u32 prio;
	__u32 csum;
};

struct prod_state {
	__u32 lo, hi;		/* in flight: [lo, hi) */
	__u32 top;		/* highest sequence ever in flight + 1 */
	__u32 empty_inflight;
	__u32 killed;		/* reaped after SIGKILL */
	__u32 pad;
};

enum { CONS_ACTIVE, CONS_HOLDING, CONS_DOOMED };

struct cons_state {
	int pid;
	int state;
};

/* Counters, all updated with __atomic adds. */
struct counters {
	__u64 sent, sent_bytes, sent_zc, sent_empty;
	__u64 recv, recv_bytes, recv_zc, recv_empty;
	__u64 sent_mb[NMB], recv_mb[NMB];
	__u64 eintr, etimedout, eagain, emsgsize;
	__u64 sigs_thrown, sigs_caught;
	__u64 kills, kills_prod, kills_cons, kills_idle, self_kills;
	__u64 reopens, unlinks, mmaps, munmaps, forks;
	__u64 batches, zc_holds;
	__u64 errors, dups, corrupt, stalls;
};

struct shared {
	int stop;		/* 0 run, 1 stop producing, 2 consumers stop, 3 janitor drains */
	int churn_done;		/* the churner has made its last instance */
	int next_id;
	int nerr;
	struct counters c;
	char errs[MAX_ERRS][200];
	struct prod_state prod[MAX_IDS];
	struct cons_state cons[MAX_CONS];
	__u8 sent_bits[MAX_IDS][MAX_SEQ / 8];
	__u8 recv_bits[MAX_IDS][MAX_SEQ / 8];
};

static struct shared *sh;
static unsigned long long opt_seed = 1, opt_duration = 30, opt_procs = 6;
static bool opt_verbose;
static int anon_fd = -1;		/* inherited by every worker */
static volatile sig_atomic_t got_usr1, got_usr2;
static bool sa_restart_now;

#define CADD(field, v)	__atomic_add_fetch(&sh->c.field, (v), __ATOMIC_RELAXED)
#define CGET(field)	__atomic_load_n(&sh->c.field, __ATOMIC_RELAXED)

static int stop_level(void)
{
	return __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE);
}

static void error_msg(const char *fmt, ...)
{
	int i = __atomic_fetch_add(&sh->nerr, 1, __ATOMIC_RELAXED);
	va_list ap;

	CADD(errors, 1);
	if (i >= MAX_ERRS)
		return;
	va_start(ap, fmt);
	vsnprintf(sh->errs[i], sizeof(sh->errs[i]), fmt, ap);
	va_end(ap);
	diag("error (pid %d): %s", getpid(), sh->errs[i]);
}

/* ---- messages ---------------------------------------------------------------- */

static __u32 csum32(const struct msg_hdr *h, const unsigned char *p, size_t len)
{
	__u32 x = 2166136261u;
	size_t i;

	x = (x ^ h->id) * 16777619u;
	x = (x ^ h->mbx) * 16777619u;
	x = (x ^ h->seq) * 16777619u;
	x = (x ^ h->len) * 16777619u;
	x = (x ^ h->prio) * 16777619u;
	for (i = 0; i < len; i++)
		x = (x ^ p[i]) * 16777619u;
	return x;
}

/* Build message (id, seq) of @len bytes (0 or >= header) into @p. */
static void build_msg(void *p, __u32 len, __u16 id, __u32 seq, __u16 mbx, __u32 prio)
{
	struct msg_hdr h = {
		.magic = MSG_MAGIC, .id = id, .mbx = mbx, .seq = seq, .len = len, .prio = prio,
	};
	struct rng r;

	if (!len)
		return;
	rng_seed(&r, opt_seed, ((__u64)id << 32) | seq);
	rng_fill(&r, (char *)p + sizeof(h), len - sizeof(h));
	h.csum = csum32(&h, (unsigned char *)p + sizeof(h), len - sizeof(h));
	memcpy(p, &h, sizeof(h));
}

static bool bit_test(__u8 *bits, __u32 seq)
{
	return __atomic_load_n(&bits[seq >> 3], __ATOMIC_RELAXED) & (1u << (seq & 7));
}

/* Returns the old value of the bit. */
static bool bit_set(__u8 *bits, __u32 seq)
{
	__u8 m = 1u << (seq & 7);

	return __atomic_fetch_or(&bits[seq >> 3], m, __ATOMIC_ACQ_REL) & m;
}

/* A consumer got a message of @len bytes from mailbox @mbx; prio < 0: unknown. */
static void check_msg(int mbx, const void *p, __u32 len, long prio, bool zc)
{
	struct msg_hdr h;
	int nid;

	if (!len) {
		CADD(recv_empty, 1);
		CADD(recv, 1);
		CADD(recv_mb[mbx], 1);
		return;
	}
	if (len < sizeof(h)) {
		CADD(corrupt, 1);
		error_msg("mailbox %d: message of %u bytes: shorter than a header", mbx, len);
		return;
	}
	memcpy(&h, p, sizeof(h));
	nid = __atomic_load_n(&sh->next_id, __ATOMIC_RELAXED);
	if (h.magic != MSG_MAGIC || h.len != len || h.mbx != mbx || h.id >= nid ||
	    h.seq >= MAX_SEQ || (prio >= 0 && h.prio != prio)) {
		CADD(corrupt, 1);
		error_msg("mailbox %d: bad header: magic %#x len %u/%u mbx %u id %u seq %u prio %u/%ld%s",
			  mbx, h.magic, h.len, len, h.mbx, h.id, h.seq, h.prio, prio,
			  zc ? " (zero-copy)" : "");
		return;
	}
	if (csum32(&h, (const unsigned char *)p + sizeof(h), len - sizeof(h)) != h.csum) {
		CADD(corrupt, 1);
		error_msg("mailbox %d: checksum mismatch: id %u seq %u len %u%s", mbx, h.id, h.seq,
			  len, zc ? " (zero-copy)" : "");
		return;
	}
	if (bit_set(sh->recv_bits[h.id], h.seq)) {
		CADD(dups, 1);
		error_msg("mailbox %d: DUPLICATE delivery of id %u seq %u (len %u prio %u)%s", mbx,
			  h.id, h.seq, len, h.prio, zc ? " (zero-copy)" : "");
		return;
	}
	CADD(recv, 1);
	CADD(recv_bytes, len);
	CADD(recv_mb[mbx], 1);
	if (zc)
		CADD(recv_zc, 1);
}

/* ---- signals -------------------------------------------------------------------- */

static void on_usr1(int sig)
{
	got_usr1++;
}

static void on_usr2(int sig)
{
	got_usr2 = 1;
}

static void set_usr1(bool restart)
{
	struct sigaction sa = { .sa_handler = on_usr1 };

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, NULL);
	sa_restart_now = restart;
}

static void worker_signals(struct rng *r)
{
	struct sigaction sa = { .sa_handler = on_usr2 };

	sigset_t set;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);	/* no SA_RESTART: ends any wait */
	set_usr1(rng_pct(r, 50));
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The orchestrator forks with both blocked, so none comes too early. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/*
 * Classify a failed kmbox call.  EINTR under SA_RESTART is wrong unless
 * the stop signal (SIGUSR2, no SA_RESTART) arrived.
 */
static void note_err(const char *what, long err, bool emsgsize_ok)
{
	switch (-err) {
	case EINTR:
		CADD(eintr, 1);
		if (sa_restart_now && !got_usr2 && got_usr1)
			error_msg("%s: EINTR although SIGUSR1 has SA_RESTART", what);
		return;
	case ETIMEDOUT:
		CADD(etimedout, 1);
		return;
	case EAGAIN:
		CADD(eagain, 1);
		return;
	case EMSGSIZE:
		CADD(emsgsize, 1);
		if (emsgsize_ok)
			return;
		break;
	}
	error_msg("%s: unexpected error %ld (%s)", what, err, strerror((int)-err));
}

/* ---- mailboxes -------------------------------------------------------------------- */

static void mb_attr(int m, struct kmbox_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->max_msgs = mbdefs[m].max_msgs;
	a->max_msgsize = mbdefs[m].max_msgsize;
	a->zc_slots = mbdefs[m].zc_slots;
	a->zc_slot_size = mbdefs[m].zc_slot_size;
}

/* Open mailbox @m for a worker: a new file on the named one, a dup of the anon one. */
static int mb_open(int m)
{
	struct kmbox_attr a;
	int fd;

	if (!mbdefs[m].name) {
		fd = fcntl(anon_fd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	mb_attr(m, &a);
	fd = kb_open(mbdefs[m].name, O_RDWR,
		     m == MB_CHURN ? KMBOX_OPEN_CREAT : 0, 0600, &a);
	return fd;
}

struct wfile {
	int fd;
	struct kmbox_region reg;	/* MB_ZC only */
};

static void wfile_open(struct wfile *w, int m)
{
	w->fd = mb_open(m);
	memset(&w->reg, 0, sizeof(w->reg));
	w->reg.fd = -1;
	if (w->fd < 0) {
		error_msg("open mailbox %d: %s", m, strerror(-w->fd));
		_exit(3);
	}
	if (mbdefs[m].zc_slots) {
		if (kmbox_region_map(w->fd, &w->reg)) {
			error_msg("map region of mailbox %d: %s", m, strerror(errno));
			_exit(3);
		}
		CADD(mmaps, 1);
	}
}

static void wfile_close(struct wfile *w)
{
	if (w->reg.base) {
		kmbox_region_unmap(&w->reg);
		CADD(munmaps, 1);
	}
	close(w->fd);
	w->fd = -1;
}

/* Deadline/flags for one call: 20% nonblocking, 50% timed, 30% blocking. */
static __u32 wait_mode(struct rng *r, __u64 *deadline)
{
	unsigned int x = rng_below(r, 100);

	*deadline = 0;
	if (stop_level())	/* wind down: never sleep long */
		x = rng_below(r, 70);
	if (x < 20)
		return KMBOX_F_NONBLOCK;
	if (x < 70) {
		*deadline = now_ns() + rng_below(r, 30000000);
		return KMBOX_F_TIMEOUT;
	}
	return 0;
}

static __u32 pick_len(struct rng *r, int m)
{
	__u32 max = mbdefs[m].max_msgsize;
	unsigned int x = rng_below(r, 100);

	if (x < 8)
		return 0;
	if (x < 60)
		return sizeof(struct msg_hdr) + rng_below(r, 104);
	if (x < 90)
		return sizeof(struct msg_hdr) + rng_below(r, (max < 1024 ? max : 1024) -
						      sizeof(struct msg_hdr) + 1);
	return sizeof(struct msg_hdr) + rng_below(r, max - sizeof(struct msg_hdr) + 1);
}

static __u32 pick_prio(struct rng *r)
{
	if (rng_pct(r, 70))
		return 0;
	if (rng_pct(r, 50))
		return rng_below(r, 4);
	return rng_below(r, KMBOX_PRIO_MAX);
}

static int pick_mb(struct rng *r)
{
	static const int w[] = { MB_PLAIN, MB_PLAIN, MB_ZC, MB_ZC, MB_ZC, MB_ANON, MB_ANON,
				 MB_CHURN };

	return w[rng_below(r, ARRAY_SIZE(w))];
}

/* ---- producer ------------------------------------------------------------------------- */

static void mark_sent(int id, __u32 seq, __u32 n)
{
	__u32 i;

	for (i = 0; i < n; i++)
		bit_set(sh->sent_bits[id], seq + i);
}

static void set_inflight(struct prod_state *p, __u32 lo, __u32 hi)
{
	__atomic_store_n(&p->lo, lo, __ATOMIC_RELAXED);
	__atomic_store_n(&p->hi, hi, __ATOMIC_RELAXED);
	if (hi > p->top)
		__atomic_store_n(&p->top, hi, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Send @n messages [seq, seq+n) to mailbox @m with zero-copy; returns how many went. */
static long prod_zc(struct rng *r, struct wfile *w, int m, int id, __u32 seq, __u32 n)
{
	__u32 slots[BATCH_MAX], i, sent = 0, len, prio, flags;
	__u64 dl;
	long got, ret;

	flags = wait_mode(r, &dl);
	got = kmbox_zc_reserve(w->fd, slots, n, flags & KMBOX_F_NONBLOCK,
			       (flags & KMBOX_F_TIMEOUT) ? &(struct timespec){
				       .tv_sec = dl / 1000000000ULL,
				       .tv_nsec = dl % 1000000000ULL } : NULL);
	if (got < 0) {
		note_err("zc_reserve", -errno, false);
		return -errno;
	}
	if (got > n || got == 0) {
		error_msg("ZC_RESERVE of %u returned %ld", n, got);
		return -EIO;
	}
	/* Sometimes die holding reserved slots: the kernel must free them. */
	if (rng_pct(r, 1)) {
		CADD(self_kills, 1);
		raise(SIGKILL);
	}
	for (i = 0; i < got; i++) {
		if (slots[i] >= w->reg.nslots) {
			error_msg("ZC_RESERVE gave slot %u of %u", slots[i], w->reg.nslots);
			return -EIO;
		}
		len = pick_len(r, m);
		if (len > w->reg.slot_size)
			len = w->reg.slot_size;
		if (!len)
			len = sizeof(struct msg_hdr);
		prio = pick_prio(r);
		build_msg(kmbox_slot_ptr(&w->reg, slots[i]), len, id, seq + i, m, prio);
		flags = wait_mode(r, &dl);
		ret = kb_send_slot(w->fd, NULL, len, prio, flags | KMBOX_F_ZC, slots[i], dl);
		if (ret < 0) {
			note_err("zc send", ret, false);
			break;
		}
		mark_sent(id, seq + i, 1);
		CADD(sent, 1);
		CADD(sent_zc, 1);
		CADD(sent_bytes, len);
		CADD(sent_mb[m], 1);
		sent++;
	}
	if (i < got) {
		ret = kmbox_zc_release(w->fd, slots + i, got - i);
		if (ret)
			error_msg("ZC_RELEASE of %ld unsent reserved slots: %s", got - i,
				  strerror(errno));
	}
	return sent;
}

static void producer(int slot, int id)
{
	struct prod_state *p = &sh->prod[id];
	struct wfile wf[NMB];
	unsigned char *buf;
	struct rng r;
	__u32 seq = 0;
	unsigned long ops = 0;
	int m;

	rng_seed(&r, opt_seed, 0x100000 + id);
	worker_signals(&r);
	buf = malloc(BATCH_MAX * 4096);
	if (!buf)
		_exit(3);
	for (m = 0; m < NMB; m++)
		wfile_open(&wf[m], m);

	while (!stop_level() && seq + BATCH_MAX < MAX_SEQ) {
		struct kmbox_mmsg mm[BATCH_MAX];
		__u32 len, prio, flags, n, i;
		__u64 dl;
		long ret;
		int op;

		got_usr1 = 0;
		if (++ops % 200 == 0)
			set_usr1(rng_pct(&r, 50));
		m = pick_mb(&r);
		if (rng_pct(&r, 2)) {
			wfile_close(&wf[m]);
			wfile_open(&wf[m], m);
			CADD(reopens, 1);
		}
		op = rng_below(&r, 100);
		if (m == MB_ZC && op < 50) {
			n = 1 + rng_below(&r, 4);
			set_inflight(p, seq, seq + n);
			ret = prod_zc(&r, &wf[m], m, id, seq, n);
			if (ret > 0)
				seq += ret;
			set_inflight(p, seq, seq);
			continue;
		}
		len = pick_len(&r, m);
		prio = pick_prio(&r);
		if (op < 65) {			/* KMBOX_IOC_SEND */
			flags = wait_mode(&r, &dl);
			if (!len) {
				p->empty_inflight = 1;
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
			} else {
				set_inflight(p, seq, seq + 1);
			}
			build_msg(buf, len, id, seq, m, prio);
			ret = kb_send(wf[m].fd, buf, len, prio, flags, dl);
			if (ret < 0) {
				note_err("send", ret, false);
			} else if (!len) {
				CADD(sent_empty, 1);
				CADD(sent, 1);
				CADD(sent_mb[m], 1);
			} else {
				mark_sent(id, seq, 1);
				CADD(sent, 1);
				CADD(sent_bytes, len);
				CADD(sent_mb[m], 1);
				seq++;
			}
			p->empty_inflight = 0;
			set_inflight(p, seq, seq);
		} else if (op < 80) {		/* write(): prio 0, honours O_NONBLOCK only */
			if (len)
				set_inflight(p, seq, seq + 1);
			else
				p->empty_inflight = 1;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			build_msg(buf, len, id, seq, m, 0);
			ret = write(wf[m].fd, buf, len);
			if (ret < 0) {
				note_err("write", -errno, false);
			} else if (ret != (long)len) {
				error_msg("write of %u returned %ld", len, ret);
			} else if (!len) {
				CADD(sent_empty, 1);
				CADD(sent, 1);
				CADD(sent_mb[m], 1);
			} else {
				mark_sent(id, seq, 1);
				CADD(sent, 1);
				CADD(sent_bytes, len);
				CADD(sent_mb[m], 1);
				seq++;
			}
			p->empty_inflight = 0;
			set_inflight(p, seq, seq);
		} else {			/* SEND_BATCH */
			n = 2 + rng_below(&r, BATCH_MAX - 1);
			for (i = 0; i < n; i++) {
				len = pick_len(&r, m);
				if (!len)
					len = sizeof(struct msg_hdr);
				prio = pick_prio(&r);
				build_msg(buf + i * 4096, len, id, seq + i, m, prio);
				kmbox_mmsg_prep(&mm[i], buf + i * 4096, len, prio);
			}
			flags = wait_mode(&r, &dl);
			set_inflight(p, seq, seq + n);
			ret = kmbox_send_batch(wf[m].fd, mm, n, flags & KMBOX_F_NONBLOCK,
					       (flags & KMBOX_F_TIMEOUT) ? &(struct timespec){
						       .tv_sec = dl / 1000000000ULL,
						       .tv_nsec = dl % 1000000000ULL } : NULL);
			if (ret < 0) {
				note_err("send_batch", -errno, false);
			} else if (ret == 0 || ret > (long)n) {
				error_msg("SEND_BATCH of %u returned %ld", n, ret);
			} else {
				mark_sent(id, seq, ret);
				for (i = 0; i < ret; i++)
					CADD(sent_bytes, mm[i].len);
				CADD(sent, ret);
				CADD(sent_mb[m], ret);
				CADD(batches, 1);
				seq += ret;
			}
			set_inflight(p, seq, seq);
		}
	}
	_exit(0);
}

/* ---- consumer ---------------------------------------------------------------------------- */

/* Hold received slots for a while, killable by the killer; false: we were doomed. */
static void cons_hold(struct cons_state *cs, struct rng *r)
{
	int expect = CONS_HOLDING;

	__atomic_store_n(&cs->state, CONS_HOLDING, __ATOMIC_SEQ_CST);
	CADD(zc_holds, 1);
	sleep_us(rng_below(r, 20000));
	if (!__atomic_compare_exchange_n(&cs->state, &expect, CONS_ACTIVE, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		/* The killer chose us: wait for its SIGKILL. */
		for (;;)
			pause();
	}
}

static bool all_empty(struct wfile *wf)
{
	struct kmbox_attr a;
	int m;

	for (m = 0; m < NMB; m++)
		if (kb_getattr(wf[m].fd, &a) || a.cur_msgs)
			return false;
	return true;
}

static void consumer(int slot)
{
	struct cons_state *cs = &sh->cons[slot];
	unsigned char *buf;
	struct wfile wf[NMB];
	unsigned long ops = 0;
	bool draining = false;
	struct rng r;
	int m;

	rng_seed(&r, opt_seed, 0x200000 + slot * 4096 + (getpid() & 4095));
	worker_signals(&r);
	buf = malloc(BATCH_MAX * 4096);
	if (!buf)
		_exit(3);
	for (m = 0; m < NMB; m++)
		wfile_open(&wf[m], m);

	for (;;) {
		struct kmbox_mmsg mm[BATCH_MAX];
		struct kmbox_recv rv;
		__u32 flags, n, i, sz;
		int level = stop_level();
		__u64 dl;
		long ret;
		int op;

		if (level >= 2)
			break;
		if (level == 1 && !draining && __atomic_load_n(&sh->churn_done, __ATOMIC_ACQUIRE)) {
			/*
			 * The churner has stopped: the instance now under the
			 * name is the last, and ours may be an older one (the
			 * churner drains those).  Drain the last one.
			 */
			wfile_close(&wf[MB_CHURN]);
			wfile_open(&wf[MB_CHURN], MB_CHURN);
			draining = true;
		}
		got_usr1 = 0;
		if (++ops % 200 == 0)
			set_usr1(rng_pct(&r, 50));
		m = pick_mb(&r);
		if (level == 0 && rng_pct(&r, 2)) {
			wfile_close(&wf[m]);
			wfile_open(&wf[m], m);
			CADD(reopens, 1);
		}
		op = rng_below(&r, 100);
		flags = wait_mode(&r, &dl);
		if (op < 20) {				/* read() */
			sz = rng_pct(&r, 10) ? rng_below(&r, 64) : 4096;
			ret = read(wf[m].fd, buf, sz);
			if (ret < 0)
				note_err("read", -errno, sz < 4096);
			else
				check_msg(m, buf, ret, -1, false);
		} else if (op < 70) {			/* RECV, with ZC on the ZC mailbox */
			memset(&rv, 0, sizeof(rv));
			sz = rng_pct(&r, 10) ? rng_below(&r, 64) : 4096;
			rv.buf = U64(buf);
			rv.len = sz;
			rv.flags = flags | (m == MB_ZC && rng_pct(&r, 70) ? KMBOX_F_ZC : 0);
			rv.deadline_ns = dl;
			ret = kb_ioctl(wf[m].fd, KMBOX_IOC_RECV, &rv);
			if (ret == -EMSGSIZE && sz < 4096) {
				if (rv.len <= sz || rv.len > mbdefs[m].max_msgsize)
					error_msg("RECV EMSGSIZE with len %u (buffer %u)", rv.len, sz);
				CADD(emsgsize, 1);
				continue;
			}
			if (ret < 0) {
				note_err("recv", ret, false);
				continue;
			}
			if (ret != rv.len)
				error_msg("RECV returned %ld but len %u", ret, rv.len);
			if (rv.msg_flags & KMBOX_MSG_ZC) {
				if (rv.slot >= wf[m].reg.nslots) {
					error_msg("RECV ZC slot %u of %u", rv.slot, wf[m].reg.nslots);
					continue;
				}
				check_msg(m, kmbox_slot_ptr(&wf[m].reg, rv.slot), rv.len, rv.prio, true);
				if (rng_pct(&r, 15))
					cons_hold(cs, &r);
				if (rng_pct(&r, 1)) {
					CADD(self_kills, 1);
					raise(SIGKILL);	/* holding a received slot */
				}
				if (kmbox_zc_release(wf[m].fd, &rv.slot, 1))
					error_msg("ZC_RELEASE of received slot %u: %s", rv.slot,
						  strerror(errno));
			} else {
				if (rv.slot != KMBOX_NO_SLOT)
					error_msg("copied message with slot %u", rv.slot);
				check_msg(m, buf, rv.len, rv.prio, false);
			}
		} else {				/* RECV_BATCH */
			struct kmbox_batch b = { 0 };
			__u32 held[BATCH_MAX], nheld = 0;

			n = 2 + rng_below(&r, BATCH_MAX - 1);
			for (i = 0; i < n; i++)
				kmbox_mmsg_prep(&mm[i], buf + i * 4096, 4096, 0);
			b.msgs = U64(mm);
			b.count = n;
			b.flags = flags | (m == MB_ZC && rng_pct(&r, 50) ? KMBOX_F_ZC : 0);
			b.deadline_ns = dl;
			ret = kb_ioctl(wf[m].fd, KMBOX_IOC_RECV_BATCH, &b);
			if (ret < 0) {
				note_err("recv_batch", ret, false);
				continue;
			}
			if (ret == 0 || ret > n) {
				error_msg("RECV_BATCH of %u returned %ld", n, ret);
				continue;
			}
			CADD(batches, 1);
			for (i = 0; i < ret; i++) {
				if (mm[i].flags & KMBOX_MSG_ZC) {
					if (mm[i].slot >= wf[m].reg.nslots) {
						error_msg("RECV_BATCH ZC slot %u", mm[i].slot);
						continue;
					}
					check_msg(m, kmbox_slot_ptr(&wf[m].reg, mm[i].slot), mm[i].len,
						  mm[i].prio, true);
					held[nheld++] = mm[i].slot;
				} else {
					check_msg(m, buf + i * 4096, mm[i].len, mm[i].prio, false);
				}
			}
			if (nheld) {
				if (rng_pct(&r, 15))
					cons_hold(cs, &r);
				if (kmbox_zc_release(wf[m].fd, held, nheld))
					error_msg("ZC_RELEASE of %u batch slots: %s", nheld,
						  strerror(errno));
			}
		}
		if (level == 1 && all_empty(wf))
			sleep_us(2000);
	}
	_exit(0);
}

/* ---- helpers: idle waiter, signal thrower, killer, churner, mapper ------------------------- */

static void idle_waiter(void)
{
	struct rng r;
	char b[64];
	int e, f;

	rng_seed(&r, opt_seed, 0x300000 + getpid());
	worker_signals(&r);
	e = kb_open(idle_empty_name, O_RDWR, 0, 0, NULL);
	f = kb_open(idle_full_name, O_RDWR, 0, 0, NULL);
	if (e < 0 || f < 0) {
		error_msg("idle waiter: open: %s", strerror(-(e < 0 ? e : f)));
		_exit(3);
	}
	while (!stop_level()) {
		long ret;

		got_usr1 = 0;
		set_usr1(rng_pct(&r, 50));
		if (rng_pct(&r, 50)) {
			ret = read(e, b, sizeof(b));
			if (ret >= 0)
				error_msg("recv on the always-empty mailbox returned %ld", ret);
			else
				note_err("idle recv", -errno, false);
		} else {
			ret = kb_send(f, "x", 1, 0, 0, 0);
			if (ret >= 0)
				error_msg("send to the always-full mailbox succeeded");
			else
				note_err("idle send", ret, false);
		}
	}
	_exit(0);
}

struct child {
	pid_t pid;
	int role;
	int index;		/* consumer slot, producer id */
};

enum { R_PROD, R_CONS, R_IDLE, R_SIGNALER, R_KILLER, R_CHURNER, R_MAPPER };

static struct child *children;	/* shared with helpers (read-only for them) */
static int nchildren_max = MAX_CHILDREN;

static pid_t random_pid(struct rng *r, int role_mask)
{
	int tries;

	for (tries = 0; tries < 50; tries++) {
		struct child *c = &children[rng_below(r, nchildren_max)];
		pid_t pid = __atomic_load_n(&c->pid, __ATOMIC_RELAXED);

		if (pid > 0 && (role_mask & (1 << c->role)))
			return pid;
	}
	return 0;
}

static void signaler(void)
{
	struct rng r;

	rng_seed(&r, opt_seed, 0x400000);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (!stop_level()) {
		pid_t pid = random_pid(&r, 1 << R_PROD | 1 << R_CONS | 1 << R_IDLE);

		if (pid > 0 && !kill(pid, SIGUSR1))
			CADD(sigs_thrown, 1);
		sleep_us(500 + rng_below(&r, 4000));
	}
	_exit(0);
}

static void killer(void)
{
	struct rng r;

	rng_seed(&r, opt_seed, 0x500000);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (!stop_level()) {
		unsigned int x = rng_below(&r, 100);
		pid_t pid;

		sleep_us(100000 + rng_below(&r, 300000));
		if (stop_level())
			break;
		if (x < 55) {
			pid = random_pid(&r, 1 << R_PROD);
			if (pid > 0 && !kill(pid, SIGKILL)) {
				CADD(kills, 1);
				CADD(kills_prod, 1);
			}
		} else if (x < 80) {
			/* Look for a consumer holding received slots, for up to 100 ms. */
			int i, tries;

			for (tries = 0; tries < 100 && !stop_level(); tries++) {
				for (i = 0; i < MAX_CONS; i++) {
					struct cons_state *cs = &sh->cons[i];
					int expect = CONS_HOLDING;

					pid = __atomic_load_n(&cs->pid, __ATOMIC_RELAXED);
					if (pid > 0 &&
					    __atomic_compare_exchange_n(&cs->state, &expect,
									CONS_DOOMED, false,
									__ATOMIC_SEQ_CST,
									__ATOMIC_SEQ_CST)) {
						kill(pid, SIGKILL);
						CADD(kills, 1);
						CADD(kills_cons, 1);
						break;
					}
				}
				if (i < MAX_CONS)
					break;
				sleep_us(1000);
			}
		} else {
			pid = random_pid(&r, 1 << R_IDLE | 1 << R_MAPPER);
			if (pid > 0 && !kill(pid, SIGKILL)) {
				CADD(kills, 1);
				CADD(kills_idle, 1);
			}
		}
	}
	_exit(0);
}

/* Drain one file of mailbox @m (non-blocking), checking what comes out. */
static unsigned long drain_fd(int fd, int m)
{
	static unsigned char buf[8192];
	unsigned long n = 0;
	struct kmbox_recv rv;
	long ret;

	for (;;) {
		memset(&rv, 0, sizeof(rv));
		rv.buf = U64(buf);
		rv.len = sizeof(buf);
		rv.flags = KMBOX_F_NONBLOCK;
		ret = kb_ioctl(fd, KMBOX_IOC_RECV, &rv);
		if (ret == -EAGAIN)
			break;
		if (ret < 0) {
			error_msg("drain of mailbox %d: %s", m, strerror(-ret));
			break;
		}
		check_msg(m, buf, rv.len, rv.prio, false);
		n++;
	}
	return n;
}

static void churner(void)
{
	int keep[MAX_CHURN], nkeep = 0, i;
	unsigned long drained = 0;
	struct kmbox_attr a;
	struct rng r;

	rng_seed(&r, opt_seed, 0x600000);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	mb_attr(MB_CHURN, &a);
	while (!stop_level()) {
		long ret;
		int fd;

		sleep_us(100000 + rng_below(&r, 200000));
		if (stop_level() || nkeep == MAX_CHURN)
			continue;
		/* Keep the current instance open, unlink it, make a new one. */
		fd = kb_open(mbdefs[MB_CHURN].name, O_RDWR, KMBOX_OPEN_CREAT, 0600, &a);
		if (fd < 0) {
			error_msg("churner: open: %s", strerror(-fd));
			continue;
		}
		keep[nkeep++] = fd;
		ret = kb_unlink(mbdefs[MB_CHURN].name);
		if (ret && ret != -ENOENT)
			error_msg("churner: unlink: %s", strerror(-ret));
		if (!ret)
			CADD(unlinks, 1);
		ret = kb_open(mbdefs[MB_CHURN].name, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL,
			      0600, &a);
		if (ret >= 0)
			close(ret);
		else if (ret != -EEXIST)
			error_msg("churner: re-create: %s", strerror(-ret));
		if (kb_getattr(fd, &a) == 0 && !(a.flags & KMBOX_ATTR_UNLINKED) && !ret)
			error_msg("churner: unlinked mailbox lacks KMBOX_ATTR_UNLINKED");
		mb_attr(MB_CHURN, &a);
	}
	__atomic_store_n(&sh->churn_done, 1, __ATOMIC_RELEASE);
	while (stop_level() < 3)
		sleep_us(10000);
	for (i = 0; i < nkeep; i++) {
		drained += drain_fd(keep[i], MB_CHURN);
		close(keep[i]);
	}
	if (opt_verbose)
		diag("churner: %d old instances, %lu messages drained from them", nkeep, drained);
	_exit(0);
}

static void mapper(void)
{
	size_t size, page = sysconf(_SC_PAGESIZE);
	struct kmbox_attr a;
	struct rng r;
	int fd;

	rng_seed(&r, opt_seed, 0x700000 + getpid());
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = mb_open(MB_ZC);
	if (fd < 0 || kb_getattr(fd, &a)) {
		error_msg("mapper: open: %s", strerror(fd < 0 ? -fd : errno));
		_exit(3);
	}
	size = ((size_t)a.zc_slots * a.zc_slot_size + page - 1) & ~(page - 1);
	while (!stop_level()) {
		unsigned int x = rng_below(&r, 100);
		volatile unsigned char sink;
		unsigned char *p;
		size_t i;

		if (x < 8) {		/* the mmap rules */
			p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
			if (p != MAP_FAILED || errno != EINVAL)
				error_msg("mmap MAP_PRIVATE: %s, want EINVAL",
					  p == MAP_FAILED ? strerror(errno) : "success");
			p = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
			if (p != MAP_FAILED || errno != EPERM)
				error_msg("mmap PROT_EXEC: %s, want EPERM",
					  p == MAP_FAILED ? strerror(errno) : "success");
			p = mmap(NULL, size + page, PROT_READ, MAP_SHARED, fd, 0);
			if (p != MAP_FAILED || errno != EINVAL)
				error_msg("mmap past the region: %s, want EINVAL",
					  p == MAP_FAILED ? strerror(errno) : "success");
			p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, page);
			if (p != MAP_FAILED || errno != EINVAL)
				error_msg("mmap at offset %zu: %s, want EINVAL", page,
					  p == MAP_FAILED ? strerror(errno) : "success");
			continue;
		}
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			error_msg("mapper: mmap: %s", strerror(errno));
			sleep_us(10000);
			continue;
		}
		CADD(mmaps, 1);
		for (i = 0; i < 16; i++)	/* racy reads of payloads: harmless */
			sink = p[rng_below(&r, size)];
		(void)sink;
		if (x < 20) {
			void *q = mremap(p, size, size + page, 0);

			if (q != MAP_FAILED)
				error_msg("mremap grew the region mapping");
		} else if (x < 35 && size > page) {
			munmap(p + page, size - page);	/* split, keep the head */
			sink = p[0];
			mprotect(p, page, PROT_READ);
			sink = p[page - 1];
			size_t head = page;

			munmap(p, head);
			CADD(munmaps, 1);
			continue;
		} else if (x < 50) {
			/* The mapping outlives the file. */
			close(fd);
			sink = p[rng_below(&r, size)];
			sleep_us(rng_below(&r, 5000));
			sink = p[rng_below(&r, size)];
			fd = mb_open(MB_ZC);
			if (fd < 0) {
				error_msg("mapper: reopen: %s", strerror(-fd));
				_exit(3);
			}
			CADD(reopens, 1);
		} else if (x < 58) {
			pid_t pid = fork();

			if (pid == 0) {
				sink = p[rng_below(&r, size)];
				_exit(0);
			}
			if (pid > 0) {
				waitpid(pid, NULL, 0);
				CADD(forks, 1);
			}
		}
		sleep_us(rng_below(&r, 3000));
		munmap(p, size);
		CADD(munmaps, 1);
	}
	_exit(0);
}

/* ---- the orchestrator -------------------------------------------------------------------------- */

static pid_t spawn(int role, int index)
{
	pid_t pid;
	int i;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		error_msg("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		switch (role) {
		case R_PROD:
			producer(0, index);
			break;
		case R_CONS:
			__atomic_store_n(&sh->cons[index].state, CONS_ACTIVE, __ATOMIC_SEQ_CST);
			__atomic_store_n(&sh->cons[index].pid, getpid(), __ATOMIC_SEQ_CST);
			consumer(index);
			break;
		case R_IDLE:
			idle_waiter();
			break;
		case R_SIGNALER:
			signaler();
			break;
		case R_KILLER:
			killer();
			break;
		case R_CHURNER:
			churner();
			break;
		case R_MAPPER:
			mapper();
			break;
		}
		_exit(0);
	}
	for (i = 0; i < nchildren_max; i++) {
		if (children[i].pid == 0) {
			children[i].role = role;
			children[i].index = index;
			__atomic_store_n(&children[i].pid, pid, __ATOMIC_SEQ_CST);
			break;
		}
	}
	if (role == R_CONS)
		__atomic_store_n(&sh->cons[index].pid, pid, __ATOMIC_SEQ_CST);
	return pid;
}

static int alloc_id(void)
{
	int id = __atomic_load_n(&sh->next_id, __ATOMIC_RELAXED);

	if (id >= MAX_IDS)
		return -1;
	__atomic_store_n(&sh->next_id, id + 1, __ATOMIC_SEQ_CST);
	return id;
}

static const char *role_name(int role)
{
	static const char *const n[] = { "producer", "consumer", "idle waiter", "signaler",
					 "killer", "churner", "mapper" };

	return n[role];
}

/* Reap children; respawn workers while running.  Returns how many remain. */
static int reap(bool respawn)
{
	int status, i, alive = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < nchildren_max; i++)
			if (children[i].pid == pid)
				break;
		if (i == nchildren_max)
			continue;
		struct child c = children[i];

		__atomic_store_n(&children[i].pid, 0, __ATOMIC_SEQ_CST);
		if (c.role == R_CONS)
			__atomic_store_n(&sh->cons[c.index].pid, 0, __ATOMIC_SEQ_CST);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
		    (c.role == R_PROD || c.role == R_CONS || c.role == R_IDLE ||
		     c.role == R_MAPPER)) {
			if (c.role == R_PROD)
				sh->prod[c.index].killed = 1;
		} else if (WIFSIGNALED(status)) {
			error_msg("%s (pid %d) died of signal %d (%s)", role_name(c.role), pid,
				  WTERMSIG(status), strsignal(WTERMSIG(status)));
		} else if (WEXITSTATUS(status)) {
			error_msg("%s (pid %d) exited %d", role_name(c.role), pid,
				  WEXITSTATUS(status));
		}
		if (!respawn || stop_level())
			continue;
		if (c.role == R_PROD) {
			int id = alloc_id();

			if (id >= 0)
				spawn(R_PROD, id);
		} else if (c.role == R_CONS || c.role == R_IDLE || c.role == R_MAPPER) {
			spawn(c.role, c.index);
		}
	}
	for (i = 0; i < nchildren_max; i++)
		alive += children[i].pid > 0;
	return alive;
}

static int count_role(int role)
{
	int i, n = 0;

	for (i = 0; i < nchildren_max; i++)
		n += children[i].pid > 0 && children[i].role == role;
	return n;
}

static void signal_role(int role, int sig)
{
	int i;

	for (i = 0; i < nchildren_max; i++)
		if (children[i].pid > 0 && (role < 0 || children[i].role == role))
			kill(children[i].pid, sig);
}

/* Lost wake-up watchdog state. */
struct wd {
	__u64 last_recv[NMB + 1], last_sent[NMB + 1];
	__u64 rd_since[NMB + 1], wr_since[NMB + 1];
	bool reported;
};

static int name_to_mb(const char *name)
{
	int m;

	for (m = 0; m < NMB; m++)
		if (mbdefs[m].name && !strcmp(name, mbdefs[m].name))
			return m;
	return strcmp(name, "-") ? -1 : MB_ANON;
}

static void watchdog(struct wd *w)
{
	bool rd_stuck[NMB] = { 0 }, wr_stuck[NMB] = { 0 };
	__u64 t = now_ns();
	char line[512], name[300], flags[8];
	FILE *f;
	int m;

	f = fopen("/proc/kmbox/mailboxes", "r");
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long id, uid, gid, mode, maxm, maxs, msgs, bytes, rw, ww, zs, zss, zf;

		if (sscanf(line, "%lu %299s %lu %lu %lo %lu %lu %lu %lu %lu %lu %lu %lu %lu %7s",
			   &id, name, &uid, &gid, &mode, &maxm, &maxs, &msgs, &bytes, &rw, &ww,
			   &zs, &zss, &zf, flags) != 15)
			continue;
		m = name_to_mb(name);
		if (m < 0 || (m == MB_ANON && maxm != mbdefs[MB_ANON].max_msgs))
			continue;
		if (msgs && rw)
			rd_stuck[m] = true;
		if (!zs && msgs < maxm && ww)
			wr_stuck[m] = true;
	}
	fclose(f);

	for (m = 0; m < NMB; m++) {
		__u64 rc = CGET(recv_mb[m]), sc = CGET(sent_mb[m]);

		if (!rd_stuck[m] || rc != w->last_recv[m])
			w->rd_since[m] = t;
		if (!wr_stuck[m] || sc != w->last_sent[m])
			w->wr_since[m] = t;
		w->last_recv[m] = rc;
		w->last_sent[m] = sc;
		if (t - w->rd_since[m] > STALL_NS || t - w->wr_since[m] > STALL_NS) {
			bool rd = t - w->rd_since[m] > STALL_NS;

			CADD(stalls, 1);
			if (!w->reported)
				error_msg("possible lost wake-up: mailbox %d has %s and %s asleep, yet nothing moved for 5 s",
					  m, rd ? "messages queued" : "room",
					  rd ? "receivers" : "senders");
			w->reported = true;
			w->rd_since[m] = w->wr_since[m] = t;
		}
	}
}

/* Final accounting.  Returns (lost, phantom, excused). */
static void account(__u64 *lost, __u64 *phantom, __u64 *excused, __u64 *empty_excused)
{
	int id, nid = sh->next_id;
	__u32 seq;

	*lost = *phantom = *excused = *empty_excused = 0;
	for (id = 0; id < nid; id++) {
		struct prod_state *p = &sh->prod[id];

		for (seq = 0; seq < p->top && seq < MAX_SEQ; seq++) {
			bool s = bit_test(sh->sent_bits[id], seq);
			bool r = bit_test(sh->recv_bits[id], seq);

			if (s && !r) {
				if (++*lost <= 5)
					diag("lost: id %d seq %u", id, seq);
			} else if (!s && r) {
				if (p->killed && seq >= p->lo && seq < p->hi) {
					++*excused;
				} else if (++*phantom <= 5) {
					diag("phantom: id %d seq %u (in flight [%u,%u), killed %u)", id,
					     seq, p->lo, p->hi, p->killed);
				}
			}
		}
		if (p->killed && p->empty_inflight)
			++*empty_excused;
	}
}

/*
 * The quiet phase: no signals, no timeouts, no kills.  Producers and
 * consumers sleep in untimed blocking calls on one small mailbox (two
 * messages, two zero-copy slots), so that every wake-up matters: one
 * lost wake-up leaves a sleeper asleep for good, and the progress
 * counter stops.  Copied and zero-copy messages alternate; reservers
 * wait for slots, senders for room, receivers for messages.
 */
struct quiet {
	__u64 sent, recvd, bad;
	int stop;
};

static void quiet_producer(int fd, struct quiet *q, int id)
{
	struct kmbox_region reg;
	__u32 slot, seq = 0;
	char buf[64];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (kmbox_region_map(fd, &reg))
		_exit(3);
	while (!__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE)) {
		int n = snprintf(buf, sizeof(buf), "q %d %u", id, seq);

		if (seq & 1) {
			if (kmbox_zc_reserve(fd, &slot, 1, 0, NULL) != 1)
				_exit(4);
			memcpy(kmbox_slot_ptr(&reg, slot), buf, n);
			if (kb_send_slot(fd, NULL, n, 0, KMBOX_F_ZC, slot, 0))
				_exit(5);
		} else if (kb_send(fd, buf, n, seq % 3, 0, 0)) {
			_exit(6);
		}
		__atomic_add_fetch(&q->sent, 1, __ATOMIC_RELAXED);
		seq++;
	}
	_exit(0);
}

static void quiet_consumer(int fd, struct quiet *q)
{
	struct kmbox_region reg;
	char buf[64];
	long r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (kmbox_region_map(fd, &reg))
		_exit(3);
	for (;;) {
		struct kmbox_recv rv = { .buf = U64(buf), .len = sizeof(buf), .flags = KMBOX_F_ZC };

		r = kb_ioctl(fd, KMBOX_IOC_RECV, &rv);
		if (r < 0)
			_exit(7);
		if (r == 0)		/* the parent's "stop" */
			break;
		if (rv.msg_flags & KMBOX_MSG_ZC) {
			if (memcmp(kmbox_slot_ptr(&reg, rv.slot), "q ", 2))
				__atomic_add_fetch(&q->bad, 1, __ATOMIC_RELAXED);
			if (kmbox_zc_release(fd, &rv.slot, 1))
				_exit(8);
		} else if (memcmp(buf, "q ", 2)) {
			__atomic_add_fetch(&q->bad, 1, __ATOMIC_RELAXED);
		}
		__atomic_add_fetch(&q->recvd, 1, __ATOMIC_RELAXED);
	}
	_exit(0);
}

static void quiet_dump(void)
{
	char line[512];
	FILE *f = fopen("/proc/kmbox/mailboxes", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, " A\n") || !strncmp(line, "id ", 3))
			diag("  %s", strtok(line, "\n"));
	if (f)
		fclose(f);
}

static void quiet_phase(unsigned long long secs)
{
	struct kmbox_attr a = { .max_msgs = 2, .max_msgsize = 64, .zc_slots = 2,
				.zc_slot_size = 64 };
	enum { QP = 3, QC = 3 };
	pid_t pids[QP + QC];
	struct quiet *q;
	__u64 last = 0, t_last, end;
	bool stuck = false;
	int fd, i, st, nbad = 0;

	q = mmap(NULL, sizeof(*q), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fd = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &a);
	if (q == MAP_FAILED || fd < 0) {
		ktap_result(false, "stress quiet phase: setup");
		return;
	}
	memset(q, 0, sizeof(*q));
	for (i = 0; i < QP + QC; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			if (i < QP)
				quiet_producer(fd, q, i);
			quiet_consumer(fd, q);
		}
	}
	end = now_ns() + secs * 1000000000ULL;
	t_last = now_ns();
	while (!stuck) {
		__u64 r = __atomic_load_n(&q->recvd, __ATOMIC_RELAXED);

		if (r != last) {
			last = r;
			t_last = now_ns();
		} else if (now_ns() - t_last > 10000000000ULL) {
			stuck = true;
			break;
		}
		if (now_ns() >= end)
			break;
		sleep_us(20000);
	}
	__atomic_store_n(&q->stop, 1, __ATOMIC_RELEASE);
	/* Producers finish their current send (consumers still take). */
	for (i = 0; i < QP && !stuck; i++) {
		__u64 t0 = now_ns();

		while (waitpid(pids[i], &st, WNOHANG) == 0) {
			if (now_ns() - t0 > 10000000000ULL) {
				stuck = true;
				break;
			}
			sleep_us(10000);
		}
		if (!stuck && (!WIFEXITED(st) || WEXITSTATUS(st)))
			nbad++;
		if (!stuck)
			pids[i] = 0;
	}
	/* One empty message per consumer ends it, after every real one. */
	for (i = 0; i < QC && !stuck; i++)
		if (kb_send(fd, "", 0, 0, KMBOX_F_TIMEOUT, now_ns() + 10000000000ULL))
			nbad++;
	for (i = QP; i < QP + QC && !stuck; i++) {
		__u64 t0 = now_ns();

		while (waitpid(pids[i], &st, WNOHANG) == 0) {
			if (now_ns() - t0 > 10000000000ULL) {
				stuck = true;
				break;
			}
			sleep_us(10000);
		}
		if (!stuck && (!WIFEXITED(st) || WEXITSTATUS(st)))
			nbad++;
		if (!stuck)
			pids[i] = 0;
	}
	if (stuck) {
		diag("quiet phase: no progress for 10 s (sent %llu, received %llu): a lost wake-up?",
		     (unsigned long long)q->sent, (unsigned long long)q->recvd);
		quiet_dump();
		for (i = 0; i < QP + QC; i++)
			if (pids[i] > 0) {
				char path[64], wchan[64] = "";
				FILE *w;

				snprintf(path, sizeof(path), "/proc/%d/wchan", pids[i]);
				w = fopen(path, "r");
				if (w && fgets(wchan, sizeof(wchan), w))
					diag("  %s %d asleep in %s", i < QP ? "producer" : "consumer",
					     pids[i], wchan);
				if (w)
					fclose(w);
				kill(pids[i], SIGKILL);
				waitpid(pids[i], NULL, 0);
			}
	}
	close(fd);
	ktap_result(!stuck && !nbad && !q->bad && q->sent == q->recvd,
		    "stress quiet phase: %llu messages through untimed blocking calls, no lost wake-up (sent %llu, %d bad exits, %llu bad payloads)",
		    (unsigned long long)q->recvd, (unsigned long long)q->sent, nbad,
		    (unsigned long long)q->bad);
	munmap(q, sizeof(*q));
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kmbox_stress [--seed S] [--duration SECONDS] [--procs N] [--verbose]\n"
		"       kmbox_stress --hold-mapping SECONDS\n"
		"(also reads $KMBOX_STRESS_ARGS)\n");
	exit(2);
}

static int hold_mapping(unsigned long long secs)
{
	struct kmbox_attr a = { .zc_slots = 4, .zc_slot_size = 4096 };
	void *p;
	int fd;

	fd = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &a);
	if (fd < 0) {
		fprintf(stderr, "hold-mapping: open: %s\n", strerror(-fd));
		return 1;
	}
	p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "hold-mapping: mmap: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	memset(p, 0x5a, 4 * 4096);
	printf("mapped\n");
	fflush(stdout);
	sleep(secs);
	return 0;
}

int main(int argc, char **argv)
{
	struct kmbox_attr a;
	int mfd[NMB], idle_e, idle_f, i, m, nprod, ncons;
	__u64 t0, end, lost, phantom, excused, empty_excused, wd_next;
	bool setup_ok = true, drained = true, stopped = true;
	struct kb_stats st;
	struct wd wd = { 0 };

	env_args("KMBOX_STRESS_ARGS", &argc, &argv);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed"))
			opt_seed = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--duration"))
			opt_duration = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--procs"))
			opt_procs = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--verbose"))
			opt_verbose = true;
		else if (!strcmp(argv[i], "--hold-mapping"))
			return hold_mapping(arg_num(argv[i], argv[i + 1]));
		else
			usage();
	}
	if (opt_procs < 2)
		opt_procs = 2;
	if (opt_procs > 2 * MAX_CONS)
		opt_procs = 2 * MAX_CONS;
	nprod = (opt_procs + 1) / 2;
	ncons = opt_procs / 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap_plan(10);
	diag("kmbox_stress --seed %llu --duration %llu --procs %llu (%d producers, %d consumers)",
	     opt_seed, opt_duration, opt_procs, nprod, ncons);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	children = mmap(NULL, sizeof(*children) * MAX_CHILDREN, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || children == MAP_FAILED) {
		ktap_result(false, "stress setup (mmap: %s)", strerror(errno));
		return 1;
	}

	/* Mailboxes: named ones fresh, the anonymous one shared by fork. */
	for (m = 0; m < NMB; m++) {
		mb_attr(m, &a);
		if (mbdefs[m].name) {
			kb_unlink(mbdefs[m].name);
			mfd[m] = kb_open(mbdefs[m].name, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL,
					 0600, &a);
		} else {
			mfd[m] = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &a);
			anon_fd = mfd[m];
		}
		if (mfd[m] < 0) {
			diag("create mailbox %d: %s", m, strerror(-mfd[m]));
			setup_ok = false;
		}
	}
	kb_unlink(idle_empty_name);
	kb_unlink(idle_full_name);
	a = (struct kmbox_attr){ .max_msgs = 1, .max_msgsize = 64 };
	idle_e = kb_open(idle_empty_name, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600, &a);
	idle_f = kb_open(idle_full_name, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600, &a);
	if (idle_e < 0 || idle_f < 0 || kb_send(idle_f, "full", 4, 0, KMBOX_F_NONBLOCK, 0)) {
		diag("create idle mailboxes failed");
		setup_ok = false;
	}
	ktap_result(setup_ok, "stress setup");
	if (!setup_ok) {
		for (i = 0; i < 9; i++)
			ktap_skip("stress (setup failed)");
		return 1;
	}

	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigaddset(&set, SIGUSR2);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}
	t0 = now_ns();
	end = t0 + opt_duration * 1000000000ULL;
	for (i = 0; i < nprod; i++)
		spawn(R_PROD, alloc_id());
	for (i = 0; i < ncons; i++)
		spawn(R_CONS, i);
	spawn(R_IDLE, 0);
	spawn(R_SIGNALER, 0);
	spawn(R_KILLER, 0);
	spawn(R_CHURNER, 0);
	spawn(R_MAPPER, 0);

	wd_next = now_ns();
	while (now_ns() < end) {
		reap(true);
		if (now_ns() >= wd_next) {
			watchdog(&wd);
			wd_next = now_ns() + 250000000ULL;
		}
		sleep_us(5000);
	}

	/* Stop producing; let consumers drain. */
	__atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
	t0 = now_ns();
	while (count_role(R_PROD) + count_role(R_IDLE) + count_role(R_SIGNALER) +
	       count_role(R_KILLER) + count_role(R_MAPPER) > 0) {
		signal_role(R_PROD, SIGUSR2);
		signal_role(R_IDLE, SIGUSR2);
		reap(false);
		if (now_ns() - t0 > 60000000000ULL) {
			error_msg("producers/helpers did not stop within 60 s; killing them");
			stopped = false;
			signal_role(R_PROD, SIGKILL);
			signal_role(R_IDLE, SIGKILL);
			signal_role(R_MAPPER, SIGKILL);
			signal_role(R_SIGNALER, SIGKILL);
			signal_role(R_KILLER, SIGKILL);
			t0 = now_ns();
		}
		sleep_us(20000);
	}
	t0 = now_ns();
	wd_next = 0;
	for (;;) {
		bool empty = true;
		int cf = kb_open(mbdefs[MB_CHURN].name, O_RDONLY, 0, 0, NULL);

		/* mfd[MB_CHURN] is the first instance, long unlinked: the churner drains it. */
		for (m = 0; m < NMB; m++)
			if (m != MB_CHURN && (kb_getattr(mfd[m], &a) || a.cur_msgs))
				empty = false;
		if (cf >= 0) {
			if (kb_getattr(cf, &a) || a.cur_msgs)
				empty = false;
			close(cf);
		}
		reap(false);
		if (empty || !count_role(R_CONS))
			break;
		if (now_ns() - t0 > 180000000000ULL) {
			error_msg("consumers did not drain the mailboxes within 180 s");
			break;
		}
		/*
		 * Consumers now wait with short deadlines only; one that went
		 * to sleep without any before the stop needs a nudge.  Not too
		 * often: every SIGUSR2 also ends the wait of a busy one.
		 */
		if (now_ns() >= wd_next) {
			signal_role(R_CONS, SIGUSR2);
			wd_next = now_ns() + 2000000000ULL;
		}
		watchdog(&wd);
		sleep_us(20000);
	}
	__atomic_store_n(&sh->stop, 2, __ATOMIC_SEQ_CST);
	t0 = now_ns();
	while (count_role(R_CONS)) {
		signal_role(R_CONS, SIGUSR2);
		reap(false);
		if (now_ns() - t0 > 30000000000ULL) {
			error_msg("consumers did not stop within 30 s; killing them");
			stopped = false;
			signal_role(R_CONS, SIGKILL);
			t0 = now_ns();
		}
		sleep_us(20000);
	}
	__atomic_store_n(&sh->stop, 3, __ATOMIC_SEQ_CST);
	while (reap(false))
		sleep_us(20000);

	/* Drain what is left (should be nothing) through our own files. */
	for (m = 0; m < NMB; m++) {
		unsigned long n = drain_fd(mfd[m], m);

		if (n)
			diag("final drain: %lu messages left in mailbox %d", n, m);
	}
	i = kb_open(mbdefs[MB_CHURN].name, O_RDWR, 0, 0, NULL);
	if (i >= 0) {
		drain_fd(i, MB_CHURN);
		close(i);
	}

	account(&lost, &phantom, &excused, &empty_excused);

	/* The zero-copy mailbox must have every slot free again. */
	if (kb_getattr(mfd[MB_ZC], &a) || a.zc_free != a.zc_slots || a.cur_msgs) {
		diag("zero-copy mailbox after the run: zc_free %u of %u, cur_msgs %u", a.zc_free,
		     a.zc_slots, a.cur_msgs);
		drained = false;
	}
	if (kb_getattr(idle_f, &a) || a.cur_msgs != 1) {
		diag("always-full mailbox holds %u messages, want 1", a.cur_msgs);
		drained = false;
	}
	if (kb_getattr(idle_e, &a) || a.cur_msgs != 0) {
		diag("always-empty mailbox holds %u messages, want 0", a.cur_msgs);
		drained = false;
	}

	ktap_result(!CGET(errors) && stopped, "stress workers saw only documented results (%llu errors)",
		    (unsigned long long)CGET(errors));
	for (i = 0; i < MAX_ERRS && i < sh->nerr; i++)
		diag("  error: %s", sh->errs[i]);
	ktap_result(!CGET(dups), "stress no duplicate delivery (%llu duplicates)",
		    (unsigned long long)CGET(dups));
	ktap_result(!lost, "stress no lost messages (%llu lost)", (unsigned long long)lost);
	ktap_result(!phantom &&
		    CGET(recv_empty) >= CGET(sent_empty) &&
		    CGET(recv_empty) <= CGET(sent_empty) + empty_excused,
		    "stress no phantom messages (%llu phantom; %llu in flight at a SIGKILL delivered; empty sent %llu received %llu)",
		    (unsigned long long)phantom, (unsigned long long)excused,
		    (unsigned long long)CGET(sent_empty), (unsigned long long)CGET(recv_empty));
	ktap_result(!CGET(corrupt), "stress payloads intact (%llu corrupt)",
		    (unsigned long long)CGET(corrupt));
	ktap_result(!CGET(stalls), "stress no stalled waiters (lost wake-up watchdog)");
	ktap_result(drained, "stress mailboxes drained and zero-copy slots all free");
	quiet_phase(opt_duration / 3 < 10 ? 10 : opt_duration / 3);

	for (m = 0; m < NMB; m++) {
		close(mfd[m]);
		if (mbdefs[m].name)
			kb_unlink(mbdefs[m].name);
	}
	close(idle_e);
	close(idle_f);
	kb_unlink(idle_empty_name);
	kb_unlink(idle_full_name);
	if (access("/proc/kmbox/stats", R_OK)) {
		ktap_skip("stress kernel counters back to zero (no /proc/kmbox/stats)");
	} else {
		bool z = kb_wait_stats_zero(&st, 3000);

		if (!z)
			kb_stats_diag("/proc/kmbox/stats", &st);
		ktap_result(z, "stress kernel counters back to zero");
	}

	diag("totals: %llu messages moved (%llu bytes; %llu zero-copy, %llu empty, %llu batches) in %llu s",
	     (unsigned long long)CGET(recv), (unsigned long long)CGET(recv_bytes),
	     (unsigned long long)CGET(recv_zc), (unsigned long long)CGET(recv_empty),
	     (unsigned long long)CGET(batches), opt_duration);
	diag("totals: sent %llu; per mailbox received plain %llu zc %llu anon %llu churn %llu",
	     (unsigned long long)CGET(sent), (unsigned long long)CGET(recv_mb[0]),
	     (unsigned long long)CGET(recv_mb[1]), (unsigned long long)CGET(recv_mb[2]),
	     (unsigned long long)CGET(recv_mb[3]));
	diag("totals: SIGKILLs %llu (producers %llu, slot-holding consumers %llu, waiters/mappers %llu, self %llu), producer incarnations %d",
	     (unsigned long long)CGET(kills), (unsigned long long)CGET(kills_prod),
	     (unsigned long long)CGET(kills_cons), (unsigned long long)CGET(kills_idle),
	     (unsigned long long)CGET(self_kills), sh->next_id);
	diag("totals: SIGUSR1 thrown %llu; EINTR %llu ETIMEDOUT %llu EAGAIN %llu EMSGSIZE %llu",
	     (unsigned long long)CGET(sigs_thrown), (unsigned long long)CGET(eintr),
	     (unsigned long long)CGET(etimedout), (unsigned long long)CGET(eagain),
	     (unsigned long long)CGET(emsgsize));
	diag("totals: reopens %llu, unlinks %llu, mmaps %llu, munmaps %llu, forks with mapping %llu, slot holds %llu",
	     (unsigned long long)CGET(reopens), (unsigned long long)CGET(unlinks),
	     (unsigned long long)CGET(mmaps), (unsigned long long)CGET(munmaps),
	     (unsigned long long)CGET(forks), (unsigned long long)CGET(zc_holds));
	diag("stress: %s", ktap_failed ? "FAILED" : "passed");
	return ktap_failed ? 1 : 0;
}
