/* SPDX-License-Identifier: MIT */
/*
 * The RPC envelope codec (proto/pigeon/v1/envelope.proto): packing requests
 * and replies, and decoding untrusted bytes with a byte-budgeted allocator.
 * No sockets here; used by the server and by libpigeon.
 */
#ifndef PIGEON_PROTOCOL_CODEC_H
#define PIGEON_PROTOCOL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <pigeon/wire.h>
#include <pigeon/v1/envelope.pb-c.h>

/* A protobuf-c allocator that refuses to hand out more than `budget` bytes in
 * total, so that decoding untrusted bytes cannot be made to allocate much
 * more than the input's size.  Initialise, pass &b->base to
 * *__unpack, free the message with the same allocator. */
typedef struct pb_budget {
	ProtobufCAllocator base;
	size_t budget;
	size_t used;
} pb_budget;

void pb_budget_init(pb_budget *b, size_t budget);

/* The budget used for decoding `len` untrusted bytes: a fixed overhead plus
 * a multiple of the input. */
size_t pb_budget_for(size_t len);

/* A decoded request envelope and the allocator its memory came from. */
typedef struct rpc_request {
	Pigeon__V1__RequestEnvelope *env;
	pb_budget budget;
} rpc_request;

/* Decodes buf[0..len) as a RequestEnvelope into r.  INVALID_ARGUMENT for
 * bytes that are not one (garbage, truncated, over the decode budget) or
 * whose method is empty.  On failure r needs no fini. */
pigeon_status rpc_request_decode(rpc_request *r, const void *buf, size_t len);
void rpc_request_fini(rpc_request *r);

/* Decodes an envelope's payload as a message of type `desc`, allocating from
 * `budget`.  INVALID_ARGUMENT when it does not decode. */
pigeon_status rpc_payload_decode(const ProtobufCMessageDescriptor *desc,
    const ProtobufCBinaryData *payload, pb_budget *budget, ProtobufCMessage **out);

/* Packs a request envelope around `req` (packed into the payload), with
 * the caller's session token (NULL or "": none).  On OK, *buf is malloc'd
 * and the caller frees it. */
pigeon_status rpc_request_pack_token(const char *method, uint64_t client_id,
    uint64_t request_id, int64_t deadline_ms, const char *token, const ProtobufCMessage *req,
    uint8_t **buf, size_t *len);
/* rpc_request_pack_token without a token. */
pigeon_status rpc_request_pack(const char *method, uint64_t client_id, uint64_t request_id,
    int64_t deadline_ms, const ProtobufCMessage *req, uint8_t **buf, size_t *len);

/* Packs a reply envelope: status, message (may be NULL) and, when status is
 * OK, the packed `reply` (may be NULL for an empty payload).  On OK, *buf is
 * malloc'd and the caller frees it. */
pigeon_status rpc_reply_pack(pigeon_status st, const char *message, const ProtobufCMessage *reply,
    uint64_t request_id, uint8_t **buf, size_t *len);

/* Decodes a reply envelope (from a server: trusted, but still bounded by the
 * socket's receive limit).  Returns INVALID_ARGUMENT if it does not decode;
 * otherwise OK, with *env to free with
 * pigeon__v1__reply_envelope__free_unpacked(env, NULL). */
pigeon_status rpc_reply_decode(const void *buf, size_t len, Pigeon__V1__ReplyEnvelope **env);

#endif
