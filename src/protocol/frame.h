/* SPDX-License-Identifier: MIT */
/*
 * Event framing on the pub socket (docs/events.md): one message is the
 * topic's bytes, one NUL byte, then one packed pigeon.v1.Event.  Both ways:
 * the relay frames, libpigeon's subscriptions unframe.  No sockets here.
 */
#ifndef PIGEON_PROTOCOL_FRAME_H
#define PIGEON_PROTOCOL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <pigeon/wire.h>
#include <pigeon/v1/event.pb-c.h>

#include "validate.h"

/* The longest topic (<pigeon/wire.h> names them), with its NUL. */
#define FRAME_TOPIC_MAX (sizeof(PIGEON_TOPIC_INBOX_PREFIX) + PIGEON_USERNAME_MAX)

/* The framed size of ev under topic. */
size_t frame_size(const char *topic, const Pigeon__V1__Event *ev);

/* Writes the frame into buf, which holds frame_size(topic, ev) bytes. */
void frame_write(const char *topic, const Pigeon__V1__Event *ev, uint8_t *buf);

/* Splits one frame into topic and event.  On OK, *topic_len is the topic's
 * length (the topic starts at buf) and *ev the decoded event, allocated with
 * `alloc` (NULL: malloc), to free with pigeon__v1__event__free_unpacked(ev,
 * alloc).  INVALID_ARGUMENT: no NUL, or an undecodable event. */
pigeon_status frame_read(const void *buf, size_t len, ProtobufCAllocator *alloc,
    size_t *topic_len, Pigeon__V1__Event **ev);

#endif
