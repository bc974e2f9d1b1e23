/* SPDX-License-Identifier: MIT */
/* Server-Sent Events of the journal; see events.h.  One mutex, ev->mu, guards
 * the list of streams and every stream's queue and position; it is taken
 * before libmicrohttpd's own locks (suspend and resume run under it), never
 * after. */
#include "events.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clocks.h"
#include "json.h"
#include "log.h"
#include "wait.h"

/* The worker fetches another catch-up page for a stream only while less
 * than this is queued on it, so a catch-up goes at its reader's pace. */
#define CATCHUP_LOW (64u * 1024)
#define CATCHUP_PAGE 1000
/* After a failed GetEventJournal the worker waits this long. */
#define RETRY_MS 1000
/* Bytes libmicrohttpd asks the reader for at most. */
#define READ_BLOCK 16384

static const char preface[] = "retry: 1000\n: connected\n\n";
static const char keepalive[] = ": keep-alive\n\n";

struct http_stream {
	http_events *ev;
	struct MHD_Connection *conn;
	/* One for the response, one for the caller, one while the worker
	 * fetches for it. */
	atomic_int refs;
	/* The rest under ev->mu. */
	char *buf;
	size_t off, len, cap;
	/* The last journal sequence queued; 0 before any. */
	uint64_t last;
	uint64_t events;
	/* The position is not known yet: the worker asks the journal. */
	bool pending;
	/* The worker must fetch the events after last. */
	bool catchup;
	/* The feed saw an event it could not take while the worker fetched. */
	bool missed;
	/* The reader suspended the connection. */
	bool suspended;
	/* Stopping: send what is queued, then end the body. */
	bool ended;
	/* Overflowed: close the connection. */
	bool dropped;
	/* The response is destroyed: conn is no longer ours. */
	bool gone;
	/* In ev->streams. */
	bool listed;
	http_stream *prev, *next;
};

struct http_events {
	pigeon_client *client;
	http_metrics *metrics;
	http_events_opts opts;
	pigeon_subscription *feed;
	pthread_t worker;
	bool worker_running;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	/* Under mu. */
	bool stopping;
	bool ended;
	unsigned open;
	/* The newest journal sequence seen, from the feed or the journal. */
	uint64_t head;
	http_stream *streams;
};

static void
stream_unref(http_stream *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	free(s->buf);
	free(s);
}

/* Resumes the connection if the reader suspended it.  Under mu. */
static void
stream_wake(http_stream *s)
{
	if (s->suspended && !s->gone) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	}
}

static bool
stream_live(const http_stream *s)
{
	return !s->gone && !s->ended && !s->dropped;
}

/* Queues n bytes; a queue over HTTP_EVENTS_QUEUE_MAX drops the stream.
 * Under mu. */
static void
stream_put(http_stream *s, const char *data, size_t n)
{
	if (!stream_live(s))
		return;
	if (s->off > 0) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (s->len + n > HTTP_EVENTS_QUEUE_MAX) {
		log_warn("http", "event stream too slow, closing queued=%zu last=%" PRIu64, s->len,
		    s->last);
		goto drop;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap > 0 ? s->cap : 4096;
		char *nb;

		while (cap < s->len + n)
			cap *= 2;
		if ((nb = realloc(s->buf, cap)) == NULL) {
			log_warn("http", "out of memory for an event stream, closing");
			goto drop;
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	stream_wake(s);
	return;
drop:
	s->dropped = true;
	free(s->buf);
	s->buf = NULL;
	s->off = s->len = s->cap = 0;
	stream_wake(s);
}

/* Queues ev as one frame and makes it the stream's position.  Under mu. */
static void
stream_put_event(http_stream *s, const Pigeon__V1__Event *ev)
{
	const char *type;
	size_t len, n;
	char *json = http_json_event(ev, &type, &len), head[96], *frame;

	s->last = ev->sequence;
	if (json == NULL) {
		log_warn("http", "event not representable as JSON, skipped sequence=%" PRIu64,
		    ev->sequence);
		return;
	}
	n = (size_t)snprintf(head, sizeof(head), "id: %" PRIu64 "\nevent: %s\ndata: ",
	    ev->sequence, type);
	/* json ends with its newline; the frame with an empty line. */
	if ((frame = malloc(n + len + 1)) == NULL) {
		free(json);
		log_warn("http", "out of memory for an event stream, closing");
		s->dropped = true;
		stream_wake(s);
		return;
	}
	memcpy(frame, head, n);
	memcpy(frame + n, json, len);
	frame[n + len] = '\n';
	stream_put(s, frame, n + len + 1);
	s->events++;
	free(frame);
	free(json);
}

/* The feed's callback: each stream takes the event if it is its next one;
 * a stream further behind is left to the worker. */
static void
on_feed(const char *topic, const Pigeon__V1__Event *ev, void *arg)
{
	http_events *e = arg;
	bool signal = false;

	(void)topic;
	if (ev->sequence == 0)
		return;
	pthread_mutex_lock(&e->mu);
	if (ev->sequence > e->head)
		e->head = ev->sequence;
	for (http_stream *s = e->streams; s != NULL; s = s->next) {
		if (!stream_live(s) || s->pending || ev->sequence <= s->last)
			continue;
		if (ev->sequence == s->last + 1 && !s->catchup) {
			stream_put_event(s, ev);
		} else {
			s->catchup = s->missed = true;
			signal = true;
		}
	}
	if (signal)
		pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->mu);
}

/* libmicrohttpd's reader of a stream's body. */
static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	http_stream *s = cls;
	http_events *e = s->ev;
	size_t n;

	(void)pos;
	pthread_mutex_lock(&e->mu);
	if (s->dropped) {
		pthread_mutex_unlock(&e->mu);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (s->off == s->len) {
		if (s->ended) {
			pthread_mutex_unlock(&e->mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		/* Nothing to send: wait for stream_wake.  Returning 0 from a
		 * suspended connection's reader is how libmicrohttpd is told
		 * to wait rather than to call again. */
		s->suspended = true;
		MHD_suspend_connection(s->conn);
		pthread_mutex_unlock(&e->mu);
		return 0;
	}
	n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	if (s->off == s->len)
		s->off = s->len = 0;
	if (s->catchup && s->len - s->off < CATCHUP_LOW)
		pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->mu);
	return (ssize_t)n;
}

/* libmicrohttpd is done with the response: the stream leaves the list. */
static void
stream_destroyed(void *cls)
{
	http_stream *s = cls;
	http_events *e = s->ev;

	pthread_mutex_lock(&e->mu);
	s->gone = true;
	if (s->listed) {
		if (s->prev != NULL)
			s->prev->next = s->next;
		else
			e->streams = s->next;
		if (s->next != NULL)
			s->next->prev = s->prev;
		s->listed = false;
	}
	e->open--;
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->mu);
	http_metrics_stream_close(e->metrics);
	stream_unref(s);
}

/* GetEventJournal through the client, without mu held. */
static pigeon_status
journal_get(http_events *e, uint64_t after, uint32_t page_size,
    Pigeon__V1__GetEventJournalReply **rep)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	pigeon_status st;

	req.after = after;
	req.page_size = page_size;
	if ((st = pigeon_get_event_journal(e->client, &req, rep, NULL)) != PIGEON_OK)
		log_warn("http", "event journal unavailable for /events status=%s",
		    pigeon_status_name(st));
	return st;
}

/* Learns a pending stream's position: the journal's newest event.  Events
 * the feed offered meanwhile were skipped, so a catch-up follows. */
static bool
work_position(http_events *e, http_stream *s)
{
	Pigeon__V1__GetEventJournalReply *rep;

	pthread_mutex_unlock(&e->mu);
	if (journal_get(e, 0, 1, &rep) != PIGEON_OK) {
		pthread_mutex_lock(&e->mu);
		return false;
	}
	pthread_mutex_lock(&e->mu);
	if (s->pending && stream_live(s)) {
		s->pending = false;
		s->last = rep->last_sequence;
		s->catchup = true;
		stream_put(s, preface, sizeof(preface) - 1);
	}
	if (rep->last_sequence > e->head)
		e->head = rep->last_sequence;
	pthread_mutex_unlock(&e->mu);
	pigeon_reply_free(rep);
	pthread_mutex_lock(&e->mu);
	return true;
}

/* Fetches one page of the events after the stream's position and queues
 * them.  From position 0 (the journal was empty when it opened) catch-up
 * mode cannot be asked for, so the newest page is taken, oldest first. */
static bool
work_catchup(http_events *e, http_stream *s)
{
	Pigeon__V1__GetEventJournalReply *rep;
	uint64_t after = s->last;
	bool more;

	s->missed = false;
	pthread_mutex_unlock(&e->mu);
	if (journal_get(e, after, CATCHUP_PAGE, &rep) != PIGEON_OK) {
		pthread_mutex_lock(&e->mu);
		return false;
	}
	pthread_mutex_lock(&e->mu);
	if (after == 0) {
		for (size_t i = rep->n_events; i > 0; i--)
			if (rep->events[i - 1]->sequence > s->last)
				stream_put_event(s, rep->events[i - 1]);
		more = false;
	} else {
		for (size_t i = 0; i < rep->n_events; i++)
			if (rep->events[i]->sequence > s->last)
				stream_put_event(s, rep->events[i]);
		more = rep->next_cursor != 0 && rep->n_events > 0;
	}
	s->catchup = more || s->missed;
	pthread_mutex_unlock(&e->mu);
	pigeon_reply_free(rep);
	pthread_mutex_lock(&e->mu);
	return true;
}

/* Each period: a keep-alive on every stream (which also finds the ones
 * whose client left), then the journal's newest sequence, so that streams
 * behind it (an event the feed lost) catch up. */
static bool
work_tick(http_events *e)
{
	Pigeon__V1__GetEventJournalReply *rep;

	for (http_stream *s = e->streams; s != NULL; s = s->next)
		stream_put(s, keepalive, sizeof(keepalive) - 1);
	pthread_mutex_unlock(&e->mu);
	if (journal_get(e, 0, 1, &rep) != PIGEON_OK) {
		pthread_mutex_lock(&e->mu);
		return false;
	}
	pthread_mutex_lock(&e->mu);
	if (rep->last_sequence > e->head)
		e->head = rep->last_sequence;
	for (http_stream *s = e->streams; s != NULL; s = s->next)
		if (stream_live(s) && !s->pending && s->last < rep->last_sequence)
			s->catchup = s->missed = true;
	pthread_mutex_unlock(&e->mu);
	pigeon_reply_free(rep);
	pthread_mutex_lock(&e->mu);
	return true;
}

/* A stream the worker has something to do for, or NULL. */
static http_stream *
work_find(http_events *e)
{
	for (http_stream *s = e->streams; s != NULL; s = s->next) {
		if (!stream_live(s))
			continue;
		if (s->pending || (s->catchup && s->len - s->off < CATCHUP_LOW))
			return s;
	}
	return NULL;
}

static void *
worker_main(void *arg)
{
	http_events *e = arg;
	/* Monotonic ms: the next keep-alive tick, and when a failed step may
	 * be tried again. */
	int64_t tick = clocks_mono_ms() + e->opts.keepalive_ms, retry = 0;

	pthread_mutex_lock(&e->mu);
	while (!e->stopping) {
		int64_t now = clocks_mono_ms();
		http_stream *s;
		bool ok = true;

		if (now >= tick) {
			tick = now + e->opts.keepalive_ms;
			ok = work_tick(e);
		} else if (now >= retry && (s = work_find(e)) != NULL) {
			atomic_fetch_add(&s->refs, 1);
			ok = s->pending ? work_position(e, s) : work_catchup(e, s);
			stream_unref(s);
		} else {
			wait_until(&e->wake, &e->mu, now < retry && retry < tick ? retry : tick);
			continue;
		}
		if (!ok)
			retry = clocks_mono_ms() + RETRY_MS;
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

pigeon_status
http_events_start(http_events **out, const http_events_opts *opts, pigeon_client *client,
    http_metrics *m)
{
	static const char *const topics[] = {PIGEON_TOPIC_JOURNAL, NULL};
	pigeon_subscribe_opts so = {0};
	http_events *e;
	pigeon_status rv;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	e->client = client;
	e->metrics = m;
	e->opts = *opts;
	if (e->opts.keepalive_ms <= 0)
		e->opts.keepalive_ms = 15000;
	rv = PIGEON_RESOURCE_EXHAUSTED;
	if (pthread_mutex_init(&e->mu, NULL) != 0)
		goto fail_free;
	if (wait_cond_init(&e->wake) != 0)
		goto fail_mutex;
	so.url = opts->pub_url;
	so.topics = topics;
	so.gap_fill = client;
	if ((rv = pigeon_subscribe(&e->feed, &so, on_feed, e)) != PIGEON_OK) {
		log_error("http", "cannot subscribe to events url=%s status=%s",
		    opts->pub_url != NULL ? opts->pub_url : PIGEON_DEFAULT_PUB_URL,
		    pigeon_status_name(rv));
		goto fail_cond;
	}
	if (pthread_create(&e->worker, NULL, worker_main, e) != 0) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_feed;
	}
	e->worker_running = true;
	*out = e;
	return PIGEON_OK;

fail_feed:
	pigeon_subscription_close(e->feed);
fail_cond:
	pthread_cond_destroy(&e->wake);
fail_mutex:
	pthread_mutex_destroy(&e->mu);
fail_free:
	free(e);
	return rv;
}

pigeon_status
http_events_open(http_events *e, struct MHD_Connection *conn, bool has_after, uint64_t after,
    http_stream **stream, struct MHD_Response **resp)
{
	http_stream *s;
	struct MHD_Response *r;

	pthread_mutex_lock(&e->mu);
	if (e->stopping || e->open >= e->opts.max_streams) {
		pigeon_status rv = e->stopping ? PIGEON_UNAVAILABLE : PIGEON_RESOURCE_EXHAUSTED;

		pthread_mutex_unlock(&e->mu);
		return rv;
	}
	/* The slot is taken here; stream_destroyed gives it back. */
	e->open++;
	pthread_mutex_unlock(&e->mu);
	http_metrics_stream_open(e->metrics);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto fail_slot;
	s->ev = e;
	s->conn = conn;
	atomic_init(&s->refs, 2);
	r = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, READ_BLOCK, stream_read, s, stream_destroyed);
	if (r == NULL) {
		free(s);
		goto fail_slot;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") !=
		MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES ||
	    MHD_add_response_header(r, "X-Accel-Buffering", "no") != MHD_YES) {
		/* Unlisted: the callback gives the slot back and drops the
		 * response's reference; the caller's is dropped here. */
		MHD_destroy_response(r);
		stream_unref(s);
		return PIGEON_RESOURCE_EXHAUSTED;
	}

	pthread_mutex_lock(&e->mu);
	s->listed = true;
	s->next = e->streams;
	if (e->streams != NULL)
		e->streams->prev = s;
	e->streams = s;
	if (has_after) {
		s->last = after;
		s->catchup = true;
		pthread_cond_signal(&e->wake);
	} else if (e->head != 0) {
		s->last = e->head;
	} else {
		s->pending = true;
		pthread_cond_signal(&e->wake);
	}
	if (e->stopping)
		s->ended = true;
	else if (!s->pending)
		stream_put(s, preface, sizeof(preface) - 1);
	pthread_mutex_unlock(&e->mu);
	*stream = s;
	*resp = r;
	return PIGEON_OK;

fail_slot:
	pthread_mutex_lock(&e->mu);
	e->open--;
	pthread_mutex_unlock(&e->mu);
	http_metrics_stream_close(e->metrics);
	return PIGEON_RESOURCE_EXHAUSTED;
}

uint64_t
http_stream_events(http_stream *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->ev->mu);
	n = s->events;
	pthread_mutex_unlock(&s->ev->mu);
	return n;
}

void
http_stream_release(http_stream *s)
{
	if (s != NULL)
		stream_unref(s);
}

void
http_events_stop(http_events *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	if (e->ended) {
		pthread_mutex_unlock(&e->mu);
		return;
	}
	e->stopping = true;
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->mu);
	if (e->worker_running) {
		pthread_join(e->worker, NULL);
		e->worker_running = false;
	}
	/* Its callback takes mu: not held here. */
	pigeon_subscription_close(e->feed);
	e->feed = NULL;
	pthread_mutex_lock(&e->mu);
	e->ended = true;
	for (http_stream *s = e->streams; s != NULL; s = s->next) {
		s->ended = true;
		stream_wake(s);
	}
	pthread_mutex_unlock(&e->mu);
}

void
http_events_free(http_events *e)
{
	if (e == NULL)
		return;
	http_events_stop(e);
	pthread_cond_destroy(&e->wake);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
