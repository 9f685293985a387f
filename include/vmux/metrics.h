/** @file
 * The handle's counters as Prometheus text exposition (text format 0.0.4), ready to serve on a
 * /metrics endpoint with the content type "text/plain; version=0.0.4; charset=utf-8". Every
 * metric is named and described in `docs/reliability.md` (Metrics); examples/metrics.c serves them
 * over HTTP.
 *
 * What the text holds: the handle's totals (vmux_read_stats()) as metrics named vmux_*, with
 * the completions split by an "outcome" label; and the link counters of each node the handle
 * has had a link to (vmux_read_node_stats(); a standalone server is one node) as metrics named
 * vmux_node_*, with a "node" label holding "host:port". Counters end in _total, amounts of bytes
 * have "bytes" in their name; every family has its HELP and TYPE lines.
 */
#ifndef VMUX_METRICS_H
#define VMUX_METRICS_H

#include <stddef.h>

#include "vmux/client.h"
#include "vmux/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Writes the handle's counters as Prometheus text exposition into buf, NUL-terminated, and
 * returns the length of the whole text (like snprintf: when it is >= len the text was cut; a
 * call with buf NULL and len 0 only measures). Counters keep moving between two calls, so a
 * buffer sized by a measuring call may be short by a few digits on the next: leave room (the
 * handle's totals take about 4.5 KiB, and each node, a standalone server or replica or a cluster
 * node, adds about 340 bytes plus 8 times the length of its "host:port"), or call
 * again with a larger buffer while the result is >= len. Each counter is read atomically; the
 * set is not one snapshot. Any thread may call it at any time; the caller owns buf.
 * Errors: VMUX_ERR_INVALID_ARG (m NULL, or buf NULL with len > 0), VMUX_ERR_NOMEM; their words go
 * to vmux_last_error() (error.h), as vmux_drain()'s do ("invalid argument: buf is NULL with len 5
 * (NULL and 0 measure)"); a success leaves "".
 */
VMUX_EXPORT int vmux_format_metrics(const vmux *m, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
