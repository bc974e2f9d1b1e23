/* SPDX-License-Identifier: MIT */
/*
 * The I/O threads; see conn.h.  Callers queue operations under the
 * connection's lock; its thread takes the whole queue at once, writes every
 * command, then reads the replies in order and hands each to reply.c, so
 * requests in flight share round trips.
 */
#include "conn.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clocks.h"
#include "log.h"
#include "prom.h"
#include "wait.h"

#define IO_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

/* One connection to Redis and the thread that drives it. */
typedef struct store_conn {
	store_conns *cs;
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
	/* A connection was up before: the next one is a reconnect. */
	bool was_connected;
} store_conn;

struct store_conns {
	store_conn *conns;
	unsigned n;
	/* Round robin over conns. */
	atomic_uint next;
	store_url url;
	const store_users *users;
	/* Counted for store_conns_render; relaxed atomics. */
	atomic_uint_fast64_t round_trips;
	atomic_uint_fast64_t reconnects;
};

/* req holds the kind, the callback of that kind and its argument. */
static store_op *
op_alloc(const store_reply_req *req, int script, int argc, const char *const *argv)
{
	store_op *op;
	size_t total = sizeof(*op) + (size_t)argc * (sizeof(char *) + sizeof(size_t));
	char *p;

	for (int i = 0; i < argc; i++)
		total += strlen(argv[i]) + 1;
	if ((op = calloc(1, total)) == NULL) {
		const char *msg = "out of memory";

		if (req->auth_cb != NULL)
			req->auth_cb(req->arg, PIGEON_RESOURCE_EXHAUSTED, msg, NULL);
		else if (req->presence_cb != NULL)
			req->presence_cb(req->arg, PIGEON_RESOURCE_EXHAUSTED, msg, NULL);
		else
			req->cb(req->arg, PIGEON_RESOURCE_EXHAUSTED, msg, NULL);
		return NULL;
	}
	op->req = *req;
	op->script = script;
	op->argc = argc;
	/* The pointers first, then the lengths, then the strings: each part is
	 * aligned for what it holds. */
	op->argv = (char **)(op + 1);
	op->lens = (size_t *)(op->argv + argc);
	p = (char *)(op->lens + argc);
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);

		memcpy(p, argv[i], l + 1);
		op->argv[i] = p;
		op->lens[i] = l;
		p += l + 1;
	}
	op->req.username = argc > 0 ? op->argv[0] : NULL;
	return op;
}

store_op *
store_op_new(store_op_kind kind, int script, int argc, const char *const *argv, store_cb cb,
    void *arg)
{
	store_reply_req req = {.kind = kind, .cb = cb, .arg = arg};

	return op_alloc(&req, script, argc, argv);
}

store_op *
store_op_new_auth(int script, int argc, const char *const *argv, store_auth_cb cb, void *arg)
{
	store_reply_req req = {.kind = STORE_OP_AUTH, .auth_cb = cb, .arg = arg};

	return op_alloc(&req, script, argc, argv);
}

store_op *
store_op_new_presence(store_op_kind kind, int script, int argc, const char *const *argv,
    store_presence_cb cb, void *arg)
{
	store_reply_req req = {.kind = kind, .presence_cb = cb, .arg = arg};

	return op_alloc(&req, script, argc, argv);
}

void
store_conns_submit(store_conns *cs, store_op *op)
{
	store_conn *cn;
	unsigned first;

	if (op == NULL)
		return;
	/* In turn, skipping connections that are down while another is up:
	 * after an outage they come back one by one, and an operation queued
	 * on one still waiting to reconnect would fail for nothing. */
	first = atomic_fetch_add_explicit(&cs->next, 1, memory_order_relaxed) % cs->n;
	cn = &cs->conns[first];
	for (unsigned i = 1; i < cs->n && !atomic_load(&cn->connected); i++)
		if (atomic_load(&cs->conns[(first + i) % cs->n].connected))
			cn = &cs->conns[(first + i) % cs->n];
	pthread_mutex_lock(&cn->mu);
	if (cn->tail != NULL)
		cn->tail->next = op;
	else
		cn->head = op;
	cn->tail = op;
	pthread_cond_signal(&cn->cv);
	pthread_mutex_unlock(&cn->mu);
}

static void
op_free(store_op *op)
{
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

		store_reply_fail(&op->req, rv, msg);
		op_free(op);
		op = next;
	}
}

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
	const store_users *users = cn->cs->users;
	char err[160];

	if ((cn->c = store_redis_connect(&cn->cs->url, IO_TIMEOUT_MS, err, sizeof(err))) == NULL)
		goto fail;
	if (store_redis_load_scripts(cn->c, cn->shas, err, sizeof(err)) != PIGEON_OK)
		goto fail;
	if (store_redis_create_group(cn->c, err, sizeof(err)) != PIGEON_OK)
		goto fail;
	if (store_users_write(cn->c, users, err, sizeof(err)) != PIGEON_OK)
		goto fail;
	log_info("store", "connected to redis users=%zu", users->n);
	if (cn->was_connected)
		prom_add(&cn->cs->reconnects, 1);
	cn->was_connected = true;
	atomic_store(&cn->connected, true);
	return PIGEON_OK;

fail:
	drop_connection(cn, err);
	return PIGEON_UNAVAILABLE;
}

/* Appends the op's command to cmd. */
static void
op_format(store_conn *cn, store_op *op, store_cmd *cmd)
{
	int first = op->split > 0 ? op->split : op->argc;

	if (op->script >= 0)
		store_cmd_evalsha(cmd, cn->shas[op->script], (size_t)first);
	else
		store_cmd_begin(cmd, (size_t)first);
	for (int i = 0; i < op->argc; i++) {
		if (i == first)
			store_cmd_begin(cmd, (size_t)(op->argc - first));
		store_cmd_arg(cmd, op->argv[i], op->lens[i]);
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
	if (cn->cmd.len > 0)
		prom_add(&cn->cs->round_trips, 1);
	for (op = list; op != NULL; op = op->next) {
		if (!op->sent)
			continue;
		if (redisGetReply(cn->c, (void **)&op->reply) != REDIS_OK ||
		    (op->split > 0 &&
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
			if (store_redis_load_scripts(cn->c, cn->shas, err, sizeof(err)) !=
			    PIGEON_OK)
				drop_connection(cn, err);
			else
				pipeline(cn, list);
		}
	}
	for (op = list; op != NULL; op = next) {
		next = op->next;
		if (op->reply != NULL)
			store_reply_complete(&op->req, op->reply, op->reply2);
		else if (cn->c == NULL)
			store_reply_fail(&op->req, PIGEON_UNAVAILABLE, cn->why);
		else
			store_reply_fail(&op->req, PIGEON_RESOURCE_EXHAUSTED, "out of memory");
		op_free(op);
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

static void
conns_stop(store_conns *cs)
{
	for (unsigned i = 0; i < cs->n; i++) {
		store_conn *cn = &cs->conns[i];

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

/* Frees the locks and buffers of the first cs->n connections, and the
 * array. */
static void
conns_fini(store_conns *cs)
{
	for (unsigned i = 0; i < cs->n; i++) {
		pthread_cond_destroy(&cs->conns[i].cv);
		pthread_mutex_destroy(&cs->conns[i].mu);
		store_cmd_fini(&cs->conns[i].cmd);
	}
	free(cs->conns);
}

pigeon_status
store_conns_open(store_conns **out, const store_url *url, const store_users *users, unsigned n)
{
	store_conns *cs;

	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	if ((cs->conns = calloc(n, sizeof(*cs->conns))) == NULL)
		goto fail_free;
	cs->url = *url;
	cs->users = users;
	atomic_init(&cs->next, 0);
	/* Each connection's locks exist before any thread starts, so that a
	 * failure part way frees them all the same way. */
	for (; cs->n < n; cs->n++) {
		store_conn *cn = &cs->conns[cs->n];

		cn->cs = cs;
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
		if (pthread_create(&cs->conns[i].thread, NULL, io_main, &cs->conns[i]) != 0)
			goto fail_threads;
		cs->conns[i].started = true;
	}
	*out = cs;
	return PIGEON_OK;

fail_threads:
	conns_stop(cs);
fail_conns:
	conns_fini(cs);
fail_free:
	free(cs);
	return PIGEON_RESOURCE_EXHAUSTED;
}

void
store_conns_close(store_conns *cs)
{
	if (cs == NULL)
		return;
	conns_stop(cs);
	conns_fini(cs);
	free(cs);
}

bool
store_conns_up(const store_conns *cs)
{
	for (unsigned i = 0; i < cs->n; i++)
		if (!atomic_load(&cs->conns[i].connected))
			return false;
	return true;
}

void
store_conns_render(store_conns *cs, prom_text *t)
{
	prom_single(t, "pigeon_redis_round_trips_total", "counter",
	    "Pipelined writes of commands to Redis by the store's connections (one may "
	    "carry many commands).",
	    prom_load(&cs->round_trips));
	prom_single(t, "pigeon_redis_reconnects_total", "counter",
	    "Connections of the store to Redis made again after one was lost.",
	    prom_load(&cs->reconnects));
}
