/* SPDX-License-Identifier: MIT */
/*
 * Each context loops: receive -> dispatch -> (handler finishes, maybe on the
 * store's thread) -> send -> receive.  Draining keeps the loop but answers
 * what it receives with a refusal packed once; a request counts as in flight
 * from its dispatch until its answer has been handed to nng.  Closing
 * retires each context at the end of what it is doing, and only then closes
 * the socket.
 */
#include "server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "clocks.h"
#include "codec.h"
#include "errors.h"
#include "guard.h"
#include "log.h"
#include "wait.h"

/* How long a drained server waits between its last answer and closing its
 * connections; see rpc_server_close. */
#define RPC_CLOSE_GRACE_MS 100

typedef struct rpc_ctx {
	struct rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
	/* Its request was dispatched and counts in srv->in_flight until its
	 * answer is sent.  Under srv->mtx. */
	bool dispatched;
} rpc_ctx;

struct rpc_server {
	nng_socket sock;
	listen_guard *guard;
	rpc_dispatcher *d;
	rpc_ctx *ctxs;
	unsigned nctx;
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	/* Contexts that saw `closing` and stopped for good. */
	unsigned retired;
	bool closing;
	/* Set by rpc_server_drain: requests received are refused. */
	bool draining;
	unsigned in_flight;
	/* The answer of a refused request: UNAVAILABLE, request id 0 (the
	 * request is not decoded; clients match answers by nng's own id). */
	uint8_t *refusal;
	size_t refusal_len;
};

/* Starts the context's next receive or, once the server is closing, retires
 * the context.  Under the lock, so that close's cancel sweep cannot miss a
 * receive started after it: nng 1.5 can hang in nng_close while a receive
 * is pending, so close first retires every context. */
static void
ctx_next(rpc_ctx *c)
{
	rpc_server *s = c->srv;

	pthread_mutex_lock(&s->mtx);
	if (c->dispatched) {
		c->dispatched = false;
		if (--s->in_flight == 0 && s->draining)
			pthread_cond_broadcast(&s->idle);
	}
	if (s->closing) {
		s->retired++;
		pthread_cond_broadcast(&s->idle);
	} else {
		nng_ctx_recv(c->ctx, c->aio);
	}
	pthread_mutex_unlock(&s->mtx);
}

/* The dispatcher's reply callback: runs once per request, on any thread. */
static void
ctx_reply(void *arg, const uint8_t *buf, size_t len)
{
	rpc_ctx *c = arg;
	nng_msg *msg;

	if (nng_msg_alloc(&msg, len) != 0) {
		log_error("rpc", "no memory for a reply len=%zu", len);
		ctx_next(c);
		return;
	}
	memcpy(nng_msg_body(msg), buf, len);
	c->sending = true;
	nng_aio_set_msg(c->aio, msg);
	nng_ctx_send(c->ctx, c->aio);
}

static void
ctx_cb(void *arg)
{
	rpc_ctx *c = arg;
	rpc_server *s = c->srv;
	int rv = nng_aio_result(c->aio);
	nng_msg *msg;
	bool refuse;

	if (c->sending) {
		c->sending = false;
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		ctx_next(c);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
			log_warn("rpc", "receive failed err=%s", nng_strerror(rv));
		ctx_next(c);
		return;
	}
	msg = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	pthread_mutex_lock(&s->mtx);
	if (!(refuse = s->draining)) {
		c->dispatched = true;
		s->in_flight++;
	}
	pthread_mutex_unlock(&s->mtx);
	if (refuse)
		ctx_reply(c, s->refusal, s->refusal_len);
	else
		rpc_dispatch(s->d, nng_msg_body(msg), nng_msg_len(msg), ctx_reply, c);
	nng_msg_free(msg);
}

pigeon_status
rpc_server_open(rpc_server **out, const rpc_server_opts *opts, rpc_dispatcher *d)
{
	const char *url = opts->url != NULL ? opts->url : PIGEON_DEFAULT_RPC_URL;
	rpc_server *s;
	pigeon_status rv;
	unsigned i;
	int err;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	s->d = d;
	s->nctx = opts->contexts > 0 ? opts->contexts : 256;
	rv = PIGEON_RESOURCE_EXHAUSTED;
	if (pthread_mutex_init(&s->mtx, NULL) != 0)
		goto fail_free;
	if (wait_cond_init(&s->idle) != 0)
		goto fail_mtx;
	if ((rv = rpc_reply_pack(PIGEON_UNAVAILABLE, "pigeond is stopping", NULL, 0, &s->refusal,
		 &s->refusal_len)) != PIGEON_OK)
		goto fail_idle;
	rv = PIGEON_RESOURCE_EXHAUSTED;
	if ((s->ctxs = calloc(s->nctx, sizeof(*s->ctxs))) == NULL)
		goto fail_refusal;
	if ((err = nng_rep0_open(&s->sock)) != 0) {
		rv = status_from_nng(err);
		goto fail_ctxs;
	}
	err = nng_socket_set_size(
	    s->sock, NNG_OPT_RECVMAXSZ, opts->recv_max > 0 ? opts->recv_max : RPC_REQUEST_MAX_DEFAULT);
	if (err != 0) {
		rv = status_from_nng(err);
		goto fail_sock;
	}
	for (i = 0; i < s->nctx; i++) {
		rpc_ctx *c = &s->ctxs[i];

		c->srv = s;
		if ((err = nng_aio_alloc(&c->aio, ctx_cb, c)) != 0 ||
		    (err = nng_ctx_open(&c->ctx, s->sock)) != 0) {
			rv = status_from_nng(err);
			goto fail_aios;
		}
	}
	/* pigeond logs the failure: while another pigeond drains, it waits
	 * for the address and tries again. */
	if ((rv = listen_guard_start(&s->guard, s->sock, url, "RPC")) != PIGEON_OK)
		goto fail_aios;
	for (i = 0; i < s->nctx; i++)
		nng_ctx_recv(s->ctxs[i].ctx, s->ctxs[i].aio);
	*out = s;
	return PIGEON_OK;

fail_aios:
	nng_close(s->sock);
	for (unsigned k = 0; k < s->nctx; k++)
		nng_aio_free(s->ctxs[k].aio);
	goto fail_ctxs;
fail_sock:
	nng_close(s->sock);
fail_ctxs:
	free(s->ctxs);
fail_refusal:
	free(s->refusal);
fail_idle:
	pthread_cond_destroy(&s->idle);
fail_mtx:
	pthread_mutex_destroy(&s->mtx);
fail_free:
	free(s);
	return rv;
}

unsigned
rpc_server_drain(rpc_server *s, int64_t max_ms)
{
	int64_t start = clocks_mono_ms(), end = start + max_ms, until, latest;
	unsigned n, at_start;

	pthread_mutex_lock(&s->mtx);
	s->draining = true;
	at_start = s->in_flight;
	/* Logged once draining is set: from this line on nothing new runs. */
	log_info("rpc", "draining in_flight=%u max_ms=%lld", at_start, (long long)max_ms);
	for (;;) {
		if (s->in_flight == 0)
			break;
		/* Read again each time round: a request dispatched just before
		 * draining began may have raised it. */
		latest = rpc_dispatcher_deadline_max(s->d);
		until = end;
		if (latest != INT64_MAX && latest - clocks_wall_ms() < end - clocks_mono_ms())
			until = clocks_mono_ms() + (latest - clocks_wall_ms());
		if (!wait_until(&s->idle, &s->mtx, until))
			break;
	}
	n = s->in_flight;
	pthread_mutex_unlock(&s->mtx);
	log_info("rpc", "drained in_flight_at_start=%u left=%u ms=%lld", at_start, n,
	    (long long)(clocks_mono_ms() - start));
	return n;
}

void
rpc_server_close(rpc_server *s)
{
	if (s == NULL)
		return;
	/* Receives pending now are cancelled; contexts with a request in
	 * flight still get its answer from the handler and send it, then
	 * retire; nothing starts after the sweep. */
	listen_guard_stop(s->guard);
	pthread_mutex_lock(&s->mtx);
	s->closing = true;
	for (unsigned i = 0; i < s->nctx; i++)
		nng_aio_cancel(s->ctxs[i].aio);
	while (s->retired < s->nctx)
		pthread_cond_wait(&s->idle, &s->mtx);
	/* nng 1.5.2's TCP transport can wedge nng's reaper, and with it
	 * every later nng_close of the process, when a connection is closed
	 * while it is between the two reads of a message (fixed in nng 1.6.0,
	 * pull request #1636).  With no context receiving, rep reads one
	 * more message at most per connection and then stops reading, so a
	 * moment's wait before closing leaves no connection mid-read.  It
	 * also lets clients read the last answers before a close that may
	 * reset their connections (unread requests make the kernel send a
	 * reset, and nng drops what it has not read on a reset). */
	if (s->draining) {
		int64_t end = clocks_mono_ms() + RPC_CLOSE_GRACE_MS;

		while (wait_until(&s->idle, &s->mtx, end))
			;
	}
	pthread_mutex_unlock(&s->mtx);
	for (unsigned i = 0; i < s->nctx; i++) {
		nng_aio_free(s->ctxs[i].aio);
		nng_ctx_close(s->ctxs[i].ctx);
	}
	nng_close(s->sock);
	free(s->ctxs);
	free(s->refusal);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}
