// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox core semantics: unbound files, names and OPEN errors, creation
 * attributes, plain read/write, priorities, getattr, receive metadata,
 * the absence of a zero-copy region, /proc/kmbox and module limits.
 *
 * One claim per test; each test uses its own mailboxes (names carry the
 * test process's pid) and removes them.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define MSGS	8
#define MSGSIZE	256

/* ---- unbound files ------------------------------------------------------ */

FIXTURE(unbound) {
	int fd;
};

FIXTURE_SETUP(unbound)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_dev(O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", KMBOX_DEVICE,
				      strerror(errno));
}

FIXTURE_TEARDOWN(unbound)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(unbound, read_is_ebadfd)
{
	char buf[16];

	EXPECT_EQ(-1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(EBADFD, errno);
}

TEST_F(unbound, write_is_ebadfd)
{
	EXPECT_EQ(-1, write(self->fd, "x", 1));
	EXPECT_EQ(EBADFD, errno);
}

TEST_F(unbound, getattr_is_ebadfd)
{
	struct kmbox_attr a;

	EXPECT_EQ(-1, kt_getattr(self->fd, &a));
	EXPECT_EQ(EBADFD, errno);
}

TEST_F(unbound, send_is_ebadfd)
{
	EXPECT_EQ(-1, kt_send(self->fd, "x", 1, 0, 0, 0));
	EXPECT_EQ(EBADFD, errno);
}

TEST_F(unbound, recv_is_ebadfd)
{
	char buf[16];

	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_NONBLOCK,
			      0, NULL));
	EXPECT_EQ(EBADFD, errno);
}

TEST_F(unbound, mmap_is_ebadfd)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->fd, 0);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EBADFD, errno);
	if (p != MAP_FAILED)
		munmap(p, 4096);
}

TEST_F(unbound, poll_reports_only_pollerr)
{
	struct pollfd pfd = {
		.fd = self->fd,
		.events = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM |
			  POLLWRBAND | POLLPRI,
	};

	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLERR, pfd.revents);
}

TEST_F(unbound, info_reports_version_and_zero_reserved)
{
	struct kmbox_info info;

	ASSERT_EQ(0, kt_info(self->fd, &info));
	EXPECT_EQ(KMBOX_API_VERSION, info.api_version);
	EXPECT_EQ(KMBOX_PRIO_MAX, info.prio_max);
	EXPECT_EQ(0, info.__reserved[0]);
	EXPECT_EQ(0, info.__reserved[1]);
}

TEST_F(unbound, unlink_removes_a_name)
{
	struct kmbox_unlink ul = { 0 };
	char name[64];
	int fd;

	kt_name(name, sizeof(name), "ul");
	ul.name = KT_PTR(name);
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	close(fd);
	EXPECT_EQ(0, ioctl(self->fd, KMBOX_IOC_UNLINK, &ul));
	EXPECT_EQ(-1, kt_open(name, O_RDWR, 0, 0, 0, 0));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(unbound, open_of_a_bound_file_is_ebusy)
{
	ASSERT_EQ(0, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, NULL));
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, NULL));
	EXPECT_EQ(EBUSY, errno);
	/* still bound to the first mailbox and working */
	EXPECT_EQ(1, write(self->fd, "a", 1));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
}

/* ---- module info and parameters ---------------------------------------- */

TEST(info_matches_module_parameters)
{
	static const char *const params[] = {
		"max_msgs_cap", "max_msgsize_cap", "default_max_msgs",
		"default_max_msgsize", "user_quota", "region_cap",
	};
	unsigned long long v[6];
	struct kmbox_info info;
	unsigned int i;
	int fd;

	KT_REQUIRE_MODULE();
	for (i = 0; i < ARRAY_SIZE(params); i++) {
		const char *p = params[i];

		ASSERT_EQ(0, kt_param_get(p, &v[i])) TH_LOG("%s", p);
	}
	fd = kt_dev(O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(v[0], info.max_msgs_cap);
	EXPECT_EQ(v[1], info.max_msgsize_cap);
	EXPECT_EQ(v[2], info.default_max_msgs);
	EXPECT_EQ(v[3], info.default_max_msgsize);
	EXPECT_EQ(v[4], info.user_quota);
	EXPECT_EQ(v[5], info.region_cap);
	close(fd);
}

TEST(module_parameters_have_documented_defaults)
{
	static const struct { const char *name; unsigned long long val; } p[] = {
		{ "default_max_msgs", 64 },
		{ "default_max_msgsize", 8192 },
		{ "max_msgs_cap", 65536 },
		{ "max_msgsize_cap", 4194304 },
		{ "max_mailboxes", 4096 },
		{ "user_quota", 67108864 },
		{ "region_cap", 67108864 },
	};
	unsigned long long v;
	struct stat st;
	char path[128];
	unsigned int i;

	KT_REQUIRE_MODULE();
	for (i = 0; i < ARRAY_SIZE(p); i++) {
		ASSERT_EQ(0, kt_param_get(p[i].name, &v))
			TH_LOG("%s: %s", p[i].name, strerror(errno));
		EXPECT_EQ(p[i].val, v) TH_LOG("%s", p[i].name);
		snprintf(path, sizeof(path), KT_PARAM_DIR "%s", p[i].name);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_EQ(0644, st.st_mode & 07777) TH_LOG("%s", p[i].name);
	}
}

/* ---- names and OPEN errors ---------------------------------------------- */

TEST(named_mailbox_is_shared_by_name)
{
	char name[64], buf[16];
	int a, b;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "shared");
	a = kt_create(name, O_WRONLY, 0600, 0, 0);
	ASSERT_GE(a, 0) TH_LOG("create: %s", strerror(errno));
	b = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(b, 0) TH_LOG("open: %s", strerror(errno));
	EXPECT_EQ(5, write(a, "hello", 5));
	EXPECT_EQ(5, read(b, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	close(a);
	close(b);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(empty_name_is_einval)
{
	KT_REQUIRE_MODULE();
	EXPECT_EQ(-1, kt_create("", O_RDWR, 0600, 0, 0));
	EXPECT_EQ(EINVAL, errno);
}

TEST(name_with_slash_is_einval)
{
	char name[64];

	KT_REQUIRE_MODULE();
	snprintf(name, sizeof(name), "kt-%d/slash", getpid());
	EXPECT_EQ(-1, kt_create(name, O_RDWR, 0600, 0, 0));
	EXPECT_EQ(EINVAL, errno);
}

TEST(name_of_255_bytes_is_accepted)
{
	char name[KMBOX_NAME_MAX + 1];
	int fd, n;

	KT_REQUIRE_MODULE();
	n = snprintf(name, sizeof(name), "kt-%d-", getpid());
	memset(name + n, 'n', KMBOX_NAME_MAX - n);
	name[KMBOX_NAME_MAX] = '\0';
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(errno));
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(name_of_256_bytes_is_enametoolong)
{
	char name[KMBOX_NAME_MAX + 2];
	int n;

	KT_REQUIRE_MODULE();
	n = snprintf(name, sizeof(name), "kt-%d-", getpid());
	memset(name + n, 'n', KMBOX_NAME_MAX + 1 - n);
	name[KMBOX_NAME_MAX + 1] = '\0';
	EXPECT_EQ(-1, kt_create(name, O_RDWR, 0600, 0, 0));
	EXPECT_EQ(ENAMETOOLONG, errno);
}

TEST(open_of_absent_name_without_creat_is_enoent)
{
	char name[64];

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "absent");
	EXPECT_EQ(-1, kt_open(name, O_RDWR, 0, 0, 0, 0));
	EXPECT_EQ(ENOENT, errno);
}

TEST(creat_excl_of_existing_name_is_eexist)
{
	char name[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "excl");
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, kt_create(name, O_RDWR, 0600, 0, 0));
	EXPECT_EQ(EEXIST, errno);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(creat_without_excl_opens_existing_mailbox_and_ignores_attr)
{
	struct kmbox_attr a;
	char name[64];
	int fd1, fd2;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "creat");
	fd1 = kt_create(name, O_RDWR, 0600, 5, 100);
	ASSERT_GE(fd1, 0);
	ASSERT_EQ(3, write(fd1, "abc", 3));
	fd2 = kt_open(name, O_RDWR, KMBOX_OPEN_CREAT, 0600, 7, 200);
	ASSERT_GE(fd2, 0) TH_LOG("second CREAT: %s", strerror(errno));
	ASSERT_EQ(0, kt_getattr(fd2, &a));
	EXPECT_EQ(5, a.max_msgs);
	EXPECT_EQ(100, a.max_msgsize);
	EXPECT_EQ(1, a.cur_msgs);
	close(fd1);
	close(fd2);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(named_mailbox_survives_its_last_close)
{
	char name[64], buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "persist");
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(4, write(fd, "keep", 4));
	close(fd);
	fd = kt_open(name, O_RDWR | O_NONBLOCK, 0, 0, 0, 0);
	ASSERT_GE(fd, 0) TH_LOG("reopen: %s", strerror(errno));
	EXPECT_EQ(4, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "keep", 4));
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(mode_above_0777_is_einval)
{
	char name[64];

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "mode");
	EXPECT_EQ(-1, kt_create(name, O_RDWR, 01777, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, kt_open(name, O_RDWR, 0, 0, 0, 0));
	EXPECT_EQ(ENOENT, errno);
}

TEST(open_unknown_flag_is_einval)
{
	char name[64];

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "flag");
	EXPECT_EQ(-1, kt_open(name, O_RDWR, KMBOX_OPEN_CREAT | (1U << 3),
			      0600, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, kt_open(name, O_RDWR, 0, 0, 0, 0));
	EXPECT_EQ(ENOENT, errno);
}

TEST(open_reserved_nonzero_is_einval)
{
	struct kmbox_open op = { .flags = KMBOX_OPEN_ANON };
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	op.__reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(fd, KMBOX_IOC_OPEN, &op));
	EXPECT_EQ(EINVAL, errno);
	/* still unbound */
	EXPECT_EQ(-1, write(fd, "x", 1));
	EXPECT_EQ(EBADFD, errno);
	close(fd);
}

TEST(named_mode_is_masked_by_umask)
{
	struct kt_mbline m;
	char name[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "umask");
	umask(027);
	fd = kt_create(name, O_RDWR, 0666, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, &m, NULL));
	EXPECT_EQ(0640, m.mode);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(named_mailbox_is_owned_by_caller_euid_egid)
{
	struct kt_mbline m;
	char name[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "owner");
	/* the effective ids, not the real ones, become the owner */
	ASSERT_EQ(0, setresgid(0, 4321, 0));
	ASSERT_EQ(0, setresuid(0, 1234, 0));
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_EQ(0, setresuid(0, 0, 0));
	ASSERT_EQ(0, setresgid(0, 0, 0));
	ASSERT_GE(fd, 0) TH_LOG("create as euid 1234: %s", strerror(errno));
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, &m, NULL));
	EXPECT_EQ(1234, m.uid);
	EXPECT_EQ(4321, m.gid);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

/*
 * As with POSIX mqueue (and any file), a new mailbox belongs to the
 * creator's filesystem ids, which follow the effective ids unless set
 * apart with setfsuid(2).
 */
TEST(named_mailbox_owner_is_the_fsuid)
{
	struct kt_mbline m;
	char name[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "fsuid");
	setfsgid(4321);
	setfsuid(1234);
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	setfsuid(0);
	setfsgid(0);
	ASSERT_EQ(0, (int)setfsuid(0)) TH_LOG("fsuid not restored");
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(errno));
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, &m, NULL));
	EXPECT_EQ(1234, m.uid);
	EXPECT_EQ(4321, m.gid);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

/* ---- creation attributes ------------------------------------------------ */

TEST(null_attr_gives_module_defaults)
{
	struct kmbox_info info;
	struct kmbox_attr a;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(info.default_max_msgs, a.max_msgs);
	EXPECT_EQ(info.default_max_msgsize, a.max_msgsize);
	EXPECT_EQ(0, a.cur_msgs);
	EXPECT_EQ(0, a.cur_bytes);
	EXPECT_EQ(0, a.zc_slots);
	close(fd);
}

TEST(zero_attr_fields_give_module_defaults)
{
	struct kmbox_info info;
	struct kmbox_attr in, a;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&in, 0, 0);
	ASSERT_EQ(0, kt_bind(fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	ASSERT_EQ(0, kt_info(fd, &info));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(info.default_max_msgs, a.max_msgs);
	EXPECT_EQ(info.default_max_msgsize, a.max_msgsize);
	close(fd);
}

FIXTURE(caps) {
	struct kmbox_info info;
	int fd;
};

FIXTURE_SETUP(caps)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_dev(O_RDWR);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, kt_info(self->fd, &self->info));
}

FIXTURE_TEARDOWN(caps)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(caps, max_msgs_at_cap_is_accepted)
{
	struct kmbox_attr in, a;

	kt_attr_init(&in, self->info.max_msgs_cap, 64);
	ASSERT_EQ(0, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in))
		TH_LOG("max_msgs %u: %s", in.max_msgs, strerror(errno));
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(self->info.max_msgs_cap, a.max_msgs);
}

TEST_F(caps, max_msgs_above_cap_is_einval)
{
	struct kmbox_attr in;

	kt_attr_init(&in, self->info.max_msgs_cap + 1, 64);
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(caps, max_msgsize_at_cap_is_accepted)
{
	struct kmbox_attr in, a;

	kt_attr_init(&in, 4, self->info.max_msgsize_cap);
	ASSERT_EQ(0, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in))
		TH_LOG("max_msgsize %u: %s", in.max_msgsize, strerror(errno));
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(self->info.max_msgsize_cap, a.max_msgsize);
}

TEST_F(caps, max_msgsize_above_cap_is_einval)
{
	struct kmbox_attr in;

	kt_attr_init(&in, 4, self->info.max_msgsize_cap + 1);
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(caps, attr_reserved_nonzero_is_einval)
{
	struct kmbox_attr in;

	kt_attr_init(&in, 4, 64);
	in.__reserved[1] = 1;
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * With CREAT the attributes are checked even when the name exists and
 * nothing is created (the fuzzer's oracle relies on it).
 */
TEST_F(caps, creat_of_an_existing_name_with_reserved_attr_is_einval)
{
	struct kmbox_attr in;
	char name[64];
	int owner, fd;

	kt_name(name, sizeof(name), "creat-attr");
	owner = kt_create(name, O_RDWR, 0600, 4, 64);
	ASSERT_GE(owner, 0) TH_LOG("%s", strerror(errno));
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	kt_attr_init(&in, 4, 64);
	in.__reserved[0] = 1;
	EXPECT_EQ(-1, kt_bind(fd, name, KMBOX_OPEN_CREAT, 0600, &in));
	EXPECT_EQ(EINVAL, errno);
	/* the same call with a clean attr opens the existing one */
	in.__reserved[0] = 0;
	EXPECT_EQ(0, kt_bind(fd, name, KMBOX_OPEN_CREAT, 0600, &in));
	close(fd);
	close(owner);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST_F(caps, attr_output_fields_are_ignored_on_create)
{
	struct kmbox_attr in, a;

	kt_attr_init(&in, 4, 64);
	in.cur_msgs = 3;
	/* GETATTR's output bits; an unknown bit would be EINVAL. */
	in.flags = KMBOX_ATTR_NONBLOCK | KMBOX_ATTR_NAMED | KMBOX_ATTR_UNLINKED;
	in.cur_bytes = 12345;
	in.zc_free = 7;
	in.zc_held = 7;
	in.zc_completed = 7;
	in.rd_waiters = 2;
	in.wr_waiters = 2;
	ASSERT_EQ(0, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in))
		TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(4, a.max_msgs);
	EXPECT_EQ(64, a.max_msgsize);
	EXPECT_EQ(0, a.cur_msgs);
	EXPECT_EQ(0, a.cur_bytes);
	EXPECT_EQ(0, a.flags & (KMBOX_ATTR_NAMED | KMBOX_ATTR_UNLINKED));
	EXPECT_EQ(0, a.rd_waiters);
	EXPECT_EQ(0, a.wr_waiters);
	EXPECT_EQ(0, a.zc_completed);
}

TEST_F(caps, zc_slot_size_not_power_of_two_is_einval)
{
	struct kmbox_attr in;

	kt_attr_init(&in, 4, 256);
	in.zc_slots = 4;
	in.zc_slot_size = 96;
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(caps, zc_slot_size_below_64_is_einval)
{
	struct kmbox_attr in;

	kt_attr_init(&in, 4, 256);
	in.zc_slots = 4;
	in.zc_slot_size = 32;
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * A slot may be larger than max_msgsize (a zero-copy message is at most
 * the smaller of the two), but not larger than the module's cap.
 */
TEST_F(caps, zc_slot_size_above_max_msgsize_cap_is_einval)
{
	struct kmbox_attr in;
	__u32 cap = self->info.max_msgsize_cap;
	__u32 slot = 64;

	while (slot < cap)
		slot <<= 1;
	kt_attr_init(&in, 4, 256);
	in.zc_slots = 1;
	in.zc_slot_size = slot << 1;
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(caps, zc_slot_larger_than_max_msgsize_still_caps_messages_at_max_msgsize)
{
	struct kmbox_attr in, a;
	static char buf[512];
	__u32 slot;
	struct kmbox_slots rs = { .slots = (uintptr_t)&slot, .count = 1 };
	struct kmbox_send zs = { .flags = KMBOX_F_ZC };

	kt_attr_init(&in, 4, 256);
	in.zc_slots = 2;
	in.zc_slot_size = 512;
	ASSERT_EQ(0, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(512, a.zc_slot_size);
	ASSERT_EQ(1, ioctl(self->fd, KMBOX_IOC_ZC_RESERVE, &rs));
	zs.slot = slot;
	zs.len = 257;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND, &zs));
	EXPECT_EQ(EMSGSIZE, errno);
	zs.len = 256;
	EXPECT_EQ(0, ioctl(self->fd, KMBOX_IOC_SEND, &zs));
	EXPECT_EQ(256, read(self->fd, buf, sizeof(buf)));
}

TEST_F(caps, region_above_region_cap_is_einval)
{
	struct kmbox_attr in;
	__u64 slot = 4096, slots;

	/* one slot more than region_cap holds */
	slots = self->info.region_cap / slot + 1;
	ASSERT_LE(slots, 0xffffffffULL);
	kt_attr_init(&in, 4, slot);
	in.zc_slots = slots;
	in.zc_slot_size = slot;
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_ANON, 0, &in));
	EXPECT_EQ(EINVAL, errno);
}

/* ---- getattr ------------------------------------------------------------ */

TEST(getattr_reports_limits_flags_and_zero_reserved)
{
	struct kmbox_attr a;
	char name[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "getattr");
	fd = kt_create(name, O_RDWR, 0600, 3, 77);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(3, a.max_msgs);
	EXPECT_EQ(77, a.max_msgsize);
	EXPECT_EQ(0, a.cur_msgs);
	EXPECT_EQ(0, a.cur_bytes);
	EXPECT_EQ(KMBOX_ATTR_NAMED, a.flags);
	EXPECT_EQ(0, a.zc_slots);
	EXPECT_EQ(0, a.zc_slot_size);
	EXPECT_EQ(0, a.zc_free);
	EXPECT_EQ(0, a.zc_held);
	EXPECT_EQ(0, a.zc_completed);
	EXPECT_EQ(0, a.rd_waiters);
	EXPECT_EQ(0, a.wr_waiters);
	EXPECT_EQ(0, a.__reserved[0]);
	EXPECT_EQ(0, a.__reserved[1]);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(getattr_nonblock_flag_follows_this_files_o_nonblock)
{
	struct kmbox_attr a;
	char name[64];
	int fd, fd2;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "nbflag");
	fd = kt_create(name, O_RDWR | O_NONBLOCK, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	fd2 = kt_open(name, O_RDWR, 0, 0, 0, 0);
	ASSERT_GE(fd2, 0);
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_TRUE(a.flags & KMBOX_ATTR_NONBLOCK);
	ASSERT_EQ(0, kt_getattr(fd2, &a));
	EXPECT_FALSE(a.flags & KMBOX_ATTR_NONBLOCK);
	/* fcntl(F_SETFL) changes it */
	ASSERT_EQ(0, fcntl(fd2, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, kt_getattr(fd2, &a));
	EXPECT_TRUE(a.flags & KMBOX_ATTR_NONBLOCK);
	ASSERT_EQ(0, fcntl(fd, F_SETFL, 0));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_FALSE(a.flags & KMBOX_ATTR_NONBLOCK);
	close(fd);
	close(fd2);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(getattr_reports_unlinked_after_unlink)
{
	struct kmbox_attr a;
	char name[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "unlinked");
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_unlink(name));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(KMBOX_ATTR_NAMED | KMBOX_ATTR_UNLINKED, a.flags);
	close(fd);
}

TEST(getattr_of_anonymous_mailbox_has_no_name_flags)
{
	struct kmbox_attr a;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.flags);
	close(fd);
}

/* ---- messages ----------------------------------------------------------- */

FIXTURE(mbox) {
	int fd;
};

FIXTURE_SETUP(mbox)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR | O_NONBLOCK, MSGS, MSGSIZE);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
}

FIXTURE_TEARDOWN(mbox)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(mbox, write_then_read_roundtrips)
{
	char in[100], out[MSGSIZE];

	kt_fill(in, sizeof(in), 1);
	EXPECT_EQ(sizeof(in), write(self->fd, in, sizeof(in)));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(sizeof(in), read(self->fd, out, sizeof(out)));
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mbox, zero_length_message_roundtrips)
{
	struct kmbox_attr a;
	char out[MSGSIZE];

	EXPECT_EQ(0, write(self->fd, "", 0));
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(1, a.cur_msgs);
	EXPECT_EQ(0, a.cur_bytes);
	EXPECT_EQ(0, read(self->fd, out, sizeof(out)));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	/* and it was really consumed: the mailbox is empty now */
	EXPECT_EQ(-1, read(self->fd, out, sizeof(out)));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(mbox, message_boundaries_are_kept)
{
	static const size_t lens[] = { 1, 200, 0, 37, MSGSIZE };
	char in[MSGSIZE], out[MSGSIZE];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		kt_fill(in, lens[i], i);
		ASSERT_EQ(lens[i], write(self->fd, in, lens[i]));
	}
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		ASSERT_EQ(lens[i], read(self->fd, out, sizeof(out)));
		EXPECT_TRUE(kt_check_fill(out, lens[i], i)) TH_LOG("msg %u", i);
	}
}

TEST_F(mbox, write_of_max_msgsize_is_accepted)
{
	char in[MSGSIZE], out[MSGSIZE];

	kt_fill(in, sizeof(in), 9);
	EXPECT_EQ(MSGSIZE, write(self->fd, in, MSGSIZE));
	EXPECT_EQ(MSGSIZE, read(self->fd, out, sizeof(out)));
	EXPECT_EQ(0, memcmp(in, out, MSGSIZE));
}

TEST_F(mbox, write_above_max_msgsize_is_emsgsize)
{
	char in[MSGSIZE + 1];

	memset(in, 'x', sizeof(in));
	EXPECT_EQ(-1, write(self->fd, in, sizeof(in)));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mbox, send_above_max_msgsize_is_emsgsize)
{
	char in[MSGSIZE + 1];

	memset(in, 'x', sizeof(in));
	EXPECT_EQ(-1, kt_send(self->fd, in, sizeof(in), 0, 0, 0));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mbox, read_short_buffer_is_emsgsize_and_message_stays)
{
	char in[50], out[MSGSIZE];

	kt_fill(in, sizeof(in), 3);
	ASSERT_EQ(sizeof(in), write(self->fd, in, sizeof(in)));
	EXPECT_EQ(-1, read(self->fd, out, sizeof(in) - 1));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(sizeof(in), read(self->fd, out, sizeof(in)));
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));
}

TEST_F(mbox, recv_short_buffer_reports_real_length)
{
	struct kmbox_recv r;
	char in[120], out[MSGSIZE];

	kt_fill(in, sizeof(in), 4);
	ASSERT_EQ(0, kt_send(self->fd, in, sizeof(in), 5, 0, 0));
	EXPECT_EQ(-1, kt_recv(self->fd, out, 10, 0, 0, &r));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(sizeof(in), r.len);
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(sizeof(in), kt_recv(self->fd, out, r.len, 0, 0, &r));
	EXPECT_EQ(5, r.prio);
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));
}

TEST_F(mbox, getattr_counts_messages_and_bytes)
{
	struct kmbox_attr a;
	char buf[MSGSIZE];

	memset(buf, 'b', sizeof(buf));
	ASSERT_EQ(10, write(self->fd, buf, 10));
	ASSERT_EQ(0, kt_send(self->fd, buf, 200, 3, 0, 0));
	ASSERT_EQ(0, write(self->fd, buf, 0));
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(3, a.cur_msgs);
	EXPECT_EQ(210, a.cur_bytes);
	ASSERT_EQ(200, read(self->fd, buf, sizeof(buf)));
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(2, a.cur_msgs);
	EXPECT_EQ(10, a.cur_bytes);
}

TEST_F(mbox, mailbox_holds_exactly_max_msgs)
{
	int i;

	for (i = 0; i < MSGS; i++) {
		ASSERT_EQ(1, write(self->fd, "m", 1)) TH_LOG("msg %d", i);
	}
	EXPECT_EQ(-1, write(self->fd, "m", 1));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(MSGS, kt_cur_msgs(self->fd));
}

TEST_F(mbox, higher_priority_is_received_first)
{
	static const __u32 prios[] = { 1, 100, 0, 32767, 50 };
	static const __u32 order[] = { 32767, 100, 50, 1, 0 };
	struct kmbox_recv r;
	char buf[MSGSIZE];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(prios); i++) {
		ASSERT_EQ(0, kt_send(self->fd, &prios[i], sizeof(prios[i]),
				     prios[i], 0, 0));
	}
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		ASSERT_EQ(sizeof(__u32), kt_recv(self->fd, buf, sizeof(buf),
						  0, 0, &r));
		EXPECT_EQ(order[i], r.prio);
		EXPECT_EQ(0, memcmp(buf, &order[i], sizeof(__u32)));
	}
}

TEST_F(mbox, equal_priority_keeps_fifo_order)
{
	struct kmbox_recv r;
	__u32 i, v;

	for (i = 0; i < MSGS; i++) {
		ASSERT_EQ(0, kt_send(self->fd, &i, sizeof(i), 7, 0, 0));
	}
	for (i = 0; i < MSGS; i++) {
		ASSERT_EQ(sizeof(v), kt_recv(self->fd, &v, sizeof(v), 0, 0, &r));
		EXPECT_EQ(i, v);
		EXPECT_EQ(7, r.prio);
	}
}

TEST_F(mbox, mixed_priorities_come_out_sorted_and_stable)
{
	/* prio of message i; its payload is i */
	static const __u32 prios[MSGS] = { 3, 1, 3, 2, 1, 3, 0, 2 };
	static const __u32 expect[MSGS] = { 0, 2, 5, 3, 7, 1, 4, 6 };
	struct kmbox_recv r;
	__u32 i, v;

	for (i = 0; i < MSGS; i++) {
		ASSERT_EQ(0, kt_send(self->fd, &i, sizeof(i), prios[i], 0, 0));
	}
	for (i = 0; i < MSGS; i++) {
		ASSERT_EQ(sizeof(v), kt_recv(self->fd, &v, sizeof(v), 0, 0, &r));
		EXPECT_EQ(expect[i], v);
		EXPECT_EQ(prios[expect[i]], r.prio);
	}
}

TEST_F(mbox, priority_32767_is_accepted)
{
	struct kmbox_recv r;
	char buf[8];

	ASSERT_EQ(0, kt_send(self->fd, "p", 1, KMBOX_PRIO_MAX - 1, 0, 0));
	ASSERT_EQ(1, kt_recv(self->fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(KMBOX_PRIO_MAX - 1, r.prio);
}

TEST_F(mbox, priority_32768_is_einval)
{
	EXPECT_EQ(-1, kt_send(self->fd, "p", 1, KMBOX_PRIO_MAX, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mbox, write_sends_at_priority_0)
{
	struct kmbox_recv r;
	char buf[8];

	ASSERT_EQ(1, write(self->fd, "w", 1));
	ASSERT_EQ(0, kt_send(self->fd, "s", 1, 1, 0, 0));
	ASSERT_EQ(1, kt_recv(self->fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(1, r.prio);
	EXPECT_EQ('s', buf[0]);
	ASSERT_EQ(1, kt_recv(self->fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(0, r.prio);
	EXPECT_EQ('w', buf[0]);
}

TEST_F(mbox, read_takes_the_highest_priority_message)
{
	char buf[8];

	ASSERT_EQ(0, kt_send(self->fd, "l", 1, 2, 0, 0));
	ASSERT_EQ(0, kt_send(self->fd, "h", 1, 9, 0, 0));
	ASSERT_EQ(1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ('h', buf[0]);
}

TEST_F(mbox, recv_reports_sender_credentials_and_time)
{
	struct kmbox_recv r;
	__u64 before, after;
	char buf[8];

	before = kt_now_ns();
	ASSERT_EQ(0, kt_send(self->fd, "c", 1, 4, 0, 0));
	after = kt_now_ns();
	memset(&r, 0xa5, sizeof(r));
	r.buf = KT_PTR(buf);
	r.len = sizeof(buf);
	r.flags = 0;
	r.deadline_ns = 0;
	r.reply_token = 0;
	r.__reserved = 0;
	ASSERT_LE(0, ioctl(self->fd, KMBOX_IOC_RECV, &r));
	EXPECT_EQ(1, r.len);
	EXPECT_EQ(4, r.prio);
	EXPECT_EQ(getpid(), r.pid);
	EXPECT_EQ(geteuid(), r.uid);
	EXPECT_EQ(getegid(), r.gid);
	EXPECT_EQ(0, r.msg_flags);
	EXPECT_EQ(KMBOX_NO_SLOT, r.slot);
	EXPECT_LE(before, r.send_ns);
	EXPECT_GE(after, r.send_ns);
	EXPECT_EQ(0, r.reply_token);
	EXPECT_EQ(0, r.__reserved);
}

struct thread_send {
	int fd;
	pid_t tid;
	int ret;
};

static void *send_from_thread(void *arg)
{
	struct thread_send *t = arg;

	t->tid = gettid();
	t->ret = kt_send(t->fd, "t", 1, 0, 0, 0);
	return NULL;
}

/* "pid" is the sender's thread-group id, also when a thread sends. */
TEST_F(mbox, recv_reports_the_senders_tgid_not_its_tid)
{
	struct thread_send t = { .fd = self->fd };
	struct kmbox_recv r;
	pthread_t th;
	char buf[8];

	ASSERT_EQ(0, pthread_create(&th, NULL, send_from_thread, &t));
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(0, t.ret);
	ASSERT_NE(getpid(), t.tid);
	ASSERT_EQ(1, kt_recv(self->fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(getpid(), r.pid);
}

TEST_F(mbox, send_times_follow_the_queue_order)
{
	struct kmbox_recv r;
	__u64 last = 0;
	char buf[8];
	int i;

	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, kt_send(self->fd, "s", 1, 0, 0, 0));
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(1, kt_recv(self->fd, buf, sizeof(buf), 0, 0, &r));
		EXPECT_LE(last, r.send_ns);
		last = r.send_ns;
	}
}

TEST_F(mbox, recv_zc_flag_copies_a_copied_message)
{
	struct kmbox_recv r;
	char buf[16];

	ASSERT_EQ(5, write(self->fd, "plain", 5));
	ASSERT_EQ(5, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_ZC, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "plain", 5));
	EXPECT_EQ(0, r.msg_flags);
	EXPECT_EQ(KMBOX_NO_SLOT, r.slot);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

/* Sizes around page boundaries up to the 4 MiB cap, byte for byte. */
TEST(large_messages_roundtrip)
{
	static const size_t lens[] = {
		4095, 4096, 4097, 65537, (1 << 20) + 3, 4 << 20,
	};
	struct kmbox_info info;
	unsigned char *in, *out;
	unsigned int i;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_dev(O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_info(fd, &info));
	close(fd);
	ASSERT_LE(4 << 20, info.max_msgsize_cap);
	fd = kt_anon(O_RDWR | O_NONBLOCK, 8, 4 << 20);
	ASSERT_GE(fd, 0) TH_LOG("4 MiB mailbox: %s", strerror(errno));
	in = malloc(4 << 20);
	out = malloc(4 << 20);
	ASSERT_NE(NULL, in);
	ASSERT_NE(NULL, out);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		kt_fill(in, lens[i], i + 100);
		memset(out, 0, lens[i]);
		ASSERT_EQ(lens[i], write(fd, in, lens[i])) TH_LOG("len %zu", lens[i]);
		ASSERT_EQ(lens[i], read(fd, out, 4 << 20)) TH_LOG("len %zu", lens[i]);
		EXPECT_EQ(0, memcmp(in, out, lens[i])) TH_LOG("len %zu", lens[i]);
	}
	free(in);
	free(out);
	close(fd);
}

/* A few hundred names: each resolves to its own mailbox. */
TEST(many_named_mailboxes_each_resolve_to_their_own)
{
	enum { N = 300 };
	char name[64], tag[16];
	int fds[N], i, fd;
	__u32 v;

	KT_REQUIRE_MODULE();
	for (i = 0; i < N; i++) {
		snprintf(tag, sizeof(tag), "many%d", i);
		fds[i] = kt_create(kt_name(name, sizeof(name), tag),
				   O_RDWR | O_NONBLOCK, 0600, 2, 8);
		ASSERT_GE(fds[i], 0) TH_LOG("%s: %s", name, strerror(errno));
	}
	for (i = 0; i < N; i++) {
		snprintf(tag, sizeof(tag), "many%d", i);
		fd = kt_open(kt_name(name, sizeof(name), tag), O_WRONLY, 0, 0,
			     0, 0);
		ASSERT_GE(fd, 0) TH_LOG("%s: %s", name, strerror(errno));
		v = i;
		ASSERT_EQ(sizeof(v), write(fd, &v, sizeof(v)));
		close(fd);
	}
	for (i = 0; i < N; i++) {
		ASSERT_EQ(sizeof(v), read(fds[i], &v, sizeof(v)));
		EXPECT_EQ(i, v);
		EXPECT_EQ(0, kt_cur_msgs(fds[i]));
		close(fds[i]);
		snprintf(tag, sizeof(tag), "many%d", i);
		EXPECT_EQ(0, kt_unlink(kt_name(name, sizeof(name), tag)));
	}
}

/* ---- access modes ------------------------------------------------------- */

FIXTURE(named) {
	char name[64];
	int rd, wr;
};

FIXTURE_SETUP(named)
{
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(self->name, sizeof(self->name), "acc");
	self->rd = self->wr = -1;
	fd = kt_create(self->name, O_RDWR | O_NONBLOCK, 0600, MSGS, MSGSIZE);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(3, write(fd, "msg", 3));
	close(fd);
	self->rd = kt_open(self->name, O_RDONLY | O_NONBLOCK, 0, 0, 0, 0);
	ASSERT_GE(self->rd, 0);
	self->wr = kt_open(self->name, O_WRONLY | O_NONBLOCK, 0, 0, 0, 0);
	ASSERT_GE(self->wr, 0);
}

FIXTURE_TEARDOWN(named)
{
	if (self->rd >= 0)
		close(self->rd);
	if (self->wr >= 0)
		close(self->wr);
	kt_unlink(self->name);
}

TEST_F(named, read_on_write_only_file_is_ebadf)
{
	char buf[16];

	EXPECT_EQ(-1, read(self->wr, buf, sizeof(buf)));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->rd));
}

TEST_F(named, recv_on_write_only_file_is_ebadf)
{
	char buf[16];

	EXPECT_EQ(-1, kt_recv(self->wr, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->rd));
}

TEST_F(named, write_on_read_only_file_is_ebadf)
{
	EXPECT_EQ(-1, write(self->rd, "x", 1));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->rd));
}

TEST_F(named, send_on_read_only_file_is_ebadf)
{
	EXPECT_EQ(-1, kt_send(self->rd, "x", 1, 0, 0, 0));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(1, kt_cur_msgs(self->rd));
}

TEST_F(named, write_only_and_read_only_files_work_together)
{
	char buf[16];

	EXPECT_EQ(2, write(self->wr, "hi", 2));
	EXPECT_EQ(3, read(self->rd, buf, sizeof(buf)));
	EXPECT_EQ(2, read(self->rd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "hi", 2));
}

TEST_F(named, getattr_works_on_write_only_file)
{
	struct kmbox_attr a;

	ASSERT_EQ(0, kt_getattr(self->wr, &a));
	EXPECT_EQ(1, a.cur_msgs);
	EXPECT_EQ(3, a.cur_bytes);
}

/* ---- no zero-copy region ----------------------------------------------- */

/* ENODEV, as mmap(2) has it for a file that cannot be mapped. */
TEST_F(mbox, mmap_without_region_is_enodev)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->fd, 0);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENODEV, errno);
	if (p != MAP_FAILED)
		munmap(p, 4096);
}

TEST_F(mbox, zc_send_without_region_is_einval)
{
	struct kmbox_send s = { .len = 1, .flags = KMBOX_F_ZC, .slot = 0 };

	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

TEST_F(mbox, zc_release_without_region_is_einval)
{
	__u32 slot = 0;
	struct kmbox_slots s = { .slots = KT_PTR(&slot), .count = 1 };

	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_ZC_RELEASE, &s));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(mbox, zc_reserve_without_region_is_einval)
{
	__u32 slot = 12345;
	struct kmbox_slots s = {
		.slots = KT_PTR(&slot),
		.count = 1,
		.flags = KMBOX_F_NONBLOCK,
	};
	struct kmbox_attr a;

	alarm(10);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_ZC_RESERVE, &s));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(12345, slot);
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(0, a.zc_held);
}

/* ---- /proc/kmbox -------------------------------------------------------- */

TEST(proc_mailboxes_header_names_the_columns)
{
	static const char *const cols[] = {
		"id", "name", "uid", "gid", "mode", "max_msgs", "max_msgsize",
		"msgs", "bytes", "rd_waiters", "wr_waiters", "zc_slots",
		"zc_slot_size", "zc_free", "flags", "inflight", "zc_reserved",
		"zc_queued", "zc_taken", "zc_held",
	};
	char line[512], *tok, *save;
	unsigned int i = 0;
	FILE *f;

	KT_REQUIRE_MODULE();
	f = fopen("/proc/kmbox/mailboxes", "re");
	ASSERT_NE(NULL, f) TH_LOG("/proc/kmbox/mailboxes: %s", strerror(errno));
	ASSERT_NE(NULL, fgets(line, sizeof(line), f));
	fclose(f);
	for (tok = strtok_r(line, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save), i++) {
		ASSERT_LT(i, ARRAY_SIZE(cols)) TH_LOG("extra column %s", tok);
		EXPECT_STREQ(cols[i], tok);
	}
	EXPECT_EQ(ARRAY_SIZE(cols), i);
}

TEST(proc_lists_named_mailbox_with_its_state)
{
	struct kt_mbline m;
	char name[64], buf[100];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "proc");
	umask(0);
	fd = kt_create(name, O_RDWR, 0640, 9, 300);
	ASSERT_GE(fd, 0);
	memset(buf, 'p', sizeof(buf));
	ASSERT_EQ(100, write(fd, buf, 100));
	ASSERT_EQ(0, kt_send(fd, buf, 23, 2, 0, 0));
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, &m, NULL));
	EXPECT_EQ(geteuid(), m.uid);
	EXPECT_EQ(getegid(), m.gid);
	EXPECT_EQ(0640, m.mode);
	EXPECT_EQ(9, m.max_msgs);
	EXPECT_EQ(300, m.max_msgsize);
	EXPECT_EQ(2, m.msgs);
	EXPECT_EQ(123, m.bytes);
	EXPECT_EQ(0, m.rd_waiters);
	EXPECT_EQ(0, m.wr_waiters);
	EXPECT_EQ(0, m.zc_slots);
	EXPECT_EQ(0, m.zc_slot_size);
	EXPECT_EQ(0, m.zc_free);
	EXPECT_STREQ("N", m.flags);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(proc_lists_anonymous_mailbox_as_dash)
{
	struct kt_mbline m;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR, 13, 1313);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(1, kt_find_mailbox("-", 13, 1313, &m, NULL));
	EXPECT_EQ(geteuid(), m.uid);
	EXPECT_STREQ("A", m.flags);
	EXPECT_EQ(0, m.msgs);
	close(fd);
	EXPECT_EQ(0, kt_find_mailbox("-", 13, 1313, NULL, NULL));
}

/* One line per mailbox, even when the name holds blanks or a newline. */
TEST(proc_keeps_a_name_with_whitespace_on_one_line)
{
	char name[64], line[1024];
	int fd, before, after;
	struct kt_mbline m;
	FILE *f;

	KT_REQUIRE_MODULE();
	snprintf(name, sizeof(name), "kt-%d-a b\tc\nd", getpid());
	ASSERT_EQ(0, kt_find_mailbox("-", 0, 0, NULL, &before));
	fd = kt_create(name, O_RDWR, 0600, 19, 1919);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_find_mailbox("-", 0, 0, NULL, &after));
	EXPECT_EQ(before + 1, after);
	/* and that line still has all 15 columns */
	f = fopen("/proc/kmbox/mailboxes", "re");
	ASSERT_NE(NULL, f);
	after = 0;
	while (fgets(line, sizeof(line), f))
		if (!kt_parse_mbline(line, &m) && m.max_msgs == 19 &&
		    m.max_msgsize == 1919)
			after++;
	fclose(f);
	EXPECT_EQ(1, after);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(proc_marks_unlinked_open_mailbox)
{
	struct kt_mbline m;
	char name[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "procul");
	fd = kt_create(name, O_RDWR, 0600, 11, 111);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_unlink(name));
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, &m, NULL));
	EXPECT_NE(NULL, strchr(m.flags, 'U')) TH_LOG("flags %s", m.flags);
	EXPECT_NE(NULL, strchr(m.flags, 'N')) TH_LOG("flags %s", m.flags);
	close(fd);
	EXPECT_EQ(0, kt_find_mailbox(name, 0, 0, NULL, NULL));
}

TEST(proc_drops_mailbox_after_unlink)
{
	char name[64];
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "procgone");
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, NULL, NULL));
	ASSERT_EQ(0, kt_unlink(name));
	EXPECT_EQ(0, kt_find_mailbox(name, 0, 0, NULL, NULL));
}

TEST(proc_counts_sleeping_receivers)
{
	struct kt_mbline m;
	char name[64];
	pid_t pid;
	int fd;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "procwait");
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char buf[16];

		CHILD_ASSERT(read(fd, buf, sizeof(buf)) == 1);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(fd, 1, 0, 10000));
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, &m, NULL));
	EXPECT_EQ(1, m.rd_waiters);
	EXPECT_EQ(0, m.wr_waiters);
	ASSERT_EQ(1, write(fd, "w", 1));
	EXPECT_EQ(0, kt_wait(pid));
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, &m, NULL));
	EXPECT_EQ(0, m.rd_waiters);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

/* Enough mailboxes that the listing spans several pages of seq_file. */
TEST(proc_lists_each_of_many_mailboxes_exactly_once)
{
	enum { N = 300 };
	char line[1024];
	struct kt_mbline m;
	int fds[N], seen[N], i, first = 1;
	FILE *f;

	KT_REQUIRE_MODULE();
	for (i = 0; i < N; i++) {
		fds[i] = kt_anon(O_RDWR, 3, 70000 + i);
		ASSERT_GE(fds[i], 0) TH_LOG("anon %d: %s", i, strerror(errno));
		seen[i] = 0;
	}
	f = fopen("/proc/kmbox/mailboxes", "re");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		if (first) {
			first = 0;
			continue;
		}
		ASSERT_EQ(0, kt_parse_mbline(line, &m)) TH_LOG("line: %s", line);
		if (!strcmp(m.name, "-") && m.max_msgs == 3 &&
		    m.max_msgsize >= 70000 && m.max_msgsize < 70000 + N)
			seen[m.max_msgsize - 70000]++;
	}
	fclose(f);
	for (i = 0; i < N; i++) {
		EXPECT_EQ(1, seen[i]) TH_LOG("mailbox %d", i);
		close(fds[i]);
	}
}

TEST(stats_has_all_counters)
{
	struct kt_stats s;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&s)) TH_LOG("/proc/kmbox/stats: %s",
					       strerror(errno));
	EXPECT_EQ(KT_STATS_ALL, s.seen);
}

TEST(stats_count_mailboxes_messages_and_bytes)
{
	struct kt_stats s0, s1, s2;
	char name[64], buf[64];
	int a, b;

	KT_REQUIRE_MODULE();
	kt_name(name, sizeof(name), "stats");
	ASSERT_EQ(0, kt_read_stats(&s0));
	a = kt_anon(O_RDWR, 0, 0);
	ASSERT_GE(a, 0);
	b = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(b, 0);
	memset(buf, 's', sizeof(buf));
	ASSERT_EQ(64, write(a, buf, 64));
	ASSERT_EQ(10, write(b, buf, 10));
	ASSERT_EQ(0, write(b, buf, 0));
	ASSERT_EQ(0, kt_read_stats(&s1));
	EXPECT_EQ(s0.mailboxes + 2, s1.mailboxes);
	EXPECT_EQ(s0.messages + 3, s1.messages);
	EXPECT_EQ(s0.bytes + 74, s1.bytes);
	ASSERT_EQ(64, read(a, buf, sizeof(buf)));
	close(a);
	close(b);
	ASSERT_EQ(0, kt_read_stats(&s2));
	/* the named one lives on, with its two messages, until unlinked */
	EXPECT_EQ(s0.mailboxes + 1, s2.mailboxes);
	EXPECT_EQ(s0.messages + 2, s2.messages);
	EXPECT_EQ(s0.bytes + 10, s2.bytes);
	ASSERT_EQ(0, kt_unlink(name));
	ASSERT_EQ(0, kt_read_stats(&s2));
	EXPECT_EQ(s0.mailboxes, s2.mailboxes);
	EXPECT_EQ(s0.messages, s2.messages);
	EXPECT_EQ(s0.bytes, s2.bytes);
	EXPECT_EQ(s0.users, s2.users);
}

/* ---- global mailbox limit ---------------------------------------------- */

FIXTURE(maxmb) {
	unsigned long long saved;
	int have_saved;
	int fds[4];
};

FIXTURE_SETUP(maxmb)
{
	int i;

	for (i = 0; i < 4; i++)
		self->fds[i] = -1;
	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_param_get("max_mailboxes", &self->saved));
	self->have_saved = 1;
}

FIXTURE_TEARDOWN(maxmb)
{
	int i;

	for (i = 0; i < 4; i++)
		if (self->fds[i] >= 0)
			close(self->fds[i]);
	if (self->have_saved)
		kt_param_set("max_mailboxes", self->saved);
}

/*
 * As nobody (no CAP_SYS_RESOURCE), with max_mailboxes set to what exists
 * plus @room: create @room anonymous mailboxes, then the next create
 * (named if @named) must be ENOSPC; after a close, one fits again.
 * Returns 0 or the line of the failed check.
 */
static int fill_mailboxes_as_nobody(int room, int named, const char *name)
{
	pid_t pid = kt_fork(20);
	int fds[8], i, fd;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		CHILD_ASSERT(kt_become(KT_NOBODY, KT_NOBODY) == 0);
		for (i = 0; i < room; i++) {
			fds[i] = kt_anon(O_RDWR, 0, 0);
			CHILD_ASSERT(fds[i] >= 0);
		}
		if (named)
			fd = kt_create(name, O_RDWR, 0600, 0, 0);
		else
			fd = kt_anon(O_RDWR, 0, 0);
		CHILD_ASSERT(fd == -1 && errno == ENOSPC);
		close(fds[0]);
		fd = kt_anon(O_RDWR, 0, 0);
		CHILD_ASSERT(fd >= 0);
		_exit(0);
	}
	return kt_wait(pid);
}

TEST_F(maxmb, anonymous_create_beyond_max_mailboxes_is_enospc)
{
	struct kt_stats s;

	ASSERT_EQ(0, kt_read_stats(&s));
	ASSERT_EQ(0, kt_param_set("max_mailboxes", s.mailboxes + 2));
	EXPECT_EQ(0, fill_mailboxes_as_nobody(2, 0, NULL));
}

TEST_F(maxmb, named_create_beyond_max_mailboxes_is_enospc)
{
	struct kt_stats s;
	char name[64];

	kt_name(name, sizeof(name), "enospc");
	ASSERT_EQ(0, kt_read_stats(&s));
	ASSERT_EQ(0, kt_param_set("max_mailboxes", s.mailboxes + 1));
	EXPECT_EQ(0, fill_mailboxes_as_nobody(1, 1, name));
	EXPECT_EQ(0, kt_find_mailbox(name, 0, 0, NULL, NULL));
	kt_unlink(name);
}

/* The team note names no exemption for max_mailboxes (only the quota). */
/* As with mqueue's queues_max, CAP_SYS_RESOURCE goes past max_mailboxes. */
TEST_F(maxmb, privileged_create_goes_past_max_mailboxes)
{
	struct kt_stats s;

	ASSERT_EQ(0, kt_read_stats(&s));
	ASSERT_EQ(0, kt_param_set("max_mailboxes", s.mailboxes + 1));
	self->fds[0] = kt_anon(O_RDWR, 0, 0);
	ASSERT_GE(self->fds[0], 0);
	self->fds[1] = kt_anon(O_RDWR, 0, 0);
	EXPECT_GE(self->fds[1], 0) TH_LOG("root past max_mailboxes: %s", strerror(errno));
	ASSERT_EQ(0, kt_read_stats(&s));
	EXPECT_GE(s.mailboxes, 2);
}

TEST_HARNESS_MAIN
