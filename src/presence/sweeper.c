/* SPDX-License-Identifier: MIT */
/* The presence sweeper's thread; see sweeper.h. */
#include "sweeper.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clocks.h"
#include "log.h"
#include "wait.h"

/* The shortest interval: the TTL is at least a second, so a quarter of it
 * never goes below this; it guards the loop against a zero. */
#define INTERVAL_MIN_MS 10

struct presence_sweeper {
	store *st;
	unsigned batch;
	int64_t interval_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;

	/* The answer to the step in flight, under mu: the store's callback
	 * writes it on the store's thread. */
	bool answered;
	pigeon_status step_st;
	store_presence step;
	char cursor[32];
	char why[160];

	/* Owned by the thread. */
	/* The adopt pass is over; until then, where it goes on from. */
	bool adopted;
	char adopt_cursor[32];
	/* The last step failed: the next success is logged, at the level of
	 * the failure. */
	bool failing;
	log_level failing_lv;

	/* Counted for presence_sweeper_render; relaxed atomics. */
	atomic_uint_fast64_t expired;
};

/* What a step asks the store. */
typedef enum step_kind {
	/* Whether anyone is listed online (ListOnlineUsers, one name): p->taken. */
	STEP_ONLINE,
	/* One step of the adopt pass. */
	STEP_ADOPT,
	/* Whether a session is due: p->due. */
	STEP_DUE,
	/* One sweep script. */
	STEP_SWEEP,
} step_kind;

static void
online_done(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	presence_sweeper *sw = arg;

	pthread_mutex_lock(&sw->mu);
	sw->step_st = st;
	if (st == PIGEON_OK) {
		memset(&sw->step, 0, sizeof(sw->step));
		sw->step.taken = ((const Pigeon__V1__ListOnlineUsersReply *)reply)->n_usernames;
		sw->step.cursor = "";
	} else {
		snprintf(sw->why, sizeof(sw->why), "%s", errmsg != NULL ? errmsg : "");
	}
	sw->answered = true;
	pthread_cond_signal(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
}

static void
step_done(void *arg, pigeon_status st, const char *errmsg, const store_presence *p)
{
	presence_sweeper *sw = arg;

	pthread_mutex_lock(&sw->mu);
	sw->step_st = st;
	if (st == PIGEON_OK) {
		sw->step = *p;
		snprintf(sw->cursor, sizeof(sw->cursor), "%s", p->cursor);
		sw->step.cursor = sw->cursor;
	} else {
		snprintf(sw->why, sizeof(sw->why), "%s", errmsg != NULL ? errmsg : "");
	}
	sw->answered = true;
	pthread_cond_signal(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
}

/* Runs one store operation (an adopt step from the adopt cursor) and waits
 * for its answer, which the store always gives: the callback must not
 * outlive the sweeper. */
static pigeon_status
step(presence_sweeper *sw, step_kind kind, store_presence *out)
{
	Pigeon__V1__ListOnlineUsersRequest one = PIGEON__V1__LIST_ONLINE_USERS_REQUEST__INIT;
	pigeon_status rv;

	pthread_mutex_lock(&sw->mu);
	sw->answered = false;
	pthread_mutex_unlock(&sw->mu);
	switch (kind) {
	case STEP_ONLINE:
		one.page_size = 1;
		store_list_online_users(sw->st, &one, online_done, sw);
		break;
	case STEP_ADOPT:
		store_presence_adopt(sw->st, sw->adopt_cursor, step_done, sw);
		break;
	case STEP_DUE:
		store_presence_due(sw->st, step_done, sw);
		break;
	case STEP_SWEEP:
		store_presence_sweep(sw->st, sw->batch, step_done, sw);
		break;
	}
	pthread_mutex_lock(&sw->mu);
	while (!sw->answered)
		pthread_cond_wait(&sw->cv, &sw->mu);
	rv = sw->step_st;
	if (rv == PIGEON_OK)
		*out = sw->step;
	pthread_mutex_unlock(&sw->mu);
	return rv;
}

static bool
stopping(presence_sweeper *sw)
{
	bool s;

	pthread_mutex_lock(&sw->mu);
	s = sw->stopping;
	pthread_mutex_unlock(&sw->mu);
	return s;
}

/* Logs a failed step once, until a step succeeds again.  Redis being
 * unreachable (also while the store first connects) is the store's to
 * report: only a debug line here. */
static void
failed(presence_sweeper *sw, const char *what, pigeon_status rv)
{
	if (sw->failing)
		return;
	sw->failing = true;
	sw->failing_lv = rv == PIGEON_UNAVAILABLE || rv == PIGEON_CANCELLED ? LOG_DEBUG : LOG_WARN;
	log_write(sw->failing_lv, "presence", "%s failed, trying again status=%s err=%s", what,
	    pigeon_status_name(rv), sw->why);
}

static void
succeeded(presence_sweeper *sw)
{
	if (sw->failing)
		log_write(sw->failing_lv == LOG_WARN ? LOG_INFO : LOG_DEBUG, "presence",
		    "sweeping again");
	sw->failing = false;
}

/* Goes on with the adopt pass where it stopped; true once it is over.  With
 * nobody online (a fresh Redis, or everyone gone) there is nothing to adopt:
 * one read, and no script. */
static bool
adopt(presence_sweeper *sw)
{
	store_presence p;
	uint64_t given = 0;
	pigeon_status rv;

	if (strcmp(sw->adopt_cursor, "0") == 0) {
		if ((rv = step(sw, STEP_ONLINE, &p)) != PIGEON_OK) {
			failed(sw, "reading who is online", rv);
			return false;
		}
		succeeded(sw);
		if (p.taken == 0)
			return true;
	}
	do {
		if ((rv = step(sw, STEP_ADOPT, &p)) != PIGEON_OK) {
			failed(sw, "adopting sessions without a deadline", rv);
			return false;
		}
		succeeded(sw);
		given += p.taken;
		snprintf(sw->adopt_cursor, sizeof(sw->adopt_cursor), "%s", p.cursor);
	} while (strcmp(sw->adopt_cursor, "0") != 0 && !stopping(sw));
	if (given != 0)
		log_info("presence", "users online without a session deadline given one count=%llu",
		    (unsigned long long)given);
	return strcmp(sw->adopt_cursor, "0") == 0;
}

/* Waits ms (at least 1), or until the sweeper is stopped. */
static void
pause_ms(presence_sweeper *sw, int64_t ms)
{
	int64_t until = clocks_mono_ms() + (ms > 1 ? ms : 1);

	pthread_mutex_lock(&sw->mu);
	while (!sw->stopping && wait_until(&sw->cv, &sw->mu, until))
		;
	pthread_mutex_unlock(&sw->mu);
}

/* Ends every session past its deadline, a batch at a time.  The sweep
 * script runs only once a deadline has passed: until then a check of two
 * plain reads, so that an idle pigeond costs Redis little, and its writes
 * paused (CLIENT PAUSE WRITE) hold nothing of the sweeper's.
 *
 * Redis serves nothing else while a batch runs, so after a full batch the
 * sweeper waits as long as the batch took before the next: a backlog (many
 * sessions whose deadlines passed at once) takes at most about half of
 * Redis's time, and an RPC waits for at most one batch
 * (docs/performance.md, "The presence sweeper"). */
static void
sweep(presence_sweeper *sw)
{
	store_presence p;
	pigeon_status rv;
	int64_t t0;

	if ((rv = step(sw, STEP_DUE, &p)) != PIGEON_OK) {
		failed(sw, "checking for expired sessions", rv);
		return;
	}
	succeeded(sw);
	if (!p.due)
		return;
	for (;;) {
		t0 = clocks_mono_us();
		if ((rv = step(sw, STEP_SWEEP, &p)) != PIGEON_OK) {
			failed(sw, "sweep", rv);
			return;
		}
		succeeded(sw);
		prom_add(&sw->expired, p.ended);
		if (p.ended != 0)
			log_debug("presence", "sessions expired count=%llu",
			    (unsigned long long)p.ended);
		if (p.taken < sw->batch || stopping(sw))
			return;
		pause_ms(sw, (clocks_mono_us() - t0 + 999) / 1000);
	}
}

static void *
sweeper_main(void *arg)
{
	presence_sweeper *sw = arg;
	int64_t next = clocks_mono_ms(), now;

	pthread_mutex_lock(&sw->mu);
	while (!sw->stopping) {
		if ((now = clocks_mono_ms()) < next) {
			wait_until(&sw->cv, &sw->mu, next);
			continue;
		}
		/* On the interval's grid, so that a sweep's own time does not
		 * stretch it; after a sweep slower than the interval, at once. */
		next += sw->interval_ms;
		if (next < now)
			next = now;
		pthread_mutex_unlock(&sw->mu);
		if (sw->adopted || (sw->adopted = adopt(sw)))
			sweep(sw);
		pthread_mutex_lock(&sw->mu);
	}
	pthread_mutex_unlock(&sw->mu);
	return NULL;
}

pigeon_status
presence_sweeper_start(presence_sweeper **out, store *st, const presence_opts *o)
{
	presence_sweeper *sw;
	int64_t ttl = o->ttl_ms > 0 ? o->ttl_ms : STORE_PRESENCE_TTL_DEFAULT_MS;

	if ((sw = calloc(1, sizeof(*sw))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	sw->st = st;
	sw->batch = o->batch != 0 ? o->batch : PRESENCE_BATCH_DEFAULT;
	sw->interval_ms = ttl / 4 < PRESENCE_INTERVAL_MAX_MS ? ttl / 4 : PRESENCE_INTERVAL_MAX_MS;
	if (sw->interval_ms < INTERVAL_MIN_MS)
		sw->interval_ms = INTERVAL_MIN_MS;
	snprintf(sw->adopt_cursor, sizeof(sw->adopt_cursor), "0");
	atomic_init(&sw->expired, 0);
	if (pthread_mutex_init(&sw->mu, NULL) != 0)
		goto fail_free;
	if (wait_cond_init(&sw->cv) != 0)
		goto fail_mu;
	if (pthread_create(&sw->thread, NULL, sweeper_main, sw) != 0)
		goto fail_cv;
	log_info("presence", "sweeper started ttl_ms=%lld interval_ms=%lld batch=%u",
	    (long long)ttl, (long long)sw->interval_ms, sw->batch);
	*out = sw;
	return PIGEON_OK;

fail_cv:
	pthread_cond_destroy(&sw->cv);
fail_mu:
	pthread_mutex_destroy(&sw->mu);
fail_free:
	free(sw);
	return PIGEON_RESOURCE_EXHAUSTED;
}

void
presence_sweeper_stop(presence_sweeper *sw)
{
	if (sw == NULL)
		return;
	pthread_mutex_lock(&sw->mu);
	sw->stopping = true;
	pthread_cond_broadcast(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
	pthread_join(sw->thread, NULL);
	pthread_cond_destroy(&sw->cv);
	pthread_mutex_destroy(&sw->mu);
	free(sw);
}

void
presence_sweeper_render(presence_sweeper *sw, prom_text *t)
{
	prom_single(t, "pigeon_presence_expired_total", "counter",
	    "Sessions this pigeond's sweeper ended because their deadline passed, each "
	    "journaled as a LOGOUT with reason expired.",
	    prom_load(&sw->expired));
}
