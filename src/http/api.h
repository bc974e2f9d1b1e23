/* SPDX-License-Identifier: MIT */
/*
 * What each route does, as two pure steps around one RPC: http_api_prepare
 * turns an HTTP request (route, query string, body, headers) into the RPC to
 * make, or into an answer at once (a 4xx, /openapi.json); http_api_answer
 * turns the RPC's outcome into the HTTP answer.  GET /events is planned the
 * same way (http_api_events_prepare, http_api_events_checked): in required
 * mode, who may watch what is learnt from two RPCs made with the caller's
 * token.  No sockets, no threads: server.c makes the calls and carries the
 * answer back to the connection.
 */
#ifndef PIGEON_HTTP_API_H
#define PIGEON_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <pigeon/pigeon.h>

#include "auth.h"
#include "metrics.h"
#include "routes.h"

/* One HTTP request, as far as the routes care.  All borrowed. */
typedef struct http_input {
	/* The matched route; NULL when none matched (the answer is 404 or 405). */
	const http_route *route;
	/* Set when the path exists but not with this method. */
	bool method_not_allowed;
	/* The decoded value of the route's path parameter (the username of
	 * /users/{username}), NUL-terminated, param_len bytes that may hold a
	 * NUL; NULL for a route without one. */
	const char *param;
	size_t param_len;
	/* The raw query string (after '?'), or NULL. */
	const char *query;
	/* The request body; len 0 when there is none. */
	const char *body;
	size_t body_len;
	/* The Idempotency-Key header, or NULL. */
	const char *idempotency_key;
	/* The Authorization header, or NULL; read in required mode only. */
	const char *authorization;
	/* The Last-Event-ID header, or NULL; read by GET /events. */
	const char *last_event_id;
	/* --auth: in required mode tokens are forwarded, POST /login answers
	 * one, and GET /events needs one. */
	http_auth_mode auth;
	/* Largest message content forwarded, bytes; larger: 413.  0:
	 * PIGEON_CONTENT_MAX_DEFAULT. */
	size_t content_max;
} http_input;

/* An HTTP answer. */
typedef struct http_answer {
	int status;
	const char *content_type;
	/* malloc'd unless is_static. */
	char *body;
	size_t len;
	bool is_static;
	/* An Allow header's value for a 405, else empty. */
	char allow[32];
} http_answer;

/* The RPC that serves a request.  Its request message borrows strings from
 * the body and query values the call owns; release with http_call_fini. */
typedef struct http_call {
	http_route_id route;
	/* The method's name as in the .proto, "Login". */
	const char *method;
	/* Points into req. */
	const ProtobufCMessage *msg;
	union {
		Pigeon__V1__LoginRequest login;
		Pigeon__V1__LogoutRequest logout;
		Pigeon__V1__SendMessageRequest send;
		Pigeon__V1__GetUserStatsRequest user_stats;
		Pigeon__V1__ListInboundMessagesRequest inbound;
		Pigeon__V1__LeaderboardRequest leaderboard;
		Pigeon__V1__ListOnlineUsersRequest online;
		Pigeon__V1__GetEventJournalRequest journal;
		Pigeon__V1__RegisterUserRequest register_user;
		Pigeon__V1__RevokeSessionsRequest revoke;
		Pigeon__V1__HeartbeatRequest heartbeat;
		Pigeon__V1__GetUserRequest get_user;
		Pigeon__V1__MarkReadRequest mark_read;
		Pigeon__V1__ReportMessageRequest report;
		Pigeon__V1__HealthRequest health;
	} req;
	json_t *body;
	char *owned[4];
	/* GET /inbound-messages with `unread`: each message carries its
	 * read_ms (without, the original's four keys). */
	bool read_state;
	/* The caller's session token, a copy, sent as the call's envelope
	 * token; NULL when none is sent (open mode, or no header). */
	char *token;
	http_auth_mode auth;
	/* GET /events: where the stream starts and what it carries. */
	struct {
		/* The journal events after `after` first (Last-Event-ID or
		 * ?after=). */
		bool has_after;
		uint64_t after;
		/* The user whose own events it carries, DELIVERED to their
		 * inbox and READ receipts of their messages (points into
		 * owned), or NULL; and whether the journal's too: in required
		 * mode when the caller is an admin, always in open mode. */
		const char *user;
		bool journal;
		/* Required mode, with journal: its newest sequence when it was
		 * checked. */
		bool has_head;
		uint64_t head;
		/* Which check's RPC is in flight: 0 the user's (their inbox,
		 * in either mode), 1 the journal's (required mode). */
		int step;
	} events;
} http_call;

/* Largest Idempotency-Key accepted, bytes. */
#define HTTP_IDEMPOTENCY_KEY_MAX 128

/* A body cap that admits every POST /message whose content is at most
 * content_max bytes, however the client escapes it.  JSON makes a byte at
 * most 6 bytes long: a control character is \u0001; 2 bytes of UTF-8 become
 * \u00e9 and 4 a surrogate pair, 3x; and "a" may be written \u0061.  4096
 * is for the rest of the body: both usernames escaped the same way
 * (2 x 6 x 64 = 768), the keys, quotes and punctuation, and 3 KB of white
 * space.  Each connection may buffer this much. */
#define HTTP_BODY_MAX_FOR(content_max) (6 * (size_t)(content_max) + 4096)

/* HTTP_BODY_MAX_FOR(PIGEON_CONTENT_MAX_DEFAULT), written out for --help;
 * api.c asserts that the two agree. */
#define HTTP_BODY_MAX_DEFAULT 397312

/* Decides how to serve in.  Returns true with *call filled when an RPC must
 * be made (then the caller calls, answers with http_api_answer, and releases
 * the call with http_call_fini), or false with *ans filled to answer now.
 * Borrows in, which must outlive *call. */
bool http_api_prepare(const http_input *in, http_call *call, http_answer *ans);

/* Fills *ans from the outcome of call's RPC: st, pigeond's message (may be
 * NULL) and on OK its reply.  Borrows everything; m is read for /metrics.
 * Safe from any thread. */
void http_api_answer(const http_call *call, pigeon_status st, const char *message,
    const ProtobufCMessage *reply, const http_metrics *m, http_answer *ans);

/* What GET /events does next. */
typedef enum http_events_next {
	/* Answer *ans (an error). */
	HTTP_EVENTS_ANSWER,
	/* Make call's RPC, then pass its outcome to http_api_events_checked. */
	HTTP_EVENTS_CALL,
	/* Open the stream that call->events describes. */
	HTTP_EVENTS_OPEN,
} http_events_next;

/* Plans a GET /events stream: where it starts (after the sequence of
 * in->last_event_id, which wins, or of the `after` query parameter), and
 * whose own events it carries besides the journal's: in required mode those
 * of `username`, which takes the caller's token and the RPCs of
 * http_api_events_checked; in open mode those of an optional `username`,
 * which is checked to exist by the first of them.  Fills *call (release
 * with http_call_fini) and, for HTTP_EVENTS_ANSWER, *ans: 400 for a
 * malformed position, 401 without a token or with a malformed header, 422
 * for a missing (required mode) or invalid username.  Borrows in. */
http_events_next http_api_events_prepare(const http_input *in, http_call *call, http_answer *ans);

/* Takes the outcome of call's RPC for GET /events: ListInboundMessages of
 * the user with the caller's token (in required mode it succeeds only for
 * that user or an admin; otherwise, or for an unknown user, its error is
 * the answer; in open mode its success opens the stream), then in required
 * mode GetEventJournal (it succeeds only for an admin: PERMISSION_DENIED
 * opens the stream without the journal).  Borrows everything but *call,
 * which it updates for the next step. */
http_events_next http_api_events_checked(http_call *call, pigeon_status st, const char *message,
    const ProtobufCMessage *reply, http_answer *ans);

/* Fills *ans with a JSON error {"code", "status", "message"}. */
void http_api_error(http_answer *ans, int code, const char *message);

/* Releases what the call owns.  Accepts a call prepare did not fill. */
void http_call_fini(http_call *call);

/* Frees the answer's body unless it is static.  Accepts an empty answer. */
void http_answer_fini(http_answer *ans);

#endif
