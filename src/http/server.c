/* SPDX-License-Identifier: MIT */
/* The libmicrohttpd daemon and the life of a request; see server.h. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"
#include "clocks.h"
#include "events.h"
#include "log.h"
#include "routes.h"
#include "serve.h"
#include "uri.h"
#include "wait.h"

/* How long http_server_stop lets answered requests finish before the daemon
 * closes every connection. */
#define DRAIN_MS 1000

/* Bodies up to this size (every documented call's) and paths up to this
 * length are kept without a heap allocation of their own. */
#define BODY_INLINE 1024
#define PATH_INLINE 256

typedef struct http_req http_req;

typedef enum req_stage {
	/* The first handler call has not happened yet. */
	STAGE_HEADERS,
	/* Reading the body (or waiting for the call that says there is none). */
	STAGE_BODY,
	/* Suspended: the RPC is in flight. */
	STAGE_RPC,
} req_stage;

struct http_req {
	http_server *srv;
	/* One reference for the connection, one while the RPC is in flight:
	 * the RPC's completion may come after the connection is gone. */
	atomic_int refs;
	struct MHD_Connection *conn;
	int64_t start_us;
	/* The raw request target, stored after the struct. */
	char *target;
	/* The decoded value of the route's path parameter (malloc'd, NUL-
	 * terminated, NULs inside counted in in.param_len), or NULL. */
	char *param;
	char method[16];
	http_route_id label;
	req_stage stage;
	/* body_inline, or the heap once the body outgrows it. */
	char *body;
	size_t body_len, body_cap;
	http_input in;
	http_call call;
	/* Set once ans holds the answer to queue. */
	bool have_answer;
	http_answer ans;
	/* GET /events: its checks passed, the stream is to be opened. */
	bool open_stream;
	/* The status queued, for the access log; 0 before. */
	int status;
	/* GET /events: the stream, our reference. */
	http_stream *stream;
	/* In srv->suspended while the RPC is in flight; under srv->mu. */
	bool listed;
	http_req *prev, *next;
	/* Last: on_uri zeroes everything before it. */
	char body_inline[BODY_INLINE];
};

struct http_server {
	struct MHD_Daemon *daemon;
	pigeon_client *client;
	http_metrics *metrics;
	http_events *events;
	http_server_opts opts;
	uint16_t port;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	/* Under mu. */
	bool stopping;
	http_req *suspended;
	unsigned rpcs;
};

static void
req_unref(http_req *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	http_stream_release(r->stream);
	free(r->param);
	http_call_fini(&r->call);
	http_answer_fini(&r->ans);
	if (r->body != r->body_inline)
		free(r->body);
	free(r);
}

static void
list_add(http_server *srv, http_req *r)
{
	r->prev = NULL;
	r->next = srv->suspended;
	if (srv->suspended != NULL)
		srv->suspended->prev = r;
	srv->suspended = r;
	r->listed = true;
}

static void
list_remove(http_server *srv, http_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		srv->suspended = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->listed = false;
}

/* Called by libmicrohttpd once per request, as soon as the request line is
 * read: the request object is made here, so that the access log and the
 * metrics see every request, and so that the raw target (before
 * libmicrohttpd's own decoding) is at hand. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	http_server *srv = cls;
	size_t len = strlen(uri);
	http_req *r;

	/* One allocation per request for the request and its target. */
	if ((r = malloc(sizeof(*r) + len + 1)) == NULL)
		return NULL;
	memset(r, 0, offsetof(http_req, body_inline));
	r->target = (char *)(r + 1);
	memcpy(r->target, uri, len + 1);
	r->body = r->body_inline;
	r->body_cap = sizeof(r->body_inline);
	atomic_init(&r->refs, 1);
	r->srv = srv;
	r->conn = conn;
	r->start_us = clocks_mono_us();
	r->label = HTTP_ROUTE_UNMATCHED;
	http_metrics_request_begin(srv->metrics);
	return r;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	http_server *srv = cls;
	http_req *r = *con_cls;
	size_t path_len;
	const char *query;
	int64_t us;

	if (r == NULL)
		return;
	*con_cls = NULL;
	us = clocks_mono_us() - r->start_us;
	http_uri_split(r->target, &path_len, &query);
	if (path_len > 200)
		path_len = 200;
	if (r->stream != NULL)
		log_info("http", "request method=%s path=%.*s status=%d us=%lld events=%llu closed=%d",
		    r->method, (int)path_len, r->target, r->status, (long long)us,
		    (unsigned long long)http_stream_events(r->stream), (int)toe);
	else if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_info("http", "request method=%s path=%.*s status=%d us=%lld", r->method,
		    (int)path_len, r->target, r->status, (long long)us);
	else
		log_info("http", "request method=%s path=%.*s status=%d us=%lld closed=%d",
		    r->method, (int)path_len, r->target, r->status, (long long)us, (int)toe);
	http_metrics_request_end(srv->metrics, r->label, r->status, us);
	req_unref(r);
}

/* Queues r->ans, handing its body to libmicrohttpd. */
static enum MHD_Result
queue_answer(http_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(r->ans.len, r->ans.body,
	    r->ans.is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	if (!r->ans.is_static)
		r->ans.body = NULL;
	/* RFC 7235: a 401 names the scheme that would do, whichever part of
	 * the bridge or pigeond refused. */
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ans.content_type) !=
		MHD_YES ||
	    (r->ans.allow[0] != '\0' &&
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->ans.allow) != MHD_YES) ||
	    (r->ans.status == MHD_HTTP_UNAUTHORIZED &&
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer") !=
		    MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(r->conn, (unsigned)r->ans.status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		r->status = r->ans.status;
	return ret;
}

static void
set_error(http_req *r, int code, const char *message)
{
	http_api_error(&r->ans, code, message);
	r->have_answer = true;
}

/* The first handler call: headers are in.  Finds the route, and refuses an
 * announced body over the cap before a byte of it is read. */
static enum MHD_Result
on_headers(http_server *srv, http_req *r, const char *method)
{
	const char *query, *cl;
	size_t path_len, decoded_len;
	char path_inline[PATH_INLINE], *path = path_inline;

	snprintf(r->method, sizeof(r->method), "%s", method);
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno != 0 || end == cl || n > srv->opts.body_max) {
			char msg[128];
			struct MHD_Response *resp;
			enum MHD_Result ret;

			snprintf(msg, sizeof(msg), "Request body is larger than the limit of %zu bytes",
			    srv->opts.body_max);
			set_error(r, 413, msg);
			/* Answered on the first call on purpose: the connection
			 * must close, as its body is never read. */
			resp = MHD_create_response_from_buffer(
			    r->ans.len, r->ans.body, MHD_RESPMEM_MUST_FREE);
			if (resp == NULL)
				return MHD_NO;
			r->ans.body = NULL;
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ans.content_type);
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
			ret = MHD_queue_response(r->conn, 413, resp);
			MHD_destroy_response(resp);
			if (ret == MHD_YES)
				r->status = 413;
			return ret;
		}
	}

	http_uri_split(r->target, &path_len, &query);
	r->in.query = query;
	if (path_len >= sizeof(path_inline) && (path = malloc(path_len + 1)) == NULL)
		return MHD_NO;
	if (!http_uri_decode(r->target, path_len, false, path, &decoded_len)) {
		set_error(r, 400, "Malformed percent-escape in the path");
	} else {
		const http_route *route = NULL;

		switch (http_route_find(method, path, decoded_len, &route)) {
		case HTTP_MATCH_OK:
			r->label = route->id;
			if (route->param_at > 0) {
				r->in.param_len = decoded_len - route->param_at;
				if ((r->param = malloc(r->in.param_len + 1)) == NULL) {
					if (path != path_inline)
						free(path);
					return MHD_NO;
				}
				memcpy(r->param, path + route->param_at, r->in.param_len + 1);
				r->in.param = r->param;
			}
			break;
		case HTTP_MATCH_NO_METHOD:
			r->label = route->id;
			r->in.method_not_allowed = true;
			break;
		case HTTP_MATCH_NO_PATH:
			route = NULL;
			break;
		}
		r->in.route = route;
	}
	if (path != path_inline)
		free(path);
	r->stage = STAGE_BODY;
	return MHD_YES;
}

/* Appends a piece of the body.  A body without Content-Length (chunked)
 * that passes the cap closes the connection: no answer is better than
 * reading on. */
static enum MHD_Result
on_body(http_server *srv, http_req *r, const char *data, size_t *size)
{
	size_t n = *size;

	*size = 0;
	if (n > srv->opts.body_max - r->body_len) {
		log_warn("http", "body over the limit, closing method=%s limit=%zu", r->method,
		    srv->opts.body_max);
		return MHD_NO;
	}
	if (r->have_answer)
		return MHD_YES;
	if (r->body_len + n > r->body_cap) {
		size_t cap = r->body_cap;
		char *nb;

		while (cap < r->body_len + n)
			cap *= 2;
		if (cap > srv->opts.body_max)
			cap = srv->opts.body_max;
		if (r->body == r->body_inline) {
			if ((nb = malloc(cap)) == NULL)
				return MHD_NO;
			memcpy(nb, r->body, r->body_len);
		} else if ((nb = realloc(r->body, cap)) == NULL) {
			return MHD_NO;
		}
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	return MHD_YES;
}

static void start_rpc(http_server *srv, http_req *r);

static void
on_rpc_done(pigeon_status st, const char *message, const ProtobufCMessage *reply, void *arg)
{
	http_req *r = arg;
	http_server *srv = r->srv;
	http_events_next next = HTTP_EVENTS_ANSWER;
	http_answer ans;

	/* A regular user's GET /events learns that the journal is not theirs
	 * from GetEventJournal's PERMISSION_DENIED: an answer, not a failure. */
	if (st != PIGEON_OK &&
	    !(r->call.route == HTTP_ROUTE_EVENTS && r->call.events.step == 1 &&
		st == PIGEON_PERMISSION_DENIED)) {
		http_metrics_rpc_failure(srv->metrics, st);
		log_warn("http", "rpc failed method=%s status=%s", r->call.method,
		    pigeon_status_name(st));
	}
	if (r->call.route == HTTP_ROUTE_EVENTS)
		next = http_api_events_checked(&r->call, st, message, reply, &ans);
	else
		http_api_answer(&r->call, st, message, reply, srv->metrics, &ans);
	pthread_mutex_lock(&srv->mu);
	if (r->listed && next == HTTP_EVENTS_CALL) {
		/* The next check of GET /events: the request stays suspended,
		 * listed and counted, and this RPC's reference passes to the
		 * next.  Should the server stop meanwhile, that RPC's completion
		 * finds the request unlisted. */
		pthread_mutex_unlock(&srv->mu);
		start_rpc(srv, r);
		return;
	}
	if (r->listed) {
		list_remove(srv, r);
		if (next == HTTP_EVENTS_OPEN) {
			r->open_stream = true;
		} else {
			r->ans = ans;
			r->have_answer = true;
		}
		MHD_resume_connection(r->conn);
	} else {
		/* http_server_stop answered it already. */
		http_answer_fini(&ans);
	}
	if (--srv->rpcs == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->mu);
	req_unref(r);
}

/* Starts r->call's RPC with the caller's token.  r is suspended, listed and
 * counted, and holds a reference for the RPC, which on_rpc_done drops. */
static void
start_rpc(http_server *srv, http_req *r)
{
	pigeon_status st;

	st = pigeon_call_async_token(srv->client, r->call.method, r->call.token, r->call.msg,
	    srv->opts.deadline_ms, on_rpc_done, r);
	if (st != PIGEON_OK)
		on_rpc_done(st, "the call to pigeond could not be started", NULL, r);
}

/* GET /events, planned by http_api_events_prepare (and in required mode
 * checked by http_api_events_checked): the stream, or a 503 at once. */
static enum MHD_Result
open_stream(http_server *srv, http_req *r)
{
	const http_call *c = &r->call;
	http_stream_opts so = {
		.journal = c->events.journal,
		.has_after = c->events.has_after,
		.after = c->events.after,
		.has_head = c->events.has_head,
		.head = c->events.head,
		.user = c->events.user,
		.token = c->token,
	};
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char msg[96];

	switch (http_events_open(srv->events, r->conn, &so, &r->stream, &resp)) {
	case PIGEON_OK:
		break;
	case PIGEON_UNAVAILABLE:
		set_error(r, 503, "pigeon-http is shutting down");
		return queue_answer(r);
	default:
		snprintf(msg, sizeof(msg), "Too many event streams open (the limit is %u)",
		    srv->opts.events_max);
		set_error(r, 503, msg);
		return queue_answer(r);
	}
	ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	/* Destroying the last reference (when queueing failed) ends the
	 * stream. */
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		r->status = MHD_HTTP_OK;
	return ret;
}

/* The body is complete: answer now, or suspend the connection and call
 * pigeond. */
static enum MHD_Result
on_complete_request(http_server *srv, http_req *r)
{
	if (r->have_answer)
		return queue_answer(r);
	r->in.body = r->body;
	r->in.body_len = r->body_len;
	r->in.content_max = srv->opts.content_max;
	r->in.idempotency_key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
	r->in.authorization =
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	r->in.last_event_id =
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
	r->in.auth = srv->opts.auth;
	if (r->in.route != NULL && r->in.route->id == HTTP_ROUTE_EVENTS &&
	    !r->in.method_not_allowed) {
		switch (http_api_events_prepare(&r->in, &r->call, &r->ans)) {
		case HTTP_EVENTS_ANSWER:
			r->have_answer = true;
			return queue_answer(r);
		case HTTP_EVENTS_OPEN:
			return open_stream(srv, r);
		case HTTP_EVENTS_CALL:
			break;
		}
	} else if (!http_api_prepare(&r->in, &r->call, &r->ans)) {
		r->have_answer = true;
		return queue_answer(r);
	}

	pthread_mutex_lock(&srv->mu);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->mu);
		set_error(r, 503, "pigeon-http is shutting down");
		return queue_answer(r);
	}
	MHD_suspend_connection(r->conn);
	list_add(srv, r);
	srv->rpcs++;
	atomic_fetch_add(&r->refs, 1);
	r->stage = STAGE_RPC;
	pthread_mutex_unlock(&srv->mu);
	start_rpc(srv, r);
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	http_server *srv = cls;
	http_req *r = *con_cls;

	if (r == NULL)
		return MHD_NO;
	switch (r->stage) {
	case STAGE_HEADERS:
		return on_headers(srv, r, method);
	case STAGE_BODY:
		if (*upload_data_size > 0)
			return on_body(srv, r, upload_data, upload_data_size);
		return on_complete_request(srv, r);
	case STAGE_RPC:
		/* Resumed: on_rpc_done stored the answer, or said to open the
		 * stream; http_server_stop's answer wins over the stream. */
		if (!r->have_answer && r->open_stream)
			return open_stream(srv, r);
		return queue_answer(r);
	}
	return MHD_NO;
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warn("http", "libmicrohttpd: %s", line);
}

static unsigned
cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

pigeon_status
http_server_start(
    http_server **out, const http_server_opts *opts, pigeon_client *client, http_metrics *m)
{
	http_server *srv;
	struct sockaddr_storage ss = {0};
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
	unsigned threads = opts->threads > 0 ? opts->threads : cores();
	const union MHD_DaemonInfo *info;
	http_events_opts eopts;
	pigeon_status rv;

	if (!serve_parse_listen(opts->listen, &ss)) {
		log_error("http", "bad listen address listen=%s", opts->listen);
		return PIGEON_INVALID_ARGUMENT;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	srv->client = client;
	srv->metrics = m;
	srv->opts = *opts;
	if (pthread_mutex_init(&srv->mu, NULL) != 0) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_free;
	}
	if (wait_cond_init(&srv->idle) != 0) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_mutex;
	}
	eopts = (http_events_opts){
		.pub_url = opts->pub_url,
		.max_streams = opts->events_max,
		.keepalive_ms = opts->events_keepalive_ms,
		.auth_required = opts->auth == HTTP_AUTH_REQUIRED,
	};
	if ((rv = http_events_start(&srv->events, &eopts, client, m)) != PIGEON_OK)
		goto fail_cond;
	/* Port 0 in MHD_start_daemon is ignored in favour of the address. */
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, opts->conn_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, opts->conn_limit,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->per_ip_limit,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, opts->conn_memory,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
	    MHD_OPTION_END);
	if (srv->daemon == NULL) {
		log_error("http", "cannot listen listen=%s", opts->listen);
		rv = PIGEON_UNAVAILABLE;
		goto fail_events;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info != NULL ? info->port : 0;
	*out = srv;
	return PIGEON_OK;

fail_events:
	http_events_free(srv->events);
fail_cond:
	pthread_cond_destroy(&srv->idle);
fail_mutex:
	pthread_mutex_destroy(&srv->mu);
fail_free:
	free(srv);
	return rv;
}

uint16_t
http_server_port(const http_server *s)
{
	return s->port;
}

void
http_server_stop(http_server *s)
{
	MHD_socket lsock;

	if (s == NULL || s->daemon == NULL)
		return;
	if ((lsock = MHD_quiesce_daemon(s->daemon)) != MHD_INVALID_SOCKET)
		close(lsock);

	/* Suspended connections must all be resumed before MHD_stop_daemon;
	 * their RPCs' completions will find them unlisted and drop their
	 * answers. */
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	while (s->suspended != NULL) {
		http_req *r = s->suspended;

		list_remove(s, r);
		set_error(r, 503, "pigeon-http is shutting down");
		MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&s->mu);
	/* So are the streams' connections: each is ended (and resumed), and
	 * no callback of the subscription runs after this. */
	http_events_stop(s->events);

	for (int waited = 0; waited < DRAIN_MS && http_metrics_in_flight(s->metrics) > 0;
	     waited += 10)
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	MHD_stop_daemon(s->daemon);
	s->daemon = NULL;
}

void
http_server_free(http_server *s)
{
	int64_t until;
	bool rpcs_done;

	if (s == NULL)
		return;
	if (s->daemon != NULL)
		http_server_stop(s);
	/* Every RPC has a deadline, so each completion comes by then. */
	until = clocks_mono_ms() + s->opts.deadline_ms + 2000;
	pthread_mutex_lock(&s->mu);
	while (s->rpcs > 0 && wait_until(&s->idle, &s->mu, until))
		;
	rpcs_done = s->rpcs == 0;
	pthread_mutex_unlock(&s->mu);
	if (!rpcs_done) {
		/* A completion may still come and touch the server: leak it
		 * rather than free it under that completion. */
		log_error("http", "RPCs still in flight at exit count=%u", s->rpcs);
		return;
	}
	/* The daemon destroyed every stream's response: none is left. */
	http_events_free(s->events);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
