/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: libpigeon's decoder of one pub message (topic, NUL, packed
 * pigeon.v1.Event), as a subscriber gets it from the socket.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <pigeon/pigeon.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Pigeon__V1__Event *ev;
	size_t topic_len;

	if (pigeon_event_decode(data, size, &topic_len, &ev) != PIGEON_OK)
		return 0;
	if (topic_len >= size || data[topic_len] != '\0')
		abort();
	pigeon_reply_free(ev);
	return 0;
}
