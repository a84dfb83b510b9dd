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
#include "psp_cfg.h"

static const char usage_text[] =
	"Usage: rdma-tcp link add NAME netdev IFNAME [type tcp] [cmport PORT]\n"
	"                             [SECURITY]\n"
	"       rdma-tcp link set NAME [cmport PORT] [SECURITY]\n"
	"       rdma-tcp link rotate NAME\n"
	"       rdma-tcp link del NAME\n"
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
	"\n"
	"NAME must start with \"tcp\" (e.g. tcp0). ROOT is $RDMA_TCP_ROOT or\n"
	"/run/rdma-tcp. The default is psp auth with the host key\n"
	"ROOT/etc/host.key. See rdma-tcp(8).\n";

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* A malformed command line: what is wrong, the usage, exit status 2. */
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rdma-tcp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return RTCP_EXIT_USAGE;
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "help") || !strcmp(arg, "-h") ||
	       !strcmp(arg, "--help");
}

/*
 * The "WORD VALUE" pairs of link add and link set, in any order, and one
 * bare word, the device NAME. @ifname/@type are NULL for link set.
 */
static int parse_pairs(int argc, char **argv, const char **name,
		       const char **ifname, const char **type,
		       const char **cmport, struct psp_opts *psp)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char **slot = psp_opts_slot(psp, argv[i]);

		if (!slot && !strcmp(argv[i], "cmport"))
			slot = cmport;
		else if (!slot && ifname && !strcmp(argv[i], "netdev"))
			slot = ifname;
		else if (!slot && type && !strcmp(argv[i], "type"))
			slot = type;
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
		if (*name)
			return usage_error("unexpected argument \"%s\"",
					   argv[i]);
		*name = argv[i];
	}
	if (!*name)
		return usage_error("missing device NAME");
	if (*cmport && cm_port_check(*cmport))
		return usage_error("%s", cm_port_check(*cmport));
	return RTCP_EXIT_OK;
}

/* link add NAME netdev IFNAME [type tcp] [cmport PORT] [SECURITY] */
static int parse_link_add(int argc, char **argv)
{
	const char *name = NULL, *ifname = NULL, *type = NULL, *why;
	const char *cmport = NULL;
	struct psp_opts psp = { 0 };
	int ret;

	ret = parse_pairs(argc, argv, &name, &ifname, &type, &cmport, &psp);
	if (ret)
		return ret;
	if (!ifname)
		return usage_error("link add: missing \"netdev IFNAME\"");
	if (type && strcmp(type, "tcp") != 0)
		return usage_error("unsupported device type \"%s\" (only tcp)",
				   type);
	why = psp_opts_check(&psp);
	if (why)
		return usage_error("%s", why);
	ret = cmd_link_add(name, ifname, &psp);
	if (!ret && cmport)
		ret = cmd_link_cmport(name, cmport);
	return ret;
}

/* link set NAME [cmport PORT] [SECURITY] */
static int parse_link_set(int argc, char **argv)
{
	struct psp_opts psp = { 0 };
	const char *name = NULL, *why, *cmport = NULL;
	int ret;

	ret = parse_pairs(argc, argv, &name, NULL, NULL, &cmport, &psp);
	if (ret)
		return ret;
	if (!psp_opts_any(&psp) && !cmport)
		return usage_error("link set: nothing to change");
	why = psp_opts_check(&psp);
	if (why)
		return usage_error("%s", why);
	ret = psp_opts_any(&psp) ? cmd_link_set(name, &psp) : RTCP_EXIT_OK;
	if (!ret && cmport)
		ret = cmd_link_cmport(name, cmport);
	return ret;
}

static int parse_link(int argc, char **argv)
{
	const char *cmd = argc ? argv[0] : "show";
	int i;

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
