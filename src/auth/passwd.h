/* SPDX-License-Identifier: MIT */
/*
 * Password hashing off the RPC threads: a fixed set of threads and a bounded
 * queue that hash new passwords into argon2id strings (libsodium) and verify
 * passwords against stored ones.  A call never blocks: it queues the job and
 * returns, or answers RESOURCE_EXHAUSTED at once when the pool is full, so a
 * storm of logins costs at most threads × memlimit of memory and a bounded
 * backlog.  Passwords are copied into guarded, locked memory (sodium_malloc)
 * and wiped as soon as their hash is computed; nothing here logs them.
 *
 * The pool knows nothing of users, Redis or the wire: the caller stores the
 * hash strings and maps the statuses to its answers.  docs/auth.md gives the
 * parameters, the measured cost and how to choose the options.
 */
#ifndef PIGEON_AUTH_PASSWD_H
#define PIGEON_AUTH_PASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

typedef struct passwd_pool passwd_pool;

/* Password lengths accepted, in bytes (any bytes; the caller decides what
 * text is). */
#define PASSWD_MIN 8
#define PASSWD_MAX 1024

/* Room for a hash string and its NUL (libsodium's
 * crypto_pwhash_argon2id_STRBYTES). */
#define PASSWD_HASH_BYTES 128

/* The defaults are OWASP's minimum for argon2id: 19 MiB, 2 passes,
 * parallelism 1 (libsodium always uses 1). */
#define PASSWD_THREADS_DEFAULT 2
#define PASSWD_QUEUE_DEFAULT 16
#define PASSWD_OPSLIMIT_DEFAULT 2ULL
#define PASSWD_MEMLIMIT_DEFAULT ((size_t)19456 * 1024)
/* Upper bounds of threads and queue_max. */
#define PASSWD_THREADS_MAX 64
#define PASSWD_QUEUE_MAX 4096

typedef struct passwd_opts {
	/* Hashing threads; 0: PASSWD_THREADS_DEFAULT.  Each holds memlimit
	 * while it hashes. */
	unsigned threads;
	/* Jobs that may wait beyond one per thread; 0: PASSWD_QUEUE_DEFAULT. */
	unsigned queue_max;
	/* argon2id passes (t); 0: PASSWD_OPSLIMIT_DEFAULT. */
	unsigned long long opslimit;
	/* argon2id memory in bytes, rounded down to whole KiB (m, in KiB);
	 * 0: PASSWD_MEMLIMIT_DEFAULT. */
	size_t memlimit;
} passwd_opts;

typedef struct passwd_stats {
	/* Jobs a thread has taken and not finished (their callback
	 * included). */
	unsigned running;
	/* Jobs waiting for a thread. */
	unsigned queued;
	/* Calls answered RESOURCE_EXHAUSTED because the pool was full, since
	 * the pool started. */
	uint64_t refused;
} passwd_stats;

/* Called once per accepted passwd_hash, on a pool thread (see
 * passwd_pool_free for the exception).  st is OK with hash the argon2id
 * string (NUL-terminated, shorter than PASSWD_HASH_BYTES), or with hash NULL:
 * RESOURCE_EXHAUSTED when the memory for hashing could not be had, INTERNAL
 * for any other failure of libsodium, CANCELLED when the pool was freed
 * first.  hash lives only during the call. */
typedef void (*passwd_hash_fn)(void *arg, pigeon_status st, const char *hash);

/* Called once per accepted passwd_verify, on a pool thread (see
 * passwd_pool_free for the exception).  st is OK when the password matches,
 * UNAUTHENTICATED when it does not (or the stored hash is not an argon2id
 * string, or there was none), RESOURCE_EXHAUSTED when the memory for hashing
 * could not be had, CANCELLED when the pool was freed first. */
typedef void (*passwd_verify_fn)(void *arg, pigeon_status st);

/* Initialises libsodium, makes the dummy hash that passwd_verify uses for
 * unknown users (this takes one hash's time) and starts the threads.  o NULL
 * or any field 0: the defaults.  Borrows o (copied).  Returns
 * INVALID_ARGUMENT for threads or queue_max above their maximum, opslimit or
 * memlimit outside libsodium's argon2id limits; RESOURCE_EXHAUSTED when
 * memory or threads cannot be had; INTERNAL when libsodium cannot start.
 * Thread-safe. */
pigeon_status passwd_pool_new(passwd_pool **out, const passwd_opts *o);

/* Stops the pool and frees it.  Jobs still waiting are answered CANCELLED,
 * each exactly once, on the caller's thread and before any running job is
 * waited for; jobs that a thread has taken finish and get their answer.
 * Returns when every thread has ended.  Calls made meanwhile (from a
 * callback) return UNAVAILABLE.  Must not be called from a callback or
 * concurrently with calls from other threads.  Accepts NULL. */
void passwd_pool_free(passwd_pool *p);

/* Queues the hashing of pw (len bytes) with the pool's parameters; cb gets
 * the argon2id string.  Copies pw before returning.  Returns OK when cb will
 * be called (exactly once), and otherwise does not call it:
 * INVALID_ARGUMENT only when len is outside PASSWD_MIN..PASSWD_MAX,
 * RESOURCE_EXHAUSTED when threads + queue_max jobs are already in the pool,
 * UNAVAILABLE while the pool is being freed.  Thread-safe; may be called
 * from a callback. */
pigeon_status passwd_hash(passwd_pool *p, const char *pw, size_t len, passwd_hash_fn cb, void *arg);

/* Queues checking pw (len bytes) against hash, an argon2id string as
 * passwd_hash made (copied; NUL-terminated).  hash NULL, for a user that does
 * not exist: pw is checked against the pool's dummy hash, with the pool's
 * parameters, and cb gets UNAUTHENTICATED, so an unknown user takes as long
 * as a wrong password.  A stored hash costs its own parameters, not the
 * pool's.  Returns as passwd_hash.  Thread-safe; may be called from a
 * callback. */
pigeon_status passwd_verify(passwd_pool *p, const char *hash, const char *pw, size_t len,
    passwd_verify_fn cb, void *arg);

/* True when hash was made with other parameters than the pool's, or is not
 * an argon2id string: hash the password again (after it verified) and store
 * the new string.  Borrows hash.  Thread-safe. */
bool passwd_needs_rehash(const passwd_pool *p, const char *hash);

/* The pool's current figures, for metrics.  Thread-safe. */
void passwd_pool_stats(passwd_pool *p, passwd_stats *out);

#endif
