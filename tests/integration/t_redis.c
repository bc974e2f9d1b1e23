/* SPDX-License-Identifier: MIT */
/* The private redis-server of integration tests; see t_redis.h. */
#include "t_redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_DEADLINE_MS 10000

int64_t
t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
find_redis(void)
{
	const char *path = getenv("PATH");
	char buf[4096], dir[4096];

	if (path == NULL)
		return false;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *p = strtok_r(buf, ":", &save); p != NULL;
	     p = strtok_r(NULL, ":", &save)) {
		snprintf(dir, sizeof(dir), "%s/redis-server", p);
		if (access(dir, X_OK) == 0)
			return true;
	}
	return false;
}

void
t_redis_require(void)
{
	if (!find_redis()) {
		fprintf(stderr, "redis-server not found: skipping\n");
		exit(77);
	}
}

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd, port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool
pings(const t_redis *r)
{
	redisContext *c = t_redis_connect(r);
	redisReply *rep;
	bool ok = false;

	if (c == NULL)
		return false;
	if ((rep = redisCommand(c, "PING")) != NULL) {
		ok = rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
		freeReplyObject(rep);
	}
	redisFree(c);
	return ok;
}

static int
start_once(t_redis *r, int port)
{
	char portstr[16], log[300];
	int64_t deadline;
	int status;

	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(log, sizeof(log), "%s/redis.log", r->dir);
	if ((r->pid = fork()) < 0)
		return -1;
	if (r->pid == 0) {
		setpgid(0, 0);
		execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1",
		    "--save", "", "--appendonly", "no", "--dir", r->dir, "--daemonize", "no",
		    "--logfile", log, (char *)NULL);
		_exit(127);
	}
	r->port = port;
	snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", port);
	deadline = t_now_ms() + START_DEADLINE_MS;
	while (t_now_ms() < deadline) {
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			/* Exited: most likely the port was taken meanwhile. */
			r->pid = 0;
			return 1;
		}
		if (pings(r))
			return 0;
		poll(NULL, 0, 5);
	}
	t_redis_stop(r);
	return -1;
}

int
t_redis_start(t_redis *r, int port)
{
	if (r->dir[0] == '\0') {
		snprintf(r->dir, sizeof(r->dir), "%s/pigeon-test-XXXXXX",
		    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(r->dir) == NULL)
			return -1;
	}
	for (int attempt = 0; attempt < 5; attempt++) {
		int p = port != 0 ? port : free_port();
		int rv;

		if (p < 0)
			return -1;
		if ((rv = start_once(r, p)) <= 0)
			return rv;
	}
	return -1;
}

void
t_redis_stop(t_redis *r)
{
	int status;

	if (r->pid <= 0)
		return;
	kill(r->pid, SIGTERM);
	while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
		;
	r->pid = 0;
}

void
t_redis_destroy(t_redis *r)
{
	char path[300];

	t_redis_stop(r);
	if (r->dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/redis.log", r->dir);
	unlink(path);
	rmdir(r->dir);
	r->dir[0] = '\0';
}

redisContext *
t_redis_connect(const t_redis *r)
{
	struct timeval tv = {2, 0};
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
