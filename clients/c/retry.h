/* SPDX-License-Identifier: MIT */
/*
 * libpigeon's retry policy (pigeon_retry_policy in <pigeon/pigeon.h>) as pure
 * functions: which outcome of an attempt is retried, and how long to wait
 * before each retry (gRPC's exponential backoff with full jitter).  No clock
 * and no randomness of their own: the caller passes the times and a random
 * number, so that tests can check every bound exactly.  The calls themselves
 * are client.c's.
 */
#ifndef PIGEON_CLIENT_RETRY_H
#define PIGEON_CLIENT_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include <pigeon/pigeon.h>

/* Copies *in to *out, zero backoff fields replaced by their defaults, and
 * max_attempts 0 by 1.  INVALID_ARGUMENT for a negative backoff, max below
 * initial, or a multiplier below 1 or not a number; *out is then unchanged. */
pigeon_status retry_policy_normalize(const pigeon_retry_policy *in, pigeon_retry_policy *out);

/* The longest wait before retry n (1 is the first retry), ms:
 * min(initial_backoff_ms * multiplier^(n - 1), max_backoff_ms).  p is
 * normalised; n >= 1. */
int64_t retry_backoff_bound_ms(const pigeon_retry_policy *p, uint32_t n);

/* The wait before retry n, drawn with `random` (64 uniform bits): uniform in
 * [0, retry_backoff_bound_ms(p, n)], "full jitter", so that clients that
 * failed together do not come back together. */
int64_t retry_backoff_ms(const pigeon_retry_policy *p, uint32_t n, uint64_t random);

/* Whether a call whose attempts so far (>= 1) ended, the last with st, makes
 * another after waiting delay_ms: only after UNAVAILABLE, while fewer than
 * max_attempts were made, and only if that attempt starts before the call's
 * end (now_ms + delay_ms < end_ms, on one clock). */
bool retry_allowed(const pigeon_retry_policy *p, pigeon_status st, uint32_t attempts,
    int64_t now_ms, int64_t delay_ms, int64_t end_ms);

/* Added to a counter before each retry_mix64 (splitmix64's step). */
#define RETRY_MIX_GAMMA 0x9e3779b97f4a7c15ULL

/* splitmix64's output function: 64 well-mixed bits from a counter that
 * advances by RETRY_MIX_GAMMA, cheap enough for every retry. */
uint64_t retry_mix64(uint64_t x);

#endif
