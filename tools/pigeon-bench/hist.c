/* SPDX-License-Identifier: MIT */
/*
 * The latency histogram.  Bucket i < 64 holds exactly i us; above, a value v
 * with its highest bit e (e >= 6) goes to 64 + (e - 6) * 32 + the next five
 * bits of v, the same layout HdrHistogram uses with two significant digits.
 */
#include "hist.h"

static unsigned
hist_index(uint64_t v)
{
	unsigned e, idx;

	if (v < HIST_LINEAR)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	idx = HIST_LINEAR + (e - 6) * (1u << HIST_SUB_BITS) +
	    (unsigned)((v >> (e - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1));
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The largest value bucket i holds. */
static uint64_t
hist_upper(unsigned i)
{
	unsigned e, sub;

	if (i < HIST_LINEAR)
		return i;
	e = (i - HIST_LINEAR) / (1u << HIST_SUB_BITS) + 6;
	sub = (i - HIST_LINEAR) % (1u << HIST_SUB_BITS);
	return ((uint64_t)((1u << HIST_SUB_BITS) + sub + 1) << (e - HIST_SUB_BITS)) - 1;
}

void
hist_add(hist *h, uint64_t us)
{
	h->bucket[hist_index(us)]++;
	h->count++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
}

void
hist_merge(hist *dst, const hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum_us += src->sum_us;
	if (src->max_us > dst->max_us)
		dst->max_us = src->max_us;
}

uint64_t
hist_quantile(const hist *h, double q)
{
	uint64_t rank, seen = 0, v;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			v = hist_upper(i);
			return v < h->max_us ? v : h->max_us;
		}
	}
	return h->max_us;
}

void
hist_write_cdf(const hist *h, FILE *f)
{
	uint64_t seen = 0, v;

	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (h->bucket[i] == 0)
			continue;
		seen += h->bucket[i];
		v = hist_upper(i);
		fprintf(f, "%llu %.6f\n", (unsigned long long)(v < h->max_us ? v : h->max_us),
		    (double)seen / (double)h->count);
	}
}
