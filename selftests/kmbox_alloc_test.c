// SPDX-License-Identifier: GPL-2.0
/*
 * Message memory (module/msg.c): whatever buffer a message is copied
 * into (a pooled buffer reused after a longer message, a buffer on the
 * stack for tiny payloads, recycled pages for large ones), a receiver
 * gets exactly the bytes sent and never a byte of an earlier message;
 * and a copy from user space that faults halfway leaves nothing queued
 * and nothing counted.
 *
 * Each test sends through write(), writev() and KMBOX_IOC_SEND, and
 * receives through read(), readv() and KMBOX_IOC_RECV: they copy through
 * different paths.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define BIG		(64 * 1024)
#define OLD		0xa5	/* the bytes of the earlier, longer message */
#define UNTOUCHED	0x5a	/* what the receive buffer held before */
#define RECYCLED	"kmbox-recycled-pages"
#define RECYCLE_MAX	64	/* KMBOX_RECYCLE_MAX */
#define BIG_PAGES	(BIG / 4096)
#define KT_USER		1000

enum path { P_RW, P_VEC, P_IOCTL, P_NPATHS };
static const char *const path_name[P_NPATHS] = { "read/write", "readv/writev", "ioctl" };

static int send_by(enum path p, int fd, const void *buf, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)buf, .iov_len = len / 2 },
		{ .iov_base = (char *)buf + len / 2, .iov_len = len - len / 2 },
	};

	switch (p) {
	case P_RW:
		return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
	case P_VEC:
		return writev(fd, iov, 2) == (ssize_t)len ? 0 : -1;
	default:
		return kt_send(fd, buf, len, 0, 0, 0) ? -1 : 0;
	}
}

/* The received length, or -1. */
static ssize_t recv_by(enum path p, int fd, void *buf, size_t cap)
{
	struct iovec iov[2] = {
		{ .iov_base = buf, .iov_len = cap / 2 },
		{ .iov_base = (char *)buf + cap / 2, .iov_len = cap - cap / 2 },
	};

	switch (p) {
	case P_RW:
		return read(fd, buf, cap);
	case P_VEC:
		return readv(fd, iov, 2);
	default:
		return kt_recv(fd, buf, cap, 0, 0, NULL);
	}
}

/* The index of the first byte of @buf[@from..@to) that is not @c, or -1. */
static long first_not(const unsigned char *buf, size_t from, size_t to, unsigned char c)
{
	size_t i;

	for (i = from; i < to; i++)
		if (buf[i] != c)
			return i;
	return -1;
}

/*
 * A one-message mailbox reuses one buffer (or its pages) for every
 * message: a long message of OLD bytes, then a shorter one, received
 * into a buffer of UNTOUCHED bytes as long as the first.  The receiver
 * must see the short payload and its own bytes after it.
 */
static int shorter_after_longer(struct __test_metadata *_metadata, size_t longer,
				size_t shorter)
{
	unsigned char *out = malloc(longer), *in = malloc(longer);
	int bad = 0;
	enum path p;

	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	for (p = 0; p < P_NPATHS; p++) {
		int fd = kt_anon(O_RDWR | O_NONBLOCK, 1, BIG);
		ssize_t n;
		long at;

		ASSERT_GE(fd, 0) TH_LOG("anon mailbox: %s", strerror(errno));
		/* Twice: the second round reuses what the first one freed. */
		for (int round = 0; round < 2; round++) {
			memset(out, OLD, longer);
			ASSERT_EQ(0, send_by(p, fd, out, longer)) TH_LOG("%s: send %zu: %s",
				path_name[p], longer, strerror(errno));
			memset(in, UNTOUCHED, longer);
			ASSERT_EQ((ssize_t)longer, recv_by(p, fd, in, longer));
			ASSERT_EQ(-1, first_not(in, 0, longer, OLD));

			kt_fill(out, shorter, (uint32_t)(shorter + round));
			ASSERT_EQ(0, send_by(p, fd, out, shorter)) TH_LOG("%s: send %zu: %s",
				path_name[p], shorter, strerror(errno));
			memset(in, UNTOUCHED, longer);
			n = recv_by(p, fd, in, longer);
			EXPECT_EQ((ssize_t)shorter, n) TH_LOG("%s: %zu after %zu", path_name[p],
							     shorter, longer);
			if (!kt_check_fill(in, shorter, (uint32_t)(shorter + round))) {
				TH_LOG("%s: %zu after %zu: payload differs", path_name[p],
				       shorter, longer);
				bad++;
			}
			at = first_not(in, shorter, longer, UNTOUCHED);
			if (at >= 0) {
				TH_LOG("%s: %zu after %zu: byte %ld of the receive buffer is 0x%02x",
				       path_name[p], shorter, longer, at, in[at]);
				bad++;
			}
		}
		close(fd);
	}
	free(out);
	free(in);
	return bad;
}

/* Pooled buffers, and tiny payloads copied through the stack. */
TEST(short_message_in_a_reused_small_buffer_shows_no_old_bytes)
{
	static const size_t shorter[] = { 1, 63, 64, 127, 128, 129, 300 };
	int bad = 0;

	KT_REQUIRE_MODULE();
	for (size_t i = 0; i < sizeof(shorter) / sizeof(shorter[0]); i++)
		bad += shorter_after_longer(_metadata, 800, shorter[i]);
	EXPECT_EQ(0, bad);
}

/* Messages kept in pages: a shorter one over the pages of a longer one. */
TEST(short_message_in_reused_pages_shows_no_old_bytes)
{
	static const size_t shorter[] = { 64, 5000, 4096 + 1, 3 * 4096, BIG - 1 };
	int bad = 0;

	KT_REQUIRE_MODULE();
	for (size_t i = 0; i < sizeof(shorter) / sizeof(shorter[0]); i++)
		bad += shorter_after_longer(_metadata, BIG, shorter[i]);
	EXPECT_EQ(0, bad);
}

FIXTURE(fault) {
	unsigned char *buf;	/* BIG bytes; the second half unmapped */
	long msgs0, bytes0;
};

FIXTURE_SETUP(fault)
{
	KT_REQUIRE_MODULE();
	self->buf = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	kt_fill(self->buf, BIG / 2, 7);
	ASSERT_EQ(0, munmap(self->buf + BIG / 2, BIG / 2));
	self->msgs0 = kt_stat_long("messages");
	self->bytes0 = kt_stat_long("bytes");
	ASSERT_GE(self->msgs0, 0);
	ASSERT_GE(self->bytes0, 0);
}

FIXTURE_TEARDOWN(fault)
{
	if (self->buf && self->buf != MAP_FAILED)
		munmap(self->buf, BIG / 2);
}

/*
 * A 64 KiB send from a buffer whose second half is unmapped fails with
 * EFAULT: nothing is queued, /proc/kmbox/stats counts nothing, and the
 * next message, into the same recycled memory, comes out whole.
 */
TEST_F(fault, send_faulting_halfway_queues_nothing_and_counts_nothing)
{
	unsigned char *good = malloc(BIG), *in = malloc(BIG);
	enum path p;

	ASSERT_NE(NULL, good);
	ASSERT_NE(NULL, in);
	kt_fill(good, BIG, 99);
	for (p = 0; p < P_NPATHS; p++) {
		int fd = kt_anon(O_RDWR | O_NONBLOCK, 4, BIG);

		ASSERT_GE(fd, 0);
		for (int i = 0; i < 3; i++) {
			errno = 0;
			EXPECT_EQ(-1, send_by(p, fd, self->buf, BIG)) TH_LOG("%s", path_name[p]);
			EXPECT_EQ(EFAULT, errno) TH_LOG("%s: %s", path_name[p], strerror(errno));
			EXPECT_EQ(0, kt_cur_msgs(fd)) TH_LOG("%s", path_name[p]);
			EXPECT_EQ(self->msgs0, kt_stat_long("messages")) TH_LOG("%s", path_name[p]);
			EXPECT_EQ(self->bytes0, kt_stat_long("bytes")) TH_LOG("%s", path_name[p]);
			/* A small one faulting in its first byte, too. */
			errno = 0;
			EXPECT_EQ(-1, send_by(p, fd, self->buf + BIG / 2, 64));
			EXPECT_EQ(EFAULT, errno);
			EXPECT_EQ(0, kt_cur_msgs(fd));
		}
		/* Then a good one: it has every byte sent and nothing else. */
		ASSERT_EQ(0, send_by(p, fd, good, BIG - 100));
		memset(in, UNTOUCHED, BIG);
		EXPECT_EQ(BIG - 100, recv_by(p, fd, in, BIG)) TH_LOG("%s", path_name[p]);
		EXPECT_TRUE(kt_check_fill(in, BIG - 100, 99)) TH_LOG("%s", path_name[p]);
		EXPECT_EQ(-1, first_not(in, BIG - 100, BIG, UNTOUCHED)) TH_LOG("%s", path_name[p]);
		close(fd);
		EXPECT_EQ(self->msgs0, kt_stat_long("messages"));
		EXPECT_EQ(self->bytes0, kt_stat_long("bytes"));
	}
	free(good);
	free(in);
}

/*
 * A receive into a buffer whose second half is unmapped fails with
 * EFAULT and leaves the message queued, whole: the next receive gets it.
 */
TEST_F(fault, receive_faulting_halfway_keeps_the_message)
{
	unsigned char *good = malloc(BIG), *in = malloc(BIG);
	static const size_t sizes[] = { 64, BIG };
	enum path p;

	ASSERT_NE(NULL, good);
	ASSERT_NE(NULL, in);
	for (p = 0; p < P_NPATHS; p++) {
		for (size_t s = 0; s < 2; s++) {
			int fd = kt_anon(O_RDWR | O_NONBLOCK, 4, BIG);
			/* The small one faults on its first byte. */
			unsigned char *at = sizes[s] == BIG ? self->buf : self->buf + BIG / 2;

			ASSERT_GE(fd, 0);
			kt_fill(good, sizes[s], 5 + s);
			ASSERT_EQ(0, send_by(p, fd, good, sizes[s]));
			errno = 0;
			EXPECT_EQ(-1, recv_by(p, fd, at, sizes[s])) TH_LOG("%s", path_name[p]);
			EXPECT_EQ(EFAULT, errno) TH_LOG("%s: %s", path_name[p], strerror(errno));
			EXPECT_EQ(1, kt_cur_msgs(fd)) TH_LOG("%s", path_name[p]);
			memset(in, UNTOUCHED, BIG);
			EXPECT_EQ((ssize_t)sizes[s], recv_by(p, fd, in, BIG));
			EXPECT_TRUE(kt_check_fill(in, sizes[s], 5 + s)) TH_LOG("%s", path_name[p]);
			close(fd);
			EXPECT_EQ(self->msgs0, kt_stat_long("messages"));
			EXPECT_EQ(self->bytes0, kt_stat_long("bytes"));
		}
	}
	free(good);
	free(in);
}

/* Run the shrinkers: 0, or -1. */
static int drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, "2", 1) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

/* Send @n messages of @len through @fd, then receive them: how many came back intact. */
static int round_trips(int fd, int n, size_t len)
{
	unsigned char *buf = malloc(len);
	int i, ok = 0;

	if (!buf)
		return -1;
	for (i = 0; i < n; i++) {
		kt_fill(buf, len, i);
		if (kt_send(fd, buf, len, 0, KMBOX_F_NONBLOCK, 0))
			break;
	}
	n = i;
	for (i = 0; i < n; i++)
		if (kt_recv(fd, buf, len, KMBOX_F_NONBLOCK, 0, NULL) == (int)len &&
		    kt_check_fill(buf, len, i))
			ok++;
	free(buf);
	return ok;
}

/*
 * Freed messages over a page are kept for the next ones, 64 pages at
 * most; memory pressure takes them all back, and so does an idle pass
 * within a few seconds.
 */
TEST(freed_large_messages_are_kept_up_to_64_pages_and_given_back)
{
	int fd, i;
	long kept = -1;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 16, BIG);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_fdinfo_long(fd, RECYCLED)) TH_LOG("no " RECYCLED " in fdinfo");
	/* 8 queued at once: the first 4 freed are kept, the rest freed. */
	ASSERT_EQ(8, round_trips(fd, 8, BIG));
	EXPECT_EQ(RECYCLE_MAX, kt_fdinfo_long(fd, RECYCLED));
	/* A message of 3 pages reuses 16 of them and frees 13. */
	ASSERT_EQ(1, round_trips(fd, 1, 3 * 4096));
	EXPECT_EQ(RECYCLE_MAX - BIG_PAGES + 3, kt_fdinfo_long(fd, RECYCLED));
	/* The shrinker may skip a round (it only trylocks the list). */
	for (i = 0; i < 50; i++) {
		ASSERT_EQ(0, drop_caches());
		kept = kt_fdinfo_long(fd, RECYCLED);
		if (!kept)
			break;
		kt_sleep_ms(20);
	}
	EXPECT_EQ(0, kept) TH_LOG("drop_caches left %ld recycled pages", kept);
	/* Idle: the trim pass (every second) gives them back. */
	ASSERT_EQ(2, round_trips(fd, 2, BIG));
	EXPECT_EQ(2 * BIG_PAGES, kt_fdinfo_long(fd, RECYCLED));
	for (i = 0; i < 100; i++) {
		kept = kt_fdinfo_long(fd, RECYCLED);
		if (!kept)
			break;
		kt_sleep_ms(50);
	}
	EXPECT_EQ(0, kept) TH_LOG("idle for 5 s, still %ld recycled pages", kept);
	close(fd);
}

/*
 * Kept pages are charged to the mailbox's creator: while its quota is
 * spent, another user's freed messages are not kept; once it has room,
 * they are.
 */
TEST(kept_pages_are_charged_to_the_creator_within_its_quota)
{
	unsigned long long quota;
	char name[64], c;
	int ready[2], go[2], fd, have_quota;
	pid_t pid;

	KT_REQUIRE_MODULE();
	have_quota = kt_param_get("user_quota", &quota) == 0;
	if (!have_quota)
		SKIP(return, "no user_quota parameter");
	ASSERT_EQ(0, kt_param_set("user_quota", 4 << 20));
	kt_name(name, sizeof(name), "recycle");
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	pid = kt_fork(60);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		unsigned char *buf = malloc(BIG);
		int mine, n = 0;

		close(ready[0]);
		close(go[1]);
		CHILD_ASSERT(buf);
		memset(buf, 1, BIG);
		umask(0);
		CHILD_ASSERT(kt_become(KT_USER, KT_USER) == 0);
		CHILD_ASSERT(kt_create(name, O_RDWR, 0666, 16, BIG) >= 0);
		/* Spend the quota on messages queued in a mailbox of its own. */
		mine = kt_anon(O_RDWR | O_NONBLOCK, 1024, BIG);
		CHILD_ASSERT(mine >= 0);
		while (!kt_send(mine, buf, BIG, 0, KMBOX_F_NONBLOCK, 0))
			n++;
		CHILD_ASSERT(errno == ENOBUFS && n > 0);
		close(ready[1]);
		/* Until told: then give it all back. */
		CHILD_ASSERT(read(go[0], &c, 1) == 1);
		close(mine);
		close(ready[0]);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ(0, read(ready[0], &c, 1));
	fd = kt_open(name, O_RDWR | O_NONBLOCK, 0, 0, 0, 0);
	ASSERT_GE(fd, 0);
	/* We are exempt from the quota; the creator is not. */
	EXPECT_EQ(4, round_trips(fd, 4, BIG));
	EXPECT_EQ(0, kt_fdinfo_long(fd, RECYCLED)) TH_LOG("kept on a spent quota");
	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(4, round_trips(fd, 4, BIG));
	EXPECT_EQ(RECYCLE_MAX, kt_fdinfo_long(fd, RECYCLED)) TH_LOG("the creator has room now");
	close(fd);
	kt_unlink(name);
	kt_param_set("user_quota", quota);
}

TEST_HARNESS_MAIN
