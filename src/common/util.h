/* SPDX-License-Identifier: MIT */
/*
 * Small shared helpers: clocks, foreign error codes converted to
 * pigeon_status (once, at the boundary, by table), input validation that the
 * server, the bridge and the CLI must agree on, and the byte-budgeted
 * protobuf-c allocator for untrusted input.
 */
#ifndef PIGEON_UTIL_H
#define PIGEON_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <pigeon/pigeon.h>

/* Milliseconds since the Unix epoch (wall clock; deadlines cross processes). */
int64_t util_now_ms(void);
/* Monotonic microseconds, for measuring durations. */
int64_t util_mono_us(void);

/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC,
 * so a wall-clock jump cannot stretch or cut a wait.  Returns 0 or an errno
 * value. */
int util_cond_init_monotonic(pthread_cond_t *cv);

/* nng error number (0 for success) to status: timeouts DEADLINE_EXCEEDED,
 * refused/reset/closed UNAVAILABLE, memory and size limits
 * RESOURCE_EXHAUSTED, bad addresses INVALID_ARGUMENT. */
pigeon_status status_from_nng(int nng_err);
/* errno to status, by the same rules. */
pigeon_status status_from_errno(int err);

#define PIGEON_USERNAME_MAX 64

/* True when buf[0..len) is valid UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF).  NUL bytes count as valid here; callers that forbid them
 * check separately. */
bool util_utf8_valid(const char *buf, size_t len);

/* Why a username is not acceptable, or NULL when it is: 1 to 64 bytes of
 * valid UTF-8 without control characters (C0, DEL, C1) or white space. */
const char *util_username_problem(const char *name, size_t len);

/* A protobuf-c allocator that refuses to hand out more than `budget` bytes in
 * total, so that decoding untrusted bytes cannot be made to allocate much
 * more than the input's size.  Initialise, pass &b->base to
 * *__unpack, free the message with the same allocator. */
typedef struct pb_budget {
	ProtobufCAllocator base;
	size_t budget;
	size_t used;
} pb_budget;

void pb_budget_init(pb_budget *b, size_t budget);

/* The budget used for decoding `len` untrusted bytes: a fixed overhead plus
 * a multiple of the input. */
size_t pb_budget_for(size_t len);

#endif
