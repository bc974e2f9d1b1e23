/* SPDX-License-Identifier: MIT */
/*
 * Redis replies into protobuf messages; see reply.h.  This is the RPC hot
 * path: each conversion is one pass over the reply, its messages live on the
 * stack or in one array per page, and their strings point into the reply,
 * which outlives the callback.
 */
#include "reply.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "names.h"
#include "redis.h"

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

static uint64_t
u64_or_zero(long long v)
{
	return v > 0 ? (uint64_t)v : 0;
}

/* The number in an integer reply, or in a string reply that holds only
 * one (SORT's GET answers strings). */
static bool
num_from(const redisReply *r, long long *v)
{
	char *end;

	if (is_int(r)) {
		*v = r->integer;
		return true;
	}
	if (!is_str(r) || r->len == 0)
		return false;
	errno = 0;
	*v = strtoll(r->str, &end, 10);
	return errno == 0 && *end == '\0';
}

/* A message from {id, sender, recipient, content, state, created_ms}; id
 * and created_ms as integers or as decimal strings.  A state that is not
 * one of the proto's (dead_letter) reads as UNSPECIFIED. */
static bool
message_from(const redisReply *const *e, Pigeon__V1__Message *m)
{
	Pigeon__V1__MessageState state = PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_UNSPECIFIED;
	long long id, created;

	if (!num_from(e[0], &id) || !is_str(e[1]) || !is_str(e[2]) || !is_str(e[3]) ||
	    !is_str(e[4]) || !num_from(e[5], &created))
		return false;
	names_message_state_parse(e[4]->str, &state);
	pigeon__v1__message__init(m);
	m->id = u64_or_zero(id);
	m->sender = e[1]->str;
	m->recipient = e[2]->str;
	m->content = e[3]->str;
	m->state = state;
	m->created_ms = created;
	return true;
}

/* A journal entry [ "<seq>-0", [field, value, ...] ]. */
static bool
event_from(const redisReply *r, Pigeon__V1__Event *ev)
{
	const redisReply *f;

	if (!is_arr(r, 2) || !is_str(r->element[0]) || !is_arr(r->element[1], 0))
		return false;
	pigeon__v1__event__init(ev);
	ev->sequence = strtoull(r->element[0]->str, NULL, 10);
	f = r->element[1];
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const char *k = f->element[i]->str, *v = f->element[i + 1]->str;

		if (!is_str(f->element[i]) || !is_str(f->element[i + 1]))
			return false;
		if (strcmp(k, "type") == 0)
			names_event_type_parse(v, &ev->type);
		else if (strcmp(k, "time_ms") == 0)
			ev->time_ms = strtoll(v, NULL, 10);
		else if (strcmp(k, "username") == 0)
			ev->username = (char *)v;
		else if (strcmp(k, "recipient") == 0)
			ev->recipient = (char *)v;
		else if (strcmp(k, "message_id") == 0)
			ev->message_id = strtoull(v, NULL, 10);
		else if (strcmp(k, "reason") == 0)
			ev->reason = (char *)v;
		else if (strcmp(k, "text") == 0)
			ev->text = (char *)v;
	}
	return true;
}

static pigeon_status
reply_login(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__LoginReply lr = PIGEON__V1__LOGIN_REPLY__INIT;
	Pigeon__V1__LogoutReply lo = PIGEON__V1__LOGOUT_REPLY__INIT;

	if (!is_int(r))
		return PIGEON_INTERNAL;
	if (q->kind == STORE_OP_LOGIN) {
		lr.username = (char *)q->username;
		lr.sequence = u64_or_zero(r->integer);
		q->cb(q->arg, PIGEON_OK, NULL, &lr.base);
	} else {
		lo.username = (char *)q->username;
		lo.sequence = u64_or_zero(r->integer);
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

static pigeon_status
reply_user_stats(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__UserStats us = PIGEON__V1__USER_STATS__INIT;

	if (!is_arr(r, 4))
		return PIGEON_INTERNAL;
	for (size_t i = 0; i < 4; i++)
		if (!is_int(r->element[i]))
			return PIGEON_INTERNAL;
	us.username = (char *)q->username;
	us.enqueued = u64_or_zero(r->element[0]->integer);
	us.being_spam_checked = u64_or_zero(r->element[1]->integer);
	us.delivered = u64_or_zero(r->element[2]->integer);
	us.marked_as_spam = u64_or_zero(r->element[3]->integer);
	q->cb(q->arg, PIGEON_OK, NULL, &us.base);
	return PIGEON_OK;
}

/* read_inbox's flat reply: six strings per message, as message_from reads
 * them. */
static pigeon_status
reply_inbox(const store_reply_req *q, const redisReply *r)
{
	Pigeon__V1__ListInboundMessagesReply rep = PIGEON__V1__LIST_INBOUND_MESSAGES_REPLY__INIT;
	Pigeon__V1__Message *msgs = NULL, **ptrs = NULL;
	size_t n, total;
	pigeon_status rv = PIGEON_INTERNAL;

	if (!is_arr(r, 0) || r->elements % 6 != 0)
		return PIGEON_INTERNAL;
	total = r->elements / 6;
	n = total > q->page ? q->page : total;
	if (n > 0 && ((msgs = calloc(n, sizeof(*msgs))) == NULL ||
			 (ptrs = calloc(n, sizeof(*ptrs))) == NULL)) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if (!message_from((const redisReply *const *)&r->element[6 * i], &msgs[i]))
			goto done;
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
		const redisReply *name = r->element[2 * i], *score = r->element[2 * i + 1];
		double d;

		if (!is_str(name) || !is_str(score))
			goto done;
		pigeon__v1__leaderboard_entry__init(&ents[i]);
		/* Scores are negated counts, so ascending order is highest first
		 * and equal counts sort by name. */
		d = -strtod(score->str, NULL);
		ents[i].username = name->str;
		ents[i].count = d > 0 ? (uint64_t)d : 0;
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

static pigeon_status
reply_journal(const store_reply_req *q, const redisReply *r, const redisReply *last)
{
	Pigeon__V1__GetEventJournalReply rep = PIGEON__V1__GET_EVENT_JOURNAL_REPLY__INIT;
	Pigeon__V1__Event *evs = NULL, **ptrs = NULL;
	const redisReply *ents;
	size_t n;
	pigeon_status rv = PIGEON_INTERNAL;

	/* r: the XRANGE or XREVRANGE; last: GET of the last sequence, read
	 * after it, so it is at least every sequence on the page. */
	if (!is_arr(r, 0) || last == NULL || (last->type != REDIS_REPLY_NIL && !is_str(last)))
		return PIGEON_INTERNAL;
	ents = r;
	n = ents->elements > q->page ? q->page : ents->elements;
	if (n > 0 && ((evs = calloc(n, sizeof(*evs))) == NULL ||
			 (ptrs = calloc(n, sizeof(*ptrs))) == NULL)) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if (!event_from(ents->element[i], &evs[i]))
			goto done;
		ptrs[i] = &evs[i];
	}
	rep.n_events = n;
	rep.events = ptrs;
	rep.last_sequence = is_str(last) ? strtoull(last->str, NULL, 10) : 0;
	if (ents->elements > q->page && n > 0)
		rep.next_cursor = evs[n - 1].sequence;
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	rv = PIGEON_OK;
done:
	free(ptrs);
	free(evs);
	return rv;
}

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

	if (!is_arr(r, 4))
		return PIGEON_INTERNAL;
	for (size_t i = 0; i < 4; i++)
		if (!is_int(r->element[i]))
			return PIGEON_INTERNAL;
	rep.status = PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	rep.queue_depth = u64_or_zero(r->element[0]->integer);
	rep.queue_pending = u64_or_zero(r->element[1]->integer);
	rep.dead_letters = u64_or_zero(r->element[2]->integer);
	rep.workers = (uint32_t)u64_or_zero(r->element[3]->integer);
	q->cb(q->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

void
store_reply_fail(const store_reply_req *q, pigeon_status rv, const char *msg)
{
	if (q->kind == STORE_OP_HEALTH && rv != PIGEON_CANCELLED) {
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
	default:
		rv = PIGEON_INTERNAL;
		break;
	}
	if (rv == PIGEON_OK)
		return;
malformed:
	log_error("store", "unexpected reply kind=%d type=%d", (int)q->kind,
	    r != NULL ? r->type : -1);
	q->cb(q->arg, rv, rv == PIGEON_INTERNAL ? MSG_MALFORMED : MSG_NO_MEMORY, NULL);
}
