/*
 * The Sentinel client against a scripted fake sentinel (fakeserver.h) naming scripted fake data
 * nodes: what a real deployment does only over months.
 *
 * - The addresses learned: a deployment announced by IP (Kubernetes pods get a new address at
 *   each restart) names a new primary every time. The client kept the first 64 for good, and
 *   every later primary was an "unusable answer to SENTINEL GET-MASTER-ADDR-BY-NAME" (or an
 *   ignored +switch-master): the handle never reached it again. A full table now reuses an
 *   entry nothing points at; the primary's and a live connection's are kept. Both ways of
 *   learning are driven past 64 addresses (answers, +switch-master), and the rule is checked on
 *   the client's own table.
 * - An error pushed to a watcher whose SUBSCRIBE was confirmed is no refusal of it: the handle
 *   keeps listening and does not ask for the primary every second, as a deaf one does.
 * - A failover completed while the watchers' SUBSCRIBE was not confirmed yet is not heard: once
 *   it is, the handle asks for the primary once more and follows the new one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakefixture.h"
#include "logtext.h"
#include "net/sentinel_internal.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define WAIT_MS 30000
#define NDEAD 70 /* addresses named past the first primary: more than MAX_KNOWN */

static const char ROLE_MASTER[] = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n";

/* The RESP answer to SENTINEL GET-MASTER-ADDR-BY-NAME naming host:port, in buf. */
static const char *addr_answer(char *buf, size_t len, const char *host, int port)
{
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    snprintf(buf, len, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(host), host, strlen(p), p);
    return buf;
}

/* What a sentinel answers to the watchers' SUBSCRIBE, into buf: one confirmation per channel. */
static const char *subscribe_confirmed(char *buf, size_t len)
{
    static const char *const channels[] = {"+switch-master",
                                           "+selected-slave",
                                           "-failover-abort-not-elected",
                                           "-failover-abort-no-good-slave",
                                           "-failover-abort-slave-timeout",
                                           "+slave",
                                           "+sdown",
                                           "-sdown"};
    buf[0] = '\0';
    for (size_t i = 0; i < 8; i++) {
        size_t at = strlen(buf);
        snprintf(buf + at, len - at, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%s\r\n:%zu\r\n",
                 strlen(channels[i]), channels[i], i + 1);
    }
    return buf;
}

/* Makes f answer every SUBSCRIBE at once, as a sentinel does. */
static void answer_subscribe(vt_fake *f)
{
    char buf[1024];
    assert_int_equal(vt_fake_answer(f, "SUBSCRIBE", subscribe_confirmed(buf, sizeof buf), 0), 0);
}

/* A fake data node that says by ROLE it is the primary, and answers GET with name. */
static vt_fake *data_node(const char *name)
{
    vt_fake *f = vt_fake_start();
    assert_non_null(f);
    char get[64];
    snprintf(get, sizeof get, "$%zu\r\n%s\r\n", strlen(name), name);
    assert_int_equal(vt_fake_answer(f, "ROLE", ROLE_MASTER, 0), 0);
    assert_int_equal(vt_fake_answer(f, "GET", get, 0), 0);
    return f;
}

struct get_check {
    vmux *m;
    const char *want;
    char last[256];
};

/* Whether GET k through the handle is answered want (a condition for vt_poll_until()). */
static bool get_answers(void *arg)
{
    struct get_check *g = arg;
    vmux_callopts o = VMUX_INIT(vmux_callopts);
    o.timeout_ms = 1000;
    o.errbuf = g->last;
    o.errlen = sizeof g->last;
    const char *argv[] = {"GET", "k"};
    vmux_reply *r = NULL;
    int rc = vmux_call(g->m, &o, 2, argv, NULL, &r);
    bool ok = rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_STRING &&
              strcmp(vmux_reply_str(r, NULL), g->want) == 0;
    if (rc == 0 && !ok)
        snprintf(g->last, sizeof g->last, "answered %s", r ? vmux_reply_str(r, NULL) : "nothing");
    vmux_reply_free(r);
    return ok;
}

static bool script_taken(void *arg)
{
    return vt_fake_pending(arg) == 0;
}

/* Opens a handle on the sentinel at sport, and waits until its GET reaches d1. */
static vmux *open_on_first(int sport)
{
    char conf[256];
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,serviceName=svc,reconnectMin=1,reconnectMax=20,connectTimeout=5000,"
             "syncTimeout=5000",
             sport);
    vmux *m = vt_open_conf(conf);
    struct get_check g = {.m = m, .want = "d1"};
    if (!vt_poll_until(get_answers, &g, WAIT_MS, 10))
        fail_msg("GET never reached the first primary: %s", g.last);
    return m;
}

/*
 * Waits until GET is answered by d2 (what: whom the failure says it never reached), then closes
 * the handle and stops the data nodes (d1 NULL: stopped already).
 */
static void expect_d2_then_close(vt_fake_fixture *fx, vt_fake *d1, vt_fake *d2, const char *what)
{
    struct get_check g = {.m = fx->m, .want = "d2"};
    if (!vt_poll_until(get_answers, &g, WAIT_MS, 10))
        fail_msg("GET never reached the %s: %s", what, g.last);
    vmux_close(fx->m);
    fx->m = NULL;
    if (d1 != NULL)
        vt_fake_stop(d1);
    vt_fake_stop(d2);
}

/*
 * The sentinel names d1, then (once d1's connection breaks) NDEAD addresses nobody listens on,
 * each after the last one failed, then d2 for good: the handle must reach d2. It asked past the
 * 64th address for ever, each answer "unusable" (the reviewer's fake: VMUX_ERR_TIMEOUT ...
 * unusable answer to SENTINEL GET-MASTER-ADDR-BY-NAME for as long as it ran).
 */
static void test_primary_reached_past_64_addresses(void **state)
{
    vt_fake_fixture *fx = *state;
    vt_fake *d1 = data_node("d1"), *d2 = data_node("d2");
    int sport = vt_fake_port(fx->fake);
    char buf[128], host[32];
    answer_subscribe(fx->fake);
    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL REPLICAS", "*0\r\n", 0), 0);
    vt_fake_script_str(fx->fake, VT_FAKE_SEND,
                       addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d1)));
    fx->m = open_on_first(sport);

    /* 127.0.0.k listens on no port the sentinel's 127.0.0.1 holds: each is refused at once */
    for (int i = 0; i < NDEAD; i++) {
        snprintf(host, sizeof host, "127.0.0.%d", i + 2);
        vt_fake_script_str(fx->fake, VT_FAKE_SEND, addr_answer(buf, sizeof buf, host, sport));
    }
    vt_fake_stop(d1); /* the primary goes: the handle asks, and meets each dead address */
    if (!vt_wait_until(script_taken, fx->fake, WAIT_MS))
        fail_msg("the handle asked for %zu of the %d addresses", NDEAD - vt_fake_pending(fx->fake),
                 NDEAD);
    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL GET-MASTER-ADDR-BY-NAME",
                                    addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d2)), 0),
                     0);
    expect_d2_then_close(fx, NULL, d2, "new primary");
}

static bool subscribed(void *arg)
{
    return vt_fake_count(arg, "SUBSCRIBE") > 0;
}

/* Appends to buf the message a sentinel publishes when svc moves from one address to another. */
static void add_switch(char *buf, size_t len, const char *from, int fport, const char *to,
                       int tport)
{
    char payload[128];
    snprintf(payload, sizeof payload, "svc %s %d %s %d", from, fport, to, tport);
    size_t at = strlen(buf);
    snprintf(buf + at, len - at, "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$%zu\r\n%s\r\n",
             strlen(payload), payload);
}

/*
 * The same through +switch-master: the handle on d1 hears NDEAD switches to addresses nobody
 * listens on, then one to d2, and the sentinel names d2 from then on. The switches past the
 * 64th address were ignored, and the answers naming d2 "unusable": the handle never left the
 * dead addresses.
 */
static void test_switch_followed_past_64_addresses(void **state)
{
    vt_fake_fixture *fx = *state;
    vt_fake *d1 = data_node("d1"), *d2 = data_node("d2");
    int sport = vt_fake_port(fx->fake);
    char buf[128], host[32], from[32] = "127.0.0.1";
    answer_subscribe(fx->fake);
    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL REPLICAS", "*0\r\n", 0), 0);
    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL GET-MASTER-ADDR-BY-NAME",
                                    addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d1)), 0),
                     0);
    fx->m = open_on_first(sport);
    assert_true(vt_wait_until(subscribed, fx->fake, WAIT_MS));

    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL GET-MASTER-ADDR-BY-NAME",
                                    addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d2)), 0),
                     0);
    static char msgs[(NDEAD + 1) * 128];
    msgs[0] = '\0';
    int fport = vt_fake_port(d1);
    for (int i = 0; i < NDEAD; i++, fport = sport) {
        snprintf(host, sizeof host, "127.0.0.%d", i + 2);
        add_switch(msgs, sizeof msgs, from, fport, host, sport);
        snprintf(from, sizeof from, "%s", host);
    }
    add_switch(msgs, sizeof msgs, from, sport, "127.0.0.1", vt_fake_port(d2));
    assert_int_equal(vt_fake_publish(fx->fake, msgs), 0);
    expect_d2_then_close(fx, d1, d2, "announced primary");
}

/* ---- a failover before the SUBSCRIBE is confirmed ---- */

/*
 * The sentinel names d1 and holds the watcher's SUBSCRIBE unanswered; meanwhile the failover
 * completes (it names d2 from then on), its +switch-master published to no one yet subscribed.
 * Then the SUBSCRIBE is confirmed: the handle asks once more and moves to d2, no write needed.
 * It stayed on d1 before (d1 still answers as a primary here; a real demoted node, a replica,
 * serves stale reads until a write meets READONLY).
 */
static void test_switch_before_subscribe_confirmed(void **state)
{
    vt_fake_fixture *fx = *state;
    vt_fake *d1 = data_node("d1"), *d2 = data_node("d2");
    char buf[1024];
    assert_int_equal(vt_fake_answer(fx->fake, "SUBSCRIBE", "", 0), 0); /* held */
    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL REPLICAS", "*0\r\n", 0), 0);
    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL GET-MASTER-ADDR-BY-NAME",
                                    addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d1)), 0),
                     0);
    fx->m = open_on_first(vt_fake_port(fx->fake));
    assert_true(vt_wait_until(subscribed, fx->fake, WAIT_MS));

    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL GET-MASTER-ADDR-BY-NAME",
                                    addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d2)), 0),
                     0);
    unsigned asked = vt_fake_count(fx->fake, "SENTINEL");
    assert_int_equal(vt_fake_publish(fx->fake, subscribe_confirmed(buf, sizeof buf)), 0);
    struct get_check g = {.m = fx->m, .want = "d2"};
    if (!vt_poll_until(get_answers, &g, WAIT_MS, 10))
        fail_msg("GET still not answered by the new primary %d ms after the SUBSCRIBE was "
                 "confirmed (%s); the sentinel was asked %u times since",
                 WAIT_MS, g.last, vt_fake_count(fx->fake, "SENTINEL") - asked);
    vmux_close(fx->m);
    fx->m = NULL;
    vt_fake_stop(d1);
    vt_fake_stop(d2);
}

struct two_fakes {
    vt_fake *a, *b;
};

/* Whether both fakes read a SUBSCRIBE, and the first a question (a condition). */
static bool asked_and_subscribed(void *arg)
{
    struct two_fakes *t = arg;
    return subscribed(t->a) && subscribed(t->b) && vt_fake_count(t->a, "SENTINEL") > 0;
}

/*
 * The same while the start-up question is under way: the first sentinel leaves it unanswered (a
 * frozen process), the watchers' SUBSCRIBEs are confirmed meanwhile, and after connectTimeout
 * the second sentinel answers it with d1, the primary before the failover. Each confirmation is
 * owed a question asked after it: the second sentinel names d2 then, and the handle moves
 * there. A confirmation that came while an older question was under way asked nothing.
 */
static void test_switch_while_question_under_way(void **state)
{
    vt_fake_fixture *fx = *state;
    vt_fake *d1 = data_node("d1"), *d2 = data_node("d2"), *two = vt_fake_start();
    assert_non_null(two);
    char buf[1024], conf[256];
    assert_int_equal(vt_fake_answer(fx->fake, "SUBSCRIBE", "", 0), 0); /* held */
    assert_int_equal(vt_fake_answer(two, "SUBSCRIBE", "", 0), 0);
    vt_fake_script_str(fx->fake, VT_FAKE_SEND_SILENT, ""); /* the question, never answered */
    assert_int_equal(vt_fake_answer(two, "SENTINEL REPLICAS", "*0\r\n", 0), 0);
    vt_fake_script_str(two, VT_FAKE_SEND,
                       addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d1)));
    for (int i = 0; i < 2; i++) /* once per confirmation */
        vt_fake_script_str(two, VT_FAKE_SEND,
                           addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d2)));
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,127.0.0.1:%d,serviceName=svc,abortConnect=false,connectTimeout=5000,"
             "reconnectMin=1,reconnectMax=20",
             vt_fake_port(fx->fake), vt_fake_port(two));
    fx->m = vt_open_conf(conf);
    struct two_fakes t = {fx->fake, two};
    assert_true(vt_wait_until(asked_and_subscribed, &t, WAIT_MS));
    assert_int_equal(vt_fake_publish(fx->fake, subscribe_confirmed(buf, sizeof buf)), 0);
    assert_int_equal(vt_fake_publish(two, subscribe_confirmed(buf, sizeof buf)), 0);
    struct get_check g = {.m = fx->m, .want = "d2"};
    if (!vt_poll_until(get_answers, &g, WAIT_MS, 10))
        fail_msg("GET still not answered by the new primary (%s): the second sentinel got %u "
                 "SENTINEL questions",
                 g.last, vt_fake_count(two, "SENTINEL"));
    vmux_close(fx->m);
    fx->m = NULL;
    vt_fake_stop(two);
    vt_fake_stop(d1);
    vt_fake_stop(d2);
}

/* ---- an error that answers no SUBSCRIBE ---- */

static vt_logtext stray_log = VT_LOGTEXT_INIT;

struct pings {
    vt_fake *f;
    unsigned from;
};

/* Whether the fake has read 3 PINGs more than from (a condition). */
static bool pinged_thrice(void *arg)
{
    struct pings *p = arg;
    return vt_fake_count(p->f, "PING") >= p->from + 3;
}

static bool stray_logged(void *arg)
{
    return vt_logtext_has(arg, "error on the connection that watches for failovers, ignored");
}

/*
 * Whether the first sentinel was asked its start-up questions: the primary, SENTINEL REPLICAS,
 * and the primary once more for the first watcher whose SUBSCRIBE was confirmed (the second's
 * confirmation asks nothing: the first was hearing meanwhile).
 */
static bool startup_asked(void *arg)
{
    return vt_fake_count(arg, "SENTINEL") >= 3;
}

/* Whether SENTINEL REPLICAS was answered: the handle's one question besides the primary's. */
static bool replicas_known(void *arg)
{
    return vt_logtext_has(arg, "readFrom: primary");
}

/*
 * The second sentinel, which only a watcher dials, confirms its SUBSCRIBE and later pushes an
 * error unrelated to it. Any error pushed to a watcher was taken for a refused SUBSCRIBE before:
 * the handle went deaf, and asked the first sentinel where the primary is at every tick for
 * good. Now the error is logged and ignored: over the watcher's next three heartbeat PINGs
 * (keepAlive=1: one a tick), the first sentinel is asked nothing.
 */
static void test_stray_error_not_refusal(void **state)
{
    vt_fake_fixture *fx = *state;
    vt_fake *d1 = data_node("d1"), *two = vt_fake_start();
    assert_non_null(two);
    char buf[128], conf[256];
    answer_subscribe(fx->fake);
    answer_subscribe(two);
    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL REPLICAS", "*0\r\n", 0), 0);
    assert_int_equal(vt_fake_answer(fx->fake, "SENTINEL GET-MASTER-ADDR-BY-NAME",
                                    addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d1)), 0),
                     0);
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,127.0.0.1:%d,serviceName=svc,keepAlive=1,connectTimeout=5000",
             vt_fake_port(fx->fake), vt_fake_port(two));
    vmux_config *cfg = vt_config(conf);
    assert_int_equal(vmux_config_set_log(cfg, vt_logtext_line, VMUX_LOG_INFO, &stray_log), 0);
    fx->m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    struct get_check g = {.m = fx->m, .want = "d1"};
    if (!vt_poll_until(get_answers, &g, WAIT_MS, 10))
        fail_msg("GET never reached the primary: %s", g.last);
    assert_true(vt_wait_until(subscribed, two, WAIT_MS)); /* confirmed before what follows */
    assert_true(vt_wait_until(replicas_known, &stray_log, WAIT_MS));
    assert_true(vt_wait_until(startup_asked, fx->fake, WAIT_MS));
    unsigned asked = vt_fake_count(fx->fake, "SENTINEL");
    struct pings p = {two, vt_fake_count(two, "PING")};
    assert_int_equal(vt_fake_publish(two, "-ERR something unrelated to the subscription\r\n"), 0);
    if (!vt_wait_until(pinged_thrice, &p, WAIT_MS))
        fail_msg("the watcher sent %u heartbeat PINGs in %d ms",
                 vt_fake_count(two, "PING") - p.from, WAIT_MS);
    if (vt_fake_count(fx->fake, "SENTINEL") != asked || vt_logtext_has(&stray_log, "refused"))
        fail_msg("the handle went deaf: %u questions over 3 heartbeats; its log:\n%s",
                 vt_fake_count(fx->fake, "SENTINEL") - asked, stray_log.text);
    if (!vt_wait_until(stray_logged, &stray_log, WAIT_MS))
        fail_msg("the stray error was not logged as ignored; the handle's log:\n%s",
                 stray_log.text);
    vmux_close(fx->m);
    fx->m = NULL;
    vt_fake_stop(two);
    vt_fake_stop(d1);
}

/* ---- a confirmation while another watcher hears ---- */

/*
 * A stale sentinel: the first (which the questions go to) missed the failover and names d1 for
 * good; the second announces +switch-master to d2, and the handle follows. Then the first's
 * watcher SUBSCRIBE is confirmed (a sentinel restarted, or slow): the second was hearing all the
 * while, so nothing was missed and the handle asks nothing. It asked the stale sentinel once more
 * before, and followed its answer back to d1 (review helper-227: 299 of 300 GETs answered by the
 * old primary). Over three heartbeat PINGs on the first sentinel after the confirmation, it is
 * asked nothing and GET stays on d2.
 */
static void test_confirmation_while_another_hears(void **state)
{
    vt_fake_fixture *fx = *state;
    vt_fake *d1 = data_node("d1"), *d2 = data_node("d2"), *two = vt_fake_start();
    assert_non_null(two);
    char buf[1024], conf[256];
    assert_int_equal(vt_fake_answer(fx->fake, "SUBSCRIBE", "", 0), 0); /* held */
    answer_subscribe(two);
    addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d1));
    for (int i = 0; i < 2; i++) {
        vt_fake *f = i == 0 ? fx->fake : two;
        assert_int_equal(vt_fake_answer(f, "SENTINEL REPLICAS", "*0\r\n", 0), 0);
        assert_int_equal(vt_fake_answer(f, "SENTINEL GET-MASTER-ADDR-BY-NAME", buf, 0), 0);
    }
    snprintf(conf, sizeof conf,
             "127.0.0.1:%d,127.0.0.1:%d,serviceName=svc,keepAlive=1,connectTimeout=5000,"
             "reconnectMin=1,reconnectMax=20",
             vt_fake_port(fx->fake), vt_fake_port(two));
    fx->m = vt_open_conf(conf);
    struct get_check g = {.m = fx->m, .want = "d1"};
    if (!vt_poll_until(get_answers, &g, WAIT_MS, 10))
        fail_msg("GET never reached d1: %s", g.last);
    assert_true(vt_wait_until(subscribed, fx->fake, WAIT_MS));
    assert_true(vt_wait_until(subscribed, two, WAIT_MS));
    assert_int_equal(vt_fake_answer(two, "SENTINEL GET-MASTER-ADDR-BY-NAME",
                                    addr_answer(buf, sizeof buf, "127.0.0.1", vt_fake_port(d2)), 0),
                     0);
    buf[0] = '\0';
    add_switch(buf, sizeof buf, "127.0.0.1", vt_fake_port(d1), "127.0.0.1", vt_fake_port(d2));
    assert_int_equal(vt_fake_publish(two, buf), 0);
    g.want = "d2";
    if (!vt_poll_until(get_answers, &g, WAIT_MS, 10))
        fail_msg("+switch-master to d2 not followed: %s", g.last);

    unsigned asked = vt_fake_count(fx->fake, "SENTINEL");
    struct pings p = {fx->fake, vt_fake_count(fx->fake, "PING")};
    assert_int_equal(vt_fake_publish(fx->fake, subscribe_confirmed(buf, sizeof buf)), 0);
    if (!vt_wait_until(pinged_thrice, &p, WAIT_MS))
        fail_msg("the first sentinel read %u heartbeat PINGs in %d ms",
                 vt_fake_count(fx->fake, "PING") - p.from, WAIT_MS);
    if (vt_fake_count(fx->fake, "SENTINEL") != asked)
        fail_msg("the stale sentinel was asked %u questions after its watcher's confirmation, "
                 "while the other watcher was hearing",
                 vt_fake_count(fx->fake, "SENTINEL") - asked);
    if (!get_answers(&g))
        fail_msg("GET left the new primary: %s", g.last);
    vmux_close(fx->m);
    fx->m = NULL;
    vt_fake_stop(two);
    vt_fake_stop(d1);
    vt_fake_stop(d2);
}

/* ---- the table's rule, on the client's own state ---- */

struct table {
    uv_loop_t loop;
    struct vmux_config *cfg;
    struct vmux_sentinel *s;
    struct vmux_link links[MAX_KNOWN];
    struct vmux_conn conns[MAX_KNOWN];
};

/* A sentinel client that connects nothing (never started), on a loop of the test's own. */
static struct table *table_new(void)
{
    struct table *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    t->cfg = vt_config("127.0.0.1:1,serviceName=svc");
    char err[256];
    assert_int_equal(vmux__sentinel_new(&t->loop, t->cfg, &t->s, err, sizeof err), 0);
    return t;
}

/* Link i follows the primary, connected (as far as the client can tell) to ep. */
static void table_connect(struct table *t, int i, const struct vmux_endpoint *ep)
{
    t->conns[i].ep = ep;
    t->links[i].conn = &t->conns[i];
    vmux__sentinel_attach(t->s, &t->links[i]);
}

static void table_free(struct table *t)
{
    for (int i = 0; i < MAX_KNOWN; i++)
        if (t->links[i].sentinel != NULL)
            vmux__sentinel_detach(t->s, &t->links[i]);
    vmux__sentinel_close(t->s);
    assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    vmux_config_free(t->cfg);
    free(t);
}

/* The n-th address of a churn: 10.x.y.z:6379, all distinct. */
static const struct vmux_endpoint *churn(struct table *t, int n)
{
    char host[32];
    snprintf(host, sizeof host, "10.%d.%d.%d", n >> 16 & 255, n >> 8 & 255, n & 255);
    return vmux__sentinel_endpoint(t->s, host, 6379);
}

/*
 * While the table churns through thousands of addresses, the entries of a link's live connection
 * and of the primary stay the ones they point at (under ASan, one freed would be read here), and
 * the table keeps MAX_KNOWN entries; only when every entry is pinned is a new address refused,
 * until a connection lets go of one. Before, the 65th address was refused for good.
 */
static void test_table_reuses_only_what_nothing_points_at(void **state)
{
    (void)state;
    struct table *t = table_new();
    const struct vmux_endpoint *conn_ep = vmux__sentinel_endpoint(t->s, "192.0.2.1", 6379);
    const struct vmux_endpoint *primary = vmux__sentinel_endpoint(t->s, "192.0.2.2", 6379);
    assert_non_null(conn_ep);
    assert_non_null(primary);
    table_connect(t, 0, conn_ep);
    t->s->primary = primary;
    for (int n = 0; n < 4 * MAX_KNOWN; n++)
        if (churn(t, n) == NULL)
            fail_msg("address %d of the churn refused", n + 3);
    assert_int_equal(t->s->nknown, MAX_KNOWN);
    assert_ptr_equal(vmux__sentinel_endpoint(t->s, "192.0.2.1", 6379), conn_ep);
    assert_ptr_equal(vmux__sentinel_endpoint(t->s, "192.0.2.2", 6379), primary);
    assert_string_equal(t->links[0].conn->ep->host, "192.0.2.1");
    assert_string_equal(t->s->primary->host, "192.0.2.2");

    /* every entry pinned: links 1..62 on 62 more addresses, with the connection's and the
     * primary's (the churn's entries they take are the ones looked up last) */
    for (int i = 1; i < MAX_KNOWN - 1; i++)
        table_connect(t, i, churn(t, 10000 + i));
    assert_null(churn(t, 20000));
    t->links[5].conn = NULL; /* its connection ended: its entry is free */
    assert_non_null(churn(t, 20000));
    assert_ptr_equal(vmux__sentinel_endpoint(t->s, "192.0.2.1", 6379), conn_ep);
    assert_ptr_equal(vmux__sentinel_endpoint(t->s, "192.0.2.2", 6379), primary);
    table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VT_FAKE_TEST(test_primary_reached_past_64_addresses),
        VT_FAKE_TEST(test_switch_followed_past_64_addresses),
        VT_FAKE_TEST(test_switch_before_subscribe_confirmed),
        VT_FAKE_TEST(test_switch_while_question_under_way),
        VT_FAKE_TEST(test_confirmation_while_another_hears),
        VT_FAKE_TEST(test_stray_error_not_refusal),
        cmocka_unit_test(test_table_reuses_only_what_nothing_points_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
