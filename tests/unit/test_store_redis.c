/* SPDX-License-Identifier: MIT */
/* The store's pure parts: URL parsing and the Redis error reply table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redis.h"

static void
test_url_tcp_with_port(void **state)
{
	store_url u;

	assert_int_equal(store_url_parse("redis://127.0.0.1:6390", &u), PIGEON_OK);
	assert_false(u.is_unix);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6390);
}

static void
test_url_tcp_default_port(void **state)
{
	store_url u;

	assert_int_equal(store_url_parse("redis://localhost", &u), PIGEON_OK);
	assert_string_equal(u.host, "localhost");
	assert_int_equal(u.port, 6379);
}

static void
test_url_unix_socket(void **state)
{
	store_url u;

	assert_int_equal(store_url_parse("unix:/run/redis/redis.sock", &u), PIGEON_OK);
	assert_true(u.is_unix);
	assert_string_equal(u.host, "/run/redis/redis.sock");
}

static void
test_url_malformed_is_invalid_argument(void **state)
{
	static const char *const bad[] = {"", "127.0.0.1:6379", "redis://", "redis://:6379",
	    "redis://host:", "redis://host:0", "redis://host:65536", "redis://host:12x",
	    "redis://host/db", "unix:", "unix:relative.sock", "http://host:1"};
	store_url u = {.port = 42};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_url_parse(bad[i], &u), PIGEON_INVALID_ARGUMENT);
		assert_int_equal(u.port, 42);
	}
	assert_int_equal(store_url_parse(NULL, &u), PIGEON_INVALID_ARGUMENT);
}

static void
test_script_errors_carry_status_and_message(void **state)
{
	const char *msg = NULL;

	assert_int_equal(store_status_from_error("NOT_FOUND Couldn't find user with username Bob",
			     &msg),
	    PIGEON_NOT_FOUND);
	assert_string_equal(msg, "Couldn't find user with username Bob");
	assert_int_equal(store_status_from_error("ALREADY_EXISTS User Alice is already logged in.",
			     &msg),
	    PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User Alice is already logged in.");
	assert_int_equal(
	    store_status_from_error("FAILED_PRECONDITION User Alice isn't logged in.", &msg),
	    PIGEON_FAILED_PRECONDITION);
	assert_string_equal(msg, "User Alice isn't logged in.");
	assert_int_equal(store_status_from_error("UNAUTHENTICATED", &msg), PIGEON_UNAUTHENTICATED);
	assert_string_equal(msg, "");
}

static void
test_redis_errors_by_table(void **state)
{
	static const struct {
		const char *err;
		pigeon_status st;
	} cases[] = {
	    {"OOM command not allowed when used memory > 'maxmemory'.", PIGEON_RESOURCE_EXHAUSTED},
	    {"LOADING Redis is loading the dataset in memory", PIGEON_UNAVAILABLE},
	    {"BUSY Redis is busy running a script.", PIGEON_UNAVAILABLE},
	    {"MASTERDOWN Link with MASTER is down", PIGEON_UNAVAILABLE},
	    {"READONLY You can't write against a read only replica.", PIGEON_UNAVAILABLE},
	    {"BUSYGROUP Consumer Group name already exists", PIGEON_INTERNAL},
	    {"ERR user_script:3: Script attempted to access nonexistent global", PIGEON_INTERNAL},
	    {"OK not an error", PIGEON_INTERNAL},
	    {"NOT_FOUNDX glued", PIGEON_INTERNAL},
	    {"", PIGEON_INTERNAL},
	};
	const char *msg;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(store_status_from_error(cases[i].err, &msg), cases[i].st);
		assert_ptr_equal(msg, cases[i].err);
	}
}

static void
test_every_script_is_embedded(void **state)
{
	for (int i = 0; i < STORE_SCRIPT_COUNT; i++) {
		assert_non_null(store_script_text((store_script)i));
		assert_non_null(strstr(store_script_text((store_script)i), "pigeon:"));
	}
	assert_non_null(strstr(store_script_text(STORE_SCRIPT_LOGIN), "local function journal"));
	assert_null(strstr(store_script_text(STORE_SCRIPT_HEALTH), "local function journal"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_tcp_with_port),
		cmocka_unit_test(test_url_tcp_default_port),
		cmocka_unit_test(test_url_unix_socket),
		cmocka_unit_test(test_url_malformed_is_invalid_argument),
		cmocka_unit_test(test_script_errors_carry_status_and_message),
		cmocka_unit_test(test_redis_errors_by_table),
		cmocka_unit_test(test_every_script_is_embedded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
