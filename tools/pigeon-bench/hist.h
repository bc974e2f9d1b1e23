/* SPDX-License-Identifier: MIT */
/*
 * A latency histogram in microseconds with log-linear buckets: exact below
 * 64 us, then 32 buckets per power of two (at most ~3% relative error), up
 * to about 10^12 us.  Fixed size, no allocation, so one lives in each
 * request slot of pigeon-bench and the slots are merged at the end.  Not
 * thread-safe: one writer at a time.
 */
#ifndef PIGEON_BENCH_HIST_H
#define PIGEON_BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

#define HIST_SUB_BITS 5
#define HIST_LINEAR 64
#define HIST_BUCKETS (HIST_LINEAR + 35 * (1 << HIST_SUB_BITS))

typedef struct hist {
	uint64_t count;
	uint64_t sum_us;
	uint64_t max_us;
	uint64_t bucket[HIST_BUCKETS];
} hist;

/* Records one value. */
void hist_add(hist *h, uint64_t us);
/* Adds every value of src to dst. */
void hist_merge(hist *dst, const hist *src);
/* The value at quantile q (0 < q <= 1): the upper bound of the bucket
 * holding it (never more than the largest value seen); 0 when empty. */
uint64_t hist_quantile(const hist *h, double q);
/* Writes "latency_us fraction_at_or_below" lines, one per non-empty bucket,
 * for plotting. */
void hist_write_cdf(const hist *h, FILE *f);

#endif
