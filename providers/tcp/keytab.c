// SPDX-License-Identifier: MIT
/* Memory key allocation: see keytab.h for the key format and why. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "keytab.h"

static uint8_t random_gen(uint8_t avoid)
{
	uint8_t g;

	do {
		if (getrandom(&g, 1, 0) != 1)
			g = (uint8_t)(random() & 0xff);
	} while (g == 0 || g == avoid);
	return g;
}

int keytab_init(struct keytab *kt, uint32_t max_used)
{
	memset(kt, 0, sizeof(*kt));
	tcp_mutex_init(&kt->lock, TCP_LOCK_RANK_KEYS);
	kt->max_used = max_used < KEYTAB_MAX_SLOTS - 1 ? max_used
						       : KEYTAB_MAX_SLOTS - 1;
	return 0;
}

void keytab_destroy(struct keytab *kt)
{
	free(kt->slots);
	kt->slots = NULL;
	tcp_mutex_destroy(&kt->lock);
}

static int keytab_grow(struct keytab *kt)
{
	uint32_t n = kt->nslots ? kt->nslots * 2 : 64;
	struct keytab_slot *s;
	uint32_t i;

	if (n > KEYTAB_MAX_SLOTS)
		n = KEYTAB_MAX_SLOTS;
	if (n <= kt->nslots)
		return ENOMEM;
	s = realloc(kt->slots, n * sizeof(*s));
	if (!s)
		return ENOMEM;
	memset(s + kt->nslots, 0, (n - kt->nslots) * sizeof(*s));
	/* Thread the new slots onto the free list, skipping slot 0. */
	for (i = n - 1; i >= (kt->nslots ? kt->nslots : 1); i--) {
		s[i].next_free = kt->free_head;
		kt->free_head = i;
		if (i == 1)
			break;
	}
	kt->slots = s;
	kt->nslots = n;
	return 0;
}

int keytab_insert(struct keytab *kt, void *obj, uint32_t *key)
{
	return keytab_insert_kind(kt, obj, KEYTAB_MR, key);
}

int keytab_insert_kind(struct keytab *kt, void *obj, uint8_t kind,
		       uint32_t *key)
{
	struct keytab_slot *s;
	uint32_t idx;

	tcp_mutex_lock(&kt->lock);
	if (kt->used >= kt->max_used || (!kt->free_head && keytab_grow(kt))) {
		tcp_mutex_unlock(&kt->lock);
		return ENOMEM;
	}
	idx = kt->free_head;
	s = &kt->slots[idx];
	kt->free_head = s->next_free;
	s->next_free = 0;
	s->obj = obj;
	s->kind = kind;
	s->gen = random_gen(s->gen);
	kt->used++;
	*key = idx << 8 | s->gen;
	tcp_mutex_unlock(&kt->lock);
	return 0;
}

uint32_t keytab_rekey(struct keytab *kt, uint32_t key)
{
	uint32_t idx = key >> 8;
	uint32_t nkey;

	tcp_mutex_lock(&kt->lock);
	kt->slots[idx].gen = random_gen(kt->slots[idx].gen);
	nkey = idx << 8 | kt->slots[idx].gen;
	tcp_mutex_unlock(&kt->lock);
	return nkey;
}

void keytab_remove(struct keytab *kt, uint32_t key)
{
	tcp_mutex_lock(&kt->lock);
	keytab_remove_locked(kt, key);
	tcp_mutex_unlock(&kt->lock);
}

void keytab_remove_locked(struct keytab *kt, uint32_t key)
{
	uint32_t idx = key >> 8;

	tcp_assert_held(&kt->lock);
	if (idx && idx < kt->nslots && kt->slots[idx].obj &&
	    kt->slots[idx].gen == (key & 0xff)) {
		kt->slots[idx].obj = NULL;
		kt->slots[idx].next_free = kt->free_head;
		kt->free_head = idx;
		kt->used--;
	}
}

void *keytab_slot_locked(struct keytab *kt, uint32_t key, uint8_t kind)
{
	uint32_t idx = key >> 8;

	tcp_assert_held(&kt->lock);
	if (!idx || idx >= kt->nslots || kt->slots[idx].kind != kind)
		return NULL;
	return kt->slots[idx].obj;
}

void *keytab_lookup_kind_locked(struct keytab *kt, uint32_t key, uint8_t kind)
{
	void *obj = keytab_slot_locked(kt, key, kind);

	if (!obj || kt->slots[key >> 8].gen != (key & 0xff))
		return NULL;
	return obj;
}

void *keytab_lookup_locked(struct keytab *kt, uint32_t key)
{
	return keytab_lookup_kind_locked(kt, key, KEYTAB_MR);
}

uint32_t keytab_set_gen_locked(struct keytab *kt, uint32_t key, uint8_t gen)
{
	uint32_t idx = key >> 8;

	tcp_assert_held(&kt->lock);
	kt->slots[idx].gen = gen;
	return idx << 8 | gen;
}
