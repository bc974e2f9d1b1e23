/* SPDX-License-Identifier: MIT */
/*
 * Each context loops: receive -> dispatch -> (handler finishes, maybe on the
 * store's thread) -> send -> receive.  `busy` counts contexts between
 * dispatch and the end of their send, so that close can wait for them.
 */
#include "server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "log.h"
#include "util.h"

typedef struct rpc_ctx {
	struct rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
} rpc_ctx;

struct rpc_server {
	nng_socket sock;
	rpc_dispatcher *d;
	rpc_ctx *ctxs;
	unsigned nctx;
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	unsigned busy;
	bool closing;
};

static void
ctx_busy(rpc_server *s, int delta)
{
	pthread_mutex_lock(&s->mtx);
	s->busy = (unsigned)((int)s->busy + delta);
	if (s->busy == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mtx);
}

static bool
server_closing(rpc_server *s)
{
	bool closing;

	pthread_mutex_lock(&s->mtx);
	closing = s->closing;
	pthread_mutex_unlock(&s->mtx);
	return closing;
}

/* The dispatcher's reply callback: runs once per request, on any thread. */
static void
ctx_reply(void *arg, const uint8_t *buf, size_t len)
{
	rpc_ctx *c = arg;
	nng_msg *msg;

	if (nng_msg_alloc(&msg, len) != 0) {
		log_error("rpc", "no memory for a reply len=%zu", len);
		c->sending = false;
		ctx_busy(c->srv, -1);
		if (!server_closing(c->srv))
			nng_ctx_recv(c->ctx, c->aio);
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

	if (c->sending) {
		c->sending = false;
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		ctx_busy(s, -1);
		if (rv == NNG_ECLOSED || server_closing(s))
			return;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED && !server_closing(s)) {
			log_warn("rpc", "receive failed err=%s", nng_strerror(rv));
			nng_ctx_recv(c->ctx, c->aio);
		}
		return;
	}
	msg = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	ctx_busy(s, +1);
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
	pthread_mutex_init(&s->mtx, NULL);
	pthread_cond_init(&s->idle, NULL);
	if ((s->ctxs = calloc(s->nctx, sizeof(*s->ctxs))) == NULL) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_free;
	}
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
	if ((err = nng_listen(s->sock, url, NULL, 0)) != 0) {
		log_error("rpc", "cannot listen url=%s err=%s", url, nng_strerror(err));
		rv = status_from_nng(err);
		goto fail_aios;
	}
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
fail_free:
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mtx);
	free(s);
	return rv;
}

void
rpc_server_close(rpc_server *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	s->closing = true;
	pthread_mutex_unlock(&s->mtx);
	/* Closing the socket fails every pending receive; contexts with a
	 * request in flight still get its answer from the handler, whose send
	 * then fails at once. */
	nng_close(s->sock);
	pthread_mutex_lock(&s->mtx);
	while (s->busy > 0)
		pthread_cond_wait(&s->idle, &s->mtx);
	pthread_mutex_unlock(&s->mtx);
	for (unsigned i = 0; i < s->nctx; i++)
		nng_aio_free(s->ctxs[i].aio);
	free(s->ctxs);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}
