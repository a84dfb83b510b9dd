// SPDX-License-Identifier: MIT
/*
 * `rdma-tcp env` and `rdma-tcp run`: the environment that points stock
 * libibverbs at the registry and at our provider.
 *
 * - SYSFS_PATH=ROOT/sys: where libibverbs finds every device's sysfs
 *   files, and where librdma-tcp-nl (or libibverbs itself, without the
 *   preload and without RDMA netlink) lists the registry's devices.
 * - RDMAV_DRIVERS: libibverbs loads each absolute entry with "-rdmav34.so"
 *   appended, so the provider works from a build tree without installing.
 * - LD_PRELOAD: librdma-tcp-nl (RDMA netlink: the registry's devices
 *   beside the kernel's, copy-on-fork) and librdmacm-ext (rdma_cm and
 *   completion channels for tcp devices), those that are there.
 * - RDMA_TCP_ROOT, when not the default, for the provider and child runs.
 *
 * Build or install paths are chosen by where the running binary is: a
 * binary in the build tree uses the build tree's libraries.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "glue_util.h"
#include "registry_int.h"

#if !defined(RDMA_TCP_BUILD_PROVIDER) ||                                \
	!defined(RDMA_TCP_INSTALL_PROVIDER) ||                          \
	!defined(RDMA_TCP_BUILD_RDMACM_EXT) ||                          \
	!defined(RDMA_TCP_INSTALL_RDMACM_EXT) ||                        \
	!defined(RDMA_TCP_BUILD_NL) || !defined(RDMA_TCP_INSTALL_NL) || \
	!defined(RDMA_TCP_BUILD_BINDIR)
#error "build with CMake: it defines the provider and preload library paths"
#endif

#define PROVIDER_ENV "RDMA_TCP_PROVIDER"
/* what libibverbs 44 appends to an absolute RDMAV_DRIVERS entry */
#define PROVIDER_SUFFIX "-rdmav34.so"
/* separators: libibverbs splits RDMAV_DRIVERS at ':' and ';', ld.so
 * splits LD_PRELOAD at ':' and ' ' */
#define DRIVERS_SEPS ":;"
#define PRELOAD_SEPS ": "

struct env_set {
	char sysfs[PATH_MAX];
	char *drivers;
	/* NULL when the library is not there */
	char *preload;
	/* NULL when ROOT is the default */
	const char *root;
};

static bool in_build_tree(void)
{
	char exe[PATH_MAX], bindir[PATH_MAX];
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	/* the build dir may be reached through a symlink; /proc/self/exe
	 * never is */
	if (!realpath(RDMA_TCP_BUILD_BINDIR, bindir))
		return false;
	return !strcmp(dirname(exe), bindir);
}

static bool is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

/*
 * @item in front of the list in $@var, unless it is in it already (so
 * `eval "$(rdma-tcp env)"` twice changes nothing). malloc()ed.
 */
static char *prepend(const char *var, const char *seps, const char *item)
{
	const char *cur = getenv(var);
	char *out;

	if (!cur || !*cur)
		return strdup(item);
	if (rtcp_list_has(cur, seps, item))
		return strdup(cur);
	if (asprintf(&out, "%s%c%s", item, seps[0], cur) < 0)
		return NULL;
	return out;
}

static char *provider_path(bool build)
{
	const char *p = getenv(PROVIDER_ENV);
	size_t len, slen = strlen(PROVIDER_SUFFIX);
	struct stat st;
	char *out, *file;

	if (!p || !*p)
		p = build ? RDMA_TCP_BUILD_PROVIDER : RDMA_TCP_INSTALL_PROVIDER;
	/* an entry must not carry separators: libibverbs would split it */
	if (strpbrk(p, DRIVERS_SEPS)) {
		rtcp_err("%s=%s: the path may not contain ':' or ';'",
			 PROVIDER_ENV, p);
		return NULL;
	}
	/* accept the file name as well as the libibverbs spelling */
	len = strlen(p);
	if (len > slen && !strcmp(p + len - slen, PROVIDER_SUFFIX))
		len -= slen;
	out = strndup(p, len);
	if (!out)
		return NULL;
	/* a warning only: the provider may be installed later */
	if (out[0] == '/' &&
	    asprintf(&file, "%s%s", out, PROVIDER_SUFFIX) >= 0) {
		if (stat(file, &st))
			fprintf(stderr, "rdma-tcp: warning: %s: %s\n", file,
				strerror(errno));
		free(file);
	}
	return out;
}

/*
 * @item in front of @list (a malloc()ed LD_PRELOAD value, or NULL), unless
 * it is in it already. Frees @list; NULL when out of memory.
 */
static char *preload_add(char *list, const char *item)
{
	char *out;

	if (!list || !*list) {
		free(list);
		return strdup(item);
	}
	if (rtcp_list_has(list, PRELOAD_SEPS, item))
		return list;
	if (asprintf(&out, "%s:%s", item, list) < 0)
		out = NULL;
	free(list);
	return out;
}

/*
 * LD_PRELOAD with the preload libraries that are there in front:
 * librdma-tcp-nl (RDMA netlink: tcp devices beside the kernel's, the
 * fork status), librdmacm-ext (rdma_cm), and in a sanitizer build run
 * from the build tree, the sanitizer runtimes before both (a program's
 * instrumented libraries need them first). NULL: nothing to set.
 */
static char *preload_value(bool build, bool *nomem)
{
	const char *nl = build ? RDMA_TCP_BUILD_NL : RDMA_TCP_INSTALL_NL;
	const char *ext =
		build ? RDMA_TCP_BUILD_RDMACM_EXT : RDMA_TCP_INSTALL_RDMACM_EXT;
	const char *cur = getenv("LD_PRELOAD");
	char *list = cur && *cur ? strdup(cur) : NULL;
	bool any = false;

	*nomem = cur && *cur && !list;
	if (is_file(ext) && !*nomem) {
		list = preload_add(list, ext);
		any = true;
	}
	if (is_file(nl) && (any || !*nomem)) {
		list = preload_add(list, nl);
		any = true;
	}
#ifdef RDMA_TCP_SAN_RUNTIME
	if (any && list && build && *RDMA_TCP_SAN_RUNTIME &&
	    !(cur && strstr(cur, RDMA_TCP_SAN_RUNTIME)))
		list = preload_add(list, RDMA_TCP_SAN_RUNTIME);
#endif
	if (!any) {
		free(list);
		return NULL;
	}
	*nomem = !list;
	return list;
}

static void env_free(struct env_set *e)
{
	free(e->drivers);
	free(e->preload);
}

static int env_build(struct env_set *e)
{
	/* static: e->root points into it after we return */
	static struct reg_root root;
	bool build = in_build_tree();
	char *provider;
	bool nomem;

	memset(e, 0, sizeof(*e));
	if (reg_root_get(&root))
		return -EINVAL;
	/* kernel devices added since: best effort, env may not write ROOT */
	reg_mirror_kernel(&root);
	if (reg_sysfs_dir(&root, e->sysfs, sizeof(e->sysfs)))
		return -ENAMETOOLONG;
	e->root = root.is_default ? NULL : root.path;
	provider = provider_path(build);
	if (!provider)
		return -EINVAL;
	e->drivers = prepend("RDMAV_DRIVERS", DRIVERS_SEPS, provider);
	free(provider);
	e->preload = preload_value(build, &nomem);
	if (nomem) {
		env_free(e);
		return -ENOMEM;
	}
	if (!e->drivers) {
		env_free(e);
		return -ENOMEM;
	}
	return 0;
}

static int print_export(const char *var, const char *val)
{
	char *q = rtcp_shell_quote(val);

	if (!q)
		return -ENOMEM;
	printf("export %s=%s\n", var, q);
	free(q);
	return 0;
}

int cmd_env(void)
{
	struct env_set e;
	int err;

	if (env_build(&e))
		return RTCP_EXIT_FAIL;
	err = print_export("SYSFS_PATH", e.sysfs);
	if (!err)
		err = print_export("RDMAV_DRIVERS", e.drivers);
	if (!err && e.preload)
		err = print_export("LD_PRELOAD", e.preload);
	if (!err && e.root)
		err = print_export(RDMA_TCP_ROOT_ENV, e.root);
	env_free(&e);
	if (err) {
		rtcp_err("out of memory");
		return RTCP_EXIT_FAIL;
	}
	return RTCP_EXIT_OK;
}

int cmd_run(char **argv)
{
	struct env_set e;
	int err;

	if (env_build(&e))
		return RTCP_EXIT_FAIL;
	err = setenv("SYSFS_PATH", e.sysfs, 1);
	if (!err)
		err = setenv("RDMAV_DRIVERS", e.drivers, 1);
	if (!err && e.preload)
		err = setenv("LD_PRELOAD", e.preload, 1);
	if (!err && e.root)
		err = setenv(RDMA_TCP_ROOT_ENV, e.root, 1);
	env_free(&e);
	if (err) {
		rtcp_err("cannot set the environment: %s", strerror(errno));
		return RTCP_EXIT_FAIL;
	}
	fflush(NULL);
	execvp(argv[0], argv);
	err = errno;
	rtcp_err("%s: %s", argv[0], strerror(err));
	/* as env(1) and the shells: 127 not found, 126 found but failed */
	return err == ENOENT ? 127 : 126;
}
