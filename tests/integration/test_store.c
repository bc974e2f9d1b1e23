/* SPDX-License-Identifier: MIT */
/*
 * The store, the queue and the worker pool against a real redis-server: codes
 * and messages, the message life cycle with exact counters, paging, one
 * EVALSHA per state change, reclaiming a dead worker's messages, dead
 * letters, pub/sub events and reconnecting after Redis restarts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "queue.h"
#include "store.h"
#include "sub.h"
#include "t_hiredis.h"
#include "worker.h"

#define DEADLINE_MS 10000

/* Redis only: the tests drive the store modules in this process. */
static t_env env;
static const char *users_file;

/* ---- calling the asynchronous store synchronously ---- */

typedef struct t_result {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	pigeon_status st;
	char msg[256];
	const ProtobufCMessageDescriptor *desc;
	uint8_t *buf;
	size_t len;
} t_result;

static void
t_cb(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	t_result *r = arg;

	pthread_mutex_lock(&r->mu);
	assert_false(r->done);
	r->st = st;
	snprintf(r->msg, sizeof(r->msg), "%s", errmsg != NULL ? errmsg : "");
	if (reply != NULL) {
		r->desc = reply->descriptor;
		r->len = protobuf_c_message_get_packed_size(reply);
		r->buf = malloc(r->len + 1);
		assert_non_null(r->buf);
		protobuf_c_message_pack(reply, r->buf);
	}
	r->done = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void
t_result_init(t_result *r)
{
	memset(r, 0, sizeof(*r));
	t_cond_init(&r->mu, &r->cv);
}

/* Waits for the callback; on OK *out (if not NULL) is the decoded reply. */
static pigeon_status
t_wait(t_result *r, void *out, char *msg)
{
	int64_t deadline = t_now_ms() + DEADLINE_MS;
	pigeon_status st;

	pthread_mutex_lock(&r->mu);
	while (!r->done)
		assert_true(t_cond_wait(&r->cv, &r->mu, deadline));
	pthread_mutex_unlock(&r->mu);
	st = r->st;
	if (msg != NULL)
		strcpy(msg, r->msg);
	if (out != NULL) {
		*(ProtobufCMessage **)out = NULL;
		if (r->buf != NULL) {
			*(ProtobufCMessage **)out =
			    protobuf_c_message_unpack(r->desc, NULL, r->len, r->buf);
			assert_non_null(*(ProtobufCMessage **)out);
		}
	}
	free(r->buf);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	return st;
}

static void
t_free(void *m)
{
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
}

#define T_CALL(call, out, msg)                                                                 \
	__extension__({                                                                        \
		t_result r_;                                                                   \
		t_result_init(&r_);                                                            \
		call(&r_);                                                                     \
		t_wait(&r_, out, msg);                                                         \
	})

static bool
t_store_up(void *arg)
{
	return store_connected(arg);
}

static store *
t_store(void)
{
	store_opts o = {.url = env.redis.url, .users_file = users_file};
	store *st;

	assert_int_equal(store_open(&st, &o), PIGEON_OK);
	assert_true(t_wait_for(t_store_up, st, DEADLINE_MS));
	return st;
}

static pigeon_status
t_login(store *st, const char *u, char *msg)
{
#define C(r) store_login(st, u, t_cb, r)
	return T_CALL(C, NULL, msg);
#undef C
}

static pigeon_status
t_logout(store *st, const char *u, char *msg)
{
#define C(r) store_logout(st, u, t_cb, r)
	return T_CALL(C, NULL, msg);
#undef C
}

static uint64_t
t_send(store *st, const char *s, const char *to, const char *content, const char *key,
    bool *duplicate)
{
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	Pigeon__V1__SendMessageReply *rep;
	uint64_t id;

	req.sender = (char *)s;
	req.recipient = (char *)to;
	req.content = (char *)content;
	if (key != NULL)
		req.idempotency_key = (char *)key;
#define C(r) store_send_message(st, &req, t_cb, r)
	assert_int_equal(T_CALL(C, &rep, NULL), PIGEON_OK);
#undef C
	assert_string_equal(rep->message->sender, s);
	assert_string_equal(rep->message->recipient, to);
	assert_string_equal(rep->message->content, content);
	id = rep->message->id;
	if (duplicate != NULL)
		*duplicate = rep->duplicate;
	else
		assert_int_equal(rep->message->state,
		    PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_ENQUEUED);
	t_free(rep);
	return id;
}

static Pigeon__V1__UserStats *
t_stats(store *st, const char *u)
{
	Pigeon__V1__UserStats *us;

#define C(r) store_get_user_stats(st, u, t_cb, r)
	assert_int_equal(T_CALL(C, &us, NULL), PIGEON_OK);
#undef C
	return us;
}

static void
assert_stats(store *st, const char *u, uint64_t enq, uint64_t checking, uint64_t delivered,
    uint64_t spam)
{
	Pigeon__V1__UserStats *us = t_stats(st, u);

	assert_string_equal(us->username, u);
	assert_int_equal(us->enqueued, enq);
	assert_int_equal(us->being_spam_checked, checking);
	assert_int_equal(us->delivered, delivered);
	assert_int_equal(us->marked_as_spam, spam);
	t_free(us);
}

static Pigeon__V1__GetEventJournalReply *
t_journal(store *st, uint32_t page, uint64_t cursor, uint64_t after)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;

	req.page_size = page;
	req.cursor = cursor;
	req.after = after;
#define C(r) store_get_event_journal(st, &req, t_cb, r)
	assert_int_equal(T_CALL(C, &rep, NULL), PIGEON_OK);
#undef C
	return rep;
}

static Pigeon__V1__Leaderboard *
t_board(store *st, bool spammers, uint32_t limit)
{
	Pigeon__V1__Leaderboard *lb;

#define C(r)                                                                                   \
	(spammers ? store_get_spammer_stats(st, limit, t_cb, r)                                \
		  : store_get_chatter_stats(st, limit, t_cb, r))
	assert_int_equal(T_CALL(C, &lb, NULL), PIGEON_OK);
#undef C
	return lb;
}

static Pigeon__V1__HealthReply *
t_health(store *st)
{
	Pigeon__V1__HealthReply *h;

#define C(r) store_health(st, t_cb, r)
	assert_int_equal(T_CALL(C, &h, NULL), PIGEON_OK);
#undef C
	return h;
}

typedef struct t_hget {
	redisContext *c;
	const char *key;
	const char *field;
	long long want;
} t_hget;

static bool
t_hget_is(void *arg)
{
	t_hget *h = arg;

	return t_redis_int(h->c, "HGET %s %s", h->key, h->field) == h->want;
}

/* Polls until the number at `key` `field` (HGET) reaches want. */
static void
wait_hget(redisContext *c, const char *key, const char *field, long long want)
{
	t_hget h = {c, key, field, want};

	assert_true(t_wait_for(t_hget_is, &h, DEADLINE_MS));
}

/* Runs one batch through the queue API in this thread, as a worker would,
 * delivering everything. */
static void
t_deliver_all(size_t want)
{
	store_queue *q;
	store_queue_batch b = {0};

	assert_int_equal(store_queue_open(&q, env.redis.url, "test-inline", 0), PIGEON_OK);
	assert_int_equal(store_queue_take(q, 1000, 100, &b), PIGEON_OK);
	assert_int_equal(b.n, want);
	assert_int_equal(store_queue_claim(q, &b, 0, 0), PIGEON_OK);
	for (size_t i = 0; i < b.n; i++) {
		assert_true(b.entries[i].claimed);
		b.entries[i].verdict = STORE_VERDICT_DELIVER;
	}
	assert_int_equal(store_queue_finish(q, &b), PIGEON_OK);
	store_queue_batch_fini(&b);
	store_queue_close(q);
}

/* ---- fixtures ---- */

static redisContext *raw;
/* A test's worker pool: teardown stops it should the test fail while it
 * runs, so that it cannot take the next test's messages. */
static worker_pool *pool;

static int
setup(void **state)
{
	redisReply *r;

	if ((raw = t_redis_connect(&env.redis)) == NULL)
		return -1;
	r = redisCommand(raw, "FLUSHALL");
	freeReplyObject(r);
	r = redisCommand(raw, "CONFIG RESETSTAT");
	freeReplyObject(r);
	*state = t_store();
	return 0;
}

static int
teardown(void **state)
{
	if (pool != NULL) {
		worker_pool_stop(pool);
		pool = NULL;
	}
	store_close(*state);
	/* Back to Redis's default, should a test that lowered it have failed. */
	freeReplyObject(redisCommand(raw, "CONFIG SET maxclients 10000"));
	redisFree(raw);
	raw = NULL;
	return 0;
}

/* ---- tests ---- */

static void
test_login_logout_codes_and_messages(void **state)
{
	store *st = *state;
	char msg[256];

	assert_int_equal(t_login(st, "Alice", msg), PIGEON_OK);
	assert_int_equal(t_login(st, "Alice", msg), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User Alice is already logged in.");
	assert_int_equal(t_login(st, "Bob", msg), PIGEON_NOT_FOUND);
	assert_string_equal(msg, "Couldn't find user with username Bob");
	assert_int_equal(t_logout(st, "Bob", msg), PIGEON_NOT_FOUND);
	assert_string_equal(msg, "Couldn't find user with username Bob");
	assert_int_equal(t_logout(st, "Alice", msg), PIGEON_OK);
	assert_int_equal(t_logout(st, "Alice", msg), PIGEON_FAILED_PRECONDITION);
	assert_string_equal(msg, "User Alice isn't logged in.");

	Pigeon__V1__GetEventJournalReply *j = t_journal(st, 0, 0, 0);
	assert_int_equal(j->n_events, 2);
	assert_int_equal(j->last_sequence, 2);
	assert_int_equal(j->next_cursor, 0);
	assert_string_equal(j->events[0]->text, "LOGOUT: Alice");
	assert_int_equal(j->events[0]->sequence, 2);
	assert_int_equal(j->events[0]->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGOUT);
	assert_string_equal(j->events[0]->username, "Alice");
	assert_string_equal(j->events[1]->text, "LOGIN: Alice");
	assert_int_equal(j->events[1]->sequence, 1);
	t_free(j);
}

static void
test_register_and_online_paging(void **state)
{
	store *st = *state;
	Pigeon__V1__RegisterUserRequest reg = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	Pigeon__V1__RegisterUserReply *rr;
	Pigeon__V1__ListOnlineUsersRequest req = PIGEON__V1__LIST_ONLINE_USERS_REQUEST__INIT;
	Pigeon__V1__ListOnlineUsersReply *on;
	char msg[256];

	reg.username = "Bob";
	reg.role = PIGEON__V1__ROLE__ROLE_ADMIN;
#define C(r) store_register_user(st, &reg, t_cb, r)
	assert_int_equal(T_CALL(C, &rr, NULL), PIGEON_OK);
	assert_string_equal(rr->username, "Bob");
	assert_int_equal(rr->role, PIGEON__V1__ROLE__ROLE_ADMIN);
	t_free(rr);
	assert_int_equal(T_CALL(C, NULL, msg), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User Bob already exists");
#undef C
	reg.username = "Alice";
#define C(r) store_register_user(st, &reg, t_cb, r)
	assert_int_equal(T_CALL(C, NULL, msg), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User Alice already exists");
#undef C

	const char *const who[] = {"flain1", "Ilya", "Bob", "Dizzzmas", "Alice"};
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(t_login(st, who[i], NULL), PIGEON_OK);

	req.page_size = 2;
#define C(r) store_list_online_users(st, &req, t_cb, r)
	assert_int_equal(T_CALL(C, &on, NULL), PIGEON_OK);
	assert_int_equal(on->n_usernames, 2);
	assert_string_equal(on->usernames[0], "Alice");
	assert_string_equal(on->usernames[1], "Bob");
	assert_string_equal(on->next_cursor, "Bob");
	req.cursor = "Bob";
	Pigeon__V1__ListOnlineUsersReply *on2;
	assert_int_equal(T_CALL(C, &on2, NULL), PIGEON_OK);
	assert_int_equal(on2->n_usernames, 2);
	assert_string_equal(on2->usernames[0], "Dizzzmas");
	assert_string_equal(on2->usernames[1], "Ilya");
	assert_string_equal(on2->next_cursor, "Ilya");
	req.cursor = "Ilya";
	Pigeon__V1__ListOnlineUsersReply *on3;
	assert_int_equal(T_CALL(C, &on3, NULL), PIGEON_OK);
	assert_int_equal(on3->n_usernames, 1);
	assert_string_equal(on3->usernames[0], "flain1");
	assert_string_equal(on3->next_cursor, "");
#undef C
	t_free(on);
	t_free(on2);
	t_free(on3);
}

static void
test_send_to_unknown_user_is_not_found(void **state)
{
	store *st = *state;
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	Pigeon__V1__ListInboundMessagesRequest in = PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
	char msg[256];

	req.sender = "Alice";
	req.recipient = "Nobody";
	req.content = "hi";
#define C(r) store_send_message(st, &req, t_cb, r)
	assert_int_equal(T_CALL(C, NULL, msg), PIGEON_NOT_FOUND);
	assert_string_equal(msg, "Couldn't find user with username Nobody");
#undef C
	in.username = "Nobody";
#define C(r) store_list_inbound_messages(st, &in, t_cb, r)
	assert_int_equal(T_CALL(C, NULL, msg), PIGEON_NOT_FOUND);
	assert_string_equal(msg, "Couldn't find user with username Nobody");
#undef C
#define C(r) store_get_user_stats(st, "Nobody", t_cb, r)
	assert_int_equal(T_CALL(C, NULL, msg), PIGEON_NOT_FOUND);
#undef C
	assert_int_equal(t_redis_int(raw, "GET pigeon:msg:seq"), 0);
}

static void
test_send_worker_delivers_and_blocks_with_one_evalsha_per_batch(void **state)
{
	store *st = *state;
	worker_opts wo = {.redis_url = env.redis.url, .consumer_prefix = "t"};

	assert_int_equal(t_send(st, "Alice", "Ilya", "hello Ilya", NULL, NULL), 1);
	assert_int_equal(t_send(st, "Alice", "Ilya", "are you there?", NULL, NULL), 2);
	assert_int_equal(t_send(st, "Alice", "Ilya", "Buy NOW, cheap!", NULL, NULL), 3);
	assert_int_equal(t_send(st, "Ilya", "Alice", "hi Alice", NULL, NULL), 4);
	assert_int_equal(t_redis_calls(raw, "evalsha"), 4);
	assert_int_equal(t_redis_int(raw, "HGET pigeon:stats:Alice sent"), 3);

	assert_int_equal(worker_pool_start(&pool, &wo), PIGEON_OK);
	wait_hget(raw, "pigeon:stats:Alice", "delivered", 2);
	wait_hget(raw, "pigeon:stats:Alice", "marked_as_spam", 1);
	wait_hget(raw, "pigeon:stats:Ilya", "delivered", 1);
	/* One script per send, and the worker's one batch (all four were
	 * queued before it started): one claim and one finish for the four. */
	assert_int_equal(t_redis_calls(raw, "evalsha"), 6);
	assert_int_equal(t_redis_calls(raw, "xack"), 1);
	assert_int_equal(t_redis_calls(raw, "eval"), 0);

	assert_stats(st, "Alice", 0, 0, 2, 1);
	assert_stats(st, "Ilya", 0, 0, 1, 0);

	Pigeon__V1__ListInboundMessagesRequest in = PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
	Pigeon__V1__ListInboundMessagesReply *ib;
	in.username = "Ilya";
#define C(r) store_list_inbound_messages(st, &in, t_cb, r)
	assert_int_equal(T_CALL(C, &ib, NULL), PIGEON_OK);
#undef C
	assert_int_equal(ib->n_messages, 2);
	assert_int_equal(ib->messages[0]->id, 1);
	assert_string_equal(ib->messages[0]->content, "hello Ilya");
	assert_string_equal(ib->messages[0]->sender, "Alice");
	assert_int_equal(ib->messages[0]->state, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_DELIVERED);
	assert_int_equal(ib->messages[1]->id, 2);
	assert_int_equal(ib->next_cursor, 0);
	t_free(ib);

	Pigeon__V1__GetEventJournalReply *j = t_journal(st, 0, 0, 0);
	assert_int_equal(j->n_events, 1);
	assert_string_equal(j->events[0]->text, "SPAM: message with id 3 by Alice");
	assert_int_equal(j->events[0]->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_SPAM);
	assert_int_equal(j->events[0]->message_id, 3);
	assert_string_equal(j->events[0]->recipient, "Ilya");
	assert_string_equal(j->events[0]->reason, "blocklist(buy now)");
	t_free(j);

	Pigeon__V1__Leaderboard *sp = t_board(st, true, 0), *ch = t_board(st, false, 0);
	assert_int_equal(sp->n_entries, 1);
	assert_string_equal(sp->entries[0]->username, "Alice");
	assert_int_equal(sp->entries[0]->count, 1);
	assert_int_equal(ch->n_entries, 2);
	assert_string_equal(ch->entries[0]->username, "Alice");
	assert_int_equal(ch->entries[0]->count, 2);
	assert_string_equal(ch->entries[1]->username, "Ilya");
	assert_int_equal(ch->entries[1]->count, 1);
	t_free(sp);
	t_free(ch);

	Pigeon__V1__HealthReply *h = t_health(st);
	assert_int_equal(h->status, PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING);
	assert_int_equal(h->queue_depth, 0);
	assert_int_equal(h->queue_pending, 0);
	assert_int_equal(h->dead_letters, 0);
	assert_int_equal(h->workers, 1);
	t_free(h);
	worker_pool_stop(pool);
	pool = NULL;
}

static void
test_idempotency_key_returns_first_message(void **state)
{
	store *st = *state;
	bool dup;

	assert_int_equal(t_send(st, "Alice", "Ilya", "once", "k-1", &dup), 1);
	assert_false(dup);
	assert_int_equal(t_send(st, "Alice", "Ilya", "once", "k-1", &dup), 1);
	assert_true(dup);
	assert_int_equal(t_send(st, "Ilya", "Alice", "mine", "k-1", &dup), 2);
	assert_false(dup);
	assert_int_equal(t_send(st, "Alice", "Ilya", "twice", "k-2", &dup), 3);
	assert_false(dup);
	assert_int_equal(t_redis_int(raw, "XLEN pigeon:queue"), 3);
	assert_stats(st, "Alice", 2, 0, 0, 0);
	long long ttl = t_redis_int(raw, "TTL pigeon:idem:5:Alice:k-1");
	assert_true(ttl > 86000 && ttl <= 86400);

	/* "a:b" with key "c" and "a" with key "b:c" are different pairs. */
	Pigeon__V1__RegisterUserRequest reg = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	const char *const names[] = {"a:b", "a"};
	for (size_t i = 0; i < 2; i++) {
		reg.username = (char *)names[i];
#define C(r) store_register_user(st, &reg, t_cb, r)
		assert_int_equal(T_CALL(C, NULL, NULL), PIGEON_OK);
#undef C
	}
	assert_int_equal(t_send(st, "a:b", "Ilya", "from a:b", "c", &dup), 4);
	assert_false(dup);
	assert_int_equal(t_send(st, "a", "Ilya", "from a", "b:c", &dup), 5);
	assert_false(dup);
	assert_int_equal(t_send(st, "a", "Ilya", "from a", "b:c", &dup), 5);
	assert_true(dup);
}

static void
test_inbox_and_journal_paging(void **state)
{
	store *st = *state;
	Pigeon__V1__ListInboundMessagesRequest in = PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
	Pigeon__V1__ListInboundMessagesReply *p1, *p2, *p3;
	char text[32];

	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof(text), "note %d", i);
		assert_int_equal(t_send(st, "flain1", "Ilya", text, NULL, NULL), (uint64_t)i);
	}
	t_deliver_all(5);
	in.username = "Ilya";
	in.page_size = 2;
#define C(r) store_list_inbound_messages(st, &in, t_cb, r)
	assert_int_equal(T_CALL(C, &p1, NULL), PIGEON_OK);
	assert_int_equal(p1->n_messages, 2);
	assert_int_equal(p1->messages[0]->id, 1);
	assert_string_equal(p1->messages[0]->content, "note 1");
	assert_int_equal(p1->messages[1]->id, 2);
	assert_int_equal(p1->next_cursor, 2);
	in.cursor = p1->next_cursor;
	assert_int_equal(T_CALL(C, &p2, NULL), PIGEON_OK);
	assert_int_equal(p2->n_messages, 2);
	assert_int_equal(p2->messages[0]->id, 3);
	assert_int_equal(p2->messages[1]->id, 4);
	assert_int_equal(p2->next_cursor, 4);
	in.cursor = p2->next_cursor;
	assert_int_equal(T_CALL(C, &p3, NULL), PIGEON_OK);
	assert_int_equal(p3->n_messages, 1);
	assert_int_equal(p3->messages[0]->id, 5);
	assert_string_equal(p3->messages[0]->content, "note 5");
	assert_int_equal(p3->next_cursor, 0);
#undef C
	t_free(p1);
	t_free(p2);
	t_free(p3);

	/* Five journal events: sequences 1..5. */
	assert_int_equal(t_login(st, "Alice", NULL), PIGEON_OK);
	assert_int_equal(t_logout(st, "Alice", NULL), PIGEON_OK);
	assert_int_equal(t_login(st, "Ilya", NULL), PIGEON_OK);
	assert_int_equal(t_logout(st, "Ilya", NULL), PIGEON_OK);
	assert_int_equal(t_login(st, "Dizzzmas", NULL), PIGEON_OK);

	Pigeon__V1__GetEventJournalReply *j = t_journal(st, 2, 0, 0);
	assert_int_equal(j->n_events, 2);
	assert_int_equal(j->events[0]->sequence, 5);
	assert_string_equal(j->events[0]->text, "LOGIN: Dizzzmas");
	assert_int_equal(j->events[1]->sequence, 4);
	assert_int_equal(j->next_cursor, 4);
	assert_int_equal(j->last_sequence, 5);
	t_free(j);
	j = t_journal(st, 2, 4, 0);
	assert_int_equal(j->n_events, 2);
	assert_int_equal(j->events[0]->sequence, 3);
	assert_int_equal(j->events[1]->sequence, 2);
	assert_int_equal(j->next_cursor, 2);
	t_free(j);
	j = t_journal(st, 2, 2, 0);
	assert_int_equal(j->n_events, 1);
	assert_int_equal(j->events[0]->sequence, 1);
	assert_string_equal(j->events[0]->text, "LOGIN: Alice");
	assert_int_equal(j->next_cursor, 0);
	t_free(j);

	/* Catch-up: oldest first after a sequence. */
	j = t_journal(st, 2, 0, 2);
	assert_int_equal(j->n_events, 2);
	assert_int_equal(j->events[0]->sequence, 3);
	assert_string_equal(j->events[0]->text, "LOGIN: Ilya");
	assert_int_equal(j->events[1]->sequence, 4);
	assert_int_equal(j->next_cursor, 4);
	assert_int_equal(j->last_sequence, 5);
	t_free(j);
	j = t_journal(st, 2, 0, 4);
	assert_int_equal(j->n_events, 1);
	assert_int_equal(j->events[0]->sequence, 5);
	assert_int_equal(j->next_cursor, 0);
	t_free(j);
	j = t_journal(st, 0, 0, 5);
	assert_int_equal(j->n_events, 0);
	assert_int_equal(j->next_cursor, 0);
	assert_int_equal(j->last_sequence, 5);
	t_free(j);
}

static void
test_leaderboard_ties_by_name(void **state)
{
	store *st = *state;

	t_send(st, "flain1", "Alice", "a", NULL, NULL);
	t_send(st, "Ilya", "Alice", "b", NULL, NULL);
	t_send(st, "Ilya", "Alice", "c", NULL, NULL);
	t_send(st, "Dizzzmas", "Alice", "d", NULL, NULL);
	t_send(st, "Alice", "Ilya", "e", NULL, NULL);
	t_deliver_all(5);

	Pigeon__V1__Leaderboard *lb = t_board(st, false, 0);
	assert_int_equal(lb->n_entries, 4);
	assert_string_equal(lb->entries[0]->username, "Ilya");
	assert_int_equal(lb->entries[0]->count, 2);
	/* Equal counts: bytewise by name, so upper case sorts first. */
	assert_string_equal(lb->entries[1]->username, "Alice");
	assert_string_equal(lb->entries[2]->username, "Dizzzmas");
	assert_string_equal(lb->entries[3]->username, "flain1");
	assert_int_equal(lb->entries[3]->count, 1);
	t_free(lb);
	lb = t_board(st, false, 2);
	assert_int_equal(lb->n_entries, 2);
	assert_string_equal(lb->entries[1]->username, "Alice");
	t_free(lb);
	lb = t_board(st, true, 0);
	assert_int_equal(lb->n_entries, 0);
	t_free(lb);
}

static void
test_dead_worker_messages_are_reclaimed_exactly_once(void **state)
{
	store *st = *state;
	store_queue *dead;
	store_queue_batch b = {0};
	worker_opts wo = {.redis_url = env.redis.url, .reclaim_idle_ms = 100, .consumer_prefix = "t"};
	char text[32];

	for (int i = 1; i <= 10; i++) {
		snprintf(text, sizeof(text), "%s %d", i % 3 == 0 ? "buy now" : "hello", i);
		t_send(st, "Alice", "Ilya", text, NULL, NULL);
	}
	/* A worker takes all ten, starts checking six, then dies. */
	assert_int_equal(store_queue_open(&dead, env.redis.url, "dead", 0), PIGEON_OK);
	assert_int_equal(store_queue_take(dead, 10, 100, &b), PIGEON_OK);
	assert_int_equal(b.n, 10);
	b.n = 6;
	assert_int_equal(store_queue_claim(dead, &b, 0, 0), PIGEON_OK);
	b.n = 10;
	store_queue_batch_fini(&b);
	store_queue_close(dead);
	assert_stats(st, "Alice", 4, 6, 0, 0);

	/* Three of them are spam (3, 6, 9); a new message also flows. */
	assert_int_equal(worker_pool_start(&pool, &wo), PIGEON_OK);
	t_send(st, "Alice", "Ilya", "hello 11", NULL, NULL);
	wait_hget(raw, "pigeon:stats:Alice", "delivered", 8);
	wait_hget(raw, "pigeon:stats:Alice", "marked_as_spam", 3);
	worker_pool_stop(pool);
	pool = NULL;

	assert_stats(st, "Alice", 0, 0, 8, 3);
	for (int i = 1; i <= 11; i++) {
		redisReply *r = redisCommand(raw, "HGET pigeon:msg:%d state", i);
		assert_non_null(r);
		assert_string_equal(r->str, i % 3 == 0 && i != 12 ? "marked_as_spam" : "delivered");
		freeReplyObject(r);
	}
	assert_int_equal(t_redis_int(raw, "ZCARD pigeon:inbox:Ilya"), 8);
	assert_int_equal(t_redis_int(raw, "ZSCORE pigeon:chatters Alice"), -8);
	assert_int_equal(t_redis_int(raw, "ZSCORE pigeon:spammers Alice"), -3);
	assert_int_equal(t_redis_int(raw, "GET pigeon:journal:seq"), 3);
	Pigeon__V1__HealthReply *h = t_health(st);
	assert_int_equal(h->queue_depth, 0);
	assert_int_equal(h->queue_pending, 0);
	assert_int_equal(h->workers, 2);
	t_free(h);
}

static bool
t_one_dead_letter(void *arg)
{
	return t_redis_int(raw, "XLEN pigeon:deadletter") == 1;
}

/* Runs a worker pool that takes over entries idle for 50 ms and
 * dead-letters what was handed out once, until one message is in the
 * dead-letter stream. */
static void
t_dead_letter_one(void)
{
	worker_opts wo = {.redis_url = env.redis.url, .reclaim_idle_ms = 50, .max_attempts = 1,
	    .consumer_prefix = "t"};

	assert_int_equal(worker_pool_start(&pool, &wo), PIGEON_OK);
	assert_true(t_wait_for(t_one_dead_letter, NULL, DEADLINE_MS));
	worker_pool_stop(pool);
	pool = NULL;
}

static void
test_message_handed_out_too_often_is_dead_lettered(void **state)
{
	store *st = *state;
	store_queue *dead;
	store_queue_batch b = {0};

	t_send(st, "Malory", "Ilya", "poison", NULL, NULL);
	assert_int_equal(store_queue_open(&dead, env.redis.url, "dead", 0), PIGEON_OK);
	assert_int_equal(store_queue_take(dead, 10, 100, &b), PIGEON_OK);
	assert_int_equal(b.n, 1);
	store_queue_batch_fini(&b);
	store_queue_close(dead);

	t_dead_letter_one();

	Pigeon__V1__GetEventJournalReply *j = t_journal(st, 0, 0, 0);
	assert_int_equal(j->n_events, 1);
	assert_string_equal(j->events[0]->text, "DEAD_LETTER: message with id 1 by Malory");
	assert_int_equal(j->events[0]->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_DEAD_LETTER);
	assert_string_equal(j->events[0]->reason, "too many delivery attempts");
	t_free(j);
	assert_stats(st, "Malory", 0, 0, 0, 0);
	assert_int_equal(t_redis_int(raw, "HGET pigeon:stats:Malory dead_letter"), 1);
	Pigeon__V1__HealthReply *h = t_health(st);
	assert_int_equal(h->dead_letters, 1);
	assert_int_equal(h->queue_depth, 0);
	assert_int_equal(h->queue_pending, 0);
	t_free(h);
}

static bool
t_entry_idle_50ms(void *arg)
{
	redisReply *r = redisCommand(raw, "XPENDING pigeon:queue workers IDLE 50 - + 10");
	bool idle;

	assert_non_null(r);
	idle = r->type == REDIS_REPLY_ARRAY && r->elements == 1;
	freeReplyObject(r);
	return idle;
}

/* Once the entry has been idle for 50 ms, reclaims it under max_attempts;
 * returns how many were dead-lettered. */
static size_t
t_reclaim_when_idle(store_queue *q, uint32_t max_attempts, store_queue_batch *b)
{
	size_t dead = 99;

	store_queue_batch_clear(b);
	assert_true(t_wait_for(t_entry_idle_50ms, NULL, DEADLINE_MS));
	assert_int_equal(store_queue_reclaim(q, 50, max_attempts, 10, b, &dead), PIGEON_OK);
	return dead;
}

/* Reclaiming reads each entry's count after claiming it, so an entry past
 * max_attempts is never handed out again, however close to idle_ms it was:
 * handed out twice, it is handed out a third time under a limit of 3 and
 * dead-lettered under a limit of 2, with its two earlier hand-outs
 * recorded. */
static void
test_reclaim_counts_each_hand_out(void **state)
{
	store *st = *state;
	store_queue *q;
	store_queue_batch b = {0};

	t_send(st, "Malory", "Ilya", "poison", NULL, NULL);
	assert_int_equal(store_queue_open(&q, env.redis.url, "w", 0), PIGEON_OK);
	assert_int_equal(store_queue_take(q, 10, 100, &b), PIGEON_OK);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.entries[0].deliveries, 1);
	assert_int_equal(t_reclaim_when_idle(q, 3, &b), 0);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.entries[0].message_id, 1);
	assert_int_equal(b.entries[0].deliveries, 2);
	assert_int_equal(t_reclaim_when_idle(q, 2, &b), 1);
	assert_int_equal(b.n, 0);
	store_queue_batch_fini(&b);
	store_queue_close(q);
	assert_int_equal(t_redis_int(raw, "XLEN pigeon:deadletter"), 1);
	redisReply *r = redisCommand(raw, "XRANGE pigeon:deadletter - +");
	assert_non_null(r);
	assert_int_equal(r->elements, 1);
	const redisReply *f = r->element[0]->element[1];
	const char *deliveries = NULL;
	for (size_t i = 0; i + 1 < f->elements; i += 2)
		if (strcmp(f->element[i]->str, "deliveries") == 0)
			deliveries = f->element[i + 1]->str;
	assert_non_null(deliveries);
	assert_string_equal(deliveries, "2");
	freeReplyObject(r);
	assert_int_equal(t_redis_int(raw, "HGET pigeon:stats:Malory dead_letter"), 1);
	Pigeon__V1__HealthReply *h = t_health(st);
	assert_int_equal(h->queue_pending, 0);
	assert_int_equal(h->dead_letters, 1);
	t_free(h);
}

/* One claim and one finish script serve a whole batch: a message whose key
 * is not a hash (corrupted) fails alone.  The others of its batch are
 * delivered and acknowledged; its entry stays pending until it is
 * dead-lettered. */
static void
test_unreadable_message_in_a_batch_holds_back_only_itself(void **state)
{
	store *st = *state;
	store_queue *q;
	store_queue_batch b = {0};

	assert_int_equal(t_send(st, "Alice", "Ilya", "one", NULL, NULL), 1);
	assert_int_equal(t_send(st, "Alice", "Ilya", "two", NULL, NULL), 2);
	assert_int_equal(t_send(st, "Alice", "Ilya", "three", NULL, NULL), 3);
	freeReplyObject(redisCommand(raw, "SET pigeon:msg:2 poison"));
	freeReplyObject(redisCommand(raw, "CONFIG RESETSTAT"));

	assert_int_equal(store_queue_open(&q, env.redis.url, "w", 0), PIGEON_OK);
	assert_int_equal(store_queue_take(q, 10, 100, &b), PIGEON_OK);
	assert_int_equal(b.n, 3);
	assert_int_equal(store_queue_claim(q, &b, 60, 300), PIGEON_OK);
	assert_true(b.entries[0].claimed);
	assert_false(b.entries[1].claimed);
	assert_true(b.entries[2].claimed);
	/* Alice's first and third message, counted in her rate window. */
	assert_int_equal(b.entries[0].sent_in_window, 1);
	assert_int_equal(b.entries[2].sent_in_window, 2);
	assert_int_equal(b.entries[2].flood_recipients, 1);
	for (size_t i = 0; i < b.n; i++)
		b.entries[i].verdict = STORE_VERDICT_DELIVER;
	assert_int_equal(store_queue_finish(q, &b), PIGEON_OK);
	store_queue_batch_fini(&b);
	store_queue_close(q);
	assert_int_equal(t_redis_calls(raw, "evalsha"), 2);

	assert_stats(st, "Alice", 1, 0, 2, 0);
	assert_int_equal(t_redis_int(raw, "ZCARD pigeon:inbox:Ilya"), 2);
	assert_int_equal(t_redis_int(raw, "ZSCORE pigeon:chatters Alice"), -2);
	Pigeon__V1__HealthReply *h = t_health(st);
	assert_int_equal(h->queue_depth, 0);
	assert_int_equal(h->queue_pending, 1);
	t_free(h);

	t_dead_letter_one();
	h = t_health(st);
	assert_int_equal(h->queue_pending, 0);
	assert_int_equal(h->dead_letters, 1);
	t_free(h);
	Pigeon__V1__GetEventJournalReply *j = t_journal(st, 0, 0, 0);
	assert_int_equal(j->n_events, 1);
	assert_string_equal(j->events[0]->text, "DEAD_LETTER: message with id 2 by Alice");
	t_free(j);
}

static void
test_flushed_scripts_are_loaded_again(void **state)
{
	store *st = *state;
	redisReply *r = redisCommand(raw, "SCRIPT FLUSH");

	freeReplyObject(r);
	assert_int_equal(t_login(st, "Ilya", NULL), PIGEON_OK);
	assert_int_equal(t_redis_int(raw, "ZSCORE pigeon:online Ilya"), 0);
	assert_int_equal(t_redis_int(raw, "GET pigeon:journal:seq"), 1);
}

/* ---- pub/sub ---- */

typedef struct t_events {
	pthread_mutex_t mu;
	int connects;
	char last[8][512];
	int n;
} t_events;

static void
t_on_event(void *arg, const char *topic, const Pigeon__V1__Event *ev)
{
	t_events *e = arg;

	pthread_mutex_lock(&e->mu);
	if (e->n < 8)
		snprintf(e->last[e->n++], sizeof(e->last[0]),
		    "%s seq=%llu type=%d time_ms=%lld username=%s recipient=%s message_id=%llu "
		    "text=%s content=%s",
		    topic, (unsigned long long)ev->sequence, (int)ev->type, (long long)ev->time_ms,
		    ev->username, ev->recipient, (unsigned long long)ev->message_id, ev->text,
		    ev->content);
	pthread_mutex_unlock(&e->mu);
}

static void
t_on_connect(void *arg)
{
	t_events *e = arg;

	pthread_mutex_lock(&e->mu);
	e->connects++;
	pthread_mutex_unlock(&e->mu);
}

static int
t_events_get(t_events *e, int *n)
{
	int c;

	pthread_mutex_lock(&e->mu);
	c = e->connects;
	*n = e->n;
	pthread_mutex_unlock(&e->mu);
	return c;
}

typedef struct t_events_want {
	t_events *e;
	int connects;
	int n;
} t_events_want;

static bool
t_events_reached(void *arg)
{
	t_events_want *w = arg;
	int got;

	return t_events_get(w->e, &got) >= w->connects && got >= w->n;
}

static void
wait_events(t_events *e, int connects, int n)
{
	t_events_want w = {e, connects, n};

	assert_true(t_wait_for(t_events_reached, &w, DEADLINE_MS));
}

static void
test_subscriber_gets_events_and_resubscribes(void **state)
{
	store *st = *state;
	t_events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
	store_sub *sub;

	assert_int_equal(store_sub_open(&sub, env.redis.url, t_on_event, t_on_connect, &ev), PIGEON_OK);
	wait_events(&ev, 1, 0);
	assert_int_equal(t_login(st, "Alice", NULL), PIGEON_OK);
	t_send(st, "Alice", "Ilya", "hi \"there\"", NULL, NULL);
	t_deliver_all(1);
	wait_events(&ev, 1, 3);
	assert_non_null(strstr(ev.last[0], "event_journal seq=1 type=1 time_ms="));
	assert_null(strstr(ev.last[0], "time_ms=0 "));
	assert_string_equal(strstr(ev.last[0], " username="),
	    " username=Alice recipient= message_id=0 text=LOGIN: Alice content=");
	assert_non_null(strstr(ev.last[1], "message_queue seq=0 type=6 time_ms="));
	assert_string_equal(strstr(ev.last[1], " username="),
	    " username=Alice recipient=Ilya message_id=1 text= content=");
	assert_non_null(strstr(ev.last[2], "inbox/Ilya seq=0 type=7 time_ms="));
	assert_string_equal(strstr(ev.last[2], " username="),
	    " username=Alice recipient=Ilya message_id=1 text= content=hi \"there\"");

	/* Redis restarts: the subscriber comes back by itself. */
	t_redis_stop(&env.redis, false);
	t_redis_restart(&env.redis);
	wait_events(&ev, 2, 3);
	store_sub_close(sub);
	redisFree(raw);
	raw = t_redis_connect(&env.redis);
}

/* Logs u in and out n times; every call must answer OK. */
static void
assert_login_logout_ok(store *st, const char *u, int n)
{
	char msg[256];

	for (int i = 0; i < n; i++) {
		assert_int_equal(t_login(st, u, msg), PIGEON_OK);
		assert_int_equal(t_logout(st, u, msg), PIGEON_OK);
	}
}

/* Redis restarts while the store's connections sit idle: each finds its
 * socket closed at its next batch and reconnects before sending it, so no
 * call fails. */
static void
test_idle_connections_survive_a_redis_restart(void **state)
{
	store *st = *state;

	assert_login_logout_ok(st, "Alice", 2);
	t_redis_stop(&env.redis, false);
	t_redis_restart(&env.redis);
	assert_login_logout_ok(st, "Alice", 4);
	redisFree(raw);
	raw = t_redis_connect(&env.redis);
}

/* The id of a Redis client other than raw. */
static long long
other_client_id(void)
{
	long long self = t_redis_int(raw, "CLIENT ID"), id = -1;
	redisReply *r = redisCommand(raw, "CLIENT LIST");

	assert_non_null(r);
	for (const char *p = r->str; (p = strstr(p, "id=")) != NULL; p += 3) {
		long long v = strtoll(p + 3, NULL, 10);

		if ((p == r->str || p[-1] == '\n') && v != self) {
			id = v;
			break;
		}
	}
	freeReplyObject(r);
	assert_true(id > 0);
	return id;
}

/* One connection cannot reconnect (Redis refuses clients past maxclients)
 * while the other is up: once the first call has found it down, calls go
 * to the connection that is up, and none fails. */
static void
test_calls_go_to_the_connection_that_is_up(void **state)
{
	store *st = *state;

	assert_login_logout_ok(st, "Alice", 1);
	assert_int_equal(t_redis_int(raw, "CLIENT KILL ID %lld", other_client_id()), 1);
	freeReplyObject(redisCommand(raw, "CONFIG SET maxclients 2"));
	/* The killed connection's next call fails with it; after that it is
	 * known to be down. */
	t_login(st, "Ilya", NULL);
	t_logout(st, "Ilya", NULL);
	t_login(st, "Ilya", NULL);
	t_logout(st, "Ilya", NULL);
	assert_false(store_connected(st));
	assert_login_logout_ok(st, "Alice", 8);
}

static void
test_reconnects_after_redis_restart(void **state)
{
	store *st = *state;
	char msg[256];
	int64_t t0;

	assert_int_equal(t_login(st, "Alice", NULL), PIGEON_OK);
	t_redis_stop(&env.redis, false);

	t0 = t_now_ms();
	assert_int_equal(t_login(st, "Ilya", msg), PIGEON_UNAVAILABLE);
	assert_memory_equal(msg, "redis unavailable: ", 19);
	assert_int_equal(t_login(st, "Ilya", msg), PIGEON_UNAVAILABLE);
	assert_memory_equal(msg, "redis unavailable: ", 19);
	assert_true(t_now_ms() - t0 < 1000);
	assert_false(store_connected(st));
	Pigeon__V1__HealthReply *h = t_health(st);
	assert_int_equal(h->status, PIGEON__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING);
	t_free(h);

	t_redis_restart(&env.redis);
	assert_true(t_wait_for(t_store_up, st, DEADLINE_MS));
	/* A fresh Redis: the users file was loaded again on connect. */
	assert_int_equal(t_login(st, "Alice", NULL), PIGEON_OK);
	h = t_health(st);
	assert_int_equal(h->status, PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING);
	t_free(h);
	redisFree(raw);
	raw = t_redis_connect(&env.redis);
}

static void
test_open_rejects_bad_url_and_missing_users_file(void **state)
{
	store *st = NULL;
	store_opts bad = {.url = "http://x"}, missing = {.url = env.redis.url,
	    .users_file = "no-such-users.conf"};
	store_opts many = {.url = env.redis.url, .connections = STORE_CONNECTIONS_MAX + 1};

	assert_int_equal(store_open(&st, &bad), PIGEON_INVALID_ARGUMENT);
	assert_int_equal(store_open(&st, &missing), PIGEON_NOT_FOUND);
	assert_int_equal(store_open(&st, &many), PIGEON_INVALID_ARGUMENT);
	assert_null(st);
}

/* The clients Redis has now (CLIENT LIST has one line each), or those of
 * them whose last command contains `cmd` ("cmd=evalsha"). */
static int
redis_clients_with(const char *cmd)
{
	redisReply *r = redisCommand(raw, "CLIENT LIST");
	int n = 0;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	for (char *line = r->str, *end; *line != '\0'; line = end + 1) {
		if ((end = strchr(line, '\n')) == NULL)
			break;
		*end = '\0';
		n += cmd == NULL || strstr(line, cmd) != NULL;
	}
	freeReplyObject(r);
	return n;
}

static int
redis_clients(void)
{
	return redis_clients_with(NULL);
}

static bool
t_redis_clients_are(void *arg)
{
	return redis_clients() == *(int *)arg;
}

/* Operations are spread over the connections in turn: a store opened with
 * three connects three clients, each of which then runs scripts, and 60
 * logins in flight at once, twelve of each of five users, each get their
 * own answer: five OK, 55 ALREADY_EXISTS. */
static void
test_operations_spread_over_every_connection(void **state)
{
	store_opts o = {.url = env.redis.url, .users_file = users_file, .connections = 3};
	const char *names[] = {"Alice", "Malory", "Dizzzmas", "Ilya", "flain1"};
	t_result r[60];
	int before = redis_clients(), ok = 0, exists = 0;
	int64_t deadline = t_now_ms() + DEADLINE_MS;
	store *st;

	(void)state;
	assert_int_equal(store_open(&st, &o), PIGEON_OK);
	assert_true(t_wait_for(t_store_up, st, (int)(deadline - t_now_ms())));
	assert_int_equal(redis_clients(), before + 3);
	for (int i = 0; i < 60; i++) {
		t_result_init(&r[i]);
		store_login(st, names[i % 5], t_cb, &r[i]);
	}
	for (int i = 0; i < 60; i++) {
		pigeon_status rv = t_wait(&r[i], NULL, NULL);

		ok += rv == PIGEON_OK;
		exists += rv == PIGEON_ALREADY_EXISTS;
	}
	assert_int_equal(ok, 5);
	assert_int_equal(exists, 55);
	assert_int_equal(t_redis_int(raw, "ZCARD pigeon:online"), 5);
	assert_int_equal(t_redis_int(raw, "GET pigeon:journal:seq"), 5);
	/* The login script was the last command of all three connections (the
	 * fixture's store has run none, this connection CLIENT LIST). */
	assert_int_equal(redis_clients_with(" cmd=evalsha "), 3);
	store_close(st);
	/* Redis drops the closed clients when it next reads their sockets. */
	assert_true(t_wait_for(t_redis_clients_are, &before, (int)(deadline - t_now_ms())));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login_logout_codes_and_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_and_online_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_to_unknown_user_is_not_found, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_send_worker_delivers_and_blocks_with_one_evalsha_per_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotency_key_returns_first_message, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_inbox_and_journal_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leaderboard_ties_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dead_worker_messages_are_reclaimed_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_message_handed_out_too_often_is_dead_lettered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_counts_each_hand_out, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unreadable_message_in_a_batch_holds_back_only_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_operations_spread_over_every_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flushed_scripts_are_loaded_again, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_subscriber_gets_events_and_resubscribes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_connections_survive_a_redis_restart, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_calls_go_to_the_connection_that_is_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnects_after_redis_restart, setup, teardown),
		cmocka_unit_test(test_open_rejects_bad_url_and_missing_users_file),
	};
	int rv;

	if ((users_file = getenv("PIGEON_TEST_USERS_FILE")) == NULL) {
		fprintf(stderr, "PIGEON_TEST_USERS_FILE not set\n");
		return 1;
	}
	t_env_start(&env, &(t_env_opts){.tag = "store", .redis_only = true});
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	t_env_stop(&env);
	return rv;
}
