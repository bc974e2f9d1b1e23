/* SPDX-License-Identifier: MIT */
/*
 * Subscriptions to pigeond's pub socket: an nng sub socket dialed in the
 * background and one thread that receives, decodes and calls back.  With a
 * gap_fill client the thread also keeps journal events exactly once and in
 * order: it remembers the last sequence it delivered, drops what is not newer,
 * and on a jump fetches the missing events with GetEventJournal(after = last)
 * before delivering the jumped-to one.  Losses at the end of a burst show no
 * jump until the next event, so after a quiet second following journal
 * traffic the thread asks once for anything newer.
 *
 * nng 1.5's dialer can stop for good when pigeond dies during a handshake
 * (see redial in client.c); the thread starts a new one when the
 * subscription has had no pipe for SUB_REDIAL_MS.
 *
 * Only the thread receives, and it closes the socket itself after its last
 * receive: nng 1.5 can hang in nng_close when another thread is in a receive
 * on the socket (upstream issues 1543 and 1813), so receives time out every
 * SUB_POLL_MS to look at `stopping` instead of being ended by a close.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include <pigeon/pigeon.h>

#include "clocks.h"
#include "codec.h"
#include "errors.h"
#include "frame.h"

#define SUB_RECV_MAX_DEFAULT (1024u * 1024)
/* Quiet time after which journal traffic is checked for a lost tail. */
#define SUB_IDLE_MS 1000
/* How long a close waits at most for a receive to end. */
#define SUB_POLL_MS 100
#define SUB_PAGE 1000
/* The dialer's longest pause between attempts, and how long the
 * subscription goes without a pipe before it starts a new dialer. */
#define SUB_RECONN_MAX_MS 1000
#define SUB_REDIAL_MS (2 * SUB_RECONN_MAX_MS)

struct pigeon_subscription {
	nng_socket sock;
	pthread_t thread;
	pigeon_event_fn fn;
	void *arg;
	pigeon_client *gap_fill;
	bool want_journal;
	atomic_bool stopping;
	/* Pipes from ADD_PRE (which nng always pairs with REM_POST), and when
	 * the last one went or the dialer was started, ms. */
	atomic_int pipes;
	atomic_int_fast64_t down_since_ms;
	/* The subscription thread's own. */
	nng_dialer dialer;
	char url[256];
	uint64_t last;
	bool journal_seen;
};

static void
deliver(pigeon_subscription *s, const char *topic, const Pigeon__V1__Event *ev)
{
	if (!atomic_load(&s->stopping))
		s->fn(topic, ev, s->arg);
}

/* Delivers the journal events after s->last, paging until none is left;
 * false when GetEventJournal failed (the gap then stays). */
static bool
fill(pigeon_subscription *s)
{
	Pigeon__V1__GetEventJournalRequest req = PIGEON__V1__GET_EVENT_JOURNAL_REQUEST__INIT;
	Pigeon__V1__GetEventJournalReply *rep;
	bool more = true;

	while (more && !atomic_load(&s->stopping)) {
		req.after = s->last;
		req.page_size = SUB_PAGE;
		if (pigeon_get_event_journal(s->gap_fill, &req, &rep, NULL) != PIGEON_OK)
			return false;
		for (size_t i = 0; i < rep->n_events; i++) {
			if (rep->events[i]->sequence <= s->last)
				continue;
			deliver(s, PIGEON_TOPIC_JOURNAL, rep->events[i]);
			s->last = rep->events[i]->sequence;
		}
		more = rep->next_cursor != 0 && rep->n_events > 0;
		pigeon_reply_free(rep);
	}
	return true;
}

static void
on_journal(pigeon_subscription *s, const Pigeon__V1__Event *ev)
{
	s->journal_seen = true;
	if (s->last == 0) {
		deliver(s, PIGEON_TOPIC_JOURNAL, ev);
		s->last = ev->sequence;
		return;
	}
	if (ev->sequence <= s->last)
		return;
	if (ev->sequence > s->last + 1 && fill(s) && ev->sequence <= s->last)
		return;
	deliver(s, PIGEON_TOPIC_JOURNAL, ev);
	s->last = ev->sequence;
}

static void
on_message(pigeon_subscription *s, nng_msg *m)
{
	const char *body = nng_msg_body(m);
	size_t len = nng_msg_len(m), topic_len;
	Pigeon__V1__Event *ev;
	pb_budget b;

	pb_budget_init(&b, pb_budget_for(len));
	if (frame_read(body, len, &b.base, &topic_len, &ev) != PIGEON_OK)
		return;
	if (s->gap_fill != NULL && ev->sequence != 0 && strcmp(body, PIGEON_TOPIC_JOURNAL) == 0)
		on_journal(s, ev);
	else
		deliver(s, body, ev);
	pigeon__v1__event__free_unpacked(ev, &b.base);
}

static void
pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	pigeon_subscription *s = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_PRE)
		atomic_fetch_add(&s->pipes, 1);
	else if (ev == NNG_PIPE_EV_REM_POST && atomic_fetch_sub(&s->pipes, 1) == 1)
		atomic_store(&s->down_since_ms, clocks_wall_ms());
}

/* A new dialer when the old one has not produced a pipe for SUB_REDIAL_MS
 * (a working one tries again within SUB_RECONN_MAX_MS). */
static void
redial(pigeon_subscription *s)
{
	int64_t now = clocks_wall_ms();
	nng_dialer old = s->dialer;

	if (atomic_load(&s->pipes) > 0 || now - atomic_load(&s->down_since_ms) < SUB_REDIAL_MS)
		return;
	if (nng_dial(s->sock, s->url, &s->dialer, NNG_FLAG_NONBLOCK) == 0)
		nng_dialer_close(old);
	atomic_store(&s->down_since_ms, now);
}

static void *
sub_main(void *arg)
{
	pigeon_subscription *s = arg;
	int64_t quiet_since = clocks_mono_us();

	if (s->gap_fill != NULL && s->want_journal && s->last != 0)
		fill(s);
	while (!atomic_load(&s->stopping)) {
		nng_msg *m;
		int err = nng_recvmsg(s->sock, &m, 0);

		if (err == NNG_ETIMEDOUT) {
			redial(s);
			if (s->gap_fill != NULL && s->journal_seen && s->last != 0 &&
			    clocks_mono_us() - quiet_since >= SUB_IDLE_MS * 1000) {
				s->journal_seen = false;
				fill(s);
			}
			continue;
		}
		if (err != 0)
			continue;
		quiet_since = clocks_mono_us();
		if (!atomic_load(&s->stopping))
			on_message(s, m);
		nng_msg_free(m);
	}
	nng_close(s->sock);
	return NULL;
}

/* Subscribes to topic followed by its NUL, so "inbox/Ilya" does not also
 * receive "inbox/Ilya2" by prefix. */
static int
subscribe_exact(nng_socket sock, const char *topic)
{
	return nng_socket_set(sock, NNG_OPT_SUB_SUBSCRIBE, topic, strlen(topic) + 1);
}

pigeon_status
pigeon_subscribe(pigeon_subscription **out, const pigeon_subscribe_opts *opts,
    pigeon_event_fn fn, void *arg)
{
	const char *url;
	pigeon_subscription *s;
	pigeon_status rv;
	int err;

	if (opts == NULL || fn == NULL)
		return PIGEON_INVALID_ARGUMENT;
	url = opts->url != NULL ? opts->url : PIGEON_DEFAULT_PUB_URL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	s->fn = fn;
	s->arg = arg;
	s->gap_fill = opts->gap_fill;
	s->last = opts->gap_fill != NULL ? opts->after : 0;
	atomic_init(&s->stopping, false);
	atomic_init(&s->pipes, 0);
	atomic_init(&s->down_since_ms, clocks_wall_ms());
	snprintf(s->url, sizeof(s->url), "%s", url);
	if ((rv = status_from_nng(nng_sub0_open(&s->sock))) != PIGEON_OK)
		goto fail_free;
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
	    opts->recv_max > 0 ? opts->recv_max : SUB_RECV_MAX_DEFAULT);
	if (opts->recv_buf > 0 &&
	    (rv = status_from_nng(nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, opts->recv_buf))) !=
		PIGEON_OK)
		goto fail_sock;
	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, SUB_POLL_MS);
	nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, SUB_RECONN_MAX_MS);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, pipe_event, s);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipe_event, s);
	if (opts->topics == NULL) {
		s->want_journal = true;
		err = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	} else {
		err = 0;
		for (size_t i = 0; opts->topics[i] != NULL && err == 0; i++) {
			if (strcmp(opts->topics[i], PIGEON_TOPIC_JOURNAL) == 0)
				s->want_journal = true;
			err = subscribe_exact(s->sock, opts->topics[i]);
		}
	}
	if ((rv = status_from_nng(err)) != PIGEON_OK)
		goto fail_sock;
	/* Non-blocking: the dialer keeps trying in the background. */
	if ((err = nng_dial(s->sock, url, &s->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		rv = err == NNG_ENOMEM ? PIGEON_RESOURCE_EXHAUSTED : PIGEON_INVALID_ARGUMENT;
		goto fail_sock;
	}
	if (pthread_create(&s->thread, NULL, sub_main, s) != 0) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_sock;
	}
	*out = s;
	return PIGEON_OK;

fail_sock:
	nng_close(s->sock);
fail_free:
	free(s);
	return rv;
}

void
pigeon_subscription_close(pigeon_subscription *s)
{
	if (s == NULL)
		return;
	/* The thread sees this within SUB_POLL_MS and closes the socket. */
	atomic_store(&s->stopping, true);
	pthread_join(s->thread, NULL);
	free(s);
}

pigeon_status
pigeon_event_decode(const void *buf, size_t len, size_t *topic_len, Pigeon__V1__Event **ev)
{
	return frame_read(buf, len, NULL, topic_len, ev);
}
