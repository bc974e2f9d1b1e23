/* SPDX-License-Identifier: MIT */
/* The name tables: every status code has its gRPC name, the bridge's HTTP
 * status and the same number as the .proto enum; every value of every other
 * enum of the protocol has the name Pigeon stores and prints, and nothing
 * else does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pigeon/wire.h>
#include <pigeon/v1/event.pb-c.h>
#include <pigeon/v1/pigeon.pb-c.h>
#include <pigeon/v1/status.pb-c.h>

#include "names.h"
#include "status.h"

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
		assert_int_equal(http_status_from(want[i].st), want[i].http);
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
	assert_int_equal(http_status_from((pigeon_status)99), 500);
	assert_false(pigeon_status_from_name("NOPE", &back));
	assert_int_equal(back, PIGEON_OK);
}

/* One enum's expected names, in the order of its values 0, 1, 2, ... */
static void
check_enum(const ProtobufCEnumDescriptor *desc, const char *const *want, size_t n,
    const char *(*name)(int), bool (*parse)(const char *, int *))
{
	int back;

	assert_int_equal(desc->n_values, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(desc->values[i].value, (int)i);
		assert_string_equal(name((int)i), want[i]);
		back = -1;
		assert_true(parse(want[i], &back));
		assert_int_equal(back, (int)i);
	}
	assert_null(name((int)n));
	assert_null(name(-1));
	back = 77;
	assert_false(parse("no_such_name", &back));
	assert_int_equal(back, 77);
}

static const char *
event_name(int v)
{
	return names_event_type((Pigeon__V1__EventType)v);
}

static bool
event_parse(const char *s, int *out)
{
	Pigeon__V1__EventType t;

	if (!names_event_type_parse(s, &t))
		return false;
	*out = (int)t;
	return true;
}

static const char *
state_name(int v)
{
	return names_message_state((Pigeon__V1__MessageState)v);
}

static bool
state_parse(const char *s, int *out)
{
	Pigeon__V1__MessageState t;

	if (!names_message_state_parse(s, &t))
		return false;
	*out = (int)t;
	return true;
}

static const char *
role_name(int v)
{
	return names_role((Pigeon__V1__Role)v);
}

static bool
role_parse(const char *s, int *out)
{
	Pigeon__V1__Role t;

	if (!names_role_parse(s, &t))
		return false;
	*out = (int)t;
	return true;
}

static void
test_event_type_names_are_the_journal_words(void **state)
{
	static const char *const want[] = {"UNSPECIFIED", "LOGIN", "LOGOUT", "SPAM",
		"DEAD_LETTER", "WOULD_BE_SPAM", "QUEUED", "DELIVERED", "READ"};

	check_enum(&pigeon__v1__event_type__descriptor, want, sizeof(want) / sizeof(want[0]),
	    event_name, event_parse);
}

static void
test_message_state_names_are_the_stored_words(void **state)
{
	static const char *const want[] = {"unspecified", "enqueued", "being_spam_checked",
		"delivered", "marked_as_spam"};

	check_enum(&pigeon__v1__message_state__descriptor, want,
	    sizeof(want) / sizeof(want[0]), state_name, state_parse);
}

static void
test_role_names_are_the_stored_words(void **state)
{
	static const char *const want[] = {"unspecified", "regular", "admin"};

	check_enum(&pigeon__v1__role__descriptor, want, sizeof(want) / sizeof(want[0]),
	    role_name, role_parse);
}

static void
test_short_names_of_any_enum(void **state)
{
	assert_string_equal(
	    names_short(&pigeon__v1__serving_status__descriptor, 2), "NOT_SERVING");
	assert_string_equal(names_short(&pigeon__v1__status__descriptor, 5), "NOT_FOUND");
	assert_null(names_short(&pigeon__v1__serving_status__descriptor, 3));
}

/* The public names are the same table as the internal ones. */
static void
test_public_enum_names_are_the_same_table(void **state)
{
	const ProtobufCEnumDescriptor *descs[] = {&pigeon__v1__event_type__descriptor,
		&pigeon__v1__message_state__descriptor, &pigeon__v1__role__descriptor};
	const char *(*internal[])(int) = {event_name, state_name, role_name};
	int back;

	for (size_t d = 0; d < 3; d++) {
		for (unsigned v = 0; v < descs[d]->n_values; v++) {
			assert_ptr_equal(pigeon_enum_name(descs[d], (int)v), internal[d]((int)v));
			back = -1;
			assert_true(pigeon_enum_from_name(descs[d], internal[d]((int)v), &back));
			assert_int_equal(back, (int)v);
		}
		assert_null(pigeon_enum_name(descs[d], (int)descs[d]->n_values));
	}
	assert_string_equal(
	    pigeon_enum_name(&pigeon__v1__serving_status__descriptor, 1), "SERVING");
	assert_false(pigeon_enum_from_name(&pigeon__v1__role__descriptor, "root", &back));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_equals_proto_enum_and_has_name_and_http),
		cmocka_unit_test(test_out_of_range_code_is_unknown_500),
		cmocka_unit_test(test_event_type_names_are_the_journal_words),
		cmocka_unit_test(test_message_state_names_are_the_stored_words),
		cmocka_unit_test(test_role_names_are_the_stored_words),
		cmocka_unit_test(test_short_names_of_any_enum),
		cmocka_unit_test(test_public_enum_names_are_the_same_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
