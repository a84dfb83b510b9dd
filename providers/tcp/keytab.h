/* SPDX-License-Identifier: MIT */
/*
 * Memory key table: maps an lkey/rkey to its region or window.
 *
 * A key is (tag << 8) | key byte. The 24-bit tag is drawn from the kernel's
 * CSPRNG (getrandom) for every registration, never 0 and never the tag of
 * a live object or of one of the last KEYTAB_QUARANTINE objects freed; a
 * region's key byte is random too. So nothing in a key follows from another
 * key, a guess names a live object with probability (live objects) / 2^32,
 * and a stale key fails: its tag is quarantined for a while and then only
 * comes back by a 1 in 2^24 draw that must also repeat the byte. A window's
 * key byte follows the window rules instead (ibv_inc_rkey for type 1, the
 * application's choice for type 2: keytab_set_byte_locked); its tag stays.
 *
 * The table is open addressing on the tag (linear probing; tags are
 * uniformly random, so the tag's low bits are the hash), at most half full
 * counting quarantined tags: a lookup is a handful of probes. Lookups run
 * on the engine thread while the application registers and deregisters,
 * hence the lock; the holder of a looked-up entry pins it
 * (tcp_mr_repin/unpin) so dereg waits for in-flight placement instead of
 * letting a write land in freed memory.
 *
 * Regions and memory windows share the key space (a peer's rkey may name
 * either); each entry says which kind it holds, so that a window's key is
 * never taken for a region's (an lkey, say) nor the other way round.
 */
#ifndef RDMA_TCP_KEYTAB_H
#define RDMA_TCP_KEYTAB_H

#include <pthread.h>
#include <stdint.h>

#include "lock.h"

/* Live objects at most: a quarter of the tag space, so draws rarely repeat */
#define KEYTAB_MAX_LIVE (1u << 22)
/* Freed tags kept out of reuse, most recent first */
#define KEYTAB_QUARANTINE 4096u
/* CSPRNG words drawn per getrandom call */
#define KEYTAB_RAND_BATCH 32u

enum keytab_kind {
	KEYTAB_MR = 0,
	KEYTAB_MW = 1,
};

struct keytab_ent {
	void *obj;    /* the region or window; NULL: tag quarantined */
	uint32_t tag; /* upper 24 bits of the key; 0: entry empty */
	uint8_t byte; /* low 8 bits of the current key */
	uint8_t kind; /* enum keytab_kind */
};

struct keytab {
	tcp_mutex_t lock;
	struct keytab_ent *ents; /* mask + 1 entries, NULL until first use */
	uint32_t mask;
	uint32_t used;	   /* live objects */
	uint32_t max_used; /* limit on used */
	uint32_t *quar;	   /* ring of quarantined tags, oldest at quar_head */
	uint32_t quar_head, quar_len;
	uint32_t rnd[KEYTAB_RAND_BATCH]; /* unused CSPRNG output */
	uint32_t rnd_left;
	unsigned int rnd_epoch; /* fork epoch of the pool (keytab.c) */
};

int keytab_init(struct keytab *kt, uint32_t max_used);
/* Frees the table and wipes the unused random words. */
void keytab_destroy(struct keytab *kt);
/*
 * Returns 0 and the new key; ENOMEM when max_used is reached or memory is
 * short, EAGAIN if the CSPRNG fails (a key is never made from less).
 */
int keytab_insert(struct keytab *kt, void *obj, uint32_t *key);
int keytab_insert_kind(struct keytab *kt, void *obj, uint8_t kind,
		       uint32_t *key);
/* Frees key's object (its tag goes to quarantine); no-op if not current. */
void keytab_remove(struct keytab *kt, uint32_t key);
void keytab_remove_locked(struct keytab *kt, uint32_t key);
/* Caller holds kt->lock. NULL if the key is not a current region's. */
void *keytab_lookup_locked(struct keytab *kt, uint32_t key);
/* As keytab_lookup_locked, for an object of the given kind. */
void *keytab_lookup_kind_locked(struct keytab *kt, uint32_t key, uint8_t kind);
/*
 * Caller holds kt->lock. The live object of the given kind with key's tag
 * whatever the key byte (a type 2 window is named by its tag; the key byte
 * is the application's), or NULL.
 */
void *keytab_obj_locked(struct keytab *kt, uint32_t key, uint8_t kind);
/*
 * Caller holds kt->lock; key's tag names a live object. Gives it the key
 * byte (a window bound with ibv_inc_rkey or an application's byte);
 * returns the new key.
 */
uint32_t keytab_set_byte_locked(struct keytab *kt, uint32_t key, uint8_t byte);

#endif
