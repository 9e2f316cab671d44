// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox_hostile_test: what an unprivileged user (uid/gid 65534) can and
 * cannot do to root's mailboxes and to the machine.
 *
 * Usage: kmbox_hostile_test [--verbose]   (also reads $KMBOX_HOSTILE_ARGS)
 * Needs root (to lower module parameters and to drop to 65534); restores
 * every parameter it changes.
 *
 * Cases (one KTAP line each):
 *  1. root's 0600 mailbox: nobody's open (any access mode) is EACCES
 *  2. nobody's unlink of it is EACCES; root's mailbox still works
 *  3. the same from a user namespace nobody made (caps there do not count)
 *  4. another IPC namespace sees none of root's names (ENOENT), lists none
 *     in /proc/kmbox/mailboxes, and makes its own under the same name
 *  5. nobody flooding its own mailbox gets ENOBUFS at user_quota, and
 *     never pins more than the quota; root (CAP_SYS_RESOURCE) goes on
 *  6. nobody flooding root's 0666 mailbox is charged for it: ENOBUFS;
 *     root can still send to and drain its mailbox
 *  7. nobody pinning memory through zero-copy regions gets EMFILE at the
 *     quota (one region too big, and many small ones)
 *  8. nobody creating mailboxes without end gets EMFILE (user limit) or
 *     ENOSPC (global max_mailboxes); root still creates
 *  9. nobody cannot touch slots of root's region (EINVAL), map it
 *     writable through a read-only file (EACCES) or executable (EPERM)
 * 10. afterwards every root mailbox still round-trips, and with all
 *     files closed /proc/kmbox/stats is back to zero
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmbox.h"
#include "stress_util.h"

#define NOBODY		65534
#define QUOTA_LOW	(256UL * 1024)

static bool verbose;

/* Run @fn as uid/gid 65534 in a child; returns its exit status (0 = pass). */
static int as_nobody(int (*fn)(void *), void *arg)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 100;
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY)) {
			diag("dropping to %d: %s", NOBODY, strerror(errno));
			_exit(100);
		}
		_exit(fn(arg));
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		diag("unprivileged child died of signal %d", WTERMSIG(st));
		return 101;
	}
	return WEXITSTATUS(st);
}

#define EXPECT(cond, ...) do {					\
	if (!(cond)) {						\
		diag(__VA_ARGS__);				\
		fails++;					\
	}							\
} while (0)

/* Root's mailboxes, created in main(). */
static const char *const secret = "kmbox-hostile-secret";	/* 0600 */
static const char *const open_box = "kmbox-hostile-open";	/* 0666 */
static const char *const region_box = "kmbox-hostile-region";	/* 0644, zc */

static bool roundtrip(int fd, const char *what)
{
	char out[32], in[64];
	long r;
	int n;

	n = snprintf(out, sizeof(out), "ping %s", what);
	r = kb_send(fd, out, n, 7, KMBOX_F_NONBLOCK, 0);
	if (r) {
		diag("root send to %s: %s", what, strerror(-r));
		return false;
	}
	/* Drain to our message (the flood cases leave others queued). */
	for (;;) {
		struct kmbox_recv rv = { .buf = U64(in), .len = sizeof(in), .flags = KMBOX_F_NONBLOCK };

		r = kb_ioctl(fd, KMBOX_IOC_RECV, &rv);
		if (r < 0) {
			diag("root recv from %s: %s", what, strerror(-r));
			return false;
		}
		if (r == n && !memcmp(in, out, n))
			return true;
	}
}

/* ---- 1-3: permissions --------------------------------------------------------- */

static int try_secret(void *arg)
{
	static const int accs[] = { O_RDONLY, O_WRONLY, O_RDWR };
	const char *where = arg;
	int fails = 0, fd;
	size_t i;
	long r;

	for (i = 0; i < ARRAY_SIZE(accs); i++) {
		fd = kb_open(secret, accs[i], 0, 0, NULL);
		EXPECT(fd == -EACCES, "%s: open(%s, acc %d): %s, want EACCES", where, secret,
		       accs[i], fd >= 0 ? "success" : strerror(-fd));
		if (fd >= 0)
			close(fd);
		/* O_CREAT on an existing name is an open: still EACCES. */
		fd = kb_open(secret, accs[i], KMBOX_OPEN_CREAT, 0666, NULL);
		EXPECT(fd == -EACCES, "%s: open(%s, CREAT, acc %d): %s, want EACCES", where,
		       secret, accs[i], fd >= 0 ? "success" : strerror(-fd));
		if (fd >= 0)
			close(fd);
	}
	r = kb_unlink(secret);
	EXPECT(r == -EACCES, "%s: unlink(%s): %s, want EACCES", where, secret,
	       r ? strerror(-r) : "success");
	return fails;
}

static int try_secret_userns(void *arg)
{
	if (unshare(CLONE_NEWUSER)) {
		diag("unshare(CLONE_NEWUSER): %s", strerror(errno));
		return 77;
	}
	return try_secret(arg);
}

/* ---- 4: IPC namespaces --------------------------------------------------------- */

static int other_ns(void *arg)
{
	int fails = 0, fd, fd2, n = 0;
	char line[512];
	FILE *f;

	if (arg && unshare(CLONE_NEWUSER)) {
		diag("unshare(CLONE_NEWUSER): %s", strerror(errno));
		return 77;
	}
	if (unshare(CLONE_NEWIPC)) {
		diag("unshare(CLONE_NEWIPC): %s", strerror(errno));
		return 77;
	}
	fd = kb_open(secret, O_RDWR, 0, 0, NULL);
	EXPECT(fd == -ENOENT, "new IPC ns: open(%s): %s, want ENOENT", secret,
	       fd >= 0 ? "success" : strerror(-fd));
	fd = kb_open(open_box, O_RDWR, 0, 0, NULL);
	EXPECT(fd == -ENOENT, "new IPC ns: open(%s): %s, want ENOENT", open_box,
	       fd >= 0 ? "success" : strerror(-fd));
	EXPECT(kb_unlink(open_box) == -ENOENT, "new IPC ns: unlink(%s) not ENOENT", open_box);
	f = fopen("/proc/kmbox/mailboxes", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (strstr(line, "kmbox-hostile-"))
				n++;
		fclose(f);
		EXPECT(!n, "new IPC ns: /proc/kmbox/mailboxes lists %d of root's mailboxes", n);
	}
	/* The same name here is a mailbox of its own. */
	fd = kb_open(open_box, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600, NULL);
	EXPECT(fd >= 0, "new IPC ns: create %s: %s", open_box, fd < 0 ? strerror(-fd) : "");
	if (fd >= 0) {
		struct kmbox_attr a;

		EXPECT(!kb_send(fd, "x", 1, 0, KMBOX_F_NONBLOCK, 0), "new IPC ns: send failed");
		fd2 = kb_open(open_box, O_RDWR, 0, 0, NULL);
		EXPECT(fd2 >= 0 && !kb_getattr(fd2, &a) && a.cur_msgs == 1,
		       "new IPC ns: reopening our %s does not find our message", open_box);
		if (fd2 >= 0)
			close(fd2);
		EXPECT(!kb_unlink(open_box), "new IPC ns: unlink of our own %s failed", open_box);
		close(fd);
	}
	return fails;
}

/* ---- 5-7: quota ------------------------------------------------------------------ */

struct flood {
	const char *name;	/* NULL: own anonymous mailbox */
	unsigned long quota;
	long sent_bytes;
	int err;
};

static int flood(void *arg)
{
	struct flood *fl = arg;
	struct kmbox_attr a = { .max_msgs = 65536, .max_msgsize = 4096 };
	static char buf[4096];
	long r, n = 0, bytes = 0;
	int fails = 0, fd;

	if (fl->name)
		fd = kb_open(fl->name, O_WRONLY, 0, 0, NULL);
	else
		fd = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &a);
	if (fd < 0) {
		diag("flood: open %s: %s", fl->name ? fl->name : "anon", strerror(-fd));
		return 1;
	}
	memset(buf, 'q', sizeof(buf));
	for (;;) {
		r = kb_send(fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0);
		if (r)
			break;
		n++;
		bytes += sizeof(buf);
		if (bytes > (long)(4 * fl->quota))
			break;
	}
	EXPECT(r == -ENOBUFS, "flood %s: stopped after %ld messages (%ld bytes) with %s, want ENOBUFS",
	       fl->name ? fl->name : "anon", n, bytes, r ? strerror(-r) : "no error");
	EXPECT(bytes <= (long)fl->quota, "flood %s: pinned %ld bytes with a quota of %lu",
	       fl->name ? fl->name : "anon", bytes, fl->quota);
	if (verbose)
		diag("flood %s: %ld messages, %ld bytes before %s", fl->name ? fl->name : "anon", n,
		     bytes, strerror(-r));
	/* Keep them queued for the parent to look at: the mailbox outlives us
	 * only if named, so for the anonymous one check here. */
	close(fd);
	return fails;
}

static int pin_regions(void *arg)
{
	unsigned long quota = *(unsigned long *)arg;
	struct kmbox_attr big = { .zc_slots = 2 * (quota / 4096) + 2, .zc_slot_size = 4096 };
	struct kmbox_attr small = { .zc_slots = 16, .zc_slot_size = 4096 };
	int fails = 0, fd, fds[512], n = 0, i;
	unsigned long pinned = 0;

	fd = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &big);
	EXPECT(fd == -EMFILE, "region of %u KiB with a quota of %lu KiB: %s, want EMFILE",
	       big.zc_slots * 4, quota / 1024, fd >= 0 ? "success" : strerror(-fd));
	if (fd >= 0)
		close(fd);
	for (;;) {
		fd = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &small);
		if (fd < 0 || n == (int)ARRAY_SIZE(fds))
			break;
		fds[n++] = fd;
		pinned += 16 * 4096;
	}
	EXPECT(fd == -EMFILE, "regions: stopped after %d (%lu KiB) with %s, want EMFILE", n,
	       pinned / 1024, fd >= 0 ? "no error" : strerror(-fd));
	EXPECT(pinned <= quota, "regions: pinned %lu KiB with a quota of %lu KiB", pinned / 1024,
	       quota / 1024);
	for (i = 0; i < n; i++)
		close(fds[i]);
	return fails;
}

/* ---- 8: mailbox count ---------------------------------------------------------------- */

static int make_many(void *arg)
{
	int want = *(int *)arg;	/* errno expected at the end */
	int fails = 0, n = 0, fd, *fds = calloc(8192, sizeof(int)), i;
	struct rlimit rl = { 8192, 8192 };

	setrlimit(RLIMIT_NOFILE, &rl);	/* may fail for us: fine, then EMFILE of open */
	for (;;) {
		fd = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, NULL);
		if (fd < 0 || n == 8192)
			break;
		fds[n++] = fd;
	}
	EXPECT(fd == -want, "created %d mailboxes, then %s, want %s", n,
	       fd >= 0 ? "no error" : strerror(-fd), strerror(want));
	if (verbose)
		diag("created %d mailboxes before %s", n, strerror(-fd));
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return fails;
}

/* ---- 9: somebody else's region ----------------------------------------------------------- */

struct region_case {
	__u32 root_slot;	/* a slot root holds */
	size_t size;
};

static int poke_region(void *arg)
{
	struct region_case *rc = arg;
	__u32 slot = rc->root_slot;
	int fails = 0, ro, rw;
	long r;
	void *p;

	ro = kb_open(region_box, O_RDONLY, 0, 0, NULL);
	rw = kb_open(region_box, O_RDWR, 0, 0, NULL);
	EXPECT(ro >= 0, "open %s O_RDONLY: %s", region_box, ro < 0 ? strerror(-ro) : "");
	EXPECT(rw == -EACCES, "open 0644 %s O_RDWR: %s, want EACCES", region_box,
	       rw >= 0 ? "success" : strerror(-rw));
	if (ro < 0)
		return fails;
	p = mmap(NULL, rc->size, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	EXPECT(p == MAP_FAILED && errno == EACCES, "writable map through O_RDONLY: %s",
	       p == MAP_FAILED ? strerror(errno) : "success");
	p = mmap(NULL, rc->size, PROT_READ | PROT_EXEC, MAP_SHARED, ro, 0);
	EXPECT(p == MAP_FAILED && errno == EPERM, "executable map: %s, want EPERM",
	       p == MAP_FAILED ? strerror(errno) : "success");
	p = mmap(NULL, rc->size, PROT_READ, MAP_SHARED, ro, 0);
	EXPECT(p != MAP_FAILED, "read-only map: %s", strerror(errno));
	if (p != MAP_FAILED) {
		EXPECT(mprotect(p, rc->size, PROT_READ | PROT_WRITE) && errno == EACCES,
		       "mprotect(PROT_WRITE) of a read-only-file mapping: %s",
		       strerror(errno));
		munmap(p, rc->size);
	}
	{
		struct kmbox_slots s = { .slots = U64(&slot), .count = 1 };

		r = kb_ioctl(ro, KMBOX_IOC_ZC_RELEASE, &s);
		EXPECT(r == -EINVAL, "ZC_RELEASE of root's slot %u: %s, want EINVAL", slot,
		       r ? strerror(-r) : "success");
	}
	r = kb_send_slot(ro, NULL, 1, 0, KMBOX_F_ZC | KMBOX_F_NONBLOCK, slot, 0);
	EXPECT(r == -EBADF, "zero-copy send through O_RDONLY: %s, want EBADF",
	       r ? strerror(-r) : "success");
	close(ro);
	return fails;
}

static int other_user_send_slot(void *arg)
{
	struct region_case *rc = arg;
	int fails = 0, fd;
	long r;

	/* The open mailbox has no region: ZC sends are EINVAL, whatever the slot. */
	fd = kb_open(open_box, O_WRONLY, 0, 0, NULL);
	if (fd < 0)
		return 1;
	r = kb_send_slot(fd, NULL, 1, 0, KMBOX_F_ZC | KMBOX_F_NONBLOCK, rc->root_slot, 0);
	EXPECT(r == -EINVAL, "zero-copy send of slot %u on a mailbox without region: %s",
	       rc->root_slot, r ? strerror(-r) : "success");
	close(fd);
	return fails;
}

/* ---- main ----------------------------------------------------------------------------------- */

static void result(int rc, const char *what)
{
	if (rc == 77)
		ktap_skip("%s", what);
	else
		ktap_result(rc == 0, "%s", what);
}

int main(int argc, char **argv)
{
	unsigned long old_quota = 0, old_max = 0, old_umax = 0, q = QUOTA_LOW;
	struct kmbox_attr za = { .zc_slots = 4, .zc_slot_size = 4096 };
	int fd_secret, fd_open, fd_region, rc, i, want;
	bool have_umax, ok;
	struct region_case rcase;
	struct flood fl;
	struct kb_stats st;
	__u32 slot;
	long r;

	env_args("KMBOX_HOSTILE_ARGS", &argc, &argv);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else {
			fprintf(stderr, "usage: kmbox_hostile_test [--verbose]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap_plan(10);
	if (geteuid() != 0 || access(KMBOX_DEVICE, F_OK)) {
		for (i = 0; i < 10; i++)
			ktap_skip("hostile (needs root and %s)", KMBOX_DEVICE);
		return 4;
	}
	if (kb_param_get("user_quota", &old_quota) || kb_param_get("max_mailboxes", &old_max)) {
		for (i = 0; i < 10; i++)
			ktap_skip("hostile (no module parameters)");
		return 4;
	}
	have_umax = !kb_param_get("user_max_mailboxes", &old_umax);

	kb_unlink(secret);
	kb_unlink(open_box);
	kb_unlink(region_box);
	umask(0);
	fd_secret = kb_open(secret, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600, NULL);
	fd_open = kb_open(open_box, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0666, NULL);
	fd_region = kb_open(region_box, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0644, &za);
	if (fd_secret < 0 || fd_open < 0 || fd_region < 0) {
		diag("root cannot create its mailboxes");
		for (i = 0; i < 10; i++)
			ktap_result(false, "hostile setup");
		return 1;
	}

	/* 1, 2 */
	rc = as_nobody(try_secret, "nobody");
	result(rc, "hostile: nobody cannot open or unlink root's 0600 mailbox (EACCES)");
	ok = roundtrip(fd_secret, secret);
	{
		int fd = kb_open(secret, O_RDONLY, 0, 0, NULL);

		ok &= fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	ktap_result(ok, "hostile: root's mailbox is still named and working");

	/* 3 */
	rc = as_nobody(try_secret_userns, "nobody in its own user namespace");
	result(rc, "hostile: a user namespace of nobody's gives no access (EACCES)");

	/* 4 */
	rc = as_nobody(other_ns, (void *)1);
	if (rc == 77)
		rc = 0;		/* no unprivileged user namespaces: root's case below */
	{
		pid_t pid = fork();
		int st;

		if (pid == 0)
			_exit(other_ns(NULL));
		waitpid(pid, &st, 0);
		rc |= WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
	ok = roundtrip(fd_open, open_box);
	result(rc || !ok, "hostile: another IPC namespace sees none of root's names (ENOENT)");

	/* 5: nobody floods its own anonymous mailbox. */
	kb_param_set("user_quota", q);
	fl = (struct flood){ .name = NULL, .quota = q };
	rc = as_nobody(flood, &fl);
	ok = roundtrip(fd_secret, secret);
	{
		/* Root is exempt: it can queue past the quota. */
		static char big[4096];
		int n;

		for (n = 0; n < 100; n++)
			if (kb_send(fd_open, big, sizeof(big), 0, KMBOX_F_NONBLOCK, 0))
				break;
		if (n < 64)	/* default max_msgs 64 */
			diag("root could queue only %d messages of 4 KiB", n);
		ok &= n >= 64;
		while (n--) {
			struct kmbox_recv rv = { .buf = U64(big), .len = sizeof(big),
						 .flags = KMBOX_F_NONBLOCK };

			kb_ioctl(fd_open, KMBOX_IOC_RECV, &rv);
		}
	}
	result(rc || !ok ? 1 : 0,
	       "hostile: nobody's flood of its own mailbox ends in ENOBUFS at user_quota");

	/* 6: nobody floods root's world-writable mailbox: charged to nobody. */
	fl = (struct flood){ .name = open_box, .quota = q };
	{
		struct kmbox_attr a;

		/* Room for more than the quota, so the quota is what stops it. */
		close(fd_open);
		kb_unlink(open_box);
		a = (struct kmbox_attr){ .max_msgs = 4096, .max_msgsize = 4096 };
		fd_open = kb_open(open_box, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0666, &a);
	}
	rc = fd_open < 0 ? 1 : as_nobody(flood, &fl);
	ok = fd_open >= 0 && roundtrip(fd_open, open_box);
	result(rc || !ok ? 1 : 0,
	       "hostile: nobody's flood of root's 0666 mailbox is charged to nobody (ENOBUFS)");

	/* 7 */
	rc = as_nobody(pin_regions, &q);
	result(rc, "hostile: nobody cannot pin memory past its quota through regions (EMFILE)");
	kb_param_set("user_quota", old_quota);

	/* 8: per-user limit, then the global one. */
	want = have_umax ? EMFILE : ENOSPC;
	if (!have_umax)
		kb_param_set("max_mailboxes", 64);
	rc = as_nobody(make_many, &want);
	if (have_umax) {
		kb_param_set("user_max_mailboxes", 100000);
		kb_param_set("max_mailboxes", 64);
		want = ENOSPC;
		rc |= as_nobody(make_many, &want);
	}
	{
		/* Root (CAP_SYS_RESOURCE) still creates past the global limit. */
		int fds[80], n;

		ok = true;
		for (n = 0; n < 80; n++) {
			fds[n] = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, NULL);
			if (fds[n] < 0) {
				diag("root's mailbox %d past max_mailboxes=64: %s", n,
				     strerror(-fds[n]));
				ok = false;
				break;
			}
		}
		while (n--)
			close(fds[n]);
	}
	kb_param_set("max_mailboxes", old_max);
	if (have_umax)
		kb_param_set("user_max_mailboxes", old_umax);
	result(rc || !ok ? 1 : 0,
	       "hostile: nobody's mailbox creation ends in EMFILE/ENOSPC; root still creates");

	/* 9 */
	r = kmbox_zc_reserve(fd_region, &slot, 1, KMBOX_F_NONBLOCK, NULL);
	rcase.root_slot = r == 1 ? slot : 0;
	rcase.size = 4 * 4096;
	rc = as_nobody(poke_region, &rcase);
	rc |= as_nobody(other_user_send_slot, &rcase);
	{
		struct kmbox_attr a;

		ok = r == 1 && !kb_getattr(fd_region, &a) && a.zc_held == 1;
		if (!ok)
			diag("root's reserved slot: reserve %ld, zc_held %u", r, a.zc_held);
		ok &= !kb_send_slot(fd_region, NULL, 0, 0, KMBOX_F_ZC | KMBOX_F_NONBLOCK, slot, 0);
	}
	result(rc || !ok ? 1 : 0,
	       "hostile: nobody cannot touch root's slots or map its region writable/executable");

	/* 10 */
	ok = roundtrip(fd_secret, secret) && roundtrip(fd_open, open_box) &&
	     roundtrip(fd_region, region_box);
	close(fd_secret);
	close(fd_open);
	close(fd_region);
	kb_unlink(secret);
	kb_unlink(open_box);
	kb_unlink(region_box);
	if (!kb_wait_stats_zero(&st, 3000)) {
		kb_stats_diag("/proc/kmbox/stats after the test", &st);
		ok = false;
	}
	{
		unsigned long v;

		if (!kb_param_get("user_quota", &v) && v != old_quota) {
			diag("user_quota not restored");
			ok = false;
		}
	}
	ktap_result(ok, "hostile: root's mailboxes work and all counts return to zero");
	return ktap_failed ? 1 : 0;
}
