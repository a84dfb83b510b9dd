/* SPDX-License-Identifier: MIT */
/*
 * Memory key table: maps an lkey/rkey to its region.
 *
 * A key is (slot index << 8) | generation. The generation byte is drawn at
 * random for every registration (and differs from the slot's previous one),
 * so a stale key of a re-used slot, or a guessed key, fails the lookup. A
 * slot is never handed out again while its region is registered, so two
 * live regions never share a key. Lookups run on the engine thread while
 * the application registers and deregisters, hence the lock; the holder of a
 * looked-up entry pins it (tcp_mr_repin/unpin) so dereg waits for in-flight
 * placement instead of letting a write land in freed memory.
 *
 * Regions and memory windows share the key space (a peer's rkey may name
 * either); each slot says which kind it holds, so that a window's key is
 * never taken for a region's (an lkey, say) nor the other way round.
 */
#ifndef RDMA_TCP_KEYTAB_H
#define RDMA_TCP_KEYTAB_H

#include <pthread.h>
#include <stdint.h>

#include "lock.h"

#define KEYTAB_MAX_SLOTS (1u << 24)

enum keytab_kind {
	KEYTAB_MR = 0,
	KEYTAB_MW = 1,
};

struct keytab_slot {
	void *obj;    /* NULL when free */
	uint8_t gen;  /* generation of the last key issued from this slot */
	uint8_t kind; /* enum keytab_kind */
	uint32_t next_free; /* free list link (slot index), 0 = end */
};

struct keytab {
	tcp_mutex_t lock;
	struct keytab_slot *slots;
	uint32_t
		nslots; /* allocated; slot 0 is never used so key 0 is invalid */
	uint32_t free_head;
	uint32_t used;
	uint32_t max_used;
};

int keytab_init(struct keytab *kt, uint32_t max_used);
void keytab_destroy(struct keytab *kt);
/* Returns 0 and the new key, or ENOMEM when max_used is reached. */
int keytab_insert(struct keytab *kt, void *obj, uint32_t *key);
int keytab_insert_kind(struct keytab *kt, void *obj, uint8_t kind,
		       uint32_t *key);
/* Gives an existing slot a new generation (rereg); returns the new key. */
uint32_t keytab_rekey(struct keytab *kt, uint32_t key);
void keytab_remove(struct keytab *kt, uint32_t key);
void keytab_remove_locked(struct keytab *kt, uint32_t key);
/* Caller holds kt->lock. NULL if the key is not a current region's. */
void *keytab_lookup_locked(struct keytab *kt, uint32_t key);
/* As keytab_lookup_locked, for an object of the given kind. */
void *keytab_lookup_kind_locked(struct keytab *kt, uint32_t key, uint8_t kind);
/*
 * Caller holds kt->lock. The object in key's slot whatever the key's
 * generation (a type 2 window is named by its slot; the key byte is the
 * application's), or NULL.
 */
void *keytab_slot_locked(struct keytab *kt, uint32_t key, uint8_t kind);
/*
 * Caller holds kt->lock. Gives key's slot the generation gen (a window
 * bound with a key byte the application chose); returns the new key.
 */
uint32_t keytab_set_gen_locked(struct keytab *kt, uint32_t key, uint8_t gen);

#endif
