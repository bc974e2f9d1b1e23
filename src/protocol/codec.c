/* SPDX-License-Identifier: MIT */
/* Envelope packing and budgeted decoding; see codec.h. */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

pigeon_status
rpc_request_decode(rpc_request *r, const void *buf, size_t len)
{
	pb_budget_init(&r->budget, pb_budget_for(len));
	r->env = pigeon__v1__request_envelope__unpack(&r->budget.base, len, buf);
	if (r->env == NULL)
		return PIGEON_INVALID_ARGUMENT;
	if (r->env->method == NULL || r->env->method[0] == '\0') {
		rpc_request_fini(r);
		return PIGEON_INVALID_ARGUMENT;
	}
	return PIGEON_OK;
}

void
rpc_request_fini(rpc_request *r)
{
	if (r->env != NULL)
		pigeon__v1__request_envelope__free_unpacked(r->env, &r->budget.base);
	r->env = NULL;
}

pigeon_status
rpc_payload_decode(const ProtobufCMessageDescriptor *desc, const ProtobufCBinaryData *payload,
    pb_budget *budget, ProtobufCMessage **out)
{
	ProtobufCMessage *m;

	m = protobuf_c_message_unpack(desc, &budget->base, payload->len, payload->data);
	if (m == NULL)
		return PIGEON_INVALID_ARGUMENT;
	*out = m;
	return PIGEON_OK;
}

/* Packs `m` into a fresh buffer; an empty buffer for NULL. */
static pigeon_status
pack_message(const ProtobufCMessage *m, ProtobufCBinaryData *out)
{
	size_t n = m != NULL ? protobuf_c_message_get_packed_size(m) : 0;

	out->len = n;
	out->data = NULL;
	if (n == 0)
		return PIGEON_OK;
	if ((out->data = malloc(n)) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	protobuf_c_message_pack(m, out->data);
	return PIGEON_OK;
}

static pigeon_status
pack_envelope(const ProtobufCMessage *env, uint8_t **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(env);
	uint8_t *b;

	/* An all-default envelope packs to zero bytes; malloc(0) may be NULL. */
	if ((b = malloc(n > 0 ? n : 1)) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	protobuf_c_message_pack(env, b);
	*buf = b;
	*len = n;
	return PIGEON_OK;
}

pigeon_status
rpc_request_pack_token(const char *method, uint64_t client_id, uint64_t request_id,
    int64_t deadline_ms, const char *token, const ProtobufCMessage *req, uint8_t **buf,
    size_t *len)
{
	Pigeon__V1__RequestEnvelope env = PIGEON__V1__REQUEST_ENVELOPE__INIT;
	pigeon_status rv;

	if ((rv = pack_message(req, &env.payload)) != PIGEON_OK)
		return rv;
	env.method = (char *)method;
	env.client_id = client_id;
	env.request_id = request_id;
	env.deadline_ms = deadline_ms;
	if (token != NULL)
		env.token = (char *)token;
	rv = pack_envelope(&env.base, buf, len);
	free(env.payload.data);
	return rv;
}

pigeon_status
rpc_request_pack(const char *method, uint64_t client_id, uint64_t request_id, int64_t deadline_ms,
    const ProtobufCMessage *req, uint8_t **buf, size_t *len)
{
	return rpc_request_pack_token(method, client_id, request_id, deadline_ms, NULL, req, buf,
	    len);
}

pigeon_status
rpc_reply_pack(pigeon_status st, const char *message, const ProtobufCMessage *reply,
    uint64_t request_id, uint8_t **buf, size_t *len)
{
	Pigeon__V1__ReplyEnvelope env = PIGEON__V1__REPLY_ENVELOPE__INIT;
	pigeon_status rv;

	if (st == PIGEON_OK && (rv = pack_message(reply, &env.payload)) != PIGEON_OK)
		return rv;
	env.status = (uint32_t)st;
	env.message = (char *)(message != NULL ? message : "");
	env.request_id = request_id;
	rv = pack_envelope(&env.base, buf, len);
	free(env.payload.data);
	return rv;
}

pigeon_status
rpc_reply_decode(const void *buf, size_t len, Pigeon__V1__ReplyEnvelope **env)
{
	Pigeon__V1__ReplyEnvelope *e;

	if ((e = pigeon__v1__reply_envelope__unpack(NULL, len, buf)) == NULL)
		return PIGEON_INVALID_ARGUMENT;
	*env = e;
	return PIGEON_OK;
}

static void *
pb_budget_alloc(void *data, size_t size)
{
	pb_budget *b = data;

	if (size > b->budget - b->used)
		return NULL;
	b->used += size;
	return malloc(size);
}

static void
pb_budget_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

void
pb_budget_init(pb_budget *b, size_t budget)
{
	b->base.alloc = pb_budget_alloc;
	b->base.free = pb_budget_free;
	b->base.allocator_data = b;
	b->budget = budget;
	b->used = 0;
}

size_t
pb_budget_for(size_t len)
{
	/* A decoded message needs its struct plus at most a few times its
	 * wire size in strings, byte fields and arrays; anything asking for
	 * more is crafted to blow up. */
	return 64 * 1024 + 4 * len;
}
