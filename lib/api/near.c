/*
 * Tracked reads through the near cache (vmux/near.h, api/near_read.h): a hit from the store, a
 * miss as one block MULTI, CLIENT CACHING YES, <the read>, PTTL, EXEC behind a placeholder
 * (docs/patterns/near-cache.md), sent to the key's primary (its slot's, on a cluster: a
 * redirected read is not stored; with readFrom other than primary, where readFrom sends it,
 * each node tracking on its own). Under nearCacheMode=bcast the block has CLIENT TRACKINGINFO in
 * place of CLIENT CACHING YES (api/near_track.h), and a key under none of the prefixes is read
 * untracked. GET is here; HGET, HGETALL and SMEMBERS in near_typed.c.
 */
#include "vmux/near.h"

#include <string.h>
#include <uv.h>

#include "api/near_track.h"
#include "api/typed.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/near_store.h"
#include "core/sized.h"
#include "core/why.h"
#include "core/value.h"
#include "mux/handle.h"
#include "mux/near.h"
#include "api/near_read.h"
#include "vmux/error.h"
#include "vmux/reply.h"
#include "vmux/strings.h"

/* MULTI, the tracking command (CLIENT CACHING YES or CLIENT TRACKINGINFO), the read, PTTL, EXEC:
 * five replies, EXEC's array last. */
#define BLOCK_REPLIES 5

const void *vmux__near_key_bytes(vmux_str key)
{
    return key.ptr != NULL ? key.ptr : ""; /* an empty key: never a NULL to memcmp */
}

void vmux__near_image_free(struct vmux_near_image *img)
{
    vmux__buf_free(&img->enc);
}

/*
 * The block: the mode's tracking command inside the transaction, so that EXEC's first element
 * says whether the connection that ran the read was tracking (near_track.h).
 */
static int encode_block(struct vmux_buf *b, const struct vmux_near_read *rd,
                        const struct vmux_near_check *c)
{
    vmux_bytes k = {(char *)vmux__near_key_bytes(rd->key), rd->key.len};
    vmux_bytes read[VMUX_NEAR_READ_ARGS];
    VMUX_ASSERT(rd->argc >= 2 && rd->argc <= VMUX_NEAR_READ_ARGS);
    for (int i = 0; i < rd->argc; i++)
        read[i] = (vmux_bytes){(char *)rd->argv[i], rd->argvlen[i]};
    const vmux_bytes multi[] = {{"MULTI", 5}}, exec[] = {{"EXEC", 4}};
    const vmux_bytes pttl[] = {{"PTTL", 4}, k};
    int rc = vmux__encode_append(b, multi, 1);
    rc = rc ? rc : vmux__near_track_encode(b, c);
    rc = rc ? rc : vmux__encode_append(b, read, (size_t)rd->argc);
    rc = rc ? rc : vmux__encode_append(b, pttl, 2);
    return rc ? rc : vmux__encode_append(b, exec, 1);
}

/* The entry's deadline from PTTL, counted from before the read was sent (never too late). */
static uint64_t server_deadline(const vmux_reply *pttl, uint64_t sent_ns)
{
    int64_t ms = vmux_reply_integer(pttl);
    if (vmux_reply_get_kind(pttl) != VMUX_REPLY_INTEGER || ms == -2)
        return 0; /* gone, or an answer we do not know: not stored */
    if (ms == -1 || (uint64_t)ms > (UINT64_MAX - sent_ns) / 1000000u)
        return UINT64_MAX; /* no TTL, or one past what the clock counts (PEXPIREAT far ahead) */
    return sent_ns + (uint64_t)ms * 1000000u;
}

/*
 * A reply that is not stored meets the store, so that no older value outlives it: a missing key
 * (or one of another type: an error) meets every variant of the key.
 */
static void meet(struct vmux_near *s, const struct vmux_near_key *k,
                 const struct vmux_near_image *img)
{
    if (img == NULL || img->found == VMUX_NEAR_FOUND_GONE)
        vmux__near_seen_gone(s, k->key, k->keylen);
    else if (img->found == VMUX_NEAR_FOUND_NONE)
        vmux__near_seen_var(s, k, NULL, 0);
    else
        vmux__near_seen_var(s, k, img->bytes, img->len);
}

/* The read's own reply r: the caller's result in out, an error's message in o->errbuf. */
static int give(const vmux_callopts *o, const struct vmux_near_read *rd, const vmux_reply *r,
                struct vmux_near_image *img, void *out)
{
    if (vmux_reply_get_kind(r) == VMUX_REPLY_ERROR) {
        vmux__errbuf_set(o->errbuf, o->errlen, "%s", vmux_reply_str(r, NULL));
        return VMUX_ERR_SERVER;
    }
    int rc = rd->kind->image(r, img);
    if (rc == 0)
        rc = rd->kind->give(img->found == VMUX_NEAR_FOUND_VALUE ? img->bytes : NULL, img->len, out);
    return rc;
}

/* What a tracked read is: its command, its key, its placeholder and where it was reserved. */
struct tracked {
    const struct vmux_near_read *rd;
    const struct vmux_near_key *k;
    struct vmux_near_token t;
    unsigned node, slot; /* as vmux__near_place() gave them */
    bool by_slot;        /* the handle routed by slot before they were given: slot is the op's */
    uint64_t sent_ns;
    struct vmux_near_check check;
};

/* EXEC's [tracking, read, PTTL]: the result to the caller, and maybe to the store. */
static int take_reply(struct vmux_near *s, const vmux_callopts *o, const vmux_reply *r,
                      const struct tracked *tr, void *out)
{
    const struct vmux_near_read *rd = tr->rd;
    const struct vmux_near_key *k = tr->k;
    const vmux_reply *tracking = vmux_reply_element(r, 0), *read = vmux_reply_element(r, 1),
                     *pttl = vmux_reply_element(r, 2);
    struct vmux_near_image img = {0};
    int rc = give(o, rd, read, &img, out);
    uint64_t deadline = server_deadline(pttl, tr->sent_ns);
    if (rc == 0 && img.found == VMUX_NEAR_FOUND_VALUE &&
        vmux__near_track_ok(tracking, &tr->check, k->key, k->keylen) && deadline != 0)
        (void)vmux__near_fill_var(s, tr->t, k, img.bytes, img.len, deadline, uv_hrtime());
    else if (rc == 0 || rc == VMUX_ERR_SERVER)
        meet(s, k, rc == 0 ? &img : NULL);
    vmux__near_image_free(&img);
    return rc;
}

/* A read that nothing may store: it still meets the store, so that no older value outlives it. */
static int untracked_read(vmux *m, struct vmux_near *s, const vmux_callopts *o,
                          const struct vmux_near_read *rd, const struct vmux_near_key *k, void *out)
{
    vmux__near_count_untracked(m);
    vmux_reply *r = NULL;
    struct vmux_near_image img = {0};
    int rc = vmux_call(m, o, rd->argc, rd->argv, rd->argvlen, &r);
    if (rc == 0 || rc == VMUX_ERR_SERVER)
        rc = give(o, rd, r, &img, out);
    if (rc == 0 || rc == VMUX_ERR_SERVER)
        meet(s, k, rc == 0 ? &img : NULL);
    vmux__near_image_free(&img);
    vmux_reply_free(r);
    return rc;
}

/*
 * Whether the tracked block's error says the server will not run one of its commands for this
 * user, or does not know it (an ACL without CLIENT CACHING or PTTL, a command renamed away), or
 * refused its MULTI, after which its commands, reads, ran on their own ("MULTI was refused (...)",
 * net/conn_read.c): the read then goes again untracked. Any other error (BUSY, OOM,
 * MASTERDOWN...) is the read's answer.
 */
static bool block_refused(const char *why)
{
    return strncmp(why, "NOPERM", 6) == 0 || strncmp(why, "MULTI was refused (", 19) == 0 ||
           strstr(why, "unknown command") != NULL || strstr(why, "unknown subcommand") != NULL;
}

static int tracked_read(vmux *m, struct vmux_near *s, const vmux_callopts *o,
                        const struct tracked *tr, void *out)
{
    struct vmux_buf b = {0};
    vmux_reply *r = NULL;
    char why[256] = "";
    vmux_callopts bo = *o; /* the block's words reach the caller only if they are the answer */
    bo.errbuf = why;
    bo.errlen = sizeof why;
    int rc = encode_block(&b, tr->rd, &tr->check);
    if (rc == 0)
        rc = vmux__call_block_near(m, &bo, b.data, b.len, BLOCK_REPLIES, tr->t.hash, tr->t.id,
                                   tr->node, tr->by_slot ? tr->slot : VMUX_BLOCK_NO_SLOT, &r);
    vmux__buf_free(&b);
    /* A command of the block refused as it was queued (an ACL without CLIENT CACHING or PTTL):
     * EXEC ran nothing, and the read goes again untracked (probe39: every miss failed). */
    bool refused = rc == VMUX_ERR_SERVER && block_refused(why);
    if (refused)
        vmux__near_block_refused(m, why);
    else if (rc != 0 && why[0] != '\0' && o->errbuf != NULL && o->errlen > 0)
        vmux__errbuf_set(o->errbuf, o->errlen, "%s", why);
    else if (rc == 0 && vmux_reply_len(r) != 3)
        rc = VMUX_ERR_PROTOCOL;
    else if (rc == 0)
        rc = take_reply(s, o, r, tr, out);
    vmux_reply_free(r);
    vmux__near_cancel(s, tr->t); /* a placeholder the reply did not fill goes */
    return refused ? untracked_read(m, s, o, tr->rd, tr->k, out) : rc;
}

/* near_miss() for a call marked (vmux__call_begin()): it stores into s after its wait. */
static int near_miss_marked(vmux *m, struct vmux_near *s, const vmux_callopts *opts,
                            const struct vmux_near_read *rd, const struct vmux_near_key *k,
                            void *out)
{
    vmux_callopts o = vmux__callopts_copy(opts); /* checked before the lookup */
    o.flags |= VMUX_CALL_RETRY_SAFE;
    if (!vmux__near_replica_reads(m))
        o.flags |= VMUX_CALL_PRIMARY; /* else where readFrom says: each node tracks */
    unsigned node, slot;
    /* Read before the placing: standalone becomes cluster (a server restarted as a cluster node)
     * and never the other way, so a slot placed as standalone (0) is never taken for the op's. */
    bool by_slot = vmux__routes_by_slot(m);
    if (!vmux__near_covers(m, k->key, k->keylen) ||
        !vmux__near_place(m, k->key, k->keylen, &node, &slot))
        return untracked_read(m, s, &o, rd, k, out);
    struct vmux_near_token t;
    uint64_t sent_ns = uv_hrtime();
    int rc = vmux__near_reserve_var(s, k, node, slot, sent_ns, &t);
    if (rc != 0)
        return rc;
    if (t.id == 0 || !vmux__near_storable(m, node, slot)) { /* read after the reservation */
        vmux__near_cancel(s, t);
        return untracked_read(m, s, &o, rd, k, out);
    }
    struct vmux_near_check check = {vmux__near_bcast(m), vmux__near_tracking_id(m, node),
                                    vmux__near_replica_reads(m)};
    struct tracked tr = {rd, k, t, node, slot, by_slot, sent_ns, check};
    return tracked_read(m, s, &o, &tr, out);
}

/*
 * A miss: a placeholder first, then the read; tracked only when the order rule allows it. Marked
 * as a call under way, as it uses the store after waiting (vmux_close() frees it); a hit is not,
 * to keep hits free of writes to a shared counter.
 */
static int near_miss(vmux *m, struct vmux_near *s, const vmux_callopts *opts,
                     const struct vmux_near_read *rd, const struct vmux_near_key *k, void *out)
{
    if (!vmux__call_begin(m))
        return VMUX_ERR_CLOSED;
    int rc = near_miss_marked(m, s, opts, rd, k, out);
    vmux__call_end(m);
    return rc;
}

/*
 * The store a read of m goes to (vmux__near_store_for()): 0, or VMUX_ERR_FORKED, or
 * VMUX_ERR_UNSUPPORTED for a handle that keeps no near cache, with words for opts; or
 * VMUX_ERR_INVALID_ARG for opts a tracked read refuses (vmux__near_opts_check()), before the
 * lookup, so that a hit refuses them as a miss does.
 */
static int store_for_read(vmux *m, const vmux_callopts *opts, struct vmux_near **s)
{
    int rc = vmux__near_store_for(m, s);
    vmux_callopts o;
    if (rc == VMUX_ERR_UNSUPPORTED && opts != NULL && vmux__sized_in(&o, sizeof o, opts) == 0)
        vmux__errbuf_set(o.errbuf, o.errlen,
                         "this handle keeps no near cache: open it with nearCache=true "
                         "(docs/patterns/near-cache.md)");
    if (rc == 0 && opts != NULL)
        rc = vmux__near_opts_check(opts);
    return rc;
}

int vmux__near_read(vmux *m, const vmux_callopts *opts, const struct vmux_near_read *rd, void *out)
{
    struct vmux_near *s;
    int rc = store_for_read(m, opts, &s);
    if (rc != 0)
        return rc;
    struct vmux_near_key k = {vmux__near_key_bytes(rd->key), rd->key.len, rd->var, rd->varlen};
    rc = vmux__near_lookup_var(s, &k, uv_hrtime(), rd->kind->give, out);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    return near_miss(m, s, opts, rd, &k, out);
}

int vmux__near_string_image(const vmux_reply *r, enum vmux_near_found nil,
                            struct vmux_near_image *img)
{
    vmux_reply_kind kind = vmux_reply_get_kind(r);
    if (kind == VMUX_REPLY_NIL) {
        img->found = nil;
        return 0;
    }
    if (kind != VMUX_REPLY_STRING)
        return VMUX_ERR_PROTOCOL;
    img->found = VMUX_NEAR_FOUND_VALUE;
    img->bytes = vmux_reply_str(r, &img->len);
    return 0;
}

/* GET: the string's bytes as they are; nil is a missing key. */
static int get_image(const vmux_reply *r, struct vmux_near_image *img)
{
    return vmux__near_string_image(r, VMUX_NEAR_FOUND_GONE, img);
}

int vmux__near_give_bytes(const void *bytes, size_t len, void *out)
{
    if (bytes == NULL) {
        memset(out, 0, sizeof(vmux_bytes));
        return 0;
    }
    return vmux__bytes_copy(bytes, len, out);
}

static const struct vmux_near_kind GET_KIND = {get_image, vmux__near_give_bytes};

int vmux_near_get(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *value)
{
    if (value != NULL)
        memset(value, 0, sizeof(*value));
    if (m == NULL)
        return vmux__typed_refuse(opts, "the handle is NULL");
    if (value == NULL)
        return vmux__typed_refuse(opts, "value is NULL");
    if (key.ptr == NULL && key.len > 0)
        return vmux__typed_refuse(opts,
                                  "key is at NULL with length %zu (a vmux_str {NULL, len "
                                  "> 0} is no string)",
                                  key.len);
    struct vmux_near *s;
    int rc = store_for_read(m, opts, &s);
    if (rc != 0)
        return rc;
    /* The hit path of the plain calls, as short as before the typed reads came. */
    rc = vmux__near_lookup(s, vmux__near_key_bytes(key), key.len, uv_hrtime(), value);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    const char *argv[] = {"GET", vmux__near_key_bytes(key)};
    const size_t lens[] = {3, key.len};
    const struct vmux_near_read rd = {&GET_KIND, key, NULL, 0, 2, argv, lens};
    const struct vmux_near_key k = {argv[1], key.len, NULL, 0};
    return near_miss(m, s, opts, &rd, &k, value);
}

/* vmux_near_forget() but for clearing and ending its words. */
static int near_forget(vmux *m, vmux_str key)
{
    if (m == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "the handle is NULL");
    int rc = vmux__why_str("key", key);
    struct vmux_near *s;
    if (rc == 0 && (rc = vmux__near_store_for(m, &s)) == VMUX_ERR_UNSUPPORTED)
        return vmux__why_set(rc, "the handle keeps no near cache (nearCache is off): nothing to "
                                 "forget");
    if (rc != 0)
        return rc;
    (void)vmux__near_invalidate(s, vmux__near_key_bytes(key), key.len);
    return 0;
}

int vmux_near_forget(vmux *m, vmux_str key)
{
    vmux__why_begin();
    return vmux__why_end(near_forget(m, key));
}

/* vmux_near_read_stats()'s refusals, in words: 0, or why *out cannot be filled. */
static int stats_refuse(vmux *m, const vmux_near_stats *out, struct vmux_near **s)
{
    if (m == NULL || out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", m == NULL ? "the handle" : "out");
    if (out->size < sizeof(size_t))
        return vmux__why_sized("out", out->size, sizeof *out);
    int rc = vmux__near_store_for(m, s);
    if (rc == VMUX_ERR_UNSUPPORTED)
        return vmux__why_set(rc, "the handle keeps no near cache (nearCache is off): no counters");
    return rc;
}

int vmux_near_read_stats(vmux *m, vmux_near_stats *out)
{
    vmux__why_begin();
    struct vmux_near *s;
    int rc = vmux__why_end(stats_refuse(m, out, &s));
    if (rc != 0)
        return rc;
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
