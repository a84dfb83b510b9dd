// SPDX-License-Identifier: MIT
/* librdmacm-ext-tls.so: the handshake and configuration loader of the
 * provider behind one exported table (cm_tls.h). */
#include "cm_tls.h"

__attribute__((visibility("default")))
const struct rdmacm_ext_tls_ops rdmacm_ext_tls_ops = {
	.version = RDMACM_EXT_TLS_VERSION,
	.size = sizeof(struct rdmacm_ext_tls_ops),
	.conf_load = tcp_psp_conf_load,
	.conf_wipe = tcp_psp_conf_wipe,
	.cred_init = tcp_hs_cred_init,
	.cred_free = tcp_hs_cred_free,
	.hs_new = tcp_hs_new,
	.hs_free = tcp_hs_free,
	.hs_step = tcp_hs_step,
	.hs_send = tcp_hs_send,
	.hs_flush = tcp_hs_flush,
	.hs_recv = tcp_hs_recv,
	.hs_reason = tcp_hs_reason,
	.hs_strerror = tcp_hs_strerror,
	.hs_detail = tcp_hs_detail,
};
