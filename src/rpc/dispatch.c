/* SPDX-License-Identifier: MIT */
/* Request dispatch through the generated service descriptor; see dispatch.h. */
#include "dispatch.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clocks.h"
#include "codec.h"
#include "dedup.h"
#include "log.h"

/* What the dispatcher counts, per method: index n_methods is the slot of
 * requests naming no method of the service or not decoding at all. */
typedef struct method_stats {
	atomic_uint_fast64_t by_code[PIGEON_STATUS_COUNT];
	prom_hist duration;
} method_stats;

struct rpc_dispatcher {
	ProtobufCService *svc;
	size_t request_max;
	dedup *dd;
	/* dedup_method[i]: requests of method i are de-duplicated. */
	bool *dedup_method;
	method_stats *stats;
	atomic_long in_flight;
	atomic_uint_fast64_t resends;
	/* See rpc_dispatcher_deadline_max. */
	atomic_int_fast64_t deadline_max;
};

/* One request being executed: from dispatch until its reply is sent. */
typedef struct rpc_call {
	rpc_dispatcher *d;
	/* Index of the method (n_methods: none) and when dispatch began. */
	unsigned method;
	int64_t start_us;
	rpc_request req;
	ProtobufCMessage *input;
	bool tracked;
	pigeon_status fail_status;
	char fail_msg[256];
	rpc_reply_fn fn;
	void *arg;
} rpc_call;

pigeon_status
rpc_dispatcher_new(rpc_dispatcher **out, ProtobufCService *svc, const rpc_dispatch_opts *opts)
{
	const ProtobufCServiceDescriptor *sd = svc->descriptor;
	rpc_dispatcher *d;
	pigeon_status rv = PIGEON_RESOURCE_EXHAUSTED;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	d->svc = svc;
	atomic_init(&d->deadline_max, 0);
	d->request_max = opts != NULL && opts->request_max > 0 ? opts->request_max
							       : RPC_REQUEST_MAX_DEFAULT;
	if ((d->dedup_method = calloc(sd->n_methods, sizeof(bool))) == NULL)
		goto fail_free;
	/* calloc's zero bytes are valid zero atomics on every platform built. */
	if ((d->stats = calloc(sd->n_methods + 1, sizeof(*d->stats))) == NULL)
		goto fail_methods;
	if (opts == NULL || opts->dedup_methods == NULL) {
		for (unsigned i = 0; i < sd->n_methods; i++)
			d->dedup_method[i] = true;
	} else {
		for (const char *const *m = opts->dedup_methods; *m != NULL; m++) {
			const ProtobufCMethodDescriptor *md =
			    protobuf_c_service_descriptor_get_method_by_name(sd, *m);

			if (md == NULL) {
				rv = PIGEON_INVALID_ARGUMENT;
				goto fail_methods;
			}
			d->dedup_method[md - sd->methods] = true;
		}
	}
	if ((rv = dedup_new(&d->dd, opts != NULL && opts->dedup_capacity > 0
					? opts->dedup_capacity
					: 65536)) != PIGEON_OK)
		goto fail_methods;
	*out = d;
	return PIGEON_OK;

fail_methods:
	free(d->stats);
	free(d->dedup_method);
fail_free:
	free(d);
	return rv;
}

void
rpc_dispatcher_free(rpc_dispatcher *d)
{
	if (d == NULL)
		return;
	dedup_free(d->dd);
	free(d->stats);
	free(d->dedup_method);
	free(d);
}

/* Counts one answer of method slot m. */
static void
count_answer(rpc_dispatcher *d, unsigned m, pigeon_status st, int64_t start_us)
{
	method_stats *ms = &d->stats[m];

	prom_add(&ms->by_code[(unsigned)st < PIGEON_STATUS_COUNT ? st : PIGEON_UNKNOWN], 1);
	prom_hist_observe(&ms->duration, clocks_mono_us() - start_us);
}

static const char *
method_label(const rpc_dispatcher *d, unsigned m)
{
	const ProtobufCServiceDescriptor *sd = d->svc->descriptor;

	return m < sd->n_methods ? sd->methods[m].name : "unknown";
}

void
rpc_dispatcher_render(const rpc_dispatcher *d, prom_text *t)
{
	unsigned n = d->svc->descriptor->n_methods;
	char labels[96];

	prom_family(t, "pigeon_rpc_requests_total", "counter",
	    "RPC requests answered, by method and status code (method \"unknown\": no "
	    "method of the service, or an envelope that does not decode).");
	for (unsigned m = 0; m <= n; m++) {
		for (int c = 0; c < PIGEON_STATUS_COUNT; c++) {
			uint64_t v = prom_load(&d->stats[m].by_code[c]);

			/* Every method's OK series exists from the start. */
			if (v > 0 || (c == PIGEON_OK && m < n))
				prom_printf(t,
				    "pigeon_rpc_requests_total{method=\"%s\",code=\"%s\"} %llu\n",
				    method_label(d, m), pigeon_status_name((pigeon_status)c),
				    (unsigned long long)v);
		}
	}
	prom_family(t, "pigeon_rpc_duration_seconds", "histogram",
	    "Time from receiving an RPC request to handing its answer to the socket, by "
	    "method.");
	for (unsigned m = 0; m <= n; m++) {
		snprintf(labels, sizeof(labels), "method=\"%s\"", method_label(d, m));
		prom_hist_render(t, "pigeon_rpc_duration_seconds", labels, &d->stats[m].duration,
		    false);
	}
	prom_family(t, "pigeon_rpc_in_flight", "gauge",
	    "RPC requests received and not yet answered.");
	prom_printf(t, "pigeon_rpc_in_flight %ld\n",
	    atomic_load_explicit(&d->in_flight, memory_order_relaxed));
	prom_single(t, "pigeon_rpc_resends_total", "counter",
	    "Resent requests answered from the de-duplication table instead of running "
	    "again.",
	    prom_load(&d->resends));
}

/* Answers a request that never reached a handler (nor decoded). */
static void
reply_now(rpc_dispatcher *d, int64_t start_us, rpc_reply_fn fn, void *arg, pigeon_status st,
    const char *msg, uint64_t request_id)
{
	uint8_t *buf;
	size_t len;

	count_answer(d, d->svc->descriptor->n_methods, st, start_us);
	if (rpc_reply_pack(st, msg, NULL, request_id, &buf, &len) != PIGEON_OK) {
		/* Without memory for even an error reply, answer nothing: the
		 * client's deadline reports it. */
		log_error("rpc", "cannot pack an error reply status=%s", pigeon_status_name(st));
		return;
	}
	fn(arg, buf, len);
	free(buf);
}

static void
call_free(rpc_call *c)
{
	if (c->input != NULL)
		protobuf_c_message_free_unpacked(c->input, &c->req.budget.base);
	rpc_request_fini(&c->req);
	free(c);
}

/* Sends the reply to the caller and to copies waiting for it. */
static void
call_finish(rpc_call *c, pigeon_status st, const char *msg, const ProtobufCMessage *reply)
{
	uint64_t request_id = c->req.env->request_id;
	uint8_t *buf;
	size_t len;

	if (rpc_reply_pack(st, msg, reply, request_id, &buf, &len) != PIGEON_OK) {
		st = PIGEON_RESOURCE_EXHAUSTED;
		if (rpc_reply_pack(st, "reply too large for memory", NULL, request_id, &buf,
			&len) != PIGEON_OK) {
			count_answer(c->d, c->method, st, c->start_us);
			atomic_fetch_sub_explicit(&c->d->in_flight, 1, memory_order_relaxed);
			call_free(c);
			return;
		}
	}
	/* UNAVAILABLE means "not done, try again": a retry with the same
	 * request id must run again, not get this answer back. */
	if (c->tracked && st == PIGEON_UNAVAILABLE)
		dedup_forget(c->d->dd, c->req.env->client_id, request_id, buf, len);
	else if (c->tracked)
		dedup_finish(c->d->dd, c->req.env->client_id, request_id, buf, len);
	count_answer(c->d, c->method, st, c->start_us);
	atomic_fetch_sub_explicit(&c->d->in_flight, 1, memory_order_relaxed);
	c->fn(c->arg, buf, len);
	free(buf);
	call_free(c);
}

static void
call_closure(const ProtobufCMessage *reply, void *data)
{
	rpc_call *c = data;

	if (reply == NULL) {
		if (c->fail_status == PIGEON_OK) {
			c->fail_status = PIGEON_INTERNAL;
			snprintf(c->fail_msg, sizeof(c->fail_msg), "handler gave no reply");
		}
		call_finish(c, c->fail_status, c->fail_msg, NULL);
		return;
	}
	call_finish(c, PIGEON_OK, NULL, reply);
}

const char *
rpc_call_token(void *closure_data)
{
	const rpc_call *c = closure_data;

	return c->req.env->token != NULL ? c->req.env->token : "";
}

void
rpc_call_fail(void *closure_data, pigeon_status st, const char *fmt, ...)
{
	rpc_call *c = closure_data;
	va_list ap;

	c->fail_status = st != PIGEON_OK ? st : PIGEON_INTERNAL;
	va_start(ap, fmt);
	vsnprintf(c->fail_msg, sizeof(c->fail_msg), fmt, ap);
	va_end(ap);
	call_finish(c, c->fail_status, c->fail_msg, NULL);
}

void
rpc_call_done(void *closure_data, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	if (st == PIGEON_OK)
		call_finish(closure_data, PIGEON_OK, NULL, reply);
	else
		rpc_call_fail(closure_data, st, "%s", errmsg != NULL ? errmsg : "");
}


/* Raises deadline_max to deadline_ms.  Deadlines grow with time, so nearly
 * every request raises it: one compare-and-swap, rarely two. */
static void
deadline_note(rpc_dispatcher *d, int64_t deadline_ms)
{
	int_fast64_t cur = atomic_load_explicit(&d->deadline_max, memory_order_relaxed);

	while (deadline_ms > cur &&
	    !atomic_compare_exchange_weak_explicit(&d->deadline_max, &cur, deadline_ms,
		memory_order_relaxed, memory_order_relaxed))
		;
}

int64_t
rpc_dispatcher_deadline_max(rpc_dispatcher *d)
{
	return atomic_load_explicit(&d->deadline_max, memory_order_relaxed);
}

void
rpc_dispatch(rpc_dispatcher *d, const void *buf, size_t len, rpc_reply_fn fn, void *arg)
{
	const ProtobufCServiceDescriptor *sd = d->svc->descriptor;
	const ProtobufCMethodDescriptor *md;
	Pigeon__V1__RequestEnvelope *env;
	int64_t start_us = clocks_mono_us();
	rpc_call *c;
	pigeon_status rv;

	if (len > d->request_max) {
		reply_now(d, start_us, fn, arg, PIGEON_RESOURCE_EXHAUSTED,
		    "request larger than the limit", 0);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		reply_now(d, start_us, fn, arg, PIGEON_RESOURCE_EXHAUSTED, "out of memory", 0);
		return;
	}
	c->d = d;
	c->fn = fn;
	c->arg = arg;
	c->start_us = start_us;
	if (rpc_request_decode(&c->req, buf, len) != PIGEON_OK) {
		free(c);
		reply_now(d, start_us, fn, arg, PIGEON_INVALID_ARGUMENT,
		    "request envelope does not decode", 0);
		return;
	}
	env = c->req.env;
	deadline_note(d, env->deadline_ms != 0 ? env->deadline_ms : INT64_MAX);
	md = protobuf_c_service_descriptor_get_method_by_name(sd, env->method);
	c->method = md != NULL ? (unsigned)(md - sd->methods) : sd->n_methods;

	if (env->request_id != 0 && (md == NULL || d->dedup_method[md - sd->methods])) {
		switch (dedup_begin(d->dd, env->client_id, env->request_id, fn, arg)) {
		case DEDUP_NEW:
			c->tracked = true;
			break;
		case DEDUP_WAITING:
		case DEDUP_ANSWERED:
			prom_add(&d->resends, 1);
			log_debug("rpc", "resent request answered once method=%s request_id=%llu",
			    env->method, (unsigned long long)env->request_id);
			call_free(c);
			return;
		case DEDUP_UNTRACKED:
			break;
		}
	}
	atomic_fetch_add_explicit(&d->in_flight, 1, memory_order_relaxed);
	if (env->deadline_ms != 0 && env->deadline_ms <= clocks_wall_ms()) {
		call_finish(c, PIGEON_DEADLINE_EXCEEDED, "deadline passed before the request was served",
		    NULL);
		return;
	}
	if (md == NULL) {
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown method %.64s", env->method);
		call_finish(c, PIGEON_UNIMPLEMENTED, msg, NULL);
		return;
	}
	rv = rpc_payload_decode(md->input, &env->payload, &c->req.budget, &c->input);
	if (rv != PIGEON_OK) {
		call_finish(c, PIGEON_INVALID_ARGUMENT, "request payload does not decode", NULL);
		return;
	}
	d->svc->invoke(d->svc, (unsigned)(md - sd->methods), c->input, call_closure, c);
}
