/* SPDX-License-Identifier: MIT */
/*
 * The one table mapping status codes to HTTP; tests/unit/test_status.c walks
 * all of it.
 */
#include "status.h"

static const int http_table[PIGEON_STATUS_COUNT] = {
	[PIGEON_OK] = 200,
	[PIGEON_CANCELLED] = 499,
	[PIGEON_UNKNOWN] = 500,
	/* The original app answered 422 for every invalid body field. */
	[PIGEON_INVALID_ARGUMENT] = 422,
	[PIGEON_DEADLINE_EXCEEDED] = 504,
	[PIGEON_NOT_FOUND] = 404,
	/* The original's 418 for logging in a user already online. */
	[PIGEON_ALREADY_EXISTS] = 418,
	[PIGEON_PERMISSION_DENIED] = 403,
	[PIGEON_RESOURCE_EXHAUSTED] = 429,
	/* The original's 418 for logging out a user who is not online. */
	[PIGEON_FAILED_PRECONDITION] = 418,
	[PIGEON_ABORTED] = 409,
	[PIGEON_OUT_OF_RANGE] = 400,
	[PIGEON_UNIMPLEMENTED] = 501,
	[PIGEON_INTERNAL] = 500,
	[PIGEON_UNAVAILABLE] = 503,
	[PIGEON_DATA_LOSS] = 500,
	[PIGEON_UNAUTHENTICATED] = 401,
};

int
http_status_from(pigeon_status st)
{
	return (unsigned)st < PIGEON_STATUS_COUNT ? http_table[st] : 500;
}
