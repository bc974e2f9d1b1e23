/* SPDX-License-Identifier: MIT */
/*
 * Retries without sockets: libpigeon's retry policy (clients/c/retry.h) as
 * the pure functions it is (policy defaults and limits, the backoff bound of
 * each retry, full jitter, which outcome is retried and never past the
 * deadline), and the server's side of a retry: the de-duplication table
 * forgets an UNAVAILABLE answer, so that a retry with the same request id
 * runs again, and keeps every other answer.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pigeon/pigeon.h>

#include "codec.h"
#include "dedup.h"
#include "dispatch.h"
#include "retry.h"
#include "t_service.h"

static pigeon_retry_policy
t_policy(uint32_t attempts, int32_t initial, int32_t max, double multiplier)
{
	pigeon_retry_policy in = {attempts, initial, max, multiplier}, out;

	assert_int_equal(retry_policy_normalize(&in, &out), PIGEON_OK);
	return out;
}

static void
test_zero_policy_means_one_attempt_and_default_backoff(void **state)
{
	pigeon_retry_policy zero = {0}, p;

	assert_int_equal(retry_policy_normalize(&zero, &p), PIGEON_OK);
	assert_int_equal(p.max_attempts, 1);
	assert_int_equal(p.initial_backoff_ms, PIGEON_DEFAULT_RETRY_INITIAL_BACKOFF_MS);
	assert_int_equal(p.max_backoff_ms, PIGEON_DEFAULT_RETRY_MAX_BACKOFF_MS);
	assert_true(p.multiplier == PIGEON_DEFAULT_RETRY_MULTIPLIER);
	/* An initial backoff above the default maximum raises the maximum. */
	p = t_policy(3, 5000, 0, 0);
	assert_int_equal(p.max_backoff_ms, 5000);
	/* Given fields stay as given. */
	p = t_policy(10, 50, 1000, 1.5);
	assert_int_equal(p.max_attempts, 10);
	assert_int_equal(p.initial_backoff_ms, 50);
	assert_int_equal(p.max_backoff_ms, 1000);
	assert_true(p.multiplier == 1.5);
}

static void
test_policy_out_of_range_is_invalid_argument(void **state)
{
	const pigeon_retry_policy bad[] = {
		{3, -1, 1000, 2.0},
		{3, 100, -5, 2.0},
		{3, 500, 100, 2.0},
		{3, 100, 1000, 0.5},
		{3, 100, 1000, -2.0},
		{3, 100, 1000, NAN},
	};
	pigeon_retry_policy out = {7, 7, 7, 7.0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(retry_policy_normalize(&bad[i], &out), PIGEON_INVALID_ARGUMENT);
		assert_int_equal(out.max_attempts, 7);
	}
}

static void
test_backoff_bound_grows_by_the_multiplier_up_to_the_cap(void **state)
{
	pigeon_retry_policy p = t_policy(10, 50, 1000, 2.0);
	const int64_t want[] = {50, 100, 200, 400, 800, 1000, 1000, 1000};

	for (uint32_t n = 1; n <= 8; n++)
		assert_int_equal(retry_backoff_bound_ms(&p, n), want[n - 1]);
	assert_int_equal(retry_backoff_bound_ms(&p, UINT32_MAX), 1000);
}

static void
test_fractional_multiplier_truncates_to_whole_milliseconds(void **state)
{
	pigeon_retry_policy p = t_policy(10, 100, 1000, 1.5);
	const int64_t want[] = {100, 150, 225, 337, 506, 759, 1000};

	for (uint32_t n = 1; n <= 7; n++)
		assert_int_equal(retry_backoff_bound_ms(&p, n), want[n - 1]);
}

static void
test_multiplier_one_keeps_the_initial_bound_at_any_retry(void **state)
{
	pigeon_retry_policy p = t_policy(0, 70, 1000, 1.0);

	assert_int_equal(retry_backoff_bound_ms(&p, 1), 70);
	assert_int_equal(retry_backoff_bound_ms(&p, 1000), 70);
	assert_int_equal(retry_backoff_bound_ms(&p, UINT32_MAX), 70);
}

static void
test_jitter_draws_from_zero_to_the_bound(void **state)
{
	pigeon_retry_policy p = t_policy(10, 50, 1000, 2.0);
	uint64_t counter = 12345;
	const int draws = 100000;

	for (uint32_t n = 1; n <= 7; n++) {
		int64_t bound = retry_backoff_bound_ms(&p, n), lo = bound, hi = 0, d;
		double sum = 0;

		assert_int_equal(retry_backoff_ms(&p, n, 0), 0);
		assert_int_equal(retry_backoff_ms(&p, n, (uint64_t)bound), bound);
		assert_int_equal(retry_backoff_ms(&p, n, (uint64_t)bound + 1), 0);
		assert_true(retry_backoff_ms(&p, n, UINT64_MAX) <= bound);
		for (int i = 0; i < draws; i++) {
			d = retry_backoff_ms(&p, n, retry_mix64(counter += RETRY_MIX_GAMMA));
			assert_true(d >= 0 && d <= bound);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum += (double)d;
		}
		/* Uniform over [0, bound]: both ends are reached and the mean is
		 * the middle (its standard error here is under 0.1% of the
		 * bound). */
		assert_int_equal(lo, 0);
		assert_int_equal(hi, bound);
		assert_true(fabs(sum / draws - bound / 2.0) < bound * 0.01);
	}
}

static void
test_only_unavailable_is_retried(void **state)
{
	pigeon_retry_policy p = t_policy(10, 50, 1000, 2.0);

	for (int st = 0; st < PIGEON_STATUS_COUNT; st++)
		assert_int_equal(retry_allowed(&p, (pigeon_status)st, 1, 0, 10, 5000),
		    st == PIGEON_UNAVAILABLE);
}

static void
test_attempts_stop_at_max_attempts(void **state)
{
	pigeon_retry_policy none = t_policy(0, 0, 0, 0), one = t_policy(1, 0, 0, 0);
	pigeon_retry_policy p = t_policy(4, 50, 1000, 2.0);

	assert_false(retry_allowed(&none, PIGEON_UNAVAILABLE, 1, 0, 0, 5000));
	assert_false(retry_allowed(&one, PIGEON_UNAVAILABLE, 1, 0, 0, 5000));
	for (uint32_t made = 1; made < 4; made++)
		assert_true(retry_allowed(&p, PIGEON_UNAVAILABLE, made, 0, 0, 5000));
	assert_false(retry_allowed(&p, PIGEON_UNAVAILABLE, 4, 0, 0, 5000));
}

static void
test_no_retry_starts_at_or_past_the_deadline(void **state)
{
	pigeon_retry_policy p = t_policy(10, 50, 1000, 2.0);

	assert_true(retry_allowed(&p, PIGEON_UNAVAILABLE, 1, 1000, 499, 1500));
	assert_false(retry_allowed(&p, PIGEON_UNAVAILABLE, 1, 1000, 500, 1500));
	assert_false(retry_allowed(&p, PIGEON_UNAVAILABLE, 1, 1000, 900, 1500));
	assert_false(retry_allowed(&p, PIGEON_UNAVAILABLE, 1, 1600, 0, 1500));
}

/* The server's side.  A Login handler that answers UNAVAILABLE while
 * t_down is set and OK otherwise, and a Logout handler that always fails
 * with NOT_FOUND; both count their calls. */
static int t_login_calls, t_logout_calls;
static int t_down;

static void
t_login(Pigeon__V1__Pigeon_Service *s, const Pigeon__V1__LoginRequest *in,
    Pigeon__V1__LoginReply_Closure closure, void *data)
{
	Pigeon__V1__LoginReply r = PIGEON__V1__LOGIN_REPLY__INIT;

	t_login_calls++;
	if (t_down) {
		rpc_call_fail(data, PIGEON_UNAVAILABLE, "redis unavailable");
		return;
	}
	r.username = in->username;
	closure(&r, data);
}

static void
t_logout(Pigeon__V1__Pigeon_Service *s, const Pigeon__V1__LogoutRequest *in,
    Pigeon__V1__LogoutReply_Closure closure, void *data)
{
	t_logout_calls++;
	rpc_call_fail(data, PIGEON_NOT_FOUND, "no such user");
}

T_SERVICE_REST

static Pigeon__V1__Pigeon_Service t_service = PIGEON__V1__PIGEON__INIT(t_);

static void
t_status_of(void *arg, const uint8_t *buf, size_t len)
{
	pigeon_status *st = arg;
	Pigeon__V1__ReplyEnvelope *env;

	assert_int_equal(rpc_reply_decode(buf, len, &env), PIGEON_OK);
	*st = (pigeon_status)env->status;
	pigeon__v1__reply_envelope__free_unpacked(env, NULL);
}

/* Dispatches `method` for user "flain1" as request (7, 1): every attempt of
 * one call carries the same ids. */
static pigeon_status
t_attempt(rpc_dispatcher *d, const char *method)
{
	Pigeon__V1__LoginRequest in = PIGEON__V1__LOGIN_REQUEST__INIT;
	pigeon_status st = PIGEON_STATUS_COUNT;
	uint8_t *buf;
	size_t len;

	in.username = "flain1";
	assert_int_equal(rpc_request_pack(method, 7, 1, 0, &in.base, &buf, &len), PIGEON_OK);
	rpc_dispatch(d, buf, len, t_status_of, &st);
	free(buf);
	return st;
}

static void
test_unavailable_answer_is_forgotten_so_a_retry_runs_again(void **state)
{
	rpc_dispatcher *d;

	t_login_calls = 0;
	assert_int_equal(rpc_dispatcher_new(&d, &t_service.base, NULL), PIGEON_OK);
	t_down = 1;
	assert_int_equal(t_attempt(d, "Login"), PIGEON_UNAVAILABLE);
	assert_int_equal(t_attempt(d, "Login"), PIGEON_UNAVAILABLE);
	t_down = 0;
	assert_int_equal(t_attempt(d, "Login"), PIGEON_OK);
	assert_int_equal(t_login_calls, 3);
	/* Once answered OK, the same ids get that answer without a call. */
	t_down = 1;
	assert_int_equal(t_attempt(d, "Login"), PIGEON_OK);
	assert_int_equal(t_login_calls, 3);
	t_down = 0;
	rpc_dispatcher_free(d);
}

static void
test_other_failures_are_remembered_and_answered_once(void **state)
{
	rpc_dispatcher *d;

	t_logout_calls = 0;
	assert_int_equal(rpc_dispatcher_new(&d, &t_service.base, NULL), PIGEON_OK);
	assert_int_equal(t_attempt(d, "Logout"), PIGEON_NOT_FOUND);
	assert_int_equal(t_attempt(d, "Logout"), PIGEON_NOT_FOUND);
	assert_int_equal(t_logout_calls, 1);
	rpc_dispatcher_free(d);
}

static void
t_count(void *arg, const uint8_t *buf, size_t len)
{
	(*(int *)arg)++;
}

static void
test_dedup_forget_answers_waiting_copies_and_drops_the_entry(void **state)
{
	const uint8_t ans[] = {1, 2, 3};
	int waited = 0, answered = 0;
	dedup *d;

	assert_int_equal(dedup_new(&d, 4), PIGEON_OK);
	assert_int_equal(dedup_begin(d, 1, 1, t_count, &answered), DEDUP_NEW);
	assert_int_equal(dedup_begin(d, 1, 1, t_count, &waited), DEDUP_WAITING);
	assert_int_equal(dedup_size(d), 1);
	dedup_forget(d, 1, 1, ans, sizeof(ans));
	assert_int_equal(waited, 1);
	assert_int_equal(dedup_size(d), 0);
	assert_int_equal(dedup_begin(d, 1, 1, t_count, &answered), DEDUP_NEW);
	assert_int_equal(answered, 0);
	dedup_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_policy_means_one_attempt_and_default_backoff),
		cmocka_unit_test(test_policy_out_of_range_is_invalid_argument),
		cmocka_unit_test(test_backoff_bound_grows_by_the_multiplier_up_to_the_cap),
		cmocka_unit_test(test_fractional_multiplier_truncates_to_whole_milliseconds),
		cmocka_unit_test(test_multiplier_one_keeps_the_initial_bound_at_any_retry),
		cmocka_unit_test(test_jitter_draws_from_zero_to_the_bound),
		cmocka_unit_test(test_only_unavailable_is_retried),
		cmocka_unit_test(test_attempts_stop_at_max_attempts),
		cmocka_unit_test(test_no_retry_starts_at_or_past_the_deadline),
		cmocka_unit_test(test_unavailable_answer_is_forgotten_so_a_retry_runs_again),
		cmocka_unit_test(test_other_failures_are_remembered_and_answered_once),
		cmocka_unit_test(test_dedup_forget_answers_waiting_copies_and_drops_the_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
