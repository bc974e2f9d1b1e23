/* SPDX-License-Identifier: MIT */
/*
 * Load and truth for the fault tests and the soak: sends a bounded number of
 * messages through libpigeon from several threads, retrying each with its
 * idempotency key until pigeond acknowledges it, and remembers what every
 * client was told.  After the system drains, load_verify recomputes every
 * inbox, counter, leaderboard entry and journal event the acknowledgements
 * imply and counts what is lost, duplicated or unexpected.
 *
 * Message i goes from sender "<tag>s<i % senders>" to recipient
 * "<tag>r<(i / senders) % recipients>"; every spam_every-th message holds a
 * blocklist term, so the filter of load_spam_config marks exactly those.
 */
#ifndef PIGEON_TEST_LOAD_H
#define PIGEON_TEST_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pigeon/pigeon.h>

#define LOAD_MAX_USERS 16

typedef struct load_msg {
	/* What the client was told; id 0 until acknowledged. */
	uint64_t id;
	bool acked;
	/* The acknowledgement said "duplicate": an earlier attempt was stored. */
	bool duplicate;
	/* Attempts made, and the code of the last failed one. */
	uint32_t attempts;
	pigeon_status last_error;
} load_msg;

typedef struct load_opts {
	const char *url;
	/* A prefix of user names, contents and idempotency keys. */
	const char *tag;
	unsigned threads;
	size_t messages;
	unsigned senders;
	unsigned recipients;
	/* 0: no spam. */
	unsigned spam_every;
	/* Per call, ms; 0: 2000. */
	int32_t deadline_ms;
	/* The client's resend time, ms; 0: nng's default. */
	int32_t resend_ms;
	/* Send idempotency keys (else a failed message is not retried). */
	bool idempotent;
	/* Messages per second at most, all threads together; 0: no limit. */
	double rate;
	/* A message still failing this long after its first attempt is given
	 * up, ms; 0: 60000. */
	int64_t give_up_ms;
	/* Content size, bytes; 0: short. */
	size_t content_size;
	/* Called before message i is first sent (e.g. to hold the load until
	 * a fault has happened); may be NULL. */
	void (*gate)(size_t i, void *arg);
	void *gate_arg;
	/* When not NULL, counts acknowledged messages and failed attempts as
	 * they happen (atomically), for a test that injects faults meanwhile. */
	size_t *acked_now;
	size_t *failed_now;
} load_opts;

typedef struct load_result {
	size_t acked;
	size_t given_up;
	size_t attempts;
	size_t duplicates_answered;
	/* Failed attempts by code. */
	size_t by_status[PIGEON_STATUS_COUNT];
	/* The longest call, and how far the worst call ran past its deadline. */
	int64_t max_call_ms;
	int64_t max_over_deadline_ms;
	int64_t elapsed_ms;
} load_result;

typedef struct load_truth {
	size_t lost;
	size_t duplicated;
	size_t unexpected;
	/* Counters, leaderboard entries and journal events that differ from
	 * the truth. */
	size_t bad_counters;
	size_t bad_leaderboard;
	size_t bad_journal;
	size_t delivered;
	size_t spam;
} load_truth;

/* Writes a spam filter config to path: only the blocklist rule, with the
 * repo's blocklist (source_blocklist, absolute). */
void load_spam_config(const char *path, const char *source_blocklist);

/* Registers the load's users (ALREADY_EXISTS is fine); false when pigeond
 * does not answer within 30 s. */
bool load_register(const load_opts *o);

/* Sends o->messages messages; msgs has o->messages zeroed slots. */
void load_run(const load_opts *o, load_msg *msgs, load_result *res);

/* Waits until Health is SERVING with an empty queue and nothing pending
 * (dead letters may remain), up to timeout_ms. */
bool load_drain(const char *url, int timeout_ms);

/* Recomputes the truth.  `dead` (may be NULL) lists message ids that
 * were dead-lettered on purpose, n_dead of them: they count as neither
 * delivered nor spam, and each must have one DEAD_LETTER journal event. */
void load_verify(const load_opts *o, const load_msg *msgs, const uint64_t *dead, size_t n_dead,
    load_truth *t);

/* One line of figures on stderr. */
void load_print(const char *what, const load_opts *o, const load_result *r, const load_truth *t);

#endif
