// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks on the round trip made faster (branch rt): a caller that reads
 * its call's end without the lock, a reply that wakes it after unlocking,
 * a receive that reads the clock before taking the lock.
 *
 *  - a reply racing the caller's deadline, over and over, from another
 *    thread: a REPLY that succeeds means the caller got that reply, one
 *    that fails (ENOENT) means the caller gave up, and a request nobody
 *    received was withdrawn: each call ends exactly once, with the right
 *    reply;
 *  - the queue-time statistics: qtime_hist[0] counts the messages handed
 *    straight to a sleeping receiver (0 ns queued), so with receivers that
 *    never sleep it stays 0, however the receive and the sends interleave.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

/* ---- a reply racing the caller's deadline ---- */

#define CALLS		3000

enum { RR_NONE, RR_OK, RR_ENOENT, RR_OTHER };

struct race {
	int fd;
	volatile int stop;
	unsigned char reply[CALLS];	/* what the server's REPLY returned */
	int server_bad;
};

/* Take requests (their number is the payload), answer after 0..255 µs. */
static void *race_server(void *arg)
{
	struct race *r = arg;
	unsigned int rnd = 12345;

	while (!r->stop) {
		uint32_t i, ans;
		__u64 tok;
		int n = kt_take(r->fd, &i, sizeof(i), KMBOX_F_NONBLOCK, &tok);
		struct timespec ts;

		if (n < 0)
			continue;
		if (n != sizeof(i) || i >= CALLS || r->reply[i] != RR_NONE) {
			r->server_bad++;	/* garbage, or a request delivered twice */
			continue;
		}
		rnd = rnd * 1103515245 + 12345;
		ts = (struct timespec){ 0, (rnd >> 16) % 256 * 1000 };
		nanosleep(&ts, NULL);
		ans = ~i;
		if (!kt_reply(r->fd, tok, &ans, sizeof(ans)))
			r->reply[i] = RR_OK;
		else
			r->reply[i] = errno == ENOENT ? RR_ENOENT : RR_OTHER;
	}
	return NULL;
}

TEST(a_reply_racing_the_callers_deadline_ends_the_call_exactly_once)
{
	static struct race r;
	static unsigned char call[CALLS];
	unsigned int rnd = 777, i, ok = 0, timedout = 0, withdrawn = 0;
	int mismatched = 0;
	pthread_t srv;

	KT_REQUIRE_MODULE();
	memset(&r, 0, sizeof(r));
	r.fd = kt_anon(O_RDWR, 16, 64);
	ASSERT_GE(r.fd, 0);
	ASSERT_EQ(0, pthread_create(&srv, NULL, race_server, &r));
	for (i = 0; i < CALLS; i++) {
		uint32_t ans = 0;
		int n;

		rnd = rnd * 1103515245 + 12345;
		n = kt_call(r.fd, &i, sizeof(i), &ans, sizeof(ans), KMBOX_F_TIMEOUT,
			    kt_deadline_ms(0) + (rnd >> 16) % 400 * 1000, NULL);
		if (n == (int)sizeof(ans) && ans == ~i)
			call[i] = RR_OK;
		else if (n < 0 && errno == ETIMEDOUT)
			call[i] = RR_ENOENT;
		else
			call[i] = RR_OTHER;
	}
	/* Let the last reply land. */
	kt_sleep_ms(50);
	r.stop = 1;
	pthread_join(srv, NULL);
	for (i = 0; i < CALLS; i++) {
		if (call[i] == RR_OK)
			ok++;
		else if (r.reply[i] == RR_NONE)
			withdrawn++;
		else
			timedout++;
		/*
		 * A reply that succeeded reached its caller; a caller that got
		 * one had it succeed; a caller that timed out either had its
		 * request withdrawn or its reply refused.
		 */
		if (call[i] == RR_OTHER || r.reply[i] == RR_OTHER ||
		    (call[i] == RR_OK) != (r.reply[i] == RR_OK)) {
			if (mismatched++ < 5)
				TH_LOG("call %u: caller %d, reply %d", i, call[i], r.reply[i]);
		}
	}
	TH_LOG("%u replied, %u given up once received, %u withdrawn", ok, timedout, withdrawn);
	EXPECT_EQ(0, r.server_bad);
	EXPECT_EQ(0, mismatched);
	close(r.fd);
}

/* ---- the queue-time histogram ---- */

#define QT_SECS		8

struct qt {
	int fd;
	volatile int stop, done;	/* senders to stop; they stopped */
	unsigned long sent[1], got;
	int bad;
};

static void *qt_sender(void *arg)
{
	struct qt *q = arg;
	char buf[32] = { 0 };

	while (!q->stop)
		if (!kt_send(q->fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0))
			__atomic_add_fetch(&q->sent[0], 1, __ATOMIC_RELAXED);
	return NULL;
}

/* Receive batches, never sleeping: nothing is ever handed over. */
static void *qt_receiver(void *arg)
{
	struct qt *q = arg;
	struct kmbox_mmsg mm[64];
	char buf[64][32];
	int i;

	for (;;) {
		struct kmbox_batch b = { .msgs = KT_PTR(mm), .count = 64,
					 .flags = KMBOX_F_NONBLOCK };
		/* Empty after the senders stopped: then it stays empty. */
		int n, done = __atomic_load_n(&q->done, __ATOMIC_ACQUIRE);

		for (i = 0; i < 64; i++)
			mm[i] = (struct kmbox_mmsg){ .buf = KT_PTR(buf[i]), .len = 32 };
		n = ioctl(q->fd, KMBOX_IOC_RECV_BATCH, &b);
		if (n > 0)
			q->got += n;
		else if (errno != EAGAIN)
			q->bad++;
		else if (done)
			break;
	}
	return NULL;
}

TEST(messages_that_were_queued_never_count_as_handed_over)
{
	struct kmbox_stats st = { 0 };
	pthread_t s1, s2, rv;
	struct qt q = { 0 };

	KT_REQUIRE_MODULE();
	q.fd = kt_anon(O_RDWR | O_NONBLOCK, 64, 32);
	ASSERT_GE(q.fd, 0);
	ASSERT_EQ(0, pthread_create(&s1, NULL, qt_sender, &q));
	ASSERT_EQ(0, pthread_create(&s2, NULL, qt_sender, &q));
	ASSERT_EQ(0, pthread_create(&rv, NULL, qt_receiver, &q));
	kt_sleep_ms(QT_SECS * 1000);
	q.stop = 1;
	pthread_join(s1, NULL);
	pthread_join(s2, NULL);
	__atomic_store_n(&q.done, 1, __ATOMIC_RELEASE);
	pthread_join(rv, NULL);
	ASSERT_EQ(0, ioctl(q.fd, KMBOX_IOC_STATS, &st));
	TH_LOG("%lu sent, %lu received; handoffs %llu, qtime_hist[0] %llu, [1] %llu",
	       q.sent[0], q.got, (unsigned long long)st.handoffs,
	       (unsigned long long)st.qtime_hist[0], (unsigned long long)st.qtime_hist[1]);
	EXPECT_EQ(0, q.bad);
	EXPECT_EQ(q.sent[0], q.got);
	EXPECT_EQ(q.got, st.msgs_out);
	EXPECT_EQ(0, st.handoffs);
	EXPECT_EQ(st.handoffs, st.qtime_hist[0])
		TH_LOG("messages that waited in the queue counted as taking 0 ns");
	close(q.fd);
}

/* ---- senders' wake-ups: room for many made at once ---- */

#define WK_MAX		8
#define WK_SENDERS	12
#define WK_ROUNDS	60

struct wk {
	int fd;
	volatile int stop;
	unsigned long fast;
	int timedout, bad;
};

/* Blocking sends, each with a 10 s deadline, until told to stop. */
static void *wk_sender(void *arg)
{
	struct wk *k = arg;
	char buf[16] = { 0 };

	while (!k->stop) {
		if (!kt_send(k->fd, buf, sizeof(buf), 0, KMBOX_F_TIMEOUT, kt_deadline_ms(10000)))
			continue;
		if (errno == ETIMEDOUT)
			__atomic_add_fetch(&k->timedout, 1, __ATOMIC_RELAXED);
		else
			__atomic_add_fetch(&k->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * A full mailbox and more senders asleep than it holds; a batch receive
 * empties it at once, waking one sender, and then nobody receives: the
 * senders must fill it again by themselves (each one that was woken and
 * sent passes the wake-up on while room is left), a sender that did not
 * wait taking some of the room on the way.  A mailbox that stays short
 * for 3 s while senders sleep lost a wake-up.
 */
TEST(room_made_for_many_at_once_is_filled_by_the_sleeping_senders)
{
	pthread_t s[WK_SENDERS];
	struct kmbox_mmsg mm[WK_MAX];
	char buf[WK_MAX][16];
	struct wk k = { 0 };
	int i, round, stuck = -1;
	long cur = -1;

	KT_REQUIRE_MODULE();
	k.fd = kt_anon(O_RDWR, WK_MAX, 16);
	ASSERT_GE(k.fd, 0);
	for (i = 0; i < WK_SENDERS; i++)
		ASSERT_EQ(0, pthread_create(&s[i], NULL, wk_sender, &k));
	for (round = 0; round < WK_ROUNDS && stuck < 0; round++) {
		struct kmbox_batch b = { .msgs = KT_PTR(mm), .count = WK_MAX,
					 .flags = KMBOX_F_NONBLOCK };
		uint64_t end = kt_deadline_ms(3000);

		while ((cur = kt_cur_msgs(k.fd)) < WK_MAX && kt_now_ns() < end)
			kt_sleep_ms(1);
		if (cur < WK_MAX) {
			stuck = round;
			break;
		}
		for (i = 0; i < WK_MAX; i++)
			mm[i] = (struct kmbox_mmsg){ .buf = KT_PTR(buf[i]), .len = 16 };
		EXPECT_EQ(WK_MAX, ioctl(k.fd, KMBOX_IOC_RECV_BATCH, &b));
		/* A sender that did not wait takes some of the room first. */
		if (round % 2 && !kt_send(k.fd, buf[0], 16, 0, KMBOX_F_NONBLOCK, 0))
			k.fast++;
	}
	if (stuck >= 0) {
		struct kmbox_attr a;

		kt_getattr(k.fd, &a);
		TH_LOG("round %d: %ld queued of %d for 3 s, %u senders asleep", stuck, cur, WK_MAX,
		       a.wr_waiters);
	}
	k.stop = 1;
	/* Let every sender out: receive until they have all stopped. */
	for (i = 0; i < 2000 && kt_recv(k.fd, buf[0], 16, KMBOX_F_TIMEOUT,
					kt_deadline_ms(200), NULL) >= 0; i++)
		;
	for (i = 0; i < WK_SENDERS; i++)
		pthread_join(s[i], NULL);
	TH_LOG("%d rounds, %lu sends that did not wait", round, k.fast);
	EXPECT_EQ(-1, stuck) TH_LOG("senders slept while the mailbox had room: a lost wake-up");
	EXPECT_EQ(0, k.bad);
	close(k.fd);
}

TEST_HARNESS_MAIN
