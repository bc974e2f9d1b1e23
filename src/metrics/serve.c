/* SPDX-License-Identifier: MIT */
/* The /metrics endpoint on libmicrohttpd; see serve.h. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "log.h"

struct metrics_server {
	struct MHD_Daemon *daemon;
	metrics_render_fn fn;
	void *arg;
	int port;
};

bool
serve_parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = listen;
	size_t hlen;
	struct addrinfo hints = {0}, *ai;

	if ((colon = strrchr(listen, ':')) == NULL)
		return false;
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host) || colon[1] == '\0')
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return false;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return true;
}

static enum MHD_Result
answer_text(struct MHD_Connection *conn, unsigned status, const char *type, char *text,
    size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, mode);
	enum MHD_Result rv;

	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rv = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rv;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **state)
{
	static const char plain[] = "text/plain; charset=utf-8";
	metrics_server *s = cls;
	char *text;
	size_t len;

	(void)version;
	(void)upload;
	/* A request that can have no good answer is answered at once, before
	 * any body is read; MHD then closes the connection.  A good one is
	 * answered on the second call, which keeps the connection open
	 * (libmicrohttpd 0.9.75 closes the connection after a response queued
	 * on the first call). */
	if (strcmp(url, "/metrics") != 0)
		return answer_text(conn, MHD_HTTP_NOT_FOUND, plain, (char *)"not found\n", 10,
		    MHD_RESPMEM_PERSISTENT);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, plain,
		    (char *)"method not allowed\n", 19, MHD_RESPMEM_PERSISTENT);
	if (*state == NULL) {
		*state = s;
		return MHD_YES;
	}
	/* A GET with a body: the body is not read. */
	*upload_size = 0;
	if ((text = s->fn(s->arg, &len)) == NULL)
		return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, plain,
		    (char *)"cannot render metrics\n", 22, MHD_RESPMEM_PERSISTENT);
	return answer_text(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text,
	    len, MHD_RESPMEM_MUST_FREE);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warn("metrics", "libmicrohttpd: %s", line);
}

int
metrics_server_open(metrics_server **out, const char *listen, metrics_render_fn fn, void *arg)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	struct sockaddr_storage ss = {0};
	const union MHD_DaemonInfo *info;
	metrics_server *s;

	if (!serve_parse_listen(listen, &ss))
		return EINVAL;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ENOMEM;
	s->fn = fn;
	s->arg = arg;
	errno = 0;
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVE_CONN_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVE_CONN_LIMIT,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)SERVE_PER_IP_LIMIT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVE_CONN_MEMORY,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
	    MHD_OPTION_END);
	if (s->daemon == NULL) {
		int err = errno != 0 ? errno : EADDRINUSE;

		free(s);
		return err;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : 0;
	*out = s;
	return 0;
}

int
metrics_server_port(const metrics_server *s)
{
	return s->port;
}

void
metrics_server_close(metrics_server *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}
