/* SPDX-License-Identifier: MIT */
/*
 * The ICU objects the process shares: one UTS #39 spoof checker, for the
 * confusable skeletons of usernames (validate.c) and of spam text
 * (src/spam/text.c), and ICU's error codes as statuses.  It owns the checker,
 * opened on first use and never closed (ICU's data stays loaded anyway:
 * valgrind counts both as still reachable); what is done with skeletons is
 * its callers'.  Thread-safe.
 */
#ifndef PIGEON_PROTOCOL_UNICODE_H
#define PIGEON_PROTOCOL_UNICODE_H

#include <unicode/uspoof.h>
#include <unicode/utypes.h>

#include <pigeon/wire.h>

/* Sets *out to the process's spoof checker with ICU's default settings.
 * Callers only read it: uspoof.h documents functions that take a const
 * checker (uspoof_getSkeleton among them) as safe from any number of threads
 * at once.  INTERNAL when ICU's data cannot be loaded, RESOURCE_EXHAUSTED
 * without memory; the first call's answer is every later call's. */
pigeon_status unicode_spoof_checker(const USpoofChecker **out);

/* An ICU error code (U_ZERO_ERROR and warnings are OK) to a status: memory
 * and buffer overflows RESOURCE_EXHAUSTED, anything else INTERNAL. */
pigeon_status status_from_icu(UErrorCode e);

#endif
