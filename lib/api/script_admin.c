/*
 * SCRIPT LOAD, FLUSH and EXISTS (script.h): one command standalone; on a cluster, every primary,
 * with the replies combined (api/fanout.h).
 */
#include <stdlib.h>
#include <string.h>

#include "api/fanout.h"
#include "api/typed.h"
#include "vmux/error.h"
#include "vmux/script.h"

int vmux_script_load(vmux *m, const vmux_callopts *opts, vmux_str source, vmux_bytes *sha1)
{
    if (sha1 != NULL)
        *sha1 = (vmux_bytes){0};
    if (source.ptr == NULL && source.len > 0)
        return vmux__typed_refuse(opts,
                                  "source is at NULL with length %zu (a vmux_str {NULL, len > 0} "
                                  "is no string)",
                                  source.len);
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "SCRIPT");
    vmux__args_cstr(&a, "LOAD");
    vmux__args_str(&a, source);
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, opts, &a, true, VMUX__RERUN_REST, vmux__combine_same, sha1,
                             sizeof *sha1, vmux__release_bytes);
    return vmux__run_bytes(m, opts, &a, true, sha1);
}

int vmux_script_flush(vmux *m, const vmux_callopts *opts, vmux_flush_mode mode)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "SCRIPT");
    vmux__args_cstr(&a, "FLUSH");
    vmux__args_flush_mode(&a, mode);
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, opts, &a, true, VMUX__RERUN_REST, vmux__combine_all_ok, NULL, 0,
                             NULL);
    return vmux__run_ok(m, opts, &a, true);
}

/* SCRIPT EXISTS's answer: n flags, each the AND over the replies combined so far. */
struct exists_out {
    bool *flags;
    size_t n;
};

/* ANDs one reply [0|1, ...] of n integers into e->flags. */
static int and_reply(const vmux_reply *r, struct exists_out *e)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != e->n)
        return VMUX_ERR_PROTOCOL;
    for (size_t i = 0; i < e->n; i++) {
        bool v;
        if (vmux_reply_to_bool(vmux_reply_element(r, i), &v) != 0)
            return VMUX_ERR_PROTOCOL;
        e->flags[i] = e->flags[i] && v;
    }
    return 0;
}

/* Works for one reply (standalone) and for every primary's (a cluster). */
static int combine_exists(const vmux_node_replies *res, void *out)
{
    struct exists_out *e = out;
    for (size_t i = 0; i < e->n; i++)
        e->flags[i] = true;
    int rc = 0;
    for (size_t i = 0; i < res->count && rc == 0; i++)
        rc = and_reply(res->nodes[i].reply, e);
    if (rc != 0)
        memset(e->flags, 0, e->n * sizeof *e->flags);
    return rc;
}

static int conv_exists(const vmux_reply *r, void *out)
{
    vmux_node_reply one = {.reply = (vmux_reply *)r};
    vmux_node_replies res = {1, &one};
    return combine_exists(&res, out);
}

static int build_exists(const vmux_callopts *opts, struct vmux_args *a, const char *const *sha1s,
                        size_t n)
{
    if (sha1s == NULL || n == 0)
        return vmux__items_refuse(opts, "sha1s", sha1s, n);
    vmux__args_init(a);
    vmux__args_cstr(a, "SCRIPT");
    vmux__args_cstr(a, "EXISTS");
    for (size_t i = 0; i < n; i++) {
        if (sha1s[i] == NULL) {
            vmux__args_free(a);
            return vmux__typed_refuse(opts, "sha1s[%zu] is NULL", i);
        }
        vmux__args_cstr(a, sha1s[i]);
    }
    return 0;
}

int vmux_script_exists(vmux *m, const vmux_callopts *opts, const char *const *sha1s, size_t n,
                       bool *exists)
{
    if (exists != NULL && n > 0)
        memset(exists, 0, n * sizeof *exists);
    struct vmux_args a;
    int rc = build_exists(opts, &a, sha1s, n);
    if (rc != 0)
        return rc;
    bool *flags = exists != NULL ? exists : calloc(n, sizeof *flags);
    if (flags == NULL) {
        vmux__args_free(&a);
        return VMUX_ERR_NOMEM;
    }
    struct exists_out e = {flags, n};
    if (vmux__fan_wanted(m))
        rc = vmux__fan_run(m, opts, &a, true, VMUX__RERUN_ALL, combine_exists, &e, 0, NULL);
    else
        rc = vmux__typed_run(m, opts, &a, true, conv_exists, &e);
    if (flags != exists)
        free(flags);
    return rc;
}
