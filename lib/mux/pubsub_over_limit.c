/*
 * A subscriber's message over a reply limit (maxBulkLength, maxReplyElements, maxReplyBuffer):
 * refused by the reader and skipped as it comes, it is dropped here, counted and logged, and the
 * connection goes on. It failed the connection before, which was replaced and its subscriptions
 * sent again: the messages published meanwhile were lost with the one over the limit, and a
 * publisher that kept sending such messages kept the subscriber reconnecting.
 */
#include <stdio.h>
#include <string.h>

#include "core/counters.h"
#include "core/log.h"
#include "core/reply_internal.h"
#include "mux/mux.h"
#include "mux/pubsub.h"

/* The channel of a message's part (pmessage: [pmessage, pattern, channel, ...]), or NULL when
 * it was not read whole before the limit (or the push is no message: *message false). */
static const vmux_reply *channel_of(const vmux_reply *part, bool *message)
{
    const vmux_reply *e0 = vmux_reply_element(part, 0);
    *message = vmux__reply_is(e0, "message") || vmux__reply_is(e0, "smessage") ||
               vmux__reply_is(e0, "pmessage");
    if (!*message)
        return NULL;
    return vmux_reply_element(part, vmux__reply_is(e0, "pmessage") ? 2 : 1);
}

/* The first drop, then at most one line per VMUX__PUBSUB_OVER_LIMIT_LOG_MS, naming this one. */
static void warn(struct vmux_sublink *sl, const vmux_reply *channel, const char *why)
{
    struct vmux *m = sl->m;
    struct vmux_pubsub *ps = &m->pubsub;
    uint64_t now = uv_now(&m->loop);
    if (ps->over_limit_logged_ms != 0 &&
        now - ps->over_limit_logged_ms < VMUX__PUBSUB_OVER_LIMIT_LOG_MS) {
        ps->over_limit_unlogged++;
        return;
    }
    char where[300] = "", more[80] = "";
    if (sl->host != NULL)
        snprintf(where, sizeof where, " %s:%d", sl->host, sl->port);
    if (ps->over_limit_unlogged > 0)
        snprintf(more, sizeof more, "; %llu more since the last such line",
                 (unsigned long long)ps->over_limit_unlogged);
    size_t len = 0;
    const char *name = vmux_reply_str(channel, &len);
    vmux__log(m->cfg, VMUX_LOG_WARN,
              "subscriber connection%s: dropped a message%s%.*s%s over a reply limit: %s (the "
              "connection goes on; counted in pubsub_over_limit)%s",
              where, name != NULL ? " on '" : "", (int)(len < 200 ? len : 200),
              name != NULL ? name : "", name != NULL ? "'" : "", why, more);
    ps->over_limit_logged_ms = now != 0 ? now : 1;
    ps->over_limit_unlogged = 0;
}

bool vmux__pubsub_on_over_limit(const vmux_reply *part, const char *why, void *arg)
{
    struct vmux_sublink *sl = arg;
    bool message;
    const vmux_reply *channel = channel_of(part, &message);
    if (!message) /* a confirmation or an error: the answer to a request, which must not go */
        return false;
    vmux__count(&sl->m->ctr.pubsub_over_limit, 1);
    warn(sl, channel, why);
    return true;
}
