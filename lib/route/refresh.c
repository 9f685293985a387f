/*
 * Refreshing the slot map (route/router.h): one CLUSTER SLOTS at a time, asked of the router's
 * links in turn (the seed's first, then each node link), only of a link whose connection is
 * ready, so a dead node is never the one asked. Reactive refreshes (MOVED, a failed primary
 * link, CLUSTERDOWN, a redirect to "?") are jittered and at most one per min_gap() (the
 * clusterRefreshMinInterval key, 1 s by default); a periodic check every REFRESH_PERIOD_MS,
 * skipped when a refresh was sent less than min_gap() ago, sees topology changes that no MOVED
 * announced; a hint that the map may be stale (an SPUBLISH that counted no receivers:
 * vmux__router_stale_hint()) brings that check forward, at most once per VMUX_ROUTER_HINT_GAP_MS.
 * A new map that differs from
 * the current one replaces it (one that serves fewer slots only once a second node agrees),
 * and the ops waiting in the backlog of a link whose connection is not ready, or whose node it
 * no longer names a primary, are sent again by slot: those whose slot now has another primary go
 * to it (a promoted replica), keyless ones on a node no longer a primary to a primary, the others
 * stay where they were. Ops refused READONLY wait for a map that does not name their node a
 * primary (demoted.c). While the map names a primary whose link
 * has no ready connection, or whose connection is stalled (vmux__router_refresh_tick()), one
 * refresh follows another, a second apart (a failover is awaited), whatever that link's
 * reconnect backoff; a stalled connection to a node the new map no longer names a primary is
 * ended (end_failed_over()). After each refresh answered with a map, the owner
 * hears of it (r->refreshed): the control ops waiting for one (r->map_wait: a typed fan-out's
 * rerun) go back to it, and it withdraws the fan-out parts that wait for a node the map no
 * longer names a primary (mux/fanout.c). I/O thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "core/log.h"
#include "route/keyslot.h"
#include "route/router.h"
#include "vmux/error.h"

#define REFRESH_PERIOD_MS 30000 /* the periodic map check */
#define REFRESH_TIMEOUT_MS                                                                         \
    2000 /* a refresh unanswered by then is abandoned; another node is asked */

/* One CLUSTER SLOTS in flight: a reply that comes after its refresh was abandoned is dropped. */
struct refresh_req {
    struct vmux_router *r;
    struct vmux_link *link;
    uint64_t gen;
};

static void schedule(struct vmux_router *r, bool reactive);

/* The least time between two refreshes sent (the clusterRefreshMinInterval key). */
static uint64_t min_gap(const struct vmux_router *r)
{
    return (uint64_t)r->cfg->cluster_refresh_min_ms;
}

/*
 * The next link in turn whose connection is ready and not stalled (vmux__link_stalled(): a hung
 * node would not answer), else the next ready one, or NULL.
 */
static struct vmux_link *pick_ready(struct vmux_router *r)
{
    size_t n = vmux__router_nlinks(r);
    for (int stalled_too = 0; stalled_too < 2; stalled_too++) {
        for (size_t k = 0; k < n; k++) {
            size_t i = (r->refresh_next + k) % n;
            struct vmux_link *link = vmux__router_link_at(r, i);
            if (vmux__link_ready(link) && (stalled_too || !vmux__link_stalled(link))) {
                r->refresh_next = (i + 1) % n;
                return link;
            }
        }
    }
    return NULL;
}

/* No link is ready: opens one to a node of the map that has none yet (a replica...). */
static void open_another(struct vmux_router *r)
{
    for (size_t s = 0; s < r->map->nshards; s++) {
        const struct vmux_shard *sh = &r->map->shards[s];
        for (size_t i = 0; i < sh->nnodes; i++) {
            const struct vmux_node_addr *n = &sh->nodes[i];
            if ((n->flags & VMUX_NODE_UNKNOWN) || vmux__router_has_link(r, n->host, n->port))
                continue;
            (void)vmux__router_node_link(r, n->host, strlen(n->host), n->port);
            return;
        }
    }
}

/*
 * Where an op waiting in link's backlog goes by the map: its slot's primary; a keyless one (not
 * pinned to the node, not the link's own) leaves a node the map does not name a primary (a
 * failover demoted it: it would answer a write READONLY) for a primary's link; else link.
 */
static struct vmux_link *backlog_onward(struct vmux_router *r, struct vmux_link *link,
                                        const struct vmux_op *op)
{
    bool keyless = op->slot == VMUX_SLOT_ANY && !(op->flags & (VMUX_OP_PINNED | VMUX_OP_INTERNAL));
    bool leaves = op->slot >= 0 || (keyless && !vmux__router_link_is_primary(r, link));
    return leaves ? vmux__router_onward(r, op, link) : link;
}

/*
 * Sends every op waiting in a backlog whose slot has another primary now to that primary, and a
 * keyless one on a node no longer a primary to a primary (backlog_onward()); a read that readFrom
 * sends to a replica goes by that rule again instead (readFrom=replica waits for a replica, not
 * for the primary).
 */
static void reroute_backlog(struct vmux_router *r, struct vmux_link *link)
{
    struct vmux_opq q = {0}, stay = {0};
    vmux__link_take_backlog(link, &q);
    struct vmux_op *op;
    size_t moved = 0;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        if (vmux__router_replica_read(r, op)) {
            vmux__router_resend(r, op);
            continue;
        }
        struct vmux_link *to = backlog_onward(r, link, op);
        if (to == NULL || to == link) {
            vmux__opq_push(&stay, op);
        } else {
            moved++;
            vmux__link_submit(to, op);
        }
    }
    vmux__link_return_backlog(link, &stay);
    if (moved > 0)
        vmux__log(r->cfg, VMUX_LOG_INFO, "cluster: %zu waiting commands sent to their new nodes",
                  moved);
}

/* Whether old (NULL: none) named link's node a primary and the current map does not: demoted. */
static bool failed_over(const struct vmux_router *r, const struct vmux_link *link,
                        const struct vmux_slotmap *old)
{
    return vmux__router_link_primary_in(r, link, old) && !vmux__router_link_is_primary(r, link);
}

/*
 * Ends the stalled connections (vmux__link_stalled()) of nodes that old named primaries and the
 * current map does not (failed_over()): each hung, and the cluster failed it over. The dead-link
 * rule would end them only after twice their head command's timeout (a typed fan-out's part, a call
 * with the long deadline advised for failovers); ended now, what they hold goes on by the new map
 * (the retry-safe commands they wrote, back in their backlogs, are sent to the promoted replica
 * below; the others fail VMUX_ERR_CONNECTION_LOST; a typed fan-out's parts run again), and a node
 * that comes back from its stall cannot run them as a primary a moment before it learns it is none.
 */
static void end_failed_over(struct vmux_router *r, const struct vmux_slotmap *old)
{
    for (size_t i = 0; i < vmux__router_nlinks(r); i++) {
        struct vmux_link *link = vmux__router_link_at(r, i);
        if (vmux__link_stalled(link) && failed_over(r, link, old))
            vmux__link_end_stalled(link, "the refreshed map names another primary for its slots "
                                         "(a failover): ended as dead");
    }
}

static void install(struct vmux_router *r, struct vmux_slotmap *map)
{
    struct vmux_slotmap *old = r->map != NULL ? vmux__slotmap_ref(r->map) : NULL;
    r->installs++; /* first: set_map's hook (the near cache) relearns TLS names by it */
    vmux__router_set_map(r, map);
    vmux__router_read_modes(r);
    vmux__router_tls_relearn(r);
    /* Two walks, not one: an ended connection's failure runs in full (its ops failed or back in
     * its backlog, its reads sent to other links' backlogs) before any backlog goes by the map. */
    end_failed_over(r, old);
    size_t n = vmux__router_nlinks(r);
    for (size_t i = 0; i < n; i++) {
        struct vmux_link *link = vmux__router_link_at(r, i);
        if (!vmux__link_ready(link) || failed_over(r, link, old))
            reroute_backlog(r, link); /* down, or demoted: its backlog would go to a replica */
    }
    vmux__slotmap_unref(old);
    vmux__router_reroute_blocking(r);
    vmux__router_note_departures(r);
}

/*
 * Whether the map names a primary whose link has no ready connection, or whose connection is
 * stalled (vmux__link_stalled()): until a refresh shows its replica promoted, refreshes go on
 * (one a second), whatever the link's reconnect backoff.
 */
static bool primary_down(const struct vmux_router *r)
{
    for (size_t i = 0; i < vmux__router_nlinks(r); i++) {
        const struct vmux_link *link = vmux__router_link_at(r, i);
        bool down = !vmux__link_ready(link) || vmux__link_stalled(link);
        if (down && vmux__router_link_is_primary(r, link))
            return true;
    }
    return false;
}

void vmux__router_refresh_tick(struct vmux_router *r)
{
    if (vmux__router_mode(r) == VMUX_ROUTER_CLUSTER && r->map != NULL && primary_down(r))
        vmux__router_refresh_soon(r);
}

/* The refresh is over (answered, failed or abandoned): a request that came meanwhile goes on. */
static void refresh_done(struct vmux_router *r)
{
    r->refresh_busy = false;
    uv_timer_stop(&r->refresh_timer);
    if (r->refresh_again) {
        r->refresh_again = false;
        schedule(r, true);
    }
}

/*
 * Logs and emits what map (about to replace the current one, asked of link) changes; its nodes'
 * events come from vmux__router_set_map(), as for every other change of the map.
 */
static void announce(struct vmux_router *r, struct vmux_link *link, const struct vmux_slotmap *map,
                     unsigned kept)
{
    unsigned moved = vmux__slotmap_moved_slots(r->map, map);
    size_t added = vmux__slotmap_new_nodes(r->map, map, NULL, NULL);
    size_t removed = vmux__slotmap_new_nodes(map, r->map, NULL, NULL);
    char where[300], what[300];
    vmux__router_link_addr(r, link, where, sizeof where);
    int n = snprintf(what, sizeof what,
                     "%zu shards serve %u slots; %u slots changed primary; %zu nodes added, %zu "
                     "removed",
                     map->nshards, map->covered, moved, added, removed);
    if (kept > 0 && n > 0 && (size_t)n < sizeof what)
        snprintf(what + n, sizeof what - (size_t)n,
                 "; %u slots kept as a MOVED of the last %d ms said, not as the node answered",
                 kept, VMUX_ROUTER_MOVED_TRUST_MS);
    vmux__log(r->cfg, VMUX_LOG_INFO, "cluster: slot map refreshed from %s: %s", where, what);
    vmux__event(r->cfg, VMUX_EVENT_MAP_REFRESHED, 0, where, what);
}

static void forget_shrunk(struct vmux_router *r)
{
    vmux__slotmap_unref(r->shrunk);
    r->shrunk = NULL;
    r->shrunk_times = 0;
}

/*
 * The answers of one node that may stand for the cluster's: a smaller map that no other node
 * contradicted meanwhile (a node that answers with an error does not), asked of the same node
 * this many times in a row, is taken (a one-node cluster, or the only node that answers).
 */
#define SHRUNK_ALONE_TIMES 3u

/*
 * Whether map, asked of link, may replace the current one. One that serves fewer slots is one
 * node's view until another node answers the same, or the same node does SHRUNK_ALONE_TIMES
 * times with no other node's map between: a node reset or new at an address, or one that forgot
 * another, answers an empty or partial map, and taking it sent the slots it lacks to the seed,
 * flip-flopping with the next node's full map (probe37). Takes map when it returns false.
 */
static bool map_agreed(struct vmux_router *r, struct vmux_link *link, struct vmux_slotmap *map)
{
    uint32_t from = vmux__router_link_id(r, link);
    if (map->covered >= r->map->covered) {
        forget_shrunk(r);
        return true;
    }
    bool again = r->shrunk != NULL && vmux__slotmap_equal(map, r->shrunk);
    if (again && (from != r->shrunk_from || r->shrunk_times + 1 >= SHRUNK_ALONE_TIMES)) {
        forget_shrunk(r);
        return true;
    }
    unsigned times = again ? r->shrunk_times + 1 : 1;
    char where[300];
    vmux__router_link_addr(r, link, where, sizeof where);
    vmux__log(r->cfg, VMUX_LOG_INFO,
              "cluster: the slot map from %s serves %u slots, fewer than the %u of the current "
              "one: kept until another node answers the same",
              where, map->covered, r->map->covered);
    forget_shrunk(r);
    r->shrunk = map;
    r->shrunk_from = from;
    r->shrunk_times = times;
    r->refresh_again = true; /* ask the next node */
    return false;
}

static void on_slots(int status, vmux_reply *reply, void *arg)
{
    struct refresh_req req = *(struct refresh_req *)arg;
    struct vmux_router *r = req.r;
    free(arg);
    if (status == VMUX_ERR_CLOSED || req.gen != r->refresh_gen ||
        vmux__router_mode(r) != VMUX_ROUTER_CLUSTER) {
        vmux_reply_free(reply);
        return;
    }
    struct vmux_slotmap *map = NULL;
    char why[256] = "";
    const char *asked = vmux__router_link_host(r, req.link);
    int rc = reply != NULL
                 ? vmux__slotmap_from_slots(reply, asked, r->map->epoch + 1, &map, why, sizeof why)
                 : status;
    vmux_reply_free(reply);
    bool answered = rc == 0;
    unsigned kept = 0;
    if (rc == 0)
        map = vmux__router_keep_moved(r, map, &kept); /* a lagging view does not undo a MOVED */
    if (rc != 0) {
        vmux__log(r->cfg, VMUX_LOG_WARN, "cluster: refreshing the slot map failed (%s): %s",
                  vmux_err_name(rc), why);
        r->refresh_again = true; /* ask the next node */
    } else if (vmux__slotmap_equal(map, r->map)) {
        forget_shrunk(r); /* this node agrees with the current map */
        vmux__slotmap_unref(map);
    } else if (map_agreed(r, req.link, map)) {
        announce(r, req.link, map, kept);
        install(r, map);
    }
    if (primary_down(r))
        r->refresh_again = true; /* not failed over yet, or this node does not know yet */
    refresh_done(r);
    if (answered) {
        r->answered_gen = req.gen;
        vmux__router_release_unowned(r);
        vmux__router_release_demoted(r);
        if (r->refreshed != NULL)
            r->refreshed(r->map_changed_arg);
    }
}

uint64_t vmux__router_refresh_mark(const struct vmux_router *r)
{
    return r->refresh_gen;
}

bool vmux__router_refreshed_since(const struct vmux_router *r, uint64_t mark)
{
    return r->answered_gen > mark;
}

void vmux__router_wait_refresh(struct vmux_router *r, struct vmux_op *op)
{
    vmux__opq_push(&r->map_wait, op);
}

void vmux__router_take_refresh_waiters(struct vmux_router *r, struct vmux_opq *dst)
{
    vmux__opq_take(dst, &r->map_wait);
}

/* Whether slot's primary in the current map has an address to dial. */
static bool owner_known(const struct vmux_router *r, int slot)
{
    const struct vmux_shard *s = slot >= 0 ? vmux__slotmap_owner(r->map, (unsigned)slot) : NULL;
    return s != NULL && s->nnodes > 0 && !(s->nodes[0].flags & VMUX_NODE_UNKNOWN);
}

void vmux__router_release_unowned(struct vmux_router *r)
{
    struct vmux_opq q = {0};
    vmux__opq_take(&q, &r->unowned);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        if (owner_known(r, op->slot))
            vmux__router_resend(r, op); /* a redirect that waited: never fenced */
        else
            vmux__opq_push(&r->unowned, op);
    }
    if (r->unowned.count > 0)
        schedule(r, true); /* a slot without a known owner: ask again, at the reactive rate */
}

/* A refresh that did not answer in time: abandoned; its late reply will be dropped. */
static void on_refresh_lost(uv_timer_t *t)
{
    struct vmux_router *r = t->data;
    vmux__log(r->cfg, VMUX_LOG_WARN, "cluster: CLUSTER SLOTS unanswered after %d ms",
              REFRESH_TIMEOUT_MS);
    r->refresh_gen++;
    r->refresh_again = true;
    refresh_done(r);
}

/*
 * Sends CLUSTER SLOTS to ask (when not NULL, ready and not stalled: a node that knows best) or
 * else to the next ready link; without one, opens a link and tries again later.
 */
static void refresh_from(struct vmux_router *r, struct vmux_link *ask)
{
    static const char *const argv[] = {"CLUSTER", "SLOTS"};
    if (vmux__router_mode(r) != VMUX_ROUTER_CLUSTER || r->refresh_busy)
        return;
    r->last_refresh = uv_now(r->loop);
    bool asked = ask != NULL && vmux__link_ready(ask) && !vmux__link_stalled(ask);
    struct vmux_link *link = asked ? ask : pick_ready(r);
    if (link == NULL) {
        open_another(r);
        schedule(r, true);
        return;
    }
    struct refresh_req *req = malloc(sizeof *req);
    if (req == NULL) {
        schedule(r, false); /* out of memory: asked for all the same, so again later */
        return;
    }
    *req = (struct refresh_req){r, link, ++r->refresh_gen};
    vmux__count(&r->ctr->refreshes, 1);
    if (vmux__router_internal(r, link, 2, argv, on_slots, req) != 0) {
        free(req);
        schedule(r, false);
        return;
    }
    r->refresh_busy = true;
    uv_timer_start(&r->refresh_timer, on_refresh_lost, REFRESH_TIMEOUT_MS, 0);
}

static void refresh_now(struct vmux_router *r)
{
    refresh_from(r, NULL);
}

static void on_refresh_due(uv_timer_t *t)
{
    refresh_now(t->data);
}

/* Schedules one refresh: reactive ones no sooner than min_gap() after the last, jittered. */
static void schedule(struct vmux_router *r, bool reactive)
{
    if (r->refresh_busy) {
        r->refresh_again = r->refresh_again || reactive;
        return;
    }
    if (uv_is_active((uv_handle_t *)&r->refresh_timer))
        return;
    uint64_t now = uv_now(r->loop), due = r->last_refresh + min_gap(r);
    r->rng = r->rng * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t jitter = (r->rng >> 33) % 100;
    uint64_t wait = r->last_refresh != 0 && due > now ? due - now : 0;
    if (wait > 0 && reactive) {
        char why[160];
        snprintf(why, sizeof why,
                 "a slot map refresh waits %llu ms: at most one per clusterRefreshMinInterval",
                 (unsigned long long)wait);
        vmux__event(r->cfg, VMUX_EVENT_REFRESH_THROTTLED, 0, "", why);
    }
    uv_timer_start(&r->refresh_timer, on_refresh_due, wait + jitter, 0);
}

void vmux__router_refresh_soon(struct vmux_router *r)
{
    schedule(r, true);
}

static void on_period(uv_timer_t *t)
{
    struct vmux_router *r = t->data;
    enum vmux_router_mode mode = vmux__router_mode(r);
    if (mode == VMUX_ROUTER_FAILED ||
        (mode == VMUX_ROUTER_STANDALONE && r->cfg->cluster != VMUX_CLUSTER_AUTO))
        uv_timer_stop(t); /* (cluster=auto: a standalone server may come back a cluster node) */
    else if (mode == VMUX_ROUTER_CLUSTER && !r->refresh_busy &&
             !uv_is_active((uv_handle_t *)&r->refresh_timer) &&
             uv_now(r->loop) >= r->last_refresh + min_gap(r))
        refresh_now(r); /* a map asked for less than a second ago is recent enough */
}

void vmux__router_stale_hint(struct vmux_router *r, struct vmux_link *link)
{
    uint64_t gap = min_gap(r) > VMUX_ROUTER_HINT_GAP_MS ? min_gap(r) : VMUX_ROUTER_HINT_GAP_MS;
    if (vmux__router_mode(r) != VMUX_ROUTER_CLUSTER || r->refresh_busy ||
        uv_is_active((uv_handle_t *)&r->refresh_timer) ||
        (r->last_refresh != 0 && uv_now(r->loop) < r->last_refresh + gap))
        return;
    vmux__log(r->cfg, VMUX_LOG_DEBUG,
              "cluster: an SPUBLISH counted no receivers: checking the slot map now (after a "
              "failover, a demoted node counts only its own subscribers)");
    refresh_from(r, link); /* that node knows at once that it was demoted; others by gossip */
}

void vmux__router_refresh_init(struct vmux_router *r)
{
    uv_timer_init(r->loop, &r->refresh_timer);
    uv_timer_init(r->loop, &r->period_timer);
    r->refresh_timer.data = r->period_timer.data = r;
    if (vmux__router_mode(r) == VMUX_ROUTER_DETECTING)
        uv_timer_start(&r->period_timer, on_period, REFRESH_PERIOD_MS, REFRESH_PERIOD_MS);
}

void vmux__router_refresh_close(struct vmux_router *r)
{
    forget_shrunk(r);
    uv_close((uv_handle_t *)&r->refresh_timer, NULL);
    uv_close((uv_handle_t *)&r->period_timer, NULL);
}
