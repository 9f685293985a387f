/*
 * Tracked reads through the near cache (vmux/near.h): a hit from the store, a miss as one block
 * MULTI, CLIENT CACHING YES, GET, PTTL, EXEC behind a placeholder (docs/patterns/near-cache.md),
 * sent to the key's primary (its slot's, on a cluster: a redirected read is not stored; with
 * readFrom other than primary, where readFrom sends it, each node tracking on its own).
 */
#include "vmux/near.h"

#include <string.h>
#include <uv.h>

#include "core/buf.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/near_store.h"
#include "core/sized.h"
#include "core/value.h"
#include "mux/handle.h"
#include "mux/near.h"
#include "vmux/error.h"
#include "vmux/reply.h"
#include "vmux/strings.h"

/* MULTI, CLIENT CACHING YES, GET, PTTL, EXEC: five replies, EXEC's array last. */
#define BLOCK_REPLIES 5

static const void *key_bytes(vmux_str key)
{
    return key.ptr != NULL ? key.ptr : ""; /* an empty key: never a NULL to memcmp */
}

/*
 * The block: CLIENT CACHING YES inside the transaction, so that EXEC's first element says
 * whether the connection that ran the read was tracking (an error when it was not).
 */
static int encode_block(struct vmux_buf *b, vmux_str key)
{
    vmux_bytes k = {(char *)key_bytes(key), key.len};
    const vmux_bytes multi[] = {{"MULTI", 5}}, exec[] = {{"EXEC", 4}};
    const vmux_bytes caching[] = {{"CLIENT", 6}, {"CACHING", 7}, {"YES", 3}};
    const vmux_bytes get[] = {{"GET", 3}, k}, pttl[] = {{"PTTL", 4}, k};
    int rc = vmux__encode_append(b, multi, 1);
    rc = rc ? rc : vmux__encode_append(b, caching, 3);
    rc = rc ? rc : vmux__encode_append(b, get, 2);
    rc = rc ? rc : vmux__encode_append(b, pttl, 2);
    return rc ? rc : vmux__encode_append(b, exec, 1);
}

/* The entry's deadline from PTTL, counted from before the read was sent (never too late). */
static uint64_t server_deadline(const vmux_reply *pttl, uint64_t sent_ns)
{
    int64_t ms = vmux_reply_integer(pttl);
    if (vmux_reply_get_kind(pttl) != VMUX_REPLY_INTEGER || ms == -2)
        return 0; /* gone, or an answer we do not know: not stored */
    return ms == -1 ? UINT64_MAX : sent_ns + (uint64_t)ms * 1000000u;
}

static bool is_ok(const vmux_reply *r)
{
    const char *s = vmux_reply_str(r, NULL);
    return vmux_reply_get_kind(r) == VMUX_REPLY_STATUS && s != NULL && strcmp(s, "OK") == 0;
}

/* Takes EXEC's [CLIENT CACHING, GET, PTTL] apart: the value to the caller, and maybe the store. */
static int take_reply(struct vmux_near *s, const vmux_callopts *o, const vmux_reply *r,
                      vmux_str key, struct vmux_near_token t, uint64_t sent_ns, vmux_bytes *value)
{
    const vmux_reply *caching = vmux_reply_element(r, 0), *get = vmux_reply_element(r, 1),
                     *pttl = vmux_reply_element(r, 2);
    vmux_reply_kind kind = vmux_reply_get_kind(get);
    if (kind == VMUX_REPLY_ERROR) {
        vmux__errbuf_set(o->errbuf, o->errlen, "%s", vmux_reply_str(get, NULL));
        return VMUX_ERR_SERVER;
    }
    if (kind == VMUX_REPLY_NIL) {
        vmux__near_seen(s, key_bytes(key), key.len, NULL, 0); /* an older value must go */
        return 0;
    }
    size_t len;
    const char *bytes = vmux_reply_str(get, &len);
    if (kind != VMUX_REPLY_STRING || pttl == NULL)
        return VMUX_ERR_PROTOCOL;
    int rc = vmux__bytes_copy(bytes, len, value);
    uint64_t deadline = server_deadline(pttl, sent_ns);
    if (rc == 0 && is_ok(caching) && deadline != 0)
        (void)vmux__near_fill(s, t, key_bytes(key), key.len, bytes, len, deadline, uv_hrtime());
    else
        vmux__near_seen(s, key_bytes(key), key.len, bytes, len);
    return rc;
}

static int tracked_read(vmux *m, struct vmux_near *s, const vmux_callopts *o, vmux_str key,
                        struct vmux_near_token t, unsigned node, uint64_t sent_ns,
                        vmux_bytes *value)
{
    struct vmux_buf b = {0};
    vmux_reply *r = NULL;
    int rc = encode_block(&b, key);
    if (rc == 0)
        rc = vmux__call_block_near(m, o, b.data, b.len, BLOCK_REPLIES, t.hash, t.id, node, &r);
    vmux__buf_free(&b);
    if (rc == 0 && vmux_reply_len(r) != 3)
        rc = VMUX_ERR_PROTOCOL;
    else if (rc == 0)
        rc = take_reply(s, o, r, key, t, sent_ns, value);
    vmux_reply_free(r);
    vmux__near_cancel(s, t); /* a placeholder the reply did not fill goes */
    if (rc != 0)
        vmux_bytes_free(value);
    return rc;
}

/* A read that nothing may store: it still meets the store, so that no older value outlives it. */
static int untracked_read(vmux *m, struct vmux_near *s, const vmux_callopts *o, vmux_str key,
                          vmux_bytes *value)
{
    vmux__near_count_untracked(m);
    int rc = vmux_get(m, o, key, value);
    if (rc == 0)
        vmux__near_seen(s, key_bytes(key), key.len, value->ptr, value->len);
    return rc;
}

/* A miss: a placeholder first, then the read; tracked only when the order rule allows it. */
static int near_miss(vmux *m, struct vmux_near *s, const vmux_callopts *opts, vmux_str key,
                     vmux_bytes *value)
{
    vmux_callopts o = vmux__callopts_copy(opts);
    if (o.flags & VMUX_CALL_REPLICA)
        return VMUX_ERR_INVALID_ARG;
    o.flags |= VMUX_CALL_RETRY_SAFE;
    if (!vmux__near_replica_reads(m))
        o.flags |= VMUX_CALL_PRIMARY; /* else where readFrom says: each node tracks */
    unsigned node, slot;
    if (!vmux__near_place(m, key_bytes(key), key.len, &node, &slot))
        return untracked_read(m, s, &o, key, value);
    struct vmux_near_token t;
    uint64_t sent_ns = uv_hrtime();
    int rc = vmux__near_reserve(s, key_bytes(key), key.len, node, slot, sent_ns, &t);
    if (rc != 0)
        return rc;
    if (t.id == 0 || !vmux__near_storable(m, node, slot)) { /* read after the reservation */
        vmux__near_cancel(s, t);
        return untracked_read(m, s, &o, key, value);
    }
    return tracked_read(m, s, &o, key, t, node, sent_ns, value);
}

int vmux_near_get(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value)
{
    if (value != NULL)
        memset(value, 0, sizeof(*value));
    if (m == NULL || value == NULL || (key.ptr == NULL && key.len > 0))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_near *s = vmux__near_store_of(m);
    if (s == NULL)
        return VMUX_ERR_UNSUPPORTED;
    int rc = vmux__near_lookup(s, key_bytes(key), key.len, uv_hrtime(), value);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    return near_miss(m, s, opts, key, value);
}

int vmux_near_forget(vmux *m, vmux_str key)
{
    if (m == NULL || (key.ptr == NULL && key.len > 0))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_near *s = vmux__near_store_of(m);
    if (s == NULL)
        return VMUX_ERR_UNSUPPORTED;
    (void)vmux__near_invalidate(s, key_bytes(key), key.len);
    return 0;
}

int vmux_near_read_stats(vmux *m, vmux_near_stats *out)
{
    if (m == NULL || out == NULL || out->size < sizeof(size_t))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_near *s = vmux__near_store_of(m);
    if (s == NULL)
        return VMUX_ERR_UNSUPPORTED;
    struct vmux_near_store_stats st;
    struct vmux_nearc_counts c;
    vmux__near_read_stats(s, &st);
    vmux__near_counts(m, &c);
    vmux_near_stats all = {
        .size = sizeof all,
        .hits = st.hits,
        .misses = st.misses,
        .untracked = c.untracked,
        .fills = st.fills,
        .fills_dropped = st.fills_dropped,
        .invalidations = c.invalidations,
        .evictions = st.evictions,
        .expirations = st.expirations,
        .flushes_lost = st.flushes[VMUX_NEAR_LINK_LOST],
        .flushes_server = st.flushes[VMUX_NEAR_SERVER_FLUSH],
        .flushes_reconnect = st.flushes[VMUX_NEAR_RECONNECT],
        .entries = st.entries,
        .bytes = st.bytes,
        .conflicts = st.conflicts,
        .flushes_moved = st.flushes[VMUX_NEAR_MOVED],
        .flushes_failover = st.flushes[VMUX_NEAR_FAILOVER],
    };
    return vmux__sized_out(out, &all, sizeof all);
}
