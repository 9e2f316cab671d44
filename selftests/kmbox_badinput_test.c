// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox bad input: every ioctl with a wrong size or direction, unknown
 * ioctl numbers, unknown flags, non-zero reserved fields, NULL, unmapped,
 * PROT_NONE and read-only pointers, oversize messages and bad priorities.
 *
 * Each test makes one call with one bad argument (everything else valid)
 * on a mailbox holding two known messages, checks the error, and then
 * checks that the mailbox is unchanged: the same count and bytes, and the
 * same two messages received in the same order.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"

#define PAGE	4096
#define MSGSIZE	256

/* NULL that the compiler cannot see through (no -Wnonnull noise). */
static void *volatile null_ptr;

static const unsigned int all_ioctls[] = {
	KMBOX_IOC_INFO, KMBOX_IOC_OPEN, KMBOX_IOC_UNLINK, KMBOX_IOC_GETATTR,
	KMBOX_IOC_SEND, KMBOX_IOC_RECV, KMBOX_IOC_SEND_BATCH,
	KMBOX_IOC_RECV_BATCH, KMBOX_IOC_ZC_RESERVE, KMBOX_IOC_ZC_RELEASE,
	KMBOX_IOC_REOPEN,
};

FIXTURE(bad) {
	int fd;
	char *none;	/* PROT_NONE page */
	char *ro;	/* read-only page */
	char *unmapped;	/* a page that was unmapped */
	char *edge;	/* read-write page followed by a PROT_NONE page */
	char *big;	/* 2 read-write pages of zeroes */
};

static void *map(int prot, size_t len)
{
	return mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

FIXTURE_SETUP(bad)
{
	KT_REQUIRE_MODULE();
	alarm(20);
	self->fd = kt_anon(O_RDWR | O_NONBLOCK, 8, MSGSIZE);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	ASSERT_EQ(0, kt_send(self->fd, "first", 5, 5, 0, 0));
	ASSERT_EQ(0, kt_send(self->fd, "second", 6, 1, 0, 0));

	self->none = map(PROT_NONE, PAGE);
	ASSERT_NE(MAP_FAILED, self->none);
	self->ro = map(PROT_READ, PAGE);
	ASSERT_NE(MAP_FAILED, self->ro);
	self->unmapped = map(PROT_READ | PROT_WRITE, PAGE);
	ASSERT_NE(MAP_FAILED, self->unmapped);
	ASSERT_EQ(0, munmap(self->unmapped, PAGE));
	self->edge = map(PROT_READ | PROT_WRITE, 2 * PAGE);
	ASSERT_NE(MAP_FAILED, self->edge);
	ASSERT_EQ(0, mprotect(self->edge + PAGE, PAGE, PROT_NONE));
	self->big = map(PROT_READ | PROT_WRITE, 2 * PAGE);
	ASSERT_NE(MAP_FAILED, self->big);
}

FIXTURE_TEARDOWN(bad)
{
	alarm(0);
	if (self->fd >= 0)
		close(self->fd);
}

/* The mailbox still holds exactly "first" (prio 5) then "second" (prio 1). */
static void expect_unchanged(struct __test_metadata *_metadata, int fd)
{
	struct kmbox_recv r;
	struct kmbox_attr a;
	char buf[MSGSIZE];

	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(2, a.cur_msgs);
	EXPECT_EQ(11, a.cur_bytes);
	ASSERT_EQ(5, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "first", 5));
	EXPECT_EQ(5, r.prio);
	ASSERT_EQ(6, kt_recv(fd, buf, sizeof(buf), 0, 0, &r));
	EXPECT_EQ(0, memcmp(buf, "second", 6));
	EXPECT_EQ(1, r.prio);
	EXPECT_EQ(-1, kt_recv(fd, buf, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(EAGAIN, errno);
}

/* ---- ENOTTY ------------------------------------------------------------- */

TEST_F(bad, every_ioctl_with_a_wrong_size_is_enotty)
{
	static const int delta[] = { -8, -1, 1, 8, 64 };
	unsigned int i, j, cmd, size;

	for (i = 0; i < ARRAY_SIZE(all_ioctls); i++) {
		for (j = 0; j < ARRAY_SIZE(delta); j++) {
			size = _IOC_SIZE(all_ioctls[i]) + delta[j];
			cmd = _IOC(_IOC_DIR(all_ioctls[i]), KMBOX_IOC_MAGIC,
				   _IOC_NR(all_ioctls[i]), size);
			memset(self->big, 0, 2 * PAGE);
			EXPECT_EQ(-1, ioctl(self->fd, cmd, self->big))
				TH_LOG("nr %#x size %u", _IOC_NR(cmd), size);
			EXPECT_EQ(ENOTTY, errno)
				TH_LOG("nr %#x size %u", _IOC_NR(cmd), size);
		}
		/* and size 0 */
		cmd = _IOC(_IOC_DIR(all_ioctls[i]), KMBOX_IOC_MAGIC,
			   _IOC_NR(all_ioctls[i]), 0);
		EXPECT_EQ(-1, ioctl(self->fd, cmd, self->big));
		EXPECT_EQ(ENOTTY, errno) TH_LOG("nr %#x size 0", _IOC_NR(cmd));
	}
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, every_ioctl_with_a_wrong_direction_is_enotty)
{
	static const unsigned int dirs[] = {
		_IOC_NONE, _IOC_READ, _IOC_WRITE, _IOC_READ | _IOC_WRITE,
	};
	unsigned int i, j, cmd;

	for (i = 0; i < ARRAY_SIZE(all_ioctls); i++) {
		for (j = 0; j < ARRAY_SIZE(dirs); j++) {
			if (dirs[j] == _IOC_DIR(all_ioctls[i]))
				continue;
			cmd = _IOC(dirs[j], KMBOX_IOC_MAGIC,
				   _IOC_NR(all_ioctls[i]),
				   _IOC_SIZE(all_ioctls[i]));
			memset(self->big, 0, 2 * PAGE);
			EXPECT_EQ(-1, ioctl(self->fd, cmd, self->big))
				TH_LOG("nr %#x dir %u", _IOC_NR(cmd), dirs[j]);
			EXPECT_EQ(ENOTTY, errno)
				TH_LOG("nr %#x dir %u", _IOC_NR(cmd), dirs[j]);
		}
	}
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, unknown_ioctl_numbers_are_enotty)
{
	static const unsigned int sizes[] = { 0, 8, 64 };
	unsigned int nr, j, cmd;

	for (nr = 0x0b; nr <= 0xff; nr++) {
		for (j = 0; j < ARRAY_SIZE(sizes); j++) {
			cmd = _IOC(_IOC_READ | _IOC_WRITE, KMBOX_IOC_MAGIC, nr,
				   sizes[j]);
			memset(self->big, 0, 2 * PAGE);
			EXPECT_EQ(-1, ioctl(self->fd, cmd, self->big))
				TH_LOG("nr %#x", nr);
			EXPECT_EQ(ENOTTY, errno) TH_LOG("nr %#x", nr);
		}
	}
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, foreign_ioctls_are_enotty)
{
	/* another magic with kmbox's numbers and sizes, a tty ioctl, zero */
	static const unsigned int cmds[] = {
		_IOR(0xD5, 0x00, struct kmbox_info),
		_IOWR(0xD3, 0x05, struct kmbox_recv),
		_IOW('T', 0x04, struct kmbox_send),
		0x5401,	/* TCGETS */
		0,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		memset(self->big, 0, 2 * PAGE);
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], self->big))
			TH_LOG("cmd %#x", cmds[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("cmd %#x", cmds[i]);
	}
	expect_unchanged(_metadata, self->fd);
}

/* ---- unknown flags, reserved fields, fields that must be zero ----------- */

TEST_F(bad, send_unknown_flag_is_einval)
{
	/* bit 8 became KMBOX_F_EXPIRE: the first bit no flag uses yet */
	EXPECT_EQ(-1, kt_send(self->fd, "x", 1, 9, 1U << 9, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_high_flag_is_einval)
{
	EXPECT_EQ(-1, kt_send(self->fd, "x", 1, 9, 1U << 31, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_unknown_flag_is_einval)
{
	char buf[MSGSIZE];

	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), 1U << 3, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_reserved_nonzero_is_einval)
{
	struct kmbox_send s = { .buf = KT_PTR("x"), .len = 1, .prio = 9 };

	s.__reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND, &s));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_reserved_nonzero_is_einval)
{
	char buf[MSGSIZE];
	struct kmbox_recv r = { .buf = KT_PTR(buf), .len = sizeof(buf) };

	r.__reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, &r));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, unlink_reserved_nonzero_is_einval)
{
	struct kmbox_unlink ul = { 0 };
	char name[64];
	int fd;

	kt_name(name, sizeof(name), "ulres");
	fd = kt_create(name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	close(fd);
	ul.name = KT_PTR(name);
	ul.__reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_UNLINK, &ul));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, kt_find_mailbox(name, 0, 0, NULL, NULL));
	EXPECT_EQ(0, kt_unlink(name));
}

TEST_F(bad, send_slot_without_zc_flag_is_einval)
{
	struct kmbox_send s = {
		.buf = KT_PTR("x"), .len = 1, .prio = 9, .slot = 1,
	};

	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND, &s));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_deadline_without_timeout_flag_is_einval)
{
	EXPECT_EQ(-1, kt_send(self->fd, "x", 1, 9, 0, kt_deadline_ms(1000)));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_deadline_without_timeout_flag_is_einval)
{
	char buf[MSGSIZE];

	EXPECT_EQ(-1, kt_recv(self->fd, buf, sizeof(buf), 0,
			      kt_deadline_ms(1000), NULL));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

/* ---- priorities and sizes ----------------------------------------------- */

TEST_F(bad, send_prio_u32_max_is_einval)
{
	EXPECT_EQ(-1, kt_send(self->fd, "x", 1, 0xffffffffU, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_prio_32768_is_einval)
{
	EXPECT_EQ(-1, kt_send(self->fd, "x", 1, KMBOX_PRIO_MAX, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_len_u32_max_is_emsgsize)
{
	EXPECT_EQ(-1, kt_send(self->fd, self->big, 0xffffffffU, 0, 0, 0));
	EXPECT_EQ(EMSGSIZE, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_len_one_over_max_msgsize_is_emsgsize)
{
	EXPECT_EQ(-1, kt_send(self->fd, self->big, MSGSIZE + 1, 0, 0, 0));
	EXPECT_EQ(EMSGSIZE, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, write_of_a_gigabyte_is_emsgsize)
{
	EXPECT_EQ(-1, write(self->fd, self->big, 1UL << 30));
	EXPECT_EQ(EMSGSIZE, errno);
	expect_unchanged(_metadata, self->fd);
}

/* ---- EFAULT: payload pointers ------------------------------------------- */

TEST_F(bad, send_null_buf_is_efault)
{
	EXPECT_EQ(-1, kt_send(self->fd, NULL, 5, 9, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_prot_none_buf_is_efault)
{
	EXPECT_EQ(-1, kt_send(self->fd, self->none, 5, 9, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_unmapped_buf_is_efault)
{
	EXPECT_EQ(-1, kt_send(self->fd, self->unmapped, 5, 9, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_buf_running_into_prot_none_is_efault)
{
	EXPECT_EQ(-1, kt_send(self->fd, self->edge + PAGE - 100, 200, 9, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_kernel_address_is_efault)
{
	EXPECT_EQ(-1, kt_send(self->fd, (void *)0xffffffff81000000UL, 5, 9,
			      0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, write_null_buf_is_efault)
{
	EXPECT_EQ(-1, write(self->fd, null_ptr, 5));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, write_prot_none_buf_is_efault)
{
	EXPECT_EQ(-1, write(self->fd, self->none, 5));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_null_buf_is_efault)
{
	EXPECT_EQ(-1, kt_recv(self->fd, NULL, MSGSIZE, 0, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_read_only_buf_is_efault)
{
	EXPECT_EQ(-1, kt_recv(self->fd, self->ro, MSGSIZE, 0, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_unmapped_buf_is_efault)
{
	EXPECT_EQ(-1, kt_recv(self->fd, self->unmapped, MSGSIZE, 0, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_buf_running_into_prot_none_is_efault)
{
	/* 3 bytes of room before the hole, the message has 5 */
	EXPECT_EQ(-1, kt_recv(self->fd, self->edge + PAGE - 3, MSGSIZE, 0, 0,
			      NULL));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, read_null_buf_is_efault)
{
	EXPECT_EQ(-1, read(self->fd, null_ptr, MSGSIZE));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, read_read_only_buf_is_efault)
{
	EXPECT_EQ(-1, read(self->fd, self->ro, MSGSIZE));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

/*
 * A receive that fails with EFAULT gives nothing away either: a sender
 * asleep on the full mailbox must stay asleep (no room was made), and the
 * mailbox must never hold more than max_msgs.  The message is 1 MiB and
 * the buffer faults only at its end, so a receiver that takes the
 * message off the queue before copying leaves a long window open.
 */
static void failed_receive_with_blocked_sender(struct __test_metadata *_metadata,
					      int use_read)
{
	const size_t big = 1 << 20;
	struct kmbox_attr a;
	unsigned char *in, *area;
	pid_t pid;
	int fd, i;

	fd = kt_anon(O_RDWR, 1, big);
	ASSERT_GE(fd, 0);
	in = malloc(big);
	ASSERT_NE(NULL, in);
	kt_fill(in, big, 7);
	ASSERT_EQ(big, write(fd, in, big));
	area = map(PROT_READ | PROT_WRITE, big);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(0, mprotect(area + big - PAGE, PAGE, PROT_NONE));

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(write(fd, "second", 6) == 6);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(fd, 0, 1, 15000));
	/* a wrongly woken sender may lose the race: try a few times */
	for (i = 0; i < 10; i++) {
		if (use_read) {
			EXPECT_EQ(-1, read(fd, area, big));
		} else {
			EXPECT_EQ(-1, kt_recv(fd, area, big, 0, 0, NULL));
		}
		EXPECT_EQ(EFAULT, errno);
		kt_sleep_ms(50);
		ASSERT_EQ(0, kt_getattr(fd, &a));
		if (a.cur_msgs != 1 || a.wr_waiters != 1)
			break;
	}
	EXPECT_EQ(1, a.cur_msgs) TH_LOG("after %d failed receives", i + 1);
	EXPECT_EQ(big, a.cur_bytes);
	EXPECT_EQ(1, a.wr_waiters);

	/* the big message is still first and intact; then the sender's */
	memset(area, 0, big - PAGE);
	ASSERT_EQ(0, mprotect(area + big - PAGE, PAGE, PROT_READ | PROT_WRITE));
	ASSERT_EQ(big, read(fd, area, big));
	EXPECT_EQ(0, memcmp(in, area, big));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(6, read(fd, area, big));
	EXPECT_EQ(0, memcmp(area, "second", 6));
	free(in);
	close(fd);
}

TEST(failed_recv_does_not_admit_a_blocked_sender)
{
	KT_REQUIRE_MODULE();
	alarm(20);
	failed_receive_with_blocked_sender(_metadata, 0);
}

TEST(failed_read_does_not_admit_a_blocked_sender)
{
	KT_REQUIRE_MODULE();
	alarm(20);
	failed_receive_with_blocked_sender(_metadata, 1);
}

/* Two messages of one priority: after an EFAULT the first is still first. */
TEST(failed_recv_keeps_the_message_first_in_its_priority)
{
	char buf[16];
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR | O_NONBLOCK, 4, 16);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kt_send(fd, "one", 3, 3, 0, 0));
	ASSERT_EQ(0, kt_send(fd, "two", 3, 3, 0, 0));
	EXPECT_EQ(-1, kt_recv(fd, null_ptr, sizeof(buf), 0, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(3, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "one", 3));
	ASSERT_EQ(3, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "two", 3));
	close(fd);
}

/* A receive that fails with EFAULT neither frees room nor is an arrival. */
TEST_F(bad, failed_recv_sends_no_sigio)
{
	int sig = SIGRTMIN + 5;
	struct timespec zero = { 0, 0 };
	sigset_t set;
	siginfo_t si;

	sigemptyset(&set);
	sigaddset(&set, sig);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &set, NULL));
	ASSERT_EQ(0, fcntl(self->fd, F_SETOWN, getpid()));
	ASSERT_EQ(0, fcntl(self->fd, F_SETSIG, sig));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK | O_ASYNC));
	EXPECT_EQ(-1, kt_recv(self->fd, self->ro, MSGSIZE, 0, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, sigtimedwait(&set, &si, &zero))
		TH_LOG("got signal, si_code %d", si.si_code);
	EXPECT_EQ(EAGAIN, errno);
	expect_unchanged(_metadata, self->fd);
}

/* ---- EFAULT: the ioctl argument itself ---------------------------------- */

TEST_F(bad, every_ioctl_with_a_null_argument_is_efault)
{
	static const unsigned int cmds[] = {
		KMBOX_IOC_INFO, KMBOX_IOC_GETATTR, KMBOX_IOC_SEND,
		KMBOX_IOC_RECV, KMBOX_IOC_UNLINK,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], NULL))
			TH_LOG("nr %#x", _IOC_NR(cmds[i]));
		EXPECT_EQ(EFAULT, errno) TH_LOG("nr %#x", _IOC_NR(cmds[i]));
	}
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, send_argument_in_prot_none_page_is_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_SEND, self->none));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_argument_in_prot_none_page_is_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, self->none));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

/*
 * The kernel can read this argument but not write the reply back: the
 * call must fail without consuming the message.
 */
TEST_F(bad, recv_argument_in_read_only_page_is_efault)
{
	char buf[MSGSIZE];
	struct kmbox_recv r = { .buf = KT_PTR(buf), .len = sizeof(buf) };
	char *page = map(PROT_READ | PROT_WRITE, PAGE);

	ASSERT_NE(MAP_FAILED, page);
	memcpy(page, &r, sizeof(r));
	ASSERT_EQ(0, mprotect(page, PAGE, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, page));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, recv_argument_straddling_into_prot_none_is_efault)
{
	char buf[MSGSIZE];
	struct kmbox_recv r = { .buf = KT_PTR(buf), .len = sizeof(buf) };
	char *arg = self->edge + PAGE - sizeof(r) / 2;

	memcpy(arg, &r, sizeof(r) / 2);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_RECV, arg));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, getattr_argument_in_read_only_page_is_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_GETATTR, self->ro));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(bad, info_argument_in_read_only_page_is_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_INFO, self->ro));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

/* ---- EFAULT: names and attributes of OPEN and UNLINK -------------------- */

FIXTURE(badopen) {
	int fd;		/* unbound */
	char name[64];
	char *none, *edge;
};

FIXTURE_SETUP(badopen)
{
	KT_REQUIRE_MODULE();
	self->fd = kt_dev(O_RDWR);
	ASSERT_GE(self->fd, 0);
	kt_name(self->name, sizeof(self->name), "badopen");
	self->none = map(PROT_NONE, PAGE);
	ASSERT_NE(MAP_FAILED, self->none);
	self->edge = map(PROT_READ | PROT_WRITE, 2 * PAGE);
	ASSERT_NE(MAP_FAILED, self->edge);
	ASSERT_EQ(0, mprotect(self->edge + PAGE, PAGE, PROT_NONE));
}

FIXTURE_TEARDOWN(badopen)
{
	if (self->fd >= 0)
		close(self->fd);
	kt_unlink(self->name);
}

/* The file is still unbound and no mailbox got the name. */
static void expect_nothing_bound(struct __test_metadata *_metadata,
				 int fd, const char *name)
{
	EXPECT_EQ(-1, write(fd, "x", 1));
	EXPECT_EQ(EBADFD, errno);
	EXPECT_EQ(-1, kt_open(name, O_RDWR, 0, 0, 0, 0));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(badopen, open_null_name_is_efault)
{
	EXPECT_EQ(-1, kt_bind(self->fd, NULL, KMBOX_OPEN_CREAT, 0600, NULL));
	EXPECT_EQ(EFAULT, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

TEST_F(badopen, open_prot_none_name_is_efault)
{
	EXPECT_EQ(-1, kt_bind(self->fd, self->none, KMBOX_OPEN_CREAT, 0600,
			      NULL));
	EXPECT_EQ(EFAULT, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

TEST_F(badopen, open_name_without_nul_before_prot_none_is_efault)
{
	char *p = self->edge + PAGE - 10;

	memset(p, 'a', 10);	/* no NUL before the hole */
	EXPECT_EQ(-1, kt_bind(self->fd, p, KMBOX_OPEN_CREAT, 0600, NULL));
	EXPECT_EQ(EFAULT, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

TEST_F(badopen, open_prot_none_attr_is_efault)
{
	EXPECT_EQ(-1, kt_bind(self->fd, self->name,
			      KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600,
			      (struct kmbox_attr *)self->none));
	EXPECT_EQ(EFAULT, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

TEST_F(badopen, open_attr_straddling_into_prot_none_is_efault)
{
	struct kmbox_attr *a = (void *)(self->edge + PAGE - 8);

	memset(a, 0, 8);
	EXPECT_EQ(-1, kt_bind(self->fd, self->name,
			      KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600, a));
	EXPECT_EQ(EFAULT, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

TEST_F(badopen, open_argument_in_prot_none_page_is_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_OPEN, self->none));
	EXPECT_EQ(EFAULT, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

TEST_F(badopen, open_null_argument_is_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_OPEN, NULL));
	EXPECT_EQ(EFAULT, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

TEST_F(badopen, unlink_null_name_is_efault)
{
	struct kmbox_unlink ul = { .name = 0 };

	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_UNLINK, &ul));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(badopen, unlink_prot_none_name_is_efault)
{
	struct kmbox_unlink ul = { .name = KT_PTR(self->none) };
	int fd;

	fd = kt_create(self->name, O_RDWR, 0600, 0, 0);
	ASSERT_GE(fd, 0);
	close(fd);
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_UNLINK, &ul));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(1, kt_find_mailbox(self->name, 0, 0, NULL, NULL));
}

TEST_F(badopen, open_name_of_300_bytes_without_nul_is_enametoolong)
{
	char name[300];

	memset(name, 'l', sizeof(name));	/* no NUL at all */
	EXPECT_EQ(-1, kt_bind(self->fd, name, KMBOX_OPEN_CREAT, 0600, NULL));
	EXPECT_EQ(ENAMETOOLONG, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

TEST_F(badopen, open_anon_with_a_name_is_einval)
{
	EXPECT_EQ(-1, kt_bind(self->fd, self->name, KMBOX_OPEN_ANON, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	expect_nothing_bound(_metadata, self->fd, self->name);
}

/* ---- batch ioctls (when the module has them) ---------------------------- */

FIXTURE(badbatch) {
	int fd;
	struct kmbox_mmsg m[KMBOX_BATCH_MAX + 1];
	char buf[MSGSIZE];
};

FIXTURE_SETUP(badbatch)
{
	struct kmbox_info info;
	int i;

	KT_REQUIRE_MODULE();
	self->fd = kt_anon(O_RDWR | O_NONBLOCK, 8, MSGSIZE);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, kt_info(self->fd, &info));
	if (!(info.features & KMBOX_FEAT_BATCH))
		SKIP(_exit(255), "module has no batch ioctls (KMBOX_FEAT_BATCH clear)");
	ASSERT_EQ(0, kt_send(self->fd, "first", 5, 5, 0, 0));
	ASSERT_EQ(0, kt_send(self->fd, "second", 6, 1, 0, 0));
	for (i = 0; i <= KMBOX_BATCH_MAX; i++) {
		self->m[i].buf = KT_PTR(self->buf);
		self->m[i].len = 1;
	}
}

FIXTURE_TEARDOWN(badbatch)
{
	if (self->fd >= 0)
		close(self->fd);
}

static int batch(int fd, unsigned int cmd, struct kmbox_mmsg *m,
		 __u32 count, __u32 flags, __u64 reserved)
{
	struct kmbox_batch b = {
		.msgs = KT_PTR(m), .count = count, .flags = flags,
	};

	b.__reserved = reserved;
	return ioctl(fd, cmd, &b);
}

TEST_F(badbatch, send_batch_of_zero_is_einval)
{
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_SEND_BATCH, self->m, 0, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, send_batch_over_batch_max_is_einval)
{
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_SEND_BATCH, self->m,
			    KMBOX_BATCH_MAX + 1, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, send_batch_unknown_flag_is_einval)
{
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_SEND_BATCH, self->m, 1,
			    1U << 8, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, send_batch_reserved_nonzero_is_einval)
{
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_SEND_BATCH, self->m, 1, 0, 1));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, send_batch_entry_with_unknown_flag_is_einval)
{
	self->m[0].flags = 1U << 7;
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_SEND_BATCH, self->m, 1, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, send_batch_entry_with_bad_prio_is_einval)
{
	self->m[0].prio = KMBOX_PRIO_MAX;
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_SEND_BATCH, self->m, 1, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, send_batch_null_entries_is_efault)
{
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_SEND_BATCH, NULL, 1, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, send_batch_entry_with_null_buf_is_efault)
{
	self->m[0].buf = 0;
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_SEND_BATCH, self->m, 1, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, recv_batch_of_zero_is_einval)
{
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_RECV_BATCH, self->m, 0, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, recv_batch_unknown_flag_is_einval)
{
	self->m[0].len = MSGSIZE;
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_RECV_BATCH, self->m, 1,
			    1U << 3, 0));
	EXPECT_EQ(EINVAL, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, recv_batch_null_entries_is_efault)
{
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_RECV_BATCH, NULL, 1, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_F(badbatch, recv_batch_entry_with_null_buf_is_efault)
{
	self->m[0].buf = 0;
	self->m[0].len = MSGSIZE;
	EXPECT_EQ(-1, batch(self->fd, KMBOX_IOC_RECV_BATCH, self->m, 1, 0, 0));
	EXPECT_EQ(EFAULT, errno);
	expect_unchanged(_metadata, self->fd);
}

TEST_HARNESS_MAIN
