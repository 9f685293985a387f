/*
 * Batches: several commands that the layers above split from one call (a typed multi-key
 * command whose keys hash to several cluster slots, lib/api/split.c) or that the caller gave as
 * one (vmux_batch_exec(), lib/api/batch.c), submitted together and completed together. The parts
 * are encoded in the caller's thread and queued under one hold of the submit queue's lock
 * (vmux__submit_all()), so the I/O thread routes them in one loop turn and each node's link writes
 * its share in one write. Each part goes to its slot's primary and follows redirects, resends and
 * deadlines like any command; the batch completes once every part has. Nothing is atomic across the
 * parts. Private to the library (lib/api).
 */
#ifndef VMUX_MUX_BATCH_H
#define VMUX_MUX_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "vmux/call.h"

/*
 * One command of a batch: its argument vector (as vmux_call() takes it) and its keys' slot: the
 * cluster slot every key of the command hashes to (route/slot.h), or VMUX_OP_SLOT_UNSET to have
 * it routed as vmux_call() routes a command (its slot computed from argv in a cluster, readFrom
 * standalone). Such a part whose keys hash to two slots is not sent: it completes alone with
 * VMUX_ERR_CROSSSLOT and an error reply naming two keys and their slots (NULL if memory ran out).
 */
struct vmux_part {
    int argc;
    const char *const *argv;
    const size_t *argvlen;
    int slot;
};

/* A part's outcome, as a vmux_reply_cb gets it: 0 and the reply, VMUX_ERR_SERVER and the error
 * reply, or another error and reply NULL. */
struct vmux_part_result {
    int status;
    vmux_reply *reply;
};

/*
 * A batch's completion: results[i] is part i's outcome. The callback owns the replies and frees
 * each; the array itself is freed after it returns. Runs exactly once, on the I/O thread.
 */
typedef void (*vmux__batch_cb)(size_t n, struct vmux_part_result *results, void *userdata);

/*
 * Submits parts[0..n) (n >= 1) with opts (may be NULL; read as vmux_call_async() reads them:
 * flags, and the deadline, the config's asyncTimeout when 0) and returns at once. The parts'
 * arguments are encoded before it returns. The deadline runs from start_ns (uv_hrtime() at the
 * public call's entry; 0: this call's), so that the time spent encoding counts, as for a large
 * vmux_call(). A part that fails unsent or lost (core/explain.h's codes) may come with an error
 * or status reply saying why (VMUX_OP_TELL_WHY: the node's last connection failure, or that it
 * was written and not answered), for a cb that puts it in words and frees it (core/why.h for a
 * split count, an error reply of its words for vmux_batch_exec_async(): api/batch.c), as the
 * reply a vmux_reply_cb gets for those codes is NULL (call.h). Returns 0, cb then running
 * exactly once; or, with nothing sent and cb never run: VMUX_ERR_INVALID_ARG (NULL m, parts or
 * cb, n 0, bad opts, a part vmux_call() would refuse), VMUX_ERR_UNSUPPORTED, VMUX_ERR_NOMEM,
 * VMUX_ERR_BACKLOG_FULL, VMUX_ERR_CLOSED, VMUX_ERR_FORKED. Any thread, the I/O thread included.
 */
int vmux__batch_async(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts, size_t n,
                      uint64_t start_ns, vmux__batch_cb cb, void *userdata);

/*
 * The same, waiting: the deadline is the config's syncTimeout when opts gives none, and once every
 * part has completed results[i] (an array of n, the caller's) holds part i's outcome, its reply
 * the caller's to free. Returns 0 then, or an error as vmux__batch_async() (nothing sent, results
 * untouched), VMUX_ERR_INVALID_ARG also on the I/O thread or with results NULL. Once it has
 * submitted the parts it does not touch m again (vmux_close() may free it). A lone caller on an
 * idle standalone connection writes the parts itself in one write and reads their replies itself
 * (vmux__submit_sync_all(), the direct lane), as vmux_call() does for one command.
 */
int vmux__batch_call(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts, size_t n,
                     uint64_t start_ns, struct vmux_part_result *results);

/*
 * vmux__batch_async() and vmux__batch_call() for a caller that holds m (vmux__hold()) from its
 * first look at it: they let go of it once the parts are handed over or refused, before any wait.
 */
int vmux__batch_async_held(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts,
                           size_t n, uint64_t start_ns, vmux__batch_cb cb, void *userdata);
/*
 * Writes into opts' error buffer (as far as opts' size goes) why the batch functions refuse opts
 * (vmux__callopts_read(): flags, a negative timeout), as a refusal of the whole batch; nothing
 * when they accept opts, or when opts cannot be read (no buffer to write into). Any thread.
 */
void vmux__batch_opts_why(const vmux_callopts *opts);
int vmux__batch_call_held(vmux *m, const vmux_callopts *opts, const struct vmux_part *parts,
                          size_t n, uint64_t start_ns, struct vmux_part_result *results);

#endif
