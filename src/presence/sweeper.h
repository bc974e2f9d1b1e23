/* SPDX-License-Identifier: MIT */
/*
 * The presence sweeper: a thread of pigeond's rpc role that ends the
 * sessions whose deadline has passed (docs/redis-schema.md, "Presence"), so
 * that a user who went away without logging out drops off ListOnlineUsers,
 * with a LOGOUT journaled with reason "expired".  Every interval (a quarter
 * of the TTL, at most PRESENCE_INTERVAL_MAX_MS) it asks the store whether a
 * deadline has passed (two plain reads), and if one has runs the store's
 * sweep, batch after batch while a batch comes back full, pausing after
 * each full batch as long as it took, so that a backlog leaves Redis half
 * its time for RPCs; a session therefore ends at most an interval and a few
 * round trips after its deadline, inside the second the protocol promises,
 * unless thousands end at once (100,000 take a few seconds:
 * docs/performance.md, "The presence sweeper").  The sweep ends a
 * session only once, so every pigeond sweeps and none needs to know of the
 * others.  Before its first sweep, when anyone is listed online, it runs the
 * store's adopt pass, which gives users listed online from before sessions
 * had deadlines one TTL from now.
 *
 * It speaks no Redis itself: each step is an operation of the store, whose
 * answer it waits for.  It decides nothing about sessions either: the
 * scripts do (src/store/scripts/presence_*.lua).
 */
#ifndef PIGEON_PRESENCE_SWEEPER_H
#define PIGEON_PRESENCE_SWEEPER_H

#include <stdint.h>

#include <pigeon/wire.h>

#include "prom.h"
#include "store.h"

typedef struct presence_sweeper presence_sweeper;

#define PRESENCE_BATCH_DEFAULT 50
/* The largest batch pigeond's --presence-batch takes. */
#define PRESENCE_BATCH_MAX 10000
#define PRESENCE_INTERVAL_MAX_MS 500

typedef struct presence_opts {
	/* The store's presence TTL (store_opts.presence_ttl_ms), ms; 0: its
	 * default.  Sets the interval. */
	int64_t ttl_ms;
	/* Sessions a sweep script ends at most; 0: PRESENCE_BATCH_DEFAULT.  A
	 * full batch of 50 keeps Redis busy for about a millisecond, during
	 * which every RPC that needs Redis waits. */
	unsigned batch;
} presence_opts;

/* Starts the thread, which sweeps through st (borrowed: it must outlive the
 * sweeper) at once and then every interval; a sweep that fails (Redis
 * unreachable) is logged once and tried again at the next interval.
 * Borrows o (copied).  RESOURCE_EXHAUSTED without memory or a thread. */
pigeon_status presence_sweeper_start(presence_sweeper **out, store *st, const presence_opts *o);

/* Stops the thread once the store has answered the step in flight, if any
 * (the store answers every operation, within its I/O timeout), and frees
 * the sweeper.  Accepts NULL. */
void presence_sweeper_stop(presence_sweeper *s);

/* Renders pigeon_presence_expired_total into t: the sessions this sweeper
 * ended.  Safe from any thread while the sweeper runs. */
void presence_sweeper_render(presence_sweeper *s, prom_text *t);

#endif
