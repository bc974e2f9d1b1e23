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
/* The normal form of a term's line, at most. */
#define TERM_NORM_MAX SPAM_TEXT_NORMALIZED_MAX(SPAM_TERM_BYTES_MAX)
/* The shown form: simple case folding lengthens a character by half at
 * most (U+023A, 2 bytes, folds to U+2C65, 3), and a space replaces at least
 * one separator byte. */
#define TERM_TEXT_MAX (SPAM_TERM_BYTES_MAX * 3 / 2 + 1)

typedef struct bl_term {
	uint32_t nwords;
	/* Word i of the term's normal form is norm[start[i] .. start[i + 1]). */
	uint32_t start[SPAM_TERM_WORDS_MAX + 1];
	uint64_t hash[SPAM_TERM_WORDS_MAX];
	char *norm;
	/* The next term with the same last-word hash. */
	uint32_t next;
	/* What reasons show: the line's words, case folded, joined by single
	 * spaces. */
	char text[TERM_TEXT_MAX];
} bl_term;

struct spam_blocklist {
	bl_term *terms;
	size_t nterms;
	/* Open addressing: each used slot holds the first term of a chain of
	 * terms sharing one last-word hash; NO_TERM marks an empty slot. */
	uint32_t *slots;
	size_t mask;
	/* The longest word of any term's normal form, bytes: a longer word of
	 * a message equals none, and its bytes need not be kept. */
	size_t word_max;
};

/* A word of a message's normal form being scanned: its hash, its length
 * and, when it is no longer than any term's word, its bytes. */
typedef struct bl_word {
	uint64_t hash;
	size_t len;
	char bytes[TERM_NORM_MAX];
} bl_word;

static uint64_t
hash_add(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

static pigeon_status
line_error(char *errbuf, size_t errlen, unsigned line, const char *why)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "line %u: %s", line, why);
	return PIGEON_INVALID_ARGUMENT;
}

/* The shown form of the line s[0..len) into t->text; false when the line
 * has no word. */
static bool
term_text(bl_term *t, const char *s, size_t len)
{
	size_t pos = 0, tlen = 0;
	bool in_word = false;

	while (pos < len) {
		uint32_t cp;
		pos += spam_utf8_next(s + pos, len - pos, &cp);
		if (spam_is_invisible(cp))
			continue;
		if (!spam_is_word(cp)) {
			in_word = false;
			continue;
		}
		if (!in_word && tlen > 0)
			t->text[tlen++] = ' ';
		in_word = true;
		tlen += spam_utf8_put(spam_fold(cp), t->text + tlen);
	}
	t->text[tlen] = '\0';
	return tlen > 0;
}

/* Splits one trimmed line's normal form into t's words.  INVALID_ARGUMENT
 * with the reason in *why; INTERNAL or RESOURCE_EXHAUSTED from ICU or
 * memory. */
static pigeon_status
term_build(bl_term *t, const char *s, size_t len, const char **why)
{
	char norm[TERM_NORM_MAX];
	size_t nlen, pos = 0, w = 0;
	bool in_word = false;
	pigeon_status rv;

	memset(t, 0, sizeof(*t));
	t->next = NO_TERM;
	if ((rv = spam_text_normalize(s, len, norm, sizeof(norm), &nlen)) != PIGEON_OK)
		return rv;
	while (pos < nlen) {
		uint32_t cp;
		size_t n = spam_utf8_next(norm + pos, nlen - pos, &cp);

		if (!spam_is_word(cp)) {
			in_word = false;
			pos += n;
			continue;
		}
		if (!in_word) {
			if (t->nwords == SPAM_TERM_WORDS_MAX) {
				*why = "too many words";
				return PIGEON_INVALID_ARGUMENT;
			}
			t->start[t->nwords] = (uint32_t)w;
			t->hash[t->nwords] = FNV_BASIS;
			t->nwords++;
			in_word = true;
		}
		/* Separators are left out: norm is compacted in place. */
		memmove(norm + w, norm + pos, n);
		t->hash[t->nwords - 1] = hash_add(t->hash[t->nwords - 1], norm + w, n);
		w += n;
		pos += n;
	}
	if (!term_text(t, s, len) || t->nwords == 0) {
		*why = "no letters or digits";
		return PIGEON_INVALID_ARGUMENT;
	}
	t->start[t->nwords] = (uint32_t)w;
	if ((t->norm = malloc(w)) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	memcpy(t->norm, norm, w);
	return PIGEON_OK;
}

static bool
term_equal(const bl_term *a, const bl_term *b)
{
	return a->nwords == b->nwords &&
	       memcmp(a->start, b->start, sizeof(a->start[0]) * (a->nwords + 1)) == 0 &&
	       memcmp(a->norm, b->norm, a->start[a->nwords]) == 0;
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

/* Adds terms[idx] to the index unless a term with the same normal form is
 * there ("BUY NOW" and "buy nоw" with a Cyrillic о are one term); false if
 * it was a repeat. */
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
		const char *why = NULL;
		bl_term *t = &bl->terms[bl->nterms];

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
		if ((rv = term_build(t, s, (size_t)(end - s), &why)) != PIGEON_OK) {
			free(t->norm);
			if (rv == PIGEON_INVALID_ARGUMENT)
				line_error(errbuf, errlen, line, why);
			else
				line_error(errbuf, errlen, line, "cannot normalise the term");
			goto fail_free;
		}
		if (!index_add(bl, (uint32_t)bl->nterms)) {
			free(t->norm);
			continue;
		}
		bl->nterms++;
		for (uint32_t w = 0; w < t->nwords; w++)
			if (t->start[w + 1] - t->start[w] > bl->word_max)
				bl->word_max = t->start[w + 1] - t->start[w];
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
	for (size_t i = 0; bl->terms != NULL && i < bl->nterms; i++)
		free(bl->terms[i].norm);
	free(bl->terms);
	free(bl);
}

size_t
spam_blocklist_size(const spam_blocklist *bl)
{
	return bl->nterms;
}

/* True when the message word w is word i of t. */
static bool
word_equal(const bl_word *w, const bl_term *t, uint32_t i)
{
	size_t n = t->start[i + 1] - t->start[i];

	return w->len == n && memcmp(w->bytes, t->norm + t->start[i], n) == 0;
}

/* The term among those ending with the word just read (ring[(count - 1) %
 * max]) whose earlier words are the words before it. */
static const bl_term *
match_at(const spam_blocklist *bl, const bl_word *ring, size_t count)
{
	const bl_word *last = &ring[(count - 1) % SPAM_TERM_WORDS_MAX];
	size_t i = slot_of(bl, last->hash);

	for (uint32_t ti = bl->slots[i]; ti != NO_TERM; ti = bl->terms[ti].next) {
		const bl_term *t = &bl->terms[ti];
		bool ok = t->nwords <= count;

		for (uint32_t w = 0; ok && w < t->nwords; w++) {
			const bl_word *mw = &ring[(count - t->nwords + w) % SPAM_TERM_WORDS_MAX];
			ok = mw->hash == t->hash[w] && word_equal(mw, t, w);
		}
		if (ok)
			return t;
	}
	return NULL;
}

/*
 * The content is normalised piece by piece into a fixed buffer (text.h: the
 * pieces' normal forms put end to end are the content's), and words are read
 * from the normal form, so a word boundary here is one in the term's normal
 * form too.  Nothing is allocated, whatever the content's length.
 */
const char *
spam_blocklist_find(const spam_blocklist *bl, const char *content, size_t len)
{
	bl_word ring[SPAM_TERM_WORDS_MAX];
	bl_word *w = NULL;
	char buf[2 * SPAM_TEXT_PART_MIN];
	size_t count = 0, pos = 0;
	const bl_term *t;

	if (bl->nterms == 0)
		return NULL;
	while (pos < len) {
		size_t used, n, i = 0;

		/* ICU's data is loaded: the terms were normalised with it. */
		if (spam_text_normalize_part(content + pos, len - pos, buf, sizeof(buf), &used,
		                             &n) != PIGEON_OK)
			return NULL;
		pos += used;
		while (i < n) {
			uint32_t cp;
			size_t k = spam_utf8_next(buf + i, n - i, &cp);

			if (spam_is_word(cp)) {
				if (w == NULL) {
					w = &ring[count % SPAM_TERM_WORDS_MAX];
					w->hash = FNV_BASIS;
					w->len = 0;
				}
				/* Byte by byte: a call to memcpy per character
				 * costs more than the copy. */
				for (size_t j = i; j < i + k; j++, w->len++) {
					w->hash = (w->hash ^ (unsigned char)buf[j]) * FNV_PRIME;
					if (w->len < bl->word_max)
						w->bytes[w->len] = buf[j];
				}
			} else if (w != NULL) {
				w = NULL;
				if ((t = match_at(bl, ring, ++count)) != NULL)
					return t->text;
			}
			i += k;
		}
	}
	if (w != NULL && (t = match_at(bl, ring, ++count)) != NULL)
		return t->text;
	return NULL;
}
