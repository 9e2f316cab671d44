// SPDX-License-Identifier: GPL-2.0
/* Log-linear histogram; see hist.h. */
#include <string.h>

#include "hist.h"

static unsigned int bucket_of(uint64_t v)
{
	unsigned int msb, shift, idx;

	if (v < 2 * HIST_SUB)
		return (unsigned int)v;
	msb = 63 - (unsigned int)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	idx = (shift + 1) * HIST_SUB + (unsigned int)(v >> shift) - HIST_SUB;
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* lowest value of bucket @idx and its width */
static void bucket_range(unsigned int idx, uint64_t *lo, uint64_t *width)
{
	unsigned int shift;

	if (idx < 2 * HIST_SUB) {
		*lo = idx;
		*width = 1;
		return;
	}
	shift = idx / HIST_SUB - 1;
	*lo = (uint64_t)(idx % HIST_SUB + HIST_SUB) << shift;
	*width = (uint64_t)1 << shift;
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void hist_add(struct hist *h, uint64_t v)
{
	h->b[bucket_of(v)]++;
	h->n++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, lo, width;
	unsigned int i;
	double mid;

	if (!h->n)
		return 0;
	rank = (uint64_t)(q * (double)h->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->n)
		rank = h->n;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i == HIST_BUCKETS)
		return (double)h->max;
	bucket_range(i, &lo, &width);
	mid = (double)lo + (double)(width - 1) / 2.0;
	/* the exact extremes are known: never report outside them */
	if (mid < (double)h->min)
		mid = (double)h->min;
	if (mid > (double)h->max)
		mid = (double)h->max;
	return mid;
}
