/*
 * A subscription's moves as the servers see them (mux/pubsub.h): the MOVED ping-pong of a shard
 * channel's SSUBSCRIBE, and the one VMUX_EVENT_SUBSCRIPTION_MOVED per actual move.
 *
 * When CLUSTER SETSLOT <slot> NODE reaches a migration's source before its destination, the
 * source answers SSUBSCRIBE with MOVED to the destination and the destination, still importing,
 * MOVED back. Followed at once, each channel of the slot went round the two nodes hundreds of
 * times a second (and raised an event each time). The command path met the same ping-pong and
 * backs off (route/bounce.c); so does this one, by the same rule: a MOVED back to a node that
 * redirected the subscription (or ended it) since its last confirmation is not trusted with the
 * map, and the subscription is sent to the node it names after vmux__router_backoff_ms(), as a
 * command would be. Unlike a command, a subscription has no redirect limit: its backoff doubles
 * up to a second (the reconciler's own pace), and it goes on until a node confirms it; that node
 * is then patched into the map as the slot's owner, and the event says where it went from. I/O
 * thread only.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "mux/mux.h"
#include "route/slot.h"

/* The longest wait between a lasting ping-pong's SSUBSCRIBEs. */
#define SUB_BOUNCE_LAST_MS 1000u

/* A node's fingerprint: FNV-1a of its host (case folded) and port; never 0. */
static uint64_t node_fp(const char *host, size_t hostlen, int port)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < hostlen; i++) {
        unsigned char c = (unsigned char)host[i];
        h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32u : c)) * 1099511628211ull;
    }
    h = (h ^ (uint64_t)(unsigned)port) * 1099511628211ull;
    return h != 0 ? h : 1;
}

static uint64_t link_fp(const struct vmux_sublink *sl)
{
    return node_fp(sl->host != NULL ? sl->host : "", sl->host != NULL ? strlen(sl->host) : 0,
                   sl->port);
}

static bool visited(const struct vmux_sub *s, uint64_t fp)
{
    for (size_t i = 0; i < VMUX__SUB_VISITED; i++)
        if (s->visited[i] == fp)
            return true;
    return false;
}

/* Notes that the node fp redirected s (the oldest of the ones remembered makes room). */
static void visit(struct vmux_sub *s, uint64_t fp)
{
    if (visited(s, fp))
        return;
    memmove(&s->visited[1], &s->visited[0], (VMUX__SUB_VISITED - 1) * sizeof s->visited[0]);
    s->visited[0] = fp;
}

bool vmux__sub_redirected(struct vmux *m, struct vmux_sub *s, const struct vmux_sublink *by,
                          const char *host, size_t hostlen, int port)
{
    uint64_t named = node_fp(host, hostlen, port), from = link_fp(by);
    bool back = named != from && visited(s, named);
    visit(s, from);
    if (s->redirects < UINT8_MAX)
        s->redirects++;
    /* a host DNS cannot hold is never a bounce target: a copy would cut it, and a link to the
     * cut name would be another node; followed through the map, its connection fails naming it
     * whole (net/conn.c) */
    if (!back || vmux__host_over_dns(host, hostlen))
        return false;
    char h[VMUX_HOST_MAX + 2]; /* and an absolute name's dot */
    snprintf(h, sizeof h, "%.*s", (int)hostlen, host);
    struct vmux_sublink *next = vmux__sublink_for(m, h, port);
    if (next == NULL)
        return false; /* out of memory: followed through the map, as before */
    uint32_t wait = vmux__router_backoff_ms(&m->router, s->redirects, SUB_BOUNCE_LAST_MS);
    s->bounced = true;
    s->bounce_to = next;
    s->bounce_at = uv_now(&m->loop) + wait;
    vmux__log(m->cfg, VMUX_LOG_DEBUG,
              "pubsub: shard channel %.*s: MOVED back to %.*s:%d, which redirected it before "
              "(the nodes disagree); subscribing again in %u ms",
              (int)(s->name.len > 200 ? 200 : s->name.len), s->name.ptr, (int)hostlen, host, port,
              (unsigned)wait);
    return true;
}

void vmux__sub_ended(struct vmux_sub *s, const struct vmux_sublink *sl)
{
    visit(s, link_fp(sl));
}

bool vmux__sub_held(struct vmux *m, const struct vmux_sub *s)
{
    uint64_t now = uv_now(&m->loop);
    if (!s->lost || now >= s->bounce_at)
        return false;
    vmux__pubsub_reconcile_soon(m, s->bounce_at - now);
    return true;
}

static bool same_node(const struct vmux_sublink *a, const struct vmux_sublink *b)
{
    if (a->host == NULL || b->host == NULL)
        return a->host == b->host;
    return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

static const char *where_of(const struct vmux_sublink *sl, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d", sl->host != NULL ? sl->host : "", sl->port);
    return buf;
}

static const char *const kind_word[] = {"channel", "pattern", "shard channel"};

/* VMUX_EVENT_SUBSCRIPTION_MOVED: s went from one node to another. */
static void emit_moved(struct vmux *m, const struct vmux_sub *s, const struct vmux_sublink *from,
                       const struct vmux_sublink *to)
{
    char a[300], b[300], why[700];
    where_of(from, a, sizeof a);
    where_of(to, b, sizeof b);
    snprintf(why, sizeof why, "%s %.*s moved from %s to %s", kind_word[s->kind],
             (int)(s->name.len > 200 ? 200 : s->name.len), s->name.ptr, a, b);
    vmux__log(m->cfg, VMUX_LOG_INFO, "pubsub: %s", why);
    vmux__event(m->cfg, VMUX_EVENT_SUBSCRIPTION_MOVED, 0, b, why);
}

/*
 * After a ping-pong, s was confirmed on sl, a node a MOVED named: the map names it its slot's
 * owner, unless it does already (no refresh asked for then).
 */
static void patch_owner(struct vmux *m, const struct vmux_sub *s, const struct vmux_sublink *sl)
{
    unsigned slot = vmux__slot_of(s->name.ptr, s->name.len);
    const struct vmux_shard *sh = vmux__slotmap_owner(m->router.map, slot);
    if (sl->host == NULL ||
        (sh != NULL && sh->nnodes > 0 && !(sh->nodes[0].flags & VMUX_NODE_UNKNOWN) &&
         sh->nodes[0].port == sl->port && strcasecmp(sh->nodes[0].host, sl->host) == 0))
        return;
    vmux__router_moved(&m->router, slot, sl->host, strlen(sl->host), sl->port);
}

void vmux__sub_landed(struct vmux *m, struct vmux_sub *s, const struct vmux_sublink *sl)
{
    if (s->home != NULL && !same_node(s->home, sl))
        emit_moved(m, s, s->home, sl);
    if (s->bounced && s->kind == VMUX_SUB_SHARD)
        patch_owner(m, s, sl);
    s->home = sl;
    s->redirects = 0;
    s->bounced = false;
    memset(s->visited, 0, sizeof s->visited);
    s->bounce_at = 0;
    s->bounce_to = NULL;
}
