/* SPDX-License-Identifier: MIT */
/* Usernames: which are accepted, the exact reason each refused one gets, and
 * the confusable skeletons registration compares (src/protocol/validate.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

/* The five users of etc/users.conf. */
static const char *const originals[] = {"Alice", "Dizzzmas", "Ilya", "Malory", "flain1"};

static void
test_accepted_names(void **state)
{
	static const char *const ok[] = {
	    "Alice",
	    "Dizzzmas",
	    "Ilya",
	    "Malory",
	    "flain1",
	    /* Printable ASCII, punctuation included. */
	    "a_b-c.d",
	    "a:b",
	    "!~",
	    "x",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    /* Cyrillic А (U+0410): a valid name; only registration's skeleton
	     * check keeps it from passing for Alice. */
	    "\xd0\x90lice",
	    "Алиса",
	    "李雷",
	    "José" /* U+00E9 */,
	    "Ilyá",
	    "ß",
	    "김철수",
	    "Αλέξης",
	    "देव",
	    /* Right-to-left, with digits of one kind at the end. */
	    "דני",
	    "علي",
	    "علي٣",
	    "علي3",
	    /* RFC 5892's contexts: l·l, the keraia before Greek, the geresh
	     * after Hebrew, the katakana middle dot with kana. */
	    "col·legi",
	    "͵α",
	    "א׳",
	    "カタ・カナ",
	    /* 16 four-byte letters: exactly 64 bytes. */
	    "𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		validate_why why;
		const char *got = validate_username(ok[i], strlen(ok[i]), &why);

		if (got != NULL)
			fail_msg("\"%s\" refused: %s", ok[i], got);
	}
}

static void
test_refused_names_get_their_exact_reason(void **state)
{
	static const struct {
		const char *name;
		const char *why;
	} bad[] = {
	    {"", "username is empty"},
	    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	     "username is longer than 64 bytes"},
	    {"𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀a", "username is longer than 64 bytes"},
	    {"\xc3\x28", "username is not valid UTF-8"},
	    {"a\xed\xa0\x80", "username is not valid UTF-8"},
	    {"a b", "username contains a space or control character"},
	    {"a\tb", "username contains a space or control character"},
	    {"a\x7f", "username contains a space or control character"},
	    /* Not in NFC: a decomposed é, the Angstrom sign (NFC: Å). */
	    {"Jose\xcc\x81", "username is not in Unicode normalization form C"},
	    {"\xe2\x84\xab", "username is not in Unicode normalization form C"},
	    /* Invisible: zero width space, right-to-left override, zero width
	     * joiner, soft hyphen, a variation selector, a Hangul filler. */
	    {"Al\xe2\x80\x8bice",
	     "username contains an invisible or formatting character (U+200B)"},
	    {"a\xe2\x80\xae"
	     "bc",
	     "username contains an invisible or formatting character (U+202E)"},
	    {"a\xe2\x80\x8d"
	     "b",
	     "username contains an invisible or formatting character (U+200D)"},
	    {"a\xc2\xad"
	     "b",
	     "username contains an invisible or formatting character (U+00AD)"},
	    {"a\xef\xb8\x8f", "username contains an invisible or formatting character (U+FE0F)"},
	    {"\xe1\x85\x9f", "username contains an invisible or formatting character (U+115F)"},
	    /* A C1 control (NEL), a no-break space, the ideographic space, the
	     * line separator. */
	    {"a\xc2\x85", "username contains a control character (U+0085)"},
	    {"a\xc2\xa0"
	     "b",
	     "username contains a space (U+00A0)"},
	    {"a\xe3\x80\x80"
	     "b",
	     "username contains a space (U+3000)"},
	    {"a\xe2\x80\xa8", "username contains a space (U+2028)"},
	    {"a\xcd\xb8", "username contains an unassigned code point (U+0378)"},
	    {"\xef\xb7\x90", "username contains a noncharacter (U+FDD0)"},
	    {"\xee\x80\x80", "username contains a private-use character (U+E000)"},
	    {"\xe1\x84\x80", "username contains a conjoining Hangul jamo (U+1100)"},
	    /* What NFKC changes: fullwidth and halfwidth forms, a ligature, a
	     * Roman numeral, a circled digit, a mathematical letter. */
	    {"ＡＢＣ", "username contains a fullwidth or halfwidth character (U+FF21)"},
	    {"Aｌice", "username contains a fullwidth or halfwidth character (U+FF4C)"},
	    {"ｶ", "username contains a fullwidth or halfwidth character (U+FF76)"},
	    {"ﬁle", "username contains a compatibility character (U+FB01)"},
	    {"Ⅻ", "username contains a compatibility character (U+216B)"},
	    {"a①", "username contains a compatibility character (U+2460)"},
	    {"𝐀lice", "username contains a compatibility character (U+1D400)"},
	    {"a•b", "username contains a symbol or punctuation mark outside ASCII (U+2022)"},
	    {"€", "username contains a symbol or punctuation mark outside ASCII (U+20AC)"},
	    {"😀", "username contains a symbol or punctuation mark outside ASCII (U+1F600)"},
	    {"«a»", "username contains a symbol or punctuation mark outside ASCII (U+00AB)"},
	    /* A titlecase letter, an enclosing mark, the Arabic tatweel. */
	    {"ᾈ", "username contains a character that is not allowed in usernames (U+1F88)"},
	    {"x\xe2\x83\x9d",
	     "username contains a character that is not allowed in usernames (U+20DD)"},
	    {"عـلي", "username contains a character that is not allowed in usernames (U+0640)"},
	    /* RFC 5892's contexts, broken. */
	    {"a·b", "username contains a character outside the context that allows it (U+00B7)"},
	    {"͵a", "username contains a character outside the context that allows it (U+0375)"},
	    {"a׳", "username contains a character outside the context that allows it (U+05F3)"},
	    {"a・b", "username contains a character outside the context that allows it (U+30FB)"},
	    {"علي٣۳", "username contains a character outside the context that allows it (U+0663)"},
	    /* RFC 5893's Bidi Rule. */
	    {"aא", "username mixes left-to-right and right-to-left characters (U+05D0)"},
	    {"אa", "username mixes left-to-right and right-to-left characters (U+0061)"},
	    {"1א", "username with right-to-left characters does not start with a letter"},
	    {"א-", "username with right-to-left characters does not end with a letter or digit"},
	    {"א1٣", "username mixes European and Arabic-Indic digits"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		validate_why why;
		const char *got = validate_username(bad[i].name, strlen(bad[i].name), &why);

		if (got == NULL)
			fail_msg("\"%s\" accepted, want: %s", bad[i].name, bad[i].why);
		if (strcmp(got, bad[i].why) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].name, got, bad[i].why);
		assert_ptr_equal(got, why.text);
	}
}

/* A NUL inside the length is refused, not taken for the end. */
static void
test_nul_inside_is_refused(void **state)
{
	validate_why why;

	assert_string_equal(validate_username("Al\0ce", 5, &why),
	                    "username contains a space or control character");
	assert_string_equal(validate_username("Алиса\0", strlen("Алиса") + 1, &why),
	                    "username contains a space or control character");
}

static const char *
skeleton(const char *name, char *out)
{
	assert_int_equal(validate_username_skeleton(name, strlen(name), out, VALIDATE_SKELETON_MAX),
	                 PIGEON_OK);
	return out;
}

static void
test_skeletons_are_exact(void **state)
{
	static const struct {
		const char *name;
		const char *skeleton;
	} want[] = {
	    {"Alice", "alice"},
	    {"\xd0\x90lice", "alice"},
	    {"alice", "alice"},
	    /* A capital I looks like l; a small one does not. */
	    {"Ilya", "llya"},
	    {"llya", "llya"},
	    {"ILYA", "llya"},
	    {"ilya", "ilya"},
	    {"ALICE", "allce"},
	    /* m looks like rn, 1 like l, 0 like O (then folded). */
	    {"Malory", "rnalory"},
	    {"rnalory", "rnalory"},
	    {"Dizzzmas", "dizzzrnas"},
	    {"flain1", "flainl"},
	    {"r01", "rol"},
	    {"ß", "ss"},
	    {"李雷", "李雷"},
	};
	char out[VALIDATE_SKELETON_MAX];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strcmp(skeleton(want[i].name, out), want[i].skeleton) != 0)
			fail_msg("skeleton of \"%s\": got \"%s\", want \"%s\"", want[i].name, out,
			         want[i].skeleton);
}

static void
test_originals_and_other_scripts_have_distinct_skeletons(void **state)
{
	const char *names[] = {"Alice",  "Dizzzmas", "Ilya", "Malory",
	                       "flain1", "Алиса",    "李雷", "José"};
	char sk[8][VALIDATE_SKELETON_MAX];
	size_t n = sizeof(names) / sizeof(names[0]);

	assert_int_equal(sizeof(originals) / sizeof(originals[0]), 5);
	for (size_t i = 0; i < n; i++)
		skeleton(names[i], sk[i]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(sk[i], sk[j]) == 0)
				fail_msg("\"%s\" and \"%s\" share the skeleton \"%s\"", names[i],
				         names[j], sk[i]);
}

static void
test_lookalike_of_alice_shares_her_skeleton(void **state)
{
	char a[VALIDATE_SKELETON_MAX], b[VALIDATE_SKELETON_MAX];
	validate_why why;

	/* Valid on its own: only the skeleton tells it from Alice. */
	assert_null(validate_username("\xd0\x90lice", 6, &why));
	assert_string_equal(skeleton("\xd0\x90lice", a), skeleton("Alice", b));
	assert_string_equal(skeleton("Ilya", a), skeleton("llya", b));
	assert_string_not_equal(skeleton("José", a), skeleton("Jose", b));
}

static void
test_skeleton_of_refused_name_or_short_buffer_writes_nothing(void **state)
{
	char out[8];

	memset(out, '#', sizeof(out));
	assert_int_equal(validate_username_skeleton("Al\xe2\x80\x8bice", 8, out, sizeof(out)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_int_equal(validate_username_skeleton("", 0, out, sizeof(out)),
	                 PIGEON_INVALID_ARGUMENT);
	/* "rnalory" needs 8 bytes with its NUL. */
	assert_int_equal(validate_username_skeleton("Malory", 6, out, 7),
	                 PIGEON_RESOURCE_EXHAUSTED);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], '#');
	assert_int_equal(validate_username_skeleton("Malory", 6, out, 8), PIGEON_OK);
	assert_string_equal(out, "rnalory");
}

/* c in UTF-8 into out (4 bytes); returns its length. */
static size_t
put_utf8(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | c >> 12);
		out[1] = (char)(0x80 | (c >> 6 & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | c >> 18);
	out[1] = (char)(0x80 | (c >> 12 & 0x3f));
	out[2] = (char)(0x80 | (c >> 6 & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* VALIDATE_SKELETON_MAX holds the skeleton of any acceptable name.  The
 * skeleton maps code point by code point, so a name's skeleton is at most 64
 * bytes times the longest skeleton per byte of any code point accepted alone;
 * the worst of them, repeated up to 64 bytes, checks that.  Fails when ICU's
 * confusables data grows past the constant. */
static void
test_skeleton_max_holds_every_acceptable_name(void **state)
{
	char one[4], name[PIGEON_USERNAME_MAX], out[VALIDATE_SKELETON_MAX];
	size_t worst_len = 0, worst_n = 1, checked = 0, n, len = 0;
	uint32_t worst = 0;

	for (uint32_t c = 0x21; c <= 0x10ffff; c++) {
		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		n = put_utf8(c, one);
		if (validate_username_skeleton(one, n, out, sizeof(out)) != PIGEON_OK)
			continue;
		checked++;
		if (strlen(out) * worst_n > worst_len * n) {
			worst = c;
			worst_len = strlen(out);
			worst_n = n;
		}
	}
	/* ICU 72: about 135,000 code points; a Hangul syllable, whose three
	 * jamo each look like other letters, is the worst at 7 bytes a byte. */
	assert_true(checked > 100000);
	assert_true(worst_len * PIGEON_USERNAME_MAX / worst_n < VALIDATE_SKELETON_MAX);
	n = put_utf8(worst, one);
	while (len + n <= sizeof(name)) {
		memcpy(name + len, one, n);
		len += n;
	}
	assert_int_equal(validate_username_skeleton(name, len, out, sizeof(out)), PIGEON_OK);
	assert_int_equal(strlen(out), worst_len * (len / n));
}

/* The checker opens once, whichever thread comes first; skeletons computed
 * at the same time on several threads are all exact. */
static void *
skeletons_in_a_thread(void *arg)
{
	char out[VALIDATE_SKELETON_MAX];
	size_t *wrong = arg;

	for (int i = 0; i < 2000; i++) {
		if (validate_username_skeleton("\xd0\x90lice", 6, out, sizeof(out)) != PIGEON_OK ||
		    strcmp(out, "alice") != 0)
			(*wrong)++;
	}
	return NULL;
}

static void
test_skeletons_from_many_threads_agree(void **state)
{
	pthread_t t[4];
	size_t wrong[4] = {0};

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, skeletons_in_a_thread, &wrong[i]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(wrong[i], 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_skeletons_from_many_threads_agree),
	    cmocka_unit_test(test_accepted_names),
	    cmocka_unit_test(test_refused_names_get_their_exact_reason),
	    cmocka_unit_test(test_nul_inside_is_refused),
	    cmocka_unit_test(test_skeletons_are_exact),
	    cmocka_unit_test(test_originals_and_other_scripts_have_distinct_skeletons),
	    cmocka_unit_test(test_lookalike_of_alice_shares_her_skeleton),
	    cmocka_unit_test(test_skeleton_of_refused_name_or_short_buffer_writes_nothing),
	    cmocka_unit_test(test_skeleton_max_holds_every_acceptable_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
