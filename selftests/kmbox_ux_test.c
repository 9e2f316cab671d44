// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox: the module changes a newcomer's review asked for.
 *
 *  - max_msgsize 0 with an explicit zc_slot_size follows the slot, so a
 *    zero-copy mailbox sized by its slots carries slot-sized messages.
 */
#define _GNU_SOURCE

#include "kselftest_harness.h"
#include "kmbox_test.h"

/* ---- max_msgsize follows zc_slot_size ------------------------------------ */

TEST(max_msgsize_0_with_a_slot_size_follows_the_slot)
{
	struct kmbox_slots rs;
	struct kmbox_send zs = { .flags = KMBOX_F_ZC };
	struct kmbox_info info;
	struct kmbox_attr in, a;
	__u32 slot, want = 1U << 20;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	if (info.max_msgsize_cap < want)
		want = 65536;
	ASSERT_LE(want, info.max_msgsize_cap);
	kt_attr_init(&in, 4, 0);
	in.zc_slots = 2;
	in.zc_slot_size = want;
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &in))
		TH_LOG("bind: %s", strerror(errno));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(want, a.max_msgsize);
	EXPECT_EQ(want, a.zc_slot_size);

	/* a slot-sized zero-copy message goes through */
	memset(&rs, 0, sizeof(rs));
	rs.slots = KT_PTR(&slot);
	rs.count = 1;
	ASSERT_EQ(1, ioctl(fd, KMBOX_IOC_ZC_RESERVE, &rs));
	zs.slot = slot;
	zs.len = want;
	EXPECT_EQ(0, ioctl(fd, KMBOX_IOC_SEND, &zs)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(1, kt_cur_msgs(fd));
	close(fd);
}

TEST(max_msgsize_0_without_a_slot_size_is_the_default)
{
	struct kmbox_info info;
	struct kmbox_attr in, a;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	kt_attr_init(&in, 4, 0);
	in.zc_slots = 2;
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(info.default_max_msgsize, a.max_msgsize);
	close(fd);
}

TEST(an_explicit_max_msgsize_still_bounds_zero_copy_messages)
{
	struct kmbox_attr in, a;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&in, 4, 100);
	in.zc_slots = 2;
	in.zc_slot_size = 4096;
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(100, a.max_msgsize);
	EXPECT_EQ(4096, a.zc_slot_size);
	close(fd);
}

TEST(a_bad_slot_size_with_max_msgsize_0_is_still_einval)
{
	struct kmbox_attr in;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&in, 4, 0);
	in.zc_slots = 2;
	in.zc_slot_size = 96;
	EXPECT_EQ(-1, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
	in.zc_slot_size = 0x80000000u;
	EXPECT_EQ(-1, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST_HARNESS_MAIN
