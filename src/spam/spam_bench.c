/* SPDX-License-Identifier: MIT */
/* The filter's per-message cost; see spam_bench.h. */
#include "spam_bench.h"

#include <stdio.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bayes.h"

/* Ordinary chat with one link and a little Cyrillic, repeated to length;
 * the cut at the end may split a character, which the filter tolerates. */
static const char bench_text[] =
    "Hey, are we still on for lunch tomorrow? The place on Main Street opens at noon, "
    "menu is at https://example.com/menu and Ольга says the soup is great. ";

/* Where the loop's results go, so the compiler cannot drop the loop. */
static volatile uint64_t bench_sink;

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The bench text of content_len bytes, repeated; NULL when out of memory. */
static char *
bench_content(size_t content_len)
{
	const size_t tlen = sizeof(bench_text) - 1;
	char *content;

	if ((content = malloc(content_len)) == NULL)
		return NULL;
	for (size_t i = 0; i < content_len; i += tlen)
		memcpy(content + i, bench_text, content_len - i < tlen ? content_len - i : tlen);
	return content;
}

double
spam_bench_ns_per_message(const spam_filter *f, size_t content_len, unsigned iterations)
{
	char *content;
	spam_message m = {.sender = "alice", .recipient = "bob"};
	spam_history h = {.sent_in_window = 1, .flood_recipients = 1};
	spam_verdict v;
	uint64_t sink = 0;
	int64_t t0, t1;

	if (iterations == 0 || content_len == 0)
		return -1.0;
	if ((content = bench_content(content_len)) == NULL)
		return -1.0;
	m.content = content;
	m.content_len = content_len;

	t0 = mono_ns();
	for (unsigned i = 0; i < iterations; i++) {
		m.time_ms = i;
		sink += spam_fingerprint(m.content, m.content_len);
		spam_check(f, &m, &h, &v);
		sink += v.spam;
	}
	t1 = mono_ns();
	free(content);
	bench_sink = sink;
	return (double)(t1 - t0) / iterations;
}

/* A model like one learned from real traffic: SPAM_BENCH_BAYES_TOKENS
 * tokens, the bench text's among them, each seen in 30 ham and 1 spam
 * (f(w) about 0.03, significant with the default constants). */
static spam_bayes_model *
bench_bayes_model(const char *content, size_t content_len)
{
	spam_bayes_builder *b = NULL;
	spam_bayes_model *m = NULL;
	char tok[32];

	if (spam_bayes_builder_new(&b) != PIGEON_OK)
		return NULL;
	for (unsigned i = 0; i < 31; i++)
		if (spam_bayes_builder_learn(b, content, content_len, i == 0) != PIGEON_OK)
			goto out;
	for (unsigned i = 0; spam_bayes_builder_tokens(b) < SPAM_BENCH_BAYES_TOKENS; i++) {
		int n = snprintf(tok, sizeof(tok), "bench%u", i);

		if (spam_bayes_builder_add(b, spam_bayes_token_hash(tok, (size_t)n), i % 7,
		                           i % 5) != PIGEON_OK)
			goto out;
	}
	spam_bayes_builder_add_messages(b, 1000 - 1, 1000 - 30);
	if (spam_bayes_model_new(&m, b, NULL) != PIGEON_OK)
		m = NULL;
out:
	spam_bayes_builder_free(b);
	return m;
}

double
spam_bench_bayes_ns_per_verdict(size_t content_len, unsigned iterations)
{
	spam_bayes_model *m;
	spam_bayes_verdict v;
	char *content;
	uint64_t sink = 0;
	int64_t t0, t1;

	if (iterations == 0 || content_len == 0)
		return -1.0;
	if ((content = bench_content(content_len)) == NULL)
		return -1.0;
	if ((m = bench_bayes_model(content, content_len)) == NULL) {
		free(content);
		return -1.0;
	}
	t0 = mono_ns();
	for (unsigned i = 0; i < iterations; i++) {
		spam_bayes_classify(m, content, content_len, &v);
		sink += v.tokens;
	}
	t1 = mono_ns();
	spam_bayes_model_free(m);
	free(content);
	bench_sink = sink;
	return (double)(t1 - t0) / iterations;
}
