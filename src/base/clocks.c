/* SPDX-License-Identifier: MIT */
/* Wall and monotonic clocks; see clocks.h. */
#include "clocks.h"

#include <time.h>

static int64_t
clocks_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clocks_wall_ms(void)
{
	return clocks_us(CLOCK_REALTIME) / 1000;
}

int64_t
clocks_mono_us(void)
{
	return clocks_us(CLOCK_MONOTONIC);
}

int64_t
clocks_mono_ms(void)
{
	return clocks_us(CLOCK_MONOTONIC) / 1000;
}
