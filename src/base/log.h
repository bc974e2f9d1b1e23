/* SPDX-License-Identifier: MIT */
/*
 * Logging: one stderr line per event, `level module: text key=value`.  The
 * level is process-wide, set once from --log-level.  Never log message
 * contents or secrets.  Thread-safe: each line is one write.
 */
#ifndef PIGEON_LOG_H
#define PIGEON_LOG_H

#include <stdbool.h>

typedef enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
} log_level;

/* Sets the level from its name ("error", "warn", "info", "debug"); false for
 * any other name, the level unchanged. */
bool log_set_level_name(const char *name);
void log_set_level(log_level lv);

/* Writes one line if lv is enabled.  `module` names the writer ("rpc"). */
void log_write(log_level lv, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_write(LOG_DEBUG, mod, __VA_ARGS__)

#endif
