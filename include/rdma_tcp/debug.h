/* SPDX-License-Identifier: MIT */
/*
 * RDMA_TCP_DEBUG, the debug log switch of the provider and the rdma_cm
 * preload (docs/design.md "Debug log"): a comma-separated list of
 * categories, "all", or a number (non-zero: all). Both libraries parse it
 * with this one function, once, when they load.
 */
#ifndef RDMA_TCP_DEBUG_H
#define RDMA_TCP_DEBUG_H

#include <stdlib.h>
#include <string.h>

#define RDMA_TCP_DEBUG_ENV "RDMA_TCP_DEBUG"

enum rtcp_dbg_cat {
	RTCP_DBG_CONN = 1u << 0,  /* connections up, down, lost, refused */
	RTCP_DBG_QP = 1u << 1,	  /* QP state changes */
	RTCP_DBG_WC = 1u << 2,	  /* error completions and their cause */
	RTCP_DBG_FRAME = 1u << 3, /* frames and datagrams rejected */
	RTCP_DBG_CM = 1u << 4,	  /* the preload's rdma_cm */
	RTCP_DBG_ALL = (1u << 5) - 1,
};

static inline unsigned int rtcp_debug_parse(const char *s)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} cats[] = {
		{ "conn", RTCP_DBG_CONN }, { "qp", RTCP_DBG_QP },
		{ "wc", RTCP_DBG_WC },	   { "frame", RTCP_DBG_FRAME },
		{ "cm", RTCP_DBG_CM },	   { "all", RTCP_DBG_ALL },
	};
	unsigned int mask = 0, i;
	size_t n;

	if (!s || !*s)
		return 0;
	if (*s >= '0' && *s <= '9')
		return atoi(s) > 0 ? RTCP_DBG_ALL : 0;
	while (*s) {
		n = strcspn(s, ",");
		for (i = 0; i < sizeof(cats) / sizeof(cats[0]); i++)
			if (strlen(cats[i].name) == n &&
			    !strncmp(s, cats[i].name, n))
				mask |= cats[i].bit;
		s += n + (s[n] == ',');
	}
	return mask;
}

#endif
