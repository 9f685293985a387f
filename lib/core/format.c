/*
 * The format string is walked twice with the same arguments (each pass through its own va_copy):
 * the first measures every argument, the second writes the RESP array straight into an op of the
 * exact size. No intermediate copy of a value, however large; a printf conversion costs two
 * vsnprintf() calls, as small as the numbers they print.
 */
#include "core/format.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/errbuf.h"
#include "vmux/error.h"

enum { LENS_INLINE = 16, SPEC_INLINE = 32, SPEC_SHOWN = 24 };

/* The arguments' lengths, measured by the first pass for the second to write their headers. */
struct lens {
    size_t *v, n, cap;
    size_t inline_v[LENS_INLINE];
};

/* One walk over the format string: measuring (p NULL) or writing [p, end). */
struct pass {
    const char *format;
    va_list *ap;
    struct lens *lens;
    size_t argc;   /* arguments ended so far */
    size_t cur;    /* the current argument's length so far */
    bool touched;  /* the current argument has begun (hiredis's name) */
    size_t total;  /* measuring: the encoded size of the arguments ended so far */
    char *p, *end; /* writing */
    char *why;
    size_t whylen;
};

/* The type a printf conversion takes from the arguments. */
enum conv_type { CONV_INT, CONV_LONG, CONV_LLONG, CONV_DOUBLE };

static int refuse_spec(struct pass *s, const char *pct, const char *bad)
{
    size_t n = (size_t)(bad - pct), at = (size_t)(pct - s->format);
    int shown = n > SPEC_SHOWN ? SPEC_SHOWN : (int)n;
    const char *more = n > SPEC_SHOWN ? "..." : "";
    unsigned char c = (unsigned char)*bad;
    if (c == '\0')
        vmux__errbuf_set(s->why, s->whylen,
                         "the format string is malformed: the conversion %.*s%s at offset %zu "
                         "is cut short by the end of the string",
                         shown, pct, more, at);
    else if (isprint(c))
        vmux__errbuf_set(
            s->why, s->whylen,
            "the format string is malformed: unknown conversion %.*s%s%c at offset %zu", shown, pct,
            more, c, at);
    else
        vmux__errbuf_set(s->why, s->whylen,
                         "the format string is malformed: unknown conversion %.*s%s\\x%02x at "
                         "offset %zu",
                         shown, pct, more, c, at);
    return VMUX_ERR_INVALID_ARG;
}

static int refuse_null(struct pass *s, const char *pct)
{
    vmux__errbuf_set(s->why, s->whylen, "the argument of %%%c at offset %zu is NULL", pct[1],
                     (size_t)(pct - s->format));
    return VMUX_ERR_INVALID_ARG;
}

/* The second pass found other lengths than the first: a string changed in between, or the
 * locale. */
static int refuse_changed(struct pass *s)
{
    vmux__errbuf_set(s->why, s->whylen,
                     "an argument changed while the command was being formatted");
    return VMUX_ERR_INVALID_ARG;
}

static int lens_push(struct lens *l, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap * 2;
        if (cap > SIZE_MAX / sizeof *l->v)
            return VMUX_ERR_NOMEM;
        size_t *v = malloc(cap * sizeof *v);
        if (v == NULL)
            return VMUX_ERR_NOMEM;
        memcpy(v, l->v, l->n * sizeof *v);
        if (l->v != l->inline_v)
            free(l->v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = len;
    return 0;
}

/* Begins the current argument if it has not begun: writing, its header goes first. */
static int touch(struct pass *s)
{
    if (s->touched)
        return 0;
    s->touched = true;
    if (s->p == NULL)
        return 0;
    if (s->argc >= s->lens->n)
        return refuse_changed(s);
    size_t len = s->lens->v[s->argc];
    if ((size_t)(s->end - s->p) < vmux__encode_header_size(len))
        return refuse_changed(s);
    s->p = vmux__encode_header(s->p, '$', len);
    return 0;
}

/* Appends n bytes to the current argument (begun, even when n is 0). */
static int put(struct pass *s, const char *bytes, size_t n)
{
    int rc = touch(s);
    if (rc != 0)
        return rc;
    if (s->cur > SIZE_MAX - n)
        return VMUX_ERR_NOMEM;
    s->cur += n;
    if (s->p == NULL || n == 0)
        return 0;
    if ((size_t)(s->end - s->p) < n)
        return refuse_changed(s);
    memcpy(s->p, bytes, n);
    s->p += n;
    return 0;
}

/* Ends the current argument, if it has begun. */
static int end_arg(struct pass *s)
{
    if (!s->touched)
        return 0;
    if (s->p != NULL) {
        if (s->cur != s->lens->v[s->argc] || s->end - s->p < 2)
            return refuse_changed(s);
        *s->p++ = '\r';
        *s->p++ = '\n';
    } else {
        size_t piece = vmux__encode_header_size(s->cur) + s->cur + 2;
        if (piece < s->cur || s->total > SIZE_MAX - piece)
            return VMUX_ERR_NOMEM;
        s->total += piece;
        int rc = lens_push(s->lens, s->cur);
        if (rc != 0)
            return rc;
    }
    s->argc++;
    s->cur = 0;
    s->touched = false;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *skip_digits(const char *p)
{
    while (is_digit(*p))
        p++;
    return p;
}

/*
 * Parses the printf conversion at pct ('%'), as hiredis 0.14 does: flags, width, precision,
 * then an integer conversion (bare, hh, h, ll or l) or a floating one (bare). Returns the
 * position of its conversion character with *type set, or NULL with *bad at the offending byte.
 */
static const char *parse_spec(const char *pct, enum conv_type *type, const char **bad)
{
    static const char ints[] = "diouxX", doubles[] = "eEfFgGaA";
    const char *p = pct + 1;
    while (*p != '\0' && strchr("#0-+ ", *p) != NULL)
        p++;
    p = skip_digits(p);
    if (*p == '.')
        p = skip_digits(p + 1);
    *type = CONV_INT;
    if (*p != '\0' && strchr(doubles, *p) != NULL) {
        *type = CONV_DOUBLE;
        return p;
    }
    if (p[0] == 'h') {
        p += p[1] == 'h' ? 2 : 1;
    } else if (p[0] == 'l') {
        *type = p[1] == 'l' ? CONV_LLONG : CONV_LONG;
        p += p[1] == 'l' ? 2 : 1;
    }
    if (*p != '\0' && strchr(ints, *p) != NULL)
        return p;
    *bad = p;
    return NULL;
}

static void skip_arg(va_list *ap, enum conv_type type)
{
    switch (type) {
    case CONV_INT:
        (void)va_arg(*ap, int); /* char and short arrive promoted to int */
        break;
    case CONV_LONG:
        (void)va_arg(*ap, long);
        break;
    case CONV_LLONG:
        (void)va_arg(*ap, long long);
        break;
    case CONV_DOUBLE:
        (void)va_arg(*ap, double);
        break;
    }
}

/* vsnprintf() of one conversion, spec a NUL-terminated copy of it, into the current argument. */
static int put_printf(struct pass *s, const char *spec, const char *pct)
{
    int rc = touch(s);
    if (rc != 0)
        return rc;
    /* Writing, the argument's "\r\n" is still to come after the number: room for its NUL. */
    size_t room = s->p != NULL ? (size_t)(s->end - s->p) : 0;
    va_list cpy;
    va_copy(cpy, *s->ap);
    int n = vsnprintf(s->p, room, spec, cpy);
    va_end(cpy);
    if (n < 0) {
        vmux__errbuf_set(s->why, s->whylen,
                         "the conversion at offset %zu cannot be formatted (too wide)",
                         (size_t)(pct - s->format));
        return VMUX_ERR_INVALID_ARG;
    }
    if (s->p != NULL && (size_t)n >= room)
        return refuse_changed(s);
    if (s->cur > SIZE_MAX - (size_t)n)
        return VMUX_ERR_NOMEM;
    s->cur += (size_t)n;
    if (s->p != NULL)
        s->p += n;
    return 0;
}

/* The printf conversion at pct, formatted; *next is set past it. */
static int put_conversion(struct pass *s, const char *pct, const char **next)
{
    enum conv_type type;
    const char *bad = NULL;
    const char *last = parse_spec(pct, &type, &bad);
    if (last == NULL)
        return refuse_spec(s, pct, bad);
    size_t len = (size_t)(last + 1 - pct);
    char inline_spec[SPEC_INLINE];
    char *spec = len < sizeof inline_spec ? inline_spec : malloc(len + 1);
    if (spec == NULL)
        return VMUX_ERR_NOMEM;
    memcpy(spec, pct, len);
    spec[len] = '\0';
    int rc = put_printf(s, spec, pct);
    if (spec != inline_spec)
        free(spec);
    skip_arg(s->ap, type);
    *next = last + 1;
    return rc;
}

/* The interpolation at c ('%' followed by a byte); *next is set past it. */
static int interpolate(struct pass *s, const char *c, const char **next)
{
    const char *arg;
    size_t size;
    *next = c + 2;
    switch (c[1]) {
    case 's':
        arg = va_arg(*s->ap, const char *);
        if (arg == NULL)
            return refuse_null(s, c);
        return put(s, arg, strlen(arg));
    case 'b':
        arg = va_arg(*s->ap, const char *);
        size = va_arg(*s->ap, size_t);
        if (arg == NULL && size > 0)
            return refuse_null(s, c);
        return put(s, arg, size);
    case '%':
        return put(s, "%", 1);
    default:
        return put_conversion(s, c, next);
    }
}

static int walk(struct pass *s)
{
    const char *c = s->format;
    int rc = 0;
    while (rc == 0 && *c != '\0') {
        if (*c == '%' && c[1] != '\0') {
            rc = interpolate(s, c, &c);
        } else if (*c == ' ') {
            rc = end_arg(s);
            c++;
        } else { /* a run of literal bytes, up to the next space or '%' */
            size_t n = strcspn(c + 1, " %") + 1;
            rc = put(s, c, n);
            c += n;
        }
    }
    return rc == 0 ? end_arg(s) : rc;
}

static int run_pass(struct pass *s, va_list ap)
{
    va_list mine;
    va_copy(mine, ap);
    s->ap = &mine;
    int rc = walk(s);
    va_end(mine);
    return rc;
}

/* The second pass, into a new op of the size the first measured. */
static int write_op(struct pass *m, va_list ap, struct vmux_op **out)
{
    size_t head = vmux__encode_header_size(m->argc);
    if (m->total > SIZE_MAX - head)
        return VMUX_ERR_NOMEM;
    struct vmux_op *op = vmux__op_new(head + m->total);
    if (op == NULL)
        return VMUX_ERR_NOMEM;
    struct pass w = {.format = m->format, .lens = m->lens, .why = m->why, .whylen = m->whylen};
    w.end = op->cmd + op->len;
    w.p = vmux__encode_header(op->cmd, '*', m->argc);
    int rc = run_pass(&w, ap);
    if (rc == 0 && (w.argc != m->argc || w.p != w.end))
        rc = refuse_changed(&w);
    if (rc != 0) {
        vmux__op_free(op);
        return rc;
    }
    vmux__encode_classify_raw(op);
    *out = op;
    return 0;
}

int vmux__format_op(const char *format, va_list ap, struct vmux_op **out, char *why, size_t whylen)
{
    struct lens lens = {.cap = LENS_INLINE};
    lens.v = lens.inline_v;
    struct pass m = {.format = format, .lens = &lens, .why = why, .whylen = whylen};
    vmux__errbuf_set(why, whylen, "%s", "");
    int rc = run_pass(&m, ap);
    if (rc == 0 && m.argc == 0) {
        /* The server would never answer an empty array, and every later reply on the
         * connection would then be matched to the wrong command. */
        vmux__errbuf_set(why, whylen,
                         "the format string makes no argument (a command has at "
                         "least its name)");
        rc = VMUX_ERR_INVALID_ARG;
    }
    if (rc == 0)
        rc = write_op(&m, ap, out);
    if (lens.v != lens.inline_v)
        free(lens.v);
    return rc;
}
