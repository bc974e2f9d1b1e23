/* SPDX-License-Identifier: MIT */
/*
 * pigeond: options, wiring and signals.  Roles: `rpc` serves the RPC socket
 * from the store and sweeps expired sessions, `worker` runs the queue
 * workers, `events` rebroadcasts Redis pub/sub on the nng pub socket, `all`
 * (the default) runs every role in one process.  SIGHUP reloads the spam
 * filter.  SIGINT/SIGTERM stop it gracefully, in the order at `out:` below,
 * and a second one during that stop ends it at once with exit code 1.  At
 * start an address still held (by a pigeond before this one, draining) is
 * waited for.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pigeon/wire.h>
#include <sodium.h>

#include "backoff.h"
#include "clocks.h"
#include "dispatch.h"
#include "events.h"
#include "identity.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "server.h"
#include "service.h"
#include "store.h"
#include "sweeper.h"
#include "validate.h"
#include "worker.h"

typedef struct config {
	const char *rpc_url;
	const char *pub_url;
	const char *redis_url;
	const char *role;
	const char *users_file;
	const char *spam_config;
	const char *log_level;
	const char *metrics_listen;
	uint64_t workers;
	uint64_t batch;
	uint64_t reclaim_ms;
	uint64_t max_attempts;
	uint64_t recv_max;
	uint64_t contexts;
	uint64_t content_max;
	uint64_t journal_max;
	uint64_t drain_max_ms;
	uint64_t listen_wait_ms;
	uint64_t presence_ttl;
	uint64_t presence_batch;
	const char *auth;
	const char *auth_key_file;
	const char *auth_key_file_previous;
	const char *create_admin;
	const char *password_file;
	uint64_t token_ttl_ms;
	uint64_t login_fails_max;
	uint64_t login_window_ms;
	uint64_t register_max;
	uint64_t register_window_ms;
	uint64_t passwd_threads;
	uint64_t passwd_queue;
	uint64_t passwd_mem_kib;
	uint64_t passwd_ops;
} config;

/* OWASP's least argon2id parameters: 19 MiB of memory, 2 passes. */
#define PASSWD_MEM_KIB_MIN 19456
#define PASSWD_OPS_MIN 2

/* --presence-ttl, seconds: at least a second, at most a day. */
#define PRESENCE_TTL_MAX 86400

/* A number macro as option text (the default of --presence-batch). */
#define TEXT_OF(n) TEXT_OF_(n)
#define TEXT_OF_(n) #n

/* Tries at a busy address: the first wait, and the longest. */
#define ADDRESS_RETRY_MIN_MS 20
#define ADDRESS_RETRY_MAX_MS 500

static const char *const mutating_methods[] = {
	"Login", "Logout", "SendMessage", "RegisterUser", "RevokeSessions", "Heartbeat",
	"MarkRead", "ReportMessage", "Train", NULL};

static bool
role_has(const config *cf, const char *role)
{
	return strcmp(cf->role, "all") == 0 || strcmp(cf->role, role) == 0;
}

/* Serves /metrics for the parts this process runs.  Without the rpc role's
 * store, the queue's figures come through a store of one connection opened
 * here (*own_st). */
static pigeon_status
open_metrics(const config *cf, store *st, rpc_dispatcher *disp, worker_pool *wp,
    events_relay *ev, identity *id, presence_sweeper *sweeper, store **own_st,
    pigeond_metrics **out)
{
	pigeond_parts parts = {disp, wp, st, ev, id, sweeper};
	pigeon_status rv;

	if (st == NULL) {
		store_opts so = {.url = cf->redis_url, .journal_max = cf->journal_max,
			.connections = 1};

		if ((rv = store_open(own_st, &so)) != PIGEON_OK) {
			log_error("pigeond", "cannot open the store for metrics status=%s",
			    pigeon_status_name(rv));
			return rv;
		}
		parts.st = *own_st;
	}
	if ((rv = pigeond_metrics_open(out, cf->metrics_listen, &parts)) != PIGEON_OK)
		return rv;
	log_info("pigeond", "serving metrics url=http://%s/metrics", cf->metrics_listen);
	return PIGEON_OK;
}

/* Waiting at start for an address another process holds: a pigeond being
 * replaced keeps its RPC address until the requests in flight are answered
 * (rpc_server_drain), and its pub address until its workers have stopped. */
typedef struct address_wait {
	const sigset_t *sigs;
	int64_t end_ms;
	backoff retry;
	bool logged;
	/* The signal (SIGINT or SIGTERM) that stopped the wait, or 0. */
	int stop_signal;
} address_wait;

static void
address_wait_init(address_wait *w, const sigset_t *sigs, uint64_t wait_ms)
{
	w->sigs = sigs;
	w->end_ms = clocks_mono_ms() + (int64_t)wait_ms;
	backoff_init(&w->retry, ADDRESS_RETRY_MIN_MS, ADDRESS_RETRY_MAX_MS);
	w->logged = false;
	w->stop_signal = 0;
}

/* After an attempt to listen found the address in use: waits before the
 * next and returns true, or false when the wait is over or a stop signal
 * came (w->stop_signal).  The waits are sigtimedwait, so that SIGINT and
 * SIGTERM end them. */
static bool
address_wait_more(address_wait *w, const char *what, const char *url)
{
	int64_t left = w->end_ms - clocks_mono_ms(), delay = backoff_next(&w->retry);
	struct timespec ts;
	int sig;

	if (left <= 0)
		return false;
	if (!w->logged) {
		log_info("pigeond", "%s address in use, waiting for it url=%s wait_ms=%lld", what,
		    url, (long long)left);
		w->logged = true;
	}
	if (delay > left)
		delay = left;
	ts.tv_sec = delay / 1000;
	ts.tv_nsec = (long)(delay % 1000) * 1000000;
	if ((sig = sigtimedwait(w->sigs, NULL, &ts)) == SIGINT || sig == SIGTERM) {
		w->stop_signal = sig;
		return false;
	}
	if (sig == SIGHUP)
		log_info("pigeond", "SIGHUP ignored while starting");
	return true;
}

/* Runs once the stop has begun: a second SIGINT or SIGTERM ends pigeond at
 * once, whatever the stop is waiting for, with exit code 1.  Cancelled (in
 * sigwait) when the stop is over. */
static void *
stop_watch(void *arg)
{
	const sigset_t *sigs = arg;
	int sig;

	for (;;) {
		if (sigwait(sigs, &sig) != 0 || sig == SIGHUP)
			continue;
		log_error("pigeond", "second signal during the stop: exiting at once signal=%d",
		    sig);
		_exit(1);
	}
}

/* Checks the identity options; 0, or the exit code for a bad one. */
static int
check_auth(const config *cf, const char *prog)
{
	if (strcmp(cf->auth, "open") != 0 && strcmp(cf->auth, "required") != 0) {
		fprintf(stderr, "%s: unknown --auth '%s' (open or required)\n", prog, cf->auth);
		return 2;
	}
	if (strcmp(cf->auth, "required") == 0 && cf->create_admin == NULL &&
	    (cf->auth_key_file == NULL || cf->auth_key_file[0] == '\0')) {
		fprintf(stderr, "%s: --auth required needs --auth-key-file\n", prog);
		return 2;
	}
	if (cf->passwd_mem_kib < PASSWD_MEM_KIB_MIN || cf->passwd_ops < PASSWD_OPS_MIN) {
		fprintf(stderr, "%s: --passwd-mem-kib must be at least %d and --passwd-ops at least %d\n",
		    prog, PASSWD_MEM_KIB_MIN, PASSWD_OPS_MIN);
		return 2;
	}
	if (cf->passwd_threads < 1 || cf->passwd_threads > PASSWD_THREADS_MAX ||
	    cf->passwd_queue > PASSWD_QUEUE_MAX || cf->token_ttl_ms < 1000 ||
	    cf->token_ttl_ms > INT32_MAX * 1000ULL || cf->login_fails_max < 1 ||
	    cf->login_window_ms < 1 || cf->register_window_ms < 1) {
		fprintf(stderr,
		    "%s: --passwd-threads must be 1 to %d, --passwd-queue at most %d, "
		    "--token-ttl-ms at least 1000, --login-fails-max and the windows at least 1\n",
		    prog, PASSWD_THREADS_MAX, PASSWD_QUEUE_MAX);
		return 2;
	}
	return 0;
}

static passwd_opts
passwd_options(const config *cf)
{
	passwd_opts o = {.threads = (unsigned)cf->passwd_threads,
	    .queue_max = (unsigned)cf->passwd_queue,
	    .opslimit = cf->passwd_ops,
	    .memlimit = (size_t)cf->passwd_mem_kib * 1024};

	return o;
}

static identity_opts
identity_options(const config *cf)
{
	identity_opts io = {.redis_url = cf->redis_url,
	    .key_file = cf->auth_key_file,
	    .key_file_previous = cf->auth_key_file_previous,
	    .token_ttl_ms = (int64_t)cf->token_ttl_ms,
	    .login_fails_max = (unsigned)cf->login_fails_max,
	    .login_window_ms = (int64_t)cf->login_window_ms,
	    .register_max = (unsigned)cf->register_max,
	    .register_window_ms = (int64_t)cf->register_window_ms,
	    .passwd = passwd_options(cf)};

	return io;
}

/* One answer awaited by create_admin. */
typedef struct awaited {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool done;
	pigeon_status st;
	char text[PASSWD_HASH_BYTES + 256];
} awaited;

static void
awaited_set(awaited *a, pigeon_status st, const char *text)
{
	pthread_mutex_lock(&a->mtx);
	a->st = st;
	snprintf(a->text, sizeof(a->text), "%s", text != NULL ? text : "");
	a->done = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mtx);
}

static void
awaited_wait(awaited *a)
{
	pthread_mutex_lock(&a->mtx);
	while (!a->done)
		pthread_cond_wait(&a->cv, &a->mtx);
	a->done = false;
	pthread_mutex_unlock(&a->mtx);
}

static void
admin_hashed(void *arg, pigeon_status st, const char *hash)
{
	awaited_set(arg, st, st == PIGEON_OK ? hash : NULL);
}

static void
admin_registered(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	awaited_set(arg, st, errmsg);
}

/* Reads the password: the first line of --password-file, or of standard
 * input.  Empty on failure. */
static void
read_password(const config *cf, char *pw, size_t cap)
{
	FILE *f = cf->password_file != NULL ? fopen(cf->password_file, "r") : stdin;

	pw[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(pw, (int)cap, f) == NULL)
		pw[0] = '\0';
	pw[strcspn(pw, "\r\n")] = '\0';
	if (f != stdin)
		fclose(f);
}

/* --create-admin NAME: the first admin, whom no admin can register. */
static int
create_admin(const config *cf, const char *prog)
{
	Pigeon__V1__RegisterUserRequest req = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	passwd_opts po = passwd_options(cf);
	store_opts so = {.url = cf->redis_url, .users_file = cf->users_file, .connections = 1};
	awaited a = {.mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	char pw[PASSWD_MAX + 2];
	validate_why vw;
	const char *why;
	passwd_pool *pool = NULL;
	store *st = NULL;
	pigeon_status rv;
	int code = 1;

	if ((why = validate_username(cf->create_admin, strlen(cf->create_admin), &vw)) != NULL) {
		fprintf(stderr, "%s: --create-admin: %s\n", prog, why);
		return 2;
	}
	read_password(cf, pw, sizeof(pw));
	if (strlen(pw) < PASSWD_MIN || strlen(pw) > PASSWD_MAX) {
		fprintf(stderr, "%s: the password must be %d to %d bytes (one line of %s)\n", prog,
		    PASSWD_MIN, PASSWD_MAX,
		    cf->password_file != NULL ? cf->password_file : "standard input");
		code = 2;
		goto out;
	}
	if ((rv = passwd_pool_new(&pool, &po)) != PIGEON_OK ||
	    (rv = passwd_hash(pool, pw, strlen(pw), admin_hashed, &a)) != PIGEON_OK) {
		fprintf(stderr, "%s: cannot hash the password: %s\n", prog, pigeon_status_name(rv));
		goto out;
	}
	awaited_wait(&a);
	if (a.st != PIGEON_OK) {
		fprintf(stderr, "%s: cannot hash the password: %s\n", prog, pigeon_status_name(a.st));
		goto out;
	}
	if ((rv = store_open(&st, &so)) != PIGEON_OK) {
		fprintf(stderr, "%s: cannot open the store: %s\n", prog, pigeon_status_name(rv));
		goto out;
	}
	req.username = (char *)cf->create_admin;
	req.role = PIGEON__V1__ROLE__ROLE_ADMIN;
	store_register_user_password(st, &req, a.text, admin_registered, &a);
	awaited_wait(&a);
	if (a.st != PIGEON_OK) {
		fprintf(stderr, "%s: cannot create admin %s: %s %s\n", prog, cf->create_admin,
		    pigeon_status_name(a.st), a.text);
		goto out;
	}
	printf("admin %s created\n", cf->create_admin);
	code = 0;
out:
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(a.text, sizeof(a.text));
	store_close(st);
	passwd_pool_free(pool);
	return code;
}

int
main(int argc, char **argv)
{
	config cf = {0};
	const opt_def defs[] = {
		{"rpc-url", "PIGEON_RPC_URL", OPT_STRING, PIGEON_DEFAULT_RPC_URL,
		    "where the RPC socket listens (tcp:// or ipc://)", &cf.rpc_url},
		{"pub-url", "PIGEON_PUB_URL", OPT_STRING, PIGEON_DEFAULT_PUB_URL,
		    "where the event pub socket listens", &cf.pub_url},
		{"redis-url", "PIGEON_REDIS_URL", OPT_STRING, "redis://127.0.0.1:6379",
		    "Redis to use: redis://HOST:PORT or unix:PATH", &cf.redis_url},
		{"role", "PIGEON_ROLE", OPT_STRING, "all",
		    "which parts to run: all, rpc, worker or events", &cf.role},
		{"users-file", "PIGEON_USERS_FILE", OPT_STRING, NULL,
		    "users to create when missing, one 'name regular|admin' a line", &cf.users_file},
		{"spam-config", "PIGEON_SPAM_CONFIG", OPT_STRING, NULL,
		    "spam filter settings (docs/spam.md); built-in defaults without",
		    &cf.spam_config},
		{"workers", "PIGEON_WORKERS", OPT_UINT, "1", "worker threads", &cf.workers},
		{"batch", "PIGEON_BATCH", OPT_UINT, "100",
		    "messages a worker takes and checks per script call, 1 to 1000", &cf.batch},
		{"reclaim-ms", "PIGEON_RECLAIM_MS", OPT_UINT, "30000",
		    "idle time after which a message held by a dead worker is taken over",
		    &cf.reclaim_ms},
		{"max-attempts", "PIGEON_MAX_ATTEMPTS", OPT_UINT, "5",
		    "deliveries of a message before it is dead-lettered", &cf.max_attempts},
		{"recv-max", "PIGEON_RECV_MAX", OPT_UINT, "262144",
		    "largest request accepted, bytes", &cf.recv_max},
		{"contexts", "PIGEON_RPC_CONTEXTS", OPT_UINT, "256", "RPC requests in flight at most",
		    &cf.contexts},
		{"content-max", "PIGEON_CONTENT_MAX", OPT_UINT, "65536",
		    "largest message content, bytes", &cf.content_max},
		{"journal-max", "PIGEON_JOURNAL_MAX", OPT_UINT, "1000000",
		    "journal entries kept", &cf.journal_max},
		{"drain-max-ms", "PIGEON_DRAIN_MAX_MS", OPT_UINT, "10000",
		    "on SIGTERM, how long requests in flight are waited for at most (also no "
		    "longer than their deadlines)",
		    &cf.drain_max_ms},
		{"listen-wait-ms", "PIGEON_LISTEN_WAIT_MS", OPT_UINT, "15000",
		    "at start, how long to wait for an address another process holds (a "
		    "pigeond being replaced, still stopping)",
		    &cf.listen_wait_ms},
		{"presence-ttl", "PIGEON_PRESENCE_TTL", OPT_UINT, "60",
		    "seconds a session lives after its user's last Login, Heartbeat, "
		    "SendMessage or MarkRead; then the user is logged out (1 to 86400)",
		    &cf.presence_ttl},
		{"presence-batch", "PIGEON_PRESENCE_BATCH", OPT_UINT, TEXT_OF(PRESENCE_BATCH_DEFAULT),
		    "sessions one presence sweep script ends at most, 1 to 10000 (Redis serves "
		    "nothing else while it runs: docs/redis-schema.md, \"Presence\")",
		    &cf.presence_batch},
		{"log-level", "PIGEON_LOG_LEVEL", OPT_STRING, "info", "error, warn, info or debug",
		    &cf.log_level},
		{"metrics-listen", "PIGEON_METRICS_LISTEN", OPT_STRING, NULL,
		    "serve Prometheus metrics at http://ADDR:PORT/metrics; off without",
		    &cf.metrics_listen},
		{"auth", "PIGEON_AUTH", OPT_STRING, "open",
		    "open (anyone acts as anyone) or required (passwords and session tokens, "
		    "docs/auth.md)",
		    &cf.auth},
		{"auth-key-file", "PIGEON_AUTH_KEY_FILE", OPT_STRING, NULL,
		    "required mode: the key that signs session tokens, 32 or more random bytes",
		    &cf.auth_key_file},
		{"auth-key-file-previous", "PIGEON_AUTH_KEY_FILE_PREVIOUS", OPT_STRING, NULL,
		    "a previous signing key whose tokens still verify (key rotation)",
		    &cf.auth_key_file_previous},
		{"token-ttl-ms", "PIGEON_TOKEN_TTL_MS", OPT_UINT, "86400000",
		    "how long a session token is valid", &cf.token_ttl_ms},
		{"login-fails-max", "PIGEON_LOGIN_FAILS_MAX", OPT_UINT, "5",
		    "failed logins of one username after which logins are refused until the "
		    "window passes",
		    &cf.login_fails_max},
		{"login-window-ms", "PIGEON_LOGIN_WINDOW_MS", OPT_UINT, "60000",
		    "the window of --login-fails-max", &cf.login_window_ms},
		{"register-max", "PIGEON_REGISTER_MAX", OPT_UINT, "20",
		    "registrations accepted per --register-window-ms, from anyone", &cf.register_max},
		{"register-window-ms", "PIGEON_REGISTER_WINDOW_MS", OPT_UINT, "60000",
		    "the window of --register-max", &cf.register_window_ms},
		{"passwd-threads", "PIGEON_PASSWD_THREADS", OPT_UINT, "2",
		    "threads hashing passwords (each uses --passwd-mem-kib while it hashes)",
		    &cf.passwd_threads},
		{"passwd-queue", "PIGEON_PASSWD_QUEUE", OPT_UINT, "16",
		    "password checks waiting for a thread at most; beyond, RESOURCE_EXHAUSTED",
		    &cf.passwd_queue},
		{"passwd-mem-kib", "PIGEON_PASSWD_MEM_KIB", OPT_UINT, "19456",
		    "argon2id memory per hash, KiB (at least 19456)", &cf.passwd_mem_kib},
		{"passwd-ops", "PIGEON_PASSWD_OPS", OPT_UINT, "2",
		    "argon2id passes per hash (at least 2)", &cf.passwd_ops},
		{"create-admin", NULL, OPT_STRING, NULL,
		    "create the admin NAME with the password read from --password-file or "
		    "standard input, then exit",
		    &cf.create_admin},
		{"password-file", "PIGEON_PASSWORD_FILE", OPT_STRING, NULL,
		    "with --create-admin: the file holding the password (one line)",
		    &cf.password_file},
		{NULL, NULL, 0, NULL, NULL, NULL},
	};
	store_opts so = {0};
	service_opts svo = {0};
	rpc_dispatch_opts dopts = {0};
	rpc_server_opts ropts = {0};
	worker_opts wo = {0};
	events_opts eo = {0};
	presence_opts po = {0};
	store *st = NULL;
	service *svc = NULL;
	identity *id = NULL;
	rpc_dispatcher *disp = NULL;
	rpc_server *srv = NULL;
	worker_pool *wp = NULL;
	events_relay *ev = NULL;
	presence_sweeper *sweeper = NULL;
	store *metrics_st = NULL;
	pigeond_metrics *metrics = NULL;
	sigset_t sigs;
	address_wait aw;
	pthread_t watch;
	bool watching = false;
	pigeon_status rv;
	int64_t stop_start;
	unsigned left;
	int first_arg, code = 1, bad, sig;

	if (!opts_parse(defs, argc, argv, "[OPTION]...",
		"The Pigeon messaging server: RPC over nng req/rep, backed by Redis.", &first_arg,
		&code))
		return code;
	if (first_arg < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'; try --help\n", argv[0],
		    argv[first_arg]);
		return 2;
	}
	if (!log_set_level_name(cf.log_level)) {
		fprintf(stderr, "%s: unknown log level '%s'\n", argv[0], cf.log_level);
		return 2;
	}
	if (cf.batch < 1 || cf.batch > WORKER_BATCH_MAX) {
		fprintf(stderr, "%s: --batch must be from 1 to %d\n", argv[0], WORKER_BATCH_MAX);
		return 2;
	}
	if (strcmp(cf.role, "all") != 0 && strcmp(cf.role, "rpc") != 0 &&
	    strcmp(cf.role, "worker") != 0 && strcmp(cf.role, "events") != 0) {
		fprintf(stderr, "%s: unknown role '%s' (all, rpc, worker or events)\n", argv[0],
		    cf.role);
		return 2;
	}
	if (cf.presence_ttl < 1 || cf.presence_ttl > PRESENCE_TTL_MAX) {
		fprintf(stderr, "%s: --presence-ttl must be from 1 to %d seconds\n", argv[0],
		    PRESENCE_TTL_MAX);
		return 2;
	}
	if (cf.presence_batch < 1 || cf.presence_batch > PRESENCE_BATCH_MAX) {
		fprintf(stderr, "%s: --presence-batch must be from 1 to %d\n", argv[0],
		    PRESENCE_BATCH_MAX);
		return 2;
	}
	if ((bad = check_auth(&cf, argv[0])) != 0)
		return bad;
	if (cf.create_admin != NULL)
		return create_admin(&cf, argv[0]);

	/* Every thread started from here on inherits the blocked set, so the
	 * signals reach only sigwait below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (role_has(&cf, "rpc")) {
		so.url = cf.redis_url;
		so.journal_max = cf.journal_max;
		so.users_file = cf.users_file;
		so.presence_ttl_ms = (int64_t)cf.presence_ttl * 1000;
		if ((rv = store_open(&st, &so)) != PIGEON_OK) {
			log_error("pigeond", "cannot open the store status=%s url=%s",
			    pigeon_status_name(rv), cf.redis_url);
			goto out;
		}
		if (strcmp(cf.auth, "required") == 0) {
			identity_opts io = identity_options(&cf);
			char err[512];

			if ((rv = identity_new(&id, st, &io, err, sizeof(err))) != PIGEON_OK) {
				log_error("pigeond", "cannot start --auth required status=%s: %s",
				    pigeon_status_name(rv), err);
				goto out;
			}
			log_info("pigeond", "auth required token_ttl_ms=%llu passwd_threads=%llu",
			    (unsigned long long)cf.token_ttl_ms, (unsigned long long)cf.passwd_threads);
		}
		svo.id = id;
		svo.content_max = (size_t)cf.content_max;
		if ((rv = service_new(&svc, st, &svo)) != PIGEON_OK)
			goto out;
		dopts.request_max = (size_t)cf.recv_max;
		dopts.dedup_methods = mutating_methods;
		if ((rv = rpc_dispatcher_new(&disp, service_base(svc), &dopts)) != PIGEON_OK)
			goto out;
		ropts.url = cf.rpc_url;
		ropts.recv_max = (size_t)cf.recv_max;
		ropts.contexts = (unsigned)cf.contexts;
		address_wait_init(&aw, &sigs, cf.listen_wait_ms);
		while ((rv = rpc_server_open(&srv, &ropts, disp)) == PIGEON_UNAVAILABLE &&
		    address_wait_more(&aw, "RPC", cf.rpc_url))
			;
		if ((sig = aw.stop_signal) != 0)
			goto stopping;
		if (rv != PIGEON_OK) {
			log_error("pigeond", "cannot serve RPC status=%s url=%s",
			    pigeon_status_name(rv), cf.rpc_url);
			goto out;
		}
		log_info("pigeond", "serving RPC url=%s redis=%s", cf.rpc_url, cf.redis_url);
		po.ttl_ms = so.presence_ttl_ms;
		po.batch = (unsigned)cf.presence_batch;
		if ((rv = presence_sweeper_start(&sweeper, st, &po)) != PIGEON_OK) {
			log_error("pigeond", "cannot start the presence sweeper status=%s",
			    pigeon_status_name(rv));
			goto out;
		}
	}
	if (role_has(&cf, "worker")) {
		wo.redis_url = cf.redis_url;
		wo.threads = (unsigned)cf.workers;
		wo.batch = (unsigned)cf.batch;
		wo.reclaim_idle_ms = (int64_t)cf.reclaim_ms;
		wo.journal_max = cf.journal_max;
		wo.max_attempts = (uint32_t)cf.max_attempts;
		wo.spam_config = cf.spam_config;
		if ((rv = worker_pool_start(&wp, &wo)) != PIGEON_OK) {
			log_error("pigeond", "cannot start workers status=%s",
			    pigeon_status_name(rv));
			goto out;
		}
		log_info("pigeond", "workers started threads=%u", wo.threads);
	}
	if (role_has(&cf, "events")) {
		eo.redis_url = cf.redis_url;
		eo.pub_url = cf.pub_url;
		eo.recv_max = (size_t)cf.recv_max;
		eo.redact_content = strcmp(cf.auth, "required") == 0;
		address_wait_init(&aw, &sigs, cf.listen_wait_ms);
		while ((rv = events_start(&ev, &eo)) == PIGEON_UNAVAILABLE &&
		    address_wait_more(&aw, "pub", cf.pub_url))
			;
		if ((sig = aw.stop_signal) != 0)
			goto stopping;
		if (rv != PIGEON_OK) {
			log_error("pigeond", "cannot start the events relay status=%s url=%s",
			    pigeon_status_name(rv), cf.pub_url);
			goto out;
		}
	}

	if (cf.metrics_listen != NULL && (rv = open_metrics(&cf, st, disp, wp, ev, id, sweeper,
					      &metrics_st, &metrics)) != PIGEON_OK)
		goto out;

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("pigeond", "SIGHUP: reloading the spam filter");
			if (wp != NULL && (rv = worker_pool_reload(wp)) != PIGEON_OK)
				log_error("pigeond", "spam filter not reloaded status=%s; the old one stays",
				    pigeon_status_name(rv));
			continue;
		}
		break;
	}
stopping:
	log_info("pigeond", "stopping signal=%d drain_max_ms=%llu", sig,
	    (unsigned long long)cf.drain_max_ms);
	if (pthread_create(&watch, NULL, stop_watch, &sigs) == 0)
		watching = true;
	else
		log_warn("pigeond", "a second signal will not cut the stop short");
	code = 0;

out:
	/* The graceful stop, in this order: refuse new requests and answer
	 * those in flight; close the RPC socket, which frees its address for
	 * the pigeond that replaces this one; stop sweeping expired sessions;
	 * let each worker finish and acknowledge its batch; relay the events
	 * of those batches and sweeps; close the store, which answered the
	 * requests and ran the sweeps.  Also the way out of a failed
	 * start, where whatever did not start is NULL. */
	stop_start = clocks_mono_ms();
	if (srv != NULL && (left = rpc_server_drain(srv, (int64_t)cf.drain_max_ms)) > 0)
		log_warn("pigeond", "requests still in flight after the drain; waiting for their "
				    "handlers in_flight=%u",
		    left);
	/* Metrics read the parts below: they stop before any is freed. */
	pigeond_metrics_close(metrics);
	store_close(metrics_st);
	rpc_server_close(srv);
	presence_sweeper_stop(sweeper);
	worker_pool_stop(wp);
	events_stop(ev);
	rpc_dispatcher_free(disp);
	service_free(svc);
	/* No request is in flight: nothing waits for the hashing pool. */
	identity_free(id);
	store_close(st);
	if (watching) {
		pthread_cancel(watch);
		pthread_join(watch, NULL);
	}
	log_info("pigeond", "stopped code=%d ms=%lld", code,
	    (long long)(clocks_mono_ms() - stop_start));
	return code;
}
