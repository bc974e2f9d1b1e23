/* SPDX-License-Identifier: MIT */
/*
 * Identity in --auth required mode (docs/auth.md): who a request comes from
 * and what they may do, and the RPCs that manage sign-in (Login,
 * RegisterUser, Logout, RevokeSessions).
 *
 * A request's session token is checked in two steps: its signature and
 * expiry here, without Redis (auth/token.h), then the user's token
 * generation and the session's revocation in one store round trip, whose
 * answer for a valid session is cached: later requests of the session need
 * no round trip.  Every revocation publishes the user's name on the auth
 * channel, and every pigeond drops its whole cache when it hears one (and
 * caches nothing while its subscription is down); the pigeond that revoked
 * drops its own before it answers.  Every failure answers UNAUTHENTICATED
 * with the same message, so a caller learns nothing about which check
 * failed.  Passwords are hashed and
 * verified on a bounded pool of threads (auth/passwd.h), never on the RPC
 * threads.  Secrets (passwords, tokens, keys) never reach a log line.
 */
#ifndef PIGEON_IDENTITY_H
#define PIGEON_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include <pigeon/v1/pigeon.pb-c.h>
#include <pigeon/wire.h>

#include "passwd.h"
#include "prom.h"
#include "store.h"

/* The answer to every token that does not verify. */
#define IDENTITY_BAD_TOKEN "missing, invalid, expired or revoked session token"
/* The answer to an unknown user and to a wrong password alike. */
#define IDENTITY_BAD_LOGIN "wrong username or password"

typedef struct identity_opts {
	/* The Redis of the store, for the subscription that keeps the cache of
	 * sign-ins true (STORE_CHANNEL_AUTH). */
	const char *redis_url;
	/* The signing key file (32 or more random bytes) and an optional
	 * previous one, still accepted for verification. */
	const char *key_file;
	const char *key_file_previous;
	/* How long a token is valid, ms. */
	int64_t token_ttl_ms;
	/* Failed logins of one username within login_window_ms after which
	 * further attempts answer RESOURCE_EXHAUSTED until the window passes. */
	unsigned login_fails_max;
	int64_t login_window_ms;
	/* Registrations accepted within register_window_ms, from anyone. */
	unsigned register_max;
	int64_t register_window_ms;
	/* The password hashing pool and its argon2id parameters. */
	passwd_opts passwd;
} identity_opts;

typedef struct identity identity;

/* Loads the keys and starts the hashing pool.  On failure writes why into
 * err (never any key byte). */
pigeon_status identity_new(
    identity **out, store *st, const identity_opts *o, char *err, size_t errlen);
/* Stops the pool (hashing in progress finishes).  Accepts NULL. */
void identity_free(identity *id);

/* Who a request comes from, once its token verified; borrowed for the
 * continuation's call only. */
typedef struct identity_caller {
	const char *username;
	const char *session;
	int64_t expires_ms;
	bool admin;
} identity_caller;

typedef enum identity_need {
	/* Any signed-in user. */
	IDENTITY_SIGNED_IN,
	/* The user named by the request, or an admin. */
	IDENTITY_SELF_OR_ADMIN,
	/* An admin. */
	IDENTITY_ADMIN,
} identity_need;

typedef void (*identity_then)(void *ctx, void *call, const void *in, const identity_caller *who);

/* Checks the token of request `call` and that its caller may do what the
 * request asks (`acting_for`: the user the request acts for, with
 * IDENTITY_SELF_OR_ADMIN; `what`: the action, for PERMISSION_DENIED's
 * message), then runs then(ctx, call, in, caller), maybe on the store's
 * thread; or fails the call with UNAUTHENTICATED, PERMISSION_DENIED or the
 * store's status. */
void identity_authorize(identity *id, void *call, const void *in, identity_need need,
    const char *acting_for, const char *what, identity_then then, void *ctx);

/* Renders the identity metrics into t (docs/operations.md): the session
 * cache's hits and misses, and the password pool's jobs and refusals.  Safe
 * from any thread. */
void identity_render(identity *id, prom_text *t);

/* The RPCs of sign-in, each finishing `call`; the request is validated
 * except for the password. */
void identity_login(identity *id, void *call, const Pigeon__V1__LoginRequest *in);
void identity_register(identity *id, void *call, const Pigeon__V1__RegisterUserRequest *in);
void identity_logout(identity *id, void *call, const Pigeon__V1__LogoutRequest *in);
void identity_revoke_sessions(
    identity *id, void *call, const Pigeon__V1__RevokeSessionsRequest *in);

#endif
