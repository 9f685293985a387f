/** @file
 * Transactions: commands that run together, with nothing from another caller in between,
 * optionally only when conditions hold (StackExchange.Redis's AddCondition).
 *
 * How, on a connection that every thread shares: WATCH cannot be shared (one caller's WATCH
 * would watch for everyone, and another caller's write could land between WATCH and MULTI), so
 * - without conditions, the commands go out as one MULTI ... EXEC block that is written
 *   contiguously: no other command can come between them, and the server runs them together;
 * - with conditions, vmux generates a Lua script that checks every condition and then runs the
 *   commands, all in one atomic step on the server (scripts run alone). Replies pass through
 *   Lua's conversion: integers beyond 2^53 lose precision there, and a command that Lua may not
 *   call (blocking ones, SUBSCRIBE...) fails inside it.
 * See docs/commands.md.
 *
 * On a cluster, a transaction whose keys a slot's migration splits between two nodes cannot run
 * until the migration ends: the node answers TRYAGAIN, and vmux sends it again with backoff until
 * it runs or its deadline passes, when it fails VMUX_ERR_SERVER with the last TRYAGAIN and how
 * often and how long it was refused (it did not run): docs/cluster.md, ASK.
 *
 * A transaction object is built by one thread, then run once or more (each run sends its
 * current commands). Never retry-safe unless opts says so.
 */
#ifndef VMUX_TRANSACTION_H
#define VMUX_TRANSACTION_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A transaction being built (opaque): vmux_tx_new(), vmux_tx_free(). */
typedef struct vmux_tx vmux_tx;

/** How a length compares (vmux_tx_when_length). */
typedef enum vmux_cmp {
    VMUX_CMP_EQ = 0,
    VMUX_CMP_NE = 1,
    VMUX_CMP_LT = 2,
    VMUX_CMP_LE = 3,
    VMUX_CMP_GT = 4,
    VMUX_CMP_GE = 5,
} vmux_cmp;

/** Which length (vmux_tx_when_length). */
typedef enum vmux_length_of {
    VMUX_LENGTH_STRING = 0, /**< STRLEN */
    VMUX_LENGTH_LIST = 1,   /**< LLEN */
    VMUX_LENGTH_SET = 2,    /**< SCARD */
    VMUX_LENGTH_ZSET = 3,   /**< ZCARD */
    VMUX_LENGTH_HASH = 4,   /**< HLEN */
} vmux_length_of;

/** Makes an empty transaction (*out, freed with vmux_tx_free()). VMUX_ERR_INVALID_ARG (out NULL),
 * VMUX_ERR_NOMEM; the words of a failure in vmux_last_error(), as vmux_tx_add() leaves them. */
VMUX_EXPORT int vmux_tx_new(vmux_tx **out);
/** Frees a transaction. NULL is allowed. */
VMUX_EXPORT void vmux_tx_free(vmux_tx *tx);

/**
 * Adds a command (copied; argvlen NULL for C strings). Refuses with VMUX_ERR_UNSUPPORTED the
 * commands the generic API refuses (call.h), blocking ones, and WAIT and WAITAOF (inside MULTI
 * the server answers them at once without waiting: use vmux_wait() after the transaction);
 * VMUX_ERR_INVALID_ARG for tx NULL, argc < 1 or NULL arguments. It takes no error buffer: a
 * failure's words go to vmux_last_error() (error.h), for VMUX_ERR_INVALID_ARG which argument broke
 * which rule, in vmux_call()'s words ("invalid argument: tx is NULL", "invalid argument: argv
 * is NULL"); for VMUX_ERR_UNSUPPORTED the command and why ("...: WAIT waits for replicas: inside
 * MULTI the server answers it at once without waiting ..."), else the code's description; a
 * success leaves "". So do vmux_tx_new() and the conditions below.
 */
VMUX_EXPORT int vmux_tx_add(vmux_tx *tx, int argc, const char *const *argv, const size_t *argvlen);

/** @{ */
/** Conditions, all of which must hold for the commands to run. Each returns 0,
 * VMUX_ERR_INVALID_ARG (tx NULL, a vmux_str {NULL, len > 0}, a kind or cmp outside its enum) or
 * VMUX_ERR_NOMEM, with its words in vmux_last_error() ("value is at NULL with length 2 ..."). */
VMUX_EXPORT int vmux_tx_when_exists(vmux_tx *tx, vmux_str key);
VMUX_EXPORT int vmux_tx_when_not_exists(vmux_tx *tx, vmux_str key);
/** @} */
/** the string at key equals value (a missing key never does) */
VMUX_EXPORT int vmux_tx_when_equal(vmux_tx *tx, vmux_str key, vmux_str value);
/** hash field equals value (a missing field never does) */
VMUX_EXPORT int vmux_tx_when_hash_equal(vmux_tx *tx, vmux_str key, vmux_str field, vmux_str value);
/** hash field exists */
VMUX_EXPORT int vmux_tx_when_hash_exists(vmux_tx *tx, vmux_str key, vmux_str field);
/** hash field does not exist (a missing key has no fields) */
VMUX_EXPORT int vmux_tx_when_hash_not_exists(vmux_tx *tx, vmux_str key, vmux_str field);
/** the length of key (of the kind given; 0 when missing) compares to n as cmp says */
VMUX_EXPORT int vmux_tx_when_length(vmux_tx *tx, vmux_length_of kind, vmux_str key, vmux_cmp cmp,
                                    int64_t n);

/**
 * Runs the transaction. When it ran, *committed is true and *replies (if not NULL) gets an
 * array with each command's reply, in order (an element may be an error reply: a command can
 * fail inside a transaction that ran). When a condition did not hold, *committed is false, no
 * command ran, and *replies is NULL. Returns 0 in both cases; VMUX_ERR_SERVER when the server
 * refused the whole block (a command with a syntax error: then nothing ran; the error reply
 * goes to *replies); VMUX_ERR_INVALID_ARG for an empty transaction; or a transport error as
 * vmux_call().
 */
VMUX_EXPORT int vmux_tx_exec(vmux *m, const vmux_callopts *opts, vmux_tx *tx, bool *committed,
                             vmux_reply **replies);

#ifdef __cplusplus
}
#endif

#endif
