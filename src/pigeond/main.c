/* SPDX-License-Identifier: MIT */
/*
 * pigeond: options, wiring and signals.  Roles: `rpc` serves the RPC socket
 * from the store, `worker` runs the queue workers, `events` rebroadcasts
 * Redis pub/sub on the nng pub socket, `all` (the default) runs every role in
 * one process.  SIGINT/SIGTERM stop it; SIGHUP reloads the spam filter.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pigeon/wire.h>

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
} config;

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
	pigeon_status rv;
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
		if ((rv = rpc_server_open(&srv, &ropts, disp)) != PIGEON_OK) {
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
		if ((rv = events_start(&ev, &eo)) != PIGEON_OK) {
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
		log_info("pigeond", "stopping signal=%d", sig);
		break;
	}
	code = 0;

out:
	/* Stop taking requests first; those in flight finish on the store,
	 * which closes after them. */
	pigeond_metrics_close(metrics);
	store_close(metrics_st);
	rpc_server_close(srv);
	events_stop(ev);
	worker_pool_stop(wp);
	rpc_dispatcher_free(disp);
	service_free(svc);
	store_close(st);
	return code;
}
