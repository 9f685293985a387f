/* Bitmap commands (bitmaps.h). */
#include "vmux/bitmaps.h"

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
        vmux__args_refuse(a);
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
