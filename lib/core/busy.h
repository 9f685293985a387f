/* A server's "not now": the error replies after which a command did not run and may soon. */
#ifndef VMUX_CORE_BUSY_H
#define VMUX_CORE_BUSY_H

#include <stdbool.h>

/*
 * Whether msg (an error reply's text; NULL: no) says the server is busy or unsure (loading its
 * data, lost its primary, a cluster slot without a primary during a failover or a multi-key
 * command during a migration), or unblocked a blocking command because it stopped being a
 * primary (a failover): LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, and that UNBLOCKED. The
 * command did not run. Not the UNBLOCKED of CLIENT UNBLOCK ... ERROR, which an operator meant
 * the caller to see. Any thread.
 */
bool vmux__server_busy(const char *msg);

#endif
