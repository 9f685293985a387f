/*
 * UNSUBSCRIBEs owed (mux/pubsub.h): the UNSUBSCRIBE of an ended subscription that could not be
 * written on its link's connection for want of memory. Its callback stops at once all the same
 * (it has left the registry: the messages still coming for it find no one), but the server
 * would go on sending them on that connection for as long as it lasts. So it is written again,
 * as a SUBSCRIBE that could not be is: by the reconciler, a second later, until it goes out.
 *
 * Remembering it must not need memory: the ended subscription itself is kept, on its link's
 * owed list, for its kind and name. Two things settle the debt without writing it: the
 * connection is replaced (a new one never had the subscription), and a subscription of the
 * same kind and name is on the link again (the server holds one per name and connection: the
 * late UNSUBSCRIBE would end the new one). I/O thread only.
 */
#include "core/log.h"
#include "mux/mux.h"

static const char *host_of(const struct vmux_sublink *sl)
{
    return sl->host != NULL ? sl->host : "?";
}

void vmux__sub_unsubscribe(struct vmux *m, struct vmux_sub *s)
{
    struct vmux_sublink *sl = s->at;
    if (vmux__sublink_send(sl, vmux__unsubscribe_cmd[s->kind], &s->name, NULL, s->hash) == 0)
        return;
    s->owed = true;
    vmux__log(m->cfg, VMUX_LOG_WARN, "pubsub: %s:%d: out of memory writing %s %.*s; trying again",
              host_of(sl), sl->port, vmux__unsubscribe_cmd[s->kind], (int)s->name.len, s->name.ptr);
    vmux__pubsub_reconcile_soon(m, VMUX__PUBSUB_RETRY_MS);
}

bool vmux__sub_owe(struct vmux_sub *s)
{
    struct vmux_sublink *sl = s->at;
    if (!s->owed || sl == NULL || sl->link == NULL || sl->m->pubsub.closed)
        return false; /* no link, or a closed one: no connection owes it */
    s->cb = NULL;     /* the caller's, which it may free now: never touched again */
    s->queue = NULL;
    s->userdata = NULL;
    s->onext = sl->owed;
    sl->owed = s;
    return true;
}

/* Takes s, the owed entry at *p, off sl's list, says why, and frees it. */
static void settle(struct vmux_sublink *sl, struct vmux_sub **p, const char *why)
{
    struct vmux_sub *s = *p;
    *p = s->onext;
    vmux__log(sl->m->cfg, VMUX_LOG_INFO, "pubsub: %s:%d: the %s %.*s owed since memory ran out: %s",
              host_of(sl), sl->port, vmux__unsubscribe_cmd[s->kind], (int)s->name.len, s->name.ptr,
              why);
    vmux__sub_free(s);
}

bool vmux__sublink_pay(struct vmux_sublink *sl)
{
    struct vmux_sub **p = &sl->owed;
    while (*p != NULL) {
        struct vmux_sub *s = *p;
        if (vmux__pubsub_others_at(&sl->m->pubsub, s, sl))
            settle(sl, p, "not sent, subscribed again");
        else if (!vmux__link_ready(sl->link)) /* checking after a freeze: later */
            p = &s->onext;
        else if (vmux__sublink_send(sl, vmux__unsubscribe_cmd[s->kind], &s->name, NULL, s->hash) ==
                 0)
            settle(sl, p, "written");
        else
            p = &s->onext;
    }
    return sl->owed == NULL;
}

void vmux__sublink_forgive(struct vmux_sublink *sl, const char *why)
{
    while (sl->owed != NULL)
        settle(sl, &sl->owed, why);
}
