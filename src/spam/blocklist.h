/* SPDX-License-Identifier: MIT */
/*
 * The blocklist: terms of one or more words, matched as whole words of the
 * normal form (text.h: case, width, invisible characters, combining marks
 * and look-alike letters folded away, and what a word is), which terms and
 * messages both go through.
 * It owns the term file's format and the lookup; reading the file and
 * reloading it are spam.c's and the worker's.  Immutable once parsed, so
 * any number of threads may search one list.
 */
#ifndef PIGEON_SPAM_BLOCKLIST_H
#define PIGEON_SPAM_BLOCKLIST_H

#include <stddef.h>

#include <pigeon/wire.h>

/* Limits of one term: words in it, and bytes on its line. */
#define SPAM_TERM_WORDS_MAX 8
#define SPAM_TERM_BYTES_MAX 64

typedef struct spam_blocklist spam_blocklist;

/* Parses a term file: one term per line, blank lines and lines starting
 * with '#' ignored, surrounding white space trimmed, repeated terms kept
 * once (two terms are one when their normal forms are: "BUY NOW" and "buy
 * nоw" with a Cyrillic о).  INVALID_ARGUMENT with "line N: why" in errbuf
 * for a line that is not UTF-8, is too long, has too many words (counted in
 * its normal form) or none; RESOURCE_EXHAUSTED when memory runs out;
 * INTERNAL when ICU's data cannot be loaded. */
pigeon_status spam_blocklist_parse(spam_blocklist **out, const char *text, size_t len, char *errbuf,
                                   size_t errlen);
void spam_blocklist_free(spam_blocklist *bl);

/* The number of distinct terms. */
size_t spam_blocklist_size(const spam_blocklist *bl);

/* The term that ends first in content[0..len)'s normal form, shown as the
 * term file's words, folded to lower case (simple case folding) and joined
 * by single spaces ("buy now"), or NULL when none occurs.  Any bytes are
 * accepted.  Allocates nothing.  The string lives as long as bl. */
const char *spam_blocklist_find(const spam_blocklist *bl, const char *content, size_t len);

#endif
