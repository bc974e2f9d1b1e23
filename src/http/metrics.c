/* SPDX-License-Identifier: MIT */
/* Request and RPC counters and their Prometheus rendering; see metrics.h. */
#include "metrics.h"

#include "prom.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MIN 100
#define STATUS_MAX 599
#define STATUS_SLOTS (STATUS_MAX - STATUS_MIN + 1)

struct http_metrics {
	atomic_uint_fast64_t requests[HTTP_ROUTE_LABELS][STATUS_SLOTS];
	prom_hist latency[HTTP_ROUTE_LABELS];
	atomic_uint_fast64_t rpc_failures[PIGEON_STATUS_COUNT];
	atomic_long in_flight;
	atomic_long streams;
};

pigeon_status
http_metrics_new(http_metrics **out)
{
	http_metrics *m;

	/* calloc's zero bytes are valid zero atomics on every platform we build. */
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	*out = m;
	return PIGEON_OK;
}

void
http_metrics_free(http_metrics *m)
{
	free(m);
}

void
http_metrics_request_begin(http_metrics *m)
{
	atomic_fetch_add_explicit(&m->in_flight, 1, memory_order_relaxed);
}

void
http_metrics_request_end(http_metrics *m, http_route_id route, int status, int64_t us)
{
	atomic_fetch_sub_explicit(&m->in_flight, 1, memory_order_relaxed);
	if ((unsigned)route >= HTTP_ROUTE_LABELS || status < STATUS_MIN || status > STATUS_MAX)
		return;
	prom_add(&m->requests[route][status - STATUS_MIN], 1);
	prom_hist_observe(&m->latency[route], us);
}

long
http_metrics_in_flight(const http_metrics *m)
{
	return atomic_load_explicit(&m->in_flight, memory_order_relaxed);
}

void
http_metrics_stream_open(http_metrics *m)
{
	atomic_fetch_add_explicit(&m->streams, 1, memory_order_relaxed);
}

void
http_metrics_stream_close(http_metrics *m)
{
	atomic_fetch_sub_explicit(&m->streams, 1, memory_order_relaxed);
}

void
http_metrics_rpc_failure(http_metrics *m, pigeon_status st)
{
	if ((unsigned)st < PIGEON_STATUS_COUNT)
		atomic_fetch_add_explicit(&m->rpc_failures[st], 1, memory_order_relaxed);
}

static void
render_requests(const http_metrics *m, prom_text *t)
{
	prom_printf(t, "# HELP pigeon_http_requests_total HTTP requests answered, by route "
		       "and status.\n# TYPE pigeon_http_requests_total counter\n");
	for (int r = 0; r < HTTP_ROUTE_LABELS; r++) {
		for (int s = 0; s < STATUS_SLOTS; s++) {
			uint64_t n = prom_load(&m->requests[r][s]);

			if (n > 0)
				prom_printf(t,
				    "pigeon_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				    http_route_label((http_route_id)r), s + STATUS_MIN,
				    (unsigned long long)n);
		}
	}
}

static void
render_latency(const http_metrics *m, prom_text *t)
{
	char labels[64];

	prom_family(t, "pigeon_http_request_duration_seconds", "histogram",
	    "Time from request line to the end of the answer, by route.");
	for (int r = 0; r < HTTP_ROUTE_LABELS; r++) {
		snprintf(labels, sizeof(labels), "route=\"%s\"", http_route_label((http_route_id)r));
		prom_hist_render(t, "pigeon_http_request_duration_seconds", labels, &m->latency[r],
		    false);
	}
}

static void
render_rpc(const http_metrics *m, prom_text *t)
{
	prom_printf(t, "# HELP pigeon_http_rpc_failures_total RPCs to pigeond that failed, by "
		       "status.\n# TYPE pigeon_http_rpc_failures_total counter\n");
	for (int s = 1; s < PIGEON_STATUS_COUNT; s++)
		prom_printf(t, "pigeon_http_rpc_failures_total{status=\"%s\"} %llu\n",
		    pigeon_status_name((pigeon_status)s),
		    (unsigned long long)prom_load(&m->rpc_failures[s]));
	prom_printf(t,
	    "# HELP pigeon_http_requests_in_flight HTTP requests being served now.\n"
	    "# TYPE pigeon_http_requests_in_flight gauge\n"
	    "pigeon_http_requests_in_flight %ld\n"
	    "# HELP pigeon_http_event_streams /events streams open now.\n"
	    "# TYPE pigeon_http_event_streams gauge\n"
	    "pigeon_http_event_streams %ld\n",
	    atomic_load_explicit(&m->in_flight, memory_order_relaxed),
	    atomic_load_explicit(&m->streams, memory_order_relaxed));
}

static void
render_health(const Pigeon__V1__HealthReply *h, prom_text *t)
{
	bool serving =
	    h != NULL && h->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING;

	prom_printf(t,
	    "# HELP pigeon_pigeond_up Whether pigeond answered Health.\n"
	    "# TYPE pigeon_pigeond_up gauge\npigeon_pigeond_up %d\n"
	    "# HELP pigeon_pigeond_serving Whether pigeond reports that it serves (Redis "
	    "answers).\n# TYPE pigeon_pigeond_serving gauge\npigeon_pigeond_serving %d\n",
	    h != NULL, serving);
	if (h == NULL)
		return;
	prom_printf(t,
	    "# HELP pigeon_queue_depth Messages waiting in the queue.\n"
	    "# TYPE pigeon_queue_depth gauge\npigeon_queue_depth %llu\n"
	    "# HELP pigeon_queue_pending Messages held by a worker and not yet finished.\n"
	    "# TYPE pigeon_queue_pending gauge\npigeon_queue_pending %llu\n"
	    "# HELP pigeon_dead_letters Messages in the dead-letter stream.\n"
	    "# TYPE pigeon_dead_letters gauge\npigeon_dead_letters %llu\n"
	    "# HELP pigeon_workers Workers seen by the queue's consumer group.\n"
	    "# TYPE pigeon_workers gauge\npigeon_workers %u\n",
	    (unsigned long long)h->queue_depth, (unsigned long long)h->queue_pending,
	    (unsigned long long)h->dead_letters, (unsigned)h->workers);
}

char *
http_metrics_render(const http_metrics *m, const Pigeon__V1__HealthReply *health, size_t *len)
{
	prom_text t;

	if (!prom_text_init(&t))
		return NULL;
	render_requests(m, &t);
	render_latency(m, &t);
	render_rpc(m, &t);
	render_health(health, &t);
	return prom_text_take(&t, len);
}
