/* Typed commands fanned out to every primary, and their combining rules (api/fanout.h). */
#include "api/fanout.h"

#include <stdlib.h>
#include <string.h>

#include "core/errbuf.h"
#include "core/sized.h"
#include "mux/fanout.h"
#include "vmux/error.h"

bool vmux__fan_wanted(vmux *m)
{
    return m != NULL && vmux__fanout_cluster(m);
}

/*
 * The primary whose failure fails the call, or NULL: the first one that failed without excuse;
 * when every primary failed and each was excused, the first (none succeeded to excuse them).
 */
static const vmux_node_reply *first_failure(const vmux_node_replies *res, vmux_excuse_fn excused)
{
    size_t failed = 0;
    for (size_t i = 0; i < res->count; i++) {
        const vmux_node_reply *n = &res->nodes[i];
        if (n->status != 0 && (excused == NULL || !excused(n)))
            return n;
        failed += n->status != 0;
    }
    return failed > 0 && failed == res->count ? &res->nodes[0] : NULL;
}

/* Fills o's error buffer with the failed node's address and its words: its entry's error reply
 * (the server's, or vmux's words for a failure of its own, as vmux_call() gives them: "never
 * sent; last connection failure: ...", mux/fanout.c), else the code's description; then how
 * many of the other primaries succeeded (so ran it: a FLUSHALL whose one part was "never sent"
 * flushed the others; review helper-268); an excused failure (no such library) is none. */
static void explain_node(const vmux_callopts *o, const vmux_node_replies *res,
                         const vmux_node_reply *n)
{
    if (o->errbuf == NULL || o->errlen == 0)
        return;
    bool said = n->reply != NULL && vmux_reply_get_kind(n->reply) == VMUX_REPLY_ERROR;
    const char *why = said ? vmux_reply_str(n->reply, NULL) : vmux_strerror(n->status);
    size_t answered = 0;
    for (size_t i = 0; i < res->count; i++)
        answered += &res->nodes[i] != n && res->nodes[i].status == 0;
    const char *w = why != NULL ? why : "";
    if (res->count <= 1)
        vmux__errbuf_set(o->errbuf, o->errlen, "%s: %s", n->address, w);
    else if (answered == 0)
        vmux__errbuf_set(o->errbuf, o->errlen, "%s: %s (none of the other %zu primaries succeeded)",
                         n->address, w, res->count - 1);
    else
        vmux__errbuf_set(o->errbuf, o->errlen,
                         "%s: %s (%zu of the other %zu primaries succeeded: it ran there)",
                         n->address, w, answered, res->count - 1);
}

int vmux__fan_run(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                  enum vmux__rerun rerun, vmux_combine_fn combine, void *out, size_t size,
                  void (*release)(void *))
{
    return vmux__fan_run_excusing(m, opts, a, idempotent, rerun, NULL, combine, out, size, release);
}

int vmux__fan_run_excusing(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                           enum vmux__rerun rerun, vmux_excuse_fn excused, vmux_combine_fn combine,
                           void *out, size_t size, void (*release)(void *))
{
    unsigned char scratch[64];
    bool dropped = out == NULL;
    if (dropped)
        out = scratch; /* the rule still checks the replies */
    memset(out, 0, size);
    vmux_callopts o = vmux__callopts_copy(opts);
    /* It runs on every primary: where to send it has no meaning here (and the flags that say so,
     * which vmux_call_nodes() refuses, are taken on one server: so too before detection). */
    o.flags &= ~(uint32_t)(VMUX_CALL_PRIMARY | VMUX_CALL_REPLICA | VMUX_CALL_PREFER_REPLICA |
                           VMUX_CALL_TELL_UNSENT);
    if (idempotent)
        o.flags |= VMUX_CALL_RETRY_SAFE;
    vmux_node_replies res = {0};
    int rc = a->error != 0
                 ? a->error
                 : vmux__fanout_call_primaries(m, &o, rerun, a->argc, a->argv, a->lens, &res);
    if (a->error == VMUX_ERR_INVALID_ARG)
        vmux__args_refused(opts, a); /* which argument, in the caller's buffer */
    vmux__args_free(a);
    const vmux_node_reply *bad = rc == 0 ? first_failure(&res, excused) : NULL;
    if (bad != NULL) {
        rc = bad->status;
        explain_node(&o, &res, bad);
    } else if (rc == 0) {
        rc = combine(&res, out);
        if (rc == 0 && dropped && release != NULL)
            release(out);
    }
    vmux_node_replies_free(&res);
    return rc;
}

int vmux__combine_sum(const vmux_node_replies *res, void *out)
{
    int64_t sum = 0, v;
    for (size_t i = 0; i < res->count; i++) {
        if (vmux_reply_to_int(res->nodes[i].reply, &v) != 0)
            return VMUX_ERR_PROTOCOL;
        sum += v;
    }
    *(int64_t *)out = sum;
    return 0;
}

int vmux__combine_min(const vmux_node_replies *res, void *out)
{
    int64_t min = 0, v;
    for (size_t i = 0; i < res->count; i++) {
        if (vmux_reply_to_int(res->nodes[i].reply, &v) != 0)
            return VMUX_ERR_PROTOCOL;
        min = i == 0 || v < min ? v : min;
    }
    *(int64_t *)out = min;
    return 0;
}

/* Moves b's items behind a's (both converted arrays); b ends empty. */
static int append_items(vmux_bytes_array *a, vmux_bytes_array *b)
{
    if (b->count == 0)
        return 0;
    vmux_bytes *items = realloc(a->items, (a->count + b->count) * sizeof *items);
    if (items == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(items + a->count, b->items, b->count * sizeof *items);
    a->items = items;
    a->count += b->count;
    free(b->items);
    *b = (vmux_bytes_array){0};
    return 0;
}

int vmux__combine_concat(const vmux_node_replies *res, void *out)
{
    vmux_bytes_array *all = out, part;
    for (size_t i = 0; i < res->count; i++) {
        int rc = vmux_reply_to_bytes_array(res->nodes[i].reply, &part);
        if (rc == 0 && (rc = append_items(all, &part)) != 0)
            vmux_bytes_array_free(&part);
        if (rc != 0) {
            vmux_bytes_array_free(all);
            return rc == VMUX_ERR_NOMEM ? rc : VMUX_ERR_PROTOCOL;
        }
    }
    return 0;
}

int vmux__combine_all_ok(const vmux_node_replies *res, void *out)
{
    for (size_t i = 0; i < res->count; i++)
        if (vmux__conv_ok(res->nodes[i].reply, out) != 0)
            return VMUX_ERR_PROTOCOL;
    return 0;
}

int vmux__combine_same(const vmux_node_replies *res, void *out)
{
    vmux_bytes *first = out;
    for (size_t i = 0; i < res->count; i++) {
        size_t len;
        const char *s = vmux_reply_str(res->nodes[i].reply, &len);
        if (s == NULL || vmux_reply_get_kind(res->nodes[i].reply) == VMUX_REPLY_ERROR ||
            (i > 0 && (len != first->len || memcmp(s, first->ptr, len) != 0))) {
            vmux_bytes_free(first);
            return VMUX_ERR_PROTOCOL;
        }
        if (i == 0 && vmux_reply_to_bytes(res->nodes[i].reply, first) != 0)
            return VMUX_ERR_NOMEM;
    }
    return 0;
}
