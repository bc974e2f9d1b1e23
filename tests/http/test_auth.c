/* SPDX-License-Identifier: MIT */
/*
 * pigeon-http in --auth required mode against a real pigeond (required mode,
 * its own signing key) and redis-server, with curl as the client: register
 * with a password, log in for a token, and every answer of docs/http.md's
 * "Authentication" section with its exact status, body and WWW-Authenticate
 * header: no token, a malformed header (refused without an RPC), a forged
 * token, acting for another user, admin rights, logout and revoked sessions,
 * the login throttle, a token from another key, rotation and expiry, and
 * GET /events carrying a user's inbox and read receipts and, for an
 * admin, the journal; heartbeats and reads only for oneself.  Last, no token in the bridge's log or metrics, and
 * every answer checked against /openapi.json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include <pigeon/pigeon.h>

#include "clocks.h"
#include "harness.h"
#include "t_curl.h"

#define PASSWORD "correct horse battery"
/* pigeond's answer to every token that does not verify, and the bridge's to
 * a header that cannot hold one. */
#define BAD_TOKEN "missing, invalid, expired or revoked session token"
#define MALFORMED "Authorization must be Bearer and a session token"

static t_env env;
static char key_file[300];
static int stream_no;
/* Tokens, as POST /login answered them. */
static char bob[PIGEON_TOKEN_MAX + 1];
static char carol[PIGEON_TOKEN_MAX + 1];
static char root[PIGEON_TOKEN_MAX + 1];

/* "Bearer <token>" for t_http, in a buffer of the caller's. */
static const char *
t_bearer(char *buf, const char *token)
{
	snprintf(buf, 8 + PIGEON_TOKEN_MAX + 1, "Bearer %s", token);
	return buf;
}

static void
t_expect(const char *method, const char *path, const char *token, const char *body, int status,
    const char *want)
{
	char auth[8 + PIGEON_TOKEN_MAX + 1];
	t_answer a;

	t_http(method, path, token != NULL ? t_bearer(auth, token) : NULL, body, &a);
	if (a.status != status || strcmp(a.body, want) != 0)
		fail_msg("%s %s\n  got %d %s\n  want %d %s", method, path, a.status, a.body, status,
		    want);
	/* Every 401 names the scheme; nothing else does. */
	assert_string_equal(a.www_authenticate, status == 401 ? "Bearer" : "");
}

/* POST /login with a password; on 200 checks the answer's form, that the
 * token lives ttl_ms (within a minute), and copies it into token. */
static void
t_login_ttl(const char *user, char *token, int64_t ttl_ms)
{
	char body[256], *end;
	const char *p;
	long long expires;
	int64_t now = clocks_wall_ms();
	t_answer a;

	snprintf(
	    body, sizeof(body), "{\"username\": \"%s\", \"password\": \"%s\"}", user, PASSWORD);
	t_http("POST", "/login", NULL, body, &a);
	if (a.status != 200)
		fail_msg("login %s: %d %s", user, a.status, a.body);
	assert_string_equal(a.content_type, "application/json");
	/* {"token": "p1.<payload>.<tag>", "expires_ms": N}\n */
	assert_true(strncmp(a.body, "{\"token\": \"p1.", 14) == 0);
	p = a.body + 11;
	end = strchr(p, '"');
	assert_non_null(end);
	snprintf(token, PIGEON_TOKEN_MAX + 1, "%.*s", (int)(end - p), p);
	assert_true(strncmp(end, "\", \"expires_ms\": ", 16) == 0);
	expires = strtoll(end + 16, &end, 10);
	assert_string_equal(end, "}\n");
	assert_true(expires >= now + ttl_ms - 60000 && expires <= now + ttl_ms + 60000);
}

/* t_login with pigeond's default lifetime, a day. */
static void
t_login(const char *user, char *token)
{
	t_login_ttl(user, token, 86400000);
}

static long
t_metric(const char *line_start)
{
	char *out, *p, cmd[256];
	int code;
	long v = 0;

	snprintf(cmd, sizeof(cmd), CURL " -s http://127.0.0.1:%d/metrics", env.http_port);
	out = t_sh(cmd, &code);
	if ((p = strstr(out, line_start)) != NULL)
		v = strtol(p + strlen(line_start), NULL, 10);
	free(out);
	return v;
}

typedef struct t_stream {
	t_proc proc;
	char file[300];
} t_stream;

/* curl -N on path with a token, its output to a file of its own. */
static void
t_stream_start(t_stream *s, const char *path, const char *token)
{
	char url[256], auth[8 + PIGEON_TOKEN_MAX + 1];
	char *argv[] = {CURL, "-sN", "--max-time", "60", "-H", auth, url, NULL};

	snprintf(s->file, sizeof(s->file), "%s/stream-%d.txt", env.dir, ++stream_no);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", env.http_port, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	t_proc_start(&s->proc, argv, s->file);
}

static void
t_stream_wait(const t_stream *s, const char *needle)
{
	t_file_has h = {s->file, needle};

	if (!t_wait_for(t_file_holds, &h, 10000)) {
		char *text = t_file_text(s->file);

		fail_msg("stream %s never had \"%s\"; it has:\n%s", s->file, needle, text);
	}
}

/* The stream's frames, comments and keep-alives left out, with each
 * "time_ms" value replaced by X. */
static char *
t_frames(const t_stream *s)
{
	char *text = t_file_text(s->file), *save = NULL, *out, *p;
	size_t n = 0, cap = strlen(text) + 1;

	assert_non_null(out = malloc(cap));
	out[0] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		if (line[0] != ':' && strncmp(line, "retry:", 6) != 0)
			n += (size_t)snprintf(out + n, cap - n, "%s\n", line);
	free(text);
	for (p = out; (p = strstr(p, "\"time_ms\": ")) != NULL;) {
		char *q = p + 11;

		while (*q >= '0' && *q <= '9')
			q++;
		p[11] = 'X';
		memmove(p + 12, q, strlen(q) + 1);
		p += 12;
	}
	return out;
}

static int
t_group_setup(void **state)
{
	static const char *const http_args[] = {
	    "--auth", "required", "--threads", "2", "--events-keepalive", "1", NULL};
	/* A small throttle, so that four failed logins show it. */
	const char *pigeond_args[] = {
	    "--auth", "required", "--auth-key-file", key_file, "--login-fails-max", "3", NULL};
	char cmd[700];
	int code;

	(void)state;
	if (access(CURL, X_OK) != 0)
		return -1;
	t_env_init(&env, "httpauth");
	snprintf(key_file, sizeof(key_file), "%s/auth.key", env.dir);
	snprintf(cmd, sizeof(cmd), "head -c 32 /dev/urandom > '%s' && chmod 600 '%s'", key_file,
	    key_file);
	free(t_sh(cmd, &code));
	if (code != 0)
		return -1;
	t_curl_use(&env);
	t_env_start(&env,
	    &(t_env_opts){.tag = "httpauth",
	        .pigeond_args = pigeond_args,
	        .http = true,
	        .http_args = http_args});
	return 0;
}

static int
t_group_teardown(void **state)
{
	(void)state;
	return t_env_stop(&env) == 0 ? 0 : -1;
}

static void
test_register_and_login(void **state)
{
	static const char short_pw[] = "{\"username\": \"bob\", \"password\": \"short\"}";
	static const char bob_pw[] = "{\"username\": \"bob\", \"password\": \"" PASSWORD "\"}";
	t_answer a;

	(void)state;
	t_expect("POST", "/users", NULL, short_pw, 422,
	    t_error(422, "password must be 8 to 1024 bytes"));
	t_expect("POST", "/users", NULL, "{\"username\": \"bob\"}", 422,
	    t_error(422, "Missing 'password' in the request body"));
	t_expect("POST", "/users", NULL, bob_pw, 201,
	    "{\"username\": \"bob\", \"role\": \"regular\"}\n");
	t_expect("POST", "/users", NULL, bob_pw, 418, t_error(418, "User bob already exists"));
	t_expect("POST", "/users", NULL,
	    "{\"username\": \"carol\", \"password\": \"" PASSWORD "\", \"role\": \"regular\"}", 201,
	    "{\"username\": \"carol\", \"role\": \"regular\"}\n");
	t_expect("POST", "/users", NULL, "{\"username\": \"dave\", \"password\": \"" PASSWORD "\"}",
	    201, "{\"username\": \"dave\", \"role\": \"regular\"}\n");

	t_login("bob", bob);
	t_login("carol", carol);
	assert_string_not_equal(bob, carol);
	/* A wrong password and an unknown user: the same 401. */
	t_http("POST", "/login", NULL,
	    "{\"username\": \"bob\", \"password\": \"not the password\"}", &a);
	assert_int_equal(a.status, 401);
	assert_string_equal(a.www_authenticate, "Bearer");
	assert_string_equal(a.content_type, "application/json");
	assert_string_equal(a.body, t_error(401, "wrong username or password"));
	t_expect("POST", "/login", NULL,
	    "{\"username\": \"nobody\", \"password\": \"" PASSWORD "\"}", 401,
	    t_error(401, "wrong username or password"));
	t_expect("POST", "/login", NULL, "{\"username\": \"bob\"}", 422,
	    t_error(422, "Missing 'password' in the request body"));
}

/* A t_wait_every condition: carol's inbox, read with her token, holds a
 * message. */
static bool
t_carol_has_mail(void *arg)
{
	char auth[8 + PIGEON_TOKEN_MAX + 1];
	t_answer a;

	(void)arg;
	t_http("GET", "/inbound-messages?username=carol", t_bearer(auth, carol), NULL, &a);
	return a.status == 200 && strstr(a.body, "hello carol") != NULL;
}

static void
test_tokens_and_acting_for_others(void **state)
{
	static const char send_to_carol[] =
	    "{\"sender\": \"bob\", \"recipient\": \"carol\", \"content\": \"hello carol\"}";
	static const char *const rpc_401 =
	    "\npigeon_http_rpc_failures_total{status=\"UNAUTHENTICATED\"} ";
	char forged[PIGEON_TOKEN_MAX + 1], longest[8 + PIGEON_TOKEN_MAX + 2];
	char bad[PIGEON_TOKEN_MAX + 9];
	const char *malformed[] = {"Basic Ym9iOnB3", "Bearer", bad, longest};
	long before;
	t_answer a;
	size_t mid;

	(void)state;
	/* A header that cannot hold a token is refused without an RPC: no
	 * UNAUTHENTICATED from pigeond is counted. */
	snprintf(bad, sizeof(bad), "Bearer %s!", bob);
	memcpy(longest, "Bearer ", 7);
	memset(longest + 7, 'a', PIGEON_TOKEN_MAX + 1);
	longest[8 + PIGEON_TOKEN_MAX] = '\0';
	before = t_metric(rpc_401);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		t_http("POST", "/message", malformed[i], send_to_carol, &a);
		assert_int_equal(a.status, 401);
		assert_string_equal(a.www_authenticate, "Bearer");
		assert_string_equal(a.body, t_error(401, MALFORMED));
	}
	assert_int_equal(t_metric(rpc_401), before);
	/* No token at all: pigeond's answer. */
	t_expect("POST", "/message", NULL, send_to_carol, 401, t_error(401, BAD_TOKEN));
	assert_int_equal(t_metric(rpc_401), before + 1);
	/* One character of the signature changed. */
	snprintf(forged, sizeof(forged), "%s", bob);
	mid = strlen(forged) - 20;
	forged[mid] = forged[mid] == 'A' ? 'B' : 'A';
	t_expect("POST", "/message", forged, send_to_carol, 401, t_error(401, BAD_TOKEN));

	/* As oneself, and as another. */
	t_expect("POST", "/message", carol, send_to_carol, 403,
	    t_error(403, "sending as another user needs that user or an admin"));
	t_expect("POST", "/message", bob, send_to_carol, 200,
	    "{\"content\": \"hello carol\", \"id\": 1, \"recipient\": \"carol\", \"sender\": "
	    "\"bob\"}\n");
	t_expect("GET", "/inbound-messages?username=carol", bob, NULL, 403,
	    t_error(403, "reading another user's inbox needs that user or an admin"));
	t_expect("GET", "/user-stats?username=carol", bob, NULL, 403,
	    t_error(403, "reading another user's stats needs that user or an admin"));
	/* The worker delivers in the background. */
	assert_true(t_wait_every(t_carol_has_mail, NULL, 50, 10000));
	t_expect("GET", "/inbound-messages?username=carol", carol, NULL, 200,
	    "{\"inbound_messages\": [{\"content\": \"hello carol\", \"id\": 1, \"recipient\": "
	    "\"carol\", \"sender\": \"bob\"}], \"next_cursor\": 0}\n");
	/* Any valid token reads the leaderboards and who is online. */
	t_expect("GET", "/spammer-stats", bob, NULL, 200, "{\"spammers\": []}\n");
	t_expect("GET", "/spammer-stats", NULL, NULL, 401, t_error(401, BAD_TOKEN));
	t_expect("GET", "/online-users", carol, NULL, 200,
	    "{\"online_users\": [\"bob\", \"carol\"], \"next_cursor\": \"\"}\n");
	/* The journal is an admin's. */
	t_expect("GET", "/event-journal", bob, NULL, 403,
	    t_error(403, "reading the event journal needs an admin"));
}

/* pigeond --create-admin root against the env's Redis, then its login. */
static void
test_admin(void **state)
{
	static const char root2[] =
	    "{\"username\": \"root2\", \"password\": \"" PASSWORD "\", \"role\": \"admin\"}";
	char cmd[1200], pwfile[300];
	char *out;
	int code;
	FILE *f;

	(void)state;
	snprintf(pwfile, sizeof(pwfile), "%s/root.pw", env.dir);
	assert_non_null(f = fopen(pwfile, "w"));
	fprintf(f, "%s\n", PASSWORD);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	    "'%s' --redis-url '%s' --auth required --create-admin root --password-file '%s' "
	    "2>>'%s/create-admin.log'",
	    getenv("PIGEOND"), env.redis.url, pwfile, env.dir);
	out = t_sh(cmd, &code);
	assert_int_equal(code, 0);
	assert_string_equal(out, "admin root created\n");
	free(out);
	t_login("root", root);

	t_expect("GET", "/event-journal", root, NULL, 200,
	    "{\"events\": [\"LOGIN: root\", \"LOGIN: carol\", \"LOGIN: bob\"], "
	    "\"next_cursor\": 0}\n");
	t_expect("GET", "/inbound-messages?username=carol", root, NULL, 200,
	    "{\"inbound_messages\": [{\"content\": \"hello carol\", \"id\": 1, \"recipient\": "
	    "\"carol\", \"sender\": \"bob\"}], \"next_cursor\": 0}\n");
	/* Registering an admin takes an admin. */
	t_expect("POST", "/users", NULL, root2, 401, t_error(401, BAD_TOKEN));
	t_expect(
	    "POST", "/users", bob, root2, 403, t_error(403, "registering an admin needs an admin"));
	t_expect(
	    "POST", "/users", root, root2, 201, "{\"username\": \"root2\", \"role\": \"admin\"}\n");
}

static void
test_events_carry_the_users_inbox_and_an_admins_journal(void **state)
{
	static const char *const second =
	    "{\"sender\": \"bob\", \"recipient\": \"carol\", \"content\": \"second\"}";
	static const char *const third =
	    "{\"sender\": \"bob\", \"recipient\": \"carol\", \"content\": \"third\"}";
	char again[PIGEON_TOKEN_MAX + 1], *frames;
	t_stream user, admin;

	(void)state;
	t_expect("GET", "/events", NULL, NULL, 401, t_error(401, BAD_TOKEN));
	t_expect("GET", "/events?username=carol", "p1.a!", NULL, 401, t_error(401, MALFORMED));
	t_expect("GET", "/events", carol, NULL, 422,
	    t_error(422, "Missing 'username' in the query string"));
	t_expect("GET", "/events?username=carol", bob, NULL, 403,
	    t_error(403, "reading another user's inbox needs that user or an admin"));
	t_expect("GET", "/events?username=nobody", root, NULL, 404,
	    t_error(404, "Couldn't find user with username nobody"));

	t_stream_start(&user, "/events?username=carol", carol);
	t_stream_start(&admin, "/events?username=root", root);
	t_stream_wait(&user, ": connected");
	t_stream_wait(&admin, ": connected");
	/* A delivery to carol, then a journal event (bob logs in again), then
	 * another delivery: the journal's comes between the two on the pub
	 * socket, so the user's stream would hold it if it took the journal. */
	t_expect("POST", "/message", bob, second, 200,
	    "{\"content\": \"second\", \"id\": 2, \"recipient\": \"carol\", \"sender\": "
	    "\"bob\"}\n");
	t_stream_wait(&user, "\"message_id\": 2");
	t_login("bob", again);
	t_stream_wait(&admin, "LOGIN: bob");
	t_expect("POST", "/message", bob, third, 200,
	    "{\"content\": \"third\", \"id\": 3, \"recipient\": \"carol\", \"sender\": \"bob\"}\n");
	t_stream_wait(&user, "\"message_id\": 3");

	frames = t_frames(&user);
	assert_string_equal(frames,
	    "event: DELIVERED\n"
	    "data: {\"sequence\": 0, \"type\": \"DELIVERED\", \"time_ms\": X, \"username\": "
	    "\"bob\", "
	    "\"recipient\": \"carol\", \"message_id\": 2, \"reason\": \"\", \"text\": \"\"}\n"
	    "event: DELIVERED\n"
	    "data: {\"sequence\": 0, \"type\": \"DELIVERED\", \"time_ms\": X, \"username\": "
	    "\"bob\", "
	    "\"recipient\": \"carol\", \"message_id\": 3, \"reason\": \"\", \"text\": \"\"}\n");
	free(frames);
	/* root's stream: the journal from when it opened (root's own inbox
	 * got nothing). */
	frames = t_frames(&admin);
	assert_string_equal(frames,
	    "id: 4\n"
	    "event: LOGIN\n"
	    "data: {\"sequence\": 4, \"type\": \"LOGIN\", \"time_ms\": X, \"username\": \"bob\", "
	    "\"recipient\": \"\", \"message_id\": 0, \"reason\": \"\", \"text\": \"LOGIN: "
	    "bob\"}\n");
	free(frames);
	t_proc_stop(&user.proc, SIGTERM);
	t_proc_stop(&admin.proc, SIGTERM);
}

/* Heartbeat and MarkRead act only for oneself; GetUser takes any user's
 * token.  carol reads bob's three messages: bob's stream, with his token,
 * carries one READ per message, and no other user's. */
static void
test_presence_and_reads_act_only_for_oneself(void **state)
{
	static const char *const carol_reads = "{\"username\": \"carol\", \"up_to_id\": 3}";
	char *frames;
	t_stream sender;

	(void)state;
	t_expect("POST", "/heartbeat", NULL, "{\"username\": \"bob\"}", 401,
	    t_error(401, BAD_TOKEN));
	t_expect("POST", "/heartbeat", carol, "{\"username\": \"bob\"}", 403,
	    t_error(403, "keeping another user's session alive needs that user or an admin"));
	t_expect("POST", "/read", NULL, carol_reads, 401, t_error(401, BAD_TOKEN));
	t_expect("POST", "/read", bob, carol_reads, 403,
	    t_error(403, "reading another user's messages needs that user or an admin"));
	t_expect("GET", "/users/bob", NULL, NULL, 401, t_error(401, BAD_TOKEN));
	t_expect("GET", "/users/nobody", carol, NULL, 404,
	    t_error(404, "Couldn't find user with username nobody"));

	t_stream_start(&sender, "/events?username=bob", bob);
	t_stream_wait(&sender, ": connected");
	t_expect("POST", "/read", carol, carol_reads, 200, "{\"unread\": 0}\n");
	t_stream_wait(&sender, "\"message_id\": 3");
	frames = t_frames(&sender);
	assert_string_equal(frames,
	    "event: READ\n"
	    "data: {\"sequence\": 0, \"type\": \"READ\", \"time_ms\": X, \"username\": \"bob\", "
	    "\"recipient\": \"carol\", \"message_id\": 1, \"reason\": \"\", \"text\": \"\"}\n"
	    "event: READ\n"
	    "data: {\"sequence\": 0, \"type\": \"READ\", \"time_ms\": X, \"username\": \"bob\", "
	    "\"recipient\": \"carol\", \"message_id\": 2, \"reason\": \"\", \"text\": \"\"}\n"
	    "event: READ\n"
	    "data: {\"sequence\": 0, \"type\": \"READ\", \"time_ms\": X, \"username\": \"bob\", "
	    "\"recipient\": \"carol\", \"message_id\": 3, \"reason\": \"\", \"text\": \"\"}\n");
	free(frames);
	t_proc_stop(&sender.proc, SIGTERM);
}

static void
test_logout_and_revoked_sessions(void **state)
{
	char second[PIGEON_TOKEN_MAX + 1];

	(void)state;
	/* Users logging out revoke the token they send. */
	t_expect("POST", "/logout", bob, "{\"username\": \"bob\"}", 200, "Logged out.");
	t_expect("GET", "/user-stats?username=bob", bob, NULL, 401, t_error(401, BAD_TOKEN));
	t_login("bob", bob);
	t_expect("GET", "/user-stats?username=bob", bob, NULL, 200,
	    "{\"being_spam_checked\": 0, \"delivered\": 3, \"enqueued\": 0, \"marked_as_spam\": "
	    "0, \"unread\": 0}\n");

	/* Revoking sessions ends every token of the user at once. */
	t_login("carol", second);
	t_expect("POST", "/revoke-sessions", bob, "{\"username\": \"carol\"}", 403,
	    t_error(403, "revoking another user's sessions needs that user or an admin"));
	t_expect("POST", "/revoke-sessions", carol, "{\"username\": \"carol\"}", 200,
	    "{\"username\": \"carol\", \"generation\": 1}\n");
	t_expect("GET", "/user-stats?username=carol", second, NULL, 401, t_error(401, BAD_TOKEN));
	t_expect("GET", "/user-stats?username=carol", carol, NULL, 401, t_error(401, BAD_TOKEN));
}

static void
test_failed_logins_are_throttled(void **state)
{
	(void)state;
	/* pigeond runs with --login-fails-max 3. */
	for (int i = 0; i < 3; i++)
		t_expect("POST", "/login", NULL,
		    "{\"username\": \"dave\", \"password\": \"not the password\"}", 401,
		    t_error(401, "wrong username or password"));
	t_expect("POST", "/login", NULL, "{\"username\": \"dave\", \"password\": \"" PASSWORD "\"}",
	    429, t_error(429, "too many failed logins for this username; try again later"));
}

static bool
bridge_reaches_pigeond(void *arg)
{
	t_answer a;

	(void)arg;
	t_http("GET", "/healthz", NULL, NULL, &a);
	return a.status == 200;
}

/* pigeond started again, as the group's but for the key arguments. */
static void
restart_pigeond(const char *key, const char *previous, const char *ttl_ms)
{
	const char *args[12] = {"--auth", "required", "--auth-key-file", key,
	    "--login-fails-max", "3"};
	int n = 6;

	if (previous != NULL) {
		args[n++] = "--auth-key-file-previous";
		args[n++] = previous;
	}
	if (ttl_ms != NULL) {
		args[n++] = "--token-ttl-ms";
		args[n++] = ttl_ms;
	}
	args[n] = NULL;
	assert_int_equal(t_pigeond_stop(&env.pigeond), 0);
	t_env_pigeond_start(&env, args);
	assert_true(t_wait_every(bridge_reaches_pigeond, NULL, 100, 30000));
}

static bool
bobs_token_refused(void *arg)
{
	t_answer a;
	char auth[8 + PIGEON_TOKEN_MAX + 1];

	snprintf(auth, sizeof(auth), "Bearer %s", (const char *)arg);
	t_http("GET", "/user-stats?username=bob", auth, NULL, &a);
	return a.status == 401;
}

/* A token from another key, rotation with the previous key, and an expired
 * token: 401, 200 and 401 through the bridge as over RPC. */
static void
test_other_key_rotation_and_expiry(void **state)
{
	char key2[320], cmd[700], short_lived[PIGEON_TOKEN_MAX + 1];
	int code;

	(void)state;
	snprintf(key2, sizeof(key2), "%s/auth2.key", env.dir);
	snprintf(cmd, sizeof(cmd), "head -c 48 /dev/urandom > '%s' && chmod 600 '%s'", key2, key2);
	free(t_sh(cmd, &code));
	assert_int_equal(code, 0);
	restart_pigeond(key2, NULL, NULL);
	t_expect("GET", "/user-stats?username=bob", bob, NULL, 401, t_error(401, BAD_TOKEN));
	restart_pigeond(key2, key_file, NULL);
	t_expect("GET", "/user-stats?username=bob", bob, NULL, 200,
	    "{\"being_spam_checked\": 0, \"delivered\": 3, \"enqueued\": 0, \"marked_as_spam\": "
	    "0, \"unread\": 0}\n");
	/* A token valid for a second expires while the test waits. */
	restart_pigeond(key2, NULL, "1000");
	t_login_ttl("bob", short_lived, 1000);
	assert_true(t_wait_every(bobs_token_refused, short_lived, 100, 30000));
	t_expect("GET", "/user-stats?username=bob", short_lived, NULL, 401, t_error(401, BAD_TOKEN));
	/* The group's pigeond again, its tokens good again. */
	restart_pigeond(key_file, NULL, NULL);
	t_expect("GET", "/user-stats?username=bob", bob, NULL, 200,
	    "{\"being_spam_checked\": 0, \"delivered\": 3, \"enqueued\": 0, \"marked_as_spam\": "
	    "0, \"unread\": 0}\n");
}

static void
test_no_token_or_password_in_log_or_metrics(void **state)
{
	char path[300], cmd[256], *log, *metrics;
	int code;

	(void)state;
	snprintf(path, sizeof(path), "%s/pigeon-http.log", env.dir);
	log = t_file_text(path);
	snprintf(cmd, sizeof(cmd), CURL " -s http://127.0.0.1:%d/metrics", env.http_port);
	metrics = t_sh(cmd, &code);
	/* The log has a line per request, the metrics a series per status. */
	assert_non_null(strstr(log, "path=/login status=200"));
	assert_non_null(strstr(metrics, "route=\"/login\",status=\"401\""));
	assert_null(strstr(log, "p1."));
	assert_null(strstr(metrics, "p1."));
	assert_null(strstr(log, PASSWORD));
	free(metrics);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_and_login),
	    cmocka_unit_test(test_tokens_and_acting_for_others),
	    cmocka_unit_test(test_admin),
	    cmocka_unit_test(test_events_carry_the_users_inbox_and_an_admins_journal),
	    cmocka_unit_test(test_presence_and_reads_act_only_for_oneself),
	    cmocka_unit_test(test_logout_and_revoked_sessions),
	    cmocka_unit_test(test_failed_logins_are_throttled),
	    cmocka_unit_test(test_other_key_rotation_and_expiry),
	    cmocka_unit_test(test_no_token_or_password_in_log_or_metrics),
	    cmocka_unit_test(t_test_answers_match_openapi),
	};

	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
