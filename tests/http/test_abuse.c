/* SPDX-License-Identifier: MIT */
/*
 * pigeon-http under abuse, with its shipped limits, against a real pigeond
 * and redis-server: 300 slow connections (slowloris) from one address while
 * a real request from another address is answered; a 100 MB Content-Length
 * refused with 413 before its body; 10,000 requests of random bytes, mangled
 * request lines, URIs and bodies, after which the bridge still answers and
 * stops cleanly (exit 0: no sanitizer or leak report).  Raw sockets, so that
 * nothing between the test and the bridge tidies the bytes.
 *
 * With the argument --valgrind the bridge runs under valgrind, and a
 * valgrind error or a definite leak makes it exit non-zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static t_env env;
/* --valgrind: pigeon-http runs under valgrind. */
static bool valgrind;

/* A TCP connection to the bridge from source address src (127.0.0.x). */
static int
t_connect(const char *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd;

	assert_true((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	if (src != NULL) {
		assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	a.sin_port = htons((uint16_t)env.http_port);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Sends what it can of buf (the bridge may close early). */
static void
t_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* One whole request from src, answered within timeout_ms: its status, and
 * its body in body (when not NULL). */
static int
t_exchange(const char *src, const char *req, int timeout_ms, char *body, size_t cap)
{
	char out[8192];
	int fd = t_connect(src);
	const char *b;
	ssize_t n;

	t_send(fd, req, strlen(req));
	n = t_read_all(fd, out, sizeof(out), timeout_ms);
	close(fd);
	if (body != NULL) {
		b = n < 0 ? NULL : strstr(out, "\r\n\r\n");
		snprintf(body, cap, "%s", b != NULL ? b + 4 : "");
	}
	return n < 0 ? -1 : t_http_status(out);
}

static int
t_request(const char *src, const char *req, int timeout_ms)
{
	return t_exchange(src, req, timeout_ms, NULL, 0);
}

/* A request with a JSON body, as curl would send it, closing after. */
static int
t_post(const char *path, const char *json, char *body, size_t cap)
{
	char req[2048];

	snprintf(req, sizeof(req),
	    "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    path, strlen(json), json);
	return t_exchange("127.0.0.1", req, 5000, body, cap);
}

static int
t_get(const char *target, char *body, size_t cap)
{
	char req[1024];

	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", target);
	return t_exchange("127.0.0.1", req, 5000, body, cap);
}

static const char online_req[] =
    "GET /online-users HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

static int
t_group_setup(void **state)
{
	static const char *const http_args[] = {"--log-level", "warn", NULL};
	t_env_opts o = {.tag = "http-abuse", .http = true, .http_args = http_args,
	    .http_valgrind = valgrind};

	t_env_start(&env, &o);
	return 0;
}

static int
t_group_teardown(void **state)
{
	return t_env_stop(&env) == 0 ? 0 : -1;
}

static bool
localhost_served(void *arg)
{
	(void)arg;
	return t_request("127.0.0.1", online_req, 1000) == 200;
}

/* 300 connections from 127.0.0.1 that send a header a byte at a time and
 * never finish it.  The per-address limit (256) turns away the rest, and a
 * request from 127.0.0.2 is answered at once, before and after they all
 * send another byte. */
static void
test_slowloris_does_not_stop_a_real_request(void **state)
{
	enum { SLOW = 300 };
	static const char head[] = "GET /online-users HTTP/1.1\r\nHost: localhost\r\nX-Slow: a";
	int fds[SLOW];
	int64_t t0;

	for (int i = 0; i < SLOW; i++) {
		fds[i] = t_connect("127.0.0.1");
		t_send(fds[i], head, sizeof(head) - 1);
	}
	t0 = t_now_ms();
	assert_int_equal(t_request("127.0.0.2", online_req, 5000), 200);
	assert_true(t_now_ms() - t0 < 1000);
	for (int i = 0; i < SLOW; i++)
		t_send(fds[i], "b", 1);
	t0 = t_now_ms();
	assert_int_equal(t_request("127.0.0.2", online_req, 5000), 200);
	assert_true(t_now_ms() - t0 < 1000);
	for (int i = 0; i < SLOW; i++)
		close(fds[i]);
	/* Once the bridge has seen them go, 127.0.0.1 is served again (and
	 * the tests after this one may use it). */
	assert_true(t_wait_for(localhost_served, NULL, valgrind ? 30000 : 5000));
}

/* 413 as soon as the headers are in; the body is never sent. */
static void
test_a_100mb_content_length_is_413_at_once(void **state)
{
	static const char req[] = "POST /message HTTP/1.1\r\nHost: localhost\r\n"
				  "Content-Type: application/json\r\nContent-Length: 104857600\r\n"
				  "\r\n{\"sender\": ";
	char out[4096];
	int64_t t0 = t_now_ms();
	int fd = t_connect(NULL);

	t_send(fd, req, sizeof(req) - 1);
	assert_true(t_read_all(fd, out, sizeof(out), 5000) > 0);
	close(fd);
	assert_int_equal(t_http_status(out), 413);
	assert_true(t_now_ms() - t0 < 1000);
	assert_non_null(strstr(out, "\r\n\r\n{\"code\": 413, \"status\": \"Request Entity Too Large\", "
				    "\"message\": \"Request body is larger than the limit of 397312 "
				    "bytes\"}\n"));
}

/* xorshift64*: the same sequence on every run, so a failure repeats. */
/* The HTTP rows of docs/reliability.md's bad-input table that no other test
 * covers: control characters, negative and overflowing numbers, unknown
 * JSON fields. */
static void
test_bad_input_rows_get_their_exact_answers(void **state)
{
	static const char limit_422[] = "{\"code\": 422, \"status\": \"Unprocessable Entity\", "
					"\"message\": \"'limit' must be an integer from 1 to 1000\"}\n";
	static const char after_422[] =
	    "{\"code\": 422, \"status\": \"Unprocessable Entity\", \"message\": \"'after' must be "
	    "a non-negative integer (a next_cursor)\"}\n";
	char body[1024], want[256];
	unsigned long long id = 0;

	/* A control character in a username is refused; in content it is text. */
	assert_int_equal(t_post("/login", "{\"username\": \"fl\\u0007ain1\"}", body,
			     sizeof(body)),
	    422);
	assert_string_equal(body,
	    "{\"code\": 422, \"status\": \"Unprocessable Entity\", \"message\": \"Invalid "
	    "'username': username contains a space or control character\"}\n");
	assert_int_equal(t_post("/message",
			     "{\"sender\": \"flain1\", \"recipient\": \"Ilya\", "
			     "\"content\": \"a\\u0001b\\tc\"}",
			     body, sizeof(body)),
	    200);
	assert_int_equal(sscanf(body, "{\"content\": \"a\\u0001b\\tc\", \"id\": %llu,", &id), 1);
	snprintf(want, sizeof(want),
	    "{\"content\": \"a\\u0001b\\tc\", \"id\": %llu, \"recipient\": \"Ilya\", "
	    "\"sender\": \"flain1\"}\n",
	    id);
	assert_string_equal(body, want);

	/* Negative and overflowing paging values. */
	assert_int_equal(t_get("/spammer-stats?limit=-1", body, sizeof(body)), 422);
	assert_string_equal(body, limit_422);
	assert_int_equal(t_get("/spammer-stats?limit=99999999999999999999999", body, sizeof(body)),
	    422);
	assert_string_equal(body, limit_422);
	assert_int_equal(t_get("/chatter-stats?limit=4294967297", body, sizeof(body)), 422);
	assert_string_equal(body, limit_422);
	assert_int_equal(
	    t_get("/inbound-messages?username=Ilya&after=-5", body, sizeof(body)), 422);
	assert_string_equal(body, after_422);
	assert_int_equal(t_get("/inbound-messages?username=Ilya&after=18446744073709551616", body,
			     sizeof(body)),
	    422);
	assert_string_equal(body, after_422);

	/* Unknown fields in a body are ignored. */
	assert_int_equal(t_post("/login",
			     "{\"username\": \"Dizzzmas\", \"extra\": [1, {\"a\": null}]}", body,
			     sizeof(body)),
	    200);
	assert_string_equal(body, "Logged in.");
}

static uint64_t rng_state = 0x5eed0f1a7b1dULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t
rng_below(size_t n)
{
	return (size_t)(rng() % n);
}

static const char *const paths[] = {"/login", "/logout", "/message", "/user-stats",
	"/inbound-messages", "/spammer-stats", "/chatter-stats", "/online-users",
	"/event-journal", "/users", "/healthz", "/metrics", "/openapi.json", "/", "/nowhere",
	"/events"};
static const char *const methods[] = {
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "get", "P\x01ST", "CONNECT"};
static const char *const bits[] = {"%", "%0", "%00", "%zz", "%2F", "%25", "%C3%A9", "%ff",
	"?", "&", "=", "#", "..", "/", "username=", "limit=", "after=", "Ilya", "\xc3", "\xff",
	" ", "+", "\t", ";"};
static const char *const bodies[] = {"{\"username\": \"Ilya\"}",
	"{\"sender\": \"Alice\", \"recipient\": \"Ilya\", \"content\": \"fuzz\"}", "{}", "[",
	"{\"username\": 1}", "{\"a\": \"\\u0000\"}", "{\"username\": \"a\", \"username\": \"b\"}",
	"\"\\ud800\"", "{\"username\": \"\xff\xfe\"}", "nul\x00l", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]"};

/* Appends a mangled request of kind k to buf: random bytes; a valid request
 * with bytes flipped; a mangled URI; a body of known trouble, with a true,
 * short or long Content-Length. */
static size_t
t_mangled(char *buf, size_t cap, int k)
{
	size_t n = 0;

	switch (k) {
	case 0:
		n = 1 + rng_below(cap < 2048 ? cap : 2048);
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)rng();
		return n;
	case 1: {
		int flips = 1 + (int)rng_below(8);

		n = (size_t)snprintf(buf, cap,
		    "POST %s?username=Ilya HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n"
		    "\r\n{\"username\": \"Ilya\"}",
		    paths[rng_below(sizeof(paths) / sizeof(paths[0]))]);
		while (flips-- > 0)
			buf[rng_below(n)] = (char)rng();
		return n;
	}
	case 2: {
		int parts = (int)rng_below(40);

		n = (size_t)snprintf(buf, cap, "%s %s", methods[rng_below(sizeof(methods) /
								       sizeof(methods[0]))],
		    paths[rng_below(sizeof(paths) / sizeof(paths[0]))]);
		while (parts-- > 0 && n + 16 < cap)
			n += (size_t)snprintf(buf + n, cap - n, "%s",
			    bits[rng_below(sizeof(bits) / sizeof(bits[0]))]);
		n += (size_t)snprintf(buf + n, cap - n, " HTTP/1.%d\r\nHost: localhost\r\n\r\n",
		    (int)rng_below(3));
		return n < cap ? n : cap;
	}
	default: {
		const char *body = bodies[rng_below(sizeof(bodies) / sizeof(bodies[0]))];
		size_t blen = strlen(body);
		long claimed = (long)blen + (long)rng_below(5) - 2;

		n = (size_t)snprintf(buf, cap,
		    "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
		    "Content-Length: %ld\r\n\r\n%s",
		    paths[rng_below(3)], claimed, body);
		return n < cap ? n : cap;
	}
	}
}

/* One mangled request in flight, and what has come back of its answer. */
typedef struct t_slot {
	int fd;
	int64_t deadline;
	size_t got;
	char buf[8192];
} t_slot;

/* The status once buf holds a whole answer (head and Content-Length body),
 * else 0. */
static int
t_answer_whole(const t_slot *s)
{
	const char *end, *cl;
	size_t head;

	if ((end = memmem(s->buf, s->got, "\r\n\r\n", 4)) == NULL)
		return 0;
	head = (size_t)(end - s->buf) + 4;
	if ((cl = strcasestr(s->buf, "\r\nContent-Length: ")) == NULL || cl > end)
		return 0;
	if (s->got < head + strtoul(cl + 18, NULL, 10))
		return 0;
	return t_http_status(s->buf);
}

/* Ends a slot's connection with a reset, so that the bridge sees the end
 * at once whatever state the request is in. */
static void
t_slot_end(t_slot *s)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s->fd);
	s->fd = -1;
}

/* 10,000 mangled requests, 64 at a time.  Each ends with a whole answer,
 * a close by the bridge, or, when the bytes are an incomplete request the
 * bridge rightly waits to see the rest of, 500 ms of silence ("waiting").
 * Clients here do not half-close: libmicrohttpd takes a half-close for an
 * abort.  Every 1000, a real request from another address must get 200; at
 * the end, no answer may have been a server error (505, an unknown HTTP
 * version, is an answer about the request). */
static void
test_random_bytes_and_mangled_requests_leave_it_answering(void **state)
{
	enum { COUNT = 10000, WINDOW = 64, SILENCE_MS = 500 };
	static t_slot slots[WINDOW];
	struct pollfd pfds[WINDOW];
	char req[4096];
	int statuses[600] = {0};
	int started = 0, done = 0, waiting = 0, closed = 0;
	int64_t t0 = t_now_ms();

	for (int i = 0; i < WINDOW; i++)
		slots[i].fd = -1;
	while (done < COUNT) {
		int64_t now = t_now_ms();

		for (int i = 0; i < WINDOW; i++) {
			t_slot *s = &slots[i];

			if (s->fd < 0 && started < COUNT) {
				size_t n = t_mangled(req, sizeof(req), started % 4);

				s->fd = t_connect(NULL);
				s->got = 0;
				s->deadline = now + SILENCE_MS;
				t_send(s->fd, req, n);
				if (++started % 1000 == 0)
					assert_int_equal(
					    t_request("127.0.0.2", online_req, 5000), 200);
			}
			pfds[i] = (struct pollfd){.fd = s->fd, .events = POLLIN};
		}
		assert_true(poll(pfds, WINDOW, 50) >= 0);
		now = t_now_ms();
		for (int i = 0; i < WINDOW; i++) {
			t_slot *s = &slots[i];
			ssize_t n;
			int status;

			if (s->fd < 0)
				continue;
			if ((pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
				if (now >= s->deadline) {
					t_slot_end(s);
					waiting++;
					done++;
				}
				continue;
			}
			n = recv(s->fd, s->buf + s->got, sizeof(s->buf) - 1 - s->got,
			    MSG_DONTWAIT);
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n > 0) {
				s->got += (size_t)n;
				s->buf[s->got] = '\0';
				s->deadline = now + SILENCE_MS;
				if ((status = t_answer_whole(s)) == 0 &&
				    s->got < sizeof(s->buf) - 1)
					continue;
			} else {
				status = s->got > 0 ? t_http_status(s->buf) : 0;
			}
			t_slot_end(s);
			if (status == 0)
				closed++;
			else
				statuses[status < 600 ? status : 0]++;
			done++;
		}
	}
	fprintf(stderr, "# %d requests in %lld ms: %d closed without an answer, %d waiting;",
	    COUNT, (long long)(t_now_ms() - t0), closed, waiting);
	for (int s = 100; s < 600; s++)
		if (statuses[s] > 0)
			fprintf(stderr, " %d: %d", s, statuses[s]);
	fprintf(stderr, "\n");
	for (int s = 500; s < 600; s++)
		if (s != 505)
			assert_int_equal(statuses[s], 0);
	assert_int_equal(statuses[0], 0);
	assert_int_equal(t_request("127.0.0.2", online_req, 5000), 200);
}

/* docs/reliability.md's look-alike rows: through the bridge, a look-alike of
 * an existing user is what pigeond answers, ALREADY_EXISTS, which the bridge
 * maps to 418; an invisible character is refused by the bridge itself with
 * INVALID_ARGUMENT's 422, also in a query; a distinct name registers. */
static void
test_lookalike_username_is_418_and_invisible_one_422(void **state)
{
	char body[1024];

	/* Alice with a Cyrillic capital A (U+0410), in UTF-8 and escaped. */
	assert_int_equal(t_post("/users", "{\"username\": \"\xd0\x90lice\"}", body, sizeof(body)),
	    418);
	assert_string_equal(body, "{\"code\": 418, \"status\": \"I'm a teapot\", \"message\": "
				  "\"User \xd0\x90lice is too similar to the existing user Alice\"}\n");
	assert_int_equal(t_post("/users", "{\"username\": \"\\u0410lice\"}", body, sizeof(body)),
	    418);
	assert_string_equal(body, "{\"code\": 418, \"status\": \"I'm a teapot\", \"message\": "
				  "\"User \xd0\x90lice is too similar to the existing user Alice\"}\n");
	/* A zero width space. */
	assert_int_equal(
	    t_post("/users", "{\"username\": \"Al\\u200bice\"}", body, sizeof(body)), 422);
	assert_string_equal(body,
	    "{\"code\": 422, \"status\": \"Unprocessable Entity\", \"message\": \"Invalid "
	    "'username': username contains an invisible or formatting character (U+200B)\"}\n");
	assert_int_equal(t_get("/user-stats?username=Al%E2%80%8Bice", body, sizeof(body)), 422);
	assert_string_equal(body,
	    "{\"code\": 422, \"status\": \"Unprocessable Entity\", \"message\": \"Invalid "
	    "'username': username contains an invisible or formatting character (U+200B)\"}\n");
	/* Алиса, escaped. */
	assert_int_equal(t_post("/users", "{\"username\": \"\\u0410\\u043b\\u0438\\u0441\\u0430\"}",
			     body, sizeof(body)),
	    201);
	assert_string_equal(body, "{\"username\": \"Алиса\", \"role\": \"regular\"}\n");
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input_rows_get_their_exact_answers),
		cmocka_unit_test(test_lookalike_username_is_418_and_invisible_one_422),
		cmocka_unit_test(test_slowloris_does_not_stop_a_real_request),
		cmocka_unit_test(test_a_100mb_content_length_is_413_at_once),
		cmocka_unit_test(test_random_bytes_and_mangled_requests_leave_it_answering),
	};

	valgrind = argc > 1 && strcmp(argv[1], "--valgrind") == 0;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
