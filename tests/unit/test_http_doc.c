/* SPDX-License-Identifier: MIT */
/* docs/http.md against the router: the rows of its table under "## Routes"
 * must name exactly the method and path pairs the route table serves, each
 * once.  A route added without a row fails here, and so does a row for a
 * route or method the router does not have.  The parser of a row is pure
 * and tested first, so a failure below is about the doc, not the parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routes.h"

#define DOC_PATH PIGEON_SOURCE_DIR "/docs/http.md"
#define ROUTES_HEADING "## Routes"

/* The method names a row may use, each with its bit in routes.h. */
static const struct {
	unsigned bit;
	const char *name;
} methods[] = {
    {HTTP_METHOD_GET, "GET"},
    {HTTP_METHOD_HEAD, "HEAD"},
    {HTTP_METHOD_POST, "POST"},
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

/* One parsed row: its methods as bits and its path. */
typedef struct t_row {
	unsigned bits;
	char path[128];
} t_row;

/* Parses the first cell of a table row, "| `GET, HEAD /user-stats` | ...":
 * one code span holding method names separated by ", ", one space, and a
 * path starting with '/'.  Returns false, with why set, for anything else,
 * a method named twice or a name routes.h has no bit for. */
static bool
t_parse_row(const char *line, t_row *row, const char **why)
{
	const char *p = line, *end, *path;
	char list[64], *name;

	memset(row, 0, sizeof(*row));
	if (*p++ != '|') {
		*why = "a row starts with '|'";
		return false;
	}
	while (*p == ' ')
		p++;
	if (*p++ != '`' || (end = strchr(p, '`')) == NULL) {
		*why = "the first cell is one code span";
		return false;
	}
	for (const char *q = end + 1; *q != '|'; q++) {
		if (*q != ' ') {
			*why = "the first cell holds nothing but the code span";
			return false;
		}
	}
	if ((path = memchr(p, '/', (size_t)(end - p))) == NULL || path == p || path[-1] != ' ' ||
	    (size_t)(path - 1 - p) >= sizeof(list) || (size_t)(end - path) >= sizeof(row->path) ||
	    memchr(path, ' ', (size_t)(end - path)) != NULL) {
		*why = "the code span is METHODS, one space, and a path starting with '/'";
		return false;
	}
	memcpy(row->path, path, (size_t)(end - path));
	row->path[end - path] = '\0';
	memcpy(list, p, (size_t)(path - 1 - p));
	list[path - 1 - p] = '\0';
	/* "GET, HEAD": names separated by ", ", none empty. */
	for (name = list; name != NULL;) {
		char *sep = strstr(name, ", ");
		size_t i;

		if (sep != NULL)
			*sep = '\0';
		for (i = 0; i < N_METHODS; i++)
			if (strcmp(methods[i].name, name) == 0)
				break;
		if (i == N_METHODS) {
			*why = "a method is GET, HEAD or POST, and methods are separated by \", \"";
			return false;
		}
		if (row->bits & methods[i].bit) {
			*why = "a method is named twice";
			return false;
		}
		row->bits |= methods[i].bit;
		name = sep != NULL ? sep + 2 : NULL;
	}
	return true;
}

/* The route with this path, or NULL. */
static const http_route *
t_route_of_path(const char *path)
{
	for (int i = 0; i < HTTP_ROUTE_COUNT; i++) {
		const http_route *r = http_route_get((http_route_id)i);

		if (strcmp(r->path, path) == 0)
			return r;
	}
	return NULL;
}

static void
t_name_bits(unsigned bits, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_METHODS; i++)
		if ((bits & methods[i].bit) != 0 && n < cap)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", n > 0 ? ", " : "",
			                      methods[i].name);
}

/* Reads docs/http.md's route table into documented[route id] (method bits
 * per route).  Returns the number of problems, each printed with its line
 * when report is set.  The table is the first one after the "## Routes"
 * heading and ends at the first line that does not start with '|'. */
static int
t_read_doc(unsigned documented[HTTP_ROUTE_COUNT], bool report)
{
	char line[1024];
	int lineno = 0, rows = 0, problems = 0;
	bool in_section = false, in_table = false;
	FILE *f = fopen(DOC_PATH, "r");

	if (f == NULL)
		fail_msg("cannot open %s", DOC_PATH);
	memset(documented, 0, sizeof(unsigned) * HTTP_ROUTE_COUNT);
	while (fgets(line, sizeof(line), f) != NULL) {
		int row_in_table;
		const char *why;
		const http_route *r;
		t_row row;
		char names[32];

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!in_section) {
			in_section = strcmp(line, ROUTES_HEADING) == 0;
			continue;
		}
		if (line[0] != '|') {
			if (in_table)
				break;
			if (strncmp(line, "## ", 3) == 0)
				break;
			continue;
		}
		/* The header row and the separator row come first. */
		row_in_table = rows++;
		in_table = true;
		if (row_in_table < 2)
			continue;
		if (!t_parse_row(line, &row, &why)) {
			if (report)
				print_error("docs/http.md:%d: %s: %s\n", lineno, why, line);
			problems++;
			continue;
		}
		if ((r = t_route_of_path(row.path)) == NULL) {
			if (report)
				print_error("docs/http.md:%d: the router has no path %s\n", lineno,
				            row.path);
			problems++;
			continue;
		}
		if ((row.bits & ~r->methods) != 0) {
			t_name_bits(row.bits & ~r->methods, names, sizeof(names));
			if (report)
				print_error("docs/http.md:%d: the router does not serve %s %s\n",
				            lineno, names, row.path);
			problems++;
		}
		if ((row.bits & documented[r->id]) != 0) {
			t_name_bits(row.bits & documented[r->id], names, sizeof(names));
			if (report)
				print_error("docs/http.md:%d: %s %s has a row already\n", lineno,
				            names, row.path);
			problems++;
		}
		documented[r->id] |= row.bits & r->methods;
	}
	fclose(f);
	if (!in_section)
		fail_msg("%s has no line \"%s\"", DOC_PATH, ROUTES_HEADING);
	if (rows <= 2)
		fail_msg("%s has no route table under \"%s\"", DOC_PATH, ROUTES_HEADING);
	return problems;
}

/* The parser */

static void
test_row_with_one_method(void **state)
{
	t_row row;
	const char *why = NULL;

	assert_true(t_parse_row("| `POST /login` | logs a user in | 200 |", &row, &why));
	assert_int_equal(row.bits, HTTP_METHOD_POST);
	assert_string_equal(row.path, "/login");
}

static void
test_row_with_a_method_list(void **state)
{
	t_row row;
	const char *why = NULL;

	assert_true(t_parse_row("|`GET, HEAD, POST /inbound-messages`| x |", &row, &why));
	assert_int_equal(row.bits, HTTP_METHOD_GET | HTTP_METHOD_HEAD | HTTP_METHOD_POST);
	assert_string_equal(row.path, "/inbound-messages");
}

static void
test_malformed_rows_are_refused(void **state)
{
	static const char *const bad[] = {
	    "| POST /login | no code span |",
	    "| `POST` /login | path outside the span |",
	    "| `POST /login` x | more than the span |",
	    "| `/login` | no method |",
	    "| `POST login` | no slash |",
	    "| `POST  /login` | two spaces |",
	    "| `POST /login x` | a space in the path |",
	    "| `PUT /login` | a method the router has no bit for |",
	    "| `GET,HEAD /healthz` | no space after the comma |",
	    "| `GET, GET /healthz` | a method twice |",
	    "| `get /healthz` | lower case |",
	    "| `GET, /healthz` | an empty method |",
	    "| `GET, HEAD, /healthz` | a trailing comma |",
	    "| `POST /login` no closing bar",
	};
	t_row row;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;

		if (t_parse_row(bad[i], &row, &why))
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
	}
}

/* The doc against the router */

static void
test_every_doc_row_names_a_routed_method_and_path_once(void **state)
{
	unsigned documented[HTTP_ROUTE_COUNT];

	assert_int_equal(t_read_doc(documented, true), 0);
}

static void
test_every_routed_method_and_path_has_a_doc_row(void **state)
{
	unsigned documented[HTTP_ROUTE_COUNT], known = 0;
	int missing = 0;

	/* Problems with rows are the test above's to report. */
	t_read_doc(documented, false);
	for (size_t i = 0; i < N_METHODS; i++)
		known |= methods[i].bit;
	for (int i = 0; i < HTTP_ROUTE_COUNT; i++) {
		const http_route *r = http_route_get((http_route_id)i);
		char names[32];

		assert_non_null(r);
		/* A method added to routes.h must be added to methods[] too. */
		if ((r->methods & ~known) != 0)
			fail_msg("%s has a method bit 0x%x this test cannot name", r->path,
			         r->methods & ~known);
		if ((r->methods & ~documented[i]) != 0) {
			t_name_bits(r->methods & ~documented[i], names, sizeof(names));
			print_error("docs/http.md has no row for %s %s\n", names, r->path);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_row_with_one_method),
	    cmocka_unit_test(test_row_with_a_method_list),
	    cmocka_unit_test(test_malformed_rows_are_refused),
	    cmocka_unit_test(test_every_doc_row_names_a_routed_method_and_path_once),
	    cmocka_unit_test(test_every_routed_method_and_path_has_a_doc_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
