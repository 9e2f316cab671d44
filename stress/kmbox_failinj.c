// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox_failinj: systematic fault injection into every kmbox call path,
 * for the debug kernel (CONFIG_FAULT_INJECTION, FAILSLAB,
 * FAIL_PAGE_ALLOC, FAULT_INJECTION_USERCOPY, debugfs).
 *
 * Usage: kmbox_failinj [--verbose] [--max-nth N] [--scenario NAME]
 *        kmbox_failinj --load /kmbox.ko     (module must not be loaded)
 * Arguments are also taken from $KMBOX_FAILINJ_ARGS.
 * On a kernel without /proc/thread-self/fail-nth it prints SKIP, exits 4.
 *
 * For each scenario (open, bind named/anonymous/with region, lookup,
 * unlink, send/write of small and large messages, recv/read, batches,
 * zero-copy reserve/send/recv/release, mmap, getattr, info, O_ASYNC,
 * /proc/kmbox) and for n = 1, 2, ...: set up (no faults), write n to
 * /proc/thread-self/fail-nth so that the n-th fault site the call passes
 * (slab allocation, page allocation, user copy) fails, make the one call,
 * read fail-nth back (0: the fault was injected), check, tear down, and
 * check that /proc/kmbox/stats is back to zero; until a round passes
 * without reaching the n-th site.  Checks:
 *  - a failed call fails with ENOMEM or EFAULT (mmap: also EAGAIN), never
 *    with something else, and leaves the state as it was: nothing queued
 *    by a failed send, the message at its place after a failed receive,
 *    slots still held after a failed release, no name after a failed
 *    create, an unbound file after a failed bind (which then binds fine);
 *  - a call that succeeded despite an injected fault (a fallback, e.g.
 *    kvmalloc) did all its work;
 *  - nothing leaks: every count in /proc/kmbox/stats is zero after each
 *    round's teardown;
 *  - no splat (BUG, WARNING, KASAN, UBSAN, lockdep) appears in /dev/kmsg.
 * With failslab/fail_page_alloc/fail_usercopy verbose=2 every injected
 * fault leaves a stack trace in the kernel log; the innermost "[kmbox]"
 * frame of each names the module's call site, and the program prints
 * how many distinct sites it hit, and which.
 *
 * --load PATH sweeps finit_module() the same way: every failed load
 * must leave no /dev/kmbox and no /proc/kmbox behind, and the next load
 * must work (kmbox_init's error unwinding).  The module is left unloaded.
 *
 * Output: KTAP, then "# failinj: N distinct fault sites in kmbox hit".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kmbox.h"
#include "stress_util.h"

#define DBG		"/sys/kernel/debug/"
#define MAX_SITES	128

static bool verbose;
static unsigned int max_nth = 400;
static const char *only;		/* --scenario: run just this one */
static int nth_fd = -1, kmsg_fd = -1;
static unsigned long total_injected, splats, tracewarns;
static const char *cur_scen = "";

/* ---- fault-injection knobs ------------------------------------------------------- */

struct knob {
	const char *path, *value;
	char old[64];
	bool saved;
};

static struct knob knobs[] = {
	{ DBG "failslab/ignore-gfp-wait", "N" },
	{ DBG "failslab/verbose", "2" },
	{ DBG "failslab/verbose_ratelimit_interval_ms", "0" },
	{ DBG "failslab/probability", "0" },
	{ DBG "fail_page_alloc/ignore-gfp-wait", "N" },
	{ DBG "fail_page_alloc/min-order", "0" },
	{ DBG "fail_page_alloc/verbose", "2" },
	{ DBG "fail_page_alloc/verbose_ratelimit_interval_ms", "0" },
	{ DBG "fail_page_alloc/probability", "0" },
	{ DBG "fail_usercopy/verbose", "2" },
	{ DBG "fail_usercopy/verbose_ratelimit_interval_ms", "0" },
	{ DBG "fail_usercopy/probability", "0" },
	/* Stack dumps go to the log, not the (slow, serial) console. */
	{ "/proc/sys/kernel/printk", "1" },
};

static int write_str(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, v, strlen(v)) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static void knobs_set(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		knobs[i].saved = !read_str(knobs[i].path, knobs[i].old, sizeof(knobs[i].old));
		if (write_str(knobs[i].path, knobs[i].value))
			diag("cannot set %s", knobs[i].path);
	}
}

static void knobs_restore(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		if (knobs[i].saved)
			write_str(knobs[i].path, knobs[i].old);
}

/* ---- fail-nth ------------------------------------------------------------------------ */

static void arm(unsigned int n)
{
	char b[16];
	int len = snprintf(b, sizeof(b), "%u", n);

	if (pwrite(nth_fd, b, len, 0) != len) {
		diag("write fail-nth: %s", strerror(errno));
		exit(1);
	}
}

/* Disarm; true if the fault was injected. */
static bool disarm(void)
{
	char b[16] = "";
	ssize_t n = pread(nth_fd, b, sizeof(b) - 1, 0);
	bool injected;

	/*
	 * The read's own copy to user space is a fault site too: with one
	 * left, it fails (EFAULT) and the value read was 1.
	 */
	if (n < 0)
		injected = false;
	else
		injected = atoi(b) == 0;
	/*
	 * Writing 0 copies from user space, a fault site again: while a
	 * count is left, that copy fails and uses it up.  Repeat until the
	 * write goes through.
	 */
	while (pwrite(nth_fd, "0", 1, 0) != 1) {
		if (errno != EFAULT) {
			diag("write fail-nth: %s", strerror(errno));
			exit(1);
		}
	}
	return injected;
}

/* ---- the kernel log: sites and splats ---------------------------------------------------- */

struct site {
	char where[160];	/* "kmbox_msg_alloc+0x8e [failslab]" */
	char scen[160];		/* scenarios that hit it */
	unsigned long hits;
};

static struct site sites[MAX_SITES];
static int nsites;
static unsigned long outside;	/* injected faults with no kmbox frame */
static char outside_ex[4][120];

static void add_site(const char *frame, const char *kind)
{
	char key[160];
	int i;

	snprintf(key, sizeof(key), "%.96s [%.32s]", frame, kind);
	for (i = 0; i < nsites; i++)
		if (!strcmp(sites[i].where, key))
			break;
	if (i == nsites) {
		if (nsites == MAX_SITES)
			return;
		snprintf(sites[nsites++].where, sizeof(sites[0].where), "%s", key);
	}
	sites[i].hits++;
	if (!strstr(sites[i].scen, cur_scen) &&
	    strlen(sites[i].scen) + strlen(cur_scen) + 2 < sizeof(sites[i].scen)) {
		if (sites[i].scen[0])
			strcat(sites[i].scen, ",");
		strcat(sites[i].scen, cur_scen);
	}
}

static const char *const splat_words[] = {
	"BUG:", "WARNING:", "KASAN", "UBSAN", "Oops", "general protection",
	"possible recursive locking", "possible circular locking", "inconsistent lock state",
	"suspicious RCU usage", "unreferenced object", "INFO: task", "refcount_t:",
};

/*
 * Read what the kernel logged since the last call.  A fault report is
 * "FAULT_INJECTION: forcing a failure.\nname <attr>, ..." then a stack
 * dump, one record per line; the first frame of ours names the site.
 */
static void scan_kmsg(void)
{
	static char kind[32];
	static bool in_trace, found;
	char rec[2048];
	ssize_t n;
	size_t i;

	if (kmsg_fd < 0)
		return;
	for (;;) {
		char *msg, *p;

		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EPIPE)	/* overwritten records: go on */
				continue;
			break;
		}
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = 0;
		/*
		 * The tracing core WARNs once (WARN_ON_ONCE) when an injected
		 * ENOMEM hits it while it adds a loading module's trace events
		 * (kmbox's, in finit_module): the kernel's splat, not ours.
		 */
		if (strstr(msg, "WARNING:") && strstr(msg, "kernel/trace/trace_events.c") &&
		    strstr(msg, "event_define_fields")) {
			tracewarns++;
			diag("tracing core's WARN under injected ENOMEM in %s (not kmbox's): %s",
			     cur_scen, msg);
			continue;
		}
		for (i = 0; i < ARRAY_SIZE(splat_words); i++) {
			if (strstr(msg, splat_words[i])) {
				splats++;
				diag("kernel splat in %s: %s", cur_scen, msg);
				break;
			}
		}
		if (strstr(msg, "FAULT_INJECTION: forcing a failure")) {
			if (in_trace && !found)
				outside++;
			in_trace = true;
			found = false;
			snprintf(kind, sizeof(kind), "?");
			p = strstr(msg, "name ");
			if (p) {
				snprintf(kind, sizeof(kind), "%s", p + 5);
				kind[strcspn(kind, ",")] = 0;
			}
			continue;
		}
		if (!in_trace)
			continue;
		if (!strncmp(msg, "name ", 5)) {
			snprintf(kind, sizeof(kind), "%s", msg + 5);
			kind[strcspn(kind, ",")] = 0;
			continue;
		}
		if (strstr(msg, "</TASK>")) {
			if (!found) {
				if (outside < ARRAY_SIZE(outside_ex))
					snprintf(outside_ex[outside], sizeof(outside_ex[0]), "%s (%s)",
						 cur_scen, kind);
				outside++;
			}
			in_trace = false;
			continue;
		}
		if (!found && strstr(msg, "[kmbox]") && !strstr(msg, "? ")) {
			char frame[96];

			p = msg + strspn(msg, " ");
			snprintf(frame, sizeof(frame), "%s", p);
			frame[strcspn(frame, "/ ")] = 0;	/* "func+0xoff" */
			add_site(frame, kind);
			found = true;
		}
	}
}

/* ---- state and checks ------------------------------------------------------------------- */

struct st {
	int fd, fd2;
	void *map;
	size_t maplen;
	__u32 slots[4];
	unsigned char *big;
	char buf[4096];
};

static unsigned long scen_fail, scen_inj;
static char why[256];

#define FAIL(...) do { snprintf(why, sizeof(why), __VA_ARGS__); return false; } while (0)

static bool errno_ok(long ret, bool mmap_like)
{
	return ret == -ENOMEM || ret == -EFAULT || (mmap_like && ret == -EAGAIN);
}

static __u32 cur_msgs(int fd)
{
	struct kmbox_attr a;

	return kb_getattr(fd, &a) ? ~0u : a.cur_msgs;
}

static int anon(__u32 max_msgs, __u32 max_msgsize, __u32 slots, __u32 slot_size)
{
	struct kmbox_attr a = { .max_msgs = max_msgs, .max_msgsize = max_msgsize,
				.zc_slots = slots, .zc_slot_size = slot_size };
	int fd = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &a);

	if (fd < 0) {
		diag("setup: anonymous mailbox: %s", strerror(-fd));
		exit(1);
	}
	return fd;
}

static long recv_into(int fd, void *buf, __u32 len, __u32 flags, struct kmbox_recv *out)
{
	struct kmbox_recv rv = { .buf = U64(buf), .len = len, .flags = flags | KMBOX_F_NONBLOCK };
	long r = kb_ioctl(fd, KMBOX_IOC_RECV, &rv);

	if (out)
		*out = rv;
	return r;
}

/* Receive and compare with @want (len @n). */
static bool got(int fd, const void *want, size_t n)
{
	char b[256];
	long r = recv_into(fd, b, sizeof(b), 0, NULL);

	return r == (long)n && !memcmp(b, want, n);
}

static void close_all(struct st *s)
{
	if (s->map && s->map != MAP_FAILED)
		munmap(s->map, s->maplen);
	if (s->fd >= 0)
		close(s->fd);
	if (s->fd2 >= 0)
		close(s->fd2);
	free(s->big);
	memset(s, 0, sizeof(*s));
	s->fd = s->fd2 = -1;
}

/* ---- scenarios ------------------------------------------------------------------------------ */

struct scen {
	const char *name;
	void (*setup)(struct st *);
	long (*op)(struct st *);
	bool (*check)(struct st *, long ret, bool injected);
	bool mmap_like;
};

static void su_none(struct st *s)
{
}

static void su_unbound(struct st *s)
{
	s->fd = open(KMBOX_DEVICE, O_RDWR | O_CLOEXEC);
}

/* open(/dev/kmbox): also the per-user record when no file of ours is open. */
static long op_open(struct st *s)
{
	s->fd = open(KMBOX_DEVICE, O_RDWR | O_CLOEXEC);
	return s->fd < 0 ? -errno : s->fd;
}

static bool ck_open(struct st *s, long ret, bool inj)
{
	if (ret >= 0 && cur_msgs(s->fd) != ~0u)
		FAIL("opened file is bound");
	return true;
}

static const char *const NAME = "kmbox-failinj";

static long op_bind_create(struct st *s)
{
	struct kmbox_attr a = { .max_msgs = 4 };

	return kb_bind(s->fd, NAME, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600, &a);
}

/* After a failed bind: still unbound, no name, and a plain bind works. */
static bool ck_bind(struct st *s, long ret, bool inj, bool named)
{
	struct kmbox_attr a;
	int fd;

	if (ret < 0) {
		if (kb_getattr(s->fd, &a) != -EBADFD)
			FAIL("file bound after a failed bind");
		if (named) {
			fd = kb_open(NAME, O_RDWR, 0, 0, NULL);
			if (fd != -ENOENT) {
				if (fd >= 0)
					close(fd);
				FAIL("name exists after a failed create (%d)", fd);
			}
		}
		if (kb_bind(s->fd, NULL, KMBOX_OPEN_ANON, 0, NULL))
			FAIL("bind after a failed bind does not work");
		return true;
	}
	if (kb_send(s->fd, "x", 1, 0, KMBOX_F_NONBLOCK, 0) || !got(s->fd, "x", 1))
		FAIL("bound mailbox does not round-trip");
	if (named && kb_unlink(NAME))
		FAIL("unlink of the new name failed");
	return true;
}

static bool ck_bind_named(struct st *s, long ret, bool inj)
{
	return ck_bind(s, ret, inj, true);
}

static bool ck_bind_anon(struct st *s, long ret, bool inj)
{
	return ck_bind(s, ret, inj, false);
}

static long op_bind_anon_region(struct st *s)
{
	struct kmbox_attr a = { .zc_slots = 8, .zc_slot_size = 4096 };

	return kb_bind(s->fd, NULL, KMBOX_OPEN_ANON, 0, &a);
}

static long op_bind_anon_bigregion(struct st *s)
{
	/* Slot arrays past a page: kvmalloc's vmalloc fallback. */
	struct kmbox_attr a = { .zc_slots = 2048, .zc_slot_size = 64, .max_msgsize = 64 };

	return kb_bind(s->fd, NULL, KMBOX_OPEN_ANON, 0, &a);
}

static void su_named_exists(struct st *s)
{
	s->fd2 = kb_open(NAME, O_RDWR, KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL, 0600, NULL);
	kb_send(s->fd2, "keep", 4, 0, KMBOX_F_NONBLOCK, 0);
	s->fd = open(KMBOX_DEVICE, O_RDWR | O_CLOEXEC);
}

static long op_bind_lookup(struct st *s)
{
	return kb_bind(s->fd, NAME, 0, 0, NULL);
}

static bool ck_lookup(struct st *s, long ret, bool inj)
{
	struct kmbox_attr a;

	if (ret < 0 && kb_getattr(s->fd, &a) != -EBADFD)
		FAIL("file bound after a failed lookup");
	if (ret >= 0 && !got(s->fd, "keep", 4))
		FAIL("lookup bound to something else");
	if (ret < 0 && !got(s->fd2, "keep", 4))
		FAIL("the mailbox lost its message");
	kb_unlink(NAME);
	return true;
}

static long op_unlink(struct st *s)
{
	struct kmbox_unlink u = { .name = U64(NAME) };

	return kb_ioctl(s->fd, KMBOX_IOC_UNLINK, &u);
}

static bool ck_unlink(struct st *s, long ret, bool inj)
{
	int fd = kb_open(NAME, O_RDWR, 0, 0, NULL);
	bool exists = fd >= 0;

	if (fd >= 0)
		close(fd);
	if (ret < 0 && !exists)
		FAIL("name gone after a failed unlink");
	if (ret >= 0 && exists)
		FAIL("name still there after unlink");
	kb_unlink(NAME);
	return true;
}

static const char MSG[] = "fault injection payload";

static void su_anon(struct st *s)
{
	s->fd = anon(8, 128 * 1024, 0, 0);
}

static long op_send(struct st *s)
{
	return kb_send(s->fd, MSG, sizeof(MSG), 5, KMBOX_F_NONBLOCK, 0);
}

static long op_write(struct st *s)
{
	long r = write(s->fd, MSG, sizeof(MSG));

	return r < 0 ? -errno : r;
}

static bool ck_send(struct st *s, long ret, bool inj)
{
	__u32 n = cur_msgs(s->fd);

	if (ret < 0 && n != 0)
		FAIL("failed send left %u messages queued", n);
	if (ret >= 0 && (n != 1 || !got(s->fd, MSG, sizeof(MSG))))
		FAIL("sent message missing or wrong (%u queued)", n);
	return true;
}

static void su_anon_big(struct st *s)
{
	su_anon(s);
	s->big = malloc(64 * 1024);
	memset(s->big, 0x3c, 64 * 1024);
}

static long op_send_big(struct st *s)
{
	return kb_send(s->fd, s->big, 64 * 1024, 0, KMBOX_F_NONBLOCK, 0);
}

static bool ck_send_big(struct st *s, long ret, bool inj)
{
	__u32 n = cur_msgs(s->fd);

	if (ret < 0 && n)
		FAIL("failed send left %u messages", n);
	if (ret >= 0) {
		unsigned char *b = malloc(64 * 1024);
		long r = recv_into(s->fd, b, 64 * 1024, 0, NULL);
		bool same = r == 64 * 1024 && !memcmp(b, s->big, 64 * 1024);

		free(b);
		if (!same)
			FAIL("large message wrong after send (%ld)", r);
	}
	return true;
}

static void su_two(struct st *s)
{
	su_anon(s);
	kb_send(s->fd, "first", 5, 9, KMBOX_F_NONBLOCK, 0);
	kb_send(s->fd, "second", 6, 1, KMBOX_F_NONBLOCK, 0);
}

static long op_recv(struct st *s)
{
	return recv_into(s->fd, s->buf, sizeof(s->buf), 0, NULL);
}

static long op_read(struct st *s)
{
	long r = read(s->fd, s->buf, sizeof(s->buf));

	return r < 0 ? -errno : r;
}

static bool ck_recv(struct st *s, long ret, bool inj)
{
	if (ret >= 0) {
		if (ret != 5 || memcmp(s->buf, "first", 5))
			FAIL("received the wrong message");
		if (!got(s->fd, "second", 6))
			FAIL("second message lost");
		return true;
	}
	if (cur_msgs(s->fd) != 2)
		FAIL("failed receive: %u messages left, want 2", cur_msgs(s->fd));
	if (!got(s->fd, "first", 5) || !got(s->fd, "second", 6))
		FAIL("failed receive changed the order");
	return true;
}

static long op_send_batch(struct st *s)
{
	struct kmbox_mmsg m[4];
	struct kmbox_batch b = { .msgs = U64(m), .count = 4, .flags = KMBOX_F_NONBLOCK };
	int i;

	for (i = 0; i < 4; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].buf = U64(MSG + i);
		m[i].len = 4;
	}
	return kb_ioctl(s->fd, KMBOX_IOC_SEND_BATCH, &b);
}

static bool ck_send_batch(struct st *s, long ret, bool inj)
{
	__u32 n = cur_msgs(s->fd);
	long i;

	if (ret < 0 && n)
		FAIL("failed batch left %u queued", n);
	if (ret >= 0) {
		if (ret < 1 || ret > 4 || n != (__u32)ret)
			FAIL("batch returned %ld, %u queued", ret, n);
		for (i = 0; i < ret; i++)
			if (!got(s->fd, MSG + i, 4))
				FAIL("batch entry %ld wrong", i);
	}
	return true;
}

static void su_four(struct st *s)
{
	int i;

	su_anon(s);
	for (i = 0; i < 4; i++)
		kb_send(s->fd, MSG + i, 4, 0, KMBOX_F_NONBLOCK, 0);
}

static long op_recv_batch(struct st *s)
{
	struct kmbox_mmsg m[4];
	struct kmbox_batch b = { .msgs = U64(m), .count = 4, .flags = KMBOX_F_NONBLOCK };
	int i;

	for (i = 0; i < 4; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].buf = U64(s->buf + i * 64);
		m[i].len = 64;
	}
	return kb_ioctl(s->fd, KMBOX_IOC_RECV_BATCH, &b);
}

static bool ck_recv_batch(struct st *s, long ret, bool inj)
{
	__u32 n = cur_msgs(s->fd);
	long i, k = ret < 0 ? 0 : ret;

	if (ret >= 0 && (ret < 1 || ret > 4))
		FAIL("batch returned %ld", ret);
	for (i = 0; i < k; i++)
		if (memcmp(s->buf + i * 64, MSG + i, 4))
			FAIL("batch entry %ld wrong", i);
	if (n != 4 - k)
		FAIL("%u left after receiving %ld of 4", n, k);
	for (i = k; i < 4; i++)
		if (!got(s->fd, MSG + i, 4))
			FAIL("message %ld lost or out of order", i);
	return true;
}

static void su_zc(struct st *s)
{
	s->fd = anon(8, 4096, 4, 4096);
	s->maplen = 4 * 4096;
	s->map = mmap(NULL, s->maplen, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
}

static long op_reserve(struct st *s)
{
	struct kmbox_slots z = { .slots = U64(s->slots), .count = 2, .flags = KMBOX_F_NONBLOCK };

	return kb_ioctl(s->fd, KMBOX_IOC_ZC_RESERVE, &z);
}

static bool ck_reserve(struct st *s, long ret, bool inj)
{
	struct kmbox_attr a;

	kb_getattr(s->fd, &a);
	if (ret < 0 && (a.zc_held || a.zc_free != 4))
		FAIL("failed reserve: held %u free %u", a.zc_held, a.zc_free);
	if (ret >= 0 && (ret < 1 || ret > 2 || a.zc_held != ret || a.zc_free != 4 - ret))
		FAIL("reserve %ld: held %u free %u", ret, a.zc_held, a.zc_free);
	return true;
}

static void su_zc_held(struct st *s)
{
	su_zc(s);
	kmbox_zc_reserve(s->fd, s->slots, 2, KMBOX_F_NONBLOCK, NULL);
}

static long op_release(struct st *s)
{
	struct kmbox_slots z = { .slots = U64(s->slots), .count = 2 };

	return kb_ioctl(s->fd, KMBOX_IOC_ZC_RELEASE, &z);
}

static bool ck_release(struct st *s, long ret, bool inj)
{
	struct kmbox_attr a;

	kb_getattr(s->fd, &a);
	if (ret < 0 && a.zc_held != 2)
		FAIL("failed release: held %u, want 2", a.zc_held);
	if (ret >= 0 && (a.zc_held || a.zc_free != 4))
		FAIL("release: held %u free %u", a.zc_held, a.zc_free);
	return true;
}

static void su_zc_one(struct st *s)
{
	su_zc(s);
	kmbox_zc_reserve(s->fd, s->slots, 1, KMBOX_F_NONBLOCK, NULL);
	memcpy((char *)s->map + s->slots[0] * 4096, MSG, sizeof(MSG));
}

static long op_zc_send(struct st *s)
{
	return kb_send_slot(s->fd, NULL, sizeof(MSG), 0, KMBOX_F_ZC | KMBOX_F_NONBLOCK,
			    s->slots[0], 0);
}

static bool ck_zc_send(struct st *s, long ret, bool inj)
{
	struct kmbox_attr a;
	struct kmbox_recv rv;

	kb_getattr(s->fd, &a);
	if (ret < 0 && (a.cur_msgs || a.zc_held != 1))
		FAIL("failed zero-copy send: %u queued, %u held", a.cur_msgs, a.zc_held);
	if (ret >= 0) {
		if (a.cur_msgs != 1 || a.zc_held)
			FAIL("zero-copy send: %u queued, %u held", a.cur_msgs, a.zc_held);
		if (recv_into(s->fd, s->buf, sizeof(s->buf), KMBOX_F_ZC, &rv) != sizeof(MSG) ||
		    !(rv.msg_flags & KMBOX_MSG_ZC) ||
		    memcmp((char *)s->map + rv.slot * 4096, MSG, sizeof(MSG)))
			FAIL("zero-copy message wrong");
	}
	return true;
}

static void su_zc_queued(struct st *s)
{
	su_zc_one(s);
	op_zc_send(s);
	kb_send(s->fd, "copied", 6, 0, KMBOX_F_NONBLOCK, 0);
}

static long op_zc_recv(struct st *s)
{
	struct kmbox_recv rv;
	long r = recv_into(s->fd, s->buf, sizeof(s->buf), KMBOX_F_ZC, &rv);

	s->slots[1] = rv.slot;
	return r;
}

static bool ck_zc_recv(struct st *s, long ret, bool inj)
{
	struct kmbox_attr a;

	kb_getattr(s->fd, &a);
	if (ret < 0) {
		if (a.cur_msgs != 2 || a.zc_held)
			FAIL("failed zero-copy recv: %u queued, %u held", a.cur_msgs, a.zc_held);
		return true;
	}
	if (a.cur_msgs != 1 || a.zc_held != 1 || s->slots[1] != s->slots[0] ||
	    memcmp((char *)s->map + s->slots[1] * 4096, MSG, sizeof(MSG)))
		FAIL("zero-copy recv: %u queued, %u held, slot %u", a.cur_msgs, a.zc_held,
		     s->slots[1]);
	if (!got(s->fd, "copied", 6))
		FAIL("copied message after it lost");
	return true;
}

static long op_zc_recv_batch(struct st *s)
{
	struct kmbox_mmsg m[2];
	struct kmbox_batch b = { .msgs = U64(m), .count = 2, .flags = KMBOX_F_NONBLOCK | KMBOX_F_ZC };

	memset(m, 0, sizeof(m));
	m[0].buf = U64(s->buf);
	m[0].len = 64;
	m[1].buf = U64(s->buf + 64);
	m[1].len = 64;
	return kb_ioctl(s->fd, KMBOX_IOC_RECV_BATCH, &b);
}

static bool ck_zc_recv_batch(struct st *s, long ret, bool inj)
{
	struct kmbox_attr a;

	kb_getattr(s->fd, &a);
	if (ret < 0 && (a.cur_msgs != 2 || a.zc_held))
		FAIL("failed batch: %u queued, %u held", a.cur_msgs, a.zc_held);
	if (ret > 0 && (a.cur_msgs != (__u32)(2 - ret) || a.zc_held != 1))
		FAIL("batch of %ld: %u queued, %u held", ret, a.cur_msgs, a.zc_held);
	return true;
}

static long op_mmap(struct st *s)
{
	s->maplen = 4 * 4096;
	s->map = mmap(NULL, s->maplen, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	return s->map == MAP_FAILED ? -errno : 0;
}

static void su_zc_nomap(struct st *s)
{
	s->fd = anon(8, 4096, 4, 4096);
}

static bool ck_mmap(struct st *s, long ret, bool inj)
{
	if (ret >= 0) {
		memset(s->map, 1, s->maplen);	/* faults the pages in */
	} else {
		s->map = NULL;
	}
	return true;
}

static long op_getattr(struct st *s)
{
	struct kmbox_attr a;

	return kb_getattr(s->fd, &a);
}

static long op_info(struct st *s)
{
	struct kmbox_info i;

	return kb_ioctl(s->fd, KMBOX_IOC_INFO, &i);
}

static long op_fasync(struct st *s)
{
	int fl = fcntl(s->fd, F_GETFL);

	fcntl(s->fd, F_SETOWN, getpid());
	return fcntl(s->fd, F_SETFL, fl | O_ASYNC) ? -errno : 0;
}

static bool ck_fasync(struct st *s, long ret, bool inj)
{
	/* Either way a send must work and, with O_ASYNC, raise SIGIO (ignored). */
	if (kb_send(s->fd, "a", 1, 0, KMBOX_F_NONBLOCK, 0) || !got(s->fd, "a", 1))
		FAIL("mailbox broken after O_ASYNC");
	return true;
}

static long op_proc(struct st *s)
{
	int fd = open("/proc/kmbox/mailboxes", O_RDONLY | O_CLOEXEC);
	long r;

	if (fd < 0)
		return -errno;
	r = read(fd, s->buf, sizeof(s->buf));
	r = r < 0 ? -errno : r;
	close(fd);
	return r;
}

static bool ck_any(struct st *s, long ret, bool inj)
{
	return true;
}

static const struct scen scens[] = {
	{ "open", su_none, op_open, ck_open },
	{ "bind-create-named", su_unbound, op_bind_create, ck_bind_named },
	{ "bind-anon-region", su_unbound, op_bind_anon_region, ck_bind_anon },
	{ "bind-anon-big-region", su_unbound, op_bind_anon_bigregion, ck_bind_anon },
	{ "bind-lookup", su_named_exists, op_bind_lookup, ck_lookup },
	{ "unlink", su_named_exists, op_unlink, ck_unlink },
	{ "send", su_anon, op_send, ck_send },
	{ "write", su_anon, op_write, ck_send },
	{ "send-64k", su_anon_big, op_send_big, ck_send_big },
	{ "recv", su_two, op_recv, ck_recv },
	{ "read", su_two, op_read, ck_recv },
	{ "send-batch", su_anon, op_send_batch, ck_send_batch },
	{ "recv-batch", su_four, op_recv_batch, ck_recv_batch },
	{ "zc-reserve", su_zc, op_reserve, ck_reserve },
	{ "zc-release", su_zc_held, op_release, ck_release },
	{ "zc-send", su_zc_one, op_zc_send, ck_zc_send },
	{ "zc-recv", su_zc_queued, op_zc_recv, ck_zc_recv },
	{ "zc-recv-batch", su_zc_queued, op_zc_recv_batch, ck_zc_recv_batch },
	{ "mmap", su_zc_nomap, op_mmap, ck_mmap, true },
	{ "getattr", su_anon, op_getattr, ck_any },
	{ "info", su_anon, op_info, ck_any },
	{ "fasync", su_anon, op_fasync, ck_fasync },
	{ "proc-mailboxes", su_anon, op_proc, ck_any },
};

/*
 * One sweep over @sc: n = 1, 2, ... until the n-th fault site is not
 * reached.  Adds to *@inj and *@bad; returns false if it ran past
 * --max-nth.
 */
static bool sweep(const struct scen *sc, unsigned int *inj, unsigned long *bad)
{
	struct kb_stats kst;
	unsigned int n;
	struct st s;

	memset(&s, 0, sizeof(s));
	s.fd = s.fd2 = -1;
	for (n = 1; n <= max_nth; n++) {
		bool injected;
		long ret;

		sc->setup(&s);
		scan_kmsg();
		arm(n);
		ret = sc->op(&s);
		injected = disarm();
		why[0] = 0;
		if (!injected && ret < 0) {
			snprintf(why, sizeof(why), "failed (%s) without an injected fault",
				 strerror(-ret));
		} else if (ret < 0 && !errno_ok(ret, sc->mmap_like)) {
			snprintf(why, sizeof(why), "failed with %s, want ENOMEM or EFAULT",
				 strerror(-ret));
		} else if (!sc->check(&s, ret, injected) && !why[0]) {
			snprintf(why, sizeof(why), "check failed");
		}
		close_all(&s);
		if (!why[0] && !kb_wait_stats_zero(&kst, 1000))
			snprintf(why, sizeof(why),
				 "leak: mailboxes %ld messages %ld bytes %ld slots %ld pages %ld users %ld",
				 kst.mailboxes, kst.messages, kst.bytes, kst.zc_slots_held,
				 kst.region_pages, kst.users);
		scan_kmsg();
		if (why[0]) {
			++*bad;
			if (*bad <= 5)
				diag("%s, fault %u%s: %s", sc->name, n, injected ? "" : " (not reached)",
				     why);
		}
		if (verbose)
			diag("%s: fault %u %s, returned %ld", sc->name, n,
			     injected ? "injected" : "not reached", ret);
		if (!injected)
			return true;
		++*inj;
	}
	return false;
}

/*
 * Two sweeps per scenario: the first one also meets allocations the
 * debug kernel makes once per new stack trace (KASAN's stack depot),
 * which shift the numbering of the sites behind them, so it may step
 * over one; the second meets the call's own sites in a stable order.
 */
static void run_scen(const struct scen *sc)
{
	unsigned int inj = 0;
	unsigned long bad = 0;
	bool done;

	cur_scen = sc->name;
	done = sweep(sc, &inj, &bad);
	done &= sweep(sc, &inj, &bad);
	total_injected += inj;
	scen_inj += inj;
	if (bad)
		scen_fail++;
	ktap_result(!bad && done, "failinj %s: %u faults injected in two sweeps, %lu bad outcomes%s",
		    sc->name, inj, bad, done ? "" : " (more fault sites than --max-nth)");
}

/* ---- --load: kmbox_init's error paths ------------------------------------------------------------ */

static int load_sweep(const char *path)
{
	unsigned int n, inj = 0;
	unsigned long bad = 0;
	int fd;

	cur_scen = "insmod";
	ktap_plan(2);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ktap_result(false, "failinj insmod: open %s: %s", path, strerror(errno));
		return 1;
	}
	for (n = 1; n <= 4000; n++) {
		bool injected, loaded;
		long ret;

		scan_kmsg();
		arm(n);
		ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
		injected = disarm();
		loaded = !access("/proc/kmbox", F_OK) || !access(KMBOX_DEVICE, F_OK);
		if (ret == 0) {
			if (!loaded) {
				diag("insmod fault %u: loaded, but no /dev/kmbox or /proc/kmbox", n);
				bad++;
			}
			if (syscall(SYS_delete_module, "kmbox", O_NONBLOCK)) {
				diag("insmod fault %u: rmmod: %s", n, strerror(errno));
				bad++;
				break;
			}
		} else {
			if (loaded) {
				diag("insmod fault %u: load failed (%s) but left %s behind", n,
				     strerror(-ret), access(KMBOX_DEVICE, F_OK) ? "/proc/kmbox" :
				     KMBOX_DEVICE);
				bad++;
			}
			if (!injected) {
				diag("insmod failed (%s) without an injected fault", strerror(-ret));
				bad++;
			}
		}
		scan_kmsg();
		if (!injected)
			break;
		inj++;
	}
	close(fd);
	total_injected += inj;
	ktap_result(!bad, "failinj insmod: %u faults injected into finit_module, %lu bad outcomes",
		    inj, bad);
	if (tracewarns)
		diag("%lu WARN(s) of the tracing core under injected ENOMEM, not counted as splats",
		     tracewarns);
	ktap_result(!splats, "failinj no splat in the kernel log (%lu)", splats);
	return bad || splats;
}

static void print_sites(void)
{
	int i, j, nkmbox = 0;

	/* Distinct call sites in the module, whatever failed under them. */
	for (i = 0; i < nsites; i++) {
		bool seen = false;

		for (j = 0; j < i; j++)
			if (!strncmp(sites[i].where, sites[j].where,
				     strcspn(sites[j].where, " ")) &&
			    strcspn(sites[i].where, " ") == strcspn(sites[j].where, " "))
				seen = true;
		nkmbox += !seen;
	}
	diag("failinj: %lu faults injected; %d distinct fault sites in kmbox hit (%d site/kind pairs); %lu outside kmbox",
	     total_injected, nkmbox, nsites, outside);
	for (i = 0; i < nsites; i++)
		diag("  %-52s %4lu  (%s)", sites[i].where, sites[i].hits, sites[i].scen);
	for (i = 0; i < (int)ARRAY_SIZE(outside_ex) && outside_ex[i][0]; i++)
		diag("  outside kmbox, e.g.: %s", outside_ex[i]);
}

int main(int argc, char **argv)
{
	const char *load = NULL;
	struct kb_stats kst;
	size_t i;
	int rc;

	env_args("KMBOX_FAILINJ_ARGS", &argc, &argv);
	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--max-nth"))
			max_nth = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--load"))
			load = argv[++i];
		else if (!strcmp(argv[i], "--scenario"))
			only = argv[++i];
		else {
			fprintf(stderr, "usage: kmbox_failinj [--verbose] [--max-nth N] [--scenario NAME] | --load PATH\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGIO, SIG_IGN);
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (nth_fd < 0 || access(DBG "failslab", F_OK)) {
		ktap_plan(1);
		ktap_skip("failinj (no fail-nth/failslab: not the debug kernel)");
		return 4;
	}
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
	knobs_set();

	if (load) {
		rc = load_sweep(load);
		knobs_restore();
		print_sites();
		return rc;
	}

	if (access(KMBOX_DEVICE, F_OK)) {
		knobs_restore();
		ktap_plan(1);
		ktap_skip("failinj (module not loaded)");
		return 4;
	}
	ktap_plan(ARRAY_SIZE(scens) + 2);
	if (!kb_wait_stats_zero(&kst, 2000))
		kb_stats_diag("counts before the run (not zero: leak checks may be off)", &kst);
	for (i = 0; i < ARRAY_SIZE(scens); i++) {
		if (only && strcmp(only, scens[i].name))
			ktap_skip("failinj %s (--scenario %s)", scens[i].name, only);
		else
			run_scen(&scens[i]);
	}
	knobs_restore();
	scan_kmsg();
	ktap_result(!splats, "failinj no splat in the kernel log (%lu)", splats);
	print_sites();
	ktap_result(outside + nsites > 0, "failinj fault reports seen in the kernel log");
	return ktap_failed ? 1 : 0;
}
