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
	/* Fixed at open: whether it carries the journal, the inbox and
	 * receipts topics it carries ("inbox/<user>", "receipts/<user>") or
	 * NULL, and the token of its journal fetches or NULL. */
	bool journal;
	char *inbox_topic;
	char *receipts_topic;
	char *token;
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
	free(s->inbox_topic);
	free(s->receipts_topic);
	free(s->token);
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

/* Queues ev as one frame.  A journal event has an id, its sequence, and
 * becomes the stream's position; a user's own event (DELIVERED, READ) has
 * neither (its sequence is 0), so a reconnect's Last-Event-ID stays the
 * journal's.  Under mu. */
static void
stream_put_frame(http_stream *s, const Pigeon__V1__Event *ev, bool journal)
{
	const char *type;
	size_t len, n;
	char *json = http_json_event(ev, &type, &len), head[96], *frame;

	if (journal)
		s->last = ev->sequence;
	if (json == NULL) {
		log_warn("http", "event not representable as JSON, skipped sequence=%" PRIu64,
		    ev->sequence);
		return;
	}
	if (journal)
		n = (size_t)snprintf(head, sizeof(head), "id: %" PRIu64 "\nevent: %s\ndata: ",
		    ev->sequence, type);
	else
		n = (size_t)snprintf(head, sizeof(head), "event: %s\ndata: ", type);
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

/* An inbox or receipts event goes to the streams of its user, as it comes:
 * these events are not journaled, so there is nothing to order or fetch
 * again.  receipts is which of the stream's topics to compare. */
static void
on_own(http_events *e, const char *topic, bool receipts, const Pigeon__V1__Event *ev)
{
	pthread_mutex_lock(&e->mu);
	for (http_stream *s = e->streams; s != NULL; s = s->next) {
		const char *mine = receipts ? s->receipts_topic : s->inbox_topic;

		if (stream_live(s) && !s->pending && mine != NULL && strcmp(mine, topic) == 0)
			stream_put_frame(s, ev, false);
	}
	pthread_mutex_unlock(&e->mu);
}

static bool
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The feed's callback.  Each stream of the journal takes a journal event if
 * it is its next one; a stream further behind is left to the worker.  Of
 * the other topics, the inbox and receipts ones go to their users' streams,
 * the rest (the queue's) nowhere. */
static void
on_feed(const char *topic, const Pigeon__V1__Event *ev, void *arg)
{
	http_events *e = arg;
	bool signal = false;

	if (has_prefix(topic, PIGEON_TOPIC_INBOX_PREFIX) ||
	    has_prefix(topic, PIGEON_TOPIC_RECEIPTS_PREFIX)) {
		on_own(e, topic, has_prefix(topic, PIGEON_TOPIC_RECEIPTS_PREFIX), ev);
		return;
	}
	if (strcmp(topic, PIGEON_TOPIC_JOURNAL) != 0 || ev->sequence == 0)
		return;
	pthread_mutex_lock(&e->mu);
	if (ev->sequence > e->head)
		e->head = ev->sequence;
	for (http_stream *s = e->streams; s != NULL; s = s->next) {
		if (!stream_live(s) || !s->journal || s->pending || ev->sequence <= s->last)
			continue;
		if (ev->sequence == s->last + 1 && !s->catchup) {
			stream_put_frame(s, ev, true);
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

/* GetEventJournal through the client with token (NULL: the client's),
 * without mu held. */
static pigeon_status
journal_get(http_events *e, const char *token, uint64_t after, uint32_t page_size,
    Pigeon__V1__GetEventJournalReply **rep)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	ProtobufCMessage *reply;
	pigeon_status st;

	req.after = after;
	req.page_size = page_size;
	if ((st = pigeon_call_token(e->client, "GetEventJournal", token, &req.base, &reply, 0,
		 NULL)) != PIGEON_OK) {
		log_warn("http", "event journal unavailable for /events status=%s",
		    pigeon_status_name(st));
		return st;
	}
	*rep = (Pigeon__V1__GetEventJournalReply *)reply;
	return PIGEON_OK;
}

/* A journal fetch with a stream's token failed for good: the token no
 * longer reads the journal (revoked, expired, no longer an admin's).  The
 * stream ends after what it has queued; its client reconnects and is asked
 * again.  Under mu. */
static bool
stream_refused(http_stream *s, pigeon_status st)
{
	if (s->token == NULL || (st != PIGEON_UNAUTHENTICATED && st != PIGEON_PERMISSION_DENIED))
		return false;
	log_info("http", "event stream ended: its token no longer reads the journal status=%s",
	    pigeon_status_name(st));
	s->ended = true;
	stream_wake(s);
	return true;
}

/* Learns a pending stream's position: the journal's newest event.  Events
 * the feed offered meanwhile were skipped, so a catch-up follows. */
static bool
work_position(http_events *e, http_stream *s)
{
	Pigeon__V1__GetEventJournalReply *rep;

	pigeon_status st;

	pthread_mutex_unlock(&e->mu);
	if ((st = journal_get(e, s->token, 0, 1, &rep)) != PIGEON_OK) {
		pthread_mutex_lock(&e->mu);
		return stream_refused(s, st);
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
	pigeon_status st;
	bool more;

	s->missed = false;
	pthread_mutex_unlock(&e->mu);
	if ((st = journal_get(e, s->token, after, CATCHUP_PAGE, &rep)) != PIGEON_OK) {
		pthread_mutex_lock(&e->mu);
		return stream_refused(s, st);
	}
	pthread_mutex_lock(&e->mu);
	if (after == 0) {
		for (size_t i = rep->n_events; i > 0; i--)
			if (rep->events[i - 1]->sequence > s->last)
				stream_put_frame(s, rep->events[i - 1], true);
		more = false;
	} else {
		for (size_t i = 0; i < rep->n_events; i++)
			if (rep->events[i]->sequence > s->last)
				stream_put_frame(s, rep->events[i], true);
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
 * behind it (an event the feed lost) catch up.  In required mode the check is
 * made with the token of a stream of the journal, and skipped when none is
 * open. */
static bool
work_tick(http_events *e)
{
	Pigeon__V1__GetEventJournalReply *rep;
	http_stream *by = NULL;
	pigeon_status st;

	for (http_stream *s = e->streams; s != NULL; s = s->next)
		stream_put(s, keepalive, sizeof(keepalive) - 1);
	if (e->opts.auth_required) {
		for (http_stream *s = e->streams; s != NULL && by == NULL; s = s->next)
			if (stream_live(s) && s->journal)
				by = s;
		if (by == NULL)
			return true;
		atomic_fetch_add(&by->refs, 1);
	}
	pthread_mutex_unlock(&e->mu);
	st = journal_get(e, by != NULL ? by->token : NULL, 0, 1, &rep);
	pthread_mutex_lock(&e->mu);
	if (st != PIGEON_OK) {
		bool refused = by != NULL && stream_refused(by, st);

		if (by != NULL)
			stream_unref(by);
		return refused;
	}
	if (by != NULL)
		stream_unref(by);
	if (rep->last_sequence > e->head)
		e->head = rep->last_sequence;
	for (http_stream *s = e->streams; s != NULL; s = s->next)
		if (stream_live(s) && s->journal && !s->pending && s->last < rep->last_sequence)
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
	/* Every topic, for the inbox and receipts ones (an exact topic per
	 * user is not known when subscribing).  Required mode: no gap
	 * filling, which would call GetEventJournal without a token. */
	so.topics = NULL;
	so.gap_fill = opts->auth_required ? NULL : client;
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
http_events_open(http_events *e, struct MHD_Connection *conn, const http_stream_opts *o,
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
	s->journal = o->journal;
	atomic_init(&s->refs, 2);
	if (o->user != NULL &&
	    asprintf(&s->inbox_topic, "%s%s", PIGEON_TOPIC_INBOX_PREFIX, o->user) < 0)
		s->inbox_topic = NULL;
	if (o->user != NULL &&
	    asprintf(&s->receipts_topic, "%s%s", PIGEON_TOPIC_RECEIPTS_PREFIX, o->user) < 0)
		s->receipts_topic = NULL;
	if (o->token != NULL)
		s->token = strdup(o->token);
	if ((o->user != NULL && (s->inbox_topic == NULL || s->receipts_topic == NULL)) ||
	    (o->token != NULL && s->token == NULL))
		goto fail_stream;
	r = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, READ_BLOCK, stream_read, s, stream_destroyed);
	if (r == NULL)
		goto fail_stream;
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
	if (!s->journal) {
		/* The user's own events only: no position to learn. */
	} else if (o->has_after) {
		s->last = o->after;
		s->catchup = true;
		pthread_cond_signal(&e->wake);
	} else if (o->has_head) {
		s->last = o->head > e->head ? o->head : e->head;
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

fail_stream:
	free(s->inbox_topic);
	free(s->receipts_topic);
	free(s->token);
	free(s);
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
