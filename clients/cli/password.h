/* SPDX-License-Identifier: MIT */
/*
 * Where the pigeon command gets a password: the terminal, without echo, or
 * the first line of a file.  It reads byte by byte from a file descriptor,
 * so that no stdio buffer keeps a copy, and wipes what it read when it
 * fails.  It prints nothing but the prompts (on the terminal); callers
 * report errors and wipe the password once sent.
 */
#ifndef PIGEON_CLI_PASSWORD_H
#define PIGEON_CLI_PASSWORD_H

#include <stddef.h>

#include <pigeon/pigeon.h>

/* The longest password pigeond takes (RegisterUserRequest.password: 8 to
 * 1,024 bytes), and the size of a buffer that holds one. */
#define PASSWORD_MAX 1024
#define PASSWORD_CAP (PASSWORD_MAX + 1)

/* Asks for a password on the terminal (/dev/tty, also when standard input
 * and output are redirected): writes prompt there, turns echo off, reads one
 * line into out (PASSWORD_CAP bytes, NUL-terminated, without its line end)
 * and restores the terminal.  With confirm not NULL, asks again with that
 * prompt and refuses a different answer.  A signal that ends the process
 * (Ctrl-C) restores the terminal first.  Borrows every argument.
 * INVALID_ARGUMENT for an empty password, one over PASSWORD_MAX bytes or a
 * confirmation that differs; UNKNOWN when there is no terminal or it cannot
 * be read; CANCELLED when a signal interrupted the reading.  On failure err
 * says why (no byte of the password) and out is wiped. */
pigeon_status password_ask(const char *prompt, const char *confirm, char *out, char *err,
    size_t errlen);

/* Reads the first line of the file at path ("-": standard input) into out
 * (PASSWORD_CAP bytes), without its line end ("\n" or "\r\n").  Borrows
 * every argument.  INVALID_ARGUMENT for an empty first line or one over
 * PASSWORD_MAX bytes; UNKNOWN when the file cannot be opened or read.  On
 * failure err says why, naming the file, and out is wiped. */
pigeon_status password_read_file(const char *path, char *out, char *err, size_t errlen);

/* Overwrites a password in memory once it is no longer needed. */
void password_wipe(char *pw);

#endif
