/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server of pigeon-http: a libmicrohttpd daemon (internal epoll
 * threads, a pool of them), its limits, and the life of one request: matched
 * to a route, its body read up to a cap, the connection suspended while its
 * RPC to pigeond is in flight and resumed from the RPC's completion, the
 * answer queued, one access-log line and the metrics at the end.  What each
 * route does is api.c's; the server only carries requests and answers.
 * GET /events is answered with a stream from events.c, which ends when its
 * client leaves or the server stops; in required mode the stream opens only
 * after two RPCs with the caller's token have said what it may carry, made
 * one after the other while the connection stays suspended.
 *
 * libmicrohttpd 0.9.75 has two traps this module is built around: a response
 * queued on the first call of the access handler always closes its
 * connection, so answers are queued on a later call; and suspended
 * connections never time out and must all be resumed before the daemon
 * stops, so every RPC has a deadline and http_server_stop resumes them.
 */
#ifndef PIGEON_HTTP_SERVER_H
#define PIGEON_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <pigeon/pigeon.h>

#include "auth.h"
#include "metrics.h"

typedef struct http_server http_server;

typedef struct http_server_opts {
	/* "host:port" or "[v6]:port", numeric; port 0 picks a free one. */
	const char *listen;
	/* Deadline of each RPC to pigeond, ms. */
	int32_t deadline_ms;
	/* Largest request body, bytes; larger ones get 413 unread. */
	size_t body_max;
	/* Largest message content forwarded, bytes; larger: 413.  0:
	 * PIGEON_CONTENT_MAX_DEFAULT. */
	size_t content_max;
	/* Polling threads; 0: one per core. */
	unsigned threads;
	/* Connections at once, in total and from one IP address. */
	unsigned conn_limit;
	unsigned per_ip_limit;
	/* Seconds an idle connection is kept. */
	unsigned conn_timeout_s;
	/* Memory per connection for the request line, headers and buffers,
	 * bytes: a longer URI gets 414, longer headers 431 (or a close). */
	size_t conn_memory;
	/* pigeond's pub address for /events; NULL: PIGEON_DEFAULT_PUB_URL. */
	const char *pub_url;
	/* /events streams open at once; more get 503. */
	unsigned events_max;
	/* Period of a stream's keep-alive comment, ms. */
	int events_keepalive_ms;
	/* --auth: in required mode each request's Bearer token is its call's
	 * envelope token, and every 401 carries WWW-Authenticate (docs/http.md). */
	http_auth_mode auth;
} http_server_opts;

/* Starts serving on opts->listen.  Borrows opts (copied), client and
 * metrics, which must outlive the server.  INVALID_ARGUMENT: a malformed
 * listen address or pub_url; UNAVAILABLE: the address cannot be bound;
 * RESOURCE_EXHAUSTED without memory. */
pigeon_status http_server_start(
    http_server **out, const http_server_opts *opts, pigeon_client *client, http_metrics *m);

/* The port the server listens on. */
uint16_t http_server_port(const http_server *s);

/* Stops accepting, answers 503 to every request waiting for pigeond, ends
 * every /events stream and closes its subscription, and stops the daemon.  RPCs may still be in flight: close the client next to
 * cancel them, then free the server.  Accepts NULL and a stopped server. */
void http_server_stop(http_server *s);

/* Stops the server if running, waits (at most the RPC deadline) for the RPCs
 * still in flight to complete, and frees it.  Accepts NULL. */
void http_server_free(http_server *s);

#endif
