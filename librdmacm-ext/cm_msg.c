// SPDX-License-Identifier: MIT
/* The CM message codec (cm_proto.h). */
#include <arpa/inet.h>
#include <string.h>

#include "cm_proto.h"

void rtcp_cm_encode(uint8_t *out, uint8_t type, const void *body, size_t len)
{
	struct rtcp_cm_hdr h = {
		.magic = htonl(RTCP_CM_MAGIC),
		.version = RTCP_CM_VERSION,
		.type = type,
		.len = htons(len),
	};

	memcpy(out, &h, sizeof(h));
	if (len)
		memcpy(out + sizeof(h), body, len);
}

enum rtcp_cm_parse_res rtcp_cm_parse(const uint8_t *in, size_t have,
				     uint8_t *type, size_t *body_len)
{
	struct rtcp_cm_hdr h;
	size_t body;

	if (have < sizeof(h))
		return RTCP_CM_MORE;
	memcpy(&h, in, sizeof(h));
	body = ntohs(h.len);
	if (ntohl(h.magic) != RTCP_CM_MAGIC || h.version != RTCP_CM_VERSION ||
	    body > RTCP_CM_MAX_BODY)
		return RTCP_CM_BAD;
	if (have < sizeof(h) + body)
		return RTCP_CM_MORE;
	*type = h.type;
	*body_len = body;
	return RTCP_CM_WHOLE;
}

size_t rtcp_cm_want(const uint8_t *in, size_t have)
{
	struct rtcp_cm_hdr h;
	size_t end;

	if (have < sizeof(h))
		return sizeof(h) - have;
	memcpy(&h, in, sizeof(h));
	end = sizeof(h) + ntohs(h.len);
	/* a bad header is refused by rtcp_cm_parse before it gets here */
	if (end > RTCP_CM_MAX_MSG)
		end = RTCP_CM_MAX_MSG;
	return end > have ? end - have : 0;
}

int rtcp_cm_body_decode(uint8_t type, const uint8_t *body, size_t len,
			union rtcp_cm_body *out)
{
	size_t fixed, max;
	uint8_t plen;

	memset(out, 0, sizeof(*out));
	memcpy(out, body, len < sizeof(*out) ? len : sizeof(*out));
	switch (type) {
	case RTCP_CM_REQ:
		fixed = RTCP_CM_REQ_FIXED;
		max = RTCP_CM_REQ_PDATA_MAX;
		plen = out->req.pdata_len;
		break;
	case RTCP_CM_REP:
		fixed = RTCP_CM_REP_FIXED;
		max = RTCP_CM_REP_PDATA_MAX;
		plen = out->rep.pdata_len;
		break;
	case RTCP_CM_REJ:
		fixed = RTCP_CM_REJ_FIXED;
		max = RTCP_CM_REJ_PDATA_MAX;
		plen = out->rej.pdata_len;
		break;
	case RTCP_CM_SIDR_REQ:
		fixed = RTCP_CM_SIDR_REQ_FIXED;
		max = RTCP_CM_SIDR_REQ_PDATA_MAX;
		plen = out->sidr_req.pdata_len;
		break;
	case RTCP_CM_SIDR_REP:
		fixed = RTCP_CM_SIDR_REP_FIXED;
		max = RTCP_CM_SIDR_REP_PDATA_MAX;
		plen = out->sidr_rep.pdata_len;
		break;
	case RTCP_CM_RTU:
	case RTCP_CM_DREQ:
	case RTCP_CM_DREP:
		return len ? -1 : 0;
	default:
		return -1;
	}
	return plen <= max && len == fixed + plen ? 0 : -1;
}

void rtcp_route_encode(uint8_t *out, const struct rtcp_route *r)
{
	uint32_t magic = htonl(RTCP_ROUTE_MAGIC);
	uint16_t ps = htons(r->ps);

	memcpy(out, &magic, 4);
	out[4] = RTCP_ROUTE_VERSION;
	out[5] = 0;
	memcpy(out + 6, &ps, 2);
	memcpy(out + 8, &r->dport, 2);
	memcpy(out + 10, &r->sport, 2);
}

int rtcp_route_decode(const uint8_t *in, struct rtcp_route *r)
{
	uint32_t magic;
	uint16_t ps;

	memcpy(&magic, in, 4);
	if (ntohl(magic) != RTCP_ROUTE_MAGIC || in[4] != RTCP_ROUTE_VERSION)
		return -1;
	memcpy(&ps, in + 6, 2);
	r->ps = ntohs(ps);
	memcpy(&r->dport, in + 8, 2);
	memcpy(&r->sport, in + 10, 2);
	return 0;
}
