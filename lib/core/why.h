/*
 * The words of a pattern call's error (vmux_last_error(), error.h): the lock, rate limiter and
 * cache calls take no error buffer, as their objects are shared, so each leaves its words in a
 * buffer of the calling thread's own.
 *
 * A pattern call begins with vmux__why_begin(), passes vmux__why_opts() to its commands (each
 * failing command writes its words there), names its own errors with vmux__why_set() (replacing
 * what a command wrote before), and ends with vmux__why_end(rc).
 */
#ifndef VMUX_WHY_H
#define VMUX_WHY_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/call.h"

/* Clears the calling thread's words: a call begins. */
void vmux__why_begin(void);

/* Points o's error buffer at the calling thread's words and clears them: each command a pattern
 * sends starts with none, so that after its failure they are its own. */
void vmux__why_opts(vmux_callopts *o);

/*
 * Replaces the thread's words with a printf-style message for rc; returns rc. Words for
 * VMUX_ERR_INVALID_ARG start "invalid argument: ", as the calls with an error buffer word their
 * refusals (docs/api-conventions.md): "invalid argument: b is NULL". The message names only the
 * argument and its rule; one that starts so already (a command's words, vmux_call()'s) keeps one.
 */
int vmux__why_set(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * An options struct that vmux__sized_in() refused (abi.h): VMUX_ERR_INVALID_ARG, with words naming
 * it (name: its parameter in the public header, "opts") and its size: below sizeof(size_t) (not
 * made with VMUX_INIT), or over known, the library's own size (a newer vmux.h's struct with a
 * field set that this library lacks). Returns the code.
 */
int vmux__why_sized(const char *name, size_t size, size_t known);

/*
 * A command's argument vector as vmux_call() checks it (core/explain.h vmux__argv_why()): 0 when
 * it is sound, else VMUX_ERR_INVALID_ARG with vmux_call()'s words ("invalid argument: argv is
 * NULL"), as vmux_batch_add() and vmux_tx_add() refuse it.
 */
int vmux__why_argv(int argc, const char *const *argv, const size_t *argvlen);

/*
 * A command (argv, as vmux__classify() takes it, sound) that a builder refuses:
 * VMUX_ERR_UNSUPPORTED with words naming it. why NULL: one that may not share a connection, in
 * vmux_call()'s words
 * ("...: SUBSCRIBE: ..."); else the builder's reason after its name ("...: BLPOP blocks on the
 * server: it would hold the batch's connection").
 */
int vmux__why_unsupported(int argc, const char *const *argv, const size_t *argvlen,
                          const char *why);

/*
 * A vmux_str argument (name: its parameter in the public header) that is no string, ptr NULL with
 * len > 0: VMUX_ERR_INVALID_ARG with the typed commands' words for it; 0 for any other (an empty
 * string {NULL, 0} included).
 */
int vmux__why_str(const char *name, vmux_str s);

/*
 * A timeout argument (name: its parameter in the public header) below VMUX_FOREVER:
 * VMUX_ERR_INVALID_ARG with words saying what it may be; 0 for any other.
 */
int vmux__why_timeout(const char *name, int64_t ms);

/* vmux__why_set() with a va_list. */
int vmux__why_vset(int rc, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The thread's words as given, whatever rc (no prefix): a credentials provider's own reason
 * (vmux_credentials_failed(), whose -1 is any failure of the provider's). Returns rc. */
int vmux__why_vput(int rc, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * An async completion of an op that asked for words (VMUX_OP_WORDS), on the I/O thread, before
 * its callback runs: the words vmux_call() would put in an errbuf for status and reply (the why
 * that came with an unsent or lost op) become the thread's. Returns the reply the callback gets:
 * NULL for an unsent or lost op (its why freed here), else reply (call.h's vmux_reply_cb).
 */
vmux_reply *vmux__why_completion(int status, vmux_reply *reply);

/* Ends a call that returns rc: a failure with no words gets rc's description, a success none.
 * Returns rc. */
int vmux__why_end(int rc);

#endif
