/* SPDX-License-Identifier: MIT */
/* The status table: every code has its gRPC name, its HTTP status, and the
 * same number as the .proto enum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pigeon/pigeon.h>
#include <pigeon/v1/status.pb-c.h>

static void
test_every_code_equals_proto_enum_and_has_name_and_http(void **state)
{
	static const struct {
		pigeon_status st;
		int proto;
		const char *name;
		int http;
	} want[] = {
		{PIGEON_OK, PIGEON__V1__STATUS__STATUS_OK, "OK", 200},
		{PIGEON_CANCELLED, PIGEON__V1__STATUS__STATUS_CANCELLED, "CANCELLED", 499},
		{PIGEON_UNKNOWN, PIGEON__V1__STATUS__STATUS_UNKNOWN, "UNKNOWN", 500},
		{PIGEON_INVALID_ARGUMENT, PIGEON__V1__STATUS__STATUS_INVALID_ARGUMENT,
		    "INVALID_ARGUMENT", 422},
		{PIGEON_DEADLINE_EXCEEDED, PIGEON__V1__STATUS__STATUS_DEADLINE_EXCEEDED,
		    "DEADLINE_EXCEEDED", 504},
		{PIGEON_NOT_FOUND, PIGEON__V1__STATUS__STATUS_NOT_FOUND, "NOT_FOUND", 404},
		{PIGEON_ALREADY_EXISTS, PIGEON__V1__STATUS__STATUS_ALREADY_EXISTS,
		    "ALREADY_EXISTS", 418},
		{PIGEON_PERMISSION_DENIED, PIGEON__V1__STATUS__STATUS_PERMISSION_DENIED,
		    "PERMISSION_DENIED", 403},
		{PIGEON_RESOURCE_EXHAUSTED, PIGEON__V1__STATUS__STATUS_RESOURCE_EXHAUSTED,
		    "RESOURCE_EXHAUSTED", 429},
		{PIGEON_FAILED_PRECONDITION, PIGEON__V1__STATUS__STATUS_FAILED_PRECONDITION,
		    "FAILED_PRECONDITION", 418},
		{PIGEON_ABORTED, PIGEON__V1__STATUS__STATUS_ABORTED, "ABORTED", 409},
		{PIGEON_OUT_OF_RANGE, PIGEON__V1__STATUS__STATUS_OUT_OF_RANGE, "OUT_OF_RANGE",
		    400},
		{PIGEON_UNIMPLEMENTED, PIGEON__V1__STATUS__STATUS_UNIMPLEMENTED,
		    "UNIMPLEMENTED", 501},
		{PIGEON_INTERNAL, PIGEON__V1__STATUS__STATUS_INTERNAL, "INTERNAL", 500},
		{PIGEON_UNAVAILABLE, PIGEON__V1__STATUS__STATUS_UNAVAILABLE, "UNAVAILABLE",
		    503},
		{PIGEON_DATA_LOSS, PIGEON__V1__STATUS__STATUS_DATA_LOSS, "DATA_LOSS", 500},
		{PIGEON_UNAUTHENTICATED, PIGEON__V1__STATUS__STATUS_UNAUTHENTICATED,
		    "UNAUTHENTICATED", 401},
	};

	assert_int_equal(sizeof(want) / sizeof(want[0]), PIGEON_STATUS_COUNT);
	assert_int_equal(pigeon__v1__status__descriptor.n_values, PIGEON_STATUS_COUNT);
	for (size_t i = 0; i < PIGEON_STATUS_COUNT; i++) {
		pigeon_status back;

		assert_int_equal(want[i].st, i);
		assert_int_equal(want[i].st, want[i].proto);
		assert_string_equal(pigeon_status_name(want[i].st), want[i].name);
		assert_int_equal(pigeon_status_http(want[i].st), want[i].http);
		assert_true(pigeon_status_from_name(want[i].name, &back));
		assert_int_equal(back, want[i].st);
	}
}

static void
test_out_of_range_code_is_unknown_500(void **state)
{
	pigeon_status back = PIGEON_OK;

	assert_string_equal(pigeon_status_name((pigeon_status)17), "UNKNOWN");
	assert_string_equal(pigeon_status_name((pigeon_status)-1), "UNKNOWN");
	assert_int_equal(pigeon_status_http((pigeon_status)99), 500);
	assert_false(pigeon_status_from_name("NOPE", &back));
	assert_int_equal(back, PIGEON_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_equals_proto_enum_and_has_name_and_http),
		cmocka_unit_test(test_out_of_range_code_is_unknown_500),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
