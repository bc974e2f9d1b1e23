/* SPDX-License-Identifier: MIT */
/*
 * The store's reply conversion (src/store/reply.c) without a socket or a
 * Redis: RESP bytes go through hiredis's reader, and each conversion runs
 * over every shape its script or command really returns
 * (docs/redis-schema.md) and over malformed ones, which must answer INTERNAL
 * and never crash.  Published payloads are decoded the same way, and an
 * event read from the journal must pack to the same bytes as the same event
 * received over pub/sub.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "reply.h"

#define T_MALFORMED "unexpected reply from redis"

/* ---- RESP from a compact spec ---- */

/* Writes the RESP of spec, items separated by '|': "*N" an array of the N
 * items that follow, ":N" an integer, "$text" a bulk string, "_" nil,
 * "-text" an error, "+text" a status.  Then reads it back with hiredis's
 * reader, as a connection would. */
static redisReply *
t_reply(const char *spec)
{
	char resp[8192], item[1024];
	size_t len = 0;
	redisReader *rd;
	void *r = NULL;

	while (*spec != '\0') {
		size_t n = strcspn(spec, "|");

		assert_true(n < sizeof(item));
		memcpy(item, spec, n);
		item[n] = '\0';
		spec += n + (spec[n] == '|');
		if (item[0] == '$')
			len += (size_t)snprintf(resp + len, sizeof(resp) - len, "$%zu\r\n%s\r\n",
			    strlen(item + 1), item + 1);
		else if (strcmp(item, "_") == 0)
			len += (size_t)snprintf(resp + len, sizeof(resp) - len, "$-1\r\n");
		else
			len += (size_t)snprintf(resp + len, sizeof(resp) - len, "%s\r\n", item);
		assert_true(len < sizeof(resp));
	}
	assert_non_null(rd = redisReaderCreate());
	assert_int_equal(redisReaderFeed(rd, resp, len), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &r), REDIS_OK);
	assert_non_null(r);
	redisReaderFree(rd);
	return r;
}

/* ---- one answer, captured ---- */

typedef struct t_answer {
	int calls;
	pigeon_status st;
	char msg[256];
	const ProtobufCMessageDescriptor *desc;
	uint8_t buf[8192];
	size_t len;
} t_answer;

static void
t_cb(void *arg, pigeon_status st, const char *errmsg, const ProtobufCMessage *reply)
{
	t_answer *a = arg;

	a->calls++;
	a->st = st;
	snprintf(a->msg, sizeof(a->msg), "%s", errmsg != NULL ? errmsg : "");
	a->desc = NULL;
	a->len = 0;
	if (reply != NULL) {
		a->desc = reply->descriptor;
		a->len = protobuf_c_message_get_packed_size(reply);
		assert_true(a->len <= sizeof(a->buf));
		protobuf_c_message_pack(reply, a->buf);
	}
}

/* Runs the conversion of kind over spec (and spec2, the journal's GET, or
 * NULL) and returns what the callback got, checking it ran exactly once. */
static t_answer
t_complete(store_op_kind kind, uint32_t page, const char *spec, const char *spec2)
{
	t_answer a = {0};
	store_reply_req q = {kind, "Alice", page, t_cb, &a};
	redisReply *r = t_reply(spec), *r2 = spec2 != NULL ? t_reply(spec2) : NULL;

	store_reply_complete(&q, r, r2);
	freeReplyObject(r);
	if (r2 != NULL)
		freeReplyObject(r2);
	assert_int_equal(a.calls, 1);
	return a;
}

/* The reply message of an OK answer, decoded; free with t_free. */
static void *
t_ok(const t_answer *a, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m;

	assert_int_equal(a->st, PIGEON_OK);
	assert_string_equal(a->msg, "");
	assert_ptr_equal(a->desc, desc);
	assert_non_null(m = protobuf_c_message_unpack(desc, NULL, a->len, a->buf));
	return m;
}

static void
t_free(void *m)
{
	protobuf_c_message_free_unpacked(m, NULL);
}

static void
assert_answer(const t_answer *a, pigeon_status st, const char *msg)
{
	assert_int_equal(a->st, st);
	assert_string_equal(a->msg, msg);
	assert_null(a->desc);
}

/* Every spec must answer INTERNAL "unexpected reply from redis". */
static void
assert_malformed(store_op_kind kind, uint32_t page, const char *const *specs, size_t n,
    const char *spec2)
{
	for (size_t i = 0; i < n; i++) {
		t_answer a = t_complete(kind, page, specs[i], spec2);

		if (a.st != PIGEON_INTERNAL)
			print_message("accepted: %s\n", specs[i]);
		assert_answer(&a, PIGEON_INTERNAL, T_MALFORMED);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- error replies: every kind ---- */

static void
test_script_errors_carry_their_status_and_message(void **state)
{
	t_answer a;

	a = t_complete(STORE_OP_LOGIN, 0, "-NOT_FOUND Couldn't find user with username Bob", NULL);
	assert_answer(&a, PIGEON_NOT_FOUND, "Couldn't find user with username Bob");
	a = t_complete(STORE_OP_LOGIN, 0, "-ALREADY_EXISTS User Alice is already logged in.", NULL);
	assert_answer(&a, PIGEON_ALREADY_EXISTS, "User Alice is already logged in.");
	a = t_complete(STORE_OP_LOGOUT, 0, "-FAILED_PRECONDITION User Alice isn't logged in.", NULL);
	assert_answer(&a, PIGEON_FAILED_PRECONDITION, "User Alice isn't logged in.");
	a = t_complete(STORE_OP_REGISTER, 0, "-ALREADY_EXISTS User Alice already exists", NULL);
	assert_answer(&a, PIGEON_ALREADY_EXISTS, "User Alice already exists");
	a = t_complete(STORE_OP_INBOX, 10, "-NOT_FOUND Couldn't find user with username Al", NULL);
	assert_answer(&a, PIGEON_NOT_FOUND, "Couldn't find user with username Al");
}

static void
test_redis_errors_map_by_the_table_with_their_whole_text(void **state)
{
	static const struct {
		const char *spec;
		pigeon_status st;
		const char *msg;
	} cases[] = {
		{"-OOM command not allowed when used memory > 'maxmemory'.", PIGEON_RESOURCE_EXHAUSTED,
		    "OOM command not allowed when used memory > 'maxmemory'."},
		{"-BUSY Redis is busy running a script.", PIGEON_UNAVAILABLE,
		    "BUSY Redis is busy running a script."},
		{"-LOADING Redis is loading the dataset in memory", PIGEON_UNAVAILABLE,
		    "LOADING Redis is loading the dataset in memory"},
		{"-ERR unknown command 'FOO'", PIGEON_INTERNAL, "ERR unknown command 'FOO'"},
		{"-OK not an error", PIGEON_INTERNAL, "OK not an error"},
	};
	store_op_kind kinds[] = {STORE_OP_SEND, STORE_OP_USER_STATS, STORE_OP_SPAMMERS,
	    STORE_OP_ONLINE, STORE_OP_JOURNAL};

	for (size_t k = 0; k < N(kinds); k++) {
		for (size_t i = 0; i < N(cases); i++) {
			t_answer a = t_complete(kinds[k], 10, cases[i].spec,
			    kinds[k] == STORE_OP_JOURNAL ? "_" : NULL);

			assert_answer(&a, cases[i].st, cases[i].msg);
		}
	}
}

/* The GET after the journal's range failed: its error answers. */
static void
test_journal_error_in_the_second_reply_answers(void **state)
{
	t_answer a = t_complete(STORE_OP_JOURNAL, 10, "*0", "-OOM out of memory");

	assert_answer(&a, PIGEON_RESOURCE_EXHAUSTED, "OOM out of memory");
}

static void
test_no_reply_at_all_is_internal(void **state)
{
	t_answer a = {0};
	store_reply_req q = {STORE_OP_LOGIN, "Alice", 0, t_cb, &a};

	store_reply_complete(&q, NULL, NULL);
	assert_int_equal(a.calls, 1);
	assert_answer(&a, PIGEON_INTERNAL, T_MALFORMED);
}

/* ---- login, logout ---- */

static void
test_login_answers_username_and_sequence(void **state)
{
	t_answer a = t_complete(STORE_OP_LOGIN, 0, ":7", NULL);
	Pigeon__V1__LoginReply *lr = t_ok(&a, &pigeon__v1__login_reply__descriptor);

	assert_string_equal(lr->username, "Alice");
	assert_int_equal(lr->sequence, 7);
	t_free(lr);
}

static void
test_logout_answers_username_and_sequence(void **state)
{
	t_answer a = t_complete(STORE_OP_LOGOUT, 0, ":9223372036854775807", NULL);
	Pigeon__V1__LogoutReply *lo = t_ok(&a, &pigeon__v1__logout_reply__descriptor);

	assert_string_equal(lo->username, "Alice");
	assert_int_equal(lo->sequence, 9223372036854775807ULL);
	t_free(lo);
}

static void
test_login_malformed_is_internal(void **state)
{
	static const char *const bad[] = {"$1|7", "_", "*1|:7", "*0", "+OK", ":-1"};

	assert_malformed(STORE_OP_LOGIN, 0, bad, N(bad), NULL);
	assert_malformed(STORE_OP_LOGOUT, 0, bad, N(bad), NULL);
}

/* ---- send ---- */

static void
test_send_answers_the_queued_message(void **state)
{
	t_answer a = t_complete(STORE_OP_SEND, 0,
	    "*7|:12|$Alice|$Ilya|$hi \"there\"|$enqueued|:1712345678901|:0", NULL);
	Pigeon__V1__SendMessageReply *rep = t_ok(&a, &pigeon__v1__send_message_reply__descriptor);

	assert_int_equal(rep->message->id, 12);
	assert_string_equal(rep->message->sender, "Alice");
	assert_string_equal(rep->message->recipient, "Ilya");
	assert_string_equal(rep->message->content, "hi \"there\"");
	assert_int_equal(rep->message->state, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_ENQUEUED);
	assert_int_equal(rep->message->created_ms, 1712345678901LL);
	assert_false(rep->duplicate);
	t_free(rep);
}

/* A known idempotency key answers the first message, in its current state;
 * extra elements are ignored. */
static void
test_send_duplicate_answers_the_first_message(void **state)
{
	t_answer a = t_complete(STORE_OP_SEND, 0,
	    "*8|:3|$Alice|$Ilya|$one|$delivered|:1712345678000|:1|$extra", NULL);
	Pigeon__V1__SendMessageReply *rep = t_ok(&a, &pigeon__v1__send_message_reply__descriptor);

	assert_int_equal(rep->message->id, 3);
	assert_int_equal(rep->message->state, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_DELIVERED);
	assert_int_equal(rep->message->created_ms, 1712345678000LL);
	assert_true(rep->duplicate);
	t_free(rep);
}

/* dead_letter is a stored state the proto has no value for. */
static void
test_send_state_outside_the_proto_is_unspecified(void **state)
{
	t_answer a = t_complete(STORE_OP_SEND, 0,
	    "*7|$3|$Alice|$Ilya|$one|$dead_letter|$-5|:1", NULL);
	Pigeon__V1__SendMessageReply *rep = t_ok(&a, &pigeon__v1__send_message_reply__descriptor);

	assert_int_equal(rep->message->id, 3);
	assert_int_equal(rep->message->state, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_UNSPECIFIED);
	assert_int_equal(rep->message->created_ms, -5);
	t_free(rep);
}

static void
test_send_malformed_is_internal(void **state)
{
	static const char *const bad[] = {
		/* Not an array, or too short: the first message's hash was
		 * deleted and tonumber(nil) ended the Lua table. */
		":12",
		"_",
		"$12",
		"*6|:12|$Alice|$Ilya|$hi|$enqueued|:1712345678901",
		"*5|:3|_|_|_|_",
		"*0",
		/* A field of the wrong type. */
		"*7|:12|_|$Ilya|$hi|$enqueued|:1|:0",
		"*7|:12|$Alice|:5|$hi|$enqueued|:1|:0",
		"*7|:12|$Alice|$Ilya|*0|$enqueued|:1|:0",
		"*7|:12|$Alice|$Ilya|$hi|:1|:1|:0",
		"*7|:12|$Alice|$Ilya|$hi|$enqueued|_|:0",
		"*7|:12|$Alice|$Ilya|$hi|$enqueued|:1|$0",
		"*7|:12|$Alice|$Ilya|$hi|$enqueued|:1|_",
		"*7|+OK|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		/* Numbers that are not, or do not fit. */
		"*7|$abc|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|$|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|$12x|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|$ 12|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|$+12|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|$99999999999999999999|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|$18446744073709551615|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|$-3|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|:-3|$Alice|$Ilya|$hi|$enqueued|:1|:0",
		"*7|:12|$Alice|$Ilya|$hi|$enqueued|$1.5|:0",
		"*7|:12|$Alice|$Ilya|$hi|$enqueued|$-99999999999999999999|:0",
	};

	assert_malformed(STORE_OP_SEND, 0, bad, N(bad), NULL);
}

/* ---- user stats ---- */

static void
test_user_stats_answers_five_counts_of_six(void **state)
{
	t_answer a = t_complete(STORE_OP_USER_STATS, 0, "*6|:3|:2|:10|:1|:4|:6", NULL);
	Pigeon__V1__UserStats *us = t_ok(&a, &pigeon__v1__user_stats__descriptor);

	assert_string_equal(us->username, "Alice");
	assert_int_equal(us->enqueued, 3);
	assert_int_equal(us->being_spam_checked, 2);
	assert_int_equal(us->delivered, 10);
	assert_int_equal(us->marked_as_spam, 1);
	assert_int_equal(us->unread, 6);
	t_free(us);
}

/* Counts derived by subtraction read 0 should the counters disagree. */
static void
test_user_stats_negative_counts_read_zero(void **state)
{
	t_answer a = t_complete(STORE_OP_USER_STATS, 0,
	    "*6|:-1|:-9223372036854775808|:7|:0|:0|:-2", NULL);
	Pigeon__V1__UserStats *us = t_ok(&a, &pigeon__v1__user_stats__descriptor);

	assert_int_equal(us->enqueued, 0);
	assert_int_equal(us->being_spam_checked, 0);
	assert_int_equal(us->delivered, 7);
	assert_int_equal(us->marked_as_spam, 0);
	assert_int_equal(us->unread, 0);
	t_free(us);
}

static void
test_user_stats_malformed_is_internal(void **state)
{
	static const char *const bad[] = {
		":3",
		"_",
		"*3|:1|:2|:3",
		/* Five counts: a read_user_stats without unread. */
		"*5|:3|:2|:10|:1|:4",
		"*6|$3|:2|:10|:1|:4|:0",
		"*6|:3|:2|:10|_|:4|:0",
		"*6|:3|*0|:10|:1|:4|:0",
		"*6|:3|:2|:10|:1|:4|$6",
	};

	assert_malformed(STORE_OP_USER_STATS, 0, bad, N(bad), NULL);
}

/* ---- inbox ---- */

/* Message 2 was read; the others are unread (read_ms nil). */
#define T_MSG1 "$1|$Ilya|$Alice|$hi|$delivered|$1712345678001|_"
#define T_MSG2 "$2|$flain1|$Alice|$yo|$delivered|$1712345678002|$1712345679000"
#define T_MSG3 "$5|$Ilya|$Alice|$again|$delivered|$1712345678005|_"

/* read_inbox asked for page + 1: the extra one means a next page. */
static void
test_inbox_pages_with_a_next_cursor(void **state)
{
	t_answer a = t_complete(STORE_OP_INBOX, 2, "*21|" T_MSG1 "|" T_MSG2 "|" T_MSG3, NULL);
	Pigeon__V1__ListInboundMessagesReply *rep =
	    t_ok(&a, &pigeon__v1__list_inbound_messages_reply__descriptor);

	assert_int_equal(rep->n_messages, 2);
	assert_int_equal(rep->messages[0]->id, 1);
	assert_string_equal(rep->messages[0]->sender, "Ilya");
	assert_string_equal(rep->messages[0]->recipient, "Alice");
	assert_string_equal(rep->messages[0]->content, "hi");
	assert_int_equal(rep->messages[0]->state,
	    PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_DELIVERED);
	assert_int_equal(rep->messages[0]->created_ms, 1712345678001LL);
	assert_int_equal(rep->messages[0]->read_ms, 0);
	assert_int_equal(rep->messages[1]->id, 2);
	assert_string_equal(rep->messages[1]->sender, "flain1");
	assert_string_equal(rep->messages[1]->content, "yo");
	assert_int_equal(rep->messages[1]->created_ms, 1712345678002LL);
	assert_int_equal(rep->messages[1]->read_ms, 1712345679000LL);
	assert_int_equal(rep->next_cursor, 2);
	t_free(rep);
}

static void
test_inbox_last_page_has_no_cursor(void **state)
{
	t_answer a = t_complete(STORE_OP_INBOX, 10, "*21|" T_MSG1 "|" T_MSG2 "|" T_MSG3, NULL);
	Pigeon__V1__ListInboundMessagesReply *rep =
	    t_ok(&a, &pigeon__v1__list_inbound_messages_reply__descriptor);

	assert_int_equal(rep->n_messages, 3);
	assert_int_equal(rep->messages[2]->id, 5);
	assert_string_equal(rep->messages[2]->content, "again");
	assert_int_equal(rep->next_cursor, 0);
	t_free(rep);

	a = t_complete(STORE_OP_INBOX, 10, "*0", NULL);
	rep = t_ok(&a, &pigeon__v1__list_inbound_messages_reply__descriptor);
	assert_int_equal(rep->n_messages, 0);
	assert_int_equal(rep->next_cursor, 0);
	t_free(rep);
}

static void
test_inbox_malformed_is_internal(void **state)
{
	static const char *const bad[] = {
		":0",
		"_",
		"$1",
		/* Not seven per message: six is an inbox without read_ms. */
		"*6|$1|$Ilya|$Alice|$hi|$delivered|$1",
		"*8|" T_MSG1 "|$2",
		/* A message deleted from under its inbox: SORT's GET is nil. */
		"*7|$4|_|_|_|_|_|_",
		"*14|" T_MSG1 "|$4|_|_|_|_|_|_",
		"*7|$x|$Ilya|$Alice|$hi|$delivered|$1|_",
		"*7|$99999999999999999999|$Ilya|$Alice|$hi|$delivered|$1|_",
		"*7|$-1|$Ilya|$Alice|$hi|$delivered|$1|_",
		"*7|$1|$Ilya|$Alice|$hi|$delivered|$1.5|_",
		"*7|$1|$Ilya|$Alice|$hi|$delivered|$|_",
		"*7|$1|:5|$Alice|$hi|$delivered|$1|_",
		"*7|*0|$Ilya|$Alice|$hi|$delivered|$1|_",
		/* read_ms not a number. */
		"*7|$1|$Ilya|$Alice|$hi|$delivered|$1|$soon",
		"*7|$1|$Ilya|$Alice|$hi|$delivered|$1|*0",
	};

	assert_malformed(STORE_OP_INBOX, 10, bad, N(bad), NULL);
}

/* ---- leaderboards ---- */

static void
test_leaderboard_counts_are_negated_scores(void **state)
{
	store_op_kind kinds[] = {STORE_OP_SPAMMERS, STORE_OP_CHATTERS};

	for (size_t k = 0; k < N(kinds); k++) {
		t_answer a = t_complete(kinds[k], 0,
		    "*8|$Ilya|$-5|$Alice|$-2|$Bob|$0|$Eve|$3", NULL);
		Pigeon__V1__Leaderboard *lb = t_ok(&a, &pigeon__v1__leaderboard__descriptor);

		assert_int_equal(lb->n_entries, 4);
		assert_string_equal(lb->entries[0]->username, "Ilya");
		assert_int_equal(lb->entries[0]->count, 5);
		assert_string_equal(lb->entries[1]->username, "Alice");
		assert_int_equal(lb->entries[1]->count, 2);
		assert_string_equal(lb->entries[2]->username, "Bob");
		assert_int_equal(lb->entries[2]->count, 0);
		/* A positive score is no count. */
		assert_string_equal(lb->entries[3]->username, "Eve");
		assert_int_equal(lb->entries[3]->count, 0);
		t_free(lb);
	}
}

static void
test_leaderboard_empty(void **state)
{
	t_answer a = t_complete(STORE_OP_CHATTERS, 0, "*0", NULL);
	Pigeon__V1__Leaderboard *lb = t_ok(&a, &pigeon__v1__leaderboard__descriptor);

	assert_int_equal(lb->n_entries, 0);
	t_free(lb);
}

static void
test_leaderboard_malformed_is_internal(void **state)
{
	static const char *const bad[] = {
		":1",
		"_",
		"*1|$Ilya",
		"*3|$Ilya|$-5|$Alice",
		"*2|:5|$-5",
		"*2|$Ilya|:-5",
		"*2|$Ilya|_",
		"*2|$Ilya|$abc",
		"*2|$Ilya|$",
		"*2|$Ilya|$-5x",
		"*2|$Ilya|$-inf",
		"*2|$Ilya|$nan",
		"*2|$Ilya|$-1e30",
		"*2|$Ilya|$-18446744073709551616",
	};

	assert_malformed(STORE_OP_SPAMMERS, 0, bad, N(bad), NULL);
	assert_malformed(STORE_OP_CHATTERS, 0, bad, N(bad), NULL);
}

/* ---- online users ---- */

static void
test_online_pages_with_the_last_name_as_cursor(void **state)
{
	t_answer a = t_complete(STORE_OP_ONLINE, 2, "*3|$Alice|$Ilya|$flain1", NULL);
	Pigeon__V1__ListOnlineUsersReply *rep =
	    t_ok(&a, &pigeon__v1__list_online_users_reply__descriptor);

	assert_int_equal(rep->n_usernames, 2);
	assert_string_equal(rep->usernames[0], "Alice");
	assert_string_equal(rep->usernames[1], "Ilya");
	assert_string_equal(rep->next_cursor, "Ilya");
	t_free(rep);

	a = t_complete(STORE_OP_ONLINE, 3, "*3|$Alice|$Ilya|$flain1", NULL);
	rep = t_ok(&a, &pigeon__v1__list_online_users_reply__descriptor);
	assert_int_equal(rep->n_usernames, 3);
	assert_string_equal(rep->usernames[2], "flain1");
	assert_string_equal(rep->next_cursor, "");
	t_free(rep);
}

static void
test_online_malformed_is_internal(void **state)
{
	static const char *const bad[] = {":2", "_", "$Alice", "*2|$Alice|:5", "*2|_|$Ilya"};

	assert_malformed(STORE_OP_ONLINE, 10, bad, N(bad), NULL);
}

/* ---- journal ---- */

#define T_LOGIN_ENTRY                                                                          \
	"*2|$7-0|*8|$type|$LOGIN|$time_ms|$1712345678901|$text|$LOGIN: Alice|$username|$Alice"
#define T_SPAM_ENTRY                                                                           \
	"*2|$6-0|*14|$type|$SPAM|$time_ms|$1712345678900|$text|$SPAM: message with id 12 by "  \
	"Ilya|$username|$Ilya|$recipient|$Alice|$message_id|$12|$reason|$blocklist(buy now)"

static void
test_journal_entries_become_events(void **state)
{
	t_answer a = t_complete(STORE_OP_JOURNAL, 10, "*2|" T_LOGIN_ENTRY "|" T_SPAM_ENTRY, "$7");
	Pigeon__V1__GetEventJournalReply *rep =
	    t_ok(&a, &pigeon__v1__get_event_journal_reply__descriptor);
	Pigeon__V1__Event *e;

	assert_int_equal(rep->n_events, 2);
	assert_int_equal(rep->last_sequence, 7);
	assert_int_equal(rep->next_cursor, 0);
	e = rep->events[0];
	assert_int_equal(e->sequence, 7);
	assert_int_equal(e->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGIN);
	assert_int_equal(e->time_ms, 1712345678901LL);
	assert_string_equal(e->username, "Alice");
	assert_string_equal(e->text, "LOGIN: Alice");
	assert_string_equal(e->recipient, "");
	assert_int_equal(e->message_id, 0);
	assert_string_equal(e->reason, "");
	e = rep->events[1];
	assert_int_equal(e->sequence, 6);
	assert_int_equal(e->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_SPAM);
	assert_int_equal(e->time_ms, 1712345678900LL);
	assert_string_equal(e->username, "Ilya");
	assert_string_equal(e->recipient, "Alice");
	assert_int_equal(e->message_id, 12);
	assert_string_equal(e->reason, "blocklist(buy now)");
	assert_string_equal(e->text, "SPAM: message with id 12 by Ilya");
	assert_string_equal(e->content, "");
	t_free(rep);
}

static void
test_journal_pages_with_the_last_sequence_as_cursor(void **state)
{
	t_answer a = t_complete(STORE_OP_JOURNAL, 1, "*2|" T_LOGIN_ENTRY "|" T_SPAM_ENTRY, "$7");
	Pigeon__V1__GetEventJournalReply *rep =
	    t_ok(&a, &pigeon__v1__get_event_journal_reply__descriptor);

	assert_int_equal(rep->n_events, 1);
	assert_int_equal(rep->events[0]->sequence, 7);
	assert_int_equal(rep->next_cursor, 7);
	assert_int_equal(rep->last_sequence, 7);
	t_free(rep);
}

/* Before the first event the sequence key does not exist. */
static void
test_journal_empty_before_the_first_event(void **state)
{
	t_answer a = t_complete(STORE_OP_JOURNAL, 10, "*0", "_");
	Pigeon__V1__GetEventJournalReply *rep =
	    t_ok(&a, &pigeon__v1__get_event_journal_reply__descriptor);

	assert_int_equal(rep->n_events, 0);
	assert_int_equal(rep->last_sequence, 0);
	assert_int_equal(rep->next_cursor, 0);
	t_free(rep);
}

/* A type the proto does not name reads as UNSPECIFIED, the entry kept. */
static void
test_journal_unknown_type_is_unspecified(void **state)
{
	t_answer a = t_complete(STORE_OP_JOURNAL, 10,
	    "*1|*2|$3-0|*6|$type|$RENAMED|$time_ms|$5|$future_field|$x", "$3");
	Pigeon__V1__GetEventJournalReply *rep =
	    t_ok(&a, &pigeon__v1__get_event_journal_reply__descriptor);

	assert_int_equal(rep->n_events, 1);
	assert_int_equal(rep->events[0]->sequence, 3);
	assert_int_equal(rep->events[0]->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED);
	assert_int_equal(rep->events[0]->time_ms, 5);
	t_free(rep);
}

static void
test_journal_malformed_is_internal(void **state)
{
	static const char *const bad[] = {
		":1",
		"_",
		"$7-0",
		/* Entries of the wrong shape. */
		"*1|:7",
		"*1|*1|$7-0",
		"*1|*2|$7-0|$type",
		"*1|*2|:7|*2|$type|$LOGIN",
		"*1|*2|_|*2|$type|$LOGIN",
		"*1|*2|$7-0|*3|$type|$LOGIN|$time_ms",
		"*1|*2|$7-0|*2|$type|:1",
		"*1|*2|$7-0|*2|:1|$LOGIN",
		"*1|*2|$7-0|*2|$type|_",
		/* Ids that are not "<seq>-<n>". */
		"*1|*2|$7|*2|$type|$LOGIN",
		"*1|*2|$abc-0|*2|$type|$LOGIN",
		"*1|*2|$-0|*2|$type|$LOGIN",
		"*1|*2|$7-|*2|$type|$LOGIN",
		"*1|*2|$7-x|*2|$type|$LOGIN",
		"*1|*2|$-7-0|*2|$type|$LOGIN",
		"*1|*2|$99999999999999999999-0|*2|$type|$LOGIN",
		/* Numbers that are not, or do not fit. */
		"*1|*2|$7-0|*2|$time_ms|$12x",
		"*1|*2|$7-0|*2|$time_ms|$",
		"*1|*2|$7-0|*2|$time_ms|$99999999999999999999",
		"*1|*2|$7-0|*2|$message_id|$-4",
		"*1|*2|$7-0|*2|$message_id|$18446744073709551615",
		"*1|*2|$7-0|*2|$message_id|$1e3",
	};

	assert_malformed(STORE_OP_JOURNAL, 10, bad, N(bad), "$7");
}

static void
test_journal_malformed_last_sequence_is_internal(void **state)
{
	static const char *const bad[] = {":7", "$abc", "$-1", "$99999999999999999999", "*0",
	    "+OK"};

	for (size_t i = 0; i < N(bad); i++) {
		t_answer a = t_complete(STORE_OP_JOURNAL, 10, "*0", bad[i]);

		assert_answer(&a, PIGEON_INTERNAL, T_MALFORMED);
	}
}

static void
test_journal_without_its_second_reply_is_internal(void **state)
{
	t_answer a = t_complete(STORE_OP_JOURNAL, 10, "*0", NULL);

	assert_answer(&a, PIGEON_INTERNAL, T_MALFORMED);
}

/* ---- register ---- */

static void
test_register_answers_the_role(void **state)
{
	t_answer a = t_complete(STORE_OP_REGISTER, 0, "$admin", NULL);
	Pigeon__V1__RegisterUserReply *rep =
	    t_ok(&a, &pigeon__v1__register_user_reply__descriptor);

	assert_string_equal(rep->username, "Alice");
	assert_int_equal(rep->role, PIGEON__V1__ROLE__ROLE_ADMIN);
	t_free(rep);
	a = t_complete(STORE_OP_REGISTER, 0, "$regular", NULL);
	rep = t_ok(&a, &pigeon__v1__register_user_reply__descriptor);
	assert_int_equal(rep->role, PIGEON__V1__ROLE__ROLE_REGULAR);
	t_free(rep);
	/* The store sends only those two; anything else is regular. */
	a = t_complete(STORE_OP_REGISTER, 0, "$unspecified", NULL);
	rep = t_ok(&a, &pigeon__v1__register_user_reply__descriptor);
	assert_int_equal(rep->role, PIGEON__V1__ROLE__ROLE_REGULAR);
	t_free(rep);
}

static void
test_register_malformed_is_internal(void **state)
{
	static const char *const bad[] = {":1", "_", "*1|$admin", "+admin"};

	assert_malformed(STORE_OP_REGISTER, 0, bad, N(bad), NULL);
}

/* ---- health ---- */

static void
test_health_answers_the_queue_figures(void **state)
{
	t_answer a = t_complete(STORE_OP_HEALTH, 0, "*5|:3|:1|:0|:4294967295|:1500", NULL);
	Pigeon__V1__HealthReply *h = t_ok(&a, &pigeon__v1__health_reply__descriptor);

	assert_int_equal(h->status, PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING);
	assert_int_equal(h->queue_depth, 3);
	assert_int_equal(h->queue_pending, 1);
	assert_int_equal(h->dead_letters, 0);
	assert_int_equal(h->workers, 4294967295u);
	assert_int_equal(h->oldest_pending_ms, 1500);
	t_free(h);

	a = t_complete(STORE_OP_HEALTH, 0, "*5|:-3|:-1|:-7|:-2|:-9", NULL);
	h = t_ok(&a, &pigeon__v1__health_reply__descriptor);
	assert_int_equal(h->queue_depth, 0);
	assert_int_equal(h->queue_pending, 0);
	assert_int_equal(h->dead_letters, 0);
	assert_int_equal(h->workers, 0);
	assert_int_equal(h->oldest_pending_ms, 0);
	t_free(h);
}

/* Health's error replies still answer OK: Redis is not serving. */
static void
test_health_error_reply_is_not_serving(void **state)
{
	t_answer a = t_complete(STORE_OP_HEALTH, 0, "-BUSY Redis is busy running a script.", NULL);
	Pigeon__V1__HealthReply *h = t_ok(&a, &pigeon__v1__health_reply__descriptor);

	assert_int_equal(h->status, PIGEON__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING);
	assert_int_equal(h->workers, 0);
	t_free(h);
}

static void
test_health_malformed_is_internal(void **state)
{
	static const char *const bad[] = {":4", "_", "*3|:1|:2|:3", "*4|:1|:2|:3|:4",
	    "*5|:1|$2|:3|:4|:0", "*5|:1|:2|:3|_|:0", "*5|:1|:2|:3|:4|_",
	    "*5|:1|:2|:3|:4294967296|:0", "*5|:1|:2|:3|:9223372036854775807|:0"};

	assert_malformed(STORE_OP_HEALTH, 0, bad, N(bad), NULL);
}

/* ---- mark read ---- */

static void
test_mark_read_answers_unread_and_marked(void **state)
{
	t_answer a = t_complete(STORE_OP_MARK_READ, 0, "*2|:4|:3", NULL);
	Pigeon__V1__MarkReadReply *rep = t_ok(&a, &pigeon__v1__mark_read_reply__descriptor);

	assert_string_equal(rep->username, "Alice");
	assert_int_equal(rep->unread, 4);
	assert_int_equal(rep->marked, 3);
	t_free(rep);
}

static void
test_mark_read_malformed_is_internal(void **state)
{
	static const char *const bad[] = {
		":4",
		"*1|:4",
		"*2|$4|:3",
		"*2|:4|_",
	};

	assert_malformed(STORE_OP_MARK_READ, 0, bad, N(bad), NULL);
}

/* ---- report and train ---- */

static void
test_report_answers_the_message_and_whether_it_changed(void **state)
{
	t_answer a = t_complete(STORE_OP_REPORT, 0,
	    "*8|:7|$Ann|$Ben|$lunch?|$marked_as_spam|:1712345678001|:1712345679000|:1", NULL);
	Pigeon__V1__ReportMessageReply *rep =
	    t_ok(&a, &pigeon__v1__report_message_reply__descriptor);

	assert_int_equal(rep->message->id, 7);
	assert_string_equal(rep->message->sender, "Ann");
	assert_string_equal(rep->message->recipient, "Ben");
	assert_string_equal(rep->message->content, "lunch?");
	assert_int_equal(rep->message->state, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_MARKED_AS_SPAM);
	assert_int_equal(rep->message->created_ms, 1712345678001LL);
	assert_int_equal(rep->message->read_ms, 1712345679000LL);
	assert_true(rep->changed);
	t_free(rep);

	a = t_complete(STORE_OP_REPORT, 0,
	    "*8|:7|$Ann|$Ben|$lunch?|$delivered|:1712345678001|:0|:0", NULL);
	rep = t_ok(&a, &pigeon__v1__report_message_reply__descriptor);
	assert_int_equal(rep->message->state, PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_DELIVERED);
	assert_int_equal(rep->message->read_ms, 0);
	assert_false(rep->changed);
	t_free(rep);
}

static void
test_report_malformed_is_internal(void **state)
{
	static const char *const bad[] = {
		":1",
		"*7|:7|$Ann|$Ben|$x|$delivered|:1|:0",
		"*8|$x|$Ann|$Ben|$x|$delivered|:1|:0|:1",
		"*8|:7|$Ann|$Ben|$x|$delivered|:1|$soon|:1",
		"*8|:7|$Ann|$Ben|$x|$delivered|:1|:0|$1",
		"*8|:7|_|$Ben|$x|$delivered|:1|:0|:1",
	};

	assert_malformed(STORE_OP_REPORT, 0, bad, N(bad), NULL);
}

static void
test_train_answers_the_totals(void **state)
{
	t_answer a = t_complete(STORE_OP_TRAIN, 0, "*2|:200|:317", NULL);
	Pigeon__V1__TrainReply *rep = t_ok(&a, &pigeon__v1__train_reply__descriptor);

	assert_int_equal(rep->spam_learned, 200);
	assert_int_equal(rep->ham_learned, 317);
	t_free(rep);
	a = t_complete(STORE_OP_TRAIN, 0, "-INVALID_ARGUMENT malformed training batch", NULL);
	assert_int_equal(a.st, PIGEON_INVALID_ARGUMENT);
	assert_string_equal(a.msg, "malformed training batch");
}

/* ---- heartbeat and user ---- */

static void
test_heartbeat_answers_online_and_the_deadline(void **state)
{
	t_answer a = t_complete(STORE_OP_HEARTBEAT, 0, "*2|:1|:1712345738901", NULL);
	Pigeon__V1__HeartbeatReply *rep = t_ok(&a, &pigeon__v1__heartbeat_reply__descriptor);

	assert_true(rep->online);
	assert_int_equal(rep->expires_ms, 1712345738901);
	t_free(rep);
	a = t_complete(STORE_OP_HEARTBEAT, 0, "*2|:0|:0", NULL);
	rep = t_ok(&a, &pigeon__v1__heartbeat_reply__descriptor);
	assert_false(rep->online);
	assert_int_equal(rep->expires_ms, 0);
	t_free(rep);
}

static void
test_heartbeat_malformed_is_internal(void **state)
{
	static const char *const bad[] = {":1", "_", "*1|:1", "*2|$1|:5", "*2|:1|$5", "*2|:1|:-5",
	    "*2|:1|_"};

	assert_malformed(STORE_OP_HEARTBEAT, 0, bad, N(bad), NULL);
}

static void
test_user_answers_role_presence_and_times(void **state)
{
	t_answer a =
	    t_complete(STORE_OP_USER, 0, "*4|$admin|:1|:1712345678901|:1712000000000", NULL);
	Pigeon__V1__GetUserReply *rep = t_ok(&a, &pigeon__v1__get_user_reply__descriptor);

	assert_string_equal(rep->username, "Alice");
	assert_int_equal(rep->role, PIGEON__V1__ROLE__ROLE_ADMIN);
	assert_true(rep->online);
	assert_int_equal(rep->last_seen_ms, 1712345678901);
	assert_int_equal(rep->created_ms, 1712000000000);
	t_free(rep);
	/* Unknown times are 0; a negative one reads as unknown. */
	a = t_complete(STORE_OP_USER, 0, "*4|$regular|:0|:0|:-7", NULL);
	rep = t_ok(&a, &pigeon__v1__get_user_reply__descriptor);
	assert_int_equal(rep->role, PIGEON__V1__ROLE__ROLE_REGULAR);
	assert_false(rep->online);
	assert_int_equal(rep->last_seen_ms, 0);
	assert_int_equal(rep->created_ms, 0);
	t_free(rep);
}

static void
test_user_malformed_is_internal(void **state)
{
	static const char *const bad[] = {"$admin", "_", "*3|$admin|:1|:2", "*4|:1|:1|:2|:3",
	    "*4|$admin|$1|:2|:3", "*4|$admin|:1|$2|:3", "*4|$admin|:1|:2|_"};

	assert_malformed(STORE_OP_USER, 0, bad, N(bad), NULL);
}

/* ---- presence steps ---- */

/* One answer of a presence step, captured. */
typedef struct t_step {
	int calls;
	pigeon_status st;
	char msg[256];
	bool got;
	uint64_t taken;
	uint64_t ended;
	char cursor[64];
	bool due;
} t_step;

static void
t_step_cb(void *arg, pigeon_status st, const char *errmsg, const store_presence *p)
{
	t_step *a = arg;

	a->calls++;
	a->st = st;
	snprintf(a->msg, sizeof(a->msg), "%s", errmsg != NULL ? errmsg : "");
	a->got = p != NULL;
	if (p != NULL) {
		a->taken = p->taken;
		a->ended = p->ended;
		snprintf(a->cursor, sizeof(a->cursor), "%s", p->cursor);
		a->due = p->due;
	}
}

/* A presence step of kind over spec (and spec2, the due check's earliest
 * deadline, or NULL). */
static t_step
t_step_kind(store_op_kind kind, const char *spec, const char *spec2)
{
	t_step a = {0};
	store_reply_req q = {.kind = kind, .presence_cb = t_step_cb, .arg = &a};
	redisReply *r = t_reply(spec), *r2 = spec2 != NULL ? t_reply(spec2) : NULL;

	store_reply_complete(&q, r, r2);
	freeReplyObject(r);
	if (r2 != NULL)
		freeReplyObject(r2);
	assert_int_equal(a.calls, 1);
	return a;
}

static t_step
t_step_complete(const char *spec)
{
	return t_step_kind(STORE_OP_PRESENCE, spec, NULL);
}

/* TIME {seconds, microseconds}, then the earliest deadline: due when it is
 * at or before the time, in whole milliseconds. */
static void
test_presence_due_compares_the_earliest_deadline_with_the_time(void **state)
{
	const char *alice = "*2|$Alice|$1712345678901";
	t_step a = t_step_kind(STORE_OP_PRESENCE_DUE, "*2|$1712345678|$901999", alice);

	assert_int_equal(a.st, PIGEON_OK);
	assert_true(a.got);
	assert_true(a.due);
	a = t_step_kind(STORE_OP_PRESENCE_DUE, "*2|$1712345678|$900999", alice);
	assert_int_equal(a.st, PIGEON_OK);
	assert_false(a.due);
	a = t_step_kind(STORE_OP_PRESENCE_DUE, "*2|$1712345678|$901000", "*0");
	assert_int_equal(a.st, PIGEON_OK);
	assert_true(a.got);
	assert_false(a.due);
	a = t_step_kind(STORE_OP_PRESENCE_DUE, "*2|$1712345678|$0", "*2|$Alice|$1.5e3");
	assert_true(a.due);
}

static void
test_presence_due_malformed_is_internal(void **state)
{
	static const char *const bad[][2] = {{":1", "*0"}, {"*1|$1", "*0"}, {"*2|$x|$1", "*0"},
	    {"*2|$1|$2", ":0"}, {"*2|$1|$2", "*1|$Alice"}, {"*2|$1|$2", "*2|$Alice|$soon"},
	    {"*2|$1|$2", "*2|$Alice|$"}, {"*2|$1|$2", "*2|$Alice|:5"},
	    {"*2|$1|$2", "*2|$Alice|$inf"}, {"*2|$1|$2", "*3|$a|$1|$b"}};

	for (size_t i = 0; i < N(bad); i++) {
		t_step a = t_step_kind(STORE_OP_PRESENCE_DUE, bad[i][0], bad[i][1]);

		if (a.st != PIGEON_INTERNAL)
			print_message("accepted: %s then %s\n", bad[i][0], bad[i][1]);
		assert_int_equal(a.st, PIGEON_INTERNAL);
		assert_string_equal(a.msg, T_MALFORMED);
		assert_false(a.got);
	}
	/* Without its second reply, as for the journal. */
	{
		t_step a = t_step_kind(STORE_OP_PRESENCE_DUE, "*2|$1|$2", NULL);

		assert_int_equal(a.st, PIGEON_INTERNAL);
	}
}

static void
test_presence_answers_taken_ended_and_cursor(void **state)
{
	t_step a = t_step_complete("*3|:500|:498|$");

	assert_int_equal(a.st, PIGEON_OK);
	assert_true(a.got);
	assert_int_equal(a.taken, 500);
	assert_int_equal(a.ended, 498);
	assert_string_equal(a.cursor, "");
	a = t_step_complete("*3|:7|:0|$1234");
	assert_int_equal(a.st, PIGEON_OK);
	assert_int_equal(a.taken, 7);
	assert_int_equal(a.ended, 0);
	assert_string_equal(a.cursor, "1234");
}

static void
test_presence_malformed_and_errors_reach_its_callback(void **state)
{
	static const char *const bad[] = {":4", "_", "*2|:1|:2", "*3|$1|:2|$0", "*3|:1|_|$0",
	    "*3|:1|:2|:0", "+OK"};
	t_step a = {0};
	store_reply_req q = {.kind = STORE_OP_PRESENCE, .presence_cb = t_step_cb, .arg = &a};

	for (size_t i = 0; i < N(bad); i++) {
		a = t_step_complete(bad[i]);
		if (a.st != PIGEON_INTERNAL)
			print_message("accepted: %s\n", bad[i]);
		assert_int_equal(a.st, PIGEON_INTERNAL);
		assert_string_equal(a.msg, T_MALFORMED);
		assert_false(a.got);
	}
	a = t_step_complete("-OOM command not allowed when used memory > 'maxmemory'.");
	assert_int_equal(a.st, PIGEON_RESOURCE_EXHAUSTED);
	assert_false(a.got);
	a = (t_step){0};
	store_reply_fail(&q, PIGEON_UNAVAILABLE, "redis unavailable: connection refused");
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.st, PIGEON_UNAVAILABLE);
	assert_string_equal(a.msg, "redis unavailable: connection refused");
	assert_false(a.got);
}

/* ---- failures without a reply ---- */

static void
test_fail_answers_the_status_but_health_is_not_serving(void **state)
{
	t_answer a = {0};
	store_reply_req q = {STORE_OP_LOGIN, "Alice", 0, t_cb, &a};
	Pigeon__V1__HealthReply *h;

	store_reply_fail(&q, PIGEON_UNAVAILABLE, "redis unavailable: connection refused");
	assert_int_equal(a.calls, 1);
	assert_answer(&a, PIGEON_UNAVAILABLE, "redis unavailable: connection refused");

	q.kind = STORE_OP_HEALTH;
	store_reply_fail(&q, PIGEON_UNAVAILABLE, "redis unavailable: connection refused");
	assert_int_equal(a.calls, 2);
	h = t_ok(&a, &pigeon__v1__health_reply__descriptor);
	assert_int_equal(h->status, PIGEON__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING);
	t_free(h);

	store_reply_fail(&q, PIGEON_CANCELLED, "store closing");
	assert_int_equal(a.calls, 3);
	assert_answer(&a, PIGEON_CANCELLED, "store closing");
}

/* ---- published events ---- */

typedef struct t_event {
	int calls;
	char topic[128];
	uint8_t buf[4096];
	size_t len;
} t_event;

static void
t_on_event(void *arg, const char *topic, const Pigeon__V1__Event *ev)
{
	t_event *e = arg;

	e->calls++;
	snprintf(e->topic, sizeof(e->topic), "%s", topic);
	e->len = pigeon__v1__event__get_packed_size(ev);
	assert_true(e->len <= sizeof(e->buf));
	pigeon__v1__event__pack(ev, e->buf);
}

static pigeon_status
t_published(const char *channel, const char *json, t_event *e)
{
	memset(e, 0, sizeof(*e));
	return store_reply_published(channel, json, strlen(json), t_on_event, e);
}

static Pigeon__V1__Event *
t_event_unpack(const t_event *e)
{
	Pigeon__V1__Event *ev;

	assert_int_equal(e->calls, 1);
	assert_non_null(ev = pigeon__v1__event__unpack(NULL, e->len, e->buf));
	return ev;
}

static void
test_published_journal_event_goes_to_the_journal_topic(void **state)
{
	t_event e;
	Pigeon__V1__Event *ev;

	assert_int_equal(t_published("event_journal",
			     "{\"text\":\"SPAM: message with id 12 by Ilya\",\"seq\":7,"
			     "\"type\":\"SPAM\",\"time_ms\":1712345678901,\"username\":\"Ilya\","
			     "\"recipient\":\"Alice\",\"message_id\":12,"
			     "\"reason\":\"blocklist(buy now)\"}",
			     &e),
	    PIGEON_OK);
	assert_string_equal(e.topic, PIGEON_TOPIC_JOURNAL);
	ev = t_event_unpack(&e);
	assert_int_equal(ev->sequence, 7);
	assert_int_equal(ev->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_SPAM);
	assert_int_equal(ev->time_ms, 1712345678901LL);
	assert_string_equal(ev->username, "Ilya");
	assert_string_equal(ev->recipient, "Alice");
	assert_int_equal(ev->message_id, 12);
	assert_string_equal(ev->reason, "blocklist(buy now)");
	assert_string_equal(ev->text, "SPAM: message with id 12 by Ilya");
	assert_string_equal(ev->content, "");
	pigeon__v1__event__free_unpacked(ev, NULL);
}

static void
test_published_queued_event_goes_to_the_queue_topic(void **state)
{
	t_event e;
	Pigeon__V1__Event *ev;

	assert_int_equal(t_published("message_queue",
			     "{\"type\":\"QUEUED\",\"time_ms\":1712345678901,\"username\":\"Alice\","
			     "\"recipient\":\"Ilya\",\"message_id\":3}",
			     &e),
	    PIGEON_OK);
	assert_string_equal(e.topic, PIGEON_TOPIC_QUEUE);
	ev = t_event_unpack(&e);
	assert_int_equal(ev->sequence, 0);
	assert_int_equal(ev->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_QUEUED);
	assert_int_equal(ev->time_ms, 1712345678901LL);
	assert_string_equal(ev->username, "Alice");
	assert_string_equal(ev->recipient, "Ilya");
	assert_int_equal(ev->message_id, 3);
	assert_string_equal(ev->content, "");
	pigeon__v1__event__free_unpacked(ev, NULL);
}

static void
test_published_delivery_goes_to_the_recipients_inbox(void **state)
{
	t_event e;
	Pigeon__V1__Event *ev;

	assert_int_equal(t_published("message_delivered",
			     "{\"type\":\"DELIVERED\",\"time_ms\":1712345678901,"
			     "\"username\":\"Alice\",\"recipient\":\"Ilya\",\"message_id\":3,"
			     "\"content\":\"hi \\\"there\\\"\"}",
			     &e),
	    PIGEON_OK);
	assert_string_equal(e.topic, "inbox/Ilya");
	ev = t_event_unpack(&e);
	assert_int_equal(ev->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_DELIVERED);
	assert_string_equal(ev->recipient, "Ilya");
	assert_int_equal(ev->message_id, 3);
	assert_string_equal(ev->content, "hi \"there\"");
	pigeon__v1__event__free_unpacked(ev, NULL);
}

/* A read goes to the receipts of the message's sender (username). */
static void
test_published_read_goes_to_the_senders_receipts(void **state)
{
	t_event e;
	Pigeon__V1__Event *ev;

	assert_int_equal(t_published("message_read",
			     "{\"type\":\"READ\",\"time_ms\":1712345679000,"
			     "\"username\":\"Alice\",\"recipient\":\"Ilya\",\"message_id\":3}",
			     &e),
	    PIGEON_OK);
	assert_string_equal(e.topic, "receipts/Alice");
	ev = t_event_unpack(&e);
	assert_int_equal(ev->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_READ);
	assert_int_equal(ev->sequence, 0);
	assert_int_equal(ev->time_ms, 1712345679000LL);
	assert_string_equal(ev->username, "Alice");
	assert_string_equal(ev->recipient, "Ilya");
	assert_int_equal(ev->message_id, 3);
	assert_string_equal(ev->content, "");
	pigeon__v1__event__free_unpacked(ev, NULL);
}

static void
test_published_on_another_channel_is_not_found(void **state)
{
	t_event e;

	assert_int_equal(t_published("inbox/Ilya", "{\"type\":\"DELIVERED\"}", &e),
	    PIGEON_NOT_FOUND);
	assert_int_equal(t_published("", "{}", &e), PIGEON_NOT_FOUND);
	assert_int_equal(e.calls, 0);
}

static void
test_published_malformed_is_invalid_argument(void **state)
{
	static const struct {
		const char *channel;
		const char *json;
	} bad[] = {
		{"event_journal", ""},
		{"event_journal", "not json"},
		{"event_journal", "{\"seq\":1,\"type\":\"LOGIN\""},
		{"event_journal", "[1,2]"},
		{"event_journal", "\"LOGIN\""},
		{"event_journal", "null"},
		{"event_journal", "{}"},
		/* The type: missing, unknown, or not a string. */
		{"event_journal", "{\"seq\":1}"},
		{"event_journal", "{\"seq\":1,\"type\":\"RENAMED\"}"},
		{"event_journal", "{\"seq\":1,\"type\":1}"},
		{"event_journal", "{\"seq\":1,\"type\":null}"},
		/* A journal event needs its sequence. */
		{"event_journal", "{\"type\":\"LOGIN\"}"},
		{"event_journal", "{\"seq\":0,\"type\":\"LOGIN\"}"},
		/* Numbers of the wrong type, negative or too big. */
		{"event_journal", "{\"seq\":\"x\",\"type\":\"LOGIN\"}"},
		{"event_journal", "{\"seq\":-1,\"type\":\"LOGIN\"}"},
		{"event_journal", "{\"seq\":1.5,\"type\":\"LOGIN\"}"},
		{"event_journal", "{\"seq\":99999999999999999999,\"type\":\"LOGIN\"}"},
		{"event_journal", "{\"seq\":1,\"type\":\"LOGIN\",\"time_ms\":true}"},
		{"event_journal", "{\"seq\":1,\"type\":\"LOGIN\",\"time_ms\":\"12x\"}"},
		{"message_queue", "{\"type\":\"QUEUED\",\"message_id\":-3}"},
		{"message_queue", "{\"type\":\"QUEUED\",\"message_id\":[3]}"},
		/* Strings that are not. */
		{"event_journal", "{\"seq\":1,\"type\":\"LOGIN\",\"username\":5}"},
		{"event_journal", "{\"seq\":1,\"type\":\"LOGIN\",\"text\":{}}"},
		/* Duplicate keys. */
		{"event_journal", "{\"seq\":1,\"type\":\"LOGIN\",\"seq\":2}"},
		/* A delivery needs a recipient that can be a topic. */
		{"message_delivered", "{\"type\":\"DELIVERED\",\"message_id\":3}"},
		{"message_delivered", "{\"type\":\"DELIVERED\",\"recipient\":\"\"}"},
		{"message_delivered", "{\"type\":\"DELIVERED\",\"recipient\":\"Il ya\"}"},
		{"message_delivered",
		    "{\"type\":\"DELIVERED\",\"recipient\":"
		    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"},
		/* A read needs its type, a sender and a reader that are usernames,
		 * and a message id. */
		{"message_read",
		    "{\"type\":\"DELIVERED\",\"username\":\"A\",\"recipient\":\"B\","
		    "\"message_id\":3}"},
		{"message_read", "{\"type\":\"READ\",\"recipient\":\"B\",\"message_id\":3}"},
		{"message_read",
		    "{\"type\":\"READ\",\"username\":\"A b\",\"recipient\":\"B\","
		    "\"message_id\":3}"},
		{"message_read", "{\"type\":\"READ\",\"username\":\"A\",\"message_id\":3}"},
		{"message_read", "{\"type\":\"READ\",\"username\":\"A\",\"recipient\":\"B\"}"},
	};
	t_event e;

	for (size_t i = 0; i < N(bad); i++) {
		pigeon_status rv = t_published(bad[i].channel, bad[i].json, &e);

		if (rv != PIGEON_INVALID_ARGUMENT)
			print_message("answered %d: %s %s\n", (int)rv, bad[i].channel, bad[i].json);
		assert_int_equal(rv, PIGEON_INVALID_ARGUMENT);
		assert_int_equal(e.calls, 0);
	}
}

/* Fields the store does not know are skipped, whatever their type. */
static void
test_published_unknown_fields_are_skipped(void **state)
{
	t_event e;
	Pigeon__V1__Event *ev;

	assert_int_equal(t_published("event_journal",
			     "{\"seq\":2,\"type\":\"LOGOUT\",\"future\":[1,{\"a\":null}],"
			     "\"also\":1.5,\"username\":\"Alice\"}",
			     &e),
	    PIGEON_OK);
	ev = t_event_unpack(&e);
	assert_int_equal(ev->sequence, 2);
	assert_int_equal(ev->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGOUT);
	assert_string_equal(ev->username, "Alice");
	pigeon__v1__event__free_unpacked(ev, NULL);
}

/* ---- the journal and pub/sub agree ---- */

/* Each journaled event as the scripts write it twice: the JSON published on
 * event_journal (cjson: keys in any order, numbers as numbers) and the
 * journal entry as XRANGE returns it (every value a string). */
static const struct {
	const char *json;
	const char *entry;
} t_same[] = {
	{"{\"seq\":1,\"type\":\"LOGIN\",\"time_ms\":1712345678901,\"username\":\"Alice\","
	 "\"text\":\"LOGIN: Alice\"}",
	    "*1|*2|$1-0|*8|$type|$LOGIN|$time_ms|$1712345678901|$text|$LOGIN: Alice|$username|"
	    "$Alice"},
	{"{\"text\":\"LOGOUT: Alice\",\"username\":\"Alice\",\"time_ms\":1712345678999,"
	 "\"type\":\"LOGOUT\",\"seq\":2}",
	    "*1|*2|$2-0|*8|$type|$LOGOUT|$time_ms|$1712345678999|$text|$LOGOUT: Alice|"
	    "$username|$Alice"},
	{"{\"seq\":3,\"type\":\"SPAM\",\"time_ms\":1712345679000,\"username\":\"Ilya\","
	 "\"recipient\":\"Alice\",\"message_id\":12,\"reason\":\"blocklist(buy now)\","
	 "\"text\":\"SPAM: message with id 12 by Ilya\"}",
	    "*1|*2|$3-0|*14|$type|$SPAM|$time_ms|$1712345679000|$text|$SPAM: message with id "
	    "12 by Ilya|$username|$Ilya|$recipient|$Alice|$message_id|$12|$reason|$blocklist("
	    "buy now)"},
	{"{\"seq\":4,\"type\":\"WOULD_BE_SPAM\",\"time_ms\":1712345679001,\"username\":"
	 "\"Ilya\",\"recipient\":\"Alice\",\"message_id\":13,\"reason\":\"rate(31 in 60 s)\","
	 "\"text\":\"WOULD_BE_SPAM: message with id 13 by Ilya\"}",
	    "*1|*2|$4-0|*14|$type|$WOULD_BE_SPAM|$time_ms|$1712345679001|$text|$WOULD_BE_SPAM: "
	    "message with id 13 by Ilya|$username|$Ilya|$recipient|$Alice|$message_id|$13|"
	    "$reason|$rate(31 in 60 s)"},
	{"{\"message_id\":14,\"seq\":5,\"type\":\"DEAD_LETTER\",\"time_ms\":1712345679002,"
	 "\"username\":\"Malory\",\"recipient\":\"Ilya\",\"reason\":\"too many delivery "
	 "attempts\",\"text\":\"DEAD_LETTER: message with id 14 by Malory\"}",
	    "*1|*2|$5-0|*14|$type|$DEAD_LETTER|$time_ms|$1712345679002|$text|$DEAD_LETTER: "
	    "message with id 14 by Malory|$username|$Malory|$recipient|$Ilya|$message_id|$14|"
	    "$reason|$too many delivery attempts"},
	/* A spam verdict without reasons: the script leaves reason out. */
	{"{\"seq\":6,\"type\":\"SPAM\",\"time_ms\":1712345679003,\"username\":\"Ilya\","
	 "\"recipient\":\"Alice\",\"message_id\":15,\"text\":\"SPAM: message with id 15 by "
	 "Ilya\"}",
	    "*1|*2|$6-0|*12|$type|$SPAM|$time_ms|$1712345679003|$text|$SPAM: message with id 15 "
	    "by Ilya|$username|$Ilya|$recipient|$Alice|$message_id|$15"},
};

static void
test_journal_and_pubsub_decode_to_the_same_bytes(void **state)
{
	for (size_t i = 0; i < N(t_same); i++) {
		t_answer a = t_complete(STORE_OP_JOURNAL, 10, t_same[i].entry, "$6");
		Pigeon__V1__GetEventJournalReply *rep =
		    t_ok(&a, &pigeon__v1__get_event_journal_reply__descriptor);
		uint8_t journal[4096];
		size_t len;
		t_event e;

		assert_int_equal(rep->n_events, 1);
		assert_int_equal(rep->events[0]->sequence, i + 1);
		len = pigeon__v1__event__get_packed_size(rep->events[0]);
		assert_true(len <= sizeof(journal));
		pigeon__v1__event__pack(rep->events[0], journal);
		t_free(rep);

		assert_int_equal(t_published("event_journal", t_same[i].json, &e), PIGEON_OK);
		assert_string_equal(e.topic, PIGEON_TOPIC_JOURNAL);
		assert_int_equal(e.calls, 1);
		assert_int_equal(e.len, len);
		assert_memory_equal(e.buf, journal, len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script_errors_carry_their_status_and_message),
		cmocka_unit_test(test_redis_errors_map_by_the_table_with_their_whole_text),
		cmocka_unit_test(test_journal_error_in_the_second_reply_answers),
		cmocka_unit_test(test_no_reply_at_all_is_internal),
		cmocka_unit_test(test_login_answers_username_and_sequence),
		cmocka_unit_test(test_logout_answers_username_and_sequence),
		cmocka_unit_test(test_login_malformed_is_internal),
		cmocka_unit_test(test_send_answers_the_queued_message),
		cmocka_unit_test(test_send_duplicate_answers_the_first_message),
		cmocka_unit_test(test_send_state_outside_the_proto_is_unspecified),
		cmocka_unit_test(test_send_malformed_is_internal),
		cmocka_unit_test(test_user_stats_answers_five_counts_of_six),
		cmocka_unit_test(test_user_stats_negative_counts_read_zero),
		cmocka_unit_test(test_user_stats_malformed_is_internal),
		cmocka_unit_test(test_inbox_pages_with_a_next_cursor),
		cmocka_unit_test(test_inbox_last_page_has_no_cursor),
		cmocka_unit_test(test_inbox_malformed_is_internal),
		cmocka_unit_test(test_leaderboard_counts_are_negated_scores),
		cmocka_unit_test(test_leaderboard_empty),
		cmocka_unit_test(test_leaderboard_malformed_is_internal),
		cmocka_unit_test(test_online_pages_with_the_last_name_as_cursor),
		cmocka_unit_test(test_online_malformed_is_internal),
		cmocka_unit_test(test_journal_entries_become_events),
		cmocka_unit_test(test_journal_pages_with_the_last_sequence_as_cursor),
		cmocka_unit_test(test_journal_empty_before_the_first_event),
		cmocka_unit_test(test_journal_unknown_type_is_unspecified),
		cmocka_unit_test(test_journal_malformed_is_internal),
		cmocka_unit_test(test_journal_malformed_last_sequence_is_internal),
		cmocka_unit_test(test_journal_without_its_second_reply_is_internal),
		cmocka_unit_test(test_register_answers_the_role),
		cmocka_unit_test(test_register_malformed_is_internal),
		cmocka_unit_test(test_health_answers_the_queue_figures),
		cmocka_unit_test(test_health_error_reply_is_not_serving),
		cmocka_unit_test(test_health_malformed_is_internal),
		cmocka_unit_test(test_report_answers_the_message_and_whether_it_changed),
		cmocka_unit_test(test_report_malformed_is_internal),
		cmocka_unit_test(test_train_answers_the_totals),
		cmocka_unit_test(test_mark_read_answers_unread_and_marked),
		cmocka_unit_test(test_mark_read_malformed_is_internal),
		cmocka_unit_test(test_heartbeat_answers_online_and_the_deadline),
		cmocka_unit_test(test_heartbeat_malformed_is_internal),
		cmocka_unit_test(test_user_answers_role_presence_and_times),
		cmocka_unit_test(test_user_malformed_is_internal),
		cmocka_unit_test(test_presence_answers_taken_ended_and_cursor),
		cmocka_unit_test(test_presence_due_compares_the_earliest_deadline_with_the_time),
		cmocka_unit_test(test_presence_due_malformed_is_internal),
		cmocka_unit_test(test_presence_malformed_and_errors_reach_its_callback),
		cmocka_unit_test(test_fail_answers_the_status_but_health_is_not_serving),
		cmocka_unit_test(test_published_journal_event_goes_to_the_journal_topic),
		cmocka_unit_test(test_published_queued_event_goes_to_the_queue_topic),
		cmocka_unit_test(test_published_delivery_goes_to_the_recipients_inbox),
		cmocka_unit_test(test_published_read_goes_to_the_senders_receipts),
		cmocka_unit_test(test_published_on_another_channel_is_not_found),
		cmocka_unit_test(test_published_malformed_is_invalid_argument),
		cmocka_unit_test(test_published_unknown_fields_are_skipped),
		cmocka_unit_test(test_journal_and_pubsub_decode_to_the_same_bytes),
	};

	/* Malformed replies are logged as errors; the tests want none of the
	 * warnings. */
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
