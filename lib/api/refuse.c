/*
 * Words for a typed call's refusal before anything is sent (typed.h): "invalid argument: " and
 * which argument broke which rule, in the caller's error buffer, as vmux_call() words its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "vmux/error.h"

/* Writes "invalid argument: " and fmt's words into buf (len bytes, not 0). */
static void write_words(char *buf, size_t len, const char *fmt, va_list ap)
{
    int at = snprintf(buf, len, "invalid argument: ");
    if (at > 0 && (size_t)at < len)
        vsnprintf(buf + at, len - (size_t)at, fmt, ap);
}

int vmux__typed_refuse(const vmux_callopts *opts, const char *fmt, ...)
{
    vmux_callopts o = vmux__callopts_copy(opts); /* errbuf only where the caller's size has it */
    if (o.errbuf != NULL && o.errlen != 0) {
        va_list ap;
        va_start(ap, fmt);
        write_words(o.errbuf, o.errlen, fmt, ap);
        va_end(ap);
    }
    return VMUX_ERR_INVALID_ARG;
}

int vmux__items_refuse(const vmux_callopts *opts, const char *name, const void *items, size_t n)
{
    if (items == NULL)
        return vmux__typed_refuse(opts, "%s is NULL with n %zu: the command takes at least one",
                                  name, n);
    return vmux__typed_refuse(opts, "n is 0: the command takes at least one of %s", name);
}

int vmux__str_refuse(const vmux_callopts *opts, const char *name, vmux_str s)
{
    if (s.ptr != NULL || s.len == 0)
        return 0;
    return vmux__typed_refuse(
        opts, "%s is at NULL with length %zu (a vmux_str {NULL, len > 0} is no string)", name,
        s.len);
}

int vmux__args_refused(const vmux_callopts *opts, const struct vmux_args *a)
{
    if (a->why[0] != '\0')
        return vmux__typed_refuse(opts, "%s", a->why);
    return VMUX_ERR_INVALID_ARG;
}

int vmux__sized_refuse(const vmux_callopts *opts, const char *name, const void *sized,
                       size_t lib_size)
{
    size_t size;
    memcpy(&size, sized, sizeof size);
    if (size < sizeof(size_t))
        return vmux__typed_refuse(opts, "%s->size is %zu: below sizeof(size_t) (VMUX_INIT sets it)",
                                  name, size);
    return vmux__typed_refuse(opts,
                              "%s->size is %zu: past this library's %zu bytes, with fields it "
                              "lacks set (a newer header's options)",
                              name, size, lib_size);
}
