#include "core/encode.h"

#include <stdint.h>
#include <string.h>

#include "vmux/error.h"

static size_t digits(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Writes "<prefix><v>\r\n" and returns the position after it. */
static char *put_header(char *p, char prefix, size_t v)
{
    size_t n = digits(v);
    *p++ = prefix;
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static size_t arg_len(const char *const *argv, const size_t *argvlen, int i)
{
    return argvlen != NULL ? argvlen[i] : strlen(argv[i]);
}

enum { LEN_CACHE = 16 }; /* arguments whose strlen is remembered between the two passes */

static int encoded_size(int argc, const char *const *argv, const size_t *argvlen, size_t *size,
                        size_t *cache)
{
    size_t total = 1 + digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++) {
        if (argv[i] == NULL && (argvlen == NULL || argvlen[i] != 0))
            return VMUX_ERR_INVALID_ARG;
        size_t len = argv[i] != NULL ? arg_len(argv, argvlen, i) : 0;
        if (i < LEN_CACHE)
            cache[i] = len;
        size_t piece = 1 + digits(len) + 2 + len + 2;
        if (piece < len || total > SIZE_MAX - piece)
            return VMUX_ERR_NOMEM;
        total += piece;
    }
    *size = total;
    return 0;
}

int vmux_encode_op(int argc, const char *const *argv, const size_t *argvlen, struct vmux_op **out)
{
    size_t size, cache[LEN_CACHE];
    if (argc < 1 || argv == NULL)
        return VMUX_ERR_INVALID_ARG;
    int rc = encoded_size(argc, argv, argvlen, &size, cache);
    if (rc != 0)
        return rc;
    struct vmux_op *op = vmux_op_new(size);
    if (op == NULL)
        return VMUX_ERR_NOMEM;
    char *p = put_header(op->cmd, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t len = i < LEN_CACHE ? cache[i] : argv[i] != NULL ? arg_len(argv, argvlen, i) : 0;
        p = put_header(p, '$', len);
        if (len > 0)
            memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    *out = op;
    return 0;
}

int vmux_encode_op_raw(const char *resp, size_t len, struct vmux_op **out)
{
    if (resp == NULL || len == 0)
        return VMUX_ERR_INVALID_ARG;
    struct vmux_op *op = vmux_op_new(len);
    if (op == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(op->cmd, resp, len);
    *out = op;
    return 0;
}
