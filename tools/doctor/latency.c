/*
 * The latency step: PINGs one after another through the handle, each timed from the call to
 * its reply, so the figures include the library's own path as an application would see it.
 */
#include <stdlib.h>
#include <time.h>

#include "doctor.h"

/* Round trips slower than this (p99) are worth a warning: another region, or a busy server. */
#define SLOW_P99_US 100000L

static long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile p (0..100) of n sorted values. */
static long percentile(const long *v, int n, int p)
{
    int rank = (p * n + 99) / 100;
    return v[rank > 0 ? rank - 1 : 0];
}

/*
 * Sends the PINGs; returns how many got a reply, their times in us[0..]. Stops at a refusal
 * for the server's state (BUSY...): the rest would be refused too (and the library resends
 * one refused for LOADING or MASTERDOWN until its deadline).
 */
static int run_pings(vmux *m, int count, long *us, char *err, size_t errlen)
{
    int ok = 0;
    for (int i = 0; i < count; i++) {
        long t0 = now_us();
        vmux_reply *r = doc_call(m, err, errlen, 1, (const char *[]){"PING"});
        if (r == NULL && doc_state_of(err) != DOC_STATE_READY)
            break;
        if (r == NULL)
            continue;
        us[ok++] = now_us() - t0;
        vmux_reply_free(r);
    }
    return ok;
}

void doc_latency(doc_ctx *ctx, vmux *m, doc_endpoint *ep)
{
    if (ep->state != DOC_STATE_READY) {
        /* Every state refuses PING; the library would resend one refused for LOADING or
         * MASTERDOWN until its deadline, to learn what an earlier step already said. */
        doc_step_skip(&ctx->report, "latency", ep->label, doc_state_unseen(ep->state));
        return;
    }
    doc_step *s = doc_step_begin(&ctx->report, "latency", ep->label);
    long *us = calloc((size_t)ctx->pings, sizeof(long));
    char err[512] = "";
    int ok = us ? run_pings(m, ctx->pings, us, err, sizeof(err)) : 0;
    if (ok == 0 && us != NULL && doc_state_step(s, ep, err)) {
        /* said what the server is doing, or that it was not checked */
    } else if (ok == 0) {
        doc_step_set(s, DOC_FAIL, "no PING got a reply: %s", us ? err : "out of memory");
    } else {
        qsort(us, (size_t)ok, sizeof(long), cmp_long);
        long p50 = percentile(us, ok, 50), p99 = percentile(us, ok, 99), max = us[ok - 1];
        doc_step_set(s, DOC_OK, "p50 %.3f ms, p99 %.3f ms, max %.3f ms over %d PINGs", p50 / 1e3,
                     p99 / 1e3, max / 1e3, ok);
        doc_step_fact(s, "pings", "%d", ok);
        doc_step_fact(s, "p50_ms", "%.3f", p50 / 1e3);
        doc_step_fact(s, "p99_ms", "%.3f", p99 / 1e3);
        doc_step_fact(s, "max_ms", "%.3f", max / 1e3);
        if (ok < ctx->pings && doc_state_of(err) != DOC_STATE_READY) {
            /* the state came in the middle of the PINGs */
            doc_step_set(s, DOC_FAIL, "%d PINGs got a reply, then: %s", ok, err);
            doc_state_hint(s, doc_state_of(err));
        } else if (ok < ctx->pings) {
            s->verdict = DOC_FAIL;
            doc_step_hint(s, "%d of %d PINGs failed (%s): the connection is unstable",
                          ctx->pings - ok, ctx->pings, err);
        } else if (p99 > SLOW_P99_US) {
            s->verdict = DOC_WARN;
            doc_step_hint(s, "slow round trips: the server is far away (another region?) or "
                             "busy (see its SLOWLOG and CPU)");
        }
    }
    free(us);
    doc_step_end(&ctx->report, s);
}
