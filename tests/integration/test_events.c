/* SPDX-License-Identifier: MIT */
/*
 * Live events against a real redis-server and real pigeond processes: nngcat
 * (a separate process) receiving a login on the journal topic, libpigeon
 * subscribers for every topic and for one inbox, the relay republishing what
 * it missed while its Redis subscription was down, a gap-filling subscriber
 * that sees every journal event exactly once and in order although nng drops
 * events and the events role is killed and restarted mid-stream, and
 * `pigeon watch` printing a login.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include <pigeon/pigeon.h>

#include "harness.h"
#include "t_rpc.h"

#define NNGCAT "/usr/bin/nngcat"
#define T_EVENTS_MAX 4096

static t_env env;

static int
t_group_setup(void **state)
{
	t_env_opts o = {.tag = "events", .pub_tcp = true, .client = true,
	    .client_deadline_ms = 3000};

	(void)state;
	if (access(NNGCAT, X_OK) != 0) {
		fprintf(stderr, "no %s (Debian package nng-utils)\n", NNGCAT);
		exit(T_SKIP);
	}
	t_env_start(&env, &o);
	return 0;
}

static int
t_group_teardown(void **state)
{
	(void)state;
	return t_env_stop(&env) == 0 ? 0 : -1;
}

/* A file's whole text (at most 1 MiB), NUL-terminated; "" when missing. */
static char *
t_read_file(const char *path)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* The start of the line of text holding needle, or NULL. */
static const char *
t_line_with(const char *text, const char *needle)
{
	const char *at = strstr(text, needle);

	if (at == NULL)
		return NULL;
	while (at > text && at[-1] != '\n')
		at--;
	return at;
}

typedef struct t_probe {
	pigeon_client *c;
	const char *user;
	bool (*seen)(void *arg);
	void *arg;
} t_probe;

static bool
t_probe_once(void *arg)
{
	t_probe *p = arg;

	t_login(p->c, p->user);
	t_logout(p->c, p->user);
	return t_wait_for(p->seen, p->arg, 300);
}

/* A subscriber is connected once it sees events: logs user in and out
 * through c until seen(arg), each try waiting 300 ms; false after 10 s. */
static bool
t_probe_until(pigeon_client *c, const char *user, bool (*seen)(void *arg), void *arg)
{
	t_probe p = {c, user, seen, arg};

	return t_wait_every(t_probe_once, &p, 0, 10000);
}

/* Probes until `path` shows text (the subscriber writing it is then
 * connected). */
static bool
t_probe_file(const char *path, const char *user, const char *text)
{
	t_file_has h = {path, text};

	return t_probe_until(env.client, user, t_file_holds, &h);
}

/* What a libpigeon subscriber's callback recorded. */
typedef struct t_got {
	char topic[80];
	Pigeon__V1__EventType type;
	uint64_t seq;
	uint64_t message_id;
	char username[80];
	char recipient[80];
	char text[128];
	char content[128];
} t_got;

typedef struct t_rec {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	bool paused;
	bool blocked;
	size_t n;
	t_got got[T_EVENTS_MAX];
} t_rec;

static void
t_rec_init(t_rec *r)
{
	memset(r, 0, sizeof(*r));
	t_cond_init(&r->mtx, &r->cond);
}

static void
t_rec_fini(t_rec *r)
{
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mtx);
}

/* Records the event; while paused, blocks the subscription's thread. */
static void
t_record(const char *topic, const Pigeon__V1__Event *ev, void *arg)
{
	t_rec *r = arg;
	t_got *g;

	pthread_mutex_lock(&r->mtx);
	while (r->paused) {
		r->blocked = true;
		pthread_cond_wait(&r->cond, &r->mtx);
	}
	r->blocked = false;
	if (r->n < T_EVENTS_MAX) {
		g = &r->got[r->n++];
		snprintf(g->topic, sizeof(g->topic), "%s", topic);
		g->type = ev->type;
		g->seq = ev->sequence;
		g->message_id = ev->message_id;
		snprintf(g->username, sizeof(g->username), "%s", ev->username);
		snprintf(g->recipient, sizeof(g->recipient), "%s", ev->recipient);
		snprintf(g->text, sizeof(g->text), "%s", ev->text);
		snprintf(g->content, sizeof(g->content), "%s", ev->content);
	}
	pthread_mutex_unlock(&r->mtx);
}

static void
t_rec_pause(t_rec *r, bool paused)
{
	pthread_mutex_lock(&r->mtx);
	r->paused = paused;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mtx);
}

typedef struct t_rec_has {
	t_rec *r;
	const char *topic;
	Pigeon__V1__EventType type;
	uint64_t seq;
	uint64_t message_id;
	const char *content;
} t_rec_has;

/* The index of the first recorded event matching h (0 fields match all),
 * or -1. */
static long
t_rec_find(const t_rec_has *h)
{
	long at = -1;

	pthread_mutex_lock(&h->r->mtx);
	for (size_t i = 0; i < h->r->n && at < 0; i++) {
		const t_got *g = &h->r->got[i];

		if ((h->topic == NULL || strcmp(g->topic, h->topic) == 0) &&
		    (h->type == 0 || g->type == h->type) && (h->seq == 0 || g->seq == h->seq) &&
		    (h->message_id == 0 || g->message_id == h->message_id) &&
		    (h->content == NULL || strcmp(g->content, h->content) == 0))
			at = (long)i;
	}
	pthread_mutex_unlock(&h->r->mtx);
	return at;
}

static bool
t_rec_has_it(void *arg)
{
	return t_rec_find(arg) >= 0;
}

static size_t
t_rec_count(t_rec *r)
{
	size_t n;

	pthread_mutex_lock(&r->mtx);
	n = r->n;
	pthread_mutex_unlock(&r->mtx);
	return n;
}

/* Probes until the recorder has anything. */
static bool
t_rec_probe(pigeon_client *c, t_rec *r, const char *user)
{
	t_rec_has h = {.r = r, .topic = PIGEON_TOPIC_JOURNAL};

	return t_probe_until(c, user, t_rec_has_it, &h);
}

/* One byte as nngcat --quoted prints it: \\n, \\r and \\t, a backslash
 * before " and \\, printable ASCII as itself, anything else \\xHH. */
static const char *
t_nngcat_quoted(unsigned char c, char out[8])
{
	if (c == '\n' || c == '\r' || c == '\t')
		snprintf(out, 8, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
	else if (c == '"' || c == '\\')
		snprintf(out, 8, "\\%c", c);
	else if (isprint(c))
		snprintf(out, 8, "%c", c);
	else
		snprintf(out, 8, "\\x%02x", c);
	return out;
}

static void
test_nngcat_receives_a_login_on_the_journal_topic_within_one_second(void **state)
{
	char log[300], byte[8];
	/* --async: pigeond serves RPCs before its pub socket listens, and a
	 * dial refused at once would end nngcat; this one keeps trying. */
	char *argv[] = {NNGCAT, "--sub", "--async", "--dial", env.pigeond.pub_url, "--subscribe",
		PIGEON_TOPIC_JOURNAL, "--quoted", NULL};
	t_file_has h;
	t_proc cat;
	const char *line;
	char expect[64];
	uint64_t seq;
	int64_t t0, took;

	(void)state;
	snprintf(log, sizeof(log), "%s/nngcat.out", env.dir);
	t_proc_start(&cat, argv, log);
	assert_true(t_probe_file(log, "Alice", "LOGIN: Alice"));
	assert_null(strstr(t_read_file(log), "LOGIN: flain1"));

	t0 = t_now_ms();
	seq = t_login(env.client, "flain1");
	h.path = log;
	h.text = "LOGIN: flain1";
	assert_true(t_wait_for(t_file_holds, &h, 1000));
	took = t_now_ms() - t0;
	t_logout(env.client, "flain1");
	fprintf(stderr, "# nngcat saw LOGIN #%llu after %lld ms\n", (unsigned long long)seq,
	    (long long)took);
	/* --quoted prints each message as a C string on its own line: the
	 * topic, the NUL byte, then the packed Event: field 1 (sequence, one
	 * byte below 128), 2 (type 1, LOGIN), 3 (time), 4 (username, 6 bytes)
	 * and 8 (text, 13 bytes: '\r'). */
	assert_true(seq < 128);
	snprintf(expect, sizeof(expect), "\"event_journal\\x00\\x08%s\\x10\\x01\\x18",
	    t_nngcat_quoted((unsigned char)seq, byte));
	line = t_line_with(t_read_file(log), "LOGIN: flain1");
	assert_non_null(line);
	assert_memory_equal(line, expect, strlen(expect));
	assert_non_null(strstr(line, "\\\"\\x06flain1B\\rLOGIN: flain1\"\n"));
	assert_int_equal(t_proc_stop(&cat, SIGTERM), 128 + SIGTERM);
}

static void
test_subscriber_receives_every_topic_decoded(void **state)
{
	static t_rec rec;
	pigeon_subscribe_opts so = {0};
	pigeon_subscription *sub;
	t_rec_has h = {.r = &rec};
	uint64_t seq, id;
	long at;

	(void)state;
	t_rec_init(&rec);
	so.url = env.pigeond.pub_url;
	assert_int_equal(pigeon_subscribe(&sub, &so, t_record, &rec), PIGEON_OK);
	assert_true(t_rec_probe(env.client, &rec, "Malory"));

	seq = t_login(env.client, "Ilya");
	id = t_send(env.client, "Dizzzmas", "Ilya", "hello Ilya");
	h.topic = PIGEON_TOPIC_JOURNAL;
	h.seq = seq;
	assert_true(t_wait_for(t_rec_has_it, &h, 3000));
	at = t_rec_find(&h);
	assert_int_equal(rec.got[at].type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGIN);
	assert_string_equal(rec.got[at].username, "Ilya");
	assert_string_equal(rec.got[at].text, "LOGIN: Ilya");

	h.seq = 0;
	h.topic = PIGEON_TOPIC_QUEUE;
	h.message_id = id;
	assert_true(t_wait_for(t_rec_has_it, &h, 3000));
	at = t_rec_find(&h);
	assert_int_equal(rec.got[at].type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_QUEUED);
	assert_int_equal(rec.got[at].seq, 0);
	assert_string_equal(rec.got[at].username, "Dizzzmas");
	assert_string_equal(rec.got[at].recipient, "Ilya");

	h.topic = "inbox/Ilya";
	assert_true(t_wait_for(t_rec_has_it, &h, 3000));
	at = t_rec_find(&h);
	assert_int_equal(rec.got[at].type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_DELIVERED);
	assert_string_equal(rec.got[at].username, "Dizzzmas");
	assert_string_equal(rec.got[at].recipient, "Ilya");
	assert_string_equal(rec.got[at].content, "hello Ilya");

	t_logout(env.client, "Ilya");
	pigeon_subscription_close(sub);
	t_rec_fini(&rec);
}

typedef struct t_inbox_probe {
	t_rec_has *h;
	int sent;
} t_inbox_probe;

/* Sends Ilya one more probe message and gives it 500 ms to arrive. */
static bool
t_inbox_probe_once(void *arg)
{
	t_inbox_probe *p = arg;
	char probe[32];

	snprintf(probe, sizeof(probe), "probe %d", p->sent++);
	t_send(env.client, "Alice", "Ilya", probe);
	return t_wait_for(t_rec_has_it, p->h, 500);
}

static void
test_inbox_subscriber_gets_only_its_own_messages(void **state)
{
	static t_rec rec;
	const char *topics[] = {"inbox/Ilya", NULL};
	Pigeon__V1__RegisterUserRequest rreq = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	Pigeon__V1__RegisterUserReply *rrep;
	pigeon_subscribe_opts so = {0};
	pigeon_subscription *sub;
	t_rec_has h = {.r = &rec, .topic = "inbox/Ilya"};
	t_inbox_probe probe = {&h, 0};
	uint64_t id;
	size_t first;

	(void)state;
	rreq.username = "Ilya2";
	assert_int_equal(pigeon_register_user(env.client, &rreq, &rrep, NULL), PIGEON_OK);
	pigeon_reply_free(rrep);
	t_rec_init(&rec);
	so.url = env.pigeond.pub_url;
	so.topics = topics;
	assert_int_equal(pigeon_subscribe(&sub, &so, t_record, &rec), PIGEON_OK);
	assert_true(t_wait_every(t_inbox_probe_once, &probe, 0, 10000));
	first = t_rec_count(&rec);

	t_send(env.client, "Malory", "Ilya2", "for Ilya2");
	t_send(env.client, "Malory", "Alice", "for Alice");
	id = t_send(env.client, "Malory", "Ilya", "for Ilya");
	h.message_id = id;
	assert_true(t_wait_for(t_rec_has_it, &h, 3000));
	/* One pub connection delivers in order: the others, had they been
	 * sent here, would have come first. */
	assert_int_equal(t_rec_count(&rec), first + 1);
	assert_string_equal(rec.got[first].topic, "inbox/Ilya");
	assert_string_equal(rec.got[first].recipient, "Ilya");
	assert_string_equal(rec.got[first].content, "for Ilya");
	for (size_t i = 0; i < first; i++)
		assert_string_equal(rec.got[i].recipient, "Ilya");
	pigeon_subscription_close(sub);
	t_rec_fini(&rec);
}

/* Reads everything queued on a raw sub socket: seqs of journal events. */
static size_t
t_raw_drain(nng_socket s, uint64_t *seqs, size_t max)
{
	size_t n = 0;

	for (;;) {
		size_t tl;
		Pigeon__V1__Event *ev;
		nng_msg *m;

		if (nng_recvmsg(s, &m, 0) != 0)
			return n;
		assert_int_equal(
		    pigeon_event_decode(nng_msg_body(m), nng_msg_len(m), &tl, &ev), PIGEON_OK);
		assert_int_equal(tl, strlen(PIGEON_TOPIC_JOURNAL));
		if (n < max)
			seqs[n++] = ev->sequence;
		pigeon_reply_free(ev);
		nng_msg_free(m);
	}
}

typedef struct t_raw {
	nng_socket s;
	uint64_t *seqs;
	size_t max;
	size_t n;
	size_t want;
} t_raw;

/* Drains more of the socket into seqs; true once want events have come. */
static bool
t_raw_has(void *arg)
{
	t_raw *r = arg;

	r->n += t_raw_drain(r->s, r->seqs + r->n, r->max - r->n);
	return r->n >= r->want;
}

static void
test_relay_republishes_what_it_missed_while_redis_subscription_was_down(void **state)
{
	nng_socket raw;
	redisContext *rc;
	redisReply *r;
	uint64_t seqs[64], base, last = 0;
	char expect[128];
	t_file_has h = {env.pigeond.proc.log, expect};
	t_raw probe = {.seqs = seqs, .max = 64, .want = 1}, tail = {.seqs = seqs, .max = 64};
	size_t n;

	(void)state;
	assert_int_equal(nng_sub0_open(&raw), 0);
	assert_int_equal(nng_socket_set_size(raw, NNG_OPT_RECVMAXSZ, 65536), 0);
	assert_int_equal(nng_socket_set_int(raw, NNG_OPT_RECVBUF, 1024), 0);
	assert_int_equal(nng_socket_set_ms(raw, NNG_OPT_RECVTIMEO, 300), 0);
	assert_int_equal(nng_socket_set(raw, NNG_OPT_SUB_SUBSCRIBE, "event_journal", 14), 0);
	assert_int_equal(nng_dial(raw, env.pigeond.pub_url, NULL, NNG_FLAG_NONBLOCK), 0);
	probe.s = raw;
	t_probe_until(env.client, "Malory", t_raw_has, &probe);
	t_raw_drain(raw, seqs, 64);
	base = t_login(env.client, "Dizzzmas");
	assert_int_equal(t_logout(env.client, "Dizzzmas"), base + 1);
	n = t_raw_drain(raw, seqs, 64);
	assert_int_equal(n, 2);
	assert_int_equal(seqs[0], base);
	assert_int_equal(seqs[1], base + 1);

	/* The relay's subscription dies and cannot come back while Redis
	 * wants a password; the connections already made stay usable. */
	assert_non_null(rc = redisConnect("127.0.0.1", env.redis.port));
	assert_int_equal(rc->err, 0);
	assert_non_null(r = redisCommand(rc, "CONFIG SET requirepass %s", "relay-test"));
	freeReplyObject(r);
	assert_non_null(r = redisCommand(rc, "CLIENT KILL TYPE pubsub"));
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_int_equal(r->integer, 1);
	freeReplyObject(r);
	for (int i = 0; i < 5; i++) {
		t_login(env.client, "Dizzzmas");
		last = t_logout(env.client, "Dizzzmas");
	}
	assert_int_equal(last, base + 11);
	assert_int_equal(t_raw_drain(raw, seqs, 64), 0);
	assert_non_null(r = redisCommand(rc, "CONFIG SET requirepass %s", ""));
	freeReplyObject(r);
	redisFree(rc);

	snprintf(expect, sizeof(expect),
	    "info events: republished from the journal after=%llu last=%llu",
	    (unsigned long long)(base + 1), (unsigned long long)last);
	assert_true(t_wait_for(t_file_holds, &h, 5000));
	last = t_login(env.client, "Dizzzmas");
	assert_int_equal(last, base + 12);
	t_logout(env.client, "Dizzzmas");
	tail.s = raw;
	tail.want = 12;
	t_wait_every(t_raw_has, &tail, 0, 3000);
	n = tail.n;
	assert_int_equal(n, 12);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seqs[i], base + 2 + i);
	nng_close(raw);
}

typedef struct t_seq_reached {
	t_rec *r;
	uint64_t seq;
} t_seq_reached;

static bool
t_rec_reached(void *arg)
{
	t_seq_reached *s = arg;
	bool yes;

	pthread_mutex_lock(&s->r->mtx);
	yes = s->r->n > 0 && s->r->got[s->r->n - 1].seq >= s->seq;
	pthread_mutex_unlock(&s->r->mtx);
	return yes;
}

static bool
t_rec_blocked(void *arg)
{
	t_rec *r = arg;
	bool yes;

	pthread_mutex_lock(&r->mtx);
	yes = r->blocked;
	pthread_mutex_unlock(&r->mtx);
	return yes;
}

/* n logins and logouts (2n journal events); returns the last sequence. */
static uint64_t
t_churn(pigeon_client *c, const char *user, int n)
{
	uint64_t last = 0;

	for (int i = 0; i < n; i++) {
		t_login(c, user);
		last = t_logout(c, user);
	}
	return last;
}

static void
test_gap_filling_subscriber_sees_every_journal_event_once_in_order(void **state)
{
	static t_rec rec;
	const char *topics[] = {PIGEON_TOPIC_JOURNAL, NULL};
	const char *rpc_only[] = {"--role", "rpc", NULL};
	char pub_url[64], expect[64];
	const char *relay_args[] = {"--role", "events", "--pub-url", pub_url, NULL};
	/* A Redis and pigeond of its own, whose events role it kills. */
	t_env_opts ro = {.tag = "relay", .pigeond_args = rpc_only, .client = true,
	    .client_deadline_ms = 3000};
	t_env renv = {0};
	t_proc relay;
	pigeon_client *c;
	pigeon_subscribe_opts so = {0};
	pigeon_subscription *sub;
	nng_socket raw;
	uint64_t raw_seqs[64], first, last;
	t_seq_reached reach = {&rec, 0};
	t_file_has ready;
	size_t raw_n, n;

	(void)state;
	t_env_start(&renv, &ro);
	c = renv.client;
	snprintf(pub_url, sizeof(pub_url), "tcp://127.0.0.1:%d", t_free_port());
	t_env_role_start(&renv, &relay, "events1", relay_args);

	t_rec_init(&rec);
	so.url = pub_url;
	so.topics = topics;
	so.gap_fill = c;
	so.recv_buf = 2;
	assert_int_equal(pigeon_subscribe(&sub, &so, t_record, &rec), PIGEON_OK);
	/* The same small buffer on a socket nobody reads shows what nng drops. */
	assert_int_equal(nng_sub0_open(&raw), 0);
	assert_int_equal(nng_socket_set_size(raw, NNG_OPT_RECVMAXSZ, 65536), 0);
	assert_int_equal(nng_socket_set_int(raw, NNG_OPT_RECVBUF, 2), 0);
	assert_int_equal(nng_socket_set_ms(raw, NNG_OPT_RECVTIMEO, 300), 0);
	assert_int_equal(nng_socket_set(raw, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
	assert_int_equal(nng_dial(raw, pub_url, NULL, NNG_FLAG_NONBLOCK), 0);
	assert_true(t_rec_probe(c, &rec, "Alice"));
	first = rec.got[0].seq;

	/* A stream: 100 events read as they come, 100 while the callback is
	 * blocked, 60 while the events role is dead, 100 after its restart
	 * still blocked, then 40 with the callback running again. */
	t_churn(c, "flain1", 50);
	t_rec_pause(&rec, true);
	t_login(c, "flain1");
	assert_true(t_wait_for(t_rec_blocked, &rec, 3000));
	t_logout(c, "flain1");
	t_churn(c, "flain1", 49);
	assert_int_equal(t_proc_stop(&relay, SIGKILL), 128 + SIGKILL);
	t_churn(c, "flain1", 30);
	t_env_role_start(&renv, &relay, "events2", relay_args);
	snprintf(expect, sizeof(expect), "info events: relaying last=");
	ready.path = relay.log;
	ready.text = expect;
	assert_true(t_wait_for(t_file_holds, &ready, 5000));
	t_churn(c, "flain1", 50);
	t_rec_pause(&rec, false);
	last = t_churn(c, "flain1", 20);

	reach.seq = last;
	assert_true(t_wait_for(t_rec_reached, &reach, 10000));
	n = t_rec_count(&rec);
	fprintf(stderr, "# gap filling: %zu journal events #%llu..#%llu\n", n,
	    (unsigned long long)first, (unsigned long long)last);
	assert_int_equal(n, last - first + 1);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rec.got[i].seq, first + i);
		assert_string_equal(rec.got[i].topic, PIGEON_TOPIC_JOURNAL);
		if (i > 0)
			assert_int_not_equal(rec.got[i].type, rec.got[i - 1].type);
	}
	assert_string_equal(rec.got[n - 1].text, "LOGOUT: flain1");
	raw_n = t_raw_drain(raw, raw_seqs, 64);
	fprintf(stderr, "# the unread socket kept %zu of %zu events\n", raw_n, n);
	assert_true(raw_n < 64);

	nng_close(raw);
	pigeon_subscription_close(sub);
	t_rec_fini(&rec);
	assert_int_equal(t_proc_stop(&relay, SIGTERM), 0);
	assert_int_equal(t_env_stop(&renv), 0);
}

static json_t *
t_json_line_with(const char *text, const char *needle)
{
	const char *start = t_line_with(text, needle), *end;

	if (start == NULL)
		return NULL;
	end = strchr(start, '\n');
	return json_loadb(start, end != NULL ? (size_t)(end - start) : strlen(start), 0, NULL);
}

static void
test_cli_watch_prints_a_login(void **state)
{
	const char *cli = getenv("PIGEON_CLI");
	char jlog[300], tlog[300], line[128], when[16];
	char *jargv[] = {(char *)cli, "--url", env.pigeond.rpc_url, "--pub-url", env.pigeond.pub_url,
		"watch", "--json", NULL};
	char *targv[] = {(char *)cli, "--url", env.pigeond.rpc_url, "--pub-url", env.pigeond.pub_url,
		"watch", "--topic", PIGEON_TOPIC_JOURNAL, "--user", "flain1", NULL};
	t_proc jw, tw;
	t_file_has h;
	json_t *o;
	uint64_t seq;
	int64_t time_ms;
	time_t t;
	struct tm tm;

	(void)state;
	assert_non_null(cli);
	snprintf(jlog, sizeof(jlog), "%s/watch-json.out", env.dir);
	snprintf(tlog, sizeof(tlog), "%s/watch-text.out", env.dir);
	t_proc_start(&jw, jargv, jlog);
	t_proc_start(&tw, targv, tlog);
	assert_true(t_probe_file(jlog, "Malory", "\"text\":\"LOGIN: Malory\""));
	/* --user flain1 shows none of Malory's, so probe it with flain1. */
	assert_true(t_probe_file(tlog, "flain1", " LOGIN flain1\n"));

	seq = t_login(env.client, "flain1");
	snprintf(line, sizeof(line), "\"sequence\":%llu,", (unsigned long long)seq);
	h.path = jlog;
	h.text = line;
	assert_true(t_wait_for(t_file_holds, &h, 2000));
	assert_non_null(o = t_json_line_with(t_read_file(jlog), line));
	assert_int_equal(json_object_size(o), 6);
	assert_string_equal(json_string_value(json_object_get(o, "topic")), "event_journal");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "LOGIN");
	assert_int_equal(json_integer_value(json_object_get(o, "sequence")), seq);
	assert_string_equal(json_string_value(json_object_get(o, "username")), "flain1");
	assert_string_equal(json_string_value(json_object_get(o, "text")), "LOGIN: flain1");
	time_ms = json_integer_value(json_object_get(o, "time_ms"));
	json_decref(o);

	t = (time_t)(time_ms / 1000);
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	snprintf(line, sizeof(line), "#%llu %s LOGIN flain1\n", (unsigned long long)seq, when);
	h.path = tlog;
	assert_true(t_wait_for(t_file_holds, &h, 2000));
	t_logout(env.client, "flain1");
	assert_int_equal(t_proc_stop(&jw, SIGTERM), 0);
	assert_int_equal(t_proc_stop(&tw, SIGTERM), 0);
	assert_null(strstr(t_read_file(tlog), "Malory"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nngcat_receives_a_login_on_the_journal_topic_within_one_second),
		cmocka_unit_test(test_subscriber_receives_every_topic_decoded),
		cmocka_unit_test(test_inbox_subscriber_gets_only_its_own_messages),
		cmocka_unit_test(
		    test_relay_republishes_what_it_missed_while_redis_subscription_was_down),
		cmocka_unit_test(test_gap_filling_subscriber_sees_every_journal_event_once_in_order),
		cmocka_unit_test(test_cli_watch_prints_a_login),
	};

	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
