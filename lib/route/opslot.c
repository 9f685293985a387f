/*
 * An op's slot from its RESP bytes (vmux__router_slot(), route/router.h): the argument vector is
 * read in place, as views into the op's buffer, and given to the key table (keyspec.c) and the
 * slot check (keyslot.c). Done once per op, in the caller's thread.
 */
#include <stdlib.h>
#include <string.h>

#include "core/errbuf.h"
#include "route/keyslot.h"
#include "route/router.h"
#include "vmux/error.h"

#define INLINE_ARGS 16

/* Reads a decimal number ended by CRLF at *p (before end); advances *p past the CRLF. */
static bool read_count(const char **p, const char *end, size_t *out)
{
    size_t n = 0;
    const char *s = *p;
    if (s >= end || *s < '0' || *s > '9')
        return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (n > (SIZE_MAX - 9) / 10)
            return false;
        n = n * 10 + (size_t)(*s - '0');
    }
    if (end - s < 2 || s[0] != '\r' || s[1] != '\n')
        return false;
    *p = s + 2;
    *out = n;
    return true;
}

/* Fills argv/lens with views of the n bulk strings at p; false when the bytes are not that. */
static bool read_args(const char *p, const char *end, size_t n, const char **argv, size_t *lens)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (p >= end || *p++ != '$' || !read_count(&p, end, &len) || (size_t)(end - p) < len + 2)
            return false;
        argv[i] = p;
        lens[i] = len;
        p += len + 2;
    }
    return true;
}

/* The slot of the command argv[0..argc). */
static int slot_of_args(struct vmux_op *op, int argc, const char **argv, const size_t *lens,
                        char *err, size_t errlen)
{
    struct vmux_keys keys;
    int slot = VMUX_SLOT_ANY;
    struct vmux_crossslot cross;
    if (vmux__keys_find(argc, argv, lens, &keys) == VMUX_KEYS_FOUND &&
        vmux__keys_slot(&keys, argv, lens, &slot, &cross) == VMUX_ERR_CROSSSLOT) {
        vmux__crossslot_message(err, errlen, &cross, argv, lens);
        return VMUX_ERR_CROSSSLOT;
    }
    op->slot = slot;
    return 0;
}

int vmux__router_slot(struct vmux_op *op, char *err, size_t errlen)
{
    const char *p = op->cmd, *end = op->cmd + op->len;
    size_t n;
    op->slot = VMUX_SLOT_ANY;
    if (p >= end || *p++ != '*' || !read_count(&p, end, &n) || n == 0 || n > (size_t)INT32_MAX)
        return 0; /* not one command as the encoder writes it: the server will say */
    const char *inl_argv[INLINE_ARGS];
    size_t inl_lens[INLINE_ARGS];
    const char **argv = inl_argv;
    size_t *lens = inl_lens;
    if (n > INLINE_ARGS) {
        argv = malloc(n * sizeof *argv);
        lens = malloc(n * sizeof *lens);
        if (argv == NULL || lens == NULL) {
            free(argv);
            free(lens);
            return VMUX_ERR_NOMEM;
        }
    }
    int rc = 0;
    if (read_args(p, end, n, argv, lens))
        rc = slot_of_args(op, (int)n, argv, lens, err, errlen);
    if (argv != inl_argv) {
        free(argv);
        free(lens);
    }
    return rc;
}
