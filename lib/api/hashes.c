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

/* Moves the flat array's items into pairs; flat's items are taken (its array freed). */
static int pair_up(vmux_bytes_array *flat, vmux_field_array *out)
{
    size_t n = flat->count / 2;
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
    vmux_bytes_array flat;
    memset(out, 0, sizeof(*out));
    int rc = vmux_reply_to_bytes_array(r, &flat);
    if (rc != 0)
        return rc;
    if (flat.count % 2 != 0) {
        vmux_bytes_array_free(&flat);
        return VMUX_ERR_PROTOCOL;
    }
    return pair_up(&flat, out);
}

static int conv_fields(const vmux_reply *r, void *out)
{
    return vmux_reply_to_field_array(r, out);
}

/*
 * vmux__typed_run() with out zeroed first (it converts only replies that are not errors, and
 * our out-parameters must read as zero after any failure); a NULL out means the result goes
 * to a scratch value, freed here.
 */
static int run(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
               vmux_convert_fn convert, void *out, size_t size)
{
    union {
        vmux_bytes b;
        vmux_bytes_array ba;
        vmux_field_array fa;
        int64_t i;
        double d;
        bool flag;
    } scratch;
    void *dst = out != NULL ? out : &scratch;
    memset(dst, 0, size);
    int rc = vmux__typed_run(m, opts, a, idempotent, convert, dst);
    if (out == NULL && rc == 0) {
        if (convert == vmux__conv_bytes)
            vmux_bytes_free(&scratch.b);
        else if (convert == vmux__conv_bytes_array)
            vmux_bytes_array_free(&scratch.ba);
        else if (convert == conv_fields)
            vmux_field_array_free(&scratch.fa);
    }
    return rc;
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

int vmux_hset(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields,
              const vmux_str *values, size_t n, int64_t *added)
{
    struct vmux_args a;
    if (added != NULL)
        *added = 0;
    if (!build_hset(&a, key, fields, values, n))
        return VMUX_ERR_INVALID_ARG;
    return run(m, opts, &a, true, vmux__conv_int, added, sizeof(int64_t));
}

int vmux_hset_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields,
                    const vmux_str *values, size_t n, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    if (!build_hset(&a, key, fields, values, n))
        return VMUX_ERR_INVALID_ARG;
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

/* cmd key field. */
static void field_command(struct vmux_args *a, const char *cmd, vmux_str key, vmux_str field)
{
    vmux__args_key_command(a, cmd, key);
    vmux__args_str(a, field);
}

int vmux_hget(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, vmux_bytes *value)
{
    struct vmux_args a;
    field_command(&a, "HGET", key, field);
    return run(m, opts, &a, true, vmux__conv_bytes, value, sizeof(vmux_bytes));
}

int vmux_hget_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field,
                    vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    field_command(&a, "HGET", key, field);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

/* cmd key fields...; false when the fields are missing. */
static bool build_fields(struct vmux_args *a, const char *cmd, vmux_str key, const vmux_str *fields,
                         size_t n)
{
    if (fields == NULL || n == 0)
        return false;
    vmux__args_key_command(a, cmd, key);
    for (size_t i = 0; i < n; i++)
        vmux__args_str(a, fields[i]);
    return true;
}

int vmux_hmget(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *fields, size_t n,
               vmux_bytes_array *values)
{
    struct vmux_args a;
    if (values != NULL)
        memset(values, 0, sizeof(*values));
    if (!build_fields(&a, "HMGET", key, fields, n))
        return VMUX_ERR_INVALID_ARG;
    return run(m, opts, &a, true, vmux__conv_bytes_array, values, sizeof(vmux_bytes_array));
}

int vmux_hgetall(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_field_array *fields)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HGETALL", key);
    return run(m, opts, &a, true, conv_fields, fields, sizeof(vmux_field_array));
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
    struct vmux_args a;
    if (deleted != NULL)
        *deleted = 0;
    if (!build_fields(&a, "HDEL", key, fields, n))
        return VMUX_ERR_INVALID_ARG;
    return run(m, opts, &a, true, vmux__conv_int, deleted, sizeof(int64_t));
}

int vmux_hexists(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, bool *exists)
{
    struct vmux_args a;
    field_command(&a, "HEXISTS", key, field);
    return run(m, opts, &a, true, vmux__conv_bool, exists, sizeof(bool));
}

int vmux_hincrby(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, int64_t by,
                 int64_t *result)
{
    struct vmux_args a;
    field_command(&a, "HINCRBY", key, field);
    vmux__args_int(&a, by);
    return run(m, opts, &a, false, vmux__conv_int, result, sizeof(int64_t));
}

int vmux_hincrbyfloat(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str field, double by,
                      double *result)
{
    struct vmux_args a;
    field_command(&a, "HINCRBYFLOAT", key, field);
    vmux__args_double(&a, by);
    return run(m, opts, &a, false, vmux__conv_double, result, sizeof(double));
}

int vmux_hlen(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HLEN", key);
    return run(m, opts, &a, true, vmux__conv_int, count, sizeof(int64_t));
}

int vmux_hkeys(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes_array *fields)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HKEYS", key);
    return run(m, opts, &a, true, vmux__conv_bytes_array, fields, sizeof(vmux_bytes_array));
}

int vmux_hvals(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes_array *values)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "HVALS", key);
    return run(m, opts, &a, true, vmux__conv_bytes_array, values, sizeof(vmux_bytes_array));
}
