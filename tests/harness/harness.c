/* SPDX-License-Identifier: MIT */
/* Starting and stopping real redis-server and pigeond processes for tests. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pigeon/pigeon.h>

static void
t_die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	exit(1);
}

int64_t
t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
t_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

bool
t_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	int64_t end = t_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (t_now_ms() >= end)
			return false;
		t_sleep_ms(10);
	}
}

int
t_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd, port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		t_die("socket");
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
		t_die("bind 127.0.0.1:0");
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void
t_tempdir(char *out, size_t len, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(out, len, "%s/pigeon-%s-XXXXXX", tmp != NULL ? tmp : "/tmp", tag);
	if (mkdtemp(out) == NULL)
		t_die("mkdtemp");
}

const char *
t_source_path(const char *rel, char *buf, size_t len)
{
	const char *src = getenv("PIGEON_SOURCE_DIR");

	snprintf(buf, len, "%s/%s", src != NULL ? src : ".", rel);
	return buf;
}

void
t_proc_start(t_proc *p, char *const argv[], const char *log_path)
{
	pid_t parent = getpid();
	pid_t pid;

	snprintf(p->log, sizeof(p->log), "%s", log_path);
	if ((pid = fork()) < 0)
		t_die("fork");
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	p->pid = pid;
}


int
t_proc_stop(t_proc *p, int sig)
{
	int64_t end = t_now_ms() + 10000;
	int status = 0;

	if (p->pid <= 0)
		return 0;
	kill(p->pid, sig);
	for (;;) {
		pid_t w = waitpid(p->pid, &status, WNOHANG);

		if (w == p->pid || (w < 0 && errno == ECHILD))
			break;
		if (t_now_ms() >= end) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			break;
		}
		t_sleep_ms(5);
	}
	p->pid = 0;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

long
t_proc_rss_kb(const t_proc *p)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

bool
t_redis_cmd(const t_redis *r, const char *cmd, char *out, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct pollfd pfd;
	char req[1024];
	size_t got = 0;
	bool ok = false;
	int fd;

	a.sin_port = htons((uint16_t)r->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto out;
	snprintf(req, sizeof(req), "%s\r\n", cmd);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (got + 1 < len && poll(&pfd, 1, 2000) == 1) {
		ssize_t n = read(fd, out + got, len - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		out[got] = '\0';
		char *eol = strstr(out, "\r\n");
		if (eol != NULL) {
			*eol = '\0';
			ok = true;
			break;
		}
	}
out:
	close(fd);
	return ok;
}

static bool
redis_pongs(void *arg)
{
	char line[64];

	return t_redis_cmd(arg, "PING", line, sizeof(line)) && strcmp(line, "+PONG") == 0;
}

static bool
redis_spawn(t_redis *r)
{
	char port[16], log[300], pidfile[300];
	char *argv[] = {"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", port, "--dir",
		r->dir, "--save", "", "--appendonly", r->aof ? "yes" : "no", "--appendfsync",
		"everysec", "--daemonize", "no", "--pidfile", pidfile, "--loglevel", "warning",
		"--protected-mode", "yes", NULL};
	t_proc p;

	snprintf(port, sizeof(port), "%d", r->port);
	snprintf(log, sizeof(log), "%s/redis.log", r->dir);
	snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", r->dir);
	t_proc_start(&p, argv, log);
	r->pid = p.pid;
	snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
	if (t_wait_for(redis_pongs, r, 10000))
		return true;
	t_redis_stop(r, true);
	return false;
}

void
t_redis_start(t_redis *r, bool aof)
{
	if (access("/usr/bin/redis-server", X_OK) != 0) {
		fprintf(stderr, "harness: redis-server is not installed: skipping\n");
		exit(T_SKIP);
	}
	memset(r, 0, sizeof(*r));
	r->aof = aof;
	t_tempdir(r->dir, sizeof(r->dir), "redis");
	/* Another process may take the port between t_free_port and the bind
	 * of redis-server: then it exits at once, and another port is tried. */
	for (int attempt = 0; attempt < 5; attempt++) {
		r->port = t_free_port();
		if (redis_spawn(r))
			return;
	}
	fprintf(stderr, "harness: redis-server did not start; see %s/redis.log\n", r->dir);
	exit(1);
}

void
t_redis_restart(t_redis *r)
{
	if (!redis_spawn(r)) {
		fprintf(stderr, "harness: redis-server did not restart on port %d\n", r->port);
		exit(1);
	}
}

void
t_redis_stop(t_redis *r, bool hard)
{
	t_proc p = {.pid = r->pid};

	t_proc_stop(&p, hard ? SIGKILL : SIGTERM);
	r->pid = 0;
}

static void
rm_rf(const char *dir)
{
	char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
	t_proc p;

	t_proc_start(&p, argv, "/dev/null");
	t_proc_stop(&p, 0);
}

void
t_redis_fini(t_redis *r)
{
	if (r->pid > 0)
		t_redis_stop(r, false);
	if (r->dir[0] != '\0' && getenv("PIGEON_KEEP_TEST_DIRS") == NULL)
		rm_rf(r->dir);
}

typedef struct health_probe {
	pigeon_client *c;
} health_probe;

static bool
pigeond_serving(void *arg)
{
	health_probe *h = arg;
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	bool ok;

	if (pigeon_health(h->c, &req, &rep, NULL) != PIGEON_OK)
		return false;
	ok = rep->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	pigeon_reply_free(rep);
	return ok;
}

void
t_pigeond_start(t_pigeond *p, const t_redis *r, const char *rpc_url, const char *const *extra)
{
	const char *bin = getenv("PIGEOND");
	char users[512], spam[512], log[300], url[300];
	char *argv[64], wrap[512], *save = NULL;
	const char *wrapper;
	int n = 0, wait_ms = 10000;
	health_probe h;
	pigeon_client_opts co = {0};

	if (bin == NULL) {
		fprintf(stderr, "harness: PIGEOND is not set\n");
		exit(1);
	}
	/* rpc_url may point into *p (a restart on the same address). */
	if (rpc_url != NULL)
		snprintf(url, sizeof(url), "%s", rpc_url);
	memset(p, 0, sizeof(*p));
	t_tempdir(p->dir, sizeof(p->dir), "pigeond");
	if (rpc_url != NULL)
		snprintf(p->rpc_url, sizeof(p->rpc_url), "%s", url);
	else
		snprintf(p->rpc_url, sizeof(p->rpc_url), "ipc://%s/rpc.sock", p->dir);
	snprintf(p->pub_url, sizeof(p->pub_url), "ipc://%s/pub.sock", p->dir);
	snprintf(log, sizeof(log), "%s/pigeond.log", p->dir);
	t_source_path("etc/users.conf", users, sizeof(users));
	t_source_path("etc/spam.conf", spam, sizeof(spam));
	/* PIGEON_TEST_WRAPPER (the valgrind test setup sets it) prefixes pigeond
	 * with a command, split at spaces. */
	if ((wrapper = getenv("PIGEON_TEST_WRAPPER")) != NULL && *wrapper != '\0') {
		snprintf(wrap, sizeof(wrap), "%s", wrapper);
		for (char *tok = strtok_r(wrap, " ", &save); tok != NULL && n < 16;
		     tok = strtok_r(NULL, " ", &save))
			argv[n++] = tok;
		wait_ms = 120000;
	}
	argv[n++] = (char *)bin;
	argv[n++] = "--rpc-url";
	argv[n++] = p->rpc_url;
	argv[n++] = "--pub-url";
	argv[n++] = p->pub_url;
	argv[n++] = "--redis-url";
	argv[n++] = (char *)r->url;
	argv[n++] = "--users-file";
	argv[n++] = users;
	argv[n++] = "--spam-config";
	argv[n++] = spam;
	for (; extra != NULL && *extra != NULL && n < 62; extra++)
		argv[n++] = (char *)*extra;
	argv[n] = NULL;
	t_proc_start(&p->proc, argv, log);

	co.url = p->rpc_url;
	co.deadline_ms = 500;
	if (pigeon_client_open_opts(&h.c, &co) != PIGEON_OK) {
		fprintf(stderr, "harness: cannot open a client of %s\n", p->rpc_url);
		exit(1);
	}
	if (!t_wait_for(pigeond_serving, &h, wait_ms)) {
		fprintf(stderr, "harness: pigeond did not serve within %d s; see %s\n",
		    wait_ms / 1000, log);
		exit(1);
	}
	pigeon_client_close(h.c);
}

static void
print_file(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

int
t_pigeond_stop(t_pigeond *p)
{
	int code = t_proc_stop(&p->proc, SIGTERM);

	if (code != 0) {
		fprintf(stderr, "harness: pigeond exited with %d; its log:\n", code);
		print_file(p->proc.log);
	}
	if (p->dir[0] != '\0' && getenv("PIGEON_KEEP_TEST_DIRS") == NULL)
		rm_rf(p->dir);
	return code;
}
