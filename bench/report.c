// SPDX-License-Identifier: GPL-2.0
/*
 * What the run was made on (header), and the results: report.md (ratios to
 * pipe measured in the same round, absolute figures, the targets),
 * raw.csv (every measurement), summary.csv (per configuration, medians and
 * ratio spread over rounds; input of plot.sh) and results.json (all of it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <cpuid.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "verdict.h"

/* ------------------------------------------------------------- sysinfo */

#define MAX_KV	40

static struct kv {
	char key[32];
	char val[768];
} kvs[MAX_KV];
static int nkv;

void sysinfo_set(const char *key, const char *fmt, ...)
{
	struct kv *k = NULL;
	va_list ap;

	for (int i = 0; i < nkv; i++)
		if (!strcmp(kvs[i].key, key))
			k = &kvs[i];
	if (!k) {
		if (nkv == MAX_KV)
			return;
		k = &kvs[nkv++];
		snprintf(k->key, sizeof(k->key), "%s", key);
	}
	va_start(ap, fmt);
	vsnprintf(k->val, sizeof(k->val), fmt, ap);
	va_end(ap);
}

static const char *sysinfo_get(const char *key)
{
	for (int i = 0; i < nkv; i++)
		if (!strcmp(kvs[i].key, key))
			return kvs[i].val;
	return "";
}

/* value of "key=value" in the kernel command line, or NULL */
static const char *cmdline_arg(const char *cmdline, const char *key,
			       char *buf, size_t n)
{
	size_t kl = strlen(key);
	const char *p = cmdline;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1, *e = strchr(v, ' ');
			size_t l = e ? (size_t)(e - v) : strlen(v);

			if (l >= n)
				l = n - 1;
			memcpy(buf, v, l);
			buf[l] = 0;
			return buf;
		}
		p = strchr(p, ' ');
	}
	return NULL;
}

static void collect_vulns(void)
{
	const char *dir = "/sys/devices/system/cpu/vulnerabilities";
	char out[768] = "", path[512], val[256];
	struct dirent **ents;
	size_t used = 0;
	int n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0) {
		sysinfo_set("mitigations", "unknown (%s: %s)", dir, strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			if (read_file(path, val, sizeof(val)) >= 0 && used < sizeof(out))
				used += (size_t)snprintf(out + used, sizeof(out) - used,
					"%s%s: %s", used ? "; " : "",
					ents[i]->d_name, val);
		}
		free(ents[i]);
	}
	free(ents);
	sysinfo_set("mitigations", "%s", out);
}

/* without kmbox.qemu=: what the firmware tables say about the machine */
static const char *dmi_machine(char *buf, size_t n)
{
	char vendor[64], product[96];

	if (read_file("/sys/class/dmi/id/sys_vendor", vendor, sizeof(vendor)) <= 0)
		return "not given (no kmbox.qemu=, no DMI vendor)";
	if (read_file("/sys/class/dmi/id/product_version", product, sizeof(product)) <= 0)
		product[0] = 0;
	if (!strcmp(vendor, "QEMU"))
		snprintf(buf, n, "not given; DMI says QEMU, machine type %s",
			 product[0] ? product : "unknown");
	else
		snprintf(buf, n, "not given; DMI vendor %s %s (native run?)", vendor,
			 product);
	return buf;
}

/* without kmbox.accel=: the hypervisor CPUID leaf (QEMU TCG: TCGTCGTCGTCG) */
static const char *cpuid_hypervisor(char *buf, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;
	char sig[13];

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1U << 31)))
		return "none (no hypervisor CPUID bit: bare metal?)";
	__cpuid(0x40000000, a, b, c, d);
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = 0;
	for (int i = 0; i < 12; i++)
		if (sig[i] && (sig[i] < 32 || sig[i] > 126))
			sig[i] = '?';
	snprintf(buf, n, "not given; hypervisor CPUID signature \"%s\"%s", sig,
		 !strcmp(sig, "TCGTCGTCGTCG") ? " (QEMU TCG)" :
		 !strncmp(sig, "KVMKVMKVM", 9) ? " (KVM)" : "");
	return buf;
#else
	(void)buf;
	(void)n;
	return "not given";
#endif
}

/*
 * Slab debugging as the allocator does it (not what the command line
 * asked): the kmalloc-64 cache's debug flags, named in @on.  Return: true
 * if any is set.
 */
static bool slab_debug(const char *cmdline, char *on, size_t n)
{
	static const char *const f[] = { "sanity_checks", "red_zone",
					 "poison", "store_user" };
	size_t ol = 0;

	on[0] = 0;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		char path[96];

		snprintf(path, sizeof(path), "/sys/kernel/slab/kmalloc-64/%s", f[i]);
		if (read_long(path) == 1 && ol < n)
			ol += (size_t)snprintf(on + ol, n - ol, "%s%s", ol ? "," : "", f[i]);
	}
	if (ol)
		return true;
	/* no sysfs view: trust the command line */
	if (strstr(cmdline, "slub_debug") && !strstr(cmdline, "slub_debug=-") &&
	    access("/sys/kernel/slab/kmalloc-64", F_OK) != 0) {
		snprintf(on, n, "slub_debug");
		return true;
	}
	return false;
}

/*
 * Why no verdict may be drawn on this system (config_problems()), "" if
 * none; and whether the QEMU harness (qemu/run.sh) booted it.
 */
static char config_bad[512];
static char config_short[512];	/* in the table's cells */
static bool harness;
static char harness_mode[32];

/* known distortions of the numbers (IPC-PERF §5.3), spelled out */
static void collect_warnings(const char *cmdline)
{
	char w[768] = "", v[256], cs[64] = "";
	size_t l = 0;
	bool slab, kpti = false, idle_poll, tcg, virt;
	const char *mode = cmdline_arg(cmdline, "kmbox.mode", harness_mode,
				       sizeof(harness_mode));

#define WARN(...) do { \
	if (l < sizeof(w)) \
		l += (size_t)snprintf(w + l, sizeof(w) - l, "%s", l ? "; " : ""); \
	if (l < sizeof(w)) \
		l += (size_t)snprintf(w + l, sizeof(w) - l, __VA_ARGS__); \
} while (0)
	slab = slab_debug(cmdline, v, sizeof(v));
	if (slab)
		WARN("slab debugging on (%s): every kmalloc/kfree is checked%s, which taxes "
		     "per-message allocations (kmbox, mq, SysV, sockets) but not pipe pages; "
		     "boot the benchmark with slub_debug=-", v,
		     strstr(v, "store_user") ? " and records a stack trace" : "");
	if (read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		      cs, sizeof(cs)) > 0 && strcmp(cs, "tsc") && strcmp(cs, "kvm-clock"))
		WARN("clocksource %s: each timestamp may cost ~1 µs under TCG (boot with clocksource=tsc tsc=reliable)", cs);
	/* kmbox.accel=tcg from the harness, or the CPUID signature */
	tcg = strcasestr(sysinfo_get("accelerator"), "tcg") != NULL;
	virt = tcg || strstr(sysinfo_get("cpu"), "hypervisor") != NULL;
	idle_poll = strstr(cmdline, "idle=poll") != NULL;
	if (!idle_poll && tcg)
		WARN("no idle=poll in a VM: cross-CPU wakeups may take milliseconds under TCG");
	if (read_file("/sys/devices/system/cpu/vulnerabilities/meltdown", v, sizeof(v)) > 0 &&
	    strstr(v, "PTI")) {
		kpti = true;
		WARN("KPTI on: every system call flushes QEMU's soft TLB under TCG (boot with pti=off)");
	}
#undef WARN
	sysinfo_set("warnings", "%s", l ? w : "none known");
	harness = mode != NULL;
	config_problems(config_bad, sizeof(config_bad), slab, cs, virt, tcg,
			idle_poll, kpti, mode);
	snprintf(config_short, sizeof(config_short), "%s",
		 config_bad[0] && mode && strcmp(mode, "bench") ? "check-mode guest" :
		 config_bad);
	sysinfo_set("fit for verdicts", "%s", config_bad[0] ?
		    "no: see Verdicts below the targets" : "yes (configuration)");
}

const char *report_config_bad(void)
{
	return config_bad;
}

void sysinfo_collect(void)
{
	char buf[4096], v[256], line[512];
	struct utsname u;
	time_t t = time(NULL);
	struct tm tm;
	FILE *f;
	const char *s;
	cpu_set_t set;

	gmtime_r(&t, &tm);
	strftime(v, sizeof(v), "%Y-%m-%dT%H:%M:%SZ", &tm);
	sysinfo_set("date", "%s", v);
	if (uname(&u) == 0)
		sysinfo_set("kernel", "%s %s %s (%s)", u.sysname, u.release,
			    u.machine, u.version);
	f = fopen("/proc/cpuinfo", "r");
	if (f) {
		int ncpu = 0, hyp = 0;
		char model[256] = "unknown";

		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "processor", 9))
				ncpu++;
			if (!strncmp(line, "model name", 10) && !strcmp(model, "unknown")) {
				char *c = strchr(line, ':');

				if (c) {
					snprintf(model, sizeof(model), "%s", c + 2);
					model[strcspn(model, "\n")] = 0;
				}
			}
			if (!strncmp(line, "flags", 5) && strstr(line, " hypervisor"))
				hyp = 1;
		}
		fclose(f);
		sysinfo_set("cpu", "%s; %d CPUs%s", model, ncpu,
			    hyp ? "; hypervisor flag set" : "");
	}
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		sysinfo_set("cpus allowed", "%d", CPU_COUNT(&set));
	if (read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		      v, sizeof(v)) < 0)
		snprintf(v, sizeof(v), "unknown");
	sysinfo_set("clocksource", "%s", v);
	{
		uint64_t a = now_ns(), b;
		int i;

		for (i = 0; i < 1000; i++)
			b = now_ns();
		sysinfo_set("clock_gettime cost", "%.0f ns",
			    (double)(b - a) / 1000.0);
	}
	if (read_file("/proc/cmdline", buf, sizeof(buf)) < 0)
		buf[0] = 0;
	sysinfo_set("cmdline", "%s", buf);
	s = cmdline_arg(buf, "idle", v, sizeof(v));
	sysinfo_set("idle", "%s", s ? s : "default (no idle= on the command line)");
	collect_vulns();
	if (read_file("/proc/loadavg", v, sizeof(v)) >= 0)
		sysinfo_set("loadavg at start", "%s", v);
	s = cmdline_arg(buf, "kmbox.qemu", v, sizeof(v));
	if (!s)
		s = getenv("KMBOX_QEMU");
	if (s)
		sysinfo_set("qemu", "%s", s);
	else
		sysinfo_set("qemu", "%s", dmi_machine(v, sizeof(v)));
	s = cmdline_arg(buf, "kmbox.accel", v, sizeof(v));
	if (!s)
		s = getenv("KMBOX_ACCEL");
	if (s)
		sysinfo_set("accelerator", "%s", s);
	else
		sysinfo_set("accelerator", "%s", cpuid_hypervisor(v, sizeof(v)));
	s = cmdline_arg(buf, "kmbox.hostload", v, sizeof(v));
	if (!s)
		s = getenv("KMBOX_HOST_LOAD");
	if (s)
		sysinfo_set("host loadavg", "%s", s);
	kmbox_describe(v, sizeof(v));
	sysinfo_set("kmbox module", "%s", v);
	collect_warnings(buf);
}

void sysinfo_print(FILE *f)
{
	for (int i = 0; i < nkv; i++)
		fprintf(f, "| %s | %s |\n", kvs[i].key, kvs[i].val);
}

/* -------------------------------------------------------- aggregation */

static const char *const wl_name[NWL] = { "latency", "stream", "mpmc", "call",
					  "depth", "tagdepth" };
static const char *const pl_name[NPL] = { "cross", "same" };

static const struct config *C;
static const struct rec *R;
static size_t NR;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	int n;
	double med, min, max;
	bool tainted;		/* includes rounds the probe flagged */
};

static struct stat3 stats_of(double *v, int n)
{
	struct stat3 s = { .n = n };

	if (!n)
		return s;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

static const struct rec *find(int round, int place, int wl, int pc, int mech,
			      int size_i)
{
	for (size_t i = 0; i < NR; i++) {
		const struct rec *r = &R[i];

		if (r->round == round && r->place == place && r->wl == wl &&
		    r->pc_i == pc && r->mech == mech && r->size_i == size_i)
			return r;
	}
	return NULL;
}

static unsigned int nprod_of(const struct rec *r)
{
	return r->wl == WL_MPMC ? C->pcs[r->pc_i][0] : 1;
}

static unsigned int ncons_of(const struct rec *r)
{
	return r->wl == WL_MPMC ? C->pcs[r->pc_i][1] : 1;
}

static bool ok(const struct rec *r)
{
	return r && !strcmp(r->o.status, "ok");
}

static bool clean(const struct rec *r)
{
	return !disturbed(r->noise, r->xnoise) && !r->o.capped;
}

/*
 * Rounds to aggregate: those where the probe saw no interference next to
 * the measurement(s), if they are at least half of the rounds that
 * succeeded; otherwise all of them, and the figure is marked.
 */
static bool use_clean(int n_clean, int n_all)
{
	return n_clean > 0 && 2 * n_clean >= n_all;
}

/* one process, no placement: run once per round, filed under cross */
static bool one_proc(int wl)
{
	return wl == WL_DEPTH || wl == WL_TAGDEPTH;
}

/* round trips timed one by one (ping-pong, call) */
static bool is_rt(int wl)
{
	return wl == WL_LAT || wl == WL_CALL;
}

/* the figure ratios are taken of: p50 (round trips, depth) or msgs/s */
static double metric(const struct rec *r)
{
	return r->wl == WL_STREAM || r->wl == WL_MPMC ? r->o.mps : r->o.p50;
}

enum { F_P50, F_P99, F_MPS, F_MBPS, F_CPU, F_P90, F_P999, F_SEND, F_RECV,
       F_METRIC };

static double field(const struct rec *r, int f)
{
	switch (f) {
	case F_P50: return r->o.p50;
	case F_P90: return r->o.p90;
	case F_P99: return r->o.p99;
	case F_P999: return r->o.p999;
	case F_MPS: return r->o.mps;
	case F_MBPS: return r->o.mbps;
	case F_SEND: return r->o.send_us;
	case F_RECV: return r->o.recv_us;
	case F_METRIC: return metric(r);
	default: return r->o.cpu_us;
	}
}

static struct stat3 abs_stats(int place, int wl, int pc, int mech, int size_i,
			      int f)
{
	double all[64], cl[64];
	int n = 0, nc = 0;
	struct stat3 s;

	for (int round = 0; round < C->rounds && n < 64; round++) {
		const struct rec *r = find(round, place, wl, pc, mech, size_i);

		if (!ok(r))
			continue;
		all[n++] = field(r, f);
		if (clean(r))
			cl[nc++] = field(r, f);
	}
	if (use_clean(nc, n))
		return stats_of(cl, nc);
	s = stats_of(all, n);
	s.tainted = n > 0;
	return s;
}

/*
 * Per-round ratio of field @f of (mech, size_i) to that of (ref, ref_si),
 * over the rounds where both succeeded.  @clean_n, if not NULL, gets the
 * number of rounds where neither measurement was disturbed.
 */
static struct stat3 ratio_stats_f(int place, int wl, int pc, int mech, int size_i,
				  int ref_pc, int ref, int ref_si, int f, int *clean_n)
{
	double all[64], cl[64];
	int n = 0, nc = 0;
	struct stat3 s;

	for (int round = 0; round < C->rounds && n < 64; round++) {
		const struct rec *a = find(round, place, wl, pc, mech, size_i);
		const struct rec *b = find(round, place, wl, ref_pc, ref, ref_si);

		if (!ok(a) || !ok(b) || field(b, f) <= 0)
			continue;
		all[n++] = field(a, f) / field(b, f);
		if (clean(a) && clean(b))
			cl[nc++] = field(a, f) / field(b, f);
	}
	if (clean_n)
		*clean_n = nc;
	if (use_clean(nc, n))
		return stats_of(cl, nc);
	s = stats_of(all, n);
	s.tainted = n > 0;
	return s;
}

/* per-round ratio mech/ref, over the rounds where both succeeded */
static struct stat3 ratio_stats(int place, int wl, int pc, int mech, int ref,
				int size_i)
{
	return ratio_stats_f(place, wl, pc, mech, size_i, pc, ref, size_i, F_METRIC, NULL);
}

static int mech_index(const char *name)
{
	for (unsigned int i = 0; i < nmechs; i++)
		if (!strcmp(mechs[i]->name, name))
			return (int)i;
	return -1;
}

static int size_index(const size_t *sizes, int n, size_t size)
{
	for (int i = 0; i < n; i++)
		if (sizes[i] == size)
			return i;
	return -1;
}

static const size_t *sizes_of(int wl, int *n)
{
	if (wl == WL_MPMC) {
		*n = C->nmpmc_sizes;
		return C->mpmc_sizes;
	}
	if (wl == WL_CALL) {
		*n = C->ncall_sizes;
		return C->call_sizes;
	}
	if (wl == WL_DEPTH) {
		*n = C->ndepths;
		return C->depths;
	}
	if (wl == WL_TAGDEPTH) {
		*n = C->ntagdepths;
		return C->tagdepths;
	}
	*n = C->nsizes;
	return C->sizes;
}

static int ref_of(int wl)
{
	if (one_proc(wl))
		return -1;	/* a mechanism against itself at depth 10 */
	return mech_index(wl == WL_MPMC ? "posix-mq" : "pipe");
}

/* the message size of a record (the depth workload: its message size) */
static size_t rec_size(const struct rec *r)
{
	int n;
	const size_t *sz = sizes_of(r->wl, &n);

	return one_proc(r->wl) ? C->depth_size : sz[r->size_i];
}

/* a short word for a configuration where no round succeeded */
static const char *fail_word(int place, int wl, int pc, int mech, int size_i)
{
	for (int round = 0; round < C->rounds; round++) {
		const struct rec *r = find(round, place, wl, pc, mech, size_i);

		if (r && strcmp(r->o.status, "ok"))
			return r->o.status;
	}
	return "—";
}

/* --------------------------------------------------------- formatting */

const char *size_label(size_t size, char *buf, size_t n)
{
	if (size >= MiB && size % MiB == 0)
		snprintf(buf, n, "%zu MiB", size / MiB);
	else if (size >= KiB && size % KiB == 0)
		snprintf(buf, n, "%zu KiB", size / KiB);
	else
		snprintf(buf, n, "%zu B", size);
	return buf;
}

static const char *fmt_num(double v, char *buf, size_t n)
{
	if (v >= 1e9)
		snprintf(buf, n, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, n, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, n, "%.0fk", v / 1e3);
	else if (v >= 1e3)
		snprintf(buf, n, "%.1fk", v / 1e3);
	else if (v >= 100)
		snprintf(buf, n, "%.0f", v);
	else if (v >= 10)
		snprintf(buf, n, "%.1f", v);
	else
		snprintf(buf, n, "%.2f", v);
	return buf;
}

static bool mech_ran(int mech, int wl)
{
	for (size_t i = 0; i < NR; i++)
		if (R[i].mech == mech && R[i].wl == wl)
			return true;
	return false;
}

static void md_header_row(FILE *f, int wl)
{
	int ns;
	const size_t *sz = sizes_of(wl, &ns);
	char b[32];

	fprintf(f, "| mechanism |");
	for (int i = 0; i < ns; i++)
		fprintf(f, " %s |", size_label(sz[i], b, sizeof(b)));
	fprintf(f, "\n|---|");
	for (int i = 0; i < ns; i++)
		fprintf(f, "---:|");
	fprintf(f, "\n");
}

static void md_ratio_table_ref(FILE *f, int place, int wl, int pc, int ref)
{
	int ns;

	sizes_of(wl, &ns);
	md_header_row(f, wl);
	for (int k = 0; k < C->nmech; k++) {
		int m = C->mech[k];

		if (!mech_ran(m, wl))
			continue;
		fprintf(f, "| %s |", mechs[m]->name);
		for (int si = 0; si < ns; si++) {
			struct stat3 s;

			if (m == ref) {
				s = abs_stats(place, wl, pc, m, si, F_P50);
				fprintf(f, " %s |", s.n ? "1 (ref)" :
					fail_word(place, wl, pc, m, si));
				continue;
			}
			s = ratio_stats(place, wl, pc, m, ref, si);
			if (s.n)
				fprintf(f, " %.2f [%.2f–%.2f]%s |", s.med, s.min, s.max,
					s.tainted ? "†" : "");
			else
				fprintf(f, " %s |", fail_word(place, wl, pc, m, si));
		}
		fprintf(f, "\n");
	}
	fprintf(f, "\n");
}

static void md_ratio_table(FILE *f, int place, int wl, int pc)
{
	md_ratio_table_ref(f, place, wl, pc, ref_of(wl));
}

static void md_abs_table(FILE *f, int place, int wl, int pc)
{
	int ns;
	char a[32], b[32], c[32];

	sizes_of(wl, &ns);
	md_header_row(f, wl);
	for (int k = 0; k < C->nmech; k++) {
		int m = C->mech[k];

		if (!mech_ran(m, wl))
			continue;
		fprintf(f, "| %s |", mechs[m]->name);
		for (int si = 0; si < ns; si++) {
			if (is_rt(wl)) {
				struct stat3 p50 = abs_stats(place, wl, pc, m, si, F_P50);
				struct stat3 p99 = abs_stats(place, wl, pc, m, si, F_P99);

				if (p50.n)
					fprintf(f, " %s / %s%s |",
						fmt_num(p50.med, a, sizeof(a)),
						fmt_num(p99.med, b, sizeof(b)),
						p50.tainted ? "†" : "");
				else
					fprintf(f, " %s |", fail_word(place, wl, pc, m, si));
			} else {
				struct stat3 mps = abs_stats(place, wl, pc, m, si, F_MPS);
				struct stat3 mb = abs_stats(place, wl, pc, m, si, F_MBPS);
				struct stat3 cpu = abs_stats(place, wl, pc, m, si, F_CPU);

				if (mps.n)
					fprintf(f, " %s · %s MB/s · %s µs%s |",
						fmt_num(mps.med, a, sizeof(a)),
						fmt_num(mb.med, b, sizeof(b)),
						fmt_num(cpu.med, c, sizeof(c)),
						mps.tainted ? "†" : "");
				else
					fprintf(f, " %s |", fail_word(place, wl, pc, m, si));
			}
		}
		fprintf(f, "\n");
	}
	fprintf(f, "\n");
}

/* ------------------------------------------------------------- targets */

struct target {
	const char *what;
	int wl;
	size_t size;		/* depth rows: messages queued */
	const char *mech, *ref;
	int le;			/* 1: ratio must be <=, 0: >= */
	double goal;		/* <= 0: report only */
	const char *src;
	int f;			/* F_METRIC; depth rows: F_SEND or F_RECV */
	double goal_same;	/* same CPU: 0 the same goal, < 0 report only */
	const char *pc, *ref_pc;	/* mpmc rows: "4x4" against "1x1" */
};

#define I11 "issue 11 item 6"
#define I15 "issue 15"
#define I13 "issue 13"
#define R1 "round 1"
#define I14 "issue 14"

/*
 * Issue 15's table first (the second round's goals, per placement where
 * it gives two), then the first round's rows that still hold, then the
 * information rows.
 */
/* a row: what, workload, size, mechanism, reference, <=?, goal, source, field, options */
#define T(w, wl_, sz, m, r, le_, g, s, f_, ...) { .what = w, .wl = wl_, .size = sz, \
	.mech = m, .ref = r, .le = le_, .goal = g, .src = s, .f = f_, __VA_ARGS__ }

static const struct target targets[] = {
	T("copy path 64 B round trip vs pipe", WL_LAT, 64, "kmbox", "pipe", 1, 0.90, I15, F_METRIC, .goal_same = 0.95),
	T("copy path 64 B round trip vs POSIX mq", WL_LAT, 64, "kmbox", "posix-mq", 1, 0.95, I15, F_METRIC, .goal_same = 1.0),
	T("copy streaming 64 B vs pipe", WL_STREAM, 64, "kmbox", "pipe", 0, 1.0, I15, F_METRIC),
	T("batched streaming 64 B vs pipe", WL_STREAM, 64, "kmbox-batch", "pipe", 0, 3.5, I15, F_METRIC, .goal_same = -1),
	T("copy path 4 KiB, 4×4 vs POSIX mq", WL_MPMC, 4 * KiB, "kmbox", "posix-mq", 0, 1.2, I15, F_METRIC, .pc = "4x4", .ref_pc = "4x4"),
	T("copy path 64 KiB, 4×4 vs POSIX mq", WL_MPMC, 64 * KiB, "kmbox", "posix-mq", 0, 1.2, I15, F_METRIC, .pc = "4x4", .ref_pc = "4x4"),
	T("zero-copy streaming 64 KiB vs kmbox copy", WL_STREAM, 64 * KiB, "kmbox-zc", "kmbox", 0, 2.0, I15, F_METRIC),
	T("zero-copy streaming 1 MiB vs futex+shm ring", WL_STREAM, MiB, "kmbox-zc", "futex-shm", 0, 1.0, I15, F_METRIC),
	T("zero-copy 64 B round trip vs copy path", WL_LAT, 64, "kmbox-zc", "kmbox", 1, 1.0, I15, F_METRIC),
	T("kmbox send at 65536 queued vs at 10", WL_DEPTH, 65536, "kmbox-ioctl", "kmbox-ioctl", 1, 1.1, I15, F_SEND),
	T("kmbox receive at 65536 queued vs at 10", WL_DEPTH, 65536, "kmbox-ioctl", "kmbox-ioctl", 1, 1.1, I15, F_RECV),
	T("4×4 aggregate vs 1×1, 64 B", WL_MPMC, 64, "kmbox", "kmbox", 0, 0.7, I15, F_METRIC, .pc = "4x4", .ref_pc = "1x1"),
	T("call 64 B vs kmbox 2-mailbox round trip (copy path)", WL_CALL, 64, "kmbox-call", "kmbox", 1, 1.0, I11, F_METRIC),
	T("call 64 B vs pipe pair", WL_CALL, 64, "kmbox-call", "pipe", 1, 0.95, I11, F_METRIC),
	T("kmbox receive by exact tag, 65535 others queued vs 10", WL_TAGDEPTH, 65535, "kmbox-tag", "kmbox-tag", 1, 1.1, I13, F_RECV),
	T("uring_cmd streaming 64 B vs pipe through io_uring", WL_STREAM, 64, "kmbox-ucmd", "pipe-uring", 0, 1.5, I14, F_METRIC),
	T("uring_cmd streaming 64 B vs UDS seqpacket through io_uring", WL_STREAM, 64, "kmbox-ucmd", "seqpacket-uring", 0, 0, "info", F_METRIC),
	T("uring_cmd streaming 64 B vs pipe", WL_STREAM, 64, "kmbox-ucmd", "pipe", 0, 0, "info: pipe read()/write()", F_METRIC),
	T("copy path 64 B round trip vs UDS stream", WL_LAT, 64, "kmbox", "uds-stream", 1, 0.45, R1, F_METRIC),
	T("copy path (ioctl) 64 B round trip vs pipe", WL_LAT, 64, "kmbox-ioctl", "pipe", 1, 0.95, R1 ", ioctl variant", F_METRIC),
	T("copy streaming 64 KiB vs pipe", WL_STREAM, 64 * KiB, "kmbox", "pipe", 0, 1.0, R1, F_METRIC),
	T("zero-copy streaming 64 KiB vs pipe", WL_STREAM, 64 * KiB, "kmbox-zc", "pipe", 0, 3.0, R1, F_METRIC),
	T("zero-copy streaming 1 MiB vs pipe", WL_STREAM, MiB, "kmbox-zc", "pipe", 0, 3.0, R1, F_METRIC),
	T("zero-copy streaming 1 MiB vs kmbox copy", WL_STREAM, MiB, "kmbox-zc", "kmbox", 0, 2.0, R1, F_METRIC),
	T("copy streaming 64 KiB vs pipe-1m", WL_STREAM, 64 * KiB, "kmbox", "pipe-1m", 0, 0, "info: no header spill (README)", F_METRIC),
	T("zero-copy streaming 64 KiB vs pipe-1m", WL_STREAM, 64 * KiB, "kmbox-zc", "pipe-1m", 0, 0, "info: no header spill (README)", F_METRIC),
	T("zero-copy streaming 64 KiB vs futex+shm ring", WL_STREAM, 64 * KiB, "kmbox-zc", "futex-shm", 0, 0, "info", F_METRIC),
	T("call 64 B vs kmbox 2-mailbox round trip (ioctl)", WL_CALL, 64, "kmbox-call", "kmbox-ioctl", 1, 0, "info", F_METRIC),
	T("call 64 B vs POSIX mq pair", WL_CALL, 64, "kmbox-call", "posix-mq", 1, 0, "info", F_METRIC),
	T("call 64 B vs UDS seqpacket", WL_CALL, 64, "kmbox-call", "uds-seqpacket", 1, 0, "info", F_METRIC),
	T("call 64 B vs futex+shm pair", WL_CALL, 64, "kmbox-call", "futex-shm", 1, 0, "info", F_METRIC),
	T("call 64 B, one-call server vs two-call server", WL_CALL, 64, "kmbox-call", "kmbox-call2", 1, 0, "info: kmbox_reply_recv() vs receive + kmbox_reply()", F_METRIC),
	T("4×4 aggregate vs 1×1, 64 B, POSIX mq", WL_MPMC, 64, "posix-mq", "posix-mq", 0, 0, "info", F_METRIC, .pc = "4x4", .ref_pc = "1x1"),
	T("POSIX mq send at 65536 queued vs at 10", WL_DEPTH, 65536, "posix-mq", "posix-mq", 1, 0, "info", F_SEND),
	T("POSIX mq receive at 65536 queued vs at 10", WL_DEPTH, 65536, "posix-mq", "posix-mq", 1, 0, "info", F_RECV),
	T("kmbox send with a tag (indexed), 65535 others queued vs 10", WL_TAGDEPTH, 65535, "kmbox-tag", "kmbox-tag", 1, 0, "info", F_SEND),
	T("kmbox receive by tag with a wildcard bit, 65535 others vs 10", WL_TAGDEPTH, 65535, "kmbox-tagmask", "kmbox-tagmask", 1, 0, "info: walks the queue", F_RECV),
	T("SysV msgrcv(msgtyp), 65535 others queued vs 10", WL_TAGDEPTH, 65535, "sysv-msgtyp", "sysv-msgtyp", 1, 0, "info: walks the queue", F_RECV),
};

#undef T
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

struct tres {
	struct stat3 s;
	int clean;		/* rounds where neither measurement was disturbed */
	char verdict[192];	/* verdict_of() */
};

/* the depth the depth workload's ratios are taken against */
#define DEPTH_BASE	10

/* the index of "PxC" among the run's producer x consumer shapes, or -1 */
static int pc_index(const char *pc)
{
	unsigned int p, c;

	if (!pc)
		return 0;
	if (sscanf(pc, "%ux%u", &p, &c) != 2)
		return -1;
	for (int i = 0; i < C->npcs; i++)
		if (C->pcs[i][0] == p && C->pcs[i][1] == c)
			return i;
	return -1;
}

/* the goal of @t in @place: <= 0 when there is none there */
static double target_goal(const struct target *t, int place)
{
	if (place == PL_SAME && t->goal_same)
		return t->goal_same;
	return t->goal;
}

static struct tres target_eval(const struct target *t, int place)
{
	struct tres r = { .verdict = "no data" };
	struct verdict_in vi;
	int m = mech_index(t->mech), ref = mech_index(t->ref), ns, si, ref_si;
	int pc = pc_index(t->pc), ref_pc = pc_index(t->ref_pc);
	const size_t *sz = sizes_of(t->wl, &ns);
	int f = t->f;

	si = size_index(sz, ns, t->size);
	ref_si = one_proc(t->wl) ? size_index(sz, ns, DEPTH_BASE) : si;
	/* the depth workloads run once per round, filed under cross */
	if (one_proc(t->wl) && place != PL_CROSS)
		return r;
	if (m < 0 || ref < 0 || si < 0 || ref_si < 0 || pc < 0 || ref_pc < 0 ||
	    (!one_proc(t->wl) && !C->pl_on[place]) || !C->wl_on[t->wl])
		return r;
	r.s = ratio_stats_f(place, t->wl, pc, m, si, ref_pc, ref, ref_si, f, &r.clean);
	vi = (struct verdict_in){
		.rounds_ok = r.s.n, .rounds_clean = r.clean, .rounds = C->rounds,
		.med = r.s.med, .tainted = r.s.tainted, .goal = target_goal(t, place),
		.le = t->le, .config_bad = config_short,
	};
	verdict_of(&vi, r.verdict, sizeof(r.verdict));
	return r;
}

/* filled by md_targets(): why verdicts were refused, and the rerun */
static char inconclusive_note[2048];

const char *report_inconclusive(void)
{
	return inconclusive_note;
}

static void md_targets(FILE *f)
{
	int n_inc = 0, n_verdicts = 0;
	bool busy = false;
	char cmd[600];

	fprintf(f, "## Targets\n\n"
		"Ratios are computed per round (same round, same placement) and the "
		"median [min–max] over rounds is compared with the goal. Latency: "
		"p50 round trip, lower is better. Streaming: msgs/s, higher is "
		"better. Depth: median cost of one send or receive at that depth "
		"over the same at 10 queued, same mechanism, same round; "
		"selective receive (tagdepth): the same, with that many other "
		"messages queued ahead of the one taken by its tag. "
		"Measured and reported, never asserted. At 64 KiB a framed "
		"stream message (64 KiB + 8 B header) no longer fits the default "
		"pipe's 64 KiB buffer, which costs pipe a second hand-off; the "
		"info rows against pipe-1m show the ratio without that edge. Under TCG copies "
		"are inflated far more than system calls (IPC-PERF §5), so zero-copy "
		"ratios here overstate what hardware would show.\n\n"
		"In every table, rounds where the interference probe flagged either "
		"measurement are left out when at least half the rounds are clean; "
		"† marks figures that had to include disturbed rounds.\n\n"
		"| target | goal | cross-CPU (primary) | verdict | same CPU | verdict | source |\n"
		"|---|---:|---:|---|---:|---|---|\n");
	for (size_t i = 0; i < NTARGETS; i++) {
		const struct target *t = &targets[i];
		struct tres a = target_eval(t, PL_CROSS), b = target_eval(t, PL_SAME);
		char ca[64] = "—", cb[64] = "—";

		if (!C->wl_on[t->wl])
			continue;
		if (a.s.n)
			snprintf(ca, sizeof(ca), "%.2f [%.2f–%.2f]%s", a.s.med, a.s.min,
				 a.s.max, a.s.tainted ? "†" : "");
		if (b.s.n)
			snprintf(cb, sizeof(cb), "%.2f [%.2f–%.2f]%s", b.s.med, b.s.min,
				 b.s.max, b.s.tainted ? "†" : "");
		char goal[64] = "—";
		double gs = target_goal(t, PL_SAME);

		if (t->goal > 0 && (gs == t->goal || one_proc(t->wl)))
			snprintf(goal, sizeof(goal), "%s %.2f×", t->le ? "≤" : "≥", t->goal);
		else if (t->goal > 0 && gs > 0)
			snprintf(goal, sizeof(goal), "%s %.2f× cross, %.2f× same",
				 t->le ? "≤" : "≥", t->goal, gs);
		else if (t->goal > 0)
			snprintf(goal, sizeof(goal), "%s %.2f× cross", t->le ? "≤" : "≥", t->goal);
		fprintf(f, "| %s | %s | %s | %s | %s | %s | %s |\n", t->what,
			goal, ca, a.verdict, one_proc(t->wl) ? "(one process)" : cb,
			one_proc(t->wl) ? "—" : b.verdict, t->src);
		for (int k = 0; k < 2; k++) {
			const char *v = k ? b.verdict : a.verdict;

			if (!strcmp(v, "met") || !strcmp(v, "missed")) {
				n_verdicts++;
			} else if (verdict_inconclusive(v)) {
				n_verdicts++;
				n_inc++;
				busy |= strstr(v, "host busy") != NULL;
			}
		}
	}
	fprintf(f, "\n");
	inconclusive_note[0] = 0;
	if (!n_inc)
		return;
	rerun_command(cmd, sizeof(cmd), C->argc, C->argv, harness);
	snprintf(inconclusive_note, sizeof(inconclusive_note),
		 "%d of %d verdicts inconclusive (%s%s%s): no met/missed is given from them. "
		 "Rerun%s: %s",
		 n_inc, n_verdicts, busy ? "host busy" : "",
		 busy && config_bad[0] ? "; " : "", config_bad,
		 busy ? " when nothing else runs on the host (no other VM: "
			"pgrep -x qemu-system-x86 prints nothing)" : "",
		 cmd);
	fprintf(f, "**Verdicts.** %s\n\n", inconclusive_note);
}

/* ----------------------------------------------------- depth workload */

static void md_depth(FILE *f)
{
	int ns, base;
	const size_t *sz = sizes_of(WL_DEPTH, &ns);
	char a[32], b[32];

	base = size_index(sz, ns, DEPTH_BASE);
	fprintf(f, "## Cost against queue depth (one process, CPU %d)\n\n"
		"Median cost of one receive and one send, µs, with that many "
		"%zu B messages queued (priorities 0..31 at random; the receive "
		"takes the highest); each call timed on its own, so every figure "
		"includes one clock read. In brackets: the ratio to the same "
		"mechanism at %d queued in the same round, median over rounds "
		"(goal ≤ 1.1×).\n\n| mechanism |", C->cpu_a, C->depth_size, DEPTH_BASE);
	for (int i = 0; i < ns; i++)
		fprintf(f, " send @%zu | receive @%zu |", sz[i], sz[i]);
	fprintf(f, "\n|---|");
	for (int i = 0; i < ns; i++)
		fprintf(f, "---:|---:|");
	fprintf(f, "\n");
	for (int k = 0; k < C->nmech; k++) {
		int m = C->mech[k];

		if (!mech_ran(m, WL_DEPTH))
			continue;
		fprintf(f, "| %s |", mechs[m]->name);
		for (int si = 0; si < ns; si++) {
			for (int fi = F_SEND; fi <= F_RECV; fi++) {
				struct stat3 v = abs_stats(PL_CROSS, WL_DEPTH, 0, m, si, fi);
				struct stat3 r = { 0 };

				if (!v.n) {
					fprintf(f, " %s |", fail_word(PL_CROSS, WL_DEPTH, 0, m, si));
					continue;
				}
				if (base >= 0 && base != si)
					r = ratio_stats_f(PL_CROSS, WL_DEPTH, 0, m, si, 0, m, base,
							  fi, NULL);
				fmt_num(v.med, a, sizeof(a));
				if (r.n)
					snprintf(b, sizeof(b), " (%.2f×%s)", r.med,
						 r.tainted ? "†" : "");
				else
					b[0] = 0;
				fprintf(f, " %s%s%s |", a, v.tainted ? "†" : "", b);
			}
		}
		fprintf(f, "\n");
	}
	fprintf(f, "\n");
}

/* --------------------------------------------- tagdepth workload */

static void md_tagdepth(FILE *f)
{
	int ns, base;
	const size_t *sz = sizes_of(WL_TAGDEPTH, &ns);
	char a[32], b[32], c[32];

	base = size_index(sz, ns, DEPTH_BASE);
	fprintf(f, "## Selective receive against queue depth (one process, CPU %d)\n\n"
		"One %zu B message sent with tag T and received by its tag, with "
		"that many messages of other tags (priorities 0..31 at random) "
		"queued ahead of it; it is sent at priority 0, so it is always the "
		"last in receive order. Median µs of the receive by tag, then of "
		"the send; each call timed on its own (one clock read in every "
		"figure). In brackets: the ratio to the same mechanism with %d "
		"others queued in the same round, median over rounds. kmbox-tag: "
		"an exact tag (mask ~0), served by the tag index; goal: flat, "
		"≤ 1.1× at every depth. kmbox-tagmask: a mask with one wildcard "
		"bit (~1), which walks the queue; sysv-msgtyp: msgrcv(msgtyp), "
		"which walks its list: for comparison. A mailbox holds at most "
		"65536 messages, so the deepest row is 65535 others + T.\n\n"
		"| mechanism |", C->cpu_a, C->depth_size, DEPTH_BASE);
	for (int i = 0; i < ns; i++)
		fprintf(f, " receive @%zu | send @%zu |", sz[i], sz[i]);
	fprintf(f, "\n|---|");
	for (int i = 0; i < ns; i++)
		fprintf(f, "---:|---:|");
	fprintf(f, "\n");
	for (int k = 0; k < C->nmech; k++) {
		int m = C->mech[k];

		if (!mech_ran(m, WL_TAGDEPTH))
			continue;
		fprintf(f, "| %s |", mechs[m]->name);
		for (int si = 0; si < ns; si++) {
			for (int fi = F_RECV; fi >= F_SEND; fi--) {
				struct stat3 v = abs_stats(PL_CROSS, WL_TAGDEPTH, 0, m, si, fi);
				struct stat3 r = { 0 };

				if (!v.n) {
					fprintf(f, " %s |", fail_word(PL_CROSS, WL_TAGDEPTH, 0, m, si));
					continue;
				}
				if (base >= 0 && base != si)
					r = ratio_stats_f(PL_CROSS, WL_TAGDEPTH, 0, m, si, 0, m, base,
							  fi, NULL);
				fmt_num(v.med, a, sizeof(a));
				if (r.n)
					snprintf(b, sizeof(b), " (%s×%s)", fmt_num(r.med, c, sizeof(c)),
						 r.tainted ? "†" : "");
				else
					b[0] = 0;
				fprintf(f, " %s%s%s |", a, v.tainted ? "†" : "", b);
			}
		}
		fprintf(f, "\n");
	}
	fprintf(f, "\n");
}

/* --------------------------------------------------------------- notes */

static void md_notes(FILE *f)
{
	bool any = false;

	fprintf(f, "## Notes\n\n");
	for (unsigned int m = 0; m < nmechs; m++) {
		if (C->skip_why[m][0]) {
			fprintf(f, "- **%s** skipped: %s\n", mechs[m]->name,
				C->skip_why[m]);
			any = true;
		}
	}
	/* one line per distinct (mechanism, status, note) */
	for (size_t i = 0; i < NR; i++) {
		const struct rec *r = &R[i];
		bool seen = false;
		int count = 0;
		char b[32];

		if (ok(r) && !r->o.note[0])
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = R[k].mech == r->mech && !strcmp(R[k].o.status, r->o.status) &&
			       !strcmp(R[k].o.note, r->o.note);
		if (seen)
			continue;
		for (size_t k = i; k < NR; k++)
			count += R[k].mech == r->mech &&
				 !strcmp(R[k].o.status, r->o.status) &&
				 !strcmp(R[k].o.note, r->o.note);
		fprintf(f, "- **%s** %s ×%d (first: round %d, %s, %s, %u×%u, %s): %s\n",
			mechs[r->mech]->name, r->o.status, count, r->round + 1,
			pl_name[r->place], wl_name[r->wl],
			nprod_of(r), ncons_of(r),
			size_label(rec_size(r), b, sizeof(b)),
			r->o.note[0] ? r->o.note : "-");
		any = true;
	}
	if (C->truncated) {
		fprintf(f, "- %d measurement(s) not run: --max-time %.0f s reached\n",
			C->truncated, C->max_time);
		any = true;
	}
	if (!any)
		fprintf(f, "- every measurement succeeded\n");
	fprintf(f, "\n");
}

/*
 * The interference probe (main.c): 1.0 = the CPUs were ours.  Summarised
 * per round, so a disturbed round stands out.
 */
static void md_interference(FILE *f)
{
	static double v[8192], x[8192];
	int n = 0, bad = 0, capped = 0;

	for (size_t i = 0; i < NR && n < 8192; i++)
		if (R[i].noise > 0) {
			v[n] = R[i].noise;
			x[n++] = R[i].xnoise;
			bad += !clean(&R[i]);
			capped += R[i].o.capped;
		}
	if (!n)
		return;
	{
		struct stat3 s = stats_of(v, n), sx = stats_of(x, n);

		fprintf(f, "| interference | probes (main.c) when quiet: CPU loop %.2f ms, cross-CPU spin round trip %.2f µs%s; "
			"slowdown next to the measurements: loop median %.2f max %.2f, spin median %.2f max %.2f; "
			"%d of %d measurements disturbed (loop > 1.5 or spin > 3, or starved: %d stopped at their time cap short of their minimum count); waited %.0f of %.0f s for quiet%s |\n",
			C->probe_base_us / 1e3, C->spin_base_rtt_us,
			C->spin_base_capped ? " (the host was busy at start: capped at 5 µs)" : "",
			s.med, s.max,
			sx.med, sx.max, bad, n, capped, C->quiet_waited, C->quiet_wait,
			bad * 10 > n ? " — **the host was busy** (another VM or a build?): compare rounds, prefer a quiet rerun" : "");
	}
	for (int round = 0; round < C->rounds; round++) {
		int k = 0, b = 0;

		for (size_t i = 0; i < NR; i++)
			if (R[i].round == round && R[i].noise > 0) {
				k++;
				b += !clean(&R[i]);
			}
		if (k)
			fprintf(f, "| round %d | %d of %d measurements disturbed |\n",
				round + 1, b, k);
	}
}

/* --------------------------------------------------------- whole report */

static void md_report(FILE *f)
{
	char b[64];

	fprintf(f, "# kmbox-bench report\n\n");
	fprintf(f, "## System\n\n| item | value |\n|---|---|\n");
	sysinfo_print(f);
	fprintf(f, "| command | %s |\n| rounds | %d (interleaved: each round runs every mechanism in turn) |\n"
		"| per measurement | warm-up ≥ %llu ms, then ≥ %llu ms and ≥ %llu round trips / %llu messages |\n"
		"| CPUs | cross = %d and %d, same = %d |\n| elapsed | %.0f s |\n",
		C->cmd, C->rounds, (unsigned long long)C->warm_ms,
		(unsigned long long)C->run_ms, (unsigned long long)C->lat_min,
		(unsigned long long)C->stream_min, C->cpu_a, C->cpu_b, C->cpu_a,
		C->elapsed);
	if (C->limits_note[0])
		fprintf(f, "| limits | %s |\n", C->limits_note);
	md_interference(f);
	fprintf(f, "\nQueue depth (messages a queue holds, for every mechanism "
		"that has one; pipes keep their own buffer): ");
	for (int i = 0; i < C->nsizes; i++)
		fprintf(f, "%s%s → %u", i ? ", " : "",
			size_label(C->sizes[i], b, sizeof(b)),
			depth_for(C, C->sizes[i]));
	fprintf(f, ".\n\n");

	md_targets(f);

	for (int p = 0; p < NPL; p++) {
		const char *pn = p == PL_CROSS ? "cross-CPU (two processes on different CPUs; primary)" :
						 "same CPU (both processes pinned to one CPU)";

		if (!C->pl_on[p])
			continue;
		if (C->wl_on[WL_LAT]) {
			fprintf(f, "## Round-trip latency, %s\n\n", pn);
			fprintf(f, "p50 ratio to pipe in the same round, median [min–max] over rounds; lower is better.\n\n");
			md_ratio_table(f, p, WL_LAT, 0);
			fprintf(f, "Absolute: p50 / p99 µs (medians over rounds; p90, p99.9, max and n in raw.csv).\n\n");
			md_abs_table(f, p, WL_LAT, 0);
		}
		if (C->wl_on[WL_CALL]) {
			fprintf(f, "## Request/reply (call), %s\n\n", pn);
			fprintf(f, "One request and its reply of the same size, closed loop; the reply carries the request's correlation id (word 0), checked by the caller. "
				"kmbox-call: kmbox_call() / kmbox_reply_recv() (the reply and the next receive in one call) on one mailbox; kmbox-call2: the same with a receive with KMBOX_F_CALLS and a kmbox_reply(); kmbox, kmbox-ioctl: a request mailbox and a reply mailbox "
				"(write/read, KMBOX_IOC_SEND/RECV); pipe: a pair of pipes; posix-mq: a pair of queues; uds-seqpacket: one socketpair; futex-shm: a pair of shared-memory rings with futex wake-ups.\n\n");
			fprintf(f, "p50 ratio to the pipe pair in the same round, median [min–max] over rounds; lower is better.\n\n");
			md_ratio_table(f, p, WL_CALL, 0);
			if (mech_index("kmbox") >= 0 && mech_ran(mech_index("kmbox"), WL_CALL)) {
				fprintf(f, "p50 ratio to kmbox's own 2-mailbox round trip (write/read) in the same round.\n\n");
				md_ratio_table_ref(f, p, WL_CALL, 0, mech_index("kmbox"));
			}
			fprintf(f, "Absolute: p50 / p99 µs (medians over rounds).\n\n");
			md_abs_table(f, p, WL_CALL, 0);
		}
		if (C->wl_on[WL_STREAM]) {
			fprintf(f, "## Streaming throughput (one way), %s\n\n", pn);
			fprintf(f, "msgs/s ratio to pipe in the same round, median [min–max]; higher is better.\n\n");
			md_ratio_table(f, p, WL_STREAM, 0);
			fprintf(f, "Absolute: msgs/s · MB/s (payload, 10^6 B) · CPU µs per message (all processes), medians over rounds.\n\n");
			md_abs_table(f, p, WL_STREAM, 0);
		}
		if (C->wl_on[WL_MPMC]) {
			for (int pc = 0; pc < C->npcs; pc++) {
				fprintf(f, "## %u producers × %u consumers, one queue, %s\n\n",
					C->pcs[pc][0], C->pcs[pc][1], pn);
				fprintf(f, "Aggregate msgs/s ratio to POSIX mq in the same round (pipes and streams cannot share one queue between several readers); higher is better. Producers on CPU %d, consumers on CPU %d.\n\n",
					C->cpu_a, p == PL_CROSS ? C->cpu_b : C->cpu_a);
				md_ratio_table(f, p, WL_MPMC, pc);
				md_abs_table(f, p, WL_MPMC, pc);
			}
		}
	}
	if (C->wl_on[WL_DEPTH])
		md_depth(f);
	if (C->wl_on[WL_TAGDEPTH])
		md_tagdepth(f);
	md_notes(f);
}

static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static double jnum(double v)
{
	return isfinite(v) ? v : 0;
}

static void raw_csv(FILE *f)
{
	fprintf(f, "round,placement,workload,producers,consumers,mechanism,size,depth,status,n,"
		"p50_us,p90_us,p99_us,p999_us,max_us,mean_us,msgs_per_s,mb_per_s,cpu_us_per_msg,secs,probe_cpu,probe_xcpu,send_us,recv_us,note\n");
	for (size_t i = 0; i < NR; i++) {
		const struct rec *r = &R[i];
		size_t size = rec_size(r);
		unsigned int depth = r->wl == WL_DEPTH ? (unsigned int)C->depths[r->size_i] :
				     r->wl == WL_TAGDEPTH ?
				     (unsigned int)C->tagdepths[r->size_i] + 1 :
				     depth_for(C, size);

		fprintf(f, "%d,%s,%s,%u,%u,%s,%zu,%u,%s,%llu,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f,%.2f,%.2f,%.3f,%.3f,",
			r->round + 1, pl_name[r->place], wl_name[r->wl],
			nprod_of(r), ncons_of(r),
			mechs[r->mech]->name, size, depth, r->o.status,
			(unsigned long long)r->o.n, r->o.p50, r->o.p90, r->o.p99,
			r->o.p999, r->o.pmax, r->o.mean, r->o.mps, r->o.mbps,
			r->o.cpu_us, r->o.secs, r->noise, r->xnoise, r->o.send_us,
			r->o.recv_us);
		csv_str(f, r->o.note);
		fputc('\n', f);
	}
}

static void summary_row(FILE *f, int p, int wl, int pc, int m, int si,
			size_t size)
{
	struct stat3 p50 = abs_stats(p, wl, pc, m, si, F_P50);
	struct stat3 p99 = abs_stats(p, wl, pc, m, si, F_P99);
	struct stat3 mps = abs_stats(p, wl, pc, m, si, F_MPS);
	struct stat3 mb = abs_stats(p, wl, pc, m, si, F_MBPS);
	struct stat3 cpu = abs_stats(p, wl, pc, m, si, F_CPU);
	int ref = ref_of(wl);
	struct stat3 rt = ratio_stats(p, wl, pc, m, ref, si);

	fprintf(f, "%s,%s,%u,%u,%s,%zu,%d,%s,%.3f,%.3f,%.1f,%.3f,%.3f,%s,%.4f,%.4f,%.4f,%d,%d\n",
		pl_name[p], wl_name[wl], wl == WL_MPMC ? C->pcs[pc][0] : 1,
		wl == WL_MPMC ? C->pcs[pc][1] : 1,
		mechs[m]->name, size, p50.n ? p50.n : mps.n,
		(p50.n || mps.n) ? "ok" : fail_word(p, wl, pc, m, si),
		p50.med, p99.med, mps.med, mb.med, cpu.med,
		ref >= 0 ? mechs[ref]->name : "", rt.med, rt.min, rt.max, rt.n,
		p50.tainted || rt.tainted);
}

static void json_cfg(FILE *f, int p, int wl, int pc, int m, int si,
		     size_t size, bool first)
{
	struct stat3 s[9];
	int ref = ref_of(wl);
	struct stat3 rt = ratio_stats(p, wl, pc, m, ref, si);
	static const char *const names[9] = { "p50_us", "p99_us", "msgs_per_s",
		"mb_per_s", "cpu_us_per_msg", "p90_us", "p999_us", "send_us",
		"recv_us" };

	for (int k = 0; k < 9; k++)
		s[k] = abs_stats(p, wl, pc, m, si, k);
	fprintf(f, "%s\n    {\"placement\": \"%s\", \"workload\": \"%s\", \"producers\": %u, "
		"\"consumers\": %u, \"mechanism\": \"%s\", \"size\": %zu, \"rounds_ok\": %d",
		first ? "" : ",", pl_name[p], wl_name[wl],
		wl == WL_MPMC ? C->pcs[pc][0] : 1, wl == WL_MPMC ? C->pcs[pc][1] : 1,
		mechs[m]->name, one_proc(wl) ? C->depth_size : size,
		s[0].n ? s[0].n : s[2].n);
	if (wl == WL_DEPTH)
		fprintf(f, ", \"queued\": %zu", size);
	if (wl == WL_TAGDEPTH)
		fprintf(f, ", \"others_queued\": %zu", size);
	for (int k = 0; k < 9; k++)
		if (s[k].n && (one_proc(wl) || k < 7))
			fprintf(f, ", \"%s\": {\"median\": %.4f, \"min\": %.4f, \"max\": %.4f}",
				names[k], jnum(s[k].med), jnum(s[k].min), jnum(s[k].max));
	if (ref >= 0 && rt.n)
		fprintf(f, ", \"ratio_to\": \"%s\", \"ratio\": {\"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"rounds\": %d, \"disturbed\": %s}",
			mechs[ref]->name, rt.med, rt.min, rt.max, rt.n,
			rt.tainted ? "true" : "false");
	fprintf(f, "}");
}

/* every configuration that has records, one row each */
enum { ROW_CSV, ROW_JSON };

static bool have_cfg(int p, int wl, int pc, int m, int si)
{
	for (int round = 0; round < C->rounds; round++)
		if (find(round, p, wl, pc, m, si))
			return true;
	return false;
}

static void rows_of(FILE *f, int row, int p, int wl, int pc, bool *first)
{
	int ns;
	const size_t *sz = sizes_of(wl, &ns);

	for (int k = 0; k < C->nmech; k++) {
		for (int si = 0; si < ns; si++) {
			if (!have_cfg(p, wl, pc, C->mech[k], si))
				continue;
			if (row == ROW_CSV)
				summary_row(f, p, wl, pc, C->mech[k], si, sz[si]);
			else
				json_cfg(f, p, wl, pc, C->mech[k], si, sz[si], *first);
			*first = false;
		}
	}
}

static void all_rows(FILE *f, int row)
{
	bool first = true;

	for (int p = 0; p < NPL; p++)
		for (int wl = 0; wl < NWL; wl++)
			for (int pc = 0; pc < (wl == WL_MPMC ? C->npcs : 1); pc++)
				rows_of(f, row, p, wl, pc, &first);
}

static void json_report(FILE *f)
{
	fprintf(f, "{\n  \"system\": {");
	for (int i = 0; i < nkv; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_str(f, kvs[i].key);
		fprintf(f, ": ");
		json_str(f, kvs[i].val);
	}
	fprintf(f, "\n  },\n  \"config\": {\"command\": ");
	json_str(f, C->cmd);
	fprintf(f, ", \"rounds\": %d, \"run_ms\": %llu, \"warm_ms\": %llu, "
		"\"cpus\": [%d, %d], \"elapsed_s\": %.1f, \"truncated\": %d, \"limits\": ",
		C->rounds, (unsigned long long)C->run_ms,
		(unsigned long long)C->warm_ms, C->cpu_a, C->cpu_b, C->elapsed,
		C->truncated);
	json_str(f, C->limits_note);
	fprintf(f, "},\n  \"targets\": [");
	for (size_t i = 0; i < NTARGETS; i++) {
		const struct target *t = &targets[i];

		fprintf(f, "%s\n    {\"what\": ", i ? "," : "");
		json_str(f, t->what);
		fprintf(f, ", \"mechanism\": \"%s\", \"ref\": \"%s\", \"size\": %zu, "
			"\"workload\": \"%s\", \"goal\": \"%s %.2f\"",
			t->mech, t->ref, t->size, wl_name[t->wl],
			t->le ? "<=" : ">=", t->goal);
		for (int p = 0; p < NPL; p++) {
			struct tres r = target_eval(t, p);

			fprintf(f, ", \"%s\": {\"verdict\": \"%s\"", pl_name[p], r.verdict);
			if (r.s.n)
				fprintf(f, ", \"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"rounds\": %d, \"disturbed\": %s",
					r.s.med, r.s.min, r.s.max, r.s.n,
					r.s.tainted ? "true" : "false");
			fprintf(f, "}");
		}
		fprintf(f, "}");
	}
	fprintf(f, "\n  ],\n  \"summary\": [");
	all_rows(f, ROW_JSON);
	fprintf(f, "\n  ],\n  \"raw\": [");
	for (size_t i = 0; i < NR; i++) {
		const struct rec *r = &R[i];
		size_t size = rec_size(r);

		fprintf(f, "%s\n    {\"round\": %d, \"placement\": \"%s\", \"workload\": \"%s\", "
			"\"producers\": %u, \"consumers\": %u, \"mechanism\": \"%s\", \"size\": %zu, "
			"\"status\": \"%s\", \"n\": %llu, \"p50_us\": %.3f, \"p90_us\": %.3f, "
			"\"p99_us\": %.3f, \"p999_us\": %.3f, \"max_us\": %.3f, \"mean_us\": %.3f, "
			"\"msgs_per_s\": %.1f, \"mb_per_s\": %.3f, \"cpu_us_per_msg\": %.3f, "
			"\"probe_cpu\": %.2f, \"probe_xcpu\": %.2f, \"send_us\": %.3f, "
			"\"recv_us\": %.3f, \"note\": ",
			i ? "," : "", r->round + 1, pl_name[r->place], wl_name[r->wl],
			nprod_of(r), ncons_of(r), mechs[r->mech]->name,
			size, r->o.status, (unsigned long long)r->o.n, jnum(r->o.p50),
			jnum(r->o.p90), jnum(r->o.p99), jnum(r->o.p999), jnum(r->o.pmax),
			jnum(r->o.mean), jnum(r->o.mps), jnum(r->o.mbps), jnum(r->o.cpu_us),
			jnum(r->noise), jnum(r->xnoise), jnum(r->o.send_us),
			jnum(r->o.recv_us));
		json_str(f, r->o.note);
		fprintf(f, "}");
	}
	fprintf(f, "\n  ]\n}\n");
}

static FILE *open_out(const char *name)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", C->out, name);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "kmbox-bench: %s: %s\n", path, strerror(errno));
	return f;
}

int report_write(const struct config *cfg, const struct rec *recs, size_t n)
{
	char v[256];
	FILE *f;
	int ret = 0;

	C = cfg;
	R = recs;
	NR = n;
	if (read_file("/proc/loadavg", v, sizeof(v)) >= 0)
		sysinfo_set("loadavg at end", "%s", v);
	if (mkdir(cfg->out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "kmbox-bench: mkdir %s: %s\n", cfg->out, strerror(errno));
		ret = -1;
	}
	f = open_out("report.md");
	if (f) {
		md_report(f);
		ret |= fclose(f);
	} else {
		ret = -1;
	}
	f = open_out("raw.csv");
	if (f) {
		raw_csv(f);
		ret |= fclose(f);
	} else {
		ret = -1;
	}
	f = open_out("summary.csv");
	if (f) {
		fprintf(f, "placement,workload,producers,consumers,mechanism,size,rounds_ok,status,"
			"p50_us,p99_us,msgs_per_s,mb_per_s,cpu_us_per_msg,ratio_to,ratio_median,"
			"ratio_min,ratio_max,ratio_rounds,disturbed\n");
		all_rows(f, ROW_CSV);
		ret |= fclose(f);
	} else {
		ret = -1;
	}
	f = open_out("results.json");
	if (f) {
		json_report(f);
		ret |= fclose(f);
	} else {
		ret = -1;
	}
	/* the report also goes to stdout, so a console log carries it */
	md_report(stdout);
	fflush(stdout);
	return ret;
}
