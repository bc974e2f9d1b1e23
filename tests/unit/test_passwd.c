/* SPDX-License-Identifier: MIT */
/*
 * The password pool (src/auth/passwd.h) with its real threads and libsodium's
 * real argon2id: hashes verify with the right password only, unknown users and
 * strings that are not argon2id are UNAUTHENTICATED, the length rule, a full
 * pool refusing at once and accepting again, and freeing a pool with jobs
 * waiting.  Every test but one uses argon2id's smallest parameters (1 pass,
 * 8 KiB) for speed; the one with the defaults checks OWASP's minimum.
 *
 * Nothing here depends on timing: a test that needs a job to stay running
 * holds it in its callback, behind a gate the test opens; every wait is on a
 * condition, with a deadline only so that a bug fails instead of hanging.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "clocks.h"
#include "log.h"
#include "passwd.h"
#include "wait.h"

#define T_PW "correct horse battery staple"
#define T_WAIT_MS 60000

/* One lock and condition for every answer and the gate. */
static pthread_mutex_t t_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t t_cv;
static bool t_gate_closed;

typedef struct t_answer {
	/* Callbacks begun, and ended. */
	int entered;
	int calls;
	pigeon_status st;
	char hash[PASSWD_HASH_BYTES];
	/* Set by the test: the callback waits while the gate is closed. */
	bool gated;
	/* Set by the test: the callback opens the gate. */
	bool opens_gate;
	/* Set by the test: the callback verifies T_PW against the hash it got
	 * (the dummy when none) on this pool, answering to `then`, and keeps
	 * what the call returned in then_rv. */
	passwd_pool *then_pool;
	struct t_answer *then;
	pigeon_status then_rv;
} t_answer;

static void t_on_verify(void *arg, pigeon_status st);

/* Touches nothing of a once it has counted the call: the test may have left
 * the function a lives in as soon as it sees the count. */
static void
t_record(t_answer *a, pigeon_status st, const char *hash)
{
	pigeon_status then_rv = PIGEON_OK;

	pthread_mutex_lock(&t_mu);
	a->entered++;
	if (a->opens_gate)
		t_gate_closed = false;
	pthread_cond_broadcast(&t_cv);
	while (a->gated && t_gate_closed)
		pthread_cond_wait(&t_cv, &t_mu);
	pthread_mutex_unlock(&t_mu);
	if (a->then_pool != NULL)
		then_rv = passwd_verify(a->then_pool, hash, T_PW, strlen(T_PW), t_on_verify, a->then);

	pthread_mutex_lock(&t_mu);
	a->then_rv = then_rv;
	a->st = st;
	snprintf(a->hash, sizeof(a->hash), "%s", hash != NULL ? hash : "");
	a->calls++;
	pthread_cond_broadcast(&t_cv);
	pthread_mutex_unlock(&t_mu);
}

static void
t_on_hash(void *arg, pigeon_status st, const char *hash)
{
	t_record(arg, st, hash);
}

static void
t_on_verify(void *arg, pigeon_status st)
{
	t_record(arg, st, NULL);
}

/* Waits until *count (a field of an answer) reaches n; fails after
 * T_WAIT_MS. */
static void
t_wait_count(const int *count, int n)
{
	int64_t deadline = clocks_mono_ms() + T_WAIT_MS;
	int got;

	pthread_mutex_lock(&t_mu);
	while (*count < n && wait_until(&t_cv, &t_mu, deadline))
		;
	got = *count;
	pthread_mutex_unlock(&t_mu);
	assert_int_equal(got, n);
}

/* Until a's callback has returned n times. */
static void
t_wait_calls(t_answer *a, int n)
{
	t_wait_count(&a->calls, n);
}

/* Until a's callback has begun n times. */
static void
t_wait_entered(t_answer *a, int n)
{
	t_wait_count(&a->entered, n);
}

static void
t_gate_set(bool closed)
{
	pthread_mutex_lock(&t_mu);
	t_gate_closed = closed;
	pthread_cond_broadcast(&t_cv);
	pthread_mutex_unlock(&t_mu);
}

/* argon2id's smallest parameters. */
static passwd_pool *
t_pool_tiny(unsigned threads, unsigned queue_max)
{
	passwd_opts o = {threads, queue_max, crypto_pwhash_argon2id_OPSLIMIT_MIN,
	    crypto_pwhash_argon2id_MEMLIMIT_MIN};
	passwd_pool *p = NULL;

	assert_int_equal(passwd_pool_new(&p, &o), PIGEON_OK);
	assert_non_null(p);
	return p;
}

/* Hashes pw on p and returns the answer's status; the hash in out. */
static pigeon_status
t_hash(passwd_pool *p, const char *pw, size_t len, char out[PASSWD_HASH_BYTES])
{
	t_answer a = {0};

	assert_int_equal(passwd_hash(p, pw, len, t_on_hash, &a), PIGEON_OK);
	t_wait_calls(&a, 1);
	memcpy(out, a.hash, PASSWD_HASH_BYTES);
	return a.st;
}

static pigeon_status
t_verify(passwd_pool *p, const char *hash, const char *pw, size_t len)
{
	t_answer a = {0};

	assert_int_equal(passwd_verify(p, hash, pw, len, t_on_verify, &a), PIGEON_OK);
	t_wait_calls(&a, 1);
	return a.st;
}

static void
test_hash_verifies_with_the_right_password_only(void **state)
{
	passwd_pool *p = t_pool_tiny(2, 0);
	char hash[PASSWD_HASH_BYTES];
	/* Any bytes: these differ only after a NUL. */
	static const char nul_a[] = "abc\0defgh", nul_b[] = "abc\0defgX";

	assert_int_equal(t_hash(p, T_PW, strlen(T_PW), hash), PIGEON_OK);
	assert_true(strncmp(hash, "$argon2id$v=19$m=8,t=1,p=1$", 27) == 0);
	assert_true(strlen(hash) < PASSWD_HASH_BYTES);
	assert_int_equal(t_verify(p, hash, T_PW, strlen(T_PW)), PIGEON_OK);
	assert_int_equal(t_verify(p, hash, "correct horse battery stapler", 29),
	    PIGEON_UNAUTHENTICATED);
	assert_int_equal(t_verify(p, hash, "Correct horse battery staple", 28),
	    PIGEON_UNAUTHENTICATED);

	assert_int_equal(t_hash(p, nul_a, sizeof(nul_a) - 1, hash), PIGEON_OK);
	assert_int_equal(t_verify(p, hash, nul_a, sizeof(nul_a) - 1), PIGEON_OK);
	assert_int_equal(t_verify(p, hash, nul_b, sizeof(nul_b) - 1), PIGEON_UNAUTHENTICATED);
	passwd_pool_free(p);
}

static void
test_two_hashes_of_one_password_differ(void **state)
{
	passwd_pool *p = t_pool_tiny(1, 0);
	char h1[PASSWD_HASH_BYTES], h2[PASSWD_HASH_BYTES];

	assert_int_equal(t_hash(p, T_PW, strlen(T_PW), h1), PIGEON_OK);
	assert_int_equal(t_hash(p, T_PW, strlen(T_PW), h2), PIGEON_OK);
	/* A fresh salt each time. */
	assert_string_not_equal(h1, h2);
	assert_int_equal(t_verify(p, h2, T_PW, strlen(T_PW)), PIGEON_OK);
	passwd_pool_free(p);
}

static void
test_unknown_user_is_unauthenticated(void **state)
{
	passwd_pool *p = t_pool_tiny(1, 0);

	assert_int_equal(t_verify(p, NULL, T_PW, strlen(T_PW)), PIGEON_UNAUTHENTICATED);
	assert_int_equal(t_verify(p, NULL, "12345678", 8), PIGEON_UNAUTHENTICATED);
	passwd_pool_free(p);
}

static void
test_hash_not_argon2id_is_unauthenticated(void **state)
{
	passwd_pool *p = t_pool_tiny(2, 0);
	char good[PASSWD_HASH_BYTES], argon2i[crypto_pwhash_argon2i_STRBYTES];
	char truncated[PASSWD_HASH_BYTES], too_long[300], no_nul[PASSWD_HASH_BYTES];
	const char *bad[] = {
	    "",
	    "garbage",
	    "$argon2id$",
	    "$argon2id$v=19$m=8,t=1,p=1$AAAA$BBBB",
	    "$argon2id$v=19$m=-8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
	    argon2i,
	    truncated,
	    too_long,
	};

	assert_int_equal(t_hash(p, T_PW, strlen(T_PW), good), PIGEON_OK);
	/* The right password, under argon2i or cut short, is still refused. */
	assert_int_equal(crypto_pwhash_argon2i_str(argon2i, T_PW, strlen(T_PW),
			     crypto_pwhash_argon2i_OPSLIMIT_MIN, crypto_pwhash_argon2i_MEMLIMIT_MIN),
	    0);
	assert_true(strncmp(argon2i, "$argon2i$", 9) == 0);
	snprintf(truncated, sizeof(truncated), "%.*s", (int)strlen(good) - 10, good);
	memset(too_long, 'x', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	memcpy(too_long, good, strlen(good));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(t_verify(p, bad[i], T_PW, strlen(T_PW)), PIGEON_UNAUTHENTICATED);
	/* Exactly PASSWD_HASH_BYTES long: the NUL does not fit. */
	memset(no_nul, 'y', sizeof(no_nul));
	memcpy(no_nul, good, strlen(good));
	assert_int_equal(t_verify(p, no_nul, T_PW, strlen(T_PW)), PIGEON_UNAUTHENTICATED);
	passwd_pool_free(p);
}

static void
test_length_outside_8_to_1024_is_invalid_argument(void **state)
{
	passwd_pool *p = t_pool_tiny(1, 0);
	static char big[PASSWD_MAX + 1];
	char hash[PASSWD_HASH_BYTES];
	t_answer never = {0};

	memset(big, 'p', sizeof(big));
	assert_int_equal(passwd_hash(p, big, 7, t_on_hash, &never), PIGEON_INVALID_ARGUMENT);
	assert_int_equal(passwd_hash(p, big, 1025, t_on_hash, &never), PIGEON_INVALID_ARGUMENT);
	assert_int_equal(passwd_hash(p, big, 0, t_on_hash, &never), PIGEON_INVALID_ARGUMENT);
	assert_int_equal(passwd_verify(p, NULL, big, 7, t_on_verify, &never),
	    PIGEON_INVALID_ARGUMENT);
	assert_int_equal(passwd_verify(p, "x", big, 1025, t_on_verify, &never),
	    PIGEON_INVALID_ARGUMENT);

	assert_int_equal(t_hash(p, big, 8, hash), PIGEON_OK);
	assert_int_equal(t_verify(p, hash, big, 8), PIGEON_OK);
	assert_int_equal(t_verify(p, hash, big, 9), PIGEON_UNAUTHENTICATED);
	assert_int_equal(t_hash(p, big, 1024, hash), PIGEON_OK);
	assert_int_equal(t_verify(p, hash, big, 1024), PIGEON_OK);
	assert_int_equal(t_verify(p, hash, big, 1023), PIGEON_UNAUTHENTICATED);
	passwd_pool_free(p);
	/* Refused calls never answer. */
	assert_int_equal(never.calls, 0);
}

static void
test_full_pool_is_resource_exhausted_then_accepts_again(void **state)
{
	passwd_pool *p = t_pool_tiny(1, 1);
	t_answer running = {.gated = true}, waiting = {.gated = true}, refused = {0};
	t_answer again = {0};
	passwd_stats s;

	t_gate_set(true);
	assert_int_equal(passwd_hash(p, T_PW, strlen(T_PW), t_on_hash, &running), PIGEON_OK);
	/* In its callback, behind the gate: the one thread is busy. */
	t_wait_entered(&running, 1);
	assert_int_equal(passwd_hash(p, T_PW, strlen(T_PW), t_on_hash, &waiting), PIGEON_OK);
	passwd_pool_stats(p, &s);
	assert_int_equal(s.running, 1);
	assert_int_equal(s.queued, 1);
	assert_int_equal(s.refused, 0);

	assert_int_equal(passwd_hash(p, T_PW, strlen(T_PW), t_on_hash, &refused),
	    PIGEON_RESOURCE_EXHAUSTED);
	assert_int_equal(passwd_verify(p, NULL, T_PW, strlen(T_PW), t_on_verify, &refused),
	    PIGEON_RESOURCE_EXHAUSTED);
	passwd_pool_stats(p, &s);
	assert_int_equal(s.running, 1);
	assert_int_equal(s.queued, 1);
	assert_int_equal(s.refused, 2);

	t_gate_set(false);
	/* The thread took the waiting job only after the first one's callback
	 * returned and gave its place back. */
	t_wait_entered(&waiting, 1);
	assert_int_equal(passwd_verify(p, running.hash, T_PW, strlen(T_PW), t_on_verify, &again),
	    PIGEON_OK);
	t_wait_calls(&again, 1);
	assert_int_equal(again.st, PIGEON_OK);

	passwd_pool_free(p);
	assert_int_equal(running.calls, 1);
	assert_int_equal(running.st, PIGEON_OK);
	assert_int_equal(waiting.calls, 1);
	assert_int_equal(waiting.st, PIGEON_OK);
	assert_int_equal(refused.calls, 0);
	assert_int_equal(again.calls, 1);
}

static void
test_free_cancels_waiting_jobs_once(void **state)
{
	passwd_pool *p = t_pool_tiny(1, 2);
	t_answer running = {.gated = true}, cancelled_verify = {0}, never = {0};
	/* Opens the gate and tries to queue more while the pool is stopping. */
	t_answer cancelled_hash = {.opens_gate = true, .then = &never};

	cancelled_hash.then_pool = p;
	t_gate_set(true);
	assert_int_equal(passwd_hash(p, T_PW, strlen(T_PW), t_on_hash, &running), PIGEON_OK);
	t_wait_entered(&running, 1);
	assert_int_equal(passwd_hash(p, T_PW, strlen(T_PW), t_on_hash, &cancelled_hash), PIGEON_OK);
	assert_int_equal(passwd_verify(p, NULL, T_PW, strlen(T_PW), t_on_verify, &cancelled_verify),
	    PIGEON_OK);

	/* Answers the waiting jobs first, so the gate opens and the running
	 * job can finish before free returns. */
	passwd_pool_free(p);
	assert_int_equal(running.calls, 1);
	assert_int_equal(running.st, PIGEON_OK);
	assert_int_equal(cancelled_hash.calls, 1);
	assert_int_equal(cancelled_hash.st, PIGEON_CANCELLED);
	assert_string_equal(cancelled_hash.hash, "");
	assert_int_equal(cancelled_hash.then_rv, PIGEON_UNAVAILABLE);
	assert_int_equal(cancelled_verify.calls, 1);
	assert_int_equal(cancelled_verify.st, PIGEON_CANCELLED);
	assert_int_equal(never.calls, 0);
}

static void
test_callback_may_queue_the_next_job(void **state)
{
	passwd_pool *p = t_pool_tiny(1, 1);
	t_answer verified = {0}, hashed = {.then = &verified};

	hashed.then_pool = p;
	assert_int_equal(passwd_hash(p, T_PW, strlen(T_PW), t_on_hash, &hashed), PIGEON_OK);
	t_wait_calls(&hashed, 1);
	t_wait_calls(&verified, 1);
	assert_int_equal(hashed.st, PIGEON_OK);
	assert_int_equal(hashed.then_rv, PIGEON_OK);
	assert_int_equal(verified.st, PIGEON_OK);
	passwd_pool_free(p);
}

static void
test_needs_rehash_when_parameters_differ(void **state)
{
	passwd_pool *p = t_pool_tiny(1, 0), *q;
	passwd_opts more = {1, 0, 2, crypto_pwhash_argon2id_MEMLIMIT_MIN};
	char hash[PASSWD_HASH_BYTES], too_long[200];

	assert_int_equal(passwd_pool_new(&q, &more), PIGEON_OK);
	assert_int_equal(t_hash(p, T_PW, strlen(T_PW), hash), PIGEON_OK);
	assert_false(passwd_needs_rehash(p, hash));
	assert_true(passwd_needs_rehash(q, hash));
	assert_true(passwd_needs_rehash(p, "garbage"));
	assert_true(passwd_needs_rehash(p, ""));
	memset(too_long, 'x', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_true(passwd_needs_rehash(p, too_long));
	passwd_pool_free(q);
	passwd_pool_free(p);
}

static void
test_options_outside_limits_are_invalid_argument(void **state)
{
	passwd_pool *p = (passwd_pool *)&p;
	const passwd_opts bad[] = {
	    {PASSWD_THREADS_MAX + 1, 1, 1, crypto_pwhash_argon2id_MEMLIMIT_MIN},
	    {1, PASSWD_QUEUE_MAX + 1, 1, crypto_pwhash_argon2id_MEMLIMIT_MIN},
	    {1, 1, (unsigned long long)crypto_pwhash_argon2id_OPSLIMIT_MAX + 1,
		crypto_pwhash_argon2id_MEMLIMIT_MIN},
	    {1, 1, 1, crypto_pwhash_argon2id_MEMLIMIT_MIN - 1},
	    {1, 1, 1, (size_t)crypto_pwhash_argon2id_MEMLIMIT_MAX + 1},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(passwd_pool_new(&p, &bad[i]), PIGEON_INVALID_ARGUMENT);
		/* Written only on success. */
		assert_ptr_equal(p, (passwd_pool *)&p);
	}
	passwd_pool_free(NULL);
}

/* The one test at the defaults: OWASP's minimum, 19 MiB and 2 passes. */
static void
test_defaults_are_owasp_minimum(void **state)
{
	passwd_pool *p = NULL;
	char hash[PASSWD_HASH_BYTES];
	passwd_stats s;

	assert_int_equal(passwd_pool_new(&p, NULL), PIGEON_OK);
	assert_int_equal(t_hash(p, T_PW, strlen(T_PW), hash), PIGEON_OK);
	assert_true(strncmp(hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	assert_int_equal(t_verify(p, hash, T_PW, strlen(T_PW)), PIGEON_OK);
	assert_int_equal(t_verify(p, NULL, T_PW, strlen(T_PW)), PIGEON_UNAUTHENTICATED);
	assert_false(passwd_needs_rehash(p, hash));
	passwd_pool_stats(p, &s);
	assert_int_equal(s.refused, 0);
	passwd_pool_free(p);
}

static int
t_setup(void **state)
{
	log_set_level(LOG_ERROR);
	return wait_cond_init(&t_cv);
}

static int
t_teardown(void **state)
{
	pthread_cond_destroy(&t_cv);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_verifies_with_the_right_password_only),
	    cmocka_unit_test(test_two_hashes_of_one_password_differ),
	    cmocka_unit_test(test_unknown_user_is_unauthenticated),
	    cmocka_unit_test(test_hash_not_argon2id_is_unauthenticated),
	    cmocka_unit_test(test_length_outside_8_to_1024_is_invalid_argument),
	    cmocka_unit_test(test_full_pool_is_resource_exhausted_then_accepts_again),
	    cmocka_unit_test(test_free_cancels_waiting_jobs_once),
	    cmocka_unit_test(test_callback_may_queue_the_next_job),
	    cmocka_unit_test(test_needs_rehash_when_parameters_differ),
	    cmocka_unit_test(test_options_outside_limits_are_invalid_argument),
	    cmocka_unit_test(test_defaults_are_owasp_minimum),
	};

	return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
