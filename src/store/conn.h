/* SPDX-License-Identifier: MIT */
/*
 * The store's connections to Redis and the I/O threads that drive them
 * (store.h says what callers see of it).  Each connection has its own
 * thread and queue of operations: operations are spread over the
 * connections in turn, passing over one that is down while another is up;
 * a thread takes every operation queued on its connection, writes all their
 * commands in one go and reads the replies in order, so requests in flight
 * share round trips, and while one thread waits for replies or runs
 * callbacks another's commands keep Redis busy.  Each connection loads the
 * scripts and writes the users file's users and every user's skeleton
 * (users.h) at every connect, before it serves;
 * one that Redis closed while it sat idle reconnects before its next batch;
 * while Redis cannot be reached, operations fail at once with UNAVAILABLE
 * and each thread reconnects with backoff (50 ms doubling to 2 s) by itself.
 * It turns no reply into a message (reply.c does) and builds no command
 * (store.c does).  Nothing outside src/store includes this header.
 */
#ifndef PIGEON_STORE_CONN_H
#define PIGEON_STORE_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <pigeon/wire.h>

#include "redis.h"
#include "reply.h"
#include "store.h"
#include "users.h"

/* One operation: its command, whom to answer, and while it is in flight its
 * replies. */
typedef struct store_op {
	struct store_op *next;
	store_reply_req req;
	/* A store_script, or -1 for the plain command in argv. */
	int script;
	int argc;
	/* argc of each, in the operation's own allocation. */
	char **argv;
	size_t *lens;
	/* When not 0, argv holds two plain commands, argv[0..split) and
	 * argv[split..argc), written one after the other; the second's reply
	 * goes to reply2 (the journal's GET of its last sequence, the earliest
	 * session deadline after Redis's TIME). */
	int split;

	/* Owned by the I/O thread. */
	bool sent;
	redisReply *reply;
	redisReply *reply2;
} store_op;

/* A new operation whose argv (argc strings) is copied with it into one
 * allocation; req.username is argv[0].  Without
 * memory it runs cb at once, on the caller's thread, with
 * RESOURCE_EXHAUSTED, and returns NULL. */
store_op *store_op_new(store_op_kind kind, int script, int argc, const char *const *argv,
    store_cb cb, void *arg);
/* The same for a STORE_OP_AUTH operation, which answers through cb. */
store_op *store_op_new_auth(
    int script, int argc, const char *const *argv, store_auth_cb cb, void *arg);
/* The same for a STORE_OP_PRESENCE or STORE_OP_PRESENCE_DUE operation,
 * which answers through cb. */
store_op *store_op_new_presence(store_op_kind kind, int script, int argc, const char *const *argv,
    store_presence_cb cb, void *arg);

typedef struct store_conns store_conns;

/* Starts n connections' threads to the Redis at url (copied), which connect
 * in the background; each writes users (borrowed until close) at every
 * connect.  RESOURCE_EXHAUSTED without memory or threads. */
pigeon_status store_conns_open(
    store_conns **out, const store_url *url, const store_users *users, unsigned n);

/* Fails every queued operation with CANCELLED, stops the threads, closes
 * the connections.  Accepts NULL. */
void store_conns_close(store_conns *cs);

/* True while every connection is up. */
bool store_conns_up(const store_conns *cs);

/* Queues op (taken) on a connection; its callback runs on that
 * connection's thread.  Accepts NULL (store_op_new failed).  Thread-safe. */
void store_conns_submit(store_conns *cs, store_op *op);

/* Renders round trips to Redis and reconnects into t.  Any thread. */
void store_conns_render(store_conns *cs, prom_text *t);

#endif
