/* SPDX-License-Identifier: MIT */
/*
 * pigeon: the command-line client.  One subcommand per RPC, human-readable
 * output by default and one JSON object with --json.  On failure it prints
 * the status name and the server's message to stderr and exits 1 (2 for a
 * usage error).  Against pigeond --auth required, login saves the session
 * token in a file (token_file.h) that every other command sends; passwords
 * come from the terminal or a file (password.h), only when asked for, so
 * that open mode's commands run as they always did.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <pigeon/pigeon.h>

#include "password.h"
#include "pigeon-config.h"
#include "texts.h"
#include "token_file.h"

/* pigeond's defaults for its --content-max and --recv-max, which train's
 * batches must fit; and the texts one Train call may carry. */
#define CONTENT_MAX_DEFAULT 65536
#define RECV_MAX_DEFAULT 262144
#define TRAIN_TEXTS_MAX 1000
/* Room in a request for all but the texts: the envelope (method, ids,
 * deadline, a token of up to PIGEON_TOKEN_MAX bytes) and the payload's
 * framing. */
#define TRAIN_OVERHEAD 4096

typedef struct cli {
	pigeon_client *client;
	bool json;
	int32_t deadline_ms;
	const char *url;
	const char *pub_url;
	uint64_t limit;
	uint64_t cursor;
	uint64_t after;
	const char *key;
	const char *role;
	const char *topic;
	const char *user;
	/* inbox: only the messages not yet read. */
	bool unread;
	/* report: --spam or --not-spam (exactly one); train: the directories
	 * of --spam and --ham. */
	int spam_given, not_spam_given, ham_given;
	const char *spam_dir;
	const char *ham_dir;
	/* train: pigeond's limits, which its batches respect. */
	uint64_t content_max;
	uint64_t recv_max;
	/* Where login and register get a password; neither: they send none. */
	bool ask_password;
	const char *password_file;
	/* The token file (when a path could be found) and the token it held
	 * when the command started (have_token). */
	char token_path[4096];
	bool token_path_ok;
	bool have_token;
	token_file_saved saved;
	/* The user the command acts for, whom the hint after UNAUTHENTICATED
	 * names; NULL for commands that act for nobody in particular. */
	const char *acting;
} cli;

typedef struct command {
	const char *name;
	const char *args;
	int nargs;
	const char *help;
	int (*run)(cli *c, char **argv);
} command;

/* Prints a failed call's status and message, and hint (may be NULL) in
 * parentheses after them. */
static int
fail_hint(pigeon_status st, const pigeon_error *err, const char *hint)
{
	fprintf(stderr, "pigeon: %s: %s%s%s%s\n", pigeon_status_name(st),
	    err->message[0] != '\0' ? err->message : "(no message)", hint != NULL ? " (" : "",
	    hint != NULL ? hint : "", hint != NULL ? ")" : "");
	return 1;
}

/* A failed call of any command but login: UNAUTHENTICATED (no token, or a
 * dead one) says how to get a token, for the user the command acts for, else
 * the saved token's user. */
static int
fail(const cli *c, pigeon_status st, const pigeon_error *err)
{
	const char *who = "USER";
	char hint[128];

	if (st != PIGEON_UNAUTHENTICATED)
		return fail_hint(st, err, NULL);
	if (c->acting != NULL)
		who = c->acting;
	else if (c->have_token && c->saved.username[0] != '\0')
		who = c->saved.username;
	snprintf(hint, sizeof(hint), "log in with: pigeon login %s", who);
	return fail_hint(st, err, hint);
}

/* Prints a JSON value on one line and frees it. */
static int
print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(v);
	if (s == NULL)
		return 1;
	puts(s);
	free(s);
	return 0;
}

/* A value's name as Pigeon prints it, "unspecified" for one the client's
 * copy of the protocol does not know (a newer server). */
static const char *
enum_name(const ProtobufCEnumDescriptor *desc, int v)
{
	const char *n = pigeon_enum_name(desc, v);

	return n != NULL ? n : "unspecified";
}

static const char *
state_name(Pigeon__V1__MessageState st)
{
	return enum_name(&pigeon__v1__message_state__descriptor, (int)st);
}

static json_t *
message_json(const Pigeon__V1__Message *m)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:I}", "id", (json_int_t)m->id, "sender",
	    m->sender, "recipient", m->recipient, "content", m->content, "state",
	    state_name(m->state), "created_ms", (json_int_t)m->created_ms, "read_ms",
	    (json_int_t)m->read_ms);
}

static void
format_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ms since the epoch as ISO 8601 in UTC: 2030-01-01T00:00:00Z. */
static void
format_iso_utc(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Reads user's password into pw (PASSWORD_CAP bytes) from --password-file
 * or, with --ask-password, from the terminal (twice with confirm); with
 * neither, pw is "" and *given false: open mode wants none, and its
 * commands must run without a prompt.  Returns 0, or the exit code after
 * saying why. */
static int
get_password(const cli *c, const char *user, bool confirm, char *pw, bool *given)
{
	char prompt[128], again[128], err[512];
	pigeon_status st;

	pw[0] = '\0';
	*given = false;
	if (c->password_file != NULL) {
		st = password_read_file(c->password_file, pw, err, sizeof(err));
	} else if (c->ask_password) {
		snprintf(prompt, sizeof(prompt), "Password for %s: ", user);
		snprintf(again, sizeof(again), "Password for %s (again): ", user);
		st = password_ask(prompt, confirm ? again : NULL, pw, err, sizeof(err));
	} else {
		return 0;
	}
	if (st != PIGEON_OK) {
		fprintf(stderr, "pigeon: %s%s\n", err,
		    c->ask_password && st == PIGEON_UNKNOWN ? "; use --password-file F" : "");
		return 1;
	}
	*given = true;
	return 0;
}

/* Removes the token file, whose token is dead or no longer the user's.
 * Returns 0, or 1 after saying why not. */
static int
drop_token(const cli *c)
{
	char err[512];

	if (token_file_remove(c->token_path, err, sizeof(err)) == PIGEON_OK)
		return 0;
	fprintf(stderr, "pigeon: %s\n", err);
	return 1;
}

/* Whether the saved token is user's: the file names them, or nobody. */
static bool
token_is_of(const cli *c, const char *user)
{
	return c->have_token &&
	       (c->saved.username[0] == '\0' || strcmp(c->saved.username, user) == 0);
}

static int
cmd_health(cli *c, char **argv)
{
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	pigeon_error err;
	pigeon_status st;
	const char *status;
	int rc;

	if ((st = pigeon_health(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	status = rep->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING ? "SERVING"
										    : "NOT_SERVING";
	if (c->json) {
		print_json(json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "status", status, "version",
		    rep->version, "queue_depth", (json_int_t)rep->queue_depth, "queue_pending",
		    (json_int_t)rep->queue_pending, "dead_letters", (json_int_t)rep->dead_letters,
		    "workers", (json_int_t)rep->workers, "uptime_ms", (json_int_t)rep->uptime_ms));
	} else {
		printf("%s\n", status);
		printf("version %s, uptime %" PRId64 " s, queue %" PRIu64 " waiting, %" PRIu64
		       " in progress, %" PRIu64 " dead-lettered, %u workers\n",
		    rep->version, rep->uptime_ms / 1000, rep->queue_depth, rep->queue_pending,
		    rep->dead_letters, rep->workers);
	}
	rc = rep->status == PIGEON__V1__SERVING_STATUS__SERVING_STATUS_SERVING ? 0 : 1;
	pigeon_reply_free(rep);
	return rc;
}

/* Saves the token of a login in required mode.  When it cannot be saved,
 * the session is ended at once: nobody could use it, and it would keep the
 * user online.  Returns 0 or 1. */
static int
save_session(cli *c, const Pigeon__V1__LoginReply *rep)
{
	Pigeon__V1__LogoutRequest req = PIGEON__V1__LOGOUT_REQUEST__INIT;
	Pigeon__V1__LogoutReply *out;
	char err[512];

	if (!c->token_path_ok)
		snprintf(err, sizeof(err),
		    "nowhere to save the session token: set HOME or XDG_CONFIG_HOME, or give "
		    "--token-file F");
	else if (token_file_save(c->token_path, rep->token, rep->username, err, sizeof(err)) ==
		 PIGEON_OK)
		return 0;
	fprintf(stderr, "pigeon: %s\n", err);
	req.username = rep->username;
	if (pigeon_client_set_token(c->client, rep->token) == PIGEON_OK &&
	    pigeon_logout(c->client, &req, &out, NULL) == PIGEON_OK)
		pigeon_reply_free(out);
	return 1;
}

static int
cmd_login(cli *c, char **argv)
{
	Pigeon__V1__LoginRequest req = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *rep;
	pigeon_error err;
	pigeon_status st;
	char pw[PASSWORD_CAP], hint[160], until[32];
	bool given;
	int rc;

	if ((rc = get_password(c, argv[0], false, pw, &given)) != 0)
		return rc;
	req.username = argv[0];
	req.password = pw;
	st = pigeon_login(c->client, &req, &rep, &err);
	password_wipe(pw);
	if (st != PIGEON_OK) {
		/* Only required mode answers UNAUTHENTICATED to a login. */
		snprintf(hint, sizeof(hint),
		    "this server wants a password: pigeon login --ask-password %s", argv[0]);
		return fail_hint(st, &err, st == PIGEON_UNAUTHENTICATED && !given ? hint : NULL);
	}
	if (rep->token[0] == '\0') {
		/* Open mode: no token, nothing to save, the output of old. */
		if (c->json)
			print_json(json_pack("{s:s,s:I}", "username", rep->username, "sequence",
			    (json_int_t)rep->sequence));
		else
			printf("Logged in %s.\n", rep->username);
	} else if ((rc = save_session(c, rep)) == 0) {
		if (c->json) {
			print_json(json_pack("{s:s,s:I,s:I}", "username", rep->username, "sequence",
			    (json_int_t)rep->sequence, "expires_ms", (json_int_t)rep->expires_ms));
		} else {
			format_iso_utc(rep->expires_ms, until, sizeof(until));
			printf("Logged in as %s until %s.\n", rep->username, until);
		}
	}
	pigeon_reply_free(rep);
	return rc;
}

static int
cmd_logout(cli *c, char **argv)
{
	Pigeon__V1__LogoutRequest req = PIGEON__V1__LOGOUT_REQUEST__INIT;
	Pigeon__V1__LogoutReply *rep;
	pigeon_error err;
	pigeon_status st;
	int rc;

	c->acting = argv[0];
	req.username = argv[0];
	if ((st = pigeon_logout(c->client, &req, &rep, &err)) != PIGEON_OK) {
		/* The saved token did not verify: it is dead, whoever's it was. */
		if (st == PIGEON_UNAUTHENTICATED && c->have_token)
			drop_token(c);
		return fail(c, st, &err);
	}
	if (c->json)
		print_json(json_pack("{s:s,s:I}", "username", rep->username, "sequence",
		    (json_int_t)rep->sequence));
	else
		printf("Logged out %s.\n", rep->username);
	/* An admin logging another user out keeps their own session. */
	rc = token_is_of(c, argv[0]) ? drop_token(c) : 0;
	pigeon_reply_free(rep);
	return rc;
}

static int
cmd_send(cli *c, char **argv)
{
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	Pigeon__V1__SendMessageReply *rep;
	pigeon_error err;
	pigeon_status st;

	c->acting = argv[0];
	req.sender = argv[0];
	req.recipient = argv[1];
	req.content = argv[2];
	req.idempotency_key = (char *)(c->key != NULL ? c->key : "");
	if ((st = pigeon_send_message(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json) {
		json_t *m = message_json(rep->message);

		json_object_set_new(m, "duplicate", json_boolean(rep->duplicate));
		print_json(m);
	} else {
		printf("Message %" PRIu64 " from %s to %s %s.\n", rep->message->id,
		    rep->message->sender, rep->message->recipient,
		    rep->duplicate ? "was sent before (same idempotency key)" : "queued");
	}
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_stats(cli *c, char **argv)
{
	Pigeon__V1__GetUserStatsRequest req = PIGEON__V1__GET_USER_STATS_REQUEST__INIT;
	Pigeon__V1__UserStats *rep;
	pigeon_error err;
	pigeon_status st;

	c->acting = argv[0];
	req.username = argv[0];
	if ((st = pigeon_get_user_stats(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json)
		print_json(json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "username", rep->username,
		    "enqueued", (json_int_t)rep->enqueued, "being_spam_checked",
		    (json_int_t)rep->being_spam_checked, "delivered", (json_int_t)rep->delivered,
		    "marked_as_spam", (json_int_t)rep->marked_as_spam, "unread",
		    (json_int_t)rep->unread));
	else
		printf("%s sent: %" PRIu64 " delivered, %" PRIu64 " marked as spam, %" PRIu64
		       " enqueued, %" PRIu64 " being spam-checked; %" PRIu64 " unread\n",
		    rep->username, rep->delivered, rep->marked_as_spam, rep->enqueued,
		    rep->being_spam_checked, rep->unread);
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_inbox(cli *c, char **argv)
{
	Pigeon__V1__ListInboundMessagesRequest req =
	    PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
	Pigeon__V1__ListInboundMessagesReply *rep;
	pigeon_error err;
	pigeon_status st;

	c->acting = argv[0];
	req.username = argv[0];
	req.page_size = (uint32_t)c->limit;
	req.cursor = c->cursor;
	req.unread_only = c->unread;
	if ((st = pigeon_list_inbound_messages(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < rep->n_messages; i++)
			json_array_append_new(arr, message_json(rep->messages[i]));
		print_json(json_pack("{s:o,s:I}", "messages", arr, "next_cursor",
		    (json_int_t)rep->next_cursor));
	} else {
		for (size_t i = 0; i < rep->n_messages; i++) {
			const Pigeon__V1__Message *m = rep->messages[i];
			char when[32], read[32];

			/* A read message says when; an unread one reads as
			 * it always did. */
			format_time(m->created_ms, when, sizeof(when));
			if (m->read_ms != 0)
				format_time(m->read_ms, read, sizeof(read));
			printf("#%" PRIu64 " %s from %s%s%s: %s\n", m->id, when, m->sender,
			    m->read_ms != 0 ? ", read " : "", m->read_ms != 0 ? read : "",
			    m->content);
		}
		if (rep->n_messages == 0)
			printf("No messages.\n");
		if (rep->next_cursor != 0)
			printf("More: --cursor %" PRIu64 "\n", rep->next_cursor);
	}
	pigeon_reply_free(rep);
	return 0;
}

static int
leaderboard(cli *c, bool spammers)
{
	Pigeon__V1__LeaderboardRequest req = PIGEON__V1__LEADERBOARD_REQUEST__INIT;
	Pigeon__V1__Leaderboard *rep;
	pigeon_error err;
	pigeon_status st;

	req.limit = (uint32_t)c->limit;
	st = spammers ? pigeon_get_spammer_stats(c->client, &req, &rep, &err)
		      : pigeon_get_chatter_stats(c->client, &req, &rep, &err);
	if (st != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < rep->n_entries; i++)
			json_array_append_new(arr, json_pack("[s,I]", rep->entries[i]->username,
			    (json_int_t)rep->entries[i]->count));
		print_json(json_pack("{s:o}", spammers ? "spammers" : "chatters", arr));
	} else {
		for (size_t i = 0; i < rep->n_entries; i++)
			printf("%4zu. %-20s %" PRIu64 "\n", i + 1, rep->entries[i]->username,
			    rep->entries[i]->count);
		if (rep->n_entries == 0)
			printf(spammers ? "No spammers.\n" : "No chatters.\n");
	}
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_spammers(cli *c, char **argv)
{
	return leaderboard(c, true);
}

static int
cmd_chatters(cli *c, char **argv)
{
	return leaderboard(c, false);
}

static int
cmd_online(cli *c, char **argv)
{
	Pigeon__V1__ListOnlineUsersRequest req = PIGEON__V1__LIST_ONLINE_USERS_REQUEST__INIT;
	Pigeon__V1__ListOnlineUsersReply *rep;
	pigeon_error err;
	pigeon_status st;

	req.page_size = (uint32_t)c->limit;
	if ((st = pigeon_list_online_users(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < rep->n_usernames; i++)
			json_array_append_new(arr, json_string(rep->usernames[i]));
		print_json(json_pack("{s:o,s:s}", "online_users", arr, "next_cursor",
		    rep->next_cursor));
	} else {
		for (size_t i = 0; i < rep->n_usernames; i++)
			printf("%s\n", rep->usernames[i]);
		if (rep->n_usernames == 0)
			printf("Nobody is online.\n");
	}
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_journal(cli *c, char **argv)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;
	pigeon_error err;
	pigeon_status st;

	req.page_size = (uint32_t)c->limit;
	req.cursor = c->cursor;
	req.after = c->after;
	if ((st = pigeon_get_event_journal(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < rep->n_events; i++) {
			const Pigeon__V1__Event *e = rep->events[i];

			json_array_append_new(arr, json_pack("{s:I,s:I,s:s,s:s}", "sequence",
			    (json_int_t)e->sequence, "time_ms", (json_int_t)e->time_ms, "text",
			    e->text, "reason", e->reason));
		}
		print_json(json_pack("{s:o,s:I,s:I}", "events", arr, "next_cursor",
		    (json_int_t)rep->next_cursor, "last_sequence",
		    (json_int_t)rep->last_sequence));
	} else {
		for (size_t i = 0; i < rep->n_events; i++) {
			const Pigeon__V1__Event *e = rep->events[i];
			char when[32];

			format_time(e->time_ms, when, sizeof(when));
			printf("#%" PRIu64 " %s %s%s%s%s\n", e->sequence, when, e->text,
			    e->reason[0] != '\0' ? " (" : "", e->reason,
			    e->reason[0] != '\0' ? ")" : "");
		}
		if (rep->n_events == 0)
			printf("The journal is empty.\n");
	}
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_register(cli *c, char **argv)
{
	Pigeon__V1__RegisterUserRequest req = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	Pigeon__V1__RegisterUserReply *rep;
	pigeon_error err;
	pigeon_status st;
	int role = PIGEON__V1__ROLE__ROLE_REGULAR;
	char pw[PASSWORD_CAP];
	bool given;
	int rc;

	req.username = argv[0];
	if (c->role != NULL &&
	    (!pigeon_enum_from_name(&pigeon__v1__role__descriptor, c->role, &role) ||
		role == PIGEON__V1__ROLE__ROLE_UNSPECIFIED)) {
		fprintf(stderr, "pigeon: --role is regular or admin\n");
		return 2;
	}
	req.role = (Pigeon__V1__Role)role;
	if ((rc = get_password(c, argv[0], true, pw, &given)) != 0)
		return rc;
	req.password = pw;
	st = pigeon_register_user(c->client, &req, &rep, &err);
	password_wipe(pw);
	/* Required mode refuses a registration without a password: say how to
	 * give one. */
	if (st == PIGEON_INVALID_ARGUMENT && !given && strncmp(err.message, "password ", 9) == 0)
		return fail_hint(st, &err, "give one with --ask-password or --password-file F");
	if (st != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json)
		print_json(json_pack("{s:s,s:s}", "username", rep->username, "role",
		    enum_name(&pigeon__v1__role__descriptor, (int)rep->role)));
	else
		printf("Registered %s (%s).\n", rep->username,
		    enum_name(&pigeon__v1__role__descriptor, (int)rep->role));
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_revoke_sessions(cli *c, char **argv)
{
	Pigeon__V1__RevokeSessionsRequest req = PIGEON__V1__REVOKE_SESSIONS_REQUEST__INIT;
	Pigeon__V1__RevokeSessionsReply *rep;
	pigeon_error err;
	pigeon_status st;
	int rc;

	c->acting = argv[0];
	req.username = argv[0];
	if ((st = pigeon_revoke_sessions(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json)
		print_json(json_pack("{s:s,s:I}", "username", rep->username, "generation",
		    (json_int_t)rep->generation));
	else
		printf("Revoked every session of %s (token generation now %" PRIu64 ").\n",
		    rep->username, rep->generation);
	/* The saved token was among them when it is that user's. */
	rc = token_is_of(c, argv[0]) ? drop_token(c) : 0;
	pigeon_reply_free(rep);
	return rc;
}

/* A time for the user's commands, or `none` (0: pigeond has none). */
static void
format_time_or(int64_t ms, const char *none, char *buf, size_t len)
{
	if (ms == 0)
		snprintf(buf, len, "%s", none);
	else
		format_time(ms, buf, len);
}

static int
cmd_heartbeat(cli *c, char **argv)
{
	Pigeon__V1__HeartbeatRequest req = PIGEON__V1__HEARTBEAT_REQUEST__INIT;
	Pigeon__V1__HeartbeatReply *rep;
	pigeon_error err;
	pigeon_status st;
	char until[32];

	c->acting = argv[0];
	req.username = argv[0];
	if ((st = pigeon_heartbeat(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json) {
		print_json(json_pack("{s:s,s:b,s:I}", "username", argv[0], "online",
		    (int)rep->online, "expires_ms", (json_int_t)rep->expires_ms));
	} else if (rep->online) {
		format_time(rep->expires_ms, until, sizeof(until));
		printf("%s is online until %s.\n", argv[0], until);
	} else {
		printf("%s is not online (log in again).\n", argv[0]);
	}
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_user(cli *c, char **argv)
{
	Pigeon__V1__GetUserRequest req = PIGEON__V1__GET_USER_REQUEST__INIT;
	Pigeon__V1__GetUserReply *rep;
	pigeon_error err;
	pigeon_status st;
	char seen[32], created[32];

	req.username = argv[0];
	if ((st = pigeon_get_user(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json) {
		print_json(json_pack("{s:s,s:s,s:b,s:I,s:I}", "username", rep->username, "role",
		    enum_name(&pigeon__v1__role__descriptor, (int)rep->role), "online",
		    (int)rep->online, "last_seen_ms", (json_int_t)rep->last_seen_ms, "created_ms",
		    (json_int_t)rep->created_ms));
	} else {
		format_time_or(rep->last_seen_ms, "never", seen, sizeof(seen));
		format_time_or(rep->created_ms, "unknown", created, sizeof(created));
		printf("%s (%s): %s, last seen %s, created %s\n", rep->username,
		    enum_name(&pigeon__v1__role__descriptor, (int)rep->role),
		    rep->online ? "online" : "offline", seen, created);
	}
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_read(cli *c, char **argv)
{
	Pigeon__V1__MarkReadRequest req = PIGEON__V1__MARK_READ_REQUEST__INIT;
	Pigeon__V1__MarkReadReply *rep;
	pigeon_error err;
	pigeon_status st;
	char *end;

	/* A plain decimal: strtoull alone would take "-1" and " 7". */
	if (argv[1][0] < '0' || argv[1][0] > '9' ||
	    (errno = 0, req.up_to_id = strtoull(argv[1], &end, 10), errno != 0) || *end != '\0') {
		fprintf(stderr, "pigeon: ID is a message id, a non-negative integer\n");
		return 2;
	}
	c->acting = argv[0];
	req.username = argv[0];
	if ((st = pigeon_mark_read(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (c->json)
		print_json(json_pack("{s:s,s:I,s:I}", "username", rep->username, "unread",
		    (json_int_t)rep->unread, "marked", (json_int_t)rep->marked));
	else
		printf("%s: %" PRIu64 " unread (%" PRIu64 " marked read now).\n", rep->username,
		    rep->unread, rep->marked);
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_report(cli *c, char **argv)
{
	Pigeon__V1__ReportMessageRequest req = PIGEON__V1__REPORT_MESSAGE_REQUEST__INIT;
	Pigeon__V1__ReportMessageReply *rep;
	pigeon_error err;
	pigeon_status st;
	char *end;

	if (c->spam_given + c->not_spam_given != 1) {
		fprintf(stderr, "pigeon: report takes exactly one of --spam and --not-spam\n"
				"Usage: pigeon report USER ID --spam|--not-spam\n");
		return 2;
	}
	/* A plain decimal from 1: an id is never 0. */
	if (argv[1][0] < '1' || argv[1][0] > '9' ||
	    (errno = 0, req.message_id = strtoull(argv[1], &end, 10), errno != 0) || *end != '\0') {
		fprintf(stderr, "pigeon: ID is a message id, a positive integer\n");
		return 2;
	}
	c->acting = argv[0];
	req.username = argv[0];
	req.spam = c->spam_given == 1;
	if ((st = pigeon_report_message(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(c, st, &err);
	if (rep->message == NULL) {
		fprintf(stderr, "pigeon: the reply of pigeond has no message\n");
		pigeon_reply_free(rep);
		return 1;
	}
	if (c->json) {
		json_t *m = message_json(rep->message);

		json_object_set_new(m, "changed", json_boolean(rep->changed));
		print_json(m);
	} else {
		printf("Message %" PRIu64 " %s %s.\n", rep->message->id,
		    rep->changed ? "is now" : "was already",
		    rep->message->state == PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_MARKED_AS_SPAM
			? "marked as spam"
			: state_name(rep->message->state));
	}
	pigeon_reply_free(rep);
	return 0;
}

/* A train problem: one line on stderr per file at fault. */
static void
train_problem(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "pigeon: %s\n", line);
}

/* Sends spam and ham in as few Train calls as hold them: at most
 * TRAIN_TEXTS_MAX texts and the request limit each.  Prints the totals of
 * the last reply. */
static int
train_send(cli *c, const texts *spam, const texts *ham, size_t budget)
{
	Pigeon__V1__TrainReply *rep = NULL;
	size_t from = 0, total = spam->n + ham->n, sent_spam = 0, sent_ham = 0;
	uint64_t spam_learned = 0, ham_learned = 0;

	while (from < total) {
		Pigeon__V1__TrainRequest req = PIGEON__V1__TRAIN_REQUEST__INIT;
		size_t n = texts_batch(spam, ham, from, TRAIN_TEXTS_MAX, budget);
		size_t n_spam = from < spam->n ? (spam->n - from < n ? spam->n - from : n) : 0;
		pigeon_error err;
		pigeon_status st;

		req.n_spam = n_spam;
		req.spam = n_spam > 0 ? spam->v + from : NULL;
		req.n_ham = n - n_spam;
		req.ham = req.n_ham > 0 ? ham->v + (from + n_spam - spam->n) : NULL;
		if ((st = pigeon_train(c->client, &req, &rep, &err)) != PIGEON_OK) {
			char hint[128];

			if (sent_spam + sent_ham == 0)
				return fail(c, st, &err);
			snprintf(hint, sizeof(hint),
			    "%zu spam and %zu ham texts were learned before this call", sent_spam,
			    sent_ham);
			return fail_hint(st, &err, hint);
		}
		spam_learned = rep->spam_learned;
		ham_learned = rep->ham_learned;
		pigeon_reply_free(rep);
		sent_spam += req.n_spam;
		sent_ham += req.n_ham;
		from += n;
	}
	if (c->json)
		print_json(json_pack("{s:I,s:I,s:I,s:I}", "spam", (json_int_t)sent_spam, "ham",
		    (json_int_t)sent_ham, "spam_learned", (json_int_t)spam_learned, "ham_learned",
		    (json_int_t)ham_learned));
	else
		printf("Learned %zu spam and %zu ham texts (the filter now knows %" PRIu64
		       " spam and %" PRIu64 " ham).\n",
		    sent_spam, sent_ham, spam_learned, ham_learned);
	return 0;
}

/* Every file is read and checked before the first call, so that a bad one
 * stops the training before the filter learned any of it. */
static int
cmd_train(cli *c, char **argv)
{
	texts spam = {0}, ham = {0};
	size_t content_max = c->content_max > 0 ? c->content_max : CONTENT_MAX_DEFAULT;
	size_t recv_max = c->recv_max > 0 ? c->recv_max : RECV_MAX_DEFAULT;
	size_t budget = recv_max > TRAIN_OVERHEAD ? recv_max - TRAIN_OVERHEAD : 0;
	pigeon_status st = PIGEON_OK, st2 = PIGEON_OK;
	bool too_big = false;
	int rc = 1;

	(void)argv;
	if (c->spam_given > 1 || c->ham_given > 1 || c->not_spam_given > 0 ||
	    (c->spam_dir == NULL && c->ham_dir == NULL)) {
		fprintf(stderr, "pigeon: train takes --spam DIR, --ham DIR or both, each once\n"
				"Usage: pigeon train --spam DIR --ham DIR\n");
		return 2;
	}
	if (c->spam_dir != NULL)
		st = texts_read_dir(&spam, c->spam_dir, content_max, train_problem, NULL);
	if (c->ham_dir != NULL)
		st2 = texts_read_dir(&ham, c->ham_dir, content_max, train_problem, NULL);
	if (st == PIGEON_RESOURCE_EXHAUSTED || st2 == PIGEON_RESOURCE_EXHAUSTED) {
		fprintf(stderr, "pigeon: out of memory reading the texts\n");
		goto out;
	}
	if (st != PIGEON_OK || st2 != PIGEON_OK)
		goto out;
	/* A text that would not fit a request even alone (a --content-max
	 * above --recv-max). */
	for (size_t i = 0; i < spam.n + ham.n; i++)
		if (texts_packed_size(i < spam.n ? spam.len[i] : ham.len[i - spam.n]) > budget)
			too_big = true;
	if (too_big) {
		fprintf(stderr, "pigeon: a text does not fit one request of %zu bytes "
				"(--recv-max)\n",
		    recv_max);
		goto out;
	}
	if (spam.n + ham.n == 0) {
		fprintf(stderr, "pigeon: nothing to learn: no regular file in %s%s%s\n",
		    c->spam_dir != NULL ? c->spam_dir : c->ham_dir,
		    c->spam_dir != NULL && c->ham_dir != NULL ? " or " : "",
		    c->spam_dir != NULL && c->ham_dir != NULL ? c->ham_dir : "");
		goto out;
	}
	rc = train_send(c, &spam, &ham, budget);
out:
	texts_fini(&spam);
	texts_fini(&ham);
	return rc;
}

static const char *
event_type_name(Pigeon__V1__EventType t)
{
	const char *n = pigeon_enum_name(&pigeon__v1__event_type__descriptor, (int)t);

	return n != NULL ? n : "UNSPECIFIED";
}

/* The event as one JSON object, with the fields it has. */
static json_t *
event_json(const char *topic, const Pigeon__V1__Event *e)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:s}", "topic", topic, "type",
	    event_type_name(e->type), "time_ms", (json_int_t)e->time_ms, "username", e->username);

	if (o == NULL)
		return NULL;
	if (e->sequence != 0)
		json_object_set_new(o, "sequence", json_integer((json_int_t)e->sequence));
	if (e->recipient[0] != '\0')
		json_object_set_new(o, "recipient", json_string(e->recipient));
	if (e->message_id != 0)
		json_object_set_new(o, "message_id", json_integer((json_int_t)e->message_id));
	if (e->reason[0] != '\0')
		json_object_set_new(o, "reason", json_string(e->reason));
	if (e->text[0] != '\0')
		json_object_set_new(o, "text", json_string(e->text));
	if (e->content[0] != '\0')
		json_object_set_new(o, "content", json_string(e->content));
	return o;
}

static void
watch_event(const char *topic, const Pigeon__V1__Event *e, void *arg)
{
	const cli *c = arg;
	time_t t = (time_t)(e->time_ms / 1000);
	char when[16];
	struct tm tm;

	if (c->user != NULL && strcmp(e->username, c->user) != 0 &&
	    strcmp(e->recipient, c->user) != 0)
		return;
	if (c->json) {
		print_json(event_json(topic, e));
	} else {
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		if (e->sequence != 0)
			printf("#%" PRIu64 " ", e->sequence);
		printf("%s %s %s", when, event_type_name(e->type), e->username);
		if (e->recipient[0] != '\0')
			printf(" -> %s", e->recipient);
		if (e->message_id != 0)
			printf(" id=%" PRIu64, e->message_id);
		if (e->content[0] != '\0')
			printf(": %s", e->content);
		if (e->reason[0] != '\0')
			printf(" (%s)", e->reason);
		putchar('\n');
	}
	/* One line per event as it happens, also into a pipe. */
	fflush(stdout);
}

static sem_t watch_stop;

static void
watch_signal(int sig)
{
	(void)sig;
	sem_post(&watch_stop);
}

static int
cmd_watch(cli *c, char **argv)
{
	const char *topics[] = {c->topic, NULL};
	pigeon_subscribe_opts so = {0};
	pigeon_subscription *sub;
	struct sigaction sa = {0};
	pigeon_status st;

	(void)argv;
	sem_init(&watch_stop, 0, 0);
	sa.sa_handler = watch_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	so.url = c->pub_url;
	so.topics = c->topic != NULL ? topics : NULL;
	so.gap_fill = c->client;
	so.after = c->after;
	if ((st = pigeon_subscribe(&sub, &so, watch_event, c)) != PIGEON_OK) {
		fprintf(stderr, "pigeon: %s: cannot subscribe to %s\n", pigeon_status_name(st),
		    c->pub_url != NULL ? c->pub_url : PIGEON_DEFAULT_PUB_URL);
		return 1;
	}
	while (sem_wait(&watch_stop) != 0)
		;
	pigeon_subscription_close(sub);
	sem_destroy(&watch_stop);
	return 0;
}

static const command commands[] = {
	{"health", "", 0, "whether pigeond serves (exit 0) or not (exit 1)", cmd_health},
	{"login", "USER", 1, "log a user in; with a password, save the session token", cmd_login},
	{"logout", "USER", 1, "log a user out; remove the saved token if it is theirs",
	    cmd_logout},
	{"send", "SENDER RECIPIENT TEXT", 3, "send a message (--key K: idempotency key)",
	    cmd_send},
	{"stats", "USER", 1, "counts of a user's sent messages by state, and their unread",
	    cmd_stats},
	{"inbox", "USER", 1, "messages delivered to a user, oldest first (--unread)", cmd_inbox},
	{"read", "USER ID", 2, "mark a user's messages read up to ID; print the unread count",
	    cmd_read},
	{"user", "USER", 1, "a user's role, whether online, last seen and created", cmd_user},
	{"heartbeat", "USER", 1, "keep a user's session alive; print until when", cmd_heartbeat},
	{"report", "USER ID --spam|--not-spam", 2,
	    "the recipient says whether message ID is spam; print its state", cmd_report},
	{"train", "--spam DIR --ham DIR", 0,
	    "teach the spam filter every file of DIR (an admin; either or both)", cmd_train},
	{"spammers", "", 0, "users by messages marked as spam", cmd_spammers},
	{"chatters", "", 0, "users by messages delivered", cmd_chatters},
	{"online", "", 0, "users online now", cmd_online},
	{"journal", "", 0, "the event journal, newest first (--after N: catch up)", cmd_journal},
	{"register", "USER", 1, "add a user (--role regular|admin)", cmd_register},
	{"revoke-sessions", "USER", 1, "end every session of a user at once",
	    cmd_revoke_sessions},
	{"watch", "", 0,
	    "print events as they happen until interrupted (--topic T, --user NAME, "
	    "--after N)",
	    cmd_watch},
	{NULL, NULL, 0, NULL, NULL},
};

static void
usage(FILE *f)
{
	fprintf(f, "Usage: pigeon [OPTION]... COMMAND [ARG]...\n\n"
		   "The command-line client of the Pigeon messaging service.\n\nCommands:\n");
	for (const command *c = commands; c->name != NULL; c++) {
		char left[64];

		snprintf(left, sizeof(left), "%s %s", c->name, c->args);
		fprintf(f, "  %-32s %s\n", left, c->help);
	}
	fprintf(f,
	    "\nOptions:\n"
	    "  --url URL             pigeond's RPC address (default %s) [env PIGEON_RPC_URL]\n"
	    "  --deadline-ms N       give up after N ms (default %d)\n"
	    "  --json                print one JSON object (watch: one per event) instead of text\n"
	    "  --limit N             page size or leaderboard length (default 100, max 1000)\n"
	    "  --cursor N            next page of inbox or journal (from the previous page)\n"
	    "  --after N             journal, watch: the events after sequence N, oldest first\n"
	    "  --key K               send: idempotency key\n"
	    "  --role ROLE           register: regular (default) or admin\n"
	    "  --pub-url URL         watch: pigeond's event address (default %s)\n"
	    "                        [env PIGEON_PUB_URL]\n"
	    "  --topic T             watch: only this topic (event_journal, message_queue,\n"
	    "                        inbox/USER, receipts/USER: READ of USER's messages);\n"
	    "                        default every topic\n"
	    "  --unread              inbox: only the messages not yet read\n"
	    "  --spam, --not-spam    report: what the message is (exactly one)\n"
	    "  --spam DIR, --ham DIR train: the texts of spam and of messages that are not\n"
	    "                        spam, one per regular file of DIR; every file is\n"
	    "                        checked before anything is sent\n"
	    "  --content-max N       train: pigeond's --content-max, the largest text\n"
	    "                        (default %d) [env PIGEON_CONTENT_MAX]\n"
	    "  --recv-max N          train: pigeond's --recv-max, the largest request\n"
	    "                        (default %d) [env PIGEON_RECV_MAX]\n"
	    "  --user NAME           watch: only events whose user or recipient is NAME\n"
	    "  --ask-password        login, register: ask for the password on the terminal,\n"
	    "                        without echo (register asks twice)\n"
	    "  --password-file F     login, register: the password is the first line of F\n"
	    "                        ('-': standard input)\n"
	    "  --token-file F        the saved session token (default\n"
	    "                        $XDG_CONFIG_HOME/pigeon/token, else\n"
	    "                        ~/.config/pigeon/token) [env PIGEON_TOKEN_FILE]\n"
	    "  --help                show this help and exit\n"
	    "  --version             show the version and exit\n"
	    "\n"
	    "Passwords: login and register send one only with --ask-password or\n"
	    "--password-file, and never prompt otherwise: pigeond --auth open wants none.\n"
	    "Against pigeond --auth required, 'pigeon login --ask-password USER' saves\n"
	    "the session token in the token file (mode 0600), every other command sends\n"
	    "it, and 'pigeon logout USER' removes it.\n"
	    "\n"
	    "Exit status: 0 on success, 1 when a call or a local step failed (the status\n"
	    "and the reason on stderr), 2 for a usage error.\n",
	    PIGEON_DEFAULT_RPC_URL, PIGEON_DEFAULT_DEADLINE_MS, PIGEON_DEFAULT_PUB_URL,
	    CONTENT_MAX_DEFAULT, RECV_MAX_DEFAULT);
}

/* Where --spam and --ham are in main's option table. */
enum { OPT_SPAM_AT = 12, OPT_HAM_AT = 13 };

/* The command word: the first operand, found by a silent pass of getopt over
 * a copy of argv in which --spam and --ham never take the next word.  They
 * are flags of report and take a directory for train, so the command must be
 * known before the real pass reads them, wherever they stand.  NULL when
 * there is none, or without memory (the real pass then says what is
 * wrong). */
static const char *
find_command(int argc, char **argv, struct option *longopts)
{
	char **copy = malloc(((size_t)argc + 1) * sizeof(*copy));
	const char *word = NULL;

	if (copy == NULL)
		return NULL;
	memcpy(copy, argv, ((size_t)argc + 1) * sizeof(*copy));
	longopts[OPT_SPAM_AT].has_arg = optional_argument;
	longopts[OPT_HAM_AT].has_arg = optional_argument;
	opterr = 0;
	while (getopt_long(argc, copy, "hV", longopts, NULL) != -1)
		;
	if (optind < argc)
		word = copy[optind];
	opterr = 1;
	/* glibc: 0 starts the next scan afresh. */
	optind = 0;
	free(copy);
	return word;
}

int
main(int argc, char **argv)
{
	static struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},
		{"deadline-ms", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"limit", required_argument, NULL, 'l'},
		{"cursor", required_argument, NULL, 'c'},
		{"after", required_argument, NULL, 'a'},
		{"key", required_argument, NULL, 'k'},
		{"role", required_argument, NULL, 'r'},
		{"pub-url", required_argument, NULL, 'p'},
		{"topic", required_argument, NULL, 't'},
		{"user", required_argument, NULL, 'U'},
		{"unread", no_argument, NULL, 'R'},
		[OPT_SPAM_AT] = {"spam", no_argument, NULL, 'S'},
		[OPT_HAM_AT] = {"ham", no_argument, NULL, 'H'},
		{"not-spam", no_argument, NULL, 'N'},
		{"content-max", required_argument, NULL, 'C'},
		{"recv-max", required_argument, NULL, 'M'},
		{"ask-password", no_argument, NULL, 'P'},
		{"password-file", required_argument, NULL, 'f'},
		{"token-file", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	cli c = {0};
	pigeon_client_opts co = {0};
	const command *cmd;
	const char *token_file = NULL, *word;
	char err[512];
	pigeon_status st;
	int opt, rc;

	c.url = getenv("PIGEON_RPC_URL");
	c.pub_url = getenv("PIGEON_PUB_URL");
	if (getenv("PIGEON_CONTENT_MAX") != NULL)
		c.content_max = strtoull(getenv("PIGEON_CONTENT_MAX"), NULL, 10);
	if (getenv("PIGEON_RECV_MAX") != NULL)
		c.recv_max = strtoull(getenv("PIGEON_RECV_MAX"), NULL, 10);
	word = find_command(argc, argv, longopts);
	if (word != NULL && strcmp(word, "train") == 0) {
		longopts[OPT_SPAM_AT].has_arg = required_argument;
		longopts[OPT_HAM_AT].has_arg = required_argument;
	} else {
		longopts[OPT_SPAM_AT].has_arg = no_argument;
		longopts[OPT_HAM_AT].has_arg = no_argument;
	}
	while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			c.url = optarg;
			break;
		case 'd':
			c.deadline_ms = atoi(optarg);
			break;
		case 'j':
			c.json = true;
			break;
		case 'l':
			c.limit = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			c.cursor = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			c.after = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			c.key = optarg;
			break;
		case 'r':
			c.role = optarg;
			break;
		case 'p':
			c.pub_url = optarg;
			break;
		case 't':
			c.topic = optarg;
			break;
		case 'U':
			c.user = optarg;
			break;
		case 'R':
			c.unread = true;
			break;
		case 'S':
			c.spam_given++;
			c.spam_dir = optarg;
			break;
		case 'H':
			c.ham_given++;
			c.ham_dir = optarg;
			break;
		case 'N':
			c.not_spam_given++;
			break;
		case 'C':
			c.content_max = strtoull(optarg, NULL, 10);
			break;
		case 'M':
			c.recv_max = strtoull(optarg, NULL, 10);
			break;
		case 'P':
			c.ask_password = true;
			break;
		case 'f':
			c.password_file = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pigeon %s\n", PIGEON_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'pigeon --help'.\n");
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (cmd = commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, argv[optind]) == 0)
			break;
	if (cmd->name == NULL) {
		fprintf(stderr, "pigeon: unknown command '%s'; try 'pigeon --help'\n",
		    argv[optind]);
		return 2;
	}
	if (argc - optind - 1 != cmd->nargs) {
		fprintf(stderr, "Usage: pigeon %s %s\n", cmd->name, cmd->args);
		return 2;
	}
	if (c.ask_password && c.password_file != NULL) {
		fprintf(stderr, "pigeon: give --ask-password or --password-file, not both\n");
		return 2;
	}
	st = token_file_path(c.token_path, sizeof(c.token_path), token_file,
	    getenv("PIGEON_TOKEN_FILE"), getenv("XDG_CONFIG_HOME"), getenv("HOME"));
	if (st == PIGEON_INVALID_ARGUMENT) {
		fprintf(stderr, "pigeon: the path of the token file is empty or too long\n");
		return 2;
	}
	c.token_path_ok = st == PIGEON_OK;
	/* A login makes a new session; every other command acts in the saved
	 * one.  A file that cannot be used is no reason to fail a command
	 * that may need no token (open mode); the server answers those that do. */
	if (c.token_path_ok && cmd->run != cmd_login) {
		st = token_file_load(c.token_path, &c.saved, err, sizeof(err));
		if (st == PIGEON_OK)
			c.have_token = true;
		else if (st != PIGEON_NOT_FOUND)
			fprintf(stderr, "pigeon: warning: %s; ignoring it\n", err);
		if (c.have_token && c.saved.open_to_others)
			fprintf(stderr,
			    "pigeon: warning: the token file %s is open to group or others; "
			    "chmod 600 it\n",
			    c.token_path);
	}
	co.url = c.url;
	co.deadline_ms = c.deadline_ms;
	if ((st = pigeon_client_open_opts(&c.client, &co)) != PIGEON_OK) {
		fprintf(stderr, "pigeon: %s: cannot open a client of %s\n", pigeon_status_name(st),
		    c.url != NULL ? c.url : PIGEON_DEFAULT_RPC_URL);
		rc = 1;
		goto out_wipe;
	}
	if (c.have_token && (st = pigeon_client_set_token(c.client, c.saved.token)) != PIGEON_OK) {
		fprintf(stderr, "pigeon: %s: cannot use the saved token\n", pigeon_status_name(st));
		rc = 1;
		goto out_close;
	}
	rc = cmd->run(&c, argv + optind + 1);
out_close:
	pigeon_client_close(c.client);
out_wipe:
	explicit_bzero(&c.saved, sizeof(c.saved));
	return rc;
}
