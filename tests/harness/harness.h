/* SPDX-License-Identifier: MIT */
/*
 * Test harness: real processes, really started.  t_redis starts its own
 * redis-server in a temp dir on a free 127.0.0.1 port and waits for PING;
 * t_pigeond starts the pigeond under test against it.  Each child runs in its
 * own process group, dies with the test process (PR_SET_PDEATHSIG), and is
 * stopped by PID at teardown, also when a test fails.
 *
 * Paths come from the environment meson sets for each test: PIGEOND,
 * PIGEON_HTTP, PIGEON_CLI, PIGEON_SOURCE_DIR.  A test that finds no
 * redis-server exits 77 (meson: SKIP; tools/test fails on any skip).
 */
#ifndef PIGEON_TEST_HARNESS_H
#define PIGEON_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define T_SKIP 77

typedef struct t_redis {
	char dir[256];
	int port;
	pid_t pid;
	char url[64];
	bool aof;
} t_redis;

/* Monotonic milliseconds, for deadlines and durations in tests. */
int64_t t_now_ms(void);

/* A free TCP port on 127.0.0.1 (bound to port 0, then released). */
int t_free_port(void);

/* Makes a fresh temp dir; exits the test on failure. */
void t_tempdir(char *out, size_t len, const char *tag);

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

/* Waits until cond(arg) is true, polling every 10 ms, up to timeout_ms.
 * Returns whether it became true. */
bool t_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* Path of a file in the source tree (PIGEON_SOURCE_DIR/rel). */
const char *t_source_path(const char *rel, char *buf, size_t len);

#endif
