/* SPDX-License-Identifier: MIT */
/* The shared option parser; see opts.h. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "pigeon-config.h"

#define OPTS_MAX 64

static bool
opt_set(const opt_def *d, const char *value, const char *origin)
{
	char *end;
	unsigned long long v;

	switch (d->kind) {
	case OPT_STRING:
		*(const char **)d->target = value;
		return true;
	case OPT_FLAG:
		if (value == NULL || strcmp(value, "1") == 0 || strcmp(value, "true") == 0 ||
		    strcmp(value, "yes") == 0) {
			*(bool *)d->target = true;
			return true;
		}
		if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 ||
		    strcmp(value, "no") == 0) {
			*(bool *)d->target = false;
			return true;
		}
		break;
	case OPT_UINT:
		errno = 0;
		if (value[0] >= '0' && value[0] <= '9') {
			v = strtoull(value, &end, 10);
			if (errno == 0 && *end == '\0') {
				*(uint64_t *)d->target = v;
				return true;
			}
		}
		break;
	}
	fprintf(stderr, "invalid value '%s' for --%s (from %s)\n", value, d->name, origin);
	return false;
}

/* Prints the option table, as --help does. */
static void
opts_usage(FILE *f, const opt_def *defs, const char *prog, const char *usage, const char *summary)
{
	fprintf(f, "Usage: %s %s\n\n%s\n\nOptions:\n", prog, usage, summary);
	for (const opt_def *d = defs; d->name != NULL; d++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s", d->name,
		    d->kind == OPT_FLAG ? "" : (d->kind == OPT_UINT ? " N" : " VALUE"));
		fprintf(f, "  %-26s %s", left, d->help);
		if (d->def != NULL)
			fprintf(f, " (default: %s)", d->def);
		if (d->env != NULL)
			fprintf(f, " [env %s]", d->env);
		fputc('\n', f);
	}
	fprintf(f, "  %-26s %s\n  %-26s %s\n", "--help", "show this help and exit", "--version",
	    "show the version and exit");
}

bool
opts_parse(const opt_def *defs, int argc, char **argv, const char *usage, const char *summary,
    int *optind_out, int *exit_code)
{
	struct option longopts[OPTS_MAX + 3];
	size_t n = 0;
	int c;

	for (const opt_def *d = defs; d->name != NULL && n < OPTS_MAX; d++, n++) {
		if (d->def != NULL && !opt_set(d, d->def, "default"))
			goto bad;
		const char *env = d->env != NULL ? getenv(d->env) : NULL;

		if (env != NULL && env[0] != '\0' && !opt_set(d, env, d->env))
			goto bad;
		longopts[n] = (struct option){d->name,
		    d->kind == OPT_FLAG ? no_argument : required_argument, NULL, (int)n + 1};
	}
	longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n++] = (struct option){"version", no_argument, NULL, 'V'};
	longopts[n] = (struct option){NULL, 0, NULL, 0};

	optind = 1;
	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		if (c == 'h') {
			opts_usage(stdout, defs, argv[0], usage, summary);
			*exit_code = 0;
			return false;
		}
		if (c == 'V') {
			printf("%s %s\n", argv[0], PIGEON_VERSION);
			*exit_code = 0;
			return false;
		}
		if (c <= 0 || (size_t)c > n - 2) {
			fprintf(stderr, "Try '%s --help'.\n", argv[0]);
			goto bad;
		}
		if (!opt_set(&defs[c - 1], optarg, "the command line"))
			goto bad;
	}
	*optind_out = optind;
	return true;

bad:
	*exit_code = 2;
	return false;
}
