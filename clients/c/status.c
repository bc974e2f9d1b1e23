/* SPDX-License-Identifier: MIT */
/*
 * The one table of status codes: each code's gRPC name and the HTTP status
 * the bridge answers for it.  Everything that names or maps a status reads
 * this table; tests/unit/test_status.c walks all of it.
 */
#include <string.h>

#include <pigeon/pigeon.h>

static const struct {
	const char *name;
	int http;
} status_table[PIGEON_STATUS_COUNT] = {
	[PIGEON_OK] = {"OK", 200},
	[PIGEON_CANCELLED] = {"CANCELLED", 499},
	[PIGEON_UNKNOWN] = {"UNKNOWN", 500},
	/* The original app answered 422 for every invalid body field. */
	[PIGEON_INVALID_ARGUMENT] = {"INVALID_ARGUMENT", 422},
	[PIGEON_DEADLINE_EXCEEDED] = {"DEADLINE_EXCEEDED", 504},
	[PIGEON_NOT_FOUND] = {"NOT_FOUND", 404},
	/* The original's 418 for logging in a user already online. */
	[PIGEON_ALREADY_EXISTS] = {"ALREADY_EXISTS", 418},
	[PIGEON_PERMISSION_DENIED] = {"PERMISSION_DENIED", 403},
	[PIGEON_RESOURCE_EXHAUSTED] = {"RESOURCE_EXHAUSTED", 429},
	/* The original's 418 for logging out a user who is not online. */
	[PIGEON_FAILED_PRECONDITION] = {"FAILED_PRECONDITION", 418},
	[PIGEON_ABORTED] = {"ABORTED", 409},
	[PIGEON_OUT_OF_RANGE] = {"OUT_OF_RANGE", 400},
	[PIGEON_UNIMPLEMENTED] = {"UNIMPLEMENTED", 501},
	[PIGEON_INTERNAL] = {"INTERNAL", 500},
	[PIGEON_UNAVAILABLE] = {"UNAVAILABLE", 503},
	[PIGEON_DATA_LOSS] = {"DATA_LOSS", 500},
	[PIGEON_UNAUTHENTICATED] = {"UNAUTHENTICATED", 401},
};

static bool
status_valid(pigeon_status st)
{
	return (unsigned)st < PIGEON_STATUS_COUNT;
}

const char *
pigeon_status_name(pigeon_status st)
{
	return status_valid(st) ? status_table[st].name : "UNKNOWN";
}

bool
pigeon_status_from_name(const char *name, pigeon_status *out)
{
	for (int i = 0; i < PIGEON_STATUS_COUNT; i++) {
		if (strcmp(status_table[i].name, name) == 0) {
			*out = (pigeon_status)i;
			return true;
		}
	}
	return false;
}

int
pigeon_status_http(pigeon_status st)
{
	return status_valid(st) ? status_table[st].http : 500;
}
