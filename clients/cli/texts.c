/* SPDX-License-Identifier: MIT */
/* Training texts from directories; see texts.h. */
#include "texts.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void __attribute__((format(printf, 3, 4)))
complain(texts_problem_fn problem, void *arg, const char *fmt, ...)
{
	char line[4352];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	problem(arg, line);
}

bool
texts_utf8(const char *buf, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4, cp = c & 0x07, min = 0x10000;
		} else {
			*bad = i;
			return false;
		}
		if (len - i < n) {
			*bad = i;
			return false;
		}
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				*bad = i;
				return false;
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*bad = i;
			return false;
		}
		i += n;
	}
	return true;
}

size_t
texts_packed_size(size_t len)
{
	size_t varint = 1;

	for (size_t v = len; v >= 0x80; v >>= 7)
		varint++;
	return 1 + varint + len;
}

size_t
texts_batch(const texts *a, const texts *b, size_t from, size_t count_max, size_t budget)
{
	size_t total = a->n + b->n, used = 0, n = 0;

	while (from + n < total && n < count_max) {
		size_t i = from + n;
		size_t size = texts_packed_size(i < a->n ? a->len[i] : b->len[i - a->n]);

		if (n > 0 && used + size > budget)
			break;
		used += size;
		n++;
	}
	return n;
}

static int
name_order(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The names in dir, sorted (free each and the array), or NULL with errno. */
static char **
list_names(const char *dir, size_t *n_out)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL, **grown;
	size_t n = 0, cap = 0;
	int saved;

	if ((d = opendir(dir)) == NULL)
		return NULL;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap > 0 ? cap * 2 : 64;
			if ((grown = realloc(names, cap * sizeof(*names))) == NULL)
				goto fail;
			names = grown;
		}
		if ((names[n] = strdup(e->d_name)) == NULL)
			goto fail;
		n++;
		errno = 0;
	}
	if (errno != 0)
		goto fail;
	closedir(d);
	qsort(names, n, sizeof(*names), name_order);
	*n_out = n;
	/* An empty dir: a non-NULL array all the same. */
	return names != NULL ? names : calloc(1, sizeof(*names));

fail:
	saved = errno;
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	errno = saved;
	return NULL;
}

/* Reads path whole into *out (malloc'd, NUL-terminated), at most max bytes:
 * 0, or -1 with errno, or 1 when it is larger (*len then the size seen). */
static int
read_whole(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f;
	char *buf;
	size_t n;
	int rc = 0;

	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	if ((buf = malloc(max + 2)) == NULL) {
		fclose(f);
		errno = ENOMEM;
		return -1;
	}
	/* One byte more than the limit tells a file that is too large. */
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		rc = -1;
		errno = EIO;
	} else if (n > max) {
		rc = 1;
	}
	fclose(f);
	if (rc != 0) {
		free(buf);
		*len = n;
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static bool
texts_push(texts *t, char *text, size_t len)
{
	if (t->n == t->cap) {
		size_t cap = t->cap > 0 ? t->cap * 2 : 64;
		char **v = realloc(t->v, cap * sizeof(*v));
		size_t *l;

		if (v == NULL)
			return false;
		t->v = v;
		if ((l = realloc(t->len, cap * sizeof(*l))) == NULL)
			return false;
		t->len = l;
		t->cap = cap;
	}
	t->v[t->n] = text;
	t->len[t->n] = len;
	t->n++;
	return true;
}

pigeon_status
texts_read_dir(texts *t, const char *dir, size_t max, texts_problem_fn problem, void *arg)
{
	char **names, path[4096];
	size_t n = 0, start = t->n, bad_at;
	bool bad = false;
	pigeon_status rv = PIGEON_OK;

	if ((names = list_names(dir, &n)) == NULL) {
		if (errno == ENOMEM)
			return PIGEON_RESOURCE_EXHAUSTED;
		complain(problem, arg, "%s: cannot read the directory: %s", dir, strerror(errno));
		return PIGEON_INVALID_ARGUMENT;
	}
	for (size_t i = 0; i < n && rv == PIGEON_OK; i++) {
		struct stat sb;
		char *text = NULL;
		size_t len = 0;
		int r;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
			complain(problem, arg, "%s/%s: the path is too long", dir, names[i]);
			bad = true;
			continue;
		}
		if (stat(path, &sb) != 0) {
			complain(problem, arg, "%s: cannot read: %s", path, strerror(errno));
			bad = true;
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if ((r = read_whole(path, max, &text, &len)) < 0) {
			if (errno == ENOMEM) {
				rv = PIGEON_RESOURCE_EXHAUSTED;
				break;
			}
			complain(problem, arg, "%s: cannot read: %s", path, strerror(errno));
			bad = true;
		} else if (r > 0) {
			complain(problem, arg, "%s: larger than the limit of %zu bytes", path, max);
			bad = true;
		} else if (len == 0) {
			complain(problem, arg, "%s: empty", path);
			bad = true;
			free(text);
		} else if (memchr(text, '\0', len) != NULL) {
			complain(problem, arg, "%s: holds a NUL byte (byte %zu)", path,
			    (size_t)((char *)memchr(text, '\0', len) - text));
			bad = true;
			free(text);
		} else if (!texts_utf8(text, len, &bad_at)) {
			complain(problem, arg, "%s: not valid UTF-8 (byte %zu)", path, bad_at);
			bad = true;
			free(text);
		} else if (!texts_push(t, text, len)) {
			free(text);
			rv = PIGEON_RESOURCE_EXHAUSTED;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rv == PIGEON_OK && bad)
		rv = PIGEON_INVALID_ARGUMENT;
	if (rv != PIGEON_OK) {
		/* Nothing appended on failure. */
		while (t->n > start)
			free(t->v[--t->n]);
	}
	return rv;
}

void
texts_fini(texts *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	free(t->len);
	memset(t, 0, sizeof(*t));
}
