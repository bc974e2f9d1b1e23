/* SPDX-License-Identifier: MIT */
/*
 * pigeond's /metrics; see metrics.h.  A scrape runs on the metrics server's
 * thread: the counters are read where they are kept, and the queue's figures
 * come from one Health script through the store, waited for at most
 * HEALTH_WAIT_MS so that a Redis outage slows no scrape for long (the queue
 * families are then left out and pigeon_redis_up is 0).
 */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pigeon/v1/pigeon.pb-c.h>

#include "clocks.h"
#include "errors.h"
#include "log.h"
#include "process.h"
#include "prom.h"
#include "serve.h"
#include "wait.h"

#define HEALTH_WAIT_MS 1000

struct pigeond_metrics {
	pigeond_parts parts;
	metrics_server *srv;
	double start_time_s;
};

/* One Health read, shared by the scrape and the store's callback: the one
 * that comes second frees it, so a late answer never touches freed memory. */
typedef struct health_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	bool abandoned;
	pigeon_status st;
	Pigeon__V1__HealthReply rep;
} health_wait;

static void
health_wait_free(health_wait *h)
{
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static void
health_done(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	health_wait *h = arg;
	bool last;

	(void)errmsg;
	pthread_mutex_lock(&h->mu);
	h->st = st;
	if (st == PIGEON_OK) {
		/* The numbers only: the reply's strings are not kept. */
		h->rep = *(const Pigeon__V1__HealthReply *)reply;
		h->rep.version = NULL;
	}
	h->done = true;
	last = h->abandoned;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (last)
		health_wait_free(h);
}

/* The queue's figures, or false when Redis did not answer in time. */
static bool
read_health(store *st, Pigeon__V1__HealthReply *out)
{
	int64_t until = clocks_mono_ms() + HEALTH_WAIT_MS;
	health_wait *h;
	bool ok, last;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return false;
	if (pthread_mutex_init(&h->mu, NULL) != 0)
		goto fail_free;
	if (wait_cond_init(&h->cv) != 0)
		goto fail_mu;
	store_health(st, health_done, h);
	pthread_mutex_lock(&h->mu);
	while (!h->done && wait_until(&h->cv, &h->mu, until))
		;
	ok = h->done && h->st == PIGEON_OK &&
	     h->rep.status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	if (ok)
		*out = h->rep;
	last = h->done;
	h->abandoned = true;
	pthread_mutex_unlock(&h->mu);
	if (last)
		health_wait_free(h);
	return ok;

fail_mu:
	pthread_mutex_destroy(&h->mu);
fail_free:
	free(h);
	return false;
}

static void
render_queue(store *st, prom_text *t)
{
	Pigeon__V1__HealthReply h;
	bool up = read_health(st, &h);

	prom_family(t, "pigeon_redis_up", "gauge",
	    "Whether Redis answered this scrape's queue read in time.");
	prom_printf(t, "pigeon_redis_up %d\n", up);
	if (!up)
		return;
	prom_single(t, "pigeon_queue_depth", "gauge",
	    "Messages waiting in the queue, not yet taken by a worker.", h.queue_depth);
	prom_single(t, "pigeon_queue_pending", "gauge",
	    "Messages taken by a worker and not yet finished.", h.queue_pending);
	prom_family(t, "pigeon_queue_oldest_pending_age_seconds", "gauge",
	    "How long the oldest message taken and not yet finished has been held (0: "
	    "none).");
	prom_printf(t, "pigeon_queue_oldest_pending_age_seconds %.3f\n",
	    (double)h.oldest_pending_ms / 1e3);
	prom_single(t, "pigeon_dead_letters", "gauge", "Messages in the dead-letter stream.",
	    h.dead_letters);
	prom_single(t, "pigeon_queue_workers", "gauge",
	    "Workers the queue's consumer group has seen lately.", h.workers);
}

static char *
render(void *arg, size_t *len)
{
	pigeond_metrics *m = arg;
	prom_text t;

	if (!prom_text_init(&t))
		return NULL;
	if (m->parts.disp != NULL)
		rpc_dispatcher_render(m->parts.disp, &t);
	if (m->parts.workers != NULL)
		worker_pool_render(m->parts.workers, &t);
	if (m->parts.st != NULL) {
		store_render(m->parts.st, &t);
		render_queue(m->parts.st, &t);
	}
	if (m->parts.relay != NULL)
		events_render(m->parts.relay, &t);
	if (m->parts.id != NULL)
		identity_render(m->parts.id, &t);
	if (m->parts.presence != NULL)
		presence_sweeper_render(m->parts.presence, &t);
	process_render(&t, m->start_time_s);
	return prom_text_take(&t, len);
}

pigeon_status
pigeond_metrics_open(pigeond_metrics **out, const char *listen, const pigeond_parts *parts)
{
	pigeond_metrics *m;
	int err;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	m->parts = *parts;
	m->start_time_s = (double)clocks_wall_ms() / 1e3;
	if ((err = metrics_server_open(&m->srv, listen, render, m)) != 0) {
		log_error("pigeond", "cannot serve metrics listen=%s err=%s", listen,
		    strerror(err));
		free(m);
		return err == EINVAL ? PIGEON_INVALID_ARGUMENT
		     : err == ENOMEM ? PIGEON_RESOURCE_EXHAUSTED
				     : PIGEON_UNAVAILABLE;
	}
	*out = m;
	return PIGEON_OK;
}

void
pigeond_metrics_close(pigeond_metrics *m)
{
	if (m == NULL)
		return;
	metrics_server_close(m->srv);
	free(m);
}
