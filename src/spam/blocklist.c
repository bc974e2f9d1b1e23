/* SPDX-License-Identifier: MIT */
/*
 * Blocklist parsing and lookup; see blocklist.h.  Terms are indexed by a
 * hash of their last word, so a message is scanned once, word by word, and
 * only terms ending in the word just read are compared: the cost grows with
 * the message, not with the list.
 */
#include "blocklist.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "validate.h"

#define NO_TERM UINT32_MAX
#define FNV_BASIS UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)

typedef struct bl_term {
	uint32_t nwords;
	/* Word i is cps[start[i] .. start[i + 1]), folded, without invisibles. */
	uint32_t start[SPAM_TERM_WORDS_MAX + 1];
	uint32_t cps[SPAM_TERM_BYTES_MAX];
	uint64_t hash[SPAM_TERM_WORDS_MAX];
	/* The next term with the same last-word hash. */
	uint32_t next;
	char text[SPAM_TERM_BYTES_MAX + 1];
} bl_term;

struct spam_blocklist {
	bl_term *terms;
	size_t nterms;
	/* Open addressing: each used slot holds the first term of a chain of
	 * terms sharing one last-word hash; NO_TERM marks an empty slot. */
	uint32_t *slots;
	size_t mask;
};

/* A word of a message being scanned: where it is and its hash. */
typedef struct bl_word {
	size_t start;
	size_t end;
	uint64_t hash;
} bl_word;

static uint64_t
hash_add(uint64_t h, uint32_t cp)
{
	return (h ^ cp) * FNV_PRIME;
}

static pigeon_status
line_error(char *errbuf, size_t errlen, unsigned line, const char *why)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "line %u: %s", line, why);
	return PIGEON_INVALID_ARGUMENT;
}

/* Splits one trimmed line into t's words; the reason it cannot, or NULL. */
static const char *
term_build(bl_term *t, const char *s, size_t len)
{
	size_t pos = 0, ncps = 0, tlen = 0;
	bool in_word = false;

	memset(t, 0, sizeof(*t));
	while (pos < len) {
		uint32_t cp;
		pos += spam_utf8_next(s + pos, len - pos, &cp);
		if (spam_is_invisible(cp))
			continue;
		if (!spam_is_word(cp)) {
			in_word = false;
			continue;
		}
		if (!in_word) {
			if (t->nwords == SPAM_TERM_WORDS_MAX)
				return "too many words";
			t->start[t->nwords] = (uint32_t)ncps;
			t->hash[t->nwords] = FNV_BASIS;
			t->nwords++;
			in_word = true;
			if (tlen > 0)
				t->text[tlen++] = ' ';
		}
		cp = spam_fold(cp);
		t->cps[ncps++] = cp;
		t->hash[t->nwords - 1] = hash_add(t->hash[t->nwords - 1], cp);
		/* Folding never lengthens a character and a space replaces at
		 * least one separator byte, so text fits in len bytes. */
		tlen += spam_utf8_put(cp, t->text + tlen);
	}
	if (t->nwords == 0)
		return "no letters or digits";
	t->start[t->nwords] = (uint32_t)ncps;
	t->text[tlen] = '\0';
	t->next = NO_TERM;
	return NULL;
}

static bool
term_equal(const bl_term *a, const bl_term *b)
{
	return a->nwords == b->nwords &&
	       memcmp(a->start, b->start, sizeof(a->start[0]) * (a->nwords + 1)) == 0 &&
	       memcmp(a->cps, b->cps, sizeof(a->cps[0]) * a->start[a->nwords]) == 0;
}

static size_t
slot_of(const spam_blocklist *bl, uint64_t h)
{
	size_t i = (size_t)(h ^ (h >> 32)) & bl->mask;

	while (bl->slots[i] != NO_TERM) {
		const bl_term *t = &bl->terms[bl->slots[i]];
		if (t->hash[t->nwords - 1] == h)
			break;
		i = (i + 1) & bl->mask;
	}
	return i;
}

/* Adds terms[idx] to the index unless an equal term is there; false if it
 * was a repeat. */
static bool
index_add(spam_blocklist *bl, uint32_t idx)
{
	bl_term *t = &bl->terms[idx];
	size_t i = slot_of(bl, t->hash[t->nwords - 1]);
	uint32_t *link = &bl->slots[i];

	while (*link != NO_TERM) {
		if (term_equal(&bl->terms[*link], t))
			return false;
		link = &bl->terms[*link].next;
	}
	*link = idx;
	return true;
}

static bool
is_line_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

pigeon_status
spam_blocklist_parse(spam_blocklist **out, const char *text, size_t len, char *errbuf,
                     size_t errlen)
{
	spam_blocklist *bl;
	size_t lines = 1, nslots = 16, pos = 0;
	unsigned line = 0;
	pigeon_status rv;

	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	while (nslots < lines * 2)
		nslots *= 2;
	if ((bl = calloc(1, sizeof(*bl))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	if ((bl->terms = calloc(lines, sizeof(bl->terms[0]))) == NULL) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_free;
	}
	if ((bl->slots = malloc(nslots * sizeof(bl->slots[0]))) == NULL) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_free;
	}
	memset(bl->slots, 0xFF, nslots * sizeof(bl->slots[0]));
	bl->mask = nslots - 1;

	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;
		const char *end = s + n;
		const char *why;

		pos += n + (nl != NULL);
		line++;
		while (s < end && is_line_blank(*s))
			s++;
		while (end > s && is_line_blank(end[-1]))
			end--;
		if (s == end || *s == '#')
			continue;
		if (memchr(s, '\0', (size_t)(end - s)) != NULL ||
		    !validate_utf8(s, (size_t)(end - s))) {
			rv = line_error(errbuf, errlen, line, "not UTF-8 text");
			goto fail_free;
		}
		if ((size_t)(end - s) > SPAM_TERM_BYTES_MAX) {
			rv = line_error(errbuf, errlen, line, "term longer than 64 bytes");
			goto fail_free;
		}
		if ((why = term_build(&bl->terms[bl->nterms], s, (size_t)(end - s))) != NULL) {
			rv = line_error(errbuf, errlen, line, why);
			goto fail_free;
		}
		if (index_add(bl, (uint32_t)bl->nterms))
			bl->nterms++;
	}
	*out = bl;
	return PIGEON_OK;

fail_free:
	spam_blocklist_free(bl);
	return rv;
}

void
spam_blocklist_free(spam_blocklist *bl)
{
	if (bl == NULL)
		return;
	free(bl->slots);
	free(bl->terms);
	free(bl);
}

size_t
spam_blocklist_size(const spam_blocklist *bl)
{
	return bl->nterms;
}

/* True when the message word at content[w->start .. w->end) is word i of t. */
static bool
word_equal(const char *content, const bl_word *w, const bl_term *t, uint32_t i)
{
	size_t pos = w->start;
	uint32_t k = t->start[i];

	while (pos < w->end) {
		uint32_t cp;
		pos += spam_utf8_next(content + pos, w->end - pos, &cp);
		if (spam_is_invisible(cp))
			continue;
		if (k == t->start[i + 1] || spam_fold(cp) != t->cps[k])
			return false;
		k++;
	}
	return k == t->start[i + 1];
}

/* The term among those ending with the word just read (ring[(count - 1) %
 * max]) whose earlier words are the words before it. */
static const bl_term *
match_at(const spam_blocklist *bl, const char *content, const bl_word *ring, size_t count)
{
	const bl_word *last = &ring[(count - 1) % SPAM_TERM_WORDS_MAX];
	size_t i = slot_of(bl, last->hash);

	for (uint32_t ti = bl->slots[i]; ti != NO_TERM; ti = bl->terms[ti].next) {
		const bl_term *t = &bl->terms[ti];
		bool ok = t->nwords <= count;

		for (uint32_t w = 0; ok && w < t->nwords; w++) {
			const bl_word *mw = &ring[(count - t->nwords + w) % SPAM_TERM_WORDS_MAX];
			ok = mw->hash == t->hash[w] && word_equal(content, mw, t, w);
		}
		if (ok)
			return t;
	}
	return NULL;
}

const char *
spam_blocklist_find(const spam_blocklist *bl, const char *content, size_t len)
{
	bl_word ring[SPAM_TERM_WORDS_MAX];
	bl_word *w = NULL;
	size_t count = 0, pos = 0;
	const bl_term *t;

	if (bl->nterms == 0)
		return NULL;
	while (pos < len) {
		uint32_t cp;
		size_t n = spam_utf8_next(content + pos, len - pos, &cp);

		if (spam_is_word(cp)) {
			if (w == NULL) {
				w = &ring[count % SPAM_TERM_WORDS_MAX];
				w->start = pos;
				w->hash = FNV_BASIS;
			}
			w->hash = hash_add(w->hash, spam_fold(cp));
			w->end = pos + n;
		} else if (w != NULL && !spam_is_invisible(cp)) {
			w = NULL;
			if ((t = match_at(bl, content, ring, ++count)) != NULL)
				return t->text;
		}
		pos += n;
	}
	if (w != NULL && (t = match_at(bl, content, ring, ++count)) != NULL)
		return t->text;
	return NULL;
}
