/* SPDX-License-Identifier: MIT */
/*
 * The names of the protocol's enums, taken from the generated descriptors
 * (the .proto is the one place they are written): a value's name without its
 * enum's prefix, "EVENT_TYPE_LOGIN" -> "LOGIN".  Message states and roles
 * are also stored in Redis and shown in JSON in lower case ("delivered",
 * "admin"); event types upper case, as the journal lines print them.  Status
 * names (pigeon_status_name) come from the same descriptors.
 *
 * Every function is thread-safe and returns NULL for a value the enum does
 * not have; the parsers return false and leave *out alone for a name that is
 * not one of them.  Returned strings are static.
 */
#ifndef PIGEON_PROTOCOL_NAMES_H
#define PIGEON_PROTOCOL_NAMES_H

#include <stdbool.h>

#include <pigeon/v1/event.pb-c.h>
#include <pigeon/v1/pigeon.pb-c.h>

/* "LOGIN", "SPAM", ...; "UNSPECIFIED" for 0. */
const char *names_event_type(Pigeon__V1__EventType t);
bool names_event_type_parse(const char *s, Pigeon__V1__EventType *out);

/* "enqueued", "being_spam_checked", "delivered", "marked_as_spam";
 * "unspecified" for 0. */
const char *names_message_state(Pigeon__V1__MessageState s);
bool names_message_state_parse(const char *s, Pigeon__V1__MessageState *out);

/* "regular", "admin"; "unspecified" for 0. */
const char *names_role(Pigeon__V1__Role r);
bool names_role_parse(const char *s, Pigeon__V1__Role *out);

/* The short name of any value of any enum of the protocol, in the enum's own
 * case: desc's value name after the common prefix of its values' names
 * ("STATUS_", "EVENT_TYPE_").  NULL for a value desc does not have. */
const char *names_short(const ProtobufCEnumDescriptor *desc, int value);

#endif
