// SPDX-License-Identifier: GPL-2.0
/*
 * Verdicts: a target is "met" or "missed" only when the measurements
 * behind it can bear it.  The benchmark refuses ("inconclusive: ...")
 *
 *  - when the host was busy: fewer than verdict_min_clean() rounds, or
 *    fewer than half of the rounds that succeeded, had both measurements
 *    undisturbed by the interference probe, or the median had to include
 *    disturbed rounds (the † figures);
 *  - when the system is configured so that the ratios are known to be
 *    distorted (config_problems(): slab debugging, a slow clocksource,
 *    HLT idle under TCG, KPTI), which is what the check-mode guest of
 *    'make run' is.
 *
 * The report then gives the reasons and rerun_command().
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "verdict.h"

int verdict_min_clean(int rounds)
{
	return rounds < 3 ? (rounds < 1 ? 1 : rounds) : 3;
}

const char *verdict_of(const struct verdict_in *in, char *buf, size_t n)
{
	bool busy;

	if (in->rounds_ok <= 0) {
		snprintf(buf, n, "no data");
		return buf;
	}
	if (in->goal <= 0) {
		snprintf(buf, n, "info");
		return buf;
	}
	busy = in->tainted || in->rounds_clean < verdict_min_clean(in->rounds) ||
	       2 * in->rounds_clean < in->rounds_ok;
	if (busy || (in->config_bad && in->config_bad[0])) {
		size_t l = (size_t)snprintf(buf, n, "inconclusive: ");

		if (busy && l < n)
			l += (size_t)snprintf(buf + l, n - l,
					      "host busy (%d of %d rounds clean)",
					      in->rounds_clean, in->rounds_ok);
		if (in->config_bad && in->config_bad[0] && l < n)
			snprintf(buf + l, n - l, "%s%s", busy ? "; " : "",
				 in->config_bad);
		return buf;
	}
	if (in->le)
		snprintf(buf, n, "%s", in->med <= in->goal ? "met" : "missed");
	else
		snprintf(buf, n, "%s", in->med >= in->goal ? "met" : "missed");
	return buf;
}

bool verdict_inconclusive(const char *v)
{
	return !strncmp(v, "inconclusive", 12);
}

const char *config_problems(char *buf, size_t n, bool slab_debug,
			    const char *clocksource, bool virt, bool tcg,
			    bool idle_poll, bool kpti, const char *mode)
{
	size_t l = 0;

	buf[0] = 0;
#define ADD(...) do { \
	if (l < n) \
		l += (size_t)snprintf(buf + l, n - l, "%s", l ? ", " : ""); \
	if (l < n) \
		l += (size_t)snprintf(buf + l, n - l, __VA_ARGS__); \
} while (0)
	if (slab_debug)
		ADD("slab debugging on");
	/* every timestamp is an emulated device read (~1 µs under TCG) */
	if (clocksource && clocksource[0] && strcmp(clocksource, "tsc") &&
	    strcmp(clocksource, "kvm-clock") && strcmp(clocksource, "arch_sys_counter"))
		ADD("clocksource %s", clocksource);
	if (virt && tcg && !idle_poll)
		ADD("no idle=poll under TCG");
	if (kpti)
		ADD("KPTI on");
#undef ADD
	if (l && mode && (!strcmp(mode, "check") || !strcmp(mode, "run"))) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", buf);
		snprintf(buf, n, "check-mode guest (%s)", tmp);
	}
	return buf;
}

const char *rerun_command(char *buf, size_t n, int argc, char *const *argv,
			  bool harness)
{
	size_t l = 0;

	buf[0] = 0;
	if (!harness) {
		for (int i = 0; i < argc && l < n; i++)
			l += (size_t)snprintf(buf + l, n - l, "%s%s", i ? " " : "", argv[i]);
		return buf;
	}
	l = (size_t)snprintf(buf, n, "make bench BENCH_ARGS=\"");
	for (int i = 1, k = 0; i < argc && l < n; i++) {
		const char *a = argv[i];

		/* the harness chooses where results go and how long it runs */
		if (!strcmp(a, "--out") || !strcmp(a, "--max-time")) {
			i++;
			continue;
		}
		if (!strncmp(a, "--out=", 6) || !strncmp(a, "--max-time=", 11))
			continue;
		l += (size_t)snprintf(buf + l, n - l, "%s%s", k++ ? " " : "", a);
	}
	if (l < n)
		snprintf(buf + l, n - l, "\"");
	return buf;
}

const char *ab_reading(const struct ab_in *in, char *buf, size_t n)
{
	struct verdict_in v = {
		.rounds_ok = in->rounds_ok, .rounds_clean = in->rounds_clean,
		.rounds = in->rounds, .med = in->med, .goal = 1,
		.config_bad = in->config_bad,
	};
	/* how much better B is, as a fraction (negative: worse) */
	double gain = in->lower_better ? 1 - in->med : in->med - 1;
	bool all_better, all_worse;

	verdict_of(&v, buf, n);
	if (!strcmp(buf, "no data") || verdict_inconclusive(buf))
		return buf;
	if (in->lower_better) {
		all_better = in->max < 1;
		all_worse = in->min > 1;
	} else {
		all_better = in->min > 1;
		all_worse = in->max < 1;
	}
	if (all_better)
		snprintf(buf, n, "B better by %.1f %%", 100 * gain);
	else if (all_worse)
		snprintf(buf, n, "B worse by %.1f %%", -100 * gain);
	else
		snprintf(buf, n, "no clear difference (rounds disagree; median %s%.1f %%)",
			 gain >= 0 ? "+" : "", 100 * gain);
	return buf;
}
