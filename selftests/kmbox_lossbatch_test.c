// SPDX-License-Identifier: GPL-2.0
/*
 * Losses in band on batch receives: KMBOX_IOC_RECV_BATCHX, copied and
 * zero-copy, and kmbox_receive_batch_lost().
 *
 * A drop-oldest mailbox overflowed by a known number reports exactly that
 * number once, to the first loss-reporting receive (batch or single) that
 * takes a message; a plain RECV_BATCH still reports nothing and leaves
 * them; a fault on any page the batch writes (the argument, the entries,
 * the tags, a payload buffer) puts back the messages and the losses;
 * threads sharing the file hear of each loss once; a receiver killed
 * while it sleeps consumes nothing; bad input changes nothing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

/* An anonymous drop-oldest mailbox, with @slots zero-copy slots of 64 B. */
static int lanon(int oflags, __u32 max_msgs, __u32 slots)
{
	struct kmbox_qos q = { .policy = KMBOX_POLICY_DROP_OLDEST };
	struct kmbox_attr a;

	kt_attr_init(&a, max_msgs, 64);
	if (slots) {
		a.zc_slots = slots;
		a.zc_slot_size = 64;
	}
	return kt_anon_qos(oflags, &a, &q);
}

/* Send "m<n>" for n in [from, to], priority 0, never blocking. */
static int lsend(int fd, unsigned int from, unsigned int to)
{
	char buf[16];

	for (; from <= to; from++)
		if (kt_send(fd, buf, sprintf(buf, "m%u", from), 0, KMBOX_F_NONBLOCK, 0))
			return -1;
	return 0;
}

struct lb {
	struct kmbox_mmsg m[8];
	char buf[8][16];
	__u64 tags[8];
	struct kmbox_batchx x;
};

/* Point @n entries of @b at its buffers and fill in the argument. */
static void lb_prep(struct lb *b, unsigned int n, __u32 flags)
{
	unsigned int i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < n; i++) {
		b->m[i].buf = KT_PTR(b->buf[i]);
		b->m[i].len = sizeof(b->buf[i]);
	}
	b->x.b.msgs = KT_PTR(b->m);
	b->x.b.count = n;
	b->x.b.flags = flags;
	if (flags & KMBOX_F_TAG)
		b->x.b.tags = KT_PTR(b->tags);
}

static __u64 lost_all(const struct kmbox_loss *l)
{
	return l->dropped + l->rejected + l->replaced + l->expired;
}

/* Entry @i of @b holds "m<n>". */
static int lb_is(const struct lb *b, unsigned int i, unsigned int n)
{
	char want[16];
	int len = sprintf(want, "m%u", n);

	return b->m[i].len == (__u32)len && !memcmp(b->buf[i], want, len);
}

TEST(info_reports_batch_loss)
{
	struct kmbox_info info;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_TRUE(info.features & KMBOX_FEAT_BATCH_LOSS);
	close(fd);
}

TEST(a_batch_reports_exactly_the_drops_once)
{
	struct kmbox_recvx rx;
	struct lb b;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = lanon(O_RDWR | O_NONBLOCK, 4, 0);
	ASSERT_GE(fd, 0);
	/* 4 fit, then 7 more: m1..m7 dropped, m8..m11 queued */
	ASSERT_EQ(0, lsend(fd, 1, 11));
	lb_prep(&b, 2, 0);
	ASSERT_EQ(2, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_TRUE(lb_is(&b, 0, 8));
	EXPECT_TRUE(lb_is(&b, 1, 9));
	EXPECT_EQ(7, b.x.lost.dropped);
	EXPECT_EQ(0, b.x.lost.rejected + b.x.lost.replaced + b.x.lost.expired);
	/* the kernel never rewrites the batch itself */
	EXPECT_EQ(KT_PTR(b.m), b.x.b.msgs);
	EXPECT_EQ(2, b.x.b.count);
	/* once: neither the next batch nor a RECVX hears of them again */
	lb_prep(&b, 1, 0);
	memset(&b.x.lost, 0xa5, sizeof(b.x.lost));	/* the kernel writes it */
	ASSERT_EQ(1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_TRUE(lb_is(&b, 0, 10));
	EXPECT_EQ(0, lost_all(&b.x.lost));
	memset(&rx, 0, sizeof(rx));
	rx.r.buf = KT_PTR(buf);
	rx.r.len = sizeof(buf);
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_RECVX, &rx) < 0 ? -1 : 0);
	EXPECT_EQ(0, memcmp(buf, "m11", 3));
	EXPECT_EQ(0, lost_all(&rx.lost));
	/* empty: EAGAIN, and the losses of later drops wait for a message */
	lb_prep(&b, 4, 0);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EAGAIN, errno);
	close(fd);
}

TEST(plain_receives_leave_the_losses_for_a_batch_and_a_recvx_takes_them)
{
	struct kmbox_batch pb;
	struct kmbox_recvx rx;
	struct lb b;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = lanon(O_RDWR | O_NONBLOCK, 2, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, lsend(fd, 1, 5));		/* m1..m3 dropped */
	/* the old batch: its argument is untouched, and no loss is taken */
	lb_prep(&b, 1, 0);
	pb = b.x.b;
	ASSERT_EQ(1, ioctl(fd, KMBOX_IOC_RECV_BATCH, &pb));
	EXPECT_EQ(0, memcmp(&pb, &b.x.b, sizeof(pb)));
	EXPECT_TRUE(lb_is(&b, 0, 4));
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));	/* m5 */
	ASSERT_EQ(0, lsend(fd, 6, 9));		/* m6, m7 dropped */
	lb_prep(&b, 8, 0);
	ASSERT_EQ(2, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_TRUE(lb_is(&b, 0, 8));
	EXPECT_TRUE(lb_is(&b, 1, 9));
	EXPECT_EQ(5, b.x.lost.dropped);
	/* and the other way round: a RECVX takes what no batch reported */
	ASSERT_EQ(0, lsend(fd, 10, 13));	/* m10, m11 dropped */
	memset(&rx, 0, sizeof(rx));
	rx.r.buf = KT_PTR(buf);
	rx.r.len = sizeof(buf);
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_RECVX, &rx) < 0 ? -1 : 0);
	EXPECT_EQ(2, rx.lost.dropped);
	lb_prep(&b, 8, 0);
	ASSERT_EQ(1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_TRUE(lb_is(&b, 0, 13));
	EXPECT_EQ(0, lost_all(&b.x.lost));
	close(fd);
}

TEST(the_library_call_reports_the_same)
{
	struct kmbox_mmsg m[4];
	struct kmbox_loss lost;
	char bufs[4][16];
	unsigned int i;
	int fd;

	KT_REQUIRE_MODULE();
	fd = lanon(O_RDWR | O_NONBLOCK, 3, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, lsend(fd, 1, 8));		/* 5 dropped */
	for (i = 0; i < 4; i++)
		kmbox_mmsg_prep(&m[i], bufs[i], sizeof(bufs[i]), 0);
	/* bad input: nothing taken */
	EXPECT_EQ(-1, kmbox_receive_batch_lost(fd, m, 4, 0, NULL, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, kmbox_receive_batch_lost(fd, m, 0, 0, NULL, &lost));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(3, kt_cur_msgs(fd));
	memset(&lost, 0xa5, sizeof(lost));
	ASSERT_EQ(3, kmbox_receive_batch_lost(fd, m, 4, 0, NULL, &lost));
	EXPECT_EQ(5, lost.dropped);
	EXPECT_EQ(0, lost.rejected + lost.replaced + lost.expired);
	EXPECT_EQ(0, memcmp(bufs[0], "m6", 2));
	EXPECT_EQ(0, memcmp(bufs[2], "m8", 2));
	close(fd);
}

TEST(zero_copy_batches_report_losses_too)
{
	struct kmbox_attr a;
	struct kmbox_send s;
	uint32_t slot[4];
	struct lb b;
	unsigned int i;
	int fd;

	KT_REQUIRE_MODULE();
	fd = lanon(O_RDWR | O_NONBLOCK, 2, 4);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(4, kmbox_zc_reserve(fd, slot, 4, 0, NULL));
	memset(&s, 0, sizeof(s));
	s.len = 8;
	s.flags = KMBOX_F_ZC;
	for (i = 0; i < 4; i++) {	/* the first two are dropped */
		s.slot = slot[i];
		ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));
	}
	lb_prep(&b, 4, KMBOX_F_ZC);
	ASSERT_EQ(2, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(2, b.x.lost.dropped);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(KMBOX_MSG_ZC, b.m[i].flags);
		EXPECT_EQ(slot[2 + i], b.m[i].slot);
		EXPECT_EQ(8, b.m[i].len);
	}
	ASSERT_EQ(0, kmbox_zc_release(fd, slot + 2, 2));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(4, a.zc_free);
	close(fd);
}

/*
 * A fault anywhere the batch writes puts back the messages and the
 * losses: the next loss-reporting receive reports them, once.
 */
TEST(a_fault_puts_back_messages_and_losses)
{
	struct kmbox_batchx *rox;
	struct kmbox_mmsg *roents;
	char *ro, *none;
	struct lb b;
	int fd;

	KT_REQUIRE_MODULE();
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rox = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	roents = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_NE(MAP_FAILED, rox);
	ASSERT_NE(MAP_FAILED, roents);
	fd = lanon(O_RDWR | O_NONBLOCK, 2, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, lsend(fd, 1, 5));		/* m1..m3 dropped */

	/*
	 * The argument read-only, entries and buffers writable: the batch
	 * takes and copies out both messages, then cannot write the losses.
	 */
	lb_prep(&b, 2, 0);
	memcpy(rox, &b.x, sizeof(b.x));
	ASSERT_EQ(0, mprotect(rox, 4096, PROT_READ));
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, rox));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(2, kt_cur_msgs(fd));
	/* the argument unmapped */
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, none));
	EXPECT_EQ(EFAULT, errno);
	/* the entries read-only (valid ones) */
	lb_prep(&b, 2, 0);
	memcpy(roents, b.m, sizeof(b.m));
	ASSERT_EQ(0, mprotect(roents, 4096, PROT_READ));
	b.x.b.msgs = KT_PTR(roents);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EFAULT, errno);
	/* the first payload buffer read-only */
	lb_prep(&b, 2, 0);
	b.m[0].buf = KT_PTR(ro);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EFAULT, errno);
	/* the tags read-only */
	lb_prep(&b, 2, KMBOX_F_TAG);
	b.x.b.tags = KT_PTR(ro);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(2, kt_cur_msgs(fd));

	/* all of it is still there, reported once */
	lb_prep(&b, 1, KMBOX_F_TAG);
	ASSERT_EQ(1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_TRUE(lb_is(&b, 0, 4));
	EXPECT_EQ(3, b.x.lost.dropped);
	/* a fault on a later entry: the first is delivered, with the losses */
	ASSERT_EQ(0, lsend(fd, 6, 8));		/* m5, m6 dropped */
	lb_prep(&b, 2, 0);
	b.m[1].buf = KT_PTR(ro);
	ASSERT_EQ(1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_TRUE(lb_is(&b, 0, 7));
	EXPECT_EQ(2, b.x.lost.dropped);
	lb_prep(&b, 2, 0);
	ASSERT_EQ(1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_TRUE(lb_is(&b, 0, 8));
	EXPECT_EQ(0, lost_all(&b.x.lost));
	munmap(rox, 4096);
	munmap(roents, 4096);
	munmap(ro, 4096);
	munmap(none, 4096);
	close(fd);
}

TEST(bad_input_is_einval_and_takes_nothing)
{
	struct lb b;
	int fd, wfd;

	KT_REQUIRE_MODULE();
	fd = lanon(O_RDWR | O_NONBLOCK, 2, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, lsend(fd, 1, 3));		/* m1 dropped */
	lb_prep(&b, 2, 0);
	b.x.__reserved[0] = 1;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EINVAL, errno);
	lb_prep(&b, 2, 0);
	b.x.__reserved[1] = 1ULL << 63;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EINVAL, errno);
	lb_prep(&b, 0, 0);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EINVAL, errno);
	lb_prep(&b, 2, KMBOX_F_SYNC);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EINVAL, errno);
	lb_prep(&b, 2, KMBOX_F_CALLS);		/* no token array */
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EINVAL, errno);
	lb_prep(&b, 2, 0);
	b.x.b.count = KMBOX_BATCH_MAX + 1;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EINVAL, errno);
	/* a file not open for reading */
	wfd = ioctl(fd, KMBOX_IOC_REOPEN, &(struct kmbox_reopen){ .flags = O_WRONLY });
	ASSERT_GE(wfd, 0);
	lb_prep(&b, 2, 0);
	EXPECT_EQ(-1, ioctl(wfd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(EBADF, errno);
	close(wfd);
	EXPECT_EQ(2, kt_cur_msgs(fd));
	lb_prep(&b, 2, 0);
	ASSERT_EQ(2, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
	EXPECT_EQ(1, b.x.lost.dropped);
	close(fd);
}

/* ---- the attacker ------------------------------------------------------ */

struct racer {
	int fd;
	unsigned int n;		/* entries per batch */
	unsigned long got, lost, calls;
	int stop;
};

static void *batchx_fn(void *p)
{
	struct racer *rc = p;
	struct lb b;
	int ret;

	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
		lb_prep(&b, rc->n, 0);
		ret = ioctl(rc->fd, KMBOX_IOC_RECV_BATCHX, &b.x);
		if (ret < 0)
			continue;
		rc->calls++;
		rc->got += (unsigned long)ret;
		rc->lost += b.x.lost.dropped;
	}
	return NULL;
}

/*
 * Threads sharing one file, batches of 1, 3 and 8: each loss is reported
 * to exactly one of them, and sent = received + dropped + queued.  The
 * sends stop at 20000 or after 15 s, whichever comes first: the harness
 * gives a test 30 s, and on a debug kernel the sender, blocked whenever
 * a batch holds every message in flight, may not get through 20000 in
 * time (the faster the receivers, the more often it waits).
 */
TEST(threads_sharing_a_file_hear_of_every_loss_once)
{
	static const unsigned int per[3] = { 1, 3, 8 };
	struct racer rc[3];
	pthread_t t[3];
	struct kmbox_qos q;
	struct lb b;
	unsigned long got = 0, lost = 0, queued;
	unsigned int i, sent = 20000;
	uint64_t end;
	int fd, wfd;

	KT_REQUIRE_MODULE();
	fd = lanon(O_RDWR | O_NONBLOCK, 6, 0);
	ASSERT_GE(fd, 0);
	/*
	 * The sends go through a blocking file of their own: a batch of 8
	 * can hold all 6 messages in flight, and then drop-oldest has
	 * nothing to drop and the send waits (EAGAIN on fd, which is
	 * non-blocking for the receivers).
	 */
	wfd = ioctl(fd, KMBOX_IOC_REOPEN, &(struct kmbox_reopen){ .flags = O_WRONLY });
	ASSERT_GE(wfd, 0);
	for (i = 0; i < 3; i++) {
		rc[i] = (struct racer){ .fd = fd, .n = per[i] };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, batchx_fn, &rc[i]));
	}
	end = kt_deadline_ms(15000);
	for (i = 0; i < sent && (i % 256 || kt_now_ns() < end); i++)
		ASSERT_EQ(0, kt_send(wfd, "x", 1, i % 3, 0, 0));
	sent = i;
	for (i = 0; i < 3; i++)
		__atomic_store_n(&rc[i].stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		got += rc[i].got;
		lost += rc[i].lost;
	}
	queued = kt_cur_msgs(fd);
	memset(&q, 0, sizeof(q));
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_QOS, &q));
	EXPECT_EQ(sent, got + q.lost.dropped + queued);
	/* drops after the last batch go to the next one */
	if (queued) {
		lb_prep(&b, 8, 0);
		ASSERT_EQ((int)queued, ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x));
		lost += b.x.lost.dropped;
	}
	EXPECT_EQ(q.lost.dropped, lost);
	TH_LOG("%u sent, %lu received in %lu+%lu+%lu batches, %llu dropped", sent, got,
	       rc[0].calls, rc[1].calls, rc[2].calls, (unsigned long long)q.lost.dropped);
	close(wfd);
	close(fd);
}

/*
 * A receiver that sleeps in a batch on the shared file and is killed has
 * taken nothing: the losses wait for the next receive.  And a sleeper
 * that is handed its first message by a sender gets the losses with it.
 */
TEST(sigkill_of_a_sleeping_batch_consumes_nothing_and_a_handoff_reports)
{
	struct lb b;
	char buf[16];
	pid_t pid;
	int fd, ret;

	KT_REQUIRE_MODULE();
	fd = lanon(O_RDWR, 2, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, lsend(fd, 1, 6));		/* m1..m4 dropped */
	/* plain receives empty it; the losses stay unreported */
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		lb_prep(&b, 4, 0);
		ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x);
		_exit(1);		/* never reached: killed asleep */
	}
	ASSERT_EQ(0, kt_wait_waiters(fd, 1, 0, 10000));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(128 + SIGKILL, kt_wait(pid));
	ASSERT_EQ(0, kt_wait_waiters(fd, 0, 0, 10000));

	/* a sleeper handed a message: it reports the four */
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		lb_prep(&b, 4, 0);
		ret = ioctl(fd, KMBOX_IOC_RECV_BATCHX, &b.x);
		CHILD_ASSERT(ret == 1);
		CHILD_ASSERT(lb_is(&b, 0, 7));
		CHILD_ASSERT(b.x.lost.dropped == 4);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(fd, 1, 0, 10000));
	ASSERT_EQ(0, lsend(fd, 7, 7));
	ASSERT_EQ(0, kt_wait(pid));
	close(fd);
}

TEST_HARNESS_MAIN
