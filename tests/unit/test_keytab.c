// SPDX-License-Identifier: MIT
/*
 * Unit tests of the memory key table (providers/tcp/keytab.h).
 *
 * What a key must guarantee (docs/design.md, "Memory keys"): unique among the
 * live regions and windows, never 0, 32 unpredictable bits for a region (a
 * random 24-bit tag and key byte), a freed key dead (its tag quarantined),
 * window key bytes as binds set them, and a hard limit reported as ENOMEM. Each failing check is printed; the last line is "N passed, N
 * failed" and the exit status is non-zero on any failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* xorshift32: deterministic, so a failure reproduces */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
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
	uint32_t key, g, seed = 0x1234567;
	int obj, ok = 1, i;

	keytab_init(&kt, 16);
	CHECKF(lookup(&kt, 0) == NULL, "key 0 on an empty table");
	CHECKF(lookup(&kt, 0x12345678) == NULL, "arbitrary key, empty table");
	CHECKF(keytab_insert(&kt, &obj, &key) == 0, "insert");
	CHECKF((key >> 8) != 0, "tag 0 is never issued (key %#x)", key);
	/* Tag 0 with any key byte is invalid: key 0 never names an MR */
	for (g = 0; g < 256; g++)
		if (lookup(&kt, g))
			ok = 0;
	CHECK_LOOP(ok, "keys of tag 0 (0x00..0xff) never look up");
	/* The right tag with every wrong key byte fails */
	ok = 1;
	for (g = 0; g < 256; g++) {
		uint32_t k = (key & ~0xffu) | g;

		if (k != key && lookup(&kt, k))
			ok = 0;
	}
	CHECK_LOOP(ok, "255 guessed key bytes of a live tag all fail");
	/* The right byte with other tags fails (near ones and random ones) */
	ok = 1;
	for (i = 1; i < 4096; i++)
		if (lookup(&kt, key + ((uint32_t)i << 8)) ||
		    lookup(&kt, key - ((uint32_t)i << 8)) ||
		    lookup(&kt, (key & 0xff) | (rnd(&seed) & ~0xffu)))
			ok = 0;
	CHECK_LOOP(ok, "12285 other tags with the right key byte all fail");
	CHECKF(lookup(&kt, 0xffffffffu) == NULL || key == 0xffffffffu,
	       "key 0xffffffff");
	/* Removing with a wrong key byte or tag must not free the region */
	keytab_remove(&kt, key ^ 0x01);
	keytab_remove(&kt, 0);
	keytab_remove(&kt, key ^ 0x100);
	CHECKF(lookup(&kt, key) == &obj,
	       "bogus removes leave the region alone");
	CHECKF(kt.used == 1, "used %u", kt.used);
	keytab_remove(&kt, key);
	keytab_remove(&kt, key); /* double remove is harmless */
	CHECKF(kt.used == 0, "used after double remove %u", kt.used);
	keytab_destroy(&kt);
}

/* The last KEYTAB_QUARANTINE freed keys: none names anything again. */
static void test_stale_keys(void)
{
	enum { ROUNDS = 3 * KEYTAB_QUARANTINE };
	static uint32_t hist[ROUNDS + 1];
	struct keytab kt;
	uint32_t key, live;
	int obj, ok = 1, ok_old = 1, i, j;

	keytab_init(&kt, 4);
	keytab_insert(&kt, &obj, &key);
	hist[0] = key;
	for (i = 1; i <= ROUNDS; i++) {
		keytab_remove(&kt, hist[i - 1]);
		if (keytab_insert(&kt, &obj, &hist[i])) {
			ok = 0;
			break;
		}
		if (lookup(&kt, hist[i - 1]) || lookup(&kt, hist[i]) != &obj)
			ok = 0;
	}
	CHECK_LOOP(ok, "re-registration: the new key works, the old is dead");
	/* every key of the last KEYTAB_QUARANTINE frees is dead, and no
	 * tag among them (nor the live one) was issued twice */
	for (i = ROUNDS - KEYTAB_QUARANTINE; i < ROUNDS; i++)
		if (lookup(&kt, hist[i]))
			ok_old = 0;
	CHECK_LOOP(ok_old, "the last 4096 retired keys all fail");
	live = hist[ROUNDS];
	for (i = ROUNDS - KEYTAB_QUARANTINE; i <= ROUNDS; i++)
		hist[i] >>= 8;
	CHECKF(all_distinct(hist + ROUNDS - KEYTAB_QUARANTINE,
			    KEYTAB_QUARANTINE + 1),
	       "no tag re-issued within the quarantine");
	CHECKF(kt.quar_len == KEYTAB_QUARANTINE, "quarantine full: %u",
	       kt.quar_len);
	/* the table holds live + quarantined entries, at most half full */
	for (i = 0, j = 0; (uint32_t)i <= kt.mask; i++)
		j += kt.ents[i].tag != 0;
	CHECKF((uint32_t)j == kt.used + kt.quar_len &&
		       2 * j <= (int)kt.mask + 1,
	       "%d entries in %u (live %u)", j, kt.mask + 1, kt.used);
	keytab_remove(&kt, live ^ 1); /* wrong byte: no-op */
	CHECKF(kt.used == 1, "used %u", kt.used);
	keytab_remove(&kt, live);
	CHECKF(kt.used == 0 && !lookup(&kt, live), "freed (used %u)", kt.used);
	keytab_destroy(&kt);
}

/*
 * 100k live keys: pairwise distinct, every bit of the key and of the XOR
 * of consecutive keys set about half the time. A counter, a shared draw
 * or a stuck bit fails this; a CSPRNG fails it with odds far below 1e-9
 * (the bound is 6.5 standard deviations per bit).
 */
static void test_distribution(void)
{
	enum { N = 100000, DEV = 1030 }; /* sd = sqrt(N / 4) = 158 */
	static uint32_t keys[N];
	static int obj[N];
	unsigned int ones[32] = { 0 }, flips[32] = { 0 }, bad = 0;
	struct keytab kt;
	int i, b, ok = 1;

	keytab_init(&kt, N);
	for (i = 0; i < N; i++)
		if (keytab_insert(&kt, &obj[i], &keys[i]) || !(keys[i] >> 8))
			ok = 0;
	CHECK_LOOP(ok, "100000 registrations succeed, tags non-zero");
	CHECKF(all_distinct(keys, N), "100000 live keys pairwise distinct");
	for (i = 0; i < N; i++)
		for (b = 0; b < 32; b++) {
			ones[b] += keys[i] >> b & 1;
			if (i)
				flips[b] += (keys[i] ^ keys[i - 1]) >> b & 1;
		}
	for (b = 0; b < 32; b++)
		if (ones[b] < N / 2 - DEV || ones[b] > N / 2 + DEV ||
		    flips[b] < N / 2 - DEV || flips[b] > N / 2 + DEV) {
			printf("  bit %d: %u ones, %u flips of %d\n", b,
			       ones[b], flips[b], N);
			bad++;
		}
	CHECKF(bad == 0, "every key bit balanced (%u bits out of bounds)", bad);
	ok = 1;
	for (i = 0; i < N; i++)
		if (lookup(&kt, keys[i]) != &obj[i])
			ok = 0;
	CHECK_LOOP(ok, "every one of 100000 keys finds its region");
	for (i = 0; i < N; i++)
		keytab_remove(&kt, keys[i]);
	CHECKF(kt.used == 0, "all removed (%u)", kt.used);
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
	CHECKF(extra == 0xdeadbeef, "a failed insert gives no key");
	CHECKF(kt.used == MAX, "failed insert does not count (%u)", kt.used);
	keytab_remove(&kt, keys[7]);
	CHECKF(keytab_insert(&kt, &obj, &keys[7]) == 0,
	       "after one remove, one insert fits again");
	CHECKF(keytab_insert(&kt, &obj, &extra) == ENOMEM, "and then ENOMEM");
	CHECKF(all_distinct(keys, MAX), "keys at the limit distinct");
	/* a full table churned past its quarantine stays bounded */
	for (i = 0; i < 3 * (int)KEYTAB_QUARANTINE; i++) {
		keytab_remove(&kt, keys[i % MAX]);
		if (keytab_insert(&kt, &obj, &keys[i % MAX]))
			ok = 0;
	}
	CHECK_LOOP(ok, "a full table: every free makes room for one insert");
	CHECKF(kt.mask + 1 <= 4 * (MAX + KEYTAB_QUARANTINE),
	       "table size bounded by live + quarantine: %u", kt.mask + 1);
	for (i = 0; i < MAX; i++)
		keytab_remove(&kt, keys[i]);
	CHECKF(kt.used == 0, "used %u", kt.used);
	keytab_destroy(&kt);

	keytab_init(&kt, 0);
	CHECKF(keytab_insert(&kt, &obj, &extra) == ENOMEM, "limit 0: ENOMEM");
	keytab_destroy(&kt);

	keytab_init(&kt, UINT32_MAX);
	CHECKF(kt.max_used == KEYTAB_MAX_LIVE,
	       "limit clamped to a quarter of the tag space (%u)", kt.max_used);
	keytab_destroy(&kt);
}

static void test_churn(void)
{
	enum { LIVE = 3000, OPS = 200000, DEAD = KEYTAB_QUARANTINE };
	static uint32_t keys[LIVE], dead[DEAD];
	static int objs[LIVE], live[LIVE];
	struct keytab kt;
	uint32_t seed = 0x9e3779b9, ndead = 0;
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
		} else {
			dead[ndead++ % DEAD] = keys[j];
			keytab_remove(&kt, keys[j]);
			live[j] = 0;
			nlive--;
		}
		if (lookup(&kt, keys[j]) != (live[j] ? &objs[j] : NULL))
			ok_lookup = 0;
	}
	CHECK_LOOP(ok_insert, "churn: inserts below the limit never fail");
	CHECK_LOOP(ok_lookup, "churn: every live key finds its object");
	CHECKF(kt.used == (uint32_t)nlive, "churn: used %u, live %d", kt.used,
	       nlive);
	tmp = malloc((LIVE + DEAD) * sizeof(*tmp));
	for (i = 0, j = 0; i < LIVE; i++)
		if (live[i] && lookup(&kt, keys[i]) != &objs[i])
			ok_lookup = 0;
		else if (live[i])
			tmp[j++] = keys[i] >> 8;
	CHECK_LOOP(ok_lookup, "churn: live keys intact after the evictions");
	/* The last DEAD retired keys (the quarantine) all fail, and their
	 * tags are no live object's */
	for (i = 0; i < DEAD; i++) {
		if (lookup(&kt, dead[i]))
			ok_dead = 0;
		tmp[j + i] = dead[i] >> 8;
	}
	CHECK_LOOP(ok_dead, "churn: the last 4096 retired keys fail");
	CHECKF(all_distinct(tmp, j + DEAD),
	       "churn: %d live and 4096 retired tags all distinct", j);
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
	CHECKF(kmr >> 8 != kmw >> 8, "distinct tags");
	CHECKF(lookup(&kt, kmw) == NULL, "a window's key is no region's");
	tcp_mutex_lock(&kt.lock);
	a = keytab_lookup_kind_locked(&kt, kmw, KEYTAB_MW);
	b = keytab_lookup_kind_locked(&kt, kmr, KEYTAB_MW);
	c = keytab_obj_locked(&kt, kmw ^ 0x5a, KEYTAB_MW);
	d = keytab_lookup_kind_locked(&kt, kmw ^ 0x5a, KEYTAB_MW);
	tcp_mutex_unlock(&kt.lock);
	CHECKF(a == &mw, "the window by its key");
	CHECKF(b == NULL, "a region's key is no window's");
	CHECKF(c == &mw, "the window by its tag whatever the key byte");
	CHECKF(d == NULL, "a wrong key byte fails");
	tcp_mutex_lock(&kt.lock);
	a = keytab_obj_locked(&kt, kmr, KEYTAB_MW);
	b = keytab_obj_locked(&kt, kmw ^ 0x100, KEYTAB_MW);
	tcp_mutex_unlock(&kt.lock);
	CHECKF(a == NULL && b == NULL, "by tag: only a window's own tag");
	tcp_mutex_lock(&kt.lock);
	k2 = keytab_set_byte_locked(&kt, kmw, (uint8_t)(kmw + 1));
	a = keytab_lookup_kind_locked(&kt, kmw, KEYTAB_MW);
	b = keytab_lookup_kind_locked(&kt, k2, KEYTAB_MW);
	keytab_remove_locked(&kt, kmw); /* the old key frees nothing */
	c = keytab_lookup_kind_locked(&kt, k2, KEYTAB_MW);
	keytab_remove_locked(&kt, k2);
	d = keytab_obj_locked(&kt, k2, KEYTAB_MW);
	tcp_mutex_unlock(&kt.lock);
	CHECKF(k2 >> 8 == kmw >> 8 && (k2 & 0xff) == ((kmw + 1) & 0xff),
	       "set_byte keeps the tag: %#x -> %#x", kmw, k2);
	CHECKF(a == NULL && b == &mw && c == &mw,
	       "only the new key names the window");
	CHECKF(d == NULL && kt.used == 1, "removed (used %u)", kt.used);
	keytab_remove(&kt, kmr);
	keytab_destroy(&kt);
}

/*
 * A window's key byte through binds: type 1 steps it as ibv_inc_rkey does
 * (all 256 values, wrapping), type 2 takes any byte the application names
 * (its own current byte too). Each time the new key alone names it.
 */
static void test_mw_key_bytes(void)
{
	struct keytab kt;
	uint32_t k, nk, prev;
	int mw, ok = 1, i;

	keytab_init(&kt, 4);
	keytab_insert_kind(&kt, &mw, KEYTAB_MW, &k);
	tcp_mutex_lock(&kt.lock);
	for (i = 0; i < 300; i++) {
		prev = k;
		nk = (k & 0xffffff00u) | ((k + 1) & 0xff); /* ibv_inc_rkey */
		k = keytab_set_byte_locked(&kt, k, (uint8_t)nk);
		if (k != nk ||
		    keytab_lookup_kind_locked(&kt, k, KEYTAB_MW) != &mw ||
		    keytab_lookup_kind_locked(&kt, prev, KEYTAB_MW))
			ok = 0;
	}
	tcp_mutex_unlock(&kt.lock);
	CHECK_LOOP(ok, "type 1: 300 ibv_inc_rkey binds, each key alone works");
	ok = 1;
	tcp_mutex_lock(&kt.lock);
	for (i = 0; i < 256; i++) {
		k = keytab_set_byte_locked(&kt, k, (uint8_t)(i * 37));
		if ((k & 0xff) != (uint8_t)(i * 37) ||
		    keytab_lookup_kind_locked(&kt, k, KEYTAB_MW) != &mw ||
		    keytab_obj_locked(&kt, k ^ 0xff, KEYTAB_MW) != &mw)
			ok = 0;
	}
	k = keytab_set_byte_locked(&kt, k, (uint8_t)k); /* the same byte */
	if (keytab_lookup_kind_locked(&kt, k, KEYTAB_MW) != &mw)
		ok = 0;
	tcp_mutex_unlock(&kt.lock);
	CHECK_LOOP(ok, "type 2: any application byte, 0 included");
	keytab_remove(&kt, k);
	CHECKF(kt.used == 0, "window freed by its current key (%u)", kt.used);
	keytab_destroy(&kt);
}

/*
 * A fork leaves a half-used random pool in both processes: their next
 * keys must still differ (the child draws afresh).
 */
static void test_fork(void)
{
	struct keytab kt;
	uint32_t first, mine, childs = 0;
	int obj, fd[2], st = -1;
	pid_t pid;

	keytab_init(&kt, 8);
	keytab_insert(&kt, &obj, &first); /* the pool is now in use */
	if (pipe(fd)) {
		CHECKF(0, "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		uint32_t k = 0;

		keytab_insert(&kt, &obj, &k);
		_exit(write(fd[1], &k, sizeof(k)) == sizeof(k) ? 0 : 1);
	}
	keytab_insert(&kt, &obj, &mine);
	close(fd[1]);
	if (pid > 0 && read(fd[0], &childs, sizeof(childs)) == sizeof(childs))
		waitpid(pid, &st, 0);
	close(fd[0]);
	CHECKF(pid > 0 && st == 0, "the child made a key (status %d)", st);
	CHECKF(childs != mine, "parent and child keys differ: %#x %#x", mine,
	       childs);
	keytab_destroy(&kt);
}

int main(void)
{
	test_unique_and_lookup();
	test_key_zero_and_garbage();
	test_stale_keys();
	test_distribution();
	test_limit();
	test_churn();
	test_threads();
	test_kinds();
	test_mw_key_bytes();
	test_fork();
	return check_report();
}
