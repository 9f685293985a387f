/*
 * Typed commands that a cluster runs on every primary (docs/cluster.md, "Fan-out and per-node
 * commands"): the command goes to each primary through vmux_call_nodes() and a rule per command
 * combines the replies. Private to lib/api.
 */
#ifndef VMUX_API_FANOUT_H
#define VMUX_API_FANOUT_H

#include <stdbool.h>

#include "api/typed.h"
#include "mux/fanout.h"
#include "vmux/cluster.h"

/* Whether typed fan-out commands should fan out: the handle routes by slot. Any thread. */
bool vmux__fan_wanted(vmux *m);

/*
 * Combines the primaries' replies, every one of them a success (status 0) unless the command
 * excuses some failures (vmux__fan_run_excusing()), into out. Returns 0, or VMUX_ERR_PROTOCOL (a
 * reply of another shape, replies that should agree and do not), VMUX_ERR_NOMEM; on failure out
 * reads as zeroed.
 */
typedef int (*vmux_combine_fn)(const vmux_node_replies *res, void *out);

/*
 * Sends a's command (frees a's storage) to every primary, retry-safe when idempotent (on top of
 * opts' flags), and waits; after a primary that the map named one proved demoted, runs it again on
 * the refreshed map as rerun says (mux/fanout.h: a read all of it, a write the rest). When every
 * primary answered without error, returns what combine(res, out) returns. Otherwise returns the
 * first failing primary's status (VMUX_ERR_SERVER, a transport error), with "host:port: " and the
 * server's message or the error's description in opts->errbuf. out (size bytes, at most 64) is
 * zeroed first and stays so on any error; out NULL combines into a scratch value that release
 * (NULL: nothing to free) frees.
 */
int vmux__fan_run(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                  enum vmux__rerun rerun, vmux_combine_fn combine, void *out, size_t size,
                  void (*release)(void *));

/*
 * Whether a primary's failure (status != 0) is excused: the command's rule takes it as an answer,
 * not as a failure (FUNCTION DELETE's "Library not found" on a primary that lacks the library).
 */
typedef bool (*vmux_excuse_fn)(const vmux_node_reply *n);

/*
 * vmux__fan_run(), forgiving the failures that excused accepts (NULL: none): the call fails with
 * the first primary that failed without excuse or, when every primary failed and each was
 * excused, with the first of them (errbuf as vmux__fan_run() says). Otherwise combine gets every
 * reply, the excused failures' included (their status is not 0: it skips them).
 */
int vmux__fan_run_excusing(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                           enum vmux__rerun rerun, vmux_excuse_fn excused, vmux_combine_fn combine,
                           void *out, size_t size, void (*release)(void *));

/* Rules. sum: int64_t, the sum of integer replies (DBSIZE). min: int64_t, the smallest of
 * integer replies (WAIT: the replicas that acknowledged on every shard). concat: vmux_bytes_array,
 * arrays joined in the order of the primaries (KEYS). all_ok: out unused, every reply a status
 * (FLUSHALL, FLUSHDB, SCRIPT FLUSH, FUNCTION FLUSH). same: vmux_bytes, every reply the same string
 * (SCRIPT LOAD's SHA1, FUNCTION LOAD's library name, PING). The AND of SCRIPT EXISTS is in
 * script_admin.c; FUNCTION DELETE's rule and excuse in function_admin.c. */
int vmux__combine_sum(const vmux_node_replies *res, void *out);
int vmux__combine_min(const vmux_node_replies *res, void *out);
int vmux__combine_concat(const vmux_node_replies *res, void *out);
int vmux__combine_all_ok(const vmux_node_replies *res, void *out);
int vmux__combine_same(const vmux_node_replies *res, void *out);

#endif
