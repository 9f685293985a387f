/*
 * The order of the checks: for each endpoint, the network path (resolve, tcp, tls) and then a
 * session on it (auth, server, role, cluster, zone, latency); last, the whole configuration
 * opened as an application would open it. A step that cannot run because an earlier one failed
 * is reported as skipped, so every endpoint has the same steps in the report.
 */
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

static void check_endpoint(doc_ctx *ctx, size_t i)
{
    doc_endpoint ep = {.usable = -1};
    vmux_config_endpoint(ctx->cfg, i, &ep.host, &ep.port);
    doc_hostport(ep.label, sizeof(ep.label), ep.host, ep.port);
    ep.sentinel = vmux_config_service_name(ctx->cfg) != NULL;
    ep.tls = ep.sentinel ? vmux_config_sentinel_tls(ctx->cfg) : vmux_config_ssl(ctx->cfg);
    if (!check_path(ctx, &ep))
        return;
    if (ep.sentinel)
        skip_from(ctx, &ep, 3, "a sentinel: the open step checks the service it names");
    else
        doc_session(ctx, &ep);
}

void doc_run(doc_ctx *ctx)
{
    size_t n = vmux_config_endpoint_count(ctx->cfg);
    for (size_t i = 0; i < n; i++)
        check_endpoint(ctx, i);
    doc_open_whole(ctx, doc_report_status(&ctx->report) != 0);
}
