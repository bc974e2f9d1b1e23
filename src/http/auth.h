/* SPDX-License-Identifier: MIT */
/*
 * The bridge's part of --auth (docs/http.md, "Authentication"): the mode, and
 * reading the session token of an `Authorization: Bearer` header.  The
 * bridge holds no key and verifies no token: it forwards each one as its
 * call's envelope token, and pigeond decides who the caller is and what they
 * may do.  What the bridge refuses itself is a header that cannot hold a
 * token at all, so that such a request costs no RPC.  Pure.
 */
#ifndef PIGEON_HTTP_AUTH_H
#define PIGEON_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef enum http_auth_mode {
	/* The original contract: no credentials, the Authorization header is
	 * not read. */
	HTTP_AUTH_OPEN,
	/* Bearer tokens forwarded to pigeond, POST /login answers a token. */
	HTTP_AUTH_REQUIRED,
} http_auth_mode;

/* pigeond's answer to every token that does not verify; the bridge gives the
 * same for a stream asked for without a token. */
#define HTTP_AUTH_BAD_TOKEN "missing, invalid, expired or revoked session token"

/* The bridge's answer to an Authorization header that is not a Bearer
 * token. */
#define HTTP_AUTH_MALFORMED "Authorization must be Bearer and a session token"

/* Reads "open" or "required" into *out; false for anything else. */
bool http_auth_mode_parse(const char *name, http_auth_mode *out);

/* Reads the token of an Authorization header's value: the scheme "Bearer"
 * (any case), one or more spaces, and 1 to PIGEON_TOKEN_MAX bytes of the
 * alphabet of Pigeon's tokens (A-Z, a-z, 0-9, '-', '_', '.'), then nothing
 * but spaces.  Returns true with *token (pointing into header) and *len, or
 * false for anything else.  Borrows header. */
bool http_auth_bearer(const char *header, const char **token, size_t *len);

#endif
