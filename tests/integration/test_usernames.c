/* SPDX-License-Identifier: MIT */
/*
 * Usernames over RPC against a real pigeond and redis-server: a look-alike of
 * an existing user (a Cyrillic А for Alice, a change of case, 0 for o) is
 * ALREADY_EXISTS with the user it resembles, an invisible character is
 * INVALID_ARGUMENT, and a distinct name registers with its skeleton; users a
 * Redis held before skeletons existed get theirs before pigeond serves, so
 * their look-alikes are refused too; a users file naming two look-alikes stops
 * pigeond at start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pigeon/pigeon.h>

#include "harness.h"
#include "t_hiredis.h"

/* Alice with a Cyrillic capital A (U+0410), and with a zero width space. */
#define CYRILLIC_ALICE "\xd0\x90lice"
#define ZW_ALICE "Al\xe2\x80\x8bice"

static int
setup(void **state)
{
	t_env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	t_env_init(e, "usernames");
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	t_env *e = *state;

	assert_int_equal(t_env_stop(e), 0);
	free(e);
	return 0;
}

/* RegisterUser of a regular user: its code, and its message in msg. */
static pigeon_status
t_register(pigeon_client *c, const char *name, char *msg, size_t cap)
{
	Pigeon__V1__RegisterUserRequest req = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	Pigeon__V1__RegisterUserReply *rep = NULL;
	pigeon_error err = {0};
	pigeon_status st;

	req.username = (char *)name;
	st = pigeon_register_user(c, &req, &rep, &err);
	if (st == PIGEON_OK) {
		assert_string_equal(rep->username, name);
		assert_int_equal(rep->role, PIGEON__V1__ROLE__ROLE_REGULAR);
		snprintf(msg, cap, "%s", "");
	} else {
		snprintf(msg, cap, "%s", err.message);
	}
	pigeon_reply_free(rep);
	return st;
}

/* The string value of HGET key field, "" for none. */
static void
t_hget(redisContext *raw, const char *key, const char *field, char *out, size_t cap)
{
	redisReply *r = redisCommand(raw, "HGET %s %s", key, field);

	assert_non_null(r);
	assert_true(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL);
	snprintf(out, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
}

static void
test_lookalikes_are_already_exists_and_distinct_names_register(void **state)
{
	t_env *e = *state;
	redisContext *raw;
	char msg[256], v[128];
	Pigeon__V1__LoginRequest lreq = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *lrep = NULL;
	pigeon_error err = {0};

	t_env_start(e, &(t_env_opts){.client = true});
	assert_non_null(raw = t_redis_connect(&e->redis));

	assert_int_equal(t_register(e->client, CYRILLIC_ALICE, msg, sizeof(msg)),
	                 PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg,
	                    "User " CYRILLIC_ALICE " is too similar to the existing user Alice");
	assert_int_equal(t_register(e->client, "alice", msg, sizeof(msg)), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User alice is too similar to the existing user Alice");
	assert_int_equal(t_register(e->client, "llya", msg, sizeof(msg)), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User llya is too similar to the existing user Ilya");
	assert_int_equal(t_register(e->client, ZW_ALICE, msg, sizeof(msg)),
	                 PIGEON_INVALID_ARGUMENT);
	assert_string_equal(
	    msg, "username: username contains an invisible or formatting character (U+200B)");
	assert_int_equal(t_register(e->client, "Alice", msg, sizeof(msg)), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User Alice already exists");

	/* Refused names left nothing behind: the look-alike cannot log in. */
	assert_int_equal(t_redis_int(raw, "HEXISTS pigeon:users %s", CYRILLIC_ALICE), 0);
	assert_int_equal(t_redis_int(raw, "HLEN pigeon:users"), 5);
	lreq.username = CYRILLIC_ALICE;
	assert_int_equal(pigeon_login(e->client, &lreq, &lrep, &err), PIGEON_NOT_FOUND);
	assert_null(lrep);

	/* Distinct names register, each with its skeleton. */
	assert_int_equal(t_register(e->client, "Алиса", msg, sizeof(msg)), PIGEON_OK);
	assert_int_equal(t_register(e->client, "Bob", msg, sizeof(msg)), PIGEON_OK);
	assert_int_equal(t_register(e->client, "B0b", msg, sizeof(msg)), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User B0b is too similar to the existing user Bob");
	t_hget(raw, "pigeon:user-skeletons", "alice", v, sizeof(v));
	assert_string_equal(v, "Alice");
	t_hget(raw, "pigeon:user-skeletons", "bob", v, sizeof(v));
	assert_string_equal(v, "Bob");
	assert_int_equal(t_redis_int(raw, "HLEN pigeon:users"), 7);
	assert_int_equal(t_redis_int(raw, "HLEN pigeon:user-skeletons"), 7);
	redisFree(raw);
}

/* A Redis written before skeletons existed: pigeond gives its users theirs
 * before it serves, and skips (and counts) a name no longer acceptable. */
static void
test_users_without_skeletons_get_them_before_pigeond_serves(void **state)
{
	t_env *e = *state;
	redisContext *raw;
	pigeon_client *c;
	char msg[256], v[128];
	t_file_has logged;

	t_env_start(e, &(t_env_opts){.redis_only = true});
	assert_non_null(raw = t_redis_connect(&e->redis));
	assert_int_equal(t_redis_int(raw, "HSET pigeon:users Bob regular"), 1);
	assert_int_equal(t_redis_int(raw, "HSET pigeon:users %s regular", ZW_ALICE), 1);
	t_env_pigeond_start(e, NULL);
	assert_int_equal(pigeon_client_open(&c, e->rpc_url), PIGEON_OK);

	assert_int_equal(t_register(c, "B0b", msg, sizeof(msg)), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User B0b is too similar to the existing user Bob");
	assert_int_equal(t_register(c, "\xd0\x92ob", msg, sizeof(msg)), PIGEON_ALREADY_EXISTS);
	assert_string_equal(msg, "User \xd0\x92ob is too similar to the existing user Bob");
	t_hget(raw, "pigeon:user-skeletons", "bob", v, sizeof(v));
	assert_string_equal(v, "Bob");
	/* The users file's five and Bob; the invisible name has none. */
	assert_int_equal(t_redis_int(raw, "HLEN pigeon:user-skeletons"), 6);
	logged.path = e->pigeond.proc.log;
	logged.text = "users with names that are no longer valid count=1";
	assert_true(t_wait_for(t_file_holds, &logged, 10000));
	pigeon_client_close(c);
	redisFree(raw);
}

/* pigeond refuses to start with a users file whose names look alike:
 * register would refuse the second, so the file is wrong. */
static void
test_users_file_with_lookalikes_stops_pigeond(void **state)
{
	t_env *e = *state;
	char path[400], url[400];
	FILE *f;
	t_proc p;
	t_file_has logged;
	int code;

	t_env_start(e, &(t_env_opts){.redis_only = true});
	snprintf(path, sizeof(path), "%s/twins.conf", e->dir);
	snprintf(url, sizeof(url), "ipc://%s/twins.sock", e->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("# two users who look alike\nIlya admin\n\nllya regular\n", f);
	fclose(f);
	t_env_role_start(
	    e, &p, "twins",
	    (const char *const[]){"--role", "rpc", "--users-file", path, "--rpc-url", url, NULL});
	if ((code = t_proc_wait(&p, 10000)) < 0)
		code = t_proc_stop(&p, SIGTERM);
	assert_int_equal(code, 1);
	logged.path = p.log;
	logged.text = "users file names two look-alike users path=";
	assert_true(t_file_holds(&logged));
	logged.text = " line=4 first_line=2";
	assert_true(t_file_holds(&logged));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_lookalikes_are_already_exists_and_distinct_names_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_users_without_skeletons_get_them_before_pigeond_serves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_users_file_with_lookalikes_stops_pigeond, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
