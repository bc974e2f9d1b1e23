/* SPDX-License-Identifier: MIT */
/*
 * Spam reports through pigeon-http, open mode, against a real pigeond and
 * redis-server with curl as the client: POST /report both ways, each twice,
 * with the sender's /user-stats, the recipient's /inbound-messages and
 * unread count, the leaderboards and the journal after each; another user's
 * message and a missing one alike; and every malformed or invalid body.
 * Every answer is checked byte for byte, and last against /openapi.json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "t_curl.h"

static t_env env;

static int
t_group_setup(void **state)
{
	(void)state;
	return t_curl_start(&env, "httpreport");
}

static int
t_group_teardown(void **state)
{
	(void)state;
	return t_env_stop(&env) == 0 ? 0 : -1;
}

/* Sends one message and returns its id. */
static unsigned long long
t_send(const char *sender, const char *recipient, const char *content)
{
	char body[512];
	unsigned long long id = 0;
	const char *at;
	t_answer a;

	snprintf(body, sizeof(body), "{\"sender\": \"%s\", \"recipient\": \"%s\", \"content\": \"%s\"}",
	    sender, recipient, content);
	t_http("POST", "/message", NULL, body, &a);
	assert_int_equal(a.status, 200);
	assert_non_null(at = strstr(a.body, "\"id\": "));
	assert_int_equal(sscanf(at, "\"id\": %llu,", &id), 1);
	return id;
}

/* POST /report of message id by user, expecting 200 with this state. */
static void
t_report(const char *user, unsigned long long id, bool spam, const char *state, bool changed)
{
	char body[256], want[256];

	snprintf(body, sizeof(body), "{\"username\": \"%s\", \"message_id\": %llu, \"spam\": %s}",
	    user, id, spam ? "true" : "false");
	snprintf(want, sizeof(want), "{\"message_id\": %llu, \"state\": \"%s\", \"changed\": %s}\n",
	    id, state, changed ? "true" : "false");
	t_expect_json("POST", "/report", body, 200, want);
}

/* ann's counts as /user-stats answers them (she reads nothing). */
static const char *
t_ann_stats(int delivered, int marked)
{
	static char buf[256];

	snprintf(buf, sizeof(buf),
	    "{\"being_spam_checked\": 0, \"delivered\": %d, \"enqueued\": 0, \"marked_as_spam\": "
	    "%d, \"unread\": 0}\n",
	    delivered, marked);
	return buf;
}

/* ben's unread count, through /user-stats (he sends nothing). */
static const char *
t_ben_stats(int unread)
{
	static char buf[256];

	snprintf(buf, sizeof(buf),
	    "{\"being_spam_checked\": 0, \"delivered\": 0, \"enqueued\": 0, \"marked_as_spam\": 0, "
	    "\"unread\": %d}\n",
	    unread);
	return buf;
}

/* ann sends ben a message the filter delivers and one its blocklist marks as
 * spam.  ben reports the first as spam, twice: out of his inbox and unread
 * count, into ann's spam counts, journaled once.  Then the second as not
 * spam, twice: delivered to him, unread.  Then the first back. */
static void
test_reports_both_ways_move_the_message_and_its_counts(void **state)
{
	char body[256], message[64], want[1024];
	unsigned long long lunch, pills;
	t_url_has settled = {"/user-stats?username=ann", NULL};

	(void)state;
	t_expect_json("POST", "/users", "{\"username\": \"ann\"}", 201,
	    "{\"username\": \"ann\", \"role\": \"regular\"}\n");
	t_expect_json("POST", "/users", "{\"username\": \"ben\"}", 201,
	    "{\"username\": \"ben\", \"role\": \"regular\"}\n");
	t_expect_json("POST", "/users", "{\"username\": \"cid\"}", 201,
	    "{\"username\": \"cid\", \"role\": \"regular\"}\n");
	lunch = t_send("ann", "ben", "lunch at noon?");
	pills = t_send("ann", "ben", "buy now cheap pills");
	settled.want = t_ann_stats(1, 1);
	assert_true(t_wait_every(t_answer_is, &settled, 50, 10000));
	t_expect_json("GET", "/user-stats?username=ben", NULL, 200, t_ben_stats(1));

	t_report("ben", lunch, true, "marked_as_spam", true);
	t_expect_json("GET", "/user-stats?username=ann", NULL, 200, t_ann_stats(0, 2));
	t_expect_json("GET", "/user-stats?username=ben", NULL, 200, t_ben_stats(0));
	t_expect_json("GET", "/inbound-messages?username=ben", NULL, 200,
	    "{\"inbound_messages\": [], \"next_cursor\": 0}\n");
	t_expect_json("GET", "/spammer-stats", NULL, 200, "{\"spammers\": [[\"ann\", 2.0]]}\n");
	t_expect_json("GET", "/chatter-stats", NULL, 200, "{\"chatters\": []}\n");
	snprintf(want, sizeof(want),
	    "{\"events\": [\"SPAM: message with id %llu by ann\", \"SPAM: message with id %llu by "
	    "ann\"], \"next_cursor\": 0}\n",
	    lunch, pills);
	t_expect_json("GET", "/event-journal", NULL, 200, want);
	/* Again: nothing changes, nothing more is journaled. */
	t_report("ben", lunch, true, "marked_as_spam", false);
	t_expect_json("GET", "/user-stats?username=ann", NULL, 200, t_ann_stats(0, 2));
	t_expect_json("GET", "/event-journal", NULL, 200, want);

	/* The blocked message was not spam after all: delivered, unread. */
	t_report("ben", pills, false, "delivered", true);
	t_report("ben", pills, false, "delivered", false);
	t_expect_json("GET", "/user-stats?username=ann", NULL, 200, t_ann_stats(1, 1));
	t_expect_json("GET", "/user-stats?username=ben", NULL, 200, t_ben_stats(1));
	snprintf(want, sizeof(want),
	    "{\"inbound_messages\": [{\"content\": \"buy now cheap pills\", \"id\": %llu, "
	    "\"recipient\": \"ben\", \"sender\": \"ann\"}], \"next_cursor\": 0}\n",
	    pills);
	t_expect_json("GET", "/inbound-messages?username=ben", NULL, 200, want);
	t_expect_json("GET", "/chatter-stats", NULL, 200, "{\"chatters\": [[\"ann\", 1.0]]}\n");

	/* And the first back: both delivered, nothing marked. */
	t_report("ben", lunch, false, "delivered", true);
	t_expect_json("GET", "/user-stats?username=ann", NULL, 200, t_ann_stats(2, 0));
	t_expect_json("GET", "/user-stats?username=ben", NULL, 200, t_ben_stats(2));
	t_expect_json("GET", "/spammer-stats", NULL, 200, "{\"spammers\": []}\n");
	snprintf(want, sizeof(want),
	    "{\"inbound_messages\": [{\"content\": \"lunch at noon?\", \"id\": %llu, \"recipient\": "
	    "\"ben\", \"sender\": \"ann\"}, {\"content\": \"buy now cheap pills\", \"id\": %llu, "
	    "\"recipient\": \"ben\", \"sender\": \"ann\"}], \"next_cursor\": 0}\n",
	    lunch, pills);
	t_expect_json("GET", "/inbound-messages?username=ben", NULL, 200, want);

	/* Another user's message and a missing one answer alike. */
	snprintf(body, sizeof(body),
	    "{\"username\": \"cid\", \"message_id\": %llu, \"spam\": true}", lunch);
	snprintf(message, sizeof(message), "No message %llu for cid", lunch);
	t_expect_json("POST", "/report", body, 404, t_error(404, message));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"message_id\": 999999, \"spam\": true}",
	    404, t_error(404, "No message 999999 for ben"));
	t_expect_json("POST", "/report",
	    "{\"username\": \"nobody\", \"message_id\": 999999, \"spam\": true}", 404,
	    t_error(404, "No message 999999 for nobody"));
	t_expect_json("GET", "/user-stats?username=ann", NULL, 200, t_ann_stats(2, 0));
}

static void
test_report_refuses_bad_bodies(void **state)
{
	(void)state;
	t_expect_json("POST", "/report", "not json", 400,
	    t_error(400, "Request body is not valid JSON: '[' or '{' expected near 'not' (line 1, "
			 "column 3)"));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"message_id\": 1, \"spam\": tru}", 400,
	    t_error(400, "Request body is not valid JSON: invalid token near 'tru' (line 1, column "
			 "48)"));
	t_expect_json("POST", "/report", "[]", 400, t_error(400, "Request body must be a JSON object"));
	t_expect_json("POST", "/report", "{\"message_id\": 1, \"spam\": true}", 422,
	    t_error(422, "Missing 'username' in the request body"));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"spam\": true}", 422,
	    t_error(422, "Missing 'message_id' in the request body"));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"message_id\": 0, \"spam\": true}", 422,
	    t_error(422, "'message_id' must be a positive integer"));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"message_id\": -1, \"spam\": true}",
	    422, t_error(422, "'message_id' must be a positive integer"));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"message_id\": 1.5, \"spam\": true}",
	    422, t_error(422, "'message_id' must be a positive integer"));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"message_id\": 1}", 422,
	    t_error(422, "Missing 'spam' in the request body"));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"message_id\": 1, \"spam\": \"true\"}",
	    422, t_error(422, "'spam' must be true or false"));
	t_expect_json("POST", "/report", "{\"username\": \"ben\", \"message_id\": 1, \"spam\": 1}", 422,
	    t_error(422, "'spam' must be true or false"));
	t_expect_json("GET", "/report", NULL, 405,
	    t_error(405, "The method is not allowed for the requested URL"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reports_both_ways_move_the_message_and_its_counts),
	    cmocka_unit_test(test_report_refuses_bad_bodies),
	    /* Last, so that it sees every answer above. */
	    cmocka_unit_test(t_test_answers_match_openapi),
	};

	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
