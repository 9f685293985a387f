/*
 * The connection events a handle reports, kept in order for a test to read back: register
 * vt_evlog_on_event as the handle's event handler with a vt_evlog as its userdata.
 */
#ifndef VMUX_TEST_EVLOG_H
#define VMUX_TEST_EVLOG_H

#include <pthread.h>

#include "vmux/vmux.h"

enum { VT_EVLOG_MAX = 512 };

/*
 * Initialize with {.mu = PTHREAD_MUTEX_INITIALIZER} (and .cap); read n and ev under mu while the
 * handle is open, freely once it is closed. At most cap events are kept (VT_EVLOG_MAX when cap
 * is 0 or larger); later ones are dropped. Endpoints and reasons are cut to fit.
 */
typedef struct vt_evlog {
    pthread_mutex_t mu;
    int cap;
    int n;
    struct {
        vmux_event_type type;
        int code;
        char endpoint[64];
        char reason[256];
    } ev[VT_EVLOG_MAX];
} vt_evlog;

/* A vmux event handler (on whichever thread the handle reports events) that appends e to the
 * vt_evlog ud points to, unless it is full. Never fails the running test. */
void vt_evlog_on_event(const vmux_event *e, void *ud);

#endif
