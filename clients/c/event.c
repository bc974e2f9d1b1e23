/* SPDX-License-Identifier: MIT */
/* Decoding one message of pigeond's pub socket: topic, NUL, packed Event. */
#include <string.h>

#include <pigeon/pigeon.h>

pigeon_status
pigeon_event_decode(const void *buf, size_t len, size_t *topic_len, Pigeon__V1__Event **ev)
{
	const uint8_t *nul = memchr(buf, '\0', len);
	Pigeon__V1__Event *e;
	size_t tl;

	if (nul == NULL)
		return PIGEON_INVALID_ARGUMENT;
	tl = (size_t)(nul - (const uint8_t *)buf);
	e = pigeon__v1__event__unpack(NULL, len - tl - 1, nul + 1);
	if (e == NULL)
		return PIGEON_INVALID_ARGUMENT;
	*topic_len = tl;
	*ev = e;
	return PIGEON_OK;
}
