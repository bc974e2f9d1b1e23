/* SPDX-License-Identifier: MIT */
/* The worker threads; see worker.h. */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "bayes.h"
#include "clocks.h"
#include "log.h"
#include "queue.h"
#include "prom.h"
#include "spam.h"
#include "wait.h"

#define BLOCK_MS 1000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
/* Finished entries stay in the stream (acknowledged) until a trim: every
 * this many batches, and whenever the queue runs dry. */
#define TRIM_EVERY 16
/* How often the model loader asks whether the Bayesian counts changed,
 * and how long it waits at least between two loads (each walks every count:
 * about 200 calls of a fraction of a millisecond for 200,000 tokens).  A
 * worker decides with a model at most MODEL_RELOAD_MIN_MS plus one load
 * older than the last report or training call. */
#define MODEL_POLL_MS 1000
#define MODEL_RELOAD_MIN_MS 5000

/* What became of the messages a worker took: the label values of
 * pigeon_worker_messages_total. */
typedef enum verdict_kind {
	VERDICT_DELIVERED,
	VERDICT_SPAM,
	VERDICT_WOULD_BE_SPAM,
	VERDICT_DEAD_LETTER,
	/* Taken but already finished by another worker: nothing done. */
	VERDICT_SKIPPED,
	VERDICT_COUNT
} verdict_kind;

static const char *const verdict_names[VERDICT_COUNT] = {
	[VERDICT_DELIVERED] = "delivered",
	[VERDICT_SPAM] = "spam",
	[VERDICT_WOULD_BE_SPAM] = "would_be_spam",
	[VERDICT_DEAD_LETTER] = "dead_letter",
	[VERDICT_SKIPPED] = "skipped",
};

typedef struct filter_ref {
	spam_filter *f;
	unsigned refs;
} filter_ref;

typedef struct model_ref {
	spam_bayes_model *m;
	unsigned refs;
} model_ref;

typedef struct worker_thread {
	worker_pool *pool;
	pthread_t thread;
	store_queue *queue;
	store_queue_batch batch;
	unsigned untrimmed;
	bool started;
} worker_thread;

struct worker_pool {
	char *url;
	char *spam_config;
	unsigned nthreads;
	unsigned batch;
	int64_t reclaim_ms;
	uint32_t max_attempts;
	worker_thread *threads;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;

	/* The filter in use.  A batch holds a reference to one filter from
	 * its claim (the windows it counts in) to its verdicts; a reload
	 * swaps in a new one, and the old one is freed when its last batch
	 * lets go.  Guarded by filter_mu, which is held only to swap or count. */
	pthread_mutex_t filter_mu;
	filter_ref *filter;
	/* The Bayesian model in use, NULL until one with counts is loaded;
	 * swapped in by the loader thread and freed like the filter.  Guarded
	 * by filter_mu too. */
	model_ref *model;
	pthread_t loader;
	bool loader_started;
	store_queue *model_queue;

	/* Counted for worker_pool_render; relaxed atomics. */
	atomic_uint_fast64_t verdicts[VERDICT_COUNT];
	atomic_uint_fast64_t rules[SPAM_RULE_COUNT];
	prom_size_hist batch_sizes;
	/* The model in use: its version, what it learned, loads. */
	atomic_uint_fast64_t model_version;
	atomic_uint_fast64_t model_spam;
	atomic_uint_fast64_t model_ham;
	atomic_uint_fast64_t model_loads;
};

static const uint64_t batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};

static bool
stopping(worker_pool *p)
{
	bool s;

	pthread_mutex_lock(&p->mu);
	s = p->stopping;
	pthread_mutex_unlock(&p->mu);
	return s;
}

/* Sleeps up to ms unless the pool stops first. */
static void
pause_ms(worker_pool *p, int64_t ms)
{
	int64_t end = clocks_mono_ms() + ms;

	pthread_mutex_lock(&p->mu);
	while (!p->stopping && wait_until(&p->cv, &p->mu, end))
		;
	pthread_mutex_unlock(&p->mu);
}

static filter_ref *
filter_acquire(worker_pool *p)
{
	filter_ref *r;

	pthread_mutex_lock(&p->filter_mu);
	r = p->filter;
	r->refs++;
	pthread_mutex_unlock(&p->filter_mu);
	return r;
}

static void
filter_release(worker_pool *p, filter_ref *r)
{
	bool last;

	pthread_mutex_lock(&p->filter_mu);
	last = --r->refs == 0 && r != p->filter;
	pthread_mutex_unlock(&p->filter_mu);
	if (last) {
		spam_filter_free(r->f);
		free(r);
	}
}

static model_ref *
model_acquire(worker_pool *p)
{
	model_ref *r;

	pthread_mutex_lock(&p->filter_mu);
	if ((r = p->model) != NULL)
		r->refs++;
	pthread_mutex_unlock(&p->filter_mu);
	return r;
}

static void
model_release(worker_pool *p, model_ref *r)
{
	bool last;

	if (r == NULL)
		return;
	pthread_mutex_lock(&p->filter_mu);
	last = --r->refs == 0 && r != p->model;
	pthread_mutex_unlock(&p->filter_mu);
	if (last) {
		spam_bayes_model_free(r->m);
		free(r);
	}
}

/* ---- the model loader ---- */

/* The counts being read into a builder; those past its bound are dropped. */
typedef struct model_fill {
	spam_bayes_builder *b;
	size_t dropped;
} model_fill;

static void
model_count(void *arg, uint64_t token, uint32_t spam, uint32_t ham)
{
	model_fill *fill = arg;

	if (spam_bayes_builder_add(fill->b, token, spam, ham) != PIGEON_OK)
		fill->dropped++;
}

/* Reads the counts and swaps in a model built from them; the workers go on
 * with the old one meanwhile.  A store without counts leaves no model. */
static pigeon_status
model_load(worker_pool *p, uint64_t *version)
{
	spam_bayes_builder *b;
	spam_bayes_model *m = NULL;
	model_ref *r = NULL, *old;
	uint32_t spam = 0, ham = 0;
	model_fill fill = {0};
	bool unused;
	pigeon_status rv;

	if ((rv = spam_bayes_builder_new(&b)) != PIGEON_OK)
		return rv;
	fill.b = b;
	rv = store_queue_bayes_read(p->model_queue, version, &spam, &ham, model_count, &fill);
	if (rv == PIGEON_OK && spam + ham > 0) {
		spam_bayes_builder_add_messages(b, spam, ham);
		if ((rv = spam_bayes_model_new(&m, b, NULL)) == PIGEON_OK &&
		    (r = calloc(1, sizeof(*r))) == NULL)
			rv = PIGEON_RESOURCE_EXHAUSTED;
	}
	if (rv != PIGEON_OK) {
		spam_bayes_model_free(m);
		spam_bayes_builder_free(b);
		return rv;
	}
	if (r != NULL)
		r->m = m;
	pthread_mutex_lock(&p->filter_mu);
	old = p->model;
	p->model = r;
	unused = old != NULL && old->refs == 0;
	pthread_mutex_unlock(&p->filter_mu);
	if (unused) {
		spam_bayes_model_free(old->m);
		free(old);
	}
	atomic_store(&p->model_version, *version);
	atomic_store(&p->model_spam, spam);
	atomic_store(&p->model_ham, ham);
	prom_add(&p->model_loads, 1);
	log_info("worker", "spam model loaded version=%llu spam=%u ham=%u tokens=%zu dropped=%zu",
	    (unsigned long long)*version, spam, ham, spam_bayes_builder_tokens(b), fill.dropped);
	spam_bayes_builder_free(b);
	return PIGEON_OK;
}

/* Polls the counts' version and loads a model whenever it moved. */
static void *
loader_main(void *arg)
{
	worker_pool *p = arg;
	uint64_t have = 0, now = 0;
	int64_t loaded_at = INT64_MIN / 2;

	while (!stopping(p)) {
		if (clocks_mono_ms() - loaded_at >= MODEL_RELOAD_MIN_MS &&
		    store_queue_bayes_version(p->model_queue, &now) == PIGEON_OK && now != have &&
		    model_load(p, &have) == PIGEON_OK)
			loaded_at = clocks_mono_ms();
		pause_ms(p, MODEL_POLL_MS);
	}
	return NULL;
}

/* Claims, judges and finishes every entry of the batch: two round trips. */
static pigeon_status
process(worker_thread *w)
{
	worker_pool *p = w->pool;
	store_queue_batch *b = &w->batch;
	filter_ref *ref;
	model_ref *model;
	const spam_filter *f;
	bool dry;
	pigeon_status rv;

	if (b->n == 0)
		return PIGEON_OK;
	prom_size_hist_observe(&p->batch_sizes, b->n);
	ref = filter_acquire(p);
	model = model_acquire(p);
	f = ref->f;
	dry = spam_dry_run(f);
	for (size_t i = 0; i < b->n; i++)
		b->entries[i].fingerprint =
		    spam_fingerprint(b->entries[i].content, b->entries[i].content_len);
	if ((rv = store_queue_claim(w->queue, b, spam_rate_window(f), spam_flood_window(f))) !=
	    PIGEON_OK) {
		model_release(p, model);
		filter_release(p, ref);
		return rv;
	}
	for (size_t i = 0; i < b->n; i++) {
		store_queue_entry *x = &b->entries[i];
		spam_message m = {x->sender, x->recipient, x->content, x->content_len,
		    clocks_wall_ms()};
		spam_history h = {x->sent_in_window, x->flood_recipients,
		    model != NULL ? model->m : NULL};
		spam_verdict v;

		x->verdict = STORE_VERDICT_DELIVER;
		x->reason[0] = '\0';
		if (!x->claimed) {
			prom_add(&p->verdicts[VERDICT_SKIPPED], 1);
			continue;
		}
		spam_check(f, &m, &h, &v);
		for (int r = 0; r < SPAM_RULE_COUNT; r++)
			if (v.rules & (1u << r))
				prom_add(&p->rules[r], 1);
		prom_add(&p->verdicts[!v.spam ? VERDICT_DELIVERED
				: dry  ? VERDICT_WOULD_BE_SPAM
					: VERDICT_SPAM],
		    1);
		if (v.spam) {
			x->verdict = dry ? STORE_VERDICT_WOULD_BE_SPAM : STORE_VERDICT_SPAM;
			snprintf(x->reason, sizeof(x->reason), "%s", v.reasons);
			log_info("worker", "%s id=%llu sender=%s reason=%s",
			    dry ? "would be spam" : "spam", (unsigned long long)x->message_id,
			    x->sender, v.reasons);
		}
	}
	model_release(p, model);
	filter_release(p, ref);

	return store_queue_finish(w->queue, b);
}

static void *
worker_main(void *arg)
{
	worker_thread *w = arg;
	worker_pool *p = w->pool;
	int64_t next_reclaim = 0;
	backoff retry;
	/* Look for stranded entries twice per idle period. */
	int64_t reclaim_every = p->reclaim_ms / 2 < 10 ? 10 : p->reclaim_ms / 2;

	backoff_init(&retry, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
	while (!stopping(p)) {
		int64_t now = clocks_mono_ms();
		int block = BLOCK_MS;
		int64_t delay;
		size_t dead = 0;
		pigeon_status rv = PIGEON_OK;

		store_queue_batch_clear(&w->batch);
		if (now >= next_reclaim) {
			rv = store_queue_reclaim(w->queue, p->reclaim_ms, p->max_attempts,
			    p->batch, &w->batch, &dead);
			prom_add(&p->verdicts[VERDICT_DEAD_LETTER], dead);
			if (rv == PIGEON_OK)
				next_reclaim = now + reclaim_every;
		}
		if (rv == PIGEON_OK && w->batch.n == 0) {
			if (next_reclaim - now < block)
				block = (int)(next_reclaim - now);
			rv = store_queue_take(w->queue, p->batch, block, &w->batch);
		}
		if (rv == PIGEON_OK && w->batch.n > 0 && (rv = process(w)) == PIGEON_OK)
			w->untrimmed++;
		if (rv == PIGEON_OK && w->untrimmed > 0 &&
		    (w->untrimmed >= TRIM_EVERY || w->batch.n == 0) &&
		    (rv = store_queue_trim(w->queue)) == PIGEON_OK)
			w->untrimmed = 0;
		if (rv == PIGEON_OK) {
			backoff_reset(&retry);
			continue;
		}
		/* What was taken stays pending in the group and is reclaimed. */
		delay = backoff_next(&retry);
		log_warn("worker", "batch failed status=%d retry_ms=%lld", (int)rv, (long long)delay);
		pause_ms(p, delay);
	}
	store_queue_batch_fini(&w->batch);
	return NULL;
}

static void
pool_free(worker_pool *p)
{
	for (unsigned i = 0; p->threads != NULL && i < p->nthreads; i++)
		store_queue_close(p->threads[i].queue);
	free(p->threads);
	store_queue_close(p->model_queue);
	if (p->model != NULL) {
		spam_bayes_model_free(p->model->m);
		free(p->model);
	}
	if (p->filter != NULL) {
		spam_filter_free(p->filter->f);
		free(p->filter);
	}
	pthread_mutex_destroy(&p->filter_mu);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->spam_config);
	free(p->url);
	free(p);
}

static void
pool_join(worker_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		if (p->threads[i].started)
			pthread_join(p->threads[i].thread, NULL);
	if (p->loader_started)
		pthread_join(p->loader, NULL);
}

pigeon_status
worker_pool_start(worker_pool **out, const worker_opts *o)
{
	worker_pool *p;
	char errbuf[256] = "", prefix[64], name[96];
	pigeon_status rv = PIGEON_RESOURCE_EXHAUSTED;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	p->batch_sizes.bounds = batch_bounds;
	p->batch_sizes.nbounds = sizeof(batch_bounds) / sizeof(batch_bounds[0]);
	p->nthreads = o->threads != 0 ? o->threads : 1;
	p->batch = o->batch == 0 ? 100 : o->batch > WORKER_BATCH_MAX ? WORKER_BATCH_MAX : o->batch;
	p->reclaim_ms = o->reclaim_idle_ms > 0 ? o->reclaim_idle_ms : 30000;
	p->max_attempts = o->max_attempts != 0 ? o->max_attempts : 5;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		goto fail_free;
	if (wait_cond_init(&p->cv) != 0)
		goto fail_mu;
	if (pthread_mutex_init(&p->filter_mu, NULL) != 0)
		goto fail_cv;
	if ((o->redis_url != NULL && (p->url = strdup(o->redis_url)) == NULL) ||
	    (o->spam_config != NULL && (p->spam_config = strdup(o->spam_config)) == NULL) ||
	    (p->threads = calloc(p->nthreads, sizeof(*p->threads))) == NULL)
		goto fail_pool;
	if ((p->filter = calloc(1, sizeof(*p->filter))) == NULL)
		goto fail_pool;
	if ((rv = spam_filter_load(&p->filter->f, p->spam_config, errbuf, sizeof(errbuf))) !=
	    PIGEON_OK) {
		log_error("worker", "cannot load spam config err=%s", errbuf);
		goto fail_pool;
	}
	if (o->consumer_prefix != NULL)
		snprintf(prefix, sizeof(prefix), "%s", o->consumer_prefix);
	else
		snprintf(prefix, sizeof(prefix), "worker-%ld", (long)getpid());
	for (unsigned i = 0; i < p->nthreads; i++) {
		p->threads[i].pool = p;
		snprintf(name, sizeof(name), "%s-%u", prefix, i);
		if ((rv = store_queue_open(&p->threads[i].queue, p->url, name, o->journal_max)) !=
		    PIGEON_OK)
			goto fail_pool;
	}
	snprintf(name, sizeof(name), "%s-model", prefix);
	if ((rv = store_queue_open(&p->model_queue, p->url, name, o->journal_max)) != PIGEON_OK)
		goto fail_pool;
	if (pthread_create(&p->loader, NULL, loader_main, p) != 0) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_threads;
	}
	p->loader_started = true;
	for (unsigned i = 0; i < p->nthreads; i++) {
		if (pthread_create(&p->threads[i].thread, NULL, worker_main, &p->threads[i]) != 0) {
			rv = PIGEON_RESOURCE_EXHAUSTED;
			goto fail_threads;
		}
		p->threads[i].started = true;
	}
	log_info("worker", "started threads=%u batch=%u reclaim_ms=%lld consumer=%s-*",
	    p->nthreads, p->batch, (long long)p->reclaim_ms, prefix);
	*out = p;
	return PIGEON_OK;

fail_threads:
	pool_join(p);
fail_pool:
	/* pool_free undoes everything from here on, including the locks. */
	pool_free(p);
	return rv;
fail_cv:
	pthread_cond_destroy(&p->cv);
fail_mu:
	pthread_mutex_destroy(&p->mu);
fail_free:
	free(p);
	return rv;
}

void
worker_pool_stop(worker_pool *p)
{
	if (p == NULL)
		return;
	pool_join(p);
	pool_free(p);
}

pigeon_status
worker_pool_reload(worker_pool *p)
{
	filter_ref *r, *old;
	char errbuf[256] = "";
	bool unused;
	pigeon_status rv;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	if ((rv = spam_filter_load(&r->f, p->spam_config, errbuf, sizeof(errbuf))) != PIGEON_OK) {
		log_error("worker", "spam config not reloaded err=%s", errbuf);
		free(r);
		return rv;
	}
	pthread_mutex_lock(&p->filter_mu);
	old = p->filter;
	p->filter = r;
	unused = old->refs == 0;
	pthread_mutex_unlock(&p->filter_mu);
	/* Otherwise the last batch using it frees it. */
	if (unused) {
		spam_filter_free(old->f);
		free(old);
	}
	log_info("worker", "spam config reloaded");
	return PIGEON_OK;
}

void
worker_pool_render(worker_pool *p, prom_text *t)
{
	prom_family(t, "pigeon_worker_messages_total", "counter",
	    "Messages the workers judged, by verdict (dead_letter: given up after too "
	    "many attempts; skipped: already finished by another worker).");
	for (int v = 0; v < VERDICT_COUNT; v++)
		prom_printf(t, "pigeon_worker_messages_total{verdict=\"%s\"} %llu\n",
		    verdict_names[v], (unsigned long long)prom_load(&p->verdicts[v]));
	prom_family(t, "pigeon_worker_spam_rule_total", "counter",
	    "Messages each spam rule fired on (a message may fire several).");
	for (int r = 0; r < SPAM_RULE_COUNT; r++)
		prom_printf(t, "pigeon_worker_spam_rule_total{rule=\"%s\"} %llu\n",
		    spam_rule_name((spam_rule)r), (unsigned long long)prom_load(&p->rules[r]));
	prom_family(t, "pigeon_worker_batch_size", "histogram",
	    "Messages per batch a worker took (one claim and one finish script each).");
	prom_size_hist_render(t, "pigeon_worker_batch_size", &p->batch_sizes);
	prom_family(t, "pigeon_worker_spam_model_learned", "gauge",
	    "Messages the Bayesian model in use has learned, by kind (0: no model yet).");
	prom_printf(t, "pigeon_worker_spam_model_learned{kind=\"spam\"} %llu\n",
	    (unsigned long long)atomic_load(&p->model_spam));
	prom_printf(t, "pigeon_worker_spam_model_learned{kind=\"ham\"} %llu\n",
	    (unsigned long long)atomic_load(&p->model_ham));
	prom_family(t, "pigeon_worker_spam_model_version", "gauge",
	    "Version of the Bayesian counts the model in use was built from.");
	prom_printf(t, "pigeon_worker_spam_model_version %llu\n",
	    (unsigned long long)atomic_load(&p->model_version));
	prom_family(t, "pigeon_worker_spam_model_loads_total", "counter",
	    "Models the loader built because the counts changed.");
	prom_printf(t, "pigeon_worker_spam_model_loads_total %llu\n",
	    (unsigned long long)prom_load(&p->model_loads));
}
