/* SPDX-License-Identifier: MIT */
/*
 * The HTTP bridge's route table: which method and path is which route.  Pure:
 * no sockets, no state.  Adding a route is one enum value and one table row;
 * what a route does lives in api.c, and how a request is served (suspended
 * for an RPC, answered at once, or streamed) in server.c.
 */
#ifndef PIGEON_HTTP_ROUTES_H
#define PIGEON_HTTP_ROUTES_H

#include <stddef.h>

typedef enum http_route_id {
	HTTP_ROUTE_LOGIN,
	HTTP_ROUTE_LOGOUT,
	HTTP_ROUTE_MESSAGE,
	HTTP_ROUTE_USER_STATS,
	HTTP_ROUTE_INBOUND_MESSAGES,
	HTTP_ROUTE_SPAMMER_STATS,
	HTTP_ROUTE_CHATTER_STATS,
	HTTP_ROUTE_ONLINE_USERS,
	HTTP_ROUTE_EVENT_JOURNAL,
	HTTP_ROUTE_USERS,
	HTTP_ROUTE_REVOKE_SESSIONS,
	HTTP_ROUTE_HEARTBEAT,
	HTTP_ROUTE_USER,
	HTTP_ROUTE_READ,
	HTTP_ROUTE_REPORT,
	HTTP_ROUTE_HEALTHZ,
	HTTP_ROUTE_METRICS,
	HTTP_ROUTE_OPENAPI,
	HTTP_ROUTE_EVENTS,
	HTTP_ROUTE_COUNT,
	/* Not a row of the table: the label of requests that matched none. */
	HTTP_ROUTE_UNMATCHED = HTTP_ROUTE_COUNT,
} http_route_id;

/* Number of route labels, for arrays indexed by http_route_id. */
#define HTTP_ROUTE_LABELS (HTTP_ROUTE_COUNT + 1)

/* Method bits. */
#define HTTP_METHOD_GET 0x1u
#define HTTP_METHOD_HEAD 0x2u
#define HTTP_METHOD_POST 0x4u

typedef struct http_route {
	http_route_id id;
	/* The exact path, "/login"; or, for a route with a parameter, a prefix
	 * and the parameter's name in braces, "/users/{username}", which
	 * matches the prefix followed by at least one byte (any bytes, '/'
	 * included: a username may hold one). */
	const char *path;
	/* The methods it answers, HTTP_METHOD_* bits. */
	unsigned methods;
	/* The length of the prefix before the parameter; 0 for an exact path. */
	size_t param_at;
} http_route;

typedef enum http_match {
	HTTP_MATCH_OK,
	/* No route has this path: 404. */
	HTTP_MATCH_NO_PATH,
	/* The path exists but not with this method: 405 with an Allow header. */
	HTTP_MATCH_NO_METHOD,
} http_match;

/* The bit of a method name ("GET"), or 0 for a method no route answers. */
unsigned http_method_bit(const char *method);

/* Finds the route of method and path (a decoded path of len bytes, no query
 * string; it may hold a decoded NUL).  On HTTP_MATCH_OK and
 * HTTP_MATCH_NO_METHOD, *out is the path's route.  An exact path is
 * compared up to a NUL; a parameter's value is the len - param_at bytes
 * after its prefix, NULs included, for the caller to validate.  Borrows both
 * strings; *out points into a static table. */
http_match http_route_find(
    const char *method, const char *path, size_t len, const http_route **out);

/* The route with this id; NULL for HTTP_ROUTE_UNMATCHED or out of range. */
const http_route *http_route_get(http_route_id id);

/* The route's label for logs and metrics: its path, or "unmatched". */
const char *http_route_label(http_route_id id);

/* Writes the value of an Allow header for the route ("GET, HEAD") into buf
 * (cap bytes, NUL-terminated, truncated if short). */
void http_route_allow(const http_route *r, char *buf, size_t cap);

#endif
