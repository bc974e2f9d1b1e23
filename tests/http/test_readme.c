/* SPDX-License-Identifier: MIT */
/*
 * pigeon-http against a real pigeond and redis-server, with curl as the
 * client.  The original README's curl commands run verbatim (their
 * localhost:5000 is pointed at the test's port by a .curlrc connect-to, so
 * not a character of them changes) and every answer is checked against
 * docs/http.md byte for byte.  Then the bridge's own rows: errors as JSON,
 * paging, the spam path, the limits, /healthz and /metrics, the access log,
 * pigeond too slow (504) and gone (503), and last every answer above
 * validated against /openapi.json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include <cmocka.h>

#include "harness.h"

static t_env env;
/* Every answer, for the OpenAPI check. */
static char answers[300];

typedef struct t_answer {
	int status;
	char content_type[128];
	/* The body exactly as received. */
	char body[65536];
	int64_t ms;
} t_answer;

/* Runs one shell command line (a curl command) with bash, and splits its
 * output into the body and what .curlrc's write-out appends.  Every answer
 * is also appended to the answers file for the OpenAPI check. */
static void
t_curl(const char *cmdline, t_answer *a)
{
	char script[300], cmd[400], *end, *meta;
	size_t n;
	FILE *f;

	memset(a, 0, sizeof(*a));
	snprintf(script, sizeof(script), "%s/cmd.sh", env.dir);
	assert_non_null(f = fopen(script, "w"));
	fprintf(f, "%s\n", cmdline);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "/bin/bash %s", script);
	a->ms = t_now_ms();
	assert_non_null(f = popen(cmd, "r"));
	n = fread(a->body, 1, sizeof(a->body) - 1, f);
	pclose(f);
	a->ms = t_now_ms() - a->ms;
	a->body[n] = '\0';
	/* write-out: "\n@@@ <status> <method> <url> <content-type>" */
	assert_non_null(meta = strstr(a->body, "\n@@@ "));
	*meta = '\0';
	meta += 5;
	a->status = (int)strtol(meta, &end, 10);
	{
		char method[16], url[4096], ct[128] = "";
		FILE *log;

		if (sscanf(end, " %15s %4095s %127[^\n]", method, url, ct) < 2)
			fail_msg("cannot parse curl's write-out: %s", meta);
		snprintf(a->content_type, sizeof(a->content_type), "%s", ct);
		assert_non_null(log = fopen(answers, "a"));
		/* One record per line: tab-separated, the body last, its
		 * newlines escaped by the reader's convention \n -> \x01. */
		for (char *p = a->body; *p != '\0'; p++)
			if (*p == '\n')
				*p = '\x01';
		fprintf(log, "%s\t%s\t%03d\t%s\t%s\n", method, url, a->status, a->content_type,
		    a->body);
		for (char *p = a->body; *p != '\0'; p++)
			if (*p == '\x01')
				*p = '\n';
		fclose(log);
	}
}

static void
t_expect(const char *cmdline, int status, const char *body)
{
	t_answer a;

	t_curl(cmdline, &a);
	if (a.status != status || (body != NULL && strcmp(a.body, body) != 0))
		fail_msg("%s\n  got %d %s\n  want %d %s", cmdline, a.status, a.body, status,
		    body != NULL ? body : "(any)");
}

static void
t_expect_error(const char *cmdline, int status, const char *reason, const char *message)
{
	char want[1024];

	snprintf(want, sizeof(want), "{\"code\": %d, \"status\": \"%s\", \"message\": \"%s\"}\n",
	    status, reason, message);
	t_expect(cmdline, status, want);
}

typedef struct body_has {
	const char *cmdline;
	const char *needle;
} body_has;

static bool
t_body_has(void *arg)
{
	body_has *b = arg;
	t_answer a;

	t_curl(b->cmdline, &a);
	return a.status == 200 && strstr(a.body, b->needle) != NULL;
}

static int
t_group_setup(void **state)
{
	static const char *const http_args[] = {"--deadline-ms", "1000", "--threads", "2", NULL};
	/* TCP, as tools/run starts it: the address survives a restart of
	 * pigeond (an ipc:// socket's dir goes with the process). */
	t_env_opts o = {.tag = "http", .rpc_tcp = true, .http = true, .http_args = http_args};
	FILE *f;
	char rc[300];

	t_env_start(&env, &o);
	snprintf(answers, sizeof(answers), "%s/answers.tsv", env.dir);
	/* curl reads $CURL_HOME/.curlrc before each command line. */
	snprintf(rc, sizeof(rc), "%s/.curlrc", env.dir);
	if ((f = fopen(rc, "w")) == NULL)
		return -1;
	fprintf(f, "silent\nshow-error\nmax-time = 10\n"
		   "connect-to = localhost:5000:127.0.0.1:%d\n"
		   "write-out = \"\\n@@@ %%{http_code} %%{method} %%{url_effective} "
		   "%%{content_type}\"\n",
	    env.http_port);
	fclose(f);
	setenv("CURL_HOME", env.dir, 1);
	return 0;
}

static int
t_group_teardown(void **state)
{
	return t_env_stop(&env) == 0 ? 0 : -1;
}

/* The README's commands, in its order, verbatim. */
static const char readme_login[] =
    "curl -X \"POST\" \"http://localhost:5000/login\" \\\n"
    "     -H 'Content-Type: application/json; charset=utf-8' \\\n"
    "     -d $'{\n"
    "  \"username\": \"flain1\"\n"
    "}'";
static const char readme_logout[] =
    "curl -X \"POST\" \"http://localhost:5000/logout\" \\\n"
    "     -H 'Content-Type: application/json; charset=utf-8' \\\n"
    "     -d $'{\n"
    "  \"username\": \"flain1\"\n"
    "}'";
static const char readme_send[] =
    "curl -X \"POST\" \"http://localhost:5000/message\" \\\n"
    "     -H 'Content-Type: application/json; charset=utf-8' \\\n"
    "     -d $'{\n"
    "  \"content\": \"My message\",\n"
    "  \"recipient\": \"Ilya\",\n"
    "  \"sender\": \"flain1\"\n"
    "}'";
static const char readme_reply[] =
    "curl -X \"POST\" \"http://localhost:5000/message\" \\\n"
    "     -H 'Content-Type: application/json; charset=utf-8' \\\n"
    "     -d $'{\n"
    "  \"content\": \"My reply\",\n"
    "  \"recipient\": \"flain1\",\n"
    "  \"sender\": \"Ilya\"\n"
    "}'";
static const char readme_user_stats[] =
    "curl \"http://localhost:5000/user-stats?username=Dizzzmas\"";
static const char readme_inbound[] =
    "curl \"http://localhost:5000/inbound-messages?username=flain1\" \\\n"
    "     -H 'Content-Type: application/json; charset=utf-8' \\\n"
    "     -d $'{}'";
static const char readme_spammers[] = "curl \"http://localhost:5000/spammer-stats\"";
static const char readme_chatters[] = "curl \"http://localhost:5000/chatter-stats\"";
static const char readme_online[] = "curl \"http://localhost:5000/online-users\"";
static const char readme_journal[] = "curl \"http://localhost:5000/event-journal\"";

static void
test_readme_commands_answer_as_the_original(void **state)
{
	body_has delivered = {"curl \"http://localhost:5000/user-stats?username=Ilya\"",
		"\"delivered\": 1"};

	t_expect(readme_login, 200, "Logged in.");
	t_expect(readme_logout, 200, "Logged out.");
	t_expect(readme_send, 200,
	    "{\"content\": \"My message\", \"id\": 1, \"recipient\": \"Ilya\", \"sender\": "
	    "\"flain1\"}\n");
	t_expect(readme_reply, 200,
	    "{\"content\": \"My reply\", \"id\": 2, \"recipient\": \"flain1\", \"sender\": "
	    "\"Ilya\"}\n");
	t_expect(readme_user_stats, 200,
	    "{\"being_spam_checked\": 0, \"delivered\": 0, \"enqueued\": 0, \"marked_as_spam\": "
	    "0, \"unread\": 0}\n");
	assert_true(t_wait_for(t_body_has, &delivered, 10000));
	t_expect(readme_inbound, 200,
	    "{\"inbound_messages\": [{\"content\": \"My reply\", \"id\": 2, \"recipient\": "
	    "\"flain1\", \"sender\": \"Ilya\"}], \"next_cursor\": 0}\n");
	t_expect(readme_spammers, 200, "{\"spammers\": []}\n");
	t_expect(readme_online, 200, "{\"online_users\": [], \"next_cursor\": \"\"}\n");
	t_expect(readme_journal, 200,
	    "{\"events\": [\"LOGOUT: flain1\", \"LOGIN: flain1\"], \"next_cursor\": 0}\n");
}

static bool
t_both_delivered(void *arg)
{
	body_has b = {readme_chatters, "\"chatters\": [[\"Ilya\", 1.0], [\"flain1\", 1.0]]"};

	return t_body_has(&b);
}

static void
test_chatter_stats_count_delivered_messages_as_floats(void **state)
{
	assert_true(t_wait_for(t_both_delivered, NULL, 10000));
	t_expect(readme_chatters, 200, "{\"chatters\": [[\"Ilya\", 1.0], [\"flain1\", 1.0]]}\n");
}

static void
test_the_originals_errors(void **state)
{
	t_expect(readme_login, 200, "Logged in.");
	t_expect_error(readme_login, 418, "I'm a teapot", "User flain1 is already logged in.");
	t_expect(readme_logout, 200, "Logged out.");
	t_expect_error(readme_logout, 418, "I'm a teapot", "User flain1 isn't logged in.");
	t_expect_error("curl -X POST http://localhost:5000/login -d '{\"username\": \"nobody\"}'",
	    404, "Not Found", "Couldn't find user with username nobody");
	t_expect_error("curl -X POST http://localhost:5000/logout -d '{}'", 422,
	    "Unprocessable Entity", "Missing 'username' in the request body");
	t_expect_error("curl -X POST http://localhost:5000/message -d '{\"sender\": \"Ilya\", "
		       "\"recipient\": \"flain1\", \"content\": \"\"}'",
	    422, "Unprocessable Entity", "Missing field in request body");
}

static void
test_the_bridge_does_better(void **state)
{
	t_answer a;

	/* JSON whatever the Content-Type. */
	t_expect("curl -X POST http://localhost:5000/login -H 'Content-Type: text/plain' "
		 "-d '{\"username\": \"Alice\"}'",
	    200, "Logged in.");
	t_curl("curl -X POST http://localhost:5000/login -d 'username=Alice'", &a);
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(a.body, "\"message\": \"Request body is not valid JSON"));
	t_expect_error("curl http://localhost:5000/user-stats", 422, "Unprocessable Entity",
	    "Missing 'username' in the query string");
	t_expect_error("curl http://localhost:5000/inbound-messages", 422, "Unprocessable Entity",
	    "Missing 'username' in the query string");
	t_expect_error("curl http://localhost:5000/nowhere", 404, "Not Found",
	    "The requested URL was not found on the server");
	t_expect_error("curl -X POST http://localhost:5000/message -d '{\"sender\": \"Ilya\", "
		       "\"recipient\": \"nobody\", \"content\": \"hi\"}'",
	    404, "Not Found", "Couldn't find user with username nobody");
	t_curl("curl -X POST http://localhost:5000/login -d '{\"username\": \"a\", \"username\": "
	       "\"b\"}'",
	    &a);
	assert_int_equal(a.status, 400);
	t_curl("curl -X POST http://localhost:5000/login -d '{\"username\": \"a\\u0000b\"}'", &a);
	assert_int_equal(a.status, 400);
	/* Deep but well under the body cap, so the nesting is what is refused. */
	t_curl("curl -X POST http://localhost:5000/login --data-binary \"{\\\"a\\\":$(printf "
	       "'[%.0s' $(seq 10000))\"",
	    &a);
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(a.body, "nested deeper than 32 levels"));
}

static void
test_spam_is_blocked_and_counted(void **state)
{
	body_has spam = {readme_spammers, "[\"Malory\", 1.0]"};
	body_has journal = {readme_journal, "by Malory\""};
	t_answer a;

	t_curl("curl -X POST http://localhost:5000/message -d '{\"sender\": \"Malory\", "
	       "\"recipient\": \"Ilya\", \"content\": \"buy now\"}'",
	    &a);
	assert_int_equal(a.status, 200);
	assert_true(t_wait_for(t_body_has, &spam, 10000));
	assert_true(t_wait_for(t_body_has, &journal, 10000));
	t_curl("curl \"http://localhost:5000/user-stats?username=Malory\"", &a);
	assert_string_equal(a.body, "{\"being_spam_checked\": 0, \"delivered\": 0, \"enqueued\": 0, "
				    "\"marked_as_spam\": 1, \"unread\": 0}\n");
	t_curl(readme_inbound, &a);
	assert_null(strstr(a.body, "buy now"));
}

static void
test_paging_and_registration(void **state)
{
	t_answer a;
	char cmd[256], *p;
	long cursor;

	t_expect("curl -X POST http://localhost:5000/users -d '{\"username\": \"pager\"}'", 201,
	    "{\"username\": \"pager\", \"role\": \"regular\"}\n");
	t_curl("curl -X POST http://localhost:5000/users -d '{\"username\": \"pager\"}'", &a);
	assert_int_equal(a.status, 418);
	t_curl("curl \"http://localhost:5000/event-journal?limit=1\"", &a);
	assert_int_equal(a.status, 200);
	assert_non_null(p = strstr(a.body, "\"next_cursor\": "));
	cursor = strtol(p + 15, NULL, 10);
	assert_true(cursor > 0);
	snprintf(cmd, sizeof(cmd), "curl \"http://localhost:5000/event-journal?limit=1&after=%ld\"",
	    cursor);
	t_curl(cmd, &a);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.body, "\"events\": [\""));
	t_expect("curl -H 'Idempotency-Key: k1' -X POST http://localhost:5000/message -d "
		 "'{\"sender\": \"Alice\", \"recipient\": \"Ilya\", \"content\": \"once\"}'",
	    200, NULL);
	{
		t_answer b;

		t_curl("curl -H 'Idempotency-Key: k1' -X POST http://localhost:5000/message -d "
		       "'{\"sender\": \"Alice\", \"recipient\": \"Ilya\", \"content\": \"once\"}'",
		    &b);
		t_curl("curl -H 'Idempotency-Key: k1' -X POST http://localhost:5000/message -d "
		       "'{\"sender\": \"Alice\", \"recipient\": \"Ilya\", \"content\": \"once\"}'",
		    &a);
		assert_string_equal(a.body, b.body);
	}
}

static void
test_limits(void **state)
{
	t_answer a;

	t_curl("curl -X POST http://localhost:5000/message -H 'Content-Length: 104857600' "
	       "-H 'Expect:' -d '{}'",
	    &a);
	assert_int_equal(a.status, 413);
	assert_true(a.ms < 2000);
	t_curl("curl -X POST http://localhost:5000/message -H 'Content-Length: 104857600' -d '{}'",
	    &a);
	assert_int_equal(a.status, 413);
	assert_true(a.ms < 2000);
	/* A 100 KB URI: 414, or the connection closed (status 000). */
	t_curl("curl \"http://localhost:5000/user-stats?username=$(head -c 100000 /dev/zero | tr "
	       "'\\0' a)\"",
	    &a);
	assert_true(a.status == 414 || a.status == 0);
	t_curl("curl http://localhost:5000/online-users -H \"X-Big: $(head -c 100000 /dev/zero | tr "
	       "'\\0' a)\"",
	    &a);
	assert_true(a.status == 431 || a.status == 413 || a.status == 0);
	t_expect("curl http://localhost:5000/online-users", 200, NULL);
}

/* The limits of a message, pigeond's defaults: 65,536 bytes of content,
 * and the bridge's body cap derived from it, 6 x 65,536 + 4096. */
#define T_CONTENT_MAX 65536
#define T_BODY_MAX (6 * T_CONTENT_MAX + 4096)

/* Writes a message body from Alice to `to` into dir/name: content of n
 * bytes, each written as esc ("a" cycles through a sentence instead), then
 * `pad` spaces before the closing brace.  Returns the content as it will be
 * stored (malloc'd), and the body's length in *body_len. */
static char *
t_write_message(const char *name, const char *to, size_t n, const char *esc, size_t pad,
    size_t *body_len)
{
	static const char sentence[] = "a pigeon carries this message over the hills, ";
	char path[400];
	char *content;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", env.dir, name);
	assert_non_null(content = malloc(n + 1));
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "{\"sender\": \"Alice\", \"recipient\": \"%s\", \"content\": \"", to);
	for (size_t i = 0; i < n; i++) {
		content[i] = esc != NULL ? '\x01' : sentence[i % (sizeof(sentence) - 1)];
		if (esc != NULL)
			fputs(esc, f);
		else
			fputc(content[i], f);
	}
	content[n] = '\0';
	fputc('"', f);
	for (size_t i = 0; i < pad; i++)
		fputc(' ', f);
	fputc('}', f);
	*body_len = (size_t)ftell(f);
	fclose(f);
	return content;
}

/* Runs a curl command line with the answer's body written to dir/out;
 * returns the HTTP status and the body (malloc'd) in *body. */
static int
t_curl_big(const char *args, char **body)
{
	char cmd[1024], path[400], code[16] = "";
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/out", env.dir);
	snprintf(cmd, sizeof(cmd), "curl -o %s -w '%%{http_code}' %s", path, args);
	assert_non_null(f = popen(cmd, "r"));
	if (fgets(code, sizeof(code), f) == NULL)
		code[0] = '\0';
	pclose(f);
	assert_non_null(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	assert_non_null(*body = malloc((size_t)len + 1));
	assert_int_equal(fread(*body, 1, (size_t)len, f), (size_t)len);
	(*body)[len] = '\0';
	fclose(f);
	return atoi(code);
}

/* The JSON of a string as the bridge writes it: escapes only for the
 * content t_write_message makes (a sentence, or \x01). */
static char *
t_json_content(const char *content)
{
	size_t n = strlen(content);
	char *out = malloc(6 * n + 1), *p = out;

	assert_non_null(out);
	for (size_t i = 0; i < n; i++)
		if (content[i] == '\x01')
			p += sprintf(p, "\\u0001");
		else
			*p++ = content[i];
	*p = '\0';
	return out;
}

typedef struct inbox_has {
	const char *user;
	const char *want;
} inbox_has;

static bool
t_inbox_is(void *arg)
{
	inbox_has *h = arg;
	char args[256], *body;
	bool same;

	snprintf(args, sizeof(args), "\"http://localhost:5000/inbound-messages?username=%s\"",
	    h->user);
	same = t_curl_big(args, &body) == 200 && strcmp(body, h->want) == 0;
	free(body);
	return same;
}

/* Sends content from Alice to a new user `to` with curl (its body from
 * file `name`), expects 200 with the message echoed, then waits until the
 * user's inbox holds exactly that message. */
static void
t_send_and_deliver(const char *name, const char *to, const char *content)
{
	char args[512], *body, *json, *want, *p;
	unsigned long long id;
	size_t cap;
	inbox_has inbox = {to, NULL};

	snprintf(args, sizeof(args), "curl -X POST http://localhost:5000/users -d '{\"username\": "
				     "\"%s\"}'",
	    to);
	t_expect(args, 201, NULL);
	snprintf(args, sizeof(args), "-X POST http://localhost:5000/message --data-binary @%s/%s",
	    env.dir, name);
	assert_int_equal(t_curl_big(args, &body), 200);
	json = t_json_content(content);
	/* {"content": "...", "id": N, "recipient": "to", "sender": "Alice"} */
	assert_int_equal(strncmp(body, "{\"content\": \"", 13), 0);
	assert_int_equal(strncmp(body + 13, json, strlen(json)), 0);
	p = body + 13 + strlen(json);
	assert_int_equal(sscanf(p, "\", \"id\": %llu,", &id), 1);
	cap = strlen(json) + 256;
	assert_non_null(want = malloc(cap));
	snprintf(want, cap, "{\"content\": \"%s\", \"id\": %llu, \"recipient\": \"%s\", "
			    "\"sender\": \"Alice\"}\n",
	    json, id, to);
	assert_string_equal(body, want);
	free(body);
	snprintf(want, cap, "{\"inbound_messages\": [{\"content\": \"%s\", \"id\": %llu, "
			    "\"recipient\": \"%s\", \"sender\": \"Alice\"}], \"next_cursor\": 0}\n",
	    json, id, to);
	inbox.want = want;
	assert_true(t_wait_for(t_inbox_is, &inbox, 10000));
	free(want);
	free(json);
}

/* Content of exactly the limit, ASCII, through curl: 200, and delivered
 * unchanged.  One byte more: 413 with the limit, from the bridge. */
static void
test_content_at_the_limit_is_delivered_and_one_byte_more_is_413(void **state)
{
	char cmd[512], *content;
	size_t len;

	content = t_write_message("limit.json", "limitbox", T_CONTENT_MAX, NULL, 0, &len);
	assert_int_equal(strlen(content), T_CONTENT_MAX);
	t_send_and_deliver("limit.json", "limitbox", content);
	free(content);

	free(t_write_message("over.json", "limitbox", T_CONTENT_MAX + 1, NULL, 0, &len));
	snprintf(cmd, sizeof(cmd),
	    "curl -X POST http://localhost:5000/message --data-binary @%s/over.json", env.dir);
	t_expect_error(cmd, 413, "Request Entity Too Large",
	    "content is larger than the limit of 65536 bytes");
}

/* The body cap fits the content limit however the content is escaped:
 * 65,536 bytes each written \u0001 (6 bytes) are delivered.  A body one byte
 * over the cap, the same message padded with spaces, is 413 unread. */
static void
test_body_cap_fits_the_most_escaped_content_and_a_byte_more_is_413(void **state)
{
	char cmd[512], *content;
	size_t len;

	content = t_write_message("escaped.json", "escapebox", T_CONTENT_MAX, "\\u0001", 0, &len);
	assert_true(len > 6 * T_CONTENT_MAX && len <= T_BODY_MAX);
	t_send_and_deliver("escaped.json", "escapebox", content);
	free(content);

	free(t_write_message("padded.json", "escapebox", T_CONTENT_MAX, "\\u0001",
	    T_BODY_MAX + 1 - len, &len));
	assert_int_equal(len, T_BODY_MAX + 1);
	/* With Expect, as clients send large bodies (curl itself only from 1
	 * MiB): without, the bridge's close races curl's upload and curl may
	 * see the reset before the answer. */
	snprintf(cmd, sizeof(cmd),
	    "curl -X POST http://localhost:5000/message -H 'Expect: 100-continue' "
	    "--data-binary @%s/padded.json",
	    env.dir);
	t_expect_error(cmd, 413, "Request Entity Too Large",
	    "Request body is larger than the limit of 397312 bytes");
}

/* promtool, the Prometheus project's own checker, finds the bridge's
 * exposition clean: it prints nothing and exits 0.  curl -q: without the
 * .curlrc that records this test's answers. */
static void
t_expect_promtool_clean(int port)
{
	char cmd[700], path[300];
	char *out;
	int code;

	snprintf(path, sizeof(path), "%s/metrics.txt", env.dir);
	snprintf(cmd, sizeof(cmd),
	    "curl -q -sS --max-time 10 -o '%s' http://127.0.0.1:%d/metrics && "
	    "promtool check metrics < '%s' 2>&1",
	    path, port, path);
	out = t_sh(cmd, &code);
	if (code != 0 || out[0] != '\0') {
		fprintf(stderr, "promtool: %s\n", out);
		t_print_file(path);
	}
	assert_int_equal(code, 0);
	assert_string_equal(out, "");
	free(out);
}

static void
test_healthz_metrics_openapi(void **state)
{
	t_answer a;

	t_curl("curl http://localhost:5000/healthz", &a);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.body, "\"status\": \"SERVING\""));
	t_curl("curl http://localhost:5000/metrics", &a);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.body, "pigeon_http_requests_total{route=\"/login\",status=\"200\"}"));
	assert_non_null(strstr(a.body, "pigeon_http_request_duration_seconds_bucket{"));
	assert_non_null(strstr(a.body, "pigeon_http_requests_in_flight 1\n"));
	assert_non_null(strstr(a.body, "pigeon_pigeond_up 1\n"));
	assert_non_null(strstr(a.body, "pigeon_queue_depth "));
	assert_non_null(strstr(a.body, "pigeon_workers "));
	t_expect_promtool_clean(env.http_port);
	t_curl("curl http://localhost:5000/openapi.json", &a);
	assert_int_equal(a.status, 200);
	/* /events for the OpenAPI check: a second of the stream, a bad
	 * Last-Event-ID, a method it does not have. */
	t_curl("curl -N --max-time 1 http://localhost:5000/events", &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.content_type, "text/event-stream");
	assert_int_equal(strncmp(a.body, "retry: 1000\n: connected\n\n", 25), 0);
	t_expect_error("curl -H 'Last-Event-ID: seven' http://localhost:5000/events", 400,
	    "Bad Request", "Last-Event-ID must be an event's sequence number");
	t_expect("curl -X POST http://localhost:5000/events", 405, NULL);
}

static void
test_every_answer_matches_openapi(void **state)
{
	char cmd[1024], spec[300];
	t_answer a;
	FILE *f;
	int rc;

	snprintf(spec, sizeof(spec), "%s/openapi.json", env.dir);
	t_curl("curl http://localhost:5000/openapi.json", &a);
	assert_non_null(f = fopen(spec, "w"));
	fputs(a.body, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/http/check_openapi.py %s %s",
	    getenv("PIGEON_SOURCE_DIR"), spec, answers);
	rc = system(cmd);
	assert_int_equal(rc, 0);
}

typedef struct log_count {
	const char *needle;
	int want;
} log_count;

/* Lines of the bridge's log that start with needle and go on with digits. */
static int
t_log_count(const char *needle)
{
	char line[1024];
	int n = 0;
	FILE *f;

	assert_non_null(f = fopen(env.http.log, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, needle, strlen(needle)) == 0 &&
		    strspn(line + strlen(needle), "0123456789") > 0)
			n++;
	fclose(f);
	return n;
}

static bool
t_log_has(void *arg)
{
	log_count *lc = arg;

	return t_log_count(lc->needle) == lc->want;
}

/* One info line per request, written when the request ends: method, path
 * (without the query), status and microseconds. */
static void
test_one_access_log_line_per_request(void **state)
{
	log_count get = {"info http: request method=GET path=/access-log-probe status=404 us=", 1};
	log_count post = {"info http: request method=POST path=/login status=422 us=", 0};

	t_expect_error("curl \"http://localhost:5000/access-log-probe?username=Ilya\"", 404,
	    "Not Found", "The requested URL was not found on the server");
	assert_true(t_wait_for(t_log_has, &get, 5000));
	post.want = t_log_count(post.needle) + 1;
	t_expect_error("curl -X POST http://localhost:5000/login -d '{\"username\": \"\"}'", 422,
	    "Unprocessable Entity", "Missing 'username' in the request body");
	assert_true(t_wait_for(t_log_has, &post, 5000));
}

/* pigeond stopped with SIGSTOP: connected, but it answers nothing, so each
 * call runs into the bridge's 1000 ms deadline. */
static void
test_pigeond_too_slow_is_504(void **state)
{
	t_answer a;

	assert_int_equal(kill(env.pigeond.proc.pid, SIGSTOP), 0);
	t_curl(readme_online, &a);
	assert_int_equal(kill(env.pigeond.proc.pid, SIGCONT), 0);
	assert_int_equal(a.status, 504);
	assert_true(a.ms >= 1000 && a.ms < 3000);
	assert_non_null(strstr(a.body, "{\"code\": 504, \"status\": \"Gateway Timeout\", "));
	t_expect(readme_online, 200, NULL);
}

static void
test_pigeond_down_is_503_within_the_deadline(void **state)
{
	t_answer a;

	assert_int_equal(t_pigeond_stop(&env.pigeond), 0);
	t_curl(readme_login, &a);
	assert_int_equal(a.status, 503);
	/* libpigeon knows at once that nothing is connected: the answer comes
	 * well before the 1000 ms deadline that a 504 would take. */
	assert_true(a.ms < 500);
	assert_string_equal(a.body, "{\"code\": 503, \"status\": \"Service Unavailable\", "
				    "\"message\": \"pigeond is not reachable\"}\n");
	t_curl("curl http://localhost:5000/healthz", &a);
	assert_int_equal(a.status, 503);
	/* Restart so that teardown stops a running pigeond. */
	t_env_pigeond_start(&env, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_commands_answer_as_the_original),
		cmocka_unit_test(test_chatter_stats_count_delivered_messages_as_floats),
		cmocka_unit_test(test_the_originals_errors),
		cmocka_unit_test(test_the_bridge_does_better),
		cmocka_unit_test(test_spam_is_blocked_and_counted),
		cmocka_unit_test(test_paging_and_registration),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_content_at_the_limit_is_delivered_and_one_byte_more_is_413),
		cmocka_unit_test(test_body_cap_fits_the_most_escaped_content_and_a_byte_more_is_413),
		cmocka_unit_test(test_healthz_metrics_openapi),
		cmocka_unit_test(test_one_access_log_line_per_request),
		cmocka_unit_test(test_pigeond_too_slow_is_504),
		cmocka_unit_test(test_pigeond_down_is_503_within_the_deadline),
		/* Last, so that it sees every answer above. */
		cmocka_unit_test(test_every_answer_matches_openapi),
	};

	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
