/* The server, role and zone steps: what the server is, what it serves, and where it lives. */
#include <stdlib.h>
#include <string.h>

#include "doctor.h"

void doc_server(doc_ctx *ctx, vmux *m, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "server", ep->label);
    char err[512] = "", name[64] = "redis", version[64] = "?", mode[64] = "standalone";
    char *info = doc_info(m, "server", err, sizeof(err));
    if (info == NULL) {
        if (!doc_state_step(s, ep, err)) {
            doc_step_set(s, DOC_WARN, "INFO server refused: %s", err);
            doc_step_hint(s, "the ACL user may not run INFO: the library needs it for "
                             "cluster=auto and the replica checks; grant +info");
        }
        doc_step_end(&ctx->report, s);
        return;
    }
    doc_info_field(info, "server_name", name, sizeof(name));
    if (!doc_info_field(info, "valkey_version", version, sizeof(version)))
        doc_info_field(info, "redis_version", version, sizeof(version));
    if (!doc_info_field(info, "server_mode", mode, sizeof(mode)))
        doc_info_field(info, "redis_mode", mode, sizeof(mode));
    ep->is_cluster = strcmp(mode, "cluster") == 0;
    doc_step_set(s, DOC_OK, "%s %s (%s)", strcmp(name, "valkey") == 0 ? "Valkey" : name, version,
                 mode);
    doc_step_fact(s, "server_name", "%s", name);
    doc_step_fact(s, "version", "%s", version);
    doc_step_fact(s, "mode", "%s", mode);
    free(info);
    doc_step_end(&ctx->report, s);
}

/* "replica of host:port (link up)" from ROLE's replica reply: slave, host, port, state, ... */
static void replica_of(const vmux_reply *r, char *out, size_t len)
{
    const char *host = vmux_reply_str(vmux_reply_element(r, 1), NULL);
    const vmux_reply *port = vmux_reply_element(r, 2);
    const char *state = vmux_reply_str(vmux_reply_element(r, 3), NULL);
    snprintf(out, len, "a replica of %s:%lld (replication: %s)", host ? host : "?",
             port ? (long long)vmux_reply_integer(port) : 0LL, state ? state : "?");
}

/* The verdict on a replica: only a lone standalone endpoint that is one is a mistake. */
static void judge_replica(doc_step *s, const doc_ctx *ctx, const doc_endpoint *ep, const char *what)
{
    if (ep->is_cluster && vmux_config_cluster(ctx->cfg) != VMUX_CLUSTER_NO) {
        doc_step_set(s, DOC_OK, "%s; on a cluster the slot map leads the handle to the primaries",
                     what);
    } else if (vmux_config_endpoint_count(ctx->cfg) > 1 ||
               vmux_config_service_name(ctx->cfg) != NULL) {
        doc_step_set(s, DOC_OK, "%s; writes go to the endpoint that is the primary", what);
    } else {
        doc_step_set(s, DOC_WARN, "%s: this port serves reads only", what);
        doc_step_hint(s, "writes will fail with READONLY. Point the configuration at the "
                         "primary, or list the primary and its replicas and choose readFrom "
                         "(docs/replicas.md)");
    }
}

void doc_role(doc_ctx *ctx, vmux *m, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "role", ep->label);
    char err[512] = "", what[300];
    vmux_reply *r = doc_call(m, err, sizeof(err), 1, (const char *[]){"ROLE"});
    const char *role = r ? vmux_reply_str(vmux_reply_element(r, 0), NULL) : NULL;
    if (role == NULL && r == NULL && doc_state_step(s, ep, err)) {
        /* said what the server is doing, or that it was not checked */
    } else if (role == NULL) {
        doc_step_set(s, DOC_WARN, "ROLE refused: %s", r ? "unexpected reply" : err);
        doc_step_hint(s, "the ACL user may not run ROLE: the library uses it to find the primary "
                         "among several endpoints and under Sentinel; grant +role");
    } else if (strcmp(role, "master") == 0) {
        size_t n = vmux_reply_len(vmux_reply_element(r, 2));
        doc_step_set(s, DOC_OK, "primary, with %zu connected replica%s", n, n == 1 ? "" : "s");
        doc_step_fact(s, "replicas", "%zu", n);
    } else if (strcmp(role, "slave") == 0) {
        ep->is_replica = true;
        replica_of(r, what, sizeof(what));
        judge_replica(s, ctx, ep, what);
    } else {
        doc_step_set(s, DOC_WARN, "the server's role is \"%s\"", role);
        if (strcmp(role, "sentinel") == 0)
            doc_step_hint(s, "this is a sentinel, not a data node: set serviceName= (or use a "
                             "valkey+sentinel:// URL) so the handle asks it for the primary");
    }
    if (role != NULL)
        doc_step_fact(s, "role", "%s", strcmp(role, "slave") == 0 ? "replica" : role);
    vmux_reply_free(r);
    doc_step_end(&ctx->report, s);
}

/* True for the readFrom policies that compare zones. */
static bool az_policy(const vmux_config *cfg)
{
    vmux_read_from rf = vmux_config_read_from(cfg);
    return rf == VMUX_READ_AZ_AFFINITY || rf == VMUX_READ_AZ_AFFINITY_REPLICAS_AND_PRIMARY;
}

/* The verdict on the server's zone against the client's and the readFrom policy. */
static void judge_zone(doc_step *s, const vmux_config *cfg, const char *zone)
{
    const char *client = vmux_config_client_az(cfg);
    if (!zone[0] && az_policy(cfg)) {
        doc_step_set(s, DOC_WARN, "the server announces no availability zone");
        doc_step_hint(s, "readFrom=azAffinity cannot prefer a zone the servers do not announce: "
                         "set availability-zone on every server (Valkey 8)");
    } else if (!zone[0]) {
        doc_step_set(s, DOC_OK, "the server announces no availability zone");
    } else if (client == NULL) {
        doc_step_set(s, DOC_OK, "zone %s (clientAz is not set)", zone);
        if (az_policy(cfg)) {
            s->verdict = DOC_WARN;
            doc_step_hint(s, "readFrom=azAffinity without clientAz treats every server as in "
                             "another zone: set clientAz to this machine's zone");
        }
    } else {
        doc_step_set(s, DOC_OK, "zone %s, %s the client's (clientAz=%s)", zone,
                     strcmp(zone, client) == 0 ? "the same as" : "not", client);
    }
}

void doc_zone(doc_ctx *ctx, vmux *m, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "zone", ep->label);
    char err[512] = "", zone[128] = "";
    char *info = doc_info(m, "server", err, sizeof(err));
    if (info == NULL) {
        if (!doc_state_step(s, ep, err))
            doc_step_set(s, DOC_WARN, "INFO server refused: %s", err);
    } else if (!doc_info_field(info, "availability_zone", zone, sizeof(zone))) {
        doc_step_set(s, DOC_OK, "the server does not report availability_zone (before Valkey 8)");
    } else {
        judge_zone(s, ctx->cfg, zone);
        doc_step_fact(s, "availability_zone", "%s", zone);
    }
    free(info);
    doc_step_end(&ctx->report, s);
}
