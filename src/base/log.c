/* SPDX-License-Identifier: MIT */
/* The process-wide log level and the line writer; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int log_level_now = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
log_set_level(log_level lv)
{
	atomic_store(&log_level_now, lv);
}

bool
log_set_level_name(const char *name)
{
	for (int i = 0; i <= LOG_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			log_set_level((log_level)i);
			return true;
		}
	}
	return false;
}

static bool
log_enabled(log_level lv)
{
	return (int)lv <= atomic_load(&log_level_now);
}

void
log_write(log_level lv, const char *module, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (!log_enabled(lv))
		return;
	n = snprintf(line, sizeof(line), "%s %s: ", level_names[lv], module);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line, so lines of concurrent threads never interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
