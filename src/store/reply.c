/* SPDX-License-Identifier: MIT */
/*
 * Redis replies and published payloads into protobuf messages; see reply.h.
 * This is the RPC hot path: each conversion is one pass over the reply, its
 * messages live on the stack or in one array per page, and their strings
 * point into the reply, which outlives the callback.
 */
#include "reply.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "frame.h"
#include "log.h"
#include "names.h"
#include "redis.h"
#include "validate.h"

#define MSG_MALFORMED "unexpected reply from redis"
#define MSG_NO_MEMORY "out of memory"

static bool
is_int(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_INTEGER;
}

static bool
is_str(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING;
}

static bool
is_arr(const redisReply *r, size_t min)
{
	return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= min;
}

/* A count: derived by subtraction in read_user_stats, it reads as 0 should
 * the counters ever disagree (a partial restore) rather than fail the call. */
static uint64_t
count_of(long long v)
{
	return v > 0 ? (uint64_t)v : 0;
}

/* The whole of s[0..len) as a decimal integer: an optional '-' and digits,
 * nothing else (strtoll alone would take blanks, '+' and a tail). */
static bool
text_i64(const char *s, size_t len, long long *v)
{
	char *end;

	if (len == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && end == s + len;
}

/* The number in an integer reply, or in a string reply that holds only one
 * (SORT's GET answers strings). */
static bool
num_from(const redisReply *r, long long *v)
{
	if (is_int(r)) {
		*v = r->integer;
		return true;
	}
	return is_str(r) && text_i64(r->str, r->len, v);
}

/* An id or a sequence: a number that is not negative. */
static bool
id_from(const redisReply *r, uint64_t *v)
{
	long long n;

	if (!num_from(r, &n) || n < 0)
		return false;
	*v = (uint64_t)n;
	return true;
}

/* A message from {id, sender, recipient, content, state, created_ms}; id
 * and created_ms as integers or as decimal strings.  A state that is not
 * one of the proto's (dead_letter) reads as UNSPECIFIED. */
static bool
message_from(const redisReply *const *e, Pigeon__V1__Message *m)
{
	Pigeon__V1__MessageState state = PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_UNSPECIFIED;
	long long created;
	uint64_t id;

	if (!id_from(e[0], &id) || !is_str(e[1]) || !is_str(e[2]) || !is_str(e[3]) ||
	    !is_str(e[4]) || !num_from(e[5], &created))
		return false;
	names_message_state_parse(e[4]->str, &state);
	pigeon__v1__message__init(m);
	m->id = id;
	m->sender = e[1]->str;
	m->recipient = e[2]->str;
	m->content = e[3]->str;
	m->state = state;
	m->created_ms = created;
	return true;
}

/* ---- events: one field table for the journal and pub/sub ---- */

/* One field's value as Redis gives it: text (every value of a journal
 * entry, a string of a published JSON object), a JSON integer, or anything
 * else JSON has. */
typedef struct ev_value {
	enum { EV_TEXT, EV_NUM, EV_OTHER } kind;
	const char *s;
	size_t len;
	long long num;
} ev_value;

typedef enum ev_kind { EV_STR, EV_U64, EV_I64, EV_TYPE } ev_kind;

#define EV_FIELD(name, kind, member)                                                           \
	{name, sizeof(name) - 1, kind, offsetof(Pigeon__V1__Event, member)}

/* The field names the scripts write (src/store/scripts/prelude.lua's
 * journal, and the PUBLISH calls of send.lua and finish.lua), in the order
 * the journal writes them. */
static const struct {
	const char *key;
	size_t len;
	ev_kind kind;
	size_t off;
} ev_fields[] = {
	EV_FIELD("type", EV_TYPE, type),
	EV_FIELD("time_ms", EV_I64, time_ms),
	EV_FIELD("text", EV_STR, text),
	EV_FIELD("username", EV_STR, username),
	EV_FIELD("recipient", EV_STR, recipient),
	EV_FIELD("message_id", EV_U64, message_id),
	EV_FIELD("reason", EV_STR, reason),
	EV_FIELD("content", EV_STR, content),
	EV_FIELD("seq", EV_U64, sequence),
};

/* Sets the field of ev named key (klen bytes) from v; strings point into v.
 * A key the table does not name is skipped (true).  False for a value that
 * does not fit its field: a number for a string, text that is not a whole
 * decimal number, a negative or out-of-range id.  An unknown type name
 * leaves type UNSPECIFIED.  Keys are matched by length first: a strcmp per
 * table entry was a measurable part of pigeond's instructions for
 * GetEventJournal (callgrind). */
static bool
event_set(Pigeon__V1__Event *ev, const char *key, size_t klen, const ev_value *v)
{
	long long n;
	char *field;

	for (size_t i = 0; i < sizeof(ev_fields) / sizeof(ev_fields[0]); i++) {
		if (ev_fields[i].len != klen || memcmp(key, ev_fields[i].key, klen) != 0)
			continue;
		field = (char *)ev + ev_fields[i].off;
		if (ev_fields[i].kind == EV_STR || ev_fields[i].kind == EV_TYPE) {
			if (v->kind != EV_TEXT)
				return false;
			if (ev_fields[i].kind == EV_STR)
				*(char **)field = (char *)v->s;
			else
				names_event_type_parse(v->s, (Pigeon__V1__EventType *)field);
			return true;
		}
		if (v->kind == EV_NUM)
			n = v->num;
		else if (v->kind != EV_TEXT || !text_i64(v->s, v->len, &n))
			return false;
		if (ev_fields[i].kind == EV_I64) {
			*(int64_t *)field = n;
			return true;
		}
		if (n < 0)
			return false;
		*(uint64_t *)field = (uint64_t)n;
		return true;
	}
	return true;
}

/* The sequence in a journal entry's id "<seq>-0".  The part after the dash
 * is only checked to be digits: it is never used. */
static bool
entry_seq(const redisReply *id, uint64_t *seq)
{
	const char *dash, *end;
	long long n;

	if (!is_str(id) || (dash = memchr(id->str, '-', id->len)) == NULL ||
	    !text_i64(id->str, (size_t)(dash - id->str), &n) || n < 0)
		return false;
	end = id->str + id->len;
	if (dash + 1 == end)
		return false;
	for (const char *p = dash + 1; p < end; p++)
		if (*p < '0' || *p > '9')
			return false;
	*seq = (uint64_t)n;
	return true;
}

/* A journal entry [ "<seq>-0", [field, value, ...] ]. */
static bool
event_from_entry(const redisReply *r, Pigeon__V1__Event *ev)
{
	const redisReply *f;
	uint64_t seq;

	if (!is_arr(r, 2) || !entry_seq(r->element[0], &seq) || !is_arr(r->element[1], 0) ||
	    r->element[1]->elements % 2 != 0)
		return false;
	pigeon__v1__event__init(ev);
	ev->sequence = seq;
	f = r->element[1];
	for (size_t i = 0; i < f->elements; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];
		ev_value val = {EV_TEXT, NULL, 0, 0};

		if (!is_str(k) || !is_str(v))
			return false;
		val.s = v->str;
		val.len = v->len;
		if (!event_set(ev, k->str, k->len, &val))
			return false;
	}
	return true;
}

/* The event of one published JSON object; strings point into o. */
static bool
event_from_json(json_t *o, Pigeon__V1__Event *ev)
{
	const char *key;
	json_t *jv;

	pigeon__v1__event__init(ev);
	json_object_foreach(o, key, jv) {
		ev_value val = {EV_OTHER, NULL, 0, 0};

		if (json_is_string(jv)) {
			val.kind = EV_TEXT;
			val.s = json_string_value(jv);
			val.len = json_string_length(jv);
		} else if (json_is_integer(jv)) {
			val.kind = EV_NUM;
			val.num = json_integer_value(jv);
		}
		if (!event_set(ev, key, strlen(key), &val))
			return false;
	}
	return true;
}

pigeon_status
store_reply_published(
    const char *channel, const char *payload, size_t len, store_sub_fn fn, void *arg)
{
	char named[FRAME_TOPIC_MAX];
	validate_why why;
	const char *topic;
	Pigeon__V1__Event ev;
	json_error_t jerr;
	json_t *o;
	pigeon_status rv = PIGEON_INVALID_ARGUMENT;

	if (strcmp(channel, STORE_CHANNEL_JOURNAL) != 0 &&
	    strcmp(channel, STORE_CHANNEL_QUEUE) != 0 &&
	    strcmp(channel, STORE_CHANNEL_DELIVERED) != 0 && strcmp(channel, STORE_CHANNEL_READ) != 0)
		return PIGEON_NOT_FOUND;
	if ((o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return PIGEON_INVALID_ARGUMENT;
	if (!json_is_object(o) || !event_from_json(o, &ev) ||
	    ev.type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED)
		goto done;
	if (strcmp(channel, STORE_CHANNEL_JOURNAL) == 0) {
		if (ev.sequence == 0)
			goto done;
		topic = PIGEON_TOPIC_JOURNAL;
	} else if (strcmp(channel, STORE_CHANNEL_QUEUE) == 0) {
		topic = PIGEON_TOPIC_QUEUE;
	} else if (strcmp(channel, STORE_CHANNEL_DELIVERED) == 0) {
		if (validate_username(ev.recipient, strlen(ev.recipient), &why) != NULL)
			goto done;
		snprintf(named, sizeof(named), "%s%s", PIGEON_TOPIC_INBOX_PREFIX, ev.recipient);
		topic = named;
	} else {
		if (ev.type != PIGEON__V1__EVENT_TYPE__EVENT_TYPE_READ || ev.message_id == 0 ||
		    validate_username(ev.username, strlen(ev.username), &why) != NULL ||
		    validate_username(ev.recipient, strlen(ev.recipient), &why) != NULL)
			goto done;
		snprintf(named, sizeof(named), "%s%s", PIGEON_TOPIC_RECEIPTS_PREFIX, ev.username);
		topic = named;
	}
	fn(arg, topic, &ev);
	rv = PIGEON_OK;
done:
	json_decref(o);
	return rv;
}

/* ---- replies to RPC messages ---- */

/* Each returns OK after running the callback, or the status to answer
 * with, the callback not run. */

static pigeon_status
reply_login(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__LoginReply lr = PIGEON__V1__LOGIN_REPLY__INIT;
	Pigeon__V1__LogoutReply lo = PIGEON__V1__LOGOUT_REPLY__INIT;
	uint64_t seq;

	if (!is_int(r) || !id_from(r, &seq))
		return PIGEON_INTERNAL;
	if (q->kind == STORE_OP_LOGIN) {
		lr.username = (char *)q->username;
		lr.sequence = seq;
		q->cb(q->arg, PIGEON_OK, NULL, &lr.base);
	} else {
		lo.username = (char *)q->username;
		lo.sequence = seq;
		q->cb(q->arg, PIGEON_OK, NULL, &lo.base);
	}
	return PIGEON_OK;
}

static pigeon_status
reply_send(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__SendMessageReply rep = PIGEON__V1__SEND_MESSAGE_REPLY__INIT;
	Pigeon__V1__Message m;

	if (!is_arr(r, 7) || !message_from((const redisReply *const *)r->element, &m) ||
	    !is_int(r->element[6]))
		return PIGEON_INTERNAL;
	rep.message = &m;
	rep.duplicate = r->element[6]->integer != 0;
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

/* read_user_stats answers six counts; the proto has no field for the
 * fifth, dead_letter (docs/redis-schema.md). */
static pigeon_status
reply_user_stats(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__UserStats us = PIGEON__V1__USER_STATS__INIT;

	if (!is_arr(r, 6))
		return PIGEON_INTERNAL;
	for (size_t i = 0; i < 6; i++)
		if (!is_int(r->element[i]))
			return PIGEON_INTERNAL;
	us.username = (char *)q->username;
	us.enqueued = count_of(r->element[0]->integer);
	us.being_spam_checked = count_of(r->element[1]->integer);
	us.delivered = count_of(r->element[2]->integer);
	us.marked_as_spam = count_of(r->element[3]->integer);
	us.unread = count_of(r->element[5]->integer);
	q->cb(q->arg, PIGEON_OK, NULL, &us.base);
	return PIGEON_OK;
}

/* read_inbox's flat reply: seven values per message, the six message_from
 * reads, then read_ms (nil while unread). */
#define INBOX_FIELDS 7

static pigeon_status
reply_inbox(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__ListInboundMessagesReply rep = PIGEON__V1__LIST_INBOUND_MESSAGES_REPLY__INIT;
	Pigeon__V1__Message *msgs = NULL, **ptrs = NULL;
	size_t n, total;
	pigeon_status rv = PIGEON_INTERNAL;

	if (!is_arr(r, 0) || r->elements % INBOX_FIELDS != 0)
		return PIGEON_INTERNAL;
	total = r->elements / INBOX_FIELDS;
	n = total > q->page ? q->page : total;
	if (n > 0 && ((msgs = calloc(n, sizeof(*msgs))) == NULL ||
			 (ptrs = calloc(n, sizeof(*ptrs))) == NULL)) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const redisReply *const *e =
		    (const redisReply *const *)&r->element[INBOX_FIELDS * i];
		long long read_ms = 0;

		if (!message_from(e, &msgs[i]) ||
		    (e[6]->type != REDIS_REPLY_NIL && !num_from(e[6], &read_ms)))
			goto done;
		msgs[i].read_ms = (int64_t)count_of(read_ms);
		ptrs[i] = &msgs[i];
	}
	rep.n_messages = n;
	rep.messages = ptrs;
	if (total > q->page && n > 0)
		rep.next_cursor = msgs[n - 1].id;
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	rv = PIGEON_OK;
done:
	free(ptrs);
	free(msgs);
	return rv;
}

/* A leaderboard score: minus the count, as text ("-3"). */
static bool
score_count(const redisReply *score, uint64_t *count)
{
	char *end;
	double d;

	if (!is_str(score) || score->len == 0)
		return false;
	d = -strtod(score->str, &end);
	/* 2^64: the first count a uint64_t cannot hold. */
	if (end != score->str + score->len || !isfinite(d) || d >= 18446744073709551616.0)
		return false;
	*count = d > 0 ? (uint64_t)d : 0;
	return true;
}

static pigeon_status
reply_leaderboard(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__Leaderboard lb = PIGEON__V1__LEADERBOARD__INIT;
	Pigeon__V1__LeaderboardEntry *ents = NULL, **ptrs = NULL;
	size_t n;
	pigeon_status rv = PIGEON_INTERNAL;

	if (!is_arr(r, 0) || r->elements % 2 != 0)
		return PIGEON_INTERNAL;
	n = r->elements / 2;
	if (n > 0 && ((ents = calloc(n, sizeof(*ents))) == NULL ||
			 (ptrs = calloc(n, sizeof(*ptrs))) == NULL)) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const redisReply *name = r->element[2 * i];

		pigeon__v1__leaderboard_entry__init(&ents[i]);
		/* Scores are negated counts, so ascending order is highest first
		 * and equal counts sort by name. */
		if (!is_str(name) || !score_count(r->element[2 * i + 1], &ents[i].count))
			goto done;
		ents[i].username = name->str;
		ptrs[i] = &ents[i];
	}
	lb.n_entries = n;
	lb.entries = ptrs;
	q->cb(q->arg, PIGEON_OK, NULL, &lb.base);
	rv = PIGEON_OK;
done:
	free(ptrs);
	free(ents);
	return rv;
}

static pigeon_status
reply_online(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__ListOnlineUsersReply rep = PIGEON__V1__LIST_ONLINE_USERS_REPLY__INIT;
	char **names = NULL;
	size_t n;

	if (!is_arr(r, 0))
		return PIGEON_INTERNAL;
	n = r->elements > q->page ? q->page : r->elements;
	if (n > 0 && (names = calloc(n, sizeof(*names))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < n; i++) {
		if (!is_str(r->element[i])) {
			free(names);
			return PIGEON_INTERNAL;
		}
		names[i] = r->element[i]->str;
	}
	rep.n_usernames = n;
	rep.usernames = names;
	if (r->elements > q->page && n > 0)
		rep.next_cursor = names[n - 1];
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	free(names);
	return PIGEON_OK;
}

/* r: the XRANGE or XREVRANGE; last: the GET of the last sequence, read after
 * it, so at least every sequence on the page (nil before the first event). */
static pigeon_status
reply_journal(const store_reply_req *q, const redisReply *r, const redisReply *last)
{
	Pigeon__V1__GetEventJournalReply rep = PIGEON__V1__GET_EVENT_JOURNAL_REPLY__INIT;
	Pigeon__V1__Event *evs = NULL, **ptrs = NULL;
	size_t n;
	pigeon_status rv = PIGEON_INTERNAL;

	if (!is_arr(r, 0) || last == NULL)
		return PIGEON_INTERNAL;
	if (last->type != REDIS_REPLY_NIL && (!is_str(last) || !id_from(last, &rep.last_sequence)))
		return PIGEON_INTERNAL;
	n = r->elements > q->page ? q->page : r->elements;
	if (n > 0 && ((evs = calloc(n, sizeof(*evs))) == NULL ||
			 (ptrs = calloc(n, sizeof(*ptrs))) == NULL)) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if (!event_from_entry(r->element[i], &evs[i]))
			goto done;
		ptrs[i] = &evs[i];
	}
	rep.n_events = n;
	rep.events = ptrs;
	if (r->elements > q->page && n > 0)
		rep.next_cursor = evs[n - 1].sequence;
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	rv = PIGEON_OK;
done:
	free(ptrs);
	free(evs);
	return rv;
}

/* register answers the role the store gave it. */
static pigeon_status
reply_register(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__RegisterUserReply rep = PIGEON__V1__REGISTER_USER_REPLY__INIT;
	Pigeon__V1__Role role = PIGEON__V1__ROLE__ROLE_REGULAR;

	if (!is_str(r))
		return PIGEON_INTERNAL;
	names_role_parse(r->str, &role);
	rep.username = (char *)q->username;
	rep.role = role == PIGEON__V1__ROLE__ROLE_ADMIN ? PIGEON__V1__ROLE__ROLE_ADMIN
							 : PIGEON__V1__ROLE__ROLE_REGULAR;
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

static pigeon_status
reply_health(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__HealthReply rep = PIGEON__V1__HEALTH_REPLY__INIT;

	if (!is_arr(r, 5))
		return PIGEON_INTERNAL;
	for (size_t i = 0; i < 5; i++)
		if (!is_int(r->element[i]))
			return PIGEON_INTERNAL;
	if (r->element[3]->integer > (long long)UINT32_MAX)
		return PIGEON_INTERNAL;
	rep.status = PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	rep.queue_depth = count_of(r->element[0]->integer);
	rep.queue_pending = count_of(r->element[1]->integer);
	rep.dead_letters = count_of(r->element[2]->integer);
	rep.workers = (uint32_t)count_of(r->element[3]->integer);
	rep.oldest_pending_ms = (int64_t)count_of(r->element[4]->integer);
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

/* heartbeat's {online, deadline}. */
static pigeon_status
reply_heartbeat(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__HeartbeatReply rep = PIGEON__V1__HEARTBEAT_REPLY__INIT;

	if (!is_arr(r, 2) || !is_int(r->element[0]) || !is_int(r->element[1]) ||
	    r->element[1]->integer < 0)
		return PIGEON_INTERNAL;
	rep.online = r->element[0]->integer != 0;
	rep.expires_ms = rep.online ? r->element[1]->integer : 0;
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

/* mark_read's {unread, marked}. */
static pigeon_status
reply_mark_read(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__MarkReadReply rep = PIGEON__V1__MARK_READ_REPLY__INIT;

	if (!is_arr(r, 2) || !is_int(r->element[0]) || !is_int(r->element[1]))
		return PIGEON_INTERNAL;
	rep.username = (char *)q->username;
	rep.unread = count_of(r->element[0]->integer);
	rep.marked = count_of(r->element[1]->integer);
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

/* read_message's and report's {id, sender, recipient, content, state,
 * created_ms, read_ms, changed}. */
static pigeon_status
reply_report(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__ReportMessageReply rep = PIGEON__V1__REPORT_MESSAGE_REPLY__INIT;
	Pigeon__V1__Message m;
	long long read_ms;

	if (!is_arr(r, 8) || !message_from((const redisReply *const *)r->element, &m) ||
	    !num_from(r->element[6], &read_ms) || !is_int(r->element[7]))
		return PIGEON_INTERNAL;
	m.read_ms = (int64_t)count_of(read_ms);
	rep.message = &m;
	rep.changed = r->element[7]->integer != 0;
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

/* train's {spam learned, ham learned}. */
static pigeon_status
reply_train(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__TrainReply rep = PIGEON__V1__TRAIN_REPLY__INIT;

	if (!is_arr(r, 2) || !is_int(r->element[0]) || !is_int(r->element[1]))
		return PIGEON_INTERNAL;
	rep.spam_learned = count_of(r->element[0]->integer);
	rep.ham_learned = count_of(r->element[1]->integer);
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

/* read_user's {role, online, last_seen_ms, created_ms}; a negative time
 * (a hand-edited profile) reads as 0, as an unknown one. */
static pigeon_status
reply_user(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__GetUserReply rep = PIGEON__V1__GET_USER_REPLY__INIT;
	Pigeon__V1__Role role = PIGEON__V1__ROLE__ROLE_REGULAR;

	if (!is_arr(r, 4) || !is_str(r->element[0]) || !is_int(r->element[1]) ||
	    !is_int(r->element[2]) || !is_int(r->element[3]))
		return PIGEON_INTERNAL;
	names_role_parse(r->element[0]->str, &role);
	rep.username = (char *)q->username;
	rep.role = role == PIGEON__V1__ROLE__ROLE_ADMIN ? PIGEON__V1__ROLE__ROLE_ADMIN
							 : PIGEON__V1__ROLE__ROLE_REGULAR;
	rep.online = r->element[1]->integer != 0;
	rep.last_seen_ms = (int64_t)count_of(r->element[2]->integer);
	rep.created_ms = (int64_t)count_of(r->element[3]->integer);
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

/* The auth_ scripts' {exists, hash, admin, generation, revoked, count}. */
static pigeon_status
reply_auth(const store_reply_req *q, const redisReply *r)
{
	store_auth a = {0};

	if (!is_arr(r, 6) || !is_int(r->element[0]) || !is_str(r->element[1]) ||
	    !is_int(r->element[2]) || !is_int(r->element[3]) || !is_int(r->element[4]) ||
	    !is_int(r->element[5]))
		return PIGEON_INTERNAL;
	a.exists = r->element[0]->integer != 0;
	a.hash = r->element[1]->str;
	a.admin = r->element[2]->integer != 0;
	a.generation = count_of(r->element[3]->integer);
	a.revoked = r->element[4]->integer != 0;
	a.count = count_of(r->element[5]->integer);
	q->auth_cb(q->arg, PIGEON_OK, NULL, &a);
	return PIGEON_OK;
}

/* The presence_ scripts' {taken, ended, cursor}. */
static pigeon_status
reply_presence(const store_reply_req *q, const redisReply *r)
{
	store_presence p = {0};

	if (!is_arr(r, 3) || !is_int(r->element[0]) || !is_int(r->element[1]) ||
	    !is_str(r->element[2]))
		return PIGEON_INTERNAL;
	p.taken = count_of(r->element[0]->integer);
	p.ended = count_of(r->element[1]->integer);
	p.cursor = r->element[2]->str;
	q->presence_cb(q->arg, PIGEON_OK, NULL, &p);
	return PIGEON_OK;
}

/* r: TIME's {seconds, microseconds}; earliest: ZRANGE 0 0 WITHSCORES of the
 * deadlines, {member, score} or empty. */
static pigeon_status
reply_presence_due(const store_reply_req *q, const redisReply *r, const redisReply *earliest)
{
	store_presence p = {.cursor = ""};
	long long sec, usec;
	char *end;
	double deadline;

	if (!is_arr(r, 2) || !num_from(r->element[0], &sec) || !num_from(r->element[1], &usec) ||
	    earliest == NULL || earliest->type != REDIS_REPLY_ARRAY ||
	    (earliest->elements != 0 && earliest->elements != 2))
		return PIGEON_INTERNAL;
	if (earliest->elements == 2) {
		if (!is_str(earliest->element[1]) || earliest->element[1]->len == 0)
			return PIGEON_INTERNAL;
		deadline = strtod(earliest->element[1]->str, &end);
		if (end != earliest->element[1]->str + earliest->element[1]->len ||
		    !isfinite(deadline))
			return PIGEON_INTERNAL;
		p.due = deadline <= (double)sec * 1000 + (double)(usec / 1000);
	}
	q->presence_cb(q->arg, PIGEON_OK, NULL, &p);
	return PIGEON_OK;
}

void
store_reply_fail(const store_reply_req *q, pigeon_status rv, const char *msg)
{
	if (q->kind == STORE_OP_AUTH) {
		q->auth_cb(q->arg, rv, msg, NULL);
	} else if (q->kind == STORE_OP_PRESENCE || q->kind == STORE_OP_PRESENCE_DUE) {
		q->presence_cb(q->arg, rv, msg, NULL);
	} else if (q->kind == STORE_OP_HEALTH && rv != PIGEON_CANCELLED) {
		Pigeon__V1__HealthReply rep = PIGEON__V1__HEALTH_REPLY__INIT;

		rep.status = PIGEON__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING;
		q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	} else {
		q->cb(q->arg, rv, msg, NULL);
	}
}

void
store_reply_complete(const store_reply_req *q, const redisReply *r, const redisReply *r2)
{
	pigeon_status rv;
	const char *msg;

	if (r == NULL) {
		rv = PIGEON_INTERNAL;
		goto malformed;
	}
	if (r->type != REDIS_REPLY_ERROR && r2 != NULL && r2->type == REDIS_REPLY_ERROR)
		r = r2;
	if (r->type == REDIS_REPLY_ERROR) {
		rv = store_status_from_error(r->str, &msg);
		if (rv == PIGEON_INTERNAL || rv == PIGEON_UNAVAILABLE ||
		    rv == PIGEON_RESOURCE_EXHAUSTED)
			log_warn("store", "redis error reply kind=%d err=%s", (int)q->kind, r->str);
		store_reply_fail(q, rv, msg);
		return;
	}
	switch (q->kind) {
	case STORE_OP_LOGIN:
	case STORE_OP_LOGOUT:
		rv = reply_login(q, r);
		break;
	case STORE_OP_SEND:
		rv = reply_send(q, r);
		break;
	case STORE_OP_USER_STATS:
		rv = reply_user_stats(q, r);
		break;
	case STORE_OP_INBOX:
		rv = reply_inbox(q, r);
		break;
	case STORE_OP_SPAMMERS:
	case STORE_OP_CHATTERS:
		rv = reply_leaderboard(q, r);
		break;
	case STORE_OP_ONLINE:
		rv = reply_online(q, r);
		break;
	case STORE_OP_JOURNAL:
		rv = reply_journal(q, r, r2);
		break;
	case STORE_OP_REGISTER:
		rv = reply_register(q, r);
		break;
	case STORE_OP_HEALTH:
		rv = reply_health(q, r);
		break;
	case STORE_OP_HEARTBEAT:
		rv = reply_heartbeat(q, r);
		break;
	case STORE_OP_MARK_READ:
		rv = reply_mark_read(q, r);
		break;
	case STORE_OP_REPORT:
		rv = reply_report(q, r);
		break;
	case STORE_OP_TRAIN:
		rv = reply_train(q, r);
		break;
	case STORE_OP_USER:
		rv = reply_user(q, r);
		break;
	case STORE_OP_AUTH:
		rv = reply_auth(q, r);
		break;
	case STORE_OP_PRESENCE:
		rv = reply_presence(q, r);
		break;
	case STORE_OP_PRESENCE_DUE:
		rv = reply_presence_due(q, r, r2);
		break;
	default:
		rv = PIGEON_INTERNAL;
		break;
	}
	if (rv == PIGEON_OK)
		return;
malformed:
	log_error("store", "unexpected reply kind=%d type=%d", (int)q->kind,
	    r != NULL ? r->type : -1);
	msg = rv == PIGEON_INTERNAL ? MSG_MALFORMED : MSG_NO_MEMORY;
	if (q->kind == STORE_OP_AUTH)
		q->auth_cb(q->arg, rv, msg, NULL);
	else if (q->kind == STORE_OP_PRESENCE || q->kind == STORE_OP_PRESENCE_DUE)
		q->presence_cb(q->arg, rv, msg, NULL);
	else
		q->cb(q->arg, rv, msg, NULL);
}
