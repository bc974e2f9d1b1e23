/* SPDX-License-Identifier: MIT */
/* Framing events as topic, NUL, packed Event; see frame.h. */
#include "frame.h"

#include <string.h>

size_t
frame_size(const char *topic, const Pigeon__V1__Event *ev)
{
	return strlen(topic) + 1 + pigeon__v1__event__get_packed_size(ev);
}

void
frame_write(const char *topic, const Pigeon__V1__Event *ev, uint8_t *buf)
{
	size_t tl = strlen(topic);

	memcpy(buf, topic, tl + 1);
	pigeon__v1__event__pack(ev, buf + tl + 1);
}

pigeon_status
frame_read(const void *buf, size_t len, ProtobufCAllocator *alloc, size_t *topic_len,
    Pigeon__V1__Event **ev)
{
	const uint8_t *nul = memchr(buf, '\0', len);
	Pigeon__V1__Event *e;
	size_t tl;

	if (nul == NULL)
		return PIGEON_INVALID_ARGUMENT;
	tl = (size_t)(nul - (const uint8_t *)buf);
	e = pigeon__v1__event__unpack(alloc, len - tl - 1, nul + 1);
	if (e == NULL)
		return PIGEON_INVALID_ARGUMENT;
	*topic_len = tl;
	*ev = e;
	return PIGEON_OK;
}
