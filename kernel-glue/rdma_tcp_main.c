// SPDX-License-Identifier: MIT
/*
 * rdma-tcp: the device registry tool of the tcp RDMA provider. Argument
 * parsing and dispatch only; the commands live in link.c and env.c.
 *
 * The command line follows iproute2's `rdma link` so that
 *	rdma link add siw0 type siw netdev eth0
 * becomes
 *	rdma-tcp link add tcp0 type tcp netdev eth0
 * Exit status: 0 success, 1 failure, 2 malformed command line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "glue_util.h"
#include "link_cc.h"
#include "psp_cfg.h"

static const char usage_text[] =
	"Usage: rdma-tcp link add NAME netdev IFNAME [type tcp] [cmport PORT]\n"
	"                         [cc CC] [SECURITY]\n"
	"       rdma-tcp link set NAME [cmport PORT] [cc CC] [SECURITY]\n"
	"       rdma-tcp link rotate NAME\n"
	"       rdma-tcp link del NAME\n"
	"       rdma-tcp link restore [--check] [FILE]\n"
	"       rdma-tcp link [show [NAME]]\n"
	"       rdma-tcp stat [DEV] [-j]\n"
	"       rdma-tcp env\n"
	"       rdma-tcp run [--] COMMAND [ARG]...\n"
	"       rdma-tcp help | -h | --help\n"
	"       rdma-tcp -V | --version\n"
	"\n"
	"SECURITY := [psp auth|encrypt|off] [alg aes128|aes256]\n"
	"            [key FILE | cert FILE certkey FILE ca FILE]\n"
	"            [group GROUP]\n"
	"CC := default | a name of tcp_available_congestion_control (bbr)\n"
	"\n"
	"NAME must start with \"tcp\" (e.g. tcp0). ROOT is $RDMA_TCP_ROOT or\n"
	"/run/rdma-tcp. The default is psp auth with the host key\n"
	"ROOT/etc/host.key. FILE is " RDMA_TCP_LINKS_CONF " unless given.\n"
	"See rdma-tcp(8), rdma-tcp(7), rdma-tcp-links.conf(5).\n";

/* "FILE:LINE" while a links.conf line is parsed: its errors name it and
 * print no usage */
static const char *line_at;

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* A malformed command line: what is wrong, the usage, exit status 2. */
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rdma-tcp: ", stderr);
	if (line_at)
		fprintf(stderr, "%s: ", line_at);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (!line_at)
		fputs(usage_text, stderr);
	return RTCP_EXIT_USAGE;
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "help") || !strcmp(arg, "-h") ||
	       !strcmp(arg, "--help");
}

/* The words of link add and link set (NULL: not given). */
struct link_words {
	const char *name, *ifname, *type, *cc, *cmport;
	struct psp_opts psp;
};

/*
 * The "WORD VALUE" pairs of link add (@add) and link set, in any order,
 * and one bare word, the device NAME.
 */
static int parse_pairs(int argc, char **argv, bool add, struct link_words *w)
{
	int i;

	memset(w, 0, sizeof(*w));
	for (i = 0; i < argc; i++) {
		const char **slot = psp_opts_slot(&w->psp, argv[i]);

		if (!slot && !strcmp(argv[i], "cmport"))
			slot = &w->cmport;
		else if (!slot && !strcmp(argv[i], "cc"))
			slot = &w->cc;
		else if (!slot && add && !strcmp(argv[i], "netdev"))
			slot = &w->ifname;
		else if (!slot && add && !strcmp(argv[i], "type"))
			slot = &w->type;
		if (slot) {
			if (i + 1 >= argc)
				return usage_error("\"%s\" needs a value",
						   argv[i]);
			if (*slot)
				return usage_error("\"%s\" given twice",
						   argv[i]);
			*slot = argv[++i];
			continue;
		}
		if (w->name)
			return usage_error("unexpected argument \"%s\"",
					   argv[i]);
		w->name = argv[i];
	}
	if (!w->name)
		return usage_error("missing device NAME");
	if (w->cmport && cm_port_check(w->cmport))
		return usage_error("%s", cm_port_check(w->cmport));
	return RTCP_EXIT_OK;
}

/* NAME netdev IFNAME [type tcp] [cmport PORT] [cc CC] [SECURITY] */
static int parse_add_args(int argc, char **argv, struct link_words *w)
{
	const char *why;
	int ret;

	ret = parse_pairs(argc, argv, true, w);
	if (ret)
		return ret;
	if (!w->ifname)
		return usage_error("link add: missing \"netdev IFNAME\"");
	if (w->type && strcmp(w->type, "tcp") != 0)
		return usage_error("unsupported device type \"%s\" (only tcp)",
				   w->type);
	why = psp_opts_check(&w->psp);
	if (why)
		return usage_error("%s", why);
	if (w->cc && cc_opt_check(w->cc))
		return RTCP_EXIT_FAIL;
	return RTCP_EXIT_OK;
}

/* link add, once its words are checked */
static int link_add(const struct link_words *w)
{
	int ret = cmd_link_add(w->name, w->ifname, &w->psp, w->cc);

	if (!ret && w->cmport)
		ret = cmd_link_cmport(w->name, w->cmport);
	return ret;
}

static int parse_link_add(int argc, char **argv)
{
	struct link_words w;
	int ret = parse_add_args(argc, argv, &w);

	return ret ? ret : link_add(&w);
}

/* One device of links.conf (restore.c); an existing one is left alone. */
static int restore_line(int argc, char **argv, const char *where, bool apply,
			const char **name)
{
	struct link_words w;
	const char *why;
	int ret;

	line_at = where;
	ret = parse_add_args(argc, argv, &w);
	/* what link add would refuse, found before anything is added */
	if (!ret && (why = rtcp_check_dev_name(w.name)))
		ret = usage_error("invalid device name \"%s\": %s", w.name,
				  why);
	else if (!ret && (why = rtcp_check_ifname(w.ifname)))
		ret = usage_error("invalid netdev name \"%s\": %s", w.ifname,
				  why);
	line_at = NULL;
	*name = w.name;
	if (ret || !apply)
		return ret;
	if (link_exists(w.name)) {
		printf("%s: %s exists, left as it is\n", where, w.name);
		return RTCP_EXIT_OK;
	}
	ret = link_add(&w);
	if (ret)
		rtcp_err("%s: %s not added", where, w.name);
	else
		printf("%s: %s added\n", where, w.name);
	return ret;
}

/* link restore [--check] [FILE] */
static int parse_link_restore(int argc, char **argv)
{
	const char *file = NULL;
	bool check = false;
	int i;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--check") || !strcmp(argv[i], "-n"))
			check = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return usage_error("unknown option \"%s\"", argv[i]);
		else if (file)
			return usage_error("unexpected argument \"%s\"",
					   argv[i]);
		else
			file = argv[i];
	}
	return cmd_link_restore(file ? file : RDMA_TCP_LINKS_CONF, check,
				restore_line);
}

/* link set NAME [cmport PORT] [cc CC] [SECURITY] */
static int parse_link_set(int argc, char **argv)
{
	struct link_words w;
	const char *why;
	int ret;

	ret = parse_pairs(argc, argv, false, &w);
	if (ret)
		return ret;
	if (!psp_opts_any(&w.psp) && !w.cc && !w.cmport)
		return usage_error("link set: nothing to change");
	why = psp_opts_check(&w.psp);
	if (why)
		return usage_error("%s", why);
	if (w.cc && cc_opt_check(w.cc))
		return RTCP_EXIT_FAIL;
	ret = psp_opts_any(&w.psp) || w.cc ? cmd_link_set(w.name, &w.psp, w.cc)
					   : RTCP_EXIT_OK;
	if (!ret && w.cmport)
		ret = cmd_link_cmport(w.name, w.cmport);
	return ret;
}

static int parse_link(int argc, char **argv)
{
	const char *cmd = argc ? argv[0] : "show";
	int i;

	if (!strcmp(cmd, "restore"))
		return parse_link_restore(argc - 1, argv + 1);
	/* no options exist; "-j" must not be taken for a device name */
	for (i = 1; i < argc; i++)
		if (argv[i][0] == '-')
			return usage_error("unknown option \"%s\"", argv[i]);

	if (!strcmp(cmd, "show") || !strcmp(cmd, "list") ||
	    !strcmp(cmd, "ls")) {
		if (argc > 2)
			return usage_error("unexpected argument \"%s\"",
					   argv[2]);
		return cmd_link_show(argc == 2 ? argv[1] : NULL);
	}
	if (!strcmp(cmd, "add"))
		return parse_link_add(argc - 1, argv + 1);
	if (!strcmp(cmd, "set"))
		return parse_link_set(argc - 1, argv + 1);
	if (!strcmp(cmd, "rotate")) {
		if (argc != 2)
			return usage_error(argc < 2 ? "link rotate: missing "
						      "device NAME"
						    : "unexpected argument");
		return cmd_link_rotate(argv[1]);
	}
	if (!strcmp(cmd, "del") || !strcmp(cmd, "delete")) {
		if (argc < 2)
			return usage_error("link del: missing device NAME");
		if (argc > 2)
			return usage_error("unexpected argument \"%s\"",
					   argv[2]);
		return cmd_link_del(argv[1]);
	}
	if (is_help(cmd)) {
		fputs(usage_text, stdout);
		return RTCP_EXIT_OK;
	}
	return usage_error("unknown link command \"%s\"", cmd);
}

/* stat [DEV] [-j], in either order */
static int parse_stat(int argc, char **argv)
{
	const char *dev = NULL;
	bool json = false;
	int i;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-')
			return usage_error("unknown option \"%s\"", argv[i]);
		else if (dev)
			return usage_error("unexpected argument \"%s\"",
					   argv[i]);
		else
			dev = argv[i];
	}
	return cmd_stat(dev, json);
}

static int dispatch(int argc, char **argv)
{
	const char *obj;

	if (argc < 2)
		return usage_error("missing command");
	obj = argv[1];
	if (is_help(obj)) {
		if (argc > 2)
			return usage_error("unexpected argument \"%s\"",
					   argv[2]);
		fputs(usage_text, stdout);
		return RTCP_EXIT_OK;
	}
	if (!strcmp(obj, "-V") || !strcmp(obj, "--version")) {
		if (argc > 2)
			return usage_error("unexpected argument \"%s\"",
					   argv[2]);
		printf("rdma-tcp %s\n", RDMA_TCP_VERSION);
		return RTCP_EXIT_OK;
	}
	if (!strcmp(obj, "link"))
		return parse_link(argc - 2, argv + 2);
	if (!strcmp(obj, "stat"))
		return parse_stat(argc - 2, argv + 2);
	if (!strcmp(obj, "env")) {
		if (argc > 2)
			return usage_error("unexpected argument \"%s\"",
					   argv[2]);
		return cmd_env();
	}
	if (!strcmp(obj, "run")) {
		int first = argc > 2 && !strcmp(argv[2], "--") ? 3 : 2;

		if (first >= argc)
			return usage_error("run: missing COMMAND");
		return cmd_run(argv + first);
	}
	if (obj[0] == '-')
		return usage_error("unknown option \"%s\"", obj);
	return usage_error("unknown command \"%s\"", obj);
}

int main(int argc, char **argv)
{
	int ret = dispatch(argc, argv);

	/* `rdma-tcp env > full-disk` must not report success */
	if (fflush(stdout) || ferror(stdout)) {
		if (errno != EPIPE)
			rtcp_err("write error: %s", strerror(errno));
		if (ret == RTCP_EXIT_OK)
			ret = RTCP_EXIT_FAIL;
	}
	return ret;
}
