// SPDX-License-Identifier: MIT
/*
 * Unit tests of the memory key table (providers/tcp/keytab.h).
 *
 * What a key must guarantee (docs/design.md, "Memory keys"): unique among the
 * registered regions, never 0, a generation byte that changes whenever a slot
 * is re-used or re-keyed so a stale key fails, and a hard limit reported as
 * ENOMEM. Each failing check is printed; the last line is "N passed, N
 * failed" and the exit status is non-zero on any failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keytab.h"

#include "check.h"

/* Counts a whole loop as one check so the tally stays readable. */
#define CHECK_LOOP(ok, what) CHECKF(ok, "%s", what)

static void *lookup(struct keytab *kt, uint32_t key)
{
	void *o;

	tcp_mutex_lock(&kt->lock);
	o = keytab_lookup_locked(kt, key);
	tcp_mutex_unlock(&kt->lock);
	return o;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* true if the n keys are pairwise distinct (sorts a copy) */
static int all_distinct(const uint32_t *keys, size_t n)
{
	uint32_t *c = malloc(n * sizeof(*c));
	size_t i;
	int ok = 1;

	if (!c)
		return 0;
	memcpy(c, keys, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_u32);
	for (i = 1; i < n; i++)
		if (c[i] == c[i - 1])
			ok = 0;
	free(c);
	return ok;
}

static void test_unique_and_lookup(void)
{
	enum { N = 5000 };
	static int objs[N];
	static uint32_t keys[N];
	struct keytab kt;
	int ok = 1, i, r;

	CHECKF(keytab_init(&kt, N) == 0, "init");
	for (i = 0; i < N; i++) {
		r = keytab_insert(&kt, &objs[i], &keys[i]);
		if (r || keys[i] == 0) {
			ok = 0;
			printf("  insert %d: ret %d key %#x\n", i, r, keys[i]);
			break;
		}
	}
	CHECK_LOOP(ok, "5000 inserts succeed with non-zero keys");
	CHECKF(all_distinct(keys, N), "5000 live keys are pairwise distinct");
	ok = 1;
	for (i = 0; i < N; i++)
		if (lookup(&kt, keys[i]) != &objs[i])
			ok = 0;
	CHECK_LOOP(ok, "every key looks up its own object");
	CHECKF(kt.used == N, "used count %u", kt.used);
	for (i = 0; i < N; i++)
		keytab_remove(&kt, keys[i]);
	CHECKF(kt.used == 0, "used count after removing all: %u", kt.used);
	ok = 1;
	for (i = 0; i < N; i++)
		if (lookup(&kt, keys[i]))
			ok = 0;
	CHECK_LOOP(ok, "removed keys no longer look up");
	keytab_destroy(&kt);
}

static void test_key_zero_and_garbage(void)
{
	struct keytab kt;
	uint32_t key, g;
	int obj, ok = 1;

	keytab_init(&kt, 16);
	CHECKF(lookup(&kt, 0) == NULL, "key 0 on an empty table");
	CHECKF(lookup(&kt, 0x12345678) == NULL, "arbitrary key, empty table");
	CHECKF(keytab_insert(&kt, &obj, &key) == 0, "insert");
	CHECKF(key != 0, "key %#x", key);
	CHECKF((key >> 8) != 0, "slot 0 is never used (key %#x)", key);
	/* Slot 0 with any generation byte is invalid: key 0 never names an MR */
	for (g = 0; g < 256; g++)
		if (lookup(&kt, g))
			ok = 0;
	CHECK_LOOP(ok, "keys of slot 0 (0x00..0xff) never look up");
	CHECKF(lookup(&kt, 0) == NULL, "key 0 with a live region");
	/* The right slot with every wrong generation fails */
	ok = 1;
	for (g = 0; g < 256; g++) {
		uint32_t k = (key & ~0xffu) | g;

		if (k != key && lookup(&kt, k))
			ok = 0;
	}
	CHECK_LOOP(ok, "255 guessed generations of a live slot all fail");
	CHECKF(lookup(&kt, key + (1u << 20)) == NULL, "slot beyond the table");
	CHECKF(lookup(&kt, 0xffffffffu) == NULL, "key 0xffffffff");
	/* Removing with a wrong generation must not free the live region */
	keytab_remove(&kt, key ^ 0x01);
	keytab_remove(&kt, 0);
	keytab_remove(&kt, 0xffffff00u | (key & 0xff));
	CHECKF(lookup(&kt, key) == &obj,
	       "bogus removes leave the region alone");
	CHECKF(kt.used == 1, "used %u", kt.used);
	keytab_remove(&kt, key);
	keytab_remove(&kt, key); /* double remove is harmless */
	CHECKF(kt.used == 0, "used after double remove %u", kt.used);
	keytab_destroy(&kt);
}

static void test_reuse_changes_generation(void)
{
	struct keytab kt;
	uint32_t key, old, first;
	int obj, ok = 1, same_slot = 0, i;
	unsigned int seen[256] = { 0 }, distinct = 0;

	keytab_init(&kt, 4);
	keytab_insert(&kt, &obj, &key);
	first = key;
	seen[key & 0xff]++;
	for (i = 0; i < 2000; i++) {
		old = key;
		keytab_remove(&kt, old);
		if (keytab_insert(&kt, &obj, &key)) {
			ok = 0;
			break;
		}
		if ((key >> 8) == (old >> 8)) {
			same_slot++;
			if ((key & 0xff) == (old & 0xff))
				ok = 0;
		}
		if ((key & 0xff) == 0 || key == old || lookup(&kt, old))
			ok = 0;
		if (lookup(&kt, key) != &obj)
			ok = 0;
		seen[key & 0xff]++;
	}
	CHECK_LOOP(ok, "re-registration: new key differs, old key is dead, "
		       "generation never 0");
	CHECKF(same_slot > 0, "the freed slot was re-used (%d times)",
	       same_slot);
	for (i = 0; i < 256; i++)
		distinct += seen[i] != 0;
	/* 2001 random draws from 255 values: all but a handful appear. */
	CHECKF(distinct > 200, "generation looks random: %u distinct of 255",
	       distinct);
	CHECKF(seen[0] == 0, "generation 0 never issued");
	CHECKF(lookup(&kt, first) == NULL || key == first,
	       "the very first key is dead");
	keytab_remove(&kt, key);
	keytab_destroy(&kt);
}

static void test_rekey(void)
{
	struct keytab kt;
	uint32_t key, nk, other;
	int obj, obj2, ok = 1, i;

	keytab_init(&kt, 8);
	keytab_insert(&kt, &obj, &key);
	keytab_insert(&kt, &obj2, &other);
	for (i = 0; i < 1000; i++) {
		nk = keytab_rekey(&kt, key);
		if (nk == key || (nk >> 8) != (key >> 8) || (nk & 0xff) == 0)
			ok = 0;
		if (lookup(&kt, key) != NULL || lookup(&kt, nk) != &obj)
			ok = 0;
		key = nk;
	}
	CHECK_LOOP(ok, "rekey: same slot, new generation, old key dead, "
		       "object kept (1000 times)");
	CHECKF(lookup(&kt, other) == &obj2, "rekey leaves other regions alone");
	CHECKF(kt.used == 2, "rekey does not change the count (%u)", kt.used);
	keytab_remove(&kt, key);
	keytab_remove(&kt, other);
	CHECKF(kt.used == 0, "used %u", kt.used);
	keytab_destroy(&kt);
}

static void test_limit(void)
{
	enum { MAX = 100 };
	struct keytab kt;
	uint32_t keys[MAX + 1], extra;
	int obj, ok = 1, i;

	keytab_init(&kt, MAX);
	for (i = 0; i < MAX; i++)
		if (keytab_insert(&kt, &obj, &keys[i]))
			ok = 0;
	CHECK_LOOP(ok, "MAX inserts succeed");
	extra = 0xdeadbeef;
	CHECKF(keytab_insert(&kt, &obj, &extra) == ENOMEM,
	       "insert past the limit is ENOMEM");
	CHECKF(kt.used == MAX, "failed insert does not count (%u)", kt.used);
	keytab_remove(&kt, keys[7]);
	CHECKF(keytab_insert(&kt, &obj, &keys[7]) == 0,
	       "after one remove, one insert fits again");
	CHECKF(keytab_insert(&kt, &obj, &extra) == ENOMEM, "and then ENOMEM");
	CHECKF(all_distinct(keys, MAX), "keys at the limit distinct");
	for (i = 0; i < MAX; i++)
		keytab_remove(&kt, keys[i]);
	CHECKF(kt.used == 0, "used %u", kt.used);
	keytab_destroy(&kt);

	keytab_init(&kt, 0);
	CHECKF(keytab_insert(&kt, &obj, &extra) == ENOMEM, "limit 0: ENOMEM");
	keytab_destroy(&kt);

	keytab_init(&kt, UINT32_MAX);
	CHECKF(kt.max_used <= KEYTAB_MAX_SLOTS - 1,
	       "limit clamped to the 24-bit index space (%u)", kt.max_used);
	keytab_destroy(&kt);
}

/* xorshift32: deterministic, so a failure reproduces */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_churn(void)
{
	enum { LIVE = 3000, OPS = 200000, DEAD = 4096 };
	static uint32_t keys[LIVE], dead[DEAD];
	static int objs[LIVE], live[LIVE];
	struct keytab kt;
	uint32_t seed = 0x9e3779b9, ndead = 0, k;
	int ok_insert = 1, ok_lookup = 1, ok_dead = 1, nlive = 0, i, j;
	uint32_t *tmp;

	keytab_init(&kt, LIVE);
	for (i = 0; i < OPS; i++) {
		j = rnd(&seed) % LIVE;
		if (!live[j]) {
			if (keytab_insert(&kt, &objs[j], &keys[j]) ||
			    keys[j] == 0) {
				ok_insert = 0;
				continue;
			}
			live[j] = 1;
			nlive++;
		} else if (rnd(&seed) & 1) {
			dead[ndead++ % DEAD] = keys[j];
			keytab_remove(&kt, keys[j]);
			live[j] = 0;
			nlive--;
		} else {
			dead[ndead++ % DEAD] = keys[j];
			keys[j] = keytab_rekey(&kt, keys[j]);
		}
		if (lookup(&kt, keys[j]) != (live[j] ? &objs[j] : NULL))
			ok_lookup = 0;
	}
	CHECK_LOOP(ok_insert, "churn: inserts below the limit never fail");
	CHECK_LOOP(ok_lookup, "churn: every live key finds its object");
	CHECKF(kt.used == (uint32_t)nlive, "churn: used %u, live %d", kt.used,
	       nlive);
	tmp = malloc(LIVE * sizeof(*tmp));
	for (i = 0, j = 0; i < LIVE; i++)
		if (live[i])
			tmp[j++] = keys[i];
	CHECKF(all_distinct(tmp, j), "churn: %d live keys distinct", j);
	/* A recently retired key fails unless it is some live region's key
	 * again (possible: 8 random bits; never the same region's). */
	for (i = 0; i < DEAD && (uint32_t)i < ndead; i++) {
		void *o = lookup(&kt, dead[i]);
		int still = 0;

		for (k = 0; k < (uint32_t)j; k++)
			if (tmp[k] == dead[i])
				still = 1;
		if (o && !still)
			ok_dead = 0;
	}
	CHECK_LOOP(ok_dead, "churn: retired keys fail unless re-issued");
	free(tmp);
	for (i = 0; i < LIVE; i++)
		if (live[i])
			keytab_remove(&kt, keys[i]);
	CHECKF(kt.used == 0, "churn: all removed (%u)", kt.used);
	keytab_destroy(&kt);
}

struct thr {
	struct keytab *kt;
	uint32_t keys[2000];
	int obj;
	int err;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	int i, round;

	for (round = 0; round < 5; round++) {
		for (i = 0; i < 2000; i++)
			if (keytab_insert(t->kt, &t->obj, &t->keys[i]))
				t->err++;
		for (i = 0; i < 2000; i++)
			if (lookup(t->kt, t->keys[i]) != &t->obj)
				t->err++;
		if (round < 4)
			for (i = 0; i < 2000; i++)
				keytab_remove(t->kt, t->keys[i]);
	}
	return NULL;
}

static void test_threads(void)
{
	static struct thr t[2];
	static uint32_t all[4000];
	struct keytab kt;
	pthread_t th[2];
	int i;

	keytab_init(&kt, 4000);
	for (i = 0; i < 2; i++) {
		t[i].kt = &kt;
		pthread_create(&th[i], NULL, thr_main, &t[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECKF(t[0].err == 0 && t[1].err == 0,
	       "two threads inserting at once: errors %d/%d", t[0].err,
	       t[1].err);
	memcpy(all, t[0].keys, sizeof(t[0].keys));
	memcpy(all + 2000, t[1].keys, sizeof(t[1].keys));
	CHECKF(all_distinct(all, 4000), "keys from two threads distinct");
	CHECKF(kt.used == 4000, "used %u", kt.used);
	for (i = 0; i < 4000; i++)
		keytab_remove(&kt, all[i]);
	CHECKF(kt.used == 0, "used %u", kt.used);
	keytab_destroy(&kt);
}

/* Regions and windows share the key space, never each other's keys. */
static void test_kinds(void)
{
	struct keytab kt;
	uint32_t kmr, kmw, k2;
	int mr, mw;
	void *a, *b, *c, *d;

	keytab_init(&kt, 16);
	CHECKF(keytab_insert(&kt, &mr, &kmr) == 0, "insert a region");
	CHECKF(keytab_insert_kind(&kt, &mw, KEYTAB_MW, &kmw) == 0,
	       "insert a window");
	CHECKF(kmr >> 8 != kmw >> 8, "distinct slots");
	CHECKF(lookup(&kt, kmw) == NULL, "a window's key is no region's");
	tcp_mutex_lock(&kt.lock);
	a = keytab_lookup_kind_locked(&kt, kmw, KEYTAB_MW);
	b = keytab_lookup_kind_locked(&kt, kmr, KEYTAB_MW);
	c = keytab_slot_locked(&kt, kmw ^ 0x5a, KEYTAB_MW);
	d = keytab_lookup_kind_locked(&kt, kmw ^ 0x5a, KEYTAB_MW);
	/* a bind's key byte: the old key fails, the new one works */
	k2 = keytab_set_gen_locked(&kt, kmw, (uint8_t)(kmw + 1));
	tcp_mutex_unlock(&kt.lock);
	CHECKF(a == &mw, "the window by its key");
	CHECKF(b == NULL, "a region's key is no window's");
	CHECKF(c == &mw, "the window's slot whatever the generation");
	CHECKF(d == NULL, "a wrong generation fails");
	CHECKF(k2 >> 8 == kmw >> 8 && (k2 & 0xff) == ((kmw + 1) & 0xff),
	       "set_gen keeps the slot: %#x -> %#x", kmw, k2);
	tcp_mutex_lock(&kt.lock);
	a = keytab_lookup_kind_locked(&kt, kmw, KEYTAB_MW);
	b = keytab_lookup_kind_locked(&kt, k2, KEYTAB_MW);
	keytab_remove_locked(&kt, k2);
	c = keytab_slot_locked(&kt, k2, KEYTAB_MW);
	tcp_mutex_unlock(&kt.lock);
	CHECKF(a == NULL && b == &mw, "only the new key names the window");
	CHECKF(c == NULL && kt.used == 1, "removed (used %u)", kt.used);
	keytab_destroy(&kt);
}

int main(void)
{
	test_unique_and_lookup();
	test_key_zero_and_garbage();
	test_reuse_changes_generation();
	test_rekey();
	test_limit();
	test_churn();
	test_threads();
	test_kinds();
	return check_report();
}
