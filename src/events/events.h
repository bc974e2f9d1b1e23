/* SPDX-License-Identifier: MIT */
/*
 * The events relay: pigeond's `events` role.  It takes the events the
 * store's subscriber (src/store/sub.h) hands it, already decoded and with
 * their topic, and rebroadcasts each on an nng pub socket as the topic's
 * bytes, one NUL byte and a packed pigeon.v1.Event (src/protocol/frame.h,
 * docs/events.md).  Topics: event_journal, message_queue and
 * inbox/<recipient> for delivered messages.  It remembers the last journal
 * sequence it published: after a lost Redis subscription, or on a gap in the
 * live journal events, it republishes the missed ones from the journal in
 * order, and it drops live journal events it has already published.  It
 * knows no Redis channel and parses no payload (src/store does both) and
 * keeps no state across restarts: a fresh relay starts after the journal's
 * newest event.
 */
#ifndef PIGEON_EVENTS_H
#define PIGEON_EVENTS_H

#include <stddef.h>

#include <pigeon/wire.h>

#include "prom.h"

typedef struct events_relay events_relay;

typedef struct events_opts {
	/* As store_opts.url; NULL: redis://127.0.0.1:6379. */
	const char *redis_url;
	/* Where the pub socket listens; NULL: PIGEON_DEFAULT_PUB_URL. */
	const char *pub_url;
	/* NNG_OPT_RECVMAXSZ of the pub socket (it receives nothing); 0: 64 KiB. */
	size_t recv_max;
	/* --auth required: events go out without message content (a DELIVERED
	 * event names the message; its recipient reads it with a token). */
	bool redact_content;
} events_opts;

/* Listens on the pub url and starts relaying; the Redis connections are made
 * in the background and remade when they drop, so this succeeds while Redis
 * is down.  Borrows opts.  INVALID_ARGUMENT for a malformed url,
 * UNAVAILABLE when the address is taken, RESOURCE_EXHAUSTED without memory. */
pigeon_status events_start(events_relay **out, const events_opts *opts);

/* Stops relaying and closes the socket and connections.  Accepts NULL. */
void events_stop(events_relay *ev);

/* Renders the relay's metrics into t: events published, and journal events
 * published from the journal to fill a gap.  Safe from any thread. */
void events_render(events_relay *r, prom_text *t);

#endif
