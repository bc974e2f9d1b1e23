/* SPDX-License-Identifier: MIT */
/*
 * The RPC client: an nng req socket dialed in the background, one nng context
 * per call in flight; an asynchronous call's context and aio are kept for the
 * next one when it completes (opening them costs nng a lock, an id and a read
 * of the kernel's random source, and freeing them a wake of its reaper).  A
 * request carries this client's random id and a counter, so the server can
 * answer a resent request with its first answer.  Calls that find no
 * connection to pigeond fail fast with UNAVAILABLE once the dialer has had its
 * chance; a call that times out reports UNAVAILABLE rather than
 * DEADLINE_EXCEEDED if pigeond was not connected at any point.  With a retry
 * policy (retry.h) a call is a series of attempts of the same packed request,
 * each on the call's one context and aio, with nng timers for the waits in
 * between, so that close cancels a waiting call as it cancels a sending one.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <pigeon/pigeon.h>

#include "clocks.h"
#include "codec.h"
#include "errors.h"
#include "retry.h"
#include "wait.h"

#define CLIENT_RECV_MAX_DEFAULT (4u * 1024 * 1024)
/* How long after open a call waits for the first connection instead of
 * failing fast with UNAVAILABLE. */
#define CLIENT_CONNECT_GRACE_MS 1000
/* The dialer's longest pause between attempts (NNG_OPT_RECONNMAXT), and how
 * long a client goes without a pipe before it starts a new dialer. */
#define CLIENT_RECONN_MAX_MS 1000
#define CLIENT_REDIAL_MS (2 * CLIENT_RECONN_MAX_MS)

/* Asynchronous calls whose context and aio wait for reuse, at most. */
#define CLIENT_IDLE_MAX 256

/* A call in flight, linked into its client so that close can cancel it. */
typedef struct call_link {
	nng_aio *aio;
	struct call_link *prev;
	struct call_link *next;
} call_link;

struct pigeon_client {
	nng_socket sock;
	char url[256];
	uint64_t client_id;
	atomic_uint_fast64_t next_request;
	atomic_int pipes;
	/* When the client last had no pipe left, or dialed: see redial. */
	atomic_int_fast64_t down_since_ms;
	/* The session token calls carry (malloc'd), or NULL; under mtx. */
	char *token;
	/* opts.resend_ms, or 0. */
	int32_t resend_ms;
	/* Held by the one caller that replaces the dialer. */
	pthread_mutex_t dial_mtx;
	nng_dialer dialer;
	int32_t deadline_ms;
	int64_t opened_ms;
	pthread_mutex_t mtx;
	pthread_cond_t drained;
	pthread_cond_t connected;
	/* Calls in flight; close cancels them and waits for the list to empty
	 * before it closes the socket, which nng 1.5 can hang on while an
	 * operation is pending. */
	call_link *calls;
	bool closing;
	/* Finished asynchronous calls kept for reuse (acall.next_idle). */
	struct acall *idle;
	unsigned nidle;
	/* Normalised: max_attempts is at least 1. */
	pigeon_retry_policy retry;
	/* The backoffs' random numbers: retry_mix64 of this counter. */
	atomic_uint_fast64_t rng;
};

static void
set_error(pigeon_error *err, pigeon_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_error(pigeon_error *err, pigeon_status st, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->code = st;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* Counts the pipes to pigeond.  nng 1.5 runs REM_POST exactly once for
 * every pipe that saw ADD_PRE, but a pipe closed between ADD_PRE and
 * ADD_POST (pigeond dying while the dialer connects) never sees ADD_POST:
 * counting ADD_POST against REM_POST then undercounts for good, and the
 * client fails every call fast with UNAVAILABLE while connected.  So the
 * count goes up at ADD_PRE, which always pairs with REM_POST. */
static void
pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	pigeon_client *c = arg;

	(void)p;
	pthread_mutex_lock(&c->mtx);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		atomic_fetch_add(&c->pipes, 1);
	} else if (ev == NNG_PIPE_EV_ADD_POST) {
		pthread_cond_broadcast(&c->connected);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		if (atomic_fetch_sub(&c->pipes, 1) == 1)
			atomic_store(&c->down_since_ms, clocks_wall_ms());
	}
	pthread_mutex_unlock(&c->mtx);
}

pigeon_status
pigeon_client_open(pigeon_client **out, const char *url)
{
	pigeon_client_opts o = {.url = url};

	return pigeon_client_open_opts(out, &o);
}

pigeon_status
pigeon_client_open_opts(pigeon_client **out, const pigeon_client_opts *opts)
{
	static const pigeon_client_opts defaults = {0};
	const char *url;
	pigeon_client *c;
	pigeon_status rv;
	int err;

	if (opts == NULL)
		opts = &defaults;
	url = opts->url != NULL ? opts->url : PIGEON_DEFAULT_RPC_URL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	if ((rv = retry_policy_normalize(&opts->retry, &c->retry)) != PIGEON_OK)
		goto fail_free;
	snprintf(c->url, sizeof(c->url), "%s", url);
	c->deadline_ms = opts->deadline_ms > 0 ? opts->deadline_ms : PIGEON_DEFAULT_DEADLINE_MS;
	c->opened_ms = clocks_wall_ms();
	if (getrandom(&c->client_id, sizeof(c->client_id), 0) != sizeof(c->client_id))
		c->client_id = (uint64_t)clocks_mono_us() ^ ((uint64_t)(uintptr_t)c << 16);
	atomic_init(&c->next_request, 1);
	atomic_init(&c->pipes, 0);
	atomic_init(&c->down_since_ms, c->opened_ms);
	atomic_init(&c->rng, c->client_id);
	rv = PIGEON_RESOURCE_EXHAUSTED;
	if (pthread_mutex_init(&c->mtx, NULL) != 0)
		goto fail_free;
	if (pthread_mutex_init(&c->dial_mtx, NULL) != 0)
		goto fail_mtx;
	if (pthread_cond_init(&c->drained, NULL) != 0)
		goto fail_dial_mtx;
	if (wait_cond_init(&c->connected) != 0)
		goto fail_drained;

	if ((err = nng_req0_open(&c->sock)) != 0) {
		rv = status_from_nng(err);
		goto fail_connected;
	}
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
	    opts->recv_max > 0 ? opts->recv_max : CLIENT_RECV_MAX_DEFAULT);
	if (opts->resend_ms > 0) {
		nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, opts->resend_ms);
		c->resend_ms = opts->resend_ms;
	}
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, CLIENT_RECONN_MAX_MS);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_PRE, pipe_event, c);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_event, c);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_event, c);
	/* Non-blocking: the dialer keeps trying in the background. */
	if ((err = nng_dial(c->sock, url, &c->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		rv = err == NNG_ENOMEM ? PIGEON_RESOURCE_EXHAUSTED : PIGEON_INVALID_ARGUMENT;
		goto fail_sock;
	}
	*out = c;
	return PIGEON_OK;

fail_sock:
	nng_close(c->sock);
fail_connected:
	pthread_cond_destroy(&c->connected);
fail_drained:
	pthread_cond_destroy(&c->drained);
fail_dial_mtx:
	pthread_mutex_destroy(&c->dial_mtx);
fail_mtx:
	pthread_mutex_destroy(&c->mtx);
fail_free:
	free(c);
	return rv;
}

/* What an asynchronous call is doing with its aio. */
typedef enum acall_stage {
	ACALL_SENDING,
	ACALL_RECEIVING,
	/* Waiting out a backoff before the next attempt (nng_sleep_aio). */
	ACALL_WAITING,
} acall_stage;

/* One asynchronous call: attempts of send then receive, with a wait before
 * each retry, then completion. */
typedef struct acall {
	call_link link;
	pigeon_client *c;
	const ProtobufCMethodDescriptor *md;
	uint64_t request_id;
	/* The call's end on the monotonic clock (clocks_mono_ms). */
	int64_t end_ms;
	/* The request, from which every attempt but the last sends a copy (a
	 * send takes its message); NULL once the last has taken it. */
	nng_msg *req;
	uint32_t attempts;
	nng_ctx ctx;
	nng_aio *aio;
	acall_stage stage;
	pigeon_done done;
	void *arg;
	struct acall *next_idle;
} acall;

/* Frees the kept calls; nothing is in flight any more. */
static void
idle_free(pigeon_client *c)
{
	while (c->idle != NULL) {
		acall *a = c->idle;

		c->idle = a->next_idle;
		nng_ctx_close(a->ctx);
		nng_aio_free(a->aio);
		free(a);
	}
	c->nidle = 0;
}

/* Messages the client's connections have received so far; false when nng
 * keeps no statistics. */
static bool
received_msgs(const pigeon_client *c, uint64_t *out)
{
	int sock = nng_socket_id(c->sock);
	nng_stat *all, *st, *f;

	if (nng_stats_get(&all) != 0)
		return false;
	*out = 0;
	for (st = nng_stat_child(all); st != NULL; st = nng_stat_next(st)) {
		uint64_t owner = UINT64_MAX, rx = 0;

		if (nng_stat_type(st) != NNG_STAT_SCOPE || strcmp(nng_stat_name(st), "pipe") != 0)
			continue;
		for (f = nng_stat_child(st); f != NULL; f = nng_stat_next(f)) {
			if (strcmp(nng_stat_name(f), "socket") == 0)
				owner = nng_stat_value(f);
			else if (strcmp(nng_stat_name(f), "rx_msgs") == 0)
				rx = nng_stat_value(f);
		}
		if (owner == (uint64_t)sock)
			*out += rx;
	}
	nng_stats_free(all);
	return true;
}

/* nng 1.5.2 can wedge its reaper thread, and with it every later nng_close
 * of the process, when a connection is closed while a message on it is
 * half read (fixed upstream for TCP in nng 1.6.0).  A client that resends
 * often (resend_ms) keeps receiving the answers to its resent copies for a
 * moment after its last call: before closing, wait until nothing has
 * arrived for CLOSE_QUIET_FACTOR resend times, CLOSE_QUIET_MAX_MS at most. */
#define CLOSE_QUIET_FACTOR 4
#define CLOSE_QUIET_MIN_MS 20
#define CLOSE_QUIET_MAX_MS 2000
#define CLOSE_QUIET_RESEND_MAX_MS 1000

static void
close_when_quiet(const pigeon_client *c)
{
	int32_t quiet = c->resend_ms * CLOSE_QUIET_FACTOR;
	int64_t end = clocks_mono_ms() + CLOSE_QUIET_MAX_MS;
	uint64_t before, after;

	if (c->resend_ms <= 0 || c->resend_ms > CLOSE_QUIET_RESEND_MAX_MS ||
	    !received_msgs(c, &before))
		return;
	if (quiet < CLOSE_QUIET_MIN_MS)
		quiet = CLOSE_QUIET_MIN_MS;
	while (clocks_mono_ms() < end) {
		struct timespec ts = {quiet / 1000, (long)(quiet % 1000) * 1000000L};

		nanosleep(&ts, NULL);
		if (!received_msgs(c, &after) || after == before)
			return;
		before = after;
	}
}

void
pigeon_client_close(pigeon_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	c->closing = true;
	for (call_link *l = c->calls; l != NULL; l = l->next)
		nng_aio_cancel(l->aio);
	while (c->calls != NULL)
		pthread_cond_wait(&c->drained, &c->mtx);
	pthread_mutex_unlock(&c->mtx);
	idle_free(c);
	close_when_quiet(c);
	nng_close(c->sock);
	pthread_cond_destroy(&c->connected);
	pthread_cond_destroy(&c->drained);
	pthread_mutex_destroy(&c->dial_mtx);
	pthread_mutex_destroy(&c->mtx);
	if (c->token != NULL) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c);
}

pigeon_status
pigeon_client_set_token(pigeon_client *c, const char *token)
{
	char *copy = NULL, *old;

	if (token != NULL && token[0] != '\0') {
		if (strlen(token) > PIGEON_TOKEN_MAX)
			return PIGEON_INVALID_ARGUMENT;
		if ((copy = strdup(token)) == NULL)
			return PIGEON_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_lock(&c->mtx);
	old = c->token;
	c->token = copy;
	pthread_mutex_unlock(&c->mtx);
	if (old != NULL) {
		explicit_bzero(old, strlen(old));
		free(old);
	}
	return PIGEON_OK;
}

void
pigeon_reply_free(void *reply)
{
	if (reply != NULL)
		protobuf_c_message_free_unpacked(reply, NULL);
}

static const ProtobufCMethodDescriptor *
method_find(const char *method)
{
	return protobuf_c_service_descriptor_get_method_by_name(
	    &pigeon__v1__pigeon__descriptor, method);
}

/* Links a call in, unless the client is closing. */
static bool
call_link_add(pigeon_client *c, call_link *l, nng_aio *aio)
{
	bool ok;

	pthread_mutex_lock(&c->mtx);
	ok = !c->closing;
	if (ok) {
		l->aio = aio;
		l->prev = NULL;
		l->next = c->calls;
		if (c->calls != NULL)
			c->calls->prev = l;
		c->calls = l;
	}
	pthread_mutex_unlock(&c->mtx);
	return ok;
}

/* Under c->mtx. */
static void
call_unlink(pigeon_client *c, call_link *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		c->calls = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	if (c->calls == NULL)
		pthread_cond_broadcast(&c->drained);
}

static void
call_link_remove(pigeon_client *c, call_link *l)
{
	pthread_mutex_lock(&c->mtx);
	call_unlink(c, l);
	pthread_mutex_unlock(&c->mtx);
}

/* Starts a send or receive on the call's context unless the client is
 * closing, atomically with close's cancel sweep. */
static bool
call_start(pigeon_client *c, void (*op)(nng_ctx, nng_aio *), nng_ctx ctx, nng_aio *aio)
{
	bool ok;

	pthread_mutex_lock(&c->mtx);
	ok = !c->closing;
	if (ok)
		op(ctx, aio);
	pthread_mutex_unlock(&c->mtx);
	return ok;
}

/* Starts the wait before a call's next attempt on its aio, as call_start
 * starts a send.  nng_sleep_aio ends a sleep early at the aio's timeout: the
 * default (none) lets it run its course. */
static bool
call_sleep(pigeon_client *c, int64_t ms, nng_aio *aio)
{
	bool ok;

	pthread_mutex_lock(&c->mtx);
	ok = !c->closing;
	if (ok) {
		nng_aio_set_timeout(aio, NNG_DURATION_DEFAULT);
		nng_sleep_aio((nng_duration)ms, aio);
	}
	pthread_mutex_unlock(&c->mtx);
	return ok;
}

/* Whether a call that has made `attempts` attempts, the last ending with st,
 * makes another, and after how long (*delay_ms).  The random draw is made
 * only for a retry that the policy allows at all. */
static bool
call_retry(pigeon_client *c, pigeon_status st, uint32_t attempts, int64_t end_ms,
    int64_t *delay_ms)
{
	int64_t delay;

	if (st != PIGEON_UNAVAILABLE || attempts >= c->retry.max_attempts)
		return false;
	delay = retry_backoff_ms(&c->retry, attempts,
	    retry_mix64(atomic_fetch_add(&c->rng, RETRY_MIX_GAMMA)));
	if (!retry_allowed(&c->retry, st, attempts, clocks_mono_ms(), delay, end_ms))
		return false;
	*delay_ms = delay;
	return true;
}

/* The message an attempt sends: a copy of *req while another attempt may
 * follow, else *req itself (then set to NULL).  RESOURCE_EXHAUSTED without
 * memory for the copy. */
static pigeon_status
attempt_msg(pigeon_client *c, uint32_t attempt, nng_msg **req, nng_msg **out)
{
	if (attempt >= c->retry.max_attempts) {
		*out = *req;
		*req = NULL;
		return PIGEON_OK;
	}
	return nng_msg_dup(out, *req) == 0 ? PIGEON_OK : PIGEON_RESOURCE_EXHAUSTED;
}

/* nng 1.5's dialer stops for good when an attempt ends in NNG_ECLOSED,
 * which is what sending the SP header into a peer that died after accepting
 * gives (EPIPE): a pigeond killed while its clients reconnect does that now
 * and then, and the client would never connect again.  A dialer that works
 * tries again within CLIENT_RECONN_MAX_MS, so a client without a pipe for
 * CLIENT_REDIAL_MS starts a new dialer and closes the old one.  Called by
 * calls that find no pipe; one caller at a time does it. */
static void
redial(pigeon_client *c, int64_t now)
{
	nng_dialer old;

	if (now - atomic_load(&c->down_since_ms) < CLIENT_REDIAL_MS ||
	    pthread_mutex_trylock(&c->dial_mtx) != 0)
		return;
	if (atomic_load(&c->pipes) == 0 &&
	    now - atomic_load(&c->down_since_ms) >= CLIENT_REDIAL_MS) {
		old = c->dialer;
		if (nng_dial(c->sock, c->url, &c->dialer, NNG_FLAG_NONBLOCK) == 0)
			nng_dialer_close(old);
		atomic_store(&c->down_since_ms, now);
	}
	pthread_mutex_unlock(&c->dial_mtx);
}

/* True when a connection to pigeond is up.  A synchronous caller (may_wait)
 * waits for one during the connect grace after open, never past its own
 * deadline; afterwards, no connection means UNAVAILABLE at once. */
static bool
client_connected(pigeon_client *c, bool may_wait, int32_t timeout_ms)
{
	int64_t until = c->opened_ms + CLIENT_CONNECT_GRACE_MS;
	int64_t now = clocks_wall_ms(), end;
	bool up;

	if (atomic_load(&c->pipes) > 0)
		return true;
	redial(c, now);
	if (now + timeout_ms < until)
		until = now + timeout_ms;
	if (!may_wait)
		return now < until;
	end = clocks_mono_ms() + (until - now);
	pthread_mutex_lock(&c->mtx);
	while (atomic_load(&c->pipes) == 0 && wait_until(&c->connected, &c->mtx, end))
		;
	up = atomic_load(&c->pipes) > 0;
	pthread_mutex_unlock(&c->mtx);
	return up;
}

/* Checks the request and packs its envelope, with a new request id, the
 * call's deadline and its token (NULL: the client's), into a new nng
 * message, which every attempt of the call sends (or a copy of it). */
static pigeon_status
call_prepare(pigeon_client *c, const char *method, const char *token,
    const ProtobufCMessage *req, int32_t deadline_ms, const ProtobufCMethodDescriptor **mdp,
    uint64_t *request_id, nng_msg **msgp, int32_t *timeout_ms, pigeon_error *err)
{
	const ProtobufCMethodDescriptor *md;
	uint8_t *buf;
	size_t len;
	nng_msg *msg;
	pigeon_status rv;
	int32_t timeout = deadline_ms > 0 ? deadline_ms : c->deadline_ms;

	if ((md = method_find(method)) == NULL) {
		set_error(err, PIGEON_UNIMPLEMENTED, "unknown method %s", method);
		return PIGEON_UNIMPLEMENTED;
	}
	if (req == NULL || req->descriptor != md->input) {
		set_error(err, PIGEON_INVALID_ARGUMENT, "%s takes a %s", method, md->input->name);
		return PIGEON_INVALID_ARGUMENT;
	}
	*request_id = atomic_fetch_add(&c->next_request, 1);
	if (token != NULL && strlen(token) > PIGEON_TOKEN_MAX) {
		set_error(err, PIGEON_INVALID_ARGUMENT, "token longer than %d bytes", PIGEON_TOKEN_MAX);
		return PIGEON_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&c->mtx);
	rv = rpc_request_pack_token(method, c->client_id, *request_id, clocks_wall_ms() + timeout,
	    token != NULL ? token : c->token, req, &buf, &len);
	pthread_mutex_unlock(&c->mtx);
	if (rv != PIGEON_OK) {
		set_error(err, rv, "cannot pack the request");
		return rv;
	}
	if (nng_msg_alloc(&msg, len) != 0) {
		free(buf);
		set_error(err, PIGEON_RESOURCE_EXHAUSTED, "out of memory");
		return PIGEON_RESOURCE_EXHAUSTED;
	}
	memcpy(nng_msg_body(msg), buf, len);
	free(buf);
	*mdp = md;
	*msgp = msg;
	*timeout_ms = timeout;
	return PIGEON_OK;
}

/* Turns a failed nng operation into a status, telling an unreachable
 * pigeond from a slow one. */
static pigeon_status
call_nng_failure(pigeon_client *c, int nerr, pigeon_error *err)
{
	pigeon_status st = status_from_nng(nerr);

	if (nerr == NNG_ECLOSED || nerr == NNG_ECANCELED) {
		st = PIGEON_CANCELLED;
		set_error(err, st, "client closed");
	} else if (st == PIGEON_DEADLINE_EXCEEDED && atomic_load(&c->pipes) == 0) {
		st = PIGEON_UNAVAILABLE;
		set_error(err, st, "pigeond is not reachable at %s", c->url);
	} else {
		set_error(err, st, "%s", nng_strerror(nerr));
	}
	return st;
}

/* Decodes a reply message: the envelope's status, and on OK the payload as
 * the method's output.  *reply is set only on OK. */
static pigeon_status
call_decode(const ProtobufCMethodDescriptor *md, uint64_t request_id, nng_msg *msg,
    ProtobufCMessage **reply, pigeon_error *err)
{
	Pigeon__V1__ReplyEnvelope *env;
	pigeon_status st;

	if (rpc_reply_decode(nng_msg_body(msg), nng_msg_len(msg), &env) != PIGEON_OK) {
		set_error(err, PIGEON_INTERNAL, "reply envelope does not decode");
		return PIGEON_INTERNAL;
	}
	st = env->status < PIGEON_STATUS_COUNT ? (pigeon_status)env->status : PIGEON_UNKNOWN;
	if (st != PIGEON_OK) {
		set_error(err, st, "%s", env->message != NULL ? env->message : "");
	} else if (env->request_id != 0 && env->request_id != request_id) {
		st = PIGEON_INTERNAL;
		set_error(err, st, "reply to another request");
	} else {
		*reply = protobuf_c_message_unpack(
		    md->output, NULL, env->payload.len, env->payload.data);
		if (*reply == NULL) {
			st = PIGEON_INTERNAL;
			set_error(err, st, "reply payload does not decode as %s", md->output->name);
		}
	}
	pigeon__v1__reply_envelope__free_unpacked(env, NULL);
	return st;
}

/* Milliseconds left until end_ms, at least 1 (an nng timeout of 0 would
 * mean "none"). */
static int32_t
ms_left(int64_t end_ms)
{
	int64_t left = end_ms - clocks_mono_ms();

	return left > 0 ? (int32_t)left : 1;
}

/* One attempt of a synchronous call: UNAVAILABLE at once without a
 * connection to pigeond (after the connect grace), else sends msg (taken)
 * on ctx and waits for the reply until end_ms. */
static pigeon_status
sync_attempt(pigeon_client *c, const ProtobufCMethodDescriptor *md, uint64_t request_id,
    nng_msg *msg, int64_t end_ms, nng_ctx ctx, nng_aio *aio, ProtobufCMessage **reply,
    pigeon_error *err)
{
	pigeon_status rv;
	int nerr;

	if (!client_connected(c, true, ms_left(end_ms))) {
		nng_msg_free(msg);
		set_error(err, PIGEON_UNAVAILABLE, "pigeond is not reachable at %s", c->url);
		return PIGEON_UNAVAILABLE;
	}
	nng_aio_set_msg(aio, msg);
	nng_aio_set_timeout(aio, ms_left(end_ms));
	if (!call_start(c, nng_ctx_send, ctx, aio)) {
		nng_msg_free(msg);
		return call_nng_failure(c, NNG_ECLOSED, err);
	}
	nng_aio_wait(aio);
	if ((nerr = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		return call_nng_failure(c, nerr, err);
	}
	nng_aio_set_timeout(aio, ms_left(end_ms));
	if (!call_start(c, nng_ctx_recv, ctx, aio))
		return call_nng_failure(c, NNG_ECLOSED, err);
	nng_aio_wait(aio);
	if ((nerr = nng_aio_result(aio)) != 0)
		return call_nng_failure(c, nerr, err);
	msg = nng_aio_get_msg(aio);
	rv = call_decode(md, request_id, msg, reply, err);
	nng_msg_free(msg);
	return rv;
}

pigeon_status
pigeon_call(pigeon_client *c, const char *method, const ProtobufCMessage *req,
    ProtobufCMessage **reply, int32_t deadline_ms, pigeon_error *err)
{
	return pigeon_call_token(c, method, NULL, req, reply, deadline_ms, err);
}

pigeon_status
pigeon_call_token(pigeon_client *c, const char *method, const char *token,
    const ProtobufCMessage *req, ProtobufCMessage **reply, int32_t deadline_ms, pigeon_error *err)
{
	const ProtobufCMethodDescriptor *md;
	uint64_t request_id;
	int32_t timeout;
	nng_msg *msg, *attempt;
	nng_aio *aio;
	nng_ctx ctx;
	call_link link;
	pigeon_status rv;
	int64_t end_ms, delay;
	uint32_t attempts = 0;
	int nerr;

	rv = call_prepare(c, method, token, req, deadline_ms, &md, &request_id, &msg, &timeout, err);
	if (rv != PIGEON_OK)
		return rv;
	end_ms = clocks_mono_ms() + timeout;
	if ((nerr = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		rv = call_nng_failure(c, nerr, err);
		goto out_msg;
	}
	if ((nerr = nng_ctx_open(&ctx, c->sock)) != 0) {
		rv = call_nng_failure(c, nerr, err);
		goto out_aio;
	}
	if (!call_link_add(c, &link, aio)) {
		rv = call_nng_failure(c, NNG_ECLOSED, err);
		goto out_ctx;
	}
	for (;;) {
		if ((rv = attempt_msg(c, ++attempts, &msg, &attempt)) != PIGEON_OK) {
			set_error(err, rv, "out of memory");
			break;
		}
		rv = sync_attempt(c, md, request_id, attempt, end_ms, ctx, aio, reply, err);
		if (!call_retry(c, rv, attempts, end_ms, &delay))
			break;
		if (!call_sleep(c, delay, aio)) {
			rv = call_nng_failure(c, NNG_ECLOSED, err);
			break;
		}
		nng_aio_wait(aio);
		if ((nerr = nng_aio_result(aio)) != 0) {
			rv = call_nng_failure(c, nerr, err);
			break;
		}
	}
	nng_ctx_close(ctx);
	call_link_remove(c, &link);
	nng_aio_free(aio);
	if (msg != NULL)
		nng_msg_free(msg);
	return rv;
out_ctx:
	nng_ctx_close(ctx);
out_aio:
	nng_aio_free(aio);
out_msg:
	if (msg != NULL)
		nng_msg_free(msg);
	return rv;
}

static void acall_cb(void *arg);

/* Under c->mtx: adds a to the kept calls unless the client is closing (close
 * may have freed them already) or keeps CLIENT_IDLE_MAX already.  Returns
 * whether it did; if not, the caller lets a go. */
static bool
idle_push(pigeon_client *c, acall *a)
{
	if (c->closing || c->nidle >= CLIENT_IDLE_MAX)
		return false;
	a->next_idle = c->idle;
	c->idle = a;
	c->nidle++;
	return true;
}

/* Runs the caller's callback, then keeps the call's context and aio for
 * the next call or, past CLIENT_IDLE_MAX or while closing, lets them go.
 * Leaving the calls in flight and joining the kept ones is one step under
 * the lock: close, which waits for the first list to empty and then frees
 * the second, sees the call in one or the other.  A kept call may be
 * started again by another thread while this callback unwinds: nothing
 * here touches it after the lock is let go. */
static void
acall_complete(acall *a, pigeon_status st, const char *message, ProtobufCMessage *reply)
{
	pigeon_client *c = a->c;
	bool kept;

	if (a->req != NULL) {
		nng_msg_free(a->req);
		a->req = NULL;
	}
	a->done(st, message, reply, a->arg);
	pigeon_reply_free(reply);
	pthread_mutex_lock(&c->mtx);
	if ((kept = idle_push(c, a)))
		call_unlink(c, &a->link);
	pthread_mutex_unlock(&c->mtx);
	if (!kept) {
		nng_ctx_close(a->ctx);
		call_link_remove(c, &a->link);
		/* The aio is this callback's own: it may only be freed from
		 * elsewhere, which nng_aio_reap arranges. */
		nng_aio_reap(a->aio);
		free(a);
	}
}

/* A call with its context and aio: a kept one, or a new one. */
static pigeon_status
acall_get(pigeon_client *c, acall **out)
{
	acall *a;
	int nerr;

	pthread_mutex_lock(&c->mtx);
	if ((a = c->idle) != NULL) {
		c->idle = a->next_idle;
		c->nidle--;
	}
	pthread_mutex_unlock(&c->mtx);
	if (a != NULL) {
		*out = a;
		return PIGEON_OK;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	if ((nerr = nng_aio_alloc(&a->aio, acall_cb, a)) != 0) {
		free(a);
		return status_from_nng(nerr);
	}
	if ((nerr = nng_ctx_open(&a->ctx, c->sock)) != 0) {
		nng_aio_free(a->aio);
		free(a);
		return nerr == NNG_ECLOSED ? PIGEON_CANCELLED : status_from_nng(nerr);
	}
	*out = a;
	return PIGEON_OK;
}

/* Gives back a call that never started. */
static void
acall_put(pigeon_client *c, acall *a)
{
	bool kept;

	pthread_mutex_lock(&c->mtx);
	kept = idle_push(c, a);
	pthread_mutex_unlock(&c->mtx);
	if (!kept) {
		nng_ctx_close(a->ctx);
		nng_aio_free(a->aio);
		free(a);
	}
}

/* An attempt ended with st: an UNAVAILABLE one is made again after a
 * backoff while the policy and the deadline allow, otherwise the call
 * completes.  Runs on an nng thread, or on the caller's for a first attempt
 * that found no connection. */
static void
acall_end(acall *a, pigeon_status st, const char *message, ProtobufCMessage *reply)
{
	int64_t delay;

	if (a->req != NULL && call_retry(a->c, st, a->attempts, a->end_ms, &delay)) {
		a->stage = ACALL_WAITING;
		if (call_sleep(a->c, delay, a->aio))
			return;
		st = PIGEON_CANCELLED;
		message = "client closed";
	}
	acall_complete(a, st, message, reply);
}

/* Starts the call's next attempt: UNAVAILABLE at once without a connection
 * to pigeond, else the send of the request (or of a copy). */
static void
acall_attempt(acall *a)
{
	pigeon_client *c = a->c;
	nng_msg *msg;

	a->attempts++;
	if (!client_connected(c, false, ms_left(a->end_ms))) {
		acall_end(a, PIGEON_UNAVAILABLE, "pigeond is not reachable", NULL);
		return;
	}
	if (attempt_msg(c, a->attempts, &a->req, &msg) != PIGEON_OK) {
		acall_end(a, PIGEON_RESOURCE_EXHAUSTED, "out of memory", NULL);
		return;
	}
	a->stage = ACALL_SENDING;
	nng_aio_set_msg(a->aio, msg);
	nng_aio_set_timeout(a->aio, ms_left(a->end_ms));
	if (!call_start(c, nng_ctx_send, a->ctx, a->aio)) {
		/* Closing began in between: the caller hears it through done. */
		nng_msg_free(msg);
		acall_complete(a, PIGEON_CANCELLED, "client closed", NULL);
	}
}

static void
acall_cb(void *arg)
{
	acall *a = arg;
	pigeon_error err = {0};
	ProtobufCMessage *reply = NULL;
	pigeon_status st;
	nng_msg *msg;
	int nerr = nng_aio_result(a->aio);

	switch (a->stage) {
	case ACALL_WAITING:
		if (nerr != 0) {
			st = call_nng_failure(a->c, nerr, &err);
			acall_complete(a, st, err.message, NULL);
		} else {
			acall_attempt(a);
		}
		return;
	case ACALL_SENDING:
		if (nerr != 0) {
			nng_msg_free(nng_aio_get_msg(a->aio));
			st = call_nng_failure(a->c, nerr, &err);
			acall_end(a, st, err.message, NULL);
			return;
		}
		a->stage = ACALL_RECEIVING;
		nng_aio_set_timeout(a->aio, ms_left(a->end_ms));
		if (!call_start(a->c, nng_ctx_recv, a->ctx, a->aio)) {
			st = call_nng_failure(a->c, NNG_ECLOSED, &err);
			acall_complete(a, st, err.message, NULL);
		}
		return;
	case ACALL_RECEIVING:
		if (nerr != 0) {
			st = call_nng_failure(a->c, nerr, &err);
			acall_end(a, st, err.message, NULL);
			return;
		}
		msg = nng_aio_get_msg(a->aio);
		st = call_decode(a->md, a->request_id, msg, &reply, &err);
		nng_msg_free(msg);
		acall_end(a, st, st == PIGEON_OK ? "" : err.message, reply);
		return;
	}
}

pigeon_status
pigeon_call_async(pigeon_client *c, const char *method, const ProtobufCMessage *req,
    int32_t deadline_ms, pigeon_done done, void *arg)
{
	return pigeon_call_async_token(c, method, NULL, req, deadline_ms, done, arg);
}

pigeon_status
pigeon_call_async_token(pigeon_client *c, const char *method, const char *token,
    const ProtobufCMessage *req, int32_t deadline_ms, pigeon_done done, void *arg)
{
	const ProtobufCMethodDescriptor *md;
	uint64_t request_id;
	acall *a = NULL;
	nng_msg *msg;
	int32_t timeout;
	pigeon_status rv;

	rv = call_prepare(c, method, token, req, deadline_ms, &md, &request_id, &msg, &timeout, NULL);
	if (rv != PIGEON_OK)
		return rv;
	if ((rv = acall_get(c, &a)) != PIGEON_OK)
		goto fail_msg;
	a->c = c;
	a->md = md;
	a->request_id = request_id;
	a->done = done;
	a->arg = arg;
	a->end_ms = clocks_mono_ms() + timeout;
	a->attempts = 0;
	if (!call_link_add(c, &a->link, a->aio)) {
		rv = PIGEON_CANCELLED;
		goto fail_put;
	}
	/* From here on the call owns the request and done hears the outcome. */
	a->req = msg;
	acall_attempt(a);
	return PIGEON_OK;

fail_put:
	acall_put(c, a);
fail_msg:
	nng_msg_free(msg);
	return rv;
}

#define PIGEON_DEFINE_RPC(fn, name, Req, Rep)                                              \
	pigeon_status pigeon_##fn(                                                         \
	    pigeon_client *c, const Req *req, Rep **reply, pigeon_error *err)              \
	{                                                                                  \
		return pigeon_call(c, name, &req->base, (ProtobufCMessage **)reply, 0, err); \
	}                                                                                  \
	pigeon_status pigeon_##fn##_async(                                                 \
	    pigeon_client *c, const Req *req, pigeon_done done, void *arg)                 \
	{                                                                                  \
		return pigeon_call_async(c, name, &req->base, 0, done, arg);               \
	}
PIGEON_RPCS(PIGEON_DEFINE_RPC)
