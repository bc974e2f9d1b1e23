/* SPDX-License-Identifier: MIT */
/* Session tokens: the format, issuing and verification; see token.h. */
#include "token.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define TOKEN_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define PREFIX_LEN (sizeof(AUTH_TOKEN_PREFIX) - 1)
#define MAC_B64_LEN AUTH_B64_LEN(AUTH_MAC_BYTES)

pigeon_status
auth_token_sign(const auth_keys *k, const void *payload, size_t len, char *token, size_t cap)
{
	uint8_t mac[AUTH_MAC_BYTES];
	size_t signed_len;

	if (len > SIZE_MAX / 2 || cap < PREFIX_LEN + AUTH_B64_LEN(len) + 1 + MAC_B64_LEN + 1)
		return PIGEON_RESOURCE_EXHAUSTED;
	memcpy(token, AUTH_TOKEN_PREFIX, PREFIX_LEN);
	sodium_bin2base64(token + PREFIX_LEN, AUTH_B64_LEN(len) + 1, payload, len, TOKEN_B64);
	signed_len = PREFIX_LEN + AUTH_B64_LEN(len);
	auth_keys_sign(k, token, signed_len, mac);
	token[signed_len] = '.';
	sodium_bin2base64(token + signed_len + 1, MAC_B64_LEN + 1, mac, sizeof(mac), TOKEN_B64);
	return PIGEON_OK;
}

pigeon_status
auth_token_issue(const auth_keys *k, const char *username, uint64_t generation, int64_t expires_ms,
                 auth_claims *out, char *token, size_t cap)
{
	uint8_t id[AUTH_SESSION_BYTES];
	char payload[AUTH_PAYLOAD_MAX + 1];
	size_t ulen = strnlen(username, PIGEON_USERNAME_MAX + 1);
	auth_claims c;
	validate_why why;
	pigeon_status rv;
	int n;

	if (validate_username(username, ulen, &why) != NULL || expires_ms < 0)
		return PIGEON_INVALID_ARGUMENT;
	memcpy(c.username, username, ulen);
	c.username[ulen] = '\0';
	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(c.session, sizeof(c.session), id, sizeof(id));
	c.expires_ms = expires_ms;
	c.generation = generation;
	n = snprintf(payload, sizeof(payload), "%s\n%s\n%" PRId64 "\n%" PRIu64, c.username,
	             c.session, c.expires_ms, c.generation);
	assert(n > 0 && (size_t)n <= AUTH_PAYLOAD_MAX);
	if ((rv = auth_token_sign(k, payload, (size_t)n, token, cap)) != PIGEON_OK)
		return rv;
	*out = c;
	return PIGEON_OK;
}

/* Decodes base64url without padding, strictly: only the 64 characters of the
 * alphabet and no unused bit set, so that each byte string has one text.
 * sodium_base642bin checks the unused bits but, in libsodium 1.0.18, reads
 * every byte above 0x7f as the digit 63 ('_'): those are refused here first.
 * The unit test that changes every byte of a token found it. */
static bool
b64_decode(uint8_t *out, size_t cap, const char *s, size_t len, size_t *out_len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return sodium_base642bin(out, cap, s, len, NULL, out_len, NULL, TOKEN_B64) == 0;
}

/* Takes the next field of the payload: up to the next line feed, or for the
 * last field up to the end.  False when a line feed is missing. */
static bool
next_field(const char **s, const char *end, bool last, const char **field, size_t *len)
{
	const char *nl = last ? end : memchr(*s, '\n', (size_t)(end - *s));

	if (nl == NULL)
		return false;
	*field = *s;
	*len = (size_t)(nl - *s);
	*s = last ? end : nl + 1;
	return true;
}

/* Decimal digits only, no sign, no leading zero, at most max: the one way
 * issue writes a number, so each value has exactly one token text. */
static bool
parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool
is_session_hex(const char *s, size_t len)
{
	if (len != AUTH_SESSION_HEX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* The payload's four fields into *c; the reason on failure. */
static const char *
payload_parse(const char *p, size_t len, auth_claims *c)
{
	const char *s = p, *end = p + len, *user, *session, *expires, *generation;
	validate_why why;
	size_t user_len, session_len, expires_len, generation_len;
	uint64_t v;

	if (!next_field(&s, end, false, &user, &user_len) ||
	    !next_field(&s, end, false, &session, &session_len) ||
	    !next_field(&s, end, false, &expires, &expires_len) ||
	    !next_field(&s, end, true, &generation, &generation_len))
		return "payload is not four fields";
	if (validate_username(user, user_len, &why) != NULL)
		return "bad username";
	if (!is_session_hex(session, session_len))
		return "bad session id";
	if (!parse_decimal(expires, expires_len, INT64_MAX, &v))
		return "bad expiry";
	c->expires_ms = (int64_t)v;
	if (!parse_decimal(generation, generation_len, UINT64_MAX, &c->generation))
		return "bad generation";
	memcpy(c->username, user, user_len);
	c->username[user_len] = '\0';
	memcpy(c->session, session, session_len);
	c->session[session_len] = '\0';
	return NULL;
}

/* Everything auth_token_verify checks, in its order; the reason on failure.
 * Until the tag has been checked nothing is read but the token's shape and
 * the tag's own encoding. */
static const char *
token_check(const auth_keys *k, const char *token, size_t len, int64_t now_ms, auth_claims *c)
{
	uint8_t mac[AUTH_MAC_BYTES];
	char payload[AUTH_PAYLOAD_MAX];
	size_t signed_len, mac_len, payload_len;
	const char *dot, *reason;

	if (token == NULL || len == 0)
		return "empty";
	if (len > AUTH_TOKEN_MAX)
		return "too long";
	if (len < PREFIX_LEN || memcmp(token, AUTH_TOKEN_PREFIX, PREFIX_LEN) != 0)
		return "not a p1 token";
	/* base64url has no '.': the tag follows the one dot after the prefix. */
	if ((dot = memchr(token + PREFIX_LEN, '.', len - PREFIX_LEN)) == NULL)
		return "no tag";
	signed_len = (size_t)(dot - token);
	if (memchr(dot + 1, '.', len - signed_len - 1) != NULL)
		return "too many dots";
	if (len - signed_len - 1 != MAC_B64_LEN ||
	    !b64_decode(mac, sizeof(mac), dot + 1, MAC_B64_LEN, &mac_len) || mac_len != sizeof(mac))
		return "bad tag encoding";
	if (auth_keys_verify(k, mac, token, signed_len) == AUTH_KEY_NONE)
		return "bad signature";
	if (!b64_decode((uint8_t *)payload, sizeof(payload), token + PREFIX_LEN,
	                signed_len - PREFIX_LEN, &payload_len))
		return "bad payload encoding";
	if ((reason = payload_parse(payload, payload_len, c)) != NULL)
		return reason;
	if (now_ms >= c->expires_ms)
		return "expired";
	return NULL;
}

pigeon_status
auth_token_verify(const auth_keys *k, const char *token, size_t len, int64_t now_ms,
                  auth_claims *out, const char **why)
{
	auth_claims c;
	const char *reason = token_check(k, token, len, now_ms, &c);

	if (why != NULL)
		*why = reason;
	if (reason != NULL)
		return PIGEON_UNAUTHENTICATED;
	*out = c;
	return PIGEON_OK;
}
