/* SPDX-License-Identifier: MIT */
/* Tokens, passwords and permissions of --auth required; see identity.h. */
#include "identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <pthread.h>
#include <stdatomic.h>

#include "clocks.h"
#include "dispatch.h"
#include "keys.h"
#include "log.h"
#include "sub.h"
#include "token.h"

/* The cache of valid sessions, by their tokens: slots chosen by a hash of
 * the token's text, a colliding token replacing the one before; each stripe
 * of slots has a lock.  A slot holds a token that verified and what the
 * round trip said of its session, for CACHE_TTL_MS at most, a bound on
 * staleness should a revocation's message be lost in a way the subscriber
 * does not notice.  A request whose token is byte for byte a cached one
 * (compared in constant time) skips the base64 and the HMAC as well as the
 * round trip: about 30,000 instructions of the 66,000 a SendMessage with a
 * token cost pigeond otherwise (callgrind, docs/performance.md). */
#define CACHE_SLOTS 8192
#define CACHE_STRIPES 64
#define CACHE_TTL_MS 30000
/* Tokens are compared in blocks of 64 bytes, zero-padded, with libsodium's
 * constant-time crypto_verify_64. */
#define CACHE_TOKEN_BLOCKS ((AUTH_TOKEN_MAX + 63) / 64)
/* The last characters of a token: base64 of its random tag. */
#define CACHE_HASHED_TAIL 12
/* Every request of a session is its activity (presence): it renews the
 * session's deadline, at most once per this interval per session that the
 * cache holds, so a busy session costs Redis one small script a second,
 * not one per request. */
#define TOUCH_EVERY_MS 1000

typedef struct cache_slot {
	unsigned char token[CACHE_TOKEN_BLOCKS * 64];
	size_t token_len;
	auth_claims claims;
	bool admin;
	/* The cache's epoch when the round trip began, and when it answered. */
	uint64_t epoch;
	int64_t cached_ms;
	/* When the session's deadline was last renewed through this slot. */
	int64_t touched_ms;
} cache_slot;

typedef struct auth_cache {
	cache_slot slots[CACHE_SLOTS];
	pthread_mutex_t stripes[CACHE_STRIPES];
	/* Bumped by every revocation heard of and every (re)subscription: an
	 * entry of an older epoch is not used. */
	atomic_uint_fast64_t epoch;
	/* The subscription is up: only then is anything cached. */
	atomic_bool live;
	atomic_uint_fast64_t hits;
	atomic_uint_fast64_t misses;
} auth_cache;

/* What a password shorter than PASSWD_MIN is verified as, against the dummy
 * hash. */
#define PASSWD_SHORT "........"

struct identity {
	store *st;
	auth_keys *keys;
	passwd_pool *pool;
	identity_opts o;
	store_sub *sub;
	auth_cache *cache;
};

/* FNV-1a of the end of the token's text, its tag's base64: random, so
 * slots spread evenly. */
static unsigned
cache_index(const char *token, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = len > CACHE_HASHED_TAIL ? len - CACHE_HASHED_TAIL : 0; i < len; i++)
		h = (h ^ (uint8_t)token[i]) * 16777619u;
	return h % CACHE_SLOTS;
}

/* True when the zero-padded block copies a and b are equal, in constant
 * time. */
static bool
tokens_equal(const unsigned char *a, const unsigned char *b)
{
	int diff = 0;

	for (size_t i = 0; i < CACHE_TOKEN_BLOCKS; i++)
		diff |= crypto_verify_64(a + 64 * i, b + 64 * i);
	return diff == 0;
}

/* True, with its claims and *admin, when token[0..len) is a cached token
 * whose session was valid and whose expiry has not passed at now; *touch
 * then says whether the session's deadline is due for renewal (and counts it
 * renewed). */
static bool
cache_lookup(auth_cache *c, const char *token, size_t len, int64_t now, auth_claims *claims,
    bool *admin, bool *touch)
{
	unsigned i = cache_index(token, len);
	pthread_mutex_t *mu = &c->stripes[i % CACHE_STRIPES];
	cache_slot *s = &c->slots[i];
	unsigned char padded[CACHE_TOKEN_BLOCKS * 64] = {0};
	bool hit;

	if (!atomic_load(&c->live) || len == 0 || len > AUTH_TOKEN_MAX) {
		atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
		return false;
	}
	memcpy(padded, token, len);
	pthread_mutex_lock(mu);
	hit = s->token_len == len && s->epoch == atomic_load(&c->epoch) &&
	    now - s->cached_ms < CACHE_TTL_MS && now < s->claims.expires_ms &&
	    tokens_equal(s->token, padded);
	if (hit) {
		*claims = s->claims;
		*admin = s->admin;
		if ((*touch = now - s->touched_ms >= TOUCH_EVERY_MS))
			s->touched_ms = now;
	}
	pthread_mutex_unlock(mu);
	atomic_fetch_add_explicit(hit ? &c->hits : &c->misses, 1, memory_order_relaxed);
	return hit;
}

/* Remembers token[0..len), which verified with claims, as valid, as the
 * round trip begun at epoch said. */
static void
cache_store(auth_cache *c, const char *token, size_t len, const auth_claims *claims, bool admin,
    uint64_t epoch, int64_t now)
{
	unsigned i = cache_index(token, len);
	pthread_mutex_t *mu = &c->stripes[i % CACHE_STRIPES];
	cache_slot *s = &c->slots[i];

	if (!atomic_load(&c->live) || epoch != atomic_load(&c->epoch) || len > AUTH_TOKEN_MAX)
		return;
	pthread_mutex_lock(mu);
	memset(s->token, 0, sizeof(s->token));
	memcpy(s->token, token, len);
	s->token_len = len;
	s->claims = *claims;
	s->admin = admin;
	s->epoch = epoch;
	s->cached_ms = now;
	s->touched_ms = now;
	pthread_mutex_unlock(mu);
}

static void
cache_forget(auth_cache *c)
{
	atomic_fetch_add(&c->epoch, 1);
}

static void
on_auth_message(void *arg, const char *payload, size_t len)
{
	(void)payload;
	(void)len;
	cache_forget(arg);
}

static void
on_auth_connect(void *arg)
{
	auth_cache *c = arg;

	cache_forget(c);
	atomic_store(&c->live, true);
}

static void
on_auth_lost(void *arg)
{
	auth_cache *c = arg;

	atomic_store(&c->live, false);
	cache_forget(c);
}

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
	/* The cache's epoch when the round trip began. */
	uint64_t epoch;
	/* The request's token (for the cache), or Login's new one; and the
	 * user's generation Login read. */
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
	rv = PIGEON_RESOURCE_EXHAUSTED;
	snprintf(err, errlen, "out of memory");
	if ((id->cache = calloc(1, sizeof(*id->cache))) == NULL)
		goto fail_pool;
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_init(&id->cache->stripes[i], NULL);
	if ((rv = store_sub_open_auth(&id->sub, o->redis_url, on_auth_message, on_auth_connect,
		 on_auth_lost, id->cache)) != PIGEON_OK) {
		snprintf(err, errlen, "cannot subscribe to sign-in changes: %s",
		    pigeon_status_name(rv));
		goto fail_cache;
	}
	*out = id;
	return PIGEON_OK;

fail_cache:
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_destroy(&id->cache->stripes[i]);
	free(id->cache);
fail_pool:
	passwd_pool_free(id->pool);
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
	store_sub_close(id->sub);
	passwd_pool_free(id->pool);
	auth_keys_free(id->keys);
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_destroy(&id->cache->stripes[i]);
	free(id->cache);
	free(id);
}

void
identity_render(identity *id, prom_text *t)
{
	passwd_stats ps;

	passwd_pool_stats(id->pool, &ps);
	prom_single(t, "pigeon_auth_session_cache_hits_total", "counter",
	    "Requests whose session was found valid in the cache, without a round trip to Redis.",
	    prom_load(&id->cache->hits));
	prom_single(t, "pigeon_auth_session_cache_misses_total", "counter",
	    "Requests whose session had to be checked in Redis.", prom_load(&id->cache->misses));
	prom_family(t, "pigeon_auth_passwd_jobs", "gauge",
	    "Password hashes and checks on the pool, by state.");
	prom_printf(t, "pigeon_auth_passwd_jobs{state=\"running\"} %u\n", ps.running);
	prom_printf(t, "pigeon_auth_passwd_jobs{state=\"queued\"} %u\n", ps.queued);
	prom_single(t, "pigeon_auth_passwd_refused_total", "counter",
	    "Password hashes and checks refused because the pool was full (RESOURCE_EXHAUSTED).",
	    ps.refused);
}

/* ---- authorising a request ---- */

static void
touched(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	(void)arg;
	(void)st;
	(void)errmsg;
	(void)reply;
}

/* The session made a request: its activity renews its deadline (presence);
 * nobody waits for the answer. */
static void
touch(identity *id, const auth_claims *claims)
{
	store_heartbeat(id->st, claims->username, claims->session, touched, NULL);
}

/* The caller of a valid session: PERMISSION_DENIED unless they may do
 * what the request asks, else on to then. */
static void
permit(const auth_claims *claims, bool admin, void *call, const void *in, identity_need need,
    const char *acting_for, const char *what, identity_then then, void *ctx)
{
	identity_caller who;

	if ((need == IDENTITY_ADMIN && !admin) ||
	    (need == IDENTITY_SELF_OR_ADMIN && !admin && strcmp(acting_for, claims->username) != 0)) {
		rpc_call_fail(call, PIGEON_PERMISSION_DENIED, "%s needs %s", what,
		    need == IDENTITY_ADMIN ? "an admin" : "that user or an admin");
		return;
	}
	who.username = claims->username;
	who.session = claims->session;
	who.expires_ms = claims->expires_ms;
	who.admin = admin;
	then(ctx, call, in, &who);
}

static void
authorize_read(void *arg, pigeon_status st, const char *errmsg, const store_auth *a)
{
	flow *f = arg;

	if (st != PIGEON_OK) {
		rpc_call_fail(f->call, st, "%s", errmsg != NULL ? errmsg : "");
	} else if (!a->exists || a->revoked || a->generation != f->claims.generation) {
		rpc_call_fail(f->call, PIGEON_UNAUTHENTICATED, IDENTITY_BAD_TOKEN);
	} else {
		cache_store(f->id->cache, f->token, strlen(f->token), &f->claims, a->admin, f->epoch,
		    clocks_wall_ms());
		touch(f->id, &f->claims);
		permit(&f->claims, a->admin, f->call, f->in, f->need, f->acting_for, f->what,
		    f->then, f->ctx);
	}
	flow_free(f);
}

void
identity_authorize(identity *id, void *call, const void *in, identity_need need,
    const char *acting_for, const char *what, identity_then then, void *ctx)
{
	const char *token = rpc_call_token(call);
	size_t len = strlen(token);
	int64_t now = clocks_wall_ms();
	auth_claims claims;
	bool admin, due;
	flow *f;

	if (cache_lookup(id->cache, token, len, now, &claims, &admin, &due)) {
		if (due)
			touch(id, &claims);
		permit(&claims, admin, call, in, need, acting_for != NULL ? acting_for : "", what,
		    then, ctx);
		return;
	}
	if (auth_token_verify(id->keys, token, len, now, &claims, NULL) != PIGEON_OK) {
		rpc_call_fail(call, PIGEON_UNAUTHENTICATED, IDENTITY_BAD_TOKEN);
		return;
	}
	if ((f = flow_new(id, call, in)) == NULL)
		return;
	f->claims = claims;
	/* The token is at most AUTH_TOKEN_MAX: it verified. */
	memcpy(f->token, token, len + 1);
	f->epoch = atomic_load(&id->cache->epoch);
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
	store_login_again(id->st, in->username, f->claims.session, login_done, f);
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
	if (st != PIGEON_OK) {
		rpc_call_fail(f->call, st, "%s", errmsg != NULL ? errmsg : "");
	} else {
		/* Before anyone hears of the logout. */
		cache_forget(f->id->cache);
		/* The caller's own session, or (an admin's logout of another user)
		 * all of the user's: claims.session is "" then. */
		store_logout_again(f->id->st, in->username, f->claims.session, rpc_call_done, f->call);
	}
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
	if (strcmp(who->username, req->username) == 0) {
		snprintf(f->claims.session, sizeof(f->claims.session), "%s", who->session);
		store_auth_revoke(id->st, who->username, who->session, who->expires_ms,
		    clocks_wall_ms(), logout_revoked, f);
	} else {
		store_auth_revoke_all(id->st, req->username, logout_revoked, f);
	}
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
		cache_forget(f->id->cache);
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
