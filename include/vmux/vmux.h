/** @file
 * vmux: a thread-safe, pipelining client for Valkey. Include this one header.
 * Start with client.h (the handle), call.h (commands) and config.h (configuration).
 */
#ifndef VMUX_VMUX_H
#define VMUX_VMUX_H

#include "vmux/export.h"
#include "vmux/version.h"
#include "vmux/error.h"
#include "vmux/config.h"
#include "vmux/iam.h"
#include "vmux/reply.h"
#include "vmux/client.h"
#include "vmux/metrics.h"
#include "vmux/call.h"
#include "vmux/batch.h"
#include "vmux/types.h"
#include "vmux/commands.h"
#include "vmux/cluster.h"
#include "vmux/session.h"
#include "vmux/leaderboard.h"
#include "vmux/cache.h"
#include "vmux/ratelimit.h"
#include "vmux/lock.h"
#include "vmux/near.h"

#endif
