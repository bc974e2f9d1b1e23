/* SPDX-License-Identifier: MIT */
/*
 * The pigeon command's saved session: where its token file is, and reading,
 * writing and removing it.  The file holds the session token on its first
 * line and the username it was issued to on the second, each followed by a
 * line feed; it is written whole or not at all (a temporary file renamed
 * over it), with mode 0600, in directories made 0700.  This module knows
 * nothing of RPCs and prints nothing: callers report its errors, whose text
 * never holds a byte of the token.
 */
#ifndef PIGEON_CLI_TOKEN_FILE_H
#define PIGEON_CLI_TOKEN_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include <pigeon/pigeon.h>

/* A username is 1 to 64 bytes (proto/pigeon/v1/pigeon.proto). */
#define TOKEN_FILE_USERNAME_MAX 64

typedef struct token_file_saved {
	char token[PIGEON_TOKEN_MAX + 1];
	/* Whose token it is; "" when the file does not say (a token written
	 * there by hand, alone on its line). */
	char username[TOKEN_FILE_USERNAME_MAX + 1];
	/* Group or others may read or write the file. */
	bool open_to_others;
} token_file_saved;

/* Writes into out (len bytes) where the token file is: `option` (the
 * --token-file argument) when not NULL; else `env_file` (PIGEON_TOKEN_FILE)
 * when set and not empty; else pigeon/token in `xdg_config_home`
 * (XDG_CONFIG_HOME) when that is an absolute path, as the XDG Base
 * Directory specification wants; else .config/pigeon/token in `home`
 * (HOME).  Pure: the caller passes the environment's values (or NULL).
 * Borrows every argument.  NOT_FOUND when none of them gives a path;
 * INVALID_ARGUMENT for an empty `option` or a path of len bytes or more. */
pigeon_status token_file_path(char *out, size_t len, const char *option, const char *env_file,
    const char *xdg_config_home, const char *home);

/* Reads the token file at path into *out.  Borrows path.  NOT_FOUND when
 * there is no file (no saved session); INVALID_ARGUMENT when it is not a
 * regular file or does not hold a token (an empty first line, one over
 * PIGEON_TOKEN_MAX bytes, a space or control character in it) or a
 * username (a second line over TOKEN_FILE_USERNAME_MAX bytes or with a
 * control character); UNKNOWN when it cannot be read.  On failure err
 * (errlen bytes) says why and names the file. */
pigeon_status token_file_load(const char *path, token_file_saved *out, char *err, size_t errlen);

/* Saves token and username in the file at path, replacing it atomically
 * (a temporary file in the same directory, written, synced and renamed over
 * it) with mode 0600, after making the missing directories of path with
 * mode 0700.  Borrows every argument.  UNKNOWN when a directory or the file
 * cannot be made or written, with err saying why; nothing is left of the
 * temporary file. */
pigeon_status token_file_save(const char *path, const char *token, const char *username,
    char *err, size_t errlen);

/* Removes the file at path; OK also when there is none.  UNKNOWN when it
 * cannot be removed, with err saying why. */
pigeon_status token_file_remove(const char *path, char *err, size_t errlen);

#endif
