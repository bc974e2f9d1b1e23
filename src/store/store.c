/* SPDX-License-Identifier: MIT */
/*
 * The store's public face; see store.h.  It owns what each operation asks
 * Redis (which script or command, with which arguments, how many to read
 * for a page) and nothing else: users.c reads the users file, conn.c runs
 * the connections, reply.c turns the replies into messages.
 */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clocks.h"
#include "conn.h"
#include "names.h"
#include "redis.h"
#include "users.h"
#include "validate.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000

struct store {
	store_conns *conns;
	/* Journal entries kept, as the scripts' journal_max argument. */
	char jmax[24];
	/* The presence TTL in ms, as the scripts' argument. */
	char ttl[24];
	store_users users;
};

static uint32_t
page_size(uint32_t asked)
{
	if (asked == 0)
		return PAGE_DEFAULT;
	return asked > PAGE_MAX ? PAGE_MAX : asked;
}

pigeon_status
store_open(store **out, const store_opts *opts)
{
	store *st;
	store_url url;
	pigeon_status rv;
	unsigned n = opts->connections != 0 ? opts->connections : STORE_CONNECTIONS_DEFAULT;

	if (n > STORE_CONNECTIONS_MAX)
		return PIGEON_INVALID_ARGUMENT;
	if ((rv = store_url_parse(opts->url != NULL ? opts->url : STORE_DEFAULT_URL, &url)) !=
	    PIGEON_OK)
		return rv;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	snprintf(st->jmax, sizeof(st->jmax), "%llu",
	    (unsigned long long)(opts->journal_max != 0 ? opts->journal_max : 1000000));
	snprintf(st->ttl, sizeof(st->ttl), "%" PRId64,
	    opts->presence_ttl_ms > 0 ? opts->presence_ttl_ms : STORE_PRESENCE_TTL_DEFAULT_MS);
	if (opts->users_file != NULL &&
	    (rv = store_users_load(opts->users_file, &st->users)) != PIGEON_OK)
		goto fail_free;
	if ((rv = store_conns_open(&st->conns, &url, &st->users, n)) != PIGEON_OK)
		goto fail_users;
	*out = st;
	return PIGEON_OK;

fail_users:
	store_users_fini(&st->users);
fail_free:
	free(st);
	return rv;
}

void
store_close(store *st)
{
	if (st == NULL)
		return;
	store_conns_close(st->conns);
	store_users_fini(&st->users);
	free(st);
}

bool
store_connected(const store *st)
{
	return store_conns_up(st->conns);
}

void
store_login(store *st, const char *username, store_cb cb, void *arg)
{
	const char *argv[] = {username, st->jmax, st->ttl};

	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_LOGIN, STORE_SCRIPT_LOGIN, 3, argv, cb, arg));
}

void
store_logout(store *st, const char *username, store_cb cb, void *arg)
{
	const char *argv[] = {username, st->jmax};

	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_LOGOUT, STORE_SCRIPT_LOGOUT, 2, argv, cb, arg));
}

void
store_login_again(store *st, const char *username, const char *session, store_cb cb, void *arg)
{
	const char *argv[] = {username, st->jmax, st->ttl, "again", session};

	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_LOGIN, STORE_SCRIPT_LOGIN, 5, argv, cb, arg));
}

void
store_logout_again(store *st, const char *username, const char *session, store_cb cb, void *arg)
{
	const char *argv[] = {username, st->jmax, "again", session};

	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_LOGOUT, STORE_SCRIPT_LOGOUT, 4, argv, cb, arg));
}

void
store_send_message(store *st, const Pigeon__V1__SendMessageRequest *req, store_cb cb, void *arg)
{
	const char *argv[] = {req->sender, req->recipient, req->content,
	    req->idempotency_key != NULL ? req->idempotency_key : "", st->ttl};

	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_SEND, STORE_SCRIPT_SEND, 5, argv, cb, arg));
}

void
store_heartbeat(store *st, const char *username, const char *session, store_cb cb, void *arg)
{
	const char *argv[] = {username, st->jmax, st->ttl, session};

	store_conns_submit(st->conns,
	    store_op_new(STORE_OP_HEARTBEAT, STORE_SCRIPT_HEARTBEAT, 4, argv, cb, arg));
}

void
store_mark_read(store *st, const char *username, uint64_t up_to_id, store_cb cb, void *arg)
{
	char upto[24];
	const char *argv[] = {username, upto, st->ttl};

	snprintf(upto, sizeof(upto), "%llu", (unsigned long long)up_to_id);
	store_conns_submit(st->conns,
	    store_op_new(STORE_OP_MARK_READ, STORE_SCRIPT_MARK_READ, 3, argv, cb, arg));
}

void
store_read_message(store *st, const char *username, uint64_t id, store_cb cb, void *arg)
{
	char ids[24];
	const char *argv[] = {username, ids};

	snprintf(ids, sizeof(ids), "%llu", (unsigned long long)id);
	store_conns_submit(st->conns,
	    store_op_new(STORE_OP_REPORT, STORE_SCRIPT_READ_MESSAGE, 2, argv, cb, arg));
}

void
store_report(store *st, const char *username, uint64_t id, bool spam, const char *const *tokens,
    size_t ntokens, store_cb cb, void *arg)
{
	char ids[24];
	const char **argv;

	if ((argv = malloc((4 + ntokens) * sizeof(*argv))) == NULL) {
		cb(arg, PIGEON_RESOURCE_EXHAUSTED, "out of memory", NULL);
		return;
	}
	snprintf(ids, sizeof(ids), "%llu", (unsigned long long)id);
	argv[0] = username;
	argv[1] = ids;
	argv[2] = spam ? "spam" : "ham";
	argv[3] = st->jmax;
	memcpy(argv + 4, tokens, ntokens * sizeof(*argv));
	store_conns_submit(st->conns, store_op_new(STORE_OP_REPORT, STORE_SCRIPT_REPORT,
					  (int)(4 + ntokens), argv, cb, arg));
	free(argv);
}

void
store_train(store *st, const char *const *batch, size_t n, store_cb cb, void *arg)
{
	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_TRAIN, STORE_SCRIPT_TRAIN, (int)n, batch, cb, arg));
}

void
store_get_user(store *st, const char *username, store_cb cb, void *arg)
{
	const char *argv[] = {username};

	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_USER, STORE_SCRIPT_USER, 1, argv, cb, arg));
}

void
store_get_user_stats(store *st, const char *username, store_cb cb, void *arg)
{
	const char *argv[] = {username};

	store_conns_submit(st->conns,
	    store_op_new(STORE_OP_USER_STATS, STORE_SCRIPT_USER_STATS, 1, argv, cb, arg));
}

void
store_list_inbound_messages(
    store *st, const Pigeon__V1__ListInboundMessagesRequest *req, store_cb cb, void *arg)
{
	char cursor[24], count[16];
	uint32_t page = page_size(req->page_size);
	const char *argv[] = {req->username, cursor, count, "unread"};
	store_op *op;

	snprintf(cursor, sizeof(cursor), "%llu", (unsigned long long)req->cursor);
	snprintf(count, sizeof(count), "%u", page + 1);
	if ((op = store_op_new(STORE_OP_INBOX, STORE_SCRIPT_INBOX, req->unread_only ? 4 : 3, argv,
		 cb, arg)) != NULL)
		op->req.page = page;
	store_conns_submit(st->conns, op);
}

static void
leaderboard(
    store *st, store_op_kind kind, const char *key, uint32_t limit, store_cb cb, void *arg)
{
	char stop[16];
	const char *argv[] = {"ZRANGE", key, "0", stop, "WITHSCORES"};

	snprintf(stop, sizeof(stop), "%u", page_size(limit) - 1);
	store_conns_submit(st->conns, store_op_new(kind, -1, 5, argv, cb, arg));
}

void
store_get_spammer_stats(store *st, uint32_t limit, store_cb cb, void *arg)
{
	leaderboard(st, STORE_OP_SPAMMERS, "pigeon:spammers", limit, cb, arg);
}

void
store_get_chatter_stats(store *st, uint32_t limit, store_cb cb, void *arg)
{
	leaderboard(st, STORE_OP_CHATTERS, "pigeon:chatters", limit, cb, arg);
}

void
store_list_online_users(
    store *st, const Pigeon__V1__ListOnlineUsersRequest *req, store_cb cb, void *arg)
{
	uint32_t page = page_size(req->page_size);
	char start[PIGEON_USERNAME_MAX * 4 + 2], count[16];
	const char *argv[] = {"ZRANGEBYLEX", "pigeon:online", start, "+", "LIMIT", "0", count};
	store_op *op;

	/* The cursor is the last name of the previous page: start after it. */
	if (req->cursor != NULL && req->cursor[0] != '\0')
		snprintf(start, sizeof(start), "(%s", req->cursor);
	else
		snprintf(start, sizeof(start), "-");
	snprintf(count, sizeof(count), "%u", page + 1);
	if ((op = store_op_new(STORE_OP_ONLINE, -1, 7, argv, cb, arg)) != NULL)
		op->req.page = page;
	store_conns_submit(st->conns, op);
}

/* Two plain commands, no script: XRANGE or XREVRANGE of the page, then GET
 * of the last sequence.  (A script turning the stream's entries into Lua
 * tables and back spent five times the range's own time in Redis.) */
void
store_get_event_journal(
    store *st, const Pigeon__V1__GetEventJournalRequest *req, store_cb cb, void *arg)
{
	uint32_t page = page_size(req->page_size);
	char from[32], count[16];
	const char *argv[] = {
	    "XREVRANGE", "pigeon:journal", "+", "-", "COUNT", count, "GET", "pigeon:journal:seq"};
	store_op *op;

	snprintf(count, sizeof(count), "%u", page + 1);
	if (req->after != 0) {
		snprintf(from, sizeof(from), "%llu-0", (unsigned long long)req->after + 1);
		argv[0] = "XRANGE";
		argv[2] = from;
		argv[3] = "+";
	} else if (req->cursor != 0) {
		snprintf(from, sizeof(from), "%llu-0", (unsigned long long)req->cursor - 1);
		argv[2] = from;
	}
	if ((op = store_op_new(STORE_OP_JOURNAL, -1, 8, argv, cb, arg)) != NULL) {
		op->req.page = page;
		op->split = 6;
	}
	store_conns_submit(st->conns, op);
}

void
store_register_user_password(store *st, const Pigeon__V1__RegisterUserRequest *req,
    const char *hash, store_cb cb, void *arg)
{
	char skel[VALIDATE_SKELETON_MAX];
	const char *argv[] = {req->username,
	    names_role(req->role == PIGEON__V1__ROLE__ROLE_ADMIN ? PIGEON__V1__ROLE__ROLE_ADMIN
								 : PIGEON__V1__ROLE__ROLE_REGULAR),
	    skel, hash != NULL ? hash : ""};
	pigeon_status rv;

	/* Here, not in the script: Redis has no ICU. */
	if ((rv = validate_username_skeleton(req->username, strlen(req->username), skel,
		 sizeof(skel))) != PIGEON_OK) {
		cb(arg, rv,
		    rv == PIGEON_INVALID_ARGUMENT ? "username is not valid"
						  : "cannot compute the username's skeleton",
		    NULL);
		return;
	}
	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_REGISTER, STORE_SCRIPT_REGISTER, 4, argv, cb, arg));
}

void
store_register_user(
    store *st, const Pigeon__V1__RegisterUserRequest *req, store_cb cb, void *arg)
{
	store_register_user_password(st, req, NULL, cb, arg);
}

void
store_health(store *st, store_cb cb, void *arg)
{
	char live[24], now[24];
	const char *argv[] = {live, now};

	snprintf(live, sizeof(live), "%d", STORE_CONSUMER_LIVE_MS);
	snprintf(now, sizeof(now), "%" PRId64, clocks_wall_ms());
	store_conns_submit(
	    st->conns, store_op_new(STORE_OP_HEALTH, STORE_SCRIPT_HEALTH, 2, argv, cb, arg));
}

void
store_auth_read(store *st, const char *username, const char *session, int64_t now_ms,
    store_auth_cb cb, void *arg)
{
	char now[24];
	const char *argv[] = {username, session != NULL ? session : "", now};

	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	store_conns_submit(st->conns, store_op_new_auth(STORE_SCRIPT_AUTH_READ, 3, argv, cb, arg));
}

void
store_auth_fail(store *st, const char *username, int64_t window_ms, store_auth_cb cb, void *arg)
{
	char window[24];
	const char *argv[] = {username, window};

	snprintf(window, sizeof(window), "%" PRId64, window_ms);
	store_conns_submit(st->conns, store_op_new_auth(STORE_SCRIPT_AUTH_FAIL, 2, argv, cb, arg));
}

void
store_auth_revoke(store *st, const char *username, const char *session, int64_t expires_ms,
    int64_t now_ms, store_auth_cb cb, void *arg)
{
	char expires[24], now[24];
	const char *argv[] = {username, session, expires, now};

	snprintf(expires, sizeof(expires), "%" PRId64, expires_ms);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	store_conns_submit(
	    st->conns, store_op_new_auth(STORE_SCRIPT_AUTH_REVOKE, 4, argv, cb, arg));
}

void
store_auth_revoke_all(store *st, const char *username, store_auth_cb cb, void *arg)
{
	const char *argv[] = {username};

	store_conns_submit(
	    st->conns, store_op_new_auth(STORE_SCRIPT_AUTH_REVOKE_ALL, 1, argv, cb, arg));
}

void
store_auth_register_count(store *st, int64_t window_ms, store_auth_cb cb, void *arg)
{
	char window[24];
	const char *argv[] = {window};

	snprintf(window, sizeof(window), "%" PRId64, window_ms);
	store_conns_submit(
	    st->conns, store_op_new_auth(STORE_SCRIPT_AUTH_REGISTER_COUNT, 1, argv, cb, arg));
}

/* Two plain reads, no script: a sweeper with nothing to do costs Redis two
 * cheap commands, and holds no write (CLIENT PAUSE WRITE lets them run). */
void
store_presence_due(store *st, store_presence_cb cb, void *arg)
{
	const char *argv[] = {
	    "TIME", "ZRANGE", "pigeon:presence:deadlines", "0", "0", "WITHSCORES"};
	store_op *op;

	if ((op = store_op_new_presence(STORE_OP_PRESENCE_DUE, -1, 6, argv, cb, arg)) != NULL)
		op->split = 1;
	store_conns_submit(st->conns, op);
}

void
store_presence_sweep(store *st, unsigned batch, store_presence_cb cb, void *arg)
{
	char n[16];
	const char *argv[] = {n, st->jmax};

	snprintf(n, sizeof(n), "%u", batch);
	store_conns_submit(st->conns, store_op_new_presence(STORE_OP_PRESENCE,
					  STORE_SCRIPT_PRESENCE_SWEEP, 2, argv, cb, arg));
}

void
store_presence_adopt(store *st, const char *cursor, store_presence_cb cb, void *arg)
{
	const char *argv[] = {cursor, st->ttl};

	store_conns_submit(st->conns, store_op_new_presence(STORE_OP_PRESENCE,
					  STORE_SCRIPT_PRESENCE_ADOPT, 2, argv, cb, arg));
}

void
store_render(store *st, prom_text *t)
{
	store_conns_render(st->conns, t);
}
