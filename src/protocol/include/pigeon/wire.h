/* SPDX-License-Identifier: MIT */
/*
 * What crosses the wire and needs a C name: the status codes of every Pigeon
 * call (the numbers of gRPC and of the enum pigeon.v1.Status in
 * proto/pigeon/v1/status.proto, so a status crosses the wire unchanged) and
 * pigeond's default addresses and the topics of its event pub socket
 * (docs/events.md).  Owned by the protocol
 * library and shared by libpigeon and the server; included by
 * <pigeon/pigeon.h>.
 */
#ifndef PIGEON_WIRE_H
#define PIGEON_WIRE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes: the same numbers as gRPC and as pigeon.v1.Status. */
typedef enum pigeon_status {
	PIGEON_OK = 0,
	PIGEON_CANCELLED = 1,
	PIGEON_UNKNOWN = 2,
	PIGEON_INVALID_ARGUMENT = 3,
	PIGEON_DEADLINE_EXCEEDED = 4,
	PIGEON_NOT_FOUND = 5,
	PIGEON_ALREADY_EXISTS = 6,
	PIGEON_PERMISSION_DENIED = 7,
	PIGEON_RESOURCE_EXHAUSTED = 8,
	PIGEON_FAILED_PRECONDITION = 9,
	PIGEON_ABORTED = 10,
	PIGEON_OUT_OF_RANGE = 11,
	PIGEON_UNIMPLEMENTED = 12,
	PIGEON_INTERNAL = 13,
	PIGEON_UNAVAILABLE = 14,
	PIGEON_DATA_LOSS = 15,
	PIGEON_UNAUTHENTICATED = 16,
} pigeon_status;

#define PIGEON_STATUS_COUNT 17

/* The code's name as in gRPC ("OK", "NOT_FOUND", ...), or "UNKNOWN" for a
 * number outside 0..16.  Never NULL.  Thread-safe. */
const char *pigeon_status_name(pigeon_status st);

/* The code for a name as printed by pigeon_status_name.  Returns false (and
 * leaves *out alone) for a name that is not one of them.  Thread-safe. */
bool pigeon_status_from_name(const char *name, pigeon_status *out);

struct ProtobufCEnumDescriptor;

/* The name of value `value` of the protocol enum `desc` (a
 * pigeon__v1__*__descriptor) as Pigeon prints and stores it: without the
 * enum's prefix, event types in upper case ("LOGIN", as the journal lines
 * print them), message states and roles in lower case ("delivered", "admin",
 * as the JSON answers show them), other enums as in the .proto
 * ("NOT_SERVING").  NULL for a value the enum does not have.  The string is
 * static.  Thread-safe. */
const char *pigeon_enum_name(const struct ProtobufCEnumDescriptor *desc, int value);

/* The value of the enum `desc` whose name, as pigeon_enum_name prints it, is
 * `name` (compared in any case).  Returns false, *out untouched, for any
 * other name.  Thread-safe. */
bool pigeon_enum_from_name(const struct ProtobufCEnumDescriptor *desc, const char *name,
    int *out);

/* Where pigeond listens by default: requests (req/rep) and events (pub). */
#define PIGEON_DEFAULT_RPC_URL "tcp://127.0.0.1:5555"
#define PIGEON_DEFAULT_PUB_URL "tcp://127.0.0.1:5556"

/* Topics of the pub socket.  A message is the topic's bytes, one NUL byte
 * and a packed pigeon.v1.Event. */
#define PIGEON_TOPIC_JOURNAL "event_journal"
#define PIGEON_TOPIC_QUEUE "message_queue"
/* Followed by a username: "inbox/Ilya". */
#define PIGEON_TOPIC_INBOX_PREFIX "inbox/"
/* Followed by a username: the READ events of the messages that user sent,
 * "receipts/Ilya". */
#define PIGEON_TOPIC_RECEIPTS_PREFIX "receipts/"

#ifdef __cplusplus
}
#endif

#endif /* PIGEON_WIRE_H */
