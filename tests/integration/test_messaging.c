/* SPDX-License-Identifier: MIT */
/*
 * Messaging end to end through pigeond and a real redis-server: the original
 * README's sequence through libpigeon and through the pigeon CLI, followed by
 * a spam case and a reply, with exact stats, leaderboards, inbox and journal;
 * 10,000 messages from 10 concurrent clients checked against counts
 * recomputed from the stored messages; a worker killed with SIGKILL in the
 * middle of a stream; one script call per send and per state change; and the
 * spam filter's rules as the worker applies them (flood, rate, dry run,
 * SIGHUP reload).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <pigeon/pigeon.h>

#include "harness.h"
#include "t_rpc.h"
#include "t_hiredis.h"

#define DEADLINE_MS 60000

static const char *const readme_users[] = {"Alice", "Dizzzmas", "Ilya", "Malory", "flain1"};

typedef struct fixture {
	/* Redis with the append-only file, pigeond and a client (c). */
	t_env env;
	pigeon_client *c;
	redisContext *raw;
} fixture;

/* ---- fixtures ---- */

/* Each test starts pigeond with its own arguments, some naming a file it
 * first writes into the env's dir. */
static void
fixture_start(fixture *f, const char *const *extra)
{
	t_env_opts o = {.aof = true, .pigeond_args = extra, .client = true};

	t_env_start(&f->env, &o);
	f->c = f->env.client;
	assert_non_null(f->raw = t_redis_connect(&f->env.redis));
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	t_env_init(&f->env, "msg");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;

	if (f->raw != NULL)
		redisFree(f->raw);
	assert_int_equal(t_env_stop(&f->env), 0);
	free(f);
	return 0;
}

/* Writes a spam config into the fixture's dir and returns its path. */
static const char *
spam_conf(fixture *f, const char *name, const char *text)
{
	static char path[400];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->env.dir, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* ---- waiting on Redis ---- */

typedef struct final_wait {
	redisContext *raw;
	const char *const *users;
	size_t n;
	long long want;
} final_wait;

static long long
final_sum(redisContext *raw, const char *const *users, size_t n)
{
	long long sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += t_redis_int(raw, "HGET pigeon:stats:%s delivered", users[i]) +
		       t_redis_int(raw, "HGET pigeon:stats:%s marked_as_spam", users[i]);
	return sum;
}

static bool
all_final(void *arg)
{
	final_wait *w = arg;

	return final_sum(w->raw, w->users, w->n) >= w->want;
}

static void
wait_final(fixture *f, const char *const *users, size_t n, long long want)
{
	final_wait w = {f->raw, users, n, want};

	assert_true(t_wait_for(all_final, &w, DEADLINE_MS));
	assert_int_equal(final_sum(f->raw, users, n), want);
}

/* ---- calls ---- */




static void
assert_stats(pigeon_client *c, const char *u, uint64_t enq, uint64_t chk, uint64_t del,
    uint64_t spam)
{
	Pigeon__V1__GetUserStatsRequest req = PIGEON__V1__GET_USER_STATS_REQUEST__INIT;
	Pigeon__V1__UserStats *rep;
	pigeon_error err;

	req.username = (char *)u;
	assert_int_equal(pigeon_get_user_stats(c, &req, &rep, &err), PIGEON_OK);
	assert_string_equal(rep->username, u);
	assert_int_equal(rep->enqueued, enq);
	assert_int_equal(rep->being_spam_checked, chk);
	assert_int_equal(rep->delivered, del);
	assert_int_equal(rep->marked_as_spam, spam);
	pigeon_reply_free(rep);
}

/* "name count name count ..." of a leaderboard, for one exact compare. */
static void
board_text(pigeon_client *c, bool spammers, uint32_t limit, char *out, size_t len)
{
	Pigeon__V1__LeaderboardRequest req = PIGEON__V1__LEADERBOARD_REQUEST__INIT;
	Pigeon__V1__Leaderboard *rep;
	pigeon_error err;
	size_t used = 0;

	req.limit = limit;
	assert_int_equal(spammers ? pigeon_get_spammer_stats(c, &req, &rep, &err)
				  : pigeon_get_chatter_stats(c, &req, &rep, &err),
	    PIGEON_OK);
	out[0] = '\0';
	for (size_t i = 0; i < rep->n_entries && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s %llu", i > 0 ? " " : "",
		    rep->entries[i]->username, (unsigned long long)rep->entries[i]->count);
	pigeon_reply_free(rep);
}

/* "id:sender:content ..." of the first inbox page. */
static void
inbox_text(pigeon_client *c, const char *u, char *out, size_t len)
{
	Pigeon__V1__ListInboundMessagesRequest req =
	    PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
	Pigeon__V1__ListInboundMessagesReply *rep;
	pigeon_error err;
	size_t used = 0;

	req.username = (char *)u;
	assert_int_equal(pigeon_list_inbound_messages(c, &req, &rep, &err), PIGEON_OK);
	out[0] = '\0';
	for (size_t i = 0; i < rep->n_messages && used < len; i++) {
		assert_int_equal(rep->messages[i]->state,
		    PIGEON__V1__MESSAGE_STATE__MESSAGE_STATE_DELIVERED);
		assert_string_equal(rep->messages[i]->recipient, u);
		used += (size_t)snprintf(out + used, len - used, "%s%llu:%s:%s", i > 0 ? " " : "",
		    (unsigned long long)rep->messages[i]->id, rep->messages[i]->sender,
		    rep->messages[i]->content);
	}
	assert_int_equal(rep->next_cursor, 0);
	pigeon_reply_free(rep);
}

/* "seq text [reason]|..." of the journal, newest first. */
static void
journal_text(pigeon_client *c, uint32_t page, char *out, size_t len)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;
	pigeon_error err;
	size_t used = 0;

	req.page_size = page;
	assert_int_equal(pigeon_get_event_journal(c, &req, &rep, &err), PIGEON_OK);
	out[0] = '\0';
	for (size_t i = 0; i < rep->n_events && used < len; i++) {
		const Pigeon__V1__Event *e = rep->events[i];

		assert_true(e->time_ms > 0);
		used += (size_t)snprintf(out + used, len - used, "%s%llu %s%s%s%s",
		    i > 0 ? "|" : "", (unsigned long long)e->sequence, e->text,
		    e->reason[0] != '\0' ? " [" : "", e->reason, e->reason[0] != '\0' ? "]" : "");
	}
	pigeon_reply_free(rep);
}

static void
online_text(pigeon_client *c, char *out, size_t len)
{
	Pigeon__V1__ListOnlineUsersRequest req = PIGEON__V1__LIST_ONLINE_USERS_REQUEST__INIT;
	Pigeon__V1__ListOnlineUsersReply *rep;
	pigeon_error err;
	size_t used = 0;

	assert_int_equal(pigeon_list_online_users(c, &req, &rep, &err), PIGEON_OK);
	out[0] = '\0';
	for (size_t i = 0; i < rep->n_usernames && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i > 0 ? " " : "",
		    rep->usernames[i]);
	pigeon_reply_free(rep);
}

static pigeon_status
login_status(pigeon_client *c, const char *u, char *msg)
{
	Pigeon__V1__LoginRequest req = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *rep;
	pigeon_error err;
	pigeon_status st;

	req.username = (char *)u;
	if ((st = pigeon_login(c, &req, &rep, &err)) == PIGEON_OK)
		pigeon_reply_free(rep);
	else
		strcpy(msg, err.message);
	return st;
}

/* ---- the README sequence through libpigeon ---- */

static void
test_readme_sequence_through_the_library(void **state)
{
	fixture *f = *state;
	char buf[2048];
	Pigeon__V1__LogoutRequest lo = PIGEON__V1__LOGOUT_REQUEST__INIT;
	Pigeon__V1__LogoutReply *lrep;
	pigeon_error err;

	fixture_start(f, NULL);
	assert_int_equal(t_login(f->c, "flain1"), 1);
	assert_int_equal(t_logout(f->c, "flain1"), 2);
	assert_int_equal(t_send(f->c, "flain1", "Ilya", "My message"), 1);
	assert_int_equal(t_send(f->c, "Ilya", "flain1", "My reply"), 2);
	wait_final(f, readme_users, 5, 2);

	assert_stats(f->c, "Dizzzmas", 0, 0, 0, 0);
	assert_stats(f->c, "flain1", 0, 0, 1, 0);
	assert_stats(f->c, "Ilya", 0, 0, 1, 0);
	inbox_text(f->c, "flain1", buf, sizeof(buf));
	assert_string_equal(buf, "2:Ilya:My reply");
	inbox_text(f->c, "Ilya", buf, sizeof(buf));
	assert_string_equal(buf, "1:flain1:My message");
	board_text(f->c, true, 0, buf, sizeof(buf));
	assert_string_equal(buf, "");
	board_text(f->c, false, 0, buf, sizeof(buf));
	assert_string_equal(buf, "Ilya 1 flain1 1");
	online_text(f->c, buf, sizeof(buf));
	assert_string_equal(buf, "");
	journal_text(f->c, 0, buf, sizeof(buf));
	assert_string_equal(buf, "2 LOGOUT: flain1|1 LOGIN: flain1");

	/* A spam case and a reply. */
	assert_int_equal(t_login(f->c, "Malory"), 3);
	assert_int_equal(t_send(f->c, "Malory", "Alice", "Cheap watches, buy now!"), 3);
	assert_int_equal(t_send(f->c, "Alice", "Malory", "No thanks."), 4);
	wait_final(f, readme_users, 5, 4);
	assert_stats(f->c, "Malory", 0, 0, 0, 1);
	assert_stats(f->c, "Alice", 0, 0, 1, 0);
	inbox_text(f->c, "Alice", buf, sizeof(buf));
	assert_string_equal(buf, "");
	inbox_text(f->c, "Malory", buf, sizeof(buf));
	assert_string_equal(buf, "4:Alice:No thanks.");
	board_text(f->c, true, 0, buf, sizeof(buf));
	assert_string_equal(buf, "Malory 1");
	board_text(f->c, false, 0, buf, sizeof(buf));
	assert_string_equal(buf, "Alice 1 Ilya 1 flain1 1");
	board_text(f->c, false, 2, buf, sizeof(buf));
	assert_string_equal(buf, "Alice 1 Ilya 1");
	online_text(f->c, buf, sizeof(buf));
	assert_string_equal(buf, "Malory");
	journal_text(f->c, 0, buf, sizeof(buf));
	assert_string_equal(buf, "4 SPAM: message with id 3 by Malory [blocklist(buy now)]|"
				 "3 LOGIN: Malory|2 LOGOUT: flain1|1 LOGIN: flain1");

	/* The error codes, which journal nothing. */
	assert_int_equal(login_status(f->c, "nobody", buf), PIGEON_NOT_FOUND);
	assert_string_equal(buf, "Couldn't find user with username nobody");
	assert_int_equal(login_status(f->c, "Malory", buf), PIGEON_ALREADY_EXISTS);
	assert_string_equal(buf, "User Malory is already logged in.");
	assert_int_equal(login_status(f->c, "no body", buf), PIGEON_INVALID_ARGUMENT);
	lo.username = "Alice";
	assert_int_equal(pigeon_logout(f->c, &lo, &lrep, &err), PIGEON_FAILED_PRECONDITION);
	assert_string_equal(err.message, "User Alice isn't logged in.");
	journal_text(f->c, 1, buf, sizeof(buf));
	assert_string_equal(buf, "4 SPAM: message with id 3 by Malory [blocklist(buy now)]");
}

/* ---- the same through the CLI ---- */

/* Replaces every "YYYY-MM-DD HH:MM:SS" with "TIME". */
static void
mask_times(char *s)
{
	for (char *p = s; *p != '\0'; p++) {
		int y, mo, d, h, mi, se, n = 0;

		if (sscanf(p, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) == 6 &&
		    n == 19) {
			memcpy(p, "TIME", 4);
			memmove(p + 4, p + 19, strlen(p + 19) + 1);
		}
	}
}

/* Runs `pigeon --url URL args` (args already shell-quoted). */
static void
cli(fixture *f, t_cli_out *o, const char *args)
{
	t_cli(o, f->env.dir, NULL, f->env.rpc_url, "%s", args);
	mask_times(o->out);
}

#define CLI_OK(f, want, ...)                                                                   \
	do {                                                                                   \
		t_cli_out o_;                                                                  \
		cli(f, &o_, __VA_ARGS__);                                                      \
		assert_string_equal(o_.err, "");                                               \
		assert_string_equal(o_.out, want);                                             \
		assert_int_equal(o_.code, 0);                                                  \
	} while (0)

#define CLI_FAIL(f, want_err, ...)                                                             \
	do {                                                                                   \
		t_cli_out o_;                                                                  \
		cli(f, &o_, __VA_ARGS__);                                                      \
		assert_string_equal(o_.out, "");                                               \
		assert_string_equal(o_.err, want_err);                                         \
		assert_int_equal(o_.code, 1);                                                  \
	} while (0)

static void
test_readme_sequence_through_the_cli(void **state)
{
	fixture *f = *state;

	fixture_start(f, NULL);
	CLI_OK(f, "Logged in flain1.\n", "login flain1");
	CLI_OK(f, "Logged out flain1.\n", "logout flain1");
	CLI_OK(f, "Message 1 from flain1 to Ilya queued.\n", "send flain1 Ilya 'My message'");
	CLI_OK(f, "Message 2 from Ilya to flain1 queued.\n", "send Ilya flain1 'My reply'");
	wait_final(f, readme_users, 5, 2);
	CLI_OK(f,
	    "Dizzzmas sent: 0 delivered, 0 marked as spam, 0 enqueued, 0 being spam-checked; 0 "
	    "unread\n",
	    "stats Dizzzmas");
	CLI_OK(f,
	    "flain1 sent: 1 delivered, 0 marked as spam, 0 enqueued, 0 being spam-checked; 1 "
	    "unread\n",
	    "stats flain1");
	CLI_OK(f, "#2 TIME from Ilya: My reply\n", "inbox flain1");
	CLI_OK(f, "No spammers.\n", "spammers");
	CLI_OK(f, "   1. Ilya                 1\n   2. flain1               1\n", "chatters");
	CLI_OK(f, "Nobody is online.\n", "online");
	CLI_OK(f, "#2 TIME LOGOUT: flain1\n#1 TIME LOGIN: flain1\n", "journal");

	CLI_OK(f, "Logged in Malory.\n", "login Malory");
	CLI_OK(f, "Message 3 from Malory to Alice queued.\n",
	    "send Malory Alice 'Cheap watches, buy now!'");
	CLI_OK(f, "Message 4 from Alice to Malory queued.\n", "send Alice Malory 'No thanks.'");
	wait_final(f, readme_users, 5, 4);
	CLI_OK(f,
	    "Malory sent: 0 delivered, 1 marked as spam, 0 enqueued, 0 being spam-checked; 1 "
	    "unread\n",
	    "stats Malory");
	CLI_OK(f, "No messages.\n", "inbox Alice");
	CLI_OK(f, "#4 TIME from Alice: No thanks.\n", "inbox Malory");
	CLI_OK(f, "   1. Malory               1\n", "spammers");
	CLI_OK(f, "   1. Alice                1\n   2. Ilya                 1\n   3. flain1               1\n",
	    "chatters");
	CLI_OK(f, "{\"spammers\":[[\"Malory\",1]]}\n", "--json spammers");
	CLI_OK(f, "Malory\n", "online");
	CLI_OK(f,
	    "#4 TIME SPAM: message with id 3 by Malory (blocklist(buy now))\n"
	    "#3 TIME LOGIN: Malory\n#2 TIME LOGOUT: flain1\n#1 TIME LOGIN: flain1\n",
	    "journal");
	CLI_OK(f, "Registered Bob (regular).\n", "register Bob");

	CLI_FAIL(f, "pigeon: NOT_FOUND: Couldn't find user with username nobody\n",
	    "login nobody");
	CLI_FAIL(f, "pigeon: ALREADY_EXISTS: User Malory is already logged in.\n", "login Malory");
	CLI_FAIL(f, "pigeon: FAILED_PRECONDITION: User Alice isn't logged in.\n", "logout Alice");
	CLI_FAIL(f, "pigeon: NOT_FOUND: Couldn't find user with username nobody\n",
	    "send Alice nobody hi");
	CLI_FAIL(f, "pigeon: NOT_FOUND: Couldn't find user with username nobody\n",
	    "stats nobody");
}

/* A t_wait_every condition: `pigeon args` prints want. */
typedef struct cli_says {
	fixture *f;
	const char *args;
	const char *want;
} cli_says;

static bool
t_cli_says(void *arg)
{
	cli_says *c = arg;
	t_cli_out o;

	cli(c->f, &o, c->args);
	return o.code == 0 && strcmp(o.out, c->want) == 0;
}

/* user, heartbeat and read, and the unread counts and read state of stats
 * and inbox: three messages to Ilya, read up to the second, again, and
 * lower. */
static void
test_presence_and_reads_through_the_cli(void **state)
{
	fixture *f = *state;
	cli_says stats3 = {f, "stats Ilya",
	    "Ilya sent: 0 delivered, 0 marked as spam, 0 enqueued, 0 being spam-checked; 3 "
	    "unread\n"};
	t_cli_out o;

	fixture_start(f, NULL);
	CLI_OK(f, "Dizzzmas (admin): offline, last seen never, created unknown\n", "user Dizzzmas");
	CLI_OK(f, "Ilya is not online (log in again).\n", "heartbeat Ilya");
	CLI_OK(f, "{\"expires_ms\":0,\"online\":false,\"username\":\"Ilya\"}\n",
	    "--json heartbeat Ilya");
	CLI_OK(f, "Logged in Ilya.\n", "login Ilya");
	CLI_OK(f, "Ilya is online until TIME.\n", "heartbeat Ilya");
	CLI_OK(f, "Ilya (admin): online, last seen TIME, created unknown\n", "user Ilya");
	CLI_OK(f, "Registered Bob (regular).\n", "register Bob");
	CLI_OK(f, "Bob (regular): offline, last seen never, created TIME\n", "user Bob");

	CLI_OK(f, "Message 1 from Alice to Ilya queued.\n", "send Alice Ilya one");
	CLI_OK(f, "Message 2 from Alice to Ilya queued.\n", "send Alice Ilya two");
	CLI_OK(f, "Message 3 from Alice to Ilya queued.\n", "send Alice Ilya three");
	assert_true(t_wait_every(t_cli_says, &stats3, 50, 10000));
	CLI_OK(f, "Ilya: 1 unread (2 marked read now).\n", "read Ilya 2");
	CLI_OK(f, "Ilya: 1 unread (0 marked read now).\n", "read Ilya 2");
	CLI_OK(f, "Ilya: 1 unread (0 marked read now).\n", "read Ilya 1");
	CLI_OK(f, "{\"marked\":0,\"unread\":1,\"username\":\"Ilya\"}\n", "--json read Ilya 0");
	CLI_OK(f,
	    "#1 TIME from Alice, read TIME: one\n#2 TIME from Alice, read TIME: two\n"
	    "#3 TIME from Alice: three\n",
	    "inbox Ilya");
	CLI_OK(f, "#3 TIME from Alice: three\n", "inbox --unread Ilya");
	CLI_OK(f,
	    "Ilya sent: 0 delivered, 0 marked as spam, 0 enqueued, 0 being spam-checked; 1 "
	    "unread\n",
	    "stats Ilya");

	CLI_FAIL(f, "pigeon: NOT_FOUND: Couldn't find user with username nobody\n", "user nobody");
	CLI_FAIL(f, "pigeon: NOT_FOUND: Couldn't find user with username nobody\n",
	    "heartbeat nobody");
	CLI_FAIL(f, "pigeon: NOT_FOUND: Couldn't find user with username nobody\n",
	    "read nobody 1");
	cli(f, &o, "read Ilya 1x");
	assert_string_equal(o.err, "pigeon: ID is a message id, a non-negative integer\n");
	assert_int_equal(o.code, 2);
	cli(f, &o, "read Ilya");
	assert_string_equal(o.err, "Usage: pigeon read USER ID\n");
	assert_int_equal(o.code, 2);
}

/* Writes len bytes into the file name of dir, which it makes if need be. */
static void
put_file(const char *dir, const char *name, const char *bytes, size_t len)
{
	char path[600];
	FILE *fp;

	assert_true(mkdir(dir, 0700) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(bytes, 1, len, fp), len);
	fclose(fp);
}

/* The number after "created_ms": becomes X. */
static void
mask_created(char *s)
{
	char *p = strstr(s, "\"created_ms\":"), *end;

	assert_non_null(p);
	p += strlen("\"created_ms\":");
	assert_true(strtoll(p, &end, 10) > 0);
	*p = 'X';
	memmove(p + 1, end, strlen(end) + 1);
}

/* report both ways, each twice, and its usage errors: Alice's two messages
 * to Ilya, one the blocklist marks as spam. */
static void
test_report_through_the_cli(void **state)
{
	fixture *f = *state;
	cli_says settled = {f, "stats Alice",
	    "Alice sent: 1 delivered, 1 marked as spam, 0 enqueued, 0 being spam-checked; 0 "
	    "unread\n"};
	static const char *const usage = "Usage: pigeon report USER ID --spam|--not-spam\n";
	char want[256];
	t_cli_out o;

	fixture_start(f, NULL);
	CLI_OK(f, "Message 1 from Alice to Ilya queued.\n", "send Alice Ilya 'lunch at noon?'");
	CLI_OK(f, "Message 2 from Alice to Ilya queued.\n", "send Alice Ilya 'buy now cheap pills'");
	assert_true(t_wait_every(t_cli_says, &settled, 50, 10000));

	CLI_OK(f, "Message 1 is now marked as spam.\n", "report Ilya 1 --spam");
	CLI_OK(f, "Message 1 was already marked as spam.\n", "report --spam Ilya 1");
	CLI_OK(f, "Message 2 is now delivered.\n", "report Ilya 2 --not-spam");
	CLI_OK(f, "Message 2 was already delivered.\n", "report Ilya 2 --not-spam");
	cli(f, &o, "--json report Ilya 2 --not-spam");
	mask_created(o.out);
	assert_string_equal(o.out,
	    "{\"changed\":false,\"content\":\"buy now cheap pills\",\"created_ms\":X,\"id\":2,"
	    "\"read_ms\":0,\"recipient\":\"Ilya\",\"sender\":\"Alice\",\"state\":\"delivered\"}\n");
	assert_int_equal(o.code, 0);
	CLI_OK(f,
	    "Alice sent: 1 delivered, 1 marked as spam, 0 enqueued, 0 being spam-checked; 0 "
	    "unread\n",
	    "stats Alice");
	CLI_OK(f, "#2 TIME from Alice: buy now cheap pills\n", "inbox Ilya");
	CLI_OK(f,
	    "Ilya sent: 0 delivered, 0 marked as spam, 0 enqueued, 0 being spam-checked; 1 "
	    "unread\n",
	    "stats Ilya");
	CLI_OK(f, "   1. Alice                1\n", "spammers");
	CLI_FAIL(f, "pigeon: NOT_FOUND: No message 1 for Alice\n", "report Alice 1 --spam");
	CLI_FAIL(f, "pigeon: NOT_FOUND: No message 99 for Ilya\n", "report Ilya 99 --not-spam");

	cli(f, &o, "report Ilya 1");
	snprintf(want, sizeof(want), "pigeon: report takes exactly one of --spam and --not-spam\n%s",
	    usage);
	assert_string_equal(o.err, want);
	assert_int_equal(o.code, 2);
	cli(f, &o, "report Ilya 1 --spam --not-spam");
	assert_string_equal(o.err, want);
	assert_int_equal(o.code, 2);
	cli(f, &o, "report Ilya 0 --spam");
	assert_string_equal(o.err, "pigeon: ID is a message id, a positive integer\n");
	assert_int_equal(o.code, 2);
	cli(f, &o, "report Ilya --spam");
	assert_string_equal(o.err, usage);
	assert_int_equal(o.code, 2);
	assert_string_equal(o.out, "");
}

/* train: every regular file of each directory is one text, in batches that
 * fit the request limit; a file too large or not UTF-8 stops it before
 * anything is sent. */
static void
test_train_through_the_cli(void **state)
{
	fixture *f = *state;
	char spam[400], ham[400], bad[400], args[1400], want[1400];
	t_cli_out o;

	fixture_start(f, NULL);
	snprintf(spam, sizeof(spam), "%s/spam", f->env.dir);
	snprintf(ham, sizeof(ham), "%s/ham", f->env.dir);
	snprintf(bad, sizeof(bad), "%s/bad", f->env.dir);
	put_file(spam, "1.txt", "cheap pills, buy now", 20);
	put_file(spam, "2.txt", "win a free cruise today", 23);
	put_file(ham, "1.txt", "lunch at noon?", 14);
	put_file(ham, "2.txt", "the minutes of Monday's meeting", 31);
	put_file(ham, ".hidden", "r\xc3\xa9sum\xc3\xa9 attached", 17);
	/* Not a text: a directory inside is no file. */
	snprintf(args, sizeof(args), "%s/sub", ham);
	assert_int_equal(mkdir(args, 0700), 0);

	snprintf(args, sizeof(args), "train --spam %s --ham %s", spam, ham);
	CLI_OK(f, "Learned 2 spam and 3 ham texts (the filter now knows 2 spam and 3 ham).\n",
	    args);
	/* A request limit that holds two of these texts a call: the same
	 * totals over three calls. */
	snprintf(args, sizeof(args), "--recv-max 4146 train --ham %s --spam %s", ham, spam);
	CLI_OK(f, "Learned 2 spam and 3 ham texts (the filter now knows 4 spam and 6 ham).\n",
	    args);
	snprintf(args, sizeof(args), "--json train --ham %s", ham);
	CLI_OK(f, "{\"ham\":3,\"ham_learned\":9,\"spam\":0,\"spam_learned\":4}\n", args);

	/* Bad files are each named, and nothing is sent: the next call's
	 * totals move by its own texts only. */
	put_file(bad, "a.txt", "fine", 4);
	put_file(bad, "b.txt", "caf\xe9", 4);
	put_file(bad, "c.txt", "x\0y", 3);
	put_file(bad, "d.txt", "", 0);
	snprintf(args, sizeof(args), "train --spam %s --ham %s", bad, ham);
	snprintf(want, sizeof(want),
	    "pigeon: %s/b.txt: not valid UTF-8 (byte 3)\npigeon: %s/c.txt: holds a NUL byte (byte "
	    "1)\npigeon: %s/d.txt: empty\n",
	    bad, bad, bad);
	CLI_FAIL(f, want, args);
	snprintf(args, sizeof(args), "--content-max 20 train --spam %s", spam);
	snprintf(want, sizeof(want), "pigeon: %s/2.txt: larger than the limit of 20 bytes\n", spam);
	CLI_FAIL(f, want, args);
	snprintf(args, sizeof(args), "train --spam %s/none", f->env.dir);
	snprintf(want, sizeof(want),
	    "pigeon: %s/none: cannot read the directory: No such file or directory\n", f->env.dir);
	CLI_FAIL(f, want, args);
	snprintf(args, sizeof(args), "train --spam %s", spam);
	CLI_OK(f, "Learned 2 spam and 0 ham texts (the filter now knows 6 spam and 9 ham).\n",
	    args);

	cli(f, &o, "train");
	assert_string_equal(o.err, "pigeon: train takes --spam DIR, --ham DIR or both, each once\n"
				   "Usage: pigeon train --spam DIR --ham DIR\n");
	assert_int_equal(o.code, 2);
	snprintf(args, sizeof(args), "train --spam %s --spam %s", spam, spam);
	cli(f, &o, args);
	assert_int_equal(o.code, 2);
}

/* ---- load: 10,000 messages from 10 concurrent clients ---- */

#define LOAD_CLIENTS 10
#define LOAD_EACH 1000

typedef struct load_arg {
	const char *url;
	int index;
	const char *const *users;
	size_t nusers;
} load_arg;

static void *
load_main(void *p)
{
	load_arg *a = p;
	pigeon_client *c;
	char text[64];

	if (pigeon_client_open(&c, a->url) != PIGEON_OK)
		return (void *)1;
	for (int i = 0; i < LOAD_EACH; i++) {
		Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
		Pigeon__V1__SendMessageReply *rep;
		pigeon_error err;

		/* One message in 40 is spam. */
		snprintf(text, sizeof(text), "%s %d from client %d",
		    i % 40 == 7 ? "buy now" : "hello", i, a->index);
		req.sender = (char *)a->users[(size_t)(a->index + i) % a->nusers];
		req.recipient = (char *)a->users[(size_t)(a->index + 2 * i + 1) % a->nusers];
		req.content = text;
		if (pigeon_send_message(c, &req, &rep, &err) != PIGEON_OK) {
			pigeon_client_close(c);
			return (void *)1;
		}
		pigeon_reply_free(rep);
	}
	pigeon_client_close(c);
	return NULL;
}

/* Reads every message hash and checks the per-user counters, the inboxes,
 * the leaderboards and UserStats against counts recomputed from them. */
static void
check_counts_against_messages(fixture *f, const char *const *users, size_t nusers, long long n)
{
	long long del[8] = {0}, spam[8] = {0}, in[8] = {0};
	char buf[1024], want[1024];
	size_t used = 0;

	assert_true(nusers <= 8);
	assert_int_equal(t_redis_int(f->raw, "GET pigeon:msg:seq"), n);
	for (long long id = 1; id <= n; id++)
		assert_int_equal(redisAppendCommand(f->raw, "HMGET pigeon:msg:%lld state sender "
							    "recipient",
				     id),
		    REDIS_OK);
	for (long long id = 1; id <= n; id++) {
		redisReply *r;
		size_t s = nusers, t = nusers;

		assert_int_equal(redisGetReply(f->raw, (void **)&r), REDIS_OK);
		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
		for (size_t u = 0; u < nusers; u++) {
			if (strcmp(r->element[1]->str, users[u]) == 0)
				s = u;
			if (strcmp(r->element[2]->str, users[u]) == 0)
				t = u;
		}
		assert_true(s < nusers && t < nusers);
		if (strcmp(r->element[0]->str, "delivered") == 0) {
			del[s]++;
			in[t]++;
		} else {
			assert_string_equal(r->element[0]->str, "marked_as_spam");
			spam[s]++;
		}
		freeReplyObject(r);
	}
	for (size_t u = 0; u < nusers; u++) {
		assert_stats(f->c, users[u], 0, 0, (uint64_t)del[u], (uint64_t)spam[u]);
		assert_int_equal(t_redis_int(f->raw, "ZCARD pigeon:inbox:%s", users[u]), in[u]);
		assert_int_equal(t_redis_int(f->raw, "HGET pigeon:stats:%s sent", users[u]),
		    del[u] + spam[u]);
		assert_int_equal(t_redis_int(f->raw, "ZSCORE pigeon:chatters %s", users[u]),
		    -del[u]);
		assert_int_equal(t_redis_int(f->raw, "ZSCORE pigeon:spammers %s", users[u]),
		    -spam[u]);
	}
	/* Highest first, ties by name, as the board must list them. */
	for (int k = 0; k < 2; k++) {
		long long *cnt = k == 0 ? del : spam;
		bool done[8] = {false};

		used = 0;
		want[0] = '\0';
		for (size_t rank = 0; rank < nusers; rank++) {
			size_t best = nusers;

			for (size_t u = 0; u < nusers; u++)
				if (!done[u] && cnt[u] > 0 &&
				    (best == nusers || cnt[u] > cnt[best] ||
					(cnt[u] == cnt[best] && strcmp(users[u], users[best]) < 0)))
					best = u;
			if (best == nusers)
				break;
			done[best] = true;
			used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%s %lld",
			    rank > 0 ? " " : "", users[best], cnt[best]);
		}
		board_text(f->c, k == 1, 0, buf, sizeof(buf));
		assert_string_equal(buf, want);
	}
}

static void
test_ten_thousand_messages_from_ten_clients_all_final_and_counted(void **state)
{
	fixture *f = *state;
	const char *extra[] = {"--workers", "2", "--spam-config", NULL, NULL};
	pthread_t th[LOAD_CLIENTS];
	load_arg args[LOAD_CLIENTS];
	Pigeon__V1__HealthRequest hreq = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *h;
	pigeon_error err;
	long long spam = 0, batches;

	/* The default rate rule would mark most of a bulk sender's messages:
	 * only the blocklist judges here. */
	extra[3] = spam_conf(f, "spam.conf", "rate.enabled = false\nflood.enabled = false\n");
	fixture_start(f, extra);
	freeReplyObject(redisCommand(f->raw, "CONFIG RESETSTAT"));
	for (int i = 0; i < LOAD_CLIENTS; i++) {
		args[i] = (load_arg){f->env.rpc_url, i, readme_users, 5};
		assert_int_equal(pthread_create(&th[i], NULL, load_main, &args[i]), 0);
	}
	for (int i = 0; i < LOAD_CLIENTS; i++) {
		void *rv;

		assert_int_equal(pthread_join(th[i], &rv), 0);
		assert_null(rv);
	}
	wait_final(f, readme_users, 5, LOAD_CLIENTS * LOAD_EACH);
	/* One script per send, and per worker batch one claim and one finish,
	 * whose one XACK counts the batches; nothing else has run a script
	 * yet.  A batch holds at most 100 messages. */
	batches = t_redis_calls(f->raw, "xack");
	assert_in_range(batches, LOAD_CLIENTS * LOAD_EACH / 100, LOAD_CLIENTS * LOAD_EACH);
	assert_int_equal(t_redis_calls(f->raw, "evalsha"), LOAD_CLIENTS * LOAD_EACH + 2 * batches);
	assert_int_equal(t_redis_calls(f->raw, "eval"), 0);
	assert_int_equal(t_redis_calls(f->raw, "xadd"), LOAD_CLIENTS * LOAD_EACH + 250);

	check_counts_against_messages(f, readme_users, 5, LOAD_CLIENTS * LOAD_EACH);
	for (size_t u = 0; u < 5; u++)
		spam += t_redis_int(f->raw, "HGET pigeon:stats:%s marked_as_spam", readme_users[u]);
	assert_int_equal(spam, LOAD_CLIENTS * LOAD_EACH / 40);
	assert_int_equal(t_redis_int(f->raw, "GET pigeon:journal:seq"), 250);
	assert_int_equal(pigeon_health(f->c, &hreq, &h, &err), PIGEON_OK);
	assert_int_equal(h->queue_depth, 0);
	assert_int_equal(h->queue_pending, 0);
	assert_int_equal(h->dead_letters, 0);
	assert_int_equal(h->workers, 2);
	pigeon_reply_free(h);
}

/* ---- a worker killed in the middle of a stream ---- */

#define STREAM_N 2000

typedef struct stream_arg {
	const char *url;
	bool failed;
} stream_arg;

static void *
stream_main(void *p)
{
	stream_arg *a = p;
	pigeon_client *c;
	char text[64];

	if (pigeon_client_open(&c, a->url) != PIGEON_OK) {
		a->failed = true;
		return NULL;
	}
	for (int i = 0; i < STREAM_N; i++) {
		Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
		Pigeon__V1__SendMessageReply *rep;
		pigeon_error err;

		snprintf(text, sizeof(text), "%s %d", i % 25 == 3 ? "buy now" : "stream", i);
		req.sender = (char *)readme_users[i % 5];
		req.recipient = (char *)readme_users[(i + 3) % 5];
		req.content = text;
		if (pigeon_send_message(c, &req, &rep, &err) != PIGEON_OK) {
			a->failed = true;
			break;
		}
		pigeon_reply_free(rep);
	}
	pigeon_client_close(c);
	return NULL;
}

static void
start_worker(fixture *f, t_proc *w, const char *conf, const char *name)
{
	const char *args[] = {"--role", "worker", "--spam-config", conf, "--reclaim-ms", "500",
	    "--batch", "20", NULL};

	t_env_role_start(&f->env, w, name, args);
}

typedef struct at_least {
	fixture *f;
	long long n;
} at_least;

static bool
final_at_least(void *p)
{
	at_least *a = p;

	return final_sum(a->f->raw, readme_users, 5) >= a->n;
}

static void
test_worker_killed_mid_stream_loses_and_doubles_nothing(void **state)
{
	fixture *f = *state;
	const char *conf = spam_conf(f, "spam.conf", "rate.enabled = false\n"
						     "flood.enabled = false\n");
	const char *extra[] = {"--role", "rpc", NULL};
	t_proc w1, w2;
	pthread_t th;
	stream_arg sa = {0};
	at_least some = {f, 300};

	fixture_start(f, extra);
	start_worker(f, &w1, conf, "worker1");
	sa.url = f->env.rpc_url;
	assert_int_equal(pthread_create(&th, NULL, stream_main, &sa), 0);
	assert_true(t_wait_for(final_at_least, &some, DEADLINE_MS));
	assert_int_equal(t_proc_stop(&w1, SIGKILL), 128 + SIGKILL);
	assert_true(final_sum(f->raw, readme_users, 5) < STREAM_N);
	/* The stream keeps flowing with no worker at all for a while. */
	some.n = 0;
	start_worker(f, &w2, conf, "worker2");
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_false(sa.failed);
	wait_final(f, readme_users, 5, STREAM_N);
	assert_int_equal(t_proc_stop(&w2, SIGTERM), 0);

	check_counts_against_messages(f, readme_users, 5, STREAM_N);
	assert_int_equal(t_redis_int(f->raw, "GET pigeon:journal:seq"), STREAM_N / 25);
	assert_int_equal(t_redis_int(f->raw, "XLEN pigeon:deadletter"), 0);
}

/* ---- the spam rules as the worker applies them ---- */

static void
test_flood_and_rate_are_marked_with_their_reasons(void **state)
{
	fixture *f = *state;
	Pigeon__V1__RegisterUserRequest reg = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
	Pigeon__V1__RegisterUserReply *rr;
	pigeon_error err;
	char name[16], text[64], want[160], *buf = malloc(16384);
	const char *everyone[] = {"Alice", "Dizzzmas", "Ilya", "Malory", "flain1"};
	Pigeon__V1__GetEventJournalRequest jreq = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *j;

	fixture_start(f, NULL);
	for (int i = 1; i <= 50; i++) {
		snprintf(name, sizeof(name), "r%02d", i);
		reg.username = name;
		assert_int_equal(pigeon_register_user(f->c, &reg, &rr, &err), PIGEON_OK);
		pigeon_reply_free(rr);
	}
	/* Malory floods 50 recipients with one text (digits differ, which the
	 * fingerprint ignores). */
	for (int i = 1; i <= 50; i++) {
		snprintf(name, sizeof(name), "r%02d", i);
		snprintf(text, sizeof(text), "Join my channel %d", i);
		assert_int_equal(t_send(f->c, "Malory", name, text), (uint64_t)i);
	}
	/* Ilya sends 35 different texts to Alice: over the rate from the 31st. */
	for (int i = 1; i <= 35; i++) {
		snprintf(text, sizeof(text), "status update %c%c", 'a' + i / 26, 'a' + i % 26);
		assert_int_equal(t_send(f->c, "Ilya", "Alice", text), (uint64_t)(50 + i));
	}
	wait_final(f, everyone, 5, 85);
	assert_stats(f->c, "Malory", 0, 0, 5, 45);
	assert_stats(f->c, "Ilya", 0, 0, 30, 5);
	board_text(f->c, true, 0, buf, 16384);
	assert_string_equal(buf, "Malory 45 Ilya 5");

	jreq.page_size = 1000;
	assert_int_equal(pigeon_get_event_journal(f->c, &jreq, &j, &err), PIGEON_OK);
	assert_int_equal(j->n_events, 50);
	/* Oldest last: Malory's 6th .. 50th, then Ilya's 31st .. 35th. */
	for (size_t k = 0; k < 50; k++) {
		const Pigeon__V1__Event *e = j->events[49 - k];
		uint64_t id = k < 45 ? k + 6 : 50 + 31 + (k - 45);

		assert_int_equal(e->sequence, k + 1);
		assert_int_equal(e->message_id, id);
		assert_int_equal(e->type, PIGEON__V1__EVENT_TYPE__EVENT_TYPE_SPAM);
		if (k < 45 && id <= 30)
			snprintf(want, sizeof(want), "flood(%llu>5/300s)", (unsigned long long)id);
		else if (k < 45)
			snprintf(want, sizeof(want), "rate(%llu>30/60s), flood(%llu>5/300s)",
			    (unsigned long long)id, (unsigned long long)id);
		else
			snprintf(want, sizeof(want), "rate(%llu>30/60s)",
			    (unsigned long long)(id - 50));
		assert_string_equal(e->reason, want);
		assert_string_equal(e->username, k < 45 ? "Malory" : "Ilya");
	}
	pigeon_reply_free(j);
	free(buf);
}

static void
test_dry_run_delivers_and_journals_would_be_spam_and_sighup_reloads(void **state)
{
	fixture *f = *state;
	const char *conf = spam_conf(f, "spam.conf", "dry_run = true\n");
	const char *extra[] = {"--spam-config", conf, NULL};
	char buf[1024];
	t_file_has reloaded = {f->env.pigeond.proc.log, "spam config reloaded"};
	FILE *fp;

	fixture_start(f, extra);
	assert_int_equal(t_send(f->c, "Malory", "Alice", "Buy now: cheap watches"), 1);
	wait_final(f, readme_users, 5, 1);
	assert_stats(f->c, "Malory", 0, 0, 1, 0);
	inbox_text(f->c, "Alice", buf, sizeof(buf));
	assert_string_equal(buf, "1:Malory:Buy now: cheap watches");
	board_text(f->c, true, 0, buf, sizeof(buf));
	assert_string_equal(buf, "");
	board_text(f->c, false, 0, buf, sizeof(buf));
	assert_string_equal(buf, "Malory 1");
	journal_text(f->c, 0, buf, sizeof(buf));
	assert_string_equal(buf, "1 WOULD_BE_SPAM: message with id 1 by Malory [blocklist(buy now)]");

	/* Enforce from now on: rewrite the file, SIGHUP, wait for the log line. */
	assert_non_null(fp = fopen(conf, "w"));
	fputs("dry_run = false\n", fp);
	fclose(fp);
	reloaded.path = f->env.pigeond.proc.log;
	assert_int_equal(kill(f->env.pigeond.proc.pid, SIGHUP), 0);
	assert_true(t_wait_for(t_file_holds, &reloaded, DEADLINE_MS));
	assert_int_equal(t_send(f->c, "Malory", "Alice", "Buy now: cheap watches"), 2);
	wait_final(f, readme_users, 5, 2);
	assert_stats(f->c, "Malory", 0, 0, 1, 1);
	journal_text(f->c, 0, buf, sizeof(buf));
	assert_string_equal(buf, "2 SPAM: message with id 2 by Malory [blocklist(buy now)]|"
				 "1 WOULD_BE_SPAM: message with id 1 by Malory [blocklist(buy now)]");

	/* A broken file keeps the filter in use. */
	assert_non_null(fp = fopen(conf, "w"));
	fputs("dry_run = maybe\n", fp);
	fclose(fp);
	reloaded.text = "spam config not reloaded";
	assert_int_equal(kill(f->env.pigeond.proc.pid, SIGHUP), 0);
	assert_true(t_wait_for(t_file_holds, &reloaded, DEADLINE_MS));
	assert_int_equal(t_send(f->c, "Malory", "Alice", "Buy now: cheap watches"), 3);
	wait_final(f, readme_users, 5, 3);
	assert_stats(f->c, "Malory", 0, 0, 1, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_readme_sequence_through_the_library, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readme_sequence_through_the_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_presence_and_reads_through_the_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_through_the_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(test_train_through_the_cli, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_ten_thousand_messages_from_ten_clients_all_final_and_counted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_worker_killed_mid_stream_loses_and_doubles_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_flood_and_rate_are_marked_with_their_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dry_run_delivers_and_journals_would_be_spam_and_sighup_reloads, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
