/*
 * readFrom (docs/replicas.md): which node of a shard serves a read-only op. The replicas' links
 * are the router's node links (net/setup.c sends READONLY on them, and asks for the node's zone
 * under the azAffinity policies), opened the first time a read for their shard comes, and cached
 * per map like the primaries' (r->shard_links). A replica whose link is not ready (connecting,
 * broken, or refusing) is skipped; the primary serves when no replica may.
 *
 * A standalone primary with replicas is the same with a one-shard map
 * (vmux__router_standalone_map()): the seed's node, where ROLE found the primary, and the other
 * configured endpoints as its replicas; made again when the seed link is ready on another one.
 * With Sentinel, the replicas are those the sentinels list as healthy (SENTINEL REPLICAS), asked
 * whenever the seed link is ready, when a sentinel announces a replica change (+slave, +sdown,
 * -sdown, heard by net/sentinel_watch.c), and once a second while one listed is settling (the
 * sentinel not yet connected to it, its link to the primary not up: ends with no announcement).
 *
 * A replica cut off from its primary is skipped too, and with replicaMaxLag one that is too far
 * behind it: judged once a tick against the shard's primary's offsets (net/repl.c).
 *
 * I/O thread only.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "route/router.h"
#include "vmux/error.h"

void vmux__router_reads_reset(struct vmux_router *r)
{
    struct vmux_router_reads *rd = &r->reads;
    free(rd->base);
    free(rd->links);
    free(rd->next);
    memset(rd, 0, sizeof *rd);
    const struct vmux_slotmap *map = r->map;
    if (map == NULL)
        return;
    size_t n = 0;
    for (size_t i = 0; i < map->nshards; i++)
        n += map->shards[i].nnodes > 0 ? map->shards[i].nnodes - 1 : 0;
    rd->base = calloc(map->nshards, sizeof *rd->base);
    rd->next = calloc(map->nshards, sizeof *rd->next);
    rd->links = calloc(n > 0 ? n : 1, sizeof *rd->links);
    if (rd->base == NULL || rd->next == NULL || rd->links == NULL) {
        free(rd->base);
        free(rd->next);
        free(rd->links);
        memset(rd, 0, sizeof *rd); /* out of memory: every read goes to its primary */
        return;
    }
    for (size_t i = 0, at = 0; i < map->nshards; i++) {
        rd->base[i] = at;
        at += map->shards[i].nnodes > 0 ? map->shards[i].nnodes - 1 : 0;
    }
}

void vmux__router_reads_forget(struct vmux_router *r, const struct vmux_link *link)
{
    struct vmux_router_reads *rd = &r->reads;
    if (rd->links == NULL)
        return;
    for (size_t i = 0; i < r->map->nshards; i++) {
        size_t nrep = r->map->shards[i].nnodes > 0 ? r->map->shards[i].nnodes - 1 : 0;
        for (size_t k = 0; k < nrep; k++)
            if (rd->links[rd->base[i] + k] == link)
                rd->links[rd->base[i] + k] = NULL;
    }
}

/* Replica k (0-based) of shard i: its link, opened on first use; NULL when it has no address. */
static struct vmux_link *replica(struct vmux_router *r, unsigned i, size_t k)
{
    struct vmux_link **slot = &r->reads.links[r->reads.base[i] + k];
    const struct vmux_node_addr *n = &r->map->shards[i].nodes[k + 1];
    if (*slot == NULL && !(n->flags & VMUX_NODE_UNKNOWN))
        *slot = vmux__router_node_link(r, n->host, strlen(n->host), n->port);
    return *slot;
}

static bool in_zone(const struct vmux_link *link, const char *zone)
{
    const char *az = vmux__link_az(link);
    return zone != NULL && az != NULL && strcmp(az, zone) == 0;
}

/*
 * The next ready replica of shard i in turn (each one opened on the way), only those in zone
 * when in_zone_only; NULL when none is. *any gets some replica's link, ready or not, but never
 * one cut off from the primary or of another history: those serve data older by the second or
 * not this primary's at all (under readFrom=replica, 4 to 11 s stale after a failover).
 */
static struct vmux_link *next_replica(struct vmux_router *r, unsigned i, const char *zone,
                                      bool in_zone_only, struct vmux_link **any)
{
    size_t nrep = r->map->shards[i].nnodes - 1;
    unsigned start = r->reads.next[i]++;
    for (size_t j = 0; j < nrep; j++) {
        struct vmux_link *link = replica(r, i, (start + j) % nrep);
        if (link == NULL)
            continue;
        if (*any == NULL && !vmux__link_cut_off(link))
            *any = link;
        if (vmux__link_ready(link) && !vmux__link_lagging(link) &&
            (!in_zone_only || in_zone(link, zone)))
            return link;
    }
    return NULL;
}

static vmux_read_from policy_of(const struct vmux_router *r, const struct vmux_op *op)
{
    if (op->flags & VMUX_OP_TO_PRIMARY)
        return VMUX_READ_PRIMARY;
    if (op->flags & VMUX_OP_TO_REPLICA)
        return VMUX_READ_REPLICA;
    if (op->flags & VMUX_OP_PREFER_REPLICA)
        return VMUX_READ_PREFER_REPLICA;
    return r->cfg->read_from;
}

struct vmux_link *vmux__router_read_link(struct vmux_router *r, unsigned i,
                                         const struct vmux_op *op)
{
    vmux_read_from policy = policy_of(r, op);
    if (policy == VMUX_READ_PRIMARY || r->reads.links == NULL || r->map->shards[i].nnodes < 2)
        return NULL;
    const char *zone = r->cfg->client_az;
    struct vmux_link *any = NULL, *link = NULL;
    switch (policy) {
    case VMUX_READ_AZ_AFFINITY:
        link = next_replica(r, i, zone, true, &any);
        break;
    case VMUX_READ_AZ_AFFINITY_REPLICAS_AND_PRIMARY:
        link = next_replica(r, i, zone, true, &any);
        if (link == NULL) {
            struct vmux_link *primary = vmux__router_shard_link(r, i);
            if (primary != NULL && vmux__link_ready(primary) && in_zone(primary, zone))
                return primary;
        }
        break;
    default:
        break;
    }
    if (link == NULL)
        link = next_replica(r, i, zone, false, &any);
    if (link == NULL && policy == VMUX_READ_REPLICA) {
        link = any; /* none is ready: wait for one (its backlog), not for the primary */
        /* A replica down after a failure may be gone for good: the cluster drops a failed
         * replica from CLUSTER SLOTS after cluster-node-timeout, and a map without it sends the
         * shard's reads to its primary. Asked for as reads come (one refresh a second at most);
         * the periodic check alone left them waiting up to 30 s. */
        if (link != NULL && vmux__router_mode(r) == VMUX_ROUTER_CLUSTER &&
            vmux__link_down_after_failure(link))
            vmux__router_refresh_soon(r);
    }
    return link;
}

void vmux__router_reads_away(struct vmux_router *r, struct vmux_link *link)
{
    struct vmux_opq q = {0}, stay = {0};
    vmux__link_take_backlog(link, &q);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        uint32_t mine = VMUX_OP_PINNED | VMUX_OP_BLOCKING; /* for this node, or its pool's */
        if ((op->flags & VMUX_OP_READONLY) && !(op->flags & mine))
            vmux__router_resend(r, op); /* another replica, or the primary: not this link */
        else
            vmux__opq_push(&stay, op);
    }
    vmux__link_return_backlog(link, &stay);
}

/* Whether the current map's primary is the seed's node (the map needs no change). */
static bool map_follows_seed(const struct vmux_router *r)
{
    const struct vmux_node_addr *p =
        r->map != NULL && r->map->nshards == 1 ? &r->map->shards[0].nodes[0] : NULL;
    return p != NULL && p->port == r->seed_port && strcasecmp(p->host, r->seed_host) == 0;
}

/* Makes and installs the one-shard map: the seed's node, then the n nodes of replicas. */
static void install_map(struct vmux_router *r, const struct vmux_node_addr *replicas, size_t n)
{
    struct vmux_slotmap *map = NULL;
    uint64_t epoch = r->map != NULL ? r->map->epoch + 1 : 1;
    if (vmux__slotmap_standalone(r->seed_host, r->seed_port, replicas, n, epoch, &map) == 0) {
        vmux__log(r->cfg, VMUX_LOG_INFO, "readFrom: primary %s:%d, %zu replica(s)", r->seed_host,
                  r->seed_port, map->shards[0].nnodes - 1);
        vmux__router_set_map(r, map);
    }
}

/* Whether the map already is the seed's node with exactly these replicas (in any order). */
static bool map_has(const struct vmux_router *r, const struct vmux_node_addr *reps, size_t n)
{
    if (!map_follows_seed(r) || r->map->shards[0].nnodes != n + 1)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 1; j <= n && !found; j++) {
            const struct vmux_node_addr *m = &r->map->shards[0].nodes[j];
            found = m->port == reps[i].port && strcasecmp(m->host, reps[i].host) == 0;
        }
        if (!found)
            return false;
    }
    return true;
}

static void ask_sentinels(struct vmux_router *r);

/* A refused SENTINEL REPLICAS is asked again after 1 s, doubling to REP_REFUSED_MAX_MS. */
#define REP_REFUSED_FIRST_MS 1000u
#define REP_REFUSED_MAX_MS 30000u
/* It is asked at the once-a-second tick nearest the time due, not at the first tick after it,
 * which came up to a second late: "asked again in 1000 ms" was 2 s in 3 of 3 (probe42). */
#define REP_TICK_SLACK_MS 500u

/*
 * The sentinels refused SENTINEL REPLICAS (a sentinel user without sentinel|replicas): no
 * replica is known, so every read goes to the primary. A permission may come at any time, so
 * it is asked again, less often each time; asked every second before, and never said (probe39).
 */
static void replicas_refused(struct vmux_router *r, const char *why)
{
    unsigned shift = r->rep_refusals < 5 ? r->rep_refusals : 5;
    uint64_t wait = (uint64_t)REP_REFUSED_FIRST_MS << shift;
    wait = wait < REP_REFUSED_MAX_MS ? wait : REP_REFUSED_MAX_MS;
    r->rep_refusals += r->rep_refusals < UINT_MAX;
    r->rep_next_ms = uv_now(r->loop) + wait;
    r->rep_recheck = true;
    vmux__log(r->cfg, r->rep_refusals == 1 ? VMUX_LOG_WARN : VMUX_LOG_INFO,
              "sentinels: SENTINEL REPLICAS refused (%s): no replica is known, so reads go to "
              "the primary (allow the sentinel user +sentinel|replicas); asked again in %llu ms",
              why != NULL ? why : "refused", (unsigned long long)wait);
}

/*
 * Sentinel: the replicas SENTINEL REPLICAS listed. The usable ones (never the primary's own
 * address, which a sentinel may still list for a moment after a failover) make the map.
 */
static void on_sentinel_replicas(int status, const struct vmux_sentinel_replica *reps, size_t n,
                                 const char *why, void *arg)
{
    struct vmux_router *r = arg;
    r->rep_asking = false;
    if (status == VMUX_ERR_SERVER)
        replicas_refused(r, why);
    else if (status == 0)
        r->rep_refusals = 0;
    struct vmux_node_addr *use = status == 0 ? calloc(n > 0 ? n : 1, sizeof *use) : NULL;
    r->rep_recheck = use == NULL; /* an error answer, or out of memory: again in a second */
    size_t k = 0;
    for (size_t i = 0; use != NULL && i < n; i++) {
        bool is_seed = reps[i].port == r->seed_port && r->seed_host != NULL &&
                       strcasecmp(reps[i].host, r->seed_host) == 0;
        r->rep_recheck |= reps[i].settling && !is_seed;
        if (reps[i].usable && !is_seed)
            use[k++] = (struct vmux_node_addr){.host = (char *)reps[i].host, .port = reps[i].port};
    }
    if (use != NULL && r->seed_host != NULL && !map_has(r, use, k))
        install_map(r, use, k);
    free(use);
    if (r->rep_again)
        ask_sentinels(r);
}

/* SENTINEL REPLICAS, or once more after the question under way. */
static void ask_sentinels(struct vmux_router *r)
{
    if (r->rep_asking) {
        r->rep_again = true;
        return;
    }
    r->rep_again = false;
    if (vmux__sentinel_ask_replicas(r->sentinel, on_sentinel_replicas, r) == 0)
        r->rep_asking = true;
    else
        r->rep_recheck = true; /* out of memory: the tick asks again */
}

/* The sentinel client's hook: a sentinel announced a change of the service's replicas. */
static void replicas_changed(void *arg)
{
    struct vmux_router *r = arg;
    if (r->seed_host != NULL)
        ask_sentinels(r);
}

void vmux__router_use_sentinel(struct vmux_router *r, struct vmux_sentinel *s)
{
    r->sentinel = s;
    if (s != NULL && r->replica_endpoints)
        vmux__sentinel_set_replicas_hook(s, replicas_changed, r);
}

/*
 * replicaMaxLag: each opened replica's offset against its shard's primary's (net/repl.c); one
 * found too far behind, or not its primary's replica at all, is skipped by next_replica() until
 * a later tick finds it caught up. The primary's link is opened if it is not yet: its offsets
 * and its history are the measure.
 */
static void judge_lag(struct vmux_router *r)
{
    const struct vmux_router_reads *rd = &r->reads;
    if (rd->links == NULL || r->map == NULL)
        return;
    for (unsigned i = 0; i < r->map->nshards; i++) {
        size_t nrep = r->map->shards[i].nnodes > 0 ? r->map->shards[i].nnodes - 1 : 0;
        struct vmux_link *primary = NULL;
        for (size_t k = 0; k < nrep; k++) {
            struct vmux_link *link = rd->links[rd->base[i] + k];
            if (link == NULL)
                continue;
            if (primary == NULL)
                primary = vmux__router_shard_link(r, i);
            (void)vmux__link_judge_lag(link, primary, (uint64_t)r->cfg->replica_max_lag_ms);
        }
    }
}

void vmux__router_replicas_tick(struct vmux_router *r)
{
    judge_lag(r);
    if (r->sentinel != NULL && r->rep_recheck && !r->rep_asking && r->seed_host != NULL &&
        uv_now(r->loop) + REP_TICK_SLACK_MS >= r->rep_next_ms)
        ask_sentinels(r);
}

void vmux__router_standalone_map(struct vmux_router *r)
{
    if (!r->replica_endpoints || r->seed_host == NULL)
        return;
    if (r->sentinel != NULL) { /* the endpoints are sentinels: ask them (again: a reconnection) */
        ask_sentinels(r);
        return;
    }
    if (map_follows_seed(r))
        return;
    size_t n = vmux_config_endpoint_count(r->cfg);
    struct vmux_node_addr *others = calloc(n, sizeof *others);
    if (others == NULL)
        return; /* out of memory: every read goes to the primary */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *host;
        int port;
        if (vmux_config_endpoint(r->cfg, i, &host, &port) == 0 && host != NULL) {
            others[k].host = (char *)host; /* only read */
            others[k++].port = port;
        }
    }
    install_map(r, others, k);
    free(others);
}
