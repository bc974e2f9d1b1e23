/* SPDX-License-Identifier: MIT */
/*
 * An example libpigeon subscriber: prints the messages delivered to one user
 * as they arrive, and every journal event exactly once and in order (gaps
 * filled with GetEventJournal), until Ctrl-C.
 *
 *   inbox_watch Ilya [PUB_URL [RPC_URL]]
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <pigeon/pigeon.h>

static void
on_event(const char *topic, const Pigeon__V1__Event *ev, void *arg)
{
	(void)arg;
	if (strcmp(topic, PIGEON_TOPIC_JOURNAL) == 0)
		printf("#%" PRIu64 " %s\n", ev->sequence, ev->text);
	else
		printf("message %" PRIu64 " from %s: %s\n", ev->message_id, ev->username,
		    ev->content);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	char inbox[128];
	const char *topics[] = {PIGEON_TOPIC_JOURNAL, inbox, NULL};
	pigeon_subscribe_opts so = {0};
	pigeon_subscription *sub;
	pigeon_client *client;
	pigeon_status st;
	sigset_t sigs;
	int sig;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		printf("Usage: %s USER [PUB_URL [RPC_URL]]\n\n"
		       "Prints USER's new messages and every journal event as they happen,\n"
		       "filling gaps from the journal.  PUB_URL defaults to %s, RPC_URL to %s.\n"
		       "Ctrl-C stops it.\n",
		    argv[0], PIGEON_DEFAULT_PUB_URL, PIGEON_DEFAULT_RPC_URL);
		return 0;
	}
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "Usage: %s USER [PUB_URL [RPC_URL]]; try --help\n", argv[0]);
		return 2;
	}
	snprintf(inbox, sizeof(inbox), "%s%s", PIGEON_TOPIC_INBOX_PREFIX, argv[1]);
	/* Blocked before any thread starts, so only sigwait below sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if ((st = pigeon_client_open(&client, argc > 3 ? argv[3] : NULL)) != PIGEON_OK) {
		fprintf(stderr, "client: %s\n", pigeon_status_name(st));
		return 1;
	}
	so.url = argc > 2 ? argv[2] : NULL;
	so.topics = topics;
	so.gap_fill = client;
	if ((st = pigeon_subscribe(&sub, &so, on_event, NULL)) != PIGEON_OK) {
		fprintf(stderr, "subscribe: %s\n", pigeon_status_name(st));
		pigeon_client_close(client);
		return 1;
	}
	sigwait(&sigs, &sig);
	pigeon_subscription_close(sub);
	pigeon_client_close(client);
	return 0;
}
