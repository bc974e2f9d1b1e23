/* SPDX-License-Identifier: MIT */
/*
 * Foreign error codes converted to pigeon_status, once, at the boundary, by
 * table: timeouts DEADLINE_EXCEEDED; refused, reset and closed UNAVAILABLE;
 * memory and size limits RESOURCE_EXHAUSTED; bad addresses INVALID_ARGUMENT.
 * Pure; used by libpigeon and the server alike.
 */
#ifndef PIGEON_PROTOCOL_ERRORS_H
#define PIGEON_PROTOCOL_ERRORS_H

#include <pigeon/wire.h>

/* nng error number (0 for success) to status. */
pigeon_status status_from_nng(int nng_err);
/* errno value (0 for success) to status. */
pigeon_status status_from_errno(int err);

#endif
