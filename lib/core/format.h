/*
 * A command made from a printf-like format string (vmux_command()), encoded as a RESP array of
 * bulk strings straight into the op's buffer, byte for byte as hiredis 0.14's
 * redisvFormatCommand() encodes it. Our own, so that the library calls no sds function: hiredis's
 * formatter calls its sds* functions through the PLT, and a process that defines its own (a
 * vendored sds, Redis-derived code) got its copies called, and a crash (free(): invalid pointer).
 *
 * The format: arguments are split on spaces (a run of spaces makes no empty argument); %s
 * interpolates a C string, %b a pointer and a size_t length (binary-safe), %% a literal %; the
 * printf conversions d i o u x X (bare, or with hh h l ll) and e E f F g G a A (bare), with the
 * flags #0-+ and space, a width and a precision (no *), are formatted by vsnprintf() one at a
 * time. An interpolation, even of nothing, makes an argument, and joins the literal text around
 * it ("key:%d"). A % that ends the string is a literal %, as in hiredis.
 *
 * Where hiredis 0.14 goes wrong, we differ: a conversion spec of 14 bytes or more ("%-+
 * 0#20.10lld") hiredis skips without formatting it, and it reads past the end of a string a
 * conversion leaves unfinished ("%5", "%-"); we format the first and refuse the second.
 */
#ifndef VMUX_FORMAT_H
#define VMUX_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

#include "core/op.h"

/*
 * Formats a command from format and its arguments ap into a new op, classified as
 * vmux__encode_op_raw() classifies it (core/encode.h). ap is read through a copy (va_copy): the
 * caller's is left as it was. Returns 0 with *out set, or VMUX_ERR_INVALID_ARG with the reason in
 * why (whylen bytes, NUL-terminated; why may be NULL) when the format string is malformed (an
 * unknown or unfinished conversion), makes no argument, or a %s or %b argument is NULL (a %b of
 * length 0 may be NULL), or a conversion is too wide for vsnprintf(); or VMUX_ERR_NOMEM (nothing
 * allocated is kept). Runs in the caller's thread; reads nothing else that is shared.
 */
int vmux__format_op(const char *format, va_list ap, struct vmux_op **out, char *why, size_t whylen);

/* The size of a buffer for the reason vmux__format_op() gives: a refusal's words fit it whole. */
#define VMUX_FORMAT_WHY_SIZE 160

#endif
