/* SPDX-License-Identifier: MIT */
/*
 * A minimal spam filter implementing spam.h: a case-insensitive blocklist of
 * one phrase, "buy now"; the rate and flood rules are off (windows 0).  The
 * settings file is not read, only required to exist when named.
 */
#include "spam.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct spam_filter {
	int unused;
};

static const char blocked[] = "buy now";

pigeon_status
spam_filter_load(spam_filter **out, const char *path, char *errbuf, size_t errlen)
{
	spam_filter *f;

	if (path != NULL && access(path, R_OK) != 0) {
		snprintf(errbuf, errlen, "cannot read %s", path);
		return PIGEON_NOT_FOUND;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	*out = f;
	return PIGEON_OK;
}

void
spam_filter_free(spam_filter *f)
{
	free(f);
}

uint32_t
spam_rate_window(const spam_filter *f)
{
	return 0;
}

uint32_t
spam_flood_window(const spam_filter *f)
{
	return 0;
}

bool
spam_dry_run(const spam_filter *f)
{
	return false;
}

uint64_t
spam_fingerprint(const char *content, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	bool space = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)content[i];

		if (isdigit(c))
			continue;
		if (isspace(c)) {
			space = true;
			continue;
		}
		if (space) {
			h = (h ^ ' ') * 1099511628211ULL;
			space = false;
		}
		h = (h ^ (unsigned char)tolower(c)) * 1099511628211ULL;
	}
	return h;
}

void
spam_check(const spam_filter *f, const spam_message *m, const spam_history *h,
    spam_verdict *out)
{
	size_t n = sizeof(blocked) - 1;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i + n <= m->content_len; i++) {
		if (strncasecmp(m->content + i, blocked, n) == 0) {
			out->spam = true;
			out->score = 1.0;
			snprintf(out->reasons, sizeof(out->reasons), "blocklist(%s)", blocked);
			return;
		}
	}
}
