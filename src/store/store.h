/* SPDX-License-Identifier: MIT */
/*
 * The store: the only code that speaks Redis.  It owns the Redis schema
 * (docs/redis-schema.md), the Lua scripts, connections and reconnects.
 *
 * A store holds a few pipelining connections (two by default), each driven
 * by its own I/O thread: operations are spread over them in turn (passing
 * over a connection that is down while another is up) and queued,
 * and a thread writes all its queued commands in one go and reads their
 * replies, so requests in flight share round trips, and one connection's
 * commands keep Redis busy while the other thread waits for replies or runs
 * callbacks.  Each mutating operation is one Lua script (EVALSHA).  A
 * connection that Redis closed while it was idle (a restart) reconnects
 * before its next batch is sent.  While Redis cannot be reached, operations
 * complete at once with PIGEON_UNAVAILABLE and each thread reconnects with
 * backoff by itself.
 * Two operations submitted one after the other without waiting for the
 * first's callback may run in either order.
 *
 * Operations are asynchronous: the callback runs exactly once, on the store's
 * thread, with the status, a message for humans on failure, and on success the
 * reply message; `reply` and `errmsg` are borrowed and live only during the
 * callback.  Callbacks must not block.  Every operation borrows its
 * arguments (copied before it returns).  Thread-safe.
 *
 * Inside src/store, one job a file: store.c is this API and what each
 * operation asks Redis; conn.c the connections and their I/O threads;
 * reply.c the conversion of replies (and published events) into messages,
 * pure; users.c the users file; redis.c what every connection shares; sub.c
 * the pub/sub subscriber (sub.h) and queue.c the worker's queue (queue.h).
 */
#ifndef PIGEON_STORE_H
#define PIGEON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>
#include <pigeon/v1/pigeon.pb-c.h>

#include "prom.h"

typedef struct store store;

typedef struct store_opts {
	/* "redis://host:port" or "unix:/path/to/redis.sock"; NULL:
	 * "redis://127.0.0.1:6379". */
	const char *url;
	/* Journal entries kept (XADD MAXLEN ~); 0: 1,000,000. */
	uint64_t journal_max;
	/* Users file read at open: each line "username regular|admin", '#'
	 * comments; added only when missing (HSETNX).  NULL: none. */
	const char *users_file;
	/* Connections to Redis, each with its own I/O thread; 0:
	 * STORE_CONNECTIONS_DEFAULT, at most STORE_CONNECTIONS_MAX. */
	unsigned connections;
	/* How long a session lives after its user's last activity (Login,
	 * Heartbeat, SendMessage as the sender), ms; 0:
	 * STORE_PRESENCE_TTL_DEFAULT_MS. */
	int64_t presence_ttl_ms;
} store_opts;

#define STORE_CONNECTIONS_DEFAULT 2
#define STORE_CONNECTIONS_MAX 16
#define STORE_PRESENCE_TTL_DEFAULT_MS 60000

/* Opens the store and starts its threads, which connect in the background.
 * Succeeds while Redis is down.  RESOURCE_EXHAUSTED without memory,
 * INVALID_ARGUMENT for a malformed url or too many connections, NOT_FOUND
 * for a missing users file. */
pigeon_status store_open(store **out, const store_opts *opts);

/* Fails every queued operation with CANCELLED, stops the threads, closes the
 * connections.  Accepts NULL. */
void store_close(store *st);

/* True while every connection to Redis is up. */
bool store_connected(const store *st);

typedef void (*store_cb)(
    void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply);

/* What the store knows of a user's sign-in (docs/auth.md); every string
 * borrowed for the callback only. */
typedef struct store_auth {
	/* The user exists. */
	bool exists;
	bool admin;
	/* The argon2id hash of the user's password; "" when there is none. */
	const char *hash;
	/* The user's token generation (RevokeSessions bumps it). */
	uint64_t generation;
	/* The session asked about is revoked. */
	bool revoked;
	/* Failed logins of the username in the current window; for
	 * store_auth_register_count, registrations in its window. */
	uint64_t count;
} store_auth;

typedef void (*store_auth_cb)(
    void *arg, pigeon_status st, const char *errmsg, const store_auth *a);

/* What one presence step did (store_presence_sweep, store_presence_adopt);
 * borrowed for the callback only. */
typedef struct store_presence {
	/* Sweep: sessions past their deadline taken, at most the batch (fewer:
	 * none is left).  Adopt: users listed online that got a deadline. */
	uint64_t taken;
	/* Sweep: the sessions of those this step ended, each journaled as a
	 * LOGOUT with reason "expired" (the others had ended meanwhile). */
	uint64_t ended;
	/* Adopt: the cursor of the next step, "0" after the last; sweep: "". */
	const char *cursor;
	/* Due: some session's deadline has passed. */
	bool due;
} store_presence;

typedef void (*store_presence_cb)(
    void *arg, pigeon_status st, const char *errmsg, const store_presence *p);

/* Each operation answers with the reply message of the RPC of the same name,
 * and the codes pigeon.proto lists for it.  The RPC layer has validated the
 * arguments (usernames, content) before calling.
 *
 * Presence (docs/redis-schema.md): Login opens a session that lives
 * presence_ttl_ms after the user's last activity; Login, SendMessage (as the
 * sender), MarkRead and Heartbeat are activity.  Logout ends it, and so does the sweep
 * once its deadline has passed (or the user's next Login or Heartbeat, if
 * that comes first). */
void store_login(store *st, const char *username, store_cb cb, void *arg);
void store_logout(store *st, const char *username, store_cb cb, void *arg);
/* The same for sessions (--auth required): logging in while online, and
 * out while offline, are not errors; each still journals its event.  A user
 * may hold several sessions, each with its own deadline: login opens
 * `session`; logout ends it, and the user stays online while another lives
 * ("" ends them all). */
void store_login_again(
    store *st, const char *username, const char *session, store_cb cb, void *arg);
void store_logout_again(
    store *st, const char *username, const char *session, store_cb cb, void *arg);
void store_send_message(
    store *st, const Pigeon__V1__SendMessageRequest *req, store_cb cb, void *arg);
void store_get_user_stats(store *st, const char *username, store_cb cb, void *arg);
void store_list_inbound_messages(store *st, const Pigeon__V1__ListInboundMessagesRequest *req,
    store_cb cb, void *arg);
void store_get_spammer_stats(store *st, uint32_t limit, store_cb cb, void *arg);
void store_get_chatter_stats(store *st, uint32_t limit, store_cb cb, void *arg);
/* Moves a live session's deadline to presence_ttl_ms from now:
 * HeartbeatReply online, or not online when there is no live session.
 * `session` names one of the user's sessions (store_login_again), which must
 * be live itself; "" the user's as a whole. */
void store_heartbeat(
    store *st, const char *username, const char *session, store_cb cb, void *arg);
void store_get_user(store *st, const char *username, store_cb cb, void *arg);
/* Marks the messages delivered to username with ids up to up_to_id read,
 * each once, publishing a READ event for each (STORE_CHANNEL_READ):
 * MarkReadReply. */
void store_mark_read(store *st, const char *username, uint64_t up_to_id, store_cb cb, void *arg);
/* The message `id` as its recipient `username` sees it, for a report:
 * ReportMessageReply with changed false; NOT_FOUND for no such message and
 * for another user's alike. */
void store_read_message(store *st, const char *username, uint64_t id, store_cb cb, void *arg);
/* ReportMessage, with the Bayes tokens (ntokens strings) of the message's
 * content as store_read_message gave it: the state change and the
 * learning in one script (docs/redis-schema.md, "Spam learning"). */
void store_report(store *st, const char *username, uint64_t id, bool spam,
    const char *const *tokens, size_t ntokens, store_cb cb, void *arg);
/* Train: batch holds, for each text, "spam" or "ham", its token count k in
 * decimal, then its k tokens; n strings in all.  TrainReply. */
void store_train(store *st, const char *const *batch, size_t n, store_cb cb, void *arg);
void store_list_online_users(
    store *st, const Pigeon__V1__ListOnlineUsersRequest *req, store_cb cb, void *arg);
void store_get_event_journal(
    store *st, const Pigeon__V1__GetEventJournalRequest *req, store_cb cb, void *arg);
/* ALREADY_EXISTS also for a name whose skeleton (validate.h) an existing
 * user has.  Should computing the skeleton fail, cb runs at once on the
 * caller's thread (as without memory). */
void store_register_user(
    store *st, const Pigeon__V1__RegisterUserRequest *req, store_cb cb, void *arg);
/* The same with the new user's password hash (argon2id string), kept in the
 * user's sign-in state. */
void store_register_user_password(store *st, const Pigeon__V1__RegisterUserRequest *req,
    const char *hash, store_cb cb, void *arg);
/* HealthReply with status, queue_depth, queue_pending, dead_letters, workers
 * filled; uptime and version are the caller's.  Answers OK with
 * NOT_SERVING while Redis is down. */
void store_health(store *st, store_cb cb, void *arg);

/* Sign-in state of username, and whether `session` ("" or NULL: none) is
 * revoked at now_ms. */
void store_auth_read(store *st, const char *username, const char *session, int64_t now_ms,
    store_auth_cb cb, void *arg);
/* Counts a failed login of username (known or not) in a window of
 * window_ms that starts with the first failure; a->count is the new count. */
void store_auth_fail(
    store *st, const char *username, int64_t window_ms, store_auth_cb cb, void *arg);
/* Revokes one session of username until expires_ms. */
void store_auth_revoke(store *st, const char *username, const char *session, int64_t expires_ms,
    int64_t now_ms, store_auth_cb cb, void *arg);
/* Revokes every token of username: a->generation is the new generation.
 * NOT_FOUND: no such user. */
void store_auth_revoke_all(store *st, const char *username, store_auth_cb cb, void *arg);
/* Counts one registration in a window of window_ms that starts with the
 * first; a->count is the count. */
void store_auth_register_count(store *st, int64_t window_ms, store_auth_cb cb, void *arg);

/* Whether a session's deadline has passed (p->due), by Redis's clock: what
 * a sweeper asks before it sweeps.  Writes nothing. */
void store_presence_due(store *st, store_presence_cb cb, void *arg);
/* Ends up to batch sessions whose deadline has passed, each with a LOGOUT
 * journaled once, however many stores sweep the same Redis at once. */
void store_presence_sweep(store *st, unsigned batch, store_presence_cb cb, void *arg);
/* One step of the pass that gives each user listed online without a
 * deadline (logged in before sessions had deadlines) one presence TTL from
 * now.  cursor: "0" for the first step, then the one the step before
 * answered, until that is "0". */
void store_presence_adopt(store *st, const char *cursor, store_presence_cb cb, void *arg);

/* Renders the store's metrics into t: round trips to Redis and reconnects.
 * Safe from any thread. */
void store_render(store *st, prom_text *t);

#endif
