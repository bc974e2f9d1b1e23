/* SPDX-License-Identifier: MIT */
/*
 * The de-duplication table: a fixed ring of entries in arrival order (the
 * oldest is reused first) indexed by a chained hash.  One mutex; callbacks are
 * called after it is released, so a callback may start another request.
 */
#include "dedup.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct waiter {
	dedup_reply_fn fn;
	void *arg;
	struct waiter *next;
} waiter;

typedef struct entry {
	uint64_t client_id;
	uint64_t request_id;
	bool used;
	bool done;
	uint8_t *reply;
	size_t reply_len;
	waiter *waiters;
	struct entry *chain;
} entry;

struct dedup {
	pthread_mutex_t mtx;
	entry *ring;
	size_t capacity;
	size_t next;
	size_t count;
	entry **buckets;
	size_t nbuckets;
};

static size_t
bucket_of(const dedup *d, uint64_t client_id, uint64_t request_id)
{
	uint64_t h = client_id * 0x9e3779b97f4a7c15ULL ^ request_id * 0xc2b2ae3d27d4eb4fULL;

	return (size_t)(h ^ (h >> 29)) & (d->nbuckets - 1);
}

pigeon_status
dedup_new(dedup **out, size_t capacity)
{
	dedup *d;

	if (capacity == 0)
		return PIGEON_INVALID_ARGUMENT;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	d->capacity = capacity;
	for (d->nbuckets = 16; d->nbuckets < capacity; d->nbuckets <<= 1)
		;
	if ((d->ring = calloc(capacity, sizeof(*d->ring))) == NULL)
		goto fail_free;
	if ((d->buckets = calloc(d->nbuckets, sizeof(*d->buckets))) == NULL)
		goto fail_ring;
	if (pthread_mutex_init(&d->mtx, NULL) != 0)
		goto fail_buckets;
	*out = d;
	return PIGEON_OK;

fail_buckets:
	free(d->buckets);
fail_ring:
	free(d->ring);
fail_free:
	free(d);
	return PIGEON_RESOURCE_EXHAUSTED;
}

static void
waiters_free(waiter *w)
{
	while (w != NULL) {
		waiter *next = w->next;

		free(w);
		w = next;
	}
}

void
dedup_free(dedup *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->capacity; i++) {
		free(d->ring[i].reply);
		waiters_free(d->ring[i].waiters);
	}
	pthread_mutex_destroy(&d->mtx);
	free(d->buckets);
	free(d->ring);
	free(d);
}

static entry *
find(dedup *d, uint64_t client_id, uint64_t request_id)
{
	entry *e = d->buckets[bucket_of(d, client_id, request_id)];

	while (e != NULL && (e->client_id != client_id || e->request_id != request_id))
		e = e->chain;
	return e;
}

static void
unlink_entry(dedup *d, entry *e)
{
	entry **pp = &d->buckets[bucket_of(d, e->client_id, e->request_id)];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	free(e->reply);
	memset(e, 0, sizeof(*e));
	d->count--;
}

dedup_state
dedup_begin(dedup *d, uint64_t client_id, uint64_t request_id, dedup_reply_fn fn, void *arg)
{
	entry *e;
	uint8_t *copy = NULL;
	size_t copy_len = 0;
	dedup_state st;

	pthread_mutex_lock(&d->mtx);
	if ((e = find(d, client_id, request_id)) != NULL) {
		if (e->done) {
			/* Copied so the callback runs without the lock. */
			copy_len = e->reply_len;
			if ((copy = malloc(copy_len > 0 ? copy_len : 1)) == NULL) {
				pthread_mutex_unlock(&d->mtx);
				return DEDUP_UNTRACKED;
			}
			memcpy(copy, e->reply, copy_len);
			st = DEDUP_ANSWERED;
		} else {
			waiter *w = malloc(sizeof(*w));

			if (w == NULL) {
				pthread_mutex_unlock(&d->mtx);
				return DEDUP_UNTRACKED;
			}
			w->fn = fn;
			w->arg = arg;
			w->next = e->waiters;
			e->waiters = w;
			st = DEDUP_WAITING;
		}
		pthread_mutex_unlock(&d->mtx);
		if (st == DEDUP_ANSWERED) {
			fn(arg, copy, copy_len);
			free(copy);
		}
		return st;
	}

	e = &d->ring[d->next];
	if (e->used) {
		if (!e->done) {
			/* As many requests in flight as the table holds. */
			pthread_mutex_unlock(&d->mtx);
			return DEDUP_UNTRACKED;
		}
		unlink_entry(d, e);
	}
	d->next = (d->next + 1) % d->capacity;
	e->used = true;
	e->client_id = client_id;
	e->request_id = request_id;
	e->chain = d->buckets[bucket_of(d, client_id, request_id)];
	d->buckets[bucket_of(d, client_id, request_id)] = e;
	d->count++;
	pthread_mutex_unlock(&d->mtx);
	return DEDUP_NEW;
}

/* Hands the answer to the waiting copies and, when keep, records it for
 * later ones; otherwise forgets the request. */
static void
settle(dedup *d, uint64_t client_id, uint64_t request_id, const uint8_t *buf, size_t len,
    bool keep)
{
	entry *e;
	waiter *w;
	uint8_t *copy = NULL;

	if (keep)
		copy = malloc(len > 0 ? len : 1);
	pthread_mutex_lock(&d->mtx);
	if ((e = find(d, client_id, request_id)) == NULL || e->done) {
		pthread_mutex_unlock(&d->mtx);
		free(copy);
		return;
	}
	w = e->waiters;
	e->waiters = NULL;
	if (copy == NULL) {
		/* Not to be kept, or without memory for the answer: forget
		 * the request, so that a later copy executes again rather than
		 * getting a wrong answer. */
		unlink_entry(d, e);
	} else {
		memcpy(copy, buf, len);
		e->reply = copy;
		e->reply_len = len;
		e->done = true;
	}
	pthread_mutex_unlock(&d->mtx);
	for (waiter *it = w; it != NULL; it = it->next)
		it->fn(it->arg, buf, len);
	waiters_free(w);
}

void
dedup_finish(dedup *d, uint64_t client_id, uint64_t request_id, const uint8_t *buf, size_t len)
{
	settle(d, client_id, request_id, buf, len, true);
}

void
dedup_forget(dedup *d, uint64_t client_id, uint64_t request_id, const uint8_t *buf, size_t len)
{
	settle(d, client_id, request_id, buf, len, false);
}

size_t
dedup_size(dedup *d)
{
	size_t n;

	pthread_mutex_lock(&d->mtx);
	n = d->count;
	pthread_mutex_unlock(&d->mtx);
	return n;
}
