// SPDX-License-Identifier: GPL-2.0
/*
 * --ab A.ko,B.ko: two builds of the kmbox module measured against each
 * other in one run (make bench-ab, qemu/bench-ab.sh).  Each configuration
 * (placement, workload, size) of each round measures every selected kmbox
 * mechanism under module A and under module B, one module right after the
 * other (A first in one configuration, B first in the next, and the other
 * way round in the next round), reloading the module in between.  The
 * interference probes bracket the pair, so a disturbed group costs both
 * sides of its ratio.
 *
 * Reported (ab.md, also on stdout): per metric the medians of A and of B
 * and the median of the per-round ratios B/A with their spread, over the
 * rounds where neither measurement was disturbed, and a reading
 * (ab_reading(): "B better by", "B worse by", "no clear difference", or
 * "inconclusive" under the same rules as the targets' verdicts).
 * ab-raw.csv has every measurement.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "verdict.h"

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int ab_parse(struct config *cfg, const char *arg)
{
	const char *comma = strchr(arg, ',');
	size_t la;

	if (!comma || strchr(comma + 1, ','))
		return -1;
	la = (size_t)(comma - arg);
	if (!la || la >= sizeof(cfg->ab_ko[0]) || !comma[1] ||
	    strlen(comma + 1) >= sizeof(cfg->ab_ko[1]))
		return -1;
	memcpy(cfg->ab_ko[0], arg, la);
	cfg->ab_ko[0][la] = 0;
	snprintf(cfg->ab_ko[1], sizeof(cfg->ab_ko[1]), "%s", comma + 1);
	for (int v = 0; v < 2; v++)
		if (access(cfg->ab_ko[v], R_OK) < 0) {
			fprintf(stderr, "kmbox-bench: --ab: %s: %s\n", cfg->ab_ko[v],
				strerror(errno));
			return -1;
		}
	cfg->ab = true;
	return 0;
}

static int loaded = -1;		/* the variant loaded, -1: not known */

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int ab_load(struct config *cfg, int v)
{
	uint64_t t0 = now_ns(), give_up = t0 + 10000000000ULL;
	int fd;

	if (loaded == v)
		return 0;
	/*
	 * Whatever is loaded goes first.  The measurement's processes have
	 * been reaped, but a file may still be on its way out (io_uring
	 * drops its files from a worker): wait for the last reference.
	 */
	while (syscall(SYS_delete_module, "kmbox", O_NONBLOCK) < 0 && errno != ENOENT) {
		if ((errno != EAGAIN && errno != EBUSY) || now_ns() > give_up) {
			fprintf(stderr, "kmbox-bench: --ab: rmmod kmbox: %s\n", strerror(errno));
			return -1;
		}
		nap_ms(10);
	}
	loaded = -1;
	fd = open(cfg->ab_ko[v], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) < 0) {
		fprintf(stderr, "kmbox-bench: --ab: insmod %s: %s\n", cfg->ab_ko[v],
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	/* devtmpfs makes the node as the misc device registers; be sure */
	while (access("/dev/kmbox", F_OK) < 0 && now_ns() < give_up)
		nap_ms(1);
	loaded = v;
	cfg->ab_swaps++;
	cfg->ab_swap_s += (double)(now_ns() - t0) / 1e9;
	return 0;
}

/* ------------------------------------------------------------ report */

static const struct config *C;
static const struct rec *R;
static size_t NR;
static char inconclusive[512];

static const char *const wl_name[NWL] = { "latency", "stream", "mpmc", "call",
					  "depth" };
static const char *const pl_name[NPL] = { "cross", "same" };

/* what is compared, per workload: up to two metrics */
struct metric {
	const char *name;
	bool lower_better;
	double (*get)(const struct rec *r);
};

static double get_p50(const struct rec *r) { return r->o.p50; }
static double get_mps(const struct rec *r) { return r->o.mps; }
static double get_cpu(const struct rec *r) { return r->o.cpu_us; }
static double get_send(const struct rec *r) { return r->o.send_us; }
static double get_recv(const struct rec *r) { return r->o.recv_us; }

static const struct metric m_rt[] = {
	{ "p50 µs", true, get_p50 }, { "CPU µs/rt", true, get_cpu },
};
static const struct metric m_stream[] = {
	{ "msgs/s", false, get_mps }, { "CPU µs/msg", true, get_cpu },
};
static const struct metric m_depth[] = {
	{ "send µs", true, get_send }, { "receive µs", true, get_recv },
};

static const struct metric *metrics_of(int wl)
{
	return wl == WL_LAT || wl == WL_CALL ? m_rt :
	       wl == WL_DEPTH ? m_depth : m_stream;
}

static size_t size_of(const struct rec *r)
{
	switch (r->wl) {
	case WL_MPMC: return C->mpmc_sizes[r->size_i];
	case WL_CALL: return C->call_sizes[r->size_i];
	case WL_DEPTH: return C->depths[r->size_i];	/* messages queued */
	default: return C->sizes[r->size_i];
	}
}

static const char *cfg_label(const struct rec *r, char *buf, size_t n)
{
	char b[32];

	if (r->wl == WL_DEPTH)
		snprintf(buf, n, "one CPU | depth | %zu queued", size_of(r));
	else if (r->wl == WL_MPMC)
		snprintf(buf, n, "%s | mpmc %ux%u | %s", pl_name[r->place],
			 C->pcs[r->pc_i][0], C->pcs[r->pc_i][1],
			 size_label(size_of(r), b, sizeof(b)));
	else
		snprintf(buf, n, "%s | %s | %s", pl_name[r->place], wl_name[r->wl],
			 size_label(size_of(r), b, sizeof(b)));
	return buf;
}

static bool same_cfg(const struct rec *a, const struct rec *b)
{
	return a->place == b->place && a->wl == b->wl && a->pc_i == b->pc_i &&
	       a->size_i == b->size_i && a->mech == b->mech;
}

static const struct rec *find(const struct rec *like, int round, int variant)
{
	for (size_t i = 0; i < NR; i++)
		if (same_cfg(&R[i], like) && R[i].round == round &&
		    R[i].variant == variant)
			return &R[i];
	return NULL;
}

static bool ok(const struct rec *r)
{
	return r && !strcmp(r->o.status, "ok");
}

static bool clean(const struct rec *r)
{
	return !disturbed(r->noise, r->xnoise) && !r->o.capped;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *num(double v, char *buf, size_t n)
{
	if (v >= 100000)
		snprintf(buf, n, "%.0fk", v / 1e3);
	else if (v >= 100)
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%.2f", v);
	return buf;
}

static int refused;

/* one metric of one configuration: a table row */
static void row(FILE *f, const struct rec *like, const struct metric *m)
{
	double a[64], b[64], q[64], ca[64], cb[64], cq[64];
	int n = 0, nc = 0;
	char lab[128], r[160], x[3][32];
	double *ua, *ub, best;
	int nu;
	struct ab_in in = { .rounds = C->rounds, .lower_better = m->lower_better,
			    .config_bad = report_config_bad() };
	bool use_clean;

	for (int round = 0; round < C->rounds && n < 64; round++) {
		const struct rec *ra = find(like, round, 0), *rb = find(like, round, 1);

		if (!ok(ra) || !ok(rb) || m->get(ra) <= 0)
			continue;
		a[n] = m->get(ra);
		b[n] = m->get(rb);
		q[n] = b[n] / a[n];
		if (clean(ra) && clean(rb)) {
			ca[nc] = a[n];
			cb[nc] = b[n];
			cq[nc++] = q[n];
		}
		n++;
	}
	cfg_label(like, lab, sizeof(lab));
	fprintf(f, "| %s | %s | %s |", lab, mechs[like->mech]->name, m->name);
	if (!n) {
		fprintf(f, " – | – | – | – | 0 of %d | no data |\n", C->rounds);
		return;
	}
	in.rounds_ok = n;
	in.rounds_clean = nc;
	use_clean = nc > 0 && 2 * nc >= n;
	if (use_clean) {
		in.med = median(cq, nc);
		in.min = cq[0];
		in.max = cq[nc - 1];
		ua = ca;
		ub = cb;
		nu = nc;
	} else {
		/* every round, marked: too few clean ones */
		in.med = median(q, n);
		in.min = q[0];
		in.max = q[n - 1];
		ua = a;
		ub = b;
		nu = n;
	}
	fprintf(f, " %s%s | %s%s |", num(median(ua, nu), x[0], sizeof(x[0])),
		use_clean ? "" : "†", num(median(ub, nu), x[1], sizeof(x[1])),
		use_clean ? "" : "†");
	/* median() sorted them: the best of each is at one end */
	best = m->lower_better ? ub[0] / ua[0] : ub[nu - 1] / ua[nu - 1];
	ab_reading(&in, r, sizeof(r));
	if (verdict_inconclusive(r))
		refused++;
	fprintf(f, " %.3f%s (%.3f–%.3f) | %.3f | %d of %d | %s |\n", in.med,
		use_clean ? "" : "†", in.min, in.max, best, nc, n, r);
}

/* a depth-workload record of @mech, @variant, @round at depths[@di] */
static const struct rec *find_depth(int mech, int variant, int round, int di)
{
	for (size_t i = 0; i < NR; i++)
		if (R[i].wl == WL_DEPTH && R[i].mech == mech && R[i].variant == variant &&
		    R[i].round == round && R[i].size_i == di)
			return &R[i];
	return NULL;
}

/*
 * The depth workload's own target (issue 15): each module's cost at
 * every depth over its cost at the first (smallest) one, per round, as
 * the main report's depth table does; median [min-max] over the rounds
 * where neither measurement was disturbed.
 */
static void md_depth(FILE *f)
{
	bool any = false;

	for (size_t i = 0; i < NR && !any; i++)
		any = R[i].wl == WL_DEPTH;
	if (!any || C->ndepths < 2)
		return;
	fprintf(f, "\nCost at depth over the cost at %zu queued, each module against itself "
		"(per round, clean rounds; the issue's goal is ≤ 1.1× at 65 536):\n\n",
		C->depths[0]);
	fprintf(f, "| mechanism | module | metric |");
	for (int di = 1; di < C->ndepths; di++)
		fprintf(f, " @%zu |", C->depths[di]);
	fprintf(f, "\n|---|---|---|");
	for (int di = 1; di < C->ndepths; di++)
		fprintf(f, "---|");
	fprintf(f, "\n");
	for (unsigned int mi = 0; mi < nmechs; mi++) {
		if (!find_depth((int)mi, 0, 0, 0) && !find_depth((int)mi, 1, 0, 0))
			continue;
		for (int v = 0; v < 2; v++)
			for (int k = 0; k < 2; k++) {
				const struct metric *m = &m_depth[k];

				fprintf(f, "| %s | %c | %s |", mechs[mi]->name, 'A' + v, m->name);
				for (int di = 1; di < C->ndepths; di++) {
					double q[64];
					int n = 0;

					for (int round = 0; round < C->rounds && n < 64; round++) {
						const struct rec *lo = find_depth((int)mi, v, round, 0);
						const struct rec *hi = find_depth((int)mi, v, round, di);

						if (ok(lo) && ok(hi) && clean(lo) && clean(hi) &&
						    m->get(lo) > 0)
							q[n++] = m->get(hi) / m->get(lo);
					}
					if (n) {
						/* median() sorts: min and max after it */
						double med = median(q, n);

						fprintf(f, " %.2f× [%.2f–%.2f] (%d) |", med, q[0],
							q[n - 1], n);
					} else
						fprintf(f, " – |");
				}
				fprintf(f, "\n");
			}
	}
}

static void md(FILE *f)
{
	bool *done = calloc(NR ? NR : 1, sizeof(*done));
	int disturbed_groups = 0;

	refused = 0;
	fprintf(f, "# kmbox A/B\n\n");
	fprintf(f, "| | |\n|---|---|\n");
	sysinfo_print(f);
	fprintf(f, "| module A | %s |\n| module B | %s |\n", base(C->ab_ko[0]),
		base(C->ab_ko[1]));
	fprintf(f, "| rounds | %d (A and B alternate first; interleaved per configuration) |\n",
		C->rounds);
	fprintf(f, "| module reloads | %d, %.2f s each on average (outside the measurements) |\n",
		C->ab_swaps, C->ab_swaps ? C->ab_swap_s / C->ab_swaps : 0.0);
	for (size_t i = 0; i < NR; i++)
		if (R[i].variant == 0 && disturbed(R[i].noise, R[i].xnoise))
			disturbed_groups++;
	fprintf(f, "| disturbed | %d of %zu measurement pairs (probe), %.0f s waited for a quiet host |\n",
		disturbed_groups, NR / 2, C->quiet_waited);
	fprintf(f, "| elapsed | %.0f s |\n\n", C->elapsed);
	fprintf(f, "B/A is the median over rounds of the per-round ratio of B's figure to A's "
		"(both measured in the same group, between the same two interference probes), "
		"over the rounds where neither was disturbed; its min–max in brackets. A and B "
		"are the medians of the absolute figures over those rounds. † = too few clean "
		"rounds: all rounds used, and no reading. best B/best A: B's best figure over A's "
		"(lowest time, highest rate) over the same rounds: a disturbance only ever makes "
		"a figure worse, so on a busy host the bests are the steadier comparison (no "
		"reading is drawn from it).\n\n");
	fprintf(f, "| placement | workload | size | mechanism | metric | A | B | B/A (min–max) | best B/best A | clean rounds | reading |\n");
	fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < NR; i++) {
		const struct metric *ms;

		if (done[i] || R[i].variant != 0)
			continue;
		for (size_t k = i; k < NR; k++)
			if (same_cfg(&R[k], &R[i]))
				done[k] = true;
		ms = metrics_of(R[i].wl);
		row(f, &R[i], &ms[0]);
		row(f, &R[i], &ms[1]);
	}
	free(done);
	md_depth(f);
	fprintf(f, "\nReadings: \"B better/worse by X %%\" when every clean round's ratio is on "
		"that side of 1 (X from the median); \"no clear difference\" when the rounds "
		"disagree; \"inconclusive\" under the rules of the targets' verdicts "
		"(bench/README.md, Verdicts).\n");
	if (refused) {
		snprintf(inconclusive, sizeof(inconclusive),
			 "%d reading(s) refused (host busy or system unfit, see the table): rerun "
			 "the same make bench-ab when `pgrep -x qemu-system-x86` prints nothing",
			 refused);
		fprintf(f, "\n**%s.**\n", inconclusive);
	}
}

static void raw(FILE *f)
{
	fprintf(f, "round,variant,module,placement,workload,producers,consumers,mechanism,"
		"size,status,n,p50_us,p99_us,msgs_per_s,cpu_us,send_us,recv_us,probe_cpu,"
		"probe_xcpu,capped,note\n");
	for (size_t i = 0; i < NR; i++) {
		const struct rec *r = &R[i];

		fprintf(f, "%d,%c,%s,%s,%s,%u,%u,%s,%zu,%s,%llu,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f,"
			"%.2f,%.2f,%d,\"", r->round + 1, 'A' + r->variant,
			base(C->ab_ko[r->variant]), r->wl == WL_DEPTH ? "one" : pl_name[r->place],
			wl_name[r->wl], r->wl == WL_MPMC ? C->pcs[r->pc_i][0] : 1,
			r->wl == WL_MPMC ? C->pcs[r->pc_i][1] : 1, mechs[r->mech]->name,
			size_of(r), r->o.status, (unsigned long long)r->o.n, r->o.p50,
			r->o.p99, r->o.mps, r->o.cpu_us, r->o.send_us, r->o.recv_us, r->noise,
			r->xnoise, r->o.capped);
		for (const char *s = r->o.note; *s; s++)
			fprintf(f, *s == '"' ? "\"\"" : "%c", *s);
		fprintf(f, "\"\n");
	}
}

int ab_report_write(const struct config *cfg, const struct rec *recs, size_t n)
{
	char path[1024];
	FILE *f;
	int ret = 0;

	C = cfg;
	R = recs;
	NR = n;
	if (mkdir(cfg->out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "kmbox-bench: mkdir %s: %s\n", cfg->out, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/ab.md", cfg->out);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "kmbox-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	md(f);
	ret |= fclose(f);
	snprintf(path, sizeof(path), "%s/ab-raw.csv", cfg->out);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "kmbox-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	raw(f);
	ret |= fclose(f);
	md(stdout);
	fflush(stdout);
	return ret ? -1 : 0;
}

const char *ab_inconclusive(void)
{
	return inconclusive;
}
