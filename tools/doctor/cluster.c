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

typedef struct node_tally {
    int primaries, replicas, failing, links_down;
    char failing_list[512];
    char addr[MAX_NODES][80]; /* "ip:port" as announced */
    bool flagged[MAX_NODES];  /* the cluster itself flags that node fail or fail? */
    int naddrs;
} node_tally;

/* Notes one CLUSTER NODES line: id addr flags primary ping pong epoch link slots... */
static void tally_line(node_tally *t, char *line)
{
    char *save = NULL, *f[8];
    for (int i = 0; i < 8; i++)
        if ((f[i] = strtok_r(i ? NULL : line, " ", &save)) == NULL)
            return;
    if (strstr(f[2], "noaddr") == NULL && t->naddrs < MAX_NODES) {
        size_t n = strcspn(f[1], "@,");
        t->flagged[t->naddrs] = strstr(f[2], "fail") != NULL;
        snprintf(t->addr[t->naddrs++], sizeof(t->addr[0]), "%.*s", (int)n, f[1]);
    }
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
        doc_step_hint(s,
                      "%ld slots have no owner or the cluster is down: commands on them fail "
                      "with CLUSTERDOWN. Fix the cluster (valkey-cli --cluster check / fix)",
                      16384 - (assigned < 0 ? 0 : assigned));
    } else if (t->failing > 0 || ok < assigned) {
        s->verdict = DOC_WARN;
        doc_step_hint(s,
                      "failing nodes: %s. The cluster still serves every slot, but a failover "
                      "may be under way",
                      t->failing ? t->failing_list : "(see slots_pfail)");
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
static bool node_reachable(const char *addr, int timeout_ms, char *why, size_t len)
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
    doc_addr a = {.len = res->ai_addrlen};
    memcpy(&a.sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    long us = 0;
    int fd = doc_tcp_connect(&a, timeout_ms, &us);
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

/*
 * The nodes step: a TCP connection to every node the cluster announces. A node that refuses the
 * connection (its host answers: the node is down) or that the cluster flags failing is a node
 * down, a warning (the cluster step says what it costs); one that cannot be reached otherwise
 * while the cluster thinks it healthy is an address this machine cannot reach, a failure.
 */
static void check_nodes(doc_ctx *ctx, const doc_endpoint *ep, const node_tally *t)
{
    doc_step *s = doc_step_begin(&ctx->report, "nodes", ep->label);
    int timeout_ms = (int)vmux_config_connect_timeout(ctx->cfg), reached = 0, down = 0;
    char unreachable[512] = "", downs[512] = "", why[128];
    for (int i = 0; i < t->naddrs; i++) {
        bool ok = node_reachable(t->addr[i], timeout_ms, why, sizeof(why));
        reached += ok;
        doc_step_fact(s, t->addr[i], "%s", ok ? "reachable" : why);
        if (ok)
            continue;
        bool is_down = t->flagged[i] || strcmp(why, strerror(ECONNREFUSED)) == 0;
        down += is_down;
        list_add(is_down ? downs : unreachable, is_down ? sizeof downs : sizeof unreachable,
                 t->addr[i], why);
    }
    if (reached == t->naddrs) {
        doc_step_set(s, DOC_OK, "all %d nodes the cluster announces accept connections", reached);
    } else if (reached + down == t->naddrs) {
        doc_step_set(s, DOC_WARN, "%d of %d announced nodes are down: %s", down, t->naddrs, downs);
        doc_step_hint(s, "a node is down (its address answers, the node does not, or the cluster "
                         "flags it failing): a primary's shard fails over to a replica, a "
                         "replica's shard has no failover cover until it is back");
    } else {
        doc_step_set(s, DOC_FAIL, "%d of %d announced nodes cannot be reached: %s",
                     t->naddrs - reached - down, t->naddrs, unreachable);
        doc_step_hint(s, "the cluster announces addresses this machine cannot reach (a "
                         "container's or a private network's): set cluster-announce-ip / "
                         "cluster-announce-hostname on the nodes, or open the network path");
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
