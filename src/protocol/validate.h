/* SPDX-License-Identifier: MIT */
/*
 * Input rules that libpigeon, the bridge and the server must agree on: valid
 * UTF-8 and acceptable usernames.  Pure and thread-safe.
 */
#ifndef PIGEON_PROTOCOL_VALIDATE_H
#define PIGEON_PROTOCOL_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define PIGEON_USERNAME_MAX 64

/* The default limit on a message's content, bytes: pigeond's, and
 * pigeon-http's, so that both refuse the same messages. */
#define PIGEON_CONTENT_MAX_DEFAULT 65536

/* How content over the limit is refused, followed by " of N bytes": pigeond's
 * RESOURCE_EXHAUSTED message, and pigeon-http's 413, which it also answers
 * to a RESOURCE_EXHAUSTED from SendMessage that starts with it. */
#define PIGEON_CONTENT_TOO_LARGE "content is larger than the limit"

/* True when buf[0..len) is valid UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF).  NUL bytes count as valid here; callers that forbid them
 * check separately. */
bool validate_utf8(const char *buf, size_t len);

/* Why a username is not acceptable, or NULL when it is: 1 to 64 bytes of
 * valid UTF-8 without control characters (C0, DEL, C1) or white space. */
const char *validate_username(const char *name, size_t len);

#endif
