// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox accounting and the file interface's edges: charges made up the
 * user-namespace chain, charges that match what is really allocated
 * (checked against a memory cgroup), large messages, time namespaces,
 * whose credentials a message carries, readv/writev, and the bounds of
 * the module parameters.
 *
 * Every test that changes a module parameter puts it back in its
 * teardown.  Children report through their exit code.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define KT_OWNER	1000		/* owns the user namespaces below */
#define KT_SUBUID_BASE	100000		/* "0 100000 65536" */
#define KT_SUBUIDS	8		/* processes, each with its own subuid */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	kt_close_keep_errno(fd);
	return ret;
}

/* A module parameter saved in a fixture's setup and put back after. */
struct saved_param {
	const char *name;
	unsigned long long val;
	int saved;
};

static int param_save(struct saved_param *p, const char *name)
{
	p->name = name;
	p->saved = kt_param_get(name, &p->val) == 0;
	return p->saved ? 0 : -1;
}

static void param_restore(struct saved_param *p)
{
	if (p->saved)
		kt_param_set(p->name, p->val);
}

/* ---- charges up the user-namespace chain -------------------------------- */

/*
 * Run @fn in a child that, as uid KT_OWNER, made a user namespace in
 * which the parent (root) mapped ids 0..65535 to KT_SUBUID_BASE..: the
 * child is namespace uid 0 (KT_SUBUID_BASE outside), with every
 * capability in that namespace and none outside.  Returns @fn's result
 * (the child's exit code), or 200 when user namespaces are unavailable.
 */
static int in_owned_userns(int (*fn)(void *), void *arg)
{
	int c2p[2], p2c[2];
	char path[64], c;
	pid_t pid;
	int st;

	if (pipe(c2p) || pipe(p2c))
		return 201;
	pid = kt_fork(60);
	if (pid < 0)
		return 202;
	if (pid == 0) {
		close(c2p[0]);
		close(p2c[1]);
		CHILD_ASSERT(kt_become(KT_OWNER, KT_OWNER) == 0);
		if (unshare(CLONE_NEWUSER))
			_exit(200);
		CHILD_ASSERT(write(c2p[1], "u", 1) == 1);
		CHILD_ASSERT(read(p2c[0], &c, 1) == 1);
		CHILD_ASSERT(setresgid(0, 0, 0) == 0 && setresuid(0, 0, 0) == 0);
		_exit(fn(arg));
	}
	close(c2p[1]);
	close(p2c[0]);
	if (read(c2p[0], &c, 1) != 1) {
		close(c2p[0]);
		close(p2c[1]);
		return kt_wait(pid);
	}
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	st = write_file(path, "0 100000 65536\n");
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	if (!st)
		st = write_file(path, "0 100000 65536\n");
	if (st)
		kill(pid, SIGKILL);
	else
		st = write(p2c[1], "g", 1) == 1 ? 0 : -1;
	close(c2p[0]);
	close(p2c[1]);
	st = kt_wait(pid);
	return st;
}

#define QMSG	4096

/*
 * In the owned namespace: KT_SUBUIDS processes, namespace uids 1..8,
 * one after the other, each open the mailbox named by @arg for writing
 * and send QMSG-byte messages until a send fails.  Exit code: the total
 * sent, or 250 + if a process did not end with ENOBUFS.
 */
static int fill_as_subuids(void *arg)
{
	const char *name = arg;
	int i, total = 0;

	for (i = 1; i <= KT_SUBUIDS; i++) {
		pid_t pid = fork();
		int st;

		if (pid < 0)
			return 251;
		if (pid == 0) {
			static char buf[QMSG];
			int n = 0, fd;

			if (kt_become(i, i))
				_exit(127);
			fd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
			if (fd < 0)
				_exit(126);
			while (n < 120 && !kt_send(fd, buf, QMSG, 0, KMBOX_F_NONBLOCK, 0))
				n++;
			_exit(n | (errno == ENOBUFS ? 0x80 : 0));
		}
		st = kt_wait(pid);
		if (st < 0x80 || st > 0xff)
			return 250;
		total += st & 0x7f;
	}
	return total > 249 ? 249 : total;
}

/*
 * In the owned namespace: namespace uids 1..8 each try to create two
 * anonymous mailboxes and keep whatever they got until the end.  Exit
 * code: the total created (the mailboxes all exist at once).
 */
static int create_as_subuids(void *arg)
{
	int i, total = 0, done[2];
	pid_t pids[KT_SUBUIDS];

	(void)arg;
	if (pipe(done))
		return 251;
	for (i = 0; i < KT_SUBUIDS; i++) {
		int res[2];
		char n;

		if (pipe(res))
			return 252;
		pids[i] = fork();
		if (pids[i] < 0)
			return 253;
		if (pids[i] == 0) {
			char k = 0;

			close(done[1]);
			if (kt_become(i + 1, i + 1))
				_exit(127);
			k += kt_anon(O_RDWR, 1, 16) >= 0;
			k += kt_anon(O_RDWR, 1, 16) >= 0;
			if (write(res[1], &k, 1) != 1)
				_exit(126);
			/* keep them until the namespace's root is done */
			while (read(done[0], &n, 1) > 0)
				;
			_exit(0);
		}
		close(res[1]);
		if (read(res[0], &n, 1) != 1)
			return 254;
		close(res[0]);
		total += n;
	}
	close(done[1]);
	for (i = 0; i < KT_SUBUIDS; i++)
		kt_wait(pids[i]);
	return total;
}

FIXTURE(userns) {
	struct saved_param quota, maxmb;
	char name[64];
	int fd;
};

FIXTURE_SETUP(userns)
{
	KT_REQUIRE_MODULE();
	self->fd = -1;
	ASSERT_EQ(0, param_save(&self->quota, "user_quota"));
	ASSERT_EQ(0, param_save(&self->maxmb, "user_max_mailboxes"));
	kt_name(self->name, sizeof(self->name), "userns");
	umask(0);
	/* root's: its own cost is charged to (exempt) root */
	self->fd = kt_create(self->name, O_RDWR | O_NONBLOCK, 0666, 1024, QMSG);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(userns)
{
	if (self->fd >= 0) {
		close(self->fd);
		kt_unlink(self->name);
	}
	param_restore(&self->quota);
	param_restore(&self->maxmb);
}

#define USERNS_QUOTA	(16 * QMSG)

/*
 * Eight subuids of one owner each try to fill their quota: together
 * they get one quota, the owner's.  Draining the mailbox gives every
 * charge back: a second round fits as many.
 */
TEST_F(userns, subuids_share_their_owners_byte_quota)
{
	char buf[QMSG];
	int first, second;

	ASSERT_EQ(0, kt_param_set("user_quota", USERNS_QUOTA));
	first = in_owned_userns(fill_as_subuids, self->name);
	if (first == 200)
		SKIP(return, "no user namespaces for uid %d (unshare(CLONE_NEWUSER) failed)",
		     KT_OWNER);
	ASSERT_LT(first, 250) TH_LOG("a subuid's sends did not end in ENOBUFS");
	EXPECT_EQ(first, kt_cur_msgs(self->fd));
	/* one quota's worth, not eight */
	EXPECT_LE(first * QMSG, USERNS_QUOTA)
		TH_LOG("%d messages of %d bytes from %d subuids of one owner, quota %d",
		       first, QMSG, KT_SUBUIDS, USERNS_QUOTA);
	EXPECT_GE(first, 12);

	while (read(self->fd, buf, sizeof(buf)) == QMSG)
		;
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	second = in_owned_userns(fill_as_subuids, self->name);
	EXPECT_EQ(first, second) TH_LOG("the charges were not all given back");
}

TEST_F(userns, subuids_share_their_owners_mailbox_limit)
{
	int n;

	ASSERT_EQ(0, kt_param_set("user_max_mailboxes", 3));
	n = in_owned_userns(create_as_subuids, NULL);
	if (n == 200)
		SKIP(return, "no user namespaces for uid %d (unshare(CLONE_NEWUSER) failed)",
		     KT_OWNER);
	EXPECT_EQ(3, n) TH_LOG("%d mailboxes alive at once for %d subuids of one owner",
			       n, KT_SUBUIDS);
}

/* The owner's own mailboxes count against the limit its subuids share. */
TEST_F(userns, owner_and_subuids_share_one_mailbox_count)
{
	int n, i;
	pid_t pid;
	int p[2];
	char c;

	ASSERT_EQ(0, kt_param_set("user_max_mailboxes", 3));
	ASSERT_EQ(0, pipe(p));
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[0]);
		CHILD_ASSERT(kt_become(KT_OWNER, KT_OWNER) == 0);
		for (i = 0; i < 2; i++)
			CHILD_ASSERT(kt_anon(O_RDWR, 1, 16) >= 0);
		CHILD_ASSERT(write(p[1], "k", 1) == 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	ASSERT_EQ(1, read(p[0], &c, 1));
	close(p[0]);
	n = in_owned_userns(create_as_subuids, NULL);
	kill(pid, SIGKILL);
	kt_wait(pid);
	if (n == 200)
		SKIP(return, "no user namespaces for uid %d", KT_OWNER);
	EXPECT_EQ(1, n);
}

TEST_HARNESS_MAIN
