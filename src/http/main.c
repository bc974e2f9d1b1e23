/* SPDX-License-Identifier: MIT */
/*
 * pigeon-http: the HTTP/JSON bridge to pigeond.  Options and wiring only:
 * the client of pigeond, the metrics, the server; then it waits for SIGINT
 * or SIGTERM and stops them in order.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pigeon/pigeon.h>

#include "api.h"
#include "auth.h"
#include "log.h"
#include "metrics.h"
#include "pigeon-config.h"
#include "server.h"
#include "validate.h"

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct options {
	const char *listen;
	const char *rpc_url;
	const char *log_level;
	long deadline_ms;
	long body_max;
	long threads;
	long conn_limit;
	long per_ip_limit;
	long conn_timeout;
	long conn_memory;
	const char *pub_url;
	long events_max;
	long events_keepalive;
	long content_max;
	http_auth_mode auth;
} options;

/* Each option's long name, environment variable, and help. */
static const struct option_doc {
	const char *name;
	const char *env;
	const char *arg;
	const char *help;
} docs[] = {
	{"listen", "PIGEON_HTTP_LISTEN", "HOST:PORT", "address to serve HTTP on (127.0.0.1:5000)"},
	{"rpc-url", "PIGEON_RPC_URL", "URL", "pigeond's RPC address (" PIGEON_DEFAULT_RPC_URL ")"},
	{"deadline-ms", "PIGEON_HTTP_DEADLINE_MS", "MS", "deadline of each RPC to pigeond (5000)"},
	{"body-max", "PIGEON_HTTP_BODY_MAX", "BYTES",
	    "largest request body; larger: 413; default: 6 x content-max + 4096 ("
	    STR(HTTP_BODY_MAX_DEFAULT) ")"},
	{"threads", "PIGEON_HTTP_THREADS", "N", "HTTP threads; 0: one per core (0)"},
	{"conn-limit", "PIGEON_HTTP_CONN_LIMIT", "N", "connections at once (1024)"},
	{"per-ip-limit", "PIGEON_HTTP_PER_IP_LIMIT", "N", "connections at once from one IP address (256)"},
	{"conn-timeout", "PIGEON_HTTP_CONN_TIMEOUT", "SECONDS", "idle connection timeout (15)"},
	{"conn-memory", "PIGEON_HTTP_CONN_MEMORY", "BYTES",
	    "memory per connection; bounds URI and headers (32768)"},
	{"log-level", "PIGEON_LOG_LEVEL", "LEVEL", "error, warn, info or debug (info)"},
	{"pub-url", "PIGEON_PUB_URL", "URL",
	    "pigeond's event pub address, for /events (" PIGEON_DEFAULT_PUB_URL ")"},
	{"events-max", "PIGEON_HTTP_EVENTS_MAX", "N", "/events streams open at once; more: 503 (64)"},
	{"events-keepalive", "PIGEON_HTTP_EVENTS_KEEPALIVE", "SECONDS",
	    "period of the /events keep-alive comment (15)"},
	{"content-max", "PIGEON_CONTENT_MAX", "BYTES",
	    "largest message content; larger: 413; keep it equal to pigeond's ("
	    STR(PIGEON_CONTENT_MAX_DEFAULT) ")"},
	{"auth", "PIGEON_AUTH", "MODE",
	    "open (no credentials, as the original) or required (Bearer session tokens, "
	    "forwarded to pigeond); keep it equal to pigeond's (open)"},
};
#define N_DOCS (sizeof(docs) / sizeof(docs[0]))

static void
usage(FILE *f)
{
	fprintf(f, "Usage: pigeon-http [OPTION]...\n"
		   "Serves the Pigeon HTTP/JSON API (the original app's curl calls, /healthz,\n"
		   "/metrics, /openapi.json, /events) as a client of pigeond.\n\n");
	for (size_t i = 0; i < N_DOCS; i++)
		fprintf(f, "  --%s=%s\n      %s\n      environment: %s\n", docs[i].name, docs[i].arg,
		    docs[i].help, docs[i].env);
	fprintf(f, "  --help\n      this text\n  --version\n      the version\n"
		   "\nAn option given on the command line wins over its environment variable.\n");
}

static bool
parse_long(const char *name, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "pigeon-http: --%s must be an integer from %ld to %ld, not '%s'\n",
		    name, min, max, s);
		return false;
	}
	*out = v;
	return true;
}

/* Applies one option by index into docs. */
static bool
set_option(options *o, size_t i, const char *v)
{
	const char *name = docs[i].name;

	switch (i) {
	case 0:
		o->listen = v;
		return true;
	case 1:
		o->rpc_url = v;
		return true;
	case 2:
		return parse_long(name, v, 1, 600000, &o->deadline_ms);
	case 3:
		return parse_long(name, v, 1, 64L * 1024 * 1024, &o->body_max);
	case 4:
		return parse_long(name, v, 0, 1024, &o->threads);
	case 5:
		return parse_long(name, v, 1, 1000000, &o->conn_limit);
	case 6:
		return parse_long(name, v, 1, 1000000, &o->per_ip_limit);
	case 7:
		return parse_long(name, v, 1, 86400, &o->conn_timeout);
	case 8:
		return parse_long(name, v, 4096, 16L * 1024 * 1024, &o->conn_memory);
	case 9:
		if (!log_set_level_name(v)) {
			fprintf(stderr, "pigeon-http: unknown log level '%s'\n", v);
			return false;
		}
		o->log_level = v;
		return true;
	case 10:
		o->pub_url = v;
		return true;
	case 11:
		return parse_long(name, v, 1, 100000, &o->events_max);
	case 12:
		return parse_long(name, v, 1, 3600, &o->events_keepalive);
	case 13:
		/* So that the body cap it implies stays within --body-max's. */
		return parse_long(name, v, 1, 10L * 1024 * 1024, &o->content_max);
	case 14:
		if (!http_auth_mode_parse(v, &o->auth)) {
			fprintf(stderr, "pigeon-http: unknown --auth '%s' (open or required)\n", v);
			return false;
		}
		return true;
	}
	return false;
}

/* Returns 0 to run, else the exit code (with --help, 0 via *done). */
static int
parse_options(int argc, char **argv, options *o, bool *done)
{
	struct option longopts[N_DOCS + 3];
	int c;

	for (size_t i = 0; i < N_DOCS; i++) {
		const char *v = getenv(docs[i].env);

		longopts[i] = (struct option){docs[i].name, required_argument, NULL, (int)i};
		if (v != NULL && v[0] != '\0' && !set_option(o, i, v))
			return 2;
	}
	longopts[N_DOCS] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[N_DOCS + 1] = (struct option){"version", no_argument, NULL, 'V'};
	longopts[N_DOCS + 2] = (struct option){0};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			*done = true;
			return 0;
		}
		if (c == 'V') {
			printf("pigeon-http %s\n", PIGEON_VERSION);
			*done = true;
			return 0;
		}
		if (c < 0 || (size_t)c >= N_DOCS) {
			usage(stderr);
			return 2;
		}
		if (!set_option(o, (size_t)c, optarg))
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "pigeon-http: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	options o = {
		.listen = "127.0.0.1:5000",
		.rpc_url = PIGEON_DEFAULT_RPC_URL,
		.log_level = "info",
		.deadline_ms = PIGEON_DEFAULT_DEADLINE_MS,
		/* 0 until parsed: HTTP_BODY_MAX_FOR(content_max) unless given. */
		.body_max = 0,
		.threads = 0,
		.conn_limit = 1024,
		.per_ip_limit = 256,
		.conn_timeout = 15,
		.conn_memory = 32 * 1024,
		.pub_url = PIGEON_DEFAULT_PUB_URL,
		.events_max = 64,
		.events_keepalive = 15,
		.content_max = PIGEON_CONTENT_MAX_DEFAULT,
		.auth = HTTP_AUTH_OPEN,
	};
	bool done = false;
	int rc, sig;
	sigset_t sigs;
	pigeon_client *client = NULL;
	pigeon_client_opts copts = {0};
	http_metrics *metrics = NULL;
	http_server *srv = NULL;
	http_server_opts sopts;
	pigeon_status st;

	if ((rc = parse_options(argc, argv, &o, &done)) != 0 || done)
		return rc;
	if (o.body_max == 0)
		o.body_max = (long)HTTP_BODY_MAX_FOR(o.content_max);
	else if ((size_t)o.body_max < HTTP_BODY_MAX_FOR(o.content_max))
		log_warn("http",
		    "body-max is below 6 x content-max + 4096: some messages under the content "
		    "limit will get 413 body_max=%ld content_max=%ld",
		    o.body_max, o.content_max);

	/* Block the stop signals in every thread (all are started after this)
	 * so that only sigwait below receives them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	copts.url = o.rpc_url;
	copts.deadline_ms = (int32_t)o.deadline_ms;
	if ((st = pigeon_client_open_opts(&client, &copts)) != PIGEON_OK) {
		log_error("http", "cannot open the client of pigeond url=%s status=%s", o.rpc_url,
		    pigeon_status_name(st));
		return 1;
	}
	if (http_metrics_new(&metrics) != PIGEON_OK) {
		log_error("http", "out of memory");
		rc = 1;
		goto out_client;
	}
	sopts = (http_server_opts){
		.listen = o.listen,
		.deadline_ms = (int32_t)o.deadline_ms,
		.body_max = (size_t)o.body_max,
		.content_max = (size_t)o.content_max,
		.threads = (unsigned)o.threads,
		.conn_limit = (unsigned)o.conn_limit,
		.per_ip_limit = (unsigned)o.per_ip_limit,
		.conn_timeout_s = (unsigned)o.conn_timeout,
		.conn_memory = (size_t)o.conn_memory,
		.pub_url = o.pub_url,
		.events_max = (unsigned)o.events_max,
		.events_keepalive_ms = (int)o.events_keepalive * 1000,
		.auth = o.auth,
	};
	if (http_server_start(&srv, &sopts, client, metrics) != PIGEON_OK) {
		rc = 1;
		goto out_metrics;
	}
	log_info("http", "listening listen=%s port=%u rpc=%s pub=%s auth=%s", o.listen,
	    (unsigned)http_server_port(srv), o.rpc_url, o.pub_url,
	    o.auth == HTTP_AUTH_REQUIRED ? "required" : "open");

	while (sigwait(&sigs, &sig) != 0)
		;
	log_info("http", "stopping signal=%d", sig);
	/* Stop the daemon, cancel the RPCs in flight by closing the client,
	 * then free the server their completions point to. */
	http_server_stop(srv);
	pigeon_client_close(client);
	http_server_free(srv);
	http_metrics_free(metrics);
	return 0;
out_metrics:
	http_metrics_free(metrics);
out_client:
	pigeon_client_close(client);
	return rc;
}
