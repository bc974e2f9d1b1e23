/* SPDX-License-Identifier: MIT */
/*
 * The spam filter's view of text: UTF-8 decoding that never fails, simple
 * case folding for Latin (ASCII, Latin-1, Latin Extended-A), Greek and
 * Cyrillic, and the character classes the rules use (word characters,
 * digits, white space, invisible characters).  It does not do Unicode
 * normalisation (NFC/NFKC) or map look-alike letters across scripts.
 * Pure functions, thread-safe.
 */
#ifndef PIGEON_SPAM_TEXT_H
#define PIGEON_SPAM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPAM_REPLACEMENT_CHAR 0xFFFDu

/* Decodes the code point at s[0..len), len > 0, into *cp and returns the
 * number of bytes it used (1 to 4).  A byte that does not start a valid
 * sequence (overlong, surrogate, above U+10FFFF, truncated) decodes as
 * U+FFFD and uses one byte, so any input can be scanned. */
size_t spam_utf8_next(const char *s, size_t len, uint32_t *cp);

/* Encodes cp (a valid scalar value) into out[0..4); returns its length. */
size_t spam_utf8_put(uint32_t cp, char out[4]);

/* The lower-case form of cp for the scripts named above; cp itself for
 * everything else. */
uint32_t spam_fold(uint32_t cp);

/* Letters and digits of any script: what words are made of. */
bool spam_is_word(uint32_t cp);
/* Decimal digits (ASCII, Arabic-Indic, full-width). */
bool spam_is_digit(uint32_t cp);
/* A letter that has case in the folding table's scripts. */
bool spam_is_cased_letter(uint32_t cp);
/* ASCII and Unicode white space, including no-break spaces. */
bool spam_is_space(uint32_t cp);
/* Characters that print as nothing (zero-width space and joiners, soft
 * hyphen, word joiner, byte-order mark, variation selectors): skipped
 * everywhere, so that inserting them does not split a word. */
bool spam_is_invisible(uint32_t cp);

#endif
