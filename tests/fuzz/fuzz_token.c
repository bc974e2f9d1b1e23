/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: session tokens as pigeond will get them from a client.  The
 * first byte chooses: even, the rest is a token for auth_token_verify under
 * a fixed current and previous key; odd, the rest is a payload, signed with
 * the current key (auth_token_sign) and then verified, which reaches the
 * payload's parser (a token with a forged tag stops before it).  Aborts when
 * verification accepts a token that is not, byte for byte, the token its
 * claims sign to under one of the two keys (every claim has one text), or
 * returns claims that break their contract.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The corpus's tokens expire after this (2026-01-01T00:00:00Z) or before. */
#define F_NOW_MS INT64_C(1767225600000)

/* Both keys, and each alone as the current key, to sign claims again. */
static auth_keys *f_both, *f_current, *f_previous;

static void
f_keys(void)
{
	uint8_t cur[32], prev[40];

	/* The current key is 00 01 .. 1f, the unit test's; the previous key
	 * 40 bytes of 0x70. */
	for (size_t i = 0; i < sizeof(cur); i++)
		cur[i] = (uint8_t)i;
	memset(prev, 0x70, sizeof(prev));
	if (auth_keys_new(&f_both, cur, sizeof(cur), prev, sizeof(prev)) != PIGEON_OK ||
	    auth_keys_new(&f_current, cur, sizeof(cur), NULL, 0) != PIGEON_OK ||
	    auth_keys_new(&f_previous, prev, sizeof(prev), NULL, 0) != PIGEON_OK)
		abort();
}

static void
f_check(const char *token, size_t len)
{
	char payload[AUTH_PAYLOAD_MAX + 1], again[AUTH_TOKEN_MAX + 1];
	auth_claims c;
	const char *why = NULL;
	validate_why vw;
	size_t ulen;
	int n;

	if (auth_token_verify(f_both, token, len, F_NOW_MS, &c, &why) != PIGEON_OK) {
		if (why == NULL)
			abort();
		return;
	}
	if (why != NULL || len > AUTH_TOKEN_MAX)
		abort();
	ulen = strnlen(c.username, sizeof(c.username));
	if (ulen == sizeof(c.username) || validate_username(c.username, ulen, &vw) != NULL)
		abort();
	if (strlen(c.session) != AUTH_SESSION_HEX ||
	    strspn(c.session, "0123456789abcdef") != AUTH_SESSION_HEX)
		abort();
	if (c.expires_ms <= F_NOW_MS)
		abort();
	n = snprintf(payload, sizeof(payload), "%s\n%s\n%" PRId64 "\n%" PRIu64, c.username,
	             c.session, c.expires_ms, c.generation);
	if (n <= 0 || (size_t)n > AUTH_PAYLOAD_MAX)
		abort();
	if (auth_token_sign(f_current, payload, (size_t)n, again, sizeof(again)) != PIGEON_OK)
		abort();
	if (strlen(again) == len && memcmp(again, token, len) == 0)
		return;
	if (auth_token_sign(f_previous, payload, (size_t)n, again, sizeof(again)) != PIGEON_OK)
		abort();
	if (strlen(again) != len || memcmp(again, token, len) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *token;
	size_t cap;

	if (f_both == NULL)
		f_keys();
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		f_check((const char *)data + 1, size - 1);
		return 0;
	}
	/* An exact-size copy of the token, so ASan sees reads past its end. */
	cap = sizeof(AUTH_TOKEN_PREFIX) + AUTH_B64_LEN(size - 1) + 1 + AUTH_B64_LEN(AUTH_MAC_BYTES);
	if ((token = malloc(cap)) == NULL)
		return 0;
	if (auth_token_sign(f_current, data + 1, size - 1, token, cap) != PIGEON_OK)
		abort();
	f_check(token, strlen(token));
	free(token);
	return 0;
}
