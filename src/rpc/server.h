/* SPDX-License-Identifier: MIT */
/*
 * The RPC server: an nng rep socket with many contexts, each driven by
 * callbacks (receive, dispatch, send, receive again), so that as many
 * requests are in flight as there are contexts without a thread per request.
 * What a request means is the dispatcher's business.
 */
#ifndef PIGEON_RPC_SERVER_H
#define PIGEON_RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

#include "dispatch.h"

typedef struct rpc_server rpc_server;

typedef struct rpc_server_opts {
	/* Where to listen (tcp:// or ipc://); NULL: PIGEON_DEFAULT_RPC_URL. */
	const char *url;
	/* NNG_OPT_RECVMAXSZ: a peer announcing a larger frame is dropped before
	 * anything is allocated; 0: RPC_REQUEST_MAX_DEFAULT. */
	size_t recv_max;
	/* Requests in flight at most; 0: 256. */
	unsigned contexts;
} rpc_server_opts;

/* Listens and starts serving requests through `d` (borrowed; must outlive
 * the server).  UNAVAILABLE when the address is in use, INVALID_ARGUMENT for
 * a malformed url, RESOURCE_EXHAUSTED without memory. */
pigeon_status rpc_server_open(rpc_server **out, const rpc_server_opts *opts, rpc_dispatcher *d);

/* The first step of a graceful stop.  From now on every request received is
 * answered UNAVAILABLE ("pigeond is stopping") without being executed, which
 * a client may retry, here or at the pigeond that replaces this one; then
 * this waits until the requests in flight have been answered, or the latest
 * deadline of the requests dispatched has passed (no client waits for an
 * answer after it), or max_ms, whichever comes first.  The listener stays
 * open meanwhile: nng 1.5 closes the connections a listener accepted when it
 * closes, which would drop the answers of the requests in flight.  Returns
 * the number of requests still in flight (0 when all were answered).  Once,
 * before rpc_server_close, from one thread. */
unsigned rpc_server_drain(rpc_server *s, int64_t max_ms);

/* Stops listening and receiving, waits for the requests in flight to be
 * answered (their handlers must still be able to finish: the store fails
 * what it cannot do within its I/O timeout), after a drain waits 100 ms more
 * (server.c says why), closes the socket, which frees the address for
 * another pigeond, and frees the server.  Accepts NULL. */
void rpc_server_close(rpc_server *s);

#endif
