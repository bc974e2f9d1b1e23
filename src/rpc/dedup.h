/* SPDX-License-Identifier: MIT */
/*
 * Request de-duplication.  nng's req socket resends a request after its
 * resend time and when a pipe reconnects, so the server can see one request
 * several times.  This table remembers recent (client_id, request_id) pairs:
 * the first arrival executes; a copy arriving while it runs waits for its
 * answer; a copy arriving after gets the stored answer.  Bounded: the oldest
 * finished entries are forgotten first.  Thread-safe.
 */
#ifndef PIGEON_RPC_DEDUP_H
#define PIGEON_RPC_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

typedef struct dedup dedup;

/* Receives the packed reply for a request; buf lives only during the call. */
typedef void (*dedup_reply_fn)(void *arg, const uint8_t *buf, size_t len);

typedef enum dedup_state {
	/* First arrival: recorded as in flight; the caller executes it and
	 * calls dedup_finish. */
	DEDUP_NEW,
	/* A copy of a request in flight: fn will be called by dedup_finish. */
	DEDUP_WAITING,
	/* A copy of a finished request: fn has been called with its answer. */
	DEDUP_ANSWERED,
	/* Not recorded (the table is full of requests in flight): execute it
	 * without de-duplication and do not call dedup_finish. */
	DEDUP_UNTRACKED,
} dedup_state;

/* A table remembering up to `capacity` requests.  RESOURCE_EXHAUSTED
 * without memory. */
pigeon_status dedup_new(dedup **out, size_t capacity);
/* Frees the table.  Waiters still attached are dropped uncalled. */
void dedup_free(dedup *d);

/* Looks the request up; see dedup_state.  Borrows fn/arg until called. */
dedup_state dedup_begin(
    dedup *d, uint64_t client_id, uint64_t request_id, dedup_reply_fn fn, void *arg);

/* Records the answer of a request that dedup_begin called NEW, and hands it
 * to every waiting copy.  Copies buf. */
void dedup_finish(dedup *d, uint64_t client_id, uint64_t request_id, const uint8_t *buf,
    size_t len);

/* Hands the answer of a request that dedup_begin called NEW to every waiting
 * copy, and forgets the request: a copy arriving later executes again.  For
 * answers that mean "not done, try again" (UNAVAILABLE), which a client
 * retries with the same request id.  Borrows buf. */
void dedup_forget(dedup *d, uint64_t client_id, uint64_t request_id, const uint8_t *buf,
    size_t len);

/* Entries held now (for tests and metrics). */
size_t dedup_size(dedup *d);

#endif
