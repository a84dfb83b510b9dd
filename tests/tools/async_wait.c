// SPDX-License-Identifier: MIT
/*
 * async_wait DEVICE SECONDS EVENT...: opens DEVICE, prints "ready", then
 * prints every async event received (by name) until each EVENT named on the
 * command line has been seen (exit 0) or SECONDS pass (exit 1). Test helper
 * for port and GID events, driven from shell tests.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

int main(int argc, char **argv)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	struct ibv_async_event ev;
	int i, n, secs, want, seen[16] = { 0 };
	time_t end;

	if (argc < 4 || argc - 3 > 16) {
		fprintf(stderr, "usage: %s DEVICE SECONDS EVENT...\n", argv[0]);
		return 2;
	}
	secs = atoi(argv[2]);
	want = argc - 3;
	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), argv[1]))
			ctx = ibv_open_device(list[i]);
	if (!ctx) {
		fprintf(stderr, "cannot open %s\n", argv[1]);
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	end = time(NULL) + secs;
	while (want && time(NULL) < end) {
		struct pollfd p = { .fd = ctx->async_fd, .events = POLLIN };

		if (poll(&p, 1, 200) <= 0)
			continue;
		if (ibv_get_async_event(ctx, &ev))
			break;
		printf("%s\n", ibv_event_type_str(ev.event_type));
		fflush(stdout);
		for (i = 0; i < argc - 3; i++)
			if (!seen[i] &&
			    !strcmp(argv[3 + i],
				    ibv_event_type_str(ev.event_type))) {
				seen[i] = 1;
				want--;
			}
		ibv_ack_async_event(&ev);
	}
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return want ? 1 : 0;
}
