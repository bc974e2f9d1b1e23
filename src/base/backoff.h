/* SPDX-License-Identifier: MIT */
/*
 * Reconnect backoff: the delay starts at a minimum and doubles after each
 * failure up to a maximum, and goes back to the minimum after a success.
 * Every loop that retries a connection (Redis, pub/sub) uses one.  Not
 * thread-safe: one per retrying loop.
 */
#ifndef PIGEON_BASE_BACKOFF_H
#define PIGEON_BASE_BACKOFF_H

#include <stdint.h>

typedef struct backoff {
	int64_t min_ms;
	int64_t max_ms;
	int64_t next_ms;
} backoff;

/* Starts at min_ms; 0 < min_ms <= max_ms. */
void backoff_init(backoff *b, int64_t min_ms, int64_t max_ms);

/* The delay to wait before the next attempt; doubles the one after it, up to
 * max_ms. */
int64_t backoff_next(backoff *b);

/* After a success: the next delay is min_ms again. */
void backoff_reset(backoff *b);

#endif
