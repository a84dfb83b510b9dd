// SPDX-License-Identifier: MIT
/*
 * Netlink messages as the kernel's nldev builds them (librdma-tcp-nl):
 * attributes 4-byte aligned, u64 values in host order, strings with their
 * NUL. Every message fits in struct nlp_msg: a device message is a few
 * hundred bytes; oversized attributes are dropped, never written past it.
 */
#include <string.h>

#include <rdma/rdma_netlink.h>

#include "nl_preload.h"

void nlp_msg_start(struct nlp_msg *m, uint16_t type, uint16_t flags,
		   uint32_t seq, uint32_t portid)
{
	memset(&m->u.hdr, 0, sizeof(m->u.hdr));
	m->u.hdr.nlmsg_len = NLMSG_HDRLEN;
	m->u.hdr.nlmsg_type = type;
	m->u.hdr.nlmsg_flags = flags;
	m->u.hdr.nlmsg_seq = seq;
	m->u.hdr.nlmsg_pid = portid;
}

void nlp_put(struct nlp_msg *m, uint16_t type, const void *data, size_t len)
{
	size_t at = m->u.hdr.nlmsg_len, total = NLA_ALIGN(NLA_HDRLEN + len);
	struct nlattr a = { .nla_type = type,
			    .nla_len = (uint16_t)(NLA_HDRLEN + len) };

	if (len > 0xffff - NLA_HDRLEN || total > sizeof(m->u.b) - at)
		return;
	memset(m->u.b + at, 0, total);
	memcpy(m->u.b + at, &a, sizeof(a));
	memcpy(m->u.b + at + NLA_HDRLEN, data, len);
	m->u.hdr.nlmsg_len = (uint32_t)(at + total);
}

void nlp_put_u32(struct nlp_msg *m, uint16_t type, uint32_t v)
{
	nlp_put(m, type, &v, sizeof(v));
}

void nlp_put_u64(struct nlp_msg *m, uint16_t type, uint64_t v)
{
	nlp_put(m, type, &v, sizeof(v));
}

void nlp_put_str(struct nlp_msg *m, uint16_t type, const char *s)
{
	nlp_put(m, type, s, strlen(s) + 1);
}

size_t nlp_nest_start(struct nlp_msg *m, uint16_t type)
{
	size_t at = m->u.hdr.nlmsg_len;

	nlp_put(m, type, "", 0); /* its header; the length comes at the end */
	return at;
}

void nlp_nest_end(struct nlp_msg *m, size_t at)
{
	struct nlattr a;

	if (at + NLA_HDRLEN > m->u.hdr.nlmsg_len)
		return; /* the start did not fit */
	memcpy(&a, m->u.b + at, sizeof(a));
	a.nla_len = (uint16_t)(m->u.hdr.nlmsg_len - at);
	memcpy(m->u.b + at, &a, sizeof(a));
}

void nlp_msg_error(struct nlp_msg *m, const struct nlmsghdr *req,
		   uint32_t portid, int err)
{
	struct nlmsgerr e = { .error = -err, .msg = *req };

	/* the request's header only, as the kernel says with NLM_F_CAPPED */
	nlp_msg_start(m, NLMSG_ERROR, NLM_F_CAPPED, req->nlmsg_seq, portid);
	memcpy(m->u.b + m->u.hdr.nlmsg_len, &e, sizeof(e));
	m->u.hdr.nlmsg_len += NLMSG_ALIGN(sizeof(e));
}

void nlp_msg_dev(struct nlp_msg *m, const struct nlp_dev *d, uint16_t flags,
		 uint32_t seq, uint32_t portid)
{
	uint8_t type = d->node_type;

	nlp_msg_start(m, RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_GET),
		      flags, seq, portid);
	nlp_put_u32(m, RDMA_NLDEV_ATTR_DEV_INDEX, d->index);
	nlp_put_str(m, RDMA_NLDEV_ATTR_DEV_NAME, d->name);
	/* in a device message: the number of ports */
	nlp_put_u32(m, RDMA_NLDEV_ATTR_PORT_INDEX, d->ports);
	if (d->fw[0])
		nlp_put_str(m, RDMA_NLDEV_ATTR_FW_VERSION, d->fw);
	nlp_put_u64(m, RDMA_NLDEV_ATTR_NODE_GUID, d->guid);
	nlp_put_u64(m, RDMA_NLDEV_ATTR_SYS_IMAGE_GUID, d->guid);
	nlp_put(m, RDMA_NLDEV_ATTR_DEV_NODE_TYPE, &type, sizeof(type));
	nlp_put_str(m, RDMA_NLDEV_ATTR_DEV_PROTOCOL, "roce");
}

const void *nlp_req_attr(const struct nlmsghdr *req, uint16_t type, size_t *len)
{
	const char *p = (const char *)req + NLMSG_HDRLEN;
	size_t left = req->nlmsg_len - NLMSG_HDRLEN;
	struct nlattr a;

	while (left >= NLA_HDRLEN) {
		memcpy(&a, p, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > left)
			return NULL;
		if ((a.nla_type & NLA_TYPE_MASK) == type) {
			*len = a.nla_len - NLA_HDRLEN;
			return p + NLA_HDRLEN;
		}
		if ((size_t)NLA_ALIGN(a.nla_len) >= left)
			return NULL;
		left -= NLA_ALIGN(a.nla_len);
		p += NLA_ALIGN(a.nla_len);
	}
	return NULL;
}
