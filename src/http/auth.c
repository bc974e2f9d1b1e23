/* SPDX-License-Identifier: MIT */
/* The mode and the Bearer header; see auth.h. */
#include "auth.h"

#include <string.h>
#include <strings.h>

#include <pigeon/pigeon.h>

bool
http_auth_mode_parse(const char *name, http_auth_mode *out)
{
	if (strcmp(name, "open") == 0)
		*out = HTTP_AUTH_OPEN;
	else if (strcmp(name, "required") == 0)
		*out = HTTP_AUTH_REQUIRED;
	else
		return false;
	return true;
}

/* The characters of a token's text: base64url and the dots between its
 * parts (docs/auth.md, "Token format").  Anything else cannot be a token. */
static bool
token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

bool
http_auth_bearer(const char *header, const char **token, size_t *len)
{
	const char *p = header, *start;
	size_t n = 0;

	/* RFC 7235: the scheme is case-insensitive. */
	if (strncasecmp(p, "Bearer", 6) != 0 || p[6] != ' ')
		return false;
	p += 6;
	while (*p == ' ')
		p++;
	start = p;
	while (token_char(*p) && n <= PIGEON_TOKEN_MAX) {
		p++;
		n++;
	}
	if (n == 0 || n > PIGEON_TOKEN_MAX)
		return false;
	while (*p == ' ')
		p++;
	if (*p != '\0')
		return false;
	*token = start;
	*len = n;
	return true;
}
