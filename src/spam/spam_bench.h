/* SPDX-License-Identifier: MIT */
/*
 * Micro-benchmarks of the filter for the project's benchmark tool: what the
 * worker pays per message (fingerprint plus check), and a verdict of the
 * learning filter alone.  Not used by the server.
 */
#ifndef PIGEON_SPAM_BENCH_H
#define PIGEON_SPAM_BENCH_H

#include <stddef.h>

#include "spam.h"

/* The tokens of spam_bench_bayes_model's model. */
#define SPAM_BENCH_BAYES_TOKENS 50000

/* Runs spam_fingerprint and spam_check over `iterations` ordinary chat
 * messages of content_len bytes (below every threshold, so every rule runs
 * to the end) and returns the mean nanoseconds per message, or -1.0 when
 * iterations or content_len is 0 or memory runs out.  Borrows f. */
double spam_bench_ns_per_message(const spam_filter *f, size_t content_len, unsigned iterations);

/* Runs spam_bayes_classify alone over `iterations` messages of content_len
 * bytes of the same chat text against a model of SPAM_BENCH_BAYES_TOKENS
 * tokens learned from 1000 spam and 1000 ham messages, in which every token
 * of the text is known and most are significant, so each verdict combines
 * them all.  Returns the mean nanoseconds per verdict, or -1.0 when
 * iterations or content_len is 0 or memory runs out. */
double spam_bench_bayes_ns_per_verdict(size_t content_len, unsigned iterations);

#endif
