/* SPDX-License-Identifier: MIT */
/* Request parsing and reply translation; see json.h.  Objects are built in
 * the order the original app printed their keys (it sorted them), and dumped
 * with ", " and ": " separators as docs/http.md shows them. */
#include "json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

/* The deepest nesting in buf, counting only brackets outside strings, or
 * stopping as soon as it passes limit. */
static size_t
json_depth(const char *buf, size_t len, size_t limit)
{
	size_t depth = 0, deepest = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > deepest && (deepest = depth) > limit)
				return deepest;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return deepest;
}

json_t *
http_json_parse_object(const char *buf, size_t len, char *err, size_t cap)
{
	json_error_t jerr;
	json_t *j;

	if (json_depth(buf, len, HTTP_JSON_MAX_DEPTH) > HTTP_JSON_MAX_DEPTH) {
		snprintf(err, cap, "Request body is nested deeper than %d levels",
		    HTTP_JSON_MAX_DEPTH);
		return NULL;
	}
	if ((j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		/* jansson's own text names its flag; say what is wrong instead. */
		if (json_error_code(&jerr) == json_error_null_character)
			snprintf(err, cap, "Request body is not valid JSON: \\u0000 is not allowed "
					   "in strings (line %d, column %d)",
			    jerr.line, jerr.column);
		else
			snprintf(err, cap, "Request body is not valid JSON: %s (line %d, column %d)",
			    jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(err, cap, "Request body must be a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

http_field
http_json_string(const json_t *obj, const char *key, const char **val, size_t *len)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return HTTP_FIELD_MISSING;
	if (!json_is_string(v))
		return HTTP_FIELD_WRONG_TYPE;
	if (json_string_length(v) == 0)
		return HTTP_FIELD_MISSING;
	*val = json_string_value(v);
	*len = json_string_length(v);
	return HTTP_FIELD_OK;
}

/* Dumps j (taking it) as a body ending in a newline. */
static char *
dump(json_t *j, size_t *len)
{
	char *text, *body;
	size_t n;

	if (j == NULL)
		return NULL;
	text = json_dumps(j, JSON_INDENT(0));
	json_decref(j);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	if ((body = realloc(text, n + 2)) == NULL) {
		free(text);
		return NULL;
	}
	body[n] = '\n';
	body[n + 1] = '\0';
	*len = n + 1;
	return body;
}

const char *
http_json_reason(int code)
{
	/* The original app's (werkzeug's) phrases where they differ from
	 * libmicrohttpd's or where it has none. */
	static const struct {
		int code;
		const char *phrase;
	} own[] = {
		{413, "Request Entity Too Large"},
		{418, "I'm a teapot"},
		{422, "Unprocessable Entity"},
		{499, "Client Closed Request"},
	};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (own[i].code == code)
			return own[i].phrase;
	return MHD_get_reason_phrase_for((unsigned)code);
}

char *
http_json_error(int code, const char *message, size_t *len)
{
	return dump(json_pack("{s:i, s:s, s:s}", "code", code, "status", http_json_reason(code),
			"message", message),
	    len);
}

static json_t *
message_object(const Pigeon__V1__Message *m)
{
	return json_pack("{s:s, s:I, s:s, s:s}", "content", m->content, "id",
	    (json_int_t)m->id, "recipient", m->recipient, "sender", m->sender);
}

char *
http_json_send_reply(const Pigeon__V1__SendMessageReply *r, size_t *len)
{
	if (r->message == NULL)
		return NULL;
	return dump(message_object(r->message), len);
}

/* A message of the inbox with its read state. */
static json_t *
message_read_object(const Pigeon__V1__Message *m)
{
	return json_pack("{s:s, s:I, s:I, s:s, s:s}", "content", m->content, "id",
	    (json_int_t)m->id, "read_ms", (json_int_t)m->read_ms, "recipient", m->recipient,
	    "sender", m->sender);
}

char *
http_json_inbound(const Pigeon__V1__ListInboundMessagesReply *r, bool read_state, size_t *len)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < r->n_messages; i++) {
		json_t *m = read_state ? message_read_object(r->messages[i])
				       : message_object(r->messages[i]);

		if (json_array_append_new(list, m) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	return dump(json_pack("{s:o, s:I}", "inbound_messages", list, "next_cursor",
			(json_int_t)r->next_cursor),
	    len);
}

char *
http_json_leaderboard(const Pigeon__V1__Leaderboard *r, const char *key, size_t *len)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < r->n_entries; i++) {
		const Pigeon__V1__LeaderboardEntry *e = r->entries[i];

		if (json_array_append_new(list,
			json_pack("[s, f]", e->username, (double)e->count)) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	return dump(json_pack("{s:o}", key, list), len);
}

char *
http_json_user_stats(const Pigeon__V1__UserStats *r, size_t *len)
{
	return dump(json_pack("{s:I, s:I, s:I, s:I, s:I}", "being_spam_checked",
			(json_int_t)r->being_spam_checked, "delivered", (json_int_t)r->delivered,
			"enqueued", (json_int_t)r->enqueued, "marked_as_spam",
			(json_int_t)r->marked_as_spam, "unread", (json_int_t)r->unread),
	    len);
}

char *
http_json_online_users(const Pigeon__V1__ListOnlineUsersReply *r, size_t *len)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < r->n_usernames; i++) {
		if (json_array_append_new(list, json_string(r->usernames[i])) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	return dump(json_pack("{s:o, s:s}", "online_users", list, "next_cursor",
			r->next_cursor != NULL ? r->next_cursor : ""),
	    len);
}

char *
http_json_journal(const Pigeon__V1__GetEventJournalReply *r, size_t *len)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < r->n_events; i++) {
		if (json_array_append_new(list, json_string(r->events[i]->text)) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	return dump(json_pack("{s:o, s:I}", "events", list, "next_cursor",
			(json_int_t)r->next_cursor),
	    len);
}

char *
http_json_registered(const Pigeon__V1__RegisterUserReply *r, size_t *len)
{
	const char *role = pigeon_enum_name(&pigeon__v1__role__descriptor, (int)r->role);

	return dump(json_pack("{s:s, s:s}", "username", r->username, "role", role), len);
}

char *
http_json_login(const Pigeon__V1__LoginReply *r, size_t *len)
{
	return dump(json_pack("{s:s, s:I}", "token", r->token, "expires_ms",
			(json_int_t)r->expires_ms),
	    len);
}

char *
http_json_revoked(const Pigeon__V1__RevokeSessionsReply *r, size_t *len)
{
	return dump(json_pack("{s:s, s:I}", "username", r->username, "generation",
			(json_int_t)r->generation),
	    len);
}

char *
http_json_heartbeat(const char *username, const Pigeon__V1__HeartbeatReply *r, size_t *len)
{
	return dump(json_pack("{s:s, s:b, s:I}", "username", username, "online", (int)r->online,
			"expires_ms", (json_int_t)r->expires_ms),
	    len);
}

char *
http_json_user(const Pigeon__V1__GetUserReply *r, size_t *len)
{
	const char *role = pigeon_enum_name(&pigeon__v1__role__descriptor, (int)r->role);

	return dump(json_pack("{s:s, s:s, s:b, s:I, s:I}", "username", r->username, "role", role,
			"online", (int)r->online, "last_seen_ms", (json_int_t)r->last_seen_ms,
			"created_ms", (json_int_t)r->created_ms),
	    len);
}

char *
http_json_read(const Pigeon__V1__MarkReadReply *r, size_t *len)
{
	return dump(json_pack("{s:I}", "unread", (json_int_t)r->unread), len);
}

char *
http_json_report(const Pigeon__V1__ReportMessageReply *r, size_t *len)
{
	const char *state;

	if (r->message == NULL ||
	    (state = pigeon_enum_name(&pigeon__v1__message_state__descriptor,
		 (int)r->message->state)) == NULL)
		return NULL;
	return dump(json_pack("{s:I, s:s, s:b}", "message_id", (json_int_t)r->message->id, "state",
			state, "changed", (int)r->changed),
	    len);
}

char *
http_json_health(const Pigeon__V1__HealthReply *r, size_t *len)
{
	const char *status;

	switch (r->status) {
	case PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING:
		status = "SERVING";
		break;
	case PIGEON__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING:
		status = "NOT_SERVING";
		break;
	default:
		status = "UNSPECIFIED";
		break;
	}
	return dump(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "status", status, "version",
			r->version, "queue_depth", (json_int_t)r->queue_depth, "queue_pending",
			(json_int_t)r->queue_pending, "dead_letters", (json_int_t)r->dead_letters,
			"workers", (json_int_t)r->workers, "uptime_ms", (json_int_t)r->uptime_ms),
	    len);
}

char *
http_json_event(const Pigeon__V1__Event *ev, const char **type, size_t *len)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&pigeon__v1__event_type__descriptor, (int)ev->type);
	const char *name = v != NULL ? v->name : "EVENT_TYPE_UNSPECIFIED";

	/* The enum's names all start with this; the original's journal lines
	 * use the bare word. */
	if (strncmp(name, "EVENT_TYPE_", 11) == 0)
		name += 11;
	*type = name;
	return dump(json_pack("{s:I, s:s, s:I, s:s, s:s, s:I, s:s, s:s}", "sequence",
			(json_int_t)ev->sequence, "type", name, "time_ms", (json_int_t)ev->time_ms,
			"username", ev->username, "recipient", ev->recipient, "message_id",
			(json_int_t)ev->message_id, "reason", ev->reason, "text", ev->text),
	    len);
}
