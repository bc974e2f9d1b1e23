/* SPDX-License-Identifier: MIT */
/*
 * The store's I/O thread and the conversion of Redis replies into RPC reply
 * messages; see store.h.  Callers queue operations; the thread takes every
 * queued one, writes all their commands, then reads the replies in order, so
 * requests in flight share round trips.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "redis.h"
#include "clocks.h"
#include "wait.h"
#include "errors.h"
#include "names.h"
#include "validate.h"

#define IO_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define OP_ARGS 8

typedef enum op_kind {
	OP_LOGIN,
	OP_LOGOUT,
	OP_SEND,
	OP_USER_STATS,
	OP_INBOX,
	OP_SPAMMERS,
	OP_CHATTERS,
	OP_ONLINE,
	OP_JOURNAL,
	OP_REGISTER,
	OP_HEALTH,
} op_kind;

typedef struct store_op {
	struct store_op *next;
	op_kind kind;
	store_cb cb;
	void *arg;
	/* A store_script, or -1 for the plain command in argv. */
	int script;
	int argc;
	char *argv[OP_ARGS];
	size_t lens[OP_ARGS];
	/* Page size asked for: one more is read to learn whether more follow. */
	uint32_t page;
	bool sent;
	redisReply *reply;
	/* A second command written right after the op's own, whose reply
	 * goes to reply2 (the journal's GET of its last sequence), or NULL. */
	const char *then_get;
	redisReply *reply2;
} store_op;

typedef struct store_user {
	char *name;
	Pigeon__V1__Role role;
} store_user;

/* One connection to Redis and the thread that drives it.  A store has
 * several: each waits for its batch's replies on its own, so while one
 * thread waits or runs callbacks the other's commands keep Redis busy. */
typedef struct store_conn {
	struct store *st;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	store_op *head;
	store_op *tail;
	bool stopping;
	bool started;
	atomic_bool connected;

	/* Owned by the I/O thread. */
	redisContext *c;
	store_sha shas[STORE_SCRIPT_COUNT];
	/* The commands of the batch being written. */
	store_cmd cmd;
	char why[200];
} store_conn;

struct store {
	store_conn *conns;
	unsigned nconns;
	/* Round robin over conns. */
	atomic_uint next;

	store_url url;
	char jmax[24];
	store_user *users;
	size_t nusers;
};

static uint32_t
page_size(uint32_t asked)
{
	if (asked == 0)
		return PAGE_DEFAULT;
	return asked > PAGE_MAX ? PAGE_MAX : asked;
}

/* ---- users file ---- */

/* A role exactly as Redis stores it: names_role_parse alone would also take
 * "ADMIN" and "unspecified". */
static bool
role_parse(const char *s, Pigeon__V1__Role *out)
{
	Pigeon__V1__Role r;

	if (!names_role_parse(s, &r) || r == PIGEON__V1__ROLE__ROLE_UNSPECIFIED ||
	    strcmp(names_role(r), s) != 0)
		return false;
	*out = r;
	return true;
}

static void
users_free(store_user *users, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(users[i].name);
	free(users);
}

static pigeon_status
users_load(const char *path, store_user **out, size_t *nout)
{
	FILE *f;
	char line[512];
	store_user *users = NULL, *grown;
	size_t n = 0;
	unsigned lineno = 0;
	pigeon_status rv = PIGEON_OK;

	if ((f = fopen(path, "r")) == NULL) {
		rv = errno == ENOENT ? PIGEON_NOT_FOUND : status_from_errno(errno);
		log_error("store", "cannot open users file path=%s err=%s", path, strerror(errno));
		return rv;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[PIGEON_USERNAME_MAX + 2], role[16], extra[2];
		Pigeon__V1__Role r;
		int k;

		lineno++;
		line[strcspn(line, "#")] = '\0';
		k = sscanf(line, "%65s %15s %1s", name, role, extra);
		if (k <= 0)
			continue;
		if (k != 2 || validate_username(name, strlen(name)) != NULL ||
		    !role_parse(role, &r)) {
			log_error("store", "bad users file line path=%s line=%u", path, lineno);
			rv = PIGEON_INVALID_ARGUMENT;
			goto fail;
		}
		if ((grown = realloc(users, (n + 1) * sizeof(*users))) == NULL) {
			rv = PIGEON_RESOURCE_EXHAUSTED;
			goto fail;
		}
		users = grown;
		users[n].role = r;
		if ((users[n].name = strdup(name)) == NULL) {
			rv = PIGEON_RESOURCE_EXHAUSTED;
			goto fail;
		}
		n++;
	}
	fclose(f);
	*out = users;
	*nout = n;
	return PIGEON_OK;

fail:
	users_free(users, n);
	fclose(f);
	return rv;
}

/* ---- queueing operations ---- */

/* Builds an operation whose arguments are copied into one allocation.  On
 * failure the callback runs at once, on the caller's thread. */
static store_op *
op_new(op_kind kind, int script, int argc, const char *const *argv, const size_t *lens,
    store_cb cb, void *arg)
{
	store_op *op;
	size_t total = sizeof(*op), l[OP_ARGS];
	char *p;

	for (int i = 0; i < argc; i++) {
		l[i] = lens != NULL ? lens[i] : strlen(argv[i]);
		total += l[i] + 1;
	}
	if ((op = calloc(1, total)) == NULL) {
		cb(arg, PIGEON_RESOURCE_EXHAUSTED, "out of memory", NULL);
		return NULL;
	}
	op->kind = kind;
	op->script = script;
	op->cb = cb;
	op->arg = arg;
	op->argc = argc;
	p = (char *)(op + 1);
	for (int i = 0; i < argc; i++) {
		memcpy(p, argv[i], l[i]);
		p[l[i]] = '\0';
		op->argv[i] = p;
		op->lens[i] = l[i];
		p += l[i] + 1;
	}
	return op;
}

static void
op_submit(store *st, store_op *op)
{
	store_conn *cn;
	unsigned first;

	if (op == NULL)
		return;
	/* In turn, skipping connections that are down while another is up:
	 * after an outage they come back one by one, and an operation queued
	 * on one still waiting to reconnect would fail for nothing. */
	first = atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed) % st->nconns;
	cn = &st->conns[first];
	for (unsigned i = 1; i < st->nconns && !atomic_load(&cn->connected); i++)
		if (atomic_load(&st->conns[(first + i) % st->nconns].connected))
			cn = &st->conns[(first + i) % st->nconns];
	pthread_mutex_lock(&cn->mu);
	if (cn->tail != NULL)
		cn->tail->next = op;
	else
		cn->head = op;
	cn->tail = op;
	pthread_cond_signal(&cn->cv);
	pthread_mutex_unlock(&cn->mu);
}

/* ---- replies to RPC messages ---- */

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
reply_login(store_op *op, const redisReply *r)
{
	Pigeon__V1__LoginReply lr = PIGEON__V1__LOGIN_REPLY__INIT;
	Pigeon__V1__LogoutReply lo = PIGEON__V1__LOGOUT_REPLY__INIT;

	if (!is_int(r))
		return PIGEON_INTERNAL;
	if (op->kind == OP_LOGIN) {
		lr.username = op->argv[0];
		lr.sequence = u64_or_zero(r->integer);
		op->cb(op->arg, PIGEON_OK, NULL, &lr.base);
	} else {
		lo.username = op->argv[0];
		lo.sequence = u64_or_zero(r->integer);
		op->cb(op->arg, PIGEON_OK, NULL, &lo.base);
	}
	return PIGEON_OK;
}

static pigeon_status
reply_send(store_op *op, const redisReply *r)
{
	Pigeon__V1__SendMessageReply rep = PIGEON__V1__SEND_MESSAGE_REPLY__INIT;
	Pigeon__V1__Message m;

	if (!is_arr(r, 7) || !message_from((const redisReply *const *)r->element, &m) ||
	    !is_int(r->element[6]))
		return PIGEON_INTERNAL;
	rep.message = &m;
	rep.duplicate = r->element[6]->integer != 0;
	op->cb(op->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

static pigeon_status
reply_user_stats(store_op *op, const redisReply *r)
{
	Pigeon__V1__UserStats us = PIGEON__V1__USER_STATS__INIT;

	if (!is_arr(r, 4))
		return PIGEON_INTERNAL;
	for (size_t i = 0; i < 4; i++)
		if (!is_int(r->element[i]))
			return PIGEON_INTERNAL;
	us.username = op->argv[0];
	us.enqueued = u64_or_zero(r->element[0]->integer);
	us.being_spam_checked = u64_or_zero(r->element[1]->integer);
	us.delivered = u64_or_zero(r->element[2]->integer);
	us.marked_as_spam = u64_or_zero(r->element[3]->integer);
	op->cb(op->arg, PIGEON_OK, NULL, &us.base);
	return PIGEON_OK;
}

/* read_inbox's flat reply: six strings per message, as message_from reads
 * them. */
static pigeon_status
reply_inbox(store_op *op, const redisReply *r)
{
	Pigeon__V1__ListInboundMessagesReply rep = PIGEON__V1__LIST_INBOUND_MESSAGES_REPLY__INIT;
	Pigeon__V1__Message *msgs = NULL, **ptrs = NULL;
	size_t n, total;
	pigeon_status rv = PIGEON_INTERNAL;

	if (!is_arr(r, 0) || r->elements % 6 != 0)
		return PIGEON_INTERNAL;
	total = r->elements / 6;
	n = total > op->page ? op->page : total;
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
	if (total > op->page && n > 0)
		rep.next_cursor = msgs[n - 1].id;
	op->cb(op->arg, PIGEON_OK, NULL, &rep.base);
	rv = PIGEON_OK;
done:
	free(ptrs);
	free(msgs);
	return rv;
}

static pigeon_status
reply_leaderboard(store_op *op, const redisReply *r)
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
	op->cb(op->arg, PIGEON_OK, NULL, &lb.base);
	rv = PIGEON_OK;
done:
	free(ptrs);
	free(ents);
	return rv;
}

static pigeon_status
reply_online(store_op *op, const redisReply *r)
{
	Pigeon__V1__ListOnlineUsersReply rep = PIGEON__V1__LIST_ONLINE_USERS_REPLY__INIT;
	char **names = NULL;
	size_t n;

	if (!is_arr(r, 0))
		return PIGEON_INTERNAL;
	n = r->elements > op->page ? op->page : r->elements;
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
	if (r->elements > op->page && n > 0)
		rep.next_cursor = names[n - 1];
	op->cb(op->arg, PIGEON_OK, NULL, &rep.base);
	free(names);
	return PIGEON_OK;
}

static pigeon_status
reply_journal(store_op *op, const redisReply *r)
{
	Pigeon__V1__GetEventJournalReply rep = PIGEON__V1__GET_EVENT_JOURNAL_REPLY__INIT;
	Pigeon__V1__Event *evs = NULL, **ptrs = NULL;
	const redisReply *ents;
	size_t n;
	pigeon_status rv = PIGEON_INTERNAL;

	/* r: the XRANGE or XREVRANGE; reply2: GET of the last sequence, read
	 * after it, so it is at least every sequence on the page. */
	if (!is_arr(r, 0) || op->reply2 == NULL ||
	    (op->reply2->type != REDIS_REPLY_NIL && !is_str(op->reply2)))
		return PIGEON_INTERNAL;
	ents = r;
	n = ents->elements > op->page ? op->page : ents->elements;
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
	rep.last_sequence = is_str(op->reply2) ? strtoull(op->reply2->str, NULL, 10) : 0;
	if (ents->elements > op->page && n > 0)
		rep.next_cursor = evs[n - 1].sequence;
	op->cb(op->arg, PIGEON_OK, NULL, &rep.base);
	rv = PIGEON_OK;
done:
	free(ptrs);
	free(evs);
	return rv;
}

static pigeon_status
reply_register(store_op *op, const redisReply *r)
{
	Pigeon__V1__RegisterUserReply rep = PIGEON__V1__REGISTER_USER_REPLY__INIT;
	Pigeon__V1__Role role = PIGEON__V1__ROLE__ROLE_REGULAR;

	if (!is_str(r))
		return PIGEON_INTERNAL;
	names_role_parse(r->str, &role);
	rep.username = op->argv[0];
	rep.role = role == PIGEON__V1__ROLE__ROLE_ADMIN ? PIGEON__V1__ROLE__ROLE_ADMIN
							 : PIGEON__V1__ROLE__ROLE_REGULAR;
	op->cb(op->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

static pigeon_status
reply_health(store_op *op, const redisReply *r)
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
	op->cb(op->arg, PIGEON_OK, NULL, &rep.base);
	return PIGEON_OK;
}

/* Runs the callback with the failure and frees the operation.  Health
 * answers OK with NOT_SERVING while Redis cannot be reached. */
static void
op_fail(store_op *op, pigeon_status rv, const char *msg)
{
	if (op->kind == OP_HEALTH && rv != PIGEON_CANCELLED) {
		Pigeon__V1__HealthReply rep = PIGEON__V1__HEALTH_REPLY__INIT;

		rep.status = PIGEON__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING;
		op->cb(op->arg, PIGEON_OK, NULL, &rep.base);
	} else {
		op->cb(op->arg, rv, msg, NULL);
	}
	if (op->reply != NULL)
		freeReplyObject(op->reply);
	if (op->reply2 != NULL)
		freeReplyObject(op->reply2);
	free(op);
}

static void
op_fail_list(store_op *op, pigeon_status rv, const char *msg)
{
	while (op != NULL) {
		store_op *next = op->next;

		op_fail(op, rv, msg);
		op = next;
	}
}

/* Turns the op's reply into its RPC reply and completes it. */
static void
op_complete(store_op *op)
{
	const redisReply *r = op->reply;
	pigeon_status rv;
	const char *msg;

	if (r->type != REDIS_REPLY_ERROR && op->reply2 != NULL &&
	    op->reply2->type == REDIS_REPLY_ERROR)
		r = op->reply2;
	if (r->type == REDIS_REPLY_ERROR) {
		rv = store_status_from_error(r->str, &msg);
		if (rv == PIGEON_INTERNAL || rv == PIGEON_UNAVAILABLE ||
		    rv == PIGEON_RESOURCE_EXHAUSTED)
			log_warn("store", "redis error reply kind=%d err=%s", (int)op->kind, r->str);
		op_fail(op, rv, msg);
		return;
	}
	switch (op->kind) {
	case OP_LOGIN:
	case OP_LOGOUT:
		rv = reply_login(op, r);
		break;
	case OP_SEND:
		rv = reply_send(op, r);
		break;
	case OP_USER_STATS:
		rv = reply_user_stats(op, r);
		break;
	case OP_INBOX:
		rv = reply_inbox(op, r);
		break;
	case OP_SPAMMERS:
	case OP_CHATTERS:
		rv = reply_leaderboard(op, r);
		break;
	case OP_ONLINE:
		rv = reply_online(op, r);
		break;
	case OP_JOURNAL:
		rv = reply_journal(op, r);
		break;
	case OP_REGISTER:
		rv = reply_register(op, r);
		break;
	case OP_HEALTH:
		rv = reply_health(op, r);
		break;
	default:
		rv = PIGEON_INTERNAL;
		break;
	}
	if (rv != PIGEON_OK) {
		log_error("store", "unexpected reply kind=%d type=%d", (int)op->kind, r->type);
		op->cb(op->arg, rv, rv == PIGEON_INTERNAL ? "unexpected reply from redis"
							  : "out of memory", NULL);
	}
	freeReplyObject(op->reply);
	if (op->reply2 != NULL)
		freeReplyObject(op->reply2);
	free(op);
}

/* ---- the I/O thread ---- */

/* why may point into the context: it is copied before the context goes. */
static void
drop_connection(store_conn *cn, const char *why)
{
	snprintf(cn->why, sizeof(cn->why), "redis unavailable: %s", why);
	if (cn->c != NULL) {
		log_warn("store", "redis connection lost err=%s", why);
		redisFree(cn->c);
		cn->c = NULL;
	}
	atomic_store(&cn->connected, false);
}

static pigeon_status
connect_redis(store_conn *cn)
{
	char err[160];
	redisReply *r;
	pigeon_status rv;

	if ((cn->c = store_redis_connect(&cn->st->url, IO_TIMEOUT_MS, err, sizeof(err))) == NULL)
		goto fail;
	if ((rv = store_redis_load_scripts(cn->c, cn->shas, err, sizeof(err))) != PIGEON_OK)
		goto fail;
	if ((rv = store_redis_create_group(cn->c, err, sizeof(err))) != PIGEON_OK)
		goto fail;
	for (size_t i = 0; i < cn->st->nusers; i++)
		if (redisAppendCommand(cn->c, "HSETNX pigeon:users %s %s", cn->st->users[i].name,
			names_role(cn->st->users[i].role)) != REDIS_OK)
			goto fail_ctx;
	for (size_t i = 0; i < cn->st->nusers; i++) {
		if (redisGetReply(cn->c, (void **)&r) != REDIS_OK)
			goto fail_ctx;
		freeReplyObject(r);
	}
	log_info("store", "connected to redis users=%zu", cn->st->nusers);
	atomic_store(&cn->connected, true);
	return PIGEON_OK;

fail_ctx:
	snprintf(err, sizeof(err), "%s", cn->c->errstr);
fail:
	drop_connection(cn, err);
	return PIGEON_UNAVAILABLE;
}

/* Appends the op's command to cmd. */
static void
op_format(store_conn *cn, store_op *op, store_cmd *cmd)
{
	if (op->script >= 0)
		store_cmd_evalsha(cmd, cn->shas[op->script], (size_t)op->argc);
	else
		store_cmd_begin(cmd, (size_t)op->argc);
	for (int i = 0; i < op->argc; i++)
		store_cmd_arg(cmd, op->argv[i], op->lens[i]);
	if (op->then_get != NULL) {
		store_cmd_begin(cmd, 2);
		store_cmd_arg(cmd, "GET", 3);
		store_cmd_str(cmd, op->then_get);
	}
}

/* Writes the commands of every op in list whose reply is still missing in
 * one go, then reads their replies in order.  False when the connection
 * broke; ops without a reply then remain without one. */
static bool
pipeline(store_conn *cn, store_op *list)
{
	store_op *op;

	store_cmd_reset(&cn->cmd);
	for (op = list; op != NULL; op = op->next) {
		op->sent = false;
		if (op->reply != NULL)
			continue;
		op_format(cn, op, &cn->cmd);
		op->sent = true;
	}
	if (cn->cmd.failed) {
		/* Out of memory: none is sent, each fails on its own. */
		for (op = list; op != NULL; op = op->next)
			op->sent = false;
		return true;
	}
	if (cn->cmd.len > 0 &&
	    redisAppendFormattedCommand(cn->c, cn->cmd.buf, cn->cmd.len) != REDIS_OK) {
		drop_connection(cn, cn->c->errstr);
		return false;
	}
	for (op = list; op != NULL; op = op->next) {
		if (!op->sent)
			continue;
		if (redisGetReply(cn->c, (void **)&op->reply) != REDIS_OK ||
		    (op->then_get != NULL &&
			redisGetReply(cn->c, (void **)&op->reply2) != REDIS_OK)) {
			if (op->reply != NULL)
				freeReplyObject(op->reply);
			op->reply = op->reply2 = NULL;
			drop_connection(cn, cn->c->errstr);
			return false;
		}
	}
	return true;
}

static void
run_batch(store_conn *cn, store_op *list)
{
	store_op *op, *next;
	bool noscript = false;
	char err[160];

	if (pipeline(cn, list)) {
		for (op = list; op != NULL; op = op->next) {
			if (store_reply_is_noscript(op->reply)) {
				freeReplyObject(op->reply);
				op->reply = NULL;
				noscript = true;
			}
		}
		/* The script cache was flushed behind our back: load again and
		 * retry the ops that missed, once. */
		if (noscript) {
			log_warn("store", "scripts missing in redis, loading them again");
			if (store_redis_load_scripts(cn->c, cn->shas, err, sizeof(err)) != PIGEON_OK)
				drop_connection(cn, err);
			else
				pipeline(cn, list);
		}
	}
	for (op = list; op != NULL; op = next) {
		next = op->next;
		if (op->reply != NULL)
			op_complete(op);
		else if (cn->c == NULL)
			op_fail(op, PIGEON_UNAVAILABLE, cn->why);
		else
			op_fail(op, PIGEON_RESOURCE_EXHAUSTED, "out of memory");
	}
}

/* True when Redis closed the connection (restarted, or dropped an idle
 * client) or it failed.  Between batches no reply is due and Redis sends
 * nothing unasked on this connection, so anything readable is the end. */
static bool
closed_by_redis(const redisContext *c)
{
	struct pollfd p = {c->fd, POLLIN, 0};

	return poll(&p, 1, 0) != 0;
}

static void *
io_main(void *p)
{
	store_conn *cn = p;
	store_op *batch;
	backoff bo;
	int64_t next_try = 0;
	/* The thread slept since its last batch: the connection sat idle. */
	bool waited = false;

	backoff_init(&bo, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
	pthread_mutex_lock(&cn->mu);
	while (!cn->stopping) {
		if (cn->c == NULL && clocks_mono_ms() >= next_try) {
			pthread_mutex_unlock(&cn->mu);
			if (connect_redis(cn) == PIGEON_OK)
				backoff_reset(&bo);
			else
				next_try = clocks_mono_ms() + backoff_next(&bo);
			pthread_mutex_lock(&cn->mu);
			continue;
		}
		if (cn->head == NULL) {
			if (cn->c == NULL) {
				wait_until(&cn->cv, &cn->mu, next_try);
			} else {
				pthread_cond_wait(&cn->cv, &cn->mu);
				waited = true;
			}
			continue;
		}
		batch = cn->head;
		cn->head = cn->tail = NULL;
		pthread_mutex_unlock(&cn->mu);
		/* Under load batches follow each other and a dead connection
		 * shows in the batch in flight; one that sat idle is checked
		 * before anything is sent on it: reconnecting first means the
		 * batch need not fail. */
		if (waited && cn->c != NULL && closed_by_redis(cn->c)) {
			drop_connection(cn, "closed by redis while idle");
			if (connect_redis(cn) != PIGEON_OK) {
				backoff_reset(&bo);
				next_try = clocks_mono_ms() + backoff_next(&bo);
			}
		}
		waited = false;
		if (cn->c == NULL) {
			op_fail_list(batch, PIGEON_UNAVAILABLE, cn->why);
		} else {
			run_batch(cn, batch);
			/* A connection that just broke is retried at once. */
			if (cn->c == NULL) {
				next_try = 0;
				backoff_reset(&bo);
			}
		}
		pthread_mutex_lock(&cn->mu);
	}
	batch = cn->head;
	cn->head = cn->tail = NULL;
	pthread_mutex_unlock(&cn->mu);
	op_fail_list(batch, PIGEON_CANCELLED, "store closing");
	if (cn->c != NULL) {
		redisFree(cn->c);
		cn->c = NULL;
	}
	return NULL;
}

/* ---- public API ---- */

static void
conns_stop(store *st)
{
	for (unsigned i = 0; i < st->nconns; i++) {
		store_conn *cn = &st->conns[i];

		if (!cn->started)
			continue;
		pthread_mutex_lock(&cn->mu);
		cn->stopping = true;
		pthread_cond_signal(&cn->cv);
		pthread_mutex_unlock(&cn->mu);
		pthread_join(cn->thread, NULL);
		cn->started = false;
	}
}

static void
conns_free(store *st)
{
	for (unsigned i = 0; i < st->nconns; i++) {
		pthread_cond_destroy(&st->conns[i].cv);
		pthread_mutex_destroy(&st->conns[i].mu);
		store_cmd_fini(&st->conns[i].cmd);
	}
	free(st->conns);
}

pigeon_status
store_open(store **out, const store_opts *opts)
{
	store *st;
	pigeon_status rv;
	unsigned n = opts->connections != 0 ? opts->connections : STORE_CONNECTIONS_DEFAULT;

	if (n > STORE_CONNECTIONS_MAX)
		return PIGEON_INVALID_ARGUMENT;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	if ((rv = store_url_parse(opts->url != NULL ? opts->url : STORE_DEFAULT_URL, &st->url)) !=
	    PIGEON_OK)
		goto fail_free;
	snprintf(st->jmax, sizeof(st->jmax), "%llu",
	    (unsigned long long)(opts->journal_max != 0 ? opts->journal_max : 1000000));
	if (opts->users_file != NULL &&
	    (rv = users_load(opts->users_file, &st->users, &st->nusers)) != PIGEON_OK)
		goto fail_free;
	rv = PIGEON_RESOURCE_EXHAUSTED;
	if ((st->conns = calloc(n, sizeof(*st->conns))) == NULL)
		goto fail_users;
	atomic_init(&st->next, 0);
	/* Each connection's locks exist before any thread starts, so that a
	 * failure part way frees them all the same way. */
	for (; st->nconns < n; st->nconns++) {
		store_conn *cn = &st->conns[st->nconns];

		cn->st = st;
		snprintf(cn->why, sizeof(cn->why), "redis unavailable: not connected yet");
		atomic_init(&cn->connected, false);
		if (pthread_mutex_init(&cn->mu, NULL) != 0)
			goto fail_conns;
		if (wait_cond_init(&cn->cv) != 0) {
			pthread_mutex_destroy(&cn->mu);
			goto fail_conns;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&st->conns[i].thread, NULL, io_main, &st->conns[i]) != 0)
			goto fail_threads;
		st->conns[i].started = true;
	}
	*out = st;
	return PIGEON_OK;

fail_threads:
	conns_stop(st);
fail_conns:
	conns_free(st);
fail_users:
	users_free(st->users, st->nusers);
fail_free:
	free(st);
	return rv;
}

void
store_close(store *st)
{
	if (st == NULL)
		return;
	conns_stop(st);
	conns_free(st);
	users_free(st->users, st->nusers);
	free(st);
}

bool
store_connected(const store *st)
{
	for (unsigned i = 0; i < st->nconns; i++)
		if (!atomic_load(&st->conns[i].connected))
			return false;
	return true;
}

void
store_login(store *st, const char *username, store_cb cb, void *arg)
{
	const char *argv[] = {username, st->jmax};

	op_submit(st, op_new(OP_LOGIN, STORE_SCRIPT_LOGIN, 2, argv, NULL, cb, arg));
}

void
store_logout(store *st, const char *username, store_cb cb, void *arg)
{
	const char *argv[] = {username, st->jmax};

	op_submit(st, op_new(OP_LOGOUT, STORE_SCRIPT_LOGOUT, 2, argv, NULL, cb, arg));
}

void
store_send_message(store *st, const Pigeon__V1__SendMessageRequest *req, store_cb cb, void *arg)
{
	const char *argv[] = {req->sender, req->recipient, req->content,
	    req->idempotency_key != NULL ? req->idempotency_key : ""};

	op_submit(st, op_new(OP_SEND, STORE_SCRIPT_SEND, 4, argv, NULL, cb, arg));
}

void
store_get_user_stats(store *st, const char *username, store_cb cb, void *arg)
{
	const char *argv[] = {username};

	op_submit(st, op_new(OP_USER_STATS, STORE_SCRIPT_USER_STATS, 1, argv, NULL, cb, arg));
}

void
store_list_inbound_messages(
    store *st, const Pigeon__V1__ListInboundMessagesRequest *req, store_cb cb, void *arg)
{
	char cursor[24], count[16];
	uint32_t page = page_size(req->page_size);
	const char *argv[] = {req->username, cursor, count};
	store_op *op;

	snprintf(cursor, sizeof(cursor), "%llu", (unsigned long long)req->cursor);
	snprintf(count, sizeof(count), "%u", page + 1);
	if ((op = op_new(OP_INBOX, STORE_SCRIPT_INBOX, 3, argv, NULL, cb, arg)) != NULL)
		op->page = page;
	op_submit(st, op);
}

static void
leaderboard(store *st, op_kind kind, const char *key, uint32_t limit, store_cb cb, void *arg)
{
	char stop[16];
	const char *argv[] = {"ZRANGE", key, "0", stop, "WITHSCORES"};

	snprintf(stop, sizeof(stop), "%u", page_size(limit) - 1);
	op_submit(st, op_new(kind, -1, 5, argv, NULL, cb, arg));
}

void
store_get_spammer_stats(store *st, uint32_t limit, store_cb cb, void *arg)
{
	leaderboard(st, OP_SPAMMERS, "pigeon:spammers", limit, cb, arg);
}

void
store_get_chatter_stats(store *st, uint32_t limit, store_cb cb, void *arg)
{
	leaderboard(st, OP_CHATTERS, "pigeon:chatters", limit, cb, arg);
}

void
store_list_online_users(
    store *st, const Pigeon__V1__ListOnlineUsersRequest *req, store_cb cb, void *arg)
{
	uint32_t page = page_size(req->page_size);
	char start[PIGEON_USERNAME_MAX * 4 + 2], count[16];
	const char *argv[] = {"ZRANGEBYLEX", "pigeon:online", start, "+", "LIMIT", "0", count};
	store_op *op;

	/* The cursor is the last name of the previous page: start after it. */
	if (req->cursor != NULL && req->cursor[0] != '\0')
		snprintf(start, sizeof(start), "(%s", req->cursor);
	else
		snprintf(start, sizeof(start), "-");
	snprintf(count, sizeof(count), "%u", page + 1);
	if ((op = op_new(OP_ONLINE, -1, 7, argv, NULL, cb, arg)) != NULL)
		op->page = page;
	op_submit(st, op);
}

/* Two plain commands, no script: XRANGE or XREVRANGE of the page, then GET
 * of the last sequence.  (A script turning the stream's entries into Lua
 * tables and back spent five times the range's own time in Redis.) */
void
store_get_event_journal(
    store *st, const Pigeon__V1__GetEventJournalRequest *req, store_cb cb, void *arg)
{
	uint32_t page = page_size(req->page_size);
	char from[32], count[16];
	const char *argv[] = {"XREVRANGE", "pigeon:journal", "+", "-", "COUNT", count};
	store_op *op;

	snprintf(count, sizeof(count), "%u", page + 1);
	if (req->after != 0) {
		snprintf(from, sizeof(from), "%llu-0", (unsigned long long)req->after + 1);
		argv[0] = "XRANGE";
		argv[2] = from;
		argv[3] = "+";
	} else if (req->cursor != 0) {
		snprintf(from, sizeof(from), "%llu-0", (unsigned long long)req->cursor - 1);
		argv[2] = from;
	}
	if ((op = op_new(OP_JOURNAL, -1, 6, argv, NULL, cb, arg)) != NULL) {
		op->page = page;
		op->then_get = "pigeon:journal:seq";
	}
	op_submit(st, op);
}

void
store_register_user(
    store *st, const Pigeon__V1__RegisterUserRequest *req, store_cb cb, void *arg)
{
	const char *argv[] = {req->username,
	    names_role(req->role == PIGEON__V1__ROLE__ROLE_ADMIN ? PIGEON__V1__ROLE__ROLE_ADMIN
								 : PIGEON__V1__ROLE__ROLE_REGULAR)};

	op_submit(st, op_new(OP_REGISTER, STORE_SCRIPT_REGISTER, 2, argv, NULL, cb, arg));
}

void
store_health(store *st, store_cb cb, void *arg)
{
	char live[24], now[24];
	const char *argv[] = {live, now};

	snprintf(live, sizeof(live), "%d", STORE_CONSUMER_LIVE_MS);
	snprintf(now, sizeof(now), "%" PRId64, clocks_wall_ms());
	op_submit(st, op_new(OP_HEALTH, STORE_SCRIPT_HEALTH, 2, argv, NULL, cb, arg));
}
