/* SPDX-License-Identifier: MIT */
/*
 * The texts `pigeon train` sends: every regular file of a directory is one
 * text, read whole, and checked before anything is sent (no larger than
 * pigeond's content limit, valid UTF-8, no NUL byte, which a protobuf
 * string would cut short); and how many of them fit one Train call.  It
 * prints nothing: each problem goes to the caller's callback, naming the
 * file.  It owns no RPC; main.c sends the batches.
 */
#ifndef PIGEON_CLI_TEXTS_H
#define PIGEON_CLI_TEXTS_H

#include <stdbool.h>
#include <stddef.h>

#include <pigeon/pigeon.h>

/* Texts, each NUL-terminated and len[i] bytes long. */
typedef struct texts {
	char **v;
	size_t *len;
	size_t n;
	size_t cap;
} texts;

/* Called once per problem with a line saying what is wrong and with which
 * file ("spam/a.txt: not valid UTF-8 (byte 3)"); the line lives during the
 * call. */
typedef void (*texts_problem_fn)(void *arg, const char *line);

/* Appends to t one text per regular file of dir (a symbolic link to one
 * counts; directories and other entries are not texts), in byte order of
 * their names.  Every file is looked at: each that cannot be read, is larger
 * than max bytes, is not valid UTF-8 or holds a NUL byte, and a dir that
 * cannot be read, is reported to problem, and then the call returns
 * INVALID_ARGUMENT, having appended nothing.  RESOURCE_EXHAUSTED without
 * memory.  Borrows every argument but t. */
pigeon_status texts_read_dir(texts *t, const char *dir, size_t max, texts_problem_fn problem,
    void *arg);

/* Bytes a text of len bytes adds to a packed request (its field's tag and
 * length, then the bytes). */
size_t texts_packed_size(size_t len);

/* How many texts from index from of the sequence a then b (a's n texts,
 * then b's) fit one call: at most count_max, and at most budget bytes
 * packed; at least one while any is left. */
size_t texts_batch(const texts *a, const texts *b, size_t from, size_t count_max,
    size_t budget);

/* True when buf[0..len) is valid UTF-8: no overlong forms, no surrogates,
 * nothing above U+10FFFF (pigeond's rule).  *bad is the offset of the first
 * byte at fault otherwise. */
bool texts_utf8(const char *buf, size_t len, size_t *bad);

/* Frees t's texts; t may be zeroed or NULL. */
void texts_fini(texts *t);

#endif
