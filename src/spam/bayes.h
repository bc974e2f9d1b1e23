/* SPDX-License-Identifier: MIT */
/*
 * The Bayesian classifier's view of a message: its tokens.  A message
 * counts once per token, so the tokens of one text are unique.  Words are
 * runs of word characters (text.h), case-folded, 1 to
 * SPAM_BAYES_TOKEN_MAX bytes (longer runs are cut); at most
 * SPAM_BAYES_TOKENS_MAX tokens per text, the first ones, so the work per
 * message is bounded.  Pure functions, thread-safe.
 */
#ifndef PIGEON_SPAM_BAYES_H
#define PIGEON_SPAM_BAYES_H

#include <stddef.h>

#define SPAM_BAYES_TOKEN_MAX 48
#define SPAM_BAYES_TOKENS_MAX 256

/* Calls fn once for each distinct token of text[0..len) (any bytes: invalid
 * UTF-8 decodes as U+FFFD), in order of first appearance; tok is borrowed
 * for the call and not NUL-terminated.  Returns the number of tokens. */
size_t spam_bayes_tokens(const char *text, size_t len,
    void (*fn)(void *arg, const char *tok, size_t len), void *arg);

#endif
