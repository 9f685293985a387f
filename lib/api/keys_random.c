/*
 * RANDOMKEY (keys.h): one command standalone; on a cluster every primary's, and one of the keys
 * they answer picked at random, since a primary whose slots hold nothing answers nil.
 */
#include "api/fanout.h"
#include "api/typed.h"
#include "core/random.h"
#include "vmux/error.h"
#include "vmux/keys.h"

/* Whether a primary's answer is a key (a string) rather than nil; -1 for any other shape. */
static int is_key(const vmux_reply *r)
{
    vmux_reply_kind kind = vmux_reply_get_kind(r);
    return kind == VMUX_REPLY_STRING ? 1 : kind == VMUX_REPLY_NIL ? 0 : -1;
}

/* The rule: a vmux_bytes, one of the keys answered (each primary's as likely), or nil. */
static int combine_any_key(const vmux_node_replies *res, void *out)
{
    size_t keys = 0;
    for (size_t i = 0; i < res->count; i++) {
        int k = is_key(res->nodes[i].reply);
        if (k < 0)
            return VMUX_ERR_PROTOCOL;
        keys += (size_t)k;
    }
    if (keys == 0)
        return 0; /* every primary is empty: out stays nil */
    size_t pick = (size_t)(vmux__random() % keys);
    for (size_t i = 0;; i++)
        if (is_key(res->nodes[i].reply) == 1 && pick-- == 0)
            return vmux_reply_to_bytes(res->nodes[i].reply, out);
}

int vmux_randomkey(vmux *m, const vmux_callopts *opts, vmux_bytes *key, bool *found)
{
    struct vmux_args a;
    vmux_bytes v;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "RANDOMKEY");
    int rc = vmux__fan_wanted(m) ? vmux__fan_run(m, opts, &a, true, VMUX__RERUN_ALL,
                                                 combine_any_key, &v, sizeof v, vmux__release_bytes)
                                 : vmux__run_bytes(m, opts, &a, true, &v);
    return vmux__bytes_found(rc, &v, key, found);
}
