/* SPDX-License-Identifier: MIT */
/* Starting and stopping real redis-server, pigeond and pigeon-http processes
 * for tests, and waiting with deadlines; see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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

#include "clocks.h"
#include "wait.h"

#define VALGRIND "/usr/bin/valgrind"

static void
t_die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	exit(1);
}

int64_t
t_now_ms(void)
{
	return clocks_mono_ms();
}

void
t_sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	if (ms > 0)
		nanosleep(&ts, NULL);
}

bool
t_wait_every(bool (*cond)(void *arg), void *arg, int every_ms, int timeout_ms)
{
	int64_t end = t_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (t_now_ms() >= end)
			return false;
		t_sleep_ms(every_ms);
	}
}

bool
t_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	return t_wait_every(cond, arg, 10, timeout_ms);
}

void
t_cond_init(pthread_mutex_t *mu, pthread_cond_t *cv)
{
	if ((errno = pthread_mutex_init(mu, NULL)) != 0)
		t_die("pthread_mutex_init");
	if ((errno = wait_cond_init(cv)) != 0)
		t_die("pthread_cond_init");
}

bool
t_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms)
{
	return wait_until(cv, mu, deadline_ms);
}

/* The ports t_free_port handed out lately: a port is free only until
 * someone listens on it, and the kernel may offer a just-closed one again,
 * so a test that takes two ports before starting either (pigeond's metrics,
 * then Redis's) could get the same one twice. */
#define RECENT_PORTS 64

int
t_free_port(void)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static int recent[RECENT_PORTS];
	static unsigned next;
	int port = 0;

	pthread_mutex_lock(&mu);
	for (int attempt = 0; attempt < 100 && port == 0; attempt++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		socklen_t alen = sizeof(a);
		int fd;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			t_die("socket");
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
			t_die("bind 127.0.0.1:0");
		port = ntohs(a.sin_port);
		close(fd);
		for (unsigned i = 0; i < RECENT_PORTS && port != 0; i++)
			if (recent[i] == port)
				port = 0;
	}
	if (port == 0)
		t_die("no port that was not handed out lately");
	recent[next++ % RECENT_PORTS] = port;
	pthread_mutex_unlock(&mu);
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

typedef struct proc_exit {
	pid_t pid;
	int status;
} proc_exit;

static bool
proc_exited(void *arg)
{
	proc_exit *x = arg;
	pid_t w = waitpid(x->pid, &x->status, WNOHANG);

	if (w < 0 && errno == ECHILD)
		x->status = 0;
	return w == x->pid || (w < 0 && errno == ECHILD);
}

static int
exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int
t_proc_wait(t_proc *p, int timeout_ms)
{
	proc_exit x = {.pid = p->pid};

	if (p->pid <= 0)
		return 0;
	if (!t_wait_every(proc_exited, &x, 5, timeout_ms))
		return -1;
	p->pid = 0;
	return exit_code(x.status);
}

int
t_proc_stop(t_proc *p, int sig)
{
	int status = 0, code;

	if (p->pid <= 0)
		return 0;
	kill(p->pid, sig);
	if ((code = t_proc_wait(p, 10000)) >= 0)
		return code;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
	return exit_code(status);
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

void
t_rm_rf(const char *dir)
{
	char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
	t_proc p;

	if (dir[0] == '\0' || getenv("PIGEON_KEEP_TEST_DIRS") != NULL)
		return;
	t_proc_start(&p, argv, "/dev/null");
	t_proc_stop(&p, 0);
}

void
t_redis_fini(t_redis *r)
{
	if (r->pid > 0)
		t_redis_stop(r, false);
	t_rm_rf(r->dir);
}

pigeon_status
t_pigeond_health(pigeon_client *c, bool *serving)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	pigeon_status st;

	if ((st = pigeon_health(c, &req, &rep, NULL)) != PIGEON_OK)
		return st;
	if (serving != NULL)
		*serving = rep->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	pigeon_reply_free(rep);
	return st;
}

/* The harness's Health probe of a starting pigeond, and what its last
 * attempt saw, for the message when pigeond never serves. */
typedef struct serving_probe {
	pigeon_client *c;
	unsigned attempts;
	pigeon_status st;
	bool serving;
	char message[sizeof(((pigeon_error *)0)->message)];
} serving_probe;

static bool
pigeond_serving(void *arg)
{
	serving_probe *p = arg;
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	pigeon_error err = {0};

	p->attempts++;
	p->serving = false;
	if ((p->st = pigeon_health(p->c, &req, &rep, &err)) != PIGEON_OK) {
		snprintf(p->message, sizeof(p->message), "%s", err.message);
		return false;
	}
	p->serving = rep->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	p->message[0] = '\0';
	pigeon_reply_free(rep);
	return p->serving;
}

/* pigeond on rpc_url (NULL: ipc:// in its dir) and pub_url (NULL: the same),
 * for t_pigeond_start and t_env_pigeond_start. */
static void
pigeond_spawn(t_pigeond *p, const t_redis *r, const char *rpc_url, const char *pub_url,
    const char *const *extra)
{
	const char *bin = getenv("PIGEOND");
	char users[512], spam[512], log[300], url[300], pub[300];
	char *argv[64], wrap[512], *save = NULL;
	const char *wrapper;
	int n = 0, wait_ms = 10000;
	pigeon_client_opts co = {0};
	serving_probe probe = {0};

	if (bin == NULL) {
		fprintf(stderr, "harness: PIGEOND is not set\n");
		exit(1);
	}
	/* The URLs may point into *p (a restart on the same address). */
	snprintf(url, sizeof(url), "%s", rpc_url != NULL ? rpc_url : "");
	snprintf(pub, sizeof(pub), "%s", pub_url != NULL ? pub_url : "");
	memset(p, 0, sizeof(*p));
	t_tempdir(p->dir, sizeof(p->dir), "pigeond");
	if (url[0] != '\0')
		snprintf(p->rpc_url, sizeof(p->rpc_url), "%s", url);
	else
		snprintf(p->rpc_url, sizeof(p->rpc_url), "ipc://%s/rpc.sock", p->dir);
	if (pub[0] != '\0')
		snprintf(p->pub_url, sizeof(p->pub_url), "%s", pub);
	else
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
	if (pigeon_client_open_opts(&probe.c, &co) != PIGEON_OK) {
		fprintf(stderr, "harness: cannot open a client of %s\n", p->rpc_url);
		exit(1);
	}
	if (!t_wait_for(pigeond_serving, &probe, wait_ms)) {
		fprintf(stderr,
		    "harness: pigeond did not serve within %d s; %u Health calls, the last "
		    "%s%s%s; its log:\n",
		    wait_ms / 1000, probe.attempts, pigeon_status_name(probe.st),
		    probe.st == PIGEON_OK ? (probe.serving ? " SERVING" : " NOT_SERVING") : ": ",
		    probe.message);
		t_print_file(log);
		exit(1);
	}
	pigeon_client_close(probe.c);
}

void
t_pigeond_start(t_pigeond *p, const t_redis *r, const char *rpc_url, const char *const *extra)
{
	pigeond_spawn(p, r, rpc_url, NULL, extra);
}

void
t_print_file(const char *path)
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

char *
t_file_text(const char *path)
{
	enum { MAX = 1 << 20 };
	char *buf = malloc(MAX);
	size_t n = 0;
	FILE *f;

	if (buf == NULL)
		t_die("malloc");
	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, MAX - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

bool
t_file_holds(void *arg)
{
	t_file_has *h = arg;
	char *text = t_file_text(h->path);
	bool yes = strstr(text, h->text) != NULL;

	free(text);
	return yes;
}

int
t_pigeond_stop(t_pigeond *p)
{
	int code = t_proc_stop(&p->proc, SIGTERM);

	if (code != 0) {
		fprintf(stderr, "harness: pigeond exited with %d; its log:\n", code);
		t_print_file(p->proc.log);
	}
	t_rm_rf(p->dir);
	return code;
}

ssize_t
t_read_all(int fd, char *out, size_t cap, int timeout_ms)
{
	int64_t until = t_now_ms() + timeout_ms;
	size_t got = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)(until - t_now_ms());
		ssize_t n;
		char sink[4096];

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -1;
		if (got + 1 < cap)
			n = recv(fd, out + got, cap - 1 - got, 0);
		else
			n = recv(fd, sink, sizeof(sink), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n < 0)
			return -1;
		if (got + 1 < cap)
			got += (size_t)n;
	}
	out[got] = '\0';
	return (ssize_t)got;
}

int
t_http_status(const char *answer)
{
	int status;

	if (sscanf(answer, "HTTP/1.%*1[01] %3d ", &status) != 1)
		return 0;
	return status;
}

void
t_env_init(t_env *e, const char *tag)
{
	memset(e, 0, sizeof(*e));
	t_tempdir(e->dir, sizeof(e->dir), tag != NULL ? tag : "env");
}

void
t_env_pigeond_start(t_env *e, const char *const *args)
{
	/* A pigeond the test killed left its dir behind. */
	if (e->pigeond.proc.pid <= 0)
		t_rm_rf(e->pigeond.dir);
	pigeond_spawn(&e->pigeond, &e->redis, e->rpc_url, e->pub_url[0] != '\0' ? e->pub_url : NULL,
	    args);
}

void
t_env_role_start(t_env *e, t_proc *p, const char *name, const char *const *args)
{
	const char *bin = getenv("PIGEOND");
	char log[400];
	char *argv[32];
	int n = 0;

	if (bin == NULL) {
		fprintf(stderr, "harness: PIGEOND is not set\n");
		exit(1);
	}
	argv[n++] = (char *)bin;
	argv[n++] = "--redis-url";
	argv[n++] = e->redis.url;
	for (; args != NULL && *args != NULL && n < 31; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/%s.log", e->dir, name);
	t_proc_start(p, argv, log);
}

typedef struct http_probe {
	t_proc *proc;
	int port;
	bool exited;
} http_probe;

/* /healthz answers 200, or the bridge has exited (then exited is set). */
static bool
http_healthy(void *arg)
{
	static const char req[] =
	    "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	http_probe *h = arg;
	struct sockaddr_in a = {.sin_family = AF_INET};
	char out[2048];
	int fd, status = 0;

	if (t_proc_wait(h->proc, 0) >= 0)
		return h->exited = true;
	a.sin_port = htons((uint16_t)h->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1) &&
	    t_read_all(fd, out, sizeof(out), 2000) > 0)
		status = t_http_status(out);
	close(fd);
	return status == 200;
}

/* pigeon-http on a free port; false when it exited at once (the port may
 * have been taken meanwhile). */
static bool
http_spawn(t_env *e, const t_env_opts *o)
{
	const char *bin = getenv("PIGEON_HTTP");
	char listen[64], log[300];
	char *argv[64];
	int n = 0, wait_ms = o->http_valgrind ? 60000 : 10000;
	http_probe h = {.proc = &e->http};

	if (bin == NULL) {
		fprintf(stderr, "harness: PIGEON_HTTP is not set\n");
		exit(1);
	}
	e->http_port = h.port = t_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", e->http_port);
	snprintf(log, sizeof(log), "%s/pigeon-http.log", e->dir);
	if (o->http_valgrind) {
		argv[n++] = VALGRIND;
		argv[n++] = "-q";
		argv[n++] = "--error-exitcode=99";
		argv[n++] = "--leak-check=full";
		argv[n++] = "--errors-for-leak-kinds=definite";
		argv[n++] = "--show-leak-kinds=definite";
	}
	argv[n++] = (char *)bin;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--rpc-url";
	argv[n++] = e->pigeond.rpc_url;
	argv[n++] = "--pub-url";
	argv[n++] = e->pigeond.pub_url;
	for (const char *const *a = o->http_args; a != NULL && *a != NULL && n < 63; a++)
		argv[n++] = (char *)*a;
	argv[n] = NULL;
	t_proc_start(&e->http, argv, log);
	if (t_wait_for(http_healthy, &h, wait_ms))
		return !h.exited;
	fprintf(stderr, "harness: pigeon-http did not answer /healthz within %d s; its log:\n",
	    wait_ms / 1000);
	t_print_file(log);
	exit(1);
}

void
t_env_start(t_env *e, const t_env_opts *o)
{
	static const t_env_opts defaults = {0};
	bool has_dir = e->dir[0] != '\0';

	if (o == NULL)
		o = &defaults;
	if (o->http_valgrind && access(VALGRIND, X_OK) != 0) {
		fprintf(stderr, "harness: valgrind is not installed: skipping\n");
		exit(T_SKIP);
	}
	if (!has_dir)
		memset(e, 0, sizeof(*e));
	t_redis_start(&e->redis, o->aof);
	if (!has_dir)
		t_tempdir(e->dir, sizeof(e->dir), o->tag != NULL ? o->tag : "env");
	if (o->rpc_tcp) {
		e->rpc_port = t_free_port();
		snprintf(e->rpc_url, sizeof(e->rpc_url), "tcp://127.0.0.1:%d", e->rpc_port);
	} else {
		snprintf(e->rpc_url, sizeof(e->rpc_url), "ipc://%s/rpc.sock", e->dir);
	}
	if (o->pub_tcp)
		snprintf(e->pub_url, sizeof(e->pub_url), "tcp://127.0.0.1:%d", t_free_port());
	if (o->redis_only)
		return;
	t_env_pigeond_start(e, o->pigeond_args);
	if (o->client) {
		pigeon_client_opts co = {.url = e->rpc_url, .deadline_ms = o->client_deadline_ms};

		if (pigeon_client_open_opts(&e->client, &co) != PIGEON_OK) {
			fprintf(stderr, "harness: cannot open a client of %s\n", e->rpc_url);
			exit(1);
		}
	}
	if (!o->http)
		return;
	/* As for Redis: another process may take the port before the bridge
	 * binds it, and then the bridge exits at once. */
	for (int attempt = 0; attempt < 5; attempt++)
		if (http_spawn(e, o))
			return;
	fprintf(stderr, "harness: pigeon-http did not start; its log:\n");
	t_print_file(e->http.log);
	exit(1);
}

int
t_env_stop(t_env *e)
{
	int code_http = 0, code;

	if (e->http.pid > 0 && (code_http = t_proc_stop(&e->http, SIGTERM)) != 0) {
		fprintf(stderr, "harness: pigeon-http exited with %d; its log:\n", code_http);
		t_print_file(e->http.log);
	}
	pigeon_client_close(e->client);
	e->client = NULL;
	code = t_pigeond_stop(&e->pigeond);
	t_redis_fini(&e->redis);
	t_rm_rf(e->dir);
	e->dir[0] = '\0';
	return code_http != 0 ? code_http : code;
}

/* Reads the file at path into out (len bytes, NUL-terminated; what does
 * not fit is dropped). */
static void
read_into(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(out, 1, len - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

void
t_cli(t_cli_out *o, const char *dir, const char *env, const char *url, const char *fmt, ...)
{
	const char *bin = getenv("PIGEON_CLI");
	char args[2048], cmd[4096], outp[400], errp[400];
	va_list ap;
	int st;

	if (bin == NULL) {
		fprintf(stderr, "harness: PIGEON_CLI is not set\n");
		exit(1);
	}
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(outp, sizeof(outp), "%s/cli.out", dir);
	snprintf(errp, sizeof(errp), "%s/cli.err", dir);
	/* The redirections of ARGS come after /dev/null's, and win. */
	snprintf(cmd, sizeof(cmd), "</dev/null env %s '%s' --url '%s' %s >'%s' 2>'%s'",
	    env != NULL ? env : "", bin, url, args, outp, errp);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st)) {
		fprintf(stderr, "harness: %s: did not exit by itself (status %d)\n", cmd, st);
		exit(1);
	}
	o->code = WEXITSTATUS(st);
	read_into(outp, o->out, sizeof(o->out));
	read_into(errp, o->err, sizeof(o->err));
}

char *
t_sh(const char *cmd, int *code)
{
	FILE *p = popen(cmd, "r");
	size_t len = 0, cap = 1 << 16, n;
	char *buf = malloc(cap);
	int st;

	if (p == NULL || buf == NULL) {
		fprintf(stderr, "harness: cannot run %s\n", cmd);
		exit(1);
	}
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap *= 2);

			if (nb == NULL) {
				fprintf(stderr, "harness: out of memory reading %s\n", cmd);
				exit(1);
			}
			buf = nb;
		}
	}
	buf[len] = '\0';
	st = pclose(p);
	*code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
	return buf;
}
