/*
 * The words of a typed call whose command ran but whose reply is of another shape than the
 * function reads (VMUX_ERR_PROTOCOL from its converter; typed.h vmux__shape_words()).
 */
#include <stdio.h>

#include "api/typed.h"
#include "core/errbuf.h"

/* What each common converter reads, for the words; NULL for a converter not listed. */
static const char *expected_of(vmux_convert_fn convert)
{
    static const struct {
        vmux_convert_fn convert;
        const char *expected;
    } known[] = {
        {vmux__conv_int, "an integer"},
        {vmux__conv_double, "a number"},
        {vmux__conv_bool, "an integer"},
        {vmux__conv_bytes, "a string or nil"},
        {vmux__conv_bytes_array, "an array of strings"},
        {vmux__conv_scored_array, "an array of members with their scores"},
        {vmux__conv_ok, "a status reply (+OK)"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i].convert == convert)
            return known[i].expected;
    }
    return NULL;
}

/* The reply as the words name it: its kind, and for an array its elements. */
static void got_of(char *buf, size_t len, const vmux_reply *r)
{
    vmux_reply_kind kind = vmux_reply_get_kind(r);
    if (kind == VMUX_REPLY_ARRAY)
        snprintf(buf, len, "%s of %zu elements", vmux_reply_kind_name(kind), vmux_reply_len(r));
    else
        snprintf(buf, len, "%s", vmux_reply_kind_name(kind));
}

void vmux__shape_words(char *errbuf, size_t errlen, const char *cmd, vmux_convert_fn convert,
                       const vmux_reply *r)
{
    char got[64];
    got_of(got, sizeof got, r);
    const char *expected = expected_of(convert);
    vmux__errbuf_set(errbuf, errlen,
                     "%s%sthe command ran, but its reply is not of the shape this function reads: "
                     "%s%s%sgot %s",
                     cmd, cmd[0] != '\0' ? ": " : "", expected != NULL ? "expected " : "",
                     expected != NULL ? expected : "", expected != NULL ? ", " : "", got);
}
