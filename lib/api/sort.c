/*
 * SORT (keys.h): the read as SORT_RO, which the router counts a read (a replica may serve it
 * under readFrom), and SORT ... STORE; one builder for the options both take.
 */
#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "vmux/error.h"
#include "vmux/keys.h"

/* Whether the options contradict each other or hold a value the server would misread. */
static bool sort_refused(const vmux_sort_opts *o)
{
    return (o->nosort && (o->by.ptr != NULL || o->by.len > 0)) || (o->limit && o->offset < 0) ||
           (o->get == NULL && o->nget > 0);
}

/*
 * cmd key [BY by|nosort] [LIMIT offset count] [GET pattern]... [DESC] [ALPHA], the caller's
 * options read into *o (every default when refused, and a refused vector: nothing is sent).
 */
static void build_sort(struct vmux_args *a, const char *cmd, vmux_str key,
                       const vmux_sort_opts *sort, vmux_sort_opts *o)
{
    *o = (vmux_sort_opts){.size = sizeof *o};
    vmux__args_key_command(a, cmd, key);
    if ((sort != NULL && vmux__sized_in(o, sizeof *o, sort) != 0) || sort_refused(o)) {
        *o = (vmux_sort_opts){.size = sizeof *o};
        vmux__args_refuse_why(a, "sort is refused: made without VMUX_INIT, nosort with by, limit "
                                 "with an offset below 0, or get NULL with nget above 0");
        return;
    }
    if (o->nosort || o->by.ptr != NULL || o->by.len > 0) {
        vmux__args_cstr(a, "BY");
        vmux__args_str(a, o->nosort ? VMUX_STR("nosort") : o->by);
    }
    if (o->limit) {
        vmux__args_cstr(a, "LIMIT");
        vmux__args_int(a, o->offset);
        vmux__args_int(a, o->count < 0 ? -1 : o->count);
    }
    for (size_t i = 0; i < o->nget; i++) {
        vmux__args_cstr(a, "GET");
        vmux__args_str(a, o->get[i]);
    }
    if (o->desc)
        vmux__args_cstr(a, "DESC");
    if (o->alpha)
        vmux__args_cstr(a, "ALPHA");
}

int vmux_sort(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_sort_opts *sort,
              vmux_bytes_array *items)
{
    struct vmux_args a;
    vmux_sort_opts o;
    build_sort(&a, "SORT_RO", key, sort, &o);
    return vmux__run_bytes_array(m, opts, &a, true, items);
}

/*
 * Whether pattern may name k, as the server's lookupKeyByPattern forms a key: the text before
 * the first '*', the element, then the text after it up to the first "->" that has a field
 * after it. A pattern without '*' ("#" among them) names none.
 */
static bool may_name(vmux_str pattern, vmux_str k)
{
    const char *p = pattern.ptr, *star = p != NULL ? memchr(p, '*', pattern.len) : NULL;
    if (star == NULL)
        return false;
    size_t pre = (size_t)(star - p), end = pattern.len;
    for (size_t i = pre + 1; i + 2 < pattern.len && end == pattern.len; i++)
        if (p[i] == '-' && p[i + 1] == '>')
            end = i;
    size_t post = end - pre - 1;
    const char *kp = k.ptr != NULL ? k.ptr : "";
    return k.len >= pre + post && memcmp(kp, p, pre) == 0 &&
           memcmp(kp + k.len - post, star + 1, post) == 0;
}

/* Whether the sort reads dst (key itself, a weight or a value): a second run would read the
 * first one's result. Only for options build_sort() accepted. */
static bool sort_reads(const vmux_sort_opts *o, vmux_str key, vmux_str dst)
{
    if (vmux__str_among(dst, &key, 1) || may_name(o->by, dst))
        return true;
    for (size_t i = 0; i < o->nget; i++)
        if (may_name(o->get[i], dst))
            return true;
    return false;
}

int vmux_sort_store(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str dst,
                    const vmux_sort_opts *sort, int64_t *length)
{
    struct vmux_args a;
    vmux_sort_opts o;
    build_sort(&a, "SORT", key, sort, &o);
    vmux__args_cstr(&a, "STORE");
    vmux__args_str(&a, dst);
    return vmux__run_int(m, opts, &a, a.error == 0 && !sort_reads(&o, key, dst), length);
}
