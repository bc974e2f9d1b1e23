/* SPDX-License-Identifier: MIT */
/*
 * The password pool; see passwd.h.
 *
 * Every job lives in one of threads + queue_max slots made at start, so an
 * accepted call allocates nothing and a full pool is simply one without a
 * free slot.  A slot is taken when a call is accepted and given back when its
 * callback has returned; the passwords of all slots share one guarded,
 * locked allocation.  One mutex guards the queue, the free slots and the
 * counters: a call checks that the pool accepts and queues its job under one
 * hold of it, so no job can be queued once passwd_pool_free has emptied the
 * queue.
 *
 * The argon2id functions are named rather than crypto_pwhash_str, whose
 * algorithm is libsodium's default of the day (argon2i before 1.0.15).
 */
#include "passwd.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "errors.h"
#include "log.h"

_Static_assert(PASSWD_HASH_BYTES == crypto_pwhash_argon2id_STRBYTES,
    "PASSWD_HASH_BYTES is libsodium's argon2id string size");
_Static_assert(PASSWD_MAX <= crypto_pwhash_argon2id_PASSWD_MAX, "libsodium takes PASSWD_MAX");

typedef enum job_kind {
	JOB_HASH,
	JOB_VERIFY,
	/* An unknown user: verify against the dummy hash, answer
	 * UNAUTHENTICATED. */
	JOB_VERIFY_DUMMY,
} job_kind;

typedef struct passwd_job passwd_job;

struct passwd_job {
	/* The queue's order, or the free list's. */
	passwd_job *next;
	job_kind kind;
	passwd_hash_fn hash_fn;
	passwd_verify_fn verify_fn;
	void *arg;
	/* PASSWD_MAX bytes of the pool's guarded allocation. */
	unsigned char *pw;
	size_t len;
	/* JOB_VERIFY: the stored hash; JOB_HASH: the result.  Its own copy,
	 * so that libsodium, which reads PASSWD_HASH_BYTES, never reads past
	 * the caller's string. */
	char hash[PASSWD_HASH_BYTES];
	/* JOB_VERIFY: the caller's string did not fit, so it is not one. */
	bool hash_too_long;
};

struct passwd_pool {
	pthread_mutex_t mu;
	/* Signalled when a job is queued and when the pool stops. */
	pthread_cond_t work;
	pthread_t *threads;
	unsigned nthreads;
	unsigned nstarted;
	unsigned nslots;
	unsigned long long opslimit;
	size_t memlimit;

	passwd_job *slots;
	/* nslots * PASSWD_MAX bytes from sodium_malloc. */
	unsigned char *secrets;
	passwd_job *free_slots;
	passwd_job *head;
	passwd_job *tail;
	unsigned queued;
	unsigned running;
	uint64_t refused;
	bool stopping;

	/* A random password's hash with the pool's parameters. */
	char dummy[PASSWD_HASH_BYTES];
};

/* libsodium's argon2id sets errno to EINVAL on a mismatch and leaves it
 * alone when the string does not decode; an allocation that fails sets
 * ENOMEM. */
static pigeon_status
verify_status(int rv, int err)
{
	if (rv == 0)
		return PIGEON_OK;
	if (err == ENOMEM)
		return PIGEON_RESOURCE_EXHAUSTED;
	if (err != EINVAL)
		log_warn("passwd", "stored hash is not an argon2id string");
	return PIGEON_UNAUTHENTICATED;
}

/* Computes what a job asks for, wipes its password, and answers.  Runs on a
 * pool thread without the lock. */
static void
job_run(passwd_pool *p, passwd_job *j)
{
	pigeon_status st;
	int rv, err;

	errno = 0;
	switch (j->kind) {
	case JOB_HASH:
		rv = crypto_pwhash_argon2id_str(
		    j->hash, (const char *)j->pw, j->len, p->opslimit, p->memlimit);
		err = errno;
		sodium_memzero(j->pw, j->len);
		st = rv == 0 ? PIGEON_OK : err == ENOMEM ? PIGEON_RESOURCE_EXHAUSTED : PIGEON_INTERNAL;
		if (st != PIGEON_OK)
			log_warn("passwd", "hashing failed errno=%d", err);
		j->hash_fn(j->arg, st, st == PIGEON_OK ? j->hash : NULL);
		break;
	case JOB_VERIFY:
		rv = -1;
		if (!j->hash_too_long)
			rv = crypto_pwhash_argon2id_str_verify(j->hash, (const char *)j->pw, j->len);
		st = verify_status(rv, errno);
		sodium_memzero(j->pw, j->len);
		j->verify_fn(j->arg, st);
		break;
	case JOB_VERIFY_DUMMY:
		rv = crypto_pwhash_argon2id_str_verify(p->dummy, (const char *)j->pw, j->len);
		st = verify_status(rv, errno);
		sodium_memzero(j->pw, j->len);
		j->verify_fn(j->arg, st == PIGEON_OK ? PIGEON_UNAUTHENTICATED : st);
		break;
	}
}

static void
job_cancel(passwd_job *j)
{
	sodium_memzero(j->pw, j->len);
	if (j->kind == JOB_HASH)
		j->hash_fn(j->arg, PIGEON_CANCELLED, NULL);
	else
		j->verify_fn(j->arg, PIGEON_CANCELLED);
}

static void *
pool_main(void *arg)
{
	passwd_pool *p = arg;
	passwd_job *j;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stopping && p->head == NULL)
			pthread_cond_wait(&p->work, &p->mu);
		/* Stopping empties the queue: nothing is left to take. */
		if (p->stopping)
			break;
		j = p->head;
		if ((p->head = j->next) == NULL)
			p->tail = NULL;
		p->queued--;
		p->running++;
		pthread_mutex_unlock(&p->mu);

		job_run(p, j);

		pthread_mutex_lock(&p->mu);
		p->running--;
		j->next = p->free_slots;
		p->free_slots = j;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Sets the threads stopping, takes the queue, and returns it. */
static passwd_job *
pool_stop(passwd_pool *p)
{
	passwd_job *queue;

	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	queue = p->head;
	p->head = p->tail = NULL;
	p->queued = 0;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	return queue;
}

static void
pool_join(passwd_pool *p)
{
	for (unsigned i = 0; i < p->nstarted; i++)
		pthread_join(p->threads[i], NULL);
	p->nstarted = 0;
}

/* Fills in the defaults and checks the limits. */
static pigeon_status
opts_apply(passwd_pool *p, const passwd_opts *o)
{
	passwd_opts d = {0};

	if (o == NULL)
		o = &d;
	p->nthreads = o->threads != 0 ? o->threads : PASSWD_THREADS_DEFAULT;
	p->nslots = p->nthreads + (o->queue_max != 0 ? o->queue_max : PASSWD_QUEUE_DEFAULT);
	p->opslimit = o->opslimit != 0 ? o->opslimit : PASSWD_OPSLIMIT_DEFAULT;
	p->memlimit = o->memlimit != 0 ? o->memlimit : PASSWD_MEMLIMIT_DEFAULT;
	if (o->threads > PASSWD_THREADS_MAX || o->queue_max > PASSWD_QUEUE_MAX)
		return PIGEON_INVALID_ARGUMENT;
	if (p->opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
	    p->opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX)
		return PIGEON_INVALID_ARGUMENT;
	if (p->memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
	    p->memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX)
		return PIGEON_INVALID_ARGUMENT;
	return PIGEON_OK;
}

/* The dummy hash's password is random and forgotten: nothing verifies
 * against it, and the answer is UNAUTHENTICATED whatever it says. */
static pigeon_status
dummy_make(passwd_pool *p)
{
	unsigned char pw[16];
	int rv;

	randombytes_buf(pw, sizeof(pw));
	errno = 0;
	rv = crypto_pwhash_argon2id_str(p->dummy, (const char *)pw, sizeof(pw), p->opslimit,
	    p->memlimit);
	sodium_memzero(pw, sizeof(pw));
	if (rv != 0)
		return errno == ENOMEM ? PIGEON_RESOURCE_EXHAUSTED : PIGEON_INTERNAL;
	return PIGEON_OK;
}

pigeon_status
passwd_pool_new(passwd_pool **out, const passwd_opts *o)
{
	passwd_pool *p;
	pigeon_status rv;
	int err;

	if (sodium_init() < 0)
		return PIGEON_INTERNAL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	if ((rv = opts_apply(p, o)) != PIGEON_OK)
		goto fail_free;
	rv = PIGEON_RESOURCE_EXHAUSTED;
	if ((p->threads = calloc(p->nthreads, sizeof(*p->threads))) == NULL)
		goto fail_free;
	if ((p->slots = calloc(p->nslots, sizeof(*p->slots))) == NULL)
		goto fail_threads;
	if ((p->secrets = sodium_allocarray(p->nslots, PASSWD_MAX)) == NULL)
		goto fail_slots;
	for (unsigned i = 0; i < p->nslots; i++) {
		p->slots[i].pw = p->secrets + (size_t)i * PASSWD_MAX;
		p->slots[i].next = p->free_slots;
		p->free_slots = &p->slots[i];
	}
	if ((rv = dummy_make(p)) != PIGEON_OK)
		goto fail_secrets;
	if ((err = pthread_mutex_init(&p->mu, NULL)) != 0) {
		rv = status_from_errno(err);
		goto fail_secrets;
	}
	if ((err = pthread_cond_init(&p->work, NULL)) != 0) {
		rv = status_from_errno(err);
		goto fail_mu;
	}
	for (; p->nstarted < p->nthreads; p->nstarted++) {
		if ((err = pthread_create(&p->threads[p->nstarted], NULL, pool_main, p)) != 0) {
			rv = PIGEON_RESOURCE_EXHAUSTED;
			goto fail_join;
		}
	}
	log_info("passwd", "started threads=%u queue_max=%u opslimit=%llu memlimit_kib=%zu",
	    p->nthreads, p->nslots - p->nthreads, p->opslimit, p->memlimit / 1024);
	*out = p;
	return PIGEON_OK;

fail_join:
	/* No call has been accepted yet: the queue is empty. */
	(void)pool_stop(p);
	pool_join(p);
	pthread_cond_destroy(&p->work);
fail_mu:
	pthread_mutex_destroy(&p->mu);
fail_secrets:
	sodium_free(p->secrets);
fail_slots:
	free(p->slots);
fail_threads:
	free(p->threads);
fail_free:
	free(p);
	return rv;
}

void
passwd_pool_free(passwd_pool *p)
{
	passwd_job *j, *next;

	if (p == NULL)
		return;
	/* The waiting jobs are answered before the running ones are waited
	 * for: their callers learn at once. */
	for (j = pool_stop(p); j != NULL; j = next) {
		next = j->next;
		job_cancel(j);
	}
	pool_join(p);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	sodium_free(p->secrets);
	free(p->slots);
	free(p->threads);
	free(p);
}

/* Takes a free slot and queues it with pw copied in, in one hold of the
 * lock.  tmpl gives what is particular to the job's kind. */
static pigeon_status
pool_submit(passwd_pool *p, const passwd_job *tmpl, const char *pw, size_t len)
{
	passwd_job *j;
	unsigned char *secret;
	pigeon_status rv = PIGEON_OK;

	if (len < PASSWD_MIN || len > PASSWD_MAX)
		return PIGEON_INVALID_ARGUMENT;
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		rv = PIGEON_UNAVAILABLE;
	} else if ((j = p->free_slots) == NULL) {
		p->refused++;
		rv = PIGEON_RESOURCE_EXHAUSTED;
	} else {
		p->free_slots = j->next;
		secret = j->pw;
		*j = *tmpl;
		j->next = NULL;
		j->pw = secret;
		j->len = len;
		memcpy(j->pw, pw, len);
		if (p->tail != NULL)
			p->tail->next = j;
		else
			p->head = j;
		p->tail = j;
		p->queued++;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->mu);
	return rv;
}

pigeon_status
passwd_hash(passwd_pool *p, const char *pw, size_t len, passwd_hash_fn cb, void *arg)
{
	passwd_job tmpl = {.kind = JOB_HASH, .hash_fn = cb, .arg = arg};

	assert(p != NULL && cb != NULL && (pw != NULL || len == 0));
	return pool_submit(p, &tmpl, pw, len);
}

pigeon_status
passwd_verify(passwd_pool *p, const char *hash, const char *pw, size_t len, passwd_verify_fn cb,
    void *arg)
{
	passwd_job tmpl = {.kind = JOB_VERIFY_DUMMY, .verify_fn = cb, .arg = arg};
	size_t n;

	assert(p != NULL && cb != NULL && (pw != NULL || len == 0));
	if (hash != NULL) {
		tmpl.kind = JOB_VERIFY;
		if ((n = strnlen(hash, sizeof(tmpl.hash))) < sizeof(tmpl.hash))
			memcpy(tmpl.hash, hash, n + 1);
		else
			tmpl.hash_too_long = true;
	}
	return pool_submit(p, &tmpl, pw, len);
}

bool
passwd_needs_rehash(const passwd_pool *p, const char *hash)
{
	char copy[PASSWD_HASH_BYTES] = "";
	size_t n;

	assert(p != NULL && hash != NULL);
	if ((n = strnlen(hash, sizeof(copy))) == sizeof(copy))
		return true;
	memcpy(copy, hash, n);
	/* 1: other parameters; -1: not an argon2id string. */
	return crypto_pwhash_argon2id_str_needs_rehash(copy, p->opslimit, p->memlimit) != 0;
}

void
passwd_pool_stats(passwd_pool *p, passwd_stats *out)
{
	pthread_mutex_lock(&p->mu);
	out->running = p->running;
	out->queued = p->queued;
	out->refused = p->refused;
	pthread_mutex_unlock(&p->mu);
}
