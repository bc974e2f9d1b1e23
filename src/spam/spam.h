/* SPDX-License-Identifier: MIT */
/*
 * The spam filter: decides spam or not for one message.  Pure functions: the
 * sender's recent activity (which lives in Redis) is read by the worker in the
 * same script as the message's state change and handed in as spam_history.
 * docs/spam.md describes each rule and its setting.
 */
#ifndef PIGEON_SPAM_H
#define PIGEON_SPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

typedef struct spam_filter spam_filter;

/* Loads the filter's settings from `path` (NULL: built-in defaults).  The
 * blocklist file it names is read too (relative to path's directory; the
 * built-in list when it names none).  INVALID_ARGUMENT with "file: line N:
 * why" in errbuf for a bad setting or term; NOT_FOUND for a missing file;
 * RESOURCE_EXHAUSTED when memory runs out; INTERNAL when ICU's data cannot
 * be loaded.  A reload is a new load: the
 * filter in use is never changed. */
pigeon_status spam_filter_load(
    spam_filter **out, const char *path, char *errbuf, size_t errlen);
void spam_filter_free(spam_filter *f);

/* Builds a filter from settings text in spam_filter_load's file format
 * (NULL: defaults) and blocklist text in the term file's format (NULL: the
 * built-in list); blocklist.file in the settings is not read.  No file is
 * touched, which is what tests and callers with their own storage want.
 * INVALID_ARGUMENT with "config: line N: why" or "blocklist: line N: why" in
 * errbuf; RESOURCE_EXHAUSTED when memory runs out; INTERNAL when ICU's data
 * cannot be loaded. */
pigeon_status spam_filter_new(spam_filter **out, const char *config, size_t config_len,
                              const char *blocklist, size_t blocklist_len, char *errbuf,
                              size_t errlen);

/* The windows the worker must count in, seconds (rate rule, flood rule). */
uint32_t spam_rate_window(const spam_filter *f);
uint32_t spam_flood_window(const spam_filter *f);
/* True when verdicts are only reported ("would be spam"), never enforced. */
bool spam_dry_run(const spam_filter *f);

typedef struct spam_message {
	const char *sender;
	const char *recipient;
	const char *content;
	size_t content_len;
	int64_t time_ms;
} spam_message;

struct spam_bayes_model;

/* What the worker counted in Redis for this message, including it, and
 * what it learned from there. */
typedef struct spam_history {
	/* Messages from the sender in the last rate window. */
	uint32_t sent_in_window;
	/* Distinct recipients of this content's fingerprint from the sender in
	 * the last flood window. */
	uint32_t flood_recipients;
	/* The Bayesian classifier's model (bayes.h), or NULL: the bayes rule
	 * then does not fire. */
	const struct spam_bayes_model *model;
} spam_history;

/* The rules, for counting which fired (spam_verdict.rules is a bit set of
 * 1u << rule). */
typedef enum spam_rule {
	SPAM_RULE_RATE,
	SPAM_RULE_FLOOD,
	SPAM_RULE_BLOCKLIST,
	SPAM_RULE_SHAPE,
	SPAM_RULE_BAYES,
	SPAM_RULE_COUNT
} spam_rule;

/* "rate", "flood", "blocklist", "shape", "bayes": the names the reasons
 * use. */
const char *spam_rule_name(spam_rule r);

typedef struct spam_verdict {
	bool spam;
	double score;
	/* The rules that fired: bit 1u << spam_rule for each. */
	unsigned rules;
	/* Names of the rules that fired with their figures, e.g.
	 * "blocklist(buy now)", "rate(31>30/60s)"; empty when none. */
	char reasons[256];
} spam_verdict;

/* The fingerprint of content for the flood rule: its normal form (text.h)
 * without digits, white space collapsed, so texts that differ only in case,
 * width, accents, invisible characters, look-alike letters or numbers
 * match.  Allocates nothing. */
uint64_t spam_fingerprint(const char *content, size_t len);

/* Judges one message.  Borrows everything; thread-safe for concurrent calls
 * on one filter.  h may be NULL: the rate and flood rules then do not fire.
 * In dry-run mode the verdict is the same; the worker delivers anyway. */
void spam_check(const spam_filter *f, const spam_message *m, const spam_history *h,
    spam_verdict *out);

/* The shape rule's parts for one content, each already multiplied by its
 * weight; score is their sum.  docs/spam.md gives the arithmetic. */
typedef struct spam_shape {
	double links;
	double caps;
	double repeats;
	double score;
} spam_shape;

/* Measures content's shape with f's shape settings (whether or not the
 * shape rule is enabled).  Borrows everything; thread-safe. */
void spam_shape_measure(const spam_filter *f, const char *content, size_t len, spam_shape *out);

/* The number of distinct blocklist terms loaded; 0 when the blocklist rule
 * is turned off. */
size_t spam_blocklist_terms(const spam_filter *f);

#endif
