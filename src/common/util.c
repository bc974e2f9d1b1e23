/* SPDX-License-Identifier: MIT */
/* Clocks, error conversion, validation and the budgeted allocator; see util.h. */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <nng/nng.h>

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
util_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rv;

	if ((rv = pthread_condattr_init(&ca)) != 0)
		return rv;
	if ((rv = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0)
		rv = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return rv;
}

static const struct {
	int nng;
	pigeon_status st;
} nng_table[] = {
	{NNG_ETIMEDOUT, PIGEON_DEADLINE_EXCEEDED},
	{NNG_ECONNREFUSED, PIGEON_UNAVAILABLE},
	{NNG_ECONNRESET, PIGEON_UNAVAILABLE},
	{NNG_ECONNABORTED, PIGEON_UNAVAILABLE},
	{NNG_ECONNSHUT, PIGEON_UNAVAILABLE},
	{NNG_ECLOSED, PIGEON_UNAVAILABLE},
	{NNG_EUNREACHABLE, PIGEON_UNAVAILABLE},
	{NNG_EAGAIN, PIGEON_UNAVAILABLE},
	{NNG_ESTATE, PIGEON_UNAVAILABLE},
	{NNG_ECANCELED, PIGEON_CANCELLED},
	{NNG_ENOMEM, PIGEON_RESOURCE_EXHAUSTED},
	{NNG_EMSGSIZE, PIGEON_RESOURCE_EXHAUSTED},
	{NNG_ENOSPC, PIGEON_RESOURCE_EXHAUSTED},
	{NNG_EINVAL, PIGEON_INVALID_ARGUMENT},
	{NNG_EADDRINVAL, PIGEON_INVALID_ARGUMENT},
	{NNG_EADDRINUSE, PIGEON_UNAVAILABLE},
	{NNG_ENOTSUP, PIGEON_UNIMPLEMENTED},
	{NNG_EPERM, PIGEON_PERMISSION_DENIED},
	{NNG_EPROTO, PIGEON_INTERNAL},
};

pigeon_status
status_from_nng(int nng_err)
{
	if (nng_err == 0)
		return PIGEON_OK;
	for (size_t i = 0; i < sizeof(nng_table) / sizeof(nng_table[0]); i++)
		if (nng_table[i].nng == nng_err)
			return nng_table[i].st;
	return PIGEON_UNKNOWN;
}

pigeon_status
status_from_errno(int err)
{
	switch (err) {
	case 0:
		return PIGEON_OK;
	case ETIMEDOUT:
		return PIGEON_DEADLINE_EXCEEDED;
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
	case ENOTCONN:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EAGAIN:
		return PIGEON_UNAVAILABLE;
	case ENOMEM:
	case ENOSPC:
	case EMSGSIZE:
		return PIGEON_RESOURCE_EXHAUSTED;
	case EINVAL:
		return PIGEON_INVALID_ARGUMENT;
	case ENOENT:
		return PIGEON_NOT_FOUND;
	case EACCES:
	case EPERM:
		return PIGEON_PERMISSION_DENIED;
	default:
		return PIGEON_UNKNOWN;
	}
}

bool
util_utf8_valid(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and code points past U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

const char *
util_username_problem(const char *name, size_t len)
{
	const unsigned char *s = (const unsigned char *)name;

	if (len == 0)
		return "username is empty";
	if (len > PIGEON_USERNAME_MAX)
		return "username is longer than 64 bytes";
	if (!util_utf8_valid(name, len))
		return "username is not valid UTF-8";
	for (size_t i = 0; i < len; i++) {
		if (s[i] <= 0x20 || s[i] == 0x7f)
			return "username contains a space or control character";
		/* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F. */
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
			return "username contains a control character";
		/* No-break space U+00A0. */
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] == 0xa0)
			return "username contains a space";
	}
	return NULL;
}

static void *
pb_budget_alloc(void *data, size_t size)
{
	pb_budget *b = data;

	if (size > b->budget - b->used)
		return NULL;
	b->used += size;
	return malloc(size);
}

static void
pb_budget_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

void
pb_budget_init(pb_budget *b, size_t budget)
{
	b->base.alloc = pb_budget_alloc;
	b->base.free = pb_budget_free;
	b->base.allocator_data = b;
	b->budget = budget;
	b->used = 0;
}

size_t
pb_budget_for(size_t len)
{
	/* A decoded message needs its struct plus at most a few times its
	 * wire size in strings, byte fields and arrays; anything asking for
	 * more is crafted to blow up. */
	return 64 * 1024 + 4 * len;
}
