/*
 * What the layers above lib/mux (lib/api's fan-out rules and cluster SCAN) may ask about the
 * handle's cluster mode beyond the public API (vmux/cluster.h), without seeing struct vmux.
 */
#ifndef VMUX_FANOUT_H
#define VMUX_FANOUT_H

#include <stdbool.h>

#include "vmux/cluster.h"

/* Whether the handle routes by slot (it found a cluster). Any thread; one atomic load. */
bool vmux__fanout_cluster(vmux *m);

#endif
