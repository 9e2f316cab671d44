/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Verdicts of the report's targets: when the benchmark gives one and when
 * it refuses to (README.md, "Verdicts").  Pure functions of their
 * arguments, so that verdict_test.c can check them on the host.
 */
#ifndef KMBOX_BENCH_VERDICT_H
#define KMBOX_BENCH_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

/* what one target's ratio rests on */
struct verdict_in {
	int rounds_ok;		/* rounds where both measurements succeeded */
	int rounds_clean;	/* of those, rounds where neither was disturbed */
	int rounds;		/* rounds the run was asked for */
	double med;		/* median ratio over the rounds used */
	bool tainted;		/* that median includes disturbed rounds */
	double goal;		/* <= 0: report only ("info") */
	bool le;		/* the ratio must be <= goal (else >=) */
	const char *config_bad;	/* why the system is unfit to judge, or NULL */
};

/* clean rounds a verdict needs: 3, or every round of a shorter run */
int verdict_min_clean(int rounds);

/*
 * "no data", "info", "met", "missed", or "inconclusive: <reason>" (host
 * busy, a badly configured system, or both), written to @buf.  Return:
 * @buf.
 */
const char *verdict_of(const struct verdict_in *in, char *buf, size_t n);

/* true if @v (a verdict_of() result) is an inconclusive one */
bool verdict_inconclusive(const char *v);

/*
 * What about the system distorts the figures so much that no verdict may
 * be drawn from them (IPC-PERF §5.3), as a short list, or "" if nothing:
 * @slab_debug: slab debugging is on; @clocksource: the current one;
 * @virt: running in a VM; @tcg: under QEMU TCG; @idle_poll: idle=poll on
 * the command line; @kpti: page-table isolation on; @mode: kmbox.mode= of
 * the QEMU harness ("check", "run", "bench") or NULL.
 */
const char *config_problems(char *buf, size_t n, bool slab_debug,
			    const char *clocksource, bool virt, bool tcg,
			    bool idle_poll, bool kpti, const char *mode);

/*
 * The command that reruns this benchmark where it can give verdicts:
 * under the QEMU harness (@harness) `make bench BENCH_ARGS="..."` with
 * this run's arguments but --out and --max-time (the harness sets them),
 * else this very command line.
 */
const char *rerun_command(char *buf, size_t n, int argc, char *const *argv,
			  bool harness);

/*
 * A/B runs (--ab): how module B compares with module A on one metric,
 * from the per-round ratios B/A over the rounds where both succeeded.
 */
struct ab_in {
	int rounds_ok;		/* rounds where A and B both succeeded */
	int rounds_clean;	/* of those, rounds where neither was disturbed */
	int rounds;		/* rounds the run was asked for */
	double med, min, max;	/* median and spread of B/A, clean rounds */
	bool lower_better;	/* a time (µs) rather than a rate */
	const char *config_bad;	/* why the system is unfit to judge, or NULL */
};

/*
 * "no data"; "inconclusive: <reason>" under the same rules as
 * verdict_of(); else "B better by X %" or "B worse by X %" when every
 * clean round's ratio is on that side of 1, "no clear difference (...)"
 * when they disagree.  Return: @buf.
 */
const char *ab_reading(const struct ab_in *in, char *buf, size_t n);

#endif
