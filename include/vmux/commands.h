/** @file
 * The typed commands, one header per family. Conventions shared by all of them (see
 * docs/commands.md): synchronous unless named *_async; `opts` (NULL for defaults) carries the
 * timeout, flags and an optional error buffer for the server's message; keys and values are
 * vmux_str (types.h); results come in typed out-parameters that the caller frees with the
 * matching *_free; idempotent commands are marked retry-safe, the others never are. Conditions
 * are a vmux_cond, list and sorted-set ends a vmux_end, durations int64_t milliseconds, and
 * options structs are made with VMUX_INIT: docs/api-conventions.md has every rule.
 */
#ifndef VMUX_COMMANDS_H
#define VMUX_COMMANDS_H

#include "vmux/types.h"
#include "vmux/strings.h"
#include "vmux/blocking.h"
#include "vmux/script.h"
#include "vmux/transaction.h"
#include "vmux/pubsub.h"
#include "vmux/scan.h"
#include "vmux/keys.h"
#include "vmux/hashes.h"
#include "vmux/lists.h"
#include "vmux/sets.h"
#include "vmux/zsets.h"
#include "vmux/hyperloglog.h"
#include "vmux/bitmaps.h"
#include "vmux/geo.h"
#include "vmux/streams.h"
#include "vmux/server.h"

#endif
