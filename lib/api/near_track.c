/* The tracking command of a near read's block, and the check of its answer (near_track.h). */
#include "api/near_track.h"

#include <string.h>

#include "core/encode.h"
#include "core/reply_internal.h"

int vmux__near_track_encode(struct vmux_buf *b, const struct vmux_near_check *c)
{
    const vmux_bytes caching[] = {{"CLIENT", 6}, {"CACHING", 7}, {"YES", 3}};
    const vmux_bytes info[] = {{"CLIENT", 6}, {"TRACKINGINFO", 12}};
    return c->bcast ? vmux__encode_append(b, info, 2) : vmux__encode_append(b, caching, 3);
}

/* r's kind; nil for a missing element (vmux_reply_get_kind() takes no NULL). */
static vmux_reply_kind kind(const vmux_reply *r)
{
    return r != NULL ? vmux_reply_get_kind(r) : VMUX_REPLY_NIL;
}

/* The value after the field name in CLIENT TRACKINGINFO's flat [name, value, ...] array. */
static const vmux_reply *field(const vmux_reply *info, const char *name)
{
    size_t n = vmux_reply_len(info);
    for (size_t i = 0; i + 1 < n; i += 2)
        if (vmux__reply_is(vmux_reply_element(info, i), name))
            return vmux_reply_element(info, i + 1);
    return NULL;
}

/* Whether the array r holds the string s. */
static bool holds(const vmux_reply *r, const char *s)
{
    if (kind(r) != VMUX_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < vmux_reply_len(r); i++)
        if (vmux__reply_is(vmux_reply_element(r, i), s))
            return true;
    return false;
}

/* Whether one of the prefixes in the array r starts key (the server's "" starts every key). */
static bool covers(const vmux_reply *r, const void *key, size_t len)
{
    if (kind(r) != VMUX_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < vmux_reply_len(r); i++) {
        size_t n;
        const char *p = vmux_reply_str(vmux_reply_element(r, i), &n);
        if (p != NULL && n <= len && memcmp(p, key, n) == 0)
            return true;
    }
    return false;
}

static bool redirect_ok(const vmux_reply *to, const struct vmux_near_check *c)
{
    if (kind(to) != VMUX_REPLY_INTEGER || vmux_reply_integer(to) <= 0)
        return false;
    return c->any_redirect || (c->redirect > 0 && vmux_reply_integer(to) == c->redirect);
}

static bool bcast_ok(const vmux_reply *info, const struct vmux_near_check *c, const void *key,
                     size_t len)
{
    const vmux_reply *flags = field(info, "flags");
    if (kind(info) != VMUX_REPLY_ARRAY || !holds(flags, "on") || !holds(flags, "bcast") ||
        holds(flags, "broken_redirect"))
        return false;
    return redirect_ok(field(info, "redirect"), c) && covers(field(info, "prefixes"), key, len);
}

bool vmux__near_track_ok(const vmux_reply *r, const struct vmux_near_check *c, const void *key,
                         size_t len)
{
    if (c->bcast)
        return bcast_ok(r, c, key, len);
    return kind(r) == VMUX_REPLY_STATUS && vmux__reply_is(r, "OK");
}
