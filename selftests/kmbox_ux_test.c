// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox: the two module changes a newcomer's review asked for.
 *
 *  - KMBOX_IOC_REOPEN: a new, independent file on the mailbox a file is
 *    bound to.  Claims: the new file shares the mailbox but not the open
 *    file description (O_NONBLOCK, FD_CLOEXEC, access mode); its access
 *    mode can never exceed the old file's (EACCES), not even for root;
 *    bad input is EINVAL/EFAULT/EBADFD/EMFILE and creates no descriptor;
 *    the new file belongs to whoever reopened it (credentials of write(),
 *    zero-copy slots, which come back when *that* file closes, so a
 *    fork-shared consumer that dies frees its slots); it works as uid 1000
 *    on a root-owned mailbox through a descriptor passed with SCM_RIGHTS,
 *    within that descriptor's access; it works after an unlink.
 *  - max_msgsize 0 with an explicit zc_slot_size follows the slot, so a
 *    zero-copy mailbox sized by its slots carries slot-sized messages.
 *
 * Each test runs in its own process; children report through their exit
 * status (CHILD_ASSERT) and die with their parent.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define OWNER_UID	1000

static int reopen(int fd, __u32 flags)
{
	struct kmbox_reopen r = { .flags = flags };

	return ioctl(fd, KMBOX_IOC_REOPEN, &r);
}

/* The kmbox-id line of /proc/self/fdinfo/@fd, or -1. */
static long fdinfo_id(int fd)
{
	char path[64], line[256];
	long id = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "kmbox-id: %ld", &id) == 1)
			break;
	fclose(f);
	return id;
}

static int count_fds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (!access(path, F_OK))
			n++;
	}
	return n;
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

FIXTURE(re) {
	int fd;		/* an anonymous O_RDWR mailbox, 8 x 64 bytes */
};

FIXTURE_SETUP(re)
{
	KT_REQUIRE_MODULE();
	alarm(30);
	self->fd = kt_anon(O_RDWR, 8, 64);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
}

FIXTURE_TEARDOWN(re)
{
	alarm(0);
	close(self->fd);
}

TEST_F(re, reopen_gives_a_new_file_on_the_same_mailbox)
{
	char buf[64];
	int nfd;

	nfd = reopen(self->fd, O_RDWR);
	ASSERT_GE(nfd, 0) TH_LOG("reopen: %s", strerror(errno));
	EXPECT_NE(self->fd, nfd);
	EXPECT_EQ(fdinfo_id(self->fd), fdinfo_id(nfd));
	EXPECT_GT(fdinfo_id(nfd), 0);
	/* either end sends, the other receives */
	ASSERT_EQ(0, kt_send(self->fd, "one", 3, 0, 0, 0));
	EXPECT_EQ(3, read(nfd, buf, sizeof(buf)));
	ASSERT_EQ(3, write(nfd, "two", 3));
	EXPECT_EQ(3, kt_recv(self->fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(0, memcmp(buf, "two", 3));
	/* already bound */
	EXPECT_EQ(-1, kt_bind(nfd, NULL, KMBOX_OPEN_ANON, 0, NULL));
	EXPECT_EQ(EBUSY, errno);
	/* the mailbox outlives the first file */
	ASSERT_EQ(0, close(self->fd));
	ASSERT_EQ(0, kt_send(nfd, "x", 1, 0, 0, 0));
	EXPECT_EQ(1, kt_cur_msgs(nfd));
	self->fd = nfd;
}

TEST_F(re, the_new_file_has_its_own_flags)
{
	int nfd, fl;

	nfd = reopen(self->fd, O_RDONLY | O_NONBLOCK);
	ASSERT_GE(nfd, 0);
	fl = fcntl(nfd, F_GETFL);
	EXPECT_EQ(O_RDONLY, fl & O_ACCMODE);
	EXPECT_TRUE(fl & O_NONBLOCK);
	EXPECT_EQ(0, fcntl(nfd, F_GETFD) & FD_CLOEXEC);
	EXPECT_FALSE(fcntl(self->fd, F_GETFL) & O_NONBLOCK);
	/* O_NONBLOCK on the new file only: it fails, the old one would wait */
	EXPECT_EQ(-1, kt_recv(nfd, NULL, 0, 0, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
	/* read-only: no sending */
	EXPECT_EQ(-1, write(nfd, "x", 1));
	EXPECT_EQ(EBADF, errno);
	close(nfd);

	nfd = reopen(self->fd, O_WRONLY | O_CLOEXEC);
	ASSERT_GE(nfd, 0);
	EXPECT_EQ(O_WRONLY, fcntl(nfd, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(FD_CLOEXEC, fcntl(nfd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(-1, kt_recv(nfd, NULL, 0, KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(EBADF, errno);
	close(nfd);
}

TEST_F(re, no_access_beyond_the_old_files_even_for_root)
{
	int ro, wo, fds;

	ro = reopen(self->fd, O_RDONLY);
	wo = reopen(self->fd, O_WRONLY);
	ASSERT_GE(ro, 0);
	ASSERT_GE(wo, 0);
	fds = count_fds();
	EXPECT_EQ(-1, reopen(ro, O_RDWR));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(-1, reopen(ro, O_WRONLY));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(-1, reopen(wo, O_RDONLY));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(-1, reopen(wo, O_RDWR | O_CLOEXEC));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(fds, count_fds());
	/* within: fine */
	EXPECT_LE(0, close(reopen(ro, O_RDONLY)));
	EXPECT_LE(0, close(reopen(wo, O_WRONLY)));
	close(ro);
	close(wo);
}

TEST_F(re, bad_input_is_refused_and_opens_nothing)
{
	struct kmbox_reopen r = { .flags = O_RDWR };
	int unbound, fds;
	char *ro;

	fds = count_fds();
	EXPECT_EQ(-1, reopen(self->fd, O_RDWR | O_WRONLY));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, reopen(self->fd, O_RDWR | O_CREAT));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, reopen(self->fd, O_RDWR | O_APPEND));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, reopen(self->fd, O_RDWR | O_TRUNC));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, reopen(self->fd, 0x80000000u));
	EXPECT_EQ(EINVAL, errno);
	r.__reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REOPEN, &r));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REOPEN, NULL));
	EXPECT_EQ(EFAULT, errno);
	ro = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_REOPEN, ro));
	EXPECT_EQ(EFAULT, errno);
	/* an argument on a read-only page is fine: it is only read */
	ASSERT_EQ(0, mprotect(ro, 4096, PROT_READ));
	EXPECT_LE(0, close(ioctl(self->fd, KMBOX_IOC_REOPEN, ro)));
	munmap(ro, 4096);

	unbound = kt_dev(O_RDWR);
	ASSERT_GE(unbound, 0);
	EXPECT_EQ(-1, reopen(unbound, O_RDWR));
	EXPECT_EQ(EBADFD, errno);
	close(unbound);
	EXPECT_EQ(fds, count_fds());
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(re, out_of_descriptors_is_emfile)
{
	struct rlimit rl;
	int fds;

	fds = count_fds();
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = fds;	/* the next descriptor number is taken */
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	EXPECT_EQ(-1, reopen(self->fd, O_RDWR));
	EXPECT_EQ(EMFILE, errno);
	EXPECT_EQ(fds, count_fds());
}

TEST(reopen_works_after_unlink_and_keeps_the_mode_checks_of_the_name)
{
	char name[64];
	int fd, nfd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "unl");
	fd = kt_create(name, O_RDWR, 0600, 4, 32);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_unlink(name));
	nfd = reopen(fd, O_WRONLY);
	ASSERT_GE(nfd, 0) TH_LOG("reopen: %s", strerror(errno));
	EXPECT_EQ(2, write(nfd, "hi", 2));
	EXPECT_EQ(1, kt_cur_msgs(fd));
	close(nfd);
	close(fd);
}

/*
 * Zero-copy slots are the file's.  A fork-shared consumer that dies holding
 * a slot frees it only if it received through a file of its own.
 */
static int zc_anon(void)
{
	struct kmbox_attr a;
	int fd;

	fd = kt_dev(O_RDWR);
	if (fd < 0)
		return -1;
	kt_attr_init(&a, 4, 0);
	a.zc_slots = 2;
	a.zc_slot_size = 4096;
	if (kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &a)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

/*
 * In a child: receive one zero-copy message on @fd, keep its slot, exit.
 * The parent closes its own reference to @fd first if @close_ours.
 */
static int consume_and_die(int fd, bool close_ours)
{
	pid_t pid = kt_fork(20);

	if (pid == 0) {
		struct kmbox_recv r;

		CHILD_ASSERT(kt_recv(fd, NULL, 0, KMBOX_F_ZC, 0, &r) == 5);
		CHILD_ASSERT(r.msg_flags & KMBOX_MSG_ZC);
		_exit(0);
	}
	if (close_ours)
		close(fd);
	return kt_wait(pid);
}

static int zc_send_one(int fd)
{
	struct kmbox_send zs = { .flags = KMBOX_F_ZC, .len = 5 };
	struct kmbox_slots s = { .count = 1 };
	__u32 slot;

	s.slots = KT_PTR(&slot);
	if (ioctl(fd, KMBOX_IOC_ZC_RESERVE, &s) != 1)
		return -1;
	zs.slot = slot;
	return ioctl(fd, KMBOX_IOC_SEND, &zs);
}

TEST(slots_of_a_reopened_file_come_back_when_its_holder_dies)
{
	struct kmbox_attr a;
	int fd, cfd;

	KT_REQUIRE_MODULE();
	alarm(30);
	fd = zc_anon();
	ASSERT_GE(fd, 0) TH_LOG("zc anon: %s", strerror(errno));

	/* One file shared by fork: the dead child's slot stays held. */
	ASSERT_EQ(0, zc_send_one(fd));
	ASSERT_EQ(0, consume_and_die(fd, false));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(1, a.zc_free);
	EXPECT_EQ(1, a.zc_held);

	/* The consumer's own file: its slot comes back when it dies. */
	cfd = reopen(fd, O_RDONLY);
	ASSERT_GE(cfd, 0);
	ASSERT_EQ(0, zc_send_one(fd));
	ASSERT_EQ(0, consume_and_die(cfd, true));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(1, a.zc_free);
	EXPECT_EQ(1, a.zc_held);	/* still only the first one */
	close(fd);
}

/*
 * uid 1000 gets a read-only descriptor of root's 0600 named mailbox over
 * SCM_RIGHTS.  It cannot open the name, and reopening cannot add write
 * access; a read-only reopen works.  Given a write-only descriptor of an
 * anonymous mailbox, its reopened file writes with uid 1000's credentials,
 * not root's, who opened the original.
 */
TEST(uid_1000_reopens_a_passed_descriptor_within_its_access)
{
	char name[64], buf[64];
	struct kmbox_recv r;
	int sv[2], rfd, anon, wfd;
	pid_t pid;

	KT_REQUIRE_MODULE();
	alarm(30);
	kt_name(name, sizeof(name), "pass");
	rfd = kt_create(name, O_RDONLY, 0600, 4, 64);
	ASSERT_GE(rfd, 0);
	anon = kt_anon(O_RDWR, 4, 64);
	ASSERT_GE(anon, 0);
	wfd = reopen(anon, O_WRONLY);
	ASSERT_GE(wfd, 0);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));

	pid = kt_fork(20);
	if (pid == 0) {
		int got, n, w;

		close(sv[0]);
		close(rfd);
		close(anon);
		close(wfd);
		CHILD_ASSERT(kt_become(OWNER_UID, OWNER_UID) == 0);
		CHILD_ASSERT(kt_open(name, O_RDONLY, 0, 0, 0, 0) == -1 && errno == EACCES);
		got = recv_fd(sv[1]);
		CHILD_ASSERT(got >= 0);
		CHILD_ASSERT(reopen(got, O_RDWR) == -1 && errno == EACCES);
		CHILD_ASSERT(reopen(got, O_WRONLY) == -1 && errno == EACCES);
		n = reopen(got, O_RDONLY | O_CLOEXEC);
		CHILD_ASSERT(n >= 0);
		CHILD_ASSERT(kt_recv(n, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL) == 4);
		CHILD_ASSERT(!memcmp(buf, "root", 4));
		got = recv_fd(sv[1]);
		CHILD_ASSERT(got >= 0);
		CHILD_ASSERT(reopen(got, O_RDONLY) == -1 && errno == EACCES);
		w = reopen(got, O_WRONLY);
		CHILD_ASSERT(w >= 0);
		CHILD_ASSERT(write(w, "mine", 4) == 4);	/* as the reopener */
		CHILD_ASSERT(write(got, "root", 4) == 4);	/* as root, the opener */
		_exit(0);
	}
	close(sv[1]);
	{
		int q = kt_open(name, O_WRONLY, 0, 0, 0, 0);

		ASSERT_GE(q, 0);
		ASSERT_EQ(0, kt_send(q, "root", 4, 0, 0, 0));
		close(q);
	}
	ASSERT_EQ(0, send_fd(sv[0], rfd));
	ASSERT_EQ(0, send_fd(sv[0], wfd));
	ASSERT_EQ(0, kt_wait(pid));
	ASSERT_EQ(4, kt_recv(anon, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "mine", 4));
	EXPECT_EQ(OWNER_UID, r.uid);
	EXPECT_EQ(OWNER_UID, r.gid);
	ASSERT_EQ(4, kt_recv(anon, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "root", 4));
	EXPECT_EQ(0, r.uid);
	EXPECT_EQ(0, kt_cur_msgs(rfd));
	close(sv[0]);
	close(wfd);
	close(anon);
	close(rfd);
	ASSERT_EQ(0, kt_unlink(name));
}

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
