/* SPDX-License-Identifier: MIT */
/*
 * GET /events against a real pigeond and redis-server, with curl -N as the
 * client writing the stream to a file: a login made after the stream
 * connected arrives as a frame with its exact id and JSON; a reconnect with
 * Last-Event-ID (or ?after=) gets exactly the events it missed, in order; a
 * stream over --events-max gets 503 JSON; streams whose clients left are
 * closed by the keep-alive; and the bridge stops cleanly (exit 0, so no
 * sanitizer report) with a stream open, ending it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define CURL "/usr/bin/curl"

static t_env env;
static int stream_no;

/* Runs a shell command and returns its whole stdout (malloc'd). */
static char *
t_run(const char *fmt, ...)
{
	char cmd[2048], *out;
	size_t n = 0, cap = 65536;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_non_null(out = malloc(cap));
	assert_non_null(f = popen(cmd, "r"));
	n = fread(out, 1, cap - 1, f);
	pclose(f);
	out[n] = '\0';
	return out;
}

/* POST path with {"username": user}; returns the HTTP status. */
static int
t_post_user(const char *path, const char *user)
{
	char *out = t_run("curl -s -o /dev/null -w '%%{http_code}' -X POST -H "
			  "'Content-Type: application/json' -d '{\"username\": \"%s\"}' "
			  "http://127.0.0.1:%d%s",
	    user, env.http_port, path);
	int status = atoi(out);

	free(out);
	return status;
}

typedef struct t_stream {
	t_proc proc;
	char file[300];
} t_stream;

/* Starts curl -N on /events<suffix> with an optional extra header, its
 * output to a file of its own. */
static void
t_stream_start(t_stream *s, const char *suffix, const char *header)
{
	char url[128];
	char *argv[12];
	int n = 0;

	snprintf(s->file, sizeof(s->file), "%s/stream-%d.txt", env.dir, ++stream_no);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/events%s", env.http_port, suffix);
	argv[n++] = CURL;
	argv[n++] = "-sN";
	argv[n++] = "--max-time";
	argv[n++] = "60";
	if (header != NULL) {
		argv[n++] = "-H";
		argv[n++] = (char *)header;
	}
	argv[n++] = url;
	argv[n] = NULL;
	t_proc_start(&s->proc, argv, s->file);
}

static void
t_wait_stream_has(const t_stream *s, const char *needle)
{
	t_file_has h = {s->file, needle};

	if (!t_wait_for(t_file_holds, &h, 10000)) {
		char *text = t_file_text(s->file);

		fail_msg("stream %s never had \"%s\"; it has:\n%s", s->file, needle, text);
	}
}

/* The stream's events as "id|event|data" lines, comments and keep-alives
 * left out, into out. */
static void
t_frames(const char *path, char *out, size_t cap)
{
	char *text = t_file_text(path), *save = NULL;
	size_t n = 0;

	out[0] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "id: ", 4) == 0)
			n += (size_t)snprintf(out + n, cap - n, "%s", line + 4);
		else if (strncmp(line, "event: ", 7) == 0)
			n += (size_t)snprintf(out + n, cap - n, "|%s", line + 7);
		else if (strncmp(line, "data: ", 6) == 0)
			n += (size_t)snprintf(out + n, cap - n, "|%s\n", line + 6);
	}
	free(text);
}

/* Removes the "time_ms" member's value (it varies) from frames. */
static void
t_strip_time(char *s)
{
	char *p = s;

	while ((p = strstr(p, "\"time_ms\": ")) != NULL) {
		char *q = p + 11;

		while (*q >= '0' && *q <= '9')
			q++;
		p[11] = 'X';
		memmove(p + 12, q, strlen(q) + 1);
		p += 12;
	}
}

static long
t_metric(const char *name)
{
	char *out = t_run("curl -s http://127.0.0.1:%d/metrics", env.http_port), *p, needle[128];
	long v = -1;

	snprintf(needle, sizeof(needle), "\n%s ", name);
	if ((p = strstr(out, needle)) != NULL)
		v = strtol(p + strlen(needle), NULL, 10);
	free(out);
	return v;
}

static bool
t_no_streams(void *arg)
{
	(void)arg;
	return t_metric("pigeon_http_event_streams") == 0;
}

static int
t_group_setup(void **state)
{
	static const char *const http_args[] = {"--events-max", "2", "--events-keepalive", "1",
		"--threads", "2", NULL};
	t_env_opts o = {.tag = "events", .http = true, .http_args = http_args};

	(void)state;
	if (access(CURL, X_OK) != 0)
		return -1;
	t_env_start(&env, &o);
	return 0;
}

static int
t_group_teardown(void **state)
{
	(void)state;
	t_env_stop(&env);
	return 0;
}

#define LOGIN_FLAIN1                                                                        \
	"1|LOGIN|{\"sequence\": 1, \"type\": \"LOGIN\", \"time_ms\": X, \"username\": "      \
	"\"flain1\", \"recipient\": \"\", \"message_id\": 0, \"reason\": \"\", \"text\": "   \
	"\"LOGIN: flain1\"}\n"
#define LOGOUT_FLAIN1                                                                       \
	"2|LOGOUT|{\"sequence\": 2, \"type\": \"LOGOUT\", \"time_ms\": X, \"username\": "    \
	"\"flain1\", \"recipient\": \"\", \"message_id\": 0, \"reason\": \"\", \"text\": "   \
	"\"LOGOUT: flain1\"}\n"
#define LOGIN_ILYA                                                                          \
	"3|LOGIN|{\"sequence\": 3, \"type\": \"LOGIN\", \"time_ms\": X, \"username\": "      \
	"\"Ilya\", \"recipient\": \"\", \"message_id\": 0, \"reason\": \"\", \"text\": "     \
	"\"LOGIN: Ilya\"}\n"

/* The journal is empty at the start (a fresh Redis), so flain1's login is
 * event 1; the stream gets it as a frame, then keep-alives. */
static void
test_a_login_after_connecting_is_streamed(void **state)
{
	t_stream s;
	char frames[4096];
	char *text;

	(void)state;
	t_stream_start(&s, "", NULL);
	t_wait_stream_has(&s, ": connected\n\n");
	assert_int_equal(t_post_user("/login", "flain1"), 200);
	t_wait_stream_has(&s, "\"text\": \"LOGIN: flain1\"}\n\n");
	t_frames(s.file, frames, sizeof(frames));
	t_strip_time(frames);
	assert_string_equal(frames, LOGIN_FLAIN1);
	text = t_file_text(s.file);
	assert_non_null(strstr(text, "id: 1\nevent: LOGIN\ndata: {\"sequence\": 1, "));
	free(text);
	t_wait_stream_has(&s, ": keep-alive\n\n");
	assert_int_equal(t_metric("pigeon_http_event_streams"), 1);
	t_proc_stop(&s.proc, SIGTERM);
}

/* Events made while no stream was open come first on a reconnect with
 * Last-Event-ID, exactly those and in order; ?after= does the same. */
static void
test_a_reconnect_with_last_event_id_gets_what_it_missed(void **state)
{
	t_stream s, q;
	char frames[4096];

	(void)state;
	/* The previous test's stream is gone once its slot is free. */
	assert_true(t_wait_for(t_no_streams, NULL, 10000));
	assert_int_equal(t_post_user("/logout", "flain1"), 200);
	assert_int_equal(t_post_user("/login", "Ilya"), 200);

	t_stream_start(&s, "", "Last-Event-ID: 1");
	t_wait_stream_has(&s, "\"text\": \"LOGIN: Ilya\"}\n\n");
	t_frames(s.file, frames, sizeof(frames));
	t_strip_time(frames);
	assert_string_equal(frames, LOGOUT_FLAIN1 LOGIN_ILYA);

	t_stream_start(&q, "?after=2", NULL);
	t_wait_stream_has(&q, "\"text\": \"LOGIN: Ilya\"}\n\n");
	t_frames(q.file, frames, sizeof(frames));
	t_strip_time(frames);
	assert_string_equal(frames, LOGIN_ILYA);

	/* Live after the catch-up, on both. */
	assert_int_equal(t_post_user("/logout", "Ilya"), 200);
	t_wait_stream_has(&s, "\"text\": \"LOGOUT: Ilya\"}\n\n");
	t_wait_stream_has(&q, "\"text\": \"LOGOUT: Ilya\"}\n\n");
	t_frames(q.file, frames, sizeof(frames));
	assert_non_null(strstr(frames, "\n4|LOGOUT|{\"sequence\": 4, "));
	t_proc_stop(&s.proc, SIGTERM);
	t_proc_stop(&q.proc, SIGTERM);
}

static void
test_a_bad_last_event_id_is_400(void **state)
{
	char *out;

	(void)state;
	out = t_run("curl -s -H 'Last-Event-ID: x1' -w '\n%%{http_code} %%{content_type}' "
		    "http://127.0.0.1:%d/events",
	    env.http_port);
	assert_string_equal(out, "{\"code\": 400, \"status\": \"Bad Request\", \"message\": "
				 "\"Last-Event-ID must be an event's sequence number\"}\n\n"
				 "400 application/json");
	free(out);
}

/* --events-max 2: a third stream is refused with 503 JSON; when the
 * clients leave, the keep-alive finds them gone and frees the slots. */
static void
test_over_the_stream_cap_is_503_and_left_streams_are_freed(void **state)
{
	t_stream a, b;
	char *out;

	(void)state;
	assert_true(t_wait_for(t_no_streams, NULL, 10000));
	t_stream_start(&a, "", NULL);
	t_stream_start(&b, "", NULL);
	t_wait_stream_has(&a, ": connected\n\n");
	t_wait_stream_has(&b, ": connected\n\n");
	out = t_run("curl -s -w '\n%%{http_code} %%{content_type}' http://127.0.0.1:%d/events",
	    env.http_port);
	assert_string_equal(out, "{\"code\": 503, \"status\": \"Service Unavailable\", "
				 "\"message\": \"Too many event streams open (the limit is 2)\"}\n"
				 "\n503 application/json");
	free(out);
	assert_int_equal(t_metric("pigeon_http_event_streams"), 2);
	t_proc_stop(&a.proc, SIGKILL);
	t_proc_stop(&b.proc, SIGKILL);
	assert_true(t_wait_for(t_no_streams, NULL, 10000));
}

/* SIGTERM with a stream open: the stream ends (curl sees the chunked body
 * end and exits 0) and the bridge exits 0. */
static void
test_the_bridge_stops_cleanly_with_a_stream_open(void **state)
{
	t_stream s;

	(void)state;
	t_stream_start(&s, "", NULL);
	t_wait_stream_has(&s, ": connected\n\n");
	assert_int_equal(t_proc_stop(&env.http, SIGTERM), 0);
	assert_int_equal(t_proc_wait(&s.proc, 10000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_login_after_connecting_is_streamed),
		cmocka_unit_test(test_a_reconnect_with_last_event_id_gets_what_it_missed),
		cmocka_unit_test(test_a_bad_last_event_id_is_400),
		cmocka_unit_test(test_over_the_stream_cap_is_503_and_left_streams_are_freed),
		cmocka_unit_test(test_the_bridge_stops_cleanly_with_a_stream_open),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
