// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks on the message pool that grows with the queue (module/kmbox.h,
 * "Message pool"): max_msgs + 8 buffers, the surplus over 256 given back
 * by a shrinker (drop_caches runs it) and by an idle trim.
 *
 *  - a user namespace that exits: an unprivileged user in fresh user and
 *    IPC namespaces fills a named and an anonymous mailbox deep, hands the
 *    anonymous one out over a socket and exits; its namespace dies with
 *    the named one; the shrinker then works on the pool of a mailbox whose
 *    namespace and creator's namespace are gone, and the last close frees
 *    everything: the users, namespaces and pools come back to what they
 *    were, and every message comes out once, in order;
 *  - a memory cgroup at its limit: a sender in a cgroup grows the pool of
 *    someone else's mailbox; the buffers are charged to its cgroup
 *    (__GFP_ACCOUNT), so it cannot queue more than its limit covers, it
 *    gets an error (never the OOM killer), and the charge goes when the
 *    mailbox does;
 *  - threads sharing one file: two batch senders and a RECV_BATCHX
 *    receiver on a deep mailbox while the shrinker runs in a loop and
 *    fdinfo and /proc are read: every message once, in order per sender,
 *    no loss reported, the pool never over max_msgs + 8.
 *
 * Tests that need what the kernel may not have (user namespaces, the
 * memory controller, kmbox-pool-buffers in fdinfo) skip, saying why.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define KEEP		256	/* KMBOX_POOL_KEEP */
#define EXTRA		8	/* KMBOX_POOL_EXTRA */
#define POOL		"kmbox-pool-buffers"
#define MSG		64
#define NS_UID		1000

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	kt_close_keep_errno(fd);
	return ret;
}

/* Run the shrinkers (slab): 0, or -1. */
static int drop_caches(void)
{
	return write_file("/proc/sys/vm/drop_caches", "2");
}

/* Send @n messages numbered from @seed; how many went. */
static int fill(int fd, int n, uint32_t seed)
{
	char buf[MSG];
	int i;

	for (i = 0; i < n; i++) {
		kt_fill(buf, sizeof(buf), seed + i);
		if (kt_send(fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0))
			break;
	}
	return i;
}

/* Receive @n messages and check they are @seed.. in order; how many were right. */
static int drain(int fd, int n, uint32_t seed)
{
	char buf[MSG];
	int i;

	for (i = 0; i < n; i++)
		if (kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL) != MSG ||
		    !kt_check_fill(buf, sizeof(buf), seed + i))
			break;
	return i;
}

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

/* The pool is observable here, or the test skips. */
#define REQUIRE_POOL_INFO() do {						\
	int fd_ = kt_anon(O_RDWR, 4, MSG);					\
	long p_ = fd_ >= 0 ? kt_fdinfo_long(fd_, POOL) : -1;					\
									\
	if (fd_ >= 0)							\
		close(fd_);						\
	if (p_ < 0 || kt_stat_long("pool_buffers") < 0)			\
		SKIP(return, "no kmbox-pool-buffers in fdinfo or no pool_buffers in /proc/kmbox/stats: a module without the growing pool"); \
} while (0)

/* ---- a user namespace that exits, its deep pool kept by an outsider ---- */

#define NS_DEPTH	600
#define NS_LEFT		300	/* messages left in the anonymous mailbox */

/*
 * Child: uid NS_UID in fresh user and IPC namespaces.  A named and an
 * anonymous mailbox, each NS_DEPTH deep; the anonymous one drained down
 * to NS_LEFT (a surplus of free buffers) and handed out over @sock.
 */
static void ns_child(int sock)
{
	int anon, named;

	CHILD_ASSERT(kt_become(NS_UID, NS_UID) == 0);
	CHILD_ASSERT(unshare(CLONE_NEWUSER | CLONE_NEWIPC) == 0);
	anon = kt_anon(O_RDWR | O_NONBLOCK, NS_DEPTH + 100, MSG);
	CHILD_ASSERT(anon >= 0);
	named = kt_create("pool-attack-deep", O_RDWR | O_NONBLOCK, 0600, NS_DEPTH + 100, MSG);
	CHILD_ASSERT(named >= 0);
	CHILD_ASSERT(fill(anon, NS_DEPTH, 1) == NS_DEPTH);
	CHILD_ASSERT(fill(named, NS_DEPTH, 1) == NS_DEPTH);
	CHILD_ASSERT(kt_fdinfo_long(anon, POOL) >= NS_DEPTH);
	CHILD_ASSERT(drain(anon, NS_DEPTH - NS_LEFT, 1) == NS_DEPTH - NS_LEFT);
	CHILD_ASSERT(send_fd(sock, anon) == 0);
	/* the named mailbox dies with the namespace, still full */
	_exit(0);
}

TEST(ns_exits_leaving_its_deep_pool_to_an_outsider)
{
	long users0, dead0, live0, users1 = -1, dead1 = -1, live1 = -1, pool;
	int sv[2], fd, i, right;
	pid_t pid;

	KT_REQUIRE_MODULE();
	REQUIRE_POOL_INFO();
	users0 = kt_stat_long("users");
	live0 = kt_stat_long("namespaces");
	dead0 = kt_stat_long("namespaces_dead");
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = kt_fork(60);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		ns_child(sv[1]);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	close(sv[0]);
	if (kt_wait(pid) != 0 && fd < 0)
		SKIP(return, "uid %d cannot unshare(CLONE_NEWUSER|CLONE_NEWIPC)", NS_UID);
	ASSERT_GE(fd, 0);
	/* The namespace is gone; its named mailbox is reaped on the next read. */
	kt_stat_long("namespaces");

	/* The shrinker on a pool whose namespaces are gone: the free surplus goes. */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, drop_caches());
	pool = kt_fdinfo_long(fd, POOL);
	EXPECT_GE(pool, NS_LEFT);
	EXPECT_LE(pool, NS_LEFT + EXTRA) TH_LOG("drop_caches left %ld buffers for %d messages",
						pool, NS_LEFT);
	/* Every message left comes out, once, in order; then the rest goes. */
	right = drain(fd, NS_LEFT, NS_DEPTH - NS_LEFT + 1);
	EXPECT_EQ(NS_LEFT, right);
	EXPECT_EQ(0, kt_cur_msgs(fd));
	ASSERT_EQ(0, drop_caches());
	EXPECT_LE(kt_fdinfo_long(fd, POOL), KEEP);
	/* A send after all that: the pool still works. */
	EXPECT_EQ(1, fill(fd, 1, 7));
	EXPECT_EQ(1, drain(fd, 1, 7));
	close(fd);

	for (i = 0; i < 100; i++) {
		users1 = kt_stat_long("users");
		live1 = kt_stat_long("namespaces");
		dead1 = kt_stat_long("namespaces_dead");
		if (users1 == users0 && live1 == live0 && dead1 == dead0)
			break;
		kt_sleep_ms(50);
	}
	EXPECT_EQ(users0, users1) TH_LOG("a user record outlived its charges, or went early");
	EXPECT_EQ(live0, live1);
	EXPECT_EQ(dead0, dead1);
}

/* ---- a memory cgroup at its limit grows someone else's pool ---- */

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_ROOM		(2 << 20)	/* bytes the sender's cgroup may add */
#define CG_DEPTH	30000		/* the mailbox; 30 MB of pool if uncharged */

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

static int cg_write(const char *dir, const char *file, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return write_file(path, text);
}

/* A child memory cgroup in @dir: 0, or -1 with @why. */
static int cg_make(char *dir, size_t size, char *why, size_t whysz)
{
	char ctl[256];
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
	snprintf(dir, size, CG_ROOT "/kt-pool-%d", (int)getpid());
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

struct cg_res {
	int sent, err, in;
	long long before, peak;
};

/*
 * Child: join @dir (on CPU 0: one per-cpu charge stock), become uid
 * NS_UID, then send into @fd until a send fails.  At the cgroup's limit
 * any allocation charged to it may call the OOM killer, so it touches
 * everything first and allocates nothing after its sends.
 */
static void cg_child(const char *dir, int fd, struct cg_res *r)
{
	char buf[MSG];
	cpu_set_t set;
	char lim[32];

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	CHILD_ASSERT(cg_write(dir, "cgroup.procs", "0") == 0);
	r->in = 1;
	r->before = cg_read(dir, "memory.current");
	snprintf(lim, sizeof(lim), "%lld", r->before + CG_ROOM);
	CHILD_ASSERT(cg_write(dir, "memory.max", lim) == 0);
	CHILD_ASSERT(kt_become(NS_UID, NS_UID) == 0);
	while (r->sent < CG_DEPTH) {
		kt_fill(buf, sizeof(buf), 1 + r->sent);
		if (kt_send(fd, buf, sizeof(buf), 0, KMBOX_F_NONBLOCK, 0))
			break;
		r->sent++;
	}
	r->err = errno;
	_exit(0);
}

TEST(memcg_at_its_limit_grows_no_pool_beyond_it)
{
	char dir[128], why[256];
	long long after = -1;
	struct cg_res *r;
	int fd, st, right, i;
	pid_t pid;

	KT_REQUIRE_MODULE();
	REQUIRE_POOL_INFO();
	if (cg_make(dir, sizeof(dir), why, sizeof(why)))
		SKIP(return, "%s", why);
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	memset(r, 0, sizeof(*r));
	/* Root's mailbox, writable by the sender: the creator is not the cgroup. */
	fd = kt_anon(O_RDWR | O_NONBLOCK, CG_DEPTH, MSG);
	ASSERT_GE(fd, 0) TH_LOG("anon mailbox of %d: %s", CG_DEPTH, strerror(errno));
	pid = kt_fork(120);
	ASSERT_GE(pid, 0);
	if (pid == 0)
		cg_child(dir, fd, r);
	st = kt_wait(pid);
	r->peak = cg_read(dir, "memory.peak");
	TH_LOG("sender: exit %d, %d sent, then %s; cgroup at %lld before, %lld now, peak %lld; pool %ld",
	       st, r->sent, strerror(r->err), r->before, cg_read(dir, "memory.current"),
	       r->peak, kt_fdinfo_long(fd, POOL));
	EXPECT_EQ(0, st) TH_LOG("the sender died (the OOM killer?) instead of getting an error");
	EXPECT_EQ(1, r->in);
	EXPECT_LT(r->sent, CG_DEPTH) TH_LOG("the cgroup's limit stopped nothing: pool not charged");
	/*
	 * Each message takes a pooled KiB or, past what the cgroup could
	 * grow, a kmalloc() of its own (256 bytes here), charged to it too.
	 * Allow a per-cpu stock and the child's own pages on top.
	 */
	EXPECT_LE((long long)r->sent * 256, CG_ROOM + (1 << 20));
	EXPECT_EQ(r->sent, (int)kt_cur_msgs(fd));
	right = drain(fd, r->sent, 1);
	EXPECT_EQ(r->sent, right);
	close(fd);
	/* The mailbox is gone: so are the charges of its pool. */
	for (i = 0; i < 50; i++) {
		drop_caches();
		after = cg_read(dir, "memory.current");
		if (after <= r->before + (256 << 10))
			break;
		kt_sleep_ms(50);
	}
	EXPECT_LE(after, r->before + (256 << 10))
		TH_LOG("the cgroup still holds %lld bytes after the mailbox went", after - r->before);
	rmdir(dir);
	munmap(r, sizeof(*r));
}

/* ---- threads sharing one file, the shrinker running ---- */

#define TH_DEPTH	2000
#define TH_PER		6000	/* messages per sender */

struct share {
	int fd;
	volatile int stop;
	int bad, over, lost, got[2];
	long pool_max;
};

struct sender {
	struct share *s;
	int id;
};

/* Batches of 1..16 messages: [id, seq] then the fill of seq. */
static void *share_sender(void *arg)
{
	struct sender *sd = arg;
	struct kmbox_mmsg mm[16];
	char buf[16][MSG];
	uint32_t seq = 0;
	unsigned int rnd = sd->id * 7919 + 1;

	while (seq < TH_PER && !sd->s->stop) {
		struct kmbox_batch b = { .msgs = KT_PTR(mm), .flags = KMBOX_F_NONBLOCK };
		int i, r;

		rnd = rnd * 1103515245 + 12345;
		b.count = 1 + (rnd >> 16) % 16;
		if (b.count > TH_PER - seq)
			b.count = TH_PER - seq;
		for (i = 0; i < (int)b.count; i++) {
			kt_fill(buf[i], MSG, seq + i + sd->id * 1000000);
			buf[i][0] = (char)sd->id;
			mm[i] = (struct kmbox_mmsg){ .buf = KT_PTR(buf[i]), .len = MSG };
		}
		r = ioctl(sd->s->fd, KMBOX_IOC_SEND_BATCH, &b);
		if (r > 0)
			seq += r;
		else if (errno != EAGAIN)
			sd->s->bad++;
	}
	return NULL;
}

/* RECV_BATCHX until both senders are done and the queue is empty. */
static void *share_receiver(void *arg)
{
	struct share *s = arg;
	struct kmbox_mmsg mm[32];
	char buf[32][MSG];
	uint32_t next[2] = { 0, 0 };
	uint64_t end = kt_deadline_ms(120000);

	while ((next[0] < TH_PER || next[1] < TH_PER) && kt_now_ns() < end) {
		struct kmbox_batchx x = { .b = { .msgs = KT_PTR(mm), .count = 32,
						 .flags = KMBOX_F_NONBLOCK } };
		int i, r;

		for (i = 0; i < 32; i++)
			mm[i] = (struct kmbox_mmsg){ .buf = KT_PTR(buf[i]), .len = MSG };
		r = ioctl(s->fd, KMBOX_IOC_RECV_BATCHX, &x);
		if (r < 0) {
			if (errno != EAGAIN)
				s->bad++;
			if (s->stop)
				break;
			continue;
		}
		if (x.lost.dropped | x.lost.rejected | x.lost.replaced | x.lost.expired)
			s->lost++;
		for (i = 0; i < r; i++) {
			int id = buf[i][0];
			char want[MSG];

			if (id < 0 || id > 1 || mm[i].len != MSG) {
				s->bad++;
				continue;
			}
			kt_fill(want, MSG, next[id] + id * 1000000);
			want[0] = (char)id;
			if (memcmp(want, buf[i], MSG))
				s->bad++;	/* lost, duplicated or out of order */
			next[id]++;
		}
	}
	s->got[0] = next[0];
	s->got[1] = next[1];
	return NULL;
}

/* The shrinker in a loop; the pool's size as fdinfo and /proc show it. */
static void *share_watch(void *arg)
{
	struct share *s = arg;

	while (!s->stop) {
		long p = kt_fdinfo_long(s->fd, POOL);

		drop_caches();
		if (p > s->pool_max)
			s->pool_max = p;
		if (p < 0 || p > TH_DEPTH + EXTRA || kt_stat_long("pool_buffers") < 0)
			s->over++;
	}
	return NULL;
}

TEST(threads_share_a_deep_file_under_the_shrinker)
{
	struct share s = { 0 };
	struct sender sd[2] = { { &s, 0 }, { &s, 1 } };
	pthread_t ts[2], tr, tw;
	long pool0, pool1 = -1;
	int i;

	KT_REQUIRE_MODULE();
	REQUIRE_POOL_INFO();
	pool0 = kt_stat_long("pool_buffers");
	s.fd = kt_anon(O_RDWR | O_NONBLOCK, TH_DEPTH, MSG);
	ASSERT_GE(s.fd, 0);
	/* Deep first, so that the pool has a surplus to lose while in use. */
	ASSERT_EQ(0, pthread_create(&tw, NULL, share_watch, &s));
	ASSERT_EQ(0, pthread_create(&ts[0], NULL, share_sender, &sd[0]));
	ASSERT_EQ(0, pthread_create(&ts[1], NULL, share_sender, &sd[1]));
	kt_sleep_ms(100);
	ASSERT_EQ(0, pthread_create(&tr, NULL, share_receiver, &s));
	pthread_join(ts[0], NULL);
	pthread_join(ts[1], NULL);
	pthread_join(tr, NULL);
	s.stop = 1;
	pthread_join(tw, NULL);
	TH_LOG("received %d + %d, pool at most %ld buffers", s.got[0], s.got[1], s.pool_max);
	EXPECT_EQ(0, s.bad);
	EXPECT_EQ(0, s.lost) TH_LOG("losses reported on a mailbox that blocks");
	EXPECT_EQ(0, s.over) TH_LOG("the pool over max_msgs + %d, or unreadable", EXTRA);
	EXPECT_EQ(TH_PER, s.got[0]);
	EXPECT_EQ(TH_PER, s.got[1]);
	EXPECT_EQ(0, kt_cur_msgs(s.fd));
	close(s.fd);
	for (i = 0; i < 100; i++) {
		pool1 = kt_stat_long("pool_buffers");
		if (pool1 == pool0)
			break;
		kt_sleep_ms(50);
	}
	EXPECT_EQ(pool0, pool1);
}

TEST_HARNESS_MAIN
