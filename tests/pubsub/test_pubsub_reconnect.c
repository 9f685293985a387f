/*
 * Automatic resubscription. The test owns its server (tests/support/servers.h): it kills it
 * with SIGKILL and starts it again on the same port, and the handle's subscriptions (channel,
 * pattern and shard; callback and queue) become live again with no call from the user: after
 * vmux_sub_wait_live(), messages published arrive, exactly once each, in order. Subscriptions
 * made while the server is down become live when it returns, as does the first subscription
 * of a handle whose subscriber connection cannot connect yet; one unsubscribed while the
 * server is down is not issued again. The same when the server stays up and only drops the
 * subscriber connection (CLIENT KILL TYPE pubsub).
 *
 * After a freeze (the I/O thread stood still for more than 3 s: here a message callback that
 * blocks it, while the server is stopped with SIGSTOP, so the checks after the freeze cannot
 * pass at once): a subscription made and one ended while the handle checks its connections
 * take effect once the server answers again, without a reconnect: the new one receives what is
 * published then, and the server counts no receiver for the ended one.
 */
#include <pthread.h>
#include <signal.h>
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

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "servers.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum { WAIT_MS = 60000, LIVE_MS = 30000, CYCLES = 3, BATCH = 50, MAXNAME = 64 };

/* Quick reconnects, and room for commands to wait while the server is away. */
static const char *const CONF = "syncTimeout=15000,connectTimeout=2000,reconnectMin=20,"
                                "reconnectMax=250";

static void name_of(char *buf, size_t size, const char *what)
{
    snprintf(buf, size, "vmux:ps:%d:%s", (int)getpid(), what);
}

static int64_t publish(vmux *m, bool shard, const char *channel, const char *payload)
{
    int64_t receivers = -1;
    int rc = vmux_publish(m, NULL, shard ? VMUX_SUB_SHARD : VMUX_SUB_CHANNEL, VMUX_STR(channel),
                          VMUX_STR(payload), &receivers);
    if (rc != 0)
        fail_msg("%s %s: %s", shard ? "SPUBLISH" : "PUBLISH", channel, vmux_err_name(rc));
    return receivers;
}

static bool not_live(void *arg)
{
    return vmux_sub_wait_live(arg, 0) == VMUX_ERR_TIMEOUT;
}

/* The handle noticed the server is gone: the subscription is no longer confirmed. */
static void wait_not_live(vmux_sub *s)
{
    if (!vt_wait_until(not_live, s, WAIT_MS))
        fail_msg("a subscription still reports live after the server died");
}

static void wait_live(vmux_sub *s)
{
    int rc = vmux_sub_wait_live(s, LIVE_MS);
    if (rc != 0)
        fail_msg("a subscription did not become live again: %s", vmux_err_name(rc));
}

/* ---- a subscriber that checks the sequence of what it receives ---- */

struct sink {
    char channel[MAXNAME]; /* where its messages are published */
    char name[MAXNAME];    /* what it subscribed: the channel, or a pattern */
    bool shard;
    vmux_msgq *queue; /* NULL: callback */
    vmux_sub *sub;
    unsigned next;   /* the sequence number expected next */
    atomic_uint got; /* messages in the right order */
    atomic_uint bad; /* messages out of order, duplicated, or on the wrong channel */
};

static void take(struct sink *k, const vmux_message *msg)
{
    char want[32];
    int n = snprintf(want, sizeof want, "%u", k->next);
    bool ok = msg->channel.len == strlen(k->channel) &&
              memcmp(msg->channel.ptr, k->channel, msg->channel.len) == 0 &&
              msg->payload.len == (size_t)n && memcmp(msg->payload.ptr, want, (size_t)n) == 0;
    if (ok) {
        k->next++;
        atomic_fetch_add(&k->got, 1);
    } else {
        atomic_fetch_add(&k->bad, 1);
    }
}

static void on_message(const vmux_message *msg, void *ud)
{
    take(ud, msg);
}

static void sink_init(struct sink *k, vmux *m, vmux_sub_kind kind, const char *what, bool queue)
{
    memset(k, 0, sizeof(*k));
    name_of(k->channel, sizeof k->channel, what);
    snprintf(k->name, sizeof k->name, "%s", k->channel);
    if (kind == VMUX_SUB_PATTERN) /* "...:p:1" published, "...:p:*" subscribed */
        k->name[strlen(k->name) - 1] = '*';
    k->shard = kind == VMUX_SUB_SHARD;
    atomic_init(&k->got, 0);
    atomic_init(&k->bad, 0);
    int rc;
    if (queue) {
        assert_int_equal(vmux_msgq_new(10000, VMUX_OVERFLOW_DROP_OLDEST, &k->queue), 0);
        rc = vmux_subscribe_queue(m, kind, VMUX_STR(k->name), k->queue, &k->sub);
    } else {
        rc = vmux_subscribe(m, kind, VMUX_STR(k->name), on_message, k, &k->sub);
    }
    assert_int_equal(rc, 0);
}

struct sink_goal {
    struct sink *k;
    unsigned want;
};

/* All wanted messages came, or a wrong one did. */
static bool sink_settled(void *arg)
{
    struct sink_goal *g = arg;
    return atomic_load(&g->k->got) >= g->want || atomic_load(&g->k->bad) != 0;
}

/* Takes queued messages until the goal is met or the deadline passes. */
static void drain_queue(struct sink_goal *g)
{
    uint64_t until = vt_now_ms() + WAIT_MS;
    while (!sink_settled(g) && vt_now_ms() < until) {
        vmux_message msg;
        if (vmux_msgq_pop(g->k->queue, 100, &msg) == 0) {
            take(g->k, &msg);
            vmux_message_free(&msg);
        }
    }
}

/* Publishes the next batch (each message reaches exactly this subscription) and waits for it. */
static void sink_round(struct sink *k, vmux *m, unsigned *published)
{
    for (unsigned i = 0; i < BATCH; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%u", (*published)++);
        assert_int_equal(publish(m, k->shard, k->channel, buf), 1);
    }
    struct sink_goal g = {k, *published};
    if (k->queue != NULL)
        drain_queue(&g);
    else
        vt_wait_until(sink_settled, &g, WAIT_MS);
    if (atomic_load(&k->bad) != 0 || atomic_load(&k->got) != *published)
        fail_msg("%s: %u messages in order and %u wrong, of %u published", k->name,
                 atomic_load(&k->got), atomic_load(&k->bad), *published);
}

static void sink_end(struct sink *k, vmux *m)
{
    assert_int_equal(vmux_unsubscribe(m, k->sub), 0);
    if (k->queue != NULL)
        assert_int_equal(vmux_msgq_length(k->queue), 0); /* nothing extra came */
    vmux_msgq_free(k->queue);
}

enum { NSINKS = 4 };

static void sinks_init(struct sink *k, vmux *m)
{
    sink_init(&k[0], m, VMUX_SUB_CHANNEL, "rc:chan", false);
    sink_init(&k[1], m, VMUX_SUB_PATTERN, "rc:pat:1", true);
    sink_init(&k[2], m, VMUX_SUB_SHARD, "rc:shard", true);
    sink_init(&k[3], m, VMUX_SUB_CHANNEL, "rc:chanq", true);
}

/* ---- kill, restart, live again ---- */

static void test_resubscribed_after_restart(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    vmux *m = vt_server_open(&srv, CONF);
    static struct sink k[NSINKS];
    unsigned published[NSINKS] = {0};
    sinks_init(k, m);
    for (int i = 0; i < NSINKS; i++) {
        wait_live(k[i].sub);
        sink_round(&k[i], m, &published[i]);
    }

    for (int cycle = 0; cycle < CYCLES; cycle++) {
        vt_server_kill(&srv);
        for (int i = 0; i < NSINKS; i++)
            wait_not_live(k[i].sub);
        assert_int_equal(vt_server_restart(&srv), 0);
        /* No call but waiting: the library issues every subscription again by itself. */
        for (int i = 0; i < NSINKS; i++)
            wait_live(k[i].sub);
        for (int i = 0; i < NSINKS; i++)
            sink_round(&k[i], m, &published[i]);
    }
    for (int i = 0; i < NSINKS; i++)
        sink_end(&k[i], m);
    vmux_close(m);
    vt_server_stop(&srv);
}

/* ---- subscribing while the server is down ---- */

static void on_nothing(const vmux_message *msg, void *ud)
{
    (void)msg;
    (void)ud;
}

static void test_subscribe_while_down(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    vmux *m = vt_server_open(&srv, CONF);
    char gone[MAXNAME], never[MAXNAME];
    name_of(gone, sizeof gone, "down:gone");
    name_of(never, sizeof never, "down:never");
    vmux_sub *before = NULL, *brief = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(gone), on_nothing, NULL, &before),
                     0);
    wait_live(before);

    vt_server_kill(&srv);
    wait_not_live(before);
    static struct sink k[NSINKS];
    unsigned published[NSINKS] = {0};
    sinks_init(k, m);
    /* Unsubscribed while down, both the old one and one never confirmed: neither comes back. */
    assert_int_equal(vmux_unsubscribe(m, before), 0);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(never), on_nothing, NULL, &brief),
                     0);
    assert_int_equal(vmux_unsubscribe(m, brief), 0);
    for (int i = 0; i < NSINKS; i++)
        assert_int_equal(vmux_sub_wait_live(k[i].sub, 0), VMUX_ERR_TIMEOUT);

    assert_int_equal(vt_server_restart(&srv), 0);
    for (int i = 0; i < NSINKS; i++)
        wait_live(k[i].sub);
    for (int i = 0; i < NSINKS; i++)
        sink_round(&k[i], m, &published[i]);
    assert_int_equal(publish(m, false, gone, "anyone?"), 0);
    assert_int_equal(publish(m, false, never, "anyone?"), 0);

    for (int i = 0; i < NSINKS; i++)
        sink_end(&k[i], m);
    vmux_close(m);
    vt_server_stop(&srv);
}

/* The handle's first subscription, made while the server is down: the subscriber connection
 * opens for it and keeps trying until the server is back. */
static void test_first_subscription_while_down(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    vmux *m = vt_server_open(&srv, CONF);
    vt_server_kill(&srv);

    static struct sink k[NSINKS];
    unsigned published[NSINKS] = {0};
    sinks_init(k, m);
    for (int i = 0; i < NSINKS; i++)
        assert_int_equal(vmux_sub_wait_live(k[i].sub, 0), VMUX_ERR_TIMEOUT);
    assert_int_equal(vt_server_restart(&srv), 0);
    for (int i = 0; i < NSINKS; i++)
        wait_live(k[i].sub);
    for (int i = 0; i < NSINKS; i++)
        sink_round(&k[i], m, &published[i]);

    for (int i = 0; i < NSINKS; i++)
        sink_end(&k[i], m);
    vmux_close(m);
    vt_server_stop(&srv);
}

/* ---- the server drops the subscriber connection and stays up ---- */

/* CLIENT KILL TYPE pubsub on the test's own server, not through vmux; returns how many. */
static long long kill_subscribers(const vt_server *srv)
{
    redisContext *c = redisConnect("127.0.0.1", srv->port);
    if (c == NULL || c->err)
        fail_msg("cannot reach the server on port %d", srv->port);
    redisReply *r = redisCommand(c, "CLIENT KILL TYPE pubsub");
    long long n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static uint64_t connects(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &st), 0);
    return st.connects;
}

struct connects_goal {
    vmux *m;
    uint64_t want;
};

static bool connects_reached(void *arg)
{
    struct connects_goal *g = arg;
    vmux_stats st = VMUX_INIT(vmux_stats);
    return vmux_read_stats(g->m, &st) == 0 && st.connects >= g->want;
}

static void test_subscriber_connection_killed(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    vmux *m = vt_server_open(&srv, CONF);
    static struct sink k[NSINKS];
    unsigned published[NSINKS] = {0};
    sinks_init(k, m);
    for (int i = 0; i < NSINKS; i++) {
        wait_live(k[i].sub);
        sink_round(&k[i], m, &published[i]);
    }
    for (int cycle = 0; cycle < CYCLES; cycle++) {
        /* The server forgets the subscriptions along with the connection. The handle reconnects
         * at once, so the moment its subscriptions are not live may be too short to see: the
         * sign that the new connection is up is the handle's connection counter. */
        struct connects_goal g = {m, connects(m) + 1};
        assert_int_equal(kill_subscribers(&srv), 1);
        if (!vt_wait_until(connects_reached, &g, WAIT_MS))
            fail_msg("the subscriber connection was not replaced");
        for (int i = 0; i < NSINKS; i++)
            wait_live(k[i].sub);
        for (int i = 0; i < NSINKS; i++)
            sink_round(&k[i], m, &published[i]);
    }
    for (int i = 0; i < NSINKS; i++)
        sink_end(&k[i], m);
    vmux_close(m);
    vt_server_stop(&srv);
}

/* ---- a user without +ping: the refusal answers the subscriber's heartbeat ---- */

/* ACL SETUSER user and its rules (words apart, each one argument) on the test's own server. */
static void acl_setuser(const vt_server *srv, const char *user, const char *rules)
{
    char words[256];
    const char *argv[16] = {"ACL", "SETUSER", user};
    int argc = 3;
    snprintf(words, sizeof words, "%s", rules);
    char *save = NULL;
    for (char *w = strtok_r(words, " ", &save); w != NULL && argc < 16;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    redisContext *c = redisConnect("127.0.0.1", srv->port);
    assert_true(c != NULL && !c->err);
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_STATUS)
        fail_msg("ACL SETUSER %s %s: %s", user, rules, r != NULL && r->str != NULL ? r->str : "?");
    freeReplyObject(r);
    redisFree(c);
}

/* The server's count of cmd (lower case) it refused (INFO commandstats' rejected_calls). */
static long long refused_calls(const vt_server *srv, const char *cmd)
{
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:", cmd);
    redisContext *c = redisConnect("127.0.0.1", srv->port);
    if (c == NULL || c->err)
        fail_msg("cannot reach the server on port %d", srv->port);
    redisReply *r = redisCommand(c, "INFO commandstats");
    const char *stat = r != NULL && r->type == REDIS_REPLY_STRING ? strstr(r->str, field) : NULL;
    const char *rejected = stat != NULL ? strstr(stat, "rejected_calls=") : NULL;
    long long n = stat == NULL ? 0 : rejected != NULL ? atoll(rejected + 15) : -1;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

struct refused_goal {
    const vt_server *srv;
    const char *cmd;
    long long want;
};

static bool refused_reached(void *arg)
{
    struct refused_goal *g = arg;
    return refused_calls(g->srv, g->cmd) >= g->want;
}

/*
 * A user the server refuses PING (an ACL without +ping): the heartbeat's NOPERM on the
 * subscriber connection is the server's answer, so the connection lives on. It was handed to
 * the subscriptions as a request's refusal, and the PING counted as unanswered failed the link
 * as dead every 2 s here (probe39: every ~69 s with the defaults), losing the messages between.
 * Twelve refusals (the data connection's heartbeat is refused too: at most two a second) span
 * at least three of those deaths.
 */
static void test_ping_refused_keeps_subscriber(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    acl_setuser(&srv, "vmuxnoping", "reset on >np-pass ~* &* +@all -ping");
    vmux *m = vt_server_open(&srv, "user=vmuxnoping,password=np-pass,keepAlive=1,syncTimeout=500,"
                                   "reconnectMin=20,reconnectMax=250");
    static struct sink k;
    sink_init(&k, m, VMUX_SUB_CHANNEL, "noping", false);
    wait_live(k.sub);
    uint64_t before = connects(m);
    struct refused_goal g = {&srv, "ping", refused_calls(&srv, "ping") + 12};
    if (!vt_wait_until(refused_reached, &g, WAIT_MS))
        fail_msg("the server did not refuse the heartbeats' PINGs");
    if (connects(m) != before)
        fail_msg("%llu connections made while PING was refused",
                 (unsigned long long)(connects(m) - before));
    unsigned published = 0;
    sink_round(&k, m, &published);
    sink_end(&k, m);
    vmux_close(m);
    vt_server_stop(&srv);
}

/*
 * A subscription the server refuses (the user may not read the channel) is asked for again, a
 * second later, then after waits that double: once the channel is granted it becomes live, and
 * its messages arrive. Refused once, it stayed dead for good, even after an ACL revoked and
 * restored while the handle resubscribed (probe39: 0 messages for 7 s after the restore).
 */
static void test_refused_subscription_tried_again(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    acl_setuser(&srv, "vmuxsubacl", "reset on >sa-pass ~* resetchannels +@all");
    vmux *m = vt_server_open(&srv, "user=vmuxsubacl,password=sa-pass,reconnectMin=20,"
                                   "reconnectMax=250");
    static struct sink k;
    sink_init(&k, m, VMUX_SUB_CHANNEL, "granted-later", false);
    struct refused_goal g = {&srv, "subscribe", 2}; /* the first try and one more */
    if (!vt_wait_until(refused_reached, &g, WAIT_MS))
        fail_msg("the server did not refuse the subscription twice");
    assert_int_equal(vmux_sub_wait_live(k.sub, 0), VMUX_ERR_TIMEOUT);
    char grant[128];
    snprintf(grant, sizeof grant, "&%s", k.channel);
    acl_setuser(&srv, "vmuxsubacl", grant);
    wait_live(k.sub);
    unsigned published = 0;
    sink_round(&k, m, &published);
    sink_end(&k, m);
    vmux_close(m);
    vt_server_stop(&srv);
}

/* ---- a freeze: subscribing and unsubscribing while the connections are checked ---- */

enum { STALL_MS = 3500 }; /* longer than the 3 s after which a late tick means a freeze */

/* Long timeouts: the checks after the freeze wait for a stopped server without failing. */
static const char *const FREEZE_CONF = "syncTimeout=15000,connectTimeout=15000,"
                                       "reconnectMin=20,reconnectMax=250";

struct freeze {
    atomic_bool stalling; /* the stall callback has started */
    atomic_bool checking; /* the handle logged its check after the freeze */
    atomic_uint fresh;    /* messages the subscription made during the check received */
};

/* Blocks the I/O thread for STALL_MS, as a frozen process would stand still. */
static void on_stall(const vmux_message *msg, void *ud)
{
    (void)msg;
    struct freeze *f = ud;
    atomic_store(&f->stalling, true);
    vt_stand_still(STALL_MS);
}

static void on_freeze_log(vmux_log_level level, const char *message, void *ud)
{
    (void)level;
    if (strstr(message, "the process was suspended") != NULL)
        atomic_store(&((struct freeze *)ud)->checking, true);
}

static void on_fresh(const vmux_message *msg, void *ud)
{
    (void)msg;
    atomic_fetch_add(&((struct freeze *)ud)->fresh, 1);
}

static bool flag_set(void *arg)
{
    return atomic_load((atomic_bool *)arg);
}

static bool got_some(void *arg)
{
    return atomic_load((atomic_uint *)arg) > 0;
}

/* PUBLISH on a connection of the test's own; the server's count of receivers, -1 on error. */
static long long raw_publish(redisContext *c, const char *channel, const char *payload)
{
    redisReply *r = redisCommand(c, "PUBLISH %s %s", channel, payload);
    long long n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

struct nobody {
    redisContext *c;
    const char *channel;
};

static bool nobody_listens(void *arg)
{
    struct nobody *n = arg;
    return raw_publish(n->c, n->channel, "anyone?") == 0;
}

static void test_subscribe_while_checking(void **state)
{
    (void)state;
    vt_server srv;
    assert_int_equal(vt_server_start(&srv, 0, NULL), 0);
    static struct freeze f;
    atomic_init(&f.stalling, false);
    atomic_init(&f.checking, false);
    atomic_init(&f.fresh, 0);
    char *text = vt_server_conf(&srv, FREEZE_CONF);
    vmux_config *cfg = vt_config(text);
    assert_int_equal(vmux_config_set_log(cfg, on_freeze_log, VMUX_LOG_WARN, &f), 0);
    vmux *m = vt_open_config(cfg, text);
    vmux_config_free(cfg);
    free(text);
    redisContext *rc = redisConnect("127.0.0.1", srv.port);
    assert_true(rc != NULL && rc->err == 0);

    char stall[MAXNAME], old[MAXNAME], fresh[MAXNAME];
    name_of(stall, sizeof stall, "frz:stall");
    name_of(old, sizeof old, "frz:old");
    name_of(fresh, sizeof fresh, "frz:fresh");
    vmux_sub *s_stall = NULL, *s_old = NULL, *s_fresh = NULL;
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(stall), on_stall, &f, &s_stall),
                     0);
    assert_int_equal(vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(old), on_nothing, NULL, &s_old),
                     0);
    wait_live(s_stall);
    wait_live(s_old);
    vmux_reply *pong = NULL; /* the command connection is ready too */
    assert_int_equal(vmux_call(m, NULL, 1, (const char *[]){"PING"}, NULL, &pong), 0);
    vmux_reply_free(pong);

    /* The freeze: the I/O thread stands still while the server stops answering. */
    assert_int_equal(raw_publish(rc, stall, "stall"), 1);
    if (!vt_wait_until(flag_set, &f.stalling, WAIT_MS))
        fail_msg("the stall callback did not run");
    assert_int_equal(kill(srv.pid, SIGSTOP), 0);
    bool checking = vt_wait_until(flag_set, &f.checking, WAIT_MS);
    int sub_rc = -1, unsub_rc = -1;
    if (checking) { /* the window: the server cannot answer the checks yet */
        sub_rc = vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(fresh), on_fresh, &f, &s_fresh);
        unsub_rc = vmux_unsubscribe(m, s_old);
    }
    assert_int_equal(kill(srv.pid, SIGCONT), 0);
    if (!checking)
        fail_msg("the handle did not notice the freeze");
    assert_int_equal(sub_rc, 0);
    assert_int_equal(unsub_rc, 0);

    /* Once the checks pass: the new subscription goes live and receives... */
    wait_live(s_fresh);
    assert_int_equal(raw_publish(rc, fresh, "hello"), 1);
    if (!vt_wait_until(got_some, &f.fresh, WAIT_MS))
        fail_msg("the subscription made during the check received nothing");
    /* ...and the server no longer sends the channel ended during the check. */
    struct nobody n = {rc, old};
    if (!vt_poll_until(nobody_listens, &n, WAIT_MS, 50))
        fail_msg("the server still counts a receiver for the channel unsubscribed during the "
                 "check");
    assert_int_equal(raw_publish(rc, fresh, "again"), 1); /* subscribed once, not twice */
    assert_int_equal(vmux_unsubscribe(m, s_fresh), 0);
    assert_int_equal(vmux_unsubscribe(m, s_stall), 0);
    redisFree(rc);
    vmux_close(m);
    vt_server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resubscribed_after_restart),
        cmocka_unit_test(test_subscribe_while_down),
        cmocka_unit_test(test_first_subscription_while_down),
        cmocka_unit_test(test_subscriber_connection_killed),
        cmocka_unit_test(test_ping_refused_keeps_subscriber),
        cmocka_unit_test(test_refused_subscription_tried_again),
        cmocka_unit_test(test_subscribe_while_checking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
