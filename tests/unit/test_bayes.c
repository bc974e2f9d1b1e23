/* SPDX-License-Identifier: MIT */
/* The learning filter: the exact tokens of a few messages, Robinson's f(w),
 * the inverse chi-square and Fisher's combining against values worked out by
 * hand, abstention, and a tiny model judging obvious spam and ham. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bayes.h"

#define t_assert_near(a, b, eps)                                                                   \
	do {                                                                                       \
		double t_a_ = (a), t_b_ = (b);                                                     \
		if (!(fabs(t_a_ - t_b_) <= (eps)))                                                 \
			fail_msg("%.17g != %.17g", t_a_, t_b_);                                    \
	} while (0)

/* The tokens of a message, joined by '|', and their hashes. */
typedef struct t_tokens {
	char joined[8192];
	size_t n;
	bool hashes_match;
} t_tokens;

static void
t_collect(const char *tok, size_t len, uint64_t hash, void *arg)
{
	t_tokens *t = arg;
	size_t used = strlen(t->joined);

	if (used > 0 && used + 1 < sizeof(t->joined))
		t->joined[used++] = '|';
	if (used + len < sizeof(t->joined)) {
		memcpy(t->joined + used, tok, len);
		t->joined[used + len] = '\0';
	}
	if (spam_bayes_token_hash(tok, len) != hash)
		t->hashes_match = false;
	t->n++;
}

static const char *
t_tokenize(t_tokens *t, const char *text)
{
	size_t given;

	memset(t, 0, sizeof(*t));
	t->hashes_match = true;
	given = spam_bayes_tokens(text, strlen(text), t_collect, t);
	assert_int_equal(given, t->n);
	assert_true(t->hashes_match);
	return t->joined;
}

static void
test_tokens_are_unique_words_and_bigrams(void **state)
{
	t_tokens t;

	/* 15 characters: len:3 (8 to 15).  "hi bob" twice gives each token once. */
	assert_string_equal(t_tokenize(&t, "Hi Bob, hi bob!"),
	                    "len:3|hi|bob|hi bob|p:,|bob hi|p:!");
}

static void
test_tokens_of_a_link(void **state)
{
	t_tokens t;

	/* 40 characters: len:5.  The host without "www.", its last two labels,
	 * and the link's words like any others. */
	assert_string_equal(
	    t_tokenize(&t, "See https://www.shop.example.com/deal NOW"),
	    "len:5|see|s:url|u:shop.example.com|u:example.com|https|see https|p::|p:/|www|"
	    "https www|p:.|shop|www shop|example|shop example|com|example com|deal|com deal|"
	    "now|deal now");
	/* A dot after the host ends the sentence; a two-label host has one token. */
	assert_string_equal(
	    t_tokenize(&t, "go to www.example.org."),
	    "len:4|go|to|go to|s:url|u:example.org|www|to www|p:.|example|www example|org|"
	    "example org");
}

static void
test_tokens_of_numbers_capitals_and_punctuation(void **state)
{
	t_tokens t;

	/* 7 cased letters, all capitals: s:caps.  "!!!" is a run of three. */
	assert_string_equal(
	    t_tokenize(&t, "CALL 0800123456 NOW!!!"),
	    "len:4|s:caps|call|0800123456|n:10|call 0800123456|now|0800123456 now|p:!|p:!!!");
	/* All capitals, but too few letters for s:caps. */
	assert_string_equal(t_tokenize(&t, "OK"), "len:1|ok");
}

static void
test_long_word_gives_s_long_and_breaks_bigrams(void **state)
{
	char text[64];
	t_tokens t;

	/* "a", 40 x's, "b": 44 characters. */
	snprintf(text, sizeof(text), "a %.*s b", 40,
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_string_equal(t_tokenize(&t, text), "len:5|a|s:long|b");
	/* SPAM_BAYES_WORD_MAX bytes is still a word. */
	snprintf(text, sizeof(text), "%.*s", SPAM_BAYES_WORD_MAX,
	         "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
	assert_string_equal(t_tokenize(&t, text), "len:5|yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
}

static void
test_tokens_fold_case_and_drop_invisible_characters(void **state)
{
	t_tokens t;

	/* 10 characters, 6 of 9 cased letters capitals.  A word beyond ASCII
	 * is read in the normal form (text.h): its UTS #39 skeleton, so its
	 * Cyrillic letters become their Latin or phonetic look-alikes. */
	assert_string_equal(t_tokenize(&t, "ПРИВЕТ мир"),
	    "len:3|s:caps|\u03c0p\u1d0e\u0299e\u1d1b|\u028d\u1d0ep|"
	    "\u03c0p\u1d0e\u0299e\u1d1b \u028d\u1d0ep");
	/* A zero-width space inside a word does not split it. */
	assert_string_equal(t_tokenize(&t, "Bu\u200By now"), "len:3|buy|now|buy now");
}

/* Look-alikes of other scripts, fullwidth letters and combining marks give
 * the tokens of the plain word; an ASCII word is only lower-cased, so
 * numbers and hosts keep their digits and letters. */
static void
test_tokens_see_through_look_alikes_but_keep_ascii_as_written(void **state)
{
	t_tokens t;

	/* A Cyrillic o, fullwidth b u y, a combining acute on the u. */
	assert_string_equal(t_tokenize(&t, "buy n\u043ew"), "len:2|buy|now|buy now");
	assert_string_equal(t_tokenize(&t, "\uff42\uff55\uff59 now"), "len:2|buy|now|buy now");
	assert_string_equal(t_tokenize(&t, "bu\u0301y now"), "len:3|buy|now|buy now");
	assert_string_equal(t_tokenize(&t, "call 0800 now"),
	    "len:3|call|0800|n:4|call 0800|now|0800 now");
}

static void
test_tokens_stop_at_the_cap(void **state)
{
	char *text = malloc(3 * 2000 * 8);
	size_t len = 0;
	t_tokens t;

	assert_non_null(text);
	/* 2000 distinct words with 1999 bigrams: far more than the cap. */
	for (int i = 0; i < 2000; i++)
		len += (size_t)sprintf(text + len, "w%d ", i);
	memset(&t, 0, sizeof(t));
	t.hashes_match = true;
	assert_int_equal(spam_bayes_tokens(text, len, t_collect, &t), SPAM_BAYES_TOKENS_MAX);
	assert_int_equal(t.n, SPAM_BAYES_TOKENS_MAX);
	free(text);
}

static void
test_token_hash_is_fnv1a_and_never_zero(void **state)
{
	/* FNV-1a 64 of "" is its offset basis, of "a" the published vector. */
	assert_true(spam_bayes_token_hash("", 0) == UINT64_C(0xcbf29ce484222325));
	assert_true(spam_bayes_token_hash("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
}

/*
 * C^-1(chi2, 2n) = e^-m * sum_{i < n} m^i / i!,  m = chi2 / 2.
 *   chi2 = 10, df = 4:  e^-5 * (1 + 5) = 6 e^-5 = 0.0404276819945128...
 *   chi2 = 2, df = 2:   e^-1 = 0.36787944117144233
 * The large cases (df = 2000, where e^-1000 alone underflows) are the same
 * series summed in 60-digit decimal arithmetic.
 */
static void
test_chi2q_against_hand_values(void **state)
{
	t_assert_near(spam_bayes_chi2q(10, 4), 6 * exp(-5), 1e-15);
	t_assert_near(spam_bayes_chi2q(2, 2), exp(-1), 1e-15);
	t_assert_near(spam_bayes_chi2q(0, 8), 1.0, 0);
	t_assert_near(spam_bayes_chi2q(2000, 2000), 0.49579475581978449, 1e-12);
	t_assert_near(spam_bayes_chi2q(1600, 2000), 0.99999999999449858, 1e-12);
	t_assert_near(spam_bayes_chi2q(3000, 2000), 2.2046986113889961e-43, 1e-54);
}

/*
 * Two tokens, f = 0.9 and 0.8, so n = 2 and df = 4:
 *   H: m = -(ln 0.9 + ln 0.8) = -ln 0.72 = 0.328504066972036
 *      H = e^-m (1 + m) = 0.72 * 1.328504066972036 = 0.956522928219866
 *   S: m = -(ln 0.1 + ln 0.2) = -ln 0.02 = 3.912023005428146
 *      S = 0.02 * 4.912023005428146 = 0.0982404601085629
 *   I = (1 + H - S) / 2 = 1.858282468111303 / 2 = 0.9291412340556515
 * Mirrored (0.1 and 0.2), H and S swap: I = 1 - 0.9291412340556515.
 */
static void
test_combine_two_tokens_by_hand(void **state)
{
	const double spammy[] = {0.9, 0.8}, hammy[] = {0.1, 0.2}, even[] = {0.5};

	t_assert_near(spam_bayes_combine(spammy, 2), 0.9291412340556515, 1e-9);
	t_assert_near(spam_bayes_combine(hammy, 2), 1 - 0.9291412340556515, 1e-9);
	t_assert_near(spam_bayes_combine(even, 1), 0.5, 1e-12);
}

/*
 * With bogofilter's robs = 0.0178 and robx = 0.52:
 *   3 spam, 0 ham (200 and 200 learned): p = 1, n = 3,
 *     f = (0.0178 * 0.52 + 3) / 3.0178 = 3.009256 / 3.0178 = 0.9971687984624562
 *   2 spam of 200, 1 ham of 400: b = 0.01, g = 0.0025, p = 0.8, n = 3,
 *     f = (0.009256 + 2.4) / 3.0178 = 0.7983484657697661
 */
static void
test_prob_of_a_token_seen_n_times(void **state)
{
	spam_bayes_params p;

	spam_bayes_params_init(&p);
	t_assert_near(spam_bayes_prob(3, 0, 200, 200, &p), 0.9971687984624562, 1e-12);
	t_assert_near(spam_bayes_prob(2, 1, 200, 400, &p), 0.7983484657697661, 1e-12);
	t_assert_near(spam_bayes_prob(0, 0, 200, 200, &p), 0.52, 0);
	/* The more often seen, the nearer p(w): 0 spam and n ham. */
	assert_true(spam_bayes_prob(0, 1, 200, 200, &p) > spam_bayes_prob(0, 10, 200, 200, &p));
}

static void
test_defaults_are_bogofilters_with_200_each(void **state)
{
	spam_bayes_params p;

	spam_bayes_params_init(&p);
	t_assert_near(p.robs, 0.0178, 0);
	t_assert_near(p.robx, 0.52, 0);
	t_assert_near(p.min_dev, 0.375, 0);
	t_assert_near(p.spam_cutoff, 0.99, 0);
	assert_int_equal(p.min_spam, 200);
	assert_int_equal(p.min_ham, 200);
}

static const char *const t_spam[] = {
    "WIN a FREE iPhone now, click http://prize.example.net/claim",
    "free prize waiting, claim your cash now at http://prize.example.net",
    "cheap pills, free shipping, order now",
};
static const char *const t_ham[] = {
    "are we still on for lunch tomorrow?",
    "the meeting moved to 3pm, see you there",
    "thanks for the notes from yesterday's meeting",
};

/* A builder that learned t_spam and t_ham `times` times each. */
static spam_bayes_builder *
t_trained(unsigned times)
{
	spam_bayes_builder *b = NULL;

	assert_int_equal(spam_bayes_builder_new(&b), PIGEON_OK);
	for (unsigned k = 0; k < times; k++) {
		for (size_t i = 0; i < 3; i++) {
			assert_int_equal(
			    spam_bayes_builder_learn(b, t_spam[i], strlen(t_spam[i]), true),
			    PIGEON_OK);
			assert_int_equal(
			    spam_bayes_builder_learn(b, t_ham[i], strlen(t_ham[i]), false),
			    PIGEON_OK);
		}
	}
	return b;
}

static void
t_classify(const spam_bayes_model *m, const char *text, spam_bayes_verdict *v)
{
	spam_bayes_classify(m, text, strlen(text), v);
}

static void
test_abstains_until_200_of_each_are_learned(void **state)
{
	spam_bayes_builder *b = t_trained(66); /* 198 of each */
	spam_bayes_model *m = NULL;
	spam_bayes_verdict v;
	const char *s = "hi";

	assert_int_equal(spam_bayes_model_new(&m, b, NULL), PIGEON_OK);
	t_classify(m, t_spam[0], &v);
	assert_int_equal(v.outcome, SPAM_BAYES_UNTRAINED);
	t_assert_near(v.score, 0.5, 0);
	assert_int_equal(v.tokens, 0);
	assert_string_equal(v.reason, "");
	spam_bayes_model_free(m);

	/* 199 spam and 200 ham: still not enough spam. */
	assert_int_equal(spam_bayes_builder_learn(b, t_spam[0], strlen(t_spam[0]), true),
	                 PIGEON_OK);
	assert_int_equal(spam_bayes_builder_learn(b, s, strlen(s), false), PIGEON_OK);
	assert_int_equal(spam_bayes_builder_learn(b, s, strlen(s), false), PIGEON_OK);
	assert_int_equal(spam_bayes_model_new(&m, b, NULL), PIGEON_OK);
	t_classify(m, t_spam[0], &v);
	assert_int_equal(v.outcome, SPAM_BAYES_UNTRAINED);
	spam_bayes_model_free(m);

	/* 200 and 200: a verdict. */
	assert_int_equal(spam_bayes_builder_learn(b, t_spam[1], strlen(t_spam[1]), true),
	                 PIGEON_OK);
	assert_int_equal(spam_bayes_model_new(&m, b, NULL), PIGEON_OK);
	t_classify(m, t_spam[0], &v);
	assert_int_equal(v.outcome, SPAM_BAYES_SPAM);
	spam_bayes_model_free(m);
	spam_bayes_builder_free(b);
}

static void
test_abstains_when_no_token_is_significant(void **state)
{
	spam_bayes_builder *b = t_trained(70);
	spam_bayes_model *m = NULL;
	spam_bayes_verdict v;

	assert_int_equal(spam_bayes_model_new(&m, b, NULL), PIGEON_OK);
	/* Never seen: every f(w) is robx = 0.52, within min_dev of 0.5 (and
	 * len:3 was never learned either: the messages learned are longer). */
	t_classify(m, "zebra quokka", &v);
	assert_int_equal(v.outcome, SPAM_BAYES_NO_EVIDENCE);
	t_assert_near(v.score, 0.5, 0);
	assert_int_equal(v.tokens, 0);
	t_classify(m, "", &v);
	assert_int_equal(v.outcome, SPAM_BAYES_NO_EVIDENCE);
	spam_bayes_model_free(m);
	spam_bayes_builder_free(b);
}

static void
test_tiny_model_judges_obvious_spam_and_ham(void **state)
{
	spam_bayes_builder *b = t_trained(1);
	spam_bayes_model *m = NULL;
	spam_bayes_params p;
	spam_bayes_verdict v;
	char reason[16];

	spam_bayes_params_init(&p);
	p.min_spam = p.min_ham = 3;
	assert_int_equal(spam_bayes_model_new(&m, b, &p), PIGEON_OK);

	t_classify(m, "claim your FREE prize now: http://prize.example.net", &v);
	assert_int_equal(v.outcome, SPAM_BAYES_SPAM);
	assert_true(v.score >= 0.99 && v.score <= 1);
	assert_true(v.tokens >= 5);
	snprintf(reason, sizeof(reason), "bayes(%.2f)", v.score);
	assert_string_equal(v.reason, reason);

	t_classify(m, "lunch after the meeting tomorrow?", &v);
	assert_int_equal(v.outcome, SPAM_BAYES_HAM);
	assert_true(v.score < 0.01);
	assert_string_equal(v.reason, "");
	spam_bayes_model_free(m);
	spam_bayes_builder_free(b);
}

static void
test_model_keeps_counts_and_builder_keeps_learning(void **state)
{
	spam_bayes_builder *b = NULL;
	spam_bayes_model *m1 = NULL, *m2 = NULL;
	uint64_t free_h = spam_bayes_token_hash("free", 4);
	uint32_t spam, ham;

	assert_int_equal(spam_bayes_builder_new(&b), PIGEON_OK);
	assert_int_equal(spam_bayes_builder_add(b, free_h, 7, 2), PIGEON_OK);
	assert_int_equal(spam_bayes_builder_add(b, free_h, 1, 0), PIGEON_OK);
	spam_bayes_builder_add_messages(b, 10, 20);
	assert_int_equal(spam_bayes_builder_tokens(b), 1);
	assert_int_equal(spam_bayes_model_new(&m1, b, NULL), PIGEON_OK);
	/* "Free now": len:3, free, now, "free now". */
	assert_int_equal(spam_bayes_builder_learn(b, "Free now", 8, true), PIGEON_OK);
	assert_int_equal(spam_bayes_builder_tokens(b), 4);
	spam_bayes_builder_messages(b, &spam, &ham);
	assert_int_equal(spam, 11);
	assert_int_equal(ham, 20);
	assert_int_equal(spam_bayes_model_new(&m2, b, NULL), PIGEON_OK);

	spam_bayes_model_counts(m1, free_h, &spam, &ham);
	assert_int_equal(spam, 8);
	assert_int_equal(ham, 2);
	spam_bayes_model_counts(m2, free_h, &spam, &ham);
	assert_int_equal(spam, 9);
	assert_int_equal(ham, 2);
	spam_bayes_model_counts(m1, spam_bayes_token_hash("now", 3), &spam, &ham);
	assert_int_equal(spam, 0);
	assert_int_equal(ham, 0);
	spam_bayes_model_free(m1);
	spam_bayes_model_free(m2);
	spam_bayes_builder_free(b);
}

static void
test_builder_counts_saturate(void **state)
{
	spam_bayes_builder *b = NULL;
	spam_bayes_model *m = NULL;
	uint32_t spam, ham;

	assert_int_equal(spam_bayes_builder_new(&b), PIGEON_OK);
	assert_int_equal(spam_bayes_builder_add(b, 42, UINT32_MAX - 1, 0), PIGEON_OK);
	assert_int_equal(spam_bayes_builder_add(b, 42, 5, 1), PIGEON_OK);
	assert_int_equal(spam_bayes_model_new(&m, b, NULL), PIGEON_OK);
	spam_bayes_model_counts(m, 42, &spam, &ham);
	assert_int_equal(spam, UINT32_MAX);
	assert_int_equal(ham, 1);
	spam_bayes_model_free(m);
	spam_bayes_builder_free(b);
}

static void
test_model_new_rejects_bad_constants(void **state)
{
	spam_bayes_builder *b = NULL;
	spam_bayes_model *m = NULL;
	spam_bayes_params p;

	assert_int_equal(spam_bayes_builder_new(&b), PIGEON_OK);
	spam_bayes_params_init(&p);
	p.robs = 0;
	assert_int_equal(spam_bayes_model_new(&m, b, &p), PIGEON_INVALID_ARGUMENT);
	spam_bayes_params_init(&p);
	p.robx = 1;
	assert_int_equal(spam_bayes_model_new(&m, b, &p), PIGEON_INVALID_ARGUMENT);
	spam_bayes_params_init(&p);
	p.min_dev = 0.5;
	assert_int_equal(spam_bayes_model_new(&m, b, &p), PIGEON_INVALID_ARGUMENT);
	spam_bayes_params_init(&p);
	p.spam_cutoff = 0;
	assert_int_equal(spam_bayes_model_new(&m, b, &p), PIGEON_INVALID_ARGUMENT);
	assert_null(m);
	spam_bayes_builder_free(b);
	spam_bayes_builder_free(NULL);
	spam_bayes_model_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tokens_are_unique_words_and_bigrams),
	    cmocka_unit_test(test_tokens_of_a_link),
	    cmocka_unit_test(test_tokens_of_numbers_capitals_and_punctuation),
	    cmocka_unit_test(test_long_word_gives_s_long_and_breaks_bigrams),
	    cmocka_unit_test(test_tokens_fold_case_and_drop_invisible_characters),
	    cmocka_unit_test(test_tokens_see_through_look_alikes_but_keep_ascii_as_written),
	    cmocka_unit_test(test_tokens_stop_at_the_cap),
	    cmocka_unit_test(test_token_hash_is_fnv1a_and_never_zero),
	    cmocka_unit_test(test_chi2q_against_hand_values),
	    cmocka_unit_test(test_combine_two_tokens_by_hand),
	    cmocka_unit_test(test_prob_of_a_token_seen_n_times),
	    cmocka_unit_test(test_defaults_are_bogofilters_with_200_each),
	    cmocka_unit_test(test_abstains_until_200_of_each_are_learned),
	    cmocka_unit_test(test_abstains_when_no_token_is_significant),
	    cmocka_unit_test(test_tiny_model_judges_obvious_spam_and_ham),
	    cmocka_unit_test(test_model_keeps_counts_and_builder_keeps_learning),
	    cmocka_unit_test(test_builder_counts_saturate),
	    cmocka_unit_test(test_model_new_rejects_bad_constants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
