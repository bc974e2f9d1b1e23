/* SPDX-License-Identifier: MIT */
/* The settings table and its `key = value` parser; see config.h. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "validate.h"

typedef enum key_type {
	KEY_BOOL,
	KEY_U32,
	KEY_DOUBLE,
	KEY_PATH,
} key_type;

/* Every setting, with its range.  docs/spam.md lists the same keys. */
static const struct config_key {
	const char *name;
	key_type type;
	size_t offset;
	double min;
	double max;
} config_keys[] = {
    {"rate.enabled", KEY_BOOL, offsetof(spam_config, rate_enabled), 0, 1},
    {"rate.max", KEY_U32, offsetof(spam_config, rate_max), 1, 1000000},
    {"rate.window", KEY_U32, offsetof(spam_config, rate_window), 1, 86400},
    {"rate.weight", KEY_DOUBLE, offsetof(spam_config, rate_weight), 0, 100},
    {"flood.enabled", KEY_BOOL, offsetof(spam_config, flood_enabled), 0, 1},
    {"flood.max_recipients", KEY_U32, offsetof(spam_config, flood_max_recipients), 1, 1000000},
    {"flood.window", KEY_U32, offsetof(spam_config, flood_window), 1, 86400},
    {"flood.weight", KEY_DOUBLE, offsetof(spam_config, flood_weight), 0, 100},
    {"blocklist.enabled", KEY_BOOL, offsetof(spam_config, blocklist_enabled), 0, 1},
    {"blocklist.file", KEY_PATH, offsetof(spam_config, blocklist_file), 0, 0},
    {"blocklist.weight", KEY_DOUBLE, offsetof(spam_config, blocklist_weight), 0, 100},
    {"shape.enabled", KEY_BOOL, offsetof(spam_config, shape_enabled), 0, 1},
    {"shape.threshold", KEY_DOUBLE, offsetof(spam_config, shape_threshold), 0.01, 100},
    {"shape.links_weight", KEY_DOUBLE, offsetof(spam_config, shape_links_weight), 0, 100},
    {"shape.links_free", KEY_U32, offsetof(spam_config, shape_links_free), 0, 1000},
    {"shape.caps_weight", KEY_DOUBLE, offsetof(spam_config, shape_caps_weight), 0, 100},
    {"shape.caps_min_letters", KEY_U32, offsetof(spam_config, shape_caps_min_letters), 0, 100000},
    {"shape.repeats_weight", KEY_DOUBLE, offsetof(spam_config, shape_repeats_weight), 0, 100},
    {"shape.repeats_run", KEY_U32, offsetof(spam_config, shape_repeats_run), 2, 1000},
    {"dry_run", KEY_BOOL, offsetof(spam_config, dry_run), 0, 1},
};

#define CONFIG_KEY_COUNT (sizeof(config_keys) / sizeof(config_keys[0]))
#define CONFIG_LINE_MAX 4096

void
spam_config_init(spam_config *cfg)
{
	*cfg = (spam_config){
	    .rate_enabled = true,
	    .rate_max = 30,
	    .rate_window = 60,
	    .rate_weight = 1.0,
	    .flood_enabled = true,
	    .flood_max_recipients = 5,
	    .flood_window = 300,
	    .flood_weight = 1.0,
	    .blocklist_enabled = true,
	    .blocklist_file = NULL,
	    .blocklist_weight = 1.0,
	    .shape_enabled = true,
	    .shape_threshold = 2.0,
	    .shape_links_weight = 1.5,
	    .shape_links_free = 1,
	    .shape_caps_weight = 1.0,
	    .shape_caps_min_letters = 6,
	    .shape_repeats_weight = 1.0,
	    .shape_repeats_run = 3,
	    .dry_run = false,
	};
}

void
spam_config_fini(spam_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->blocklist_file);
	cfg->blocklist_file = NULL;
}

static pigeon_status
config_error(char *errbuf, size_t errlen, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errbuf == NULL || errlen == 0)
		return PIGEON_INVALID_ARGUMENT;
	n = snprintf(errbuf, errlen, "line %u: ", line);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return PIGEON_INVALID_ARGUMENT;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static const struct config_key *
key_find(const char *name, size_t len, size_t *index)
{
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		if (strlen(config_keys[i].name) == len &&
		    memcmp(config_keys[i].name, name, len) == 0) {
			*index = i;
			return &config_keys[i];
		}
	}
	return NULL;
}

static bool
parse_bool(const char *v, size_t len, bool *out)
{
	static const struct {
		const char *word;
		bool value;
	} words[] = {
	    {"true", true},   {"yes", true}, {"on", true},   {"1", true},
	    {"false", false}, {"no", false}, {"off", false}, {"0", false},
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) == len && memcmp(words[i].word, v, len) == 0) {
			*out = words[i].value;
			return true;
		}
	}
	return false;
}

/* Plain decimal only: no sign, exponent, hex or "inf", so that what the
 * operator wrote is what the filter uses. */
static bool
parse_number(const char *v, size_t len, bool integer, double *out)
{
	char buf[32];
	char *end;
	size_t dots = 0;

	if (len == 0 || len >= sizeof(buf))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '.' && !integer)
			dots++;
		else if (v[i] < '0' || v[i] > '9')
			return false;
	}
	if (dots > 1 || v[0] == '.' || v[len - 1] == '.')
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtod(buf, &end);
	return errno == 0 && *end == '\0' && isfinite(*out);
}

static pigeon_status
apply(spam_config *cfg, const struct config_key *k, const char *v, size_t len, unsigned line,
      char *errbuf, size_t errlen)
{
	char *field = (char *)cfg + k->offset;
	double d;
	bool b;
	char *path;
	char **slot;

	switch (k->type) {
	case KEY_BOOL:
		if (!parse_bool(v, len, &b))
			return config_error(errbuf, errlen, line,
			                    "%s: expected true or false, got \"%.*s\"", k->name,
			                    (int)len, v);
		memcpy(field, &b, sizeof(b));
		return PIGEON_OK;
	case KEY_U32:
	case KEY_DOUBLE:
		if (!parse_number(v, len, k->type == KEY_U32, &d))
			return config_error(
			    errbuf, errlen, line, "%s: expected %s, got \"%.*s\"", k->name,
			    k->type == KEY_U32 ? "a whole number" : "a number", (int)len, v);
		if (d < k->min || d > k->max)
			return config_error(errbuf, errlen, line,
			                    "%s: %.*s is outside %.*f to %.*f", k->name, (int)len,
			                    v, k->type == KEY_U32 ? 0 : 2, k->min,
			                    k->type == KEY_U32 ? 0 : 2, k->max);
		if (k->type == KEY_U32) {
			uint32_t u = (uint32_t)d;
			memcpy(field, &u, sizeof(u));
		} else {
			memcpy(field, &d, sizeof(d));
		}
		return PIGEON_OK;
	case KEY_PATH:
		if (memchr(v, '\0', len) != NULL || !validate_utf8(v, len))
			return config_error(errbuf, errlen, line, "%s: not a UTF-8 path", k->name);
		if ((path = malloc(len + 1)) == NULL)
			return PIGEON_RESOURCE_EXHAUSTED;
		memcpy(path, v, len);
		path[len] = '\0';
		slot = (char **)(void *)field;
		free(*slot);
		*slot = path;
		return PIGEON_OK;
	}
	return PIGEON_INTERNAL;
}

pigeon_status
spam_config_parse(spam_config *cfg, const char *text, size_t len, char *errbuf, size_t errlen)
{
	uint32_t seen = 0;
	size_t pos = 0;
	unsigned line = 0;
	pigeon_status rv;

	_Static_assert(CONFIG_KEY_COUNT <= 32, "seen is a 32-bit mask");
	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;
		const char *eq, *key_end, *val, *val_end, *end = s + n;
		const struct config_key *k;
		size_t index;

		pos += n + (nl != NULL);
		line++;
		if (n > CONFIG_LINE_MAX)
			return config_error(errbuf, errlen, line, "line longer than %d bytes",
			                    CONFIG_LINE_MAX);
		if (memchr(s, '\0', n) != NULL)
			return config_error(errbuf, errlen, line, "NUL byte");
		while (s < end && is_blank(*s))
			s++;
		/* A '#' starts a comment at the start of a line or after a blank. */
		for (const char *c = s; c < end; c++) {
			if (*c == '#' && (c == s || is_blank(c[-1]))) {
				end = c;
				break;
			}
		}
		while (end > s && is_blank(end[-1]))
			end--;
		if (s == end)
			continue;
		if ((eq = memchr(s, '=', (size_t)(end - s))) == NULL)
			return config_error(errbuf, errlen, line, "expected key = value");
		key_end = eq;
		while (key_end > s && is_blank(key_end[-1]))
			key_end--;
		val = eq + 1;
		while (val < end && is_blank(*val))
			val++;
		val_end = end;
		if (key_end == s)
			return config_error(errbuf, errlen, line, "expected key = value");
		if ((k = key_find(s, (size_t)(key_end - s), &index)) == NULL)
			return config_error(errbuf, errlen, line, "unknown key \"%.*s\"",
			                    (int)(key_end - s > 64 ? 64 : key_end - s), s);
		if (seen & (UINT32_C(1) << index))
			return config_error(errbuf, errlen, line, "%s set twice", k->name);
		seen |= UINT32_C(1) << index;
		if (val == val_end)
			return config_error(errbuf, errlen, line, "%s: missing value", k->name);
		if ((rv = apply(cfg, k, val, (size_t)(val_end - val), line, errbuf, errlen)) !=
		    PIGEON_OK)
			return rv;
	}
	return PIGEON_OK;
}

pigeon_status
spam_read_file(const char *path, size_t max, char **out, size_t *len_out)
{
	FILE *fp;
	char *buf;
	size_t len;
	pigeon_status rv;

	if ((fp = fopen(path, "rb")) == NULL)
		return status_from_errno(errno);
	if ((buf = malloc(max + 2)) == NULL) {
		rv = PIGEON_RESOURCE_EXHAUSTED;
		goto fail_close;
	}
	/* Ask for one byte more than allowed to tell "exactly max" from "more". */
	len = fread(buf, 1, max + 1, fp);
	if (ferror(fp)) {
		rv = status_from_errno(errno != 0 ? errno : EIO);
		goto fail_free;
	}
	if (len > max) {
		rv = PIGEON_INVALID_ARGUMENT;
		goto fail_free;
	}
	buf[len] = '\0';
	fclose(fp);
	*out = buf;
	*len_out = len;
	return PIGEON_OK;

fail_free:
	free(buf);
fail_close:
	fclose(fp);
	return rv;
}
