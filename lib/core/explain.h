/*
 * The words a synchronous call puts in its caller's error buffer (vmux_callopts errbuf), shared by
 * vmux_call() (mux/call.c) and vmux_batch_exec() (api/batch.c, each command's), so that both say
 * the same of the same outcome.
 */
#ifndef VMUX_CORE_EXPLAIN_H
#define VMUX_CORE_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "vmux/reply.h"

/*
 * Whether status says a command failed unsent because its link had no ready connection in time
 * (VMUX_ERR_TIMEOUT, VMUX_ERR_NOT_CONNECTED, VMUX_ERR_BACKLOG_FULL). Such a command of a
 * synchronous caller (VMUX_OP_TELL_WHY) may come with an error reply holding its link's last
 * connection failure (core/op.h vmux__op_why()): words for the error buffer, not a reply for the
 * caller, who gets NULL.
 */
bool vmux__unsent_code(int status);

/*
 * Whether status says a command was sent and lost with its connection (VMUX_ERR_CONNECTION_LOST,
 * VMUX_ERR_PROTOCOL). Such a command of a synchronous caller may come with an error reply holding
 * why the connection failed (net/conn.c): words for the error buffer too, not a reply.
 */
bool vmux__lost_code(int status);

/*
 * Whether a reply that comes with status is the library's words for the error buffer, never a
 * reply for the caller: vmux__unsent_code(), vmux__lost_code(), and VMUX_ERR_CLOSED (what a close
 * found unsent: core/op.h vmux__op_closed_why()).
 */
bool vmux__words_code(int status);

/*
 * Writes into buf (len bytes; nothing when buf is NULL or len 0) what vmux_call() says of a
 * command that completed with status (not 0) and reply: the words of the error reply that came
 * with the code (the server's, or the router's for a redirect loop, for keys in two slots, or for
 * a detection that failed, VMUX_ERR_CONFIG: "cluster=yes, but the server is not a cluster node"),
 * or the code's description, followed, for a command that failed unsent for want of a ready
 * connection, by its link's last connection failure (the reply vmux__op_why() gave it), and for
 * one lost with its connection, by ": " and why that failed. A status reply with an unsent code
 * holds words of its own (core/op_words.c: written before its connection broke, or where a router's
 * queue held it): the code's description, ": " and them; for VMUX_ERR_NOT_CONNECTED (an op of a
 * router's queue, written and redirected or never written) "its deadline passed: " and them, as
 * that code's description ("no connection was ready") does not fit there. Any thread.
 */
void vmux__explain(char *buf, size_t len, int status, const vmux_reply *reply);

/* What a failed command's outcome says of whether it ran, from surely not to perhaps. */
enum vmux__ran {
    VMUX__RAN_MAYBE, /* it ran, or may have: no reply, a reply, or words that do not say */
    VMUX__RAN_NOT,   /* not executed (written and redirected, or refused "not now") */
    VMUX__RAN_UNSENT /* never sent, so not executed */
};

/*
 * Which of them status and the why that came with it (the reply of an unsent, lost or closed
 * command that asked for words, VMUX_OP_TELL_WHY) say: VMUX_ERR_BACKLOG_FULL, or an unsent code
 * with its link's last failure (an error reply: vmux__op_why() words only an op never written),
 * never sent; the words of core/op_words.c (a router's wait, a close) as their reply's ran says,
 * set where they were made to match how they end ("never sent, not executed" or "not executed");
 * anything else, maybe (a success ran). Any thread.
 */
enum vmux__ran vmux__ran_of(int status, const vmux_reply *why);

/*
 * Writes into buf (as vmux__explain) which argument of a command vmux_call() refuses with
 * VMUX_ERR_INVALID_ARG: argc below 1, argv NULL, or an argument NULL with a length. Returns false,
 * writing nothing, when the vector is sound (the refusal was for something else). Any thread.
 */
bool vmux__explain_argv(char *buf, size_t len, int argc, const char *const *argv,
                        const size_t *argvlen);

/* Room for vmux__argv_why()'s longest words ("argv[2147483646] is NULL (argvlen is NULL: ...)"). */
#define VMUX_ARGV_WHY_SIZE 96

/*
 * vmux__explain_argv() without its "invalid argument: ": which argument is refused ("argv is
 * NULL"), for the calls that leave their words in vmux_last_error() (core/why.h), which carry no
 * such prefix. Returns false, writing nothing, when the vector is sound. Any thread.
 */
bool vmux__argv_why(char *buf, size_t len, int argc, const char *const *argv,
                    const size_t *argvlen);

/* What a synchronous call made from a callback (on the I/O thread) is refused with. */
extern const char vmux__on_io_thread_words[];

/*
 * Writes into buf (as vmux__explain) what a call refused with rc (not 0) before anything was sent
 * says: for VMUX_ERR_CLOSED (vmux_close() has begun) that the command was not accepted and
 * nothing was sent, where vmux_strerror()'s words cover a command the close ended too ("may have
 * run"); else the code's description. Any thread.
 */
void vmux__explain_refused(char *buf, size_t len, int rc);

#endif
