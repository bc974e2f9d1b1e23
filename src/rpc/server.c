/* SPDX-License-Identifier: MIT */
/*
 * Each context loops: receive -> dispatch -> (handler finishes, maybe on the
 * store's thread) -> send -> receive.  Closing retires each context at
 * the end of what it is doing, and only then closes the socket.
 */
#include "server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "log.h"
#include "errors.h"

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
	/* Contexts that saw `closing` and stopped for good. */
	unsigned retired;
	bool closing;
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
	int rv = nng_aio_result(c->aio);
	nng_msg *msg;

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
	rpc_dispatch(c->srv->d, nng_msg_body(msg), nng_msg_len(msg), ctx_reply, c);
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
	if (pthread_cond_init(&s->idle, NULL) != 0)
		goto fail_mtx;
	if ((s->ctxs = calloc(s->nctx, sizeof(*s->ctxs))) == NULL)
		goto fail_idle;
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
fail_idle:
	pthread_cond_destroy(&s->idle);
fail_mtx:
	pthread_mutex_destroy(&s->mtx);
fail_free:
	free(s);
	return rv;
}

void
rpc_server_close(rpc_server *s)
{
	if (s == NULL)
		return;
	/* Receives pending now are cancelled; contexts with a request in
	 * flight still get its answer from the handler and send it, then
	 * retire; nothing starts after the sweep. */
	pthread_mutex_lock(&s->mtx);
	s->closing = true;
	for (unsigned i = 0; i < s->nctx; i++)
		nng_aio_cancel(s->ctxs[i].aio);
	while (s->retired < s->nctx)
		pthread_cond_wait(&s->idle, &s->mtx);
	pthread_mutex_unlock(&s->mtx);
	for (unsigned i = 0; i < s->nctx; i++) {
		nng_aio_free(s->ctxs[i].aio);
		nng_ctx_close(s->ctxs[i].ctx);
	}
	nng_close(s->sock);
	free(s->ctxs);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}
