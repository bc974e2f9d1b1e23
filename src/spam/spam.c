/* SPDX-License-Identifier: MIT */
/*
 * Loading a filter and judging messages with it; see spam.h.  A loaded
 * filter never changes: a reload builds a new one and the worker swaps the
 * pointer, so checks need no locks and allocate nothing.
 */
#include "spam.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "blocklist.h"
#include "config.h"
#include "text.h"

#define CONFIG_FILE_MAX (64 * 1024)
#define BLOCKLIST_FILE_MAX (1024 * 1024)
#define FNV_BASIS UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)

struct spam_filter {
	spam_config cfg;
	/* NULL when the blocklist rule is off. */
	spam_blocklist *blocklist;
};

/* Used when no config file names a blocklist; etc/spam-blocklist.txt ships
 * the same terms. */
static const char builtin_blocklist[] = "buy now\n"
                                        "free money\n"
                                        "make money fast\n"
                                        "limited time offer\n"
                                        "claim your prize\n"
                                        "cash prize\n"
                                        "double your money\n"
                                        "risk free investment\n"
                                        "guaranteed income\n"
                                        "earn money online\n"
                                        "work from home opportunity\n"
                                        "no credit check\n"
                                        "crypto giveaway\n"
                                        "casino bonus\n";

static void
err_printf(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* Why spam_read_file failed, for errbuf; the status table lives in
 * libpigeon, which the server's modules do not link. */
static const char *
read_problem(pigeon_status rv)
{
	switch (rv) {
	case PIGEON_NOT_FOUND:
		return "no such file";
	case PIGEON_PERMISSION_DENIED:
		return "permission denied";
	case PIGEON_INVALID_ARGUMENT:
		return "file too large";
	case PIGEON_RESOURCE_EXHAUSTED:
		return "out of memory";
	default:
		return "cannot read";
	}
}

/* The blocklist's path: as written when absolute, else next to the config. */
static char *
blocklist_path(const char *config_path, const char *file)
{
	const char *slash = strrchr(config_path, '/');
	size_t dir = (file[0] == '/' || slash == NULL) ? 0 : (size_t)(slash - config_path) + 1;
	size_t flen = strlen(file);
	char *p;

	if ((p = malloc(dir + flen + 1)) == NULL)
		return NULL;
	memcpy(p, config_path, dir);
	memcpy(p + dir, file, flen + 1);
	return p;
}

/* Parses blocklist text (NULL: the built-in list) into f; `name` prefixes
 * the error. */
static pigeon_status
filter_set_blocklist(spam_filter *f, const char *text, size_t len, const char *name, char *errbuf,
                     size_t errlen)
{
	char why[160];
	pigeon_status rv;

	if (text == NULL) {
		text = builtin_blocklist;
		len = sizeof(builtin_blocklist) - 1;
		name = "built-in blocklist";
	}
	if ((rv = spam_blocklist_parse(&f->blocklist, text, len, why, sizeof(why))) != PIGEON_OK)
		err_printf(errbuf, errlen, "%s: %s", name, why);
	return rv;
}

static pigeon_status
filter_set_config(spam_filter *f, const char *text, size_t len, const char *name, char *errbuf,
                  size_t errlen)
{
	char why[160];
	pigeon_status rv;

	if ((rv = spam_config_parse(&f->cfg, text, len, why, sizeof(why))) != PIGEON_OK)
		err_printf(errbuf, errlen, "%s: %s", name, why);
	return rv;
}

pigeon_status
spam_filter_new(spam_filter **out, const char *config, size_t config_len, const char *blocklist,
                size_t blocklist_len, char *errbuf, size_t errlen)
{
	spam_filter *f;
	pigeon_status rv;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	spam_config_init(&f->cfg);
	if (config != NULL &&
	    (rv = filter_set_config(f, config, config_len, "config", errbuf, errlen)) != PIGEON_OK)
		goto fail_free;
	if (f->cfg.blocklist_enabled &&
	    (rv = filter_set_blocklist(f, blocklist, blocklist_len, "blocklist", errbuf, errlen)) !=
	        PIGEON_OK)
		goto fail_free;
	*out = f;
	return PIGEON_OK;

fail_free:
	spam_filter_free(f);
	return rv;
}

pigeon_status
spam_filter_load(spam_filter **out, const char *path, char *errbuf, size_t errlen)
{
	spam_filter *f;
	char *text = NULL, *bl_path = NULL;
	size_t len = 0;
	pigeon_status rv;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	spam_config_init(&f->cfg);
	if (path != NULL) {
		if ((rv = spam_read_file(path, CONFIG_FILE_MAX, &text, &len)) != PIGEON_OK) {
			err_printf(errbuf, errlen, "%s: %s", path, read_problem(rv));
			goto fail_free;
		}
		rv = filter_set_config(f, text, len, path, errbuf, errlen);
		free(text);
		text = NULL;
		if (rv != PIGEON_OK)
			goto fail_free;
	}
	if (!f->cfg.blocklist_enabled)
		goto done;
	if (f->cfg.blocklist_file != NULL) {
		if ((bl_path = blocklist_path(path, f->cfg.blocklist_file)) == NULL) {
			rv = PIGEON_RESOURCE_EXHAUSTED;
			goto fail_free;
		}
		if ((rv = spam_read_file(bl_path, BLOCKLIST_FILE_MAX, &text, &len)) != PIGEON_OK) {
			err_printf(errbuf, errlen, "%s: %s", bl_path, read_problem(rv));
			goto fail_path;
		}
	}
	rv = filter_set_blocklist(f, text, len, bl_path, errbuf, errlen);
	free(text);
	free(bl_path);
	if (rv != PIGEON_OK)
		goto fail_free;
done:
	*out = f;
	return PIGEON_OK;

fail_path:
	free(bl_path);
fail_free:
	spam_filter_free(f);
	return rv;
}

void
spam_filter_free(spam_filter *f)
{
	if (f == NULL)
		return;
	spam_blocklist_free(f->blocklist);
	spam_config_fini(&f->cfg);
	free(f);
}

uint32_t
spam_rate_window(const spam_filter *f)
{
	return f->cfg.rate_window;
}

uint32_t
spam_flood_window(const spam_filter *f)
{
	return f->cfg.flood_window;
}

bool
spam_dry_run(const spam_filter *f)
{
	return f->cfg.dry_run;
}

size_t
spam_blocklist_terms(const spam_filter *f)
{
	return f->blocklist != NULL ? spam_blocklist_size(f->blocklist) : 0;
}

/* The fingerprint being hashed: whether a word has been seen and whether
 * white space is pending since. */
typedef struct fp_state {
	uint64_t h;
	bool started;
	bool space;
} fp_state;

/* Hashes normal-form text, each run of white space as one space, none at
 * the start; a space is hashed only once something follows it. */
static void
fp_add(fp_state *fp, const char *s, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		uint32_t cp;
		pos += spam_utf8_next(s + pos, len - pos, &cp);
		if (spam_is_space(cp)) {
			fp->space = fp->started;
			continue;
		}
		if (fp->space)
			fp->h = (fp->h ^ ' ') * FNV_PRIME;
		fp->space = false;
		fp->started = true;
		fp->h = (fp->h ^ cp) * FNV_PRIME;
	}
}

/*
 * The hash of the content's normal form (text.h: case, compatibility forms,
 * invisible characters, accents and look-alike letters folded away) without
 * its digits, every run of white space one space and none at the ends, so
 * "WIN 500 euros", "win  999 Euros" and "wіn 12 еuros" (Cyrillic і and е)
 * give one fingerprint.  Digits go before normalising, because the normal
 * form reads some of them as letters ("0" as "o").  Each run between digits
 * is normalised in pieces into a fixed buffer: nothing is allocated.
 */
uint64_t
spam_fingerprint(const char *content, size_t len)
{
	char buf[2 * SPAM_TEXT_PART_MIN];
	fp_state fp = {.h = FNV_BASIS};
	size_t pos = 0;

	while (pos < len) {
		size_t end = pos, digit = 0;

		while (end < len && digit == 0) {
			uint32_t cp;
			size_t n = spam_utf8_next(content + end, len - end, &cp);
			if (spam_is_digit(cp))
				digit = n;
			else
				end += n;
		}
		while (pos < end) {
			size_t used, n;

			/* Only when ICU's data cannot be loaded, and then no
			 * filter loads either: the bytes as they are. */
			if (spam_text_normalize_part(content + pos, end - pos, buf, sizeof(buf),
			                             &used, &n) != PIGEON_OK) {
				fp_add(&fp, content + pos, end - pos);
				break;
			}
			fp_add(&fp, buf, n);
			pos += used;
		}
		pos = end + digit;
	}
	return fp.h;
}

static bool
token_is_link(const char *s, size_t len)
{
	static const char www[] = "www.";

	if (len >= 4) {
		size_t i = 0;
		while (i < 4 && (s[i] | 0x20) == www[i])
			i++;
		if (i == 4)
			return true;
	}
	for (size_t i = 0; i + 3 <= len; i++)
		if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/')
			return true;
	return false;
}

/* What shape counts in the words of a message that are not links. */
typedef struct shape_counts {
	size_t tokens;
	size_t links;
	size_t letters;
	size_t upper;
	size_t chars;
	size_t repeated;
} shape_counts;

static void
count_token(shape_counts *c, const char *s, size_t len, uint32_t repeats_run)
{
	uint32_t prev = 0;
	size_t run = 0, pos = 0;

	while (pos < len) {
		uint32_t cp;
		pos += spam_utf8_next(s + pos, len - pos, &cp);
		if (spam_is_invisible(cp))
			continue;
		if (spam_is_cased_letter(cp)) {
			c->letters++;
			c->upper += spam_fold(cp) != cp;
		}
		cp = spam_fold(cp);
		c->chars++;
		if (run > 0 && cp == prev) {
			run++;
			continue;
		}
		if (run >= repeats_run)
			c->repeated += run;
		prev = cp;
		run = 1;
	}
	if (run >= repeats_run)
		c->repeated += run;
}

void
spam_shape_measure(const spam_filter *f, const char *content, size_t len, spam_shape *out)
{
	const spam_config *cfg = &f->cfg;
	shape_counts c = {0};
	size_t pos = 0, start = 0;
	bool in_token = false;

	while (pos <= len) {
		uint32_t cp = ' ';
		size_t n = pos < len ? spam_utf8_next(content + pos, len - pos, &cp) : 1;

		if (!spam_is_space(cp)) {
			if (!in_token)
				start = pos;
			in_token = true;
		} else if (in_token) {
			in_token = false;
			c.tokens++;
			if (token_is_link(content + start, pos - start))
				c.links++;
			else
				count_token(&c, content + start, pos - start,
				            cfg->shape_repeats_run);
		}
		pos += n;
	}
	out->links = c.links > cfg->shape_links_free
	                 ? cfg->shape_links_weight * (double)c.links / (double)c.tokens
	                 : 0.0;
	out->caps = c.letters >= cfg->shape_caps_min_letters && c.letters > 0
	                ? cfg->shape_caps_weight * (double)c.upper / (double)c.letters
	                : 0.0;
	out->repeats =
	    c.chars > 0 ? cfg->shape_repeats_weight * (double)c.repeated / (double)c.chars : 0.0;
	out->score = out->links + out->caps + out->repeats;
}

/* Appends to the reasons, ", "-separated; a full buffer keeps what fits. */
static void
reason_add(spam_verdict *v, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used > 0 && *used + 2 < sizeof(v->reasons)) {
		memcpy(v->reasons + *used, ", ", 3);
		*used += 2;
	}
	if (*used + 1 >= sizeof(v->reasons))
		return;
	va_start(ap, fmt);
	n = vsnprintf(v->reasons + *used, sizeof(v->reasons) - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n < sizeof(v->reasons) - *used ? (size_t)n
		                                                : sizeof(v->reasons) - *used - 1;
}

void
spam_check(const spam_filter *f, const spam_message *m, const spam_history *h, spam_verdict *out)
{
	const spam_config *cfg = &f->cfg;
	const char *content = m->content != NULL ? m->content : "";
	size_t len = m->content != NULL ? m->content_len : 0;
	size_t used = 0;
	const char *term;

	assert(m->content != NULL || m->content_len == 0);
	out->spam = false;
	out->score = 0.0;
	out->rules = 0;
	out->reasons[0] = '\0';

	if (cfg->rate_enabled && h != NULL && h->sent_in_window > cfg->rate_max) {
		out->spam = true;
		out->score += cfg->rate_weight;
		out->rules |= 1u << SPAM_RULE_RATE;
		reason_add(out, &used, "rate(%" PRIu32 ">%" PRIu32 "/%" PRIu32 "s)",
		           h->sent_in_window, cfg->rate_max, cfg->rate_window);
	}
	if (cfg->flood_enabled && h != NULL && h->flood_recipients > cfg->flood_max_recipients) {
		out->spam = true;
		out->score += cfg->flood_weight;
		out->rules |= 1u << SPAM_RULE_FLOOD;
		reason_add(out, &used, "flood(%" PRIu32 ">%" PRIu32 "/%" PRIu32 "s)",
		           h->flood_recipients, cfg->flood_max_recipients, cfg->flood_window);
	}
	if (f->blocklist != NULL &&
	    (term = spam_blocklist_find(f->blocklist, content, len)) != NULL) {
		out->spam = true;
		out->score += cfg->blocklist_weight;
		out->rules |= 1u << SPAM_RULE_BLOCKLIST;
		reason_add(out, &used, "blocklist(%s)", term);
	}
	if (cfg->shape_enabled) {
		spam_shape s;
		spam_shape_measure(f, content, len, &s);
		if (s.score >= cfg->shape_threshold) {
			out->spam = true;
			out->score += s.score;
			out->rules |= 1u << SPAM_RULE_SHAPE;
			reason_add(out, &used, "shape(score %.2f>=%.2f:%s%s%s%s%s)", s.score,
			           cfg->shape_threshold, s.links > 0 ? " links" : "",
			           s.links > 0 && s.caps > 0 ? "," : "", s.caps > 0 ? " caps" : "",
			           (s.links > 0 || s.caps > 0) && s.repeats > 0 ? "," : "",
			           s.repeats > 0 ? " repeats" : "");
		}
	}
	if (h != NULL && h->model != NULL) {
		spam_bayes_verdict b;

		spam_bayes_classify(h->model, content, len, &b);
		if (b.outcome == SPAM_BAYES_SPAM) {
			out->spam = true;
			out->score += b.score;
			out->rules |= 1u << SPAM_RULE_BAYES;
			reason_add(out, &used, "%s", b.reason);
		}
	}
}

const char *
spam_rule_name(spam_rule r)
{
	static const char *const names[SPAM_RULE_COUNT] = {
		[SPAM_RULE_RATE] = "rate",
		[SPAM_RULE_FLOOD] = "flood",
		[SPAM_RULE_BLOCKLIST] = "blocklist",
		[SPAM_RULE_SHAPE] = "shape",
		[SPAM_RULE_BAYES] = "bayes",
	};

	return (unsigned)r < SPAM_RULE_COUNT ? names[r] : "unknown";
}
