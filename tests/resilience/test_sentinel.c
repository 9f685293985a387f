/*
 * Sentinel (serviceName=...): a primary, its replica and three sentinels (quorum 2,
 * down-after-milliseconds 1000), which each test starts for itself, since a failover leaves the
 * old primary a replica.
 *
 * - The handle asks the sentinels where the primary is (the first one listed is down) and serves
 *   from it; an unknown service name and bad sentinel settings give clear errors. A
 *   maxBulkLength below the sentinels' answers (the primary's address) bounds the user's replies
 *   only: the handle still asks the sentinels and checks ROLE. Under setlib=false, with no
 *   sentinelPassword, a sentinel connection has nothing to set up, and is ready at once.
 * - readFrom=replica reads from the replica the sentinels list (SENTINEL REPLICAS); a replica
 *   started under a running handle serves reads too once the sentinels see it healthy.
 * - A replica the sentinels mark down (+sdown: it refuses their PING, by ACL, while it serves the
 *   handle on) gets no reads until they see it again (-sdown).
 * - The sentinel the handle asks is frozen (SIGSTOP) when it must ask for the replicas again: the
 *   question's own deadline (connectTimeout) sends it to the next sentinel, long before the
 *   frozen connection is judged dead (syncTimeout 60 s), and reads and writes go on meanwhile.
 * - A stale sentinel, listed first, names the replica: ROLE refuses it and the handle asks the
 *   next sentinel.
 * - An endpoint listed first that refuses the question (a plain valkey-server, a sentinel ACL
 *   without it): the handle asks the next sentinel.
 * - A sentinel user refused +subscribe, then granted it: once its watchers reconnect and are
 *   confirmed, the handle stops asking for the primary every second.
 * - A sentinel user without sentinel|replicas: the refusal is a warning, reads go to the primary,
 *   the question is asked again less and less often, and once allowed the replica serves reads.
 * - Only the first sentinel refuses SENTINEL REPLICAS: the question moves to the next one.
 * - readFrom=replica: the sentinel connections send no READONLY (no error reply on a sentinel).
 * - SENTINEL FAILOVER, and a SIGKILL of the primary, under 8 threads of ledgered load
 *   (integration/cluster_load.h): the handle follows the new primary within 1 s of the first
 *   sentinel's announcement (+switch-master, seen here as GET-MASTER-ADDR-BY-NAME changing), and
 *   the ledger holds: no call fails but INCRs whose outcome is unknown (VMUX_ERR_CONNECTION_LOST),
 *   no reply goes to another call, no INCR runs twice, and every write acknowledged before the
 *   barrier (a key the replica acknowledged with WAIT 1) survives. Writes acknowledged by the old
 *   primary after the barrier may be lost (Sentinel's replication is asynchronous); the test
 *   counts them. After SENTINEL FAILOVER the handle stops writing to the old primary as soon as
 *   the leading sentinel has chosen the replica (+selected-slave), so at most the writes then in
 *   flight may be lost.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster_load.h"
#include "logtext.h"
#include "route/slot.h"
#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define SERVICE "mymaster"
#define NSENT 3
#define READY_DEADLINE_MS 60000
#define SWITCH_DEADLINE_MS 60000
#define FOLLOW_MS 1000 /* the handle follows within this of the first announcement */

struct deploy {
    vt_server primary, replica, sent[NSENT], liar, added; /* added: a replica a test adds */
};

/* ---- side connections (not through vmux) ---- */

static redisContext *side_connect(int port)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != NULL && (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK)) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

/* One command on a fresh connection; NULL when the server cannot be reached. */
static redisReply *side(int port, const char *fmt, ...)
{
    redisContext *c = side_connect(port);
    redisReply *r = NULL;
    if (c != NULL) {
        va_list ap;
        va_start(ap, fmt);
        r = redisvCommand(c, fmt, ap);
        va_end(ap);
    }
    redisFree(c);
    return r;
}

/* A field of SENTINEL MASTER (a flat list of names and values) as a number; -1 if absent. */
static long master_field(int sport, const char *field)
{
    redisReply *r = side(sport, "SENTINEL MASTER %s", SERVICE);
    long v = -1;
    for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, field) == 0)
            v = strtol(r->element[i + 1]->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

/* The primary's port a sentinel names, or -1. */
static int named_port(redisContext *c)
{
    redisReply *r = redisCommand(c, "SENTINEL GET-MASTER-ADDR-BY-NAME %s", SERVICE);
    int port = -1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        port = atoi(r->element[1]->str);
    freeReplyObject(r);
    return port;
}

/* ---- the deployment ---- */

static bool replica_synced(void *arg)
{
    redisReply *r = side(*(int *)arg, "INFO replication");
    bool up = r != NULL && r->type == REDIS_REPLY_STRING &&
              strstr(r->str, "master_link_status:up") != NULL;
    freeReplyObject(r);
    return up;
}

/* Every sentinel knows the replica and the two others: a failover can be agreed on. */
static bool sentinels_ready(void *arg)
{
    struct deploy *d = arg;
    for (int i = 0; i < NSENT; i++)
        if (master_field(d->sent[i].port, "num-other-sentinels") < NSENT - 1 ||
            master_field(d->sent[i].port, "num-slaves") < 1)
            return false;
    return true;
}

#define DATA_PASS "datapw"
#define SENTINEL_PASS "sentpw"

/*
 * A sentinel watching the primary at port. tls_port > 0: it also listens with TLS there
 * (server.crt of the test certificates, no client certificate required).
 */
static int start_sentinel_tls(vt_server *s, int port, const char *quorum, const char *down_ms,
                              int tls_port)
{
    char p[16], tp[16], crt[300], key[300], ca[300];
    snprintf(p, sizeof p, "%d", port);
    snprintf(tp, sizeof tp, "%d", tls_port);
    const char *d = tls_port > 0 ? vt_certs_dir() : "";
    snprintf(crt, sizeof crt, "%s/server.crt", d);
    snprintf(key, sizeof key, "%s/server.key", d);
    snprintf(ca, sizeof ca, "%s/ca.crt", d);
    const char *const args[] = {"--sentinel",
                                "monitor",
                                SERVICE,
                                "127.0.0.1",
                                p,
                                quorum,
                                "--sentinel",
                                "down-after-milliseconds",
                                SERVICE,
                                down_ms,
                                "--sentinel",
                                "failover-timeout",
                                SERVICE,
                                "5000",
                                tls_port > 0 ? "--tls-port" : NULL,
                                tp,
                                "--tls-cert-file",
                                crt,
                                "--tls-key-file",
                                key,
                                "--tls-ca-cert-file",
                                ca,
                                "--tls-auth-clients",
                                "no",
                                NULL};
    return vt_sentinel_start(s, 0, args);
}

static int start_sentinel(vt_server *s, int port, const char *quorum, const char *down_ms)
{
    return start_sentinel_tls(s, port, quorum, down_ms, 0);
}

static void side_ok(int port, const char *fmt, const char *arg)
{
    redisReply *r = side(port, fmt, arg);
    if (r == NULL || r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0)
        fail_msg("port %d: %s: %s", port, fmt, r != NULL && r->str != NULL ? r->str : "(none)");
    freeReplyObject(r);
}

/*
 * Passwords, set once everything runs (the servers' start-up check speaks without one): the data
 * nodes require DATA_PASS, which the replica and the sentinels give them; the sentinels require
 * SENTINEL_PASS, which they give each other.
 */
static void require_passwords(struct deploy *d)
{
    side_ok(d->replica.port, "CONFIG SET masterauth %s", DATA_PASS);
    side_ok(d->primary.port, "CONFIG SET requirepass %s", DATA_PASS);
    side_ok(d->replica.port, "CONFIG SET requirepass %s", DATA_PASS);
    for (int i = 0; i < NSENT; i++) {
        side_ok(d->sent[i].port, "SENTINEL SET " SERVICE " auth-pass %s", DATA_PASS);
        side_ok(d->sent[i].port, "SENTINEL CONFIG SET sentinel-pass %s", SENTINEL_PASS);
        side_ok(d->sent[i].port, "ACL SETUSER default resetpass >%s", SENTINEL_PASS);
    }
}

/* A replica of the primary at primary_port, started and synced (fails the test otherwise). */
static int start_replica(vt_server *s, int primary_port)
{
    char pport[16];
    snprintf(pport, sizeof pport, "%d", primary_port);
    const char *const replica[] = {"--repl-diskless-sync-delay",
                                   "0",
                                   "--repl-ping-replica-period",
                                   "1",
                                   "--replicaof",
                                   "127.0.0.1",
                                   pport,
                                   NULL};
    if (vt_server_start(s, 0, replica) != 0)
        return -1;
    if (!vt_poll_until(replica_synced, &s->port, 20000, 20))
        fail_msg("the replica on port %d did not sync within 20 s", s->port);
    return 0;
}

/*
 * Sets every sentinel's hello period (SENTINEL DEBUG publish-period, 2000 ms by default): how
 * often each tells the others it is there, on the primary and replica and to the sentinels it
 * knows. A deployment starts with 100 ms, so that the sentinels find each other in a fraction of
 * a second instead of after their first 2 s period, and goes back to 2000 once they have: the
 * tests run against sentinels with their defaults.
 */
static void hello_period(struct deploy *d, const char *ms)
{
    for (int i = 0; i < NSENT; i++)
        side_ok(d->sent[i].port, "SENTINEL DEBUG publish-period %s", ms);
}

/* Whether the replica at port has the key "sentinel:stream" (set on the primary), as a string. */
static bool stream_reached(void *arg)
{
    redisReply *r = side(*(int *)arg, "GET sentinel:stream");
    bool yes = r != NULL && r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    return yes;
}

/*
 * Waits until a write on the primary has reached the synced replica. Right after its sync, the
 * primary's first writes can take most of a second to reach it (a read on the replica found
 * nothing in 1 start of 3); tests that write, then read on the replica, start after that.
 */
static void replica_streams(struct deploy *d)
{
    freeReplyObject(side(d->primary.port, "SET sentinel:stream 1"));
    if (!vt_poll_until(stream_reached, &d->replica.port, 20000, 10))
        fail_msg("a write on the primary did not reach the replica within 20 s");
}

static int deploy_start(void **state, bool tls);

static int deploy_setup(void **state)
{
    return deploy_start(state, false);
}

/* The sentinels listen with TLS too, on tls_port[i]; the data nodes are plain. */
static int tls_port[NSENT];

static int deploy_setup_tls(void **state)
{
    return deploy_start(state, true);
}

static int deploy_start(void **state, bool tls)
{
    struct deploy *d = calloc(1, sizeof(*d));
    const char *const primary[] = {"--repl-diskless-sync-delay", "0", "--repl-ping-replica-period",
                                   "1", NULL};
    if (d == NULL || vt_server_start(&d->primary, 0, primary) != 0)
        return -1;
    *state = d;
    if (start_replica(&d->replica, d->primary.port) != 0)
        return -1;
    for (int i = 0; i < NSENT; i++) {
        tls_port[i] = tls ? vt_free_port() : 0;
        if (start_sentinel_tls(&d->sent[i], d->primary.port, "2", "1000", tls_port[i]) != 0)
            return -1;
    }
    replica_streams(d);
    hello_period(d, "100");
    if (!vt_poll_until(sentinels_ready, d, READY_DEADLINE_MS, 50))
        fail_msg("the sentinels did not find the replica and each other within %d ms",
                 READY_DEADLINE_MS);
    hello_period(d, "2000");
    return 0;
}

static int deploy_setup_auth(void **state)
{
    int rc = deploy_setup(state);
    if (rc == 0)
        require_passwords(*state);
    return rc;
}

static int deploy_teardown(void **state)
{
    struct deploy *d = *state;
    vt_server *all[] = {&d->sent[0], &d->sent[1], &d->sent[2], &d->liar,
                        &d->primary, &d->replica, &d->added};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i]->pid > 0)
            kill(all[i]->pid, SIGCONT); /* a test that failed may leave one frozen */
        if (all[i]->dir[0] != '\0')
            vt_server_stop(all[i]);
    }
    free(d);
    return 0;
}

/* "[127.0.0.1:<first>,]127.0.0.1:<s1>,...,serviceName=mymaster,<extra>", static. */
static const char *conf_for(const struct deploy *d, int first, const char *extra)
{
    static char conf[512];
    int n = first > 0 ? snprintf(conf, sizeof conf, "127.0.0.1:%d,", first) : 0;
    conf[n] = '\0';
    for (int i = 0; i < NSENT; i++)
        n += snprintf(conf + n, sizeof conf - (size_t)n, "127.0.0.1:%d,", d->sent[i].port);
    snprintf(conf + n, sizeof conf - (size_t)n,
             "serviceName=" SERVICE ",reconnectMin=20,reconnectMax=500,connectTimeout=2000%s%s",
             extra[0] != '\0' ? "," : "", extra);
    return conf;
}

/* ---- what the handle says ---- */

/* tcp_port from INFO server through the handle, or -1. */
static int handle_port(vmux *m)
{
    const char *argv[] = {"INFO", "server"};
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 5000, .flags = VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    int port = -1;
    if (vmux_call(m, &o, 2, argv, NULL, &r) == 0) {
        const char *p = strstr(vmux_reply_str(r, NULL), "tcp_port:");
        port = p != NULL ? atoi(p + strlen("tcp_port:")) : -1;
    }
    vmux_reply_free(r);
    return port;
}

static void set_get(vmux *m)
{
    vmux_reply *r = NULL;
    int rc = vmux_call(m, NULL, 3, (const char *[]){"SET", "sentinel:k", "v1"}, NULL, &r);
    if (rc != 0)
        fail_msg("SET: %s %s", vmux_err_name(rc), r != NULL ? vmux_reply_str(r, NULL) : "");
    vmux_reply_free(r);
    assert_int_equal(vmux_call(m, NULL, 2, (const char *[]){"GET", "sentinel:k"}, NULL, &r), 0);
    assert_string_equal(vmux_reply_str(r, NULL), "v1");
    vmux_reply_free(r);
}

/* Events: whether a failure named needle; when the handle first connected to target. */
struct events {
    char target[64];
    _Atomic uint64_t follow_ns;
    _Atomic uint64_t pause_ns; /* when the handle left the old primary for the failover */
    atomic_bool not_primary;
    atomic_bool target_broke; /* a connection to target failed or broke */
};

static void on_event(const vmux_event *e, void *ud)
{
    struct events *ev = ud;
    uint64_t zero = 0;
    if (e->type == VMUX_EVENT_CONNECTION_RESTORED && strcmp(e->endpoint, ev->target) == 0)
        atomic_compare_exchange_strong(&ev->follow_ns, &zero, vt_now_ns());
    if (e->type == VMUX_EVENT_CONNECTION_FAILED && strstr(e->reason, "not the primary") != NULL)
        atomic_store(&ev->not_primary, true);
    if (e->type == VMUX_EVENT_CONNECTION_FAILED && strcmp(e->endpoint, ev->target) == 0)
        atomic_store(&ev->target_broke, true);
    zero = 0;
    if (e->type == VMUX_EVENT_CONNECTION_FAILED && strstr(e->reason, "failing the primary over"))
        atomic_compare_exchange_strong(&ev->pause_ns, &zero, vt_now_ns());
}

static vmux *open_events(const char *conf, struct events *ev, int target_port)
{
    snprintf(ev->target, sizeof ev->target, "127.0.0.1:%d", target_port);
    vmux_config *cfg = vt_config(conf);
    vmux_config_set_event_handler(cfg, on_event, ev);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

/* ---- discovery ---- */

/* The first sentinel listed is down; the others name the primary. */
static void test_discovers_primary(void **state)
{
    struct deploy *d = *state;
    vmux *m = vt_open_conf(conf_for(d, 1, ""));
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);
}

/*
 * setlib=false, and no sentinelPassword: the connections to the sentinels send no setup command
 * (the data connection's ROLE check is one). They waited for a setup reply that never came,
 * failed at connectTimeout, again and again, and vmux_open gave VMUX_ERR_TIMEOUT.
 */
static void test_sentinel_setlib_off(void **state)
{
    struct deploy *d = *state;
    vmux *m = vt_open_conf(conf_for(d, 0, "setlib=false"));
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);
}

/*
 * maxBulkLength=8: "127.0.0.1" (9 bytes), in GET-MASTER-ADDR-BY-NAME's answer, is the library's
 * own reply, read under the default limits; a user's INFO still breaks the user's limit.
 */
static void test_limits_bound_user_replies_only(void **state)
{
    struct deploy *d = *state;
    vmux *m = vt_open_conf(conf_for(d, 0, "maxBulkLength=8"));
    set_get(m);
    char err[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, &o, 2, (const char *[]){"INFO", "server"}, NULL, &r),
                     VMUX_ERR_PROTOCOL);
    if (strstr(err, "exceeds maxBulkLength 8") == NULL)
        fail_msg("INFO server: %s", err);
    vmux_close(m);
}

/* A server's GET calls since its last CONFIG RESETSTAT (INFO commandstats). */
static long get_calls(int port)
{
    redisReply *r = side(port, "INFO commandstats");
    assert_non_null(r);
    const char *at = r->str != NULL ? strstr(r->str, "cmdstat_get:calls=") : NULL;
    long n = at != NULL ? strtol(at + strlen("cmdstat_get:calls="), NULL, 10) : 0;
    freeReplyObject(r);
    return n;
}

/* n GETs of sentinel:k through the handle, each of which must succeed. */
static void get_k(vmux *m, int n)
{
    for (int i = 0; i < n; i++) {
        vmux_bytes v = {0};
        assert_int_equal(vmux_get(m, NULL, VMUX_STR("sentinel:k"), &v), 0);
        vmux_bytes_free(&v);
    }
}

/* CONFIG RESETSTAT on each of the n servers at ports. */
static void reset_stats(const int *ports, int n)
{
    for (int i = 0; i < n; i++)
        freeReplyObject(side(ports[i], "CONFIG RESETSTAT"));
}

/* A readFrom=replica handle, on the primary, which has written sentinel:k = v1 there. */
static vmux *open_replica_reads(const struct deploy *d)
{
    vmux *m = vt_open_conf(conf_for(d, 0, "readFrom=replica"));
    assert_int_equal(handle_port(m), d->primary.port);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, (const char *[]){"SET", "sentinel:k", "v1"}, NULL, &r),
                     0);
    vmux_reply_free(r);
    return m;
}

struct reads_to {
    vmux *m;
    int port;
};

/* A few reads through the handle; whether the server at port has served any GET yet. */
static bool reads_reach(void *arg)
{
    struct reads_to *w = arg;
    get_k(w->m, 20);
    return get_calls(w->port) > 0;
}

/* readFrom=replica (docs/replicas.md): the sentinels name the replica, reads go there. */
static void test_reads_from_replica(void **state)
{
    struct deploy *d = *state;
    vmux *m = open_replica_reads(d);
    /* Until the sentinels have named the replica, the shard has none and reads go to the
     * primary (docs/replicas.md): wait until one has reached the replica. */
    struct reads_to w = {m, d->replica.port};
    if (!vt_poll_until(reads_reach, &w, 20000, 50))
        fail_msg("no read reached the replica within 20000 ms");
    uint64_t until = vt_now_ms() + 20000; /* the replica's connection, and replication */
    for (bool seen = false; !seen;) {
        assert_true(vt_now_ms() < until);
        vmux_bytes v = {0};
        assert_int_equal(vmux_get(m, NULL, VMUX_STR("sentinel:k"), &v), 0);
        seen = v.len == 2 && memcmp(v.ptr, "v1", 2) == 0;
        vmux_bytes_free(&v);
    }
    assert_true(get_calls(d->replica.port) > 0);
    reset_stats((const int[]){d->primary.port, d->replica.port}, 2);
    get_k(m, 50);
    assert_int_equal(get_calls(d->replica.port), 50);
    assert_int_equal(get_calls(d->primary.port), 0);
    vmux_close(m);
}

#define ADDED_DEADLINE_MS 120000 /* the sentinels ask the primary INFO every 10 s */

/*
 * readFrom=replica, and a replica started under the running handle (REPLICAOF the primary): the
 * sentinels find it in the primary's INFO and announce it (+slave); the handle asks SENTINEL
 * REPLICAS again, once a second while the sentinels are not yet connected to it, and from the
 * moment they see it healthy reads go to it too: round-robin over both replicas, none to the
 * primary.
 */
static void test_added_replica_gets_reads(void **state)
{
    struct deploy *d = *state;
    vmux *m = open_replica_reads(d);
    assert_int_equal(start_replica(&d->added, d->primary.port), 0);
    uint64_t t0 = vt_now_ms();
    struct reads_to w = {m, d->added.port};
    if (!vt_poll_until(reads_reach, &w, ADDED_DEADLINE_MS, 100))
        fail_msg("no read reached the added replica within %d ms", ADDED_DEADLINE_MS);
    printf("# the added replica served its first read %llu ms after it synced\n",
           (unsigned long long)(vt_now_ms() - t0));
    reset_stats((const int[]){d->primary.port, d->replica.port, d->added.port}, 3);
    get_k(m, 100);
    long first = get_calls(d->replica.port), added = get_calls(d->added.port);
    assert_true(first > 0);
    assert_true(added > 0);
    assert_int_equal(first + added, 100);
    assert_int_equal(get_calls(d->primary.port), 0);
    vmux_close(m);
}

/* Reads through the handle (each must succeed); whether the server at port served none of them. */
static bool reads_avoid(void *arg)
{
    struct reads_to *w = arg;
    freeReplyObject(side(w->port, "CONFIG RESETSTAT"));
    for (int i = 0; i < 20; i++) {
        vmux_bytes v = {0};
        assert_int_equal(vmux_get(w->m, NULL, VMUX_STR("sentinel:k"), &v), 0);
        vmux_bytes_free(&v);
    }
    return get_calls(w->port) == 0;
}

/* The replica refuses PING (ACL), which the sentinels ask every second: +sdown a second later. */
static void refuse_ping(const struct deploy *d, bool refuse)
{
    side_ok(d->replica.port, "ACL SETUSER default %s", refuse ? "-ping" : "+ping");
}

/* Whether sentinel sport flags the replica s_down. */
static bool replica_sdown(int sport, int rport)
{
    redisReply *r = side(sport, "SENTINEL REPLICAS %s", SERVICE);
    bool down = false;
    for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        bool is_it = false, flagged = false;
        for (size_t k = 0; e->type == REDIS_REPLY_ARRAY && k + 1 < e->elements; k += 2) {
            const char *name = e->element[k]->str, *val = e->element[k + 1]->str;
            is_it |= strcmp(name, "port") == 0 && atoi(val) == rport;
            flagged |= strcmp(name, "flags") == 0 && strstr(val, "s_down") != NULL;
        }
        down |= is_it && flagged;
    }
    freeReplyObject(r);
    return down;
}

/* Whether some sentinel flags the replica s_down (each marks it on its own PING's time). */
static bool some_sdown(void *arg)
{
    const struct deploy *d = arg;
    for (int i = 0; i < NSENT; i++)
        if (replica_sdown(d->sent[i].port, d->replica.port))
            return true;
    return false;
}

#define SDOWN_DEADLINE_MS 30000

/*
 * +sdown, -sdown: the replica refuses the sentinels' PING, so they mark it subjectively down,
 * while its connection to the handle stays healthy (the handle sends it no PING under load).
 * The handle, told by +sdown, asks SENTINEL REPLICAS again and stops reading from it: every read
 * goes to the primary and none fails. It answers PING again: -sdown, and reads go back to it.
 */
static void test_sdown_replica_skipped(void **state)
{
    struct deploy *d = *state;
    vmux *m = vt_open_conf(conf_for(d, 0, "readFrom=preferReplica"));
    set_get(m);
    struct reads_to rep = {m, d->replica.port}, pri = {m, d->primary.port};
    if (!vt_poll_until(reads_reach, &rep, SDOWN_DEADLINE_MS, 20))
        fail_msg("no read reached the replica");
    refuse_ping(d, true);
    if (!vt_poll_until(reads_avoid, &rep, SDOWN_DEADLINE_MS, 20))
        fail_msg("reads still reach the replica %d ms after it refused PING", SDOWN_DEADLINE_MS);
    assert_true(vt_poll_until(some_sdown, d, SDOWN_DEADLINE_MS, 20)); /* for that reason */
    assert_true(replica_synced(&d->replica.port));                    /* and not another */
    assert_false(reads_avoid(&pri));                                  /* the primary serves */
    refuse_ping(d, false);
    if (!vt_poll_until(reads_reach, &rep, SDOWN_DEADLINE_MS, 20))
        fail_msg("no read reached the replica %d ms after -sdown", SDOWN_DEADLINE_MS);
    vmux_close(m);
}

/* Whether the handle's query connection (its last command a SENTINEL question) is on sport. */
static bool asks_there(int sport)
{
    redisReply *r = side(sport, "CLIENT LIST");
    bool found = false;
    for (char *line = r != NULL && r->str != NULL ? r->str : NULL; line != NULL && !found;) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        found = strstr(line, "lib-name=vmux") != NULL &&
                (strstr(line, "cmd=sentinel|replicas") != NULL ||
                 strstr(line, "cmd=sentinel|get-master-addr-by-name") != NULL);
        line = end != NULL ? end + 1 : NULL;
    }
    freeReplyObject(r);
    return found;
}

/*
 * SENTINEL REPLICAS has a deadline of its own: the sentinel the handle asks is frozen (SIGSTOP:
 * its connection stays open and answers nothing), then the replica goes +sdown, which the other
 * sentinels announce. The question goes to the frozen one, and after connectTimeout (2 s) to the
 * next, which answers: reads leave the replica. With syncTimeout=60000 the frozen connection
 * would be judged dead only after two minutes, past the test's deadline. Reads and writes go on
 * meanwhile.
 */
static void test_replicas_question_deadline(void **state)
{
    struct deploy *d = *state;
    vmux *m = vt_open_conf(conf_for(d, 0, "readFrom=preferReplica,syncTimeout=60000"));
    set_get(m);
    struct reads_to rep = {m, d->replica.port};
    if (!vt_poll_until(reads_reach, &rep, SDOWN_DEADLINE_MS, 20))
        fail_msg("no read reached the replica");
    assert_true(asks_there(d->sent[0].port)); /* the first sentinel listed */
    assert_int_equal(kill(d->sent[0].pid, SIGSTOP), 0);
    refuse_ping(d, true);
    if (!vt_poll_until(reads_avoid, &rep, SDOWN_DEADLINE_MS, 20))
        fail_msg("reads still reach the replica %d ms after +sdown", SDOWN_DEADLINE_MS);
    set_get(m); /* the primary serves on */
    assert_int_equal(kill(d->sent[0].pid, SIGCONT), 0);
    refuse_ping(d, false);
    if (!vt_poll_until(reads_reach, &rep, SDOWN_DEADLINE_MS, 20))
        fail_msg("no read reached the replica %d ms after -sdown", SDOWN_DEADLINE_MS);
    vmux_close(m);
}

static bool target_broke(void *arg)
{
    return atomic_load(&((struct events *)arg)->target_broke);
}

/*
 * The question for the primary has a deadline too: the sentinel the handle asks is frozen
 * (SIGSTOP), and the handle's connection to the primary is cut. Its reconnect asks the frozen
 * sentinel, and after connectTimeout (2 s) the next one, which answers: a write made after the
 * handle saw the cut completes within 20 s. (A write sent before the handle saw it could have
 * reached the dying connection, and its outcome would rightly be unknown.) With
 * syncTimeout=60000 the frozen connection would be judged dead only after two minutes, and the
 * question would wait for that.
 */
static void test_primary_question_deadline(void **state)
{
    struct deploy *d = *state;
    struct events ev = {0};
    vmux *m = open_events(conf_for(d, 0, "syncTimeout=60000"), &ev, d->primary.port);
    set_get(m);
    assert_true(asks_there(d->sent[0].port)); /* the first sentinel listed */
    assert_int_equal(kill(d->sent[0].pid, SIGSTOP), 0);
    redisReply *k = side(d->primary.port, "CLIENT KILL TYPE normal SKIPME yes");
    bool killed = k != NULL && k->type == REDIS_REPLY_INTEGER && k->integer >= 1;
    freeReplyObject(k);
    bool saw = killed && vt_poll_until(target_broke, &ev, 10000, 5);
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 20000);
    vmux_reply *r = NULL;
    int rc = saw ? vmux_call(m, &o, 3, (const char *[]){"SET", "sentinel:q", "v"}, NULL, &r) : -1;
    vmux_reply_free(r);
    assert_int_equal(kill(d->sent[0].pid, SIGCONT), 0);
    vmux_close(m);
    assert_true(killed);
    assert_true(saw);
    if (rc != 0)
        fail_msg("SET after the reconnect: %s", vmux_err_name(rc));
}

static void expect_open_error(const char *conf, int code, const char *needle)
{
    char err[512] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(conf, &cfg, err, sizeof err);
    vmux *m = NULL;
    if (rc == 0)
        rc = vmux_open(cfg, &m, err, sizeof err);
    vmux_config_free(cfg);
    if (m != NULL)
        vmux_close(m);
    if (rc != code || strstr(err, needle) == NULL)
        fail_msg("%s: %s '%s', expected %s and '%s'", conf, vmux_err_name(rc), err,
                 vmux_err_name(code), needle);
}

static void test_bad_settings(void **state)
{
    struct deploy *d = *state;
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d,serviceName=nosuch,connectRetry=2", d->sent[0].port);
    expect_open_error(conf, VMUX_ERR_CONNECT, "knows no service 'nosuch'");
    snprintf(conf, sizeof conf, "127.0.0.1:%d,sentinelPassword=x", d->sent[0].port);
    expect_open_error(conf, VMUX_ERR_CONFIG, "need serviceName");
    snprintf(conf, sizeof conf, "127.0.0.1:%d,serviceName=a,cluster=yes", d->sent[0].port);
    expect_open_error(conf, VMUX_ERR_CONFIG, "cannot be combined");
    expect_open_error("127.0.0.1:1,serviceName=my master", VMUX_ERR_CONFIG,
                      "printable ASCII without spaces");
}

/* A sentinel that names the replica, listed first: ROLE refuses it; the next one is asked. */
static void test_stale_sentinel(void **state)
{
    struct deploy *d = *state;
    assert_int_equal(start_sentinel(&d->liar, d->replica.port, "1", "600000"), 0);
    redisContext *c = side_connect(d->liar.port);
    assert_non_null(c);
    assert_int_equal(named_port(c), d->replica.port);
    redisFree(c);

    struct events ev = {0};
    vmux *m = open_events(conf_for(d, d->liar.port, ""), &ev, d->primary.port);
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);
    assert_true(atomic_load(&ev.not_primary));
}

/*
 * The first sentinel listed names an address nobody listens on, and later (SENTINEL REMOVE)
 * knows no such service at all: neither is a sentinel failure, but either moves the question to
 * the next sentinel, which names the primary, so the handle opens and works in both cases.
 */
static void test_sentinel_naming_nothing_skipped(void **state)
{
    struct deploy *d = *state;
    assert_int_equal(start_sentinel(&d->liar, vt_free_port(), "1", "600000"), 0);
    char conf[512];
    snprintf(conf, sizeof conf, "%s", conf_for(d, d->liar.port, "syncTimeout=20000"));
    vmux *m = vt_open_conf(conf); /* the liar's dead address, then the next sentinel's answer */
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);

    side_ok(d->liar.port, "SENTINEL REMOVE %s", SERVICE);
    m = vt_open_conf(conf); /* the liar's nil, then the next sentinel's answer */
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);
}

/*
 * The first endpoint listed refuses GET-MASTER-ADDR-BY-NAME: a plain valkey-server ("ERR unknown
 * command 'SENTINEL'"), then a sentinel whose ACL user lacks the command (NOPERM). The question
 * moves to the next sentinel, which answers, so the handle opens and works. Before, the refusal
 * failed vmux_open() at once (VMUX_ERR_SETUP, VMUX_ERR_AUTH) and every attempt asked the same
 * endpoint again.
 */
static void test_refusing_sentinel_skipped(void **state)
{
    struct deploy *d = *state;
    assert_int_equal(vt_server_start(&d->liar, 0, NULL), 0); /* no sentinel */
    vmux *m = vt_open_conf(conf_for(d, d->liar.port, ""));
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);

    side_ok(d->sent[0].port, "ACL SETUSER %s on >ask-pass +ping +subscribe &*", "vmuxask");
    for (int i = 1; i < NSENT; i++)
        side_ok(d->sent[i].port,
                "ACL SETUSER %s on >ask-pass +sentinel|get-master-addr-by-name +ping +subscribe &*",
                "vmuxask");
    m = vt_open_conf(conf_for(d, 0, "sentinelUser=vmuxask,sentinelPassword=ask-pass"));
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);
}

/*
 * Every sentinel frozen (SIGSTOP: connections accepted, nothing answered), then the handle's
 * connection to the primary cut: the reconnect asks the sentinels, none answers within
 * connectTimeout, and the handle goes back to the primary they last named (its ROLE checked)
 * rather than failing until a sentinel is back.
 */
static void test_sentinels_down_last_primary_kept(void **state)
{
    struct deploy *d = *state;
    struct events ev = {0};
    vmux *m = open_events(conf_for(d, 0, "syncTimeout=20000"), &ev, d->primary.port);
    set_get(m);
    for (int i = 0; i < NSENT; i++)
        assert_int_equal(kill(d->sent[i].pid, SIGSTOP), 0);
    redisReply *k = side(d->primary.port, "CLIENT KILL TYPE normal SKIPME yes");
    bool killed = k != NULL && k->type == REDIS_REPLY_INTEGER && k->integer >= 1;
    freeReplyObject(k);
    bool saw = killed && vt_poll_until(target_broke, &ev, 10000, 5);
    vmux_reply *r = NULL;
    int rc =
        saw ? vmux_call(m, NULL, 3, (const char *[]){"SET", "sentinel:down", "v"}, NULL, &r) : -1;
    vmux_reply_free(r);
    for (int i = 0; i < NSENT; i++)
        assert_int_equal(kill(d->sent[i].pid, SIGCONT), 0);
    vmux_close(m);
    assert_true(killed);
    assert_true(saw);
    if (rc != 0)
        fail_msg("SET with every sentinel frozen: %s", vmux_err_name(rc));
}

/*
 * Sentinels and data nodes with passwords of their own, reached with a valkey+sentinel:// URL:
 * the URL's password is the data nodes', sentinelPassword the sentinels'.
 */
static void test_sentinel_auth_and_url(void **state)
{
    struct deploy *d = *state;
    char url[512], conf[512];
    snprintf(url, sizeof url,
             "valkey+sentinel://:" DATA_PASS "@127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/" SERVICE
             "?sentinelPassword=" SENTINEL_PASS "&connectTimeout=2000&reconnectMin=20",
             d->sent[0].port, d->sent[1].port, d->sent[2].port);
    vmux *m = vt_open_conf(url);
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);

    /* No sentinel password: the sentinel refuses the question. */
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,serviceName=" SERVICE ",password=" DATA_PASS ",connectRetry=1",
             d->sent[0].port);
    expect_open_error(conf, VMUX_ERR_AUTH, "NOAUTH");
    /* A wrong one: setup fails on every sentinel, and the attempt with it once each has failed
     * (connectTimeout with room for a sentinel slow to answer on a loaded machine: 1 s was seen
     * to pass). */
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,serviceName=" SERVICE ",password=" DATA_PASS
             ",sentinelPassword=wrong,connectRetry=1,connectTimeout=5000",
             d->sent[0].port);
    expect_open_error(conf, VMUX_ERR_AUTH, "AUTH failed");
    /* The sentinels' password is not the data nodes': the primary refuses it. */
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,serviceName=" SERVICE ",sentinelPassword=" SENTINEL_PASS
             ",connectRetry=1",
             d->sent[0].port);
    expect_open_error(conf, VMUX_ERR_AUTH, "NOAUTH");
}

/* "127.0.0.1:P," for each TLS sentinel, into conf; returns the length written. */
static int tls_sentinels(char *conf, size_t cap)
{
    int n = 0;
    for (int i = 0; i < NSENT; i++)
        n += snprintf(conf + n, cap - (size_t)n, "127.0.0.1:%d,", tls_port[i]);
    return n;
}

/* TLS to the sentinels only (sentinelTls), the data nodes plain (no ssl). */
static void test_sentinel_tls_apart(void **state)
{
    struct deploy *d = *state;
    const char *c = vt_certs_dir();
    char conf[1024];
    int n = tls_sentinels(conf, sizeof conf);
    snprintf(conf + n, sizeof conf - (size_t)n,
             "serviceName=" SERVICE ",sentinelTls=true,sslCaFile=%s/ca.crt,connectTimeout=2000,"
             "reconnectMin=20",
             c);
    vmux *m = vt_open_conf(conf);
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    vmux_close(m);

    /* Without sentinelTls, the TLS sentinels answer nothing the handle can read. */
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,serviceName=" SERVICE ",connectRetry=1,connectTimeout=1000",
             tls_port[0]);
    expect_open_error(conf, VMUX_ERR_CONNECT, "none answered");

    /* A CA that signed none of them: every handshake fails, and so does vmux_open(), with
     * VMUX_ERR_TLS and without waiting out connectTimeout (a minute here; it took all of it, and
     * gave VMUX_ERR_CONNECT "none answered", before). */
    n = tls_sentinels(conf, sizeof conf);
    snprintf(conf + n, sizeof conf - (size_t)n,
             "serviceName=" SERVICE ",sentinelTls=true,sslCaFile=%s/other-ca.crt,connectRetry=1,"
             "connectTimeout=60000,reconnectMin=20",
             c);
    uint64_t t0 = vt_now_ns();
    expect_open_error(conf, VMUX_ERR_TLS, "certificate verify failed");
    assert_true(vt_now_ns() - t0 < 30000000000ull);
}

/* ---- failover under load ---- */

static int slot_shard[VMUX_SLOTS]; /* all 0: one shard, the service */

static struct cl_run *load_begin(vmux *m, const char *prefix)
{
    struct cl_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    run->m = m;
    run->timeout_ms = 30000;
    run->prefix = prefix;
    run->incr_may_be_lost = true;
    run->dead_shard = 0;
    run->slot_shard = slot_shard;
    for (int t = 0; t < CL_THREADS; t++) {
        for (int i = 0; i < CL_STRINGS; i++)
            cl_name_string(run, t, i, "s");
        for (int i = 0; i < CL_COUNTERS; i++)
            cl_name_counter(run, t, i, "s");
    }
    cl_start(run);
    cl_wait_ops(run, 50);
    return run;
}

/* SENTINEL FAILOVER, again while the sentinel has no replica it trusts yet (NOGOODSLAVE). */
struct failover_try {
    int port;
    char last[256];
};

static bool failover_accepted(void *arg)
{
    struct failover_try *f = arg;
    redisReply *r = side(f->port, "SENTINEL FAILOVER %s", SERVICE);
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    snprintf(f->last, sizeof f->last, "%s", r != NULL && r->str != NULL ? r->str : "(none)");
    freeReplyObject(r);
    return ok;
}

/* The first time any sentinel names want. */
struct switch_watch {
    redisContext *c[NSENT];
    int want;
};

static bool switched(void *arg)
{
    struct switch_watch *w = arg;
    for (int i = 0; i < NSENT; i++)
        if (w->c[i] != NULL && named_port(w->c[i]) == w->want)
            return true;
    return false;
}

static bool followed(void *arg)
{
    return atomic_load(&((struct events *)arg)->follow_ns) != 0;
}

/*
 * Waits for the first sentinel to name the replica, then for the handle to connect to it within
 * FOLLOW_MS of that; returns when the sentinels switched. set_event: the run's event becomes
 * when the handle followed (calls started after it can reach the new primary only).
 */
static uint64_t wait_follow(struct deploy *d, struct cl_run *run, struct events *ev, bool set_event)
{
    struct switch_watch w = {.want = d->replica.port};
    for (int i = 0; i < NSENT; i++)
        w.c[i] = side_connect(d->sent[i].port);
    bool sw = vt_poll_until(switched, &w, SWITCH_DEADLINE_MS, 2);
    uint64_t t_switch = vt_now_ns();
    for (int i = 0; i < NSENT; i++)
        redisFree(w.c[i]);
    if (!sw)
        fail_msg("no sentinel named the replica within %d ms", SWITCH_DEADLINE_MS);
    if (!vt_wait_until(followed, ev, FOLLOW_MS))
        fail_msg("the handle did not connect to the new primary within %d ms of the switch",
                 FOLLOW_MS);
    uint64_t f = atomic_load(&ev->follow_ns);
    if (set_event)
        atomic_store(&run->event_ns, f);
    printf("# handle connected to the new primary %.1f ms after the test saw the switch\n",
           f > t_switch ? (double)(f - t_switch) / 1e6 : -(double)(t_switch - f) / 1e6);
    return t_switch;
}

/*
 * The start of a test under load: a handle on the primary (run->m; its events into ev, the
 * replica its target), the load on it, and the barrier written: only writes acknowledged after
 * it may be lost.
 */
static struct cl_run *load_with_barrier(struct deploy *d, struct events *ev, const char *prefix)
{
    vmux *m = open_events(conf_for(d, 0, "syncTimeout=30000"), ev, d->replica.port);
    assert_int_equal(handle_port(m), d->primary.port);
    struct cl_run *run = load_begin(m, prefix);
    cl_barrier(run, d->primary.port, "sentinel:barrier");
    return run;
}

/* Returns how many acknowledged writes the server lost. */
static int load_end(struct deploy *d, struct cl_run *run, vmux *m)
{
    cl_wait_ops(run, 50);
    cl_stop(run);
    long ops, incr, unknown, maybe_lost;
    cl_totals(run, &ops, &incr, &unknown, &maybe_lost);
    int missing = cl_check_ledger(run, false);
    printf("# %ld calls, %ld INCRs acknowledged, %ld unknown; %d errors, %d wrong replies, %d "
           "INCRs beyond the ledger; %ld writes acknowledged after the barrier, %d lost\n",
           ops, incr, unknown, atomic_load(&run->errors), atomic_load(&run->wrong),
           atomic_load(&run->twice), maybe_lost, missing);
    assert_int_equal(atomic_load(&run->errors), 0);
    assert_int_equal(atomic_load(&run->wrong), 0);
    assert_int_equal(atomic_load(&run->twice), 0);
    assert_int_equal(handle_port(m), d->replica.port);
    vmux_close(m);
    free(run);
    return missing;
}

static void test_sentinel_failover_under_load(void **state)
{
    struct deploy *d = *state;
    struct events ev = {0};
    struct cl_run *run = load_with_barrier(d, &ev, "fo");
    vmux *m = run->m;
    uint64_t t0 = vt_now_ns();
    struct failover_try f = {d->sent[0].port, ""};
    if (!vt_poll_until(failover_accepted, &f, 30000, 200))
        fail_msg("SENTINEL FAILOVER was refused for 30 s: %s", f.last);
    uint64_t t_switch = wait_follow(d, run, &ev, true);
    uint64_t paused = atomic_load(&ev.pause_ns), followed = atomic_load(&ev.follow_ns);
    printf("# the sentinels switched %.0f ms after SENTINEL FAILOVER; the handle stopped writing "
           "to the old primary %.0f ms before it wrote to the new one\n",
           (double)(t_switch - t0) / 1e6,
           paused != 0 && followed > paused ? (double)(followed - paused) / 1e6 : -1.0);
    assert_true(paused != 0); /* +selected-slave was heard */
    /*
     * The handle left the old primary at +selected-slave, which the sentinel publishes at least
     * one of its timer ticks (50 to 100 ms) before it promotes the replica: only the writes in
     * flight then (one per thread: the calls are synchronous) can have been acknowledged by the
     * old primary and not reached the replica. Without the pause, thousands were lost.
     */
    int lost = load_end(d, run, m);
    if (lost > CL_THREADS)
        fail_msg("%d acknowledged writes lost, more than the %d that may have been in flight when "
                 "the handle heard +selected-slave",
                 lost, CL_THREADS);
}

/*
 * The primary is lost under load (sig: SIGKILL, or SIGSTOP, a hung one; prefix names the run's
 * keys and the fault): the sentinels promote the replica, the handle follows within FOLLOW_MS of
 * their switch, and the load ends clean.
 */
static void primary_lost_under_load(struct deploy *d, const char *prefix, int sig)
{
    struct events ev = {0};
    struct cl_run *run = load_with_barrier(d, &ev, prefix);
    vmux *m = run->m;
    uint64_t t0 = vt_now_ns();
    if (sig == SIGKILL)
        vt_server_kill(&d->primary);
    else
        assert_int_equal(kill(d->primary.pid, sig), 0);
    atomic_store(&run->event_ns, t0); /* after the fault, only the new primary answers */
    uint64_t t_switch = wait_follow(d, run, &ev, false);
    printf("# the sentinels switched %.0f ms after the %s\n", (double)(t_switch - t0) / 1e6,
           prefix);
    load_end(d, run, m);
}

static void test_primary_killed_under_load(void **state)
{
    primary_lost_under_load(*state, "kill", SIGKILL);
}

/*
 * A hung primary (SIGSTOP): at the sentinels' +switch-master the handle lets its connection go
 * (it owes replies it will never send; in-flight commands follow the delivery rules) and follows
 * at once. It once waited for those replies until the dead-link threshold (2 x syncTimeout: 60 s
 * here), and every call made meanwhile timed out.
 */
static void test_primary_stopped_under_load(void **state)
{
    primary_lost_under_load(*state, "stop", SIGSTOP);
}

/*
 * A sentinel user that may not SUBSCRIBE (only SENTINEL GET-MASTER-ADDR-BY-NAME and PING): no
 * announcement comes, so the handle asks where the primary is every second and follows the
 * changed answer. The old primary here refuses the sentinels CLIENT KILL (an ACL), so their
 * reconfiguration of it, a transaction, is refused whole, as when they cannot reach it: it stays a
 * primary and keeps the handle's connection, and only the sentinels' answer can lead the handle
 * away. It stayed there before, and the writes the old primary acknowledged were lost (probe39:
 * 215 to 255 INCRs a run).
 */
static void test_sentinel_user_without_subscribe(void **state)
{
    struct deploy *d = *state;
    side_ok(d->primary.port, "ACL SETUSER default %s", "-client|kill");
    for (int i = 0; i < NSENT; i++)
        side_ok(d->sent[i].port,
                "ACL SETUSER %s on >nosub-pass +sentinel|get-master-addr-by-name +ping", "nosub");
    /* A user that may not even ask: refused, and its name masked in the reason (probe39) */
    for (int i = 0; i < NSENT; i++)
        side_ok(d->sent[i].port, "ACL SETUSER %s on >noask-pass +ping", "vmuxnoask");
    expect_open_error(conf_for(d, 0,
                               "sentinelUser=vmuxnoask,sentinelPassword=noask-pass,"
                               "connectRetry=1"),
                      VMUX_ERR_AUTH, "NOPERM User ***** has no permissions");
    struct events ev = {0};
    vmux *m = open_events(conf_for(d, 0, "sentinelUser=nosub,sentinelPassword=nosub-pass"), &ev,
                          d->replica.port);
    assert_int_equal(handle_port(m), d->primary.port);
    set_get(m);
    struct failover_try f = {d->sent[0].port, ""};
    if (!vt_poll_until(failover_accepted, &f, 30000, 200))
        fail_msg("SENTINEL FAILOVER was refused for 30 s: %s", f.last);
    if (!vt_wait_until(followed, &ev, SWITCH_DEADLINE_MS))
        fail_msg("the handle did not connect to the new primary within %d ms", SWITCH_DEADLINE_MS);
    assert_int_equal(handle_port(m), d->replica.port);
    set_get(m);
    vmux_close(m);
}

/* A handle on conf whose log, from INFO up, goes to fn with ud. */
static vmux *open_logged(const char *conf, vmux_log_fn fn, void *ud)
{
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, fn, VMUX_LOG_INFO, ud), 0);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

static vt_logtext deaf_log = VT_LOGTEXT_INIT;

static bool deaf_logged(void *arg)
{
    return vt_logtext_has(arg, "SUBSCRIBE to the failover events refused");
}

static bool hearing_logged(void *arg)
{
    return vt_logtext_has(arg, "no longer asking for the primary");
}

/*
 * Whether every connection of nosub's on every sentinel (one at least) last ran PING: idle,
 * its keepAlive=1 heartbeat sent at each tick. The question connection of a deaf handle asks
 * at each tick before its heartbeat is due, so it never idles on PING.
 */
static char busy_line[512]; /* the last connection idle_on_ping() found not idle on PING */

static bool idle_on_ping(void *arg)
{
    const struct deploy *d = arg;
    int conns = 0;
    bool idle = true;
    for (int i = 0; i < NSENT && idle; i++) {
        redisReply *r = side(d->sent[i].port, "CLIENT LIST");
        char *line = r != NULL && r->type == REDIS_REPLY_STRING ? r->str : NULL;
        idle = line != NULL;
        while (line != NULL && idle) {
            char *end = strchr(line, '\n');
            if (end != NULL)
                *end = '\0';
            if (strstr(line, " user=nosub ") != NULL) { /* it may not CLIENT SETINFO */
                conns++;
                idle = strstr(line, " cmd=ping ") != NULL;
                if (!idle)
                    snprintf(busy_line, sizeof busy_line, "%s", line);
            }
            line = end != NULL ? end + 1 : NULL;
        }
        freeReplyObject(r);
    }
    return idle && conns > 0;
}

/*
 * A sentinel user refused +subscribe, then granted it (ACL SETUSER on every sentinel), its
 * connections killed: the watchers reconnect, their SUBSCRIBE is confirmed, and the handle hears
 * the announcements again (logged) and asks no more every second, its question connection idle
 * on its heartbeat. A refusal made the handle deaf for good before, asking every second.
 */
static void test_subscribe_granted_ends_deaf(void **state)
{
    struct deploy *d = *state;
    for (int i = 0; i < NSENT; i++)
        side_ok(d->sent[i].port,
                "ACL SETUSER %s on >nosub-pass +sentinel|get-master-addr-by-name "
                "+sentinel|replicas +ping",
                "nosub");
    const char *conf = conf_for(d, 0, "sentinelUser=nosub,sentinelPassword=nosub-pass,keepAlive=1");
    vmux *m = open_logged(conf, vt_logtext_line, &deaf_log);
    set_get(m);
    if (!vt_wait_until(deaf_logged, &deaf_log, 20000))
        fail_msg("no refused SUBSCRIBE logged in 20 s:\n%s", deaf_log.text);
    for (int i = 0; i < NSENT; i++) {
        side_ok(d->sent[i].port, "ACL SETUSER %s +subscribe &*", "nosub");
        freeReplyObject(side(d->sent[i].port, "CLIENT KILL USER nosub"));
    }
    if (!vt_poll_until(idle_on_ping, d, 20000, 50))
        fail_msg("the handle still asks the sentinels at every tick 20 s after +subscribe: "
                 "%s",
                 busy_line);
    if (!vt_wait_until(hearing_logged, &deaf_log, 20000))
        fail_msg("the end of deafness not logged; the handle's log:\n%s", deaf_log.text);
    set_get(m);
    vmux_close(m);
}

/* SENTINEL REPLICAS refusals the log told of: their count, when the first and the last came. */
struct refusals {
    atomic_int n;
    _Atomic uint64_t first_ms, last_ms;
    atomic_bool masked; /* every one named the sentinel user masked */
};

static void on_refusal_log(vmux_log_level level, const char *msg, void *ud)
{
    struct refusals *rf = ud;
    if (strstr(msg, "SENTINEL REPLICAS refused") == NULL)
        return;
    uint64_t now = vt_now_ms(), zero = 0;
    atomic_compare_exchange_strong(&rf->first_ms, &zero, now);
    atomic_store(&rf->last_ms, now);
    if (strstr(msg, "norep") != NULL || strstr(msg, "*****") == NULL)
        atomic_store(&rf->masked, false);
    /* the first is a warning, the others information */
    if ((atomic_fetch_add(&rf->n, 1) == 0) != (level == VMUX_LOG_WARN))
        atomic_store(&rf->masked, false);
}

static bool refused_times(void *arg)
{
    struct refusals *rf = arg;
    return atomic_load(&rf->n) >= 4;
}

/*
 * A sentinel user without sentinel|replicas (probe39): the refusal is logged (a warning, then
 * information), reads go to the primary, and the question is asked again after 1 s, doubling
 * (1 + 2 + 4 s between the first refusal and the fourth, each at the once-a-second tick nearest
 * it: it was asked every second, and never said). Once allowed, the replica is found and serves the
 * reads.
 */
static void test_sentinel_user_without_replicas(void **state)
{
    struct deploy *d = *state;
    for (int i = 0; i < NSENT; i++)
        side_ok(d->sent[i].port,
                "ACL SETUSER %s on >norep-pass +sentinel|get-master-addr-by-name +subscribe +ping "
                "&*",
                "norep");
    struct refusals rf = {.masked = true};
    const char *conf = conf_for(d, 0,
                                "sentinelUser=norep,sentinelPassword=norep-pass,"
                                "readFrom=preferReplica");
    vmux *m = open_logged(conf, on_refusal_log, &rf);
    set_get(m);
    if (!vt_wait_until(refused_times, &rf, 30000))
        fail_msg("%d refusals of SENTINEL REPLICAS logged in 30 s", atomic_load(&rf.n));
    assert_true(atomic_load(&rf.masked));
    uint64_t spread = atomic_load(&rf.last_ms) - atomic_load(&rf.first_ms);
    if (spread < 5000) /* 7 s, each wait asked at the tick nearest it; every second it was 3 s */
        fail_msg("4 refusals within %llu ms: asked again without waiting longer",
                 (unsigned long long)spread);
    reset_stats((const int[]){d->primary.port, d->replica.port}, 2);
    get_k(m, 20);
    assert_int_equal(get_calls(d->primary.port), 20);
    assert_int_equal(get_calls(d->replica.port), 0);
    for (int i = 0; i < NSENT; i++)
        side_ok(d->sent[i].port, "ACL SETUSER %s +sentinel|replicas", "norep");
    struct reads_to w = {m, d->replica.port};
    if (!vt_wait_until(reads_reach, &w, 60000)) /* the wait is 16 s by now */
        fail_msg("no read reached the replica within 60 s of the permission");
    vmux_close(m);
}

/*
 * The first sentinel's user may not ask SENTINEL REPLICAS, the others' may: the refused question
 * moves to the next sentinel, whose answer sends reads to the replica. Before, it was asked of
 * the first one again and again, and every read went to the primary.
 */
static void test_replicas_refusal_skipped(void **state)
{
    struct deploy *d = *state;
    side_ok(d->sent[0].port,
            "ACL SETUSER %s on >rep-pass +sentinel|get-master-addr-by-name +subscribe +ping &*",
            "vmuxrep");
    for (int i = 1; i < NSENT; i++)
        side_ok(d->sent[i].port,
                "ACL SETUSER %s on >rep-pass +sentinel|get-master-addr-by-name "
                "+sentinel|replicas +subscribe +ping &*",
                "vmuxrep");
    vmux *m = vt_open_conf(conf_for(d, 0,
                                    "sentinelUser=vmuxrep,sentinelPassword=rep-pass,"
                                    "readFrom=replica"));
    set_get(m);
    struct reads_to w = {m, d->replica.port};
    if (!vt_poll_until(reads_reach, &w, 20000, 50))
        fail_msg("no read reached the replica within 20 s");
    vmux_close(m);
}

/* A server's total_error_replies (INFO stats: a sentinel keeps no commandstats). */
static long error_replies(int port)
{
    redisReply *r = side(port, "INFO stats");
    assert_non_null(r);
    const char *at = r->str != NULL ? strstr(r->str, "total_error_replies:") : NULL;
    assert_non_null(at);
    long n = strtol(at + strlen("total_error_replies:"), NULL, 10);
    freeReplyObject(r);
    return n;
}

/* Whether every sentinel has the handle's watcher, subscribed (its setup done). */
static bool all_watched(void *arg)
{
    const struct deploy *d = arg;
    for (int i = 0; i < NSENT; i++) {
        redisReply *r = side(d->sent[i].port, "CLIENT LIST");
        bool found = false;
        for (char *line = r != NULL && r->str != NULL ? r->str : NULL; line != NULL && !found;) {
            char *end = strchr(line, '\n');
            if (end != NULL)
                *end = '\0';
            found = strstr(line, "lib-name=vmux") != NULL && strstr(line, " sub=") != NULL &&
                    strstr(line, " sub=0 ") == NULL;
            line = end != NULL ? end + 1 : NULL;
        }
        freeReplyObject(r);
        if (!found)
            return false;
    }
    return true;
}

/*
 * readFrom=replica: the connections to the sentinels send no READONLY, which a sentinel refuses
 * ("unknown command"), counted in its total_error_replies. They inherited readFrom before and
 * sent it at every connect (and, under azAffinity, INFO server, which an ACL may refuse).
 */
static void test_sentinel_conns_no_readonly(void **state)
{
    struct deploy *d = *state;
    long before[NSENT];
    for (int i = 0; i < NSENT; i++)
        before[i] = error_replies(d->sent[i].port);
    vmux *m = vt_open_conf(conf_for(d, 0, "readFrom=replica"));
    set_get(m);
    struct reads_to w = {m, d->replica.port};
    if (!vt_poll_until(reads_reach, &w, 20000, 50)) /* the query link asked the replicas */
        fail_msg("no read reached the replica within 20 s");
    if (!vt_poll_until(all_watched, d, 20000, 50))
        fail_msg("the handle did not watch every sentinel within 20 s");
    for (int i = 0; i < NSENT; i++)
        if (error_replies(d->sent[i].port) != before[i])
            fail_msg("sentinel %d answered %ld error(s) to the handle", d->sent[i].port,
                     error_replies(d->sent[i].port) - before[i]);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discovers_primary, deploy_setup, deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_setlib_off, deploy_setup, deploy_teardown),
        cmocka_unit_test_setup_teardown(test_limits_bound_user_replies_only, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_bad_settings, deploy_setup, deploy_teardown),
        cmocka_unit_test_setup_teardown(test_reads_from_replica, deploy_setup, deploy_teardown),
        cmocka_unit_test_setup_teardown(test_added_replica_gets_reads, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sdown_replica_skipped, deploy_setup, deploy_teardown),
        cmocka_unit_test_setup_teardown(test_primary_question_deadline, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_replicas_question_deadline, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_stale_sentinel, deploy_setup, deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_naming_nothing_skipped, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinels_down_last_primary_kept, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_refusing_sentinel_skipped, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_auth_and_url, deploy_setup_auth,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_tls_apart, deploy_setup_tls, deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_user_without_subscribe, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_granted_ends_deaf, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_user_without_replicas, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_replicas_refusal_skipped, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_conns_no_readonly, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_failover_under_load, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_primary_stopped_under_load, deploy_setup,
                                        deploy_teardown),
        cmocka_unit_test_setup_teardown(test_primary_killed_under_load, deploy_setup,
                                        deploy_teardown),
    };
    vt_filter_tests(); /* VT_ONLY, VT_SKIP: resilience.sentinel and resilience.sentinel.serial */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
