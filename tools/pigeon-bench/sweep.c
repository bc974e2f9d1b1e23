/* SPDX-License-Identifier: MIT */
/*
 * pigeon-sweep-bench: the presence sweeper under its worst case
 * (docs/performance.md, "The presence sweeper").  Against a pigeond of the
 * rpc role and its Redis, both started by the caller (tools/bench), it
 * writes --sessions users as register.lua does, measures Health one call at
 * a time with no sweep running (the anchor), then opens a session for every
 * user with one deadline for all, --lead-ms ahead on Redis's clock, and
 * calls Health in a loop while pigeond's sweeper ends them.  A second thread
 * polls Redis's clock and the deadlines' count every POLL_US to time the
 * sweep: from the deadline to the last session ended.  At the end it checks
 * the truth: nobody online, no deadline left, and exactly one LOGOUT with
 * reason expired journaled per user; anything else fails the run (exit 1).
 *
 * It writes Redis directly (hiredis) only to set the scene and to check it;
 * everything it measures is pigeond's.  Redis must hold none of its users'
 * sessions when it starts (tools/bench empties Redis first).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include <pigeon/pigeon.h>

#include "clocks.h"
#include "hist.h"
#include "opts.h"
#include "validate.h"

/* Users per pipelined command while setting the scene. */
#define CHUNK 1000
/* How often the poller reads the deadlines' count. */
#define POLL_US 2000
/* Journal entries per XRANGE while checking. */
#define JOURNAL_PAGE 10000
#define NAME_MAX_LEN 32

typedef struct sweep_bench {
	redisContext *r;
	pigeon_client *c;
	unsigned sessions;
	char (*names)[NAME_MAX_LEN];
} sweep_bench;

/* One Health call of the sweep phase: when it began and how long it took,
 * us on the monotonic clock. */
typedef struct sample {
	int64_t start_us;
	int64_t took_us;
} sample;

/* What the poller saw, on both clocks. */
typedef struct poller {
	redisContext *r;
	unsigned sessions;
	int64_t timeout_us;
	atomic_bool done;
	atomic_bool failed;
	/* The last poll that still counted every session, and the first that
	 * counted fewer, and the first that counted none: local us, Redis ms. */
	int64_t full_us, shrunk_us, empty_us;
	int64_t shrunk_redis_ms, empty_redis_ms;
	uint64_t polls;
} poller;

/* Runs one command (printf format, as redisCommand); NULL (reported) on an
 * error or an error reply.  The caller frees the reply. */
static redisReply *
cmd(redisContext *r, const char *fmt, ...)
{
	va_list ap;
	redisReply *rep;

	va_start(ap, fmt);
	rep = redisvCommand(r, fmt, ap);
	va_end(ap);
	if (rep == NULL) {
		fprintf(stderr, "pigeon-sweep-bench: redis: %s\n", r->errstr);
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "pigeon-sweep-bench: redis: %s\n", rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

/* An integer reply, or -1. */
static long long
cmd_int(redisContext *r, const char *fmt, ...)
{
	va_list ap;
	redisReply *rep;
	long long v = -1;

	va_start(ap, fmt);
	rep = redisvCommand(r, fmt, ap);
	va_end(ap);
	if (rep == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_INTEGER)
		v = rep->integer;
	freeReplyObject(rep);
	return v;
}

/* Redis's clock, ms; -1 on failure. */
static int64_t
redis_now_ms(redisContext *r)
{
	redisReply *rep = cmd(r, "TIME");
	int64_t ms = -1;

	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
		ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 +
		    strtoll(rep->element[1]->str, NULL, 10) / 1000;
	freeReplyObject(rep);
	return ms;
}

/* Sends argv (argc words) pipelined, counted in *pending. */
static void
append(redisContext *r, int argc, const char **argv, const size_t *lens, unsigned *pending)
{
	redisAppendCommandArgv(r, argc, argv, lens);
	(*pending)++;
}

/* Reads the replies of *pending pipelined commands; false on any error. */
static bool
drain(redisContext *r, unsigned *pending)
{
	bool ok = true;

	for (; *pending > 0; (*pending)--) {
		redisReply *rep;

		if (redisGetReply(r, (void **)&rep) != REDIS_OK) {
			fprintf(stderr, "pigeon-sweep-bench: redis: %s\n", r->errstr);
			return false;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "pigeon-sweep-bench: redis: %s\n", rep->str);
			ok = false;
		}
		freeReplyObject(rep);
	}
	return ok;
}

/* One command over users [from, to): key, then per user the words of
 * each(), pipelined. */
typedef int (*words_fn)(const sweep_bench *b, unsigned i, const char **w, size_t *l, void *arg);

static bool
chunked(sweep_bench *b, const char *verb, const char *key, words_fn each, void *arg)
{
	static const char *argv[2 + 3 * CHUNK];
	static size_t lens[2 + 3 * CHUNK];
	unsigned pending = 0;

	for (unsigned from = 0; from < b->sessions; from += CHUNK) {
		int argc = 2;

		argv[0] = verb;
		lens[0] = strlen(verb);
		argv[1] = key;
		lens[1] = strlen(key);
		for (unsigned i = from; i < b->sessions && i < from + CHUNK; i++)
			argc += each(b, i, argv + argc, lens + argc, arg);
		append(b->r, argc, argv, lens, &pending);
		if (pending >= 16 && !drain(b->r, &pending))
			return false;
	}
	return drain(b->r, &pending);
}

static int
user_role(const sweep_bench *b, unsigned i, const char **w, size_t *l, void *arg)
{
	(void)arg;
	w[0] = b->names[i];
	l[0] = strlen(b->names[i]);
	w[1] = "regular";
	l[1] = 7;
	return 2;
}

/* The skeletons, computed once: register.lua's user-skeletons field. */
typedef struct skeletons {
	char (*skel)[VALIDATE_SKELETON_MAX];
} skeletons;

static int
user_skeleton(const sweep_bench *b, unsigned i, const char **w, size_t *l, void *arg)
{
	skeletons *s = arg;

	w[0] = s->skel[i];
	l[0] = strlen(s->skel[i]);
	w[1] = b->names[i];
	l[1] = strlen(b->names[i]);
	return 2;
}

/* Score, member: ZADD of every user with one score (text in arg). */
static int
user_scored(const sweep_bench *b, unsigned i, const char **w, size_t *l, void *arg)
{
	w[0] = arg;
	l[0] = strlen(arg);
	w[1] = b->names[i];
	l[1] = strlen(b->names[i]);
	return 2;
}

/* The users, as register.lua writes them (role, skeleton, profile with
 * created_ms), without passwords (--auth open). */
static bool
write_users(sweep_bench *b)
{
	skeletons s;
	char now[32];
	unsigned pending = 0;
	int64_t ms;
	bool ok = false;

	if ((s.skel = calloc(b->sessions, sizeof(*s.skel))) == NULL)
		return false;
	for (unsigned i = 0; i < b->sessions; i++)
		if (validate_username_skeleton(b->names[i], strlen(b->names[i]), s.skel[i],
			sizeof(s.skel[i])) != PIGEON_OK) {
			fprintf(stderr, "pigeon-sweep-bench: no skeleton for %s\n", b->names[i]);
			goto out;
		}
	if ((ms = redis_now_ms(b->r)) < 0)
		goto out;
	snprintf(now, sizeof(now), "%" PRId64, ms);
	if (!chunked(b, "HSET", "pigeon:users", user_role, NULL) ||
	    !chunked(b, "HSET", "pigeon:user-skeletons", user_skeleton, &s))
		goto out;
	for (unsigned i = 0; i < b->sessions; i++) {
		redisAppendCommand(b->r, "HSET pigeon:{u:%s}:profile created_ms %s", b->names[i],
		    now);
		if (++pending >= CHUNK && !drain(b->r, &pending))
			goto out;
	}
	ok = drain(b->r, &pending);
out:
	free(s.skel);
	return ok;
}

/* Waits up to 10 s for pigeond (just started, maybe) to answer Health. */
static bool
wait_serving(sweep_bench *b)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	int64_t give_up = clocks_mono_us() + 10000000;

	while (clocks_mono_us() < give_up) {
		Pigeon__V1__HealthReply *rep;

		if (pigeon_health(b->c, &req, &rep, NULL) == PIGEON_OK) {
			pigeon_reply_free(rep);
			return true;
		}
		nanosleep(&(struct timespec){0, 50000000L}, NULL);
	}
	fprintf(stderr, "pigeon-sweep-bench: pigeond did not answer Health within 10 s\n");
	return false;
}

/* Health calls one at a time until *stop (when not NULL) or until_us:
 * into h, and each into samples (when not NULL, up to cap). */
typedef struct health_run {
	hist h;
	uint64_t failed;
	sample *samples;
	size_t n, cap;
} health_run;

static void
health_loop(sweep_bench *b, health_run *run, const atomic_bool *stop, int64_t until_us)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;

	while ((stop == NULL || !atomic_load(stop)) && clocks_mono_us() < until_us) {
		Pigeon__V1__HealthReply *rep;
		int64_t t0 = clocks_mono_us(), took;
		pigeon_status st = pigeon_health(b->c, &req, &rep, NULL);

		took = clocks_mono_us() - t0;
		if (st != PIGEON_OK) {
			run->failed++;
			continue;
		}
		pigeon_reply_free(rep);
		hist_add(&run->h, (uint64_t)took);
		if (run->samples != NULL && run->n < run->cap)
			run->samples[run->n++] = (sample){t0, took};
	}
}

static void *
poll_main(void *arg)
{
	poller *p = arg;
	int64_t give_up = clocks_mono_us() + p->timeout_us;

	while (clocks_mono_us() < give_up) {
		redisReply *t = NULL, *z = NULL;
		int64_t before = clocks_mono_us(), redis_ms;
		long long left;

		redisAppendCommand(p->r, "TIME");
		redisAppendCommand(p->r, "ZCARD pigeon:presence:deadlines");
		if (redisGetReply(p->r, (void **)&t) != REDIS_OK ||
		    redisGetReply(p->r, (void **)&z) != REDIS_OK || t->type != REDIS_REPLY_ARRAY ||
		    t->elements != 2 || z->type != REDIS_REPLY_INTEGER) {
			fprintf(stderr, "pigeon-sweep-bench: polling Redis failed\n");
			freeReplyObject(t);
			freeReplyObject(z);
			break;
		}
		redis_ms = strtoll(t->element[0]->str, NULL, 10) * 1000 +
		    strtoll(t->element[1]->str, NULL, 10) / 1000;
		left = z->integer;
		freeReplyObject(t);
		freeReplyObject(z);
		p->polls++;
		if (left >= (long long)p->sessions) {
			p->full_us = before;
		} else if (p->shrunk_us == 0) {
			p->shrunk_us = clocks_mono_us();
			p->shrunk_redis_ms = redis_ms;
		}
		if (left == 0) {
			p->empty_us = clocks_mono_us();
			p->empty_redis_ms = redis_ms;
			atomic_store(&p->done, true);
			return NULL;
		}
		nanosleep(&(struct timespec){0, POLL_US * 1000L}, NULL);
	}
	atomic_store(&p->failed, true);
	atomic_store(&p->done, true);
	return NULL;
}

/* Counts the LOGOUT events with reason expired of the bench users journaled
 * after sequence `after`: per user into per[], others into *other.  False
 * when the journal cannot be read. */
static bool
count_expiries(sweep_bench *b, long long after, unsigned *per, uint64_t *other)
{
	char from[48];

	snprintf(from, sizeof(from), "(%lld-0", after);
	for (;;) {
		redisReply *rep = cmd(b->r, "XRANGE pigeon:journal %s + COUNT %d", from,
		    JOURNAL_PAGE);

		if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			return false;
		}
		if (rep->elements == 0) {
			freeReplyObject(rep);
			return true;
		}
		for (size_t k = 0; k < rep->elements; k++) {
			const redisReply *e = rep->element[k], *f = e->element[1];
			const char *type = "", *user = "", *reason = "";
			unsigned idx;
			char tail;

			for (size_t j = 0; j + 1 < f->elements; j += 2) {
				if (strcmp(f->element[j]->str, "type") == 0)
					type = f->element[j + 1]->str;
				else if (strcmp(f->element[j]->str, "username") == 0)
					user = f->element[j + 1]->str;
				else if (strcmp(f->element[j]->str, "reason") == 0)
					reason = f->element[j + 1]->str;
			}
			if (strcmp(type, "LOGOUT") != 0)
				continue;
			if (strcmp(reason, "expired") == 0 &&
			    sscanf(user, "sweep%u%c", &idx, &tail) == 1 && idx < b->sessions)
				per[idx]++;
			else
				(*other)++;
		}
		snprintf(from, sizeof(from), "(%s",
		    rep->element[rep->elements - 1]->element[0]->str);
		freeReplyObject(rep);
	}
}

/* The calls of a Redis command so far (INFO commandstats; commands inside
 * scripts count), or -1. */
static long long
command_calls(redisContext *r, const char *name)
{
	redisReply *rep = cmd(r, "INFO commandstats");
	char key[64];
	const char *at;
	long long n = -1;

	if (rep == NULL)
		return -1;
	snprintf(key, sizeof(key), "cmdstat_%s:calls=", name);
	if (rep->type == REDIS_REPLY_STRING)
		n = (at = strstr(rep->str, key)) != NULL ? strtoll(at + strlen(key), NULL, 10) : 0;
	freeReplyObject(rep);
	return n;
}

static redisContext *
redis_open(const char *url)
{
	redisContext *r = NULL;
	char host[256];
	int port;

	if (strncmp(url, "unix:", 5) == 0)
		r = redisConnectUnix(url + 5);
	else if (sscanf(url, "redis://%255[^:]:%d", host, &port) == 2)
		r = redisConnect(host, port);
	else
		fprintf(stderr, "pigeon-sweep-bench: --redis-url must be unix:PATH or "
				"redis://HOST:PORT\n");
	if (r != NULL && r->err) {
		fprintf(stderr, "pigeon-sweep-bench: cannot connect to %s: %s\n", url, r->errstr);
		redisFree(r);
		r = NULL;
	}
	return r;
}

static void
print_hist(const char *name, const hist *h, uint64_t failed)
{
	printf("\"%s\": {\"calls\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"p50\": %" PRIu64
	       ", \"p99\": %" PRIu64 ", \"max\": %" PRIu64 "}",
	    name, h->count, failed, hist_quantile(h, 0.5), hist_quantile(h, 0.99), h->max_us);
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *redis_url = NULL;
	uint64_t sessions = 0, lead_ms = 0, anchor_s = 0, timeout_s = 0;
	const opt_def defs[] = {
		{"url", "PIGEON_RPC_URL", OPT_STRING, PIGEON_DEFAULT_RPC_URL,
		    "pigeond's RPC address (a pigeond of the rpc role: it sweeps)", &url},
		{"redis-url", "PIGEON_REDIS_URL", OPT_STRING, "redis://127.0.0.1:6379",
		    "that pigeond's Redis: redis://HOST:PORT or unix:PATH", &redis_url},
		{"sessions", NULL, OPT_UINT, "100000",
		    "users sweep0... written, each given a session, all expiring at once (1 to "
		    "1000000)",
		    &sessions},
		{"lead-ms", NULL, OPT_UINT, "2000",
		    "how far ahead of Redis's clock the common deadline is set; the sessions "
		    "must be written within it",
		    &lead_ms},
		{"anchor-seconds", NULL, OPT_UINT, "3",
		    "seconds of Health calls without a sweep (the anchor)", &anchor_s},
		{"timeout", NULL, OPT_UINT, "120",
		    "seconds the sweep may take at most, from the deadline", &timeout_s},
		{NULL, NULL, 0, NULL, NULL, NULL},
	};
	pigeon_client_opts co = {.deadline_ms = 5000};
	sweep_bench b = {0};
	health_run anchor = {0}, during = {0};
	hist in_sweep = {0};
	uint64_t in_sweep_failed = 0, other = 0, wrong = 0, missing = 0, twice = 0;
	poller p = {0};
	pthread_t poll_thread;
	unsigned *per = NULL;
	long long seq0, zr0, zr1, online, left;
	int64_t deadline_ms, written_ms;
	char deadline[32];
	int first, code;

	if (!opts_parse(defs, argc, argv, "[OPTION]...",
		"Times pigeond's presence sweep of sessions expiring at once, and Health "
		"meanwhile.",
		&first, &code))
		return code;
	if (first < argc || sessions < 1 || sessions > 1000000 || lead_ms < 100 ||
	    timeout_s < 1) {
		fprintf(stderr, "pigeon-sweep-bench: bad arguments (--sessions 1-1000000, "
				"--lead-ms >= 100); see --help\n");
		return 2;
	}
	b.sessions = (unsigned)sessions;
	code = 1;
	if ((b.names = calloc(b.sessions, sizeof(*b.names))) == NULL ||
	    (per = calloc(b.sessions, sizeof(*per))) == NULL)
		goto out;
	for (unsigned i = 0; i < b.sessions; i++)
		snprintf(b.names[i], sizeof(b.names[i]), "sweep%u", i);
	if ((b.r = redis_open(redis_url)) == NULL || (p.r = redis_open(redis_url)) == NULL)
		goto out;
	co.url = url;
	if (pigeon_client_open_opts(&b.c, &co) != PIGEON_OK) {
		fprintf(stderr, "pigeon-sweep-bench: cannot open a client of %s\n", url);
		goto out;
	}
	if (!wait_serving(&b))
		goto out;
	if (cmd_int(b.r, "ZCARD pigeon:presence:deadlines") != 0 ||
	    cmd_int(b.r, "ZCARD pigeon:online") != 0) {
		fprintf(stderr, "pigeon-sweep-bench: Redis already holds sessions: start from an "
				"empty one\n");
		goto out;
	}
	if (!write_users(&b))
		goto out;

	/* The anchor: the same calls, nothing to sweep. */
	health_loop(&b, &anchor, NULL, clocks_mono_us() + (int64_t)anchor_s * 1000000);

	/* Every session, one deadline. */
	if ((seq0 = cmd_int(b.r, "INCRBY pigeon:journal:seq 0")) < 0 ||
	    (zr0 = command_calls(b.r, "zrangebyscore")) < 0 ||
	    (deadline_ms = redis_now_ms(b.r)) < 0)
		goto out;
	deadline_ms += (int64_t)lead_ms;
	snprintf(deadline, sizeof(deadline), "%" PRId64, deadline_ms);
	if (!chunked(&b, "ZADD", "pigeon:online", user_scored, "0") ||
	    !chunked(&b, "ZADD", "pigeon:presence:deadlines", user_scored, deadline))
		goto out;
	if ((written_ms = redis_now_ms(b.r)) < 0)
		goto out;
	if (written_ms >= deadline_ms) {
		fprintf(stderr,
		    "pigeon-sweep-bench: writing the sessions took %" PRId64 " ms, past the "
		    "deadline: raise --lead-ms\n",
		    written_ms - (deadline_ms - (int64_t)lead_ms));
		goto out;
	}

	/* Health from now until the poller has seen every session end. */
	p.sessions = b.sessions;
	p.timeout_us = ((int64_t)lead_ms + (int64_t)timeout_s * 1000) * 1000;
	during.cap = (size_t)(lead_ms / 1000 + timeout_s + 1) * 20000;
	if ((during.samples = calloc(during.cap, sizeof(*during.samples))) == NULL)
		goto out;
	atomic_init(&p.done, false);
	atomic_init(&p.failed, false);
	if (pthread_create(&poll_thread, NULL, poll_main, &p) != 0)
		goto out;
	health_loop(&b, &during, &p.done, INT64_MAX);
	pthread_join(poll_thread, NULL);
	if (atomic_load(&p.failed)) {
		fprintf(stderr, "pigeon-sweep-bench: the sweep did not end within %" PRIu64 " s\n",
		    timeout_s);
		goto out;
	}
	/* The calls that overlapped the sweep: from the last poll that still
	 * counted every session to the first that counted none. */
	for (size_t i = 0; i < during.n; i++) {
		const sample *s = &during.samples[i];

		if (s->start_us + s->took_us >= p.full_us && s->start_us <= p.empty_us)
			hist_add(&in_sweep, (uint64_t)s->took_us);
	}
	in_sweep_failed = during.failed;
	if ((zr1 = command_calls(b.r, "zrangebyscore")) < 0)
		goto out;

	/* The truth. */
	online = cmd_int(b.r, "ZCARD pigeon:online");
	left = cmd_int(b.r, "ZCARD pigeon:presence:deadlines");
	if (!count_expiries(&b, seq0, per, &other))
		goto out;
	for (unsigned i = 0; i < b.sessions; i++) {
		missing += per[i] == 0;
		twice += per[i] > 1;
	}
	wrong = (online != 0) + (left != 0) + (missing != 0) + (twice != 0) + (other != 0) +
	    (anchor.failed != 0) + (in_sweep_failed != 0);
	printf("{\"mode\": \"sweep\", \"sessions\": %u, \"batches\": %lld, \"sweep_ms\": %" PRId64
	       ", \"start_ms\": %" PRId64 ", \"busy_ms\": %.1f, \"write_ms\": %" PRId64 ", ",
	    b.sessions, zr1 - zr0, p.empty_redis_ms - deadline_ms,
	    p.shrunk_redis_ms - deadline_ms, (double)(p.empty_us - p.full_us) / 1000.0,
	    written_ms - (deadline_ms - (int64_t)lead_ms));
	print_hist("health_sweep", &in_sweep, in_sweep_failed);
	printf(", ");
	print_hist("health_anchor", &anchor.h, anchor.failed);
	printf(", \"online_left\": %lld, \"deadlines_left\": %lld, \"expiries_missing\": %" PRIu64
	       ", \"expiries_twice\": %" PRIu64 ", \"other_logouts\": %" PRIu64
	       ", \"failed\": %" PRIu64 "}\n",
	    online, left, missing, twice, other, wrong);
	if (wrong != 0) {
		fprintf(stderr, "pigeon-sweep-bench: FAILED: online %lld, deadlines %lld, users "
				"without their expiry %" PRIu64 ", with more than one %" PRIu64
				", other LOGOUTs %" PRIu64 ", failed Health calls %" PRIu64 "\n",
		    online, left, missing, twice, other, anchor.failed + in_sweep_failed);
		goto out;
	}
	code = 0;
out:
	free(during.samples);
	pigeon_client_close(b.c);
	if (p.r != NULL)
		redisFree(p.r);
	if (b.r != NULL)
		redisFree(b.r);
	free(per);
	free(b.names);
	return code;
}
