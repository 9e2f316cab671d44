// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox_fuzz: seeded, bounded fuzzer of /dev/kmbox.
 *
 * Usage: kmbox_fuzz [--seed S] [--ops N] [--duration SECONDS] [--faults] [--verbose]
 * Arguments are also taken from $KMBOX_FUZZ_ARGS (command line wins).
 * Defaults: --seed 1 --ops 1000000 --duration 30; it stops at whichever
 * limit comes first (--duration 0: no time limit, --ops 0: no op limit).
 *
 * Two fuzzing processes (A and B, forked by a supervisor that does no
 * fuzzing itself) share some files and mailboxes (inherited across fork,
 * and by name) and race each other.  Each op is one of: open/close/dup
 * /dev/kmbox files; every ioctl (known and random command numbers) with
 * random and boundary values in every field; read/write; mmap with
 * random protections, flags, lengths and offsets; munmap, mprotect,
 * mremap of region mappings; scribbling over the shared region while the
 * other process sends and receives zero-copy messages in it; poll;
 * O_NONBLOCK/O_ASYNC/F_SETOWN/F_SETSIG; fork of a short-lived grandchild.
 * Pointers are NULL, unmapped, read-only, kernel, non-canonical, running
 * off the end of a page into a PROT_NONE page, or point into the region
 * mapping itself (as the argument struct, as payload, as buffer).
 *
 * A 10 ms interval timer (SIGALRM without SA_RESTART) ends any call that
 * would sleep, so every op is bounded; the processes drop
 * CAP_SYS_RESOURCE first, so the per-user quota bounds what they can pin.
 *
 * "Impossible" results make the run fail: success of a call whose
 * arguments are nonsense (unknown flags, non-zero reserved fields, bad
 * priority, a deadline without KMBOX_F_TIMEOUT, an oversized message, a
 * bad count, an unknown command with our magic), an errno outside the
 * documented set, results out of range (lengths, slots, counts), the
 * kernel writing past the returned length into a receive buffer, a slot
 * release that succeeds for slots this file does not hold, a region
 * mapping that grows or becomes executable, and a SIGSEGV/SIGBUS outside
 * the fuzzer's deliberate accesses (which are fenced with sigsetjmp).
 *
 * --faults: the fuzzing processes write 1 to /proc/self/make-it-fail, so
 * that failslab (set up by the caller with task-filter=Y, e.g.
 * qemu/debug/guest-debug.sh) fails their allocations; ENOMEM and EFAULT
 * are then accepted everywhere and calls that must succeed may fail.
 *
 * Output: KTAP (4 cases) and the number of ops done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sched.h>
#include <linux/capability.h>

#include "kmbox.h"
#include "stress_util.h"

#define NFD		16
#define NMAP		4
#define NNAMES		8
#define MAX_HELD	64
#define PG		4096UL

static unsigned long long opt_seed = 1, opt_ops = 1000000, opt_duration = 30;
static bool opt_verbose, opt_faults;

/* ---- per-process state ------------------------------------------------------ */

enum fkind { F_UNBOUND, F_BOUND };

struct ffile {
	int fd;			/* -1: free */
	bool own;		/* opened by this process after fork: exact checks */
	int acc;		/* O_RDONLY/O_WRONLY/O_RDWR */
	bool bound;
	__u32 max_msgsize;	/* known after GETATTR */
	__u32 nslots;
	__u32 held[MAX_HELD];	/* own files: slots we hold */
	int nheld;
	bool held_unknown;	/* we lost track (e.g. batch recv faulted) */
	char hist[16][64];	/* last changes to @held, for diagnostics */
	unsigned int nhist;
};

struct fmap {
	unsigned char *p;	/* NULL: free */
	size_t len;
	int prot;
};

static struct ffile files[NFD];
static struct fmap maps[NMAP];
static struct rng R;
static char who;			/* 'A' or 'B' */
static unsigned long ops, impossible;
static unsigned char *good;		/* 3 RW pages, then a PROT_NONE page */
static unsigned char *args;		/* argument structs, arrays, names */
static unsigned char *ro;		/* one read-only page */
static unsigned char *unmapped;		/* a PROT_NONE page: faults like a hole */
static sigjmp_buf jb;
static volatile sig_atomic_t deliberate, faulted;

#define GOOD_LEN	(3 * PG)
#define ARGS_LEN	(4 * PG)
#define ARG_MMSG	(args + PG)		/* up to 256 entries */
#define ARG_SLOTS	(args + 3 * PG)		/* up to 256 slots */
#define ARG_NAME	(args + 3 * PG + 1536)	/* up to 257 bytes */
#define ARG_ATTR	(args + 3 * PG + 2048)	/* a struct kmbox_attr */

static void bad(const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	impossible++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (impossible <= 20)
		diag("fuzz %c op %lu: IMPOSSIBLE: %s", who, ops, buf);
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	if (deliberate) {
		faulted = 1;
		siglongjmp(jb, 1);
	}
	{
		char m[160];
		int n = snprintf(m, sizeof(m), "# fuzz %c op %lu: unexpected signal %d at %p\n",
				 who, ops, sig, si->si_addr);

		if (write(STDOUT_FILENO, m, n) < 0) {
			/* nothing */
		}
	}
	_exit(99);
}

static void on_alrm(int sig)
{
}

/* ---- a trace of recent calls, dumped with an impossible result ------------- */

#define NTRACE 4096
static char trace[NTRACE][96];
static unsigned int ntrace;

static void tr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(trace[ntrace++ % NTRACE], sizeof(trace[0]), fmt, ap);
	va_end(ap);
}

/* The trace entries about fd @fd (and forks, dups, closes). */
static void trace_dump_fd(int fd)
{
	unsigned int i = ntrace > NTRACE ? ntrace - NTRACE : 0;
	char key[16];

	snprintf(key, sizeof(key), "fd %d ", fd);
	for (; i < ntrace; i++) {
		const char *t = trace[i % NTRACE];

		if (strstr(t, key) || strstr(t, "fork") || strstr(t, "dup") ||
		    (strstr(t, "close") && strstr(t, key)))
			diag("fuzz %c   trace: %s", who, t);
	}
}

static bool in_args(const void *p, size_t len);

/* kb_ioctl with a trace entry: command, fd, result, slots involved. */
static long fz_ioctl(int fd, unsigned long cmd, void *arg)
{
	long r = kb_ret(ioctl(fd, cmd, arg));
	char extra[64] = "";

	if (cmd == KMBOX_IOC_SEND && in_args(arg, sizeof(struct kmbox_send))) {
		struct kmbox_send *s = arg;

		snprintf(extra, sizeof(extra), "flags %#x slot %u", s->flags, s->slot);
	} else if (cmd == KMBOX_IOC_RECV && in_args(arg, sizeof(struct kmbox_recv))) {
		struct kmbox_recv *v = arg;

		snprintf(extra, sizeof(extra), "flags %#x -> mflags %#x slot %u", v->flags,
			 v->msg_flags, v->slot);
	} else if ((cmd == KMBOX_IOC_ZC_RESERVE || cmd == KMBOX_IOC_ZC_RELEASE) &&
		   in_args(arg, sizeof(struct kmbox_slots))) {
		struct kmbox_slots *z = arg;
		__u32 *sl = (__u32 *)(uintptr_t)z->slots;

		if (in_args(sl, 16))
			snprintf(extra, sizeof(extra), "count %u slots %u %u %u %u", z->count,
				 sl[0], sl[1], sl[2], sl[3]);
	} else if ((cmd == KMBOX_IOC_SEND_BATCH || cmd == KMBOX_IOC_RECV_BATCH) &&
		   in_args(arg, sizeof(struct kmbox_batch))) {
		struct kmbox_batch *b = arg;
		struct kmbox_mmsg *m = (void *)(uintptr_t)b->msgs;

		if (in_args(m, 2 * sizeof(*m)))
			snprintf(extra, sizeof(extra), "count %u flags %#x e0 %#x/%u e1 %#x/%u",
				 b->count, b->flags, m[0].flags, m[0].slot, m[1].flags, m[1].slot);
	}
	tr("op %lu ioctl nr %lu fd %d -> %ld %s", ops, _IOC_NR(cmd), fd, r, extra);
	return r;
}

#define kb_ioctl fz_ioctl

/* ---- value pools ------------------------------------------------------------ */

static __u32 rand_u32(void)
{
	static const __u32 edge[] = { 0, 1, 2, 3, 7, 8, 63, 64, 65, 255, 256, 257, 4095, 4096,
				      4097, 8192, 32767, 32768, 32769, 65535, 65536, 1u << 20,
				      1u << 22, (1u << 22) + 1, 0x7fffffff, 0x80000000,
				      0xfffffffe, 0xffffffff };

	if (rng_pct(&R, 60))
		return edge[rng_below(&R, ARRAY_SIZE(edge))];
	if (rng_pct(&R, 50))
		return rng_below(&R, 300);
	return (__u32)rng_next(&R);
}

static __u64 rand_u64(void)
{
	static const __u64 edge[] = { 0, 1, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
				      ~0ULL, 1ULL << 32 };

	if (rng_pct(&R, 30))
		return edge[rng_below(&R, ARRAY_SIZE(edge))];
	return rand_u32();
}

/* A deadline: usually valid and soon, sometimes past or absurd. */
static __u64 rand_deadline(void)
{
	unsigned int x = rng_below(&R, 100);

	if (x < 40)
		return now_ns() + rng_below(&R, 5000000);
	if (x < 60)
		return 1;				/* long past */
	if (x < 70)
		return 0;
	return rand_u64();
}

enum pkind { P_GOOD, P_NULL, P_UNMAPPED, P_RO, P_KERNEL, P_NONCANON, P_STRADDLE, P_REGION,
	     P_ODD };

/* A pointer for @len bytes; *kind says what it is. */
static void *rand_ptr(size_t len, enum pkind *kind)
{
	unsigned int x = rng_below(&R, 100);
	int i;

	if (x < 55 && len <= GOOD_LEN) {
		*kind = P_GOOD;
		return good + rng_below(&R, GOOD_LEN - len + 1);
	}
	if (x < 60) {
		*kind = P_NULL;
		return NULL;
	}
	if (x < 65) {
		*kind = P_UNMAPPED;
		return unmapped + rng_below(&R, PG);
	}
	if (x < 72) {
		*kind = P_RO;
		return ro + rng_below(&R, PG);
	}
	if (x < 75) {
		*kind = P_KERNEL;
		return (void *)0xffffffff81000000UL;
	}
	if (x < 77) {
		*kind = P_NONCANON;
		return (void *)0x8000000000001000UL;
	}
	if (x < 85 && len > 0) {
		/* Runs off the end of the good area into the PROT_NONE page. */
		*kind = P_STRADDLE;
		return good + GOOD_LEN - rng_below(&R, len < PG ? len : PG);
	}
	if (x < 97) {
		for (i = 0; i < NMAP; i++) {
			struct fmap *m = &maps[(i + x) % NMAP];

			if (m->p) {
				*kind = P_REGION;
				return m->p + rng_below(&R, m->len);
			}
		}
	}
	*kind = P_ODD;
	return good + 1 + rng_below(&R, 7);
}

static bool in_args(const void *p, size_t len)
{
	const unsigned char *c = p;

	return c >= args && c + len <= args + ARGS_LEN;
}

static bool ptr_ok(enum pkind k)
{
	return k == P_GOOD || k == P_ODD;
}

/* Bytes the kernel could legitimately write at @p (of kind @k). */
static size_t ptr_room(const void *p, enum pkind k)
{
	switch (k) {
	case P_GOOD:
	case P_ODD:
	case P_STRADDLE:
		if ((const unsigned char *)p >= args && (const unsigned char *)p < args + ARGS_LEN)
			return args + ARGS_LEN - (const unsigned char *)p;
		return good + GOOD_LEN - (const unsigned char *)p;
	case P_REGION:
		return SIZE_MAX;
	default:
		return 0;
	}
}

/* ---- files ------------------------------------------------------------------ */

static struct ffile *cur_file;

static struct ffile *rand_file(void)
{
	int i, start = rng_below(&R, NFD);

	for (i = 0; i < NFD; i++) {
		struct ffile *f = &files[(start + i) % NFD];

		if (f->fd >= 0)
			return cur_file = f;
	}
	return NULL;
}

static void file_forget(struct ffile *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

static void op_open(void)
{
	static const int accs[] = { O_RDONLY, O_WRONLY, O_RDWR, O_RDWR };
	int i, acc = accs[rng_below(&R, 4)], fl = acc | O_CLOEXEC, fd;
	struct ffile *f = NULL;

	for (i = 0; i < NFD; i++)
		if (files[i].fd < 0) {
			f = &files[i];
			break;
		}
	if (!f) {
		f = &files[rng_below(&R, NFD)];
		tr("op %lu close fd %d (to reuse)", ops, f->fd);
		close(f->fd);
		file_forget(f);
	}
	if (rng_pct(&R, 30))
		fl |= O_NONBLOCK;
	fd = open(KMBOX_DEVICE, fl);
	if (fd < 0) {
		if (errno != EMFILE && errno != ENFILE && errno != ENOMEM && errno != EINTR)
			bad("open(/dev/kmbox): %s", strerror(errno));
		return;
	}
	file_forget(f);
	f->fd = fd;
	f->own = true;
	f->acc = acc;
	tr("op %lu open fd %d acc %d", ops, fd, acc);
}

static void op_close(void)
{
	struct ffile *f = rand_file();

	if (!f)
		return;
	tr("op %lu close fd %d ", ops, f->fd);
	close(f->fd);
	file_forget(f);
}

static void op_dup(void)
{
	struct ffile *f = rand_file(), *g = NULL;
	int i, fd;

	if (!f)
		return;
	for (i = 0; i < NFD; i++)
		if (files[i].fd < 0) {
			g = &files[i];
			break;
		}
	if (!g)
		return;
	fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	tr("op %lu dup fd %d -> %d", ops, f->fd, fd);
	if (fd < 0)
		return;
	*g = *f;
	g->fd = fd;
	/* Two descriptors, one file: neither can track slots exactly any more. */
	g->own = f->own = false;
}

/* ---- ioctls ------------------------------------------------------------------ */

static bool errno_in(long err, const int *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (-err == set[i])
			return true;
	return false;
}

#define CHECK_ERRNO(what, err, ...) do {					\
	static const int set_[] = { __VA_ARGS__ };				\
	if ((err) < 0 && !errno_in((err), set_, ARRAY_SIZE(set_)) &&		\
	    !(opt_faults && ((err) == -ENOMEM || (err) == -EFAULT)))		\
		bad("%s: undocumented errno %ld (%s)", (what), -(long)(err),	\
		    strerror((int)-(err)));					\
} while (0)

/* Fill an argument struct (random bytes or sane values) somewhere. */
/*
 * Which half of the first args page place_arg() uses.  An op that places
 * two arguments (OPEN: the struct and the attr it points to) puts them in
 * different halves: overlapping, the second would overwrite the first and
 * the kernel would see other bytes than the op judged.
 */
static unsigned int arg_half;

static void *place_arg(void *tmpl, size_t size, enum pkind *kind)
{
	void *p;

	p = rng_pct(&R, 85) ? NULL : rand_ptr(size, kind);
	if (!p || ptr_ok(*kind)) {
		/* In the args page, away from the buffers the call uses. */
		*kind = P_GOOD;
		p = args + arg_half * (PG / 2) + rng_below(&R, (PG / 2 - size) / 8) * 8;
	}
	if (*kind == P_GOOD || *kind == P_ODD) {
		memcpy(p, tmpl, size);
	} else if (*kind == P_REGION || *kind == P_STRADDLE) {
		/* Copy what fits; the region mapping may be read-only. */
		deliberate = 1;
		if (!sigsetjmp(jb, 1))
			memcpy(p, tmpl, size);
		deliberate = 0;
	}
	return p;
}

static const char *const fuzz_names[NNAMES] = {
	"kmbox-fuzz-A", "kmbox-fuzz-Z", "kmbox-fuzz-r0", "kmbox-fuzz-r1",
	"kmbox-fuzz-r2", "kmbox-fuzz-r3", "kmbox-fuzz-r4", "kmbox-fuzz-r5",
};

/* A name pointer: good names, bad names, bad pointers. */
static __u64 rand_name(bool *nonsense, bool *maybe_bad)
{
	unsigned int x = rng_below(&R, 100);
	unsigned char *p = ARG_NAME;
	enum pkind k;

	*nonsense = false;
	*maybe_bad = false;
	if (x < 60) {
		strcpy((char *)p, fuzz_names[rng_below(&R, NNAMES)]);
		return U64(p);
	}
	if (x < 65) {
		p[0] = 0;			/* "" */
		*nonsense = true;
		return U64(p);
	}
	if (x < 70) {
		strcpy((char *)p, "kmbox/fuzz");
		*nonsense = true;
		return U64(p);
	}
	if (x < 75) {
		memset(p, 'n', 256);		/* 256 bytes: too long */
		p[256] = 0;
		*nonsense = true;
		return U64(p);
	}
	if (x < 78) {
		memset(p, 'm', 255);		/* exactly KMBOX_NAME_MAX */
		p[255] = 0;
		return U64(p);
	}
	if (x < 85) {
		/* No NUL before the PROT_NONE page. */
		memset(good + GOOD_LEN - 16, 'x', 16);
		*nonsense = true;
		return U64(good + GOOD_LEN - 1 - rng_below(&R, 16));
	}
	*maybe_bad = true;
	return U64(rand_ptr(1, &k));
}

static void fill_attr(struct kmbox_attr *a, bool *nonsense)
{
	static const __u32 slot_sizes[] = { 0, 64, 128, 256, 4096, 63, 100, 1u << 22, 1u << 23 };

	memset(a, 0, sizeof(*a));
	*nonsense = false;
	if (rng_pct(&R, 30)) {
		rng_fill(&R, a, sizeof(*a));
		*nonsense = a->__reserved[0] || a->__reserved[1];
		return;
	}
	a->max_msgs = rng_pct(&R, 60) ? rng_below(&R, 32) : rand_u32();
	a->max_msgsize = rng_pct(&R, 60) ? rng_below(&R, 4096) : rand_u32();
	if (rng_pct(&R, 50)) {
		a->zc_slots = rng_pct(&R, 70) ? 1 + rng_below(&R, 16) : rand_u32();
		a->zc_slot_size = slot_sizes[rng_below(&R, ARRAY_SIZE(slot_sizes))];
	}
	if (rng_pct(&R, 5)) {
		a->__reserved[rng_below(&R, 2)] = 1;
		*nonsense = true;
	}
}

static void op_bind(void)
{
	struct ffile *f = rand_file();
	struct kmbox_open o = { 0 };
	struct kmbox_attr at;
	bool name_nonsense, name_maybe_bad, attr_nonsense, nonsense = false;
	enum pkind ak, ok;
	long r;

	if (!f)
		return;
	o.flags = rng_below(&R, 8);
	if (rng_pct(&R, 5)) {
		o.flags |= 1u << (3 + rng_below(&R, 29));
		nonsense = true;
	}
	o.mode = rng_pct(&R, 90) ? rng_below(&R, 01000) : rand_u32();
	if (o.mode > 0777)
		nonsense = true;
	if (rng_pct(&R, 5)) {
		o.__reserved[rng_below(&R, 3)] = rand_u64() | 1;
		nonsense = true;
	}
	if (o.flags & KMBOX_OPEN_ANON) {
		if (rng_pct(&R, 80))
			o.name = 0;
		else
			o.name = rand_name(&name_nonsense, &name_maybe_bad);
		if (o.name || (o.flags & (KMBOX_OPEN_CREAT | KMBOX_OPEN_EXCL)))
			nonsense = true;
	} else {
		o.name = rand_name(&name_nonsense, &name_maybe_bad);
		nonsense |= name_nonsense;
	}
	if (rng_pct(&R, 70)) {
		fill_attr(&at, &attr_nonsense);
		if (rng_pct(&R, 85)) {
			ak = P_GOOD;
			memcpy(ARG_ATTR, &at, sizeof(at));
			o.attr = U64(ARG_ATTR);
		} else {
			arg_half = 1;
			o.attr = U64(place_arg(&at, sizeof(at), &ak));
			arg_half = 0;
		}
		/* Only looked at when creating; unknown if not where we put it. */
		if ((o.flags & (KMBOX_OPEN_ANON | KMBOX_OPEN_CREAT)) && attr_nonsense &&
		    ptr_ok(ak))
			nonsense = true;
	}
	r = kb_ioctl(f->fd, KMBOX_IOC_OPEN, place_arg(&o, sizeof(o), &ok));
	if (!ptr_ok(ok))
		nonsense = false;	/* the kernel may not even have read it */
	if (r >= 0 && nonsense)
		bad("KMBOX_IOC_OPEN succeeded with nonsense (flags %#x mode %#o reserved %llx/%llx/%llx name %s attr %s)",
		    o.flags, o.mode, (unsigned long long)o.__reserved[0],
		    (unsigned long long)o.__reserved[1], (unsigned long long)o.__reserved[2],
		    o.name == U64(ARG_NAME) ? (char *)ARG_NAME : "(elsewhere)",
		    o.attr ? "given" : "none");
	if (r >= 0 && f->bound && f->own)
		bad("KMBOX_IOC_OPEN rebound a bound file");
	CHECK_ERRNO("OPEN", r, EBUSY, EINVAL, EFAULT, ENAMETOOLONG, ENOENT, EEXIST, EACCES,
		    ENOSPC, EMFILE, ENOMEM);
	if (r >= 0) {
		struct kmbox_attr a;

		f->bound = true;
		if (!kb_getattr(f->fd, &a)) {
			f->max_msgsize = a.max_msgsize;
			f->nslots = a.zc_slots;
		}
	}
}

static void op_unlink(void)
{
	struct ffile *f = rand_file();
	struct kmbox_unlink u = { 0 };
	bool nonsense, maybe_bad;
	enum pkind k;
	long r;

	if (!f)
		return;
	u.name = rand_name(&nonsense, &maybe_bad);
	if (rng_pct(&R, 5)) {
		u.__reserved[rng_below(&R, 3)] = 1;
		nonsense = true;
	}
	/* Leave the two shared names alone most of the time. */
	if (rng_pct(&R, 80) && !nonsense && !maybe_bad && u.name == U64(ARG_NAME) &&
	    (!strcmp((char *)ARG_NAME, "kmbox-fuzz-A") ||
	     !strcmp((char *)ARG_NAME, "kmbox-fuzz-Z")))
		return;
	r = kb_ioctl(f->fd, KMBOX_IOC_UNLINK, place_arg(&u, sizeof(u), &k));
	if (r >= 0 && nonsense && ptr_ok(k))
		bad("KMBOX_IOC_UNLINK succeeded with a bad name or reserved field");
	CHECK_ERRNO("UNLINK", r, ENOENT, EACCES, EINVAL, ENAMETOOLONG, EFAULT, ENOMEM);
}

static void op_info(void)
{
	struct ffile *f = rand_file();
	struct kmbox_info *in;
	enum pkind k;
	long r;

	if (!f)
		return;
	in = rand_ptr(sizeof(*in), &k);
	r = kb_ioctl(f->fd, KMBOX_IOC_INFO, in);
	if (r >= 0 && ptr_room(in, k) < sizeof(*in))
		bad("KMBOX_IOC_INFO succeeded into a bad pointer (kind %d)", k);
	if (r >= 0 && ptr_ok(k) &&
	    (in->api_version != KMBOX_API_VERSION || in->prio_max != KMBOX_PRIO_MAX ||
	     in->__reserved[0] || in->__reserved[1]))
		bad("KMBOX_IOC_INFO: api %u prio_max %u", in->api_version, in->prio_max);
	CHECK_ERRNO("INFO", r, EFAULT);
}

static void op_getattr(void)
{
	struct ffile *f = rand_file();
	struct kmbox_attr *a;
	enum pkind k;
	long r;

	if (!f)
		return;
	a = rand_ptr(sizeof(*a), &k);
	r = kb_ioctl(f->fd, KMBOX_IOC_GETATTR, a);
	if (r >= 0 && ptr_room(a, k) < sizeof(*a))
		bad("KMBOX_IOC_GETATTR succeeded into a bad pointer (kind %d)", k);
	if (r >= 0 && f->own && !f->bound)
		bad("GETATTR succeeded on an unbound file");
	if (r >= 0 && ptr_ok(k)) {
		if (a->cur_msgs > a->max_msgs + 4 || a->zc_free > a->zc_slots ||
		    a->zc_held > a->zc_slots || a->__reserved[0] || a->__reserved[1] ||
		    (!a->zc_slots && (a->zc_free || a->zc_held || a->zc_slot_size)))
			bad("GETATTR nonsense: cur %u/%u zc free %u held %u of %u size %u",
			    a->cur_msgs, a->max_msgs, a->zc_free, a->zc_held, a->zc_slots,
			    a->zc_slot_size);
		if (f->own && !f->held_unknown && a->zc_held != (__u32)f->nheld)
			bad("GETATTR zc_held %u, but this file holds %d slots", a->zc_held,
			    f->nheld);
		f->bound = true;
		f->max_msgsize = a->max_msgsize;
		f->nslots = a->zc_slots;
	}
	CHECK_ERRNO("GETATTR", r, EBADFD, EFAULT);
}

static __u32 rand_flags(bool *nonsense, __u32 allowed)
{
	__u32 fl = rng_below(&R, 8) & allowed;

	*nonsense = false;
	if (rng_pct(&R, 5)) {
		fl |= 1u << rng_below(&R, 32);
		*nonsense = fl & ~allowed;
	}
	return fl;
}

static const char *cur_op = "";

static void hist(struct ffile *f, char what, __u32 slot)
{
	snprintf(f->hist[f->nhist++ % 16], sizeof(f->hist[0]), "op %lu %s %c%u errno %d", ops, cur_op,
		 what, slot, errno);
}

static void hist_dump(struct ffile *f)
{
	unsigned int i = f->nhist > 16 ? f->nhist - 16 : 0;

	for (; i < f->nhist; i++)
		diag("fuzz %c   fd %d: %s", who, f->fd, f->hist[i % 16]);
}

static void held_add(struct ffile *f, __u32 slot)
{
	hist(f, '+', slot);
	if (f->nheld < MAX_HELD)
		f->held[f->nheld++] = slot;
	else
		f->held_unknown = true;
}

static bool held_del(struct ffile *f, __u32 slot)
{
	int i;

	hist(f, '-', slot);
	for (i = 0; i < f->nheld; i++)
		if (f->held[i] == slot) {
			f->held[i] = f->held[--f->nheld];
			return true;
		}
	return false;
}

static bool held_has(struct ffile *f, __u32 slot)
{
	int i;

	for (i = 0; i < f->nheld; i++)
		if (f->held[i] == slot)
			return true;
	return false;
}

static void op_send(void)
{
	struct ffile *f = rand_file();
	struct kmbox_send s = { 0 };
	bool nonsense, zc;
	enum pkind bk, sk;
	long r;

	if (!f)
		return;
	s.flags = rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT | KMBOX_F_ZC);
	zc = s.flags & KMBOX_F_ZC;
	if (f->own && f->nheld && zc && rng_pct(&R, 70))
		s.slot = f->held[rng_below(&R, f->nheld)];
	else if (zc || rng_pct(&R, 5))
		s.slot = rng_pct(&R, 50) ? rng_below(&R, 20) : rand_u32();
	if (!zc && s.slot)
		nonsense = true;
	s.len = rng_pct(&R, 70) ? rng_below(&R, 600) : rand_u32();
	if (f->max_msgsize && s.len > f->max_msgsize && f->own)
		nonsense = true;
	s.prio = rng_pct(&R, 80) ? rng_below(&R, 8) : rand_u32();
	if (s.prio >= KMBOX_PRIO_MAX)
		nonsense = true;
	if (s.flags & KMBOX_F_TIMEOUT)
		s.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		s.deadline_ns = rand_u64();
	if (!(s.flags & KMBOX_F_TIMEOUT) && s.deadline_ns)
		nonsense = true;
	if (s.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	if (rng_pct(&R, 3)) {
		s.__reserved[rng_below(&R, 2)] = 1;
		nonsense = true;
	}
	s.buf = U64(rand_ptr(s.len < GOOD_LEN ? s.len : GOOD_LEN, &bk));
	if (!zc && s.len && !ptr_ok(bk) && bk != P_RO && bk != P_REGION)
		nonsense = true;
	if (!zc && s.len > GOOD_LEN)
		nonsense = true;	/* runs off our buffers */
	r = kb_ioctl(f->fd, KMBOX_IOC_SEND, place_arg(&s, sizeof(s), &sk));
	if (!ptr_ok(sk)) {
		/* The kernel read whatever was there, not our template. */
		nonsense = false;
		if (r == 0)
			f->held_unknown = true;
	}
	if (r > 0)
		bad("SEND returned %ld", r);
	if (r == 0 && nonsense)
		bad("SEND succeeded with nonsense (len %u prio %u flags %#x slot %u deadline %llu buf kind %d)",
		    s.len, s.prio, s.flags, s.slot, (unsigned long long)s.deadline_ns, bk);
	if (r == 0 && f->own && f->acc == O_RDONLY)
		bad("SEND succeeded on an O_RDONLY file");
	if (r == 0 && zc && f->own && !f->held_unknown && ptr_ok(sk)) {
		if (!held_del(f, s.slot))
			bad("zero-copy SEND of slot %u that this file did not hold", s.slot);
	}
	CHECK_ERRNO("SEND", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN, ETIMEDOUT, EINTR,
		    ENOBUFS, ENOMEM);
}

/* Pattern after a receive buffer, to catch writes past the length returned. */
#define GUARD	0xa5

static void op_recv(void)
{
	struct ffile *f = rand_file();
	struct kmbox_recv rv = { 0 }, *up;
	bool nonsense, buf_good;
	enum pkind bk, rk;
	__u32 cap;
	long r;

	if (!f)
		return;
	rv.flags = rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT | KMBOX_F_ZC);
	rv.len = rng_pct(&R, 70) ? rng_below(&R, 700) : rand_u32();
	if (rv.flags & KMBOX_F_TIMEOUT)
		rv.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		rv.deadline_ns = rand_u64();
	if (!(rv.flags & KMBOX_F_TIMEOUT) && rv.deadline_ns)
		nonsense = true;
	if (rv.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	if (rng_pct(&R, 3)) {
		rv.__reserved[rng_below(&R, 2)] = 1;
		nonsense = true;
	}
	cap = rv.len < GOOD_LEN ? rv.len : GOOD_LEN;
	rv.buf = U64(rand_ptr(cap, &bk));
	buf_good = ptr_ok(bk) && rv.len <= GOOD_LEN;
	if (rng_pct(&R, 3))
		rv.slot = rand_u32();		/* output field: ignored */
	up = place_arg(&rv, sizeof(rv), &rk);
	if (buf_good)
		memset((void *)(uintptr_t)rv.buf, GUARD,
		       good + GOOD_LEN - (unsigned char *)(uintptr_t)rv.buf);
	r = kb_ioctl(f->fd, KMBOX_IOC_RECV, up);
	if (!ptr_ok(rk)) {
		nonsense = false;
		if (r >= 0)
			f->held_unknown = true;
	}
	if (r >= 0 && nonsense)
		bad("RECV succeeded with nonsense (flags %#x deadline %llu reserved)", rv.flags,
		    (unsigned long long)rv.deadline_ns);
	if (r >= 0 && f->own && f->acc == O_WRONLY)
		bad("RECV succeeded on an O_WRONLY file");
	if (r >= 0 && ptr_ok(rk)) {
		bool zcmsg = up->msg_flags & KMBOX_MSG_ZC;

		if ((__u32)r != up->len || (f->max_msgsize && up->len > f->max_msgsize && f->own) ||
		    up->prio >= KMBOX_PRIO_MAX || (up->msg_flags & ~KMBOX_MSG_ZC) ||
		    (zcmsg && !(rv.flags & KMBOX_F_ZC)) ||
		    (zcmsg && f->nslots && up->slot >= f->nslots) ||
		    (!zcmsg && up->slot != KMBOX_NO_SLOT) ||
		    up->__reserved[0] || up->__reserved[1])
			bad("RECV result: ret %ld len %u prio %u flags %#x slot %u", r, up->len,
			    up->prio, up->msg_flags, up->slot);
		if (!zcmsg && r > (long)rv.len)
			bad("RECV returned %ld bytes into a %u-byte buffer", r, rv.len);
		if (!zcmsg && r > 0 && (size_t)r > ptr_room((void *)(uintptr_t)rv.buf, bk))
			bad("RECV of %ld bytes succeeded into an unwritable buffer (kind %d)", r, bk);
		if (!zcmsg && buf_good) {
			unsigned char *b = (unsigned char *)(uintptr_t)rv.buf;
			size_t i, end = good + GOOD_LEN - b;

			for (i = r; i < end && i < (size_t)r + 64; i++)
				if (b[i] != GUARD) {
					bad("RECV of %ld bytes wrote at offset %zu", r, i);
					break;
				}
		}
		if (zcmsg && f->own) {
			if (!f->held_unknown && held_has(f, up->slot)) {
				bad("RECV handed over slot %u which this file already holds", up->slot);
				hist_dump(f);
				trace_dump_fd(f->fd);
			}
			held_add(f, up->slot);
		}
	}
	if (r == -EMSGSIZE && ptr_ok(rk) && up->len <= rv.len && !(rv.flags & KMBOX_F_ZC))
		bad("RECV EMSGSIZE but len %u fits the %u-byte buffer", up->len, rv.len);
	CHECK_ERRNO("RECV", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN, ETIMEDOUT, EINTR);
}

static void op_batch(bool send)
{
	struct ffile *f = rand_file();
	struct kmbox_batch b = { 0 };
	struct kmbox_mmsg *mm;
	bool nonsense, filled;
	enum pkind mk, bk;
	__u32 i, n;
	long r;

	if (!f)
		return;
	b.flags = rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT |
			     (send ? 0 : KMBOX_F_ZC));
	if (send && (b.flags & KMBOX_F_ZC))
		nonsense = true;
	b.count = rng_pct(&R, 80) ? 1 + rng_below(&R, 8) : rand_u32();
	if (!b.count || b.count > KMBOX_BATCH_MAX)
		nonsense = true;
	if (b.flags & KMBOX_F_TIMEOUT)
		b.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		b.deadline_ns = rand_u64();
	if (!(b.flags & KMBOX_F_TIMEOUT) && b.deadline_ns)
		nonsense = true;
	if (b.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	if (rng_pct(&R, 3)) {
		b.__reserved[rng_below(&R, 2)] = 1;
		nonsense = true;
	}
	n = b.count <= KMBOX_BATCH_MAX ? b.count : KMBOX_BATCH_MAX;
	mm = rng_pct(&R, 85) ? (void *)ARG_MMSG : rand_ptr(n * sizeof(*mm), &mk);
	mk = (unsigned char *)mm == ARG_MMSG ? P_GOOD : mk;
	filled = ptr_ok(mk) && n * sizeof(*mm) <= ptr_room(mm, mk);
	if (filled) {
		for (i = 0; i < n; i++) {
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].len = rng_pct(&R, 80) ? rng_below(&R, 300) : rand_u32();
			mm[i].buf = U64(rand_ptr(mm[i].len < PG ? mm[i].len : PG, &bk));
			mm[i].prio = rng_pct(&R, 80) ? rng_below(&R, 4) : rand_u32();
			if (send && rng_pct(&R, 10)) {
				mm[i].flags = KMBOX_MSG_ZC;
				mm[i].slot = f->own && f->nheld ? f->held[0] : rand_u32();
			} else if (rng_pct(&R, 3)) {
				mm[i].flags = rand_u32();
			}
		}
		if (send && (mm[0].prio >= KMBOX_PRIO_MAX || (mm[0].flags & ~KMBOX_MSG_ZC)))
			nonsense = true;
	}
	b.msgs = U64(mm);
	r = kb_ioctl(f->fd, send ? KMBOX_IOC_SEND_BATCH : KMBOX_IOC_RECV_BATCH,
		     place_arg(&b, sizeof(b), &bk));
	if (!ptr_ok(bk))
		nonsense = false;
	if (r >= 0 && nonsense)
		bad("%s_BATCH succeeded with nonsense (count %u flags %#x)", send ? "SEND" : "RECV",
		    b.count, b.flags);
	if (r == 0 || r > (long)b.count)
		bad("%s_BATCH of %u returned %ld", send ? "SEND" : "RECV", b.count, r);
	if (r > 0 && f->own && (send ? f->acc == O_RDONLY : f->acc == O_WRONLY))
		bad("%s_BATCH succeeded on a file without that access", send ? "SEND" : "RECV");
	if (r > 0 && f->own) {
		/* Zero-copy entries change what we hold; keep it exact when we can. */
		if (!filled || !ptr_ok(bk)) {
			f->held_unknown = true;
		} else {
			for (i = 0; i < (__u32)r && i < n; i++) {
				if (send && (mm[i].flags & KMBOX_MSG_ZC) && !held_del(f, mm[i].slot))
					f->held_unknown = true;
				if (!send && (mm[i].flags & KMBOX_MSG_ZC)) {
					if (!(b.flags & KMBOX_F_ZC))
						bad("RECV_BATCH handed over a slot without KMBOX_F_ZC");
					held_add(f, mm[i].slot);
				}
				if (!send && !(mm[i].flags & KMBOX_MSG_ZC) &&
				    mm[i].slot != KMBOX_NO_SLOT)
					bad("RECV_BATCH copied entry with slot %u", mm[i].slot);
			}
		}
	}
	if (send)
		CHECK_ERRNO("SEND_BATCH", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN,
			    ETIMEDOUT, EINTR, ENOBUFS, ENOMEM);
	else
		CHECK_ERRNO("RECV_BATCH", r, EBADF, EBADFD, EFAULT, EINVAL, EMSGSIZE, EAGAIN,
			    ETIMEDOUT, EINTR, ENOMEM);
}

static void op_reserve(void)
{
	struct ffile *f = rand_file();
	struct kmbox_slots s = { 0 };
	bool nonsense;
	enum pkind sk, ak;
	__u32 *slots, i, j;
	long r;

	if (!f)
		return;
	s.flags = rand_flags(&nonsense, KMBOX_F_NONBLOCK | KMBOX_F_TIMEOUT);
	s.count = rng_pct(&R, 80) ? 1 + rng_below(&R, 4) : rand_u32();
	if (!s.count || s.count > KMBOX_BATCH_MAX)
		nonsense = true;
	if (s.flags & KMBOX_F_TIMEOUT)
		s.deadline_ns = rand_deadline();
	else if (rng_pct(&R, 5))
		s.deadline_ns = rand_u64();
	if (!(s.flags & KMBOX_F_TIMEOUT) && s.deadline_ns)
		nonsense = true;
	if (s.deadline_ns > (__u64)INT64_MAX)
		nonsense = true;
	if (rng_pct(&R, 3)) {
		s.__reserved[rng_below(&R, 2)] = 1;
		nonsense = true;
	}
	slots = rng_pct(&R, 85) ? (void *)ARG_SLOTS : rand_ptr(4 * 8, &sk);
	sk = (unsigned char *)slots == ARG_SLOTS ? P_GOOD : sk;
	s.slots = U64(slots);
	r = kb_ioctl(f->fd, KMBOX_IOC_ZC_RESERVE, place_arg(&s, sizeof(s), &ak));
	if (!ptr_ok(ak))
		nonsense = false;
	if (r >= 0 && nonsense)
		bad("ZC_RESERVE succeeded with nonsense (count %u flags %#x)", s.count, s.flags);
	if (r == 0 || r > (long)s.count)
		bad("ZC_RESERVE of %u returned %ld", s.count, r);
	if (r > 0 && f->own && f->acc == O_RDONLY)
		bad("ZC_RESERVE succeeded on an O_RDONLY file");
	if (r > 0 && ptr_room(slots, sk) < r * sizeof(__u32))
		bad("ZC_RESERVE wrote slots to a bad pointer (kind %d)", sk);
	if (r > 0 && ptr_ok(sk) && ptr_ok(ak)) {
		for (i = 0; i < (__u32)r; i++) {
			if (f->nslots && slots[i] >= f->nslots)
				bad("ZC_RESERVE gave slot %u of %u", slots[i], f->nslots);
			for (j = 0; j < i; j++)
				if (slots[j] == slots[i])
					bad("ZC_RESERVE gave slot %u twice", slots[i]);
			if (f->own) {
				if (!f->held_unknown && held_has(f, slots[i])) {
					bad("ZC_RESERVE gave slot %u, already held by this file",
					    slots[i]);
					hist_dump(f);
					trace_dump_fd(f->fd);
				}
				held_add(f, slots[i]);
			}
		}
	} else if (r > 0 && f->own) {
		f->held_unknown = true;
	}
	CHECK_ERRNO("ZC_RESERVE", r, EBADF, EBADFD, EFAULT, EINVAL, EAGAIN, ETIMEDOUT, EINTR,
		    ENOMEM);
}

static void op_release(void)
{
	struct ffile *f = rand_file();
	struct kmbox_slots s = { 0 };
	bool nonsense = false, expect_ok;
	__u32 *slots = (void *)ARG_SLOTS, i, j;
	enum pkind sk = P_GOOD, ak;
	long r;

	if (!f)
		return;
	s.count = rng_pct(&R, 85) ? 1 + rng_below(&R, 4) : rand_u32();
	if (!s.count || s.count > KMBOX_BATCH_MAX)
		nonsense = true;
	if (rng_pct(&R, 5)) {
		s.flags = 1u << rng_below(&R, 32);
		nonsense = true;
	}
	if (rng_pct(&R, 3)) {
		s.deadline_ns = 1;
		nonsense = true;
	}
	if (rng_pct(&R, 3)) {
		s.__reserved[rng_below(&R, 2)] = 1;
		nonsense = true;
	}
	/* Mostly slots we hold; sometimes others, out of range, duplicates. */
	for (i = 0; i < s.count && i < KMBOX_BATCH_MAX; i++) {
		if (f->nheld && rng_pct(&R, 80))
			slots[i] = f->held[rng_below(&R, f->nheld)];
		else
			slots[i] = rng_pct(&R, 50) ? rng_below(&R, 20) : rand_u32();
	}
	if (rng_pct(&R, 10))
		slots = rand_ptr(16, &sk);
	expect_ok = f->own && !f->held_unknown && !nonsense && ptr_ok(sk) && s.count <= 4;
	if (expect_ok) {
		for (i = 0; i < s.count; i++) {
			if (!held_has(f, slots[i]))
				expect_ok = false;
			for (j = 0; j < i; j++)
				if (slots[j] == slots[i])
					expect_ok = false;
		}
	}
	s.slots = U64(slots);
	r = kb_ioctl(f->fd, KMBOX_IOC_ZC_RELEASE, place_arg(&s, sizeof(s), &ak));
	if (!ptr_ok(ak)) {
		if (r == 0)
			f->held_unknown = true;
		return;
	}
	if (r > 0)
		bad("ZC_RELEASE returned %ld", r);
	if (r == 0 && nonsense)
		bad("ZC_RELEASE succeeded with nonsense (count %u flags %#x)", s.count, s.flags);
	if (f->own && !f->held_unknown && ptr_ok(sk) && s.count <= 4 && !nonsense) {
		if (r == 0 && !expect_ok)
			bad("ZC_RELEASE succeeded for slots this file does not hold (or twice)");
		if (r < 0 && expect_ok && f->bound && !opt_faults)
			bad("ZC_RELEASE of held slots failed: %s", strerror(-r));
	}
	if (r == 0 && f->own) {
		if (ptr_ok(sk))
			for (i = 0; i < s.count && i < KMBOX_BATCH_MAX; i++)
				held_del(f, slots[i]);
		else
			f->held_unknown = true;
	}
	CHECK_ERRNO("ZC_RELEASE", r, EBADFD, EFAULT, EINVAL, ENOMEM);
}

static void op_random_ioctl(void)
{
	struct ffile *f = rand_file();
	unsigned long cmd;
	enum pkind k;
	void *arg;
	long r;

	if (!f)
		return;
	if (rng_pct(&R, 50)) {
		/* Our magic, unknown number or wrong size/direction. */
		unsigned int nr = rng_pct(&R, 50) ? 0x0a + rng_below(&R, 0xf6) : rng_below(&R, 10);
		unsigned int size = rng_below(&R, 128), dir = rng_below(&R, 4);

		cmd = _IOC(dir, KMBOX_IOC_MAGIC, nr, size);
		if (cmd == KMBOX_IOC_INFO || cmd == KMBOX_IOC_OPEN || cmd == KMBOX_IOC_UNLINK ||
		    cmd == KMBOX_IOC_GETATTR || cmd == KMBOX_IOC_SEND || cmd == KMBOX_IOC_RECV ||
		    cmd == KMBOX_IOC_SEND_BATCH || cmd == KMBOX_IOC_RECV_BATCH ||
		    cmd == KMBOX_IOC_ZC_RESERVE || cmd == KMBOX_IOC_ZC_RELEASE)
			return;
		arg = rand_ptr(128, &k);
		r = kb_ioctl(f->fd, cmd, arg);
		if (r != -ENOTTY)
			bad("unknown ioctl %#lx gave %ld, want ENOTTY", cmd, r);
		return;
	}
	/* Anything at all, except the generic ones the VFS acts on itself. */
	cmd = (__u32)rng_next(&R);
	if (((cmd >> 8) & 0xff) == 'T' || ((cmd >> 8) & 0xff) == 'f' ||
	    ((cmd >> 8) & 0xff) == 'X' || ((cmd >> 8) & 0xff) == 0x94 ||
	    ((cmd >> 8) & 0xff) == 0x15 || ((cmd >> 8) & 0xff) == 0x12 ||
	    ((cmd >> 8) & 0xff) == 0x58 || (cmd & 0xffff0000) == 0)
		return;
	arg = rand_ptr(128, &k);
	r = kb_ioctl(f->fd, cmd, arg);
	if (r >= 0 && ((cmd >> 8) & 0xff) == KMBOX_IOC_MAGIC)
		bad("random ioctl %#lx succeeded", cmd);
}

static void op_rw(void)
{
	struct ffile *f = rand_file();
	size_t len = rng_pct(&R, 80) ? rng_below(&R, 700) : rand_u32();
	enum pkind k;
	void *p = rand_ptr(len < GOOD_LEN ? len : GOOD_LEN, &k);
	long r;

	if (!f)
		return;
	if (rng_pct(&R, 50)) {
		r = write(f->fd, p, len);
		r = r < 0 ? -errno : r;
		tr("op %lu write fd %d len %zu -> %ld", ops, f->fd, len, r);
		if (r >= 0 && (size_t)r != len)
			bad("write of %zu returned %ld", len, r);
		if (r >= 0 && f->own && f->max_msgsize && len > f->max_msgsize)
			bad("write of %zu > max_msgsize %u succeeded", len, f->max_msgsize);
		if (r >= 0 && f->own && (f->acc == O_RDONLY || !f->bound))
			bad("write succeeded on %s file", f->bound ? "an O_RDONLY" : "an unbound");
		CHECK_ERRNO("write", r, EBADF, EBADFD, EFAULT, EMSGSIZE, EAGAIN, EINTR, ENOBUFS,
			    ENOMEM, EINVAL);
	} else {
		r = read(f->fd, p, len);
		r = r < 0 ? -errno : r;
		tr("op %lu read fd %d len %zu -> %ld", ops, f->fd, len, r);
		if (r >= 0 && (size_t)r > len)
			bad("read of %zu returned %ld", len, r);
		if (r > 0 && (size_t)r > ptr_room(p, k))
			bad("read of %ld bytes into a bad pointer (kind %d) succeeded", r, k);
		if (r >= 0 && f->own && (f->acc == O_WRONLY || !f->bound))
			bad("read succeeded on %s file", f->bound ? "an O_WRONLY" : "an unbound");
		CHECK_ERRNO("read", r, EBADF, EBADFD, EFAULT, EMSGSIZE, EAGAIN, EINTR, EINVAL);
	}
}

/* ---- mappings ------------------------------------------------------------------ */

static void op_mmap(void)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE,
				     PROT_READ | PROT_EXEC, PROT_NONE };
	struct ffile *f = rand_file();
	struct kmbox_attr a;
	size_t len, region = 0;
	int prot, flags, i, slot = -1;
	off_t off = 0;
	void *p;

	if (!f)
		return;
	for (i = 0; i < NMAP; i++)
		if (!maps[i].p)
			slot = i;
	if (slot < 0) {
		slot = rng_below(&R, NMAP);
		munmap(maps[slot].p, maps[slot].len);
		maps[slot].p = NULL;
	}
	if (!kb_getattr(f->fd, &a) && a.zc_slots)
		region = ((size_t)a.zc_slots * a.zc_slot_size + PG - 1) & ~(PG - 1);
	prot = prots[rng_below(&R, ARRAY_SIZE(prots))];
	flags = rng_pct(&R, 90) ? MAP_SHARED : MAP_PRIVATE;
	if (flags == MAP_PRIVATE)
		prot &= ~PROT_WRITE;	/* no commit charge for absurd lengths */
	switch (rng_below(&R, 5)) {
	case 0:
		len = PG;
		break;
	case 1:
		len = region + PG;
		break;
	case 2:
		len = (size_t)rand_u32() + 1;
		break;
	default:
		len = region ? region : PG;
		break;
	}
	if (rng_pct(&R, 10))
		off = rng_pct(&R, 50) ? PG : (off_t)rand_u32() * PG;
	p = mmap(NULL, len, prot, flags, f->fd, off);
	if (p == MAP_FAILED) {
		if (errno != EINVAL && errno != EPERM && errno != EACCES && errno != ENODEV &&
		    errno != EBADFD && errno != ENOMEM && errno != EOVERFLOW && errno != EAGAIN)
			bad("mmap: undocumented errno %d (%s)", errno, strerror(errno));
		return;
	}
	if (flags != MAP_SHARED || (prot & PROT_EXEC) || off || !region || len > region ||
	    (f->own && (prot & PROT_WRITE) && f->acc == O_RDONLY))
		bad("mmap succeeded: len %zu region %zu prot %#x flags %#x off %lld", len, region,
		    prot, flags, (long long)off);
	maps[slot].p = p;
	maps[slot].len = len;
	maps[slot].prot = prot;
}

static void op_map_misc(void)
{
	struct fmap *m = &maps[rng_below(&R, NMAP)];
	unsigned int x = rng_below(&R, 100);
	size_t i;

	if (!m->p)
		return;
	if (x < 40) {
		/* Scribble over (or read) the region; the other process uses it too. */
		deliberate = 1;
		faulted = 0;
		if (!sigsetjmp(jb, 1)) {
			if (m->prot & PROT_WRITE) {
				for (i = 0; i < 32; i++)
					m->p[rng_below(&R, m->len)] = (unsigned char)rng_next(&R);
				if (rng_pct(&R, 10))
					memset(m->p, (int)rng_below(&R, 256), m->len);
			} else {
				volatile unsigned char c = m->p[rng_below(&R, m->len)];

				(void)c;
				if (rng_pct(&R, 20) && (m->prot & PROT_READ))
					m->p[0] = 1;	/* must fault */
			}
		}
		deliberate = 0;
		if (faulted && (m->prot & PROT_WRITE))
			bad("SIGSEGV writing a PROT_WRITE region mapping");
	} else if (x < 50) {
		if (!mprotect(m->p, m->len, PROT_READ | PROT_EXEC))
			bad("mprotect(PROT_EXEC) of a region mapping succeeded");
	} else if (x < 60) {
		void *q = mremap(m->p, m->len, m->len + PG, MREMAP_MAYMOVE);

		if (q != MAP_FAILED) {
			bad("mremap grew a region mapping");
			m->p = q;
			m->len += PG;
		}
	} else if (x < 70 && m->len > PG) {
		munmap(m->p + PG, m->len - PG);		/* split */
		m->len = PG;
	} else if (x < 80) {
		if (!mprotect(m->p, m->len, PROT_READ))
			m->prot = PROT_READ;
	} else {
		munmap(m->p, m->len);
		m->p = NULL;
	}
}

static void op_poll(void)
{
	struct pollfd pf[4];
	int i, n = 0, r;

	for (i = 0; i < 4; i++) {
		struct ffile *f = rand_file();

		if (!f)
			break;
		pf[n].fd = f->fd;
		pf[n].events = (short)rng_next(&R);
		pf[n].revents = 0;
		n++;
	}
	r = poll(pf, n, 0);
	if (r < 0 && errno != EINTR && errno != ENOMEM)
		bad("poll: %s", strerror(errno));
	for (i = 0; r > 0 && i < n; i++)
		if (pf[i].revents & ~(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLWRBAND |
				      POLLERR | POLLNVAL))
			bad("poll revents %#x", pf[i].revents);
}

static void op_fcntl(void)
{
	struct ffile *f = rand_file();
	int fl;

	if (!f)
		return;
	fl = fcntl(f->fd, F_GETFL);
	switch (rng_below(&R, 4)) {
	case 0:
		fcntl(f->fd, F_SETFL, fl ^ O_NONBLOCK);
		break;
	case 1:
		fcntl(f->fd, F_SETOWN, getpid());
		fcntl(f->fd, F_SETFL, fl ^ O_ASYNC);
		break;
	case 2:
		fcntl(f->fd, F_SETSIG, rng_pct(&R, 50) ? 0 : SIGURG);
		break;
	default:
		fcntl(f->fd, F_SETFL, fl | O_NONBLOCK);
		break;
	}
}

static void op_fork(void)
{
	pid_t pid = fork();
	int i;

	tr("op %lu fork", ops);
	if (pid == 0) {
		/* A grandchild does a few ops on the shared files, then dies. */
		struct itimerval it = { { 0, 10000 }, { 0, 10000 } };

		setitimer(ITIMER_REAL, &it, NULL);	/* timers are not inherited */
		for (i = 0; i < 20; i++) {
			struct ffile *f = rand_file();

			if (f)
				f->own = false;
		}
		for (i = 0; i < 10; i++)
			op_recv();
		_exit(impossible ? 1 : 0);
	}
	if (pid > 0) {
		int st;

		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 99))
			bad("forked grandchild crashed (status %#x)", st);
		/* It may have taken slots through our files. */
		for (i = 0; i < NFD; i++)
			files[i].held_unknown = true;
	}
}

/* Drop CAP_SYS_RESOURCE so the user quota bounds what the fuzzer pins. */
static void drop_sys_resource(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return;
	d[CAP_SYS_RESOURCE / 32].effective &= ~(1u << (CAP_SYS_RESOURCE % 32));
	d[CAP_SYS_RESOURCE / 32].permitted &= ~(1u << (CAP_SYS_RESOURCE % 32));
	d[CAP_SYS_RESOURCE / 32].inheritable &= ~(1u << (CAP_SYS_RESOURCE % 32));
	if (syscall(SYS_capset, &h, d))
		diag("capset: %s (the quota will not bound the fuzzer)", strerror(errno));
}

/* ---- the loop ------------------------------------------------------------------- */

static void fuzz_proc(char name, int shared_fd[], int nshared)
{
	struct sigaction sa = { 0 };
	struct itimerval it = { { 0, 10000 }, { 0, 10000 } };
	__u64 end = opt_duration ? now_ns() + opt_duration * 1000000000ULL : ~0ULL;
	int i;

	who = name;
	rng_seed(&R, opt_seed, name);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sa = (struct sigaction){ .sa_handler = on_alrm };	/* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGIO, SIG_IGN);
	signal(SIGURG, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	setitimer(ITIMER_REAL, &it, NULL);
	if (opt_faults) {
		/* Subject this process (and its forks) to failslab's task filter. */
		int fd = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "1", 1) != 1)
			diag("fuzz %c: cannot set make-it-fail: %s", who, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	/* Only now: make-it-fail takes CAP_SYS_RESOURCE. */
	drop_sys_resource();

	for (i = 0; i < NFD; i++)
		file_forget(&files[i]);
	for (i = 0; i < nshared && i < NFD; i++) {
		files[i].fd = shared_fd[i];
		files[i].acc = O_RDWR;
		files[i].bound = true;
	}

	while ((!opt_ops || ops < opt_ops) && (ops & 255 || now_ns() < end)) {
		unsigned int x = rng_below(&R, 1000);

		ops++;
		cur_op = x < 170 ? "file" : x < 380 ? "send" : x < 520 ? "recv" : x < 570 ? "sendb" :
			 x < 620 ? "recvb" : x < 700 ? "resv" : x < 760 ? "rel" : "other";
		cur_file = NULL;
		if (x < 40)
			op_open();
		else if (x < 70)
			op_close();
		else if (x < 80)
			op_dup();
		else if (x < 170)
			op_bind();
		else if (x < 190)
			op_unlink();
		else if (x < 200)
			op_info();
		else if (x < 240)
			op_getattr();
		else if (x < 380)
			op_send();
		else if (x < 520)
			op_recv();
		else if (x < 570)
			op_batch(true);
		else if (x < 620)
			op_batch(false);
		else if (x < 700)
			op_reserve();
		else if (x < 760)
			op_release();
		else if (x < 800)
			op_random_ioctl();
		else if (x < 860)
			op_rw();
		else if (x < 900)
			op_mmap();
		else if (x < 960)
			op_map_misc();
		else if (x < 975)
			op_poll();
		else if (x < 990)
			op_fcntl();
		else if (x < 992)
			op_fork();
		else
			sleep_us(rng_below(&R, 200));
		if (cur_file && cur_file->own && cur_file->fd >= 0 && !cur_file->held_unknown &&
		    strcmp(cur_op, "file") && strcmp(cur_op, "other"))
			hist(cur_file, '=', cur_file->nheld);
	}
	it = (struct itimerval){ 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	diag("fuzz %c: %lu ops, %lu impossible results", who, ops, impossible);
	/* Exit status: 0 fine, 1 impossible results; the ops count goes by pipe. */
	printf("#OPS %c %lu\n", who, ops);
	fflush(stdout);
	_exit(impossible ? 1 : 0);
}

/*
 * Unlink every named mailbox of our (private) IPC namespace: the fuzzer
 * creates names from random bytes.  /proc/kmbox/mailboxes escapes space,
 * tab, newline and backslash as \ooo; every other byte comes as is.
 */
static int unlink_all_names(void)
{
	FILE *f = fopen("/proc/kmbox/mailboxes", "r");
	char line[4096], name[KMBOX_NAME_MAX + 2];
	int n = 0;

	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ' '), *end;
		size_t k = 0;

		if (!p)
			continue;
		p++;
		end = strchr(p, ' ');
		if (!end)
			continue;
		while (p < end && k < sizeof(name) - 1) {
			if (*p == '\\' && end - p >= 4) {
				name[k++] = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
				p += 4;
			} else {
				name[k++] = *p++;
			}
		}
		name[k] = 0;
		if (strstr(end, " N ") && !kb_unlink(name))
			n++;
	}
	fclose(f);
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: kmbox_fuzz [--seed S] [--ops N] [--duration SECONDS] [--faults] [--verbose]\n"
			"(also reads $KMBOX_FUZZ_ARGS)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct kmbox_attr zc = { .max_msgs = 16, .max_msgsize = 256, .zc_slots = 8,
				 .zc_slot_size = 256 };
	struct kmbox_attr pl = { .max_msgs = 16, .max_msgsize = 512 };
	int shared[4], i, st, pfd[2];
	unsigned long total = 0;
	bool crashed = false, hung = false;
	pid_t pid[2];
	struct kb_stats kst;
	__u64 t0, limit;
	char line[256];
	FILE *in;

	env_args("KMBOX_FUZZ_ARGS", &argc, &argv);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed"))
			opt_seed = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--ops"))
			opt_ops = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--duration"))
			opt_duration = arg_num(argv[i], argv[i + 1]), i++;
		else if (!strcmp(argv[i], "--verbose"))
			opt_verbose = true;
		else if (!strcmp(argv[i], "--faults"))
			opt_faults = true;
		else
			usage();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap_plan(4);
	diag("kmbox_fuzz --seed %llu --ops %llu --duration %llu", opt_seed, opt_ops,
	     opt_duration);
	/* Our names in a namespace of our own: nothing else is touched. */
	if (unshare(CLONE_NEWIPC))
		diag("unshare(CLONE_NEWIPC): %s (using the current namespace)", strerror(errno));

	good = mmap(NULL, GOOD_LEN + PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ro = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unmapped = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	args = mmap(NULL, ARGS_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (good == MAP_FAILED || ro == MAP_FAILED || unmapped == MAP_FAILED ||
	    args == MAP_FAILED)
		return 1;
	mprotect(good + GOOD_LEN, PG, PROT_NONE);
	memset(ro, 'r', PG);
	mprotect(ro, PG, PROT_READ);
	/* Kept mapped PROT_NONE, so that no later mmap() lands there. */

	for (i = 0; i < NNAMES; i++)
		kb_unlink(fuzz_names[i]);
	shared[0] = kb_open("kmbox-fuzz-A", O_RDWR, KMBOX_OPEN_CREAT, 0600, &pl);
	shared[1] = kb_open("kmbox-fuzz-Z", O_RDWR, KMBOX_OPEN_CREAT, 0600, &zc);
	shared[2] = kb_open(NULL, O_RDWR, KMBOX_OPEN_ANON, 0, &zc);
	shared[3] = kb_open(NULL, O_RDWR | O_NONBLOCK, KMBOX_OPEN_ANON, 0, &pl);
	for (i = 0; i < 4; i++)
		if (shared[i] < 0) {
			ktap_result(false, "fuzz setup: %s", strerror(-shared[i]));
			return 1;
		}

	if (pipe(pfd))
		return 1;
	for (i = 0; i < 2; i++) {
		fflush(stdout);
		pid[i] = fork();
		if (pid[i] == 0) {
			close(pfd[0]);
			dup2(pfd[1], STDOUT_FILENO);
			close(pfd[1]);
			fuzz_proc('A' + i, shared, 4);
		}
	}
	close(pfd[1]);
	for (i = 0; i < 4; i++)
		close(shared[i]);

	/* Relay the children's lines; collect their op counts. */
	t0 = now_ns();
	limit = (opt_duration ? opt_duration : 3600) + 120;
	in = fdopen(pfd[0], "r");
	for (;;) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		char c;
		unsigned long n;

		if (now_ns() - t0 > limit * 1000000000ULL)
			break;
		if (poll(&pf, 1, 1000) <= 0)
			continue;
		if (!fgets(line, sizeof(line), in))
			break;
		if (sscanf(line, "#OPS %c %lu", &c, &n) == 2)
			total += n;
		else
			fputs(line, stdout);
	}
	for (i = 0; i < 2; i++) {
		pid_t r;

		while ((r = waitpid(pid[i], &st, WNOHANG)) == 0) {
			if (now_ns() - t0 > limit * 1000000000ULL) {
				char path[64], buf[256] = "";
				FILE *w;

				snprintf(path, sizeof(path), "/proc/%d/wchan", pid[i]);
				w = fopen(path, "r");
				if (w) {
					if (!fgets(buf, sizeof(buf), w))
						buf[0] = 0;
					fclose(w);
				}
				diag("fuzz %c hangs (wchan %s); killing it", 'A' + i, buf);
				hung = true;
				kill(pid[i], SIGKILL);
			}
			sleep_us(100000);
		}
		if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 99)) {
			if (!hung)
				crashed = true;
			diag("fuzz %c: %s %d", 'A' + i, WIFSIGNALED(st) ? "killed by signal" : "exit",
			     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		}
		ktap_result(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			    "fuzz process %c: no impossible results", 'A' + i);
	}
	ktap_result(!crashed && !hung, "fuzz no crash or hang of the fuzzer");

	for (i = 0; i < NNAMES; i++)
		kb_unlink(fuzz_names[i]);
	i = unlink_all_names();
	if (opt_verbose)
		diag("unlinked %d more names made by the fuzzer", i);
	if (access("/proc/kmbox/stats", R_OK)) {
		ktap_skip("fuzz kernel counters back to zero (no /proc/kmbox/stats)");
	} else {
		bool z = kb_wait_stats_zero(&kst, 5000);

		if (!z)
			kb_stats_diag("/proc/kmbox/stats", &kst);
		ktap_result(z, "fuzz kernel counters back to zero");
	}
	diag("fuzz: %lu ops done in %.1f s", total, (now_ns() - t0) / 1e9);
	return ktap_failed ? 1 : 0;
}
