/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text exposition format (version 0.0.4), shared by pigeond's
 * and the bridge's /metrics: a growing text buffer with one writer per kind
 * of family, and a latency histogram kept in relaxed atomics so that
 * recording costs one clock read and three atomic adds.  Names and units
 * follow Prometheus conventions: `_total` for counters, `_seconds` and
 * `_bytes` for base units.  No nng, no protobuf, no I/O.
 */
#ifndef PIGEON_METRICS_PROM_H
#define PIGEON_METRICS_PROM_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A text being rendered.  `failed` sticks after the first allocation failure;
 * every writer then does nothing. */
typedef struct prom_text {
	char *buf;
	size_t len, cap;
	bool failed;
} prom_text;

/* Starts an empty text; false without memory. */
bool prom_text_init(prom_text *t);
/* Frees the text.  Accepts a failed or finished text. */
void prom_text_fini(prom_text *t);
/* Hands over the NUL-terminated text (malloc'd; the caller frees it) and its
 * length; NULL when anything failed, the text then freed. */
char *prom_text_take(prom_text *t, size_t *len);

void prom_printf(prom_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The "# HELP" and "# TYPE" lines of a family; type is "counter", "gauge"
 * or "histogram". */
void prom_family(prom_text *t, const char *name, const char *type, const char *help);

/* A whole family of one unlabelled sample: its HELP and TYPE lines and the
 * value ("counter" or "gauge"). */
void prom_single(
    prom_text *t, const char *name, const char *type, const char *help, uint64_t value);

/* Upper bounds of every histogram's buckets, microseconds (+Inf implied):
 * 100 µs to 10 s. */
#define PROM_BUCKETS 16

/* A histogram of durations.  Zero-initialised storage is an empty one. */
typedef struct prom_hist {
	/* Each slot counts what fell in that bucket only; cumulative counts
	 * are made when rendering.  The last slot is +Inf. */
	atomic_uint_fast64_t counts[PROM_BUCKETS + 1];
	atomic_uint_fast64_t sum_us;
} prom_hist;

/* Records one duration.  Safe from any thread. */
void prom_hist_observe(prom_hist *h, int64_t us);

/* The _bucket, _sum and _count lines of h under `name`, with `labels` (for
 * example `method="Login"`, or "" for none) on each.  Renders nothing for an
 * empty histogram unless always is true. */
void prom_hist_render(
    prom_text *t, const char *name, const char *labels, const prom_hist *h, bool always);

/* A histogram of sizes (counts of things, such as a batch's messages) with
 * the given ascending upper bounds (+Inf implied, at most PROM_BUCKETS). */
typedef struct prom_size_hist {
	const uint64_t *bounds;
	size_t nbounds;
	atomic_uint_fast64_t counts[PROM_BUCKETS + 1];
	atomic_uint_fast64_t sum;
} prom_size_hist;

void prom_size_hist_observe(prom_size_hist *h, uint64_t v);
void prom_size_hist_render(prom_text *t, const char *name, const prom_size_hist *h);

/* A relaxed atomic read, for rendering counters. */
static inline uint64_t
prom_load(const atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

/* A relaxed atomic add, for counting. */
static inline void
prom_add(atomic_uint_fast64_t *a, uint64_t n)
{
	atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

#endif
