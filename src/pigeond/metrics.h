/* SPDX-License-Identifier: MIT */
/*
 * pigeond's own /metrics (docs/operations.md lists every family): what the
 * parts running in this process count (RPCs, workers, the store's Redis
 * connections, the events relay, the presence sweeper), the queue's figures read from Redis at
 * each scrape, and the process's memory and descriptors.  Served on
 * --metrics-listen by src/metrics/serve.c.
 */
#ifndef PIGEON_PIGEOND_METRICS_H
#define PIGEON_PIGEOND_METRICS_H

#include <pigeon/wire.h>

#include "dispatch.h"
#include "events.h"
#include "identity.h"
#include "store.h"
#include "sweeper.h"
#include "worker.h"

typedef struct pigeond_metrics pigeond_metrics;

/* The parts of this process; any may be NULL (a role that does not run).
 * `st` answers the queue's figures; without one nothing about the queue is
 * exported.  Each part must outlive the metrics server. */
typedef struct pigeond_parts {
	rpc_dispatcher *disp;
	worker_pool *workers;
	store *st;
	events_relay *relay;
	identity *id;
	presence_sweeper *presence;
} pigeond_parts;

/* Starts serving on listen ("127.0.0.1:9464").  Borrows parts (copied).
 * INVALID_ARGUMENT for a malformed address, UNAVAILABLE when it cannot be
 * bound, RESOURCE_EXHAUSTED. */
pigeon_status pigeond_metrics_open(
    pigeond_metrics **out, const char *listen, const pigeond_parts *parts);

/* Stops serving.  Accepts NULL. */
void pigeond_metrics_close(pigeond_metrics *m);

#endif
