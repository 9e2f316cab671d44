// SPDX-License-Identifier: GPL-2.0
/*
 * The queue attacked: a tree of priorities with a FIFO ring of messages
 * behind each (module/mbox.c), and losses in band on batch receives
 * (KMBOX_IOC_RECV_BATCHX).
 *
 * The differential test runs seeded random mixes against a reference
 * model written here, with many priorities and many messages per
 * priority, so that every path that takes a message out of a ring, or
 * puts one back, meets the first of a ring, its middle and its tail:
 * receives (plain, by exact tag, by mask, peeks, batches), receives whose
 * copy-out faults (read-only and unmapped buffers, argument pages
 * read-only: the message goes back exactly where it was), drop-oldest,
 * reject, replace-by-tag, expiry (messages that expire queued, purged
 * when met or when a send finds the mailbox full), synchronous senders
 * whose deadline withdraws their message.  Every step wants the same
 * answer, the same losses in band and the same depth from both.
 *
 * Then the deep queue (65 536 queued with random priorities: each comes
 * out once, in priority then arrival order, with faulting batches putting
 * messages back on the way), and threads of two processes sharing one
 * file racing receives of every kind, faulting ones included, with timed
 * synchronous senders withdrawing theirs: each message once, the counts
 * back to zero.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

static int qanon(int oflags, __u32 max_msgs, __u32 msgsize, __u32 policy)
{
	struct kmbox_qos q = { .policy = policy };
	struct kmbox_attr a;

	kt_attr_init(&a, max_msgs, msgsize);
	return kt_anon_qos(oflags, &a, &q);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A page of zeroes, read-only, and an address with nothing mapped. */
static char *ro_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Kept mapped PROT_NONE: an munmap()ed page would be handed out again. */
static char *hole(void)
{
	void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---- the reference model ----------------------------------------------- */

#define MODEL_MAX	512
#define NPRIO		12
#define TAG_EXPIRING	1000	/* expiring messages: unique tags from here */

struct mmsg {
	unsigned int prio;
	uint64_t seq;
	uint64_t tag;
	unsigned int id;
	int dead;	/* expired, still queued until met */
	int taken;	/* by the batch being modelled */
};

struct model {
	unsigned int policy, max;
	unsigned int n;
	struct mmsg q[MODEL_MAX];	/* in receive order */
	uint64_t seq;
	uint64_t dropped, rejected, replaced, expired;
	uint64_t seen_dropped, seen_rejected, seen_replaced, seen_expired;
};

static int before(const struct mmsg *a, const struct mmsg *b)
{
	return a->prio != b->prio ? a->prio > b->prio : a->seq < b->seq;
}

static void m_insert(struct model *m, struct mmsg e)
{
	unsigned int i = m->n;

	while (i > 0 && before(&e, &m->q[i - 1])) {
		m->q[i] = m->q[i - 1];
		i--;
	}
	m->q[i] = e;
	m->n++;
}

static void m_remove(struct model *m, unsigned int i)
{
	memmove(&m->q[i], &m->q[i + 1], (m->n - i - 1) * sizeof(m->q[0]));
	m->n--;
}

static int m_match(const struct mmsg *e, uint64_t tag, uint64_t mask)
{
	return (e->tag & mask) == tag;
}

/*
 * The message a receive or peek with (@tag, @mask) takes, or -1; as the
 * kernel, the expired ones it meets first are purged and counted.
 */
static int m_take_first(struct model *m, uint64_t tag, uint64_t mask)
{
	unsigned int i;

	for (;;) {
		for (i = 0; i < m->n; i++)
			if (!m->q[i].taken && m_match(&m->q[i], tag, mask))
				break;
		if (i == m->n)
			return -1;
		if (!m->q[i].dead)
			return (int)i;
		m_remove(m, i);
		m->expired++;
	}
}

/* A send that finds the mailbox full purges every expired message. */
static void m_purge(struct model *m)
{
	unsigned int i = 0;

	while (i < m->n) {
		if (m->q[i].dead) {
			m_remove(m, i);
			m->expired++;
		} else {
			i++;
		}
	}
}

static int m_find_tag(const struct model *m, uint64_t tag)
{
	unsigned int i;

	for (i = 0; i < m->n; i++)
		if (m->q[i].tag == tag)
			return (int)i;
	return -1;
}

enum { M_QUEUED, M_SELF_DROPPED, M_REJECTED, M_FULL };

/* A send (not expired on arrival): what happened to it. */
static int m_send(struct model *m, unsigned int prio, uint64_t tag, unsigned int id)
{
	struct mmsg e = { .prio = prio, .tag = tag, .id = id };
	int old = -1;

	if (m->policy == KMBOX_POLICY_REPLACE)
		old = m_find_tag(m, tag);
	if (old >= 0) {
		e.seq = m->q[old].seq;
		m_remove(m, (unsigned int)old);
		m->replaced++;
		m_insert(m, e);
		return M_QUEUED;
	}
	if (m->n >= m->max)
		m_purge(m);
	if (m->n >= m->max) {
		switch (m->policy) {
		case KMBOX_POLICY_REJECT:
			m->rejected++;
			return M_REJECTED;
		case KMBOX_POLICY_DROP_OLDEST:
			while (m->n >= m->max) {
				unsigned int low = m->q[m->n - 1].prio, i = m->n - 1;

				while (i > 0 && m->q[i - 1].prio == low)
					i--;
				if (low > prio) {
					m->seq++;
					m->dropped++;
					return M_SELF_DROPPED;
				}
				m_remove(m, i);
				m->dropped++;
			}
			break;
		default:
			return M_FULL;
		}
	}
	e.seq = m->seq++;
	m_insert(m, e);
	return M_QUEUED;
}

static int m_find_id(const struct model *m, unsigned int id)
{
	unsigned int i;

	for (i = 0; i < m->n; i++)
		if (m->q[i].id == id)
			return (int)i;
	return -1;
}

static void m_seen(struct model *m)
{
	m->seen_dropped = m->dropped;
	m->seen_rejected = m->rejected;
	m->seen_replaced = m->replaced;
	m->seen_expired = m->expired;
}

#define ASSERT_LOSSES(m, l, seed, step) do {						\
	ASSERT_EQ((m)->dropped - (m)->seen_dropped, (l).dropped)			\
		TH_LOG("seed %llu step %u: dropped", (unsigned long long)(seed), (step));	\
	ASSERT_EQ((m)->rejected - (m)->seen_rejected, (l).rejected)			\
		TH_LOG("seed %llu step %u: rejected", (unsigned long long)(seed), (step));	\
	ASSERT_EQ((m)->replaced - (m)->seen_replaced, (l).replaced)			\
		TH_LOG("seed %llu step %u: replaced", (unsigned long long)(seed), (step));	\
	ASSERT_EQ((m)->expired - (m)->seen_expired, (l).expired)			\
		TH_LOG("seed %llu step %u: expired", (unsigned long long)(seed), (step));	\
} while (0)

/* The filter of a receive: 0 plain, 1 exact tag, 2 by mask (walks the queue). */
static void pick_filter(uint64_t *x, int kind, uint64_t *tag, uint64_t *mask)
{
	switch (kind) {
	case 0:
		*tag = 0;
		*mask = 0;
		break;
	case 1:
		*tag = rnd(x) % 8;
		*mask = ~0ULL;
		break;
	default:
		*mask = 0x6;
		*tag = rnd(x) & 0x6;
		break;
	}
}

static int do_recvx(int fd, void *buf, __u32 len, __u32 flags, uint64_t tag, uint64_t mask,
		    struct kmbox_recvx *x)
{
	memset(x, 0, sizeof(*x));
	x->r.buf = KT_PTR(buf);
	x->r.len = len;
	x->r.flags = flags | (mask ? KMBOX_F_MATCH : 0);
	x->r.tag = tag;
	x->r.match_mask = mask;
	return ioctl(fd, KMBOX_IOC_RECVX, x) < 0 ? -1 : (int)x->r.len;
}

struct ctx {
	char *ro, *hole, *argpage;
};

static void run_model(struct __test_metadata *_metadata, const struct ctx *c,
		      unsigned int policy, uint64_t seed, unsigned int steps)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 7;
	unsigned int max = 16 + rnd(&x) % 200, step, nextid = 1;
	static struct model m;
	struct kmbox_qos q;
	int fd;

	memset(&m, 0, sizeof(m));
	m.policy = policy;
	m.max = max;
	fd = qanon(O_RDWR | O_NONBLOCK, max, 16, policy);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	for (step = 0; step < steps; step++) {
		unsigned int op = rnd(&x) % 100, prio = rnd(&x) % NPRIO;
		uint64_t tag = rnd(&x) % 8, ftag, fmask;
		struct kmbox_recvx rx;
		char buf[16];
		int got, i;

		/* Fill up more often than drain: deep rings, full mailboxes. */
		if (op < 42) {
			unsigned int id = nextid++;
			struct kmbox_send s;
			int want;

			memset(&s, 0, sizeof(s));
			s.len = sprintf(buf, "%u", id);
			s.buf = KT_PTR(buf);
			s.prio = prio;
			s.flags = KMBOX_F_TAG;
			s.tag = tag;
			want = m_send(&m, prio, tag, id);
			got = ioctl(fd, KMBOX_IOC_SEND, &s) ? errno : 0;
			ASSERT_EQ(want == M_REJECTED || want == M_FULL ? EAGAIN : 0, got)
				TH_LOG("seed %llu step %u: send prio %u tag %llu",
				       (unsigned long long)seed, step, prio,
				       (unsigned long long)tag);
		} else if (op < 45) {
			/*
			 * A synchronous sender whose deadline passes before any
			 * receive: its message leaves the queue, from wherever
			 * it sits in its ring (or it never got in).
			 */
			unsigned int id = nextid++;
			struct kmbox_send s;
			int want, exp;

			memset(&s, 0, sizeof(s));
			s.len = sprintf(buf, "%u", id);
			s.buf = KT_PTR(buf);
			s.prio = prio;
			s.flags = KMBOX_F_TAG | KMBOX_F_SYNC | KMBOX_F_TIMEOUT;
			s.tag = tag;
			s.deadline_ns = kt_now_ns() + 2000000;
			want = m_send(&m, prio, tag, id);
			exp = want == M_SELF_DROPPED ? ENOBUFS :
			      want == M_REJECTED ? EAGAIN : ETIMEDOUT;
			/* Blocking send: a full BLOCK mailbox waits for room, in vain. */
			fcntl(fd, F_SETFL, 0);
			got = ioctl(fd, KMBOX_IOC_SEND, &s) ? errno : 0;
			fcntl(fd, F_SETFL, O_NONBLOCK);
			ASSERT_EQ(exp, got) TH_LOG("seed %llu step %u: sync send prio %u (%d)",
						   (unsigned long long)seed, step, prio, want);
			if (want == M_QUEUED) {
				i = m_find_id(&m, id);
				ASSERT_GE(i, 0);
				m_remove(&m, (unsigned int)i);
			}
		} else if (op < 47) {
			/* 1..4 messages that expire queued, where there is room */
			unsigned int k = 1 + rnd(&x) % 4, j;
			uint64_t dl = kt_now_ns() + 20000000;

			if (m.n + k > m.max)
				continue;
			for (j = 0; j < k; j++) {
				unsigned int id = nextid++;
				struct kmbox_send s;
				struct mmsg e = { .prio = rnd(&x) % NPRIO,
						  .tag = TAG_EXPIRING + id, .id = id, .dead = 1 };

				memset(&s, 0, sizeof(s));
				s.len = sprintf(buf, "%u", id);
				s.buf = KT_PTR(buf);
				s.prio = e.prio;
				s.flags = KMBOX_F_TAG | KMBOX_F_EXPIRE;
				s.tag = e.tag;
				s.expire_ns = dl;
				ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));
				e.seq = m.seq++;
				/* Slow enough to expire on the way in: counted at once. */
				if (kt_cur_msgs(fd) == (long)m.n)
					m.expired++;
				else
					m_insert(&m, e);
			}
			while (kt_now_ns() < dl + 2000000)
				kt_sleep_ms(5);
		} else if (op < 70) {
			/* a receive (or peek), RECV or RECVX, of each filter */
			int kind = rnd(&x) % 3, peek = rnd(&x) % 6 == 0, ext = rnd(&x) % 2;
			__u32 flags = peek ? KMBOX_F_PEEK : 0;

			pick_filter(&x, kind, &ftag, &fmask);
			i = m_take_first(&m, ftag, fmask);
			memset(buf, 0, sizeof(buf));
			if (ext) {
				got = do_recvx(fd, buf, sizeof(buf), flags, ftag, fmask, &rx);
			} else {
				struct kmbox_recv r;

				memset(&r, 0, sizeof(r));
				r.buf = KT_PTR(buf);
				r.len = sizeof(buf);
				r.flags = flags | (fmask ? KMBOX_F_MATCH : 0);
				r.tag = ftag;
				r.match_mask = fmask;
				got = ioctl(fd, KMBOX_IOC_RECV, &r) < 0 ? -1 : (int)r.len;
				rx.r = r;
			}
			if (i < 0) {
				ASSERT_EQ(-1, got)
					TH_LOG("seed %llu step %u: a message where the model has none (kind %d)",
					       (unsigned long long)seed, step, kind);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			ASSERT_GE(got, 1) TH_LOG("seed %llu step %u kind %d: %s",
						 (unsigned long long)seed, step, kind,
						 strerror(errno));
			ASSERT_EQ(m.q[i].id, (unsigned int)strtoul(buf, NULL, 10))
				TH_LOG("seed %llu step %u kind %d peek %d: wrong message",
				       (unsigned long long)seed, step, kind, peek);
			ASSERT_EQ(m.q[i].prio, rx.r.prio);
			ASSERT_EQ(m.q[i].tag, rx.r.tag);
			if (ext && !peek) {
				ASSERT_LOSSES(&m, rx.lost, seed, step);
				m_seen(&m);
			}
			if (!peek)
				m_remove(&m, (unsigned int)i);
		} else if (op < 84) {
			/*
			 * A receive whose copy-out faults (read-only or unmapped
			 * buffer): EFAULT, and the message is back in its place.
			 * The expired ones it met are gone, counted.
			 */
			int kind = rnd(&x) % 3, ext = rnd(&x) % 2;
			char *bad = rnd(&x) % 2 ? c->ro : c->hole;

			pick_filter(&x, kind, &ftag, &fmask);
			i = m_take_first(&m, ftag, fmask);
			if (ext) {
				got = do_recvx(fd, bad, 16, 0, ftag, fmask, &rx);
			} else {
				struct kmbox_recv r;

				memset(&r, 0, sizeof(r));
				r.buf = KT_PTR(bad);
				r.len = 16;
				r.flags = fmask ? KMBOX_F_MATCH : 0;
				r.tag = ftag;
				r.match_mask = fmask;
				got = ioctl(fd, KMBOX_IOC_RECV, &r) < 0 ? -1 : (int)r.len;
			}
			ASSERT_EQ(-1, got) TH_LOG("seed %llu step %u: a faulting receive succeeded",
						  (unsigned long long)seed, step);
			ASSERT_EQ(i < 0 ? EAGAIN : EFAULT, errno)
				TH_LOG("seed %llu step %u kind %d", (unsigned long long)seed, step,
				       kind);
		} else {
			/*
			 * A batch, RECV_BATCH or RECV_BATCHX, of 1..6; one entry's
			 * buffer may fault (the ones before it are delivered, the
			 * rest go back), or the RECV_BATCHX argument itself is in
			 * a page that becomes read-only (nothing delivered, no
			 * loss consumed).
			 */
			unsigned int k = 1 + rnd(&x) % 6, j, take, bad = ~0u, deliver;
			int ext = rnd(&x) % 2, ro_arg = 0, tags = rnd(&x) % 2;
			struct kmbox_mmsg me[6];
			struct kmbox_batchx *bx = (struct kmbox_batchx *)c->argpage;
			__u64 tg[6];
			char bb[6][16];
			int idx[6];

			if (rnd(&x) % 3 == 0)
				bad = rnd(&x) % k;
			else if (ext && rnd(&x) % 4 == 0)
				ro_arg = 1;
			memset(bb, 0, sizeof(bb));
			for (j = 0; j < k; j++) {
				me[j].buf = KT_PTR(j == bad ? c->ro : bb[j]);
				me[j].len = 16;
				me[j].prio = me[j].slot = me[j].flags = 0;
			}
			/* The model takes up to k, each the first live one. */
			for (take = 0; take < k; take++) {
				i = m_take_first(&m, 0, 0);
				if (i < 0)
					break;
				idx[take] = m.q[i].id;
				/* out of the model for now; back below if not delivered */
				m.q[i].taken = 1;
			}
			deliver = bad < take ? bad : take;
			if (ro_arg)
				deliver = 0;
			ASSERT_EQ(0, mprotect(c->argpage, 4096, PROT_READ | PROT_WRITE));
			memset(bx, 0, sizeof(*bx));
			bx->b.msgs = KT_PTR(me);
			bx->b.count = k;
			if (tags) {
				bx->b.flags = KMBOX_F_TAG;
				bx->b.tags = KT_PTR(tg);
			}
			if (ro_arg)
				ASSERT_EQ(0, mprotect(c->argpage, 4096, PROT_READ));
			got = ioctl(fd, ext ? KMBOX_IOC_RECV_BATCHX : KMBOX_IOC_RECV_BATCH,
				    ext ? (void *)bx : (void *)&bx->b);
			ASSERT_EQ(0, mprotect(c->argpage, 4096, PROT_READ | PROT_WRITE));
			if (!take) {
				ASSERT_EQ(-1, got) TH_LOG("seed %llu step %u: a batch where the model has none",
							  (unsigned long long)seed, step);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			if (!deliver) {
				ASSERT_EQ(-1, got) TH_LOG("seed %llu step %u: a faulting batch (entry %u, arg %d) delivered",
							  (unsigned long long)seed, step, bad, ro_arg);
				ASSERT_EQ(EFAULT, errno);
			} else {
				ASSERT_EQ((int)deliver, got)
					TH_LOG("seed %llu step %u: batch of %u, entry %u faulting: %s",
					       (unsigned long long)seed, step, k, bad, strerror(errno));
			}
			for (j = 0; j < take; j++) {
				i = m_find_id(&m, idx[j]);
				ASSERT_GE(i, 0);
				if (j < deliver) {
					ASSERT_EQ(m.q[i].id, (unsigned int)strtoul(bb[j], NULL, 10))
						TH_LOG("seed %llu step %u entry %u",
						       (unsigned long long)seed, step, j);
					ASSERT_EQ(m.q[i].prio, me[j].prio);
					if (tags)
						ASSERT_EQ(m.q[i].tag, tg[j]);
					m_remove(&m, (unsigned int)i);
				} else {
					m.q[i].taken = 0;
				}
			}
			if (ext && deliver) {
				ASSERT_LOSSES(&m, bx->lost, seed, step);
				m_seen(&m);
			}
		}
		ASSERT_EQ((long)m.n, kt_cur_msgs(fd)) TH_LOG("seed %llu step %u: depth",
							      (unsigned long long)seed, step);
	}
	/* Drain: everything left, in order, and the losses that remain. */
	for (;;) {
		int i = m_take_first(&m, 0, 0);
		char buf[16] = "";
		struct kmbox_recvx rx;
		int got = do_recvx(fd, buf, sizeof(buf), 0, 0, 0, &rx);

		if (i < 0) {
			ASSERT_EQ(-1, got);
			ASSERT_EQ(EAGAIN, errno);
			break;
		}
		ASSERT_GE(got, 1) TH_LOG("seed %llu drain: %s", (unsigned long long)seed,
					 strerror(errno));
		ASSERT_EQ(m.q[i].id, (unsigned int)strtoul(buf, NULL, 10))
			TH_LOG("seed %llu drain", (unsigned long long)seed);
		ASSERT_LOSSES(&m, rx.lost, seed, steps);
		m_seen(&m);
		m_remove(&m, (unsigned int)i);
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));
	memset(&q, 0xa5, sizeof(q));
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_QOS, &q));
	ASSERT_EQ(m.dropped, q.lost.dropped);
	ASSERT_EQ(m.rejected, q.lost.rejected);
	ASSERT_EQ(m.replaced, q.lost.replaced);
	ASSERT_EQ(m.expired, q.lost.expired);
	close(fd);
}

FIXTURE(pages) {
	struct ctx c;
};

FIXTURE_SETUP(pages)
{
	self->c.ro = ro_page();
	self->c.hole = hole();
	self->c.argpage = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(NULL, self->c.ro);
	ASSERT_NE(NULL, self->c.hole);
	ASSERT_NE(MAP_FAILED, self->c.argpage);
}

FIXTURE_TEARDOWN(pages)
{
}

static const unsigned int policies[] = {
	KMBOX_POLICY_BLOCK, KMBOX_POLICY_DROP_OLDEST, KMBOX_POLICY_REJECT,
	KMBOX_POLICY_REPLACE,
};

TEST_F_TIMEOUT(pages, differential_deep_rings_with_put_backs_and_withdrawals, 300)
{
	uint64_t seed;
	unsigned int p;

	KT_REQUIRE_MODULE();
	for (p = 0; p < 4; p++)
		for (seed = 1; seed <= 5; seed++) {
			run_model(_metadata, &self->c, policies[p], seed * 31 + p, 700);
			if (!_metadata->passed)
				return;
		}
}

/* ---- the deep queue ------------------------------------------------------ */

struct ref {
	unsigned int prio, id;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;

	if (x->prio != y->prio)
		return x->prio > y->prio ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

#define DEEP	65536

TEST_F_TIMEOUT(pages, a_65536_deep_queue_comes_out_in_order_once_with_put_backs, 300)
{
	static struct ref ref[DEEP];
	static __u32 ids[DEEP];
	struct kmbox_mmsg me[256];
	struct kmbox_batch b;
	uint64_t x = 12345;
	unsigned int i, j, out = 0, round = 0;
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR | O_NONBLOCK, DEEP, 16, KMBOX_POLICY_BLOCK);
	if (fd < 0 && errno == EINVAL)
		SKIP(return, "max_msgs_cap is below %u here", DEEP);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	for (i = 0; i < DEEP; i++) {
		/* a few wide priorities and many narrow ones: deep rings and a deep tree */
		ref[i].prio = rnd(&x) % 4 ? rnd(&x) % 8 : rnd(&x) % KMBOX_PRIO_MAX;
		ref[i].id = i;
		ids[i] = i;
	}
	for (i = 0; i < DEEP; i += 256) {
		for (j = 0; j < 256; j++) {
			me[j].buf = KT_PTR(&ids[i + j]);
			me[j].len = sizeof(ids[0]);
			me[j].prio = ref[i + j].prio;
			me[j].slot = 0;
			me[j].flags = 0;
		}
		memset(&b, 0, sizeof(b));
		b.msgs = KT_PTR(me);
		b.count = 256;
		ASSERT_EQ(256, ioctl(fd, KMBOX_IOC_SEND_BATCH, &b)) TH_LOG("%s", strerror(errno));
	}
	ASSERT_EQ(DEEP, kt_cur_msgs(fd));
	qsort(ref, DEEP, sizeof(ref[0]), ref_cmp);

	while (out < DEEP) {
		static __u32 got[256];
		unsigned int k = 1 + rnd(&x) % 256, bad = ~0u;
		int n;

		/* every third batch: one entry's buffer read-only */
		if (round++ % 3 == 0)
			bad = rnd(&x) % k;
		for (j = 0; j < k; j++) {
			me[j].buf = KT_PTR(j == bad ? (void *)self->c.ro : (void *)&got[j]);
			me[j].len = sizeof(got[0]);
		}
		memset(&b, 0, sizeof(b));
		b.msgs = KT_PTR(me);
		b.count = k;
		n = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
		if (bad == 0) {
			ASSERT_EQ(-1, n);
			ASSERT_EQ(EFAULT, errno);
			continue;
		}
		ASSERT_GE(n, 1) TH_LOG("after %u: %s", out, strerror(errno));
		for (j = 0; j < (unsigned int)n; j++, out++) {
			ASSERT_EQ(ref[out].id, got[j])
				TH_LOG("message %u of the queue: want id %u prio %u, got id %u prio %u",
				       out, ref[out].id, ref[out].prio, got[j], me[j].prio);
			ASSERT_EQ(ref[out].prio, me[j].prio);
		}
		if (out < DEEP && bad != ~0u && bad < k)
			ASSERT_EQ(bad, (unsigned int)n);
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(-1, kt_recv(fd, me, 16, 0, 0, NULL));
	ASSERT_EQ(EAGAIN, errno);
	close(fd);
}

/* ---- threads of two processes sharing one file ------------------------- */

#define RACE_N		6000
#define SYNC_BASE	1000000u

struct race {
	int fd;
	int kind;	/* 0 plain, 1 exact tag, 2 mask, 3 RECV_BATCHX, 4 faulting, 5 sync sender */
	char *ro;
	unsigned int *seen;	/* shared between the processes: per id */
	unsigned int *syncseen;
	unsigned int sync_ok, sync_sent;
	uint64_t seed;
	int *stop;
};

static void note(struct race *r, __u32 id)
{
	if (id >= SYNC_BASE)
		__atomic_fetch_add(&r->syncseen[id - SYNC_BASE], 1, __ATOMIC_RELAXED);
	else if (id < RACE_N)
		__atomic_fetch_add(&r->seen[id], 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&r->seen[RACE_N], 1, __ATOMIC_RELAXED);	/* garbage */
}

static void *race_fn(void *p)
{
	struct race *r = p;
	uint64_t x = r->seed;
	unsigned int idle = 0;

	while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
		struct kmbox_recvx rx;
		__u32 id = ~0u;
		int got;

		switch (r->kind) {
		case 0:
		case 1:
		case 2: {
			uint64_t tag = 0, mask = 0;

			if (r->kind == 1) {
				tag = rnd(&x) % 4;
				mask = ~0ULL;
			} else if (r->kind == 2) {
				mask = 2;
				tag = rnd(&x) & 2;
			}
			got = do_recvx(r->fd, &id, sizeof(id), KMBOX_F_NONBLOCK, tag, mask, &rx);
			if (got == sizeof(id)) {
				note(r, id);
				idle = 0;
			} else {
				idle++;
			}
			break;
		}
		case 3: {
			struct kmbox_mmsg me[8];
			struct kmbox_batchx bx;
			__u32 ids[8];
			int j;

			memset(&bx, 0, sizeof(bx));
			for (j = 0; j < 8; j++)
				kmbox_mmsg_prep(&me[j], &ids[j], sizeof(ids[j]), 0);
			bx.b.msgs = KT_PTR(me);
			bx.b.count = 1 + rnd(&x) % 8;
			bx.b.flags = KMBOX_F_NONBLOCK;
			got = ioctl(r->fd, KMBOX_IOC_RECV_BATCHX, &bx);
			for (j = 0; j < got; j++)
				note(r, ids[j]);
			idle = got > 0 ? 0 : idle + 1;
			break;
		}
		case 4: {
			/* never delivers: puts back, plain, by tag and by mask */
			uint64_t tag = 0, mask = 0;
			int k = rnd(&x) % 3;

			if (k == 1) {
				tag = rnd(&x) % 4;
				mask = ~0ULL;
			} else if (k == 2) {
				mask = 1;
				tag = rnd(&x) & 1;
			}
			got = do_recvx(r->fd, r->ro, 4, KMBOX_F_NONBLOCK, tag, mask, &rx);
			if (got >= 0)
				note(r, RACE_N);	/* must not happen */
			sched_yield();
			break;
		}
		case 5: {
			/* sync sends that time out unless a receiver is quick */
			struct kmbox_send s;
			__u32 sid = SYNC_BASE + r->sync_sent;

			if (r->sync_sent >= 1000)
				break;
			memset(&s, 0, sizeof(s));
			s.buf = KT_PTR(&sid);
			s.len = sizeof(sid);
			s.prio = rnd(&x) % 16;
			s.flags = KMBOX_F_SYNC | KMBOX_F_TIMEOUT | KMBOX_F_TAG;
			s.tag = rnd(&x) % 4;
			s.deadline_ns = kt_now_ns() + 100000 * (rnd(&x) % 20);
			r->sync_sent++;
			if (ioctl(r->fd, KMBOX_IOC_SEND, &s) == 0)
				__atomic_fetch_add(&r->syncseen[1000 + sid - SYNC_BASE], 1,
						   __ATOMIC_RELAXED);
			break;
		}
		}
		(void)idle;
	}
	return NULL;
}

/*
 * syncseen[0..999]: receipts of sync message i; syncseen[1000 + i]: its
 * sender returned 0.  Each sync message is received once if its sender
 * succeeded, never otherwise.
 */
/* The child's threads: by exact tag, by mask, batches, faulting ones. */
static int race_child(int fd, char *ro, unsigned int *seen, unsigned int *syncseen, int *stop)
{
	static const int kinds[] = { 1, 2, 3, 4 };
	struct race r[4];
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++) {
		r[i] = (struct race){ .fd = fd, .kind = kinds[i], .ro = ro, .seen = seen,
				      .syncseen = syncseen, .stop = stop, .seed = 1077 + i };
		if (pthread_create(&t[i], NULL, race_fn, &r[i]))
			return 3;
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return 0;
}

TEST_F_TIMEOUT(pages, threads_of_two_processes_share_a_file_each_message_once, 120)
{
	unsigned int *seen, *syncseen, i;
	int *stop, fd, st;
	uint64_t x = 99;
	pid_t pid;

	KT_REQUIRE_MODULE();
	/* blocking: the synchronous sender waits; the receivers ask not to */
	fd = qanon(O_RDWR, 8192, 16, KMBOX_POLICY_BLOCK);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	seen = mmap(NULL, (RACE_N + 1 + 2000) * sizeof(*seen) + 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, seen);
	syncseen = seen + RACE_N + 1;
	stop = (int *)(syncseen + 2000);
	/* a queue before anyone receives, then more while they do */
	for (i = 0; i < RACE_N / 2; i++) {
		struct kmbox_send s = { .buf = KT_PTR(&i), .len = sizeof(i),
					.prio = rnd(&x) % 16, .flags = KMBOX_F_TAG | KMBOX_F_NONBLOCK,
					.tag = rnd(&x) % 4 };

		ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));
	}
	pid = kt_fork(100);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		_exit(race_child(fd, self->c.ro, seen, syncseen, stop));
	}
	{
		pthread_t t[4];
		struct race r[4];
		static const int kinds[] = { 0, 3, 4, 5 };

		for (i = 0; i < 4; i++) {
			r[i] = (struct race){ .fd = fd, .kind = kinds[i], .ro = self->c.ro,
					      .seen = seen, .syncseen = syncseen, .stop = stop,
					      .seed = 177 + i };
			ASSERT_EQ(0, pthread_create(&t[i], NULL, race_fn, &r[i]));
		}
		for (i = RACE_N / 2; i < RACE_N; i++) {
			struct kmbox_send s = { .buf = KT_PTR(&i), .len = sizeof(i),
						.prio = rnd(&x) % 16,
						.flags = KMBOX_F_TAG | KMBOX_F_NONBLOCK,
						.tag = rnd(&x) % 4 };

			while (ioctl(fd, KMBOX_IOC_SEND, &s))
				ASSERT_EQ(EAGAIN, errno);
		}
		/* until every plain message was received and the sync sender is done */
		for (unsigned int waited = 0;; waited++) {
			unsigned int total = 0;

			if (waited == 3000) {
				__atomic_store_n(stop, 1, __ATOMIC_RELEASE);
				for (i = 0; i < 4; i++)
					pthread_join(t[i], NULL);
				kt_wait(pid);
				for (i = 0; i < RACE_N; i++)
					ASSERT_NE(0, seen[i]) TH_LOG("message %u never received in 60 s",
								     i);
				ASSERT_TRUE(false) TH_LOG("the queue did not drain in 60 s");
			}

			for (i = 0; i < RACE_N; i++)
				total += __atomic_load_n(&seen[i], __ATOMIC_RELAXED) != 0;
			if (total == RACE_N && r[3].sync_sent >= 1000 && kt_cur_msgs(fd) == 0)
				break;
			kt_sleep_ms(20);
		}
		__atomic_store_n(stop, 1, __ATOMIC_RELEASE);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	}
	st = kt_wait(pid);
	ASSERT_EQ(0, st);
	for (i = 0; i < RACE_N; i++)
		ASSERT_EQ(1, seen[i]) TH_LOG("message %u received %u times", i, seen[i]);
	ASSERT_EQ(0, seen[RACE_N]) TH_LOG("faulting receives delivered, or garbage ids");
	for (i = 0; i < 1000; i++)
		ASSERT_EQ(syncseen[1000 + i], syncseen[i])
			TH_LOG("sync message %u: sender returned %s, received %u times", i,
			       syncseen[1000 + i] ? "0" : "an error", syncseen[i]);
	ASSERT_EQ(0, kt_cur_msgs(fd));
	close(fd);
}

/* ---- RECV_BATCHX: bad input, namespaces ----------------------------------- */

/* A mailbox that dropped 2 of 4 and holds 2; a RECVX tells what remains. */
static int dropped_two(void)
{
	int fd = qanon(O_RDWR | O_NONBLOCK, 2, 16, KMBOX_POLICY_DROP_OLDEST);
	unsigned int i;

	if (fd < 0)
		return -1;
	for (i = 0; i < 4; i++)
		if (kt_send(fd, "abcd" + i, 1, 1, 0, 0))
			return -1;
	return fd;
}

TEST_F(pages, batchx_bad_input_changes_nothing)
{
	struct kmbox_mmsg me[2];
	struct kmbox_batchx bx, *rx;
	struct kmbox_recvx x;
	char bb[2][8], buf[8];
	__u64 tg[2];
	int fd, v;

	KT_REQUIRE_MODULE();
	fd = dropped_two();
	ASSERT_GE(fd, 0);
	for (v = 0; v < 9; v++) {
		memset(&bx, 0, sizeof(bx));
		kmbox_mmsg_prep(&me[0], bb[0], 8, 0);
		kmbox_mmsg_prep(&me[1], bb[1], 8, 0);
		bx.b.msgs = KT_PTR(me);
		bx.b.count = 2;
		rx = &bx;
		switch (v) {
		case 0: bx.b.flags = 1u << 20; break;			/* unknown flag */
		case 1: bx.__reserved[0] = 1; break;
		case 2: bx.__reserved[1] = 1ULL << 63; break;
		case 3: bx.b.count = 0; break;
		case 4: bx.b.count = KMBOX_BATCH_MAX + 1; break;
		case 5: bx.b.flags = KMBOX_F_PEEK; break;
		case 6: bx.lost.dropped = 5; bx.b.flags = KMBOX_F_TAG; break; /* no tags array */
		case 7: rx = (struct kmbox_batchx *)self->c.hole; break;
		case 8: bx.b.msgs = KT_PTR(self->c.ro); break;		/* entries read-only */
		}
		errno = 0;
		ASSERT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, rx)) TH_LOG("variant %d", v);
		ASSERT_EQ(v >= 7 ? EFAULT : EINVAL, errno) TH_LOG("variant %d", v);
		ASSERT_EQ(2, kt_cur_msgs(fd)) TH_LOG("variant %d", v);
	}
	/* read-only tags array: EFAULT, nothing taken */
	memset(&bx, 0, sizeof(bx));
	kmbox_mmsg_prep(&me[0], bb[0], 8, 0);
	kmbox_mmsg_prep(&me[1], bb[1], 8, 0);
	bx.b.msgs = KT_PTR(me);
	bx.b.count = 2;
	bx.b.flags = KMBOX_F_TAG;
	bx.b.tags = KT_PTR(self->c.ro);
	ASSERT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &bx));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(2, kt_cur_msgs(fd));
	/* the argument read-only: EFAULT, nothing taken, losses kept */
	rx = (struct kmbox_batchx *)self->c.argpage;
	memset(rx, 0, sizeof(*rx));
	rx->b.msgs = KT_PTR(me);
	rx->b.count = 2;
	ASSERT_EQ(0, mprotect(self->c.argpage, 4096, PROT_READ));
	ASSERT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, rx));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(0, mprotect(self->c.argpage, 4096, PROT_READ | PROT_WRITE));
	ASSERT_EQ(2, kt_cur_msgs(fd));
	tg[0] = tg[1] = 0;
	(void)tg;
	ASSERT_EQ(1, do_recvx(fd, buf, sizeof(buf), 0, 0, 0, &x));
	ASSERT_EQ('c', buf[0]);
	ASSERT_EQ(2, x.lost.dropped);
	close(fd);
}

TEST(batchx_unprivileged_in_fresh_user_and_ipc_namespaces)
{
	pid_t pid;

	KT_REQUIRE_MODULE();
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_mmsg me[4];
		struct kmbox_batchx bx;
		char bb[4][8];
		int fd, j;

		CHILD_ASSERT(kt_become(1000, 1000) == 0);
		if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
			_exit(errno == EPERM || errno == EINVAL ? 4 : 1);
		fd = dropped_two();
		CHILD_ASSERT(fd >= 0);
		CHILD_ASSERT(kt_send(fd, "e", 1, 5, 0, 0) == 0);	/* drops c */
		memset(&bx, 0, sizeof(bx));
		for (j = 0; j < 4; j++)
			kmbox_mmsg_prep(&me[j], bb[j], 8, 0);
		bx.b.msgs = KT_PTR(me);
		bx.b.count = 4;
		CHILD_ASSERT(ioctl(fd, KMBOX_IOC_RECV_BATCHX, &bx) == 2);
		CHILD_ASSERT(bb[0][0] == 'e' && bb[1][0] == 'd');
		CHILD_ASSERT(bx.lost.dropped == 3);
		CHILD_ASSERT(kt_cur_msgs(fd) == 0);
		_exit(0);
	}
	switch (kt_wait(pid)) {
	case 0:
		break;
	case 4:
		SKIP(return, "unprivileged user namespaces are not allowed here");
	default:
		ASSERT_TRUE(false) TH_LOG("the child failed");
	}
}

/* ---- withdrawals from the middle of a ring, and freeing rings ------------ */

/* A child's synchronous send of "s" (prio @prio, tag 9), SIGKILLed later. */
static pid_t sync_child(int fd, unsigned int prio)
{
	pid_t pid = kt_fork(30);

	if (pid == 0) {
		struct kmbox_send s = { .buf = KT_PTR("s"), .len = 1, .prio = prio,
					.flags = KMBOX_F_SYNC | KMBOX_F_TAG, .tag = 9 };

		ioctl(fd, KMBOX_IOC_SEND, &s);
		_exit(1);
	}
	return pid;
}

/*
 * Where the killed sender's message sat: 0 first of its ring (the tree
 * node, with messages behind it), 1 its middle, 2 its tail, 3 alone.
 * Then every receive path must see the ring as if it was never there.
 */
TEST(sigkill_withdraws_a_sync_message_from_any_place_of_its_ring)
{
	const __u32 NB = KMBOX_F_NONBLOCK;	/* the child's file is the same: blocking */
	int where;

	KT_REQUIRE_MODULE();
	for (where = 0; where < 4; where++) {
		int fd = qanon(O_RDWR, 16, 16, KMBOX_POLICY_BLOCK);
		char buf[16], want[8][4];
		unsigned int nw = 0, k;
		struct kmbox_recvx x;
		long depth;
		pid_t pid;

		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, kt_send(fd, "h", 1, 9, 0, 0));	/* a higher priority */
		if (where == 1 || where == 2) {
			ASSERT_EQ(0, kt_send(fd, "a", 1, 5, 0, 0));
			if (where == 1)
				ASSERT_EQ(0, kt_send(fd, "b", 1, 5, 0, 0));
		}
		depth = kt_cur_msgs(fd);
		pid = sync_child(fd, 5);
		ASSERT_GE(pid, 0);
		while (kt_cur_msgs(fd) == depth)
			kt_sleep_ms(2);
		if (where == 0 || where == 1)
			ASSERT_EQ(0, kt_send(fd, "c", 1, 5, 0, 0));
		if (where == 0)
			ASSERT_EQ(0, kt_send(fd, "d", 1, 5, 0, 0));
		ASSERT_EQ(0, kt_send(fd, "l", 1, 1, 0, 0));	/* a lower one */
		/* index the tags while "s" is queued: the index must drop it too */
		ASSERT_EQ(-1, do_recvx(fd, buf, sizeof(buf), NB, 7, ~0ULL, &x));
		ASSERT_EQ(EAGAIN, errno);
		kill(pid, SIGKILL);
		ASSERT_EQ(128 + SIGKILL, kt_wait(pid));
		depth = kt_cur_msgs(fd);
		strcpy(want[nw++], "h");
		if (where == 1 || where == 2)
			strcpy(want[nw++], "a");
		if (where == 1)
			strcpy(want[nw++], "b");
		if (where == 0 || where == 1)
			strcpy(want[nw++], "c");
		if (where == 0)
			strcpy(want[nw++], "d");
		strcpy(want[nw++], "l");
		ASSERT_EQ((long)nw, depth) TH_LOG("where %d", where);
		/* by exact tag (the index), by mask, peek: none finds "s" */
		ASSERT_EQ(-1, do_recvx(fd, buf, sizeof(buf), NB, 9, ~0ULL, &x));
		ASSERT_EQ(EAGAIN, errno);
		ASSERT_EQ(-1, do_recvx(fd, buf, sizeof(buf), NB, 8, 8, &x));
		ASSERT_EQ(EAGAIN, errno);
		/* a faulting receive of each, then the order */
		for (k = 0; k < nw; k++) {
			ASSERT_EQ(-1, do_recvx(fd, hole(), 16, NB, 0, 0, &x));
			ASSERT_EQ(EFAULT, errno);
			memset(buf, 0, sizeof(buf));
			ASSERT_EQ(1, do_recvx(fd, buf, sizeof(buf), KMBOX_F_PEEK | NB, 0, 0, &x));
			ASSERT_STREQ(want[k], buf) TH_LOG("where %d peek %u", where, k);
			memset(buf, 0, sizeof(buf));
			ASSERT_EQ(1, do_recvx(fd, buf, sizeof(buf), NB, 0, 0, &x));
			ASSERT_STREQ(want[k], buf) TH_LOG("where %d message %u", where, k);
		}
		ASSERT_EQ(0, kt_cur_msgs(fd));
		close(fd);
	}
}

/* A mailbox closed with many rings queued frees every message. */
TEST(closing_a_mailbox_with_deep_rings_frees_every_message)
{
	struct kt_stats before, after;
	uint64_t x = 5;
	unsigned int i, r;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&before));
	for (r = 0; r < 4; r++) {
		int fd = qanon(O_RDWR | O_NONBLOCK, 2000, 600, KMBOX_POLICY_DROP_OLDEST);
		char buf[600];

		ASSERT_GE(fd, 0);
		for (i = 0; i < 2500; i++) {
			/* pooled and allocated payloads, some put back on the way */
			__u32 len = 1 + rnd(&x) % 600;

			ASSERT_EQ(0, kt_send(fd, buf, len, rnd(&x) % 7, 0, 0));
			if (i % 50 == 0) {
				struct kmbox_recvx rx;

				ASSERT_EQ(-1, do_recvx(fd, hole(), 600, 0, 0, 0, &rx));
			}
		}
		ASSERT_EQ(2000, kt_cur_msgs(fd));
		close(fd);
	}
	/* a mailbox may be freed after the last close returns: a grace period */
	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, kt_read_stats(&after));
		if (after.messages == before.messages && after.mailboxes == before.mailboxes)
			break;
		kt_sleep_ms(10);
	}
	ASSERT_EQ(before.messages, after.messages);
	ASSERT_EQ(before.bytes, after.bytes);
	ASSERT_EQ(before.mailboxes, after.mailboxes);
}

/*
 * Zero-copy messages in the rings: dropped (drop-oldest, from the tail of
 * the lowest ring or the newcomer itself), expired queued, taken by
 * faulting receives and put back, received copied: every slot comes back
 * free, and sent = received + dropped + expired.
 */
TEST_F(pages, zero_copy_slots_of_ring_messages_come_back)
{
	struct kmbox_qos q = { .policy = KMBOX_POLICY_DROP_OLDEST };
	unsigned long sent = 0, received = 0, i;
	struct kmbox_attr a;
	struct kmbox_open op;
	uint64_t x = 4242;
	int fd;

	KT_REQUIRE_MODULE();
	kt_attr_init(&a, 12, 64);
	a.zc_slots = 32;
	a.zc_slot_size = 64;
	fd = kt_dev(O_RDWR | O_NONBLOCK);
	ASSERT_GE(fd, 0);
	memset(&op, 0, sizeof(op));
	op.attr = KT_PTR(&a);
	op.flags = KMBOX_OPEN_ANON;
	op.qos = KT_PTR(&q);
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_OPEN, &op));
	for (i = 0; i < 3000; i++) {
		unsigned int op_ = rnd(&x) % 10;
		struct kmbox_send s;
		struct kmbox_recvx rx;
		char buf[64];
		__u32 slot;

		memset(&s, 0, sizeof(s));
		s.prio = rnd(&x) % 5;
		s.flags = KMBOX_F_TAG;
		s.tag = rnd(&x) % 4;
		if (rnd(&x) % 4 == 0) {
			s.flags |= KMBOX_F_EXPIRE;
			s.expire_ns = kt_now_ns() + rnd(&x) % 3000000;
		}
		if (op_ < 4) {
			ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot, 1, 0, NULL))
				TH_LOG("step %lu: no free slot: %s", i, strerror(errno));
			s.flags |= KMBOX_F_ZC;
			s.slot = slot;
			s.len = 4;
			ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s)) TH_LOG("step %lu: %s", i,
									    strerror(errno));
			sent++;
		} else if (op_ < 6) {
			s.buf = KT_PTR("abcd");
			s.len = 4;
			ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));
			sent++;
		} else if (op_ < 8) {
			/* faulting, plain or by mask: puts back */
			uint64_t mask = rnd(&x) % 2 ? 1 : 0;

			ASSERT_EQ(-1, do_recvx(fd, rnd(&x) % 2 ? self->c.ro : self->c.hole, 64, 0,
					       mask ? rnd(&x) & 1 : 0, mask, &rx));
			ASSERT_TRUE(errno == EFAULT || errno == EAGAIN) TH_LOG("%s", strerror(errno));
		} else {
			uint64_t mask = rnd(&x) % 2 ? 3 : 0;

			if (do_recvx(fd, buf, sizeof(buf), 0, mask ? rnd(&x) & 3 : 0, mask,
				     &rx) >= 0)
				received++;
			else
				ASSERT_EQ(EAGAIN, errno);
		}
	}
	kt_sleep_ms(5);	/* every deadline passed */
	for (;;) {
		struct kmbox_recvx rx;
		char buf[64];

		if (do_recvx(fd, buf, sizeof(buf), 0, 0, 0, &rx) < 0)
			break;
		received++;
	}
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	ASSERT_EQ(32, a.zc_free);
	memset(&q, 0, sizeof(q));
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_QOS, &q));
	ASSERT_EQ(sent, received + q.lost.dropped + q.lost.expired)
		TH_LOG("sent %lu received %lu dropped %llu expired %llu", sent, received,
		       (unsigned long long)q.lost.dropped, (unsigned long long)q.lost.expired);
	close(fd);
}

struct handoff {
	int fd;
	char *bad;
	int batch, ret, err;
};

static void *handoff_fn(void *p)
{
	struct handoff *h = p;
	struct kmbox_recvx rx;

	if (h->batch) {
		struct kmbox_mmsg me[2];
		struct kmbox_batchx bx;

		memset(&bx, 0, sizeof(bx));
		kmbox_mmsg_prep(&me[0], h->bad, 16, 0);
		kmbox_mmsg_prep(&me[1], h->bad, 16, 0);
		bx.b.msgs = KT_PTR(me);
		bx.b.count = 2;
		h->ret = ioctl(h->fd, KMBOX_IOC_RECV_BATCHX, &bx);
	} else {
		h->ret = do_recvx(h->fd, h->bad, 16, 0, 0, 0, &rx);
	}
	h->err = errno;
	return NULL;
}

/*
 * Rendezvous: a sleeping receiver is handed the message, its copy-out
 * faults, and the message goes back to the queue where its arrival puts
 * it: before the ones of its priority sent after it, which may be queued
 * already, after a higher one, and with the losses given back.
 */
TEST_F(pages, a_handed_over_message_that_faults_goes_back_before_later_ones)
{
	int round;

	KT_REQUIRE_MODULE();
	for (round = 0; round < 40; round++) {
		int fd = qanon(O_RDWR, 4, 16, KMBOX_POLICY_DROP_OLDEST);
		struct handoff h = { .fd = fd, .bad = round % 2 ? self->c.ro : self->c.hole,
				     .batch = round % 4 >= 2 };
		static const char *const want[] = { "h", "x", "y", "z" };
		struct kmbox_recvx rx;
		pthread_t t;
		char buf[16];
		unsigned int k;

		ASSERT_GE(fd, 0);
		/* one loss to report, taken by nobody: the fault gives it back */
		for (k = 0; k < 5; k++)
			ASSERT_EQ(0, kt_send(fd, "d", 1, 0, KMBOX_F_NONBLOCK, 0));
		/* plain receives leave the loss to a loss-reporting one */
		for (k = 0; k < 4; k++)
			ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
		ASSERT_EQ(0, pthread_create(&t, NULL, handoff_fn, &h));
		ASSERT_EQ(0, kt_wait_waiters(fd, 1, 0, 10000));
		ASSERT_EQ(0, kt_send(fd, "x", 1, 3, KMBOX_F_NONBLOCK, 0));
		ASSERT_EQ(0, kt_send(fd, "y", 1, 3, KMBOX_F_NONBLOCK, 0));
		ASSERT_EQ(0, kt_send(fd, "z", 1, 3, KMBOX_F_NONBLOCK, 0));
		ASSERT_EQ(0, kt_send(fd, "h", 1, 4, KMBOX_F_NONBLOCK, 0));
		pthread_join(t, NULL);
		ASSERT_EQ(-1, h.ret) TH_LOG("round %d", round);
		ASSERT_EQ(EFAULT, h.err);
		ASSERT_EQ(4, kt_cur_msgs(fd));
		for (k = 0; k < 4; k++) {
			memset(buf, 0, sizeof(buf));
			ASSERT_EQ(1, do_recvx(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, 0, &rx));
			ASSERT_STREQ(want[k], buf) TH_LOG("round %d message %u", round, k);
			/* the loss the faulting receive took came back, once */
			ASSERT_EQ(k == 0 ? 1 : 0, rx.lost.dropped) TH_LOG("round %d", round);
		}
		close(fd);
	}
}

TEST_HARNESS_MAIN
