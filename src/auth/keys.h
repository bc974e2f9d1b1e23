/* SPDX-License-Identifier: MIT */
/*
 * The keys that sign session tokens: the current key, which signs, and an
 * optional previous key, which only verifies, so that a key can be rotated
 * without logging everybody out.  This module owns the key bytes and is the
 * only one that touches them: it reads key files, computes and checks
 * HMAC-SHA256 tags, and wipes the keys when freed.  What a token contains is
 * token.c's business; docs/auth.md describes both.  A key never reaches a
 * log, an error text or a caller.  A key set never changes once made: any
 * number of threads may sign and verify with it at once.
 */
#ifndef PIGEON_AUTH_KEYS_H
#define PIGEON_AUTH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>

/* A key is 32 to 1024 bytes: the whole of its file, byte for byte. */
#define AUTH_KEY_MIN 32
#define AUTH_KEY_MAX 1024

/* The length of a tag, HMAC-SHA256's output. */
#define AUTH_MAC_BYTES 32

typedef struct auth_keys auth_keys;

/* Reads the current key from the file `path` and, unless previous_path is
 * NULL or empty, the previous key from that file.  Refuses a file that is
 * not a regular file or is shorter than AUTH_KEY_MIN or longer than
 * AUTH_KEY_MAX bytes.  Logs a warning (module "auth") for a file that group
 * or others may read or write.  Borrows every argument.  Returns NOT_FOUND
 * for a missing file, PERMISSION_DENIED for one the process may not read,
 * INVALID_ARGUMENT for a file of the wrong kind or size, the errno's status
 * for another read error, RESOURCE_EXHAUSTED when memory runs out, INTERNAL
 * when libsodium cannot start; on any failure errbuf holds "path: why". */
pigeon_status auth_keys_load(auth_keys **out, const char *path, const char *previous_path,
                             char *errbuf, size_t errlen);

/* The same from bytes in memory (previous NULL: no previous key), for tests
 * and callers that keep keys elsewhere.  Copies the bytes.  INVALID_ARGUMENT
 * for a key shorter than AUTH_KEY_MIN or longer than AUTH_KEY_MAX,
 * RESOURCE_EXHAUSTED, INTERNAL as above. */
pigeon_status auth_keys_new(auth_keys **out, const uint8_t *current, size_t current_len,
                            const uint8_t *previous, size_t previous_len);

/* Wipes the keys and frees. Accepts NULL. */
void auth_keys_free(auth_keys *k);

/* Writes the HMAC-SHA256 of msg[0..len) under the current key to mac. */
void auth_keys_sign(const auth_keys *k, const void *msg, size_t len, uint8_t mac[AUTH_MAC_BYTES]);

/* Which key a tag was made with. */
typedef enum auth_key_match {
	AUTH_KEY_NONE,
	AUTH_KEY_CURRENT,
	AUTH_KEY_PREVIOUS,
} auth_key_match;

/* Checks that mac is the HMAC-SHA256 of msg[0..len) under the current key,
 * else under the previous key if there is one.  Each comparison takes the
 * same time wherever the tags differ. */
auth_key_match auth_keys_verify(const auth_keys *k, const uint8_t mac[AUTH_MAC_BYTES],
                                const void *msg, size_t len);

#endif
