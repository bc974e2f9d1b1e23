/* SPDX-License-Identifier: MIT */
/*
 * A micro-benchmark of the filter for the project's benchmark tool: what
 * the worker pays per message (fingerprint plus check).  Not used by the
 * server.
 */
#ifndef PIGEON_SPAM_BENCH_H
#define PIGEON_SPAM_BENCH_H

#include <stddef.h>

#include "spam.h"

/* Runs spam_fingerprint and spam_check over `iterations` ordinary chat
 * messages of content_len bytes (below every threshold, so every rule runs
 * to the end) and returns the mean nanoseconds per message, or -1.0 when
 * iterations or content_len is 0 or memory runs out.  Borrows f. */
double spam_bench_ns_per_message(const spam_filter *f, size_t content_len, unsigned iterations);

#endif
