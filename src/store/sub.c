/* SPDX-License-Identifier: MIT */
/* The pub/sub subscriber's thread; see sub.h.  reply.c decodes the payloads. */
#include "sub.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "errors.h"
#include "log.h"
#include "redis.h"
#include "reply.h"

#define SUB_TIMEOUT_MS 2000
/* Silence longer than this makes the subscriber PING; no answer to the PING
 * within as long again drops the connection. */
#define SUB_IDLE_MS 5000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

/* Every channel the scripts publish on. */
static const char *const sub_channels[] = {
	STORE_CHANNEL_JOURNAL,
	STORE_CHANNEL_QUEUE,
	STORE_CHANNEL_DELIVERED,
	STORE_CHANNEL_READ,
};

#define SUB_NCHANNELS (sizeof(sub_channels) / sizeof(sub_channels[0]))

struct store_sub {
	pthread_t thread;
	int stop_pipe[2];
	store_url url;
	/* The events' subscriber (fn), or the auth channel's (raw_fn). */
	store_sub_fn fn;
	store_sub_raw_fn raw_fn;
	void (*on_connect)(void *arg);
	void (*on_lost)(void *arg);
	void *arg;
};

/* Waits up to ms for the stop pipe; true when stopping. */
static bool
wait_stop(store_sub *s, int ms)
{
	struct pollfd p = {s->stop_pipe[0], POLLIN, 0};

	return poll(&p, 1, ms) > 0;
}

/* Hands on the event of a published message; anything else a subscribed
 * connection reads (a PING's answer) is not one. */
static void
deliver(store_sub *s, redisReply *r)
{
	const redisReply *ch, *payload;
	pigeon_status rv;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0)
		return;
	ch = r->element[1];
	payload = r->element[2];
	if (ch->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING)
		return;
	if (s->raw_fn != NULL) {
		s->raw_fn(s->arg, payload->str, payload->len);
		return;
	}
	if ((rv = store_reply_published(ch->str, payload->str, payload->len, s->fn, s->arg)) !=
	    PIGEON_OK)
		log_warn("store", "unreadable event dropped channel=%s status=%s", ch->str,
		    pigeon_status_name(rv));
}

/* Subscribes on a fresh connection; false when the connection failed. */
static bool
subscribe(const store_sub *s, redisContext *c)
{
	const char *argv[SUB_NCHANNELS + 1];
	size_t n = s->raw_fn != NULL ? 1 : SUB_NCHANNELS;
	redisReply *r;

	argv[0] = "SUBSCRIBE";
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = s->raw_fn != NULL ? STORE_CHANNEL_AUTH : sub_channels[i];
	if (redisAppendCommandArgv(c, (int)n + 1, argv, NULL) != REDIS_OK)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK)
			return false;
		if (r->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return false;
		}
		freeReplyObject(r);
	}
	return true;
}

/* Reads and delivers until the connection fails or stop is asked; true
 * when stopping. */
static bool
listen_loop(store_sub *s, redisContext *c)
{
	bool ping_sent = false;

	for (;;) {
		struct pollfd p[2] = {{s->stop_pipe[0], POLLIN, 0}, {c->fd, POLLIN, 0}};
		redisReply *r;
		int done, n;

		/* Replies may already sit in the reader's buffer. */
		for (;;) {
			if (redisGetReplyFromReader(c, (void **)&r) != REDIS_OK)
				return false;
			if (r == NULL)
				break;
			deliver(s, r);
			freeReplyObject(r);
		}
		n = poll(p, 2, SUB_IDLE_MS);
		if (n < 0 && errno != EINTR)
			return false;
		if (p[0].revents != 0)
			return true;
		if (n == 0) {
			if (ping_sent)
				return false;
			if (redisAppendCommand(c, "PING") != REDIS_OK)
				return false;
			do {
				if (redisBufferWrite(c, &done) != REDIS_OK)
					return false;
			} while (!done);
			ping_sent = true;
			continue;
		}
		if (p[1].revents != 0) {
			if (redisBufferRead(c) != REDIS_OK)
				return false;
			ping_sent = false;
		}
	}
}

static void *
sub_main(void *p)
{
	store_sub *s = p;
	backoff bo;
	char err[160];

	backoff_init(&bo, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
	for (;;) {
		redisContext *c = store_redis_connect(&s->url, SUB_TIMEOUT_MS, err, sizeof(err));
		bool stop;

		if (c != NULL && !subscribe(s, c)) {
			snprintf(err, sizeof(err), "%s", c->errstr[0] ? c->errstr : "bad reply");
			redisFree(c);
			c = NULL;
		}
		if (c == NULL) {
			int64_t delay = backoff_next(&bo);

			log_warn("store", "subscriber cannot connect err=%s retry_ms=%lld", err,
			    (long long)delay);
			if (wait_stop(s, (int)delay))
				return NULL;
			continue;
		}
		backoff_reset(&bo);
		log_info("store", "subscribed channels=%zu", s->raw_fn != NULL ? (size_t)1 : SUB_NCHANNELS);
		if (s->on_connect != NULL)
			s->on_connect(s->arg);
		stop = listen_loop(s, c);
		if (!stop)
			log_warn("store", "subscriber connection lost err=%s",
			    c->errstr[0] ? c->errstr : "no answer");
		if (s->on_lost != NULL)
			s->on_lost(s->arg);
		redisFree(c);
		if (stop)
			return NULL;
	}
}

static pigeon_status
sub_start(store_sub **out, const char *url, store_sub *tmpl)
{
	store_sub *s;
	pigeon_status rv;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	*s = *tmpl;
	if ((rv = store_url_parse(url != NULL ? url : STORE_DEFAULT_URL, &s->url)) != PIGEON_OK)
		goto fail_free;
	if (pipe2(s->stop_pipe, O_CLOEXEC) != 0) {
		rv = status_from_errno(errno);
		goto fail_free;
	}
	if (pthread_create(&s->thread, NULL, sub_main, s) != 0) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_pipe;
	}
	*out = s;
	return PIGEON_OK;

fail_pipe:
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
fail_free:
	free(s);
	return rv;
}

pigeon_status
store_sub_open(
    store_sub **out, const char *url, store_sub_fn fn, void (*on_connect)(void *arg), void *arg)
{
	store_sub tmpl = {.fn = fn, .on_connect = on_connect, .arg = arg};

	if (fn == NULL)
		return PIGEON_INVALID_ARGUMENT;
	return sub_start(out, url, &tmpl);
}

pigeon_status
store_sub_open_auth(store_sub **out, const char *url, store_sub_raw_fn fn,
    void (*on_connect)(void *arg), void (*on_lost)(void *arg), void *arg)
{
	store_sub tmpl = {.raw_fn = fn, .on_connect = on_connect, .on_lost = on_lost, .arg = arg};

	if (fn == NULL)
		return PIGEON_INVALID_ARGUMENT;
	return sub_start(out, url, &tmpl);
}

void
store_sub_close(store_sub *s)
{
	ssize_t n;

	if (s == NULL)
		return;
	do
		n = write(s->stop_pipe[1], "x", 1);
	while (n < 0 && errno == EINTR);
	pthread_join(s->thread, NULL);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	free(s);
}
