/* SPDX-License-Identifier: MIT */
/*
 * The pigeon command's token file (clients/cli/token_file.h): where it is,
 * by the rules of --token-file, PIGEON_TOKEN_FILE, XDG_CONFIG_HOME and HOME;
 * its modes whatever the umask; saving as a whole; and what loading takes
 * and refuses.  Files in a temp dir of the test's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "token_file.h"

#define TOKEN "p1.YWxpY2UKMDA.wjUSa-pWwCZ4UrQq5Yu"

static char dir[256];

static int
setup(void **state)
{
	(void)state;
	t_tempdir(dir, sizeof(dir), "cli-token");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	t_rm_rf(dir);
	return 0;
}

/* dir/rel in a static buffer of its own (two at a time). */
static const char *
in_dir(const char *rel)
{
	static char buf[2][512];
	static int i;

	i = (i + 1) % 2;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
	return buf[i];
}

static unsigned
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

static void
write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_path_prefers_the_option_then_the_env_then_xdg_then_home(void **state)
{
	char p[64];

	(void)state;
	assert_int_equal(token_file_path(p, sizeof(p), "opt", "/env", "/xdg", "/home/u"), PIGEON_OK);
	assert_string_equal(p, "opt");
	assert_int_equal(token_file_path(p, sizeof(p), NULL, "/env", "/xdg", "/home/u"), PIGEON_OK);
	assert_string_equal(p, "/env");
	assert_int_equal(token_file_path(p, sizeof(p), NULL, NULL, "/xdg", "/home/u"), PIGEON_OK);
	assert_string_equal(p, "/xdg/pigeon/token");
	assert_int_equal(token_file_path(p, sizeof(p), NULL, NULL, NULL, "/home/u"), PIGEON_OK);
	assert_string_equal(p, "/home/u/.config/pigeon/token");
}

static void
test_path_skips_an_empty_env_and_a_relative_xdg_config_home(void **state)
{
	char p[64];

	(void)state;
	assert_int_equal(token_file_path(p, sizeof(p), NULL, "", "", "/home/u"), PIGEON_OK);
	assert_string_equal(p, "/home/u/.config/pigeon/token");
	assert_int_equal(
	    token_file_path(p, sizeof(p), NULL, NULL, "relative/cfg", "/home/u"), PIGEON_OK);
	assert_string_equal(p, "/home/u/.config/pigeon/token");
}

static void
test_path_without_any_place_is_not_found(void **state)
{
	char p[64];

	(void)state;
	assert_int_equal(token_file_path(p, sizeof(p), NULL, NULL, NULL, NULL), PIGEON_NOT_FOUND);
	assert_int_equal(token_file_path(p, sizeof(p), NULL, "", "x", ""), PIGEON_NOT_FOUND);
}

static void
test_path_empty_option_or_too_long_is_invalid(void **state)
{
	char p[18];

	(void)state;
	assert_int_equal(token_file_path(p, sizeof(p), "", "/env", NULL, "/h"), PIGEON_INVALID_ARGUMENT);
	/* "/xdg/pigeon/token" is 17 bytes: it fits in 18, not in 17. */
	assert_int_equal(token_file_path(p, sizeof(p), NULL, NULL, "/xdg", NULL), PIGEON_OK);
	assert_int_equal(token_file_path(p, sizeof(p) - 1, NULL, NULL, "/xdg", NULL),
	    PIGEON_INVALID_ARGUMENT);
}

static void
test_save_then_load_gives_token_and_user_back(void **state)
{
	const char *path = in_dir("cfg/pigeon/token");
	token_file_saved s;
	char err[512], *text;

	(void)state;
	assert_int_equal(token_file_save(path, TOKEN, "carol", err, sizeof(err)), PIGEON_OK);
	text = t_file_text(path);
	assert_string_equal(text, TOKEN "\ncarol\n");
	free(text);
	assert_int_equal(token_file_load(path, &s, err, sizeof(err)), PIGEON_OK);
	assert_string_equal(s.token, TOKEN);
	assert_string_equal(s.username, "carol");
	assert_false(s.open_to_others);
}

/* The file 0600 and the directories made 0700, even under a umask that
 * would let everyone read them. */
static void
test_save_makes_dirs_0700_and_the_file_0600_whatever_the_umask(void **state)
{
	mode_t old = umask(0);
	char err[512];

	(void)state;
	assert_int_equal(
	    token_file_save(in_dir("a/b/token"), TOKEN, "carol", err, sizeof(err)), PIGEON_OK);
	umask(077);
	assert_int_equal(
	    token_file_save(in_dir("c/token"), TOKEN, "carol", err, sizeof(err)), PIGEON_OK);
	umask(old);
	assert_int_equal(mode_of(in_dir("a")), 0700);
	assert_int_equal(mode_of(in_dir("a/b")), 0700);
	assert_int_equal(mode_of(in_dir("a/b/token")), 0600);
	assert_int_equal(mode_of(in_dir("c")), 0700);
	assert_int_equal(mode_of(in_dir("c/token")), 0600);
}

/* A directory that exists may be the user's choice (~/.config often is
 * 0755): it is left as it is. */
static void
test_save_keeps_the_mode_of_existing_dirs(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(mkdir(in_dir("cfg"), 0755), 0);
	assert_int_equal(chmod(in_dir("cfg"), 0755), 0);
	assert_int_equal(
	    token_file_save(in_dir("cfg/pigeon/token"), TOKEN, "carol", err, sizeof(err)), PIGEON_OK);
	assert_int_equal(mode_of(in_dir("cfg")), 0755);
	assert_int_equal(mode_of(in_dir("cfg/pigeon")), 0700);
}

/* Saving again replaces the file, which again is 0600, and leaves no
 * temporary file behind. */
static void
test_save_replaces_the_file_and_leaves_nothing_else(void **state)
{
	const char *path = in_dir("token");
	struct dirent *e;
	char err[512], *text;
	int files = 0;
	DIR *d;

	(void)state;
	write_text(path, "old\n", 4);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(token_file_save(path, TOKEN, "dave", err, sizeof(err)), PIGEON_OK);
	text = t_file_text(path);
	assert_string_equal(text, TOKEN "\ndave\n");
	free(text);
	assert_int_equal(mode_of(path), 0600);
	assert_non_null(d = opendir(dir));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			files++;
	closedir(d);
	assert_int_equal(files, 1);
}

static void
test_save_where_a_file_blocks_the_dir_fails(void **state)
{
	char err[512], want[600];

	(void)state;
	write_text(in_dir("plain"), "x", 1);
	assert_int_equal(
	    token_file_save(in_dir("plain/sub/token"), TOKEN, "carol", err, sizeof(err)),
	    PIGEON_UNKNOWN);
	snprintf(want, sizeof(want), "cannot make the directory %s: Not a directory",
	    in_dir("plain/sub"));
	assert_string_equal(err, want);
}

static void
test_load_without_a_file_is_not_found(void **state)
{
	token_file_saved s;
	char err[512];

	(void)state;
	assert_int_equal(token_file_load(in_dir("none"), &s, err, sizeof(err)), PIGEON_NOT_FOUND);
}

static void
test_load_flags_a_file_open_to_group_or_others(void **state)
{
	const char *path = in_dir("token");
	static const unsigned modes[] = {0640, 0604, 0620, 0602, 0610};
	token_file_saved s;
	char err[512];

	(void)state;
	write_text(path, TOKEN "\ncarol\n", strlen(TOKEN "\ncarol\n"));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		assert_int_equal(chmod(path, modes[i]), 0);
		assert_int_equal(token_file_load(path, &s, err, sizeof(err)), PIGEON_OK);
		assert_true(s.open_to_others);
		assert_string_equal(s.token, TOKEN);
	}
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(token_file_load(path, &s, err, sizeof(err)), PIGEON_OK);
	assert_false(s.open_to_others);
}

/* A token alone on its line (written by hand), CRLF line ends, no final
 * line feed. */
static void
test_load_takes_a_token_alone_and_crlf_lines(void **state)
{
	const char *path = in_dir("token");
	token_file_saved s;
	char err[512];

	(void)state;
	write_text(path, TOKEN, strlen(TOKEN));
	assert_int_equal(token_file_load(path, &s, err, sizeof(err)), PIGEON_OK);
	assert_string_equal(s.token, TOKEN);
	assert_string_equal(s.username, "");
	write_text(path, TOKEN "\r\ncarol\r\n", strlen(TOKEN "\r\ncarol\r\n"));
	assert_int_equal(token_file_load(path, &s, err, sizeof(err)), PIGEON_OK);
	assert_string_equal(s.token, TOKEN);
	assert_string_equal(s.username, "carol");
}

static void
assert_not_a_token(const char *text, size_t len)
{
	const char *path = in_dir("token");
	token_file_saved s;
	char err[512], want[600];

	write_text(path, text, len);
	assert_int_equal(token_file_load(path, &s, err, sizeof(err)), PIGEON_INVALID_ARGUMENT);
	snprintf(want, sizeof(want), "the token file %s holds no token", path);
	assert_string_equal(err, want);
}

static void
test_load_refuses_what_is_not_a_token(void **state)
{
	char big[PIGEON_TOKEN_MAX + 2];
	char err[512], want[600];
	token_file_saved s;

	(void)state;
	assert_not_a_token("", 0);
	assert_not_a_token("\ncarol\n", 7);
	assert_not_a_token("p1.a b\n", 7);
	assert_not_a_token("p1.a\tb\n", 7);
	assert_not_a_token("p1.ab\ncar\x01ol\n", 13);
	assert_not_a_token("p1.a\0b\n", 7);
	assert_not_a_token(TOKEN "\n01234567890123456789012345678901234567890123456789012345678901234\n",
	    strlen(TOKEN) + 67);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\n';
	assert_not_a_token(big, sizeof(big));
	/* The longest token is one. */
	write_text(in_dir("token"), big + 1, sizeof(big) - 1);
	assert_int_equal(token_file_load(in_dir("token"), &s, err, sizeof(err)), PIGEON_OK);
	assert_int_equal(strlen(s.token), PIGEON_TOKEN_MAX);

	assert_int_equal(mkdir(in_dir("d"), 0700), 0);
	assert_int_equal(token_file_load(in_dir("d"), &s, err, sizeof(err)), PIGEON_INVALID_ARGUMENT);
	snprintf(want, sizeof(want), "the token file %s is not a regular file", in_dir("d"));
	assert_string_equal(err, want);
}

static void
test_remove_takes_the_file_and_a_missing_one_is_ok(void **state)
{
	const char *path = in_dir("token");
	struct stat st;
	char err[512];

	(void)state;
	write_text(path, TOKEN "\n", strlen(TOKEN) + 1);
	assert_int_equal(token_file_remove(path, err, sizeof(err)), PIGEON_OK);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(token_file_remove(path, err, sizeof(err)), PIGEON_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_prefers_the_option_then_the_env_then_xdg_then_home),
		cmocka_unit_test(test_path_skips_an_empty_env_and_a_relative_xdg_config_home),
		cmocka_unit_test(test_path_without_any_place_is_not_found),
		cmocka_unit_test(test_path_empty_option_or_too_long_is_invalid),
		cmocka_unit_test_setup_teardown(
		    test_save_then_load_gives_token_and_user_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_save_makes_dirs_0700_and_the_file_0600_whatever_the_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_save_keeps_the_mode_of_existing_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_save_replaces_the_file_and_leaves_nothing_else, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_save_where_a_file_blocks_the_dir_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_load_without_a_file_is_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_load_flags_a_file_open_to_group_or_others, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_load_takes_a_token_alone_and_crlf_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_load_refuses_what_is_not_a_token, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_remove_takes_the_file_and_a_missing_one_is_ok, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
