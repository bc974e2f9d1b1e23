/* SPDX-License-Identifier: MIT */
/* UTF-8 and username rules; see validate.h. */
#include "validate.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "unicode.h"

bool
validate_utf8(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and code points past U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static const char *
say(validate_why *why, const char *text)
{
	snprintf(why->text, sizeof(why->text), "%s", text);
	return why->text;
}

static const char *
say_cp(validate_why *why, const char *text, UChar32 c)
{
	snprintf(why->text, sizeof(why->text), "%s (U+%04X)", text, (unsigned)c);
	return why->text;
}

static const char *
say_icu(validate_why *why, UErrorCode e)
{
	snprintf(why->text, sizeof(why->text), "username cannot be checked (ICU: %s)",
	         u_errorName(e));
	return why->text;
}

/* What RFC 8264's IdentifierClass makes of one code point.  Every class but
 * PVALID, and CONTEXTO in its context, is refused, so the order of the tests
 * in classify changes only which reason a refusal gives: the most telling. */
typedef enum cp_class {
	CP_PVALID,
	CP_CONTEXTO,
	CP_CONTROL,
	CP_SPACE,
	CP_INVISIBLE,
	CP_NONCHARACTER,
	CP_UNASSIGNED,
	CP_PRIVATE_USE,
	CP_JAMO,
	CP_WIDTH,
	CP_COMPAT,
	CP_SYMBOL,
	CP_DISALLOWED,
} cp_class;

static const char *const cp_reason[] = {
    [CP_CONTEXTO] = "username contains a character outside the context that allows it",
    [CP_CONTROL] = "username contains a control character",
    [CP_SPACE] = "username contains a space",
    [CP_INVISIBLE] = "username contains an invisible or formatting character",
    [CP_NONCHARACTER] = "username contains a noncharacter",
    [CP_UNASSIGNED] = "username contains an unassigned code point",
    [CP_PRIVATE_USE] = "username contains a private-use character",
    [CP_JAMO] = "username contains a conjoining Hangul jamo",
    [CP_WIDTH] = "username contains a fullwidth or halfwidth character",
    [CP_COMPAT] = "username contains a compatibility character",
    [CP_SYMBOL] = "username contains a symbol or punctuation mark outside ASCII",
    [CP_DISALLOWED] = "username contains a character that is not allowed in usernames",
};

/* HasCompat in RFC 8264: NFKC changes the code point. */
static bool
has_compat(const UNormalizer2 *nfkc, UChar32 c)
{
	UChar u[U16_MAX_LENGTH];
	int32_t n = 0;
	UErrorCode e = U_ZERO_ERROR;
	UBool same;

	U16_APPEND_UNSAFE(u, n, c);
	same = unorm2_isNormalized(nfkc, u, n, &e);
	return U_FAILURE(e) || !same;
}

static cp_class
classify(const UNormalizer2 *nfkc, UChar32 c)
{
	int8_t gc = u_charType(c);
	int32_t hst;

	if (c >= 0x21 && c <= 0x7e)
		return CP_PVALID;
	switch (gc) {
	case U_CONTROL_CHAR:
		return CP_CONTROL;
	case U_SPACE_SEPARATOR:
	case U_LINE_SEPARATOR:
	case U_PARAGRAPH_SEPARATOR:
		return CP_SPACE;
	case U_FORMAT_CHAR:
		return CP_INVISIBLE;
	case U_PRIVATE_USE_CHAR:
		return CP_PRIVATE_USE;
	case U_SURROGATE:
		return CP_DISALLOWED;
	default:
		break;
	}
	/* Noncharacters are Cn too, but PRECIS does not count them unassigned. */
	if (u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT))
		return CP_NONCHARACTER;
	if (gc == U_UNASSIGNED)
		return CP_UNASSIGNED;
	/* Variation selectors, Hangul fillers, the combining grapheme joiner. */
	if (u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT))
		return CP_INVISIBLE;
	/* RFC 5892's exceptions, which PRECIS takes over. */
	switch (c) {
	case 0x00df:
	case 0x03c2:
	case 0x06fd:
	case 0x06fe:
	case 0x0f0b:
	case 0x3007:
		return CP_PVALID;
	case 0x00b7:
	case 0x0375:
	case 0x05f3:
	case 0x05f4:
	case 0x30fb:
		return CP_CONTEXTO;
	case 0x0640:
	case 0x07fa:
	case 0x302e:
	case 0x302f:
	case 0x3031:
	case 0x3032:
	case 0x3033:
	case 0x3034:
	case 0x3035:
	case 0x303b:
		return CP_DISALLOWED;
	default:
		break;
	}
	if ((c >= 0x0660 && c <= 0x0669) || (c >= 0x06f0 && c <= 0x06f9))
		return CP_CONTEXTO;
	hst = u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE);
	if (hst == U_HST_LEADING_JAMO || hst == U_HST_VOWEL_JAMO || hst == U_HST_TRAILING_JAMO)
		return CP_JAMO;
	if (has_compat(nfkc, c)) {
		int32_t w = u_getIntPropertyValue(c, UCHAR_EAST_ASIAN_WIDTH);

		return w == U_EA_FULLWIDTH || w == U_EA_HALFWIDTH ? CP_WIDTH : CP_COMPAT;
	}
	switch (gc) {
	case U_LOWERCASE_LETTER:
	case U_UPPERCASE_LETTER:
	case U_OTHER_LETTER:
	case U_DECIMAL_DIGIT_NUMBER:
	case U_MODIFIER_LETTER:
	case U_NON_SPACING_MARK:
	case U_COMBINING_SPACING_MARK:
		return CP_PVALID;
	case U_MATH_SYMBOL:
	case U_CURRENCY_SYMBOL:
	case U_MODIFIER_SYMBOL:
	case U_OTHER_SYMBOL:
	case U_CONNECTOR_PUNCTUATION:
	case U_DASH_PUNCTUATION:
	case U_START_PUNCTUATION:
	case U_END_PUNCTUATION:
	case U_INITIAL_PUNCTUATION:
	case U_FINAL_PUNCTUATION:
	case U_OTHER_PUNCTUATION:
		return CP_SYMBOL;
	default:
		/* Titlecase letters, letter numbers, other numbers, enclosing
		 * marks. */
		return CP_DISALLOWED;
	}
}

static bool
has_script(const UChar32 *cp, size_t n, size_t skip, UScriptCode a, UScriptCode b, UScriptCode c)
{
	for (size_t i = 0; i < n; i++) {
		UErrorCode e = U_ZERO_ERROR;
		UScriptCode s = uscript_getScript(cp[i], &e);

		if (i != skip && U_SUCCESS(e) && (s == a || s == b || s == c))
			return true;
	}
	return false;
}

static bool
has_range(const UChar32 *cp, size_t n, UChar32 lo, UChar32 hi)
{
	for (size_t i = 0; i < n; i++)
		if (cp[i] >= lo && cp[i] <= hi)
			return true;
	return false;
}

/* RFC 5892's CONTEXTO rules for the code point cp[i]. */
static bool
context_ok(const UChar32 *cp, size_t n, size_t i)
{
	UErrorCode e = U_ZERO_ERROR;

	switch (cp[i]) {
	case 0x00b7: /* MIDDLE DOT, as in Catalan "l·l" */
		return i > 0 && i + 1 < n && cp[i - 1] == 'l' && cp[i + 1] == 'l';
	case 0x0375: /* GREEK LOWER NUMERAL SIGN */
		return i + 1 < n && uscript_getScript(cp[i + 1], &e) == USCRIPT_GREEK &&
		       U_SUCCESS(e);
	case 0x05f3: /* HEBREW PUNCTUATION GERESH and GERSHAYIM */
	case 0x05f4:
		return i > 0 && uscript_getScript(cp[i - 1], &e) == USCRIPT_HEBREW && U_SUCCESS(e);
	case 0x30fb: /* KATAKANA MIDDLE DOT */
		return has_script(cp, n, i, USCRIPT_HIRAGANA, USCRIPT_KATAKANA, USCRIPT_HAN);
	default:
		break;
	}
	if (cp[i] >= 0x0660 && cp[i] <= 0x0669)
		return !has_range(cp, n, 0x06f0, 0x06f9);
	return !has_range(cp, n, 0x0660, 0x0669);
}

/* RFC 5893's Bidi Rule, which RFC 8265 applies to a name holding right-to-
 * left characters (directions R, AL, AN).  A username is one label, so a
 * name that starts left-to-right may not hold any of them. */
static const char *
bidi_rule(const UChar32 *cp, size_t n, validate_why *why)
{
	bool en = false, an = false;
	size_t rtl = n, last = n;
	UCharDirection d;

	for (size_t i = 0; i < n && rtl == n; i++) {
		d = u_charDirection(cp[i]);
		if (d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC || d == U_ARABIC_NUMBER)
			rtl = i;
	}
	if (rtl == n)
		return NULL;
	d = u_charDirection(cp[0]);
	if (d == U_LEFT_TO_RIGHT)
		return say_cp(why, "username mixes left-to-right and right-to-left characters",
		              cp[rtl]);
	if (d != U_RIGHT_TO_LEFT && d != U_RIGHT_TO_LEFT_ARABIC)
		return say(why, "username with right-to-left characters does not start with a "
		                "letter");
	for (size_t i = 0; i < n; i++) {
		switch (u_charDirection(cp[i])) {
		case U_RIGHT_TO_LEFT:
		case U_RIGHT_TO_LEFT_ARABIC:
			last = i;
			break;
		case U_EUROPEAN_NUMBER:
			en = true;
			last = i;
			break;
		case U_ARABIC_NUMBER:
			an = true;
			last = i;
			break;
		case U_EUROPEAN_NUMBER_SEPARATOR:
		case U_COMMON_NUMBER_SEPARATOR:
		case U_EUROPEAN_NUMBER_TERMINATOR:
		case U_OTHER_NEUTRAL:
		case U_BOUNDARY_NEUTRAL:
			last = n;
			break;
		case U_DIR_NON_SPACING_MARK:
			break;
		default:
			/* Left-to-right letters: the other directions the rule
			 * forbids (spaces, separators, embeddings) are refused
			 * before this. */
			return say_cp(why,
			              "username mixes left-to-right and right-to-left characters",
			              cp[i]);
		}
	}
	if (en && an)
		return say(why, "username mixes European and Arabic-Indic digits");
	if (last == n)
		return say(why, "username with right-to-left characters does not end with a "
		                "letter or digit");
	return NULL;
}

/* The part of the rules that needs ICU: valid UTF-8 of at most 64 bytes
 * with a byte above 0x7F and no ASCII space or control character. */
static const char *
check_unicode(const char *name, size_t len, validate_why *why)
{
	UChar u16[PIGEON_USERNAME_MAX];
	UChar32 cp[PIGEON_USERNAME_MAX];
	int32_t n16, i = 0;
	size_t n = 0;
	UErrorCode e = U_ZERO_ERROR;
	const UNormalizer2 *nfc = unorm2_getNFCInstance(&e);
	const UNormalizer2 *nfkc = unorm2_getNFKCInstance(&e);
	UBool normalized;

	u_strFromUTF8(u16, PIGEON_USERNAME_MAX, &n16, name, (int32_t)len, &e);
	if (U_FAILURE(e))
		return say_icu(why, e);
	normalized = unorm2_isNormalized(nfc, u16, n16, &e);
	if (U_FAILURE(e))
		return say_icu(why, e);
	if (!normalized)
		return say(why, "username is not in Unicode normalization form C");
	while (i < (int32_t)len) {
		UChar32 c;

		U8_NEXT_UNSAFE((const uint8_t *)name, i, c);
		cp[n++] = c;
	}
	for (size_t k = 0; k < n; k++) {
		cp_class cl = classify(nfkc, cp[k]);

		if (cl == CP_PVALID || (cl == CP_CONTEXTO && context_ok(cp, n, k)))
			continue;
		return say_cp(why, cp_reason[cl], cp[k]);
	}
	return bidi_rule(cp, n, why);
}

const char *
validate_username(const char *name, size_t len, validate_why *why)
{
	const unsigned char *s = (const unsigned char *)name;
	bool ascii = true;

	if (len == 0)
		return say(why, "username is empty");
	if (len > PIGEON_USERNAME_MAX)
		return say(why, "username is longer than 64 bytes");
	if (!validate_utf8(name, len))
		return say(why, "username is not valid UTF-8");
	for (size_t i = 0; i < len; i++) {
		if (s[i] <= 0x20 || s[i] == 0x7f)
			return say(why, "username contains a space or control character");
		if (s[i] >= 0x80)
			ascii = false;
	}
	/* Printable ASCII is PVALID, in NFC and left-to-right: no ICU. */
	if (ascii)
		return NULL;
	return check_unicode(name, len, why);
}

/* UTF-16 units of the skeletons of an acceptable name, at most: see
 * VALIDATE_SKELETON_MAX. */
#define SKELETON_UNITS VALIDATE_SKELETON_MAX

pigeon_status
validate_username_skeleton(const char *name, size_t len, char *out, size_t cap)
{
	validate_why why;
	const USpoofChecker *spoof;
	UChar a[SKELETON_UNITS], b[SKELETON_UNITS];
	char utf8[VALIDATE_SKELETON_MAX];
	int32_t n = 0;
	UErrorCode e = U_ZERO_ERROR;
	pigeon_status rv;

	if (validate_username(name, len, &why) != NULL)
		return PIGEON_INVALID_ARGUMENT;
	if ((rv = unicode_spoof_checker(&spoof)) != PIGEON_OK)
		return rv;
	u_strFromUTF8(a, SKELETON_UNITS, &n, name, (int32_t)len, &e);
	n = uspoof_getSkeleton(spoof, 0, a, n, b, SKELETON_UNITS, &e);
	n = u_strFoldCase(a, SKELETON_UNITS, b, n, U_FOLD_CASE_DEFAULT, &e);
	n = uspoof_getSkeleton(spoof, 0, a, n, b, SKELETON_UNITS, &e);
	u_strToUTF8(utf8, sizeof(utf8), &n, b, n, &e);
	/* A warning (no room for the NUL) is a success to ICU. */
	if (U_FAILURE(e) || n >= (int32_t)sizeof(utf8))
		return status_from_icu(U_FAILURE(e) ? e : U_BUFFER_OVERFLOW_ERROR);
	if ((size_t)n >= cap)
		return PIGEON_RESOURCE_EXHAUSTED;
	memcpy(out, utf8, (size_t)n + 1);
	return PIGEON_OK;
}
