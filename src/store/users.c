/* SPDX-License-Identifier: MIT */
/* Reading the users file; see users.h. */
#include "users.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "names.h"
#include "validate.h"

/* A role exactly as Redis stores it: names_role_parse alone would also take
 * "ADMIN" and "unspecified". */
static bool
role_parse(const char *s, Pigeon__V1__Role *out)
{
	Pigeon__V1__Role r;

	if (!names_role_parse(s, &r) || r == PIGEON__V1__ROLE__ROLE_UNSPECIFIED ||
	    strcmp(names_role(r), s) != 0)
		return false;
	*out = r;
	return true;
}

void
store_users_fini(store_users *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->n; i++)
		free(u->v[i].name);
	free(u->v);
	u->v = NULL;
	u->n = 0;
}

pigeon_status
store_users_load(const char *path, store_users *out)
{
	FILE *f;
	char line[512];
	store_users users = {NULL, 0};
	store_user *grown;
	unsigned lineno = 0;
	pigeon_status rv;

	if ((f = fopen(path, "r")) == NULL) {
		rv = errno == ENOENT ? PIGEON_NOT_FOUND : status_from_errno(errno);
		log_error("store", "cannot open users file path=%s err=%s", path, strerror(errno));
		return rv;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[PIGEON_USERNAME_MAX + 2], role[16], extra[2];
		validate_why why;
		Pigeon__V1__Role r;
		int k;

		lineno++;
		line[strcspn(line, "#")] = '\0';
		k = sscanf(line, "%65s %15s %1s", name, role, extra);
		if (k <= 0)
			continue;
		if (k != 2 || validate_username(name, strlen(name), &why) != NULL ||
		    !role_parse(role, &r)) {
			log_error("store", "bad users file line path=%s line=%u", path, lineno);
			rv = PIGEON_INVALID_ARGUMENT;
			goto fail;
		}
		if ((grown = realloc(users.v, (users.n + 1) * sizeof(*users.v))) == NULL) {
			rv = PIGEON_RESOURCE_EXHAUSTED;
			goto fail;
		}
		users.v = grown;
		users.v[users.n].role = r;
		if ((users.v[users.n].name = strdup(name)) == NULL) {
			rv = PIGEON_RESOURCE_EXHAUSTED;
			goto fail;
		}
		users.n++;
	}
	fclose(f);
	*out = users;
	return PIGEON_OK;

fail:
	store_users_fini(&users);
	fclose(f);
	return rv;
}
