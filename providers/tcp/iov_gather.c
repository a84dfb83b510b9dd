// SPDX-License-Identifier: MIT
/* Gathering small iovec elements before sendmsg(): see iov_gather.h. */
#include <stdbool.h>
#include <string.h>

#include "iov_gather.h"

int tcp_iov_gather(const struct iovec *in, int n, struct iovec *out, void *buf,
		   size_t bufsz, size_t small)
{
	unsigned char *b = buf;
	bool run = false; /* out[k - 1] is in buf and ends at b + used */
	size_t used = 0;
	int i, k = 0;

	for (i = 0; i < n; i++) {
		size_t len = in[i].iov_len;

		if (!len)
			continue;
		if (len > small || len > bufsz - used) {
			out[k++] = in[i];
			run = false;
			continue;
		}
		memcpy(b + used, in[i].iov_base, len);
		if (run) {
			out[k - 1].iov_len += len;
		} else {
			out[k].iov_base = b + used;
			out[k++].iov_len = len;
			run = true;
		}
		used += len;
	}
	return k;
}
