/* SPDX-License-Identifier: MIT */
/* Session tokens and their keys: the format against an independent
 * computation, every kind of damage refused with UNAUTHENTICATED, rotation
 * with the previous key, and key files. */
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "keys.h"
#include "token.h"

#define NOW_MS INT64_C(1767225600000)   /* 2026-01-01T00:00:00Z */
#define LATER_MS INT64_C(1767229200000) /* an hour later */

static auth_keys *
t_keys(uint8_t fill, const uint8_t *previous_fill)
{
	uint8_t cur[AUTH_KEY_MIN], prev[AUTH_KEY_MIN];
	auth_keys *k = NULL;

	memset(cur, fill, sizeof(cur));
	if (previous_fill != NULL)
		memset(prev, *previous_fill, sizeof(prev));
	assert_int_equal(auth_keys_new(&k, cur, sizeof(cur), previous_fill ? prev : NULL,
	                               previous_fill ? sizeof(prev) : 0),
	                 PIGEON_OK);
	return k;
}

static void
t_issue(const auth_keys *k, char *token, auth_claims *c)
{
	assert_int_equal(auth_token_issue(k, "alice", 7, LATER_MS, c, token, AUTH_TOKEN_MAX + 1),
	                 PIGEON_OK);
}

/* Verifies and checks the answer is UNAUTHENTICATED for `why`, with *out
 * untouched. */
static void
t_refused(const auth_keys *k, const char *token, size_t len, const char *why)
{
	auth_claims c, before;
	const char *got = "unset";

	memset(&c, 0x5a, sizeof(c));
	before = c;
	assert_int_equal(auth_token_verify(k, token, len, NOW_MS, &c, &got),
	                 PIGEON_UNAUTHENTICATED);
	assert_non_null(got);
	if (why != NULL)
		assert_string_equal(got, why);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void
t_sign(const auth_keys *k, const char *payload, char *token)
{
	assert_int_equal(auth_token_sign(k, payload, strlen(payload), token, 1024), PIGEON_OK);
}

/* The key 00 01 .. 1f, and a token for FIXED_PAYLOAD under it computed with
 * another HMAC-SHA256 and base64url implementation. */
#define FIXED_PAYLOAD "alice\n00112233445566778899aabbccddeeff\n4102444800000\n10"
#define FIXED_TOKEN                                                                                \
	"p1.YWxpY2UKMDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmYKNDEwMjQ0NDgwMDAwMAoxMA."           \
	"wjUSa-pWwCZ4UrQq5Yu-7u7TNROln6q3bURbJ5FC_ZA"

static auth_keys *
t_fixed_keys(void)
{
	uint8_t key[32];
	auth_keys *k = NULL;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	assert_int_equal(auth_keys_new(&k, key, sizeof(key), NULL, 0), PIGEON_OK);
	return k;
}

static void
test_token_matches_an_independent_hmac(void **state)
{
	auth_keys *k = t_fixed_keys();
	char token[AUTH_TOKEN_MAX + 1];
	auth_claims c;
	const char *why = "unset";

	assert_int_equal(
	    auth_token_sign(k, FIXED_PAYLOAD, strlen(FIXED_PAYLOAD), token, sizeof(token)),
	    PIGEON_OK);
	assert_string_equal(token, FIXED_TOKEN);
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &c, &why), PIGEON_OK);
	assert_null(why);
	assert_string_equal(c.username, "alice");
	assert_string_equal(c.session, "00112233445566778899aabbccddeeff");
	assert_int_equal(c.expires_ms, INT64_C(4102444800000));
	assert_int_equal(c.generation, 10);
	auth_keys_free(k);
}

static void
test_hmac_uses_the_whole_long_key(void **state)
{
	/* RFC 4231 test case 6: a 131-byte key, hashed first by HMAC itself. */
	static const char data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char want[] =
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
	uint8_t key[131], mac[AUTH_MAC_BYTES];
	char hex[2 * AUTH_MAC_BYTES + 1];
	auth_keys *k;

	memset(key, 0xaa, sizeof(key));
	assert_int_equal(auth_keys_new(&k, key, sizeof(key), NULL, 0), PIGEON_OK);
	auth_keys_sign(k, data, strlen(data), mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	assert_string_equal(hex, want);
	assert_int_equal(auth_keys_verify(k, mac, data, strlen(data)), AUTH_KEY_CURRENT);
	mac[31] ^= 1;
	assert_int_equal(auth_keys_verify(k, mac, data, strlen(data)), AUTH_KEY_NONE);
	auth_keys_free(k);
}

static void
test_hmac_of_a_32_byte_key_is_libsodiums(void **state)
{
	uint8_t key[crypto_auth_hmacsha256_KEYBYTES], mac[AUTH_MAC_BYTES];
	static const char data[] = "p1.payload";
	auth_keys *k;

	assert_true(sodium_init() >= 0);
	randombytes_buf(key, sizeof(key));
	assert_int_equal(auth_keys_new(&k, key, sizeof(key), NULL, 0), PIGEON_OK);
	auth_keys_sign(k, data, strlen(data), mac);
	assert_int_equal(
	    crypto_auth_hmacsha256_verify(mac, (const uint8_t *)data, strlen(data), key), 0);
	auth_keys_free(k);
}

static void
test_issue_then_verify_gives_the_claims(void **state)
{
	auth_keys *k = t_keys(1, NULL);
	char token[AUTH_TOKEN_MAX + 1];
	auth_claims issued, got;
	const char *why = "unset";

	assert_int_equal(
	    auth_token_issue(k, "Ünïcode-Ålice", 42, LATER_MS, &issued, token, sizeof(token)),
	    PIGEON_OK);
	assert_string_equal(issued.username, "Ünïcode-Ålice");
	assert_int_equal(strlen(issued.session), AUTH_SESSION_HEX);
	assert_int_equal(strspn(issued.session, "0123456789abcdef"), AUTH_SESSION_HEX);
	assert_int_equal(issued.expires_ms, LATER_MS);
	assert_int_equal(issued.generation, 42);
	assert_memory_equal(token, AUTH_TOKEN_PREFIX, 3);

	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &got, &why), PIGEON_OK);
	assert_null(why);
	assert_string_equal(got.username, issued.username);
	assert_string_equal(got.session, issued.session);
	assert_int_equal(got.expires_ms, LATER_MS);
	assert_int_equal(got.generation, 42);
	/* why is optional. */
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &got, NULL), PIGEON_OK);
	auth_keys_free(k);
}

static void
test_each_issue_is_a_new_session(void **state)
{
	auth_keys *k = t_keys(1, NULL);
	char a[AUTH_TOKEN_MAX + 1], b[AUTH_TOKEN_MAX + 1];
	auth_claims ca, cb;

	t_issue(k, a, &ca);
	t_issue(k, b, &cb);
	assert_string_not_equal(ca.session, cb.session);
	assert_string_not_equal(a, b);
	auth_keys_free(k);
}

static void
test_longest_token_fits_auth_token_max(void **state)
{
	auth_keys *k = t_keys(1, NULL);
	char name[PIGEON_USERNAME_MAX + 1], token[AUTH_TOKEN_MAX + 1];
	auth_claims c;

	assert_int_equal(AUTH_TOKEN_MAX, 231);
	memset(name, 'z', PIGEON_USERNAME_MAX);
	name[PIGEON_USERNAME_MAX] = '\0';
	assert_int_equal(auth_token_issue(k, name, UINT64_MAX, INT64_MAX, &c, token, sizeof(token)),
	                 PIGEON_OK);
	assert_int_equal(strlen(token), AUTH_TOKEN_MAX);
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &c, NULL), PIGEON_OK);
	assert_int_equal(c.generation, UINT64_MAX);
	assert_int_equal(c.expires_ms, INT64_MAX);
	assert_int_equal(
	    auth_token_issue(k, name, UINT64_MAX, INT64_MAX, &c, token, AUTH_TOKEN_MAX),
	    PIGEON_RESOURCE_EXHAUSTED);
	auth_keys_free(k);
}

static void
test_issue_refuses_bad_username_and_negative_expiry(void **state)
{
	static const char *const bad[] = {
	    "", "al ice", "al\nice", "\xff",
	    "a12345678901234567890123456789012345678901234567890123456789012345"};
	auth_keys *k = t_keys(1, NULL);
	char token[AUTH_TOKEN_MAX + 1] = "untouched";
	auth_claims c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(auth_token_issue(k, bad[i], 1, LATER_MS, &c, token, sizeof(token)),
		                 PIGEON_INVALID_ARGUMENT);
	assert_int_equal(auth_token_issue(k, "alice", 1, -1, &c, token, sizeof(token)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_string_equal(token, "untouched");
	auth_keys_free(k);
}

/* Every position of token, every other byte value. */
static void
t_every_byte_refused(const auth_keys *k, const char *token)
{
	char bad[AUTH_TOKEN_MAX + 1];
	size_t len = strlen(token);

	for (size_t i = 0; i < len; i++) {
		for (int v = 0; v < 256; v++) {
			if (v == (unsigned char)token[i])
				continue;
			memcpy(bad, token, len);
			bad[i] = (char)v;
			t_refused(k, bad, len, NULL);
		}
	}
}

static void
test_every_byte_changed_is_unauthenticated(void **state)
{
	auth_keys *k = t_keys(1, NULL), *fixed = t_fixed_keys();
	char token[AUTH_TOKEN_MAX + 1];
	auth_claims c;

	for (int i = 0; i < 4; i++) {
		t_issue(k, token, &c);
		t_every_byte_refused(k, token);
	}
	/* A token with '-' and '_' in its tag, every run. */
	t_every_byte_refused(fixed, FIXED_TOKEN);
	auth_keys_free(k);
	auth_keys_free(fixed);
}

static void
test_high_bytes_are_not_base64(void **state)
{
	/* libsodium 1.0.18 decodes any byte above 0x7f as '_' would be. */
	auth_keys *k = t_fixed_keys();
	const char *underscore = strchr(strrchr(FIXED_TOKEN, '.'), '_');
	char bad[sizeof(FIXED_TOKEN)];

	assert_non_null(underscore);
	for (int v = 0x80; v < 0x100; v++) {
		memcpy(bad, FIXED_TOKEN, sizeof(bad));
		bad[underscore - FIXED_TOKEN] = (char)v;
		t_refused(k, bad, strlen(bad), "bad tag encoding");
	}
	auth_keys_free(k);
}

static void
test_truncated_or_extended_is_unauthenticated(void **state)
{
	auth_keys *k = t_keys(1, NULL);
	char token[AUTH_TOKEN_MAX + 2];
	auth_claims c;
	size_t len;

	t_issue(k, token, &c);
	len = strlen(token);
	for (size_t n = 0; n < len; n++)
		t_refused(k, token, n, NULL);
	/* Dropping bytes from the front, too. */
	for (size_t n = 1; n < len; n++)
		t_refused(k, token + n, len - n, NULL);
	for (int v = 0; v < 256; v++) {
		token[len] = (char)v;
		t_refused(k, token, len + 1, NULL);
	}
	auth_keys_free(k);
}

static void
test_expiry_is_exclusive(void **state)
{
	auth_keys *k = t_keys(1, NULL);
	char token[AUTH_TOKEN_MAX + 1];
	auth_claims c;
	const char *why;

	assert_int_equal(auth_token_issue(k, "alice", 0, NOW_MS + 1, &c, token, sizeof(token)),
	                 PIGEON_OK);
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &c, NULL), PIGEON_OK);
	assert_int_equal(auth_token_issue(k, "alice", 0, NOW_MS, &c, token, sizeof(token)),
	                 PIGEON_OK);
	t_refused(k, token, strlen(token), "expired");
	assert_int_equal(auth_token_issue(k, "alice", 0, NOW_MS - 1, &c, token, sizeof(token)),
	                 PIGEON_OK);
	t_refused(k, token, strlen(token), "expired");
	assert_int_equal(auth_token_issue(k, "alice", 0, 0, &c, token, sizeof(token)), PIGEON_OK);
	assert_int_equal(auth_token_verify(k, token, strlen(token), INT64_MIN, &c, &why),
	                 PIGEON_OK);
	t_refused(k, token, strlen(token), "expired");
	auth_keys_free(k);
}

static void
test_another_key_is_a_bad_signature(void **state)
{
	auth_keys *a = t_keys(1, NULL), *b = t_keys(2, NULL);
	char token[AUTH_TOKEN_MAX + 1];
	auth_claims c;

	t_issue(a, token, &c);
	t_refused(b, token, strlen(token), "bad signature");
	/* A longer key that starts with the same bytes is another key. */
	{
		uint8_t key[AUTH_KEY_MIN + 1];
		auth_keys *longer;

		memset(key, 1, sizeof(key));
		assert_int_equal(auth_keys_new(&longer, key, sizeof(key), NULL, 0), PIGEON_OK);
		t_refused(longer, token, strlen(token), "bad signature");
		auth_keys_free(longer);
	}
	auth_keys_free(a);
	auth_keys_free(b);
}

static void
test_previous_key_verifies_only_when_configured(void **state)
{
	const uint8_t one = 1;
	auth_keys *old = t_keys(1, NULL), *rotated = t_keys(2, &one), *without = t_keys(2, NULL);
	char old_token[AUTH_TOKEN_MAX + 1], new_token[AUTH_TOKEN_MAX + 1];
	auth_claims c, got;

	t_issue(old, old_token, &c);
	assert_int_equal(
	    auth_token_verify(rotated, old_token, strlen(old_token), NOW_MS, &got, NULL),
	    PIGEON_OK);
	assert_string_equal(got.session, c.session);
	t_refused(without, old_token, strlen(old_token), "bad signature");

	/* After rotation the new key signs: the old key set refuses it, the
	 * new one with or without its previous key accepts it. */
	t_issue(rotated, new_token, &c);
	t_refused(old, new_token, strlen(new_token), "bad signature");
	assert_int_equal(
	    auth_token_verify(without, new_token, strlen(new_token), NOW_MS, &got, NULL),
	    PIGEON_OK);
	assert_int_equal(
	    auth_token_verify(rotated, new_token, strlen(new_token), NOW_MS, &got, NULL),
	    PIGEON_OK);
	auth_keys_free(old);
	auth_keys_free(rotated);
	auth_keys_free(without);
}

static void
test_malformed_shapes_are_unauthenticated(void **state)
{
	auth_keys *k = t_keys(1, NULL);
	char token[AUTH_TOKEN_MAX + 1], bad[2 * AUTH_TOKEN_MAX];
	char *huge;
	auth_claims c;
	size_t len, dot;

	t_issue(k, token, &c);
	len = strlen(token);
	dot = (size_t)(strrchr(token, '.') - token);

	t_refused(k, "", 0, "empty");
	t_refused(k, NULL, 0, "empty");
	t_refused(k, "p1.", 3, "no tag");
	t_refused(k, "p1..", 4, "bad tag encoding");
	huge = malloc(1 << 20);
	assert_non_null(huge);
	memset(huge, 'A', 1 << 20);
	memcpy(huge, token, len);
	t_refused(k, huge, 1 << 20, "too long");
	t_refused(k, huge, AUTH_TOKEN_MAX + 1, "too long");
	free(huge);

	/* Prefixes: another version, another case, none. */
	memcpy(bad, token, len);
	bad[1] = '2';
	t_refused(k, bad, len, "not a p1 token");
	bad[1] = '1';
	bad[0] = 'P';
	t_refused(k, bad, len, "not a p1 token");
	t_refused(k, token + 3, len - 3, NULL);

	/* A third dot, anywhere. */
	snprintf(bad, sizeof(bad), "%s.", token);
	t_refused(k, bad, len + 1, "too many dots");
	snprintf(bad, sizeof(bad), "%.*s.%s", (int)dot, token, token + dot);
	t_refused(k, bad, len + 1, "too many dots");
	snprintf(bad, sizeof(bad), "p1..%s", token + 3);
	t_refused(k, bad, len + 1, "too many dots");
	snprintf(bad, sizeof(bad), "%.*s.%s", 10, token, token + 10);
	t_refused(k, bad, len + 1, "too many dots");

	/* The tag padded, or in standard base64. */
	snprintf(bad, sizeof(bad), "%s=", token);
	t_refused(k, bad, len + 1, "bad tag encoding");
	memcpy(bad, token, len);
	for (size_t i = dot + 1; i < len; i++) {
		if (bad[i] == '-')
			bad[i] = '+';
		else if (bad[i] == '_')
			bad[i] = '/';
	}
	if (memcmp(bad, token, len) != 0)
		t_refused(k, bad, len, "bad tag encoding");
	auth_keys_free(k);
}

static void
test_non_canonical_base64_is_unauthenticated(void **state)
{
	/* 43 characters carry a 32-byte tag with 2 bits to spare; 2 payload
	 * bytes past a multiple of 3 leave 2 bits too.  Setting a spare bit
	 * gives text that decoders without the check read as the same bytes. */
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static const char payload[] = "alice\nffffffffffffffffffffffffffffffff\n1767229200000\n123";
	auth_keys *k = t_keys(1, NULL);
	char token[AUTH_TOKEN_MAX + 1], bad[AUTH_TOKEN_MAX + 1], *last;
	uint8_t mac[AUTH_MAC_BYTES];
	size_t len, plen;
	auth_claims c;

	t_issue(k, token, &c);
	len = strlen(token);
	memcpy(bad, token, len + 1);
	last = strchr(alphabet, bad[len - 1]);
	assert_non_null(last);
	bad[len - 1] = alphabet[(last - alphabet) | 1];
	t_refused(k, bad, len, "bad tag encoding");

	/* A payload whose text is non-canonical but correctly signed: the tag
	 * is over the text, so only the decoder can refuse it. */
	assert_int_equal(strlen(payload) % 3, 2);
	t_sign(k, payload, token);
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &c, NULL), PIGEON_OK);
	plen = 3 + AUTH_B64_LEN(strlen(payload));
	memcpy(bad, token, plen);
	last = strchr(alphabet, bad[plen - 1]);
	assert_non_null(last);
	bad[plen - 1] = alphabet[(last - alphabet) | 1];
	auth_keys_sign(k, bad, plen, mac);
	bad[plen] = '.';
	sodium_bin2base64(bad + plen + 1, sizeof(bad) - plen - 1, mac, sizeof(mac),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	t_refused(k, bad, strlen(bad), "bad payload encoding");

	/* The payload text padded, signed as it stands. */
	memcpy(bad, token, plen);
	memcpy(bad + plen, "=", 1);
	auth_keys_sign(k, bad, plen + 1, mac);
	bad[plen + 1] = '.';
	sodium_bin2base64(bad + plen + 2, sizeof(bad) - plen - 2, mac, sizeof(mac),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	t_refused(k, bad, strlen(bad), "bad payload encoding");
	auth_keys_free(k);
}

static void
test_signed_payloads_are_parsed_strictly(void **state)
{
	static const struct {
		const char *payload;
		const char *why;
	} cases[] = {
	    {"", "payload is not four fields"},
	    {"alice", "payload is not four fields"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000",
	     "payload is not four fields"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000\n1\n", "bad generation"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000\n1\n2", "bad generation"},
	    {"\nalice\n00112233445566778899aabbccddeeff\n1767229200000\n1", "bad username"},
	    {"alice\r\n00112233445566778899aabbccddeeff\r\n1767229200000\r\n1", "bad username"},
	    /* Usernames validate_username refuses. */
	    {"\n00112233445566778899aabbccddeeff\n1767229200000\n1", "bad username"},
	    {"al ice\n00112233445566778899aabbccddeeff\n1767229200000\n1", "bad username"},
	    {"al\tice\n00112233445566778899aabbccddeeff\n1767229200000\n1", "bad username"},
	    {"\xc3\n00112233445566778899aabbccddeeff\n1767229200000\n1", "bad username"},
	    {"al\xc2\xa0ice\n00112233445566778899aabbccddeeff\n1767229200000\n1", "bad username"},
	    {"a12345678901234567890123456789012345678901234567890123456789012345"
	     "\n00112233445566778899aabbccddeeff\n1767229200000\n1",
	     "bad username"},
	    /* Session ids: 32 lower-case hex digits exactly. */
	    {"alice\n00112233445566778899AABBCCDDEEFF\n1767229200000\n1", "bad session id"},
	    {"alice\n00112233445566778899aabbccddeef\n1767229200000\n1", "bad session id"},
	    {"alice\n00112233445566778899aabbccddeeff0\n1767229200000\n1", "bad session id"},
	    {"alice\n00112233445566778899aabbccddeefg\n1767229200000\n1", "bad session id"},
	    {"alice\n\n1767229200000\n1", "bad session id"},
	    /* Numbers: digits, no sign, no leading zero, in range. */
	    {"alice\n00112233445566778899aabbccddeeff\n01767229200000\n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n+1767229200000\n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n-1767229200000\n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n 1767229200000\n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000 \n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n0x1767229200000\n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n\n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n9223372036854775808\n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n99999999999999999999\n1", "bad expiry"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000\n01", "bad generation"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000\n00", "bad generation"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000\n", "bad generation"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000\n-1", "bad generation"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000\n18446744073709551616",
	     "bad generation"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767229200000\n184467440737095516150",
	     "bad generation"},
	    /* Expiry is checked last: expired and malformed is malformed. */
	    {"alice\n00112233445566778899aabbccddeeff\n0\n01", "bad generation"},
	    /* Well formed but expired. */
	    {"alice\n00112233445566778899aabbccddeeff\n0\n0", "expired"},
	    {"alice\n00112233445566778899aabbccddeeff\n1767225600000\n0", "expired"},
	};
	static const char nul_user[] = "al\0ce\n00112233445566778899aabbccddeeff\n1767229200000\n1";
	static const char nul_end[] = "alice\n00112233445566778899aabbccddeeff\n1767229200000\n1\0";
	auth_keys *k = t_keys(1, NULL);
	char token[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_sign(k, cases[i].payload, token);
		t_refused(k, token, strlen(token), cases[i].why);
	}
	/* A NUL inside a field or after the last. */
	assert_int_equal(auth_token_sign(k, nul_user, sizeof(nul_user) - 1, token, sizeof(token)),
	                 PIGEON_OK);
	t_refused(k, token, strlen(token), "bad username");
	assert_int_equal(auth_token_sign(k, nul_end, sizeof(nul_end) - 1, token, sizeof(token)),
	                 PIGEON_OK);
	t_refused(k, token, strlen(token), "bad generation");
	auth_keys_free(k);
}

static void
test_signed_payload_edges_are_accepted(void **state)
{
	auth_keys *k = t_keys(1, NULL);
	char token[1024];
	auth_claims c;

	t_sign(k, "a\n00000000000000000000000000000000\n9223372036854775807\n0", token);
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &c, NULL), PIGEON_OK);
	assert_string_equal(c.username, "a");
	assert_string_equal(c.session, "00000000000000000000000000000000");
	assert_int_equal(c.expires_ms, INT64_MAX);
	assert_int_equal(c.generation, 0);
	t_sign(k, "alice\nffffffffffffffffffffffffffffffff\n1767225600001\n18446744073709551615",
	       token);
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &c, NULL), PIGEON_OK);
	assert_int_equal(c.expires_ms, NOW_MS + 1);
	assert_int_equal(c.generation, UINT64_MAX);
	auth_keys_free(k);
}

static void
test_payload_is_not_read_before_the_tag(void **state)
{
	auth_keys *a = t_keys(1, NULL), *b = t_keys(2, NULL);
	char token[1024];

	/* Malformed and expired payloads under another key: the tag is what
	 * fails, so nothing about the payload shows in the reason. */
	t_sign(a, "alice\n00112233445566778899aabbccddeeff\n0\n0", token);
	t_refused(b, token, strlen(token), "bad signature");
	t_sign(a, "\n\n\n", token);
	t_refused(b, token, strlen(token), "bad signature");
	auth_keys_free(a);
	auth_keys_free(b);
}

/* Key files, in a temporary folder of their own that the teardown removes,
 * also after a failure. */

static const char *const t_key_files[] = {"short", "ok", "old", "long", "max", "open"};

static int
t_dir_setup(void **state)
{
	static char dir[256];

	t_tempdir(dir, sizeof(dir), "auth");
	*state = dir;
	return 0;
}

static int
t_dir_teardown(void **state)
{
	const char *dir = *state;
	char path[512];

	for (size_t i = 0; i < sizeof(t_key_files) / sizeof(t_key_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, t_key_files[i]);
		unlink(path);
	}
	return rmdir(dir);
}

/* Writes len bytes of data to dir/name with the given mode; the path to out. */
static void
t_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode, char *out,
       size_t cap)
{
	int fd;

	snprintf(out, cap, "%s/%s", dir, name);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* Runs auth_keys_load with stderr captured into log[0..cap). */
static pigeon_status
t_load_logged(auth_keys **out, const char *path, const char *previous, char *errbuf, size_t errlen,
              char *log, size_t cap)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	pigeon_status rv;
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	rv = auth_keys_load(out, path, previous, errbuf, errlen);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(log, 1, cap - 1, f);
	log[n] = '\0';
	fclose(f);
	return rv;
}

static void
test_key_files(void **state)
{
	/* Text, so that a leak into the log or an error would be seen. */
	static const char secret[] = "correct-horse-battery-staple-0123456789";
	uint8_t big[AUTH_KEY_MAX + 1];
	char short_path[512], ok_path[512], old_path[512], long_path[512], max_path[512],
	    open_path[512], missing[512], err[512], log[2048];
	char token[AUTH_TOKEN_MAX + 1];
	auth_keys *k = NULL, *mem;
	auth_claims c;
	const char *dir = *state;

	memset(big, 7, sizeof(big));
	t_file(dir, "short", secret, AUTH_KEY_MIN - 1, 0600, short_path, sizeof(short_path));
	t_file(dir, "ok", secret, AUTH_KEY_MIN, 0600, ok_path, sizeof(ok_path));
	t_file(dir, "old", secret, sizeof(secret) - 1, 0400, old_path, sizeof(old_path));
	t_file(dir, "long", big, AUTH_KEY_MAX + 1, 0600, long_path, sizeof(long_path));
	t_file(dir, "max", big, AUTH_KEY_MAX, 0600, max_path, sizeof(max_path));
	t_file(dir, "open", secret, sizeof(secret) - 1, 0644, open_path, sizeof(open_path));
	snprintf(missing, sizeof(missing), "%s/missing", dir);

	/* Too short, too long, missing, a directory: refused, and the error
	 * names the file and why. */
	assert_int_equal(t_load_logged(&k, short_path, NULL, err, sizeof(err), log, sizeof(log)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_null(k);
	assert_int_equal(strncmp(err, short_path, strlen(short_path)), 0);
	assert_non_null(strstr(err, "has 31 bytes, a key needs at least 32"));
	assert_string_equal(log, "");
	assert_int_equal(auth_keys_load(&k, long_path, NULL, err, sizeof(err)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_int_equal(strncmp(err, long_path, strlen(long_path)), 0);
	assert_non_null(strstr(err, "longer than 1024 bytes"));
	assert_int_equal(auth_keys_load(&k, missing, NULL, err, sizeof(err)), PIGEON_NOT_FOUND);
	assert_int_equal(strncmp(err, missing, strlen(missing)), 0);
	assert_int_equal(auth_keys_load(&k, dir, NULL, err, sizeof(err)), PIGEON_INVALID_ARGUMENT);
	assert_non_null(strstr(err, "not a regular file"));
	assert_null(k);
	assert_null(strstr(err, "correct-horse"));

	/* 32 and 1024 bytes are keys; the whole file is the key. */
	assert_int_equal(auth_keys_load(&k, max_path, NULL, err, sizeof(err)), PIGEON_OK);
	auth_keys_free(k);
	assert_int_equal(t_load_logged(&k, ok_path, "", err, sizeof(err), log, sizeof(log)),
	                 PIGEON_OK);
	assert_string_equal(log, "");
	assert_int_equal(auth_keys_new(&mem, (const uint8_t *)secret, AUTH_KEY_MIN, NULL, 0),
	                 PIGEON_OK);
	t_issue(mem, token, &c);
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &c, NULL), PIGEON_OK);
	auth_keys_free(mem);
	auth_keys_free(k);

	/* A previous key from its file verifies; the previous file missing
	 * is an error about that file. */
	assert_int_equal(auth_keys_new(&mem, (const uint8_t *)secret, sizeof(secret) - 1, NULL, 0),
	                 PIGEON_OK);
	t_issue(mem, token, &c);
	auth_keys_free(mem);
	assert_int_equal(auth_keys_load(&k, max_path, old_path, err, sizeof(err)), PIGEON_OK);
	assert_int_equal(auth_token_verify(k, token, strlen(token), NOW_MS, &c, NULL), PIGEON_OK);
	auth_keys_free(k);
	k = NULL;
	assert_int_equal(auth_keys_load(&k, max_path, NULL, err, sizeof(err)), PIGEON_OK);
	t_refused(k, token, strlen(token), "bad signature");
	auth_keys_free(k);
	k = NULL;
	assert_int_equal(auth_keys_load(&k, max_path, missing, err, sizeof(err)), PIGEON_NOT_FOUND);
	assert_null(k);
	assert_int_equal(strncmp(err, missing, strlen(missing)), 0);
	assert_int_equal(auth_keys_load(&k, max_path, short_path, err, sizeof(err)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_int_equal(strncmp(err, short_path, strlen(short_path)), 0);
	assert_null(k);

	/* A file others can read loads, with a warning that names the file
	 * and its mode and nothing of the key. */
	assert_int_equal(t_load_logged(&k, open_path, NULL, err, sizeof(err), log, sizeof(log)),
	                 PIGEON_OK);
	assert_non_null(strstr(log, "warn auth: "));
	assert_non_null(strstr(log, open_path));
	assert_non_null(strstr(log, "mode=644"));
	assert_null(strstr(log, "correct-horse"));
	auth_keys_free(k);
}

static void
test_key_lengths_in_memory(void **state)
{
	uint8_t key[AUTH_KEY_MAX + 1];
	auth_keys *k = NULL;

	memset(key, 3, sizeof(key));
	assert_int_equal(auth_keys_new(&k, key, AUTH_KEY_MIN - 1, NULL, 0),
	                 PIGEON_INVALID_ARGUMENT);
	assert_int_equal(auth_keys_new(&k, key, AUTH_KEY_MAX + 1, NULL, 0),
	                 PIGEON_INVALID_ARGUMENT);
	assert_int_equal(auth_keys_new(&k, key, AUTH_KEY_MIN, key, AUTH_KEY_MIN - 1),
	                 PIGEON_INVALID_ARGUMENT);
	assert_null(k);
	assert_int_equal(auth_keys_new(&k, key, AUTH_KEY_MAX, key, AUTH_KEY_MIN), PIGEON_OK);
	auth_keys_free(k);
	auth_keys_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_matches_an_independent_hmac),
	    cmocka_unit_test(test_hmac_uses_the_whole_long_key),
	    cmocka_unit_test(test_hmac_of_a_32_byte_key_is_libsodiums),
	    cmocka_unit_test(test_issue_then_verify_gives_the_claims),
	    cmocka_unit_test(test_each_issue_is_a_new_session),
	    cmocka_unit_test(test_longest_token_fits_auth_token_max),
	    cmocka_unit_test(test_issue_refuses_bad_username_and_negative_expiry),
	    cmocka_unit_test(test_every_byte_changed_is_unauthenticated),
	    cmocka_unit_test(test_high_bytes_are_not_base64),
	    cmocka_unit_test(test_truncated_or_extended_is_unauthenticated),
	    cmocka_unit_test(test_expiry_is_exclusive),
	    cmocka_unit_test(test_another_key_is_a_bad_signature),
	    cmocka_unit_test(test_previous_key_verifies_only_when_configured),
	    cmocka_unit_test(test_malformed_shapes_are_unauthenticated),
	    cmocka_unit_test(test_non_canonical_base64_is_unauthenticated),
	    cmocka_unit_test(test_signed_payloads_are_parsed_strictly),
	    cmocka_unit_test(test_signed_payload_edges_are_accepted),
	    cmocka_unit_test(test_payload_is_not_read_before_the_tag),
	    cmocka_unit_test_setup_teardown(test_key_files, t_dir_setup, t_dir_teardown),
	    cmocka_unit_test(test_key_lengths_in_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
