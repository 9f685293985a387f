/*
 * RESP encoding of an argument vector, done in the caller's thread straight into the op's
 * buffer: no intermediate copy and one allocation per command.
 */
#ifndef VMUX_ENCODE_H
#define VMUX_ENCODE_H

#include <stddef.h>

#include "core/op.h"

/*
 * Encodes argv (argvlen NULL: NUL-terminated strings) as a RESP array into a new op.
 * Returns 0 with *out set, VMUX_ERR_INVALID_ARG (argc < 1, argv or an argument NULL) or
 * VMUX_ERR_NOMEM.
 */
int vmux_encode_op(int argc, const char *const *argv, const size_t *argvlen, struct vmux_op **out);

/* Wraps already-encoded RESP bytes (taken as they are) in a new op. */
int vmux_encode_op_raw(const char *resp, size_t len, struct vmux_op **out);

#endif
