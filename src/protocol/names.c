/* SPDX-License-Identifier: MIT */
/*
 * Enum names from the generated descriptors; see names.h.  The short names
 * point into the descriptors' own strings; the lower-case forms are made once,
 * on first use, into static buffers.
 */
#include "names.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <pigeon/v1/status.pb-c.h>

#include <pigeon/wire.h>

/* Longest value name and most values of a lower-cased enum. */
#define LOWER_NAME_MAX 32
#define LOWER_VALUES_MAX 8

/* The length of the prefix every value name of desc shares, cut back to its
 * last '_': "EVENT_TYPE_" of EVENT_TYPE_LOGIN and EVENT_TYPE_LOGOUT. */
static size_t
prefix_len(const ProtobufCEnumDescriptor *desc)
{
	const char *first = desc->values[0].name;
	size_t n = strlen(first);

	for (unsigned i = 1; i < desc->n_values; i++) {
		size_t k = 0;

		while (k < n && first[k] == desc->values[i].name[k])
			k++;
		n = k;
	}
	while (n > 0 && first[n - 1] != '_')
		n--;
	return n;
}

/* The prefixes of the enums named on hot paths, measured once. */
static struct {
	const ProtobufCEnumDescriptor *desc;
	size_t prefix;
} known[] = {
	{&pigeon__v1__status__descriptor, 0},
	{&pigeon__v1__event_type__descriptor, 0},
	{&pigeon__v1__message_state__descriptor, 0},
	{&pigeon__v1__role__descriptor, 0},
};
static pthread_once_t known_once = PTHREAD_ONCE_INIT;

static void lower_init(void);

static void
known_init(void)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		known[i].prefix = prefix_len(known[i].desc);
	lower_init();
}

static size_t
prefix_of(const ProtobufCEnumDescriptor *desc)
{
	pthread_once(&known_once, known_init);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].desc == desc)
			return known[i].prefix;
	return prefix_len(desc);
}

const char *
names_short(const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

	return v != NULL ? v->name + prefix_of(desc) : NULL;
}

/* Finds the value whose short name is s, compared in any case. */
static bool
short_parse(const ProtobufCEnumDescriptor *desc, const char *s, int *out)
{
	size_t p = prefix_of(desc);

	for (unsigned i = 0; i < desc->n_values; i++) {
		const char *n = desc->values[i].name + p;

		/* The first letter, folded by hand, rules out most names before
		 * strcasecmp's locale-aware folding: parsing is on the store's
		 * reply path (a state per message read). */
		if ((n[0] | 0x20) != (s[0] | 0x20))
			continue;
		if (strcasecmp(n, s) == 0) {
			*out = desc->values[i].value;
			return true;
		}
	}
	return false;
}

typedef struct lower_table {
	const ProtobufCEnumDescriptor *desc;
	char names[LOWER_VALUES_MAX][LOWER_NAME_MAX];
} lower_table;

static lower_table lower_states = {&pigeon__v1__message_state__descriptor, {{0}}};
static lower_table lower_roles = {&pigeon__v1__role__descriptor, {{0}}};

static void
lower_fill(lower_table *t)
{
	size_t p = prefix_len(t->desc);

	for (unsigned i = 0; i < t->desc->n_values && i < LOWER_VALUES_MAX; i++) {
		const char *s = t->desc->values[i].name + p;
		size_t k;

		for (k = 0; s[k] != '\0' && k + 1 < LOWER_NAME_MAX; k++)
			t->names[i][k] = (char)tolower((unsigned char)s[k]);
		t->names[i][k] = '\0';
	}
}

/* Runs once, from known_init. */
static void
lower_init(void)
{
	lower_fill(&lower_states);
	lower_fill(&lower_roles);
}

static const char *
lower_name(lower_table *t, int value)
{
	pthread_once(&known_once, known_init);
	for (unsigned i = 0; i < t->desc->n_values && i < LOWER_VALUES_MAX; i++)
		if (t->desc->values[i].value == value)
			return t->names[i];
	return NULL;
}

const char *
names_event_type(Pigeon__V1__EventType t)
{
	return names_short(&pigeon__v1__event_type__descriptor, (int)t);
}

bool
names_event_type_parse(const char *s, Pigeon__V1__EventType *out)
{
	int v;

	if (!short_parse(&pigeon__v1__event_type__descriptor, s, &v))
		return false;
	*out = (Pigeon__V1__EventType)v;
	return true;
}

const char *
names_message_state(Pigeon__V1__MessageState s)
{
	return lower_name(&lower_states, (int)s);
}

bool
names_message_state_parse(const char *s, Pigeon__V1__MessageState *out)
{
	int v;

	if (!short_parse(&pigeon__v1__message_state__descriptor, s, &v))
		return false;
	*out = (Pigeon__V1__MessageState)v;
	return true;
}

const char *
names_role(Pigeon__V1__Role r)
{
	return lower_name(&lower_roles, (int)r);
}

bool
names_role_parse(const char *s, Pigeon__V1__Role *out)
{
	int v;

	if (!short_parse(&pigeon__v1__role__descriptor, s, &v))
		return false;
	*out = (Pigeon__V1__Role)v;
	return true;
}

/* The status names of <pigeon/wire.h> are the same descriptor walk. */
const char *
pigeon_status_name(pigeon_status st)
{
	const char *n = names_short(&pigeon__v1__status__descriptor, (int)st);

	return n != NULL ? n : "UNKNOWN";
}

bool
pigeon_status_from_name(const char *name, pigeon_status *out)
{
	size_t p = prefix_of(&pigeon__v1__status__descriptor);

	/* Exact case: the names are printed and parsed as gRPC spells them. */
	for (unsigned i = 0; i < pigeon__v1__status__descriptor.n_values; i++) {
		if (strcmp(pigeon__v1__status__descriptor.values[i].name + p, name) == 0) {
			*out = (pigeon_status)pigeon__v1__status__descriptor.values[i].value;
			return true;
		}
	}
	return false;
}

const char *
pigeon_enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
	if (desc == &pigeon__v1__message_state__descriptor)
		return lower_name(&lower_states, value);
	if (desc == &pigeon__v1__role__descriptor)
		return lower_name(&lower_roles, value);
	return names_short(desc, value);
}

bool
pigeon_enum_from_name(const ProtobufCEnumDescriptor *desc, const char *name, int *out)
{
	return short_parse(desc, name, out);
}
