/*
 * A handle on a cluster whose node a test is about to fail (SIGKILL, SIGSTOP): opened with a link
 * to every primary, and watched until one of its connections failed. Used by the suites that fail
 * nodes under a handle (integration/test_cluster_failover.c, test_cluster_fanout_rerun.c,
 * test_cluster_close.c).
 */
#ifndef VMUX_TEST_NODEFAIL_H
#define VMUX_TEST_NODEFAIL_H

#include <stdbool.h>

#include "vmux/vmux.h"

/*
 * Opens a handle on the cluster node at 127.0.0.1:port (vt_node_config(port, options): options
 * such as "syncTimeout=30000", or NULL) and runs DBSIZE on it once, so that the handle has a link
 * to every primary; fails the running test when either fails. The caller closes the handle. Any
 * thread but a handle's I/O thread.
 */
vmux *vt_open_linked(int port, const char *options);

/* What vt_conn_failed() compares with: the handle's counters when the watch began. */
struct vt_conn_watch {
    vmux *m;
    vmux_stats before;
};

/* Begins a watch of m's connections (its counters read now); fails the running test when they
 * cannot be read. The watch holds no reference: m must outlive its use. */
void vt_conn_watch_start(struct vt_conn_watch *w, vmux *m);

/* Whether a connection of the handle failed since the struct vt_conn_watch at arg began (its
 * connect_failures grew): a condition for vt_wait_until(). */
bool vt_conn_failed(void *arg);

/* Whether the process whose id the long at arg holds is stopped (state T in /proc/<pid>/stat): a
 * condition for vt_wait_until() after a SIGSTOP. */
bool vt_process_stopped(void *arg);

#endif
