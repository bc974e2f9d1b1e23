/* SPDX-License-Identifier: MIT */
/*
 * The RPC foundation against a real pigeond and redis-server: Health, bad
 * input on the wire (an oversized frame, garbage, a truncated envelope, an
 * unknown method, an expired deadline) each getting its status while the
 * server keeps answering, and Redis going away and coming back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <pigeon/pigeon.h>

#include "codec.h"
#include "harness.h"
#include "clocks.h"

static t_env env;

static int
t_group_setup(void **state)
{
	t_env_opts o = {.tag = "foundation", .rpc_tcp = true, .client = true,
	    .client_deadline_ms = 2000};

	t_env_start(&env, &o);
	return 0;
}

static int
t_group_teardown(void **state)
{
	return t_env_stop(&env) == 0 ? 0 : -1;
}

/* Sends raw bytes on a fresh req socket and decodes the reply envelope. */
static pigeon_status
t_raw_call(const void *buf, size_t len, Pigeon__V1__ReplyEnvelope **out)
{
	nng_socket s;
	nng_msg *msg;
	pigeon_status rv;

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000), 0);
	assert_int_equal(nng_dial(s, env.pigeond.rpc_url, NULL, 0), 0);
	assert_int_equal(nng_msg_alloc(&msg, len), 0);
	memcpy(nng_msg_body(msg), buf, len);
	assert_int_equal(nng_sendmsg(s, msg, 0), 0);
	assert_int_equal(nng_recvmsg(s, &msg, 0), 0);
	rv = rpc_reply_decode(nng_msg_body(msg), nng_msg_len(msg), out);
	nng_msg_free(msg);
	nng_close(s);
	return rv;
}

/* The next request after bad input must be served normally. */
static void
t_assert_still_serving(void)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	pigeon_error err;

	assert_int_equal(pigeon_health(env.client, &req, &rep, &err), PIGEON_OK);
	assert_int_equal(rep->status, PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING);
	pigeon_reply_free(rep);
}

static void
test_health_is_serving_with_version(void **state)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	pigeon_error err;

	assert_int_equal(pigeon_health(env.client, &req, &rep, &err), PIGEON_OK);
	assert_int_equal(rep->status, PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING);
	assert_string_equal(rep->version, PIGEON_TEST_VERSION);
	assert_true(rep->uptime_ms >= 0);
	pigeon_reply_free(rep);
}

static bool
health_says_one_worker_after_11_s(void *arg)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	bool ok = false;

	if (clocks_mono_us() < *(int64_t *)arg)
		return false;
	assert_int_equal(pigeon_health(env.client, &req, &rep, NULL), PIGEON_OK);
	ok = rep->workers == 1;
	pigeon_reply_free(rep);
	assert_true(ok);
	return true;
}

/* A worker on an empty queue reads nothing for long stretches; it must still
 * count as alive (Redis's consumer idle time does not tell). */
static void
test_health_counts_a_worker_idle_for_11_s(void **state)
{
	int64_t after = clocks_mono_us() + 11 * 1000 * 1000;

	assert_true(t_wait_for(health_says_one_worker_after_11_s, &after, 15000));
}

static void
test_garbage_bytes_get_invalid_argument(void **state)
{
	static const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x7f};
	Pigeon__V1__ReplyEnvelope *rep;

	assert_int_equal(t_raw_call(garbage, sizeof(garbage), &rep), PIGEON_OK);
	assert_int_equal(rep->status, PIGEON_INVALID_ARGUMENT);
	assert_string_equal(rep->message, "request envelope does not decode");
	pigeon__v1__reply_envelope__free_unpacked(rep, NULL);
	t_assert_still_serving();
}

static void
test_truncated_envelope_gets_invalid_argument(void **state)
{
	Pigeon__V1__LoginRequest in = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__ReplyEnvelope *rep;
	uint8_t *buf;
	size_t len;

	in.username = "flain1";
	assert_int_equal(rpc_request_pack("Login", 1, 1, 0, &in.base, &buf, &len), PIGEON_OK);
	assert_int_equal(t_raw_call(buf, len - 3, &rep), PIGEON_OK);
	assert_int_equal(rep->status, PIGEON_INVALID_ARGUMENT);
	pigeon__v1__reply_envelope__free_unpacked(rep, NULL);
	free(buf);
	t_assert_still_serving();
}

static void
test_unknown_method_gets_unimplemented(void **state)
{
	Pigeon__V1__HealthRequest in = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__ReplyEnvelope *rep;
	uint8_t *buf;
	size_t len;

	assert_int_equal(rpc_request_pack("Teleport", 1, 2, 0, &in.base, &buf, &len), PIGEON_OK);
	assert_int_equal(t_raw_call(buf, len, &rep), PIGEON_OK);
	assert_int_equal(rep->status, PIGEON_UNIMPLEMENTED);
	assert_string_equal(rep->message, "unknown method Teleport");
	assert_int_equal(rep->request_id, 2);
	pigeon__v1__reply_envelope__free_unpacked(rep, NULL);
	free(buf);
	t_assert_still_serving();
}

static void
test_expired_deadline_gets_deadline_exceeded(void **state)
{
	Pigeon__V1__LoginRequest in = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__ReplyEnvelope *rep;
	Pigeon__V1__ListOnlineUsersRequest lreq = PIGEON__V1__LIST_ONLINE_USERS_REQUEST__INIT;
	Pigeon__V1__ListOnlineUsersReply *online;
	uint8_t *buf;
	size_t len;

	in.username = "Malory";
	assert_int_equal(
	    rpc_request_pack("Login", 1, 3, clocks_wall_ms() - 1000, &in.base, &buf, &len), PIGEON_OK);
	assert_int_equal(t_raw_call(buf, len, &rep), PIGEON_OK);
	assert_int_equal(rep->status, PIGEON_DEADLINE_EXCEEDED);
	pigeon__v1__reply_envelope__free_unpacked(rep, NULL);
	free(buf);
	/* The work was not done: Malory is not online. */
	assert_int_equal(pigeon_list_online_users(env.client, &lreq, &online, NULL), PIGEON_OK);
	for (size_t i = 0; i < online->n_usernames; i++)
		assert_string_not_equal(online->usernames[i], "Malory");
	pigeon_reply_free(online);
	t_assert_still_serving();
}

/* Speaks nng's SP-over-TCP framing by hand to announce a frame nobody could
 * afford, and checks the server drops the peer without allocating it. */
static void
test_peer_announcing_10_mib_frame_is_dropped(void **state)
{
	/* SP header: "\0SP\0", protocol req0 (0x30), reserved. */
	static const uint8_t hello[8] = {0x00, 'S', 'P', 0x00, 0x00, 0x30, 0x00, 0x00};
	uint8_t frame[8 + 64];
	uint64_t announced = 10u * 1024 * 1024;
	struct sockaddr_in a = {.sin_family = AF_INET};
	long rss_before, rss_after;
	uint8_t peer[8];
	ssize_t n;
	int fd;

	rss_before = t_proc_rss_kb(&env.pigeond.proc);
	assert_true(rss_before > 0);
	a.sin_port = htons((uint16_t)env.rpc_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, hello, sizeof(hello)), sizeof(hello));
	assert_int_equal(read(fd, peer, sizeof(peer)), sizeof(peer));
	assert_int_equal(peer[5], 0x31); /* rep0 */
	for (int i = 0; i < 8; i++)
		frame[i] = (uint8_t)(announced >> (56 - 8 * i));
	memset(frame + 8, 'x', 64);
	(void)!write(fd, frame, sizeof(frame));
	/* The server closes the connection: read sees EOF (or a reset). */
	n = read(fd, peer, sizeof(peer));
	assert_true(n <= 0);
	close(fd);
	rss_after = t_proc_rss_kb(&env.pigeond.proc);
	assert_true(rss_after - rss_before < 4 * 1024);
	t_assert_still_serving();
}

static bool
redis_is_unavailable(void *arg)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	bool down;

	if (pigeon_health(env.client, &req, &rep, NULL) != PIGEON_OK)
		return false;
	down = rep->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING;
	pigeon_reply_free(rep);
	return down;
}

static bool
login_works(void *arg)
{
	Pigeon__V1__LoginRequest req = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LogoutRequest out = PIGEON__V1__LOGOUT_REQUEST__INIT;
	Pigeon__V1__LoginReply *rep;
	Pigeon__V1__LogoutReply *orep;

	req.username = "Dizzzmas";
	if (pigeon_login(env.client, &req, &rep, NULL) != PIGEON_OK)
		return false;
	pigeon_reply_free(rep);
	out.username = "Dizzzmas";
	assert_int_equal(pigeon_logout(env.client, &out, &orep, NULL), PIGEON_OK);
	pigeon_reply_free(orep);
	return true;
}

static void
test_redis_down_gives_unavailable_then_recovers(void **state)
{
	Pigeon__V1__LoginRequest req = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *rep;
	pigeon_error err;
	int64_t t0, took;

	t_redis_stop(&env.redis, false);
	assert_true(t_wait_for(redis_is_unavailable, NULL, 5000));
	req.username = "Dizzzmas";
	t0 = clocks_mono_us();
	assert_int_equal(pigeon_login(env.client, &req, &rep, &err), PIGEON_UNAVAILABLE);
	took = clocks_mono_us() - t0;
	assert_int_equal(err.code, PIGEON_UNAVAILABLE);
	/* Well within the client's 2 s deadline. */
	assert_true(took < 2000 * 1000);

	t_redis_restart(&env.redis);
	assert_true(t_wait_for(login_works, NULL, 10000));
	t_assert_still_serving();
}

/* Runs "$PIGEOND args" with env set (e.g. "PIGEON_BATCH=5000 "); returns
 * its exit code, and its stderr in out. */
static int
run_pigeond(const char *env_prefix, const char *args, char *out, size_t cap)
{
	char cmd[1024];
	FILE *f;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd), "%s'%s' %s 2>&1 >/dev/null", env_prefix, getenv("PIGEOND"),
	    args);
	assert_non_null(f = popen(cmd, "r"));
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	status = pclose(f);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* One claim script serves a whole batch and Redis serves nothing else
 * meanwhile: a batch is 1 to 1000 messages, on the command line and in the
 * environment alike. */
static void
test_batch_out_of_range_is_refused_at_start(void **state)
{
	char out[512];

	assert_int_equal(run_pigeond("", "--batch 1001", out, sizeof(out)), 2);
	assert_non_null(strstr(out, ": --batch must be from 1 to 1000\n"));
	assert_int_equal(run_pigeond("", "--batch 0", out, sizeof(out)), 2);
	assert_non_null(strstr(out, ": --batch must be from 1 to 1000\n"));
	assert_int_equal(run_pigeond("PIGEON_BATCH=5000 ", "", out, sizeof(out)), 2);
	assert_non_null(strstr(out, ": --batch must be from 1 to 1000\n"));
}

/* A TCP listener that answers every SP handshake as a pub socket would
 * (protocol 0x20) and keeps the connection until the peer drops it.  Plain
 * sockets, not an nng pub socket: nng 1.5 sometimes leaks a listener whose
 * pipes were refused, which valgrind reports. */
typedef struct wrong_peer {
	int fd;
	int port;
	int answered;
	bool stop;
	pthread_t thread;
} wrong_peer;

static void *
wrong_peer_main(void *arg)
{
	static const uint8_t pub_header[8] = {0, 'S', 'P', 0, 0x00, 0x20, 0, 0};
	wrong_peer *w = arg;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd lp = {w->fd, POLLIN, 0};
		uint8_t hdr[8], sink[64];
		size_t got = 0;
		int c;

		if (poll(&lp, 1, 20) <= 0 || (c = accept(w->fd, NULL, NULL)) < 0)
			continue;
		while (got < sizeof(hdr)) {
			struct pollfd cp = {c, POLLIN, 0};
			ssize_t n;

			if (poll(&cp, 1, 1000) <= 0 || (n = read(c, hdr + got, sizeof(hdr) - got)) <= 0)
				break;
			got += (size_t)n;
		}
		if (got == sizeof(hdr) && write(c, pub_header, sizeof(pub_header)) == 8) {
			struct pollfd cp = {c, POLLIN, 0};

			__atomic_fetch_add(&w->answered, 1, __ATOMIC_RELEASE);
			/* Until the client refuses us and closes. */
			while (poll(&cp, 1, 1000) > 0 && read(c, sink, sizeof(sink)) > 0)
				;
		}
		close(c);
	}
	return NULL;
}

static void
wrong_peer_start(wrong_peer *w)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int one = 1;

	memset(w, 0, sizeof(*w));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((w->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(setsockopt(w->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(w->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(w->fd, 16), 0);
	assert_int_equal(getsockname(w->fd, (struct sockaddr *)&a, &len), 0);
	w->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&w->thread, NULL, wrong_peer_main, w), 0);
}

static void
wrong_peer_stop(wrong_peer *w)
{
	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	pthread_join(w->thread, NULL);
	close(w->fd);
}

static bool
three_answered(void *arg)
{
	return __atomic_load_n(&((wrong_peer *)arg)->answered, __ATOMIC_ACQUIRE) >= 3;
}

typedef struct health_call {
	pigeon_client *c;
	pigeon_status st;
} health_call;

static bool
health_answers(void *arg)
{
	health_call *h = arg;

	return (h->st = t_pigeond_health(h->c, NULL)) == PIGEON_OK;
}

/* A peer of another protocol (here one answering as a pub socket) is
 * refused by the client's req socket after nng has announced the pipe, and
 * nng never says the pipe was added: the client must not count those as
 * connections lost, or it takes the pigeond that comes next for no
 * connection and fails every call at once with UNAVAILABLE.  (pigeond
 * killed while a client dials does the same now and then.) */
static void
test_client_connects_after_refusing_wrong_peers(void **state)
{
	pigeon_client_opts co = {.deadline_ms = 1000};
	health_call h = {.st = PIGEON_UNKNOWN};
	wrong_peer w;
	t_pigeond pd;
	char url[64];

	wrong_peer_start(&w);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", w.port);
	co.url = url;
	assert_int_equal(pigeon_client_open_opts(&h.c, &co), PIGEON_OK);
	/* The client dials again every 50 ms to 1 s; three refused pipes. */
	assert_true(t_wait_for(three_answered, &w, 10000));
	wrong_peer_stop(&w);

	t_pigeond_start(&pd, &env.redis, url, (const char *const[]){"--role", "rpc", NULL});
	t_wait_every(health_answers, &h, 50, 10000);
	assert_int_equal(h.st, PIGEON_OK);
	pigeon_client_close(h.c);
	assert_int_equal(t_pigeond_stop(&pd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_is_serving_with_version),
		cmocka_unit_test(test_batch_out_of_range_is_refused_at_start),
		cmocka_unit_test(test_health_counts_a_worker_idle_for_11_s),
		cmocka_unit_test(test_garbage_bytes_get_invalid_argument),
		cmocka_unit_test(test_truncated_envelope_gets_invalid_argument),
		cmocka_unit_test(test_unknown_method_gets_unimplemented),
		cmocka_unit_test(test_expired_deadline_gets_deadline_exceeded),
		cmocka_unit_test(test_peer_announcing_10_mib_frame_is_dropped),
		cmocka_unit_test(test_redis_down_gives_unavailable_then_recovers),
		cmocka_unit_test(test_client_connects_after_refusing_wrong_peers),
	};

	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
