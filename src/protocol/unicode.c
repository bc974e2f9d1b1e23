/* SPDX-License-Identifier: MIT */
/* The shared spoof checker and ICU's error codes; see unicode.h. */
#include "unicode.h"

#include <pthread.h>
#include <stddef.h>

static pthread_once_t spoof_once = PTHREAD_ONCE_INIT;
static USpoofChecker *spoof;
static UErrorCode spoof_err = U_ZERO_ERROR;

static void
spoof_open(void)
{
	spoof = uspoof_open(&spoof_err);
	if (U_FAILURE(spoof_err))
		spoof = NULL;
}

pigeon_status
unicode_spoof_checker(const USpoofChecker **out)
{
	if (pthread_once(&spoof_once, spoof_open) != 0)
		return PIGEON_INTERNAL;
	if (spoof == NULL)
		return status_from_icu(spoof_err);
	*out = spoof;
	return PIGEON_OK;
}

pigeon_status
status_from_icu(UErrorCode e)
{
	if (U_SUCCESS(e))
		return PIGEON_OK;
	if (e == U_MEMORY_ALLOCATION_ERROR || e == U_BUFFER_OVERFLOW_ERROR)
		return PIGEON_RESOURCE_EXHAUSTED;
	return PIGEON_INTERNAL;
}
