/*
 * Detection (route/router.h): once the seed link's first connection is ready, a handle with
 * cluster=auto or cluster=yes asks the server INFO cluster; a cluster node (cluster_enabled:1)
 * then gives the slot map (CLUSTER SLOTS) and the handle routes by slot. cluster=yes refuses a
 * server that is not a cluster node, and one that refuses INFO (a restricted ACL user: it cannot
 * tell, and says so); cluster=auto takes either as standalone. A cluster=auto handle found
 * standalone asks again on each later connection of the seed link, and turns to cluster mode when
 * the answer says so. I/O thread only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/counters.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/expect.h"
#include "core/log.h"
#include "core/redact.h"
#include "route/redirect.h"
#include "route/router.h"
#include "vmux/error.h"

int vmux__router_internal(struct vmux_router *r, struct vmux_link *link, int argc,
                          const char *const *argv, vmux_reply_cb cb, void *arg)
{
    struct vmux_op *op;
    int rc = vmux__encode_op(argc, argv, NULL, &op);
    if (rc != 0)
        return rc;
    (void)r;
    op->flags |= VMUX_OP_OWN;                 /* read under the default limits, not the user's */
    op->expect = vmux__expect_of(argc, argv); /* INFO's text, CLUSTER SLOTS's array... */
    op->cb = cb;
    op->userdata = arg;
    vmux__link_submit(link, op);
    return 0;
}

static void settle(struct vmux_router *r, enum vmux_router_mode mode, int code, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static void settle_guessed(struct vmux_router *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Ends detection in mode, with its reason (vmux_open()'s errbuf, the log at level, the error
 * event). The reason may quote the server, whose NOPERM names the user: the configured
 * credentials are masked in it (docs/reliability.md), before it is cut to size. event_code not 0:
 * a VMUX_EVENT_ERROR with it and the reason goes first (the outcome is a guess the user should
 * hear of).
 */
static void vsettle(struct vmux_router *r, enum vmux_router_mode mode, int code,
                    vmux_log_level level, int event_code, const char *fmt, va_list ap)
{
    const char *secrets[] = {r->cfg->user, r->cfg->password};
    (void)vmux__redact_vformat(r->fail_reason, sizeof r->fail_reason, secrets, 2, fmt, ap);
    r->fail_code = code;
    vmux__log(r->cfg, level, "%s", r->fail_reason);
    if (event_code != 0) /* "host:port" of the seed's node: written on this thread */
        vmux__event(r->cfg, VMUX_EVENT_ERROR, event_code, r->seed_addr, r->fail_reason);
    atomic_store_explicit(&r->mode, mode, memory_order_release);
    r->settled(r, r->arg);
}

/* vsettle(): a failure at ERROR (its event comes with vmux_open()'s report), else at INFO. */
static void settle(struct vmux_router *r, enum vmux_router_mode mode, int code, const char *fmt,
                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsettle(r, mode, code, mode == VMUX_ROUTER_FAILED ? VMUX_LOG_ERROR : VMUX_LOG_INFO, 0, fmt, ap);
    va_end(ap);
}

/* vsettle(): STANDALONE taken on a guess (the server would not say), at WARN with an ERROR event
 * (VMUX_ERR_SERVER: the server refused the question). */
static void settle_guessed(struct vmux_router *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsettle(r, VMUX_ROUTER_STANDALONE, 0, VMUX_LOG_WARN, VMUX_ERR_SERVER, fmt, ap);
    va_end(ap);
}

/* A failure before the answer: the next ready connection asks again. */
static bool detect_lost(struct vmux_router *r, int status, vmux_reply *reply)
{
    if (status == 0 || status == VMUX_ERR_SERVER)
        return false;
    vmux_reply_free(reply);
    r->detect_sent = false;
    if (status != VMUX_ERR_CLOSED && vmux__link_ready(r->seed))
        (void)vmux__router_seed_ready(r, NULL);
    return true;
}

static void on_cluster_slots(int status, vmux_reply *reply, void *arg)
{
    struct vmux_router *r = arg;
    if (detect_lost(r, status, reply))
        return;
    char why[200] = "";
    struct vmux_slotmap *map = NULL;
    int rc = vmux__slotmap_from_slots(reply, r->seed_host, 1, &map, why, sizeof why);
    vmux_reply_free(reply);
    if (rc == 0)
        vmux__router_set_map(r, map);
    if (rc != 0) {
        settle(r, VMUX_ROUTER_FAILED, rc, "%s:%d: cluster: %s", r->seed_host, r->seed_port,
               why); /* why begins "CLUSTER SLOTS: " */
        return;
    }
    vmux__router_cluster_only(r);
    settle(r, VMUX_ROUTER_CLUSTER, 0, "%s:%d: cluster mode: %zu shards serve %u of 16384 slots",
           r->seed_host, r->seed_port, r->map->nshards, r->map->covered);
    vmux__router_read_modes(r);
}

/*
 * INFO cluster did not say cluster_enabled:1. refused is the server's error reply (cut to 100
 * bytes), or NULL when INFO answered. cluster=yes fails: a refused INFO says nothing either way,
 * so the reason tells it apart from a server that is no cluster node. cluster=auto takes the
 * server as standalone: on a guess when INFO was refused, which it logs at WARN and reports in a
 * VMUX_EVENT_ERROR (a cluster node taken so answers MOVED for the other nodes' slots).
 */
static void not_cluster(struct vmux_router *r, const char *refused)
{
    if (r->cfg->cluster == VMUX_CLUSTER_YES && refused != NULL) {
        settle(r, VMUX_ROUTER_FAILED, VMUX_ERR_CONFIG,
               "%s:%d: cluster=yes, but the server refused INFO cluster (%s), so the handle "
               "cannot tell whether it is a cluster node",
               r->seed_host, r->seed_port, refused);
    } else if (r->cfg->cluster == VMUX_CLUSTER_YES) {
        settle(r, VMUX_ROUTER_FAILED, VMUX_ERR_CONFIG,
               "%s:%d: cluster=yes, but the server is not a cluster node (INFO cluster says "
               "cluster_enabled:0)",
               r->seed_host, r->seed_port);
    } else if (refused != NULL) {
        vmux__router_standalone_map(r); /* readFrom: the other endpoints as replicas */
        settle_guessed(r,
                       "%s:%d: cluster=auto could not ask whether the server is a cluster node: "
                       "it refused INFO cluster (%s); taken as a standalone server (on a cluster, "
                       "commands for other nodes' slots fail with their MOVED: allow the user "
                       "INFO)",
                       r->seed_host, r->seed_port, refused);
    } else {
        vmux__router_standalone_map(r); /* readFrom: the other endpoints as replicas */
        settle(r, VMUX_ROUTER_STANDALONE, 0, "%s:%d: standalone server", r->seed_host,
               r->seed_port);
    }
}

/* Asks the seed for the first map (CLUSTER SLOTS; cb gets it), counted in cluster_refreshes. */
static int ask_map(struct vmux_router *r, vmux_reply_cb cb)
{
    static const char *const argv[] = {"CLUSTER", "SLOTS"};
    int rc = vmux__router_internal(r, r->seed, 2, argv, cb, r);
    if (rc == 0)
        vmux__count(&r->ctr->refreshes, 1);
    return rc;
}

static void on_info_cluster(int status, vmux_reply *reply, void *arg)
{
    struct vmux_router *r = arg;
    if (detect_lost(r, status, reply))
        return;
    size_t len = 0;
    const char *text = vmux_reply_str(reply, &len);
    bool error = vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR;
    bool cluster = !error && text != NULL && memmem(text, len, "cluster_enabled:1", 17) != NULL;
    char said[120];
    vmux__errbuf_set(said, sizeof said, "%.*s", error && text ? (int)(len < 100 ? len : 100) : 0,
                     error && text ? text : "");
    vmux_reply_free(reply);
    if (!cluster)
        not_cluster(r, error ? said : NULL);
    else if (vmux__router_ask_myid(r) != 0 || ask_map(r, on_cluster_slots) != 0)
        settle(r, VMUX_ROUTER_FAILED, VMUX_ERR_NOMEM, "cluster: out of memory");
}

/* Remembers which node the seed link reached ("host:port"). */
static int seed_where(struct vmux_router *r, const char *where)
{
    const char *host;
    size_t hostlen;
    int port;
    if (where == NULL || vmux__endpoint_split(where, strlen(where), &host, &hostlen, &port) != 0)
        return 0; /* keeps what it knew */
    char *copy = strndup(host, hostlen);
    if (copy == NULL)
        return VMUX_ERR_NOMEM;
    free(r->seed_host);
    r->seed_host = copy;
    r->seed_port = port;
    vmux__router_seed_renamed(r);
    uv_mutex_lock(&r->stats_mu);
    vmux__node_addr(r->seed_addr, sizeof r->seed_addr, copy, port);
    uv_mutex_unlock(&r->stats_mu);
    return 0;
}

/* A server found standalone now answers as a cluster node: the handle routes by its map. */
static void on_slots_again(int status, vmux_reply *reply, void *arg)
{
    struct vmux_router *r = arg;
    struct vmux_slotmap *map = NULL;
    int rc = status == 0 ? vmux__slotmap_from_slots(reply, r->seed_host, 1, &map, NULL, 0) : status;
    vmux_reply_free(reply);
    if (rc != 0 || vmux__router_mode(r) != VMUX_ROUTER_STANDALONE) {
        vmux__slotmap_unref(map);
        return; /* the next connection asks again */
    }
    vmux__router_set_map(r, map);
    vmux__log(r->cfg, VMUX_LOG_INFO,
              "%s:%d: the server is a cluster node now: cluster mode, %zu shards serve %u of 16384 "
              "slots",
              r->seed_host, r->seed_port, map->nshards, map->covered);
    vmux__router_cluster_only(r);
    atomic_store_explicit(&r->mode, VMUX_ROUTER_CLUSTER, memory_order_release);
    vmux__router_read_modes(r);
}

static void on_info_again(int status, vmux_reply *reply, void *arg)
{
    struct vmux_router *r = arg;
    size_t len = 0;
    const char *text = status == 0 ? vmux_reply_str(reply, &len) : NULL;
    bool cluster = text != NULL && memmem(text, len, "cluster_enabled:1", 17) != NULL;
    vmux_reply_free(reply);
    if (cluster && vmux__router_mode(r) == VMUX_ROUTER_STANDALONE && vmux__router_ask_myid(r) == 0)
        (void)ask_map(r, on_slots_again);
}

/*
 * STANDALONE with cluster=auto: another connection of the seed link is ready, maybe to the server
 * restarted as a cluster node: it is asked INFO cluster again (the commands meanwhile go on as
 * to a standalone server; a cluster node's MOVED reaches their callers until the map came).
 */
static void redetect(struct vmux_router *r)
{
    static const char *const argv[] = {"INFO", "cluster"};
    (void)vmux__router_internal(r, r->seed, 2, argv, on_info_again, r);
}

/*
 * Another connection of the seed link is ready (CLUSTER or STANDALONE), maybe to another
 * configured endpoint (the one before failed) or, by a name that resolves to several nodes, to
 * another node: the router names the seed link by where it is now.
 */
static void seed_again(struct vmux_router *r, const char *where)
{
    char now[300];
    snprintf(now, sizeof now, "%s:%d", r->seed_host, r->seed_port);
    if (where != NULL && strcasecmp(now, where) != 0 && seed_where(r, where) == 0 &&
        r->shard_links != NULL)
        memset(r->shard_links, 0, r->map->nshards * sizeof *r->shard_links);
}

bool vmux__router_seed_ready(struct vmux_router *r, const char *where)
{
    if (vmux__router_mode(r) != VMUX_ROUTER_DETECTING) {
        enum vmux_router_mode mode = vmux__router_mode(r);
        bool first = r->seed_host == NULL;
        if (first)
            (void)seed_where(r, where); /* cluster=no: known all the same, for its counters */
        else if (mode == VMUX_ROUTER_CLUSTER ||
                 (mode == VMUX_ROUTER_STANDALONE &&
                  (r->replica_endpoints || r->cfg->cluster == VMUX_CLUSTER_AUTO)))
            seed_again(r, where); /* where it is now: with replica endpoints, the primary */
        if (!first && mode == VMUX_ROUTER_CLUSTER)
            (void)vmux__router_ask_myid(r); /* a new connection: is it the same node? */
        if (!first && mode == VMUX_ROUTER_STANDALONE && r->cfg->cluster == VMUX_CLUSTER_AUTO)
            redetect(r);
        if (mode == VMUX_ROUTER_STANDALONE)
            vmux__router_standalone_map(r); /* readFrom: ROLE may have found another primary */
        return true;
    }
    if (r->detect_sent)
        return false;
    static const char *const argv[] = {"INFO", "cluster"};
    if (seed_where(r, where) != 0 ||
        vmux__router_internal(r, r->seed, 2, argv, on_info_cluster, r) != 0) {
        settle(r, VMUX_ROUTER_FAILED, VMUX_ERR_NOMEM, "cluster: out of memory");
        return false;
    }
    r->detect_sent = true;
    return false;
}
