#include "core/encode.h"

#include <stdint.h>
#include <string.h>

#include "core/shareable.h"
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

size_t vmux__encode_header_size(size_t v)
{
    return 1 + digits(v) + 2;
}

char *vmux__encode_header(char *p, char prefix, size_t v)
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

/* Marks an op the classifier refused: the generic API will not send it (core/shareable.h). */
static void classify(struct vmux_op *op, int rc)
{
    if (rc != 0)
        op->flags |= VMUX_OP_UNSHAREABLE;
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

int vmux__encoded_size(int argc, const char *const *argv, const size_t *argvlen, size_t *size)
{
    size_t cache[LEN_CACHE];
    if (argc < 1 || argv == NULL)
        return VMUX_ERR_INVALID_ARG;
    return encoded_size(argc, argv, argvlen, size, cache);
}

int vmux__encode_op_gated(int argc, const char *const *argv, const size_t *argvlen,
                          vmux_encode_gate gate, void *gate_arg, struct vmux_op **out)
{
    size_t size, cache[LEN_CACHE];
    if (argc < 1 || argv == NULL)
        return VMUX_ERR_INVALID_ARG;
    int rc = encoded_size(argc, argv, argvlen, &size, cache);
    if (rc == 0 && gate != NULL && size >= VMUX_ENCODE_LARGE)
        rc = gate(size, gate_arg);
    if (rc != 0)
        return rc;
    struct vmux_op *op = vmux__op_new(size);
    if (op == NULL)
        return VMUX_ERR_NOMEM;
    char *p = vmux__encode_header(op->cmd, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t len = i < LEN_CACHE ? cache[i] : argv[i] != NULL ? arg_len(argv, argvlen, i) : 0;
        p = vmux__encode_header(p, '$', len);
        if (len > 0)
            memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    classify(op, vmux__classify(argc, argv, argvlen, &op->flags));
    *out = op;
    return 0;
}

int vmux__encode_op(int argc, const char *const *argv, const size_t *argvlen, struct vmux_op **out)
{
    return vmux__encode_op_gated(argc, argv, argvlen, NULL, NULL, out);
}

int vmux__encode_op_raw(const char *resp, size_t len, struct vmux_op **out)
{
    if (resp == NULL || len == 0)
        return VMUX_ERR_INVALID_ARG;
    struct vmux_op *op = vmux__op_new(len);
    if (op == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(op->cmd, resp, len);
    vmux__encode_classify_raw(op);
    *out = op;
    return 0;
}

void vmux__encode_classify_raw(struct vmux_op *op)
{
    classify(op, vmux__classify_resp(op->cmd, op->len, &op->flags));
}

int vmux__encode_append(struct vmux_buf *b, const vmux_bytes *args, size_t n)
{
    char head[32]; /* "$<20 digits>\r\n" */
    if (n == 0)
        return VMUX_ERR_INVALID_ARG;
    int rc = vmux__buf_append(b, head, (size_t)(vmux__encode_header(head, '*', n) - head));
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc =
            vmux__buf_append(b, head, (size_t)(vmux__encode_header(head, '$', args[i].len) - head));
        if (rc == 0 && args[i].len > 0)
            rc = vmux__buf_append(b, args[i].ptr, args[i].len);
        if (rc == 0)
            rc = vmux__buf_append(b, "\r\n", 2);
    }
    return rc;
}
