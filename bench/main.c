// SPDX-License-Identifier: GPL-2.0
/*
 * kmbox-bench: kmbox side by side with pipes, FIFOs, POSIX and System V
 * message queues, Unix and TCP sockets and shared-memory rings.
 *
 * Method (see also README.md):
 *
 *  - Processes, not threads: every measurement forks fresh processes (a
 *    client and a server, or producers and consumers), each pinned with
 *    sched_setaffinity.  Placement "cross": the two sides on two different
 *    CPUs (primary); "same": all on one CPU.  Both are reported.
 *
 *  - Every mechanism is driven through the same four calls (tx_begin,
 *    tx_commit, rx_begin, rx_end; bench.h), and every payload byte is
 *    written by the sender into the buffer it sends from and read by the
 *    receiver from where it receives it, with a per-message pattern
 *    checked word by word.  Zero-copy paths therefore write into the slot
 *    and read in place, and pay for touching the data like everyone else.
 *
 *  - Latency is the closed-loop ping-pong round trip (service time, no
 *    coordinated-omission correction needed or claimed), timed per
 *    iteration with CLOCK_MONOTONIC into a log-linear histogram (1.6 %
 *    buckets); p50/p90/p99/p99.9/max after a warm-up that is excluded
 *    (at least warm_min iterations and --warm ms: page faults, caches and,
 *    under TCG, code translation).
 *
 *  - Throughput is one-way streaming into a queue of `depth` messages
 *    (same depth for every mechanism that has one; pipes keep their own
 *    buffer, 64 KiB or 1 MiB), counted on the receiving side after its own
 *    warm-up.  msgs/s, MB/s of payload, and CPU time per message.
 *
 *  - N x M: N producers and M consumers on one queue, for the mechanisms
 *    that allow it (kmbox, POSIX mq, SysV, Unix dgram/seqpacket).
 *
 *  - Fixed work per measurement by a time budget: run until at least
 *    --time ms AND at least a minimum number of messages (scaled down
 *    above 64 KiB), but never more than 3 x --time (and warm-up never
 *    more than 3 x --warm), so a slow mechanism or size cannot eat the
 *    budget; n is reported.
 *
 *  - Noise: R interleaved rounds; each round runs every mechanism in turn
 *    (starting at a different one each round) for each configuration, so
 *    ratios to pipe are taken between measurements made moments apart.
 *    Reported: the median over rounds of each per-round ratio, with its
 *    min-max spread, and the medians of the absolute figures.
 *
 *  - System limits (POSIX mq msg_max/msgsize_max, SysV msgmax/msgmnb,
 *    RLIMIT_MSGQUEUE) are raised for the run when running as root, so that
 *    every queue can hold `depth` messages of the largest size, and
 *    restored at exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern const struct mech mech_kmbox, mech_kmbox_ioctl, mech_kmbox_batch,
	mech_kmbox_zc, mech_kmbox_zc_batch, mech_pipe, mech_pipe1m, mech_fifo,
	mech_mq, mech_sysv, mech_uds_stream, mech_uds_dgram,
	mech_uds_seqpacket, mech_tcp, mech_eventfd_shm, mech_futex_shm,
	mech_kmbox_call, mech_kmbox_call2;
/* mech_uring.c: io_uring mechanisms, run only when named (MF_EXTRA) */
extern const struct mech mech_kmbox_uring, mech_kmbox_ucmd, mech_seqpacket_uring,
	mech_pipe_uring;
/* tagdepth.c: the ways to receive by tag, run only by that workload */
extern const struct mech mech_td_tag, mech_td_tagmask, mech_td_sysv;

/* order of the tables */
const struct mech *const mechs[] = {
	&mech_kmbox, &mech_kmbox_ioctl, &mech_kmbox_batch, &mech_kmbox_zc,
	&mech_kmbox_zc_batch, &mech_kmbox_call, &mech_kmbox_call2, &mech_pipe, &mech_pipe1m, &mech_fifo, &mech_mq,
	&mech_sysv, &mech_uds_stream, &mech_uds_dgram, &mech_uds_seqpacket,
	&mech_tcp, &mech_eventfd_shm, &mech_futex_shm,
	&mech_kmbox_uring, &mech_kmbox_ucmd, &mech_seqpacket_uring, &mech_pipe_uring,
	&mech_td_tag, &mech_td_tagmask, &mech_td_sysv,
};
const unsigned int nmechs = sizeof(mechs) / sizeof(mechs[0]);

/*
 * The call workload: kmbox call/reply against the best way to do a
 * request/reply with each peer (a request channel and a reply channel,
 * or one duplex connection), the reply carrying the request's
 * correlation id (run.c).  kmbox's own 2-mailbox round trip is the
 * reference the issue sets.
 */
static const char *const call_set[] = {
	"kmbox-call", "kmbox-call2", "kmbox", "kmbox-ioctl", "pipe", "posix-mq",
	"uds-seqpacket", "futex-shm",
};

/* the depth workload: queues with priorities (depth.c) */
static const char *const depth_set[] = { "kmbox-ioctl", "posix-mq" };

static bool in_set(const char *name, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(set[i], name))
			return true;
	return false;
}

static struct config cfg;
static struct rec *recs;
static size_t nrecs, caprecs;

/* ------------------------------------------------------- system limits */

struct saved_limit {
	const char *path;
	long old, want;
	bool changed;
};

static struct saved_limit limits[] = {
	{ .path = "/proc/sys/fs/mqueue/msg_max" },
	{ .path = "/proc/sys/fs/mqueue/msgsize_max" },
	{ .path = "/proc/sys/kernel/msgmax" },
	{ .path = "/proc/sys/kernel/msgmnb" },
	{ .path = "/sys/module/kmbox/parameters/max_msgs_cap" },
};

static void restore_limits(void)
{
	char v[32];

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		if (!limits[i].changed)
			continue;
		snprintf(v, sizeof(v), "%ld", limits[i].old);
		if (write_file(limits[i].path, v) < 0)
			fprintf(stderr, "kmbox-bench: cannot restore %s to %s: %s\n",
				limits[i].path, v, strerror(errno));
		limits[i].changed = false;
	}
}

static void raise_limit(int i, long want, char *note, size_t n)
{
	long old = read_long(limits[i].path);
	char v[32];
	size_t l = strlen(note);

	if (old < 0 || old >= want)
		return;
	snprintf(v, sizeof(v), "%ld", want);
	if (write_file(limits[i].path, v) < 0) {
		snprintf(note + l, n - l, "%scould not raise %s (%ld) to %ld: %s",
			 l ? "; " : "", limits[i].path, old, want, strerror(errno));
		return;
	}
	limits[i].old = old;
	limits[i].want = want;
	limits[i].changed = true;
	snprintf(note + l, n - l, "%s%s %ld→%ld", l ? "; " : "",
		 limits[i].path + (strncmp(limits[i].path, "/proc/sys/", 10) ? 5 : 10),
		 old, want);
}

static void raise_limits(void)
{
	size_t maxsize = 64, maxq = 0;
	unsigned int maxdepth = 0;
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	char *note = cfg.limits_note;
	size_t n = sizeof(cfg.limits_note), l;

	for (int i = 0; i < cfg.nsizes; i++) {
		size_t s = cfg.sizes[i], q = (size_t)depth_for(&cfg, s) * (s ? s : 1);

		if (s > maxsize)
			maxsize = s;
		if (depth_for(&cfg, s) > maxdepth)
			maxdepth = depth_for(&cfg, s);
		if (q > maxq)
			maxq = q;
	}
	for (int i = 0; i < cfg.nmpmc_sizes; i++) {
		size_t s = cfg.mpmc_sizes[i], q = (size_t)depth_for(&cfg, s) * (s ? s : 1);

		if (depth_for(&cfg, s) > maxdepth)
			maxdepth = depth_for(&cfg, s);
		if (q > maxq)
			maxq = q;
	}
	for (int i = 0; cfg.wl_on[WL_CALL] && i < cfg.ncall_sizes; i++)
		if (cfg.call_sizes[i] > maxsize)
			maxsize = cfg.call_sizes[i];
	if (maxq < maxsize)
		maxq = maxsize;
	if (!cfg.raise_limits) {
		snprintf(note, n, "not raised (--no-raise)");
		return;
	}
	if (geteuid() != 0) {
		snprintf(note, n, "not raised (not root): large sizes or deep queues may be n/a");
		return;
	}
	/* the depth workload: queues of up to 65536 messages */
	for (int i = 0; cfg.wl_on[WL_DEPTH] && i < cfg.ndepths; i++)
		if (cfg.depths[i] > maxdepth)
			maxdepth = (unsigned int)cfg.depths[i];
	if (cfg.wl_on[WL_DEPTH] && cfg.depth_size > maxsize)
		maxsize = cfg.depth_size;
	/* the tagdepth workload: its others + the one wanted */
	for (int i = 0; cfg.wl_on[WL_TAGDEPTH] && i < cfg.ntagdepths; i++)
		if (cfg.tagdepths[i] + 1 > maxdepth)
			maxdepth = (unsigned int)cfg.tagdepths[i] + 1;
	if ((cfg.wl_on[WL_DEPTH] || cfg.wl_on[WL_TAGDEPTH]) && kmbox_present)
		raise_limit(4, (long)maxdepth, note, n);
	raise_limit(0, (long)maxdepth, note, n);
	raise_limit(1, (long)maxsize + 64, note, n);
	raise_limit(2, (long)maxsize + 64, note, n);
	raise_limit(3, (long)maxq + 64, note, n);
	l = strlen(note);
	if (setrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
		snprintf(note + l, n - l, "%sRLIMIT_MSGQUEUE unlimited", l ? "; " : "");
	} else if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
		/* no CAP_SYS_RESOURCE: at least the soft limit up to the hard */
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MSGQUEUE, &rl);
		snprintf(note + l, n - l, "%sRLIMIT_MSGQUEUE only %llu B (no CAP_SYS_RESOURCE?)",
			 l ? "; " : "", (unsigned long long)rl.rlim_cur);
	}
}

/* --ab: a module just loaded has its default cap: raise it again */
static void reraise_kmbox_cap(void)
{
	char v[32];

	if (!limits[4].changed)
		return;
	snprintf(v, sizeof(v), "%ld", limits[4].want);
	if (read_long(limits[4].path) < limits[4].want &&
	    write_file(limits[4].path, v) < 0)
		fprintf(stderr, "kmbox-bench: cannot raise %s to %s: %s\n",
			limits[4].path, v, strerror(errno));
}

static void on_signal(int sig)
{
	run_kill_children();
	restore_limits();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* --------------------------------------------------------------- config */

unsigned int depth_for(const struct config *c, size_t size)
{
	size_t d;

	if (c->depth)
		return c->depth;
	d = 4 * MiB / (size < 64 ? 64 : size);
	return (unsigned int)(d < 4 ? 4 : d > 256 ? 256 : d);
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		v *= KiB, end++;
	else if (*end == 'm' || *end == 'M')
		v *= MiB, end++;
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || v > 4 * MiB)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_sizes(const char *arg, size_t *sizes, int *n)
{
	char *dup = strdup(arg), *save = NULL, *tok;

	*n = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_SIZES || parse_size(tok, &sizes[*n]) < 0) {
			free(dup);
			return -1;
		}
		(*n)++;
	}
	free(dup);
	return *n ? 0 : -1;
}

static int parse_pcs(const char *arg)
{
	char *dup = strdup(arg), *save = NULL, *tok;
	unsigned int a, b;

	cfg.npcs = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg.npcs == MAX_PCS || sscanf(tok, "%ux%u", &a, &b) != 2 ||
		    !a || !b || a > MAX_SIDE || b > MAX_SIDE) {
			free(dup);
			return -1;
		}
		cfg.pcs[cfg.npcs][0] = a;
		cfg.pcs[cfg.npcs][1] = b;
		cfg.npcs++;
	}
	free(dup);
	return cfg.npcs ? 0 : -1;
}

static int find_mech(const char *name)
{
	for (unsigned int i = 0; i < nmechs; i++)
		if (!strcmp(mechs[i]->name, name))
			return (int)i;
	return -1;
}

static int parse_mechs(const char *arg)
{
	char *dup = strdup(arg), *save = NULL, *tok;

	cfg.nmech = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all") || !strcmp(tok, "default")) {
			for (unsigned int i = 0; i < nmechs; i++)
				if (!strcmp(tok, "all") || !(mechs[i]->flags & MF_EXTRA))
					cfg.mech[cfg.nmech++] = (int)i;
			continue;
		}
		int m = find_mech(tok);

		if (m < 0) {
			fprintf(stderr, "kmbox-bench: unknown mechanism '%s' (see --list)\n", tok);
			free(dup);
			return -1;
		}
		cfg.mech[cfg.nmech++] = m;
	}
	free(dup);
	return cfg.nmech ? 0 : -1;
}

static int parse_list(const char *arg, const char *const *names, int n,
		      bool *on)
{
	char *dup = strdup(arg), *save = NULL, *tok;

	for (int i = 0; i < n; i++)
		on[i] = false;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i;

		for (i = 0; i < n && strcmp(tok, names[i]); i++)
			;
		if (i == n) {
			fprintf(stderr, "kmbox-bench: unknown '%s'\n", tok);
			free(dup);
			return -1;
		}
		on[i] = true;
	}
	free(dup);
	return 0;
}

static void set_mode(bool quick)
{
	static const size_t all_sizes[] = { 0, 64, 512, 4 * KiB, 16 * KiB, 64 * KiB, MiB };
	static const size_t quick_sizes[] = { 64, 4 * KiB, 64 * KiB, MiB };
	static const size_t depths[] = { 10, 1000, 65536 };
	/* others queued: a mailbox holds at most 65536 messages */
	static const size_t tagdepths[] = { 10, 1000, 65535 };

	cfg.quick = quick;
	if (quick) {
		cfg.rounds = 3;
		cfg.run_ms = 40;
		cfg.warm_ms = 10;
		cfg.lat_min = 50;
		cfg.stream_min = 200;
		cfg.nsizes = 4;
		memcpy(cfg.sizes, quick_sizes, sizeof(quick_sizes));
		cfg.nmpmc_sizes = 1;
		cfg.mpmc_sizes[0] = 64;
		parse_pcs("2x2");
		cfg.pl_on[PL_CROSS] = true;
		cfg.pl_on[PL_SAME] = false;
		cfg.max_time = 240;
		cfg.quiet_wait = 15;
		cfg.ncall_sizes = 1;
		cfg.call_sizes[0] = 64;
	} else {
		cfg.rounds = 5;
		cfg.run_ms = 200;
		cfg.warm_ms = 40;
		cfg.lat_min = 200;
		cfg.stream_min = 1000;
		cfg.nsizes = 7;
		memcpy(cfg.sizes, all_sizes, sizeof(all_sizes));
		cfg.nmpmc_sizes = 3;
		cfg.mpmc_sizes[0] = 64;
		cfg.mpmc_sizes[1] = 4 * KiB;
		cfg.mpmc_sizes[2] = 64 * KiB;
		parse_pcs("1x1,2x2,4x4");
		cfg.pl_on[PL_CROSS] = cfg.pl_on[PL_SAME] = true;
		cfg.max_time = 1680;
		cfg.quiet_wait = 180;
		cfg.ncall_sizes = 2;
		cfg.call_sizes[0] = 64;
		cfg.call_sizes[1] = 4 * KiB;
	}
	cfg.ndepths = 3;
	memcpy(cfg.depths, depths, sizeof(depths));
	cfg.depth_size = 64;
	cfg.ntagdepths = 3;
	memcpy(cfg.tagdepths, tagdepths, sizeof(tagdepths));
	for (int i = 0; i < NWL; i++)
		cfg.wl_on[i] = true;
	/* filling 65536-message queues takes a while under TCG: not quick */
	cfg.wl_on[WL_DEPTH] = !quick;
	/* about 11 s under TCG: quick runs (make run) show it too */
	cfg.wl_on[WL_TAGDEPTH] = true;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: kmbox-bench [options]\n"
"  --quick            short run (make run): 3 rounds, 4 sizes, cross-CPU only\n"
"  --full             full run (default; make bench): 5 rounds, 7 sizes, both placements\n"
"  --rounds N         interleaved rounds\n"
"  --time MS          measured time per measurement (after warm-up)\n"
"  --warm MS          warm-up time per measurement\n"
"  --min-lat N        at least N measured round trips (capped by time)\n"
"  --min-stream N     at least N streamed messages (capped by time)\n"
"  --sizes LIST       e.g. 0,64,512,4k,16k,64k,1m\n"
"  --mech LIST        mechanisms (default: all; see --list)\n"
"  --workloads LIST   latency,stream,call,mpmc,depth,tagdepth\n"
"                     (quick: all but depth)\n"
"  --fanin N          then fan-in: one consumer, N queues, epoll vs io_uring\n"
"                     (fanin.c; e.g. 64; appended to report.md)\n"
"  --call-sizes LIST  request (= reply) sizes of the call workload, >= 8 B\n"
"                     (default 64 and 4k; quick 64)\n"
"  --depths LIST      depth workload: messages queued (default 10,1000,65536)\n"
"  --depth-size N     depth and tagdepth workloads: message size (default 64)\n"
"  --tag-depths LIST  tagdepth workload: other messages queued ahead of the\n"
"                     one received by tag, 1..65535 (default 10,1000,65535)\n"
"  --placement LIST   cross,same\n"
"  --mpmc LIST        producer x consumer sets, e.g. 1x1,2x2,4x4\n"
"  --mpmc-sizes LIST  message sizes for the N x M runs\n"
"  --depth N          queue depth for every size (default: 4 MiB / size, 4..256)\n"
"  --cpus A,B         CPUs for cross placement (default: first two allowed)\n"
"  --max-time S       stop starting measurements after S seconds\n"
"  --out DIR          results directory (default /tmp/bench-results)\n"
"  --no-raise         do not raise mqueue/SysV limits\n"
"  --quiet-wait S     seconds in all to wait for a quiet host before groups\n"
"  --ab A.ko,B.ko     measure module A against module B (make bench-ab):\n"
"                     kmbox mechanisms only, both modules in every group,\n"
"                     reloaded in between; ab.md and ab-raw.csv\n"
"  --list             list mechanisms and whether they can run here\n"
"  -v, --verbose      one line per measurement\n"
"Environment/cmdline: KMBOX_QEMU or kmbox.qemu=, KMBOX_ACCEL or kmbox.accel=,\n"
"KMBOX_HOST_LOAD or kmbox.hostload= are recorded in the report header.\n");
}

static void list_mechs(void)
{
	char why[160];

	for (unsigned int i = 0; i < nmechs; i++) {
		const struct mech *m = mechs[i];
		int ok = !m->probe || m->probe(why, sizeof(why)) == 0;

		printf("%-15s %-4s %s%s%s\n", m->name, ok ? "ok" : "SKIP", m->desc,
		       ok ? "" : " -- ", ok ? "" : why);
	}
}

static void pick_cpus(void)
{
	cpu_set_t set;
	int found = 0;

	cfg.cpu_a = cfg.cpu_b = 0;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int c = 0; c < CPU_SETSIZE && found < 2; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		if (found++ == 0)
			cfg.cpu_a = cfg.cpu_b = c;
		else
			cfg.cpu_b = c;
	}
}

/*
 * Early in boot the clocksource is tsc-early, which the report takes for
 * an unfit one; the kernel switches to tsc once it has refined the TSC's
 * calibration, a second or two after boot under TCG.  A run started by
 * the QEMU harness right after boot waits for that (10 s at most).
 */
static void wait_for_tsc(void)
{
	static const char path[] =
		"/sys/devices/system/clocksource/clocksource0/current_clocksource";
	char cs[64];

	for (int i = 0; i < 100; i++) {
		struct timespec ts = { 0, 100000000L };

		if (read_file(path, cs, sizeof(cs)) < 0 || strcmp(cs, "tsc-early"))
			return;
		nanosleep(&ts, NULL);
	}
}

/* ------------------------------------------------------------ the plan */

static void add_rec(const struct rec *r)
{
	if (nrecs == caprecs) {
		caprecs = caprecs ? 2 * caprecs : 1024;
		recs = realloc(recs, caprecs * sizeof(*recs));
		if (!recs) {
			perror("kmbox-bench: realloc");
			exit(3);
		}
	}
	recs[nrecs++] = *r;
}

static int hangs[MAX_MECHS];

/*
 * Minimum messages per measurement: the configured count up to 64 KiB,
 * scaled down in proportion above (at least 20), so that a 1 MiB message
 * under TCG is measured for --time like the others instead of always
 * running into the cap.
 */
static uint64_t min_msgs_for(uint64_t min, size_t size)
{
	if (size > 64 * KiB)
		min = min * (64 * KiB) / size;
	return min < 20 ? 20 : min;
}

/* streaming warm-up in messages: 32, fewer for big ones (>= 2) */
static uint64_t warm_msgs(size_t size)
{
	uint64_t n = size ? 512 * KiB / size : 32;

	return n < 2 ? 2 : n > 32 ? 32 : n;
}

static void measure(int round, int place, int wl, int pc, int mi, int si,
		    size_t size, uint64_t t_end, int variant)
{
	const struct mech *m = mechs[mi];
	struct rec r = {
		.round = round, .place = place, .wl = wl, .mech = mi,
		.size_i = si, .pc_i = pc, .variant = variant,
	};
	struct job j = {
		.m = m, .wl = wl, .place = place, .size = size,
		.poison_len = size == 0 ? 8 : 0,
		.nprod = wl == WL_MPMC ? cfg.pcs[pc][0] : 1,
		.ncons = wl == WL_MPMC ? cfg.pcs[pc][1] : 1,
		.depth = depth_for(&cfg, size),
		.cpu_tx = cfg.cpu_a,
		.cpu_rx = place == PL_CROSS ? cfg.cpu_b : cfg.cpu_a,
		.warm_ns = cfg.warm_ms * 1000000ULL,
		.run_ns = cfg.run_ms * 1000000ULL,
		.warm_min = wl == WL_LAT || wl == WL_CALL ? (size >= 256 * KiB ? 2 : 5) :
			    wl == WL_DEPTH || wl == WL_TAGDEPTH ? 20 : warm_msgs(size),
		.min_msgs = min_msgs_for(wl == WL_LAT || wl == WL_CALL || wl == WL_DEPTH ?
					 cfg.lat_min : cfg.stream_min, size),
	};
	struct chan_cfg cc = {
		.msg_size = size, .max_size = size > 8 ? size : 8,
		.depth = j.depth, .nprod = j.nprod, .ncons = j.ncons,
	};
	char b[32];

	if (wl == WL_TAGDEPTH) {
		/*
		 * @size is the number of other messages queued.  A receive
		 * that walks them costs in proportion: ask for fewer at
		 * depth (at least 5), so that walking 65535 messages under
		 * TCG (10 to 40 ms each) is measured for --time, not
		 * stopped at the cap and flagged as starved.
		 */
		j.depth = (unsigned int)size;
		j.size = cfg.depth_size;
		j.poison_len = 0;
		j.min_msgs = cfg.lat_min * 1000 / (size > 1000 ? size : 1000);
		if (j.min_msgs < 5)
			j.min_msgs = 5;
		cc.msg_size = cc.max_size = j.size;
		cc.depth = j.depth + 1;
	}
	if (wl == WL_DEPTH) {
		/* @size is the number of messages queued */
		j.depth = (unsigned int)size;
		j.size = cfg.depth_size;
		j.poison_len = 0;
		j.min_msgs = min_msgs_for(cfg.lat_min, j.size);
		cc.msg_size = cc.max_size = j.size;
		cc.depth = j.depth;
	}
	j.warm_cap_ns = 3 * j.warm_ns;
	j.cap_ns = 3 * j.run_ns;
	j.timeout_ns = 2 * (j.warm_cap_ns + j.cap_ns) + 20ULL * 1000000000ULL;
	if (pc)
		r.pc_i = pc;
	if (now_ns() > t_end) {
		cfg.truncated++;
		return;
	}
	if (hangs[mi] >= 2) {
		snprintf(r.o.status, sizeof(r.o.status), "skipped");
		snprintf(r.o.note, sizeof(r.o.note), "disabled after two timeouts");
	} else if (cfg.ab && ab_load(&cfg, variant) < 0) {
		snprintf(r.o.status, sizeof(r.o.status), "error");
		snprintf(r.o.note, sizeof(r.o.note), "could not load module %c",
			 'A' + variant);
	} else if (m->max_msg && m->max_msg(&cc) && m->max_msg(&cc) < cc.max_size) {
		snprintf(r.o.status, sizeof(r.o.status), "n/a");
		snprintf(r.o.note, sizeof(r.o.note), "above the mechanism's limit (%zu B)",
			 m->max_msg(&cc));
	} else {
		if (cfg.ab)
			reraise_kmbox_cap();
		run_job(&j, &r.o);
		if (!strcmp(r.o.status, "timeout"))
			hangs[mi]++;
	}
	add_rec(&r);
	if (cfg.verbose) {
		if (cfg.ab)
			printf("  %c", 'A' + variant);
		if (!strcmp(r.o.status, "ok") && (wl == WL_DEPTH || wl == WL_TAGDEPTH))
			printf("  %-15s %-8zu send %6.2f us  receive %6.2f us  n %llu\n",
			       m->name, size, r.o.send_us, r.o.recv_us,
			       (unsigned long long)r.o.n);
		else if (!strcmp(r.o.status, "ok") && (wl == WL_LAT || wl == WL_CALL))
			printf("  %-15s %-8s p50 %8.1f us  p99 %8.1f us  n %llu\n",
			       m->name, size_label(size, b, sizeof(b)), r.o.p50,
			       r.o.p99, (unsigned long long)r.o.n);
		else if (!strcmp(r.o.status, "ok"))
			printf("  %-15s %-8s %12.0f msg/s %10.1f MB/s  n %llu\n",
			       m->name, size_label(size, b, sizeof(b)), r.o.mps,
			       r.o.mbps, (unsigned long long)r.o.n);
		else
			printf("  %-15s %-8s %s: %s\n", m->name,
			       size_label(size, b, sizeof(b)), r.o.status, r.o.note);
		fflush(stdout);
	}
}

/*
 * Interference probe.  Two parts:
 *  - a fixed amount of pure arithmetic, timed on each of the two CPUs
 *    (the parent pins itself there for a moment): under TCG guest time
 *    keeps running while the host deschedules a vCPU thread, so when
 *    other work on the host (another VM, a build) takes the CPUs the loop
 *    takes longer;
 *  - a cross-CPU spin ping-pong through one cache line (a thread pinned
 *    on the other CPU), a fixed number of round trips: a vCPU thread that
 *    the host has descheduled answers only when it runs again, which is
 *    what turns 20 us wakeups into 4 ms ones, and a single-CPU loop
 *    hardly notices it.
 * Each is divided by its quietest value at start (1.0 = undisturbed) and
 * kept with each result (max of the probes before and after its group),
 * so disturbed measurements (loop > 1.5 or spin > 3, see disturbed()) can
 * be recognised in raw.csv and in the report's "interference" lines.
 * Before each group the run also waits, within --quiet-wait seconds in
 * all, for the probe to read quiet.
 */
static uint64_t probe_iters;

static uint64_t probe_once(void)
{
	volatile uint64_t sink;
	uint64_t x = 88172645463325252ULL, t = now_ns();

	for (uint64_t i = 0; i < probe_iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	sink = x;
	(void)sink;
	return now_ns() - t;
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (cpu < 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			CPU_SET(c, &set);
	} else {
		CPU_SET(cpu, &set);
	}
	sched_setaffinity(0, sizeof(set), &set);
}

static cpu_set_t parent_set;

struct spin {
	_Alignas(64) uint32_t ping;
	_Alignas(64) uint32_t pong;
	uint32_t iters;
	int cpu;
};

static uint64_t spin_iters;
static double spin_base_us;
/* no answer within this: the other vCPU is not running (1 s at start) */
static uint64_t spin_give_up_ns = 1000000000ULL;

static void *spin_peer(void *arg)
{
	struct spin *sp = arg;
	uint64_t give_up = now_ns() + spin_give_up_ns + 10000000ULL;

	pin_self(sp->cpu);
	for (uint32_t i = 1; i <= sp->iters; i++) {
		while (__atomic_load_n(&sp->ping, __ATOMIC_ACQUIRE) != i)
			if (now_ns() > give_up)
				return NULL;
		__atomic_store_n(&sp->pong, i, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* time for spin_iters cross-CPU round trips, ns (0 if it cannot run) */
static uint64_t spin_once(void)
{
	struct spin sp = { .iters = (uint32_t)spin_iters, .cpu = cfg.cpu_b };
	uint64_t t, give_up;
	pthread_t th;

	if (cfg.cpu_a == cfg.cpu_b || pthread_create(&th, NULL, spin_peer, &sp))
		return 0;
	pin_self(cfg.cpu_a);
	/* the first round trip only waits for the peer to reach its CPU */
	__atomic_store_n(&sp.ping, 1, __ATOMIC_RELEASE);
	give_up = now_ns() + spin_give_up_ns;
	while (__atomic_load_n(&sp.pong, __ATOMIC_ACQUIRE) != 1)
		if (now_ns() > give_up)
			goto timeout;
	t = now_ns();
	for (uint32_t i = 2; i <= sp.iters; i++) {
		__atomic_store_n(&sp.ping, i, __ATOMIC_RELEASE);
		while (__atomic_load_n(&sp.pong, __ATOMIC_ACQUIRE) != i)
			if (now_ns() > give_up)
				goto timeout;
	}
	t = now_ns() - t;
	pthread_join(th, NULL);
	return t;
timeout:
	/* the peer gives up by itself a little later */
	pthread_join(th, NULL);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct probe_res {
	double loop, xcpu;
};

static struct probe_res probe(void)
{
	uint64_t t[6];
	int cpus[2] = { cfg.cpu_a, cfg.cpu_b }, n = 0;
	double loop, xcpu = 0;

	for (int k = 0; k < (cfg.cpu_a == cfg.cpu_b ? 1 : 2); k++) {
		pin_self(cpus[k]);
		for (int i = 0; i < 3; i++)
			t[n++] = probe_once();
	}
	qsort(t, (size_t)n, sizeof(t[0]), cmp_u64);
	loop = (double)(t[(n - 1) / 2] + t[n / 2]) / 2e3 / cfg.probe_base_us;
	if (spin_base_us > 0) {
		uint64_t st = spin_once();

		/* no answer in time: report the give-up time as the slowdown */
		xcpu = (double)(st ? st : spin_give_up_ns) / 1e3 / spin_base_us;
	}
	sched_setaffinity(0, sizeof(parent_set), &parent_set);
	return (struct probe_res){ loop, xcpu };
}

/* before a group: wait (within the --quiet-wait budget) for a quiet host */
static double quiet_waited;

static struct probe_res probe_wait_quiet(void)
{
	struct probe_res v = probe();

	while (disturbed(v.loop, v.xcpu) && quiet_waited < cfg.quiet_wait) {
		struct timespec ts = { 0, 250000000L };

		nanosleep(&ts, NULL);
		quiet_waited += 0.25;
		v = probe();
	}
	return v;
}

static void probe_calibrate(void)
{
	uint64_t best = UINT64_MAX;

	sched_getaffinity(0, sizeof(parent_set), &parent_set);
	/* about 2 ms per run: grow the count until it takes that long */
	for (probe_iters = 1000; probe_iters < (1ULL << 34); probe_iters *= 2)
		if (probe_once() > 2000000)
			break;
	pin_self(cfg.cpu_a);
	for (int i = 0; i < 7; i++) {
		uint64_t t = probe_once();

		if (t < best)
			best = t;
	}
	sched_setaffinity(0, sizeof(parent_set), &parent_set);
	cfg.probe_base_us = (double)best / 1e3;
	if (cfg.cpu_a == cfg.cpu_b)
		return;
	/* round trips for about 2 ms, then the quietest of 7 */
	for (spin_iters = 64; spin_iters < (1U << 24); spin_iters *= 2) {
		uint64_t t = spin_once();

		if (!t || t > 2000000)
			break;
	}
	best = UINT64_MAX;
	for (int i = 0; i < 7; i++) {
		uint64_t t = spin_once();

		if (t && t < best)
			best = t;
	}
	sched_setaffinity(0, sizeof(parent_set), &parent_set);
	if (best != UINT64_MAX) {
		/*
		 * A host that is busy all along gives no quiet reading (1.9 ms
		 * per round trip was seen).  An undisturbed cache-line round
		 * trip is well under 5 us, TCG or not: never take more.
		 */
		uint64_t cap = 5000ULL * spin_iters;

		if (best > cap) {
			best = cap;
			cfg.spin_base_capped = true;
		}
		spin_base_us = (double)best / 1e3;
		cfg.spin_base_rtt_us = spin_base_us / (double)spin_iters;
		/* a probe costs at most ~25x its quiet time, at least 20 ms */
		spin_give_up_ns = best * 25 > 20000000 ? best * 25 : 20000000;
	}
}

/* one configuration: every selected mechanism once, rotated by round */
static void run_config(int round, int place, int wl, int pc, int si,
		       size_t size, const int *ml, int nm, uint64_t t_end)
{
	static const char *const wn[NWL] = { "latency", "stream", "mpmc", "call",
					     "depth", "tagdepth" };
	bool one = wl == WL_DEPTH || wl == WL_TAGDEPTH;
	char b[32];
	size_t first = nrecs;
	struct probe_res before, after;

	if (!nm || now_ns() > t_end) {
		cfg.truncated += nm;
		return;
	}
	before = probe_wait_quiet();
	if (cfg.ab) {
		/*
		 * Module A then B, or B then A: alternating from one group
		 * to the next and from one round to the next.
		 */
		static int last_round = -1, k_in_round;
		int b_first;

		if (round != last_round) {
			last_round = round;
			k_in_round = 0;
		}
		b_first = (k_in_round++ + round) % 2;
		for (int v = 0; v < 2; v++)
			for (int k = 0; k < nm; k++)
				measure(round, place, wl, pc, ml[(k + round) % nm], si,
					size, t_end, v ^ b_first);
	} else {
		for (int k = 0; k < nm; k++)
			measure(round, place, wl, pc, ml[(k + round) % nm], si, size,
				t_end, 0);
	}
	after = probe();
	for (size_t i = first; i < nrecs; i++) {
		recs[i].noise = before.loop > after.loop ? before.loop : after.loop;
		recs[i].xnoise = before.xcpu > after.xcpu ? before.xcpu : after.xcpu;
	}
	if (cfg.verbose || nrecs == first)
		return;
	/* progress: one line per configuration */
	printf("round %d/%d %-5s %-7s", round + 1, cfg.rounds,
	       one ? "one" : place == PL_CROSS ? "cross" : "same", wn[wl]);
	if (wl == WL_MPMC)
		printf(" %ux%u", cfg.pcs[pc][0], cfg.pcs[pc][1]);
	if (one)
		snprintf(b, sizeof(b), "%zu q'd", size);
	else
		size_label(size, b, sizeof(b));
	printf(" %-7s [probe %.1f/%.1f]:", b, recs[first].noise, recs[first].xnoise);
	for (size_t i = first; i < nrecs; i++) {
		const struct rec *r = &recs[i];

		if (cfg.ab)
			printf(" %c:", 'A' + r->variant);
		if (strcmp(r->o.status, "ok"))
			printf(" %s=%s", mechs[r->mech]->name, r->o.status);
		else if (one)
			printf(" %s=%.2f/%.2fus", mechs[r->mech]->name, r->o.send_us,
			       r->o.recv_us);
		else if (wl == WL_LAT || wl == WL_CALL)
			printf(" %s=%.1fus", mechs[r->mech]->name, r->o.p50);
		else if (r->o.mps >= 10000)
			printf(" %s=%.0fk/s", mechs[r->mech]->name, r->o.mps / 1e3);
		else
			printf(" %s=%.0f/s", mechs[r->mech]->name, r->o.mps);
		if (r->o.capped)
			printf("(capped)");
	}
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const char *const wl_names[NWL] = { "latency", "stream", "mpmc",
						   "call", "depth", "tagdepth" };
	static const char *const pl_names[NPL] = { "cross", "same" };
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "full", no_argument, NULL, 'F' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "time", required_argument, NULL, 't' },
		{ "warm", required_argument, NULL, 'w' },
		{ "min-lat", required_argument, NULL, 'L' },
		{ "min-stream", required_argument, NULL, 'S' },
		{ "sizes", required_argument, NULL, 's' },
		{ "mech", required_argument, NULL, 'm' },
		{ "workloads", required_argument, NULL, 'W' },
		{ "fanin", required_argument, NULL, 'I' },
		{ "placement", required_argument, NULL, 'p' },
		{ "mpmc", required_argument, NULL, 'n' },
		{ "mpmc-sizes", required_argument, NULL, 'N' },
		{ "call-sizes", required_argument, NULL, 'C' },
		{ "depths", required_argument, NULL, 'D' },
		{ "depth-size", required_argument, NULL, 'Z' },
		{ "tag-depths", required_argument, NULL, 'G' },
		{ "depth", required_argument, NULL, 'd' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "max-time", required_argument, NULL, 'T' },
		{ "out", required_argument, NULL, 'o' },
		{ "no-raise", no_argument, NULL, 'R' },
		{ "quiet-wait", required_argument, NULL, 'Q' },
		{ "list", no_argument, NULL, 'l' },
		{ "ab", required_argument, NULL, 'A' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mech_arg = "all";
	int fanin = 0;
	int o, ml[MAX_MECHS], nml, mpmc_ml[MAX_MECHS], nmpmc;
	int call_ml[MAX_MECHS], ncall, depth_ml[MAX_MECHS], ndepth;
	int td_ml[MAX_MECHS], ntd;
	bool do_list = false, cpus_given = false;
	uint64_t t0, t_end;
	size_t used = 0;

	/* the mode goes first so that other options can override it */
	set_mode(false);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--quick"))
			set_mode(true);
	cfg.out = "/tmp/bench-results";
	cfg.raise_limits = true;
	cfg.argc = argc;
	cfg.argv = argv;
	pick_cpus();
	for (int i = 0; i < argc && used < sizeof(cfg.cmd); i++)
		used += (size_t)snprintf(cfg.cmd + used, sizeof(cfg.cmd) - used,
					 "%s%s", i ? " " : "", argv[i]);

	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case 'q':
		case 'F':
			break;
		case 'r':
			cfg.rounds = atoi(optarg);
			break;
		case 't':
			cfg.run_ms = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			cfg.warm_ms = strtoull(optarg, NULL, 10);
			break;
		case 'L':
			cfg.lat_min = strtoull(optarg, NULL, 10);
			break;
		case 'S':
			cfg.stream_min = strtoull(optarg, NULL, 10);
			break;
		case 's':
			if (parse_sizes(optarg, cfg.sizes, &cfg.nsizes) < 0)
				goto bad;
			break;
		case 'm':
			mech_arg = optarg;
			break;
		case 'W':
			if (parse_list(optarg, wl_names, NWL, cfg.wl_on) < 0)
				goto bad;
			break;
		case 'I':
			fanin = atoi(optarg);
			break;
		case 'p':
			if (parse_list(optarg, pl_names, NPL, cfg.pl_on) < 0)
				goto bad;
			break;
		case 'n':
			if (parse_pcs(optarg) < 0)
				goto bad;
			break;
		case 'N':
			if (parse_sizes(optarg, cfg.mpmc_sizes, &cfg.nmpmc_sizes) < 0)
				goto bad;
			break;
		case 'C':
			if (parse_sizes(optarg, cfg.call_sizes, &cfg.ncall_sizes) < 0)
				goto bad;
			for (int i = 0; i < cfg.ncall_sizes; i++)
				if (cfg.call_sizes[i] < 8)
					goto bad;	/* word 0 is the correlation id */
			break;
		case 'D':
			if (parse_sizes(optarg, cfg.depths, &cfg.ndepths) < 0)
				goto bad;
			for (int i = 0; i < cfg.ndepths; i++)
				if (cfg.depths[i] < 1 || cfg.depths[i] > 65536)
					goto bad;
			break;
		case 'G':
			if (parse_sizes(optarg, cfg.tagdepths, &cfg.ntagdepths) < 0)
				goto bad;
			for (int i = 0; i < cfg.ntagdepths; i++)
				if (cfg.tagdepths[i] < 1 || cfg.tagdepths[i] > 65535)
					goto bad;
			break;
		case 'Z':
			if (parse_size(optarg, &cfg.depth_size) < 0 ||
			    cfg.depth_size > 64 * KiB)
				goto bad;
			break;
		case 'd':
			cfg.depth = (unsigned int)atoi(optarg);
			if (cfg.depth < 1 || cfg.depth > 4096)
				goto bad;
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cfg.cpu_a, &cfg.cpu_b) != 2)
				goto bad;
			cpus_given = true;
			break;
		case 'T':
			cfg.max_time = atof(optarg);
			break;
		case 'o':
			cfg.out = optarg;
			break;
		case 'R':
			cfg.raise_limits = false;
			break;
		case 'Q':
			cfg.quiet_wait = atof(optarg);
			break;
		case 'l':
			do_list = true;
			break;
		case 'A':
			if (ab_parse(&cfg, optarg) < 0)
				goto bad;
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || cfg.rounds < 1 || cfg.rounds > 64 || !cfg.run_ms)
		goto bad;
	if (do_list) {
		list_mechs();
		return 0;
	}
	if (parse_mechs(mech_arg) < 0)
		goto bad;
	(void)cpus_given;
	if (cfg.cpu_a == cfg.cpu_b && cfg.pl_on[PL_CROSS]) {
		fprintf(stderr, "kmbox-bench: only one CPU available: cross placement skipped\n");
		cfg.pl_on[PL_CROSS] = false;
		cfg.pl_on[PL_SAME] = true;
	}

	snprintf(bench_tag, sizeof(bench_tag), "%d", (int)getpid());
	nml = nmpmc = ncall = ndepth = ntd = 0;
	for (int k = 0; k < cfg.nmech; k++) {
		int mi = cfg.mech[k];
		const struct mech *m = mechs[mi];

		if (cfg.ab && !(m->flags & MF_KMBOX))
			continue;	/* the modules are what is compared */
		if (m->probe && m->probe(cfg.skip_why[mi], sizeof(cfg.skip_why[mi])) < 0) {
			fprintf(stderr, "kmbox-bench: skipping %s: %s\n", m->name,
				cfg.skip_why[mi]);
			continue;
		}
		if (in_set(m->name, call_set, sizeof(call_set) / sizeof(call_set[0])))
			call_ml[ncall++] = mi;
		if (in_set(m->name, depth_set, sizeof(depth_set) / sizeof(depth_set[0])))
			depth_ml[ndepth++] = mi;
		if (m->flags & MF_SELECT)
			td_ml[ntd++] = mi;
		if (m->flags & (MF_CALL | MF_SELECT))
			continue;	/* request/reply, selective receive only */
		ml[nml++] = mi;
		if (m->flags & MF_MPMC)
			mpmc_ml[nmpmc++] = mi;
	}
	wait_for_tsc();
	sysinfo_collect();
	atexit(restore_limits);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	raise_limits();

	printf("kmbox-bench: %d round(s), %d mechanism(s), %d size(s), %s mode, results in %s\n",
	       cfg.rounds, nml, cfg.nsizes, cfg.quick ? "quick" : "full", cfg.out);
	sysinfo_print(stdout);
	fflush(stdout);

	probe_calibrate();
	t0 = now_ns();
	t_end = t0 + (uint64_t)(cfg.max_time * 1e9);
	for (int round = 0; round < cfg.rounds; round++) {
		for (int p = 0; p < NPL; p++) {
			if (!cfg.pl_on[p])
				continue;
			for (int wl = WL_LAT; wl <= WL_STREAM; wl++) {
				if (!cfg.wl_on[wl])
					continue;
				for (int si = 0; si < cfg.nsizes; si++)
					run_config(round, p, wl, 0, si, cfg.sizes[si],
						   ml, nml, t_end);
				if (wl != WL_LAT || !cfg.wl_on[WL_CALL])
					continue;
				/* request/reply next to the round trips */
				for (int si = 0; si < cfg.ncall_sizes; si++)
					run_config(round, p, WL_CALL, 0, si,
						   cfg.call_sizes[si], call_ml, ncall,
						   t_end);
			}
			if (!cfg.wl_on[WL_LAT] && cfg.wl_on[WL_CALL])
				for (int si = 0; si < cfg.ncall_sizes; si++)
					run_config(round, p, WL_CALL, 0, si,
						   cfg.call_sizes[si], call_ml, ncall,
						   t_end);
			if (!cfg.wl_on[WL_MPMC])
				continue;
			for (int pc = 0; pc < cfg.npcs; pc++)
				for (int si = 0; si < cfg.nmpmc_sizes; si++)
					run_config(round, p, WL_MPMC, pc, si,
						   cfg.mpmc_sizes[si], mpmc_ml,
						   nmpmc, t_end);
		}
		/* one process, no placement: once per round */
		for (int di = 0; cfg.wl_on[WL_DEPTH] && di < cfg.ndepths; di++)
			run_config(round, PL_CROSS, WL_DEPTH, 0, di,
				   cfg.depths[di], depth_ml, ndepth, t_end);
		for (int di = 0; cfg.wl_on[WL_TAGDEPTH] && di < cfg.ntagdepths; di++)
			run_config(round, PL_CROSS, WL_TAGDEPTH, 0, di,
				   cfg.tagdepths[di], td_ml, ntd, t_end);
	}
	cfg.elapsed = (double)(now_ns() - t0) / 1e9;
	cfg.quiet_waited = quiet_waited;
	restore_limits();
	printf("\n");
	if (cfg.ab) {
		if (ab_report_write(&cfg, recs, nrecs) < 0)
			return 1;
		printf("\nkmbox-bench: A/B done in %.0f s; ab.md, ab-raw.csv in %s\n",
		       cfg.elapsed, cfg.out);
		if (ab_inconclusive()[0])
			printf("kmbox-bench: %s\n", ab_inconclusive());
		return 0;
	}
	if (report_write(&cfg, recs, nrecs) < 0)
		return 1;
	if (fanin) {
		char path[512];

		snprintf(path, sizeof(path), "%s/report.md", cfg.out);
		if (fanin_run(&cfg, fanin, path) < 0)
			return 1;
	}
	printf("\nkmbox-bench: done in %.0f s; report.md, raw.csv, summary.csv, results.json in %s\n",
	       cfg.elapsed, cfg.out);
	if (report_inconclusive()[0])
		printf("kmbox-bench: %s\n", report_inconclusive());
	return 0;
bad:
	usage(stderr);
	return 2;
}
