// SPDX-License-Identifier: MIT
/* Error messages of the rdma-tcp tool, in one place so they look alike. */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

void rtcp_err(const char *fmt, ...)
{
	va_list ap;

	fputs("rdma-tcp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
