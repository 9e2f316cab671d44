// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox across processes, users and namespaces: mode-bit permissions for
 * unprivileged users, ownership, unlink rules, IPC namespace isolation
 * (names, /proc/kmbox), access mode 3, name escaping and fdinfo, sharing
 * of anonymous mailboxes by fork, dup and SCM_RIGHTS, sender credentials
 * across pid namespaces, and the per-user memory quota.  What happens
 * when an IPC namespace ends is in kmbox_nsreap_test.c.
 *
 * Unprivileged work happens in forked children that drop to uid/gid
 * 65534/65533 with setresgid/setresuid; they report through their exit
 * code (0, or the errno of the failing call).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define OTHER_UID	65533
#define OTHER_GID	65533

#define CAP(c)		(1ULL << (c))

/*
 * Become @uid/@gid holding exactly the capabilities in @caps (effective
 * and permitted), whatever @uid is: uid 0 without CAP_DAC_OVERRIDE, or
 * an ordinary uid with one capability.
 */
static int become_with_caps(uid_t uid, gid_t gid, __u64 caps)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) ||
	    setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		return -1;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (__u32)caps;
	data[1].effective = data[1].permitted = (__u32)(caps >> 32);
	if (syscall(SYS_capset, &hdr, data))
		return -1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return 0;
}

/* As @uid with only @caps: open @name with @oflags; 0 or errno. */
static int open_with_caps(uid_t uid, __u64 caps, const char *name, int oflags)
{
	pid_t pid = kt_fork(20);
	int fd;

	if (pid < 0)
		return 256;
	if (pid == 0) {
		if (become_with_caps(uid, uid, caps))
			_exit(254);
		fd = kt_open(name, oflags, 0, 0, 0, 0);
		_exit(fd >= 0 ? 0 : errno);
	}
	return kt_wait(pid);
}

static int unlink_with_caps(uid_t uid, __u64 caps, const char *name)
{
	pid_t pid = kt_fork(20);

	if (pid < 0)
		return 256;
	if (pid == 0) {
		if (become_with_caps(uid, uid, caps))
			_exit(254);
		_exit(kt_unlink(name) ? errno : 0);
	}
	return kt_wait(pid);
}

/*
 * In a child running as @uid/@gid: open @name with @oflags (no CREAT).
 * Returns 0 if the open worked, the errno if it failed, or 255 + more on
 * a problem with the child itself.
 */
static int open_as(uid_t uid, gid_t gid, const char *name, int oflags)
{
	pid_t pid = kt_fork(20);
	int fd;

	if (pid < 0)
		return 256;
	if (pid == 0) {
		if (kt_become(uid, gid))
			_exit(254);
		fd = kt_open(name, oflags, 0, 0, 0, 0);
		_exit(fd >= 0 ? 0 : errno);
	}
	return kt_wait(pid);
}

/* As @uid/@gid with umask 0: create @name with @mode; 0 or errno. */
static int create_as(uid_t uid, gid_t gid, const char *name, mode_t mode)
{
	pid_t pid = kt_fork(20);
	int fd;

	if (pid < 0)
		return 256;
	if (pid == 0) {
		if (kt_become(uid, gid))
			_exit(254);
		umask(0);
		fd = kt_create(name, O_RDWR, mode, 0, 0);
		_exit(fd >= 0 ? 0 : errno);
	}
	return kt_wait(pid);
}

static int unlink_as(uid_t uid, gid_t gid, const char *name)
{
	pid_t pid = kt_fork(20);

	if (pid < 0)
		return 256;
	if (pid == 0) {
		if (kt_become(uid, gid))
			_exit(254);
		_exit(kt_unlink(name) ? errno : 0);
	}
	return kt_wait(pid);
}

/* ---- permissions -------------------------------------------------------- */

FIXTURE(perm) {
	char name[64];
};

FIXTURE_SETUP(perm)
{
	KT_REQUIRE_MODULE();
	kt_name(self->name, sizeof(self->name), "perm");
	umask(0);
}

FIXTURE_TEARDOWN(perm)
{
	kt_unlink(self->name);
}

/* root creates @name with @mode */
static void root_create(struct __test_metadata *_metadata, const char *name,
			mode_t mode)
{
	int fd = kt_create(name, O_RDWR, mode, 0, 0);

	ASSERT_GE(fd, 0) TH_LOG("create %s: %s", name, strerror(errno));
	close(fd);
}

TEST_F(perm, other_without_read_bit_cannot_open_for_reading)
{
	root_create(_metadata, self->name, 0662);
	EXPECT_EQ(EACCES, open_as(KT_NOBODY, KT_NOBODY, self->name, O_RDONLY));
}

TEST_F(perm, other_with_read_bit_opens_for_reading)
{
	root_create(_metadata, self->name, 0604);
	EXPECT_EQ(0, open_as(KT_NOBODY, KT_NOBODY, self->name, O_RDONLY));
}

TEST_F(perm, other_without_write_bit_cannot_open_for_writing)
{
	root_create(_metadata, self->name, 0664);
	EXPECT_EQ(EACCES, open_as(KT_NOBODY, KT_NOBODY, self->name, O_WRONLY));
}

TEST_F(perm, other_with_write_bit_opens_for_writing)
{
	root_create(_metadata, self->name, 0602);
	EXPECT_EQ(0, open_as(KT_NOBODY, KT_NOBODY, self->name, O_WRONLY));
}

TEST_F(perm, read_write_open_with_only_the_read_bit_is_eacces)
{
	root_create(_metadata, self->name, 0644);
	EXPECT_EQ(EACCES, open_as(KT_NOBODY, KT_NOBODY, self->name, O_RDWR));
}

TEST_F(perm, read_write_open_with_both_bits_works)
{
	root_create(_metadata, self->name, 0606);
	EXPECT_EQ(0, open_as(KT_NOBODY, KT_NOBODY, self->name, O_RDWR));
}

TEST_F(perm, group_bits_let_a_group_member_read)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0640));
	EXPECT_EQ(0, open_as(OTHER_UID, KT_NOBODY, self->name, O_RDONLY));
}

TEST_F(perm, group_member_without_group_write_bit_is_eacces)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0646));
	EXPECT_EQ(EACCES, open_as(OTHER_UID, KT_NOBODY, self->name, O_WRONLY));
}

TEST_F(perm, group_bits_apply_to_group_even_if_other_grants_more)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0606));
	EXPECT_EQ(EACCES, open_as(OTHER_UID, KT_NOBODY, self->name, O_RDONLY));
}

TEST_F(perm, owner_bits_apply_to_owner_even_if_others_grant_more)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0466));
	EXPECT_EQ(EACCES, open_as(KT_NOBODY, OTHER_GID, self->name, O_WRONLY));
}

TEST_F(perm, owner_bits_let_the_owner_write)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0200));
	EXPECT_EQ(0, open_as(KT_NOBODY, OTHER_GID, self->name, O_WRONLY));
}

TEST_F(perm, cap_dac_override_bypasses_the_mode)
{
	int fd;

	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0000));
	fd = kt_open(self->name, O_RDWR, 0, 0, 0, 0);
	EXPECT_GE(fd, 0) TH_LOG("root open of a 0000 mailbox: %s",
				strerror(errno));
	if (fd >= 0)
		close(fd);
}

TEST_F(perm, cap_dac_override_alone_bypasses_the_mode)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0000));
	EXPECT_EQ(0, open_with_caps(OTHER_UID, CAP(CAP_DAC_OVERRIDE),
				    self->name, O_RDWR));
}

TEST_F(perm, euid_0_without_cap_dac_override_is_eacces)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0600));
	EXPECT_EQ(EACCES, open_with_caps(0, 0, self->name, O_RDONLY));
}

TEST_F(perm, unprivileged_creator_owns_the_mailbox)
{
	struct kt_mbline m;

	ASSERT_EQ(0, create_as(KT_NOBODY, OTHER_GID, self->name, 0640));
	ASSERT_EQ(1, kt_find_mailbox(self->name, 0, 0, &m, NULL));
	EXPECT_EQ(KT_NOBODY, m.uid);
	EXPECT_EQ(OTHER_GID, m.gid);
	EXPECT_EQ(0640, m.mode);
}

TEST_F(perm, unprivileged_create_applies_its_umask)
{
	struct kt_mbline m;
	pid_t pid;
	int fd;

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_become(KT_NOBODY, KT_NOBODY) == 0);
		umask(077);
		fd = kt_create(self->name, O_RDWR, 0666, 0, 0);
		_exit(fd >= 0 ? 0 : errno);
	}
	ASSERT_EQ(0, kt_wait(pid));
	ASSERT_EQ(1, kt_find_mailbox(self->name, 0, 0, &m, NULL));
	EXPECT_EQ(0600, m.mode);
}

/*
 * The owner is the creator's filesystem uid and gid (as for an mqueue
 * inode), which differ from the effective ones after setfsuid(2).
 */
TEST_F(perm, owner_is_the_creators_fsuid_and_fsgid)
{
	struct kt_mbline m;
	pid_t pid;
	int fd;

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		setfsgid(OTHER_GID);
		setfsuid(KT_NOBODY);
		CHILD_ASSERT(setfsuid(-1) == KT_NOBODY && setfsgid(-1) == OTHER_GID);
		CHILD_ASSERT(geteuid() == 0);
		fd = kt_create(self->name, O_RDWR, 0640, 0, 0);
		_exit(fd >= 0 ? 0 : errno);
	}
	ASSERT_EQ(0, kt_wait(pid));
	ASSERT_EQ(1, kt_find_mailbox(self->name, 0, 0, &m, NULL));
	EXPECT_EQ(KT_NOBODY, m.uid);
	EXPECT_EQ(OTHER_GID, m.gid);
}

/* ---- unlink ------------------------------------------------------------- */

TEST_F(perm, unlink_by_non_owner_is_eacces)
{
	root_create(_metadata, self->name, 0666);
	EXPECT_EQ(EACCES, unlink_as(KT_NOBODY, KT_NOBODY, self->name));
	EXPECT_EQ(1, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
}

TEST_F(perm, unlink_by_unprivileged_owner_works)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0600));
	EXPECT_EQ(0, unlink_as(KT_NOBODY, OTHER_GID, self->name));
	EXPECT_EQ(0, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
}

TEST_F(perm, unlink_by_privileged_non_owner_works)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0600));
	EXPECT_EQ(0, kt_unlink(self->name));
	EXPECT_EQ(0, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
}

TEST_F(perm, unlink_by_non_owner_with_cap_ipc_owner_works)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0600));
	EXPECT_EQ(0, unlink_with_caps(OTHER_UID, CAP(CAP_IPC_OWNER),
				      self->name));
	EXPECT_EQ(0, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
}

TEST_F(perm, unlink_by_non_owner_with_cap_sys_admin_works)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0600));
	EXPECT_EQ(0, unlink_with_caps(OTHER_UID, CAP(CAP_SYS_ADMIN),
				      self->name));
	EXPECT_EQ(0, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
}

TEST_F(perm, unlink_by_euid_0_non_owner_without_caps_is_eacces)
{
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0666));
	EXPECT_EQ(EACCES, unlink_with_caps(0, 0, self->name));
	EXPECT_EQ(1, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
}

TEST_F(perm, unlink_of_absent_name_is_enoent)
{
	EXPECT_EQ(-1, kt_unlink(self->name));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(perm, unlinked_mailbox_lives_on_for_open_files)
{
	struct kmbox_attr a;
	char buf[16];
	int w, r;

	w = kt_create(self->name, O_WRONLY, 0600, 0, 0);
	ASSERT_GE(w, 0);
	r = kt_open(self->name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(r, 0);
	ASSERT_EQ(0, kt_unlink(self->name));
	EXPECT_EQ(-1, kt_open(self->name, O_RDWR, 0, 0, 0, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(5, write(w, "still", 5));
	EXPECT_EQ(5, read(r, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "still", 5));
	ASSERT_EQ(0, kt_getattr(r, &a));
	EXPECT_TRUE(a.flags & KMBOX_ATTR_UNLINKED);
	close(w);
	close(r);
}

TEST_F(perm, unlinked_name_can_be_created_again_as_a_new_mailbox)
{
	char buf[16];
	int old, new;

	old = kt_create(self->name, O_RDWR | O_NONBLOCK, 0600, 0, 0);
	ASSERT_GE(old, 0);
	ASSERT_EQ(3, write(old, "old", 3));
	ASSERT_EQ(0, kt_unlink(self->name));
	new = kt_create(self->name, O_RDWR | O_NONBLOCK, 0600, 0, 0);
	ASSERT_GE(new, 0) TH_LOG("re-create: %s", strerror(errno));
	EXPECT_EQ(0, kt_cur_msgs(new));
	ASSERT_EQ(3, write(new, "new", 3));
	EXPECT_EQ(3, read(old, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "old", 3));
	EXPECT_EQ(-1, read(old, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(3, read(new, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "new", 3));
	close(old);
	close(new);
}

TEST_F(perm, last_close_of_an_unlinked_mailbox_frees_it)
{
	struct kt_stats s0, s1;
	int fd;

	ASSERT_EQ(0, kt_read_stats(&s0));
	fd = kt_create(self->name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(4, write(fd, "gone", 4));
	ASSERT_EQ(0, kt_unlink(self->name));
	ASSERT_EQ(0, kt_read_stats(&s1));
	EXPECT_EQ(s0.mailboxes + 1, s1.mailboxes);
	close(fd);
	ASSERT_EQ(0, kt_read_stats(&s1));
	EXPECT_EQ(s0.mailboxes, s1.mailboxes);
	EXPECT_EQ(s0.messages, s1.messages);
	EXPECT_EQ(s0.bytes, s1.bytes);
}

/* ---- IPC namespaces ----------------------------------------------------- */

/* Can a child unshare @flag?  (Kernels without CONFIG_*_NS cannot.) */
static int can_unshare(int flag)
{
	pid_t pid = kt_fork(10);

	if (pid < 0)
		return 0;
	if (pid == 0)
		_exit(unshare(flag) ? 1 : 0);
	return kt_wait(pid) == 0;
}

#define REQUIRE_UNSHARE(flag) do {					\
	if (!can_unshare(flag))						\
		SKIP(return, "kernel cannot unshare(" #flag ")");	\
} while (0)

TEST_F(perm, new_ipc_namespace_sees_none_of_the_parents_names)
{
	pid_t pid;

	REQUIRE_UNSHARE(CLONE_NEWIPC);
	root_create(_metadata, self->name, 0666);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(unshare(CLONE_NEWIPC) == 0);
		CHILD_ASSERT(kt_open(self->name, O_RDWR, 0, 0, 0, 0) == -1);
		CHILD_ASSERT(errno == ENOENT);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_F(perm, same_name_lives_independently_in_two_ipc_namespaces)
{
	pid_t pid;
	int fd;

	REQUIRE_UNSHARE(CLONE_NEWIPC);
	fd = kt_create(self->name, O_RDWR | O_NONBLOCK, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(6, write(fd, "parent", 6));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char buf[16];
		int cfd;

		CHILD_ASSERT(unshare(CLONE_NEWIPC) == 0);
		cfd = kt_create(self->name, O_RDWR | O_NONBLOCK, 0600, 0, 0);
		CHILD_ASSERT(cfd >= 0);
		CHILD_ASSERT(kt_cur_msgs(cfd) == 0);
		CHILD_ASSERT(write(cfd, "child", 5) == 5);
		CHILD_ASSERT(read(cfd, buf, sizeof(buf)) == 5);
		CHILD_ASSERT(kt_unlink(self->name) == 0);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
	/* the parent's mailbox still has only its own message */
	EXPECT_EQ(1, kt_cur_msgs(fd));
	EXPECT_EQ(1, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
	close(fd);
}

TEST_F(perm, unlink_in_another_ipc_namespace_is_enoent)
{
	pid_t pid;

	REQUIRE_UNSHARE(CLONE_NEWIPC);
	root_create(_metadata, self->name, 0600);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(unshare(CLONE_NEWIPC) == 0);
		CHILD_ASSERT(kt_unlink(self->name) == -1 && errno == ENOENT);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(1, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
}

TEST_F(perm, proc_lists_only_the_readers_ipc_namespace)
{
	pid_t pid;
	int fd, anon;

	REQUIRE_UNSHARE(CLONE_NEWIPC);
	fd = kt_create(self->name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	anon = kt_anon(O_RDWR, 17, 1717);
	ASSERT_GE(anon, 0);
	ASSERT_EQ(1, kt_find_mailbox("-", 17, 1717, NULL, NULL));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char name[64];
		int cfd, canon;

		CHILD_ASSERT(unshare(CLONE_NEWIPC) == 0);
		CHILD_ASSERT(kt_find_mailbox(self->name, 0, 0, NULL, NULL) == 0);
		CHILD_ASSERT(kt_find_mailbox("-", 17, 1717, NULL, NULL) == 0);
		/* what is created in the new namespace shows up there */
		kt_name(name, sizeof(name), "childns");
		cfd = kt_create(name, O_RDWR, 0600, 0, 0);
		CHILD_ASSERT(cfd >= 0);
		canon = kt_anon(O_RDWR, 18, 1818);
		CHILD_ASSERT(canon >= 0);
		CHILD_ASSERT(kt_find_mailbox(name, 0, 0, NULL, NULL) == 1);
		CHILD_ASSERT(kt_find_mailbox("-", 18, 1818, NULL, NULL) == 1);
		CHILD_ASSERT(kt_unlink(name) == 0);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
	close(anon);
	close(fd);
}

TEST_F(perm, file_opened_before_unshare_keeps_its_mailbox)
{
	char buf[16];
	pid_t pid;
	int fd;

	REQUIRE_UNSHARE(CLONE_NEWIPC);
	fd = kt_create(self->name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(unshare(CLONE_NEWIPC) == 0);
		CHILD_ASSERT(write(fd, "across", 6) == 6);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(6, read(fd, buf, sizeof(buf)));
	close(fd);
}

TEST_F(perm, stats_in_a_new_ipc_namespace_count_only_that_namespace)
{
	struct kt_stats s;
	pid_t pid;
	int fd, anon;

	REQUIRE_UNSHARE(CLONE_NEWIPC);
	fd = kt_create(self->name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(6, write(fd, "queued", 6));
	ASSERT_EQ(4, write(fd, "also", 4));
	anon = kt_anon(O_RDWR, 4, 64);
	ASSERT_GE(anon, 0);
	ASSERT_EQ(3, write(anon, "one", 3));
	ASSERT_EQ(0, kt_read_stats(&s));
	ASSERT_GE(s.mailboxes, 2);
	ASSERT_GE(s.messages, 3);
	ASSERT_GE(s.bytes, 13);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int cfd;

		CHILD_ASSERT(unshare(CLONE_NEWIPC) == 0);
		CHILD_ASSERT(kt_read_stats(&s) == 0);
		CHILD_ASSERT(s.mailboxes == 0 && s.messages == 0 && s.bytes == 0);
		CHILD_ASSERT(s.zc_slots_held == 0 && s.region_pages == 0);
		/* and what happens in the new namespace does count there */
		cfd = kt_anon(O_RDWR, 4, 64);
		CHILD_ASSERT(cfd >= 0);
		CHILD_ASSERT(write(cfd, "child", 5) == 5);
		CHILD_ASSERT(kt_read_stats(&s) == 0);
		CHILD_ASSERT(s.mailboxes == 1 && s.messages == 1 && s.bytes == 5);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
	close(anon);
	close(fd);
}

/*
 * As mq_open(): open(2) with O_RDWR|O_WRONLY (access mode 3) gives a file
 * open for neither reading nor writing.  It binds to nothing: not to a
 * mode-0000 mailbox of another user (whose check asks for no bit), not to
 * a new name, not to a new anonymous mailbox.
 */
TEST_F(perm, access_mode_3_file_binds_to_nothing)
{
	char fresh[64];
	uid_t uids[] = { OTHER_UID, 0 };	/* 0 has CAP_DAC_OVERRIDE */
	unsigned int i;
	pid_t pid;

	kt_name(fresh, sizeof(fresh), "mode3-new");
	ASSERT_EQ(0, create_as(KT_NOBODY, KT_NOBODY, self->name, 0000));
	for (i = 0; i < ARRAY_SIZE(uids); i++) {
		pid = kt_fork(20);
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			struct kmbox_attr a;
			int fd;

			if (uids[i])
				CHILD_ASSERT(kt_become(uids[i], uids[i]) == 0);
			fd = open(KMBOX_DEVICE, O_RDWR | O_WRONLY | O_CLOEXEC);
			CHILD_ASSERT(fd >= 0);
			CHILD_ASSERT(kt_bind(fd, self->name, 0, 0, NULL) == -1);
			CHILD_ASSERT(errno == EINVAL);
			CHILD_ASSERT(kt_getattr(fd, &a) == -1 && errno == EBADFD);
			CHILD_ASSERT(kt_bind(fd, fresh, KMBOX_OPEN_CREAT, 0600,
					     NULL) == -1);
			CHILD_ASSERT(errno == EINVAL);
			CHILD_ASSERT(kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0,
					     NULL) == -1);
			CHILD_ASSERT(errno == EINVAL);
			CHILD_ASSERT(kt_getattr(fd, &a) == -1 && errno == EBADFD);
			_exit(0);
		}
		EXPECT_EQ(0, kt_wait(pid)) TH_LOG("as uid %u", uids[i]);
	}
	EXPECT_EQ(0, kt_find_mailbox(fresh, 0, 0, NULL, NULL));
	kt_unlink(fresh);
}

/*
 * /proc/kmbox/mailboxes writes every byte of a name outside '!'..'~', and
 * backslash, as \ooo: a name can neither split its line nor carry a
 * terminal escape sequence.
 */
TEST_F(perm, proc_escapes_every_byte_of_a_name_but_printable_ascii)
{
	char want[160], line[1200];
	int fd, found = 0, bad = 0;
	struct kt_mbline m;
	FILE *f;

	snprintf(self->name, sizeof(self->name),
		 "kt-%d-\x1b[31mred\x01\x7f\xc3\xa9 \\end\t", getpid());
	snprintf(want, sizeof(want),
		 "kt-%d-\\033[31mred\\001\\177\\303\\251\\040\\134end\\011",
		 getpid());
	fd = kt_create(self->name, O_RDWR, 0600, 21, 2121);
	ASSERT_GE(fd, 0);
	f = fopen("/proc/kmbox/mailboxes", "re");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		const unsigned char *p;

		for (p = (const unsigned char *)line; *p; p++)
			if (*p >= 0x7f || (*p < ' ' && *p != '\n'))
				bad++;
		if (strstr(line, want))
			found++;
	}
	fclose(f);
	EXPECT_EQ(0, bad) TH_LOG("raw control or non-ASCII bytes in the listing");
	EXPECT_EQ(1, found) TH_LOG("no line with %s", want);
	ASSERT_EQ(1, kt_find_mailbox(want, 0, 0, &m, NULL));
	EXPECT_EQ(21, m.max_msgs);
	EXPECT_EQ(2121, m.max_msgsize);
	close(fd);
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

#define EXPECT_FDINFO(fd, key, want) do {				\
	char __v[1100];							\
									\
	ASSERT_EQ(0, fdinfo_get(fd, key, __v, sizeof(__v)))		\
		TH_LOG("fdinfo of %d has no %s", fd, key);		\
	EXPECT_STREQ(want, __v);					\
} while (0)

TEST_F(perm, fdinfo_shows_the_binding_access_mode_and_flags)
{
	char id[32], blank[64], blank_esc[80];
	struct kmbox_slots rs;
	struct kmbox_attr a;
	struct kt_mbline m;
	__u32 slots[2];
	int fd, ro, un;

	un = kt_dev(O_WRONLY | O_NONBLOCK);
	ASSERT_GE(un, 0);
	EXPECT_FDINFO(un, "kmbox-bound", "0");
	EXPECT_FDINFO(un, "kmbox-access", "w");
	EXPECT_FDINFO(un, "kmbox-nonblock", "1");
	close(un);

	kt_attr_init(&a, 4, 64);
	a.zc_slots = 4;
	a.zc_slot_size = 64;
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_bind(fd, self->name, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL,
			     0600, &a));
	memset(&rs, 0, sizeof(rs));
	rs.slots = KT_PTR(slots);
	rs.count = 2;
	ASSERT_EQ(2, ioctl(fd, KMBOX_IOC_ZC_RESERVE, &rs));
	ASSERT_EQ(1, kt_find_mailbox(self->name, 0, 0, &m, NULL));
	snprintf(id, sizeof(id), "%lu", m.id);
	EXPECT_FDINFO(fd, "kmbox-bound", "1");
	EXPECT_FDINFO(fd, "kmbox-id", id);
	EXPECT_FDINFO(fd, "kmbox-name", self->name);
	EXPECT_FDINFO(fd, "kmbox-flags", "N");
	EXPECT_FDINFO(fd, "kmbox-access", "rw");
	EXPECT_FDINFO(fd, "kmbox-nonblock", "0");
	EXPECT_FDINFO(fd, "kmbox-zc-held", "2");

	/* another file on the same mailbox: its own mode and slots */
	ro = kt_open(self->name, O_RDONLY | O_NONBLOCK, 0, 0, 0, 0);
	ASSERT_GE(ro, 0);
	EXPECT_FDINFO(ro, "kmbox-id", id);
	EXPECT_FDINFO(ro, "kmbox-access", "r");
	EXPECT_FDINFO(ro, "kmbox-nonblock", "1");
	EXPECT_FDINFO(ro, "kmbox-zc-held", "0");
	ASSERT_EQ(0, kt_unlink(self->name));
	EXPECT_FDINFO(fd, "kmbox-flags", "NU");
	close(ro);
	close(fd);

	fd = kt_anon(O_RDONLY, 2, 16);
	ASSERT_GE(fd, 0);
	EXPECT_FDINFO(fd, "kmbox-name", "-");
	EXPECT_FDINFO(fd, "kmbox-flags", "A");
	EXPECT_FDINFO(fd, "kmbox-access", "r");
	ASSERT_EQ(0, fcntl(fd, F_SETFL, O_NONBLOCK));
	EXPECT_FDINFO(fd, "kmbox-nonblock", "1");
	close(fd);

	/* names are escaped as in /proc/kmbox/mailboxes */
	snprintf(blank, sizeof(blank), "kt-%d-a b\x1b", getpid());
	snprintf(blank_esc, sizeof(blank_esc), "kt-%d-a\\040b\\033", getpid());
	fd = kt_create(blank, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	EXPECT_FDINFO(fd, "kmbox-name", blank_esc);
	close(fd);
	EXPECT_EQ(0, kt_unlink(blank));
}

/* ---- sharing anonymous mailboxes --------------------------------------- */

TEST(anonymous_mailbox_is_shared_across_fork)
{
	char buf[16];
	pid_t pid;
	int fd, i;

	KT_REQUIRE_MODULE();
	alarm(20);
	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_GE(fd, 0);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		for (i = 0; i < 3; i++)
			CHILD_ASSERT(write(fd, &i, sizeof(i)) == sizeof(i));
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(sizeof(int), read(fd, buf, sizeof(buf)));
		EXPECT_EQ(0, memcmp(buf, &i, sizeof(i)));
	}
	close(fd);
}

TEST(dup_shares_the_mailbox_and_outlives_the_original)
{
	char buf[16];
	int fd, fd2;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 4, 16);
	ASSERT_GE(fd, 0);
	fd2 = dup(fd);
	ASSERT_GE(fd2, 0);
	ASSERT_EQ(1, write(fd, "d", 1));
	close(fd);
	EXPECT_EQ(1, read(fd2, buf, sizeof(buf)));
	EXPECT_EQ('d', buf[0]);
	close(fd2);
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

FIXTURE(scm) {
	int sk[2];
};

FIXTURE_VARIANT(scm) {
	uid_t uid;	/* the receiving child runs as this user */
};

FIXTURE_VARIANT_ADD(scm, as_root) { .uid = 0, };
FIXTURE_VARIANT_ADD(scm, as_nobody) { .uid = KT_NOBODY, };

FIXTURE_SETUP(scm)
{
	KT_REQUIRE_MODULE();
	alarm(25);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				self->sk));
}

FIXTURE_TEARDOWN(scm)
{
	close(self->sk[0]);
	close(self->sk[1]);
}

/*
 * The child exists before the mailbox does, so it can only reach it
 * through the passed file; anonymous mailboxes have no permission checks.
 */
TEST_F(scm, scm_rights_passes_an_anonymous_mailbox)
{
	char buf[16];
	pid_t pid;
	int fd;

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int mfd;

		close(self->sk[0]);
		if (variant->uid)
			CHILD_ASSERT(kt_become(variant->uid, variant->uid) == 0);
		mfd = recv_fd(self->sk[1]);
		CHILD_ASSERT(mfd >= 0);
		CHILD_ASSERT(read(mfd, buf, sizeof(buf)) == 4);
		CHILD_ASSERT(!memcmp(buf, "ping", 4));
		CHILD_ASSERT(write(mfd, "pong", 4) == 4);
		_exit(0);
	}
	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(4, write(fd, "ping", 4));
	ASSERT_EQ(0, send_fd(self->sk[0], fd));
	EXPECT_EQ(0, kt_wait(pid));
	ASSERT_EQ(4, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, NULL));
	EXPECT_EQ(0, memcmp(buf, "pong", 4));
	close(fd);
}

TEST_F(scm, mailbox_in_flight_survives_its_senders_close)
{
	char buf[16];
	pid_t pid;
	int fd;

	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(6, write(fd, "flying", 6));
	ASSERT_EQ(0, send_fd(self->sk[0], fd));
	close(fd);	/* only the in-flight reference is left */
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int mfd;

		if (variant->uid)
			CHILD_ASSERT(kt_become(variant->uid, variant->uid) == 0);
		mfd = recv_fd(self->sk[1]);
		CHILD_ASSERT(mfd >= 0);
		CHILD_ASSERT(read(mfd, buf, sizeof(buf)) == 6);
		CHILD_ASSERT(!memcmp(buf, "flying", 6));
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
}

/* ---- sender credentials ------------------------------------------------- */

/*
 * KMBOX_IOC_SEND carries the caller's ids (write() would carry those of
 * the file's opener, here root: kmbox_acct_test checks that), and the
 * sender's pid while it exists.
 */
TEST(recv_reports_an_unprivileged_senders_ids)
{
	struct kmbox_recv r;
	char buf[16];
	int fd, p[2];
	pid_t pid;

	KT_REQUIRE_MODULE();
	alarm(20);
	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, pipe(p));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[1]);
		CHILD_ASSERT(kt_become(KT_NOBODY, OTHER_GID) == 0);
		CHILD_ASSERT(kt_send(fd, "id", 2, 0, 0, 0) == 0);
		CHILD_ASSERT(read(p[0], buf, 1) == 0);	/* until we received */
		_exit(0);
	}
	close(p[0]);
	ASSERT_EQ(2, kt_recv(fd, buf, sizeof(buf), KMBOX_F_TIMEOUT, kt_deadline_ms(10000), &r));
	close(p[1]);
	EXPECT_EQ(pid, r.pid);
	EXPECT_EQ(KT_NOBODY, r.uid);
	EXPECT_EQ(OTHER_GID, r.gid);
	EXPECT_EQ(0, kt_wait(pid));
	close(fd);
}

/*
 * A receiver in a child pid namespace cannot see a sender in the parent
 * namespace (pid 0), sees itself as 1, while the parent sees the child's
 * real pid.
 */
TEST(recv_reports_pids_in_the_receivers_pid_namespace)
{
	struct kmbox_recv r;
	volatile pid_t *inner;
	int fd, p[2], q[2];
	char buf[16];
	pid_t pid;

	KT_REQUIRE_MODULE();
	REQUIRE_UNSHARE(CLONE_NEWPID);
	alarm(20);
	inner = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, inner);
	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(1, write(fd, "P", 1));	/* from us, the outer ns */
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pipe(q));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pid_t gc;

		close(p[1]);
		close(q[0]);
		CHILD_ASSERT(unshare(CLONE_NEWPID) == 0);
		/* not kt_fork(): its parent is invisible from the new ns */
		gc = fork();
		CHILD_ASSERT(gc >= 0);
		if (gc == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			alarm(20);
			CHILD_ASSERT(getpid() == 1);
			CHILD_ASSERT(getppid() == 0);
			CHILD_ASSERT(kt_recv(fd, buf, sizeof(buf), 0, 0, &r) == 1);
			CHILD_ASSERT(buf[0] == 'P' && r.pid == 0);
			/* the ioctl carries the caller's pid (write(): the opener's) */
			CHILD_ASSERT(kt_send(fd, "C", 1, 0, 0, 0) == 0);
			CHILD_ASSERT(kt_recv(fd, buf, sizeof(buf), 0, 0, &r) == 1);
			CHILD_ASSERT(buf[0] == 'C' && r.pid == 1);
			CHILD_ASSERT(kt_send(fd, "G", 1, 0, 0, 0) == 0);
			/* alive until received: a reaped sender is pid 0 */
			CHILD_ASSERT(write(q[1], "g", 1) == 1);
			CHILD_ASSERT(read(p[0], buf, 1) == 0);
			_exit(0);
		}
		*inner = gc;
		_exit(kt_wait(gc));
	}
	close(p[0]);
	close(q[1]);
	ASSERT_EQ(1, read(q[0], buf, 1));	/* G is queued */
	ASSERT_EQ(1, kt_recv(fd, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &r));
	close(p[1]);
	EXPECT_EQ('G', buf[0]);
	ASSERT_EQ(0, kt_wait(pid));
	EXPECT_EQ(*inner, r.pid);
	close(fd);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	close(fd);
	return ret;
}

/*
 * A receiver in a user namespace mapping only outside uid/gid 1000 to 0
 * sees a message from 1000 as from 0, and one from root (unmapped) as
 * from the overflow ids.
 */
TEST(recv_reports_ids_in_the_receivers_user_namespace)
{
	int fd, c2p[2], p2c[2], st;
	char path[64], c;
	pid_t pid, snd;

	KT_REQUIRE_MODULE();
	alarm(20);
	fd = kt_anon(O_RDWR, 4, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(1, write(fd, "R", 1));	/* from root */
	snd = kt_fork(20);
	ASSERT_GE(snd, 0);
	if (snd == 0) {
		CHILD_ASSERT(kt_become(1000, 1000) == 0);
		/* the ioctl carries the caller's ids (write(): the opener's) */
		CHILD_ASSERT(kt_send(fd, "U", 1, 0, 0, 0) == 0);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait(snd));
	ASSERT_EQ(0, pipe(c2p));
	ASSERT_EQ(0, pipe(p2c));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_recv r;
		char buf[16];

		if (unshare(CLONE_NEWUSER))
			_exit(200);
		CHILD_ASSERT(write(c2p[1], "u", 1) == 1);
		CHILD_ASSERT(read(p2c[0], &c, 1) == 1);
		CHILD_ASSERT(kt_recv(fd, buf, sizeof(buf), 0, 0, &r) == 1);
		CHILD_ASSERT(buf[0] == 'R');
		CHILD_ASSERT(r.uid == KT_NOBODY && r.gid == KT_NOBODY);
		CHILD_ASSERT(kt_recv(fd, buf, sizeof(buf), 0, 0, &r) == 1);
		CHILD_ASSERT(buf[0] == 'U');
		CHILD_ASSERT(r.uid == 0 && r.gid == 0);
		_exit(0);
	}
	close(c2p[1]);
	close(p2c[0]);
	if (read(c2p[0], &c, 1) != 1) {
		st = kt_wait(pid);
		if (st == 200)
			SKIP(return, "no user namespaces (unshare(CLONE_NEWUSER) failed)");
		ASSERT_EQ(0, st);
	}
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	ASSERT_EQ(0, write_file(path, "0 1000 1\n"));
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	ASSERT_EQ(0, write_file(path, "0 1000 1\n"));
	ASSERT_EQ(1, write(p2c[1], "g", 1));
	EXPECT_EQ(0, kt_wait(pid));
	close(fd);
}

/* ---- per-user quota ----------------------------------------------------- */

FIXTURE(quota) {
	unsigned long long saved;
	int have_saved;
};

FIXTURE_SETUP(quota)
{
	KT_REQUIRE_MODULE();
	alarm(25);
	ASSERT_EQ(0, kt_param_get("user_quota", &self->saved));
	self->have_saved = 1;
}

FIXTURE_TEARDOWN(quota)
{
	if (self->have_saved)
		kt_param_set("user_quota", self->saved);
}

#define QMSG	4096

/*
 * As @uid: open the named mailbox @name for writing (the charge goes to
 * the user of the sending file, so the unprivileged user opens its own)
 * and send QMSG-byte messages until a send fails or @max are sent.
 * Returns the number sent, with 0x80 set if the failure was ENOBUFS.
 */
static int fill_as(uid_t uid, const char *name, int max)
{
	static char buf[QMSG];
	pid_t pid = kt_fork(20);
	int n = 0, fd;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (kt_become(uid, uid))
			_exit(127);
		fd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
		if (fd < 0)
			_exit(126);
		while (n < max && kt_send(fd, buf, QMSG, 0, KMBOX_F_NONBLOCK,
					  0) == 0)
			n++;
		_exit(n | (n < max && errno == ENOBUFS ? 0x80 : 0));
	}
	return kt_wait(pid);
}

/* A root-owned 0666 mailbox: its own cost is charged to (exempt) root. */
static int quota_mailbox(char *name, size_t size)
{
	kt_name(name, size, "quota");
	umask(0);
	return kt_create(name, O_RDWR, 0666, 16, QMSG);
}

/*
 * A quota of four messages' charge (4096 + 64 bytes each) less one byte:
 * three messages fit, the fourth is ENOBUFS; a receive gives one back.
 */
TEST_F(quota, send_over_quota_is_enobufs)
{
	char buf[QMSG], name[64];
	int fd, ret;

	fd = quota_mailbox(name, sizeof(name));
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_param_set("user_quota", 4 * (QMSG + 64) - 1));
	ret = fill_as(KT_NOBODY, name, 16);
	EXPECT_EQ(0x80 | 3, ret) TH_LOG("sent %d, ENOBUFS %d", ret & 0x7f,
					!!(ret & 0x80));
	EXPECT_EQ(3, kt_cur_msgs(fd));
	ASSERT_EQ(QMSG, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0x80 | 1, fill_as(KT_NOBODY, name, 16));
	EXPECT_EQ(3, kt_cur_msgs(fd));
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST_F(quota, quota_is_per_user)
{
	char name[64];
	int fd;

	fd = quota_mailbox(name, sizeof(name));
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_param_set("user_quota", 4 * (QMSG + 64) - 1));
	EXPECT_EQ(0x80 | 3, fill_as(KT_NOBODY, name, 16));
	EXPECT_EQ(0x80 | 3, fill_as(OTHER_UID, name, 16));
	EXPECT_EQ(6, kt_cur_msgs(fd));
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST_F(quota, privileged_sender_is_exempt)
{
	static char buf[QMSG];
	int fd, i;

	fd = kt_anon(O_RDWR, 16, QMSG);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_param_set("user_quota", QMSG));
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, kt_send(fd, buf, QMSG, 0, KMBOX_F_NONBLOCK, 0))
			TH_LOG("send %d: %s", i, strerror(errno));
	}
	EXPECT_EQ(8, kt_cur_msgs(fd));
	close(fd);
}

TEST_F(quota, unprivileged_user_with_cap_sys_resource_is_exempt)
{
	char name[64];
	pid_t pid;
	int fd;

	fd = quota_mailbox(name, sizeof(name));
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_param_set("user_quota", 512));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		static char buf[QMSG];
		int i, wfd, afd;

		CHILD_ASSERT(become_with_caps(KT_NOBODY, KT_NOBODY,
					      CAP(CAP_SYS_RESOURCE)) == 0);
		afd = kt_anon(O_RDWR, 4, 64);	/* over the quota alone */
		CHILD_ASSERT(afd >= 0);
		wfd = kt_open(name, O_WRONLY, 0, 0, 0, 0);
		CHILD_ASSERT(wfd >= 0);
		for (i = 0; i < 4; i++)
			CHILD_ASSERT(kt_send(wfd, buf, QMSG, 0,
					     KMBOX_F_NONBLOCK, 0) == 0);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(4, kt_cur_msgs(fd));
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST_F(quota, create_over_quota_is_emfile)
{
	pid_t pid;

	ASSERT_EQ(0, kt_param_set("user_quota", 512));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_become(KT_NOBODY, KT_NOBODY) == 0);
		CHILD_ASSERT(kt_anon(O_RDWR, 4, 64) == -1);
		_exit(errno);
	}
	EXPECT_EQ(EMFILE, kt_wait(pid));
}

/*
 * Besides the byte quota, user_max_mailboxes bounds how many mailboxes one
 * user has alive (EMFILE), so that no user can take the global
 * max_mailboxes from everyone; it is per user, and root is exempt.
 */
TEST_F(quota, unprivileged_creator_is_limited_by_user_max_mailboxes)
{
	unsigned long long saved;
	int fd;
	pid_t pid;

	ASSERT_EQ(0, kt_param_get("user_max_mailboxes", &saved));
	ASSERT_EQ(0, kt_param_set("user_max_mailboxes", 5));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int i;

		if (kt_become(KT_NOBODY, KT_NOBODY))
			_exit(100);
		for (i = 0; i < 5; i++)
			if (kt_anon(O_RDWR, 1, 16) < 0)
				_exit(101 + i);
		if (kt_anon(O_RDWR, 1, 16) >= 0)
			_exit(110);
		_exit(errno);
	}
	EXPECT_EQ(EMFILE, kt_wait(pid));
	/* another user is not held to nobody's count, root not at all */
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (kt_become(KT_NOBODY - 1, KT_NOBODY - 1))
			_exit(100);
		_exit(kt_anon(O_RDWR, 1, 16) >= 0 ? 0 : errno);
	}
	EXPECT_EQ(0, kt_wait(pid));
	fd = kt_anon(O_RDWR, 1, 16);
	EXPECT_GE(fd, 0);
	if (fd >= 0)
		close(fd);
	kt_param_set("user_max_mailboxes", saved);
}

TEST_F(quota, privileged_creator_is_exempt)
{
	int fd;

	ASSERT_EQ(0, kt_param_set("user_quota", 512));
	fd = kt_anon(O_RDWR, 4, 64);
	EXPECT_GE(fd, 0) TH_LOG("root create under a 512-byte quota: %s",
				strerror(errno));
	if (fd >= 0)
		close(fd);
}

/*
 * As nobody, three rounds of: a new anonymous mailbox of @max_msgs,
 * filled with @size-byte messages until a send fails, then closed.  The
 * child exits 0 if every round ended in ENOBUFS after the same number of
 * messages (@expect, unless 0), fewer than @max_msgs and fewer than the
 * quota's worth of payload.  A charge not given back at close would make
 * a later round fit fewer.
 */
static int fill_rounds_as_nobody(unsigned int max_msgs, unsigned int size, int expect,
				 unsigned long quota)
{
	pid_t pid = kt_fork(20);

	if (pid < 0)
		return -1;
	if (pid == 0) {
		static char buf[QMSG];
		int round, n, first = -1, fd;

		CHILD_ASSERT(size <= sizeof(buf));
		CHILD_ASSERT(kt_become(KT_NOBODY, KT_NOBODY) == 0);
		for (round = 0; round < 3; round++) {
			fd = kt_anon(O_RDWR, max_msgs, size);
			CHILD_ASSERT(fd >= 0);
			n = 0;
			while (n < (int)max_msgs &&
			       kt_send(fd, buf, size, 0, KMBOX_F_NONBLOCK, 0) == 0)
				n++;
			CHILD_ASSERT(n < (int)max_msgs && errno == ENOBUFS);
			/* each message pins more than its payload */
			CHILD_ASSERT(n > 0 && (unsigned long)n * size < quota);
			if (first < 0)
				first = n;
			CHILD_ASSERT(n == first && (!expect || n == expect));
			close(fd);
		}
		_exit(0);
	}
	return kt_wait(pid);
}

/*
 * 15000 bytes: nobody's own mailbox and a few 4 KiB messages fit (three
 * on a production kernel, where the mailbox costs about 1 KiB; fewer on
 * a debug kernel, whose locks and wait queues are bigger); closing the
 * mailbox must give all of it back, so every round fits as many.
 */
TEST_F(quota, closing_a_mailbox_returns_its_users_charges)
{
	ASSERT_EQ(0, kt_param_set("user_quota", 15000));
	EXPECT_EQ(0, fill_rounds_as_nobody(16, QMSG, 0, 15000));
}

/*
 * Small messages travel in buffers the mailbox keeps for reuse, charged
 * to its creator: they too end in ENOBUFS within the quota, and closing
 * the mailbox gives every byte back (the same number fits each round).
 */
TEST_F(quota, small_messages_are_held_to_the_quota)
{
	ASSERT_EQ(0, kt_param_set("user_quota", 20000));
	EXPECT_EQ(0, fill_rounds_as_nobody(1000, 64, 0, 20000));
}

TEST_F(quota, zero_quota_means_unlimited)
{
	pid_t pid;

	ASSERT_EQ(0, kt_param_set("user_quota", 0));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		static char buf[QMSG];
		int i, fd;

		CHILD_ASSERT(kt_become(KT_NOBODY, KT_NOBODY) == 0);
		fd = kt_anon(O_RDWR, 64, QMSG);
		CHILD_ASSERT(fd >= 0);
		for (i = 0; i < 64; i++)
			CHILD_ASSERT(kt_send(fd, buf, QMSG, 0, KMBOX_F_NONBLOCK,
					     0) == 0);
		_exit(0);
	}
	EXPECT_EQ(0, kt_wait(pid));
}

TEST_HARNESS_MAIN
