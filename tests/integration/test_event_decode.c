/* SPDX-License-Identifier: MIT */
/*
 * One event, decoded twice by the store, against a real redis-server: as the
 * subscriber (store_sub) receives it over pub/sub and as
 * store_get_event_journal reads it back from the journal.  Every journaled
 * type is produced (LOGIN, LOGOUT, SPAM, WOULD_BE_SPAM, DEAD_LETTER) through
 * the store and the worker's queue calls, and each must pack to the same
 * bytes both ways; the events that are not journaled must reach their own
 * topics.
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

#include "harness.h"
#include "queue.h"
#include "store.h"
#include "sub.h"

#define DEADLINE_MS 10000
#define T_MAX_EVENTS 32

static t_redis redis;
static const char *users_file;

/* ---- the subscriber's events, packed ---- */

typedef struct t_packed {
	char topic[96];
	uint64_t sequence;
	Pigeon__V1__EventType type;
	uint8_t buf[1024];
	size_t len;
} t_packed;

typedef struct t_events {
	pthread_mutex_t mu;
	int connects;
	t_packed ev[T_MAX_EVENTS];
	int n;
} t_events;

static t_events events = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void
t_on_event(void *arg, const char *topic, const Pigeon__V1__Event *ev)
{
	t_events *e = arg;
	t_packed *p;

	pthread_mutex_lock(&e->mu);
	if (e->n < T_MAX_EVENTS) {
		p = &e->ev[e->n++];
		snprintf(p->topic, sizeof(p->topic), "%s", topic);
		p->sequence = ev->sequence;
		p->type = ev->type;
		p->len = pigeon__v1__event__get_packed_size(ev);
		if (p->len <= sizeof(p->buf))
			pigeon__v1__event__pack(ev, p->buf);
	}
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

static bool
t_subscribed(void *arg)
{
	t_events *e = arg;
	bool up;

	pthread_mutex_lock(&e->mu);
	up = e->connects > 0;
	pthread_mutex_unlock(&e->mu);
	return up;
}

typedef struct t_count {
	t_events *e;
	int want;
} t_count;

static bool
t_received(void *arg)
{
	t_count *c = arg;
	bool got;

	pthread_mutex_lock(&c->e->mu);
	got = c->e->n >= c->want;
	pthread_mutex_unlock(&c->e->mu);
	return got;
}

/* ---- calling the store synchronously ---- */

typedef struct t_result {
	pthread_mutex_t mu;
	bool done;
	pigeon_status st;
	const ProtobufCMessageDescriptor *desc;
	uint8_t *buf;
	size_t len;
} t_result;

static void
t_cb(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	t_result *r = arg;

	(void)errmsg;
	pthread_mutex_lock(&r->mu);
	r->st = st;
	if (reply != NULL) {
		r->desc = reply->descriptor;
		r->len = protobuf_c_message_get_packed_size(reply);
		r->buf = malloc(r->len + 1);
		if (r->buf != NULL)
			protobuf_c_message_pack(reply, r->buf);
	}
	r->done = true;
	pthread_mutex_unlock(&r->mu);
}

static bool
t_done(void *arg)
{
	t_result *r = arg;
	bool done;

	pthread_mutex_lock(&r->mu);
	done = r->done;
	pthread_mutex_unlock(&r->mu);
	return done;
}

/* Waits for the callback: OK and the reply of desc, decoded. */
static void *
t_wait(t_result *r, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m;

	assert_true(t_wait_for(t_done, r, DEADLINE_MS));
	assert_int_equal(r->st, PIGEON_OK);
	assert_ptr_equal(r->desc, desc);
	assert_non_null(r->buf);
	m = protobuf_c_message_unpack(desc, NULL, r->len, r->buf);
	assert_non_null(m);
	free(r->buf);
	pthread_mutex_destroy(&r->mu);
	return m;
}

static void
t_login(store *st, const char *u, bool in)
{
	t_result r = {.mu = PTHREAD_MUTEX_INITIALIZER};

	if (in) {
		store_login(st, u, t_cb, &r);
		protobuf_c_message_free_unpacked(t_wait(&r, &pigeon__v1__login_reply__descriptor),
		    NULL);
	} else {
		store_logout(st, u, t_cb, &r);
		protobuf_c_message_free_unpacked(t_wait(&r, &pigeon__v1__logout_reply__descriptor),
		    NULL);
	}
}

static void
t_send(store *st, const char *from, const char *to, const char *content)
{
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	t_result r = {.mu = PTHREAD_MUTEX_INITIALIZER};

	req.sender = (char *)from;
	req.recipient = (char *)to;
	req.content = (char *)content;
	store_send_message(st, &req, t_cb, &r);
	protobuf_c_message_free_unpacked(
	    t_wait(&r, &pigeon__v1__send_message_reply__descriptor), NULL);
}

static Pigeon__V1__GetEventJournalReply *
t_journal(store *st)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	t_result r = {.mu = PTHREAD_MUTEX_INITIALIZER};

	req.page_size = 100;
	store_get_event_journal(st, &req, t_cb, &r);
	return t_wait(&r, &pigeon__v1__get_event_journal_reply__descriptor);
}

/* ---- a worker's part, by hand ---- */

/* Takes the first three queued messages and finishes them with the given
 * verdicts, as a worker would. */
static void
t_finish_three(const store_verdict verdicts[3], const char *const reasons[3])
{
	store_queue *q;
	store_queue_batch b = {0};

	assert_int_equal(store_queue_open(&q, redis.url, "t-worker", 0), PIGEON_OK);
	assert_int_equal(store_queue_take(q, 3, 100, &b), PIGEON_OK);
	assert_int_equal(b.n, 3);
	assert_int_equal(store_queue_claim(q, &b, 0, 0), PIGEON_OK);
	for (size_t i = 0; i < b.n; i++) {
		assert_true(b.entries[i].claimed);
		b.entries[i].verdict = verdicts[i];
		snprintf(b.entries[i].reason, sizeof(b.entries[i].reason), "%s", reasons[i]);
	}
	assert_int_equal(store_queue_finish(q, &b), PIGEON_OK);
	store_queue_batch_fini(&b);
	store_queue_close(q);
}

/* The next queued message is handed out once and never finished; another
 * consumer's reclaim pass, allowing one attempt, dead-letters it. */
static void
t_dead_letter_next(void)
{
	store_queue *held, *reclaimer;
	store_queue_batch b = {0};
	size_t dead = 0;

	assert_int_equal(store_queue_open(&held, redis.url, "t-held", 0), PIGEON_OK);
	assert_int_equal(store_queue_take(held, 1, 100, &b), PIGEON_OK);
	assert_int_equal(b.n, 1);
	store_queue_batch_clear(&b);
	assert_int_equal(store_queue_open(&reclaimer, redis.url, "t-reclaimer", 0), PIGEON_OK);
	assert_int_equal(store_queue_reclaim(reclaimer, 0, 1, 10, &b, &dead), PIGEON_OK);
	assert_int_equal(dead, 1);
	assert_int_equal(b.n, 0);
	store_queue_batch_fini(&b);
	store_queue_close(reclaimer);
	store_queue_close(held);
}

/* ---- the test ---- */

static bool
t_store_up(void *arg)
{
	return store_connected(arg);
}

static void
test_journal_and_pubsub_decode_every_event_to_the_same_bytes(void **state)
{
	static const store_verdict verdicts[3] = {
	    STORE_VERDICT_DELIVER, STORE_VERDICT_SPAM, STORE_VERDICT_WOULD_BE_SPAM};
	static const char *const reasons[3] = {"", "blocklist(buy now)", "rate(31 in 60 s)"};
	static const Pigeon__V1__EventType journaled[] = {
	    PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGIN,
	    PIGEON__V1__EVENT_TYPE__EVENT_TYPE_SPAM,
	    PIGEON__V1__EVENT_TYPE__EVENT_TYPE_WOULD_BE_SPAM,
	    PIGEON__V1__EVENT_TYPE__EVENT_TYPE_DEAD_LETTER,
	    PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGOUT,
	};
	store_opts o = {.url = redis.url, .users_file = users_file};
	Pigeon__V1__GetEventJournalReply *j;
	t_count all = {&events, 0};
	t_packed got[T_MAX_EVENTS];
	store_sub *sub;
	store *st;
	int n, queued = 0, delivered = 0;
	size_t compared = 0;

	assert_int_equal(store_open(&st, &o), PIGEON_OK);
	assert_true(t_wait_for(t_store_up, st, DEADLINE_MS));
	assert_int_equal(store_sub_open(&sub, redis.url, t_on_event, t_on_connect, &events),
	    PIGEON_OK);
	assert_true(t_wait_for(t_subscribed, &events, DEADLINE_MS));

	t_login(st, "Alice", true);
	t_send(st, "Alice", "Ilya", "hello");
	t_send(st, "Ilya", "Alice", "buy now");
	t_send(st, "Alice", "Ilya", "maybe \"this\"");
	t_send(st, "Malory", "Ilya", "poison");
	t_finish_three(verdicts, reasons);
	t_dead_letter_next();
	t_login(st, "Alice", false);

	/* 5 journaled, 4 QUEUED, 2 DELIVERED (the delivery and the would-be
	 * spam). */
	all.want = 11;
	assert_true(t_wait_for(t_received, &all, DEADLINE_MS));
	j = t_journal(st);
	assert_int_equal(j->n_events, 5);
	assert_int_equal(j->last_sequence, 5);

	/* Copied out, so that no assertion fails with the lock held. */
	pthread_mutex_lock(&events.mu);
	memcpy(got, events.ev, sizeof(got));
	n = events.n;
	pthread_mutex_unlock(&events.mu);
	assert_int_equal(n, 11);
	for (int i = 0; i < n; i++) {
		const t_packed *p = &got[i];

		if (strcmp(p->topic, PIGEON_TOPIC_QUEUE) == 0) {
			assert_int_equal(p->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_QUEUED);
			queued++;
			continue;
		}
		if (strcmp(p->topic, "inbox/Ilya") == 0) {
			assert_int_equal(p->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_DELIVERED);
			delivered++;
			continue;
		}
		assert_string_equal(p->topic, PIGEON_TOPIC_JOURNAL);
		/* Published in sequence order, the same order as the calls. */
		assert_int_equal(p->sequence, compared + 1);
		assert_int_equal(p->type, journaled[compared]);
		for (size_t k = 0; k < j->n_events; k++) {
			const Pigeon__V1__Event *ev = j->events[k];
			uint8_t buf[1024];

			if (ev->sequence != p->sequence)
				continue;
			assert_int_equal(pigeon__v1__event__get_packed_size(ev), p->len);
			assert_true(p->len <= sizeof(buf));
			pigeon__v1__event__pack(ev, buf);
			assert_memory_equal(buf, p->buf, p->len);
			compared++;
		}
		assert_int_equal(compared, p->sequence);
	}
	assert_int_equal(compared, 5);
	assert_int_equal(queued, 4);
	assert_int_equal(delivered, 2);

	pigeon__v1__get_event_journal_reply__free_unpacked(j, NULL);
	store_sub_close(sub);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_and_pubsub_decode_every_event_to_the_same_bytes),
	};
	int rv;

	if ((users_file = getenv("PIGEON_TEST_USERS_FILE")) == NULL) {
		fprintf(stderr, "PIGEON_TEST_USERS_FILE not set\n");
		return 1;
	}
	t_redis_start(&redis, false);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	t_redis_fini(&redis);
	return rv;
}
