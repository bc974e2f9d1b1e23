/* SPDX-License-Identifier: MIT */
/*
 * The events relay; see events.h.  Everything but start and stop runs on the
 * store_sub thread: the live events, and the catch-up through the journal
 * that on_connect runs after every (re)subscription.  Because the
 * subscription is made before the journal is read, an event is either in the
 * journal read or arrives live afterwards (or both), never neither; `last`
 * (the newest journal sequence published) removes the duplicates.  The
 * journal reads go through a store connection of the relay's own and are
 * waited for on a condition variable; their callback publishes, which is
 * safe from any thread because an nng pub send never blocks.
 */
#include "events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "backoff.h"
#include "clocks.h"
#include "errors.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "prom.h"
#include "store.h"
#include "sub.h"
#include "wait.h"

#define EVENTS_RECV_MAX_DEFAULT (64u * 1024)
/* Events queued for each subscriber before nng drops the oldest: nng's 16 is
 * less than one MarkRead's burst of READ receipts.  A queue holds only what
 * a subscriber has not yet taken. */
#define EVENTS_SEND_QUEUE 1024
#define CATCHUP_PAGE 1000
#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 1000

struct events_relay {
	nng_socket pub;
	listen_guard *guard;
	bool redact_content;
	/* Every publish goes through this one aio: nng_sendmsg would allocate
	 * an aio per event (and read the kernel's random source for it).
	 * Publishes never overlap: see last below. */
	nng_aio *send_aio;
	store *st;
	store_sub *sub;
	/* Only the sub thread reads and writes these, also while a journal
	 * read's callback runs on the store's thread: the sub thread waits
	 * for that callback under mtx. */
	uint64_t last;
	bool primed;
	/* One journal read at a time, waited for under mtx. */
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	bool read_done;
	pigeon_status read_status;
	uint64_t read_next;
	bool stopping;

	/* Counted for events_render; relaxed atomics. */
	atomic_uint_fast64_t relayed;
	atomic_uint_fast64_t gaps_filled;
};

/* Sends ev under topic; a failure loses this one event, as pub/sub may. */
static void
publish(events_relay *r, const char *topic, const Pigeon__V1__Event *ev)
{
	Pigeon__V1__Event redacted;
	nng_msg *m;
	int err;

	if (r->redact_content && ev->content != NULL && ev->content[0] != '\0') {
		redacted = *ev;
		redacted.content = "";
		ev = &redacted;
	}
	if ((err = nng_msg_alloc(&m, frame_size(topic, ev))) != 0) {
		log_warn("events", "event dropped err=%s", nng_strerror(err));
		return;
	}
	frame_write(topic, ev, nng_msg_body(m));
	/* pub never waits for a subscriber: a full queue drops the message for
	 * that subscriber, so this completes at once. */
	nng_aio_set_msg(r->send_aio, m);
	nng_send_aio(r->pub, r->send_aio);
	nng_aio_wait(r->send_aio);
	if ((err = nng_aio_result(r->send_aio)) != 0) {
		nng_msg_free(m);
		log_warn("events", "event dropped err=%s", nng_strerror(err));
		return;
	}
	prom_add(&r->relayed, 1);
}

/* Runs on the store's thread while the sub thread waits in journal_read. */
static void
journal_done(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	events_relay *r = arg;
	const Pigeon__V1__GetEventJournalReply *rep =
	    (const Pigeon__V1__GetEventJournalReply *)reply;

	(void)errmsg;
	pthread_mutex_lock(&r->mtx);
	if (st == PIGEON_OK) {
		if (!r->primed) {
			/* A fresh relay starts after the newest event. */
			r->last = rep->last_sequence;
			r->primed = true;
			r->read_next = 0;
		} else {
			for (size_t i = 0; i < rep->n_events; i++) {
				if (rep->events[i]->sequence <= r->last)
					continue;
				publish(r, PIGEON_TOPIC_JOURNAL, rep->events[i]);
				prom_add(&r->gaps_filled, 1);
				r->last = rep->events[i]->sequence;
			}
			r->read_next = rep->next_cursor;
		}
	}
	r->read_status = st;
	r->read_done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mtx);
}

/* One journal page after r->last, published; or, before the relay is
 * primed, the newest sequence.  Sets *more when another page follows. */
static pigeon_status
journal_read(events_relay *r, bool *more)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	pigeon_status rv;

	if (r->primed) {
		req.after = r->last;
		req.page_size = CATCHUP_PAGE;
	} else {
		req.page_size = 1;
	}
	pthread_mutex_lock(&r->mtx);
	r->read_done = false;
	pthread_mutex_unlock(&r->mtx);
	store_get_event_journal(r->st, &req, journal_done, r);
	pthread_mutex_lock(&r->mtx);
	while (!r->read_done)
		pthread_cond_wait(&r->cond, &r->mtx);
	rv = r->read_status;
	*more = rv == PIGEON_OK && r->read_next != 0;
	pthread_mutex_unlock(&r->mtx);
	return rv;
}

/* Publishes every journal event after r->last; false when a read failed. */
static bool
catch_up(events_relay *r)
{
	uint64_t from = r->last;
	bool more = true;
	pigeon_status rv;

	while (more) {
		if ((rv = journal_read(r, &more)) != PIGEON_OK) {
			log_warn("events", "journal read failed status=%s after=%llu",
			    pigeon_status_name(rv), (unsigned long long)r->last);
			return false;
		}
	}
	if (r->last != from)
		log_info("events", "republished from the journal after=%llu last=%llu",
		    (unsigned long long)from, (unsigned long long)r->last);
	return true;
}

/* Waits ms or until stopping; true when stopping. */
static bool
wait_stopping(events_relay *r, int64_t ms)
{
	int64_t deadline = clocks_mono_ms() + ms;
	bool stop;

	pthread_mutex_lock(&r->mtx);
	while (!r->stopping && wait_until(&r->cond, &r->mtx, deadline))
		;
	stop = r->stopping;
	pthread_mutex_unlock(&r->mtx);
	return stop;
}

/* After each (re)subscription: publish what was missed meanwhile, retrying
 * until it worked (the store's connection may still be coming up). */
static void
on_connect(void *arg)
{
	events_relay *r = arg;
	backoff bo;

	backoff_init(&bo, RETRY_MIN_MS, RETRY_MAX_MS);
	while (!catch_up(r)) {
		if (wait_stopping(r, backoff_next(&bo)))
			return;
	}
	log_info("events", "relaying last=%llu", (unsigned long long)r->last);
}

static void
on_journal(events_relay *r, const Pigeon__V1__Event *ev)
{
	if (!r->primed || ev->sequence <= r->last)
		return;
	/* A gap while subscribed: fetch the missing ones first, after which
	 * this event is normally among those published. */
	if (ev->sequence > r->last + 1 && catch_up(r) && ev->sequence <= r->last)
		return;
	publish(r, PIGEON_TOPIC_JOURNAL, ev);
	r->last = ev->sequence;
}

/* The subscriber's events: journal events go through the gap and duplicate
 * checks, the others straight out under their topic. */
static void
on_event(void *arg, const char *topic, const Pigeon__V1__Event *ev)
{
	events_relay *r = arg;

	if (strcmp(topic, PIGEON_TOPIC_JOURNAL) == 0)
		on_journal(r, ev);
	else
		publish(r, topic, ev);
}

pigeon_status
events_start(events_relay **out, const events_opts *opts)
{
	const char *url = opts->pub_url != NULL ? opts->pub_url : PIGEON_DEFAULT_PUB_URL;
	store_opts so = {0};
	events_relay *r;
	pigeon_status rv;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	/* Both fail only for want of resources. */
	rv = PIGEON_RESOURCE_EXHAUSTED;
	if (pthread_mutex_init(&r->mtx, NULL) != 0)
		goto fail_free;
	if (wait_cond_init(&r->cond) != 0)
		goto fail_mutex;
	if ((rv = status_from_nng(nng_aio_alloc(&r->send_aio, NULL, NULL))) != PIGEON_OK)
		goto fail_cond;
	r->redact_content = opts->redact_content;
	if ((rv = status_from_nng(nng_pub0_open(&r->pub))) != PIGEON_OK)
		goto fail_aio;
	nng_socket_set_size(r->pub, NNG_OPT_RECVMAXSZ,
	    opts->recv_max > 0 ? opts->recv_max : EVENTS_RECV_MAX_DEFAULT);
	nng_socket_set_int(r->pub, NNG_OPT_SENDBUF, EVENTS_SEND_QUEUE);
	if ((rv = listen_guard_start(&r->guard, r->pub, url, "pub")) != PIGEON_OK) {
		log_error("events", "cannot listen status=%s url=%s", pigeon_status_name(rv), url);
		goto fail_close;
	}
	so.url = opts->redis_url;
	/* Only catch-up reads of the journal: one connection is plenty. */
	so.connections = 1;
	if ((rv = store_open(&r->st, &so)) != PIGEON_OK)
		goto fail_close;
	if ((rv = store_sub_open(&r->sub, opts->redis_url, on_event, on_connect, r)) != PIGEON_OK)
		goto fail_store;
	log_info("events", "publishing url=%s", url);
	*out = r;
	return PIGEON_OK;

fail_store:
	store_close(r->st);
fail_close:
	listen_guard_stop(r->guard);
	nng_close(r->pub);
fail_aio:
	nng_aio_free(r->send_aio);
fail_cond:
	pthread_cond_destroy(&r->cond);
fail_mutex:
	pthread_mutex_destroy(&r->mtx);
fail_free:
	free(r);
	return rv;
}

void
events_stop(events_relay *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mtx);
	r->stopping = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mtx);
	/* The sub thread may wait for a journal read: the store is still
	 * open, so that read completes, and then the thread sees stopping. */
	store_sub_close(r->sub);
	store_close(r->st);
	listen_guard_stop(r->guard);
	nng_close(r->pub);
	nng_aio_free(r->send_aio);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mtx);
	free(r);
}

void
events_render(events_relay *r, prom_text *t)
{
	prom_single(t, "pigeon_events_relayed_total", "counter",
	    "Events published on the pub socket.", prom_load(&r->relayed));
	prom_single(t, "pigeon_events_gaps_filled_total", "counter",
	    "Journal events published from the journal because pub/sub had lost them.",
	    prom_load(&r->gaps_filled));
}
