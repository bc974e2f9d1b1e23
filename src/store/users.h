/* SPDX-License-Identifier: MIT */
/*
 * The users Redis must know before a connection serves: the users file
 * (store_opts.users_file), the users every store starts with, one
 * "username role" a line, role as Redis stores it ("regular" or "admin",
 * src/protocol/names.h), '#' starting a comment; and the confusable skeleton
 * of every user, which register.lua checks a new name against.  It reads and
 * checks the file once, at store_open, and writes both at every connect
 * (store_users_write, which conn.c calls).  Nothing outside src/store
 * includes this header.
 */
#ifndef PIGEON_STORE_USERS_H
#define PIGEON_STORE_USERS_H

#include <stddef.h>

#include <hiredis/hiredis.h>
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
 * missing file, INVALID_ARGUMENT for a malformed line or for a name whose
 * skeleton equals an earlier line's (both logged with their numbers),
 * RESOURCE_EXHAUSTED without memory, INTERNAL when ICU cannot compute
 * skeletons; *out is written only on OK. */
pigeon_status store_users_load(const char *path, store_users *out);

/* Frees what load allocated and empties u.  Accepts NULL and a zeroed u. */
void store_users_fini(store_users *u);

/* Adds u's users that Redis lacks (HSETNX pigeon:users, so registered users
 * and changed roles stay), then gives every user in pigeon:users that has
 * none its skeleton in pigeon:user-skeletons (HSCAN, then HSETNX skeleton
 * -> name): a Redis written before skeletons existed, or by a pigeond that
 * did not keep them, gets them before this connection serves a
 * registration.  Names that are no longer acceptable usernames get none
 * (they cannot log in either) and are counted in the log.  An error reply
 * is logged and skipped, as the users file's HSETNX always were; a broken
 * context returns its status with why in err, and the caller drops it.
 * Borrows everything; one context per thread. */
pigeon_status store_users_write(redisContext *c, const store_users *u, char *err, size_t errlen);

#endif
