/* SPDX-License-Identifier: MIT */
/* Key files, the key set and its HMAC-SHA256; see keys.h. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "errors.h"
#include "log.h"

typedef struct auth_key {
	uint8_t bytes[AUTH_KEY_MAX];
	size_t len;
} auth_key;

struct auth_keys {
	auth_key current;
	auth_key previous;
	bool has_previous;
};

static void
err_printf(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* sodium_init is safe to call from several threads and more than once; every
 * key set is made through here, and nothing signs or draws random bytes
 * without a key set. */
static pigeon_status
keys_alloc(auth_keys **out)
{
	if (sodium_init() < 0)
		return PIGEON_INTERNAL;
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return PIGEON_RESOURCE_EXHAUSTED;
	return PIGEON_OK;
}

pigeon_status
auth_keys_new(auth_keys **out, const uint8_t *current, size_t current_len, const uint8_t *previous,
              size_t previous_len)
{
	auth_keys *k;
	pigeon_status rv;

	if (current_len < AUTH_KEY_MIN || current_len > AUTH_KEY_MAX)
		return PIGEON_INVALID_ARGUMENT;
	if (previous != NULL && (previous_len < AUTH_KEY_MIN || previous_len > AUTH_KEY_MAX))
		return PIGEON_INVALID_ARGUMENT;
	if ((rv = keys_alloc(&k)) != PIGEON_OK)
		return rv;
	memcpy(k->current.bytes, current, current_len);
	k->current.len = current_len;
	if (previous != NULL) {
		memcpy(k->previous.bytes, previous, previous_len);
		k->previous.len = previous_len;
		k->has_previous = true;
	}
	*out = k;
	return PIGEON_OK;
}

/* Reads the whole of one key file into key.  The size is checked on what was
 * read, not on fstat's figure, so a file that grows in between is still
 * refused; one byte more than the limit is enough to know. */
static pigeon_status
key_read(auth_key *key, const char *path, char *errbuf, size_t errlen)
{
	uint8_t buf[AUTH_KEY_MAX + 1];
	struct stat st;
	size_t len = 0;
	pigeon_status rv;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rv = status_from_errno(errno);
		err_printf(errbuf, errlen, "%s: cannot open the key file: %s", path,
		           strerror(errno));
		return rv;
	}
	if (fstat(fd, &st) != 0) {
		rv = status_from_errno(errno);
		err_printf(errbuf, errlen, "%s: cannot stat the key file: %s", path,
		           strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rv = PIGEON_INVALID_ARGUMENT;
		err_printf(errbuf, errlen, "%s: the key file is not a regular file", path);
		goto out_close;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		log_warn("auth",
		         "key file is open to group or others, chmod 600 it: path=%s mode=%03o",
		         path, (unsigned)(st.st_mode & 0777));
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = status_from_errno(errno);
			err_printf(errbuf, errlen, "%s: cannot read the key file: %s", path,
			           strerror(errno));
			goto out_wipe;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len < AUTH_KEY_MIN) {
		rv = PIGEON_INVALID_ARGUMENT;
		err_printf(errbuf, errlen,
		           "%s: the key file has %zu bytes, a key needs at least %d random bytes",
		           path, len, AUTH_KEY_MIN);
		goto out_wipe;
	}
	if (len > AUTH_KEY_MAX) {
		rv = PIGEON_INVALID_ARGUMENT;
		err_printf(errbuf, errlen, "%s: the key file is longer than %d bytes", path,
		           AUTH_KEY_MAX);
		goto out_wipe;
	}
	memcpy(key->bytes, buf, len);
	key->len = len;
	rv = PIGEON_OK;
out_wipe:
	sodium_memzero(buf, sizeof(buf));
out_close:
	close(fd);
	return rv;
}

pigeon_status
auth_keys_load(auth_keys **out, const char *path, const char *previous_path, char *errbuf,
               size_t errlen)
{
	auth_keys *k;
	pigeon_status rv;

	if ((rv = keys_alloc(&k)) != PIGEON_OK) {
		err_printf(errbuf, errlen, "%s: %s", path,
		           rv == PIGEON_INTERNAL ? "libsodium cannot start" : "out of memory");
		return rv;
	}
	if ((rv = key_read(&k->current, path, errbuf, errlen)) != PIGEON_OK)
		goto fail_free;
	if (previous_path != NULL && previous_path[0] != '\0') {
		if ((rv = key_read(&k->previous, previous_path, errbuf, errlen)) != PIGEON_OK)
			goto fail_free;
		k->has_previous = true;
	}
	*out = k;
	return PIGEON_OK;

fail_free:
	auth_keys_free(k);
	return rv;
}

void
auth_keys_free(auth_keys *k)
{
	if (k == NULL)
		return;
	sodium_memzero(k, sizeof(*k));
	free(k);
}

/* HMAC with the whole key, whatever its length (RFC 2104 hashes a key longer
 * than the block first).  crypto_auth_hmacsha256() itself takes only 32-byte
 * keys, hence the three steps. */
static void
key_mac(const auth_key *key, const void *msg, size_t len, uint8_t mac[AUTH_MAC_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key->bytes, key->len);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

void
auth_keys_sign(const auth_keys *k, const void *msg, size_t len, uint8_t mac[AUTH_MAC_BYTES])
{
	key_mac(&k->current, msg, len, mac);
}

/* crypto_verify_32 is what crypto_auth_hmacsha256_verify() compares with:
 * its time does not depend on where the tags differ. */
static bool
key_check(const auth_key *key, const uint8_t mac[AUTH_MAC_BYTES], const void *msg, size_t len)
{
	uint8_t want[AUTH_MAC_BYTES];
	bool ok;

	key_mac(key, msg, len, want);
	ok = crypto_verify_32(want, mac) == 0;
	sodium_memzero(want, sizeof(want));
	return ok;
}

auth_key_match
auth_keys_verify(const auth_keys *k, const uint8_t mac[AUTH_MAC_BYTES], const void *msg, size_t len)
{
	if (key_check(&k->current, mac, msg, len))
		return AUTH_KEY_CURRENT;
	if (k->has_previous && key_check(&k->previous, mac, msg, len))
		return AUTH_KEY_PREVIOUS;
	return AUTH_KEY_NONE;
}
