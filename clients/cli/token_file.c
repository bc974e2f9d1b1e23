/* SPDX-License-Identifier: MIT */
/* The saved session's file; see token_file.h. */
#include "token_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The longest file read: a token, a username and their line ends, with
 * room for a CR before each.  A longer file is not a token file. */
#define FILE_MAX (PIGEON_TOKEN_MAX + TOKEN_FILE_USERNAME_MAX + 4)

pigeon_status
token_file_path(char *out, size_t len, const char *option, const char *env_file,
    const char *xdg_config_home, const char *home)
{
	int n;

	if (option != NULL && option[0] == '\0')
		return PIGEON_INVALID_ARGUMENT;
	if (option != NULL)
		n = snprintf(out, len, "%s", option);
	else if (env_file != NULL && env_file[0] != '\0')
		n = snprintf(out, len, "%s", env_file);
	else if (xdg_config_home != NULL && xdg_config_home[0] == '/')
		n = snprintf(out, len, "%s/pigeon/token", xdg_config_home);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, len, "%s/.config/pigeon/token", home);
	else
		return PIGEON_NOT_FOUND;
	return n < 0 || (size_t)n >= len ? PIGEON_INVALID_ARGUMENT : PIGEON_OK;
}

/* The line that starts at *p (up to LF or the end of the text, without a
 * CR before the LF), NUL-terminated in place; *p moves past it.  Returns
 * its length. */
static size_t
next_line(char **p, char **line)
{
	char *s = *p, *nl = strchr(s, '\n');
	size_t len;

	*p = nl != NULL ? nl + 1 : s + strlen(s);
	if (nl != NULL)
		*nl = '\0';
	len = strlen(s);
	if (len > 0 && s[len - 1] == '\r')
		s[--len] = '\0';
	*line = s;
	return len;
}

/* Whether s holds only characters of the given kind: no control character
 * (nor DEL), and for a token no space either (base64url and dots). */
static bool
clean(const char *s, bool token)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || (token && *s == ' '))
			return false;
	return true;
}

/* Parses the text of a token file into out; false when it is not one. */
static bool
parse(char *text, token_file_saved *out)
{
	char *p = text, *line;
	size_t len;

	len = next_line(&p, &line);
	if (len == 0 || len > PIGEON_TOKEN_MAX || !clean(line, true))
		return false;
	memcpy(out->token, line, len + 1);
	len = next_line(&p, &line);
	if (len > TOKEN_FILE_USERNAME_MAX || !clean(line, false))
		return false;
	memcpy(out->username, line, len + 1);
	return true;
}

pigeon_status
token_file_load(const char *path, token_file_saved *out, char *err, size_t errlen)
{
	char text[FILE_MAX + 2];
	size_t len = 0;
	struct stat st;
	pigeon_status rv;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC)) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot read the token file %s: %s", path, strerror(e));
		return e == ENOENT ? PIGEON_NOT_FOUND : PIGEON_UNKNOWN;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot read the token file %s: %s", path, strerror(errno));
		rv = PIGEON_UNKNOWN;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the token file %s is not a regular file", path);
		rv = PIGEON_INVALID_ARGUMENT;
		goto out_close;
	}
	/* One byte more than a token file may have, to tell a longer file. */
	while (len < FILE_MAX + 1 && (n = read(fd, text + len, FILE_MAX + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read the token file %s: %s", path,
			    strerror(errno));
			rv = PIGEON_UNKNOWN;
			goto out_wipe;
		}
		len += (size_t)n;
	}
	text[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (len > FILE_MAX || strlen(text) != len || !parse(text, out)) {
		snprintf(err, errlen, "the token file %s holds no token", path);
		explicit_bzero(out, sizeof(*out));
		rv = PIGEON_INVALID_ARGUMENT;
		goto out_wipe;
	}
	out->open_to_others = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
	rv = PIGEON_OK;
out_wipe:
	explicit_bzero(text, sizeof(text));
out_close:
	close(fd);
	return rv;
}

/* Makes the missing directories of the file at path, each with mode 0700
 * whatever the umask.  Those that exist are left as they are: they may be
 * the user's own choice, as ~/.config usually is. */
static pigeon_status
make_dirs(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "the path of the token file is too long");
		return PIGEON_INVALID_ARGUMENT;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		return PIGEON_OK;
	*slash = '\0';
	for (char *p = dir + 1; p <= slash; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) == 0) {
			if (chmod(dir, 0700) != 0)
				goto fail;
		} else if (errno != EEXIST) {
			goto fail;
		}
		if (p != slash)
			*p = '/';
	}
	return PIGEON_OK;

fail:
	snprintf(err, errlen, "cannot make the directory %s: %s", dir, strerror(errno));
	return PIGEON_UNKNOWN;
}

/* Writes all of buf to fd. */
static bool
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Syncs the directory of path, so that a rename into it survives a crash.
 * Best effort: the file is in place either way. */
static void
sync_dir(const char *path)
{
	char dir[4096];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
}

pigeon_status
token_file_save(const char *path, const char *token, const char *username, char *err,
    size_t errlen)
{
	char tmp[4096 + 8], text[FILE_MAX + 1];
	pigeon_status rv;
	int fd, n;

	if ((rv = make_dirs(path, err, errlen)) != PIGEON_OK)
		return rv;
	n = snprintf(text, sizeof(text), "%s\n%s\n", token, username);
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "the token or the path of %s is too long", path);
		rv = PIGEON_INVALID_ARGUMENT;
		goto fail_wipe;
	}
	/* mkostemp makes the file with mode 0600 and no one else can have
	 * opened it; fchmod says so whatever the C library. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot write the token file %s: %s", path, strerror(errno));
		rv = PIGEON_UNKNOWN;
		goto fail_wipe;
	}
	if (fchmod(fd, 0600) != 0 || !write_all(fd, text, (size_t)n) || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write the token file %s: %s", path, strerror(errno));
		close(fd);
		rv = PIGEON_UNKNOWN;
		goto fail_unlink;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot write the token file %s: %s", path, strerror(errno));
		rv = PIGEON_UNKNOWN;
		goto fail_unlink;
	}
	sync_dir(path);
	explicit_bzero(text, sizeof(text));
	return PIGEON_OK;

fail_unlink:
	unlink(tmp);
fail_wipe:
	explicit_bzero(text, sizeof(text));
	return rv;
}

pigeon_status
token_file_remove(const char *path, char *err, size_t errlen)
{
	if (unlink(path) == 0 || errno == ENOENT)
		return PIGEON_OK;
	snprintf(err, errlen, "cannot remove the token file %s: %s", path, strerror(errno));
	return PIGEON_UNKNOWN;
}
