/* SPDX-License-Identifier: MIT */
/* The listener guard's thread and its try of the SP handshake; see guard.h. */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clocks.h"
#include "errors.h"
#include "log.h"
#include "wait.h"

/* How long listening again may wait for the address to be free, ms. */
#define RELISTEN_WAIT_MS 5000
#define RELISTEN_PAUSE_MS 50
/* How often a try reads the listener's count of accepted connections, ms. */
#define PROBE_POLL_MS 20

typedef enum probe_result { PROBE_OK, PROBE_FAILED, PROBE_UNSUPPORTED } probe_result;

struct listen_guard {
	nng_socket sock;
	nng_listener l;
	char url[512];
	const char *what;
	/* The SP protocol number a peer of sock speaks. */
	int peer;
	pthread_t thread;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool stopping;
	/* The listener's "other" errors at the last check. */
	uint64_t other;
	/* Checks since the last try. */
	unsigned quiet;
	atomic_uint_fast64_t restarts;
};

/* The statistic called name directly under scope, or NULL. */
static nng_stat *
stat_child(nng_stat *scope, const char *name)
{
	for (nng_stat *c = nng_stat_child(scope); c != NULL; c = nng_stat_next(c))
		if (strcmp(nng_stat_name(c), name) == 0)
			return c;
	return NULL;
}

/* The scope of listener id among st and its siblings, or within them.
 * (nng 1.5.2's nng_stat_find_listener answers the first listener's scope
 * for every listener.) */
static nng_stat *
find_listener(nng_stat *st, int id)
{
	nng_stat *found, *idst;

	for (; st != NULL; st = nng_stat_next(st)) {
		if (nng_stat_type(st) != NNG_STAT_SCOPE)
			continue;
		if (strcmp(nng_stat_name(st), "listener") == 0 &&
		    (idst = stat_child(st, "id")) != NULL && nng_stat_value(idst) == (uint64_t)id)
			return st;
		if ((found = find_listener(nng_stat_child(st), id)) != NULL)
			return found;
	}
	return NULL;
}

/* The listener's counts of "other" errors (its connections' too) and of
 * accepted connections; false when nng keeps none. */
static bool
read_stats(const listen_guard *g, uint64_t *other, uint64_t *accepted)
{
	nng_stat *all, *ls, *o, *a;
	bool ok = false;

	if (nng_stats_get(&all) != 0)
		return false;
	if ((ls = find_listener(all, nng_listener_id(g->l))) != NULL &&
	    (o = stat_child(ls, "other")) != NULL && (a = stat_child(ls, "accept")) != NULL) {
		*other = nng_stat_value(o);
		*accepted = nng_stat_value(a);
		ok = true;
	}
	nng_stats_free(all);
	return ok;
}

/* Resolves url (ipc:// or tcp://, tcp4://, tcp6://) into an address to
 * connect to: a wildcard host is the loopback address. */
static probe_result
probe_address(const char *url, struct sockaddr_storage *sa, socklen_t *len)
{
	const char *hp;
	char host[256], port[16];
	const char *colon;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	size_t hl;

	if (strncmp(url, "ipc://", 6) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)sa;

		if (strlen(url + 6) >= sizeof(un->sun_path))
			return PROBE_UNSUPPORTED;
		memset(un, 0, sizeof(*un));
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, url + 6);
		*len = sizeof(*un);
		return PROBE_OK;
	}
	if (strncmp(url, "tcp://", 6) == 0) {
		hp = url + 6;
	} else if (strncmp(url, "tcp4://", 7) == 0) {
		hp = url + 7;
		hints.ai_family = AF_INET;
	} else if (strncmp(url, "tcp6://", 7) == 0) {
		hp = url + 7;
		hints.ai_family = AF_INET6;
	} else {
		return PROBE_UNSUPPORTED;
	}
	if ((colon = strrchr(hp, ':')) == NULL || strlen(colon + 1) >= sizeof(port))
		return PROBE_UNSUPPORTED;
	hl = (size_t)(colon - hp);
	if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
		hp++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return PROBE_UNSUPPORTED;
	memcpy(host, hp, hl);
	host[hl] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (host[0] == '\0' || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0)
		snprintf(host, sizeof(host), "%s", hints.ai_family == AF_INET6 ? "::1" : "127.0.0.1");
	else if (strcmp(host, "::") == 0)
		snprintf(host, sizeof(host), "::1");
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return PROBE_UNSUPPORTED;
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return PROBE_OK;
}

/* Waits up to the monotonic deadline end for fd to be ready for events. */
static bool
ready(int fd, short events, int64_t end)
{
	struct pollfd p = {fd, events, 0};
	int64_t left;

	while ((left = end - clocks_mono_ms()) > 0) {
		int n = poll(&p, 1, (int)left);

		if (n > 0)
			return (p.revents & events) != 0;
		if (n < 0 && errno != EINTR)
			return false;
	}
	return false;
}

/* One try: a connection that completes the SP handshake with the listener's
 * address (our header, then the transport's), held open until the listener
 * counts one more accepted connection or LISTEN_GUARD_PROBE_MS pass.  nng's
 * transport accepts and answers the header even when the listener above it
 * has stopped, so only the count tells.  Where nng keeps no statistics, the
 * handshake alone is the answer. */
static probe_result
probe(const listen_guard *g)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	uint8_t hdr[8] = {0, 'S', 'P', 0, (uint8_t)(g->peer >> 8), (uint8_t)g->peer, 0, 0};
	uint8_t in[8];
	size_t got = 0;
	int64_t end = clocks_mono_ms() + LISTEN_GUARD_PROBE_MS;
	uint64_t other, before, now;
	bool counted = read_stats(g, &other, &before);
	probe_result rv = PROBE_FAILED;
	int fd, err = 0;
	socklen_t elen = sizeof(err);

	if (probe_address(g->url, &sa, &salen) != PROBE_OK)
		return PROBE_UNSUPPORTED;
	if ((fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return PROBE_UNSUPPORTED;
	if (connect(fd, (struct sockaddr *)&sa, salen) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			goto out;
		if (!ready(fd, POLLOUT, end) ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
			goto out;
	}
	if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr))
		goto out;
	while (got < sizeof(in) && ready(fd, POLLIN, end)) {
		ssize_t n = recv(fd, in + got, sizeof(in) - got, 0);

		if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
			goto out;
		if (n > 0)
			got += (size_t)n;
	}
	if (got != sizeof(in) || in[0] != 0 || in[1] != 'S' || in[2] != 'P' || in[3] != 0)
		goto out;
	if (!counted) {
		rv = PROBE_OK;
		goto out;
	}
	while (clocks_mono_ms() < end) {
		if (read_stats(g, &other, &now) && now != before) {
			rv = PROBE_OK;
			break;
		}
		poll(NULL, 0, PROBE_POLL_MS);
	}
out:
	close(fd);
	return rv;
}

/* Closes the stopped listener and listens on the address again. */
static void
relisten(listen_guard *g)
{
	int64_t end = clocks_mono_ms() + RELISTEN_WAIT_MS;
	uint64_t accepted;
	int err;

	log_warn("listen",
	    "the %s listener stopped accepting connections; listening again url=%s", g->what,
	    g->url);
	nng_listener_close(g->l);
	while ((err = nng_listen(g->sock, g->url, &g->l, 0)) == NNG_EADDRINUSE &&
	    clocks_mono_ms() < end) {
		pthread_mutex_lock(&g->mtx);
		wait_until(&g->cv, &g->mtx, clocks_mono_ms() + RELISTEN_PAUSE_MS);
		pthread_mutex_unlock(&g->mtx);
	}
	if (err != 0) {
		log_error("listen", "cannot listen again on the %s address url=%s err=%s", g->what,
		    g->url, nng_strerror(err));
		return;
	}
	atomic_fetch_add(&g->restarts, 1);
	read_stats(g, &g->other, &accepted);
}

/* One check: true when the listener accepts (or cannot be tried). */
static bool
listener_accepts(listen_guard *g)
{
	uint64_t other, accepted;
	bool rose = read_stats(g, &other, &accepted) && other > g->other;
	probe_result r;

	if (!rose && ++g->quiet < LISTEN_GUARD_QUIET_CHECKS)
		return true;
	g->quiet = 0;
	r = probe(g);
	/* The try's own connection counts one "other" error when it closes,
	 * which may be later than this read. */
	if (read_stats(g, &other, &accepted))
		g->other = other + 1;
	return r != PROBE_FAILED;
}

static void *
guard_thread(void *arg)
{
	listen_guard *g = arg;
	bool stopping;

	for (;;) {
		int64_t next = clocks_mono_ms() + LISTEN_GUARD_CHECK_MS;

		pthread_mutex_lock(&g->mtx);
		while (!g->stopping && wait_until(&g->cv, &g->mtx, next))
			;
		stopping = g->stopping;
		pthread_mutex_unlock(&g->mtx);
		if (stopping)
			break;
		if (!listener_accepts(g))
			relisten(g);
	}
	return NULL;
}

pigeon_status
listen_guard_start(listen_guard **out, nng_socket sock, const char *url, const char *what)
{
	listen_guard *g;
	uint64_t accepted;
	int err;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	g->sock = sock;
	g->what = what;
	snprintf(g->url, sizeof(g->url), "%s", url);
	atomic_init(&g->restarts, 0);
	if ((err = nng_socket_get_int(sock, NNG_OPT_PEER, &g->peer)) != 0 ||
	    (err = nng_listen(sock, url, &g->l, 0)) != 0) {
		free(g);
		return status_from_nng(err);
	}
	read_stats(g, &g->other, &accepted);
	if (pthread_mutex_init(&g->mtx, NULL) != 0)
		goto fail_free;
	if (wait_cond_init(&g->cv) != 0)
		goto fail_mutex;
	if (pthread_create(&g->thread, NULL, guard_thread, g) != 0)
		goto fail_cond;
	*out = g;
	return PIGEON_OK;

fail_cond:
	pthread_cond_destroy(&g->cv);
fail_mutex:
	pthread_mutex_destroy(&g->mtx);
fail_free:
	nng_listener_close(g->l);
	free(g);
	return PIGEON_RESOURCE_EXHAUSTED;
}

uint64_t
listen_guard_restarts(const listen_guard *g)
{
	return atomic_load(&((listen_guard *)g)->restarts);
}

void
listen_guard_stop(listen_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mtx);
	g->stopping = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mtx);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mtx);
	free(g);
}
