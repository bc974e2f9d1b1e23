/* SPDX-License-Identifier: MIT */
/*
 * Session tokens: issuing one at login and verifying one on every request.
 * A token is "p1." base64url(payload) "." base64url(HMAC-SHA256 of what
 * precedes the second dot), the payload four lines: username, session id,
 * expiry and token generation; docs/auth.md gives the format byte by byte.
 * This module checks the tag, the format and the expiry, and nothing else:
 * whether the user's generation or the session was revoked is kept in Redis
 * and checked by the caller.  The keys belong to keys.h.  Thread-safe: a
 * key set may be shared by any number of threads.
 */
#ifndef PIGEON_AUTH_TOKEN_H
#define PIGEON_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

#include "keys.h"
#include "validate.h"

/* A session id: 16 random bytes, written as 32 lower-case hex digits. */
#define AUTH_SESSION_BYTES 16
#define AUTH_SESSION_HEX (2 * AUTH_SESSION_BYTES)

/* What starts every token of this format. */
#define AUTH_TOKEN_PREFIX "p1."

/* The longest payload: a username, a session id, the largest int64_t (19
 * digits) and uint64_t (20 digits), and three line feeds. */
#define AUTH_PAYLOAD_MAX (PIGEON_USERNAME_MAX + 1 + AUTH_SESSION_HEX + 1 + 19 + 1 + 20)

/* The length of n bytes in base64url without padding. */
#define AUTH_B64_LEN(n) ((n) / 3 * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1))

/* The longest token, bytes, without a terminating NUL: a buffer of
 * AUTH_TOKEN_MAX + 1 bytes holds any token auth_token_issue() writes. */
#define AUTH_TOKEN_MAX                                                                             \
	(sizeof(AUTH_TOKEN_PREFIX) - 1 + AUTH_B64_LEN(AUTH_PAYLOAD_MAX) + 1 +                      \
	 AUTH_B64_LEN(AUTH_MAC_BYTES))

/* What a token says. */
typedef struct auth_claims {
	/* Passes validate_username(). */
	char username[PIGEON_USERNAME_MAX + 1];
	/* AUTH_SESSION_HEX lower-case hex digits. */
	char session[AUTH_SESSION_HEX + 1];
	/* The token is valid while the wall clock (Unix ms) is below this. */
	int64_t expires_ms;
	/* The user's token generation when the token was issued. */
	uint64_t generation;
} auth_claims;

/* Makes a token for a new session of `username` (NUL-terminated) with a
 * fresh random session id, signed with the current key, and writes it to
 * token[0..cap) with a NUL and its claims to *out.  Borrows every argument.
 * INVALID_ARGUMENT for a username validate_username() refuses or a negative
 * expires_ms; RESOURCE_EXHAUSTED when cap is too small (AUTH_TOKEN_MAX + 1
 * never is). */
pigeon_status auth_token_issue(const auth_keys *k, const char *username, uint64_t generation,
                               int64_t expires_ms, auth_claims *out, char *token, size_t cap);

/* Checks token[0..len) (no NUL needed) and on success writes its claims to
 * *out.  Checks, in this order: the length, the prefix, the two dots, the
 * tag's encoding, the tag under the current key and then the previous one
 * (comparisons in constant time), and only then the payload's encoding and
 * fields and the expiry against now_ms (Unix ms).  Returns OK or, for any
 * failure, UNAUTHENTICATED; callers answer every failure alike.  When why
 * is not NULL, *why is set to a short static reason for logs and tests
 * ("expired", "bad signature", ...) or to NULL on success; it never holds
 * any byte of the token.  Borrows every argument. */
pigeon_status auth_token_verify(const auth_keys *k, const char *token, size_t len, int64_t now_ms,
                                auth_claims *out, const char **why);

/* Signs payload[0..len) as given, without checking it, with the current key
 * and writes the token to token[0..cap) with a NUL.  auth_token_issue() uses
 * it once the payload is written; tests and the fuzz target use it to make
 * well-signed tokens with wrong payloads.  RESOURCE_EXHAUSTED when cap is
 * too small. */
pigeon_status auth_token_sign(const auth_keys *k, const void *payload, size_t len, char *token,
                              size_t cap);

#endif
