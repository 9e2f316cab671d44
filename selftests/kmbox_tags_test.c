// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox message tags: tagged sends, selective receive (KMBOX_F_MATCH),
 * peek (KMBOX_F_PEEK), the file's standing filter (KMBOX_IOC_FILTER) and
 * its poll, on the copy, batch, zero-copy, synchronous and call paths.
 *
 * The differential test runs seeded random mixes of sends, receives,
 * receives by tag and by mask, peeks, reads through a standing filter
 * and batches against a reference model written here, and wants the same
 * answer from both every time.  The exactly-once test runs 4 producers
 * and 4 filtered consumers over 10 000 messages.  The rest are the edges:
 * blocking, deadlines, signals, SIGKILL, filters changed under a sleeper,
 * argument pages that fault, an unprivileged caller.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define ALL	(~0ULL)

static int tsend(int fd, const void *buf, __u32 len, __u32 prio, __u64 tag, __u32 flags)
{
	struct kmbox_send s;

	memset(&s, 0, sizeof(s));
	s.buf = KT_PTR(buf);
	s.len = len;
	s.prio = prio;
	s.flags = flags | KMBOX_F_TAG;
	s.tag = tag;
	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

/* A receive: KMBOX_F_MATCH in @flags makes @tag/@mask the filter. */
static int trecv(int fd, void *buf, __u32 len, __u32 flags, __u64 tag, __u64 mask,
		 __u64 deadline_ns, struct kmbox_recv *r)
{
	struct kmbox_recv tmp, *p = r ? r : &tmp;

	memset(p, 0, sizeof(*p));
	p->buf = KT_PTR(buf);
	p->len = len;
	p->flags = flags | (deadline_ns ? KMBOX_F_TIMEOUT : 0);
	p->deadline_ns = deadline_ns;
	if (flags & KMBOX_F_MATCH) {
		p->tag = tag;
		p->match_mask = mask;
	}
	return ioctl(fd, KMBOX_IOC_RECV, p) < 0 ? -1 : (int)p->len;
}

static int tfilter(int fd, __u64 tag, __u64 mask, struct kmbox_filter *old)
{
	struct kmbox_filter f = { .tag = tag, .mask = mask, .flags = KMBOX_FILTER_SET };
	int ret = ioctl(fd, KMBOX_IOC_FILTER, &f);

	if (!ret && old)
		*old = f;
	return ret;
}

static int treopen(int fd, int flags)
{
	struct kmbox_reopen ro = { .flags = (__u32)flags };

	return ioctl(fd, KMBOX_IOC_REOPEN, &ro);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* ---- the basics --------------------------------------------------------- */

FIXTURE(mb) {
	int fd;		/* anonymous, O_RDWR | O_NONBLOCK, 64 x 256 bytes */
};

FIXTURE_SETUP(mb)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR | O_NONBLOCK, 64, 256);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	alarm(60);
}

FIXTURE_TEARDOWN(mb)
{
	alarm(0);
	close(self->fd);
}

TEST_F(mb, info_reports_the_feature)
{
	struct kmbox_info info;

	ASSERT_EQ(0, kt_info(self->fd, &info));
	EXPECT_TRUE(info.features & KMBOX_FEAT_TAGS);
}

TEST_F(mb, tag_travels_and_defaults_to_zero)
{
	struct kmbox_recv r;
	char buf[16];

	ASSERT_EQ(0, tsend(self->fd, "a", 1, 0, 0xfeedface12345678ULL, 0));
	ASSERT_EQ(0, kt_send(self->fd, "b", 1, 0, 0, 0));
	ASSERT_EQ(1, write(self->fd, "c", 1));
	ASSERT_EQ(1, trecv(self->fd, buf, sizeof(buf), 0, 0, 0, 0, &r));
	EXPECT_EQ(0xfeedface12345678ULL, r.tag);
	EXPECT_EQ('a', buf[0]);
	ASSERT_EQ(1, trecv(self->fd, buf, sizeof(buf), 0, 0, 0, 0, &r));
	EXPECT_EQ(0, r.tag);
	ASSERT_EQ(1, trecv(self->fd, buf, sizeof(buf), 0, 0, 0, 0, &r));
	EXPECT_EQ(0, r.tag);
	EXPECT_EQ(0, r.reply_token);
}

TEST_F(mb, bad_arguments_change_nothing)
{
	struct kmbox_send s = { .buf = KT_PTR("x"), .len = 1 };
	struct kmbox_recv r;
	struct kmbox_filter f;
	char buf[8];

	/* A tag without KMBOX_F_TAG, the second reserved word. */
	s.tag = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND, &s));
	EXPECT_EQ(EINVAL, errno);
	s.tag = 0;
	s.__reserved[1] = 1;
	s.flags = KMBOX_F_TAG;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));

	ASSERT_EQ(0, tsend(self->fd, "x", 1, 0, 5, 0));
	/* A tag or mask without KMBOX_F_MATCH; a tag the mask cannot see. */
	memset(&r, 0, sizeof(r));
	r.buf = KT_PTR(buf);
	r.len = sizeof(buf);
	r.tag = 5;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, &r));
	EXPECT_EQ(EINVAL, errno);
	r.tag = 0;
	r.match_mask = ALL;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, &r));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 0x10, 0x0f, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* Peek does not mix with zero-copy or calls. */
	EXPECT_EQ(-1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_PEEK | KMBOX_F_ZC, 0, 0, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_PEEK | KMBOX_F_CALLS, 0, 0, 0,
			    NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));

	/* The filter: unknown flag, reserved word, a filter never matching. */
	memset(&f, 0, sizeof(f));
	f.flags = 2;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_FILTER, &f));
	EXPECT_EQ(EINVAL, errno);
	f.flags = KMBOX_FILTER_SET;
	f.__reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_FILTER, &f));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, tfilter(self->fd, 3, 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	memset(&f, 0, sizeof(f));
	f.tag = 1;	/* a read (no SET) with input */
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_FILTER, &f));
	EXPECT_EQ(EINVAL, errno);
	/* None of it set a filter. */
	memset(&f, 0, sizeof(f));
	ASSERT_EQ(0, ioctl(self->fd, KMBOX_IOC_FILTER, &f));
	EXPECT_EQ(0, f.tag);
	EXPECT_EQ(0, f.mask);
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
}

TEST_F(mb, filter_needs_read_access_and_is_per_file)
{
	struct kmbox_filter f;
	int wo, ro2;

	wo = treopen(self->fd, O_WRONLY);
	ASSERT_GE(wo, 0);
	EXPECT_EQ(-1, tfilter(wo, 1, ALL, NULL));
	EXPECT_EQ(EBADF, errno);
	close(wo);

	ASSERT_EQ(0, tfilter(self->fd, 7, ALL, &f));
	EXPECT_EQ(0, f.mask);
	ASSERT_EQ(0, tfilter(self->fd, 8, 0xff, &f));
	EXPECT_EQ(7, f.tag);
	EXPECT_EQ(ALL, f.mask);
	/* A reopened file starts with none. */
	ro2 = treopen(self->fd, O_RDONLY);
	ASSERT_GE(ro2, 0);
	memset(&f, 0, sizeof(f));
	ASSERT_EQ(0, ioctl(ro2, KMBOX_IOC_FILTER, &f));
	EXPECT_EQ(0, f.mask);
	close(ro2);
	/* The unbound device refuses it. */
	ro2 = kt_dev(O_RDWR);
	ASSERT_GE(ro2, 0);
	EXPECT_EQ(-1, tfilter(ro2, 1, ALL, NULL));
	EXPECT_EQ(EBADFD, errno);
	close(ro2);
}

TEST_F(mb, match_keeps_priority_then_fifo_among_matches)
{
	/* (prio, tag), in sending order; each payload is its index. */
	static const struct { __u32 prio; __u64 tag; } m[] = {
		{ 0, 1 }, { 0, 2 }, { 3, 2 }, { 0, 1 }, { 3, 1 }, { 1, 2 }, { 3, 1 }, { 0, 2 },
	};
	static const int want1[] = { 4, 6, 0, 3 }, want2[] = { 2, 5, 1, 7 };
	struct kmbox_recv r;
	unsigned char i, buf[4];

	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, tsend(self->fd, &i, 1, m[i].prio, m[i].tag, 0));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 2, ALL, 0, &r));
		EXPECT_EQ(want2[i], buf[0]);
		EXPECT_EQ(2, r.tag);
		EXPECT_EQ(m[want2[i]].prio, r.prio);
	}
	EXPECT_EQ(-1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 2, ALL, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 1, 1, 0, &r));
		EXPECT_EQ(want1[i], buf[0]);
	}
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mb, emsgsize_on_the_match_leaves_it_and_reports_its_length)
{
	struct kmbox_recv r;
	char big[100] = "big", buf[100];

	ASSERT_EQ(0, tsend(self->fd, "small", 5, 0, 1, 0));
	ASSERT_EQ(0, tsend(self->fd, big, sizeof(big), 0, 2, 0));
	EXPECT_EQ(-1, trecv(self->fd, buf, 10, KMBOX_F_MATCH, 2, ALL, 0, &r));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(100, r.len);
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
	EXPECT_EQ(100, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 2, ALL, 0, &r));
	EXPECT_EQ(5, trecv(self->fd, buf, sizeof(buf), 0, 0, 0, 0, &r));
}

TEST_F(mb, peek_leaves_the_message_and_cuts_to_the_buffer)
{
	struct kmbox_recv r;
	char buf[32];

	EXPECT_EQ(-1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_PEEK, 0, 0, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, tsend(self->fd, "low-prio", 8, 0, 4, 0));
	ASSERT_EQ(0, tsend(self->fd, "high-prio-message", 17, 9, 3, 0));

	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(17, trecv(self->fd, buf, 4, KMBOX_F_PEEK, 0, 0, 0, &r));
	EXPECT_EQ(17, r.len);
	EXPECT_EQ(9, r.prio);
	EXPECT_EQ(3, r.tag);
	EXPECT_EQ(getpid(), r.pid);
	EXPECT_EQ(KMBOX_NO_SLOT, r.slot);
	EXPECT_TRUE(r.msg_flags & KMBOX_MSG_TRUNC);
	EXPECT_EQ(0, memcmp(buf, "high", 4));
	EXPECT_EQ(0, buf[4]);	/* nothing past the buffer */
	/* Zero bytes: the length alone. */
	EXPECT_EQ(17, trecv(self->fd, NULL, 0, KMBOX_F_PEEK, 0, 0, 0, &r));
	/* The next matching one. */
	EXPECT_EQ(8, trecv(self->fd, buf, sizeof(buf), KMBOX_F_PEEK | KMBOX_F_MATCH, 4, ALL, 0,
			   &r));
	EXPECT_EQ(0, r.msg_flags);
	EXPECT_EQ(0, memcmp(buf, "low-prio", 8));
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
	/* read() still takes, in order. */
	EXPECT_EQ(17, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(8, read(self->fd, buf, sizeof(buf)));
}

TEST_F(mb, standing_filter_steers_read_recv_batch_and_peek)
{
	struct kmbox_mmsg e[4];
	__u64 tags[4];
	struct kmbox_batch b;
	struct kmbox_recv r;
	char buf[4][8];
	int i;

	for (i = 0; i < 6; i++) {
		char c = (char)('0' + i);

		ASSERT_EQ(0, tsend(self->fd, &c, 1, 0, i % 2 ? 0x1100 + i : 0x2200 + i, 0));
	}
	ASSERT_EQ(0, tfilter(self->fd, 0x1100, 0xff00, NULL));	/* odd ones */
	ASSERT_EQ(1, read(self->fd, buf[0], 8));
	EXPECT_EQ('1', buf[0][0]);
	ASSERT_EQ(1, trecv(self->fd, buf[0], 8, KMBOX_F_PEEK, 0, 0, 0, &r));
	EXPECT_EQ('3', buf[0][0]);
	EXPECT_EQ(0x1103, r.tag);
	ASSERT_EQ(1, trecv(self->fd, buf[0], 8, 0, 0, 0, 0, &r));
	EXPECT_EQ('3', buf[0][0]);
	/* KMBOX_F_MATCH overrides it: mask 0 is everything. */
	ASSERT_EQ(1, trecv(self->fd, buf[0], 8, KMBOX_F_MATCH, 0, 0, 0, &r));
	EXPECT_EQ('0', buf[0][0]);

	memset(&b, 0, sizeof(b));
	for (i = 0; i < 4; i++)
		kmbox_mmsg_prep(&e[i], buf[i], 8, 0);
	b.msgs = KT_PTR(e);
	b.count = 4;
	b.flags = KMBOX_F_TAG;
	b.tags = KT_PTR(tags);
	ASSERT_EQ(1, ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ('5', buf[0][0]);
	EXPECT_EQ(0x1105, tags[0]);
	EXPECT_EQ(-1, read(self->fd, buf[0], 8));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
	/* Cleared: the rest, in order. */
	ASSERT_EQ(0, tfilter(self->fd, 0, 0, NULL));
	ASSERT_EQ(2, ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ('2', buf[0][0]);
	EXPECT_EQ(0x2202, tags[0]);
	EXPECT_EQ('4', buf[1][0]);
	EXPECT_EQ(0x2204, tags[1]);
}

TEST_F(mb, batch_send_tags)
{
	struct kmbox_mmsg e[3];
	__u64 tags[3] = { 10, 20, 30 };
	struct kmbox_batch b;
	struct kmbox_recv r;
	char buf[8];
	int i;

	for (i = 0; i < 3; i++)
		kmbox_mmsg_prep(&e[i], "abc" + i, 1, 0);
	memset(&b, 0, sizeof(b));
	b.msgs = KT_PTR(e);
	b.count = 3;
	/* tags without KMBOX_F_TAG, and the flag without tags */
	b.tags = KT_PTR(tags);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND_BATCH, &b));
	EXPECT_EQ(EINVAL, errno);
	b.tags = 0;
	b.flags = KMBOX_F_TAG;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND_BATCH, &b));
	EXPECT_EQ(EINVAL, errno);
	b.tags = KT_PTR(tags);
	ASSERT_EQ(3, ioctl(self->fd, KMBOX_IOC_SEND_BATCH, &b));
	ASSERT_EQ(1, trecv(self->fd, buf, 8, KMBOX_F_MATCH, 20, ALL, 0, &r));
	EXPECT_EQ('b', buf[0]);
	ASSERT_EQ(1, trecv(self->fd, buf, 8, 0, 0, 0, 0, &r));
	EXPECT_EQ(10, r.tag);
	ASSERT_EQ(1, trecv(self->fd, buf, 8, 0, 0, 0, 0, &r));
	EXPECT_EQ(30, r.tag);
}

/* ---- the differential test ---------------------------------------------- */

struct model_msg {
	uint32_t id;
	uint32_t prio;
	uint64_t tag;
	uint32_t len;
};

struct model {
	struct model_msg q[64];
	unsigned int n;
	uint64_t ftag, fmask;
};

/* The first message, in (prio desc, arrival) order, that @tag/@mask takes. */
static int model_first(const struct model *m, uint64_t tag, uint64_t mask)
{
	int best = -1;
	unsigned int i;

	for (i = 0; i < m->n; i++) {
		if ((m->q[i].tag & mask) != tag)
			continue;
		if (best < 0 || m->q[i].prio > m->q[best].prio)
			best = (int)i;	/* q[] is in arrival order: the first wins ties */
	}
	return best;
}

static void model_take(struct model *m, int i)
{
	memmove(&m->q[i], &m->q[i + 1], (m->n - (unsigned int)i - 1) * sizeof(m->q[0]));
	m->n--;
}

/* A tag from a small set, so that matches are common, or any at all. */
static uint64_t pick_tag(uint64_t *x)
{
	static const uint64_t set[] = { 0, 1, 2, 3, 0x100000001ULL, ~0ULL };

	return rnd(x) % 8 ? set[rnd(x) % 6] : rnd(x);
}

static void pick_filter(uint64_t *x, uint64_t *tag, uint64_t *mask)
{
	switch (rnd(x) % 4) {
	case 0:
		*mask = 0;
		break;
	case 1:
		*mask = ALL;
		break;
	case 2:
		*mask = 0x3;
		break;
	default:
		*mask = rnd(x);
		break;
	}
	*tag = pick_tag(x) & *mask;
}

static void check_payload(struct __test_metadata *_metadata, const unsigned char *buf,
			  uint32_t len, uint32_t id, uint32_t seen)
{
	unsigned char want[4];
	uint32_t i;

	/* The id, then its low byte: as much of it as was copied. */
	memcpy(want, &id, 4);
	for (i = 0; i < seen && i < len; i++)
		ASSERT_EQ(i < 4 ? want[i] : (id & 0xff), buf[i]) TH_LOG("id %u byte %u", id, i);
}

static void run_diff(struct __test_metadata *_metadata, int fd, uint64_t seed, int ops)
{
	static struct model m;
	unsigned char buf[4][128];
	uint32_t next_id = 1;
	uint64_t x = seed;
	int op;

	memset(&m, 0, sizeof(m));
	ASSERT_EQ(0, tfilter(fd, 0, 0, NULL));
	for (op = 0; op < ops; op++) {
		unsigned int kind = rnd(&x) % 100;
		struct kmbox_recv r;
		uint64_t tag, mask;
		int want, got;

		if (kind < 40) {			/* send */
			uint32_t len = 4 + rnd(&x) % 100, prio = rnd(&x) % 4;
			uint64_t t = pick_tag(&x);

			memset(buf[0], (int)(next_id & 0xff), len);
			memcpy(buf[0], &next_id, 4);
			got = tsend(fd, buf[0], len, prio, t, KMBOX_F_NONBLOCK);
			if (m.n == 64) {
				ASSERT_EQ(-1, got);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			ASSERT_EQ(0, got) TH_LOG("seed %llu op %d: send: %s",
						 (unsigned long long)seed, op, strerror(errno));
			m.q[m.n++] = (struct model_msg){ next_id++, prio, t, len };
		} else if (kind < 70) {			/* receive or peek, own filter */
			bool peek = rnd(&x) % 3 == 0;
			uint32_t bufsz = rnd(&x) % 8 ? 128 : rnd(&x) % 64;

			pick_filter(&x, &tag, &mask);
			want = model_first(&m, tag, mask);
			got = trecv(fd, buf[0], bufsz,
				    KMBOX_F_NONBLOCK | KMBOX_F_MATCH | (peek ? KMBOX_F_PEEK : 0),
				    tag, mask, 0, &r);
			if (want < 0) {
				ASSERT_EQ(-1, got) TH_LOG("seed %llu op %d: got a message, none matches",
							  (unsigned long long)seed, op);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			if (!peek && m.q[want].len > bufsz) {
				ASSERT_EQ(-1, got);
				ASSERT_EQ(EMSGSIZE, errno);
				ASSERT_EQ(m.q[want].len, r.len);
				continue;
			}
			ASSERT_EQ((int)m.q[want].len, got)
				TH_LOG("seed %llu op %d: %s by %llx/%llx: %s",
				       (unsigned long long)seed, op, peek ? "peek" : "recv",
				       (unsigned long long)tag, (unsigned long long)mask,
				       strerror(errno));
			ASSERT_EQ(m.q[want].prio, r.prio);
			ASSERT_EQ(m.q[want].tag, r.tag);
			check_payload(_metadata, buf[0], r.len, m.q[want].id,
				      peek ? (bufsz < r.len ? bufsz : r.len) : r.len);
			if (peek) {
				ASSERT_EQ(bufsz < r.len ? KMBOX_MSG_TRUNC : 0, r.msg_flags);
			} else {
				model_take(&m, want);
			}
		} else if (kind < 80) {			/* set the standing filter */
			pick_filter(&x, &m.ftag, &m.fmask);
			ASSERT_EQ(0, tfilter(fd, m.ftag, m.fmask, NULL));
		} else if (kind < 90) {			/* read() through it */
			want = model_first(&m, m.ftag, m.fmask);
			got = (int)read(fd, buf[0], 128);
			if (want < 0) {
				ASSERT_EQ(-1, got);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			ASSERT_EQ((int)m.q[want].len, got) TH_LOG("seed %llu op %d: read",
								 (unsigned long long)seed, op);
			check_payload(_metadata, buf[0], (uint32_t)got, m.q[want].id, (uint32_t)got);
			model_take(&m, want);
		} else {				/* a batch through it */
			struct kmbox_mmsg e[4];
			struct kmbox_batch b;
			__u64 tags[4];
			unsigned int n = 1 + rnd(&x) % 4, i;

			for (i = 0; i < n; i++)
				kmbox_mmsg_prep(&e[i], buf[i], 128, 0);
			memset(&b, 0, sizeof(b));
			b.msgs = KT_PTR(e);
			b.count = n;
			b.flags = KMBOX_F_NONBLOCK | KMBOX_F_TAG;
			b.tags = KT_PTR(tags);
			got = ioctl(fd, KMBOX_IOC_RECV_BATCH, &b);
			want = model_first(&m, m.ftag, m.fmask);
			if (want < 0) {
				ASSERT_EQ(-1, got);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			ASSERT_GE(got, 1) TH_LOG("seed %llu op %d: batch: %s",
						 (unsigned long long)seed, op, strerror(errno));
			for (i = 0; i < (unsigned int)got; i++) {
				want = model_first(&m, m.ftag, m.fmask);
				ASSERT_GE(want, 0);
				ASSERT_EQ(m.q[want].len, e[i].len);
				ASSERT_EQ(m.q[want].prio, e[i].prio);
				ASSERT_EQ(m.q[want].tag, tags[i]);
				check_payload(_metadata, buf[i], e[i].len, m.q[want].id, e[i].len);
				model_take(&m, want);
			}
			/* As many as matched, up to n. */
			if ((unsigned int)got < n)
				ASSERT_LT(model_first(&m, m.ftag, m.fmask), 0);
		}
		if (op % 97 == 0)
			ASSERT_EQ((long)m.n, kt_cur_msgs(fd));
	}
	ASSERT_EQ((long)m.n, kt_cur_msgs(fd));
}

TEST_F(mb, differential_against_a_reference_model)
{
	uint64_t seed;

	for (seed = 1; seed <= 12; seed++) {
		/* Drain between seeds: the model starts empty. */
		char buf[128];

		ASSERT_EQ(0, tfilter(self->fd, 0, 0, NULL));
		while (read(self->fd, buf, sizeof(buf)) >= 0)
			;
		run_diff(_metadata, self->fd, seed * 0x9e3779b97f4a7c15ULL, 3000);
	}
}

/* ---- blocking ----------------------------------------------------------- */

FIXTURE(blk) {
	int fd;		/* anonymous, O_RDWR, blocking, 128 x 64 bytes */
};

FIXTURE_SETUP(blk)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR, 128, 64);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	alarm(60);
}

FIXTURE_TEARDOWN(blk)
{
	alarm(0);
	close(self->fd);
}

struct waiter {
	int fd;
	__u32 flags;
	__u64 tag, mask;
	__u64 deadline;
	int ret, err;
	struct kmbox_recv r;
	char buf[64];
};

static void *waiter_fn(void *arg)
{
	struct waiter *w = arg;

	w->ret = trecv(w->fd, w->buf, sizeof(w->buf), w->flags, w->tag, w->mask, w->deadline,
		       &w->r);
	w->err = errno;
	return NULL;
}

/* Wait until @n receivers (filtered ones included) sleep on @fd's mailbox. */
static int wait_sleepers(int fd, __u32 n)
{
	return kt_wait_waiters(fd, n, 0, 10000);
}

TEST_F(blk, a_match_queued_behind_others_wakes_its_sleeper)
{
	struct waiter w = { .fd = self->fd, .flags = KMBOX_F_MATCH, .tag = 5, .mask = ALL };
	struct kt_mbline line;
	pthread_t t;
	int i;

	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, tsend(self->fd, "n", 1, 7, 1, 0));
	w.deadline = kt_deadline_ms(20000);
	ASSERT_EQ(0, pthread_create(&t, NULL, waiter_fn, &w));
	ASSERT_EQ(0, wait_sleepers(self->fd, 1));
	/* /proc counts the filtered sleeper as GETATTR does. */
	ASSERT_EQ(1, kt_find_mailbox("-", 128, 64, &line, NULL));
	EXPECT_EQ(1, line.rd_waiters);
	ASSERT_EQ(0, tsend(self->fd, "yes", 3, 0, 5, 0));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(3, w.ret) TH_LOG("%s", strerror(w.err));
	EXPECT_EQ(5, w.r.tag);
	EXPECT_EQ(100, kt_cur_msgs(self->fd));
}

TEST_F(blk, blocking_peek_wakes_and_leaves_it)
{
	struct waiter w = { .fd = self->fd, .flags = KMBOX_F_PEEK | KMBOX_F_MATCH, .tag = 2,
			    .mask = ALL };
	struct waiter u = { .fd = self->fd, .flags = KMBOX_F_PEEK };
	pthread_t t, t2;

	w.deadline = u.deadline = kt_deadline_ms(20000);
	ASSERT_EQ(0, pthread_create(&t, NULL, waiter_fn, &w));
	ASSERT_EQ(0, pthread_create(&t2, NULL, waiter_fn, &u));
	ASSERT_EQ(0, wait_sleepers(self->fd, 2));
	ASSERT_EQ(0, tsend(self->fd, "one", 3, 0, 1, 0));
	ASSERT_EQ(0, pthread_join(t2, NULL));
	EXPECT_EQ(3, u.ret);
	EXPECT_EQ(1, u.r.tag);
	ASSERT_EQ(0, tsend(self->fd, "two", 3, 0, 2, 0));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(3, w.ret);
	EXPECT_EQ(2, w.r.tag);
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
}

TEST_F(blk, deadline_passes_with_only_others_queued)
{
	char buf[8];

	ASSERT_EQ(0, tsend(self->fd, "n", 1, 0, 1, 0));
	EXPECT_EQ(-1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 2, ALL,
			    kt_deadline_ms(50), NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH | KMBOX_F_PEEK, 2, ALL,
			    kt_deadline_ms(50), NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH | KMBOX_F_NONBLOCK, 2, ALL,
			    0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
}

static void on_usr1(int sig)
{
	(void)sig;
}

TEST_F(blk, a_signal_interrupts_a_filtered_sleeper)
{
	struct waiter w = { .fd = self->fd, .flags = KMBOX_F_MATCH, .tag = 2, .mask = ALL };
	pthread_t t;

	ASSERT_EQ(0, kt_sigaction(SIGUSR1, on_usr1, 0));
	ASSERT_EQ(0, tsend(self->fd, "n", 1, 0, 1, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, waiter_fn, &w));
	ASSERT_EQ(0, wait_sleepers(self->fd, 1));
	ASSERT_EQ(0, pthread_kill(t, SIGUSR1));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-1, w.ret);
	EXPECT_EQ(EINTR, w.err);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
}

TEST_F(blk, sigkill_of_a_filtered_sleeper_leaves_the_mailbox_sound)
{
	struct kmbox_attr a;
	char buf[8];
	pid_t pid;

	ASSERT_EQ(0, tsend(self->fd, "n", 1, 0, 1, 0));
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 2, ALL, 0, NULL);
		_exit(1);
	}
	ASSERT_EQ(0, wait_sleepers(self->fd, 1));
	kill(pid, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(0, a.rd_waiters);
	ASSERT_EQ(0, tsend(self->fd, "y", 1, 0, 2, 0));
	EXPECT_EQ(1, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 2, ALL, 0, NULL));
	EXPECT_EQ(1, trecv(self->fd, buf, sizeof(buf), 0, 0, 0, 0, NULL));
}

struct reader {
	int fd;
	ssize_t ret;
	char buf[64];
};

static void *reader_fn(void *arg)
{
	struct reader *rd = arg;

	rd->ret = read(rd->fd, rd->buf, sizeof(rd->buf));
	return NULL;
}

/*
 * Another thread changes the file's filter while a read() sleeps on it:
 * the sleeper keeps the filter it started with.
 */
TEST_F(blk, a_sleeper_keeps_its_filter_when_another_thread_changes_it)
{
	struct reader rd = { .fd = self->fd };
	pthread_t t;
	char buf[8];

	ASSERT_EQ(0, tfilter(self->fd, 5, ALL, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, reader_fn, &rd));
	ASSERT_EQ(0, wait_sleepers(self->fd, 1));
	ASSERT_EQ(0, tfilter(self->fd, 6, ALL, NULL));
	ASSERT_EQ(0, tsend(self->fd, "six", 3, 0, 6, 0));
	ASSERT_EQ(0, tsend(self->fd, "five", 4, 0, 5, 0));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(4, rd.ret);
	EXPECT_EQ(0, memcmp(rd.buf, "five", 4));
	/* The new filter is the file's now. */
	EXPECT_EQ(3, read(self->fd, buf, sizeof(buf)));
}

/* A synchronous send and a call, taken by filtered receives. */
struct syncer {
	int fd;
	__u64 tag;
	int ret, err;
	char reply[16];
};

static void *sync_fn(void *arg)
{
	struct syncer *s = arg;

	s->ret = tsend(s->fd, "sync", 4, 0, s->tag, KMBOX_F_SYNC);
	s->err = errno;
	return NULL;
}

static void *call_fn(void *arg)
{
	struct syncer *s = arg;
	struct kmbox_call c;

	memset(&c, 0, sizeof(c));
	c.req = KT_PTR("req");
	c.req_len = 3;
	c.reply = KT_PTR(s->reply);
	c.reply_len = sizeof(s->reply);
	c.flags = KMBOX_F_TAG;
	c.tag = s->tag;
	s->ret = ioctl(s->fd, KMBOX_IOC_CALL, &c);
	s->err = errno;
	return NULL;
}

TEST_F(blk, sync_send_and_call_taken_by_a_filtered_receive)
{
	struct syncer s = { .fd = self->fd, .tag = 3 }, c = { .fd = self->fd, .tag = 4 };
	struct kmbox_recv r;
	pthread_t t, t2;
	char buf[16];

	ASSERT_EQ(0, tsend(self->fd, "other", 5, 9, 1, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, sync_fn, &s));
	ASSERT_EQ(0, pthread_create(&t2, NULL, call_fn, &c));
	ASSERT_EQ(4, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 3, ALL,
			   kt_deadline_ms(10000), &r));
	EXPECT_EQ(3, r.tag);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, s.ret) TH_LOG("%s", strerror(s.err));
	ASSERT_EQ(3, trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH | KMBOX_F_CALLS, 4, ALL,
			   kt_deadline_ms(10000), &r));
	EXPECT_EQ(4, r.tag);
	ASSERT_NE(0, r.reply_token);
	ASSERT_EQ(0, kmbox_reply(self->fd, r.reply_token, "pong", 4));
	ASSERT_EQ(0, pthread_join(t2, NULL));
	EXPECT_EQ(4, c.ret) TH_LOG("%s", strerror(c.err));
	EXPECT_EQ(0, memcmp(c.reply, "pong", 4));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
}

/*
 * A rendezvous mailbox buffers nothing but the senders that wait: a
 * blocking send reaches a receiver sleeping with a filter; a non-blocking
 * one is handed only to a receiver waiting without one (EAGAIN here).
 */
TEST(rendezvous_send_reaches_a_filtered_receiver)
{
	struct waiter w = { .flags = KMBOX_F_MATCH, .tag = 3, .mask = ALL };
	struct kmbox_attr a;
	pthread_t t;
	int fd;

	KT_REQUIRE_MODULE();
	alarm(30);
	kt_attr_init(&a, 4, 64);
	a.flags = KMBOX_ATTR_RENDEZVOUS;
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a));
	w.fd = fd;
	w.deadline = kt_deadline_ms(20000);
	ASSERT_EQ(0, pthread_create(&t, NULL, waiter_fn, &w));
	ASSERT_EQ(0, wait_sleepers(fd, 1));
	EXPECT_EQ(-1, tsend(fd, "x", 1, 0, 3, KMBOX_F_NONBLOCK));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, tsend(fd, "rdv", 3, 0, 3, 0));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(3, w.ret) TH_LOG("%s", strerror(w.err));
	EXPECT_EQ(3, w.r.tag);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	alarm(0);
}

/* ---- exactly once ------------------------------------------------------- */

#define EO_PRODUCERS	4
#define EO_CONSUMERS	4
#define EO_TOTAL	10000
#define EO_EACH		(EO_TOTAL / EO_PRODUCERS)

struct eo_msg {
	uint32_t producer;
	uint32_t seq;		/* per producer and tag */
	uint64_t tag;
};

struct eo_ctx {
	int fd;
	int id;
	int ret;
	char why[128];
};

/* The consumer of tag k: a large tag so that the index is exercised. */
static uint64_t eo_tag(int k)
{
	return 0xabcd000000000000ULL | (uint64_t)k;
}

static void *eo_producer(void *arg)
{
	struct eo_ctx *c = arg;
	uint32_t seq[EO_CONSUMERS] = { 0 };
	int i;

	for (i = 0; i < EO_EACH; i++) {
		int k = (i * 7 + c->id) % EO_CONSUMERS;
		struct eo_msg m = { (uint32_t)c->id, seq[k]++, eo_tag(k) };

		if (tsend(c->fd, &m, sizeof(m), 0, m.tag, 0)) {
			snprintf(c->why, sizeof(c->why), "send %d: %s", i, strerror(errno));
			c->ret = -1;
			return NULL;
		}
	}
	return NULL;
}

static void *eo_consumer(void *arg)
{
	struct eo_ctx *c = arg;
	uint32_t next[EO_PRODUCERS] = { 0 };
	int got = 0, want = 0, p, i;

	for (p = 0; p < EO_PRODUCERS; p++)
		for (i = 0; i < EO_EACH; i++)
			want += (i * 7 + p) % EO_CONSUMERS == c->id;
	while (got < want) {
		struct eo_msg m;
		struct kmbox_recv r;
		int n;

		/* Half of them through a standing filter and read(). */
		if (c->id % 2) {
			n = (int)read(c->fd, &m, sizeof(m));
			r.tag = m.tag;
		} else {
			n = trecv(c->fd, &m, sizeof(m), KMBOX_F_MATCH, eo_tag(c->id), ALL,
				  kt_deadline_ms(30000), &r);
		}
		if (n != sizeof(m)) {
			snprintf(c->why, sizeof(c->why), "consumer %d after %d: %d %s", c->id, got,
				 n, strerror(errno));
			c->ret = -1;
			return NULL;
		}
		if (m.tag != eo_tag(c->id) || r.tag != m.tag || m.producer >= EO_PRODUCERS ||
		    m.seq != next[m.producer]) {
			snprintf(c->why, sizeof(c->why),
				 "consumer %d got tag %llx from %u seq %u, wanted seq %u", c->id,
				 (unsigned long long)m.tag, m.producer, m.seq,
				 m.producer < EO_PRODUCERS ? next[m.producer] : 0);
			c->ret = -1;
			return NULL;
		}
		next[m.producer]++;
		got++;
	}
	return NULL;
}

TEST(exactly_once_with_four_filtered_consumers)
{
	struct eo_ctx prod[EO_PRODUCERS], cons[EO_CONSUMERS];
	pthread_t pt[EO_PRODUCERS], ct[EO_CONSUMERS];
	int fd, i;

	KT_REQUIRE_MODULE();
	alarm(120);
	/* Small: producers block, and consumers sleep behind others' messages. */
	fd = kt_anon(O_RDWR, 16, 64);
	ASSERT_GE(fd, 0);
	for (i = 0; i < EO_CONSUMERS; i++) {
		cons[i] = (struct eo_ctx){ .fd = fd, .id = i };
		if (i % 2) {
			cons[i].fd = treopen(fd, O_RDONLY);
			ASSERT_GE(cons[i].fd, 0);
			ASSERT_EQ(0, tfilter(cons[i].fd, eo_tag(i), ALL, NULL));
		}
		ASSERT_EQ(0, pthread_create(&ct[i], NULL, eo_consumer, &cons[i]));
	}
	for (i = 0; i < EO_PRODUCERS; i++) {
		prod[i] = (struct eo_ctx){ .fd = fd, .id = i };
		ASSERT_EQ(0, pthread_create(&pt[i], NULL, eo_producer, &prod[i]));
	}
	for (i = 0; i < EO_PRODUCERS; i++) {
		ASSERT_EQ(0, pthread_join(pt[i], NULL));
		EXPECT_EQ(0, prod[i].ret) TH_LOG("%s", prod[i].why);
	}
	for (i = 0; i < EO_CONSUMERS; i++) {
		ASSERT_EQ(0, pthread_join(ct[i], NULL));
		EXPECT_EQ(0, cons[i].ret) TH_LOG("%s", cons[i].why);
		if (i % 2)
			close(cons[i].fd);
	}
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	alarm(0);
}

/*
 * Receivers with and without filters on one mailbox: the unfiltered ones
 * may be handed messages by senders, the filtered ones are woken to look.
 * Every message is received once; a filtered receiver gets only its tag;
 * each receiver sees each producer's messages in order.
 */
#define MIX_EACH	2000

struct mix_ctx {
	int fd;
	int id;			/* producer id; or consumer: -1 unfiltered, else its tag */
	int ret;
	unsigned int got;
	char why[128];
	unsigned char *seen;	/* [producer * MIX_EACH + seq], shared */
	pthread_mutex_t *lock;
	volatile int *done;
};

static void *mix_producer(void *arg)
{
	struct mix_ctx *c = arg;
	uint32_t i;

	for (i = 0; i < MIX_EACH; i++) {
		struct eo_msg m = { (uint32_t)c->id, i, i % 3 };

		if (tsend(c->fd, &m, sizeof(m), 0, m.tag, 0)) {
			snprintf(c->why, sizeof(c->why), "send: %s", strerror(errno));
			c->ret = -1;
			return NULL;
		}
	}
	return NULL;
}

static void *mix_consumer(void *arg)
{
	struct mix_ctx *c = arg;
	int64_t last[2] = { -1, -1 };

	for (;;) {
		struct kmbox_recv r;
		struct eo_msg m;
		int n;

		if (c->id < 0)
			n = trecv(c->fd, &m, sizeof(m), 0, 0, 0, kt_deadline_ms(200), &r);
		else
			n = trecv(c->fd, &m, sizeof(m), KMBOX_F_MATCH, (__u64)c->id, ALL,
				  kt_deadline_ms(200), &r);
		if (n < 0 && errno == ETIMEDOUT) {
			if (*c->done)
				return NULL;
			continue;
		}
		if (n != sizeof(m) || m.producer >= 2 || m.seq >= MIX_EACH || r.tag != m.tag ||
		    (c->id >= 0 && m.tag != (uint64_t)c->id) || (int64_t)m.seq <= last[m.producer]) {
			snprintf(c->why, sizeof(c->why), "consumer %d: %d %s tag %llu seq %u",
				 c->id, n, strerror(errno), (unsigned long long)r.tag, m.seq);
			c->ret = -1;
			return NULL;
		}
		last[m.producer] = m.seq;
		pthread_mutex_lock(c->lock);
		c->seen[m.producer * MIX_EACH + m.seq]++;
		pthread_mutex_unlock(c->lock);
		c->got++;
	}
}

TEST(filtered_and_unfiltered_receivers_share_a_mailbox_exactly_once)
{
	static unsigned char seen[2 * MIX_EACH];
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct mix_ctx prod[2], cons[4];
	pthread_t pt[2], ct[4];
	volatile int done = 0;
	int fd, i;

	KT_REQUIRE_MODULE();
	alarm(120);
	fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 4; i++) {
		/* two unfiltered, one for tag 0, one for tag 1; tag 2 only unfiltered */
		cons[i] = (struct mix_ctx){ .fd = fd, .id = i < 2 ? -1 : i - 2, .seen = seen,
					    .lock = &lock, .done = &done };
		ASSERT_EQ(0, pthread_create(&ct[i], NULL, mix_consumer, &cons[i]));
	}
	for (i = 0; i < 2; i++) {
		prod[i] = (struct mix_ctx){ .fd = fd, .id = i };
		ASSERT_EQ(0, pthread_create(&pt[i], NULL, mix_producer, &prod[i]));
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, pthread_join(pt[i], NULL));
		EXPECT_EQ(0, prod[i].ret) TH_LOG("%s", prod[i].why);
	}
	/* Everything sent: wait for the queue to drain, then stop them. */
	for (i = 0; i < 3000 && kt_cur_msgs(fd) > 0; i++)
		kt_sleep_ms(10);
	kt_sleep_ms(300);
	done = 1;
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, pthread_join(ct[i], NULL));
		EXPECT_EQ(0, cons[i].ret) TH_LOG("%s", cons[i].why);
	}
	for (i = 0; i < 2 * MIX_EACH && seen[i] == 1; i++)
		;
	EXPECT_EQ(2 * MIX_EACH, i) TH_LOG("producer %d seq %d received %d times",
					  i / MIX_EACH, i % MIX_EACH,
					  i < 2 * MIX_EACH ? seen[i] : 1);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	alarm(0);
}

/* ---- poll --------------------------------------------------------------- */

static int pollin(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

TEST_F(mb, poll_and_epoll_follow_the_standing_filter)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out;
	int ep;

	ep = epoll_create1(0);
	ASSERT_GE(ep, 0);
	ASSERT_EQ(0, tfilter(self->fd, 7, ALL, NULL));
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->fd, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, tsend(self->fd, "n", 1, 0, 1, 0));
	EXPECT_FALSE(pollin(self->fd, 0));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, tsend(self->fd, "y", 1, 0, 7, 0));
	EXPECT_TRUE(pollin(self->fd, 0));
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 0));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));	/* edge-triggered */
	/* Taking it: not readable, though a message is queued. */
	EXPECT_EQ(1, read(self->fd, &out, 1));
	EXPECT_FALSE(pollin(self->fd, 0));
	/* Clearing the filter makes it readable, and epoll hears of it. */
	ASSERT_EQ(0, tfilter(self->fd, 0, 0, NULL));
	EXPECT_TRUE(pollin(self->fd, 0));
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 0));
	close(ep);
}

struct poller {
	int fd;
	int ret;
};

static void *poller_fn(void *arg)
{
	struct poller *p = arg;

	p->ret = pollin(p->fd, 20000);
	return NULL;
}

TEST_F(mb, a_sleeping_poll_wakes_for_a_match_and_for_a_new_filter)
{
	struct poller p = { .fd = self->fd };
	pthread_t t;

	ASSERT_EQ(0, tfilter(self->fd, 7, ALL, NULL));
	ASSERT_EQ(0, tsend(self->fd, "n", 1, 0, 1, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, poller_fn, &p));
	kt_sleep_ms(50);
	ASSERT_EQ(0, tfilter(self->fd, 1, ALL, NULL));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_TRUE(p.ret);

	ASSERT_EQ(0, tfilter(self->fd, 8, ALL, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, poller_fn, &p));
	kt_sleep_ms(50);
	ASSERT_EQ(0, tsend(self->fd, "y", 1, 0, 8, 0));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_TRUE(p.ret);
}

/* ---- hostile callers ---------------------------------------------------- */

TEST_F(mb, faulting_pages_leave_messages_where_they_were)
{
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kmbox_recv *rr = (struct kmbox_recv *)(ro + 4096 - sizeof(*rr));
	struct kmbox_mmsg e[2];
	struct kmbox_batch b;
	struct kmbox_recv r;
	char buf[16];

	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_EQ(0, tsend(self->fd, "first", 5, 0, 1, 0));
	ASSERT_EQ(0, tsend(self->fd, "second", 6, 0, 2, 0));

	/* Peek and receive into a read-only buffer. */
	EXPECT_EQ(-1, trecv(self->fd, ro, 16, KMBOX_F_PEEK, 0, 0, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, trecv(self->fd, ro, 16, KMBOX_F_MATCH, 2, ALL, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	/* The argument itself read-only: the result cannot be written. */
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, rr));
	EXPECT_EQ(EFAULT, errno);
	/* Batch tags into a read-only page, from an unmapped one. */
	kmbox_mmsg_prep(&e[0], buf, 16, 0);
	kmbox_mmsg_prep(&e[1], buf, 16, 0);
	memset(&b, 0, sizeof(b));
	b.msgs = KT_PTR(e);
	b.count = 2;
	b.flags = KMBOX_F_TAG;
	b.tags = KT_PTR(ro);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ(EFAULT, errno);
	b.tags = KT_PTR(none);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND_BATCH, &b));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_FILTER, none));
	EXPECT_EQ(EFAULT, errno);

	/* Both still there, in order, tags intact. */
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
	ASSERT_EQ(5, trecv(self->fd, buf, sizeof(buf), 0, 0, 0, 0, &r));
	EXPECT_EQ(1, r.tag);
	EXPECT_EQ(0, memcmp(buf, "first", 5));
	ASSERT_EQ(6, trecv(self->fd, buf, sizeof(buf), 0, 0, 0, 0, &r));
	EXPECT_EQ(2, r.tag);
	munmap(ro, 4096);
	munmap(none, 4096);
}

/*
 * The queue keeps each priority's messages in a ring behind the first of
 * them (mbox.c): a message put back after its copy faulted returns to
 * its place whether it was the first, in the middle or the last of its
 * priority, or alone in it; taken by exact tag (the tag index), by mask
 * (a walk of the queue) or unfiltered (the head).
 */
TEST_F(mb, faulting_receives_put_messages_back_in_place_across_priorities)
{
	static const __u32 prio[] = { 3, 3, 3, 7, 0, 3, 7, 9, 0, 0, 3, 5,
				      7, 3, 0, 9, 1, 3, 3, 7, 0, 2, 3, 3 };
	const unsigned int n = ARRAY_SIZE(prio);
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned int i, k, order[ARRAY_SIZE(prio)], got;
	struct kmbox_recv r;

	ASSERT_NE(MAP_FAILED, ro);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, tsend(self->fd, &i, sizeof(i), prio[i], i, 0));
	/* Every tag in a scrambled order (7 is prime to 24), then masks. */
	for (k = 0; k < n; k++) {
		i = (k * 7) % n;
		EXPECT_EQ(-1, trecv(self->fd, ro, 16, KMBOX_F_MATCH, i, ALL, 0, NULL));
		EXPECT_EQ(EFAULT, errno) TH_LOG("tag %u", i);
		EXPECT_EQ(-1, trecv(self->fd, ro, 16, KMBOX_F_MATCH, i & 7, 7, 0, NULL));
		EXPECT_EQ(EFAULT, errno) TH_LOG("tag %u & 7", i);
		EXPECT_EQ(-1, trecv(self->fd, ro, 16, 0, 0, 0, 0, NULL));
		EXPECT_EQ(EFAULT, errno);
		EXPECT_EQ((long)n, kt_cur_msgs(self->fd));
	}
	/* The expected order: priority descending, then arrival. */
	for (i = 0, k = 0; k < 10; k++)
		for (got = 0; got < n; got++)
			if (prio[got] == 9 - k)
				order[i++] = got;
	ASSERT_EQ(n, i);
	for (k = 0; k < n; k++) {
		ASSERT_EQ((int)sizeof(got), trecv(self->fd, &got, sizeof(got), 0, 0, 0, 0, &r));
		EXPECT_EQ(order[k], got) TH_LOG("message %u", k);
		EXPECT_EQ(order[k], r.tag);
		EXPECT_EQ(prio[order[k]], r.prio);
	}
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	munmap(ro, 4096);
}

TEST_F(mb, unprivileged_caller_gets_the_same_answers)
{
	pid_t pid;

	ASSERT_EQ(0, tsend(self->fd, "root", 4, 0, 9, 0));
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_recv r;
		char buf[8];

		CHILD_ASSERT(kt_become(KT_NOBODY, KT_NOBODY) == 0);
		/* A huge buffer is no huge allocation: at most max_msgsize. */
		CHILD_ASSERT(trecv(self->fd, buf, 0xffffffffu, KMBOX_F_PEEK, 0, 0, 0, &r) == 4);
		CHILD_ASSERT(r.tag == 9 && r.uid == 0);
		CHILD_ASSERT(tfilter(self->fd, 9, ALL, NULL) == 0);
		CHILD_ASSERT(tsend(self->fd, "nobody", 6, 0, 10, 0) == 0);
		CHILD_ASSERT(read(self->fd, buf, sizeof(buf)) == 4);
		CHILD_ASSERT(read(self->fd, buf, sizeof(buf)) == -1 && errno == EAGAIN);
		CHILD_ASSERT(trecv(self->fd, buf, sizeof(buf), KMBOX_F_MATCH, 10, ALL, 0, &r) == 6);
		CHILD_ASSERT(r.uid == KT_NOBODY);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST(tags_in_a_fresh_user_and_ipc_namespace)
{
	pid_t pid;

	KT_REQUIRE_MODULE();
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_recv r;
		char name[64], buf[8];
		int fd;

		CHILD_ASSERT(kt_become(KT_NOBODY, KT_NOBODY) == 0);
		if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
			_exit(errno == EPERM || errno == EINVAL ? 4 : 1);
		kt_name(name, sizeof(name), "tags-ns");
		fd = kt_create(name, O_RDWR | O_NONBLOCK, 0600, 4, 16);
		CHILD_ASSERT(fd >= 0);
		CHILD_ASSERT(tsend(fd, "a", 1, 0, 1, 0) == 0);
		CHILD_ASSERT(tsend(fd, "b", 1, 0, 2, 0) == 0);
		CHILD_ASSERT(tfilter(fd, 2, ALL, NULL) == 0);
		CHILD_ASSERT(read(fd, buf, sizeof(buf)) == 1 && buf[0] == 'b');
		CHILD_ASSERT(trecv(fd, buf, sizeof(buf), KMBOX_F_PEEK | KMBOX_F_MATCH, 1, ALL, 0,
				   &r) == 1 && r.tag == 1);
		CHILD_ASSERT(kt_unlink(name) == 0);
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

/* ---- zero-copy ---------------------------------------------------------- */

TEST(zero_copy_messages_carry_tags_and_peek_copies_them)
{
	struct kmbox_attr a;
	struct kmbox_region reg;
	struct kmbox_send s;
	struct kmbox_recv r;
	uint32_t slot;
	char buf[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_attr_init(&a, 8, 64);
	a.zc_slots = 4;
	a.zc_slot_size = 64;
	fd = kt_dev(O_RDWR | O_NONBLOCK);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a));
	ASSERT_EQ(0, kmbox_region_map(fd, &reg));
	ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot, 1, 0, NULL));
	memcpy(kmbox_slot_ptr(&reg, slot), "zero-copy", 9);
	ASSERT_EQ(0, tsend(fd, "plain", 5, 0, 1, 0));
	memset(&s, 0, sizeof(s));
	s.len = 9;
	s.slot = slot;
	s.flags = KMBOX_F_ZC | KMBOX_F_TAG;
	s.tag = 42;
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));

	ASSERT_EQ(9, trecv(fd, buf, sizeof(buf), KMBOX_F_PEEK | KMBOX_F_MATCH, 42, ALL, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "zero-copy", 9));
	EXPECT_EQ(KMBOX_NO_SLOT, r.slot);
	ASSERT_EQ(9, trecv(fd, NULL, 0, KMBOX_F_ZC | KMBOX_F_MATCH, 42, ALL, 0, &r));
	EXPECT_EQ(42, r.tag);
	EXPECT_TRUE(r.msg_flags & KMBOX_MSG_ZC);
	EXPECT_EQ(slot, r.slot);
	EXPECT_EQ(0, memcmp(kmbox_slot_ptr(&reg, r.slot), "zero-copy", 9));
	EXPECT_EQ(0, kmbox_zc_release(fd, &r.slot, 1));
	ASSERT_EQ(5, trecv(fd, buf, sizeof(buf), 0, 0, 0, 0, &r));
	EXPECT_EQ(1, r.tag);
	kmbox_region_unmap(&reg);
	close(fd);
}

TEST_HARNESS_MAIN
