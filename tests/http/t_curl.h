/* SPDX-License-Identifier: MIT */
/*
 * Requests to pigeon-http with curl, for the http suite's tests: one call
 * per request, the answer split into status, headers of interest and body,
 * and every answer logged for check_openapi.py.
 */
#ifndef PIGEON_TEST_T_CURL_H
#define PIGEON_TEST_T_CURL_H

#include <stdbool.h>

#include "harness.h"

#define CURL "/usr/bin/curl"

typedef struct t_answer {
	int status;
	char content_type[128];
	/* WWW-Authenticate, "" when absent. */
	char www_authenticate[128];
	char body[16384];
} t_answer;

/* Starts Redis, pigeond and pigeon-http (--threads 2, open mode) in e,
 * named by tag, and sends the requests there: a group setup.  -1 when curl
 * is missing. */
int t_curl_start(t_env *e, const char *tag);

/* Sends the requests to e's pigeon-http (its port read at each request)
 * and logs the answers in <e's dir>/answers.tsv.  Borrows e. */
void t_curl_use(const t_env *e);
/* The answers file: tab-separated method, URL, status, content type and
 * body (its newlines as \x01), one answer a line. */
const char *t_curl_answers(void);

/* One request: method and path (already percent-encoded), an Authorization
 * header's value (NULL: none) and a body (NULL: none).  Fails the test when
 * curl does. */
void t_http(
    const char *method, const char *path, const char *authorization, const char *body, t_answer *a);

/* One request without a token, which must answer status with the body
 * want, as JSON; fails the test with both answers otherwise. */
void t_expect_json(const char *method, const char *path, const char *body, int status,
    const char *want);

/* For t_wait_for: true once GET path answers 200 with the body want. */
typedef struct t_url_has {
	const char *path;
	const char *want;
} t_url_has;
bool t_answer_is(void *arg);

/* A cmocka test, run last: checks every answer logged so far against the
 * bridge's own /openapi.json with tests/http/check_openapi.py, and fails,
 * with the script's findings, when one does not match. */
void t_test_answers_match_openapi(void **state);

/* The exact JSON error body of docs/http.md, in a static buffer. */
const char *t_error(int code, const char *message);

#endif
