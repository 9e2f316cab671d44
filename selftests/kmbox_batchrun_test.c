// SPDX-License-Identifier: GPL-2.0
/*
 * Batches linked and taken as runs (mbox.c, kmbox_link_run_locked() and
 * kmbox_take_run_locked()): whatever mix of batch and single sends and
 * receives, messages come out by priority, then arrival; a fault in a
 * batch receive puts every undelivered message back in its exact place;
 * the room is respected to the message; and no wake-up is lost: a
 * receiver asleep (alone, or a batch receiver and a single receiver on
 * one file), an epoll watcher (edge-triggered) and a blocked sender all
 * see a batch as soon as it is linked or taken.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

/* The payload of every message here: who it is. */
struct bp {
	__u32 id;
	__u32 prio;
};

/* Send @n messages of ids @id.. with priorities @prio[] in one batch. */
static int bsend(int fd, __u32 id, const __u32 *prio, unsigned int n, __u32 flags)
{
	struct kmbox_mmsg m[KMBOX_BATCH_MAX];
	struct bp p[KMBOX_BATCH_MAX];
	struct kmbox_batch b = { .msgs = KT_PTR(m), .count = n, .flags = flags };
	unsigned int i;

	for (i = 0; i < n; i++) {
		p[i] = (struct bp){ .id = id + i, .prio = prio[i] };
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&p[i]), .len = sizeof(p[i]),
					    .prio = prio[i] };
	}
	return ioctl(fd, KMBOX_IOC_SEND_BATCH, &b);
}

/* Receive up to @n in one batch into @out; the count or -1. */
static int brecv(int fd, struct bp *out, unsigned int n, __u32 flags)
{
	struct kmbox_mmsg m[KMBOX_BATCH_MAX];
	struct kmbox_batch b = { .msgs = KT_PTR(m), .count = n, .flags = flags };
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++)
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&out[i]), .len = sizeof(out[i]) };
	ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
	for (i = 0; ret > 0 && i < (unsigned int)ret; i++)
		if (m[i].len != sizeof(out[i]) || m[i].prio != out[i].prio)
			return -2;
	return ret;
}

/* The queue as the test knows it: ids by priority, oldest first. */
#define MODEL_MAX	4096
#define MODEL_PRIOS	4

struct model {
	__u32 id[MODEL_PRIOS][MODEL_MAX];
	unsigned int head[MODEL_PRIOS], tail[MODEL_PRIOS];
	unsigned int n;
};

static void model_add(struct model *q, __u32 id, __u32 prio)
{
	q->id[prio][q->tail[prio]++ % MODEL_MAX] = id;
	q->n++;
}

/* The next message to come out: 0 if it is @got, else -1. */
static int model_take(struct model *q, const struct bp *got)
{
	int p;

	for (p = MODEL_PRIOS - 1; p >= 0; p--) {
		if (q->head[p] == q->tail[p])
			continue;
		if (got->prio != (__u32)p || got->id != q->id[p][q->head[p] % MODEL_MAX])
			return -1;
		q->head[p]++;
		q->n--;
		return 0;
	}
	return -1;
}

/*
 * Random batch sends (runs of one priority, and mixed) and random batch
 * and single receives, checked message by message against the model.
 */
TEST(order_against_model)
{
	static struct model q;
	struct bp out[64];
	unsigned int seed = 1, step;
	__u32 id = 0;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 256, 64);
	ASSERT_GE(fd, 0);
	for (step = 0; step < 3000; step++) {
		unsigned int i, n = 1 + rand_r(&seed) % 40;
		int ret;

		if (rand_r(&seed) % 2) {
			__u32 prio[40], run = rand_r(&seed) % MODEL_PRIOS;

			for (i = 0; i < n; i++) {
				/* Mostly runs of one priority, now and then another. */
				if (rand_r(&seed) % 6 == 0)
					run = rand_r(&seed) % MODEL_PRIOS;
				prio[i] = run;
			}
			ret = bsend(fd, id, prio, n, 0);
			if (q.n + n <= 256) {
				ASSERT_EQ((int)n, ret);
			} else if (q.n == 256) {
				ASSERT_EQ(-1, ret);
				ASSERT_EQ(EAGAIN, errno);
			} else {
				/* Exactly what fits, from the first. */
				ASSERT_EQ((int)(256 - q.n), ret);
			}
			for (i = 0; ret > 0 && i < (unsigned int)ret; i++)
				model_add(&q, id + i, prio[i]);
			id += n;
		} else if (rand_r(&seed) % 3) {
			ret = brecv(fd, out, n, 0);
			if (!q.n) {
				ASSERT_EQ(-1, ret);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			ASSERT_EQ((int)(n < q.n ? n : q.n), ret);
			for (i = 0; i < (unsigned int)ret; i++)
				ASSERT_EQ(0, model_take(&q, &out[i])) {
					TH_LOG("step %u entry %u: id %u prio %u", step, i,
					       out[i].id, out[i].prio);
				}
		} else {
			ret = kt_recv(fd, out, sizeof(out[0]), 0, 0, NULL);
			if (!q.n) {
				ASSERT_EQ(-1, ret);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			ASSERT_EQ((int)sizeof(out[0]), ret);
			ASSERT_EQ(0, model_take(&q, &out[0]));
		}
		ASSERT_EQ((long)q.n, kt_cur_msgs(fd));
	}
	close(fd);
}

/*
 * A batch receive whose k-th buffer faults delivers the first k and puts
 * the rest back where they were; one whose entries cannot be written back
 * delivers nothing and changes nothing.
 */
TEST(fault_puts_back_in_place)
{
	static struct model q;
	const long pg = sysconf(_SC_PAGESIZE);
	struct kmbox_mmsg m[16];
	struct kmbox_batch b = { .msgs = KT_PTR(m), .count = 16 };
	__u32 prio[24];
	struct bp out[24];
	char *ro;
	unsigned int i;
	int fd, ret;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 64, 64);
	ASSERT_GE(fd, 0);
	ro = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	/* A run of 12 at priority 2, then 6 at 1, then 6 more at 2. */
	for (i = 0; i < 24; i++)
		prio[i] = i < 12 || i >= 18 ? 2 : 1;
	ASSERT_EQ(24, bsend(fd, 0, prio, 24, 0));
	for (i = 0; i < 24; i++)
		model_add(&q, i, prio[i]);

	/* Entry 5's buffer is read-only: 5 delivered, the rest back. */
	for (i = 0; i < 16; i++)
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(i == 5 ? (void *)ro : &out[i]),
					    .len = sizeof(out[i]) };
	ASSERT_EQ(5, ioctl(fd, KMBOX_IOC_RECV_BATCH, &b));
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, model_take(&q, &out[i]));
	ASSERT_EQ(19, kt_cur_msgs(fd));

	/* The first buffer faults: EFAULT, nothing taken. */
	m[0].buf = KT_PTR(ro);
	for (i = 1; i < 16; i++)
		m[i].buf = KT_PTR(&out[i]);
	ASSERT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCH, &b));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(19, kt_cur_msgs(fd));

	/* The entries themselves read-only: copied out, then all put back. */
	b.msgs = KT_PTR(ro);
	ASSERT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCH, &b));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(19, kt_cur_msgs(fd));

	/* What is left comes out in the exact order, in batches and singly. */
	ret = brecv(fd, out, 7, 0);
	ASSERT_EQ(7, ret);
	for (i = 0; i < 7; i++)
		ASSERT_EQ(0, model_take(&q, &out[i]));
	ASSERT_EQ((int)sizeof(out[0]), kt_recv(fd, out, sizeof(out[0]), 0, 0, NULL));
	ASSERT_EQ(0, model_take(&q, &out[0]));
	ret = brecv(fd, out, 24, 0);
	ASSERT_EQ(11, ret);
	for (i = 0; i < 11; i++)
		ASSERT_EQ(0, model_take(&q, &out[i]));
	ASSERT_EQ(0, q.n);
	munmap(ro, pg);
	close(fd);
}

/* A message too large for its entry ends the run there. */
TEST(too_large_ends_run)
{
	struct kmbox_mmsg m[8], sm[8];
	struct kmbox_batch b = { .msgs = KT_PTR(m), .count = 8 };
	struct kmbox_batch sb = { .msgs = KT_PTR(sm), .count = 8 };
	char big[8][32], out[8][32];
	unsigned int i;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 16, 64);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 8; i++) {
		memset(big[i], 'a' + i, sizeof(big[i]));
		sm[i] = (struct kmbox_mmsg){ .buf = KT_PTR(big[i]), .len = i == 3 ? 32 : 8 };
	}
	ASSERT_EQ(8, ioctl(fd, KMBOX_IOC_SEND_BATCH, &sb));
	for (i = 0; i < 8; i++)
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(out[i]), .len = 8 };
	/* Three fit; the fourth (32 B) stays queued, first now. */
	ASSERT_EQ(3, ioctl(fd, KMBOX_IOC_RECV_BATCH, &b));
	for (i = 0; i < 3; i++)
		ASSERT_EQ('a' + (int)i, out[i][0]);
	ASSERT_EQ(5, kt_cur_msgs(fd));
	m[0].len = 32;
	ASSERT_EQ(5, ioctl(fd, KMBOX_IOC_RECV_BATCH, &b));
	ASSERT_EQ(32, m[0].len);
	for (i = 0; i < 5; i++)
		ASSERT_EQ('d' + (int)i, out[i][0]);
	close(fd);
}

/* Two receivers on one file, one by batches and one singly. */
#define RACE_N		20000
#define RACE_BATCH	16

struct race {
	int fd;
	atomic_uint got;
	atomic_uint stops;
	atomic_int bad;
	unsigned char seen[RACE_N];
};

static void race_take(struct race *r, const struct bp *p, __u32 *last)
{
	if (p->id == RACE_N) {
		atomic_fetch_add(&r->stops, 1);
		return;
	}
	/* Each receiver sees the ids it takes in increasing order. */
	if (p->id >= RACE_N || (*last != ~0U && p->id <= *last) || r->seen[p->id]++)
		atomic_store(&r->bad, 1);
	*last = p->id;
	atomic_fetch_add(&r->got, 1);
}

static void *race_batch(void *arg)
{
	struct race *r = arg;
	struct bp out[RACE_BATCH];
	__u32 last = ~0U;

	for (;;) {
		int i, ret = brecv(r->fd, out, RACE_BATCH, 0);

		if (ret < 0) {
			atomic_store(&r->bad, 1);
			return NULL;
		}
		for (i = 0; i < ret; i++)
			race_take(r, &out[i], &last);
		for (i = 0; i < ret; i++)
			if (out[i].id == RACE_N)
				return NULL;
	}
}

static void *race_single(void *arg)
{
	struct race *r = arg;
	struct bp out;
	__u32 last = ~0U;

	for (;;) {
		if (kt_recv(r->fd, &out, sizeof(out), 0, 0, NULL) != sizeof(out)) {
			atomic_store(&r->bad, 1);
			return NULL;
		}
		race_take(r, &out, &last);
		if (out.id == RACE_N)
			return NULL;
	}
}

/* Wait up to @ms for *@v to reach @want. */
static bool wait_for(atomic_uint *v, unsigned int want, unsigned int ms)
{
	while (atomic_load(v) < want && ms--)
		kt_sleep_ms(1);
	return atomic_load(v) >= want;
}

TEST(batch_and_single_receivers_share_a_file)
{
	static struct race r;
	pthread_t tb, ts;
	__u32 prio[RACE_BATCH] = { 0 };
	unsigned int id, stops;

	KT_REQUIRE_MODULE();
	r.fd = kt_anon(O_RDWR, 32, 64);
	ASSERT_GE(r.fd, 0);
	ASSERT_EQ(0, pthread_create(&tb, NULL, race_batch, &r));
	ASSERT_EQ(0, pthread_create(&ts, NULL, race_single, &r));
	/* Blocking batch sends into a small mailbox: both sides sleep often. */
	for (id = 0; id < RACE_N;) {
		unsigned int n = RACE_N - id < RACE_BATCH ? RACE_N - id : RACE_BATCH;
		int ret = bsend(r.fd, id, prio, n, 0);

		ASSERT_GT(ret, 0);
		id += ret;
	}
	/* Every message is taken: no receiver sleeps with messages queued. */
	ASSERT_TRUE(wait_for(&r.got, RACE_N, 20000)) {
		TH_LOG("%u of %u taken, %ld queued", atomic_load(&r.got), RACE_N,
		       kt_cur_msgs(r.fd));
	}
	ASSERT_EQ(0, atomic_load(&r.bad));
	/* One stop at a time, each to whichever receiver is left. */
	for (stops = 1; stops <= 2; stops++) {
		struct bp p = { .id = RACE_N };

		ASSERT_EQ(0, kt_send(r.fd, &p, sizeof(p), 0, 0, 0));
		ASSERT_TRUE(wait_for(&r.stops, stops, 10000));
	}
	pthread_join(tb, NULL);
	pthread_join(ts, NULL);
	ASSERT_EQ(0, atomic_load(&r.bad));
	ASSERT_EQ(0, kt_cur_msgs(r.fd));
	close(r.fd);
}

/* A receiver asleep in a batch receive is woken by a batch linked at once. */
struct sleeper {
	int fd;
	int ret;
	struct bp out[8];
};

static void *sleep_batch(void *arg)
{
	struct sleeper *s = arg;

	s->ret = brecv(s->fd, s->out, 8, 0);
	return NULL;
}

TEST(sleeping_batch_receiver_woken)
{
	struct sleeper s = { .ret = -3 };
	__u32 prio[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	pthread_t t;
	int i;

	KT_REQUIRE_MODULE();
	s.fd = kt_anon(O_RDWR, 16, 64);
	ASSERT_GE(s.fd, 0);
	ASSERT_EQ(0, pthread_create(&t, NULL, sleep_batch, &s));
	ASSERT_EQ(0, kt_wait_waiters(s.fd, 1, 0, 5000));
	ASSERT_EQ(8, bsend(s.fd, 100, prio, 8, 0));
	for (i = 0; i < 5000 && s.ret == -3; i++)
		kt_sleep_ms(1);
	ASSERT_GT(s.ret, 0) {
		TH_LOG("receiver still asleep with %ld queued", kt_cur_msgs(s.fd));
	}
	pthread_join(t, NULL);
	for (i = 0; i < s.ret; i++)
		ASSERT_EQ(100 + (__u32)i, s.out[i].id);
	close(s.fd);
}

/* Edge-triggered EPOLLIN: one edge per batch linked, none without. */
TEST(epoll_edge_per_batch)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, got;
	__u32 prio[8] = { 2, 2, 2, 2, 2, 2, 2, 2 };
	struct bp out[8];
	int fd, ep;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 64, 64);
	ASSERT_GE(fd, 0);
	ep = epoll_create1(0);
	ASSERT_GE(ep, 0);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	ASSERT_EQ(0, epoll_wait(ep, &got, 1, 0));
	ASSERT_EQ(8, bsend(fd, 0, prio, 8, 0));
	ASSERT_EQ(1, epoll_wait(ep, &got, 1, 0));
	ASSERT_TRUE(got.events & EPOLLIN);
	/* Edge-triggered: no new edge until something new arrives. */
	ASSERT_EQ(0, epoll_wait(ep, &got, 1, 0));
	ASSERT_EQ(3, brecv(fd, out, 3, 0));
	ASSERT_EQ(0, epoll_wait(ep, &got, 1, 0));
	ASSERT_EQ(8, bsend(fd, 8, prio, 8, 0));
	ASSERT_EQ(1, epoll_wait(ep, &got, 1, 0));
	ASSERT_EQ(8, brecv(fd, out, 8, 0));
	ASSERT_EQ(5, brecv(fd, out, 8, 0));
	ASSERT_EQ(15, out[4].id);
	close(ep);
	close(fd);
}

/* A sender blocked on a full mailbox is woken when a batch is taken. */
struct bsender {
	int fd;
	int ret;
};

static void *send_blocked(void *arg)
{
	struct bsender *s = arg;
	__u32 prio[8] = { 0 };

	s->ret = bsend(s->fd, 16, prio, 8, 0);
	return NULL;
}

TEST(blocked_sender_woken_by_batch_receive)
{
	struct bsender s = { .ret = -3 };
	__u32 prio[16] = { 0 };
	struct bp out[16];
	pthread_t t;
	int i;

	KT_REQUIRE_MODULE();
	s.fd = kt_anon(O_RDWR, 16, 64);
	ASSERT_GE(s.fd, 0);
	ASSERT_EQ(16, bsend(s.fd, 0, prio, 16, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, send_blocked, &s));
	ASSERT_EQ(0, kt_wait_waiters(s.fd, 0, 1, 5000));
	ASSERT_EQ(16, brecv(s.fd, out, 16, 0));
	for (i = 0; i < 5000 && s.ret == -3; i++)
		kt_sleep_ms(1);
	ASSERT_EQ(8, s.ret);
	pthread_join(t, NULL);
	ASSERT_EQ(8, brecv(s.fd, out, 16, KMBOX_F_NONBLOCK));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(16 + (__u32)i, out[i].id);
	close(s.fd);
}

/*
 * A file keeps the work arrays of its last batch call for its next one
 * (ioctl.c, struct kmbox_batch_mem).  Whatever an earlier call left in
 * them, a receive returns only what it took: the entries and tags past
 * its count are the caller's, untouched, and each call's own are exact,
 * through growing and shrinking batches, with tags and without.
 */
#define KEPT_PAT32	0x5a5a5a5aU
#define KEPT_PAT64	0x5a5a5a5a5a5a5a5aULL

/* @n receive entries into @out, their other fields and @tags a pattern. */
static void kept_fill(struct kmbox_mmsg *m, __u64 *tags, struct bp *out, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&out[i]), .len = sizeof(out[i]),
					    .prio = KEPT_PAT32, .slot = KEPT_PAT32 };
		tags[i] = KEPT_PAT64;
	}
}

/*
 * Send @n messages in one batch, tag id ^ 0xfeedfacecafe0000 each, then
 * receive them in one batch of @want entries with tags, and check every
 * entry; drain what is left.  0, or -1 with a log line.
 */
static int kept_round(struct __test_metadata *_metadata, int fd, __u32 id, unsigned int n,
		      unsigned int want)
{
	static struct kmbox_mmsg m[KMBOX_BATCH_MAX];
	static __u64 tags[KMBOX_BATCH_MAX];
	static struct bp out[KMBOX_BATCH_MAX];
	struct bp p[KMBOX_BATCH_MAX];
	struct kmbox_batch b = { .msgs = KT_PTR(m), .count = n, .flags = KMBOX_F_TAG,
				 .tags = KT_PTR(tags) };
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		p[i] = (struct bp){ .id = id + i };
		m[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&p[i]), .len = sizeof(p[i]) };
		tags[i] = (id + i) ^ 0xfeedfacecafe0000ULL;
	}
	ret = ioctl(fd, KMBOX_IOC_SEND_BATCH, &b);
	if (ret != (int)n) {
		TH_LOG("send of %u: %d (%s)", n, ret, strerror(errno));
		return -1;
	}
	kept_fill(m, tags, out, want);
	b.count = want;
	ret = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
	if (ret != (int)(n < want ? n : want)) {
		TH_LOG("receive of %u with %u queued: %d (%s)", want, n, ret, strerror(errno));
		return -1;
	}
	for (i = 0; i < want; i++) {
		if (i < (unsigned int)ret) {
			if (out[i].id != id + i || m[i].len != sizeof(out[i]) || m[i].prio ||
			    m[i].slot != KMBOX_NO_SLOT || m[i].flags ||
			    tags[i] != ((id + i) ^ 0xfeedfacecafe0000ULL)) {
				TH_LOG("entry %u of %d: id %u len %u prio %u slot %u tag %llx",
				       i, ret, out[i].id, m[i].len, m[i].prio, m[i].slot,
				       (unsigned long long)tags[i]);
				return -1;
			}
			continue;
		}
		if (m[i].buf != KT_PTR(&out[i]) || m[i].len != sizeof(out[i]) ||
		    m[i].prio != KEPT_PAT32 || m[i].slot != KEPT_PAT32 || m[i].flags ||
		    tags[i] != KEPT_PAT64) {
			TH_LOG("entry %u past the %d received was written: len %u prio %x slot %x tag %llx",
			       i, ret, m[i].len, m[i].prio, m[i].slot, (unsigned long long)tags[i]);
			return -1;
		}
	}
	/* The rest of what was sent, if the receive took less. */
	while (n > want) {
		unsigned int k = n - want < KMBOX_BATCH_MAX ? n - want : KMBOX_BATCH_MAX;

		ret = brecv(fd, out, k, KMBOX_F_NONBLOCK);
		if (ret <= 0)
			return -1;
		n -= ret;
	}
	return kt_cur_msgs(fd) == 0 ? 0 : -1;
}

TEST(kept_work_arrays_return_nothing_stale)
{
	/* sizes that grow past what a file keeps, shrink, and grow again */
	static const unsigned int sz[][2] = {
		{ 256, 256 }, { 3, 8 }, { 1, 256 }, { 200, 200 }, { 8, 3 }, { 128, 128 },
		{ 2, 64 }, { 256, 16 }, { 64, 65 }, { 1, 1 },
	};
	struct kt_stats before, after;
	unsigned int i;
	__u32 id = 1;
	int fd;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&before));
	fd = kt_anon(O_RDWR, 256, 64);
	ASSERT_GE(fd, 0);
	for (i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		ASSERT_EQ(0, kept_round(_metadata, fd, id, sz[i][0], sz[i][1]))
			TH_LOG("round %u: %u sent, %u asked for", i, sz[i][0], sz[i][1]);
		id += sz[i][0];
	}
	close(fd);
	ASSERT_EQ(0, kt_read_stats(&after));
	ASSERT_EQ(before.messages, after.messages);
	ASSERT_EQ(before.bytes, after.bytes);
}

TEST_HARNESS_MAIN
