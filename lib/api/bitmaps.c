/* Bitmap commands (bitmaps.h). */
#include "vmux/bitmaps.h"

#include <inttypes.h>
#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "vmux/error.h"

/* Starts cmd key offset; a negative offset is refused (VMUX_ERR_INVALID_ARG when sent). */
static void offset_command(struct vmux_args *a, const char *cmd, vmux_str key, int64_t offset)
{
    vmux__args_key_command(a, cmd, key);
    vmux__args_count(a, offset);
}

int vmux_setbit(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t offset, bool value,
                bool *old)
{
    struct vmux_args a;
    offset_command(&a, "SETBIT", key, offset);
    vmux__args_cstr(&a, value ? "1" : "0");
    /* the same bit however often it runs, but a resend would answer the bit the first run wrote */
    return vmux__run_bool(m, opts, &a, old == NULL, old);
}

int vmux_getbit(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t offset, bool *bit)
{
    struct vmux_args a;
    offset_command(&a, "GETBIT", key, offset);
    return vmux__run_bool(m, opts, &a, true, bit);
}

/*
 * Adds a range's words, start [end [BIT]] (range NULL: none). A struct not made with VMUX_INIT,
 * a unit outside the enum, or no_end in bits is refused (VMUX_ERR_INVALID_ARG when sent).
 */
static void add_range(struct vmux_args *a, const vmux_bitrange_opts *range)
{
    vmux_bitrange_opts r;
    if (range == NULL)
        return;
    if (vmux__sized_in(&r, sizeof r, range) != 0 || (unsigned)r.unit > VMUX_BIT_UNIT_BIT ||
        (r.no_end && r.unit != VMUX_BIT_UNIT_BYTE)) {
        if (r.size == 0) /* vmux__sized_in() zeroes what it refuses */
            vmux__args_refuse_why(a, "range cannot be read: make it with VMUX_INIT");
        else if ((unsigned)r.unit > VMUX_BIT_UNIT_BIT)
            vmux__args_refuse_why(a, "range->unit is %d: none of vmux_bit_unit", (int)r.unit);
        else
            vmux__args_refuse_why(a, "range->no_end with VMUX_BIT_UNIT_BIT: no_end takes bytes");
        return;
    }
    vmux__args_int(a, r.start);
    if (r.no_end)
        return;
    vmux__args_int(a, r.end);
    if (r.unit == VMUX_BIT_UNIT_BIT) /* BYTE is the default: left out, as servers before 7.0 want */
        vmux__args_cstr(a, "BIT");
}

int vmux_bitcount(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_bitrange_opts *range,
                  int64_t *count)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "BITCOUNT", key);
    add_range(&a, range);
    return vmux__run_int(m, opts, &a, true, count);
}

int vmux_bitpos(vmux *m, const vmux_callopts *opts, vmux_str key, bool bit,
                const vmux_bitrange_opts *range, int64_t *pos)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "BITPOS", key);
    vmux__args_cstr(&a, bit ? "1" : "0");
    add_range(&a, range);
    return vmux__run_int(m, opts, &a, true, pos);
}

int vmux_bitop(vmux *m, const vmux_callopts *opts, vmux_bitop_op op, vmux_str dst,
               const vmux_str *keys, size_t n, int64_t *len)
{
    static const char *const words[] = {"AND", "OR", "XOR", "NOT"};
    struct vmux_args a;
    if (len != NULL)
        *len = 0;
    if (keys == NULL || n == 0)
        return vmux__items_refuse(opts, "keys", keys, n);
    if ((unsigned)op > VMUX_BITOP_NOT)
        return vmux__typed_refuse(opts, "op is %d: none of vmux_bitop_op", (int)op);
    if (op == VMUX_BITOP_NOT && n != 1)
        return vmux__typed_refuse(opts, "n is %zu: VMUX_BITOP_NOT takes exactly one source key", n);
    vmux__args_init(&a);
    vmux__args_cstr(&a, "BITOP");
    vmux__args_cstr(&a, words[op]);
    vmux__args_str(&a, dst);
    for (size_t i = 0; i < n; i++)
        vmux__args_str(&a, keys[i]);
    /* x & k & k and x | k | k are x & k and x | k again; x ^ k ^ k and NOT NOT x are not */
    bool idempotent = op <= VMUX_BITOP_OR || !vmux__str_among(dst, keys, n);
    return vmux__run_int(m, opts, &a, idempotent, len);
}

/* Adds one operation's words, after OVERFLOW when its overflow is not *mode; bad ones refused. */
static void add_field_op(struct vmux_args *a, const vmux_bitfield_op *op,
                         vmux_bitfield_overflow *mode)
{
    static const char *const kinds[] = {"GET", "SET", "INCRBY"};
    static const char *const overflows[] = {"WRAP", "SAT", "FAIL"};
    bool writes = op->kind != VMUX_BITFIELD_GET;
    if ((unsigned)op->kind > VMUX_BITFIELD_INCRBY || op->bits < 1 ||
        op->bits > (op->is_signed ? 64u : 63u) || op->offset < 0 ||
        (writes && (unsigned)op->overflow > VMUX_BITFIELD_FAIL)) {
        vmux__args_refuse_why(a,
                              "an op (kind %d, bits %u%s, offset %" PRId64 ", overflow %d) is "
                              "refused: kind in vmux_bitfield_kind, bits 1 to 64 signed or 63 "
                              "unsigned, offset at least 0, overflow in vmux_bitfield_overflow",
                              (int)op->kind, (unsigned)op->bits, op->is_signed ? " signed" : "",
                              op->offset, (int)op->overflow);
        return;
    }
    if (writes && op->overflow != *mode) {
        vmux__args_cstr(a, "OVERFLOW");
        vmux__args_cstr(a, overflows[op->overflow]);
        *mode = op->overflow;
    }
    vmux__args_cstr(a, kinds[op->kind]);
    vmux__args_prefixed_int(a, op->is_signed ? "i" : "u", op->bits);
    vmux__args_prefixed_int(a, op->in_fields ? "#" : "", op->offset);
    if (writes)
        vmux__args_int(a, op->value);
}

/*
 * cmd key ops...; an operation of a kind after max (GET for BITFIELD_RO) is refused. *writes:
 * what the ops do, the highest kind among them. Returns false, building nothing, for no ops.
 */
static bool build_bitfield(struct vmux_args *a, const char *cmd, vmux_str key,
                           const vmux_bitfield_op *ops, size_t n, vmux_bitfield_kind max,
                           vmux_bitfield_kind *writes)
{
    vmux_bitfield_overflow mode = VMUX_BITFIELD_WRAP;
    *writes = VMUX_BITFIELD_GET;
    if (ops == NULL || n == 0)
        return false;
    vmux__args_key_command(a, cmd, key);
    for (size_t i = 0; i < n && a->error == 0; i++) {
        if ((unsigned)ops[i].kind > max)
            vmux__args_refuse_why(a, "ops[%zu].kind is %d: %s", i, (int)ops[i].kind,
                                  max == VMUX_BITFIELD_GET ? "BITFIELD_RO takes only GET"
                                                           : "none of vmux_bitfield_kind");
        add_field_op(a, &ops[i], &mode);
        if (ops[i].kind > *writes)
            *writes = ops[i].kind;
    }
    return true;
}

/* No operations (ops NULL or n 0): the caller's arrays of n items zeroed, nothing sent, and
 * words for opts' error buffer. */
static int no_fields(const vmux_callopts *opts, const vmux_bitfield_op *ops, int64_t *values,
                     bool *found, size_t n)
{
    if (values != NULL)
        memset(values, 0, n * sizeof(*values));
    if (found != NULL)
        memset(found, 0, n * sizeof(*found));
    return vmux__items_refuse(opts, "ops", ops, n);
}

int vmux_bitfield(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_bitfield_op *ops,
                  size_t n, int64_t *values, bool *found)
{
    struct vmux_args a;
    struct vmux_each e = {values, sizeof(*values), found, n, vmux__conv_int};
    vmux_bitfield_kind writes;
    if (!build_bitfield(&a, "BITFIELD", key, ops, n, VMUX_BITFIELD_INCRBY, &writes))
        return no_fields(opts, ops, values, found, n);
    /* an INCRBY adds again; a SET answers what the first run wrote, harmless only when dropped */
    bool idempotent = writes == VMUX_BITFIELD_GET ||
                      (writes == VMUX_BITFIELD_SET && values == NULL && found == NULL);
    return vmux__run_each(m, opts, &a, idempotent, &e);
}

int vmux_bitfield_ro(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_bitfield_op *ops,
                     size_t n, int64_t *values)
{
    struct vmux_args a;
    struct vmux_each e = {values, sizeof(*values), NULL, n, vmux__conv_int};
    vmux_bitfield_kind writes;
    if (!build_bitfield(&a, "BITFIELD_RO", key, ops, n, VMUX_BITFIELD_GET, &writes))
        return no_fields(opts, ops, values, NULL, n);
    return vmux__run_each(m, opts, &a, true, &e);
}
