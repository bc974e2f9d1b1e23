/* SPDX-License-Identifier: MIT */
/*
 * The bridge's own figures for /metrics: requests by route and status, a
 * latency histogram per route, RPC failures by status, requests in flight;
 * rendered in the Prometheus text format together with pigeond's queue
 * figures from a Health reply.  Counters are atomics: every function is safe
 * from any thread.
 */
#ifndef PIGEON_HTTP_METRICS_H
#define PIGEON_HTTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <pigeon/pigeon.h>

#include "routes.h"

typedef struct http_metrics http_metrics;

/* RESOURCE_EXHAUSTED without memory. */
pigeon_status http_metrics_new(http_metrics **out);
/* Accepts NULL. */
void http_metrics_free(http_metrics *m);

/* A request began: one more in flight. */
void http_metrics_request_begin(http_metrics *m);
/* A request ended after `us` microseconds with HTTP status `status` (0 when
 * the connection closed without an answer, which is not counted by status). */
void http_metrics_request_end(http_metrics *m, http_route_id route, int status, int64_t us);
/* Requests begun and not yet ended. */
long http_metrics_in_flight(const http_metrics *m);
/* A /events stream opened or closed: the open streams gauge. */
void http_metrics_stream_open(http_metrics *m);
void http_metrics_stream_close(http_metrics *m);

/* An RPC to pigeond failed with st (not OK). */
void http_metrics_rpc_failure(http_metrics *m, pigeon_status st);

/* The Prometheus text exposition of every figure, plus pigeond's from health
 * (NULL when Health failed: pigeon_pigeond_up is then 0).  Returns a malloc'd
 * NUL-terminated text and its length, or NULL without memory. */
char *http_metrics_render(const http_metrics *m, const Pigeon__V1__HealthReply *health,
    size_t *len);

#endif
