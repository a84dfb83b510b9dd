// SPDX-License-Identifier: MIT
/*
 * `rdma-tcp link restore [--check] [FILE]`: the devices of a links.conf
 * (rdma-tcp-links.conf(5)), added again, as rdma-tcp.service does at boot.
 *
 * One device a line, the words of `rdma-tcp link add` after "link add";
 * '#' starts a comment. The whole file is checked before anything is
 * added, so a typo changes nothing (exit 2, every bad line reported with
 * FILE:LINE); then each device is added, one that exists already is left
 * as it is (a restart of the service changes nothing), and a device that
 * cannot be added (its netdev missing, a key file refused) does not keep
 * the others from being added: exit 1 at the end.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define LINE_MAX_LEN 1024
#define WORDS_MAX    32
#define LINES_MAX    256

struct conf_line {
	int lineno;
	const char *why; /* why the line cannot be read, or NULL */
	int argc;
	char *argv[WORDS_MAX];
	char *buf; /* the words point into it */
};

struct conf {
	const char *file;
	struct conf_line lines[LINES_MAX];
	int n;
};

static void conf_free(struct conf *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		free(c->lines[i].buf);
}

/*
 * Split @s into words at blanks, up to a '#' that starts a word (the
 * comment is not looked at). Quotes and control characters are refused
 * rather than guessed at: the words are passed on as they are (a path
 * with blanks cannot be written). 0, or a message.
 */
static const char *split(char *s, struct conf_line *l)
{
	char *p;

	for (p = s; *p; p++) {
		if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
		if (*p == '"' || *p == '\'' || *p == '\\')
			return "quotes and backslashes are not supported";
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return "control character in line";
	}
	l->argc = 0;
	for (p = strtok(s, " \t"); p; p = strtok(NULL, " \t")) {
		if (l->argc == WORDS_MAX)
			return "too many words";
		l->argv[l->argc++] = p;
	}
	return NULL;
}

/*
 * Reads and splits @c->file; a line that cannot be split is kept with
 * its reason, for conf_check() to report in line order. The count of
 * lines reported here (past LINES_MAX), or -1.
 */
static int conf_read(struct conf *c, FILE *f)
{
	char *buf = NULL, *nl;
	size_t cap = 0;
	int lineno = 0, bad = 0;
	const char *why;
	ssize_t len;

	while ((len = getline(&buf, &cap, f)) >= 0) {
		struct conf_line spare,
			*l = c->n < LINES_MAX ? &c->lines[c->n] : &spare;

		memset(l, 0, sizeof(*l));
		lineno++;
		nl = memchr(buf, '\n', (size_t)len);
		if (nl)
			*nl = '\0';
		if (strlen(buf) != (size_t)(nl ? nl - buf : len))
			why = "NUL byte in line";
		else if (len > LINE_MAX_LEN)
			why = "line longer than 1024 bytes";
		else
			why = split(buf, l);
		if (!why && !l->argc)
			continue;
		if (l == &spare) {
			rtcp_err("%s:%d: more than %d devices", c->file, lineno,
				 LINES_MAX);
			bad++;
			continue;
		}
		l->why = why;
		l->lineno = lineno;
		l->buf = buf;
		buf = NULL;
		cap = 0;
		c->n++;
	}
	free(buf);
	if (ferror(f)) {
		rtcp_err("%s: %s", c->file, strerror(errno));
		return -1;
	}
	return bad;
}

/* Each line through @fn without applying it; the count of bad lines. */
static int conf_check(struct conf *c, restore_line_fn fn)
{
	const char *names[LINES_MAX];
	char where[PATH_MAX + 16];
	int i, j, bad = 0;

	for (i = 0; i < c->n; i++) {
		struct conf_line *l = &c->lines[i];

		snprintf(where, sizeof(where), "%s:%d", c->file, l->lineno);
		if (l->why) {
			rtcp_err("%s: %s", where, l->why);
			names[i] = NULL;
			bad++;
			continue;
		}
		if (fn(l->argc, l->argv, where, false, &names[i])) {
			names[i] = NULL;
			bad++;
			continue;
		}
		for (j = 0; j < i; j++)
			if (names[j] && !strcmp(names[j], names[i])) {
				rtcp_err("%s:%d: device %s already on line %d",
					 c->file, l->lineno, names[i],
					 c->lines[j].lineno);
				bad++;
				break;
			}
	}
	return bad;
}

int cmd_link_restore(const char *file, bool check_only, restore_line_fn fn)
{
	struct conf *c = calloc(1, sizeof(*c));
	int i, bad, ret = RTCP_EXIT_OK;
	const char *name;
	char where[PATH_MAX + 16];
	FILE *f;

	if (!c) {
		rtcp_err("out of memory");
		return RTCP_EXIT_FAIL;
	}
	c->file = file;
	f = fopen(file, "re");
	if (!f) {
		rtcp_err("%s: %s", file, strerror(errno));
		free(c);
		return RTCP_EXIT_FAIL;
	}
	bad = conf_read(c, f);
	fclose(f);
	if (bad >= 0)
		bad += conf_check(c, fn);
	if (bad) {
		if (bad > 0)
			rtcp_err("%s: %d bad line%s, no device added", file,
				 bad, bad == 1 ? "" : "s");
		ret = bad > 0 ? RTCP_EXIT_USAGE : RTCP_EXIT_FAIL;
	}
	for (i = 0; !bad && !check_only && i < c->n; i++) {
		snprintf(where, sizeof(where), "%s:%d", file,
			 c->lines[i].lineno);
		if (fn(c->lines[i].argc, c->lines[i].argv, where, true, &name))
			ret = RTCP_EXIT_FAIL;
	}
	conf_free(c);
	free(c);
	return ret;
}
