/*
 * Lua scripts that load themselves. A vmux_script is made once from its source (its SHA1 is
 * computed locally) and run any number of times, from any thread, with keys and arguments:
 * vmux sends EVALSHA, and when the server does not know the script (NOSCRIPT: after a restart,
 * a failover or SCRIPT FLUSH) sends EVAL with the source, which loads it again. NOSCRIPT means
 * the script did not run, so that second send is always safe.
 *
 * A script is never retry-safe unless the caller says so (VMUX_CALL_RETRY_SAFE in opts): a
 * script that was sent when a connection broke may have run.
 */
#ifndef VMUX_SCRIPT_H
#define VMUX_SCRIPT_H

#include <stddef.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmux_script vmux_script;

/*
 * Makes a script from Lua source (copied). On success *out owns it; free it with
 * vmux_script_free() once no call uses it. Errors: VMUX_ERR_INVALID_ARG (empty source or NULL
 * out), VMUX_ERR_NOMEM.
 */
VMUX_EXPORT int vmux_script_new(vmux_str source, vmux_script **out);

/* Frees a script. NULL is allowed. */
VMUX_EXPORT void vmux_script_free(vmux_script *s);

/* The script's SHA1 as 40 lowercase hex digits (lives as long as the script). */
VMUX_EXPORT const char *vmux_script_sha1(const vmux_script *s);

/*
 * Runs the script with nkeys keys (KEYS) and nargs arguments (ARGV) and returns its reply in
 * *out, as vmux_call() does: 0, VMUX_ERR_SERVER with the error reply (a Lua error, say), or
 * another error with *out NULL. Synchronous; any thread but the I/O thread.
 */
VMUX_EXPORT int vmux_script_run(vmux *m, const vmux_callopts *opts, const vmux_script *s,
                                const vmux_str *keys, size_t nkeys, const vmux_str *args,
                                size_t nargs, vmux_reply **out);

#ifdef __cplusplus
}
#endif

#endif
