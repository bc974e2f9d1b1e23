/* SPDX-License-Identifier: MIT */
/*
 * Reading the Redis a test started (tests/harness) directly with hiredis, to
 * check what the store wrote: counters, states, INFO commandstats.
 */
#ifndef PIGEON_T_HIREDIS_H
#define PIGEON_T_HIREDIS_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "harness.h"

/* A new blocking connection to the server, or NULL. */
redisContext *t_redis_connect(const t_redis *r);
/* Runs a command expecting a number: an integer reply, a string holding
 * one, or nil (0); -1 on anything else. */
long long t_redis_int(redisContext *c, const char *fmt, ...);
/* The "calls" figure of a command in INFO commandstats, e.g. "evalsha";
 * 0 when the command was not called. */
long long t_redis_calls(redisContext *c, const char *cmd);

#endif
