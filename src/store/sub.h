/* SPDX-License-Identifier: MIT */
/*
 * A Redis pub/sub subscriber for the events role: one connection on its own
 * thread, subscribed to the channels the store's scripts publish on
 * (event_journal, message_queue, message_delivered, message_read;
 * docs/redis-schema.md),
 * reconnecting with backoff (50 ms doubling to 2 s) whenever the connection
 * drops or stops answering.  It decodes each payload (reply.c, the same
 * decoding as the journal's entries) and hands on the pigeon.v1.Event with
 * the topic it goes out under (docs/events.md): the caller sees neither
 * channel names nor JSON.  Payloads that are not an event are logged and
 * dropped.  Pub/sub loses what is published while the connection is down:
 * on_connect runs after every (re)subscription so the caller can catch up
 * from the journal.
 */
#ifndef PIGEON_STORE_SUB_H
#define PIGEON_STORE_SUB_H

#include <stddef.h>

#include <pigeon/wire.h>
#include <pigeon/v1/event.pb-c.h>

typedef struct store_sub store_sub;

/* Receives one published event and its topic: PIGEON_TOPIC_JOURNAL (a
 * journaled event, sequence set), PIGEON_TOPIC_QUEUE (QUEUED),
 * PIGEON_TOPIC_INBOX_PREFIX and the recipient (DELIVERED) or
 * PIGEON_TOPIC_RECEIPTS_PREFIX and the sender (READ).  Runs on the
 * subscriber's thread, one event at a time in the order Redis sent them;
 * topic and ev are borrowed and live only during the call. */
typedef void (*store_sub_fn)(void *arg, const char *topic, const Pigeon__V1__Event *ev);

/* Starts a subscriber on the Redis at url (NULL: redis://127.0.0.1:6379).
 * on_connect (may be NULL) runs on the subscriber's thread after each
 * successful subscription, before the events that follow it.  Succeeds
 * while Redis is down.  INVALID_ARGUMENT for a malformed url or no fn,
 * RESOURCE_EXHAUSTED without memory. */
pigeon_status store_sub_open(
    store_sub **out, const char *url, store_sub_fn fn, void (*on_connect)(void *arg), void *arg);

/* Receives one message of the auth channel (STORE_CHANNEL_AUTH: the name of
 * a user whose sign-in state changed), len bytes, borrowed for the call. */
typedef void (*store_sub_raw_fn)(void *arg, const char *payload, size_t len);

/* A subscriber of the auth channel alone, for pigeond's cache of sign-in
 * state (docs/auth.md): fn gets each message as published; on_connect runs
 * after each successful subscription and on_lost (may be NULL) when the
 * connection is lost, both on the subscriber's thread.  As store_sub_open
 * otherwise. */
pigeon_status store_sub_open_auth(store_sub **out, const char *url, store_sub_raw_fn fn,
    void (*on_connect)(void *arg), void (*on_lost)(void *arg), void *arg);

/* Stops the thread and closes the connection; no callback runs after it
 * returns.  Must not be called from a callback.  Accepts NULL. */
void store_sub_close(store_sub *s);

#endif
