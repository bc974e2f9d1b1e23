/* SPDX-License-Identifier: MIT */
/*
 * A guard that keeps an nng listener accepting.
 *
 * nng 1.5.2, the version Debian 12 ships, stops a listener for good when a
 * peer goes away during the SP handshake so that the listener's write of its
 * header fails with EPIPE (nng issue #1518, fixed in nng 1.6.0): over ipc://
 * a client that connects and closes at once is enough, and the socket then
 * accepts no connection again while the process looks healthy.  pigeond's
 * RPC and pub sockets each run a guard.
 *
 * The guard watches nng's statistics of the listener.  That failure counts as
 * an "other" error, and so does every connection that ends with an error, so
 * when the count rises (and at least every LISTEN_GUARD_QUIET_CHECKS checks,
 * or always that often where nng keeps no statistics) the guard tries a
 * connection of its own: it completes the SP handshake (nng's transport still
 * does that for a stopped listener) and waits for the listener to count the
 * connection as accepted.  A listener that does not within
 * LISTEN_GUARD_PROBE_MS is closed, which also closes the connections it
 * accepted (their clients reconnect), and the address is listened on again.
 * nng 1.5.2 may keep such a closed listener, about 6 KB, unreachable: the
 * test setups' leak checkers are told so (tests/valgrind.supp,
 * tests/lsan.supp).
 * Addresses other than ipc:// and tcp:// are not guarded.
 */
#ifndef PIGEON_LISTEN_GUARD_H
#define PIGEON_LISTEN_GUARD_H

#include <stdint.h>

#include <nng/nng.h>
#include <pigeon/wire.h>

typedef struct listen_guard listen_guard;

/* How often the guard reads the statistics, and how long a try of the
 * handshake waits for the listener's header, ms. */
#define LISTEN_GUARD_CHECK_MS 1000
#define LISTEN_GUARD_PROBE_MS 3000
#define LISTEN_GUARD_QUIET_CHECKS 10

/* Listens on url with sock and guards the listener; `what` names the socket
 * in log lines ("RPC", "pub").  The status of nng_listen when it fails. */
pigeon_status listen_guard_start(
    listen_guard **out, nng_socket sock, const char *url, const char *what);

/* How many times the guard has listened again.  Thread-safe. */
uint64_t listen_guard_restarts(const listen_guard *g);

/* Stops the guard; the listener stays open (closing the socket closes it).
 * Accepts NULL. */
void listen_guard_stop(listen_guard *g);

#endif
