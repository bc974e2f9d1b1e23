/* SPDX-License-Identifier: MIT */
/*
 * pigeon-bench: drives pigeond over RPC with a fixed number of requests in
 * flight, for a duration or a count, and reports throughput, latency
 * quantiles and failures by status (docs/performance.md).  Each request slot
 * is one nng context on one req socket, driven by its aio callback; by default
 * requests are packed straight into nng messages with the envelope codec
 * (--api raw), so what is measured is the server, not libpigeon, which
 * --api lib measures instead through pigeon_call_async.  --serve-echo runs
 * the transport anchor: a rep server that answers every request with its own
 * bytes, which `--mode echo` drives.  Setup calls (registering and logging in
 * the bench users, reading counters for drain) use libpigeon's synchronous
 * calls.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <pigeon/pigeon.h>
#include <pigeon/v1/envelope.pb-c.h>

#include "hist.h"
#include "spam.h"
#include "spam_bench.h"
#include "opts.h"
#include "clocks.h"
#include "errors.h"

#define BENCH_DEADLINE_MS 5000
#define BENCH_USER_MAX 32
#define BENCH_CONTENT_MAX 4096
#define BENCH_REQ_MAX (BENCH_CONTENT_MAX + 512)
/* Failures that never reached pigeond's status: counted apart. */
#define BENCH_TRANSPORT PIGEON_STATUS_COUNT

typedef enum bench_op {
	OP_SEND,
	OP_STATS,
	OP_INBOX,
	OP_ONLINE,
	OP_SPAMMERS,
	OP_CHATTERS,
	OP_JOURNAL,
	OP_HEALTH,
	OP_ECHO,
	OP_COUNT,
} bench_op;

/* The read RPCs, in the order "reads" and "mixed" rotate through them. */
static const bench_op read_ops[] = {
    OP_STATS, OP_INBOX, OP_ONLINE, OP_SPAMMERS, OP_CHATTERS, OP_JOURNAL, OP_HEALTH};
#define READ_OPS (sizeof(read_ops) / sizeof(read_ops[0]))

static const struct {
	const char *mode;
	const char *method;
} op_names[OP_COUNT] = {
    [OP_SEND] = {"send", "SendMessage"},
    [OP_STATS] = {"stats", "GetUserStats"},
    [OP_INBOX] = {"inbox", "ListInboundMessages"},
    [OP_ONLINE] = {"online", "ListOnlineUsers"},
    [OP_SPAMMERS] = {"spammers", "GetSpammerStats"},
    [OP_CHATTERS] = {"chatters", "GetChatterStats"},
    [OP_JOURNAL] = {"journal", "GetEventJournal"},
    [OP_HEALTH] = {"health", "Health"},
    [OP_ECHO] = {"echo", "Health"},
};

typedef struct bench bench;

typedef struct slot {
	bench *b;
	unsigned index;
	nng_ctx ctx;
	nng_aio *aio;
	bool receiving;
	bool active;
	/* --api lib: the thread inside pigeon_call_async, to tell a completion
	 * run before it returned (only UNAVAILABLE does that) from a real one. */
	pthread_t issuer;
	bool issuing;
	bool sync_failed;
	int64_t started_us;
	uint64_t n;
	hist h;
	uint64_t by_status[PIGEON_STATUS_COUNT + 1];
} slot;

struct bench {
	const char *url;
	const char *mode;
	bool lib;
	unsigned inflight;
	uint64_t duration_s;
	uint64_t count;
	unsigned nusers;
	size_t content_len;
	bool quiet;

	nng_socket sock;
	pigeon_client *client;
	uint64_t client_id;
	atomic_uint_fast64_t next_request;
	char (*users)[BENCH_USER_MAX];
	char content[BENCH_CONTENT_MAX + 1];
	/* --login: the session token every request carries, or "". */
	char token[PIGEON_TOKEN_MAX + 1];

	/* The current run. */
	bench_op op;
	bool mixed;
	bool reads;
	slot *slots;
	atomic_bool stop;
	atomic_uint_fast64_t issued;
	atomic_uint_fast64_t done;
	atomic_uint_fast64_t failed;
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	unsigned active;
};

typedef struct run_result {
	double seconds;
	hist h;
	uint64_t by_status[PIGEON_STATUS_COUNT + 1];
	uint64_t ok;
	uint64_t failed;
} run_result;

static int64_t
mono_us(void)
{
	return clocks_mono_us();
}

static const char *
status_label(unsigned i)
{
	return i == BENCH_TRANSPORT ? "TRANSPORT" : pigeon_status_name((pigeon_status)i);
}

/* Which RPC the slot's n-th request is: fixed by the mode, rotating through
 * the reads for "reads", and 3 sends in every 10 requests for "mixed". */
static bench_op
slot_op(const slot *s)
{
	const bench *b = s->b;
	uint64_t k = s->n + s->index;

	if (b->mixed) {
		if (k % 10 < 3)
			return OP_SEND;
		return read_ops[(k / 10 + k) % READ_OPS];
	}
	if (b->reads)
		return read_ops[k % READ_OPS];
	return b->op;
}

/* Packs the request of `op` for the slot's n-th call into buf; returns its
 * length, or 0 if it does not fit.  Also hands back the message for the
 * library path. */
typedef union any_request {
	ProtobufCMessage base;
	Pigeon__V1__SendMessageRequest send;
	Pigeon__V1__GetUserStatsRequest stats;
	Pigeon__V1__ListInboundMessagesRequest inbox;
	Pigeon__V1__ListOnlineUsersRequest online;
	Pigeon__V1__LeaderboardRequest board;
	Pigeon__V1__GetEventJournalRequest journal;
	Pigeon__V1__HealthRequest health;
} any_request;

static void
request_build(const bench *b, bench_op op, uint64_t k, any_request *r)
{
	const char *user = b->users[k % b->nusers];

	switch (op) {
	case OP_SEND:
		pigeon__v1__send_message_request__init(&r->send);
		r->send.sender = (char *)user;
		r->send.recipient = (char *)b->users[(k + 1) % b->nusers];
		r->send.content = (char *)b->content;
		break;
	case OP_STATS:
		pigeon__v1__get_user_stats_request__init(&r->stats);
		r->stats.username = (char *)user;
		break;
	case OP_INBOX:
		pigeon__v1__list_inbound_messages_request__init(&r->inbox);
		r->inbox.username = (char *)user;
		r->inbox.page_size = 10;
		break;
	case OP_ONLINE:
		pigeon__v1__list_online_users_request__init(&r->online);
		r->online.page_size = 50;
		break;
	case OP_SPAMMERS:
	case OP_CHATTERS:
		pigeon__v1__leaderboard_request__init(&r->board);
		r->board.limit = 10;
		break;
	case OP_JOURNAL:
		pigeon__v1__get_event_journal_request__init(&r->journal);
		r->journal.page_size = 10;
		break;
	case OP_HEALTH:
	case OP_ECHO:
	case OP_COUNT:
		pigeon__v1__health_request__init(&r->health);
		break;
	}
}

/* One request as an nng message: the envelope packed straight into the
 * message body, the payload from a stack buffer. */
static int
request_msg(bench *b, bench_op op, uint64_t k, nng_msg **out)
{
	Pigeon__V1__RequestEnvelope env = PIGEON__V1__REQUEST_ENVELOPE__INIT;
	uint8_t payload[BENCH_REQ_MAX];
	any_request r;
	size_t len;
	nng_msg *msg;
	int err;

	request_build(b, op, k, &r);
	if (protobuf_c_message_get_packed_size(&r.base) > sizeof(payload))
		return NNG_EMSGSIZE;
	env.method = (char *)op_names[op].method;
	env.client_id = b->client_id;
	env.request_id = atomic_fetch_add(&b->next_request, 1);
	env.deadline_ms = clocks_wall_ms() + BENCH_DEADLINE_MS;
	env.token = b->token;
	env.payload.data = payload;
	env.payload.len = protobuf_c_message_pack(&r.base, payload);
	len = pigeon__v1__request_envelope__get_packed_size(&env);
	if ((err = nng_msg_alloc(&msg, len)) != 0)
		return err;
	pigeon__v1__request_envelope__pack(&env, nng_msg_body(msg));
	*out = msg;
	return 0;
}

static void
slot_finish(slot *s)
{
	bench *b = s->b;

	pthread_mutex_lock(&b->mtx);
	s->active = false;
	if (--b->active == 0)
		pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->mtx);
}

static void
slot_record(slot *s, unsigned st)
{
	bench *b = s->b;

	hist_add(&s->h, (uint64_t)(mono_us() - s->started_us));
	s->by_status[st]++;
	s->n++;
	atomic_fetch_add(&b->done, 1);
	if (st != PIGEON_OK)
		atomic_fetch_add(&b->failed, 1);
}

/* May the slot start another request?  Counts it if so. */
static bool
slot_may_issue(slot *s)
{
	bench *b = s->b;

	if (atomic_load(&b->stop))
		return false;
	if (b->count > 0 && atomic_fetch_add(&b->issued, 1) >= b->count)
		return false;
	return true;
}

static void lib_issue(slot *s);

static void
lib_done(pigeon_status st, const char *message, const ProtobufCMessage *reply, void *arg)
{
	slot *s = arg;

	(void)message;
	(void)reply;
	slot_record(s, st < PIGEON_STATUS_COUNT ? st : PIGEON_UNKNOWN);
	if (s->issuing && pthread_equal(s->issuer, pthread_self())) {
		s->sync_failed = true;
		return;
	}
	lib_issue(s);
}

static void
lib_issue(slot *s)
{
	bench *b = s->b;
	any_request r;
	bench_op op;
	pigeon_status rv;

	if (!slot_may_issue(s)) {
		slot_finish(s);
		return;
	}
	op = slot_op(s);
	request_build(b, op, s->n + s->index, &r);
	s->issuer = pthread_self();
	s->issuing = true;
	s->sync_failed = false;
	s->started_us = mono_us();
	rv = pigeon_call_async(b->client, op_names[op].method, &r.base, 0, lib_done, s);
	s->issuing = false;
	if (rv != PIGEON_OK) {
		slot_record(s, rv);
		slot_finish(s);
	} else if (s->sync_failed) {
		/* pigeond unreachable: stop this slot rather than spin. */
		slot_finish(s);
	}
}

static void
raw_issue(slot *s)
{
	bench *b = s->b;
	nng_msg *msg;
	int err;

	for (;;) {
		if (!slot_may_issue(s)) {
			slot_finish(s);
			return;
		}
		s->started_us = mono_us();
		if ((err = request_msg(b, slot_op(s), s->n + s->index, &msg)) == 0)
			break;
		slot_record(s, BENCH_TRANSPORT);
	}
	s->receiving = false;
	nng_aio_set_msg(s->aio, msg);
	nng_aio_set_timeout(s->aio, BENCH_DEADLINE_MS);
	nng_ctx_send(s->ctx, s->aio);
}

static unsigned
reply_status(nng_msg *msg)
{
	Pigeon__V1__ReplyEnvelope *env;
	unsigned st;

	env = pigeon__v1__reply_envelope__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	if (env == NULL)
		return PIGEON_INTERNAL;
	st = env->status < PIGEON_STATUS_COUNT ? env->status : PIGEON_UNKNOWN;
	pigeon__v1__reply_envelope__free_unpacked(env, NULL);
	return st;
}

static void
raw_cb(void *arg)
{
	slot *s = arg;
	int err = nng_aio_result(s->aio);
	nng_msg *msg;
	unsigned st;

	if (err != 0) {
		if (!s->receiving)
			nng_msg_free(nng_aio_get_msg(s->aio));
		st = status_from_nng(err);
		slot_record(s, st == PIGEON_UNAVAILABLE ? BENCH_TRANSPORT : st);
		if (err == NNG_ECLOSED) {
			slot_finish(s);
			return;
		}
		raw_issue(s);
		return;
	}
	if (!s->receiving) {
		s->receiving = true;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	msg = nng_aio_get_msg(s->aio);
	st = s->b->op == OP_ECHO ? PIGEON_OK : reply_status(msg);
	nng_msg_free(msg);
	slot_record(s, st);
	raw_issue(s);
}

static void
progress(const bench *b, int64_t t0, uint64_t *last_done)
{
	uint64_t done = atomic_load(&b->done);

	if (!b->quiet)
		fprintf(stderr, "[%4.0fs] %8" PRIu64 " req/s  total %" PRIu64 "  failed %" PRIu64 "\n",
		    (double)(mono_us() - t0) / 1e6, done - *last_done, done,
		    (uint64_t)atomic_load(&b->failed));
	*last_done = done;
}

/* Runs `op` (or the rotation of the mode) with b->inflight slots until the
 * duration passes or `count` requests (0: no limit) are done. */
static int
bench_run(bench *b, bench_op op, uint64_t count, uint64_t duration_s, run_result *res)
{
	struct timespec ts;
	uint64_t last = 0;
	int64_t t0, end, next_tick;
	unsigned i;

	memset(res, 0, sizeof(*res));
	b->op = op;
	b->count = count;
	atomic_store(&b->stop, false);
	atomic_store(&b->issued, 0);
	atomic_store(&b->done, 0);
	atomic_store(&b->failed, 0);
	if ((b->slots = calloc(b->inflight, sizeof(*b->slots))) == NULL)
		return 1;
	for (i = 0; i < b->inflight; i++) {
		slot *s = &b->slots[i];

		s->b = b;
		s->index = i;
		if (!b->lib && (nng_aio_alloc(&s->aio, raw_cb, s) != 0 ||
				   nng_ctx_open(&s->ctx, b->sock) != 0)) {
			fprintf(stderr, "pigeon-bench: cannot open %u nng contexts\n", b->inflight);
			return 1;
		}
	}
	b->active = b->inflight;
	t0 = mono_us();
	end = count > 0 ? INT64_MAX : t0 + (int64_t)duration_s * 1000000;
	for (i = 0; i < b->inflight; i++) {
		b->slots[i].active = true;
		if (b->lib)
			lib_issue(&b->slots[i]);
		else
			raw_issue(&b->slots[i]);
	}
	next_tick = t0 + 1000000;
	pthread_mutex_lock(&b->mtx);
	while (b->active > 0) {
		int64_t now = mono_us(), wake = next_tick < end ? next_tick : end;

		if (now >= end && !atomic_load(&b->stop))
			atomic_store(&b->stop, true);
		if (now >= next_tick) {
			progress(b, t0, &last);
			next_tick += 1000000;
			continue;
		}
		if (atomic_load(&b->stop))
			wake = now + 100000;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (wake - now) / 1000000;
		ts.tv_nsec += ((wake - now) % 1000000) * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&b->idle, &b->mtx, &ts);
	}
	pthread_mutex_unlock(&b->mtx);
	res->seconds = (double)(mono_us() - t0) / 1e6;
	for (i = 0; i < b->inflight; i++) {
		slot *s = &b->slots[i];

		hist_merge(&res->h, &s->h);
		for (unsigned k = 0; k <= PIGEON_STATUS_COUNT; k++)
			res->by_status[k] += s->by_status[k];
		if (!b->lib) {
			nng_ctx_close(s->ctx);
			nng_aio_free(s->aio);
		}
	}
	res->ok = res->by_status[PIGEON_OK];
	res->failed = res->h.count - res->ok;
	free(b->slots);
	b->slots = NULL;
	return 0;
}

static void
print_result(const bench *b, const char *mode, const run_result *r, bool json, FILE *f)
{
	double rate = r->seconds > 0 ? (double)r->ok / r->seconds : 0;
	bool first = true;

	if (json) {
		fprintf(f,
		    "{\"mode\": \"%s\", \"url\": \"%s\", \"api\": \"%s\", \"inflight\": %u, "
		    "\"seconds\": %.3f, \"requests\": %" PRIu64 ", \"ok\": %" PRIu64
		    ", \"failed\": %" PRIu64 ", \"rate\": %.1f, \"latency_us\": {\"p50\": %" PRIu64
		    ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64 ", \"p999\": %" PRIu64
		    ", \"max\": %" PRIu64 ", \"mean\": %.1f}, \"failures\": {",
		    mode, b->url, b->lib ? "lib" : "raw", b->inflight, r->seconds, r->h.count, r->ok,
		    r->failed, rate, hist_quantile(&r->h, 0.5), hist_quantile(&r->h, 0.9),
		    hist_quantile(&r->h, 0.99), hist_quantile(&r->h, 0.999), r->h.max_us,
		    r->h.count ? (double)r->h.sum_us / (double)r->h.count : 0.0);
		for (unsigned k = 1; k <= PIGEON_STATUS_COUNT; k++) {
			if (r->by_status[k] == 0)
				continue;
			fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ", status_label(k),
			    r->by_status[k]);
			first = false;
		}
		fprintf(f, "}}");
		return;
	}
	fprintf(f, "%s over %s, %u in flight (%s): %" PRIu64 " ok in %.2f s = %.0f/s\n", mode,
	    b->url, b->inflight, b->lib ? "libpigeon" : "raw contexts", r->ok, r->seconds, rate);
	fprintf(f, "latency us: p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64 "  p999 %" PRIu64
		   "  max %" PRIu64 "\n",
	    hist_quantile(&r->h, 0.5), hist_quantile(&r->h, 0.9), hist_quantile(&r->h, 0.99),
	    hist_quantile(&r->h, 0.999), r->h.max_us);
	fprintf(f, "failures: %" PRIu64, r->failed);
	for (unsigned k = 1; k <= PIGEON_STATUS_COUNT; k++)
		if (r->by_status[k] > 0)
			fprintf(f, "  %s %" PRIu64, status_label(k), r->by_status[k]);
	fprintf(f, "\n");
}

/* Registers the bench users (existing ones are fine) and logs them in, so
 * that every read has something to read. */
static int
bench_setup_users(bench *b)
{
	Pigeon__V1__RegisterUserRequest reg = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	Pigeon__V1__LoginRequest login = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__RegisterUserReply *rr;
	Pigeon__V1__LoginReply *lr;
	pigeon_error err;
	pigeon_status st;

	for (unsigned i = 0; i < b->nusers; i++) {
		reg.username = b->users[i];
		st = pigeon_register_user(b->client, &reg, &rr, &err);
		if (st == PIGEON_OK)
			pigeon_reply_free(rr);
		else if (st != PIGEON_ALREADY_EXISTS)
			goto fail;
		login.username = b->users[i];
		st = pigeon_login(b->client, &login, &lr, &err);
		if (st == PIGEON_OK)
			pigeon_reply_free(lr);
		else if (st != PIGEON_ALREADY_EXISTS)
			goto fail;
	}
	return 0;

fail:
	fprintf(stderr, "pigeon-bench: setting up user %s failed: %s: %s\n", reg.username,
	    pigeon_status_name(err.code), err.message);
	return 1;
}

/* --login NAME with the password of --password-file: logs in against a
 * pigeond run with --auth required, and every request then carries the
 * token (as NAME: an admin, to act for the bench users). */
static int
bench_login(bench *b, const char *name, const char *password_file)
{
	Pigeon__V1__LoginRequest login = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *lr;
	pigeon_error err;
	char pw[1100] = "";
	FILE *f;

	if (password_file == NULL || (f = fopen(password_file, "r")) == NULL) {
		fprintf(stderr, "pigeon-bench: --login needs a readable --password-file\n");
		return 1;
	}
	if (fgets(pw, sizeof(pw), f) == NULL)
		pw[0] = '\0';
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	login.username = (char *)name;
	login.password = pw;
	if (pigeon_login(b->client, &login, &lr, &err) != PIGEON_OK) {
		fprintf(stderr, "pigeon-bench: login of %s failed: %s: %s\n", name,
		    pigeon_status_name(err.code), err.message);
		return 1;
	}
	snprintf(b->token, sizeof(b->token), "%s", lr->token);
	pigeon_reply_free(lr);
	return pigeon_client_set_token(b->client, b->token) == PIGEON_OK ? 0 : 1;
}

/* The bench users' sent messages by state, summed. */
typedef struct state_sums {
	uint64_t enqueued, checking, delivered, spam;
} state_sums;

static int
bench_sums(bench *b, state_sums *out)
{
	Pigeon__V1__GetUserStatsRequest req = PIGEON__V1__GET_USER_STATS_REQUEST__INIT;
	Pigeon__V1__UserStats *rep;
	pigeon_error err;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < b->nusers; i++) {
		req.username = b->users[i];
		if (pigeon_get_user_stats(b->client, &req, &rep, &err) != PIGEON_OK) {
			fprintf(stderr, "pigeon-bench: GetUserStats failed: %s\n", err.message);
			return 1;
		}
		out->enqueued += rep->enqueued;
		out->checking += rep->being_spam_checked;
		out->delivered += rep->delivered;
		out->spam += rep->marked_as_spam;
		pigeon_reply_free(rep);
	}
	return 0;
}

static int
bench_queue(bench *b, uint64_t *waiting, uint64_t *pending)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	pigeon_error err;

	if (pigeon_health(b->client, &req, &rep, &err) != PIGEON_OK) {
		fprintf(stderr, "pigeon-bench: Health failed: %s\n", err.message);
		return 1;
	}
	*waiting = rep->queue_depth;
	*pending = rep->queue_pending;
	pigeon_reply_free(rep);
	return 0;
}

static void
sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Waits until pigeond's Health reports an empty queue (nothing waiting,
 * nothing held by a worker), up to timeout_s. */
static int
bench_wait_queue(bench *b, uint64_t timeout_s)
{
	int64_t give_up = mono_us() + (int64_t)timeout_s * 1000000;
	uint64_t waiting, pending;

	for (;;) {
		if (bench_queue(b, &waiting, &pending) != 0)
			return 1;
		if (waiting + pending == 0)
			return 0;
		if (mono_us() > give_up) {
			fprintf(stderr, "pigeon-bench: queue not empty after %" PRIu64 " s\n",
			    timeout_s);
			return 1;
		}
		sleep_us(10000);
	}
}

/* Drain: queues `backlog` messages, then (after starting workers_cmd, if
 * given) times the workers from the first message they take until the
 * queue is empty.  The rate counts messages that reached delivered or spam
 * in that time. */
static int
bench_drain(bench *b, uint64_t backlog, const char *workers_cmd, uint64_t timeout_s, bool json)
{
	run_result pre;
	state_sums s0, s1;
	uint64_t waiting, pending, start_depth, done;
	int64_t t0 = 0, t1, give_up;
	pid_t pid = -1;
	double secs, rate;
	int rc = 1;

	if (bench_run(b, OP_SEND, backlog, 0, &pre) != 0)
		return 1;
	if (!b->quiet)
		print_result(b, "drain preload (send)", &pre, false, stderr);
	if (pre.failed > 0) {
		fprintf(stderr, "pigeon-bench: %" PRIu64 " sends of the preload failed\n",
		    pre.failed);
		return 1;
	}
	if (bench_queue(b, &waiting, &pending) != 0)
		return 1;
	start_depth = waiting + pending;
	if (workers_cmd != NULL) {
		if ((pid = fork()) < 0) {
			perror("pigeon-bench: fork");
			return 1;
		}
		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", workers_cmd, (char *)NULL);
			_exit(127);
		}
	}
	give_up = mono_us() + (int64_t)timeout_s * 1000000;
	/* The clock starts when the workers take their first message. */
	for (;;) {
		if (bench_queue(b, &waiting, &pending) != 0)
			goto out;
		if (pending > 0 || waiting + pending < start_depth || waiting + pending == 0)
			break;
		if (mono_us() > give_up) {
			fprintf(stderr, "pigeon-bench: no worker took a message\n");
			goto out;
		}
		sleep_us(1000);
	}
	t0 = mono_us();
	if (bench_sums(b, &s0) != 0)
		goto out;
	for (int64_t tick = t0 + 1000000;;) {
		if (bench_queue(b, &waiting, &pending) != 0)
			goto out;
		if (waiting + pending == 0)
			break;
		if (mono_us() > give_up) {
			fprintf(stderr, "pigeon-bench: queue not empty after %" PRIu64 " s\n",
			    timeout_s);
			goto out;
		}
		if (!b->quiet && mono_us() >= tick) {
			fprintf(stderr, "[%4.0fs] queue %" PRIu64 " waiting, %" PRIu64 " pending\n",
			    (double)(mono_us() - t0) / 1e6, waiting, pending);
			tick += 1000000;
		}
		sleep_us(2000);
	}
	t1 = mono_us();
	if (bench_sums(b, &s1) != 0)
		goto out;
	secs = (double)(t1 - t0) / 1e6;
	done = (s1.delivered - s0.delivered) + (s1.spam - s0.spam);
	rate = secs > 0 ? (double)done / secs : 0;
	if (json)
		printf("{\"mode\": \"drain\", \"url\": \"%s\", \"inflight\": %u, \"backlog\": %" PRIu64
		       ", \"seconds\": %.3f, \"processed\": %" PRIu64 ", \"delivered\": %" PRIu64
		       ", \"spam\": %" PRIu64 ", \"rate\": %.1f, \"failed\": %" PRIu64
		       ", \"preload_rate\": %.1f}\n",
		    b->url, b->inflight, backlog, secs, done, s1.delivered - s0.delivered,
		    s1.spam - s0.spam, rate, s1.enqueued + s1.checking,
		    pre.seconds > 0 ? (double)pre.ok / pre.seconds : 0.0);
	else
		printf("drain: %" PRIu64 " messages (%" PRIu64 " delivered, %" PRIu64
		       " spam) in %.2f s = %.0f/s; left unfinished: %" PRIu64 "\n",
		    done, s1.delivered - s0.delivered, s1.spam - s0.spam, secs, rate,
		    s1.enqueued + s1.checking);
	rc = s1.enqueued + s1.checking == 0 ? 0 : 1;
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	return rc;
}

/* The transport anchor's server: every request answered with its own bytes
 * by 64 callback-driven contexts, until SIGINT or SIGTERM. */
typedef struct echo_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
} echo_ctx;

static void
echo_cb(void *arg)
{
	echo_ctx *e = arg;
	int err = nng_aio_result(e->aio);

	if (err != 0) {
		if (e->sending)
			nng_msg_free(nng_aio_get_msg(e->aio));
		if (err == NNG_ECLOSED)
			return;
		e->sending = false;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	if (e->sending) {
		e->sending = false;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	e->sending = true;
	nng_ctx_send(e->ctx, e->aio);
}

static int
serve_echo(const char *url)
{
	enum { ECHO_CTXS = 64 };
	static echo_ctx ctxs[ECHO_CTXS];
	nng_socket sock;
	sigset_t sigs;
	int err, sig;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if ((err = nng_rep0_open(&sock)) != 0 ||
	    (err = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 65536)) != 0) {
		fprintf(stderr, "pigeon-bench: %s\n", nng_strerror(err));
		return 1;
	}
	for (unsigned i = 0; i < ECHO_CTXS; i++)
		if ((err = nng_aio_alloc(&ctxs[i].aio, echo_cb, &ctxs[i])) != 0 ||
		    (err = nng_ctx_open(&ctxs[i].ctx, sock)) != 0) {
			fprintf(stderr, "pigeon-bench: %s\n", nng_strerror(err));
			return 1;
		}
	if ((err = nng_listen(sock, url, NULL, 0)) != 0) {
		fprintf(stderr, "pigeon-bench: cannot listen on %s: %s\n", url, nng_strerror(err));
		return 1;
	}
	for (unsigned i = 0; i < ECHO_CTXS; i++)
		nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
	fprintf(stderr, "pigeon-bench: echoing on %s\n", url);
	sigwait(&sigs, &sig);
	nng_close(sock);
	for (unsigned i = 0; i < ECHO_CTXS; i++)
		nng_aio_free(ctxs[i].aio);
	return 0;
}

static bool
mode_parse(bench *b, const char *mode)
{
	b->mixed = strcmp(mode, "mixed") == 0;
	b->reads = strcmp(mode, "reads") == 0;
	if (b->mixed || b->reads || strcmp(mode, "drain") == 0) {
		b->op = OP_SEND;
		return true;
	}
	for (unsigned i = 0; i < OP_COUNT; i++)
		if (strcmp(mode, op_names[i].mode) == 0) {
			b->op = (bench_op)i;
			return true;
		}
	return false;
}

/* The spam filter alone: what the worker pays per message (fingerprint and
 * check), in nanoseconds, on ordinary chat text that every rule reads to the
 * end. */
static int
bench_spam(const char *config, uint64_t content, uint64_t count, bool json)
{
	spam_filter *f;
	char err[256];
	double ns;

	if (content == 0 || count > UINT32_MAX) {
		fprintf(stderr, "pigeon-bench: spam needs --content >= 1 and --count < 2^32\n");
		return 2;
	}
	if (spam_filter_load(&f, config, err, sizeof(err)) != PIGEON_OK) {
		fprintf(stderr, "pigeon-bench: spam config: %s\n", err);
		return 1;
	}
	ns = spam_bench_ns_per_message(f, (size_t)content, (unsigned)count);
	spam_filter_free(f);
	if (ns < 0)
		return 1;
	if (json)
		printf("{\"mode\": \"spam\", \"content\": %" PRIu64 ", \"messages\": %" PRIu64
		       ", \"ns_per_message\": %.1f}\n",
		    content, count, ns);
	else
		printf("spam filter: %.0f ns per message of %" PRIu64 " bytes over %" PRIu64
		       " messages\n",
		    ns, content, count);
	return 0;
}

/* The learning filter alone: one verdict (tokens, look-ups, combining) of
 * a content-byte message against a model of SPAM_BENCH_BAYES_TOKENS tokens
 * that knows every token of it. */
static int
bench_bayes(uint64_t content, uint64_t count, bool json)
{
	double ns;

	if (content == 0 || count > UINT32_MAX) {
		fprintf(stderr, "pigeon-bench: bayes needs --content >= 1 and --count < 2^32\n");
		return 2;
	}
	if ((ns = spam_bench_bayes_ns_per_verdict((size_t)content, (unsigned)count)) < 0)
		return 1;
	if (json)
		printf("{\"mode\": \"bayes\", \"content\": %" PRIu64 ", \"messages\": %" PRIu64
		       ", \"ns_per_message\": %.1f, \"verdicts_per_s\": %.0f}\n",
		    content, count, ns, 1e9 / ns);
	else
		printf("learning filter: %.0f ns per verdict on %" PRIu64 " bytes over %" PRIu64
		       " verdicts (%.0f/s)\n",
		    ns, content, count, 1e9 / ns);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *mode = NULL, *api = NULL, *echo_url = NULL, *cdf = NULL;
	const char *workers_cmd = NULL, *spam_config = NULL, *login = NULL, *password_file = NULL;
	uint64_t inflight = 0, duration = 0, count = 0, users = 0, content = 0, backlog = 0;
	uint64_t timeout = 0;
	bool json = false, quiet = false, wait_queue = false;
	const opt_def defs[] = {
		{"url", "PIGEON_RPC_URL", OPT_STRING, PIGEON_DEFAULT_RPC_URL,
		    "pigeond's RPC address (tcp:// or ipc://)", &url},
		{"mode", NULL, OPT_STRING, "send",
		    "send, stats, inbox, online, spammers, chatters, journal, health, reads "
		    "(every read in turn), mixed (70% reads), drain, echo (against "
		    "--serve-echo), spam (the spam filter alone, no server: --count "
		    "messages of --content bytes), or bayes (the learning filter's verdict "
		    "alone, likewise)",
		    &mode},
		{"inflight", NULL, OPT_UINT, "8", "requests in flight (nng contexts)", &inflight},
		{"duration", NULL, OPT_UINT, "5", "seconds to run (unless --count)", &duration},
		{"count", NULL, OPT_UINT, "0", "requests to make instead of a duration", &count},
		{"api", NULL, OPT_STRING, "raw",
		    "raw (nng contexts and the codec) or lib (libpigeon's pigeon_call_async)", &api},
		{"users", NULL, OPT_UINT, "100", "bench users (bench0...) to register and use",
		    &users},
		{"content", NULL, OPT_UINT, "32", "bytes of each message's content", &content},
		{"backlog", NULL, OPT_UINT, "100000", "drain: messages to queue first", &backlog},
		{"workers-cmd", NULL, OPT_STRING, NULL,
		    "drain: shell command starting the workers once the backlog is queued; "
		    "stopped with SIGTERM after",
		    &workers_cmd},
		{"timeout", NULL, OPT_UINT, "300", "drain and --wait-queue: seconds to wait for an empty queue",
		    &timeout},
		{"wait-queue", NULL, OPT_FLAG, NULL,
		    "only wait (up to --timeout) until pigeond's queue is empty", &wait_queue},
		{"cdf", NULL, OPT_STRING, NULL,
		    "write the latency distribution (us, fraction) to this file", &cdf},
		{"json", NULL, OPT_FLAG, NULL, "print the result as one JSON object", &json},
		{"quiet", NULL, OPT_FLAG, NULL, "no progress lines", &quiet},
		{"spam-config", "PIGEON_SPAM_CONFIG", OPT_STRING, NULL,
		    "spam: the filter's settings (docs/spam.md); built-in defaults without",
		    &spam_config},
		{"login", NULL, OPT_STRING, NULL,
		    "against pigeond --auth required: log in as this user (an admin, to send "
		    "as the bench users, who must exist) and send its token with every request",
		    &login},
		{"password-file", NULL, OPT_STRING, NULL, "--login: the file holding the password",
		    &password_file},
		{"serve-echo", NULL, OPT_STRING, NULL,
		    "run the transport anchor instead: an nng rep server echoing every request "
		    "at this URL",
		    &echo_url},
		{NULL, NULL, 0, NULL, NULL, NULL},
	};
	pigeon_client_opts copts = {0};
	static bench b;
	run_result res;
	int first, code, err;

	if (!opts_parse(defs, argc, argv, "[OPTION]...",
		"Drives pigeond over RPC and reports throughput and latency.", &first, &code))
		return code;
	if (first < argc) {
		fprintf(stderr, "pigeon-bench: unexpected argument '%s'\n", argv[first]);
		return 2;
	}
	if (echo_url != NULL)
		return serve_echo(echo_url);
	if (strcmp(mode, "spam") == 0)
		return bench_spam(spam_config, content, count > 0 ? count : 1000000, json);
	if (strcmp(mode, "bayes") == 0)
		return bench_bayes(content, count > 0 ? count : 1000000, json);
	b.url = url;
	b.mode = mode;
	b.lib = strcmp(api, "lib") == 0;
	b.inflight = (unsigned)inflight;
	b.duration_s = duration;
	b.quiet = quiet;
	if (!mode_parse(&b, mode) || (!b.lib && strcmp(api, "raw") != 0) || inflight == 0 ||
	    inflight > 4096 || users == 0 || users > 100000 || content == 0 ||
	    content > BENCH_CONTENT_MAX || (b.op == OP_ECHO && b.lib)) {
		fprintf(stderr, "pigeon-bench: bad --mode, --api, --inflight (1-4096), --users "
				"(1-100000) or --content (1-%d); see --help\n",
		    BENCH_CONTENT_MAX);
		return 2;
	}
	b.nusers = (unsigned)users;
	b.content_len = content;
	for (size_t i = 0; i < content; i++)
		b.content[i] = (char)('a' + i % 26);
	if ((b.users = calloc(users, sizeof(*b.users))) == NULL)
		return 1;
	for (unsigned i = 0; i < b.nusers; i++)
		snprintf(b.users[i], sizeof(b.users[i]), "bench%u", i);
	if (getrandom(&b.client_id, sizeof(b.client_id), 0) != sizeof(b.client_id))
		b.client_id = (uint64_t)mono_us();
	atomic_init(&b.next_request, 1);
	pthread_mutex_init(&b.mtx, NULL);
	pthread_cond_init(&b.idle, NULL);

	code = 1;
	if (nng_req0_open(&b.sock) != 0)
		goto out;
	/* A resend would count one request twice; the deadline comes first. */
	nng_socket_set_ms(b.sock, NNG_OPT_REQ_RESENDTIME, BENCH_DEADLINE_MS * 2);
	nng_socket_set_size(b.sock, NNG_OPT_RECVMAXSZ, 4u * 1024 * 1024);
	/* The server may still be starting: retry a refused dial for 5 s. */
	for (int tries = 0; (err = nng_dial(b.sock, url, NULL, 0)) != 0; tries++) {
		if ((err != NNG_ECONNREFUSED && err != NNG_ENOENT) || tries >= 100) {
			fprintf(stderr, "pigeon-bench: cannot connect to %s: %s\n", url,
			    nng_strerror(err));
			goto out_sock;
		}
		sleep_us(50000);
	}
	if (b.op != OP_ECHO) {
		copts.url = url;
		if (pigeon_client_open_opts(&b.client, &copts) != PIGEON_OK)
			goto out_sock;
		if (login != NULL ? bench_login(&b, login, password_file) != 0
				  : bench_setup_users(&b) != 0)
			goto out_client;
	}
	if (wait_queue) {
		code = bench_wait_queue(&b, timeout);
		goto out_client;
	}
	if (strcmp(mode, "drain") == 0) {
		code = bench_drain(&b, backlog, workers_cmd, timeout, json);
		goto out_client;
	}
	if (bench_run(&b, b.op, count, duration, &res) != 0)
		goto out_client;
	print_result(&b, mode, &res, json, stdout);
	if (json)
		printf("\n");
	if (cdf != NULL) {
		FILE *f = fopen(cdf, "w");

		if (f == NULL) {
			perror(cdf);
			goto out_client;
		}
		hist_write_cdf(&res.h, f);
		fclose(f);
	}
	code = res.failed == 0 && res.ok > 0 ? 0 : 1;
out_client:
	pigeon_client_close(b.client);
out_sock:
	nng_close(b.sock);
out:
	free(b.users);
	return code;
}
