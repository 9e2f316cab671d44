// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side test of the verdict rules (verdict.c): no "met" or "missed"
 * from disturbed rounds or a badly configured system, and the rerun
 * command.  make -C bench test.
 */
#include <stdio.h>
#include <string.h>

#include "verdict.h"

static int fails, checks;

static void expect(const char *what, const char *got, const char *want)
{
	checks++;
	if (strcmp(got, want)) {
		fails++;
		printf("FAIL %s: got \"%s\", want \"%s\"\n", what, got, want);
	}
}

static const char *v(int ok, int clean, int rounds, double med, int tainted,
		     double goal, int le, const char *bad)
{
	static char buf[256];
	struct verdict_in in = {
		.rounds_ok = ok, .rounds_clean = clean, .rounds = rounds,
		.med = med, .tainted = tainted, .goal = goal, .le = le,
		.config_bad = bad,
	};

	return verdict_of(&in, buf, sizeof(buf));
}

int main(void)
{
	char buf[512];

	/* clean rounds: met and missed, both directions, the goal itself */
	expect("clean, under a <= goal", v(5, 5, 5, 0.90, 0, 0.95, 1, NULL), "met");
	expect("clean, at a <= goal", v(5, 5, 5, 0.95, 0, 0.95, 1, NULL), "met");
	expect("clean, over a <= goal", v(5, 5, 5, 0.96, 0, 0.95, 1, NULL), "missed");
	expect("clean, over a >= goal", v(5, 5, 5, 2.5, 0, 2.0, 0, NULL), "met");
	expect("clean, under a >= goal", v(5, 5, 5, 1.5, 0, 2.0, 0, NULL), "missed");
	expect("empty config reason", v(3, 3, 3, 0.5, 0, 1.0, 1, ""), "met");
	/* what make run printed: a ratio from disturbed rounds */
	expect("median includes disturbed rounds", v(3, 1, 3, 0.02, 1, 0.95, 1, NULL),
	       "inconclusive: host busy (1 of 3 rounds clean)");
	expect("no clean round", v(3, 0, 3, 0.5, 1, 0.95, 1, NULL),
	       "inconclusive: host busy (0 of 3 rounds clean)");
	/* clean rounds, but too few to judge */
	expect("2 clean of 5", v(5, 2, 5, 0.5, 0, 0.95, 1, NULL),
	       "inconclusive: host busy (2 of 5 rounds clean)");
	expect("3 clean of 7 ok", v(7, 3, 7, 0.5, 0, 0.95, 1, NULL),
	       "inconclusive: host busy (3 of 7 rounds clean)");
	expect("3 clean of 5", v(5, 3, 5, 0.5, 0, 0.95, 1, NULL), "met");
	expect("one-round run, clean", v(1, 1, 1, 0.5, 0, 0.95, 1, NULL), "met");
	/* a check-mode guest never gives a verdict, even when quiet */
	expect("check-mode guest", v(5, 5, 5, 0.5, 0, 0.95, 1, "check-mode guest"),
	       "inconclusive: check-mode guest");
	expect("busy and check-mode", v(3, 0, 3, 0.5, 1, 0.95, 1, "check-mode guest"),
	       "inconclusive: host busy (0 of 3 rounds clean); check-mode guest");
	/* no verdict is asked for */
	expect("info row", v(3, 0, 3, 0.5, 1, 0, 1, "check-mode guest"), "info");
	expect("no data", v(0, 0, 3, 0, 0, 0.95, 1, NULL), "no data");
	checks++;
	fails += !verdict_inconclusive("inconclusive: host busy (0 of 3 rounds clean)") ||
		 verdict_inconclusive("met");

	/* configuration */
	expect("bench-mode guest", config_problems(buf, sizeof(buf), 0, "tsc", 1, 1, 1, 0, "bench"), "");
	expect("native", config_problems(buf, sizeof(buf), 0, "kvm-clock", 1, 0, 0, 0, NULL), "");
	expect("make run's guest",
	       config_problems(buf, sizeof(buf), 1, "hpet", 1, 1, 0, 0, "run"),
	       "check-mode guest (slab debugging on, clocksource hpet, no idle=poll under TCG)");
	expect("KPTI natively", config_problems(buf, sizeof(buf), 0, "tsc", 0, 0, 0, 1, NULL),
	       "KPTI on");

	/* rerun commands */
	{
		char *run[] = { "/bin/kmbox-bench", "--quick", "--max-time", "30" };
		char *out[] = { "/bin/kmbox-bench", "--quick", "--workloads", "call",
				"--out", "/tmp/x", "--max-time=9" };
		char *nat[] = { "bench/kmbox-bench", "--quick", "--out", "/tmp/r" };

		expect("make run's rerun", rerun_command(buf, sizeof(buf), 4, run, 1),
		       "make bench BENCH_ARGS=\"--quick\"");
		expect("harness rerun keeps the workloads",
		       rerun_command(buf, sizeof(buf), 7, out, 1),
		       "make bench BENCH_ARGS=\"--quick --workloads call\"");
		expect("native rerun", rerun_command(buf, sizeof(buf), 4, nat, 0),
		       "bench/kmbox-bench --quick --out /tmp/r");
	}
	/* A/B readings: B/A per round, a time (lower better) or a rate */
	{
		struct ab_in t = { 5, 5, 5, 0.95, 0.93, 0.97, true, NULL };

		expect("A/B time, every round faster", ab_reading(&t, buf, sizeof(buf)),
		       "B better by 5.0 %");
		t.lower_better = false;
		expect("A/B rate, every round lower", ab_reading(&t, buf, sizeof(buf)),
		       "B worse by 5.0 %");
		t.min = 0.9;
		t.max = 1.02;
		expect("A/B rounds on both sides of 1", ab_reading(&t, buf, sizeof(buf)),
		       "no clear difference (rounds disagree; median -5.0 %)");
		t.rounds_clean = 2;
		expect("A/B, 2 clean of 5", ab_reading(&t, buf, sizeof(buf)),
		       "inconclusive: host busy (2 of 5 rounds clean)");
		t.rounds_clean = 5;
		t.config_bad = "check-mode guest";
		expect("A/B in a check-mode guest", ab_reading(&t, buf, sizeof(buf)),
		       "inconclusive: check-mode guest");
		t.config_bad = NULL;
		t.rounds_ok = 0;
		expect("A/B, no round ok", ab_reading(&t, buf, sizeof(buf)), "no data");
	}
	printf("verdict_test: %d of %d checks passed\n", checks - fails, checks);
	return fails ? 1 : 0;
}
