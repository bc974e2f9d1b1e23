/* SPDX-License-Identifier: MIT */
/* Tokens of a message; see bayes.h. */
#include "bayes.h"

#include <string.h>

#include "text.h"

/* The tokens met so far, for uniqueness: a small open-addressed set of
 * offsets into one buffer. */
#define SEEN_SLOTS 512

typedef struct seen_set {
	char buf[SPAM_BAYES_TOKENS_MAX * SPAM_BAYES_TOKEN_MAX];
	size_t used;
	struct {
		unsigned short at, len;
		unsigned char used;
	} slot[SEEN_SLOTS];
} seen_set;

static unsigned
hash_of(const char *s, size_t len)
{
	unsigned h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* True when tok was not in the set (and is now). */
static int
seen_add(seen_set *s, const char *tok, size_t len)
{
	unsigned i = hash_of(tok, len) % SEEN_SLOTS;

	while (s->slot[i].used) {
		if (s->slot[i].len == len && memcmp(s->buf + s->slot[i].at, tok, len) == 0)
			return 0;
		i = (i + 1) % SEEN_SLOTS;
	}
	memcpy(s->buf + s->used, tok, len);
	s->slot[i].at = (unsigned short)s->used;
	s->slot[i].len = (unsigned short)len;
	s->slot[i].used = 1;
	s->used += len;
	return 1;
}

size_t
spam_bayes_tokens(const char *text, size_t len,
    void (*fn)(void *arg, const char *tok, size_t len), void *arg)
{
	seen_set seen;
	char word[SPAM_BAYES_TOKEN_MAX + 4];
	size_t wlen = 0, n = 0, i = 0;

	seen.used = 0;
	memset(seen.slot, 0, sizeof(seen.slot));
	while (n < SPAM_BAYES_TOKENS_MAX) {
		uint32_t cp = 0;
		int end = i >= len;

		if (!end) {
			i += spam_utf8_next(text + i, len - i, &cp);
			if (spam_is_invisible(cp))
				continue;
		}
		if (!end && spam_is_word(cp)) {
			char enc[4];
			size_t el = spam_utf8_put(spam_fold(cp), enc);

			if (wlen + el <= SPAM_BAYES_TOKEN_MAX) {
				memcpy(word + wlen, enc, el);
				wlen += el;
			}
			continue;
		}
		if (wlen > 0 && seen_add(&seen, word, wlen)) {
			fn(arg, word, wlen);
			n++;
		}
		wlen = 0;
		if (end)
			break;
	}
	return n;
}
