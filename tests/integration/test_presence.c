/* SPDX-License-Identifier: MIT */
/*
 * Presence against a real pigeond (--presence-ttl 2) and redis-server: a
 * silent user drops off ListOnlineUsers within the TTL and a second after
 * their last activity, with exactly one LOGOUT whose reason is "expired";
 * heartbeats and sends keep a user on for several TTLs; GetUser before and
 * after, field by field; an explicit logout leaves nothing to expire; and
 * two pigeonds sweeping the same Redis journal each of 50 expiries once.
 * Times are measured around each call and asserted against the TTL, the
 * waits are conditions polled with deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <signal.h>

#include <pigeon/pigeon.h>

#include "clocks.h"
#include "harness.h"
#include "t_hiredis.h"
#include "t_rpc.h"

#define TTL_MS 2000
/* What the protocol promises: off the list at most this long after the last
 * activity. */
#define GONE_MS (TTL_MS + 1000)
/* How often the tests poll the list: a small share of the slack. */
#define POLL_MS 20
/* Deadlines of waits that must end well before them (valgrind is slow). */
#define WAIT_MS 30000

typedef struct fixture {
	t_env env;
	pigeon_client *c;
	redisContext *raw;
	char listen[64];
	char metrics_url[128];
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	t_env_init(&f->env, "presence");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;

	if (f->raw != NULL)
		redisFree(f->raw);
	assert_int_equal(t_env_stop(&f->env), 0);
	free(f);
	return 0;
}

/* pigeond with --presence-ttl 2 and its metrics on a free port. */
static void
start(fixture *f)
{
	const char *args[] = {"--presence-ttl", "2", "--metrics-listen", f->listen, NULL};

	snprintf(f->listen, sizeof(f->listen), "127.0.0.1:%d", t_free_port());
	snprintf(f->metrics_url, sizeof(f->metrics_url), "http://%s/metrics", f->listen);
	t_env_start(&f->env, &(t_env_opts){.tag = "presence", .pigeond_args = args, .client = true,
				 .client_deadline_ms = 20000});
	f->c = f->env.client;
	assert_non_null(f->raw = t_redis_connect(&f->env.redis));
}

/* ---- calls ---- */

static bool
listed(pigeon_client *c, const char *u)
{
	Pigeon__V1__ListOnlineUsersRequest req = PIGEON__V1__LIST_ONLINE_USERS_REQUEST__INIT;
	Pigeon__V1__ListOnlineUsersReply *rep;
	bool found = false;

	req.page_size = 1000;
	assert_int_equal(pigeon_list_online_users(c, &req, &rep, NULL), PIGEON_OK);
	for (size_t i = 0; i < rep->n_usernames; i++)
		found = found || strcmp(rep->usernames[i], u) == 0;
	pigeon_reply_free(rep);
	return found;
}

static size_t
listed_count(pigeon_client *c)
{
	Pigeon__V1__ListOnlineUsersRequest req = PIGEON__V1__LIST_ONLINE_USERS_REQUEST__INIT;
	Pigeon__V1__ListOnlineUsersReply *rep;
	size_t n;

	req.page_size = 1000;
	assert_int_equal(pigeon_list_online_users(c, &req, &rep, NULL), PIGEON_OK);
	n = rep->n_usernames;
	pigeon_reply_free(rep);
	return n;
}

/* Heartbeat of u: its code, and on OK whether online and the deadline. */
static pigeon_status
heartbeat(pigeon_client *c, const char *u, bool *online, int64_t *expires_ms)
{
	Pigeon__V1__HeartbeatRequest req = PIGEON__V1__HEARTBEAT_REQUEST__INIT;
	Pigeon__V1__HeartbeatReply *rep;
	pigeon_status st;

	req.username = (char *)u;
	if ((st = pigeon_heartbeat(c, &req, &rep, NULL)) == PIGEON_OK) {
		*online = rep->online;
		*expires_ms = rep->expires_ms;
		pigeon_reply_free(rep);
	}
	return st;
}

/* GetUser of u; the reply (free with pigeon_reply_free) on OK, else NULL
 * with the code in *st. */
static Pigeon__V1__GetUserReply *
get_user(pigeon_client *c, const char *u, pigeon_status *st)
{
	Pigeon__V1__GetUserRequest req = PIGEON__V1__GET_USER_REQUEST__INIT;
	Pigeon__V1__GetUserReply *rep = NULL;

	req.username = (char *)u;
	*st = pigeon_get_user(c, &req, &rep, NULL);
	return *st == PIGEON_OK ? rep : NULL;
}

/* The LOGOUT events of u in the journal: with reason "expired", and
 * without a reason (explicit logouts).  Every expiry's text is the
 * original's "LOGOUT: u". */
static void
logouts(pigeon_client *c, const char *u, int *expired, int *explicit_)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;
	char text[128];

	*expired = *explicit_ = 0;
	snprintf(text, sizeof(text), "LOGOUT: %s", u);
	req.page_size = 1000;
	assert_int_equal(pigeon_get_event_journal(c, &req, &rep, NULL), PIGEON_OK);
	assert_int_equal(rep->next_cursor, 0);
	for (size_t i = 0; i < rep->n_events; i++) {
		const Pigeon__V1__Event *e = rep->events[i];

		if (e->type != PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGOUT ||
		    strcmp(e->username, u) != 0)
			continue;
		assert_string_equal(e->text, text);
		if (strcmp(e->reason, "expired") == 0)
			(*expired)++;
		else if (e->reason[0] == '\0')
			(*explicit_)++;
		else
			fail_msg("a LOGOUT of %s with reason '%s'", u, e->reason);
	}
	pigeon_reply_free(rep);
}

/* pigeon_presence_expired_total of the pigeond serving metrics at url. */
static long
expired_total(const char *url)
{
	char cmd[300];
	char *out;
	long v;
	int code;

	snprintf(cmd, sizeof(cmd),
	    "curl -sS --max-time 10 '%s' | awk '/^pigeon_presence_expired_total / {print $2}'",
	    url);
	out = t_sh(cmd, &code);
	assert_int_equal(code, 0);
	v = out[0] != '\0' ? strtol(out, NULL, 10) : -1;
	free(out);
	return v;
}

/* ---- waiting for a user to go ---- */

/* Polls the list until u is off it, remembering when the last poll that
 * still found u began, and when the first that did not ended. */
typedef struct going {
	pigeon_client *c;
	const char *user;
	int64_t last_listed_ms;
	int64_t gone_ms;
} going;

static bool
gone(void *arg)
{
	going *g = arg;
	int64_t begin = t_now_ms();

	if (listed(g->c, g->user)) {
		g->last_listed_ms = begin;
		return false;
	}
	g->gone_ms = t_now_ms();
	return true;
}

/* Waits until u is off the list, and asserts it left in time: never listed
 * later than GONE_MS after acted_by (when the call of u's last activity had
 * returned, so after the activity itself), and listed until at least
 * TTL_MS after acted_from (when that call began).  Returns how long after
 * acted_by u was seen gone. */
static int64_t
assert_goes_in_time(pigeon_client *c, const char *u, int64_t acted_from, int64_t acted_by)
{
	going g = {c, u, acted_from, 0};

	assert_true(t_wait_every(gone, &g, POLL_MS, WAIT_MS));
	if (g.last_listed_ms > acted_by + GONE_MS)
		fail_msg("%s still listed %lld ms after the last activity", u,
		    (long long)(g.last_listed_ms - acted_by));
	if (g.gone_ms < acted_from + TTL_MS)
		fail_msg("%s gone %lld ms after the last activity, before the TTL", u,
		    (long long)(g.gone_ms - acted_from));
	return g.gone_ms - acted_by;
}

/* ---- tests ---- */

/* Alice logs in and says nothing more: she is listed for the TTL, off the
 * list within a second after, and the journal says so once. */
static void
test_a_silent_user_drops_off_within_the_ttl_and_a_second(void **state)
{
	fixture *f = *state;
	int64_t from, by, after;
	int expired, explicit_;

	start(f);
	from = t_now_ms();
	t_login(f->c, "Alice");
	by = t_now_ms();
	assert_true(listed(f->c, "Alice"));
	after = assert_goes_in_time(f->c, "Alice", from, by);
	print_message("Alice off the list %lld ms after her login returned (TTL %d ms)\n",
	    (long long)after, TTL_MS);
	logouts(f->c, "Alice", &expired, &explicit_);
	assert_int_equal(expired, 1);
	assert_int_equal(explicit_, 0);
	assert_int_equal(t_redis_int(f->raw, "ZCARD pigeon:presence:deadlines"), 0);
	assert_int_equal(expired_total(f->metrics_url), 1);
	/* Her session is over: a heartbeat renews nothing, a login opens
	 * another. */
	{
		bool online = true;
		int64_t expires = -1;

		assert_int_equal(heartbeat(f->c, "Alice", &online, &expires), PIGEON_OK);
		assert_false(online);
		assert_int_equal(expires, 0);
	}
	t_login(f->c, "Alice");
	assert_true(listed(f->c, "Alice"));
}

/* Heartbeats every TTL / 4 keep Malory on for three TTLs, and sends keep
 * Ilya on; once both fall silent, both go in time. */
static void
test_heartbeats_and_sends_keep_a_user_online(void **state)
{
	fixture *f = *state;
	int64_t begin, from = 0, by = 0, prev = 0, ilya_from = 0, ilya_by = 0, wall;
	int expired, explicit_, beats = 0;

	start(f);
	t_login(f->c, "Malory");
	t_login(f->c, "Ilya");
	begin = t_now_ms();
	while (t_now_ms() - begin < 3 * TTL_MS + TTL_MS / 2) {
		bool online = false;
		int64_t expires = 0;

		from = t_now_ms();
		wall = clocks_wall_ms();
		assert_int_equal(heartbeat(f->c, "Malory", &online, &expires), PIGEON_OK);
		by = t_now_ms();
		assert_true(online);
		/* The deadline is the TTL after the call (Redis's clock and
		 * this one are the same machine's). */
		assert_true(expires >= wall + TTL_MS && expires <= clocks_wall_ms() + TTL_MS);
		assert_true(expires > prev);
		prev = expires;
		beats++;
		ilya_from = t_now_ms();
		t_send(f->c, "Ilya", "Alice", "still here");
		ilya_by = t_now_ms();
		assert_true(listed(f->c, "Malory"));
		assert_true(listed(f->c, "Ilya"));
		/* Pacing, not waiting for anything. */
		t_sleep_ms(TTL_MS / 4);
	}
	print_message("%d heartbeats over %lld ms\n", beats, (long long)(t_now_ms() - begin));
	logouts(f->c, "Malory", &expired, &explicit_);
	assert_int_equal(expired + explicit_, 0);
	logouts(f->c, "Ilya", &expired, &explicit_);
	assert_int_equal(expired + explicit_, 0);

	assert_goes_in_time(f->c, "Malory", from, by);
	assert_goes_in_time(f->c, "Ilya", ilya_from, ilya_by);
	logouts(f->c, "Malory", &expired, &explicit_);
	assert_int_equal(expired, 1);
	logouts(f->c, "Ilya", &expired, &explicit_);
	assert_int_equal(expired, 1);
}

/* GetUser of a new user, field by field, through registration, login,
 * heartbeat and logout; and of a user of the users file, and of nobody. */
static void
test_get_user_before_and_after(void **state)
{
	fixture *f = *state;
	Pigeon__V1__GetUserReply *u;
	pigeon_status st;
	int64_t reg_from, reg_by, created, expires = 0, out_from, out_by;
	bool online = true;

	start(f);
	reg_from = clocks_wall_ms();
	t_register(f->c, "Zoe");
	reg_by = clocks_wall_ms();

	assert_non_null(u = get_user(f->c, "Zoe", &st));
	assert_string_equal(u->username, "Zoe");
	assert_int_equal(u->role, PIGEON__V1__ROLE__ROLE_REGULAR);
	assert_false(u->online);
	assert_int_equal(u->last_seen_ms, 0);
	assert_true(u->created_ms >= reg_from && u->created_ms <= reg_by);
	created = u->created_ms;
	pigeon_reply_free(u);

	/* Not logged in: a heartbeat renews nothing but counts as seen. */
	assert_int_equal(heartbeat(f->c, "Zoe", &online, &expires), PIGEON_OK);
	assert_false(online);
	assert_int_equal(expires, 0);
	assert_int_equal(t_redis_int(f->raw, "ZSCORE pigeon:presence:deadlines Zoe"), 0);

	t_login(f->c, "Zoe");
	assert_int_equal(heartbeat(f->c, "Zoe", &online, &expires), PIGEON_OK);
	assert_true(online);
	assert_int_equal(t_redis_int(f->raw, "ZSCORE pigeon:presence:deadlines Zoe"), expires);
	assert_non_null(u = get_user(f->c, "Zoe", &st));
	assert_string_equal(u->username, "Zoe");
	assert_int_equal(u->role, PIGEON__V1__ROLE__ROLE_REGULAR);
	assert_true(u->online);
	/* Seen at the heartbeat, whose deadline is the TTL after it. */
	assert_int_equal(u->last_seen_ms, expires - TTL_MS);
	assert_int_equal(u->created_ms, created);
	pigeon_reply_free(u);

	out_from = clocks_wall_ms();
	t_logout(f->c, "Zoe");
	out_by = clocks_wall_ms();
	assert_non_null(u = get_user(f->c, "Zoe", &st));
	assert_false(u->online);
	assert_true(u->last_seen_ms >= out_from && u->last_seen_ms <= out_by);
	assert_int_equal(u->created_ms, created);
	pigeon_reply_free(u);

	/* From the users file: no registration time, never seen. */
	assert_non_null(u = get_user(f->c, "Ilya", &st));
	assert_string_equal(u->username, "Ilya");
	assert_int_equal(u->role, PIGEON__V1__ROLE__ROLE_ADMIN);
	assert_false(u->online);
	assert_int_equal(u->last_seen_ms, 0);
	assert_int_equal(u->created_ms, 0);
	pigeon_reply_free(u);

	assert_null(get_user(f->c, "nobody", &st));
	assert_int_equal(st, PIGEON_NOT_FOUND);
	assert_null(get_user(f->c, "no body", &st));
	assert_int_equal(st, PIGEON_INVALID_ARGUMENT);
	assert_int_equal(heartbeat(f->c, "nobody", &online, &expires), PIGEON_NOT_FOUND);
}

/* flain1 logs out: the deadline goes with the session, so when a user who
 * logged in after the logout has expired, flain1 has no expiry: one
 * LOGOUT, the explicit one. */
static void
test_an_explicit_logout_leaves_nothing_to_expire(void **state)
{
	fixture *f = *state;
	int64_t from, by;
	int expired, explicit_;

	start(f);
	t_login(f->c, "flain1");
	assert_true(t_redis_int(f->raw, "ZSCORE pigeon:presence:deadlines flain1") > 0);
	t_logout(f->c, "flain1");
	assert_int_equal(t_redis_int(f->raw, "ZSCORE pigeon:presence:deadlines flain1"), 0);
	from = t_now_ms();
	t_login(f->c, "Dizzzmas");
	by = t_now_ms();
	assert_goes_in_time(f->c, "Dizzzmas", from, by);
	logouts(f->c, "Dizzzmas", &expired, &explicit_);
	assert_int_equal(expired, 1);
	logouts(f->c, "flain1", &expired, &explicit_);
	assert_int_equal(expired, 0);
	assert_int_equal(explicit_, 1);
	assert_false(listed(f->c, "flain1"));
	assert_int_equal(expired_total(f->metrics_url), 1);
}

typedef struct on_b {
	pigeon_client *c;
} on_b;

static bool
b_serves(void *arg)
{
	bool serving = false;

	return t_pigeond_health(((on_b *)arg)->c, &serving) == PIGEON_OK && serving;
}

static bool
none_listed(void *arg)
{
	return listed_count(arg) == 0;
}

/* Two pigeonds sweep the same Redis at once: 50 users logged in through
 * either, their deadlines spread over a TTL, each expire once. */
static void
test_two_pigeonds_journal_each_of_50_expiries_once(void **state)
{
	fixture *f = *state;
	char b_url[400], b_listen[64], b_metrics[128], name[16];
	pigeon_client_opts co = {.url = b_url, .deadline_ms = 20000};
	on_b ob;
	t_proc b;
	long a_n, b_n;
	int expired, explicit_;

	start(f);
	snprintf(b_url, sizeof(b_url), "ipc://%s/b.sock", f->env.dir);
	snprintf(b_listen, sizeof(b_listen), "127.0.0.1:%d", t_free_port());
	snprintf(b_metrics, sizeof(b_metrics), "http://%s/metrics", b_listen);
	t_env_role_start(&f->env, &b, "pigeond-b",
	    (const char *const[]){"--role", "rpc", "--rpc-url", b_url, "--presence-ttl", "2",
		"--metrics-listen", b_listen, NULL});
	assert_int_equal(pigeon_client_open_opts(&ob.c, &co), PIGEON_OK);
	assert_true(t_wait_every(b_serves, &ob, 50, 60000));

	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "p%02d", i);
		t_register(f->c, name);
	}
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "p%02d", i);
		t_login(i % 2 == 0 ? f->c : ob.c, name);
		/* Pacing: deadlines spread over most of a TTL, so that both
		 * sweepers find some. */
		t_sleep_ms(TTL_MS / 60);
	}
	assert_true(t_wait_every(none_listed, f->c, 50, WAIT_MS));
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "p%02d", i);
		logouts(f->c, name, &expired, &explicit_);
		if (expired != 1 || explicit_ != 0)
			fail_msg("%s: %d expiries, %d logouts", name, expired, explicit_);
	}
	a_n = expired_total(f->metrics_url);
	b_n = expired_total(b_metrics);
	print_message("expiries ended by the first pigeond: %ld, by the second: %ld\n", a_n, b_n);
	assert_int_equal(a_n + b_n, 50);
	assert_int_equal(t_redis_int(f->raw, "ZCARD pigeon:presence:deadlines"), 0);
	pigeon_client_close(ob.c);
	assert_int_equal(t_proc_stop(&b, SIGTERM), 0);
}

/* Users listed online before sessions had deadlines get one when a sweeper
 * starts, and then expire like everyone. */
static void
test_users_online_from_before_deadlines_expire_too(void **state)
{
	fixture *f = *state;
	going g = {NULL, "Old", 0, 0};
	int64_t from;
	int expired, explicit_;

	t_env_start(&f->env, &(t_env_opts){.tag = "presence", .redis_only = true});
	assert_non_null(f->raw = t_redis_connect(&f->env.redis));
	assert_int_equal(t_redis_int(f->raw, "HSET pigeon:users Old regular"), 1);
	assert_int_equal(t_redis_int(f->raw, "ZADD pigeon:online 0 Old"), 1);
	from = t_now_ms();
	t_env_pigeond_start(&f->env, (const char *const[]){"--presence-ttl", "2", NULL});
	assert_int_equal(pigeon_client_open(&f->c, f->env.rpc_url), PIGEON_OK);
	g.c = f->c;
	/* The deadline comes when the sweeper starts, some time after this
	 * test started pigeond: only the TTL's lower bound is exact. */
	assert_true(t_wait_every(gone, &g, POLL_MS, WAIT_MS));
	assert_true(g.gone_ms >= from + TTL_MS);
	logouts(f->c, "Old", &expired, &explicit_);
	assert_int_equal(expired, 1);
	pigeon_client_close(f->c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_a_silent_user_drops_off_within_the_ttl_and_a_second, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_heartbeats_and_sends_keep_a_user_online, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_user_before_and_after, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_an_explicit_logout_leaves_nothing_to_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_two_pigeonds_journal_each_of_50_expiries_once, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_users_online_from_before_deadlines_expire_too, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
