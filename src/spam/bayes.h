/* SPDX-License-Identifier: MIT */
/*
 * The learning filter: a Bayesian classifier next to the rules.  It owns the
 * tokens of a message, the per-token spam and ham counts in memory (a
 * builder that learns, and an immutable model built from it), and Robinson's
 * f(w) with Fisher's inverse chi-square combining, as bogofilter and
 * SpamAssassin do.  It does not own where the counts are stored between
 * runs or who reports spam: callers feed the builder from their own storage
 * (spam_bayes_builder_add) or from texts (spam_bayes_builder_learn).  Pure
 * C, no I/O.  docs/spam.md gives the tokens, the arithmetic and the figures.
 */
#ifndef PIGEON_SPAM_BAYES_H
#define PIGEON_SPAM_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

/* Bounded work per message: only the first SPAM_BAYES_TEXT_MAX bytes of a
 * message are read, and at most SPAM_BAYES_TOKENS_MAX distinct
 * tokens are taken from them.  A word longer than SPAM_BAYES_WORD_MAX bytes
 * gives no word token (it is base64, a hash or a packed URL, not a word). */
#define SPAM_BAYES_TEXT_MAX 16384
#define SPAM_BAYES_TOKENS_MAX 1024
#define SPAM_BAYES_WORD_MAX 32
/* The longest token: a bigram of two words of SPAM_BAYES_WORD_MAX bytes. */
#define SPAM_BAYES_TOKEN_MAX (2 * SPAM_BAYES_WORD_MAX + 1)
/* Bounded memory: a builder or model holds at most this many distinct
 * tokens (a model takes 24 bytes a slot at a load of at most 1/2, so
 * 48 to 96 bytes a token: at most 96 MiB). */
#define SPAM_BAYES_MODEL_TOKENS_MAX (1u << 20)

/* Called once for each distinct token of a message, in the order the tokens
 * first appear.  tok[0..len) is the token's text (not NUL-terminated) and
 * hash its key, spam_bayes_token_hash(tok, len); both live only during the
 * call. */
typedef void (*spam_bayes_token_fn)(const char *tok, size_t len, uint64_t hash, void *arg);

/* Gives each distinct token of text[0..len) to fn, at most
 * SPAM_BAYES_TOKENS_MAX of them, and returns how many it gave.  A message
 * counts once per token however often the token occurs.  Token kinds
 * (docs/spam.md, "Tokens"):
 *   word          a run of letters and digits, case folded ("hello")
 *   bigram        two consecutive words joined by a space ("hello world")
 *   n:<digits>    the digit count of an all-digit word ("n:4" for "2024")
 *   u:<host>      the host of an http(s):// or www. link, without "www."
 *   u:<domain>    its last two labels, when the host has more
 *   s:url         the message has a link
 *   s:caps        at least half of at least 6 cased letters are capitals
 *   s:long        a word longer than SPAM_BAYES_WORD_MAX bytes
 *   p:<c>         a character that is not a letter, digit or space ("p:!")
 *   p:<ccc>       the same, three or more in a row ("p:!!!")
 *   len:<k>       the length in characters, 2^k to 2^(k+1) - 1 (k <= 12)
 * Borrows text; thread-safe; uses about 32 KiB of stack and no heap. */
size_t spam_bayes_tokens(const char *text, size_t len, spam_bayes_token_fn fn, void *arg);

/* The key of a token's text (64-bit FNV-1a); never 0. */
uint64_t spam_bayes_token_hash(const char *tok, size_t len);

/* The classifier's constants.  spam_bayes_params_init gives bogofilter's
 * defaults for robs, robx and min_dev and Pigeon's cutoff (docs/spam.md
 * gives the measurement behind it). */
typedef struct spam_bayes_params {
	/* Robinson's s: how many messages' worth of weight robx has. */
	double robs;
	/* Robinson's x: f(w) of a token never seen. */
	double robx;
	/* Tokens with |f(w) - 0.5| < min_dev are left out of the verdict. */
	double min_dev;
	/* A message is spam when I >= spam_cutoff. */
	double spam_cutoff;
	/* No verdict until this many spam and ham messages were learned. */
	uint32_t min_spam;
	uint32_t min_ham;
} spam_bayes_params;

void spam_bayes_params_init(spam_bayes_params *p);

/* Robinson's f(w) for a token counted in `spam` spam and `ham` ham
 * messages, out of spam_msgs and ham_msgs learned:
 *   p(w) = (spam / spam_msgs) / (spam / spam_msgs + ham / ham_msgs)
 *   f(w) = (robs * robx + n * p(w)) / (robs + n),  n = spam + ham
 * robx when n is 0.  A class with no messages counts as one.  Pure. */
double spam_bayes_prob(uint32_t spam, uint32_t ham, uint32_t spam_msgs, uint32_t ham_msgs,
                       const spam_bayes_params *p);

/* The probability that a chi-square variable with df degrees of freedom
 * (even, >= 2) is at least chi2: the C^-1 of Robinson's combining.  Exact
 * series for even df, rescaled so that it neither overflows nor loses small
 * values to underflow.  Pure. */
double spam_bayes_chi2q(double chi2, unsigned df);

/* Fisher's combining of n > 0 token probabilities f[0..n), each in (0, 1):
 *   H = C^-1(-2 sum ln f, 2n),  S = C^-1(-2 sum ln (1 - f), 2n)
 *   I = (1 + H - S) / 2
 * Returns I in [0, 1]: near 1 for spam, near 0 for ham.  Pure. */
double spam_bayes_combine(const double *f, size_t n);

/* Counts being learned: mutable, one thread at a time. */
typedef struct spam_bayes_builder spam_bayes_builder;

pigeon_status spam_bayes_builder_new(spam_bayes_builder **out);
void spam_bayes_builder_free(spam_bayes_builder *b);

/* Adds spam and ham to the counts of the token with key `hash` (counts
 * saturate).  RESOURCE_EXHAUSTED when the token is new and the builder holds
 * SPAM_BAYES_MODEL_TOKENS_MAX tokens or memory runs out; the counts are then
 * unchanged. */
pigeon_status spam_bayes_builder_add(spam_bayes_builder *b, uint64_t hash, uint32_t spam,
                                     uint32_t ham);

/* Adds to the numbers of messages learned as spam and as ham. */
void spam_bayes_builder_add_messages(spam_bayes_builder *b, uint32_t spam, uint32_t ham);

/* Learns one message: adds 1 to the spam (or ham) count of each of its
 * tokens and to the spam (or ham) messages.  RESOURCE_EXHAUSTED as
 * spam_bayes_builder_add, with the message then learned only in part (its
 * message count unchanged).  Borrows text. */
pigeon_status spam_bayes_builder_learn(spam_bayes_builder *b, const char *text, size_t len,
                                       bool is_spam);

/* Distinct tokens and messages learned so far. */
size_t spam_bayes_builder_tokens(const spam_bayes_builder *b);
void spam_bayes_builder_messages(const spam_bayes_builder *b, uint32_t *spam, uint32_t *ham);

/* What a model knows, immutable: any number of threads may classify with one
 * model, and a worker swaps in a fresh one without locks. */
typedef struct spam_bayes_model spam_bayes_model;

/* Builds a model from b's counts with the constants p (NULL: defaults).  The
 * builder is unchanged and may go on learning.  INVALID_ARGUMENT when
 * robs <= 0, robx is not in (0, 1), min_dev is not in [0, 0.5) or
 * spam_cutoff is not in (0, 1]; RESOURCE_EXHAUSTED when memory runs out.
 * Borrows b and p. */
pigeon_status spam_bayes_model_new(spam_bayes_model **out, const spam_bayes_builder *b,
                                   const spam_bayes_params *p);
void spam_bayes_model_free(spam_bayes_model *m);

/* The counts of one token (0 and 0 when unknown). */
void spam_bayes_model_counts(const spam_bayes_model *m, uint64_t hash, uint32_t *spam,
                             uint32_t *ham);

typedef enum spam_bayes_outcome {
	SPAM_BAYES_HAM,
	SPAM_BAYES_SPAM,
	/* Abstained: fewer than min_spam spam or min_ham ham messages learned. */
	SPAM_BAYES_UNTRAINED,
	/* Abstained: no token of the message is significant (min_dev). */
	SPAM_BAYES_NO_EVIDENCE,
} spam_bayes_outcome;

typedef struct spam_bayes_verdict {
	spam_bayes_outcome outcome;
	/* Fisher's I, in [0, 1]; 0.5 when abstaining. */
	double score;
	/* The significant tokens the score combines. */
	unsigned tokens;
	/* "bayes(0.97)" (the score, two decimals) for SPAM; empty otherwise. */
	char reason[16];
} spam_bayes_verdict;

/* Judges text[0..len) with m.  Borrows everything; thread-safe for
 * concurrent calls on one model; allocates nothing. */
void spam_bayes_classify(const spam_bayes_model *m, const char *text, size_t len,
                         spam_bayes_verdict *out);

#endif
