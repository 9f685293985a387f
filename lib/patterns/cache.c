/*
 * Cache-aside (cache.h): GET, on a miss one load per key in the process (single flight,
 * cache_flight.c), SET with a jittered TTL; negative entries; XFetch early refresh
 * (cache_expiry.c); the stored format in cache_store.c. Uses only the public API.
 */
#include "vmux/cache.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/nocancel.h"
#include "core/sized.h"
#include "core/why.h"
#include "patterns/cache_internal.h"
#include "vmux/error.h"
#include "vmux/near.h"

#define DEFAULT_TTL_MS 60000
#define DEFAULT_JITTER 0.1
#define DEFAULT_BETA 1.0
#define DEFAULT_WAIT_MS 30000

/* ---- get-or-load ---- */

static bool valid_key(vmux_str key)
{
    return key.ptr != NULL || key.len == 0;
}

/* A call on a cache in a forked child: counted as an error, VMUX_ERR_FORKED with its why. */
static int forked_refusal(vmux_cache *c)
{
    cache_count(&c->errors);
    return vmux__why_set(VMUX_ERR_FORKED, "the cache's handle was opened in a parent process");
}

/*
 * vmux_cache_get() in a forked child, whose handle refuses every command: the GET fails as any
 * failed GET does (counted), so a strict cache returns VMUX_ERR_FORKED and one that is not runs
 * the loader and returns its value, storing nothing. Neither takes the cache's lock nor joins a
 * flight (vmux__cache_load_alone()), and a strict one allocates nothing.
 */
static int forked_get(vmux_cache *c, vmux_str key, vmux_cache_loader load, void *arg,
                      vmux_bytes *value)
{
    int rc = forked_refusal(c);
    if (c->strict)
        return rc;
    cache_count(&c->misses);
    return vmux__cache_load_alone(c, key, load, arg, value);
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
    vmux__why_begin();
    int bad = c == NULL ? 1 : load == NULL ? 2 : wait_ms < 0 ? 3 : !valid_key(key) ? 4 : 0;
    if (bad != 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s",
                             bad == 1   ? "c is NULL"
                             : bad == 2 ? "load is NULL"
                             : bad == 3 ? "wait_ms is negative"
                                        : "key.ptr is NULL with key.len > 0");
    if (vmux__handle_forked(c->m))
        return vmux__why_end(forked_get(c, key, load, arg, value));
    if (vmux__cache_key_make(c, key, &k) != 0)
        return vmux__why_end(VMUX_ERR_NOMEM);
    uint64_t get_ns = uv_hrtime();
    int cancel = vmux__nocancel(); /* a cancelled leader would leave its flight to no one */
    int rc = vmux__cache_read(c, &k, &e);
    if (rc == 0 && e.present) {
        cache_count(&c->hits);
        if (vmux__cache_refresh_due(c, &e))
            rc = vmux__cache_on_refresh(c, &k, get_ns, load, arg, &e, value);
        else
            *value = e.value;
    } else if (rc == 0 || (!c->strict && rc != VMUX_ERR_NOMEM && rc != VMUX_ERR_INVALID_ARG)) {
        /* After a failed GET no SET is tried (it would most likely fail too), but for a
         * WRONGTYPE: the server is fine, and the SET replaces the key of another type. */
        cache_count(&c->misses);
        rc = vmux__cache_on_miss(c, &k, get_ns, rc == 0 || e.wrongtype, load, arg, wait_ms, value);
    }
    vmux__cancel_restore(cancel);
    vmux__cache_key_free(&k);
    return vmux__why_end(rc);
}

int vmux_cache_invalidate(vmux_cache *c, vmux_str key)
{
    struct fullkey k;
    vmux__why_begin();
    if (c == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "c is NULL");
    if (!valid_key(key))
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "key.ptr is NULL with key.len > 0");
    if (vmux__handle_forked(c->m)) /* before the cache's lock (vmux__cache_flight_forget()) */
        return forked_refusal(c);
    if (vmux__cache_key_make(c, key, &k) != 0)
        return vmux__why_end(VMUX_ERR_NOMEM);
    vmux__cache_flight_forget(c, &k);
    int rc = vmux__cache_delete(c, &k);
    vmux__cache_key_free(&k);
    return vmux__why_end(rc);
}

/* ---- life cycle ---- */

/* A TTL the server cannot take (VMUX_TTL_MAX_MS): VMUX_ERR_INVALID_ARG naming the field. */
static int ttl_too_long(const char *field, int64_t ttl_ms)
{
    return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s %" PRId64 " above 2^53 (VMUX_TTL_MAX_MS)", field,
                         ttl_ms);
}

/* A duration that must not be negative, or VMUX_ERR_INVALID_ARG naming it. */
static int check_negative(const char *field, int64_t ms)
{
    return ms >= 0 ? 0
                   : vmux__why_set(VMUX_ERR_INVALID_ARG,
                                   "opts->%s %" PRId64 " is negative (0: the default)", field, ms);
}

/* A fraction that must be a number, or VMUX_ERR_INVALID_ARG naming it. */
static int check_nan(const char *field, double v)
{
    return v == v ? 0
                  : vmux__why_set(VMUX_ERR_INVALID_ARG,
                                  "opts->%s is NaN (0: the default, negative: off)", field);
}

/* The options apply_options() refuses before any default: 0, or why (vmux_last_error()). */
static int check_options(const vmux_cache_opts *o)
{
    int rc = check_negative("ttl_ms", o->ttl_ms);
    if (rc == 0)
        rc = check_negative("timeout_ms", o->timeout_ms);
    if (rc == 0)
        rc = check_negative("wait_ms", o->wait_ms);
    if (rc == 0)
        rc = check_nan("ttl_jitter", o->ttl_jitter);
    return rc == 0 ? check_nan("refresh_beta", o->refresh_beta) : rc;
}

/* Applies defaults; VMUX_ERR_INVALID_ARG, in words, for options that make no sense. */
static int apply_options(vmux_cache *c, const vmux_cache_opts *o)
{
    int rc = check_options(o);
    if (rc != 0)
        return rc;
    if (o->ttl_ms > VMUX_TTL_MAX_MS)
        return ttl_too_long("ttl_ms", o->ttl_ms);
    if (o->negative_ttl_ms > VMUX_TTL_MAX_MS)
        return ttl_too_long("negative_ttl_ms", o->negative_ttl_ms);
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
    c->near = o->near;
    return 0;
}

static int copy_prefix(vmux_cache *c, vmux_str prefix)
{
    if (!valid_key(prefix))
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "opts->prefix.ptr is NULL with len %zu",
                             prefix.len);
    if (prefix.len == 0)
        return 0;
    if ((c->prefix = malloc(prefix.len)) == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(c->prefix, prefix.ptr, prefix.len);
    c->prefix_len = prefix.len;
    return 0;
}

/* vmux_cache_new() but for its words. */
static int cache_make(vmux *m, const vmux_cache_opts *opts, vmux_cache **out)
{
    vmux_cache_opts o = {.size = sizeof o};
    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", m == NULL ? "the handle" : "out");
    if (opts != NULL && vmux__sized_in(&o, sizeof o, opts) != 0)
        return vmux__why_sized("opts", opts->size, sizeof o);
    if (vmux__handle_forked(m))
        return VMUX_ERR_FORKED;
    vmux_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return VMUX_ERR_NOMEM;
    c->m = m;
    c->max_stored = vmux__max_bulk_length(m);
    vmux_near_stats near = VMUX_INIT(vmux_near_stats);
    int rc = apply_options(c, &o);
    if (rc == 0 && c->near && vmux_near_read_stats(m, &near) != 0)
        rc = vmux__why_set(VMUX_ERR_INVALID_ARG,
                           "opts->near is set, but the handle has no near cache (nearCache=true)");
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

int vmux_cache_new(vmux *m, const vmux_cache_opts *opts, vmux_cache **out)
{
    vmux__why_begin();
    return vmux__why_end(cache_make(m, opts, out));
}

void vmux_cache_free(vmux_cache *c)
{
    if (c == NULL)
        return;
    /* A parent's cache in a forked child: its lock may be held for good (destroying it then
     * aborts) and its flights may be half linked by a thread that does not exist here. Like
     * vmux_close() there, it frees nothing. */
    if (vmux__handle_forked(c->m))
        return;
    /* no call is running, so every flight still in the map has finished and sits in the
     * queue; an invalidated one left the map and was freed by its last waiter */
    vmux__cache_flights_free(c);
    uv_mutex_destroy(&c->lock);
    free(c->prefix);
    free(c);
}

static int read_stats(const vmux_cache *c, vmux_cache_stats *out)
{
    if (c == NULL || out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", c == NULL ? "c" : "out");
    if (out->size < sizeof(size_t)) /* named, as vmux_read_stats() does (review helper-271) */
        return vmux__why_sized("out", out->size, sizeof *out);
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

int vmux_cache_read_stats(const vmux_cache *c, vmux_cache_stats *out)
{
    vmux__why_begin();
    return vmux__why_end(read_stats(c, out));
}
