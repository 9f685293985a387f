/*
 * RESP encoding of an argument vector, done in the caller's thread straight into the op's
 * buffer: no intermediate copy and one allocation per command.
 */
#ifndef VMUX_ENCODE_H
#define VMUX_ENCODE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/op.h"
#include "vmux/types.h"

/*
 * Encodes argv (argvlen NULL: NUL-terminated strings) as a RESP array into a new op, classified
 * (core/shareable.h): its flags carry VMUX_OP_BLOCKING and VMUX_OP_UNSHAREABLE as they apply.
 * Returns 0 with *out set, VMUX_ERR_INVALID_ARG (argc < 1, argv or an argument NULL) or
 * VMUX_ERR_NOMEM.
 */
int vmux__encode_op(int argc, const char *const *argv, const size_t *argvlen, struct vmux_op **out);

/*
 * The size of argv's RESP encoding into *size, from the arguments' lengths alone (no byte of a
 * value is read): what vmux__encode_op() would make the op's len. 0, VMUX_ERR_INVALID_ARG (argc <
 * 1, argv or an argument NULL) or VMUX_ERR_NOMEM (the size overflows).
 */
int vmux__encoded_size(int argc, const char *const *argv, const size_t *argvlen, size_t *size);

/* A command at least this large is "large": vmux__encode_op_gated() asks its gate first. */
#define VMUX_ENCODE_LARGE ((size_t)64 * 1024)

/*
 * Asked by vmux__encode_op_gated() between measuring a large command (size encoded bytes, from
 * the arguments' lengths alone) and copying it: nonzero refuses it, before a byte is copied, and
 * is returned as it is. Runs in the encoding thread.
 */
typedef int (*vmux_encode_gate)(size_t size, void *arg);

/*
 * vmux__encode_op(), with gate (NULL: none) asked first when the command is large: so that a
 * call can be refused at the door (maxPending, maxPendingBytes), and start its deadline, before
 * the time to copy a large value is spent. Small commands are encoded exactly as by
 * vmux__encode_op(). Returns as vmux__encode_op(), or the gate's refusal; VMUX_ERR_NOMEM may
 * come after the gate let the command through.
 */
int vmux__encode_op_gated(int argc, const char *const *argv, const size_t *argvlen,
                          vmux_encode_gate gate, void *gate_arg, struct vmux_op **out);

/*
 * Wraps already-encoded RESP bytes (taken as they are: one command, as hiredis formats it) in
 * a new op, classified as vmux__encode_op() does.
 */
int vmux__encode_op_raw(const char *resp, size_t len, struct vmux_op **out);

/*
 * Classifies an op whose command (RESP bytes, op->len of them) is already in op->cmd: what
 * vmux__encode_op_raw() does after its copy, for an op written in place (core/format.h).
 */
void vmux__encode_classify_raw(struct vmux_op *op);

/* Writes the header "<prefix><v>\r\n" ('*' an array's, '$' a bulk string's) at p and returns the
 * position after it: vmux__encode_header_size(v) bytes. */
char *vmux__encode_header(char *p, char prefix, size_t v);
size_t vmux__encode_header_size(size_t v);

/*
 * Appends the RESP encoding of the command args[0..n) to b: how a block of several commands
 * (a transaction's MULTI ... EXEC) is written. Returns 0, VMUX_ERR_INVALID_ARG (n 0) or
 * VMUX_ERR_NOMEM (b then holds part of it).
 */
int vmux__encode_append(struct vmux_buf *b, const vmux_bytes *args, size_t n);

#endif
