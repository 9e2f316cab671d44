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
#include <sys/socket.h>
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

/* ---- charges equal allocations; memory cgroups ------------------------- */

#define CG_ROOT		"/sys/fs/cgroup"

/* Read a number from @dir/@file; -1 on error. */
static long long cg_read(const char *dir, const char *file)
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

/* The value of @key in the flat-keyed @dir/@file; -1 if absent. */
static long long cg_read_key(const char *dir, const char *file, const char *key)
{
	char path[256], k[64];
	long long v, ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2)
		if (!strcmp(k, key))
			ret = v;
	fclose(f);
	return ret;
}

static int cg_write(const char *dir, const char *file, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return write_file(path, text);
}

/*
 * Make a child memory cgroup @dir (mounting cgroup2 and enabling the
 * memory controller if need be).  Returns 0, or -1 with @why set.
 */
static int cg_make(char *dir, size_t size, const char *tag, char *why, size_t whysz)
{
	char ctl[128];
	int fd, n;

	if (access(CG_ROOT "/cgroup.controllers", F_OK)) {
		mkdir(CG_ROOT, 0755);
		if (mount("none", CG_ROOT, "cgroup2", 0, NULL)) {
			snprintf(why, whysz, "cannot mount cgroup2: %s", strerror(errno));
			return -1;
		}
	}
	fd = open(CG_ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, ctl, sizeof(ctl) - 1);
	if (fd >= 0)
		close(fd);
	ctl[n > 0 ? n : 0] = 0;
	if (!strstr(ctl, "memory")) {
		snprintf(why, whysz, "no memory controller in cgroup2 (controllers: %.100s)", ctl);
		return -1;
	}
	cg_write(CG_ROOT, "cgroup.subtree_control", "+memory");
	snprintf(dir, size, CG_ROOT "/kt-%d-%s", (int)getpid(), tag);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		snprintf(why, whysz, "mkdir %.128s: %.64s", dir, strerror(errno));
		return -1;
	}
	if (cg_read(dir, "memory.current") < 0) {
		rmdir(dir);
		snprintf(why, whysz, "no memory.current in %.128s", dir);
		return -1;
	}
	return 0;
}

/* Move the calling process into @dir and onto CPU 0 (one memcg stock). */
static int cg_enter(const char *dir)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	return cg_write(dir, "cgroup.procs", "0");
}

/* What a sender in a cgroup did, shared with the parent. */
struct cg_result {
	int sent, err;			/* messages queued; errno that stopped it */
};

/*
 * Child, in cgroup @dir as KT_OWNER: open @name for writing and, once
 * told, send @size-byte messages until a send fails (at most @max).  At
 * the cgroup's limit any allocation charged to it may call the OOM
 * killer, so between its sends and its exit the child allocates nothing:
 * it signals by closing pipes and waits in read().
 */
static void cg_fill(const char *dir, const char *name, unsigned int size, int max,
		    struct cg_result *res, int ready, int go, int done)
{
	char *buf = malloc(size), c;
	int fd;

	CHILD_ASSERT(buf);
	memset(buf, 0x5a, size);
	CHILD_ASSERT(cg_enter(dir) == 0);
	CHILD_ASSERT(kt_become(KT_OWNER, KT_OWNER) == 0);
	fd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
	CHILD_ASSERT(fd >= 0);
	close(ready);
	CHILD_ASSERT(read(go, &c, 1) == 1);
	while (res->sent < max && !kt_send(fd, buf, size, 0, KMBOX_F_NONBLOCK, 0))
		res->sent++;
	res->err = errno;
	close(done);
	while (read(go, &c, 1) > 0)
		;
	_exit(0);
}

/*
 * Run cg_fill() in a child; *@before and *@after get the cgroup's
 * memory.current (read by us, so as to charge nothing to the cgroup)
 * just before its sends and after them, the child still alive both
 * times.  Returns the child's exit status.
 */
static int cg_run_fill(const char *dir, const char *name, unsigned int size, int max,
		       struct cg_result *res, long long *before, long long *after)
{
	int ready[2], go[2], done[2];
	pid_t pid;
	char c;

	if (pipe(ready) || pipe(go) || pipe(done))
		return -1;
	pid = kt_fork(60);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		close(done[0]);
		cg_fill(dir, name, size, max, res, ready[1], go[0], done[1]);
	}
	close(ready[1]);
	close(go[0]);
	close(done[1]);
	if (read(ready[0], &c, 1) == 0) {
		*before = cg_read(dir, "memory.current");
		if (write(go[1], "g", 1) == 1 && read(done[0], &c, 1) == 0)
			*after = cg_read(dir, "memory.current");
	}
	close(go[1]);
	close(ready[0]);
	close(done[0]);
	return kt_wait(pid);
}

FIXTURE(memcg) {
	struct saved_param quota;
	char name[64], cg[128];
	struct cg_result *res;
	int fd, have_cg;
};

FIXTURE_SETUP(memcg)
{
	char why[512];

	KT_REQUIRE_MODULE();
	self->fd = -1;
	self->have_cg = 0;
	ASSERT_EQ(0, param_save(&self->quota, "user_quota"));
	self->res = mmap(NULL, sizeof(*self->res), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->res);
	memset(self->res, 0, sizeof(*self->res));
	if (cg_make(self->cg, sizeof(self->cg), "memcg", why, sizeof(why)))
		SKIP(return, "%s", why);
	self->have_cg = 1;
	kt_name(self->name, sizeof(self->name), "memcg");
	umask(0);
}

FIXTURE_TEARDOWN(memcg)
{
	if (self->fd >= 0) {
		close(self->fd);
		kt_unlink(self->name);
	}
	if (self->have_cg)
		rmdir(self->cg);
	param_restore(&self->quota);
}

#define CHARGE_QUOTA	(16 << 20)

/*
 * A sender fills its quota with messages of the default maximum size:
 * the memory its cgroup was charged for them, i.e. what they really
 * take, is its quota, give or take one message and the cgroup's per-CPU
 * batch (64 pages).
 */
TEST_F(memcg, charge_of_a_default_size_message_is_what_it_takes)
{
	long long before = 0, after = 0, delta;

	if (!self->have_cg)
		return;
	self->fd = kt_create(self->name, O_RDWR | O_NONBLOCK, 0666, 4096, 8192);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, kt_param_set("user_quota", CHARGE_QUOTA));
	ASSERT_EQ(0, cg_run_fill(self->cg, self->name, 8192, 4096, self->res, &before, &after));
	EXPECT_EQ(ENOBUFS, self->res->err);
	delta = after - before;
	TH_LOG("%d messages of 8192 bytes in a %d-byte quota; memory.current +%lld (%lld per message)",
	       self->res->sent, CHARGE_QUOTA, delta, delta / (self->res->sent ?: 1));
	/* the cgroup sees the messages at all */
	EXPECT_GE(delta, (long long)self->res->sent * 8192);
	/* and what they take is what the quota let through */
	EXPECT_LE(delta, CHARGE_QUOTA + CHARGE_QUOTA / 16);
	EXPECT_GE(delta, CHARGE_QUOTA - CHARGE_QUOTA / 16);
}

#define CG_MAX		(32 << 20)

/*
 * With the kmbox quota out of the way, the memory cgroup's limit stops a
 * sender: ENOMEM (no OOM kill), with about the payload charged.
 */
TEST_F(memcg, memory_cgroup_limit_stops_a_sender_with_enomem)
{
	long long before = 0, after = 0, delta, payload;
	char buf[65536];

	if (!self->have_cg)
		return;
	self->fd = kt_create(self->name, O_RDWR | O_NONBLOCK, 0666, 4096, 65536);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, kt_param_set("user_quota", 1ULL << 30));
	ASSERT_EQ(0, cg_write(self->cg, "memory.max", "33554432"));
	EXPECT_EQ(0, cg_run_fill(self->cg, self->name, 65536, 4096, self->res, &before, &after))
		TH_LOG("the sender was killed, not refused");
	EXPECT_EQ(0, cg_read_key(self->cg, "memory.events", "oom_kill"));
	payload = (long long)self->res->sent * 65536;
	delta = after - before;
	TH_LOG("%d messages of 64 KiB under memory.max %d; memory.current +%lld, errno %d",
	       self->res->sent, CG_MAX, delta, self->res->err);
	EXPECT_TRUE(self->res->err == ENOMEM || self->res->err == ENOBUFS);
	EXPECT_LE(payload, CG_MAX);
	EXPECT_GE(payload, CG_MAX / 2);
	/* about the payload: the cgroup charges in batches of 64 pages */
	EXPECT_GE(delta, payload - (1 << 19));
	EXPECT_LE(delta, payload + payload / 16 + (1 << 20));
	/* everything queued is intact and can be received */
	while (read(self->fd, buf, sizeof(buf)) == sizeof(buf))
		self->res->sent--;
	EXPECT_EQ(0, self->res->sent);
}

/*
 * Pages of freed messages are kept for the mailbox's next ones (64 at
 * most), still charged to the cgroup that allocated them, so only a
 * sender of that cgroup reuses them: one in another cgroup must pay for
 * every page it queues, and its cgroup's limit stops it with ENOMEM as if
 * nothing had been recycled.  (The first version let such a sender reuse
 * them uncharged: attack5's recycled_payload_pages_are_charged_to_the_new_sender.)
 */
TEST_F(memcg, recycled_pages_of_another_cgroup_give_a_sender_nothing_uncharged)
{
	long long before = 0, after = 0, delta, payload;
	char buf[65536];
	int i, n;

	if (!self->have_cg)
		return;
	self->fd = kt_create(self->name, O_RDWR | O_NONBLOCK, 0666, 4096, 65536);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, kt_param_set("user_quota", 1ULL << 30));
	/* Fill the mailbox's recycled pages from outside the cgroup. */
	memset(buf, 0x33, sizeof(buf));
	for (n = 0; n < 8 && write(self->fd, buf, sizeof(buf)) == sizeof(buf); n++)
		;
	ASSERT_EQ(8, n);
	for (i = 0; i < n; i++)
		ASSERT_EQ(sizeof(buf), read(self->fd, buf, sizeof(buf)));
	ASSERT_EQ(64, kt_fdinfo_long(self->fd, "kmbox-recycled-pages"));
	ASSERT_EQ(0, cg_write(self->cg, "memory.max", "33554432"));
	EXPECT_EQ(0, cg_run_fill(self->cg, self->name, 65536, 4096, self->res, &before, &after))
		TH_LOG("the sender was killed, not refused");
	EXPECT_EQ(0, cg_read_key(self->cg, "memory.events", "oom_kill"));
	payload = (long long)self->res->sent * 65536;
	delta = after - before;
	TH_LOG("%d messages of 64 KiB under memory.max %d after 64 pages recycled; "
	       "memory.current +%lld, errno %d, %ld pages still recycled", self->res->sent,
	       CG_MAX, delta, self->res->err, kt_fdinfo_long(self->fd, "kmbox-recycled-pages"));
	EXPECT_TRUE(self->res->err == ENOMEM || self->res->err == ENOBUFS);
	EXPECT_LE(payload, CG_MAX);
	EXPECT_GE(payload, CG_MAX / 2);
	/* the cgroup paid for every page it queued (less than 64 pages of slack) */
	EXPECT_GE(delta, payload - (1 << 17));
	EXPECT_LE(delta, payload + payload / 16 + (1 << 20));
	while (read(self->fd, buf, sizeof(buf)) == sizeof(buf))
		self->res->sent--;
	EXPECT_EQ(0, self->res->sent);
}

#define CG_POOL_MAX	(8 << 20)

/*
 * A deep mailbox of small messages grows its pool with the queue; each
 * buffer is charged to the memory cgroup of the sender that made it grow,
 * whose limit stops the growth, and the sends, with ENOMEM (no OOM kill).
 */
TEST_F(memcg, pool_growth_is_charged_to_the_senders_cgroup_and_stops_at_its_limit)
{
	long long before = 0, after = 0, delta;
	long pool;
	char buf[64];
	pid_t pid;

	if (!self->have_cg)
		return;
	/*
	 * Created by the sender's user: beyond 256 buffers only the
	 * creator's own sends grow a pool.
	 */
	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_become(KT_OWNER, KT_OWNER) == 0);
		CHILD_ASSERT(kt_create(self->name, O_RDWR, 0666, 65536, 64) >= 0);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait(pid));
	self->fd = kt_open(self->name, O_RDWR | O_NONBLOCK, 0, 0, 0, 0);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, kt_param_set("user_quota", 1ULL << 30));
	ASSERT_EQ(0, cg_write(self->cg, "memory.max", "8388608"));
	EXPECT_EQ(0, cg_run_fill(self->cg, self->name, 64, 65536, self->res, &before, &after))
		TH_LOG("the sender was killed, not refused");
	EXPECT_EQ(0, cg_read_key(self->cg, "memory.events", "oom_kill"));
	pool = kt_fdinfo_long(self->fd, "kmbox-pool-buffers");
	delta = after - before;
	TH_LOG("%d messages of 64 B under memory.max %d: pool of %ld buffers, "
	       "memory.current +%lld, errno %d", self->res->sent, CG_POOL_MAX, pool, delta,
	       self->res->err);
	TH_LOG("memory.stat: slab %lld, kernel %lld, percpu %lld, anon %lld",
	       cg_read_key(self->cg, "memory.stat", "slab"),
	       cg_read_key(self->cg, "memory.stat", "kernel"),
	       cg_read_key(self->cg, "memory.stat", "percpu"),
	       cg_read_key(self->cg, "memory.stat", "anon"));
	EXPECT_EQ(ENOMEM, self->res->err);
	/* the pool grew past the 256 buffers it keeps, as far as the cgroup let it */
	EXPECT_GT(pool, 256);
	EXPECT_LE(pool * 1024, CG_POOL_MAX);
	/* and the cgroup paid for it (the first 256 too: the mailbox is new) */
	EXPECT_GE(delta, pool * 1024 - (1 << 19));
	EXPECT_LE(delta, CG_POOL_MAX);
	/* everything queued is intact and can be received */
	while (read(self->fd, buf, sizeof(buf)) == sizeof(buf))
		self->res->sent--;
	EXPECT_EQ(0, self->res->sent);
}

/* ---- large messages ----------------------------------------------------- */

#define BIG	(4 << 20)

FIXTURE(big) {
	int fd;
	char *out, *in;
};

FIXTURE_SETUP(big)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR | O_NONBLOCK, 4, BIG);
	ASSERT_GE(self->fd, 0) TH_LOG("mailbox of %d-byte messages: %s", BIG, strerror(errno));
	self->out = malloc(BIG);
	self->in = malloc(BIG);
	ASSERT_TRUE(self->out && self->in);
}

FIXTURE_TEARDOWN(big)
{
	close(self->fd);
	free(self->out);
	free(self->in);
}

/* Sizes around every boundary of the storage: pool, one page, many. */
static const unsigned int big_sizes[] = {
	0, 1, 943, 944, 945, 1024, 4015, 4016, 4017, 4095, 4096, 4097,
	8191, 8192, 8193, 65535, 65536, 65537, 1 << 20, (1 << 20) + 1,
	BIG - 1, BIG,
};

TEST_F(big, every_size_round_trips_byte_exact_through_ioctls)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(big_sizes); i++) {
		unsigned int len = big_sizes[i];

		kt_fill(self->out, len, i);
		memset(self->in, 0, len + 1 <= BIG ? len + 1 : BIG);
		ASSERT_EQ(0, kt_send(self->fd, self->out, len, 0, 0, 0)) TH_LOG("send %u", len);
		ASSERT_EQ((int)len, kt_recv(self->fd, self->in, BIG, 0, 0, NULL))
			TH_LOG("recv %u: %s", len, strerror(errno));
		EXPECT_TRUE(kt_check_fill(self->in, len, i)) TH_LOG("payload of %u differs", len);
	}
}

TEST_F(big, every_size_round_trips_byte_exact_through_read_and_write)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(big_sizes); i++) {
		unsigned int len = big_sizes[i];

		kt_fill(self->out, len, 100 + i);
		ASSERT_EQ((ssize_t)len, write(self->fd, self->out, len)) TH_LOG("write %u", len);
		ASSERT_EQ((ssize_t)len, read(self->fd, self->in, BIG))
			TH_LOG("read %u: %s", len, strerror(errno));
		EXPECT_TRUE(kt_check_fill(self->in, len, 100 + i)) TH_LOG("payload of %u differs", len);
	}
}

/* Several big messages queued at once keep their order and contents. */
TEST_F(big, queued_megabyte_messages_stay_intact)
{
	char *bufs[4];
	int i;

	for (i = 0; i < 4; i++) {
		bufs[i] = malloc(1 << 20);
		ASSERT_NE(NULL, bufs[i]);
		kt_fill(bufs[i], 1 << 20, 7 * i);
		ASSERT_EQ(0, kt_send(self->fd, bufs[i], (1 << 20) - i, 0, 0, 0));
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ((1 << 20) - i, kt_recv(self->fd, self->in, BIG, 0, 0, NULL));
		EXPECT_TRUE(kt_check_fill(self->in, (1 << 20) - i, 7 * i));
		free(bufs[i]);
	}
}

/* A buffer of @pages pages whose page @hole is unmapped. */
static char *holed_buffer(size_t pages, size_t hole)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, pages * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (munmap(p + hole * pg, pg))
		return NULL;
	return p;
}

/*
 * A receive whose buffer's last page is unmapped faults on the tail of
 * the message: EFAULT, and the message stays queued, intact.
 */
TEST_F(big, receive_faulting_on_the_last_page_keeps_the_message)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t len = (1 << 20) + 100, pages = len / pg + 1;
	char *buf = holed_buffer(pages, pages - 1);

	ASSERT_NE(NULL, buf);
	kt_fill(self->out, len, 3);
	ASSERT_EQ(0, kt_send(self->fd, self->out, len, 5, 0, 0));
	EXPECT_EQ(-1, kt_recv(self->fd, buf, pages * pg, 0, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, read(self->fd, buf, pages * pg));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	ASSERT_EQ((int)len, kt_recv(self->fd, self->in, BIG, 0, 0, NULL));
	EXPECT_TRUE(kt_check_fill(self->in, len, 3));
	munmap(buf, pages * pg);
}

/* A send whose payload has an unmapped page: EFAULT, and nothing changes. */
TEST_F(big, send_faulting_in_the_middle_changes_nothing)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t len = 1 << 20, pages = len / pg;
	char *buf = holed_buffer(pages, pages / 2);
	struct kt_stats before, after;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, kt_read_stats(&before));
	EXPECT_EQ(-1, kt_send(self->fd, buf, len, 0, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, write(self->fd, buf, len));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	ASSERT_EQ(0, kt_read_stats(&after));
	EXPECT_EQ(before.messages, after.messages);
	EXPECT_EQ(before.bytes, after.bytes);
	munmap(buf, pages * pg);
}

/* ---- time namespaces ----------------------------------------------------- */

/*
 * Run @fn(@arg) in a grandchild living in a new time namespace whose
 * CLOCK_MONOTONIC reads the host's plus @off_s seconds (the offsets must
 * be written before a process joins: the child that unshares stays
 * outside, its children are inside).  Returns @fn's result, 200 when
 * time namespaces are unavailable, 201 when the offset is refused.
 */
static int in_timens(long long off_s, int (*fn)(void *), void *arg)
{
	pid_t pid = kt_fork(60);

	if (pid < 0)
		return 202;
	if (pid == 0) {
		char text[64];
		pid_t gc;

		if (unshare(CLONE_NEWTIME))
			_exit(200);
		snprintf(text, sizeof(text), "monotonic %lld 0\n", off_s);
		if (write_file("/proc/self/timens_offsets", text))
			_exit(201);
		gc = fork();
		if (gc < 0)
			_exit(202);
		if (gc == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			/* a deadline read as the wrong clock may never come */
			alarm(10);
			_exit(fn(arg));
		}
		_exit(kt_wait(gc));
	}
	return kt_wait(pid);
}

#define TIMENS_SKIP(st) do {						\
	if ((st) == 200)						\
		SKIP(return, "no time namespaces (unshare(CLONE_NEWTIME) failed)"); \
} while (0)

/* In the namespace: a timed receive on the empty mailbox *@arg. */
static int timed_recv_times_out_on_its_own_clock(void *arg)
{
	int fd = *(int *)arg;
	uint64_t deadline = kt_deadline_ms(200);
	char buf[16];

	if (kt_recv(fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, deadline, NULL) != -1)
		return 1;
	if (errno != ETIMEDOUT)
		return 2;
	/* not before the deadline, on the caller's clock */
	return kt_now_ns() >= deadline ? 0 : 3;
}

/* In the namespace: a timed send to the full mailbox *@arg. */
static int timed_send_times_out_on_its_own_clock(void *arg)
{
	int fd = *(int *)arg;
	uint64_t deadline = kt_deadline_ms(200);

	if (kt_send(fd, "x", 1, 0, KMBOX_F_TIMEOUT, deadline) != -1)
		return 1;
	if (errno != ETIMEDOUT)
		return 2;
	return kt_now_ns() >= deadline ? 0 : 3;
}

/* In the namespace: the message queued in *@arg was sent "just now". */
static int send_time_is_on_the_receivers_clock(void *arg)
{
	int fd = *(int *)arg;
	struct kmbox_recv r;
	uint64_t now;
	char buf[16];

	if (kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &r) != 1)
		return 1;
	now = kt_now_ns();
	if (r.send_ns > now)
		return 2;
	return now - r.send_ns < 30ULL * 1000000000ULL ? 0 : 3;
}

/* Seconds the host's CLOCK_MONOTONIC has run (what a namespace may go back). */
static long long monotonic_seconds(void)
{
	return (long long)(kt_now_ns() / 1000000000ULL);
}

FIXTURE(timens) {
	int fd;
};

FIXTURE_SETUP(timens)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR, 1, 16);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(timens)
{
	close(self->fd);
}

/* One day ahead: a deadline 200 ms away must not become a day away. */
TEST_F(timens, receive_deadline_ahead_of_the_host_is_not_a_day_late)
{
	int st = in_timens(86400, timed_recv_times_out_on_its_own_clock, &self->fd);

	TIMENS_SKIP(st);
	EXPECT_EQ(0, st) TH_LOG("status %d (142: still asleep after 10 s)", st);
}

/* Behind the host: the deadline must not be read as long past. */
TEST_F(timens, receive_deadline_behind_the_host_does_not_fire_early)
{
	long long back = monotonic_seconds() - 1;
	int st;

	if (back < 1)
		SKIP(return, "the host has been up for less than 2 s");
	st = in_timens(-back, timed_recv_times_out_on_its_own_clock, &self->fd);
	TIMENS_SKIP(st);
	EXPECT_EQ(0, st) TH_LOG("status %d (3: returned before its deadline)", st);
}

TEST_F(timens, send_deadline_is_on_the_senders_clock)
{
	long long back = monotonic_seconds() - 1;
	int st;

	ASSERT_EQ(0, kt_send(self->fd, "f", 1, 0, 0, 0));	/* now full */
	st = in_timens(86400, timed_send_times_out_on_its_own_clock, &self->fd);
	TIMENS_SKIP(st);
	EXPECT_EQ(0, st) TH_LOG("ahead: status %d", st);
	if (back < 1)
		return;
	st = in_timens(-back, timed_send_times_out_on_its_own_clock, &self->fd);
	EXPECT_EQ(0, st) TH_LOG("behind: status %d", st);
}

TEST_F(timens, send_time_is_reported_on_the_receivers_clock)
{
	long long back = monotonic_seconds() - 1;
	int st;

	ASSERT_EQ(0, kt_send(self->fd, "a", 1, 0, 0, 0));
	st = in_timens(86400, send_time_is_on_the_receivers_clock, &self->fd);
	TIMENS_SKIP(st);
	EXPECT_EQ(0, st) TH_LOG("ahead: status %d (3: a day off)", st);
	if (back < 1)
		return;
	ASSERT_EQ(0, kt_send(self->fd, "b", 1, 0, 0, 0));
	st = in_timens(-back, send_time_is_on_the_receivers_clock, &self->fd);
	EXPECT_EQ(0, st) TH_LOG("behind: status %d (2: in its future)", st);
}

/* In a namespace a day ahead: 1 s on its clock is before the host booted. */
static int deadline_before_boot_has_passed(void *arg)
{
	int fd = *(int *)arg;
	char buf[16];

	if (kt_recv(fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, 1000000000ULL, NULL) != -1)
		return 1;
	return errno == ETIMEDOUT ? 0 : 2;
}

/*
 * In a namespace behind the host: the latest deadline there is, which is
 * past KTIME_MAX on the host's clock, still means "wait": a sender (a
 * child, once we sleep) wakes the receive.
 */
static int latest_deadline_still_waits(void *arg)
{
	int fd = *(int *)arg;
	char buf[16];
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 3;
	if (pid == 0) {
		if (kt_wait_waiters(fd, 1, 0, 5000))
			_exit(1);
		_exit(kt_send(fd, "w", 1, 0, 0, 0) ? 2 : 0);
	}
	if (kt_recv(fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, INT64_MAX, NULL) != 1)
		return 1;
	return kt_wait(pid) ? 2 : 0;
}

TEST_F(timens, deadlines_saturate_at_the_ends_of_the_hosts_clock)
{
	long long back = monotonic_seconds() - 1;
	int st = in_timens(86400, deadline_before_boot_has_passed, &self->fd);

	TIMENS_SKIP(st);
	EXPECT_EQ(0, st) TH_LOG("before boot: status %d", st);
	if (back < 1)
		return;
	st = in_timens(-back, latest_deadline_still_waits, &self->fd);
	EXPECT_EQ(0, st) TH_LOG("latest deadline: status %d", st);
}

/* ---- readv / writev / RWF_NOWAIT ----------------------------------------- */

FIXTURE(iov) {
	int fd;
};

FIXTURE_SETUP(iov)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR, 4, 64);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(iov)
{
	close(self->fd);
}

TEST_F(iov, writev_gathers_every_buffer_into_one_message)
{
	struct iovec v[3] = {
		{ "ab", 2 }, { "", 0 }, { "cdef", 4 },
	};
	char buf[64];

	ASSERT_EQ(6, writev(self->fd, v, 3));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	ASSERT_EQ(6, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "abcdef", 6));
}

TEST_F(iov, writev_over_max_msgsize_is_emsgsize_and_queues_nothing)
{
	static char a[40], b[40];
	struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };

	EXPECT_EQ(-1, writev(self->fd, v, 2));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(iov, writev_with_an_unmapped_buffer_is_efault_and_queues_nothing)
{
	char *hole = holed_buffer(1, 0);
	struct iovec v[2] = { { "ok", 2 }, { hole, 8 } };

	ASSERT_NE(NULL, hole);
	EXPECT_EQ(-1, writev(self->fd, v, 2));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(iov, readv_scatters_one_message_and_takes_no_second)
{
	char a[3], b[3], c[10];
	struct iovec v[3] = { { a, 3 }, { b, 3 }, { c, 10 } };

	ASSERT_EQ(10, write(self->fd, "0123456789", 10));
	ASSERT_EQ(4, write(self->fd, "next", 4));
	ASSERT_EQ(10, readv(self->fd, v, 3));
	EXPECT_EQ(0, memcmp(a, "012", 3));
	EXPECT_EQ(0, memcmp(b, "345", 3));
	EXPECT_EQ(0, memcmp(c, "6789", 4));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
}

/* A message that exactly fills the first buffer is still one message. */
TEST_F(iov, readv_never_merges_messages)
{
	char a[4], b[4];
	struct iovec v[2] = { { a, 4 }, { b, 4 } };

	ASSERT_EQ(4, write(self->fd, "abcd", 4));
	ASSERT_EQ(4, write(self->fd, "efgh", 4));
	EXPECT_EQ(4, readv(self->fd, v, 2));
	EXPECT_EQ(0, memcmp(a, "abcd", 4));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
}

TEST_F(iov, readv_shorter_than_the_message_is_emsgsize_and_keeps_it)
{
	char a[3], b[3], buf[16];
	struct iovec v[2] = { { a, 3 }, { b, 3 } };

	ASSERT_EQ(10, write(self->fd, "0123456789", 10));
	EXPECT_EQ(-1, readv(self->fd, v, 2));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	ASSERT_EQ(10, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "0123456789", 10));
}

TEST_F(iov, readv_faulting_on_a_later_buffer_keeps_the_message)
{
	char *hole = holed_buffer(1, 0), a[4], buf[16];
	struct iovec v[2] = { { a, 4 }, { hole, 8 } };

	ASSERT_NE(NULL, hole);
	ASSERT_EQ(10, write(self->fd, "0123456789", 10));
	EXPECT_EQ(-1, readv(self->fd, v, 2));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	ASSERT_EQ(10, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "0123456789", 10));
}

/* A read-only buffer is a fault like any other: the message stays. */
TEST_F(iov, read_into_a_read_only_buffer_is_efault_and_keeps_the_message)
{
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec v[2];
	char a[2], buf[16];

	ASSERT_NE(MAP_FAILED, ro);
	v[0] = (struct iovec){ a, sizeof(a) };
	v[1] = (struct iovec){ ro, 64 };
	ASSERT_EQ(10, write(self->fd, "0123456789", 10));
	EXPECT_EQ(-1, read(self->fd, ro, 64));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, readv(self->fd, v, 2));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	ASSERT_EQ(10, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "0123456789", 10));
	munmap(ro, 4096);
}

/* RWF_NOWAIT (IOCB_NOWAIT) never sleeps: EAGAIN on a blocking file. */
TEST_F(iov, rwf_nowait_on_empty_or_full_is_eagain)
{
	char buf[16];
	struct iovec v = { buf, sizeof(buf) };
	struct iovec w = { "x", 1 };
	int i;

	EXPECT_EQ(-1, preadv2(self->fd, &v, 1, -1, RWF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno) TH_LOG("%s (EOPNOTSUPP: no FMODE_NOWAIT)", strerror(errno));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(1, write(self->fd, "m", 1));
	EXPECT_EQ(-1, pwritev2(self->fd, &w, 1, -1, RWF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	/* and does the work when it can */
	EXPECT_EQ(1, preadv2(self->fd, &v, 1, -1, RWF_NOWAIT));
	EXPECT_EQ(1, pwritev2(self->fd, &w, 1, -1, RWF_NOWAIT));
	EXPECT_EQ(4, kt_cur_msgs(self->fd));
}

/* ---- sender credentials ---------------------------------------------------- */

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))], c = 'f';
	struct iovec iov = { &c, 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], c;
	struct iovec iov = { &c, 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &mh, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

FIXTURE(creds) {
	char name[64];
	int rfd;		/* root's receiving end */
	int wfd;		/* the file KT_OWNER opened, passed to us */
	pid_t opener;		/* KT_OWNER's process, alive until reaped */
	int sock;
};

/*
 * A root-owned 0666 mailbox; a child running as KT_OWNER opens it for
 * writing, sends "c" and "d" with KMBOX_IOC_SEND, passes the file to us
 * and stays alive until told to go (by closing the socket).
 */
FIXTURE_SETUP(creds)
{
	int sv[2];

	KT_REQUIRE_MODULE();
	self->wfd = -1;
	self->opener = -1;
	kt_name(self->name, sizeof(self->name), "creds");
	umask(0);
	self->rfd = kt_create(self->name, O_RDWR | O_NONBLOCK, 0666, 8, 64);
	ASSERT_GE(self->rfd, 0);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	self->opener = kt_fork(30);
	ASSERT_GE(self->opener, 0);
	if (self->opener == 0) {
		char c;
		int fd;

		close(sv[0]);
		CHILD_ASSERT(kt_become(KT_OWNER, KT_OWNER) == 0);
		fd = kt_open(self->name, O_WRONLY, 0, 0, 0, 0);
		CHILD_ASSERT(fd >= 0);
		CHILD_ASSERT(kt_send(fd, "c", 1, 0, 0, 0) == 0);
		CHILD_ASSERT(kt_send(fd, "d", 1, 0, 0, 0) == 0);
		CHILD_ASSERT(send_fd(sv[1], fd) == 0);
		while (read(sv[1], &c, 1) > 0)
			;
		_exit(0);
	}
	close(sv[1]);
	self->sock = sv[0];
	self->wfd = recv_fd(self->sock);
	ASSERT_GE(self->wfd, 0);
}

FIXTURE_TEARDOWN(creds)
{
	if (self->opener > 0) {
		close(self->sock);
		kt_wait(self->opener);
	}
	if (self->wfd >= 0)
		close(self->wfd);
	close(self->rfd);
	kt_unlink(self->name);
}

/* Receive one message from @fd into @r; its first byte, or 0. */
static char recv_one(int fd, struct kmbox_recv *r)
{
	char buf[64];

	if (kt_recv(fd, buf, sizeof(buf), 0, 0, r) < 1)
		return 0;
	return buf[0];
}

/*
 * root write()s through a file that uid 1000 opened (an fd it was
 * passed, as a setuid program's stderr can be): the message is from
 * uid 1000 and the opener's process, not from root.
 */
TEST_F(creds, write_carries_the_openers_credentials)
{
	struct iovec v[2] = { { "w", 1 }, { "v", 1 } };
	struct kmbox_recv r;

	ASSERT_EQ('c', recv_one(self->rfd, &r));
	ASSERT_EQ('d', recv_one(self->rfd, &r));
	ASSERT_EQ(1, write(self->wfd, "w", 1));
	ASSERT_EQ('w', recv_one(self->rfd, &r));
	EXPECT_EQ(KT_OWNER, r.uid);
	EXPECT_EQ(KT_OWNER, r.gid);
	EXPECT_EQ(self->opener, r.pid);
	ASSERT_EQ(2, writev(self->wfd, v, 2));
	ASSERT_EQ('w', recv_one(self->rfd, &r));
	EXPECT_EQ(KT_OWNER, r.uid);
	EXPECT_EQ(self->opener, r.pid);
}

/* KMBOX_IOC_SEND through the same file carries the caller's. */
TEST_F(creds, send_ioctl_carries_the_callers_credentials)
{
	struct kmbox_recv r;

	ASSERT_EQ('c', recv_one(self->rfd, &r));
	EXPECT_EQ(KT_OWNER, r.uid);
	EXPECT_EQ(self->opener, r.pid);
	ASSERT_EQ('d', recv_one(self->rfd, &r));
	ASSERT_EQ(0, kt_send(self->wfd, "s", 1, 0, 0, 0));
	ASSERT_EQ('s', recv_one(self->rfd, &r));
	EXPECT_EQ(0, r.uid);
	EXPECT_EQ(0, r.gid);
	EXPECT_EQ(getpid(), r.pid);
}

/*
 * Once the sending process is gone (reaped), its number may belong to
 * another process: pid 0.  A zombie is still the sender.
 */
TEST_F(creds, sender_that_has_exited_is_pid_0)
{
	struct kmbox_recv r;
	siginfo_t si;

	ASSERT_EQ(1, write(self->wfd, "w", 1));		/* from the opener */
	close(self->sock);
	ASSERT_EQ(0, waitid(P_PID, self->opener, &si, WEXITED | WNOWAIT));
	ASSERT_EQ('c', recv_one(self->rfd, &r));	/* a zombie's */
	EXPECT_EQ(self->opener, r.pid);
	ASSERT_EQ(0, kt_wait(self->opener));
	self->opener = -1;
	ASSERT_EQ('d', recv_one(self->rfd, &r));	/* a reaped one's */
	EXPECT_EQ(0, r.pid);
	EXPECT_EQ(KT_OWNER, r.uid);
	ASSERT_EQ('w', recv_one(self->rfd, &r));	/* written, as the opener */
	EXPECT_EQ(0, r.pid);
	EXPECT_EQ(KT_OWNER, r.uid);
	/* and so is a write after the opener is gone */
	ASSERT_EQ(1, write(self->wfd, "x", 1));
	ASSERT_EQ('x', recv_one(self->rfd, &r));
	EXPECT_EQ(0, r.pid);
	EXPECT_EQ(KT_OWNER, r.uid);
}

/* ---- module parameters ------------------------------------------------- */

static const char *const kt_params[] = {
	"default_max_msgs", "default_max_msgsize", "max_msgs_cap", "max_msgsize_cap",
	"max_mailboxes", "user_max_mailboxes", "user_quota", "region_cap",
};

#define NPARAMS		ARRAY_SIZE(kt_params)

FIXTURE(params) {
	struct saved_param saved[NPARAMS];
};

FIXTURE_SETUP(params)
{
	unsigned int i;

	KT_REQUIRE_MODULE();
	for (i = 0; i < NPARAMS; i++)
		ASSERT_EQ(0, param_save(&self->saved[i], kt_params[i]));
}

/* Twice: a default and its cap may have to go back in either order. */
FIXTURE_TEARDOWN(params)
{
	unsigned int i, round;

	for (round = 0; round < 2; round++)
		for (i = 0; i < NPARAMS; i++)
			param_restore(&self->saved[i]);
}

/* Write @text to parameter @name: 0 or the errno. */
static int param_write(const char *name, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), KT_PARAM_DIR "%s", name);
	return write_file(path, text) ? errno : 0;
}

/* @text is refused with EINVAL and @name keeps its value. */
static void expect_refused(struct __test_metadata *_metadata, const char *name,
			   const char *text)
{
	unsigned long long before, after;

	ASSERT_EQ(0, kt_param_get(name, &before));
	EXPECT_EQ(EINVAL, param_write(name, text)) TH_LOG("%s = \"%s\"", name, text);
	ASSERT_EQ(0, kt_param_get(name, &after));
	EXPECT_EQ(before, after) TH_LOG("%s changed by \"%s\"", name, text);
}

TEST_F(params, zero_is_refused_where_it_means_nothing)
{
	unsigned int i;

	for (i = 0; i < NPARAMS; i++)
		if (strcmp(kt_params[i], "user_quota") && strcmp(kt_params[i], "region_cap"))
			expect_refused(_metadata, kt_params[i], "0");
}

TEST_F(params, values_past_the_bounds_are_refused)
{
	static const struct { const char *name, *text; } bad[] = {
		{ "max_msgsize_cap", "4194305" },	/* 4 MiB + 1 */
		{ "max_msgsize_cap", "2147483649" },	/* made slot_cap 0 */
		{ "max_msgsize_cap", "4294967296" },	/* past a u32 */
		{ "default_max_msgsize", "4194305" },
		{ "max_msgs_cap", "65537" },
		{ "max_msgs_cap", "4294967295" },	/* wrapped + the pool's 8 */
		{ "default_max_msgs", "65537" },
		{ "max_mailboxes", "1048577" },
		{ "user_max_mailboxes", "1048577" },
		{ "user_quota", "1099511627777" },	/* 1 TiB + 1 */
		{ "region_cap", "1073741825" },		/* 1 GiB + 1 */
		{ "user_quota", "18446744073709551616" },
		{ "region_cap", "-1" },
		{ "max_mailboxes", "12abc" },
		{ "max_mailboxes", "\n" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		expect_refused(_metadata, bad[i].name, bad[i].text);
}

/* Create an anonymous mailbox with a one-page region: 0 or the errno. */
static int create_with_region(void)
{
	struct kmbox_attr a;
	int fd = kt_dev(O_RDWR), ret;

	if (fd < 0)
		return errno;
	kt_attr_init(&a, 4, 64);
	a.zc_slots = 1;
	a.zc_slot_size = 4096;
	ret = kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a) ? errno : 0;
	close(fd);
	return ret;
}

TEST_F(params, the_bounds_themselves_are_accepted)
{
	unsigned long long v;

	EXPECT_EQ(0, param_write("user_quota", "1099511627776"));
	EXPECT_EQ(0, param_write("region_cap", "1073741824"));
	EXPECT_EQ(0, param_write("max_mailboxes", "1048576"));
	EXPECT_EQ(0, param_write("max_msgs_cap", "65536"));
	EXPECT_EQ(0, param_write("max_msgsize_cap", "4194304"));
	EXPECT_EQ(0, param_write("user_max_mailboxes", "1"));
	ASSERT_EQ(0, kt_param_get("region_cap", &v));
	EXPECT_EQ(1ULL << 30, v);
	/* 0 means no limit for the quota, no zero-copy region at all */
	EXPECT_EQ(0, param_write("user_quota", "0"));
	EXPECT_EQ(0, param_write("region_cap", "0"));
	EXPECT_EQ(EINVAL, create_with_region());
}

/* A default may not go over its cap, nor a cap under its default. */
TEST_F(params, a_default_over_its_cap_is_refused)
{
	ASSERT_EQ(0, param_write("max_msgsize_cap", "16384"));
	ASSERT_EQ(0, param_write("default_max_msgsize", "8192"));
	expect_refused(_metadata, "default_max_msgsize", "16385");
	expect_refused(_metadata, "max_msgsize_cap", "8191");
	EXPECT_EQ(0, param_write("default_max_msgsize", "16384"));
	EXPECT_EQ(0, param_write("default_max_msgsize", "8192"));

	ASSERT_EQ(0, param_write("default_max_msgs", "64"));
	ASSERT_EQ(0, param_write("max_msgs_cap", "64"));
	expect_refused(_metadata, "default_max_msgs", "65");
	expect_refused(_metadata, "max_msgs_cap", "63");
}

/*
 * At load the same bounds apply, and the defaults must fit their caps
 * once every parameter is in, in whatever order they came.  This unloads
 * the module (skipping if something holds it) and always loads it back
 * with its defaults, as qemu/init did.
 */
TEST(insmod_refuses_bad_parameters)
{
	static const char *const bad[] = {
		"max_msgsize_cap=0",
		"max_msgsize_cap=2147483649",
		"max_msgs_cap=4294967295",
		"user_quota=1099511627777",
		"max_msgsize_cap=4096",			/* default 8192 over it */
		"default_max_msgs=100 max_msgs_cap=99",
	};
	unsigned long long v = 0;
	unsigned int i;
	int fd, ret;

	KT_REQUIRE_MODULE();
	fd = open("/kmbox.ko", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		SKIP(return, "no /kmbox.ko (not in the test VM)");
	if (syscall(SYS_delete_module, "kmbox", O_NONBLOCK)) {
		close(fd);
		SKIP(return, "cannot unload kmbox: %s", strerror(errno));
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ret = syscall(SYS_finit_module, fd, bad[i], 0);
		EXPECT_EQ(-1, ret) TH_LOG("insmod with %s loaded", bad[i]);
		if (!ret)
			syscall(SYS_delete_module, "kmbox", O_NONBLOCK);
		else
			EXPECT_EQ(EINVAL, errno) TH_LOG("%s: %s", bad[i], strerror(errno));
	}
	/* in any order, as long as they fit in the end */
	ret = syscall(SYS_finit_module, fd, "max_msgsize_cap=4096 default_max_msgsize=1024", 0);
	EXPECT_EQ(0, ret) TH_LOG("good parameters: %s", strerror(errno));
	if (!ret) {
		EXPECT_EQ(0, kt_param_get("max_msgsize_cap", &v));
		EXPECT_EQ(4096, v);
		EXPECT_EQ(0, syscall(SYS_delete_module, "kmbox", O_NONBLOCK));
	}
	ret = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	ASSERT_EQ(0, ret) TH_LOG("kmbox could not be loaded back: %s", strerror(errno));
	EXPECT_EQ(0, kt_param_get("max_msgsize_cap", &v));
	EXPECT_EQ(4 << 20, v);
}

TEST_HARNESS_MAIN
