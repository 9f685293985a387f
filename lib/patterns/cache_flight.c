/*
 * Single flight (cache.h): on a miss, one load per key in the process. A small hash map of
 * flights (loads of one key), guarded by the cache's mutex, each with a condition variable its
 * waiters sleep on. A finished flight stays in the map for LINGER_NS: a caller whose GET was
 * sent before that load finished takes the load's outcome rather than loading again. After a
 * success its GET may have missed only because the SET had not landed yet; after a failure it
 * was as concurrent with the load as the callers that waited for it, and shares its error as they
 * do (a loader that fails at once is not run again by every caller of the burst). A caller whose
 * GET was sent later loads afresh. Finished flights queue oldest first and are swept as they age.
 */
#include <stdlib.h>
#include <string.h>

#include "core/nocancel.h"
#include "core/until.h"
#include "core/why.h"
#include "patterns/cache_internal.h"
#include "vmux/error.h"

/* ---- the flight map (caller holds c->lock unless said otherwise) ---- */

static struct flight **bucket_of(vmux_cache *c, uint64_t hash)
{
    return &c->buckets[hash % NBUCKETS];
}

static struct flight *flight_find(vmux_cache *c, const struct fullkey *k, uint64_t hash)
{
    for (struct flight *f = *bucket_of(c, hash); f != NULL; f = f->next)
        if (f->hash == hash && f->keylen == k->sent.len &&
            memcmp(f->key, k->sent.ptr, k->sent.len) == 0)
            return f;
    return NULL;
}

static struct flight *flight_new(vmux_cache *c, const struct fullkey *k, uint64_t hash)
{
    struct flight *f = calloc(1, sizeof(*f) + k->sent.len);
    if (f == NULL)
        return NULL;
    if (uv_cond_init(&f->cond) != 0) {
        free(f);
        return NULL;
    }
    memcpy(f->key, k->sent.ptr, k->sent.len);
    f->keylen = k->sent.len;
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
    int cancel = vmux__nocancel();
    while (!f->done) {
        uint64_t now = uv_hrtime();
        if (now >= deadline_ns)
            break;
        (void)uv_cond_timedwait(&f->cond, &c->lock, deadline_ns - now);
    }
    vmux__cancel_restore(cancel);
    int rc = f->done ? flight_result(f, value) : VMUX_ERR_TIMEOUT;
    if (rc == VMUX_ERR_TIMEOUT && !f->done)
        vmux__why_set(rc, "waited for another caller's load of this key until wait_ms passed");
    else if (rc != 0 && rc == f->status)
        vmux__why_set(rc, "another caller's load of this key, shared, failed: %d (%s)", rc,
                      strcmp(vmux_err_name(rc), "VMUX_ERR_UNKNOWN") != 0 ? vmux_err_name(rc)
                                                                         : "the loader's code");
    f->waiters--;
    flight_release(f);
    uv_mutex_unlock(&c->lock);
    if (rc != VMUX_ERR_TIMEOUT)
        cache_count(&c->shared);
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

/* Turns the loader's outcome into f's blob (header and value); returns f's status. */
static int flight_fill(struct flight *f, int lrc, const vmux_bytes *got, uint64_t delta_ns,
                       int64_t ttl_ms)
{
    if (lrc < 0)
        return vmux__why_set(lrc, "the loader returned %d", lrc);
    if (lrc != 0 && lrc != VMUX_CACHE_NOT_FOUND)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "the loader returned %d: not 0, VMUX_CACHE_NOT_FOUND or negative",
                             lrc);
    if (lrc == 0 && !got->ptr && got->len)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "the loader returned 0 with value->ptr NULL and value->len %zu",
                             got->len);
    f->found = lrc == 0;
    f->len = f->found ? got->len : 0;
    if ((f->blob = malloc(HDR_LEN + f->len + 1)) == NULL)
        return vmux__why_set(VMUX_ERR_NOMEM, "%s", vmux_strerror(VMUX_ERR_NOMEM));
    vmux__cache_put_header(f->blob, f->found, delta_ns / 1000u,
                           vmux__cache_wall_ms() + (uint64_t)ttl_ms);
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
    cache_count(&c->loads);
    if (lrc < 0)
        cache_count(&c->load_errors);
    *ttl_ms = lrc == VMUX_CACHE_NOT_FOUND ? c->neg_ttl_ms : c->ttl_ms;
    if (*ttl_ms > 0)
        *ttl_ms = vmux__cache_jittered(c, *ttl_ms);
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
    if (f->in_map)
        queue_push(c, f); /* failed or not: shared with callers whose GET was sent before now */
    uv_cond_broadcast(&f->cond);
    /* an invalidate may have sent its DEL before our SET landed: delete again */
    bool redelete = f->invalidated && f->stored;
    int rc = flight_result(f, value);
    queue_sweep(c, f->done_ns, false);
    flight_release(f);
    uv_mutex_unlock(&c->lock);
    if (redelete)
        (void)vmux__cache_delete(c, k);
    return rc;
}

/* Loads, stores (when store_ok) and publishes flight f, which this caller leads. */
static int flight_lead(vmux_cache *c, const struct fullkey *k, struct flight *f,
                       vmux_cache_loader load, void *arg, bool store_ok, vmux_bytes *value)
{
    int64_t ttl_ms;
    int status = flight_load(c, k, f, load, arg, &ttl_ms);
    if (status == 0 && store_ok && ttl_ms > 0 && !flight_invalidated(c, f)) {
        int rc = vmux__cache_store(c, k, f, ttl_ms);
        f->stored = rc == 0;
        if (c->strict)
            status = rc;
    }
    return flight_finish(c, k, f, status, value);
}

/* ---- misses and refreshes ---- */

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
int vmux__cache_on_miss(vmux_cache *c, const struct fullkey *k, uint64_t get_ns, bool store_ok,
                        vmux_cache_loader load, void *arg, int64_t wait_ms, vmux_bytes *value)
{
    uint64_t hash = vmux__cache_key_hash(k);
    uint64_t deadline = vmux__until_ms(wait_ms ? wait_ms : c->wait_ms);
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

/* A hit due for refresh: reload unless this process is loading the key already. */
int vmux__cache_on_refresh(vmux_cache *c, const struct fullkey *k, uint64_t get_ns,
                           vmux_cache_loader load, void *arg, struct entry *e, vmux_bytes *value)
{
    uint64_t hash = vmux__cache_key_hash(k);
    uv_mutex_lock(&c->lock);
    bool busy = flight_find_current(c, k, hash, get_ns) != NULL;
    struct flight *f = busy ? NULL : flight_new(c, k, hash);
    uv_mutex_unlock(&c->lock);
    if (f != NULL) {
        cache_count(&c->refreshes);
        vmux_bytes fresh = {0};
        if (flight_lead(c, k, f, load, arg, true, &fresh) == 0) {
            vmux_bytes_free(&e->value);
            e->value = fresh;
        }
    }
    *value = e->value;
    return 0;
}

int vmux__cache_load_alone(vmux_cache *c, vmux_str key, vmux_cache_loader load, void *arg,
                           vmux_bytes *value)
{
    struct fullkey k = {.user = key};    /* the loader reads only the caller's key */
    struct flight f = {.leading = true}; /* never in the map: nobody else sees it */
    int64_t ttl_ms;
    int rc = flight_load(c, &k, &f, load, arg, &ttl_ms);
    if (rc == 0)
        rc = flight_result(&f, value);
    free(f.blob);
    return rc;
}

void vmux__cache_flight_forget(vmux_cache *c, const struct fullkey *k)
{
    uv_mutex_lock(&c->lock);
    struct flight *f = flight_find(c, k, vmux__cache_key_hash(k));
    if (f != NULL) {
        /* its leader will not store (or will delete again), and nobody new may share it */
        f->invalidated = true;
        flight_unlink(c, f);
        flight_release(f);
    }
    uv_mutex_unlock(&c->lock);
}

void vmux__cache_flights_free(vmux_cache *c)
{
    queue_sweep(c, 0, true);
}
