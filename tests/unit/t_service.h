/* SPDX-License-Identifier: MIT */
/*
 * A pigeon.v1.Pigeon service for dispatcher tests: each test file writes its
 * own t_login and t_logout, and T_SERVICE_REST answers every other method
 * UNIMPLEMENTED.  Then `PIGEON__V1__PIGEON__INIT(t_)` is the service.
 */
#ifndef PIGEON_TEST_T_SERVICE_H
#define PIGEON_TEST_T_SERVICE_H

#include <pigeon/v1/pigeon.pb-c.h>

#include "dispatch.h"

#define T_UNIMPLEMENTED(fn, Req, Closure)                                                   \
	static void t_##fn(Pigeon__V1__Pigeon_Service *s, const Req *in, Closure closure,    \
	    void *data)                                                                     \
	{                                                                                   \
		rpc_call_fail(data, PIGEON_UNIMPLEMENTED, "not in this test");              \
	}

#define T_SERVICE_REST                                                                      \
	T_UNIMPLEMENTED(send_message, Pigeon__V1__SendMessageRequest,                         \
	    Pigeon__V1__SendMessageReply_Closure)                                           \
	T_UNIMPLEMENTED(get_user_stats, Pigeon__V1__GetUserStatsRequest,                      \
	    Pigeon__V1__UserStats_Closure)                                                  \
	T_UNIMPLEMENTED(list_inbound_messages, Pigeon__V1__ListInboundMessagesRequest,        \
	    Pigeon__V1__ListInboundMessagesReply_Closure)                                   \
	T_UNIMPLEMENTED(get_spammer_stats, Pigeon__V1__LeaderboardRequest,                    \
	    Pigeon__V1__Leaderboard_Closure)                                                \
	T_UNIMPLEMENTED(get_chatter_stats, Pigeon__V1__LeaderboardRequest,                    \
	    Pigeon__V1__Leaderboard_Closure)                                                \
	T_UNIMPLEMENTED(list_online_users, Pigeon__V1__ListOnlineUsersRequest,                \
	    Pigeon__V1__ListOnlineUsersReply_Closure)                                       \
	T_UNIMPLEMENTED(get_event_journal, Pigeon__V1__GetEventJournalRequest,                \
	    Pigeon__V1__GetEventJournalReply_Closure)                                       \
	T_UNIMPLEMENTED(register_user, Pigeon__V1__RegisterUserRequest,                       \
	    Pigeon__V1__RegisterUserReply_Closure)                                          \
	T_UNIMPLEMENTED(revoke_sessions, Pigeon__V1__RevokeSessionsRequest,                   \
	    Pigeon__V1__RevokeSessionsReply_Closure)                                        \
	T_UNIMPLEMENTED(heartbeat, Pigeon__V1__HeartbeatRequest,                              \
	    Pigeon__V1__HeartbeatReply_Closure)                                             \
	T_UNIMPLEMENTED(get_user, Pigeon__V1__GetUserRequest,                                 \
	    Pigeon__V1__GetUserReply_Closure)                                               \
	T_UNIMPLEMENTED(mark_read, Pigeon__V1__MarkReadRequest,                               \
	    Pigeon__V1__MarkReadReply_Closure)                                              \
	T_UNIMPLEMENTED(report_message, Pigeon__V1__ReportMessageRequest,                     \
	    Pigeon__V1__ReportMessageReply_Closure)                                         \
	T_UNIMPLEMENTED(train, Pigeon__V1__TrainRequest, Pigeon__V1__TrainReply_Closure)      \
	T_UNIMPLEMENTED(health, Pigeon__V1__HealthRequest, Pigeon__V1__HealthReply_Closure)

#endif
