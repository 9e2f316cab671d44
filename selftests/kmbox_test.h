/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kmbox selftests: raw-ioctl wrappers (so that the
 * tests check the kernel ABI, not the library), unique names, /proc and
 * module-parameter readers, and child-process plumbing.
 *
 * Include after kselftest_harness.h.  Helpers return -1 with errno set on
 * failure, like the syscalls they wrap.
 */
#ifndef KMBOX_TEST_H
#define KMBOX_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kmbox.h"	/* the library header: the uapi, KMBOX_DEVICE */

#define KT_PARAM_DIR	"/sys/module/kmbox/parameters/"
#define KT_NOBODY	65534

#define KT_PTR(p)	((__u64)(uintptr_t)(p))

/*
 * Skip the test (from a TEST/TEST_F/FIXTURE_SETUP body) without the module.
 * The 6.1 harness runs a TEST_F body even after its FIXTURE_SETUP called
 * SKIP(return, ...), so end the test process here: exit code 255 is what
 * the harness reports as a skip (with the reason SKIP recorded).
 */
#define KT_REQUIRE_MODULE() do {					\
	if (access(KMBOX_DEVICE, F_OK))					\
		SKIP(_exit(255), "kmbox module not loaded (%s: %s)",	\
		     KMBOX_DEVICE, strerror(errno));			\
} while (0)

/*
 * Checks inside forked children: the harness's ASSERT_* would longjmp
 * into the parent's test frame, so a child prints and exits instead.
 */
#define CHILD_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "# %s:%d: child %d: check failed: %s "	\
			"(errno %d: %s)\n", __FILE__, __LINE__,		\
			getpid(), #cond, errno, strerror(errno));	\
		_exit(1);						\
	}								\
} while (0)

static inline uint64_t kt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline uint64_t kt_deadline_ms(unsigned int ms)
{
	return kt_now_ns() + (uint64_t)ms * 1000000ULL;
}

static inline void kt_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* "kt-<pid>-<tag>": unique per test, as each test runs in its own process. */
static inline const char *kt_name(char *buf, size_t size, const char *tag)
{
	snprintf(buf, size, "kt-%d-%s", (int)getpid(), tag);
	return buf;
}

static inline int kt_dev(int oflags)
{
	return open(KMBOX_DEVICE, oflags | O_CLOEXEC);
}

static inline void kt_attr_init(struct kmbox_attr *a, __u32 max_msgs,
				__u32 max_msgsize)
{
	memset(a, 0, sizeof(*a));
	a->max_msgs = max_msgs;
	a->max_msgsize = max_msgsize;
}

static inline int kt_bind(int fd, const char *name, __u32 flags, __u32 mode,
			  const struct kmbox_attr *attr)
{
	struct kmbox_open op = {
		.name = KT_PTR(name),
		.attr = KT_PTR(attr),
		.flags = flags,
		.mode = mode,
	};

	return ioctl(fd, KMBOX_IOC_OPEN, &op);
}

/* Close @fd keeping errno: for error paths that return -1. */
static inline void kt_close_keep_errno(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
}

/*
 * Open /dev/kmbox with @oflags and bind it to @name with @kflags
 * (KMBOX_OPEN_*), @mode and, if @max_msgs or @max_msgsize is non-zero,
 * those limits.  Returns the fd, or -1 with errno from open or OPEN.
 */
static inline int kt_open(const char *name, int oflags, __u32 kflags,
			  __u32 mode, __u32 max_msgs, __u32 max_msgsize)
{
	struct kmbox_attr a;
	int fd;

	fd = kt_dev(oflags);
	if (fd < 0)
		return -1;
	kt_attr_init(&a, max_msgs, max_msgsize);
	if (kt_bind(fd, name, kflags, mode,
		    (max_msgs || max_msgsize) ? &a : NULL)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static inline int kt_create(const char *name, int oflags, __u32 mode,
			    __u32 max_msgs, __u32 max_msgsize)
{
	return kt_open(name, oflags, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, mode,
		       max_msgs, max_msgsize);
}

static inline int kt_anon(int oflags, __u32 max_msgs, __u32 max_msgsize)
{
	return kt_open(NULL, oflags, KMBOX_OPEN_ANON, 0, max_msgs,
		       max_msgsize);
}

/* An anonymous mailbox with @a and quality of service @q: a file, or -1. */
static inline int kt_anon_qos(int oflags, const struct kmbox_attr *a,
			      const struct kmbox_qos *q)
{
	struct kmbox_open op = {
		.attr = KT_PTR(a), .flags = KMBOX_OPEN_ANON, .qos = KT_PTR(q),
	};
	int fd = kt_dev(oflags);

	if (fd < 0)
		return -1;
	if (ioctl(fd, KMBOX_IOC_OPEN, &op)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static inline int kt_unlink(const char *name)
{
	struct kmbox_unlink ul = { .name = KT_PTR(name) };
	int fd, ret;

	fd = kt_dev(O_RDONLY);
	if (fd < 0)
		return -1;
	ret = ioctl(fd, KMBOX_IOC_UNLINK, &ul);
	if (ret)
		kt_close_keep_errno(fd);
	else
		close(fd);
	return ret;
}

static inline int kt_send(int fd, const void *buf, __u32 len, __u32 prio,
			  __u32 flags, __u64 deadline_ns)
{
	struct kmbox_send s = {
		.buf = KT_PTR(buf),
		.len = len,
		.prio = prio,
		.flags = flags,
		.deadline_ns = deadline_ns,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

/*
 * Receive into @buf; returns the message length or -1.  @r (may be NULL)
 * gets the whole reply, including len on EMSGSIZE.
 */
static inline int kt_recv(int fd, void *buf, __u32 len, __u32 flags,
			  __u64 deadline_ns, struct kmbox_recv *r)
{
	struct kmbox_recv tmp, *p = r ? r : &tmp;
	int ret;

	memset(p, 0, sizeof(*p));
	p->buf = KT_PTR(buf);
	p->len = len;
	p->flags = flags;
	p->deadline_ns = deadline_ns;
	ret = ioctl(fd, KMBOX_IOC_RECV, p);
	if (ret < 0)
		return -1;
	return p->len;
}

/* KMBOX_IOC_CALL; the struct as the kernel left it in *@out, if not NULL. */
static inline int kt_call(int fd, const void *req, __u32 len, void *reply, __u32 cap,
			  __u32 flags, __u64 deadline, struct kmbox_call *out)
{
	struct kmbox_call c = {
		.req = KT_PTR(req), .req_len = len, .reply = KT_PTR(reply), .reply_len = cap,
		.flags = flags, .deadline_ns = deadline,
	};
	int ret = ioctl(fd, KMBOX_IOC_CALL, &c);

	if (out)
		*out = c;
	return ret;
}

static inline int kt_reply(int fd, __u64 token, const void *buf, __u32 len)
{
	struct kmbox_reply r = { .token = token, .buf = KT_PTR(buf), .len = len };

	return ioctl(fd, KMBOX_IOC_REPLY, &r);
}

/* Receive a call's request: returns its length, the token in *@token. */
static inline int kt_take(int fd, void *buf, __u32 len, __u32 flags, __u64 *token)
{
	struct kmbox_recv r;
	int ret = kt_recv(fd, buf, len, KMBOX_F_CALLS | flags, 0, &r);

	if (ret >= 0)
		*token = r.reply_token;
	return ret;
}

static inline int kt_getattr(int fd, struct kmbox_attr *a)
{
	memset(a, 0xa5, sizeof(*a));	/* the kernel must fill every field */
	return ioctl(fd, KMBOX_IOC_GETATTR, a);
}

/* cur_msgs of @fd's mailbox, or -1. */
static inline long kt_cur_msgs(int fd)
{
	struct kmbox_attr a;

	if (kt_getattr(fd, &a))
		return -1;
	return a.cur_msgs;
}

static inline int kt_info(int fd, struct kmbox_info *info)
{
	memset(info, 0xa5, sizeof(*info));
	return ioctl(fd, KMBOX_IOC_INFO, info);
}

/*
 * Wait until the mailbox has at least @rd sleeping receivers and @wr
 * sleeping senders (rd_waiters/wr_waiters), polling for up to @ms.
 * This is how a test knows that another process really is blocked.
 */
static inline int kt_wait_waiters(int fd, __u32 rd, __u32 wr, unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);
	struct kmbox_attr a;

	do {
		if (kt_getattr(fd, &a))
			return -1;
		if (a.rd_waiters >= rd && a.wr_waiters >= wr)
			return 0;
		kt_sleep_ms(2);
	} while (kt_now_ns() < end);
	errno = ETIMEDOUT;
	return -1;
}

/* Fill @buf with a pattern derived from @seed. */
static inline void kt_fill(void *buf, size_t len, uint32_t seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static inline int kt_check_fill(const void *buf, size_t len, uint32_t seed)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 8)))
			return 0;
	return 1;
}

/* ---- /proc/kmbox ------------------------------------------------------ */

struct kt_stats {
	long mailboxes, messages, bytes, zc_slots_held, region_pages, users;
	int seen;	/* bitmask of the lines found */
};

#define KT_STATS_ALL	0x3f

static inline int kt_read_stats(struct kt_stats *s)
{
	static const char *const keys[] = {
		"mailboxes", "messages", "bytes", "zc_slots_held",
		"region_pages", "users",
	};
	long *vals[] = {
		&s->mailboxes, &s->messages, &s->bytes, &s->zc_slots_held,
		&s->region_pages, &s->users,
	};
	char key[64];
	long val;
	FILE *f;
	int i;

	memset(s, 0, sizeof(*s));
	f = fopen("/proc/kmbox/stats", "re");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &val) == 2) {
		for (i = 0; i < 6; i++) {
			if (!strcmp(key, keys[i])) {
				*vals[i] = val;
				s->seen |= 1 << i;
			}
		}
	}
	fclose(f);
	return 0;
}

/* A "KEY: N" line of /proc/self/fdinfo/@fd (e.g. "kmbox-pool-buffers"), or -1. */
static inline long kt_fdinfo_long(int fd, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':' &&
		    sscanf(line + klen + 1, "%ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* One key of /proc/kmbox/stats (the last line of that name), or -1. */
static inline long kt_stat_long(const char *key)
{
	char k[64];
	long v, ret = -1;
	FILE *f = fopen("/proc/kmbox/stats", "re");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", k, &v) == 2)
		if (!strcmp(k, key))
			ret = v;
	fclose(f);
	return ret;
}

/* One line of /proc/kmbox/mailboxes. */
struct kt_mbline {
	unsigned long id;
	char name[KMBOX_NAME_MAX + 1];
	unsigned int uid, gid, mode;
	unsigned long max_msgs, max_msgsize, msgs, bytes;
	unsigned long rd_waiters, wr_waiters;
	unsigned long zc_slots, zc_slot_size, zc_free;
	char flags[16];
	/* Columns after flags: messages in flight, slots per state. */
	unsigned long inflight, zc_reserved, zc_queued, zc_taken, zc_held;
};

static inline int kt_parse_mbline(const char *line, struct kt_mbline *m)
{
	memset(m, 0, sizeof(*m));
	return sscanf(line,
		      "%lu %255s %u %u %o %lu %lu %lu %lu %lu %lu %lu %lu %lu %15s"
		      " %lu %lu %lu %lu %lu",
		      &m->id, m->name, &m->uid, &m->gid, &m->mode,
		      &m->max_msgs, &m->max_msgsize, &m->msgs, &m->bytes,
		      &m->rd_waiters, &m->wr_waiters, &m->zc_slots,
		      &m->zc_slot_size, &m->zc_free, m->flags, &m->inflight,
		      &m->zc_reserved, &m->zc_queued, &m->zc_taken,
		      &m->zc_held) == 20 ? 0 : -1;
}

/*
 * Find the line of /proc/kmbox/mailboxes whose name is @name; for "-"
 * (anonymous) also match @max_msgs and @max_msgsize.  Returns 1 if found,
 * 0 if not, -1 if the file cannot be read.  @nlines (may be NULL) gets the
 * number of mailbox lines (header excluded).
 */
static inline int kt_find_mailbox(const char *name, unsigned long max_msgs,
				  unsigned long max_msgsize,
				  struct kt_mbline *out, int *nlines)
{
	char line[1024];
	struct kt_mbline m;
	int found = 0, n = 0, first = 1;
	FILE *f;

	f = fopen("/proc/kmbox/mailboxes", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (first) {	/* header */
			first = 0;
			continue;
		}
		n++;
		if (kt_parse_mbline(line, &m))
			continue;
		if (strcmp(m.name, name))
			continue;
		if (!strcmp(name, "-") && (m.max_msgs != max_msgs ||
					   m.max_msgsize != max_msgsize))
			continue;
		if (!found && out)
			*out = m;
		found = 1;
	}
	fclose(f);
	if (nlines)
		*nlines = n;
	return found;
}

/* ---- module parameters ----------------------------------------------- */

static inline int kt_param_get(const char *param, unsigned long long *val)
{
	char path[256];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), KT_PARAM_DIR "%s", param);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ret = fscanf(f, "%llu", val) == 1 ? 0 : -1;
	fclose(f);
	if (ret)
		errno = EINVAL;
	return ret;
}

static inline int kt_param_set(const char *param, unsigned long long val)
{
	char path[256], buf[32];
	int fd, len, ret;

	snprintf(path, sizeof(path), KT_PARAM_DIR "%s", param);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "%llu\n", val);
	ret = write(fd, buf, len) == len ? 0 : -1;
	kt_close_keep_errno(fd);
	return ret;
}

/* ---- processes ---------------------------------------------------------- */

/*
 * fork() for test helpers: the child dies with its parent and after
 * @secs seconds at most, so a kernel bug cannot leave it behind.
 */
static inline pid_t kt_fork(unsigned int secs)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		alarm(secs);
	}
	return pid;
}

/*
 * Wait for @pid; returns its exit code, 128 + signal if killed, or -1.
 * Bounded by the caller's alarm / the harness timeout.
 */
static inline int kt_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* Become @uid/@gid with no supplementary groups and no capabilities. */
static inline int kt_become(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return -1;
	/* credential changes clear the parent-death signal */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return 0;
}

static inline int kt_sigaction(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

#endif /* KMBOX_TEST_H */
