/* SPDX-License-Identifier: MIT */
/* UTF-8 and username rules; see validate.h. */
#include "validate.h"

#include <stdint.h>

bool
validate_utf8(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and code points past U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

const char *
validate_username(const char *name, size_t len)
{
	const unsigned char *s = (const unsigned char *)name;

	if (len == 0)
		return "username is empty";
	if (len > PIGEON_USERNAME_MAX)
		return "username is longer than 64 bytes";
	if (!validate_utf8(name, len))
		return "username is not valid UTF-8";
	for (size_t i = 0; i < len; i++) {
		if (s[i] <= 0x20 || s[i] == 0x7f)
			return "username contains a space or control character";
		/* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F. */
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
			return "username contains a control character";
		/* No-break space U+00A0. */
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] == 0xa0)
			return "username contains a space";
	}
	return NULL;
}
