/* The near cache store's operations: reserve, fill, lookup, invalidate, flush (near_store.h). */
#include "core/near_store.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/near_internal.h"
#include "core/value.h"
#include "vmux/error.h"

/* FNV-1a, then MurmurHash3's finaliser so that both halves of the hash are well mixed. */
static uint64_t hash_key(const void *key, size_t keylen)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < keylen; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 33);
}

/* The high half picks the shard, the low half the bucket inside it. */
static struct near_shard *shard_of(const struct vmux_near *s, uint64_t hash)
{
    return &s->shards[(hash >> 32) & (s->nshards - 1)];
}

static void take_defaults(const struct vmux_near_limits *in, struct vmux_near_limits *l)
{
    *l = in != NULL ? *in : (struct vmux_near_limits){0};
    l->max_entries = l->max_entries ? l->max_entries : VMUX_NEAR_DEFAULT_ENTRIES;
    l->max_bytes = l->max_bytes ? l->max_bytes : VMUX_NEAR_DEFAULT_BYTES;
    l->shards = l->shards ? l->shards : VMUX_NEAR_DEFAULT_SHARDS;
    l->nodes = l->nodes ? l->nodes : VMUX_NEAR_DEFAULT_NODES;
    unsigned n = 1;
    while (2 * (size_t)n <= l->shards && 2 * (size_t)n <= l->max_entries)
        n *= 2;
    l->shards = n;
}

static int alloc_store(const struct vmux_near_limits *l, struct vmux_near **out)
{
    struct vmux_near *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return VMUX_ERR_NOMEM;
    s->shards = calloc(l->shards, sizeof(*s->shards));
    s->node_gen = calloc(l->nodes, sizeof(*s->node_gen));
    s->slot_gen = calloc(VMUX_NEAR_SLOTS, sizeof(*s->slot_gen));
    *out = s;
    if (s->shards == NULL || s->node_gen == NULL || s->slot_gen == NULL)
        return VMUX_ERR_NOMEM;
    for (unsigned i = 0; i < l->nodes; i++)
        atomic_init(&s->node_gen[i], 0);
    for (unsigned i = 0; i < VMUX_NEAR_SLOTS; i++)
        atomic_init(&s->slot_gen[i], 0);
    atomic_init(&s->epoch, 1); /* above every generation: a new entry is current */
    atomic_init(&s->all_gen, 0);
    for (int i = 0; i < VMUX_NEAR_CAUSES; i++)
        atomic_init(&s->flushes[i], 0);
    s->nnodes = l->nodes;
    s->local_ttl_ns = l->local_ttl_ns;
    return 0;
}

int vmux__near_new(const struct vmux_near_limits *limits, struct vmux_near **out)
{
    struct vmux_near_limits l;
    if (out == NULL)
        return VMUX_ERR_INVALID_ARG;
    *out = NULL;
    take_defaults(limits, &l);
    if (l.nodes > VMUX_NEAR_MAX_NODES || l.max_bytes / l.shards < vmux__near_entry_bytes(1, 1, 1))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_near *s = NULL;
    int rc = alloc_store(&l, &s);
    for (unsigned i = 0; rc == 0 && i < l.shards; i++) {
        rc = vmux__near_shard_init(&s->shards[i], l.max_entries / l.shards, l.max_bytes / l.shards);
        s->nshards = rc == 0 ? i + 1 : i;
    }
    if (rc != 0) {
        vmux__near_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void vmux__near_free(struct vmux_near *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->nshards; i++)
        vmux__near_shard_destroy(&s->shards[i]);
    free(s->shards);
    free((void *)s->node_gen);
    free((void *)s->slot_gen);
    free(s);
}

/* A key that no entry can have: its variant is too long to be held. */
static bool never_held(const struct vmux_near_key *k)
{
    return k->varlen > VMUX_NEAR_MAX_VARIANT;
}

int vmux__near_lookup_var(struct vmux_near *s, const struct vmux_near_key *k, uint64_t now_ns,
                          vmux_near_take_fn take, void *out)
{
    uint64_t hash = hash_key(k->key, k->keylen);
    struct near_shard *sh = shard_of(s, hash);
    uv_mutex_lock(&sh->mu);
    struct near_entry *e = never_held(k) ? NULL : vmux__near_shard_find(sh, hash, k);
    if (e != NULL && e->val != NULL && !vmux__near_current(s, e)) {
        vmux__near_shard_drop(sh, e, NEAR_DROP_QUIET);
        e = NULL;
    } else if (e != NULL && e->val != NULL && e->expires_ns <= now_ns) {
        vmux__near_shard_drop(sh, e, NEAR_DROP_EXPIRE);
        e = NULL;
    }
    if (e == NULL || e->val == NULL) {
        sh->misses++;
        uv_mutex_unlock(&sh->mu);
        return 0;
    }
    e->ref = true;
    sh->hits++;
    struct near_val *v = e->val;
    atomic_fetch_add(&v->refs, 1); /* the copy is made after the lock is let go */
    uv_mutex_unlock(&sh->mu);
    int rc = take(v->bytes, v->len, out);
    vmux__near_val_release(v);
    return rc == 0 ? 1 : rc;
}

static int take_copy(const void *bytes, size_t len, void *out)
{
    return vmux__bytes_copy(bytes, len, out);
}

int vmux__near_lookup(struct vmux_near *s, const void *key, size_t keylen, uint64_t now_ns,
                      vmux_bytes *out)
{
    memset(out, 0, sizeof(*out));
    struct vmux_near_key k = {key, keylen, NULL, 0};
    return vmux__near_lookup_var(s, &k, now_ns, take_copy, out);
}

static struct near_entry *new_placeholder(const struct vmux_near_key *k, uint64_t hash,
                                          unsigned node, unsigned slot)
{
    struct near_entry *e = calloc(1, sizeof(*e) + k->keylen + k->varlen);
    if (e == NULL)
        return NULL;
    if (k->keylen > 0)
        memcpy(e->key, k->key, k->keylen);
    if (k->varlen > 0)
        memcpy(e->key + k->keylen, k->var, k->varlen);
    e->keylen = k->keylen;
    e->varlen = (uint32_t)k->varlen;
    e->hash = hash;
    e->node = (uint16_t)node;
    e->slot = (uint16_t)slot;
    return e;
}

/* A placeholder that a new read of the same key from the same place may share. */
static bool shareable(const struct vmux_near *s, const struct near_entry *e, unsigned node,
                      unsigned slot)
{
    return e->val == NULL && e->node == node && e->slot == slot && vmux__near_current(s, e);
}

int vmux__near_reserve_var(struct vmux_near *s, const struct vmux_near_key *k, unsigned node,
                           unsigned slot, uint64_t now_ns, struct vmux_near_token *token)
{
    memset(token, 0, sizeof(*token));
    if (node >= s->nnodes || slot >= VMUX_NEAR_SLOTS)
        return VMUX_ERR_INVALID_ARG;
    uint64_t hash = hash_key(k->key, k->keylen);
    struct near_shard *sh = shard_of(s, hash);
    size_t keylen = k->keylen + k->varlen; /* what the entry counts for, variant included */
    if (never_held(k) || keylen < k->keylen || vmux__near_entry_bytes(keylen, 0, 0) > sh->budget)
        return 0;
    struct near_entry *fresh = new_placeholder(k, hash, node, slot);
    if (fresh == NULL)
        return VMUX_ERR_NOMEM;
    uv_mutex_lock(&sh->mu);
    struct near_entry *old = vmux__near_shard_find(sh, hash, k);
    if (old != NULL && shareable(s, old, node, slot)) {
        *token = (struct vmux_near_token){hash, old->id};
        uv_mutex_unlock(&sh->mu);
        free(fresh);
        return 0;
    }
    if (old != NULL)
        vmux__near_shard_drop(sh, old, NEAR_DROP_QUIET);
    bool room =
        vmux__near_shard_make_room(s, sh, NULL, true, vmux__near_entry_bytes(keylen, 0, 0), now_ns);
    VMUX_ASSERT(room); /* the key fits in an empty shard, checked above */
    (void)room;
    fresh->id = sh->next_id++;
    fresh->born = atomic_load(&s->epoch); /* before the read is sent: flushes from now on pass it */
    vmux__near_shard_insert(sh, fresh);
    *token = (struct vmux_near_token){hash, fresh->id};
    uv_mutex_unlock(&sh->mu);
    return 0;
}

int vmux__near_reserve(struct vmux_near *s, const void *key, size_t keylen, unsigned node,
                       unsigned slot, uint64_t now_ns, struct vmux_near_token *token)
{
    struct vmux_near_key k = {key, keylen, NULL, 0};
    return vmux__near_reserve_var(s, &k, node, slot, now_ns, token);
}

static struct near_val *new_val(const void *value, size_t len)
{
    struct near_val *v = malloc(sizeof(*v) + len);
    if (v == NULL)
        return NULL;
    atomic_init(&v->refs, 1);
    v->len = len;
    if (len > 0)
        memcpy(v->bytes, value, len);
    return v;
}

static uint64_t deadline(const struct vmux_near *s, uint64_t server_deadline_ns, uint64_t now_ns)
{
    if (s->local_ttl_ns == 0 || s->local_ttl_ns >= UINT64_MAX - now_ns)
        return server_deadline_ns;
    uint64_t cap = now_ns + s->local_ttl_ns;
    return cap < server_deadline_ns ? cap : server_deadline_ns;
}

/* Under sh's lock: turns placeholder e into an entry holding v, or drops it. Returns 1 or 0. */
static int store(const struct vmux_near *s, struct near_shard *sh, struct near_entry *e,
                 struct near_val *v, uint64_t expires_ns, uint64_t now_ns)
{
    size_t add = sizeof(*v) + v->len;
    if (expires_ns <= now_ns ||
        vmux__near_entry_bytes(e->keylen + e->varlen, v->len, 1) > sh->budget ||
        !vmux__near_shard_make_room(s, sh, e, false, add, now_ns)) {
        vmux__near_shard_drop(sh, e, NEAR_DROP_QUIET);
        return 0;
    }
    e->val = v;
    e->expires_ns = expires_ns;
    e->ref = false; /* it earns its bit on its first hit */
    sh->placeholders--;
    sh->bytes += add;
    VMUX_ASSERT(sh->bytes <= sh->budget);
    return 1;
}

/* The hash a placeholder remembers a reply by; a missing key (NULL) has its own. */
static uint64_t value_hash(const void *value, size_t len)
{
    if (value == NULL)
        return 0;
    uint64_t h = hash_key(value, len);
    return h != 0 ? h : 1;
}

/* Under sh's lock: may a fill of placeholder e with a value of hash vh store? */
static bool agrees(const struct near_entry *e, uint64_t vh)
{
    return e->seen == NEAR_SEEN_NONE || (e->seen == NEAR_SEEN_ONE && e->seen_hash == vh);
}

/* Under sh's lock: a reply that was not stored meets e, what the store holds under its key. */
static void meet(struct near_shard *sh, struct near_entry *e, const void *value, size_t len)
{
    uint64_t vh = value_hash(value, len);
    if (e == NULL)
        return;
    if (e->val != NULL) {
        if (value == NULL || e->val->len != len || memcmp(e->val->bytes, value, len) != 0) {
            vmux__near_shard_drop(sh, e, NEAR_DROP_QUIET); /* it may be the older of the two */
            sh->conflicts++;
        }
    } else if (e->seen == NEAR_SEEN_NONE) {
        e->seen = NEAR_SEEN_ONE;
        e->seen_hash = vh;
    } else if (e->seen_hash != vh) {
        e->seen = NEAR_SEEN_MANY;
    }
}

int vmux__near_fill_var(struct vmux_near *s, struct vmux_near_token token,
                        const struct vmux_near_key *k, const void *value, size_t len,
                        uint64_t server_deadline_ns, uint64_t now_ns)
{
    if (token.id == 0)
        return 0;
    struct near_shard *sh = shard_of(s, token.hash);
    struct near_val *v = new_val(value, len);
    uint64_t vh = value_hash(value, len);
    uv_mutex_lock(&sh->mu);
    struct near_entry *e = vmux__near_shard_find_id(sh, token.hash, token.id);
    int rc = v == NULL ? VMUX_ERR_NOMEM : 0;
    if (e != NULL && e->val == NULL && v != NULL && vmux__near_current(s, e) && agrees(e, vh)) {
        rc = store(s, sh, e, v, deadline(s, server_deadline_ns, now_ns), now_ns);
    } else if (e != NULL && e->val == NULL) {
        sh->conflicts += v != NULL && !agrees(e, vh);
        vmux__near_shard_drop(sh, e, NEAR_DROP_QUIET); /* it cannot store this reply */
    } else {
        meet(sh, e != NULL ? e : vmux__near_shard_find(sh, token.hash, k), value, len);
    }
    sh->fills += rc == 1;
    sh->fills_dropped += rc != 1;
    uv_mutex_unlock(&sh->mu);
    if (rc != 1)
        vmux__near_val_release(v);
    return rc;
}

int vmux__near_fill(struct vmux_near *s, struct vmux_near_token token, const void *key,
                    size_t keylen, const void *value, size_t len, uint64_t server_deadline_ns,
                    uint64_t now_ns)
{
    struct vmux_near_key k = {key, keylen, NULL, 0};
    return vmux__near_fill_var(s, token, &k, value, len, server_deadline_ns, now_ns);
}

void vmux__near_seen_var(struct vmux_near *s, const struct vmux_near_key *k, const void *value,
                         size_t len)
{
    if (never_held(k))
        return;
    uint64_t hash = hash_key(k->key, k->keylen);
    struct near_shard *sh = shard_of(s, hash);
    uv_mutex_lock(&sh->mu);
    meet(sh, vmux__near_shard_find(sh, hash, k), value, len);
    uv_mutex_unlock(&sh->mu);
}

void vmux__near_seen(struct vmux_near *s, const void *key, size_t keylen, const void *value,
                     size_t len)
{
    struct vmux_near_key k = {key, keylen, NULL, 0};
    vmux__near_seen_var(s, &k, value, len);
}

/*
 * Under sh's lock: calls each(sh, e) for every entry held under key, whatever its variant; each
 * may drop e. Returns how many there were.
 */
static size_t each_variant(struct near_shard *sh, uint64_t hash, const void *key, size_t keylen,
                           void (*each)(struct near_shard *, struct near_entry *))
{
    size_t n = 0;
    struct near_entry *next;
    for (struct near_entry *e = sh->buckets[hash & sh->mask]; e != NULL; e = next) {
        next = e->next; /* e may be freed: dropping it unlinks only e */
        if (vmux__near_same_key(e, hash, key, keylen)) {
            each(sh, e);
            n++;
        }
    }
    return n;
}

static void meet_gone(struct near_shard *sh, struct near_entry *e)
{
    meet(sh, e, NULL, 0);
}

void vmux__near_seen_gone(struct vmux_near *s, const void *key, size_t keylen)
{
    uint64_t hash = hash_key(key, keylen);
    struct near_shard *sh = shard_of(s, hash);
    uv_mutex_lock(&sh->mu);
    (void)each_variant(sh, hash, key, keylen, meet_gone);
    uv_mutex_unlock(&sh->mu);
}

void vmux__near_cancel(struct vmux_near *s, struct vmux_near_token token)
{
    if (token.id == 0)
        return;
    struct near_shard *sh = shard_of(s, token.hash);
    uv_mutex_lock(&sh->mu);
    struct near_entry *e = vmux__near_shard_find_id(sh, token.hash, token.id);
    if (e != NULL && e->val == NULL)
        vmux__near_shard_drop(sh, e, NEAR_DROP_QUIET);
    uv_mutex_unlock(&sh->mu);
}

static void drop_invalidated(struct near_shard *sh, struct near_entry *e)
{
    vmux__near_shard_drop(sh, e, NEAR_DROP_INVALIDATE);
}

int vmux__near_invalidate(struct vmux_near *s, const void *key, size_t keylen)
{
    uint64_t hash = hash_key(key, keylen);
    struct near_shard *sh = shard_of(s, hash);
    uv_mutex_lock(&sh->mu);
    size_t n = each_variant(sh, hash, key, keylen, drop_invalidated);
    uv_mutex_unlock(&sh->mu);
    return n > 0;
}

/* Raises gen to a new epoch: every entry born before it is stale from now on. */
static void raise_gen(struct vmux_near *s, _Atomic uint64_t *gen, enum vmux_near_cause cause)
{
    uint64_t f = atomic_fetch_add(&s->epoch, 1) + 1;
    uint64_t cur = atomic_load(gen);
    while (cur < f && !atomic_compare_exchange_weak(gen, &cur, f)) {
    }
    if (cause > 0 && cause < VMUX_NEAR_CAUSES)
        atomic_fetch_add(&s->flushes[cause], 1);
}

void vmux__near_flush_node(struct vmux_near *s, unsigned node, enum vmux_near_cause cause)
{
    if (node < s->nnodes)
        raise_gen(s, &s->node_gen[node], cause);
}

void vmux__near_flush_slot(struct vmux_near *s, unsigned slot, enum vmux_near_cause cause)
{
    if (slot < VMUX_NEAR_SLOTS)
        raise_gen(s, &s->slot_gen[slot], cause);
}

void vmux__near_flush_all(struct vmux_near *s, enum vmux_near_cause cause)
{
    raise_gen(s, &s->all_gen, cause);
}

size_t vmux__near_sweep(struct vmux_near *s, uint64_t now_ns)
{
    size_t dropped = 0;
    for (unsigned i = 0; i < s->nshards; i++) {
        uv_mutex_lock(&s->shards[i].mu);
        dropped += vmux__near_shard_sweep(s, &s->shards[i], now_ns);
        uv_mutex_unlock(&s->shards[i].mu);
    }
    return dropped;
}

size_t vmux__near_sweep_some(struct vmux_near *s, unsigned *next, size_t budget, uint64_t now_ns)
{
    size_t dropped = 0;
    for (unsigned k = 0; k < s->nshards && budget > 0; k++) {
        struct near_shard *sh = &s->shards[*next % s->nshards];
        uv_mutex_lock(&sh->mu);
        dropped += vmux__near_shard_sweep_some(s, sh, now_ns, &budget);
        bool unfinished = sh->sweep_at != 0;
        uv_mutex_unlock(&sh->mu);
        if (unfinished)
            break; /* the next call goes on in this shard */
        (*next)++;
    }
    return dropped;
}

static void add_shard(struct near_shard *sh, struct vmux_near_store_stats *o)
{
    o->hits += sh->hits;
    o->misses += sh->misses;
    o->fills += sh->fills;
    o->fills_dropped += sh->fills_dropped;
    o->conflicts += sh->conflicts;
    o->invalidations += sh->invalidations;
    o->evictions += sh->evictions;
    o->expirations += sh->expirations;
    o->entries += sh->n;
    o->placeholders += sh->placeholders;
    o->bytes += sh->bytes;
}

void vmux__near_read_stats(struct vmux_near *s, struct vmux_near_store_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < s->nshards; i++) {
        uv_mutex_lock(&s->shards[i].mu);
        add_shard(&s->shards[i], out);
        uv_mutex_unlock(&s->shards[i].mu);
    }
    for (int i = 1; i < VMUX_NEAR_CAUSES; i++)
        out->flushes[i] = atomic_load(&s->flushes[i]);
}
