/* SPDX-License-Identifier: MIT */
/* The RPCs integration tests make again and again, each asserting its
 * answer; see t_rpc.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "t_rpc.h"

uint64_t
t_login(pigeon_client *c, const char *u)
{
	Pigeon__V1__LoginRequest req = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *rep;
	pigeon_error err;
	uint64_t seq;

	req.username = (char *)u;
	assert_int_equal(pigeon_login(c, &req, &rep, &err), PIGEON_OK);
	assert_string_equal(rep->username, u);
	seq = rep->sequence;
	pigeon_reply_free(rep);
	return seq;
}

void
t_register(pigeon_client *c, const char *u)
{
	Pigeon__V1__RegisterUserRequest req = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	Pigeon__V1__RegisterUserReply *rep;

	req.username = (char *)u;
	assert_int_equal(pigeon_register_user(c, &req, &rep, NULL), PIGEON_OK);
	assert_string_equal(rep->username, u);
	pigeon_reply_free(rep);
}

uint64_t
t_logout(pigeon_client *c, const char *u)
{
	Pigeon__V1__LogoutRequest req = PIGEON__V1__LOGOUT_REQUEST__INIT;
	Pigeon__V1__LogoutReply *rep;
	pigeon_error err;
	uint64_t seq;

	req.username = (char *)u;
	assert_int_equal(pigeon_logout(c, &req, &rep, &err), PIGEON_OK);
	seq = rep->sequence;
	pigeon_reply_free(rep);
	return seq;
}

uint64_t
t_send(pigeon_client *c, const char *s, const char *r, const char *text)
{
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	Pigeon__V1__SendMessageReply *rep;
	pigeon_error err;
	pigeon_status st;
	uint64_t id;

	req.sender = (char *)s;
	req.recipient = (char *)r;
	req.content = (char *)text;
	st = pigeon_send_message(c, &req, &rep, &err);
	if (st != PIGEON_OK)
		fprintf(stderr, "send: %s %s\n", pigeon_status_name(st), err.message);
	assert_int_equal(st, PIGEON_OK);
	assert_int_equal(rep->message->state, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_ENQUEUED);
	assert_true(rep->message->created_ms > 0);
	assert_false(rep->duplicate);
	id = rep->message->id;
	pigeon_reply_free(rep);
	return id;
}
