/* SPDX-License-Identifier: MIT */
/*
 * A device's security configuration as the rdma-tcp tool handles it: the
 * `psp`, `alg`, `key`, `cert`/`certkey`/`ca` and `group` words of `link
 * add` and `link set`, the host key, the text of NAME/tcp_psp, and what
 * `link show` says about it (fingerprints, never key material). The file
 * format and the key file rule are providers/tcp/psp_conf.c's.
 */
#ifndef RDMA_TCP_PSP_CFG_H
#define RDMA_TCP_PSP_CFG_H

#include <stddef.h>

#include "psp_conf.h"
#include "registry_int.h"

/* tcp_psp: "mode encrypt", "alg aes128" and three paths at most */
#define PSP_TEXT_MAX (64 + 3 * (PATH_MAX + 16))
/* what `link show` says: mode, alg and a certificate's fingerprint */
#define PSP_DESCR_MAX 160

/* The words of the command line, NULL when not given. */
struct psp_opts {
	const char *mode, *alg, *key, *cert, *certkey, *ca, *group;
};

/* The slot of command-line word @word, or NULL when it is not one of ours. */
const char **psp_opts_slot(struct psp_opts *o, const char *word);
/* Whether any word was given. */
bool psp_opts_any(const struct psp_opts *o);
/* NULL, or why the combination is malformed (a usage error). */
const char *psp_opts_check(const struct psp_opts *o);

/* A fresh device's configuration: auth, aes128, no credential yet. */
void psp_conf_default(struct tcp_psp_conf *c);

/*
 * Applies @o to @c (the current configuration, or the default one), makes
 * the host key when the result needs it, and checks the credential: a key
 * file must be readable and well-formed by the provider's rule, a
 * certificate must parse and match its private key. Call with the
 * registry lock held. 0 or a negative errno, already reported.
 */
int psp_apply(const struct reg_root *r, struct tcp_psp_conf *c,
	      const struct psp_opts *o);

/* The text of NAME/tcp_psp for @c; 0 or -ENAMETOOLONG/-EINVAL. */
int psp_format(const struct tcp_psp_conf *c, char *buf, size_t len);

/*
 * What `link show` says about device directory @dir, e.g. "psp auth
 * aes128 key sha256:0123456789abcdef" or "psp off (UNAUTHENTICATED)".
 */
void psp_describe(const char *dir, char *buf, size_t len);

/* ROOT/etc/host.key, made (0600, or 0640 and group @group) when missing. */
int hostkey_ensure(const struct reg_root *r, const char *group, char *path,
		   size_t len);

#endif
