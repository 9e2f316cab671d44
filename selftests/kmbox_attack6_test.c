// SPDX-License-Identifier: GPL-2.0
/*
 * The attacker's tests of round six's send and receive fast paths
 * (write() and KMBOX_IOC_SEND without a synchronous waiter, a queue of
 * one emptied without a tree walk, a receive argument worked on in
 * place, wake-ups skipped when nobody was chosen): threads sharing one
 * file send and receive with priorities and tag matches through a small
 * queue, so that senders and receivers both sleep and wake each other
 * all the time.
 *
 * No message may be lost, duplicated or reordered within its sender and
 * priority, and no sleeper may be left asleep while what it waits for is
 * there: a receiver that has waited a long time looks (a non-blocking
 * receive of the same kind) and fails if it finds its message queued.
 *
 * Each test runs as root, as uid 1000, and as uid 1000 in fresh user and
 * IPC namespaces.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox_attack5.h"

FIXTURE(fp6) {
	struct kt_stats before;
};

FIXTURE_VARIANT(fp6) {
	int who;
};

FIXTURE_VARIANT_ADD(fp6, root) { .who = A5_ROOT };
FIXTURE_VARIANT_ADD(fp6, uid1000) { .who = A5_USER };
FIXTURE_VARIANT_ADD(fp6, userns) { .who = A5_USERNS };

FIXTURE_SETUP(fp6)
{
	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&self->before));
	A5_BECOME(variant->who);
}

FIXTURE_TEARDOWN(fp6)
{
}

#define A6_SENDERS	3
#define A6_TAGS		4
#define A6_PRIOS	4
#define A6_EACH		300	/* messages per sender and tag */

struct a6_msg {
	uint32_t sender, tag, prio, seq;
};

struct a6_shared {
	int fd;
	int use_rw;			/* write()/read(), no tags */
	atomic_int failed;
	char why[200];
	pthread_mutex_t why_lock;
	/* per receiver (tag): last seq seen from each sender at each prio */
	int64_t last[A6_TAGS][A6_SENDERS][A6_PRIOS];
	unsigned char seen[A6_SENDERS][A6_TAGS * A6_EACH];
	atomic_long got;
};

#define A6_STOP		0xffffU	/* sender of the message that ends a reader */

static void a6_fail(struct a6_shared *sh, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh->why_lock);
	if (!atomic_load(&sh->failed)) {
		va_start(ap, fmt);
		vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
		va_end(ap);
	}
	atomic_store(&sh->failed, 1);
	pthread_mutex_unlock(&sh->why_lock);
}

struct a6_sender {
	struct a6_shared *sh;
	uint32_t id;
};

/* Each tag A6_EACH times, in a shuffled order, at random priorities. */
static void *a6_send_run(void *arg)
{
	struct a6_sender *s = arg;
	struct a6_shared *sh = s->sh;
	uint32_t seq[A6_TAGS][A6_PRIOS] = { { 0 } };
	int left[A6_TAGS], n = A6_TAGS * A6_EACH, i;
	unsigned int rnd = s->id * 7919 + 1;

	for (i = 0; i < A6_TAGS; i++)
		left[i] = A6_EACH;
	while (n && !atomic_load(&sh->failed)) {
		struct a6_msg m;
		int t = rand_r(&rnd) % A6_TAGS;

		while (!left[t])
			t = (t + 1) % A6_TAGS;
		m.sender = s->id;
		m.tag = t;
		m.prio = sh->use_rw ? 0 : rand_r(&rnd) % A6_PRIOS;
		m.seq = seq[t][m.prio]++;
		if (sh->use_rw) {
			if (write(sh->fd, &m, sizeof(m)) != sizeof(m)) {
				a6_fail(sh, "sender %u: write: %s", s->id, strerror(errno));
				break;
			}
		} else {
			struct kmbox_send sd = {
				.buf = KT_PTR(&m), .len = sizeof(m), .prio = m.prio,
				.flags = KMBOX_F_TAG, .tag = t,
			};

			if (ioctl(sh->fd, KMBOX_IOC_SEND, &sd)) {
				a6_fail(sh, "sender %u: SEND: %s", s->id, strerror(errno));
				break;
			}
		}
		left[t]--;
		n--;
	}
	return NULL;
}

struct a6_receiver {
	struct a6_shared *sh;
	uint32_t tag;
	long want;
};

/* One receive of @r's kind; @nonblock: a look, not a wait. */
static int a6_recv_one(struct a6_receiver *r, struct a6_msg *m, int nonblock, int *err)
{
	struct a6_shared *sh = r->sh;
	struct kmbox_recv rv;
	int ret;

	memset(&rv, 0, sizeof(rv));
	rv.buf = KT_PTR(m);
	rv.len = sizeof(*m);
	if (sh->use_rw) {
		if (nonblock)
			rv.flags = KMBOX_F_NONBLOCK;
		else
			return (ret = read(sh->fd, m, sizeof(*m))) < 0 ? (*err = errno, -1) : ret;
	} else {
		rv.flags = KMBOX_F_MATCH | (nonblock ? KMBOX_F_NONBLOCK : KMBOX_F_TIMEOUT);
		rv.match_mask = ~0ULL;
		rv.tag = r->tag;
		rv.deadline_ns = nonblock ? 0 : kt_deadline_ms(3000);
	}
	ret = ioctl(sh->fd, KMBOX_IOC_RECV, &rv);
	if (ret < 0) {
		*err = errno;
		return -1;
	}
	if (!sh->use_rw && rv.tag != r->tag)
		return *err = EPROTO, -1;
	return rv.len;
}

static int a6_check(struct a6_receiver *r, const struct a6_msg *m, int len)
{
	struct a6_shared *sh = r->sh;
	int64_t *last;

	if (len != sizeof(*m) || m->sender >= A6_SENDERS || m->tag >= A6_TAGS ||
	    m->prio >= A6_PRIOS || (!sh->use_rw && m->tag != r->tag)) {
		a6_fail(sh, "receiver %u: a bad message (len %d, sender %u, tag %u, prio %u)",
			r->tag, len, m->sender, m->tag, m->prio);
		return -1;
	}
	/* With read(), receivers share the per-tag records: guard them. */
	pthread_mutex_lock(&sh->why_lock);
	last = &sh->last[m->tag][m->sender][m->prio];
	if ((int64_t)m->seq <= *last && sh->use_rw == 0) {
		pthread_mutex_unlock(&sh->why_lock);
		a6_fail(sh, "receiver %u: sender %u prio %u: seq %u after %lld (lost order or "
			"a duplicate)", r->tag, m->sender, m->prio, m->seq, (long long)*last);
		return -1;
	}
	if (sh->use_rw) {
		unsigned char *seen = &sh->seen[m->sender][m->tag * A6_EACH + m->seq];

		if (m->seq >= A6_EACH || *seen) {
			pthread_mutex_unlock(&sh->why_lock);
			a6_fail(sh, "sender %u tag %u seq %u read twice", m->sender, m->tag,
				m->seq);
			return -1;
		}
		*seen = 1;
	}
	if ((int64_t)m->seq > *last)
		*last = m->seq;
	pthread_mutex_unlock(&sh->why_lock);
	atomic_fetch_add(&sh->got, 1);
	return 0;
}

static void *a6_recv_run(void *arg)
{
	struct a6_receiver *r = arg;
	struct a6_shared *sh = r->sh;
	long got = 0;

	while (got < r->want && !atomic_load(&sh->failed)) {
		struct a6_msg m;
		int err = 0, len;

		len = a6_recv_one(r, &m, 0, &err);
		if (len < 0 && err == ETIMEDOUT) {
			/* Long asleep: is our message there meanwhile? */
			len = a6_recv_one(r, &m, 1, &err);
			if (len < 0 && err == EAGAIN)
				continue;
			if (len >= 0) {
				a6_fail(sh, "receiver %u slept %d ms with a matching message "
					"queued (sender %u, prio %u, seq %u): a lost wake-up",
					r->tag, 3000, m.sender, m.prio, m.seq);
				break;
			}
		}
		if (len < 0) {
			a6_fail(sh, "receiver %u: %s", r->tag, strerror(err));
			break;
		}
		if (len == sizeof(m) && m.sender == A6_STOP)
			break;
		if (a6_check(r, &m, len))
			break;
		got++;
	}
	return NULL;
}

static void a6_run(struct __test_metadata *_metadata, int fd, int use_rw, int receivers)
{
	struct a6_shared *sh = calloc(1, sizeof(*sh));
	struct a6_sender s[A6_SENDERS];
	struct a6_receiver r[8];
	pthread_t st[A6_SENDERS], rt[8];
	long total = (long)A6_SENDERS * A6_TAGS * A6_EACH;
	int i, j, k;

	ASSERT_NE(NULL, sh);
	sh->fd = fd;
	sh->use_rw = use_rw;
	pthread_mutex_init(&sh->why_lock, NULL);
	for (i = 0; i < A6_TAGS; i++)
		for (j = 0; j < A6_SENDERS; j++)
			for (k = 0; k < A6_PRIOS; k++)
				sh->last[i][j][k] = -1;
	for (i = 0; i < receivers; i++) {
		r[i].sh = sh;
		r[i].tag = i;
		r[i].want = use_rw ? total + 1 : (long)A6_SENDERS * A6_EACH;
		ASSERT_EQ(0, pthread_create(&rt[i], NULL, a6_recv_run, &r[i]));
	}
	for (i = 0; i < A6_SENDERS; i++) {
		s[i].sh = sh;
		s[i].id = i;
		ASSERT_EQ(0, pthread_create(&st[i], NULL, a6_send_run, &s[i]));
	}
	for (i = 0; i < A6_SENDERS; i++)
		pthread_join(st[i], NULL);
	/*
	 * Until everything is received: no progress for 5 s with messages
	 * queued is a receiver left asleep (read() has no deadline to look).
	 */
	for (j = 0, k = -1; atomic_load(&sh->got) < total && !atomic_load(&sh->failed); ) {
		long got = atomic_load(&sh->got);

		kt_sleep_ms(100);
		if (atomic_load(&sh->got) != got || kt_cur_msgs(fd) <= 0) {
			j = 0;
			continue;
		}
		if (++j == 50)
			a6_fail(sh, "%ld messages queued for 5 s, %ld of %ld received: "
				"receivers left asleep", kt_cur_msgs(fd), got, total);
	}
	/* Each receiver still running ends at a stop message of its kind. */
	for (i = 0; i < receivers; i++) {
		struct a6_msg m = { .sender = A6_STOP };
		struct kmbox_send sd = {
			.buf = KT_PTR(&m), .len = sizeof(m), .flags = KMBOX_F_TAG,
			.tag = use_rw ? 0 : (uint64_t)i,
		};

		/* After a failure the queue may be full for good: do not wait. */
		if (atomic_load(&sh->failed))
			sd.flags |= KMBOX_F_NONBLOCK;

		if (use_rw || atomic_load(&sh->failed))
			ioctl(fd, KMBOX_IOC_SEND, &sd);
	}
	for (i = 0; i < receivers; i++)
		pthread_join(rt[i], NULL);
	EXPECT_EQ(0, atomic_load(&sh->failed)) TH_LOG("%s", sh->why);
	EXPECT_EQ(total, atomic_load(&sh->got));
	if (!atomic_load(&sh->failed))
		EXPECT_EQ(0, kt_cur_msgs(fd));
	pthread_mutex_destroy(&sh->why_lock);
	free(sh);
}

/*
 * Three senders and one receiver per tag, all threads of one process on
 * one file, through a queue of four: each receiver takes only its tag
 * (KMBOX_F_MATCH), at four priorities.  Each gets every message of its
 * tag, each sender's in order within a priority, and is never asleep
 * while one of its tag is queued.
 */
TEST_F_TIMEOUT(fp6, shared_file_matchers_lose_nothing, 120)
{
	int fd = kt_anon(O_RDWR, 4, 64);

	ASSERT_LE(0, fd);
	a6_run(_metadata, fd, 0, A6_TAGS);
	close(fd);
	A5_STATS_BACK();
}

/*
 * The same with write() and read() (the path that skips the synchronous
 * waiter), three senders and four readers on one file, a queue of two:
 * every message read exactly once.
 */
TEST_F_TIMEOUT(fp6, shared_file_write_read_lose_nothing, 120)
{
	int fd = kt_anon(O_RDWR, 2, 64);

	ASSERT_LE(0, fd);
	a6_run(_metadata, fd, 1, 4);
	close(fd);
	A5_STATS_BACK();
}

/* ---- payloads of every buffer size, from threads sharing a file ----------- */

#define A6M_SENDERS	3
#define A6M_RECEIVERS	3
#define A6M_EACH	300
#define A6M_BUF		8192

/* Around the stack bounce, both pool buffer sizes, inline and paged. */
static const uint32_t a6m_sizes[] = {
	0, 1, 12, 64, 103, 104, 105, 127, 128, 129, 871, 872, 873, 1024, 4000, 4097, 8192,
};

struct a6m_shared {
	int fd;
	atomic_int failed, stop, drops;
	int each;		/* messages per sender */
	atomic_long got;
	char why[200];
	pthread_mutex_t lock;
};

static void a6m_fail(struct a6m_shared *sh, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh->lock);
	if (!atomic_load(&sh->failed)) {
		va_start(ap, fmt);
		vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
		va_end(ap);
	}
	atomic_store(&sh->failed, 1);
	pthread_mutex_unlock(&sh->lock);
}

/* Fill @len bytes for (@sender, @seq): a header if it fits, then a pattern. */
static void a6m_fill(unsigned char *p, uint32_t len, uint32_t sender, uint32_t seq)
{
	uint32_t i, h[3] = { sender, seq, len };

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(len * 7 + i * 13 + (len >= 12 ? sender * 31 + seq : 0));
	if (len >= 12)
		memcpy(p, h, 12);
}

static const char *a6m_check(const unsigned char *p, uint32_t len)
{
	uint32_t h[3] = { 0, 0, 0 }, i;

	if (len >= 12) {
		memcpy(h, p, 12);
		if (h[2] != len || h[0] >= A6M_SENDERS)
			return "a header that is not this message's";
	}
	for (i = len >= 12 ? 12 : 0; i < len; i++)
		if (p[i] != (unsigned char)(len * 7 + i * 13 + (len >= 12 ? h[0] * 31 + h[1] : 0)))
			return "a payload byte that was not sent";
	for (i = len; i < A6M_BUF; i++)
		if (p[i] != 0xa5)
			return "a byte past the message's length written";
	return NULL;
}

struct a6m_sender {
	struct a6m_shared *sh;
	uint32_t id;
};

/* Single sends, write()s and batches of up to 6, of sizes at random. */
static void *a6m_send_run(void *arg)
{
	struct a6m_sender *s = arg;
	struct a6m_shared *sh = s->sh;
	static const int nsizes = sizeof(a6m_sizes) / sizeof(a6m_sizes[0]);
	unsigned char (*bufs)[A6M_BUF] = malloc(6 * A6M_BUF);
	unsigned int rnd = s->id * 104729 + 3;
	uint32_t seq = 0;

	if (!bufs) {
		a6m_fail(sh, "malloc");
		return NULL;
	}
	while (seq < (uint32_t)sh->each && !atomic_load(&sh->failed)) {
		struct kmbox_mmsg e[6];
		int n = 1 + rand_r(&rnd) % 6, how = rand_r(&rnd) % 3, i, done = 0;

		if (how != 2)
			n = 1;
		if (n > sh->each - (int)seq)
			n = sh->each - seq;
		for (i = 0; i < n; i++) {
			uint32_t len = a6m_sizes[rand_r(&rnd) % nsizes];

			a6m_fill(bufs[i], len, s->id, seq + i);
			e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(bufs[i]), .len = len,
						    .prio = rand_r(&rnd) % 3 };
		}
		while (done < n) {
			long ret;

			if (how == 0) {
				ret = kt_send(sh->fd, bufs[0], e[0].len, e[0].prio, 0, 0) ? -1 : 1;
			} else if (how == 1) {
				ret = write(sh->fd, bufs[0], e[0].len);
				ret = ret == (long)e[0].len ? 1 : -1;
			} else {
				struct kmbox_batch b = { .msgs = KT_PTR(&e[done]), .count = n - done };

				ret = ioctl(sh->fd, KMBOX_IOC_SEND_BATCH, &b);
			}
			if (ret <= 0) {
				a6m_fail(sh, "sender %u: %s: %s", s->id,
					 how == 0 ? "SEND" : how == 1 ? "write" : "SEND_BATCH",
					 strerror(errno));
				break;
			}
			done += ret;
		}
		seq += n;
	}
	free(bufs);
	return NULL;
}

/* Receives (single, or batches of 4) until a stop message. */
static void *a6m_recv_run(void *arg)
{
	struct a6m_shared *sh = arg;
	unsigned char (*bufs)[A6M_BUF] = malloc(4 * A6M_BUF);
	unsigned int k = 0;

	if (!bufs) {
		a6m_fail(sh, "malloc");
		return NULL;
	}
	while (!atomic_load(&sh->failed)) {
		struct kmbox_mmsg e[4];
		int n, i;

		for (i = 0; i < 4; i++) {
			memset(bufs[i], 0xa5, A6M_BUF);
			e[i] = (struct kmbox_mmsg){ .buf = KT_PTR(bufs[i]), .len = A6M_BUF };
		}
		if (k++ & 1) {
			struct kmbox_batch b = { .msgs = KT_PTR(e), .count = 4 };

			n = ioctl(sh->fd, KMBOX_IOC_RECV_BATCH, &b);
		} else {
			n = kt_recv(sh->fd, bufs[0], A6M_BUF, 0, 0, NULL);
			e[0].len = n;
			n = n < 0 ? -1 : 1;
		}
		if (n <= 0) {
			a6m_fail(sh, "receive: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			const char *why;

			if (e[i].len == 2 && bufs[i][0] == 0xde && bufs[i][1] == 0xad) {
				/* A stop: the rest of the batch is somebody else's. */
				int j;

				for (j = i + 1; j < n; j++) {
					if (e[j].len == 2 && bufs[j][0] == 0xde) {
						/* Another receiver's stop: pass it on. */
						kt_send(sh->fd, bufs[j], 2, 0, 0, 0);
						continue;
					}
					why = a6m_check(bufs[j], e[j].len);
					if (why)
						a6m_fail(sh, "%u bytes: %s", e[j].len, why);
					else
						atomic_fetch_add(&sh->got, 1);
				}
				free(bufs);
				return NULL;
			}
			why = a6m_check(bufs[i], e[i].len);
			if (why) {
				a6m_fail(sh, "%u bytes: %s", e[i].len, why);
				break;
			}
			atomic_fetch_add(&sh->got, 1);
		}
	}
	free(bufs);
	return NULL;
}

/* Memory pressure on the pools: the shrinker, as often as it will run. */
static void *a6m_drop_run(void *arg)
{
	struct a6m_shared *sh = arg;

	while (!atomic_load(&sh->stop)) {
		if (a5_write("/proc/sys/vm/drop_caches", "2"))
			break;
		atomic_fetch_add(&sh->drops, 1);
		kt_sleep_ms(2);
	}
	return NULL;
}

static void a6m_run(struct __test_metadata *_metadata, uint32_t max_msgs, int each, int drop)
{
	struct a6m_shared *sh = calloc(1, sizeof(*sh));
	struct a6m_sender s[A6M_SENDERS];
	pthread_t st[A6M_SENDERS], rt[A6M_RECEIVERS], dt;
	long total = (long)A6M_SENDERS * each, pool_before, peak = 0;
	int i, idle = 0;

	ASSERT_NE(NULL, sh);
	sh->each = each;
	pool_before = kt_stat_long("pool_buffers");
	pthread_mutex_init(&sh->lock, NULL);
	sh->fd = kt_anon(O_RDWR, max_msgs, A6M_BUF);
	ASSERT_LE(0, sh->fd);
	if (drop)
		ASSERT_EQ(0, pthread_create(&dt, NULL, a6m_drop_run, sh));
	for (i = 0; i < A6M_RECEIVERS; i++)
		ASSERT_EQ(0, pthread_create(&rt[i], NULL, a6m_recv_run, sh));
	for (i = 0; i < A6M_SENDERS; i++) {
		s[i] = (struct a6m_sender){ sh, i };
		ASSERT_EQ(0, pthread_create(&st[i], NULL, a6m_send_run, &s[i]));
	}
	for (i = 0; i < A6M_SENDERS; i++)
		pthread_join(st[i], NULL);
	while (atomic_load(&sh->got) < total && !atomic_load(&sh->failed)) {
		long got = atomic_load(&sh->got), pb;

		kt_sleep_ms(100);
		pb = kt_fdinfo_long(sh->fd, "kmbox-pool-buffers");
		peak = pb > peak ? pb : peak;
		if (atomic_load(&sh->got) != got || kt_cur_msgs(sh->fd) <= 0) {
			idle = 0;
			continue;
		}
		if (++idle == 50)
			a6m_fail(sh, "%ld messages queued for 5 s, %ld of %ld received: "
				 "receivers left asleep", kt_cur_msgs(sh->fd), got, total);
	}
	for (i = 0; i < A6M_RECEIVERS; i++) {
		static const unsigned char stop[2] = { 0xde, 0xad };

		kt_send(sh->fd, stop, 2, 0, atomic_load(&sh->failed) ? KMBOX_F_NONBLOCK : 0, 0);
	}
	for (i = 0; i < A6M_RECEIVERS; i++)
		pthread_join(rt[i], NULL);
	atomic_store(&sh->stop, 1);
	if (drop)
		pthread_join(dt, NULL);
	EXPECT_EQ(0, atomic_load(&sh->failed)) TH_LOG("%s", sh->why);
	EXPECT_EQ(total, atomic_load(&sh->got));
	TH_LOG("%ld messages, pools at %ld buffers at most, %d shrinker runs", total, peak,
	       atomic_load(&sh->drops));
	close(sh->fd);
	/* The pools go with the mailbox (the count may lag its last close). */
	for (i = 0; i < 100 && kt_stat_long("pool_buffers") != pool_before; i++)
		kt_sleep_ms(10);
	EXPECT_EQ(pool_before, kt_stat_long("pool_buffers"));
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/*
 * Three senders (single sends, write()s, batches) and three receivers
 * (single and batch receives), all threads on one file, through a queue
 * of eight, with payloads around the stack bounce, both pool buffer sizes
 * and paged messages, mixed within batches: every message comes out
 * exactly as sent, no byte past its length is written, every one
 * arrives, and when the mailbox is gone the module's message, byte and
 * pool-buffer counts are back where they were.
 */
TEST_F_TIMEOUT(fp6, shared_file_mixed_sizes_come_out_as_sent, 120)
{
	a6m_run(_metadata, 8, A6M_EACH, 0);
	A5_STATS_BACK();
}

/*
 * The same through a queue of 1024, so that both pools grow past the 256
 * buffers they keep and give their surplus back while the queue fills
 * and drains; as root, another thread runs the shrinker all along
 * (drop_caches).  Nothing is lost or changed, and the counts go back.
 */
TEST_F_TIMEOUT(fp6, pools_shrunk_while_they_fill_and_drain, 150)
{
	a6m_run(_metadata, 1024, 600, variant->who == A5_ROOT);
	A5_STATS_BACK();
}

TEST_HARNESS_MAIN
