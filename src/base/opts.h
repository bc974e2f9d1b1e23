/* SPDX-License-Identifier: MIT */
/*
 * Command-line options with environment-variable forms, shared by every
 * Pigeon program: one table describes each option (long name, variable,
 * default, help), so --help, the environment and the parser cannot disagree.
 * An option given on the command line wins over its variable.
 */
#ifndef PIGEON_OPTS_H
#define PIGEON_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum opt_kind {
	OPT_STRING,
	OPT_UINT,
	OPT_FLAG,
} opt_kind;

typedef struct opt_def {
	const char *name; /* long option, without "--" */
	const char *env;  /* environment variable, or NULL */
	opt_kind kind;
	const char *def;  /* default as text, or NULL */
	const char *help;
	/* Where the value goes: const char ** for OPT_STRING, uint64_t * for
	 * OPT_UINT, bool * for OPT_FLAG. */
	void *target;
} opt_def;

/* Applies defaults, then the environment, then argv.  Handles --help (prints
 * usage to stdout, *exit_code = 0) and --version.  Returns false when the
 * program should exit with *exit_code (after --help, --version, or a bad
 * option, which is reported on stderr with exit code 2).  On true, *optind_out
 * is the index of the first non-option argument. */
bool opts_parse(const opt_def *defs, int argc, char **argv, const char *usage,
    const char *summary, int *optind_out, int *exit_code);

#endif
