/* SPDX-License-Identifier: MIT */
/*
 * --auth required over RPC, through libpigeon against a real pigeond and
 * redis-server (docs/auth.md): registration with a password, login and its
 * token, every check of a token (missing, forged, expired, from another key,
 * revoked by Logout or RevokeSessions, the previous key during rotation),
 * acting only as oneself unless admin (Heartbeat too; GetUser for anyone
 * signed in), several sessions of one user online while any lives, the
 * login throttle, equal answers to
 * an unknown user and a wrong password, and no content on the pub socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <signal.h>

#include <cmocka.h>

#include <pigeon/pigeon.h>

#include "clocks.h"
#include "harness.h"

#define PASSWORD "correct horse battery"

typedef struct fixture {
	t_env env;
	char key[300];
	char key2[300];
	char pwfile[300];
} fixture;

/* Writes n random bytes into a new file at path. */
static void
write_key(const char *path, size_t n)
{
	char cmd[600];
	int code;

	snprintf(cmd, sizeof(cmd), "head -c %zu /dev/urandom > '%s' && chmod 600 '%s'", n, path,
	    path);
	free(t_sh(cmd, &code));
	assert_int_equal(code, 0);
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	t_env_init(&f->env, "auth");
	snprintf(f->key, sizeof(f->key), "%s/auth.key", f->env.dir);
	snprintf(f->key2, sizeof(f->key2), "%s/auth2.key", f->env.dir);
	snprintf(f->pwfile, sizeof(f->pwfile), "%s/admin.pw", f->env.dir);
	write_key(f->key, 32);
	write_key(f->key2, 48);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;

	assert_int_equal(t_env_stop(&f->env), 0);
	free(f);
	return 0;
}

/* pigeond in required mode with the key file `key` (and `previous`, may be
 * NULL) and more arguments (NULL-terminated, may be NULL). */
static void
start(fixture *f, const char *key, const char *previous, const char *const *more)
{
	const char *args[24] = {"--auth", "required", "--auth-key-file", key};
	int n = 4;

	if (previous != NULL) {
		args[n++] = "--auth-key-file-previous";
		args[n++] = previous;
	}
	for (; more != NULL && *more != NULL && n < 23; more++)
		args[n++] = *more;
	args[n] = NULL;
	t_env_start(&f->env, &(t_env_opts){.tag = "auth", .pigeond_args = args, .client = true,
				 .client_deadline_ms = 20000});
}

static void
restart(fixture *f, const char *key, const char *previous)
{
	const char *args[8] = {"--auth", "required", "--auth-key-file", key};

	if (previous != NULL) {
		args[4] = "--auth-key-file-previous";
		args[5] = previous;
	}
	assert_int_equal(t_pigeond_stop(&f->env.pigeond), 0);
	t_env_pigeond_start(&f->env, args);
}

static pigeon_client *
client(fixture *f)
{
	/* Retries ride over the restarts of test_other_key_and_rotation. */
	pigeon_client_opts co = {.url = f->env.rpc_url, .deadline_ms = 20000,
	    .retry = {.max_attempts = 20, .initial_backoff_ms = 50, .max_backoff_ms = 500}};
	pigeon_client *c;

	assert_int_equal(pigeon_client_open_opts(&c, &co), PIGEON_OK);
	return c;
}

static pigeon_status
reg(pigeon_client *c, const char *name, const char *pw, Pigeon__V1__Role role, char *msg)
{
	Pigeon__V1__RegisterUserRequest req = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	Pigeon__V1__RegisterUserReply *rep;
	pigeon_error err = {0};
	pigeon_status st;

	req.username = (char *)name;
	req.password = (char *)pw;
	req.role = role;
	if ((st = pigeon_register_user(c, &req, &rep, &err)) == PIGEON_OK)
		pigeon_reply_free(rep);
	if (msg != NULL)
		strcpy(msg, err.message);
	return st;
}

/* Logs in; on OK copies the token into token (PIGEON_TOKEN_MAX + 1). */
static pigeon_status
login(pigeon_client *c, const char *name, const char *pw, char *token, char *msg,
    int64_t *expires_ms)
{
	Pigeon__V1__LoginRequest req = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *rep;
	pigeon_error err = {0};
	pigeon_status st;

	req.username = (char *)name;
	req.password = (char *)pw;
	if ((st = pigeon_login(c, &req, &rep, &err)) == PIGEON_OK) {
		assert_string_equal(rep->username, name);
		assert_true(strncmp(rep->token, "p1.", 3) == 0);
		if (token != NULL)
			snprintf(token, PIGEON_TOKEN_MAX + 1, "%s", rep->token);
		if (expires_ms != NULL)
			*expires_ms = rep->expires_ms;
		pigeon_reply_free(rep);
	}
	if (msg != NULL)
		strcpy(msg, err.message);
	return st;
}

static pigeon_status
send_as(pigeon_client *c, const char *from, const char *to, char *msg)
{
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	Pigeon__V1__SendMessageReply *rep;
	pigeon_error err = {0};
	pigeon_status st;

	req.sender = (char *)from;
	req.recipient = (char *)to;
	req.content = "a secret word";
	if ((st = pigeon_send_message(c, &req, &rep, &err)) == PIGEON_OK)
		pigeon_reply_free(rep);
	if (msg != NULL)
		strcpy(msg, err.message);
	return st;
}

static pigeon_status
stats_of(pigeon_client *c, const char *who, char *msg)
{
	Pigeon__V1__GetUserStatsRequest req = PIGEON__V1__GET_USER_STATS_REQUEST__INIT;
	Pigeon__V1__UserStats *rep;
	pigeon_error err = {0};
	pigeon_status st;

	req.username = (char *)who;
	if ((st = pigeon_get_user_stats(c, &req, &rep, &err)) == PIGEON_OK)
		pigeon_reply_free(rep);
	if (msg != NULL)
		strcpy(msg, err.message);
	return st;
}

static pigeon_status
inbox_of(pigeon_client *c, const char *who)
{
	Pigeon__V1__ListInboundMessagesRequest req = PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
	Pigeon__V1__ListInboundMessagesReply *rep;
	pigeon_status st;

	req.username = (char *)who;
	if ((st = pigeon_list_inbound_messages(c, &req, &rep, NULL)) == PIGEON_OK)
		pigeon_reply_free(rep);
	return st;
}

static pigeon_status
journal(pigeon_client *c)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;
	pigeon_status st;

	if ((st = pigeon_get_event_journal(c, &req, &rep, NULL)) == PIGEON_OK)
		pigeon_reply_free(rep);
	return st;
}

static pigeon_status
chatters(pigeon_client *c)
{
	Pigeon__V1__LeaderboardRequest req = PIGEON__V1__LEADERBOARD_REQUEST__INIT;
	Pigeon__V1__Leaderboard *rep;
	pigeon_status st;

	if ((st = pigeon_get_chatter_stats(c, &req, &rep, NULL)) == PIGEON_OK)
		pigeon_reply_free(rep);
	return st;
}

static pigeon_status
online(pigeon_client *c)
{
	Pigeon__V1__ListOnlineUsersRequest req = PIGEON__V1__LIST_ONLINE_USERS_REQUEST__INIT;
	Pigeon__V1__ListOnlineUsersReply *rep;
	pigeon_status st;

	if ((st = pigeon_list_online_users(c, &req, &rep, NULL)) == PIGEON_OK)
		pigeon_reply_free(rep);
	return st;
}

static pigeon_status
logout(pigeon_client *c, const char *who)
{
	Pigeon__V1__LogoutRequest req = PIGEON__V1__LOGOUT_REQUEST__INIT;
	Pigeon__V1__LogoutReply *rep;
	pigeon_status st;

	req.username = (char *)who;
	if ((st = pigeon_logout(c, &req, &rep, NULL)) == PIGEON_OK)
		pigeon_reply_free(rep);
	return st;
}

static pigeon_status
revoke_all(pigeon_client *c, const char *who, uint64_t *generation)
{
	Pigeon__V1__RevokeSessionsRequest req = PIGEON__V1__REVOKE_SESSIONS_REQUEST__INIT;
	Pigeon__V1__RevokeSessionsReply *rep;
	pigeon_status st;

	req.username = (char *)who;
	if ((st = pigeon_revoke_sessions(c, &req, &rep, NULL)) == PIGEON_OK) {
		if (generation != NULL)
			*generation = rep->generation;
		pigeon_reply_free(rep);
	}
	return st;
}

static pigeon_status
heartbeat(pigeon_client *c, const char *who, char *msg, bool *online, int64_t *expires_ms)
{
	Pigeon__V1__HeartbeatRequest req = PIGEON__V1__HEARTBEAT_REQUEST__INIT;
	Pigeon__V1__HeartbeatReply *rep;
	pigeon_error err = {0};
	pigeon_status st;

	req.username = (char *)who;
	if ((st = pigeon_heartbeat(c, &req, &rep, &err)) == PIGEON_OK) {
		if (online != NULL)
			*online = rep->online;
		if (expires_ms != NULL)
			*expires_ms = rep->expires_ms;
		pigeon_reply_free(rep);
	}
	if (msg != NULL)
		strcpy(msg, err.message);
	return st;
}

/* GetUser: on OK whether who is online and when they registered. */
static pigeon_status
user_of(pigeon_client *c, const char *who, bool *online, int64_t *created_ms)
{
	Pigeon__V1__GetUserRequest req = PIGEON__V1__GET_USER_REQUEST__INIT;
	Pigeon__V1__GetUserReply *rep;
	pigeon_status st;

	req.username = (char *)who;
	if ((st = pigeon_get_user(c, &req, &rep, NULL)) == PIGEON_OK) {
		assert_string_equal(rep->username, who);
		if (online != NULL)
			*online = rep->online;
		if (created_ms != NULL)
			*created_ms = rep->created_ms;
		pigeon_reply_free(rep);
	}
	return st;
}

/* A client carrying token. */
static pigeon_client *
client_with(fixture *f, const char *token)
{
	pigeon_client *c = client(f);

	assert_int_equal(pigeon_client_set_token(c, token), PIGEON_OK);
	return c;
}

/* pigeond --create-admin name against the env's Redis, password from a file. */
static void
create_admin(fixture *f, const char *name, const char *pw)
{
	char cmd[1200];
	char *out;
	int code;
	FILE *pf = fopen(f->pwfile, "w");

	assert_non_null(pf);
	fprintf(pf, "%s\n", pw);
	fclose(pf);
	snprintf(cmd, sizeof(cmd),
	    "'%s' --redis-url '%s' --auth required --create-admin '%s' --password-file '%s' "
	    "2>'%s/create-admin.log'",
	    getenv("PIGEOND"), f->env.redis.url, name, f->pwfile, f->env.dir);
	out = t_sh(cmd, &code);
	if (code != 0) {
		snprintf(cmd, sizeof(cmd), "%s/create-admin.log", f->env.dir);
		t_print_file(cmd);
	}
	assert_int_equal(code, 0);
	assert_string_equal(out, "admin root created\n");
	free(out);
}

static void
test_register_login_and_act_only_as_oneself(void **state)
{
	fixture *f = *state;
	char token[PIGEON_TOKEN_MAX + 1], msg[256];
	int64_t expires, before;
	pigeon_client *c, *anon;
	bool serving;

	start(f, f->key, NULL, NULL);
	anon = f->env.client;
	assert_int_equal(reg(anon, "bob", "short", 0, msg), PIGEON_INVALID_ARGUMENT);
	assert_string_equal(msg, "password must be 8 to 1024 bytes");
	assert_int_equal(reg(anon, "bob", "", 0, NULL), PIGEON_INVALID_ARGUMENT);
	assert_int_equal(reg(anon, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(reg(anon, "bob", PASSWORD, 0, msg), PIGEON_ALREADY_EXISTS);
	assert_int_equal(reg(anon, "carol", "12345678", 0, NULL), PIGEON_OK);
	/* Registering an admin needs an admin's token. */
	assert_int_equal(
	    reg(anon, "mallet", PASSWORD, PIGEON__V1__ROLE__ROLE_ADMIN, msg), PIGEON_UNAUTHENTICATED);
	assert_string_equal(msg, "missing, invalid, expired or revoked session token");

	before = clocks_wall_ms();
	assert_int_equal(login(anon, "bob", PASSWORD, token, NULL, &expires), PIGEON_OK);
	assert_true(expires >= before + 86400000 && expires <= clocks_wall_ms() + 86400000);
	/* Health needs no token; everything else does. */
	assert_int_equal(t_pigeond_health(anon, &serving), PIGEON_OK);
	assert_true(serving);
	assert_int_equal(send_as(anon, "bob", "Alice", msg), PIGEON_UNAUTHENTICATED);
	assert_string_equal(msg, "missing, invalid, expired or revoked session token");
	assert_int_equal(stats_of(anon, "bob", NULL), PIGEON_UNAUTHENTICATED);
	assert_int_equal(chatters(anon), PIGEON_UNAUTHENTICATED);
	assert_int_equal(online(anon), PIGEON_UNAUTHENTICATED);
	assert_int_equal(revoke_all(anon, "bob", NULL), PIGEON_UNAUTHENTICATED);

	/* A call may carry its own token instead of the client's. */
	{
		Pigeon__V1__GetUserStatsRequest sreq = PIGEON__V1__GET_USER_STATS_REQUEST__INIT;
		ProtobufCMessage *out = NULL;

		sreq.username = "bob";
		assert_int_equal(
		    pigeon_call_token(anon, "GetUserStats", token, &sreq.base, &out, 0, NULL),
		    PIGEON_OK);
		pigeon_reply_free(out);
		assert_int_equal(pigeon_call_token(anon, "GetUserStats", "", &sreq.base, &out, 0, NULL),
		    PIGEON_UNAUTHENTICATED);
	}
	c = client_with(f, token);
	assert_int_equal(send_as(c, "bob", "Alice", NULL), PIGEON_OK);
	assert_int_equal(send_as(c, "Alice", "bob", msg), PIGEON_PERMISSION_DENIED);
	assert_string_equal(msg, "sending as another user needs that user or an admin");
	assert_int_equal(stats_of(c, "bob", NULL), PIGEON_OK);
	assert_int_equal(stats_of(c, "Alice", msg), PIGEON_PERMISSION_DENIED);
	assert_string_equal(msg, "reading another user's stats needs that user or an admin");
	assert_int_equal(inbox_of(c, "bob"), PIGEON_OK);
	assert_int_equal(inbox_of(c, "carol"), PIGEON_PERMISSION_DENIED);
	assert_int_equal(journal(c), PIGEON_PERMISSION_DENIED);
	assert_int_equal(chatters(c), PIGEON_OK);
	assert_int_equal(online(c), PIGEON_OK);
	assert_int_equal(logout(c, "carol"), PIGEON_PERMISSION_DENIED);
	assert_int_equal(revoke_all(c, "carol", NULL), PIGEON_PERMISSION_DENIED);
	assert_int_equal(
	    reg(c, "mallet", PASSWORD, PIGEON__V1__ROLE__ROLE_ADMIN, msg), PIGEON_PERMISSION_DENIED);
	assert_string_equal(msg, "registering an admin needs an admin");
	/* The original users have no password: they cannot log in here. */
	assert_int_equal(login(anon, "Alice", "", NULL, msg, NULL), PIGEON_UNAUTHENTICATED);
	assert_string_equal(msg, "wrong username or password");
	pigeon_client_close(c);
}

/* Every single changed character of a token, and truncations. */
static void
test_forged_tokens_are_unauthenticated(void **state)
{
	fixture *f = *state;
	char token[PIGEON_TOKEN_MAX + 1], forged[PIGEON_TOKEN_MAX + 1];
	static const char alphabet[] = "AQgw_-.1";
	pigeon_client *c;
	size_t len;
	unsigned tried = 0;

	start(f, f->key, NULL, NULL);
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, token, NULL, NULL), PIGEON_OK);
	c = client_with(f, token);
	assert_int_equal(stats_of(c, "bob", NULL), PIGEON_OK);
	len = strlen(token);
	for (size_t i = 0; i < len; i++) {
		for (const char *a = alphabet; *a != '\0'; a++) {
			if (token[i] == *a)
				continue;
			memcpy(forged, token, len + 1);
			forged[i] = *a;
			assert_int_equal(pigeon_client_set_token(c, forged), PIGEON_OK);
			if (stats_of(c, "bob", NULL) != PIGEON_UNAUTHENTICATED) {
				fprintf(stderr, "forged token accepted: position %zu -> '%c'\n", i, *a);
				fail();
			}
			tried++;
			break;
		}
	}
	for (size_t cut = 1; cut < len; cut += 7) {
		memcpy(forged, token, cut);
		forged[cut] = '\0';
		assert_int_equal(pigeon_client_set_token(c, forged), PIGEON_OK);
		assert_int_equal(stats_of(c, "bob", NULL), PIGEON_UNAUTHENTICATED);
	}
	assert_int_equal(tried, len);
	/* The genuine token still works. */
	assert_int_equal(pigeon_client_set_token(c, token), PIGEON_OK);
	assert_int_equal(stats_of(c, "bob", NULL), PIGEON_OK);
	pigeon_client_close(c);
}

typedef struct expiring {
	pigeon_client *c;
} expiring;

static bool
refused(void *arg)
{
	return stats_of(((expiring *)arg)->c, "bob", NULL) == PIGEON_UNAUTHENTICATED;
}

static void
test_expired_tokens_are_unauthenticated(void **state)
{
	fixture *f = *state;
	static const char *const ttl[] = {"--token-ttl-ms", "2000", NULL};
	char token[PIGEON_TOKEN_MAX + 1];
	int64_t expires, asked;
	expiring e;
	pigeon_status st;

	start(f, f->key, NULL, ttl);
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, token, NULL, &expires), PIGEON_OK);
	e.c = client_with(f, token);
	asked = clocks_wall_ms();
	st = stats_of(e.c, "bob", NULL);
	/* Before its expiry the token works; a machine slow enough to ask
	 * after it gets what an expired token gets. */
	assert_int_equal(st, asked < expires ? PIGEON_OK : PIGEON_UNAUTHENTICATED);
	assert_true(t_wait_every(refused, &e, 100, 30000));
	assert_true(clocks_wall_ms() >= expires);
	pigeon_client_close(e.c);
}

static void
test_other_key_and_rotation(void **state)
{
	fixture *f = *state;
	char token[PIGEON_TOKEN_MAX + 1], fresh[PIGEON_TOKEN_MAX + 1];
	pigeon_client *c, *anon;

	start(f, f->key, NULL, NULL);
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, token, NULL, NULL), PIGEON_OK);
	/* A pigeond with another key does not know the token. */
	restart(f, f->key2, NULL);
	c = client_with(f, token);
	assert_int_equal(stats_of(c, "bob", NULL), PIGEON_UNAUTHENTICATED);
	/* Rotation: the old key as the previous one still verifies it, and new
	 * tokens are signed with the new key. */
	restart(f, f->key2, f->key);
	assert_int_equal(stats_of(c, "bob", NULL), PIGEON_OK);
	anon = client(f);
	assert_int_equal(login(anon, "bob", PASSWORD, fresh, NULL, NULL), PIGEON_OK);
	pigeon_client_close(anon);
	restart(f, f->key2, NULL);
	assert_int_equal(stats_of(c, "bob", NULL), PIGEON_UNAUTHENTICATED);
	assert_int_equal(pigeon_client_set_token(c, fresh), PIGEON_OK);
	assert_int_equal(stats_of(c, "bob", NULL), PIGEON_OK);
	pigeon_client_close(c);
}

static void
test_logout_and_revoke_sessions(void **state)
{
	fixture *f = *state;
	char a[PIGEON_TOKEN_MAX + 1], b[PIGEON_TOKEN_MAX + 1], c3[PIGEON_TOKEN_MAX + 1];
	pigeon_client *ca, *cb, *cc;
	uint64_t gen = 0;

	start(f, f->key, NULL, NULL);
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, a, NULL, NULL), PIGEON_OK);
	/* A second login while online: a second session. */
	assert_int_equal(login(f->env.client, "bob", PASSWORD, b, NULL, NULL), PIGEON_OK);
	ca = client_with(f, a);
	cb = client_with(f, b);
	assert_int_equal(logout(ca, "bob"), PIGEON_OK);
	assert_int_equal(stats_of(ca, "bob", NULL), PIGEON_UNAUTHENTICATED);
	assert_int_equal(logout(ca, "bob"), PIGEON_UNAUTHENTICATED);
	assert_int_equal(stats_of(cb, "bob", NULL), PIGEON_OK);
	assert_int_equal(revoke_all(cb, "bob", &gen), PIGEON_OK);
	assert_int_equal(gen, 1);
	assert_int_equal(stats_of(cb, "bob", NULL), PIGEON_UNAUTHENTICATED);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, c3, NULL, NULL), PIGEON_OK);
	cc = client_with(f, c3);
	assert_int_equal(stats_of(cc, "bob", NULL), PIGEON_OK);
	assert_int_equal(revoke_all(cc, "bob", &gen), PIGEON_OK);
	assert_int_equal(gen, 2);
	assert_int_equal(stats_of(cc, "bob", NULL), PIGEON_UNAUTHENTICATED);
	pigeon_client_close(ca);
	pigeon_client_close(cb);
	pigeon_client_close(cc);
}

/* Heartbeat acts for a user: their token or an admin's.  GetUser is a read
 * for anyone signed in. */
static void
test_heartbeat_needs_the_user_and_get_user_a_session(void **state)
{
	fixture *f = *state;
	char token[PIGEON_TOKEN_MAX + 1], msg[256];
	pigeon_client *c, *anon;
	int64_t before, expires = 0, created = 0;
	bool online = false;

	start(f, f->key, NULL, NULL);
	anon = f->env.client;
	before = clocks_wall_ms();
	assert_int_equal(reg(anon, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(reg(anon, "carol", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(anon, "bob", PASSWORD, token, NULL, NULL), PIGEON_OK);
	assert_int_equal(heartbeat(anon, "bob", msg, NULL, NULL), PIGEON_UNAUTHENTICATED);
	assert_string_equal(msg, "missing, invalid, expired or revoked session token");
	assert_int_equal(user_of(anon, "carol", NULL, NULL), PIGEON_UNAUTHENTICATED);

	c = client_with(f, token);
	assert_int_equal(heartbeat(c, "bob", NULL, &online, &expires), PIGEON_OK);
	assert_true(online);
	/* The default TTL, 60 s. */
	assert_true(expires >= before + 60000 && expires <= clocks_wall_ms() + 60000);
	assert_int_equal(heartbeat(c, "carol", msg, NULL, NULL), PIGEON_PERMISSION_DENIED);
	assert_string_equal(
	    msg, "keeping another user's session alive needs that user or an admin");
	assert_int_equal(user_of(c, "carol", &online, &created), PIGEON_OK);
	assert_false(online);
	assert_true(created >= before && created <= clocks_wall_ms());
	assert_int_equal(user_of(c, "bob", &online, NULL), PIGEON_OK);
	assert_true(online);
	assert_int_equal(user_of(c, "nobody", NULL, NULL), PIGEON_NOT_FOUND);
	pigeon_client_close(c);
}

static void
test_admin_rights(void **state)
{
	fixture *f = *state;
	char root[PIGEON_TOKEN_MAX + 1], bob[PIGEON_TOKEN_MAX + 1];
	pigeon_client *ca, *cb;
	uint64_t gen = 0;

	start(f, f->key, NULL, NULL);
	create_admin(f, "root", "an admin's long password");
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "root", "an admin's long password", root, NULL, NULL),
	    PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, bob, NULL, NULL), PIGEON_OK);
	ca = client_with(f, root);
	cb = client_with(f, bob);
	assert_int_equal(journal(ca), PIGEON_OK);
	assert_int_equal(stats_of(ca, "bob", NULL), PIGEON_OK);
	assert_int_equal(inbox_of(ca, "bob"), PIGEON_OK);
	assert_int_equal(send_as(ca, "bob", "Alice", NULL), PIGEON_OK);
	assert_int_equal(reg(ca, "admin2", PASSWORD, PIGEON__V1__ROLE__ROLE_ADMIN, NULL), PIGEON_OK);
	assert_int_equal(heartbeat(ca, "bob", NULL, NULL, NULL), PIGEON_OK);
	assert_int_equal(stats_of(cb, "bob", NULL), PIGEON_OK);
	/* An admin logging bob out ends every session of his. */
	assert_int_equal(logout(ca, "bob"), PIGEON_OK);
	assert_int_equal(stats_of(cb, "bob", NULL), PIGEON_UNAUTHENTICATED);
	assert_int_equal(revoke_all(ca, "bob", &gen), PIGEON_OK);
	assert_int_equal(gen, 2);
	assert_int_equal(revoke_all(ca, "nobody", NULL), PIGEON_NOT_FOUND);
	assert_int_equal(journal(ca), PIGEON_OK);
	pigeon_client_close(ca);
	pigeon_client_close(cb);
}

/* bob's LOGIN events and his LOGOUT events with reason "expired" and
 * without, in the journal, read by an admin's client. */
static void
sessions_journaled(pigeon_client *admin, int *logins, int *expired, int *explicit_)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;

	*logins = *expired = *explicit_ = 0;
	req.page_size = 1000;
	assert_int_equal(pigeon_get_event_journal(admin, &req, &rep, NULL), PIGEON_OK);
	for (size_t i = 0; i < rep->n_events; i++) {
		const Pigeon__V1__Event *e = rep->events[i];

		if (strcmp(e->username, "bob") != 0)
			continue;
		if (e->type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGIN)
			(*logins)++;
		else if (e->type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGOUT)
			(*(strcmp(e->reason, "expired") == 0 ? expired : explicit_))++;
	}
	pigeon_reply_free(rep);
}

/* Polls GetUser until bob is offline, remembering when the last poll that
 * still saw him online began. */
typedef struct bob_going {
	pigeon_client *c;
	int64_t last_online_ms;
} bob_going;

static bool
bob_gone(void *arg)
{
	bob_going *g = arg;
	int64_t begin = clocks_mono_ms();
	bool on = true;

	assert_int_equal(user_of(g->c, "bob", &on, NULL), PIGEON_OK);
	if (on)
		g->last_online_ms = begin;
	return !on;
}

/* The TTL of the sessions test: the longest the issue allows, for the most
 * slack between a session's requests (each a round trip or two) on a busy
 * machine. */
#define SESSIONS_TTL_S "3"
#define SESSIONS_TTL_MS 3000

/* --presence-ttl 3: bob logs in twice.  Logging one session out leaves him
 * online on the other; any request of that session (not only Heartbeat)
 * keeps him on for three TTLs; once every session is silent he is off
 * within the TTL and a second, with one LOGOUT whose reason is expired. */
static void
test_several_sessions_keep_a_user_online_while_one_lives(void **state)
{
	fixture *f = *state;
	char root[PIGEON_TOKEN_MAX + 1], ta[PIGEON_TOKEN_MAX + 1], tb[PIGEON_TOKEN_MAX + 1];
	char tc[PIGEON_TOKEN_MAX + 1];
	pigeon_client *admin, *ca, *cb, *cc;
	int logins, expired, explicit_;
	int64_t until, acted;
	bob_going g;
	bool on = false;

	start(f, f->key, NULL, (const char *const[]){"--presence-ttl", SESSIONS_TTL_S, NULL});
	create_admin(f, "root", "an admin's long password");
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "root", "an admin's long password", root, NULL, NULL),
	    PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, ta, NULL, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, tb, NULL, NULL), PIGEON_OK);
	admin = client_with(f, root);
	ca = client_with(f, ta);
	cb = client_with(f, tb);

	assert_int_equal(logout(ca, "bob"), PIGEON_OK);
	assert_int_equal(user_of(admin, "bob", &on, NULL), PIGEON_OK);
	assert_true(on);
	assert_int_equal(heartbeat(ca, "bob", NULL, NULL, NULL), PIGEON_UNAUTHENTICATED);

	/* Session b reads bob's stats every 200 ms: no Heartbeat at all. */
	until = clocks_mono_ms() + 3 * SESSIONS_TTL_MS;
	while (clocks_mono_ms() < until) {
		assert_int_equal(stats_of(cb, "bob", NULL), PIGEON_OK);
		assert_int_equal(user_of(admin, "bob", &on, NULL), PIGEON_OK);
		if (!on)
			fail_msg("bob went offline while his session b was active");
		t_sleep_ms(200);
	}

	/* A third session, then silence on both. */
	assert_int_equal(login(f->env.client, "bob", PASSWORD, tc, NULL, NULL), PIGEON_OK);
	cc = client_with(f, tc);
	assert_int_equal(heartbeat(cc, "bob", NULL, &on, NULL), PIGEON_OK);
	assert_true(on);
	acted = clocks_mono_ms();
	g = (bob_going){admin, acted};
	assert_true(t_wait_every(bob_gone, &g, 20, 30000));
	/* Within the TTL and a second of the last activity (the heartbeat
	 * above; the admin's GetUser calls are the admin's own). */
	if (g.last_online_ms > acted + SESSIONS_TTL_MS + 1000)
		fail_msg("bob still online %lld ms after his last activity",
		    (long long)(g.last_online_ms - acted));
	sessions_journaled(admin, &logins, &expired, &explicit_);
	assert_int_equal(logins, 3);
	assert_int_equal(explicit_, 1);
	assert_int_equal(expired, 1);
	/* The sessions' tokens are still valid; the sessions are over. */
	assert_int_equal(heartbeat(cb, "bob", NULL, &on, NULL), PIGEON_OK);
	assert_false(on);
	assert_int_equal(heartbeat(cc, "bob", NULL, &on, NULL), PIGEON_OK);
	assert_false(on);
	pigeon_client_close(admin);
	pigeon_client_close(ca);
	pigeon_client_close(cb);
	pigeon_client_close(cc);
}

static bool
bob_logs_in(void *arg)
{
	fixture *f = arg;

	return login(f->env.client, "bob", PASSWORD, NULL, NULL, NULL) == PIGEON_OK;
}

static void
test_login_throttle(void **state)
{
	fixture *f = *state;
	static const char *const window[] = {"--login-window-ms", "3000", NULL};
	char msg[256];
	int64_t first;

	start(f, f->key, NULL, window);
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	first = clocks_wall_ms();
	for (int i = 0; i < 5; i++) {
		assert_int_equal(login(f->env.client, "bob", "not the password", NULL, msg, NULL),
		    PIGEON_UNAUTHENTICATED);
		assert_string_equal(msg, "wrong username or password");
	}
	/* Within the window even the right password is refused. */
	if (clocks_wall_ms() - first < 3000) {
		assert_int_equal(login(f->env.client, "bob", PASSWORD, NULL, msg, NULL),
		    PIGEON_RESOURCE_EXHAUSTED);
		assert_string_equal(msg, "too many failed logins for this username; try again later");
	}
	/* Unknown names are throttled alike. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(login(f->env.client, "ghost", "whatever1", NULL, NULL, NULL),
		    PIGEON_UNAUTHENTICATED);
	/* Once the window has passed, the right password works again. */
	assert_true(t_wait_every(bob_logs_in, f, 200, 30000));
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Unknown user and wrong password: the same status, the same message, and
 * about the same time (medians of 9 each, interleaved). */
static void
test_unknown_user_and_wrong_password_look_alike(void **state)
{
	fixture *f = *state;
	static const char *const many[] = {"--login-fails-max", "1000", NULL};
	char m1[256], m2[256], name[32];
	int64_t unknown[9], wrong[9], t;

	start(f, f->key, NULL, many);
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	for (int i = 0; i < 9; i++) {
		snprintf(name, sizeof(name), "ghost%d", i);
		t = clocks_mono_us();
		assert_int_equal(login(f->env.client, name, PASSWORD, NULL, m1, NULL),
		    PIGEON_UNAUTHENTICATED);
		unknown[i] = clocks_mono_us() - t;
		t = clocks_mono_us();
		assert_int_equal(login(f->env.client, "bob", "wrong password", NULL, m2, NULL),
		    PIGEON_UNAUTHENTICATED);
		wrong[i] = clocks_mono_us() - t;
		assert_string_equal(m1, m2);
	}
	qsort(unknown, 9, sizeof(unknown[0]), cmp_i64);
	qsort(wrong, 9, sizeof(wrong[0]), cmp_i64);
	fprintf(stderr, "login: median %lld us for an unknown user, %lld us for a wrong password\n",
	    (long long)unknown[4], (long long)wrong[4]);
	/* Both are one argon2id verification: neither median is under half
	 * the other (an unknown user answered without hashing would be). */
	assert_true(unknown[4] * 2 > wrong[4]);
	assert_true(wrong[4] * 2 > unknown[4]);
}

static void
test_registrations_are_rate_limited(void **state)
{
	fixture *f = *state;
	static const char *const few[] = {"--register-max", "3", "--register-window-ms", "600000",
	    NULL};
	char msg[256];

	start(f, f->key, NULL, few);
	assert_int_equal(reg(f->env.client, "u1", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(reg(f->env.client, "u2", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(reg(f->env.client, "u3", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(reg(f->env.client, "u4", PASSWORD, 0, msg), PIGEON_RESOURCE_EXHAUSTED);
	assert_string_equal(msg, "too many registrations; try again later");
}

typedef struct heard {
	pthread_mutex_t mtx;
	int delivered;
	char content[64];
	uint64_t message_id;
} heard;

static void
on_event(const char *topic, const Pigeon__V1__Event *ev, void *arg)
{
	heard *h = arg;

	if (ev->type != PIGEON__V1__EVENT_TYPE__EVENT_TYPE_DELIVERED)
		return;
	pthread_mutex_lock(&h->mtx);
	h->delivered++;
	snprintf(h->content, sizeof(h->content), "%s", ev->content != NULL ? ev->content : "");
	h->message_id = ev->message_id;
	pthread_mutex_unlock(&h->mtx);
}

static bool
got_delivery(void *arg)
{
	heard *h = arg;
	bool got;

	pthread_mutex_lock(&h->mtx);
	got = h->delivered > 0;
	pthread_mutex_unlock(&h->mtx);
	return got;
}

static void
test_no_content_on_the_pub_socket(void **state)
{
	fixture *f = *state;
	char token[PIGEON_TOKEN_MAX + 1];
	heard h = {.mtx = PTHREAD_MUTEX_INITIALIZER};
	pigeon_subscribe_opts so = {0};
	pigeon_subscription *sub;
	pigeon_client *c;

	start(f, f->key, NULL, NULL);
	so.url = f->env.pigeond.pub_url;
	assert_int_equal(pigeon_subscribe(&sub, &so, on_event, &h), PIGEON_OK);
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, token, NULL, NULL), PIGEON_OK);
	c = client_with(f, token);
	/* The subscriber connects in the background: send until one arrives. */
	for (int i = 0; i < 300 && !got_delivery(&h); i++) {
		assert_int_equal(send_as(c, "bob", "Alice", NULL), PIGEON_OK);
		t_wait_every(got_delivery, &h, 10, 100);
	}
	assert_true(got_delivery(&h));
	pigeon_subscription_close(sub);
	assert_string_equal(h.content, "");
	assert_true(h.message_id > 0);
	pigeon_client_close(c);
}

typedef struct on_b {
	pigeon_client *c;
} on_b;

static bool
b_refuses(void *arg)
{
	return stats_of(((on_b *)arg)->c, "bob", NULL) == PIGEON_UNAUTHENTICATED;
}

static bool
b_serves(void *arg)
{
	bool serving = false;

	return t_pigeond_health(((on_b *)arg)->c, &serving) == PIGEON_OK && serving;
}

/* The sign-in figures of pigeond's /metrics at url, "hits misses". */
static char *
cache_figures(const char *url)
{
	char cmd[400];
	int code;

	snprintf(cmd, sizeof(cmd),
	    "curl -sS --max-time 10 '%s' | awk '/^pigeon_auth_session_cache_hits_total / "
	    "{h=$2} /^pigeon_auth_session_cache_misses_total / {m=$2} END {print h, m}'",
	    url);
	return t_sh(cmd, &code);
}

typedef struct cache_probe {
	pigeon_client *c;
	const char *url;
} cache_probe;

/* One call with the token, then true when the cache has had a hit. */
static bool
cache_hit(void *arg)
{
	cache_probe *p = arg;
	unsigned long hits = 0, misses = 0;
	char *figures;

	assert_int_equal(stats_of(p->c, "bob", NULL), PIGEON_OK);
	figures = cache_figures(p->url);
	sscanf(figures, "%lu %lu", &hits, &misses);
	free(figures);
	return hits > 0;
}

/* Sessions found valid are cached (no round trip the second time), and a
 * logout through one pigeond reaches the cache of another through Redis
 * pub/sub. */
static void
test_session_cache_and_revocation_across_pigeonds(void **state)
{
	fixture *f = *state;
	char token[PIGEON_TOKEN_MAX + 1], port[16], listen[64], url[128], b_url[400];
	const char *more[] = {"--metrics-listen", listen, NULL};
	pigeon_client_opts co = {.url = b_url, .deadline_ms = 20000};
	pigeon_client *ca;
	t_proc b;
	on_b ob;
	char *figures, want[64];
	unsigned long hits, misses;

	snprintf(port, sizeof(port), "%d", t_free_port());
	snprintf(listen, sizeof(listen), "127.0.0.1:%s", port);
	snprintf(url, sizeof(url), "http://%s/metrics", listen);
	start(f, f->key, NULL, more);
	snprintf(b_url, sizeof(b_url), "ipc://%s/b.sock", f->env.dir);
	t_env_role_start(&f->env, &b, "pigeond-b",
	    (const char *const[]){"--role", "rpc", "--rpc-url", b_url, "--auth", "required",
		"--auth-key-file", f->key, NULL});
	assert_int_equal(pigeon_client_open_opts(&ob.c, &co), PIGEON_OK);
	assert_true(t_wait_every(b_serves, &ob, 50, 60000));

	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, token, NULL, NULL), PIGEON_OK);
	ca = client_with(f, token);
	assert_int_equal(pigeon_client_set_token(ob.c, token), PIGEON_OK);
	figures = cache_figures(url);
	assert_string_equal(figures, "0 0\n");
	free(figures);
	/* The cache works once pigeond's subscription is up: a call finds the
	 * session cached by the one before. */
	assert_true(t_wait_every(cache_hit, &(cache_probe){ca, url}, 50, 20000));
	figures = cache_figures(url);
	assert_int_equal(sscanf(figures, "%lu %lu", &hits, &misses), 2);
	free(figures);
	assert_int_equal(stats_of(ca, "bob", NULL), PIGEON_OK);
	assert_int_equal(stats_of(ca, "bob", NULL), PIGEON_OK);
	figures = cache_figures(url);
	snprintf(want, sizeof(want), "%lu %lu\n", hits + 2, misses);
	assert_string_equal(figures, want);
	free(figures);
	{
		char cmd[300];
		char *out;
		int code;

		snprintf(cmd, sizeof(cmd), "curl -sS --max-time 10 '%s' | promtool check metrics 2>&1",
		    url);
		out = t_sh(cmd, &code);
		if (code != 0 || out[0] != '\0')
			fprintf(stderr, "promtool: %s\n", out);
		assert_int_equal(code, 0);
		assert_string_equal(out, "");
		free(out);
	}
	assert_int_equal(stats_of(ob.c, "bob", NULL), PIGEON_OK);
	assert_int_equal(stats_of(ob.c, "bob", NULL), PIGEON_OK);

	/* Logged out through the first pigeond: it refuses the token at once,
	 * the second as soon as the news reaches it. */
	assert_int_equal(logout(ca, "bob"), PIGEON_OK);
	assert_int_equal(stats_of(ca, "bob", NULL), PIGEON_UNAUTHENTICATED);
	assert_true(t_wait_every(b_refuses, &ob, 20, 10000));
	pigeon_client_close(ob.c);
	pigeon_client_close(ca);
	assert_int_equal(t_proc_stop(&b, SIGTERM), 0);
}

/* A kB figure (VmHWM, VmRSS) of /proc/PID/status. */
static long
status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long kb = -1;
	size_t n = strlen(field);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

typedef struct storm {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int answered, ok, wrong, full, other;
	char full_msg[128];
} storm;

static void
storm_done(pigeon_status st, const char *message, const ProtobufCMessage *reply, void *arg)
{
	storm *s = arg;

	(void)reply;
	pthread_mutex_lock(&s->mtx);
	if (st == PIGEON_OK) {
		s->ok++;
	} else if (st == PIGEON_UNAUTHENTICATED) {
		s->wrong++;
	} else if (st == PIGEON_RESOURCE_EXHAUSTED) {
		s->full++;
		snprintf(s->full_msg, sizeof(s->full_msg), "%s", message);
	} else {
		s->other++;
	}
	s->answered++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mtx);
}

/* A login storm: the pool (2 threads, 4 waiting) refuses what does not fit
 * with RESOURCE_EXHAUSTED at once, pigeond keeps serving, and its memory
 * grows by about the pool's threads times argon2id's 19 MiB, not more. */
static void
test_login_storm_meets_a_full_pool(void **state)
{
	fixture *f = *state;
	static const char *const small[] = {"--passwd-threads", "2", "--passwd-queue", "4",
	    "--login-fails-max", "1000", NULL};
	enum { LOGINS = 40 };
	storm s = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	pid_t pid;
	long rss_before, peak_after;
	bool serving;

	start(f, f->key, NULL, small);
	pid = f->env.pigeond.proc.pid;
	assert_int_equal(reg(f->env.client, "bob", PASSWORD, 0, NULL), PIGEON_OK);
	rss_before = status_kb(pid, "VmRSS");
	for (int i = 0; i < LOGINS; i++) {
		Pigeon__V1__LoginRequest req = PIGEON__V1__LOGIN_REQUEST__INIT;

		req.username = "bob";
		req.password = i % 2 == 0 ? PASSWORD : "a wrong password";
		assert_int_equal(pigeon_login_async(f->env.client, &req, storm_done, &s), PIGEON_OK);
	}
	pthread_mutex_lock(&s.mtx);
	while (s.answered < LOGINS)
		pthread_cond_wait(&s.cv, &s.mtx);
	pthread_mutex_unlock(&s.mtx);
	peak_after = status_kb(pid, "VmHWM");
	fprintf(stderr,
	    "login storm: %d ok, %d wrong, %d refused; pigeond RSS %ld kB before, peak %ld kB\n",
	    s.ok, s.wrong, s.full, rss_before, peak_after);
	assert_int_equal(s.other, 0);
	assert_true(s.full > 0);
	assert_string_equal(s.full_msg, "too many logins in progress; try again");
	assert_int_equal(s.ok + s.wrong + s.full, LOGINS);
#ifndef __SANITIZE_ADDRESS__
	/* Two hashes at once at 19 MiB each, and 16 MiB for everything else.
	 * (Under AddressSanitizer, freed blocks wait in its quarantine, so
	 * every hash adds its 19 MiB: no bound of the pool shows there.) */
	assert_true(peak_after - rss_before < 2 * 19456 + 16384);
#endif
	assert_int_equal(t_pigeond_health(f->env.client, &serving), PIGEON_OK);
	assert_true(serving);
	assert_int_equal(login(f->env.client, "bob", PASSWORD, NULL, NULL, NULL), PIGEON_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_register_login_and_act_only_as_oneself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_tokens_are_unauthenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_tokens_are_unauthenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_key_and_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logout_and_revoke_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_heartbeat_needs_the_user_and_get_user_a_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_several_sessions_keep_a_user_online_while_one_lives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unknown_user_and_wrong_password_look_alike, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registrations_are_rate_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_content_on_the_pub_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_session_cache_and_revocation_across_pigeonds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_storm_meets_a_full_pool, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
