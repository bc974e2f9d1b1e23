/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: one request's bytes through rpc_dispatch, as pigeond's server
 * hands them over: the size limit, the envelope, de-duplication, the
 * deadline, the method lookup and the payload decode of every method's
 * request type.  The service behind it answers every method with an empty
 * reply of the method's type, so reply packing runs too.  Replies are
 * decoded again to check the envelope the dispatcher wrote.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <pigeon/pigeon.h>
#include <pigeon/v1/envelope.pb-c.h>

#include "codec.h"
#include "dispatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define F_ANSWER(fn, Req, Rep, REP_INIT)                                                    \
	static void f_##fn(Pigeon__V1__Pigeon_Service *s, const Req *in,                     \
	    void (*closure)(const Rep *, void *), void *data)                               \
	{                                                                                   \
		Rep r = REP_INIT;                                                           \
                                                                                            \
		(void)s;                                                                    \
		(void)in;                                                                   \
		closure(&r, data);                                                          \
	}
F_ANSWER(login, Pigeon__V1__LoginRequest, Pigeon__V1__LoginReply, PIGEON__V1__LOGIN_REPLY__INIT)
F_ANSWER(logout, Pigeon__V1__LogoutRequest, Pigeon__V1__LogoutReply,
    PIGEON__V1__LOGOUT_REPLY__INIT)
F_ANSWER(send_message, Pigeon__V1__SendMessageRequest, Pigeon__V1__SendMessageReply,
    PIGEON__V1__SEND_MESSAGE_REPLY__INIT)
F_ANSWER(get_user_stats, Pigeon__V1__GetUserStatsRequest, Pigeon__V1__UserStats,
    PIGEON__V1__USER_STATS__INIT)
F_ANSWER(list_inbound_messages, Pigeon__V1__ListInboundMessagesRequest,
    Pigeon__V1__ListInboundMessagesReply, PIGEON__V1__LIST_INBOUND_MESSAGES_REPLY__INIT)
F_ANSWER(get_spammer_stats, Pigeon__V1__LeaderboardRequest, Pigeon__V1__Leaderboard,
    PIGEON__V1__LEADERBOARD__INIT)
F_ANSWER(get_chatter_stats, Pigeon__V1__LeaderboardRequest, Pigeon__V1__Leaderboard,
    PIGEON__V1__LEADERBOARD__INIT)
F_ANSWER(list_online_users, Pigeon__V1__ListOnlineUsersRequest,
    Pigeon__V1__ListOnlineUsersReply, PIGEON__V1__LIST_ONLINE_USERS_REPLY__INIT)
F_ANSWER(get_event_journal, Pigeon__V1__GetEventJournalRequest,
    Pigeon__V1__GetEventJournalReply, PIGEON__V1__GET_EVENT_JOURNAL_REPLY__INIT)
F_ANSWER(register_user, Pigeon__V1__RegisterUserRequest, Pigeon__V1__RegisterUserReply,
    PIGEON__V1__REGISTER_USER_REPLY__INIT)
F_ANSWER(revoke_sessions, Pigeon__V1__RevokeSessionsRequest, Pigeon__V1__RevokeSessionsReply,
    PIGEON__V1__REVOKE_SESSIONS_REPLY__INIT)
F_ANSWER(heartbeat, Pigeon__V1__HeartbeatRequest, Pigeon__V1__HeartbeatReply,
    PIGEON__V1__HEARTBEAT_REPLY__INIT)
F_ANSWER(get_user, Pigeon__V1__GetUserRequest, Pigeon__V1__GetUserReply,
    PIGEON__V1__GET_USER_REPLY__INIT)
F_ANSWER(mark_read, Pigeon__V1__MarkReadRequest, Pigeon__V1__MarkReadReply,
    PIGEON__V1__MARK_READ_REPLY__INIT)
F_ANSWER(report_message, Pigeon__V1__ReportMessageRequest, Pigeon__V1__ReportMessageReply,
    PIGEON__V1__REPORT_MESSAGE_REPLY__INIT)
F_ANSWER(train, Pigeon__V1__TrainRequest, Pigeon__V1__TrainReply, PIGEON__V1__TRAIN_REPLY__INIT)
F_ANSWER(health, Pigeon__V1__HealthRequest, Pigeon__V1__HealthReply,
    PIGEON__V1__HEALTH_REPLY__INIT)

static Pigeon__V1__Pigeon_Service f_service = PIGEON__V1__PIGEON__INIT(f_);
static rpc_dispatcher *f_dispatcher;

static void
f_reply(void *arg, const uint8_t *buf, size_t len)
{
	Pigeon__V1__ReplyEnvelope *env;

	/* The dispatcher must always answer with a well-formed envelope. */
	if (rpc_reply_decode(buf, len, &env) != PIGEON_OK)
		abort();
	pigeon__v1__reply_envelope__free_unpacked(env, NULL);
	(*(int *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int replies = 0;

	if (f_dispatcher == NULL) {
		/* Small limits, so the fuzzer reaches them. */
		rpc_dispatch_opts o = {.request_max = 65536, .dedup_capacity = 16};

		if (rpc_dispatcher_new(&f_dispatcher, &f_service.base, &o) != PIGEON_OK)
			abort();
	}
	rpc_dispatch(f_dispatcher, data, size, f_reply, &replies);
	/* Every handler here answers at once: exactly one reply. */
	if (replies != 1)
		abort();
	return 0;
}
