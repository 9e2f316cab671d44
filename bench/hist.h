/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Log-linear latency histogram (nanoseconds).
 *
 * Values below 2 * HIST_SUB are counted exactly; above, each power of two
 * is split into HIST_SUB equal buckets, so a bucket is at most 1/HIST_SUB
 * (1.6 %) of its value wide.  Percentiles report the bucket's midpoint.
 * The struct is plain data, so it can live in memory shared by the
 * measuring child and the parent.
 */
#ifndef KMBOX_BENCH_HIST_H
#define KMBOX_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS	6
#define HIST_SUB	(1U << HIST_SUB_BITS)
#define HIST_GROUPS	42		/* up to 2^47 ns, about 39 hours */
#define HIST_BUCKETS	(HIST_GROUPS * HIST_SUB)

struct hist {
	uint64_t n;
	uint64_t sum;
	uint64_t min, max;
	uint32_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
/* value at quantile q (0..1], ns; 0 if empty */
double hist_quantile(const struct hist *h, double q);

#endif
