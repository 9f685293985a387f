/*
 * vmux_format_metrics() against a real server: the text parses as Prometheus exposition
 * (tests/support/promtext.c: TYPE before every sample, valid names and labels, numeric values),
 * commands move the counters they should, every completion is counted under one outcome, and
 * each node the handle talks to has its own "node" series (one for a standalone server, one per
 * primary reached on a cluster); a short buffer gets a cut, NUL-terminated text and the whole
 * length; bad arguments are refused. A second thread reads the text all along, as a scraper
 * would.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "promtext.h"
#include "testutil.h"
#include "vmux/vmux.h"

enum { NKEYS = 200, WAIT_MS = 60000 };

/* The whole text, however much the counters grew between measuring and writing. */
static char *metrics_text(vmux *m)
{
    int need = vmux_format_metrics(m, NULL, 0);
    assert_true(need > 0);
    size_t cap = (size_t)need + 64;
    for (;;) {
        char *buf = malloc(cap);
        assert_non_null(buf);
        int n = vmux_format_metrics(m, buf, cap);
        assert_true(n > 0);
        if ((size_t)n < cap)
            return buf;
        free(buf);
        cap = (size_t)n + 64;
    }
}

static struct vt_prom metrics(vmux *m)
{
    char *text = metrics_text(m);
    struct vt_prom p;
    if (!vt_prom_parse(text, &p))
        fail_msg("not valid exposition: %s\n%s", p.error, text);
    free(text);
    return p;
}

static double value(const struct vt_prom *p, const char *name, const char *labels)
{
    const struct vt_prom_sample *s = vt_prom_find(p, name, labels);
    if (s == NULL)
        fail_msg("no sample %s{%s}", name, labels);
    return s->value;
}

static double sum(const struct vt_prom *p, const char *name)
{
    double total = 0;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->samples[i].name, name) == 0)
            total += p->samples[i].value;
    return total;
}

static double completed(const struct vt_prom *p)
{
    return sum(p, "vmux_commands_completed_total");
}

static void run_commands(vmux *m)
{
    char key[64], val[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof key, "metrics:%d:%d", (int)getpid(), i);
        snprintf(val, sizeof val, "v%d", i);
        const char *set[] = {"SET", key, val, "EX", "60"};
        const char *get[] = {"GET", key};
        vmux_reply *r = NULL;
        assert_int_equal(vmux_call(m, NULL, 5, set, NULL, &r), 0);
        vmux_reply_free(r);
        assert_int_equal(vmux_call(m, NULL, 2, get, NULL, &r), 0);
        vmux_reply_free(r);
    }
}

/* Every node series names a node of the server under test: the one server, or a cluster node. */
static void check_nodes(const struct vt_prom *p)
{
    const char *cluster = vt_cluster_mode();
    size_t nodes = vt_prom_count(p, "vmux_node_connects_total");
    if (cluster == NULL)
        assert_int_equal(nodes, 1);
    else /* the keys spread over every primary's slots */
        assert_true(nodes >= (size_t)vt_cluster_primaries(cluster));
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->samples[i].name, "vmux_node_connects_total") != 0)
            continue;
        char addr[300], want[64];
        assert_true(vt_prom_label(&p->samples[i], "node", addr, sizeof addr));
        bool known = false;
        int count = cluster == NULL ? 1 : vt_cluster_size(cluster);
        for (int j = 0; j < count && !known; j++) {
            int port = cluster == NULL ? vt_server_port("plain") : vt_cluster_port(cluster, j);
            snprintf(want, sizeof want, "127.0.0.1:%d", port);
            known = strcmp(addr, want) == 0;
        }
        if (!known)
            fail_msg("node label '%s' names no server of the test", addr);
        assert_true(p->samples[i].value >= 1); /* it had a ready connection */
    }
}

/* Another thread formats the text over and over while commands run (and, on a cluster, node
 * links open): under ThreadSanitizer this shows the reading is safe from any thread. */
struct scraper {
    vmux *m;
    atomic_bool stop;
    int scrapes;
};

static void *scrape(void *arg)
{
    struct scraper *s = arg;
    static char text[1 << 16]; /* no cmocka assertion here: they belong to the main thread */
    while (!atomic_load(&s->stop) || s->scrapes == 0) {
        int n = vmux_format_metrics(s->m, text, sizeof text);
        struct vt_prom p = {0};
        bool ok = n > 0 && (size_t)n < sizeof text && vt_prom_parse(text, &p);
        vt_prom_free(&p);
        if (!ok)
            return NULL;
        s->scrapes++;
    }
    return s;
}

static bool nothing_pending(void *arg)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    return vmux_read_stats(arg, &st) == 0 && st.pending == 0 && st.pending_bytes == 0;
}

static void test_counters_move(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    struct vt_prom before = metrics(m);
    struct scraper scraper = {.m = m};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, scrape, &scraper), 0);
    run_commands(m);
    atomic_store(&scraper.stop, true);
    void *scraped = NULL;
    assert_int_equal(pthread_join(t, &scraped), 0);
    assert_ptr_equal(scraped, &scraper); /* every text it read was valid */
    struct vt_prom after = metrics(m);

    double submitted = value(&after, "vmux_commands_submitted_total", "");
    assert_true(submitted - value(&before, "vmux_commands_submitted_total", "") >= 2 * NKEYS);
    assert_true(value(&after, "vmux_commands_completed_total", "outcome=\"replied\"") -
                    value(&before, "vmux_commands_completed_total", "outcome=\"replied\"") >=
                2 * NKEYS);
    /* Every command was synchronous and has returned: each is counted under one outcome. */
    assert_true(completed(&after) == submitted);
    assert_true(value(&after, "vmux_sent_bytes_total", "") >
                value(&before, "vmux_sent_bytes_total", "") + NKEYS * 20);
    assert_true(value(&after, "vmux_received_bytes_total", "") >
                value(&before, "vmux_received_bytes_total", "") + NKEYS * 5);
    assert_true(value(&after, "vmux_connects_total", "") >= 1);

    check_nodes(&after);
    /* The nodes are read after the totals, and counters only grow. */
    assert_true(sum(&after, "vmux_node_sent_bytes_total") >=
                value(&after, "vmux_sent_bytes_total", ""));
    assert_true(sum(&after, "vmux_node_connects_total") >=
                value(&after, "vmux_connects_total", ""));
    vt_prom_free(&before);
    vt_prom_free(&after);

    /* An op gives its share of the gauge back when the I/O thread frees it, just after its
     * caller woke: it reaches 0 soon after the last call, and the text must say so. */
    assert_true(vt_wait_until(nothing_pending, m, WAIT_MS));
    struct vt_prom idle = metrics(m);
    assert_true(value(&idle, "vmux_pending_commands", "") == 0);
    assert_true(value(&idle, "vmux_pending_bytes", "") == 0);
    vt_prom_free(&idle);
    vmux_close(m);
}

/*
 * Error replies are counted among the replied and on their own (probe 51: a handle whose writes
 * the server refused with OOM looked healthy): 10 INCRs of a string the server refuses and 5
 * GETs it answers, then a batch with one refused part: exactly those, in the stats and the text.
 */
static void test_error_replies(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char key[64];
    snprintf(key, sizeof key, "metrics:%d:notanumber", (int)getpid());
    const char *set[] = {"SET", key, "abc"}, *incr[] = {"INCR", key}, *get[] = {"GET", key};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(m, NULL, 3, set, NULL, &r), 0);
    vmux_reply_free(r);
    vmux_stats before = VMUX_INIT(vmux_stats), after = VMUX_INIT(vmux_stats);
    assert_int_equal(vmux_read_stats(m, &before), 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(vmux_call(m, NULL, 2, incr, NULL, &r), VMUX_ERR_SERVER);
        vmux_reply_free(r);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(vmux_call(m, NULL, 2, get, NULL, &r), 0);
        vmux_reply_free(r);
    }
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    assert_int_equal(vmux_batch_add(b, 2, get, NULL), 0);
    assert_int_equal(vmux_batch_add(b, 2, incr, NULL), 0);
    int statuses[2];
    assert_int_equal(vmux_batch_exec(m, NULL, b, statuses, NULL), VMUX_ERR_SERVER);
    assert_int_equal(statuses[1], VMUX_ERR_SERVER);
    vmux_batch_free(b);
    assert_int_equal(vmux_read_stats(m, &after), 0);
    assert_int_equal(after.error_replies - before.error_replies, 11);
    assert_int_equal(after.replied - before.replied, 17);
    struct vt_prom text = metrics(m);
    assert_true(value(&text, "vmux_commands_error_replies_total", "") ==
                (double)after.error_replies);
    vt_prom_free(&text);
    vmux_close(m);
}

static void test_cut_and_bad_args(void **state)
{
    (void)state;
    vmux *m = vt_open("plain", NULL);
    char small[64];
    memset(small, 'x', sizeof small);
    int n = vmux_format_metrics(m, small, sizeof small);
    assert_true(n >= (int)sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "# HELP vmux_commands_submitted_total ", 37);

    assert_int_equal(vmux_format_metrics(NULL, small, sizeof small), VMUX_ERR_INVALID_ARG);
    assert_int_equal(vmux_format_metrics(m, NULL, 5), VMUX_ERR_INVALID_ARG);
    vmux_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_move),
        cmocka_unit_test(test_cut_and_bad_args),
        cmocka_unit_test(test_error_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
