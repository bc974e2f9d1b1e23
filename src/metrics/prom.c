/* SPDX-License-Identifier: MIT */
/* Prometheus text and histograms; see prom.h. */
#include "prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t bucket_us[PROM_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

bool
prom_text_init(prom_text *t)
{
	memset(t, 0, sizeof(*t));
	if ((t->buf = malloc(t->cap = 4096)) == NULL)
		return false;
	t->buf[0] = '\0';
	return true;
}

void
prom_text_fini(prom_text *t)
{
	free(t->buf);
	t->buf = NULL;
}

char *
prom_text_take(prom_text *t, size_t *len)
{
	char *b = t->buf;

	t->buf = NULL;
	if (t->failed) {
		free(b);
		return NULL;
	}
	*len = t->len;
	return b;
}

void
prom_printf(prom_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (!t->failed) {
		size_t cap;
		char *nb;

		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		cap = t->cap * 2 + (size_t)n;
		if ((nb = realloc(t->buf, cap)) == NULL) {
			t->failed = true;
			return;
		}
		t->buf = nb;
		t->cap = cap;
	}
}

void
prom_family(prom_text *t, const char *name, const char *type, const char *help)
{
	prom_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
prom_single(prom_text *t, const char *name, const char *type, const char *help, uint64_t value)
{
	prom_family(t, name, type, help);
	prom_printf(t, "%s %llu\n", name, (unsigned long long)value);
}

void
prom_hist_observe(prom_hist *h, int64_t us)
{
	size_t b = 0;

	if (us < 0)
		us = 0;
	while (b < PROM_BUCKETS && us > bucket_us[b])
		b++;
	prom_add(&h->counts[b], 1);
	prom_add(&h->sum_us, (uint64_t)us);
}

void
prom_hist_render(
    prom_text *t, const char *name, const char *labels, const prom_hist *h, bool always)
{
	uint64_t counts[PROM_BUCKETS + 1], total = 0, cum = 0;
	const char *sep = labels[0] != '\0' ? "," : "";

	for (size_t b = 0; b <= PROM_BUCKETS; b++)
		total += counts[b] = prom_load(&h->counts[b]);
	if (total == 0 && !always)
		return;
	for (size_t b = 0; b < PROM_BUCKETS; b++) {
		cum += counts[b];
		prom_printf(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
		    (double)bucket_us[b] / 1e6, (unsigned long long)cum);
	}
	prom_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	    (unsigned long long)total);
	if (labels[0] != '\0') {
		prom_printf(t, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
		    (double)prom_load(&h->sum_us) / 1e6, name, labels, (unsigned long long)total);
	} else {
		prom_printf(t, "%s_sum %.6f\n%s_count %llu\n", name,
		    (double)prom_load(&h->sum_us) / 1e6, name, (unsigned long long)total);
	}
}

void
prom_size_hist_observe(prom_size_hist *h, uint64_t v)
{
	size_t b = 0;

	while (b < h->nbounds && v > h->bounds[b])
		b++;
	prom_add(&h->counts[b], 1);
	prom_add(&h->sum, v);
}

void
prom_size_hist_render(prom_text *t, const char *name, const prom_size_hist *h)
{
	uint64_t cum = 0;

	for (size_t b = 0; b < h->nbounds; b++) {
		cum += prom_load(&h->counts[b]);
		prom_printf(t, "%s_bucket{le=\"%llu\"} %llu\n", name,
		    (unsigned long long)h->bounds[b], (unsigned long long)cum);
	}
	cum += prom_load(&h->counts[h->nbounds]);
	prom_printf(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %llu\n%s_count %llu\n", name,
	    (unsigned long long)cum, name, (unsigned long long)prom_load(&h->sum), name,
	    (unsigned long long)cum);
}
