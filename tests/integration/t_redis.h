/* SPDX-License-Identifier: MIT */
/*
 * A private redis-server for one test binary: started in a temp dir on a free
 * loopback port, waited for with PING under a deadline, stopped by its PID.
 * Stands in until the shared test harness (tests/harness) is merged.
 */
#ifndef PIGEON_T_REDIS_H
#define PIGEON_T_REDIS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

typedef struct t_redis {
	pid_t pid;
	int port;
	char dir[256];
	char url[64];
} t_redis;

/* Exits the process with 77 (meson's SKIP) when redis-server is missing. */
void t_redis_require(void);
/* Starts a server; port 0 picks a free one (retrying when it is taken),
 * otherwise that port.  Returns 0 on success. */
int t_redis_start(t_redis *r, int port);
/* SIGTERM to the server's PID, then waits for it.  Keeps dir and port. */
void t_redis_stop(t_redis *r);
/* Stops the server if running and removes the temp dir. */
void t_redis_destroy(t_redis *r);
/* A new blocking connection to the server, or NULL. */
redisContext *t_redis_connect(const t_redis *r);
/* Runs a command expecting a number: an integer reply, a string holding
 * one, or nil (0); -1 on anything else. */
long long t_redis_int(redisContext *c, const char *fmt, ...);
/* The "calls" figure of a command in INFO commandstats, e.g. "evalsha";
 * 0 when the command was not called. */
long long t_redis_calls(redisContext *c, const char *cmd);

/* Monotonic milliseconds, for deadlines. */
int64_t t_now_ms(void);

#endif
