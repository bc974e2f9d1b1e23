/* SPDX-License-Identifier: MIT */
/*
 * libpigeon: the C client of the Pigeon messaging service.
 *
 * A pigeon_client talks to pigeond over an nng req socket; every RPC of the
 * service pigeon.v1.Pigeon (proto/pigeon/v1/pigeon.proto, the API's manual) has
 * a synchronous call and an asynchronous one.  Requests and replies are the
 * protoc-c generated messages of <pigeon/v1/pigeon.pb-c.h>.  A subscription
 * receives the events of pigeond's nng pub socket, decoded.
 *
 * Every fallible function returns a pigeon_status (gRPC numbering; the codes
 * and pigeon_status_name are in <pigeon/wire.h>, included here) and writes
 * its out-parameters only on success.  The library never prints.
 *
 * Thread-safety: a pigeon_client may be used from any number of threads at
 * once; each call uses its own nng context.  Callbacks run on nng's threads:
 * they must not block for long and must not call pigeon_client_close.
 */
#ifndef PIGEON_PIGEON_H
#define PIGEON_PIGEON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <pigeon/wire.h>
#include <pigeon/v1/event.pb-c.h>
#include <pigeon/v1/pigeon.pb-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where pigeond listens by default: PIGEON_DEFAULT_RPC_URL and
 * PIGEON_DEFAULT_PUB_URL, in <pigeon/wire.h>. */
/* The deadline a call gets when its caller gives none, in milliseconds. */
#define PIGEON_DEFAULT_DEADLINE_MS 5000

/* What went wrong with a call: the code and the server's message for humans. */
typedef struct pigeon_error {
	pigeon_status code;
	char message[256];
} pigeon_error;

typedef struct pigeon_client pigeon_client;

/* The backoff of a retry policy whose fields are left 0. */
#define PIGEON_DEFAULT_RETRY_INITIAL_BACKOFF_MS 100
#define PIGEON_DEFAULT_RETRY_MAX_BACKOFF_MS 1000
#define PIGEON_DEFAULT_RETRY_MULTIPLIER 2.0

/*
 * Retries, as gRPC's retry policy makes them.  A call whose attempt fails
 * with PIGEON_UNAVAILABLE (no connection to pigeond, pigeond stopping for a
 * restart, pigeond unable to reach Redis) is sent again after a random wait:
 * retry n waits a time drawn uniformly from
 * [0, min(initial_backoff_ms * multiplier^(n-1), max_backoff_ms)] ms ("full
 * jitter", so that clients that failed together do not come back together).
 * No other code is retried.  Every attempt carries the same request id, so a
 * pigeond that executed an earlier attempt answers with that first answer
 * rather than executing it again (an UNAVAILABLE answer is not remembered, so
 * the retry of one runs).  That memory is per pigeond process: across a
 * restart only SendMessage's idempotency_key keeps a retried message from
 * being stored twice, so give one to every message you send with retries.
 * Attempts and waits stay within the call's deadline: no attempt starts
 * after it, and a call whose next wait would end past it fails at once with
 * the last attempt's UNAVAILABLE.  The policy is the client's, fixed when it
 * opens, so calls from any thread share it.
 */
typedef struct pigeon_retry_policy {
	/* Attempts of one call at most, the first included; 0 or 1: no retry. */
	uint32_t max_attempts;
	/* The bound of the first retry's wait, ms; 0:
	 * PIGEON_DEFAULT_RETRY_INITIAL_BACKOFF_MS. */
	int32_t initial_backoff_ms;
	/* The largest bound of a wait, ms; at least initial_backoff_ms; 0:
	 * PIGEON_DEFAULT_RETRY_MAX_BACKOFF_MS (or initial_backoff_ms if larger). */
	int32_t max_backoff_ms;
	/* How the bound grows from one retry to the next; at least 1; 0:
	 * PIGEON_DEFAULT_RETRY_MULTIPLIER. */
	double multiplier;
} pigeon_retry_policy;

/* Options of pigeon_client_open_opts.  Zero-initialise it (`= {0}` or a
 * designated initialiser) and set what you need: every field's 0 means its
 * default.  New fields are only ever appended, so such code keeps compiling
 * and behaving the same when the struct grows; the struct's size changes,
 * though, so a program must be rebuilt against the new header. */
typedef struct pigeon_client_opts {
	/* pigeond's RPC address (tcp:// or ipc://); NULL: PIGEON_DEFAULT_RPC_URL. */
	const char *url;
	/* Deadline of calls that give none, ms; 0: PIGEON_DEFAULT_DEADLINE_MS. */
	int32_t deadline_ms;
	/* How long nng's req socket waits for a reply before it sends the request
	 * again, ms; 0: nng's default (60 s).  Resends are safe: the server
	 * answers a resent request with its first answer. */
	int32_t resend_ms;
	/* Largest reply accepted, bytes; 0: 4 MiB. */
	size_t recv_max;
	/* Retries of calls that fail with UNAVAILABLE, for every call of this
	 * client, synchronous or not; zeroed: none. */
	pigeon_retry_policy retry;
} pigeon_client_opts;

/* Opens a client of pigeond at url (NULL: the default).  The connection is
 * made in the background and remade when it drops, so this succeeds whether
 * or not pigeond runs yet; calls fail with UNAVAILABLE or DEADLINE_EXCEEDED
 * until it does.  Returns INVALID_ARGUMENT for a malformed url,
 * RESOURCE_EXHAUSTED without memory. */
pigeon_status pigeon_client_open(pigeon_client **out, const char *url);

/* The same with every option; opts may be NULL.  Borrows opts (copied).
 * INVALID_ARGUMENT also for a retry policy out of range. */
pigeon_status pigeon_client_open_opts(pigeon_client **out, const pigeon_client_opts *opts);

/* Closes the client.  Calls in flight complete with CANCELLED first.
 * Accepts NULL. */
void pigeon_client_close(pigeon_client *c);

/* The longest session token a client carries, bytes. */
#define PIGEON_TOKEN_MAX 1024

/* Sets the session token (as Login returned it) that the client's calls
 * carry from now on, in their request envelope; NULL or "" carries none.
 * pigeond run with --auth required needs it on every call but Health, Login
 * and RegisterUser (docs/auth.md).  Copied; safe while other threads call.
 * INVALID_ARGUMENT for a token longer than PIGEON_TOKEN_MAX,
 * RESOURCE_EXHAUSTED without memory. */
pigeon_status pigeon_client_set_token(pigeon_client *c, const char *token);

/* Calls the method named `method` (as in the .proto, "SendMessage") with
 * request `req`, waiting until a reply or the deadline (deadline_ms from now;
 * 0: the client's default).  With a retry policy, attempts that fail with
 * UNAVAILABLE are made again within that deadline, this thread sleeping in
 * between.  On OK, *reply is the decoded reply, which the caller frees with
 * pigeon_reply_free.  On failure returns the code (of the last attempt) and,
 * if err is not NULL, fills it.  Borrows every argument.
 * Codes besides the method's own: UNIMPLEMENTED (unknown method),
 * DEADLINE_EXCEEDED, UNAVAILABLE (also once retries are used up or the
 * deadline leaves no room for the next), CANCELLED (client closing, also
 * during a wait between attempts), INVALID_ARGUMENT (request type does not
 * match the method). */
pigeon_status pigeon_call(pigeon_client *c, const char *method, const ProtobufCMessage *req,
    ProtobufCMessage **reply, int32_t deadline_ms, pigeon_error *err);

/* Completion of an asynchronous call.  Runs exactly once per call, on an nng
 * thread, except when pigeond is not reachable and no retry follows: then it
 * runs with UNAVAILABLE on the caller's thread before pigeon_call_async
 * returns.  `reply` is NULL unless st is OK; it and `message` are borrowed
 * and live only during the callback. */
typedef void (*pigeon_done)(
    pigeon_status st, const char *message, const ProtobufCMessage *reply, void *arg);

/* Starts the call and returns at once; `done` runs with the outcome.  The
 * request is packed before this returns, so it need not outlive the call.
 * With a retry policy, attempts that fail with UNAVAILABLE are made again
 * within the deadline; the waits in between are nng timers, so no thread
 * blocks, and `done` runs once, with the outcome of the last attempt.
 * Returns a code without calling `done` only if the call could not be started
 * (UNIMPLEMENTED, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, CANCELLED). */
pigeon_status pigeon_call_async(pigeon_client *c, const char *method,
    const ProtobufCMessage *req, int32_t deadline_ms, pigeon_done done, void *arg);

/* pigeon_call and pigeon_call_async with this call's own session token
 * instead of the client's (pigeon_client_set_token): for a process that
 * calls on behalf of many users, such as an HTTP bridge.  NULL: the
 * client's; "": none.  INVALID_ARGUMENT for a token longer than
 * PIGEON_TOKEN_MAX. */
pigeon_status pigeon_call_token(pigeon_client *c, const char *method, const char *token,
    const ProtobufCMessage *req, ProtobufCMessage **reply, int32_t deadline_ms,
    pigeon_error *err);
pigeon_status pigeon_call_async_token(pigeon_client *c, const char *method, const char *token,
    const ProtobufCMessage *req, int32_t deadline_ms, pigeon_done done, void *arg);

/* Frees a reply returned by pigeon_call or a typed call.  Accepts NULL. */
void pigeon_reply_free(void *reply);

/*
 * Typed calls, one per RPC, with the client's default deadline:
 *
 *   pigeon_status pigeon_login(pigeon_client *c, const Pigeon__V1__LoginRequest *req,
 *       Pigeon__V1__LoginReply **reply, pigeon_error *err);
 *   pigeon_status pigeon_login_async(pigeon_client *c, const Pigeon__V1__LoginRequest *req,
 *       pigeon_done done, void *arg);
 *
 * and likewise for every row of PIGEON_RPCS below.  They behave as pigeon_call
 * and pigeon_call_async with the method's name.
 */
#define PIGEON_RPCS(X)                                                                    \
	X(login, "Login", Pigeon__V1__LoginRequest, Pigeon__V1__LoginReply)                \
	X(logout, "Logout", Pigeon__V1__LogoutRequest, Pigeon__V1__LogoutReply)            \
	X(send_message, "SendMessage", Pigeon__V1__SendMessageRequest,                    \
	    Pigeon__V1__SendMessageReply)                                                  \
	X(get_user_stats, "GetUserStats", Pigeon__V1__GetUserStatsRequest,                \
	    Pigeon__V1__UserStats)                                                         \
	X(list_inbound_messages, "ListInboundMessages",                                    \
	    Pigeon__V1__ListInboundMessagesRequest, Pigeon__V1__ListInboundMessagesReply)  \
	X(get_spammer_stats, "GetSpammerStats", Pigeon__V1__LeaderboardRequest,           \
	    Pigeon__V1__Leaderboard)                                                       \
	X(get_chatter_stats, "GetChatterStats", Pigeon__V1__LeaderboardRequest,           \
	    Pigeon__V1__Leaderboard)                                                       \
	X(list_online_users, "ListOnlineUsers", Pigeon__V1__ListOnlineUsersRequest,       \
	    Pigeon__V1__ListOnlineUsersReply)                                              \
	X(get_event_journal, "GetEventJournal", Pigeon__V1__GetEventJournalRequest,       \
	    Pigeon__V1__GetEventJournalReply)                                              \
	X(register_user, "RegisterUser", Pigeon__V1__RegisterUserRequest,                 \
	    Pigeon__V1__RegisterUserReply)                                                 \
	X(revoke_sessions, "RevokeSessions", Pigeon__V1__RevokeSessionsRequest,           \
	    Pigeon__V1__RevokeSessionsReply)                                               \
	X(heartbeat, "Heartbeat", Pigeon__V1__HeartbeatRequest,                           \
	    Pigeon__V1__HeartbeatReply)                                                   \
	X(get_user, "GetUser", Pigeon__V1__GetUserRequest, Pigeon__V1__GetUserReply)      \
	X(mark_read, "MarkRead", Pigeon__V1__MarkReadRequest, Pigeon__V1__MarkReadReply)  \
	X(report_message, "ReportMessage", Pigeon__V1__ReportMessageRequest,              \
	    Pigeon__V1__ReportMessageReply)                                                \
	X(train, "Train", Pigeon__V1__TrainRequest, Pigeon__V1__TrainReply)               \
	X(health, "Health", Pigeon__V1__HealthRequest, Pigeon__V1__HealthReply)

#define PIGEON_DECLARE_RPC(fn, name, Req, Rep)                                             \
	pigeon_status pigeon_##fn(                                                         \
	    pigeon_client *c, const Req *req, Rep **reply, pigeon_error *err);             \
	pigeon_status pigeon_##fn##_async(                                                 \
	    pigeon_client *c, const Req *req, pigeon_done done, void *arg);
PIGEON_RPCS(PIGEON_DECLARE_RPC)
#undef PIGEON_DECLARE_RPC

/*
 * Events.  pigeond publishes every event on its nng pub socket as the topic's
 * bytes, one NUL byte and a packed pigeon.v1.Event (docs/events.md).
 */

/* The topics (PIGEON_TOPIC_JOURNAL, PIGEON_TOPIC_QUEUE,
 * PIGEON_TOPIC_INBOX_PREFIX, PIGEON_TOPIC_RECEIPTS_PREFIX) are in
 * <pigeon/wire.h>. */

typedef struct pigeon_subscription pigeon_subscription;

/* Receives one event.  Runs on the subscription's own thread, one event at a
 * time, in the order received (journal events filled in from a gap come
 * before the event that revealed it).  `ev` and `topic` are borrowed and live
 * only during the call.  A slow callback makes nng drop the oldest events
 * waiting (see recv_buf); with gap_fill the journal ones are fetched again. */
typedef void (*pigeon_event_fn)(const char *topic, const Pigeon__V1__Event *ev, void *arg);

typedef struct pigeon_subscribe_opts {
	/* pigeond's pub address; NULL: PIGEON_DEFAULT_PUB_URL. */
	const char *url;
	/* Topics to receive, a NULL-terminated array of exact topic names
	 * (PIGEON_TOPIC_JOURNAL, "inbox/Ilya", ...); NULL: every topic. */
	const char *const *topics;
	/* When not NULL, journal events are delivered exactly once and in
	 * sequence order: a gap (events nng or Redis dropped) is filled with
	 * GetEventJournal through this client, which must outlive the
	 * subscription. */
	pigeon_client *gap_fill;
	/* With gap_fill: the last sequence the caller has seen; events after it
	 * are fetched first.  0: start with whatever arrives next. */
	uint64_t after;
	/* Events nng keeps for a slow callback (NNG_OPT_RECVBUF); when full it
	 * drops the oldest.  0: nng's default. */
	int recv_buf;
	/* Largest event accepted, bytes; 0: 1 MiB. */
	size_t recv_max;
} pigeon_subscribe_opts;

/* Subscribes and starts delivering events to fn.  Borrows opts (copied).
 * The connection is made in the background and remade when it drops, so
 * this succeeds whether or not pigeond runs yet; events published while
 * not connected are lost (gap_fill recovers the journal ones).  A topic
 * matches exactly: "inbox/Ilya" receives nothing of "inbox/Ilya2".
 *
 * With gap_fill, journal events are delivered exactly once, in sequence
 * order, each with no event missing before it, except when GetEventJournal
 * fails (the gap then stays) or the journal was trimmed past it.  A lost
 * tail of events is noticed with the next event, or after a quiet second.
 * Returns INVALID_ARGUMENT for a malformed url or a NULL fn,
 * RESOURCE_EXHAUSTED without memory. */
pigeon_status pigeon_subscribe(pigeon_subscription **out, const pigeon_subscribe_opts *opts,
    pigeon_event_fn fn, void *arg);

/* Stops the subscription; no callback runs after it returns.  Takes up to
 * 100 ms, or as long as a callback or a gap-filling call in flight (at most
 * gap_fill's deadline).  Must not be called from the callback.  Accepts
 * NULL. */
void pigeon_subscription_close(pigeon_subscription *s);

/* Splits one pub message into topic and event.  On OK, *topic_len is the
 * topic's length (the topic starts at buf) and *ev the decoded event, to free
 * with pigeon_reply_free.  INVALID_ARGUMENT: no NUL, or an undecodable event. */
pigeon_status pigeon_event_decode(
    const void *buf, size_t len, size_t *topic_len, Pigeon__V1__Event **ev);

#ifdef __cplusplus
}
#endif

#endif /* PIGEON_PIGEON_H */
