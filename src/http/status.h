/* SPDX-License-Identifier: MIT */
/*
 * The HTTP status the bridge answers for each pigeon_status: the one table
 * of that mapping (docs/http.md lists it).  Pure.
 */
#ifndef PIGEON_HTTP_STATUS_H
#define PIGEON_HTTP_STATUS_H

#include <pigeon/wire.h>

/* OK 200, NOT_FOUND 404, INVALID_ARGUMENT 422, UNAVAILABLE 503, ...; 500
 * for a number that is no code. */
int http_status_from(pigeon_status st);

#endif
