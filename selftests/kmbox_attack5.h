/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the attack5 selftests share: who runs a test (root, uid A5_UID, or
 * uid A5_UID in fresh user and IPC namespaces) and the check that
 * /proc/kmbox/stats is back where the test found it.  A fixture using
 * A5_STATS_BACK() has a struct kt_stats before.
 */
#ifndef KMBOX_ATTACK5_H
#define KMBOX_ATTACK5_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmbox_test.h"

#define A5_UID		1000

/* ---- who runs the test ------------------------------------------------- */

enum { A5_ROOT, A5_USER, A5_USERNS };

static inline int a5_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	kt_close_keep_errno(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Become @who: 0, 1 if user namespaces are missing (skip), -1 on failure. */
static inline int a5_become(int who)
{
	char map[64];

	if (who == A5_ROOT)
		return 0;
	if (kt_become(A5_UID, A5_UID))
		return -1;
	/* Dumpable again after setresuid(): /proc/self/uid_map is ours then. */
	if (prctl(PR_SET_DUMPABLE, 1))
		return -1;
	if (who == A5_USER)
		return 0;
	if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
		return 1;
	if (prctl(PR_SET_DUMPABLE, 1))
		return -1;
	snprintf(map, sizeof(map), "%d %d 1\n", A5_UID, A5_UID);
	if (a5_write("/proc/self/setgroups", "deny") ||
	    a5_write("/proc/self/uid_map", map) || a5_write("/proc/self/gid_map", map))
		return -1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return 0;
}

/*
 * In a harness fixture's setup: become @who, or skip the test when
 * uid A5_UID cannot have user namespaces.
 */
#define A5_BECOME(who) do {							\
	int a5_r = a5_become(who);						\
										\
	if (a5_r > 0)								\
		SKIP(_exit(255), "uid %d cannot unshare(CLONE_NEWUSER|CLONE_NEWIPC): %s", \
		     A5_UID, strerror(errno));					\
	ASSERT_EQ(0, a5_r) TH_LOG("becoming the variant's user: %s", strerror(errno)); \
} while (0)

/*
 * /proc/kmbox/stats back to what it was: messages and bytes (every file
 * of the test closed).  Freed memory may go back a little later than
 * the close (RCU, a work item): allow a second.
 */
static inline int a5_stats_back(const struct kt_stats *before, struct kt_stats *now)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (kt_read_stats(now))
			return 0;
		if (now->messages == before->messages && now->bytes == before->bytes &&
		    now->mailboxes == before->mailboxes)
			return 1;
		kt_sleep_ms(10);
	}
	return 0;
}

#define A5_STATS_BACK() do {						\
	struct kt_stats _now;						\
	EXPECT_TRUE(a5_stats_back(&self->before, &_now))		\
		TH_LOG("/proc/kmbox/stats: mailboxes %ld messages %ld bytes %ld, "\
		       "was %ld %ld %ld", _now.mailboxes, _now.messages,	\
		       _now.bytes, self->before.mailboxes,		\
		       self->before.messages, self->before.bytes);	\
} while (0)

/* ---- a memory cgroup of the test's own (root only) ---------------------- */

#define CG_ROOT		"/sys/fs/cgroup"

static inline long long a5_cg_read(const char *dir, const char *file)
{
	char path[256], buf[64];
	long long v = -1;
	int fd, n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		v = strtoll(buf, NULL, 10);
	}
	return v;
}

static inline int a5_cg_write(const char *dir, const char *file, const char *s)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return a5_write(path, s);
}

/* A memory cgroup of our own in @dir (root only): NULL, or why not. */
static inline const char *a5_cg_make(char *dir, size_t size)
{
	static char why[160];
	char ctl[256];
	int fd, n;

	if (access(CG_ROOT "/cgroup.controllers", F_OK)) {
		mkdir(CG_ROOT, 0755);
		if (mount("none", CG_ROOT, "cgroup2", 0, NULL)) {
			snprintf(why, sizeof(why), "cannot mount cgroup2: %s", strerror(errno));
			return why;
		}
	}
	fd = open(CG_ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, ctl, sizeof(ctl) - 1);
	if (fd >= 0)
		close(fd);
	ctl[n > 0 ? n : 0] = 0;
	if (!strstr(ctl, "memory")) {
		snprintf(why, sizeof(why), "no memory controller in cgroup2 (%.100s)", ctl);
		return why;
	}
	a5_cg_write(CG_ROOT, "cgroup.subtree_control", "+memory");
	snprintf(dir, size, CG_ROOT "/kt-a5-%d", (int)getpid());
	if (mkdir(dir, 0755) && errno != EEXIST) {
		snprintf(why, sizeof(why), "mkdir %.100s: %s", dir, strerror(errno));
		return why;
	}
	if (a5_cg_read(dir, "memory.current") < 0) {
		rmdir(dir);
		snprintf(why, sizeof(why), "no memory.current in %.100s", dir);
		return why;
	}
	return NULL;
}

#endif /* KMBOX_ATTACK5_H */
