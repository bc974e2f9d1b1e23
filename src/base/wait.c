/* SPDX-License-Identifier: MIT */
/* Condition waits with monotonic deadlines; see wait.h. */
#include "wait.h"

#include <errno.h>
#include <time.h>

#include "clocks.h"

int
wait_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rv;

	if ((rv = pthread_condattr_init(&ca)) != 0)
		return rv;
	if ((rv = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0)
		rv = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return rv;
}

bool
wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms)
{
	struct timespec ts;

	if (clocks_mono_ms() >= deadline_ms)
		return false;
	ts.tv_sec = deadline_ms / 1000;
	ts.tv_nsec = (deadline_ms % 1000) * 1000000;
	return pthread_cond_timedwait(cv, mu, &ts) != ETIMEDOUT;
}
