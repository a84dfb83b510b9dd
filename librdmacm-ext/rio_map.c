// SPDX-License-Identifier: MIT
/*
 * Framed rsockets (rio.h): riomap/riounmap and the two mapping tables.
 *
 * As in librdmacm: a PROT_WRITE mapping takes one of the slots the peer
 * offers (its RDMA_IOMAPSIZE, from its hello; ENOMEM when all are taken)
 * and is announced to the peer with our next frame (a MAP frame before
 * the next rsend/riowrite), so a peer that learns of it from our later
 * bytes can write it. riounmap frees the slot here at once; the peer is
 * not told, and its writes into the old range end the connection, as an
 * RDMA write into a deregistered region would. A PROT_NONE mapping (a
 * local source buffer in librdmacm) does nothing here; riounmap still
 * finds it.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "rio.h"

/* How long riomap waits for the peer's hello (the peer's raccept). */
#define RIO_HELLO_SECS 20

static off_t map_err(int e)
{
	errno = e;
	return -1;
}

/* Waits until the peer's hello has arrived (map_lock held): 0 or an
 * errno. */
static int hello_wait(struct rio_sock *rs)
{
	struct timespec t;
	int e = 0;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += RIO_HELLO_SECS;
	while (!rs->hello && !rs->err && e != ETIMEDOUT)
		e = pthread_cond_timedwait(&rs->hello_cond, &rs->map_lock, &t);
	if (rs->err)
		return rs->err;
	return rs->hello ? 0 : ETIMEDOUT;
}

static off_t map_local(struct rio_sock *rs, void *buf, size_t len, off_t off)
{
	struct rio_local *l = malloc(sizeof(*l));

	if (!l)
		return map_err(ENOMEM);
	l->addr = buf;
	l->len = len;
	pthread_mutex_lock(&rs->map_lock);
	l->next = rs->local;
	rs->local = l;
	pthread_mutex_unlock(&rs->map_lock);
	return off == -1 ? (off_t)(uintptr_t)buf : off;
}

off_t rio_iomap(int s, void *buf, size_t len, int prot, int flags, off_t off)
{
	struct rio_sock *rs = rio_framed(s);
	uint32_t i;
	int e;

	(void)flags; /* unused by librdmacm too */
	if (!rs)     /* connected without RDMA_IOMAPSIZE: no slots */
		return map_err(ENOMEM);
	if (!buf || !len || len > UINT32_MAX || off < -1 ||
	    (prot & ~(PROT_WRITE | PROT_NONE)))
		return map_err(EINVAL);
	if (!(prot & PROT_WRITE))
		return map_local(rs, buf, len, off);
	if (off == -1)
		off = (off_t)(uintptr_t)buf;
	pthread_mutex_lock(&rs->map_lock);
	e = hello_wait(rs);
	for (i = 0; !e && i < rs->peer_iomap && rs->mine[i].len; i++)
		;
	if (!e && i == rs->peer_iomap)
		e = ENOMEM;
	if (!e) {
		rs->mine[i] = (struct rio_map){ .off = (uint64_t)off,
						.len = len,
						.addr = buf };
		rs->maps_pending = true;
	}
	pthread_mutex_unlock(&rs->map_lock);
	return e ? map_err(e) : off;
}

int rio_iounmap(int s, void *buf, size_t len)
{
	struct rio_sock *rs = rio_framed(s);
	struct rio_local **l, *f;
	int i, e = EINVAL;

	if (!rs) {
		errno = EINVAL;
		return -1;
	}
	/* under map_lock: no placement into it is under way, none follows */
	pthread_mutex_lock(&rs->map_lock);
	for (i = 0; e && i < RIO_MAX_MAPS; i++) {
		if (rs->mine[i].len && rs->mine[i].addr == buf &&
		    rs->mine[i].len == len) {
			rs->mine[i] = (struct rio_map){ 0 };
			e = 0;
		}
	}
	for (l = &rs->local; e && *l; l = &(*l)->next) {
		if ((*l)->addr == buf && (*l)->len == len) {
			f = *l;
			*l = f->next;
			free(f);
			e = 0;
			break;
		}
	}
	pthread_mutex_unlock(&rs->map_lock);
	if (e)
		errno = e;
	return e ? -1 : 0;
}

uint64_t rio_peer_room(struct rio_sock *rs, uint64_t off)
{
	const struct rio_map *m;
	int i;

	for (i = 0; i < rs->iomap_size; i++) {
		m = &rs->peer[i];
		if (m->len && off >= m->off && off - m->off < m->len)
			return m->len - (off - m->off);
	}
	return 0;
}

uint8_t *rio_mine_at(struct rio_sock *rs, uint64_t off, uint64_t len)
{
	const struct rio_map *m;
	int i;

	for (i = 0; i < RIO_MAX_MAPS; i++) {
		m = &rs->mine[i];
		if (m->len && off >= m->off && off - m->off < m->len &&
		    len <= m->len - (off - m->off))
			return m->addr + (off - m->off);
	}
	return NULL;
}

void rio_maps_free(struct rio_sock *rs)
{
	struct rio_local *l;

	while ((l = rs->local)) {
		rs->local = l->next;
		free(l);
	}
}
