/* SPDX-License-Identifier: MIT */
/*
 * rdma-tcp stat [DEV] [-j]: every live context's published QPs
 * (<rdma_tcp/stat.h>) with the TCP connection or UDP socket behind each
 * (stat_diag.c). Contexts that are over are not shown.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdma_tcp/stat.h>

#include "cli.h"
#include "registry_int.h"
#include "stat_diag.h"
#include "stat_read.h"

static const char *qp_type_name(uint32_t t)
{
	return t == 2 ? "RC" : t == 3 ? "UC" : t == 4 ? "UD" : "other";
}

static void addr_str(const uint8_t raw[28], char *buf, size_t len)
{
	const struct sockaddr_in6 *a6 = (const void *)raw;
	const struct sockaddr_in *a4 = (const void *)raw;
	char ip[INET6_ADDRSTRLEN] = "-";

	if (a4->sin_family == AF_INET) {
		inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a4->sin_port));
	} else if (a6->sin6_family == AF_INET6) {
		inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a6->sin6_port));
	} else {
		snprintf(buf, len, "-");
	}
}

static void print_text(uint32_t pid, const struct rtcp_stat_slot *s,
		       const struct diag_info *d, bool has_d)
{
	char la[64], ra[64];
	int i;

	addr_str(s->laddr, la, sizeof(la));
	addr_str(s->raddr, ra, sizeof(ra));
	printf("%s qpn %u type %s pid %u local %s peer %s\n", s->dev, s->qpn,
	       qp_type_name(s->qp_type), pid, la, ra);
	if (has_d && s->qp_type == 4)
		printf("    udp rqueue %u rcvbuf %u drops %u\n", d->rqueue,
		       d->rcvbuf, d->drops);
	else if (has_d)
		printf("    tcp %s cc %s rtt %u.%03u/%u.%03u ms cwnd %u "
		       "retrans %u delivery_rate %" PRIu64 " B/s tos 0x%02x\n",
		       diag_state_name(d->state), d->cc[0] ? d->cc : "-",
		       d->rtt_us / 1000, d->rtt_us % 1000, d->rttvar_us / 1000,
		       d->rttvar_us % 1000, d->snd_cwnd, d->total_retrans,
		       d->delivery_rate, d->tos);
	printf("   ");
	for (i = 0; i < RTCP_STAT_N; i++)
		printf(" %s %" PRIu64, stat_ctr_names[i], s->ctr[i]);
	printf("\n");
}

static void print_json(uint32_t pid, const struct rtcp_stat_slot *s,
		       const struct diag_info *d, bool has_d, bool *first)
{
	char la[64], ra[64];
	int i;

	addr_str(s->laddr, la, sizeof(la));
	addr_str(s->raddr, ra, sizeof(ra));
	printf("%s{\"dev\":\"%s\",\"qpn\":%u,\"type\":\"%s\",\"pid\":%u,"
	       "\"local\":\"%s\",\"peer\":\"%s\"",
	       *first ? "" : ",", s->dev, s->qpn, qp_type_name(s->qp_type), pid,
	       la, ra);
	*first = false;
	if (has_d && s->qp_type == 4)
		printf(",\"udp\":{\"rqueue\":%u,\"rcvbuf\":%u,\"drops\":%u}",
		       d->rqueue, d->rcvbuf, d->drops);
	else if (has_d)
		printf(",\"tcp\":{\"state\":\"%s\",\"cc\":\"%s\",\"rtt_us\":%u,"
		       "\"rttvar_us\":%u,\"cwnd\":%u,\"retrans\":%u,"
		       "\"delivery_rate\":%" PRIu64 ",\"bytes_acked\":%" PRIu64
		       ",\"bytes_received\":%" PRIu64 ",\"tos\":%u}",
		       diag_state_name(d->state), d->cc, d->rtt_us,
		       d->rttvar_us, d->snd_cwnd, d->total_retrans,
		       d->delivery_rate, d->bytes_acked, d->bytes_received,
		       d->tos);
	printf(",\"counters\":{");
	for (i = 0; i < RTCP_STAT_N; i++)
		printf("%s\"%s\":%" PRIu64, i ? "," : "", stat_ctr_names[i],
		       s->ctr[i]);
	printf("}}");
}

/*
 * Reads one file; false when it is not a live context's. The file of a
 * context that is over (closed, or its process died) is the device
 * daemon's to add to the device's totals and remove (hw_counters.c); only
 * when its device is gone, and with it the daemon, is it removed here.
 */
static bool read_file(const struct reg_root *root, int dirfd, const char *name,
		      struct rtcp_stat_file *f)
{
	char dir[PATH_MAX];

	if (stat_snapshot(dirfd, name, f))
		return false;
	if (!stat_file_over(f))
		return true;
	f->dev[sizeof(f->dev) - 1] = 0;
	if (!reg_dev_dir(root, f->dev, dir, sizeof(dir)) && access(dir, F_OK) &&
	    errno == ENOENT)
		unlinkat(dirfd, name, 0);
	return false;
}

static void show_file(const struct rtcp_stat_file *f, const char *dev,
		      bool json, bool *first)
{
	const struct rtcp_stat_slot *s;
	struct diag_info d;
	bool has_d;
	unsigned int i;

	for (i = 0; i < RTCP_STAT_SLOTS; i++) {
		s = &f->slot[i];
		if (!s->qpn || s->qpn == UINT32_MAX)
			continue;
		if (dev && strncmp(s->dev, dev, sizeof(s->dev)))
			continue;
		if (s->qp_type == 4)
			has_d = !diag_lookup_udp((const void *)s->laddr, &d);
		else
			has_d = !diag_lookup((const void *)s->laddr,
					     (const void *)s->raddr, &d);
		if (json)
			print_json(f->pid, s, &d, has_d, first);
		else
			print_text(f->pid, s, &d, has_d);
	}
}

int cmd_stat(const char *dev, bool json)
{
	static struct rtcp_stat_file f; /* large: not on the stack */
	struct reg_root root;
	char path[PATH_MAX];
	struct dirent *e;
	bool first = true;
	DIR *d;

	if (reg_root_get(&root))
		return RTCP_EXIT_FAIL;
	snprintf(path, sizeof(path), "%s/%s", root.path, RTCP_STAT_DIR);
	if (json)
		printf("[");
	d = opendir(path);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (read_file(&root, dirfd(d), e->d_name, &f))
			show_file(&f, dev, json, &first);
	}
	if (d)
		closedir(d);
	if (json)
		printf("]\n");
	return RTCP_EXIT_OK;
}
