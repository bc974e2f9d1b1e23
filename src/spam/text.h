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

/* Classes of the ASCII characters, so that the common case is one table
 * look-up inlined into the scanning loops. */
enum {
	SPAM_ASCII_WORD = 1,
	SPAM_ASCII_DIGIT = 2,
	SPAM_ASCII_SPACE = 4,
	SPAM_ASCII_UPPER = 8,
};
extern const unsigned char spam_ascii_class[128];

/* The non-ASCII halves of the functions below; call those instead. */
size_t spam_utf8_next_wide(const char *s, size_t len, uint32_t *cp);
uint32_t spam_fold_wide(uint32_t cp);
bool spam_is_word_wide(uint32_t cp);
bool spam_is_digit_wide(uint32_t cp);
bool spam_is_cased_letter_wide(uint32_t cp);
bool spam_is_space_wide(uint32_t cp);

/* Decodes the code point at s[0..len), len > 0, into *cp and returns the
 * number of bytes it used (1 to 4).  A byte that does not start a valid
 * sequence (overlong, surrogate, above U+10FFFF, truncated) decodes as
 * U+FFFD and uses one byte, so any input can be scanned. */
static inline size_t
spam_utf8_next(const char *s, size_t len, uint32_t *cp)
{
	unsigned char c = (unsigned char)s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	return spam_utf8_next_wide(s, len, cp);
}

/* Encodes cp (a valid scalar value) into out[0..4); returns its length. */
size_t spam_utf8_put(uint32_t cp, char out[4]);

/* The lower-case form of cp for the scripts named above; cp itself for
 * everything else. */
static inline uint32_t
spam_fold(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & SPAM_ASCII_UPPER) ? cp + 32 : cp;
	return spam_fold_wide(cp);
}

/* Letters and digits of any script: what words are made of. */
static inline bool
spam_is_word(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & SPAM_ASCII_WORD) != 0;
	return spam_is_word_wide(cp);
}

/* Decimal digits (ASCII, Arabic-Indic, full-width). */
static inline bool
spam_is_digit(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & SPAM_ASCII_DIGIT) != 0;
	return spam_is_digit_wide(cp);
}

/* A letter that has case in the folding table's scripts. */
static inline bool
spam_is_cased_letter(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & (SPAM_ASCII_WORD | SPAM_ASCII_DIGIT)) ==
		       SPAM_ASCII_WORD;
	return spam_is_cased_letter_wide(cp);
}

/* ASCII and Unicode white space, including no-break spaces. */
static inline bool
spam_is_space(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & SPAM_ASCII_SPACE) != 0;
	return spam_is_space_wide(cp);
}

/* Characters that print as nothing (zero-width space and joiners, soft
 * hyphen, word joiner, byte-order mark, variation selectors): skipped
 * everywhere, so that inserting them does not split a word. */
static inline bool
spam_is_invisible(uint32_t cp)
{
	return cp >= 0xAD && (cp == 0xAD || (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 ||
	                      cp == 0xFEFF || (cp >= 0xFE00 && cp <= 0xFE0F));
}

#endif
