/* SPDX-License-Identifier: MIT */
/*
 * pigeond's own /metrics against a real redis-server: after a scripted
 * sequence of calls every family has its exact value, promtool finds the
 * exposition clean, and the endpoint answers only GET and HEAD of /metrics.
 * Also: a pigeond started without --metrics-listen serves none, and a bad
 * address stops it with a clear error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <pigeon/pigeon.h>

#include "codec.h"
#include "harness.h"
#include "t_rpc.h"

typedef struct fixture {
	t_env env;
	pigeon_client *c;
	char listen[64];
	char url[96];
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	const char *extra[] = {"--metrics-listen", f->listen, NULL};
	t_env_opts o = {.tag = "metrics", .pigeond_args = extra, .client = true};
	t_file_has ready = {NULL, "info events: relaying last="};

	snprintf(f->listen, sizeof(f->listen), "127.0.0.1:%d", t_free_port());
	snprintf(f->url, sizeof(f->url), "http://%s/metrics", f->listen);
	t_env_start(&f->env, &o);
	f->c = f->env.client;
	/* A fresh relay starts after the newest journal event: the events
	 * counted below must come after it has read the journal. */
	ready.path = f->env.pigeond.proc.log;
	assert_true(t_wait_for(t_file_holds, &ready, 30000));
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

static char *
scrape(const fixture *f)
{
	char cmd[256];
	char *text;
	int code;

	snprintf(cmd, sizeof(cmd), "curl -sS --max-time 10 '%s'", f->url);
	text = t_sh(cmd, &code);
	assert_int_equal(code, 0);
	return text;
}

/* The value of the sample `series` (name and labels exactly as exposed), or
 * -1 when the text has no such line. */
static double
sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

typedef struct want_arg {
	const fixture *f;
	const char *series;
	double value;
} want_arg;

static bool
sample_is(void *arg)
{
	want_arg *w = arg;
	char *text = scrape(w->f);
	bool ok = sample(text, w->series) == w->value;

	free(text);
	return ok;
}

/* Waits until a scrape shows `series` at `value` (the worker and the relay
 * finish after the RPC answers). */
static void
wait_sample(const fixture *f, const char *series, double value)
{
	want_arg w = {f, series, value};

	if (!t_wait_for(sample_is, &w, 15000)) {
		char *text = scrape(f);

		fprintf(stderr, "%s is %g, not %g, after 15 s\n", series, sample(text, series),
		    value);
		free(text);
		fail();
	}
}

/* One request sent twice on a raw req socket with the same ids: the second
 * is a resend that pigeond answers from its de-duplication table. */
static void
send_twice(const fixture *f)
{
	Pigeon__V1__LogoutRequest req = PIGEON__V1__LOGOUT_REQUEST__INIT;
	nng_socket s;
	uint8_t *buf;
	size_t len;

	req.username = "Dizzzmas";
	assert_int_equal(rpc_request_pack("Logout", 4242, 7, 0, &req.base, &buf, &len), PIGEON_OK);
	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000), 0);
	assert_int_equal(nng_dial(s, f->env.rpc_url, NULL, 0), 0);
	for (int i = 0; i < 2; i++) {
		Pigeon__V1__ReplyEnvelope *env;
		void *rep;
		size_t rlen;

		assert_int_equal(nng_send(s, buf, len, 0), 0);
		assert_int_equal(nng_recv(s, &rep, &rlen, NNG_FLAG_ALLOC), 0);
		assert_int_equal(rpc_reply_decode(rep, rlen, &env), PIGEON_OK);
		/* Not logged in: the same answer both times. */
		assert_int_equal(env->status, PIGEON_FAILED_PRECONDITION);
		pigeon__v1__reply_envelope__free_unpacked(env, NULL);
		nng_free(rep, rlen);
	}
	nng_close(s);
	free(buf);
}

static void
test_scripted_sequence_gives_exact_values(void **state)
{
	fixture *f = *state;
	Pigeon__V1__LoginRequest login = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *lrep;
	pigeon_error err;
	char *text;

	/* Login: OK once, ALREADY_EXISTS once, NOT_FOUND once. */
	t_login(f->c, "flain1");
	login.username = "flain1";
	assert_int_equal(pigeon_login(f->c, &login, &lrep, &err), PIGEON_ALREADY_EXISTS);
	login.username = "nobody";
	assert_int_equal(pigeon_login(f->c, &login, &lrep, &err), PIGEON_NOT_FOUND);
	/* Three messages, one of them spam by the blocklist. */
	t_send(f->c, "flain1", "Ilya", "hello");
	t_send(f->c, "flain1", "Ilya", "how are you");
	t_send(f->c, "Ilya", "flain1", "buy now cheap pills");
	send_twice(f);

	/* The worker judged all three, the relay relayed: LOGIN, three QUEUED,
	 * two DELIVERED, one SPAM. */
	wait_sample(f, "pigeon_worker_messages_total{verdict=\"delivered\"}", 2);
	wait_sample(f, "pigeon_events_relayed_total", 7);
	wait_sample(f, "pigeon_queue_pending", 0);

	text = scrape(f);
	assert_int_equal(
	    sample(text, "pigeon_rpc_requests_total{method=\"Login\",code=\"OK\"}"), 1);
	assert_int_equal(
	    sample(text, "pigeon_rpc_requests_total{method=\"Login\",code=\"ALREADY_EXISTS\"}"),
	    1);
	assert_int_equal(
	    sample(text, "pigeon_rpc_requests_total{method=\"Login\",code=\"NOT_FOUND\"}"), 1);
	assert_int_equal(
	    sample(text, "pigeon_rpc_requests_total{method=\"SendMessage\",code=\"OK\"}"), 3);
	assert_int_equal(sample(text,
			     "pigeon_rpc_requests_total{method=\"Logout\",code=\"FAILED_PRECONDITION\"}"),
	    1);
	/* Never called: its OK series exists at 0. */
	assert_int_equal(
	    sample(text, "pigeon_rpc_requests_total{method=\"GetChatterStats\",code=\"OK\"}"),
	    0);
	assert_int_equal(sample(text, "pigeon_rpc_duration_seconds_count{method=\"Login\"}"), 3);
	assert_int_equal(
	    sample(text, "pigeon_rpc_duration_seconds_count{method=\"SendMessage\"}"), 3);
	assert_int_equal(
	    sample(text, "pigeon_rpc_duration_seconds_bucket{method=\"SendMessage\",le=\"+Inf\"}"),
	    3);
	assert_int_equal(sample(text, "pigeon_rpc_in_flight"), 0);
	assert_int_equal(sample(text, "pigeon_rpc_resends_total"), 1);

	assert_int_equal(sample(text, "pigeon_worker_messages_total{verdict=\"delivered\"}"), 2);
	assert_int_equal(sample(text, "pigeon_worker_messages_total{verdict=\"spam\"}"), 1);
	assert_int_equal(
	    sample(text, "pigeon_worker_messages_total{verdict=\"would_be_spam\"}"), 0);
	assert_int_equal(sample(text, "pigeon_worker_messages_total{verdict=\"dead_letter\"}"), 0);
	assert_int_equal(sample(text, "pigeon_worker_spam_rule_total{rule=\"blocklist\"}"), 1);
	assert_int_equal(sample(text, "pigeon_worker_spam_rule_total{rule=\"rate\"}"), 0);
	/* However the three were batched, the sizes add up to three. */
	assert_int_equal(sample(text, "pigeon_worker_batch_size_sum"), 3);

	assert_int_equal(sample(text, "pigeon_redis_up"), 1);
	assert_int_equal(sample(text, "pigeon_queue_depth"), 0);
	assert_int_equal(sample(text, "pigeon_queue_pending"), 0);
	assert_int_equal(sample(text, "pigeon_queue_oldest_pending_age_seconds"), 0);
	assert_int_equal(sample(text, "pigeon_dead_letters"), 0);
	assert_true(sample(text, "pigeon_redis_round_trips_total") >= 9);
	assert_int_equal(sample(text, "pigeon_redis_reconnects_total"), 0);
	assert_int_equal(sample(text, "pigeon_events_relayed_total"), 7);
	assert_int_equal(sample(text, "pigeon_events_gaps_filled_total"), 0);

	assert_true(sample(text, "process_resident_memory_bytes") > 1024 * 1024);
	assert_true(sample(text, "process_open_fds") >= 3);
	free(text);
}

static void
test_promtool_finds_the_exposition_clean(void **state)
{
	fixture *f = *state;
	char cmd[256];
	char *out;
	int code;

	t_send(f->c, "flain1", "Ilya", "something to count");
	snprintf(cmd, sizeof(cmd),
	    "curl -sS --max-time 10 '%s' | promtool check metrics 2>&1", f->url);
	out = t_sh(cmd, &code);
	if (code != 0 || out[0] != '\0')
		fprintf(stderr, "promtool: %s\n", out);
	assert_int_equal(code, 0);
	assert_string_equal(out, "");
	free(out);
}

static void
test_only_get_and_head_of_metrics(void **state)
{
	fixture *f = *state;
	char cmd[1024];
	char *out;
	int code;

	snprintf(cmd, sizeof(cmd),
	    "curl -s -o /dev/null -w '%%{http_code} ' 'http://%s/other'; "
	    "curl -s -o /dev/null -w '%%{http_code} ' -X POST -d x '%s'; "
	    "curl -s -o /dev/null -w '%%{http_code} ' -I '%s'; "
	    "curl -s -D - -o /dev/null '%s' | tr -d '\\r' | grep -i '^content-type'",
	    f->listen, f->url, f->url, f->url);
	out = t_sh(cmd, &code);
	assert_string_equal(out, "404 405 200 Content-Type: text/plain; version=0.0.4; "
				 "charset=utf-8\n");
	free(out);
}

static void
test_bad_listen_address_is_refused(void **state)
{
	char cmd[600];
	char *out;
	int code;

	(void)state;
	snprintf(cmd, sizeof(cmd), "'%s' --metrics-listen nonsense --redis-url "
				   "redis://127.0.0.1:1 2>&1; echo \"exit=$?\"",
	    getenv("PIGEOND"));
	out = t_sh(cmd, &code);
	assert_non_null(strstr(out, "cannot serve metrics listen=nonsense"));
	assert_non_null(strstr(out, "exit=1"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_scripted_sequence_gives_exact_values, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_promtool_finds_the_exposition_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_get_and_head_of_metrics, setup, teardown),
		cmocka_unit_test(test_bad_listen_address_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
