/* SPDX-License-Identifier: MIT */
/*
 * The soak: runs a private redis-server and pigeond, measures the
 * throughput of SendMessage once, then sends at half of it for the given
 * time in 10-second rounds, printing the RSS of pigeond and Redis after
 * each.  At the end it drains and recomputes the truth of every round
 * (load.h) and exits non-zero on any lost, duplicated or unexpected
 * message.  Bounded: time and rate are both fixed before the start.
 *
 *   pigeon-soak [MINUTES [RATE]]     (defaults: 10, measured / 2)
 *
 * Environment as for the tests: PIGEOND, PIGEON_SOURCE_DIR.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "load.h"

#define ROUND_S 10

int
main(int argc, char **argv)
{
	double minutes = argc > 1 ? atof(argv[1]) : 10;
	double rate = argc > 2 ? atof(argv[2]) : 0;
	char cfg[300], blocklist[512], tags[4096][8];
	const char *extra[] = {"--spam-config", cfg, "--workers", "2", NULL};
	t_env e;
	t_proc rp;
	load_opts o = {.threads = 8, .senders = 5, .recipients = 4, .deadline_ms = 5000,
	    .idempotent = true};
	load_result res;
	load_msg *msgs;
	size_t rounds, per_round, sent = 0, bad = 0;
	long rss0, rss1, rrss0, rrss1;
	int64_t start;

	/* The spam config is in the env's dir before pigeond reads it. */
	t_env_init(&e, "soak");
	snprintf(cfg, sizeof(cfg), "%s/spam.conf", e.dir);
	load_spam_config(cfg, t_source_path("etc/spam-blocklist.txt", blocklist, sizeof(blocklist)));
	t_env_start(&e, &(t_env_opts){.aof = true, .pigeond_args = extra});
	rp.pid = e.redis.pid;
	o.url = e.rpc_url;

	/* Throughput, once: 20,000 messages as fast as 8 threads go. */
	o.tag = "m0000";
	o.messages = 20000;
	if (!load_register(&o))
		return 1;
	msgs = calloc(o.messages, sizeof(*msgs));
	load_run(&o, msgs, &res);
	free(msgs);
	if (!load_drain(o.url, 60000))
		return 1;
	if (rate <= 0)
		rate = (double)res.acked * 1000 / (double)res.elapsed_ms / 2;
	rounds = (size_t)(minutes * 60 / ROUND_S);
	if (rounds < 1)
		rounds = 1;
	if (rounds > 4096)
		rounds = 4096;
	per_round = (size_t)(rate * ROUND_S);
	rss0 = t_proc_rss_kb(&e.pigeond.proc);
	rrss0 = t_proc_rss_kb(&rp);
	printf("soak: measured %.0f msg/s; sending %.0f msg/s for %zu rounds of %d s\n",
	    (double)res.acked * 1000 / (double)res.elapsed_ms, rate, rounds, ROUND_S);
	printf("soak: start rss pigeond=%ld KiB redis=%ld KiB\n", rss0, rrss0);
	fflush(stdout);

	start = t_now_ms();
	o.rate = rate;
	o.messages = per_round;
	msgs = calloc(rounds * per_round, sizeof(*msgs));
	for (size_t k = 0; k < rounds; k++) {
		snprintf(tags[k], sizeof(tags[k]), "r%04zu", k);
		o.tag = tags[k];
		if (!load_register(&o))
			return 1;
		load_run(&o, msgs + k * per_round, &res);
		sent += res.acked;
		bad += res.given_up;
		printf("soak: t=%llds sent=%zu rss pigeond=%ld KiB redis=%ld KiB\n",
		    (long long)(t_now_ms() - start) / 1000, sent, t_proc_rss_kb(&e.pigeond.proc),
		    t_proc_rss_kb(&rp));
		fflush(stdout);
	}
	rss1 = t_proc_rss_kb(&e.pigeond.proc);
	rrss1 = t_proc_rss_kb(&rp);
	if (!load_drain(o.url, 120000)) {
		printf("soak: did not drain\n");
		bad++;
	}
	for (size_t k = 0; k < rounds; k++) {
		load_truth t;

		o.tag = tags[k];
		load_verify(&o, msgs + k * per_round, NULL, 0, &t);
		bad += t.lost + t.duplicated + t.unexpected + t.bad_counters + t.bad_leaderboard +
		    t.bad_journal;
	}
	printf("soak: end rss pigeond=%ld KiB redis=%ld KiB (start %ld / %ld)\n", rss1, rrss1,
	    rss0, rrss0);
	printf("soak: %zu messages in %.1f min, %zu problems (lost, duplicated, unexpected, "
	       "counters, leaderboards, journal, given up)\n",
	    sent, (double)(t_now_ms() - start) / 60000, bad);
	free(msgs);
	if (t_env_stop(&e) != 0)
		bad++;
	return bad == 0 ? 0 : 1;
}
