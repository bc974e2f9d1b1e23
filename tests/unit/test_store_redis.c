/* SPDX-License-Identifier: MIT */
/* The store's pure parts: URL parsing, the Redis error reply table and the
 * RESP command writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* The exact bytes Redis reads: counts and lengths in decimal, binary-safe
 * arguments, several commands back to back in one buffer. */
static void
test_cmd_writes_resp_commands_back_to_back(void **state)
{
	store_cmd c = STORE_CMD_INIT;
	static const char want[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n"
				   "*2\r\n$4\r\nINCR\r\n$0\r\n\r\n";

	store_cmd_begin(&c, 3);
	store_cmd_str(&c, "SET");
	store_cmd_str(&c, "k");
	store_cmd_arg(&c, "a\0b", 3);
	store_cmd_begin(&c, 2);
	store_cmd_str(&c, "INCR");
	store_cmd_arg(&c, "", 0);
	assert_false(c.failed);
	assert_int_equal(c.len, sizeof(want) - 1);
	assert_memory_equal(c.buf, want, sizeof(want) - 1);
	store_cmd_fini(&c);
	assert_null(c.buf);
	assert_int_equal(c.len, 0);
}

static void
test_cmd_numbers_and_evalsha(void **state)
{
	store_cmd c = STORE_CMD_INIT;
	static const char sha[] = "0123456789abcdef0123456789abcdef01234567";
	char want[256];
	int n;

	store_cmd_evalsha(&c, sha, 3);
	store_cmd_u64(&c, 0);
	store_cmd_u64(&c, 1000000007);
	store_cmd_u64(&c, UINT64_MAX);
	n = snprintf(want, sizeof(want),
	    "*6\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n0\r\n$1\r\n0\r\n$10\r\n1000000007\r\n"
	    "$20\r\n18446744073709551615\r\n",
	    sha);
	assert_int_equal(c.len, (size_t)n);
	assert_memory_equal(c.buf, want, (size_t)n);
	/* Reset keeps the buffer for the next batch and starts it empty. */
	store_cmd_reset(&c);
	assert_int_equal(c.len, 0);
	store_cmd_begin(&c, 1);
	store_cmd_str(&c, "PING");
	assert_int_equal(c.len, 14);
	assert_memory_equal(c.buf, "*1\r\n$4\r\nPING\r\n", 14);
	store_cmd_fini(&c);
}

/* Arguments past the first buffer's size grow it: 3,000 arguments of 100
 * bytes arrive whole and in order. */
static void
test_cmd_grows_for_large_batches(void **state)
{
	store_cmd c = STORE_CMD_INIT;
	char arg[100];
	size_t off;

	store_cmd_begin(&c, 3000);
	for (int i = 0; i < 3000; i++) {
		memset(arg, 'a' + i % 26, sizeof(arg));
		store_cmd_arg(&c, arg, sizeof(arg));
	}
	assert_false(c.failed);
	assert_int_equal(c.len, 7 + 3000 * (6 + 100 + 2));
	assert_memory_equal(c.buf, "*3000\r\n", 7);
	off = 7;
	for (int i = 0; i < 3000; i++) {
		memset(arg, 'a' + i % 26, sizeof(arg));
		assert_memory_equal(c.buf + off, "$100\r\n", 6);
		assert_memory_equal(c.buf + off + 6, arg, sizeof(arg));
		assert_memory_equal(c.buf + off + 106, "\r\n", 2);
		off += 108;
	}
	store_cmd_fini(&c);
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
		cmocka_unit_test(test_cmd_writes_resp_commands_back_to_back),
		cmocka_unit_test(test_cmd_numbers_and_evalsha),
		cmocka_unit_test(test_cmd_grows_for_large_batches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
