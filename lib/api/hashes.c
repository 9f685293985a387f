/* Hash commands (hashes.h). */
#include "vmux/hashes.h"

#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "vmux/error.h"

void vmux_field_array_free(vmux_field_array *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++) {
        vmux_bytes_free(&a->items[i].field);
        vmux_bytes_free(&a->items[i].value);
    }
    free(a->items);
    a->items = NULL;
    a->count = 0;
}

int vmux__pair_up(vmux_bytes_array *flat, vmux_field_array *out)
{
    size_t n = flat->count / 2;
    memset(out, 0, sizeof(*out));
    if (flat->count % 2 != 0) {
        vmux_bytes_array_free(flat);
        return VMUX_ERR_PROTOCOL;
    }
    out->items = calloc(n ? n : 1, sizeof(*out->items));
    if (out->items == NULL) {
        vmux_bytes_array_free(flat);
        return VMUX_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        out->items[i].field = flat->items[2 * i];
        out->items[i].value = flat->items[2 * i + 1];
    }
    out->count = n;
    free(flat->items);
    memset(flat, 0, sizeof(*flat));
    return 0;
}

int vmux_reply_to_field_array(const vmux_reply *r, vmux_field_array *out)
{
    if (out == NULL)
        return vmux__convert_into(r, vmux__conv_field_array, NULL, sizeof *out,
                                  vmux__release_field_array);
    vmux_bytes_array flat;
    memset(out, 0, sizeof(*out));
    int rc = vmux_reply_to_bytes_array(r, &flat);
    if (rc != 0)
        return rc;
    return vmux__pair_up(&flat, out);
}

int vmux__conv_field_array(const vmux_reply *r, void *out)
{
    return vmux_reply_to_field_array(r, out);
}

void vmux__release_field_array(void *v)
{
    vmux_field_array_free(v);
}

/* HSET key field value...; false when the pairs are missing. */
static bool build_hset(struct vmux_args *a, vmux_str key, const vmux_str *fields,
                       const vmux_str *values, size_t n)
{
    if (fields == NULL || values == NULL || n == 0)
        return false;
    vmux__args_key_command(a, "HSET", key);
    for (size_t i = 0; i < n; i++) {
        vmux__args_str(a, fields[i]);
        vmux__args_str(a, values[i]);
    }
    return true;
}

/* Words for pairs build_hset() refused. */
static int refuse_pairs(const vmux_callopts *opts, const vmux_str *fields, const vmux_str *values,
                        size_t n)
{
    if (fields == NULL || n == 0)
        return vmux__items_refuse(opts, "fields", fields, n);
    return vmux__items_refuse(opts, "values", values, n);
}

int vmux_hset(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields,
              const vmux_str *values, size_t n, int64_t *added)
{
    struct vmux_args a;
    if (added != NULL)
        *added = 0;
    if (!build_hset(&a, key, fields, values, n))
        return refuse_pairs(opts, fields, values, n);
    return vmux__run_int(m, opts, &a, true, added);
}

int vmux_hset_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields,
                    const vmux_str *values, size_t n, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    if (!build_hset(&a, key, fields, values, n))
        return refuse_pairs(opts, fields, values, n);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

/* cmd key field. */
static void field_command(struct vmux_args *a, const char *cmd, vmux_str key, vmux_str field)
{
    vmux__args_key_command(a, cmd, key);
    vmux__args_str(a, field);
}

int vmux_hsetnx(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, vmux_str value,
                bool *set)
{
    struct vmux_args a;
    field_command(&a, "HSETNX", key, field);
    vmux__args_str(&a, value);
    /* its answer, whether this call set the field, would be false after a resend */
    return vmux__run_bool(m, opts, &a, false, set);
}

int vmux_hget(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, vmux_bytes *value)
{
    struct vmux_args a;
    field_command(&a, "HGET", key, field);
    return vmux__run_bytes(m, opts, &a, true, value);
}

int vmux_hget_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                    vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    field_command(&a, "HGET", key, field);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_hmget(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields, size_t n,
               vmux_bytes_array *values)
{
    struct vmux_args a;
    if (values != NULL)
        memset(values, 0, sizeof(*values));
    if (!vmux__args_items(&a, "HMGET", &key, fields, n))
        return vmux__items_refuse(opts, "fields", fields, n);
    return vmux__run_bytes_array(m, opts, &a, true, values);
}

/* A read answering [field, value, ...] (HGETALL, HRANDFIELD ... WITHVALUES), into pairs. */
static int run_fields(vmux *m, const vmux_callopts *opts, struct vmux_args *a,
                      vmux_field_array *pairs)
{
    return vmux__typed_run_into(m, opts, a, true, vmux__conv_field_array, pairs, sizeof(*pairs),
                                vmux__release_field_array);
}

int vmux_hgetall(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_field_array *fields)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HGETALL", key);
    return run_fields(m, opts, &a, fields);
}

int vmux_hgetall_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_reply_cb cb,
                       void *userdata)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HGETALL", key);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_hdel(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields, size_t n,
              int64_t *deleted)
{
    return vmux__run_items_int(m, opts, "HDEL", &key, fields, "fields", n, true, deleted);
}

int vmux_hexists(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, bool *exists)
{
    struct vmux_args a;
    field_command(&a, "HEXISTS", key, field);
    return vmux__run_bool(m, opts, &a, true, exists);
}

int vmux_hincrby(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, int64_t by,
                 int64_t *result)
{
    struct vmux_args a;
    field_command(&a, "HINCRBY", key, field);
    vmux__args_int(&a, by);
    return vmux__run_int(m, opts, &a, false, result);
}

int vmux_hincrbyfloat(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, double by,
                      double *result)
{
    struct vmux_args a;
    field_command(&a, "HINCRBYFLOAT", key, field);
    vmux__args_double(&a, by);
    return vmux__run_double(m, opts, &a, false, result);
}

int vmux_hlen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HLEN", key);
    return vmux__run_int(m, opts, &a, true, count);
}

int vmux_hkeys(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes_array *fields)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HKEYS", key);
    return vmux__run_bytes_array(m, opts, &a, true, fields);
}

int vmux_hvals(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes_array *values)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HVALS", key);
    return vmux__run_bytes_array(m, opts, &a, true, values);
}

int vmux_hstrlen(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, int64_t *length)
{
    struct vmux_args a;
    field_command(&a, "HSTRLEN", key, field);
    return vmux__run_int(m, opts, &a, true, length);
}

int vmux_hrandfield(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *field)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HRANDFIELD", key);
    return vmux__run_bytes(m, opts, &a, true, field);
}

int vmux_hrandfield_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                          vmux_bytes_array *fields)
{
    struct vmux_args a;
    vmux__args_random_pick(&a, "HRANDFIELD", key, count, NULL);
    return vmux__run_bytes_array(m, opts, &a, true, fields);
}

int vmux_hrandfield_withvalues(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                               vmux_field_array *pairs)
{
    struct vmux_args a;
    vmux__args_random_pick(&a, "HRANDFIELD", key, count, "WITHVALUES");
    return run_fields(m, opts, &a, pairs);
}
