/* SPDX-License-Identifier: MIT */
/*
 * The pigeon command against a real pigeond --auth required and
 * redis-server (docs/auth.md, "The pigeon command"): registration and login
 * with a password file, the token file (where it is, its modes, what it
 * holds), commands that send the saved token, PERMISSION_DENIED and
 * UNAUTHENTICATED with their exact text and exit code, logout and
 * revoke-sessions removing the file, an admin's file kept, and the
 * password typed on a pseudo-terminal without echo.  Open mode: a password
 * changes nothing and no token is saved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PASSWORD "correct horse battery"
#define BAD_TOKEN "missing, invalid, expired or revoked session token"
/* What pigeond answers to a wrong password or an unknown user. */
#define BAD_LOGIN "wrong username or password"

typedef struct fixture {
	t_env env;
	/* The CLI's XDG_CONFIG_HOME, its default token file, and two
	 * password files (right and wrong). */
	char xdg[300];
	char token[350];
	char pw[300];
	char bad[300];
} fixture;

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char key[300], cmd[700];
	int code;

	assert_non_null(f);
	t_env_init(&f->env, "cli-auth");
	snprintf(f->xdg, sizeof(f->xdg), "%s/config", f->env.dir);
	snprintf(f->token, sizeof(f->token), "%s/pigeon/token", f->xdg);
	snprintf(f->pw, sizeof(f->pw), "%s/carol.pw", f->env.dir);
	snprintf(f->bad, sizeof(f->bad), "%s/wrong.pw", f->env.dir);
	write_file(f->pw, PASSWORD "\n");
	write_file(f->bad, "not the password\n");
	/* The signing key: 32 random bytes. */
	snprintf(key, sizeof(key), "%s/auth.key", f->env.dir);
	snprintf(cmd, sizeof(cmd), "head -c 32 /dev/urandom > '%s' && chmod 600 '%s'", key, key);
	free(t_sh(cmd, &code));
	assert_int_equal(code, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;

	assert_int_equal(t_env_stop(&f->env), 0);
	free(f);
	return 0;
}

static void
start_required(fixture *f)
{
	char key[300];
	const char *args[] = {"--auth", "required", "--auth-key-file", key, NULL};

	snprintf(key, sizeof(key), "%s/auth.key", f->env.dir);
	t_env_start(&f->env, &(t_env_opts){.tag = "cli-auth", .pigeond_args = args});
}

/* `pigeon ARGS` with XDG_CONFIG_HOME in the test's dir and the assignments
 * of env besides (may be ""); ARGS from fmt, shell-quoted by the caller. */
static void
pigeon(fixture *f, t_cli_out *o, const char *env, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
pigeon(fixture *f, t_cli_out *o, const char *env, const char *fmt, ...)
{
	char assign[1000], args[1500];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(assign, sizeof(assign), "XDG_CONFIG_HOME='%s' %s", f->xdg, env);
	t_cli(o, f->env.dir, assign, f->env.rpc_url, "%s", args);
}

#define CLI_OK(f, env, want_out, ...)                                                          \
	do {                                                                                   \
		t_cli_out o_;                                                                  \
		pigeon(f, &o_, env, __VA_ARGS__);                                              \
		assert_string_equal(o_.err, "");                                               \
		assert_string_equal(o_.out, want_out);                                         \
		assert_int_equal(o_.code, 0);                                                  \
	} while (0)

#define CLI_FAIL(f, env, want_err, ...)                                                        \
	do {                                                                                   \
		t_cli_out o_;                                                                  \
		pigeon(f, &o_, env, __VA_ARGS__);                                              \
		assert_string_equal(o_.out, "");                                               \
		assert_string_equal(o_.err, want_err);                                         \
		assert_int_equal(o_.code, 1);                                                  \
	} while (0)

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static unsigned
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

/* Asserts that out is "Logged in as USER until <ISO 8601 UTC>.\n" with the
 * time a day from now (pigeond's default --token-ttl-ms). */
static void
assert_logged_in_for_a_day(const char *out, const char *user)
{
	char prefix[128];
	struct tm tm = {0};
	time_t until;

	snprintf(prefix, sizeof(prefix), "Logged in as %s until ", user);
	assert_true(strncmp(out, prefix, strlen(prefix)) == 0);
	assert_int_equal(sscanf(out + strlen(prefix), "%4d-%2d-%2dT%2d:%2d:%2dZ.", &tm.tm_year,
			     &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
	    6);
	assert_int_equal(strlen(out), strlen(prefix) + 22);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	until = timegm(&tm);
	assert_true(until > time(NULL) + 86400 - 300 && until <= time(NULL) + 86400);
}

static void
test_login_saves_the_token_and_commands_send_it(void **state)
{
	fixture *f = *state;
	char want[600], *text;
	t_cli_out o;

	start_required(f);
	CLI_FAIL(f, "",
	    "pigeon: INVALID_ARGUMENT: password must be 8 to 1024 bytes (give one with "
	    "--ask-password or --password-file F)\n",
	    "register carol");
	CLI_OK(f, "", "Registered carol (regular).\n", "register --password-file '%s' carol",
	    f->pw);

	pigeon(f, &o, "", "login --password-file '%s' carol", f->pw);
	assert_string_equal(o.err, "");
	assert_int_equal(o.code, 0);
	assert_logged_in_for_a_day(o.out, "carol");
	/* The file 0600 in directories 0700 the CLI made, holding the token
	 * and whose it is. */
	assert_int_equal(mode_of(f->xdg), 0700);
	snprintf(want, sizeof(want), "%s/pigeon", f->xdg);
	assert_int_equal(mode_of(want), 0700);
	assert_int_equal(mode_of(f->token), 0600);
	text = t_file_text(f->token);
	assert_true(strncmp(text, "p1.", 3) == 0);
	assert_non_null(strstr(text, "\ncarol\n"));
	assert_string_equal(strstr(text, "\ncarol\n"), "\ncarol\n");
	free(text);

	CLI_OK(f, "", "Message 1 from carol to Alice queued.\n", "send carol Alice hi");
	CLI_FAIL(f, "",
	    "pigeon: PERMISSION_DENIED: sending as another user needs that user or an admin\n",
	    "send Alice carol hi");

	/* A file others may read: still used, with one warning. */
	assert_int_equal(chmod(f->token, 0644), 0);
	pigeon(f, &o, "", "inbox carol");
	snprintf(want, sizeof(want),
	    "pigeon: warning: the token file %s is open to group or others; chmod 600 it\n",
	    f->token);
	assert_string_equal(o.err, want);
	assert_string_equal(o.out, "No messages.\n");
	assert_int_equal(o.code, 0);
	assert_int_equal(chmod(f->token, 0600), 0);

	CLI_OK(f, "", "Logged out carol.\n", "logout carol");
	assert_false(exists(f->token));
	CLI_FAIL(f, "", "pigeon: UNAUTHENTICATED: " BAD_TOKEN " (log in with: pigeon login carol)\n",
	    "send carol Alice hi");
	/* Two failed logins of five allowed (--login-fails-max). */
	CLI_FAIL(f, "", "pigeon: UNAUTHENTICATED: " BAD_LOGIN "\n",
	    "login --password-file '%s' carol", f->bad);
	CLI_FAIL(f, "",
	    "pigeon: UNAUTHENTICATED: " BAD_LOGIN
	    " (this server wants a password: pigeon login --ask-password carol)\n",
	    "login carol");
	assert_false(exists(f->token));
}

static void
test_token_file_option_env_and_revoke_sessions(void **state)
{
	fixture *f = *state;
	char t1[400], t2[400], root[400], env[500], cmd[1200], *out;
	t_cli_out o;
	int code;

	start_required(f);
	snprintf(t1, sizeof(t1), "%s/t1", f->env.dir);
	snprintf(t2, sizeof(t2), "%s/sub/t2", f->env.dir);
	snprintf(root, sizeof(root), "%s/root.token", f->env.dir);
	CLI_OK(f, "", "Registered carol (regular).\n", "register --password-file '%s' carol",
	    f->pw);

	/* --token-file, then PIGEON_TOKEN_FILE, say where the file is. */
	pigeon(f, &o, "", "login --password-file '%s' --token-file '%s' carol", f->pw, t1);
	assert_logged_in_for_a_day(o.out, "carol");
	assert_int_equal(mode_of(t1), 0600);
	assert_false(exists(f->token));
	snprintf(env, sizeof(env), "PIGEON_TOKEN_FILE='%s'", t1);
	CLI_OK(f, env, "No messages.\n", "inbox carol");
	CLI_FAIL(f, "", "pigeon: UNAUTHENTICATED: " BAD_TOKEN " (log in with: pigeon login carol)\n",
	    "inbox carol");
	snprintf(env, sizeof(env), "PIGEON_TOKEN_FILE='%s/none'", f->env.dir);
	CLI_OK(f, env, "No messages.\n", "--token-file '%s' inbox carol", t1);

	/* --json says until when, never the token. */
	snprintf(env, sizeof(env), "PIGEON_TOKEN_FILE='%s'", t2);
	pigeon(f, &o, env, "--json login --password-file '%s' carol", f->pw);
	assert_int_equal(o.code, 0);
	assert_true(strncmp(o.out, "{\"expires_ms\":", 14) == 0);
	assert_non_null(strstr(o.out, ",\"sequence\":"));
	assert_non_null(strstr(o.out, ",\"username\":\"carol\"}\n"));
	assert_null(strstr(o.out, "p1."));
	assert_int_equal(mode_of(t2), 0600);

	/* Revoking carol's sessions ends both; the file used for it goes. */
	CLI_OK(f, "", "Revoked every session of carol (token generation now 1).\n",
	    "--token-file '%s' revoke-sessions carol", t1);
	assert_false(exists(t1));
	CLI_FAIL(f, env, "pigeon: UNAUTHENTICATED: " BAD_TOKEN " (log in with: pigeon login carol)\n",
	    "inbox carol");
	assert_true(exists(t2));
	/* Logging out with a dead token removes it too. */
	CLI_FAIL(f, env, "pigeon: UNAUTHENTICATED: " BAD_TOKEN " (log in with: pigeon login carol)\n",
	    "logout carol");
	assert_false(exists(t2));

	/* An admin acting on carol keeps their own token. */
	snprintf(cmd, sizeof(cmd),
	    "'%s' --redis-url '%s' --auth required --create-admin root --password-file '%s' "
	    "2>'%s/create-admin.log'",
	    getenv("PIGEOND"), f->env.redis.url, f->pw, f->env.dir);
	out = t_sh(cmd, &code);
	assert_int_equal(code, 0);
	free(out);
	pigeon(f, &o, "", "login --password-file '%s' --token-file '%s' root", f->pw, root);
	assert_logged_in_for_a_day(o.out, "root");
	CLI_OK(f, "", "Revoked every session of carol (token generation now 2).\n",
	    "--token-file '%s' revoke-sessions carol", root);
	assert_true(exists(root));
	CLI_OK(f, "", "No messages.\n", "--token-file '%s' inbox carol", root);
}

/* ---- the terminal, through a pseudo-terminal ---- */

typedef struct tty_run {
	pid_t pid;
	int master;
	char seen[4096];
	size_t len;
} tty_run;

/* Starts `pigeon --url URL args...` on a new pseudo-terminal, its
 * controlling terminal, with XDG_CONFIG_HOME in the test's dir. */
static void
tty_start(fixture *f, tty_run *r, const char *const *args)
{
	const char *bin = getenv("PIGEON_CLI");
	char *argv[16];
	int n = 0;

	assert_non_null(bin);
	argv[n++] = (char *)bin;
	argv[n++] = "--url";
	argv[n++] = f->env.rpc_url;
	for (; *args != NULL && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	memset(r, 0, sizeof(*r));
	r->pid = forkpty(&r->master, NULL, NULL, NULL);
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		setenv("XDG_CONFIG_HOME", f->xdg, 1);
		execv(bin, argv);
		_exit(127);
	}
}

/* Reads what the CLI writes on the terminal until it has written text, for
 * up to 20 s.  Returns whether it did. */
static bool
tty_expect(tty_run *r, const char *text)
{
	int64_t deadline = t_now_ms() + 20000;

	while (strstr(r->seen, text) == NULL) {
		struct pollfd p = {.fd = r->master, .events = POLLIN};
		int64_t left = deadline - t_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return false;
		if ((n = read(r->master, r->seen + r->len, sizeof(r->seen) - 1 - r->len)) <= 0)
			return false;
		r->len += (size_t)n;
		r->seen[r->len] = '\0';
	}
	return true;
}

static void
tty_type(tty_run *r, const char *text)
{
	assert_int_equal(write(r->master, text, strlen(text)), (ssize_t)strlen(text));
}

typedef struct tty_exit {
	pid_t pid;
	int status;
} tty_exit;

static bool
exited(void *arg)
{
	tty_exit *e = arg;

	return waitpid(e->pid, &e->status, WNOHANG) == e->pid;
}

/* Reads the rest of what the CLI writes until it exits, within 20 s (else
 * kills it and fails), and returns its code, or 128 + the signal that
 * ended it; with tio not NULL, the terminal's settings as the CLI left
 * them. */
static int
tty_wait(tty_run *r, struct termios *tio)
{
	tty_exit e = {.pid = r->pid};
	int st;

	/* The read fails once the CLI has exited and closed the terminal. */
	tty_expect(r, "\x01never written\x01");
	if (!t_wait_for(exited, &e, 20000)) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, &st, 0);
		fprintf(stderr, "the CLI did not exit; it wrote: %s\n", r->seen);
		fail();
	}
	st = e.status;
	if (tio != NULL)
		assert_int_equal(tcgetattr(r->master, tio), 0);
	close(r->master);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
test_password_typed_on_a_terminal_is_not_echoed(void **state)
{
	fixture *f = *state;
	static const char *const reg[] = {"--ask-password", "register", "dave", NULL};
	static const char *const reg2[] = {"--ask-password", "register", "erin", NULL};
	static const char *const in[] = {"--ask-password", "login", "dave", NULL};
	struct termios tio;
	tty_run r;

	start_required(f);
	tty_start(f, &r, reg);
	assert_true(tty_expect(&r, "Password for dave: "));
	tty_type(&r, "typed secret 1\n");
	assert_true(tty_expect(&r, "Password for dave (again): "));
	tty_type(&r, "typed secret 1\n");
	assert_true(tty_expect(&r, "Registered dave (regular).\r\n"));
	assert_int_equal(tty_wait(&r, NULL), 0);
	assert_null(strstr(r.seen, "typed secret"));
	assert_string_equal(r.seen, "Password for dave: \r\nPassword for dave (again): \r\n"
				    "Registered dave (regular).\r\n");

	tty_start(f, &r, reg2);
	assert_true(tty_expect(&r, "Password for erin: "));
	tty_type(&r, "typed secret 1\n");
	assert_true(tty_expect(&r, "Password for erin (again): "));
	tty_type(&r, "typed secret 2\n");
	assert_true(tty_expect(&r, "pigeon: the passwords do not match\r\n"));
	assert_int_equal(tty_wait(&r, NULL), 1);

	tty_start(f, &r, in);
	assert_true(tty_expect(&r, "Password for dave: "));
	tty_type(&r, "typed secret 1\n");
	assert_true(tty_expect(&r, "Logged in as dave until "));
	assert_int_equal(tty_wait(&r, &tio), 0);
	assert_true((tio.c_lflag & ECHO) != 0);
	assert_null(strstr(r.seen, "typed secret"));
	assert_int_equal(mode_of(f->token), 0600);

	/* Ctrl-C at the prompt ends the CLI by SIGINT, echo back on. */
	tty_start(f, &r, in);
	assert_true(tty_expect(&r, "Password for dave: "));
	tty_type(&r, "\x03");
	assert_int_equal(tty_wait(&r, &tio), 128 + SIGINT);
	assert_true((tio.c_lflag & ECHO) != 0);
}

/* ---- open mode ---- */

static void
test_open_mode_is_unchanged_and_saves_nothing(void **state)
{
	fixture *f = *state;

	t_env_start(&f->env, &(t_env_opts){.tag = "cli-auth"});
	CLI_OK(f, "", "Logged in flain1.\n", "login --password-file '%s' flain1", f->pw);
	assert_false(exists(f->xdg));
	CLI_OK(f, "", "Logged out flain1.\n", "logout flain1");
	CLI_FAIL(f, "",
	    "pigeon: FAILED_PRECONDITION: sessions exist only when pigeond runs with --auth "
	    "required\n",
	    "revoke-sessions flain1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_login_saves_the_token_and_commands_send_it, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_token_file_option_env_and_revoke_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_password_typed_on_a_terminal_is_not_echoed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_mode_is_unchanged_and_saves_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
