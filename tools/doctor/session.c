/*
 * The auth step, and the session it opens: vmux_open() on one endpoint (cluster=no, one
 * attempt), then ACL WHOAMI. The library does AUTH exactly as an application's handle would,
 * with the configuration's user and password, which the tool never sees (the config does not
 * give the password back). Also the open step: the whole configuration, as given.
 */
#include <string.h>

#include "doctor.h"

/* A copy of the configuration aimed at this one endpoint, for one attempt. */
static vmux_config *one_endpoint(const vmux_config *cfg, const doc_endpoint *ep)
{
    vmux_config *c = vmux_config_dup(cfg);
    if (c == NULL)
        return NULL;
    vmux_config_clear_endpoints(c);
    if (vmux_config_add_endpoint(c, ep->host, ep->port) != 0) {
        vmux_config_free(c);
        return NULL;
    }
    vmux_config_set_cluster(c, VMUX_CLUSTER_NO);
    vmux_config_set_abort_connect(c, true);
    vmux_config_set_connect_retry(c, 1);
    vmux_config_set_read_from(c, VMUX_READ_PRIMARY);
    return c;
}

/* The hint for a failed vmux_open(), by its error and the reason it gave. */
static void open_hint(doc_step *s, int rc, const char *err, const vmux_config *cfg)
{
    const char *user = vmux_config_user(cfg);
    if (doc_state_of(err) != DOC_STATE_READY)
        doc_state_hint(s, doc_state_of(err)); /* a setup command refused: BUSY, LOADING... */
    else if (strstr(err, "WRONGPASS"))
        doc_step_hint(s,
                      "wrong user name or password (user=%s), or an expired token: ElastiCache "
                      "IAM auth tokens live 15 minutes, so make a fresh one",
                      user ? user : "default");
    else if (strstr(err, "NOAUTH"))
        doc_step_hint(s, "the server requires a password: set password= (and user= for an ACL "
                         "user other than default)");
    else if (strstr(err, "NOPERM"))
        doc_step_hint(s, "the ACL user may not run a command the session's setup needs (AUTH, "
                         "SELECT, CLIENT SETNAME): grant it, or drop defaultDatabase/name");
    else if (rc == VMUX_ERR_AUTH)
        doc_step_hint(s, "the server refused AUTH: check user= and password= (a server without "
                         "requirepass or ACL users refuses any password)");
    else if (rc == VMUX_ERR_SETUP)
        doc_step_hint(s, "the session setup was refused: check defaultDatabase (a cluster has "
                         "only database 0) and name");
    else if (rc == VMUX_ERR_TIMEOUT)
        doc_step_hint(s, "the connection was made but the session was not ready within "
                         "connectTimeout: the server may be loading its data or overloaded");
}

/*
 * Opens the session and says who it is authenticated as; NULL when it failed, with
 * *for_state true when it failed because of the server's state (BUSY...).
 */
static vmux *open_auth(doc_ctx *ctx, doc_endpoint *ep, bool *for_state)
{
    doc_step *s = doc_step_begin(&ctx->report, "auth", ep->label);
    vmux_config *c = one_endpoint(ctx->cfg, ep);
    char err[512] = "";
    vmux *m = NULL;
    int rc = c ? vmux_open(c, &m, err, sizeof(err)) : VMUX_ERR_NOMEM;
    vmux_config_free(c);
    if (rc != 0 && doc_state_of(err) != DOC_STATE_READY) {
        doc_step_set(s, DOC_FAIL, "could not open a session (%s)", vmux_err_name(rc));
        *for_state = doc_state_step(s, ep, err);
    } else if (rc != 0) {
        doc_step_set(s, DOC_FAIL, "could not open a session: %s (%s)", err, vmux_err_name(rc));
        open_hint(s, rc, err, ctx->cfg);
    }
    if (rc != 0) {
        doc_step_end(&ctx->report, s);
        return NULL;
    }
    const char *user = vmux_config_user(ctx->cfg);
    doc_step_fact(s, "user", "%s", user ? user : "(default)");
    doc_step_fact(s, "password", "%s", vmux_config_has_password(ctx->cfg) ? "set" : "not set");
    vmux_reply *r = doc_call(m, err, sizeof(err), 2, (const char *[]){"ACL", "WHOAMI"});
    if (r != NULL) {
        doc_step_set(s, DOC_OK, "session open, authenticated as \"%s\"", vmux_reply_str(r, NULL));
    } else if (doc_state_of(err) == DOC_STATE_READY) {
        doc_step_set(s, DOC_OK, "session open (ACL WHOAMI: %s)", err);
    } else if (ep->state != DOC_STATE_READY) {
        /* AUTH and HELLO pass while a script runs; WHOAMI does not. */
        doc_step_set(s, DOC_OK, "session open (ACL WHOAMI: %s)",
                     doc_state_unseen(doc_state_of(err)));
    } else {
        doc_step_set(s, DOC_OK, "session open");
        doc_state_step(s, ep, err);
    }
    vmux_reply_free(r);
    doc_step_end(&ctx->report, s);
    return m;
}

static const char *const SESSION_STEPS[] = {"server", "role", "cluster", "zone", "latency"};

void doc_session(doc_ctx *ctx, doc_endpoint *ep)
{
    bool for_state = false;
    vmux *m = open_auth(ctx, ep, &for_state);
    if (m == NULL) {
        const char *why =
            for_state ? doc_state_unseen(ep->state) : "no session (the auth step failed)";
        for (size_t i = 0; i < sizeof(SESSION_STEPS) / sizeof(SESSION_STEPS[0]); i++)
            doc_step_skip(&ctx->report, SESSION_STEPS[i], ep->label, why);
        return;
    }
    doc_server(ctx, m, ep);
    doc_role(ctx, m, ep);
    doc_cluster(ctx, m, ep);
    doc_zone(ctx, m, ep);
    doc_latency(ctx, m, ep);
    vmux_close(m);
}

/* What the open step reports on success: what the handle serves. */
static void describe_whole(doc_step *s, const vmux_config *cfg)
{
    const char *service = vmux_config_service_name(cfg);
    if (service != NULL)
        doc_step_set(s, DOC_OK,
                     "vmux_open() opened the configuration as given: the sentinels "
                     "named the primary of \"%s\", and it is ready",
                     service);
    else
        doc_step_set(s, DOC_OK,
                     "vmux_open() opened the configuration as given (%zu endpoint%s, "
                     "cluster=%s)",
                     vmux_config_endpoint_count(cfg),
                     vmux_config_endpoint_count(cfg) == 1 ? "" : "s",
                     vmux_config_cluster(cfg) == VMUX_CLUSTER_YES  ? "yes"
                     : vmux_config_cluster(cfg) == VMUX_CLUSTER_NO ? "no"
                                                                   : "auto");
}

void doc_open_whole(doc_ctx *ctx, bool earlier_failed)
{
    if (earlier_failed) {
        doc_step_skip(&ctx->report, "open", "", "an earlier step failed: fix that first");
        return;
    }
    doc_step *s = doc_step_begin(&ctx->report, "open", "");
    vmux_config *c = vmux_config_dup(ctx->cfg);
    char err[512] = "";
    vmux *m = NULL;
    int rc = c ? vmux_config_set_abort_connect(c, true) : VMUX_ERR_NOMEM;
    if (rc == 0)
        rc = vmux_open(c, &m, err, sizeof(err));
    if (rc == 0) {
        describe_whole(s, c);
    } else {
        doc_step_set(s, DOC_FAIL, "vmux_open() failed with the whole configuration: %s (%s)", err,
                     vmux_err_name(rc));
        open_hint(s, rc, err, ctx->cfg);
    }
    doc_step_end(&ctx->report, s);
    if (m != NULL && vmux_config_service_name(c) != NULL) {
        doc_endpoint service = {.host = "", .usable = -1};
        snprintf(service.label, sizeof(service.label), "service %s", vmux_config_service_name(c));
        doc_server(ctx, m, &service);
        doc_role(ctx, m, &service);
        doc_zone(ctx, m, &service);
        doc_latency(ctx, m, &service);
    }
    vmux_close(m);
    vmux_config_free(c);
}
