/* SPDX-License-Identifier: MIT */
/* Doubling reconnect delays; see backoff.h. */
#include "backoff.h"

#include <assert.h>

void
backoff_init(backoff *b, int64_t min_ms, int64_t max_ms)
{
	assert(min_ms > 0 && min_ms <= max_ms);
	b->min_ms = min_ms;
	b->max_ms = max_ms;
	b->next_ms = min_ms;
}

int64_t
backoff_next(backoff *b)
{
	int64_t d = b->next_ms;

	b->next_ms = d > b->max_ms / 2 ? b->max_ms : d * 2;
	return d;
}

void
backoff_reset(backoff *b)
{
	b->next_ms = b->min_ms;
}
