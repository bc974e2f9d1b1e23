/* SPDX-License-Identifier: MIT */
/* Request-target parsing; see uri.h. */
#include "uri.h"

#include <stdlib.h>
#include <string.h>

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
http_uri_decode(const char *src, size_t len, bool plus_is_space, char *dst, size_t *out_len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (src[i] == '%') {
			int hi, lo;

			if (len - i < 3)
				return false;
			hi = hex_value(src[i + 1]);
			lo = hex_value(src[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			dst[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (src[i] == '+' && plus_is_space) {
			dst[n++] = ' ';
		} else {
			dst[n++] = src[i];
		}
	}
	dst[n] = '\0';
	*out_len = n;
	return true;
}

void
http_uri_split(const char *target, size_t *path_len, const char **query)
{
	const char *q = strchr(target, '?');

	*path_len = q != NULL ? (size_t)(q - target) : strlen(target);
	*query = q != NULL ? q + 1 : NULL;
}

/* Whether the encoded name raw[0..len) decodes to key.  A name with a
 * malformed escape matches nothing. */
static bool
name_matches(const char *raw, size_t len, const char *key)
{
	char small[64];
	size_t n;

	if (len >= sizeof(small))
		return false;
	if (!http_uri_decode(raw, len, true, small, &n))
		return false;
	return n == strlen(key) && memcmp(small, key, n) == 0;
}

http_query_result
http_query_get(const char *query, const char *key, char **value, size_t *len)
{
	const char *p = query;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '&');
		size_t plen = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', plen);
		size_t nlen = eq != NULL ? (size_t)(eq - p) : plen;

		if (name_matches(p, nlen, key)) {
			const char *v = eq != NULL ? eq + 1 : p + plen;
			size_t vlen = (size_t)(p + plen - v);
			char *buf = malloc(vlen + 1);

			if (buf == NULL)
				return HTTP_QUERY_NOMEM;
			if (!http_uri_decode(v, vlen, true, buf, len)) {
				free(buf);
				return HTTP_QUERY_MALFORMED;
			}
			*value = buf;
			return HTTP_QUERY_FOUND;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return HTTP_QUERY_ABSENT;
}
