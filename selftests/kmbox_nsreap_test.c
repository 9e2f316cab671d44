// SPDX-License-Identifier: GPL-2.0
/*
 * IPC namespaces that end, and the name table under contention.
 *
 * A named mailbox whose IPC namespace ended is unlinked ("reaped") without
 * anyone calling kmbox from that namespace: at the next bind, unlink or
 * /proc read anywhere, or by the module's delayed work.  It is then freed
 * as soon as no file refers to it, and its creator's charges come back.
 * max_mailboxes counts per namespace.  Racing creators of one name make
 * one mailbox.  The initial namespace's /proc/kmbox/stats has
 * "namespaces" (other namespaces kmbox keeps state for) and
 * "namespaces_dead" (of those, the ones that ended and are kept by open
 * mailboxes); reading it reaps first.
 *
 * Unprivileged work runs as uid 1000 in fresh user + IPC namespaces
 * (unshare(CLONE_NEWUSER | CLONE_NEWIPC)), as a rootless container would.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define NS_UID		1000

/* Enter fresh user and IPC namespaces as uid NS_UID (in a child). */
static int enter_fresh_ns_as_user(void)
{
	if (kt_become(NS_UID, NS_UID))
		return -1;
	return unshare(CLONE_NEWUSER | CLONE_NEWIPC);
}

static int can_enter_fresh_ns_as_user(void)
{
	pid_t pid = kt_fork(10);

	if (pid < 0)
		return 0;
	if (pid == 0)
		_exit(enter_fresh_ns_as_user() ? 1 : 0);
	return kt_wait(pid) == 0;
}

#define REQUIRE_FRESH_NS() do {						\
	if (!can_enter_fresh_ns_as_user())				\
		SKIP(return, "uid %d cannot unshare(CLONE_NEWUSER|CLONE_NEWIPC)", \
		     NS_UID);						\
} while (0)

/*
 * "namespaces" and "namespaces_dead" of /proc/kmbox/stats (the initial
 * namespace shows them); reading reaps.  Returns 0, or -1 if absent.
 */
static int ns_counts(long *live, long *dead)
{
	char key[64];
	int seen = 0;
	long val;
	FILE *f;

	f = fopen("/proc/kmbox/stats", "re");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &val) == 2) {
		if (!strcmp(key, "namespaces")) {
			*live = val;
			seen |= 1;
		} else if (!strcmp(key, "namespaces_dead")) {
			*dead = val;
			seen |= 2;
		}
	}
	fclose(f);
	return seen == 3 ? 0 : -1;
}

/*
 * Wait (up to @secs, for liveness only) until namespaces <= @live and
 * namespaces_dead <= @dead, or (@at_least) namespaces_dead >= @dead.
 * 0 when reached; the last values read are in *@got_live, *@got_dead.
 */
static int wait_ns_counts(long live, long dead, int at_least, unsigned int secs,
			  long *got_live, long *got_dead)
{
	uint64_t end = kt_deadline_ms(secs * 1000);
	int ok = 0;

	*got_live = *got_dead = -1;
	do {
		if (ns_counts(got_live, got_dead))
			return -1;
		if (at_least)
			ok = *got_dead >= dead;
		else
			ok = *got_live <= live && *got_dead <= dead;
		if (ok)
			return 0;
		kt_sleep_ms(50);
	} while (kt_now_ns() < end);
	return -1;
}

/*
 * As uid NS_UID in a fresh namespace: can it create a mailbox with a
 * region of @mib MiB?  0, or the errno.  With @mib close to the quota,
 * this tells that no charge of that user was left behind.
 */
static int user_can_create_region(unsigned int mib)
{
	pid_t pid = kt_fork(60);

	if (pid < 0)
		return 256;
	if (pid == 0) {
		struct kmbox_attr a;
		int fd;

		if (enter_fresh_ns_as_user())
			_exit(254);
		fd = kt_dev(O_RDWR);
		if (fd < 0)
			_exit(253);
		kt_attr_init(&a, 4, 64);
		a.zc_slots = mib;
		a.zc_slot_size = 1 << 20;
		_exit(kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a) ? errno : 0);
	}
	return kt_wait(pid);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 'F';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* The value of "@key:\t..." in /proc/self/fdinfo/@fd; 0, or -1 if absent. */
static int fdinfo_get(int fd, const char *key, char *val, size_t size)
{
	size_t klen = strlen(key);
	char path[64], line[1200], *v;
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		v = line + klen + 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		snprintf(val, size, "%s", v);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

/* ---- namespaces that end ------------------------------------------------ */

FIXTURE(dying) {
	long live0, dead0;	/* namespace counts before the test, or -1 */
	struct kt_stats s0;	/* initial namespace's counts before */
};

FIXTURE_SETUP(dying)
{
	KT_REQUIRE_MODULE();
	/* checked where used, so that a test first shows what it is about */
	if (ns_counts(&self->live0, &self->dead0))
		self->live0 = self->dead0 = -1;
	ASSERT_EQ(0, kt_read_stats(&self->s0));
}

FIXTURE_TEARDOWN(dying)
{
}

/*
 * Nothing of the namespaces a test made is left once their processes and
 * files are gone, and the initial namespace's counts are as before.
 */
static void expect_all_reaped(struct __test_metadata *_metadata,
			      FIXTURE_DATA(dying) *self)
{
	struct kt_stats s;
	long live, dead;

	ASSERT_LE(0, self->live0) TH_LOG("no namespaces/namespaces_dead in /proc/kmbox/stats");
	EXPECT_EQ(0, wait_ns_counts(self->live0, self->dead0, 0, 60, &live, &dead))
		TH_LOG("namespaces %ld (was %ld), namespaces_dead %ld (was %ld)",
		       live, self->live0, dead, self->dead0);
	ASSERT_EQ(0, kt_read_stats(&s));
	EXPECT_EQ(self->s0.mailboxes, s.mailboxes);
	EXPECT_EQ(self->s0.messages, s.messages);
	EXPECT_EQ(self->s0.region_pages, s.region_pages);
}

/*
 * uid 1000 creates a named mailbox with a 1 MiB region, and leaves a
 * message in it, in each of 300 short-lived user + IPC namespaces, one
 * after the other.  If the names of namespaces that ended were kept, the
 * 64 MiB quota would run out after about 63 of them (EMFILE), and
 * user_max_mailboxes after 256.
 */
TEST_F_TIMEOUT(dying, names_of_ended_namespaces_are_reaped, 170)
{
	pid_t pid;

	REQUIRE_FRESH_NS();
	pid = kt_fork(160);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int i, st;

		CHILD_ASSERT(kt_become(NS_UID, NS_UID) == 0);
		for (i = 0; i < 300; i++) {
			pid_t c = kt_fork(30);

			CHILD_ASSERT(c >= 0);
			if (c == 0) {
				struct kmbox_attr a;
				int fd;

				if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
					_exit(250);
				fd = kt_dev(O_RDWR);
				if (fd < 0)
					_exit(251);
				kt_attr_init(&a, 4, 128);
				a.zc_slots = 16;
				a.zc_slot_size = 65536;
				if (kt_bind(fd, "short-lived",
					    KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL,
					    0600, &a))
					_exit(errno);
				if (write(fd, "left behind", 11) != 11)
					_exit(252);
				_exit(0);	/* the file closes at exit */
			}
			st = kt_wait(c);
			if (st) {
				fprintf(stderr, "# namespace %d: create failed: %d (%s)\n",
					i, st, st < 250 ? strerror(st) : "setup");
				_exit(1);
			}
		}
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait(pid));
	expect_all_reaped(_metadata, self);
	EXPECT_EQ(0, user_can_create_region(62)) TH_LOG("uid %d's charges not all back",
							NS_UID);
}

/*
 * A child creates a named mailbox in a fresh namespace, queues two
 * messages, hands the file to us and exits: its namespace ends with the
 * name in it.  Our file keeps working; the mailbox is unlinked (GETATTR,
 * fdinfo "NUD"); and it is freed when we close it.
 */
static int ghost_mailbox(struct __test_metadata *_metadata, int as_user)
{
	int sk[2], fd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sk))
		return -1;
	pid = kt_fork(20);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int mfd;

		close(sk[0]);
		if (as_user)
			CHILD_ASSERT(enter_fresh_ns_as_user() == 0);
		else
			CHILD_ASSERT(unshare(CLONE_NEWIPC) == 0);
		mfd = kt_create("ghost", O_RDWR | O_NONBLOCK, 0600, 8, 64);
		CHILD_ASSERT(mfd >= 0);
		CHILD_ASSERT(write(mfd, "first", 5) == 5);
		CHILD_ASSERT(write(mfd, "second", 6) == 6);
		CHILD_ASSERT(send_fd(sk[1], mfd) == 0);
		_exit(0);
	}
	close(sk[1]);
	fd = recv_fd(sk[0]);
	close(sk[0]);
	if (kt_wait(pid)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

TEST_F(dying, mailbox_of_an_ended_namespace_lives_on_for_its_files)
{
	struct kmbox_attr a;
	long live, dead;
	char buf[16];
	int fd;

	REQUIRE_FRESH_NS();
	fd = ghost_mailbox(_metadata, 1);
	ASSERT_GE(fd, 0);
	/* reading the stats reaps the namespace, which a file keeps */
	ASSERT_EQ(0, wait_ns_counts(0, self->dead0 + 1, 1, 20, &live, &dead))
		TH_LOG("namespaces_dead %ld, expected %ld", dead, self->dead0 + 1);
	EXPECT_EQ(self->live0 + 1, live);
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(KMBOX_ATTR_NAMED | KMBOX_ATTR_UNLINKED | KMBOX_ATTR_NONBLOCK, a.flags);
	EXPECT_EQ(2, a.cur_msgs);
	ASSERT_EQ(0, fdinfo_get(fd, "kmbox-flags", buf, sizeof(buf)));
	EXPECT_STREQ("NUD", buf);
	ASSERT_EQ(0, fdinfo_get(fd, "kmbox-name", buf, sizeof(buf)));
	EXPECT_STREQ("ghost", buf);
	/* it still works, like any unlinked mailbox */
	ASSERT_EQ(5, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "first", 5));
	ASSERT_EQ(4, write(fd, "more", 4));
	ASSERT_EQ(6, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "second", 6));
	ASSERT_EQ(4, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "more", 4));
	/* never seen from here */
	EXPECT_EQ(0, kt_find_mailbox("ghost", 0, 0, NULL, NULL));
	close(fd);
	expect_all_reaped(_metadata, self);
}

/*
 * The same as root with only a new IPC namespace; and here nobody but the
 * module's delayed work reaps: we only look at our file (GETATTR and
 * fdinfo do not reap) until the mailbox shows as unlinked.
 */
TEST_F_TIMEOUT(dying, the_module_reaps_by_itself, 60)
{
	uint64_t end = kt_deadline_ms(40000);
	struct kmbox_attr a;
	char buf[16];
	int fd;

	fd = ghost_mailbox(_metadata, 0);
	ASSERT_GE(fd, 0);
	if (!fdinfo_get(fd, "kmbox-flags", buf, sizeof(buf)))	/* checked below */
		EXPECT_TRUE(!strcmp(buf, "ND") || !strcmp(buf, "NUD")) TH_LOG("flags %s", buf);
	do {
		ASSERT_EQ(0, kt_getattr(fd, &a));
		if (a.flags & KMBOX_ATTR_UNLINKED)
			break;
		kt_sleep_ms(100);
	} while (kt_now_ns() < end);
	EXPECT_TRUE(a.flags & KMBOX_ATTR_UNLINKED) TH_LOG("not reaped within 40 s");
	ASSERT_EQ(0, fdinfo_get(fd, "kmbox-flags", buf, sizeof(buf)));
	EXPECT_STREQ("NUD", buf);
	EXPECT_EQ(2, a.cur_msgs);
	close(fd);
	expect_all_reaped(_metadata, self);
}

/*
 * Threads of a process in a fresh namespace create, open, unlink and list
 * names and anonymous mailboxes while the process exits (exit_group) at
 * some point; meanwhile we bind and read /proc, which reap.  Then nothing
 * of it may be left, and uid 1000 has its whole quota back.
 */
struct churn {
	int id;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	char name[32], line[1200];
	unsigned int i;
	FILE *f;
	int fd, anon;

	for (i = 0;; i++) {
		snprintf(name, sizeof(name), "churn-%d-%u", c->id, i % 8);
		fd = kt_open(name, O_RDWR | O_NONBLOCK, KMBOX_OPEN_CREAT, 0600, 4, 64);
		if (fd >= 0 && write(fd, name, 8) < 0 && errno != EAGAIN)
			break;
		if (i % 3 == 0)
			kt_unlink(name);
		if (i % 5 == 0) {
			f = fopen("/proc/kmbox/mailboxes", "re");
			while (f && fgets(line, sizeof(line), f))
				;
			if (f)
				fclose(f);
		}
		anon = kt_anon(O_RDWR, 2, 16);
		if (anon >= 0)
			close(anon);
		if (fd >= 0 && i % 2)
			close(fd);	/* the others stay open until exit */
	}
	return NULL;
}

TEST_F_TIMEOUT(dying, reaping_races_with_a_namespace_ending_under_use, 170)
{
	unsigned int round, seed = getpid();

	REQUIRE_FRESH_NS();
	for (round = 0; round < 25; round++) {
		unsigned int delay = rand_r(&seed) % 30;
		pid_t pid = kt_fork(60);

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			struct churn c[3];
			pthread_t t;
			int i;

			CHILD_ASSERT(enter_fresh_ns_as_user() == 0);
			for (i = 0; i < 3; i++) {
				c[i].id = i;
				CHILD_ASSERT(pthread_create(&t, NULL, churn_thread,
							    &c[i]) == 0);
			}
			kt_sleep_ms(delay);
			_exit(0);	/* every thread goes, wherever it is */
		}
		while (waitpid(pid, NULL, WNOHANG) == 0) {
			struct kt_stats s;
			int fd = kt_anon(O_RDWR, 2, 16);

			if (fd >= 0)
				close(fd);
			kt_read_stats(&s);
		}
	}
	expect_all_reaped(_metadata, self);
	EXPECT_EQ(0, user_can_create_region(62)) TH_LOG("uid %d's charges not all back",
							NS_UID);
}

/*
 * SIGKILL at any point of a stream of creations (named and anonymous,
 * with regions) in a fresh namespace leaves nothing behind.
 */
TEST_F_TIMEOUT(dying, sigkill_in_the_middle_of_creations_leaves_nothing, 170)
{
	unsigned int round, seed = getpid() * 7;

	REQUIRE_FRESH_NS();
	for (round = 0; round < 40; round++) {
		unsigned int delay = rand_r(&seed) % 20;
		pid_t pid = kt_fork(60);

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			struct kmbox_attr a;
			char name[32];
			int i;

			CHILD_ASSERT(enter_fresh_ns_as_user() == 0);
			kt_attr_init(&a, 4, 64);
			a.zc_slots = 4;
			a.zc_slot_size = 65536;
			for (i = 0;; i++) {
				int fd = kt_dev(O_RDWR);

				snprintf(name, sizeof(name), "k-%d", i);
				if (fd >= 0)
					kt_bind(fd, i % 2 ? name : NULL,
						i % 2 ? KMBOX_OPEN_CREAT : KMBOX_OPEN_ANON,
						0600, &a);
			}
		}
		kt_sleep_ms(delay);
		kill(pid, SIGKILL);
		EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	}
	expect_all_reaped(_metadata, self);
	EXPECT_EQ(0, user_can_create_region(62)) TH_LOG("uid %d's charges not all back",
							NS_UID);
}

/* ---- max_mailboxes ------------------------------------------------------ */

FIXTURE(limit) {
	unsigned long long saved;
	int have_saved;
};

FIXTURE_SETUP(limit)
{
	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_param_get("max_mailboxes", &self->saved));
	self->have_saved = 1;
}

FIXTURE_TEARDOWN(limit)
{
	if (self->have_saved)
		kt_param_set("max_mailboxes", self->saved);
}

/* As uid 1000: create 3 mailboxes, then a 4th and a name must be ENOSPC. */
static int fill_to_the_limit(void)
{
	int i;

	for (i = 0; i < 3; i++)
		if (kt_anon(O_RDWR, 1, 16) < 0)
			return 10 + i;
	if (kt_anon(O_RDWR, 1, 16) >= 0 || errno != ENOSPC)
		return 20;
	if (kt_create("over", O_RDWR, 0600, 0, 0) >= 0 || errno != ENOSPC)
		return 21;
	return 0;
}

/*
 * max_mailboxes is per IPC namespace, as mqueue's queues_max: a namespace
 * filled to it stops neither another namespace nor the initial one.
 */
TEST_F(limit, max_mailboxes_counts_per_namespace)
{
	int ready[2], go[2];
	pid_t a, b;
	char c;

	REQUIRE_FRESH_NS();
	ASSERT_EQ(0, kt_param_set("max_mailboxes", 3));
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	a = kt_fork(30);
	ASSERT_GE(a, 0);
	if (a == 0) {
		int st;

		close(ready[0]);
		close(go[1]);
		CHILD_ASSERT(enter_fresh_ns_as_user() == 0);
		st = fill_to_the_limit();
		CHILD_ASSERT(write(ready[1], "r", 1) == 1);
		CHILD_ASSERT(read(go[0], &c, 1) == 0);	/* holds them until then */
		_exit(st);
	}
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	/* another namespace, full while the first still is */
	b = kt_fork(30);
	ASSERT_GE(b, 0);
	if (b == 0) {
		CHILD_ASSERT(enter_fresh_ns_as_user() == 0);
		_exit(fill_to_the_limit());
	}
	EXPECT_EQ(0, kt_wait(b));
	/* and an unprivileged user of the initial namespace */
	b = kt_fork(30);
	ASSERT_GE(b, 0);
	if (b == 0) {
		CHILD_ASSERT(kt_become(NS_UID, NS_UID) == 0);
		_exit(kt_anon(O_RDWR, 1, 16) >= 0 ? 0 : errno);
	}
	EXPECT_EQ(0, kt_wait(b));
	close(go[1]);
	EXPECT_EQ(0, kt_wait(a));
	close(ready[0]);
}

/* ---- racing creators ---------------------------------------------------- */

#define RACERS	6
#define ROUNDS	30

struct racer {
	const char *name;
	__u32 flags;
	pthread_barrier_t *bar;
	int fd;
	int err;
};

static void *race_open(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->bar);
	r->fd = kt_open(r->name, O_RDWR | O_NONBLOCK, r->flags, 0600, RACERS, 16);
	r->err = r->fd < 0 ? errno : 0;
	return NULL;
}

/*
 * Racer i sent i through the file it opened: count the distinct indices
 * below @n queued in the mailbox @name names now.  All the racers that
 * opened must be there, or they did not all get the same mailbox.
 */
static int count_indices(const char *name, int n)
{
	int i, fd, got = 0, seen = 0;
	char buf[16];

	fd = kt_open(name, O_RDONLY | O_NONBLOCK, 0, 0, 0, 0);
	if (fd < 0)
		return -1;
	while (read(fd, buf, sizeof(buf)) == sizeof(int)) {
		memcpy(&i, buf, sizeof(i));
		if (i < 0 || i >= n || (seen & (1 << i)))
			break;
		seen |= 1 << i;
		got++;
	}
	close(fd);
	return got;
}

FIXTURE(race) {
	struct kt_stats s0;
};

FIXTURE_VARIANT(race) {
	__u32 flags;
};

FIXTURE_VARIANT_ADD(race, creat) { .flags = KMBOX_OPEN_CREAT, };
FIXTURE_VARIANT_ADD(race, creat_excl) {
	.flags = KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL,
};

FIXTURE_SETUP(race)
{
	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&self->s0));
}

FIXTURE_TEARDOWN(race)
{
}

/*
 * Threads open one new name at once: exactly one creates it; with CREAT
 * the others open that mailbox, with CREAT|EXCL they get EEXIST.  Exactly
 * one more mailbox exists afterwards (the losers' were freed).
 */
TEST_F_TIMEOUT(race, threads_opening_one_new_name_make_one_mailbox, 90)
{
	struct racer r[RACERS];
	pthread_barrier_t bar;
	pthread_t t[RACERS];
	int round, i, fds[RACERS], ok, eexist;
	struct kt_stats s;
	char name[64];

	ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, RACERS));
	for (round = 0; round < ROUNDS; round++) {
		snprintf(name, sizeof(name), "kt-%d-race-%d", getpid(), round);
		for (i = 0; i < RACERS; i++) {
			r[i] = (struct racer){ name, variant->flags, &bar, -1, 0 };
			ASSERT_EQ(0, pthread_create(&t[i], NULL, race_open, &r[i]));
		}
		ok = eexist = 0;
		for (i = 0; i < RACERS; i++) {
			pthread_join(t[i], NULL);
			fds[i] = r[i].fd;
			ok += r[i].fd >= 0;
			eexist += r[i].err == EEXIST;
		}
		if (variant->flags & KMBOX_OPEN_EXCL) {
			EXPECT_EQ(1, ok);
			EXPECT_EQ(RACERS - 1, eexist);
		} else {
			EXPECT_EQ(RACERS, ok);
		}
		for (i = 0; i < RACERS; i++)
			if (fds[i] >= 0)
				ASSERT_EQ(sizeof(i), write(fds[i], &i, sizeof(i)));
		EXPECT_EQ(ok, count_indices(name, RACERS));
		ASSERT_EQ(0, kt_read_stats(&s));
		EXPECT_EQ(self->s0.mailboxes + 1, s.mailboxes) TH_LOG("round %d", round);
		for (i = 0; i < RACERS; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		EXPECT_EQ(0, kt_unlink(name));
	}
	pthread_barrier_destroy(&bar);
	ASSERT_EQ(0, kt_read_stats(&s));
	EXPECT_EQ(self->s0.mailboxes, s.mailboxes);
}

/* The same with processes, which hand their result back by exit code. */
TEST_F_TIMEOUT(race, processes_opening_one_new_name_make_one_mailbox, 120)
{
	int round, i, gate[2], ok, eexist, st;
	pid_t pid[RACERS];
	struct kt_stats s;
	char name[64], c;

	for (round = 0; round < ROUNDS; round++) {
		snprintf(name, sizeof(name), "kt-%d-prace-%d", getpid(), round);
		ASSERT_EQ(0, pipe(gate));
		for (i = 0; i < RACERS; i++) {
			pid[i] = kt_fork(30);
			ASSERT_GE(pid[i], 0);
			if (pid[i] == 0) {
				int fd;

				close(gate[1]);
				CHILD_ASSERT(read(gate[0], &c, 1) == 0);
				fd = kt_open(name, O_RDWR | O_NONBLOCK, variant->flags,
					     0600, RACERS, 16);
				if (fd < 0)
					_exit(errno == EEXIST ? 2 : 1);
				_exit(write(fd, &i, sizeof(i)) == sizeof(i) ? 0 : 3);
			}
		}
		close(gate[0]);
		close(gate[1]);		/* go */
		ok = eexist = 0;
		for (i = 0; i < RACERS; i++) {
			st = kt_wait(pid[i]);
			ok += st == 0;
			eexist += st == 2;
		}
		if (variant->flags & KMBOX_OPEN_EXCL) {
			EXPECT_EQ(1, ok);
			EXPECT_EQ(RACERS - 1, eexist);
		} else {
			EXPECT_EQ(RACERS, ok);
		}
		EXPECT_EQ(ok, count_indices(name, RACERS));
		ASSERT_EQ(0, kt_read_stats(&s));
		EXPECT_EQ(self->s0.mailboxes + 1, s.mailboxes) TH_LOG("round %d", round);
		EXPECT_EQ(0, kt_unlink(name));
	}
}

/* ---- /proc against final puts ------------------------------------------- */

struct lister {
	int stop, lines, bad;	/* __atomic */
};

#define BUMP(x)	__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)
#define STOPPED(l)	__atomic_load_n(&(l)->stop, __ATOMIC_RELAXED)

static void *list_loop(void *arg)
{
	struct lister *l = arg;
	struct kt_mbline m;
	char line[1200];
	FILE *f;
	int first;

	while (!STOPPED(l)) {
		f = fopen("/proc/kmbox/mailboxes", "re");
		if (!f) {
			BUMP(l->bad);
			break;
		}
		first = 1;
		while (fgets(line, sizeof(line), f)) {
			if (first) {
				first = 0;
				continue;
			}
			BUMP(l->lines);
			if (kt_parse_mbline(line, &m))
				BUMP(l->bad);
		}
		fclose(f);
	}
	return NULL;
}

static void *stats_loop(void *arg)
{
	struct lister *l = arg;
	struct kt_stats s;

	while (!STOPPED(l))
		if (kt_read_stats(&s))
			BUMP(l->bad);
	return NULL;
}

static void *create_close_loop(void *arg)
{
	long id = (long)arg;
	struct kmbox_attr a;
	char name[64];
	int i, fd, nfd;

	kt_attr_init(&a, 4, 64);
	a.zc_slots = 2;
	a.zc_slot_size = 4096;
	for (i = 0; i < 100; i++) {
		fd = kt_dev(O_RDWR);
		if (fd < 0)
			return (void *)1;
		if (kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, i % 4 ? NULL : &a) ||
		    write(fd, "x", 1) != 1)
			return (void *)2;
		snprintf(name, sizeof(name), "kt-%d-churn-%ld-%d", getpid(), id, i);
		nfd = kt_create(name, O_RDWR, 0600, 2, 16);
		if (nfd < 0 || write(nfd, "y", 1) != 1 || kt_unlink(name))
			return (void *)3;
		close(nfd);	/* each close is a final put */
		close(fd);
	}
	return NULL;
}

FIXTURE(churn) {
	struct kt_stats s0;
};

FIXTURE_SETUP(churn)
{
	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&self->s0));
}

FIXTURE_TEARDOWN(churn)
{
}

/*
 * A thread lists /proc/kmbox/mailboxes and another reads the stats, over
 * and over, while three create mailboxes (some with regions) and close
 * them, each close a last put.  Every line read must be whole.
 */
TEST_F_TIMEOUT(churn, proc_readers_race_with_mailboxes_being_freed, 150)
{
	pthread_t lt, st, ct[3];
	struct lister l = { 0 };
	struct kt_stats s;
	void *ret;
	long i;

	ASSERT_EQ(0, pthread_create(&lt, NULL, list_loop, &l));
	ASSERT_EQ(0, pthread_create(&st, NULL, stats_loop, &l));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_create(&ct[i], NULL, create_close_loop, (void *)i));
	for (i = 0; i < 3; i++) {
		pthread_join(ct[i], &ret);
		EXPECT_EQ(NULL, ret) TH_LOG("creator %ld failed at step %ld: %s", i,
					    (long)ret, strerror(errno));
	}
	__atomic_store_n(&l.stop, 1, __ATOMIC_RELAXED);
	pthread_join(lt, NULL);
	pthread_join(st, NULL);
	EXPECT_EQ(0, l.bad);
	TH_LOG("%d mailbox lines read while mailboxes came and went", l.lines);
	ASSERT_EQ(0, kt_read_stats(&s));
	EXPECT_EQ(self->s0.mailboxes, s.mailboxes);
	EXPECT_EQ(self->s0.messages, s.messages);
	EXPECT_EQ(self->s0.region_pages, s.region_pages);
}

TEST_HARNESS_MAIN
