/*
 * Cache-aside (cache.h): GET, on a miss one load per key in the process (single flight), SET
 * with a jittered TTL; negative entries; XFetch early refresh. Uses only the public API.
 *
 * Single flight: a small hash map of flights (loads of one key), guarded by one mutex, each
 * with a condition variable its waiters sleep on. A finished flight that succeeded stays in the
 * map for LINGER_NS: a caller whose GET was sent before that load finished may have missed only
 * because the SET had not landed yet, so it takes the load's result rather than loading again.
 * Finished flights queue oldest first and are swept as they age.
 */
#include "vmux/cache.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "core/sized.h"
#include "vmux/call.h"
#include "vmux/error.h"
#include "vmux/keys.h"
#include "vmux/strings.h"

#define HDR_LEN 20
#define FORMAT_VERSION 1
#define FLAG_NOT_FOUND 0x1
#define NBUCKETS 1024
#define LINGER_NS (1000ull * 1000000ull)
#define KEY_INLINE 256
#define DEFAULT_TTL_MS 60000
#define DEFAULT_JITTER 0.1
#define DEFAULT_BETA 1.0
#define DEFAULT_WAIT_MS 30000

/* One load of one key, shared by the callers that missed it. Guarded by the cache's lock. */
struct flight {
    struct flight *next;      /* bucket chain */
    struct flight *done_next; /* queue of finished flights */
    uv_cond_t cond;           /* signalled when done */
    uint64_t hash;
    uint64_t done_ns;
    char *blob; /* header, value, NUL: what was (or would be) stored */
    size_t len; /* value bytes after the header */
    int status; /* 0, or the error every sharer returns */
    unsigned waiters;
    bool leading, done, found, stored, invalidated, in_map, in_queue;
    size_t keylen;
    char key[]; /* prefix + key */
};

struct vmux_cache {
    vmux *m;
    char *prefix;
    size_t prefix_len;
    int64_t ttl_ms, neg_ttl_ms; /* neg_ttl_ms < 0: negative entries are not stored */
    double jitter, beta;        /* 0: off */
    int64_t timeout_ms, wait_ms;
    bool strict;
    uv_mutex_t lock;
    struct flight *buckets[NBUCKETS];
    struct flight *queue_head, *queue_tail; /* finished flights, oldest first */
    _Atomic uint64_t hits, misses, loads, refreshes, shared, load_errors, errors;
};

/* The key as sent: prefix + caller's key, on the stack when short. */
struct fullkey {
    char *ptr;
    size_t len;
    vmux_str user; /* the caller's key, inside ptr */
    char inline_buf[KEY_INLINE];
};

/* A decoded stored entry. */
struct entry {
    bool present; /* a well-formed entry was read */
    bool found;   /* false: a negative entry */
    uint32_t delta_us;
    uint64_t expiry_ms;
    vmux_bytes value;
};

static void count(_Atomic uint64_t *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* ---- randomness and time ---- */

/* xorshift64*, per thread: jitter and XFetch need speed and spread, not secrecy. */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t s;
    if (s == 0)
        s = (uv_hrtime() ^ ((uint64_t)(uintptr_t)&s * 0x9E3779B97F4A7C15ull)) | 1;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, 1). */
static double random_below_one(void)
{
    return (double)(next_random() >> 11) * 0x1.0p-53;
}

/*
 * ln(x) for x in (0, 1]. Written out because the library does not link libm; a series in
 * s = (x-1)/(x+1) after scaling x into [0.5, 1] is far more precise than a random threshold
 * needs.
 */
static double ln_unit(double x)
{
    int e = 0;
    while (x < 0.5) {
        x *= 2;
        e--;
    }
    double s = (x - 1) / (x + 1), s2 = s * s, term = s, sum = 0;
    for (int i = 1; i < 40; i += 2) {
        sum += term / i;
        term *= s2;
    }
    return 2 * sum + e * 0.69314718055994530942;
}

/* Wall-clock time: expiry times in stored entries are shared with other processes. */
static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the stored format (cache.h) ---- */

static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_header(char *blob, bool found, uint64_t delta_us, uint64_t expiry_ms)
{
    unsigned char *p = (unsigned char *)blob;
    memcpy(p, "vmc", 3);
    p[3] = FORMAT_VERSION;
    p[4] = found ? 0 : FLAG_NOT_FOUND;
    memset(p + 5, 0, 3);
    put_be(p + 8, delta_us > UINT32_MAX ? UINT32_MAX : delta_us, 4);
    put_be(p + 12, expiry_ms, 8);
}

/* Decodes s into e; an unknown format leaves e->present false. */
static int parse_entry(const char *s, size_t len, struct entry *e)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len < HDR_LEN || memcmp(p, "vmc", 3) != 0 || p[3] != FORMAT_VERSION)
        return 0;
    e->found = (p[4] & FLAG_NOT_FOUND) == 0;
    e->delta_us = (uint32_t)get_be(p + 8, 4);
    e->expiry_ms = get_be(p + 12, 8);
    if (e->found) {
        size_t n = len - HDR_LEN;
        if ((e->value.ptr = malloc(n + 1)) == NULL)
            return VMUX_ERR_NOMEM;
        memcpy(e->value.ptr, s + HDR_LEN, n);
        e->value.ptr[n] = '\0';
        e->value.len = n;
    }
    e->present = true;
    return 0;
}

/* ---- keys ---- */

static int fullkey_make(const vmux_cache *c, vmux_str key, struct fullkey *k)
{
    k->len = c->prefix_len + key.len;
    k->ptr = k->len <= KEY_INLINE ? k->inline_buf : malloc(k->len ? k->len : 1);
    if (k->ptr == NULL)
        return VMUX_ERR_NOMEM;
    if (c->prefix_len > 0)
        memcpy(k->ptr, c->prefix, c->prefix_len);
    if (key.len > 0)
        memcpy(k->ptr + c->prefix_len, key.ptr, key.len);
    k->user = VMUX_STRN(k->ptr + c->prefix_len, key.len);
    return 0;
}

static void fullkey_free(struct fullkey *k)
{
    if (k->ptr != k->inline_buf)
        free(k->ptr);
}

/* FNV-1a. */
static uint64_t key_hash(const struct fullkey *k)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < k->len; i++)
        h = (h ^ (unsigned char)k->ptr[i]) * 0x100000001b3ull;
    return h;
}

/* ---- Valkey commands ---- */

static vmux_callopts command_opts(const vmux_cache *c, uint32_t flags)
{
    return VMUX_INIT(vmux_callopts, .timeout_ms = c->timeout_ms, .flags = flags);
}

/* GET and decode: the hit path, one GET and one allocation for the value. */
static int read_entry(vmux_cache *c, const struct fullkey *k, struct entry *e)
{
    const char *argv[2] = {"GET", k->ptr};
    size_t lens[2] = {3, k->len};
    vmux_callopts o = command_opts(c, VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    memset(e, 0, sizeof(*e));
    int rc = vmux_call(c->m, &o, 2, argv, lens, &r);
    if (rc != 0)
        count(&c->errors);
    else if (vmux_reply_get_kind(r) == VMUX_REPLY_STRING) {
        size_t len;
        const char *s = vmux_reply_str(r, &len);
        rc = parse_entry(s, len, e);
    }
    vmux_reply_free(r);
    return rc;
}

/* SET blob PX ttl; 0 or the SET's error. */
static int store(vmux_cache *c, const struct fullkey *k, const struct flight *f, int64_t ttl_ms)
{
    vmux_callopts o = command_opts(c, 0);
    int rc = vmux_set(c->m, &o, VMUX_STRN(k->ptr, k->len), VMUX_STRN(f->blob, HDR_LEN + f->len),
                      VMUX_EXPIRE_IN_MS(ttl_ms), VMUX_COND_ALWAYS, NULL);
    if (rc != 0)
        count(&c->errors);
    return rc;
}

static int delete_key(vmux_cache *c, const struct fullkey *k)
{
    vmux_callopts o = command_opts(c, 0);
    vmux_str key = VMUX_STRN(k->ptr, k->len);
    int rc = vmux_del(c->m, &o, &key, 1, NULL);
    if (rc != 0)
        count(&c->errors);
    return rc;
}

/* ---- the flight map (caller holds c->lock unless said otherwise) ---- */

static struct flight **bucket_of(vmux_cache *c, uint64_t hash)
{
    return &c->buckets[hash % NBUCKETS];
}

static struct flight *flight_find(vmux_cache *c, const struct fullkey *k, uint64_t hash)
{
    for (struct flight *f = *bucket_of(c, hash); f != NULL; f = f->next)
        if (f->hash == hash && f->keylen == k->len && memcmp(f->key, k->ptr, k->len) == 0)
            return f;
    return NULL;
}

static struct flight *flight_new(vmux_cache *c, const struct fullkey *k, uint64_t hash)
{
    struct flight *f = calloc(1, sizeof(*f) + k->len);
    if (f == NULL)
        return NULL;
    if (uv_cond_init(&f->cond) != 0) {
        free(f);
        return NULL;
    }
    memcpy(f->key, k->ptr, k->len);
    f->keylen = k->len;
    f->hash = hash;
    f->leading = f->in_map = true;
    struct flight **b = bucket_of(c, hash);
    f->next = *b;
    *b = f;
    return f;
}

/* Frees f once nothing refers to it. */
static void flight_release(struct flight *f)
{
    if (f->leading || f->waiters > 0 || f->in_map || f->in_queue)
        return;
    uv_cond_destroy(&f->cond);
    free(f->blob);
    free(f);
}

static void flight_unlink(vmux_cache *c, struct flight *f)
{
    struct flight **p = bucket_of(c, f->hash);
    while (*p != f)
        p = &(*p)->next;
    *p = f->next;
    f->in_map = false;
}

static void queue_push(vmux_cache *c, struct flight *f)
{
    f->in_queue = true;
    if (c->queue_tail != NULL)
        c->queue_tail->done_next = f;
    else
        c->queue_head = f;
    c->queue_tail = f;
}

/* Drops finished flights older than LINGER_NS, or all of them. */
static void queue_sweep(vmux_cache *c, uint64_t now, bool all)
{
    struct flight *f;
    while ((f = c->queue_head) != NULL && (all || now - f->done_ns > LINGER_NS)) {
        if ((c->queue_head = f->done_next) == NULL)
            c->queue_tail = NULL;
        f->in_queue = false;
        if (f->in_map)
            flight_unlink(c, f);
        flight_release(f);
    }
}

/* Copies a finished flight's outcome into *value. */
static int flight_result(const struct flight *f, vmux_bytes *value)
{
    if (f->status != 0 || !f->found)
        return f->status;
    if ((value->ptr = malloc(f->len + 1)) == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(value->ptr, f->blob + HDR_LEN, f->len + 1);
    value->len = f->len;
    return 0;
}

/* Waits for another caller's flight until deadline_ns; called locked, returns unlocked. */
static int flight_wait(vmux_cache *c, struct flight *f, uint64_t deadline_ns, vmux_bytes *value)
{
    f->waiters++;
    while (!f->done) {
        uint64_t now = uv_hrtime();
        if (now >= deadline_ns)
            break;
        (void)uv_cond_timedwait(&f->cond, &c->lock, deadline_ns - now);
    }
    int rc = f->done ? flight_result(f, value) : VMUX_ERR_TIMEOUT;
    f->waiters--;
    flight_release(f);
    uv_mutex_unlock(&c->lock);
    if (rc != VMUX_ERR_TIMEOUT)
        count(&c->shared);
    return rc;
}

static bool flight_invalidated(vmux_cache *c, const struct flight *f)
{
    uv_mutex_lock(&c->lock);
    bool invalidated = f->invalidated;
    uv_mutex_unlock(&c->lock);
    return invalidated;
}

/* ---- loading ---- */

/* The stored TTL: the configured one, shortened by up to the jitter fraction, at least 1 ms. */
static int64_t jittered(const vmux_cache *c, int64_t ttl_ms)
{
    ttl_ms -= (int64_t)((double)ttl_ms * c->jitter * random_below_one());
    return ttl_ms < 1 ? 1 : ttl_ms;
}

/* Turns the loader's outcome into f's blob (header and value); returns f's status. */
static int flight_fill(struct flight *f, int lrc, const vmux_bytes *got, uint64_t delta_ns,
                       int64_t ttl_ms)
{
    if (lrc < 0)
        return lrc;
    if ((lrc != 0 && lrc != VMUX_CACHE_NOT_FOUND) || (lrc == 0 && !got->ptr && got->len))
        return VMUX_ERR_INVALID_ARG;
    f->found = lrc == 0;
    f->len = f->found ? got->len : 0;
    if ((f->blob = malloc(HDR_LEN + f->len + 1)) == NULL)
        return VMUX_ERR_NOMEM;
    put_header(f->blob, f->found, delta_ns / 1000u, wall_ms() + (uint64_t)ttl_ms);
    if (f->len > 0)
        memcpy(f->blob + HDR_LEN, got->ptr, f->len);
    f->blob[HDR_LEN + f->len] = '\0';
    return 0;
}

/* Runs the loader for f; returns f's status. */
static int flight_load(vmux_cache *c, const struct fullkey *k, struct flight *f,
                       vmux_cache_loader load, void *arg, int64_t *ttl_ms)
{
    vmux_bytes got = {0};
    uint64_t start = uv_hrtime();
    int lrc = load(k->user, &got, arg);
    uint64_t delta_ns = uv_hrtime() - start;
    count(&c->loads);
    if (lrc < 0)
        count(&c->load_errors);
    *ttl_ms = lrc == VMUX_CACHE_NOT_FOUND ? c->neg_ttl_ms : c->ttl_ms;
    if (*ttl_ms > 0)
        *ttl_ms = jittered(c, *ttl_ms);
    int rc = flight_fill(f, lrc, &got, delta_ns, *ttl_ms > 0 ? *ttl_ms : 1);
    free(got.ptr);
    return rc;
}

/* Publishes f's outcome to its waiters and copies it for the leader; unlocks. */
static int flight_finish(vmux_cache *c, const struct fullkey *k, struct flight *f, int status,
                         vmux_bytes *value)
{
    uv_mutex_lock(&c->lock);
    f->status = status;
    f->done = true;
    f->leading = false;
    f->done_ns = uv_hrtime();
    if (f->in_map && status == 0)
        queue_push(c, f);
    else if (f->in_map)
        flight_unlink(c, f);
    uv_cond_broadcast(&f->cond);
    /* an invalidate may have sent its DEL before our SET landed: delete again */
    bool redelete = f->invalidated && f->stored;
    int rc = flight_result(f, value);
    queue_sweep(c, f->done_ns, false);
    flight_release(f);
    uv_mutex_unlock(&c->lock);
    if (redelete)
        (void)delete_key(c, k);
    return rc;
}

/* Loads, stores (when store_ok) and publishes flight f, which this caller leads. */
static int flight_lead(vmux_cache *c, const struct fullkey *k, struct flight *f,
                       vmux_cache_loader load, void *arg, bool store_ok, vmux_bytes *value)
{
    int64_t ttl_ms;
    int status = flight_load(c, k, f, load, arg, &ttl_ms);
    if (status == 0 && store_ok && ttl_ms > 0 && !flight_invalidated(c, f)) {
        int rc = store(c, k, f, ttl_ms);
        f->stored = rc == 0;
        if (c->strict)
            status = rc;
    }
    return flight_finish(c, k, f, status, value);
}

/* ---- get-or-load ---- */

/*
 * The flight of this key that a caller whose GET was sent at get_ns should share: one still
 * loading, or one that finished after that GET was sent (the GET may have missed its SET).
 * A flight that finished earlier is of no use (the key expired or was deleted since) and leaves
 * the map. Also sweeps aged flights. Called locked.
 */
static struct flight *flight_find_current(vmux_cache *c, const struct fullkey *k, uint64_t hash,
                                          uint64_t get_ns)
{
    queue_sweep(c, uv_hrtime(), false);
    struct flight *f = flight_find(c, k, hash);
    if (f == NULL || !f->done || f->done_ns > get_ns)
        return f;
    flight_unlink(c, f);
    flight_release(f);
    return NULL;
}

/* A miss: share a flight of this key, or lead a new one. get_ns is when the GET was sent. */
static int on_miss(vmux_cache *c, const struct fullkey *k, uint64_t get_ns, bool store_ok,
                   vmux_cache_loader load, void *arg, int64_t wait_ms, vmux_bytes *value)
{
    uint64_t hash = key_hash(k);
    uint64_t deadline = uv_hrtime() + (uint64_t)(wait_ms ? wait_ms : c->wait_ms) * 1000000u;
    uv_mutex_lock(&c->lock);
    struct flight *f = flight_find_current(c, k, hash, get_ns);
    if (f != NULL)
        return flight_wait(c, f, deadline, value);
    f = flight_new(c, k, hash);
    uv_mutex_unlock(&c->lock);
    if (f == NULL)
        return VMUX_ERR_NOMEM;
    return flight_lead(c, k, f, load, arg, store_ok, value);
}

/* XFetch: refresh when now - delta * beta * ln(rand) >= expiry, rand uniform in (0, 1]. */
static bool refresh_due(const vmux_cache *c, const struct entry *e)
{
    if (c->beta <= 0)
        return false;
    double gap_ms = (double)e->expiry_ms - (double)wall_ms();
    double scale_ms = (double)e->delta_us / 1000.0 * c->beta;
    if (gap_ms <= 0)
        return true;
    /* -ln(rand) never exceeds 53 ln 2 < 37 here: far from expiry, skip the draw and the log */
    if (gap_ms > scale_ms * 37)
        return false;
    return -ln_unit(1.0 - random_below_one()) * scale_ms >= gap_ms;
}

/* A hit due for refresh: reload unless this process is loading the key already. */
static int on_refresh(vmux_cache *c, const struct fullkey *k, uint64_t get_ns,
                      vmux_cache_loader load, void *arg, struct entry *e, vmux_bytes *value)
{
    uint64_t hash = key_hash(k);
    uv_mutex_lock(&c->lock);
    bool busy = flight_find_current(c, k, hash, get_ns) != NULL;
    struct flight *f = busy ? NULL : flight_new(c, k, hash);
    uv_mutex_unlock(&c->lock);
    if (f != NULL) {
        count(&c->refreshes);
        vmux_bytes fresh = {0};
        if (flight_lead(c, k, f, load, arg, true, &fresh) == 0) {
            vmux_bytes_free(&e->value);
            e->value = fresh;
        }
    }
    *value = e->value;
    return 0;
}

static bool valid_key(vmux_str key)
{
    return key.ptr != NULL || key.len == 0;
}

int vmux_cache_get(vmux_cache *c, vmux_str key, vmux_cache_loader load, void *arg, int64_t wait_ms,
                   vmux_bytes *value)
{
    struct fullkey k;
    struct entry e;
    if (value == NULL) { /* the caller drops the value; the load and the store still happen */
        vmux_bytes dropped;
        int rc = vmux_cache_get(c, key, load, arg, wait_ms, &dropped);
        vmux_bytes_free(&dropped);
        return rc;
    }
    memset(value, 0, sizeof(*value));
    if (c == NULL || load == NULL || wait_ms < 0 || !valid_key(key))
        return VMUX_ERR_INVALID_ARG;
    if (fullkey_make(c, key, &k) != 0)
        return VMUX_ERR_NOMEM;
    uint64_t get_ns = uv_hrtime();
    int rc = read_entry(c, &k, &e);
    if (rc == 0 && e.present) {
        count(&c->hits);
        if (refresh_due(c, &e))
            rc = on_refresh(c, &k, get_ns, load, arg, &e, value);
        else
            *value = e.value;
    } else if (rc == 0 || (!c->strict && rc != VMUX_ERR_NOMEM && rc != VMUX_ERR_INVALID_ARG)) {
        count(&c->misses);
        rc = on_miss(c, &k, get_ns, rc == 0, load, arg, wait_ms, value);
    }
    fullkey_free(&k);
    return rc;
}

int vmux_cache_invalidate(vmux_cache *c, vmux_str key)
{
    struct fullkey k;
    if (c == NULL || !valid_key(key))
        return VMUX_ERR_INVALID_ARG;
    if (fullkey_make(c, key, &k) != 0)
        return VMUX_ERR_NOMEM;
    uv_mutex_lock(&c->lock);
    struct flight *f = flight_find(c, &k, key_hash(&k));
    if (f != NULL) {
        /* its leader will not store (or will delete again), and nobody new may share it */
        f->invalidated = true;
        flight_unlink(c, f);
        flight_release(f);
    }
    uv_mutex_unlock(&c->lock);
    int rc = delete_key(c, &k);
    fullkey_free(&k);
    return rc;
}

/* ---- life cycle ---- */

/* Applies defaults; false for options that make no sense. */
static bool apply_options(vmux_cache *c, const vmux_cache_opts *o)
{
    if (o->ttl_ms < 0 || o->timeout_ms < 0 || o->wait_ms < 0 || o->ttl_jitter != o->ttl_jitter ||
        o->refresh_beta != o->refresh_beta)
        return false;
    c->ttl_ms = o->ttl_ms ? o->ttl_ms : DEFAULT_TTL_MS;
    c->neg_ttl_ms = o->negative_ttl_ms;
    if (c->neg_ttl_ms == 0)
        c->neg_ttl_ms = c->ttl_ms / 10 ? c->ttl_ms / 10 : 1;
    c->jitter = o->ttl_jitter == 0 ? DEFAULT_JITTER : o->ttl_jitter < 0 ? 0 : o->ttl_jitter;
    if (c->jitter > 1)
        c->jitter = 1;
    c->beta = o->refresh_beta == 0 ? DEFAULT_BETA : o->refresh_beta < 0 ? 0 : o->refresh_beta;
    c->timeout_ms = o->timeout_ms;
    c->wait_ms = o->wait_ms ? o->wait_ms : DEFAULT_WAIT_MS;
    c->strict = o->strict;
    return true;
}

static int copy_prefix(vmux_cache *c, vmux_str prefix)
{
    if (!valid_key(prefix))
        return VMUX_ERR_INVALID_ARG;
    if (prefix.len == 0)
        return 0;
    if ((c->prefix = malloc(prefix.len)) == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(c->prefix, prefix.ptr, prefix.len);
    c->prefix_len = prefix.len;
    return 0;
}

int vmux_cache_new(vmux *m, const vmux_cache_opts *opts, vmux_cache **out)
{
    vmux_cache_opts o = {.size = sizeof o};
    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL || (opts != NULL && vmux__sized_in(&o, sizeof o, opts) != 0))
        return VMUX_ERR_INVALID_ARG;
    vmux_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return VMUX_ERR_NOMEM;
    c->m = m;
    int rc = apply_options(c, &o) ? 0 : VMUX_ERR_INVALID_ARG;
    if (rc == 0)
        rc = copy_prefix(c, o.prefix);
    if (rc == 0 && uv_mutex_init(&c->lock) != 0)
        rc = VMUX_ERR_NOMEM;
    if (rc != 0) {
        free(c->prefix);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void vmux_cache_free(vmux_cache *c)
{
    if (c == NULL)
        return;
    /* no call is running, so every flight has finished and sits in the queue, or failed and
     * left the map */
    queue_sweep(c, 0, true);
    uv_mutex_destroy(&c->lock);
    free(c->prefix);
    free(c);
}

int vmux_cache_read_stats(const vmux_cache *c, vmux_cache_stats *out)
{
    if (c == NULL || out == NULL)
        return VMUX_ERR_INVALID_ARG;
    vmux_cache *mc = (vmux_cache *)c; /* atomic_load wants a non-const object in C11 */
    vmux_cache_stats all =
        VMUX_INIT(vmux_cache_stats, .hits = atomic_load_explicit(&mc->hits, memory_order_relaxed),
                  .misses = atomic_load_explicit(&mc->misses, memory_order_relaxed),
                  .loads = atomic_load_explicit(&mc->loads, memory_order_relaxed),
                  .refreshes = atomic_load_explicit(&mc->refreshes, memory_order_relaxed),
                  .shared = atomic_load_explicit(&mc->shared, memory_order_relaxed),
                  .load_errors = atomic_load_explicit(&mc->load_errors, memory_order_relaxed),
                  .errors = atomic_load_explicit(&mc->errors, memory_order_relaxed));
    return vmux__sized_out(out, &all, sizeof all);
}
