// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Host-side checks of libkmbox's argument validation.  They need no module:
 * a bad argument must fail with the documented errno *before* the library
 * touches a descriptor.  Two facts make "before" observable:
 *  - every call below that takes a descriptor gets fd -1, so an ioctl()
 *    that was made fails with EBADF, never EINVAL;
 *  - a call that opens /dev/kmbox fails with the errno of open(2)
 *    (ENOENT/ENODEV when the module is absent) or, with the module loaded,
 *    with the errno of the ioctl - never with the validation errno tested.
 * Good arguments are checked to get that far, so that the library does not
 * reject valid input either.  TAP output; exit status 0 when all pass.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kmbox.h"
#include "../src/lib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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

/* The call fails with -1 and exactly @want. */
#define EXPECT_ERR(want, call) do {					\
	long r_;							\
	int e_;								\
	errno = 0;							\
	r_ = (long)(call);						\
	e_ = errno;							\
	report(r_ == -1 && e_ == (want), #call " -> " #want, r_, e_);	\
} while (0)

/*
 * For calls that open /dev/kmbox: the call got past validation, so it
 * failed with the errno of open(2) or of the ioctl, anything but @not.
 * (Calls on fd -1 that get past validation fail with EBADF.)
 */
#define EXPECT_DEVICE_ERR(not, call) do {				\
	long r_;							\
	int e_;								\
	errno = 0;							\
	r_ = (long)(call);						\
	e_ = errno;							\
	report(r_ == -1 && e_ != (not) && e_ != 0,			\
	       #call " -> reaches /dev/kmbox", r_, e_);			\
} while (0)

#define EXPECT_TRUE(cond) report(!!(cond), #cond, 0, 0)

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static void test_names(void)
{
	char name[KMBOX_NAME_MAX + 2];
	char longslash[300];

	EXPECT_ERR(EINVAL, kmbox_open(NULL, O_RDWR));
	EXPECT_ERR(EINVAL, kmbox_open("", O_RDWR));
	EXPECT_ERR(EINVAL, kmbox_open("a/b", O_RDWR));
	EXPECT_ERR(EINVAL, kmbox_open("/q", O_RDWR));
	EXPECT_ERR(EINVAL, kmbox_open("q/", O_CREAT | O_RDWR, 0600, NULL));

	memset(name, 'n', sizeof(name));
	name[KMBOX_NAME_MAX + 1] = '\0';		/* 256 bytes */
	EXPECT_ERR(ENAMETOOLONG, kmbox_open(name, O_RDWR));
	EXPECT_ERR(ENAMETOOLONG, kmbox_unlink(name));

	/* Too long wins over '/', as in the kernel. */
	memset(longslash, '/', sizeof(longslash) - 1);
	longslash[sizeof(longslash) - 1] = '\0';
	EXPECT_ERR(ENAMETOOLONG, kmbox_open(longslash, O_RDWR));

	EXPECT_ERR(EINVAL, kmbox_unlink(NULL));
	EXPECT_ERR(EINVAL, kmbox_unlink(""));
	EXPECT_ERR(EINVAL, kmbox_unlink("x/y"));

	/* 255 bytes, no '/': valid, so the call goes on to the device. */
	name[KMBOX_NAME_MAX] = '\0';
	EXPECT_DEVICE_ERR(ENAMETOOLONG, kmbox_open(name, O_RDWR));
	EXPECT_DEVICE_ERR(EINVAL, kmbox_open("kmbox-unit-test-absent", O_RDONLY));
	EXPECT_DEVICE_ERR(EINVAL, kmbox_unlink("kmbox-unit-test-absent"));
}

static void test_oflags(void)
{
	EXPECT_ERR(EINVAL, kmbox_open("q", O_ACCMODE));
	EXPECT_ERR(EINVAL, kmbox_open("q", O_RDWR | O_TRUNC));
	EXPECT_ERR(EINVAL, kmbox_open("q", O_RDWR | O_APPEND));
	EXPECT_ERR(EINVAL, kmbox_open("q", O_RDWR | O_CREAT, 01777, NULL));
	EXPECT_ERR(EINVAL, kmbox_open("q", O_RDWR | O_CREAT, 0100000, NULL));
	EXPECT_ERR(EINVAL, kmbox_create_anon(O_RDWR | O_CREAT, NULL));
	EXPECT_ERR(EINVAL, kmbox_create_anon(O_RDWR | O_EXCL, NULL));
	EXPECT_ERR(EINVAL, kmbox_create_anon(O_ACCMODE, NULL));
	EXPECT_DEVICE_ERR(EINVAL,
			  kmbox_open("kmbox-unit-test-absent",
				     O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_EXCL));
}

static void test_timespecs(void)
{
	const struct timespec bad[] = {
		{ .tv_sec = 0, .tv_nsec = 1000000000 },
		{ .tv_sec = 0, .tv_nsec = -1 },
		{ .tv_sec = -1, .tv_nsec = 0 },
		{ .tv_sec = 1, .tv_nsec = LONG_MAX },
	};
	const struct timespec good = { .tv_sec = 1, .tv_nsec = 999999999 };
	uint32_t slots[2];
	struct kmbox_mmsg m[2];
	char buf[8] = "";
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		const struct timespec *ts = &bad[i];

		printf("# bad timespec { %lld, %ld }\n",
		       (long long)ts->tv_sec, (long)ts->tv_nsec);
		EXPECT_ERR(EINVAL, kmbox_timedsend(-1, "x", 1, 0, ts));
		EXPECT_ERR(EINVAL, kmbox_timedreceive(-1, buf, 8, NULL, ts));
		EXPECT_ERR(EINVAL, kmbox_receive_info(-1, buf, 8, NULL, ts));
		EXPECT_ERR(EINVAL, kmbox_send_batch(-1, m, 2, 0, ts));
		EXPECT_ERR(EINVAL, kmbox_receive_batch(-1, m, 2, 0, ts));
		EXPECT_ERR(EINVAL, kmbox_zc_reserve(-1, slots, 2, 0, ts));
		EXPECT_ERR(EINVAL, kmbox_zc_send(-1, 0, 1, 0, 0, ts));
		EXPECT_ERR(EINVAL, kmbox_zc_receive(-1, buf, 8, NULL,
						    slots, ts));
	}

	EXPECT_ERR(EBADF, kmbox_timedsend(-1, "x", 1, 0, &good));
	EXPECT_ERR(EBADF, kmbox_timedsend(-1, "x", 1, 0, NULL));
	EXPECT_ERR(EBADF, kmbox_timedreceive(-1, buf, 8, NULL, &good));
	EXPECT_ERR(EBADF, kmbox_receive_info(-1, buf, 8, NULL, NULL));
	EXPECT_ERR(EBADF, kmbox_zc_send(-1, 0, 1, 0, 0, &good));
	EXPECT_ERR(EBADF, kmbox_zc_receive(-1, NULL, 0, NULL, slots,
					       &good));
}

static void test_sizes_and_counts(void)
{
	struct kmbox_mmsg m[KMBOX_BATCH_MAX + 1];
	uint32_t slots[KMBOX_BATCH_MAX + 1];
	char buf[8] = "";

	memset(m, 0, sizeof(m));
	memset(slots, 0, sizeof(slots));

	if (SIZE_MAX > UINT32_MAX) {
		size_t big = (size_t)UINT32_MAX + 1;

		EXPECT_ERR(EMSGSIZE, kmbox_send(-1, buf, big, 0));
		EXPECT_ERR(EMSGSIZE, kmbox_zc_send(-1, 0, big, 0, 0, NULL));
		/* A big buffer is fine for a receive. */
		EXPECT_ERR(EBADF, kmbox_receive(-1, buf, big, NULL));
	}
	EXPECT_ERR(EBADF, kmbox_send(-1, buf, 0, 0));
	EXPECT_ERR(EBADF, kmbox_receive(-1, buf, 0, NULL));

	EXPECT_ERR(EINVAL, kmbox_send_batch(-1, m, 0, 0, NULL));
	EXPECT_ERR(EINVAL, kmbox_receive_batch(-1, m, 0, 0, NULL));
	EXPECT_ERR(EINVAL, kmbox_zc_reserve(-1, slots, 0, 0, NULL));
	EXPECT_ERR(EINVAL, kmbox_zc_release(-1, slots, 0));
	EXPECT_ERR(EINVAL, kmbox_zc_release(-1, slots, KMBOX_BATCH_MAX + 1));
	EXPECT_ERR(EINVAL, kmbox_send_batch(-1, m, 1, KMBOX_F_TIMEOUT, NULL));
	EXPECT_ERR(EINVAL, kmbox_receive_batch(-1, m, 1, KMBOX_F_TIMEOUT,
					       NULL));
	EXPECT_ERR(EINVAL, kmbox_zc_reserve(-1, slots, 1, KMBOX_F_TIMEOUT,
					    NULL));
	EXPECT_ERR(EINVAL, kmbox_zc_send(-1, 0, 1, 0, KMBOX_F_TIMEOUT, NULL));
	EXPECT_ERR(EINVAL, kmbox_zc_receive(-1, buf, 8, NULL, NULL, NULL));

	/* Longer batches are cut to one kernel call, not refused. */
	EXPECT_ERR(EBADF, kmbox_send_batch(-1, m, KMBOX_BATCH_MAX + 1,
					       KMBOX_F_NONBLOCK, NULL));
	EXPECT_ERR(EBADF, kmbox_receive_batch(-1, m, UINT_MAX,
						  KMBOX_F_ZC, NULL));
	EXPECT_ERR(EBADF, kmbox_zc_reserve(-1, slots, UINT_MAX, 0, NULL));
	EXPECT_ERR(EBADF, kmbox_zc_release(-1, slots, KMBOX_BATCH_MAX));
}

static void test_attr_and_region(void)
{
	struct kmbox_region r = { .base = (void *)1, .fd = 7 };
	struct kmbox_attr attr;
	struct kmbox_info info;
	struct kmbox_stats st;

	EXPECT_ERR(EBADF, kmbox_getattr(-1, &attr));
	EXPECT_ERR(EINVAL, kmbox_stats(-1, NULL, 0));
	EXPECT_ERR(EINVAL, kmbox_stats(-1, &st, 2));
	EXPECT_ERR(EBADF, kmbox_stats(-1, &st, KMBOX_STATS_RESET));
	EXPECT_ERR(EBADF, kmbox_info(-2, &info));
	if (access(KMBOX_DEVICE, F_OK))
		EXPECT_DEVICE_ERR(0, kmbox_info(-1, &info));
	else
		EXPECT_TRUE(kmbox_info(-1, &info) == 0);

	EXPECT_ERR(EINVAL, kmbox_region_map(-1, NULL));
	EXPECT_ERR(EBADF, kmbox_region_map(-1, &r));
	EXPECT_TRUE(r.base == NULL && r.fd == -1 && r.size == 0);
	EXPECT_ERR(EINVAL, kmbox_region_unmap(&r));
	EXPECT_ERR(EINVAL, kmbox_region_unmap(NULL));
}

static void test_inlines(void)
{
	static char area[4 * 64];
	struct kmbox_region r = {
		.base = area, .size = sizeof(area),
		.slot_size = 64, .nslots = 4, .fd = -1,
	};
	struct kmbox_region unmapped = { .base = NULL, .nslots = 4 };
	struct kmbox_mmsg m;

	EXPECT_TRUE(kmbox_slot_ptr(&r, 0) == area);
	EXPECT_TRUE(kmbox_slot_ptr(&r, 3) == area + 192);
	EXPECT_TRUE(kmbox_slot_ptr(&r, 4) == NULL);
	EXPECT_TRUE(kmbox_slot_ptr(&r, KMBOX_NO_SLOT) == NULL);
	EXPECT_TRUE(kmbox_slot_ptr(&unmapped, 0) == NULL);
	EXPECT_TRUE(kmbox_slot_ptr(NULL, 0) == NULL);

	memset(&m, 0xff, sizeof(m));
	kmbox_mmsg_prep(&m, area, 10, 7);
	EXPECT_TRUE(m.buf == (__u64)(uintptr_t)area && m.len == 10 &&
		    m.prio == 7 && m.slot == 0 && m.flags == 0);
	kmbox_mmsg_prep(&m, area, SIZE_MAX, 0);
	EXPECT_TRUE(m.len == UINT32_MAX);
}

static void test_deadline_conversion(void)
{
	struct timespec ts = { .tv_sec = 3, .tv_nsec = 5 };
	__u64 ns = 1;
	__u32 fl = KMBOX_F_NONBLOCK;

	EXPECT_TRUE(kmbox_deadline(NULL, &fl, &ns) == 0 && ns == 0 &&
		    fl == KMBOX_F_NONBLOCK);
	EXPECT_TRUE(kmbox_deadline(&ts, &fl, &ns) == 0 &&
		    ns == 3000000005ULL &&
		    fl == (KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT));

	/* Far deadlines saturate at KTIME_MAX instead of wrapping. */
	ts.tv_sec = INT64_MAX / 1000000000;
	ts.tv_nsec = 999999999;
	EXPECT_TRUE(kmbox_deadline(&ts, &fl, &ns) == 0 &&
		    ns == (__u64)INT64_MAX);
	ts.tv_sec = INT64_MAX / 1000000000 - 1;
	ts.tv_nsec = 0;
	EXPECT_TRUE(kmbox_deadline(&ts, &fl, &ns) == 0 &&
		    ns == (__u64)(INT64_MAX / 1000000000 - 1) * 1000000000ULL);
	ts.tv_sec = INT64_MAX;
	EXPECT_TRUE(kmbox_deadline(&ts, &fl, &ns) == 0 &&
		    ns == (__u64)INT64_MAX);
}

/* Issue #16: ENODEV without the module, new oflags, version, deadlines. */
static void test_newcomer(void)
{
	struct timespec ts, now;
	__u64 ns;
	__u32 fl = 0;
	unsigned int v = kmbox_version();

	EXPECT_TRUE(v == LIBKMBOX_VERSION);
	EXPECT_TRUE(LIBKMBOX_VERSION == LIBKMBOX_VERSION_NUM(
			LIBKMBOX_VERSION_MAJOR, LIBKMBOX_VERSION_MINOR,
			LIBKMBOX_VERSION_PATCH));
	EXPECT_TRUE(LIBKMBOX_VERSION >= LIBKMBOX_VERSION_NUM(1, 1, 0) &&
		    LIBKMBOX_VERSION < LIBKMBOX_VERSION_NUM(2, 0, 0));

	/* The library's structs have room to grow, and a fixed size. */
	EXPECT_TRUE(sizeof(struct kmbox_msginfo) == 64);
	EXPECT_TRUE(sizeof(struct kmbox_region) ==
		    (sizeof(void *) == 8 ? 64 : 56));

	EXPECT_ERR(EINVAL, kmbox_open("q", O_RDWR | O_CLOEXEC |
					   KMBOX_O_NOCLOEXEC));
	EXPECT_ERR(EINVAL, kmbox_create_anon(O_RDWR | O_CLOEXEC |
					     KMBOX_O_NOCLOEXEC, NULL));
	EXPECT_ERR(EINVAL, kmbox_reopen(-1, O_ACCMODE));
	EXPECT_ERR(EINVAL, kmbox_reopen(-1, O_RDWR | O_CREAT));
	EXPECT_ERR(EINVAL, kmbox_reopen(-1, O_RDWR | O_CLOEXEC |
					    KMBOX_O_NOCLOEXEC));
	EXPECT_ERR(EBADF, kmbox_reopen(-1, O_RDWR));
	EXPECT_ERR(EBADF, kmbox_reopen(-1, O_RDONLY | O_NONBLOCK |
					   KMBOX_O_NOCLOEXEC));

	if (access(KMBOX_DEVICE, F_OK)) {
		printf("# %s missing: the library says ENODEV\n",
		       KMBOX_DEVICE);
		EXPECT_ERR(ENODEV, kmbox_open("kmbox-unit-test", O_RDONLY));
		EXPECT_ERR(ENODEV, kmbox_open("kmbox-unit-test",
					      O_RDWR | O_CREAT, 0600, NULL));
		EXPECT_ERR(ENODEV, kmbox_create_anon(O_RDWR, NULL));
		EXPECT_ERR(ENODEV, kmbox_unlink("kmbox-unit-test"));
		EXPECT_ERR(ENODEV, kmbox_info(-1, &(struct kmbox_info){ 0 }));
	}

	EXPECT_ERR(EINVAL, kmbox_deadline_after(NULL, 1));
	clock_gettime(CLOCK_MONOTONIC, &now);
	EXPECT_TRUE(kmbox_deadline_after(&ts, 1500000000ULL) == 0 &&
		    ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
	{
		long long d = (long long)(ts.tv_sec - now.tv_sec) * 1000000000LL +
			      (ts.tv_nsec - now.tv_nsec);

		/* 1.5 s from a "now" read just before; within a minute */
		EXPECT_TRUE(d >= 1500000000LL && d < 61500000000LL);
	}
	EXPECT_TRUE(kmbox_deadline_after(&ts, 0) == 0 &&
		    kmbox_deadline(&ts, &fl, &ns) == 0);
	EXPECT_TRUE(kmbox_deadline_after(&ts, UINT64_MAX) == 0 &&
		    ts.tv_sec > 0 && ts.tv_nsec < 1000000000L &&
		    kmbox_deadline(&ts, &fl, &ns) == 0 &&
		    ns == (__u64)INT64_MAX);
}

/*
 * kmbox_reply_recv(): what the library refuses leaves *token as it was
 * (nothing done); a reply not looked at (token 0) is not checked.
 */
static void test_reply_recv(void)
{
	const struct timespec bad = { .tv_sec = 0, .tv_nsec = -1 };
	uint64_t token = 7;
	char buf[8] = "";

	EXPECT_ERR(EINVAL, kmbox_reply_recv(-1, NULL, "x", 1, buf, 8, NULL, NULL));
	EXPECT_ERR(EINVAL, kmbox_reply_recv(-1, &token, "x", 1, buf, 8, NULL, &bad));
	EXPECT_TRUE(token == 7);
	if (SIZE_MAX > UINT32_MAX) {
		size_t big = (size_t)UINT32_MAX + 1;

		EXPECT_ERR(EMSGSIZE, kmbox_reply_recv(-1, &token, buf, big, buf, 8,
						      NULL, NULL));
		EXPECT_TRUE(token == 7);
		token = 0;
		EXPECT_ERR(EBADF, kmbox_reply_recv(-1, &token, buf, big, buf, big,
						   NULL, NULL));
		token = 7;
	}
	/* The kernel's EBADF, before anything: the token stays. */
	EXPECT_ERR(EBADF, kmbox_reply_recv(-1, &token, "x", 1, buf, 8, NULL, NULL));
	EXPECT_TRUE(token == 7);
}

int main(void)
{
	int fds_before, fds_after;

	printf("TAP version 13\n");
	fds_before = count_fds();

	test_names();
	test_oflags();
	test_timespecs();
	test_sizes_and_counts();
	test_attr_and_region();
	test_inlines();
	test_deadline_conversion();
	test_newcomer();
	test_reply_recv();

	/* Failed opens must not leave a descriptor behind. */
	fds_after = count_fds();
	report(fds_before == fds_after, "no descriptor leaked", fds_after, 0);

	printf("1..%d\n", tests);
	printf("# %d passed, %d failed\n", tests - failures, failures);
	return failures ? 1 : 0;
}
