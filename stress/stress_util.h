/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kmbox reliability programs: KTAP output, a seeded
 * PRNG, arguments from the environment, raw ioctl wrappers returning
 * -errno, /proc/kmbox/stats and module parameters.
 *
 * Header-only on purpose: every program is one static binary built from
 * one .c file.
 */
#ifndef KMBOX_STRESS_UTIL_H
#define KMBOX_STRESS_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/kmbox.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define U64(p)		((__u64)(uintptr_t)(p))

/* ---- KTAP ---------------------------------------------------------------- */

static int ktap_n, ktap_failed;

static inline void ktap_plan(int n)
{
	printf("TAP version 13\n1..%d\n", n);
	fflush(stdout);
}

static inline void ktap_result(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d ", ok ? "ok" : "not ok", ++ktap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		ktap_failed++;
}

static inline void ktap_skip(const char *fmt, ...)
{
	va_list ap;

	printf("ok %d ", ++ktap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP\n");
	fflush(stdout);
}

/* A "# ..." diagnostic line; safe to call from several processes. */
static inline void diag(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "# ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDOUT_FILENO, buf, n) < 0) {
		/* nothing useful to do */
	}
}

/* ---- PRNG (splitmix64 seeding xoshiro-like state; our own) --------------- */

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = seed ^ (stream * 0xd1b54a32d192ed03ULL);
	rng_next(r);
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* True with probability pct percent. */
static inline bool rng_pct(struct rng *r, unsigned int pct)
{
	return rng_below(r, 100) < pct;
}

static inline void rng_fill(struct rng *r, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len >= 8) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, len);
	}
}

/* ---- time ------------------------------------------------------------------ */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline void sleep_us(unsigned long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- arguments -------------------------------------------------------------- */

/*
 * Put the words of environment variable @var in front of the command-line
 * arguments (which therefore win), so that the guest, which runs every
 * program without arguments, can be given some through the kernel
 * command line.
 */
static inline void env_args(const char *var, int *argc, char ***argv)
{
	const char *v = getenv(var);
	char **nv, *copy, *tok, *save;
	int n = 0, i;

	if (!v || !*v)
		return;
	copy = strdup(v);
	nv = calloc(strlen(v) / 2 + 2 + *argc, sizeof(*nv));
	if (!copy || !nv)
		return;
	nv[n++] = (*argv)[0];
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		nv[n++] = tok;
	for (i = 1; i < *argc; i++)
		nv[n++] = (*argv)[i];
	nv[n] = NULL;
	*argc = n;
	*argv = nv;
}

static inline unsigned long long arg_num(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s ? s : "", &end, 0);
	if (!s || errno || *end || end == s) {
		fprintf(stderr, "bad number for %s: %s\n", opt, s ? s : "(missing)");
		exit(2);
	}
	return v;
}

/* ---- raw ioctls, returning the result or -errno ------------------------------- */

static inline long kb_ret(long r)
{
	return r < 0 ? -errno : r;
}

static inline long kb_ioctl(int fd, unsigned long cmd, void *arg)
{
	return kb_ret(ioctl(fd, cmd, arg));
}

static inline long kb_bind(int fd, const char *name, __u32 flags, __u32 mode,
			   const struct kmbox_attr *attr)
{
	struct kmbox_open o = {
		.name = U64(name), .attr = U64(attr), .flags = flags, .mode = mode,
	};

	return kb_ioctl(fd, KMBOX_IOC_OPEN, &o);
}

/* open("/dev/kmbox") + bind; returns the fd or -errno. */
static inline int kb_open(const char *name, int oflags, __u32 flags, __u32 mode,
			  const struct kmbox_attr *attr)
{
	int fd = open(KMBOX_DEVICE, oflags | O_CLOEXEC);
	long r;

	if (fd < 0)
		return -errno;
	r = kb_bind(fd, name, flags, mode, attr);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static inline long kb_unlink(const char *name)
{
	struct kmbox_unlink u = { .name = U64(name) };
	int fd = open(KMBOX_DEVICE, O_RDONLY | O_CLOEXEC);
	long r;

	if (fd < 0)
		return -errno;
	r = kb_ioctl(fd, KMBOX_IOC_UNLINK, &u);
	close(fd);
	return r;
}

static inline long kb_getattr(int fd, struct kmbox_attr *a)
{
	memset(a, 0, sizeof(*a));
	return kb_ioctl(fd, KMBOX_IOC_GETATTR, a);
}

static inline long kb_send_slot(int fd, const void *buf, __u32 len, __u32 prio, __u32 flags,
				__u32 slot, __u64 deadline)
{
	struct kmbox_send s = {
		.buf = U64(buf), .len = len, .prio = prio, .flags = flags, .slot = slot,
		.deadline_ns = deadline,
	};

	return kb_ioctl(fd, KMBOX_IOC_SEND, &s);
}

static inline long kb_send(int fd, const void *buf, __u32 len, __u32 prio, __u32 flags,
			   __u64 deadline)
{
	struct kmbox_send s = {
		.buf = U64(buf), .len = len, .prio = prio, .flags = flags,
		.deadline_ns = deadline,
	};

	return kb_ioctl(fd, KMBOX_IOC_SEND, &s);
}

/* ---- /proc/kmbox/stats and module parameters ------------------------------------ */

struct kb_stats {
	long mailboxes, messages, bytes, zc_slots_held, region_pages, users, pool_buffers;
};

static inline int kb_read_stats(struct kb_stats *st)
{
	FILE *f = fopen("/proc/kmbox/stats", "r");
	char key[64];
	long v;

	memset(st, 0, sizeof(*st));
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2) {
		if (!strcmp(key, "mailboxes"))
			st->mailboxes = v;
		else if (!strcmp(key, "messages"))
			st->messages = v;
		else if (!strcmp(key, "bytes"))
			st->bytes = v;
		else if (!strcmp(key, "zc_slots_held"))
			st->zc_slots_held = v;
		else if (!strcmp(key, "region_pages"))
			st->region_pages = v;
		else if (!strcmp(key, "users"))
			st->users = v;
		else if (!strcmp(key, "pool_buffers"))
			st->pool_buffers = v;
	}
	fclose(f);
	return 0;
}

static inline bool kb_stats_zero(const struct kb_stats *s)
{
	return !s->mailboxes && !s->messages && !s->bytes && !s->zc_slots_held &&
	       !s->region_pages && !s->users && !s->pool_buffers;
}

/*
 * Wait up to @ms for every count to drop to zero (files of exiting
 * processes are released asynchronously).  Returns true if they did;
 * @st holds the last reading.
 */
static inline bool kb_wait_stats_zero(struct kb_stats *st, int ms)
{
	for (;;) {
		if (kb_read_stats(st))
			return false;
		if (kb_stats_zero(st) || ms <= 0)
			return kb_stats_zero(st);
		sleep_us(20000);
		ms -= 20;
	}
}

static inline void kb_stats_diag(const char *what, const struct kb_stats *s)
{
	diag("%s: mailboxes %ld messages %ld bytes %ld zc_slots_held %ld region_pages %ld users %ld "
	     "pool_buffers %ld", what, s->mailboxes, s->messages, s->bytes, s->zc_slots_held,
	     s->region_pages, s->users, s->pool_buffers);
}

/* ---- /proc/kmbox/mailboxes, by column name ---------------------------------------- */

/*
 * The listing's first line names its columns; later versions of the
 * module add columns (after "flags"), so readers look them up by name.
 * Names are escaped (no spaces), so every line splits on spaces.
 */
#define KB_MB_MAXCOLS	32

struct kb_mbcols {
	int n;
	char name[KB_MB_MAXCOLS][24];
};

/* Split @line in place at spaces and newlines; returns the field count. */
static inline int kb_mb_fields(char *line, char **tok, int max)
{
	char *save, *t;
	int n = 0;

	for (t = strtok_r(line, " \n", &save); t && n < max; t = strtok_r(NULL, " \n", &save))
		tok[n++] = t;
	return n;
}

static inline int kb_mb_header(struct kb_mbcols *c, const char *line)
{
	char copy[1024], *tok[KB_MB_MAXCOLS];
	int i;

	snprintf(copy, sizeof(copy), "%.*s", (int)sizeof(copy) - 1, line);
	c->n = kb_mb_fields(copy, tok, KB_MB_MAXCOLS);
	for (i = 0; i < c->n; i++)
		snprintf(c->name[i], sizeof(c->name[i]), "%s", tok[i]);
	return c->n;
}

/* Index of column @name, or -1 if this module does not have it. */
static inline int kb_mb_col(const struct kb_mbcols *c, const char *name)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->name[i], name))
			return i;
	return -1;
}

/* A decimal field (a minus sign allowed, to see negative counters). */
static inline bool kb_mb_num(const char *tok, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(tok, &end, 10);
	return tok[0] && !*end && !errno;
}

#define KB_PARAM_DIR	"/sys/module/kmbox/parameters/"

static inline int kb_param_get(const char *name, unsigned long *v)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), KB_PARAM_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%lu", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

static inline int kb_param_set(const char *name, unsigned long v)
{
	char path[128];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), KB_PARAM_DIR "%s", name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ret = fprintf(f, "%lu\n", v) < 0;
	ret |= fclose(f) != 0;
	return ret ? -1 : 0;
}

#endif /* KMBOX_STRESS_UTIL_H */
