/* SPDX-License-Identifier: MIT */
/*
 * The RPC core without sockets: envelope encode/decode, dispatch through the
 * generated service descriptor (unknown method, garbage, truncated bytes,
 * undecodable payload, expired deadline, size limit) and de-duplication of a
 * resent request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pigeon/pigeon.h>

#include "clocks.h"
#include "codec.h"
#include "dedup.h"
#include "dispatch.h"
#include "errors.h"
#include "t_service.h"
#include "validate.h"

/* A service whose Login answers with the username and counts its calls;
 * Logout keeps its call pending until the test finishes it; every other
 * method fails with UNIMPLEMENTED. */
static int t_login_calls;
static void *t_pending_call;

static void
t_login(Pigeon__V1__Pigeon_Service *s, const Pigeon__V1__LoginRequest *in,
    Pigeon__V1__LoginReply_Closure closure, void *data)
{
	Pigeon__V1__LoginReply r = PIGEON__V1__LOGIN_REPLY__INIT;

	t_login_calls++;
	r.username = in->username;
	r.sequence = 42;
	closure(&r, data);
}

static void
t_logout(Pigeon__V1__Pigeon_Service *s, const Pigeon__V1__LogoutRequest *in,
    Pigeon__V1__LogoutReply_Closure closure, void *data)
{
	t_pending_call = data;
}

T_SERVICE_REST

static Pigeon__V1__Pigeon_Service t_service = PIGEON__V1__PIGEON__INIT(t_);

/* Collects replies handed to the dispatcher's reply callback. */
typedef struct t_replies {
	int count;
	pigeon_status status;
	char message[256];
	uint64_t request_id;
	Pigeon__V1__LoginReply *login;
} t_replies;

static void
t_reply(void *arg, const uint8_t *buf, size_t len)
{
	t_replies *r = arg;
	Pigeon__V1__ReplyEnvelope *env;

	assert_int_equal(rpc_reply_decode(buf, len, &env), PIGEON_OK);
	r->count++;
	r->status = (pigeon_status)env->status;
	r->request_id = env->request_id;
	strncpy(r->message, env->message, sizeof(r->message) - 1);
	if (env->status == PIGEON_OK && env->payload.len > 0) {
		pigeon__v1__login_reply__free_unpacked(r->login, NULL);
		r->login = pigeon__v1__login_reply__unpack(NULL, env->payload.len, env->payload.data);
	}
	pigeon__v1__reply_envelope__free_unpacked(env, NULL);
}

static void
t_replies_fini(t_replies *r)
{
	pigeon__v1__login_reply__free_unpacked(r->login, NULL);
	r->login = NULL;
}

static int
t_setup(void **state)
{
	rpc_dispatcher *d;
	static const char *const tracked[] = {"Login", "Logout", NULL};
	rpc_dispatch_opts o = {.request_max = 4096, .dedup_capacity = 4, .dedup_methods = tracked};

	t_login_calls = 0;
	t_pending_call = NULL;
	assert_int_equal(rpc_dispatcher_new(&d, &t_service.base, &o), PIGEON_OK);
	*state = d;
	return 0;
}

static int
t_teardown(void **state)
{
	rpc_dispatcher_free(*state);
	return 0;
}

/* Packs a Login request for `user` with the given ids and deadline. */
static void
t_login_request(const char *method, const char *user, uint64_t client, uint64_t req,
    int64_t deadline, uint8_t **buf, size_t *len)
{
	Pigeon__V1__LoginRequest in = PIGEON__V1__LOGIN_REQUEST__INIT;

	in.username = (char *)user;
	assert_int_equal(rpc_request_pack(method, client, req, deadline, &in.base, buf, len),
	    PIGEON_OK);
}

static void
test_envelope_round_trips_every_field(void **state)
{
	Pigeon__V1__LoginRequest in = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginRequest *payload;
	ProtobufCMessage *m;
	rpc_request r;
	uint8_t *buf;
	size_t len;

	in.username = "flain1";
	assert_int_equal(rpc_request_pack("Login", 7, 9, 1234567890123, &in.base, &buf, &len),
	    PIGEON_OK);
	assert_int_equal(rpc_request_decode(&r, buf, len), PIGEON_OK);
	assert_string_equal(r.env->method, "Login");
	assert_int_equal(r.env->client_id, 7);
	assert_int_equal(r.env->request_id, 9);
	assert_int_equal(r.env->deadline_ms, 1234567890123);
	assert_int_equal(rpc_payload_decode(&pigeon__v1__login_request__descriptor,
			     &r.env->payload, &r.budget, &m),
	    PIGEON_OK);
	payload = (Pigeon__V1__LoginRequest *)m;
	assert_string_equal(payload->username, "flain1");
	protobuf_c_message_free_unpacked(m, &r.budget.base);
	rpc_request_fini(&r);
	free(buf);
}

static void
test_reply_envelope_carries_status_message_and_id(void **state)
{
	Pigeon__V1__ReplyEnvelope *env;
	uint8_t *buf;
	size_t len;

	assert_int_equal(rpc_reply_pack(PIGEON_NOT_FOUND, "Couldn't find user with username X",
			     NULL, 77, &buf, &len),
	    PIGEON_OK);
	assert_int_equal(rpc_reply_decode(buf, len, &env), PIGEON_OK);
	assert_int_equal(env->status, PIGEON_NOT_FOUND);
	assert_string_equal(env->message, "Couldn't find user with username X");
	assert_int_equal(env->request_id, 77);
	assert_int_equal(env->payload.len, 0);
	pigeon__v1__reply_envelope__free_unpacked(env, NULL);
	free(buf);
}

static void
test_truncated_envelope_does_not_decode(void **state)
{
	rpc_request r;
	uint8_t *buf;
	size_t len;

	/* The payload is the envelope's last field: every cut inside it, and
	 * inside its length prefix, leaves bytes that are not an envelope. */
	t_login_request("Login", "flain1", 1, 1, 0, &buf, &len);
	assert_int_equal(buf[len - 10], 0x32); /* field 6, length-delimited */
	assert_int_equal(buf[len - 9], 8);     /* an 8-byte payload */
	for (size_t cut = len - 8; cut < len; cut++)
		assert_int_equal(rpc_request_decode(&r, buf, cut), PIGEON_INVALID_ARGUMENT);
	assert_int_equal(rpc_request_decode(&r, buf, 0), PIGEON_INVALID_ARGUMENT);
	free(buf);
}

static void
test_budget_refuses_allocation_past_its_limit(void **state)
{
	pb_budget b;
	void *p;

	pb_budget_init(&b, 100);
	p = b.base.alloc(b.base.allocator_data, 60);
	assert_non_null(p);
	assert_null(b.base.alloc(b.base.allocator_data, 41));
	assert_int_equal(b.used, 60);
	b.base.free(b.base.allocator_data, p);
}

static void
test_dispatch_calls_handler_and_returns_reply(void **state)
{
	t_replies r = {0};
	uint8_t *buf;
	size_t len;

	t_login_request("Login", "flain1", 1, 5, clocks_wall_ms() + 5000, &buf, &len);
	rpc_dispatch(*state, buf, len, t_reply, &r);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.status, PIGEON_OK);
	assert_int_equal(r.request_id, 5);
	assert_non_null(r.login);
	assert_string_equal(r.login->username, "flain1");
	assert_int_equal(r.login->sequence, 42);
	assert_int_equal(t_login_calls, 1);
	t_replies_fini(&r);
	free(buf);
}

static void
test_unknown_method_is_unimplemented(void **state)
{
	t_replies r = {0};
	uint8_t *buf;
	size_t len;

	t_login_request("Fly", "flain1", 1, 6, 0, &buf, &len);
	rpc_dispatch(*state, buf, len, t_reply, &r);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.status, PIGEON_UNIMPLEMENTED);
	assert_string_equal(r.message, "unknown method Fly");
	assert_int_equal(t_login_calls, 0);
	free(buf);
}

static void
test_garbage_bytes_are_invalid_argument(void **state)
{
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
	t_replies r = {0};

	rpc_dispatch(*state, garbage, sizeof(garbage), t_reply, &r);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.status, PIGEON_INVALID_ARGUMENT);
	assert_string_equal(r.message, "request envelope does not decode");
	assert_int_equal(r.request_id, 0);
}

static void
test_undecodable_payload_is_invalid_argument(void **state)
{
	Pigeon__V1__RequestEnvelope env = PIGEON__V1__REQUEST_ENVELOPE__INIT;
	static uint8_t bad_payload[] = {0x0a, 0x7f, 'x'}; /* string field claiming 127 bytes */
	t_replies r = {0};
	uint8_t buf[64];
	size_t len;

	env.method = "Login";
	env.request_id = 8;
	env.payload.data = bad_payload;
	env.payload.len = sizeof(bad_payload);
	len = pigeon__v1__request_envelope__pack(&env, buf);
	rpc_dispatch(*state, buf, len, t_reply, &r);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.status, PIGEON_INVALID_ARGUMENT);
	assert_string_equal(r.message, "request payload does not decode");
	assert_int_equal(t_login_calls, 0);
}

static void
test_expired_deadline_is_refused_without_work(void **state)
{
	t_replies r = {0};
	uint8_t *buf;
	size_t len;

	t_login_request("Login", "flain1", 1, 9, clocks_wall_ms() - 1, &buf, &len);
	rpc_dispatch(*state, buf, len, t_reply, &r);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.status, PIGEON_DEADLINE_EXCEEDED);
	assert_int_equal(r.request_id, 9);
	assert_int_equal(t_login_calls, 0);
	free(buf);
}

static void
test_request_over_size_limit_is_resource_exhausted(void **state)
{
	char *big = malloc(5000);
	t_replies r = {0};
	uint8_t *buf;
	size_t len;

	memset(big, 'a', 4999);
	big[4999] = '\0';
	t_login_request("Login", big, 1, 10, 0, &buf, &len);
	assert_true(len > 4096);
	rpc_dispatch(*state, buf, len, t_reply, &r);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.status, PIGEON_RESOURCE_EXHAUSTED);
	assert_int_equal(t_login_calls, 0);
	free(buf);
	free(big);
}

static void
test_resent_request_gets_first_answer_and_runs_once(void **state)
{
	t_replies first = {0}, again = {0};
	uint8_t *buf;
	size_t len;

	t_login_request("Login", "Ilya", 3, 11, 0, &buf, &len);
	rpc_dispatch(*state, buf, len, t_reply, &first);
	rpc_dispatch(*state, buf, len, t_reply, &again);
	assert_int_equal(t_login_calls, 1);
	assert_int_equal(first.count, 1);
	assert_int_equal(again.count, 1);
	assert_int_equal(again.status, PIGEON_OK);
	assert_int_equal(again.request_id, 11);
	assert_string_equal(again.login->username, "Ilya");
	t_replies_fini(&first);
	t_replies_fini(&again);
	free(buf);
}

static void
test_same_request_id_from_another_client_runs_again(void **state)
{
	t_replies a = {0}, b = {0};
	uint8_t *buf1, *buf2;
	size_t len1, len2;

	t_login_request("Login", "Ilya", 3, 12, 0, &buf1, &len1);
	t_login_request("Login", "Ilya", 4, 12, 0, &buf2, &len2);
	rpc_dispatch(*state, buf1, len1, t_reply, &a);
	rpc_dispatch(*state, buf2, len2, t_reply, &b);
	assert_int_equal(t_login_calls, 2);
	t_replies_fini(&a);
	t_replies_fini(&b);
	free(buf1);
	free(buf2);
}

static void
test_copy_arriving_in_flight_waits_for_the_first_answer(void **state)
{
	Pigeon__V1__LogoutRequest in = PIGEON__V1__LOGOUT_REQUEST__INIT;
	Pigeon__V1__LogoutReply out = PIGEON__V1__LOGOUT_REPLY__INIT;
	t_replies first = {0}, again = {0};
	uint8_t *buf;
	size_t len;

	in.username = "Dizzzmas";
	assert_int_equal(rpc_request_pack("Logout", 5, 1, 0, &in.base, &buf, &len), PIGEON_OK);
	rpc_dispatch(*state, buf, len, t_reply, &first);
	assert_non_null(t_pending_call);
	rpc_dispatch(*state, buf, len, t_reply, &again);
	assert_int_equal(first.count, 0);
	assert_int_equal(again.count, 0);
	out.username = "Dizzzmas";
	rpc_call_done(t_pending_call, PIGEON_OK, NULL, &out.base);
	assert_int_equal(first.count, 1);
	assert_int_equal(again.count, 1);
	assert_int_equal(again.status, PIGEON_OK);
	t_replies_fini(&first);
	t_replies_fini(&again);
	free(buf);
}

static void
test_failed_call_keeps_its_status_and_message(void **state)
{
	Pigeon__V1__LogoutRequest in = PIGEON__V1__LOGOUT_REQUEST__INIT;
	t_replies r = {0};
	uint8_t *buf;
	size_t len;

	in.username = "Alice";
	assert_int_equal(rpc_request_pack("Logout", 6, 1, 0, &in.base, &buf, &len), PIGEON_OK);
	rpc_dispatch(*state, buf, len, t_reply, &r);
	rpc_call_done(t_pending_call, PIGEON_FAILED_PRECONDITION, "User Alice isn't logged in.",
	    NULL);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.status, PIGEON_FAILED_PRECONDITION);
	assert_string_equal(r.message, "User Alice isn't logged in.");
	free(buf);
}

static void
t_count_reply(void *arg, const uint8_t *buf, size_t len)
{
	(*(int *)arg)++;
}

static void
test_dedup_forgets_oldest_finished_entry_when_full(void **state)
{
	dedup *d;
	int answered = 0;
	static const uint8_t ans[] = {1, 2, 3};

	assert_int_equal(dedup_new(&d, 2), PIGEON_OK);
	assert_int_equal(dedup_begin(d, 1, 1, t_count_reply, &answered), DEDUP_NEW);
	dedup_finish(d, 1, 1, ans, sizeof(ans));
	assert_int_equal(dedup_begin(d, 1, 2, t_count_reply, &answered), DEDUP_NEW);
	dedup_finish(d, 1, 2, ans, sizeof(ans));
	assert_int_equal(dedup_begin(d, 1, 3, t_count_reply, &answered), DEDUP_NEW);
	assert_int_equal(dedup_size(d), 2);
	/* (1,1) was the oldest and is gone; (1,2) is remembered. */
	assert_int_equal(dedup_begin(d, 1, 2, t_count_reply, &answered), DEDUP_ANSWERED);
	assert_int_equal(answered, 1);
	dedup_finish(d, 1, 3, ans, sizeof(ans));
	assert_int_equal(dedup_begin(d, 1, 1, t_count_reply, &answered), DEDUP_NEW);
	dedup_free(d);
}

static void
test_dedup_full_of_requests_in_flight_is_untracked(void **state)
{
	dedup *d;
	int answered = 0;

	assert_int_equal(dedup_new(&d, 1), PIGEON_OK);
	assert_int_equal(dedup_begin(d, 1, 1, t_count_reply, &answered), DEDUP_NEW);
	assert_int_equal(dedup_begin(d, 1, 2, t_count_reply, &answered), DEDUP_UNTRACKED);
	dedup_free(d);
}

static void
test_utf8_rejects_overlong_surrogate_and_truncated(void **state)
{
	assert_true(validate_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x90\xa6", 15));
	assert_false(validate_utf8("\xc0\xaf", 2));         /* overlong '/' */
	assert_false(validate_utf8("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(validate_utf8("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
	assert_false(validate_utf8("\xe2\x82", 2));         /* truncated */
	assert_false(validate_utf8("\x80", 1));             /* lone continuation */
}

static void
test_nng_errors_map_to_statuses(void **state)
{
	assert_int_equal(status_from_nng(0), PIGEON_OK);
	assert_int_equal(status_from_nng(5 /* NNG_ETIMEDOUT */), PIGEON_DEADLINE_EXCEEDED);
	assert_int_equal(status_from_nng(6 /* NNG_ECONNREFUSED */), PIGEON_UNAVAILABLE);
	assert_int_equal(status_from_nng(7 /* NNG_ECLOSED */), PIGEON_UNAVAILABLE);
	assert_int_equal(status_from_nng(2 /* NNG_ENOMEM */), PIGEON_RESOURCE_EXHAUSTED);
	assert_int_equal(status_from_nng(22 /* NNG_EMSGSIZE */), PIGEON_RESOURCE_EXHAUSTED);
	assert_int_equal(status_from_nng(9999), PIGEON_UNKNOWN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_round_trips_every_field),
		cmocka_unit_test(test_reply_envelope_carries_status_message_and_id),
		cmocka_unit_test(test_truncated_envelope_does_not_decode),
		cmocka_unit_test(test_budget_refuses_allocation_past_its_limit),
		cmocka_unit_test_setup_teardown(
		    test_dispatch_calls_handler_and_returns_reply, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_unknown_method_is_unimplemented, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_garbage_bytes_are_invalid_argument, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_undecodable_payload_is_invalid_argument, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_expired_deadline_is_refused_without_work, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_request_over_size_limit_is_resource_exhausted, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_resent_request_gets_first_answer_and_runs_once, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_same_request_id_from_another_client_runs_again, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_copy_arriving_in_flight_waits_for_the_first_answer, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_call_keeps_its_status_and_message, t_setup, t_teardown),
		cmocka_unit_test(test_dedup_forgets_oldest_finished_entry_when_full),
		cmocka_unit_test(test_dedup_full_of_requests_in_flight_is_untracked),
		cmocka_unit_test(test_utf8_rejects_overlong_surrogate_and_truncated),
		cmocka_unit_test(test_nng_errors_map_to_statuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
