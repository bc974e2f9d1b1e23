/* SPDX-License-Identifier: MIT */
/*
 * Request targets: splitting "path?query", percent-decoding, and looking up
 * query parameters ("a=1&b=x%20y").  Pure.  libmicrohttpd decodes these too,
 * but silently: the bridge needs to tell a malformed escape or an escaped NUL
 * from a good value, so it works on the raw target.
 */
#ifndef PIGEON_HTTP_URI_H
#define PIGEON_HTTP_URI_H

#include <stdbool.h>
#include <stddef.h>

/* Percent-decodes src[0..len) into dst, which has room for len + 1 bytes;
 * with plus_is_space, '+' becomes ' ' (query strings, as HTML forms encode
 * them).  Writes the decoded length to *out_len and a NUL after it.  Returns
 * false for a '%' not followed by two hex digits.  Decoded bytes may include
 * NUL; callers validate the result. */
bool http_uri_decode(const char *src, size_t len, bool plus_is_space, char *dst, size_t *out_len);

/* Splits a request target: *path_len is the length of the path (up to '?'
 * or the end), *query the text after '?' or NULL when there is none.
 * Borrows target; *query points into it. */
void http_uri_split(const char *target, size_t *path_len, const char **query);

typedef enum http_query_result {
	HTTP_QUERY_FOUND,
	HTTP_QUERY_ABSENT,
	/* The parameter's value has a malformed escape. */
	HTTP_QUERY_MALFORMED,
	/* Out of memory. */
	HTTP_QUERY_NOMEM,
} http_query_result;

/* Looks up the first parameter named key (compared after decoding) in query
 * (NULL: no query).  On HTTP_QUERY_FOUND, *value is its decoded value (a
 * NUL-terminated copy the caller frees) and *len its length, which counts any
 * decoded NUL bytes.  Borrows query and key. */
http_query_result http_query_get(const char *query, const char *key, char **value, size_t *len);

#endif
