// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox through io_uring (liburing, linked statically): read, write,
 * readv and writev on a mailbox file, one message per operation, and
 * never an io-wq worker thread for it.
 *
 *  - IORING_OP_READ/WRITE/READV/WRITEV move exact messages: a write (or
 *    the gathered buffers of a writev) is one message, a read (or the
 *    scattered buffers of a readv) gets one whole message; zero-length
 *    messages work; a buffer shorter than the message gets EMSGSIZE and
 *    the message stays queued; a message over max_msgsize is EMSGSIZE;
 *    a buffer in unmapped or read-only memory is EFAULT and the message
 *    stays; a read on a write-only file (and the reverse) is EBADF;
 *  - IOCB_NOWAIT: RWF_NOWAIT in preadv2/pwritev2 and in the SQE gives
 *    EAGAIN at once on an empty (full) mailbox of a blocking file; a
 *    plain io_uring read of an empty mailbox (write to a full one) stays
 *    pending and io_uring waits for it with poll: no iou-wrk-* thread
 *    appears in /proc/self/task while it is pending, nor after it
 *    completes (a positive control, IOSQE_ASYNC, shows the count does
 *    see workers);
 *  - several reads pending on one mailbox: each message completes
 *    exactly one of them, in order, and nothing else;
 *  - a pending read cancelled with IORING_OP_ASYNC_CANCEL, by an
 *    IORING_OP_LINK_TIMEOUT, or by the ring's exit takes nothing: a
 *    message sent afterwards stays queued, and /proc/kmbox/stats is back
 *    where it was once the files are closed;
 *  - a read pending when its mailbox is unlinked, and when the fd it was
 *    submitted on is closed, still completes with the next message sent
 *    through another file;
 *  - a process killed with reads and writes pending leaves nothing;
 *  - all of it as uid 1000 in fresh user and IPC namespaces;
 *  - KMBOX_URING_RECV_BATCH: exact messages and count, -EAGAIN at once on
 *    an empty mailbox, a fault in any pointer consuming nothing (losses
 *    included), bad arguments, EBADF and EBADFD, links, the SQE
 *    rewritten while issued, two rings racing on one file, and uid 1000
 *    in fresh namespaces;
 *  - KMBOX_URING_SEND_BATCH: exact messages, priorities, tags and
 *    zero-copy entries and the count, -EAGAIN at once on a full mailbox
 *    of a blocking file, partial batches (exactly the first k sent), an
 *    error on entry 0 sending nothing and on entry k sending k, faulting
 *    entries and tags, bad arguments, EOPNOTSUPP, EBADF and EBADFD,
 *    links and IOSQE_ASYNC, the SQE rewritten while issued, two rings
 *    racing on one file, uid 1000 in fresh namespaces, the accounting.
 *
 * Skipped, saying why, where io_uring is not available (ENOSYS, EPERM).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <liburing.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox_uring.h"

#define OTHER_UID	1000

/* io_uring_queue_init() or skip the test, saying why. */
#define RING_INIT(ring, entries) do {					\
	int __r = io_uring_queue_init((entries), (ring), 0);		\
	if (__r == -ENOSYS || __r == -EPERM)				\
		SKIP(return, "no io_uring here: %s", strerror(-__r));	\
	ASSERT_EQ(0, __r);						\
} while (0)

/*
 * Can this process set up a ring at all?  0, or the negative errno of a
 * probe: -ENOSYS (a kernel without CONFIG_IO_URING, such as the debug
 * kernel), -EPERM (disabled for us).
 */
static int uring_probe(void)
{
	struct io_uring ring;
	int r = io_uring_queue_init(2, &ring, 0);

	if (!r)
		io_uring_queue_exit(&ring);
	return r;
}

/* For the tests whose rings live in children or threads: skip up front. */
#define REQUIRE_URING() do {						\
	int __r = uring_probe();					\
	if (__r == -ENOSYS || __r == -EPERM)				\
		SKIP(return, "no io_uring here: %s", strerror(-__r));	\
} while (0)

/* Threads of this process that are io-wq workers (comm "iou-wrk-*"). */
static int iou_workers(void)
{
	char path[300], comm[64];
	struct dirent *de;
	int n = 0;
	DIR *d;
	FILE *f;

	d = opendir("/proc/self/task");
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "iou-wrk-", 8))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

static struct io_uring_sqe *q_read(struct io_uring *ring, int fd, void *buf,
				   unsigned int len, __u64 ud)
{
	struct io_uring_sqe *sqe = get_sqe(ring);

	io_uring_prep_read(sqe, fd, buf, len, -1);
	sqe->user_data = ud;
	return sqe;
}

static struct io_uring_sqe *q_write(struct io_uring *ring, int fd, const void *buf,
				    unsigned int len, __u64 ud)
{
	struct io_uring_sqe *sqe = get_sqe(ring);

	io_uring_prep_write(sqe, fd, buf, len, -1);
	sqe->user_data = ud;
	return sqe;
}

/* Submit everything queued; the number submitted or -errno. */
static int submit(struct io_uring *ring)
{
	return io_uring_submit(ring);
}

/*
 * Wait up to @ms for one completion: 0 and @ud/@res set, or -ETIME.
 * The wait is a bound for a broken kernel, never a measurement.
 */
static int reap(struct io_uring *ring, unsigned int ms, __u64 *ud, int *res)
{
	struct __kernel_timespec ts = { ms / 1000, (long long)(ms % 1000) * 1000000 };
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (ret)
		return ret;
	*ud = cqe->user_data;
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

/* Submit and complete exactly one operation; its result. */
static int one(struct io_uring *ring)
{
	__u64 ud;
	int res;

	if (submit(ring) != 1)
		return -10000;
	if (reap(ring, 10000, &ud, &res))
		return -10001;
	return res;
}

/* True if no completion is waiting. */
static bool no_cqe(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;

	return io_uring_peek_cqe(ring, &cqe) == -EAGAIN;
}

static bool stats_equal(const struct kt_stats *a, const struct kt_stats *b)
{
	return a->mailboxes == b->mailboxes && a->messages == b->messages &&
	       a->bytes == b->bytes && a->zc_slots_held == b->zc_slots_held &&
	       a->region_pages == b->region_pages;
}

/*
 * Read the stats into @now until they equal @then, for up to 5 s: a
 * ring's exit drops its files from a work item (on 7.x well after
 * io_uring_queue_exit() returns), and with them the last reference to a
 * mailbox.  True if they came back.
 */
static bool stats_back(const struct kt_stats *then, struct kt_stats *now)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (kt_read_stats(now))
			return false;
		if (stats_equal(then, now))
			return true;
		kt_sleep_ms(10);
	}
	return false;
}

TEST(read_write_exact_messages)
{
	char in[3][64], out[256];
	struct io_uring ring;
	int fd, i;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 16);
	fd = kt_anon(O_RDWR, 16, 256);
	ASSERT_LE(0, fd);

	/* Three writes of different lengths, one of them empty. */
	for (i = 0; i < 3; i++) {
		kt_fill(in[i], sizeof(in[i]), i);
		q_write(&ring, fd, in[i], i * 20, i);
	}
	ASSERT_EQ(3, submit(&ring));
	for (i = 0; i < 3; i++) {
		__u64 ud;
		int res;

		ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
		ASSERT_LT(ud, 3);
		ASSERT_EQ((int)ud * 20, res);
	}
	ASSERT_EQ(3, kt_cur_msgs(fd));

	/* Each read gets one whole message, in order, with a big buffer. */
	for (i = 0; i < 3; i++) {
		memset(out, 0x5a, sizeof(out));
		q_read(&ring, fd, out, sizeof(out), 100 + i);
		ASSERT_EQ(i * 20, one(&ring));
		ASSERT_TRUE(kt_check_fill(out, i * 20, i));
		ASSERT_EQ(0x5a, (unsigned char)out[i * 20]);
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(readv_writev_keep_boundaries)
{
	char a[10], b[30], c[1], r1[16], r2[16], r3[64];
	struct iovec wv[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, 0 } };
	struct iovec rv[3] = { { r1, sizeof(r1) }, { r2, sizeof(r2) }, { r3, sizeof(r3) } };
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	char whole[40];
	int fd;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 8, 128);
	ASSERT_LE(0, fd);
	kt_fill(a, sizeof(a), 1);
	kt_fill(b, sizeof(b), 2);

	/* One writev, two buffers (and an empty one): one 40-byte message. */
	sqe = get_sqe(&ring);
	io_uring_prep_writev(sqe, fd, wv, 3, -1);
	ASSERT_EQ(40, one(&ring));
	/* A second message behind it, which the readv must not touch. */
	ASSERT_EQ(0, kt_send(fd, "x", 1, 0, 0, 0));
	ASSERT_EQ(2, kt_cur_msgs(fd));

	memset(r3, 0x5a, sizeof(r3));
	sqe = get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, rv, 3, -1);
	ASSERT_EQ(40, one(&ring));
	memcpy(whole, r1, 16);
	memcpy(whole + 16, r2, 16);
	memcpy(whole + 32, r3, 8);
	ASSERT_EQ(0, memcmp(whole, a, 10));
	ASSERT_EQ(0, memcmp(whole + 10, b, 30));
	ASSERT_EQ(0x5a, (unsigned char)r3[8]);
	ASSERT_EQ(1, kt_cur_msgs(fd));

	/* A readv whose buffers together are one byte short: EMSGSIZE. */
	ASSERT_EQ(0, kt_send(fd, whole, 33, 7, 0, 0));
	rv[2].iov_len = 0;
	sqe = get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, rv, 3, -1);
	/* the priority-7 message first */
	ASSERT_EQ(-EMSGSIZE, one(&ring));
	ASSERT_EQ(2, kt_cur_msgs(fd));
	rv[2].iov_len = 1;
	sqe = get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, rv, 3, -1);
	ASSERT_EQ(33, one(&ring));
	ASSERT_EQ(0, memcmp(r1, whole, 16));
	ASSERT_EQ(whole[32], r3[0]);
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(short_buffer_emsgsize_message_stays)
{
	struct io_uring ring;
	char buf[100], big[200];
	int fd;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 8, 128);
	ASSERT_LE(0, fd);
	kt_fill(buf, sizeof(buf), 3);
	ASSERT_EQ(0, kt_send(fd, buf, 100, 0, 0, 0));

	/* As read(2): 99 bytes of buffer for a 100-byte message. */
	ASSERT_EQ(-1, read(fd, big, 99));
	ASSERT_EQ(EMSGSIZE, errno);
	q_read(&ring, fd, big, 99, 1);
	ASSERT_EQ(-EMSGSIZE, one(&ring));
	q_read(&ring, fd, big, 0, 2);
	ASSERT_EQ(-EMSGSIZE, one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	q_read(&ring, fd, big, 100, 3);
	ASSERT_EQ(100, one(&ring));
	ASSERT_TRUE(kt_check_fill(big, 100, 3));

	/* Over max_msgsize: EMSGSIZE, nothing queued. */
	q_write(&ring, fd, big, 129, 4);
	ASSERT_EQ(-EMSGSIZE, one(&ring));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	/* A zero-length buffer reads a zero-length message. */
	q_write(&ring, fd, big, 0, 5);
	ASSERT_EQ(0, one(&ring));
	q_read(&ring, fd, big, 0, 6);
	ASSERT_EQ(0, one(&ring));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(bad_buffers_and_access_modes)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct io_uring ring;
	char buf[64], name[64];
	char *ro, *none;
	int fd, rfd, wfd;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 8, 128);
	ASSERT_LE(0, fd);
	ro = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, none);
	kt_fill(buf, sizeof(buf), 4);
	ASSERT_EQ(0, kt_send(fd, buf, 64, 0, 0, 0));

	/* The copy-out faults: EFAULT and the message is where it was. */
	q_read(&ring, fd, none, 64, 1);
	ASSERT_EQ(-EFAULT, one(&ring));
	q_read(&ring, fd, ro, 64, 2);
	ASSERT_EQ(-EFAULT, one(&ring));
	/* straddling into the unmapped page */
	q_read(&ring, fd, ro + pg - 32, 64, 3);
	ASSERT_EQ(-EFAULT, one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	/* A write from unmapped memory queues nothing. */
	q_write(&ring, fd, none, 64, 4);
	ASSERT_EQ(-EFAULT, one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	memset(buf, 0, sizeof(buf));
	q_read(&ring, fd, buf, 64, 5);
	ASSERT_EQ(64, one(&ring));
	ASSERT_TRUE(kt_check_fill(buf, 64, 4));

	/* Access modes, as read(2) and write(2) have them. */
	kt_name(name, sizeof(name), "acc");
	wfd = kt_create(name, O_WRONLY, 0600, 8, 128);
	ASSERT_LE(0, wfd);
	rfd = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_LE(0, rfd);
	ASSERT_EQ(0, kt_unlink(name));
	q_read(&ring, wfd, buf, 64, 6);
	ASSERT_EQ(-EBADF, one(&ring));
	q_write(&ring, rfd, buf, 8, 7);
	ASSERT_EQ(-EBADF, one(&ring));
	q_write(&ring, wfd, buf, 8, 8);
	ASSERT_EQ(8, one(&ring));
	q_read(&ring, rfd, buf, 64, 9);
	ASSERT_EQ(8, one(&ring));

	/* An unbound /dev/kmbox file: EBADFD, as read(2). */
	close(rfd);
	rfd = kt_dev(O_RDWR);
	ASSERT_LE(0, rfd);
	q_read(&ring, rfd, buf, 64, 10);
	ASSERT_EQ(-EBADFD, one(&ring));
	close(rfd);
	close(wfd);
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(rwf_nowait_gives_eagain)
{
	struct iovec iov;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	char buf[64];
	int fd;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	/* A blocking file: only IOCB_NOWAIT keeps these from sleeping. */
	fd = kt_anon(O_RDWR, 1, 64);
	ASSERT_LE(0, fd);
	alarm(20);	/* a sleep here would be the bug */

	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	ASSERT_EQ(-1, preadv2(fd, &iov, 1, -1, RWF_NOWAIT));
	ASSERT_EQ(EAGAIN, errno);
	sqe = get_sqe(&ring);
	io_uring_prep_read(sqe, fd, buf, sizeof(buf), -1);
	sqe->rw_flags = RWF_NOWAIT;
	ASSERT_EQ(-EAGAIN, one(&ring));

	/* Full: one message of room. */
	iov.iov_len = 8;
	ASSERT_EQ(8, pwritev2(fd, &iov, 1, -1, RWF_NOWAIT));
	ASSERT_EQ(-1, pwritev2(fd, &iov, 1, -1, RWF_NOWAIT));
	ASSERT_EQ(EAGAIN, errno);
	sqe = get_sqe(&ring);
	io_uring_prep_write(sqe, fd, buf, 8, -1);
	sqe->rw_flags = RWF_NOWAIT;
	ASSERT_EQ(-EAGAIN, one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	ASSERT_EQ(8, preadv2(fd, &iov, 1, -1, RWF_NOWAIT));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

/* The counter sees io-wq workers: IOSQE_ASYNC forces one. */
TEST(worker_count_sees_workers)
{
	struct io_uring ring;
	char buf[64];
	int fd, i, n = 0;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, iou_workers());
	ASSERT_EQ(0, kt_send(fd, "hello", 5, 0, 0, 0));
	io_uring_sqe_set_flags(q_read(&ring, fd, buf, sizeof(buf), 1), IOSQE_ASYNC);
	ASSERT_EQ(5, one(&ring));
	/* An idle worker lingers for seconds: look for a while. */
	for (i = 0; i < 200 && n == 0; i++) {
		n = iou_workers();
		if (!n)
			kt_sleep_ms(5);
	}
	ASSERT_LE(1, n);
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(pending_read_uses_poll_not_a_worker)
{
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	struct iovec iov;
	char buf[64];
	__u64 ud;
	int fd, res;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_LE(0, fd);

	q_read(&ring, fd, buf, sizeof(buf), 1);
	ASSERT_EQ(1, submit(&ring));
	/* submit returned: the read did not sleep in this thread */
	ASSERT_TRUE(no_cqe(&ring));
	kt_sleep_ms(50);
	ASSERT_TRUE(no_cqe(&ring));
	ASSERT_EQ(0, iou_workers());
	/* A pending io_uring read is a poller, not a sleeping receiver. */
	ASSERT_EQ(0, kt_cur_msgs(fd));

	ASSERT_EQ(0, kt_send(fd, "ping", 4, 0, 0, 0));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(1, ud);
	ASSERT_EQ(4, res);
	ASSERT_EQ(0, memcmp(buf, "ping", 4));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());

	/* The same for a readv. */
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	sqe = get_sqe(&ring);
	io_uring_prep_readv(sqe, fd, &iov, 1, -1);
	sqe->user_data = 2;
	ASSERT_EQ(1, submit(&ring));
	ASSERT_TRUE(no_cqe(&ring));
	ASSERT_EQ(0, iou_workers());
	ASSERT_EQ(0, kt_send(fd, "pong!", 5, 0, 0, 0));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(2, ud);
	ASSERT_EQ(5, res);
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(pending_write_uses_poll_not_a_worker)
{
	struct io_uring ring;
	char buf[64];
	__u64 ud;
	int fd, res;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 2, 64);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_send(fd, "a", 1, 0, 0, 0));
	ASSERT_EQ(0, kt_send(fd, "b", 1, 0, 0, 0));

	q_write(&ring, fd, "c", 1, 1);
	{
		struct iovec iov[2] = { { "d", 1 }, { "e", 1 } };
		struct io_uring_sqe *sqe = get_sqe(&ring);

		io_uring_prep_writev(sqe, fd, iov, 2, -1);
		sqe->user_data = 2;
	}
	ASSERT_EQ(2, submit(&ring));
	kt_sleep_ms(50);
	ASSERT_TRUE(no_cqe(&ring));
	ASSERT_EQ(0, iou_workers());
	ASSERT_EQ(2, kt_cur_msgs(fd));

	/* Each receive makes room for one pending write. */
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(ud == 1 ? 1 : 2, res);
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(ud == 1 ? 1 : 2, res);
	ASSERT_EQ(2, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(many_pending_reads_one_message_each)
{
	enum { N = 6 };
	char bufs[N][16], msg[16];
	int got[N] = { 0 };
	struct io_uring ring;
	__u64 ud;
	int fd, i, res;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 16);
	fd = kt_anon(O_RDWR, 16, 16);
	ASSERT_LE(0, fd);
	for (i = 0; i < N; i++)
		q_read(&ring, fd, bufs[i], sizeof(bufs[i]), i);
	ASSERT_EQ(N, submit(&ring));
	ASSERT_TRUE(no_cqe(&ring));

	for (i = 0; i < N; i++) {
		snprintf(msg, sizeof(msg), "m%d", i);
		ASSERT_EQ(0, kt_send(fd, msg, strlen(msg) + 1, 0, 0, 0));
		/* exactly one read completes, with this message */
		ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
		ASSERT_LT(ud, N);
		ASSERT_EQ(0, got[ud]);
		got[ud] = 1;
		ASSERT_EQ((int)strlen(msg) + 1, res);
		ASSERT_STREQ(msg, bufs[ud]);
		kt_sleep_ms(20);
		ASSERT_TRUE(no_cqe(&ring));
		ASSERT_EQ(0, kt_cur_msgs(fd));
	}
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(cancel_pending_read_takes_nothing)
{
	static struct __kernel_timespec ts = { 0, 20 * 1000000 };
	struct io_uring_sqe *sqe;
	struct kt_stats s0, s1;
	struct io_uring ring;
	char buf[64];
	int fd, i, res, seen = 0;
	__u64 ud;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&s0));
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_LE(0, fd);

	q_read(&ring, fd, buf, sizeof(buf), 1);
	ASSERT_EQ(1, submit(&ring));
	ASSERT_TRUE(no_cqe(&ring));
	sqe = get_sqe(&ring);
	io_uring_prep_cancel64(sqe, 1, 0);
	sqe->user_data = 2;
	ASSERT_EQ(1, submit(&ring));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
		ASSERT_EQ(ud == 1 ? -ECANCELED : 0, res);
		seen |= 1 << ud;
	}
	ASSERT_EQ(6, seen);
	/* The cancelled read is gone: this message stays. */
	ASSERT_EQ(0, kt_send(fd, "keep", 4, 0, 0, 0));
	kt_sleep_ms(20);
	ASSERT_TRUE(no_cqe(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));

	/* A linked timeout cancels a read that found nothing. */
	ASSERT_EQ(4, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	io_uring_sqe_set_flags(q_read(&ring, fd, buf, sizeof(buf), 3), IOSQE_IO_LINK);
	sqe = get_sqe(&ring);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	sqe->user_data = 4;
	ASSERT_EQ(2, submit(&ring));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
		ASSERT_EQ(ud == 3 ? -ECANCELED : -ETIME, res);
	}
	ASSERT_EQ(0, kt_send(fd, "keep", 4, 0, 0, 0));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
	ASSERT_TRUE(stats_back(&s0, &s1))
		TH_LOG("stats: mailboxes %ld -> %ld, messages %ld -> %ld, bytes %ld -> %ld",
		       s0.mailboxes, s1.mailboxes, s0.messages, s1.messages, s0.bytes, s1.bytes);
}

TEST(ring_exit_with_read_pending)
{
	struct kt_stats s0, s1;
	struct io_uring ring;
	char buf[64];
	int fd;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&s0));
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_LE(0, fd);
	q_read(&ring, fd, buf, sizeof(buf), 1);
	q_read(&ring, fd, buf, sizeof(buf), 2);
	ASSERT_EQ(2, submit(&ring));
	ASSERT_TRUE(no_cqe(&ring));
	io_uring_queue_exit(&ring);
	/* The ring is gone and its reads with it. */
	ASSERT_EQ(0, kt_send(fd, "keep", 4, 0, 0, 0));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	ASSERT_EQ(4, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	close(fd);
	ASSERT_TRUE(stats_back(&s0, &s1));
}

TEST(read_pending_when_unlinked_and_when_fd_closed)
{
	struct kt_stats s0, s1;
	struct io_uring ring;
	char name[64], buf[64];
	int rfd, wfd, afd, adup;
	__u64 ud;
	int res;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&s0));
	RING_INIT(&ring, 8);
	kt_name(name, sizeof(name), "unl");
	rfd = kt_create(name, O_RDONLY, 0600, 8, 64);
	ASSERT_LE(0, rfd);
	wfd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
	ASSERT_LE(0, wfd);

	q_read(&ring, rfd, buf, sizeof(buf), 1);
	ASSERT_EQ(1, submit(&ring));
	ASSERT_EQ(0, kt_unlink(name));
	kt_sleep_ms(20);
	ASSERT_TRUE(no_cqe(&ring));
	/* the name is gone ... */
	ASSERT_EQ(-1, kt_open(name, O_RDONLY, 0, 0, 0, 0));
	ASSERT_EQ(ENOENT, errno);
	/* ... the mailbox lives on for its files, and the read with it */
	ASSERT_EQ(0, kt_send(wfd, "after", 5, 0, 0, 0));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(1, ud);
	ASSERT_EQ(5, res);
	ASSERT_EQ(0, memcmp(buf, "after", 5));

	/* The fd the read went through is closed: the read holds the file. */
	q_read(&ring, rfd, buf, sizeof(buf), 2);
	ASSERT_EQ(1, submit(&ring));
	ASSERT_EQ(0, close(rfd));
	kt_sleep_ms(20);
	ASSERT_TRUE(no_cqe(&ring));
	ASSERT_EQ(0, kt_send(wfd, "closed", 6, 0, 0, 0));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(2, ud);
	ASSERT_EQ(6, res);
	ASSERT_EQ(0, memcmp(buf, "closed", 6));

	/* The last fd of an anonymous mailbox closed, then the ring exits. */
	afd = kt_anon(O_RDWR, 8, 64);
	ASSERT_LE(0, afd);
	adup = dup(afd);
	ASSERT_LE(0, adup);
	q_read(&ring, afd, buf, sizeof(buf), 3);
	ASSERT_EQ(1, submit(&ring));
	close(afd);
	ASSERT_EQ(0, kt_send(adup, "dup", 3, 0, 0, 0));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(3, ud);
	ASSERT_EQ(3, res);
	q_read(&ring, adup, buf, sizeof(buf), 4);
	ASSERT_EQ(1, submit(&ring));
	close(adup);
	ASSERT_TRUE(no_cqe(&ring));
	ASSERT_EQ(0, iou_workers());
	io_uring_queue_exit(&ring);
	close(wfd);
	ASSERT_TRUE(stats_back(&s0, &s1))
		TH_LOG("stats: mailboxes %ld -> %ld, messages %ld -> %ld",
		       s0.mailboxes, s1.mailboxes, s0.messages, s1.messages);
}

/* SIGKILL with reads and writes pending, and messages queued. */
TEST(sigkill_with_ops_pending)
{
	struct kt_stats s0, s1;
	int i;

	KT_REQUIRE_MODULE();
	REQUIRE_URING();
	ASSERT_EQ(0, kt_read_stats(&s0));
	for (i = 0; i < 4; i++) {
		int ready[2];
		pid_t pid;
		char c;

		ASSERT_EQ(0, pipe(ready));
		pid = kt_fork(30);
		ASSERT_LE(0, pid);
		if (pid == 0) {
			static char buf[8][64];
			struct io_uring ring;
			int fd, full, j;

			close(ready[0]);
			CHILD_ASSERT(io_uring_queue_init(16, &ring, 0) == 0);
			fd = kt_anon(O_RDWR, 2, 64);
			full = kt_anon(O_RDWR, 1, 64);
			CHILD_ASSERT(fd >= 0 && full >= 0);
			CHILD_ASSERT(kt_send(full, "x", 1, 0, 0, 0) == 0);
			for (j = 0; j < 4; j++)
				q_read(&ring, fd, buf[j], 64, j);
			for (j = 4; j < 8; j++)
				q_write(&ring, full, buf[j], 64, j);
			if (i & 1) {	/* and messages left in a third mailbox */
				int q = kt_anon(O_RDWR, 4, 64);

				CHILD_ASSERT(q >= 0);
				CHILD_ASSERT(kt_send(q, "y", 1, 0, 0, 0) == 0);
				CHILD_ASSERT(kt_send(q, "z", 1, 0, 0, 0) == 0);
			}
			CHILD_ASSERT(submit(&ring) == 8);
			if (i & 2)	/* closed fds: the ring holds the files */
				close(fd), close(full);
			CHILD_ASSERT(write(ready[1], "r", 1) == 1);
			pause();
			_exit(0);
		}
		close(ready[1]);
		ASSERT_EQ(1, read(ready[0], &c, 1));
		close(ready[0]);
		kill(pid, SIGKILL);
		ASSERT_EQ(128 + SIGKILL, kt_wait(pid));
	}
	/* the ring's files go with the last reference, from a work item */
	ASSERT_TRUE(stats_back(&s0, &s1))
		TH_LOG("stats: mailboxes %ld -> %ld, messages %ld -> %ld",
		       s0.mailboxes, s1.mailboxes, s0.messages, s1.messages);
}

static int set_filter(int fd, __u64 tag, __u64 mask)
{
	struct kmbox_filter f = { .tag = tag, .mask = mask, .flags = KMBOX_FILTER_SET };

	return ioctl(fd, KMBOX_IOC_FILTER, &f);
}

static int send_tagged(int fd, const void *buf, __u32 len, __u64 tag)
{
	struct kmbox_send s = {
		.buf = KT_PTR(buf), .len = len, .flags = KMBOX_F_TAG, .tag = tag,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

/*
 * A read pending on a file with a standing filter while many messages it
 * does not want are queued: io_uring retries a poll-armed request only so
 * many times (128 on 6.1) before it hands it to an io-wq worker, so every
 * unwanted message that woke the read would bring that worker closer.
 */
TEST(filtered_read_pending_through_unwanted_messages)
{
	enum { UNWANTED = 300 };
	struct io_uring ring;
	char buf[64];
	__u64 ud;
	int fd, i, res;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, UNWANTED + 1, 64);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, set_filter(fd, 7, ~0ULL));
	q_read(&ring, fd, buf, sizeof(buf), 1);
	ASSERT_EQ(1, submit(&ring));
	for (i = 0; i < UNWANTED; i++) {
		ASSERT_EQ(0, send_tagged(fd, "no", 2, 1));
		/* let io_uring run whatever the send woke */
		io_uring_get_events(&ring);
		ASSERT_TRUE(no_cqe(&ring));
	}
	ASSERT_EQ(UNWANTED, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	ASSERT_EQ(0, send_tagged(fd, "yes", 3, 7));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(3, res);
	ASSERT_EQ(0, memcmp(buf, "yes", 3));
	ASSERT_EQ(UNWANTED, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * The queue a filtered file's pollers wait on follows the filter: an
 * epoll watch added while the file has a filter is woken by a message
 * the filter lets through (not by others), by a change of the filter,
 * and, once the filter is gone, by any message; edge-triggered too.
 */
static int ep_ready(int ep, int ms)
{
	struct epoll_event ev;

	return epoll_wait(ep, &ev, 1, ms);
}

TEST(filtered_epoll_watch_follows_the_filter)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct epoll_event evet = { .events = EPOLLIN | EPOLLET };
	char buf[64];
	int fd, fd2, ep, ep2;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR, 16, 64);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, set_filter(fd, 7, ~0ULL));
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	/* a second file on the mailbox, edge-triggered, filter tag 9 */
	fd2 = ioctl(fd, KMBOX_IOC_REOPEN, &(struct kmbox_reopen){ .flags = O_RDWR | O_CLOEXEC });
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, set_filter(fd2, 9, ~0ULL));
	ep2 = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep2);
	ASSERT_EQ(0, epoll_ctl(ep2, EPOLL_CTL_ADD, fd2, &evet));

	ASSERT_EQ(0, ep_ready(ep, 0));
	ASSERT_EQ(0, send_tagged(fd, "a", 1, 1));
	ASSERT_EQ(0, ep_ready(ep, 0));
	ASSERT_EQ(0, send_tagged(fd, "b", 1, 7));
	ASSERT_EQ(1, ep_ready(ep, 10000));
	ASSERT_EQ(1, read(fd, buf, sizeof(buf)));
	ASSERT_EQ('b', buf[0]);
	ASSERT_EQ(0, ep_ready(ep, 0));
	/* No filter any more: the queued tag-1 message makes it readable. */
	ASSERT_EQ(0, set_filter(fd, 0, 0));
	ASSERT_EQ(1, ep_ready(ep, 10000));
	ASSERT_EQ(1, read(fd, buf, sizeof(buf)));
	ASSERT_EQ('a', buf[0]);
	ASSERT_EQ(0, ep_ready(ep, 0));
	/* and any message wakes it now */
	ASSERT_EQ(0, send_tagged(fd, "c", 1, 3));
	ASSERT_EQ(1, ep_ready(ep, 10000));
	ASSERT_EQ(1, read(fd, buf, sizeof(buf)));

	/* Edge-triggered: one edge per message fd2's filter passes. */
	while (ep_ready(ep2, 0) > 0)
		;
	ASSERT_EQ(0, send_tagged(fd, "9", 1, 9));
	ASSERT_EQ(1, ep_ready(ep2, 10000));
	ASSERT_EQ(0, ep_ready(ep2, 0));
	ASSERT_EQ(0, send_tagged(fd, "9", 1, 9));
	ASSERT_EQ(1, ep_ready(ep2, 10000));
	close(ep2);
	close(ep);
	close(fd2);
	close(fd);
}

/*
 * Rendezvous: every send is synchronous, and a non-blocking one goes only
 * to a receiver already waiting.  An io_uring read meets a sender blocked
 * in write(2), an io_uring write a receiver blocked in read(2).
 */
static void *blocking_reader(void *arg)
{
	static char buf[64];
	int fd = *(int *)arg;

	return (void *)(long)read(fd, buf, sizeof(buf));
}

static void *blocking_writer(void *arg)
{
	int fd = *(int *)arg;

	return (void *)(long)write(fd, "rdv-w", 5);
}

TEST(rendezvous_meets_blocked_peers)
{
	struct kmbox_attr a;
	struct io_uring ring;
	pthread_t th;
	char buf[64];
	void *ret;
	__u64 ud;
	int fd, res;

	KT_REQUIRE_MODULE();
	RING_INIT(&ring, 8);
	kt_attr_init(&a, 1, 64);
	a.flags = KMBOX_ATTR_RENDEZVOUS;
	fd = kt_dev(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a));

	/* Nobody waits: the write stays pending, polled, no worker. */
	q_write(&ring, fd, "rdv-u", 5, 1);
	ASSERT_EQ(1, submit(&ring));
	kt_sleep_ms(20);
	ASSERT_TRUE(no_cqe(&ring));
	ASSERT_EQ(0, pthread_create(&th, NULL, blocking_reader, &fd));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(1, ud);
	ASSERT_EQ(5, res);
	ASSERT_EQ(0, pthread_join(th, &ret));
	ASSERT_EQ(5, (long)ret);

	q_read(&ring, fd, buf, sizeof(buf), 2);
	ASSERT_EQ(1, submit(&ring));
	kt_sleep_ms(20);
	ASSERT_TRUE(no_cqe(&ring));
	ASSERT_EQ(0, pthread_create(&th, NULL, blocking_writer, &fd));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	ASSERT_EQ(2, ud);
	ASSERT_EQ(5, res);
	ASSERT_EQ(0, memcmp(buf, "rdv-w", 5));
	ASSERT_EQ(0, pthread_join(th, &ret));
	ASSERT_EQ(5, (long)ret);
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

/* ---- io_uring commands (KMBOX_URING_*) ------------------------------ */

/* A ring with 128-byte SQEs, or skip. */
#define RING128_INIT(ring, entries) do {				\
	int __r = io_uring_queue_init((entries), (ring), IORING_SETUP_SQE128); \
	if (__r == -ENOSYS || __r == -EPERM)				\
		SKIP(return, "no io_uring here: %s", strerror(-__r));	\
	if (__r == -EINVAL)						\
		SKIP(return, "no IORING_SETUP_SQE128 (before 5.19)");	\
	ASSERT_EQ(0, __r);						\
} while (0)

static struct io_uring_sqe *c_send(struct io_uring *ring, int fd, const void *buf, __u32 len,
				   __u32 prio, __u32 flags, __u64 tag, __u64 ud)
{
	struct kmbox_send s = {
		.buf = KT_PTR(buf), .len = len, .prio = prio, .flags = flags, .tag = tag,
	};
	struct io_uring_sqe *sqe = get_sqe(ring);

	kmbox_uring_prep_send(sqe, fd, &s);
	sqe->user_data = ud;
	return sqe;
}

static struct io_uring_sqe *c_recv(struct io_uring *ring, int fd, void *buf, __u32 len,
				   __u32 flags, struct kmbox_recv *res, __u64 ud)
{
	struct kmbox_recv r = { .buf = KT_PTR(buf), .len = len, .flags = flags };
	struct io_uring_sqe *sqe = get_sqe(ring);

	kmbox_uring_prep_recv(sqe, fd, &r, res);
	sqe->user_data = ud;
	return sqe;
}

/* Submit what is queued; every CQE must be there at once (nothing pends). */
static int c_now(struct io_uring *ring, int n, int *res, __u64 *ud)
{
	struct io_uring_cqe *cqe;
	int i;

	if (io_uring_submit(ring) != n)
		return -1;
	for (i = 0; i < n; i++) {
		if (io_uring_peek_cqe(ring, &cqe))
			return -2;	/* a command is pending */
		res[i] = cqe->res;
		if (ud)
			ud[i] = cqe->user_data;
		io_uring_cqe_seen(ring, cqe);
	}
	return 0;
}

static int c_one(struct io_uring *ring)
{
	int res;

	if (c_now(ring, 1, &res, NULL))
		return -10000;
	return res;
}

TEST(cmd_feature_bit)
{
	struct kmbox_info info;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_info(fd, &info));
	/* The bit says whether the kernel has io_uring, whoever may use it. */
	if (uring_probe() == -ENOSYS) {
		ASSERT_FALSE(info.features & KMBOX_FEAT_URING);
	} else {
		ASSERT_TRUE(info.features & KMBOX_FEAT_URING);
	}
	close(fd);
}

TEST(cmd_send_recv_with_metadata)
{
	struct kmbox_recv res, r = { 0 };
	struct io_uring ring;
	char buf[64];
	int fd;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 16);
	fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_LE(0, fd);

	c_send(&ring, fd, "low", 3, 1, 0, 0, 1);
	c_send(&ring, fd, "high", 4, 9, KMBOX_F_TAG, 0x1234567890abcdefULL, 2);
	c_send(&ring, fd, "", 0, 9, KMBOX_F_NONBLOCK, 0, 3);
	{
		int r[3];

		ASSERT_EQ(0, c_now(&ring, 3, r, NULL));
		ASSERT_EQ(0, r[0]);
		ASSERT_EQ(0, r[1]);
		ASSERT_EQ(0, r[2]);
	}
	ASSERT_EQ(3, kt_cur_msgs(fd));

	/* Priority first, then FIFO; the metadata comes back in @result. */
	memset(&res, 0xa5, sizeof(res));
	c_recv(&ring, fd, buf, sizeof(buf), 0, &res, 4);
	ASSERT_EQ(4, c_one(&ring));
	ASSERT_EQ(0, memcmp(buf, "high", 4));
	ASSERT_EQ(4, res.len);
	ASSERT_EQ(9, res.prio);
	ASSERT_EQ(0x1234567890abcdefULL, res.tag);
	ASSERT_EQ(getpid(), res.pid);
	ASSERT_EQ(getuid(), res.uid);
	ASSERT_EQ(getgid(), res.gid);
	ASSERT_EQ(KMBOX_NO_SLOT, res.slot);
	ASSERT_EQ(0, res.msg_flags);
	ASSERT_EQ(0, res.reply_token);
	ASSERT_NE(0, res.send_ns);
	ASSERT_EQ(KT_PTR(buf), res.buf);

	c_recv(&ring, fd, buf, sizeof(buf), 0, &res, 5);
	ASSERT_EQ(0, c_one(&ring));
	ASSERT_EQ(9, res.prio);
	/* a match on a tag, a peek (the message stays) */
	c_send(&ring, fd, "t7", 2, 0, KMBOX_F_TAG, 7, 6);
	ASSERT_EQ(0, c_one(&ring));
	r.buf = KT_PTR(buf);
	r.len = sizeof(buf);
	r.flags = KMBOX_F_MATCH | KMBOX_F_PEEK;
	r.tag = 7;
	r.match_mask = ~0ULL;
	kmbox_uring_prep_recv(get_sqe(&ring), fd, &r, &res);
	ASSERT_EQ(2, c_one(&ring));
	ASSERT_EQ(7, res.tag);
	ASSERT_EQ(2, kt_cur_msgs(fd));
	r.flags = KMBOX_F_MATCH;
	kmbox_uring_prep_recv(get_sqe(&ring), fd, &r, &res);
	ASSERT_EQ(2, c_one(&ring));
	ASSERT_EQ(7, res.tag);
	ASSERT_EQ(1, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

/* A command that would wait completes with -EAGAIN; poll tells when to retry. */
TEST(cmd_eagain_and_poll)
{
	struct io_uring_cqe *cqe;
	struct kmbox_recv res;
	struct io_uring ring;
	char buf[64];
	int fd, i, got = 0;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 16);
	fd = kt_anon(O_RDWR, 1, 64);	/* a blocking file */
	ASSERT_LE(0, fd);
	alarm(20);

	c_recv(&ring, fd, buf, sizeof(buf), 0, &res, 1);
	ASSERT_EQ(-EAGAIN, c_one(&ring));
	c_send(&ring, fd, "a", 1, 0, 0, 0, 2);
	ASSERT_EQ(0, c_one(&ring));
	c_send(&ring, fd, "b", 1, 0, 0, 0, 3);
	ASSERT_EQ(-EAGAIN, c_one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));

	/* One multishot poll for the mailbox's life; receive on each event. */
	io_uring_prep_poll_multishot(get_sqe(&ring), fd, POLLIN);
	ASSERT_EQ(1, io_uring_submit(&ring));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_send(fd, "x", 1, 0, 0, 0));
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
		ASSERT_TRUE(cqe->res & POLLIN);
		ASSERT_TRUE(cqe->flags & IORING_CQE_F_MORE);
		io_uring_cqe_seen(&ring, cqe);
		c_recv(&ring, fd, buf, sizeof(buf), 0, &res, 10 + i);
		ASSERT_EQ(1, c_one(&ring));
		got++;
	}
	ASSERT_EQ(3, got);
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(cmd_batch_on_many_mailboxes)
{
	enum { N = 24 };
	struct kmbox_recv res[N];
	struct io_uring ring;
	char bufs[N][16], msg[N][16];
	int fds[N], r[2 * N], i;
	__u64 ud[2 * N];

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 2 * N);
	for (i = 0; i < N; i++) {
		fds[i] = kt_anon(O_RDWR, 4, 16);
		ASSERT_LE(0, fds[i]);
		snprintf(msg[i], sizeof(msg[i]), "mb%d", i);
	}
	/* N sends and N receives on N mailboxes: one io_uring_enter. */
	for (i = 0; i < N; i++)
		c_send(&ring, fds[i], msg[i], strlen(msg[i]) + 1, i, 0, 0, i);
	/* issued in order, each completing when issued: after the sends */
	for (i = 0; i < N; i++)
		c_recv(&ring, fds[i], bufs[i], sizeof(bufs[i]), 0, &res[i], N + i);
	ASSERT_EQ(0, c_now(&ring, 2 * N, r, ud));
	for (i = 0; i < 2 * N; i++) {
		if (ud[i] < N) {
			ASSERT_EQ(0, r[i]);
		} else {
			int j = ud[i] - N;

			ASSERT_EQ((int)strlen(msg[j]) + 1, r[i]);
			ASSERT_STREQ(msg[j], bufs[j]);
			ASSERT_EQ(j, res[j].prio);
		}
	}
	for (i = 0; i < N; i++) {
		ASSERT_EQ(0, kt_cur_msgs(fds[i]));
		close(fds[i]);
	}
	ASSERT_EQ(0, iou_workers());
	io_uring_queue_exit(&ring);
}

/*
 * Submit what is queued and wait (a bound, never a measurement) for @n
 * CQEs: linked commands are issued one after the other as each completes.
 */
static int c_wait(struct io_uring *ring, int n, int *res, __u64 *ud)
{
	int i;

	if (io_uring_submit(ring) != n)
		return -1;
	for (i = 0; i < n; i++) {
		__u64 u;

		if (reap(ring, 10000, &u, &res[i]))
			return -2;
		if (ud)
			ud[i] = u;
	}
	return 0;
}

/*
 * A chain of linked commands runs link after link for as long as they
 * succeed, a receive's positive length included, and stops at the first
 * that fails (-EAGAIN), the rest -ECANCELED.  (A length returned to
 * io_uring as the issue's result broke the chain after the first receive
 * of a non-empty message on 6.1: the next link said -ECANCELED.)
 */
TEST(cmd_linked_chain_runs_every_link)
{
	enum { N = 6 };
	struct kmbox_recv res[N + 2];
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	char bufs[N + 2][16], out[N + 1][16], msg[16];
	int fd, r[N + 2], i;
	__u64 ud[N + 2];

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 4 * N);
	fd = kt_anon(O_RDWR, N, 16);
	ASSERT_LE(0, fd);

	/*
	 * N linked sends of 9-byte messages, then one more on a full mailbox;
	 * each buffer stays as it is until its link is issued.
	 */
	for (i = 0; i < N + 1; i++) {
		snprintf(out[i], sizeof(out[i]), "message%d", i);
		io_uring_sqe_set_flags(c_send(&ring, fd, out[i], 9, 0, 0, 0, i),
				       i < N ? IOSQE_IO_LINK : 0);
	}
	ASSERT_EQ(0, c_wait(&ring, N + 1, r, ud));
	for (i = 0; i < N + 1; i++) {
		ASSERT_EQ(i, ud[i]);
		ASSERT_EQ(i < N ? 0 : -EAGAIN, r[i]);
	}
	ASSERT_EQ(N, kt_cur_msgs(fd));

	/* N + 2 linked receives: N messages, -EAGAIN, -ECANCELED */
	memset(bufs, 0, sizeof(bufs));
	for (i = 0; i < N + 2; i++)
		io_uring_sqe_set_flags(c_recv(&ring, fd, bufs[i], sizeof(bufs[i]), 0, &res[i], i),
				       i < N + 1 ? IOSQE_IO_LINK : 0);
	ASSERT_EQ(0, c_wait(&ring, N + 2, r, ud));
	for (i = 0; i < N + 2; i++) {
		ASSERT_EQ(i, ud[i]);
		if (i < N) {
			snprintf(msg, sizeof(msg), "message%d", i);
			ASSERT_EQ(9, r[i]);
			ASSERT_EQ(0, memcmp(bufs[i], msg, 9));
			ASSERT_EQ(9, res[i].len);
		} else {
			ASSERT_EQ(i == N ? -EAGAIN : -ECANCELED, r[i]);
		}
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));

	/* a receive linked to a NOP: the NOP runs after it */
	ASSERT_EQ(0, kt_send(fd, "abc", 3, 0, 0, 0));
	io_uring_sqe_set_flags(c_recv(&ring, fd, bufs[0], sizeof(bufs[0]), 0, &res[0], 1),
			       IOSQE_IO_LINK);
	sqe = get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 2);
	ASSERT_EQ(0, c_wait(&ring, 2, r, ud));
	ASSERT_EQ(1, ud[0]);
	ASSERT_EQ(3, r[0]);
	ASSERT_EQ(2, ud[1]);
	ASSERT_EQ(0, r[1]);
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * Commands forced into an io-wq worker (IOSQE_ASYNC) complete there the
 * same way: a receive's length and the links behind it go on, and a
 * command that finds nothing says -EAGAIN rather than waiting in the
 * worker.  (On 6.1 a length returned from a worker's issue failed the
 * request: the next link said -ECANCELED.)
 */
TEST(cmd_in_a_worker_completes_and_links_go_on)
{
	enum { N = 3 };
	struct kmbox_recv res[N + 1];
	struct io_uring ring;
	char bufs[N + 1][16];
	int fd, r[N + 1], i;
	__u64 ud[N + 1];

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 4 * N);
	fd = kt_anon(O_RDWR, N, 16);
	ASSERT_LE(0, fd);
	alarm(30);
	for (i = 0; i < N; i++)
		ASSERT_EQ(0, kt_send(fd, "worker", 6, 0, 0, 0));
	for (i = 0; i < N + 1; i++)
		io_uring_sqe_set_flags(c_recv(&ring, fd, bufs[i], sizeof(bufs[i]), 0, &res[i], i),
				       IOSQE_ASYNC | (i < N ? IOSQE_IO_LINK : 0));
	ASSERT_EQ(0, c_wait(&ring, N + 1, r, ud));
	for (i = 0; i < N + 1; i++) {
		ASSERT_EQ(i, ud[i]);
		if (i < N) {
			ASSERT_EQ(6, r[i]);
			ASSERT_EQ(0, memcmp(bufs[i], "worker", 6));
		} else {
			ASSERT_EQ(-EAGAIN, r[i]);
		}
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * The SQE is user memory: a thread rewrites the command area of the one
 * SQE slot of the ring, between a good receive and one with unknown
 * flags, no room and no result pointer, while the commands are submitted
 * and issued.  Each completes as the argument the kernel copied once says
 * (torn or not), never taking a message and losing it: a success has the
 * message whole, a refusal is one of the errors those fields give, and
 * what was not received is still queued, after every round.
 */
struct sqe_flipper {
	struct io_uring_sqe *sqe;
	struct kmbox_uring_recv good, bad;
	volatile int stop;
	volatile unsigned long flips;	/* rewrites done so far */
};

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);	/* best effort */
}

/*
 * Every field of @sqe but the command area (not with io_uring_prep_rw(),
 * which clears the first 16 bytes of it): a command @op on @fd.
 */
static void raw_cmd(struct io_uring_sqe *sqe, int fd, __u32 op, __u64 ud)
{
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->flags = 0;
	sqe->ioprio = 0;
	sqe->fd = fd;
	sqe->cmd_op = op;
	sqe->__pad1 = 0;
	sqe->addr = 0;
	sqe->len = 0;
	sqe->uring_cmd_flags = 0;
	sqe->buf_index = 0;
	sqe->personality = 0;
	sqe->splice_fd_in = 0;
	sqe->user_data = ud;
}

static void *sqe_flip(void *arg)
{
	struct sqe_flipper *f = arg;
	unsigned int k = 0;

	/* on a CPU of its own when there are two: tearing for real */
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		pin_to(1);

	while (!f->stop) {
		const void *a = (k & 1) ? (const void *)&f->bad : (const void *)&f->good;
		volatile unsigned int spin;

		memcpy(f->sqe->cmd, a, sizeof(f->good));
		/* each argument whole for a while, torn at the changes */
		for (spin = 0; spin < 4 * (k % 17) && !f->stop; spin++)
			;
		f->flips = ++k;
	}
	return NULL;
}

TEST(cmd_sqe_rewritten_while_issued)
{
	enum { ROUNDS = 400 };
	static struct sqe_flipper f;
	struct kmbox_recv res;
	struct io_uring ring;
	char buf[16];
	int fd, i, got = 0, sent = 0, other = 0, einval = 0;
	pthread_t th;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 1);
	ASSERT_EQ(1, ring.sq.ring_entries);
	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_LE(0, fd);
	alarm(60);
	memset(&f, 0, sizeof(f));
	f.good.recv.buf = KT_PTR(buf);
	f.good.recv.len = sizeof(buf);
	f.good.result = KT_PTR(&res);
	f.bad.recv.buf = KT_PTR(buf);
	f.bad.recv.flags = 0x80000000;
	f.bad.result = 0;
	f.sqe = &ring.sq.sqes[0];
	memcpy(f.sqe->cmd, &f.good, sizeof(f.good));
	pin_to(0);
	for (i = 0; i < ROUNDS; i++) {
		struct io_uring_sqe *sqe;
		__u64 ud;
		int r;

		if (kt_cur_msgs(fd) == 0) {
			ASSERT_EQ(0, kt_send(fd, "abcdefghi", 9, 0, 0, 0));
			sent++;
		}
		memset(buf, 0, sizeof(buf));
		if (i == 1)
			ASSERT_EQ(0, pthread_create(&th, NULL, sqe_flip, &f));
		/* the thread rewrites at least once in every round but the first */
		while (i && f.flips < (unsigned long)i)
			sched_yield();
		sqe = get_sqe(&ring);
		ASSERT_EQ(f.sqe, sqe);
		/* the argument is the thread's */
		raw_cmd(sqe, fd, KMBOX_URING_RECV, i);
		ASSERT_EQ(1, submit(&ring));
		ASSERT_EQ(0, reap(&ring, 10000, &ud, &r));
		if (r == 9) {
			ASSERT_EQ(0, memcmp(buf, "abcdefghi", 9));
			got++;
		} else {
			/* unknown flags; no room (the message stays); no result */
			if (r != -EINVAL && r != -EMSGSIZE && r != -EFAULT)
				TH_LOG("round %d: %d", i, r);
			ASSERT_TRUE(r == -EINVAL || r == -EMSGSIZE || r == -EFAULT);
			other++;
			einval += r == -EINVAL;
		}
		ASSERT_EQ(sent - got, kt_cur_msgs(fd));
	}
	f.stop = 1;
	ASSERT_EQ(0, pthread_join(th, NULL));
	/*
	 * How many of each the kernel saw depends on scheduling (guests
	 * under TCG gave 400/0, 361/39, 201/199 and 0/400): each round's
	 * checks above are the test, this line says what it met.
	 */
	TH_LOG("%d received, %d refused (%d EINVAL), %lu rewrites", got, other, einval,
	       f.flips);
	ASSERT_EQ(ROUNDS, got + other);
	/* the thread did rewrite the SQE while the rounds ran */
	ASSERT_LE(ROUNDS - 1, f.flips);
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(cmd_bad_input)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct kmbox_recv res, *ro_res;
	struct io_uring_sqe *sqe;
	struct io_uring ring, ring64;
	struct kmbox_attr a;
	char buf[64], name[64];
	struct kmbox_send ks = { .buf = KT_PTR("x"), .len = 1, .slot = 3 };
	char *none, *ro;
	int fd, rfd, wfd, ufd, rdv, i, want;
	static const __u32 bad_ops[] = { 0, 1, 0x0f, 0x14, 0x100, 0xffffffff, KMBOX_IOC_SEND,
					 KMBOX_IOC_RECV };

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 16);
	ASSERT_EQ(0, io_uring_queue_init(8, &ring64, 0));
	none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_NE(MAP_FAILED, ro);
	ro_res = (struct kmbox_recv *)ro;
	fd = kt_anon(O_RDWR, 4, 64);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_send(fd, "keep", 4, 0, 0, 0));

	/* Unknown command numbers, on both kinds of ring. */
	for (i = 0; i < (int)(sizeof(bad_ops) / sizeof(bad_ops[0])); i++) {
		sqe = c_send(&ring, fd, "x", 1, 0, 0, 0, 1);
		sqe->cmd_op = bad_ops[i];
		ASSERT_EQ(-ENOTTY, c_one(&ring));
		sqe = get_sqe(&ring64);
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
		sqe->cmd_op = bad_ops[i];
		ASSERT_EQ(-ENOTTY, c_one(&ring64));
	}
	/* A 64-byte SQE has no room for the argument. */
	sqe = get_sqe(&ring64);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = KMBOX_URING_SEND;
	ASSERT_EQ(-EINVAL, c_one(&ring64));
	sqe = get_sqe(&ring64);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = KMBOX_URING_RECV;
	ASSERT_EQ(-EINVAL, c_one(&ring64));

	/* Flags, reserved fields, sizes: as the ioctl, plus what would wait. */
	c_send(&ring, fd, "x", 1, 0, 1U << 20, 0, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_send(&ring, fd, "x", 1, 0, KMBOX_F_TIMEOUT, 0, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_send(&ring, fd, "x", 1, 0, KMBOX_F_SYNC, 0, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_send(&ring, fd, "x", 1, 0, 0, 5, 1);		/* a tag without F_TAG */
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_send(&ring, fd, "x", 1, KMBOX_PRIO_MAX, 0, 0, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_send(&ring, fd, buf, 65, 0, 0, 0, 1);
	ASSERT_EQ(-EMSGSIZE, c_one(&ring));
	sqe = c_send(&ring, fd, "x", 1, 0, 0, 0, 1);
	((struct kmbox_send *)sqe->cmd)->__reserved[1] = 1;
	ASSERT_EQ(-EINVAL, c_one(&ring));
	sqe = c_send(&ring, fd, "x", 1, 0, 0, 0, 1);
	((struct kmbox_send *)sqe->cmd)->deadline_ns = 1;
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* a slot without F_ZC, and no region: whatever the ioctl says */
	want = ioctl(fd, KMBOX_IOC_SEND, &ks) ? -errno : 0;
	sqe = c_send(&ring, fd, "x", 1, 0, 0, 0, 1);
	((struct kmbox_send *)sqe->cmd)->slot = 3;
	ASSERT_EQ(want, c_one(&ring));
	while (kt_cur_msgs(fd) > 1)
		kt_recv(fd, buf, sizeof(buf), 0, 0, NULL);
	c_recv(&ring, fd, buf, sizeof(buf), 1U << 20, &res, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_recv(&ring, fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, &res, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_recv(&ring, fd, buf, sizeof(buf), KMBOX_F_PEEK | KMBOX_F_ZC, &res, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	sqe = c_recv(&ring, fd, buf, sizeof(buf), 0, &res, 1);
	((struct kmbox_uring_recv *)sqe->cmd)->recv.tag = 1;	/* no F_MATCH */
	ASSERT_EQ(-EINVAL, c_one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));

	/* Pointers: the payload, the buffer and the result. */
	c_send(&ring, fd, none, 8, 0, 0, 0, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_send(&ring, fd, (void *)0xffff800000000000ULL, 8, 0, 0, 0, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	c_recv(&ring, fd, none, 64, 0, &res, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_recv(&ring, fd, ro, 64, 0, &res, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_recv(&ring, fd, buf, sizeof(buf), 0, (struct kmbox_recv *)none, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_recv(&ring, fd, buf, sizeof(buf), 0, ro_res, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_recv(&ring, fd, buf, sizeof(buf), 0, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_recv(&ring, fd, buf, sizeof(buf), 0, (struct kmbox_recv *)(ro + pg - 8), 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	/* a short buffer: EMSGSIZE, the length needed in @result, message stays */
	memset(&res, 0, sizeof(res));
	c_recv(&ring, fd, buf, 3, 0, &res, 1);
	ASSERT_EQ(-EMSGSIZE, c_one(&ring));
	ASSERT_EQ(4, res.len);
	ASSERT_EQ(1, kt_cur_msgs(fd));
	c_recv(&ring, fd, buf, 4, 0, &res, 1);
	ASSERT_EQ(4, c_one(&ring));
	ASSERT_EQ(0, memcmp(buf, "keep", 4));

	/* Access modes, an unbound file, a rendezvous mailbox. */
	kt_name(name, sizeof(name), "cmdacc");
	wfd = kt_create(name, O_WRONLY, 0600, 4, 64);
	ASSERT_LE(0, wfd);
	rfd = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_LE(0, rfd);
	ASSERT_EQ(0, kt_unlink(name));
	c_send(&ring, rfd, "x", 1, 0, 0, 0, 1);
	ASSERT_EQ(-EBADF, c_one(&ring));
	c_recv(&ring, wfd, buf, sizeof(buf), 0, &res, 1);
	ASSERT_EQ(-EBADF, c_one(&ring));
	ufd = kt_dev(O_RDWR);
	ASSERT_LE(0, ufd);
	c_send(&ring, ufd, "x", 1, 0, 0, 0, 1);
	ASSERT_EQ(-EBADFD, c_one(&ring));
	c_recv(&ring, ufd, buf, sizeof(buf), 0, &res, 1);
	ASSERT_EQ(-EBADFD, c_one(&ring));
	kt_attr_init(&a, 1, 64);
	a.flags = KMBOX_ATTR_RENDEZVOUS;
	rdv = kt_dev(O_RDWR);
	ASSERT_LE(0, rdv);
	ASSERT_EQ(0, kt_bind(rdv, NULL, KMBOX_OPEN_ANON, 0, &a));
	c_send(&ring, rdv, "x", 1, 0, 0, 0, 1);
	ASSERT_EQ(-EOPNOTSUPP, c_one(&ring));
	c_recv(&ring, rdv, buf, sizeof(buf), 0, &res, 1);
	ASSERT_EQ(-EAGAIN, c_one(&ring));
	/* not a kmbox file */
	c_send(&ring, ring.ring_fd, "x", 1, 0, 0, 0, 1);
	ASSERT_GT(0, c_one(&ring));

	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, kt_cur_msgs(rfd));
	ASSERT_EQ(0, iou_workers());
	close(rdv);
	close(ufd);
	close(rfd);
	close(wfd);
	close(fd);
	io_uring_queue_exit(&ring64);
	io_uring_queue_exit(&ring);
}

/*
 * An IOPOLL ring: kmbox has no uring_cmd_iopoll.  Before "io_uring/
 * uring_cmd: allow non-iopoll cmds with IORING_SETUP_IOPOLL" (7.x has
 * it) io_uring refuses the command (EOPNOTSUPP); since, it runs it as on
 * any ring, and then the -EAGAIN the module posts itself must arrive too.
 */
TEST(cmd_iopoll_ring)
{
	struct kmbox_recv kres;
	struct io_uring ring;
	char buf[8];
	int fd, ret, res;
	__u64 ud;

	KT_REQUIRE_MODULE();
	ret = io_uring_queue_init(8, &ring, IORING_SETUP_SQE128 | IORING_SETUP_IOPOLL);
	if (ret == -EINVAL || ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "no IOPOLL ring with SQE128 here: %s", strerror(-ret));
	ASSERT_EQ(0, ret);
	fd = kt_anon(O_RDWR, 4, 64);
	ASSERT_LE(0, fd);
	c_send(&ring, fd, "x", 1, 0, 0, 0, 1);
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
	if (res == -EOPNOTSUPP) {
		ASSERT_EQ(0, kt_cur_msgs(fd));
	} else {
		ASSERT_EQ(0, res);
		ASSERT_EQ(1, kt_cur_msgs(fd));
		c_recv(&ring, fd, buf, sizeof(buf), 0, &kres, 2);
		ASSERT_EQ(1, io_uring_submit(&ring));
		ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
		ASSERT_EQ(1, res);
		c_recv(&ring, fd, buf, sizeof(buf), 0, &kres, 3);
		ASSERT_EQ(1, io_uring_submit(&ring));
		ASSERT_EQ(0, reap(&ring, 10000, &ud, &res));
		ASSERT_EQ(-EAGAIN, res);
	}
	close(fd);
	io_uring_queue_exit(&ring);
}

TEST(cmd_zero_copy)
{
	struct io_uring_sqe *sqe;
	struct kmbox_region reg;
	struct kmbox_recv res;
	struct kmbox_attr a;
	struct io_uring ring;
	uint32_t slot, slot2;
	int fd;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	kt_attr_init(&a, 4, 0);
	a.zc_slots = 4;
	a.zc_slot_size = 256;
	fd = kt_dev(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a));
	ASSERT_EQ(0, kmbox_region_map(fd, &reg));
	ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot, 1, 0, NULL));
	memcpy(kmbox_slot_ptr(&reg, slot), "zero-copy", 9);

	sqe = c_send(&ring, fd, NULL, 9, 3, KMBOX_F_ZC, 0, 1);
	((struct kmbox_send *)sqe->cmd)->slot = slot;
	ASSERT_EQ(0, c_one(&ring));
	/* the slot is the mailbox's now: sending it again is EINVAL */
	sqe = c_send(&ring, fd, NULL, 9, 3, KMBOX_F_ZC, 0, 1);
	((struct kmbox_send *)sqe->cmd)->slot = slot;
	ASSERT_EQ(-EINVAL, c_one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));

	memset(&res, 0, sizeof(res));
	c_recv(&ring, fd, NULL, 0, KMBOX_F_ZC, &res, 2);
	ASSERT_EQ(9, c_one(&ring));
	ASSERT_EQ(slot, res.slot);
	ASSERT_EQ(KMBOX_MSG_ZC, res.msg_flags);
	ASSERT_EQ(3, res.prio);
	ASSERT_EQ(0, memcmp(kmbox_slot_ptr(&reg, res.slot), "zero-copy", 9));
	ASSERT_EQ(0, kmbox_zc_release(fd, &slot, 1));

	/* a received slot whose result cannot be written goes back */
	ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot2, 1, 0, NULL));
	sqe = c_send(&ring, fd, NULL, 4, 0, KMBOX_F_ZC, 0, 3);
	((struct kmbox_send *)sqe->cmd)->slot = slot2;
	ASSERT_EQ(0, c_one(&ring));
	c_recv(&ring, fd, NULL, 0, KMBOX_F_ZC, NULL, 4);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	c_recv(&ring, fd, NULL, 0, KMBOX_F_ZC, &res, 5);
	ASSERT_EQ(4, c_one(&ring));
	ASSERT_EQ(slot2, res.slot);
	ASSERT_EQ(0, kmbox_zc_release(fd, &slot2, 1));
	ASSERT_EQ(0, kmbox_region_unmap(&reg));
	close(fd);
	io_uring_queue_exit(&ring);
}

/* Threads sharing one file, each with its own ring: exactly once. */
struct cmd_thread {
	int fd, id, sent, got;
	unsigned char seen[4][400];
	int err;
};

enum { CT_THREADS = 4, CT_MSGS = 400 };

static void *cmd_thread(void *arg)
{
	struct cmd_thread *t = arg;
	struct kmbox_recv res;
	struct io_uring ring;
	int next = 0, idle = 0;

	if (io_uring_queue_init(8, &ring, IORING_SETUP_SQE128)) {
		t->err = 1;
		return NULL;
	}
	while ((next < CT_MSGS || t->got < CT_MSGS) && idle < 100000) {
		char buf[8] = { 0 };
		int r;

		if (next < CT_MSGS) {
			buf[0] = t->id;
			buf[1] = next & 0xff;
			buf[2] = next >> 8;
			c_send(&ring, t->fd, buf, 3, 0, 0, 0, 1);
			r = c_one(&ring);
			if (r == 0)
				next++;
			else if (r != -EAGAIN)
				t->err = 2;
		}
		memset(&res, 0, sizeof(res));
		c_recv(&ring, t->fd, buf, sizeof(buf), 0, &res, 2);
		r = c_one(&ring);
		if (r == 3 && buf[0] < CT_THREADS) {
			int n = (unsigned char)buf[1] | (unsigned char)buf[2] << 8;

			if (n >= CT_MSGS || t->seen[(int)buf[0]][n]++)
				t->err = 3;
			t->got++;
			idle = 0;
		} else if (r == -EAGAIN) {
			idle++;
		} else {
			t->err = 4;
		}
		if (t->err)
			break;
		/* the others' messages are received by them, too */
		if (next == CT_MSGS && r == -EAGAIN)
			break;
	}
	t->sent = next;
	io_uring_queue_exit(&ring);
	return NULL;
}

TEST(cmd_threads_share_a_file)
{
	static struct cmd_thread t[CT_THREADS];
	pthread_t th[CT_THREADS];
	int fd, i, j, k, total = 0;
	char buf[8];

	KT_REQUIRE_MODULE();
	REQUIRE_URING();
	fd = kt_anon(O_RDWR, 16, 8);
	ASSERT_LE(0, fd);
	for (i = 0; i < CT_THREADS; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].fd = fd;
		t[i].id = i;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, cmd_thread, &t[i]));
	}
	for (i = 0; i < CT_THREADS; i++) {
		ASSERT_EQ(0, pthread_join(th[i], NULL));
		ASSERT_EQ(0, t[i].err);
		ASSERT_EQ(CT_MSGS, t[i].sent);
	}
	/* what is left is received here; nothing twice, nothing lost */
	while (kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL) == 3) {
		int n = (unsigned char)buf[1] | (unsigned char)buf[2] << 8;

		ASSERT_LT(buf[0], CT_THREADS);
		ASSERT_EQ(0, t[0].seen[(int)buf[0]][n]);
		t[0].seen[(int)buf[0]][n] = 1;
	}
	for (j = 0; j < CT_THREADS; j++)
		for (k = 0; k < CT_MSGS; k++) {
			int c = 0;

			for (i = 0; i < CT_THREADS; i++)
				c += t[i].seen[j][k];
			ASSERT_EQ(1, c);
			total++;
		}
	ASSERT_EQ(CT_THREADS * CT_MSGS, total);
	close(fd);
}

/* SIGKILL while commands stream: nothing left behind. */
TEST(cmd_sigkill_in_flight)
{
	struct kt_stats s0, s1;
	int i;

	KT_REQUIRE_MODULE();
	REQUIRE_URING();
	ASSERT_EQ(0, kt_read_stats(&s0));
	for (i = 0; i < 6; i++) {
		int ready[2];
		pid_t pid;
		char c;

		ASSERT_EQ(0, pipe(ready));
		pid = kt_fork(30);
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct kmbox_recv res[8];
			struct io_uring ring;
			char buf[8][64];
			int fds[4], j, n = 0;

			close(ready[0]);
			CHILD_ASSERT(io_uring_queue_init(32, &ring, IORING_SETUP_SQE128) == 0);
			for (j = 0; j < 4; j++) {
				fds[j] = kt_anon(O_RDWR, 8, 64);
				CHILD_ASSERT(fds[j] >= 0);
			}
			for (;;) {
				for (j = 0; j < 8; j++)
					c_send(&ring, fds[j & 3], buf[j], 64, j, 0, 0, j);
				for (j = 0; j < 8; j++)
					c_recv(&ring, fds[j & 3], buf[j], 64, 0, &res[j], 8 + j);
				io_uring_submit(&ring);
				io_uring_cq_advance(&ring, io_uring_cq_ready(&ring));
				if (++n == 50)
					CHILD_ASSERT(write(ready[1], "r", 1) == 1);
			}
		}
		close(ready[1]);
		ASSERT_EQ(1, read(ready[0], &c, 1));
		close(ready[0]);
		kt_sleep_ms(i * 3);
		kill(pid, SIGKILL);
		ASSERT_EQ(128 + SIGKILL, kt_wait(pid));
	}
	ASSERT_TRUE(stats_back(&s0, &s1))
		TH_LOG("stats: mailboxes %ld -> %ld, messages %ld -> %ld",
		       s0.mailboxes, s1.mailboxes, s0.messages, s1.messages);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/*
 * In a forked child: become uid 1000 in fresh user and IPC namespaces
 * (the map: 1000 is 1000), or exit 200 if user namespaces are missing.
 */
static void become_other_in_fresh_ns(void)
{
	CHILD_ASSERT(kt_become(OTHER_UID, OTHER_UID) == 0);
	/* setresuid made us non-dumpable: /proc/self would be root's */
	CHILD_ASSERT(prctl(PR_SET_DUMPABLE, 1) == 0);
	if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
		_exit(200);
	CHILD_ASSERT(write_file("/proc/self/setgroups", "deny") == 0);
	CHILD_ASSERT(write_file("/proc/self/uid_map", "1000 1000 1\n") == 0);
	CHILD_ASSERT(write_file("/proc/self/gid_map", "1000 1000 1\n") == 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/*
 * The child @pid of a namespace test: skipped if it exited 200 (no user
 * namespaces) or 201 (io_uring refused), else it must exit 0 and
 * /proc/kmbox/stats come back to @s0.
 */
#define FRESH_NS_VERDICT(pid, s0, s1) do {					\
	int __st = kt_wait(pid);						\
										\
	if (__st == 200)							\
		SKIP(return, "no user namespaces (unshare(CLONE_NEWUSER | CLONE_NEWIPC) failed)"); \
	if (__st == 201)							\
		SKIP(return, "io_uring refused to uid %d", OTHER_UID);		\
	ASSERT_EQ(0, __st);							\
	ASSERT_TRUE(stats_back(s0, s1))						\
		TH_LOG("stats: mailboxes %ld -> %ld, messages %ld -> %ld",	\
		       (s0)->mailboxes, (s1)->mailboxes, (s0)->messages, (s1)->messages); \
} while (0)

/*
 * uid 1000 in fresh user and IPC namespaces: named mailboxes, reads
 * pending through poll, a cancel, a pending write, and the ring's exit.
 */
TEST(unprivileged_in_fresh_namespaces)
{
	struct kt_stats s0, s1;
	pid_t pid;
	int i;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&s0));
	pid = kt_fork(60);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct io_uring_sqe *sqe;
		struct io_uring ring;
		char buf[64], name[64];
		int rfd, wfd, res, ret;
		__u64 ud;

		become_other_in_fresh_ns();
		ret = io_uring_queue_init(8, &ring, 0);
		if (ret == -EPERM || ret == -ENOSYS)
			_exit(201);
		CHILD_ASSERT(ret == 0);
		kt_name(name, sizeof(name), "ns");
		rfd = kt_create(name, O_RDONLY, 0600, 2, 64);
		CHILD_ASSERT(rfd >= 0);
		wfd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
		CHILD_ASSERT(wfd >= 0);

		q_read(&ring, rfd, buf, sizeof(buf), 1);
		CHILD_ASSERT(submit(&ring) == 1);
		CHILD_ASSERT(no_cqe(&ring));
		q_write(&ring, wfd, "hi", 2, 2);
		CHILD_ASSERT(submit(&ring) == 1);
		for (i = 0; i < 2; i++) {
			CHILD_ASSERT(reap(&ring, 10000, &ud, &res) == 0);
			CHILD_ASSERT(res == 2);
		}
		CHILD_ASSERT(!memcmp(buf, "hi", 2));
		CHILD_ASSERT(iou_workers() == 0);

		/* pending read cancelled; pending write to a full mailbox */
		q_read(&ring, rfd, buf, sizeof(buf), 3);
		CHILD_ASSERT(submit(&ring) == 1);
		sqe = get_sqe(&ring);
		io_uring_prep_cancel64(sqe, 3, 0);
		sqe->user_data = 4;
		CHILD_ASSERT(submit(&ring) == 1);
		for (i = 0; i < 2; i++) {
			CHILD_ASSERT(reap(&ring, 10000, &ud, &res) == 0);
			CHILD_ASSERT(res == (ud == 3 ? -ECANCELED : 0));
		}
		CHILD_ASSERT(kt_send(wfd, "1", 1, 0, 0, 0) == 0);
		CHILD_ASSERT(kt_send(wfd, "2", 1, 0, 0, 0) == 0);
		q_write(&ring, wfd, "3", 1, 5);
		CHILD_ASSERT(submit(&ring) == 1);
		CHILD_ASSERT(no_cqe(&ring));
		CHILD_ASSERT(iou_workers() == 0);
		CHILD_ASSERT(kt_cur_msgs(rfd) == 2);
		/* and one more read pending on another mailbox at exit */
		{
			int afd = kt_anon(O_RDWR, 2, 64);

			CHILD_ASSERT(afd >= 0);
			q_read(&ring, afd, buf, sizeof(buf), 6);
			CHILD_ASSERT(submit(&ring) == 1);
		}
		io_uring_queue_exit(&ring);

		/* Commands: the credentials are the namespace's view of ours. */
		ret = io_uring_queue_init(8, &ring, IORING_SETUP_SQE128);
		CHILD_ASSERT(ret == 0);
		{
			struct kmbox_recv res;
			int fd = kt_anon(O_RDWR, 2, 64);

			CHILD_ASSERT(fd >= 0);
			c_send(&ring, fd, "ns", 2, 4, 0, 0, 7);
			CHILD_ASSERT(c_one(&ring) == 0);
			memset(&res, 0, sizeof(res));
			c_recv(&ring, fd, buf, sizeof(buf), 0, &res, 8);
			CHILD_ASSERT(c_one(&ring) == 2);
			CHILD_ASSERT(res.prio == 4 && res.uid == OTHER_UID && res.gid == OTHER_UID);
			CHILD_ASSERT(res.pid == getpid());
			c_recv(&ring, fd, buf, sizeof(buf), 0, &res, 9);
			CHILD_ASSERT(c_one(&ring) == -EAGAIN);
		}
		io_uring_queue_exit(&ring);
		_exit(0);
	}
	FRESH_NS_VERDICT(pid, &s0, &s1);
}

/* ---- KMBOX_URING_RECV_BATCH ------------------------------------------ */

enum { RB_SIZE = 16 };

/* Entries @ents[0..n) over the buffers @bufs[0..n), RB_SIZE bytes each. */
static void rb_ents(struct kmbox_mmsg *ents, char (*bufs)[RB_SIZE], int n)
{
	int i;

	memset(bufs, 0, (size_t)n * RB_SIZE);
	for (i = 0; i < n; i++)
		ents[i] = (struct kmbox_mmsg){ .buf = KT_PTR(bufs[i]), .len = RB_SIZE };
}

static struct io_uring_sqe *c_rbatch(struct io_uring *ring, int fd, const void *ents,
				     __u32 count, __u32 flags, __u64 *tokens, __u64 *tags,
				     struct kmbox_loss *lost, __u64 ud)
{
	struct kmbox_batch b = {
		.msgs = KT_PTR(ents), .count = count, .flags = flags,
		.tokens = KT_PTR(tokens), .tags = KT_PTR(tags),
	};
	struct io_uring_sqe *sqe = get_sqe(ring);

	kmbox_uring_prep_recv_batch(sqe, fd, &b, lost);
	sqe->user_data = ud;
	return sqe;
}

/* The argument in @sqe, to spoil one field of it. */
static struct kmbox_uring_recv_batch *rb_arg(struct io_uring_sqe *sqe)
{
	return (struct kmbox_uring_recv_batch *)sqe->cmd;
}

static int send_pt(int fd, const char *s, __u32 prio, __u64 tag)
{
	struct kmbox_send m = {
		.buf = KT_PTR(s), .len = (__u32)strlen(s), .prio = prio,
		.flags = tag ? KMBOX_F_TAG : 0, .tag = tag,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &m);
}

/*
 * A batch receive takes exactly the queued messages, up to its count, in
 * priority then arrival order, with lengths, priorities and tags, and
 * says -EAGAIN at once on an empty mailbox of a blocking file.
 */
TEST(cmd_recv_batch_exact_messages)
{
	enum { N = 10 };
	static const int order[N] = { 0, 3, 6, 9, 1, 2, 4, 5, 7, 8 };
	static struct kmbox_mmsg big[KMBOX_BATCH_MAX];
	static char bb[KMBOX_BATCH_MAX][RB_SIZE];
	struct kmbox_mmsg ents[16];
	char bufs[16][RB_SIZE], msg[RB_SIZE];
	__u64 tags[16];
	struct io_uring ring;
	int fd, i, k;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 32, RB_SIZE);
	ASSERT_LE(0, fd);
	/* an empty mailbox: -EAGAIN now (c_one fails if the command pends) */
	rb_ents(ents, bufs, 16);
	c_rbatch(&ring, fd, ents, 16, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EAGAIN, c_one(&ring));

	for (i = 0; i < N; i++) {
		snprintf(msg, sizeof(msg), "msg-%d%s", i, i & 1 ? "-odd" : "");
		ASSERT_EQ(0, send_pt(fd, msg, i % 3 == 0 ? 2 : 0, 100 + i));
	}
	/* a first entry too short: EMSGSIZE, the length needed, nothing taken */
	rb_ents(ents, bufs, 16);
	ents[0].len = 3;
	c_rbatch(&ring, fd, ents, 16, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EMSGSIZE, c_one(&ring));
	ASSERT_EQ(5, ents[0].len);
	ASSERT_EQ(N, kt_cur_msgs(fd));

	/* 4 of them, the priority-2 ones, with their tags */
	rb_ents(ents, bufs, 16);
	memset(tags, 0xff, sizeof(tags));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_TAG, NULL, tags, NULL, 1);
	ASSERT_EQ(4, c_one(&ring));
	/* then the rest, asking for more than there are */
	c_rbatch(&ring, fd, ents + 4, 12, KMBOX_F_TAG, NULL, tags + 4, NULL, 2);
	ASSERT_EQ(N - 4, c_one(&ring));
	for (k = 0; k < N; k++) {
		i = order[k];
		snprintf(msg, sizeof(msg), "msg-%d%s", i, i & 1 ? "-odd" : "");
		ASSERT_EQ(strlen(msg), ents[k].len);
		ASSERT_EQ(0, memcmp(bufs[k], msg, strlen(msg)));
		ASSERT_EQ(i % 3 == 0 ? 2 : 0, ents[k].prio);
		ASSERT_EQ(KMBOX_NO_SLOT, ents[k].slot);
		ASSERT_EQ(0, ents[k].flags);
		ASSERT_EQ(100 + i, tags[k]);
	}
	/* entries past the count are not written */
	ASSERT_EQ(RB_SIZE, ents[N].len);
	ASSERT_EQ(~0ULL, tags[N]);
	ASSERT_EQ(0, kt_cur_msgs(fd));
	c_rbatch(&ring, fd, ents, 16, KMBOX_F_NONBLOCK, NULL, NULL, NULL, 3);
	ASSERT_EQ(-EAGAIN, c_one(&ring));

	/* a zero-length message and the batch's maximum count */
	ASSERT_EQ(0, kt_send(fd, "", 0, 0, 0, 0));
	ASSERT_EQ(0, kt_send(fd, "z", 1, 0, 0, 0));
	rb_ents(big, bb, KMBOX_BATCH_MAX);
	c_rbatch(&ring, fd, big, KMBOX_BATCH_MAX, 0, NULL, NULL, NULL, 4);
	ASSERT_EQ(2, c_one(&ring));
	ASSERT_EQ(0, big[0].len);
	ASSERT_EQ(1, big[1].len);
	ASSERT_EQ('z', bb[1][0]);
	ASSERT_EQ(RB_SIZE, big[2].len);
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * A fault in any pointer of the argument (the entries, a first buffer,
 * the tokens, the tags, the losses) consumes nothing: every message and
 * every loss stays for the next receive.  A fault in a later entry's
 * buffer ends the batch before it.
 */
TEST(cmd_recv_batch_fault_consumes_nothing)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct kmbox_mmsg ents[8], *ro_ents;
	char bufs[8][RB_SIZE], msg[RB_SIZE];
	__u64 tokens[8], tags[8];
	struct kmbox_loss lost;
	struct kmbox_attr a;
	struct kmbox_qos q;
	struct io_uring ring;
	char *none, *ro;
	int fd, qfd, i;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_NE(MAP_FAILED, ro);
	fd = kt_anon(O_RDWR, 8, RB_SIZE);
	ASSERT_LE(0, fd);
	for (i = 0; i < 4; i++) {
		snprintf(msg, sizeof(msg), "m%d", i);
		ASSERT_EQ(0, send_pt(fd, msg, 0, 7));
	}
	/* entries that can be read but not written */
	ro_ents = (struct kmbox_mmsg *)ro;
	rb_ents(ro_ents, bufs, 8);
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));

	c_rbatch(&ring, fd, none, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_rbatch(&ring, fd, ro_ents, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_rbatch(&ring, fd, ro + pg - sizeof(*ents), 2, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));		/* the second entry unmapped */
	rb_ents(ents, bufs, 8);
	ents[0].buf = KT_PTR(none);
	c_rbatch(&ring, fd, ents, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	ents[0].buf = KT_PTR(ro);
	c_rbatch(&ring, fd, ents, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	rb_ents(ents, bufs, 8);
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_CALLS, (__u64 *)ro, NULL, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_CALLS, (__u64 *)none, NULL, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_TAG, NULL, (__u64 *)ro, NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_TAG, NULL, (__u64 *)(ro + pg - 8), NULL, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));		/* the tags run off the page */
	c_rbatch(&ring, fd, ents, 4, 0, NULL, NULL, (struct kmbox_loss *)ro, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, 0, NULL, NULL, (struct kmbox_loss *)none, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	ASSERT_EQ(4, kt_cur_msgs(fd));

	/* the third entry's buffer unmapped: two messages, two left in order */
	rb_ents(ents, bufs, 8);
	ents[2].buf = KT_PTR(none);
	memset(tokens, 0xff, sizeof(tokens));
	memset(tags, 0, sizeof(tags));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_CALLS | KMBOX_F_TAG, tokens, tags, NULL, 1);
	ASSERT_EQ(2, c_one(&ring));
	ASSERT_EQ(0, memcmp(bufs[0], "m0", 3));
	ASSERT_EQ(0, memcmp(bufs[1], "m1", 3));
	ASSERT_EQ(0, tokens[0]);		/* ordinary messages: token 0 */
	ASSERT_EQ(0, tokens[1]);
	ASSERT_EQ(~0ULL, tokens[2]);
	ASSERT_EQ(7, tags[0]);
	ASSERT_EQ(7, tags[1]);
	ASSERT_EQ(2, kt_cur_msgs(fd));
	rb_ents(ents, bufs, 8);
	c_rbatch(&ring, fd, ents, 8, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(2, c_one(&ring));
	ASSERT_EQ(0, memcmp(bufs[0], "m2", 3));
	ASSERT_EQ(0, memcmp(bufs[1], "m3", 3));

	/* losses: a fault in @lost keeps them and the messages */
	kt_attr_init(&a, 2, RB_SIZE);
	memset(&q, 0, sizeof(q));
	q.policy = KMBOX_POLICY_REJECT;
	qfd = kt_anon_qos(O_RDWR, &a, &q);
	ASSERT_LE(0, qfd);
	ASSERT_EQ(0, kt_send(qfd, "a", 1, 0, 0, 0));
	ASSERT_EQ(0, kt_send(qfd, "b", 1, 0, 0, 0));
	ASSERT_EQ(-1, kt_send(qfd, "c", 1, 0, 0, 0));
	ASSERT_EQ(EAGAIN, errno);
	c_rbatch(&ring, qfd, ents, 8, 0, NULL, NULL, (struct kmbox_loss *)ro, 1);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	ASSERT_EQ(2, kt_cur_msgs(qfd));
	/* without @lost: the messages, and the loss waits */
	c_rbatch(&ring, qfd, ents, 1, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(1, c_one(&ring));
	memset(&lost, 0xff, sizeof(lost));
	rb_ents(ents, bufs, 8);
	c_rbatch(&ring, qfd, ents, 8, 0, NULL, NULL, &lost, 1);
	ASSERT_EQ(1, c_one(&ring));
	ASSERT_EQ(0, memcmp(bufs[0], "b", 1));
	ASSERT_EQ(0, lost.dropped);
	ASSERT_EQ(1, lost.rejected);
	ASSERT_EQ(0, lost.replaced);
	ASSERT_EQ(0, lost.expired);
	/* reported once; nothing written when nothing is received */
	memset(&lost, 0xff, sizeof(lost));
	c_rbatch(&ring, qfd, ents, 8, 0, NULL, NULL, &lost, 1);
	ASSERT_EQ(-EAGAIN, c_one(&ring));
	ASSERT_EQ(~0ULL, lost.rejected);
	ASSERT_EQ(0, kt_send(qfd, "d", 1, 0, 0, 0));
	c_rbatch(&ring, qfd, ents, 8, 0, NULL, NULL, &lost, 1);
	ASSERT_EQ(1, c_one(&ring));
	ASSERT_EQ(0, lost.rejected);

	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	close(qfd);
	close(fd);
	munmap(none, pg);
	munmap(ro, pg);
	io_uring_queue_exit(&ring);
}

/* Bad arguments, access modes, files: EINVAL, EBADF, EBADFD; nothing taken. */
TEST(cmd_recv_batch_bad_input)
{
	struct kmbox_mmsg ents[4];
	char bufs[4][RB_SIZE], name[64];
	__u64 tokens[4], tags[4];
	struct io_uring_sqe *sqe;
	struct io_uring ring, ring64;
	int fd, wfd, rfd, ufd;
	struct kmbox_batch b;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	ASSERT_EQ(0, io_uring_queue_init(4, &ring64, 0));
	fd = kt_anon(O_RDWR, 4, RB_SIZE);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_send(fd, "keep", 4, 0, 0, 0));
	rb_ents(ents, bufs, 4);

	c_rbatch(&ring, fd, ents, 0, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, KMBOX_BATCH_MAX + 1, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 0xffffffff, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, 1U << 20, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, 1U << 31, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_SYNC, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_PEEK, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* a deadline would wait: refused, with and without a time */
	sqe = c_rbatch(&ring, fd, ents, 4, KMBOX_F_TIMEOUT, NULL, NULL, NULL, 1);
	rb_arg(sqe)->b.deadline_ns = kt_deadline_ms(1000);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_TIMEOUT, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	sqe = c_rbatch(&ring, fd, ents, 4, 0, NULL, NULL, NULL, 1);
	rb_arg(sqe)->b.deadline_ns = 1;
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* tokens and F_CALLS, tags and F_TAG: both or neither */
	c_rbatch(&ring, fd, ents, 4, 0, tokens, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_CALLS, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, 0, NULL, tags, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_rbatch(&ring, fd, ents, 4, KMBOX_F_TAG, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* the reserved words */
	sqe = c_rbatch(&ring, fd, ents, 4, 0, NULL, NULL, NULL, 1);
	rb_arg(sqe)->__reserved[0] = 1;
	ASSERT_EQ(-EINVAL, c_one(&ring));
	sqe = c_rbatch(&ring, fd, ents, 4, 0, NULL, NULL, NULL, 1);
	rb_arg(sqe)->__reserved[1] = 1ULL << 63;
	ASSERT_EQ(-EINVAL, c_one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(fd));
	ASSERT_EQ(4, ents[0].len == RB_SIZE ? 4 : -1);	/* never written */

	/* a 64-byte SQE has no room for the argument */
	sqe = get_sqe(&ring64);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = KMBOX_URING_RECV_BATCH;
	ASSERT_EQ(-EINVAL, c_one(&ring64));
	ASSERT_EQ(1, kt_cur_msgs(fd));

	/* a file not open for reading; an unbound file; not a kmbox file */
	kt_name(name, sizeof(name), "rbacc");
	wfd = kt_create(name, O_WRONLY, 0600, 4, RB_SIZE);
	ASSERT_LE(0, wfd);
	rfd = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_LE(0, rfd);
	ASSERT_EQ(0, kt_unlink(name));
	ASSERT_EQ(0, kt_send(wfd, "w", 1, 0, 0, 0));
	c_rbatch(&ring, wfd, ents, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EBADF, c_one(&ring));
	ASSERT_EQ(1, kt_cur_msgs(rfd));
	ufd = kt_dev(O_RDWR);
	ASSERT_LE(0, ufd);
	c_rbatch(&ring, ufd, ents, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(-EBADFD, c_one(&ring));
	c_rbatch(&ring, ring.ring_fd, ents, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_GT(0, c_one(&ring));
	/* and the ioctl agrees on the same argument */
	memset(&b, 0, sizeof(b));
	b.msgs = KT_PTR(ents);
	b.count = 4;
	ASSERT_EQ(-1, ioctl(wfd, KMBOX_IOC_RECV_BATCH, &b));
	ASSERT_EQ(EBADF, errno);
	ASSERT_EQ(-1, ioctl(ufd, KMBOX_IOC_RECV_BATCH, &b));
	ASSERT_EQ(EBADFD, errno);

	/* the read-only file takes it */
	c_rbatch(&ring, rfd, ents, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(1, c_one(&ring));
	ASSERT_EQ('w', bufs[0][0]);
	rb_ents(ents, bufs, 4);
	c_rbatch(&ring, fd, ents, 4, 0, NULL, NULL, NULL, 1);
	ASSERT_EQ(1, c_one(&ring));
	ASSERT_EQ(0, memcmp(bufs[0], "keep", 4));
	ASSERT_EQ(0, iou_workers());
	close(ufd);
	close(rfd);
	close(wfd);
	close(fd);
	io_uring_queue_exit(&ring64);
	io_uring_queue_exit(&ring);
}

/*
 * Linked batch receives run one after the other, a count being a
 * success; the first that finds nothing (-EAGAIN) cancels the links
 * behind it.  A batch forced into an io-wq worker completes the same.
 */
TEST(cmd_recv_batch_linked)
{
	struct kmbox_mmsg ents[3][4];
	char bufs[3][4][RB_SIZE], msg[RB_SIZE];
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int fd, i, r[4];
	__u64 ud[4];

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 16, RB_SIZE);
	ASSERT_LE(0, fd);
	for (i = 0; i < 9; i++) {
		snprintf(msg, sizeof(msg), "L%d", i);
		ASSERT_EQ(0, kt_send(fd, msg, 3, 0, 0, 0));
	}
	for (i = 0; i < 3; i++) {
		rb_ents(ents[i], bufs[i], 4);
		io_uring_sqe_set_flags(c_rbatch(&ring, fd, ents[i], 4, 0, NULL, NULL, NULL, i),
				       IOSQE_IO_LINK);
	}
	sqe = get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 3);
	ASSERT_EQ(0, c_wait(&ring, 4, r, ud));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(i, ud[i]);
		ASSERT_EQ(i < 2 ? 4 : i == 2 ? 1 : 0, r[i]);
	}
	for (i = 0; i < 9; i++) {
		snprintf(msg, sizeof(msg), "L%d", i);
		ASSERT_EQ(0, memcmp(bufs[i / 4][i % 4], msg, 3));
	}
	/* empty: -EAGAIN, and the NOP behind it is cancelled */
	io_uring_sqe_set_flags(c_rbatch(&ring, fd, ents[0], 4, 0, NULL, NULL, NULL, 1),
			       IOSQE_IO_LINK);
	sqe = get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 2);
	ASSERT_EQ(0, c_wait(&ring, 2, r, ud));
	ASSERT_EQ(-EAGAIN, r[0]);
	ASSERT_EQ(-ECANCELED, r[1]);
	/* in a worker: the count, and the link goes on */
	ASSERT_EQ(0, kt_send(fd, "w1", 2, 0, 0, 0));
	ASSERT_EQ(0, kt_send(fd, "w2", 2, 0, 0, 0));
	rb_ents(ents[0], bufs[0], 4);
	io_uring_sqe_set_flags(c_rbatch(&ring, fd, ents[0], 4, 0, NULL, NULL, NULL, 1),
			       IOSQE_IO_LINK | IOSQE_ASYNC);
	sqe = get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 2);
	ASSERT_EQ(0, c_wait(&ring, 2, r, ud));
	ASSERT_EQ(2, r[0]);
	ASSERT_EQ(0, r[1]);
	ASSERT_EQ(0, memcmp(bufs[0][1], "w2", 2));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * The SQE rewritten by another thread while the command is issued (a
 * good argument and one with count 0 and entries in unmapped memory, in
 * turn): the kernel reads it once, so each command either takes every
 * queued message whole into the good entries or is refused having taken
 * nothing.
 */
struct rb_flipper {
	struct io_uring_sqe *sqe;
	union {
		struct kmbox_uring_recv_batch r;
		struct kmbox_uring_send_batch s;	/* cmd_send_batch_sqe_rewritten_while_issued */
	} good, bad;
	volatile int stop;
	volatile unsigned long flips;
};

static void *rb_flip(void *arg)
{
	struct rb_flipper *f = arg;
	unsigned int k = 0;

	if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		pin_to(1);
	while (!f->stop) {
		const void *a = (k & 1) ? (const void *)&f->bad : (const void *)&f->good;
		volatile unsigned int spin;

		memcpy(f->sqe->cmd, a, sizeof(f->good));
		for (spin = 0; spin < 4 * (k % 13) && !f->stop; spin++)
			;
		f->flips = ++k;
	}
	return NULL;
}

TEST(cmd_recv_batch_sqe_rewritten_while_issued)
{
	enum { ROUNDS = 300, Q = 3 };
	long pg = sysconf(_SC_PAGESIZE);
	static struct rb_flipper f;
	struct kmbox_mmsg ents[4];
	char bufs[4][RB_SIZE];
	struct io_uring ring;
	int fd, i, j, got = 0, other = 0;
	void *none;
	pthread_t th;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 1);
	ASSERT_EQ(1, ring.sq.ring_entries);
	none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	fd = kt_anon(O_RDWR, 8, RB_SIZE);
	ASSERT_LE(0, fd);
	alarm(60);
	memset(&f, 0, sizeof(f));
	f.good.r.b.msgs = KT_PTR(ents);
	f.good.r.b.count = 4;
	f.bad.r.b.msgs = KT_PTR(none);
	f.bad.r.b.count = 0;
	f.bad.r.lost = KT_PTR(none);
	f.sqe = &ring.sq.sqes[0];
	memcpy(f.sqe->cmd, &f.good, sizeof(f.good));
	pin_to(0);
	for (i = 0; i < ROUNDS; i++) {
		struct io_uring_sqe *sqe;
		__u64 ud;
		int r;

		while (kt_cur_msgs(fd) < Q)
			ASSERT_EQ(0, kt_send(fd, "abcdefghi", 9, 0, 0, 0));
		rb_ents(ents, bufs, 4);
		if (i == 1)
			ASSERT_EQ(0, pthread_create(&th, NULL, rb_flip, &f));
		while (i && f.flips < (unsigned long)i)
			sched_yield();
		sqe = get_sqe(&ring);
		ASSERT_EQ(f.sqe, sqe);
		raw_cmd(sqe, fd, KMBOX_URING_RECV_BATCH, i);
		ASSERT_EQ(1, submit(&ring));
		ASSERT_EQ(0, reap(&ring, 10000, &ud, &r));
		if (r == Q) {
			for (j = 0; j < Q; j++) {
				ASSERT_EQ(9, ents[j].len);
				ASSERT_EQ(0, memcmp(bufs[j], "abcdefghi", 9));
			}
			ASSERT_EQ(RB_SIZE, ents[Q].len);
			ASSERT_EQ(0, kt_cur_msgs(fd));
			got++;
		} else {
			if (r != -EINVAL && r != -EFAULT)
				TH_LOG("round %d: %d", i, r);
			ASSERT_TRUE(r == -EINVAL || r == -EFAULT);
			/*
			 * (The entries may have been written: a torn copy
			 * with the good entries and the bad @lost fails
			 * last, and puts the messages back.)
			 */
			ASSERT_EQ(Q, kt_cur_msgs(fd));
			other++;
		}
	}
	f.stop = 1;
	ASSERT_EQ(0, pthread_join(th, NULL));
	TH_LOG("%d batches received, %d refused, %lu rewrites", got, other, f.flips);
	ASSERT_EQ(ROUNDS, got + other);
	ASSERT_LE(ROUNDS - 1, f.flips);
	close(fd);
	munmap(none, pg);
	io_uring_queue_exit(&ring);
}

/*
 * Two threads, each with a ring of its own, batch-receive from one file
 * while a third sends: every message is received exactly once, and each
 * thread sees its messages in the order they were sent.
 */
enum { RR_MSGS = 3000, RR_THREADS = 2 };

struct rb_racer {
	int fd, err, got;
	int *total;
	unsigned char *seen;		/* RR_MSGS counters, shared */
};

static void *rb_race(void *arg)
{
	struct rb_racer *t = arg;
	struct kmbox_mmsg ents[8];
	char bufs[8][RB_SIZE];
	struct io_uring ring;
	int last = -1, i;

	if (io_uring_queue_init(4, &ring, IORING_SETUP_SQE128)) {
		t->err = 1;
		return NULL;
	}
	while (__atomic_load_n(t->total, __ATOMIC_SEQ_CST) < RR_MSGS && !t->err) {
		int r;

		rb_ents(ents, bufs, 8);
		c_rbatch(&ring, t->fd, ents, 8, 0, NULL, NULL, NULL, 1);
		r = c_one(&ring);
		if (r == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (r < 1 || r > 8) {
			t->err = 2;
			break;
		}
		for (i = 0; i < r; i++) {
			int seq;

			if (ents[i].len != sizeof(seq)) {
				t->err = 3;
				break;
			}
			memcpy(&seq, bufs[i], sizeof(seq));
			if (seq < 0 || seq >= RR_MSGS || seq <= last) {
				t->err = 4;
				break;
			}
			last = seq;
			__atomic_add_fetch(&t->seen[seq], 1, __ATOMIC_SEQ_CST);
		}
		t->got += r;
		__atomic_add_fetch(t->total, r, __ATOMIC_SEQ_CST);
	}
	io_uring_queue_exit(&ring);
	return NULL;
}

TEST(cmd_recv_batch_two_rings_race)
{
	static unsigned char seen[RR_MSGS];
	struct rb_racer t[RR_THREADS];
	pthread_t th[RR_THREADS];
	int fd, i, total = 0;

	KT_REQUIRE_MODULE();
	REQUIRE_URING();
	fd = kt_anon(O_RDWR, 64, RB_SIZE);
	ASSERT_LE(0, fd);
	alarm(120);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < RR_THREADS; i++) {
		t[i] = (struct rb_racer){ .fd = fd, .total = &total, .seen = seen };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, rb_race, &t[i]));
	}
	/* blocking sends: the receivers make the room */
	for (i = 0; i < RR_MSGS; i++)
		ASSERT_EQ(0, kt_send(fd, &i, sizeof(i), 0, 0, 0));
	for (i = 0; i < RR_THREADS; i++) {
		ASSERT_EQ(0, pthread_join(th[i], NULL));
		ASSERT_EQ(0, t[i].err);
	}
	TH_LOG("thread 0 took %d, thread 1 took %d", t[0].got, t[1].got);
	ASSERT_EQ(RR_MSGS, total);
	for (i = 0; i < RR_MSGS; i++) {
		unsigned int n = seen[i];

		ASSERT_EQ(1, n) TH_LOG("message %d received %u times", i, n);
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));
	close(fd);
}

/* uid 1000 in fresh user and IPC namespaces: the batch command works. */
TEST(cmd_recv_batch_unprivileged_in_fresh_namespaces)
{
	struct kt_stats s0, s1;
	pid_t pid;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&s0));
	pid = kt_fork(60);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kmbox_mmsg ents[8];
		char bufs[8][RB_SIZE], name[64];
		struct io_uring ring;
		int rfd, wfd, ret, i;

		become_other_in_fresh_ns();
		ret = io_uring_queue_init(8, &ring, IORING_SETUP_SQE128);
		if (ret == -EPERM || ret == -ENOSYS)
			_exit(201);
		CHILD_ASSERT(ret == 0);
		kt_name(name, sizeof(name), "rbns");
		rfd = kt_create(name, O_RDONLY, 0600, 8, RB_SIZE);
		CHILD_ASSERT(rfd >= 0);
		wfd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
		CHILD_ASSERT(wfd >= 0);
		for (i = 0; i < 5; i++)
			CHILD_ASSERT(kt_send(wfd, &i, sizeof(i), 0, 0, 0) == 0);
		rb_ents(ents, bufs, 8);
		c_rbatch(&ring, wfd, ents, 8, 0, NULL, NULL, NULL, 1);
		CHILD_ASSERT(c_one(&ring) == -EBADF);
		c_rbatch(&ring, rfd, ents, 8, 0, NULL, NULL, NULL, 1);
		CHILD_ASSERT(c_one(&ring) == 5);
		for (i = 0; i < 5; i++)
			CHILD_ASSERT(ents[i].len == sizeof(i) && !memcmp(bufs[i], &i, sizeof(i)));
		c_rbatch(&ring, rfd, ents, 8, 0, NULL, NULL, NULL, 1);
		CHILD_ASSERT(c_one(&ring) == -EAGAIN);
		CHILD_ASSERT(iou_workers() == 0);
		CHILD_ASSERT(kt_unlink(name) == 0);
		io_uring_queue_exit(&ring);
		_exit(0);
	}
	FRESH_NS_VERDICT(pid, &s0, &s1);
}

/* ---- KMBOX_URING_SEND_BATCH ------------------------------------------ */

/* Entries @ents[0..n) of "sb-<base + i>" in @bufs[i], priority 0. */
static void sb_ents(struct kmbox_mmsg *ents, char (*bufs)[RB_SIZE], int n, int base)
{
	int i;

	for (i = 0; i < n; i++) {
		snprintf(bufs[i], RB_SIZE, "sb-%d", base + i);
		ents[i] = (struct kmbox_mmsg){ .buf = KT_PTR(bufs[i]), .len = strlen(bufs[i]) };
	}
}

static struct io_uring_sqe *c_sbatch(struct io_uring *ring, int fd, const void *ents,
				     __u32 count, __u32 flags, const __u64 *tags, __u64 ud)
{
	struct kmbox_batch b = {
		.msgs = KT_PTR(ents), .count = count, .flags = flags, .tags = KT_PTR(tags),
	};
	struct io_uring_sqe *sqe = get_sqe(ring);

	kmbox_uring_prep_send_batch(sqe, fd, &b);
	sqe->user_data = ud;
	return sqe;
}

/* The argument in @sqe, to spoil one field of it. */
static struct kmbox_uring_send_batch *sb_arg(struct io_uring_sqe *sqe)
{
	return (struct kmbox_uring_send_batch *)sqe->cmd;
}

/*
 * Receive what @fd's mailbox holds: how many of "sb-<first>",
 * "sb-<first + 1>", ... came, in that order, before it was empty; -1 if
 * anything else came.
 */
static int sb_drain(int fd, int first)
{
	char buf[RB_SIZE + 1], want[RB_SIZE];
	int n = 0, len;

	while ((len = kt_recv(fd, buf, RB_SIZE, KMBOX_F_NONBLOCK, 0, NULL)) >= 0) {
		snprintf(want, sizeof(want), "sb-%d", first + n);
		if (len != (int)strlen(want) || memcmp(buf, want, len))
			return -1;
		n++;
	}
	return errno == EAGAIN ? n : -1;
}

/*
 * A batch sends exactly its entries, in order, with their lengths,
 * priorities and tags and the sender's credentials, and its CQE says
 * how many; the batch's maximum count; a zero-length message.
 */
TEST(cmd_send_batch_exact_messages)
{
	enum { N = 10 };
	static const int order[N] = { 0, 3, 6, 9, 1, 2, 4, 5, 7, 8 };
	static struct kmbox_mmsg big[KMBOX_BATCH_MAX];
	static char bb[KMBOX_BATCH_MAX][RB_SIZE];
	struct kmbox_mmsg ents[N];
	char bufs[N][RB_SIZE], buf[RB_SIZE];
	struct kmbox_recv r;
	struct io_uring ring;
	__u64 tags[N];
	int fd, i, k;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, KMBOX_BATCH_MAX, RB_SIZE);
	ASSERT_LE(0, fd);
	for (i = 0; i < N; i++) {
		snprintf(bufs[i], RB_SIZE, "msg-%d%s", i, i & 1 ? "-odd" : "");
		ents[i] = (struct kmbox_mmsg){
			.buf = KT_PTR(bufs[i]), .len = strlen(bufs[i]), .prio = i % 3 == 0 ? 2 : 0,
		};
		tags[i] = 100 + i;
	}
	ents[5].len = 0;
	c_sbatch(&ring, fd, ents, N, KMBOX_F_TAG, tags, 1);
	ASSERT_EQ(N, c_one(&ring));
	ASSERT_EQ(N, kt_cur_msgs(fd));
	/* the kernel wrote nothing back */
	ASSERT_EQ(0, ents[5].len);
	ASSERT_EQ(100, tags[0]);
	for (k = 0; k < N; k++) {
		i = order[k];
		memset(buf, 0, sizeof(buf));
		ASSERT_EQ(ents[i].len, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
		ASSERT_EQ(0, memcmp(buf, bufs[i], ents[i].len));
		ASSERT_EQ(ents[i].prio, r.prio);
		ASSERT_EQ(100 + i, r.tag);
		ASSERT_EQ(0, r.msg_flags);
		ASSERT_EQ(getpid(), r.pid);
		ASSERT_EQ(geteuid(), r.uid);
		ASSERT_EQ(getegid(), r.gid);
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));

	/* without KMBOX_F_TAG the tags are 0 */
	c_sbatch(&ring, fd, ents, 2, 0, NULL, 2);
	ASSERT_EQ(2, c_one(&ring));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(ents[i].len, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
		ASSERT_EQ(0, r.tag);
	}

	/* the batch's maximum count, all of it */
	sb_ents(big, bb, KMBOX_BATCH_MAX, 0);
	c_sbatch(&ring, fd, big, KMBOX_BATCH_MAX, 0, NULL, 3);
	ASSERT_EQ(KMBOX_BATCH_MAX, c_one(&ring));
	ASSERT_EQ(KMBOX_BATCH_MAX, sb_drain(fd, 0));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * Zero-copy entries among copied ones: each slot goes to the mailbox
 * with its message.  The slot of an entry the batch did not send (the
 * mailbox full) is still the sender's, and can be sent again.
 */
TEST(cmd_send_batch_zero_copy)
{
	struct kmbox_mmsg ents[4];
	struct kmbox_region reg;
	struct kmbox_recv r;
	struct kmbox_attr a;
	struct io_uring ring;
	char buf[RB_SIZE];
	uint32_t slot[2];
	int fd;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	kt_attr_init(&a, 3, 0);
	a.zc_slots = 4;
	a.zc_slot_size = 256;
	fd = kt_dev(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a));
	ASSERT_EQ(0, kmbox_region_map(fd, &reg));
	ASSERT_EQ(2, kmbox_zc_reserve(fd, slot, 2, 0, NULL));
	memcpy(kmbox_slot_ptr(&reg, slot[0]), "zc-one", 6);
	memcpy(kmbox_slot_ptr(&reg, slot[1]), "zc-two", 6);
	ents[0] = (struct kmbox_mmsg){ .buf = KT_PTR("copied"), .len = 6 };
	ents[1] = (struct kmbox_mmsg){ .len = 6, .prio = 1, .slot = slot[0],
					.flags = KMBOX_MSG_ZC };
	ents[2] = (struct kmbox_mmsg){ .buf = KT_PTR("copy-2"), .len = 6 };
	ents[3] = (struct kmbox_mmsg){ .len = 6, .slot = slot[1], .flags = KMBOX_MSG_ZC };

	/* room for 3 of the 4: the second slot stays ours */
	c_sbatch(&ring, fd, ents, 4, 0, NULL, 1);
	ASSERT_EQ(3, c_one(&ring));
	ASSERT_EQ(3, kt_cur_msgs(fd));
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(6, kt_recv(fd, NULL, 0, KMBOX_F_ZC, 0, &r));
	ASSERT_EQ(KMBOX_MSG_ZC, r.msg_flags);
	ASSERT_EQ(slot[0], r.slot);
	ASSERT_EQ(1, r.prio);
	ASSERT_EQ(0, memcmp(kmbox_slot_ptr(&reg, r.slot), "zc-one", 6));
	ASSERT_EQ(0, kmbox_zc_release(fd, &slot[0], 1));
	ASSERT_EQ(6, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	ASSERT_EQ(0, memcmp(buf, "copied", 6));
	ASSERT_EQ(KMBOX_NO_SLOT, r.slot);
	ASSERT_EQ(6, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	ASSERT_EQ(0, memcmp(buf, "copy-2", 6));
	ASSERT_EQ(0, kt_cur_msgs(fd));

	/* the unsent one, alone, and a slot the mailbox holds now: EINVAL */
	c_sbatch(&ring, fd, ents + 3, 1, 0, NULL, 2);
	ASSERT_EQ(1, c_one(&ring));
	c_sbatch(&ring, fd, ents + 3, 1, 0, NULL, 3);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* ... and after a good entry: the batch ends before it */
	ents[0].buf = KT_PTR("after!");
	ents[1] = ents[3];
	c_sbatch(&ring, fd, ents, 2, 0, NULL, 4);
	ASSERT_EQ(1, c_one(&ring));
	ASSERT_EQ(2, kt_cur_msgs(fd));
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(6, kt_recv(fd, NULL, 0, KMBOX_F_ZC, 0, &r));
	ASSERT_EQ(slot[1], r.slot);
	ASSERT_EQ(0, memcmp(kmbox_slot_ptr(&reg, r.slot), "zc-two", 6));
	ASSERT_EQ(0, kmbox_zc_release(fd, &slot[1], 1));
	ASSERT_EQ(6, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	ASSERT_EQ(0, memcmp(buf, "after!", 6));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, kmbox_region_unmap(&reg));
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * A full mailbox: -EAGAIN at once, nothing sent, on a blocking file too
 * (c_one() fails if the command pends, and a sleeping submitter is
 * caught by the alarm).  Room for k < count: the CQE says k and exactly
 * the first k are queued, in order.
 */
TEST(cmd_send_batch_full_and_partial)
{
	struct kmbox_mmsg ents[8];
	char bufs[8][RB_SIZE], buf[RB_SIZE];
	struct io_uring ring;
	int fd, k;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 4, RB_SIZE);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fcntl(fd, F_GETFL) & O_NONBLOCK);
	alarm(30);
	sb_ents(ents, bufs, 8, 0);
	c_sbatch(&ring, fd, ents, 4, 0, NULL, 1);
	ASSERT_EQ(4, c_one(&ring));
	c_sbatch(&ring, fd, ents + 4, 3, 0, NULL, 2);
	ASSERT_EQ(-EAGAIN, c_one(&ring));
	c_sbatch(&ring, fd, ents + 4, 1, 0, NULL, 3);
	ASSERT_EQ(-EAGAIN, c_one(&ring));
	c_sbatch(&ring, fd, ents + 4, 3, KMBOX_F_NONBLOCK, NULL, 4);
	ASSERT_EQ(-EAGAIN, c_one(&ring));
	ASSERT_EQ(4, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	ASSERT_EQ(4, sb_drain(fd, 0));

	/* room for k of 8, k = 1..3: the first k */
	for (k = 1; k < 4; k++) {
		int i;

		for (i = 0; i < 4 - k; i++)
			ASSERT_EQ(0, kt_send(fd, "old", 3, 0, 0, 0));
		sb_ents(ents, bufs, 8, 10 * k);
		c_sbatch(&ring, fd, ents, 8, 0, NULL, 5);
		ASSERT_EQ(k, c_one(&ring));
		ASSERT_EQ(4, kt_cur_msgs(fd));
		for (i = 0; i < 4 - k; i++)
			ASSERT_EQ(3, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
		ASSERT_EQ(k, sb_drain(fd, 10 * k));
	}

	/* the same with O_NONBLOCK on the file */
	ASSERT_EQ(0, fcntl(fd, F_SETFL, O_NONBLOCK));
	sb_ents(ents, bufs, 8, 100);
	c_sbatch(&ring, fd, ents, 8, 0, NULL, 6);
	ASSERT_EQ(4, c_one(&ring));
	c_sbatch(&ring, fd, ents + 4, 4, 0, NULL, 7);
	ASSERT_EQ(-EAGAIN, c_one(&ring));
	ASSERT_EQ(4, sb_drain(fd, 100));
	ASSERT_EQ(0, iou_workers());
	alarm(0);
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * An error on entry 0 (a buffer that faults, a message too long, a bad
 * slot, a bad priority, unknown entry flags) is the CQE's res and sends
 * nothing; the same error on entry k ends the batch there: res k, the
 * first k sent.  The entries or the tags unreadable: EFAULT, nothing.
 */
TEST(cmd_send_batch_entry_errors)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct kmbox_mmsg ents[4], *edge;
	char bufs[4][RB_SIZE], *none, *rw;
	struct io_uring ring;
	__u64 tags[4] = { 1, 2, 3, 4 }, *tedge;
	int fd, bad, k;
	struct {
		const char *what;
		int err;
	} const cases[] = {
		{ "buffer in a PROT_NONE page", -EFAULT },
		{ "buffer running into a PROT_NONE page", -EFAULT },
		{ "kernel address", -EFAULT },
		{ "a message over max_msgsize", -EMSGSIZE },
		{ "a zero-copy slot without a region", -EINVAL },
		{ "a slot without KMBOX_MSG_ZC", -EINVAL },
		{ "priority KMBOX_PRIO_MAX", -EINVAL },
		{ "unknown entry flags", -EINVAL },
		{ "entry flag bit 31", -EINVAL },
	};

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	/* a read-write page, then a PROT_NONE one */
	rw = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, rw);
	none = rw + pg;
	ASSERT_EQ(0, mprotect(none, pg, PROT_NONE));
	fd = kt_anon(O_RDWR, 8, RB_SIZE);
	ASSERT_LE(0, fd);

	for (bad = 0; bad < (int)(sizeof(cases) / sizeof(cases[0])); bad++) {
		for (k = 0; k < 4; k++) {
			struct kmbox_mmsg *e = &ents[k];

			sb_ents(ents, bufs, 4, 10 * k);
			switch (bad) {
			case 0:
				e->buf = KT_PTR(none);
				break;
			case 1:
				e->buf = KT_PTR(none - 4);
				e->len = 8;
				break;
			case 2:
				e->buf = 0xffff800000000000ULL;
				break;
			case 3:
				e->len = RB_SIZE + 1;
				break;
			case 4:
				e->flags = KMBOX_MSG_ZC;
				e->slot = 0;
				break;
			case 5:
				e->slot = 1;
				break;
			case 6:
				e->prio = KMBOX_PRIO_MAX;
				break;
			case 7:
				e->flags = 2;
				break;
			case 8:
				e->flags = 1U << 31;
				break;
			}
			c_sbatch(&ring, fd, ents, 4, 0, NULL, 1);
			ASSERT_EQ(k ? k : cases[bad].err, c_one(&ring))
				TH_LOG("%s in entry %d", cases[bad].what, k);
			ASSERT_EQ(k, sb_drain(fd, 10 * k))
				TH_LOG("%s in entry %d", cases[bad].what, k);
		}
	}

	/* the entries unreadable, whole or in part: nothing */
	sb_ents(ents, bufs, 4, 0);
	c_sbatch(&ring, fd, none, 4, 0, NULL, 2);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	c_sbatch(&ring, fd, NULL, 4, 0, NULL, 2);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	edge = (struct kmbox_mmsg *)none - 2;
	memcpy(edge, ents, 2 * sizeof(*edge));
	c_sbatch(&ring, fd, edge, 2, 0, NULL, 2);
	ASSERT_EQ(2, c_one(&ring));		/* the control: both readable */
	ASSERT_EQ(2, sb_drain(fd, 0));
	c_sbatch(&ring, fd, edge, 3, 0, NULL, 2);
	ASSERT_EQ(-EFAULT, c_one(&ring));	/* the third entry unmapped */
	ASSERT_EQ(0, kt_cur_msgs(fd));

	/* the tags unreadable, whole or in part: nothing */
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_TAG, (__u64 *)none, 3);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	tedge = (__u64 *)none - 3;
	memcpy(tedge, tags, 3 * sizeof(*tedge));
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_TAG, tedge, 3);
	ASSERT_EQ(-EFAULT, c_one(&ring));	/* the fourth tag unmapped */
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_TAG, (__u64 *)0xffff800000000000ULL, 3);
	ASSERT_EQ(-EFAULT, c_one(&ring));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	c_sbatch(&ring, fd, ents, 3, KMBOX_F_TAG, tedge, 3);
	ASSERT_EQ(3, c_one(&ring));		/* the control: three tags readable */
	ASSERT_EQ(3, sb_drain(fd, 0));
	/* tags in a read-only page are fine: the kernel only reads them */
	ASSERT_EQ(0, mprotect(rw, pg, PROT_READ));
	c_sbatch(&ring, fd, ents, 3, KMBOX_F_TAG, tedge, 3);
	ASSERT_EQ(3, c_one(&ring));
	ASSERT_EQ(3, sb_drain(fd, 0));
	ASSERT_EQ(0, iou_workers());
	close(fd);
	munmap(rw, 2 * pg);
	io_uring_queue_exit(&ring);
}

/*
 * Bad arguments, access modes, files: EINVAL, EOPNOTSUPP, EBADF,
 * EBADFD; nothing queued.
 */
TEST(cmd_send_batch_bad_input)
{
	struct kmbox_mmsg ents[4];
	char bufs[4][RB_SIZE], name[64];
	__u64 tags[4] = { 0 }, tokens[4];
	struct io_uring_sqe *sqe;
	struct io_uring ring, ring64;
	struct kmbox_attr a;
	struct kmbox_batch b;
	int fd, wfd, rfd, ufd, rdv, i;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	ASSERT_EQ(0, io_uring_queue_init(4, &ring64, 0));
	fd = kt_anon(O_RDWR, 8, RB_SIZE);
	ASSERT_LE(0, fd);
	sb_ents(ents, bufs, 4, 0);

	c_sbatch(&ring, fd, ents, 0, 0, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, KMBOX_BATCH_MAX + 1, 0, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 0xffffffff, 0, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, 1U << 20, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, 1U << 31, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* flags of other calls */
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_ZC, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_PEEK, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_MATCH, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_EXPIRE, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* what would wait: a deadline (with and without a time), a sync send */
	sqe = c_sbatch(&ring, fd, ents, 4, KMBOX_F_TIMEOUT, NULL, 1);
	sb_arg(sqe)->b.deadline_ns = kt_deadline_ms(1000);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_TIMEOUT, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	sqe = c_sbatch(&ring, fd, ents, 4, 0, NULL, 1);
	sb_arg(sqe)->b.deadline_ns = 1;
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_SYNC, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_SYNC | KMBOX_F_NONBLOCK, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* calls and tokens are a receiver's */
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_CALLS, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	sqe = c_sbatch(&ring, fd, ents, 4, 0, NULL, 1);
	sb_arg(sqe)->b.tokens = KT_PTR(tokens);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	sqe = c_sbatch(&ring, fd, ents, 4, KMBOX_F_CALLS, NULL, 1);
	sb_arg(sqe)->b.tokens = KT_PTR(tokens);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* tags and F_TAG: both or neither */
	c_sbatch(&ring, fd, ents, 4, 0, tags, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	c_sbatch(&ring, fd, ents, 4, KMBOX_F_TAG, NULL, 1);
	ASSERT_EQ(-EINVAL, c_one(&ring));
	/* each reserved word */
	for (i = 0; i < 3; i++) {
		sqe = c_sbatch(&ring, fd, ents, 4, 0, NULL, 1);
		sb_arg(sqe)->__reserved[i] = 1ULL << (i * 31);
		ASSERT_EQ(-EINVAL, c_one(&ring)) TH_LOG("__reserved[%d]", i);
	}
	ASSERT_EQ(0, kt_cur_msgs(fd));

	/* a 64-byte SQE has no room for the argument */
	sqe = get_sqe(&ring64);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = KMBOX_URING_SEND_BATCH;
	ASSERT_EQ(-EINVAL, c_one(&ring64));
	ASSERT_EQ(0, kt_cur_msgs(fd));

	/* a rendezvous mailbox would wait for its receiver */
	kt_attr_init(&a, 1, RB_SIZE);
	a.flags = KMBOX_ATTR_RENDEZVOUS;
	rdv = kt_dev(O_RDWR);
	ASSERT_LE(0, rdv);
	ASSERT_EQ(0, kt_bind(rdv, NULL, KMBOX_OPEN_ANON, 0, &a));
	c_sbatch(&ring, rdv, ents, 4, 0, NULL, 1);
	ASSERT_EQ(-EOPNOTSUPP, c_one(&ring));
	c_sbatch(&ring, rdv, ents, 1, KMBOX_F_NONBLOCK, NULL, 1);
	ASSERT_EQ(-EOPNOTSUPP, c_one(&ring));

	/* a file not open for writing; an unbound file; not a kmbox file */
	kt_name(name, sizeof(name), "sbacc");
	rfd = kt_create(name, O_RDONLY, 0600, 4, RB_SIZE);
	ASSERT_LE(0, rfd);
	wfd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
	ASSERT_LE(0, wfd);
	ASSERT_EQ(0, kt_unlink(name));
	c_sbatch(&ring, rfd, ents, 4, 0, NULL, 1);
	ASSERT_EQ(-EBADF, c_one(&ring));
	ASSERT_EQ(0, kt_cur_msgs(rfd));
	ufd = kt_dev(O_RDWR);
	ASSERT_LE(0, ufd);
	c_sbatch(&ring, ufd, ents, 4, 0, NULL, 1);
	ASSERT_EQ(-EBADFD, c_one(&ring));
	c_sbatch(&ring, ring.ring_fd, ents, 4, 0, NULL, 1);
	ASSERT_GT(0, c_one(&ring));
	/* and the ioctl agrees on the same argument */
	memset(&b, 0, sizeof(b));
	b.msgs = KT_PTR(ents);
	b.count = 4;
	ASSERT_EQ(-1, ioctl(rfd, KMBOX_IOC_SEND_BATCH, &b));
	ASSERT_EQ(EBADF, errno);
	ASSERT_EQ(-1, ioctl(ufd, KMBOX_IOC_SEND_BATCH, &b));
	ASSERT_EQ(EBADFD, errno);

	/* the write-only file sends */
	c_sbatch(&ring, wfd, ents, 4, 0, NULL, 1);
	ASSERT_EQ(4, c_one(&ring));
	ASSERT_EQ(4, sb_drain(rfd, 0));
	ASSERT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, iou_workers());
	close(ufd);
	close(rfd);
	close(wfd);
	close(rdv);
	close(fd);
	io_uring_queue_exit(&ring64);
	io_uring_queue_exit(&ring);
}

/*
 * Linked batches go on while each sends at least one; the first -EAGAIN
 * cancels the links behind it.  A batch forced into an io-wq worker
 * (IOSQE_ASYNC) completes the same, and never waits there either.
 */
TEST(cmd_send_batch_linked_and_async)
{
	struct kmbox_mmsg ents[12];
	char bufs[12][RB_SIZE];
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int fd, i, r[4];
	__u64 ud[4];

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 8);
	fd = kt_anon(O_RDWR, 9, RB_SIZE);
	ASSERT_LE(0, fd);
	alarm(30);
	sb_ents(ents, bufs, 12, 0);
	for (i = 0; i < 3; i++)
		io_uring_sqe_set_flags(c_sbatch(&ring, fd, ents + 4 * i, 4, 0, NULL, i),
				       IOSQE_IO_LINK);
	sqe = get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 3);
	ASSERT_EQ(0, c_wait(&ring, 4, r, ud));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(i, ud[i]);
		ASSERT_EQ(i < 2 ? 4 : i == 2 ? 1 : 0, r[i]);
	}
	/* full: -EAGAIN, and the NOP behind it is cancelled */
	io_uring_sqe_set_flags(c_sbatch(&ring, fd, ents + 9, 3, 0, NULL, 1), IOSQE_IO_LINK);
	sqe = get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 2);
	ASSERT_EQ(0, c_wait(&ring, 2, r, ud));
	ASSERT_EQ(-EAGAIN, r[0]);
	ASSERT_EQ(-ECANCELED, r[1]);
	ASSERT_EQ(9, sb_drain(fd, 0));

	/* in a worker: the count, and the link goes on */
	io_uring_sqe_set_flags(c_sbatch(&ring, fd, ents, 12, 0, NULL, 1),
			       IOSQE_IO_LINK | IOSQE_ASYNC);
	sqe = get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 2);
	ASSERT_EQ(0, c_wait(&ring, 2, r, ud));
	ASSERT_EQ(9, r[0]);
	ASSERT_EQ(0, r[1]);
	/* in a worker on a full mailbox: -EAGAIN, not a worker asleep */
	io_uring_sqe_set_flags(c_sbatch(&ring, fd, ents + 9, 3, 0, NULL, 1), IOSQE_ASYNC);
	ASSERT_EQ(0, c_wait(&ring, 1, r, ud));
	ASSERT_EQ(-EAGAIN, r[0]);
	ASSERT_EQ(9, sb_drain(fd, 0));
	alarm(0);
	close(fd);
	io_uring_queue_exit(&ring);
}

/*
 * The SQE rewritten by another thread while the command is issued (a
 * good argument, and one with count 0, entries in unmapped memory and a
 * reserved word set, in turn): the kernel reads it once, so each command
 * either sends its three messages whole or is refused having sent
 * nothing.
 */
TEST(cmd_send_batch_sqe_rewritten_while_issued)
{
	enum { ROUNDS = 300, Q = 3 };
	long pg = sysconf(_SC_PAGESIZE);
	static struct rb_flipper f;
	struct kmbox_mmsg ents[Q];
	char bufs[Q][RB_SIZE];
	struct io_uring ring;
	int fd, i, got = 0, other = 0;
	void *none;
	pthread_t th;

	KT_REQUIRE_MODULE();
	RING128_INIT(&ring, 1);
	ASSERT_EQ(1, ring.sq.ring_entries);
	none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	fd = kt_anon(O_RDWR, 8, RB_SIZE);
	ASSERT_LE(0, fd);
	alarm(60);
	sb_ents(ents, bufs, Q, 0);
	memset(&f, 0, sizeof(f));
	f.good.s.b.msgs = KT_PTR(ents);
	f.good.s.b.count = Q;
	f.bad.s.b.msgs = KT_PTR(none);
	f.bad.s.b.count = 0;
	f.bad.s.__reserved[2] = 1;
	f.sqe = &ring.sq.sqes[0];
	memcpy(f.sqe->cmd, &f.good, sizeof(f.good));
	pin_to(0);
	for (i = 0; i < ROUNDS; i++) {
		struct io_uring_sqe *sqe;
		__u64 ud;
		int r;

		if (i == 1)
			ASSERT_EQ(0, pthread_create(&th, NULL, rb_flip, &f));
		while (i && f.flips < (unsigned long)i)
			sched_yield();
		sqe = get_sqe(&ring);
		ASSERT_EQ(f.sqe, sqe);
		raw_cmd(sqe, fd, KMBOX_URING_SEND_BATCH, i);
		ASSERT_EQ(1, submit(&ring));
		ASSERT_EQ(0, reap(&ring, 10000, &ud, &r));
		if (r == Q) {
			ASSERT_EQ(Q, sb_drain(fd, 0));
			got++;
		} else {
			if (r != -EINVAL && r != -EFAULT)
				TH_LOG("round %d: %d", i, r);
			ASSERT_TRUE(r == -EINVAL || r == -EFAULT);
			ASSERT_EQ(0, kt_cur_msgs(fd));
			other++;
		}
	}
	f.stop = 1;
	ASSERT_EQ(0, pthread_join(th, NULL));
	TH_LOG("%d batches sent, %d refused, %lu rewrites", got, other, f.flips);
	ASSERT_EQ(ROUNDS, got + other);
	ASSERT_LE(ROUNDS - 1, f.flips);
	close(fd);
	munmap(none, pg);
	io_uring_queue_exit(&ring);
}

/*
 * Two threads, each with a ring of its own, batch-send to one file while
 * the main thread receives: every message arrives exactly once, and each
 * thread's in the order it sent them.  A thread submits the unsent rest
 * of a batch again, as kmbox_uring_prep_send(3) says a sender that keeps
 * its order does.
 */
enum { SR_MSGS = 2000, SR_THREADS = 2 };

struct sb_racer {
	int fd, id, err, partial;
};

static void *sb_race(void *arg)
{
	struct sb_racer *t = arg;
	struct kmbox_mmsg ents[SR_MSGS];
	static int pay[SR_THREADS][SR_MSGS];
	struct io_uring ring;
	int next = 0, i;

	if (io_uring_queue_init(4, &ring, IORING_SETUP_SQE128)) {
		t->err = 1;
		return NULL;
	}
	for (i = 0; i < SR_MSGS; i++) {
		pay[t->id][i] = t->id << 16 | i;
		ents[i] = (struct kmbox_mmsg){ .buf = KT_PTR(&pay[t->id][i]), .len = sizeof(int) };
	}
	while (next < SR_MSGS && !t->err) {
		__u32 count = SR_MSGS - next < 8 ? SR_MSGS - next : 8;
		int r;

		c_sbatch(&ring, t->fd, ents + next, count, 0, NULL, next);
		r = c_one(&ring);
		if (r == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (r < 1 || r > (int)count) {
			t->err = 2;
			break;
		}
		t->partial += r < (int)count;
		next += r;
	}
	io_uring_queue_exit(&ring);
	return NULL;
}

TEST(cmd_send_batch_two_rings_race)
{
	static unsigned char seen[SR_THREADS][SR_MSGS];
	struct sb_racer t[SR_THREADS];
	pthread_t th[SR_THREADS];
	int last[SR_THREADS] = { -1, -1 };
	int fd, i;

	KT_REQUIRE_MODULE();
	REQUIRE_URING();
	fd = kt_anon(O_RDWR, 16, RB_SIZE);
	ASSERT_LE(0, fd);
	alarm(120);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < SR_THREADS; i++) {
		t[i] = (struct sb_racer){ .fd = fd, .id = i };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, sb_race, &t[i]));
	}
	/* blocking receives: the senders wait for the room they make */
	for (i = 0; i < SR_THREADS * SR_MSGS; i++) {
		int v, id, seq;

		ASSERT_EQ(sizeof(v), kt_recv(fd, &v, sizeof(v), 0, 0, NULL));
		id = v >> 16;
		seq = v & 0xffff;
		ASSERT_TRUE(id >= 0 && id < SR_THREADS && seq < SR_MSGS) TH_LOG("got %#x", v);
		ASSERT_EQ(last[id] + 1, seq) TH_LOG("thread %d: %d after %d", id, seq, last[id]);
		last[id] = seq;
		seen[id][seq]++;
	}
	for (i = 0; i < SR_THREADS; i++) {
		ASSERT_EQ(0, pthread_join(th[i], NULL));
		ASSERT_EQ(0, t[i].err);
	}
	TH_LOG("partial batches: thread 0 %d, thread 1 %d", t[0].partial, t[1].partial);
	for (i = 0; i < SR_THREADS * SR_MSGS; i++)
		ASSERT_EQ(1, seen[i / SR_MSGS][i % SR_MSGS]);
	ASSERT_EQ(0, kt_cur_msgs(fd));
	close(fd);
}

/*
 * uid 1000 in fresh user and IPC namespaces: the batch command works,
 * its messages carry the namespace's view of the sender, and the
 * mailbox accounting (cur_msgs, /proc/kmbox/stats) follows each batch
 * exactly and comes back once the files are closed.
 */
TEST(cmd_send_batch_unprivileged_in_fresh_namespaces)
{
	struct kt_stats s0, s1;
	pid_t pid;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&s0));
	pid = kt_fork(60);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kmbox_mmsg ents[8];
		char bufs[8][RB_SIZE], name[64], buf[RB_SIZE];
		struct kt_stats a0, a1;
		struct kmbox_recv r;
		struct io_uring ring;
		int rfd, wfd, ret, i;
		long bytes = 0;

		become_other_in_fresh_ns();
		ret = io_uring_queue_init(8, &ring, IORING_SETUP_SQE128);
		if (ret == -EPERM || ret == -ENOSYS)
			_exit(201);
		CHILD_ASSERT(ret == 0);
		kt_name(name, sizeof(name), "sbns");
		rfd = kt_create(name, O_RDONLY, 0600, 6, RB_SIZE);
		CHILD_ASSERT(rfd >= 0);
		wfd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
		CHILD_ASSERT(wfd >= 0);
		CHILD_ASSERT(kt_read_stats(&a0) == 0);
		sb_ents(ents, bufs, 8, 0);
		for (i = 0; i < 6; i++)
			bytes += ents[i].len;
		c_sbatch(&ring, rfd, ents, 8, 0, NULL, 1);
		CHILD_ASSERT(c_one(&ring) == -EBADF);
		/* an error on entry 0 counts nothing */
		ents[0].len = RB_SIZE + 1;
		c_sbatch(&ring, wfd, ents, 8, 0, NULL, 2);
		CHILD_ASSERT(c_one(&ring) == -EMSGSIZE);
		ents[0].len = strlen(bufs[0]);
		CHILD_ASSERT(kt_read_stats(&a1) == 0);
		CHILD_ASSERT(a1.messages == a0.messages && a1.bytes == a0.bytes);
		/* 6 of 8: the mailbox holds 6 */
		c_sbatch(&ring, wfd, ents, 8, 0, NULL, 3);
		CHILD_ASSERT(c_one(&ring) == 6);
		CHILD_ASSERT(kt_cur_msgs(wfd) == 6);
		CHILD_ASSERT(kt_read_stats(&a1) == 0);
		CHILD_ASSERT(a1.messages == a0.messages + 6);
		CHILD_ASSERT(a1.bytes >= a0.bytes + bytes);
		c_sbatch(&ring, wfd, ents + 6, 2, 0, NULL, 4);
		CHILD_ASSERT(c_one(&ring) == -EAGAIN);
		for (i = 0; i < 6; i++) {
			CHILD_ASSERT(kt_recv(rfd, buf, sizeof(buf), 0, 0, &r) == (int)ents[i].len);
			CHILD_ASSERT(!memcmp(buf, bufs[i], ents[i].len));
			CHILD_ASSERT(r.uid == OTHER_UID && r.gid == OTHER_UID);
			CHILD_ASSERT(r.pid == getpid());
		}
		CHILD_ASSERT(kt_cur_msgs(rfd) == 0);
		CHILD_ASSERT(kt_read_stats(&a1) == 0);
		CHILD_ASSERT(a1.messages == a0.messages && a1.bytes == a0.bytes);
		/* two left queued when the files close */
		c_sbatch(&ring, wfd, ents + 6, 2, 0, NULL, 5);
		CHILD_ASSERT(c_one(&ring) == 2);
		CHILD_ASSERT(iou_workers() == 0);
		CHILD_ASSERT(kt_unlink(name) == 0);
		io_uring_queue_exit(&ring);
		_exit(0);
	}
	FRESH_NS_VERDICT(pid, &s0, &s1);
}

TEST_HARNESS_MAIN
