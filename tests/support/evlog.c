/* The connection events a handle reports, kept in order (evlog.h). */
#include <stdio.h>

#include "evlog.h"

void vt_evlog_on_event(const vmux_event *e, void *ud)
{
    vt_evlog *log = ud;
    int cap = log->cap > 0 && log->cap < VT_EVLOG_MAX ? log->cap : VT_EVLOG_MAX;
    pthread_mutex_lock(&log->mu);
    if (log->n < cap) {
        log->ev[log->n].type = e->type;
        log->ev[log->n].code = e->code;
        snprintf(log->ev[log->n].endpoint, sizeof log->ev[0].endpoint, "%s", e->endpoint);
        snprintf(log->ev[log->n].reason, sizeof log->ev[0].reason, "%s", e->reason);
        log->n++;
    }
    pthread_mutex_unlock(&log->mu);
}
