/* SPDX-License-Identifier: MIT */
/*
 * The spam filter's settings: their defaults and the `key = value` file
 * format they are read from.  It owns parsing and range checks only; the
 * blocklist file a config names is read by spam.c and parsed by
 * blocklist.c.  Pure functions, thread-safe.
 */
#ifndef PIGEON_SPAM_CONFIG_H
#define PIGEON_SPAM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

typedef struct spam_config {
	bool rate_enabled;
	uint32_t rate_max;
	uint32_t rate_window;
	double rate_weight;

	bool flood_enabled;
	uint32_t flood_max_recipients;
	uint32_t flood_window;
	double flood_weight;

	bool blocklist_enabled;
	/* As written in the file (relative to the config's directory), or
	 * NULL for the built-in list.  Owned by the config. */
	char *blocklist_file;
	double blocklist_weight;

	bool shape_enabled;
	double shape_threshold;
	double shape_links_weight;
	uint32_t shape_links_free;
	double shape_caps_weight;
	uint32_t shape_caps_min_letters;
	double shape_repeats_weight;
	uint32_t shape_repeats_run;

	bool dry_run;
} spam_config;

/* Fills cfg with the documented defaults (docs/spam.md). */
void spam_config_init(spam_config *cfg);
/* Frees what cfg owns; accepts NULL. */
void spam_config_fini(spam_config *cfg);

/* Applies the settings in text[0..len) on top of what cfg holds.  Returns
 * INVALID_ARGUMENT with "line N: why" in errbuf for an unknown or repeated
 * key, a malformed line or a value out of range (cfg is then partly
 * updated: fini it), RESOURCE_EXHAUSTED when memory runs out. */
pigeon_status spam_config_parse(spam_config *cfg, const char *text, size_t len, char *errbuf,
                                size_t errlen);

/* Reads a whole file of at most `max` bytes into a NUL-terminated heap
 * buffer (the caller frees it).  NOT_FOUND for a missing file,
 * INVALID_ARGUMENT for one larger than max, else the errno's status. */
pigeon_status spam_read_file(const char *path, size_t max, char **out, size_t *len_out);

#endif
