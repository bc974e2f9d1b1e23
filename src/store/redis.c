/* SPDX-License-Identifier: MIT */
/* URL parsing, the error table, scripts and connecting; see redis.h. */
#include "redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


extern const char store_lua_login[];
extern const char store_lua_logout[];
extern const char store_lua_register[];
extern const char store_lua_send[];
extern const char store_lua_claim[];
extern const char store_lua_finish[];
extern const char store_lua_deadletter[];
extern const char store_lua_read_user_stats[];
extern const char store_lua_read_inbox[];
extern const char store_lua_read_health[];
extern const char store_lua_auth_read[];
extern const char store_lua_auth_fail[];
extern const char store_lua_auth_revoke[];
extern const char store_lua_auth_revoke_all[];
extern const char store_lua_auth_register_count[];
extern const char store_lua_presence_sweep[];
extern const char store_lua_presence_adopt[];
extern const char store_lua_heartbeat[];
extern const char store_lua_read_user[];
extern const char store_lua_mark_read[];
extern const char store_lua_read_message[];
extern const char store_lua_report[];
extern const char store_lua_train[];

static const char *const script_texts[STORE_SCRIPT_COUNT] = {
	[STORE_SCRIPT_LOGIN] = store_lua_login,
	[STORE_SCRIPT_LOGOUT] = store_lua_logout,
	[STORE_SCRIPT_REGISTER] = store_lua_register,
	[STORE_SCRIPT_SEND] = store_lua_send,
	[STORE_SCRIPT_CLAIM] = store_lua_claim,
	[STORE_SCRIPT_FINISH] = store_lua_finish,
	[STORE_SCRIPT_DEADLETTER] = store_lua_deadletter,
	[STORE_SCRIPT_USER_STATS] = store_lua_read_user_stats,
	[STORE_SCRIPT_INBOX] = store_lua_read_inbox,
	[STORE_SCRIPT_HEALTH] = store_lua_read_health,
	[STORE_SCRIPT_AUTH_READ] = store_lua_auth_read,
	[STORE_SCRIPT_AUTH_FAIL] = store_lua_auth_fail,
	[STORE_SCRIPT_AUTH_REVOKE] = store_lua_auth_revoke,
	[STORE_SCRIPT_AUTH_REVOKE_ALL] = store_lua_auth_revoke_all,
	[STORE_SCRIPT_AUTH_REGISTER_COUNT] = store_lua_auth_register_count,
	[STORE_SCRIPT_PRESENCE_SWEEP] = store_lua_presence_sweep,
	[STORE_SCRIPT_PRESENCE_ADOPT] = store_lua_presence_adopt,
	[STORE_SCRIPT_HEARTBEAT] = store_lua_heartbeat,
	[STORE_SCRIPT_USER] = store_lua_read_user,
	[STORE_SCRIPT_MARK_READ] = store_lua_mark_read,
	[STORE_SCRIPT_READ_MESSAGE] = store_lua_read_message,
	[STORE_SCRIPT_REPORT] = store_lua_report,
	[STORE_SCRIPT_TRAIN] = store_lua_train,
};

const char *
store_script_text(store_script s)
{
	return script_texts[s];
}

pigeon_status
store_url_parse(const char *url, store_url *out)
{
	store_url u;
	const char *hp, *colon;
	size_t hostlen;
	char *end;
	long port = 6379;

	memset(&u, 0, sizeof(u));
	if (url == NULL)
		return PIGEON_INVALID_ARGUMENT;
	if (strncmp(url, "unix:", 5) == 0) {
		const char *path = url + 5;

		if (path[0] != '/' || strlen(path) >= sizeof(u.host))
			return PIGEON_INVALID_ARGUMENT;
		u.is_unix = true;
		strcpy(u.host, path);
		*out = u;
		return PIGEON_OK;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return PIGEON_INVALID_ARGUMENT;
	hp = url + 8;
	if ((colon = strrchr(hp, ':')) != NULL) {
		hostlen = (size_t)(colon - hp);
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535)
			return PIGEON_INVALID_ARGUMENT;
	} else {
		hostlen = strlen(hp);
	}
	if (hostlen == 0 || hostlen >= sizeof(u.host) || memchr(hp, '/', hostlen) != NULL)
		return PIGEON_INVALID_ARGUMENT;
	memcpy(u.host, hp, hostlen);
	u.port = (int)port;
	*out = u;
	return PIGEON_OK;
}

/* Redis's own error codes; script errors use pigeon's status names. */
static const struct {
	const char *word;
	pigeon_status st;
} redis_errors[] = {
	{"OOM", PIGEON_RESOURCE_EXHAUSTED},
	{"LOADING", PIGEON_UNAVAILABLE},
	{"BUSY", PIGEON_UNAVAILABLE},
	{"MASTERDOWN", PIGEON_UNAVAILABLE},
	{"READONLY", PIGEON_UNAVAILABLE},
	{"TRYAGAIN", PIGEON_UNAVAILABLE},
};

static bool
first_word_is(const char *err, size_t wlen, const char *word)
{
	return strlen(word) == wlen && memcmp(err, word, wlen) == 0;
}

pigeon_status
store_status_from_error(const char *err, const char **msg)
{
	size_t wlen = strcspn(err, " ");

	/* The scripts' errors start with a status name (pigeon_status_name's
	 * table).  OK is not an error: a script answering "OK ..." is broken. */
	for (size_t i = 1; i < PIGEON_STATUS_COUNT; i++) {
		if (first_word_is(err, wlen, pigeon_status_name((pigeon_status)i))) {
			*msg = err[wlen] == ' ' ? err + wlen + 1 : err + wlen;
			return (pigeon_status)i;
		}
	}
	*msg = err;
	for (size_t i = 0; i < sizeof(redis_errors) / sizeof(redis_errors[0]); i++)
		if (first_word_is(err, wlen, redis_errors[i].word))
			return redis_errors[i].st;
	return PIGEON_INTERNAL;
}

bool
store_reply_is_noscript(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

pigeon_status
store_status_from_context(const redisContext *c)
{
	switch (c->err) {
	case REDIS_ERR_OOM:
		return PIGEON_RESOURCE_EXHAUSTED;
	case REDIS_ERR_PROTOCOL:
		return PIGEON_INTERNAL;
	default:
		/* IO errors, EOF, timeouts: the server is not answering. */
		return PIGEON_UNAVAILABLE;
	}
}

redisContext *
store_redis_connect(const store_url *u, int timeout_ms, char *err, size_t errlen)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	redisContext *c;

	if (u->is_unix)
		c = redisConnectUnixWithTimeout(u->host, tv);
	else
		c = redisConnectWithTimeout(u->host, u->port, tv);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (c->err) {
		snprintf(err, errlen, "%s", c->errstr);
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		snprintf(err, errlen, "setting the socket timeout: %s", c->errstr);
		redisFree(c);
		return NULL;
	}
	return c;
}

pigeon_status
store_redis_load_scripts(
    redisContext *c, store_sha shas[STORE_SCRIPT_COUNT], char *err, size_t errlen)
{
	redisReply *r;
	pigeon_status rv = PIGEON_OK;

	for (int i = 0; i < STORE_SCRIPT_COUNT; i++) {
		if (redisAppendCommand(c, "SCRIPT LOAD %s", script_texts[i]) != REDIS_OK) {
			snprintf(err, errlen, "%s", c->errstr);
			return store_status_from_context(c);
		}
	}
	for (int i = 0; i < STORE_SCRIPT_COUNT; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			snprintf(err, errlen, "%s", c->errstr);
			return store_status_from_context(c);
		}
		if (r->type == REDIS_REPLY_STRING && r->len == 40) {
			memcpy(shas[i], r->str, 41);
		} else if (rv == PIGEON_OK) {
			const char *msg = "unexpected reply";

			rv = r->type == REDIS_REPLY_ERROR ? store_status_from_error(r->str, &msg)
							  : PIGEON_INTERNAL;
			snprintf(err, errlen, "SCRIPT LOAD: %s", msg);
		}
		freeReplyObject(r);
	}
	return rv;
}

pigeon_status
store_redis_create_group(redisContext *c, char *err, size_t errlen)
{
	redisReply *r;
	pigeon_status rv = PIGEON_OK;
	const char *msg;

	/* From id 0, so messages queued before any worker ran are read. */
	r = redisCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM", STORE_KEY_QUEUE, STORE_GROUP);
	if (r == NULL) {
		snprintf(err, errlen, "%s", c->errstr);
		return store_status_from_context(c);
	}
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
		rv = store_status_from_error(r->str, &msg);
		snprintf(err, errlen, "XGROUP CREATE: %s", msg);
	}
	freeReplyObject(r);
	return rv;
}

static bool
cmd_reserve(store_cmd *c, size_t more)
{
	size_t cap;
	char *grown;

	if (c->failed)
		return false;
	if (c->len + more <= c->cap)
		return true;
	cap = c->cap != 0 ? c->cap : 256;
	while (cap < c->len + more)
		cap *= 2;
	if ((grown = realloc(c->buf, cap)) == NULL) {
		c->failed = true;
		return false;
	}
	c->buf = grown;
	c->cap = cap;
	return true;
}

/* Writes v in decimal into out (at least 20 bytes); returns its length. */
static size_t
u64_text(uint64_t v, char *out)
{
	char rev[20];
	size_t n = 0;

	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = rev[n - 1 - i];
	return n;
}

/* Appends prefix, v in decimal and CRLF: "*3\r\n", "$5\r\n". */
static void
cmd_header(store_cmd *c, char prefix, uint64_t v)
{
	char text[20];
	size_t n = u64_text(v, text);

	if (!cmd_reserve(c, n + 3))
		return;
	c->buf[c->len++] = prefix;
	memcpy(c->buf + c->len, text, n);
	c->len += n;
	c->buf[c->len++] = '\r';
	c->buf[c->len++] = '\n';
}

void
store_cmd_begin(store_cmd *c, size_t argc)
{
	cmd_header(c, '*', argc);
}

void
store_cmd_arg(store_cmd *c, const char *s, size_t len)
{
	cmd_header(c, '$', len);
	if (!cmd_reserve(c, len + 2))
		return;
	memcpy(c->buf + c->len, s, len);
	c->len += len;
	c->buf[c->len++] = '\r';
	c->buf[c->len++] = '\n';
}

void
store_cmd_str(store_cmd *c, const char *s)
{
	store_cmd_arg(c, s, strlen(s));
}

void
store_cmd_u64(store_cmd *c, uint64_t v)
{
	char text[20];

	store_cmd_arg(c, text, u64_text(v, text));
}

void
store_cmd_evalsha(store_cmd *c, const char *sha, size_t nargs)
{
	store_cmd_begin(c, nargs + 3);
	store_cmd_arg(c, "EVALSHA", 7);
	store_cmd_arg(c, sha, 40);
	store_cmd_arg(c, "0", 1);
}

void
store_cmd_reset(store_cmd *c)
{
	c->len = 0;
	c->failed = false;
}

void
store_cmd_fini(store_cmd *c)
{
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	c->failed = false;
}
