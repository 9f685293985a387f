/*
 * The kind of reply each of the library's own commands answers with (setup, heartbeat, the
 * router's INFO, CLUSTER SLOTS and CLUSTER MYID), classified once, when its op is made, and
 * carried in op->expect (core/op.h). RESP pairs replies with commands by order only, so a reply
 * of another kind (say "+OK" where INFO's text was due: a server or proxy that sent one reply
 * too many) means the connection's replies are out of step with its commands: the connection
 * that read it fails with VMUX_ERR_PROTOCOL (net/conn_read.c), and the reply reaches no one.
 * A caller's own commands are not classified (0: any kind). Pure functions: any thread.
 */
#ifndef VMUX_EXPECT_H
#define VMUX_EXPECT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/reply.h"

/*
 * The kinds of reply, besides an error, that the command argv (NUL-terminated words, names
 * matched without regard to case) answers with: a mask of (1u << vmux_reply_kind) bits, or 0
 * when the command is not one the library sends itself (any kind goes).
 */
uint8_t vmux__expect_of(int argc, const char *const *argv);

/* Whether reply r (not NULL) is of a kind expect allows: an error always is, and so is any
 * reply when expect is 0. */
bool vmux__expect_met(uint8_t expect, const vmux_reply *r);

/* The name of the first kind expect allows ("string", "array", "status"...); "any" for 0. */
const char *vmux__expect_name(uint8_t expect);

#endif
