/* SPDX-License-Identifier: MIT */
/*
 * Waiting on a condition until a deadline.  Every condition variable that is
 * waited on with a timeout is made with wait_cond_init, so its deadlines are
 * on the monotonic clock (clocks_mono_ms); a wall-clock jump cannot stretch
 * or cut a wait.
 */
#ifndef PIGEON_BASE_WAIT_H
#define PIGEON_BASE_WAIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Initialises cv for timed waits on the monotonic clock.  Returns 0 or an
 * errno value (cv then needs no destroy). */
int wait_cond_init(pthread_cond_t *cv);

/* Waits on cv (initialised by wait_cond_init) with mu held, until it is
 * signalled or the monotonic time deadline_ms (clocks_mono_ms) has passed.
 * Returns false once the deadline has passed, true otherwise; like any
 * condition wait it may return true spuriously, so callers loop on their
 * predicate:
 *
 *	while (!done && wait_until(&cv, &mu, deadline))
 *		;
 */
bool wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms);

#endif
