// SPDX-License-Identifier: GPL-2.0
/*
 * One measurement: create the channel(s), fork the pinned processes, let
 * them attach, start them together, collect what they measured.
 *
 * Latency (ping-pong): a client sends a message, the server receives and
 * checks it and answers with a message of the same size (freshly written),
 * the client receives and checks that; the client times each round trip
 * with CLOCK_MONOTONIC into a log-linear histogram.  Iterations before the
 * warm-up boundary (at least warm_min iterations and warm_ns) are not
 * recorded.
 *
 * Streaming: nprod producers send as fast as they can until run time and
 * message count are both reached; the last producer to finish then sends
 * one end marker per consumer (a message whose length differs from the
 * data messages), so every data message is queued before any marker.
 * Each consumer counts the messages it receives after its own warm-up
 * boundary; throughput = those messages / (latest end - earliest start).
 *
 * End of stream with batched receivers: one RECV_BATCH may take several
 * end markers, leaving another consumer blocked for good.  A consumer that
 * finds extra markers in its batch says so in shared memory; the parent
 * then sends SIGUSR1 (no SA_RESTART) to the consumers still running, until
 * they are gone, and their blocked receive ends with ECANCELED.  All data
 * was queued before the first marker, so nothing is lost; the end time is
 * taken from the consumers that saw a marker.
 *
 * Payload: every data message is written completely by its sender (word 0
 * is a per-message seed, word i = seed + i * K) and read completely by its
 * receiver, which checks every word (and, in one-to-one runs, that word 0
 * is the seed it expects next, so loss, duplication and reordering are
 * caught too).  Any mismatch marks the measurement "corrupt".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PAT_K	0x9E3779B97F4A7C15ULL

typedef uint64_t __attribute__((may_alias)) word_t;

struct child_res {
	int err;
	char what[120];
	uint64_t msgs;		/* measured */
	uint64_t total;		/* handled, warm-up included */
	uint64_t t0, t1;	/* measured window */
	uint64_t cpu_ns;
	uint64_t bad;
	struct hist h;
};

struct shared {
	unsigned int done_prod;
	unsigned int extra_eos;		/* end markers a batch swallowed */
	struct child_res r[MAX_PROCS];
};

static struct shared *sh;
static pid_t kids[MAX_PROCS];
static int nkids;

static uint64_t seed_of(unsigned int stream, uint64_t seq, unsigned int dir)
{
	return ((seq + 1) * 0xD1342543DE82EF95ULL) ^ ((uint64_t)stream << 56) ^
	       ((uint64_t)dir << 48);
}

static void fill(void *p, size_t len, uint64_t seed)
{
	word_t *w = p;
	size_t n = len / 8, i;
	uint64_t v = seed;

	for (i = 0; i < n; i++) {
		w[i] = v;
		v += PAT_K;
	}
	for (i = n * 8; i < len; i++)
		((unsigned char *)p)[i] = (unsigned char)(seed >> (8 * (i & 7)));
}

/* 0 if @p holds the pattern of @seed */
static int verify(const void *p, size_t len, uint64_t seed)
{
	const word_t *w = p;
	size_t n = len / 8, i;
	uint64_t v = seed, diff = 0;

	for (i = 0; i < n; i++) {
		diff |= w[i] ^ v;
		v += PAT_K;
	}
	for (i = n * 8; i < len; i++)
		diff |= ((const unsigned char *)p)[i] ^
			(unsigned char)(seed >> (8 * (i & 7)));
	return diff != 0;
}

void bench_fill(void *p, size_t len, uint64_t seed)
{
	fill(p, len, seed);
}

int bench_verify(const void *p, size_t len, uint64_t seed)
{
	return verify(p, len, seed);
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

/* ------------------------------------------------------------ children */

#define FAIL(r, ...) do { \
	(r)->err = errno ? errno : EIO; \
	snprintf((r)->what, sizeof((r)->what), __VA_ARGS__); \
	goto out; \
} while (0)

static int send_one(const struct mech *m, struct ep *e, size_t len,
		    uint64_t seed)
{
	void *p = m->tx_begin(e, len);

	if (!p)
		return -1;
	fill(p, len, seed);
	return m->tx_commit(e, len);
}

static int flush(const struct mech *m, struct ep *e)
{
	return m->tx_flush ? m->tx_flush(e) : 0;
}

static void lat_client(const struct job *j, struct chan *ch,
		       struct child_res *r, int ready, int go)
{
	const struct mech *m = j->m;
	struct ep tx = { 0 }, rx = { 0 };
	uint64_t i, t_begin, t0, t1, stop_at = 0, cap_at, c0 = 0;
	bool measuring = false;
	char b;

	errno = 0;
	if (m->attach(&ch[0], &tx, ROLE_TX) < 0)
		FAIL(r, "attach tx: %s", strerror(errno));
	if (m->attach(&ch[1], &rx, ROLE_RX) < 0)
		FAIL(r, "attach rx: %s", strerror(errno));
	if (write(ready, "r", 1) != 1 || read(go, &b, 1) != 1)
		FAIL(r, "start barrier: %s", strerror(errno));
	t_begin = now_ns();
	cap_at = t_begin + j->warm_cap_ns + j->cap_ns;
	for (i = 0;; i++) {
		const void *q;
		size_t len;

		t0 = now_ns();
		if (send_one(m, &tx, j->size, seed_of(0, i, 0)) < 0 ||
		    flush(m, &tx) < 0)
			FAIL(r, "send: %s", strerror(errno));
		q = m->rx_begin(&rx, &len);
		if (!q)
			FAIL(r, "receive: %s", strerror(errno));
		if (len != j->size) {
			errno = EPROTO;
			FAIL(r, "reply of %zu bytes, expected %zu", len, j->size);
		}
		if (verify(q, len, seed_of(0, i, 1)))
			r->bad++;
		if (m->rx_end(&rx) < 0)
			FAIL(r, "receive end: %s", strerror(errno));
		t1 = now_ns();
		if (measuring) {
			hist_add(&r->h, t1 - t0);
			r->msgs++;
			if ((r->msgs >= j->min_msgs && t1 >= stop_at) ||
			    t1 >= cap_at)
				break;
		} else if ((i + 1 >= j->warm_min && t1 - t_begin >= j->warm_ns) ||
			   t1 - t_begin >= j->warm_cap_ns) {
			measuring = true;
			r->t0 = t1;
			stop_at = t1 + j->run_ns;
			cap_at = t1 + j->cap_ns;
			c0 = cpu_ns();
		}
	}
	r->t1 = now_ns();
	r->total = i + 1;
	r->cpu_ns = cpu_ns() - c0;
	if (send_one(m, &tx, j->poison_len, 0) < 0 || flush(m, &tx) < 0)
		FAIL(r, "send end marker: %s", strerror(errno));
	errno = 0;
out:
	if (tx.st)
		m->detach(&tx);
	if (rx.st)
		m->detach(&rx);
}

static void lat_server(const struct job *j, struct chan *ch,
		       struct child_res *r, int ready, int go)
{
	const struct mech *m = j->m;
	struct ep tx = { 0 }, rx = { 0 };
	uint64_t i, c0;
	char b;

	errno = 0;
	if (m->attach(&ch[0], &rx, ROLE_RX) < 0)
		FAIL(r, "attach rx: %s", strerror(errno));
	if (m->attach(&ch[1], &tx, ROLE_TX) < 0)
		FAIL(r, "attach tx: %s", strerror(errno));
	if (write(ready, "r", 1) != 1 || read(go, &b, 1) != 1)
		FAIL(r, "start barrier: %s", strerror(errno));
	c0 = cpu_ns();
	for (i = 0;; i++) {
		size_t len;
		const void *q = m->rx_begin(&rx, &len);

		if (!q)
			FAIL(r, "receive: %s", strerror(errno));
		if (len == j->poison_len) {
			if (m->rx_end(&rx) < 0)
				FAIL(r, "receive end: %s", strerror(errno));
			break;
		}
		if (len != j->size) {
			errno = EPROTO;
			FAIL(r, "message of %zu bytes, expected %zu", len, j->size);
		}
		if (verify(q, len, seed_of(0, i, 0)))
			r->bad++;
		if (m->rx_end(&rx) < 0)
			FAIL(r, "receive end: %s", strerror(errno));
		if (send_one(m, &tx, j->size, seed_of(0, i, 1)) < 0 ||
		    flush(m, &tx) < 0)
			FAIL(r, "send: %s", strerror(errno));
	}
	r->total = i;
	r->cpu_ns = cpu_ns() - c0;
	errno = 0;
out:
	if (tx.st)
		m->detach(&tx);
	if (rx.st)
		m->detach(&rx);
}

/*
 * Request/reply (call workload).  Like the ping-pong above, but the reply
 * carries the request's correlation id: word 0 of a request is its seed,
 * and the server derives the reply's seed from the word 0 it read (not
 * from its own count), so a reply matched to the wrong request fails the
 * client's check.  An MF_CALL mechanism uses one channel and its call();
 * the others use a request channel and a reply channel.
 */
static uint64_t reply_seed(uint64_t req_id)
{
	return req_id ^ 0xA5A5A5A55A5A5A5AULL;
}

static void call_client(const struct job *j, struct chan *ch,
			struct child_res *r, int ready, int go)
{
	const struct mech *m = j->m;
	bool native = m->flags & MF_CALL;
	struct ep tx = { 0 }, rx = { 0 };
	uint64_t i, t_begin, t0, t1, stop_at = 0, cap_at, c0 = 0;
	bool measuring = false;
	char b;

	errno = 0;
	if (m->attach(&ch[0], &tx, ROLE_TX) < 0)
		FAIL(r, "attach tx: %s", strerror(errno));
	if (!native && m->attach(&ch[1], &rx, ROLE_RX) < 0)
		FAIL(r, "attach rx: %s", strerror(errno));
	if (write(ready, "r", 1) != 1 || read(go, &b, 1) != 1)
		FAIL(r, "start barrier: %s", strerror(errno));
	t_begin = now_ns();
	cap_at = t_begin + j->warm_cap_ns + j->cap_ns;
	for (i = 0;; i++) {
		uint64_t id = seed_of(0, i, 0);
		const void *q;
		void *p;
		size_t len;

		t0 = now_ns();
		p = m->tx_begin(&tx, j->size);
		if (!p)
			FAIL(r, "request buffer: %s", strerror(errno));
		fill(p, j->size, id);
		if (native) {
			q = m->call(&tx, j->size, &len);
			if (!q)
				FAIL(r, "call: %s", strerror(errno));
		} else {
			if (m->tx_commit(&tx, j->size) < 0 || flush(m, &tx) < 0)
				FAIL(r, "send: %s", strerror(errno));
			q = m->rx_begin(&rx, &len);
			if (!q)
				FAIL(r, "receive: %s", strerror(errno));
		}
		if (len != j->size) {
			errno = EPROTO;
			FAIL(r, "reply of %zu bytes, expected %zu", len, j->size);
		}
		if (verify(q, len, reply_seed(id)))
			r->bad++;
		if (!native && m->rx_end(&rx) < 0)
			FAIL(r, "receive end: %s", strerror(errno));
		t1 = now_ns();
		if (measuring) {
			hist_add(&r->h, t1 - t0);
			r->msgs++;
			if ((r->msgs >= j->min_msgs && t1 >= stop_at) ||
			    t1 >= cap_at)
				break;
		} else if ((i + 1 >= j->warm_min && t1 - t_begin >= j->warm_ns) ||
			   t1 - t_begin >= j->warm_cap_ns) {
			measuring = true;
			r->t0 = t1;
			stop_at = t1 + j->run_ns;
			cap_at = t1 + j->cap_ns;
			c0 = cpu_ns();
		}
	}
	r->t1 = now_ns();
	r->total = i + 1;
	r->cpu_ns = cpu_ns() - c0;
	/* end marker: a request of another length (answered, when a call) */
	if (native) {
		size_t len;

		if (!m->tx_begin(&tx, j->poison_len) ||
		    !m->call(&tx, j->poison_len, &len))
			FAIL(r, "end call: %s", strerror(errno));
	} else if (send_one(m, &tx, j->poison_len, 0) < 0 || flush(m, &tx) < 0) {
		FAIL(r, "send end marker: %s", strerror(errno));
	}
	errno = 0;
out:
	if (tx.st)
		m->detach(&tx);
	if (rx.st)
		m->detach(&rx);
}

static void call_server(const struct job *j, struct chan *ch,
			struct child_res *r, int ready, int go)
{
	const struct mech *m = j->m;
	bool native = m->flags & MF_CALL;
	struct ep tx = { 0 }, rx = { 0 };
	struct ep *reply_ep = native ? &rx : &tx;
	uint64_t i, c0;
	char b;

	errno = 0;
	if (m->attach(&ch[0], &rx, ROLE_RX) < 0)
		FAIL(r, "attach rx: %s", strerror(errno));
	if (!native && m->attach(&ch[1], &tx, ROLE_TX) < 0)
		FAIL(r, "attach tx: %s", strerror(errno));
	if (write(ready, "r", 1) != 1 || read(go, &b, 1) != 1)
		FAIL(r, "start barrier: %s", strerror(errno));
	c0 = cpu_ns();
	for (i = 0;; i++) {
		size_t len;
		const void *q = m->rx_begin(&rx, &len);
		uint64_t id;
		void *p;

		if (!q)
			FAIL(r, "receive: %s", strerror(errno));
		if (len == j->poison_len) {
			if (m->rx_end(&rx) < 0)
				FAIL(r, "receive end: %s", strerror(errno));
			if (native && (!m->tx_begin(reply_ep, j->poison_len) ||
				       m->tx_commit(reply_ep, j->poison_len) < 0))
				FAIL(r, "end reply: %s", strerror(errno));
			break;
		}
		if (len != j->size || len < 8) {
			errno = EPROTO;
			FAIL(r, "request of %zu bytes, expected %zu", len, j->size);
		}
		id = *(const word_t *)q;
		if (verify(q, len, id))
			r->bad++;
		if (m->rx_end(&rx) < 0)
			FAIL(r, "receive end: %s", strerror(errno));
		p = m->tx_begin(reply_ep, j->size);
		if (!p)
			FAIL(r, "reply buffer: %s", strerror(errno));
		fill(p, j->size, reply_seed(id));
		if (m->tx_commit(reply_ep, j->size) < 0 || flush(m, reply_ep) < 0)
			FAIL(r, "reply: %s", strerror(errno));
	}
	r->total = i;
	r->cpu_ns = cpu_ns() - c0;
	errno = 0;
out:
	if (tx.st)
		m->detach(&tx);
	if (rx.st)
		m->detach(&rx);
}

static void producer(const struct job *j, struct chan *ch, unsigned int k,
		     struct child_res *r, int ready, int go)
{
	const struct mech *m = j->m;
	struct ep tx = { 0 };
	uint64_t i, t_begin, t, c0, min = j->min_msgs / j->nprod + 2 * j->warm_min;
	uint64_t run = j->warm_ns + j->run_ns, cap = j->warm_cap_ns + j->cap_ns;
	unsigned int every = j->size >= 16 * KiB ? 1 : 16;
	char b;

	errno = 0;
	if (m->attach(ch, &tx, ROLE_TX) < 0)
		FAIL(r, "attach tx: %s", strerror(errno));
	if (write(ready, "r", 1) != 1 || read(go, &b, 1) != 1)
		FAIL(r, "start barrier: %s", strerror(errno));
	c0 = cpu_ns();
	t_begin = now_ns();
	for (i = 0;; i++) {
		if (send_one(m, &tx, j->size, seed_of(k, i, 0)) < 0)
			FAIL(r, "send: %s", strerror(errno));
		if ((i + 1) % every == 0) {
			t = now_ns() - t_begin;
			/* the cap still leaves a few messages to measure */
			if ((i + 1 >= min && t >= run) ||
			    (t >= cap && i + 1 >= 2 * j->warm_min + 4))
				break;
		}
	}
	if (flush(m, &tx) < 0)
		FAIL(r, "send: %s", strerror(errno));
	r->total = i + 1;
	/* the last producer queues the end markers behind all data */
	if (__atomic_add_fetch(&sh->done_prod, 1, __ATOMIC_SEQ_CST) == j->nprod) {
		for (unsigned int c = 0; c < j->ncons; c++)
			if (send_one(m, &tx, j->poison_len, 0) < 0)
				FAIL(r, "send end marker: %s", strerror(errno));
		if (flush(m, &tx) < 0)
			FAIL(r, "send end marker: %s", strerror(errno));
	}
	r->cpu_ns = cpu_ns() - c0;
	errno = 0;
out:
	if (tx.st)
		m->detach(&tx);
}

static void on_cancel(int sig)
{
	(void)sig;
	bench_cancel = 1;
}

static void consumer(const struct job *j, struct chan *ch,
		     struct child_res *r, int ready, int go)
{
	struct sigaction sa = { .sa_handler = on_cancel };
	const struct mech *m = j->m;
	struct ep rx = { 0 };
	bool ordered = j->nprod == 1 && j->ncons == 1, measuring = false;
	uint64_t n = 0, n0 = 0, t_first = 0, c0;
	/* a fast stream must not end inside the warm-up */
	uint64_t warm_max = j->min_msgs / (4 * j->ncons);
	unsigned int every = j->size >= 16 * KiB ? 1 : 16;
	char b;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	errno = 0;
	if (m->attach(ch, &rx, ROLE_RX) < 0)
		FAIL(r, "attach rx: %s", strerror(errno));
	if (write(ready, "r", 1) != 1 || read(go, &b, 1) != 1)
		FAIL(r, "start barrier: %s", strerror(errno));
	c0 = cpu_ns();
	for (;;) {
		size_t len;
		const void *q = m->rx_begin(&rx, &len);
		uint64_t seed;

		if (!q && errno == ECANCELED && bench_cancel)
			break;		/* r->t1 stays 0: see "end of stream" */
		if (!q)
			FAIL(r, "receive: %s", strerror(errno));
		if (len == j->poison_len) {
			unsigned int extra = 0;

			r->t1 = now_ns();
			if (m->rx_end(&rx) < 0)
				FAIL(r, "receive end: %s", strerror(errno));
			/* after the first marker only markers follow */
			while (m->rx_pending && m->rx_pending(&rx)) {
				if (!m->rx_begin(&rx, &len) || m->rx_end(&rx) < 0)
					FAIL(r, "receive: %s", strerror(errno));
				extra += len == j->poison_len;
			}
			if (extra)
				__atomic_add_fetch(&sh->extra_eos, extra, __ATOMIC_SEQ_CST);
			break;
		}
		if (len != j->size) {
			errno = EPROTO;
			FAIL(r, "message of %zu bytes, expected %zu", len, j->size);
		}
		if (ordered || len < 8)
			seed = seed_of(0, n, 0);
		else
			seed = *(const word_t *)q;
		if (verify(q, len, seed) && (ordered || len >= 8))
			r->bad++;
		if (m->rx_end(&rx) < 0)
			FAIL(r, "receive end: %s", strerror(errno));
		n++;
		if (n == 1) {
			t_first = now_ns();
		} else if (!measuring && n % every == 0) {
			uint64_t t = now_ns() - t_first;

			if ((n >= j->warm_min && t >= j->warm_ns) ||
			    t >= j->warm_cap_ns || n >= warm_max) {
				measuring = true;
				r->t0 = t + t_first;
				n0 = n;
			}
		}
	}
	r->total = n;
	r->msgs = measuring ? n - n0 : 0;
	r->cpu_ns = cpu_ns() - c0;
	errno = 0;
out:
	if (rx.st)
		m->detach(&rx);
}

/* -------------------------------------------------------------- parent */

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("kmbox-bench: sched_setaffinity");
		_exit(4);
	}
}

void run_kill_children(void)
{
	for (int i = 0; i < nkids; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
}

static int reap(pid_t pid, int status)
{
	for (int i = 0; i < nkids; i++) {
		if (kids[i] == pid) {
			kids[i] = 0;
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
		}
	}
	return 0;
}

static int live_kids(void)
{
	int n = 0;

	for (int i = 0; i < nkids; i++)
		n += kids[i] > 0;
	return n;
}

static void kill_and_reap(void)
{
	int st;
	pid_t p;

	run_kill_children();
	while (live_kids() && (p = waitpid(-1, &st, 0)) > 0)
		reap(p, st);
}

/* reap whatever has exited; -1 if one of them failed */
static int reap_nohang(void)
{
	int st, ret = 0;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (reap(p, st) < 0)
			ret = -1;
	return ret;
}

static int create_chans(const struct job *j, struct chan *ch, int *nch)
{
	struct chan_cfg cfg = {
		.msg_size = j->size,
		.max_size = j->size > j->poison_len ? j->size : j->poison_len,
		.depth = j->depth,
		.nprod = j->nprod,
		.ncons = j->ncons,
		.latency = j->wl == WL_LAT || j->wl == WL_CALL,
	};

	*nch = (j->wl == WL_LAT || j->wl == WL_CALL) && !(j->m->flags & MF_CALL) ? 2 : 1;
	for (int i = 0; i < *nch; i++) {
		memset(&ch[i], 0, sizeof(ch[i]));
		ch[i].m = j->m;
		ch[i].cfg = cfg;
		ch[i].id = -1;
		for (int f = 0; f < 4; f++)
			ch[i].fd[f] = -1;
		if (i == 1 && (j->m->flags & MF_DUPLEX))
			ch[i].rev_of = &ch[0];
		if (j->m->create(&ch[i]) < 0) {
			int err = errno;

			for (int k = 0; k < i; k++)
				j->m->destroy(&ch[k]);
			errno = err;
			return -1;
		}
	}
	return 0;
}

static void set_status(struct outcome *o, const char *st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_status(struct outcome *o, const char *st, const char *fmt, ...)
{
	va_list ap;

	snprintf(o->status, sizeof(o->status), "%s", st);
	va_start(ap, fmt);
	vsnprintf(o->note, sizeof(o->note), fmt, ap);
	va_end(ap);
}

static bool is_size_errno(int e)
{
	/* EMFILE: POSIX mq over RLIMIT_MSGQUEUE, kmbox over the user quota */
	return e == EMSGSIZE || e == ENOBUFS || e == ENOMEM || e == EINVAL ||
	       e == ENOSPC || e == EMFILE;
}

static void child_main(const struct job *j, struct chan *ch, int idx,
		       int ready, int go)
{
	struct child_res *r = &sh->r[idx];
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	if (j->wl == WL_LAT || j->wl == WL_CALL) {
		pin(idx == 0 ? j->cpu_tx : j->cpu_rx);
		if (idx == 0 && j->wl == WL_CALL)
			call_client(j, ch, r, ready, go);
		else if (idx == 0)
			lat_client(j, ch, r, ready, go);
		else if (j->wl == WL_CALL)
			call_server(j, ch, r, ready, go);
		else
			lat_server(j, ch, r, ready, go);
	} else if ((unsigned int)idx < j->nprod) {
		pin(j->cpu_tx);
		producer(j, ch, (unsigned int)idx, r, ready, go);
	} else {
		pin(j->cpu_rx);
		consumer(j, ch, r, ready, go);
	}
	_exit(r->err ? 1 : 0);
}

int run_job(const struct job *j, struct outcome *o)
{
	struct chan ch[2];
	int nch, rp[2] = { -1, -1 }, gp[2] = { -1, -1 }, failed = 0;
	unsigned int nproc;
	uint64_t t_start = now_ns(), deadline;
	sigset_t chld;
	char gobuf[MAX_PROCS];

	memset(o, 0, sizeof(*o));
	if (!sh) {
		sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (sh == MAP_FAILED) {
			sh = NULL;
			set_status(o, "error", "mmap: %s", strerror(errno));
			return -1;
		}
	}
	memset(sh, 0, sizeof(*sh));
	if (j->wl == WL_DEPTH)
		return run_depth_job(j, o);
	if (j->wl == WL_TAGDEPTH)
		return run_tagdepth_job(j, o);
	nproc = j->wl == WL_LAT || j->wl == WL_CALL ? 2 : j->nprod + j->ncons;
	if (nproc > MAX_PROCS) {
		set_status(o, "error", "too many processes");
		return -1;
	}
	for (unsigned int i = 0; i < nproc; i++)
		hist_init(&sh->r[i].h);

	mech_err[0] = 0;
	if (create_chans(j, ch, &nch) < 0) {
		int e = errno;

		set_status(o, is_size_errno(e) ? "n/a" : "error", "create: %s",
			   mech_err[0] ? mech_err : strerror(e));
		return -1;
	}
	if (pipe2(rp, O_CLOEXEC) < 0 || pipe2(gp, O_CLOEXEC) < 0) {
		set_status(o, "error", "pipe: %s", strerror(errno));
		goto out;
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	fflush(NULL);
	nkids = 0;
	for (unsigned int i = 0; i < nproc; i++) {
		pid_t p = fork();

		if (p < 0) {
			set_status(o, "error", "fork: %s", strerror(errno));
			kill_and_reap();
			goto out;
		}
		if (p == 0)
			child_main(j, ch, (int)i, rp[1], gp[0]);
		kids[nkids++] = p;
	}

	/* start barrier: every child attached (FIFO opens pair up here) */
	deadline = now_ns() + 30ULL * 1000000000ULL;
	for (unsigned int got = 0; got < nproc;) {
		struct pollfd pf = { .fd = rp[0], .events = POLLIN };
		char buf[MAX_PROCS];
		ssize_t r;

		if (reap_nohang() < 0 || now_ns() > deadline) {
			failed = 1;
			break;
		}
		if (poll(&pf, 1, 20) <= 0)
			continue;
		r = read(rp[0], buf, sizeof(buf));
		if (r > 0)
			got += (unsigned int)r;
	}
	if (failed) {
		kill_and_reap();
		goto collect;
	}
	memset(gobuf, 'g', sizeof(gobuf));
	if (write(gp[1], gobuf, nproc) != (ssize_t)nproc) {
		kill_and_reap();
		failed = 1;
		goto collect;
	}

	deadline = now_ns() + j->timeout_ns;
	while (live_kids()) {
		uint64_t now = now_ns(), wait = deadline - now;
		struct timespec ts;

		if (now >= deadline) {
			failed = 2;
			kill_and_reap();
			break;
		}
		if (j->wl != WL_LAT && j->wl != WL_CALL &&
		    __atomic_load_n(&sh->extra_eos, __ATOMIC_SEQ_CST)) {
			bool prod_alive = false;

			for (unsigned int i = 0; i < j->nprod; i++)
				prod_alive |= kids[i] > 0;
			if (!prod_alive) {
				for (unsigned int i = j->nprod; i < nproc; i++)
					if (kids[i] > 0)
						kill(kids[i], SIGUSR1);
				if (wait > 10000000ULL)
					wait = 10000000ULL;
			}
		}
		ts.tv_sec = (time_t)(wait / 1000000000ULL);
		ts.tv_nsec = (long)(wait % 1000000000ULL);
		sigtimedwait(&chld, NULL, &ts);
		if (reap_nohang() < 0) {
			failed = 1;
			kill_and_reap();
			break;
		}
	}

collect:
	o->secs = (double)(now_ns() - t_start) / 1e9;
	for (unsigned int i = 0; i < nproc; i++) {
		struct child_res *r = &sh->r[i];

		if (r->err) {
			if (is_size_errno(r->err))
				set_status(o, "n/a", "%s", r->what);
			else
				set_status(o, "error", "%s", r->what);
			goto out;
		}
	}
	if (failed == 2) {
		set_status(o, "timeout", "no result after %.0f s; processes killed",
			   (double)j->timeout_ns / 1e9);
		goto out;
	}
	if (failed) {
		set_status(o, "error", "a process died without a result");
		goto out;
	}
	for (unsigned int i = 0; i < nproc; i++) {
		if (sh->r[i].bad) {
			set_status(o, "corrupt", "%llu message(s) failed the payload check",
				   (unsigned long long)sh->r[i].bad);
			goto out;
		}
	}
	if (j->wl == WL_LAT || j->wl == WL_CALL) {
		const struct hist *h = &sh->r[0].h;
		uint64_t rts = sh->r[0].total;

		o->n = h->n;
		o->p50 = hist_quantile(h, 0.50) / 1e3;
		o->p90 = hist_quantile(h, 0.90) / 1e3;
		o->p99 = hist_quantile(h, 0.99) / 1e3;
		o->p999 = hist_quantile(h, 0.999) / 1e3;
		o->pmax = h->n ? (double)h->max / 1e3 : 0;
		o->mean = h->n ? (double)h->sum / (double)h->n / 1e3 : 0;
		/* client CPU covers the measured part, server CPU all of it */
		o->cpu_us = o->n ? ((double)sh->r[0].cpu_ns / (double)o->n +
			     (double)sh->r[1].cpu_ns / (double)(rts ? rts : 1)) / 1e3 : 0;
		if (!o->n) {
			set_status(o, "error", "no sample after warm-up");
			goto out;
		}
		o->capped = o->n < j->min_msgs;
	} else {
		uint64_t t0 = UINT64_MAX, t1 = 0, msgs = 0, all = 0, cpu = 0;

		for (unsigned int c = j->nprod; c < j->nprod + j->ncons; c++) {
			const struct child_res *r = &sh->r[c];

			all += r->total;
			if (r->t1 > t1)
				t1 = r->t1;	/* 0 if cancelled */
			if (!r->msgs)
				continue;
			msgs += r->msgs;
			if (r->t0 < t0)
				t0 = r->t0;
		}
		for (unsigned int i = 0; i < nproc; i++)
			cpu += sh->r[i].cpu_ns;
		if (!msgs || t1 <= t0) {
			set_status(o, "error", "too few messages for a measurement");
			goto out;
		}
		o->n = msgs;
		for (unsigned int i = 0; i < j->nprod; i++)
			o->capped |= sh->r[i].total < j->min_msgs / j->nprod + 2 * j->warm_min;
		o->mps = (double)msgs / ((double)(t1 - t0) / 1e9);
		o->mbps = o->mps * (double)j->size / 1e6;
		o->cpu_us = all ? (double)cpu / (double)all / 1e3 : 0;
	}
	/* a mechanism may have had to deviate (e.g. a shallower queue) */
	if (o->capped)
		set_status(o, "ok", "%s%sstopped at the time cap short of %llu %s",
			   mech_err, mech_err[0] ? "; " : "",
			   (unsigned long long)j->min_msgs,
			   j->wl == WL_LAT || j->wl == WL_CALL ? "round trips" : "messages");
	else
		set_status(o, "ok", "%s", mech_err);
out:
	for (int i = 0; i < 2; i++) {
		if (rp[i] >= 0)
			close(rp[i]);
		if (gp[i] >= 0)
			close(gp[i]);
	}
	for (int i = nch - 1; i >= 0; i--)
		j->m->destroy(&ch[i]);
	nkids = 0;
	return strcmp(o->status, "ok") ? -1 : 0;
}
