/*
 * The handle's counters as Prometheus text exposition (format 0.0.4): the formatting alone,
 * from counters already read, so it needs no handle (vmux_format_metrics() in lib/mux reads
 * them). docs/reliability.md#metrics names every metric.
 */
#ifndef VMUX_CORE_METRICS_H
#define VMUX_CORE_METRICS_H

#include <stddef.h>

#include "vmux/client.h"

/* One node's link counters, as vmux_read_node_stats() gives them, and its "host:port". */
struct vmux_node_stats {
    char addr[300];
    vmux_stats st;
};

/*
 * Writes the exposition of the handle's totals and of nodes[0 .. n) into buf (len bytes,
 * NUL-terminated when len > 0; buf may be NULL when len is 0) and returns the length of the
 * whole text, like snprintf: when it is >= len the text was cut. Node addresses are label
 * values, escaped as the format wants (backslash, double quote, line feed).
 */
size_t vmux__metrics_format(char *buf, size_t len, const vmux_stats *total,
                            const struct vmux_node_stats *nodes, size_t n);

#endif
