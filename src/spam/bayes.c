/* SPDX-License-Identifier: MIT */
/*
 * Tokens, counts and Robinson-Fisher combining; see bayes.h.  A model
 * stores, next to each token's counts, ln f(w) and ln (1 - f(w)) worked out
 * once when it is built, so that a verdict is a hash look-up and two
 * additions per token: the logarithms were most of a verdict's cost.
 */
#include "bayes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define FNV_BASIS UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)
/* Twice SPAM_BAYES_TOKENS_MAX: the per-message set stays at most half full. */
#define SEEN_SLOTS (2 * SPAM_BAYES_TOKENS_MAX)
/* A stored ln f(w) is <= 0; this marks a token left out by min_dev. */
#define NOT_SIGNIFICANT 1.0f
#define LEN_BUCKET_MAX 12
#define NUMBER_DIGITS_MAX 12

uint64_t
spam_bayes_token_hash(const char *tok, size_t len)
{
	uint64_t h = FNV_BASIS;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)tok[i];
		h *= FNV_PRIME;
	}
	return h != 0 ? h : 1;
}

/* The slot of a key in a table of 2^bits slots: FNV's low bits are weak, so
 * take the top bits of a multiplicative mix. */
static inline size_t
slot_of(uint64_t hash, unsigned bits)
{
	return (size_t)((hash * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
}

/* Where a word of the text ends: at ASCII white space or punctuation. */
static size_t
word_end(const char *text, size_t len, size_t i, bool *ascii)
{
	*ascii = true;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x80 && !(spam_ascii_class[c] & SPAM_ASCII_WORD))
			break;
		*ascii = *ascii && c < 0x80;
	}
	return i;
}

/*
 * The text tokens are read from: the single place that decides when two
 * spellings are one word.  A word with a character beyond ASCII goes
 * through the spam filter's normal form (text.h, spam_text_normalize:
 * compatibility forms and case folded, marks and invisible characters
 * dropped, look-alike letters of other scripts as their Latin twins), so
 * "ｂｕｙ", "bυy" and "buy" are one token.  An ASCII word is only lower-cased:
 * the normal form's skeleton also reads 0 as o, 1 as l and rn as m, which
 * would make numbers and hosts into other words ("0800" into "o8oo"),
 * while look-alikes within ASCII hide nothing the tokens must see.  Writes at
 * most cap bytes, cutting between words; a word ICU cannot normalise (its
 * data missing) is left out.
 */
static size_t
bayes_normalize(const char *text, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		bool ascii;
		size_t end;

		if (c < 0x80 && !(spam_ascii_class[c] & SPAM_ASCII_WORD)) {
			if (o == cap)
				break;
			out[o++] = (char)c;
			i++;
			continue;
		}
		end = word_end(text, len, i, &ascii);
		if (ascii) {
			if (end - i > cap - o)
				break;
			for (; i < end; i++)
				out[o++] = (char)spam_fold((unsigned char)text[i]);
			continue;
		}
		while (i < end) {
			size_t used = 0, olen = 0;

			if (cap - o < SPAM_TEXT_PART_MIN ||
			    spam_text_normalize_part(text + i, end - i, out + o, cap - o, &used, &olen) !=
				PIGEON_OK)
				return o;
			i += used;
			o += olen;
		}
	}
	return o;
}

/* One message's tokenizing: the distinct tokens given so far. */
typedef struct tok_state {
	spam_bayes_token_fn fn;
	void *arg;
	size_t given;
	uint64_t seen[SEEN_SLOTS];
} tok_state;

/* Gives tok to the callback unless the message already had it; false once
 * the message has given SPAM_BAYES_TOKENS_MAX tokens. */
static bool
emit(tok_state *st, const char *tok, size_t len)
{
	uint64_t h;
	size_t i;

	if (st->given >= SPAM_BAYES_TOKENS_MAX)
		return false;
	h = spam_bayes_token_hash(tok, len);
	for (i = slot_of(h, 11); st->seen[i] != 0; i = (i + 1) & (SEEN_SLOTS - 1))
		if (st->seen[i] == h)
			return true;
	st->seen[i] = h;
	st->given++;
	st->fn(tok, len, h, st->arg);
	return st->given < SPAM_BAYES_TOKENS_MAX;
}

/* prefix followed by s[0..len), as one token. */
static bool
emit2(tok_state *st, const char *prefix, const char *s, size_t len)
{
	char buf[SPAM_BAYES_TOKEN_MAX + 8];
	size_t p = strlen(prefix);

	if (p + len > sizeof(buf))
		len = sizeof(buf) - p;
	memcpy(buf, prefix, p);
	memcpy(buf + p, s, len);
	return emit(st, buf, p + len);
}

static bool
starts_with(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* The link at s (normalised text at a word start), if any: its host's
 * tokens and s:url. */
static bool
link_tokens(tok_state *st, const char *s, size_t len)
{
	size_t h, e, d;
	unsigned dots = 0;

	if (starts_with(s, len, "https://"))
		h = 8;
	else if (starts_with(s, len, "http://"))
		h = 7;
	else if (starts_with(s, len, "www."))
		h = 0;
	else
		return true;
	if (!emit(st, "s:url", 5))
		return false;
	if (starts_with(s + h, len - h, "www."))
		h += 4;
	for (e = h; e < len && e - h < 64; e++) {
		unsigned char c = (unsigned char)s[e];

		if (!(c >= 0x80 || c == '.' || c == '-' || (spam_ascii_class[c] & SPAM_ASCII_WORD)))
			break;
	}
	/* A trailing dot ends the sentence, not the host. */
	while (e > h && s[e - 1] == '.')
		e--;
	if (e == h)
		return true;
	if (!emit2(st, "u:", s + h, e - h))
		return false;
	/* The last two labels, when there are more. */
	for (d = e; d > h; d--)
		if (s[d - 1] == '.' && ++dots == 2)
			return emit2(st, "u:", s + d, e - d);
	return true;
}

/* A word's tokens; digits is its length in characters when it is all
 * digits, else 0. */
static bool
word_tokens(tok_state *st, const char *w, size_t wlen, size_t digits, const char *prev,
            size_t prev_len)
{
	char buf[SPAM_BAYES_TOKEN_MAX];

	if (wlen > SPAM_BAYES_WORD_MAX)
		return emit(st, "s:long", 6);
	if (!emit(st, w, wlen))
		return false;
	if (digits > 0) {
		int n = snprintf(buf, sizeof(buf), "n:%zu",
		                 digits < NUMBER_DIGITS_MAX ? digits : (size_t)NUMBER_DIGITS_MAX);
		if (!emit(st, buf, (size_t)n))
			return false;
	}
	if (prev_len == 0)
		return true;
	memcpy(buf, prev, prev_len);
	buf[prev_len] = ' ';
	memcpy(buf + prev_len + 1, w, wlen);
	return emit(st, buf, prev_len + 1 + wlen);
}

/* The shape tokens read from the text as written: length and capitals. */
static bool
shape_tokens(tok_state *st, const char *text, size_t len)
{
	size_t chars = 0, cased = 0, upper = 0;
	unsigned k = 0;
	char buf[16];
	int n;

	for (size_t i = 0; i < len;) {
		uint32_t cp;

		if ((unsigned char)text[i] < 0x80) {
			unsigned c = spam_ascii_class[(unsigned char)text[i++]];

			chars++;
			if ((c & (SPAM_ASCII_WORD | SPAM_ASCII_DIGIT)) == SPAM_ASCII_WORD) {
				cased++;
				upper += (c & SPAM_ASCII_UPPER) != 0;
			}
			continue;
		}
		i += spam_utf8_next(text + i, len - i, &cp);
		chars++;
		if (spam_is_cased_letter(cp)) {
			cased++;
			upper += spam_fold(cp) != cp;
		}
	}
	while (k < LEN_BUCKET_MAX && (chars >> (k + 1)) != 0)
		k++;
	n = snprintf(buf, sizeof(buf), "len:%u", k);
	if (!emit(st, buf, (size_t)n))
		return false;
	if (cased >= 6 && 2 * upper >= cased)
		return emit(st, "s:caps", 6);
	return true;
}

size_t
spam_bayes_tokens(const char *text, size_t len, spam_bayes_token_fn fn, void *arg)
{
	char norm[SPAM_BAYES_TEXT_MAX];
	tok_state st;
	size_t nlen, i = 0, prev = 0, prev_len = 0;

	st.fn = fn;
	st.arg = arg;
	st.given = 0;
	memset(st.seen, 0, sizeof(st.seen));
	if (len > SPAM_BAYES_TEXT_MAX)
		len = SPAM_BAYES_TEXT_MAX;
	if (!shape_tokens(&st, text, len))
		return st.given;
	nlen = bayes_normalize(text, len, norm, sizeof(norm));
	while (i < nlen) {
		uint32_t cp;
		size_t n = spam_utf8_next(norm + i, nlen - i, &cp);

		if (spam_is_word(cp)) {
			size_t start = i, digits = 0;
			bool all_digits = true;

			if (!link_tokens(&st, norm + i, nlen - i))
				break;
			do {
				all_digits = all_digits && spam_is_digit(cp);
				digits++;
				i += n;
				if (i >= nlen)
					break;
				n = spam_utf8_next(norm + i, nlen - i, &cp);
			} while (spam_is_word(cp));
			if (!word_tokens(&st, norm + start, i - start, all_digits ? digits : 0,
			                 norm + prev, prev_len))
				break;
			/* A long word breaks the chain of bigrams. */
			prev = start;
			prev_len = i - start <= SPAM_BAYES_WORD_MAX ? i - start : 0;
			continue;
		}
		if (!spam_is_space(cp)) {
			size_t run = 1;

			while (i + run * n < nlen && memcmp(norm + i, norm + i + run * n, n) == 0)
				run++;
			if (!emit2(&st, "p:", norm + i, n))
				break;
			if (run >= 3) {
				char three[12];

				for (size_t k = 0; k < 3; k++)
					memcpy(three + k * n, norm + i, n);
				if (!emit2(&st, "p:", three, 3 * n))
					break;
			}
			i += run * n;
			continue;
		}
		i += n;
	}
	return st.given;
}

void
spam_bayes_params_init(spam_bayes_params *p)
{
	/* bogofilter's defaults (bogofilter -Q) for robs, robx and min_dev. */
	p->robs = 0.0178;
	p->robx = 0.52;
	p->min_dev = 0.375;
	p->spam_cutoff = 0.99;
	/* SpamAssassin's: no Bayes verdict before 200 of each. */
	p->min_spam = 200;
	p->min_ham = 200;
}

double
spam_bayes_prob(uint32_t spam, uint32_t ham, uint32_t spam_msgs, uint32_t ham_msgs,
                const spam_bayes_params *p)
{
	double n = (double)spam + (double)ham;
	double b, g;

	if (n == 0)
		return p->robx;
	b = (double)spam / (spam_msgs > 0 ? spam_msgs : 1);
	g = (double)ham / (ham_msgs > 0 ? ham_msgs : 1);
	return (p->robs * p->robx + n * (b / (b + g))) / (p->robs + n);
}

double
spam_bayes_chi2q(double chi2, unsigned df)
{
	/* Q = e^-m * sum_{i < df/2} m^i / i!, m = chi2 / 2.  The sum is kept as
	 * sum * e^scale, and rescaled before it overflows. */
	double m = chi2 / 2, term = 1, sum = 1, scale = -m, q;

	for (unsigned i = 1; i < df / 2; i++) {
		term *= m / i;
		sum += term;
		if (sum > 1e300) {
			sum *= 1e-300;
			term *= 1e-300;
			scale += 690.77552789821368; /* ln 1e300 */
		}
	}
	q = exp(scale + log(sum));
	return q < 1 ? q : 1;
}

/* I from the sums of ln f and ln (1 - f) over n tokens. */
static double
combine_logs(double ln_f, double ln_1mf, size_t n)
{
	double h = spam_bayes_chi2q(-2 * ln_f, (unsigned)(2 * n));
	double s = spam_bayes_chi2q(-2 * ln_1mf, (unsigned)(2 * n));

	return (1 + h - s) / 2;
}

double
spam_bayes_combine(const double *f, size_t n)
{
	double ln_f = 0, ln_1mf = 0;

	for (size_t i = 0; i < n; i++) {
		ln_f += log(f[i]);
		ln_1mf += log(1 - f[i]);
	}
	return combine_logs(ln_f, ln_1mf, n);
}

/* Open addressing, linear probing, key 0 free; at most half full. */
typedef struct count_slot {
	uint64_t key;
	uint32_t spam, ham;
} count_slot;

struct spam_bayes_builder {
	count_slot *slots;
	unsigned bits;
	size_t used;
	uint32_t spam_msgs, ham_msgs;
};

static uint32_t
sat_add(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

pigeon_status
spam_bayes_builder_new(spam_bayes_builder **out)
{
	spam_bayes_builder *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	b->bits = 10;
	if ((b->slots = calloc((size_t)1 << b->bits, sizeof(*b->slots))) == NULL) {
		free(b);
		return PIGEON_RESOURCE_EXHAUSTED;
	}
	*out = b;
	return PIGEON_OK;
}

void
spam_bayes_builder_free(spam_bayes_builder *b)
{
	if (b == NULL)
		return;
	free(b->slots);
	free(b);
}

static count_slot *
builder_find(count_slot *slots, unsigned bits, uint64_t key)
{
	size_t mask = ((size_t)1 << bits) - 1, i;

	for (i = slot_of(key, bits); slots[i].key != 0 && slots[i].key != key; i = (i + 1) & mask)
		;
	return &slots[i];
}

static pigeon_status
builder_grow(spam_bayes_builder *b)
{
	unsigned bits = b->bits + 1;
	count_slot *slots;

	if ((slots = calloc((size_t)1 << bits, sizeof(*slots))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < (size_t)1 << b->bits; i++)
		if (b->slots[i].key != 0)
			*builder_find(slots, bits, b->slots[i].key) = b->slots[i];
	free(b->slots);
	b->slots = slots;
	b->bits = bits;
	return PIGEON_OK;
}

pigeon_status
spam_bayes_builder_add(spam_bayes_builder *b, uint64_t hash, uint32_t spam, uint32_t ham)
{
	count_slot *s;
	pigeon_status rv;

	if (hash == 0)
		hash = 1;
	s = builder_find(b->slots, b->bits, hash);
	if (s->key == 0) {
		if (b->used >= SPAM_BAYES_MODEL_TOKENS_MAX)
			return PIGEON_RESOURCE_EXHAUSTED;
		if (2 * (b->used + 1) > (size_t)1 << b->bits) {
			if ((rv = builder_grow(b)) != PIGEON_OK)
				return rv;
			s = builder_find(b->slots, b->bits, hash);
		}
		s->key = hash;
		b->used++;
	}
	s->spam = sat_add(s->spam, spam);
	s->ham = sat_add(s->ham, ham);
	return PIGEON_OK;
}

void
spam_bayes_builder_add_messages(spam_bayes_builder *b, uint32_t spam, uint32_t ham)
{
	b->spam_msgs = sat_add(b->spam_msgs, spam);
	b->ham_msgs = sat_add(b->ham_msgs, ham);
}

typedef struct learn_state {
	spam_bayes_builder *b;
	bool is_spam;
	pigeon_status rv;
} learn_state;

static void
learn_token(const char *tok, size_t len, uint64_t hash, void *arg)
{
	learn_state *ls = arg;

	if (ls->rv == PIGEON_OK)
		ls->rv = spam_bayes_builder_add(ls->b, hash, ls->is_spam, !ls->is_spam);
}

pigeon_status
spam_bayes_builder_learn(spam_bayes_builder *b, const char *text, size_t len, bool is_spam)
{
	learn_state ls = {.b = b, .is_spam = is_spam, .rv = PIGEON_OK};

	spam_bayes_tokens(text, len, learn_token, &ls);
	if (ls.rv == PIGEON_OK)
		spam_bayes_builder_add_messages(b, is_spam, !is_spam);
	return ls.rv;
}

size_t
spam_bayes_builder_tokens(const spam_bayes_builder *b)
{
	return b->used;
}

void
spam_bayes_builder_messages(const spam_bayes_builder *b, uint32_t *spam, uint32_t *ham)
{
	*spam = b->spam_msgs;
	*ham = b->ham_msgs;
}

/* A model's slot: the counts, and ln f(w) and ln (1 - f(w)) as floats
 * (their sums need no more), or NOT_SIGNIFICANT. */
typedef struct model_slot {
	uint64_t key;
	uint32_t spam, ham;
	float ln_f, ln_1mf;
} model_slot;

struct spam_bayes_model {
	spam_bayes_params params;
	uint32_t spam_msgs, ham_msgs;
	/* An unknown token: f(w) = robx. */
	float unknown_ln_f, unknown_ln_1mf;
	unsigned bits;
	model_slot *slots;
};

static void
model_logs(const spam_bayes_params *p, double f, float *ln_f, float *ln_1mf)
{
	if (fabs(f - 0.5) < p->min_dev) {
		*ln_f = NOT_SIGNIFICANT;
		*ln_1mf = NOT_SIGNIFICANT;
	} else {
		*ln_f = (float)log(f);
		*ln_1mf = (float)log(1 - f);
	}
}

pigeon_status
spam_bayes_model_new(spam_bayes_model **out, const spam_bayes_builder *b,
                     const spam_bayes_params *p)
{
	spam_bayes_params defaults;
	spam_bayes_model *m;

	if (p == NULL) {
		spam_bayes_params_init(&defaults);
		p = &defaults;
	}
	if (!(p->robs > 0) || !(p->robx > 0 && p->robx < 1) ||
	    !(p->min_dev >= 0 && p->min_dev < 0.5) || !(p->spam_cutoff > 0 && p->spam_cutoff <= 1))
		return PIGEON_INVALID_ARGUMENT;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	m->params = *p;
	m->spam_msgs = b->spam_msgs;
	m->ham_msgs = b->ham_msgs;
	/* The builder's size: at most half full. */
	m->bits = b->bits;
	if ((m->slots = calloc((size_t)1 << m->bits, sizeof(*m->slots))) == NULL) {
		free(m);
		return PIGEON_RESOURCE_EXHAUSTED;
	}
	model_logs(p, p->robx, &m->unknown_ln_f, &m->unknown_ln_1mf);
	for (size_t i = 0; i < (size_t)1 << b->bits; i++) {
		const count_slot *c = &b->slots[i];
		model_slot *s;

		if (c->key == 0)
			continue;
		s = &m->slots[i];
		s->key = c->key;
		s->spam = c->spam;
		s->ham = c->ham;
		model_logs(p, spam_bayes_prob(c->spam, c->ham, m->spam_msgs, m->ham_msgs, p),
		           &s->ln_f, &s->ln_1mf);
	}
	*out = m;
	return PIGEON_OK;
}

void
spam_bayes_model_free(spam_bayes_model *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m);
}

static const model_slot *
model_find(const spam_bayes_model *m, uint64_t key)
{
	size_t mask = ((size_t)1 << m->bits) - 1, i;

	for (i = slot_of(key, m->bits); m->slots[i].key != 0; i = (i + 1) & mask)
		if (m->slots[i].key == key)
			return &m->slots[i];
	return NULL;
}

void
spam_bayes_model_counts(const spam_bayes_model *m, uint64_t hash, uint32_t *spam, uint32_t *ham)
{
	const model_slot *s = model_find(m, hash != 0 ? hash : 1);

	*spam = s != NULL ? s->spam : 0;
	*ham = s != NULL ? s->ham : 0;
}

typedef struct classify_state {
	const spam_bayes_model *m;
	double ln_f, ln_1mf;
	unsigned n;
} classify_state;

static void
classify_token(const char *tok, size_t len, uint64_t hash, void *arg)
{
	classify_state *cs = arg;
	const model_slot *s = model_find(cs->m, hash);
	float ln_f = s != NULL ? s->ln_f : cs->m->unknown_ln_f;
	float ln_1mf = s != NULL ? s->ln_1mf : cs->m->unknown_ln_1mf;

	if (ln_f == NOT_SIGNIFICANT)
		return;
	cs->ln_f += ln_f;
	cs->ln_1mf += ln_1mf;
	cs->n++;
}

void
spam_bayes_classify(const spam_bayes_model *m, const char *text, size_t len,
                    spam_bayes_verdict *out)
{
	classify_state cs = {.m = m};

	out->score = 0.5;
	out->tokens = 0;
	out->reason[0] = '\0';
	if (m->spam_msgs < m->params.min_spam || m->ham_msgs < m->params.min_ham) {
		out->outcome = SPAM_BAYES_UNTRAINED;
		return;
	}
	spam_bayes_tokens(text, len, classify_token, &cs);
	if (cs.n == 0) {
		out->outcome = SPAM_BAYES_NO_EVIDENCE;
		return;
	}
	out->score = combine_logs(cs.ln_f, cs.ln_1mf, cs.n);
	out->tokens = cs.n;
	if (out->score >= m->params.spam_cutoff) {
		out->outcome = SPAM_BAYES_SPAM;
		snprintf(out->reason, sizeof(out->reason), "bayes(%.2f)", out->score);
	} else {
		out->outcome = SPAM_BAYES_HAM;
	}
}
