/* SPDX-License-Identifier: MIT */
/*
 * The worker's side of the message queue (the stream pigeon:queue, consumer
 * group "workers"): a blocking connection for one worker thread.  It reads
 * new entries, reclaims entries other consumers held too long, dead-letters
 * entries delivered too often, and runs the claim and finish scripts once
 * per batch: one script call and one round trip each, whatever the batch's
 * size.  It decides nothing about spam: the caller fills in fingerprints and
 * verdicts.
 *
 * A store_queue connects lazily and reconnects on the next call after any
 * failure; calls return UNAVAILABLE while Redis cannot be reached (the caller
 * backs off).  One store_queue per thread.
 */
#ifndef PIGEON_STORE_QUEUE_H
#define PIGEON_STORE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

typedef struct store_queue store_queue;

typedef enum store_verdict {
	STORE_VERDICT_DELIVER = 0,
	STORE_VERDICT_SPAM = 1,
	/* Spam under a dry-run filter: delivered, journaled WOULD_BE_SPAM. */
	STORE_VERDICT_WOULD_BE_SPAM = 2,
} store_verdict;

typedef struct store_queue_entry {
	/* The stream entry's id, "<ms>-<n>". */
	char entry_id[48];
	uint64_t message_id;
	/* Owned by the batch; content is NUL-terminated too. */
	char *sender;
	char *recipient;
	char *content;
	size_t content_len;
	/* Times the group has handed this entry out, this time included. */
	uint32_t deliveries;

	/* Set by the caller before store_queue_claim. */
	uint64_t fingerprint;
	/* Set by store_queue_claim: true when the message is now being checked
	 * (false: it is already final, or gone; finish only acknowledges it). */
	bool claimed;
	uint32_t sent_in_window;
	uint32_t flood_recipients;
	/* Set by the caller before store_queue_finish. */
	store_verdict verdict;
	char reason[256];
} store_queue_entry;

typedef struct store_queue_batch {
	store_queue_entry *entries;
	size_t n;
	size_t cap;
} store_queue_batch;

/* Frees what the entries own and empties the batch (keeps its array). */
void store_queue_batch_clear(store_queue_batch *b);
/* Frees everything; the batch may be reused after. */
void store_queue_batch_fini(store_queue_batch *b);

/* Prepares a queue connection for consumer `consumer` (copied) of the Redis
 * at url (NULL: the default).  Does not connect yet.  journal_max as in
 * store_opts.  INVALID_ARGUMENT for a malformed url, RESOURCE_EXHAUSTED. */
pigeon_status store_queue_open(
    store_queue **out, const char *url, const char *consumer, uint64_t journal_max);
/* Accepts NULL. */
void store_queue_close(store_queue *q);

/* Appends up to max entries never handed out before, waiting up to block_ms
 * (at most 1000) for the first.  OK with nothing appended on timeout.
 * UNAVAILABLE when Redis cannot be reached. */
pigeon_status store_queue_take(store_queue *q, size_t max, int block_ms, store_queue_batch *b);

/* Claims up to max entries other consumers have held for idle_ms or more
 * and reads how often each has now been handed out: those past
 * max_attempts go to the dead-letter stream (counted in *dead), the others
 * are appended to b.  Then deletes the group's consumers that hold nothing and have not
 * read for idle_ms (at least STORE_CONSUMER_LIVE_MS, 10 s). */
pigeon_status store_queue_reclaim(store_queue *q, int64_t idle_ms, uint32_t max_attempts,
    size_t max, store_queue_batch *b, size_t *dead);

/* Runs the claim script once for the whole batch: moves each
 * message to being_spam_checked and fills claimed, sent_in_window and
 * flood_recipients (windows in seconds; 0 disables that count).  An error
 * reply from Redis (out of memory) fails the whole batch with its status
 * and writes nothing; the entries stay pending. */
pigeon_status store_queue_claim(
    store_queue *q, store_queue_batch *b, uint32_t rate_window_s, uint32_t flood_window_s);

/* Runs the finish script once for the whole batch: delivers or
 * blocks each claimed message by its verdict, and acknowledges every entry
 * but those of messages still enqueued or unreadable (not a hash), which
 * stay pending to be handed out again or dead-lettered. */
pigeon_status store_queue_finish(store_queue *q, const store_queue_batch *b);

/* The Bayesian classifier's counts (docs/redis-schema.md, "Reports and
 * spam learning").  store_queue_bayes_version reads the version alone: it
 * moves with every report and training call, so a reader reloads only when
 * it changed.  store_queue_bayes_read reads *version and the messages
 * learned of each kind, then walks both count hashes with HSCAN, a thousand
 * fields a call, so that no call holds Redis for long (one script reading
 * 200,000 counts held it 420 ms): fn runs once per stored count, the
 * token's key (the 64-bit hash bayes.h makes, from its 16 hex digits) with
 * its spam or ham count (the other 0).  The walk is not one instant: a
 * report during it may be half seen, and the version read first makes the
 * next poll load again.  Entries that are not a key and a count are
 * skipped.  UNAVAILABLE when Redis cannot be reached. */
typedef void (*store_bayes_fn)(void *arg, uint64_t token, uint32_t spam, uint32_t ham);
pigeon_status store_queue_bayes_version(store_queue *q, uint64_t *version);
pigeon_status store_queue_bayes_read(store_queue *q, uint64_t *version, uint32_t *spam_msgs,
    uint32_t *ham_msgs, store_bayes_fn fn, void *arg);

/* Finished entries are acknowledged, not deleted one by one: this trims the
 * stream's acknowledged head (XTRIM MINID ~ the oldest pending entry, or the
 * group's last delivered one when nothing is pending).  Two round trips;
 * the worker calls it every few batches. */
pigeon_status store_queue_trim(store_queue *q);

#endif
