#include "readers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "vmux/vmux.h"

#define MAX_THREADS 16

struct reader {
    vt_readers *all;
    uv_thread_t thread;
    atomic_long done, failed;
    int first_rc;
};

struct vt_readers {
    vmux *m;
    char prefix[32];
    int nkeys, nthreads;
    atomic_bool stop;
    struct reader rd[MAX_THREADS];
};

static void reader_main(void *arg)
{
    struct reader *rd = arg;
    vt_readers *all = rd->all;
    for (int i = 0; !atomic_load(&all->stop); i++) {
        char k[64];
        snprintf(k, sizeof k, "%s%d", all->prefix, i % all->nkeys);
        vmux_bytes v = {0};
        int rc = vmux_get(all->m, NULL, VMUX_STR(k), &v);
        vmux_bytes_free(&v);
        if (rc == 0)
            atomic_fetch_add(&rd->done, 1);
        else if (atomic_fetch_add(&rd->failed, 1) == 0)
            rd->first_rc = rc;
    }
}

vt_readers *vt_readers_start(vmux *m, const char *prefix, int nkeys, int nthreads)
{
    assert_true(nthreads >= 1 && nthreads <= MAX_THREADS && nkeys >= 1);
    assert_true(strlen(prefix) < sizeof(((vt_readers *)0)->prefix));
    vt_readers *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->m = m;
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    r->nkeys = nkeys;
    r->nthreads = nthreads;
    for (int t = 0; t < nthreads; t++) {
        r->rd[t].all = r;
        assert_int_equal(uv_thread_create(&r->rd[t].thread, reader_main, &r->rd[t]), 0);
    }
    return r;
}

long vt_readers_done(vt_readers *r)
{
    long done = 0;
    for (int t = 0; t < r->nthreads; t++)
        done += atomic_load(&r->rd[t].done);
    return done;
}

void vt_readers_stop(vt_readers *r)
{
    atomic_store(&r->stop, true);
    for (int t = 0; t < r->nthreads; t++)
        uv_thread_join(&r->rd[t].thread);
    long failed = 0;
    int first = 0, rc = 0;
    for (int t = r->nthreads; t-- > 0;)
        if (atomic_load(&r->rd[t].failed) != 0) {
            failed += atomic_load(&r->rd[t].failed);
            first = t;
            rc = r->rd[t].first_rc;
        }
    free(r);
    if (failed != 0)
        fail_msg("%ld reads failed; thread %d's first with %d", failed, first, rc);
}
