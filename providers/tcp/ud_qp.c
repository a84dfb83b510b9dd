// SPDX-License-Identifier: MIT
/*
 * A UD QP's own state (ud.h): its buffers and datagram security from
 * create to free, the port's MTU, and the device's addresses that a
 * datagram must be sent to.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ud.h"

static uint32_t port_mtu(struct tcp_context *ctx)
{
	int up = 0, mtu = 1500, mbps = -1;
	uint32_t m = 256;

	/* as query_port reports active_mtu (query.c's mtu_from_netdev) */
	tcp_netdev_state(ctx->dev->netdev, &up, &mtu, &mbps);
	while (m < 4096 && (int)(m * 2) <= mtu)
		m *= 2;
	return m;
}

int tcp_ud_create(struct tcp_qp *qp)
{
	struct tcp_context *ctx = qp->ctx;
	struct tcp_ud *ud;

	ud = calloc(1, sizeof(*ud));
	if (!ud)
		return ENOMEM;
	qp->ud = ud;
	ud->fd = -1;
	ud->mtu = port_mtu(ctx);
	ud->ifindex = if_nametoindex(ctx->dev->netdev);
	ud->buf = malloc((size_t)TCP_UD_BATCH * TCP_UD_DGRAM);
	ud->cipher = malloc(TCP_UD_DGRAM);
	if (!ud->buf || !ud->cipher)
		return ENOMEM;
	return -tcp_ud_sec_init(ctx, &ud->tx, &ud->rx);
}

void tcp_ud_free(struct tcp_qp *qp)
{
	struct tcp_ud *ud = qp->ud;

	if (!ud)
		return;
	if (ud->fd >= 0)
		close(ud->fd);
	tcp_ud_tx_fini(&ud->tx);
	tcp_ud_rx_fini(&ud->rx);
	free(ud->buf);
	free(ud->cipher);
	free(ud);
	qp->ud = NULL;
}

static bool addr_cached(const struct tcp_ud *ud, const uint8_t gid[16])
{
	int i;

	for (i = 0; i < ud->naddrs; i++)
		if (!memcmp(ud->addrs[i].gid, gid, 16))
			return true;
	return false;
}

/*
 * The device's GIDs are its netdev's addresses (netdev.c), as the
 * listeners of RC QPs are opened on exactly those. Read again when a
 * datagram names an address not known, at most every
 * TCP_UD_ADDR_REFRESH_NS (a flood to a foreign address costs no netlink
 * dump per datagram), and every TCP_UD_ADDR_FRESH_NS at least (an address
 * removed from the netdev stops being one of ours).
 */
bool tcp_ud_addr_ok(struct tcp_qp *qp, const uint8_t gid[16])
{
	struct tcp_ud *ud = qp->ud;
	uint64_t now = tcp_now_ns(), age = now - ud->addrs_at;
	int n;

	if (ud->addrs_at && age < TCP_UD_ADDR_FRESH_NS && addr_cached(ud, gid))
		return true;
	if (ud->addrs_at && age < TCP_UD_ADDR_REFRESH_NS)
		return false;
	n = tcp_netdev_addrs(qp->ctx->dev->netdev, ud->addrs, TCP_GID_TBL_LEN);
	ud->naddrs = n < 0 ? 0 : n;
	ud->addrs_at = now;
	return addr_cached(ud, gid);
}
