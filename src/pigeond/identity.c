/* SPDX-License-Identifier: MIT */
/* Tokens, passwords and permissions of --auth required; see identity.h. */
#include "identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clocks.h"
#include "dispatch.h"
#include "keys.h"
#include "log.h"
#include "token.h"

/* What a password shorter than PASSWD_MIN is verified as, against the dummy
 * hash. */
#define PASSWD_SHORT "........"

struct identity {
	store *st;
	auth_keys *keys;
	passwd_pool *pool;
	identity_opts o;
};

/* One request on its way through the checks and the store's answers. */
typedef struct flow {
	identity *id;
	void *call;
	const void *in;
	identity_need need;
	char acting_for[PIGEON_USERNAME_MAX + 1];
	const char *what;
	identity_then then;
	void *ctx;
	auth_claims claims;
	/* Login: the reply's token and the LOGIN event's answer. */
	char token[AUTH_TOKEN_MAX + 1];
	uint64_t generation;
} flow;

static flow *
flow_new(identity *id, void *call, const void *in)
{
	flow *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		rpc_call_fail(call, PIGEON_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	f->id = id;
	f->call = call;
	f->in = in;
	return f;
}

static void
flow_free(flow *f)
{
	sodium_memzero(f->token, sizeof(f->token));
	free(f);
}

pigeon_status
identity_new(identity **out, store *st, const identity_opts *o, char *err, size_t errlen)
{
	identity *id;
	pigeon_status rv;

	if ((id = calloc(1, sizeof(*id))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	id->st = st;
	id->o = *o;
	if ((rv = auth_keys_load(&id->keys, o->key_file, o->key_file_previous, err, errlen)) !=
	    PIGEON_OK)
		goto fail;
	if ((rv = passwd_pool_new(&id->pool, &o->passwd)) != PIGEON_OK) {
		snprintf(err, errlen, "cannot start the password hashing pool: %s",
		    pigeon_status_name(rv));
		goto fail_keys;
	}
	*out = id;
	return PIGEON_OK;

fail_keys:
	auth_keys_free(id->keys);
fail:
	free(id);
	return rv;
}

void
identity_free(identity *id)
{
	if (id == NULL)
		return;
	passwd_pool_free(id->pool);
	auth_keys_free(id->keys);
	free(id);
}

/* ---- authorising a request ---- */

static void
authorize_read(void *arg, pigeon_status st, const char *errmsg, const store_auth *a)
{
	flow *f = arg;
	identity_caller who;

	if (st != PIGEON_OK) {
		rpc_call_fail(f->call, st, "%s", errmsg != NULL ? errmsg : "");
		goto out;
	}
	if (!a->exists || a->revoked || a->generation != f->claims.generation) {
		rpc_call_fail(f->call, PIGEON_UNAUTHENTICATED, IDENTITY_BAD_TOKEN);
		goto out;
	}
	if ((f->need == IDENTITY_ADMIN && !a->admin) ||
	    (f->need == IDENTITY_SELF_OR_ADMIN && !a->admin &&
		strcmp(f->acting_for, f->claims.username) != 0)) {
		rpc_call_fail(f->call, PIGEON_PERMISSION_DENIED, "%s needs %s", f->what,
		    f->need == IDENTITY_ADMIN ? "an admin" : "that user or an admin");
		goto out;
	}
	who.username = f->claims.username;
	who.session = f->claims.session;
	who.expires_ms = f->claims.expires_ms;
	who.admin = a->admin;
	f->then(f->ctx, f->call, f->in, &who);
out:
	flow_free(f);
}

void
identity_authorize(identity *id, void *call, const void *in, identity_need need,
    const char *acting_for, const char *what, identity_then then, void *ctx)
{
	const char *token = rpc_call_token(call);
	int64_t now = clocks_wall_ms();
	flow *f;

	if ((f = flow_new(id, call, in)) == NULL)
		return;
	if (auth_token_verify(id->keys, token, strlen(token), now, &f->claims, NULL) != PIGEON_OK) {
		rpc_call_fail(call, PIGEON_UNAUTHENTICATED, IDENTITY_BAD_TOKEN);
		flow_free(f);
		return;
	}
	f->need = need;
	snprintf(f->acting_for, sizeof(f->acting_for), "%s", acting_for != NULL ? acting_for : "");
	f->what = what;
	f->then = then;
	f->ctx = ctx;
	store_auth_read(id->st, f->claims.username, f->claims.session, now, authorize_read, f);
}

/* ---- Login ---- */

static void
login_done(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	flow *f = arg;

	if (st == PIGEON_OK) {
		Pigeon__V1__LoginReply out = *(const Pigeon__V1__LoginReply *)reply;

		out.token = f->token;
		out.expires_ms = f->claims.expires_ms;
		rpc_call_done(f->call, PIGEON_OK, NULL, &out.base);
	} else {
		rpc_call_done(f->call, st, errmsg, NULL);
	}
	flow_free(f);
}

static void
login_counted(void *arg, pigeon_status st, const char *errmsg, const store_auth *a)
{
	flow *f = arg;

	(void)a;
	if (st != PIGEON_OK)
		rpc_call_fail(f->call, st, "%s", errmsg != NULL ? errmsg : "");
	else
		rpc_call_fail(f->call, PIGEON_UNAUTHENTICATED, IDENTITY_BAD_LOGIN);
	flow_free(f);
}

/* On a pool thread: the password checked (or the dummy for no user). */
static void
login_verified(void *arg, pigeon_status st)
{
	flow *f = arg;
	const Pigeon__V1__LoginRequest *in = f->in;
	identity *id = f->id;

	if (st == PIGEON_UNAUTHENTICATED) {
		store_auth_fail(id->st, in->username, id->o.login_window_ms, login_counted, f);
		return;
	}
	if (st == PIGEON_OK)
		st = auth_token_issue(id->keys, in->username, f->generation,
		    clocks_wall_ms() + id->o.token_ttl_ms, &f->claims, f->token, sizeof(f->token));
	if (st != PIGEON_OK) {
		rpc_call_fail(f->call, st == PIGEON_CANCELLED ? PIGEON_UNAVAILABLE : st,
		    "cannot check the password now");
		flow_free(f);
		return;
	}
	store_login_again(id->st, in->username, login_done, f);
}

static void
login_read(void *arg, pigeon_status st, const char *errmsg, const store_auth *a)
{
	flow *f = arg;
	const Pigeon__V1__LoginRequest *in = f->in;
	identity *id = f->id;
	const char *pw = in->password != NULL ? in->password : "";

	if (st != PIGEON_OK) {
		rpc_call_fail(f->call, st, "%s", errmsg != NULL ? errmsg : "");
		flow_free(f);
		return;
	}
	if (a->count >= id->o.login_fails_max) {
		rpc_call_fail(f->call, PIGEON_RESOURCE_EXHAUSTED,
		    "too many failed logins for this username; try again later");
		flow_free(f);
		return;
	}
	f->generation = a->generation;
	/* A user without a password hash (or none at all), and a password too
	 * short to be anyone's, are checked against the pool's dummy hash: the
	 * same work, the same answer. */
	if (strlen(pw) < PASSWD_MIN)
		st = passwd_verify(id->pool, NULL, PASSWD_SHORT, PASSWD_MIN, login_verified, f);
	else
		st = passwd_verify(id->pool, a->exists && a->hash[0] != '\0' ? a->hash : NULL, pw,
		    strlen(pw), login_verified, f);
	if (st != PIGEON_OK) {
		rpc_call_fail(f->call, st,
		    st == PIGEON_RESOURCE_EXHAUSTED ? "too many logins in progress; try again"
						    : "cannot check the password");
		flow_free(f);
	}
}

void
identity_login(identity *id, void *call, const Pigeon__V1__LoginRequest *in)
{
	flow *f;

	if (in->password == NULL || strlen(in->password) > PASSWD_MAX) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "password must be at most %d bytes",
		    PASSWD_MAX);
		return;
	}
	if ((f = flow_new(id, call, in)) != NULL)
		store_auth_read(id->st, in->username, "", clocks_wall_ms(), login_read, f);
}

/* ---- RegisterUser ---- */

/* On a pool thread: the new user's password hashed. */
static void
register_hashed(void *arg, pigeon_status st, const char *hash)
{
	flow *f = arg;

	if (st != PIGEON_OK)
		rpc_call_fail(f->call, st == PIGEON_CANCELLED ? PIGEON_UNAVAILABLE : st,
		    "cannot hash the password now");
	else
		store_register_user_password(f->id->st, f->in, hash, rpc_call_done, f->call);
	flow_free(f);
}

static void
register_counted(void *arg, pigeon_status st, const char *errmsg, const store_auth *a)
{
	flow *f = arg;
	const Pigeon__V1__RegisterUserRequest *in = f->in;

	if (st != PIGEON_OK) {
		rpc_call_fail(f->call, st, "%s", errmsg != NULL ? errmsg : "");
	} else if (a->count > f->id->o.register_max) {
		rpc_call_fail(f->call, PIGEON_RESOURCE_EXHAUSTED,
		    "too many registrations; try again later");
	} else if ((st = passwd_hash(f->id->pool, in->password, strlen(in->password),
			register_hashed, f)) != PIGEON_OK) {
		rpc_call_fail(f->call, st,
		    st == PIGEON_RESOURCE_EXHAUSTED ? "too many registrations in progress; try again"
						    : "cannot hash the password");
	} else {
		return;
	}
	flow_free(f);
}

static void
register_start(void *ctx, void *call, const void *in, const identity_caller *who)
{
	identity *id = ctx;
	flow *f;

	(void)who;
	if ((f = flow_new(id, call, in)) != NULL)
		store_auth_register_count(id->st, id->o.register_window_ms, register_counted, f);
}

void
identity_register(identity *id, void *call, const Pigeon__V1__RegisterUserRequest *in)
{
	size_t len = in->password != NULL ? strlen(in->password) : 0;

	if (len < PASSWD_MIN || len > PASSWD_MAX) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "password must be %d to %d bytes",
		    PASSWD_MIN, PASSWD_MAX);
		return;
	}
	if (in->role == PIGEON__V1__ROLE__ROLE_ADMIN)
		identity_authorize(id, call, in, IDENTITY_ADMIN, NULL, "registering an admin",
		    register_start, id);
	else
		register_start(id, call, in, NULL);
}

/* ---- Logout and RevokeSessions ---- */

static void
logout_revoked(void *arg, pigeon_status st, const char *errmsg, const store_auth *a)
{
	flow *f = arg;
	const Pigeon__V1__LogoutRequest *in = f->in;

	(void)a;
	if (st != PIGEON_OK)
		rpc_call_fail(f->call, st, "%s", errmsg != NULL ? errmsg : "");
	else
		store_logout_again(f->id->st, in->username, rpc_call_done, f->call);
	flow_free(f);
}

static void
logout_start(void *ctx, void *call, const void *in, const identity_caller *who)
{
	identity *id = ctx;
	const Pigeon__V1__LogoutRequest *req = in;
	flow *f;

	if ((f = flow_new(id, call, in)) == NULL)
		return;
	/* Users log their own session out; an admin logging someone else out
	 * ends every session of theirs. */
	if (strcmp(who->username, req->username) == 0)
		store_auth_revoke(id->st, who->username, who->session, who->expires_ms,
		    clocks_wall_ms(), logout_revoked, f);
	else
		store_auth_revoke_all(id->st, req->username, logout_revoked, f);
}

void
identity_logout(identity *id, void *call, const Pigeon__V1__LogoutRequest *in)
{
	identity_authorize(id, call, in, IDENTITY_SELF_OR_ADMIN, in->username,
	    "logging another user out", logout_start, id);
}

static void
revoke_all_done(void *arg, pigeon_status st, const char *errmsg, const store_auth *a)
{
	flow *f = arg;
	const Pigeon__V1__RevokeSessionsRequest *in = f->in;
	Pigeon__V1__RevokeSessionsReply out = PIGEON__V1__REVOKE_SESSIONS_REPLY__INIT;

	if (st != PIGEON_OK) {
		rpc_call_fail(f->call, st, "%s", errmsg != NULL ? errmsg : "");
	} else {
		out.username = in->username;
		out.generation = a->generation;
		rpc_call_done(f->call, PIGEON_OK, NULL, &out.base);
	}
	flow_free(f);
}

static void
revoke_start(void *ctx, void *call, const void *in, const identity_caller *who)
{
	identity *id = ctx;
	const Pigeon__V1__RevokeSessionsRequest *req = in;
	flow *f;

	(void)who;
	if ((f = flow_new(id, call, in)) != NULL)
		store_auth_revoke_all(id->st, req->username, revoke_all_done, f);
}

void
identity_revoke_sessions(identity *id, void *call, const Pigeon__V1__RevokeSessionsRequest *in)
{
	identity_authorize(id, call, in, IDENTITY_SELF_OR_ADMIN, in->username,
	    "revoking another user's sessions", revoke_start, id);
}
