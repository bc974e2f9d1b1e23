/* SPDX-License-Identifier: MIT */
/* The route table and its lookup; see routes.h. */
#include "routes.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define GET_HEAD (HTTP_METHOD_GET | HTTP_METHOD_HEAD)

/* Indexed by id.  /inbound-messages also answers POST because the original
 * README's curl command for it passes -d '{}', which makes curl send POST. */
static const http_route route_table[HTTP_ROUTE_COUNT] = {
	[HTTP_ROUTE_LOGIN] = {HTTP_ROUTE_LOGIN, "/login", HTTP_METHOD_POST},
	[HTTP_ROUTE_LOGOUT] = {HTTP_ROUTE_LOGOUT, "/logout", HTTP_METHOD_POST},
	[HTTP_ROUTE_MESSAGE] = {HTTP_ROUTE_MESSAGE, "/message", HTTP_METHOD_POST},
	[HTTP_ROUTE_USER_STATS] = {HTTP_ROUTE_USER_STATS, "/user-stats", GET_HEAD},
	[HTTP_ROUTE_INBOUND_MESSAGES] = {HTTP_ROUTE_INBOUND_MESSAGES, "/inbound-messages",
	    GET_HEAD | HTTP_METHOD_POST},
	[HTTP_ROUTE_SPAMMER_STATS] = {HTTP_ROUTE_SPAMMER_STATS, "/spammer-stats", GET_HEAD},
	[HTTP_ROUTE_CHATTER_STATS] = {HTTP_ROUTE_CHATTER_STATS, "/chatter-stats", GET_HEAD},
	[HTTP_ROUTE_ONLINE_USERS] = {HTTP_ROUTE_ONLINE_USERS, "/online-users", GET_HEAD},
	[HTTP_ROUTE_EVENT_JOURNAL] = {HTTP_ROUTE_EVENT_JOURNAL, "/event-journal", GET_HEAD},
	[HTTP_ROUTE_USERS] = {HTTP_ROUTE_USERS, "/users", HTTP_METHOD_POST},
	[HTTP_ROUTE_REVOKE_SESSIONS] = {HTTP_ROUTE_REVOKE_SESSIONS, "/revoke-sessions",
	    HTTP_METHOD_POST},
	[HTTP_ROUTE_HEARTBEAT] = {HTTP_ROUTE_HEARTBEAT, "/heartbeat", HTTP_METHOD_POST},
	/* The label of its requests in logs and metrics is this path, the
	 * parameter unexpanded: one series for every user. */
	[HTTP_ROUTE_USER] = {HTTP_ROUTE_USER, "/users/{username}", GET_HEAD,
	    sizeof("/users/") - 1},
	[HTTP_ROUTE_READ] = {HTTP_ROUTE_READ, "/read", HTTP_METHOD_POST},
	[HTTP_ROUTE_REPORT] = {HTTP_ROUTE_REPORT, "/report", HTTP_METHOD_POST},
	[HTTP_ROUTE_HEALTHZ] = {HTTP_ROUTE_HEALTHZ, "/healthz", GET_HEAD},
	[HTTP_ROUTE_METRICS] = {HTTP_ROUTE_METRICS, "/metrics", GET_HEAD},
	[HTTP_ROUTE_OPENAPI] = {HTTP_ROUTE_OPENAPI, "/openapi.json", GET_HEAD},
	/* A stream: no HEAD, which would open one with no body to send. */
	[HTTP_ROUTE_EVENTS] = {HTTP_ROUTE_EVENTS, "/events", HTTP_METHOD_GET},
};

unsigned
http_method_bit(const char *method)
{
	if (strcmp(method, "GET") == 0)
		return HTTP_METHOD_GET;
	if (strcmp(method, "HEAD") == 0)
		return HTTP_METHOD_HEAD;
	if (strcmp(method, "POST") == 0)
		return HTTP_METHOD_POST;
	return 0;
}

/* Whether path (len bytes) is r's: the same string (an exact path is
 * compared up to a decoded NUL, as it always was), or for a route with a
 * parameter its prefix and a value of at least one byte, NULs counted so
 * that the value's validation sees them. */
static bool
route_matches(const http_route *r, const char *path, size_t len)
{
	if (r->param_at == 0)
		return strcmp(r->path, path) == 0;
	return len > r->param_at && memcmp(r->path, path, r->param_at) == 0;
}

http_match
http_route_find(const char *method, const char *path, size_t len, const http_route **out)
{
	for (size_t i = 0; i < HTTP_ROUTE_COUNT; i++) {
		const http_route *r = &route_table[i];

		if (!route_matches(r, path, len))
			continue;
		*out = r;
		return (r->methods & http_method_bit(method)) != 0 ? HTTP_MATCH_OK
								   : HTTP_MATCH_NO_METHOD;
	}
	return HTTP_MATCH_NO_PATH;
}

const http_route *
http_route_get(http_route_id id)
{
	return (unsigned)id < HTTP_ROUTE_COUNT ? &route_table[id] : NULL;
}

const char *
http_route_label(http_route_id id)
{
	return (unsigned)id < HTTP_ROUTE_COUNT ? route_table[id].path : "unmatched";
}

void
http_route_allow(const http_route *r, char *buf, size_t cap)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{HTTP_METHOD_GET, "GET"},
		{HTTP_METHOD_HEAD, "HEAD"},
		{HTTP_METHOD_POST, "POST"},
	};
	size_t n = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int w;

		if ((r->methods & names[i].bit) == 0)
			continue;
		w = snprintf(buf + n, cap - n, "%s%s", n > 0 ? ", " : "", names[i].name);
		if (w < 0 || (size_t)w >= cap - n)
			return;
		n += (size_t)w;
	}
}
