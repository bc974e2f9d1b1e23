/* SPDX-License-Identifier: MIT */
/*
 * Calls through libpigeon that integration tests make again and again.  Each
 * asserts (cmocka) that the call succeeded with the answer it must have, and
 * returns the figure the test goes on with.
 */
#ifndef PIGEON_TEST_T_RPC_H
#define PIGEON_TEST_T_RPC_H

#include <stdint.h>

#include <pigeon/pigeon.h>

/* Registers u as a regular user (open mode). */
void t_register(pigeon_client *c, const char *u);
/* Logs u in; returns the LOGIN event's journal sequence. */
uint64_t t_login(pigeon_client *c, const char *u);
/* Logs u out; returns the LOGOUT event's journal sequence. */
uint64_t t_logout(pigeon_client *c, const char *u);
/* Sends text from s to r (no idempotency key); returns the message id. */
uint64_t t_send(pigeon_client *c, const char *s, const char *r, const char *text);

#endif
