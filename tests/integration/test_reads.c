/* SPDX-License-Identifier: MIT */
/*
 * Unread counts, read receipts and spam reports against a real pigeond and
 * redis-server:
 * the count after deliveries, MarkRead partial, repeated and lower, read_ms
 * and the unread-only listing, a spam-marked message that is never unread,
 * a READ event on receipts/<sender> for each message read, and reads racing
 * deliveries from ten clients at once, whose totals are recomputed from the
 * stored messages; a recipient's reports both ways with the stats, the
 * leaderboards, the inbox and the journal after each, a repeated report and
 * one by someone else; and a classifier trained by Train catching a
 * message no rule catches.  Waits are conditions polled with deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include <pigeon/pigeon.h>

#include "clocks.h"
#include "harness.h"
#include "t_hiredis.h"
#include "t_rpc.h"

/* Deadlines of waits that must end well before them (valgrind is slow). */
#define WAIT_MS 60000
/* The race: SENDERS clients each send PER_SENDER messages to each of the
 * two readers, whose clients mark read as they go: ten clients in all. */
#define SENDERS 8
#define PER_SENDER 25
#define RACE_MESSAGES (SENDERS * PER_SENDER * 2)
#define IDS_MAX 1024

static t_env env;
static char metrics_listen[64];

static int
group_setup(void **state)
{
	const char *args[] = {"--metrics-listen", metrics_listen, NULL};

	snprintf(metrics_listen, sizeof(metrics_listen), "127.0.0.1:%d", t_free_port());
	t_env_start(&env, &(t_env_opts){.tag = "reads", .pigeond_args = args, .client = true,
			       .client_deadline_ms = 20000});
	return 0;
}

static int
group_teardown(void **state)
{
	return t_env_stop(&env);
}

/* ---- calls ---- */

/* MarkRead of u up to id: its code; on OK the unread count and how many it
 * marked. */
static pigeon_status
mark_read(pigeon_client *c, const char *u, uint64_t up_to, uint64_t *unread, uint64_t *marked)
{
	Pigeon__V1__MarkReadRequest req = PIGEON__V1__MARK_READ_REQUEST__INIT;
	Pigeon__V1__MarkReadReply *rep;
	pigeon_status st;

	req.username = (char *)u;
	req.up_to_id = up_to;
	if ((st = pigeon_mark_read(c, &req, &rep, NULL)) == PIGEON_OK) {
		assert_string_equal(rep->username, u);
		*unread = rep->unread;
		*marked = rep->marked;
		pigeon_reply_free(rep);
	}
	return st;
}

/* u's stats; free with pigeon_reply_free. */
static Pigeon__V1__UserStats *
stats(pigeon_client *c, const char *u)
{
	Pigeon__V1__GetUserStatsRequest req = PIGEON__V1__GET_USER_STATS_REQUEST__INIT;
	Pigeon__V1__UserStats *us;

	req.username = (char *)u;
	assert_int_equal(pigeon_get_user_stats(c, &req, &us, NULL), PIGEON_OK);
	return us;
}

/* Every message of u's inbox (unread_only: the unread ones), page by page
 * of 7: ids and read_ms in order; returns how many. */
static size_t
inbox(pigeon_client *c, const char *u, bool unread_only, uint64_t *ids, int64_t *read_ms)
{
	Pigeon__V1__ListInboundMessagesRequest req =
	    PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
	Pigeon__V1__ListInboundMessagesReply *rep;
	size_t n = 0;

	req.username = (char *)u;
	req.page_size = 7;
	req.unread_only = unread_only;
	do {
		assert_int_equal(pigeon_list_inbound_messages(c, &req, &rep, NULL), PIGEON_OK);
		for (size_t i = 0; i < rep->n_messages; i++) {
			assert_true(n < IDS_MAX);
			assert_string_equal(rep->messages[i]->recipient, u);
			ids[n] = rep->messages[i]->id;
			read_ms[n++] = rep->messages[i]->read_ms;
		}
		req.cursor = rep->next_cursor;
		pigeon_reply_free(rep);
	} while (req.cursor != 0);
	return n;
}

/* True once none of the user's sent messages is waiting for the worker. */
typedef struct settled_of {
	pigeon_client *c;
	const char *const *users;
	size_t n;
} settled_of;

static bool
settled(void *arg)
{
	settled_of *s = arg;

	for (size_t i = 0; i < s->n; i++) {
		Pigeon__V1__UserStats *us = stats(s->c, s->users[i]);
		bool done = us->enqueued == 0 && us->being_spam_checked == 0;

		pigeon_reply_free(us);
		if (!done)
			return false;
	}
	return true;
}

static void
wait_settled(const char *const *users, size_t n)
{
	settled_of s = {env.client, users, n};

	assert_true(t_wait_every(settled, &s, 20, WAIT_MS));
}

/* ---- receipts ---- */

/* The READ events a subscription received: how many per message id. */
typedef struct receipts {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *sender;
	const char *reader;
	size_t total;
	size_t others;
	unsigned per_id[IDS_MAX];
} receipts;

static void
on_receipt(const char *topic, const Pigeon__V1__Event *ev, void *arg)
{
	receipts *r = arg;

	pthread_mutex_lock(&r->mu);
	if (ev->type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_READ && ev->message_id < IDS_MAX &&
	    ev->sequence == 0 && ev->time_ms > 0 && ev->content[0] == '\0' &&
	    (r->sender == NULL || strcmp(ev->username, r->sender) == 0) &&
	    (r->reader == NULL || strcmp(ev->recipient, r->reader) == 0)) {
		r->per_id[ev->message_id]++;
		r->total++;
	} else {
		r->others++;
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Waits until r holds a READ of message id. */
static bool
receipts_has(receipts *r, uint64_t id, int timeout_ms)
{
	int64_t deadline = t_now_ms() + timeout_ms;
	bool ok;

	pthread_mutex_lock(&r->mu);
	while (r->per_id[id] == 0 && t_cond_wait(&r->cv, &r->mu, deadline))
		;
	ok = r->per_id[id] > 0;
	pthread_mutex_unlock(&r->mu);
	return ok;
}

/* Waits until r holds at least n READ events. */
static bool
receipts_reach(receipts *r, size_t n, int timeout_ms)
{
	int64_t deadline = t_now_ms() + timeout_ms;
	bool ok;

	pthread_mutex_lock(&r->mu);
	while (r->total < n && t_cond_wait(&r->cv, &r->mu, deadline))
		;
	ok = r->total >= n;
	pthread_mutex_unlock(&r->mu);
	return ok;
}

/* Subscribes r to each of topics (NULL-terminated), which include
 * receipts/<prober>, and waits until it is connected: probe messages from
 * prober to reader (users of their own), read one at a time, until the READ
 * of one arrives; the READs of earlier probes, published before it on the
 * same connection, are in by then.  Returns the subscription; r's counts
 * start at 0. */
static pigeon_subscription *
subscribe_receipts(receipts *r, const char *const *topics, const char *prober, const char *reader)
{
	pigeon_subscribe_opts so = {0};
	pigeon_subscription *sub;
	uint64_t unread, marked;
	bool seen = false;

	memset(r, 0, sizeof(*r));
	t_cond_init(&r->mu, &r->cv);
	so.url = env.pigeond.pub_url;
	so.topics = topics;
	so.recv_buf = 8192;
	t_register(env.client, prober);
	t_register(env.client, reader);
	assert_int_equal(pigeon_subscribe(&sub, &so, on_receipt, r), PIGEON_OK);
	for (int i = 0; i < 100 && !seen; i++) {
		uint64_t id = t_send(env.client, prober, reader, "probe");

		wait_settled((const char *const[]){prober}, 1);
		assert_int_equal(mark_read(env.client, reader, id, &unread, &marked), PIGEON_OK);
		seen = receipts_has(r, id, 300);
	}
	assert_true(seen);
	pthread_mutex_lock(&r->mu);
	r->total = r->others = 0;
	memset(r->per_id, 0, sizeof(r->per_id));
	pthread_mutex_unlock(&r->mu);
	return sub;
}

static void
receipts_close(pigeon_subscription *sub, receipts *r)
{
	pigeon_subscription_close(sub);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
}

/* ---- tests ---- */

/* Three messages for Rita: unread 3; read up to the second: 1 left, and
 * again, or up to the first, changes nothing; the listing shows read_ms and
 * can list the unread alone; Sam gets one READ for each message read. */
static void
test_unread_counts_and_partial_repeated_mark_read(void **state)
{
	const char *const topics[] = {"receipts/Sam", "receipts/Pa", NULL};
	pigeon_subscription *sub;
	static receipts rc;
	uint64_t id[3], ids[IDS_MAX], unread, marked;
	int64_t read_ms[IDS_MAX], before, after;
	Pigeon__V1__UserStats *us;

	t_register(env.client, "Sam");
	t_register(env.client, "Rita");
	sub = subscribe_receipts(&rc, topics, "Pa", "Pb");
	rc.sender = "Sam";
	rc.reader = "Rita";
	us = stats(env.client, "Rita");
	assert_int_equal(us->unread, 0);
	pigeon_reply_free(us);

	for (int i = 0; i < 3; i++) {
		char text[32];

		snprintf(text, sizeof(text), "hello %d", i);
		id[i] = t_send(env.client, "Sam", "Rita", text);
	}
	wait_settled((const char *const[]){"Sam"}, 1);
	us = stats(env.client, "Rita");
	assert_int_equal(us->unread, 3);
	assert_int_equal(us->delivered, 0);
	pigeon_reply_free(us);
	/* The sender's four counts keep their meaning; nothing is unread for
	 * Sam, who received nothing. */
	us = stats(env.client, "Sam");
	assert_int_equal(us->enqueued, 0);
	assert_int_equal(us->being_spam_checked, 0);
	assert_int_equal(us->marked_as_spam, 0);
	assert_int_equal(us->unread, 0);
	pigeon_reply_free(us);

	before = clocks_wall_ms();
	assert_int_equal(mark_read(env.client, "Rita", id[1], &unread, &marked), PIGEON_OK);
	after = clocks_wall_ms();
	assert_int_equal(unread, 1);
	assert_int_equal(marked, 2);
	assert_int_equal(mark_read(env.client, "Rita", id[1], &unread, &marked), PIGEON_OK);
	assert_int_equal(unread, 1);
	assert_int_equal(marked, 0);
	assert_int_equal(mark_read(env.client, "Rita", id[0], &unread, &marked), PIGEON_OK);
	assert_int_equal(unread, 1);
	assert_int_equal(marked, 0);
	us = stats(env.client, "Rita");
	assert_int_equal(us->unread, 1);
	pigeon_reply_free(us);

	assert_int_equal(inbox(env.client, "Rita", false, ids, read_ms), 3);
	assert_int_equal(ids[0], id[0]);
	assert_int_equal(ids[1], id[1]);
	assert_int_equal(ids[2], id[2]);
	/* Read by one call: the same time, taken by Redis during it (its clock
	 * is this machine's). */
	assert_true(read_ms[0] >= before - 1000 && read_ms[0] <= after + 1000);
	assert_int_equal(read_ms[1], read_ms[0]);
	assert_int_equal(read_ms[2], 0);
	assert_int_equal(inbox(env.client, "Rita", true, ids, read_ms), 1);
	assert_int_equal(ids[0], id[2]);
	assert_int_equal(read_ms[0], 0);

	assert_true(receipts_reach(&rc, 2, WAIT_MS));
	assert_int_equal(mark_read(env.client, "Rita", id[2] + 1000, &unread, &marked),
	    PIGEON_OK);
	assert_int_equal(unread, 0);
	assert_int_equal(marked, 1);
	assert_int_equal(inbox(env.client, "Rita", true, ids, read_ms), 0);
	assert_true(receipts_reach(&rc, 3, WAIT_MS));
	/* A repeat publishes nothing more: a probe read after it shows the
	 * subscription went on (one pub connection keeps the order). */
	assert_int_equal(mark_read(env.client, "Rita", id[2], &unread, &marked), PIGEON_OK);
	assert_int_equal(marked, 0);
	{
		uint64_t probe = t_send(env.client, "Sam", "Rita", "last");

		wait_settled((const char *const[]){"Sam"}, 1);
		assert_int_equal(mark_read(env.client, "Rita", probe, &unread, &marked), PIGEON_OK);
		assert_int_equal(marked, 1);
		assert_true(receipts_reach(&rc, 4, WAIT_MS));
		pthread_mutex_lock(&rc.mu);
		assert_int_equal(rc.total, 4);
		assert_int_equal(rc.others, 0);
		for (int i = 0; i < 3; i++)
			assert_int_equal(rc.per_id[id[i]], 1);
		assert_int_equal(rc.per_id[probe], 1);
		pthread_mutex_unlock(&rc.mu);
	}
	receipts_close(sub, &rc);
}

/* Spam never reaches the inbox, so it is never unread; unknown users and
 * other users' messages are as the protocol says. */
static void
test_spam_is_never_unread_and_unknown_users_are_not_found(void **state)
{
	uint64_t spam, ham, unread, marked;
	Pigeon__V1__UserStats *us;
	uint64_t ids[IDS_MAX];
	int64_t read_ms[IDS_MAX];

	t_register(env.client, "Spammy");
	t_register(env.client, "Vic");
	spam = t_send(env.client, "Spammy", "Vic", "buy now, cheap pills");
	ham = t_send(env.client, "Spammy", "Vic", "see you at noon");
	wait_settled((const char *const[]){"Spammy"}, 1);
	us = stats(env.client, "Spammy");
	assert_int_equal(us->marked_as_spam, 1);
	assert_int_equal(us->delivered, 1);
	pigeon_reply_free(us);
	us = stats(env.client, "Vic");
	assert_int_equal(us->unread, 1);
	pigeon_reply_free(us);
	assert_int_equal(inbox(env.client, "Vic", true, ids, read_ms), 1);
	assert_int_equal(ids[0], ham);
	/* Up to the spam's id only: nothing of Vic's is there. */
	assert_true(spam < ham);
	assert_int_equal(mark_read(env.client, "Vic", spam, &unread, &marked), PIGEON_OK);
	assert_int_equal(unread, 1);
	assert_int_equal(marked, 0);
	/* Nobody reads Vic's messages for him by naming themselves. */
	assert_int_equal(mark_read(env.client, "Spammy", ham, &unread, &marked), PIGEON_OK);
	assert_int_equal(marked, 0);
	assert_int_equal(unread, 0);
	us = stats(env.client, "Vic");
	assert_int_equal(us->unread, 1);
	pigeon_reply_free(us);

	assert_int_equal(mark_read(env.client, "Nobody", 1, &unread, &marked), PIGEON_NOT_FOUND);
	assert_int_equal(mark_read(env.client, "no body", 1, &unread, &marked),
	    PIGEON_INVALID_ARGUMENT);
	assert_int_equal(mark_read(env.client, "", 1, &unread, &marked), PIGEON_INVALID_ARGUMENT);
}

/* ---- the race ---- */

static const char *const race_senders[SENDERS] = {
	"S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7"};
static const char *const race_readers[2] = {"R0", "R1"};

typedef struct racer {
	pthread_t th;
	pigeon_client *c;
	const char *user;
	/* Readers: what their MarkRead calls marked, in all. */
	uint64_t marked;
	unsigned calls;
	pigeon_status failed;
	volatile bool *stop;
} racer;

static void *
send_all(void *arg)
{
	racer *r = arg;
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	Pigeon__V1__SendMessageReply *rep;
	char text[64];

	req.sender = (char *)r->user;
	req.content = text;
	for (int i = 0; i < PER_SENDER * 2 && r->failed == PIGEON_OK; i++) {
		req.recipient = (char *)race_readers[i % 2];
		snprintf(text, sizeof(text), "race %s %d", r->user, i);
		if ((r->failed = pigeon_send_message(r->c, &req, &rep, NULL)) == PIGEON_OK)
			pigeon_reply_free(rep);
	}
	return NULL;
}

/* Marks read up to the newest message the inbox shows, again and again,
 * until told to stop. */
static void *
read_along(void *arg)
{
	racer *r = arg;
	Pigeon__V1__ListInboundMessagesRequest req =
	    PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
	Pigeon__V1__ListInboundMessagesReply *rep;
	uint64_t newest = 0, unread, marked;

	req.username = (char *)r->user;
	req.unread_only = true;
	req.page_size = 1000;
	while (!*r->stop && r->failed == PIGEON_OK) {
		if ((r->failed = pigeon_list_inbound_messages(r->c, &req, &rep, NULL)) != PIGEON_OK)
			break;
		/* Every other pass reads up to the middle of what is unread. */
		if (rep->n_messages > 0)
			newest = rep->messages[(r->calls % 2 == 0) ? rep->n_messages - 1
								    : rep->n_messages / 2]
				     ->id;
		pigeon_reply_free(rep);
		if ((r->failed = mark_read(r->c, r->user, newest, &unread, &marked)) != PIGEON_OK)
			break;
		r->marked += marked;
		r->calls++;
	}
	return NULL;
}

/* Eight clients send to two readers while the readers' own two clients
 * mark read as messages arrive.  Afterwards, for each reader: the messages
 * the MarkRead calls marked are exactly those stored with a read_ms, the
 * unread count is exactly those without, and each sender got exactly one
 * READ per message read. */
static void
test_reads_racing_deliveries_keep_exact_totals(void **state)
{
	const char *const topics[] = {"receipts/S0", "receipts/S1", "receipts/S2", "receipts/S3",
		"receipts/S4", "receipts/S5", "receipts/S6", "receipts/S7", "receipts/Pc", NULL};
	racer senders[SENDERS], readers[2];
	volatile bool stop = false;
	pigeon_subscription *sub;
	static receipts rc;
	static uint64_t ids[IDS_MAX];
	static int64_t read_ms[IDS_MAX];
	uint64_t unread, marked;
	size_t total_read = 0, total_unread = 0, delivered = 0;

	for (int i = 0; i < SENDERS; i++)
		t_register(env.client, race_senders[i]);
	for (int i = 0; i < 2; i++)
		t_register(env.client, race_readers[i]);
	sub = subscribe_receipts(&rc, topics, "Pc", "Pd");

	for (int i = 0; i < 2; i++) {
		readers[i] = (racer){.user = race_readers[i], .stop = &stop};
		assert_int_equal(pigeon_client_open(&readers[i].c, env.rpc_url), PIGEON_OK);
		assert_int_equal(pthread_create(&readers[i].th, NULL, read_along, &readers[i]), 0);
	}
	for (int i = 0; i < SENDERS; i++) {
		senders[i] = (racer){.user = race_senders[i]};
		assert_int_equal(pigeon_client_open(&senders[i].c, env.rpc_url), PIGEON_OK);
		assert_int_equal(pthread_create(&senders[i].th, NULL, send_all, &senders[i]), 0);
	}
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(senders[i].th, NULL);
		assert_int_equal(senders[i].failed, PIGEON_OK);
		pigeon_client_close(senders[i].c);
	}
	/* The readers stop while the worker still delivers: some stay unread. */
	stop = true;
	for (int i = 0; i < 2; i++) {
		pthread_join(readers[i].th, NULL);
		assert_int_equal(readers[i].failed, PIGEON_OK);
		pigeon_client_close(readers[i].c);
	}
	wait_settled(race_senders, SENDERS);

	for (int i = 0; i < 2; i++) {
		const char *u = race_readers[i];
		size_t n = inbox(env.client, u, false, ids, read_ms), nread = 0;
		Pigeon__V1__UserStats *us = stats(env.client, u);

		for (size_t k = 0; k < n; k++)
			nread += read_ms[k] > 0;
		print_message("%s: %zu delivered, %u MarkRead calls marked %llu\n", u, n,
		    readers[i].calls, (unsigned long long)readers[i].marked);
		assert_int_equal(readers[i].marked, nread);
		assert_int_equal(us->unread, n - nread);
		assert_int_equal(inbox(env.client, u, true, ids, read_ms), us->unread);
		total_read += nread;
		total_unread += us->unread;
		delivered += n;
		pigeon_reply_free(us);
	}
	/* Rate and flood rules may mark some as spam: what was delivered is
	 * what the senders' stats say. */
	{
		uint64_t sent_delivered = 0, spam = 0;

		for (int i = 0; i < SENDERS; i++) {
			Pigeon__V1__UserStats *us = stats(env.client, race_senders[i]);

			sent_delivered += us->delivered;
			spam += us->marked_as_spam;
			pigeon_reply_free(us);
		}
		assert_int_equal(sent_delivered, delivered);
		assert_int_equal(sent_delivered + spam, RACE_MESSAGES);
	}
	assert_int_equal(total_read + total_unread, delivered);

	/* Reading the rest marks exactly what was unread. */
	for (int i = 0; i < 2; i++) {
		uint64_t before_unread;
		Pigeon__V1__UserStats *us = stats(env.client, race_readers[i]);

		before_unread = us->unread;
		pigeon_reply_free(us);
		assert_int_equal(mark_read(env.client, race_readers[i], UINT64_MAX, &unread, &marked),
		    PIGEON_OK);
		assert_int_equal(unread, 0);
		assert_int_equal(marked, before_unread);
	}
	assert_true(receipts_reach(&rc, delivered, WAIT_MS));
	pthread_mutex_lock(&rc.mu);
	assert_int_equal(rc.total, delivered);
	assert_int_equal(rc.others, 0);
	for (int i = 0; i < 2; i++) {
		size_t n = inbox(env.client, race_readers[i], false, ids, read_ms);

		for (size_t k = 0; k < n; k++)
			assert_int_equal(rc.per_id[ids[k]], 1);
	}
	pthread_mutex_unlock(&rc.mu);
	receipts_close(sub, &rc);
}

/* ---- reports ---- */

/* ReportMessage: its code; on OK the message's state and whether it
 * changed; the error's text into msg (may be NULL). */
static pigeon_status
report(pigeon_client *c, const char *u, uint64_t id, bool spam, Pigeon__V1__MessageState *state,
    bool *changed, char *msg)
{
	Pigeon__V1__ReportMessageRequest req = PIGEON__V1__REPORT_MESSAGE_REQUEST__INIT;
	Pigeon__V1__ReportMessageReply *rep;
	pigeon_error err = {0};
	pigeon_status st;

	req.username = (char *)u;
	req.message_id = id;
	req.spam = spam;
	if ((st = pigeon_report_message(c, &req, &rep, &err)) == PIGEON_OK) {
		assert_int_equal(rep->message->id, id);
		assert_string_equal(rep->message->recipient, u);
		*state = rep->message->state;
		*changed = rep->changed;
		pigeon_reply_free(rep);
	}
	if (msg != NULL)
		snprintf(msg, 256, "%s", err.message);
	return st;
}

/* u's count on a leaderboard, 0 when not on it. */
static uint64_t
board(pigeon_client *c, bool spammers, const char *u)
{
	Pigeon__V1__LeaderboardRequest req = PIGEON__V1__LEADERBOARD_REQUEST__INIT;
	Pigeon__V1__Leaderboard *rep;
	uint64_t n = 0;

	req.limit = 1000;
	assert_int_equal(spammers ? pigeon_get_spammer_stats(c, &req, &rep, NULL)
				  : pigeon_get_chatter_stats(c, &req, &rep, NULL),
	    PIGEON_OK);
	for (size_t i = 0; i < rep->n_entries; i++)
		if (strcmp(rep->entries[i]->username, u) == 0)
			n = rep->entries[i]->count;
	pigeon_reply_free(rep);
	return n;
}

/* The journal's SPAM events of message id with the reason "reported". */
static int
reported_in_journal(pigeon_client *c, uint64_t id, const char *sender, const char *recipient)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;
	char text[128];
	int n = 0;

	snprintf(text, sizeof(text), "SPAM: message with id %llu by %s", (unsigned long long)id,
	    sender);
	req.page_size = 1000;
	assert_int_equal(pigeon_get_event_journal(c, &req, &rep, NULL), PIGEON_OK);
	for (size_t i = 0; i < rep->n_events; i++) {
		const Pigeon__V1__Event *e = rep->events[i];

		if (e->type != PIGEON__V1__EVENT_TYPE__EVENT_TYPE_SPAM || e->message_id != id ||
		    strcmp(e->reason, "reported") != 0)
			continue;
		assert_string_equal(e->username, sender);
		assert_string_equal(e->recipient, recipient);
		assert_string_equal(e->text, text);
		n++;
	}
	pigeon_reply_free(rep);
	return n;
}

/* What Ann's messages to Ben add up to, checked in one go. */
static void
assert_counts(uint64_t delivered, uint64_t marked, uint64_t unread, size_t inbox_n,
    const uint64_t *inbox_ids)
{
	Pigeon__V1__UserStats *us = stats(env.client, "Ann");
	uint64_t ids[IDS_MAX];
	int64_t read_ms[IDS_MAX];

	assert_int_equal(us->delivered, delivered);
	assert_int_equal(us->marked_as_spam, marked);
	assert_int_equal(us->enqueued, 0);
	assert_int_equal(us->being_spam_checked, 0);
	pigeon_reply_free(us);
	assert_int_equal(board(env.client, false, "Ann"), delivered);
	assert_int_equal(board(env.client, true, "Ann"), marked);
	us = stats(env.client, "Ben");
	assert_int_equal(us->unread, unread);
	pigeon_reply_free(us);
	assert_int_equal(inbox(env.client, "Ben", false, ids, read_ms), inbox_n);
	for (size_t i = 0; i < inbox_n; i++)
		assert_int_equal(ids[i], inbox_ids[i]);
}

/* Ben reports a delivered message as spam and a spam-marked one as not
 * spam, each twice; Cid cannot report Ben's messages, nor learn their ids. */
static void
test_reports_both_ways_fix_stats_boards_inbox_and_journal(void **state)
{
	Pigeon__V1__MessageState st;
	uint64_t lunch, hello, pills, unread, marked;
	bool changed;
	char msg[256], want[128];

	t_register(env.client, "Ann");
	t_register(env.client, "Ben");
	t_register(env.client, "Cid");
	lunch = t_send(env.client, "Ann", "Ben", "lunch at noon?");
	hello = t_send(env.client, "Ann", "Ben", "hello there");
	pills = t_send(env.client, "Ann", "Ben", "buy now cheap pills");
	wait_settled((const char *const[]){"Ann"}, 1);
	assert_counts(2, 1, 2, 2, (uint64_t[]){lunch, hello});
	/* Ben has read the lunch message: reported, it is no longer unread. */
	assert_int_equal(mark_read(env.client, "Ben", lunch, &unread, &marked), PIGEON_OK);
	assert_int_equal(unread, 1);

	assert_int_equal(report(env.client, "Ben", lunch, true, &st, &changed, NULL), PIGEON_OK);
	assert_int_equal(st, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_MARKED_AS_SPAM);
	assert_true(changed);
	assert_counts(1, 2, 1, 1, (uint64_t[]){hello});
	assert_int_equal(reported_in_journal(env.client, lunch, "Ann", "Ben"), 1);
	/* Again: nothing changes, nothing more is journaled. */
	assert_int_equal(report(env.client, "Ben", lunch, true, &st, &changed, NULL), PIGEON_OK);
	assert_int_equal(st, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_MARKED_AS_SPAM);
	assert_false(changed);
	assert_counts(1, 2, 1, 1, (uint64_t[]){hello});
	assert_int_equal(reported_in_journal(env.client, lunch, "Ann", "Ben"), 1);

	/* Someone else, and ids that are not Ben's, answer alike. */
	snprintf(want, sizeof(want), "No message %llu for Cid", (unsigned long long)hello);
	assert_int_equal(report(env.client, "Cid", hello, true, &st, &changed, msg),
	    PIGEON_NOT_FOUND);
	assert_string_equal(msg, want);
	assert_int_equal(report(env.client, "Ben", 999999, true, &st, &changed, msg),
	    PIGEON_NOT_FOUND);
	assert_string_equal(msg, "No message 999999 for Ben");
	assert_int_equal(report(env.client, "Nobody", hello, true, &st, &changed, NULL),
	    PIGEON_NOT_FOUND);
	assert_int_equal(report(env.client, "Ben", 0, true, &st, &changed, NULL),
	    PIGEON_INVALID_ARGUMENT);
	assert_counts(1, 2, 1, 1, (uint64_t[]){hello});

	/* The blocked message was not spam after all: delivered, unread. */
	assert_int_equal(report(env.client, "Ben", pills, false, &st, &changed, NULL), PIGEON_OK);
	assert_int_equal(st, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_DELIVERED);
	assert_true(changed);
	assert_counts(2, 1, 2, 2, (uint64_t[]){hello, pills});
	assert_int_equal(report(env.client, "Ben", pills, false, &st, &changed, NULL), PIGEON_OK);
	assert_false(changed);
	assert_counts(2, 1, 2, 2, (uint64_t[]){hello, pills});
	/* And the lunch message back: read before, so still read. */
	assert_int_equal(report(env.client, "Ben", lunch, false, &st, &changed, NULL), PIGEON_OK);
	assert_true(changed);
	assert_counts(3, 0, 2, 3, (uint64_t[]){lunch, hello, pills});
	assert_int_equal(board(env.client, true, "Ann"), 0);
}

/* ---- training ---- */

/* The value of the metric line starting with `series` on pigeond's
 * /metrics, -1 when it has none. */
static long
metric(const char *series)
{
	char cmd[400];
	char *out;
	long v;
	int code;

	snprintf(cmd, sizeof(cmd),
	    "curl -sS --max-time 10 'http://%s/metrics' | awk -v s='%s' "
	    "'index($0, s \" \") == 1 {print $2}'",
	    metrics_listen, series);
	out = t_sh(cmd, &code);
	assert_int_equal(code, 0);
	v = out[0] != '\0' ? strtol(out, NULL, 10) : -1;
	free(out);
	return v;
}

typedef struct learned_at_least {
	long spam;
} learned_at_least;

static bool
model_learned(void *arg)
{
	return metric("pigeon_worker_spam_model_learned{kind=\"spam\"}") >=
	    ((learned_at_least *)arg)->spam;
}

/* Train: its code; on OK the totals learned. */
static pigeon_status
train(pigeon_client *c, char **spam, size_t nspam, char **ham, size_t nham, uint64_t *spam_total,
    uint64_t *ham_total)
{
	Pigeon__V1__TrainRequest req = PIGEON__V1__TRAIN_REQUEST__INIT;
	Pigeon__V1__TrainReply *rep;
	pigeon_status st;

	req.spam = spam;
	req.n_spam = nspam;
	req.ham = ham;
	req.n_ham = nham;
	if ((st = pigeon_train(c, &req, &rep, NULL)) == PIGEON_OK) {
		*spam_total = rep->spam_learned;
		*ham_total = rep->ham_learned;
		pigeon_reply_free(rep);
	}
	return st;
}

/* The reason of the journal's SPAM event of message id, "" when none. */
static void
spam_reason(pigeon_client *c, uint64_t id, char *out, size_t len)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;

	out[0] = '\0';
	req.page_size = 1000;
	assert_int_equal(pigeon_get_event_journal(c, &req, &rep, NULL), PIGEON_OK);
	for (size_t i = 0; i < rep->n_events; i++)
		if (rep->events[i]->type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_SPAM &&
		    rep->events[i]->message_id == id)
			snprintf(out, len, "%s", rep->events[i]->reason);
	pigeon_reply_free(rep);
}

#define TRAIN_EACH 100
/* An offer no rule catches: no blocklisted term, an ordinary shape. */
#define VOUCHER "claim your free voucher now, offer ends today"

/* No rule catches a voucher offer; after 200 spam and 200 ham texts, two
 * Train calls, the worker's model does, and says so in the reason, while
 * an ordinary message still goes through. */
static void
test_a_classifier_trained_by_train_catches_what_no_rule_does(void **state)
{
	static char spam_text[TRAIN_EACH][96], ham_text[TRAIN_EACH][96];
	char *spam[TRAIN_EACH], *ham[TRAIN_EACH], reason[64];
	const char *const prizes[] = {"voucher", "gift card", "prize", "reward"};
	const char *const plans[] = {"lunch", "the station", "the office", "practice"};
	uint64_t s1 = 0, h1 = 0, s2 = 0, h2 = 0, before, after, meet;
	learned_at_least want;
	Pigeon__V1__UserStats *us;
	double score;
	int used = 0;

	t_register(env.client, "Tess");
	t_register(env.client, "Uma");
	before = t_send(env.client, "Tess", "Uma", VOUCHER);
	wait_settled((const char *const[]){"Tess"}, 1);
	us = stats(env.client, "Tess");
	assert_int_equal(us->delivered, 1);
	assert_int_equal(us->marked_as_spam, 0);
	pigeon_reply_free(us);

	for (int i = 0; i < TRAIN_EACH; i++) {
		snprintf(spam_text[i], sizeof(spam_text[i]),
		    "claim your free %s now, offer %d ends today", prizes[i % 4], i);
		snprintf(ham_text[i], sizeof(ham_text[i]), "see you at %s at %d, bring the notes",
		    plans[i % 4], i % 12 + 1);
		spam[i] = spam_text[i];
		ham[i] = ham_text[i];
	}
	assert_int_equal(train(env.client, spam, TRAIN_EACH, ham, TRAIN_EACH, &s1, &h1), PIGEON_OK);
	assert_int_equal(train(env.client, spam, TRAIN_EACH, ham, TRAIN_EACH, &s2, &h2), PIGEON_OK);
	/* Earlier tests' reports taught it too: only the difference is exact. */
	assert_int_equal(s2, s1 + TRAIN_EACH);
	assert_int_equal(h2, h1 + TRAIN_EACH);
	assert_true(s2 >= 2 * TRAIN_EACH && h2 >= 2 * TRAIN_EACH);
	assert_int_equal(train(env.client, NULL, 0, NULL, 0, &s1, &h1), PIGEON_INVALID_ARGUMENT);
	/* An empty text would count as a message learned with no token. */
	{
		char *empty[] = {""};

		assert_int_equal(train(env.client, spam, 1, empty, 1, &s1, &h1),
		    PIGEON_INVALID_ARGUMENT);
	}

	want.spam = (long)s2;
	assert_true(t_wait_every(model_learned, &want, 100, WAIT_MS));
	assert_int_equal(metric("pigeon_worker_spam_model_learned{kind=\"ham\"}"), (long)h2);
	/* The model in use was built from the counts as they are now. */
	{
		redisContext *rc = t_redis_connect(&env.redis);

		assert_non_null(rc);
		assert_int_equal(metric("pigeon_worker_spam_model_version"),
		    t_redis_int(rc, "HGET pigeon:{bayes}:learned version"));
		redisFree(rc);
	}
	assert_true(metric("pigeon_worker_spam_model_loads_total") >= 1);

	after = t_send(env.client, "Tess", "Uma", VOUCHER);
	meet = t_send(env.client, "Tess", "Uma", "see you at the office at 3");
	wait_settled((const char *const[]){"Tess"}, 1);
	us = stats(env.client, "Tess");
	assert_int_equal(us->delivered, 2);
	assert_int_equal(us->marked_as_spam, 1);
	pigeon_reply_free(us);
	spam_reason(env.client, before, reason, sizeof(reason));
	assert_string_equal(reason, "");
	spam_reason(env.client, after, reason, sizeof(reason));
	/* The classifier alone: "bayes(0.NN)", nothing else. */
	assert_int_equal(sscanf(reason, "bayes(%lf)%n", &score, &used), 1);
	assert_int_equal(used, (int)strlen(reason));
	assert_true(score >= 0.5 && score <= 1.0);
	spam_reason(env.client, meet, reason, sizeof(reason));
	assert_string_equal(reason, "");
	assert_true(metric("pigeon_worker_spam_rule_total{rule=\"bayes\"}") >= 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unread_counts_and_partial_repeated_mark_read),
		cmocka_unit_test(test_spam_is_never_unread_and_unknown_users_are_not_found),
		cmocka_unit_test(test_reads_racing_deliveries_keep_exact_totals),
		cmocka_unit_test(test_reports_both_ways_fix_stats_boards_inbox_and_journal),
		cmocka_unit_test(test_a_classifier_trained_by_train_catches_what_no_rule_does),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
