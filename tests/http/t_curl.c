/* SPDX-License-Identifier: MIT */
/* curl against pigeon-http; see t_curl.h. */
#include "t_curl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

static const t_env *curl_env;
static char answers[300];

int
t_curl_start(t_env *e, const char *tag)
{
	static const char *const http_args[] = {"--threads", "2", NULL};

	if (access(CURL, X_OK) != 0)
		return -1;
	t_env_start(e, &(t_env_opts){.tag = tag, .http = true, .http_args = http_args});
	t_curl_use(e);
	return 0;
}

void
t_curl_use(const t_env *e)
{
	curl_env = e;
	snprintf(answers, sizeof(answers), "%s/answers.tsv", e->dir);
}

const char *
t_curl_answers(void)
{
	return answers;
}

/* Copies the value of header `name` from the header block hdrs (CRLF lines)
 * into out, "" when absent. */
static void
t_header(const char *hdrs, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);

	out[0] = '\0';
	for (const char *line = hdrs; line != NULL && *line != '\0';) {
		const char *end = strstr(line, "\r\n");

		if (end == NULL)
			end = line + strlen(line);
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;

			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(end - v), v);
			return;
		}
		line = *end != '\0' ? end + 2 : end;
	}
}

void
t_http(
    const char *method, const char *path, const char *authorization, const char *body, t_answer *a)
{
	char *cmd, *out, *sep, url[2048];
	size_t cap = 8192 + (body != NULL ? strlen(body) : 0) +
	    (authorization != NULL ? strlen(authorization) : 0);
	int code, n;
	FILE *log;

	assert_non_null(curl_env);
	memset(a, 0, sizeof(*a));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", curl_env->http_port, path);
	assert_non_null(cmd = malloc(cap));
	n = snprintf(cmd, cap, CURL " -q -s -i --max-time 10 -X %s", method);
	if (authorization != NULL)
		n += snprintf(cmd + n, cap - (size_t)n, " -H 'Authorization: %s'", authorization);
	if (body != NULL)
		n += snprintf(cmd + n, cap - (size_t)n, " --data-binary '%s'", body);
	snprintf(cmd + n, cap - (size_t)n, " '%s'", url);
	out = t_sh(cmd, &code);
	free(cmd);
	if (code != 0 || (sep = strstr(out, "\r\n\r\n")) == NULL)
		fail_msg("curl %s %s: exit %d, answer:\n%s", method, path, code, out);
	*sep = '\0';
	a->status = (int)strtol(strchr(out, ' ') + 1, NULL, 10);
	t_header(out, "Content-Type", a->content_type, sizeof(a->content_type));
	t_header(out, "WWW-Authenticate", a->www_authenticate, sizeof(a->www_authenticate));
	snprintf(a->body, sizeof(a->body), "%s", sep + 4);
	free(out);

	assert_non_null(log = fopen(answers, "a"));
	fprintf(log, "%s\t%s\t%03d\t%s\t", method, url, a->status, a->content_type);
	for (const char *p = a->body; *p != '\0'; p++)
		fputc(*p == '\n' ? '\x01' : *p, log);
	fputc('\n', log);
	fclose(log);
}

void
t_expect_json(const char *method, const char *path, const char *body, int status,
    const char *want)
{
	t_answer a;

	t_http(method, path, NULL, body, &a);
	if (a.status != status || strcmp(a.body, want) != 0)
		fail_msg("%s %s %s\n  got %d %s\n  want %d %s", method, path,
		    body != NULL ? body : "", a.status, a.body, status, want);
	assert_string_equal(a.content_type, "application/json");
}

bool
t_answer_is(void *arg)
{
	t_url_has *h = arg;
	t_answer a;

	t_http("GET", h->path, NULL, NULL, &a);
	return a.status == 200 && strcmp(a.body, h->want) == 0;
}

void
t_test_answers_match_openapi(void **state)
{
	char spec[300], cmd[1200], *out;
	int code;

	(void)state;
	assert_non_null(curl_env);
	snprintf(spec, sizeof(spec), "%s/openapi.json", curl_env->dir);
	snprintf(cmd, sizeof(cmd), CURL " -q -s -f -o '%s' http://127.0.0.1:%d/openapi.json", spec,
	    curl_env->http_port);
	free(t_sh(cmd, &code));
	assert_int_equal(code, 0);
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/http/check_openapi.py %s %s 2>&1",
	    getenv("PIGEON_SOURCE_DIR"), spec, answers);
	out = t_sh(cmd, &code);
	fputs(out, stderr);
	if (code != 0)
		fail_msg("%s", out);
	free(out);
}

const char *
t_error(int code, const char *message)
{
	static char buf[512];
	const char *reason = code == 400 ? "Bad Request"
	    : code == 401                ? "Unauthorized"
	    : code == 403                ? "Forbidden"
	    : code == 404                ? "Not Found"
	    : code == 405                ? "Method Not Allowed"
	    : code == 418                ? "I'm a teapot"
	    : code == 422                ? "Unprocessable Entity"
	    : code == 429                ? "Too Many Requests"
	                                 : "?";

	snprintf(buf, sizeof(buf), "{\"code\": %d, \"status\": \"%s\", \"message\": \"%s\"}\n",
	    code, reason, message);
	return buf;
}
