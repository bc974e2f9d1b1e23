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

/* Stops listening, waits for the requests in flight to be answered (their
 * handlers must still be able to finish), and frees the server.  Accepts
 * NULL. */
void rpc_server_close(rpc_server *s);

#endif
