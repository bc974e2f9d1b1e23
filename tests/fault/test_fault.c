/* SPDX-License-Identifier: MIT */
/*
 * Fault tests: each drives load through libpigeon against a real pigeond
 * and redis-server, injects one fault (a worker killed or frozen, Redis
 * stopped, killed or out of memory, pigeond killed, a poison message,
 * resent requests, connections dropped mid-handshake, the pigeond sweeping
 * expired sessions killed, pigeond killed under MarkRead calls), lets the
 * system drain, and then recomputes the truth from what the clients were
 * told (load.h): lost, duplicated and unexpected messages must all be 0, and
 * every counter, leaderboard entry and journal event must match.
 *
 * Run one test by name: `test_fault worker_sigkill`.  PIGEON_FAULT_SCALE
 * divides the message counts (the sanitizer build sets 4); the default is
 * the figures (20,000 messages, 20 kills).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <pigeon/pigeon.h>

#include "harness.h"
#include "load.h"

typedef struct f_env {
	/* Redis; pigeond as each test starts it, on e.rpc_url. */
	t_env e;
	t_proc worker;
	char spam_cfg[300];
	char users[512];
	int scale;
	/* --max-attempts of pigeond and the workers: 3 unless a test says. */
	char max_attempts[16];
} f_env;

static f_env env;

static size_t
scaled(size_t n)
{
	size_t s = n / (size_t)env.scale;

	return s > 0 ? s : 1;
}

/* Redis (with the append-only file), a private dir, a spam config with only
 * the blocklist, and a fixed RPC address that survives restarts. */
static int
f_setup(void **state)
{
	t_env_opts o = {.tag = "fault", .aof = true, .redis_only = true};
	char blocklist[512];
	const char *scale = getenv("PIGEON_FAULT_SCALE");

	memset(&env, 0, sizeof(env));
	env.scale = scale != NULL && atoi(scale) > 0 ? atoi(scale) : 1;
	snprintf(env.max_attempts, sizeof(env.max_attempts), "3");
	t_env_start(&env.e, &o);
	snprintf(env.spam_cfg, sizeof(env.spam_cfg), "%s/spam.conf", env.e.dir);
	t_source_path("etc/spam-blocklist.txt", blocklist, sizeof(blocklist));
	t_source_path("etc/users.conf", env.users, sizeof(env.users));
	load_spam_config(env.spam_cfg, blocklist);
	return 0;
}

static int
f_teardown(void **state)
{
	t_proc_stop(&env.worker, SIGTERM);
	t_env_stop(&env.e);
	return 0;
}

/* pigeond with the given role and settings on env.e.rpc_url. */
static void
f_pigeond_start(const char *role, const char *reclaim_ms, const char *const *more)
{
	const char *extra[24] = {"--role", role, "--spam-config", env.spam_cfg, "--reclaim-ms",
	    reclaim_ms, "--max-attempts", env.max_attempts};
	int n = 8;

	for (; more != NULL && *more != NULL && n < 23; more++)
		extra[n++] = *more;
	extra[n] = NULL;
	t_env_pigeond_start(&env.e, extra);
}

/* A worker-only pigeond, logging to the test dir. */
static void
f_worker_start(t_proc *w, const char *name, const char *reclaim_ms)
{
	const char *args[] = {"--role", "worker", "--users-file", env.users, "--spam-config",
	    env.spam_cfg, "--reclaim-ms", reclaim_ms, "--max-attempts", env.max_attempts,
	    "--log-level", "warn",
	    NULL};

	t_env_role_start(&env.e, w, name, args);
}

static load_opts
f_opts(const char *tag, size_t messages)
{
	load_opts o = {.url = env.e.rpc_url, .tag = tag, .threads = 8, .messages = messages,
	    .senders = 5, .recipients = 4, .spam_every = 10, .deadline_ms = 2000,
	    .idempotent = true, .give_up_ms = 60000};

	return o;
}

static void
f_assert_truth(const char *what, const load_opts *o, const load_msg *msgs, const load_result *r,
    const uint64_t *dead, size_t n_dead)
{
	load_truth t;

	assert_true(load_drain(o->url, 60000));
	load_verify(o, msgs, dead, n_dead, &t);
	load_print(what, o, r, &t);
	assert_int_equal(r->given_up, 0);
	assert_int_equal(r->acked, o->messages);
	assert_int_equal(t.lost, 0);
	assert_int_equal(t.duplicated, 0);
	assert_int_equal(t.unexpected, 0);
	assert_int_equal(t.bad_counters, 0);
	assert_int_equal(t.bad_leaderboard, 0);
	assert_int_equal(t.bad_journal, 0);
	assert_int_equal(t.delivered + t.spam, o->messages);
}

/* The load in a thread of its own, while the test injects faults. */
typedef struct f_load {
	load_opts o;
	load_msg *msgs;
	load_result res;
	size_t acked_now;
	size_t failed_now;
	pthread_t thread;
} f_load;

static void *
f_load_main(void *arg)
{
	f_load *l = arg;

	load_run(&l->o, l->msgs, &l->res);
	return NULL;
}

static void
f_load_start(f_load *l, const load_opts *o)
{
	l->o = *o;
	l->o.acked_now = &l->acked_now;
	l->o.failed_now = &l->failed_now;
	l->msgs = calloc(o->messages, sizeof(*l->msgs));
	assert_non_null(l->msgs);
	assert_true(load_register(&l->o));
	assert_int_equal(pthread_create(&l->thread, NULL, f_load_main, l), 0);
}

static void
f_load_join(f_load *l)
{
	pthread_join(l->thread, NULL);
}

typedef struct f_at_least {
	size_t *counter;
	size_t n;
} f_at_least;

static bool
f_reached(void *arg)
{
	f_at_least *a = arg;

	return __atomic_load_n(a->counter, __ATOMIC_RELAXED) >= a->n;
}

static uint64_t
f_health_pending(const char *url)
{
	pigeon_client_opts co = {.url = url, .deadline_ms = 1000};
	Pigeon__V1__HealthRequest req = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *rep;
	pigeon_client *c;
	uint64_t n = 0;

	assert_int_equal(pigeon_client_open_opts(&c, &co), PIGEON_OK);
	if (pigeon_health(c, &req, &rep, NULL) == PIGEON_OK) {
		n = rep->queue_pending;
		pigeon_reply_free(rep);
	}
	pigeon_client_close(c);
	return n;
}

/* 1. The worker killed with SIGKILL at random moments, at least 20 times
 * during 20,000 messages.  The load and the kills hold each other back so
 * the kills spread over the whole load. */
typedef struct f_killer {
	size_t messages;
	size_t kills_wanted;
	size_t kills;
	size_t passed;
	unsigned seed;
} f_killer;

typedef struct f_gate {
	f_killer *k;
	size_t i;
} f_gate;

static bool
f_gate_open(void *arg)
{
	f_gate *g = arg;

	return __atomic_load_n(&g->k->kills, __ATOMIC_ACQUIRE) >=
	    g->i * g->k->kills_wanted / g->k->messages;
}

/* Holds message i until the kills due before it have happened.  It runs
 * on the load's threads, which cannot fail the test: after 60 s it lets
 * the message go, and the count of kills fails the test instead. */
static void
f_kill_gate(size_t i, void *arg)
{
	f_gate g = {arg, i};

	t_wait_every(f_gate_open, &g, 2, 60000);
	__atomic_fetch_add(&g.k->passed, 1, __ATOMIC_RELAXED);
}

static void
test_worker_sigkill(void **state)
{
	f_killer k = {.messages = scaled(20000), .seed = 12345};
	load_opts o = f_opts("wk", k.messages);
	f_load l = {0};

	k.kills_wanted = env.scale > 1 ? 10 : 20;
	/* Each kill may strand a batch, and a batch stranded, taken over and
	 * stranded again counts one failed delivery each time: with fewer
	 * attempts than kills, a slow machine dead-letters good messages
	 * (docs/reliability.md, "Failed attempts count as deliveries").  One
	 * more attempt than there are kills cannot. */
	snprintf(env.max_attempts, sizeof(env.max_attempts), "%zu", k.kills_wanted + 1);
	o.gate = f_kill_gate;
	o.gate_arg = &k;
	f_pigeond_start("rpc", "300", NULL);
	f_worker_start(&env.worker, "worker", "300");
	f_load_start(&l, &o);
	for (size_t n = 1; n <= k.kills_wanted; n++) {
		f_at_least due = {&k.passed, n * k.messages / (k.kills_wanted + 1)};

		assert_true(t_wait_every(f_reached, &due, 1, 60000));
		/* A random moment within the next 40 ms. */
		t_sleep_ms(rand_r(&k.seed) % 40);
		assert_int_equal(t_proc_stop(&env.worker, SIGKILL), 128 + SIGKILL);
		f_worker_start(&env.worker, "worker", "300");
		__atomic_store_n(&k.kills, n, __ATOMIC_RELEASE);
	}
	f_load_join(&l);
	fprintf(stderr, "worker_sigkill: kills=%zu\n", k.kills);
	assert_int_equal(k.kills, k.kills_wanted);
	f_assert_truth("worker_sigkill", &o, l.msgs, &l.res, NULL, 0);
	free(l.msgs);
}

/* Freezes the worker; true when it holds messages then, else lets it go on. */
static bool
f_frozen_holding(void *arg)
{
	t_proc *w = arg;

	kill(w->pid, SIGSTOP);
	if (f_health_pending(env.e.rpc_url) > 0)
		return true;
	kill(w->pid, SIGCONT);
	return false;
}

/* 2. A zombie worker: frozen with SIGSTOP while it holds messages, past the
 * reclaim time, so another worker finishes them; then resumed with SIGCONT
 * and stopped.  Its late finish must change nothing. */
static void
test_zombie_worker(void **state)
{
	load_opts o = f_opts("zw", scaled(4000));
	f_load l = {0};
	f_at_least half = {&l.acked_now, o.messages / 2};
	t_proc zombie = {0};

	f_pigeond_start("rpc", "300", NULL);
	f_worker_start(&zombie, "zombie", "300");
	f_load_start(&l, &o);
	assert_true(t_wait_for(f_reached, &half, 60000));
	assert_true(t_wait_every(f_frozen_holding, &zombie, 3, 10000));
	f_worker_start(&env.worker, "worker", "300");
	f_load_join(&l);
	/* Drained while the zombie is still frozen: the other worker took over
	 * everything it held. */
	assert_true(load_drain(env.e.rpc_url, 60000));
	kill(zombie.pid, SIGCONT);
	assert_int_equal(t_proc_stop(&zombie, SIGTERM), 0);
	f_assert_truth("zombie_worker", &o, l.msgs, &l.res, NULL, 0);
	free(l.msgs);
}

/* 3 and 4.  Redis stopped (SIGTERM) or killed (SIGKILL) under load and
 * started again on the same port and data: calls fail with UNAVAILABLE
 * within their deadline, retries with the same idempotency key store each
 * message once, and every acknowledged message is delivered. */
static void
f_redis_outage(const char *what, bool hard)
{
	load_opts o = f_opts(hard ? "rk" : "rs", scaled(6000));
	f_load l = {0};
	f_at_least third = {&l.acked_now, o.messages / 3};
	f_at_least failing = {&l.failed_now, 16};

	o.deadline_ms = 1000;
	f_pigeond_start("all", "300", NULL);
	f_load_start(&l, &o);
	assert_true(t_wait_for(f_reached, &third, 60000));
	t_redis_stop(&env.e.redis, hard);
	assert_true(t_wait_for(f_reached, &failing, 30000));
	t_redis_restart(&env.e.redis);
	f_load_join(&l);
	f_assert_truth(what, &o, l.msgs, &l.res, NULL, 0);
	assert_true(l.res.by_status[PIGEON_UNAVAILABLE] > 0);
	/* Nothing but UNAVAILABLE, and nobody waited past the deadline by more
	 * than scheduling noise. */
	assert_int_equal(l.res.attempts - l.res.acked, l.res.by_status[PIGEON_UNAVAILABLE]);
	assert_true(l.res.max_over_deadline_ms < 250 * env.scale);
	free(l.msgs);
}

static void
test_redis_restart(void **state)
{
	f_redis_outage("redis_restart", false);
}

static void
test_redis_sigkill_aof(void **state)
{
	f_redis_outage("redis_sigkill_aof", true);
}

/* 5. pigeond killed with SIGKILL and started again, three times under
 * load: the clients reconnect by themselves. */
static void
test_pigeond_sigkill(void **state)
{
	load_opts o = f_opts("pk", scaled(6000));
	f_load l = {0};

	f_pigeond_start("all", "300", NULL);
	f_load_start(&l, &o);
	for (int n = 1; n <= 3; n++) {
		f_at_least part = {&l.acked_now, o.messages * (size_t)n / 4};

		assert_true(t_wait_for(f_reached, &part, 60000));
		assert_int_equal(t_proc_stop(&env.e.pigeond.proc, SIGKILL), 128 + SIGKILL);
		f_pigeond_start("all", "300", NULL);
	}
	f_load_join(&l);
	f_assert_truth("pigeond_sigkill", &o, l.msgs, &l.res, NULL, 0);
	free(l.msgs);
}

/* 6. A poison message: its hash is overwritten with a string in Redis, so
 * every script that reads it fails.  It is dead-lettered after
 * --max-attempts 3 deliveries while the load flows past it. */
static void
test_poison_message(void **state)
{
	load_opts o = f_opts("pm", scaled(3000));
	load_opts po = f_opts("pm", 1);
	pigeon_client_opts co = {.url = env.e.rpc_url};
	Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
	Pigeon__V1__SendMessageReply *rep;
	Pigeon__V1__HealthRequest hreq = PIGEON__V1__HEALTH_REQUEST__INIT;
	Pigeon__V1__HealthReply *hrep;
	pigeon_client *c;
	char cmd[128], line[128];
	uint64_t poison;
	f_load l = {0};

	f_pigeond_start("rpc", "200", NULL);
	po.senders = 1;
	po.tag = "pmpoison";
	assert_true(load_register(&po));
	assert_true(load_register(&o));
	assert_int_equal(pigeon_client_open_opts(&c, &co), PIGEON_OK);
	req.sender = "pmpoisons0";
	req.recipient = "pmr0";
	req.content = "poison";
	assert_int_equal(pigeon_send_message(c, &req, &rep, NULL), PIGEON_OK);
	poison = rep->message->id;
	pigeon_reply_free(rep);
	snprintf(cmd, sizeof(cmd), "SET pigeon:msg:%llu poison", (unsigned long long)poison);
	assert_true(t_redis_cmd(&env.e.redis, cmd, line, sizeof(line)));
	assert_string_equal(line, "+OK");

	f_worker_start(&env.worker, "worker", "200");
	f_load_start(&l, &o);
	f_load_join(&l);
	f_assert_truth("poison_message", &o, l.msgs, &l.res, &poison, 1);
	assert_int_equal(pigeon_health(c, &hreq, &hrep, NULL), PIGEON_OK);
	assert_int_equal(hrep->dead_letters, 1);
	pigeon_reply_free(hrep);
	pigeon_client_close(c);
	free(l.msgs);
}

/* 7. Resent requests: the client resends after 1 ms (nng's
 * NNG_OPT_REQ_RESENDTIME) without idempotency keys, so only the server's
 * request de-duplication keeps each from taking effect twice.  Logins and
 * logouts too: a second Login would be ALREADY_EXISTS. */
static int
f_count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void
test_resent_requests(void **state)
{
	static const char *const debug[] = {"--log-level", "debug", NULL};
	load_opts o = f_opts("rr", scaled(6000));
	pigeon_client_opts co = {.url = env.e.rpc_url, .resend_ms = 5};
	load_msg *msgs = calloc(o.messages, sizeof(*msgs));
	load_result r;
	pigeon_client *c;
	int resent;

	o.resend_ms = 5;
	o.idempotent = false;
	f_pigeond_start("all", "300", debug);
	assert_true(load_register(&o));
	assert_int_equal(pigeon_client_open_opts(&c, &co), PIGEON_OK);
	for (int i = 0; i < 200; i++) {
		Pigeon__V1__LoginRequest in = PIGEON__V1__LOGIN_REQUEST__INIT;
		Pigeon__V1__LogoutRequest out = PIGEON__V1__LOGOUT_REQUEST__INIT;
		Pigeon__V1__LoginReply *inr;
		Pigeon__V1__LogoutReply *outr;

		in.username = out.username = "rrs0";
		/* Redis holds writes for 30 ms now and then: the login waits, and
		 * the client resends it every 5 ms meanwhile. */
		if (i % 20 == 0) {
			char line[64];

			assert_true(t_redis_cmd(&env.e.redis, "CLIENT PAUSE 30 WRITE", line,
			    sizeof(line)));
			assert_string_equal(line, "+OK");
		}
		assert_int_equal(pigeon_login(c, &in, &inr, NULL), PIGEON_OK);
		pigeon_reply_free(inr);
		assert_int_equal(pigeon_logout(c, &out, &outr, NULL), PIGEON_OK);
		pigeon_reply_free(outr);
	}
	pigeon_client_close(c);
	load_run(&o, msgs, &r);
	f_assert_truth("resent_requests", &o, msgs, &r, NULL, 0);
	resent = f_count_in_file(env.e.pigeond.proc.log, "resent request answered once");
	fprintf(stderr, "resent_requests: resends answered from the table=%d\n", resent);
	assert_true(resent > 0);
	free(msgs);
}

/* Redis's used_memory now, bytes. */
static uint64_t
f_redis_used_memory(void)
{
	char cmd[128];
	char *out;
	unsigned long long used = 0;
	int code;

	snprintf(cmd, sizeof(cmd), "redis-cli -p %d info memory | tr -d '\\r' | "
				   "sed -n 's/^used_memory://p'",
	    env.e.redis.port);
	out = t_sh(cmd, &code);
	assert_int_equal(code, 0);
	assert_int_equal(sscanf(out, "%llu", &used), 1);
	assert_true(used > 0);
	free(out);
	return used;
}

/* 8. Redis out of memory (maxmemory, noeviction) under a load of 16 KiB
 * messages: calls fail with RESOURCE_EXHAUSTED (or UNAVAILABLE), and no
 * message is acknowledged that was not stored: once memory is freed, a
 * retry with the key of each refused message stores it anew, while the
 * retry of each acknowledged one is answered as a duplicate. */
static void
test_redis_oom(void **state)
{
	/* Failed claims count as deliveries: without a high --max-attempts the
	 * outage itself would dead-letter good messages (docs/reliability.md). */
	static const char *const patient[] = {"--max-attempts", "1000", NULL};
	load_opts o = f_opts("om", scaled(800));
	load_msg *first = calloc(o.messages, sizeof(*first));
	load_msg *again = calloc(o.messages, sizeof(*again));
	load_result r1, r2;
	char line[128], cmd[96];
	size_t refused = 0;

	o.content_size = 16384;
	o.give_up_ms = 200;
	f_pigeond_start("all", "300", patient);
	assert_true(load_register(&o));
	assert_true(t_redis_cmd(&env.e.redis, "CONFIG SET maxmemory-policy noeviction", line,
	    sizeof(line)));
	assert_string_equal(line, "+OK");
	/* Room for about a third of the load: the limit comes from what Redis
	 * holds now (measured) plus a third of the contents to send, so some
	 * messages fit and the rest are refused, whatever the build's scale
	 * (each stored message costs Redis more than its content). */
	snprintf(cmd, sizeof(cmd), "CONFIG SET maxmemory %llu",
	    (unsigned long long)(f_redis_used_memory() + o.messages * o.content_size / 3));
	assert_true(t_redis_cmd(&env.e.redis, cmd, line, sizeof(line)));
	assert_string_equal(line, "+OK");
	load_run(&o, first, &r1);
	for (size_t i = 0; i < o.messages; i++)
		refused += !first[i].acked;
	fprintf(stderr, "redis_oom: acked=%zu refused=%zu exhausted=%zu unavailable=%zu\n",
	    r1.acked, refused, r1.by_status[PIGEON_RESOURCE_EXHAUSTED],
	    r1.by_status[PIGEON_UNAVAILABLE]);
	assert_true(refused > 0);
	assert_true(r1.by_status[PIGEON_RESOURCE_EXHAUSTED] > 0);
	assert_int_equal(r1.attempts - r1.acked, r1.by_status[PIGEON_RESOURCE_EXHAUSTED] +
		r1.by_status[PIGEON_UNAVAILABLE]);

	assert_true(t_redis_cmd(&env.e.redis, "CONFIG SET maxmemory 0", line, sizeof(line)));
	assert_string_equal(line, "+OK");
	o.give_up_ms = 30000;
	load_run(&o, again, &r2);
	for (size_t i = 0; i < o.messages; i++) {
		assert_true(again[i].acked);
		assert_int_equal(again[i].duplicate, first[i].acked);
		if (first[i].acked)
			assert_int_equal(again[i].id, first[i].id);
	}
	f_assert_truth("redis_oom", &o, again, &r2, NULL, 0);
	free(again);
	free(first);
}

/* Bad input over RPC, through libpigeon, each with its exact code, while the
 * server keeps serving (docs/reliability.md, "Bad input"). */
static void
test_bad_rpc_input(void **state)
{
	pigeon_client_opts co = {.url = env.e.rpc_url};
	pigeon_client *c;
	char *huge = malloc(70000);
	static const struct {
		const char *sender, *recipient, *content;
		pigeon_status want;
	} sends[] = {
		{"", "Ilya", "hi", PIGEON_INVALID_ARGUMENT},
		{"Alice", "Ilya", "", PIGEON_INVALID_ARGUMENT},
		{"Al\xffice", "Ilya", "hi", PIGEON_INVALID_ARGUMENT},
		{"Alice", "Ilya", "bad \xc3\x28 utf-8", PIGEON_INVALID_ARGUMENT},
		{"Al\x01ice", "Ilya", "hi", PIGEON_INVALID_ARGUMENT},
		{"Alice", "Ilya", "control \x01\x7f is fine in content", PIGEON_OK},
		{"nobody", "Ilya", "hi", PIGEON_NOT_FOUND},
		{"Alice", NULL, NULL, PIGEON_RESOURCE_EXHAUSTED},
	};

	assert_non_null(huge);
	memset(huge, 'a', 69999);
	huge[69999] = '\0';
	f_pigeond_start("all", "300", NULL);
	assert_int_equal(pigeon_client_open_opts(&c, &co), PIGEON_OK);
	for (size_t i = 0; i < sizeof(sends) / sizeof(sends[0]); i++) {
		Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
		Pigeon__V1__SendMessageReply *rep;
		pigeon_status st;

		req.sender = (char *)sends[i].sender;
		req.recipient = sends[i].recipient != NULL ? (char *)sends[i].recipient : "Ilya";
		req.content = sends[i].content != NULL ? (char *)sends[i].content : huge;
		st = pigeon_send_message(c, &req, &rep, NULL);
		fprintf(stderr, "bad_rpc_input: send %zu -> %s\n", i, pigeon_status_name(st));
		if (st == PIGEON_OK)
			pigeon_reply_free(rep);
		assert_int_equal(st, sends[i].want);
	}
	{
		Pigeon__V1__ListInboundMessagesRequest req =
		    PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
		Pigeon__V1__ListInboundMessagesReply *rep;
		pigeon_status st;

		req.username = "Ilya";
		req.page_size = UINT32_MAX;
		req.cursor = UINT64_MAX;
		st = pigeon_list_inbound_messages(c, &req, &rep, NULL);
		fprintf(stderr, "bad_rpc_input: page_size 2^32-1 -> %s\n", pigeon_status_name(st));
		if (st == PIGEON_OK)
			pigeon_reply_free(rep);
		assert_int_equal(st, PIGEON_INVALID_ARGUMENT);
	}
	pigeon_client_close(c);
	free(huge);
}

/* Opens and at once closes n connections to the ipc:// address url, before
 * the SP handshake: what a port scan or a client killed while connecting
 * does. */
static void
slam(const char *url, int n)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	assert_int_equal(strncmp(url, "ipc://", 6), 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", url + 6);
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
			fprintf(stderr, "broken_handshakes: connect %d: %s\n", i, strerror(errno));
		close(fd);
	}
}

/* A new client, connected after the damage, is answered. */
static bool
new_client_served(void *arg)
{
	pigeon_client_opts co = {.url = arg, .deadline_ms = 1000};
	pigeon_client *c;
	bool serving = false;

	if (pigeon_client_open_opts(&c, &co) != PIGEON_OK)
		return false;
	t_pigeond_health(c, &serving);
	pigeon_client_close(c);
	return serving;
}

typedef struct heard {
	t_env *e;
	atomic_int events;
} heard;

static void
count_event(const char *topic, const Pigeon__V1__Event *ev, void *arg)
{
	(void)topic;
	(void)ev;
	atomic_fetch_add(&((heard *)arg)->events, 1);
}

/* A new subscriber, connected after the damage, hears an event: each try
 * sends one message and gives the event a moment to arrive. */
static bool
new_subscriber_hears(void *arg)
{
	heard *h = arg;
	pigeon_subscribe_opts so = {.url = h->e->pigeond.pub_url};
	pigeon_subscription *sub;
	pigeon_status st;

	atomic_store(&h->events, 0);
	if (pigeon_subscribe(&sub, &so, count_event, h) != PIGEON_OK)
		return false;
	for (int i = 0; i < 10 && atomic_load(&h->events) == 0; i++) {
		Pigeon__V1__SendMessageRequest req = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
		Pigeon__V1__SendMessageReply *rep;

		req.sender = "Alice";
		req.recipient = "Ilya";
		req.content = "are you there?";
		if ((st = pigeon_send_message(h->e->client, &req, &rep, NULL)) == PIGEON_OK)
			pigeon_reply_free(rep);
		usleep(100 * 1000);
	}
	pigeon_subscription_close(sub);
	return atomic_load(&h->events) > 0;
}

/* Connections dropped before the SP handshake stop nng 1.5.2's listener
 * for good (src/listen/guard.h): after each round of them, new clients of
 * both the RPC and the pub socket must be served again. */
static void
test_broken_handshakes(void **state)
{
	pigeon_client_opts co = {.url = env.e.rpc_url, .deadline_ms = 2000};
	heard h = {.e = &env.e};
	char log[600];
	char *text, *at;
	int restarts = 0;

	f_pigeond_start("all", "300", NULL);
	assert_int_equal(pigeon_client_open_opts(&env.e.client, &co), PIGEON_OK);
	for (int round = 0; round < 3; round++) {
		slam(env.e.rpc_url, 20);
		slam(env.e.pigeond.pub_url, 20);
		assert_true(t_wait_every(new_client_served, env.e.rpc_url, 200, 30000));
		assert_true(t_wait_every(new_subscriber_hears, &h, 10, 30000));
	}
	snprintf(log, sizeof(log), "%s/pigeond.log", env.e.pigeond.dir);
	text = t_file_text(log);
	for (at = text; (at = strstr(at, "listening again")) != NULL; at++)
		restarts++;
	fprintf(stderr, "broken_handshakes: the listeners were opened again %d times\n", restarts);
	free(text);
}

/* Presence: sessions that expire while the pigeond sweeping them is
 * SIGKILLed.  Each sweep script ends its batch whole or not at all, so
 * however the kills fall, every session must end exactly once: nobody
 * online, no deadline left, and per user one LOGIN and one LOGOUT with
 * reason expired in the journal. */

/* The presence TTL of the logins, s: longer than registering and logging in
 * the users takes (4 s for 4,000 users on a busy 2-core machine), so that
 * no session ends before the sweepers under test start. */
#define F_PRESENCE_TTL "10"
/* Sessions per sweep script.  The sweeper pauses at least 1 ms after each
 * full batch, so a backlog of n sessions takes at least n / 5 ms: long
 * enough to be killed in the middle, polled every millisecond. */
#define F_PRESENCE_BATCH "5"

typedef struct f_users {
	const char *url;
	unsigned from, to, step;
	size_t failed;
	pthread_t thread;
} f_users;

static void *
f_users_main(void *arg)
{
	f_users *u = arg;
	pigeon_client_opts co = {.url = u->url, .deadline_ms = 10000};
	pigeon_client *c;

	if (pigeon_client_open_opts(&c, &co) != PIGEON_OK) {
		u->failed = u->to;
		return NULL;
	}
	for (unsigned i = u->from; i < u->to; i += u->step) {
		Pigeon__V1__RegisterUserRequest reg = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
		Pigeon__V1__LoginRequest in = PIGEON__V1__LOGIN_REQUEST__INIT;
		Pigeon__V1__RegisterUserReply *rr;
		Pigeon__V1__LoginReply *lr;
		char name[32];

		snprintf(name, sizeof(name), "ps%u", i);
		reg.username = in.username = name;
		if (pigeon_register_user(c, &reg, &rr, NULL) != PIGEON_OK) {
			u->failed++;
			continue;
		}
		pigeon_reply_free(rr);
		if (pigeon_login(c, &in, &lr, NULL) != PIGEON_OK) {
			u->failed++;
			continue;
		}
		pigeon_reply_free(lr);
	}
	pigeon_client_close(c);
	return NULL;
}

/* A command whose reply is an integer (":N"); fails the test otherwise. */
static long long
f_redis_int(const char *cmd)
{
	char line[128];

	assert_true(t_redis_cmd(&env.e.redis, cmd, line, sizeof(line)));
	if (line[0] != ':')
		fail_msg("%s answered %s", cmd, line);
	return strtoll(line + 1, NULL, 10);
}

static long long
f_deadlines_left(void)
{
	return f_redis_int("ZCARD pigeon:presence:deadlines");
}

/* A t_wait_for condition: every deadline has passed, on Redis's clock. */
static bool
f_all_due(void *arg)
{
	(void)arg;
	return f_redis_int("EVAL \"local t = redis.call('TIME') "
			   "return redis.call('ZCOUNT', KEYS[1], '(' .. (t[1] * 1000 + "
			   "math.floor(t[2] / 1000)), '+inf')\" 1 pigeon:presence:deadlines") == 0;
}

/* A t_wait_for condition: the deadlines left are at most *arg. */
static bool
f_left_at_most(void *arg)
{
	return f_deadlines_left() <= *(long long *)arg;
}

static bool
f_nobody_left(void *arg)
{
	(void)arg;
	return f_deadlines_left() == 0 && f_redis_int("ZCARD pigeon:online") == 0;
}

/* Registers and logs in n users ps0... through the harness's pigeond
 * (--role rpc, the TTL above), four threads at a time, then stops it
 * before any deadline passes, and waits until every deadline has: a
 * backlog of n expired sessions that nobody has swept yet. */
static void
f_sessions_expired(unsigned n)
{
	static const char *const ttl[] = {"--presence-ttl", F_PRESENCE_TTL, NULL};
	f_users u[4];
	size_t failed = 0;
	int64_t t0 = t_now_ms();

	f_pigeond_start("rpc", "300", ttl);
	for (unsigned k = 0; k < 4; k++) {
		u[k] = (f_users){.url = env.e.rpc_url, .from = k, .to = n, .step = 4};
		assert_int_equal(pthread_create(&u[k].thread, NULL, f_users_main, &u[k]), 0);
	}
	for (unsigned k = 0; k < 4; k++) {
		pthread_join(u[k].thread, NULL);
		failed += u[k].failed;
	}
	assert_int_equal(t_proc_stop(&env.e.pigeond.proc, SIGTERM), 0);
	fprintf(stderr, "presence: %u users registered and logged in in %lld ms\n", n,
	    (long long)(t_now_ms() - t0));
	assert_int_equal(failed, 0);
	/* Nothing swept yet: the logins took less than the TTL. */
	assert_int_equal(f_deadlines_left(), n);
	assert_int_equal(f_redis_int("ZCARD pigeon:online"), n);
	assert_true(t_wait_for(f_all_due, NULL, 60000));
}

/* A sweeping pigeond (--role rpc) on its own ipc address. */
static void
f_sweeper_start(t_proc *p, const char *name)
{
	char url[400];
	const char *args[] = {"--role", "rpc", "--rpc-url", url, "--presence-ttl",
	    F_PRESENCE_TTL, "--presence-batch", F_PRESENCE_BATCH, "--log-level", "warn", NULL};

	snprintf(url, sizeof(url), "ipc://%s/%s.sock", env.e.dir, name);
	t_env_role_start(&env.e, p, name, args);
}

/* Waits until the sweep has brought the deadlines from `before` down to
 * `at_most`, then SIGKILLs p at once; asserts the kill fell mid-sweep:
 * fewer sessions than before, but some, were left once p was dead.
 * Returns how many. */
static long long
f_kill_mid_sweep(t_proc *p, long long before, long long at_most)
{
	long long left;

	assert_true(t_wait_every(f_left_at_most, &at_most, 1, 60000));
	assert_int_equal(t_proc_stop(p, SIGKILL), 128 + SIGKILL);
	left = f_deadlines_left();
	fprintf(stderr, "presence: sweeper killed with %lld sessions left\n", left);
	assert_true(left > 0);
	assert_true(left <= at_most);
	assert_true(left < before);
	return left;
}

/* Reads the whole journal through a pigeond at url and asserts, per user
 * ps0..ps(n-1), one LOGIN and one LOGOUT with reason expired, and no other
 * LOGOUT. */
static void
f_assert_expired_once(const char *url, unsigned n)
{
	pigeon_client_opts co = {.url = url, .deadline_ms = 10000};
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	unsigned *logins = calloc(n, sizeof(*logins)), *expired = calloc(n, sizeof(*expired));
	size_t other = 0, bad_logins = 0, bad_expiries = 0, total = 0;
	pigeon_client *c;

	assert_non_null(logins);
	assert_non_null(expired);
	assert_int_equal(pigeon_client_open_opts(&c, &co), PIGEON_OK);
	req.page_size = 1000;
	do {
		Pigeon__V1__GetEventJournalReply *rep;

		assert_int_equal(pigeon_get_event_journal(c, &req, &rep, NULL), PIGEON_OK);
		for (size_t k = 0; k < rep->n_events; k++) {
			const Pigeon__V1__Event *e = rep->events[k];
			unsigned i;
			char tail;

			if (sscanf(e->username, "ps%u%c", &i, &tail) != 1 || i >= n) {
				other++;
			} else if (e->type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGIN) {
				logins[i]++;
			} else if (e->type == PIGEON__V1__EVENT_TYPE__EVENT_TYPE_LOGOUT &&
			    strcmp(e->reason, "expired") == 0) {
				expired[i]++;
				total++;
			} else {
				other++;
			}
		}
		req.cursor = rep->next_cursor;
		pigeon_reply_free(rep);
	} while (req.cursor != 0);
	pigeon_client_close(c);
	for (unsigned i = 0; i < n; i++) {
		bad_logins += logins[i] != 1;
		bad_expiries += expired[i] != 1;
		if (expired[i] != 1 && bad_expiries <= 5)
			fprintf(stderr, "presence: ps%u expired %u times\n", i, expired[i]);
	}
	fprintf(stderr,
	    "presence: users=%u expiries=%zu users_not_expired_once=%zu "
	    "users_not_logged_in_once=%zu other_events=%zu\n",
	    n, total, bad_expiries, bad_logins, other);
	assert_int_equal(bad_expiries, 0);
	assert_int_equal(total, n);
	assert_int_equal(bad_logins, 0);
	assert_int_equal(other, 0);
	free(expired);
	free(logins);
}

/* The end of every presence test: the last sweeper ends the rest, then
 * nobody is online, no deadline is left, and the journal holds each
 * expiry once. */
static void
f_presence_truth(t_proc *last, unsigned n)
{
	char url[400];

	assert_true(t_wait_every(f_nobody_left, NULL, 20, 60000));
	assert_int_equal(f_redis_int("ZCARD pigeon:online"), 0);
	assert_int_equal(f_deadlines_left(), 0);
	snprintf(url, sizeof(url), "ipc://%s/%s.sock", env.e.dir, "sweeper");
	f_assert_expired_once(url, n);
	assert_int_equal(t_proc_stop(last, SIGTERM), 0);
}

/* 11. The only sweeping pigeond SIGKILLed three times in the middle of one
 * sweep of a backlog (a quarter, half and three quarters through), and
 * started again each time. */
static void
test_presence_sigkill(void **state)
{
	unsigned n = (unsigned)scaled(4000);
	t_proc sw = {0};
	long long left = n;

	f_sessions_expired(n);
	for (int k = 1; k <= 3; k++) {
		f_sweeper_start(&sw, "sweeper");
		left = f_kill_mid_sweep(&sw, left, (long long)n * (4 - k) / 4);
	}
	f_sweeper_start(&sw, "sweeper");
	f_presence_truth(&sw, n);
}

/* 12. Two pigeonds sweep one backlog at once; one is SIGKILLed halfway and
 * the other ends the rest alone. */
static void
test_presence_two_sweepers(void **state)
{
	unsigned n = (unsigned)scaled(4000);
	t_proc a = {0}, b = {0};

	f_sessions_expired(n);
	f_sweeper_start(&a, "doomed");
	f_sweeper_start(&b, "sweeper");
	f_kill_mid_sweep(&a, n, (long long)n / 2);
	f_presence_truth(&b, n);
}

/* Reads: MarkRead from several readers while pigeond is SIGKILLed.  The
 * mark_read script marks each message once, whole or not at all, so however
 * the kills fall, the stored read state is exactly "read up to the last
 * acknowledged up_to_id", and no message gets a second READ receipt. */

#define F_READERS 4
/* Messages each reader's MarkRead calls advance by. */
#define F_READ_STEP 7
#define F_READ_KILLS 3

typedef struct f_reads {
	/* Messages covered by answered calls, all readers; kills made. */
	size_t progress;
	size_t total;
	size_t kills;
	/* Readers inside a MarkRead call now. */
	int in_call;
} f_reads;

typedef struct f_reader {
	const char *url;
	f_reads *run;
	char name[32];
	/* Its messages' ids, ascending; it reads up to ids[stop - 1]. */
	uint64_t *ids;
	size_t n, stop;
	/* What its answered calls said: the last up_to_id and unread count,
	 * and the sum of marked. */
	uint64_t last_up_to, last_unread, marked;
	size_t calls, answered, zero_marked, bad_replies;
	size_t failed[PIGEON_STATUS_COUNT];
	bool gave_up;
	pthread_t thread;
} f_reader;

typedef struct f_read_gate {
	const f_reads *run;
	size_t next, stop;
} f_read_gate;

/* A reader runs at most a quarter of its messages ahead of the kills: the
 * call that reaches (k + 1) quarters of them waits for kill k.  So the kills,
 * made at a quarter, half and three quarters of the progress of all readers,
 * fall while readers are still calling, and the last call of each waits for
 * the last kill. */
static bool
f_read_gate_open(void *arg)
{
	const f_read_gate *g = arg;
	size_t q = g->next * 4 / g->stop;
	size_t due = q >= 2 ? q - 1 : 0;

	if (due > F_READ_KILLS)
		due = F_READ_KILLS;
	return __atomic_load_n(&g->run->kills, __ATOMIC_ACQUIRE) >= due;
}

/* Marks its messages read F_READ_STEP at a time through a client with a retry
 * policy.  A call that fails all the same (its deadline passed while pigeond
 * was down) is made again with the same up_to_id: MarkRead is idempotent.
 * It runs on its own thread, which cannot fail the test: it records. */
static void *
f_reader_main(void *arg)
{
	f_reader *r = arg;
	pigeon_client_opts co = {.url = r->url, .deadline_ms = 10000,
	    .retry = {.max_attempts = 20, .initial_backoff_ms = 20, .max_backoff_ms = 500}};
	pigeon_client *c;
	size_t done = 0;
	int64_t t0 = t_now_ms();

	if (pigeon_client_open_opts(&c, &co) != PIGEON_OK) {
		r->gave_up = true;
		return NULL;
	}
	while (done < r->stop && !r->gave_up) {
		size_t next = done + F_READ_STEP < r->stop ? done + F_READ_STEP : r->stop;
		f_read_gate g = {r->run, next, r->stop};
		Pigeon__V1__MarkReadRequest req = PIGEON__V1__MARK_READ_REQUEST__INIT;
		Pigeon__V1__MarkReadReply *rep = NULL;
		pigeon_status st;

		t_wait_every(f_read_gate_open, &g, 1, 60000);
		req.username = r->name;
		req.up_to_id = r->ids[next - 1];
		do {
			__atomic_fetch_add(&r->run->in_call, 1, __ATOMIC_RELAXED);
			st = pigeon_mark_read(c, &req, &rep, NULL);
			__atomic_fetch_sub(&r->run->in_call, 1, __ATOMIC_RELAXED);
			r->calls++;
			if (st != PIGEON_OK)
				r->failed[st]++;
			if (st != PIGEON_OK &&
			    ((st != PIGEON_UNAVAILABLE && st != PIGEON_DEADLINE_EXCEEDED) ||
				t_now_ms() - t0 > 60000))
				r->gave_up = true;
		} while (st != PIGEON_OK && !r->gave_up);
		if (st != PIGEON_OK)
			break;
		r->answered++;
		r->bad_replies += strcmp(rep->username, r->name) != 0;
		r->last_up_to = req.up_to_id;
		r->last_unread = rep->unread;
		r->marked += rep->marked;
		r->zero_marked += rep->marked == 0;
		pigeon_reply_free(rep);
		__atomic_fetch_add(&r->run->progress, next - done, __ATOMIC_RELAXED);
		done = next;
	}
	pigeon_client_close(c);
	return NULL;
}

/* The READ receipts heard on receipts/<each sender> and receipts/rdp (the
 * probe's sender): per message id how many and the time of the last, and
 * the time of every receipt, in the order heard. */
typedef struct f_receipts {
	pthread_mutex_t mu;
	uint64_t max_id;
	unsigned *per_id;
	int64_t *time_of;
	int64_t *times;
	size_t n_times, cap_times;
	size_t others;
	uint64_t probe_heard;
} f_receipts;

static void
f_on_receipt(const char *topic, const Pigeon__V1__Event *ev, void *arg)
{
	f_receipts *rc = arg;

	(void)topic;
	pthread_mutex_lock(&rc->mu);
	if (ev->type != PIGEON__V1__EVENT_TYPE__EVENT_TYPE_READ || ev->time_ms <= 0) {
		rc->others++;
	} else {
		if (rc->n_times < rc->cap_times)
			rc->times[rc->n_times++] = ev->time_ms;
		else
			rc->others++;
		if (strcmp(ev->username, "rdp") == 0) {
			rc->probe_heard = ev->message_id;
		} else if (ev->message_id <= rc->max_id) {
			rc->per_id[ev->message_id]++;
			rc->time_of[ev->message_id] = ev->time_ms;
		} else {
			rc->others++;
		}
	}
	pthread_mutex_unlock(&rc->mu);
}

typedef struct f_probe_wait {
	f_receipts *rc;
	uint64_t id;
} f_probe_wait;

static bool
f_probe_heard(void *arg)
{
	f_probe_wait *w = arg;
	bool got;

	pthread_mutex_lock(&w->rc->mu);
	got = w->rc->probe_heard == w->id;
	pthread_mutex_unlock(&w->rc->mu);
	return got;
}

/* Sends rdp a message to rdq, waits for its delivery, marks it read, until
 * its READ is heard (300 ms per try, 100 tries): every READ published before
 * it on the same connection has been heard by then. */
static void
f_probe_receipt(pigeon_client *c, f_receipts *rc)
{
	bool got = false;

	for (int i = 0; i < 100 && !got; i++) {
		Pigeon__V1__SendMessageRequest sreq = PIGEON__V1__SEND_MESSAGE_REQUEST__INIT;
		Pigeon__V1__SendMessageReply *srep;
		Pigeon__V1__MarkReadRequest mreq = PIGEON__V1__MARK_READ_REQUEST__INIT;
		Pigeon__V1__MarkReadReply *mrep;
		f_probe_wait w = {rc, 0};

		sreq.sender = "rdp";
		sreq.recipient = "rdq";
		sreq.content = "probe";
		assert_int_equal(pigeon_send_message(c, &sreq, &srep, NULL), PIGEON_OK);
		w.id = srep->message->id;
		pigeon_reply_free(srep);
		assert_true(load_drain(env.e.rpc_url, 60000));
		mreq.username = "rdq";
		mreq.up_to_id = w.id;
		assert_int_equal(pigeon_mark_read(c, &mreq, &mrep, NULL), PIGEON_OK);
		pigeon_reply_free(mrep);
		got = t_wait_for(f_probe_heard, &w, 300);
	}
	assert_true(got);
}

/* Redis's clock, ms: the clock of read_ms and of the receipts' time_ms. */
static int64_t
f_redis_now_ms(void)
{
	return f_redis_int("EVAL \"local t = redis.call('TIME') "
			   "return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\" 0");
}

static int
f_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The ids of u's unread set in Redis, ascending; returns how many (at most
 * cap). */
static size_t
f_unread_set(const char *u, uint64_t *ids, size_t cap)
{
	char cmd[200];
	char *out, *line, *save = NULL;
	size_t n = 0;
	int code;

	snprintf(cmd, sizeof(cmd), "redis-cli -p %d ZRANGE 'pigeon:{u:%s}:unread' 0 -1",
	    env.e.redis.port, u);
	out = t_sh(cmd, &code);
	assert_int_equal(code, 0);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		if (line[0] != '\0' && n < cap)
			ids[n++] = strtoull(line, NULL, 10);
	free(out);
	qsort(ids, n, sizeof(*ids), f_cmp_u64);
	return n;
}

/* The window between kills that t falls in strictly, or -1 when t falls
 * within a kill (from SIGKILL to the new pigeond serving, both on Redis's
 * clock): only one relay was subscribed to Redis in a window. */
static int
f_window_of(int64_t t, const int64_t (*at)[2], int kills)
{
	for (int k = 0; k <= kills; k++) {
		int64_t after = k == 0 ? INT64_MIN : at[k - 1][1];
		int64_t before = k == kills ? INT64_MAX : at[k][0];

		if (t > after && t < before)
			return k;
	}
	return -1;
}

/* 13. Four readers mark their messages read, 7 at a time, while pigeond is
 * SIGKILLed and started again on the same addresses three times; the truth
 * is recomputed from the stored messages, the unread counts and sets, and
 * the READ receipts heard. */
static void
test_reads_pigeond_sigkill(void **state)
{
	const size_t per_reader = scaled(400);
	load_opts o = f_opts("rd", per_reader * F_READERS);
	pigeon_client_opts co = {.url = env.e.rpc_url, .deadline_ms = 10000,
	    .retry = {.max_attempts = 20, .initial_backoff_ms = 20, .max_backoff_ms = 500}};
	const char *const topics[] = {"receipts/rds0", "receipts/rds1", "receipts/rdp", NULL};
	pigeon_subscribe_opts so = {.topics = topics, .recv_buf = 8192};
	load_msg *msgs = calloc(o.messages, sizeof(*msgs));
	f_reader rd[F_READERS];
	f_reads run = {0};
	f_receipts rc = {0};
	int64_t kills_at[F_READ_KILLS][2], lo[F_READ_KILLS + 1], hi[F_READ_KILLS + 1];
	size_t progress_at[F_READ_KILLS];
	int in_call_at[F_READ_KILLS];
	size_t twice = 0, missing = 0, bad_time = 0, n_heard = 0, unread_heard = 0;
	size_t bracketed = 0, in_kills = 0, read_total = 0, marked_total = 0, calls = 0;
	size_t failed[PIGEON_STATUS_COUNT] = {0};
	pigeon_subscription *sub;
	pigeon_client *c;
	load_result lr;
	int64_t t0;

	assert_non_null(msgs);
	/* The pub socket on a fixed address too, so the subscription follows
	 * every restart. */
	snprintf(env.e.pub_url, sizeof(env.e.pub_url), "ipc://%s/pub.sock", env.e.dir);
	o.senders = 2;
	o.recipients = F_READERS;
	o.spam_every = 0;
	f_pigeond_start("all", "300", NULL);
	assert_true(load_register(&o));
	assert_int_equal(pigeon_client_open_opts(&c, &co), PIGEON_OK);
	for (int k = 0; k < 2; k++) {
		Pigeon__V1__RegisterUserRequest req = PIGEON__V1__REGISTER_USER_REQUEST__INIT;
		Pigeon__V1__RegisterUserReply *rep;

		req.username = k == 0 ? "rdp" : "rdq";
		assert_int_equal(pigeon_register_user(c, &req, &rep, NULL), PIGEON_OK);
		pigeon_reply_free(rep);
	}
	/* Every message sent and delivered before the first MarkRead. */
	load_run(&o, msgs, &lr);
	assert_int_equal(lr.acked, o.messages);
	assert_true(load_drain(env.e.rpc_url, 60000));

	for (unsigned k = 0; k < F_READERS; k++) {
		rd[k] = (f_reader){.url = env.e.rpc_url, .run = &run, .n = 0};
		snprintf(rd[k].name, sizeof(rd[k].name), "rdr%u", k);
		rd[k].ids = calloc(per_reader, sizeof(uint64_t));
		assert_non_null(rd[k].ids);
	}
	for (size_t i = 0; i < o.messages; i++) {
		f_reader *r = &rd[(i / o.senders) % o.recipients];

		assert_true(msgs[i].acked);
		assert_true(r->n < per_reader);
		r->ids[r->n++] = msgs[i].id;
		if (msgs[i].id > rc.max_id)
			rc.max_id = msgs[i].id;
	}
	assert_int_equal(pthread_mutex_init(&rc.mu, NULL), 0);
	rc.per_id = calloc(rc.max_id + 1, sizeof(*rc.per_id));
	rc.time_of = calloc(rc.max_id + 1, sizeof(*rc.time_of));
	rc.cap_times = 2 * o.messages + 1000;
	rc.times = calloc(rc.cap_times, sizeof(*rc.times));
	assert_non_null(rc.per_id);
	assert_non_null(rc.time_of);
	assert_non_null(rc.times);
	so.url = env.e.pub_url;
	assert_int_equal(pigeon_subscribe(&sub, &so, f_on_receipt, &rc), PIGEON_OK);
	f_probe_receipt(c, &rc);

	/* A fifth of each reader's messages stays unread. */
	for (unsigned k = 0; k < F_READERS; k++) {
		assert_int_equal(rd[k].n, per_reader);
		qsort(rd[k].ids, rd[k].n, sizeof(uint64_t), f_cmp_u64);
		rd[k].stop = rd[k].n - rd[k].n / 5;
		run.total += rd[k].stop;
	}
	t0 = t_now_ms();
	for (unsigned k = 0; k < F_READERS; k++)
		assert_int_equal(pthread_create(&rd[k].thread, NULL, f_reader_main, &rd[k]), 0);
	for (int k = 0; k < F_READ_KILLS; k++) {
		f_at_least part = {&run.progress, run.total * (size_t)(k + 1) / (F_READ_KILLS + 1)};

		assert_true(t_wait_every(f_reached, &part, 1, 60000));
		kills_at[k][0] = f_redis_now_ms();
		in_call_at[k] = __atomic_load_n(&run.in_call, __ATOMIC_RELAXED);
		progress_at[k] = __atomic_load_n(&run.progress, __ATOMIC_RELAXED);
		assert_int_equal(t_proc_stop(&env.e.pigeond.proc, SIGKILL), 128 + SIGKILL);
		f_pigeond_start("all", "300", NULL);
		kills_at[k][1] = f_redis_now_ms();
		__atomic_store_n(&run.kills, (size_t)k + 1, __ATOMIC_RELEASE);
		fprintf(stderr,
		    "reads_pigeond_sigkill: kill %d with %zu of %zu messages marked, %d calls in "
		    "flight; serving again after %lld ms\n",
		    k + 1, progress_at[k], run.total, in_call_at[k],
		    (long long)(kills_at[k][1] - kills_at[k][0]));
	}
	for (unsigned k = 0; k < F_READERS; k++)
		pthread_join(rd[k].thread, NULL);
	fprintf(stderr, "reads_pigeond_sigkill: readers done in %lld ms\n",
	    (long long)(t_now_ms() - t0));
	/* Every READ published by the last pigeond before the probe's is heard. */
	f_probe_receipt(c, &rc);
	pigeon_subscription_close(sub);

	for (int k = 0; k < F_READ_KILLS; k++) {
		assert_true(progress_at[k] < run.total);
		assert_true(kills_at[k][0] <= kills_at[k][1]);
	}
	/* Receipts are pub/sub: those published while no relay was subscribed
	 * to Redis (pigeond dead or starting), queued in a relay that died, or
	 * sent before the subscription reconnected are lost.  So every message
	 * gets at most one, and one exactly when it was read between two
	 * receipts heard in the same window between kills: within a window one
	 * relay forwards every READ that Redis publishes, in Redis's order, on
	 * one connection to the subscription (whose queues, 1,024 events in
	 * pigeond and 8,192 here, this pace never fills), so hearing a later one
	 * proves the earlier ones went through.  Here, the span of the receipts heard in
	 * each window (Redis's clock, the probes' included). */
	for (int k = 0; k <= F_READ_KILLS; k++) {
		lo[k] = INT64_MAX;
		hi[k] = INT64_MIN;
	}
	for (size_t i = 0; i < rc.n_times; i++) {
		int w = f_window_of(rc.times[i], (const int64_t(*)[2])kills_at, F_READ_KILLS);

		if (w >= 0 && rc.times[i] < lo[w])
			lo[w] = rc.times[i];
		if (w >= 0 && rc.times[i] > hi[w])
			hi[w] = rc.times[i];
	}

	for (unsigned k = 0; k < F_READERS; k++) {
		f_reader *r = &rd[k];
		Pigeon__V1__ListInboundMessagesRequest req =
		    PIGEON__V1__LIST_INBOUND_MESSAGES_REQUEST__INIT;
		Pigeon__V1__GetUserStatsRequest sreq = PIGEON__V1__GET_USER_STATS_REQUEST__INIT;
		Pigeon__V1__UserStats *us;
		uint64_t *ids = calloc(r->n + 1, sizeof(uint64_t));
		uint64_t *unread = calloc(r->n + 1, sizeof(uint64_t));
		uint64_t *in_set = calloc(r->n + 1, sizeof(uint64_t));
		size_t n = 0, n_unread = 0, n_set, wrong_read = 0;

		assert_non_null(ids);
		assert_non_null(unread);
		assert_non_null(in_set);
		assert_false(r->gave_up);
		assert_int_equal(r->bad_replies, 0);
		assert_int_equal(r->last_up_to, r->ids[r->stop - 1]);
		req.username = r->name;
		req.page_size = 100;
		do {
			Pigeon__V1__ListInboundMessagesReply *rep;

			assert_int_equal(pigeon_list_inbound_messages(c, &req, &rep, NULL),
			    PIGEON_OK);
			for (size_t i = 0; i < rep->n_messages; i++) {
				const Pigeon__V1__Message *m = rep->messages[i];
				bool read = m->read_ms > 0;
				unsigned heard_m = m->id <= rc.max_id ? rc.per_id[m->id] : 0;
				int w = f_window_of(m->read_ms, (const int64_t(*)[2])kills_at,
				    F_READ_KILLS);

				assert_true(n < r->n);
				ids[n++] = m->id;
				/* Read exactly up to the last acknowledged up_to_id. */
				wrong_read += read != (m->id <= r->last_up_to);
				if (!read) {
					unread[n_unread++] = m->id;
					unread_heard += heard_m > 0;
					continue;
				}
				read_total++;
				n_heard += heard_m > 0;
				twice += heard_m > 1;
				bad_time += heard_m > 0 && rc.time_of[m->id] != m->read_ms;
				/* Read between two receipts heard in one window: its own
				 * must have been heard, once. */
				in_kills += w < 0;
				if (w >= 0 && lo[w] < m->read_ms && m->read_ms < hi[w]) {
					bracketed++;
					missing += heard_m != 1;
				}
			}
			req.cursor = rep->next_cursor;
			pigeon_reply_free(rep);
		} while (req.cursor != 0);
		qsort(ids, n, sizeof(uint64_t), f_cmp_u64);
		qsort(unread, n_unread, sizeof(uint64_t), f_cmp_u64);
		assert_int_equal(n, r->n);
		assert_memory_equal(ids, r->ids, n * sizeof(uint64_t));
		assert_int_equal(wrong_read, 0);
		assert_int_equal(n_unread, r->n - r->stop);
		/* The last answer's unread count is the final one: nothing ran
		 * after it. */
		assert_int_equal(r->last_unread, n_unread);
		sreq.username = r->name;
		assert_int_equal(pigeon_get_user_stats(c, &sreq, &us, NULL), PIGEON_OK);
		assert_int_equal(us->unread, n_unread);
		pigeon_reply_free(us);
		n_set = f_unread_set(r->name, in_set, r->n + 1);
		assert_int_equal(n_set, n_unread);
		assert_memory_equal(in_set, unread, n_set * sizeof(uint64_t));
		/* Each message is marked by one execution of the script; an answer
		 * from the de-duplication table repeats that execution's count, and
		 * a retry at a new pigeond finds the work done: the sum of marked
		 * over the answers cannot exceed the messages read. */
		assert_true(r->marked <= r->stop);
		marked_total += r->marked;
		calls += r->calls;
		for (int s = 0; s < PIGEON_STATUS_COUNT; s++)
			failed[s] += r->failed[s];
		fprintf(stderr,
		    "reads_pigeond_sigkill: %s: %zu messages, %zu read, %zu unread; %zu calls, "
		    "%zu answered (%zu marking 0), marked %llu in all\n",
		    r->name, r->n, r->stop, n_unread, r->calls, r->answered, r->zero_marked,
		    (unsigned long long)r->marked);
		free(in_set);
		free(unread);
		free(ids);
		free(r->ids);
	}
	fprintf(stderr,
	    "reads_pigeond_sigkill: read=%zu marked_in_answers=%zu calls=%zu "
	    "failed_unavailable=%zu failed_deadline=%zu receipts_heard=%zu heard_twice=%zu "
	    "read_during_kills=%zu bracketed=%zu bracketed_not_heard_once=%zu bad_time=%zu "
	    "heard_for_unread=%zu other_events=%zu\n",
	    read_total, marked_total, calls, failed[PIGEON_UNAVAILABLE],
	    failed[PIGEON_DEADLINE_EXCEEDED], n_heard, twice, in_kills, bracketed, missing,
	    bad_time, unread_heard, rc.others);
	assert_int_equal(read_total, run.total);
	assert_true(marked_total <= read_total);
	assert_int_equal(twice, 0);
	assert_int_equal(bad_time, 0);
	assert_int_equal(unread_heard, 0);
	assert_int_equal(rc.others, 0);
	assert_int_equal(missing, 0);
	assert_true(bracketed > 0);
	pigeon_client_close(c);
	pthread_mutex_destroy(&rc.mu);
	free(rc.times);
	free(rc.time_of);
	free(rc.per_id);
	free(msgs);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_worker_sigkill, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_zombie_worker, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_redis_restart, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_redis_sigkill_aof, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_pigeond_sigkill, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_poison_message, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_resent_requests, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_redis_oom, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_bad_rpc_input, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_broken_handshakes, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_presence_sigkill, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_presence_two_sweepers, f_setup, f_teardown),
		cmocka_unit_test_setup_teardown(test_reads_pigeond_sigkill, f_setup, f_teardown),
	};

	if (argc > 1) {
		static char filter[128];

		snprintf(filter, sizeof(filter), "test_%s", argv[1]);
		cmocka_set_test_filter(filter);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
