/*
 * Classifying a command by its name and options, once, when its op is made (core/encode.c):
 *
 * - Commands that cannot share a multiplexed connection: they change the connection's state
 *   for every caller at once (SELECT, AUTH, HELLO, RESET, and a cluster connection's READONLY,
 *   READWRITE and ASKING, which the router sends itself), or break the one-reply-per-command
 *   rule that matches replies to callers (SUBSCRIBE, MONITOR, CLIENT REPLY, MULTI...EXEC from
 *   different threads interleaving), or take the near cache's tracking state from it (CLIENT
 *   TRACKING, CLIENT CACHING). The typed APIs for these (pub/sub, transactions) use their
 *   own links or ops; the generic API refuses them.
 * - Commands that block on the server (BLPOP, BRPOP, BLMOVE, BZPOPMIN, XREAD ... BLOCK ...),
 *   which must run on a connection of their own. Not WAIT and WAITAOF, which block too but
 *   count the writes of the connection they run on: they stay on the one that carried them.
 *
 * - A blocking XREAD with "$" among its ids waits from the moment it blocks: sent again, it would
 *   wait from a later one and skip the entries added in between, so it is never resent.
 *
 * The answer travels with the op as VMUX_OP_UNSHAREABLE, VMUX_OP_BLOCKING and VMUX_OP_FROM_NOW
 * (core/op.h). Each
 * argument is looked at once at most, and most commands are decided by their name's length.
 * Pure functions: any thread.
 */
#ifndef VMUX_SHAREABLE_H
#define VMUX_SHAREABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Classifies the command argv (argvlen NULL: NUL-terminated strings; names are matched
 * without regard to case). Adds VMUX_OP_BLOCKING to *flags when it blocks on the server,
 * VMUX_OP_FROM_NOW too when it is an XREAD that blocks from "$" on some stream, and
 * VMUX_OP_SPUBLISH when it is SPUBLISH.
 * Returns VMUX_ERR_UNSUPPORTED when it may not share a connection, else 0 (an empty or
 * malformed vector included: the encoder reports those).
 */
int vmux__classify(int argc, const char *const *argv, const size_t *argvlen, uint32_t *flags);

/* vmux__classify() of a command already encoded as a RESP array of bulk strings. */
int vmux__classify_resp(const char *resp, size_t len, uint32_t *flags);

/*
 * For a command (RESP bytes, as vmux__classify_resp() takes them) that may not share a
 * connection, writes into buf (len bytes; NULL or 0: nothing) the code's text, the command's
 * name and what to use instead ("...: SELECT: it would move every caller to another database:
 * open a handle with defaultDatabase=N"); for any other command, leaves buf as it is.
 */
void vmux__unshareable_explain_resp(char *buf, size_t len, const char *resp, size_t resplen);

/* vmux__unshareable_explain_resp() of a command as vmux__classify() takes it. */
void vmux__unshareable_explain(char *buf, size_t len, int argc, const char *const *argv,
                               const size_t *argvlen);

/*
 * Whether argv (as vmux__classify() takes it) is WAIT or WAITAOF: not blocking by the rule above,
 * yet no command for a transaction, where the server answers it at once without waiting (inside
 * MULTI) or refuses it (inside a script).
 */
bool vmux__waits_for_replicas(int argc, const char *const *argv, const size_t *argvlen);

#endif
