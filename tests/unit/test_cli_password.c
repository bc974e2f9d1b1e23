/* SPDX-License-Identifier: MIT */
/*
 * Where the pigeon command gets a password (clients/cli/password.h): the
 * first line of a file, read as pigeond --create-admin reads its
 * --password-file, with its limits; standard input; and no terminal at all.
 * The terminal itself, through a pseudo-terminal, is in the auth suite
 * (tests/integration/test_cli_auth.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "password.h"

static char dir[256];
static char path[300];

static int
setup(void **state)
{
	(void)state;
	t_tempdir(dir, sizeof(dir), "cli-password");
	snprintf(path, sizeof(path), "%s/pw", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	t_rm_rf(dir);
	return 0;
}

static void
write_pw(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool
wiped(const char *pw)
{
	for (size_t i = 0; i < PASSWORD_CAP; i++)
		if (pw[i] != '\0')
			return false;
	return true;
}

/* Reads path after writing text there; returns the status. */
static pigeon_status
read_pw(const char *text, char *out, char *err, size_t errlen)
{
	write_pw(text, strlen(text));
	memset(out, 'x', PASSWORD_CAP);
	return password_read_file(path, out, err, errlen);
}

static void
test_file_gives_its_first_line_without_the_line_end(void **state)
{
	char pw[PASSWORD_CAP], err[512];

	(void)state;
	assert_int_equal(read_pw("correct horse\nsecond line\n", pw, err, sizeof(err)), PIGEON_OK);
	assert_string_equal(pw, "correct horse");
	assert_int_equal(read_pw("no line end", pw, err, sizeof(err)), PIGEON_OK);
	assert_string_equal(pw, "no line end");
	assert_int_equal(read_pw(" spaces kept \n", pw, err, sizeof(err)), PIGEON_OK);
	assert_string_equal(pw, " spaces kept ");
}

/* The same password as pigeond --create-admin reads from the same file:
 * up to the first CR or LF. */
static void
test_file_line_ends_at_cr_or_lf_as_pigeond_reads_it(void **state)
{
	char pw[PASSWORD_CAP], err[512];

	(void)state;
	assert_int_equal(read_pw("windows line\r\n", pw, err, sizeof(err)), PIGEON_OK);
	assert_string_equal(pw, "windows line");
	assert_int_equal(read_pw("before\rafter\n", pw, err, sizeof(err)), PIGEON_OK);
	assert_string_equal(pw, "before");
}

static void
test_file_of_1024_bytes_is_taken_and_1025_refused(void **state)
{
	char text[PASSWORD_MAX + 3], pw[PASSWORD_CAP], err[512], want[600];

	(void)state;
	memset(text, 'a', PASSWORD_MAX);
	memcpy(text + PASSWORD_MAX, "\n", 2);
	assert_int_equal(read_pw(text, pw, err, sizeof(err)), PIGEON_OK);
	assert_int_equal(strlen(pw), PASSWORD_MAX);
	memcpy(text + PASSWORD_MAX, "a\n", 3);
	assert_int_equal(read_pw(text, pw, err, sizeof(err)), PIGEON_INVALID_ARGUMENT);
	snprintf(want, sizeof(want), "the password in %s is over 1024 bytes", path);
	assert_string_equal(err, want);
	assert_true(wiped(pw));
}

static void
test_empty_first_line_is_refused(void **state)
{
	char pw[PASSWORD_CAP], err[512], want[600];

	(void)state;
	snprintf(want, sizeof(want), "no password in %s (its first line is empty)", path);
	assert_int_equal(read_pw("", pw, err, sizeof(err)), PIGEON_INVALID_ARGUMENT);
	assert_string_equal(err, want);
	assert_true(wiped(pw));
	assert_int_equal(read_pw("\npassword on line 2\n", pw, err, sizeof(err)),
	    PIGEON_INVALID_ARGUMENT);
	assert_string_equal(err, want);
	assert_int_equal(read_pw("\r\n", pw, err, sizeof(err)), PIGEON_INVALID_ARGUMENT);
}

static void
test_missing_file_is_unknown_and_named(void **state)
{
	char pw[PASSWORD_CAP], err[512];

	(void)state;
	memset(pw, 'x', sizeof(pw));
	assert_int_equal(password_read_file("/nonexistent/pw", pw, err, sizeof(err)),
	    PIGEON_UNKNOWN);
	assert_string_equal(err, "cannot read /nonexistent/pw: No such file or directory");
	assert_true(wiped(pw));
}

static void
test_dash_reads_standard_input(void **state)
{
	char pw[PASSWORD_CAP], err[512];
	int saved = dup(STDIN_FILENO), fd;

	(void)state;
	write_pw("from stdin\nrest\n", 16);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	assert_int_equal(password_read_file("-", pw, err, sizeof(err)), PIGEON_OK);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	assert_string_equal(pw, "from stdin");
}

/* In a new session, which has no controlling terminal, there is nobody to
 * ask. */
static void
test_ask_without_a_terminal_is_unknown(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		char pw[PASSWORD_CAP], err[512];
		pigeon_status st;

		memset(pw, 'x', sizeof(pw));
		if (setsid() < 0)
			_exit(3);
		st = password_ask("Password: ", NULL, pw, err, sizeof(err));
		_exit(st == PIGEON_UNKNOWN && wiped(pw) &&
			      strcmp(err, "cannot ask for a password: /dev/tty: No such device or "
					  "address") == 0
			  ? 0
			  : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_file_gives_its_first_line_without_the_line_end, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_file_line_ends_at_cr_or_lf_as_pigeond_reads_it, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_file_of_1024_bytes_is_taken_and_1025_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_first_line_is_refused, setup, teardown),
		cmocka_unit_test(test_missing_file_is_unknown_and_named),
		cmocka_unit_test_setup_teardown(test_dash_reads_standard_input, setup, teardown),
		cmocka_unit_test(test_ask_without_a_terminal_is_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
