/* SPDX-License-Identifier: MIT */
/*
 * The HTTP endpoint of a process's own metrics: GET (or HEAD) /metrics
 * answers the Prometheus text a render callback makes; any other path is
 * 404 and any other method 405.  Served by libmicrohttpd on one internal
 * thread, with the limits the bridge uses (libmicrohttpd has no timeout and
 * no per-IP limit unless told): SERVE_CONN_TIMEOUT_S,
 * SERVE_CONN_LIMIT, SERVE_PER_IP_LIMIT and SERVE_CONN_MEMORY, and no request
 * body is read.
 */
#ifndef PIGEON_METRICS_SERVE_H
#define PIGEON_METRICS_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The bridge's default limits, which this endpoint shares. */
#define SERVE_CONN_TIMEOUT_S 15
#define SERVE_CONN_LIMIT 1024
#define SERVE_PER_IP_LIMIT 256
#define SERVE_CONN_MEMORY (32 * 1024)

typedef struct metrics_server metrics_server;

/* Makes the text of one scrape: a malloc'd text and its length, or NULL
 * (answered 500).  Runs on the server's thread, one scrape at a time; may
 * block briefly (it bounds its own waits). */
typedef char *(*metrics_render_fn)(void *arg, size_t *len);

/* Parses "host:port" or "[v6]:port" (numeric host and port) into *ss.  False
 * for anything else. */
bool serve_parse_listen(const char *listen, struct sockaddr_storage *ss);

/* Starts serving on `listen` ("127.0.0.1:9464").  Returns 0, EINVAL for a
 * malformed address, or the errno of a failed bind (EADDRINUSE, ...).
 * Borrows listen; fn and arg must outlive the server. */
int metrics_server_open(
    metrics_server **out, const char *listen, metrics_render_fn fn, void *arg);

/* The port it listens on (useful after listening on port 0). */
int metrics_server_port(const metrics_server *s);

/* Stops serving and frees the server.  Accepts NULL. */
void metrics_server_close(metrics_server *s);

#endif
