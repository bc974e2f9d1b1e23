/* SPDX-License-Identifier: MIT */
/*
 * Clocks.  The wall clock is for times that cross processes (request
 * deadlines, event times, what Redis stores); the monotonic clock is for
 * everything measured or waited for inside one process, so that a wall-clock
 * jump can neither stretch nor cut a wait.
 */
#ifndef PIGEON_BASE_CLOCKS_H
#define PIGEON_BASE_CLOCKS_H

#include <stdint.h>

/* Milliseconds since the Unix epoch. */
int64_t clocks_wall_ms(void);
/* Monotonic microseconds and milliseconds, from an arbitrary origin. */
int64_t clocks_mono_us(void);
int64_t clocks_mono_ms(void);

#endif
