// SPDX-License-Identifier: MIT
/* Memory key allocation: see keytab.h for the key format and why. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "keytab.h"

#define KEYTAB_MIN_ENTS 64u

/*
 * Bumped in a forked child: the draws left in a pool when the process
 * forked must not become the next keys of both processes (a child that
 * drops privileges would know its parent's).
 */
static atomic_uint fork_epoch;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add(&fork_epoch, 1);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

int keytab_init(struct keytab *kt, uint32_t max_used)
{
	pthread_once(&atfork_once, register_atfork);
	memset(kt, 0, sizeof(*kt));
	tcp_mutex_init(&kt->lock, TCP_LOCK_RANK_KEYS);
	kt->max_used = max_used < KEYTAB_MAX_LIVE ? max_used : KEYTAB_MAX_LIVE;
	return 0;
}

void keytab_destroy(struct keytab *kt)
{
	free(kt->ents);
	free(kt->quar);
	kt->ents = NULL;
	kt->quar = NULL;
	/* unused draws would be the next keys: leave none behind */
	explicit_bzero(kt->rnd, sizeof(kt->rnd));
	kt->rnd_left = 0;
	tcp_mutex_destroy(&kt->lock);
}

/* One CSPRNG word, from a batch so a registration rarely makes a syscall */
static int draw(struct keytab *kt, uint32_t *r)
{
	unsigned int epoch = atomic_load(&fork_epoch);
	ssize_t n;

	if (kt->rnd_epoch != epoch) {
		explicit_bzero(kt->rnd, sizeof(kt->rnd));
		kt->rnd_left = 0;
		kt->rnd_epoch = epoch;
	}
	if (!kt->rnd_left) {
		do
			n = getrandom(kt->rnd, sizeof(kt->rnd), 0);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(kt->rnd))
			return EAGAIN;
		kt->rnd_left = KEYTAB_RAND_BATCH;
	}
	*r = kt->rnd[--kt->rnd_left];
	kt->rnd[kt->rnd_left] = 0;
	return 0;
}

/* The entry holding tag (live or quarantined), or NULL. */
static struct keytab_ent *ent_find(const struct keytab *kt, uint32_t tag)
{
	uint32_t i;

	if (!tag || !kt->ents)
		return NULL;
	/* at most half full: an empty entry ends every probe sequence */
	for (i = tag & kt->mask; kt->ents[i].tag; i = (i + 1) & kt->mask)
		if (kt->ents[i].tag == tag)
			return &kt->ents[i];
	return NULL;
}

static struct keytab_ent *ent_place(struct keytab_ent *ents, uint32_t mask,
				    const struct keytab_ent *e)
{
	uint32_t i;

	for (i = e->tag & mask; ents[i].tag; i = (i + 1) & mask)
		;
	ents[i] = *e;
	return &ents[i];
}

/*
 * Empties entry i and moves later entries of its probe run back into the
 * hole where their home allows (backward-shift deletion), so no marker of
 * a deleted entry is left to lengthen later probes.
 */
static void ent_delete(struct keytab *kt, uint32_t i)
{
	uint32_t j = i, home;

	for (;;) {
		j = (j + 1) & kt->mask;
		if (!kt->ents[j].tag)
			break;
		home = kt->ents[j].tag & kt->mask;
		/* j may move to i if i lies in [home, j) cyclically */
		if (((j - home) & kt->mask) >= ((j - i) & kt->mask)) {
			kt->ents[i] = kt->ents[j];
			i = j;
		}
	}
	memset(&kt->ents[i], 0, sizeof(kt->ents[i]));
}

/* Doubles the table (or makes the first) and rehashes every entry. */
static int keytab_grow(struct keytab *kt)
{
	uint32_t n = kt->ents ? (kt->mask + 1) * 2 : KEYTAB_MIN_ENTS;
	struct keytab_ent *ents;
	uint32_t i;

	if (!kt->quar) {
		kt->quar = calloc(KEYTAB_QUARANTINE, sizeof(*kt->quar));
		if (!kt->quar)
			return ENOMEM;
	}
	ents = calloc(n, sizeof(*ents));
	if (!ents)
		return ENOMEM;
	for (i = 0; kt->ents && i <= kt->mask; i++)
		if (kt->ents[i].tag)
			ent_place(ents, n - 1, &kt->ents[i]);
	free(kt->ents);
	kt->ents = ents;
	kt->mask = n - 1;
	return 0;
}

/* Room for one more entry with the table at most half full. */
static int make_room(struct keytab *kt)
{
	uint64_t fill = (uint64_t)kt->used + kt->quar_len + 1;

	if (kt->ents && fill * 2 <= (uint64_t)kt->mask + 1)
		return 0;
	return keytab_grow(kt);
}

/* A fresh key: a tag no entry holds (live or quarantined), never 0. */
static int new_key(struct keytab *kt, uint32_t *tag, uint8_t *byte)
{
	uint32_t r;
	int err;

	do {
		err = draw(kt, &r);
		if (err)
			return err;
	} while (!(r >> 8) || ent_find(kt, r >> 8));
	*tag = r >> 8;
	*byte = (uint8_t)r;
	return 0;
}

int keytab_insert(struct keytab *kt, void *obj, uint32_t *key)
{
	return keytab_insert_kind(kt, obj, KEYTAB_MR, key);
}

int keytab_insert_kind(struct keytab *kt, void *obj, uint8_t kind,
		       uint32_t *key)
{
	struct keytab_ent e = { .obj = obj, .kind = kind };
	int err = ENOMEM;

	tcp_mutex_lock(&kt->lock);
	if (kt->used < kt->max_used)
		err = make_room(kt);
	if (!err)
		err = new_key(kt, &e.tag, &e.byte);
	if (!err) {
		ent_place(kt->ents, kt->mask, &e);
		kt->used++;
		*key = e.tag << 8 | e.byte;
	}
	tcp_mutex_unlock(&kt->lock);
	return err;
}

/*
 * Keeps a freed tag out of reuse: its entry stays (object NULL) until
 * KEYTAB_QUARANTINE later frees push it out of the ring.
 */
static void quarantine(struct keytab *kt, uint32_t tag)
{
	struct keytab_ent *old;

	if (kt->quar_len == KEYTAB_QUARANTINE) {
		old = ent_find(kt, kt->quar[kt->quar_head]);
		if (old && !old->obj)
			ent_delete(kt, (uint32_t)(old - kt->ents));
		kt->quar_head = (kt->quar_head + 1) % KEYTAB_QUARANTINE;
		kt->quar_len--;
	}
	kt->quar[(kt->quar_head + kt->quar_len) % KEYTAB_QUARANTINE] = tag;
	kt->quar_len++;
}

void keytab_remove(struct keytab *kt, uint32_t key)
{
	tcp_mutex_lock(&kt->lock);
	keytab_remove_locked(kt, key);
	tcp_mutex_unlock(&kt->lock);
}

void keytab_remove_locked(struct keytab *kt, uint32_t key)
{
	struct keytab_ent *e;

	tcp_assert_held(&kt->lock);
	e = ent_find(kt, key >> 8);
	if (!e || !e->obj || e->byte != (uint8_t)key)
		return;
	e->obj = NULL;
	kt->used--;
	/* (may move entries: e is not used after this) */
	quarantine(kt, key >> 8);
}

void *keytab_obj_locked(struct keytab *kt, uint32_t key, uint8_t kind)
{
	struct keytab_ent *e;

	tcp_assert_held(&kt->lock);
	e = ent_find(kt, key >> 8);
	if (!e || e->kind != kind)
		return NULL;
	return e->obj;
}

void *keytab_lookup_kind_locked(struct keytab *kt, uint32_t key, uint8_t kind)
{
	struct keytab_ent *e;

	tcp_assert_held(&kt->lock);
	e = ent_find(kt, key >> 8);
	if (!e || e->kind != kind || e->byte != (uint8_t)key)
		return NULL;
	return e->obj;
}

void *keytab_lookup_locked(struct keytab *kt, uint32_t key)
{
	return keytab_lookup_kind_locked(kt, key, KEYTAB_MR);
}

uint32_t keytab_set_byte_locked(struct keytab *kt, uint32_t key, uint8_t byte)
{
	struct keytab_ent *e;

	tcp_assert_held(&kt->lock);
	e = ent_find(kt, key >> 8);
	if (e)
		e->byte = byte;
	return (key & ~0xffu) | byte;
}
