/*
 * The order of the checks: for each endpoint, the network path (resolve, tcp, tls) and then a
 * session on it (auth, server, role, cluster, zone, latency); last, the whole configuration
 * opened as an application would open it. A step that cannot run because an earlier one failed
 * is reported as skipped, so every endpoint has the same steps in the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "run.h"

static const char *const STEPS[] = {"resolve", "tcp",     "tls",  "auth",   "server",
                                    "role",    "cluster", "zone", "latency"};
#define NSTEPS (sizeof(STEPS) / sizeof(STEPS[0]))

/* Reports every step from index `from` on as skipped, for the reason why. */
static void skip_from(doc_ctx *ctx, const doc_endpoint *ep, size_t from, const char *why)
{
    for (size_t i = from; i < NSTEPS; i++)
        doc_step_skip(&ctx->report, STEPS[i], ep->label, why);
}

/* The network steps; true when a session can use the path they found. */
static bool check_path(doc_ctx *ctx, doc_endpoint *ep)
{
    if (!doc_resolve(ctx, ep)) {
        skip_from(ctx, ep, 1, "the name does not resolve");
        return false;
    }
    if (!doc_tcp(ctx, ep)) {
        skip_from(ctx, ep, 2, "no TCP connection");
        return false;
    }
    bool ok = ep->tls ? doc_tls(ctx, ep) : doc_plain(ctx, ep);
    if (!ok)
        skip_from(ctx, ep, 3, "the tls step failed");
    return ok;
}

/* Checks endpoint i; false when its network path failed (the endpoint is down from here). */
static bool check_endpoint(doc_ctx *ctx, size_t i, char *label, size_t len)
{
    doc_endpoint ep = {.usable = -1};
    vmux_config_endpoint(ctx->cfg, i, &ep.host, &ep.port);
    doc_hostport(ep.label, sizeof(ep.label), ep.host, ep.port);
    snprintf(label, len, "%s", ep.label);
    ep.sentinel = vmux_config_service_name(ctx->cfg) != NULL;
    ep.tls = ep.sentinel ? vmux_config_sentinel_tls(ctx->cfg) : vmux_config_ssl(ctx->cfg);
    if (!check_path(ctx, &ep))
        return false;
    if (ep.sentinel)
        skip_from(ctx, &ep, 3, "a sentinel: the open step checks the service it names");
    else
        doc_session(ctx, &ep);
    return true;
}

/* Whether a step in [from, to) failed. */
static bool failed_in(const doc_report *r, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (r->steps[i].verdict == DOC_FAIL)
            return true;
    return false;
}

/* What the endpoints came to: steps [from[i], to[i]) are endpoint i's. */
typedef struct doc_tally {
    size_t n, works;
    size_t *from, *to;
    bool *down;
    char working[300]; /* the first endpoint that works */
} doc_tally;

/*
 * With another endpoint working and the handle open, a down endpoint (its network path failed)
 * is a warning: the handle serves without it for now. Its failed steps say so.
 */
static void downgrade_down(doc_ctx *ctx, const doc_tally *t)
{
    for (size_t e = 0; e < t->n; e++) {
        for (size_t i = t->from[e]; t->down[e] && i < t->to[e]; i++) {
            doc_step *s = &ctx->report.steps[i];
            if (s->verdict != DOC_FAIL)
                continue;
            s->verdict = DOC_WARN;
            size_t used = strlen(s->detail);
            snprintf(s->detail + used, sizeof(s->detail) - used,
                     "; this endpoint is down, but %s works and the handle opened without it: "
                     "commands do not need it now",
                     t->working);
        }
    }
}

/* Whether the open step (the first step named open from `from` on) came out ok. */
static bool opened(const doc_report *r, size_t from)
{
    for (size_t i = from; i < r->n; i++)
        if (strcmp(r->steps[i].name, "open") == 0)
            return r->steps[i].verdict == DOC_OK;
    return false;
}

/*
 * Checks every endpoint, then opens the whole configuration. With several endpoints, a down
 * one fails the run only when none works or the handle does not open: its steps are held
 * (text mode) until that is known.
 */
void doc_run(doc_ctx *ctx)
{
    size_t n = vmux_config_endpoint_count(ctx->cfg);
    doc_tally t = {.n = n,
                   .from = calloc(n + 1, sizeof(size_t)),
                   .to = calloc(n + 1, sizeof(size_t)),
                   .down = calloc(n + 1, sizeof(bool))};
    bool several = n > 1 && t.from && t.to && t.down, any_down = false, other_failed = false;
    for (size_t i = 0; i < n; i++) {
        char label[300];
        size_t from = ctx->report.n;
        ctx->report.hold = several;
        bool up = check_endpoint(ctx, i, label, sizeof(label));
        if (!several)
            continue;
        t.from[i] = from;
        t.to[i] = ctx->report.n;
        t.down[i] = !up;
        any_down |= !up;
        other_failed |= up && failed_in(&ctx->report, from, ctx->report.n);
        if (up && !failed_in(&ctx->report, from, ctx->report.n) && t.works++ == 0)
            snprintf(t.working, sizeof(t.working), "%s", label);
        ctx->report.hold = any_down; /* once one is down, hold until the end */
        if (!any_down)
            doc_report_flush(&ctx->report);
    }
    size_t open_from = ctx->report.n;
    if (several && any_down && t.works > 0 && !other_failed) {
        doc_open_whole(ctx, false);
        if (opened(&ctx->report, open_from))
            downgrade_down(ctx, &t);
    } else {
        doc_open_whole(ctx, doc_report_status(&ctx->report) != 0);
    }
    ctx->report.hold = false;
    doc_report_flush(&ctx->report);
    free(t.from);
    free(t.to);
    free(t.down);
}
