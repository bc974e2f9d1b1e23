/* SPDX-License-Identifier: MIT */
/* Each route's request building and answer translation; see api.h.  The
 * 422 messages are the original app's where it had one (docs/http.md). */
#include "api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "openapi.h"
#include "status.h"
#include "uri.h"
#include "validate.h"

_Static_assert(HTTP_BODY_MAX_DEFAULT == HTTP_BODY_MAX_FOR(PIGEON_CONTENT_MAX_DEFAULT),
    "HTTP_BODY_MAX_DEFAULT must be HTTP_BODY_MAX_FOR(PIGEON_CONTENT_MAX_DEFAULT)");

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

/* The answer when even an error body cannot be built. */
static const char oom_body[] =
    "{\"code\": 500, \"status\": \"Internal Server Error\", \"message\": \"Out of memory\"}\n";

static void
answer_static(http_answer *ans, int status, const char *ct, const char *body, size_t len)
{
	ans->status = status;
	ans->content_type = ct;
	ans->body = (char *)body;
	ans->len = len;
	ans->is_static = true;
}

static void
answer_text(http_answer *ans, int status, const char *ct, char *body, size_t len)
{
	if (body == NULL) {
		answer_static(ans, 500, CT_JSON, oom_body, sizeof(oom_body) - 1);
		return;
	}
	ans->status = status;
	ans->content_type = ct;
	ans->body = body;
	ans->len = len;
	ans->is_static = false;
}

void
http_api_error(http_answer *ans, int code, const char *message)
{
	size_t len = 0;
	char *body = http_json_error(code, message, &len);

	answer_text(ans, code, CT_JSON, body, len);
}

static bool __attribute__((format(printf, 3, 4)))
fail(http_answer *ans, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_api_error(ans, code, msg);
	return false;
}

/* Parses the body into call->body, or answers 400. */
static bool
parse_body(const http_input *in, http_call *call, http_answer *ans)
{
	char err[256];

	if ((call->body = http_json_parse_object(in->body, in->body_len, err, sizeof(err))) ==
	    NULL)
		return fail(ans, 400, "%s", err);
	return true;
}

/* Reads a username member of the body: 422 with `missing` when absent. */
static bool
body_username(http_call *call, const char *key, const char *missing, const char **out,
    http_answer *ans)
{
	validate_why why;
	const char *problem;
	size_t len;

	switch (http_json_string(call->body, key, out, &len)) {
	case HTTP_FIELD_OK:
		break;
	case HTTP_FIELD_MISSING:
		return fail(ans, 422, "%s", missing);
	case HTTP_FIELD_WRONG_TYPE:
		return fail(ans, 422, "'%s' must be a string", key);
	}
	if ((problem = validate_username(*out, len, &why)) != NULL)
		return fail(ans, 422, "Invalid '%s': %s", key, problem);
	return true;
}

/* Reads query parameter key into call->owned[slot] (0 username, 1 limit,
 * 2 after, 3 unread); *out stays NULL when the parameter is absent. */
static bool
query_value(const http_input *in, http_call *call, int slot, const char *key, const char **out,
    size_t *len, http_answer *ans)
{
	char *v = NULL;

	*out = NULL;
	switch (http_query_get(in->query, key, &v, len)) {
	case HTTP_QUERY_FOUND:
		call->owned[slot] = v;
		*out = v;
		return true;
	case HTTP_QUERY_ABSENT:
		return true;
	case HTTP_QUERY_MALFORMED:
		return fail(ans, 400, "Malformed percent-escape in query parameter '%s'", key);
	case HTTP_QUERY_NOMEM:
		break;
	}
	return fail(ans, 500, "Out of memory");
}

static bool
query_username(const http_input *in, http_call *call, char **out, http_answer *ans)
{
	validate_why why;
	const char *v, *problem;
	size_t len;

	if (!query_value(in, call, 0, "username", &v, &len, ans))
		return false;
	if (v == NULL || len == 0)
		return fail(ans, 422, "Missing 'username' in the query string");
	if ((problem = validate_username(v, len, &why)) != NULL)
		return fail(ans, 422, "Invalid 'username': %s", problem);
	*out = (char *)v;
	return true;
}

/* A decimal number without sign, spaces or overflow. */
static bool
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* The `limit` parameter of the list routes: 1..1000, 0 when absent (the
 * server's default page). */
static bool
query_limit(const http_input *in, http_call *call, uint32_t *out, http_answer *ans)
{
	const char *v;
	size_t len;
	uint64_t n;

	*out = 0;
	if (!query_value(in, call, 1, "limit", &v, &len, ans))
		return false;
	if (v == NULL)
		return true;
	if (!parse_u64(v, len, &n) || n < 1 || n > 1000)
		return fail(ans, 422, "'limit' must be an integer from 1 to 1000");
	*out = (uint32_t)n;
	return true;
}

/* The numeric `after` cursor of inbound messages and the journal. */
static bool
query_after(const http_input *in, http_call *call, uint64_t *out, http_answer *ans)
{
	const char *v;
	size_t len;

	*out = 0;
	if (!query_value(in, call, 2, "after", &v, &len, ans))
		return false;
	if (v != NULL && !parse_u64(v, len, out))
		return fail(ans, 422, "'after' must be a non-negative integer (a next_cursor)");
	return true;
}

/* The `unread` parameter of the inbound messages: 1 or true lists the
 * unread ones only, 0 or false all of them; either way the answer carries
 * each message's read_ms.  *given stays false when it is absent, and the
 * answer keeps the original's format. */
static bool
query_unread(const http_input *in, http_call *call, bool *given, protobuf_c_boolean *only,
    http_answer *ans)
{
	const char *v;
	size_t len;

	*given = false;
	if (!query_value(in, call, 3, "unread", &v, &len, ans))
		return false;
	if (v == NULL)
		return true;
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		*only = true;
	else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		*only = false;
	else
		return fail(ans, 422, "'unread' must be 1, true, 0 or false");
	*given = true;
	return true;
}

/* Required mode: the Bearer token of the Authorization header, copied into
 * call->token, which the call owns as it owns its other strings (GET
 * /events makes its second call from the first's completion, when the
 * connection's headers may be gone).  No header: no token, and pigeond
 * answers what needs one.  A header that cannot hold a token: 401, without
 * an RPC. */
static bool
take_token(const http_input *in, http_call *call, http_answer *ans)
{
	const char *token;
	size_t len;

	if (in->auth != HTTP_AUTH_REQUIRED || in->authorization == NULL)
		return true;
	if (!http_auth_bearer(in->authorization, &token, &len))
		return fail(ans, 401, HTTP_AUTH_MALFORMED);
	if ((call->token = malloc(len + 1)) == NULL)
		return fail(ans, 500, "Out of memory");
	memcpy(call->token, token, len);
	call->token[len] = '\0';
	return true;
}

/* Reads the password member of a body (required mode). */
static bool
body_password(http_call *call, const char **out, http_answer *ans)
{
	size_t len;

	switch (http_json_string(call->body, "password", out, &len)) {
	case HTTP_FIELD_OK:
		return true;
	case HTTP_FIELD_MISSING:
		return fail(ans, 422, "Missing 'password' in the request body");
	case HTTP_FIELD_WRONG_TYPE:
		break;
	}
	return fail(ans, 422, "'password' must be a string");
}

static bool
prepare_login_logout(const http_input *in, http_call *call, http_answer *ans)
{
	const char *user, *password;

	if (!parse_body(in, call, ans) ||
	    !body_username(call, "username", "Missing 'username' in the request body", &user,
		ans))
		return false;
	if (call->route == HTTP_ROUTE_LOGIN) {
		pigeon__v1__login_request__init(&call->req.login);
		call->req.login.username = (char *)user;
		/* Open mode reads no password, as the original did not. */
		if (in->auth == HTTP_AUTH_REQUIRED) {
			if (!body_password(call, &password, ans))
				return false;
			call->req.login.password = (char *)password;
		}
		call->method = "Login";
	} else {
		pigeon__v1__logout_request__init(&call->req.logout);
		call->req.logout.username = (char *)user;
		call->method = "Logout";
	}
	return true;
}

static bool
prepare_message(const http_input *in, http_call *call, http_answer *ans)
{
	static const char *const fields[] = {"sender", "recipient", "content"};
	const char *val[3];
	size_t len[3];
	size_t content_max = in->content_max > 0 ? in->content_max : PIGEON_CONTENT_MAX_DEFAULT;
	Pigeon__V1__SendMessageRequest *req = &call->req.send;

	if (!parse_body(in, call, ans))
		return false;
	for (int i = 0; i < 3; i++) {
		switch (http_json_string(call->body, fields[i], &val[i], &len[i])) {
		case HTTP_FIELD_OK:
			break;
		case HTTP_FIELD_MISSING:
			return fail(ans, 422, "Missing field in request body");
		case HTTP_FIELD_WRONG_TYPE:
			return fail(ans, 422, "'%s' must be a string", fields[i]);
		}
	}
	for (int i = 0; i < 2; i++) {
		validate_why why;
		const char *problem = validate_username(val[i], len[i], &why);

		if (problem != NULL)
			return fail(ans, 422, "Invalid '%s': %s", fields[i], problem);
	}
	/* Here, not only in pigeond: the same answer as a body over the cap,
	 * 413, and no RPC for a message that cannot be sent. */
	if (len[2] > content_max)
		return fail(ans, 413, PIGEON_CONTENT_TOO_LARGE " of %zu bytes", content_max);
	pigeon__v1__send_message_request__init(req);
	req->sender = (char *)val[0];
	req->recipient = (char *)val[1];
	req->content = (char *)val[2];
	if (in->idempotency_key != NULL) {
		size_t klen = strlen(in->idempotency_key);

		if (klen == 0 || klen > HTTP_IDEMPOTENCY_KEY_MAX)
			return fail(ans, 422, "Idempotency-Key must be 1 to %d bytes",
			    HTTP_IDEMPOTENCY_KEY_MAX);
		req->idempotency_key = (char *)in->idempotency_key;
	}
	call->method = "SendMessage";
	return true;
}

/* Open mode registers a regular user from {"username"} and reads nothing
 * else; required mode also takes the password and an optional role. */
static bool
prepare_register(const http_input *in, http_call *call, http_answer *ans)
{
	Pigeon__V1__RegisterUserRequest *req = &call->req.register_user;
	const char *user, *password, *role;
	size_t len;

	if (!parse_body(in, call, ans) ||
	    !body_username(call, "username", "Missing 'username' in the request body", &user,
		ans))
		return false;
	pigeon__v1__register_user_request__init(req);
	req->username = (char *)user;
	req->role = PIGEON__V1__ROLE__ROLE_REGULAR;
	if (in->auth == HTTP_AUTH_REQUIRED) {
		if (!body_password(call, &password, ans))
			return false;
		req->password = (char *)password;
		switch (http_json_string(call->body, "role", &role, &len)) {
		case HTTP_FIELD_OK:
			if (strcmp(role, "admin") == 0)
				req->role = PIGEON__V1__ROLE__ROLE_ADMIN;
			else if (strcmp(role, "regular") != 0)
				return fail(ans, 422, "'role' must be regular or admin");
			break;
		case HTTP_FIELD_MISSING:
			break;
		case HTTP_FIELD_WRONG_TYPE:
			return fail(ans, 422, "'role' must be a string");
		}
	}
	call->method = "RegisterUser";
	return true;
}

static bool
prepare_revoke(const http_input *in, http_call *call, http_answer *ans)
{
	const char *user;

	if (!parse_body(in, call, ans) ||
	    !body_username(call, "username", "Missing 'username' in the request body", &user, ans))
		return false;
	pigeon__v1__revoke_sessions_request__init(&call->req.revoke);
	call->req.revoke.username = (char *)user;
	call->method = "RevokeSessions";
	return true;
}

static bool
prepare_heartbeat(const http_input *in, http_call *call, http_answer *ans)
{
	const char *user;

	if (!parse_body(in, call, ans) ||
	    !body_username(call, "username", "Missing 'username' in the request body", &user, ans))
		return false;
	pigeon__v1__heartbeat_request__init(&call->req.heartbeat);
	call->req.heartbeat.username = (char *)user;
	call->method = "Heartbeat";
	return true;
}

/* {"username": U, "up_to_id": N}: N a JSON integer from 0 up (jansson
 * refuses one past its 64-bit range as invalid JSON, 400). */
static bool
prepare_read(const http_input *in, http_call *call, http_answer *ans)
{
	const char *user;
	const json_t *id;

	if (!parse_body(in, call, ans) ||
	    !body_username(call, "username", "Missing 'username' in the request body", &user, ans))
		return false;
	id = json_object_get(call->body, "up_to_id");
	if (id == NULL || json_is_null(id))
		return fail(ans, 422, "Missing 'up_to_id' in the request body");
	if (!json_is_integer(id) || json_integer_value(id) < 0)
		return fail(ans, 422, "'up_to_id' must be a non-negative integer");
	pigeon__v1__mark_read_request__init(&call->req.mark_read);
	call->req.mark_read.username = (char *)user;
	call->req.mark_read.up_to_id = (uint64_t)json_integer_value(id);
	call->method = "MarkRead";
	return true;
}

/* {"username": U, "message_id": N, "spam": B}: N a JSON integer from 1 (an
 * id is never 0; past 64 bits jansson refuses it as invalid JSON, 400), B a
 * JSON boolean, not 0 or "true": a report is read by what it says. */
static bool
prepare_report(const http_input *in, http_call *call, http_answer *ans)
{
	const char *user;
	const json_t *id, *spam;

	if (!parse_body(in, call, ans) ||
	    !body_username(call, "username", "Missing 'username' in the request body", &user, ans))
		return false;
	id = json_object_get(call->body, "message_id");
	if (id == NULL || json_is_null(id))
		return fail(ans, 422, "Missing 'message_id' in the request body");
	if (!json_is_integer(id) || json_integer_value(id) < 1)
		return fail(ans, 422, "'message_id' must be a positive integer");
	spam = json_object_get(call->body, "spam");
	if (spam == NULL || json_is_null(spam))
		return fail(ans, 422, "Missing 'spam' in the request body");
	if (!json_is_boolean(spam))
		return fail(ans, 422, "'spam' must be true or false");
	pigeon__v1__report_message_request__init(&call->req.report);
	call->req.report.username = (char *)user;
	call->req.report.message_id = (uint64_t)json_integer_value(id);
	call->req.report.spam = json_is_true(spam);
	call->method = "ReportMessage";
	return true;
}

/* GET /users/{username}: the name is the rest of the decoded path. */
static bool
prepare_get_user(const http_input *in, http_call *call, http_answer *ans)
{
	validate_why why;
	const char *problem;

	if ((problem = validate_username(in->param, in->param_len, &why)) != NULL)
		return fail(ans, 422, "Invalid 'username': %s", problem);
	pigeon__v1__get_user_request__init(&call->req.get_user);
	call->req.get_user.username = (char *)in->param;
	call->method = "GetUser";
	return true;
}

/* GET routes: the request comes from the query string alone.  The body of a
 * POST /inbound-messages (the README sends '{}') is ignored, as a GET's. */
static bool
prepare_query_route(const http_input *in, http_call *call, http_answer *ans)
{
	char *user;
	const char *cursor;
	size_t len;

	switch (call->route) {
	case HTTP_ROUTE_USER_STATS:
		if (!query_username(in, call, &user, ans))
			return false;
		pigeon__v1__get_user_stats_request__init(&call->req.user_stats);
		call->req.user_stats.username = user;
		call->method = "GetUserStats";
		return true;
	case HTTP_ROUTE_INBOUND_MESSAGES:
		pigeon__v1__list_inbound_messages_request__init(&call->req.inbound);
		if (!query_username(in, call, &user, ans))
			return false;
		call->req.inbound.username = user;
		if (!query_limit(in, call, &call->req.inbound.page_size, ans) ||
		    !query_after(in, call, &call->req.inbound.cursor, ans) ||
		    !query_unread(in, call, &call->read_state, &call->req.inbound.unread_only, ans))
			return false;
		call->method = "ListInboundMessages";
		return true;
	case HTTP_ROUTE_SPAMMER_STATS:
	case HTTP_ROUTE_CHATTER_STATS:
		pigeon__v1__leaderboard_request__init(&call->req.leaderboard);
		if (!query_limit(in, call, &call->req.leaderboard.limit, ans))
			return false;
		call->method =
		    call->route == HTTP_ROUTE_SPAMMER_STATS ? "GetSpammerStats" : "GetChatterStats";
		return true;
	case HTTP_ROUTE_ONLINE_USERS:
		pigeon__v1__list_online_users_request__init(&call->req.online);
		if (!query_limit(in, call, &call->req.online.page_size, ans) ||
		    !query_value(in, call, 2, "after", &cursor, &len, ans))
			return false;
		if (cursor != NULL)
			call->req.online.cursor = (char *)cursor;
		call->method = "ListOnlineUsers";
		return true;
	case HTTP_ROUTE_EVENT_JOURNAL:
		pigeon__v1__get_event_journal_request__init(&call->req.journal);
		if (!query_limit(in, call, &call->req.journal.page_size, ans) ||
		    !query_after(in, call, &call->req.journal.cursor, ans))
			return false;
		call->method = "GetEventJournal";
		return true;
	case HTTP_ROUTE_HEALTHZ:
	case HTTP_ROUTE_METRICS:
		pigeon__v1__health_request__init(&call->req.health);
		call->method = "Health";
		return true;
	default:
		return fail(ans, 500, "No handler for this route");
	}
}

/* Where a stream starts: after the sequence of the Last-Event-ID header,
 * which wins, or of the `after` query parameter. */
static bool
events_after(const http_input *in, http_call *call, http_answer *ans)
{
	char *v = NULL;
	size_t len;
	bool ok;

	if (in->last_event_id != NULL) {
		len = strlen(in->last_event_id);
		if (!parse_u64(in->last_event_id, len, &call->events.after))
			return fail(ans, 400, "Last-Event-ID must be an event's sequence number");
		call->events.has_after = true;
		return true;
	}
	switch (http_query_get(in->query, "after", &v, &len)) {
	case HTTP_QUERY_FOUND:
		ok = parse_u64(v, len, &call->events.after);
		free(v);
		if (!ok)
			return fail(ans, 400, "Invalid 'after': must be an event's sequence number");
		call->events.has_after = true;
		return true;
	case HTTP_QUERY_ABSENT:
		return true;
	case HTTP_QUERY_MALFORMED:
		return fail(ans, 400, "Malformed percent-escape in query parameter 'after'");
	case HTTP_QUERY_NOMEM:
		break;
	}
	return fail(ans, 500, "Out of memory");
}

http_events_next
http_api_events_prepare(const http_input *in, http_call *call, http_answer *ans)
{
	char *user;

	memset(call, 0, sizeof(*call));
	memset(ans, 0, sizeof(*ans));
	call->route = HTTP_ROUTE_EVENTS;
	call->auth = in->auth;
	if (in->auth != HTTP_AUTH_REQUIRED) {
		const char *v, *problem;
		validate_why why;
		size_t len;

		/* The journal, and the events of `username` when asked for:
		 * the one check is that the user exists. */
		call->events.journal = true;
		if (!query_value(in, call, 0, "username", &v, &len, ans))
			return HTTP_EVENTS_ANSWER;
		if (v == NULL || len == 0)
			return events_after(in, call, ans) ? HTTP_EVENTS_OPEN : HTTP_EVENTS_ANSWER;
		if ((problem = validate_username(v, len, &why)) != NULL) {
			fail(ans, 422, "Invalid 'username': %s", problem);
			return HTTP_EVENTS_ANSWER;
		}
		if (!events_after(in, call, ans))
			return HTTP_EVENTS_ANSWER;
		user = (char *)v;
	} else {
		/* Who asks first, then what they ask for. */
		if (!take_token(in, call, ans))
			return HTTP_EVENTS_ANSWER;
		if (call->token == NULL) {
			fail(ans, 401, HTTP_AUTH_BAD_TOKEN);
			return HTTP_EVENTS_ANSWER;
		}
		if (!query_username(in, call, &user, ans) || !events_after(in, call, ans))
			return HTTP_EVENTS_ANSWER;
	}
	call->events.user = user;
	pigeon__v1__list_inbound_messages_request__init(&call->req.inbound);
	call->req.inbound.username = user;
	call->req.inbound.page_size = 1;
	call->method = "ListInboundMessages";
	call->msg = (const ProtobufCMessage *)&call->req;
	return HTTP_EVENTS_CALL;
}

/* The error answer of a failed RPC: the status table's code and pigeond's
 * message (its status name when it gave none). */
static void
answer_failure(const http_call *call, pigeon_status st, const char *message, http_answer *ans)
{
	int code = http_status_from(st);

	/* pigeond's content limit is below ours: the same 413 as ours.  Its
	 * other RESOURCE_EXHAUSTED (Redis out of memory) stay 429. */
	if (call->route == HTTP_ROUTE_MESSAGE && st == PIGEON_RESOURCE_EXHAUSTED &&
	    message != NULL &&
	    strncmp(message, PIGEON_CONTENT_TOO_LARGE, strlen(PIGEON_CONTENT_TOO_LARGE)) == 0)
		code = 413;
	http_api_error(
	    ans, code, message != NULL && message[0] != '\0' ? message : pigeon_status_name(st));
}

http_events_next
http_api_events_checked(http_call *call, pigeon_status st, const char *message,
    const ProtobufCMessage *reply, http_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	if (call->events.step == 0) {
		/* The user exists, and in required mode the inbox is the
		 * caller's (or the caller an admin): now ask
		 * whether the journal is theirs too. */
		if (st != PIGEON_OK) {
			answer_failure(call, st, message, ans);
			return HTTP_EVENTS_ANSWER;
		}
		if (call->auth != HTTP_AUTH_REQUIRED)
			return HTTP_EVENTS_OPEN;
		call->events.step = 1;
		pigeon__v1__get_event_journal_request__init(&call->req.journal);
		call->req.journal.page_size = 1;
		call->method = "GetEventJournal";
		call->msg = (const ProtobufCMessage *)&call->req;
		return HTTP_EVENTS_CALL;
	}
	if (st == PIGEON_OK) {
		const Pigeon__V1__GetEventJournalReply *journal = (const void *)reply;

		call->events.journal = true;
		call->events.has_head = true;
		call->events.head = journal->last_sequence;
		return HTTP_EVENTS_OPEN;
	}
	if (st == PIGEON_PERMISSION_DENIED)
		return HTTP_EVENTS_OPEN;
	answer_failure(call, st, message, ans);
	return HTTP_EVENTS_ANSWER;
}

bool
http_api_prepare(const http_input *in, http_call *call, http_answer *ans)
{
	bool ok;

	memset(call, 0, sizeof(*call));
	memset(ans, 0, sizeof(*ans));
	if (in->route == NULL)
		return fail(ans, 404, "The requested URL was not found on the server");
	if (in->method_not_allowed) {
		http_route_allow(in->route, ans->allow, sizeof(ans->allow));
		return fail(ans, 405, "The method is not allowed for the requested URL");
	}
	call->route = in->route->id;
	call->auth = in->auth;
	switch (call->route) {
	case HTTP_ROUTE_LOGIN:
	case HTTP_ROUTE_HEALTHZ:
	case HTTP_ROUTE_METRICS:
	case HTTP_ROUTE_OPENAPI:
		/* Served without a token in either mode. */
		break;
	default:
		if (!take_token(in, call, ans))
			return false;
		break;
	}
	switch (call->route) {
	case HTTP_ROUTE_LOGIN:
	case HTTP_ROUTE_LOGOUT:
		ok = prepare_login_logout(in, call, ans);
		break;
	case HTTP_ROUTE_MESSAGE:
		ok = prepare_message(in, call, ans);
		break;
	case HTTP_ROUTE_USERS:
		ok = prepare_register(in, call, ans);
		break;
	case HTTP_ROUTE_REVOKE_SESSIONS:
		ok = prepare_revoke(in, call, ans);
		break;
	case HTTP_ROUTE_HEARTBEAT:
		ok = prepare_heartbeat(in, call, ans);
		break;
	case HTTP_ROUTE_READ:
		ok = prepare_read(in, call, ans);
		break;
	case HTTP_ROUTE_REPORT:
		ok = prepare_report(in, call, ans);
		break;
	case HTTP_ROUTE_USER:
		ok = prepare_get_user(in, call, ans);
		break;
	case HTTP_ROUTE_OPENAPI:
		answer_static(ans, 200, CT_JSON, http_openapi_json, http_openapi_json_len);
		return false;
	default:
		ok = prepare_query_route(in, call, ans);
		break;
	}
	if (ok)
		call->msg = (const ProtobufCMessage *)&call->req;
	return ok;
}

static void
answer_health(pigeon_status st, const char *message, const ProtobufCMessage *reply,
    http_answer *ans)
{
	const Pigeon__V1__HealthReply *h = (const Pigeon__V1__HealthReply *)reply;
	char *body;
	size_t len = 0;

	if (st != PIGEON_OK) {
		fail(ans, 503, "pigeond does not answer: %s",
		    message != NULL && message[0] != '\0' ? message : pigeon_status_name(st));
		return;
	}
	body = http_json_health(h, &len);
	answer_text(ans,
	    h->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING ? 200 : 503, CT_JSON,
	    body, len);
}

void
http_api_answer(const http_call *call, pigeon_status st, const char *message,
    const ProtobufCMessage *reply, const http_metrics *m, http_answer *ans)
{
	static const char logged_in[] = "Logged in.";
	static const char logged_out[] = "Logged out.";
	char *body = NULL;
	size_t len = 0;
	int status = 200;

	memset(ans, 0, sizeof(*ans));
	if (call->route == HTTP_ROUTE_HEALTHZ) {
		answer_health(st, message, reply, ans);
		return;
	}
	if (call->route == HTTP_ROUTE_METRICS) {
		body = http_metrics_render(m, st == PIGEON_OK ? (const void *)reply : NULL, &len);
		answer_text(ans, 200, CT_METRICS, body, len);
		return;
	}
	if (st != PIGEON_OK) {
		answer_failure(call, st, message, ans);
		return;
	}
	switch (call->route) {
	case HTTP_ROUTE_LOGIN:
		/* Required mode answers the session token; open mode the
		 * original's text. */
		if (call->auth == HTTP_AUTH_REQUIRED) {
			body = http_json_login((const void *)reply, &len);
			break;
		}
		answer_static(ans, 200, CT_TEXT, logged_in, sizeof(logged_in) - 1);
		return;
	case HTTP_ROUTE_LOGOUT:
		answer_static(ans, 200, CT_TEXT, logged_out, sizeof(logged_out) - 1);
		return;
	case HTTP_ROUTE_MESSAGE:
		body = http_json_send_reply((const void *)reply, &len);
		break;
	case HTTP_ROUTE_USER_STATS:
		body = http_json_user_stats((const void *)reply, &len);
		break;
	case HTTP_ROUTE_INBOUND_MESSAGES:
		body = http_json_inbound((const void *)reply, call->read_state, &len);
		break;
	case HTTP_ROUTE_SPAMMER_STATS:
		body = http_json_leaderboard((const void *)reply, "spammers", &len);
		break;
	case HTTP_ROUTE_CHATTER_STATS:
		body = http_json_leaderboard((const void *)reply, "chatters", &len);
		break;
	case HTTP_ROUTE_ONLINE_USERS:
		body = http_json_online_users((const void *)reply, &len);
		break;
	case HTTP_ROUTE_EVENT_JOURNAL:
		body = http_json_journal((const void *)reply, &len);
		break;
	case HTTP_ROUTE_USERS:
		body = http_json_registered((const void *)reply, &len);
		status = 201;
		break;
	case HTTP_ROUTE_REVOKE_SESSIONS:
		body = http_json_revoked((const void *)reply, &len);
		break;
	case HTTP_ROUTE_HEARTBEAT:
		/* The reply does not name the user: the request does. */
		body = http_json_heartbeat(call->req.heartbeat.username, (const void *)reply, &len);
		break;
	case HTTP_ROUTE_USER:
		body = http_json_user((const void *)reply, &len);
		break;
	case HTTP_ROUTE_READ:
		body = http_json_read((const void *)reply, &len);
		break;
	case HTTP_ROUTE_REPORT:
		body = http_json_report((const void *)reply, &len);
		break;
	default:
		break;
	}
	if (body == NULL) {
		log_error("http", "cannot translate reply route=%s method=%s",
		    http_route_label(call->route), call->method);
		http_api_error(ans, 500, "The reply from pigeond could not be translated");
		return;
	}
	answer_text(ans, status, CT_JSON, body, len);
}

void
http_call_fini(http_call *call)
{
	json_decref(call->body);
	call->body = NULL;
	free(call->token);
	call->token = NULL;
	for (size_t i = 0; i < sizeof(call->owned) / sizeof(call->owned[0]); i++) {
		free(call->owned[i]);
		call->owned[i] = NULL;
	}
}

void
http_answer_fini(http_answer *ans)
{
	if (!ans->is_static)
		free(ans->body);
	ans->body = NULL;
	ans->len = 0;
}
