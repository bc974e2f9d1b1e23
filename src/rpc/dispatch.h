/* SPDX-License-Identifier: MIT */
/*
 * Dispatch: from one request's bytes to one reply's bytes, through the
 * service descriptor protoc-c generates.  Checks, in order: the size limit,
 * the envelope (garbage or truncated bytes are INVALID_ARGUMENT), a resent
 * copy (answered from the de-duplication table, which does not keep
 * UNAVAILABLE answers: a retry of those runs again), the deadline
 * (DEADLINE_EXCEEDED without doing the work), the method (UNIMPLEMENTED),
 * the payload (INVALID_ARGUMENT); then calls the service's handler.  No
 * sockets here: the server feeds it, and unit tests drive it directly.
 *
 * Handlers are the generated service's function pointers.  A handler
 * finishes exactly once, maybe later and on another thread: with a reply by
 * calling its closure, or with an error by rpc_call_fail.  Its input lives
 * until then.
 */
#ifndef PIGEON_RPC_DISPATCH_H
#define PIGEON_RPC_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>
#include <protobuf-c/protobuf-c.h>

#include "prom.h"

typedef struct rpc_dispatcher rpc_dispatcher;

#define RPC_REQUEST_MAX_DEFAULT (256 * 1024)

typedef struct rpc_dispatch_opts {
	/* Largest request accepted, bytes; 0: RPC_REQUEST_MAX_DEFAULT. */
	size_t request_max;
	/* Requests remembered for de-duplication; 0: 65536. */
	size_t dedup_capacity;
	/* Methods whose requests are de-duplicated, NULL-terminated; NULL:
	 * every method. */
	const char *const *dedup_methods;
} rpc_dispatch_opts;

/* Receives one packed ReplyEnvelope; buf lives only during the call. */
typedef void (*rpc_reply_fn)(void *arg, const uint8_t *buf, size_t len);

/* A dispatcher for `svc` (borrowed; must outlive it).  INVALID_ARGUMENT for
 * a dedup method the service does not have. */
pigeon_status rpc_dispatcher_new(
    rpc_dispatcher **out, ProtobufCService *svc, const rpc_dispatch_opts *opts);
/* Frees it.  No request may be in flight.  Accepts NULL. */
void rpc_dispatcher_free(rpc_dispatcher *d);

/* The latest deadline (ms since the Unix epoch) of the requests dispatched
 * so far; INT64_MAX once one came without a deadline, 0 before the first.  No
 * request in flight has a later deadline, so a server that stops need not
 * wait for an answer past it.  Thread-safe. */
int64_t rpc_dispatcher_deadline_max(rpc_dispatcher *d);

/* Handles one request; calls fn exactly once with the reply, now or later
 * and possibly on another thread.  Borrows buf only during the call. */
void rpc_dispatch(rpc_dispatcher *d, const void *buf, size_t len, rpc_reply_fn fn, void *arg);

/* Renders the dispatcher's metrics into t (docs/operations.md lists them):
 * requests by method and code, their duration, requests in flight, resends
 * answered from the de-duplication table.  Safe from any thread. */
void rpc_dispatcher_render(const rpc_dispatcher *d, prom_text *t);

/* The session token of the request whose handler got `closure_data` (its
 * envelope's `token`, "" when none); lives until the request finishes. */
const char *rpc_call_token(void *closure_data);

/* Finishes the request whose handler got `closure_data` with an error status
 * (not OK) and a message for humans. */
void rpc_call_fail(void *closure_data, pigeon_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Finishes the request whose handler got `closure_data`: with `reply` when st
 * is OK (borrowed), else with st and errmsg.  Has the signature of a store
 * callback, so a handler can pass it and its closure_data straight on. */
void rpc_call_done(
    void *closure_data, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply);

#endif
