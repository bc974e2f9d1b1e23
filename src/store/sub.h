/* SPDX-License-Identifier: MIT */
/*
 * A Redis pub/sub subscriber for the events role: one connection on its own
 * thread, subscribed to a fixed set of channels, reconnecting with backoff
 * (50 ms doubling to 2 s) whenever the connection drops or stops answering.
 * The payloads are the JSON events the store's scripts publish
 * (docs/redis-schema.md).  Pub/sub loses what is published while the
 * connection is down: on_connect runs after every (re)subscription so the
 * caller can catch up from the journal.
 */
#ifndef PIGEON_STORE_SUB_H
#define PIGEON_STORE_SUB_H

#include <stddef.h>

#include <pigeon/wire.h>

typedef struct store_sub store_sub;

/* Receives one published message.  Runs on the subscriber's thread, one
 * message at a time in the order Redis sent them; channel and payload are
 * borrowed and live only during the call (payload is also NUL-terminated). */
typedef void (*store_sub_fn)(void *arg, const char *channel, const char *payload, size_t len);

/* Starts a subscriber of `channels` (a NULL-terminated array of at most 16
 * names, copied) on the Redis at url (NULL: redis://127.0.0.1:6379).
 * on_connect (may be NULL) runs on the subscriber's thread after each
 * successful subscription, before the messages that follow it.  Succeeds
 * while Redis is down.  INVALID_ARGUMENT for a malformed url or no channels,
 * RESOURCE_EXHAUSTED without memory. */
pigeon_status store_sub_open(store_sub **out, const char *url, const char *const *channels,
    store_sub_fn fn, void (*on_connect)(void *arg), void *arg);

/* Stops the thread and closes the connection; no callback runs after it
 * returns.  Must not be called from a callback.  Accepts NULL. */
void store_sub_close(store_sub *s);

#endif
