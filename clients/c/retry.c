/* SPDX-License-Identifier: MIT */
/* The retry policy's arithmetic; see retry.h. */
#include "retry.h"

/* multiplier^n by squaring: at most 64 products whatever n is, where a loop
 * multiplying n times could run for billions of retries with a multiplier
 * of 1 (or just above it). */
static double
power(double x, uint32_t n)
{
	double r = 1.0;

	for (; n > 0; n >>= 1) {
		if (n & 1)
			r *= x;
		x *= x;
	}
	return r;
}

pigeon_status
retry_policy_normalize(const pigeon_retry_policy *in, pigeon_retry_policy *out)
{
	pigeon_retry_policy p = *in;

	if (p.max_attempts == 0)
		p.max_attempts = 1;
	if (p.initial_backoff_ms == 0)
		p.initial_backoff_ms = PIGEON_DEFAULT_RETRY_INITIAL_BACKOFF_MS;
	if (p.max_backoff_ms == 0)
		p.max_backoff_ms = p.initial_backoff_ms > PIGEON_DEFAULT_RETRY_MAX_BACKOFF_MS
				       ? p.initial_backoff_ms
				       : PIGEON_DEFAULT_RETRY_MAX_BACKOFF_MS;
	if (p.multiplier == 0)
		p.multiplier = PIGEON_DEFAULT_RETRY_MULTIPLIER;
	/* "!(>= 1)" and not "< 1", so that NaN is refused too. */
	if (p.initial_backoff_ms < 0 || p.max_backoff_ms < p.initial_backoff_ms ||
	    !(p.multiplier >= 1.0))
		return PIGEON_INVALID_ARGUMENT;
	*out = p;
	return PIGEON_OK;
}

int64_t
retry_backoff_bound_ms(const pigeon_retry_policy *p, uint32_t n)
{
	/* Infinity (a huge n) compares above the cap like any large value. */
	double b = p->initial_backoff_ms * power(p->multiplier, n > 0 ? n - 1 : 0);

	return b < p->max_backoff_ms ? (int64_t)b : p->max_backoff_ms;
}

int64_t
retry_backoff_ms(const pigeon_retry_policy *p, uint32_t n, uint64_t random)
{
	uint64_t bound = (uint64_t)retry_backoff_bound_ms(p, n);

	/* The modulo's bias is below 2^-32 for any bound an int32_t holds. */
	return (int64_t)(random % (bound + 1));
}

bool
retry_allowed(const pigeon_retry_policy *p, pigeon_status st, uint32_t attempts,
    int64_t now_ms, int64_t delay_ms, int64_t end_ms)
{
	return st == PIGEON_UNAVAILABLE && attempts < p->max_attempts &&
	       now_ms + delay_ms < end_ms;
}

uint64_t
retry_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}
