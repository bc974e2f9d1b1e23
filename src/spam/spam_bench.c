/* SPDX-License-Identifier: MIT */
/* The filter's per-message cost; see spam_bench.h. */
#include "spam_bench.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

double
spam_bench_ns_per_message(const spam_filter *f, size_t content_len, unsigned iterations)
{
	const size_t tlen = sizeof(bench_text) - 1;
	char *content;
	spam_message m = {.sender = "alice", .recipient = "bob"};
	spam_history h = {.sent_in_window = 1, .flood_recipients = 1};
	spam_verdict v;
	uint64_t sink = 0;
	int64_t t0, t1;

	if (iterations == 0 || content_len == 0)
		return -1.0;
	if ((content = malloc(content_len)) == NULL)
		return -1.0;
	for (size_t i = 0; i < content_len; i += tlen)
		memcpy(content + i, bench_text, content_len - i < tlen ? content_len - i : tlen);
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
