/*
 * A connection's own commands, answered to the connection rather than to a caller: session
 * setup, the role check that finds the primary among several endpoints, the heartbeats and the
 * check after a process freeze (sent when liveness.c says), AUTH renewals.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/errclass.h"
#include "core/expect.h"
#include "core/log.h"
#include "core/near_prefix.h"
#include "core/redact.h"
#include "core/reply_internal.h"
#include "core/why.h"
#include "net/link_internal.h"
#include "vmux/error.h"
#include "vmux/version.h"

/* The credentials provider's buffers (config.h). An ElastiCache IAM token carries the STS session
 * token, up to 4096 bytes, percent-encoded (at most 3 bytes each): 16 KiB holds it with room. */
#define CRED_USER_SIZE 256
#define CRED_PASSWORD_SIZE 16384

static const char LABEL_AUTH[] = "AUTH";
static const char LABEL_REAUTH[] = "AUTH (renewal)"; /* a live connection's, reauthInterval */
static const char LABEL_SELECT[] = "SELECT";
static const char LABEL_SETNAME[] = "CLIENT SETNAME";
static const char LABEL_SETINFO[] = "CLIENT SETINFO";
static const char LABEL_ROLE[] = "ROLE";
static const char LABEL_ROLE_CLUSTER[] = "INFO cluster";       /* after ROLE named no primary */
static const char LABEL_ROLE_LONE[] = "ROLE (after READONLY)"; /* net/lone.c */
static const char LABEL_READONLY[] = "READONLY";
static const char LABEL_CLUSTER[] = "CLUSTER MYID"; /* still a cluster node? (cluster_only) */
static const char LABEL_ZONE[] = "INFO server";     /* its availability_zone */
/* INFO replication: a replica's link to its primary and offset, a primary's offset (repl.c) */
static const char LABEL_LAG_SETUP[] = "INFO replication";
static const char LABEL_LAG[] = "INFO replication (tick)";
/* The near cache (client-side caching): in setup, and a re-point of a live connection. */
static const char LABEL_TRACK_SETUP[] = "CLIENT TRACKING";
static const char LABEL_TRACK[] = "CLIENT TRACKING (re-point)";
/* READONLY or READWRITE on a live connection: its node changed role (vmux__link_set_readonly()) */
static const char LABEL_READ_MODE[] = "READONLY/READWRITE";
static const char LABEL_PING[] = "PING";   /* idle heartbeat */
static const char LABEL_CHECK[] = "CHECK"; /* proof of life after a freeze */

/* Queues an internal command; returns false (the connection failed) when out of memory. */
static bool push(struct vmux_conn *c, const char *label, uint32_t flags, int argc,
                 const char *const *argv)
{
    struct vmux_op *op;
    if (c->phase == CONN_ENDED)
        return false;
    if (vmux__encode_op(argc, argv, NULL, &op) != 0) {
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for %s", label);
        return false;
    }
    op->flags = VMUX_OP_INTERNAL | VMUX_OP_OWN | flags;
    op->label = label;
    op->expect = vmux__expect_of(argc, argv); /* a reply of another kind fails the connection */
    if (vmux__conn_write_op(c, op) != 0) {    /* it took op, and freed it */
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for %s", label);
        return false;
    }
    return true;
}

static void setup_push(struct vmux_conn *c, const char *label, uint32_t flags, int argc,
                       const char *const *argv)
{
    if (push(c, label, flags, argc, argv))
        c->setup_left++;
}

static void wipe_free(char **s)
{
    if (*s != NULL) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

/* Keeps the provider's answer until setup ends, so that failure reasons can be redacted of it. */
static bool keep_credentials(struct vmux_conn *c, const char *user, const char *pass)
{
    wipe_free(&c->auth_user);
    wipe_free(&c->auth_pass);
    c->auth_user = strdup(user);
    c->auth_pass = strdup(pass);
    return c->auth_user != NULL && c->auth_pass != NULL;
}

/* Queues AUTH [user] pass: a step of the setup, or the renewal of a live connection's. */
static void push_auth(struct vmux_conn *c, const char *label, const char *user, const char *pass)
{
    const char *const with_user[] = {"AUTH", user, pass}, *const without[] = {"AUTH", pass};
    int argc = user[0] != '\0' ? 3 : 2;
    if (label == LABEL_AUTH)
        setup_push(c, label, VMUX_OP_SECRET, argc, argc == 3 ? with_user : without);
    else
        push(c, label, VMUX_OP_SECRET, argc, argc == 3 ? with_user : without);
}

/*
 * A provider's failure (rc) in words: its own when it left some (vmux_iam_credentials(): "IAM
 * token: 17003 bytes needed, the buffer has 16384"), else what it returned and the buffers it had.
 * In setup it fails the connection; on a live one (a renewal) it is only logged.
 */
static void provider_failed(struct vmux_conn *c, bool setup, int rc)
{
    char why[160], code[48] = "";
    const char *name = vmux_err_name(rc);
    if (strcmp(name, "VMUX_ERR_UNKNOWN") != 0) /* else a number of the provider's own */
        snprintf(code, sizeof code, " (%s)", name);
    if (vmux_last_error()[0] != '\0')
        snprintf(why, sizeof why, "%s", vmux_last_error());
    else
        snprintf(why, sizeof why, "it returned %d%s with buffers of %d and %d bytes", rc, code,
                 CRED_USER_SIZE, CRED_PASSWORD_SIZE);
    if (setup)
        vmux__conn_fail(c, VMUX_ERR_AUTH, "the credentials provider failed: %s", why);
    else
        vmux__log(c->link->cfg, VMUX_LOG_WARN,
                  "%s: the credentials provider failed: %s; re-AUTH later", c->where, why);
}

/* Asks the provider for credentials into user and pass (CRED_*_SIZE bytes); returns its answer. */
static int call_provider(const struct vmux_config *cfg, char *user, char *pass)
{
    vmux__why_begin(); /* words the provider leaves (vmux_iam_credentials()) are then its own */
    return cfg->credentials_fn(user, CRED_USER_SIZE, pass, CRED_PASSWORD_SIZE,
                               cfg->credentials_userdata);
}

/*
 * AUTH with the credentials provider's fresh answer (buffers wiped after use): label
 * LABEL_AUTH in setup, where a failure fails the connection, or LABEL_REAUTH on a live
 * connection, where it is only logged (the connection stays authenticated as it was). Once per
 * connection attempt or renewal, never per command: the 16 KiB it allocates and wipes are not
 * on a hot path.
 */
static void provider_auth(struct vmux_conn *c, const char *label)
{
    const struct vmux_config *cfg = c->link->cfg;
    bool setup = label == LABEL_AUTH;
    char *user = calloc(1, CRED_USER_SIZE), *pass = calloc(1, CRED_PASSWORD_SIZE);
    int rc = 0;
    if (user == NULL || pass == NULL) {
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for credentials");
    } else if ((rc = call_provider(cfg, user, pass)) != 0) {
        provider_failed(c, setup, rc);
    } else {
        user[CRED_USER_SIZE - 1] = pass[CRED_PASSWORD_SIZE - 1] = '\0';
        if (setup && !keep_credentials(c, user, pass))
            vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for credentials");
        else
            push_auth(c, label, user, pass);
    }
    if (user != NULL)
        OPENSSL_cleanse(user, CRED_USER_SIZE);
    if (pass != NULL)
        OPENSSL_cleanse(pass, CRED_PASSWORD_SIZE);
    free(user);
    free(pass);
}

/* AUTH with the provider's fresh credentials, or the config's. */
static void session_auth(struct vmux_conn *c)
{
    const struct vmux_config *cfg = c->link->cfg;
    if (cfg->credentials_fn != NULL)
        provider_auth(c, LABEL_AUTH);
    else if (cfg->password != NULL && cfg->user != NULL)
        setup_push(c, LABEL_AUTH, VMUX_OP_SECRET, 3,
                   (const char *[]){"AUTH", cfg->user, cfg->password});
    else if (cfg->password != NULL)
        setup_push(c, LABEL_AUTH, VMUX_OP_SECRET, 2, (const char *[]){"AUTH", cfg->password});
}

/*
 * Under a readFrom other than primary, a link that may serve reads or be a primary whose
 * replicas do (a node link, the handle's own link) watches its server's replication state; a
 * sentinel's, a pool's or a subscriber's does not.
 */
static bool watches_lag(const struct vmux_link *link)
{
    const struct vmux_config *cfg = link->cfg;
    return cfg->read_from != VMUX_READ_PRIMARY && !cfg->sentinel_conn &&
           (cfg->cluster_node || (!link->auxiliary && link->push_fn == NULL));
}

/*
 * readFrom (docs/replicas.md): a cluster replica serves reads only on a READONLY connection, so
 * every node link of a cluster handle sends it until the map names its node a primary, and so
 * does the seed link unless cluster=no: its server may be a cluster replica, whose node it then
 * serves, and a VMUX_CALL_REPLICA read sent there under readFrom=primary would otherwise come back
 * MOVED (a standalone server refuses READONLY: ignored). A primary's link goes without it
 * (vmux__link_set_readonly()), so that once demoted its node redirects reads too. The azAffinity
 * policies need the node's zone. Neither may fail the connection, whatever the server or the
 * ACL says.
 */
static void setup_read_from(struct vmux_conn *c, const struct vmux_config *cfg)
{
    c->readonly = c->link->readonly;
    if (c->readonly)
        setup_push(c, LABEL_READONLY, VMUX_OP_IGNORE_ERROR, 1, (const char *[]){"READONLY"});
    if (cfg->read_from == VMUX_READ_AZ_AFFINITY ||
        cfg->read_from == VMUX_READ_AZ_AFFINITY_REPLICAS_AND_PRIMARY)
        setup_push(c, LABEL_ZONE, VMUX_OP_IGNORE_ERROR, 2, (const char *[]){"INFO", "server"});
    if (watches_lag(c->link))
        setup_push(c, LABEL_LAG_SETUP, VMUX_OP_IGNORE_ERROR, 2,
                   (const char *[]){"INFO", "replication"});
}

/* Keeps INFO server's availability_zone in the link ("" when the server has none). */
static void keep_zone(struct vmux_link *link, const vmux_reply *reply)
{
    static const char field[] = "availability_zone:";
    size_t len;
    const char *info = vmux_reply_str(reply, &len);
    link->az[0] = '\0';
    const char *at = info != NULL ? strstr(info, field) : NULL;
    if (at == NULL || (at != info && at[-1] != '\n'))
        return;
    at += sizeof field - 1;
    size_t n = strcspn(at, "\r\n");
    if (n < sizeof link->az) {
        memcpy(link->az, at, n);
        link->az[n] = '\0';
    }
}

/* BCAST's arguments after REDIRECT id: BCAST, then PREFIX p for each of nearCachePrefixes. */
static int bcast_args(const struct vmux_config *cfg, const char **argv, char **copy)
{
    const char *prefixes[VMUX_NEAR_MAX_PREFIXES];
    int n = vmux__near_prefix_split(cfg->near_cache_prefixes, copy, prefixes);
    argv[0] = "BCAST";
    for (int i = 0; i < n; i++) {
        argv[1 + 2 * i] = "PREFIX";
        argv[2 + 2 * i] = prefixes[i];
    }
    return n < 0 ? -1 : 1 + 2 * n;
}

/*
 * A live BCAST connection is re-pointed after CLIENT TRACKING OFF: a second ON would add its
 * prefixes to the first's, and the server refuses a prefix it already has.
 */
static bool track_off(struct vmux_conn *c)
{
    if (!push(c, LABEL_TRACK, VMUX_OP_IGNORE_ERROR, 3,
              (const char *[]){"CLIENT", "TRACKING", "OFF"}))
        return false;
    c->track_inflight++;
    return true;
}

/*
 * CLIENT TRACKING ON REDIRECT id, then OPTIN (only reads after CLIENT CACHING YES are tracked)
 * or, under nearCacheMode=bcast, BCAST PREFIX p... (every key under the prefixes).
 */
static bool track_push(struct vmux_conn *c, const char *label, long long id)
{
    const struct vmux_config *cfg = c->link->cfg;
    bool bcast = cfg->near_cache_mode == VMUX_NEAR_BCAST;
    if (bcast && label == LABEL_TRACK && !track_off(c))
        return false;
    char num[24], *copy = NULL;
    snprintf(num, sizeof num, "%lld", id);
    const char *argv[5 + 1 + 2 * VMUX_NEAR_MAX_PREFIXES] = {"CLIENT",   "TRACKING", "ON",
                                                            "REDIRECT", num,        "OPTIN"};
    int extra = bcast ? bcast_args(cfg, argv + 5, &copy) : 1;
    if (extra < 0) {
        vmux__conn_fail(c, VMUX_ERR_NOMEM, "out of memory for %s", label);
        return false;
    }
    bool pushed = push(c, label, VMUX_OP_IGNORE_ERROR, 5 + extra, argv);
    free(copy);
    if (!pushed)
        return false;
    c->setup_left += label == LABEL_TRACK_SETUP;
    c->track_id = id;
    c->track_inflight++;
    return true;
}

bool vmux__setup_readonly(struct vmux_conn *c, bool on)
{
    c->readonly = on;
    return push(c, LABEL_READ_MODE, VMUX_OP_IGNORE_ERROR, 1,
                (const char *[]){on ? "READONLY" : "READWRITE"});
}

bool vmux__setup_track(struct vmux_conn *c, long long id)
{
    return track_push(c, LABEL_TRACK, id);
}

/* A tracking link's connection tracks from its setup on, redirected to the id its owner names. */
static void setup_tracking(struct vmux_conn *c)
{
    const struct vmux_link_tracking *t = &c->link->tracking;
    long long id = t->redirect_id != NULL ? t->redirect_id(c->link, c->where, t->arg) : 0;
    if (id > 0)
        (void)track_push(c, LABEL_TRACK_SETUP, id);
}

/*
 * The answer to a CLIENT TRACKING: only the last one sent tells where the connection's
 * invalidations go now. A refusal does not fail the connection: it serves reads untracked.
 */
static void track_answer(struct vmux_conn *c, const vmux_reply *reply)
{
    const struct vmux_link_tracking *t = &c->link->tracking;
    bool ok = vmux_reply_get_kind(reply) != VMUX_REPLY_ERROR;
    if (!ok)
        vmux__log(c->link->cfg, VMUX_LOG_WARN, "%s: CLIENT TRACKING refused: %s", c->where,
                  vmux_reply_str(reply, NULL));
    if (--c->track_inflight == 0 && t->tracked != NULL)
        t->tracked(c->link, c->track_id, ok, t->arg);
}

/*
 * Several endpoints (a primary and its replicas), or the primary a sentinel named (maybe
 * stale): commands go only to the primary, which ROLE finds. A sentinel has no primary role to
 * check. With cluster=yes the endpoints are seeds of a cluster, every node of which (a replica
 * too) gives the slot map that routes: no ROLE. With cluster=auto a node that ROLE names no
 * primary is asked whether it is a cluster node (role_refused()).
 */
static bool asks_role(const struct vmux_config *cfg)
{
    if (cfg->service_name != NULL)
        return true;
    return cfg->nendpoints > 1 && !cfg->sentinel_conn && cfg->cluster != VMUX_CLUSTER_YES;
}

static void setup_done(struct vmux_conn *c);

void vmux__setup_start(struct vmux_conn *c)
{
    const struct vmux_config *cfg = c->link->cfg;
    char db[16];
    vmux__repl_reset(&c->link->repl); /* the offsets of this connection's server only */
    session_auth(c);
    if (cfg->default_database != 0) {
        snprintf(db, sizeof(db), "%d", cfg->default_database);
        setup_push(c, LABEL_SELECT, 0, 2, (const char *[]){"SELECT", db});
    }
    if (cfg->name != NULL)
        setup_push(c, LABEL_SETNAME, 0, 3, (const char *[]){"CLIENT", "SETNAME", cfg->name});
    /* Servers before 7.2 lack CLIENT SETINFO: its error does not fail the connection. */
    if (cfg->client_library) {
        setup_push(c, LABEL_SETINFO, VMUX_OP_IGNORE_ERROR, 4,
                   (const char *[]){"CLIENT", "SETINFO", "LIB-NAME", "vmux"});
        setup_push(c, LABEL_SETINFO, VMUX_OP_IGNORE_ERROR, 4,
                   (const char *[]){"CLIENT", "SETINFO", "LIB-VER", VMUX_VERSION_STRING});
    }
    if (asks_role(cfg))
        setup_push(c, LABEL_ROLE, 0, 1, (const char *[]){"ROLE"});
    else if (vmux__lone_probes(c->link, c->ep))
        setup_push(c, LABEL_ROLE_LONE, VMUX_OP_IGNORE_ERROR, 1, (const char *[]){"ROLE"});
    if (c->link->cluster_only)
        setup_push(c, LABEL_CLUSTER, VMUX_OP_IGNORE_ERROR, 2, (const char *[]){"CLUSTER", "MYID"});
    setup_read_from(c, cfg);
    setup_tracking(c);
    /* Nothing to send (setlib=false, no credentials, name or database...): no reply will come to
     * end the setup, which waited for connectTimeout and failed every attempt. */
    if (c->phase == CONN_OPEN && c->setup_left == 0)
        setup_done(c);
}

/* Whether a setup command's error of class cls refuses the credentials (AUTH's, any). */
static bool is_auth_error(const char *label, enum vmux_errclass cls)
{
    return label == LABEL_AUTH || vmux__errclass_auth(cls);
}

/*
 * An error a server sends unprompted as it turns a new connection away, before it reads any
 * command, so that it answers whichever came first: the client limit (maxclients) or protected
 * mode. It echoes nothing, and says more than an AUTH failure or a close would (probe29: with a
 * password it read "AUTH failed: ERR", without one "the server closed the connection").
 */
static bool is_turned_away(enum vmux_errclass cls)
{
    return cls == VMUX_ERRCLASS_MAXCLIENTS || cls == VMUX_ERRCLASS_DENIED;
}

/* ROLE's first element is "master" on a primary ("slave" or "sentinel" otherwise). */
static bool is_primary(const vmux_reply *reply)
{
    const vmux_reply *role = vmux_reply_element(reply, 0);
    const char *name = vmux_reply_str(role, NULL);
    return name != NULL && strcmp(name, "master") == 0;
}

/*
 * What an ignorable setup command's refusal costs the user, when that is more than an extra:
 * said in a warning rather than a debug line (probe39: replicaMaxLag went unchecked, and every
 * replica read was redirected, with a debug line each). A standalone server's refusal of
 * READONLY is expected and costs nothing; an ACL's (NOPERM) is not.
 */
static const char *refusal_costs(const char *label, enum vmux_errclass cls)
{
    if (label == LABEL_LAG_SETUP)
        return "replicaMaxLag is not checked on this node, which is read from as if in sync";
    if (label == LABEL_ZONE)
        return "its availability zone is unknown to readFrom's zone affinity";
    if (label == LABEL_READONLY && cls == VMUX_ERRCLASS_NOPERM)
        return "the reads sent to this replica are redirected to its primary";
    return NULL;
}

/*
 * An error reply to AUTH may echo its arguments (a server where AUTH is renamed answers "unknown
 * command 'AUTH', with args beginning with: '<password>'", cut at 128 bytes, so no exact match
 * would find the password): only its error code is kept. Other errors are shown, with the
 * credentials masked (vmux__conn_fail).
 *
 * An ignorable command's error (VMUX_OP_IGNORE_ERROR: CLIENT SETINFO, READONLY, the INFOs,
 * CLIENT TRACKING, CLUSTER MYID) is ignored whatever it says, NOPERM included: a server or an
 * ACL without the command only loses the extra (a least-privilege user such as "+get +set ~*"
 * was refused the connection for CLIENT SETINFO's NOPERM); but not NOAUTH, which says the
 * connection is not authenticated, so that nothing else would run on it either.
 */
static void setup_error(struct vmux_conn *c, const char *label, bool ignorable,
                        const vmux_reply *reply)
{
    const char *msg = vmux_reply_str(reply, NULL);
    enum vmux_errclass cls = vmux__errclass_of(reply);
    if (is_turned_away(cls)) {
        vmux__conn_fail(c, VMUX_ERR_CONNECT, "the server turned the connection away: %s", msg);
        return;
    }
    if (label == LABEL_CLUSTER && strstr(msg, "cluster support disabled") != NULL) {
        vmux__conn_fail(c, VMUX_ERR_CONNECT,
                        "not a cluster node any more (CLUSTER MYID: %s): no command is sent to it",
                        msg);
        return;
    }
    if (cls == VMUX_ERRCLASS_NOAUTH) {
        /* probe39: a server with a password, none configured, opened, then refused everything */
        vmux__conn_fail(c, VMUX_ERR_AUTH,
                        "the server requires authentication (%s: %s): configure %s", label, msg,
                        c->link->cfg->sentinel_conn ? "sentinelUser and sentinelPassword"
                                                    : "user and password");
        return;
    }
    if (ignorable) {
        const char *lost = refusal_costs(label, cls);
        vmux__log(c->link->cfg, lost != NULL ? VMUX_LOG_WARN : VMUX_LOG_DEBUG,
                  "%s: %s refused (ignored%s%s): %s", c->where, label, lost != NULL ? "; " : "",
                  lost != NULL ? lost : "", msg);
        return;
    }
    bool auth = is_auth_error(label, cls);
    if (label == LABEL_AUTH) {
        char code[32];
        vmux__error_code(msg, code, sizeof(code));
        vmux__conn_fail_unquoted(
            c, VMUX_ERR_AUTH,
            "AUTH failed: %s (the server's message is not shown: it may echo the "
            "credentials)",
            code);
    } else {
        vmux__conn_fail(c, auth ? VMUX_ERR_AUTH : VMUX_ERR_SETUP, "%s failed: %s", label, msg);
    }
}

/*
 * Renewal of a live connection's AUTH (reauthInterval): a credentials provider's answer may
 * rotate, and ElastiCache ends an IAM-authenticated connection after 12 hours unless it
 * authenticates again. Data connections only: under RESP2 a subscribed connection may not
 * send AUTH, and a sentinel's or a setup's has its own credentials or is still authenticating.
 */
#define REAUTH_RETRY_MS 60000 /* after a refused or failed renewal */

static void schedule_reauth(struct vmux_conn *c, uint64_t in_ms)
{
    const struct vmux_config *cfg = c->link->cfg;
    bool renews = cfg->credentials_fn != NULL && cfg->reauth_interval_s > 0 &&
                  !cfg->sentinel_conn && c->link->push_fn == NULL;
    c->reauth_due = renews ? uv_now(c->link->loop) + in_ms : 0;
}

static void reauth_tick(struct vmux_conn *c, uint64_t now_ms)
{
    if (c->reauth_due == 0 || now_ms < c->reauth_due)
        return;
    schedule_reauth(c, (uint64_t)c->link->cfg->reauth_interval_s * 1000);
    provider_auth(c, LABEL_REAUTH);
}

static void reauth_answer(struct vmux_conn *c, const vmux_reply *reply)
{
    if (vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR) {
        char code[32];
        vmux__error_code(vmux_reply_str(reply, NULL), code, sizeof(code));
        vmux__log(c->link->cfg, VMUX_LOG_WARN,
                  "%s: re-AUTH refused: %s; the connection keeps its earlier authentication, "
                  "and tries again in %d s",
                  c->where, code, REAUTH_RETRY_MS / 1000);
        if (c->reauth_due != 0)
            schedule_reauth(c, REAUTH_RETRY_MS);
    }
}

static void not_primary(struct vmux_conn *c)
{
    c->not_primary = true;
    vmux__conn_fail(c, VMUX_ERR_CONNECT, "not the primary (ROLE: %s)", c->role);
}

/*
 * ROLE named no primary. With cluster=auto the node may be a cluster node (a seed among
 * several, a replica as good as any: the slot map routes), which INFO cluster tells, asked
 * now as one more setup command; otherwise, and with cluster=no, the attempt fails.
 */
static void role_refused(struct vmux_conn *c, const vmux_reply *reply)
{
    const char *role = vmux_reply_str(vmux_reply_element(reply, 0), NULL);
    snprintf(c->role, sizeof c->role, "%s", role != NULL ? role : "?");
    if (c->link->cfg->cluster != VMUX_CLUSTER_AUTO || c->link->cfg->service_name != NULL)
        not_primary(c);
    else
        setup_push(c, LABEL_ROLE_CLUSTER, 0, 2, (const char *[]){"INFO", "cluster"});
}

/* The answer to role_refused()'s INFO cluster: a cluster node is kept, any other node fails. */
static void role_cluster_answer(struct vmux_conn *c, const vmux_reply *reply)
{
    size_t len = 0;
    const char *text =
        vmux_reply_get_kind(reply) != VMUX_REPLY_ERROR ? vmux_reply_str(reply, &len) : NULL;
    if (text == NULL || memmem(text, len, "cluster_enabled:1", 17) == NULL)
        not_primary(c);
    else
        vmux__log(c->link->cfg, VMUX_LOG_INFO,
                  "%s: not a primary (ROLE: %s) but a cluster node: a seed as good as any",
                  c->where, c->role);
}

/*
 * The session is set up (its last setup reply came, or setup sent nothing): the connect and
 * setup deadline stops, what kept the credentials is wiped, and the link may use the connection.
 */
static void setup_done(struct vmux_conn *c)
{
    uv_timer_stop(&c->timer);
    vmux__setup_wipe(c);
    schedule_reauth(c, (uint64_t)c->link->cfg->reauth_interval_s * 1000);
    vmux__link_conn_ready(c->link);
}

static void setup_reply(struct vmux_conn *c, const char *label, bool ignorable,
                        const vmux_reply *reply)
{
    if (label == LABEL_TRACK_SETUP)
        track_answer(c, reply);
    if (label == LABEL_ROLE_CLUSTER) {
        role_cluster_answer(c, reply);
    } else if (vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR) {
        setup_error(c, label, ignorable, reply);
    } else if (label == LABEL_ZONE) {
        keep_zone(c->link, reply);
    } else if (label == LABEL_LAG_SETUP) {
        vmux__repl_take(c->link, reply, uv_now(c->link->loop));
    } else if (label == LABEL_ROLE && !is_primary(reply)) {
        role_refused(c, reply);
    } else if (label == LABEL_ROLE_LONE) {
        vmux__lone_role(c, vmux_reply_str(vmux_reply_element(reply, 0), NULL));
    }
    if (c->phase != CONN_ENDED && --c->setup_left == 0)
        setup_done(c);
}

void vmux__setup_reply(struct vmux_conn *c, struct vmux_op *op, vmux_reply *reply)
{
    const char *label = op->label;
    bool ignorable = (op->flags & VMUX_OP_IGNORE_ERROR) != 0;
    vmux__op_free(op);
    if (label == LABEL_CHECK) {
        c->check_started = 0;
        if (c->link->state == LINK_CHECKING)
            vmux__link_conn_ready(c->link);
    } else if (label == LABEL_TRACK) {
        track_answer(c, reply);
    } else if (label == LABEL_LAG) {
        if (vmux_reply_get_kind(reply) != VMUX_REPLY_ERROR)
            vmux__repl_take(c->link, reply, uv_now(c->link->loop));
    } else if (label == LABEL_REAUTH) {
        reauth_answer(c, reply);
    } else if (label == LABEL_READ_MODE) {
        if (vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR)
            vmux__log(c->link->cfg, VMUX_LOG_WARN, "%s: %s refused: %s", c->where, label,
                      vmux_reply_str(reply, NULL));
    } else if (label != LABEL_PING) {
        setup_reply(c, label, ignorable, reply);
    }
    if (c->sent_secret && reply != NULL && reply->type == VMUX_REPLY_ERROR)
        OPENSSL_cleanse(reply->str, reply->len); /* it may echo the credentials */
    if (label == LABEL_REAUTH)
        vmux__setup_wipe(c); /* the secret went by: wipe what the read buffers kept of it */
    vmux_reply_free(reply);
}

/*
 * At the end of setup this runs inside a read callback, after the reader has copied what was
 * read: rbuf and plain are no longer looked at until the next read. A setup that sent nothing
 * ends where it starts, with no secret sent: only the credentials' copies (none) are freed.
 */
void vmux__setup_wipe(struct vmux_conn *c)
{
    wipe_free(&c->auth_user);
    wipe_free(&c->auth_pass);
    if (!c->sent_secret)
        return;
    c->sent_secret = false;
    vmux__reader_wipe(c->reader);
    OPENSSL_cleanse(c->rbuf, sizeof(c->rbuf));
    if (c->tls != NULL)
        OPENSSL_cleanse(c->plain, sizeof(c->plain));
}

void vmux__setup_ping(struct vmux_conn *c)
{
    push(c, LABEL_PING, 0, 1, (const char *[]){"PING"});
}

void vmux__setup_check_ping(struct vmux_conn *c)
{
    push(c, LABEL_CHECK, 0, 1, (const char *[]){"PING"});
}

bool vmux__setup_check_heads(const struct vmux_conn *c)
{
    const struct vmux_op *head = c->fifo.head;
    return head != NULL && (head->flags & VMUX_OP_INTERNAL) && head->label == LABEL_CHECK;
}

void vmux__setup_tick(struct vmux_conn *c, uint64_t now_ms)
{
    if (c->phase != CONN_ENDED)
        reauth_tick(c, now_ms);
    if (watches_lag(c->link) && c->phase != CONN_ENDED) /* once a tick: its primary, its offset */
        push(c, LABEL_LAG, VMUX_OP_IGNORE_ERROR, 2, (const char *[]){"INFO", "replication"});
}
