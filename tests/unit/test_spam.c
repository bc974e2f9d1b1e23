/* SPDX-License-Identifier: MIT */
/* The spam filter's rules, each at, below and above its threshold; the
 * normal form of text, against ICU applied to the whole text; the flood
 * fingerprint's normalisation; UTF-8 blocklist terms and the look-alike,
 * invisible and combining characters that no longer hide them; the score
 * arithmetic; and the config and term file formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/utf16.h>

#include "blocklist.h"
#include "spam.h"
#include "text.h"

#define t_assert_double_equal(a, b)                                                                \
	do {                                                                                       \
		double t_a_ = (a), t_b_ = (b);                                                     \
		if (t_a_ != t_b_)                                                                  \
			fail_msg("%.17g != %.17g", t_a_, t_b_);                                    \
	} while (0)

static spam_filter *
t_filter(const char *config, const char *blocklist)
{
	spam_filter *f = NULL;
	char err[256] = "";

	if (spam_filter_new(&f, config, config != NULL ? strlen(config) : 0, blocklist,
	                    blocklist != NULL ? strlen(blocklist) : 0, err,
	                    sizeof(err)) != PIGEON_OK)
		fail_msg("spam_filter_new: %s", err);
	return f;
}

static void
t_check(const spam_filter *f, const char *content, uint32_t sent, uint32_t recipients,
        spam_verdict *v)
{
	spam_message m = {
	    .sender = "alice",
	    .recipient = "bob",
	    .content = content,
	    .content_len = strlen(content),
	    .time_ms = 1700000000000,
	};
	spam_history h = {.sent_in_window = sent, .flood_recipients = recipients};

	spam_check(f, &m, &h, v);
}

static void
test_fold_lowers_latin_greek_and_cyrillic(void **state)
{
	assert_int_equal(spam_fold('A'), 'a');
	assert_int_equal(spam_fold('z'), 'z');
	assert_int_equal(spam_fold(0xC9), 0xE9);   /* É é */
	assert_int_equal(spam_fold(0xD7), 0xD7);   /* × */
	assert_int_equal(spam_fold(0xDF), 0xDF);   /* ß */
	assert_int_equal(spam_fold(0x100), 0x101); /* Ā ā */
	assert_int_equal(spam_fold(0x141), 0x142); /* Ł ł */
	assert_int_equal(spam_fold(0x178), 0xFF);  /* Ÿ ÿ */
	assert_int_equal(spam_fold(0x17D), 0x17E); /* Ž ž */
	assert_int_equal(spam_fold(0x391), 0x3B1); /* Α α */
	assert_int_equal(spam_fold(0x3A3), 0x3C3); /* Σ σ */
	assert_int_equal(spam_fold(0x3C2), 0x3C3); /* ς σ */
	assert_int_equal(spam_fold(0x386), 0x3AC); /* Ά ά */
	assert_int_equal(spam_fold(0x401), 0x451); /* Ё ё */
	assert_int_equal(spam_fold(0x41F), 0x43F); /* П п */
	assert_int_equal(spam_fold(0x462), 0x463); /* Ѣ ѣ */
	assert_int_equal(spam_fold(0x4C1), 0x4C2); /* Ӂ ӂ */
	assert_int_equal(spam_fold(0x4E8), 0x4E9); /* Ө ө */
	assert_int_equal(spam_fold(0x5D0), 0x5D0); /* Hebrew has no case */
	assert_int_equal(spam_fold(0x531), 0x561); /* Armenian: any script now */
	assert_int_equal(spam_fold(0xFF22), 0xFF42); /* fullwidth */
}

static void
test_utf8_next_decodes_and_replaces_bad_bytes(void **state)
{
	uint32_t cp;

	assert_int_equal(spam_utf8_next("\xD0\x9F", 2, &cp), 2);
	assert_int_equal(cp, 0x41F);
	assert_int_equal(spam_utf8_next("\xF0\x9F\x98\x80", 4, &cp), 4);
	assert_int_equal(cp, 0x1F600);
	assert_int_equal(spam_utf8_next("\xC0\xAF", 2, &cp), 1); /* overlong */
	assert_int_equal(cp, SPAM_REPLACEMENT_CHAR);
	assert_int_equal(spam_utf8_next("\xED\xA0\x80", 3, &cp), 1); /* surrogate */
	assert_int_equal(cp, SPAM_REPLACEMENT_CHAR);
	assert_int_equal(spam_utf8_next("\xE2\x82", 2, &cp), 1); /* truncated */
	assert_int_equal(cp, SPAM_REPLACEMENT_CHAR);
}

/* The normal form (text.h), written the slow way: ICU's steps on the whole
 * text at once, without the table or the pieces spam_text_normalize uses.
 * Returns the length written into out. */
static size_t
t_oracle(const char *s, size_t len, char *out)
{
	static UChar a[65536], b[65536];
	/* Opened once, kept to the end: the test walks every code point. */
	static USpoofChecker *sc;
	UErrorCode e = U_ZERO_ERROR;
	const UNormalizer2 *kd = unorm2_getInstance(NULL, "nfkc_cf", UNORM2_DECOMPOSE, &e);
	int32_t n = 0, k = 0, i = 0;
	size_t pos = 0, w = 0;

	if (sc == NULL)
		sc = uspoof_open(&e);
	while (pos < len) {
		uint32_t cp;
		pos += spam_utf8_next(s + pos, len - pos, &cp);
		U16_APPEND_UNSAFE(a, n, (UChar32)cp);
	}
	for (int pass = 0; pass < 2; pass++) {
		n = unorm2_normalize(kd, a, n, b, 65536, &e);
		for (i = 0, k = 0; i < n;) {
			int32_t start = i;
			UChar32 c;
			U16_NEXT(b, i, n, c);
			if (u_charType(c) != U_NON_SPACING_MARK)
				while (start < i)
					b[k++] = b[start++];
		}
		n = k;
		if (pass == 0)
			n = uspoof_getSkeleton(sc, 0, b, n, a, 65536, &e);
	}
	assert_false(U_FAILURE(e));
	for (i = 0; i < n;) {
		UChar32 c;
		U16_NEXT(b, i, n, c);
		w += spam_utf8_put((uint32_t)c, out + w);
	}
	return w;
}

/* Normalises s (len bytes) and checks it against the oracle and the bound. */
static void
t_norm_matches_oracle(const char *s, size_t len)
{
	static char got[65536], want[65536];
	size_t got_len = 0, want_len = t_oracle(s, len, want);

	assert_int_equal(spam_text_normalize(s, len, got, sizeof(got), &got_len), PIGEON_OK);
	if (got_len != want_len || memcmp(got, want, got_len) != 0) {
		fprintf(stderr, "input:");
		for (size_t i = 0; i < len; i++)
			fprintf(stderr, " %02x", (unsigned char)s[i]);
		fail_msg("normal form \"%.*s\" != ICU's \"%.*s\"", (int)got_len, got,
		         (int)want_len, want);
	}
	assert_true(got_len <= len * SPAM_TEXT_EXPANSION_MAX);
}

static void
t_norm_is(const char *in, const char *want)
{
	char out[1024];
	size_t n = 0;

	assert_int_equal(spam_text_normalize(in, strlen(in), out, sizeof(out), &n), PIGEON_OK);
	out[n] = '\0';
	assert_string_equal(out, want);
}

static void
test_normalize_folds_width_case_invisibles_marks_and_look_alikes(void **state)
{
	/* Fullwidth ｂｕｙ ＮＯＷ. */
	t_norm_is("\xEF\xBD\x82\xEF\xBD\x95\xEF\xBD\x99 \xEF\xBC\xAE\xEF\xBC\xAF\xEF\xBC\xB7",
	          "buy now");
	t_norm_is("buy n\xD0\xBEw", "buy now");        /* Cyrillic о */
	t_norm_is("b\xCF\x85y n\xCE\xBFw", "buy now"); /* Greek υ, ο */
	t_norm_is("\xCE\x91", "a");                    /* Greek Α */
	t_norm_is("b\xCC\x81uy n\xCC\xB6o\xCC\xB6w", "buy now"); /* U+0301, U+0336 */
	/* U+200B, U+200D, U+00AD, U+FEFF. */
	t_norm_is("bu\xE2\x80\x8By bu\xE2\x80\x8Dy bu\xC2\xADy \xEF\xBB\xBFx", "buy buy buy x");
	t_norm_is("Caf\xC3\xA9 au lait", "cafe au lait");
	t_norm_is("Cafe\xCC\x81", "cafe"); /* a decomposed é */
	t_norm_is("MONEY money", "rnoney rnoney");
	t_norm_is("n0w I1l|", "now illl");
	t_norm_is("Stra\xC3\x9F"
	          "e",
	          "strasse");
	t_norm_is("50%", "5oo/0");
	/* No-break and ideographic spaces become spaces; tabs and line breaks
	 * stay. */
	t_norm_is("a\xC2\xA0"
	          "b\xE3\x80\x80"
	          "c\td\n",
	          "a b c\td\n");
	/* Ольга. */
	t_norm_is("\xD0\x9E\xD0\xBB\xD1\x8C\xD0\xB3\xD0\xB0", "o\xD0\xBB\xC6\x85ra");
	t_norm_is("", "");
}

static void
test_normalize_replaces_invalid_utf8(void **state)
{
	t_norm_is("a\xFF"
	          "b",
	          "a\xEF\xBF\xBD"
	          "b");
	t_norm_is("\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD");                   /* overlong */
	t_norm_is("\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");   /* surrogate */
	t_norm_is("now \xE2\x82", "now \xEF\xBF\xBD\xEF\xBF\xBD");           /* truncated */
	t_norm_matches_oracle("\xF4\x90\x80\x80\xD0", 5);
}

/* The table that spares ASCII text ICU gives what ICU gives, for every
 * ASCII character alone and next to every other. */
static void
test_normalize_ascii_equals_icu_for_every_pair(void **state)
{
	for (unsigned a = 0; a < 128; a++) {
		char s[2] = {(char)a, 0};

		t_norm_matches_oracle(s, 1);
		for (unsigned b = 0; b < 128; b++) {
			s[1] = (char)b;
			t_norm_matches_oracle(s, 2);
		}
	}
}

/* Every code point alone: ICU's answer, within SPAM_TEXT_EXPANSION_MAX. */
static void
test_normalize_every_code_point_equals_icu_within_bound(void **state)
{
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
		char s[4];

		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		t_norm_matches_oracle(s, spam_utf8_put(cp, s));
	}
}

/* Texts mixing ASCII, the table's scripts, marks, ICU's scripts, invisible
 * characters and invalid bytes, drawn with a fixed seed: the pieces put end
 * to end are the whole. */
static void
test_normalize_mixed_text_equals_icu(void **state)
{
	static const char *const parts[] = {
	    "a", "M", "0", "|", " ", ".", "%", "\xD0\xBE", "\xD0\x9F", "\xCE\xBF", "\xCE\x91",
	    "\xC3\xA9", "\xCC\x81", "\xCC\xB6", "\xD6\xB8", "\xD9\x8E", "\xD5\xA1",
	    "\xE2\x80\x8B", "\xE2\x80\x8D", "\xC2\xAD", "\xEF\xBD\x82", "\xE6\x97\xA5",
	    "\xED\x95\x9C", "\xE1\x84\x80", "\xF0\x9F\x98\x80", "\xEF\xB7\xBA",
	    "\xF0\x9D\x85\xA5", "\xE0\xA4\x95", "\xE0\xA5\x8D", "\xFF", "\xE2\x82",
	};
	const size_t nparts = sizeof(parts) / sizeof(parts[0]);
	uint32_t seed = 12345;
	char s[512];

	for (int round = 0; round < 20000; round++) {
		size_t len = 0, count;

		seed = seed * 1103515245u + 12345u;
		count = 1 + (seed >> 16) % 40;
		for (size_t i = 0; i < count; i++) {
			const char *p;

			seed = seed * 1103515245u + 12345u;
			p = parts[(seed >> 16) % nparts];
			memcpy(s + len, p, strlen(p));
			len += strlen(p);
		}
		t_norm_matches_oracle(s, len);
	}
}

/* A long text through the smallest buffer, piece by piece, and a buffer too
 * small for the whole. */
static void
test_normalize_part_pieces_make_the_whole(void **state)
{
	static const char chunk[] = "\xD0\x9E\xD0\xBB\xD1\x8C\xD0\xB3\xD0\xB0 MAKE m0ney "
	                            "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80\xEF\xB7\xBA ";
	static char text[8192], whole[8192 * SPAM_TEXT_EXPANSION_MAX], pieces[sizeof(whole)];
	char buf[SPAM_TEXT_PART_MIN];
	size_t len = 0, whole_len = 0, got = 0, pos = 0;

	while (len + sizeof(chunk) + 300 < sizeof(text)) {
		memcpy(text + len, chunk, sizeof(chunk) - 1);
		len += sizeof(chunk) - 1;
	}
	/* And a run of marks longer than one ICU piece. */
	for (int i = 0; i < 100; i++, len += 3)
		memcpy(text + len, "\xE0\xA5\x8D", 3);
	assert_int_equal(spam_text_normalize(text, len, whole, sizeof(whole), &whole_len),
	                 PIGEON_OK);
	while (pos < len) {
		size_t used = 0, n = 0;

		assert_int_equal(
		    spam_text_normalize_part(text + pos, len - pos, buf, sizeof(buf), &used, &n),
		    PIGEON_OK);
		assert_true(used > 0);
		memcpy(pieces + got, buf, n);
		got += n;
		pos += used;
	}
	assert_int_equal(got, whole_len);
	assert_memory_equal(pieces, whole, got);
	assert_int_equal(spam_text_normalize("MAKE", 4, buf, 4, &got), PIGEON_RESOURCE_EXHAUSTED);
}

/* rate: more than rate.max messages in the window. */

static void
test_rate_below_max_is_not_spam(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_verdict v;

	t_check(f, "hello", 29, 1, &v);
	assert_false(v.spam);
	t_assert_double_equal(v.score, 0.0);
	assert_string_equal(v.reasons, "");
	spam_filter_free(f);
}

static void
test_rate_at_max_is_not_spam(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_verdict v;

	t_check(f, "hello", 30, 1, &v);
	assert_false(v.spam);
	assert_string_equal(v.reasons, "");
	spam_filter_free(f);
}

static void
test_rate_above_max_is_spam_with_its_figures(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_verdict v;

	t_check(f, "hello", 31, 1, &v);
	assert_true(v.spam);
	t_assert_double_equal(v.score, 1.0);
	assert_string_equal(v.reasons, "rate(31>30/60s)");
	spam_filter_free(f);
}

static void
test_rate_settings_change_max_window_and_weight(void **state)
{
	spam_filter *f = t_filter("rate.max = 3\nrate.window = 10\nrate.weight = 0.5\n", "");
	spam_verdict v;

	assert_int_equal(spam_rate_window(f), 10);
	t_check(f, "hello", 3, 1, &v);
	assert_false(v.spam);
	t_check(f, "hello", 4, 1, &v);
	assert_true(v.spam);
	t_assert_double_equal(v.score, 0.5);
	assert_string_equal(v.reasons, "rate(4>3/10s)");
	spam_filter_free(f);
}

static void
test_rate_disabled_never_fires(void **state)
{
	spam_filter *f = t_filter("rate.enabled = false\n", "");
	spam_verdict v;

	t_check(f, "hello", 1000000, 1, &v);
	assert_false(v.spam);
	assert_string_equal(v.reasons, "");
	spam_filter_free(f);
}

static void
test_no_history_fires_neither_rate_nor_flood(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_message m = {.sender = "a", .recipient = "b", .content = "hi", .content_len = 2};
	spam_verdict v;

	spam_check(f, &m, NULL, &v);
	assert_false(v.spam);
	assert_string_equal(v.reasons, "");
	spam_filter_free(f);
}

/* flood: the same content to more than flood.max_recipients recipients. */

static void
test_flood_below_and_at_max_is_not_spam(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_verdict v;

	t_check(f, "join my channel", 1, 4, &v);
	assert_false(v.spam);
	t_check(f, "join my channel", 1, 5, &v);
	assert_false(v.spam);
	assert_string_equal(v.reasons, "");
	spam_filter_free(f);
}

static void
test_flood_above_max_is_spam_with_its_figures(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_verdict v;

	assert_int_equal(spam_flood_window(f), 300);
	t_check(f, "join my channel", 1, 6, &v);
	assert_true(v.spam);
	t_assert_double_equal(v.score, 1.0);
	assert_string_equal(v.reasons, "flood(6>5/300s)");
	spam_filter_free(f);
}

static void
test_flood_disabled_never_fires(void **state)
{
	spam_filter *f = t_filter("flood.enabled = no\nflood.window = 60\n", "");
	spam_verdict v;

	assert_int_equal(spam_flood_window(f), 60);
	t_check(f, "join my channel", 1, 1000, &v);
	assert_false(v.spam);
	spam_filter_free(f);
}

static uint64_t
t_fp(const char *s)
{
	return spam_fingerprint(s, strlen(s));
}

static void
test_fingerprint_ignores_case_white_space_and_digits(void **state)
{
	uint64_t want = t_fp("win euros now");

	assert_true(t_fp("WIN 500 euros now") == want);
	assert_true(t_fp("win  999 Euros\tnow") == want);
	assert_true(t_fp("  Win 12 EUROS now \n") == want);
	assert_true(t_fp("w1in eu2ros no3w") == want);
	/* Zero-width space and soft hyphen inside words. */
	assert_true(t_fp("wi\xE2\x80\x8Bn eu\xC2\xADros now") == want);
	/* No-break and ideographic spaces count as white space. */
	assert_true(t_fp("win\xC2\xA0\xE3\x80\x80"
	                 "euros now") == want);
}

static void
test_fingerprint_folds_cyrillic_and_greek(void **state)
{
	assert_true(t_fp("ВЫИГРЫШ 100 рублей") == t_fp("выигрыш 5 РУБЛЕЙ"));
	assert_true(t_fp("ΚΕΡΔΙΣΤΕ τώρα") == t_fp("κερδιστε ΤΏΡΑ"));
}

static void
test_fingerprint_folds_width_look_alikes_and_accents(void **state)
{
	uint64_t want = t_fp("win euros now");

	/* Cyrillic і, е, о. */
	assert_true(t_fp("w\xD1\x96n \xD0\xB5uros n\xD0\xBEw") == want);
	/* Fullwidth ＷＩＮ, a combining acute, a zero-width joiner. */
	assert_true(t_fp("\xEF\xBC\xB7\xEF\xBC\xA9\xEF\xBC\xAE e\xCC\x81uros no\xE2\x80\x8Dw") ==
	            want);
	/* Digits go before the look-alikes: "0" is not read as "o". */
	assert_true(t_fp("win eur0s now") == t_fp("win eurs now"));
}

static void
test_fingerprint_keeps_words_and_punctuation_apart(void **state)
{
	uint64_t want = t_fp("win euros now");

	assert_false(t_fp("win euros later") == want);
	assert_false(t_fp("wineuros now") == want);
	assert_false(t_fp("win euros now!") == want);
	assert_false(t_fp("") == want);
}

/* blocklist: whole words, any case, UTF-8. */

static void
test_blocklist_default_buy_now_is_spam(void **state)
{
	spam_filter *f = t_filter(NULL, NULL);
	spam_verdict v;

	assert_int_equal(spam_blocklist_terms(f), 14);
	t_check(f, "Great deal, BUY NOW!", 1, 1, &v);
	assert_true(v.spam);
	t_assert_double_equal(v.score, 1.0);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	spam_filter_free(f);
}

static void
test_blocklist_matches_whole_words_only(void **state)
{
	spam_filter *f = t_filter(NULL, "buy now\n");
	spam_verdict v;

	t_check(f, "don't buy nowhere", 1, 1, &v);
	assert_false(v.spam);
	t_check(f, "rebuy now", 1, 1, &v);
	assert_false(v.spam);
	t_check(f, "buy it now", 1, 1, &v);
	assert_false(v.spam);
	t_check(f, "buy", 1, 1, &v);
	assert_false(v.spam);
	t_check(f, "buy now", 1, 1, &v);
	assert_true(v.spam);
	t_check(f, "(buy...now)", 1, 1, &v);
	assert_true(v.spam);
	t_check(f, "Buy\n  Now", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	spam_filter_free(f);
}

static void
test_blocklist_ignores_invisible_characters_inside_words(void **state)
{
	spam_filter *f = t_filter(NULL, "buy now\n");
	spam_verdict v;

	t_check(f, "bu\xE2\x80\x8By n\xC2\xADow", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	spam_filter_free(f);
}

/* What a user tried: both were delivered while "buy now" was on the list. */
static void
test_blocklist_catches_fullwidth_and_cyrillic_look_alikes(void **state)
{
	spam_filter *f = t_filter(NULL, NULL);
	spam_verdict v;

	t_check(f,
	        "\xEF\xBD\x82\xEF\xBD\x95\xEF\xBD\x99 \xEF\xBD\x8E\xEF\xBD\x8F\xEF\xBD\x97 "
	        "cheap pills",
	        1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	t_check(f, "buy n\xD0\xBEw cheap pills", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	spam_filter_free(f);
}

static void
test_blocklist_catches_greek_look_alikes_and_digits(void **state)
{
	spam_filter *f = t_filter(NULL, NULL);
	spam_verdict v;

	t_check(f, "b\xCF\x85y n\xCE\xBFw", 1, 1, &v); /* Greek υ, ο */
	assert_string_equal(v.reasons, "blocklist(buy now)");
	t_check(f, "C\xCE\x91SINO BONUS", 1, 1, &v); /* Greek Α */
	assert_string_equal(v.reasons, "blocklist(casino bonus)");
	t_check(f, "BUY N0W", 1, 1, &v);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	t_check(f, "MAKE MONEY FAST", 1, 1, &v);
	assert_string_equal(v.reasons, "blocklist(make money fast)");
	spam_filter_free(f);
}

static void
test_blocklist_catches_combining_marks(void **state)
{
	spam_filter *f = t_filter(NULL, NULL);
	spam_verdict v;

	t_check(f, "b\xCC\x81uy now", 1, 1, &v);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	t_check(f, "buy n\xCC\xB6o\xCC\xB6w", 1, 1, &v);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	spam_filter_free(f);
}

static void
test_blocklist_catches_zero_width_and_soft_hyphen(void **state)
{
	static const char *const msgs[] = {
	    "buy\xE2\x80\x8B now",
	    "bu\xE2\x80\x8Dy now",
	    "bu\xC2\xADy now",
	    "b\xE2\x81\xA0uy n\xEF\xBB\xBFow", /* word joiner, byte-order mark */
	};
	spam_filter *f = t_filter(NULL, NULL);
	spam_verdict v;

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		t_check(f, msgs[i], 1, 1, &v);
		assert_string_equal(v.reasons, "blocklist(buy now)");
	}
	spam_filter_free(f);
}

static void
test_blocklist_still_matches_whole_words_of_the_normal_form(void **state)
{
	spam_filter *f = t_filter(NULL, NULL);
	spam_verdict v;

	t_check(f, "don't buy nowhere", 1, 1, &v);
	assert_false(v.spam);
	t_check(f, "don't b\xCF\x85y n\xD0\xBEwhere", 1, 1, &v);
	assert_false(v.spam);
	/* Accents go, but "cafe" is no term: ham stays ham. */
	t_check(f, "caf\xC3\xA9 au lait, cr\xC3\xA8me br\xC3\xBBl\xC3\xA9"
	           "e",
	        1, 1, &v);
	assert_false(v.spam);
	assert_string_equal(v.reasons, "");
	spam_filter_free(f);
}

static void
test_blocklist_survives_invalid_utf8(void **state)
{
	spam_filter *f = t_filter(NULL, NULL);
	spam_verdict v;

	t_check(f, "\xFF\xFE\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80\xE2\x82", 1, 1, &v);
	assert_false(v.spam);
	/* U+FFFD separates words as punctuation does. */
	t_check(f, "buy\xFFnow", 1, 1, &v);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	t_check(f, "bu\xFFy now", 1, 1, &v);
	assert_false(v.spam);
	t_check(f, "buy now\xE2\x82", 1, 1, &v);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	spam_filter_free(f);
}

/* Terms go through the same normal form: a term written with look-alikes
 * is the plain term, and a repeat of it. */
static void
test_blocklist_terms_are_normalised_too(void **state)
{
	static const char text[] = "BUY NOW\nbuy n\xD0\xBEw\n\xEF\xBD\x86ree money\n";
	spam_blocklist *bl = NULL;
	char err[128] = "";

	assert_int_equal(spam_blocklist_parse(&bl, text, strlen(text), err, sizeof(err)),
	                 PIGEON_OK);
	assert_int_equal(spam_blocklist_size(bl), 2);
	assert_string_equal(spam_blocklist_find(bl, "buy now", 7), "buy now");
	assert_string_equal(spam_blocklist_find(bl, "FREE MONEY", 10), "\xEF\xBD\x86ree money");
	spam_blocklist_free(bl);
}

static void
test_blocklist_matches_utf8_terms_in_any_case(void **state)
{
	spam_filter *f = t_filter(NULL, "продам\nκαλη τιμη\nÉTÉ SOLDES\nłódź\n");
	spam_verdict v;

	t_check(f, "ПРОДАМ гараж", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(продам)");
	t_check(f, "Продамся", 1, 1, &v);
	assert_false(v.spam);
	t_check(f, "ΚΑΛΗ ΤΙΜΗ!", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(καλη τιμη)");
	t_check(f, "les été soldes", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(été soldes)");
	t_check(f, "ŁÓDŹ", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(łódź)");
	/* A non-Latin letter continues the word. */
	t_check(f, "łódźя", 1, 1, &v);
	assert_false(v.spam);
	spam_filter_free(f);
}

static void
test_blocklist_finds_terms_after_a_partial_match(void **state)
{
	spam_filter *f = t_filter(NULL, "a b c\nx\n");
	spam_verdict v;

	t_check(f, "a b a b c", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(a b c)");
	t_check(f, "a b d c", 1, 1, &v);
	assert_false(v.spam);
	spam_filter_free(f);
}

static void
test_blocklist_reports_the_first_term_in_the_message(void **state)
{
	spam_filter *f = t_filter(NULL, "free money\nbuy now\n");
	spam_verdict v;

	t_check(f, "buy now, free money", 1, 1, &v);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	t_assert_double_equal(v.score, 1.0);
	spam_filter_free(f);
}

static void
test_blocklist_disabled_loads_no_terms(void **state)
{
	spam_filter *f = t_filter("blocklist.enabled = off\n", NULL);
	spam_verdict v;

	assert_int_equal(spam_blocklist_terms(f), 0);
	t_check(f, "buy now", 1, 1, &v);
	assert_false(v.spam);
	spam_filter_free(f);
}

static void
test_blocklist_file_skips_comments_blanks_and_repeats(void **state)
{
	static const char text[] = "# comment\n\n  buy now  \r\nBUY   NOW\nfree money";
	spam_blocklist *bl = NULL;
	char err[128] = "";

	assert_int_equal(spam_blocklist_parse(&bl, text, strlen(text), err, sizeof(err)),
	                 PIGEON_OK);
	assert_int_equal(spam_blocklist_size(bl), 2);
	assert_string_equal(spam_blocklist_find(bl, "FREE money!", 11), "free money");
	assert_null(spam_blocklist_find(bl, "free", 4));
	spam_blocklist_free(bl);
}

static void
t_blocklist_error(const char *text, const char *want)
{
	spam_blocklist *bl = NULL;
	char err[128] = "";

	assert_int_equal(spam_blocklist_parse(&bl, text, strlen(text), err, sizeof(err)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_null(bl);
	assert_string_equal(err, want);
}

static void
test_blocklist_bad_lines_are_invalid_with_line_number(void **state)
{
	t_blocklist_error("ok\n!!!\n", "line 2: no letters or digits");
	t_blocklist_error("ok\n\nbad \xC3\x28 byte\n", "line 3: not UTF-8 text");
	t_blocklist_error("a b c d e f g h i\n", "line 1: too many words");
	t_blocklist_error("x\nyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n",
	                  "line 2: term longer than 64 bytes");
}

/* shape: links, capitals and repeats add up to a score with a threshold. */

static void
test_shape_defaults_pass_normal_chat(void **state)
{
	static const char *const ok[] = {
	    "Hey, are we still meeting at 5pm tomorrow? Let me know.",
	    "Here are the slides: https://example.com/slides/q3.pdf",
	    "OK!!",
	    "THANK YOU SO MUCH",
	    "Well... that was soooo good",
	    "",
	};
	spam_filter *f = t_filter(NULL, "");
	spam_verdict v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		t_check(f, ok[i], 1, 1, &v);
		if (v.spam)
			fail_msg("\"%s\" judged spam: %s", ok[i], v.reasons);
	}
	spam_filter_free(f);
}

static void
test_shape_parts_follow_the_documented_arithmetic(void **state)
{
	static const char msg[] = "FREE!!!! CLICK http://a.b http://c.d http://e.f NOW!!!!!!";
	spam_filter *f = t_filter(NULL, "");
	spam_shape s;

	spam_shape_measure(f, msg, strlen(msg), &s);
	/* 3 links among 6 words, more than links_free = 1: 1.5 x 3/6. */
	t_assert_double_equal(s.links, 0.75);
	/* 12 of 12 letters outside links are capitals: 1.0 x 12/12. */
	t_assert_double_equal(s.caps, 1.0);
	/* "!!!!" and "!!!!!!" are 10 of the 22 characters outside links. */
	t_assert_double_equal(s.repeats, 1.0 * 10.0 / 22.0);
	t_assert_double_equal(s.score, 0.75 + 1.0 + 10.0 / 22.0);
	spam_filter_free(f);
}

static void
test_shape_above_threshold_is_spam_with_its_parts(void **state)
{
	static const char msg[] = "FREE!!!! CLICK http://a.b http://c.d http://e.f NOW!!!!!!";
	spam_filter *f = t_filter(NULL, "");
	spam_verdict v;

	t_check(f, msg, 1, 1, &v);
	assert_true(v.spam);
	t_assert_double_equal(v.score, 0.75 + 1.0 + 10.0 / 22.0);
	assert_string_equal(v.reasons, "shape(score 2.20>=2.00: links, caps, repeats)");
	spam_filter_free(f);
}

static void
test_shape_at_threshold_is_spam_and_below_is_not(void **state)
{
	/* All capitals, no links or runs: the score is exactly caps_weight. */
	static const char msg[] = "HELLO THERE";
	spam_filter *at = t_filter("shape.threshold = 1.0\n", "");
	spam_filter *above = t_filter("shape.threshold = 1.01\n", "");
	spam_filter *below = t_filter("shape.threshold = 0.99\n", "");
	spam_verdict v;

	t_check(at, msg, 1, 1, &v);
	assert_true(v.spam);
	t_assert_double_equal(v.score, 1.0);
	assert_string_equal(v.reasons, "shape(score 1.00>=1.00: caps)");
	t_check(below, msg, 1, 1, &v);
	assert_true(v.spam);
	t_check(above, msg, 1, 1, &v);
	assert_false(v.spam);
	t_assert_double_equal(v.score, 0.0);
	spam_filter_free(at);
	spam_filter_free(above);
	spam_filter_free(below);
}

static void
test_shape_counts_links_only_beyond_links_free(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_shape s;

	spam_shape_measure(f, "see https://a.example", 21, &s);
	t_assert_double_equal(s.links, 0.0);
	spam_shape_measure(f, "http://a.example WWW.b.example", 29, &s);
	t_assert_double_equal(s.links, 1.5);
	t_assert_double_equal(s.score, 1.5);
	spam_filter_free(f);
}

static void
test_shape_caps_need_min_letters(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_shape s;

	spam_shape_measure(f, "OK GO", 5, &s);
	t_assert_double_equal(s.caps, 0.0);
	spam_shape_measure(f, "OK GOOD", 7, &s);
	t_assert_double_equal(s.caps, 1.0);
	/* Cyrillic letters count: 5 are too few, and 4 capitals of 6. */
	spam_shape_measure(f, "ПРИ ми", strlen("ПРИ ми"), &s);
	t_assert_double_equal(s.caps, 0.0);
	spam_shape_measure(f, "ПРИВет", strlen("ПРИВет"), &s);
	t_assert_double_equal(s.caps, 4.0 / 6.0);
	spam_filter_free(f);
}

static void
test_shape_repeats_count_runs_at_repeats_run(void **state)
{
	spam_filter *f = t_filter(NULL, "");
	spam_shape s;

	spam_shape_measure(f, "ok!!", 4, &s);
	t_assert_double_equal(s.repeats, 0.0);
	spam_shape_measure(f, "ok!!!", 5, &s);
	t_assert_double_equal(s.repeats, 3.0 / 5.0);
	/* Runs are of folded characters, and white space ends a run. */
	spam_shape_measure(f, "NOoo !! !", 9, &s);
	t_assert_double_equal(s.repeats, 3.0 / 7.0);
	spam_filter_free(f);
}

static void
test_shape_disabled_never_fires(void **state)
{
	spam_filter *f = t_filter("shape.enabled = false\n", "");
	spam_verdict v;

	t_check(f, "FREE!!!! CLICK http://a.b http://c.d http://e.f NOW!!!!!!", 1, 1, &v);
	assert_false(v.spam);
	assert_string_equal(v.reasons, "");
	spam_filter_free(f);
}

/* The verdict's score is the sum of the weights of the hard rules that
 * fired plus the shape score when shape fired. */
static void
test_score_adds_weights_of_every_rule_that_fired(void **state)
{
	spam_filter *f = t_filter("rate.weight = 0.5\nflood.weight = 2\nblocklist.weight = 0.25\n"
	                          "shape.caps_min_letters = 1\nshape.threshold = 1\n",
	                          "buy now\n");
	spam_verdict v;

	t_check(f, "BUY NOW", 31, 6, &v);
	assert_true(v.spam);
	t_assert_double_equal(v.score, 0.5 + 2.0 + 0.25 + 1.0);
	assert_string_equal(v.reasons, "rate(31>30/60s), flood(6>5/300s), blocklist(buy now), "
	                               "shape(score 1.00>=1.00: caps)");
	spam_filter_free(f);
}

static void
test_dry_run_is_reported_and_verdict_unchanged(void **state)
{
	spam_filter *f = t_filter("dry_run = true\n", NULL);
	spam_filter *d = t_filter(NULL, NULL);
	spam_verdict v;

	assert_true(spam_dry_run(f));
	assert_false(spam_dry_run(d));
	t_check(f, "buy now", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	spam_filter_free(f);
	spam_filter_free(d);
}

/* The config file. */

static void
t_config_error(const char *text, const char *want)
{
	spam_filter *f = NULL;
	char err[256] = "";

	assert_int_equal(spam_filter_new(&f, text, strlen(text), "", 0, err, sizeof(err)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_null(f);
	assert_string_equal(err, want);
}

static void
test_config_bad_lines_are_invalid_with_line_number(void **state)
{
	t_config_error("rate.max = 30\nrate.maxx = 3\n",
	               "config: line 2: unknown key \"rate.maxx\"");
	t_config_error("# c\n\nrate.max 30\n", "config: line 3: expected key = value");
	t_config_error("= 3\n", "config: line 1: expected key = value");
	t_config_error("rate.max =\n", "config: line 1: rate.max: missing value");
	t_config_error("rate.max = 3\nrate.max = 4\n", "config: line 2: rate.max set twice");
	t_config_error("rate.max = -1\n",
	               "config: line 1: rate.max: expected a whole number, got \"-1\"");
	t_config_error("rate.max = 2.5\n",
	               "config: line 1: rate.max: expected a whole number, got \"2.5\"");
	t_config_error("rate.max = 0\n", "config: line 1: rate.max: 0 is outside 1 to 1000000");
	t_config_error("flood.window = 86401\n",
	               "config: line 1: flood.window: 86401 is outside 1 to 86400");
	t_config_error("shape.threshold = 1e3\n",
	               "config: line 1: shape.threshold: expected a number, got \"1e3\"");
	t_config_error("shape.threshold = 0\n",
	               "config: line 1: shape.threshold: 0 is outside 0.01 to 100.00");
	t_config_error("dry_run = maybe\n",
	               "config: line 1: dry_run: expected true or false, got \"maybe\"");
}

static void
test_config_allows_comments_blanks_and_crlf(void **state)
{
	spam_filter *f = t_filter("# settings\r\n\r\n  rate.window = 5   # seconds\r\n"
	                          "flood.window=7\n\tdry_run = yes",
	                          "");

	assert_int_equal(spam_rate_window(f), 5);
	assert_int_equal(spam_flood_window(f), 7);
	assert_true(spam_dry_run(f));
	spam_filter_free(f);
}

static void
test_blocklist_error_names_the_blocklist(void **state)
{
	spam_filter *f = NULL;
	char err[256] = "";

	assert_int_equal(spam_filter_new(&f, NULL, 0, "ok\n???\n", 7, err, sizeof(err)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_null(f);
	assert_string_equal(err, "blocklist: line 2: no letters or digits");
}

static void
test_shipped_config_loads_the_documented_defaults(void **state)
{
	spam_filter *f = NULL, *builtin = NULL;
	char err[256] = "";
	spam_verdict v;

	assert_int_equal(spam_filter_load(&f, PIGEON_SOURCE_DIR "/etc/spam.conf", err, sizeof(err)),
	                 PIGEON_OK);
	assert_int_equal(spam_filter_load(&builtin, NULL, err, sizeof(err)), PIGEON_OK);
	assert_int_equal(spam_rate_window(f), spam_rate_window(builtin));
	assert_int_equal(spam_flood_window(f), spam_flood_window(builtin));
	assert_int_equal(spam_dry_run(f), spam_dry_run(builtin));
	assert_int_equal(spam_blocklist_terms(f), spam_blocklist_terms(builtin));
	t_check(f, "Great deal, buy now!", 1, 1, &v);
	assert_true(v.spam);
	assert_string_equal(v.reasons, "blocklist(buy now)");
	spam_filter_free(f);
	spam_filter_free(builtin);
}

static void
test_missing_config_file_is_not_found(void **state)
{
	spam_filter *f = NULL;
	char err[256] = "";

	assert_int_equal(
	    spam_filter_load(&f, PIGEON_SOURCE_DIR "/etc/no-such.conf", err, sizeof(err)),
	    PIGEON_NOT_FOUND);
	assert_null(f);
	assert_string_equal(err, PIGEON_SOURCE_DIR "/etc/no-such.conf: no such file");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fold_lowers_latin_greek_and_cyrillic),
	    cmocka_unit_test(test_utf8_next_decodes_and_replaces_bad_bytes),
	    cmocka_unit_test(test_normalize_folds_width_case_invisibles_marks_and_look_alikes),
	    cmocka_unit_test(test_normalize_replaces_invalid_utf8),
	    cmocka_unit_test(test_normalize_ascii_equals_icu_for_every_pair),
	    cmocka_unit_test(test_normalize_every_code_point_equals_icu_within_bound),
	    cmocka_unit_test(test_normalize_mixed_text_equals_icu),
	    cmocka_unit_test(test_normalize_part_pieces_make_the_whole),
	    cmocka_unit_test(test_rate_below_max_is_not_spam),
	    cmocka_unit_test(test_rate_at_max_is_not_spam),
	    cmocka_unit_test(test_rate_above_max_is_spam_with_its_figures),
	    cmocka_unit_test(test_rate_settings_change_max_window_and_weight),
	    cmocka_unit_test(test_rate_disabled_never_fires),
	    cmocka_unit_test(test_no_history_fires_neither_rate_nor_flood),
	    cmocka_unit_test(test_flood_below_and_at_max_is_not_spam),
	    cmocka_unit_test(test_flood_above_max_is_spam_with_its_figures),
	    cmocka_unit_test(test_flood_disabled_never_fires),
	    cmocka_unit_test(test_fingerprint_ignores_case_white_space_and_digits),
	    cmocka_unit_test(test_fingerprint_folds_cyrillic_and_greek),
	    cmocka_unit_test(test_fingerprint_folds_width_look_alikes_and_accents),
	    cmocka_unit_test(test_fingerprint_keeps_words_and_punctuation_apart),
	    cmocka_unit_test(test_blocklist_default_buy_now_is_spam),
	    cmocka_unit_test(test_blocklist_matches_whole_words_only),
	    cmocka_unit_test(test_blocklist_ignores_invisible_characters_inside_words),
	    cmocka_unit_test(test_blocklist_catches_fullwidth_and_cyrillic_look_alikes),
	    cmocka_unit_test(test_blocklist_catches_greek_look_alikes_and_digits),
	    cmocka_unit_test(test_blocklist_catches_combining_marks),
	    cmocka_unit_test(test_blocklist_catches_zero_width_and_soft_hyphen),
	    cmocka_unit_test(test_blocklist_still_matches_whole_words_of_the_normal_form),
	    cmocka_unit_test(test_blocklist_survives_invalid_utf8),
	    cmocka_unit_test(test_blocklist_terms_are_normalised_too),
	    cmocka_unit_test(test_blocklist_matches_utf8_terms_in_any_case),
	    cmocka_unit_test(test_blocklist_finds_terms_after_a_partial_match),
	    cmocka_unit_test(test_blocklist_reports_the_first_term_in_the_message),
	    cmocka_unit_test(test_blocklist_disabled_loads_no_terms),
	    cmocka_unit_test(test_blocklist_file_skips_comments_blanks_and_repeats),
	    cmocka_unit_test(test_blocklist_bad_lines_are_invalid_with_line_number),
	    cmocka_unit_test(test_shape_defaults_pass_normal_chat),
	    cmocka_unit_test(test_shape_parts_follow_the_documented_arithmetic),
	    cmocka_unit_test(test_shape_above_threshold_is_spam_with_its_parts),
	    cmocka_unit_test(test_shape_at_threshold_is_spam_and_below_is_not),
	    cmocka_unit_test(test_shape_counts_links_only_beyond_links_free),
	    cmocka_unit_test(test_shape_caps_need_min_letters),
	    cmocka_unit_test(test_shape_repeats_count_runs_at_repeats_run),
	    cmocka_unit_test(test_shape_disabled_never_fires),
	    cmocka_unit_test(test_score_adds_weights_of_every_rule_that_fired),
	    cmocka_unit_test(test_dry_run_is_reported_and_verdict_unchanged),
	    cmocka_unit_test(test_config_bad_lines_are_invalid_with_line_number),
	    cmocka_unit_test(test_config_allows_comments_blanks_and_crlf),
	    cmocka_unit_test(test_blocklist_error_names_the_blocklist),
	    cmocka_unit_test(test_shipped_config_loads_the_documented_defaults),
	    cmocka_unit_test(test_missing_config_file_is_not_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
