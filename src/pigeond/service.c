/* SPDX-License-Identifier: MIT */
/* Request validation and the hand-over to the store; see service.h. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "dispatch.h"
#include "pigeon-config.h"
#include "clocks.h"
#include "validate.h"

#define PAGE_MAX 1000
#define IDEMPOTENCY_KEY_MAX 128
/* Texts one Train call may carry. */
#define TRAIN_TEXTS_MAX 1000

struct service {
	Pigeon__V1__Pigeon_Service base;
	store *st;
	identity *id;
	size_t content_max;
	int64_t started_ms;
};

static service *
svc_of(Pigeon__V1__Pigeon_Service *base)
{
	return (service *)base;
}

/* Fails the call and returns false when `name` is not a valid username. */
static bool
check_username(void *call, const char *field, const char *name)
{
	validate_why vw;
	const char *why;

	if (name == NULL || name[0] == '\0') {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "missing %s", field);
		return false;
	}
	if ((why = validate_username(name, strlen(name), &vw)) != NULL) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "%s: %s", field, why);
		return false;
	}
	return true;
}

static bool
check_page(void *call, const char *field, uint32_t n)
{
	if (n > PAGE_MAX) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "%s must be at most %d", field,
		    PAGE_MAX);
		return false;
	}
	return true;
}

/* Fails the call and returns false when content is not acceptable. */
static bool
check_content(void *call, const char *content, size_t content_max)
{
	size_t len = content != NULL ? strlen(content) : 0;

	if (len == 0) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "missing content");
		return false;
	}
	if (len > content_max) {
		rpc_call_fail(call, PIGEON_RESOURCE_EXHAUSTED, PIGEON_CONTENT_TOO_LARGE " of %zu bytes",
		    content_max);
		return false;
	}
	if (!validate_utf8(content, len)) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "content is not valid UTF-8");
		return false;
	}
	return true;
}

/* Runs then at once in open mode; in required mode once identity.h has
 * checked the caller's token and rights. */
static void
authorized(service *svc, void *call, const void *in, identity_need need, const char *acting_for,
    const char *what, identity_then then)
{
	if (svc->id == NULL)
		then(svc, call, in, NULL);
	else
		identity_authorize(svc->id, call, in, need, acting_for, what, then, svc);
}

static void
svc_login(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__LoginRequest *in,
    Pigeon__V1__LoginReply_Closure closure, void *call)
{
	service *svc = svc_of(base);

	if (!check_username(call, "username", in->username))
		return;
	if (svc->id != NULL)
		identity_login(svc->id, call, in);
	else
		store_login(svc->st, in->username, rpc_call_done, call);
}

static void
svc_logout(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__LogoutRequest *in,
    Pigeon__V1__LogoutReply_Closure closure, void *call)
{
	service *svc = svc_of(base);

	if (!check_username(call, "username", in->username))
		return;
	if (svc->id != NULL)
		identity_logout(svc->id, call, in);
	else
		store_logout(svc->st, in->username, rpc_call_done, call);
}

static void
send_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	store_send_message(((service *)ctx)->st, in, rpc_call_done, call);
}

static void
svc_send_message(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__SendMessageRequest *in,
    Pigeon__V1__SendMessageReply_Closure closure, void *call)
{
	service *svc = svc_of(base);

	if (!check_username(call, "sender", in->sender) ||
	    !check_username(call, "recipient", in->recipient) ||
	    !check_content(call, in->content, svc->content_max))
		return;
	if (in->idempotency_key != NULL && strlen(in->idempotency_key) > IDEMPOTENCY_KEY_MAX) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT,
		    "idempotency_key is longer than %d bytes", IDEMPOTENCY_KEY_MAX);
		return;
	}
	authorized(svc, call, in, IDENTITY_SELF_OR_ADMIN, in->sender, "sending as another user",
	    send_authorized);
}

static void
user_stats_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	const Pigeon__V1__GetUserStatsRequest *req = in;

	store_get_user_stats(((service *)ctx)->st, req->username, rpc_call_done, call);
}

static void
svc_get_user_stats(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__GetUserStatsRequest *in,
    Pigeon__V1__UserStats_Closure closure, void *call)
{
	if (check_username(call, "username", in->username))
		authorized(svc_of(base), call, in, IDENTITY_SELF_OR_ADMIN, in->username,
		    "reading another user's stats", user_stats_authorized);
}

static void
inbox_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	store_list_inbound_messages(((service *)ctx)->st, in, rpc_call_done, call);
}

static void
svc_list_inbound_messages(Pigeon__V1__Pigeon_Service *base,
    const Pigeon__V1__ListInboundMessagesRequest *in,
    Pigeon__V1__ListInboundMessagesReply_Closure closure, void *call)
{
	if (check_username(call, "username", in->username) &&
	    check_page(call, "page_size", in->page_size))
		authorized(svc_of(base), call, in, IDENTITY_SELF_OR_ADMIN, in->username,
		    "reading another user's inbox", inbox_authorized);
}

static void
spammers_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	const Pigeon__V1__LeaderboardRequest *req = in;

	store_get_spammer_stats(((service *)ctx)->st, req->limit, rpc_call_done, call);
}

static void
svc_get_spammer_stats(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__LeaderboardRequest *in,
    Pigeon__V1__Leaderboard_Closure closure, void *call)
{
	if (check_page(call, "limit", in->limit))
		authorized(svc_of(base), call, in, IDENTITY_SIGNED_IN, NULL, NULL, spammers_authorized);
}

static void
chatters_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	const Pigeon__V1__LeaderboardRequest *req = in;

	store_get_chatter_stats(((service *)ctx)->st, req->limit, rpc_call_done, call);
}

static void
svc_get_chatter_stats(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__LeaderboardRequest *in,
    Pigeon__V1__Leaderboard_Closure closure, void *call)
{
	if (check_page(call, "limit", in->limit))
		authorized(svc_of(base), call, in, IDENTITY_SIGNED_IN, NULL, NULL, chatters_authorized);
}

static void
online_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	store_list_online_users(((service *)ctx)->st, in, rpc_call_done, call);
}

static void
svc_list_online_users(Pigeon__V1__Pigeon_Service *base,
    const Pigeon__V1__ListOnlineUsersRequest *in,
    Pigeon__V1__ListOnlineUsersReply_Closure closure, void *call)
{
	if (check_page(call, "page_size", in->page_size))
		authorized(svc_of(base), call, in, IDENTITY_SIGNED_IN, NULL, NULL, online_authorized);
}

static void
journal_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	store_get_event_journal(((service *)ctx)->st, in, rpc_call_done, call);
}

static void
svc_get_event_journal(Pigeon__V1__Pigeon_Service *base,
    const Pigeon__V1__GetEventJournalRequest *in,
    Pigeon__V1__GetEventJournalReply_Closure closure, void *call)
{
	if (check_page(call, "page_size", in->page_size))
		authorized(svc_of(base), call, in, IDENTITY_ADMIN, NULL, "reading the event journal",
		    journal_authorized);
}

static void
svc_register_user(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__RegisterUserRequest *in,
    Pigeon__V1__RegisterUserReply_Closure closure, void *call)
{
	if (!check_username(call, "username", in->username))
		return;
	if (in->role != PIGEON__V1__ROLE__ROLE_UNSPECIFIED &&
	    in->role != PIGEON__V1__ROLE__ROLE_REGULAR && in->role != PIGEON__V1__ROLE__ROLE_ADMIN) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "unknown role %d", (int)in->role);
		return;
	}
	if (svc_of(base)->id != NULL)
		identity_register(svc_of(base)->id, call, in);
	else
		store_register_user(svc_of(base)->st, in, rpc_call_done, call);
}

static void
svc_revoke_sessions(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__RevokeSessionsRequest *in,
    Pigeon__V1__RevokeSessionsReply_Closure closure, void *call)
{
	service *svc = svc_of(base);

	if (!check_username(call, "username", in->username))
		return;
	if (svc->id == NULL)
		rpc_call_fail(call, PIGEON_FAILED_PRECONDITION,
		    "sessions exist only when pigeond runs with --auth required");
	else
		identity_revoke_sessions(svc->id, call, in);
}

static void
heartbeat_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	const Pigeon__V1__HeartbeatRequest *req = in;
	/* The caller's own session, in required mode; an admin's heartbeat for
	 * another user, and any in open mode, the user's as a whole. */
	const char *session =
	    who != NULL && strcmp(who->username, req->username) == 0 ? who->session : "";

	store_heartbeat(((service *)ctx)->st, req->username, session, rpc_call_done, call);
}

static void
svc_heartbeat(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__HeartbeatRequest *in,
    Pigeon__V1__HeartbeatReply_Closure closure, void *call)
{
	if (check_username(call, "username", in->username))
		authorized(svc_of(base), call, in, IDENTITY_SELF_OR_ADMIN, in->username,
		    "keeping another user's session alive", heartbeat_authorized);
}

static void
user_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	const Pigeon__V1__GetUserRequest *req = in;

	store_get_user(((service *)ctx)->st, req->username, rpc_call_done, call);
}

static void
svc_get_user(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__GetUserRequest *in,
    Pigeon__V1__GetUserReply_Closure closure, void *call)
{
	if (check_username(call, "username", in->username))
		authorized(svc_of(base), call, in, IDENTITY_SIGNED_IN, NULL, NULL, user_authorized);
}

static void
mark_read_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	const Pigeon__V1__MarkReadRequest *req = in;

	store_mark_read(((service *)ctx)->st, req->username, req->up_to_id, rpc_call_done, call);
}

static void
svc_mark_read(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__MarkReadRequest *in,
    Pigeon__V1__MarkReadReply_Closure closure, void *call)
{
	if (check_username(call, "username", in->username))
		authorized(svc_of(base), call, in, IDENTITY_SELF_OR_ADMIN, in->username,
		    "reading another user's messages", mark_read_authorized);
}

/* ---- the Bayesian filter's tokens ---- */

/* Tokens of one or more texts, as NUL-terminated strings for the store: the
 * strings in one growing buffer, found by their offsets. */
typedef struct token_list {
	char *text;
	size_t len, cap;
	size_t *at;
	size_t n, ncap;
	bool failed;
} token_list;

static void
token_list_put(token_list *tl, const char *s, size_t len)
{
	if (tl->failed)
		return;
	if (tl->len + len + 1 > tl->cap) {
		size_t cap = tl->cap > 0 ? tl->cap : 1024;
		char *p;

		while (cap < tl->len + len + 1)
			cap *= 2;
		if ((p = realloc(tl->text, cap)) == NULL) {
			tl->failed = true;
			return;
		}
		tl->text = p;
		tl->cap = cap;
	}
	if (tl->n == tl->ncap) {
		size_t ncap = tl->ncap > 0 ? tl->ncap * 2 : 64;
		size_t *p = realloc(tl->at, ncap * sizeof(*p));

		if (p == NULL) {
			tl->failed = true;
			return;
		}
		tl->at = p;
		tl->ncap = ncap;
	}
	memcpy(tl->text + tl->len, s, len);
	tl->text[tl->len + len] = '\0';
	tl->at[tl->n++] = tl->len;
	tl->len += len + 1;
}

/* Tokens are stored by their key: 16 hex digits, whatever the token's
 * length (docs/redis-schema.md, "Reports and spam learning"). */
static void
token_found(const char *tok, size_t len, uint64_t hash, void *arg)
{
	char hex[17];

	(void)tok;
	(void)len;
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)hash);
	token_list_put(arg, hex, 16);
}

/* The strings as an array of pointers into the buffer (free it), or NULL
 * without memory. */
static const char **
token_list_ptrs(const token_list *tl)
{
	const char **v = malloc((tl->n > 0 ? tl->n : 1) * sizeof(*v));

	for (size_t i = 0; v != NULL && i < tl->n; i++)
		v[i] = tl->text + tl->at[i];
	return v;
}

static void
token_list_free(token_list *tl)
{
	free(tl->text);
	free(tl->at);
}

/* ---- ReportMessage ---- */

/* A report reads the message as its recipient sees it, takes the Bayes
 * tokens of its content here (the store's scripts have no ICU), then one
 * script changes its state and teaches the filter. */
typedef struct report_call {
	service *svc;
	void *call;
	char username[PIGEON_USERNAME_MAX + 1];
	uint64_t id;
	bool spam;
} report_call;

static void
report_read(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	report_call *r = arg;
	const Pigeon__V1__ReportMessageReply *rep = (const Pigeon__V1__ReportMessageReply *)reply;
	token_list tl = {0};
	const char **tokens = NULL;

	if (st != PIGEON_OK) {
		rpc_call_done(r->call, st, errmsg, NULL);
		goto done;
	}
	spam_bayes_tokens(rep->message->content, strlen(rep->message->content), token_found, &tl);
	if (tl.failed || (tokens = token_list_ptrs(&tl)) == NULL)
		rpc_call_fail(r->call, PIGEON_RESOURCE_EXHAUSTED, "out of memory");
	else
		store_report(r->svc->st, r->username, r->id, r->spam, tokens, tl.n, rpc_call_done,
		    r->call);
done:
	free(tokens);
	token_list_free(&tl);
	free(r);
}

static void
report_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	const Pigeon__V1__ReportMessageRequest *req = in;
	report_call *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		rpc_call_fail(call, PIGEON_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	r->svc = ctx;
	r->call = call;
	snprintf(r->username, sizeof(r->username), "%s", req->username);
	r->id = req->message_id;
	r->spam = req->spam;
	store_read_message(r->svc->st, r->username, r->id, report_read, r);
}

static void
svc_report_message(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__ReportMessageRequest *in,
    Pigeon__V1__ReportMessageReply_Closure closure, void *call)
{
	if (!check_username(call, "username", in->username))
		return;
	if (in->message_id == 0) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "missing message_id");
		return;
	}
	authorized(svc_of(base), call, in, IDENTITY_SELF_OR_ADMIN, in->username,
	    "reporting another user's messages", report_authorized);
}

/* ---- Train ---- */

/* Appends one text's part of a training batch: its kind, its token count
 * and its tokens. */
static void
train_add(token_list *tl, const char *kind, const char *text)
{
	token_list counted = {0};
	char k[24];

	spam_bayes_tokens(text, strlen(text), token_found, &counted);
	if (counted.failed) {
		tl->failed = true;
	} else {
		token_list_put(tl, kind, strlen(kind));
		snprintf(k, sizeof(k), "%zu", counted.n);
		token_list_put(tl, k, strlen(k));
		for (size_t i = 0; i < counted.n; i++)
			token_list_put(
			    tl, counted.text + counted.at[i], strlen(counted.text + counted.at[i]));
	}
	token_list_free(&counted);
}

static void
train_authorized(void *ctx, void *call, const void *in, const identity_caller *who)
{
	const Pigeon__V1__TrainRequest *req = in;
	token_list tl = {0};
	const char **batch;

	for (size_t i = 0; i < req->n_spam; i++)
		train_add(&tl, "spam", req->spam[i]);
	for (size_t i = 0; i < req->n_ham; i++)
		train_add(&tl, "ham", req->ham[i]);
	if (tl.failed || (batch = token_list_ptrs(&tl)) == NULL) {
		rpc_call_fail(call, PIGEON_RESOURCE_EXHAUSTED, "out of memory");
	} else {
		store_train(((service *)ctx)->st, batch, tl.n, rpc_call_done, call);
		free(batch);
	}
	token_list_free(&tl);
}

/* Fails the call and returns false unless every text is acceptable. */
static bool
check_texts(void *call, const char *field, char *const *texts, size_t n, size_t content_max)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(texts[i]);

		if (len == 0) {
			rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "%s[%zu] is empty", field, i);
			return false;
		}
		if (len > content_max) {
			rpc_call_fail(call, PIGEON_RESOURCE_EXHAUSTED,
			    "%s[%zu]: " PIGEON_CONTENT_TOO_LARGE " of %zu bytes", field, i, content_max);
			return false;
		}
		if (!validate_utf8(texts[i], len)) {
			rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "%s[%zu] is not valid UTF-8", field,
			    i);
			return false;
		}
	}
	return true;
}

static void
svc_train(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__TrainRequest *in,
    Pigeon__V1__TrainReply_Closure closure, void *call)
{
	service *svc = svc_of(base);

	if (in->n_spam + in->n_ham == 0) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "nothing to learn: no spam and no ham");
		return;
	}
	if (in->n_spam + in->n_ham > TRAIN_TEXTS_MAX) {
		rpc_call_fail(call, PIGEON_INVALID_ARGUMENT, "at most %d texts per call",
		    TRAIN_TEXTS_MAX);
		return;
	}
	if (!check_texts(call, "spam", in->spam, in->n_spam, svc->content_max) ||
	    !check_texts(call, "ham", in->ham, in->n_ham, svc->content_max))
		return;
	authorized(svc, call, in, IDENTITY_ADMIN, NULL, "training the spam filter", train_authorized);
}

/* Health adds what only this process knows to the store's answer. */
typedef struct health_call {
	service *svc;
	void *call;
} health_call;

static void
health_done(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	health_call *h = arg;

	if (st == PIGEON_OK) {
		Pigeon__V1__HealthReply out = *(const Pigeon__V1__HealthReply *)reply;

		out.version = (char *)PIGEON_VERSION;
		out.uptime_ms = clocks_wall_ms() - h->svc->started_ms;
		rpc_call_done(h->call, st, NULL, &out.base);
	} else {
		rpc_call_done(h->call, st, errmsg, NULL);
	}
	free(h);
}

static void
svc_health(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__HealthRequest *in,
    Pigeon__V1__HealthReply_Closure closure, void *call)
{
	health_call *h;

	if ((h = malloc(sizeof(*h))) == NULL) {
		rpc_call_fail(call, PIGEON_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	h->svc = svc_of(base);
	h->call = call;
	store_health(h->svc->st, health_done, h);
}

pigeon_status
service_new(service **out, store *st, const service_opts *opts)
{
	static const Pigeon__V1__Pigeon_Service handlers = PIGEON__V1__PIGEON__INIT(svc_);
	service *svc;

	if ((svc = calloc(1, sizeof(*svc))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	svc->base = handlers;
	svc->st = st;
	svc->id = opts != NULL ? opts->id : NULL;
	svc->content_max = opts != NULL && opts->content_max > 0 ? opts->content_max
								 : PIGEON_CONTENT_MAX_DEFAULT;
	svc->started_ms = clocks_wall_ms();
	*out = svc;
	return PIGEON_OK;
}

void
service_free(service *svc)
{
	free(svc);
}

ProtobufCService *
service_base(service *svc)
{
	return &svc->base.base;
}
