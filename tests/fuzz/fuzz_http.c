/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: what pigeon-http parses from a client before any RPC.  The
 * first byte chooses: a JSON request body (http_json_parse_object, then the
 * string members the routes read), or a request target (http_uri_split,
 * http_query_get for the parameters the routes read, http_uri_decode of the
 * path).  The rest is the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
f_json(const char *buf, size_t len)
{
	static const char *const keys[] = {"username", "sender", "recipient", "message", "content",
	    "role", NULL};
	char err[256];
	json_t *obj = http_json_parse_object(buf, len, err, sizeof(err));

	if (obj == NULL)
		return;
	if (!json_is_object(obj))
		abort();
	for (const char *const *k = keys; *k != NULL; k++) {
		const char *val;
		size_t vlen;

		if (http_json_string(obj, *k, &val, &vlen) == HTTP_FIELD_OK &&
		    (vlen == 0 || memchr(val, '\0', vlen) != NULL))
			abort();
	}
	json_decref(obj);
}

static void
f_target(const char *buf)
{
	static const char *const keys[] = {"username", "page_size", "cursor", "limit", "after",
	    NULL};
	size_t path_len, dlen;
	const char *query;
	char *dst;

	http_uri_split(buf, &path_len, &query);
	if (path_len > strlen(buf))
		abort();
	for (const char *const *k = keys; *k != NULL; k++) {
		char *val;
		size_t vlen;

		if (http_query_get(query, *k, &val, &vlen) == HTTP_QUERY_FOUND) {
			if (val[vlen] != '\0')
				abort();
			free(val);
		}
	}
	if ((dst = malloc(path_len + 1)) == NULL)
		return;
	if (http_uri_decode(buf, path_len, false, dst, &dlen) && (dlen > path_len || dst[dlen] != '\0'))
		abort();
	free(dst);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;

	if (size == 0)
		return 0;
	/* A copy that ends exactly at the input, NUL-terminated for the target
	 * (libmicrohttpd hands over NUL-terminated targets). */
	if ((buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	if (data[0] & 1)
		f_json(buf, size - 1);
	else
		f_target(buf);
	free(buf);
	return 0;
}
