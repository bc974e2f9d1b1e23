/* SPDX-License-Identifier: MIT */
/*
 * The handlers of the service pigeon.v1.Pigeon: each validates its request
 * (usernames, content, page sizes), in --auth required mode has identity.h
 * check the caller's token and rights, and hands it to the store, whose
 * answer goes straight back to the caller.  The generated service struct lists one
 * handler per RPC, so an RPC added to the .proto does not compile until its
 * handler exists here.
 */
#ifndef PIGEON_SERVICE_H
#define PIGEON_SERVICE_H

#include <stddef.h>

#include <pigeon/wire.h>
#include <protobuf-c/protobuf-c.h>

#include "identity.h"
#include "store.h"

typedef struct service_opts {
	/* Largest message content accepted, bytes; 0: 64 KiB. */
	size_t content_max;
	/* --auth required: who may do what (borrowed; must outlive the
	 * service).  NULL: --auth open, where anyone acts as anyone. */
	identity *id;
} service_opts;

typedef struct service service;

/* A service answering from `st` (borrowed; must outlive it). */
pigeon_status service_new(service **out, store *st, const service_opts *opts);
void service_free(service *svc);
/* The generic protobuf-c view of the service, for the dispatcher. */
ProtobufCService *service_base(service *svc);

#endif
