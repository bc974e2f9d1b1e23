/* SPDX-License-Identifier: MIT */
/* The users file and every user's skeleton; see users.h. */
#include "users.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "names.h"
#include "redis.h"
#include "validate.h"

/* Users per HSCAN step, and so skeletons per pipelined batch. */
#define SCAN_COUNT "1000"

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

/* A user of the file being read: its skeleton and line, to refuse a file
 * naming two look-alikes (register.lua would refuse the second). */
typedef struct file_user {
	char skeleton[VALIDATE_SKELETON_MAX];
	unsigned line;
} file_user;

/* The line of the first of seen[0..n) whose skeleton is skel, or 0.  A users
 * file is short: a linear search is enough. */
static unsigned
skeleton_seen(const file_user *seen, size_t n, const char *skel)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(seen[i].skeleton, skel) == 0)
			return seen[i].line;
	return 0;
}

pigeon_status
store_users_load(const char *path, store_users *out)
{
	FILE *f;
	char line[512];
	store_users users = {NULL, 0};
	store_user *grown;
	file_user *seen = NULL, *sgrown;
	unsigned lineno = 0, twin;
	pigeon_status rv;

	if ((f = fopen(path, "r")) == NULL) {
		rv = errno == ENOENT ? PIGEON_NOT_FOUND : status_from_errno(errno);
		log_error("store", "cannot open users file path=%s err=%s", path, strerror(errno));
		return rv;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[PIGEON_USERNAME_MAX + 2], role[16], extra[2];
		validate_why why;
		const char *problem;
		Pigeon__V1__Role r;
		int k;

		lineno++;
		line[strcspn(line, "#")] = '\0';
		k = sscanf(line, "%65s %15s %1s", name, role, extra);
		if (k <= 0)
			continue;
		if (k != 2)
			problem = "want a username and a role";
		else if ((problem = validate_username(name, strlen(name), &why)) == NULL &&
		         !role_parse(role, &r))
			problem = "unknown role";
		if (problem != NULL) {
			log_error("store", "bad users file line path=%s line=%u err=%s", path,
			          lineno, problem);
			rv = PIGEON_INVALID_ARGUMENT;
			goto fail;
		}
		if ((sgrown = realloc(seen, (users.n + 1) * sizeof(*seen))) == NULL) {
			rv = PIGEON_RESOURCE_EXHAUSTED;
			goto fail;
		}
		seen = sgrown;
		if ((rv = validate_username_skeleton(name, strlen(name), seen[users.n].skeleton,
		                                     sizeof(seen[users.n].skeleton))) !=
		    PIGEON_OK) {
			log_error("store", "cannot compute a username skeleton path=%s line=%u",
			          path, lineno);
			goto fail;
		}
		if ((twin = skeleton_seen(seen, users.n, seen[users.n].skeleton)) != 0) {
			log_error(
			    "store",
			    "users file names two look-alike users path=%s line=%u first_line=%u",
			    path, lineno, twin);
			rv = PIGEON_INVALID_ARGUMENT;
			goto fail;
		}
		seen[users.n].line = lineno;
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
	free(seen);
	*out = users;
	return PIGEON_OK;

fail:
	free(seen);
	store_users_fini(&users);
	fclose(f);
	return rv;
}

/* Reads n replies; counts the error replies into *errors and keeps the
 * first one's text in err.  False with err set when the context broke. */
static bool
read_replies(redisContext *c, size_t n, size_t *errors, char *err, size_t errlen)
{
	redisReply *r;

	for (size_t i = 0; i < n; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			snprintf(err, errlen, "%s", c->errstr);
			return false;
		}
		if (r->type == REDIS_REPLY_ERROR && (*errors)++ == 0)
			snprintf(err, errlen, "%s", r->str);
		freeReplyObject(r);
	}
	return true;
}

/* HSETNX of the skeleton of every name in one HSCAN page (field, value,
 * field, value...), pipelined.  Counts names that are no longer acceptable
 * into *invalid and writes none for them. */
static bool
write_skeletons(redisContext *c, const redisReply *page, size_t *invalid, size_t *errors, char *err,
                size_t errlen)
{
	char skel[VALIDATE_SKELETON_MAX];
	size_t sent = 0;

	for (size_t i = 0; i + 1 < page->elements; i += 2) {
		const redisReply *name = page->element[i];

		if (name->type != REDIS_REPLY_STRING ||
		    validate_username_skeleton(name->str, name->len, skel, sizeof(skel)) !=
		        PIGEON_OK) {
			(*invalid)++;
			continue;
		}
		if (redisAppendCommand(c, "HSETNX %s %s %b", STORE_KEY_USER_SKELETONS, skel,
		                       name->str, name->len) != REDIS_OK) {
			snprintf(err, errlen, "%s", c->errstr);
			return false;
		}
		sent++;
	}
	return read_replies(c, sent, errors, err, errlen);
}

pigeon_status
store_users_write(redisContext *c, const store_users *u, char *err, size_t errlen)
{
	char cursor[32] = "0", first[160] = "";
	size_t invalid = 0, errors = 0;
	redisReply *r;

	for (size_t i = 0; i < u->n; i++)
		if (redisAppendCommand(c, "HSETNX %s %s %s", STORE_KEY_USERS, u->v[i].name,
		                       names_role(u->v[i].role)) != REDIS_OK)
			goto fail_ctx;
	if (!read_replies(c, u->n, &errors, first, sizeof(first)))
		goto fail;
	do {
		if ((r = redisCommand(c, "HSCAN %s %s COUNT " SCAN_COUNT, STORE_KEY_USERS,
		                      cursor)) == NULL)
			goto fail_ctx;
		if (r->type == REDIS_REPLY_ERROR) {
			if (errors++ == 0)
				snprintf(first, sizeof(first), "%s", r->str);
			freeReplyObject(r);
			break;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			if (errors++ == 0)
				snprintf(first, sizeof(first), "unexpected HSCAN reply");
			freeReplyObject(r);
			break;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
		if (!write_skeletons(c, r->element[1], &invalid, &errors, first, sizeof(first))) {
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	if (invalid != 0)
		log_warn("store", "users with names that are no longer valid count=%zu", invalid);
	if (errors != 0)
		log_warn("store", "users or skeletons not written errors=%zu err=%s", errors,
		         first);
	return PIGEON_OK;

fail_ctx:
	snprintf(first, sizeof(first), "%s", c->errstr);
fail:
	snprintf(err, errlen, "%s", first);
	return store_status_from_context(c);
}
