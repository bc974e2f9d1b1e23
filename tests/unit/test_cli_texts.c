/* SPDX-License-Identifier: MIT */
/*
 * pigeon train's texts (clients/cli/texts.h): pigeond's UTF-8 rule, the
 * packed size of a text, and batches that keep to the count and the byte
 * budget of one Train call.  Pure: no files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "texts.h"

static void
test_utf8_refuses_overlongs_surrogates_and_truncation(void **state)
{
	static const struct {
		const char *s;
		size_t bad;
	} refused[] = {
		{"caf\xe9", 3},            /* Latin-1 */
		{"a\xc0\xaf", 1},          /* overlong '/' */
		{"\xe0\x80\xaf", 0},       /* overlong, three bytes */
		{"\xed\xa0\x80", 0},       /* U+D800, a surrogate */
		{"\xf4\x90\x80\x80", 0},   /* above U+10FFFF */
		{"ok\xe2\x82", 2},         /* cut short */
		{"\x80", 0},               /* a lone continuation byte */
	};
	size_t bad = 99;

	(void)state;
	assert_true(texts_utf8("", 0, &bad));
	assert_true(texts_utf8("r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa6", 17, &bad));
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_false(texts_utf8(refused[i].s, strlen(refused[i].s), &bad));
		assert_int_equal(bad, refused[i].bad);
	}
}

static void
test_packed_size_is_tag_length_and_bytes(void **state)
{
	(void)state;
	assert_int_equal(texts_packed_size(0), 2);
	assert_int_equal(texts_packed_size(127), 129);
	assert_int_equal(texts_packed_size(128), 131);
	assert_int_equal(texts_packed_size(65536), 65540);
}

/* a's texts then b's, cut at the count or the budget, whichever comes
 * first; a text larger than the budget still goes, alone. */
static void
test_batches_keep_to_count_and_budget(void **state)
{
	char *v[5] = {"", "", "", "", ""};
	size_t la[2] = {20, 23}, lb[3] = {17, 14, 31};
	texts a = {.v = v, .len = la, .n = 2}, b = {.v = v, .len = lb, .n = 3};
	texts none = {0};

	(void)state;
	/* Packed: 22, 25 | 19, 16, 33. */
	assert_int_equal(texts_batch(&a, &b, 0, 1000, 1000), 5);
	assert_int_equal(texts_batch(&a, &b, 0, 3, 1000), 3);
	assert_int_equal(texts_batch(&a, &b, 0, 1000, 50), 2);
	assert_int_equal(texts_batch(&a, &b, 2, 1000, 50), 2);
	assert_int_equal(texts_batch(&a, &b, 4, 1000, 50), 1);
	assert_int_equal(texts_batch(&a, &b, 5, 1000, 50), 0);
	assert_int_equal(texts_batch(&a, &b, 1, 1000, 10), 1);
	assert_int_equal(texts_batch(&none, &b, 0, 1000, 35), 2);
	assert_int_equal(texts_batch(&a, &none, 0, 1000, 1000), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_refuses_overlongs_surrogates_and_truncation),
		cmocka_unit_test(test_packed_size_is_tag_length_and_bytes),
		cmocka_unit_test(test_batches_keep_to_count_and_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
