/* SPDX-License-Identifier: MIT */
/* The worker's blocking queue connection; see queue.h. */
#include "queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clocks.h"
#include "log.h"
#include "names.h"
#include "redis.h"

/* Longer than the longest XREADGROUP BLOCK, so a blocked read never times
 * out on the socket. */
#define QUEUE_TIMEOUT_MS 5000
#define QUEUE_BLOCK_MAX_MS 1000

struct store_queue {
	store_url url;
	char *consumer;
	char jmax[24];
	redisContext *c;
	store_sha shas[STORE_SCRIPT_COUNT];
	/* When this consumer last said it is alive (store_queue_take). */
	int64_t beat_ms;
};

void
store_queue_batch_clear(store_queue_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->entries[i].sender);
		free(b->entries[i].recipient);
		free(b->entries[i].content);
	}
	b->n = 0;
}

void
store_queue_batch_fini(store_queue_batch *b)
{
	store_queue_batch_clear(b);
	free(b->entries);
	b->entries = NULL;
	b->cap = 0;
}

pigeon_status
store_queue_open(store_queue **out, const char *url, const char *consumer, uint64_t journal_max)
{
	store_queue *q;
	pigeon_status rv;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	if ((rv = store_url_parse(url != NULL ? url : STORE_DEFAULT_URL, &q->url)) != PIGEON_OK)
		goto fail_free;
	if ((q->consumer = strdup(consumer)) == NULL) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_free;
	}
	snprintf(q->jmax, sizeof(q->jmax), "%" PRIu64, journal_max != 0 ? journal_max : 1000000);
	*out = q;
	return PIGEON_OK;

fail_free:
	free(q);
	return rv;
}

void
store_queue_close(store_queue *q)
{
	if (q == NULL)
		return;
	if (q->c != NULL)
		redisFree(q->c);
	free(q->consumer);
	free(q);
}

static void
drop(store_queue *q, const char *why)
{
	log_warn("store", "queue connection lost consumer=%s err=%s", q->consumer, why);
	redisFree(q->c);
	q->c = NULL;
}

static pigeon_status
ensure_connected(store_queue *q)
{
	char err[160];
	pigeon_status rv;

	if (q->c != NULL)
		return PIGEON_OK;
	if ((q->c = store_redis_connect(&q->url, QUEUE_TIMEOUT_MS, err, sizeof(err))) == NULL) {
		log_debug("store", "queue cannot connect consumer=%s err=%s", q->consumer, err);
		return PIGEON_UNAVAILABLE;
	}
	if ((rv = store_redis_load_scripts(q->c, q->shas, err, sizeof(err))) != PIGEON_OK ||
	    (rv = store_redis_create_group(q->c, err, sizeof(err))) != PIGEON_OK) {
		drop(q, err);
		return rv;
	}
	return PIGEON_OK;
}

/* A command's reply; NULL after dropping a broken connection. */
static redisReply *
command_argv(store_queue *q, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(q->c, argc, argv, NULL);

	if (r == NULL)
		drop(q, q->c->errstr);
	return r;
}

static pigeon_status
status_of_error_reply(store_queue *q, const redisReply *r, const char *what)
{
	const char *msg;
	pigeon_status rv = store_status_from_error(r->str, &msg);

	log_warn("store", "%s failed consumer=%s err=%s", what, q->consumer, r->str);
	/* The group or stream vanished: a fresh connection creates them. */
	if (strncmp(r->str, "NOGROUP", 7) == 0) {
		drop(q, r->str);
		rv = PIGEON_UNAVAILABLE;
	}
	return rv;
}

static char *
dup_str(const redisReply *r, size_t *len)
{
	char *s;

	if (r == NULL || r->type != REDIS_REPLY_STRING)
		return NULL;
	if ((s = malloc(r->len + 1)) == NULL)
		return NULL;
	memcpy(s, r->str, r->len + 1);
	if (len != NULL)
		*len = r->len;
	return s;
}

/* Appends one stream entry [id, [field, value, ...]] to b. */
static pigeon_status
append_entry(store_queue_batch *b, const redisReply *e, uint32_t deliveries)
{
	store_queue_entry *x;
	const redisReply *f;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[0]->len >= sizeof(x->entry_id))
		return PIGEON_INTERNAL;
	if (b->n == b->cap) {
		size_t cap = b->cap != 0 ? b->cap * 2 : 16;
		store_queue_entry *grown = realloc(b->entries, cap * sizeof(*grown));

		if (grown == NULL)
			return PIGEON_RESOURCE_EXHAUSTED;
		b->entries = grown;
		b->cap = cap;
	}
	x = &b->entries[b->n];
	memset(x, 0, sizeof(*x));
	memcpy(x->entry_id, e->element[0]->str, e->element[0]->len + 1);
	x->deliveries = deliveries;
	f = e->element[1];
	/* An entry whose fields are gone still gets a slot: finish acknowledges
	 * it. */
	if (f->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i + 1 < f->elements; i += 2) {
			const redisReply *k = f->element[i], *v = f->element[i + 1];

			if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
				continue;
			if (strcmp(k->str, "id") == 0)
				x->message_id = strtoull(v->str, NULL, 10);
			else if (strcmp(k->str, "sender") == 0 && x->sender == NULL)
				x->sender = dup_str(v, NULL);
			else if (strcmp(k->str, "recipient") == 0 && x->recipient == NULL)
				x->recipient = dup_str(v, NULL);
			else if (strcmp(k->str, "content") == 0 && x->content == NULL)
				x->content = dup_str(v, &x->content_len);
		}
	}
	if (x->sender == NULL)
		x->sender = strdup("");
	if (x->recipient == NULL)
		x->recipient = strdup("");
	if (x->content == NULL)
		x->content = strdup("");
	b->n++;
	if (x->sender == NULL || x->recipient == NULL || x->content == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	return PIGEON_OK;
}

static pigeon_status
append_entries(store_queue_batch *b, const redisReply *list, const uint32_t *deliveries)
{
	pigeon_status rv;

	for (size_t i = 0; i < list->elements; i++)
		if ((rv = append_entry(b, list->element[i], deliveries ? deliveries[i] : 1)) !=
		    PIGEON_OK)
			return rv;
	return PIGEON_OK;
}

/* Records this consumer as alive, once a second at most, and forgets
 * consumers silent for a minute.  Redis 7.0 does not reset a consumer's idle
 * time on a read that finds nothing, so idle time cannot tell a live worker
 * on a quiet queue from a dead one. */
static pigeon_status
heartbeat(store_queue *q)
{
	char now[24], old[24];
	const char *zadd[] = {"ZADD", STORE_KEY_WORKERS, now, q->consumer};
	const char *zrem[] = {"ZREMRANGEBYSCORE", STORE_KEY_WORKERS, "-inf", old};
	int64_t t = clocks_wall_ms();
	redisReply *r;

	if (t - q->beat_ms < 1000)
		return PIGEON_OK;
	snprintf(now, sizeof(now), "%" PRId64, t);
	snprintf(old, sizeof(old), "(%" PRId64, t - 60000);
	if ((r = command_argv(q, 4, zadd)) == NULL)
		return PIGEON_UNAVAILABLE;
	freeReplyObject(r);
	if ((r = command_argv(q, 4, zrem)) == NULL)
		return PIGEON_UNAVAILABLE;
	freeReplyObject(r);
	q->beat_ms = t;
	return PIGEON_OK;
}

pigeon_status
store_queue_take(store_queue *q, size_t max, int block_ms, store_queue_batch *b)
{
	char count[24], block[24];
	const char *argv[] = {"XREADGROUP", "GROUP", STORE_GROUP, q->consumer, "COUNT", count,
	    "BLOCK", block, "STREAMS", STORE_KEY_QUEUE, ">"};
	redisReply *r;
	pigeon_status rv = PIGEON_OK;

	if ((rv = ensure_connected(q)) != PIGEON_OK || (rv = heartbeat(q)) != PIGEON_OK)
		return rv;
	snprintf(count, sizeof(count), "%zu", max);
	snprintf(block, sizeof(block), "%d",
	    block_ms < 1 ? 1 : block_ms > QUEUE_BLOCK_MAX_MS ? QUEUE_BLOCK_MAX_MS : block_ms);
	if ((r = command_argv(q, 11, argv)) == NULL)
		return PIGEON_UNAVAILABLE;
	if (r->type == REDIS_REPLY_ERROR)
		rv = status_of_error_reply(q, r, "XREADGROUP");
	else if (r->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < r->elements && rv == PIGEON_OK; i++)
			if (r->element[i]->type == REDIS_REPLY_ARRAY &&
			    r->element[i]->elements == 2 &&
			    r->element[i]->element[1]->type == REDIS_REPLY_ARRAY)
				rv = append_entries(b, r->element[i]->element[1], NULL);
	freeReplyObject(r);
	return rv;
}

/* Sends the commands in cmd (n of them, in one write) and reads their
 * replies into replies, in order.  A NOSCRIPT reply (the script cache was
 * flushed) loads the scripts and sends everything again, once: a script's
 * sha is that of its text, so the same command runs it, and every script
 * here checks each message's state first, so running one twice changes
 * nothing. */
static pigeon_status
send_scripts(store_queue *q, const store_cmd *cmd, size_t n, redisReply **replies)
{
	char err[160];
	bool noscript;

	if (cmd->failed)
		return PIGEON_RESOURCE_EXHAUSTED;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (redisAppendFormattedCommand(q->c, cmd->buf, cmd->len) != REDIS_OK) {
			drop(q, q->c->errstr);
			return PIGEON_UNAVAILABLE;
		}
		noscript = false;
		for (size_t i = 0; i < n; i++) {
			if (redisGetReply(q->c, (void **)&replies[i]) != REDIS_OK) {
				for (size_t j = 0; j < i; j++)
					freeReplyObject(replies[j]);
				drop(q, q->c->errstr);
				return PIGEON_UNAVAILABLE;
			}
			noscript = noscript || store_reply_is_noscript(replies[i]);
		}
		if (!noscript)
			return PIGEON_OK;
		for (size_t i = 0; i < n; i++)
			freeReplyObject(replies[i]);
		log_warn("store", "scripts missing in redis, loading them again");
		if (store_redis_load_scripts(q->c, q->shas, err, sizeof(err)) != PIGEON_OK) {
			drop(q, err);
			return PIGEON_UNAVAILABLE;
		}
	}
	return PIGEON_INTERNAL;
}

static void
free_replies(redisReply **replies, size_t n)
{
	for (size_t i = 0; i < n; i++)
		freeReplyObject(replies[i]);
	free(replies);
}

/* The state word a script answered first in its array, or NULL. */
static const char *
reply_state(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return NULL;
	return r->element[0]->str;
}

/* A batch script's reply: `per` elements for each of the n messages, the
 * first a state word, the others integers.  An error reply fails the whole
 * batch (nothing was written: see the scripts); anything else is a bug. */
static pigeon_status
check_batch_reply(store_queue *q, const redisReply *r, size_t n, size_t per, const char *what)
{
	if (r->type == REDIS_REPLY_ERROR)
		return status_of_error_reply(q, r, what);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != n * per)
		goto bad;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type != (i % per == 0 ? REDIS_REPLY_STRING : REDIS_REPLY_INTEGER))
			goto bad;
	return PIGEON_OK;
bad:
	log_error("store", "unexpected reply to %s consumer=%s type=%d", what, q->consumer, r->type);
	return PIGEON_INTERNAL;
}

pigeon_status
store_queue_claim(
    store_queue *q, store_queue_batch *b, uint32_t rate_window_s, uint32_t flood_window_s)
{
	store_cmd cmd = STORE_CMD_INIT;
	redisReply *r = NULL;
	const char *checking;
	pigeon_status rv;

	if (b->n == 0)
		return PIGEON_OK;
	if ((rv = ensure_connected(q)) != PIGEON_OK)
		return rv;
	store_cmd_evalsha(&cmd, q->shas[STORE_SCRIPT_CLAIM], 2 + 2 * b->n);
	store_cmd_u64(&cmd, rate_window_s);
	store_cmd_u64(&cmd, flood_window_s);
	for (size_t i = 0; i < b->n; i++) {
		char fp[17];

		snprintf(fp, sizeof(fp), "%016" PRIx64, b->entries[i].fingerprint);
		store_cmd_u64(&cmd, b->entries[i].message_id);
		store_cmd_arg(&cmd, fp, 16);
	}
	if ((rv = send_scripts(q, &cmd, 1, &r)) != PIGEON_OK)
		goto done;
	if ((rv = check_batch_reply(q, r, b->n, 3, "claim")) != PIGEON_OK)
		goto done;
	checking = names_message_state(PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_BEING_SPAM_CHECKED);
	for (size_t i = 0; i < b->n; i++) {
		store_queue_entry *x = &b->entries[i];
		redisReply *const *e = &r->element[3 * i];

		/* The state the claim left the message in: this worker's when
		 * it is being checked. */
		x->claimed = strcmp(e[0]->str, checking) == 0;
		x->sent_in_window = (uint32_t)e[1]->integer;
		x->flood_recipients = (uint32_t)e[2]->integer;
	}
done:
	if (r != NULL)
		freeReplyObject(r);
	store_cmd_fini(&cmd);
	return rv;
}

pigeon_status
store_queue_bayes_version(store_queue *q, uint64_t *version)
{
	const char *argv[] = {"HGET", "pigeon:{bayes}:learned", "version"};
	redisReply *r;
	pigeon_status rv;
	unsigned long long v = 0;

	if ((rv = ensure_connected(q)) != PIGEON_OK)
		return rv;
	if ((r = command_argv(q, 3, argv)) == NULL)
		return PIGEON_UNAVAILABLE;
	if (r->type == REDIS_REPLY_ERROR)
		rv = status_of_error_reply(q, r, "bayes version");
	else if (r->type == REDIS_REPLY_STRING && sscanf(r->str, "%llu", &v) != 1)
		rv = PIGEON_INTERNAL;
	else
		*version = v;
	freeReplyObject(r);
	return rv;
}

/* A count of read_bayes's reply, which Redis gives as decimal text. */
static bool
bayes_count(const redisReply *r, uint32_t *n)
{
	char *end;
	unsigned long v;

	if (r->type != REDIS_REPLY_STRING)
		return false;
	v = strtoul(r->str, &end, 10);
	if (end == r->str || *end != '\0')
		return false;
	*n = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return true;
}

/* Hands on each pair of a flattened HGETALL as spam (or ham) counts. */
static void
bayes_pairs(const redisReply *flat, bool spam, store_bayes_fn fn, void *arg)
{
	for (size_t i = 0; i + 1 < flat->elements; i += 2) {
		const redisReply *k = flat->element[i];
		char *end;
		uint64_t token;
		uint32_t n;

		if (k->type != REDIS_REPLY_STRING || k->len != 16 ||
		    !bayes_count(flat->element[i + 1], &n))
			continue;
		token = strtoull(k->str, &end, 16);
		if (*end != '\0')
			continue;
		fn(arg, token, spam ? n : 0, spam ? 0 : n);
	}
}

/* Walks one of the count hashes with HSCAN, COUNT BAYES_SCAN_COUNT a
 * call: each call holds Redis for a fraction of a millisecond, where one
 * HGETALL of a large model would hold it for tens. */
#define BAYES_SCAN_COUNT "1000"

static pigeon_status
bayes_scan(store_queue *q, const char *key, bool spam, store_bayes_fn fn, void *arg)
{
	char cursor[24] = "0";

	do {
		const char *argv[] = {"HSCAN", key, cursor, "COUNT", BAYES_SCAN_COUNT};
		redisReply *r;

		if ((r = command_argv(q, 5, argv)) == NULL)
			return PIGEON_UNAVAILABLE;
		if (r->type == REDIS_REPLY_ERROR) {
			pigeon_status rv = status_of_error_reply(q, r, "bayes scan");

			freeReplyObject(r);
			return rv;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return PIGEON_INTERNAL;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
		bayes_pairs(r->element[1], spam, fn, arg);
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return PIGEON_OK;
}

pigeon_status
store_queue_bayes_read(store_queue *q, uint64_t *version, uint32_t *spam_msgs,
    uint32_t *ham_msgs, store_bayes_fn fn, void *arg)
{
	const char *argv[] = {"HMGET", "pigeon:{bayes}:learned", "version", "spam", "ham"};
	unsigned long long v[3] = {0, 0, 0};
	redisReply *r;
	pigeon_status rv;

	if ((rv = ensure_connected(q)) != PIGEON_OK)
		return rv;
	if ((r = command_argv(q, 5, argv)) == NULL)
		return PIGEON_UNAVAILABLE;
	if (r->type == REDIS_REPLY_ERROR) {
		rv = status_of_error_reply(q, r, "bayes read");
	} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
		rv = PIGEON_INTERNAL;
	} else {
		for (size_t i = 0; i < 3; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    sscanf(r->element[i]->str, "%llu", &v[i]) != 1)
				rv = PIGEON_INTERNAL;
	}
	freeReplyObject(r);
	if (rv != PIGEON_OK)
		return rv;
	*version = v[0];
	*spam_msgs = v[1] > UINT32_MAX ? UINT32_MAX : (uint32_t)v[1];
	*ham_msgs = v[2] > UINT32_MAX ? UINT32_MAX : (uint32_t)v[2];
	if ((rv = bayes_scan(q, "pigeon:{bayes}:spam", true, fn, arg)) != PIGEON_OK)
		return rv;
	return bayes_scan(q, "pigeon:{bayes}:ham", false, fn, arg);
}

static const char *const verdict_words[] = {
	[STORE_VERDICT_DELIVER] = "deliver",
	[STORE_VERDICT_SPAM] = "spam",
	[STORE_VERDICT_WOULD_BE_SPAM] = "would_be_spam",
};

pigeon_status
store_queue_finish(store_queue *q, const store_queue_batch *b)
{
	store_cmd cmd = STORE_CMD_INIT;
	redisReply *r = NULL;
	pigeon_status rv;

	if (b->n == 0)
		return PIGEON_OK;
	if ((rv = ensure_connected(q)) != PIGEON_OK)
		return rv;
	store_cmd_evalsha(&cmd, q->shas[STORE_SCRIPT_FINISH], 1 + 4 * b->n);
	store_cmd_str(&cmd, q->jmax);
	for (size_t i = 0; i < b->n; i++) {
		const store_queue_entry *x = &b->entries[i];

		store_cmd_u64(&cmd, x->message_id);
		store_cmd_str(&cmd, x->entry_id);
		store_cmd_str(&cmd, verdict_words[x->verdict]);
		store_cmd_str(&cmd, x->reason);
	}
	if ((rv = send_scripts(q, &cmd, 1, &r)) == PIGEON_OK)
		rv = check_batch_reply(q, r, b->n, 2, "finish");
	if (r != NULL)
		freeReplyObject(r);
	store_cmd_fini(&cmd);
	return rv;
}

/* Reads the delivery count of entries [first, b->n), which this consumer
 * has just claimed: one XPENDING each, in one round trip (this is rare:
 * entries are reclaimed only from a consumer that stopped).  An entry no
 * longer pending keeps the count 1. */
static pigeon_status
read_deliveries(store_queue *q, store_queue_batch *b, size_t first)
{
	store_cmd cmd = STORE_CMD_INIT;
	size_t n = b->n - first;
	redisReply **replies;
	pigeon_status rv;

	if ((replies = calloc(n, sizeof(*replies))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	for (size_t i = first; i < b->n; i++) {
		store_cmd_begin(&cmd, 7);
		store_cmd_str(&cmd, "XPENDING");
		store_cmd_str(&cmd, STORE_KEY_QUEUE);
		store_cmd_str(&cmd, STORE_GROUP);
		store_cmd_str(&cmd, b->entries[i].entry_id);
		store_cmd_str(&cmd, b->entries[i].entry_id);
		store_cmd_str(&cmd, "1");
		store_cmd_str(&cmd, q->consumer);
	}
	if ((rv = send_scripts(q, &cmd, n, replies)) == PIGEON_OK) {
		for (size_t i = 0; i < n; i++) {
			const redisReply *r = replies[i], *row;

			if (r->type == REDIS_REPLY_ERROR) {
				rv = status_of_error_reply(q, r, "XPENDING");
				break;
			}
			if (r->type != REDIS_REPLY_ARRAY || r->elements != 1)
				continue;
			row = r->element[0];
			if (row->type == REDIS_REPLY_ARRAY && row->elements == 4 &&
			    row->element[3]->type == REDIS_REPLY_INTEGER &&
			    row->element[3]->integer > 0)
				b->entries[first + i].deliveries = (uint32_t)row->element[3]->integer;
		}
		free_replies(replies, n);
	} else {
		free(replies);
	}
	store_cmd_fini(&cmd);
	return rv;
}

/* Dead-letters the entries of [first, b->n) handed out more than
 * max_attempts times (the claim that brought them here included), one
 * script each, in one round trip, recording the hand-outs before this
 * one; and takes them out of the batch.  The script acknowledges each
 * entry, whatever the message's state. */
static pigeon_status
dead_letter(store_queue *q, store_queue_batch *b, size_t first, uint32_t max_attempts,
    size_t *dead)
{
	store_cmd cmd = STORE_CMD_INIT;
	redisReply **replies = NULL;
	size_t n = 0, kept = first;
	pigeon_status rv = PIGEON_OK;

	for (size_t i = first; i < b->n; i++) {
		if (b->entries[i].deliveries <= max_attempts)
			continue;
		store_cmd_evalsha(&cmd, q->shas[STORE_SCRIPT_DEADLETTER], 4);
		store_cmd_str(&cmd, b->entries[i].entry_id);
		store_cmd_u64(&cmd, b->entries[i].deliveries - 1);
		store_cmd_str(&cmd, "too many delivery attempts");
		store_cmd_str(&cmd, q->jmax);
		n++;
	}
	if (n == 0)
		goto done;
	if ((replies = calloc(n, sizeof(*replies))) == NULL) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto done;
	}
	if ((rv = send_scripts(q, &cmd, n, replies)) != PIGEON_OK) {
		free(replies);
		goto done;
	}
	for (size_t i = first, k = 0; i < b->n; i++) {
		store_queue_entry *x = &b->entries[i];
		const char *state;

		if (x->deliveries <= max_attempts) {
			if (kept != i)
				b->entries[kept] = *x;
			kept++;
			continue;
		}
		if ((state = reply_state(replies[k])) != NULL && strcmp(state, "dead_letter") == 0) {
			(*dead)++;
			log_warn("store", "message dead-lettered entry=%s deliveries=%u", x->entry_id,
			    x->deliveries - 1);
		} else if (replies[k]->type == REDIS_REPLY_ERROR) {
			rv = status_of_error_reply(q, replies[k], "deadletter");
		}
		k++;
		free(x->sender);
		free(x->recipient);
		free(x->content);
	}
	b->n = kept;
	free_replies(replies, n);
done:
	store_cmd_fini(&cmd);
	return rv;
}

/* The string value of field `name` in a flat [field, value, ...] reply. */
static const redisReply *
field(const redisReply *flat, const char *name)
{
	if (flat->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < flat->elements; i += 2)
		if (flat->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(flat->element[i]->str, name) == 0)
			return flat->element[i + 1];
	return NULL;
}

/* Deletes the consumers of the group (other than this one) that hold no
 * entries, have not read for idle_ms (at least STORE_CONSUMER_LIVE_MS) and
 * have sent no heartbeat for STORE_CONSUMER_LIVE_MS, so that the group does
 * not grow by a consumer at every worker restart. */
/* True when `name` sent a heartbeat within STORE_CONSUMER_LIVE_MS (or when
 * that cannot be told: a consumer is never deleted on a guess). */
static bool
consumer_beating(store_queue *q, const char *name)
{
	const char *argv[] = {"ZSCORE", STORE_KEY_WORKERS, name};
	redisReply *r = command_argv(q, 3, argv);
	bool beating = true;

	if (r != NULL && r->type == REDIS_REPLY_NIL)
		beating = false;
	else if (r != NULL && r->type == REDIS_REPLY_STRING)
		beating = strtoll(r->str, NULL, 10) >= clocks_wall_ms() - STORE_CONSUMER_LIVE_MS;
	freeReplyObject(r);
	return beating;
}

static pigeon_status
prune_consumers(store_queue *q, int64_t idle_ms)
{
	const char *argv[] = {"XINFO", "CONSUMERS", STORE_KEY_QUEUE, STORE_GROUP};
	redisReply *r;
	pigeon_status rv = PIGEON_OK;

	if (idle_ms < STORE_CONSUMER_LIVE_MS)
		idle_ms = STORE_CONSUMER_LIVE_MS;
	if ((r = command_argv(q, 4, argv)) == NULL)
		return PIGEON_UNAVAILABLE;
	if (r->type == REDIS_REPLY_ERROR) {
		rv = status_of_error_reply(q, r, "XINFO CONSUMERS");
		goto done;
	}
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *name = field(r->element[i], "name");
		const redisReply *pending = field(r->element[i], "pending");
		const redisReply *idle = field(r->element[i], "idle");
		const char *dargv[] = {"XGROUP", "DELCONSUMER", STORE_KEY_QUEUE, STORE_GROUP, NULL};
		redisReply *d;

		if (name == NULL || name->type != REDIS_REPLY_STRING || pending == NULL ||
		    pending->type != REDIS_REPLY_INTEGER || pending->integer != 0 || idle == NULL ||
		    idle->type != REDIS_REPLY_INTEGER || idle->integer < idle_ms ||
		    strcmp(name->str, q->consumer) == 0 || consumer_beating(q, name->str))
			continue;
		dargv[4] = name->str;
		if ((d = command_argv(q, 5, dargv)) == NULL) {
			rv = PIGEON_UNAVAILABLE;
			goto done;
		}
		log_info("store", "deleted idle consumer consumer=%s idle_ms=%lld", name->str,
		    idle->integer);
		freeReplyObject(d);
	}
done:
	freeReplyObject(r);
	return rv;
}

pigeon_status
store_queue_trim(store_queue *q)
{
	redisReply *r[4] = {NULL};
	const redisReply *pend, *groups, *from = NULL;
	char minid[48];
	pigeon_status rv = PIGEON_OK;

	if ((rv = ensure_connected(q)) != PIGEON_OK)
		return rv;
	/* One snapshot of both: an entry read between two separate reads
	 * could otherwise be trimmed while still pending. */
	if (redisAppendCommand(q->c, "MULTI") != REDIS_OK ||
	    redisAppendCommand(q->c, "XPENDING %s %s", STORE_KEY_QUEUE, STORE_GROUP) !=
		REDIS_OK ||
	    redisAppendCommand(q->c, "XINFO GROUPS %s", STORE_KEY_QUEUE) != REDIS_OK ||
	    redisAppendCommand(q->c, "EXEC") != REDIS_OK)
		goto broken;
	for (int i = 0; i < 4; i++)
		if (redisGetReply(q->c, (void **)&r[i]) != REDIS_OK)
			goto broken;
	if (r[3]->type != REDIS_REPLY_ARRAY || r[3]->elements != 2) {
		rv = r[3]->type == REDIS_REPLY_ERROR ? status_of_error_reply(q, r[3], "trim")
						      : PIGEON_INTERNAL;
		goto done;
	}
	pend = r[3]->element[0];
	groups = r[3]->element[1];
	/* Entries older than the oldest pending one, or with nothing pending
	 * older than the group's last delivered one, are all acknowledged. */
	if (pend->type == REDIS_REPLY_ARRAY && pend->elements == 4 &&
	    pend->element[0]->type == REDIS_REPLY_INTEGER && pend->element[0]->integer > 0)
		from = pend->element[1];
	for (size_t i = 0; from == NULL && groups->type == REDIS_REPLY_ARRAY &&
			   i < groups->elements; i++) {
		const redisReply *name = field(groups->element[i], "name");

		if (name != NULL && name->type == REDIS_REPLY_STRING &&
		    strcmp(name->str, STORE_GROUP) == 0)
			from = field(groups->element[i], "last-delivered-id");
	}
	if (from == NULL || from->type != REDIS_REPLY_STRING || from->len >= sizeof(minid))
		goto done;
	memcpy(minid, from->str, from->len + 1);
	{
		const char *targv[] = {"XTRIM", STORE_KEY_QUEUE, "MINID", "~", minid};
		redisReply *t = command_argv(q, 5, targv);

		if (t == NULL) {
			rv = PIGEON_UNAVAILABLE;
			goto done;
		}
		if (t->type == REDIS_REPLY_ERROR)
			rv = status_of_error_reply(q, t, "XTRIM");
		freeReplyObject(t);
	}
done:
	for (int i = 0; i < 4; i++)
		if (r[i] != NULL)
			freeReplyObject(r[i]);
	return rv;
broken:
	for (int i = 0; i < 4; i++)
		if (r[i] != NULL)
			freeReplyObject(r[i]);
	drop(q, q->c->errstr);
	return PIGEON_UNAVAILABLE;
}

pigeon_status
store_queue_reclaim(store_queue *q, int64_t idle_ms, uint32_t max_attempts, size_t max,
    store_queue_batch *b, size_t *dead)
{
	char idle[24], count[24];
	const char *argv[] = {"XAUTOCLAIM", STORE_KEY_QUEUE, STORE_GROUP, q->consumer, idle,
	    "0-0", "COUNT", count};
	redisReply *r;
	size_t first = b->n;
	pigeon_status rv = PIGEON_OK;

	*dead = 0;
	if ((rv = ensure_connected(q)) != PIGEON_OK)
		return rv;
	snprintf(idle, sizeof(idle), "%" PRId64, idle_ms);
	snprintf(count, sizeof(count), "%zu", max);
	/* Claim first, then read the counts: counts read before the claim
	 * would miss an entry that reached idle_ms in between. */
	if ((r = command_argv(q, 8, argv)) == NULL)
		return PIGEON_UNAVAILABLE;
	if (r->type == REDIS_REPLY_ERROR)
		rv = status_of_error_reply(q, r, "XAUTOCLAIM");
	else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
		 r->element[1]->type == REDIS_REPLY_ARRAY)
		rv = append_entries(b, r->element[1], NULL);
	freeReplyObject(r);
	if (rv == PIGEON_OK && b->n > first && (rv = read_deliveries(q, b, first)) == PIGEON_OK)
		rv = dead_letter(q, b, first, max_attempts, dead);
	if (rv == PIGEON_OK)
		rv = prune_consumers(q, idle_ms);
	return rv;
}
