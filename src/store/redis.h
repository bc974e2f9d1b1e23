/* SPDX-License-Identifier: MIT */
/*
 * What every Redis connection of the store shares: parsing the store's URL,
 * the one table from Redis error replies to pigeon_status, the embedded Lua
 * scripts and loading them, and connecting with a socket timeout.  It owns no
 * thread and no state; conn.c, sub.c and queue.c each own their
 * connections.  Nothing outside src/store includes this header.
 */
#ifndef PIGEON_STORE_REDIS_H
#define PIGEON_STORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <pigeon/wire.h>

#define STORE_DEFAULT_URL "redis://127.0.0.1:6379"

typedef struct store_url {
	bool is_unix;
	/* Host name or address, or the socket's path. */
	char host[256];
	int port;
} store_url;

/* Parses "redis://host:port", "redis://host" (port 6379) or "unix:/path".
 * INVALID_ARGUMENT for anything else; *out written only on success. */
pigeon_status store_url_parse(const char *url, store_url *out);

/* The status for a Redis error reply's text.  Scripts raise errors whose first
 * word is a status name ("NOT_FOUND Couldn't find ..."): that status, and
 * *msg points after the name.  Redis's own errors: OOM is
 * RESOURCE_EXHAUSTED; LOADING, BUSY, MASTERDOWN, READONLY, TRYAGAIN are
 * UNAVAILABLE; anything else INTERNAL; *msg is then the whole text. */
pigeon_status store_status_from_error(const char *err, const char **msg);

/* The Lua scripts, one per mutating operation plus the multi-key reads. */
typedef enum store_script {
	STORE_SCRIPT_LOGIN,
	STORE_SCRIPT_LOGOUT,
	STORE_SCRIPT_REGISTER,
	STORE_SCRIPT_SEND,
	STORE_SCRIPT_CLAIM,
	STORE_SCRIPT_FINISH,
	STORE_SCRIPT_DEADLETTER,
	STORE_SCRIPT_USER_STATS,
	STORE_SCRIPT_INBOX,
	STORE_SCRIPT_HEALTH,
	STORE_SCRIPT_AUTH_READ,
	STORE_SCRIPT_AUTH_FAIL,
	STORE_SCRIPT_AUTH_REVOKE,
	STORE_SCRIPT_AUTH_REVOKE_ALL,
	STORE_SCRIPT_AUTH_REGISTER_COUNT,
	STORE_SCRIPT_PRESENCE_SWEEP,
	STORE_SCRIPT_PRESENCE_ADOPT,
	STORE_SCRIPT_HEARTBEAT,
	STORE_SCRIPT_USER,
	STORE_SCRIPT_MARK_READ,
	STORE_SCRIPT_READ_MESSAGE,
	STORE_SCRIPT_REPORT,
	STORE_SCRIPT_TRAIN,
	STORE_SCRIPT_COUNT
} store_script;

typedef char store_sha[41];

const char *store_script_text(store_script s);

/* Connects with a connect and socket timeout of timeout_ms.  On failure
 * returns NULL and writes why into err. */
redisContext *store_redis_connect(const store_url *u, int timeout_ms, char *err, size_t errlen);

/* SCRIPT LOAD of every script, pipelined; fills shas.  A failure leaves the
 * context unusable (the caller drops it) and writes why into err. */
pigeon_status store_redis_load_scripts(
    redisContext *c, store_sha shas[STORE_SCRIPT_COUNT], char *err, size_t errlen);

/* Creates the queue's consumer group (and stream) when missing. */
pigeon_status store_redis_create_group(redisContext *c, char *err, size_t errlen);

/* Commands being written in RESP, the protocol's request form, one after
 * the other into one growing buffer: what hiredis's formatting does, without
 * its sprintf per argument (17% of pigeond's instructions per send when it
 * was used).  The caller's storage: zero it (or STORE_CMD_INIT) before the
 * first use.  Out of memory makes every later append a no-op and sets
 * `failed`; store_cmd_reset clears both the text and `failed`. */
typedef struct store_cmd {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
} store_cmd;

#define STORE_CMD_INIT {NULL, 0, 0, false}

/* Starts a command of argc arguments, the command's name included. */
void store_cmd_begin(store_cmd *c, size_t argc);
/* Starts EVALSHA sha 0 followed by nargs arguments. */
void store_cmd_evalsha(store_cmd *c, const char *sha, size_t nargs);
void store_cmd_arg(store_cmd *c, const char *s, size_t len);
void store_cmd_str(store_cmd *c, const char *s);
void store_cmd_u64(store_cmd *c, uint64_t v);
void store_cmd_reset(store_cmd *c);
/* Frees the buffer.  Accepts a zeroed command. */
void store_cmd_fini(store_cmd *c);

/* True when the reply is an error starting with "NOSCRIPT". */
bool store_reply_is_noscript(const redisReply *r);

/* The status for a broken context (c->err set). */
pigeon_status store_status_from_context(const redisContext *c);

/* HASH username -> role, and HASH skeleton -> username (validate.h's
 * validate_username_skeleton): users.c and register.lua write both. */
#define STORE_KEY_USERS "pigeon:users"
#define STORE_KEY_USER_SKELETONS "pigeon:user-skeletons"

/* Names of the queue stream and its group, shared by the store and workers. */
#define STORE_KEY_QUEUE "pigeon:queue"
#define STORE_GROUP "workers"
/* ZSET consumer name -> last heartbeat (ms since the epoch, the worker's
 * clock): the workers alive now, for Health. */
#define STORE_KEY_WORKERS "pigeon:workers"

/* The pub/sub channels the scripts publish their events on (prelude.lua's
 * journal, send.lua, finish.lua); sub.c subscribes to them and reply.c
 * decodes what they carry. */
#define STORE_CHANNEL_JOURNAL "event_journal"
#define STORE_CHANNEL_QUEUE "message_queue"
#define STORE_CHANNEL_DELIVERED "message_delivered"
#define STORE_CHANNEL_READ "message_read"
/* Names a user whose sign-in state changed (auth_revoke, auth_revoke_all):
 * pigeond drops what it cached of sign-ins (docs/auth.md). */
#define STORE_CHANNEL_AUTH "pigeon:auth"

/* A consumer of the group that has not read for this long is taken for
 * dead: Health does not count it, and store_queue_reclaim deletes it once it
 * holds nothing.  Live workers read at least once a second. */
#define STORE_CONSUMER_LIVE_MS 10000

#endif
