/* SPDX-License-Identifier: MIT */
/* test_tcpdv's checks on a real device (tcpdv_dev.c). */
#ifndef RDMA_TCP_TCPDV_DEV_H
#define RDMA_TCP_TCPDV_DEV_H

/*
 * tcpdv_query_device() and tcpdv_query_qp_security() on device @name,
 * whose configured mode is @mode ("off", "auth", "encrypt"; NULL: not
 * known). Prints "fingerprint=..." for the calling script. Adds its
 * checks' counts to *@pass and *@fail (check.h counts per file).
 */
void tcpdv_dev_checks(const char *name, const char *mode, unsigned int *pass,
		      unsigned int *fail);

#endif
