/* SPDX-License-Identifier: MIT */
/*
 * The spam filter's view of text, through ICU: the normal form that rules and
 * tokens compare (spam_text_normalize: compatibility forms and case folded
 * away, invisible characters and combining marks dropped, look-alike letters
 * of any script mapped to one prototype by UTS #39's confusable skeleton),
 * UTF-8 decoding that never fails, simple case folding, and the character
 * classes the rules use (word characters, digits, white space, invisible
 * characters).  It owns the normal form's definition and the ICU normaliser
 * it uses; the spoof checker is the protocol library's (unicode.h).  The
 * classes are ICU's for every script.  Thread-safe; ICU's data is loaded on
 * first use and never freed.
 */
#ifndef PIGEON_SPAM_TEXT_H
#define PIGEON_SPAM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

#define SPAM_REPLACEMENT_CHAR 0xFFFDu

/*
 * The normal form.  Every rule that compares text (the blocklist, the flood
 * fingerprint) and the tokens of a learning filter work on it, and a
 * blocklist term goes through the same function, so that term and text meet
 * in one space.  It is for comparing and counting, never for showing: it is
 * in no Unicode normalization form and may change with ICU's data.
 *
 * Contract:
 * - Input: any bytes.  A byte that does not start a valid UTF-8 sequence
 *   (spam_utf8_next) becomes U+FFFD, which is not a word character; the
 *   function never fails on its input.
 * - Output: valid UTF-8, no NUL added.  Steps, in order, on each code point:
 *   NFKD with full case folding and Default_Ignorable_Code_Point removed (the
 *   decomposing half of ICU's NFKC_Casefold: fullwidth and styled letters,
 *   ligatures and capitals become plain lower-case letters; zero-width
 *   spaces and joiners, soft hyphens, word joiners, byte-order marks and
 *   variation selectors disappear); nonspacing marks (General_Category Mn:
 *   accents, strokes, Zalgo) dropped; UTS #39's skeleton (ICU's
 *   uspoof_getSkeleton: Cyrillic "о" and Greek "ο" become Latin "o",
 *   "m" becomes "rn", "0" becomes "O", "1" and "|" become "l"); the first
 *   step again, so that the skeleton's capitals and compatibility
 *   characters fold too ("O" to "o"); Mn dropped again.  Marks are not
 *   recomposed: there are none left but spacing ones.  Examples:
 *   "ＢＵＹ ｎｏｗ" -> "buy now", "bu\u200By nоw" (Cyrillic о) -> "buy now",
 *   "Café" -> "cafe", "MONEY" and "money" -> "rnoney", "n0w" -> "now",
 *   "Straße" -> "strasse".
 * - Words: a word character is a letter, mark or number of any script
 *   (General_Category L, M or N: spam_is_word); in the output no Mn
 *   remains.  Everything else (white space, punctuation, symbols, emoji,
 *   U+FFFD) separates words.  A word boundary of the output is a word
 *   boundary to every rule; look-alikes can move one ("buy|now" reads as
 *   "buylnow", one word, because "|" looks like "l").
 * - White space stays white space: ASCII space, tab and line breaks are
 *   kept, and no-break, ideographic and other Unicode spaces become U+0020.
 * - Length: at most SPAM_TEXT_EXPANSION_MAX bytes of output per byte of
 *   input.
 * - Pieces: normalising a text in two parts split before an ASCII character
 *   gives the text's normal form; spam_text_normalize_part splits only
 *   where that holds.
 * - Failure: only when ICU's data cannot be loaded.  Should ICU fail on a
 *   run later (memory), that run is copied as it is, invalid bytes
 *   replaced, and the rest is normalised.
 * - Cost: code points below U+0800 (ASCII, Latin, Greek, Cyrillic,
 *   Armenian, Hebrew, Arabic) are mapped by a table built from these same
 *   steps at first use, exactly equal (the unit test compares every code
 *   point, every ASCII pair and mixed texts with ICU on the whole text);
 *   each run of other characters is one pass through ICU.  No allocation
 *   but ICU's own.
 */

/* Bytes of output per byte of input, at most: U+FDFA, 3 bytes, becomes 30
 * (ICU 72's data; the unit test walks every code point), and an invalid
 * byte becomes U+FFFD's 3. */
#define SPAM_TEXT_EXPANSION_MAX 10
/* Room that spam_text_normalize needs for len bytes of input. */
#define SPAM_TEXT_NORMALIZED_MAX(len) ((len) * SPAM_TEXT_EXPANSION_MAX)
/* Room with which spam_text_normalize_part always makes progress. */
#define SPAM_TEXT_PART_MIN (64 * SPAM_TEXT_EXPANSION_MAX)

/* Writes the normal form of in[0..len) into out[0..cap) and its length into
 * *out_len.  Borrows everything.  RESOURCE_EXHAUSTED when it needs more than
 * cap bytes (SPAM_TEXT_NORMALIZED_MAX(len) always suffices); INTERNAL when
 * ICU's data cannot be loaded (then every call fails alike).  out may be
 * written even when it fails; *out_len is written only on OK. */
pigeon_status spam_text_normalize(const char *in, size_t len, char *out, size_t cap,
                                  size_t *out_len);

/* The same for a prefix of in[0..len), for callers with a fixed buffer that
 * go through a long text in pieces: normalises as many whole pieces (an
 * ASCII character; a run of non-ASCII characters, cut when longer than 64
 * bytes) as fit in cap, sets *used to the input bytes taken and *out_len to
 * the bytes written.  Takes at least one piece when len > 0 and cap >=
 * SPAM_TEXT_PART_MIN.  INTERNAL when ICU's data cannot be loaded. */
pigeon_status spam_text_normalize_part(const char *in, size_t len, char *out, size_t cap,
                                       size_t *used, size_t *out_len);

/* Classes of the ASCII characters, so that the common case is one table
 * look-up inlined into the scanning loops. */
enum {
	SPAM_ASCII_WORD = 1,
	SPAM_ASCII_DIGIT = 2,
	SPAM_ASCII_SPACE = 4,
	SPAM_ASCII_UPPER = 8,
};
extern const unsigned char spam_ascii_class[128];

/* The non-ASCII halves of the functions below, through ICU's character
 * properties; call those instead. */
size_t spam_utf8_next_wide(const char *s, size_t len, uint32_t *cp);
uint32_t spam_fold_wide(uint32_t cp);
bool spam_is_word_wide(uint32_t cp);
bool spam_is_digit_wide(uint32_t cp);
bool spam_is_cased_letter_wide(uint32_t cp);
bool spam_is_space_wide(uint32_t cp);
bool spam_is_invisible_wide(uint32_t cp);

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

/* Simple case folding (CaseFolding.txt, status C and S): the lower-case
 * form of cp in any script; "ß" and "İ", whose folding is several
 * characters, stay as they are. */
static inline uint32_t
spam_fold(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & SPAM_ASCII_UPPER) ? cp + 32 : cp;
	return spam_fold_wide(cp);
}

/* Letters, marks and numbers of any script (General_Category L, M, N):
 * what words are made of. */
static inline bool
spam_is_word(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & SPAM_ASCII_WORD) != 0;
	return spam_is_word_wide(cp);
}

/* Decimal digits of any script (General_Category Nd). */
static inline bool
spam_is_digit(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & SPAM_ASCII_DIGIT) != 0;
	return spam_is_digit_wide(cp);
}

/* A letter that has case (General_Category Lu, Ll or Lt). */
static inline bool
spam_is_cased_letter(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & (SPAM_ASCII_WORD | SPAM_ASCII_DIGIT)) ==
		       SPAM_ASCII_WORD;
	return spam_is_cased_letter_wide(cp);
}

/* White_Space: ASCII and Unicode white space, including no-break spaces. */
static inline bool
spam_is_space(uint32_t cp)
{
	if (cp < 0x80)
		return (spam_ascii_class[cp] & SPAM_ASCII_SPACE) != 0;
	return spam_is_space_wide(cp);
}

/* Default_Ignorable_Code_Point: characters that print as nothing
 * (zero-width space and joiners, soft hyphen, word joiner, byte-order mark,
 * variation selectors), skipped wherever words are read from raw text, so
 * that inserting them does not split a word. */
static inline bool
spam_is_invisible(uint32_t cp)
{
	return cp >= 0x80 && spam_is_invisible_wide(cp);
}

#endif
