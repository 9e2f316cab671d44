// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox overflow policies (struct kmbox_qos): block, drop-oldest, reject,
 * replace-by-tag; the loss counts (KMBOX_IOC_QOS totals, KMBOX_IOC_RECVX in
 * band); the urgent lane (urgent room, EPOLLPRI, SIGURG).
 *
 * The differential test runs seeded random mixes of sends (plain, tagged,
 * batched), receives, receives by tag, peeks, batch receives and
 * loss-reporting receives (single and batch)
 * against a reference model of each policy written here, and wants the
 * same answers and the same counters from both at every step.  The rest are
 * the edges: zero-copy slots and synchronous senders and callers whose
 * message is dropped or replaced, faulting argument pages, threads sharing
 * a file, SIGKILL, an unprivileged creator in fresh user+IPC namespaces.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

/* An anonymous mailbox with policy @policy and urgent lane @uprio/@room. */
static int qanon(int oflags, __u32 max_msgs, __u32 msgsize, __u32 policy, __u32 uprio,
		 __u32 room)
{
	struct kmbox_qos q = { .policy = policy, .urgent_prio = uprio, .urgent_room = room };
	struct kmbox_attr a;

	kt_attr_init(&a, max_msgs, msgsize);
	return kt_anon_qos(oflags, &a, &q);
}

static int qsend(int fd, const void *buf, __u32 len, __u32 prio, __u64 tag, __u32 flags)
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

/* KMBOX_IOC_RECVX: returns the length or -1; @x gets everything. */
static int qrecvx(int fd, void *buf, __u32 len, __u32 flags, __u64 tag, struct kmbox_recvx *x)
{
	memset(x, 0, sizeof(*x));
	x->r.buf = KT_PTR(buf);
	x->r.len = len;
	x->r.flags = flags;
	if (flags & KMBOX_F_MATCH) {
		x->r.tag = tag;
		x->r.match_mask = ~0ULL;
	}
	return ioctl(fd, KMBOX_IOC_RECVX, x) < 0 ? -1 : (int)x->r.len;
}

static int qqos(int fd, struct kmbox_qos *q)
{
	memset(q, 0xa5, sizeof(*q));	/* the kernel must fill every field */
	return ioctl(fd, KMBOX_IOC_QOS, q);
}

/* The message numbered @n: "m<n>". */
static int msgn(char *buf, unsigned int n)
{
	return sprintf(buf, "m%u", n);
}

TEST(info_reports_the_features)
{
	struct kmbox_info info;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_TRUE(info.features & KMBOX_FEAT_POLICY);
	EXPECT_TRUE(info.features & KMBOX_FEAT_URGENT);
	EXPECT_TRUE(info.features & KMBOX_FEAT_EXPIRY);
	close(fd);
}

TEST(bad_qos_is_einval_and_creates_nothing)
{
	struct kmbox_qos q;
	struct kmbox_attr a;
	struct kmbox_open op;
	char name[64];
	void *none;
	int fd, owner;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "badqos");
	kt_attr_init(&a, 4, 16);
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	memset(&op, 0, sizeof(op));
	op.name = KT_PTR(name);
	op.attr = KT_PTR(&a);
	op.flags = KMBOX_OPEN_CREAT;
	op.mode = 0600;
	op.qos = KT_PTR(&q);

#define BAD(field, val, err) do {					\
		memset(&q, 0, sizeof(q));				\
		q.field = (val);					\
		EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_OPEN, &op));		\
		EXPECT_EQ(err, errno) TH_LOG(#field " = " #val);	\
	} while (0)
	BAD(policy, KMBOX_POLICY_REPLACE + 1, EINVAL);
	BAD(policy, 0xffffffffu, EINVAL);
	BAD(__pad, 1, EINVAL);
	BAD(ttl_ns, (__u64)INT64_MAX + 1, EINVAL);
	BAD(__reserved[3], 1, EINVAL);
	BAD(urgent_prio, KMBOX_PRIO_MAX, EINVAL);
	BAD(urgent_room, 1, EINVAL);		/* room without an urgent lane */
	memset(&q, 0, sizeof(q));
	q.urgent_prio = 5;
	q.urgent_room = 4;			/* all of max_msgs */
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_OPEN, &op));
	EXPECT_EQ(EINVAL, errno);
	/* a rendezvous mailbox buffers nothing to drop */
	memset(&q, 0, sizeof(q));
	q.policy = KMBOX_POLICY_DROP_OLDEST;
	a.flags = KMBOX_ATTR_RENDEZVOUS;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_OPEN, &op));
	EXPECT_EQ(EINVAL, errno);
	a.flags = 0;
	/* the argument unmapped */
	none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	op.qos = KT_PTR(none);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_OPEN, &op));
	EXPECT_EQ(EFAULT, errno);
	/* nothing was created by any of them */
	EXPECT_EQ(-1, kt_open(name, O_RDWR, 0, 0, 0, 0));
	EXPECT_EQ(ENOENT, errno);

	/* qos without CREAT or ANON: EINVAL, even for a good one */
	owner = kt_create(name, O_RDWR, 0600, 4, 16);
	ASSERT_GE(owner, 0);
	memset(&q, 0, sizeof(q));
	op.qos = KT_PTR(&q);
	op.flags = 0;
	op.attr = 0;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_OPEN, &op));
	EXPECT_EQ(EINVAL, errno);
	/* with CREAT of the existing name: checked, then ignored */
	op.flags = KMBOX_OPEN_CREAT;
	q.policy = 99;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_OPEN, &op));
	EXPECT_EQ(EINVAL, errno);
	q.policy = KMBOX_POLICY_REJECT;
	EXPECT_EQ(0, ioctl(fd, KMBOX_IOC_OPEN, &op));
	EXPECT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(KMBOX_POLICY_BLOCK, q.policy);
	munmap(none, 4096);
	close(fd);
	close(owner);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(qos_reads_back_what_was_created)
{
	struct kmbox_qos q;
	unsigned int i;
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDONLY, 8, 16, KMBOX_POLICY_REPLACE, 7, 3);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(KMBOX_POLICY_REPLACE, q.policy);
	EXPECT_EQ(7, q.urgent_prio);
	EXPECT_EQ(3, q.urgent_room);
	EXPECT_EQ(0, q.__pad);
	EXPECT_EQ(0, q.ttl_ns);
	EXPECT_EQ(0, q.lost.dropped + q.lost.rejected + q.lost.replaced + q.lost.expired);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, q.__reserved[i]);
	close(fd);
	/* no qos: block, no lane */
	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(KMBOX_POLICY_BLOCK, q.policy);
	EXPECT_EQ(0, q.urgent_prio);
	EXPECT_EQ(0, q.urgent_room);
	close(fd);
}

TEST(drop_oldest_always_succeeds_and_reports_the_gap)
{
	struct kmbox_recvx x;
	struct kmbox_qos q;
	char buf[16], want[16];
	unsigned int i;
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR, 4, 16, KMBOX_POLICY_DROP_OLDEST, 0, 0);
	ASSERT_GE(fd, 0);
	/* blocking sends: they would hang with BLOCK */
	for (i = 1; i <= 7; i++)
		ASSERT_EQ(0, qsend(fd, buf, msgn(buf, i), 0, 0, 0));
	EXPECT_EQ(4, kt_cur_msgs(fd));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(3, q.lost.dropped);
	ASSERT_EQ(2, qrecvx(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &x));
	EXPECT_EQ(0, memcmp(buf, "m4", 2));
	EXPECT_EQ(3, x.lost.dropped);
	EXPECT_EQ(0, x.lost.rejected + x.lost.replaced + x.lost.expired);
	/* reported once */
	ASSERT_EQ(2, qrecvx(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &x));
	EXPECT_EQ(0, memcmp(buf, "m5", 2));
	EXPECT_EQ(0, x.lost.dropped);
	/* a plain receive leaves the report for the next RECVX */
	ASSERT_EQ(0, qsend(fd, buf, msgn(buf, 8), 0, 0, 0));
	ASSERT_EQ(0, qsend(fd, buf, msgn(buf, 9), 0, 0, 0));
	ASSERT_EQ(0, qsend(fd, buf, msgn(buf, 10), 0, 0, 0));	/* drops m6 */
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(0, memcmp(buf, "m7", 2));
	ASSERT_EQ(2, qrecvx(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &x));
	EXPECT_EQ(0, memcmp(buf, "m8", 2));
	EXPECT_EQ(1, x.lost.dropped);
	for (i = 9; i <= 10; i++) {
		int n = msgn(want, i);

		ASSERT_EQ(n, qrecvx(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &x));
		EXPECT_EQ(0, memcmp(buf, want, n));
	}
	close(fd);
}

TEST(drop_oldest_takes_the_lowest_priority_and_never_a_higher_one)
{
	struct kmbox_recv r;
	struct kmbox_qos q;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR | O_NONBLOCK, 4, 16, KMBOX_POLICY_DROP_OLDEST, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, qsend(fd, "a5", 2, 5, 0, 0));
	ASSERT_EQ(0, qsend(fd, "b1", 2, 1, 0, 0));
	ASSERT_EQ(0, qsend(fd, "c1", 2, 1, 0, 0));
	ASSERT_EQ(0, qsend(fd, "d5", 2, 5, 0, 0));
	/* full: the oldest of priority 1 goes */
	ASSERT_EQ(0, qsend(fd, "e3", 2, 3, 0, 0));
	/* lower than everything queued: it is the one dropped, and succeeds */
	ASSERT_EQ(0, qsend(fd, "f0", 2, 0, 0, 0));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(2, q.lost.dropped);
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "a5", 2));
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "d5", 2));
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "e3", 2));
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "c1", 2));
	EXPECT_EQ(-1, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(EAGAIN, errno);
	close(fd);
}

TEST(reject_fails_at_once_even_blocking_and_counts)
{
	struct kmbox_mmsg m[3];
	struct kmbox_batch b;
	struct kmbox_recvx x;
	struct kmbox_qos q;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR, 2, 16, KMBOX_POLICY_REJECT, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, qsend(fd, "a", 1, 0, 0, 0));
	ASSERT_EQ(0, qsend(fd, "b", 1, 0, 0, 0));
	/* blocking, no deadline: EAGAIN at once */
	EXPECT_EQ(-1, qsend(fd, "c", 1, 0, 0, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, write(fd, "d", 1));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(1, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ('a', buf[0]);
	EXPECT_EQ(2, x.lost.rejected);
	EXPECT_EQ(0, x.lost.dropped);
	/* a batch of three into room for one: one sent, two refused */
	memset(m, 0, sizeof(m));
	m[0].buf = KT_PTR("x");
	m[1].buf = KT_PTR("y");
	m[2].buf = KT_PTR("z");
	m[0].len = m[1].len = m[2].len = 1;
	memset(&b, 0, sizeof(b));
	b.msgs = KT_PTR(m);
	b.count = 3;
	EXPECT_EQ(1, ioctl(fd, KMBOX_IOC_SEND_BATCH, &b));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(4, q.lost.rejected);
	EXPECT_EQ(2, kt_cur_msgs(fd));
	close(fd);
}

TEST(replace_by_tag_keeps_the_place_full_or_not)
{
	struct kmbox_recvx x;
	struct kmbox_qos q;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR, 3, 16, KMBOX_POLICY_REPLACE, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, qsend(fd, "A1", 2, 0, 1, 0));
	ASSERT_EQ(0, qsend(fd, "B1", 2, 0, 2, 0));
	ASSERT_EQ(0, qsend(fd, "A2", 2, 0, 1, 0));	/* not full: replaces A1 */
	ASSERT_EQ(0, qsend(fd, "C1", 2, 0, 3, 0));
	EXPECT_EQ(3, kt_cur_msgs(fd));
	ASSERT_EQ(0, qsend(fd, "B2", 2, 0, 2, 0));	/* full: replaces B1 */
	ASSERT_EQ(0, qsend(fd, "A3", 2, 0, 1, 0));
	EXPECT_EQ(3, kt_cur_msgs(fd));
	/* full, no namesake: as block */
	EXPECT_EQ(-1, qsend(fd, "D1", 2, 0, 4, KMBOX_F_NONBLOCK));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(3, q.lost.replaced);
	EXPECT_EQ(0, q.lost.rejected);
	ASSERT_EQ(2, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(0, memcmp(buf, "A3", 2));
	EXPECT_EQ(1, x.r.tag);
	EXPECT_EQ(3, x.lost.replaced);
	ASSERT_EQ(2, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(0, memcmp(buf, "B2", 2));
	ASSERT_EQ(2, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(0, memcmp(buf, "C1", 2));
	EXPECT_EQ(0, x.lost.replaced);
	close(fd);
}

TEST(each_file_hears_of_each_loss_once)
{
	struct kmbox_reopen ro = { .flags = O_RDWR | O_NONBLOCK };
	struct kmbox_recvx x;
	char buf[16];
	int fd, fd2, i;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR | O_NONBLOCK, 2, 16, KMBOX_POLICY_DROP_OLDEST, 0, 0);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 4; i++)		/* two dropped before fd2 exists */
		ASSERT_EQ(0, qsend(fd, "x", 1, 0, 0, 0));
	fd2 = ioctl(fd, KMBOX_IOC_REOPEN, &ro);
	ASSERT_GE(fd2, 0);
	ASSERT_EQ(0, qsend(fd, "y", 1, 0, 0, 0));	/* a third */
	ASSERT_EQ(1, qrecvx(fd2, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(1, x.lost.dropped);		/* since fd2 was opened */
	ASSERT_EQ(1, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(3, x.lost.dropped);
	close(fd2);
	close(fd);
}

TEST(a_fault_puts_message_and_losses_back)
{
	struct kmbox_recvx x, *rox;
	char *ro, *none, buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, none);
	fd = qanon(O_RDWR | O_NONBLOCK, 1, 16, KMBOX_POLICY_DROP_OLDEST, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, qsend(fd, "a", 1, 0, 0, 0));
	ASSERT_EQ(0, qsend(fd, "b", 1, 0, 0, 0));
	/* the payload buffer unwritable */
	EXPECT_EQ(-1, qrecvx(fd, ro, 16, 0, 0, &x));
	EXPECT_EQ(EFAULT, errno);
	/* the argument itself read-only: readable, so taken, then put back */
	memset(&x, 0, sizeof(x));
	x.r.buf = KT_PTR(buf);
	x.r.len = sizeof(buf);
	rox = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, rox);
	memcpy(rox, &x, sizeof(x));
	ASSERT_EQ(0, mprotect(rox, 4096, PROT_READ));
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECVX, rox));
	EXPECT_EQ(EFAULT, errno);
	/* the argument unmapped */
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECVX, none));
	EXPECT_EQ(EFAULT, errno);
	/* reserved field */
	memset(&x, 0, sizeof(x));
	x.r.buf = KT_PTR(buf);
	x.r.len = sizeof(buf);
	x.__reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECVX, &x));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, kt_cur_msgs(fd));
	/* all of it is still there */
	ASSERT_EQ(1, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ('b', buf[0]);
	EXPECT_EQ(1, x.lost.dropped);
	munmap(rox, 4096);
	munmap(ro, 4096);
	munmap(none, 4096);
	close(fd);
}

TEST(peek_through_recvx_reports_and_takes_no_loss)
{
	struct kmbox_recvx x;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR | O_NONBLOCK, 1, 16, KMBOX_POLICY_DROP_OLDEST, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, qsend(fd, "a", 1, 0, 0, 0));
	ASSERT_EQ(0, qsend(fd, "b", 1, 0, 0, 0));
	memset(&x, 0x5a, sizeof(x.lost) + sizeof(x.r));
	ASSERT_EQ(1, qrecvx(fd, buf, sizeof(buf), KMBOX_F_PEEK, 0, &x));
	EXPECT_EQ(0, x.lost.dropped);
	ASSERT_EQ(1, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(1, x.lost.dropped);
	close(fd);
}

/* ---- zero-copy, synchronous and call messages dropped ------------------ */

TEST(a_dropped_zero_copy_message_frees_its_slot)
{
	struct kmbox_qos q = { .policy = KMBOX_POLICY_DROP_OLDEST };
	struct kmbox_attr a;
	struct kmbox_open op;
	struct kmbox_send s;
	struct kmbox_recvx x;
	uint32_t slot[2];
	char buf[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_attr_init(&a, 1, 64);
	a.zc_slots = 2;
	a.zc_slot_size = 64;
	fd = kt_dev(O_RDWR | O_NONBLOCK);
	ASSERT_GE(fd, 0);
	memset(&op, 0, sizeof(op));
	op.attr = KT_PTR(&a);
	op.flags = KMBOX_OPEN_ANON;
	op.qos = KT_PTR(&q);
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_OPEN, &op));
	ASSERT_EQ(2, kmbox_zc_reserve(fd, slot, 2, 0, NULL));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.zc_free);
	memset(&s, 0, sizeof(s));
	s.len = 4;
	s.slot = slot[0];
	s.flags = KMBOX_F_ZC;
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));
	s.slot = slot[1];
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));	/* drops the first */
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(1, a.zc_free);
	EXPECT_EQ(1, a.zc_completed);
	/* the freed slot can be reserved again, and it is slot[0] */
	ASSERT_EQ(1, kmbox_zc_reserve(fd, slot, 1, 0, NULL));
	EXPECT_EQ(0, kmbox_zc_release(fd, slot, 1));
	ASSERT_EQ(4, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(1, x.lost.dropped);
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(2, a.zc_free);
	EXPECT_EQ(2, a.zc_completed);
	close(fd);
}

struct waiter {
	int fd;
	int call;
	int ret;
	int err;
	char reply[16];
};

static void *waiter_fn(void *p)
{
	struct waiter *w = p;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 20;
	if (w->call)
		w->ret = kmbox_call(w->fd, "call", 4, 0, w->reply, sizeof(w->reply), NULL, &ts);
	else
		w->ret = kmbox_send_sync(w->fd, "sync", 4, 0, &ts);
	w->err = errno;
	return NULL;
}

/* Wait until @fd's mailbox holds @n messages (the waiters queued). */
static int wait_msgs(int fd, long n)
{
	int i;

	for (i = 0; i < 2000; i++) {
		if (kt_cur_msgs(fd) == n)
			return 0;
		kt_sleep_ms(5);
	}
	return -1;
}

TEST(a_dropped_sync_send_or_call_fails_with_enobufs)
{
	struct waiter s, c;
	pthread_t t1, t2;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR, 2, 16, KMBOX_POLICY_DROP_OLDEST, 0, 0);
	ASSERT_GE(fd, 0);
	s = (struct waiter){ .fd = fd };
	c = (struct waiter){ .fd = fd, .call = 1 };
	ASSERT_EQ(0, pthread_create(&t1, NULL, waiter_fn, &s));
	ASSERT_EQ(0, wait_msgs(fd, 1));
	ASSERT_EQ(0, pthread_create(&t2, NULL, waiter_fn, &c));
	ASSERT_EQ(0, wait_msgs(fd, 2));
	/* two more push both out */
	ASSERT_EQ(0, qsend(fd, "n1", 2, 0, 0, 0));
	ASSERT_EQ(0, qsend(fd, "n2", 2, 0, 0, 0));
	ASSERT_EQ(0, pthread_join(t1, NULL));
	ASSERT_EQ(0, pthread_join(t2, NULL));
	EXPECT_EQ(-1, s.ret);
	EXPECT_EQ(ENOBUFS, s.err);
	EXPECT_EQ(-1, c.ret);
	EXPECT_EQ(ENOBUFS, c.err);
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(0, memcmp(buf, "n1", 2));
	close(fd);
}

TEST(a_replaced_call_fails_with_enobufs)
{
	struct waiter c;
	struct kmbox_call kc;
	pthread_t t;
	char buf[16], reply[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR, 4, 16, KMBOX_POLICY_REPLACE, 0, 0);
	ASSERT_GE(fd, 0);
	/* a call with tag 0 is replaced by a plain message with tag 0 */
	c = (struct waiter){ .fd = fd, .call = 1 };
	ASSERT_EQ(0, pthread_create(&t, NULL, waiter_fn, &c));
	ASSERT_EQ(0, wait_msgs(fd, 1));
	ASSERT_EQ(0, qsend(fd, "new", 3, 0, 0, 0));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-1, c.ret);
	EXPECT_EQ(ENOBUFS, c.err);
	EXPECT_EQ(1, kt_cur_msgs(fd));
	ASSERT_EQ(3, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	/* a non-blocking call meanwhile is still only for a waiting receiver */
	memset(&kc, 0, sizeof(kc));
	kc.req = KT_PTR("q");
	kc.req_len = 1;
	kc.reply = KT_PTR(reply);
	kc.reply_len = sizeof(reply);
	kc.flags = KMBOX_F_NONBLOCK;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_CALL, &kc));
	EXPECT_EQ(EAGAIN, errno);
	close(fd);
}

/* ---- the urgent lane --------------------------------------------------- */

TEST(urgent_room_is_kept_while_full)
{
	struct kmbox_recv r;
	char buf[16];
	int fd, i;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR | O_NONBLOCK, 4, 16, KMBOX_POLICY_BLOCK, 10, 1);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, qsend(fd, "n", 1, 9, 0, 0));
	/* full for priority 9 */
	EXPECT_EQ(-1, qsend(fd, "n", 1, 9, 0, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, write(fd, "w", 1));
	EXPECT_EQ(EAGAIN, errno);
	/* an urgent one overtakes */
	ASSERT_EQ(0, qsend(fd, "U", 1, 10, 0, 0));
	EXPECT_EQ(4, kt_cur_msgs(fd));
	EXPECT_EQ(-1, qsend(fd, "V", 1, 11, 0, 0));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ('U', buf[0]);
	EXPECT_EQ(10, r.prio);
	close(fd);
}

TEST(a_blocked_urgent_sender_gets_the_urgent_room)
{
	struct kmbox_send s;
	char buf[16];
	pid_t pid;
	int fd, i;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR, 3, 16, KMBOX_POLICY_BLOCK, 5, 1);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, qsend(fd, "n", 1, 0, 0, 0));
	ASSERT_EQ(0, qsend(fd, "U", 1, 5, 0, 0));	/* now completely full */
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* a normal sender waits first, then an urgent one */
		if (fork() == 0) {
			memset(&s, 0, sizeof(s));
			s.buf = KT_PTR("N");
			s.len = 1;
			_exit(ioctl(fd, KMBOX_IOC_SEND, &s) ? 1 : 0);
		}
		kt_sleep_ms(100);
		CHILD_ASSERT(qsend(fd, "V", 1, 6, 0, 0) == 0);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(fd, 0, 2, 5000));
	/* taking the urgent one frees urgent room only: the urgent sender goes */
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ('U', buf[0]);
	EXPECT_EQ(0, kt_wait(pid));
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ('V', buf[0]);
	/* now room for the normal one */
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(0, kt_wait_waiters(fd, 0, 0, 5000));
	close(fd);
	while (wait(NULL) > 0)
		;
}

static volatile sig_atomic_t got_pri, got_in, got_io;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code == POLL_PRI && (si->si_band & POLLPRI))
		got_pri++;
	else if (si->si_code == POLL_IN)
		got_in++;
}

static void on_io(int sig)
{
	(void)sig;
	got_io++;
}

TEST(epollpri_level_and_edge_and_sigurg)
{
	struct epoll_event ev, out[2];
	struct sigaction sa;
	struct pollfd pfd;
	struct timeval tv = { 0, 0 };
	fd_set ex;
	char buf[16];
	int fd, lt, et, i;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR | O_NONBLOCK, 8, 16, KMBOX_POLICY_BLOCK, 10, 2);
	ASSERT_GE(fd, 0);
	lt = epoll_create1(EPOLL_CLOEXEC);
	et = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(lt, 0);
	ASSERT_GE(et, 0);
	ev.events = EPOLLPRI;
	ev.data.fd = fd;
	ASSERT_EQ(0, epoll_ctl(lt, EPOLL_CTL_ADD, fd, &ev));
	ev.events = EPOLLPRI | EPOLLET;
	ASSERT_EQ(0, epoll_ctl(et, EPOLL_CTL_ADD, fd, &ev));

	ASSERT_EQ(0, qsend(fd, "n", 1, 3, 0, 0));
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN | POLLPRI };
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN, pfd.revents);
	EXPECT_EQ(0, epoll_wait(lt, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));

	/* O_ASYNC without F_SETSIG: SIGIO, once per message, urgent or not */
	ASSERT_EQ(0, kt_sigaction(SIGIO, on_io, 0));
	ASSERT_EQ(0, fcntl(fd, F_SETOWN, getpid()));
	ASSERT_EQ(0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC));
	got_io = 0;
	ASSERT_EQ(0, qsend(fd, "U", 1, 12, 0, 0));
	EXPECT_EQ(1, got_io);
	/* with F_SETSIG: the urgent message adds one with POLL_PRI */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGRTMIN + 1, &sa, NULL));
	ASSERT_EQ(0, fcntl(fd, F_SETSIG, SIGRTMIN + 1));
	got_pri = got_in = 0;
	ASSERT_EQ(0, qsend(fd, "n", 1, 3, 0, 0));
	EXPECT_EQ(0, got_pri);
	EXPECT_EQ(1, got_in);
	ASSERT_EQ(0, qsend(fd, "W", 1, 10, 0, 0));
	EXPECT_EQ(1, got_pri);
	EXPECT_EQ(2, got_in);
	ASSERT_EQ(0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_ASYNC));
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ('U', buf[0]);
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ('W', buf[0]);
	/* forget the edges of the earlier ones; a new urgent message */
	epoll_wait(et, out, 2, 0);
	ASSERT_EQ(0, qsend(fd, "U", 1, 12, 0, 0));

	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN | POLLPRI, pfd.revents);
	FD_ZERO(&ex);
	FD_SET(fd, &ex);
	EXPECT_EQ(1, select(fd + 1, NULL, NULL, &ex, &tv));
	EXPECT_TRUE(FD_ISSET(fd, &ex));
	/* level: again and again; edge: once */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(1, epoll_wait(lt, out, 2, 0));
		EXPECT_TRUE(out[0].events & EPOLLPRI);
	}
	ASSERT_EQ(1, epoll_wait(et, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	/* a second urgent message is a new edge */
	ASSERT_EQ(0, qsend(fd, "V", 1, 11, 0, 0));
	EXPECT_EQ(1, epoll_wait(et, out, 2, 0));
	/* the urgent ones taken: no more EPOLLPRI, though messages remain */
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ('U', buf[0]);
	EXPECT_EQ(1, epoll_wait(lt, out, 2, 0));
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ('V', buf[0]);
	EXPECT_EQ(0, epoll_wait(lt, out, 2, 0));
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN, pfd.revents);
	FD_ZERO(&ex);
	FD_SET(fd, &ex);
	EXPECT_EQ(0, select(fd + 1, NULL, NULL, &ex, &tv));
	close(lt);
	close(et);
	close(fd);
}

struct poller {
	int fd;
	int ret;
	short revents;
};

static void *poll_fn(void *p)
{
	struct poller *pl = p;
	struct pollfd pfd = { .fd = pl->fd, .events = POLLPRI };

	pl->ret = poll(&pfd, 1, 20000);
	pl->revents = pfd.revents;
	return NULL;
}

TEST(a_sleeping_pri_poller_wakes_for_an_urgent_message_only)
{
	struct poller pl;
	pthread_t t;
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR | O_NONBLOCK, 8, 16, KMBOX_POLICY_DROP_OLDEST, 10, 0);
	ASSERT_GE(fd, 0);
	pl = (struct poller){ .fd = fd };
	ASSERT_EQ(0, pthread_create(&t, NULL, poll_fn, &pl));
	kt_sleep_ms(100);
	ASSERT_EQ(0, qsend(fd, "n", 1, 0, 0, 0));
	kt_sleep_ms(100);
	EXPECT_EQ(0, pl.ret);		/* still asleep */
	ASSERT_EQ(0, qsend(fd, "U", 1, 10, 0, 0));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(1, pl.ret);
	EXPECT_TRUE(pl.revents & POLLPRI);
	close(fd);
}

/* ---- the differential test -------------------------------------------- */

#define MODEL_MAX	64

struct mmsg {
	unsigned int prio;
	uint64_t seq;
	uint64_t tag;
	unsigned int id;
};

struct model {
	unsigned int policy, max, uprio, room;
	unsigned int n;
	struct mmsg q[MODEL_MAX];	/* in receive order */
	uint64_t seq;
	uint64_t dropped, rejected, replaced, expired;
	uint64_t seen_dropped, seen_rejected, seen_replaced, seen_expired;	/* RECVX's */
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

static int m_find_tag(const struct model *m, uint64_t tag)
{
	unsigned int i;

	for (i = 0; i < m->n; i++)
		if (m->q[i].tag == tag)
			return (int)i;
	return -1;
}

/* A send: 0, or -EAGAIN; @expired: its deadline has passed already. */
static int m_send(struct model *m, unsigned int prio, uint64_t tag, unsigned int id,
		  int expired)
{
	unsigned int limit = (m->uprio && prio >= m->uprio) ? m->max : m->max - m->room;
	struct mmsg e = { .prio = prio, .tag = tag, .id = id };
	int old = -1;

	if (expired) {
		m->seq++;
		m->expired++;
		return 0;
	}

	if (m->policy == KMBOX_POLICY_REPLACE)
		old = m_find_tag(m, tag);
	if (old >= 0) {
		e.seq = m->q[old].seq;
		m_remove(m, (unsigned int)old);
		m->replaced++;
		m_insert(m, e);
		return 0;
	}
	if (m->n >= limit) {
		switch (m->policy) {
		case KMBOX_POLICY_REJECT:
			m->rejected++;
			return -EAGAIN;
		case KMBOX_POLICY_DROP_OLDEST:
			while (m->n >= limit) {
				unsigned int low = m->q[m->n - 1].prio, i = m->n - 1;

				while (i > 0 && m->q[i - 1].prio == low)
					i--;
				if (low > prio) {
					m->seq++;
					m->dropped++;
					return 0;
				}
				m_remove(m, i);
				m->dropped++;
			}
			break;
		default:
			return -EAGAIN;
		}
	}
	e.seq = m->seq++;
	m_insert(m, e);
	return 0;
}

/* The index of the message a receive (by @tag if @match) takes, or -1. */
static int m_first(const struct model *m, int match, uint64_t tag)
{
	return match ? m_find_tag(m, tag) : (m->n ? 0 : -1);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void run_model(struct __test_metadata *_metadata, unsigned int policy, unsigned int uprio,
		      unsigned int room, uint64_t seed)
{
	unsigned int max = 1 + seed % 7 + (room ? room : 0), step, nextid = 1;
	struct model m = { .policy = policy, .max = max, .uprio = uprio, .room = room };
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	struct kmbox_qos q;
	int fd;

	fd = qanon(O_RDWR | O_NONBLOCK, max, 16, policy, uprio, room);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	for (step = 0; step < 600; step++) {
		unsigned int op = rnd(&x) % 100, prio = rnd(&x) % 4;
		uint64_t tag = rnd(&x) % 4;
		struct kmbox_recvx rx;
		char buf[16];
		int want, got, i;

		if (rnd(&x) % 5 == 0)
			prio += 8;	/* urgent, where there is a lane */
		if (op < 50) {
			unsigned int id = nextid++, ex = rnd(&x) % 10;
			struct kmbox_send s;

			/* 1 in 10 expired already, 1 in 10 expiring in an hour */
			i = sprintf(buf, "%u", id);
			want = m_send(&m, prio, tag, id, ex == 0);
			memset(&s, 0, sizeof(s));
			s.buf = KT_PTR(buf);
			s.len = i;
			s.prio = prio;
			s.flags = KMBOX_F_TAG | (ex < 2 ? KMBOX_F_EXPIRE : 0);
			s.tag = tag;
			if (ex == 0)
				s.expire_ns = rnd(&x) % 2 ? 1 : kt_now_ns();
			else if (ex == 1)
				s.expire_ns = kt_now_ns() + 3600ULL * 1000000000ULL;
			got = ioctl(fd, KMBOX_IOC_SEND, &s) ? -errno : 0;
			ASSERT_EQ(want, got) TH_LOG("seed %llu step %u send prio %u tag %llu",
						    (unsigned long long)seed, step, prio,
						    (unsigned long long)tag);
		} else if (op >= 70 && op < 80) {
			/* a batch of 1..3, RECV_BATCHX (losses in band) or RECV_BATCH */
			unsigned int k = 1 + prio % 3, j, take = m.n < k ? m.n : k;
			struct kmbox_mmsg me[3];
			struct kmbox_batchx bx;
			char bb[3][16];
			int ext = op % 2;

			memset(&bx, 0, sizeof(bx));
			memset(bb, 0, sizeof(bb));
			for (j = 0; j < k; j++)
				kmbox_mmsg_prep(&me[j], bb[j], sizeof(bb[j]), 0);
			bx.b.msgs = KT_PTR(me);
			bx.b.count = k;
			got = ioctl(fd, ext ? KMBOX_IOC_RECV_BATCHX : KMBOX_IOC_RECV_BATCH,
				    ext ? (void *)&bx : (void *)&bx.b);
			if (!take) {
				ASSERT_EQ(-1, got) TH_LOG("seed %llu step %u: a batch where the model has none",
							  (unsigned long long)seed, step);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			ASSERT_EQ((int)take, got) TH_LOG("seed %llu step %u batch of %u: %s",
							 (unsigned long long)seed, step, k,
							 strerror(errno));
			for (j = 0; j < take; j++) {
				ASSERT_EQ(m.q[0].id, (unsigned int)strtoul(bb[j], NULL, 10))
					TH_LOG("seed %llu step %u entry %u", (unsigned long long)seed,
					       step, j);
				ASSERT_EQ(m.q[0].prio, me[j].prio);
				m_remove(&m, 0);
			}
			if (ext) {
				ASSERT_EQ(m.dropped - m.seen_dropped, bx.lost.dropped)
					TH_LOG("seed %llu step %u", (unsigned long long)seed, step);
				ASSERT_EQ(m.rejected - m.seen_rejected, bx.lost.rejected);
				ASSERT_EQ(m.replaced - m.seen_replaced, bx.lost.replaced);
				ASSERT_EQ(m.expired - m.seen_expired, bx.lost.expired);
				m.seen_dropped = m.dropped;
				m.seen_rejected = m.rejected;
				m.seen_replaced = m.replaced;
				m.seen_expired = m.expired;
			}
		} else {
			int match = op >= 80, peek = op >= 90, ext = op % 2;
			__u32 flags = (match ? KMBOX_F_MATCH : 0) | (peek ? KMBOX_F_PEEK : 0);

			i = m_first(&m, match, tag);
			memset(buf, 0, sizeof(buf));
			if (ext) {
				got = qrecvx(fd, buf, sizeof(buf), flags, tag, &rx);
			} else {
				struct kmbox_recv r;

				memset(&r, 0, sizeof(r));
				r.buf = KT_PTR(buf);
				r.len = sizeof(buf);
				r.flags = flags;
				if (match) {
					r.tag = tag;
					r.match_mask = ~0ULL;
				}
				got = ioctl(fd, KMBOX_IOC_RECV, &r) < 0 ? -1 : (int)r.len;
				rx.r = r;
			}
			if (i < 0) {
				ASSERT_EQ(-1, got) TH_LOG("seed %llu step %u: a message where the model has none",
							  (unsigned long long)seed, step);
				ASSERT_EQ(EAGAIN, errno);
				continue;
			}
			ASSERT_GE(got, 1) TH_LOG("seed %llu step %u: %s",
						 (unsigned long long)seed, step, strerror(errno));
			ASSERT_EQ(m.q[i].id, (unsigned int)strtoul(buf, NULL, 10))
				TH_LOG("seed %llu step %u", (unsigned long long)seed, step);
			ASSERT_EQ(m.q[i].prio, rx.r.prio);
			ASSERT_EQ(m.q[i].tag, rx.r.tag);
			if (ext && !peek) {
				ASSERT_EQ(m.dropped - m.seen_dropped, rx.lost.dropped)
					TH_LOG("seed %llu step %u", (unsigned long long)seed, step);
				ASSERT_EQ(m.rejected - m.seen_rejected, rx.lost.rejected);
				ASSERT_EQ(m.replaced - m.seen_replaced, rx.lost.replaced);
				ASSERT_EQ(m.expired - m.seen_expired, rx.lost.expired);
				m.seen_dropped = m.dropped;
				m.seen_rejected = m.rejected;
				m.seen_replaced = m.replaced;
				m.seen_expired = m.expired;
			} else if (ext) {
				ASSERT_EQ(0, rx.lost.dropped + rx.lost.rejected + rx.lost.replaced +
					     rx.lost.expired);
			}
			if (!peek)
				m_remove(&m, (unsigned int)i);
		}
		if (step % 50 == 0) {
			ASSERT_EQ(0, qqos(fd, &q));
			ASSERT_EQ(m.dropped, q.lost.dropped);
			ASSERT_EQ(m.rejected, q.lost.rejected);
			ASSERT_EQ(m.replaced, q.lost.replaced);
			ASSERT_EQ(m.expired, q.lost.expired);
			ASSERT_EQ(m.n, kt_cur_msgs(fd));
		}
	}
	ASSERT_EQ(0, qqos(fd, &q));
	ASSERT_EQ(m.dropped, q.lost.dropped);
	ASSERT_EQ(m.rejected, q.lost.rejected);
	ASSERT_EQ(m.replaced, q.lost.replaced);
	/* sent = received + dropped + replaced + queued: the model's, and the kernel's */
	close(fd);
}

TEST(differential_against_a_reference_model)
{
	static const unsigned int policies[] = {
		KMBOX_POLICY_BLOCK, KMBOX_POLICY_DROP_OLDEST, KMBOX_POLICY_REJECT,
		KMBOX_POLICY_REPLACE,
	};
	uint64_t seed;
	unsigned int p;

	KT_REQUIRE_MODULE();
	for (p = 0; p < 4; p++)
		for (seed = 1; seed <= 12; seed++) {
			/* every third seed with an urgent lane of priority 8 and up */
			if (seed % 3 == 0)
				run_model(_metadata, policies[p], 8, 1 + seed % 2, seed);
			else
				run_model(_metadata, policies[p], 0, 0, seed);
			if (!_metadata->passed)
				return;
		}
}

/* ---- the attacker ------------------------------------------------------ */

struct racer {
	int fd;
	unsigned long got, lost;
	int stop;
};

static void *recvx_fn(void *p)
{
	struct racer *rc = p;
	struct kmbox_recvx x;
	char buf[16];

	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
		if (qrecvx(rc->fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &x) < 0)
			continue;
		rc->got++;
		rc->lost += x.lost.dropped;
	}
	return NULL;
}

/* Threads sharing one file: each loss is reported to exactly one of them. */
TEST(threads_sharing_a_file_hear_of_every_loss_once)
{
	struct racer rc[3];
	pthread_t t[3];
	struct kmbox_recvx x;
	struct kmbox_qos q;
	unsigned long got = 0, lost = 0, queued;
	unsigned int i, sent = 20000;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR | O_NONBLOCK, 4, 16, KMBOX_POLICY_DROP_OLDEST, 0, 0);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 3; i++) {
		rc[i] = (struct racer){ .fd = fd };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, recvx_fn, &rc[i]));
	}
	for (i = 0; i < sent; i++)
		ASSERT_EQ(0, qsend(fd, "x", 1, i % 3, 0, 0));
	for (i = 0; i < 3; i++)
		__atomic_store_n(&rc[i].stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		got += rc[i].got;
		lost += rc[i].lost;
	}
	queued = kt_cur_msgs(fd);
	ASSERT_EQ(0, qqos(fd, &q));
	/* the loss-accounting invariant */
	EXPECT_EQ(sent, got + q.lost.dropped + queued);
	/* drops after the last receive are reported to the next one */
	if (queued) {
		ASSERT_EQ(1, qrecvx(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &x));
		lost += x.lost.dropped;
	}
	EXPECT_EQ(q.lost.dropped, lost);
	close(fd);
}

TEST(sigkill_of_a_sync_sender_while_its_message_is_dropped)
{
	struct kmbox_qos q;
	unsigned int round;
	int fd;

	KT_REQUIRE_MODULE();
	fd = qanon(O_RDWR, 1, 16, KMBOX_POLICY_DROP_OLDEST, 0, 0);
	ASSERT_GE(fd, 0);
	for (round = 0; round < 20; round++) {
		pid_t pid = kt_fork(30);

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			for (;;)
				kmbox_send_sync(fd, "s", 1, 0, NULL);
		}
		kt_sleep_ms(round % 5);
		ASSERT_EQ(0, qsend(fd, "n", 1, 0, 0, 0));
		kill(pid, SIGKILL);
		EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	}
	/* the mailbox is sound: one message at most, no waiter */
	EXPECT_LE(kt_cur_msgs(fd), 1);
	EXPECT_EQ(0, kt_wait_waiters(fd, 0, 0, 5000));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_GE(q.lost.dropped, 1);
	close(fd);
}

TEST(unprivileged_creator_in_fresh_user_and_ipc_namespaces)
{
	pid_t pid;

	KT_REQUIRE_MODULE();
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_qos q = { .policy = KMBOX_POLICY_DROP_OLDEST, .urgent_prio = 3,
				       .urgent_room = 1 };
		struct kmbox_attr a;
		struct kmbox_open op;
		struct kmbox_recvx x;
		char name[64], buf[8];
		int fd, fd2;

		CHILD_ASSERT(kt_become(1000, 1000) == 0);
		if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
			_exit(errno == EPERM || errno == EINVAL ? 4 : 1);
		kt_name(name, sizeof(name), "policy-ns");
		kt_attr_init(&a, 3, 16);
		memset(&op, 0, sizeof(op));
		op.name = KT_PTR(name);
		op.attr = KT_PTR(&a);
		op.flags = KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL;
		op.mode = 0600;
		op.qos = KT_PTR(&q);
		fd = kt_dev(O_RDWR | O_NONBLOCK);
		CHILD_ASSERT(fd >= 0);
		CHILD_ASSERT(ioctl(fd, KMBOX_IOC_OPEN, &op) == 0);
		CHILD_ASSERT(qsend(fd, "a", 1, 0, 0, 0) == 0);
		CHILD_ASSERT(qsend(fd, "b", 1, 0, 0, 0) == 0);
		CHILD_ASSERT(qsend(fd, "c", 1, 0, 0, 0) == 0);	/* drops a */
		CHILD_ASSERT(qsend(fd, "U", 1, 3, 0, 0) == 0);	/* urgent room */
		CHILD_ASSERT(kt_cur_msgs(fd) == 3);
		fd2 = kt_open(name, O_RDONLY | O_NONBLOCK, 0, 0, 0, 0);
		CHILD_ASSERT(fd2 >= 0);
		CHILD_ASSERT(qrecvx(fd2, buf, sizeof(buf), 0, 0, &x) == 1 && buf[0] == 'U');
		CHILD_ASSERT(qrecvx(fd, buf, sizeof(buf), 0, 0, &x) == 1 && buf[0] == 'b');
		/* uid 1000 is not mapped in the new namespace */
		CHILD_ASSERT(x.lost.dropped == 1 && x.r.uid == KT_NOBODY);
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

/* ---- expiry ------------------------------------------------------------- */

static int esend(int fd, const char *msg, __u32 prio, __u64 expire_ns, __u32 flags)
{
	struct kmbox_send s;

	memset(&s, 0, sizeof(s));
	s.buf = KT_PTR(msg);
	s.len = strlen(msg);
	s.prio = prio;
	s.flags = flags | KMBOX_F_EXPIRE;
	s.expire_ns = expire_ns;
	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

TEST(expiry_bad_input_changes_nothing)
{
	struct kmbox_send s;
	struct kmbox_qos q = { .ttl_ns = 1000000 };
	struct kmbox_attr a;
	struct kmbox_open op;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 4, 16);
	ASSERT_GE(fd, 0);
	memset(&s, 0, sizeof(s));
	s.buf = KT_PTR("x");
	s.len = 1;
	s.expire_ns = 5;		/* without KMBOX_F_EXPIRE */
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_SEND, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, esend(fd, "x", 0, (__u64)INT64_MAX + 1, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	/* a rendezvous mailbox buffers nothing to expire */
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&a, 4, 16);
	a.flags = KMBOX_ATTR_RENDEZVOUS;
	memset(&op, 0, sizeof(op));
	op.attr = KT_PTR(&a);
	op.flags = KMBOX_OPEN_ANON;
	op.qos = KT_PTR(&q);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_OPEN, &op));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(a_message_past_its_time_is_counted_and_never_queued)
{
	struct kmbox_recvx x;
	struct kmbox_qos q;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 1, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, esend(fd, "old", 0, 0, 0));
	ASSERT_EQ(0, esend(fd, "older", 0, kt_now_ns() - 1, 0));
	EXPECT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, esend(fd, "new", 0, kt_now_ns() + 3600ULL * 1000000000ULL, 0));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(2, q.lost.expired);
	ASSERT_EQ(3, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(0, memcmp(buf, "new", 3));
	EXPECT_EQ(2, x.lost.expired);
	close(fd);
}

TEST(a_message_that_expires_queued_is_never_delivered_nor_peeked)
{
	struct kmbox_recvx x;
	struct kmbox_qos q;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 4, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, esend(fd, "soon", 5, kt_deadline_ms(200), 0));
	ASSERT_EQ(0, qsend(fd, "keeps", 5, 0, 0, 0));
	kt_sleep_ms(400);
	/* a peek meets it first, frees it, and shows the next */
	ASSERT_EQ(5, qrecvx(fd, buf, sizeof(buf), KMBOX_F_PEEK, 0, &x));
	EXPECT_EQ(0, memcmp(buf, "keeps", 5));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(1, q.lost.expired);
	ASSERT_EQ(5, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(1, x.lost.expired);
	/* a receive meets one and finds nothing else */
	ASSERT_EQ(0, esend(fd, "soon", 0, kt_deadline_ms(200), 0));
	kt_sleep_ms(400);
	EXPECT_EQ(-1, qrecvx(fd, buf, sizeof(buf), 0, 0, &x));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
}

TEST(a_mailbox_ttl_expires_messages_and_a_full_mailbox_makes_room)
{
	struct kmbox_qos q = { .ttl_ns = 200000000ULL };
	struct kmbox_attr a;
	struct kmbox_open op;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&a, 2, 16);
	memset(&op, 0, sizeof(op));
	op.attr = KT_PTR(&a);
	op.flags = KMBOX_OPEN_ANON;
	op.qos = KT_PTR(&q);
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_OPEN, &op));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(200000000ULL, q.ttl_ns);
	ASSERT_EQ(0, qsend(fd, "a", 1, 0, 0, 0));
	ASSERT_EQ(0, write(fd, "b", 1) == 1 ? 0 : -1);
	/* a deadline of its own outlives the TTL */
	kt_sleep_ms(400);
	/* full of expired messages: a blocking send makes room, not waits */
	ASSERT_EQ(0, esend(fd, "c", 0, kt_now_ns() + 3600ULL * 1000000000ULL, 0));
	ASSERT_EQ(0, qsend(fd, "d", 1, 0, 0, 0));
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(2, q.lost.expired);
	kt_sleep_ms(400);
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ('c', buf[0]);
	EXPECT_EQ(-1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(3, q.lost.expired);
	close(fd);
}

TEST(an_expired_zero_copy_message_frees_its_slot)
{
	struct kmbox_attr a;
	struct kmbox_send s;
	uint32_t slot;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	kt_attr_init(&a, 4, 64);
	a.zc_slots = 1;
	a.zc_slot_size = 64;
	fd = kt_dev(O_RDWR | O_NONBLOCK);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a));
	ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot, 1, 0, NULL));
	memset(&s, 0, sizeof(s));
	s.len = 4;
	s.slot = slot;
	s.flags = KMBOX_F_ZC | KMBOX_F_EXPIRE;
	s.expire_ns = kt_deadline_ms(200);
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &s));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.zc_free);
	kt_sleep_ms(400);
	EXPECT_EQ(-1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_ZC, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(1, a.zc_free);
	EXPECT_EQ(1, a.zc_completed);
	close(fd);
}

/* Found by the fuzzer: a synchronous send that fails keeps its slot. */
TEST(a_synchronous_zero_copy_send_that_expires_keeps_its_slot)
{
	struct kmbox_attr a;
	struct kmbox_send s;
	uint32_t slot;
	int fd;

	KT_REQUIRE_MODULE();
	kt_attr_init(&a, 4, 64);
	a.zc_slots = 1;
	a.zc_slot_size = 64;
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a));
	ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot, 1, 0, NULL));
	memset(&s, 0, sizeof(s));
	s.len = 4;
	s.slot = slot;
	s.flags = KMBOX_F_ZC | KMBOX_F_SYNC | KMBOX_F_EXPIRE;
	s.expire_ns = 1;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_SEND, &s));
	EXPECT_EQ(ETIMEDOUT, errno);
	/* still this file's: it can send it again, and release it */
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(1, a.zc_held);
	EXPECT_EQ(0, a.zc_free);
	EXPECT_EQ(0, kmbox_zc_release(fd, &slot, 1));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(1, a.zc_free);
	close(fd);
}

struct esync {
	int fd;
	int ret;
	int err;
};

static void *esync_fn(void *p)
{
	struct esync *e = p;

	/* a synchronous send of a message with a TTL */
	e->ret = kmbox_send_sync(e->fd, "s", 1, 0, NULL);
	e->err = errno;
	return NULL;
}

TEST(a_synchronous_sender_whose_message_expires_gets_etimedout)
{
	struct kmbox_qos q = { .ttl_ns = 200000000ULL };
	struct kmbox_attr a;
	struct kmbox_open op;
	struct esync e;
	pthread_t t;
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&a, 2, 16);
	memset(&op, 0, sizeof(op));
	op.attr = KT_PTR(&a);
	op.flags = KMBOX_OPEN_ANON;
	op.qos = KT_PTR(&q);
	ASSERT_EQ(0, ioctl(fd, KMBOX_IOC_OPEN, &op));
	e = (struct esync){ .fd = fd };
	ASSERT_EQ(0, pthread_create(&t, NULL, esync_fn, &e));
	ASSERT_EQ(0, wait_msgs(fd, 1));
	kt_sleep_ms(400);
	/* the receive meets it expired: the sender learns, nothing is read */
	EXPECT_EQ(-1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-1, e.ret);
	EXPECT_EQ(ETIMEDOUT, e.err);
	close(fd);
}

/* In a time namespace 1000 s ahead: a deadline 300 ms from its own now. */
static int expire_on_own_clock(int fd)
{
	char buf[16];

	if (esend(fd, "ns", 0, kt_deadline_ms(300), 0))
		return 1;
	kt_sleep_ms(600);
	/* read as host time it would be 1000 s away, and still here */
	if (kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL) != -1 || errno != EAGAIN)
		return 2;
	/* a deadline ahead on its own clock is ahead: delivered */
	if (esend(fd, "ns2", 0, kt_deadline_ms(2000), 0))
		return 3;
	if (kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL) != 3)
		return 4;
	return 0;
}

TEST(expiry_is_on_the_senders_time_namespace_clock)
{
	struct kmbox_qos q;
	pid_t pid;
	int fd, st;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_GE(fd, 0);
	pid = kt_fork(60);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pid_t gc;

		if (unshare(CLONE_NEWTIME))
			_exit(200);
		{
			int tf = open("/proc/self/timens_offsets", O_WRONLY);
			const char *t = "monotonic 1000 0\n";

			if (tf < 0 || write(tf, t, strlen(t)) != (ssize_t)strlen(t))
				_exit(201);
			close(tf);
		}
		gc = fork();
		if (gc == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			alarm(20);
			_exit(expire_on_own_clock(fd));
		}
		_exit(kt_wait(gc));
	}
	st = kt_wait(pid);
	if (st == 200 || st == 201)
		SKIP(return, "no time namespaces here");
	EXPECT_EQ(0, st);
	ASSERT_EQ(0, qqos(fd, &q));
	EXPECT_EQ(1, q.lost.expired);
	close(fd);
}

TEST_HARNESS_MAIN
