// SPDX-License-Identifier: GPL-2.0
/*
 * Run last: once every earlier test program has exited, nothing of kmbox
 * may be left.  /proc/kmbox/stats must show zero mailboxes, messages,
 * bytes, held zero-copy slots, region pages, charged users and other IPC
 * namespaces, and /proc/kmbox/mailboxes must list no mailbox.  (The guest
 * unloads the module afterwards; the harness checks that rmmod succeeds.)
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

/*
 * Files of exited processes are released at exit, but give deferred
 * work (RCU, task work of dying children) a moment before judging.
 */
static int read_settled_stats(struct kt_stats *s)
{
	int i;

	for (i = 0; i < 30; i++) {
		if (kt_read_stats(s))
			return -1;
		if (!s->mailboxes && !s->messages && !s->bytes &&
		    !s->zc_slots_held && !s->region_pages && !s->users)
			break;
		kt_sleep_ms(100);
	}
	return 0;
}

/*
 * A file holds a reference on the module: unloading must be refused while
 * one is open (O_NONBLOCK: fail instead of waiting for the last user).
 */
TEST(module_cannot_be_unloaded_while_a_file_is_open)
{
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR, 0, 0);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, syscall(SYS_delete_module, "kmbox", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	EXPECT_EQ(0, access(KMBOX_DEVICE, F_OK));
	close(fd);
}

TEST(stats_are_zero_once_every_file_is_closed)
{
	struct kt_stats s;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, read_settled_stats(&s))
		TH_LOG("/proc/kmbox/stats: %s", strerror(errno));
	EXPECT_EQ(KT_STATS_ALL, s.seen);
	EXPECT_EQ(0, s.mailboxes);
	EXPECT_EQ(0, s.messages);
	EXPECT_EQ(0, s.bytes);
	EXPECT_EQ(0, s.zc_slots_held);
	EXPECT_EQ(0, s.region_pages);
	EXPECT_EQ(0, s.users);
}

/*
 * Every IPC namespace the earlier programs made has ended: kmbox keeps
 * state for none of them ("namespaces" and "namespaces_dead", shown in
 * the initial namespace; reading the stats reaps, the rest may still be
 * on its way out).
 */
TEST(no_namespace_state_is_left)
{
	long live = -1, dead = -1, val;
	char key[64];
	int i, seen;
	FILE *f;

	KT_REQUIRE_MODULE();
	for (i = 0; i < 50; i++) {
		f = fopen("/proc/kmbox/stats", "re");
		ASSERT_NE(NULL, f);
		seen = 0;
		while (fscanf(f, "%63s %ld", key, &val) == 2) {
			if (!strcmp(key, "namespaces")) {
				live = val;
				seen |= 1;
			} else if (!strcmp(key, "namespaces_dead")) {
				dead = val;
				seen |= 2;
			}
		}
		fclose(f);
		ASSERT_EQ(3, seen) TH_LOG("no namespaces/namespaces_dead lines");
		if (!live && !dead)
			break;
		kt_sleep_ms(100);
	}
	EXPECT_EQ(0, live);
	EXPECT_EQ(0, dead);
}

TEST(mailboxes_file_lists_no_mailbox)
{
	char line[1024];
	int n = 0;
	FILE *f;

	KT_REQUIRE_MODULE();
	f = fopen("/proc/kmbox/mailboxes", "re");
	ASSERT_NE(NULL, f) TH_LOG("/proc/kmbox/mailboxes: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (n++)	/* the first line is the header */
			TH_LOG("left over: %s", line);
	}
	fclose(f);
	EXPECT_EQ(1, n);
}

TEST_HARNESS_MAIN
