// SPDX-License-Identifier: MIT
/* The accepting side's decision on a hello (see hello.h). */
#include <string.h>

#include "hello.h"

enum tcp_hello_verdict tcp_hello_judge(const uint8_t in[RTCP_HELLO_LEN],
				       const struct tcp_hello_env *env)
{
	struct tcp_hello_qp q;
	struct rtcp_hello h;
	uint8_t peer[16];

	if (rtcp_hello_decode(in, &h) || !env->lookup(env->arg, h.dst_qpn, &q))
		return TCP_HELLO_REJECT;
	if (q.failed)
		return TCP_HELLO_REJECT;
	/*
	 * Peers may reach RTR before we leave RESET or INIT, or before we
	 * are reset and brought up again after an error (a NIC's QP in
	 * error drops the packets; the peer retries until its budget is
	 * spent, tcp_qp_unheard_arm): keep waiting.
	 */
	if (q.before_rtr)
		return TCP_HELLO_WAIT;
	/*
	 * Only the peer the QP was told about may bind: the QPN it names,
	 * from the address of its GID, and only once.
	 */
	if (q.busy || q.dest_qpn != h.src_qpn || !env->peer(env->arg, peer) ||
	    memcmp(peer, q.dgid, sizeof(peer)))
		return TCP_HELLO_REJECT;
	return TCP_HELLO_BIND;
}
