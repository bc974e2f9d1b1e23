/* SPDX-License-Identifier: MIT */
/* nng and errno codes to pigeon_status; see errors.h. */
#include "errors.h"

#include <errno.h>
#include <stddef.h>

#include <nng/nng.h>

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
