/* The near cache's encoding of an array of strings (near_codec.h). */
#include "api/near_codec.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/value.h"
#include "vmux/error.h"

static int put_number(struct vmux_buf *b, uint64_t n)
{
    char out[10];
    size_t i = 0;
    do {
        out[i++] = (char)((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
        n >>= 7;
    } while (n != 0);
    return vmux__buf_append(b, out, i);
}

int vmux__near_encode_strings(const vmux_reply *r, struct vmux_buf *b)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY)
        return VMUX_ERR_PROTOCOL;
    size_t n = vmux_reply_len(r);
    int rc = put_number(b, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const vmux_reply *e = vmux_reply_element(r, i);
        size_t len;
        const char *s = vmux_reply_str(e, &len);
        if (vmux_reply_get_kind(e) != VMUX_REPLY_STRING)
            return VMUX_ERR_PROTOCOL;
        rc = put_number(b, len);
        rc = rc ? rc : vmux__buf_append(b, s, len);
    }
    return rc;
}

/* Reads a number at *p (before end); false when the bytes end first or it overflows. */
static bool take_number(const unsigned char **p, const unsigned char *end, uint64_t *n)
{
    *n = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char c = *(*p)++;
        *n |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

static int decode_items(const unsigned char *p, const unsigned char *end, vmux_bytes_array *out)
{
    for (size_t i = 0; i < out->count; i++) {
        uint64_t len;
        if (!take_number(&p, end, &len) || len > (uint64_t)(end - p))
            return VMUX_ERR_PROTOCOL;
        if (vmux__bytes_copy(p, (size_t)len, &out->items[i]) != 0)
            return VMUX_ERR_NOMEM;
        p += len;
    }
    return p == end ? 0 : VMUX_ERR_PROTOCOL;
}

int vmux__near_decode_strings(const void *bytes, size_t len, vmux_bytes_array *out)
{
    memset(out, 0, sizeof(*out));
    const unsigned char *p = bytes, *end = p + len;
    uint64_t n;
    if (bytes == NULL || !take_number(&p, end, &n) || n > (uint64_t)(end - p))
        return VMUX_ERR_PROTOCOL; /* every element takes one byte at least */
    out->items = calloc(n ? (size_t)n : 1, sizeof(*out->items));
    if (out->items == NULL)
        return VMUX_ERR_NOMEM;
    out->count = (size_t)n; /* every item zeroed: freeing a part-filled array is safe */
    int rc = decode_items(p, end, out);
    if (rc != 0)
        vmux_bytes_array_free(out);
    return rc;
}
