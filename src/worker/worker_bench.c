/* SPDX-License-Identifier: MIT */
/*
 * pigeon-worker-bench: how fast the worker pool drains a full queue.  It
 * queues N messages through the store with no worker running, resets
 * Redis's command statistics, starts the pool and times it until every
 * message is final, then prints messages per second and the EVALSHA figures
 * of INFO commandstats.  It reads and writes Redis directly, as the tests
 * do, and flushes it first:
 * point it at a scratch instance only.
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "opts.h"
#include "store.h"
#include "clocks.h"
#include "worker.h"

static const char *const senders[] = {"Alice", "Malory", "Dizzzmas", "Ilya", "flain1"};

static atomic_ulong sent_ok, sent_failed;

static void
sent(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	if (st == PIGEON_OK)
		atomic_fetch_add(&sent_ok, 1);
	else
		atomic_fetch_add(&sent_failed, 1);
}

static long long
final_count(redisContext *c)
{
	long long sum = 0;

	for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		redisReply *r = redisCommand(c, "HMGET pigeon:stats:%s delivered marked_as_spam",
		    senders[i]);

		if (r == NULL)
			return -1;
		for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++)
			if (r->element[k]->type == REDIS_REPLY_STRING)
				sum += strtoll(r->element[k]->str, NULL, 10);
		freeReplyObject(r);
	}
	return sum;
}

static void
print_commandstats(redisContext *c)
{
	redisReply *r = redisCommand(c, "INFO commandstats");
	char *line, *save = NULL;

	if (r == NULL || r->type != REDIS_REPLY_STRING)
		return;
	for (line = strtok_r(r->str, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save))
		if (strncmp(line, "cmdstat_", 8) == 0)
			printf("  %s\n", line);
	freeReplyObject(r);
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *spam = NULL, *level = NULL;
	uint64_t n = 0, workers = 0, batch = 0;
	const opt_def defs[] = {
		{"redis-url", "PIGEON_REDIS_URL", OPT_STRING, "redis://127.0.0.1:6379",
		    "a scratch Redis (it is flushed)", &url},
		{"messages", NULL, OPT_UINT, "100000", "messages to queue, then drain", &n},
		{"workers", NULL, OPT_UINT, "1", "worker threads", &workers},
		{"batch", NULL, OPT_UINT, "100", "messages per round trip", &batch},
		{"spam-config", NULL, OPT_STRING, NULL, "spam filter settings", &spam},
		{"log-level", NULL, OPT_STRING, "warn", "error, warn, info or debug", &level},
		{NULL, NULL, 0, NULL, NULL, NULL},
	};
	store_opts so = {0};
	worker_opts wo = {0};
	store *st;
	worker_pool *wp;
	redisContext *c;
	redisReply *r;
	char host[256];
	int port;
	char content[64];
	int first, code = 1;
	int64_t t0, t1;
	long long done;

	if (!opts_parse(defs, argc, argv, "[OPTION]...",
		"Times the worker pool draining a full queue.", &first, &code))
		return code;
	log_set_level_name(level);
	if (sscanf(url, "redis://%255[^:]:%d", host, &port) != 2) {
		fprintf(stderr, "--redis-url must be redis://HOST:PORT\n");
		return 2;
	}
	c = redisConnect(host, port);
	if (c == NULL || c->err) {
		fprintf(stderr, "cannot connect to %s\n", url);
		return 1;
	}
	freeReplyObject(redisCommand(c, "FLUSHALL"));
	for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++)
		freeReplyObject(redisCommand(c, "HSET pigeon:users %s regular", senders[i]));

	so.url = url;
	if (store_open(&st, &so) != PIGEON_OK)
		return 1;
	while (!store_connected(st))
		poll(NULL, 0, 5);
	t0 = clocks_mono_us();
	for (uint64_t i = 0; i < n; i++) {
		Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;

		snprintf(content, sizeof(content), "hello there, this is message %" PRIu64, i);
		req.sender = (char *)senders[i % 5];
		req.recipient = (char *)senders[(i + 1) % 5];
		req.content = content;
		store_send_message(st, &req, sent, NULL);
	}
	while (atomic_load(&sent_ok) + atomic_load(&sent_failed) < n)
		poll(NULL, 0, 5);
	t1 = clocks_mono_us();
	printf("queued %lu (failed %lu) in %.3f s: %.0f msg/s\n", atomic_load(&sent_ok),
	    atomic_load(&sent_failed), (t1 - t0) / 1e6, n / ((t1 - t0) / 1e6));
	store_close(st);

	freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
	wo.redis_url = url;
	wo.threads = (unsigned)workers;
	wo.batch = (unsigned)batch;
	wo.spam_config = spam;
	t0 = clocks_mono_us();
	if (worker_pool_start(&wp, &wo) != PIGEON_OK)
		return 1;
	while ((done = final_count(c)) >= 0 && (uint64_t)done < atomic_load(&sent_ok))
		poll(NULL, 0, 2);
	t1 = clocks_mono_us();
	worker_pool_stop(wp);
	printf("drained %lld with %u worker(s), batch %u, in %.3f s: %.0f msg/s\n", done,
	    wo.threads, wo.batch, (t1 - t0) / 1e6, done / ((t1 - t0) / 1e6));
	print_commandstats(c);
	r = redisCommand(c, "XLEN pigeon:queue");
	if (r != NULL)
		printf("queue length after: %lld\n", r->integer);
	freeReplyObject(r);
	redisFree(c);
	return 0;
}
