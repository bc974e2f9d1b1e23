/* SPDX-License-Identifier: MIT */
/*
 * The users file (store_opts.users_file): the users every store starts with,
 * one "username role" a line, role as Redis stores it ("regular" or "admin",
 * src/protocol/names.h), '#' starting a comment.  It reads and checks the
 * file once, at store_open; it does not write them to Redis (each connection
 * does, with HSETNX, at every connect: conn.c).  Nothing outside src/store
 * includes this header.
 */
#ifndef PIGEON_STORE_USERS_H
#define PIGEON_STORE_USERS_H

#include <stddef.h>

#include <pigeon/wire.h>
#include <pigeon/v1/pigeon.pb-c.h>

typedef struct store_user {
	char *name;
	Pigeon__V1__Role role;
} store_user;

/* The caller's storage; zeroed, it holds no user. */
typedef struct store_users {
	store_user *v;
	size_t n;
} store_users;

/* Reads the file at path into *out, which it overwrites.  NOT_FOUND for a
 * missing file, INVALID_ARGUMENT for a malformed line (logged with its
 * number), RESOURCE_EXHAUSTED without memory; *out is written only on OK. */
pigeon_status store_users_load(const char *path, store_users *out);

/* Frees what load allocated and empties u.  Accepts NULL and a zeroed u. */
void store_users_fini(store_users *u);

#endif
