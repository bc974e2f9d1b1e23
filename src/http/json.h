/* SPDX-License-Identifier: MIT */
/*
 * JSON for the HTTP bridge, with jansson: parsing request bodies (duplicate
 * keys, \u0000 and deep nesting rejected), turning pigeond's replies into the
 * JSON the original app answered (docs/http.md), and error bodies.  Pure:
 * no sockets, no state; safe from any thread.
 *
 * Every function returning text returns a malloc'd, NUL-terminated body
 * ending in a newline, with its length (without the NUL) in *len, or NULL
 * without memory or when a reply holds a string that is not UTF-8.
 */
#ifndef PIGEON_HTTP_JSON_H
#define PIGEON_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <pigeon/pigeon.h>

/* Deepest nesting of arrays and objects accepted in a request body. */
#define HTTP_JSON_MAX_DEPTH 32

/* Parses a request body that must be one JSON object.  Returns the object
 * (the caller owns a reference), or NULL with a message for the 400 answer in
 * err (cap bytes).  Nesting is measured before parsing, so a 100,000-deep
 * body costs one pass and no recursion.  Borrows buf. */
json_t *http_json_parse_object(const char *buf, size_t len, char *err, size_t cap);

typedef enum http_field {
	HTTP_FIELD_OK,
	/* Absent, null, or the empty string. */
	HTTP_FIELD_MISSING,
	/* Present but not a string. */
	HTTP_FIELD_WRONG_TYPE,
} http_field;

/* Reads the non-empty string member key of obj.  On HTTP_FIELD_OK, *val (owned
 * by obj) and *len are its value; it holds no NUL (the parser refuses them). */
http_field http_json_string(const json_t *obj, const char *key, const char **val, size_t *len);

/* The reason phrase of an HTTP status as the original app (werkzeug) gave
 * it: "Not Found", "I'm a teapot", "Unprocessable Entity".  Never NULL. */
const char *http_json_reason(int code);

/* {"code": code, "status": "<reason phrase>", "message": message} */
char *http_json_error(int code, const char *message, size_t *len);

/* SendMessage: {"content", "id", "recipient", "sender"}. */
char *http_json_send_reply(const Pigeon__V1__SendMessageReply *r, size_t *len);
/* {"inbound_messages": [{"content", "id", "recipient", "sender"}, ...], "next_cursor": N};
 * with read_state each message also has "read_ms", between "id" and
 * "recipient" as the original's sorted keys would place it. */
char *http_json_inbound(
    const Pigeon__V1__ListInboundMessagesReply *r, bool read_state, size_t *len);
/* {"<key>": [["name", 3.0], ...]}: counts as JSON floats, as the original had them. */
char *http_json_leaderboard(const Pigeon__V1__Leaderboard *r, const char *key, size_t *len);
/* {"being_spam_checked", "delivered", "enqueued", "marked_as_spam", "unread"}:
 * the original's four counts of sent messages, then the messages delivered
 * to the user and not read. */
char *http_json_user_stats(const Pigeon__V1__UserStats *r, size_t *len);
/* {"online_users": [...], "next_cursor": "..."} */
char *http_json_online_users(const Pigeon__V1__ListOnlineUsersReply *r, size_t *len);
/* {"events": ["LOGIN: U", ...], "next_cursor": N} */
char *http_json_journal(const Pigeon__V1__GetEventJournalReply *r, size_t *len);
/* {"username": U, "role": "regular" | "admin"} */
char *http_json_registered(const Pigeon__V1__RegisterUserReply *r, size_t *len);
/* Login in required mode: {"token": T, "expires_ms": N} */
char *http_json_login(const Pigeon__V1__LoginReply *r, size_t *len);
/* RevokeSessions: {"username": U, "generation": N} */
char *http_json_revoked(const Pigeon__V1__RevokeSessionsReply *r, size_t *len);
/* Heartbeat of username: {"username": U, "online": bool, "expires_ms": N} */
char *http_json_heartbeat(const char *username, const Pigeon__V1__HeartbeatReply *r, size_t *len);
/* GetUser: {"username", "role": "regular" | "admin", "online", "last_seen_ms",
 * "created_ms"} */
char *http_json_user(const Pigeon__V1__GetUserReply *r, size_t *len);
/* MarkRead: {"unread": N} */
char *http_json_read(const Pigeon__V1__MarkReadReply *r, size_t *len);
/* ReportMessage: {"message_id": N, "state": "delivered" | "marked_as_spam",
 * "changed": bool}, the state named as /user-stats names its counts; NULL
 * for a reply without its message. */
char *http_json_report(const Pigeon__V1__ReportMessageReply *r, size_t *len);
/* {"status": "SERVING" | ..., "version", "queue_depth", "queue_pending",
 *  "dead_letters", "workers", "uptime_ms"} */
char *http_json_health(const Pigeon__V1__HealthReply *r, size_t *len);

/* One journal event as a Server-Sent Events data line: {"sequence", "type",
 * "time_ms", "username", "recipient", "message_id", "reason", "text"}, on one
 * line (JSON escapes every newline).  *type is set to the type's name
 * ("LOGIN"; "UNSPECIFIED" for an unknown one), static. */
char *http_json_event(const Pigeon__V1__Event *ev, const char **type, size_t *len);

#endif
