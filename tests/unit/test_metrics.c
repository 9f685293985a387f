/*
 * The Prometheus text of the handle's counters (lib/core/metrics.c), without a server: the text
 * parses as exposition (tests/support/promtext.c) with every counter under its name and value,
 * node addresses are escaped as label values, a cut keeps a NUL-terminated prefix and reports
 * the whole length, and the per-node metrics appear only when there are nodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "promtext.h"
#include "vmux/abi.h"

/* Every counter a distinct value, so a field read from the wrong place shows. */
static vmux_stats numbered(uint64_t base)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    uint64_t v = base;
    for (size_t off = offsetof(vmux_stats, submitted);
         off <= offsetof(vmux_stats, pubsub_over_limit); off += sizeof v, v++)
        memcpy((char *)&st + off, &v, sizeof v);
    return st;
}

static char *format(const vmux_stats *total, const struct vmux_node_stats *nodes, size_t n)
{
    size_t len = vmux__metrics_format(NULL, 0, total, nodes, n);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    assert_int_equal(vmux__metrics_format(buf, len + 1, total, nodes, n), len);
    assert_int_equal(strlen(buf), len);
    return buf;
}

static struct vt_prom parse(const char *text)
{
    struct vt_prom p;
    if (!vt_prom_parse(text, &p))
        fail_msg("not valid exposition: %s\n%s", p.error, text);
    return p;
}

static void assert_value(const struct vt_prom *p, const char *name, const char *labels, double want)
{
    const struct vt_prom_sample *s = vt_prom_find(p, name, labels);
    if (s == NULL)
        fail_msg("no sample %s{%s}", name, labels);
    if (s->value != want)
        fail_msg("%s{%s} is %f, want %f", name, labels, s->value, want);
}

static void test_handle_totals(void **state)
{
    (void)state;
    vmux_stats st = numbered(1000);
    char *text = format(&st, NULL, 0);
    struct vt_prom p = parse(text);
    assert_value(&p, "vmux_commands_submitted_total", "", (double)st.submitted);
    assert_value(&p, "vmux_commands_completed_total", "outcome=\"replied\"", (double)st.replied);
    assert_value(&p, "vmux_commands_completed_total", "outcome=\"timed_out\"",
                 (double)st.timed_out);
    assert_value(&p, "vmux_commands_completed_total", "outcome=\"connection_lost\"",
                 (double)st.connection_lost);
    assert_value(&p, "vmux_commands_completed_total", "outcome=\"closed\"", (double)st.closed);
    assert_value(&p, "vmux_commands_completed_total", "outcome=\"failed_other\"",
                 (double)st.failed_other);
    assert_value(&p, "vmux_commands_error_replies_total", "", (double)st.error_replies);
    assert_value(&p, "vmux_commands_refused_total", "", (double)st.refused);
    assert_value(&p, "vmux_commands_resent_total", "", (double)st.resent);
    assert_value(&p, "vmux_commands_retried_total", "", (double)st.retried);
    assert_value(&p, "vmux_connects_total", "", (double)st.connects);
    assert_value(&p, "vmux_connect_failures_total", "", (double)st.connect_failures);
    assert_value(&p, "vmux_backlog_commands", "", (double)st.backlog);
    assert_value(&p, "vmux_in_flight_commands", "", (double)st.in_flight);
    assert_value(&p, "vmux_connected_connections", "", (double)st.connected);
    assert_value(&p, "vmux_pending_commands", "", (double)st.pending);
    assert_value(&p, "vmux_pending_bytes", "", (double)st.pending_bytes);
    assert_value(&p, "vmux_received_bytes_total", "", (double)st.bytes_in);
    assert_value(&p, "vmux_sent_bytes_total", "", (double)st.bytes_out);
    assert_value(&p, "vmux_subscriber_lost_total", "", (double)st.subscriber_lost);
    assert_value(&p, "vmux_cluster_moved_total", "", (double)st.cluster_moved);
    assert_value(&p, "vmux_cluster_asked_total", "", (double)st.cluster_asked);
    assert_value(&p, "vmux_cluster_refreshes_total", "", (double)st.cluster_refreshes);
    assert_value(&p, "vmux_pubsub_dropped_total", "", (double)st.pubsub_dropped);
    assert_value(&p, "vmux_pubsub_over_limit_total", "", (double)st.pubsub_over_limit);
    assert_int_equal(p.n, 25); /* every field once; nothing per node without nodes */
    assert_null(strstr(text, "vmux_node_"));
    vt_prom_free(&p);
    free(text);
}

static void test_nodes_labelled(void **state)
{
    (void)state;
    vmux_stats total = numbered(1);
    struct vmux_node_stats nodes[2] = {{"10.0.0.1:7000", numbered(100)},
                                       {"::1:7001", numbered(200)}};
    char *text = format(&total, nodes, 2);
    struct vt_prom p = parse(text);
    assert_value(&p, "vmux_node_connects_total", "node=\"10.0.0.1:7000\"",
                 (double)nodes[0].st.connects);
    assert_value(&p, "vmux_node_sent_bytes_total", "node=\"::1:7001\"",
                 (double)nodes[1].st.bytes_out);
    assert_value(&p, "vmux_node_in_flight_commands", "node=\"::1:7001\"",
                 (double)nodes[1].st.in_flight);
    const char *per_node[] = {"vmux_node_commands_resent_total", "vmux_node_commands_retried_total",
                              "vmux_node_connects_total",        "vmux_node_connect_failures_total",
                              "vmux_node_backlog_commands",      "vmux_node_in_flight_commands",
                              "vmux_node_received_bytes_total",  "vmux_node_sent_bytes_total",
                              "vmux_node_connected_connections"};
    for (size_t i = 0; i < sizeof per_node / sizeof per_node[0]; i++)
        assert_int_equal(vt_prom_count(&p, per_node[i]), 2);
    assert_int_equal(p.n, 25 + 9 * 2);
    vt_prom_free(&p);
    free(text);
}

/* A host name is the caller's text: what the format reserves must come out escaped. */
static void test_label_escaped(void **state)
{
    (void)state;
    vmux_stats total = numbered(1);
    struct vmux_node_stats node = {"we\"ird\\host\nname:1", numbered(5)};
    char *text = format(&total, &node, 1);
    assert_non_null(strstr(text, "{node=\"we\\\"ird\\\\host\\nname:1\"}"));
    struct vt_prom p = parse(text);
    const struct vt_prom_sample *s = NULL;
    for (size_t i = 0; i < p.n && s == NULL; i++)
        if (strcmp(p.samples[i].name, "vmux_node_connects_total") == 0)
            s = &p.samples[i];
    assert_non_null(s);
    char host[64];
    assert_true(vt_prom_label(s, "node", host, sizeof host));
    assert_string_equal(host, node.addr);
    vt_prom_free(&p);
    free(text);
}

static void test_cut(void **state)
{
    (void)state;
    vmux_stats total = numbered(7);
    char *whole = format(&total, NULL, 0);
    size_t len = strlen(whole);
    char small[100];
    memset(small, 'x', sizeof small);
    assert_int_equal(vmux__metrics_format(small, sizeof small, &total, NULL, 0), len);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, whole, sizeof small - 1);
    char one = 'x';
    assert_int_equal(vmux__metrics_format(&one, 1, &total, NULL, 0), len);
    assert_int_equal(one, '\0');
    free(whole);
}

/* The checker itself must refuse what Prometheus refuses, or the tests above prove nothing. */
static void test_checker_refuses(void **state)
{
    (void)state;
    const char *bad[] = {
        "vmux_x_total 1\n",                                         /* no TYPE */
        "# TYPE vmux_x_total counter\nvmux_x_total one\n",          /* not a number */
        "# TYPE vmux_x counter\nvmux_x 1\n",                        /* counter without _total */
        "# TYPE vmux_x gauge\nvmux_x{a=\"b\\q\"} 1\n",              /* bad escape */
        "# TYPE vmux_x gauge\nvmux_x{a=\"1\",a=\"2\"} 1\n",         /* label twice */
        "# TYPE vmux_x gauge\nvmux_x 1\nvmux_x 2\n",                /* series twice */
        "# TYPE vmux_x gauge\nvmux_x 1",                            /* no line feed */
        "# TYPE 9x gauge\n",                                        /* bad name */
        "# TYPE vmux_x gauge\n# TYPE vmux_x gauge\n",               /* TYPE twice */
        "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{l=\"2\"} 1\n", /* not together */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vt_prom p;
        if (vt_prom_parse(bad[i], &p))
            fail_msg("accepted: %s", bad[i]);
        vt_prom_free(&p);
    }
    struct vt_prom p;
    assert_true(vt_prom_parse("# HELP g a \\\\ b\n# TYPE g gauge\ng{a=\"x\",b=\"\\\"\"} -1.5e3 "
                              "1700000000000\n",
                              &p));
    vt_prom_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handle_totals),   cmocka_unit_test(test_nodes_labelled),
        cmocka_unit_test(test_label_escaped),   cmocka_unit_test(test_cut),
        cmocka_unit_test(test_checker_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
