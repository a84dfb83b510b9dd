/* SPDX-License-Identifier: MIT */
/*
 * Gathering small iovec elements into one buffer before sendmsg().
 *
 * A 64-byte WRITE is two elements on the wire (a 64-byte header and the
 * payload in registered memory). The kernel's copy of a batch walks the
 * elements one by one, and for elements this small the walk costs more
 * than the bytes (docs/performance.md, History). Copying runs of small
 * elements into one buffer first hands the kernel a few large elements
 * instead; the byte stream is the same, so the caller still accounts for
 * a partial send against its own elements.
 */
#ifndef RDMA_TCP_IOV_GATHER_H
#define RDMA_TCP_IOV_GATHER_H

#include <stddef.h>
#include <sys/uio.h>

/* elements up to this length are copied; longer ones are referenced */
#define TCP_GATHER_SMALL 512

/*
 * Writes to out (room for n elements) the elements in[0..n) with every run
 * of elements of at most `small` bytes copied into buf (bufsz bytes) and
 * described by one element; once buf is full the rest are referenced as
 * they are. Returns the number of elements written (at most n).
 */
int tcp_iov_gather(const struct iovec *in, int n, struct iovec *out, void *buf,
		   size_t bufsz, size_t small);

#endif
