/* SPDX-License-Identifier: MIT */
/*
 * pigeon: the command-line client.  One subcommand per RPC, human-readable
 * output by default and one JSON object with --json.  On failure it prints
 * the status name and the server's message to stderr and exits 1 (2 for a
 * usage error).
 */
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

#include "pigeon-config.h"

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
} cli;

typedef struct command {
	const char *name;
	const char *args;
	int nargs;
	const char *help;
	int (*run)(cli *c, char **argv);
} command;

static int
fail(pigeon_status st, const pigeon_error *err)
{
	fprintf(stderr, "pigeon: %s: %s\n", pigeon_status_name(st),
	    err->message[0] != '\0' ? err->message : "(no message)");
	return 1;
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
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:I}", "id", (json_int_t)m->id, "sender",
	    m->sender, "recipient", m->recipient, "content", m->content, "state",
	    state_name(m->state), "created_ms", (json_int_t)m->created_ms);
}

static void
format_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
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
		return fail(st, &err);
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

static int
cmd_login(cli *c, char **argv)
{
	Pigeon__V1__LoginRequest req = PIGEON__V1__LOGIN_REQUEST__INIT;
	Pigeon__V1__LoginReply *rep;
	pigeon_error err;
	pigeon_status st;

	req.username = argv[0];
	if ((st = pigeon_login(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(st, &err);
	if (c->json)
		print_json(json_pack("{s:s,s:I}", "username", rep->username, "sequence",
		    (json_int_t)rep->sequence));
	else
		printf("Logged in %s.\n", rep->username);
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_logout(cli *c, char **argv)
{
	Pigeon__V1__LogoutRequest req = PIGEON__V1__LOGOUT_REQUEST__INIT;
	Pigeon__V1__LogoutReply *rep;
	pigeon_error err;
	pigeon_status st;

	req.username = argv[0];
	if ((st = pigeon_logout(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(st, &err);
	if (c->json)
		print_json(json_pack("{s:s,s:I}", "username", rep->username, "sequence",
		    (json_int_t)rep->sequence));
	else
		printf("Logged out %s.\n", rep->username);
	pigeon_reply_free(rep);
	return 0;
}

static int
cmd_send(cli *c, char **argv)
{
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	Pigeon__V1__SendMessageReply *rep;
	pigeon_error err;
	pigeon_status st;

	req.sender = argv[0];
	req.recipient = argv[1];
	req.content = argv[2];
	req.idempotency_key = (char *)(c->key != NULL ? c->key : "");
	if ((st = pigeon_send_message(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(st, &err);
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

	req.username = argv[0];
	if ((st = pigeon_get_user_stats(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(st, &err);
	if (c->json)
		print_json(json_pack("{s:s,s:I,s:I,s:I,s:I}", "username", rep->username,
		    "enqueued", (json_int_t)rep->enqueued, "being_spam_checked",
		    (json_int_t)rep->being_spam_checked, "delivered", (json_int_t)rep->delivered,
		    "marked_as_spam", (json_int_t)rep->marked_as_spam));
	else
		printf("%s sent: %" PRIu64 " delivered, %" PRIu64 " marked as spam, %" PRIu64
		       " enqueued, %" PRIu64 " being spam-checked\n",
		    rep->username, rep->delivered, rep->marked_as_spam, rep->enqueued,
		    rep->being_spam_checked);
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

	req.username = argv[0];
	req.page_size = (uint32_t)c->limit;
	req.cursor = c->cursor;
	if ((st = pigeon_list_inbound_messages(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(st, &err);
	if (c->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < rep->n_messages; i++)
			json_array_append_new(arr, message_json(rep->messages[i]));
		print_json(json_pack("{s:o,s:I}", "messages", arr, "next_cursor",
		    (json_int_t)rep->next_cursor));
	} else {
		for (size_t i = 0; i < rep->n_messages; i++) {
			const Pigeon__V1__Message *m = rep->messages[i];
			char when[32];

			format_time(m->created_ms, when, sizeof(when));
			printf("#%" PRIu64 " %s from %s: %s\n", m->id, when, m->sender, m->content);
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
		return fail(st, &err);
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
		return fail(st, &err);
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
		return fail(st, &err);
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

	req.username = argv[0];
	if (c->role != NULL &&
	    (!pigeon_enum_from_name(&pigeon__v1__role__descriptor, c->role, &role) ||
		role == PIGEON__V1__ROLE__ROLE_UNSPECIFIED)) {
		fprintf(stderr, "pigeon: --role is regular or admin\n");
		return 2;
	}
	req.role = (Pigeon__V1__Role)role;
	if ((st = pigeon_register_user(c->client, &req, &rep, &err)) != PIGEON_OK)
		return fail(st, &err);
	if (c->json)
		print_json(json_pack("{s:s,s:s}", "username", rep->username, "role",
		    enum_name(&pigeon__v1__role__descriptor, (int)rep->role)));
	else
		printf("Registered %s (%s).\n", rep->username,
		    enum_name(&pigeon__v1__role__descriptor, (int)rep->role));
	pigeon_reply_free(rep);
	return 0;
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
	{"login", "USER", 1, "log a user in", cmd_login},
	{"logout", "USER", 1, "log a user out", cmd_logout},
	{"send", "SENDER RECIPIENT TEXT", 3, "send a message (--key K: idempotency key)",
	    cmd_send},
	{"stats", "USER", 1, "counts of a user's sent messages by state", cmd_stats},
	{"inbox", "USER", 1, "messages delivered to a user, oldest first", cmd_inbox},
	{"spammers", "", 0, "users by messages marked as spam", cmd_spammers},
	{"chatters", "", 0, "users by messages delivered", cmd_chatters},
	{"online", "", 0, "users online now", cmd_online},
	{"journal", "", 0, "the event journal, newest first (--after N: catch up)", cmd_journal},
	{"register", "USER", 1, "add a user (--role regular|admin)", cmd_register},
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
		fprintf(f, "  %-30s %s\n", left, c->help);
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
	    "                        inbox/USER); default every topic\n"
	    "  --user NAME           watch: only events whose user or recipient is NAME\n"
	    "  --help                show this help and exit\n"
	    "  --version             show the version and exit\n",
	    PIGEON_DEFAULT_RPC_URL, PIGEON_DEFAULT_DEADLINE_MS, PIGEON_DEFAULT_PUB_URL);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
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
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	cli c = {0};
	pigeon_client_opts co = {0};
	const command *cmd;
	pigeon_status st;
	int opt, rc;

	c.url = getenv("PIGEON_RPC_URL");
	c.pub_url = getenv("PIGEON_PUB_URL");
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
	co.url = c.url;
	co.deadline_ms = c.deadline_ms;
	if ((st = pigeon_client_open_opts(&c.client, &co)) != PIGEON_OK) {
		fprintf(stderr, "pigeon: %s: cannot open a client of %s\n", pigeon_status_name(st),
		    c.url != NULL ? c.url : PIGEON_DEFAULT_RPC_URL);
		return 1;
	}
	rc = cmd->run(&c, argv + optind + 1);
	pigeon_client_close(c.client);
	return rc;
}
