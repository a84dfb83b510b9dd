// SPDX-License-Identifier: MIT
/*
 * The provider's debug log (debug.h): RDMA_TCP_DEBUG read once when the
 * library loads; each line one write(2) to stderr, so lines of several
 * threads do not interleave, and errno is left as it was.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "debug.h"
#include "qp.h"
#include "tcp.h"

unsigned int tcp_debug_mask;

__attribute__((constructor)) static void debug_init(void)
{
	tcp_debug_mask = rtcp_debug_parse(secure_getenv(RDMA_TCP_DEBUG_ENV)) &
			 ~(unsigned int)RTCP_DBG_CM; /* (the preload's) */
}

const char *tcp_qps_name(int state)
{
	static const char *const names[] = { "RESET", "INIT", "RTR", "RTS",
					     "SQD",   "SQE",  "ERR" };

	return state >= 0 && state <= IBV_QPS_ERR ? names[state] : "?";
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const struct sockaddr_in6 *a6 = (const void *)ss;
	const struct sockaddr_in *a4 = (const void *)ss;
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a6->sin6_port));
	} else {
		snprintf(buf, len, "-");
	}
}

const char *tcp_debug_addrs(int fd)
{
	static __thread char buf[160];
	struct sockaddr_storage l = { 0 }, r = { 0 };
	socklen_t ll = sizeof(l), rl = sizeof(r);
	char ls[64], rs[64];
	int saved = errno;

	getsockname(fd, (struct sockaddr *)&l, &ll);
	getpeername(fd, (struct sockaddr *)&r, &rl);
	addr_str(&l, ls, sizeof(ls));
	addr_str(&r, rs, sizeof(rs));
	snprintf(buf, sizeof(buf), "local %s peer %s", ls, rs);
	errno = saved;
	return buf;
}

void tcp_debug_qp(const struct tcp_qp *qp, const char *fmt, ...)
{
	int saved = errno;
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "rdma-tcp[%d/%ld] ", (int)getpid(),
		     (long)syscall(SYS_gettid));
	if (qp)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
			      "%s qp %u: ", qp->ctx->vctx.context.device->name,
			      qp->vqp.qp.qp_num);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		errno = saved; /* a log line is not worth an error */
	errno = saved;
}
