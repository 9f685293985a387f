/*
 * The cache's stored entries (cache.h): the format (a header, then the value), the key as
 * sent (the cache's prefix, then the caller's key), and the GET, SET and DEL that read and
 * write them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errclass.h"
#include "core/why.h"
#include "patterns/cache_internal.h"
#include "vmux/call.h"
#include "vmux/error.h"
#include "vmux/keys.h"
#include "vmux/near.h"
#include "vmux/strings.h"

#define FORMAT_VERSION 1
#define FLAG_NOT_FOUND 0x1

/* ---- the stored format (cache.h) ---- */

static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

void vmux__cache_put_header(char *blob, bool found, uint64_t delta_us, uint64_t expiry_ms)
{
    unsigned char *p = (unsigned char *)blob;
    memcpy(p, "vmc", 3);
    p[3] = FORMAT_VERSION;
    p[4] = found ? 0 : FLAG_NOT_FOUND;
    memset(p + 5, 0, 3);
    put_be(p + 8, delta_us > UINT32_MAX ? UINT32_MAX : delta_us, 4);
    put_be(p + 12, expiry_ms, 8);
}

/* Decodes s into e; an unknown format leaves e->present false. */
static int parse_entry(const char *s, size_t len, struct entry *e)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len < HDR_LEN || memcmp(p, "vmc", 3) != 0 || p[3] != FORMAT_VERSION)
        return 0;
    e->found = (p[4] & FLAG_NOT_FOUND) == 0;
    e->delta_us = (uint32_t)get_be(p + 8, 4);
    e->expiry_ms = get_be(p + 12, 8);
    if (e->found) {
        size_t n = len - HDR_LEN;
        if ((e->value.ptr = malloc(n + 1)) == NULL)
            return VMUX_ERR_NOMEM;
        memcpy(e->value.ptr, s + HDR_LEN, n);
        e->value.ptr[n] = '\0';
        e->value.len = n;
    }
    e->present = true;
    return 0;
}

/* ---- keys ---- */

int vmux__cache_key_make(const vmux_cache *c, vmux_str key, struct fullkey *k)
{
    int rc = vmux__prefixed_key_make(&k->sent, c->prefix, c->prefix_len, key);
    if (rc == 0)
        k->user = VMUX_STRN(k->sent.ptr + c->prefix_len, key.len);
    return rc;
}

void vmux__cache_key_free(struct fullkey *k)
{
    vmux__prefixed_key_free(&k->sent);
}

/* FNV-1a. */
uint64_t vmux__cache_key_hash(const struct fullkey *k)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < k->sent.len; i++)
        h = (h ^ (unsigned char)k->sent.ptr[i]) * 0x100000001b3ull;
    return h;
}

/* ---- Valkey commands ---- */

/* A command's options; a failing command leaves its words for vmux_last_error(). */
static vmux_callopts command_opts(const vmux_cache *c, uint32_t flags)
{
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = c->timeout_ms, .flags = flags);
    vmux__why_opts(&o);
    return o;
}

/* Whether a failed GET's error (msg: the server's message, or NULL) is WRONGTYPE. */
static bool is_wrongtype(int rc, const char *msg)
{
    return rc == VMUX_ERR_SERVER && msg != NULL &&
           vmux__errclass(msg, strlen(msg)) == VMUX_ERRCLASS_WRONGTYPE;
}

/* The near tier: the stored bytes from memory, or read (and kept) by vmux_near_get(). */
static int near_read(vmux_cache *c, const struct fullkey *k, struct entry *e)
{
    vmux_callopts o = command_opts(c, 0);
    vmux_bytes b;
    int rc = vmux_near_get(c->m, &o, VMUX_STRN(k->sent.ptr, k->sent.len), &b);
    e->wrongtype = is_wrongtype(rc, vmux_last_error());
    if (rc != 0)
        cache_count(&c->errors);
    else if (b.ptr != NULL)
        rc = parse_entry(b.ptr, b.len, e);
    vmux_bytes_free(&b);
    return rc;
}

/*
 * This process's own write is seen at once, not when the server's invalidation comes. rc is the
 * write's: vmux_near_forget() begins a call of its own, which clears the thread's words, so a
 * failed write's words (its reason: "timed out waiting for a connection (never sent); ...") are
 * put back, or the caller read only the code's description in vmux_last_error().
 */
static void near_forget(vmux_cache *c, const struct fullkey *k, int rc)
{
    if (!c->near)
        return;
    char kept[1024]; /* as much as core/why.c keeps */
    snprintf(kept, sizeof kept, "%s", rc != 0 ? vmux_last_error() : "");
    (void)vmux_near_forget(c->m, VMUX_STRN(k->sent.ptr, k->sent.len));
    if (kept[0] != '\0')
        (void)vmux__why_set(rc, "%s", kept);
}

/* GET and decode: the hit path, one GET and one allocation for the value. */
int vmux__cache_read(vmux_cache *c, const struct fullkey *k, struct entry *e)
{
    if (c->near) {
        memset(e, 0, sizeof(*e));
        return near_read(c, k, e);
    }
    const char *argv[2] = {"GET", k->sent.ptr};
    size_t lens[2] = {3, k->sent.len};
    vmux_callopts o = command_opts(c, VMUX_CALL_RETRY_SAFE);
    vmux_reply *r = NULL;
    memset(e, 0, sizeof(*e));
    int rc = vmux_call(c->m, &o, 2, argv, lens, &r);
    e->wrongtype = is_wrongtype(rc, rc == VMUX_ERR_SERVER ? vmux_reply_str(r, NULL) : NULL);
    if (rc != 0)
        cache_count(&c->errors);
    else if (vmux_reply_get_kind(r) == VMUX_REPLY_STRING) {
        size_t len;
        const char *s = vmux_reply_str(r, &len);
        rc = parse_entry(s, len, e);
    }
    vmux_reply_free(r);
    return rc;
}

/* An entry too large for the handle's GET to read back: not sent, counted, in words. */
static int too_large(vmux_cache *c, const struct flight *f)
{
    cache_count(&c->errors);
    return vmux__why_set(VMUX_ERR_INVALID_ARG,
                         "the value's %zu bytes and the %d-byte header exceed the handle's "
                         "maxBulkLength %llu: not stored, as no GET could read it back",
                         f->len, HDR_LEN, (unsigned long long)c->max_stored);
}

/* SET blob PX ttl; 0 or the SET's error. */
int vmux__cache_store(vmux_cache *c, const struct fullkey *k, const struct flight *f,
                      int64_t ttl_ms)
{
    if (c->max_stored < HDR_LEN || (uint64_t)f->len > c->max_stored - HDR_LEN)
        return too_large(c, f);
    vmux_callopts o = command_opts(c, 0);
    int rc = vmux_set(c->m, &o, VMUX_STRN(k->sent.ptr, k->sent.len),
                      VMUX_STRN(f->blob, HDR_LEN + f->len), VMUX_EXPIRE_IN_MS(ttl_ms),
                      VMUX_COND_ALWAYS, NULL);
    if (rc != 0)
        cache_count(&c->errors);
    near_forget(c, k, rc);
    return rc;
}

int vmux__cache_delete(vmux_cache *c, const struct fullkey *k)
{
    vmux_callopts o = command_opts(c, 0);
    vmux_str key = VMUX_STRN(k->sent.ptr, k->sent.len);
    int rc = vmux_del(c->m, &o, &key, 1, NULL);
    if (rc != 0)
        cache_count(&c->errors);
    near_forget(c, k, rc);
    return rc;
}
