/* SPDX-License-Identifier: MIT */
/* Passwords from the terminal or a file; see password.h. */
#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The signals that end the process while echo is off.  Their handler
 * notes the signal and writes a byte into a pipe that the reading polls
 * along with the terminal: the wait ends whichever thread the signal lands
 * on (libpigeon's client has nng's threads running by then) and even when
 * it comes just before the wait begins, which would leave a bare read()
 * blocked.  The terminal is then restored before the signal is raised
 * again with its previous handler.  (A stop, Ctrl-Z, is left alone: the
 * shell resets the terminal when it takes it back.) */
static const int caught[] = {SIGINT, SIGHUP, SIGQUIT, SIGTERM};
#define NCAUGHT (sizeof(caught) / sizeof(caught[0]))

static volatile sig_atomic_t signalled;
static int wake[2] = {-1, -1};

static void
note_signal(int sig)
{
	int saved_errno = errno;
	ssize_t ignored;

	signalled = sig;
	ignored = write(wake[1], "", 1);
	(void)ignored;
	errno = saved_errno;
}

void
password_wipe(char *pw)
{
	explicit_bzero(pw, PASSWORD_CAP);
}

/* Reads one line from fd into out, as pigeond --create-admin reads its
 * password file: up to the first CR or LF.  Reads to the end of the line
 * even past PASSWORD_MAX, so that the rest of a long line typed on the
 * terminal is not left for the shell to run.  Returns OK;
 * INVALID_ARGUMENT for an empty line, or one over PASSWORD_MAX bytes with
 * *too_long set; CANCELLED when a caught signal came (with wake_fd, the
 * pipe of note_signal, else -1); UNKNOWN for a failed read, with errno
 * kept.  Wipes out unless OK. */
static pigeon_status
read_line(int fd, int wake_fd, char *out, bool *too_long)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
	size_t len = 0;
	bool cr = false;
	ssize_t n;
	char ch;

	*too_long = false;
	for (;;) {
		if (wake_fd >= 0 && (n = poll(p, 2, -1)) < 0 && errno != EINTR) {
			password_wipe(out);
			return PIGEON_UNKNOWN;
		}
		if (signalled != 0) {
			password_wipe(out);
			return PIGEON_CANCELLED;
		}
		if (wake_fd >= 0 && (n < 0 || p[0].revents == 0))
			continue;
		if ((n = read(fd, &ch, 1)) < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			password_wipe(out);
			return PIGEON_UNKNOWN;
		}
		if (n == 0 || ch == '\n')
			break;
		if (ch == '\r')
			cr = true;
		else if (cr)
			continue;
		else if (len < PASSWORD_MAX)
			out[len++] = ch;
		else
			*too_long = true;
	}
	out[len] = '\0';
	if (*too_long || len == 0) {
		password_wipe(out);
		return PIGEON_INVALID_ARGUMENT;
	}
	return PIGEON_OK;
}

/* Says in err why read_line failed on the file `what` (NULL: the
 * terminal). */
static void
read_line_error(pigeon_status rv, bool too_long, const char *what, char *err, size_t errlen)
{
	if (rv == PIGEON_UNKNOWN)
		snprintf(err, errlen, "cannot read %s: %s", what != NULL ? what : "the terminal",
		    strerror(errno));
	else if (rv == PIGEON_CANCELLED)
		snprintf(err, errlen, "interrupted");
	else if (too_long)
		snprintf(err, errlen, "the password%s%s is over %d bytes", what != NULL ? " in " : "",
		    what != NULL ? what : "", PASSWORD_MAX);
	else if (what != NULL)
		snprintf(err, errlen, "no password in %s (its first line is empty)", what);
	else
		snprintf(err, errlen, "no password given");
}

pigeon_status
password_read_file(const char *path, char *out, char *err, size_t errlen)
{
	bool std_in = strcmp(path, "-") == 0, too_long;
	const char *what = std_in ? "standard input" : path;
	int fd = std_in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	pigeon_status rv;

	if (fd < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		password_wipe(out);
		return PIGEON_UNKNOWN;
	}
	if ((rv = read_line(fd, -1, out, &too_long)) != PIGEON_OK)
		read_line_error(rv, too_long, what, err, errlen);
	if (!std_in)
		close(fd);
	return rv;
}

/* Writes prompt to the terminal fd, reads a line with echo off, and ends
 * the line that the user could not see. */
static pigeon_status
ask_once(int fd, const struct termios *quiet, const char *prompt, char *out, char *err,
    size_t errlen)
{
	pigeon_status rv;
	bool too_long;
	ssize_t ignored;

	if (tcsetattr(fd, TCSAFLUSH, quiet) != 0 || write(fd, prompt, strlen(prompt)) < 0) {
		snprintf(err, errlen, "cannot use the terminal: %s", strerror(errno));
		password_wipe(out);
		return PIGEON_UNKNOWN;
	}
	rv = read_line(fd, wake[0], out, &too_long);
	if (rv != PIGEON_OK)
		read_line_error(rv, too_long, NULL, err, errlen);
	/* Cosmetic: the password is read either way. */
	ignored = write(fd, "\n", 1);
	(void)ignored;
	return rv;
}

pigeon_status
password_ask(const char *prompt, const char *confirm, char *out, char *err, size_t errlen)
{
	struct sigaction sa = {0}, old[NCAUGHT];
	struct termios saved, quiet;
	char again[PASSWORD_CAP];
	pigeon_status rv;
	int fd, sig;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot ask for a password: /dev/tty: %s", strerror(errno));
		password_wipe(out);
		return PIGEON_UNKNOWN;
	}
	if (tcgetattr(fd, &saved) != 0) {
		snprintf(err, errlen, "cannot ask for a password: /dev/tty: %s", strerror(errno));
		rv = PIGEON_UNKNOWN;
		goto fail_close;
	}
	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "cannot ask for a password: %s", strerror(errno));
		rv = PIGEON_UNKNOWN;
		goto fail_close;
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	signalled = 0;
	sa.sa_handler = note_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaction(caught[i], &sa, &old[i]);

	rv = ask_once(fd, &quiet, prompt, out, err, errlen);
	if (rv == PIGEON_OK && confirm != NULL) {
		rv = ask_once(fd, &quiet, confirm, again, err, errlen);
		if (rv == PIGEON_OK && strcmp(out, again) != 0) {
			snprintf(err, errlen, "the passwords do not match");
			rv = PIGEON_INVALID_ARGUMENT;
		}
		password_wipe(again);
	}

	tcsetattr(fd, TCSAFLUSH, &saved);
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaction(caught[i], &old[i], NULL);
	close(wake[0]);
	close(wake[1]);
	wake[0] = wake[1] = -1;
	if ((sig = signalled) != 0)
		raise(sig);
fail_close:
	close(fd);
	if (rv != PIGEON_OK)
		password_wipe(out);
	return rv;
}
