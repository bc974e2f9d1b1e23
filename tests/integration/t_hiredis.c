/* SPDX-License-Identifier: MIT */
/* hiredis helpers for integration tests; see t_hiredis.h. */
#include "t_hiredis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

redisContext *
t_redis_connect(const t_redis *r)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);

	if (c != NULL && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

long long
t_redis_int(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *rep;
	long long v = -1;

	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (rep == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_INTEGER)
		v = rep->integer;
	else if (rep->type == REDIS_REPLY_STRING)
		v = strtoll(rep->str, NULL, 10);
	else if (rep->type == REDIS_REPLY_NIL)
		v = 0;
	freeReplyObject(rep);
	return v;
}

long long
t_redis_calls(redisContext *c, const char *cmd)
{
	redisReply *rep = redisCommand(c, "INFO commandstats");
	char key[64];
	const char *p;
	long long v = 0;

	if (rep == NULL)
		return -1;
	snprintf(key, sizeof(key), "cmdstat_%s:calls=", cmd);
	if (rep->type == REDIS_REPLY_STRING && (p = strstr(rep->str, key)) != NULL)
		v = strtoll(p + strlen(key), NULL, 10);
	freeReplyObject(rep);
	return v;
}
