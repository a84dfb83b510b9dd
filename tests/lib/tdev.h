/* SPDX-License-Identifier: MIT */
/* Opening a verbs device by name, as the C test programs do. */
#ifndef RDMA_TCP_TDEV_H
#define RDMA_TCP_TDEV_H

#include <string.h>

#include <infiniband/verbs.h>

/* The device called @name, opened; NULL if there is none or it fails. */
static inline struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **l = ibv_get_device_list(NULL);
	struct ibv_context *c = NULL;
	int i;

	for (i = 0; l && l[i] && !c; i++)
		if (!strcmp(ibv_get_device_name(l[i]), name))
			c = ibv_open_device(l[i]);
	if (l)
		ibv_free_device_list(l);
	return c;
}

#endif
