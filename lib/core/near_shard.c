/* One shard of the near cache store: its hash chains, its CLOCK ring and eviction. */
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/near_internal.h"
#include "vmux/error.h"

size_t vmux__near_entry_bytes(size_t keylen, size_t valuelen, int has_value)
{
    size_t n = sizeof(struct near_entry) + keylen;
    return has_value ? n + sizeof(struct near_val) + valuelen : n;
}

static size_t bytes_of(const struct near_entry *e)
{
    return vmux__near_entry_bytes(e->keylen + e->varlen, e->val ? e->val->len : 0, e->val != NULL);
}

void vmux__near_val_release(struct near_val *v)
{
    if (v != NULL && atomic_fetch_sub(&v->refs, 1) == 1)
        free(v);
}

bool vmux__near_current(const struct vmux_near *s, const struct near_entry *e)
{
    return e->born >= atomic_load(&s->all_gen) && e->born >= atomic_load(&s->node_gen[e->node]) &&
           e->born >= atomic_load(&s->slot_gen[e->slot]);
}

/* The ring's first room; it doubles up to cap as entries come. nearCacheMaxEntries once sized
 * every shard's arrays at open: its documented maximum, 2^64-1, failed VMUX_ERR_NOMEM. */
#define FIRST_ROOM 64

static size_t pow2_at_least(size_t n)
{
    size_t nb = 1;
    while (nb < n)
        nb <<= 1;
    return nb;
}

/* Makes the ring's room (and the buckets, one per entry of room) twice as large, at most cap:
 * false when it is cap already or memory runs out (the shard then evicts, as when full). */
static bool grow(struct near_shard *sh)
{
    if (sh->room >= sh->cap)
        return false;
    size_t room = sh->room > sh->cap / 2 ? sh->cap : sh->room * 2;
    size_t nb = pow2_at_least(room);
    struct near_entry **buckets = nb > sh->mask + 1 ? calloc(nb, sizeof *buckets) : NULL;
    if (nb > sh->mask + 1 && buckets == NULL)
        return false;
    struct near_entry **ring = realloc(sh->ring, room * sizeof *ring);
    if (ring == NULL) {
        free(buckets);
        return false;
    }
    sh->ring = ring;
    sh->room = room;
    if (buckets == NULL)
        return true;
    for (size_t i = 0; i < sh->n; i++) { /* every entry is in the ring: rehash from there */
        struct near_entry **b = &buckets[ring[i]->hash & (nb - 1)];
        ring[i]->next = *b;
        *b = ring[i];
    }
    free(sh->buckets);
    sh->buckets = buckets;
    sh->mask = nb - 1;
    return true;
}

int vmux__near_shard_init(struct near_shard *sh, size_t cap, size_t budget)
{
    memset(sh, 0, sizeof(*sh));
    sh->room = cap < FIRST_ROOM ? cap : FIRST_ROOM;
    size_t nb = pow2_at_least(sh->room);
    sh->buckets = calloc(nb, sizeof(*sh->buckets));
    sh->ring = calloc(sh->room > 0 ? sh->room : 1, sizeof(*sh->ring));
    if (sh->buckets == NULL || sh->ring == NULL) {
        free(sh->buckets);
        free(sh->ring);
        return VMUX_ERR_NOMEM;
    }
    uv_mutex_init(&sh->mu);
    sh->mask = nb - 1;
    sh->cap = cap;
    sh->budget = budget;
    sh->next_id = 1;
    return 0;
}

static void entry_free(struct near_entry *e)
{
    vmux__near_val_release(e->val);
    free(e);
}

void vmux__near_shard_destroy(struct near_shard *sh)
{
    for (size_t i = 0; i < sh->n; i++)
        entry_free(sh->ring[i]);
    free(sh->buckets);
    free(sh->ring);
    uv_mutex_destroy(&sh->mu);
}

bool vmux__near_same_key(const struct near_entry *e, uint64_t hash, const void *key, size_t keylen)
{
    return e->hash == hash && e->keylen == keylen && memcmp(e->key, key, keylen) == 0;
}

static bool same_variant(const struct near_entry *e, const struct vmux_near_key *k)
{
    return e->varlen == k->varlen &&
           (k->varlen == 0 || memcmp(e->key + e->keylen, k->var, k->varlen) == 0);
}

struct near_entry *vmux__near_shard_find(struct near_shard *sh, uint64_t hash,
                                         const struct vmux_near_key *k)
{
    struct near_entry *e = sh->buckets[hash & sh->mask];
    while (e != NULL && !(vmux__near_same_key(e, hash, k->key, k->keylen) && same_variant(e, k)))
        e = e->next;
    return e;
}

struct near_entry *vmux__near_shard_find_id(struct near_shard *sh, uint64_t hash, uint64_t id)
{
    struct near_entry *e = sh->buckets[hash & sh->mask];
    while (e != NULL && e->id != id)
        e = e->next;
    return e;
}

void vmux__near_shard_insert(struct near_shard *sh, struct near_entry *e)
{
    VMUX_ASSERT(sh->n < sh->room);
    struct near_entry **b = &sh->buckets[e->hash & sh->mask];
    e->next = *b;
    *b = e;
    e->pos = sh->n;
    sh->ring[sh->n++] = e;
    sh->bytes += bytes_of(e);
    sh->placeholders += e->val == NULL;
    VMUX_ASSERT(sh->bytes <= sh->budget);
}

static void unlink_entry(struct near_shard *sh, struct near_entry *e)
{
    struct near_entry **p = &sh->buckets[e->hash & sh->mask];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    /* The ring's last entry takes e's place: O(1), and CLOCK only loses a little order. */
    struct near_entry *last = sh->ring[--sh->n];
    sh->ring[e->pos] = last;
    last->pos = e->pos;
    if (sh->hand >= sh->n)
        sh->hand = 0;
    sh->bytes -= bytes_of(e);
    sh->placeholders -= e->val == NULL;
}

void vmux__near_shard_drop(struct near_shard *sh, struct near_entry *e, enum near_drop why)
{
    unlink_entry(sh, e);
    sh->evictions += why == NEAR_DROP_EVICT;
    sh->expirations += why == NEAR_DROP_EXPIRE;
    sh->invalidations += why == NEAR_DROP_INVALIDATE;
    entry_free(e);
}

static bool expired(const struct near_entry *e, uint64_t now_ns)
{
    return e->val != NULL && e->expires_ns <= now_ns;
}

/*
 * Moves the hand to the next victim and says why it goes: a stale or expired entry at once,
 * else the first whose bit is clear (bits are cleared on the way). Two turns of the ring always
 * find one unless keep is the only entry.
 */
static struct near_entry *next_victim(const struct vmux_near *s, struct near_shard *sh,
                                      const struct near_entry *keep, uint64_t now_ns,
                                      enum near_drop *why)
{
    for (size_t step = 0; step < 2 * sh->n + 1; step++) {
        struct near_entry *e = sh->ring[sh->hand];
        sh->hand = (sh->hand + 1) % sh->n;
        if (e == keep)
            continue;
        *why = !vmux__near_current(s, e) ? NEAR_DROP_QUIET
               : expired(e, now_ns)      ? NEAR_DROP_EXPIRE
                                         : NEAR_DROP_EVICT;
        if (*why != NEAR_DROP_EVICT || !e->ref)
            return e;
        e->ref = false;
    }
    return NULL;
}

bool vmux__near_shard_make_room(const struct vmux_near *s, struct near_shard *sh,
                                const struct near_entry *keep, bool add_entry, size_t add_bytes,
                                uint64_t now_ns)
{
    if (add_entry && sh->n >= sh->room)
        (void)grow(sh); /* else the ring is full at its room: evict */
    while ((add_entry && sh->n >= sh->room) || sh->bytes + add_bytes > sh->budget) {
        enum near_drop why;
        struct near_entry *e = sh->n > 0 ? next_victim(s, sh, keep, now_ns, &why) : NULL;
        if (e == NULL)
            return false;
        vmux__near_shard_drop(sh, e, why);
    }
    return true;
}

/* Drops the entry at ring position i if a flush passed it or it expired: true if it did (the
 * ring's last entry then moved into i). */
static bool sweep_one(const struct vmux_near *s, struct near_shard *sh, size_t i, uint64_t now_ns)
{
    struct near_entry *e = sh->ring[i];
    if (!vmux__near_current(s, e))
        vmux__near_shard_drop(sh, e, NEAR_DROP_QUIET);
    else if (expired(e, now_ns))
        vmux__near_shard_drop(sh, e, NEAR_DROP_EXPIRE);
    else
        return false;
    return true;
}

size_t vmux__near_shard_sweep(const struct vmux_near *s, struct near_shard *sh, uint64_t now_ns)
{
    size_t dropped = 0, i = 0;
    while (i < sh->n) {
        if (sweep_one(s, sh, i, now_ns))
            dropped++; /* look at i again */
        else
            i++;
    }
    return dropped;
}

size_t vmux__near_shard_sweep_some(const struct vmux_near *s, struct near_shard *sh,
                                   uint64_t now_ns, size_t *budget)
{
    size_t dropped = 0, i = sh->sweep_at, left = *budget;
    for (; left > 0 && i < sh->n; left--) {
        if (sweep_one(s, sh, i, now_ns))
            dropped++; /* look at i again */
        else
            i++;
    }
    *budget = left;
    sh->sweep_at = i < sh->n ? i : 0;
    return dropped;
}
