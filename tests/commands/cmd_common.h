/*
 * What the string, key and hash command tests share: the handle and an options value with an
 * error buffer, unique keys (binary ones too), a binary value, and generic-API helpers that
 * read the server's state back. They live in cmd_common.c, which the command tests link; a test
 * file that includes this header defines cmd_family (the key prefix, e.g. "strings").
 */
#ifndef VMUX_CMD_COMMON_H
#define VMUX_CMD_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "vmux/vmux.h"

/* Defined by the test file: the family its keys are named after. */
extern const char cmd_family[];

/* The handle the tests use; opened by the test file's setup. */
extern vmux *M;
/* Call options whose error buffer is errbuf. */
extern char errbuf[512];
extern vmux_callopts EO;

/* cmd_family + name, unique to this file and process; from a ring of 16 buffers, so that a
 * test can hold several at once. */
vmux_str key(const char *name);

/* A key with NUL bytes inside and at the end. */
vmux_str binkey(const char *name);

/* "a\0b\r\n\0" with its final NUL. */
extern const char BIN[8];
#define BINV VMUX_STRN(BIN, sizeof BIN) /* 8 bytes, NULs included */

/* A command through the generic API; fails the test on a transport error. */
vmux_reply *raw(size_t n, const vmux_str *args);
#define RAW(...)                                                                                   \
    raw(sizeof((vmux_str[]){__VA_ARGS__}) / sizeof(vmux_str), (vmux_str[]){__VA_ARGS__})
#define S(s) VMUX_STR(s)
/* A command whose reply is not needed. */
#define DO(...) vmux_reply_free(RAW(__VA_ARGS__))

/* Asserts a reply is an integer, frees it and returns the integer. */
int64_t raw_int(vmux_reply *r);

/* Asserts a reply is the string want (binary-safe), and frees it. */
void assert_raw_str(vmux_reply *r, vmux_str want);

#endif
