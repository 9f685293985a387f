/* Typed values out of replies (types.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/typed.h"
#include "core/cnum.h"
#include "core/value.h"
#include "vmux/error.h"
#include "vmux/types.h"

/* Checks r is not an error; returns the status to give back. */
static int usable(const vmux_reply *r)
{
    if (r == NULL)
        return VMUX_ERR_INVALID_ARG;
    return vmux_reply_get_kind(r) == VMUX_REPLY_ERROR ? VMUX_ERR_SERVER : 0;
}

int vmux_reply_to_bytes(const vmux_reply *r, vmux_bytes *out)
{
    if (out == NULL) /* the value dropped: the status still says what r is */
        return vmux__convert_into(r, vmux__conv_bytes, NULL, sizeof *out, vmux__release_bytes);
    memset(out, 0, sizeof(*out));
    int rc = usable(r);
    if (rc != 0 || vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return rc;
    size_t len;
    const char *s = vmux_reply_str(r, &len);
    return s != NULL ? vmux__bytes_copy(s, len, out) : VMUX_ERR_PROTOCOL;
}

int vmux_reply_to_int(const vmux_reply *r, int64_t *out)
{
    int64_t dropped;
    if (out == NULL)
        out = &dropped;
    *out = 0;
    int rc = usable(r);
    if (rc != 0)
        return rc;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_INTEGER)
        return VMUX_ERR_PROTOCOL;
    *out = vmux_reply_integer(r);
    return 0;
}

/* Whether s (len bytes) is word, ignoring case. */
static bool is_word(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

/*
 * Parses a whole reply text as a double (Valkey writes "inf", "-inf", "nan" as such), in place:
 * a reply's text is NUL-terminated, and may be long (INCRBYFLOAT writes 1e300 as its 301
 * digits; a 64-byte copy refused it, after the increment had run).
 */
static int parse_double(const char *s, size_t len, double *out)
{
    if (len == 0 || memchr(s, '\0', len) != NULL)
        return VMUX_ERR_PROTOCOL;
    /* Decimal only, as the server writes numbers: strtod also takes leading spaces, hex,
     * "infinity" and "nan(...)". */
    size_t digits = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    const char *body = s + digits;
    size_t body_len = len - digits;
    if (body_len == 0 || isspace((unsigned char)body[0]) ||
        (body[0] == '0' && body_len > 1 && (body[1] | 0x20) == 'x'))
        return VMUX_ERR_PROTOCOL;
    bool word = isalpha((unsigned char)body[0]);
    if (word && !is_word(body, body_len, "inf") && !is_word(body, body_len, "nan"))
        return VMUX_ERR_PROTOCOL;
    char *end;
    int saved = errno; /* the caller's, restored: ERANGE also comes with a value we take */
    errno = 0;
    double v = vmux__strtod(s, &end); /* the C locale's: the server writes a '.' */
    bool underflow = v == 0 && errno == ERANGE;
    errno = saved;
    if (end != s + len)
        return VMUX_ERR_PROTOCOL;
    /* A finite number beyond a double's range (INCRBYFLOAT computes in long double): too large
     * ("2e308") is not the infinity strtod makes of it, and too small ("1e-400") not its 0.
     * ERANGE also comes with a subnormal, which the server writes for a subnormal score
     * ("1e-310"): strtod's rounding is that value. */
    if ((isinf(v) && !word) || underflow)
        return VMUX_ERR_PROTOCOL;
    *out = v;
    return 0;
}

int vmux_reply_to_double(const vmux_reply *r, double *out)
{
    double dropped;
    if (out == NULL)
        out = &dropped;
    *out = 0;
    int rc = usable(r);
    if (rc != 0)
        return rc;
    if (vmux_reply_get_kind(r) == VMUX_REPLY_INTEGER) {
        *out = (double)vmux_reply_integer(r);
        return 0;
    }
    size_t len;
    const char *s = vmux_reply_str(r, &len);
    return s != NULL ? parse_double(s, len, out) : VMUX_ERR_PROTOCOL;
}

int vmux_reply_to_bool(const vmux_reply *r, bool *out)
{
    bool dropped;
    if (out == NULL)
        out = &dropped;
    *out = false;
    int rc = usable(r);
    if (rc != 0)
        return rc;
    switch (vmux_reply_get_kind(r)) {
    case VMUX_REPLY_STATUS:
        *out = true;
        return 0;
    case VMUX_REPLY_NIL:
        return 0;
    case VMUX_REPLY_INTEGER:
        *out = vmux_reply_integer(r) != 0;
        return 0;
    default:
        return VMUX_ERR_PROTOCOL;
    }
}

int vmux_reply_to_bytes_array(const vmux_reply *r, vmux_bytes_array *out)
{
    if (out == NULL)
        return vmux__convert_into(r, vmux__conv_bytes_array, NULL, sizeof *out,
                                  vmux__release_bytes_array);
    memset(out, 0, sizeof(*out));
    int rc = usable(r);
    if (rc != 0 || vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return rc;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY)
        return VMUX_ERR_PROTOCOL;
    size_t n = vmux_reply_len(r);
    out->items = calloc(n ? n : 1, sizeof(*out->items));
    if (out->items == NULL)
        return VMUX_ERR_NOMEM;
    out->count = n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const vmux_reply *e = vmux_reply_element(r, i);
        rc = vmux_reply_get_kind(e) == VMUX_REPLY_ERROR ? VMUX_ERR_PROTOCOL
                                                        : vmux_reply_to_bytes(e, &out->items[i]);
    }
    if (rc != 0)
        vmux_bytes_array_free(out);
    return rc;
}

/* One member and its score from two replies. */
static int scored_item(const vmux_reply *member, const vmux_reply *score, vmux_scored *out)
{
    if (member == NULL || score == NULL || vmux_reply_get_kind(member) != VMUX_REPLY_STRING)
        return VMUX_ERR_PROTOCOL;
    int rc = vmux_reply_to_double(score, &out->score);
    return rc != 0 ? VMUX_ERR_PROTOCOL : vmux_reply_to_bytes(member, &out->member);
}

int vmux_reply_to_scored_array(const vmux_reply *r, vmux_scored_array *out)
{
    if (out == NULL)
        return vmux__convert_into(r, vmux__conv_scored_array, NULL, sizeof *out,
                                  vmux__release_scored_array);
    memset(out, 0, sizeof(*out));
    int rc = usable(r);
    if (rc != 0 || vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return rc;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY)
        return VMUX_ERR_PROTOCOL;
    size_t n = vmux_reply_len(r);
    const vmux_reply *first = vmux_reply_element(r, 0);
    bool nested = first != NULL && vmux_reply_get_kind(first) == VMUX_REPLY_ARRAY;
    size_t count = nested ? n : n / 2;
    if (!nested && n % 2 != 0)
        return VMUX_ERR_PROTOCOL;
    out->items = calloc(count ? count : 1, sizeof(*out->items));
    if (out->items == NULL)
        return VMUX_ERR_NOMEM;
    out->count = count;
    for (size_t i = 0; i < count && rc == 0; i++) {
        const vmux_reply *pair = nested ? vmux_reply_element(r, i) : r;
        size_t at = nested ? 0 : 2 * i;
        rc = scored_item(vmux_reply_element(pair, at), vmux_reply_element(pair, at + 1),
                         &out->items[i]);
    }
    if (rc != 0)
        vmux_scored_array_free(out);
    return rc;
}

int vmux__reply_to_number(const vmux_reply *r, int64_t *out)
{
    *out = 0;
    if (r != NULL && vmux_reply_get_kind(r) == VMUX_REPLY_INTEGER)
        return vmux_reply_to_int(r, out);
    size_t len;
    const char *s =
        r != NULL && vmux_reply_get_kind(r) == VMUX_REPLY_STRING ? vmux_reply_str(r, &len) : NULL;
    if (s == NULL || len == 0 || len > 20)
        return VMUX_ERR_PROTOCOL;
    char buf[24], *end;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (*end != '\0' || errno != 0)
        return VMUX_ERR_PROTOCOL;
    *out = v;
    return 0;
}
