#include "core/reply_internal.h"

#include <stdlib.h>
#include <string.h>

static vmux_reply *reply_alloc(vmux_reply_kind type, size_t extra)
{
    vmux_reply *r = malloc(sizeof(*r) + extra);
    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->type = type;
    return r;
}

vmux_reply *vmux__reply_new_str(vmux_reply_kind type, const char *bytes, size_t len)
{
    if (len > SIZE_MAX - sizeof(vmux_reply) - 1)
        return NULL;
    vmux_reply *r = reply_alloc(type, len + 1);
    if (r == NULL)
        return NULL;
    if (len > 0 && bytes != NULL)
        memcpy(r->str, bytes, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

vmux_reply *vmux__reply_new_integer(int64_t value)
{
    vmux_reply *r = reply_alloc(VMUX_REPLY_INTEGER, 0);
    if (r != NULL)
        r->u.integer = value;
    return r;
}

vmux_reply *vmux__reply_new_nil(void)
{
    return reply_alloc(VMUX_REPLY_NIL, 0);
}

vmux_reply *vmux__reply_new_array(size_t expected)
{
    vmux_reply *r = reply_alloc(VMUX_REPLY_ARRAY, 0);
    if (r != NULL)
        r->u.array.expected = expected;
    return r;
}

int vmux__reply_array_set(vmux_reply *parent, size_t idx, vmux_reply *child)
{
    if (parent->type != VMUX_REPLY_ARRAY || idx != parent->len || idx >= parent->u.array.expected)
        return -1;
    if (idx == parent->u.array.cap) {
        size_t cap = parent->u.array.cap ? parent->u.array.cap * 2 : 16;
        if (cap > parent->u.array.expected)
            cap = parent->u.array.expected;
        vmux_reply **grown = realloc(parent->u.array.element, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        parent->u.array.element = grown;
        parent->u.array.cap = cap;
    }
    parent->u.array.element[idx] = child;
    parent->len = idx + 1;
    return 0;
}

vmux_reply_kind vmux_reply_get_kind(const vmux_reply *r)
{
    return r != NULL ? r->type : VMUX_REPLY_NIL;
}

const char *vmux_reply_kind_name(vmux_reply_kind kind)
{
    switch (kind) {
    case VMUX_REPLY_STRING:
        return "string";
    case VMUX_REPLY_ARRAY:
        return "array";
    case VMUX_REPLY_INTEGER:
        return "integer";
    case VMUX_REPLY_NIL:
        return "nil";
    case VMUX_REPLY_STATUS:
        return "status";
    case VMUX_REPLY_ERROR:
        return "error";
    }
    return "unknown";
}

static int is_stringish(const vmux_reply *r)
{
    return r->type == VMUX_REPLY_STRING || r->type == VMUX_REPLY_STATUS ||
           r->type == VMUX_REPLY_ERROR;
}

const char *vmux_reply_str(const vmux_reply *r, size_t *len)
{
    if (r == NULL || !is_stringish(r)) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = r->len;
    return r->str;
}

int64_t vmux_reply_integer(const vmux_reply *r)
{
    return (r != NULL && r->type == VMUX_REPLY_INTEGER) ? r->u.integer : 0;
}

size_t vmux_reply_len(const vmux_reply *r)
{
    if (r == NULL || r->type == VMUX_REPLY_INTEGER || r->type == VMUX_REPLY_NIL)
        return 0;
    return r->len;
}

const vmux_reply *vmux_reply_element(const vmux_reply *r, size_t i)
{
    if (r == NULL || r->type != VMUX_REPLY_ARRAY || i >= r->len)
        return NULL;
    return r->u.array.element[i];
}

bool vmux__reply_take_str(vmux_reply *r, vmux_bytes *out)
{
    if (r == NULL || r->type != VMUX_REPLY_STRING || r->len < VMUX_REPLY_TAKE_MIN)
        return false;
    size_t len = r->len;
    char *bytes = (char *)r;
    memmove(bytes, r->str, len + 1); /* r is not read after this */
    char *shrunk = realloc(bytes, len + 1);
    out->ptr = shrunk != NULL ? shrunk : bytes; /* a failed shrink leaves the block as it was */
    out->len = len;
    return true;
}

void vmux_reply_free(vmux_reply *r)
{
    if (r == NULL)
        return;
    if (r->type == VMUX_REPLY_ARRAY) {
        for (size_t i = 0; i < r->len; i++)
            vmux_reply_free(r->u.array.element[i]);
        free(r->u.array.element);
    }
    free(r);
}

bool vmux__reply_is(const vmux_reply *r, const char *word)
{
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    return s != NULL && len == strlen(word) && memcmp(s, word, len) == 0;
}
