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

static void
svc_login(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__LoginRequest *in,
    Pigeon__V1__LoginReply_Closure closure, void *call)
{
	if (check_username(call, "username", in->username))
		store_login(svc_of(base)->st, in->username, rpc_call_done, call);
}

static void
svc_logout(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__LogoutRequest *in,
    Pigeon__V1__LogoutReply_Closure closure, void *call)
{
	if (check_username(call, "username", in->username))
		store_logout(svc_of(base)->st, in->username, rpc_call_done, call);
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
	store_send_message(svc->st, in, rpc_call_done, call);
}

static void
svc_get_user_stats(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__GetUserStatsRequest *in,
    Pigeon__V1__UserStats_Closure closure, void *call)
{
	if (check_username(call, "username", in->username))
		store_get_user_stats(svc_of(base)->st, in->username, rpc_call_done, call);
}

static void
svc_list_inbound_messages(Pigeon__V1__Pigeon_Service *base,
    const Pigeon__V1__ListInboundMessagesRequest *in,
    Pigeon__V1__ListInboundMessagesReply_Closure closure, void *call)
{
	if (check_username(call, "username", in->username) &&
	    check_page(call, "page_size", in->page_size))
		store_list_inbound_messages(svc_of(base)->st, in, rpc_call_done, call);
}

static void
svc_get_spammer_stats(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__LeaderboardRequest *in,
    Pigeon__V1__Leaderboard_Closure closure, void *call)
{
	if (check_page(call, "limit", in->limit))
		store_get_spammer_stats(svc_of(base)->st, in->limit, rpc_call_done, call);
}

static void
svc_get_chatter_stats(Pigeon__V1__Pigeon_Service *base, const Pigeon__V1__LeaderboardRequest *in,
    Pigeon__V1__Leaderboard_Closure closure, void *call)
{
	if (check_page(call, "limit", in->limit))
		store_get_chatter_stats(svc_of(base)->st, in->limit, rpc_call_done, call);
}

static void
svc_list_online_users(Pigeon__V1__Pigeon_Service *base,
    const Pigeon__V1__ListOnlineUsersRequest *in,
    Pigeon__V1__ListOnlineUsersReply_Closure closure, void *call)
{
	if (check_page(call, "page_size", in->page_size))
		store_list_online_users(svc_of(base)->st, in, rpc_call_done, call);
}

static void
svc_get_event_journal(Pigeon__V1__Pigeon_Service *base,
    const Pigeon__V1__GetEventJournalRequest *in,
    Pigeon__V1__GetEventJournalReply_Closure closure, void *call)
{
	if (check_page(call, "page_size", in->page_size))
		store_get_event_journal(svc_of(base)->st, in, rpc_call_done, call);
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
	store_register_user(svc_of(base)->st, in, rpc_call_done, call);
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
