/* SPDX-License-Identifier: MIT */
/* The HTTP bridge's pure parts: routing, request-target and query parsing,
 * JSON parsing of request bodies, each route's request building, and the
 * translation of every reply into the exact JSON of docs/http.md, in both
 * --auth modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"
#include "auth.h"
#include "json.h"
#include "metrics.h"
#include "openapi.h"
#include "routes.h"
#include "uri.h"
#include "validate.h"

/* Routing */

/* http_route_find of a path without a NUL. */
static http_match
t_find(const char *method, const char *path, const http_route **r)
{
	return http_route_find(method, path, strlen(path), r);
}

static void
test_every_readme_route_is_found(void **state)
{
	static const struct {
		const char *method, *path;
		http_route_id id;
	} want[] = {
		{"POST", "/login", HTTP_ROUTE_LOGIN},
		{"POST", "/logout", HTTP_ROUTE_LOGOUT},
		{"POST", "/message", HTTP_ROUTE_MESSAGE},
		{"GET", "/user-stats", HTTP_ROUTE_USER_STATS},
		{"GET", "/inbound-messages", HTTP_ROUTE_INBOUND_MESSAGES},
		{"POST", "/inbound-messages", HTTP_ROUTE_INBOUND_MESSAGES},
		{"GET", "/spammer-stats", HTTP_ROUTE_SPAMMER_STATS},
		{"GET", "/chatter-stats", HTTP_ROUTE_CHATTER_STATS},
		{"GET", "/online-users", HTTP_ROUTE_ONLINE_USERS},
		{"GET", "/event-journal", HTTP_ROUTE_EVENT_JOURNAL},
		{"POST", "/users", HTTP_ROUTE_USERS},
		{"POST", "/heartbeat", HTTP_ROUTE_HEARTBEAT},
		{"GET", "/users/Alice", HTTP_ROUTE_USER},
		{"HEAD", "/users/a/b", HTTP_ROUTE_USER},
		{"POST", "/read", HTTP_ROUTE_READ},
		{"POST", "/report", HTTP_ROUTE_REPORT},
		{"GET", "/healthz", HTTP_ROUTE_HEALTHZ},
		{"HEAD", "/healthz", HTTP_ROUTE_HEALTHZ},
		{"GET", "/metrics", HTTP_ROUTE_METRICS},
		{"GET", "/openapi.json", HTTP_ROUTE_OPENAPI},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const http_route *r = NULL;

		assert_int_equal(t_find(want[i].method, want[i].path, &r), HTTP_MATCH_OK);
		assert_int_equal(r->id, want[i].id);
		assert_ptr_equal(http_route_get(want[i].id), r);
	}
}

static void
test_unknown_path_is_no_path_and_wrong_method_is_no_method(void **state)
{
	const http_route *r = NULL;
	char allow[32];

	assert_int_equal(t_find("GET", "/nope", &r), HTTP_MATCH_NO_PATH);
	assert_int_equal(t_find("GET", "/login/", &r), HTTP_MATCH_NO_PATH);
	assert_int_equal(t_find("GET", "/Login", &r), HTTP_MATCH_NO_PATH);
	assert_int_equal(t_find("GET", "/login", &r), HTTP_MATCH_NO_METHOD);
	assert_int_equal(r->id, HTTP_ROUTE_LOGIN);
	http_route_allow(r, allow, sizeof(allow));
	assert_string_equal(allow, "POST");
	assert_int_equal(t_find("DELETE", "/user-stats", &r), HTTP_MATCH_NO_METHOD);
	http_route_allow(r, allow, sizeof(allow));
	assert_string_equal(allow, "GET, HEAD");
	assert_string_equal(http_route_label(HTTP_ROUTE_UNMATCHED), "unmatched");
	assert_string_equal(http_route_label(HTTP_ROUTE_CHATTER_STATS), "/chatter-stats");
	assert_null(http_route_get(HTTP_ROUTE_UNMATCHED));
}

/* /users/{username}: the prefix and at least one byte, a decoded NUL
 * included, so that the name's validation refuses it rather than the router
 * cutting the name short; POST /users stays the exact path. */
static void
test_user_route_takes_every_byte_after_its_prefix(void **state)
{
	const http_route *r = NULL;
	char allow[32];

	assert_int_equal(t_find("GET", "/users/", &r), HTTP_MATCH_NO_PATH);
	assert_int_equal(t_find("GET", "/user/Alice", &r), HTTP_MATCH_NO_PATH);
	assert_int_equal(http_route_find("GET", "/users/A\0b", 10, &r), HTTP_MATCH_OK);
	assert_int_equal(r->id, HTTP_ROUTE_USER);
	assert_int_equal(r->param_at, 7);
	assert_int_equal(t_find("POST", "/users/Alice", &r), HTTP_MATCH_NO_METHOD);
	http_route_allow(r, allow, sizeof(allow));
	assert_string_equal(allow, "GET, HEAD");
	assert_int_equal(t_find("POST", "/users", &r), HTTP_MATCH_OK);
	assert_int_equal(r->id, HTTP_ROUTE_USERS);
	assert_string_equal(http_route_label(HTTP_ROUTE_USER), "/users/{username}");
}

/* Request targets and query strings */

static void
test_query_values_are_percent_decoded(void **state)
{
	char *v = NULL;
	size_t len = 0;

	assert_int_equal(http_query_get("username=Dizzzmas", "username", &v, &len), HTTP_QUERY_FOUND);
	assert_string_equal(v, "Dizzzmas");
	free(v);
	assert_int_equal(http_query_get("a=1&user%6eame=J%C3%BCrgen+x&username=second", "username",
			     &v, &len),
	    HTTP_QUERY_FOUND);
	assert_string_equal(v, "J\xc3\xbcrgen x");
	assert_int_equal(len, 9);
	free(v);
	assert_int_equal(http_query_get("username=a%00b", "username", &v, &len), HTTP_QUERY_FOUND);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "a\0b", 3);
	free(v);
	assert_int_equal(http_query_get("username", "username", &v, &len), HTTP_QUERY_FOUND);
	assert_int_equal(len, 0);
	free(v);
}

static void
test_missing_and_malformed_query_values(void **state)
{
	char *v = NULL;
	size_t len;

	assert_int_equal(http_query_get(NULL, "username", &v, &len), HTTP_QUERY_ABSENT);
	assert_int_equal(http_query_get("", "username", &v, &len), HTTP_QUERY_ABSENT);
	assert_int_equal(http_query_get("user=x&usernames=y", "username", &v, &len),
	    HTTP_QUERY_ABSENT);
	assert_int_equal(http_query_get("username=a%zz", "username", &v, &len), HTTP_QUERY_MALFORMED);
	assert_int_equal(http_query_get("username=a%4", "username", &v, &len), HTTP_QUERY_MALFORMED);
	assert_int_equal(http_query_get("username=%", "username", &v, &len), HTTP_QUERY_MALFORMED);
	assert_null(v);
}

static void
test_target_split_and_path_decoding(void **state)
{
	const char *q;
	size_t n;
	char buf[32];

	http_uri_split("/user-stats?username=x", &n, &q);
	assert_int_equal(n, 11);
	assert_string_equal(q, "username=x");
	http_uri_split("/online-users", &n, &q);
	assert_int_equal(n, 13);
	assert_null(q);
	assert_true(http_uri_decode("/log%69n+x", 10, false, buf, &n));
	assert_string_equal(buf, "/login+x");
	assert_false(http_uri_decode("/a%2", 4, false, buf, &n));
}

/* JSON parsing */

static json_t *
parse(const char *text, char *err, size_t cap)
{
	return http_json_parse_object(text, strlen(text), err, cap);
}

static void
test_body_object_is_parsed(void **state)
{
	char err[256];
	const char *v;
	size_t len;
	json_t *j = parse("{\n  \"username\": \"flain1\"\n}", err, sizeof(err));

	assert_non_null(j);
	assert_int_equal(http_json_string(j, "username", &v, &len), HTTP_FIELD_OK);
	assert_string_equal(v, "flain1");
	assert_int_equal(len, 6);
	json_decref(j);
}

static void
test_duplicate_keys_are_rejected(void **state)
{
	char err[256];

	assert_null(parse("{\"username\": \"a\", \"username\": \"b\"}", err, sizeof(err)));
	assert_non_null(strstr(err, "duplicate object key"));
}

static void
test_escaped_nul_is_rejected(void **state)
{
	char err[256];

	assert_null(parse("{\"username\": \"a\\u0000b\"}", err, sizeof(err)));
	assert_non_null(strstr(err, "\\u0000 is not allowed"));
}

static void
test_deep_nesting_is_rejected_without_recursion(void **state)
{
	size_t depth = 100000;
	char *text = malloc(2 * depth + 16);
	char err[256];
	size_t n = 0;

	assert_non_null(text);
	text[n++] = '{';
	memcpy(text + n, "\"a\":", 4);
	n += 4;
	for (size_t i = 0; i < depth; i++)
		text[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		text[n++] = ']';
	text[n++] = '}';
	assert_null(http_json_parse_object(text, n, err, sizeof(err)));
	assert_string_equal(err, "Request body is nested deeper than 32 levels");
	free(text);
}

static void
test_brackets_inside_strings_do_not_count_as_nesting(void **state)
{
	char err[256];
	json_t *j = parse("{\"content\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{\"}", err,
	    sizeof(err));

	assert_non_null(j);
	json_decref(j);
}

static void
test_non_objects_and_garbage_are_rejected(void **state)
{
	char err[256];

	assert_null(parse("[1, 2]", err, sizeof(err)));
	assert_string_equal(err, "Request body must be a JSON object");
	assert_null(parse("", err, sizeof(err)));
	assert_non_null(strstr(err, "Request body is not valid JSON"));
	assert_null(parse("{\"a\": 1} x", err, sizeof(err)));
	assert_null(parse("username=flain1", err, sizeof(err)));
}

static void
test_field_types(void **state)
{
	char err[256];
	const char *v;
	size_t len;
	json_t *j = parse("{\"n\": 5, \"e\": \"\", \"z\": null, \"l\": [\"x\"], \"s\": \"ok\"}", err,
	    sizeof(err));

	assert_non_null(j);
	assert_int_equal(http_json_string(j, "n", &v, &len), HTTP_FIELD_WRONG_TYPE);
	assert_int_equal(http_json_string(j, "l", &v, &len), HTTP_FIELD_WRONG_TYPE);
	assert_int_equal(http_json_string(j, "e", &v, &len), HTTP_FIELD_MISSING);
	assert_int_equal(http_json_string(j, "z", &v, &len), HTTP_FIELD_MISSING);
	assert_int_equal(http_json_string(j, "absent", &v, &len), HTTP_FIELD_MISSING);
	assert_int_equal(http_json_string(j, "s", &v, &len), HTTP_FIELD_OK);
	json_decref(j);
}

/* Translation of replies: the exact text of docs/http.md */

/* len is read after body is made: a pointer, as argument order is unspecified. */
static void
assert_body(char *body, const size_t *len, const char *want)
{
	assert_non_null(body);
	assert_string_equal(body, want);
	assert_int_equal(*len, strlen(want));
	free(body);
}

static void
test_error_body_has_code_status_message(void **state)
{
	size_t len;

	assert_body(http_json_error(404, "Couldn't find user with username U", &len), &len,
	    "{\"code\": 404, \"status\": \"Not Found\", \"message\": \"Couldn't find user with "
	    "username U\"}\n");
	assert_body(http_json_error(418, "User U is already logged in.", &len), &len,
	    "{\"code\": 418, \"status\": \"I'm a teapot\", \"message\": \"User U is already logged "
	    "in.\"}\n");
	assert_body(http_json_error(422, "Missing field in request body", &len), &len,
	    "{\"code\": 422, \"status\": \"Unprocessable Entity\", \"message\": \"Missing field in "
	    "request body\"}\n");
	assert_string_equal(http_json_reason(503), "Service Unavailable");
	assert_string_equal(http_json_reason(504), "Gateway Timeout");
}

static Pigeon__V1__Message
message(uint64_t id, char *sender, char *recipient, char *content)
{
	Pigeon__V1__Message m = PIGEON__V1__MESSAGE__INIT;

	m.id = id;
	m.sender = sender;
	m.recipient = recipient;
	m.content = content;
	m.state = PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_ENQUEUED;
	return m;
}

static void
test_send_reply_is_the_message_with_integer_id(void **state)
{
	Pigeon__V1__Message m = message(1, "flain1", "Ilya", "My message");
	Pigeon__V1__SendMessageReply r = PIGEON__V1__SEND_MESSAGE_REPLY__INIT;
	size_t len;

	r.message = &m;
	assert_body(http_json_send_reply(&r, &len), &len,
	    "{\"content\": \"My message\", \"id\": 1, \"recipient\": \"Ilya\", \"sender\": "
	    "\"flain1\"}\n");
}

static void
test_inbound_messages_keep_original_fields_beside_cursor(void **state)
{
	Pigeon__V1__Message m = message(2, "Ilya", "flain1", "My reply");
	Pigeon__V1__Message *list[] = {&m};
	Pigeon__V1__ListInboundMessagesReply r = PIGEON__V1__LIST_INBOUND_MESSAGES_REPLY__INIT;
	size_t len;

	r.n_messages = 1;
	r.messages = list;
	r.next_cursor = 7;
	m.read_ms = 1796209690059;
	assert_body(http_json_inbound(&r, false, &len), &len,
	    "{\"inbound_messages\": [{\"content\": \"My reply\", \"id\": 2, \"recipient\": "
	    "\"flain1\", \"sender\": \"Ilya\"}], \"next_cursor\": 7}\n");
	r.n_messages = 0;
	r.next_cursor = 0;
	assert_body(http_json_inbound(&r, false, &len), &len,
	    "{\"inbound_messages\": [], \"next_cursor\": 0}\n");
}

/* Asked with `unread`, each message gains read_ms where the original's
 * sorted keys would put it; 0 while unread. */
static void
test_inbound_messages_with_read_state_add_read_ms_in_key_order(void **state)
{
	Pigeon__V1__Message a = message(2, "Ilya", "flain1", "My reply");
	Pigeon__V1__Message b = message(3, "Ilya", "flain1", "again");
	Pigeon__V1__Message *list[] = {&a, &b};
	Pigeon__V1__ListInboundMessagesReply r = PIGEON__V1__LIST_INBOUND_MESSAGES_REPLY__INIT;
	size_t len;

	a.read_ms = 1796209690059;
	r.n_messages = 2;
	r.messages = list;
	assert_body(http_json_inbound(&r, true, &len), &len,
	    "{\"inbound_messages\": [{\"content\": \"My reply\", \"id\": 2, \"read_ms\": "
	    "1796209690059, \"recipient\": \"flain1\", \"sender\": \"Ilya\"}, {\"content\": "
	    "\"again\", \"id\": 3, \"read_ms\": 0, \"recipient\": \"flain1\", \"sender\": "
	    "\"Ilya\"}], \"next_cursor\": 0}\n");
}

static void
test_leaderboards_are_name_float_pairs(void **state)
{
	Pigeon__V1__LeaderboardEntry a = PIGEON__V1__LEADERBOARD_ENTRY__INIT;
	Pigeon__V1__LeaderboardEntry b = PIGEON__V1__LEADERBOARD_ENTRY__INIT;
	Pigeon__V1__LeaderboardEntry *list[] = {&a, &b};
	Pigeon__V1__Leaderboard r = PIGEON__V1__LEADERBOARD__INIT;
	size_t len;

	a.username = "Ilya";
	a.count = 3;
	b.username = "Alice";
	b.count = 1;
	r.n_entries = 2;
	r.entries = list;
	assert_body(http_json_leaderboard(&r, "spammers", &len), &len,
	    "{\"spammers\": [[\"Ilya\", 3.0], [\"Alice\", 1.0]]}\n");
	r.n_entries = 0;
	assert_body(http_json_leaderboard(&r, "chatters", &len), &len, "{\"chatters\": []}\n");
}

static void
test_user_stats_has_the_four_counts_then_unread(void **state)
{
	Pigeon__V1__UserStats r = PIGEON__V1__USER_STATS__INIT;
	size_t len;

	r.username = "Dizzzmas";
	r.delivered = 1;
	r.being_spam_checked = 2;
	r.enqueued = 3;
	r.marked_as_spam = 4;
	r.unread = 5;
	assert_body(http_json_user_stats(&r, &len), &len,
	    "{\"being_spam_checked\": 2, \"delivered\": 1, \"enqueued\": 3, \"marked_as_spam\": "
	    "4, \"unread\": 5}\n");
}

static void
test_presence_and_read_answers(void **state)
{
	Pigeon__V1__HeartbeatReply hb = PIGEON__V1__HEARTBEAT_REPLY__INIT;
	Pigeon__V1__GetUserReply u = PIGEON__V1__GET_USER_REPLY__INIT;
	Pigeon__V1__MarkReadReply mr = PIGEON__V1__MARK_READ_REPLY__INIT;
	size_t len;

	assert_body(http_json_heartbeat("Ilya", &hb, &len), &len,
	    "{\"username\": \"Ilya\", \"online\": false, \"expires_ms\": 0}\n");
	hb.online = true;
	hb.expires_ms = 1796209690059;
	assert_body(http_json_heartbeat("Ilya", &hb, &len), &len,
	    "{\"username\": \"Ilya\", \"online\": true, \"expires_ms\": 1796209690059}\n");
	u.username = "Ilya";
	u.role = PIGEON__V1__ROLE__ROLE_ADMIN;
	u.online = true;
	u.last_seen_ms = 1796209690059;
	u.created_ms = 1796209000000;
	assert_body(http_json_user(&u, &len), &len,
	    "{\"username\": \"Ilya\", \"role\": \"admin\", \"online\": true, \"last_seen_ms\": "
	    "1796209690059, \"created_ms\": 1796209000000}\n");
	u.role = PIGEON__V1__ROLE__ROLE_REGULAR;
	u.online = false;
	u.last_seen_ms = 0;
	u.created_ms = 0;
	assert_body(http_json_user(&u, &len), &len,
	    "{\"username\": \"Ilya\", \"role\": \"regular\", \"online\": false, "
	    "\"last_seen_ms\": 0, \"created_ms\": 0}\n");
	mr.username = "Ilya";
	mr.unread = 1;
	mr.marked = 2;
	assert_body(http_json_read(&mr, &len), &len, "{\"unread\": 1}\n");
}

static void
test_online_users_and_journal(void **state)
{
	char *names[] = {"Ilya", "flain1"};
	Pigeon__V1__ListOnlineUsersReply o = PIGEON__V1__LIST_ONLINE_USERS_REPLY__INIT;
	Pigeon__V1__Event e1 = PIGEON__V1__EVENT__INIT, e2 = PIGEON__V1__EVENT__INIT;
	Pigeon__V1__Event *events[] = {&e1, &e2};
	Pigeon__V1__GetEventJournalReply j = PIGEON__V1__GET_EVENT_JOURNAL_REPLY__INIT;
	size_t len;

	o.n_usernames = 2;
	o.usernames = names;
	assert_body(http_json_online_users(&o, &len), &len,
	    "{\"online_users\": [\"Ilya\", \"flain1\"], \"next_cursor\": \"\"}\n");
	e1.text = "SPAM: message with id 7 by Ilya";
	e2.text = "LOGOUT: Dizzzmas";
	j.n_events = 2;
	j.events = events;
	j.next_cursor = 3;
	assert_body(http_json_journal(&j, &len), &len,
	    "{\"events\": [\"SPAM: message with id 7 by Ilya\", \"LOGOUT: Dizzzmas\"], "
	    "\"next_cursor\": 3}\n");
}

/* Each route's request building */

static bool
prepare(http_route_id id, const char *query, const char *body, http_call *call,
    http_answer *ans)
{
	http_input in = {
		.route = http_route_get(id),
		.query = query,
		.body = body != NULL ? body : "",
		.body_len = body != NULL ? strlen(body) : 0,
	};

	return http_api_prepare(&in, call, ans);
}

static void
assert_error(const http_answer *ans, int code, const char *message)
{
	char want[512];

	snprintf(want, sizeof(want), "\"message\": \"%s\"}\n", message);
	assert_int_equal(ans->status, code);
	assert_string_equal(ans->content_type, "application/json");
	assert_non_null(strstr(ans->body, want));
}

static void
test_login_builds_login_request(void **state)
{
	http_call call;
	http_answer ans;

	assert_true(prepare(HTTP_ROUTE_LOGIN, NULL, "{\"username\": \"flain1\"}", &call, &ans));
	assert_string_equal(call.method, "Login");
	assert_ptr_equal(call.msg->descriptor, &pigeon__v1__login_request__descriptor);
	assert_string_equal(call.req.login.username, "flain1");
	http_call_fini(&call);
}

static void
test_login_without_username_is_422(void **state)
{
	static const char *const bodies[] = {"{}", "{\"username\": \"\"}", "{\"username\": null}"};
	http_call call;
	http_answer ans;

	for (size_t i = 0; i < 3; i++) {
		assert_false(prepare(HTTP_ROUTE_LOGOUT, NULL, bodies[i], &call, &ans));
		assert_error(&ans, 422, "Missing 'username' in the request body");
		http_answer_fini(&ans);
		http_call_fini(&call);
	}
	assert_false(prepare(HTTP_ROUTE_LOGIN, NULL, "{\"username\": 5}", &call, &ans));
	assert_error(&ans, 422, "'username' must be a string");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_false(prepare(HTTP_ROUTE_LOGIN, NULL, "{\"username\": \"a b\"}", &call, &ans));
	assert_int_equal(ans.status, 422);
	http_answer_fini(&ans);
	http_call_fini(&call);
}

static void
test_login_with_bad_json_is_400(void **state)
{
	http_call call;
	http_answer ans;

	assert_false(prepare(HTTP_ROUTE_LOGIN, NULL, "{\"username\": ", &call, &ans));
	assert_int_equal(ans.status, 400);
	http_answer_fini(&ans);
	http_call_fini(&call);
}

static void
test_message_requires_every_field(void **state)
{
	http_call call;
	http_answer ans;

	assert_false(prepare(HTTP_ROUTE_MESSAGE, NULL, "{\"sender\": \"a\", \"recipient\": \"b\"}",
	    &call, &ans));
	assert_error(&ans, 422, "Missing field in request body");
	http_answer_fini(&ans);
	http_call_fini(&call);

	http_input in = {
		.route = http_route_get(HTTP_ROUTE_MESSAGE),
		.body = "{\"content\": \"My message\", \"recipient\": \"Ilya\", \"sender\": \"flain1\"}",
		.idempotency_key = "k-1",
	};
	in.body_len = strlen(in.body);
	assert_true(http_api_prepare(&in, &call, &ans));
	assert_string_equal(call.method, "SendMessage");
	assert_string_equal(call.req.send.sender, "flain1");
	assert_string_equal(call.req.send.recipient, "Ilya");
	assert_string_equal(call.req.send.content, "My message");
	assert_string_equal(call.req.send.idempotency_key, "k-1");
	http_call_fini(&call);
}

/* A message body: sender and recipient of n_user bytes, each written as
 * user_esc, and content of n_content bytes, each written as content_esc
 * (an escape, or "a").  Freed by the caller. */
static char *
t_message_body(size_t n_user, const char *user_esc, size_t n_content, const char *content_esc)
{
	static const char *const open[] = {
	    "{\"sender\": \"", "\", \"recipient\": \"", "\", \"content\": \""};
	size_t cap = 2 * n_user * strlen(user_esc) + n_content * strlen(content_esc) + 64;
	char *body = malloc(cap), *p = body;

	assert_non_null(body);
	for (int field = 0; field < 3; field++) {
		size_t n = field < 2 ? n_user : n_content;
		const char *esc = field < 2 ? user_esc : content_esc;

		p += sprintf(p, "%s", open[field]);
		for (size_t i = 0; i < n; i++)
			p += sprintf(p, "%s", esc);
	}
	p += sprintf(p, "\"}");
	assert_true((size_t)(p - body) < cap);
	return body;
}

/* The worst a client can do to a message at the limits, every byte a
 * 6-byte escape (usernames of 64 bytes, content of 64 KiB), still fits the
 * default body cap, which is the derivation's value. */
static void
test_most_escaped_message_at_the_limits_fits_the_default_body_cap(void **state)
{
	char *body = t_message_body(64, "\\u0061", PIGEON_CONTENT_MAX_DEFAULT, "\\u0001");
	http_input in = {.route = http_route_get(HTTP_ROUTE_MESSAGE), .body = body};
	http_call call;
	http_answer ans;

	assert_int_equal(HTTP_BODY_MAX_DEFAULT, 397312);
	assert_int_equal(HTTP_BODY_MAX_FOR(PIGEON_CONTENT_MAX_DEFAULT), HTTP_BODY_MAX_DEFAULT);
	in.body_len = strlen(body);
	assert_int_equal(in.body_len, 2 * 64 * 6 + 65536 * 6 + 46);
	assert_true(in.body_len <= HTTP_BODY_MAX_DEFAULT);
	assert_true(http_api_prepare(&in, &call, &ans));
	assert_int_equal(strlen(call.req.send.sender), 64);
	assert_int_equal(strspn(call.req.send.sender, "a"), 64);
	assert_int_equal(strlen(call.req.send.content), PIGEON_CONTENT_MAX_DEFAULT);
	assert_int_equal(strspn(call.req.send.content, "\x01"), PIGEON_CONTENT_MAX_DEFAULT);
	http_call_fini(&call);
	free(body);
}

/* Content of exactly the limit goes to pigeond; a byte more is 413 with the
 * limit in the message, here as from pigeond.  0 in the input is the
 * default limit. */
static void
test_message_content_over_the_limit_is_413(void **state)
{
	char *body = t_message_body(5, "a", PIGEON_CONTENT_MAX_DEFAULT, "a");
	http_input in = {.route = http_route_get(HTTP_ROUTE_MESSAGE), .body = body};
	http_call call;
	http_answer ans;

	in.body_len = strlen(body);
	assert_true(http_api_prepare(&in, &call, &ans));
	assert_int_equal(strlen(call.req.send.content), PIGEON_CONTENT_MAX_DEFAULT);
	http_call_fini(&call);
	free(body);

	body = t_message_body(5, "a", PIGEON_CONTENT_MAX_DEFAULT + 1, "a");
	in.body = body;
	in.body_len = strlen(body);
	assert_false(http_api_prepare(&in, &call, &ans));
	assert_string_equal(ans.body, "{\"code\": 413, \"status\": \"Request Entity Too Large\", "
				      "\"message\": \"content is larger than the limit of 65536 bytes\"}\n");
	http_answer_fini(&ans);
	http_call_fini(&call);

	in.content_max = 10;
	assert_false(http_api_prepare(&in, &call, &ans));
	assert_error(&ans, 413, "content is larger than the limit of 10 bytes");
	http_answer_fini(&ans);
	http_call_fini(&call);
	free(body);
}

/* pigeond's content limit below the bridge's: its RESOURCE_EXHAUSTED is the
 * same 413.  Any other RESOURCE_EXHAUSTED of a send (Redis out of memory)
 * stays 429, to be retried. */
static void
test_pigeond_content_limit_is_413_and_other_exhaustion_429(void **state)
{
	http_call call = {.route = HTTP_ROUTE_MESSAGE, .method = "SendMessage"};
	http_answer ans;

	http_api_answer(&call, PIGEON_RESOURCE_EXHAUSTED,
	    "content is larger than the limit of 1000 bytes", NULL, NULL, &ans);
	assert_error(&ans, 413, "content is larger than the limit of 1000 bytes");
	http_answer_fini(&ans);
	http_api_answer(&call, PIGEON_RESOURCE_EXHAUSTED,
	    "OOM command not allowed when used memory > 'maxmemory'.", NULL, NULL, &ans);
	assert_int_equal(ans.status, 429);
	http_answer_fini(&ans);
	http_api_answer(&call, PIGEON_RESOURCE_EXHAUSTED, NULL, NULL, NULL, &ans);
	assert_error(&ans, 429, "RESOURCE_EXHAUSTED");
	http_answer_fini(&ans);
}

static void
test_heartbeat_and_read_take_a_username_and_an_id(void **state)
{
	static const struct {
		const char *body;
		int code;
		const char *message;
	} bad[] = {
		{"[1]", 400, "Request body must be a JSON object"},
		{"{\"up_to_id\": 1}", 422, "Missing 'username' in the request body"},
		{"{\"username\": 5, \"up_to_id\": 1}", 422, "'username' must be a string"},
		{"{\"username\": \"a b\", \"up_to_id\": 1}", 422,
		    "Invalid 'username': username contains a space or control character"},
		{"{\"username\": \"Ilya\"}", 422, "Missing 'up_to_id' in the request body"},
		{"{\"username\": \"Ilya\", \"up_to_id\": null}", 422,
		    "Missing 'up_to_id' in the request body"},
		{"{\"username\": \"Ilya\", \"up_to_id\": -1}", 422,
		    "'up_to_id' must be a non-negative integer"},
		{"{\"username\": \"Ilya\", \"up_to_id\": 1.5}", 422,
		    "'up_to_id' must be a non-negative integer"},
		{"{\"username\": \"Ilya\", \"up_to_id\": \"2\"}", 422,
		    "'up_to_id' must be a non-negative integer"},
		{"{\"username\": \"Ilya\", \"up_to_id\": true}", 422,
		    "'up_to_id' must be a non-negative integer"},
	};
	http_call call;
	http_answer ans;

	assert_true(prepare(HTTP_ROUTE_HEARTBEAT, NULL, "{\"username\": \"Ilya\"}", &call, &ans));
	assert_string_equal(call.method, "Heartbeat");
	assert_string_equal(call.req.heartbeat.username, "Ilya");
	http_call_fini(&call);
	assert_false(prepare(HTTP_ROUTE_HEARTBEAT, NULL, "{}", &call, &ans));
	assert_error(&ans, 422, "Missing 'username' in the request body");
	http_answer_fini(&ans);
	http_call_fini(&call);

	assert_true(prepare(HTTP_ROUTE_READ, NULL,
	    "{\"username\": \"Ilya\", \"up_to_id\": 9223372036854775807}", &call, &ans));
	assert_string_equal(call.method, "MarkRead");
	assert_string_equal(call.req.mark_read.username, "Ilya");
	assert_true(call.req.mark_read.up_to_id == UINT64_C(9223372036854775807));
	http_call_fini(&call);
	assert_true(prepare(HTTP_ROUTE_READ, NULL, "{\"username\": \"Ilya\", \"up_to_id\": 0}",
	    &call, &ans));
	assert_int_equal(call.req.mark_read.up_to_id, 0);
	http_call_fini(&call);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(prepare(HTTP_ROUTE_READ, NULL, bad[i].body, &call, &ans));
		assert_error(&ans, bad[i].code, bad[i].message);
		http_answer_fini(&ans);
		http_call_fini(&call);
	}
}

/* A report names a message by a positive id and says spam with a JSON
 * boolean; its answer is the message's state as /user-stats names it. */
static void
test_report_takes_an_id_and_a_boolean_and_answers_the_state(void **state)
{
	static const struct {
		const char *body;
		int code;
		const char *message;
	} bad[] = {
		{"[1]", 400, "Request body must be a JSON object"},
		{"{\"message_id\": 1, \"spam\": true}", 422, "Missing 'username' in the request body"},
		{"{\"username\": \"Ilya\", \"spam\": true}", 422,
		    "Missing 'message_id' in the request body"},
		{"{\"username\": \"Ilya\", \"message_id\": null, \"spam\": true}", 422,
		    "Missing 'message_id' in the request body"},
		{"{\"username\": \"Ilya\", \"message_id\": 0, \"spam\": true}", 422,
		    "'message_id' must be a positive integer"},
		{"{\"username\": \"Ilya\", \"message_id\": -3, \"spam\": true}", 422,
		    "'message_id' must be a positive integer"},
		{"{\"username\": \"Ilya\", \"message_id\": \"3\", \"spam\": true}", 422,
		    "'message_id' must be a positive integer"},
		{"{\"username\": \"Ilya\", \"message_id\": 3}", 422, "Missing 'spam' in the request body"},
		{"{\"username\": \"Ilya\", \"message_id\": 3, \"spam\": null}", 422,
		    "Missing 'spam' in the request body"},
		{"{\"username\": \"Ilya\", \"message_id\": 3, \"spam\": \"true\"}", 422,
		    "'spam' must be true or false"},
		{"{\"username\": \"Ilya\", \"message_id\": 3, \"spam\": 1}", 422,
		    "'spam' must be true or false"},
	};
	Pigeon__V1__Message m = PIGEON__V1__MESSAGE__INIT;
	Pigeon__V1__ReportMessageReply r = PIGEON__V1__REPORT_MESSAGE_REPLY__INIT;
	http_call call;
	http_answer ans;
	size_t len;

	assert_true(prepare(HTTP_ROUTE_REPORT, NULL,
	    "{\"username\": \"Ilya\", \"message_id\": 7, \"spam\": true}", &call, &ans));
	assert_string_equal(call.method, "ReportMessage");
	assert_string_equal(call.req.report.username, "Ilya");
	assert_int_equal(call.req.report.message_id, 7);
	assert_true(call.req.report.spam);
	http_call_fini(&call);
	assert_true(prepare(HTTP_ROUTE_REPORT, NULL,
	    "{\"username\": \"Ilya\", \"message_id\": 7, \"spam\": false}", &call, &ans));
	assert_false(call.req.report.spam);
	http_call_fini(&call);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(prepare(HTTP_ROUTE_REPORT, NULL, bad[i].body, &call, &ans));
		assert_error(&ans, bad[i].code, bad[i].message);
		http_answer_fini(&ans);
		http_call_fini(&call);
	}

	m.id = 7;
	m.state = PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_MARKED_AS_SPAM;
	r.message = &m;
	r.changed = true;
	assert_body(http_json_report(&r, &len), &len,
	    "{\"message_id\": 7, \"state\": \"marked_as_spam\", \"changed\": true}\n");
	m.state = PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_DELIVERED;
	r.changed = false;
	assert_body(http_json_report(&r, &len), &len,
	    "{\"message_id\": 7, \"state\": \"delivered\", \"changed\": false}\n");
	r.message = NULL;
	assert_null(http_json_report(&r, &len));
}

/* The name of /users/{username} is validated as any username, with its
 * length: a decoded NUL in it is a control character, not its end. */
static void
test_get_user_validates_the_name_of_the_path(void **state)
{
	http_input in = {.route = http_route_get(HTTP_ROUTE_USER), .body = ""};
	http_call call;
	http_answer ans;

	in.param = "Ilya";
	in.param_len = 4;
	assert_true(http_api_prepare(&in, &call, &ans));
	assert_string_equal(call.method, "GetUser");
	assert_string_equal(call.req.get_user.username, "Ilya");
	http_call_fini(&call);
	in.param = "Il\0ya";
	in.param_len = 5;
	assert_false(http_api_prepare(&in, &call, &ans));
	assert_error(&ans, 422, "Invalid 'username': username contains a space or control character");
	http_answer_fini(&ans);
	http_call_fini(&call);
}

static void
test_query_routes_need_username_and_take_paging(void **state)
{
	http_call call;
	http_answer ans;

	assert_false(prepare(HTTP_ROUTE_USER_STATS, NULL, NULL, &call, &ans));
	assert_error(&ans, 422, "Missing 'username' in the query string");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_false(prepare(HTTP_ROUTE_INBOUND_MESSAGES, "username=", NULL, &call, &ans));
	assert_error(&ans, 422, "Missing 'username' in the query string");
	http_answer_fini(&ans);
	http_call_fini(&call);

	/* The README's POST with '{}': the body is ignored. */
	assert_true(prepare(HTTP_ROUTE_INBOUND_MESSAGES, "username=flain1&limit=10&after=42", "{}",
	    &call, &ans));
	assert_string_equal(call.method, "ListInboundMessages");
	assert_string_equal(call.req.inbound.username, "flain1");
	assert_int_equal(call.req.inbound.page_size, 10);
	assert_int_equal(call.req.inbound.cursor, 42);
	http_call_fini(&call);

	assert_false(prepare(HTTP_ROUTE_EVENT_JOURNAL, "limit=1001", NULL, &call, &ans));
	assert_error(&ans, 422, "'limit' must be an integer from 1 to 1000");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_false(prepare(HTTP_ROUTE_EVENT_JOURNAL, "after=-1", NULL, &call, &ans));
	assert_int_equal(ans.status, 422);
	http_answer_fini(&ans);
	http_call_fini(&call);

	assert_true(prepare(HTTP_ROUTE_INBOUND_MESSAGES, "username=flain1", NULL, &call, &ans));
	assert_false(call.read_state);
	assert_false(call.req.inbound.unread_only);
	http_call_fini(&call);
	assert_true(prepare(HTTP_ROUTE_INBOUND_MESSAGES, "username=flain1&unread=1", NULL, &call,
	    &ans));
	assert_true(call.read_state);
	assert_true(call.req.inbound.unread_only);
	http_call_fini(&call);
	assert_true(prepare(HTTP_ROUTE_INBOUND_MESSAGES, "username=flain1&unread=false", NULL,
	    &call, &ans));
	assert_true(call.read_state);
	assert_false(call.req.inbound.unread_only);
	http_call_fini(&call);
	assert_false(prepare(HTTP_ROUTE_INBOUND_MESSAGES, "username=flain1&unread=yes", NULL, &call,
	    &ans));
	assert_error(&ans, 422, "'unread' must be 1, true, 0 or false");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_false(prepare(HTTP_ROUTE_INBOUND_MESSAGES, "username=flain1&unread=%zz", NULL,
	    &call, &ans));
	assert_error(&ans, 400, "Malformed percent-escape in query parameter 'unread'");
	http_answer_fini(&ans);
	http_call_fini(&call);

	assert_true(prepare(HTTP_ROUTE_ONLINE_USERS, "after=Ilya", NULL, &call, &ans));
	assert_string_equal(call.req.online.cursor, "Ilya");
	http_call_fini(&call);
	assert_true(prepare(HTTP_ROUTE_CHATTER_STATS, NULL, NULL, &call, &ans));
	assert_string_equal(call.method, "GetChatterStats");
	assert_int_equal(call.req.leaderboard.limit, 0);
	http_call_fini(&call);
}

static void
test_unmatched_and_wrong_method_answer_json(void **state)
{
	http_input in = {0};
	http_call call;
	http_answer ans;

	assert_false(http_api_prepare(&in, &call, &ans));
	assert_int_equal(ans.status, 404);
	assert_string_equal(ans.content_type, "application/json");
	http_answer_fini(&ans);
	in.route = http_route_get(HTTP_ROUTE_MESSAGE);
	in.method_not_allowed = true;
	assert_false(http_api_prepare(&in, &call, &ans));
	assert_int_equal(ans.status, 405);
	assert_string_equal(ans.allow, "POST");
	http_answer_fini(&ans);
}

/* Answers from RPC outcomes */

static void
test_rpc_errors_use_the_status_table_and_pigeond_message(void **state)
{
	http_call call = {.route = HTTP_ROUTE_LOGIN, .method = "Login"};
	http_answer ans;

	http_api_answer(&call, PIGEON_NOT_FOUND, "Couldn't find user with username U", NULL, NULL,
	    &ans);
	assert_string_equal(ans.body, "{\"code\": 404, \"status\": \"Not Found\", \"message\": "
				      "\"Couldn't find user with username U\"}\n");
	http_answer_fini(&ans);
	http_api_answer(&call, PIGEON_ALREADY_EXISTS, "User U is already logged in.", NULL, NULL,
	    &ans);
	assert_error(&ans, 418, "User U is already logged in.");
	http_answer_fini(&ans);
	http_api_answer(&call, PIGEON_UNAVAILABLE, "", NULL, NULL, &ans);
	assert_error(&ans, 503, "UNAVAILABLE");
	http_answer_fini(&ans);
	http_api_answer(&call, PIGEON_DEADLINE_EXCEEDED, NULL, NULL, NULL, &ans);
	assert_int_equal(ans.status, 504);
	http_answer_fini(&ans);
}

static void
test_login_logout_answer_plain_text(void **state)
{
	http_call call = {.route = HTTP_ROUTE_LOGIN};
	Pigeon__V1__LoginReply login = PIGEON__V1__LOGIN_REPLY__INIT;
	http_answer ans;

	http_api_answer(&call, PIGEON_OK, NULL, &login.base, NULL, &ans);
	assert_int_equal(ans.status, 200);
	assert_memory_equal(ans.body, "Logged in.", ans.len);
	assert_int_equal(ans.len, 10);
	assert_non_null(strstr(ans.content_type, "text/plain"));
	call.route = HTTP_ROUTE_LOGOUT;
	http_api_answer(&call, PIGEON_OK, NULL, &login.base, NULL, &ans);
	assert_memory_equal(ans.body, "Logged out.", ans.len);
}

static void
test_healthz_follows_serving_status(void **state)
{
	http_call call = {.route = HTTP_ROUTE_HEALTHZ};
	Pigeon__V1__HealthReply h = PIGEON__V1__HEALTH_REPLY__INIT;
	http_answer ans;

	h.status = PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	h.version = "0.1.0";
	http_api_answer(&call, PIGEON_OK, NULL, &h.base, NULL, &ans);
	assert_int_equal(ans.status, 200);
	http_answer_fini(&ans);
	h.status = PIGEON__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING;
	http_api_answer(&call, PIGEON_OK, NULL, &h.base, NULL, &ans);
	assert_int_equal(ans.status, 503);
	http_answer_fini(&ans);
	http_api_answer(&call, PIGEON_UNAVAILABLE, "down", NULL, NULL, &ans);
	assert_int_equal(ans.status, 503);
	http_answer_fini(&ans);
}

static void
test_metrics_render_prometheus_text(void **state)
{
	http_metrics *m = NULL;
	Pigeon__V1__HealthReply h = PIGEON__V1__HEALTH_REPLY__INIT;
	size_t len;
	char *text;

	assert_int_equal(http_metrics_new(&m), PIGEON_OK);
	http_metrics_request_begin(m);
	http_metrics_request_end(m, HTTP_ROUTE_LOGIN, 200, 700);
	http_metrics_request_begin(m);
	http_metrics_rpc_failure(m, PIGEON_UNAVAILABLE);
	h.queue_depth = 5;
	h.workers = 2;
	text = http_metrics_render(m, &h, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "pigeon_http_requests_total{route=\"/login\",status=\"200\"} 1\n"));
	assert_non_null(strstr(text,
	    "pigeon_http_request_duration_seconds_bucket{route=\"/login\",le=\"0.0005\"} 0\n"));
	assert_non_null(strstr(text,
	    "pigeon_http_request_duration_seconds_bucket{route=\"/login\",le=\"0.001\"} 1\n"));
	assert_non_null(strstr(text, "pigeon_http_rpc_failures_total{status=\"UNAVAILABLE\"} 1\n"));
	assert_non_null(strstr(text, "pigeon_http_requests_in_flight 1\n"));
	assert_non_null(strstr(text, "pigeon_pigeond_up 1\n"));
	assert_non_null(strstr(text, "pigeon_queue_depth 5\n"));
	assert_non_null(strstr(text, "pigeon_workers 2\n"));
	free(text);
	text = http_metrics_render(m, NULL, &len);
	assert_non_null(strstr(text, "pigeon_pigeond_up 0\n"));
	assert_null(strstr(text, "pigeon_queue_depth"));
	free(text);
	http_metrics_free(m);
}

/* --auth required */

static void
test_bearer_header_is_scheme_spaces_and_token_alphabet(void **state)
{
	static const char *const bad[] = {"", "Bearer", "Bearer ", "Bearer  ", "Bearertoken",
	    "Basic dXNlcjpwdw==", "Bearer p1.a.b c", "Bearer p1.a+b", "Bearer p1/a",
	    "Bearer a=", "Bearer p1.\xc3\xa9", "Bearer \tp1.a.b", "Bearer p1.a.b\t",
	    " Bearer p1.a.b", "Bearer,p1.a.b"};
	char longest[7 + PIGEON_TOKEN_MAX + 2];
	const char *token;
	size_t len;

	assert_true(http_auth_bearer("Bearer p1.YWxpY2U.wjUSa-pW_0", &token, &len));
	assert_int_equal(len, 21);
	assert_memory_equal(token, "p1.YWxpY2U.wjUSa-pW_0", len);
	/* The scheme in any case, spaces around the token. */
	assert_true(http_auth_bearer("bEARER   p1.a.b  ", &token, &len));
	assert_int_equal(len, 6);
	assert_memory_equal(token, "p1.a.b", len);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(http_auth_bearer(bad[i], &token, &len));

	memcpy(longest, "Bearer ", 7);
	memset(longest + 7, 'a', PIGEON_TOKEN_MAX);
	longest[7 + PIGEON_TOKEN_MAX] = '\0';
	assert_true(http_auth_bearer(longest, &token, &len));
	assert_int_equal(len, PIGEON_TOKEN_MAX);
	longest[7 + PIGEON_TOKEN_MAX] = 'a';
	longest[8 + PIGEON_TOKEN_MAX] = '\0';
	assert_false(http_auth_bearer(longest, &token, &len));
}

static void
test_auth_mode_names(void **state)
{
	http_auth_mode m = HTTP_AUTH_REQUIRED;

	assert_true(http_auth_mode_parse("open", &m));
	assert_int_equal(m, HTTP_AUTH_OPEN);
	assert_true(http_auth_mode_parse("required", &m));
	assert_int_equal(m, HTTP_AUTH_REQUIRED);
	assert_false(http_auth_mode_parse("Required", &m));
	assert_false(http_auth_mode_parse("", &m));
}

static bool
prepare_auth(http_auth_mode mode, const char *authorization, http_route_id id, const char *query,
    const char *body, http_call *call, http_answer *ans)
{
	http_input in = {
	    .route = http_route_get(id),
	    .query = query,
	    .body = body != NULL ? body : "",
	    .body_len = body != NULL ? strlen(body) : 0,
	    .authorization = authorization,
	    .auth = mode,
	};

	return http_api_prepare(&in, call, ans);
}

#define MSG_BODY "{\"sender\": \"bob\", \"recipient\": \"alice\", \"content\": \"hi\"}"

static void
test_open_mode_reads_no_authorization(void **state)
{
	http_call call;
	http_answer ans;

	assert_true(prepare_auth(
	    HTTP_AUTH_OPEN, "Basic garbage", HTTP_ROUTE_MESSAGE, NULL, MSG_BODY, &call, &ans));
	assert_null(call.token);
	http_call_fini(&call);
	assert_true(prepare_auth(HTTP_AUTH_OPEN, "Bearer p1.a.b", HTTP_ROUTE_USER_STATS,
	    "username=bob", NULL, &call, &ans));
	assert_null(call.token);
	http_call_fini(&call);
}

static void
test_required_mode_forwards_the_bearer_token(void **state)
{
	static const http_route_id routes[] = {HTTP_ROUTE_LOGOUT, HTTP_ROUTE_MESSAGE,
	    HTTP_ROUTE_USER_STATS, HTTP_ROUTE_INBOUND_MESSAGES, HTTP_ROUTE_SPAMMER_STATS,
	    HTTP_ROUTE_CHATTER_STATS, HTTP_ROUTE_ONLINE_USERS, HTTP_ROUTE_EVENT_JOURNAL,
	    HTTP_ROUTE_REVOKE_SESSIONS};
	static const char *const bodies[] = {"{\"username\": \"bob\"}", MSG_BODY, NULL, NULL, NULL,
	    NULL, NULL, NULL, "{\"username\": \"bob\"}"};
	http_call call;
	http_answer ans;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		assert_true(prepare_auth(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", routes[i],
		    "username=bob", bodies[i], &call, &ans));
		assert_string_equal(call.token, "p1.a.b");
		http_call_fini(&call);
		/* No header: no token; pigeond answers what needs one. */
		assert_true(prepare_auth(
		    HTTP_AUTH_REQUIRED, NULL, routes[i], "username=bob", bodies[i], &call, &ans));
		assert_null(call.token);
		http_call_fini(&call);
		/* A header that cannot hold a token: 401 before the body is read. */
		assert_false(prepare_auth(
		    HTTP_AUTH_REQUIRED, "Bearer p1.a!b", routes[i], NULL, "not json", &call, &ans));
		assert_error(&ans, 401, HTTP_AUTH_MALFORMED);
		http_answer_fini(&ans);
		http_call_fini(&call);
	}
	/* Login, health and metrics read no token, even a malformed one. */
	assert_true(prepare_auth(HTTP_AUTH_REQUIRED, "Basic x", HTTP_ROUTE_LOGIN, NULL,
	    "{\"username\": \"bob\", \"password\": \"pw\"}", &call, &ans));
	assert_null(call.token);
	http_call_fini(&call);
	assert_true(prepare_auth(
	    HTTP_AUTH_REQUIRED, "Basic x", HTTP_ROUTE_HEALTHZ, NULL, NULL, &call, &ans));
	assert_null(call.token);
	http_call_fini(&call);
}

static void
test_required_login_takes_the_password(void **state)
{
	http_call call;
	http_answer ans;

	assert_true(prepare_auth(HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_LOGIN, NULL,
	    "{\"username\": \"bob\", \"password\": \"correct horse\"}", &call, &ans));
	assert_string_equal(call.req.login.username, "bob");
	assert_string_equal(call.req.login.password, "correct horse");
	http_call_fini(&call);
	assert_false(prepare_auth(HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_LOGIN, NULL,
	    "{\"username\": \"bob\"}", &call, &ans));
	assert_error(&ans, 422, "Missing 'password' in the request body");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_false(prepare_auth(HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_LOGIN, NULL,
	    "{\"username\": \"bob\", \"password\": 12345678}", &call, &ans));
	assert_error(&ans, 422, "'password' must be a string");
	http_answer_fini(&ans);
	http_call_fini(&call);
	/* Open mode reads no password. */
	assert_true(prepare_auth(HTTP_AUTH_OPEN, NULL, HTTP_ROUTE_LOGIN, NULL,
	    "{\"username\": \"bob\", \"password\": 5}", &call, &ans));
	assert_string_equal(call.req.login.password, "");
	http_call_fini(&call);
}

static void
test_required_login_answers_the_token_as_json(void **state)
{
	http_call call = {.route = HTTP_ROUTE_LOGIN, .auth = HTTP_AUTH_REQUIRED};
	Pigeon__V1__LoginReply login = PIGEON__V1__LOGIN_REPLY__INIT;
	http_answer ans;

	login.username = "bob";
	login.token = "p1.Ym9i.tag";
	login.expires_ms = 4102444800000;
	http_api_answer(&call, PIGEON_OK, NULL, &login.base, NULL, &ans);
	assert_int_equal(ans.status, 200);
	assert_string_equal(ans.content_type, "application/json");
	assert_string_equal(
	    ans.body, "{\"token\": \"p1.Ym9i.tag\", \"expires_ms\": 4102444800000}\n");
	http_answer_fini(&ans);
	http_api_answer(
	    &call, PIGEON_UNAUTHENTICATED, "wrong username or password", NULL, NULL, &ans);
	assert_string_equal(ans.body,
	    "{\"code\": 401, \"status\": \"Unauthorized\", \"message\": "
	    "\"wrong username or password\"}\n");
	http_answer_fini(&ans);
	http_api_answer(&call, PIGEON_RESOURCE_EXHAUSTED,
	    "too many failed logins for this username; try again later", NULL, NULL, &ans);
	assert_error(&ans, 429, "too many failed logins for this username; try again later");
	http_answer_fini(&ans);
	http_api_answer(&call, PIGEON_PERMISSION_DENIED, "x", NULL, NULL, &ans);
	assert_error(&ans, 403, "x");
	http_answer_fini(&ans);
}

static void
test_required_register_takes_password_and_role(void **state)
{
	http_call call;
	http_answer ans;

	assert_true(prepare_auth(HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_USERS, NULL,
	    "{\"username\": \"bob\", \"password\": \"correct horse\"}", &call, &ans));
	assert_string_equal(call.req.register_user.password, "correct horse");
	assert_int_equal(call.req.register_user.role, PIGEON__V1__ROLE__ROLE_REGULAR);
	http_call_fini(&call);
	assert_true(prepare_auth(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", HTTP_ROUTE_USERS, NULL,
	    "{\"username\": \"root2\", \"password\": \"correct horse\", \"role\": \"admin\"}",
	    &call, &ans));
	assert_int_equal(call.req.register_user.role, PIGEON__V1__ROLE__ROLE_ADMIN);
	assert_string_equal(call.token, "p1.a.b");
	http_call_fini(&call);
	assert_true(prepare_auth(HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_USERS, NULL,
	    "{\"username\": \"bob\", \"password\": \"pw\", \"role\": \"regular\"}", &call, &ans));
	assert_int_equal(call.req.register_user.role, PIGEON__V1__ROLE__ROLE_REGULAR);
	http_call_fini(&call);
	assert_false(prepare_auth(HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_USERS, NULL,
	    "{\"username\": \"bob\", \"password\": \"pw\", \"role\": \"root\"}", &call, &ans));
	assert_error(&ans, 422, "'role' must be regular or admin");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_false(prepare_auth(HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_USERS, NULL,
	    "{\"username\": \"bob\", \"password\": \"pw\", \"role\": 2}", &call, &ans));
	assert_error(&ans, 422, "'role' must be a string");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_false(prepare_auth(HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_USERS, NULL,
	    "{\"username\": \"bob\"}", &call, &ans));
	assert_error(&ans, 422, "Missing 'password' in the request body");
	http_answer_fini(&ans);
	http_call_fini(&call);
	/* Open mode: a regular user from the username alone, as before. */
	assert_true(prepare_auth(HTTP_AUTH_OPEN, NULL, HTTP_ROUTE_USERS, NULL,
	    "{\"username\": \"bob\", \"role\": \"admin\", \"password\": 1}", &call, &ans));
	assert_int_equal(call.req.register_user.role, PIGEON__V1__ROLE__ROLE_REGULAR);
	assert_string_equal(call.req.register_user.password, "");
	http_call_fini(&call);
}

static void
test_revoke_sessions_builds_its_request_and_answers_json(void **state)
{
	Pigeon__V1__RevokeSessionsReply rep = PIGEON__V1__REVOKE_SESSIONS_REPLY__INIT;
	http_call call;
	http_answer ans;

	assert_true(prepare_auth(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", HTTP_ROUTE_REVOKE_SESSIONS,
	    NULL, "{\"username\": \"bob\"}", &call, &ans));
	assert_string_equal(call.method, "RevokeSessions");
	assert_ptr_equal(call.msg->descriptor, &pigeon__v1__revoke_sessions_request__descriptor);
	assert_string_equal(call.req.revoke.username, "bob");
	rep.username = "bob";
	rep.generation = 3;
	http_api_answer(&call, PIGEON_OK, NULL, &rep.base, NULL, &ans);
	assert_int_equal(ans.status, 200);
	assert_string_equal(ans.body, "{\"username\": \"bob\", \"generation\": 3}\n");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_false(prepare_auth(
	    HTTP_AUTH_REQUIRED, NULL, HTTP_ROUTE_REVOKE_SESSIONS, NULL, "{}", &call, &ans));
	assert_error(&ans, 422, "Missing 'username' in the request body");
	http_answer_fini(&ans);
	http_call_fini(&call);
}

static http_events_next
events_prepare(http_auth_mode mode, const char *authorization, const char *last_event_id,
    const char *query, http_call *call, http_answer *ans)
{
	http_input in = {
	    .route = http_route_get(HTTP_ROUTE_EVENTS),
	    .query = query,
	    .body = "",
	    .authorization = authorization,
	    .last_event_id = last_event_id,
	    .auth = mode,
	};

	return http_api_events_prepare(&in, call, ans);
}

static void
test_open_events_carry_the_journal_from_where_asked(void **state)
{
	http_call call;
	http_answer ans;

	assert_int_equal(
	    events_prepare(HTTP_AUTH_OPEN, "garbage", NULL, NULL, &call, &ans), HTTP_EVENTS_OPEN);
	assert_true(call.events.journal);
	assert_false(call.events.has_after);
	assert_null(call.events.user);
	assert_null(call.token);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_OPEN, NULL, "7", "after=3", &call, &ans), HTTP_EVENTS_OPEN);
	assert_true(call.events.has_after);
	assert_int_equal(call.events.after, 7);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_OPEN, NULL, NULL, "after=x", &call, &ans), HTTP_EVENTS_ANSWER);
	assert_error(&ans, 400, "Invalid 'after': must be an event's sequence number");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_OPEN, NULL, "-1", NULL, &call, &ans), HTTP_EVENTS_ANSWER);
	assert_error(&ans, 400, "Last-Event-ID must be an event's sequence number");
	http_answer_fini(&ans);
	http_call_fini(&call);
}

/* Open mode, ?username=U: the journal and U's own events, once one RPC has
 * found that U exists; no token is read. */
static void
test_open_events_with_a_username_add_that_users_own_events(void **state)
{
	Pigeon__V1__ListInboundMessagesReply inbox = PIGEON__V1__LIST_INBOUND_MESSAGES_REPLY__INIT;
	http_call call;
	http_answer ans;

	assert_int_equal(
	    events_prepare(HTTP_AUTH_OPEN, "garbage", NULL, "username=bob&after=3", &call, &ans),
	    HTTP_EVENTS_CALL);
	assert_true(call.events.journal);
	assert_string_equal(call.events.user, "bob");
	assert_int_equal(call.events.after, 3);
	assert_null(call.token);
	assert_string_equal(call.method, "ListInboundMessages");
	assert_string_equal(call.req.inbound.username, "bob");
	assert_int_equal(
	    http_api_events_checked(&call, PIGEON_OK, NULL, &inbox.base, &ans), HTTP_EVENTS_OPEN);
	assert_true(call.events.journal);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_OPEN, NULL, NULL, "username=nobody", &call, &ans),
	    HTTP_EVENTS_CALL);
	assert_int_equal(http_api_events_checked(&call, PIGEON_NOT_FOUND,
	                     "Couldn't find user with username nobody", NULL, &ans),
	    HTTP_EVENTS_ANSWER);
	assert_error(&ans, 404, "Couldn't find user with username nobody");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_OPEN, NULL, NULL, "username=a%20b", &call, &ans),
	    HTTP_EVENTS_ANSWER);
	assert_error(&ans, 422, "Invalid 'username': username contains a space or control character");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_OPEN, NULL, NULL, "username=", &call, &ans), HTTP_EVENTS_OPEN);
	assert_null(call.events.user);
	http_call_fini(&call);
}

static void
test_required_events_need_a_token_and_a_username(void **state)
{
	http_call call;
	http_answer ans;

	assert_int_equal(
	    events_prepare(HTTP_AUTH_REQUIRED, NULL, NULL, "username=bob", &call, &ans),
	    HTTP_EVENTS_ANSWER);
	assert_error(&ans, 401, HTTP_AUTH_BAD_TOKEN);
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_REQUIRED, "Bearer a b", NULL, "username=bob", &call, &ans),
	    HTTP_EVENTS_ANSWER);
	assert_error(&ans, 401, HTTP_AUTH_MALFORMED);
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", NULL, NULL, &call, &ans),
	    HTTP_EVENTS_ANSWER);
	assert_error(&ans, 422, "Missing 'username' in the query string");
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_int_equal(events_prepare(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", NULL,
	                     "username=bob&after=x", &call, &ans),
	    HTTP_EVENTS_ANSWER);
	assert_int_equal(ans.status, 400);
	http_answer_fini(&ans);
	http_call_fini(&call);
}

static void
test_required_events_are_checked_with_two_calls(void **state)
{
	Pigeon__V1__GetEventJournalReply journal = PIGEON__V1__GET_EVENT_JOURNAL_REPLY__INIT;
	Pigeon__V1__ListInboundMessagesReply inbox = PIGEON__V1__LIST_INBOUND_MESSAGES_REPLY__INIT;
	http_call call;
	http_answer ans;

	/* The inbox first: the user's own, or the caller an admin. */
	assert_int_equal(
	    events_prepare(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", "4", "username=bob", &call, &ans),
	    HTTP_EVENTS_CALL);
	assert_string_equal(call.method, "ListInboundMessages");
	assert_ptr_equal(
	    call.msg->descriptor, &pigeon__v1__list_inbound_messages_request__descriptor);
	assert_string_equal(call.req.inbound.username, "bob");
	assert_int_equal(call.req.inbound.page_size, 1);
	assert_string_equal(call.token, "p1.a.b");
	assert_int_equal(call.events.after, 4);
	assert_int_equal(
	    http_api_events_checked(&call, PIGEON_PERMISSION_DENIED,
	        "reading another user's inbox needs that user or an admin", NULL, &ans),
	    HTTP_EVENTS_ANSWER);
	assert_error(&ans, 403, "reading another user's inbox needs that user or an admin");
	http_answer_fini(&ans);
	http_call_fini(&call);

	/* Then the journal: an admin's; a regular user's stream is the inbox
	 * alone. */
	for (int admin = 0; admin < 2; admin++) {
		assert_int_equal(events_prepare(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", NULL,
		                     "username=bob", &call, &ans),
		    HTTP_EVENTS_CALL);
		assert_int_equal(http_api_events_checked(&call, PIGEON_OK, NULL, &inbox.base, &ans),
		    HTTP_EVENTS_CALL);
		assert_string_equal(call.method, "GetEventJournal");
		assert_ptr_equal(
		    call.msg->descriptor, &pigeon__v1__get_event_journal_request__descriptor);
		assert_int_equal(call.req.journal.page_size, 1);
		journal.last_sequence = 42;
		if (admin) {
			assert_int_equal(
			    http_api_events_checked(&call, PIGEON_OK, NULL, &journal.base, &ans),
			    HTTP_EVENTS_OPEN);
			assert_true(call.events.journal);
			assert_true(call.events.has_head);
			assert_int_equal(call.events.head, 42);
		} else {
			assert_int_equal(
			    http_api_events_checked(&call, PIGEON_PERMISSION_DENIED,
			        "reading the event journal needs an admin", NULL, &ans),
			    HTTP_EVENTS_OPEN);
			assert_false(call.events.journal);
		}
		assert_string_equal(call.events.user, "bob");
		http_call_fini(&call);
	}

	/* Any other failure of either call is the answer. */
	assert_int_equal(
	    events_prepare(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", NULL, "username=bob", &call, &ans),
	    HTTP_EVENTS_CALL);
	assert_int_equal(
	    http_api_events_checked(&call, PIGEON_UNAUTHENTICATED, HTTP_AUTH_BAD_TOKEN, NULL, &ans),
	    HTTP_EVENTS_ANSWER);
	assert_error(&ans, 401, HTTP_AUTH_BAD_TOKEN);
	http_answer_fini(&ans);
	http_call_fini(&call);
	assert_int_equal(
	    events_prepare(HTTP_AUTH_REQUIRED, "Bearer p1.a.b", NULL, "username=bob", &call, &ans),
	    HTTP_EVENTS_CALL);
	assert_int_equal(
	    http_api_events_checked(&call, PIGEON_OK, NULL, &inbox.base, &ans), HTTP_EVENTS_CALL);
	assert_int_equal(
	    http_api_events_checked(&call, PIGEON_UNAVAILABLE, "", NULL, &ans), HTTP_EVENTS_ANSWER);
	assert_error(&ans, 503, "UNAVAILABLE");
	http_answer_fini(&ans);
	http_call_fini(&call);
}

static void
test_openapi_describes_every_route(void **state)
{
	json_error_t err;
	json_t *doc = json_loadb(http_openapi_json, http_openapi_json_len, 0, &err);
	json_t *paths;

	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.3");
	paths = json_object_get(doc, "paths");
	for (int i = 0; i < HTTP_ROUTE_COUNT; i++) {
		const http_route *r = http_route_get((http_route_id)i);
		json_t *item = json_object_get(paths, r->path);

		assert_non_null(item);
		if (r->methods & HTTP_METHOD_GET)
			assert_non_null(json_object_get(item, "get"));
		if (r->methods & HTTP_METHOD_POST)
			assert_non_null(json_object_get(item, "post"));
	}
	assert_int_equal(json_object_size(paths), HTTP_ROUTE_COUNT);
	json_decref(doc);
}

/* Every operation but those of the routes that never take a token lists the
 * bearer scheme, which the document declares. */
static void
test_openapi_declares_bearer_security(void **state)
{
	static const char *const methods[] = {"get", "post"};
	json_error_t err;
	json_t *doc = json_loadb(http_openapi_json, http_openapi_json_len, 0, &err);
	json_t *scheme = json_object_get(
	    json_object_get(json_object_get(doc, "components"), "securitySchemes"), "bearerAuth");

	assert_string_equal(json_string_value(json_object_get(scheme, "type")), "http");
	assert_string_equal(json_string_value(json_object_get(scheme, "scheme")), "bearer");
	for (int i = 0; i < HTTP_ROUTE_COUNT; i++) {
		const http_route *r = http_route_get((http_route_id)i);
		json_t *item = json_object_get(json_object_get(doc, "paths"), r->path);
		bool tokenless = i == HTTP_ROUTE_LOGIN || i == HTTP_ROUTE_HEALTHZ ||
		    i == HTTP_ROUTE_METRICS || i == HTTP_ROUTE_OPENAPI;

		for (size_t m = 0; m < 2; m++) {
			json_t *op = json_object_get(item, methods[m]), *sec, *resp;
			bool listed = false;
			size_t k;
			json_t *req;

			if (op == NULL)
				continue;
			sec = json_object_get(op, "security");
			resp = json_object_get(op, "responses");
			if (tokenless) {
				assert_null(sec);
				continue;
			}
			json_array_foreach(sec, k, req) listed =
			    listed || json_object_get(req, "bearerAuth") != NULL;
			assert_true(listed);
			assert_non_null(json_object_get(resp, "401"));
		}
	}
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_readme_route_is_found),
		cmocka_unit_test(test_unknown_path_is_no_path_and_wrong_method_is_no_method),
		cmocka_unit_test(test_user_route_takes_every_byte_after_its_prefix),
		cmocka_unit_test(test_query_values_are_percent_decoded),
		cmocka_unit_test(test_missing_and_malformed_query_values),
		cmocka_unit_test(test_target_split_and_path_decoding),
		cmocka_unit_test(test_body_object_is_parsed),
		cmocka_unit_test(test_duplicate_keys_are_rejected),
		cmocka_unit_test(test_escaped_nul_is_rejected),
		cmocka_unit_test(test_deep_nesting_is_rejected_without_recursion),
		cmocka_unit_test(test_brackets_inside_strings_do_not_count_as_nesting),
		cmocka_unit_test(test_non_objects_and_garbage_are_rejected),
		cmocka_unit_test(test_field_types),
		cmocka_unit_test(test_error_body_has_code_status_message),
		cmocka_unit_test(test_send_reply_is_the_message_with_integer_id),
		cmocka_unit_test(test_inbound_messages_keep_original_fields_beside_cursor),
		cmocka_unit_test(test_leaderboards_are_name_float_pairs),
		cmocka_unit_test(test_user_stats_has_the_four_counts_then_unread),
		cmocka_unit_test(test_presence_and_read_answers),
		cmocka_unit_test(test_inbound_messages_with_read_state_add_read_ms_in_key_order),
		cmocka_unit_test(test_heartbeat_and_read_take_a_username_and_an_id),
		cmocka_unit_test(test_report_takes_an_id_and_a_boolean_and_answers_the_state),
		cmocka_unit_test(test_get_user_validates_the_name_of_the_path),
		cmocka_unit_test(test_online_users_and_journal),
		cmocka_unit_test(test_login_builds_login_request),
		cmocka_unit_test(test_login_without_username_is_422),
		cmocka_unit_test(test_login_with_bad_json_is_400),
		cmocka_unit_test(test_message_requires_every_field),
		cmocka_unit_test(test_most_escaped_message_at_the_limits_fits_the_default_body_cap),
		cmocka_unit_test(test_message_content_over_the_limit_is_413),
		cmocka_unit_test(test_pigeond_content_limit_is_413_and_other_exhaustion_429),
		cmocka_unit_test(test_query_routes_need_username_and_take_paging),
		cmocka_unit_test(test_unmatched_and_wrong_method_answer_json),
		cmocka_unit_test(test_rpc_errors_use_the_status_table_and_pigeond_message),
		cmocka_unit_test(test_login_logout_answer_plain_text),
		cmocka_unit_test(test_healthz_follows_serving_status),
		cmocka_unit_test(test_metrics_render_prometheus_text),
		cmocka_unit_test(test_bearer_header_is_scheme_spaces_and_token_alphabet),
		cmocka_unit_test(test_auth_mode_names),
		cmocka_unit_test(test_open_mode_reads_no_authorization),
		cmocka_unit_test(test_required_mode_forwards_the_bearer_token),
		cmocka_unit_test(test_required_login_takes_the_password),
		cmocka_unit_test(test_required_login_answers_the_token_as_json),
		cmocka_unit_test(test_required_register_takes_password_and_role),
		cmocka_unit_test(test_revoke_sessions_builds_its_request_and_answers_json),
		cmocka_unit_test(test_open_events_carry_the_journal_from_where_asked),
		cmocka_unit_test(test_open_events_with_a_username_add_that_users_own_events),
		cmocka_unit_test(test_required_events_need_a_token_and_a_username),
		cmocka_unit_test(test_required_events_are_checked_with_two_calls),
		cmocka_unit_test(test_openapi_describes_every_route),
		cmocka_unit_test(test_openapi_declares_bearer_security),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
