/*
 * The replay guard (mux/pubsub.h): what each subscriber link delivered last, and the messages
 * that must not come again from the link subscriptions moved to.
 *
 * Why: a message reaches the nodes of a cluster one by one (the publisher's node sends it on
 * the cluster bus to each), and under load the bus brings it to one node tens of milliseconds
 * after another. A move after a failure takes a few milliseconds. So the node that failed may
 * have delivered a message that the new node receives only after the handle subscribed there,
 * and delivers too: one publish, two deliveries. Nothing in a message tells it apart from
 * another with the same content, so the guard goes by content and time: a message identical
 * to one the old link delivered in its last VMUX__GUARD_MS, arriving on the new link within
 * VMUX__GUARD_MS of the confirmation there of a subscription that moved, is the replay, and each
 * delivered one excuses one arrival. Only the moved subscriptions' own confirmations count: the
 * guard waits for them, and when none is left to come (each went on elsewhere, or ended) and none
 * came, nothing can be replayed and it is dropped. A confirmation of any other subscription on
 * the link opened its window, maybe hours later, and dropped as many heartbeats identical to what
 * the old link had delivered (helper-184). I/O thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "mux/pubsub.h"

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

uint64_t vmux__pubsub_fingerprint(vmux_sub_kind kind, const vmux_message *msg)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t)kind;
    /* the lengths too: "ab"+"c" and "a"+"bc" differ */
    size_t lens[3] = {msg->channel.len, msg->pattern.len, msg->payload.len};
    h = fnv(h, lens, sizeof lens);
    h = fnv(h, msg->channel.ptr, msg->channel.len);
    h = fnv(h, msg->pattern.ptr, msg->pattern.len);
    h = fnv(h, msg->payload.ptr, msg->payload.len);
    return h != 0 ? h : 1; /* 0 marks a spent guard entry */
}

void vmux__sublink_seen(struct vmux_sublink *sl, uint64_t fp, uint64_t now)
{
    if (sl->seen == NULL && (sl->seen = malloc(VMUX__SEEN_MAX * sizeof *sl->seen)) == NULL)
        return; /* no guard for this link: deliveries go on */
    sl->seen[sl->seen_next] = (struct vmux_sub_seen){fp, now};
    sl->seen_next = (sl->seen_next + 1) % VMUX__SEEN_MAX;
    sl->seen_total++;
    if (sl->seen_n < VMUX__SEEN_MAX)
        sl->seen_n++;
}

static int by_fp(const void *a, const void *b)
{
    uint64_t x = ((const struct vmux_sub_seen *)a)->fp, y = ((const struct vmux_sub_seen *)b)->fp;
    return x < y ? -1 : x > y;
}

static void drop_guard(struct vmux_sublink *sl)
{
    free(sl->guard);
    sl->guard = NULL;
    sl->nguard = 0;
    sl->guard_until = 0;
}

/* Drops sl's guard when it is over: no window open, and no moved subscription to wait for. */
static void drop_if_over(struct vmux_sublink *sl, uint64_t now)
{
    if (sl->guard != NULL && sl->guard_wait == 0 && now >= sl->guard_until)
        drop_guard(sl);
}

bool vmux__sublink_replay(struct vmux_sublink *sl, uint64_t fp, uint64_t now)
{
    drop_if_over(sl, now);
    /* armed from the move to the first confirmation of a subscription that moved here (another
     * subscription of the same name may bring its messages before), then GUARD_MS from each */
    if (sl->guard == NULL || (sl->guard_until != 0 && now >= sl->guard_until))
        return false;
    /* equal fingerprints sit together: the first unspent one of them is taken */
    struct vmux_sub_seen key = {fp, 0};
    struct vmux_sub_seen *hit = bsearch(&key, sl->guard, sl->nguard, sizeof key, by_fp);
    if (hit == NULL)
        return false;
    while (hit > sl->guard && hit[-1].fp == fp)
        hit--;
    for (; hit < sl->guard + sl->nguard && hit->fp == fp; hit++)
        if (hit->ms != UINT64_MAX) {
            hit->ms = UINT64_MAX; /* spent: the same content again is a new message */
            return true;
        }
    return false;
}

/* How many of from's remembered deliveries came after its delivery number `after`. */
static size_t delivered_since(const struct vmux_sublink *from, uint64_t after)
{
    uint64_t n = from->seen_total - after;
    return n < from->seen_n ? (size_t)n : from->seen_n;
}

/* Appends to to's guard the newest n of from's deliveries that are within the guard's reach. */
static void copy_newest(struct vmux_sublink *to, const struct vmux_sublink *from, size_t n,
                        uint64_t now)
{
    struct vmux_sub_seen *g = realloc(to->guard, (to->nguard + n) * sizeof *g);
    if (g == NULL)
        return;
    to->guard = g;
    for (size_t j = 0; j < n; j++) {
        size_t i = (from->seen_next + VMUX__SEEN_MAX - 1 - j) % VMUX__SEEN_MAX;
        if (from->seen[i].ms + VMUX__GUARD_MS >= now)
            g[to->nguard++] = from->seen[i];
    }
    qsort(g, to->nguard, sizeof *g, by_fp);
}

void vmux__sub_inherit(struct vmux_sub *s, struct vmux_sublink *to, const struct vmux_sublink *from,
                       uint64_t now)
{
    if (from == NULL || from == to || from->seen_n == 0)
        return;            /* nothing delivered there */
    drop_if_over(to, now); /* an earlier move's: no message came to drop it */
    /* A delivery copied by an earlier move from the same link (another of its subscriptions
     * moving a little later, the next bounce of a ping-pong) is not copied again: each would
     * excuse one more arrival, and one delivery cancel several (helper-176). */
    size_t n = to->guard_from == from ? delivered_since(from, to->guard_seen) : from->seen_n;
    to->guard_from = from;
    to->guard_seen = from->seen_total;
    if (n > 0)
        copy_newest(to, from, n, now);
    if (to->nguard == 0)
        return; /* out of memory, or nothing recent: nothing to guard against */
    VMUX_ASSERT(!s->guarded);
    s->guarded = true; /* its confirmation on to opens the window */
    to->guard_wait++;
}

/* s, guarded, stops being waited for on its link. */
static struct vmux_sublink *unwait(struct vmux_sub *s)
{
    struct vmux_sublink *sl = s->at;
    s->guarded = false;
    if (sl->guard_wait > 0) /* 0 once the link's guard is forgotten (retired) */
        sl->guard_wait--;
    return sl;
}

void vmux__sub_guard_confirmed(struct vmux_sub *s, uint64_t now)
{
    if (!s->guarded)
        return;
    struct vmux_sublink *sl = unwait(s);
    if (sl->guard != NULL)
        sl->guard_until = now + VMUX__GUARD_MS; /* its replays come after its confirmation */
}

void vmux__sub_unguard(struct vmux_sub *s)
{
    if (!s->guarded)
        return;
    struct vmux_sublink *sl = unwait(s);
    if (sl->guard_wait == 0 && sl->guard_until == 0)
        drop_guard(sl); /* none that moved here was confirmed: none can be replayed here */
}

/* Whether sl delivered fp in its last VMUX__GUARD_MS (newest first: the overlap of a move is
 * short, and so is the look). */
static bool delivered_lately(const struct vmux_sublink *sl, uint64_t fp, uint64_t now)
{
    for (size_t j = 0; j < sl->seen_n; j++) {
        const struct vmux_sub_seen *e =
            &sl->seen[(sl->seen_next + VMUX__SEEN_MAX - 1 - j) % VMUX__SEEN_MAX];
        if (e->ms + VMUX__GUARD_MS < now)
            return false;
        if (e->fp == fp)
            return true;
    }
    return false;
}

/* Adds fp to sl's guard: if it comes there within VMUX__GUARD_MS (or of the confirmation the
 * guard waits for), it is a replay. Out of memory: not added (it may then come twice). */
static void excuse(struct vmux_sublink *sl, uint64_t fp, uint64_t now)
{
    drop_if_over(sl, now);
    struct vmux_sub_seen *g = realloc(sl->guard, (sl->nguard + 1) * sizeof *g);
    if (g == NULL)
        return;
    sl->guard = g;
    g[sl->nguard++] = (struct vmux_sub_seen){fp, now};
    qsort(g, sl->nguard, sizeof *g, by_fp);
    if (sl->guard_until != 0 || sl->guard_wait == 0) /* else its confirmation opens the window */
        sl->guard_until =
            now + VMUX__GUARD_MS > sl->guard_until ? now + VMUX__GUARD_MS : sl->guard_until;
}

bool vmux__sub_overlap_replay(struct vmux_sub *s, uint64_t fp, uint64_t now)
{
    struct vmux_sublink *to = s->at;
    if (to == NULL)
        return false;
    if (delivered_lately(to, fp, now))
        return true;
    excuse(to, fp, now);
    return false;
}

void vmux__sublink_forget_seen(struct vmux_sublink *sl)
{
    free(sl->seen);
    sl->seen = NULL;
    sl->seen_n = sl->seen_next = 0;
    drop_guard(sl);
    sl->guard_wait = 0;
    sl->guard_from = NULL;
}
