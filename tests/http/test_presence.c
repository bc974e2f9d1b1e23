/* SPDX-License-Identifier: MIT */
/*
 * Presence and read state through pigeon-http, open mode, against a real
 * pigeond and redis-server with curl as the client: POST /heartbeat, GET
 * /users/{username}, POST /read with its unread counts, read_ms and the
 * unread filter of /inbound-messages, and the READ receipts a sender's
 * GET /events?username= stream carries, one per message read.  Every answer
 * is checked byte for byte (times masked where they are the server's
 * clock), and last against /openapi.json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "t_curl.h"

static t_env env;

/* Replaces the number after each `"key": ` in text with X, unless it is 0,
 * and returns the smallest number replaced (0 when none was). */
static long long
t_mask(char *text, const char *key)
{
	char pat[64];
	long long least = 0;
	size_t n;

	n = (size_t)snprintf(pat, sizeof(pat), "\"%s\": ", key);
	for (char *p = text; (p = strstr(p, pat)) != NULL;) {
		char *q = p + n, *end;
		long long v = strtoll(q, &end, 10);

		if (v != 0) {
			if (least == 0 || v < least)
				least = v;
			*q = 'X';
			memmove(q + 1, end, strlen(end) + 1);
		}
		p = q;
	}
	return least;
}

static int
t_group_setup(void **state)
{
	(void)state;
	return t_curl_start(&env, "httppresence");
}

static int
t_group_teardown(void **state)
{
	(void)state;
	return t_env_stop(&env) == 0 ? 0 : -1;
}

static void
test_heartbeat_answers_online_and_its_deadline(void **state)
{
	int64_t before;
	long long expires;
	t_answer a;

	(void)state;
	t_expect_json("POST", "/heartbeat", "{\"username\": \"Malory\"}", 200,
	    "{\"username\": \"Malory\", \"online\": false, \"expires_ms\": 0}\n");
	t_http("POST", "/login", NULL, "{\"username\": \"Ilya\"}", &a);
	assert_int_equal(a.status, 200);
	before = (int64_t)time(NULL) * 1000;
	t_http("POST", "/heartbeat", NULL, "{\"username\": \"Ilya\"}", &a);
	assert_int_equal(a.status, 200);
	expires = t_mask(a.body, "expires_ms");
	assert_string_equal(a.body, "{\"username\": \"Ilya\", \"online\": true, \"expires_ms\": X}\n");
	/* pigeond's default presence TTL, 60 s, from about now. */
	assert_true(expires >= before + 50000 && expires <= before + 70000);

	t_expect_json("POST", "/heartbeat", "{\"username\": \"nobody\"}", 404,
	    t_error(404, "Couldn't find user with username nobody"));
	t_expect_json("POST", "/heartbeat", "[1]", 400, t_error(400, "Request body must be a JSON object"));
	t_expect_json("POST", "/heartbeat", "{}", 422,
	    t_error(422, "Missing 'username' in the request body"));
	t_expect_json("POST", "/heartbeat", "{\"username\": 5}", 422,
	    t_error(422, "'username' must be a string"));
	t_expect_json("GET", "/heartbeat", NULL, 405,
	    t_error(405, "The method is not allowed for the requested URL"));
}

static void
test_get_user_shows_role_presence_and_times(void **state)
{
	t_answer a;

	(void)state;
	/* A user of the users file, never seen: no times. */
	t_expect_json("GET", "/users/Dizzzmas", NULL, 200,
	    "{\"username\": \"Dizzzmas\", \"role\": \"admin\", \"online\": false, \"last_seen_ms\": 0, "
	    "\"created_ms\": 0}\n");
	t_http("POST", "/login", NULL, "{\"username\": \"Dizzzmas\"}", &a);
	assert_int_equal(a.status, 200);
	t_http("GET", "/users/Dizzz%6das", NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	assert_true(t_mask(a.body, "last_seen_ms") > 0);
	assert_string_equal(a.body, "{\"username\": \"Dizzzmas\", \"role\": \"admin\", \"online\": true, "
				    "\"last_seen_ms\": X, \"created_ms\": 0}\n");
	t_http("POST", "/logout", NULL, "{\"username\": \"Dizzzmas\"}", &a);
	assert_int_equal(a.status, 200);
	t_http("GET", "/users/Dizzzmas", NULL, NULL, &a);
	assert_true(t_mask(a.body, "last_seen_ms") > 0);
	assert_string_equal(a.body, "{\"username\": \"Dizzzmas\", \"role\": \"admin\", \"online\": false, "
				    "\"last_seen_ms\": X, \"created_ms\": 0}\n");

	/* A registered user has a creation time. */
	t_expect_json("POST", "/users", "{\"username\": \"newbie\"}", 201,
	    "{\"username\": \"newbie\", \"role\": \"regular\"}\n");
	t_http("GET", "/users/newbie", NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	assert_true(t_mask(a.body, "created_ms") > 0);
	assert_string_equal(a.body, "{\"username\": \"newbie\", \"role\": \"regular\", \"online\": false, "
				    "\"last_seen_ms\": 0, \"created_ms\": X}\n");

	t_expect_json("GET", "/users/nobody", NULL, 404,
	    t_error(404, "Couldn't find user with username nobody"));
	t_expect_json("GET", "/users/a%20b", NULL, 422,
	    t_error(422, "Invalid 'username': username contains a space or control character"));
	t_expect_json("GET", "/users/Ilya%00", NULL, 422,
	    t_error(422, "Invalid 'username': username contains a space or control character"));
	t_expect_json("GET", "/users/%zz", NULL, 400, t_error(400, "Malformed percent-escape in the path"));
	t_expect_json("GET", "/users/", NULL, 404,
	    t_error(404, "The requested URL was not found on the server"));
	t_expect_json("POST", "/users/Ilya", "{}", 405,
	    t_error(405, "The method is not allowed for the requested URL"));
}

/* The stream's frames without an id (a user's own events), each "time_ms"
 * masked. */
static char *
t_own_frames(const char *file)
{
	char *text = t_file_text(file), *save = NULL, *out;
	size_t n = 0, cap = strlen(text) + 1;
	bool skip = false;

	assert_non_null(out = malloc(cap));
	out[0] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "id: ", 4) == 0)
			skip = true;
		else if (strncmp(line, "event: ", 7) == 0 && !skip)
			n += (size_t)snprintf(out + n, cap - n, "%s\n", line);
		else if (strncmp(line, "data: ", 6) == 0 && !skip)
			n += (size_t)snprintf(out + n, cap - n, "%s\n", line);
		else if (strncmp(line, "data: ", 6) == 0)
			skip = false;
	}
	free(text);
	t_mask(out, "time_ms");
	return out;
}

static void
t_stream_wait(const char *file, const char *needle)
{
	t_file_has h = {file, needle};

	if (!t_wait_for(t_file_holds, &h, 10000)) {
		char *text = t_file_text(file);

		fail_msg("stream %s never had \"%s\"; it has:\n%s", file, needle, text);
	}
}

/* Three messages from Alice to reader, delivered; reads up to the second,
 * again, and lower: one count throughout; the inbox's read state and
 * filter; and Alice's stream gets one READ per message read, the third's
 * last, which shows that the repeated calls published nothing. */
static void
test_read_marks_once_counts_and_tells_the_sender(void **state)
{
	char file[300], url[256], body[128], want[2048], *frames;
	char *argv[] = {CURL, "-q", "-sN", "--max-time", "60", url, NULL};
	unsigned long long id[3];
	t_url_has delivered = {"/user-stats?username=reader",
	    "{\"being_spam_checked\": 0, \"delivered\": 0, \"enqueued\": 0, \"marked_as_spam\": 0, "
	    "\"unread\": 3}\n"};
	t_proc stream;
	t_answer a;

	(void)state;
	t_expect_json("POST", "/users", "{\"username\": \"reader\"}", 201,
	    "{\"username\": \"reader\", \"role\": \"regular\"}\n");
	t_expect_json("GET", "/events?username=nobody", NULL, 404,
	    t_error(404, "Couldn't find user with username nobody"));
	snprintf(file, sizeof(file), "%s/alice-stream.txt", env.dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/events?username=Alice", env.http_port);
	t_proc_start(&stream, argv, file);
	t_stream_wait(file, ": connected");

	for (int i = 0; i < 3; i++) {
		snprintf(body, sizeof(body),
		    "{\"sender\": \"Alice\", \"recipient\": \"reader\", \"content\": \"note %d\"}", i + 1);
		t_http("POST", "/message", NULL, body, &a);
		assert_int_equal(a.status, 200);
		assert_int_equal(sscanf(strstr(a.body, "\"id\": "), "\"id\": %llu,", &id[i]), 1);
	}
	assert_true(t_wait_every(t_answer_is, &delivered, 50, 10000));

	snprintf(body, sizeof(body), "{\"username\": \"reader\", \"up_to_id\": %llu}", id[1]);
	t_expect_json("POST", "/read", body, 200, "{\"unread\": 1}\n");
	t_expect_json("POST", "/read", body, 200, "{\"unread\": 1}\n");
	snprintf(body, sizeof(body), "{\"username\": \"reader\", \"up_to_id\": %llu}", id[0]);
	t_expect_json("POST", "/read", body, 200, "{\"unread\": 1}\n");
	t_expect_json("GET", "/user-stats?username=reader", NULL, 200,
	    "{\"being_spam_checked\": 0, \"delivered\": 0, \"enqueued\": 0, \"marked_as_spam\": 0, "
	    "\"unread\": 1}\n");

	/* With `unread`, read_ms: set for the two read, 0 for the third. */
	t_http("GET", "/inbound-messages?username=reader&unread=0", NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	assert_true(t_mask(a.body, "read_ms") > 0);
	snprintf(want, sizeof(want),
	    "{\"inbound_messages\": [{\"content\": \"note 1\", \"id\": %llu, \"read_ms\": X, "
	    "\"recipient\": \"reader\", \"sender\": \"Alice\"}, {\"content\": \"note 2\", \"id\": "
	    "%llu, \"read_ms\": X, \"recipient\": \"reader\", \"sender\": \"Alice\"}, {\"content\": "
	    "\"note 3\", \"id\": %llu, \"read_ms\": 0, \"recipient\": \"reader\", \"sender\": "
	    "\"Alice\"}], \"next_cursor\": 0}\n",
	    id[0], id[1], id[2]);
	assert_string_equal(a.body, want);
	snprintf(want, sizeof(want),
	    "{\"inbound_messages\": [{\"content\": \"note 3\", \"id\": %llu, \"read_ms\": 0, "
	    "\"recipient\": \"reader\", \"sender\": \"Alice\"}], \"next_cursor\": 0}\n",
	    id[2]);
	t_expect_json("GET", "/inbound-messages?username=reader&unread=1", NULL, 200, want);
	t_expect_json("GET", "/inbound-messages?username=reader&unread=true", NULL, 200, want);
	/* Without it, the original's four keys. */
	snprintf(want, sizeof(want),
	    "{\"inbound_messages\": [{\"content\": \"note 1\", \"id\": %llu, \"recipient\": "
	    "\"reader\", \"sender\": \"Alice\"}, {\"content\": \"note 2\", \"id\": %llu, "
	    "\"recipient\": \"reader\", \"sender\": \"Alice\"}, {\"content\": \"note 3\", \"id\": "
	    "%llu, \"recipient\": \"reader\", \"sender\": \"Alice\"}], \"next_cursor\": 0}\n",
	    id[0], id[1], id[2]);
	t_expect_json("GET", "/inbound-messages?username=reader", NULL, 200, want);
	t_expect_json("GET", "/inbound-messages?username=reader&unread=2", NULL, 422,
	    t_error(422, "'unread' must be 1, true, 0 or false"));

	/* The third read: its READ comes after any the calls above made. */
	snprintf(body, sizeof(body), "{\"username\": \"reader\", \"up_to_id\": %llu}", id[2]);
	t_expect_json("POST", "/read", body, 200, "{\"unread\": 0}\n");
	snprintf(want, sizeof(want), "\"message_id\": %llu", id[2]);
	t_stream_wait(file, want);
	frames = t_own_frames(file);
	snprintf(want, sizeof(want),
	    "event: READ\n"
	    "data: {\"sequence\": 0, \"type\": \"READ\", \"time_ms\": X, \"username\": \"Alice\", "
	    "\"recipient\": \"reader\", \"message_id\": %llu, \"reason\": \"\", \"text\": \"\"}\n"
	    "event: READ\n"
	    "data: {\"sequence\": 0, \"type\": \"READ\", \"time_ms\": X, \"username\": \"Alice\", "
	    "\"recipient\": \"reader\", \"message_id\": %llu, \"reason\": \"\", \"text\": \"\"}\n"
	    "event: READ\n"
	    "data: {\"sequence\": 0, \"type\": \"READ\", \"time_ms\": X, \"username\": \"Alice\", "
	    "\"recipient\": \"reader\", \"message_id\": %llu, \"reason\": \"\", \"text\": \"\"}\n",
	    id[0], id[1], id[2]);
	assert_string_equal(frames, want);
	free(frames);
	t_proc_stop(&stream, SIGTERM);
}

static void
test_read_refuses_bad_bodies(void **state)
{
	(void)state;
	t_expect_json("POST", "/read", "{\"username\": \"nobody\", \"up_to_id\": 1}", 404,
	    t_error(404, "Couldn't find user with username nobody"));
	t_expect_json("POST", "/read", "not json", 400,
	    t_error(400, "Request body is not valid JSON: '[' or '{' expected near 'not' (line 1, "
			 "column 3)"));
	t_expect_json("POST", "/read", "[]", 400, t_error(400, "Request body must be a JSON object"));
	t_expect_json("POST", "/read", "{\"up_to_id\": 1}", 422,
	    t_error(422, "Missing 'username' in the request body"));
	t_expect_json("POST", "/read", "{\"username\": \"reader\"}", 422,
	    t_error(422, "Missing 'up_to_id' in the request body"));
	t_expect_json("POST", "/read", "{\"username\": \"reader\", \"up_to_id\": -1}", 422,
	    t_error(422, "'up_to_id' must be a non-negative integer"));
	t_expect_json("POST", "/read", "{\"username\": \"reader\", \"up_to_id\": \"3\"}", 422,
	    t_error(422, "'up_to_id' must be a non-negative integer"));
	t_expect_json("POST", "/read", "{\"username\": \"reader\", \"up_to_id\": 2.5}", 422,
	    t_error(422, "'up_to_id' must be a non-negative integer"));
	t_expect_json("POST", "/read", "{\"username\": \"reader\", \"up_to_id\": 0}", 200,
	    "{\"unread\": 0}\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_heartbeat_answers_online_and_its_deadline),
	    cmocka_unit_test(test_get_user_shows_role_presence_and_times),
	    cmocka_unit_test(test_read_marks_once_counts_and_tells_the_sender),
	    cmocka_unit_test(test_read_refuses_bad_bodies),
	    /* Last, so that it sees every answer above. */
	    cmocka_unit_test(t_test_answers_match_openapi),
	};

	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
