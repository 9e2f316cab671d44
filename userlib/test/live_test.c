// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * libkmbox against the real module: every public call once, on its happy
 * path and on the error its man page promises first.  This is a smoke test
 * of the library's plumbing (struct filling, flag and deadline passing,
 * return values), not of the module's semantics: selftests/ covers those.
 * Needs /dev/kmbox (make check runs it in the QEMU guest); prints a
 * TAP skip and exits 0 without it.  Static, so it runs in the initramfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmbox.h"

static int tests, failures;

static void report(int ok, const char *what, long ret, int err)
{
	tests++;
	if (!ok)
		failures++;
	printf("%sok %d %s", ok ? "" : "not ", tests, what);
	if (!ok)
		printf(" (returned %ld, errno %d %s)", ret, err, strerror(err));
	printf("\n");
}

#define EXPECT_ERR(want, call) do {					\
	long r_;							\
	int e_;								\
	errno = 0;							\
	r_ = (long)(call);						\
	e_ = errno;							\
	report(r_ == -1 && e_ == (want), #call " -> " #want, r_, e_);	\
} while (0)

/* The call returns @want (>= 0). */
#define EXPECT_RET(want, call) do {					\
	long r_;							\
	int e_;								\
	errno = 0;							\
	r_ = (long)(call);						\
	e_ = errno;							\
	report(r_ == (long)(want), #call " == " #want, r_, e_);	\
} while (0)

#define EXPECT_TRUE(cond) report(!!(cond), #cond, 0, 0)

static struct timespec in_ns(long long ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns += ts.tv_nsec;
	ts.tv_sec += ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	return ts;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_info(void)
{
	struct kmbox_info info;

	EXPECT_RET(0, kmbox_info(-1, &info));
	EXPECT_TRUE(info.api_version == KMBOX_API_VERSION &&
		    info.prio_max == KMBOX_PRIO_MAX);
	EXPECT_TRUE(info.features & KMBOX_FEAT_ZEROCOPY);
}

static void test_copy_paths(void)
{
	const struct kmbox_attr want = { .max_msgs = 4, .max_msgsize = 128 };
	struct timespec past = { .tv_sec = 0, .tv_nsec = 1 };
	struct timespec never = { .tv_sec = INT64_MAX, .tv_nsec = 0 };
	struct kmbox_mmsg m[KMBOX_BATCH_MAX + 44];
	struct kmbox_msginfo info;
	struct kmbox_attr attr;
	char buf[128], bufs[8][128];
	unsigned int prio = 99, i;
	uint64_t before;
	int fd;

	fd = kmbox_create_anon(O_RDWR | O_NONBLOCK | O_CLOEXEC, &want);
	EXPECT_TRUE(fd >= 0);
	EXPECT_RET(0, kmbox_getattr(fd, &attr));
	EXPECT_TRUE(attr.max_msgs == 4 && attr.max_msgsize == 128 &&
		    attr.cur_msgs == 0 && !(attr.flags & KMBOX_ATTR_NAMED) &&
		    (attr.flags & KMBOX_ATTR_NONBLOCK));

	/* Order, priority, sender info. */
	before = now_ns();
	EXPECT_RET(0, kmbox_send(fd, "low", 3, 1));
	EXPECT_RET(0, kmbox_timedsend(fd, "high", 4, 7, &never));
	EXPECT_RET(0, kmbox_send(fd, "", 0, 1));
	EXPECT_ERR(EMSGSIZE, kmbox_send(fd, buf, 129, 0));
	EXPECT_ERR(EINVAL, kmbox_send(fd, "x", 1, KMBOX_PRIO_MAX));
	EXPECT_ERR(EMSGSIZE, kmbox_receive(fd, buf, 3, &prio));
	EXPECT_RET(4, kmbox_receive_info(fd, buf, sizeof(buf), &info, NULL));
	EXPECT_TRUE(!memcmp(buf, "high", 4) && info.prio == 7 &&
		    info.pid == getpid() && info.uid == geteuid() &&
		    info.gid == getegid() && info.flags == 0 &&
		    info.send_ns >= before && info.send_ns <= now_ns());
	EXPECT_RET(3, kmbox_timedreceive(fd, buf, sizeof(buf), &prio, &past));
	EXPECT_TRUE(!memcmp(buf, "low", 3) && prio == 1);
	EXPECT_RET(0, kmbox_receive(fd, buf, sizeof(buf), NULL));
	EXPECT_ERR(EAGAIN, kmbox_receive(fd, buf, sizeof(buf), NULL));
	close(fd);

	/* Deadlines on a blocking file. */
	fd = kmbox_create_anon(O_RDWR, &want);
	EXPECT_TRUE(fd >= 0);
	EXPECT_ERR(ETIMEDOUT, kmbox_timedreceive(fd, buf, 8, NULL, &past));
	{
		struct timespec soon = in_ns(20 * 1000 * 1000);

		EXPECT_ERR(ETIMEDOUT, kmbox_receive_info(fd, buf, 8, NULL,
							 &soon));
	}

	/* Batches, including one longer than a kernel call takes. */
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		kmbox_mmsg_prep(&m[i], "batch", 5, i % 3);
	EXPECT_RET(4, kmbox_send_batch(fd, m, sizeof(m) / sizeof(m[0]),
				       KMBOX_F_NONBLOCK, NULL));
	EXPECT_ERR(EAGAIN, kmbox_send_batch(fd, m, 1, KMBOX_F_NONBLOCK, NULL));
	for (i = 0; i < 8; i++)
		kmbox_mmsg_prep(&m[i], bufs[i], sizeof(bufs[i]), 0);
	EXPECT_RET(4, kmbox_receive_batch(fd, m, 8, 0, &never));
	EXPECT_TRUE(m[0].prio == 2 && m[1].prio == 1 && m[2].prio == 0 &&
		    m[3].prio == 0 && m[0].len == 5 &&
		    !memcmp(bufs[0], "batch", 5) &&
		    m[0].slot == KMBOX_NO_SLOT && m[0].flags == 0);
	EXPECT_ERR(EAGAIN, kmbox_receive_batch(fd, m, 8, KMBOX_F_NONBLOCK,
					       NULL));
	close(fd);
}

static void test_zero_copy(void)
{
	const struct kmbox_attr want = {
		.max_msgs = 8, .max_msgsize = 256,
		.zc_slots = 4, .zc_slot_size = 256,
	};
	struct kmbox_region r, ro;
	struct kmbox_msginfo info;
	struct kmbox_attr attr;
	uint32_t slots[8], slot;
	char buf[256];
	int fd, rd;

	fd = kmbox_create_anon(O_RDWR | O_NONBLOCK, &want);
	EXPECT_TRUE(fd >= 0);
	EXPECT_RET(0, kmbox_region_map(fd, &r));
	EXPECT_TRUE(r.base && r.nslots == 4 && r.slot_size == 256 &&
		    r.writable && r.fd == fd &&
		    r.size % (size_t)sysconf(_SC_PAGESIZE) == 0);

	EXPECT_RET(4, kmbox_zc_reserve(fd, slots, 8, 0, NULL));
	EXPECT_ERR(EAGAIN, kmbox_zc_reserve(fd, slots + 4, 1, 0, NULL));
	EXPECT_RET(0, kmbox_zc_release(fd, slots + 2, 2));
	EXPECT_ERR(EINVAL, kmbox_zc_release(fd, slots + 2, 1));

	memcpy(kmbox_slot_ptr(&r, slots[0]), "in place", 8);
	EXPECT_RET(0, kmbox_zc_send(fd, slots[0], 8, 3, 0, NULL));
	EXPECT_ERR(EINVAL, kmbox_zc_send(fd, slots[0], 8, 3, 0, NULL));
	memcpy(kmbox_slot_ptr(&r, slots[1]), "copied", 6);
	EXPECT_RET(0, kmbox_zc_send(fd, slots[1], 6, 1, KMBOX_F_NONBLOCK,
				    NULL));
	EXPECT_RET(0, kmbox_send(fd, "plain", 5, 0));

	/* Zero-copy by reference... */
	EXPECT_RET(8, kmbox_zc_receive(fd, NULL, 0, &info, &slot, NULL));
	EXPECT_TRUE(slot == slots[0] && (info.flags & KMBOX_MSG_ZC) &&
		    info.prio == 3 &&
		    !memcmp(kmbox_slot_ptr(&r, slot), "in place", 8));
	EXPECT_RET(0, kmbox_getattr(fd, &attr));
	EXPECT_TRUE(attr.zc_held == 1 && attr.zc_free == 2);
	EXPECT_RET(0, kmbox_zc_release(fd, &slot, 1));
	/* ... a plain receive copies it and frees the slot ... */
	EXPECT_RET(6, kmbox_receive(fd, buf, sizeof(buf), NULL));
	EXPECT_TRUE(!memcmp(buf, "copied", 6));
	/* ... and a copied message comes back copied. */
	EXPECT_RET(5, kmbox_zc_receive(fd, buf, sizeof(buf), &info, &slot,
				       NULL));
	EXPECT_TRUE(slot == KMBOX_NO_SLOT && info.flags == 0 &&
		    !memcmp(buf, "plain", 5));
	EXPECT_RET(0, kmbox_getattr(fd, &attr));
	EXPECT_TRUE(attr.zc_free == 4 && attr.zc_held == 0 &&
		    attr.zc_completed == 2 && attr.cur_msgs == 0);

	/* Batched zero-copy receive. */
	EXPECT_RET(1, kmbox_zc_reserve(fd, slots, 1, 0, NULL));
	EXPECT_RET(0, kmbox_zc_send(fd, slots[0], 0, 0, 0, NULL));
	{
		struct kmbox_mmsg m[2];

		kmbox_mmsg_prep(&m[0], buf, sizeof(buf), 0);
		kmbox_mmsg_prep(&m[1], buf, sizeof(buf), 0);
		EXPECT_RET(1, kmbox_receive_batch(fd, m, 2, KMBOX_F_ZC,
						  NULL));
		EXPECT_TRUE(m[0].flags == KMBOX_MSG_ZC &&
			    m[0].slot == slots[0] && m[0].len == 0);
		EXPECT_RET(0, kmbox_zc_release(fd, &m[0].slot, 1));
	}

	EXPECT_RET(0, kmbox_region_unmap(&r));
	EXPECT_TRUE(r.base == NULL && r.fd == -1);
	EXPECT_ERR(EINVAL, kmbox_region_unmap(&r));

	/* A reader maps read-only; a mailbox without region has none. */
	rd = dup(fd);
	close(fd);
	fd = kmbox_create_anon(O_RDONLY, &want);
	EXPECT_RET(0, kmbox_region_map(fd, &ro));
	EXPECT_TRUE(!ro.writable);
	if (ro.base)
		EXPECT_RET(0, kmbox_region_unmap(&ro));
	close(fd);
	/* mmap(2) needs read access: senders map through O_RDWR files. */
	fd = kmbox_create_anon(O_WRONLY, &want);
	EXPECT_ERR(EACCES, kmbox_region_map(fd, &ro));
	close(fd);
	close(rd);
	fd = kmbox_create_anon(O_RDWR, NULL);
	EXPECT_ERR(ENODEV, kmbox_region_map(fd, &ro));
	EXPECT_TRUE(ro.base == NULL);
	close(fd);
}

static void test_named(void)
{
	const struct kmbox_attr bad = { .max_msgs = UINT32_MAX };
	char name[64];
	struct kmbox_attr attr;
	mode_t old;
	int fd, fd2;

	snprintf(name, sizeof(name), "libkmbox-live.%d", (int)getpid());
	old = umask(022);
	EXPECT_ERR(ENOENT, kmbox_open(name, O_RDWR));
	EXPECT_ERR(EINVAL, kmbox_open(name, O_RDWR | O_CREAT, 0600, &bad));
	fd = kmbox_open(name, O_WRONLY | O_CREAT | O_EXCL, 0666, NULL);
	EXPECT_TRUE(fd >= 0);
	EXPECT_ERR(EEXIST, kmbox_open(name, O_RDWR | O_CREAT | O_EXCL, 0600,
				      NULL));
	fd2 = kmbox_open(name, O_RDONLY | O_CREAT, 0600, &bad);
	EXPECT_TRUE(fd2 >= 0);		/* exists: attr and mode unused */
	EXPECT_RET(0, kmbox_send(fd, "named", 5, 0));
	EXPECT_ERR(EBADF, kmbox_receive(fd, (char[8]){ 0 }, 8, NULL));
	EXPECT_RET(5, kmbox_receive(fd2, (char[8]){ 0 }, 8, NULL));
	EXPECT_RET(0, kmbox_getattr(fd2, &attr));
	EXPECT_TRUE(attr.flags & KMBOX_ATTR_NAMED);
	EXPECT_RET(0, kmbox_unlink(name));
	EXPECT_ERR(ENOENT, kmbox_unlink(name));
	EXPECT_RET(0, kmbox_getattr(fd2, &attr));
	EXPECT_TRUE(attr.flags & KMBOX_ATTR_UNLINKED);
	umask(old);
	close(fd);
	close(fd2);
}

static int cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl < 0 ? -1 : !!(fl & FD_CLOEXEC);
}

/* Issue #16: close-on-exec by default, EMSGSIZE's length, reopen. */
static void test_newcomer(void)
{
	const struct kmbox_attr want = {
		.max_msgs = 4, .max_msgsize = 64,
		.zc_slots = 2, .zc_slot_size = 64,
	};
	struct kmbox_msginfo info;
	struct kmbox_attr attr;
	char name[64], buf[64];
	uint32_t slot = 7;
	int fd, fd2, ro;

	EXPECT_TRUE(kmbox_version() == LIBKMBOX_VERSION);

	fd = kmbox_create_anon(O_RDWR, &want);
	EXPECT_TRUE(fd >= 0 && cloexec(fd) == 1);
	fd2 = kmbox_create_anon(O_RDWR | KMBOX_O_NOCLOEXEC, NULL);
	EXPECT_TRUE(fd2 >= 0 && cloexec(fd2) == 0);
	close(fd2);
	EXPECT_ERR(EINVAL, kmbox_create_anon(O_RDWR | O_CLOEXEC |
					     KMBOX_O_NOCLOEXEC, NULL));
	snprintf(name, sizeof(name), "libkmbox-live-cx.%d", (int)getpid());
	fd2 = kmbox_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
	EXPECT_TRUE(fd2 >= 0 && cloexec(fd2) == 1);
	close(fd2);
	fd2 = kmbox_open(name, O_RDONLY | KMBOX_O_NOCLOEXEC);
	EXPECT_TRUE(fd2 >= 0 && cloexec(fd2) == 0);
	close(fd2);
	EXPECT_RET(0, kmbox_unlink(name));

	/* The length of a message too long for the buffer, and it stays. */
	EXPECT_RET(0, kmbox_send(fd, "0123456789", 10, 2));
	memset(&info, 0xa5, sizeof(info));
	EXPECT_ERR(EMSGSIZE, kmbox_receive_info(fd, buf, 4, &info, NULL));
	EXPECT_TRUE(info.len == 10 && info.prio == 0 && info.pid == 0 &&
		    info.flags == 0 && info.reply_token == 0 && info.tag == 0 &&
		    info.lost == 0 && info.__reserved[0] == 0);
	memset(&info, 0xa5, sizeof(info));
	EXPECT_ERR(EMSGSIZE, kmbox_zc_receive(fd, NULL, 0, &info, &slot,
					      NULL));
	EXPECT_TRUE(info.len == 10 && slot == 7);
	memset(&info, 0xa5, sizeof(info));
	EXPECT_RET(10, kmbox_receive_info(fd, buf, sizeof(buf), &info, NULL));
	EXPECT_TRUE(info.len == 10 && info.prio == 2 &&
		    info.reply_token == 0 && info.tag == 0 && info.lost == 0 &&
		    info.__reserved[0] == 0);

	/* An independent file on the same mailbox. */
	ro = kmbox_reopen(fd, O_RDONLY | O_NONBLOCK);
	EXPECT_TRUE(ro >= 0 && ro != fd && cloexec(ro) == 1);
	EXPECT_ERR(EAGAIN, kmbox_receive(ro, buf, sizeof(buf), NULL));
	EXPECT_RET(0, kmbox_getattr(fd, &attr));
	EXPECT_TRUE(!(attr.flags & KMBOX_ATTR_NONBLOCK));
	EXPECT_RET(0, kmbox_send(fd, "via fd", 6, 0));
	EXPECT_RET(6, kmbox_receive(ro, buf, sizeof(buf), NULL));
	EXPECT_ERR(EACCES, kmbox_reopen(ro, O_RDWR));
	EXPECT_ERR(EINVAL, kmbox_reopen(ro, O_RDONLY | O_CREAT));
	fd2 = kmbox_reopen(ro, O_RDONLY | KMBOX_O_NOCLOEXEC);
	EXPECT_TRUE(fd2 >= 0 && cloexec(fd2) == 0);
	close(fd2);
	/* Each file its own slots: the reopened one's go when it closes. */
	EXPECT_RET(1, kmbox_zc_reserve(fd, &slot, 1, 0, NULL));
	EXPECT_RET(0, kmbox_zc_send(fd, slot, 3, 0, 0, NULL));
	EXPECT_RET(3, kmbox_zc_receive(ro, NULL, 0, NULL, &slot, NULL));
	EXPECT_RET(0, kmbox_getattr(ro, &attr));
	EXPECT_TRUE(attr.zc_held == 1 && attr.zc_free == 1);
	close(ro);
	EXPECT_RET(0, kmbox_getattr(fd, &attr));
	EXPECT_TRUE(attr.zc_held == 0 && attr.zc_free == 2);
	close(fd);
}

/* Tags: send, receive by tag and by mask, peek, the standing filter. */
static void test_tags(void)
{
	struct kmbox_msginfo info;
	uint64_t tag, mask;
	char buf[16];
	int fd;

	fd = kmbox_create_anon(O_RDWR | O_NONBLOCK, NULL);
	EXPECT_TRUE(fd >= 0);
	EXPECT_RET(0, kmbox_send_tagged(fd, "a1", 2, 0, 0x101, NULL));
	EXPECT_RET(0, kmbox_send_tagged(fd, "b2", 2, 0, 0x202, NULL));
	EXPECT_RET(0, kmbox_send_tagged(fd, "c3", 2, 5, 0x103, NULL));
	EXPECT_RET(0, kmbox_send(fd, "d0", 2, 0));
	EXPECT_ERR(EINVAL, kmbox_receive_match(fd, buf, sizeof(buf), 1, 0, NULL, NULL));
	EXPECT_ERR(EINVAL, kmbox_peek(fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, 0, 0, NULL, NULL));
	EXPECT_ERR(EINVAL, kmbox_peek(fd, buf, sizeof(buf), 0, 1, ~0ULL, NULL, NULL));
	memset(&info, 0xa5, sizeof(info));
	EXPECT_RET(2, kmbox_peek(fd, buf, 1, KMBOX_F_MATCH, 0x202, ~0ULL, &info, NULL));
	EXPECT_TRUE(buf[0] == 'b' && info.tag == 0x202 && (info.flags & KMBOX_MSG_TRUNC) &&
		    info.reply_token == 0 && info.lost == 0 && info.__reserved[0] == 0);
	EXPECT_RET(2, kmbox_receive_match(fd, buf, sizeof(buf), 0x100, 0xf00, &info, NULL));
	EXPECT_TRUE(!memcmp(buf, "c3", 2) && info.tag == 0x103 && info.prio == 5);
	EXPECT_RET(0, kmbox_set_filter(fd, 0x100, 0xf00));
	EXPECT_RET(0, kmbox_get_filter(fd, &tag, &mask));
	EXPECT_TRUE(tag == 0x100 && mask == 0xf00);
	EXPECT_ERR(EINVAL, kmbox_set_filter(fd, 0x1000, 0xf00));
	EXPECT_RET(2, kmbox_peek(fd, buf, sizeof(buf), 0, 0, 0, &info, NULL));
	EXPECT_TRUE(!memcmp(buf, "a1", 2) && !(info.flags & KMBOX_MSG_TRUNC));
	EXPECT_RET(2, kmbox_receive_info(fd, buf, sizeof(buf), &info, NULL));
	EXPECT_TRUE(!memcmp(buf, "a1", 2) && info.tag == 0x101);
	EXPECT_ERR(EAGAIN, kmbox_receive(fd, buf, sizeof(buf), NULL));
	EXPECT_RET(0, kmbox_set_filter(fd, 0, 0));
	EXPECT_RET(2, kmbox_receive_info(fd, buf, sizeof(buf), &info, NULL));
	EXPECT_TRUE(info.tag == 0x202);
	EXPECT_RET(2, kmbox_receive_info(fd, buf, sizeof(buf), &info, NULL));
	EXPECT_TRUE(info.tag == 0);
	close(fd);
}

int main(void)
{
	printf("TAP version 13\n");
	if (access(KMBOX_DEVICE, F_OK)) {
		printf("1..0 # SKIP %s missing: kmbox module not loaded\n",
		       KMBOX_DEVICE);
		return 0;
	}
	test_info();
	test_copy_paths();
	test_zero_copy();
	test_named();
	test_newcomer();
	test_tags();
	printf("1..%d\n", tests);
	printf("# %d passed, %d failed\n", tests - failures, failures);
	return failures ? 1 : 0;
}
