/* SPDX-License-Identifier: MIT */
/* UTF-8 decoding, case folding and character classes; see text.h. */
#include "text.h"

#define W SPAM_ASCII_WORD
#define D (SPAM_ASCII_WORD | SPAM_ASCII_DIGIT)
#define S SPAM_ASCII_SPACE
#define U (SPAM_ASCII_WORD | SPAM_ASCII_UPPER)

const unsigned char spam_ascii_class[128] = {
    ['\t'] = S, ['\n'] = S, ['\v'] = S, ['\f'] = S, ['\r'] = S, [' '] = S, ['0'] = D, ['1'] = D,
    ['2'] = D,  ['3'] = D,  ['4'] = D,  ['5'] = D,  ['6'] = D,  ['7'] = D, ['8'] = D, ['9'] = D,
    ['A'] = U,  ['B'] = U,  ['C'] = U,  ['D'] = U,  ['E'] = U,  ['F'] = U, ['G'] = U, ['H'] = U,
    ['I'] = U,  ['J'] = U,  ['K'] = U,  ['L'] = U,  ['M'] = U,  ['N'] = U, ['O'] = U, ['P'] = U,
    ['Q'] = U,  ['R'] = U,  ['S'] = U,  ['T'] = U,  ['U'] = U,  ['V'] = U, ['W'] = U, ['X'] = U,
    ['Y'] = U,  ['Z'] = U,  ['a'] = W,  ['b'] = W,  ['c'] = W,  ['d'] = W, ['e'] = W, ['f'] = W,
    ['g'] = W,  ['h'] = W,  ['i'] = W,  ['j'] = W,  ['k'] = W,  ['l'] = W, ['m'] = W, ['n'] = W,
    ['o'] = W,  ['p'] = W,  ['q'] = W,  ['r'] = W,  ['s'] = W,  ['t'] = W, ['u'] = W, ['v'] = W,
    ['w'] = W,  ['x'] = W,  ['y'] = W,  ['z'] = W,
};

#undef W
#undef D
#undef S
#undef U

size_t
spam_utf8_next_wide(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t c = u[0];
	size_t n;
	uint32_t min;

	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		c &= 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		c &= 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		goto invalid;
	}
	if (len < n)
		goto invalid;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xC0) != 0x80)
			goto invalid;
		c = (c << 6) | (u[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		goto invalid;
	*cp = c;
	return n;

invalid:
	*cp = SPAM_REPLACEMENT_CHAR;
	return 1;
}

size_t
spam_utf8_put(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Simple case folding (Unicode CaseFolding.txt, status C and S) for the
 * blocks below U+0530, written as ranges because the blocks are regular:
 * mostly +32, +80 or "even upper, odd lower" pairs.  Characters whose only
 * folding is to several characters (U+0130, U+0149, U+00DF) stay as they
 * are, except U+0130, which folds to plain 'i' so that Turkish text still
 * matches.
 */
uint32_t
spam_fold_wide(uint32_t cp)
{
	if (cp < 0xC0)
		return cp == 0xB5 ? 0x3BC : cp;
	if (cp <= 0xDE)
		return cp == 0xD7 ? cp : cp + 32;
	if (cp < 0x100)
		return cp;
	if (cp < 0x180) {
		if (cp == 0x130)
			return 'i';
		if (cp == 0x178)
			return 0xFF;
		if (cp == 0x17F)
			return 's';
		if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
			return (cp & 1) ? cp + 1 : cp;
		if (cp == 0x131 || cp == 0x138 || cp == 0x149)
			return cp;
		return (cp & 1) ? cp : cp + 1;
	}
	if (cp < 0x370)
		return cp;
	if (cp < 0x400) {
		if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2)
			return cp + 32;
		if (cp == 0x386)
			return 0x3AC;
		if (cp >= 0x388 && cp <= 0x38A)
			return cp + 37;
		if (cp == 0x38C)
			return 0x3CC;
		if (cp == 0x38E || cp == 0x38F)
			return cp + 63;
		if (cp == 0x3C2)
			return 0x3C3;
		return cp;
	}
	if (cp < 0x530) {
		if (cp < 0x410)
			return cp + 80;
		if (cp < 0x430)
			return cp + 32;
		if (cp < 0x460)
			return cp;
		if (cp == 0x4C0)
			return 0x4CF;
		if (cp >= 0x4C1 && cp <= 0x4CE)
			return (cp & 1) ? cp + 1 : cp;
		if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF) ||
		    (cp >= 0x4D0 && cp <= 0x52F))
			return (cp & 1) ? cp : cp + 1;
		return cp;
	}
	return cp;
}

bool
spam_is_digit_wide(uint32_t cp)
{
	return (cp >= 0x660 && cp <= 0x669) || (cp >= 0x6F0 && cp <= 0x6F9) ||
	       (cp >= 0xFF10 && cp <= 0xFF19);
}

bool
spam_is_space_wide(uint32_t cp)
{
	switch (cp) {
	case 0x85:
	case 0xA0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202F:
	case 0x205F:
	case 0x3000:
		return true;
	default:
		return cp >= 0x2000 && cp <= 0x200A;
	}
}

/*
 * Outside ASCII and the Latin, Greek and Cyrillic blocks a code point counts
 * as part of a word unless it falls in a block of punctuation, symbols or
 * emoji; a finer table would need the Unicode database, and for the
 * blocklist the only question is where words end.
 */
bool
spam_is_word_wide(uint32_t cp)
{
	if (cp < 0xC0)
		return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
	if (cp == 0xD7 || cp == 0xF7 || cp == 0x37E || cp == 0x387)
		return false;
	if (cp < 0x530)
		return true;
	if (spam_is_space(cp) || spam_is_invisible(cp))
		return false;
	if (cp >= 0x2000 && cp <= 0x2BFF)
		return false;
	if (cp >= 0x3000 && cp <= 0x303F)
		return false;
	if ((cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
	    (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65))
		return false;
	if (cp >= 0x1F000 && cp <= 0x1FAFF)
		return false;
	return cp != SPAM_REPLACEMENT_CHAR;
}

bool
spam_is_cased_letter_wide(uint32_t cp)
{
	if (cp >= 0x530 || !spam_is_word(cp))
		return false;
	if (cp >= 0x2B0 && cp < 0x370)
		return false;
	return cp != 0xAA && cp != 0xBA;
}
