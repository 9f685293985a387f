#include "api/typed.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/cnum.h"
#include "core/errbuf.h"
#include "core/reply_internal.h"
#include "core/sized.h"
#include "mux/handle.h"
#include "vmux/error.h"
#include "vmux/server.h"
#include "vmux/zsets.h"

/* Storage for number arguments beyond the first few; never moves once allocated. */
struct vmux_numbers {
    struct vmux_numbers *next;
    int used;
    char slots[32][32];
};

void vmux__args_init(struct vmux_args *a)
{
    memset(a, 0, offsetof(struct vmux_args, why)); /* why: only its first byte */
    a->why[0] = '\0';
    a->cap = VMUX_ARGS_INLINE;
    a->argv = a->argv_inline;
    a->lens = a->lens_inline;
}

void vmux__args_key_command(struct vmux_args *a, const char *cmd, vmux_str key)
{
    vmux__args_init(a);
    vmux__args_cstr(a, cmd);
    vmux__args_str(a, key);
}

void vmux__args_sub_key_command(struct vmux_args *a, const char *cmd, const char *sub, vmux_str key)
{
    vmux__args_init(a);
    vmux__args_cstr(a, cmd);
    vmux__args_cstr(a, sub);
    vmux__args_str(a, key);
}

bool vmux__args_items(struct vmux_args *a, const char *cmd, const vmux_str *key,
                      const vmux_str *items, size_t n)
{
    if (items == NULL || n == 0)
        return false;
    vmux__args_init(a);
    vmux__args_cstr(a, cmd);
    if (key != NULL)
        vmux__args_str(a, *key);
    for (size_t i = 0; i < n; i++)
        vmux__args_str(a, items[i]);
    return true;
}

void vmux__args_free(struct vmux_args *a)
{
    if (a->argv != a->argv_inline) {
        free(a->argv);
        free(a->lens);
    }
    a->argv = a->argv_inline;
    a->lens = a->lens_inline;
    a->argc = 0;
    while (a->more != NULL) {
        struct vmux_numbers *next = a->more->next;
        free(a->more);
        a->more = next;
    }
}

static bool grow(struct vmux_args *a)
{
    if (a->cap > INT_MAX / 2)
        return false; /* past what an argument count (an int, as vmux_call()'s) can say */
    int cap = a->cap * 2;
    const char **argv = malloc((size_t)cap * sizeof(*argv));
    size_t *lens = malloc((size_t)cap * sizeof(*lens));
    if (argv == NULL || lens == NULL) {
        free(argv);
        free(lens);
        return false;
    }
    memcpy(argv, a->argv, (size_t)a->argc * sizeof(*argv));
    memcpy(lens, a->lens, (size_t)a->argc * sizeof(*lens));
    if (a->argv != a->argv_inline) {
        free(a->argv);
        free(a->lens);
    }
    a->argv = argv;
    a->lens = lens;
    a->cap = cap;
    return true;
}

void vmux__args_add(struct vmux_args *a, const void *p, size_t len)
{
    if (a->error != 0)
        return;
    if (p == NULL && len > 0) { /* a vmux_str {NULL, len}: refused, as vmux_call() refuses it */
        vmux__args_refuse_why(a,
                              "argument %d of %.*s is at NULL with length %zu (a vmux_str "
                              "{NULL, len > 0} is no string)",
                              a->argc, a->argc > 0 ? (int)a->lens[0] : 0,
                              a->argc > 0 ? a->argv[0] : "", len);
        return;
    }
    if (a->argc == a->cap && !grow(a)) {
        if (a->cap > INT_MAX / 2)
            vmux__args_refuse_why(a, "more arguments than an int counts");
        else
            a->error = VMUX_ERR_NOMEM;
        return;
    }
    a->argv[a->argc] = p != NULL ? p : "";
    a->lens[a->argc] = len;
    a->argc++;
}

void vmux__args_refuse(struct vmux_args *a)
{
    if (a->error == 0)
        a->error = VMUX_ERR_INVALID_ARG;
}

void vmux__args_refuse_why(struct vmux_args *a, const char *fmt, ...)
{
    if (a->error != 0)
        return; /* the first refusal's words stand */
    a->error = VMUX_ERR_INVALID_ARG;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->why, sizeof a->why, fmt, ap);
    va_end(ap);
}

bool vmux__str_among(vmux_str key, const vmux_str *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len != key.len)
            continue;
        if (key.len == 0 ||
            (key.ptr != NULL && keys[i].ptr != NULL && memcmp(keys[i].ptr, key.ptr, key.len) == 0))
            return true;
    }
    return false;
}

void vmux__args_str(struct vmux_args *a, vmux_str s)
{
    vmux__args_add(a, s.ptr, s.len);
}

void vmux__args_cstr(struct vmux_args *a, const char *s)
{
    vmux__args_add(a, s, strlen(s));
}

static char *number_slot(struct vmux_args *a)
{
    if (a->nnumbers < (int)(sizeof(a->numbers) / sizeof(a->numbers[0])))
        return a->numbers[a->nnumbers++];
    if (a->more == NULL || a->more->used == (int)(sizeof(a->more->slots) / 32)) {
        struct vmux_numbers *block = malloc(sizeof(*block));
        if (block == NULL) {
            a->error = VMUX_ERR_NOMEM;
            return NULL;
        }
        block->next = a->more;
        block->used = 0;
        a->more = block;
    }
    return a->more->slots[a->more->used++];
}

void vmux__args_int(struct vmux_args *a, int64_t v)
{
    vmux__args_prefixed_int(a, "", v);
}

void vmux__args_prefixed_int(struct vmux_args *a, const char *prefix, int64_t v)
{
    VMUX_ASSERT(strlen(prefix) < 8); /* with 20 characters of v and the NUL, 32 bytes hold it */
    char *slot = number_slot(a);
    if (slot != NULL)
        vmux__args_add(a, slot, (size_t)snprintf(slot, 32, "%s%" PRId64, prefix, v));
}

void vmux__args_count(struct vmux_args *a, int64_t count)
{
    vmux__args_int_in(a, count, 0, INT64_MAX);
}

void vmux__args_int_in(struct vmux_args *a, int64_t v, int64_t min, int64_t max)
{
    if (v < min || v > max)
        vmux__args_refuse_why(
            a, "argument %d of %.*s is %" PRId64 ": must be from %" PRId64 " to %" PRId64, a->argc,
            a->argc > 0 ? (int)a->lens[0] : 0, a->argc > 0 ? a->argv[0] : "", v, min, max);
    else
        vmux__args_int(a, v);
}

void vmux__args_random_pick(struct vmux_args *a, const char *cmd, vmux_str key, int64_t count,
                            const char *with)
{
    int64_t bound = with != NULL ? INT64_MAX / 2 : INT64_MAX;
    vmux__args_key_command(a, cmd, key);
    vmux__args_int_in(a, count, -bound, bound);
    if (with != NULL)
        vmux__args_cstr(a, with);
}

void vmux__args_flush_mode(struct vmux_args *a, vmux_flush_mode mode)
{
    static const char *const words[] = {NULL, "SYNC", "ASYNC"};
    if ((int)mode < VMUX_FLUSH_DEFAULT || (int)mode > VMUX_FLUSH_ASYNC) /* a caller's cast */
        vmux__args_refuse_why(a, "mode is %d: none of vmux_flush_mode", (int)mode);
    else if (words[mode] != NULL)
        vmux__args_cstr(a, words[mode]);
}

void vmux__args_double(struct vmux_args *a, double v)
{
    if (v != v) { /* NaN: no command takes it */
        vmux__args_refuse_why(a, "argument %d of %.*s is NaN: no command takes one", a->argc,
                              a->argc > 0 ? (int)a->lens[0] : 0, a->argc > 0 ? a->argv[0] : "");
        return;
    }
    char *slot = number_slot(a);
    if (slot == NULL)
        return;
    /* The shortest text that reads back as v: 0.1 goes out as "0.1", not "0.10000000000000001",
     * which the server would add in long double precision. */
    int n = 0;
    for (int digits = 15; digits <= 17; digits++) {
        n = vmux__fmt_g(slot, 32, digits, v); /* in the C locale: the server reads a '.' */
        if (vmux__strtod(slot, NULL) == v)
            break;
    }
    vmux__args_add(a, slot, (size_t)n);
}

bool vmux__args_cond(struct vmux_args *a, vmux_cond cond, vmux_cond max)
{
    static const char *const words[][2] = {{NULL, NULL}, {"NX", NULL}, {"XX", NULL}, {"GT", NULL},
                                           {"LT", NULL}, {"XX", "GT"}, {"XX", "LT"}};
    if ((unsigned)cond > (unsigned)max || (unsigned)max > VMUX_COND_XX_LT)
        return false;
    for (int i = 0; i < 2 && words[cond][i] != NULL; i++)
        vmux__args_cstr(a, words[cond][i]);
    return true;
}

/* opts with the retry-safe flag added for idempotent commands. */
static vmux_callopts with_safety(const vmux_callopts *opts, bool idempotent)
{
    vmux_callopts o = vmux__callopts_copy(opts);
    if (idempotent)
        o.flags |= VMUX_CALL_RETRY_SAFE;
    return o;
}

int vmux__typed_call(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                     vmux_reply **out)
{
    *out = NULL;
    vmux_callopts o = with_safety(opts, idempotent);
    int rc = a->error != 0 ? a->error : vmux_call(m, &o, a->argc, a->argv, a->lens, out);
    if (a->error == VMUX_ERR_INVALID_ARG)
        vmux__args_refused(opts, a);
    vmux__args_free(a);
    return rc;
}

int vmux__typed_async(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                      vmux_reply_cb cb, void *userdata)
{
    vmux_callopts o = with_safety(opts, idempotent);
    int rc =
        a->error != 0 ? a->error : vmux_call_async(m, &o, a->argc, a->argv, a->lens, cb, userdata);
    if (a->error == VMUX_ERR_INVALID_ARG)
        vmux__args_refused(opts, a);
    vmux__args_free(a);
    return rc;
}

int vmux__typed_run(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    vmux_convert_fn convert, void *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, convert, out, 0, NULL);
}

int vmux__conv_bytes(const vmux_reply *r, void *out)
{
    return vmux_reply_to_bytes(r, out);
}

int vmux__conv_int(const vmux_reply *r, void *out)
{
    return vmux_reply_to_int(r, out);
}

int vmux__conv_double(const vmux_reply *r, void *out)
{
    return vmux_reply_to_double(r, out);
}

int vmux__conv_bool(const vmux_reply *r, void *out)
{
    return vmux_reply_to_bool(r, out);
}

int vmux__conv_bytes_array(const vmux_reply *r, void *out)
{
    return vmux_reply_to_bytes_array(r, out);
}

int vmux__conv_scored_array(const vmux_reply *r, void *out)
{
    return vmux_reply_to_scored_array(r, out);
}

int vmux__conv_ok(const vmux_reply *r, void *out)
{
    (void)out;
    if (r == NULL)
        return VMUX_ERR_INVALID_ARG;
    return vmux_reply_get_kind(r) == VMUX_REPLY_STATUS ? 0 : VMUX_ERR_PROTOCOL;
}

vmux_callopts vmux__held_opts(vmux *m, const vmux_callopts *opts, int64_t block_ms)
{
    vmux_callopts o = vmux__callopts_copy(opts);
    if (m == NULL || o.size == 0 || o.timeout_ms < 0)
        return o; /* the call reports the NULL handle or the bad options */
    uint64_t margin = o.timeout_ms != 0 ? (uint64_t)o.timeout_ms : (uint64_t)vmux__sync_timeout(m);
    uint64_t total = (uint64_t)block_ms + margin;
    o.timeout_ms = total > UINT32_MAX ? UINT32_MAX : (int64_t)total;
    return o;
}

vmux_callopts vmux__blocking_opts(vmux *m, const vmux_callopts *opts, int64_t block_ms)
{
    vmux_callopts o = vmux__held_opts(m, opts, block_ms);
    if (m != NULL && o.size != 0 && o.timeout_ms >= 0)
        o.flags |= VMUX_CALL_BLOCKING;
    return o;
}

int vmux__convert_into(const vmux_reply *r, vmux_convert_fn convert, void *out, size_t size,
                       void (*release)(void *))
{
    union {
        int64_t i;
        double d;
        bool b;
        vmux_bytes bytes;
        vmux_bytes_array array;
        vmux_scored_array scored;
        char other[64]; /* the family types: vmux_field_array, the stream types... */
    } ignored;
    /* a larger result than the scratch holds (vmux_stream_info) gets one from the heap: a
     * caller's NULL out wrote past the scratch where the assertion was compiled out */
    void *big = out == NULL && size > sizeof(ignored) ? malloc(size) : NULL;
    if (out == NULL && size > sizeof(ignored) && big == NULL)
        return VMUX_ERR_NOMEM;
    void *dst = out != NULL ? out : big != NULL ? big : &ignored;
    memset(dst, 0, size);
    int rc = convert(r, dst);
    if (out == NULL && release != NULL)
        release(dst);
    free(big);
    return rc;
}

int vmux__reply_into(int rc, vmux_reply *r, vmux_convert_fn convert, void *out, size_t size,
                     void (*release)(void *))
{
    if (out != NULL)
        memset(out, 0, size);
    if (rc == 0)
        rc = vmux__convert_into(r, convert, out, size, release);
    vmux_reply_free(r);
    return rc;
}

/* The command's name (a's first word, at most 31 bytes; "" for none) into cmd, for the words of
 * its reply, before vmux__typed_call() frees a. */
static void name_of(char cmd[32], const struct vmux_args *a)
{
    size_t len = a->argc > 0 && a->error == 0 ? a->lens[0] : 0;
    len = len < 31 ? len : 31;
    if (len > 0) /* every typed call: a copy, no formatting */
        memcpy(cmd, a->argv[0], len);
    cmd[len] = '\0';
}

/* What vmux__typed_run_into() does once the call of cmd returned rc and r (owned). */
static int run_finish(const vmux_callopts *opts, const char *cmd, int rc, vmux_reply *r,
                      vmux_convert_fn convert, void *out, size_t size, void (*release)(void *))
{
    if (out != NULL) /* vmux__reply_into(), with r read for the words before it is freed */
        memset(out, 0, size);
    int converted = rc == 0 ? vmux__convert_into(r, convert, out, size, release) : rc;
    vmux_callopts o = vmux__callopts_copy(opts); /* its buffer, as far as the caller's size goes */
    if (rc == 0 && converted == VMUX_ERR_PROTOCOL && o.errbuf != NULL && o.errlen != 0)
        vmux__shape_words(o.errbuf, o.errlen, cmd, convert, r); /* ran; its reply does not fit */
    vmux_reply_free(r);
    return converted;
}

int vmux__typed_run_into(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                         vmux_convert_fn convert, void *out, size_t size, void (*release)(void *))
{
    vmux_reply *r;
    char cmd[32];
    name_of(cmd, a);
    int rc = vmux__typed_call(m, opts, a, idempotent, &r);
    return run_finish(opts, cmd, rc, r, convert, out, size, release);
}

struct vmux_maybe vmux__maybe(vmux_reply_kind kind, vmux_convert_fn convert, void *out, size_t size,
                              void (*release)(void *))
{
    return (struct vmux_maybe){kind, convert, out, size, release, false};
}

int vmux__conv_maybe(const vmux_reply *r, void *maybe)
{
    struct vmux_maybe *w = maybe;
    w->found = false;
    if (vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return 0;
    if (vmux_reply_get_kind(r) != w->kind)
        return VMUX_ERR_PROTOCOL;
    int rc = vmux__convert_into(r, w->convert, w->out, w->size, w->release);
    w->found = rc == 0;
    return rc;
}

void vmux__release_bytes(void *v)
{
    vmux_bytes_free(v);
}

void vmux__release_bytes_array(void *v)
{
    vmux_bytes_array_free(v);
}

void vmux__release_scored_array(void *v)
{
    vmux_scored_array_free(v);
}

int vmux__run_int(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                  int64_t *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, vmux__conv_int, out, sizeof(*out), NULL);
}

int vmux__run_double(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                     double *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, vmux__conv_double, out, sizeof(*out), NULL);
}

int vmux__run_bool(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                   bool *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, vmux__conv_bool, out, sizeof(*out), NULL);
}

int vmux__run_bytes(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    vmux_bytes *out)
{
    vmux_reply *r;
    char cmd[32];
    name_of(cmd, a);
    int rc = vmux__typed_call(m, opts, a, idempotent, &r);
    if (rc == 0 && out != NULL && vmux__reply_take_str(r, out))
        return 0; /* a large value: its reply's own buffer */
    return run_finish(opts, cmd, rc, r, vmux__conv_bytes, out, sizeof(*out), vmux__release_bytes);
}

int vmux__run_bytes_array(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                          vmux_bytes_array *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, vmux__conv_bytes_array, out, sizeof(*out),
                                vmux__release_bytes_array);
}

int vmux__run_scored(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                     vmux_scored_array *out)
{
    return vmux__typed_run_into(m, opts, a, idempotent, vmux__conv_scored_array, out, sizeof(*out),
                                vmux__release_scored_array);
}

/* Where a number-or-nil reply goes. */
struct score_out {
    double *score;
    bool *found;
};

static int conv_score(const vmux_reply *r, void *out)
{
    struct score_out *o = out;
    return vmux_reply_to_score(r, o->score, o->found);
}

int vmux__run_score(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    double *score, bool *found)
{
    struct score_out o = {score, found};
    if (score != NULL)
        *score = 0;
    if (found != NULL)
        *found = false;
    return vmux__typed_run_into(m, opts, a, idempotent, conv_score, &o, 0, NULL);
}

int vmux__bytes_found(int rc, vmux_bytes *v, vmux_bytes *out, bool *found)
{
    if (found != NULL)
        *found = v->ptr != NULL;
    if (out != NULL)
        *out = *v;
    else
        vmux_bytes_free(v);
    return rc;
}

static void each_zero(const struct vmux_each *e)
{
    if (e->values != NULL)
        memset(e->values, 0, e->n * e->size);
    if (e->found != NULL)
        memset(e->found, 0, e->n * sizeof(*e->found));
}

/* One element of a vmux_each's reply into item i; false for one read refuses, or an error. */
static bool each_item(const struct vmux_each *e, const vmux_reply *r, size_t i)
{
    union {
        max_align_t align;
        unsigned char bytes[64];
    } value;
    VMUX_ASSERT(e->size <= sizeof value.bytes);
    memset(&value, 0, sizeof value);
    if (vmux_reply_get_kind(r) == VMUX_REPLY_ERROR || e->read(r, &value) != 0)
        return false;
    if (e->values != NULL)
        memcpy((char *)e->values + i * e->size, &value, e->size);
    if (e->found != NULL)
        e->found[i] = true;
    return true;
}

static int conv_each(const vmux_reply *r, void *out)
{
    const struct vmux_each *e = out;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != e->n)
        return VMUX_ERR_PROTOCOL;
    for (size_t i = 0; i < e->n; i++) {
        const vmux_reply *item = vmux_reply_element(r, i);
        if (vmux_reply_get_kind(item) != VMUX_REPLY_NIL && !each_item(e, item, i)) {
            each_zero(e);
            return VMUX_ERR_PROTOCOL;
        }
    }
    return 0;
}

int vmux__run_each(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                   struct vmux_each *e)
{
    each_zero(e);
    return vmux__typed_run_into(m, opts, a, idempotent, conv_each, e, 0, NULL);
}

int vmux__run_ok(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent)
{
    return vmux__typed_run_into(m, opts, a, idempotent, vmux__conv_ok, NULL, 0, NULL);
}

int vmux__run_items_int(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *key,
                        const vmux_str *items, const char *name, size_t n, bool idempotent,
                        int64_t *out)
{
    struct vmux_args a;
    if (out != NULL)
        *out = 0;
    if (!vmux__args_items(&a, cmd, key, items, n))
        return vmux__items_refuse(opts, name, items, n);
    return vmux__run_int(m, opts, &a, idempotent, out);
}

int vmux__items_async(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *key,
                      const vmux_str *items, const char *name, size_t n, bool idempotent,
                      vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    if (!vmux__args_items(&a, cmd, key, items, n))
        return vmux__items_refuse(opts, name, items, n);
    return vmux__typed_async(m, opts, &a, idempotent, cb, userdata);
}
