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

enum { VMUX_ENCODE_LEN_CACHE = 16 }; /* arguments whose length is remembered between passes */

/* What measuring an argument vector found: its encoded size, and its first arguments' lengths. */
struct vmux_encoding {
    size_t size;
    size_t lens[VMUX_ENCODE_LEN_CACHE];
};

/*
 * The first pass of vmux__encode_op(): measures argv without reading any argument's bytes (but
 * the strlen() of a NUL-terminated one), so that a call can be refused at the door (maxPending,
 * maxPendingBytes) before the time to copy a large value is spent. Any thread. Returns 0 with
 * *e filled, VMUX_ERR_INVALID_ARG (argc < 1, argv or an argument NULL) or VMUX_ERR_NOMEM (the
 * size does not fit in size_t).
 */
int vmux__encode_measure(int argc, const char *const *argv, const size_t *argvlen,
                         struct vmux_encoding *e);

/*
 * The second pass: encodes argv, measured into *e by vmux__encode_measure() (same arguments),
 * into a new op, classified as vmux__encode_op() does. Returns 0 with *out set, or
 * VMUX_ERR_NOMEM.
 */
int vmux__encode_build(int argc, const char *const *argv, const size_t *argvlen,
                       const struct vmux_encoding *e, struct vmux_op **out);

/*
 * Encodes argv (argvlen NULL: NUL-terminated strings) as a RESP array into a new op, classified
 * (core/shareable.h): its flags carry VMUX_OP_BLOCKING and VMUX_OP_UNSHAREABLE as they apply.
 * Returns 0 with *out set, VMUX_ERR_INVALID_ARG (argc < 1, argv or an argument NULL) or
 * VMUX_ERR_NOMEM.
 */
int vmux__encode_op(int argc, const char *const *argv, const size_t *argvlen, struct vmux_op **out);

/*
 * Wraps already-encoded RESP bytes (taken as they are: one command, as hiredis formats it) in
 * a new op, classified as vmux__encode_op() does.
 */
int vmux__encode_op_raw(const char *resp, size_t len, struct vmux_op **out);

/*
 * Appends the RESP encoding of the command args[0..n) to b: how a block of several commands
 * (a transaction's MULTI ... EXEC) is written. Returns 0, VMUX_ERR_INVALID_ARG (n 0) or
 * VMUX_ERR_NOMEM (b then holds part of it).
 */
int vmux__encode_append(struct vmux_buf *b, const vmux_bytes *args, size_t n);

#endif
