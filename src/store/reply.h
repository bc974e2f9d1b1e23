/* SPDX-License-Identifier: MIT */
/*
 * What Redis answers, turned into the wire's messages: the reply to each
 * store operation into its RPC's reply message (proto/pigeon/v1/pigeon.proto),
 * and journal entries and published payloads into pigeon.v1.Event.  Both
 * event forms go through one field table, so an event read from the journal
 * and the same event received over pub/sub pack to the same bytes.  It owns
 * which reply shapes are valid (what each script and command returns:
 * docs/redis-schema.md); any other shape answers INTERNAL and never crashes.
 *
 * Pure: no I/O, no threads, no state.  conn.c hands it the replies its
 * connections read and sub.c the payloads its subscription receives; the
 * unit tests feed it RESP through hiredis's reader.  Nothing outside
 * src/store includes this header.  Thread-safe.
 */
#ifndef PIGEON_STORE_REPLY_H
#define PIGEON_STORE_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <pigeon/wire.h>

#include "store.h"
#include "sub.h"

/* The store's operations, by the shape of their reply. */
typedef enum store_op_kind {
	STORE_OP_LOGIN,
	STORE_OP_LOGOUT,
	STORE_OP_SEND,
	STORE_OP_USER_STATS,
	STORE_OP_INBOX,
	STORE_OP_SPAMMERS,
	STORE_OP_CHATTERS,
	STORE_OP_ONLINE,
	STORE_OP_JOURNAL,
	STORE_OP_REGISTER,
	STORE_OP_HEALTH,
	STORE_OP_HEARTBEAT,
	STORE_OP_USER,
	STORE_OP_MARK_READ,
	/* read_message and report: ReportMessageReply. */
	STORE_OP_REPORT,
	STORE_OP_TRAIN,
	/* Sign-in state (store_auth_cb): every auth_ script. */
	STORE_OP_AUTH,
	/* Presence steps (store_presence_cb): every presence_ script, and the
	 * check whether any session is due (TIME, then the earliest deadline). */
	STORE_OP_PRESENCE,
	STORE_OP_PRESENCE_DUE,
} store_op_kind;

/* What answering an operation needs besides Redis's reply. */
typedef struct store_reply_req {
	store_op_kind kind;
	/* The user the reply message names (login, logout, user stats,
	 * register, user); borrowed. */
	const char *username;
	/* The page size asked for (inbox, online, journal): the command asked
	 * for one more, to learn whether more follow. */
	uint32_t page;
	/* STORE_OP_AUTH answers through auth_cb, STORE_OP_PRESENCE through
	 * presence_cb, every other kind through cb. */
	store_cb cb;
	void *arg;
	store_auth_cb auth_cb;
	store_presence_cb presence_cb;
} store_reply_req;

/* Answers q from r, the reply to its command, and r2, the reply to the
 * command written right after it (the journal's GET of its last sequence,
 * the presence check's earliest deadline; NULL for every other kind).  Runs
 * q's callback exactly once: OK with the reply message, whose strings point
 * into r; an error reply's status and message (store_status_from_error,
 * redis.h), Health then answering OK with NOT_SERVING; INTERNAL "unexpected
 * reply from redis" for a shape the operation never gets;
 * RESOURCE_EXHAUSTED "out of memory".  Borrows r and r2. */
void store_reply_complete(const store_reply_req *q, const redisReply *r, const redisReply *r2);

/* Answers q with a failure: runs q's callback once with rv and msg
 * (borrowed), but Health answers OK with NOT_SERVING for anything but
 * CANCELLED. */
void store_reply_fail(const store_reply_req *q, pigeon_status rv, const char *msg);

/* Decodes one payload of len bytes published on channel (the scripts' JSON,
 * docs/redis-schema.md) and runs fn(arg, topic, event) once, both borrowed
 * for the call.  NOT_FOUND for a channel the store does not publish on;
 * INVALID_ARGUMENT for a payload that is not an event of that channel (not a
 * JSON object, an unknown type, a field of the wrong type or out of range,
 * a journal event without its sequence, a delivery without a valid
 * recipient, a READ without a valid sender, reader or message id); fn does
 * not run then. */
pigeon_status store_reply_published(
    const char *channel, const char *payload, size_t len, store_sub_fn fn, void *arg);

#endif
