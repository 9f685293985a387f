/*
 * The cluster step (cluster mode, slot coverage, the nodes' health, from CLUSTER INFO and
 * CLUSTER NODES) and, on a cluster, the nodes step: does every node the cluster announces
 * accept a TCP connection from here? A cluster that announces addresses only its own network
 * knows (a container's, a NAT's inside) works for its seed and fails for every redirect.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

#define MAX_NODES 128
#define NSLOTS 16384

typedef struct node_tally {
    int primaries, replicas, failing, links_down;
    char failing_list[512];
    char addr[MAX_NODES][80];    /* "ip:port" as announced */
    char id[MAX_NODES][48];      /* the node's id */
    char primary[MAX_NODES][48]; /* a replica's primary's id, "-" for a primary */
    char slots[MAX_NODES][256];  /* a primary's slot ranges as CLUSTER NODES lists them */
    bool flagged[MAX_NODES];     /* the cluster itself flags that node fail or fail? */
    bool is_primary[MAX_NODES];
    bool serving[MAX_NODES]; /* a primary with slots: its silence stalls those slots */
    int naddrs;
    bool owned[NSLOTS]; /* some primary (with an address or not) lists the slot */
} node_tally;

/* Notes the slot ranges after a primary's 8 fields ("0-5460", "5461"; not "[...]" migrations). */
static void tally_slots(node_tally *t, int i, char **save)
{
    for (char *tok = strtok_r(NULL, " ", save); tok; tok = strtok_r(NULL, " ", save)) {
        if (tok[0] == '[')
            continue;
        char *dash = NULL;
        long lo = strtol(tok, &dash, 10), hi = *dash == '-' ? strtol(dash + 1, NULL, 10) : lo;
        for (long sl = lo < 0 ? 0 : lo; sl <= hi && sl < NSLOTS; sl++)
            t->owned[sl] = true;
        if (i < 0)
            continue;
        size_t used = strlen(t->slots[i]);
        snprintf(t->slots[i] + used, sizeof(t->slots[i]) - used, "%s%s", used ? "," : "", tok);
        t->serving[i] = true;
    }
}

/* Notes one CLUSTER NODES line: id addr flags primary ping pong epoch link slots... */
static void tally_line(node_tally *t, char *line)
{
    char *save = NULL, *f[8];
    for (int i = 0; i < 8; i++)
        if ((f[i] = strtok_r(i ? NULL : line, " ", &save)) == NULL)
            return;
    int i = -1;
    if (strstr(f[2], "noaddr") == NULL && t->naddrs < MAX_NODES) {
        i = t->naddrs++;
        size_t n = strcspn(f[1], "@,");
        t->flagged[i] = strstr(f[2], "fail") != NULL;
        t->is_primary[i] = strstr(f[2], "master") != NULL;
        snprintf(t->addr[i], sizeof(t->addr[0]), "%.*s", (int)n, f[1]);
        snprintf(t->id[i], sizeof(t->id[0]), "%s", f[0]);
        snprintf(t->primary[i], sizeof(t->primary[0]), "%s", f[3]);
    }
    if (strstr(f[2], "master"))
        tally_slots(t, i, &save);
    if (strstr(f[2], "master"))
        t->primaries++;
    else if (strstr(f[2], "slave"))
        t->replicas++;
    if (strstr(f[2], "fail")) {
        t->failing++;
        size_t used = strlen(t->failing_list);
        snprintf(t->failing_list + used, sizeof(t->failing_list) - used, "%s%.*s (%s)",
                 used ? ", " : "", (int)strcspn(f[1], "@,"), f[1], f[2]);
    }
    if (strcmp(f[7], "disconnected") == 0)
        t->links_down++;
}

static bool tally_nodes(vmux *m, node_tally *t, char *err, size_t errlen)
{
    vmux_reply *r = doc_call(m, err, errlen, 2, (const char *[]){"CLUSTER", "NODES"});
    size_t len = 0;
    const char *text = r ? vmux_reply_str(r, &len) : NULL;
    char *copy = text ? strndup(text, len) : NULL;
    vmux_reply_free(r);
    if (copy == NULL)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        tally_line(t, line);
    free(copy);
    return true;
}

/* A number from CLUSTER INFO's text, -1 when absent. */
static long info_number(const char *info, const char *field)
{
    char v[32];
    return doc_info_field(info, field, v, sizeof(v)) ? strtol(v, NULL, 10) : -1;
}

/* Appends "s" (one more clause) to the step's detail. */
static void detail_add(doc_step *s, const char *clause)
{
    size_t used = strlen(s->detail);
    snprintf(s->detail + used, sizeof(s->detail) - used, "; %s", clause);
}

/*
 * Names the slots that fail: those of a primary the cluster flags failing ("slots 5461-10922
 * (primary 127.0.0.1:15102) fail") and those no primary lists ("slots 0-99 have no owner").
 */
static void append_failing_slots(doc_step *s, const node_tally *t)
{
    char clause[400];
    for (int i = 0; i < t->naddrs; i++) {
        if (t->is_primary[i] && t->flagged[i] && t->slots[i][0]) {
            snprintf(clause, sizeof(clause), "slots %s (primary %s) fail", t->slots[i], t->addr[i]);
            detail_add(s, clause);
        }
    }
    char ranges[300] = "";
    for (int lo = 0; lo < NSLOTS; lo++) {
        if (t->owned[lo])
            continue;
        int hi = lo;
        while (hi + 1 < NSLOTS && !t->owned[hi + 1])
            hi++;
        size_t used = strlen(ranges);
        if (lo == hi)
            snprintf(ranges + used, sizeof(ranges) - used, "%s%d", used ? "," : "", lo);
        else
            snprintf(ranges + used, sizeof(ranges) - used, "%s%d-%d", used ? "," : "", lo, hi);
        lo = hi;
    }
    if (ranges[0]) {
        snprintf(clause, sizeof(clause), "slots %s have no owner", ranges);
        detail_add(s, clause);
    }
}

/* What the failing nodes cost, when the cluster still serves every slot. */
static const char *failing_means(const node_tally *t)
{
    bool serving = false, primary = false;
    for (int i = 0; i < t->naddrs; i++) {
        serving |= t->flagged[i] && t->serving[i];
        primary |= t->flagged[i] && t->is_primary[i];
    }
    if (serving)
        return "a primary that fails keeps its slots until its shard fails over to a replica "
               "(after cluster-node-timeout): a failover may be under way";
    if (primary)
        return "a primary that fails and serves no slots has already failed over: it comes "
               "back as a replica";
    return "a replica that fails loses its reads and its shard's redundancy until it is back; "
           "nothing fails over";
}

/* The verdict from CLUSTER INFO and the node tally. */
static void judge_cluster(doc_step *s, const doc_ctx *ctx, const char *ci, const node_tally *t)
{
    char state[32] = "?";
    doc_info_field(ci, "cluster_state", state, sizeof(state));
    long assigned = info_number(ci, "cluster_slots_assigned");
    long ok = info_number(ci, "cluster_slots_ok");
    doc_step_set(s, DOC_OK,
                 "a cluster: state %s, %ld of 16384 slots served (%ld ok), %d "
                 "primaries, %d replicas",
                 state, assigned, ok, t->primaries, t->replicas);
    if (strcmp(state, "ok") != 0 || assigned < 16384) {
        s->verdict = DOC_FAIL;
        append_failing_slots(s, t);
        if (assigned < 16384)
            doc_step_hint(s,
                          "%ld slots have no owner: commands on them fail with CLUSTERDOWN. "
                          "Fix the cluster (valkey-cli --cluster check / fix)",
                          16384 - (assigned < 0 ? 0 : assigned));
        else
            doc_step_hint(s, "the cluster is down (usually a shard lost its primary and has no "
                             "replica to take over: the slots named): commands fail with "
                             "CLUSTERDOWN (on every slot "
                             "with cluster-require-full-coverage yes) until a node of that "
                             "shard comes back. Check it with valkey-cli --cluster check");
    } else if (t->failing > 0 || ok < assigned) {
        s->verdict = DOC_WARN;
        doc_step_hint(s, "failing nodes: %s. The cluster still serves every slot; %s",
                      t->failing ? t->failing_list : "(see slots_pfail)", failing_means(t));
    } else if (vmux_config_cluster(ctx->cfg) == VMUX_CLUSTER_NO) {
        s->verdict = DOC_WARN;
        doc_step_hint(s, "the configuration says cluster=no, but this is a cluster node: "
                         "commands on other nodes' slots fail with MOVED. Set cluster=auto");
    }
}

static void cluster_facts(doc_step *s, const char *ci, const node_tally *t)
{
    static const char *const fields[] = {"cluster_state",      "cluster_slots_assigned",
                                         "cluster_slots_ok",   "cluster_slots_pfail",
                                         "cluster_slots_fail", "cluster_known_nodes"};
    char v[64];
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (doc_info_field(ci, fields[i], v, sizeof(v)))
            doc_step_fact(s, fields[i] + 8, "%s", v);
    doc_step_fact(s, "primaries", "%d", t->primaries);
    doc_step_fact(s, "replicas", "%d", t->replicas);
    doc_step_fact(s, "failing", "%d", t->failing);
}

/* Whether "ip:port" (IPv6 without brackets, as CLUSTER NODES writes it) accepts TCP. */
static bool node_reachable(const char *addr, int timeout_ms, doc_addr *a, char *why, size_t len)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr) {
        snprintf(why, len, "no address");
        return false;
    }
    char host[80];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(why, len, "%s", gai_strerror(rc));
        return false;
    }
    *a = (doc_addr){.len = res->ai_addrlen};
    memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    long us = 0;
    int fd = doc_tcp_connect(a, timeout_ms, &us);
    if (fd < 0)
        snprintf(why, len, "%s", strerror(errno));
    else
        close(fd);
    return fd >= 0;
}

/* Appends "addr (why)" to a list of nodes. */
static void list_add(char *list, size_t size, const char *addr, const char *why)
{
    size_t used = strlen(list);
    snprintf(list + used, size - used, "%s%s (%s)", used ? ", " : "", addr, why);
}

/* What the nodes step found, node by node. */
typedef struct node_census {
    int reached, down, silent, silent_serving;
    char unreachable[512], downs[512], silents[512];
    bool down_at[MAX_NODES]; /* node i is down */
} node_census;

#define SILENT_WHY "accepts connections but does not answer"

/*
 * One node: reachable and answering, silent (the kernel accepts for a stopped process), down
 * (refused, or flagged failing by the cluster), or unreachable.
 */
static void census_node(node_census *c, doc_step *s, const node_tally *t, int i, bool tls,
                        int timeout_ms)
{
    char why[128];
    doc_addr a;
    if (node_reachable(t->addr[i], timeout_ms, &a, why, sizeof(why))) {
        bool answers = tls ? doc_tls_answers(&a, timeout_ms) : doc_plain_answers(&a, timeout_ms);
        doc_step_fact(s, t->addr[i], "%s", answers ? "reachable" : SILENT_WHY);
        c->reached += answers;
        if (!answers) {
            c->silent++;
            c->silent_serving += t->serving[i];
            list_add(c->silents, sizeof c->silents, t->addr[i],
                     t->serving[i]   ? "a primary serving slots"
                     : t->flagged[i] ? "failing"
                                     : "idle");
        }
        return;
    }
    doc_step_fact(s, t->addr[i], "%s", why);
    bool is_down = t->flagged[i] || strcmp(why, strerror(ECONNREFUSED)) == 0;
    c->down += is_down;
    c->down_at[i] = is_down;
    list_add(is_down ? c->downs : c->unreachable, is_down ? sizeof c->downs : sizeof c->unreachable,
             t->addr[i], why);
}

/* Whether every replica of the primary at index p is down too (or it has none). */
static bool replicas_down(const node_tally *t, const node_census *c, int p)
{
    for (int i = 0; i < t->naddrs; i++)
        if (!t->is_primary[i] && strcmp(t->primary[i], t->id[p]) == 0 && !c->down_at[i])
            return false;
    return true;
}

/* Whether the replica at index r has a primary that is down (the primary's clause covers it). */
static bool primary_down(const node_tally *t, const node_census *c, int r)
{
    for (int i = 0; i < t->naddrs; i++)
        if (t->is_primary[i] && strcmp(t->primary[r], t->id[i]) == 0)
            return c->down_at[i];
    return false;
}

/*
 * The hint for the nodes down, case by case: a replica (nothing fails over, its reads and
 * its redundancy are lost), a primary with a replica up (its shard fails over), a primary and
 * all its replicas (its slots are unserved until one comes back).
 */
static void down_hint(doc_step *s, const node_tally *t, const node_census *c)
{
    char hint[sizeof(s->hint)] = "a node is down (its address refuses connections, or the "
                                 "cluster flags it failing):";
    for (int i = 0; i < t->naddrs; i++) {
        size_t used = strlen(hint);
        if (!c->down_at[i] || (!t->is_primary[i] && primary_down(t, c, i)))
            continue;
        if (!t->is_primary[i])
            snprintf(hint + used, sizeof(hint) - used,
                     " replica %s: reads from it and its shard's redundancy are lost until it "
                     "is back, nothing fails over;",
                     t->addr[i]);
        else if (!t->serving[i])
            snprintf(hint + used, sizeof(hint) - used,
                     " primary %s serves no slots (already failed over): it returns as a "
                     "replica;",
                     t->addr[i]);
        else if (!replicas_down(t, c, i))
            snprintf(hint + used, sizeof(hint) - used,
                     " primary %s: its shard fails over to a replica after "
                     "cluster-node-timeout, and its slots wait until then;",
                     t->addr[i]);
        else
            snprintf(hint + used, sizeof(hint) - used,
                     " primary %s and its replicas: slots %s are unserved (CLUSTERDOWN) until "
                     "one of them comes back;",
                     t->addr[i], t->slots[i]);
    }
    size_t n = strlen(hint);
    if (n > 0 && hint[n - 1] == ';')
        hint[n - 1] = '\0';
    doc_step_hint(s, "%s", hint);
}

/* The verdict when every node was reached, but some do not answer PING. */
static void judge_silent(doc_step *s, const node_census *c, int total)
{
    doc_step_set(s, c->silent_serving ? DOC_FAIL : DOC_WARN,
                 "%d of %d announced nodes accept connections but do not answer PING within "
                 "connectTimeout: %s",
                 c->silent, total, c->silents);
    if (c->down) {
        size_t used = strlen(s->detail);
        snprintf(s->detail + used, sizeof(s->detail) - used, "; %d down: %s", c->down, c->downs);
    }
    doc_step_hint(s,
                  "a node accepts connections but does not answer (stopped process, DEBUG "
                  "SLEEP, CLIENT PAUSE, an overloaded server): %s",
                  c->silent_serving ? "commands on a silent primary's slots wait until their "
                                      "deadline, until it answers again or the cluster fails it "
                                      "over (after cluster-node-timeout)"
                                    : "the cluster still serves every slot, but that node "
                                      "serves nothing now");
}

/*
 * The nodes step: a TCP connection and a PING to every node the cluster announces. A node that
 * refuses the connection (its host answers: the node is down) or that the cluster flags failing
 * is a node down, a warning (the cluster step says what it costs); one that accepts but does not
 * answer is silent, a failure when it is a primary serving slots; one that cannot be reached
 * otherwise while the cluster thinks it healthy is an address this machine cannot reach, a
 * failure.
 */
static void check_nodes(doc_ctx *ctx, const doc_endpoint *ep, const node_tally *t)
{
    doc_step *s = doc_step_begin(&ctx->report, "nodes", ep->label);
    int timeout_ms = (int)vmux_config_connect_timeout(ctx->cfg);
    node_census c = {0};
    for (int i = 0; i < t->naddrs; i++)
        census_node(&c, s, t, i, ep->tls, timeout_ms);
    int unreachable = t->naddrs - c.reached - c.down - c.silent;
    if (c.reached == t->naddrs) {
        doc_step_set(s, DOC_OK,
                     "all %d nodes the cluster announces accept connections and answer PING",
                     c.reached);
    } else if (unreachable > 0) {
        doc_step_set(s, DOC_FAIL, "%d of %d announced nodes cannot be reached: %s", unreachable,
                     t->naddrs, c.unreachable);
        doc_step_hint(s, "the cluster announces addresses this machine cannot reach (a "
                         "container's or a private network's): set cluster-announce-ip / "
                         "cluster-announce-hostname on the nodes, or open the network path");
    } else if (c.silent > 0) {
        judge_silent(s, &c, t->naddrs);
    } else {
        doc_step_set(s, DOC_WARN, "%d of %d announced nodes are down: %s", c.down, t->naddrs,
                     c.downs);
        down_hint(s, t, &c);
    }
    doc_step_end(&ctx->report, s);
}

/* The step on a server that is not a cluster node. */
static void standalone(doc_step *s, const doc_ctx *ctx)
{
    if (vmux_config_cluster(ctx->cfg) == VMUX_CLUSTER_YES) {
        doc_step_set(s, DOC_FAIL, "cluster=yes, but this server is not a cluster node");
        doc_step_hint(s, "vmux_open() fails on it: set cluster=auto (or no), or point the "
                         "configuration at a cluster node");
    } else {
        doc_step_set(s, DOC_OK, "standalone (not a cluster node)");
    }
}

void doc_cluster(doc_ctx *ctx, vmux *m, doc_endpoint *ep)
{
    doc_step *s = doc_step_begin(&ctx->report, "cluster", ep->label);
    char err[512] = "", enabled[8] = "0";
    char *info = doc_info(m, "cluster", err, sizeof(err));
    if (info == NULL) {
        /* Without INFO the doctor cannot tell a cluster node from a standalone server. */
        if (!doc_state_step(s, ep, err)) {
            doc_step_set(s, DOC_WARN, "INFO cluster refused: %s", err);
            doc_step_hint(s, "the ACL user may not run INFO: the library needs it for "
                             "cluster=auto; grant +info");
        }
        doc_step_end(&ctx->report, s);
        return;
    }
    doc_info_field(info, "cluster_enabled", enabled, sizeof(enabled));
    free(info);
    ep->is_cluster = strcmp(enabled, "1") == 0;
    if (!ep->is_cluster) {
        standalone(s, ctx);
        doc_step_end(&ctx->report, s);
        return;
    }
    vmux_reply *r = doc_call(m, err, sizeof(err), 2, (const char *[]){"CLUSTER", "INFO"});
    node_tally *t = calloc(1, sizeof(*t));
    if (r == NULL && doc_state_step(s, ep, err)) {
        /* said what the server is doing, or that it was not checked */
    } else if (r == NULL || t == NULL || !tally_nodes(m, t, err, sizeof(err))) {
        doc_step_set(s, DOC_WARN, "a cluster node, but CLUSTER INFO/NODES failed: %s", err);
        doc_step_hint(s, "the ACL user may not run CLUSTER INFO/NODES/SLOTS: the library needs "
                         "CLUSTER SLOTS to route; grant +cluster|slots");
    } else {
        judge_cluster(s, ctx, vmux_reply_str(r, NULL), t);
        cluster_facts(s, vmux_reply_str(r, NULL), t);
    }
    vmux_reply_free(r);
    doc_step_end(&ctx->report, s);
    if (t != NULL && t->naddrs > 0)
        check_nodes(ctx, ep, t);
    free(t);
}
