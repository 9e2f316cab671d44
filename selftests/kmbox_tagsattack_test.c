// SPDX-License-Identifier: GPL-2.0
/*
 * The attacker's tests of tags, filters, peek and the statistics: what an
 * unprivileged user in fresh user and IPC namespaces can see or reset,
 * threads racing on one file (peek against receive, resets against
 * sends), argument pages that fault half-way, SIGKILL of filtered
 * sleepers and peekers, and a tag index over ten thousand messages
 * drained in random tag order.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define ALL	(~0ULL)

static int tsend(int fd, const void *buf, __u32 len, __u32 prio, __u64 tag)
{
	struct kmbox_send s;

	memset(&s, 0, sizeof(s));
	s.buf = KT_PTR(buf);
	s.len = len;
	s.prio = prio;
	s.flags = KMBOX_F_TAG;
	s.tag = tag;
	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

/* Fill @r for a receive; KMBOX_F_MATCH in @flags makes @tag/@mask the filter. */
static void trecv_prep(struct kmbox_recv *r, void *buf, __u32 len, __u32 flags, __u64 tag,
		       __u64 mask, __u64 deadline_ns)
{
	memset(r, 0, sizeof(*r));
	r->buf = KT_PTR(buf);
	r->len = len;
	r->flags = flags | (deadline_ns ? KMBOX_F_TIMEOUT : 0);
	r->deadline_ns = deadline_ns;
	if (flags & KMBOX_F_MATCH) {
		r->tag = tag;
		r->match_mask = mask;
	}
}

static int trecv(int fd, void *buf, __u32 len, __u32 flags, __u64 tag, __u64 mask,
		 __u64 deadline_ns, struct kmbox_recv *r)
{
	struct kmbox_recv tmp, *p = r ? r : &tmp;

	trecv_prep(p, buf, len, flags, tag, mask, deadline_ns);
	return ioctl(fd, KMBOX_IOC_RECV, p) < 0 ? -1 : (int)p->len;
}

static int tfilter(int fd, __u64 tag, __u64 mask)
{
	struct kmbox_filter f = { .tag = tag, .mask = mask, .flags = KMBOX_FILTER_SET };

	return ioctl(fd, KMBOX_IOC_FILTER, &f);
}

static int tfilter_get(int fd, struct kmbox_filter *f)
{
	memset(f, 0, sizeof(*f));
	return ioctl(fd, KMBOX_IOC_FILTER, f);
}

static int tstats(int fd, struct kmbox_stats *s, __u32 flags)
{
	memset(s, 0, sizeof(*s));
	s->flags = flags;
	return ioctl(fd, KMBOX_IOC_STATS, s);
}

/* Two pages: the first read-write, the second @prot2; NULL on failure. */
static char *two_pages(int prot2)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, 8192);
	if (mprotect(p + 4096, 4096, prot2)) {
		munmap(p, 8192);
		return NULL;
	}
	return p;
}

/* A field of /proc/self/fdinfo/@fd as a number, or -1. */
static long fdinfo_long(int fd, const char *key)
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
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Is mailbox @id a line of /proc/kmbox/@file?  1, 0, or -1 if unreadable. */
static int proc_has_id(const char *file, long id)
{
	char path[64], line[2048];
	int first = 1, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/kmbox/%s", file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (first) {
			first = 0;
			continue;
		}
		if (strtol(line, NULL, 10) == id)
			found = 1;
	}
	fclose(f);
	return found;
}

/* ---- namespaces and privilege ------------------------------------------ */

/*
 * Root's named mailbox, with traffic, seen from uid 1000 in fresh user and
 * IPC namespaces: neither /proc/kmbox table lists it there, its opener's
 * fdinfo is not readable, and a read-only descriptor inherited across the
 * unshare reads the counts but cannot reset them, not even as the root
 * the new user namespace maps uid 1000 to: the owner is root of the
 * initial namespace.
 */
TEST(another_namespace_sees_no_stats_and_resets_nothing)
{
	struct kmbox_stats s0, s1;
	char name[64], path[64];
	int fd, rfd, status;
	long id;
	pid_t pid;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "tagsattack-ns");
	fd = kt_create(name, O_RDWR | O_NONBLOCK, 0644, 8, 64);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, tsend(fd, "x", 1, 0, 1));
	ASSERT_EQ(0, tsend(fd, "y", 1, 0, 2));
	rfd = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(rfd, 0);
	id = fdinfo_long(fd, "kmbox-id");
	ASSERT_GT(id, 0);
	ASSERT_EQ(1, proc_has_id("mailbox_stats", id));
	ASSERT_EQ(0, tstats(fd, &s0, 0));
	ASSERT_EQ(2, s0.msgs_in);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", getpid(), fd);

	pid = kt_fork(30);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_stats s;
		char map[64];
		int m;

		CHILD_ASSERT(kt_become(1000, 1000) == 0);
		/* our own /proc files (uid_map) back to us after the uid change */
		CHILD_ASSERT(prctl(PR_SET_DUMPABLE, 1) == 0);
		/* Before the unshare: same namespace, still a reader only. */
		CHILD_ASSERT(tstats(rfd, &s, KMBOX_STATS_RESET) == -1 && errno == EPERM);
		CHILD_ASSERT(open(path, O_RDONLY) < 0);
		if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
			_exit(errno == EPERM || errno == EINVAL ? 4 : 1);
		m = open("/proc/self/uid_map", O_WRONLY);
		CHILD_ASSERT(m >= 0);
		snprintf(map, sizeof(map), "0 1000 1\n");
		CHILD_ASSERT(write(m, map, strlen(map)) == (ssize_t)strlen(map));
		close(m);
		CHILD_ASSERT(setresuid(0, 0, 0) == 0);
		CHILD_ASSERT(proc_has_id("mailbox_stats", id) == 0);
		CHILD_ASSERT(proc_has_id("mailboxes", id) == 0);
		CHILD_ASSERT(open(path, O_RDONLY) < 0);
		/* The inherited descriptor reads, and a reset is refused. */
		CHILD_ASSERT(tstats(rfd, &s, 0) == 0 && s.msgs_in == 2);
		CHILD_ASSERT(tstats(rfd, &s, KMBOX_STATS_RESET) == -1 && errno == EPERM);
		/* Its fdinfo is ours to read, and names the mailbox. */
		CHILD_ASSERT(fdinfo_long(rfd, "kmbox-id") == id);
		_exit(0);
	}
	status = kt_wait(pid);
	if (status == 4)
		SKIP(goto out, "unprivileged user namespaces are not allowed here");
	ASSERT_EQ(0, status);
	ASSERT_EQ(0, tstats(fd, &s1, 0));
	EXPECT_EQ(s0.since_ns, s1.since_ns);
	EXPECT_EQ(2, s1.msgs_in);
out:
	close(rfd);
	close(fd);
	kt_unlink(name);
}

/* ---- arguments that fault -------------------------------------------------- */

/*
 * A filter whose argument can be read but not written back: EFAULT, and
 * the filter stays what it was (as a reset into a read-only argument
 * resets nothing), so a failed call never leaves a file filtering
 * without its caller knowing.
 */
TEST(a_filter_into_a_read_only_argument_changes_nothing)
{
	struct kmbox_filter *ro, f;
	char *p;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 8, 64);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, tfilter(fd, 1, ALL));
	p = two_pages(PROT_READ);
	ASSERT_NE(NULL, p);
	/* Read-only all through, then straddling into the read-only page. */
	ro = (struct kmbox_filter *)p;
	ro->tag = 2;
	ro->mask = ALL;
	ro->flags = KMBOX_FILTER_SET;
	ASSERT_EQ(0, mprotect(p, 4096, PROT_READ));
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_FILTER, ro));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(0, tfilter_get(fd, &f));
	EXPECT_EQ(1, f.tag);
	EXPECT_EQ(ALL, f.mask);

	ASSERT_EQ(0, mprotect(p, 4096, PROT_READ | PROT_WRITE));
	ro = (struct kmbox_filter *)(p + 4096 - 8);
	memset(ro, 0, 8);
	ro->tag = 3;	/* the rest of the struct is the read-only page's zeros */
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_FILTER, ro));
	EXPECT_EQ(EINVAL, errno);	/* tag without KMBOX_FILTER_SET */
	ASSERT_EQ(0, tfilter_get(fd, &f));
	EXPECT_EQ(1, f.tag);

	/* The filter still steers: a message of tag 2 stays queued. */
	ASSERT_EQ(0, tsend(fd, "two", 3, 0, 2));
	EXPECT_EQ(-1, trecv(fd, p, 16, 0, 0, 0, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	munmap(p, 8192);
	close(fd);
}

/*
 * A reset whose argument straddles into a read-only page: the kernel can
 * read it all and write only the first part.  EFAULT, nothing reset.
 */
TEST(a_reset_straddling_into_a_read_only_page_resets_nothing)
{
	struct kmbox_stats *sp, s;
	char *p;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 8, 64);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, tsend(fd, "abc", 3, 0, 0));
	p = two_pages(PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, p);
	sp = (struct kmbox_stats *)(p + 4096 - 64);
	memset(sp, 0, sizeof(*sp));
	sp->flags = KMBOX_STATS_RESET;
	ASSERT_EQ(0, mprotect(p + 4096, 4096, PROT_READ));
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_STATS, sp));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(0, tstats(fd, &s, 0));
	EXPECT_EQ(1, s.msgs_in);
	EXPECT_EQ(3, s.bytes_in);
	/* Straddling into nothing at all: the same. */
	ASSERT_EQ(0, mprotect(p + 4096, 4096, PROT_NONE));
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_STATS, sp));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(0, tstats(fd, &s, 0));
	EXPECT_EQ(1, s.msgs_in);
	munmap(p, 8192);
	close(fd);
}

/*
 * Receive-by-tag and peek whose argument, or buffer, straddles into a
 * read-only page: EFAULT, and the message is still the first of its tag,
 * where it was; a receive batch whose tags array has room for the first
 * tag only: EFAULT, every message back in order.
 */
TEST(selective_receives_that_fault_half_way_leave_everything_in_place)
{
	struct kmbox_mmsg e[3];
	struct kmbox_recv *rp, r;
	struct kmbox_batch b;
	char *p, buf[16];
	int fd, i;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 8, 64);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, tsend(fd, "a1", 2, 0, 1));
	ASSERT_EQ(0, tsend(fd, "b2", 2, 0, 2));
	ASSERT_EQ(0, tsend(fd, "c1", 2, 0, 1));
	p = two_pages(PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, p);

	/* The struct itself: its last 8 bytes (tag) on a read-only page. */
	rp = (struct kmbox_recv *)(p + 4096 - offsetof(struct kmbox_recv, tag));
	trecv_prep(rp, buf, sizeof(buf), KMBOX_F_MATCH, 2, ALL, 0);
	ASSERT_EQ(0, mprotect(p + 4096, 4096, PROT_READ));
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV, rp));	/* takes "b2", cannot say so */
	EXPECT_EQ(EFAULT, errno);
	/* The failed receive wrote what it could (match_mask is reply_token). */
	rp->len = sizeof(buf);
	rp->match_mask = ALL;
	rp->flags = KMBOX_F_MATCH | KMBOX_F_PEEK;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV, rp));
	EXPECT_EQ(EFAULT, errno);

	/* The buffer: 1 byte of room, then the read-only page. */
	EXPECT_EQ(-1, trecv(fd, p + 4095, 2, KMBOX_F_MATCH, 1, ALL, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, trecv(fd, p + 4095, 2, KMBOX_F_MATCH | KMBOX_F_PEEK, 2, ALL, 0, NULL));
	EXPECT_EQ(EFAULT, errno);

	/* A batch of 3 whose tags array has room for one. */
	for (i = 0; i < 3; i++)
		kmbox_mmsg_prep(&e[i], buf + 4 * i, 4, 0);
	memset(&b, 0, sizeof(b));
	b.msgs = KT_PTR(e);
	b.count = 3;
	b.flags = KMBOX_F_TAG;
	b.tags = KT_PTR(p + 4096 - 8);
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ(EFAULT, errno);

	/* All three, in order, by tag too. */
	EXPECT_EQ(3, kt_cur_msgs(fd));
	ASSERT_EQ(2, trecv(fd, buf, sizeof(buf), KMBOX_F_MATCH, 2, ALL, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "b2", 2));
	ASSERT_EQ(2, trecv(fd, buf, sizeof(buf), KMBOX_F_MATCH, 1, ALL, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "a1", 2));
	ASSERT_EQ(2, trecv(fd, buf, sizeof(buf), 0, 0, 0, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "c1", 2));
	EXPECT_EQ(1, r.tag);
	munmap(p, 8192);
	close(fd);
}

/*
 * A call's request taken by a receive batch that reports tokens and tags,
 * whose tags cannot be written: the batch fails, the request goes back
 * (its caller still waits, no EPIPE), the token it may have written is no
 * use (ENOENT), and the next receive gets the request and can answer it.
 */
struct caller {
	int fd;
	__u64 tag;
	long ret;
	char reply[16];
};

static void *call_thread(void *arg)
{
	struct caller *c = arg;
	struct kmbox_call k;

	memset(&k, 0, sizeof(k));
	k.req = KT_PTR("req");
	k.req_len = 3;
	k.reply = KT_PTR(c->reply);
	k.reply_len = sizeof(c->reply);
	k.flags = KMBOX_F_TAG | KMBOX_F_TIMEOUT;
	k.tag = c->tag;
	k.deadline_ns = kt_deadline_ms(20000);
	c->ret = ioctl(c->fd, KMBOX_IOC_CALL, &k) < 0 ? -errno : (long)k.reply_len;
	return NULL;
}

TEST(a_call_taken_by_a_batch_whose_tags_fault_goes_back_to_its_caller)
{
	struct caller c = { .tag = 9 };
	struct kmbox_reply rep;
	struct kmbox_mmsg e[2];
	struct kmbox_batch b;
	struct kmbox_recv r;
	__u64 tokens[2] = { 0, 0 };
	pthread_t th;
	char *p, buf[16];

	KT_REQUIRE_MODULE();
	alarm(60);
	c.fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_GE(c.fd, 0);
	p = two_pages(PROT_READ);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, pthread_create(&th, NULL, call_thread, &c));
	while (kt_cur_msgs(c.fd) < 1)
		kt_sleep_ms(5);

	kmbox_mmsg_prep(&e[0], buf, 8, 0);
	kmbox_mmsg_prep(&e[1], buf + 8, 8, 0);
	memset(&b, 0, sizeof(b));
	b.msgs = KT_PTR(e);
	b.count = 2;
	b.flags = KMBOX_F_CALLS | KMBOX_F_TAG | KMBOX_F_NONBLOCK;
	b.tokens = KT_PTR(tokens);
	b.tags = KT_PTR(p + 4096);	/* read-only */
	EXPECT_EQ(-1, ioctl(c.fd, KMBOX_IOC_RECV_BATCH, &b));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, kt_cur_msgs(c.fd));
	EXPECT_EQ(0, fdinfo_long(c.fd, "kmbox-calls-pending"));
	if (tokens[0]) {
		memset(&rep, 0, sizeof(rep));
		rep.token = tokens[0];
		rep.buf = KT_PTR("no");
		rep.len = 2;
		EXPECT_EQ(-1, ioctl(c.fd, KMBOX_IOC_REPLY, &rep));
		EXPECT_EQ(ENOENT, errno);
	}
	/* Not EPIPE: the caller still waits. */
	kt_sleep_ms(50);
	EXPECT_EQ(0, c.ret);

	ASSERT_EQ(3, trecv(c.fd, buf, sizeof(buf), KMBOX_F_CALLS | KMBOX_F_MATCH, 9, ALL, 0, &r));
	EXPECT_EQ(9, r.tag);
	ASSERT_NE(0, r.reply_token);
	if (tokens[0])
		EXPECT_EQ(tokens[0], r.reply_token);
	memset(&rep, 0, sizeof(rep));
	rep.token = r.reply_token;
	rep.buf = KT_PTR("yes");
	rep.len = 3;
	EXPECT_EQ(0, ioctl(c.fd, KMBOX_IOC_REPLY, &rep));
	pthread_join(th, NULL);
	EXPECT_EQ(3, c.ret);
	EXPECT_EQ(0, memcmp(c.reply, "yes", 3));
	munmap(p, 8192);
	close(c.fd);
}

/* ---- threads sharing one file --------------------------------------------------- */

#define RACE_N		4000

/* The payload of message @i: its number and its tag, so a peek can check it. */
struct rmsg {
	__u32 i;
	__u32 tag;
	__u64 check;
};

static __u64 rcheck(__u32 i, __u32 tag)
{
	return (__u64)i * 0x9e3779b97f4a7c15ULL ^ tag;
}

struct race {
	int fd;
	volatile int stop;
	long bad_peeks, peeks;
	long got, out_of_order;
	__u64 resets_in, resets_out, bytes_in;
	long reset_errs;
};

static void *peeker(void *arg)
{
	struct race *x = arg;
	struct kmbox_recv r;
	struct rmsg m;

	while (!x->stop) {
		int n = trecv(x->fd, &m, sizeof(m), KMBOX_F_PEEK | KMBOX_F_NONBLOCK, 0, 0, 0, &r);

		if (n < 0) {
			if (errno != EAGAIN)
				x->bad_peeks++;
			continue;
		}
		x->peeks++;
		if (n != sizeof(m) || m.tag != r.tag || m.check != rcheck(m.i, m.tag) ||
		    m.i >= RACE_N)
			x->bad_peeks++;
	}
	return NULL;
}

static void *receiver(void *arg)
{
	struct race *x = arg;
	struct kmbox_recv r;
	struct rmsg m;
	__u32 next = 0;

	while (x->got < RACE_N) {
		int n = trecv(x->fd, &m, sizeof(m), 0, 0, 0, kt_deadline_ms(20000), &r);

		if (n != sizeof(m))
			break;
		if (m.i != next || m.tag != r.tag || m.check != rcheck(m.i, m.tag))
			x->out_of_order++;
		next = m.i + 1;
		x->got++;
	}
	return NULL;
}

/*
 * One thread sends 4000 tagged messages, another receives them, a third
 * peeks all along: each peek is a whole message that was sent (never one
 * being freed under it), and the receiver gets every message once, in
 * order, whatever the peeks did.
 */
TEST(peek_racing_receive_sees_whole_messages_and_takes_none)
{
	struct race x = { 0 };
	pthread_t pt, rt;
	struct rmsg m;
	__u32 i;

	KT_REQUIRE_MODULE();
	alarm(120);
	x.fd = kt_anon(O_RDWR, 16, sizeof(struct rmsg));
	ASSERT_GE(x.fd, 0);
	ASSERT_EQ(0, pthread_create(&pt, NULL, peeker, &x));
	ASSERT_EQ(0, pthread_create(&rt, NULL, receiver, &x));
	for (i = 0; i < RACE_N; i++) {
		m.i = i;
		m.tag = i % 5;
		m.check = rcheck(i, m.tag);
		ASSERT_EQ(0, tsend(x.fd, &m, sizeof(m), 0, m.tag));
	}
	pthread_join(rt, NULL);
	x.stop = 1;
	pthread_join(pt, NULL);
	EXPECT_EQ(RACE_N, x.got);
	EXPECT_EQ(0, x.out_of_order);
	EXPECT_EQ(0, x.bad_peeks);
	EXPECT_EQ(0, kt_cur_msgs(x.fd));
	TH_LOG("%ld peeks", x.peeks);
	close(x.fd);
}

static void *resetter(void *arg)
{
	struct race *x = arg;
	struct kmbox_stats s;

	while (!x->stop) {
		if (tstats(x->fd, &s, KMBOX_STATS_RESET)) {
			x->reset_errs++;
			continue;
		}
		x->resets_in += s.msgs_in;
		x->resets_out += s.msgs_out;
		x->bytes_in += s.bytes_in;
		sched_yield();
	}
	return NULL;
}

/*
 * Sends and receives of 4000 messages while another thread resets the
 * counts as fast as it can: the snapshots the resets return add up to
 * exactly 4000 in and 4000 out, and the bytes to what was sent: no
 * message escapes both snapshots, none is counted in two.
 */
TEST(stats_resets_racing_traffic_count_every_message_once)
{
	struct race x = { 0 };
	struct kmbox_stats s;
	pthread_t zt, rt;
	struct rmsg m;
	__u32 i;

	KT_REQUIRE_MODULE();
	alarm(120);
	x.fd = kt_anon(O_RDWR, 16, sizeof(struct rmsg));
	ASSERT_GE(x.fd, 0);
	ASSERT_EQ(0, pthread_create(&zt, NULL, resetter, &x));
	ASSERT_EQ(0, pthread_create(&rt, NULL, receiver, &x));
	for (i = 0; i < RACE_N; i++) {
		m.i = i;
		m.tag = i % 3;
		m.check = rcheck(i, m.tag);
		ASSERT_EQ(0, tsend(x.fd, &m, sizeof(m), 0, m.tag));
	}
	pthread_join(rt, NULL);
	x.stop = 1;
	pthread_join(zt, NULL);
	ASSERT_EQ(0, tstats(x.fd, &s, KMBOX_STATS_RESET));
	x.resets_in += s.msgs_in;
	x.resets_out += s.msgs_out;
	x.bytes_in += s.bytes_in;
	EXPECT_EQ(RACE_N, x.got);
	EXPECT_EQ(0, x.reset_errs);
	EXPECT_EQ(RACE_N, x.resets_in);
	EXPECT_EQ(RACE_N, x.resets_out);
	EXPECT_EQ((__u64)RACE_N * sizeof(m), x.bytes_in);
	close(x.fd);
}

/* ---- SIGKILL --------------------------------------------------------------- */

/*
 * Children asleep in a filtered receive (the file's filter, and
 * KMBOX_F_MATCH) and in blocking peeks, with messages none of them wants
 * queued, are killed: the mailbox keeps its messages and counts no
 * sleeper, and once it is closed /proc/kmbox/stats is back where it was.
 */
TEST(sigkill_of_filtered_sleepers_and_peekers_leaks_nothing)
{
	struct kt_stats before, after;
	struct kmbox_attr a;
	pid_t pid[6];
	int fd, i;

	KT_REQUIRE_MODULE();
	alarm(60);
	ASSERT_EQ(0, kt_read_stats(&before));
	fd = kt_anon(O_RDWR, 8, 512);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, tsend(fd, "unwanted", 8, 0, 100));
	ASSERT_EQ(0, tsend(fd, "unwanted", 8, 1, 101));
	for (i = 0; i < 6; i++) {
		pid[i] = kt_fork(30);
		ASSERT_GE(pid[i], 0);
		if (pid[i] == 0) {
			char buf[512];
			struct kmbox_reopen ro = { .flags = O_RDONLY };
			int mine = ioctl(fd, KMBOX_IOC_REOPEN, &ro);

			CHILD_ASSERT(mine >= 0);
			switch (i % 3) {
			case 0:		/* the file's filter */
				CHILD_ASSERT(tfilter(mine, 5, ALL) == 0);
				trecv(mine, buf, sizeof(buf), 0, 0, 0, 0, NULL);
				break;
			case 1:		/* by mask, on the shared file */
				trecv(fd, buf, sizeof(buf), KMBOX_F_MATCH, 0x500, 0xff00, 0, NULL);
				break;
			default:	/* a peek with a big buffer */
				trecv(fd, buf, sizeof(buf), KMBOX_F_PEEK | KMBOX_F_MATCH, 7, ALL, 0,
				      NULL);
				break;
			}
			_exit(3);	/* woken: nothing was sent for us */
		}
	}
	/* All six asleep (GETATTR counts filtered sleepers), then killed. */
	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, kt_getattr(fd, &a));
		if (a.rd_waiters == 6)
			break;
		kt_sleep_ms(20);
	}
	EXPECT_EQ(6, a.rd_waiters);
	for (i = 0; i < 6; i++)
		kill(pid[i], SIGKILL);
	for (i = 0; i < 6; i++)
		EXPECT_EQ(128 + SIGKILL, kt_wait(pid[i]));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.rd_waiters);
	EXPECT_EQ(2, a.cur_msgs);
	close(fd);
	ASSERT_EQ(0, kt_read_stats(&after));
	EXPECT_EQ(before.mailboxes, after.mailboxes);
	EXPECT_EQ(before.messages, after.messages);
	EXPECT_EQ(before.bytes, after.bytes);
	EXPECT_EQ(before.users, after.users);
}

/* ---- the tag index ------------------------------------------------------------- */

#define IDX_N		10000
#define IDX_TAGS	97

/*
 * 10 000 messages of 97 tags and 4 priorities queued before anyone asks
 * for a tag; then the first receive by exact tag builds the index, and
 * receives by tags drawn at random drain the mailbox: each returns the
 * first message of its tag (priority, then arrival), every message comes
 * exactly once, and a drained tag is EAGAIN.
 */
TEST(a_tag_index_over_ten_thousand_messages_drains_exactly_once)
{
	static __u32 order[IDX_TAGS][IDX_N];	/* per tag: message numbers in queue order */
	static unsigned int head[IDX_TAGS], len[IDX_TAGS];
	static unsigned char seen[IDX_N];
	unsigned int t, p, left = IDX_N, mismatches = 0, dup = 0;
	uint64_t x = 0x2545F4914F6CDD1DULL;
	struct kmbox_recv r;
	__u32 i, m;
	int fd;

	KT_REQUIRE_MODULE();
	alarm(300);
	fd = kt_anon(O_RDWR | O_NONBLOCK, IDX_N, sizeof(__u32));
	if (fd < 0 && errno == EINVAL)
		SKIP(return, "max_msgs_cap is below %d", IDX_N);
	ASSERT_GE(fd, 0);
	/* Send: tag and priority random; remember each tag's queue order. */
	for (i = 0; i < IDX_N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t = x % IDX_TAGS;
		p = (x >> 20) % 4;
		m = i | p << 28;
		ASSERT_EQ(0, tsend(fd, &m, sizeof(m), p, t)) TH_LOG("message %u: %s", i,
								      strerror(errno));
		order[t][len[t]++] = m;
	}
	/* Within a tag: priority descending, then arrival (a stable sort). */
	{
		static __u32 tmp[IDX_N];

		for (t = 0; t < IDX_TAGS; t++) {
			unsigned int n = 0, k;

			for (p = 4; p-- > 0;)
				for (k = 0; k < len[t]; k++)
					if (order[t][k] >> 28 == p)
						tmp[n++] = order[t][k];
			memcpy(order[t], tmp, n * sizeof(tmp[0]));
		}
	}
	while (left) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t = x % IDX_TAGS;
		if (head[t] == len[t]) {
			EXPECT_EQ(-1, trecv(fd, &m, sizeof(m), KMBOX_F_MATCH, t, ALL, 0, &r));
			EXPECT_EQ(EAGAIN, errno);
			continue;
		}
		ASSERT_EQ((int)sizeof(m), trecv(fd, &m, sizeof(m), KMBOX_F_MATCH, t, ALL, 0, &r));
		if (m != order[t][head[t]] || r.tag != t || r.prio != m >> 28)
			mismatches++;
		if (seen[m & 0xfffffff]++)
			dup++;
		head[t]++;
		left--;
	}
	EXPECT_EQ(0, mismatches);
	EXPECT_EQ(0, dup);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	close(fd);
}

/* ---- every request once ------------------------------------------------------ */

#define STORM_TOKENS	(1u << 20)
#define STORM_CALLERS	4
#define STORM_SERVERS	3

struct storm {
	int fd;
	volatile int stop;
	unsigned char seen[STORM_TOKENS];	/* per token: times a receive reported it */
	long dup, calls, replies, received, huge;
	__u64 dup_token;
	pthread_t callers[STORM_CALLERS], servers[STORM_SERVERS];
};

static void storm_nop(int sig)
{
	(void)sig;
}

static uint64_t storm_rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *storm_caller(void *arg)
{
	struct storm *st = arg;
	uint64_t x = 0x1234567ULL ^ (uintptr_t)&x;
	char reply[16];

	while (!st->stop) {
		struct kmbox_call k;
		unsigned int r = storm_rnd(&x) % 100;

		memset(&k, 0, sizeof(k));
		k.req = KT_PTR("request");
		k.req_len = 7;
		k.prio = storm_rnd(&x) % 3;
		k.reply = KT_PTR(reply);
		k.reply_len = sizeof(reply);
		if (r < 50) {
			k.flags |= KMBOX_F_TAG;
			k.tag = storm_rnd(&x) % 4;
		}
		if (r % 5 == 0) {
			k.flags |= KMBOX_F_NONBLOCK;
		} else {
			k.flags |= KMBOX_F_TIMEOUT;
			k.deadline_ns = kt_now_ns() + 100000 + storm_rnd(&x) % 3000000;
		}
		__atomic_add_fetch(&st->calls, 1, __ATOMIC_RELAXED);
		ioctl(st->fd, KMBOX_IOC_CALL, &k);
	}
	return NULL;
}

static void storm_got(struct storm *st, __u64 token)
{
	if (!token)
		return;
	__atomic_add_fetch(&st->received, 1, __ATOMIC_RELAXED);
	if (token >= STORM_TOKENS) {
		__atomic_add_fetch(&st->huge, 1, __ATOMIC_RELAXED);
		return;
	}
	if (__atomic_fetch_add(&st->seen[token], 1, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&st->dup, 1, __ATOMIC_RELAXED);
		st->dup_token = token;
	}
}

static void storm_answer(struct storm *st, __u64 token, uint64_t *x)
{
	struct kmbox_reply rp;

	if (!token || storm_rnd(x) % 100 < 30)
		return;
	memset(&rp, 0, sizeof(rp));
	rp.token = token;
	rp.buf = KT_PTR("ok");
	rp.len = 2;
	if (!ioctl(st->fd, KMBOX_IOC_REPLY, &rp))
		__atomic_add_fetch(&st->replies, 1, __ATOMIC_RELAXED);
}

static void *storm_server(void *arg)
{
	struct storm *st = arg;
	uint64_t x = 0x9876543ULL ^ (uintptr_t)&x;
	char buf[8][64];

	while (!st->stop) {
		unsigned int r = storm_rnd(&x) % 100, i;
		struct kmbox_recv rv;

		if (r < 45) {
			struct kmbox_mmsg e[8];
			struct kmbox_batch b;
			__u64 tokens[8], tags[8];
			unsigned int n = 1 + storm_rnd(&x) % 8;
			int got;

			for (i = 0; i < n; i++)
				kmbox_mmsg_prep(&e[i], buf[i], sizeof(buf[i]), 0);
			memset(&b, 0, sizeof(b));
			memset(tokens, 0, sizeof(tokens));
			b.msgs = KT_PTR(e);
			b.count = n;
			b.flags = KMBOX_F_CALLS;
			b.tokens = KT_PTR(tokens);
			if (r % 2) {
				b.flags |= KMBOX_F_TAG;
				b.tags = KT_PTR(tags);
			}
			if (r % 3 == 0) {
				b.flags |= KMBOX_F_NONBLOCK;
			} else {
				b.flags |= KMBOX_F_TIMEOUT;
				b.deadline_ns = kt_now_ns() + 200000 + storm_rnd(&x) % 3000000;
			}
			got = ioctl(st->fd, KMBOX_IOC_RECV_BATCH, &b);
			for (i = 0; got > 0 && i < (unsigned int)got; i++) {
				storm_got(st, tokens[i]);
				storm_answer(st, tokens[i], &x);
			}
			continue;
		}
		if (r < 80) {
			__u32 fl = KMBOX_F_CALLS;

			if (r % 2)
				fl |= KMBOX_F_MATCH;
			if (r % 3 == 0)
				fl |= KMBOX_F_NONBLOCK;
			if (trecv(st->fd, buf[0], sizeof(buf[0]), fl, storm_rnd(&x) % 4,
				  r % 4 ? ALL : 3, fl & KMBOX_F_NONBLOCK ? 0 :
				  kt_now_ns() + 200000 + storm_rnd(&x) % 3000000, &rv) >= 0) {
				storm_got(st, rv.reply_token);
				storm_answer(st, rv.reply_token, &x);
			}
			continue;
		}
		/* a peek, by tag or not: never a token, never takes it */
		trecv(st->fd, buf[0], sizeof(buf[0]),
		      KMBOX_F_PEEK | (r % 2 ? KMBOX_F_MATCH : 0) | KMBOX_F_NONBLOCK,
		      storm_rnd(&x) % 4, ALL, 0, &rv);
	}
	return NULL;
}

/*
 * Callers (tagged or not, blocking, with short deadlines, non-blocking)
 * against servers that share one file and receive requests in batches
 * (with and without KMBOX_F_TAG, blocking and not), one at a time, by tag
 * or by mask, and peek, while signals interrupt everyone: no receive ever
 * reports a reply token another receive reported.
 */
TEST(every_request_is_delivered_once_under_tags_batches_and_signals)
{
	static struct storm st;
	int i, rounds;

	KT_REQUIRE_MODULE();
	alarm(120);
	memset(&st, 0, sizeof(st));
	ASSERT_EQ(0, kt_sigaction(SIGUSR1, storm_nop, 0));
	st.fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_GE(st.fd, 0);
	for (i = 0; i < STORM_CALLERS; i++)
		ASSERT_EQ(0, pthread_create(&st.callers[i], NULL, storm_caller, &st));
	for (i = 0; i < STORM_SERVERS; i++)
		ASSERT_EQ(0, pthread_create(&st.servers[i], NULL, storm_server, &st));
	for (rounds = 0; rounds < 3000 && !st.dup; rounds++) {
		if (rounds % 2)
			pthread_kill(st.callers[rounds % STORM_CALLERS], SIGUSR1);
		else
			pthread_kill(st.servers[rounds % STORM_SERVERS], SIGUSR1);
		usleep(2000);
	}
	st.stop = 1;
	for (i = 0; i < STORM_SERVERS; i++)
		pthread_kill(st.servers[i], SIGUSR1);
	for (i = 0; i < STORM_CALLERS; i++)
		pthread_kill(st.callers[i], SIGUSR1);
	for (i = 0; i < STORM_SERVERS; i++)
		pthread_join(st.servers[i], NULL);
	for (i = 0; i < STORM_CALLERS; i++)
		pthread_join(st.callers[i], NULL);
	TH_LOG("%ld calls, %ld requests received, %ld answered", st.calls, st.received,
	       st.replies);
	EXPECT_EQ(0, st.dup) TH_LOG("token %llu reported twice", (unsigned long long)st.dup_token);
	EXPECT_EQ(0, st.huge);
	EXPECT_GT(st.received, 0);
	close(st.fd);
}

TEST_HARNESS_MAIN
