/* vmux__metrics_format(): the handle's counters as Prometheus text exposition. */
#include "core/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/strout.h"

/* A label value: the format reserves backslash, double quote and line feed. */
static void put_label_value(struct vmux_strout *o, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            vmux__strout_put(o, "\\\\");
        else if (*s == '"')
            vmux__strout_put(o, "\\\"");
        else if (*s == '\n')
            vmux__strout_put(o, "\\n");
        else
            vmux__strout_put(o, "%c", *s);
    }
}

/*
 * One sample: a field of vmux_stats. Consecutive rows with the same name are one family (one
 * HELP and TYPE); `outcome`, when set, is the value of the family's "outcome" label.
 */
struct metric {
    const char *name;
    bool counter;
    size_t field; /* offsetof(vmux_stats, ...) */
    const char *outcome;
    const char *help;
};

#define F(field) offsetof(vmux_stats, field)

/* The handle's totals: vmux_read_stats(). */
static const struct metric handle_metrics[] = {
    {"vmux_commands_submitted_total", true, F(submitted), NULL,
     "Commands accepted for callers, each command a call sends on its own (the session's own "
     "commands are not counted)."},
    {"vmux_commands_completed_total", true, F(replied), "replied",
     "Commands completed, by outcome: replied (server error replies included), timed_out, "
     "connection_lost (CONNECTION_LOST or PROTOCOL), closed, failed_other."},
    {"vmux_commands_completed_total", true, F(timed_out), "timed_out", NULL},
    {"vmux_commands_completed_total", true, F(connection_lost), "connection_lost", NULL},
    {"vmux_commands_completed_total", true, F(closed), "closed", NULL},
    {"vmux_commands_completed_total", true, F(failed_other), "failed_other", NULL},
    {"vmux_commands_error_replies_total", true, F(error_replies), NULL,
     "Of the commands replied, those the server answered with an error reply (OOM, NOPERM, "
     "READONLY, WRONGTYPE, NOSCRIPT before its EVAL...)."},
    {"vmux_commands_refused_total", true, F(refused), NULL,
     "Calls refused at the door with VMUX_ERR_BACKLOG_FULL (maxPending, maxPendingBytes)."},
    {"vmux_commands_resent_total", true, F(resent), NULL,
     "Retry-safe commands resent after their connection broke."},
    {"vmux_commands_retried_total", true, F(retried), NULL,
     "Commands sent again after READONLY, LOADING, MASTERDOWN, TRYAGAIN or CLUSTERDOWN."},
    {"vmux_connects_total", true, F(connects), NULL, "Connections that became ready."},
    {"vmux_connect_failures_total", true, F(connect_failures), NULL,
     "Failed connection attempts plus ready connections that broke or were retired (not "
     "deliberate renewals)."},
    {"vmux_backlog_commands", false, F(backlog), NULL,
     "Commands waiting for a connection (published once a second)."},
    {"vmux_in_flight_commands", false, F(in_flight), NULL,
     "Commands written and not yet answered (published once a second)."},
    {"vmux_connected_connections", false, F(connected), NULL,
     "Connections for commands set up now (0: commands wait in the backlog)."},
    {"vmux_pending_commands", false, F(pending), NULL,
     "Commands the handle holds for callers (bounded by maxPending)."},
    {"vmux_pending_bytes", false, F(pending_bytes), NULL,
     "Encoded bytes of the commands the handle holds (bounded by maxPendingBytes)."},
    {"vmux_received_bytes_total", true, F(bytes_in), NULL,
     "Bytes read from the network (TLS: ciphertext)."},
    {"vmux_sent_bytes_total", true, F(bytes_out), NULL,
     "Bytes handed to the network (TLS: ciphertext)."},
    {"vmux_subscriber_lost_total", true, F(subscriber_lost), NULL,
     "Subscriber connections that broke while a subscription was live (messages lost)."},
    {"vmux_cluster_moved_total", true, F(cluster_moved), NULL, "MOVED replies followed."},
    {"vmux_cluster_asked_total", true, F(cluster_asked), NULL, "ASK replies followed."},
    {"vmux_cluster_refreshes_total", true, F(cluster_refreshes), NULL,
     "Slot map refreshes asked of a node (CLUSTER SLOTS sent)."},
    {"vmux_pubsub_dropped_total", true, F(pubsub_dropped), NULL,
     "Pub/sub messages dropped as a second delivery after a subscription moved."},
    {"vmux_pubsub_over_limit_total", true, F(pubsub_over_limit), NULL,
     "Pub/sub messages dropped for being over a reply limit (maxBulkLength...)."},
};

/* One node's links: vmux_read_node_stats(), a sample per node with a "node" label. */
static const struct metric node_metrics[] = {
    {"vmux_node_commands_resent_total", true, F(resent), NULL,
     "Retry-safe commands resent after a connection to the node broke."},
    {"vmux_node_commands_retried_total", true, F(retried), NULL,
     "Commands sent to the node again after READONLY, LOADING and the like."},
    {"vmux_node_connects_total", true, F(connects), NULL,
     "Connections to the node that became ready."},
    {"vmux_node_connect_failures_total", true, F(connect_failures), NULL,
     "Failed connection attempts to the node plus its ready connections that broke."},
    {"vmux_node_backlog_commands", false, F(backlog), NULL,
     "Commands waiting for a connection to the node (published once a second)."},
    {"vmux_node_in_flight_commands", false, F(in_flight), NULL,
     "Commands written to the node and not yet answered (published once a second)."},
    {"vmux_node_connected_connections", false, F(connected), NULL,
     "Connections for commands to the node set up now."},
    {"vmux_node_received_bytes_total", true, F(bytes_in), NULL,
     "Bytes read from the node (TLS: ciphertext)."},
    {"vmux_node_sent_bytes_total", true, F(bytes_out), NULL,
     "Bytes handed to the network for the node (TLS: ciphertext)."},
};

#undef F

static uint64_t field_of(const vmux_stats *st, size_t field)
{
    uint64_t v;
    memcpy(&v, (const char *)st + field, sizeof v);
    return v;
}

static void put_family(struct vmux_strout *o, const struct metric *m)
{
    vmux__strout_put(o, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                     m->counter ? "counter" : "gauge");
}

static void put_handle(struct vmux_strout *o, const vmux_stats *total)
{
    size_t count = sizeof handle_metrics / sizeof handle_metrics[0];
    for (size_t i = 0; i < count; i++) {
        const struct metric *m = &handle_metrics[i];
        if (i == 0 || strcmp(m->name, handle_metrics[i - 1].name) != 0)
            put_family(o, m);
        if (m->outcome != NULL)
            vmux__strout_put(o, "%s{outcome=\"%s\"} %" PRIu64 "\n", m->name, m->outcome,
                             field_of(total, m->field));
        else
            vmux__strout_put(o, "%s %" PRIu64 "\n", m->name, field_of(total, m->field));
    }
}

static void put_nodes(struct vmux_strout *o, const struct vmux_node_stats *nodes, size_t n)
{
    for (size_t i = 0; n > 0 && i < sizeof node_metrics / sizeof node_metrics[0]; i++) {
        const struct metric *m = &node_metrics[i];
        put_family(o, m);
        for (size_t j = 0; j < n; j++) {
            vmux__strout_put(o, "%s{node=\"", m->name);
            put_label_value(o, nodes[j].addr);
            vmux__strout_put(o, "\"} %" PRIu64 "\n", field_of(&nodes[j].st, m->field));
        }
    }
}

size_t vmux__metrics_format(char *buf, size_t len, const vmux_stats *total,
                            const struct vmux_node_stats *nodes, size_t n)
{
    struct vmux_strout o = {buf, len, 0};
    if (len > 0)
        buf[0] = '\0';
    put_handle(&o, total);
    put_nodes(&o, nodes, n);
    return o.total;
}
