// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox zero-copy: the mmap-able region and the slots the kernel hands
 * out (ZC_RESERVE), queues (SEND with KMBOX_F_ZC), hands over (RECV with
 * KMBOX_F_ZC) and takes back (ZC_RELEASE, a copy-out, or a close).
 *
 * Claims, one per test: payloads of every size class arrive byte for
 * byte, read in place or copied out; zero-copy and copied messages share
 * one priority order; RESERVE blocks, fails and wakes like send and
 * recv; EPOLLWRBAND follows the free slots; zc_completed and zc_held
 * count what they document; every ownership error is EINVAL or EMSGSIZE
 * and leaves the mailbox as it was (RELEASE is all or nothing); slots of
 * a killed process come back; each misuse of the mapping is refused; a
 * peer scribbling over the region and firing garbage ioctls cannot
 * disturb two honest peers; nothing is left behind.
 *
 * A test learns that a peer sleeps in the mailbox from wr_waiters, or in
 * poll(2) from /proc/PID/stat, before it acts; every wait is bounded by a
 * deadline, a timeout or alarm().  Error paths use raw ioctls, the rest
 * the library's zero-copy calls.
 */
#define _GNU_SOURCE
#include <linux/aio_abi.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kmbox_test.h"
#include "kmbox.h"

#define NSLOTS	8
#define SLOT	4096
#define MSGS	16
#define MSGSIZE	(2 * SLOT)	/* so that the slot bounds a zc message */
#define BIG	(1U << 20)

/* Every size class of a payload, up to a whole 1 MiB slot. */
static const __u32 sizes[] = { 0, 1, 63, 64, 4095, 4096, 65536, BIG };

/* ---- helpers ------------------------------------------------------------ */

static int zt_open_attr(const char *name, int oflags, __u32 kflags,
			__u32 max_msgs, __u32 max_msgsize, __u32 nslots,
			__u32 slot_size)
{
	struct kmbox_attr a;
	int fd;

	fd = kt_dev(oflags);
	if (fd < 0)
		return -1;
	kt_attr_init(&a, max_msgs, max_msgsize);
	a.zc_slots = nslots;
	a.zc_slot_size = slot_size;
	if (kt_bind(fd, name, kflags, 0600, &a)) {
		kt_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

static int zt_anon(int oflags, __u32 max_msgs, __u32 max_msgsize,
		   __u32 nslots, __u32 slot_size)
{
	return zt_open_attr(NULL, oflags, KMBOX_OPEN_ANON, max_msgs,
			    max_msgsize, nslots, slot_size);
}

static int zt_create(const char *name, int oflags, __u32 max_msgs,
		     __u32 max_msgsize, __u32 nslots, __u32 slot_size)
{
	return zt_open_attr(name, oflags, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL,
			    max_msgs, max_msgsize, nslots, slot_size);
}

/* KMBOX_IOC_ZC_RESERVE; returns how many slots, or -1. */
static int zt_reserve(int fd, __u32 *slots, __u32 count, __u32 flags,
		      __u64 deadline_ns)
{
	struct kmbox_slots s = {
		.slots = KT_PTR(slots),
		.count = count,
		.flags = flags,
		.deadline_ns = deadline_ns,
	};

	return ioctl(fd, KMBOX_IOC_ZC_RESERVE, &s);
}

/* Reserve exactly @n slots without sleeping; returns @n or -1. */
static int zt_reserve_n(int fd, __u32 *slots, unsigned int n)
{
	unsigned int got = 0;
	int ret;

	while (got < n) {
		ret = zt_reserve(fd, slots + got, n - got, KMBOX_F_NONBLOCK, 0);
		if (ret <= 0) {
			if (!ret)
				errno = EPROTO;
			return -1;
		}
		got += ret;
	}
	return got;
}

/* Reserve every free slot (at most @max); returns how many, or -1. */
static int zt_reserve_all(int fd, __u32 *slots, unsigned int max)
{
	unsigned int got = 0;
	int ret;

	while (got < max) {
		ret = zt_reserve(fd, slots + got, max - got, KMBOX_F_NONBLOCK,
				 0);
		if (ret < 0 && errno == EAGAIN)
			break;
		if (ret <= 0) {
			if (!ret)
				errno = EPROTO;
			return -1;
		}
		got += ret;
	}
	return got;
}

static int zt_release(int fd, const __u32 *slots, __u32 count)
{
	struct kmbox_slots s = {
		.slots = KT_PTR(slots),
		.count = count,
	};

	return ioctl(fd, KMBOX_IOC_ZC_RELEASE, &s);
}

/* SEND with KMBOX_F_ZC: queue @slot, @len bytes at @prio. */
static int zt_commit(int fd, __u32 slot, __u32 len, __u32 prio, __u32 flags,
		     __u64 deadline_ns)
{
	struct kmbox_send s = {
		.len = len,
		.prio = prio,
		.flags = KMBOX_F_ZC | flags,
		.slot = slot,
		.deadline_ns = deadline_ns,
	};

	return ioctl(fd, KMBOX_IOC_SEND, &s);
}

/* RECV with KMBOX_F_ZC and no buffer; returns the length or -1. */
static int zt_recv(int fd, struct kmbox_recv *r, __u32 flags)
{
	return kt_recv(fd, NULL, 0, KMBOX_F_ZC | flags, 0, r);
}

static struct timespec zt_ts(unsigned int ms)
{
	uint64_t ns = kt_deadline_ms(ms);
	struct timespec ts = {
		.tv_sec = ns / 1000000000ULL,
		.tv_nsec = ns % 1000000000ULL,
	};

	return ts;
}

static long zt_free(int fd)
{
	struct kmbox_attr a;

	return kt_getattr(fd, &a) ? -1 : (long)a.zc_free;
}

static long zt_held(int fd)
{
	struct kmbox_attr a;

	return kt_getattr(fd, &a) ? -1 : (long)a.zc_held;
}

static long long zt_completed(int fd)
{
	struct kmbox_attr a;

	return kt_getattr(fd, &a) ? -1 : (long long)a.zc_completed;
}

/* What an error path must leave as it was. */
struct zt_state {
	__u32 cur_msgs, zc_free, zc_held;
	__u64 cur_bytes;
};

static int zt_get_state(int fd, struct zt_state *s)
{
	struct kmbox_attr a;

	if (kt_getattr(fd, &a))
		return -1;
	s->cur_msgs = a.cur_msgs;
	s->cur_bytes = a.cur_bytes;
	s->zc_free = a.zc_free;
	s->zc_held = a.zc_held;
	return 0;
}

#define EXPECT_STATE_UNCHANGED(fd, before) do {				\
	struct zt_state _now;						\
									\
	ASSERT_EQ(0, zt_get_state(fd, &_now));				\
	EXPECT_EQ((before).cur_msgs, _now.cur_msgs);			\
	EXPECT_EQ((before).cur_bytes, _now.cur_bytes);			\
	EXPECT_EQ((before).zc_free, _now.zc_free);			\
	EXPECT_EQ((before).zc_held, _now.zc_held);			\
} while (0)

/* Wait until @pid sleeps (state S in /proc/PID/stat), up to @ms. */
static int zt_wait_sleeping(pid_t pid, unsigned int ms)
{
	uint64_t end = kt_deadline_ms(ms);
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	do {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return 0;
		}
		kt_sleep_ms(2);
	} while (kt_now_ns() < end);
	errno = ETIMEDOUT;
	return -1;
}

/* Read one byte from pipe @fd within @ms; returns 1, or 0/-1. */
static int zt_read_byte(int fd, unsigned int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return read(fd, &c, 1);
}

static uint32_t zt_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void *zt_shared_page(void)
{
	return mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
}

/* ---- fixtures ----------------------------------------------------------- */

FIXTURE(zc) {
	int fd;			/* anonymous, O_RDWR, blocking */
	struct kmbox_region r;	/* its region, mapped read-write */
};

FIXTURE_SETUP(zc)
{
	KT_REQUIRE_MODULE();
	memset(&self->r, 0, sizeof(self->r));
	self->fd = zt_anon(O_RDWR, MSGS, MSGSIZE, NSLOTS, SLOT);
	ASSERT_GE(self->fd, 0) TH_LOG("anon with region: %s", strerror(errno));
	ASSERT_EQ(0, kmbox_region_map(self->fd, &self->r))
		TH_LOG("map: %s", strerror(errno));
	ASSERT_EQ(NSLOTS, self->r.nslots);
	ASSERT_EQ(SLOT, self->r.slot_size);
	alarm(25);
}

FIXTURE_TEARDOWN(zc)
{
	alarm(0);
	if (self->r.base)
		kmbox_region_unmap(&self->r);
	if (self->fd >= 0)
		close(self->fd);
}

FIXTURE(two) {
	char name[64];
	int a, b;			/* two O_RDWR files, one mailbox */
	struct kmbox_region ra, rb;	/* the region mapped through each */
};

FIXTURE_SETUP(two)
{
	KT_REQUIRE_MODULE();
	self->a = self->b = -1;
	memset(&self->ra, 0, sizeof(self->ra));
	memset(&self->rb, 0, sizeof(self->rb));
	kt_name(self->name, sizeof(self->name), "zc");
	self->a = zt_create(self->name, O_RDWR, MSGS, MSGSIZE, NSLOTS, SLOT);
	ASSERT_GE(self->a, 0) TH_LOG("create: %s", strerror(errno));
	self->b = kt_open(self->name, O_RDWR, 0, 0, 0, 0);
	ASSERT_GE(self->b, 0) TH_LOG("open: %s", strerror(errno));
	ASSERT_EQ(0, kmbox_region_map(self->a, &self->ra));
	ASSERT_EQ(0, kmbox_region_map(self->b, &self->rb));
	alarm(25);
}

FIXTURE_TEARDOWN(two)
{
	alarm(0);
	if (self->ra.base)
		kmbox_region_unmap(&self->ra);
	if (self->rb.base)
		kmbox_region_unmap(&self->rb);
	if (self->a >= 0)
		close(self->a);
	if (self->b >= 0)
		close(self->b);
	kt_unlink(self->name);
}

/* ---- /proc: slots per state --------------------------------------------- */

/* The /proc line of @name: slots per state must add up to all slots. */
#define ZT_PROC_STATES(name, f, r, q, t, h) do {				\
	struct kt_mbline _m;						\
									\
	ASSERT_EQ(1, kt_find_mailbox(name, 0, 0, &_m, NULL));		\
	EXPECT_EQ(NSLOTS, _m.zc_slots);					\
	EXPECT_EQ((unsigned long)(f), _m.zc_free);			\
	EXPECT_EQ((unsigned long)(r), _m.zc_reserved);			\
	EXPECT_EQ((unsigned long)(q), _m.zc_queued);			\
	EXPECT_EQ((unsigned long)(t), _m.zc_taken);			\
	EXPECT_EQ((unsigned long)(h), _m.zc_held);			\
	EXPECT_EQ(_m.zc_slots, _m.zc_free + _m.zc_reserved + _m.zc_queued + \
		  _m.zc_taken + _m.zc_held);				\
	EXPECT_EQ(0, _m.inflight);					\
} while (0)

TEST_F(two, proc_lists_the_slots_of_each_state)
{
	struct kmbox_recv r;
	char buf[16];
	__u32 s[3];

	ZT_PROC_STATES(self->name, NSLOTS, 0, 0, 0, 0);
	ASSERT_EQ(3, zt_reserve(self->a, s, 3, KMBOX_F_NONBLOCK, 0));
	ZT_PROC_STATES(self->name, NSLOTS - 3, 3, 0, 0, 0);
	ASSERT_EQ(0, zt_commit(self->a, s[0], 1, 0, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->a, s[1], 1, 0, KMBOX_F_NONBLOCK, 0));
	ZT_PROC_STATES(self->name, NSLOTS - 3, 1, 2, 0, 0);
	ASSERT_EQ(1, zt_recv(self->b, &r, KMBOX_F_NONBLOCK | KMBOX_F_ZC));
	ASSERT_EQ(s[0], r.slot);
	ZT_PROC_STATES(self->name, NSLOTS - 3, 1, 1, 0, 1);
	ASSERT_EQ(0, zt_release(self->b, &r.slot, 1));
	ASSERT_EQ(0, zt_release(self->a, &s[2], 1));
	ZT_PROC_STATES(self->name, NSLOTS - 1, 0, 1, 0, 0);
	/* A copying receive frees the slot. */
	ASSERT_EQ(1, kt_recv(self->b, buf, sizeof(buf), KMBOX_F_NONBLOCK, 0, &r));
	ZT_PROC_STATES(self->name, NSLOTS, 0, 0, 0, 0);
}

/* ---- round trips -------------------------------------------------------- */

TEST(every_size_class_roundtrips_in_place_in_one_process)
{
	struct kmbox_msginfo info;
	struct kmbox_region r;
	struct kmbox_attr a;
	uint32_t slot, got;
	unsigned int i;
	int fd;

	KT_REQUIRE_MODULE();
	alarm(25);
	fd = zt_anon(O_RDWR, 4, BIG, 2, BIG);
	ASSERT_GE(fd, 0) TH_LOG("anon, 2 x 1 MiB: %s", strerror(errno));
	ASSERT_EQ(0, kmbox_region_map(fd, &r));
	ASSERT_TRUE(r.writable);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot, 1, KMBOX_F_NONBLOCK,
					      NULL));
		kt_fill(kmbox_slot_ptr(&r, slot), sizes[i], i + 1);
		ASSERT_EQ(0, kmbox_zc_send(fd, slot, sizes[i], i,
					   KMBOX_F_NONBLOCK, NULL))
			TH_LOG("size %u: %s", sizes[i], strerror(errno));
		got = 12345;
		ASSERT_EQ(sizes[i], kmbox_zc_receive(fd, NULL, 0, &info, &got,
						     NULL));
		EXPECT_EQ(slot, got);
		EXPECT_EQ(KMBOX_MSG_ZC, info.flags);
		EXPECT_EQ(i, info.prio);
		EXPECT_TRUE(kt_check_fill(kmbox_slot_ptr(&r, got), sizes[i],
					  i + 1)) TH_LOG("size %u", sizes[i]);
		ASSERT_EQ(0, kmbox_zc_release(fd, &got, 1));
	}
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(0, a.cur_msgs);
	EXPECT_EQ(2, a.zc_free);
	EXPECT_EQ(0, a.zc_held);
	EXPECT_EQ(ARRAY_SIZE(sizes), a.zc_completed);
	kmbox_region_unmap(&r);
	close(fd);
}

TEST(every_size_class_roundtrips_in_place_across_fork)
{
	__u32 slots[ARRAY_SIZE(sizes)];
	struct kmbox_region r;
	struct kmbox_attr a;
	char name[64];
	unsigned int i;
	pid_t pid;
	int fd;

	KT_REQUIRE_MODULE();
	alarm(25);
	kt_name(name, sizeof(name), "fork");
	fd = zt_create(name, O_RDWR, ARRAY_SIZE(sizes), BIG,
		       ARRAY_SIZE(sizes), BIG);
	ASSERT_GE(fd, 0) TH_LOG("create, 8 x 1 MiB: %s", strerror(errno));
	ASSERT_EQ(0, kmbox_region_map(fd, &r));

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_msginfo info;
		struct kmbox_region rr;
		struct timespec ts;
		uint32_t slot;
		int rfd;

		/* its own file and its own read-only mapping */
		rfd = kt_open(name, O_RDONLY, 0, 0, 0, 0);
		CHILD_ASSERT(rfd >= 0);
		CHILD_ASSERT(kmbox_region_map(rfd, &rr) == 0);
		CHILD_ASSERT(!rr.writable);
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			ts = zt_ts(15000);
			CHILD_ASSERT(kmbox_zc_receive(rfd, NULL, 0, &info,
						      &slot, &ts) ==
				     (ssize_t)sizes[i]);
			CHILD_ASSERT(info.flags == KMBOX_MSG_ZC);
			CHILD_ASSERT(info.pid == getppid());
			CHILD_ASSERT(kt_check_fill(kmbox_slot_ptr(&rr, slot),
						   sizes[i], 100 + i));
			CHILD_ASSERT(kmbox_zc_release(rfd, &slot, 1) == 0);
		}
		_exit(0);
	}

	ASSERT_EQ(ARRAY_SIZE(sizes), zt_reserve_n(fd, slots,
						  ARRAY_SIZE(sizes)));
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		kt_fill(kmbox_slot_ptr(&r, slots[i]), sizes[i], 100 + i);
		ASSERT_EQ(0, kmbox_zc_send(fd, slots[i], sizes[i], 0, 0, NULL))
			TH_LOG("size %u: %s", sizes[i], strerror(errno));
	}
	EXPECT_EQ(0, kt_wait(pid));
	ASSERT_EQ(0, kt_getattr(fd, &a));
	EXPECT_EQ(ARRAY_SIZE(sizes), a.zc_completed);
	EXPECT_EQ(ARRAY_SIZE(sizes), a.zc_free);
	EXPECT_EQ(0, a.cur_msgs);
	kmbox_region_unmap(&r);
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST(read_of_a_zc_message_copies_every_size_class_and_frees_the_slot)
{
	struct kmbox_region r;
	struct kmbox_attr a;
	unsigned int i;
	uint32_t slot;
	char *buf;
	int fd;

	KT_REQUIRE_MODULE();
	alarm(25);
	buf = malloc(BIG);
	ASSERT_NE(NULL, buf);
	fd = zt_anon(O_RDWR | O_NONBLOCK, 4, BIG, 1, BIG);
	ASSERT_GE(fd, 0) TH_LOG("anon, 1 x 1 MiB: %s", strerror(errno));
	ASSERT_EQ(0, kmbox_region_map(fd, &r));
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		/* one slot: each round needs the previous one back */
		ASSERT_EQ(1, kmbox_zc_reserve(fd, &slot, 1, 0, NULL))
			TH_LOG("size %u: %s", sizes[i], strerror(errno));
		kt_fill(kmbox_slot_ptr(&r, slot), sizes[i], 7 + i);
		ASSERT_EQ(0, kmbox_zc_send(fd, slot, sizes[i], 0, 0, NULL));
		memset(buf, 0, sizes[i]);
		ASSERT_EQ(sizes[i], read(fd, buf, BIG));
		EXPECT_TRUE(kt_check_fill(buf, sizes[i], 7 + i))
			TH_LOG("size %u", sizes[i]);
		ASSERT_EQ(0, kt_getattr(fd, &a));
		EXPECT_EQ(1, a.zc_free);
		EXPECT_EQ(0, a.zc_held);
		EXPECT_EQ(i + 1, a.zc_completed);
		EXPECT_EQ(0, a.cur_msgs);
	}
	kmbox_region_unmap(&r);
	close(fd);
	free(buf);
}

/*
 * The region's pages are allocated in runs of several sizes (module/
 * region.c): the mapping and the kernel's own view of them (what read()
 * copies out) must be the same pages in the same order, zeroed, across
 * every run.  Regions of 7 pages (runs of 4, 2 and 1 page when memory is
 * not fragmented) and of 5 x 1 MiB (runs of 2, 2 and 1 MiB): every page
 * gets its own pattern through the mapping and is read back by copy.
 */
TEST(the_mapping_and_the_kernel_see_every_page_of_the_region_in_order)
{
	static const struct { __u32 nslots, slot_size; } shapes[] = {
		{ 7, 4096 }, { 5, 1U << 20 },
	};
	unsigned int k;

	KT_REQUIRE_MODULE();
	alarm(60);
	for (k = 0; k < ARRAY_SIZE(shapes); k++) {
		__u32 n = shapes[k].nslots, size = shapes[k].slot_size, i, slot, slots[8];
		struct kmbox_region r;
		size_t off;
		char *buf = malloc(size);
		int fd;

		ASSERT_NE(NULL, buf);
		fd = zt_anon(O_RDWR | O_NONBLOCK, n, size, n, size);
		ASSERT_GE(fd, 0) TH_LOG("%u x %u: %s", n, size, strerror(errno));
		ASSERT_EQ(0, kmbox_region_map(fd, &r));
		for (off = 0; off < (size_t)n * size; off++)
			if (((char *)r.base)[off])
				break;
		EXPECT_EQ((size_t)n * size, off) TH_LOG("%u x %u: byte %zu not zero", n, size, off);
		/* every page its own pattern, through the mapping */
		for (off = 0; off < (size_t)n * size; off += 4096)
			kt_fill((char *)r.base + off, 4096, (uint32_t)(k * 100000 + off / 4096));
		/* all of them first: a slot read by copy is free again */
		ASSERT_EQ(n, kmbox_zc_reserve(fd, slots, n, 0, NULL));
		for (i = 0; i < n; i++) {
			slot = slots[i];
			ASSERT_EQ(0, kmbox_zc_send(fd, slot, size, 0, 0, NULL));
			ASSERT_EQ(size, read(fd, buf, size));
			for (off = 0; off < size; off += 4096) {
				size_t page = ((size_t)slot * size + off) / 4096;

				EXPECT_TRUE(kt_check_fill(buf + off, 4096, (uint32_t)(k * 100000 + page)))
					TH_LOG("%u x %u: slot %u, page %zu of the region", n, size, slot, page);
			}
		}
		kmbox_region_unmap(&r);
		close(fd);
		free(buf);
	}
}

TEST_F(zc, recv_without_zc_flag_copies_a_zc_message_and_frees_the_slot)
{
	struct kmbox_recv r;
	char buf[MSGSIZE];
	__u32 slot;

	ASSERT_EQ(1, zt_reserve(self->fd, &slot, 1, KMBOX_F_NONBLOCK, 0));
	kt_fill(kmbox_slot_ptr(&self->r, slot), 300, 5);
	ASSERT_EQ(0, zt_commit(self->fd, slot, 300, 9, 0, 0));
	EXPECT_EQ(300, kt_recv(self->fd, buf, sizeof(buf), KMBOX_F_NONBLOCK,
			       0, &r));
	EXPECT_TRUE(kt_check_fill(buf, 300, 5));
	EXPECT_EQ(0, r.msg_flags);
	EXPECT_EQ(KMBOX_NO_SLOT, r.slot);
	EXPECT_EQ(9, r.prio);
	EXPECT_EQ(NSLOTS, zt_free(self->fd));
	EXPECT_EQ(0, zt_held(self->fd));
}

TEST_F(zc, read_short_buffer_of_a_zc_message_is_emsgsize_and_it_stays)
{
	struct zt_state before;
	struct kmbox_recv r;
	char buf[MSGSIZE];
	__u32 slot;

	ASSERT_EQ(1, zt_reserve(self->fd, &slot, 1, KMBOX_F_NONBLOCK, 0));
	kt_fill(kmbox_slot_ptr(&self->r, slot), 100, 6);
	ASSERT_EQ(0, zt_commit(self->fd, slot, 100, 0, 0, 0));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, read(self->fd, buf, 99));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
	/* still queued, in the same slot */
	ASSERT_EQ(100, zt_recv(self->fd, &r, KMBOX_F_NONBLOCK));
	EXPECT_EQ(slot, r.slot);
	EXPECT_TRUE(kt_check_fill(kmbox_slot_ptr(&self->r, slot), 100, 6));
}

/* ---- order and priority -------------------------------------------------- */

/* Kind and priority of message i; its 4-byte payload is i. */
static const struct {
	int zc;
	__u32 prio;
} mix[] = {
	{ 0, 1 }, { 1, 5 }, { 0, 5 }, { 1, 0 }, { 1, 5 },
	{ 0, 0 }, { 1, 1 }, { 0, 5 }, { 1, 1 }, { 0, 0 },
};

static void send_mix(struct __test_metadata *_metadata, int fd,
		     const struct kmbox_region *r)
{
	__u32 i, slot;

	for (i = 0; i < ARRAY_SIZE(mix); i++) {
		if (!mix[i].zc) {
			ASSERT_EQ(0, kt_send(fd, &i, sizeof(i), mix[i].prio,
					     KMBOX_F_NONBLOCK, 0));
			continue;
		}
		ASSERT_EQ(1, zt_reserve(fd, &slot, 1, KMBOX_F_NONBLOCK, 0));
		memcpy(kmbox_slot_ptr(r, slot), &i, sizeof(i));
		ASSERT_EQ(0, zt_commit(fd, slot, sizeof(i), mix[i].prio,
				       KMBOX_F_NONBLOCK, 0));
	}
}

/* Indices of mix[] in the expected order: higher prio first, then FIFO. */
static void mix_order(__u32 *order)
{
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(mix); i++) {
		for (j = i; j > 0 && mix[order[j - 1]].prio < mix[i].prio; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
}

TEST_F(zc, copied_and_zc_messages_come_out_by_priority_then_fifo)
{
	__u32 order[ARRAY_SIZE(mix)], v;
	struct kmbox_recv r;
	unsigned int i;
	char buf[16];

	send_mix(_metadata, self->fd, &self->r);
	mix_order(order);
	for (i = 0; i < ARRAY_SIZE(mix); i++) {
		const __u32 want = order[i];

		ASSERT_EQ(sizeof(v), kt_recv(self->fd, buf, sizeof(buf),
					     KMBOX_F_ZC | KMBOX_F_NONBLOCK, 0,
					     &r)) TH_LOG("position %u", i);
		EXPECT_EQ(mix[want].prio, r.prio);
		if (mix[want].zc) {
			EXPECT_EQ(KMBOX_MSG_ZC, r.msg_flags);
			ASSERT_LT(r.slot, NSLOTS);
			memcpy(&v, kmbox_slot_ptr(&self->r, r.slot), sizeof(v));
			ASSERT_EQ(0, zt_release(self->fd, &r.slot, 1));
		} else {
			EXPECT_EQ(0, r.msg_flags);
			EXPECT_EQ(KMBOX_NO_SLOT, r.slot);
			memcpy(&v, buf, sizeof(v));
		}
		EXPECT_EQ(want, v) TH_LOG("position %u", i);
	}
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
	EXPECT_EQ(NSLOTS, zt_free(self->fd));
}

TEST_F(zc, read_takes_copied_and_zc_messages_in_the_same_order)
{
	__u32 order[ARRAY_SIZE(mix)], v;
	unsigned int i;
	char buf[16];

	send_mix(_metadata, self->fd, &self->r);
	mix_order(order);
	for (i = 0; i < ARRAY_SIZE(mix); i++) {
		ASSERT_EQ(sizeof(v), read(self->fd, buf, sizeof(buf)));
		memcpy(&v, buf, sizeof(v));
		EXPECT_EQ(order[i], v) TH_LOG("position %u", i);
	}
	EXPECT_EQ(NSLOTS, zt_free(self->fd));
}

/* ---- blocking, non-blocking, deadlines, signals, poll ------------------- */

TEST_F(zc, reserve_with_all_slots_taken_and_f_nonblock_is_eagain)
{
	struct zt_state before;
	__u32 all[NSLOTS], extra = 12345;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(0, before.zc_free);
	EXPECT_EQ(-1, zt_reserve(self->fd, &extra, 1, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(12345, extra);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, reserve_with_all_slots_taken_on_o_nonblock_file_is_eagain)
{
	struct zt_state before;
	__u32 all[NSLOTS], extra;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_reserve(self->fd, &extra, 1, 0, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, reserve_with_all_slots_taken_and_past_deadline_is_etimedout)
{
	struct zt_state before;
	__u32 all[NSLOTS], extra;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_reserve(self->fd, &extra, 1, KMBOX_F_TIMEOUT,
				 kt_now_ns() - 1000000));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, reserve_with_all_slots_taken_sleeps_until_near_deadline)
{
	__u32 all[NSLOTS], extra;
	__u64 deadline;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	deadline = kt_deadline_ms(100);
	EXPECT_EQ(-1, zt_reserve(self->fd, &extra, 1, KMBOX_F_TIMEOUT,
				 deadline));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_LE(deadline, kt_now_ns());
	EXPECT_GT(deadline + 10000000000ULL, kt_now_ns());
	EXPECT_EQ(NSLOTS, zt_held(self->fd));
}

TEST_F(zc, reserve_with_past_deadline_and_a_free_slot_succeeds)
{
	__u32 slot = 12345;

	EXPECT_EQ(1, zt_reserve(self->fd, &slot, 1, KMBOX_F_TIMEOUT,
				kt_now_ns() - 1000000));
	EXPECT_LT(slot, NSLOTS);
	EXPECT_EQ(1, zt_held(self->fd));
}

TEST_F(two, blocked_reserve_is_woken_by_a_release_in_another_process)
{
	__u32 all[NSLOTS];
	pid_t pid;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->a, all, NSLOTS));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		__u32 slot = 12345;

		CHILD_ASSERT(zt_reserve(self->b, &slot, 1, KMBOX_F_TIMEOUT,
					kt_deadline_ms(15000)) == 1);
		CHILD_ASSERT(slot == all[3]);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->a, 0, 1, 15000));
	ASSERT_EQ(0, zt_release(self->a, &all[3], 1));
	EXPECT_EQ(0, kt_wait(pid));
	/* the child's reservation belongs to the file it shares with us */
	EXPECT_EQ(1, zt_held(self->b));
	EXPECT_EQ(NSLOTS - 1, zt_held(self->a));
	EXPECT_EQ(0, zt_free(self->a));
}

TEST_F(two, release_of_two_slots_wakes_two_blocked_reservers)
{
	/* got[0], got[1]: each child's slot; got[2]: children may exit */
	volatile __u32 *got;
	__u32 all[NSLOTS];
	uint64_t end;
	pid_t pid[2];
	int i;

	got = zt_shared_page();
	ASSERT_NE(MAP_FAILED, got);
	got[0] = got[1] = KMBOX_NO_SLOT;
	got[2] = 0;
	ASSERT_EQ(NSLOTS, zt_reserve_all(self->a, all, NSLOTS));
	for (i = 0; i < 2; i++) {
		pid[i] = kt_fork(20);
		ASSERT_GE(pid[i], 0);
		if (pid[i] == 0) {
			int fd = kt_open(self->name, O_RDWR, 0, 0, 0, 0);
			__u32 slot;

			CHILD_ASSERT(fd >= 0);
			CHILD_ASSERT(zt_reserve(fd, &slot, 1, KMBOX_F_TIMEOUT,
						kt_deadline_ms(15000)) == 1);
			got[i] = slot;
			/*
			 * Keep the slot (exit would close the file and free
			 * it) until the other child has its own.
			 */
			end = kt_deadline_ms(15000);
			while (!got[2] && kt_now_ns() < end)
				kt_sleep_ms(2);
			_exit(0);
		}
	}
	ASSERT_EQ(0, kt_wait_waiters(self->a, 0, 2, 15000));
	ASSERT_EQ(0, zt_release(self->a, &all[1], 2));
	/* one release, two slots: both sleepers must get one */
	end = kt_deadline_ms(15000);
	while ((got[0] == KMBOX_NO_SLOT || got[1] == KMBOX_NO_SLOT) &&
	       kt_now_ns() < end)
		kt_sleep_ms(2);
	EXPECT_NE(KMBOX_NO_SLOT, got[0]);
	EXPECT_NE(KMBOX_NO_SLOT, got[1]);
	EXPECT_NE(got[0], got[1]);
	EXPECT_TRUE(got[0] == all[1] || got[0] == all[2]);
	EXPECT_TRUE(got[1] == all[1] || got[1] == all[2]);
	EXPECT_EQ(0, zt_free(self->a));
	got[2] = 1;
	EXPECT_EQ(0, kt_wait(pid[0]));
	EXPECT_EQ(0, kt_wait(pid[1]));
	/* their files closed when they exited: the slots are free again */
	EXPECT_EQ(2, zt_free(self->a));
}

TEST_F(two, blocked_reserve_is_woken_when_a_reader_copies_out_the_slot)
{
	__u32 all[NSLOTS];
	char buf[MSGSIZE];
	pid_t pid;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->a, all, NSLOTS));
	ASSERT_EQ(0, zt_commit(self->a, all[5], 10, 0, 0, 0));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		__u32 slot = 12345;
		int fd = kt_open(self->name, O_WRONLY, 0, 0, 0, 0);

		CHILD_ASSERT(fd >= 0);
		CHILD_ASSERT(zt_reserve(fd, &slot, 1, KMBOX_F_TIMEOUT,
					kt_deadline_ms(15000)) == 1);
		CHILD_ASSERT(slot == all[5]);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->a, 0, 1, 15000));
	ASSERT_EQ(10, read(self->b, buf, sizeof(buf)));
	EXPECT_EQ(0, kt_wait(pid));
}

static volatile sig_atomic_t nsig;

static void count_sig(int sig)
{
	nsig++;
}

/* A helper that signals @target once the mailbox has a sleeping sender. */
static pid_t signal_when_reserver_sleeps(int fd, pid_t target, int sig)
{
	pid_t pid = kt_fork(20);

	if (pid == 0) {
		CHILD_ASSERT(kt_wait_waiters(fd, 0, 1, 15000) == 0);
		CHILD_ASSERT(kill(target, sig) == 0);
		_exit(0);
	}
	return pid;
}

TEST_F(zc, blocked_reserve_interrupted_by_a_signal_is_eintr)
{
	__u32 all[NSLOTS], extra = 12345;
	struct zt_state before;
	pid_t pid;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	nsig = 0;
	ASSERT_EQ(0, kt_sigaction(SIGUSR1, count_sig, 0));
	pid = signal_when_reserver_sleeps(self->fd, getpid(), SIGUSR1);
	ASSERT_GE(pid, 0);
	EXPECT_EQ(-1, zt_reserve(self->fd, &extra, 1, KMBOX_F_TIMEOUT,
				 kt_deadline_ms(15000)));
	EXPECT_EQ(EINTR, errno);
	EXPECT_EQ(1, nsig);
	EXPECT_EQ(12345, extra);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, blocked_reserve_restarts_after_an_sa_restart_signal)
{
	__u32 all[NSLOTS], extra = 12345;
	pid_t pid;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	nsig = 0;
	ASSERT_EQ(0, kt_sigaction(SIGUSR1, count_sig, SA_RESTART));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_wait_waiters(self->fd, 0, 1, 15000) == 0);
		CHILD_ASSERT(kill(getppid(), SIGUSR1) == 0);
		kt_sleep_ms(50);
		/* same file as the parent's: it may give back its slot */
		CHILD_ASSERT(zt_release(self->fd, &all[2], 1) == 0);
		_exit(0);
	}
	EXPECT_EQ(1, zt_reserve(self->fd, &extra, 1, KMBOX_F_TIMEOUT,
				kt_deadline_ms(15000)));
	EXPECT_EQ(all[2], extra);
	EXPECT_EQ(1, nsig);
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(NSLOTS, zt_held(self->fd));
}

TEST_F(zc, poll_reports_wrband_only_while_a_slot_is_free)
{
	struct pollfd pfd = {
		.fd = self->fd,
		.events = POLLOUT | POLLWRNORM | POLLWRBAND,
	};
	__u32 all[NSLOTS];

	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLOUT | POLLWRNORM | POLLWRBAND, pfd.revents);
	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLOUT | POLLWRNORM, pfd.revents);
	ASSERT_EQ(0, zt_release(self->fd, &all[0], 1));
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLOUT | POLLWRNORM | POLLWRBAND, pfd.revents);
}

TEST_F(zc, poll_sleeping_for_wrband_is_woken_by_a_release)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLWRBAND };
	__u32 all[NSLOTS];
	uint64_t t0;
	pid_t pid;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(zt_wait_sleeping(getppid(), 15000) == 0);
		CHILD_ASSERT(zt_release(self->fd, &all[4], 1) == 0);
		_exit(0);
	}
	t0 = kt_now_ns();
	EXPECT_EQ(1, poll(&pfd, 1, 15000));
	EXPECT_EQ(POLLWRBAND, pfd.revents);
	EXPECT_GT(t0 + 15000000000ULL, kt_now_ns());
	EXPECT_EQ(0, kt_wait(pid));
}

/*
 * A file polls on one wait queue per direction (EPOLLWRBAND shares the
 * writers'), so that aio and io_uring, whose poll takes one or two
 * queues, can wait on it: an aio POLLWRBAND of a write-only file
 * completes when a slot comes free.
 */
static int zt_aio_poll(int fd, short events, int *res)
{
	aio_context_t ctx = 0;
	struct iocb cb = { 0 }, *cbs[1] = { &cb };
	struct io_event ev;
	struct timespec ts = { .tv_sec = 15 };
	int ret = -1;

	if (syscall(SYS_io_setup, 1, &ctx))
		return -2;
	cb.aio_fildes = fd;
	cb.aio_lio_opcode = IOCB_CMD_POLL;
	cb.aio_buf = events;
	if (syscall(SYS_io_submit, ctx, 1, cbs) == 1 &&
	    syscall(SYS_io_getevents, ctx, 1, 1, &ev, &ts) == 1) {
		*res = ev.res;
		ret = 0;
	}
	syscall(SYS_io_destroy, ctx);
	return ret;
}

TEST_F(two, aio_poll_of_a_write_only_file_waits_for_a_free_slot)
{
	__u32 all[NSLOTS];
	int wfd, res = 0, ret;
	pid_t pid;

	wfd = kt_open(self->name, O_WRONLY, 0, 0, 0, 0);
	ASSERT_GE(wfd, 0);
	ASSERT_EQ(NSLOTS, zt_reserve_all(self->a, all, NSLOTS));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(zt_wait_sleeping(getppid(), 15000) == 0);
		CHILD_ASSERT(zt_release(self->a, &all[2], 1) == 0);
		_exit(0);
	}
	ret = zt_aio_poll(wfd, POLLWRBAND, &res);
	if (ret == -2) {
		kill(pid, SIGKILL);
		kt_wait(pid);
		close(wfd);
		SKIP(return, "no aio in this kernel (io_setup: %s)", strerror(errno));
	}
	EXPECT_EQ(0, ret) TH_LOG("aio poll: %s", strerror(errno));
	EXPECT_EQ(POLLWRBAND, res & (POLLWRBAND | POLLIN));
	EXPECT_EQ(0, kt_wait(pid));
	close(wfd);
}

TEST_F(zc, poll_sleeping_for_wrband_is_woken_by_a_copy_out)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLWRBAND };
	__u32 all[NSLOTS];
	pid_t pid;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	ASSERT_EQ(0, zt_commit(self->fd, all[0], 3, 0, 0, 0));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char buf[MSGSIZE];

		CHILD_ASSERT(zt_wait_sleeping(getppid(), 15000) == 0);
		CHILD_ASSERT(read(self->fd, buf, sizeof(buf)) == 3);
		_exit(0);
	}
	EXPECT_EQ(1, poll(&pfd, 1, 15000));
	EXPECT_EQ(POLLWRBAND, pfd.revents);
	EXPECT_EQ(0, kt_wait(pid));
}

/* A mailbox of 2 messages and 4 slots: the queue fills before the slots. */
FIXTURE(full) {
	int fd;
	struct kmbox_region r;
	__u32 s[3];		/* s[0], s[1] queued; s[2] reserved */
};

FIXTURE_SETUP(full)
{
	KT_REQUIRE_MODULE();
	memset(&self->r, 0, sizeof(self->r));
	self->fd = zt_anon(O_RDWR, 2, SLOT, 4, SLOT);
	ASSERT_GE(self->fd, 0) TH_LOG("anon: %s", strerror(errno));
	ASSERT_EQ(0, kmbox_region_map(self->fd, &self->r));
	ASSERT_EQ(3, zt_reserve_n(self->fd, self->s, 3));
	ASSERT_EQ(0, zt_commit(self->fd, self->s[0], 1, 0, 0, 0));
	ASSERT_EQ(0, zt_commit(self->fd, self->s[1], 2, 0, 0, 0));
	alarm(25);
}

FIXTURE_TEARDOWN(full)
{
	alarm(0);
	if (self->r.base)
		kmbox_region_unmap(&self->r);
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * A zero-copy sender asleep for room whose slot is released meanwhile (by
 * another process sharing its file) wakes with EINVAL; it must pass the
 * room on, or a second sender asleep behind it sleeps on with room free.
 */
TEST_F(full, sender_failing_after_its_wake_up_passes_the_room_on)
{
	pid_t zc, copy;

	zc = kt_fork(20);
	ASSERT_GE(zc, 0);
	if (zc == 0) {
		CHILD_ASSERT(zt_commit(self->fd, self->s[2], 3, 0, 0, 0) == -1);
		CHILD_ASSERT(errno == EINVAL);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 0, 1, 15000));
	ASSERT_EQ(0, zt_release(self->fd, &self->s[2], 1));
	copy = kt_fork(20);
	ASSERT_GE(copy, 0);
	if (copy == 0) {
		CHILD_ASSERT(write(self->fd, "x", 1) == 1);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->fd, 0, 2, 15000));
	/* room for one: the zero-copy sender, first asleep, is woken */
	ASSERT_EQ(1, zt_recv(self->fd, NULL, KMBOX_F_NONBLOCK));
	EXPECT_EQ(0, kt_wait(zc));
	EXPECT_EQ(0, kt_wait(copy));
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
}

TEST_F(full, zc_send_to_full_mailbox_with_f_nonblock_is_eagain)
{
	struct zt_state before;

	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(2, before.cur_msgs);
	EXPECT_EQ(-1, zt_commit(self->fd, self->s[2], 3, 0,
				KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EAGAIN, errno);
	/* the slot is still ours, and can be sent once there is room */
	EXPECT_STATE_UNCHANGED(self->fd, before);
	EXPECT_EQ(1, zt_held(self->fd));
	ASSERT_EQ(1, zt_recv(self->fd, NULL, KMBOX_F_NONBLOCK));
	EXPECT_EQ(0, zt_commit(self->fd, self->s[2], 3, 0,
			       KMBOX_F_NONBLOCK, 0));
}

TEST_F(full, zc_send_to_full_mailbox_with_past_deadline_is_etimedout)
{
	struct zt_state before;

	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_commit(self->fd, self->s[2], 3, 0, KMBOX_F_TIMEOUT,
				kt_now_ns() - 1000000));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(full, zc_send_to_full_mailbox_blocks_until_a_receive)
{
	struct kmbox_recv r;
	char buf[SLOT];
	pid_t pid;

	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_ASSERT(kt_wait_waiters(self->fd, 0, 1, 15000) == 0);
		CHILD_ASSERT(read(self->fd, buf, sizeof(buf)) == 1);
		_exit(0);
	}
	EXPECT_EQ(0, zt_commit(self->fd, self->s[2], 3, 0, KMBOX_F_TIMEOUT,
			       kt_deadline_ms(15000)));
	EXPECT_EQ(0, kt_wait(pid));
	EXPECT_EQ(2, kt_cur_msgs(self->fd));
	EXPECT_EQ(0, zt_held(self->fd));
	ASSERT_EQ(2, zt_recv(self->fd, &r, KMBOX_F_NONBLOCK));
	EXPECT_EQ(self->s[1], r.slot);
	ASSERT_EQ(3, zt_recv(self->fd, &r, KMBOX_F_NONBLOCK));
	EXPECT_EQ(self->s[2], r.slot);
}

/* ---- completion and counts ------------------------------------------------ */

TEST_F(two, zc_completed_rises_only_when_the_receiver_releases)
{
	struct kmbox_recv r;
	__u32 s[3], got[3];
	int i;

	ASSERT_EQ(3, zt_reserve_n(self->a, s, 3));
	/* braces: ASSERT_* expands to two statements */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, zt_commit(self->a, s[i], 10, 0, 0, 0));
	}
	EXPECT_EQ(0, zt_completed(self->a));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(10, zt_recv(self->b, &r, KMBOX_F_NONBLOCK));
		got[i] = r.slot;
	}
	/* received, not yet released: not complete */
	EXPECT_EQ(0, zt_completed(self->a));
	EXPECT_EQ(3, zt_held(self->b));
	EXPECT_EQ(0, zt_held(self->a));
	ASSERT_EQ(0, zt_release(self->b, &got[1], 1));
	EXPECT_EQ(1, zt_completed(self->a));
	ASSERT_EQ(0, zt_release(self->b, got, 1));
	ASSERT_EQ(0, zt_release(self->b, &got[2], 1));
	EXPECT_EQ(3, zt_completed(self->a));
	/* the receiver sent nothing */
	EXPECT_EQ(0, zt_completed(self->b));
}

TEST_F(two, zc_completed_counts_a_zc_message_read_by_copy)
{
	char buf[MSGSIZE];
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->a, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->a, s, 10, 0, 0, 0));
	EXPECT_EQ(0, zt_completed(self->a));
	ASSERT_EQ(10, read(self->b, buf, sizeof(buf)));
	EXPECT_EQ(1, zt_completed(self->a));
	EXPECT_EQ(0, zt_completed(self->b));
}

TEST_F(two, zc_completed_ignores_copied_sends)
{
	char buf[MSGSIZE];

	ASSERT_EQ(3, write(self->a, "abc", 3));
	ASSERT_EQ(3, read(self->b, buf, sizeof(buf)));
	EXPECT_EQ(0, zt_completed(self->a));
}

TEST_F(two, zc_held_counts_reserved_and_received_slots_of_this_file)
{
	struct kmbox_recv r;
	struct kmbox_attr a;
	__u32 s[2];

	ASSERT_EQ(2, zt_reserve_n(self->a, s, 2));
	EXPECT_EQ(2, zt_held(self->a));
	EXPECT_EQ(0, zt_held(self->b));
	ASSERT_EQ(0, zt_commit(self->a, s[0], 1, 0, 0, 0));
	ASSERT_EQ(0, kt_getattr(self->a, &a));
	EXPECT_EQ(1, a.zc_held);
	EXPECT_EQ(NSLOTS - 2, a.zc_free);	/* queued is not free */
	ASSERT_EQ(1, zt_recv(self->b, &r, KMBOX_F_NONBLOCK));
	EXPECT_EQ(1, zt_held(self->a));
	EXPECT_EQ(1, zt_held(self->b));
	EXPECT_EQ(NSLOTS - 2, zt_free(self->a));
	ASSERT_EQ(0, zt_release(self->b, &r.slot, 1));
	ASSERT_EQ(0, zt_release(self->a, &s[1], 1));
	EXPECT_EQ(0, zt_held(self->a));
	EXPECT_EQ(0, zt_held(self->b));
	EXPECT_EQ(NSLOTS, zt_free(self->a));
}

/* ---- slot protection -------------------------------------------------- */

TEST_F(two, reserve_never_hands_out_a_queued_or_received_slot)
{
	__u32 s[3], rest[NSLOTS], extra;
	struct kmbox_recv r;
	unsigned int seen = 0;
	int n, i;

	ASSERT_EQ(3, zt_reserve_n(self->a, s, 3));
	ASSERT_EQ(0, zt_commit(self->a, s[0], 1, 0, 0, 0));
	ASSERT_EQ(0, zt_commit(self->a, s[1], 1, 0, 0, 0));
	ASSERT_EQ(1, zt_recv(self->b, &r, KMBOX_F_NONBLOCK));
	ASSERT_EQ(s[0], r.slot);
	/* s[0] received, s[1] queued, s[2] reserved: the rest is free */
	n = zt_reserve_all(self->b, rest, NSLOTS);
	ASSERT_EQ(NSLOTS - 3, n);
	for (i = 0; i < 3; i++)
		seen |= 1U << s[i];
	for (i = 0; i < n; i++) {
		ASSERT_LT(rest[i], NSLOTS);
		EXPECT_EQ(0, seen & (1U << rest[i]))
			TH_LOG("slot %u handed out twice", rest[i]);
		seen |= 1U << rest[i];
	}
	EXPECT_EQ((1U << NSLOTS) - 1, seen);
	EXPECT_EQ(-1, zt_reserve(self->b, &extra, 1, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EAGAIN, errno);
}

/*
 * Random reserve, commit, receive in place, copy out and release through
 * two files, each checked against a model of the slots' states: RESERVE
 * only hands out free slots, RECV hands over the slot at the queue's head,
 * and zc_free, zc_held and cur_msgs always agree with the model.
 */
TEST_F(two, slot_states_follow_a_model_through_random_operations)
{
	enum { FREE, RESERVED, QUEUED, HELD, NSTATES };
	unsigned char st[NSLOTS] = { 0 };
	__u32 seed[NSLOTS], len[NSLOTS], queue[NSLOTS], s[NSLOTS];
	unsigned int qhead = 0, qlen = 0, op, i, n, k, cnt[NSTATES];
	unsigned int done[5] = { 0 };
	struct kmbox_attr aa, ab;
	uint32_t x = 2463534242U;
	struct kmbox_recv r;
	char buf[MSGSIZE];
	__u32 sl;
	int ret;

	for (op = 0; op < 400; op++) {
		unsigned int kind = zt_rand(&x) % 5;

		memset(cnt, 0, sizeof(cnt));
		for (i = 0; i < NSLOTS; i++)
			cnt[st[i]]++;
		switch (kind) {
		case 0:		/* reserve through a */
			n = 1 + zt_rand(&x) % 3;
			ret = zt_reserve(self->a, s, n, KMBOX_F_NONBLOCK, 0);
			if (!cnt[FREE]) {
				ASSERT_EQ(-1, ret) TH_LOG("op %u", op);
				ASSERT_EQ(EAGAIN, errno);
				break;
			}
			ASSERT_GE(ret, 1) TH_LOG("op %u: %s", op,
						 strerror(errno));
			ASSERT_LE(ret, n < cnt[FREE] ? n : cnt[FREE]);
			for (i = 0; i < (unsigned int)ret; i++) {
				ASSERT_LT(s[i], NSLOTS);
				ASSERT_EQ(FREE, st[s[i]])
					TH_LOG("op %u: slot %u handed out in state %u",
					       op, s[i], st[s[i]]);
				st[s[i]] = RESERVED;
			}
			done[kind]++;
			break;
		case 1:		/* commit one of a's reserved slots */
			if (!cnt[RESERVED])
				break;
			k = zt_rand(&x) % cnt[RESERVED];
			for (sl = 0; st[sl] != RESERVED || k--; sl++)
				;
			seed[sl] = op;
			len[sl] = zt_rand(&x) % (SLOT + 1);
			kt_fill(kmbox_slot_ptr(&self->ra, sl), len[sl], op);
			ASSERT_EQ(0, zt_commit(self->a, sl, len[sl], 0,
					       KMBOX_F_NONBLOCK, 0))
				TH_LOG("op %u: %s", op, strerror(errno));
			st[sl] = QUEUED;
			queue[(qhead + qlen++) % NSLOTS] = sl;
			done[kind]++;
			break;
		case 2:		/* receive in place through b */
			ret = zt_recv(self->b, &r, KMBOX_F_NONBLOCK);
			if (!qlen) {
				ASSERT_EQ(-1, ret) TH_LOG("op %u", op);
				ASSERT_EQ(EAGAIN, errno);
				break;
			}
			sl = queue[qhead];
			qhead = (qhead + 1) % NSLOTS;
			qlen--;
			ASSERT_EQ(len[sl], ret) TH_LOG("op %u", op);
			ASSERT_EQ(sl, r.slot) TH_LOG("op %u", op);
			ASSERT_EQ(KMBOX_MSG_ZC, r.msg_flags);
			/* written through a's mapping, read through b's */
			ASSERT_TRUE(kt_check_fill(kmbox_slot_ptr(&self->rb, sl),
						  len[sl], seed[sl]))
				TH_LOG("op %u: slot %u", op, sl);
			st[sl] = HELD;
			done[kind]++;
			break;
		case 3:		/* copy out through b */
			ret = kt_recv(self->b, buf, sizeof(buf),
				      KMBOX_F_NONBLOCK, 0, &r);
			if (!qlen) {
				ASSERT_EQ(-1, ret) TH_LOG("op %u", op);
				ASSERT_EQ(EAGAIN, errno);
				break;
			}
			sl = queue[qhead];
			qhead = (qhead + 1) % NSLOTS;
			qlen--;
			ASSERT_EQ(len[sl], ret) TH_LOG("op %u", op);
			ASSERT_EQ(KMBOX_NO_SLOT, r.slot);
			ASSERT_EQ(0, r.msg_flags);
			ASSERT_TRUE(kt_check_fill(buf, len[sl], seed[sl]))
				TH_LOG("op %u: slot %u", op, sl);
			st[sl] = FREE;
			done[kind]++;
			break;
		default:	/* release some of what a or b holds */
			n = 0;
			k = zt_rand(&x);
			for (i = 0; i < NSLOTS; i++)
				if (st[i] == ((k & 1) ? HELD : RESERVED) &&
				    zt_rand(&x) % 2)
					s[n++] = i;
			if (!n)
				break;
			ASSERT_EQ(0, zt_release((k & 1) ? self->b : self->a,
						s, n))
				TH_LOG("op %u: %s", op, strerror(errno));
			for (i = 0; i < n; i++)
				st[s[i]] = FREE;
			done[kind]++;
			break;
		}
		memset(cnt, 0, sizeof(cnt));
		for (i = 0; i < NSLOTS; i++)
			cnt[st[i]]++;
		ASSERT_EQ(0, kt_getattr(self->a, &aa));
		ASSERT_EQ(0, kt_getattr(self->b, &ab));
		ASSERT_EQ(cnt[FREE], aa.zc_free) TH_LOG("op %u", op);
		ASSERT_EQ(cnt[RESERVED], aa.zc_held) TH_LOG("op %u", op);
		ASSERT_EQ(cnt[HELD], ab.zc_held) TH_LOG("op %u", op);
		ASSERT_EQ(qlen, aa.cur_msgs) TH_LOG("op %u", op);
	}
	for (i = 0; i < 5; i++) {
		EXPECT_LT(10, done[i]) TH_LOG("operation %u done %u times",
					      i, done[i]);
	}
}

TEST_F(zc, double_release_is_einval_and_changes_nothing)
{
	struct zt_state before;
	__u32 s[2];

	ASSERT_EQ(2, zt_reserve_n(self->fd, s, 2));
	ASSERT_EQ(0, zt_release(self->fd, &s[0], 1));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_release(self->fd, &s[0], 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, double_release_of_a_received_slot_is_einval)
{
	struct zt_state before;
	struct kmbox_recv r;
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->fd, s, 1, 0, 0, 0));
	ASSERT_EQ(1, zt_recv(self->fd, &r, KMBOX_F_NONBLOCK));
	ASSERT_EQ(0, zt_release(self->fd, &r.slot, 1));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_release(self->fd, &r.slot, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
	EXPECT_EQ(1, zt_completed(self->fd));
}

TEST_F(zc, release_of_a_queued_slot_is_einval)
{
	struct zt_state before;
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->fd, s, 5, 0, 0, 0));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_release(self->fd, &s, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
	EXPECT_EQ(5, zt_recv(self->fd, NULL, KMBOX_F_NONBLOCK));
}

TEST_F(zc, release_of_a_free_slot_is_einval)
{
	struct zt_state before;
	__u32 s = NSLOTS - 1;

	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_release(self->fd, &s, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(two, release_of_a_slot_reserved_by_another_file_is_einval)
{
	struct zt_state before_a, before_b;
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->a, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_get_state(self->a, &before_a));
	ASSERT_EQ(0, zt_get_state(self->b, &before_b));
	EXPECT_EQ(-1, zt_release(self->b, &s, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->a, before_a);
	EXPECT_STATE_UNCHANGED(self->b, before_b);
	EXPECT_EQ(0, zt_release(self->a, &s, 1));
}

TEST_F(two, release_by_the_sender_of_a_slot_the_receiver_holds_is_einval)
{
	struct zt_state before_a, before_b;
	struct kmbox_recv r;
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->a, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->a, s, 1, 0, 0, 0));
	ASSERT_EQ(1, zt_recv(self->b, &r, KMBOX_F_NONBLOCK));
	ASSERT_EQ(s, r.slot);
	ASSERT_EQ(0, zt_get_state(self->a, &before_a));
	ASSERT_EQ(0, zt_get_state(self->b, &before_b));
	EXPECT_EQ(-1, zt_release(self->a, &s, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->a, before_a);
	EXPECT_STATE_UNCHANGED(self->b, before_b);
	EXPECT_EQ(0, zt_completed(self->a));
	EXPECT_EQ(0, zt_release(self->b, &s, 1));
}

TEST_F(zc, commit_of_an_unreserved_slot_is_einval)
{
	struct zt_state before;

	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_commit(self->fd, 2, 10, 0, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(two, commit_of_a_slot_reserved_by_another_file_is_einval)
{
	struct zt_state before_a, before_b;
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->a, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_get_state(self->a, &before_a));
	ASSERT_EQ(0, zt_get_state(self->b, &before_b));
	EXPECT_EQ(-1, zt_commit(self->b, s, 10, 0, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->a, before_a);
	EXPECT_STATE_UNCHANGED(self->b, before_b);
	/* the owner still can */
	EXPECT_EQ(0, zt_commit(self->a, s, 10, 0, KMBOX_F_NONBLOCK, 0));
}

TEST_F(zc, commit_of_an_already_queued_slot_is_einval)
{
	struct zt_state before;
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->fd, s, 10, 0, 0, 0));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_commit(self->fd, s, 10, 0, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, commit_of_a_received_slot_is_einval)
{
	struct zt_state before;
	struct kmbox_recv r;
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->fd, s, 10, 0, 0, 0));
	ASSERT_EQ(10, zt_recv(self->fd, &r, KMBOX_F_NONBLOCK));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	/* held for reading is not reserved for writing */
	EXPECT_EQ(-1, zt_commit(self->fd, s, 10, 0, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, commit_of_slot_nslots_is_einval)
{
	struct zt_state before;
	__u32 all[NSLOTS];

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_commit(self->fd, NSLOTS, 10, 0, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, commit_of_slot_0xffffffff_is_einval)
{
	struct zt_state before;
	__u32 all[NSLOTS];

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->fd, all, NSLOTS));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_commit(self->fd, 0xffffffffU, 10, 0,
				KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, commit_longer_than_the_slot_is_emsgsize)
{
	struct zt_state before;
	__u32 s;

	/* max_msgsize is twice the slot here, so only the slot refuses */
	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_commit(self->fd, s, SLOT + 1, 0, KMBOX_F_NONBLOCK,
				0));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
	EXPECT_EQ(0, zt_commit(self->fd, s, SLOT, 0, KMBOX_F_NONBLOCK, 0));
}

TEST(commit_longer_than_max_msgsize_is_emsgsize)
{
	struct zt_state before;
	__u32 s;
	int fd;

	KT_REQUIRE_MODULE();
	/* a slot larger than max_msgsize: max_msgsize bounds the message */
	fd = zt_anon(O_RDWR, 4, 1000, 2, SLOT);
	ASSERT_GE(fd, 0) TH_LOG("anon, slot above max_msgsize: %s",
				strerror(errno));
	ASSERT_EQ(1, zt_reserve(fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_get_state(fd, &before));
	EXPECT_EQ(-1, zt_commit(fd, s, 1001, 0, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_STATE_UNCHANGED(fd, before);
	EXPECT_EQ(0, zt_commit(fd, s, 1000, 0, KMBOX_F_NONBLOCK, 0));
	close(fd);
}

TEST_F(zc, commit_with_prio_32768_is_einval)
{
	struct zt_state before;
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_commit(self->fd, s, 1, KMBOX_PRIO_MAX,
				KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
}

TEST_F(zc, release_list_with_a_duplicate_is_einval_and_releases_nothing)
{
	struct zt_state before;
	__u32 s[3], list[3];

	ASSERT_EQ(3, zt_reserve_n(self->fd, s, 3));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	list[0] = s[0];
	list[1] = s[1];
	list[2] = s[0];
	EXPECT_EQ(-1, zt_release(self->fd, list, 3));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
	/* all three are still held, each exactly once */
	EXPECT_EQ(0, zt_release(self->fd, s, 3));
	EXPECT_EQ(NSLOTS, zt_free(self->fd));
}

TEST_F(zc, release_list_with_an_out_of_range_slot_releases_nothing)
{
	struct zt_state before;
	__u32 s[3], list[3];

	ASSERT_EQ(2, zt_reserve_n(self->fd, s, 2));
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	list[0] = s[0];
	list[1] = s[1];
	list[2] = NSLOTS;
	EXPECT_EQ(-1, zt_release(self->fd, list, 3));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
	EXPECT_EQ(0, zt_release(self->fd, s, 2));
}

TEST_F(two, release_list_with_a_foreign_slot_releases_nothing)
{
	struct zt_state before_a, before_b;
	__u32 s[2], theirs, list[3];

	ASSERT_EQ(2, zt_reserve_n(self->a, s, 2));
	ASSERT_EQ(1, zt_reserve(self->b, &theirs, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_get_state(self->a, &before_a));
	ASSERT_EQ(0, zt_get_state(self->b, &before_b));
	list[0] = s[0];
	list[1] = theirs;
	list[2] = s[1];
	EXPECT_EQ(-1, zt_release(self->a, list, 3));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_STATE_UNCHANGED(self->a, before_a);
	EXPECT_STATE_UNCHANGED(self->b, before_b);
	EXPECT_EQ(0, zt_release(self->a, s, 2));
	EXPECT_EQ(0, zt_release(self->b, &theirs, 1));
}

/* ---- argument checks of RESERVE and RELEASE ----------------------------- */

TEST_F(zc, reserve_count_0_is_einval)
{
	__u32 s = 12345;

	EXPECT_EQ(-1, zt_reserve(self->fd, &s, 0, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, zt_held(self->fd));
	EXPECT_EQ(12345, s);
}

TEST_F(zc, reserve_count_above_batch_max_is_einval)
{
	__u32 s[KMBOX_BATCH_MAX + 1];

	EXPECT_EQ(-1, zt_reserve(self->fd, s, KMBOX_BATCH_MAX + 1,
				 KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, zt_held(self->fd));
}

TEST_F(zc, reserve_with_unknown_flag_is_einval)
{
	__u32 s;

	EXPECT_EQ(-1, zt_reserve(self->fd, &s, 1,
				 KMBOX_F_NONBLOCK | (1U << 7), 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, zt_held(self->fd));
}

TEST_F(zc, reserve_with_zc_flag_is_einval)
{
	__u32 s;

	EXPECT_EQ(-1, zt_reserve(self->fd, &s, 1,
				 KMBOX_F_NONBLOCK | KMBOX_F_ZC, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, zt_held(self->fd));
}

TEST_F(zc, reserve_with_reserved_field_set_is_einval)
{
	__u32 s;
	struct kmbox_slots a = {
		.slots = KT_PTR(&s),
		.count = 1,
		.flags = KMBOX_F_NONBLOCK,
	};

	a.__reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_ZC_RESERVE, &a));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, zt_held(self->fd));
}

TEST_F(zc, reserve_with_deadline_but_no_timeout_flag_is_einval)
{
	__u32 s;

	EXPECT_EQ(-1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK,
				 kt_deadline_ms(1000)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, zt_held(self->fd));
}

TEST_F(zc, reserve_into_an_unwritable_array_is_efault_and_holds_nothing)
{
	struct zt_state before;
	void *ro;

	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_reserve(self->fd, ro, 2, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
	munmap(ro, 4096);
}

TEST_F(zc, release_from_an_unreadable_array_is_efault_and_releases_nothing)
{
	struct zt_state before;
	__u32 s;
	void *none;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_EQ(0, zt_get_state(self->fd, &before));
	EXPECT_EQ(-1, zt_release(self->fd, none, 1));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_STATE_UNCHANGED(self->fd, before);
	munmap(none, 4096);
}

TEST_F(zc, release_count_0_is_einval)
{
	__u32 s;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(-1, zt_release(self->fd, &s, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, zt_held(self->fd));
}

TEST_F(zc, release_with_nonzero_flags_is_einval)
{
	__u32 s;
	struct kmbox_slots a = {
		.slots = KT_PTR(&s),
		.count = 1,
		.flags = KMBOX_F_NONBLOCK,
	};

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(-1, ioctl(self->fd, KMBOX_IOC_ZC_RELEASE, &a));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, zt_held(self->fd));
}

TEST_F(two, reserve_on_a_read_only_file_is_ebadf)
{
	__u32 s = 12345;
	int fd;

	fd = kt_open(self->name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, zt_reserve(fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(12345, s);
	EXPECT_EQ(NSLOTS, zt_free(self->a));
	close(fd);
}

TEST_F(two, read_only_receiver_can_release_what_it_received)
{
	struct kmbox_recv r;
	__u32 s;
	int fd;

	fd = kt_open(self->name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(1, zt_reserve(self->a, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->a, s, 1, 0, 0, 0));
	ASSERT_EQ(1, zt_recv(fd, &r, KMBOX_F_NONBLOCK));
	EXPECT_EQ(1, zt_held(fd));
	EXPECT_EQ(0, zt_release(fd, &r.slot, 1));
	EXPECT_EQ(NSLOTS, zt_free(self->a));
	EXPECT_EQ(1, zt_completed(self->a));
	close(fd);
}

/* ---- batches ------------------------------------------------------------ */

static int zt_batch(int fd, unsigned long cmd, struct kmbox_mmsg *m,
		    __u32 count, __u32 flags)
{
	struct kmbox_batch b = {
		.msgs = KT_PTR(m),
		.count = count,
		.flags = flags,
	};

	return ioctl(fd, cmd, &b);
}

TEST_F(zc, send_batch_of_zc_entries_queues_them_in_order)
{
	struct kmbox_mmsg m[3];
	struct kmbox_recv r;
	__u32 s[3];
	int i;

	ASSERT_EQ(3, zt_reserve_n(self->fd, s, 3));
	memset(m, 0, sizeof(m));
	for (i = 0; i < 3; i++) {
		kt_fill(kmbox_slot_ptr(&self->r, s[i]), 10 + i, i);
		m[i].len = 10 + i;
		m[i].slot = s[i];
		m[i].flags = KMBOX_MSG_ZC;
	}
	EXPECT_EQ(3, zt_batch(self->fd, KMBOX_IOC_SEND_BATCH, m, 3,
			      KMBOX_F_NONBLOCK));
	EXPECT_EQ(0, zt_held(self->fd));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(10 + i, zt_recv(self->fd, &r, KMBOX_F_NONBLOCK));
		EXPECT_EQ(s[i], r.slot);
		EXPECT_TRUE(kt_check_fill(kmbox_slot_ptr(&self->r, r.slot),
					  10 + i, i));
	}
}

TEST_F(zc, send_batch_stops_at_an_entry_with_an_unreserved_slot)
{
	struct kmbox_mmsg m[3];
	__u32 s[2];

	ASSERT_EQ(2, zt_reserve_n(self->fd, s, 2));
	memset(m, 0, sizeof(m));
	m[0].slot = s[0];
	m[1].slot = (s[0] + 1) % NSLOTS == s[1] ? (s[1] + 1) % NSLOTS :
						  (s[0] + 1) % NSLOTS;
	m[2].slot = s[1];
	m[0].flags = m[1].flags = m[2].flags = KMBOX_MSG_ZC;
	m[0].len = m[1].len = m[2].len = 1;
	EXPECT_EQ(1, zt_batch(self->fd, KMBOX_IOC_SEND_BATCH, m, 3,
			      KMBOX_F_NONBLOCK));
	EXPECT_EQ(1, kt_cur_msgs(self->fd));
	EXPECT_EQ(1, zt_held(self->fd));	/* s[1], not sent */
	EXPECT_EQ(NSLOTS - 2, zt_free(self->fd));
	EXPECT_EQ(0, zt_release(self->fd, &s[1], 1));
}

TEST_F(zc, recv_batch_with_zc_flag_hands_over_slots_and_copies_the_rest)
{
	struct kmbox_mmsg m[3];
	char buf[3][16];
	__u32 s;
	int i;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(1, write(self->fd, "a", 1));
	ASSERT_EQ(0, zt_commit(self->fd, s, 2, 0, 0, 0));
	ASSERT_EQ(3, write(self->fd, "ccc", 3));
	for (i = 0; i < 3; i++)
		kmbox_mmsg_prep(&m[i], buf[i], sizeof(buf[i]), 0);
	ASSERT_EQ(3, zt_batch(self->fd, KMBOX_IOC_RECV_BATCH, m, 3,
			      KMBOX_F_ZC | KMBOX_F_NONBLOCK));
	EXPECT_EQ(1, m[0].len);
	EXPECT_EQ(0, m[0].flags);
	EXPECT_EQ(KMBOX_NO_SLOT, m[0].slot);
	EXPECT_EQ('a', buf[0][0]);
	EXPECT_EQ(2, m[1].len);
	EXPECT_EQ(KMBOX_MSG_ZC, m[1].flags);
	EXPECT_EQ(s, m[1].slot);
	EXPECT_EQ(3, m[2].len);
	EXPECT_EQ(0, m[2].flags);
	EXPECT_EQ(0, memcmp(buf[2], "ccc", 3));
	EXPECT_EQ(1, zt_held(self->fd));
	EXPECT_EQ(0, kt_cur_msgs(self->fd));
}

/* ---- closes and killed processes ----------------------------------------- */

TEST_F(two, close_gives_back_reserved_and_received_slots)
{
	struct kmbox_recv r;
	__u32 s[3];
	int fd;

	ASSERT_EQ(1, zt_reserve(self->a, s, 1, KMBOX_F_NONBLOCK, 0));
	ASSERT_EQ(0, zt_commit(self->a, s[0], 1, 0, 0, 0));
	fd = kt_open(self->name, O_RDWR, 0, 0, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(2, zt_reserve_n(fd, &s[1], 2));
	ASSERT_EQ(1, zt_recv(fd, &r, KMBOX_F_NONBLOCK));
	EXPECT_EQ(3, zt_held(fd));
	EXPECT_EQ(NSLOTS - 3, zt_free(self->a));
	close(fd);
	EXPECT_EQ(NSLOTS, zt_free(self->a));
}

TEST_F(two, release_after_the_sender_closed_frees_the_slot)
{
	struct kmbox_recv r;
	struct kmbox_region rc;
	__u32 s;
	int fd;

	fd = kt_open(self->name, O_RDWR, 0, 0, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kmbox_region_map(fd, &rc));
	ASSERT_EQ(1, zt_reserve(fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	kt_fill(kmbox_slot_ptr(&rc, s), 500, 77);
	ASSERT_EQ(0, zt_commit(fd, s, 500, 0, 0, 0));
	kmbox_region_unmap(&rc);
	close(fd);
	ASSERT_EQ(500, zt_recv(self->b, &r, KMBOX_F_NONBLOCK));
	EXPECT_TRUE(kt_check_fill(kmbox_slot_ptr(&self->rb, r.slot), 500, 77));
	EXPECT_EQ(0, zt_release(self->b, &r.slot, 1));
	EXPECT_EQ(NSLOTS, zt_free(self->a));
}

TEST_F(two, slots_a_killed_process_held_come_back)
{
	struct kt_stats before, mid, after;
	int pfd[2];
	__u32 s[2];
	pid_t pid;

	ASSERT_EQ(2, zt_reserve_n(self->a, s, 2));
	ASSERT_EQ(0, zt_commit(self->a, s[0], 1, 0, 0, 0));
	ASSERT_EQ(0, zt_commit(self->a, s[1], 1, 0, 0, 0));
	ASSERT_EQ(0, kt_read_stats(&before));
	ASSERT_EQ(0, pipe(pfd));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_recv r;
		__u32 mine[3];
		int fd;

		fd = kt_open(self->name, O_RDWR, 0, 0, 0, 0);
		CHILD_ASSERT(fd >= 0);
		CHILD_ASSERT(zt_reserve_n(fd, mine, 3) == 3);
		CHILD_ASSERT(zt_recv(fd, &r, KMBOX_F_NONBLOCK) == 1);
		CHILD_ASSERT(zt_recv(fd, &r, KMBOX_F_NONBLOCK) == 1);
		CHILD_ASSERT(write(pfd[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	ASSERT_EQ(1, zt_read_byte(pfd[0], 15000));
	/* 3 reserved and 2 received by the child */
	EXPECT_EQ(NSLOTS - 5, zt_free(self->a));
	ASSERT_EQ(0, kt_read_stats(&mid));
	EXPECT_EQ(before.zc_slots_held + 5, mid.zc_slots_held);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	EXPECT_EQ(NSLOTS, zt_free(self->a));
	EXPECT_EQ(0, kt_cur_msgs(self->a));
	ASSERT_EQ(0, kt_read_stats(&after));
	EXPECT_EQ(before.zc_slots_held, after.zc_slots_held);
	close(pfd[0]);
}

TEST_F(two, killed_blocked_reserver_leaves_no_waiter_and_no_slot)
{
	__u32 all[NSLOTS];
	struct kmbox_attr a;
	pid_t pid;

	ASSERT_EQ(NSLOTS, zt_reserve_all(self->a, all, NSLOTS));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		__u32 slot;
		int fd = kt_open(self->name, O_WRONLY, 0, 0, 0, 0);

		CHILD_ASSERT(fd >= 0);
		zt_reserve(fd, &slot, 1, 0, 0);
		_exit(1);
	}
	ASSERT_EQ(0, kt_wait_waiters(self->a, 0, 1, 15000));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	ASSERT_EQ(0, kt_getattr(self->a, &a));
	EXPECT_EQ(0, a.wr_waiters);
	EXPECT_EQ(0, a.zc_free);
	EXPECT_EQ(NSLOTS, a.zc_held);
	ASSERT_EQ(0, zt_release(self->a, all, NSLOTS));
	EXPECT_EQ(NSLOTS, zt_free(self->a));
}

TEST_F(two, zc_message_of_a_killed_sender_is_still_delivered)
{
	struct kmbox_recv r;
	int pfd[2];
	pid_t pid;

	ASSERT_EQ(0, pipe(pfd));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kmbox_region rc;
		__u32 s;
		int fd;

		fd = kt_open(self->name, O_RDWR, 0, 0, 0, 0);
		CHILD_ASSERT(fd >= 0);
		CHILD_ASSERT(kmbox_region_map(fd, &rc) == 0);
		CHILD_ASSERT(zt_reserve(fd, &s, 1, KMBOX_F_NONBLOCK, 0) == 1);
		kt_fill(kmbox_slot_ptr(&rc, s), 1000, 31);
		CHILD_ASSERT(zt_commit(fd, s, 1000, 4, 0, 0) == 0);
		CHILD_ASSERT(write(pfd[1], "s", 1) == 1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	ASSERT_EQ(1, zt_read_byte(pfd[0], 15000));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, kt_wait(pid));
	ASSERT_EQ(1000, zt_recv(self->b, &r, KMBOX_F_NONBLOCK));
	EXPECT_EQ(KMBOX_MSG_ZC, r.msg_flags);
	EXPECT_EQ(4, r.prio);
	EXPECT_TRUE(kt_check_fill(kmbox_slot_ptr(&self->rb, r.slot), 1000, 31));
	EXPECT_EQ(0, zt_release(self->b, &r.slot, 1));
	EXPECT_EQ(NSLOTS, zt_free(self->a));
	close(pfd[0]);
}

TEST(closing_a_mailbox_with_slots_in_every_state_leaks_nothing)
{
	struct kt_stats before, after;
	struct kmbox_recv r;
	__u32 s[3];
	int fd;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&before));
	fd = zt_anon(O_RDWR, MSGS, MSGSIZE, NSLOTS, SLOT);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(3, zt_reserve_n(fd, s, 3));
	ASSERT_EQ(0, zt_commit(fd, s[0], 10, 0, 0, 0));
	ASSERT_EQ(0, zt_commit(fd, s[1], 10, 0, 0, 0));
	ASSERT_EQ(10, zt_recv(fd, &r, KMBOX_F_NONBLOCK));
	/* s[0] received, s[1] queued, s[2] reserved */
	close(fd);
	ASSERT_EQ(0, kt_read_stats(&after));
	EXPECT_EQ(before.zc_slots_held, after.zc_slots_held);
	EXPECT_EQ(before.region_pages, after.region_pages);
	EXPECT_EQ(before.messages, after.messages);
	EXPECT_EQ(before.mailboxes, after.mailboxes);
}

/* ---- the mapping ---------------------------------------------------------- */

TEST(mmap_of_a_mailbox_without_region_is_enodev)
{
	void *p;
	int fd;

	KT_REQUIRE_MODULE();
	fd = kt_anon(O_RDWR, 4, 64);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENODEV, errno);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	close(fd);
}

TEST_F(zc, mmap_at_nonzero_offset_is_einval)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	p = mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, page);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, page);
}

TEST_F(zc, mmap_longer_than_the_region_is_einval)
{
	size_t len = self->r.size + sysconf(_SC_PAGESIZE);
	void *p;

	p = mmap(NULL, len, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, len);
}

TEST_F(zc, mmap_with_prot_exec_is_eperm)
{
	void *p;

	p = mmap(NULL, self->r.size, PROT_READ | PROT_EXEC, MAP_SHARED,
		 self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	if (p != MAP_FAILED)
		munmap(p, self->r.size);
}

TEST_F(zc, mmap_private_is_einval)
{
	void *p;

	p = mmap(NULL, self->r.size, PROT_READ, MAP_PRIVATE, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, self->r.size);
}

TEST_F(two, mmap_writable_of_a_read_only_file_is_eacces)
{
	void *p;
	int fd;

	fd = kt_open(self->name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, self->ra.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	if (p != MAP_FAILED)
		munmap(p, self->ra.size);
	/* read-only is what such a file may have */
	p = mmap(NULL, self->ra.size, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_NE(MAP_FAILED, p) TH_LOG("PROT_READ: %s", strerror(errno));
	if (p != MAP_FAILED)
		munmap(p, self->ra.size);
	close(fd);
}

TEST_F(zc, mremap_growth_with_maymove_fails)
{
	size_t page = sysconf(_SC_PAGESIZE);
	volatile unsigned char *base = self->r.base;
	void *q;

	base[0] = 0x5a;
	q = mremap(self->r.base, self->r.size, self->r.size + page,
		   MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, q) TH_LOG("grown to %p", q);
	if (q != MAP_FAILED) {
		self->r.base = q;
		self->r.size += page;
	} else {
		/* the old mapping is untouched */
		EXPECT_EQ(0x5a, base[0]);
	}
}

TEST_F(zc, mremap_growth_in_place_fails_even_with_room_behind_it)
{
	size_t page = sysconf(_SC_PAGESIZE), size = self->r.size;
	char *area, *p;
	void *q;

	/* reserve address space so that the pages behind the map are free */
	area = mmap(NULL, size + 2 * page, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	p = mmap(area, size, PROT_READ, MAP_SHARED | MAP_FIXED, self->fd, 0);
	ASSERT_EQ(area, p) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, munmap(area + size, 2 * page));
	q = mremap(p, size, size + page, 0);
	EXPECT_EQ(MAP_FAILED, q);
	munmap(p, q == MAP_FAILED ? size : size + page);
}

TEST_F(zc, mremap_growth_within_the_region_fails)
{
	size_t page = sysconf(_SC_PAGESIZE);
	void *p, *q;

	/* a one-page map of a larger region may not grow either */
	ASSERT_LT(page, self->r.size);
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	q = mremap(p, page, 2 * page, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, q);
	munmap(q == MAP_FAILED ? p : q, q == MAP_FAILED ? page : 2 * page);
}

TEST_F(zc, mprotect_exec_of_the_mapping_fails)
{
	EXPECT_EQ(-1, mprotect(self->r.base, self->r.size,
			       PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
}

TEST_F(two, mprotect_write_of_a_read_only_files_mapping_fails)
{
	struct kmbox_region r;
	int fd;

	fd = kt_open(self->name, O_RDONLY, 0, 0, 0, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kmbox_region_map(fd, &r));
	ASSERT_FALSE(r.writable);
	EXPECT_EQ(-1, mprotect(r.base, r.size, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	kmbox_region_unmap(&r);
	close(fd);
}

TEST_SIGNAL(write_to_a_prot_read_mapping_faults, SIGSEGV)
{
	volatile char *p;
	int fd;

	KT_REQUIRE_MODULE();
	fd = zt_anon(O_RDWR, MSGS, MSGSIZE, NSLOTS, SLOT);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, NSLOTS * SLOT, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, p[0]);
	p[0] = 1;	/* dies here */
	TH_LOG("a write to a PROT_READ mapping did not fault");
}

TEST_F(zc, mapping_is_inherited_by_fork_and_is_the_region_itself)
{
	char buf[MSGSIZE];
	__u32 s;
	pid_t pid;

	ASSERT_EQ(1, zt_reserve(self->fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	pid = kt_fork(20);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* the parent's mapping and file, inherited */
		kt_fill(kmbox_slot_ptr(&self->r, s), 2000, 55);
		CHILD_ASSERT(zt_commit(self->fd, s, 2000, 0, 0, 0) == 0);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait(pid));
	/* read() copies from the kernel's view of the region */
	ASSERT_EQ(2000, read(self->fd, buf, sizeof(buf)));
	EXPECT_TRUE(kt_check_fill(buf, 2000, 55));
}

TEST(mapping_outlives_the_close_of_its_file)
{
	struct kt_stats base, mid, after;
	struct kmbox_region r;
	long pages;
	__u32 s;
	int fd;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&base));
	fd = zt_anon(O_RDWR, MSGS, MSGSIZE, NSLOTS, SLOT);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kmbox_region_map(fd, &r));
	pages = r.size / sysconf(_SC_PAGESIZE);
	ASSERT_EQ(1, zt_reserve(fd, &s, 1, KMBOX_F_NONBLOCK, 0));
	kt_fill(kmbox_slot_ptr(&r, s), SLOT, 3);
	ASSERT_EQ(0, zt_commit(fd, s, SLOT, 0, 0, 0));
	close(fd);
	/* the mapping keeps the mailbox and its region alive */
	EXPECT_TRUE(kt_check_fill(kmbox_slot_ptr(&r, s), SLOT, 3));
	ASSERT_EQ(0, kt_read_stats(&mid));
	EXPECT_EQ(base.region_pages + pages, mid.region_pages);
	ASSERT_EQ(0, kmbox_region_unmap(&r));
	ASSERT_EQ(0, kt_read_stats(&after));
	EXPECT_EQ(base.region_pages, after.region_pages);
	EXPECT_EQ(base.messages, after.messages);
	EXPECT_EQ(base.mailboxes, after.mailboxes);
	EXPECT_EQ(base.zc_slots_held, after.zc_slots_held);
}

TEST(munmap_before_close_leaves_nothing_behind)
{
	struct kt_stats base, mid, after;
	struct kmbox_region r;
	long pages;
	int fd;

	KT_REQUIRE_MODULE();
	ASSERT_EQ(0, kt_read_stats(&base));
	fd = zt_anon(O_RDWR, MSGS, MSGSIZE, NSLOTS, SLOT);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kmbox_region_map(fd, &r));
	pages = r.size / sysconf(_SC_PAGESIZE);
	ASSERT_EQ(0, kmbox_region_unmap(&r));
	ASSERT_EQ(0, kt_read_stats(&mid));
	EXPECT_EQ(base.region_pages + pages, mid.region_pages);
	close(fd);
	ASSERT_EQ(0, kt_read_stats(&after));
	EXPECT_EQ(base.region_pages, after.region_pages);
	EXPECT_EQ(base.mailboxes, after.mailboxes);
}

/* ---- a hostile peer ----------------------------------------------------- */

#define HOSTILE_MSGS	400
#define HOSTILE_PRIO	3

/* What the three processes report to the test. */
struct hostile_report {
	volatile int stop;		/* set by the test: hostile, stop */
	volatile int sent, received;
	volatile int spoiled;		/* zc payloads the scribbler hit */
	volatile long h_ops;		/* hostile rounds done */
	volatile long h_bad;		/* results no document allows */
	volatile int h_bad_op, h_bad_ret, h_bad_errno;
};

/* Message @seq: len 16 + seq; seq and a checksum, then a pattern. */
static __u32 hostile_len(__u32 seq)
{
	return 16 + seq;
}

static int hostile_copied(__u32 seq)
{
	return seq % 5 == 4;
}

static __u32 hostile_sum(const unsigned char *p, __u32 len)
{
	__u32 sum = 2166136261U, i;

	for (i = 0; i < len; i++)
		sum = (sum ^ p[i]) * 16777619U;
	return sum;
}

static void hostile_payload(void *buf, __u32 seq)
{
	__u32 len = hostile_len(seq), sum;
	unsigned char *p = buf;

	kt_fill(p + 8, len - 8, seq);
	sum = hostile_sum(p + 8, len - 8);
	memcpy(p, &seq, 4);
	memcpy(p + 4, &sum, 4);
}

static int hostile_payload_ok(const void *buf, __u32 seq)
{
	const unsigned char *p = buf;
	__u32 got_seq, sum;

	memcpy(&got_seq, p, 4);
	memcpy(&sum, p + 4, 4);
	return got_seq == seq &&
	       sum == hostile_sum(p + 8, hostile_len(seq) - 8);
}

static void honest_sender(const char *name, struct hostile_report *rep)
{
	unsigned char buf[SLOT];
	struct kmbox_region r;
	__u32 seq, slot;
	int fd;

	/* O_RDWR: a write-only file cannot be mapped at all */
	fd = kt_open(name, O_RDWR, 0, 0, 0, 0);
	CHILD_ASSERT(fd >= 0);
	CHILD_ASSERT(kmbox_region_map(fd, &r) == 0);
	for (seq = 0; seq < HOSTILE_MSGS; seq++) {
		if (hostile_copied(seq)) {
			hostile_payload(buf, seq);
			CHILD_ASSERT(kt_send(fd, buf, hostile_len(seq),
					     HOSTILE_PRIO, KMBOX_F_TIMEOUT,
					     kt_deadline_ms(20000)) == 0);
		} else {
			CHILD_ASSERT(zt_reserve(fd, &slot, 1, KMBOX_F_TIMEOUT,
						kt_deadline_ms(20000)) == 1);
			CHILD_ASSERT(slot < NSLOTS);
			hostile_payload(kmbox_slot_ptr(&r, slot), seq);
			CHILD_ASSERT(zt_commit(fd, slot, hostile_len(seq),
					       HOSTILE_PRIO, KMBOX_F_TIMEOUT,
					       kt_deadline_ms(20000)) == 0);
		}
		rep->sent++;
	}
	_exit(0);
}

static void honest_receiver(const char *name, pid_t sender,
			    struct hostile_report *rep)
{
	unsigned char buf[MSGSIZE];
	struct kmbox_region r;
	struct kmbox_recv m;
	__u32 seq;
	int fd;

	fd = kt_open(name, O_RDONLY, 0, 0, 0, 0);
	CHILD_ASSERT(fd >= 0);
	CHILD_ASSERT(kmbox_region_map(fd, &r) == 0);
	for (seq = 0; seq < HOSTILE_MSGS; seq++) {
		/* what the kernel says about the message cannot be spoiled */
		CHILD_ASSERT(kt_recv(fd, buf, sizeof(buf),
				     KMBOX_F_ZC | KMBOX_F_TIMEOUT,
				     kt_deadline_ms(20000), &m) ==
			     (int)hostile_len(seq));
		CHILD_ASSERT(m.prio == HOSTILE_PRIO);
		CHILD_ASSERT(m.pid == sender);
		if (hostile_copied(seq)) {
			/* a copied payload lives in the kernel: intact */
			CHILD_ASSERT(m.msg_flags == 0);
			CHILD_ASSERT(m.slot == KMBOX_NO_SLOT);
			CHILD_ASSERT(hostile_payload_ok(buf, seq));
		} else {
			CHILD_ASSERT(m.msg_flags == KMBOX_MSG_ZC);
			CHILD_ASSERT(m.slot < NSLOTS);
			if (!hostile_payload_ok(kmbox_slot_ptr(&r, m.slot),
						seq))
				rep->spoiled++;
			CHILD_ASSERT(zt_release(fd, &m.slot, 1) == 0);
		}
		rep->received++;
	}
	_exit(0);
}

static void hostile_bad(struct hostile_report *rep, int op, int ret)
{
	rep->h_bad++;
	rep->h_bad_op = op;
	rep->h_bad_ret = ret;
	rep->h_bad_errno = errno;
}

/* Slot numbers a careless or malicious peer might try. */
static __u32 hostile_slot(uint32_t *x)
{
	__u32 v = zt_rand(x);

	switch (v % 4) {
	case 0:
		return KMBOX_NO_SLOT;
	case 1:
		return zt_rand(x);
	default:
		return zt_rand(x) % (NSLOTS + 2);
	}
}

/*
 * Scribble over the whole region, give back slots it does not hold, queue
 * slots it does not own with random lengths and priorities, and reserve
 * and release slots for real in between.  Every ioctl result is checked
 * against the documented ones.
 */
static void hostile_peer(const char *name, struct hostile_report *rep)
{
	uint32_t x = 0x9e3779b9U ^ (uint32_t)getpid();
	struct kmbox_region r;
	__u32 slots[4], *w;
	unsigned int i, n;
	size_t words;
	int fd, ret;

	fd = kt_open(name, O_RDWR, 0, 0, 0, 0);
	CHILD_ASSERT(fd >= 0);
	CHILD_ASSERT(kmbox_region_map(fd, &r) == 0);
	if (mprotect(r.base, r.size, PROT_READ | PROT_EXEC) == 0)
		hostile_bad(rep, 1, 0);
	if (mremap(r.base, r.size, 2 * r.size, MREMAP_MAYMOVE) != MAP_FAILED)
		hostile_bad(rep, 2, 0);
	w = r.base;
	words = r.size / sizeof(*w);
	while (!rep->stop) {
		for (i = 0; i < words; i++)
			w[i] = zt_rand(&x);

		n = 1 + zt_rand(&x) % 4;
		for (i = 0; i < n; i++)
			slots[i] = hostile_slot(&x);
		ret = zt_release(fd, slots, n);
		if (ret != -1 || errno != EINVAL)
			hostile_bad(rep, 3, ret);

		ret = zt_commit(fd, hostile_slot(&x), zt_rand(&x) % (2 * SLOT),
				zt_rand(&x) % KMBOX_PRIO_MAX,
				KMBOX_F_NONBLOCK, 0);
		if (ret != -1 || (errno != EINVAL && errno != EMSGSIZE))
			hostile_bad(rep, 4, ret);

		ret = zt_reserve(fd, slots, 1, KMBOX_F_NONBLOCK, 0);
		if (ret == 1) {
			memset(kmbox_slot_ptr(&r, slots[0]), 0xee, SLOT);
			ret = zt_release(fd, slots, 1);
			if (ret)
				hostile_bad(rep, 6, ret);
		} else if (ret != -1 || errno != EAGAIN) {
			hostile_bad(rep, 5, ret);
		}
		rep->h_ops++;
	}
	_exit(0);
}

FIXTURE(hostile) {
	char name[64];
	int fd;
	struct hostile_report *rep;
};

FIXTURE_SETUP(hostile)
{
	KT_REQUIRE_MODULE();
	self->fd = -1;
	kt_name(self->name, sizeof(self->name), "hostile");
	self->rep = zt_shared_page();
	ASSERT_NE(MAP_FAILED, self->rep);
	memset(self->rep, 0, sizeof(*self->rep));
	self->fd = zt_create(self->name, O_RDWR, 4, MSGSIZE, NSLOTS, SLOT);
	ASSERT_GE(self->fd, 0) TH_LOG("create: %s", strerror(errno));
}

FIXTURE_TEARDOWN(hostile)
{
	if (self->fd >= 0)
		close(self->fd);
	kt_unlink(self->name);
}

TEST_F_TIMEOUT(hostile, scribbler_cannot_disturb_two_honest_peers, 110)
{
	struct hostile_report *rep = self->rep;
	pid_t h, s, r;
	struct kt_stats st;
	struct kmbox_attr a;
	uint64_t end;

	h = kt_fork(100);
	ASSERT_GE(h, 0);
	if (h == 0)
		hostile_peer(self->name, rep);
	/* let the hostile peer get going first */
	end = kt_deadline_ms(15000);
	while (!rep->h_ops && kt_now_ns() < end)
		kt_sleep_ms(2);
	ASSERT_LT(0, rep->h_ops);

	s = kt_fork(90);
	ASSERT_GE(s, 0);
	if (s == 0)
		honest_sender(self->name, rep);
	r = kt_fork(90);
	ASSERT_GE(r, 0);
	if (r == 0)
		honest_receiver(self->name, s, rep);

	{
		siginfo_t si;

		/* reaped only after its last message is in: else it is pid 0 */
		ASSERT_EQ(0, waitid(P_PID, s, &si, WEXITED | WNOWAIT));
	}
	EXPECT_EQ(0, kt_wait(r));
	EXPECT_EQ(0, kt_wait(s));
	rep->stop = 1;
	EXPECT_EQ(0, kt_wait(h));

	TH_LOG("sent %d, received %d, %d zc payloads spoiled in flight, "
	       "%ld hostile rounds", rep->sent, rep->received, rep->spoiled,
	       rep->h_ops);
	EXPECT_EQ(HOSTILE_MSGS, rep->sent);
	EXPECT_EQ(HOSTILE_MSGS, rep->received);
	EXPECT_EQ(0, rep->h_bad) TH_LOG("hostile op %d got %d, errno %d",
					rep->h_bad_op, rep->h_bad_ret,
					rep->h_bad_errno);
	ASSERT_EQ(0, kt_getattr(self->fd, &a));
	EXPECT_EQ(0, a.cur_msgs);
	EXPECT_EQ(NSLOTS, a.zc_free);
	EXPECT_EQ(0, a.wr_waiters);
	EXPECT_EQ(0, a.rd_waiters);

	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, kt_unlink(self->name));
	ASSERT_EQ(0, kt_read_stats(&st));
	EXPECT_EQ(0, st.zc_slots_held);
	EXPECT_EQ(0, st.region_pages);
	EXPECT_EQ(0, st.messages);
}

/* ---- last: nothing left behind ------------------------------------------ */

FIXTURE(zz_leak) {
	int unused;
};

FIXTURE_SETUP(zz_leak)
{
	KT_REQUIRE_MODULE();
}

FIXTURE_TEARDOWN(zz_leak)
{
}

TEST_F(zz_leak, no_slot_held_and_no_region_left_once_all_is_closed)
{
	struct kt_stats s;

	ASSERT_EQ(0, kt_read_stats(&s));
	ASSERT_EQ(KT_STATS_ALL, s.seen);
	EXPECT_EQ(0, s.zc_slots_held);
	EXPECT_EQ(0, s.region_pages);
}

TEST_HARNESS_MAIN
