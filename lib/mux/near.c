/*
 * The handle's near cache on the I/O thread (near.h): the invalidation connection, the data
 * link's tracking, and the flushes when invalidations may have been lost.
 */
#include "mux/near.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errbuf.h"
#include "core/log.h"
#include "core/reply_internal.h"
#include "core/near_prefix.h"
#include "mux/mux.h"
#include "mux/near_internal.h"
#include "vmux/error.h"

#define NODE 0 /* standalone: the one server */
#define SWEEP_MS 1000
#define SWEEP_BUDGET 8192 /* entries a quiet tick looks at (about 0.2 ms) */

int vmux__nearc_new(const struct vmux_config *cfg, struct vmux_nearc **out, char *errbuf,
                    size_t errlen)
{
    *out = NULL;
    if (!cfg->near_cache)
        return 0;
    if (vmux__config_near_problem(cfg) != NULL) {
        vmux__errbuf_set(errbuf, errlen, "%s", vmux__config_near_problem(cfg));
        return VMUX_ERR_CONFIG;
    }
    struct vmux_nearc *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return VMUX_ERR_NOMEM;
    struct vmux_near_limits l = {
        .max_entries = cfg->near_cache_max_entries,
        .max_bytes = cfg->near_cache_max_bytes,
        .local_ttl_ns = (uint64_t)cfg->near_cache_ttl_ms * 1000000u,
    };
    int rc = vmux__near_new(&l, &n->store);
    if (rc != 0) {
        free(n);
        if (rc == VMUX_ERR_INVALID_ARG)
            vmux__errbuf_set(errbuf, errlen,
                             "nearCacheMaxBytes (%llu) is too small for the near cache's shards",
                             (unsigned long long)l.max_bytes);
        return rc == VMUX_ERR_INVALID_ARG ? VMUX_ERR_CONFIG : rc;
    }
    atomic_init(&n->storable, false);
    atomic_init(&n->tracking_id, 0);
    atomic_init(&n->invalidations, 0);
    atomic_init(&n->untracked, 0);
    atomic_init(&n->cluster, NULL);
    *out = n;
    return 0;
}

void vmux__nearc_free(struct vmux_nearc *n)
{
    if (n == NULL)
        return;
    vmux__nearc_cluster_free(atomic_load(&n->cluster));
    vmux__near_free(n->store);
    free(n);
}

/* ---- storable, and the flushes ---- */

void vmux__near_unstorable(struct vmux_nearc *n, atomic_bool *flag, unsigned node,
                           enum vmux_near_cause cause, bool always)
{
    /* flag clear: every reservation since the last flush is cancelled, by its reader, or with
     * replica reads on a cluster as it is written (vmux__nearc_cluster_writing()) */
    if (!atomic_exchange(flag, false) && !always)
        return;
    vmux__near_flush_node(n->store, node, cause);
    n->flushed = true;
}

static void unstorable(struct vmux_nearc *n, enum vmux_near_cause cause)
{
    vmux__near_unstorable(n, &n->storable, NODE, cause, false);
}

static void update_storable(struct vmux_nearc *n)
{
    bool ok = n->inval_id != 0 && n->data_id == n->inval_id && !n->closed;
    if (ok) {
        atomic_store(&n->tracking_id, n->data_id);
        atomic_store(&n->storable, true);
    }
}

/* The data link's connection is where the invalidation connection is: point it there now. */
static void repoint(struct vmux_nearc *n)
{
    struct vmux_link *data = n->m->link;
    const char *where = vmux__link_where(data);
    if (n->inval_id == 0 || n->data_id == n->inval_id || where == NULL ||
        strcasecmp(where, n->inval_where) != 0)
        return;
    (void)vmux__link_track(data, n->inval_id); /* not ready: its setup asks redirect_id */
}

/*
 * The invalidation connection that *inval_id names is no longer trusted: a new one is made, and
 * the data connection tracks to it once it has subscribed (repoint()). Until then the id is 0,
 * so nothing is stored. why (static) is logged.
 */
void vmux__near_inval_renew(struct vmux_link *inval, long long *inval_id, long long *pending_id,
                            const char *why)
{
    if (inval == NULL || *inval_id == 0)
        return; /* none yet: the one under way is new */
    *inval_id = *pending_id = 0;
    vmux__link_reconnect(inval, why);
}

/* ---- the data link's tracking ---- */

static long long on_redirect_id(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux_nearc *n = arg;
    if (atomic_load(&n->cluster) != NULL)
        return vmux__nearc_cluster_redirect_id(n, link);
    return n->inval_id != 0 && strcasecmp(where, n->inval_where) == 0 ? n->inval_id : 0;
}

static void on_tracked(struct vmux_link *link, long long id, bool ok, void *arg)
{
    struct vmux_nearc *n = arg;
    if (atomic_load(&n->cluster) != NULL) {
        vmux__nearc_cluster_tracked(n, link, id, ok);
        return;
    }
    n->data_id = ok ? id : 0;
    if (n->data_id != n->inval_id)
        unstorable(n, VMUX_NEAR_RECONNECT);
    update_storable(n);
}

/* Its reads were tracked by a client that no longer exists: their invalidations are lost. */
static void on_data_lost(struct vmux_link *link, void *arg)
{
    struct vmux_nearc *n = arg;
    if (atomic_load(&n->cluster) != NULL) {
        vmux__nearc_cluster_lost(n, link);
        return;
    }
    n->data_id = 0;
    unstorable(n, VMUX_NEAR_RECONNECT);
    /* The server may have restarted, and ids start again from 1 there: the invalidation
     * connection's may now be another client's, while that connection, idle, may not know yet
     * that it is dead. Or the data link is leaving a demoted primary, where the invalidation
     * connection, alive, would stay for good. A new one is made (its ROLE check finds the
     * primary), and the data connection tracks to it once it has subscribed. */
    if (!n->closed)
        vmux__near_inval_renew(n->inval, &n->inval_id, &n->pending_id,
                               "near cache: its data connection was lost; subscribing anew");
}

static void on_data_ready(struct vmux_link *link, void *arg)
{
    struct vmux_nearc *n = arg;
    if (atomic_load(&n->cluster) != NULL)
        vmux__nearc_cluster_ready(n, link);
    else
        repoint(n); /* its setup came before the invalidation connection was subscribed */
}

/* ---- the invalidation connection ---- */

static const char SUBSCRIBE_RESP[] = "*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n"
                                     "*2\r\n$9\r\nSUBSCRIBE\r\n$20\r\n__redis__:invalidate\r\n";

int vmux__near_subscribe(struct vmux_link *link)
{
    return vmux__link_send_raw(link, SUBSCRIBE_RESP, sizeof SUBSCRIBE_RESP - 1);
}

static void on_inval_ready(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux_nearc *n = arg;
    vmux__errbuf_set(n->inval_where, sizeof n->inval_where, "%s", where);
    n->pending_id = 0;
    if (vmux__near_subscribe(link) != 0)
        vmux__log(n->m->cfg, VMUX_LOG_WARN, "%s: near cache: cannot subscribe to invalidations",
                  where);
}

/* RESP2 tells a data connection nothing when the connection its invalidations go to is gone. */
static void on_inval_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    struct vmux_nearc *n = arg;
    (void)link;
    if (n->inval_id != 0)
        vmux__log(n->m->cfg, VMUX_LOG_WARN,
                  "near cache: invalidation connection lost (%s): %s; emptying the cache",
                  vmux_err_name(code), reason);
    n->inval_id = n->pending_id = 0;
    unstorable(n, VMUX_NEAR_LINK_LOST);
}

static const struct vmux_link_events inval_events = {.ready = on_inval_ready,
                                                     .failed = on_inval_failed};

/* What an invalidation connection read: its CLIENT ID, SUBSCRIBE's confirmation, a message. */
enum near_push {
    PUSH_OTHER,
    PUSH_ID,         /* CLIENT ID's integer */
    PUSH_SUBSCRIBED, /* SUBSCRIBE's confirmation */
    PUSH_MESSAGE,    /* an invalidation message: *payload its keys (nil: a flush) */
    PUSH_ERROR,
};

static enum near_push push_kind(const vmux_reply *r, const vmux_reply **payload)
{
    const vmux_reply *e0 = vmux_reply_element(r, 0), *e2 = vmux_reply_element(r, 2);
    vmux_reply_kind kind = vmux_reply_get_kind(r);
    if (kind == VMUX_REPLY_INTEGER)
        return PUSH_ID;
    if (vmux__reply_is(e0, "message") && e2 != NULL) {
        *payload = e2;
        return PUSH_MESSAGE;
    }
    if (vmux__reply_is(e0, "subscribe"))
        return PUSH_SUBSCRIBED;
    return kind == VMUX_REPLY_ERROR ? PUSH_ERROR : PUSH_OTHER;
}

/* Whether an invalidation array names only keys (the shape Valkey sends). */
static bool keys_only(const vmux_reply *payload)
{
    size_t count = vmux_reply_len(payload);
    for (size_t i = 0; i < count; i++)
        if (vmux_reply_str(vmux_reply_element(payload, i), NULL) == NULL)
            return false;
    return true;
}

/* An invalidation message's payload (vmux__near_inval_push()). */
static void on_invalidate(struct vmux_nearc *n, unsigned node, const vmux_reply *payload)
{
    vmux_reply_kind kind = vmux_reply_get_kind(payload);
    if (kind != VMUX_REPLY_NIL && kind != VMUX_REPLY_ARRAY)
        return; /* a client's PUBLISH on the channel (a string): no word from the server */
    if (kind == VMUX_REPLY_NIL || !keys_only(payload)) { /* FLUSHALL / FLUSHDB, or unknown */
        if (kind != VMUX_REPLY_NIL)
            vmux__log(n->m->cfg, VMUX_LOG_WARN,
                      "near cache: an invalidation that names something other than keys: "
                      "emptying what was read from its node");
        vmux__near_flush_node(n->store, node, VMUX_NEAR_SERVER_FLUSH);
        n->flushed = true;
        return;
    }
    size_t count = vmux_reply_len(payload);
    for (size_t i = 0; i < count; i++) {
        size_t len;
        const char *key = vmux_reply_str(vmux_reply_element(payload, i), &len);
        vmux__near_invalidate(n->store, key, len);
    }
    atomic_fetch_add_explicit(&n->invalidations, count, memory_order_relaxed);
}

bool vmux__near_inval_push(struct vmux_nearc *n, unsigned node, long long *pending_id,
                           long long *inval_id, const char *where, vmux_reply *r)
{
    const vmux_reply *payload = NULL;
    bool subscribed = false;
    switch (push_kind(r, &payload)) {
    case PUSH_ID:
        *pending_id = (long long)vmux_reply_integer(r);
        break;
    case PUSH_MESSAGE:
        on_invalidate(n, node, payload);
        break;
    case PUSH_SUBSCRIBED:
        if (*pending_id <= 0)
            break;
        *inval_id = *pending_id;
        vmux__log(n->m->cfg, VMUX_LOG_INFO, "%s: near cache: invalidations go to client %lld",
                  where, *inval_id);
        subscribed = true;
        break;
    case PUSH_ERROR:
        vmux__log(n->m->cfg, VMUX_LOG_WARN, "%s: near cache: invalidation connection: %s", where,
                  vmux_reply_str(r, NULL));
        break;
    case PUSH_OTHER:
        break;
    }
    vmux_reply_free(r);
    return subscribed;
}

static void on_inval_push(vmux_reply *r, void *arg)
{
    struct vmux_nearc *n = arg;
    if (vmux__near_inval_push(n, NODE, &n->pending_id, &n->inval_id, n->inval_where, r))
        repoint(n);
}

/* ---- life ---- */

/*
 * Once a second: after a flush, the entries it left stale give their memory back (every shard);
 * otherwise the sweep goes on over the next SWEEP_BUDGET entries, so that an expired entry
 * nobody looks up again leaves the counts within a pass of the store (a second for every
 * SWEEP_BUDGET entries held) while a tick holds one shard's lock for that many entries at most.
 */
static void on_sweep(uv_timer_t *t)
{
    struct vmux_nearc *n = t->data;
    if (!n->flushed) {
        vmux__near_sweep_some(n->store, &n->sweep_next, SWEEP_BUDGET, uv_hrtime());
        return;
    }
    n->flushed = false;
    vmux__near_sweep(n->store, uv_hrtime());
}

/* A tracked read is written: on a cluster, checked against the node it is written to. */
static void on_writing(struct vmux_link *link, struct vmux_op *op, void *arg)
{
    struct vmux_nearc *n = arg;
    if (atomic_load(&n->cluster) != NULL)
        vmux__nearc_cluster_writing(n, link, op);
}

void vmux__near_track_link(struct vmux_nearc *n, struct vmux_link *link)
{
    struct vmux_link_tracking t = {on_redirect_id, on_tracked, on_data_lost,
                                   on_data_ready,  n,          on_writing};
    vmux__link_set_tracking(link, &t);
}

void vmux__near_standalone_stop(struct vmux_nearc *n)
{
    atomic_store(&n->storable, false);
    if (n->inval != NULL)
        vmux__link_close(n->inval);
    n->inval = NULL;
    n->inval_id = n->pending_id = n->data_id = 0;
}

void vmux__nearc_start(vmux *m)
{
    struct vmux_nearc *n = m->near;
    if (n == NULL)
        return;
    n->m = m;
    n->started = true;
    uv_timer_init(&m->loop, &n->sweep);
    n->sweep.data = n;
    uv_timer_start(&n->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&n->sweep);
    vmux__near_track_link(n, m->link);
    if (vmux__link_new(&m->loop, m->cfg, m->tls_ctx, &m->ctr, &inval_events, n, &n->inval) != 0) {
        vmux__log(m->cfg, VMUX_LOG_ERROR, "near cache: out of memory: nothing will be stored");
        n->inval = NULL;
        return;
    }
    /* an invalidation lost to a limit would leave stale entries: the connection fails instead,
     * and its failure flushes the near cache */
    vmux__link_set_push(n->inval, on_inval_push, VMUX__PUSH_OVER_LIMIT_FAILS, n);
    vmux__link_set_auxiliary(n->inval);
    vmux__link_set_own(n->inval); /* the server's invalidations: one may list many keys */
    vmux__link_set_sentinel(n->inval, m->sentinel); /* where the data link goes */
    vmux__link_start(n->inval);
}

void vmux__nearc_close(vmux *m)
{
    struct vmux_nearc *n = m->near;
    if (n == NULL || !n->started || n->closed)
        return;
    n->closed = true;
    vmux__near_standalone_stop(n);
    vmux__nearc_cluster_close(n);
    uv_close((uv_handle_t *)&n->sweep, NULL);
}

/* ---- any thread ---- */

int vmux__near_store_for(vmux *m, struct vmux_near **out)
{
    *out = NULL;
    if (vmux__forked(m))
        return VMUX_ERR_FORKED;
    if (m->near == NULL)
        return VMUX_ERR_UNSUPPORTED;
    *out = m->near->store;
    return 0;
}

int vmux__near_opts_check(const vmux_callopts *opts)
{
    const uint32_t allowed =
        VMUX__CALL_FLAGS_KNOWN & ~(uint32_t)(VMUX_CALL_REPLICA | VMUX_CALL_PREFER_REPLICA);
    vmux_callopts o;
    int rc = vmux__callopts_read(opts, allowed, &o);
    if (rc != 0 && o.errbuf != NULL && o.errlen > 0) /* NULL: opts could not be read */
        vmux__callopts_why(&o, allowed, o.errbuf, o.errlen);
    return rc;
}

void vmux__nearc_tick(vmux *m, bool frozen)
{
    struct vmux_nearc *n = m->near;
    if (n == NULL || !n->started || n->closed)
        return;
    if (n->inval != NULL)
        vmux__link_tick(n->inval, frozen);
    vmux__nearc_cluster_tick(n, frozen);
}

bool vmux__near_place(vmux *m, const void *key, size_t len, unsigned *node, unsigned *slot)
{
    *node = *slot = 0;
    enum vmux_router_mode mode = vmux__router_mode(&m->router);
    if (mode == VMUX_ROUTER_CLUSTER)
        return vmux__nearc_cluster_place(m->near, key, len, node, slot);
    return mode == VMUX_ROUTER_STANDALONE;
}

bool vmux__near_storable(vmux *m, unsigned node, unsigned slot)
{
    enum vmux_router_mode mode = vmux__router_mode(&m->router);
    if (mode == VMUX_ROUTER_CLUSTER)
        return vmux__nearc_cluster_storable(m->near, node, slot);
    return mode == VMUX_ROUTER_STANDALONE && atomic_load(&m->near->storable);
}

long long vmux__near_tracking_id(vmux *m, unsigned node)
{
    enum vmux_router_mode mode = vmux__router_mode(&m->router);
    if (mode == VMUX_ROUTER_CLUSTER)
        return vmux__nearc_cluster_tracking_id(m->near, node);
    return atomic_load(&m->near->tracking_id);
}

bool vmux__near_bcast(vmux *m)
{
    return m->cfg->near_cache_mode == VMUX_NEAR_BCAST;
}

bool vmux__near_covers(vmux *m, const void *key, size_t len)
{
    return !vmux__near_bcast(m) || vmux__near_prefix_match(m->cfg->near_cache_prefixes, key, len);
}

bool vmux__near_replica_reads(vmux *m)
{
    return vmux__router_mode(&m->router) == VMUX_ROUTER_CLUSTER &&
           vmux_config_read_from(m->cfg) != VMUX_READ_PRIMARY;
}

void vmux__near_count_untracked(vmux *m)
{
    atomic_fetch_add_explicit(&m->near->untracked, 1, memory_order_relaxed);
}

void vmux__near_block_refused(vmux *m, const char *why)
{
    if (atomic_exchange(&m->near->block_refused_told, true))
        return;
    vmux__log(m->cfg, VMUX_LOG_WARN,
              "near cache: the server refused a tracked read (%s): reads it refuses go "
              "untracked, and nothing they read is cached",
              why != NULL ? why : "no reason given");
}

void vmux__near_counts(vmux *m, struct vmux_nearc_counts *out)
{
    out->invalidations = atomic_load_explicit(&m->near->invalidations, memory_order_relaxed);
    out->untracked = atomic_load_explicit(&m->near->untracked, memory_order_relaxed);
}
