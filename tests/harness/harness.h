/* SPDX-License-Identifier: MIT */
/*
 * Test harness: real processes, really started.  t_env is the fixture every
 * integration, http and fault test uses: a temp dir, its own redis-server on
 * a free 127.0.0.1 port (waiting for PING), the pigeond under test (waiting
 * for Health), optionally a libpigeon client of it and pigeon-http (waiting
 * for /healthz).  Each child runs in its own process group, dies with the
 * test process (PR_SET_PDEATHSIG), and is stopped by PID at teardown, in the
 * reverse order, also when a test fails.  The parts (t_redis, t_pigeond,
 * t_proc) stay usable alone, for a test that starts more of them.
 *
 * Waiting: t_wait_for (a condition polled with a deadline) and t_cond_wait
 * (a condition variable, monotonic clock), never fixed sleeps.
 *
 * Paths come from the environment meson sets for each test: PIGEOND,
 * PIGEON_HTTP, PIGEON_CLI, PIGEON_SOURCE_DIR.  A test that finds no
 * redis-server exits 77 (meson: SKIP; tools/test fails on any skip).
 */
#ifndef PIGEON_TEST_HARNESS_H
#define PIGEON_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pigeon/pigeon.h>

#define T_SKIP 77

typedef struct t_redis {
	char dir[256];
	int port;
	pid_t pid;
	char url[64];
	bool aof;
} t_redis;

/* Monotonic milliseconds, for deadlines and durations in tests; the clock of
 * clocks_mono_ms and of t_cond_wait. */
int64_t t_now_ms(void);

/* Waits until cond(arg) is true, polling every 10 ms, up to timeout_ms.
 * Returns whether it became true. */
bool t_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms);
/* The same, polling every every_ms: for a condition that is one call to a
 * server, retried at the pace the test wants. */
bool t_wait_every(bool (*cond)(void *arg), void *arg, int every_ms, int timeout_ms);

/* Initialises mu, and cv for timed waits on the monotonic clock (t_now_ms);
 * exits the test on failure. */
void t_cond_init(pthread_mutex_t *mu, pthread_cond_t *cv);
/* With mu held, waits on cv until it is signalled or t_now_ms() reaches
 * deadline_ms.  Returns false once the deadline has passed; it may return
 * true spuriously, so callers loop on their predicate:
 *
 *	while (!done)
 *		assert_true(t_cond_wait(&cv, &mu, deadline));
 */
bool t_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms);

/* Sleeps ms (nothing when ms <= 0): to pace a load or to pick a random
 * moment, never to wait for something to happen (t_wait_for). */
void t_sleep_ms(int64_t ms);

/* A free TCP port on 127.0.0.1 (bound to port 0, then released). */
int t_free_port(void);

/* Makes a fresh temp dir; exits the test on failure. */
void t_tempdir(char *out, size_t len, const char *tag);
/* Removes dir and everything in it, unless PIGEON_KEEP_TEST_DIRS is set. */
void t_rm_rf(const char *dir);
/* Copies a file (a process's log) to stderr, to show why a test failed. */
void t_print_file(const char *path);
/* The text of a file (its first MiB), malloc'd and NUL-terminated; "" when
 * it is missing.  Exits the test without memory. */
char *t_file_text(const char *path);

/* A t_wait_for condition: the file at path (a log, a stream a process
 * writes) holds text. */
typedef struct t_file_has {
	const char *path;
	const char *text;
} t_file_has;
bool t_file_holds(void *arg);

/* Starts redis-server (appendonly when aof) and waits for PING up to 10 s.
 * Exits with T_SKIP when redis-server is not installed; retries another port
 * when the chosen one is taken meanwhile. */
void t_redis_start(t_redis *r, bool aof);
/* Starts it again on the same port and dir (after t_redis_stop/kill). */
void t_redis_restart(t_redis *r);
/* SIGTERM (or SIGKILL when hard) by PID, and waits for it to exit. */
void t_redis_stop(t_redis *r, bool hard);
/* Stops it if running and removes its dir. */
void t_redis_fini(t_redis *r);
/* Sends one inline command and returns the first line of the reply in out
 * (without CRLF); false when Redis does not answer within 2 s. */
bool t_redis_cmd(const t_redis *r, const char *cmd, char *out, size_t len);

typedef struct t_proc {
	pid_t pid;
	char log[512];
} t_proc;

/* Starts argv[0] (an absolute path) with its stdout/stderr appended to
 * log_path.  Exits the test on failure. */
void t_proc_start(t_proc *p, char *const argv[], const char *log_path);
/* Sends sig by PID and waits up to 10 s for the exit, then SIGKILL.  Returns
 * the exit code, or 128 + the signal that ended it. */
int t_proc_stop(t_proc *p, int sig);
/* Waits up to timeout_ms for the process to exit by itself.  Returns what
 * t_proc_stop does, or -1 when it is still running at the deadline. */
int t_proc_wait(t_proc *p, int timeout_ms);
/* Resident set size of the process, KiB; -1 when unknown. */
long t_proc_rss_kb(const t_proc *p);

typedef struct t_pigeond {
	t_proc proc;
	char dir[256];
	char rpc_url[300];
	char pub_url[300];
} t_pigeond;

/* Starts pigeond against r with --role all, RPC and pub on ipc:// sockets in
 * a fresh dir (or the given tcp rpc_url when not NULL), the repo's users and
 * spam config, plus extra args (NULL-terminated, may be NULL).  Waits until
 * Health answers SERVING, up to 10 s.  When PIGEON_TEST_WRAPPER is set (the
 * valgrind test setup), pigeond runs under that command, split at spaces,
 * and the wait is 120 s. */
void t_pigeond_start(t_pigeond *p, const t_redis *r, const char *rpc_url,
    const char *const *extra);
/* SIGTERM, then the exit code: 0 for a clean stop (no leak or sanitizer
 * report); otherwise its log is printed to stderr. */
int t_pigeond_stop(t_pigeond *p);

/* One Health call through c: its code, and on OK in *serving (when not
 * NULL) whether pigeond said SERVING. */
pigeon_status t_pigeond_health(pigeon_client *c, bool *serving);

/* Path of a file in the source tree (PIGEON_SOURCE_DIR/rel). */
const char *t_source_path(const char *rel, char *buf, size_t len);

/* Reads from fd until the peer closes, at most timeout_ms, into out (NUL-
 * terminated; what does not fit is read and dropped).  Returns the bytes
 * kept, or -1 when the connection is still open at the deadline. */
ssize_t t_read_all(int fd, char *out, size_t cap, int timeout_ms);
/* The status of an HTTP/1.x answer, 0 for none. */
int t_http_status(const char *answer);

/* Runs a shell command and returns all it printed on stdout, NUL-terminated
 * (malloc'd; the caller frees it), with its exit code in *code (128 + the
 * signal when one ended it).  Exits the test when the command cannot run. */
char *t_sh(const char *cmd, int *code);

/* What one run of the pigeon CLI printed, and its exit code. */
typedef struct t_cli_out {
	int code;
	char out[4096];
	char err[1024];
} t_cli_out;

/* Runs `env $PIGEON_CLI --url url ARGS` through the shell with standard
 * input from /dev/null (ARGS may redirect it), where ARGS is fmt formatted
 * (its arguments shell-quoted by the caller) and env (may be NULL) holds
 * VAR=value assignments, shell-quoted, for that run only.  Its output goes
 * through files in dir.  Exits the test when the CLI cannot run or a
 * signal ends it. */
void t_cli(t_cli_out *o, const char *dir, const char *env, const char *url, const char *fmt,
    ...) __attribute__((format(printf, 5, 6)));

typedef struct t_env_opts {
	/* Names the temp dir (pigeon-<tag>-XXXXXX); NULL: "env". */
	const char *tag;
	/* Redis with the append-only file. */
	bool aof;
	/* Redis only: the test starts pigeond itself (t_env_pigeond_start),
	 * if at all. */
	bool redis_only;
	/* pigeond's RPC on tcp://127.0.0.1:<free port> (rpc_port), else on an
	 * ipc:// socket in the env's dir; either survives a pigeond restart. */
	bool rpc_tcp;
	/* pigeond's pub socket on tcp://127.0.0.1:<free port>, else ipc:// in
	 * pigeond's own dir. */
	bool pub_tcp;
	/* More pigeond arguments, NULL-terminated (may be NULL); a repeated
	 * option wins over the harness's. */
	const char *const *pigeond_args;
	/* Opens client to pigeond, with this deadline (0: libpigeon's). */
	bool client;
	int32_t client_deadline_ms;
	/* Starts pigeon-http on a free 127.0.0.1 port against pigeond (its
	 * --rpc-url and --pub-url), with these more arguments (may be NULL),
	 * and waits until /healthz answers 200, up to 10 s (60 s under
	 * valgrind).  Retries another port when it exits at once.
	 * PIGEON_TEST_WRAPPER does not apply to it (http_valgrind does). */
	bool http;
	const char *const *http_args;
	/* pigeon-http under valgrind, whose errors and definite leaks make it
	 * exit 99; exits with T_SKIP when valgrind is not installed. */
	bool http_valgrind;
} t_env_opts;

typedef struct t_env {
	/* The test's own dir: logs and files of the processes it starts; removed
	 * by t_env_stop. */
	char dir[256];
	t_redis redis;
	t_pigeond pigeond;
	/* Where pigeond serves RPCs, across restarts; rpc_port 0 for ipc://. */
	char rpc_url[300];
	int rpc_port;
	/* The tcp:// pub address of pub_tcp, else "". */
	char pub_url[300];
	/* With opts.client; closed by t_env_stop. */
	pigeon_client *client;
	/* With opts.http: pigeon-http, its port; its log is http.log. */
	t_proc http;
	int http_port;
} t_env;

/* Clears e and makes its dir, for a test that writes files there (a config
 * pigeond reads at start) before t_env_start.  Optional: t_env_start does it
 * when e has no dir yet. */
void t_env_init(t_env *e, const char *tag);
/* Starts what o asks for (o may be NULL: Redis and pigeond), in this order:
 * Redis, pigeond, the client, pigeon-http.  e is zeroed (static, or = {0})
 * or made by t_env_init.  Exits the test on failure, with T_SKIP when
 * redis-server (or valgrind for http_valgrind) is missing. */
void t_env_start(t_env *e, const t_env_opts *o);
/* Starts pigeond against e's Redis on e's RPC (and pub) address, with args
 * (NULL-terminated, may be NULL), as t_pigeond_start: after a stop or kill,
 * or for a redis_only env. */
void t_env_pigeond_start(t_env *e, const char *const *args);
/* Starts one more pigeond process (one role: a worker, the events relay):
 * $PIGEOND --redis-url <e's Redis> args..., its output to <dir>/<name>.log.
 * It does not wait for anything; the caller stops it. */
void t_env_role_start(t_env *e, t_proc *p, const char *name, const char *const *args);
/* Stops, by PID, what runs of it in the reverse order (pigeon-http, the
 * client, pigeond, Redis) and removes the dirs.  Returns 0, or the first
 * non-zero exit code of pigeon-http and pigeond (a sanitizer or valgrind
 * report), whose log is then printed to stderr. */
int t_env_stop(t_env *e);

#endif
