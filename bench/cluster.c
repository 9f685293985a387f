/*
 * The -cluster rows' cluster: 1 to BENCH_CLUSTER_NODES throwaway valkey-server cluster nodes
 * (primaries only) on free loopback ports, each with its nodes.conf in a temporary directory, each
 * given an equal range of the slots and introduced to the first with CLUSTER MEET (what
 * valkey-cli --cluster create does, which refuses fewer than three primaries). The nodes are
 * servers like the others (server.c): killed by their pids at the end, on SIGINT/SIGTERM and with
 * the bench.
 */
#include "bench.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READY_DEADLINE_S 30.0

/* Fixed paths, so that cluster_files_remove() needs only unlink() and rmdir(). */
static char g_dir[BENCH_PATH_CAP];
#define MAX_FILES (3 * BENCH_CLUSTER_NODES) /* nodes.conf files (a node may try 3 ports) */
static char g_files[MAX_FILES][BENCH_PATH_CAP];
static volatile sig_atomic_t g_nfiles;

/* The arguments of one node: alive until it is up (server_start_args). */
typedef struct node_args {
    char conf[BENCH_PATH_CAP];
    char bus[16];
    const char *argv[10];
} node_args;

void cluster_files_remove(void)
{
    for (int i = 0; i < g_nfiles; i++)
        unlink(g_files[i]);
    g_nfiles = 0;
    if (g_dir[0])
        rmdir(g_dir);
    g_dir[0] = '\0';
}

/* Records a file to remove at the end; returns its path. */
static const char *note_file(const char *name)
{
    if (g_nfiles >= MAX_FILES)
        return NULL;
    char *path = g_files[g_nfiles];
    int len = snprintf(path, BENCH_PATH_CAP, "%s/%s", g_dir, name);
    if (len < 0 || len >= BENCH_PATH_CAP)
        return NULL;
    g_nfiles = g_nfiles + 1;
    return path;
}

/* The cluster bus listens on a port of its own (cluster-port), free as well. */
static const char *const *node_argv(int port, void *arg)
{
    node_args *a = arg;
    int bus = server_free_port();
    if (bus <= 0 || bus == port) {
        fprintf(stderr, "vmux-bench: no free port for a cluster bus\n");
        return NULL;
    }
    char name[32];
    snprintf(name, sizeof(name), "nodes-%d.conf", port);
    const char *path = note_file(name);
    if (!path)
        return NULL;
    snprintf(a->conf, sizeof(a->conf), "%s", path);
    snprintf(a->bus, sizeof(a->bus), "%d", bus);
    /* --dir: a node started where a dump.rdb lies (the bench run from /tmp) loaded it, and was
     * still loading when the bench gave it its slots */
    const char *argv[] = {"--cluster-enabled",
                          "yes",
                          "--cluster-config-file",
                          a->conf,
                          "--cluster-port",
                          a->bus,
                          "--dir",
                          g_dir,
                          NULL};
    memcpy(a->argv, argv, sizeof(argv));
    return a->argv;
}

/* The text of a hiredis reply to cmd on node port, into out ("" on any failure). */
static void node_query(int port, const char *cmd, char *out, size_t cap)
{
    struct timeval tv = {1, 0};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
    out[0] = '\0';
    if (ctx && !ctx->err && redisSetTimeout(ctx, tv) == REDIS_OK) {
        redisReply *r = redisCommand(ctx, cmd);
        if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
            snprintf(out, cap, "%s", r->str);
        else if (r && r->type == REDIS_REPLY_INTEGER)
            snprintf(out, cap, "%lld", r->integer);
        if (r)
            freeReplyObject(r);
    }
    if (ctx)
        redisFree(ctx);
}

/* True when the node sees the whole cluster: state ok, every slot assigned, all n nodes known. */
static bool node_ready(int port, int n)
{
    char info[4096], known[64];
    node_query(port, "CLUSTER INFO", info, sizeof(info));
    snprintf(known, sizeof(known), "cluster_known_nodes:%d\r", n);
    return strstr(info, "cluster_state:ok\r") && strstr(info, "cluster_slots_assigned:16384\r") &&
           strstr(info, known);
}

static int wait_ready(const bench_cluster *c)
{
    uint64_t deadline = now_ns() + (uint64_t)(READY_DEADLINE_S * 1e9);
    for (;;) {
        int ready = 0;
        while (ready < c->started && node_ready(c->nodes[ready].port, c->started))
            ready++;
        if (ready == c->started)
            return 0;
        if (now_ns() > deadline)
            return -1;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
}

static int start_nodes(bench_cluster *c, const bench_opts *o, node_args *args)
{
    bench_opts plain = *o;
    plain.tls = NULL;
    for (int i = 0; i < c->want; i++) {
        if (server_start_args(&c->nodes[i], &plain, NULL, node_argv, &args[i]) != 0)
            return -1;
        c->started++;
    }
    return 0;
}

/* Sends cmd to node i; 0 when it answers OK, else -1 with the command and the answer in why. */
static int node_ok(const bench_cluster *c, int i, const char *cmd, char *why, size_t whylen)
{
    char out[256];
    node_query(c->nodes[i].port, cmd, out, sizeof(out));
    if (strcmp(out, "OK") == 0)
        return 0;
    snprintf(why, whylen, "%s on 127.0.0.1:%d answered '%s'", cmd, c->nodes[i].port, out);
    return -1;
}

/*
 * Gives each started node an equal range of the slots, introduces it to the first over the
 * first's bus port, and waits for the cluster; 0, or -1 with the reason in why.
 */
static int join_nodes(bench_cluster *c, const node_args *args, char *why, size_t whylen)
{
    char cmd[96];
    for (int i = 0; i < c->started; i++) {
        snprintf(cmd, sizeof(cmd), "CLUSTER ADDSLOTSRANGE %d %d", 16384 * i / c->started,
                 16384 * (i + 1) / c->started - 1);
        if (node_ok(c, i, cmd, why, whylen) != 0)
            return -1;
        snprintf(cmd, sizeof(cmd), "CLUSTER MEET 127.0.0.1 %d %s", c->nodes[0].port, args[0].bus);
        if (i > 0 && node_ok(c, i, cmd, why, whylen) != 0)
            return -1;
    }
    if (wait_ready(c) != 0) {
        snprintf(why, whylen, "the cluster did not reach cluster_state:ok within %.0f s",
                 READY_DEADLINE_S);
        return -1;
    }
    return 0;
}

int cluster_start(bench_cluster *c, int primaries, bench_opts *o, char *why, size_t whylen)
{
    static node_args args[BENCH_CLUSTER_NODES];
    *c = (bench_cluster){.want = primaries};
    if (primaries < 1 || primaries > BENCH_CLUSTER_NODES) {
        snprintf(why, whylen, "%d primaries: 1 to %d are supported", primaries,
                 BENCH_CLUSTER_NODES);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof(g_dir), "%s/vmux-bench-cluster.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        snprintf(why, whylen, "mkdtemp %s: %s", g_dir, strerror(errno));
        g_dir[0] = '\0';
        return -1;
    }
    int rc = start_nodes(c, o, args);
    if (rc != 0)
        snprintf(why, whylen, "a cluster node did not start (valkey-server without cluster?)");
    else
        rc = join_nodes(c, args, why, whylen);
    if (rc != 0) {
        cluster_stop(c);
        return -1;
    }
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = c->nodes[0].port;
    return 0;
}

void cluster_describe(const bench_cluster *c, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "keys per primary:");
    for (int i = 0; i < c->started && len < cap; i++) {
        char n[32];
        node_query(c->nodes[i].port, "DBSIZE", n, sizeof(n));
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "/" : " ", n[0] ? n : "?");
    }
}

void cluster_ports(const bench_cluster *c, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < c->started && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%d", i ? ", " : "", c->nodes[i].port);
}

void cluster_stop(bench_cluster *c)
{
    for (int i = 0; i < c->started; i++)
        server_stop(&c->nodes[i]);
    c->started = 0;
    cluster_files_remove();
}
