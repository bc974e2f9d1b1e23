/* SPDX-License-Identifier: MIT */
/*
 * pigeon-spam-eval: trains the learning filter (src/spam/bayes.h) on
 * labelled files and classifies others, for tools/spam-eval, which splits
 * the corpus, turns each mail into the text both filters get and scores
 * the verdicts (docs/spam.md).  Each list names one file a line, after its
 * label: "spam PATH" or "ham PATH" (the label of a file to classify is
 * ignored).  Prints one line per classified file, "PATH<TAB>VERDICT<TAB>SCORE"
 * with VERDICT spam, ham or abstain, then "verdicts_per_s N": the verdicts
 * alone, over the texts in memory, repeated for at least a second.  Says
 * on stderr how much it learned.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "clocks.h"
#include "opts.h"

typedef struct text {
	char *path;
	char *data;
	size_t len;
	bool spam;
} text;

typedef struct text_list {
	text *v;
	size_t n, cap;
} text_list;

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (n == cap) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

static void
list_free(text_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].data);
	}
	free(l->v);
}

/* Reads the list file and every file it names; false (reported) on error. */
static bool
list_load(text_list *l, const char *list_path)
{
	FILE *f = fopen(list_path, "r");
	char line[4096];
	bool ok = true;

	if (f == NULL) {
		fprintf(stderr, "pigeon-spam-eval: %s: %s\n", list_path, strerror(errno));
		return false;
	}
	while (ok && fgets(line, sizeof(line), f) != NULL) {
		char *path = strchr(line, ' ');
		text *t;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (path == NULL ||
		    (strncmp(line, "spam ", 5) != 0 && strncmp(line, "ham ", 4) != 0)) {
			fprintf(stderr, "pigeon-spam-eval: %s: bad line \"%s\"\n", list_path, line);
			ok = false;
			break;
		}
		path++;
		if (l->n == l->cap) {
			text *nv =
			    realloc(l->v, (l->cap = l->cap ? 2 * l->cap : 1024) * sizeof(*nv));

			if (nv == NULL) {
				ok = false;
				break;
			}
			l->v = nv;
		}
		t = &l->v[l->n];
		t->spam = line[0] == 's';
		if ((t->path = strdup(path)) == NULL) {
			ok = false;
			break;
		}
		if ((t->data = read_file(path, &t->len)) == NULL) {
			fprintf(stderr, "pigeon-spam-eval: %s: %s\n", path, strerror(errno));
			free(t->path);
			ok = false;
			break;
		}
		l->n++;
	}
	fclose(f);
	return ok;
}

static bool
parse_double(const char *name, const char *s, double *out)
{
	char *end;

	if (s == NULL)
		return true;
	errno = 0;
	*out = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0') {
		fprintf(stderr, "pigeon-spam-eval: bad --%s \"%s\"\n", name, s);
		return false;
	}
	return true;
}

static const char *
outcome_name(spam_bayes_outcome o)
{
	switch (o) {
	case SPAM_BAYES_SPAM:
		return "spam";
	case SPAM_BAYES_HAM:
		return "ham";
	default:
		return "abstain";
	}
}

int
main(int argc, char **argv)
{
	const char *robs = NULL, *robx = NULL, *min_dev = NULL, *cutoff = NULL;
	uint64_t min_learned = 0;
	const opt_def defs[] = {
	    {"min-learned", NULL, OPT_UINT, NULL,
	     "spam and ham messages needed before a verdict (default 200 each)", &min_learned},
	    {"robs", NULL, OPT_STRING, NULL, "Robinson's s", &robs},
	    {"robx", NULL, OPT_STRING, NULL, "Robinson's x", &robx},
	    {"min-dev", NULL, OPT_STRING, NULL, "tokens nearer 0.5 are ignored", &min_dev},
	    {"cutoff", NULL, OPT_STRING, NULL, "spam from this score on", &cutoff},
	    {NULL, NULL, 0, NULL, NULL, NULL},
	};
	spam_bayes_params p;
	spam_bayes_builder *b = NULL;
	spam_bayes_model *m = NULL;
	text_list train = {0}, test = {0};
	spam_bayes_verdict v;
	uint64_t verdicts = 0;
	uint32_t spam, ham;
	int64_t t0, t1;
	int first, code = 1;

	if (!opts_parse(defs, argc, argv, "[OPTION]... TRAIN_LIST TEST_LIST",
	                "Trains the learning filter on labelled files and classifies others.",
	                &first, &code))
		return code;
	if (argc - first != 2) {
		fprintf(stderr, "pigeon-spam-eval: needs TRAIN_LIST and TEST_LIST; see --help\n");
		return 2;
	}
	spam_bayes_params_init(&p);
	if (min_learned > 0)
		p.min_spam = p.min_ham =
		    min_learned > UINT32_MAX ? UINT32_MAX : (uint32_t)min_learned;
	if (!parse_double("robs", robs, &p.robs) || !parse_double("robx", robx, &p.robx) ||
	    !parse_double("min-dev", min_dev, &p.min_dev) ||
	    !parse_double("cutoff", cutoff, &p.spam_cutoff))
		return 2;
	code = 1;
	if (!list_load(&train, argv[first]) || !list_load(&test, argv[first + 1]))
		goto out;
	if (spam_bayes_builder_new(&b) != PIGEON_OK)
		goto out;
	for (size_t i = 0; i < train.n; i++) {
		if (spam_bayes_builder_learn(b, train.v[i].data, train.v[i].len, train.v[i].spam) !=
		    PIGEON_OK) {
			fprintf(stderr, "pigeon-spam-eval: the model is full\n");
			goto out;
		}
	}
	spam_bayes_builder_messages(b, &spam, &ham);
	fprintf(stderr,
	        "pigeon-spam-eval: learned %" PRIu32 " spam and %" PRIu32 " ham, %zu tokens\n",
	        spam, ham, spam_bayes_builder_tokens(b));
	if (spam_bayes_model_new(&m, b, &p) != PIGEON_OK) {
		fprintf(stderr, "pigeon-spam-eval: bad constants; see --help\n");
		goto out;
	}
	for (size_t i = 0; i < test.n; i++) {
		spam_bayes_classify(m, test.v[i].data, test.v[i].len, &v);
		printf("%s\t%s\t%.6f\n", test.v[i].path, outcome_name(v.outcome), v.score);
	}
	/* The timing: whole passes over the held-out texts, at least a second. */
	t0 = clocks_mono_us();
	do {
		for (size_t i = 0; i < test.n; i++)
			spam_bayes_classify(m, test.v[i].data, test.v[i].len, &v);
		verdicts += test.n;
		t1 = clocks_mono_us();
	} while (test.n > 0 && t1 - t0 < 1000000);
	printf("verdicts_per_s %.0f\n", t1 > t0 ? verdicts * 1e6 / (double)(t1 - t0) : 0.0);
	code = 0;

out:
	spam_bayes_model_free(m);
	spam_bayes_builder_free(b);
	list_free(&train);
	list_free(&test);
	return code;
}
