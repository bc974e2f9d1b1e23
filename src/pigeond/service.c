/* SPDX-License-Identifier: MIT */
/* Request validation and the hand-over to the store; see service.h. */
#include "service.h"

#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "pigeon-config.h"
#include "clocks.h"
#include "validate.h"

#define PAGE_MAX 1000
#define IDEMPOTENCY_KEY_MAX 128

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
