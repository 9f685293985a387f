/** @file
 * Batches: several commands handed to the handle as one unit and answered together, what
 * StackExchange.Redis calls IBatch, valkey-glide a non-atomic Batch and rueidis DoMulti.
 *
 * A batch is a pipeline, not a transaction: nothing is atomic. Other callers' commands may run
 * between its commands, and each command succeeds or fails on its own (a WRONGTYPE in the middle
 * does not stop the others). Use transaction.h when the commands must run together.
 *
 * What it saves: the commands are encoded in the calling thread and queued under one hold of the
 * handle's submit queue, so the I/O thread routes them in one loop turn and each connection writes
 * its share in one write; the caller sleeps once and is woken once, when the last reply is in.
 * On a cluster each command goes to the node that serves its own keys (keyless ones as
 * vmux_call() sends them), so one batch may span every shard; each command follows redirects and
 * retries as vmux_call() does. Commands that go to the same connection are written in the order
 * of the batch.
 *
 * A batch object is built by one thread, then run once or more (each run sends its current
 * commands); while it runs it is only read, so several threads may run the same batch at once.
 * See docs/commands.md, Batches.
 */
#ifndef VMUX_BATCH_H
#define VMUX_BATCH_H

#include <stddef.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A batch being built (opaque): vmux_batch_new(), vmux_batch_free(). */
typedef struct vmux_batch vmux_batch;

/** Makes an empty batch (*out, freed with vmux_batch_free()). VMUX_ERR_INVALID_ARG (out NULL),
 * VMUX_ERR_NOMEM; the words of a failure in vmux_last_error() ("out is NULL"), as vmux_batch_add()
 * leaves them. */
VMUX_EXPORT int vmux_batch_new(vmux_batch **out);

/** Frees a batch. NULL is allowed. Not while a vmux_batch_exec() of it is running; an
 * vmux_batch_exec_async() of it may still be pending (it copied what it needs). */
VMUX_EXPORT void vmux_batch_free(vmux_batch *b);

/**
 * Appends a command: argc arguments, argvlen NULL for C strings, as vmux_call() takes them. The
 * arguments are copied: the caller may reuse them at once. Returns 0; VMUX_ERR_INVALID_ARG (b or
 * argv NULL, argc < 1, a NULL argument with a length); VMUX_ERR_UNSUPPORTED (with nothing added)
 * for what vmux_call() refuses, commands that may not share a connection (SUBSCRIBE, MULTI,
 * EXEC, WATCH, SELECT, READONLY, CLIENT REPLY...), and for blocking commands (BLPOP, XREAD
 * BLOCK...: they would hold the batch's connection); VMUX_ERR_NOMEM. It takes no error buffer: a
 * failure's words go to vmux_last_error() (error.h), for VMUX_ERR_INVALID_ARG which argument broke
 * which rule, in vmux_call()'s words ("invalid argument: b is NULL", "invalid argument: argv[1]
 * is NULL with a length"); for VMUX_ERR_UNSUPPORTED the command and why ("this command cannot run
 * on a shared, multiplexed connection: BLPOP blocks on the server: it would hold the batch's
 * connection"), else the code's description; a success leaves "".
 */
VMUX_EXPORT int vmux_batch_add(vmux_batch *b, int argc, const char *const *argv,
                               const size_t *argvlen);

/** The number of commands in b (0 for NULL). */
VMUX_EXPORT size_t vmux_batch_count(const vmux_batch *b);

/** Empties b for reuse, keeping its memory. NULL is allowed. */
VMUX_EXPORT void vmux_batch_clear(vmux_batch *b);

/**
 * Sends every command of b and waits until each has its outcome. Any thread but the I/O thread.
 *
 * statuses and replies (each optional, NULL: not wanted; else arrays of vmux_batch_count(b))
 * get command i's outcome at index i, as vmux_call() would give it: 0 and the reply,
 * VMUX_ERR_SERVER and the server's error reply, or another code and NULL (VMUX_ERR_TIMEOUT,
 * VMUX_ERR_CONNECTION_LOST, VMUX_ERR_NOT_CONNECTED..., and on a cluster VMUX_ERR_CROSSSLOT for
 * a command whose own keys hash to two slots: that command alone is not sent, the others are, and
 * its reply is an error reply written by vmux that names two of the keys and their slots). The
 * caller owns every reply and frees each with vmux_reply_free(); with replies NULL they are freed
 * for it.
 *
 * Returns 0 when every command succeeded (every status 0), else the first non-zero status in
 * batch order: a batch with a WRONGTYPE in it returns VMUX_ERR_SERVER, and the caller reads
 * statuses[] for which. When the batch is refused before anything is sent, the return value is
 * the reason and every status is set to it, every reply to NULL: VMUX_ERR_INVALID_ARG (m or b
 * NULL, b empty, bad opts, VMUX_CALL_BLOCKING in opts->flags (a batch holds no blocking command,
 * vmux_batch_add()), called on the I/O thread; with b NULL or empty nothing is written),
 * VMUX_ERR_NOMEM, VMUX_ERR_BACKLOG_FULL (maxPending or maxPendingBytes would be passed: a batch is
 * admitted whole or not at all; on a cluster, a node that has answered nothing for a second and
 * holds its share of maxPending then refuses its commands one by one, cluster.md), VMUX_ERR_CLOSED,
 * VMUX_ERR_FORKED.
 *
 * opts as vmux_call() reads them: one deadline for the whole batch (timeout_ms, else the config's
 * syncTimeout), running from this call's entry for every command at once, so that the time spent
 * encoding the commands counts (a command whose deadline passed before it was written fails
 * VMUX_ERR_TIMEOUT unsent). Every command must be encoded and handed over before any can fail,
 * so a call of very many commands returns later than its deadline by about that time (probe 55:
 * 100,000 SETs with 10 ms returned after 150 ms, each VMUX_ERR_TIMEOUT); the VMUX_CALL_* flags
 * apply to every command (VMUX_CALL_RETRY_SAFE: resend each after a broken connection).
 * opts->errbuf, when the return value is not 0, gets "command i: " and the description vmux_call()
 * would give that command (for one that failed unsent for want of a ready connection, the link's
 * last connection failure too); a refusal of the whole batch for m NULL or VMUX_CALL_BLOCKING
 * gets "invalid argument: " and which, blaming no command.
 */
VMUX_EXPORT int vmux_batch_exec(vmux *m, const vmux_callopts *opts, const vmux_batch *b,
                                int *statuses, vmux_reply **replies);

/**
 * A batch's completion: statuses[i] and replies[i] are command i's outcome, as in
 * vmux_batch_exec(), for n commands, but for one that failed unsent or lost (VMUX_ERR_TIMEOUT,
 * VMUX_ERR_NOT_CONNECTED, VMUX_ERR_BACKLOG_FULL, VMUX_ERR_CONNECTION_LOST, VMUX_ERR_PROTOCOL),
 * whose reply is an error reply written by vmux (NULL only if memory ran out) holding the words
 * vmux_batch_exec() would put in its error buffer for it, without "command i: ": the code's
 * description and why ("timed out waiting for a connection (never sent); last connection failure:
 * 127.0.0.1:6379: connect failed: connection refused"). vmux_last_error() is not set: it holds one
 * error, the batch has one per command. The callback owns every reply (frees each, or keeps it);
 * the two arrays are the library's and valid only while it runs. Runs exactly once, on the I/O
 * thread, under the rules of vmux_reply_cb (call.h): it must not block, and may submit more
 * commands or batches asynchronously.
 */
typedef void (*vmux_batch_cb)(size_t n, const int *statuses, vmux_reply **replies, void *userdata);

/**
 * Queues every command of b and returns at once; cb runs once when the last has its outcome. b
 * is copied as it is now: the caller may change, clear or free it at once. Any thread, the I/O
 * thread included (then cb may have run when this returns 0, if every command failed at once).
 * Returns 0 (cb will run exactly once), or, with nothing sent and cb never run,
 * VMUX_ERR_INVALID_ARG (m, b or cb NULL, b empty, bad opts, VMUX_CALL_BLOCKING), VMUX_ERR_NOMEM,
 * VMUX_ERR_BACKLOG_FULL, VMUX_ERR_CLOSED, VMUX_ERR_FORKED. The deadline is timeout_ms, else the
 * config's asyncTimeout, for the whole batch, from this call's entry; the flags apply to every
 * command.
 */
VMUX_EXPORT int vmux_batch_exec_async(vmux *m, const vmux_callopts *opts, const vmux_batch *b,
                                      vmux_batch_cb cb, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
