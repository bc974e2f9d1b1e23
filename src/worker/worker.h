/* SPDX-License-Identifier: MIT */
/*
 * The worker pool: threads that take queued messages from Redis, run the spam
 * filter on them and deliver or block them.  Each thread owns one
 * store_queue connection and, per batch, runs one claim script and one
 * finish script for the whole batch, one round trip each.  With more than
 * one thread, the spam filter's rate and flood windows count messages in the
 * order the threads claim them.  Messages a dead worker held are
 * reclaimed after they sit idle; a message handed out too often is
 * dead-lettered.  The Redis side lives in src/store/queue.h, the verdicts in
 * src/spam/spam.h.
 */
#ifndef PIGEON_WORKER_H
#define PIGEON_WORKER_H

#include <stdint.h>

#include <pigeon/wire.h>

#include "prom.h"

typedef struct worker_pool worker_pool;

#define WORKER_BATCH_MAX 1000

typedef struct worker_opts {
	/* As store_opts.url; NULL: redis://127.0.0.1:6379. */
	const char *redis_url;
	/* Worker threads; 0: 1. */
	unsigned threads;
	/* Messages per batch; 0: 100; more than WORKER_BATCH_MAX: that many.
	 * One claim and one finish script run for the whole batch, and Redis
	 * serves nothing else meanwhile (about 15 us a message here). */
	unsigned batch;
	/* Entries held this long by a consumer are taken over, ms; 0: 30000. */
	int64_t reclaim_idle_ms;
	/* Entries handed out this many times are dead-lettered instead; 0: 5. */
	uint32_t max_attempts;
	/* The spam filter's settings file; NULL: its built-in defaults. */
	const char *spam_config;
	/* Consumer names are "<prefix>-<thread index>"; NULL: "worker-<pid>". */
	const char *consumer_prefix;
	/* As store_opts.journal_max; 0: 1,000,000. */
	uint64_t journal_max;
} worker_opts;

/* Loads the spam filter and starts the threads, which connect in the
 * background.  Borrows o (copied).  Codes of spam_filter_load for a bad
 * spam config, INVALID_ARGUMENT for a malformed url, RESOURCE_EXHAUSTED. */
pigeon_status worker_pool_start(worker_pool **out, const worker_opts *o);

/* Stops the threads and frees the pool.  A thread in the middle of a batch
 * finishes it first, acknowledging every message it delivers or blocks, so
 * nothing it took is left for a later worker to take again; only a batch
 * whose scripts fail (Redis unreachable) stays pending in the group, to be
 * reclaimed.  Takes up to a second more than that batch: a blocked read
 * waits at most that long.  Accepts NULL. */
void worker_pool_stop(worker_pool *p);

/* Re-reads the spam config; batches after it use the new filter.  On
 * failure the old filter stays and the code of spam_filter_load is
 * returned.  Thread-safe (called from the SIGHUP handling thread). */
pigeon_status worker_pool_reload(worker_pool *p);

/* Renders the pool's metrics into t: messages by verdict and by spam rule,
 * batch sizes.  Safe from any thread while the pool runs. */
void worker_pool_render(worker_pool *p, prom_text *t);

#endif
