/* SPDX-License-Identifier: MIT */
/* Load and truth for the fault tests and the soak; see load.h. */
#include "load.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The pause between two tries of a failed call. */
#define LOAD_RETRY_MS 20

void
load_spam_config(const char *path, const char *source_blocklist)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fprintf(f, "dry_run = false\nrate.enabled = false\nflood.enabled = false\n"
		   "shape.enabled = false\nblocklist.enabled = true\nblocklist.file = %s\n",
	    source_blocklist);
	fclose(f);
}

static void
sender_name(const load_opts *o, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%ss%zu", o->tag, i % o->senders);
}

static void
recipient_name(const load_opts *o, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%sr%zu", o->tag, (i / o->senders) % o->recipients);
}

static bool
is_spam(const load_opts *o, size_t i)
{
	return o->spam_every != 0 && i % o->spam_every == 0;
}

/* The content of message i: its index, a blocklist term for spam, padding
 * up to content_size. */
static char *
content_of(const load_opts *o, size_t i)
{
	size_t size = o->content_size > 64 ? o->content_size : 64;
	char *c = malloc(size + 1);
	int n;

	if (c == NULL)
		abort();
	n = snprintf(c, size + 1, "%s message %zu%s", o->tag, i, is_spam(o, i) ? " buy now" : "");
	if (o->content_size > (size_t)n) {
		/* A space first, so a blocklist term stays a whole word. */
		c[n] = ' ';
		memset(c + n + 1, 'x', o->content_size - (size_t)n - 1);
		c[o->content_size] = '\0';
	}
	return c;
}

static pigeon_client *
client_open(const load_opts *o)
{
	pigeon_client_opts co = {.url = o->url,
	    .deadline_ms = o->deadline_ms != 0 ? o->deadline_ms : 2000,
	    .resend_ms = o->resend_ms};
	pigeon_client *c;

	if (pigeon_client_open_opts(&c, &co) != PIGEON_OK) {
		fprintf(stderr, "load: cannot open a client of %s\n", o->url);
		exit(1);
	}
	return c;
}

typedef struct load_call_arg {
	pigeon_client *c;
	const char *method;
	const ProtobufCMessage *req;
	ProtobufCMessage **reply;
	/* A code that counts as done besides OK (no reply then), or OK. */
	pigeon_status also;
	pigeon_status st;
} load_call_arg;

static bool
load_call_done(void *arg)
{
	load_call_arg *a = arg;

	a->st = pigeon_call(a->c, a->method, a->req, a->reply, 0, NULL);
	return a->st == PIGEON_OK || a->st == a->also;
}

/* Makes the call (as pigeon_call, reply a pointer to the typed reply
 * pointer) until it answers OK or `also`, up to timeout_ms; returns the
 * last code. */
static pigeon_status
load_call(pigeon_client *c, const char *method, const ProtobufCMessage *req, void *reply,
    pigeon_status also, int timeout_ms)
{
	load_call_arg a = {c, method, req, reply, also, PIGEON_UNKNOWN};

	t_wait_every(load_call_done, &a, LOAD_RETRY_MS, timeout_ms);
	return a.st;
}

bool
load_register(const load_opts *o)
{
	pigeon_client *c = client_open(o);
	int64_t end = t_now_ms() + 30000;
	bool ok = true;

	for (unsigned k = 0; k < o->senders + o->recipients && ok; k++) {
		Pigeon__V1__RegisterUserRequest req = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
		Pigeon__V1__RegisterUserReply *rep;
		char name[64];
		pigeon_status st;

		if (k < o->senders)
			snprintf(name, sizeof(name), "%ss%u", o->tag, k);
		else
			snprintf(name, sizeof(name), "%sr%u", o->tag, k - o->senders);
		req.username = name;
		st = load_call(c, "RegisterUser", &req.base, &rep, PIGEON_ALREADY_EXISTS,
		    (int)(end - t_now_ms()));
		if (st == PIGEON_OK)
			pigeon_reply_free(rep);
		ok = st == PIGEON_OK || st == PIGEON_ALREADY_EXISTS;
	}
	pigeon_client_close(c);
	return ok;
}

typedef struct load_thread {
	const load_opts *o;
	load_msg *msgs;
	unsigned index;
	int64_t start_ms;
	load_result res;
	pthread_t thread;
} load_thread;

/* One message on its way: each try is one SendMessage. */
typedef struct load_send {
	load_thread *t;
	pigeon_client *c;
	const Pigeon__V1__SendMessageRequest *req;
	load_msg *m;
	int32_t deadline;
	pigeon_status st;
} load_send;

/* Tries once; true once the message is acknowledged, or has failed with no
 * idempotency key to try it again with. */
static bool
load_send_once(void *arg)
{
	load_send *a = arg;
	load_thread *t = a->t;
	const load_opts *o = t->o;
	load_msg *m = a->m;
	Pigeon__V1__SendMessageReply *rep;
	pigeon_error err;
	int64_t t0 = t_now_ms(), took;

	a->st = pigeon_send_message(a->c, a->req, &rep, &err);
	took = t_now_ms() - t0;
	if (took > t->res.max_call_ms)
		t->res.max_call_ms = took;
	if (took - a->deadline > t->res.max_over_deadline_ms)
		t->res.max_over_deadline_ms = took - a->deadline;
	m->attempts++;
	t->res.attempts++;
	if (a->st == PIGEON_OK) {
		m->id = rep->message != NULL ? rep->message->id : 0;
		m->acked = m->id != 0;
		m->duplicate = rep->duplicate;
		t->res.acked += m->acked;
		if (o->acked_now != NULL)
			__atomic_fetch_add(o->acked_now, 1, __ATOMIC_RELAXED);
		t->res.duplicates_answered += rep->duplicate;
		pigeon_reply_free(rep);
		return true;
	}
	m->last_error = a->st;
	if (o->failed_now != NULL)
		__atomic_fetch_add(o->failed_now, 1, __ATOMIC_RELAXED);
	t->res.by_status[(unsigned)a->st < PIGEON_STATUS_COUNT ? a->st : PIGEON_UNKNOWN]++;
	return !o->idempotent;
}

static void *
load_main(void *arg)
{
	load_thread *t = arg;
	const load_opts *o = t->o;
	pigeon_client *c = client_open(o);
	int32_t deadline = o->deadline_ms != 0 ? o->deadline_ms : 2000;
	int64_t give_up = o->give_up_ms != 0 ? o->give_up_ms : 60000;
	size_t k = 0;

	for (size_t i = t->index; i < o->messages; i += o->threads, k++) {
		Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
		char s[64], r[64], key[96];
		char *content = content_of(o, i);
		load_send a = {t, c, &req, &t->msgs[i], deadline, PIGEON_UNKNOWN};

		if (o->rate > 0) {
			int64_t due = t->start_ms + (int64_t)((double)k * o->threads * 1000 / o->rate);

			t_sleep_ms(due - t_now_ms());
		}
		if (o->gate != NULL)
			o->gate(i, o->gate_arg);
		sender_name(o, i, s, sizeof(s));
		recipient_name(o, i, r, sizeof(r));
		snprintf(key, sizeof(key), "%s-%zu", o->tag, i);
		req.sender = s;
		req.recipient = r;
		req.content = content;
		req.idempotency_key = o->idempotent ? key : "";
		/* Tried again with its key until give_up_ms after the first try. */
		t_wait_every(load_send_once, &a, LOAD_RETRY_MS, (int)give_up);
		if (a.st != PIGEON_OK)
			t->res.given_up++;
		free(content);
	}
	pigeon_client_close(c);
	return NULL;
}

void
load_run(const load_opts *o, load_msg *msgs, load_result *res)
{
	load_thread *ts = calloc(o->threads, sizeof(*ts));
	int64_t start = t_now_ms();

	if (ts == NULL)
		abort();
	memset(res, 0, sizeof(*res));
	for (unsigned i = 0; i < o->threads; i++) {
		ts[i] = (load_thread){.o = o, .msgs = msgs, .index = i, .start_ms = start};
		if (pthread_create(&ts[i].thread, NULL, load_main, &ts[i]) != 0)
			abort();
	}
	for (unsigned i = 0; i < o->threads; i++) {
		pthread_join(ts[i].thread, NULL);
		res->acked += ts[i].res.acked;
		res->given_up += ts[i].res.given_up;
		res->attempts += ts[i].res.attempts;
		res->duplicates_answered += ts[i].res.duplicates_answered;
		for (int s = 0; s < PIGEON_STATUS_COUNT; s++)
			res->by_status[s] += ts[i].res.by_status[s];
		if (ts[i].res.max_call_ms > res->max_call_ms)
			res->max_call_ms = ts[i].res.max_call_ms;
		if (ts[i].res.max_over_deadline_ms > res->max_over_deadline_ms)
			res->max_over_deadline_ms = ts[i].res.max_over_deadline_ms;
	}
	res->elapsed_ms = t_now_ms() - start;
	free(ts);
}

static bool
load_drained(void *arg)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	bool drained;

	if (pigeon_health(arg, &req, &rep, NULL) != PIGEON_OK)
		return false;
	drained = rep->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING &&
	    rep->queue_depth == 0 && rep->queue_pending == 0;
	pigeon_reply_free(rep);
	return drained;
}

bool
load_drain(const char *url, int timeout_ms)
{
	load_opts o = {.url = url, .deadline_ms = 1000};
	pigeon_client *c = client_open(&o);
	bool drained = t_wait_every(load_drained, c, 50, timeout_ms);

	pigeon_client_close(c);
	return drained;
}

/* Index of the message with id, or -1; byid maps id to index + 1. */
static long
msg_of(const size_t *byid, uint64_t max_id, uint64_t id)
{
	if (id == 0 || id > max_id || byid[id] == 0)
		return -1;
	return (long)byid[id] - 1;
}

static bool
is_dead(const uint64_t *dead, size_t n_dead, uint64_t id)
{
	for (size_t i = 0; i < n_dead; i++)
		if (dead[i] == id)
			return true;
	return false;
}

/* A read made again until it answers OK, up to 10 s; its last code. */
static pigeon_status
load_read(pigeon_client *c, const char *method, const ProtobufCMessage *req, void *reply)
{
	return load_call(c, method, req, reply, PIGEON_OK, 10000);
}

void
load_verify(const load_opts *o, const load_msg *msgs, const uint64_t *dead, size_t n_dead,
    load_truth *t)
{
	pigeon_client *c = client_open(o);
	uint64_t max_id = 0;
	size_t *byid, *seen;
	uint64_t exp_delivered[LOAD_MAX_USERS] = {0}, exp_spam[LOAD_MAX_USERS] = {0};
	uint8_t *spam_seen;
	pigeon_status st;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < o->messages; i++)
		if (msgs[i].acked && msgs[i].id > max_id)
			max_id = msgs[i].id;
	byid = calloc(max_id + 1, sizeof(*byid));
	seen = calloc(o->messages, sizeof(*seen));
	spam_seen = calloc(o->messages, 1);
	if (byid == NULL || seen == NULL || spam_seen == NULL)
		abort();
	for (size_t i = 0; i < o->messages; i++) {
		if (!msgs[i].acked)
			continue;
		if (byid[msgs[i].id] != 0)
			t->duplicated++; /* two acknowledgements named one id */
		byid[msgs[i].id] = i + 1;
		if (is_dead(dead, n_dead, msgs[i].id))
			continue;
		if (is_spam(o, i))
			exp_spam[i % o->senders]++;
		else
			exp_delivered[i % o->senders]++;
	}

	/* Inboxes: every delivered message once, nothing else. */
	for (unsigned rcp = 0; rcp < o->recipients; rcp++) {
		Pigeon__V1__ListInboundMessagesRequest req =
		    PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
		char name[64];

		snprintf(name, sizeof(name), "%sr%u", o->tag, rcp);
		req.username = name;
		/* Small pages: a page of large messages must fit a reply. */
		req.page_size = 100;
		for (;;) {
			Pigeon__V1__ListInboundMessagesReply *rep;

			st = load_read(c, "ListInboundMessages", &req.base, &rep);
			if (st != PIGEON_OK) {
				fprintf(stderr, "load: inbox of %s unreadable\n", name);
				t->lost += o->messages;
				break;
			}
			for (size_t k = 0; k < rep->n_messages; k++) {
				const Pigeon__V1__Message *m = rep->messages[k];
				long i = msg_of(byid, max_id, m->id);
				char *want;

				if (i < 0 || is_spam(o, (size_t)i)) {
					t->unexpected++;
					continue;
				}
				want = content_of(o, (size_t)i);
				char rname[64];
				recipient_name(o, (size_t)i, rname, sizeof(rname));
				if (strcmp(m->content, want) != 0 || strcmp(rname, name) != 0)
					t->unexpected++;
				else if (seen[i]++ > 0)
					t->duplicated++;
				free(want);
			}
			req.cursor = rep->next_cursor;
			pigeon_reply_free(rep);
			if (req.cursor == 0)
				break;
		}
	}
	for (size_t i = 0; i < o->messages; i++) {
		if (!msgs[i].acked || is_dead(dead, n_dead, msgs[i].id))
			continue;
		if (!is_spam(o, i) && seen[i] == 0)
			t->lost++;
		if (!is_spam(o, i))
			t->delivered++;
		else
			t->spam++;
	}

	/* Counters and leaderboards, per sender. */
	for (unsigned s = 0; s < o->senders; s++) {
		Pigeon__V1__GetUserStatsRequest req = PIGEON__V1__GET_USER_STATS_REQUEST__INIT;
		Pigeon__V1__UserStats *rep;
		char name[64];

		snprintf(name, sizeof(name), "%ss%u", o->tag, s);
		req.username = name;
		st = load_read(c, "GetUserStats", &req.base, &rep);
		if (st != PIGEON_OK) {
			t->bad_counters++;
			continue;
		}
		if (rep->delivered != exp_delivered[s] || rep->marked_as_spam != exp_spam[s] ||
		    rep->enqueued != 0 || rep->being_spam_checked != 0) {
			fprintf(stderr,
			    "load: stats of %s: delivered %" PRIu64 "/%" PRIu64 " spam %" PRIu64
			    "/%" PRIu64 " enqueued %" PRIu64 " checking %" PRIu64 "\n",
			    name, rep->delivered, exp_delivered[s], rep->marked_as_spam,
			    exp_spam[s], rep->enqueued, rep->being_spam_checked);
			t->bad_counters++;
		}
		pigeon_reply_free(rep);
	}
	for (int board = 0; board < 2; board++) {
		Pigeon__V1__LeaderboardRequest req = PIGEON__V1__LEADERBOARD_REQUEST__INIT;
		Pigeon__V1__Leaderboard *rep;
		uint64_t *want = board == 0 ? exp_delivered : exp_spam;
		bool found[LOAD_MAX_USERS] = {false};

		req.limit = 1000;
		st = load_read(c, board == 0 ? "GetChatterStats" : "GetSpammerStats", &req.base,
		    &rep);
		if (st != PIGEON_OK) {
			t->bad_leaderboard++;
			continue;
		}
		for (size_t k = 0; k < rep->n_entries; k++) {
			const char *u = rep->entries[k]->username;
			size_t tl = strlen(o->tag);
			unsigned idx;

			if (strncmp(u, o->tag, tl) != 0 || u[tl] != 's' ||
			    sscanf(u + tl + 1, "%u", &idx) != 1 || idx >= o->senders)
				continue;
			found[idx] = true;
			if (rep->entries[k]->count != want[idx])
				t->bad_leaderboard++;
		}
		for (unsigned s = 0; s < o->senders; s++)
			if (!found[s] && want[s] != 0)
				t->bad_leaderboard++;
		pigeon_reply_free(rep);
	}

	/* Journal: one SPAM event per spam message, one DEAD_LETTER per dead
	 * one, none for anything else of this load. */
	{
		Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
		size_t dead_events = 0;

		req.page_size = 1000;
		for (;;) {
			Pigeon__V1__GetEventJournalReply *rep;

			st = load_read(c, "GetEventJournal", &req.base, &rep);
			if (st != PIGEON_OK) {
				t->bad_journal++;
				break;
			}
			for (size_t k = 0; k < rep->n_events; k++) {
				const Pigeon__V1__Event *e = rep->events[k];
				long i;

				if (strncmp(e->username, o->tag, strlen(o->tag)) != 0)
					continue;
				i = msg_of(byid, max_id, e->message_id);
				if (e->type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_DEAD_LETTER &&
				    is_dead(dead, n_dead, e->message_id)) {
					dead_events++;
				} else if (e->type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_SPAM && i >= 0 &&
				    is_spam(o, (size_t)i) && !is_dead(dead, n_dead, e->message_id)) {
					if (spam_seen[i]++ > 0)
						t->bad_journal++;
				} else if (e->type != PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGIN &&
				    e->type != PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGOUT) {
					t->bad_journal++;
				}
			}
			req.cursor = rep->next_cursor;
			pigeon_reply_free(rep);
			if (req.cursor == 0)
				break;
		}
		for (size_t i = 0; i < o->messages; i++)
			if (msgs[i].acked && is_spam(o, i) && !is_dead(dead, n_dead, msgs[i].id) &&
			    spam_seen[i] != 1)
				t->bad_journal++;
		if (dead_events != n_dead)
			t->bad_journal++;
	}
	free(spam_seen);
	free(seen);
	free(byid);
	pigeon_client_close(c);
}

void
load_print(const char *what, const load_opts *o, const load_result *r, const load_truth *t)
{
	fprintf(stderr,
	    "%s: messages=%zu acked=%zu attempts=%zu dup_answers=%zu given_up=%zu "
	    "unavailable=%zu deadline=%zu exhausted=%zu other=%zu max_call_ms=%" PRId64
	    " elapsed_ms=%" PRId64 " | delivered=%zu spam=%zu lost=%zu duplicated=%zu "
	    "unexpected=%zu bad_counters=%zu bad_leaderboard=%zu bad_journal=%zu\n",
	    what, o->messages, r->acked, r->attempts, r->duplicates_answered, r->given_up,
	    r->by_status[PIGEON_UNAVAILABLE], r->by_status[PIGEON_DEADLINE_EXCEEDED],
	    r->by_status[PIGEON_RESOURCE_EXHAUSTED],
	    r->attempts - r->acked - r->by_status[PIGEON_UNAVAILABLE] -
		r->by_status[PIGEON_DEADLINE_EXCEEDED] - r->by_status[PIGEON_RESOURCE_EXHAUSTED],
	    r->max_call_ms, r->elapsed_ms, t->delivered, t->spam, t->lost, t->duplicated,
	    t->unexpected, t->bad_counters, t->bad_leaderboard, t->bad_journal);
}
