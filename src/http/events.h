/* SPDX-License-Identifier: MIT */
/*
 * GET /events: the live event journal as Server-Sent Events.  One shared
 * subscription to pigeond's pub socket (the journal topic, gaps filled by
 * libpigeon) fans out to every open stream; each stream keeps the last
 * sequence it queued and takes a journal event only when it is the next one,
 * so its frames come exactly once and in order.  Anything a stream cannot
 * take from the feed (a reconnect's Last-Event-ID, a gap) is fetched with
 * GetEventJournal(after) by one worker thread per bridge, which also writes a
 * keep-alive comment to every stream each keep-alive period and then asks the
 * journal for its newest sequence, so an event the feed lost is fetched
 * within one period.
 *
 * The subscription takes every topic, for the inbox and receipts topics of
 * the users whose streams are open (an exact topic per user is not known
 * when subscribing): a stream may carry one user's own events, DELIVERED to
 * their inbox and READ receipts of their messages, which are not journaled
 * and go to it as they come.  In required mode the journal is an admin's,
 * and the bridge has no token of its own: the subscription goes without
 * libpigeon's gap filling, a stream carries the own events of one user and,
 * for an admin, the journal's, and each journal fetch is made with the
 * token of a stream that carries the journal.  A stream whose token no longer reads the journal
 * (revoked, expired) ends; its client reconnects and is asked again.  Which
 * streams may carry what is decided before they open (api.c), not here.
 *
 * A stream is a libmicrohttpd response read by a callback: with nothing
 * queued the callback suspends the connection, and queueing resumes it.  A
 * suspended connection does not notice its client leaving; the next
 * keep-alive write does, so a dead stream holds its slot for at most two
 * periods.  The HTTP side (routing, the status of a refused stream, the
 * access log) is server.c's.
 */
#ifndef PIGEON_HTTP_EVENTS_H
#define PIGEON_HTTP_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>
#include <pigeon/pigeon.h>

#include "metrics.h"

/* A stream's queued bytes beyond which it is closed: a client reading that
 * slowly reconnects with Last-Event-ID and loses nothing. */
#define HTTP_EVENTS_QUEUE_MAX (1024u * 1024)

typedef struct http_events http_events;
typedef struct http_stream http_stream;

typedef struct http_events_opts {
	/* pigeond's pub address; NULL: PIGEON_DEFAULT_PUB_URL. */
	const char *pub_url;
	/* Streams open at once; more get RESOURCE_EXHAUSTED. */
	unsigned max_streams;
	/* Period of the keep-alive comment and the journal check, ms. */
	int keepalive_ms;
	/* --auth required: no gap filling, fetches with the streams'
	 * tokens. */
	bool auth_required;
} http_events_opts;

/* What one stream carries and where it starts. */
typedef struct http_stream_opts {
	/* Journal events; without, only the user's own. */
	bool journal;
	/* With journal: start with the events after `after`. */
	bool has_after;
	uint64_t after;
	/* With journal and without has_after: the journal's newest sequence as
	 * the caller learnt it, where the stream starts unless the feed has
	 * seen a newer one. */
	bool has_head;
	uint64_t head;
	/* This user's own events, or NULL for none: the DELIVERED events of
	 * their inbox (topic inbox/<user>) and the READ receipts of the
	 * messages they sent (topic receipts/<user>).  Copied. */
	const char *user;
	/* The session token of the stream's journal fetches, or NULL for the
	 * client's.  Copied. */
	const char *token;
} http_stream_opts;

/* Subscribes to the journal and starts the worker thread.  Borrows opts
 * (copied), client (for GetEventJournal) and m, which must outlive the
 * result.  INVALID_ARGUMENT: a malformed pub_url; RESOURCE_EXHAUSTED without
 * memory or threads. */
pigeon_status http_events_start(http_events **out, const http_events_opts *opts,
    pigeon_client *client, http_metrics *m);

/* Opens a stream on conn: *resp is the response to queue with status 200
 * (the caller queues and destroys it), *stream the caller's reference to the
 * stream, released with http_stream_release.  With o->has_after the stream
 * starts with the journal events after o->after; without, with the events
 * after the newest one when it opened.  RESOURCE_EXHAUSTED: max_streams are
 * open or no memory; UNAVAILABLE: stopping.  Borrows conn, which the stream
 * resumes and suspends until libmicrohttpd destroys the response, and o. */
pigeon_status http_events_open(http_events *ev, struct MHD_Connection *conn,
    const http_stream_opts *o, http_stream **stream, struct MHD_Response **resp);

/* Events the stream has queued so far, for the access log. */
uint64_t http_stream_events(http_stream *s);

/* Drops the caller's reference.  Accepts NULL. */
void http_stream_release(http_stream *s);

/* Refuses new streams, stops the worker and the subscription, and ends
 * every stream (each sends what it has queued, then ends its body).  Call
 * before MHD_stop_daemon, which must not find a connection suspended.
 * Accepts NULL and a stopped object. */
void http_events_stop(http_events *ev);

/* Frees it, after http_events_stop and after the daemon has destroyed every
 * stream's response.  Accepts NULL. */
void http_events_free(http_events *ev);

#endif
