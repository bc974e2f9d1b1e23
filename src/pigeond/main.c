/* SPDX-License-Identifier: MIT */
/*
 * pigeond: options, wiring and signals.  Roles: `rpc` serves the RPC socket
 * from the store, `worker` runs the queue workers, `events` rebroadcasts
 * Redis pub/sub on the nng pub socket, `all` (the default) runs every role in
 * one process.  SIGHUP reloads the spam filter.  SIGINT/SIGTERM stop it
 * gracefully, in the order at `out:` below, and a second one during that
 * stop ends it at once with exit code 1.  At start an address still held
 * (by a pigeond before this one, draining) is waited for.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pigeon/wire.h>

#include "backoff.h"
#include "clocks.h"
#include "dispatch.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "server.h"
#include "service.h"
#include "store.h"
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
} config;

/* Tries at a busy address: the first wait, and the longest. */
#define ADDRESS_RETRY_MIN_MS 20
#define ADDRESS_RETRY_MAX_MS 500

static const char *const mutating_methods[] = {
	"Login", "Logout", "SendMessage", "RegisterUser", NULL};

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
    events_relay *ev, store **own_st, pigeond_metrics **out)
{
	pigeond_parts parts = {disp, wp, st, ev};
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
		{"log-level", "PIGEON_LOG_LEVEL", OPT_STRING, "info", "error, warn, info or debug",
		    &cf.log_level},
		{"metrics-listen", "PIGEON_METRICS_LISTEN", OPT_STRING, NULL,
		    "serve Prometheus metrics at http://ADDR:PORT/metrics; off without",
		    &cf.metrics_listen},
		{NULL, NULL, 0, NULL, NULL, NULL},
	};
	store_opts so = {0};
	service_opts svo = {0};
	rpc_dispatch_opts dopts = {0};
	rpc_server_opts ropts = {0};
	worker_opts wo = {0};
	events_opts eo = {0};
	store *st = NULL;
	service *svc = NULL;
	rpc_dispatcher *disp = NULL;
	rpc_server *srv = NULL;
	worker_pool *wp = NULL;
	events_relay *ev = NULL;
	store *metrics_st = NULL;
	pigeond_metrics *metrics = NULL;
	sigset_t sigs;
	address_wait aw;
	pthread_t watch;
	bool watching = false;
	pigeon_status rv;
	int64_t stop_start;
	unsigned left;
	int first_arg, code = 1, sig;

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
		if ((rv = store_open(&st, &so)) != PIGEON_OK) {
			log_error("pigeond", "cannot open the store status=%s url=%s",
			    pigeon_status_name(rv), cf.redis_url);
			goto out;
		}
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

	if (cf.metrics_listen != NULL && (rv = open_metrics(&cf, st, disp, wp, ev, &metrics_st,
					      &metrics)) != PIGEON_OK)
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
	 * the pigeond that replaces this one; let each worker finish and
	 * acknowledge its batch; relay the events of those batches; close the
	 * store, which answered the requests.  Also the way out of a failed
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
	worker_pool_stop(wp);
	events_stop(ev);
	rpc_dispatcher_free(disp);
	service_free(svc);
	store_close(st);
	if (watching) {
		pthread_cancel(watch);
		pthread_join(watch, NULL);
	}
	log_info("pigeond", "stopped code=%d ms=%lld", code,
	    (long long)(clocks_mono_ms() - stop_start));
	return code;
}
