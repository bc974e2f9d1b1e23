/* SPDX-License-Identifier: MIT */
/* The normal form, UTF-8 decoding, case folding and character classes; see
 * text.h. */
#include "text.h"

#include <pthread.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/utf16.h>

#include "unicode.h"

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

uint32_t
spam_fold_wide(uint32_t cp)
{
	return (uint32_t)u_foldCase((UChar32)cp, U_FOLD_CASE_DEFAULT);
}

bool
spam_is_digit_wide(uint32_t cp)
{
	return u_isdigit((UChar32)cp);
}

bool
spam_is_space_wide(uint32_t cp)
{
	return u_isUWhiteSpace((UChar32)cp);
}

bool
spam_is_word_wide(uint32_t cp)
{
	return (U_GET_GC_MASK((UChar32)cp) & (U_GC_L_MASK | U_GC_M_MASK | U_GC_N_MASK)) != 0;
}

bool
spam_is_cased_letter_wide(uint32_t cp)
{
	return (U_GET_GC_MASK((UChar32)cp) & U_GC_LC_MASK) != 0;
}

bool
spam_is_invisible_wide(uint32_t cp)
{
	return u_hasBinaryProperty((UChar32)cp, UCHAR_DEFAULT_IGNORABLE_CODE_POINT);
}

/*
 * The normal form (text.h).  Every step maps code points one by one, then
 * orders each run of combining marks canonically (by combining class; a
 * character of class 0 is never moved and nothing moves across it), and
 * nonspacing marks are dropped twice.  So where every mark of class > 0 that
 * any step produces is nonspacing, the reordering moves only characters that
 * are dropped anyway, and the normal form of a text is the normal forms of
 * its code points put end to end.  That holds for every code point below
 * U+0800 (ASCII, Latin, IPA, Greek, Cyrillic, Armenian, Hebrew, Arabic,
 * Syriac, Thaana, NKo): norm_open checks it for each and keeps their forms in
 * a table, so text in those scripts never reaches ICU.  A run of other
 * characters goes through ICU as one piece, cut only before an ASCII
 * character (class 0, in the table, so the cut changes nothing) or, in a run
 * longer than PIECE_BYTES, before a character the normaliser says starts a
 * new sequence (unorm2_hasBoundaryBefore): only a run of more than 64 bytes
 * of marks on one letter is cut where it would not be.
 */

/* Input bytes of one ICU piece, at most; SPAM_TEXT_PART_MIN is its output. */
#define PIECE_BYTES 64
/* UTF-16 units of a piece between steps: 64 code points at 18 units each,
 * the most any code point becomes, with room to spare. */
#define PIECE_UNITS 2048
/* The code points the table holds: those of one or two UTF-8 bytes. */
#define TABLE_CPS 0x800
/* Bytes of all their forms: 2,364 with ICU 72's data. */
#define TABLE_BYTES 4096

/* The normal form of one code point below TABLE_CPS, in table_bytes. */
typedef struct cp_form {
	uint16_t off;
	uint8_t len;
	/* Its form may be put next to any other's (see above). */
	bool table;
} cp_form;

static pthread_once_t norm_once = PTHREAD_ONCE_INIT;
static pigeon_status norm_status = PIGEON_INTERNAL;
/* NFKC_Casefold's data without composition: NFKD, full case folding and
 * no default-ignorable code points. */
static const UNormalizer2 *nfkd_cf;
static const USpoofChecker *spoof;
static cp_form table[TABLE_CPS];
static char table_bytes[TABLE_BYTES];
/* The form of each ASCII character that is one byte other than NUL, else
 * 0: the loop over plain ASCII text reads only this. */
static unsigned char ascii_one[128];

/* Drops the nonspacing marks from u[0..n); returns the new length. */
static int32_t
drop_marks(UChar *u, int32_t n)
{
	int32_t i = 0, k = 0;

	while (i < n) {
		int32_t start = i;
		UChar32 c;

		U16_NEXT(u, i, n, c);
		if (u_charType(c) == U_NON_SPACING_MARK)
			continue;
		while (start < i)
			u[k++] = u[start++];
	}
	return k;
}

/* True when u[0..n) holds a mark of class > 0 that is not nonspacing. */
static bool
has_spacing_mark(const UChar *u, int32_t n)
{
	int32_t i = 0;

	while (i < n) {
		UChar32 c;

		U16_NEXT(u, i, n, c);
		if (u_getCombiningClass(c) != 0 && u_charType(c) != U_NON_SPACING_MARK)
			return true;
	}
	return false;
}

/* The steps on u[0..n) (UTF-16, in a), leaving the result in b; returns its
 * length, or -1 when ICU fails.  *spacing is set when a step produced a
 * spacing mark of class > 0. */
static int32_t
steps(UChar *a, UChar *b, int32_t n, bool *spacing)
{
	UErrorCode e = U_ZERO_ERROR;

	n = unorm2_normalize(nfkd_cf, a, n, b, PIECE_UNITS, &e);
	if (U_FAILURE(e))
		return -1;
	*spacing = has_spacing_mark(b, n);
	n = drop_marks(b, n);
	n = uspoof_getSkeleton(spoof, 0, b, n, a, PIECE_UNITS, &e);
	if (U_FAILURE(e))
		return -1;
	*spacing = *spacing || has_spacing_mark(a, n);
	n = unorm2_normalize(nfkd_cf, a, n, b, PIECE_UNITS, &e);
	if (U_FAILURE(e))
		return -1;
	*spacing = *spacing || has_spacing_mark(b, n);
	return drop_marks(b, n);
}

/* The normal form of the piece s[0..len), len <= PIECE_BYTES, written into
 * out (room for len * SPAM_TEXT_EXPANSION_MAX bytes); returns its length.
 * When ICU fails (out of memory inside ICU) the piece is copied with invalid
 * bytes replaced, so the text is still judged, only without this piece's
 * folding. */
static size_t
piece_normalize(const char *s, size_t len, char *out)
{
	UChar a[PIECE_UNITS], b[PIECE_UNITS];
	int32_t n = 0, i = 0;
	size_t pos = 0, w = 0;
	bool spacing;

	while (pos < len) {
		uint32_t cp;
		pos += spam_utf8_next(s + pos, len - pos, &cp);
		U16_APPEND_UNSAFE(a, n, (UChar32)cp);
	}
	if ((n = steps(a, b, n, &spacing)) < 0) {
		for (pos = 0; pos < len;) {
			uint32_t cp;
			pos += spam_utf8_next(s + pos, len - pos, &cp);
			w += spam_utf8_put(cp, out + w);
		}
		return w;
	}
	while (i < n) {
		UChar32 c;

		U16_NEXT(b, i, n, c);
		w += spam_utf8_put((uint32_t)c, out + w);
	}
	return w;
}

/* Fills the table; false when ICU fails.  A code point whose form does not
 * fit, or whose steps produce a spacing mark of class > 0, is left out of
 * it and goes through ICU with its neighbours. */
static bool
table_fill(void)
{
	size_t used = 0;

	for (UChar32 c = 0; c < TABLE_CPS; c++) {
		UChar a[PIECE_UNITS], b[PIECE_UNITS];
		int32_t n = 0, i = 0;
		size_t w = 0;
		bool spacing;

		U16_APPEND_UNSAFE(a, n, c);
		if ((n = steps(a, b, n, &spacing)) < 0)
			return false;
		if (spacing || used + (size_t)n * 3 > TABLE_BYTES)
			continue;
		while (i < n) {
			UChar32 d;

			U16_NEXT(b, i, n, d);
			w += spam_utf8_put((uint32_t)d, table_bytes + used + w);
		}
		table[c] = (cp_form){.off = (uint16_t)used, .len = (uint8_t)w, .table = true};
		used += w;
	}
	/* ASCII is always in the table: spam_text_normalize_part relies on it. */
	for (unsigned c = 0; c < 128; c++) {
		if (!table[c].table)
			return false;
		if (table[c].len == 1)
			ascii_one[c] = (unsigned char)table_bytes[table[c].off];
	}
	return true;
}

static void
norm_open(void)
{
	UErrorCode e = U_ZERO_ERROR;

	nfkd_cf = unorm2_getInstance(NULL, "nfkc_cf", UNORM2_DECOMPOSE, &e);
	if (U_FAILURE(e)) {
		norm_status = status_from_icu(e);
		return;
	}
	if ((norm_status = unicode_spoof_checker(&spoof)) != PIGEON_OK)
		return;
	norm_status = table_fill() ? PIGEON_OK : PIGEON_INTERNAL;
}

static pigeon_status
norm_ready(void)
{
	if (pthread_once(&norm_once, norm_open) != 0)
		return PIGEON_INTERNAL;
	return norm_status;
}

/* The code point of the valid two-byte sequence at s[0..len), or
 * TABLE_CPS when there is none. */
static uint32_t
two_byte_cp(const char *s, size_t len)
{
	unsigned char c0 = (unsigned char)s[0], c1;

	if (c0 < 0xC2 || c0 > 0xDF || len < 2 || ((c1 = (unsigned char)s[1]) & 0xC0) != 0x80)
		return TABLE_CPS;
	return ((uint32_t)(c0 & 0x1F) << 6) | (c1 & 0x3F);
}

/* Where the run of non-ASCII characters starting at in[pos] ends, and
 * whether every character of it is in the table. */
static size_t
run_end(const char *in, size_t pos, size_t len, bool *in_table)
{
	*in_table = true;
	while (pos < len && (unsigned char)in[pos] >= 0x80) {
		uint32_t cp = two_byte_cp(in + pos, len - pos);

		if (cp == TABLE_CPS || !table[cp].table) {
			*in_table = false;
			pos++;
		} else {
			pos += 2;
		}
	}
	return pos;
}

/* Where the ICU piece starting at in[pos], in a run that ends at end,
 * ends. */
static size_t
piece_end(const char *in, size_t pos, size_t end)
{
	size_t start = pos, cut = pos;

	while (pos < end) {
		uint32_t cp;
		size_t n = spam_utf8_next(in + pos, end - pos, &cp);

		if (pos > start && unorm2_hasBoundaryBefore(nfkd_cf, (UChar32)cp))
			cut = pos;
		if (pos + n - start > PIECE_BYTES)
			return cut > start ? cut : pos;
		pos += n;
	}
	return pos;
}

pigeon_status
spam_text_normalize_part(const char *in, size_t len, char *out, size_t cap, size_t *used,
                         size_t *out_len)
{
	size_t pos = 0, w = 0, run = 0;
	bool in_table = true;
	pigeon_status rv;

	if ((rv = norm_ready()) != PIGEON_OK)
		return rv;
	while (pos < len) {
		unsigned char c = (unsigned char)in[pos];
		char form[PIECE_BYTES * SPAM_TEXT_EXPANSION_MAX];
		const cp_form *f;
		size_t end, n;

		if (c < 0x80 && ascii_one[c] != 0) {
			/* The common case, kept to one load and one store a byte. */
			do {
				if (w == cap)
					goto full;
				out[w++] = (char)ascii_one[c];
				if (++pos == len)
					goto full;
				c = (unsigned char)in[pos];
			} while (c < 0x80 && ascii_one[c] != 0);
			continue;
		}
		if (c < 0x80) {
			f = &table[c];
			if (cap - w < f->len)
				break;
			memcpy(out + w, table_bytes + f->off, f->len);
			w += f->len;
			pos++;
			continue;
		}
		/* A run of non-ASCII characters: in the table, one by one. */
		if (pos >= run)
			run = run_end(in, pos, len, &in_table);
		if (in_table) {
			f = &table[two_byte_cp(in + pos, len - pos)];
			if (cap - w < f->len)
				break;
			memcpy(out + w, table_bytes + f->off, f->len);
			w += f->len;
			pos += 2;
			continue;
		}
		/* Else through ICU, piece by piece.  With output to hand back
		 * already, stop before a piece that might not fit rather than
		 * normalise it twice. */
		end = piece_end(in, pos, run);
		if (w > 0 && cap - w < (end - pos) * SPAM_TEXT_EXPANSION_MAX)
			break;
		n = piece_normalize(in + pos, end - pos, form);
		if (cap - w < n)
			break;
		memcpy(out + w, form, n);
		w += n;
		pos = end;
	}
full:
	*used = pos;
	*out_len = w;
	return PIGEON_OK;
}

pigeon_status
spam_text_normalize(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
	size_t pos = 0, w = 0;
	pigeon_status rv;

	if ((rv = norm_ready()) != PIGEON_OK)
		return rv;
	while (pos < len) {
		size_t used, n;

		if ((rv = spam_text_normalize_part(in + pos, len - pos, out + w, cap - w, &used,
		                                   &n)) != PIGEON_OK)
			return rv;
		if (used == 0)
			return PIGEON_RESOURCE_EXHAUSTED;
		pos += used;
		w += n;
	}
	*out_len = w;
	return PIGEON_OK;
}
