/*
 * The reply reader: a RESP2 parser of our own that builds vmux_reply values as the bytes come.
 *
 * One item (a line, or a bulk string's header and body) is parsed at a time, and only once it is
 * complete: the cursor (pos) moves past it, the value is attached to the array on top of the
 * stack, and arrays that are full are popped into their parents. So a reply that arrives in
 * pieces is never parsed twice, and between two items the half-built reply sits on the stack.
 * Nor is a line searched twice for its end: the search resumes where the last one stopped
 * (line_seen), so a line that comes in many reads costs its length, not its length times the
 * reads (a hostile 256 MB status line cost 23 s of CPU when each read searched it from its start).
 * The stack grows as arrays nest (up to VMUX_READER_MAX_DEPTH): hiredis 0.14's reader stopped
 * at 7 levels, and COMMAND DOCS alone nests 13.
 *
 * A large bulk string (BULK_DIRECT bytes or more) whose body has not all come is made at once, at
 * its full size, and the bytes fed after go straight into it: one copy, and no buffer grown to
 * hold it.
 */
#include "core/reader.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/config_internal.h"
#include "core/reply_internal.h"
#include "vmux/error.h"

/* The buffer's first size, and the most an empty buffer keeps between replies. */
enum { BUF_MIN = 16 * 1024, BUF_KEEP = 64 * 1024 };

/*
 * The longest line whose content is a number (an integer, a bulk string's or an array's length),
 * CRLF excluded: an int64 takes 20 bytes at most. A longer one is refused as soon as it is seen,
 * rather than buffered up to maxReplyBuffer waiting for an end that cannot make it valid.
 */
enum { NUMBER_LINE_MAX = 32 };

/* The smallest bulk string whose body is fed straight into its value (the fuzz target sets less).
 */
#ifndef VMUX_READER_BULK_DIRECT
#define VMUX_READER_BULK_DIRECT (64 * 1024)
#endif
enum { BULK_DIRECT = VMUX_READER_BULK_DIRECT };

struct vmux_reader {
    char *buf;
    size_t pos, len, cap; /* parsed up to pos; bytes held up to len; room up to cap */
    size_t line_seen;     /* bytes after the type byte of the line at pos with no CRLF begun */
    uint64_t scanned;     /* bytes searched for a line end that was not there (for tests) */
    vmux_reply **stack;   /* the arrays being filled, outermost first; each is attached to the
                             one below once it is full */
    size_t depth, stack_cap;
    vmux_reply *bulk; /* a large bulk string being filled by feed(), or NULL */
    size_t bulk_have; /* its bytes so far */
    struct vmux_reader_limits limits;
    uint64_t reply_bytes; /* memory held by the reply being built */
    int failed;           /* 0, or the VMUX_ERR_* code the reader failed with */
    bool over_limit;      /* failed by a reply limit (vmux__reader_over_limit()) */
    char error[160];      /* why it failed */

    /* limits are those of the reply being built (or of the next): sets[own] */
    struct vmux_reader_limits sets[2]; /* the user's replies' [0], the library's own [1] */
    bool own;
};

/* What read_item() found. */
enum item { ITEM_MORE, ITEM_VALUE, ITEM_OPENED };

/* Fails the reader for good with code and a reason (the first failure's stays); returns code.
 * limit: the failure is a reply over one of the limits (vmux__reader_over_limit()). */
static int vfail(vmux_reader *rd, int code, bool limit, const char *fmt, va_list ap)
{
    if (!rd->failed) {
        rd->failed = code;
        rd->over_limit = limit;
        vsnprintf(rd->error, sizeof(rd->error), fmt, ap);
    }
    return rd->failed;
}

__attribute__((format(printf, 3, 4))) static int reader_fail(vmux_reader *rd, int code,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(rd, code, false, fmt, ap);
    va_end(ap);
    return rc;
}

/* reader_fail() for a reply over one of the limits (VMUX_ERR_PROTOCOL): a well-formed reply the
 * user's bounds refuse, which the same command would get again. */
__attribute__((format(printf, 2, 3))) static int limit_fail(vmux_reader *rd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(rd, VMUX_ERR_PROTOCOL, true, fmt, ap);
    va_end(ap);
    return rc;
}

const struct vmux_reader_limits vmux__reader_own_limits = {
    .max_bulk = VMUX_DEFAULT_MAX_BULK_LENGTH,
    .max_elements = VMUX_DEFAULT_MAX_REPLY_ELEMENTS,
    .max_buffer = VMUX_DEFAULT_MAX_REPLY_BUFFER,
};

vmux_reader *vmux__reader_new(const struct vmux_reader_limits *limits)
{
    vmux_reader *rd = calloc(1, sizeof(*rd));
    if (rd != NULL) {
        rd->limits = rd->sets[0] = *limits;
        rd->sets[1] = vmux__reader_own_limits;
    }
    return rd;
}

void vmux__reader_set_own_limits(vmux_reader *rd, const struct vmux_reader_limits *limits)
{
    rd->sets[1] = *limits;
    if (rd->own)
        rd->limits = *limits;
}

void vmux__reader_own(vmux_reader *rd, bool own)
{
    if (own == rd->own || rd->depth > 0 || rd->bulk != NULL)
        return; /* the same, or a reply half built: it keeps the limits it started with */
    rd->own = own;
    rd->limits = rd->sets[own];
}

void vmux__reader_free(vmux_reader *rd)
{
    if (rd == NULL)
        return;
    while (rd->depth > 0) /* each array on the stack holds the values finished inside it */
        vmux_reply_free(rd->stack[--rd->depth]);
    vmux_reply_free(rd->bulk);
    free(rd->stack);
    free(rd->buf);
    free(rd);
}

void vmux__reader_wipe(vmux_reader *rd)
{
    if (rd == NULL || rd->buf == NULL)
        return;
    OPENSSL_cleanse(rd->buf, rd->pos);
    OPENSSL_cleanse(rd->buf + rd->len, rd->cap - rd->len);
}

/* Makes room for need more bytes: moves the unparsed bytes to the front, then grows. */
static int make_room(vmux_reader *rd, size_t need)
{
    if (rd->pos > 0) {
        memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
        rd->len -= rd->pos;
        rd->pos = 0;
    }
    if (rd->cap - rd->len >= need)
        return 0;
    size_t cap = rd->cap > BUF_MIN ? rd->cap : BUF_MIN;
    while (cap - rd->len < need) {
        if (cap > SIZE_MAX / 2)
            return reader_fail(rd, VMUX_ERR_NOMEM, "reader buffer of %zu+%zu bytes", rd->len, need);
        cap *= 2;
    }
    char *grown = realloc(rd->buf, cap);
    if (grown == NULL)
        return reader_fail(rd, VMUX_ERR_NOMEM, "out of memory for %zu bytes (had %zu)", cap,
                           rd->cap);
    rd->buf = grown;
    rd->cap = cap;
    return 0;
}

int vmux__reader_feed(vmux_reader *rd, const char *buf, size_t len)
{
    if (rd->failed)
        return rd->failed;
    if (rd->pos == rd->len) { /* all parsed: start over, and give back a large buffer */
        VMUX_ASSERT(rd->line_seen == 0);
        rd->pos = rd->len = 0;
        if (rd->cap > BUF_KEEP) {
            free(rd->buf);
            rd->buf = NULL;
            rd->cap = 0;
        }
    }
    if (rd->bulk != NULL) { /* the body of a large bulk string: straight into its value */
        size_t take = rd->bulk->len - rd->bulk_have;
        take = take < len ? take : len;
        memcpy(rd->bulk->str + rd->bulk_have, buf, take);
        rd->bulk_have += take;
        buf += take;
        len -= take;
    }
    if (len == 0)
        return 0;
    if (rd->cap - rd->len < len && make_room(rd, len) != 0)
        return rd->failed;
    memcpy(rd->buf + rd->len, buf, len);
    rd->len += len;
    return 0;
}

/* Moves the cursor to to, past an item: the next line's search starts at its beginning. */
static void consume(vmux_reader *rd, const char *to)
{
    rd->pos = (size_t)(to - rd->buf);
    rd->line_seen = 0;
}

/* The CR of the first CRLF in [p, end), or NULL when it has not come yet. */
static const char *find_crlf(const char *p, const char *end)
{
    while (p < end) {
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        if (cr == NULL || cr + 1 >= end)
            return NULL;
        if (cr[1] == '\n')
            return cr;
        p = cr + 1;
    }
    return NULL;
}

/*
 * The CR of the CRLF that ends the line at p, the cursor (after its type byte), or NULL when it
 * has not come by end. Each call searches only the bytes the last one did not; a CR that ends
 * the bytes held is looked at again, since its LF may come in the next read.
 */
static const char *find_eol(vmux_reader *rd, const char *p, const char *end)
{
    VMUX_ASSERT(p == rd->buf + rd->pos && p + 1 + rd->line_seen <= end);
    const char *from = p + 1 + rd->line_seen;
    const char *cr = find_crlf(from, end);
    if (cr != NULL)
        return cr;
    rd->scanned += (uint64_t)(end - from);
    rd->line_seen += (size_t)(end - from);
    if (rd->line_seen > 0 && end[-1] == '\r')
        rd->line_seen--;
    return NULL;
}

/* Reads the whole of [p, end) as a decimal int64 (an optional '-', then digits). */
static bool parse_int64(const char *p, const char *end, int64_t *out)
{
    bool neg = p < end && *p == '-';
    p += neg;
    if (p == end)
        return false;
    uint64_t v = 0, max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* What malloc adds to each block (glibc: its header, and rounding up to 16 bytes). */
#define MALLOC_OVERHEAD 16

/*
 * Counts the memory a value adds to the reply being built, as the heap spends it (its block
 * with malloc's overhead, and its slot in its array): many small elements must not get around
 * the limits that bound one large one.
 */
static bool account(vmux_reader *rd, uint64_t bytes)
{
    rd->reply_bytes += bytes + sizeof(vmux_reply) + MALLOC_OVERHEAD + sizeof(vmux_reply *);
    if (rd->reply_bytes <= rd->limits.max_buffer)
        return true;
    limit_fail(rd, "reply of %llu+ bytes exceeds maxReplyBuffer %llu",
               (unsigned long long)rd->reply_bytes, (unsigned long long)rd->limits.max_buffer);
    return false;
}

/* A new value, counted; NULL with the reader failed when it cannot be had. */
static vmux_reply *counted(vmux_reader *rd, vmux_reply *value, uint64_t bytes)
{
    if (value == NULL) {
        reader_fail(rd, VMUX_ERR_NOMEM, "out of memory for a value of %llu bytes",
                    (unsigned long long)bytes);
        return NULL;
    }
    if (!account(rd, bytes)) {
        vmux_reply_free(value);
        return NULL;
    }
    return value;
}

/*
 * A large bulk string of n bytes whose body begins at body and has not all come: its value is
 * made now, holding what has come; feed() fills the rest (finish_direct() takes it).
 */
static int start_direct(vmux_reader *rd, const char *body, size_t n)
{
    size_t have = (size_t)(rd->buf + rd->len - body); /* < n + 2, and the CRLF is not in it */
    have = have < n ? have : n;
    if ((rd->bulk = counted(rd, vmux__reply_new_str(VMUX_REPLY_STRING, NULL, n), n)) == NULL)
        return rd->failed;
    memcpy(rd->bulk->str, body, have);
    rd->bulk_have = have;
    consume(rd, body + have);
    return ITEM_MORE;
}

/* The large bulk string being filled: ITEM_VALUE once its body and CRLF are here. */
static int finish_direct(vmux_reader *rd, vmux_reply **value)
{
    if (rd->bulk_have < rd->bulk->len || rd->len - rd->pos < 2)
        return ITEM_MORE;
    const char *crlf = rd->buf + rd->pos;
    if (crlf[0] != '\r' || crlf[1] != '\n')
        return reader_fail(rd, VMUX_ERR_PROTOCOL,
                           "Protocol error, bulk string of %zu bytes not ended by CRLF",
                           rd->bulk->len);
    consume(rd, crlf + 2);
    *value = rd->bulk;
    rd->bulk = NULL;
    return ITEM_VALUE;
}

/* A bulk string whose header line [line, eol) is read: its value once its body is here. */
static int read_bulk(vmux_reader *rd, const char *line, const char *eol, vmux_reply **value)
{
    int64_t n;
    if (!parse_int64(line, eol, &n) || n < -1)
        return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, bad bulk string length");
    const char *body = eol + 2, *end = rd->buf + rd->len;
    if (n == -1) {
        consume(rd, body);
        return (*value = counted(rd, vmux__reply_new_nil(), 0)) ? ITEM_VALUE : rd->failed;
    }
    if ((uint64_t)n > rd->limits.max_bulk)
        return limit_fail(rd, "bulk string of %llu bytes exceeds maxBulkLength %llu",
                          (unsigned long long)n, (unsigned long long)rd->limits.max_bulk);
    if ((uint64_t)(end - body) < (uint64_t)n + 2)
        return n >= BULK_DIRECT ? start_direct(rd, body, (size_t)n) : ITEM_MORE;
    if (body[n] != '\r' || body[n + 1] != '\n')
        return reader_fail(rd, VMUX_ERR_PROTOCOL,
                           "Protocol error, bulk string of %llu bytes not ended by CRLF",
                           (unsigned long long)n);
    consume(rd, body + n + 2);
    *value = counted(rd, vmux__reply_new_str(VMUX_REPLY_STRING, body, (size_t)n), (uint64_t)n);
    return *value != NULL ? ITEM_VALUE : rd->failed;
}

/* An array header [line, eol): nil, an empty array (a value), or an array opened on the stack. */
static int read_array(vmux_reader *rd, const char *line, const char *eol, vmux_reply **value)
{
    int64_t n;
    if (!parse_int64(line, eol, &n) || n < -1)
        return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, bad array length");
    if (n > 0 && (uint64_t)n > rd->limits.max_elements)
        return limit_fail(rd, "array of %llu elements exceeds maxReplyElements %llu",
                          (unsigned long long)n, (unsigned long long)rd->limits.max_elements);
    if (n > 0 && rd->depth >= VMUX_READER_MAX_DEPTH)
        return reader_fail(rd, VMUX_ERR_PROTOCOL, "reply nested deeper than %d levels",
                           VMUX_READER_MAX_DEPTH);
    consume(rd, eol + 2);
    vmux_reply *made = n == -1 ? vmux__reply_new_nil() : vmux__reply_new_array((size_t)n);
    if ((*value = counted(rd, made, 0)) == NULL)
        return rd->failed;
    if (n <= 0)
        return ITEM_VALUE;
    if (rd->depth == rd->stack_cap) {
        size_t cap = rd->stack_cap ? rd->stack_cap * 2 : 8;
        vmux_reply **grown = realloc(rd->stack, cap * sizeof(*grown));
        if (grown == NULL) {
            vmux_reply_free(*value);
            return reader_fail(rd, VMUX_ERR_NOMEM, "out of memory for %zu levels", cap);
        }
        rd->stack = grown;
        rd->stack_cap = cap;
    }
    return ITEM_OPENED;
}

/* The type byte, printable or escaped, in a reason. */
static int bad_type(vmux_reader *rd, unsigned char type)
{
    if (type >= 0x20 && type < 0x7f)
        return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, got \"%c\" as reply type byte",
                           type);
    return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, got \"\\x%02x\" as reply type byte",
                       type);
}

/* Fails the reader for a line after type (':', '$' or '*') longer than NUMBER_LINE_MAX. */
static int number_too_long(vmux_reader *rd, char type)
{
    const char *name = type == ':'   ? "integer value"
                       : type == '$' ? "bulk string length"
                                     : "array length";
    return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, %s longer than %d bytes", name,
                       NUMBER_LINE_MAX);
}

/*
 * The line at p, whose end has not come by end: ITEM_MORE while that end may still make it
 * valid; refused at once when its type byte is none, or when it holds a number and is too long
 * already (one byte more is let wait: its CR, whose LF has not come).
 */
static int read_unended(vmux_reader *rd, const char *p, const char *end)
{
    switch (*p) {
    case '+':
    case '-':
        return ITEM_MORE;
    case ':':
    case '$':
    case '*':
        return (size_t)(end - p) > 1 + NUMBER_LINE_MAX + 1 ? number_too_long(rd, *p) : ITEM_MORE;
    default:
        return bad_type(rd, (unsigned char)*p);
    }
}

/*
 * Reads the item at the cursor: ITEM_VALUE with *value (a scalar, nil or an empty array, to be
 * attached by the caller), ITEM_OPENED with *value (an array that elements must fill: the caller
 * pushes it), ITEM_MORE when its bytes have not all come (nothing consumed), or a failure.
 */
static int read_item(vmux_reader *rd, vmux_reply **value)
{
    const char *p = rd->buf + rd->pos, *end = rd->buf + rd->len;
    if (p == end)
        return ITEM_MORE;
    const char *eol = find_eol(rd, p, end);
    if (eol == NULL)
        return read_unended(rd, p, end);
    const char *line = p + 1;
    size_t n = (size_t)(eol - line);
    if (n > NUMBER_LINE_MAX && (*p == ':' || *p == '$' || *p == '*'))
        return number_too_long(rd, *p);
    int64_t integer;
    switch (*p) {
    case '+':
    case '-':
        consume(rd, eol + 2);
        *value = counted(
            rd, vmux__reply_new_str(*p == '+' ? VMUX_REPLY_STATUS : VMUX_REPLY_ERROR, line, n), n);
        return *value != NULL ? ITEM_VALUE : rd->failed;
    case ':':
        if (!parse_int64(line, eol, &integer))
            return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, bad integer value");
        consume(rd, eol + 2);
        *value = counted(rd, vmux__reply_new_integer(integer), 0);
        return *value != NULL ? ITEM_VALUE : rd->failed;
    case '$':
        return read_bulk(rd, line, eol, value);
    case '*':
        return read_array(rd, line, eol, value);
    default:
        return bad_type(rd, (unsigned char)*p);
    }
}

/* Attaches a finished value to the array on top; true when that array is full too. */
static bool attach(vmux_reader *rd, vmux_reply *value)
{
    vmux_reply *top = rd->stack[rd->depth - 1];
    if (vmux__reply_array_set(top, top->len, value) != 0) {
        vmux_reply_free(value);
        reader_fail(rd, VMUX_ERR_NOMEM, "out of memory for element %llu of %llu",
                    (unsigned long long)top->len, (unsigned long long)top->u.array.expected);
        return false;
    }
    return top->len == top->u.array.expected;
}

/* While no reply is complete: whether the bytes held and the values built stay in bounds. */
static int check_incomplete(vmux_reader *rd)
{
    uint64_t buffered = rd->len - rd->pos;
    if (buffered + rd->reply_bytes > rd->limits.max_buffer)
        return limit_fail(rd, "incomplete reply of %llu bytes exceeds maxReplyBuffer %llu",
                          (unsigned long long)buffered, (unsigned long long)rd->limits.max_buffer);
    return 0;
}

int vmux__reader_next(vmux_reader *rd, vmux_reply **out)
{
    *out = NULL;
    while (!rd->failed) {
        vmux_reply *value = NULL;
        int got = rd->bulk != NULL ? finish_direct(rd, &value) : read_item(rd, &value);
        if (got == ITEM_MORE)
            return check_incomplete(rd);
        if (got == ITEM_OPENED) {
            rd->stack[rd->depth++] = value;
            continue;
        }
        if (got != ITEM_VALUE)
            break;
        /* a finished value: fill its parent, and each parent it completes, up to the root */
        while (rd->depth > 0 && attach(rd, value))
            value = rd->stack[--rd->depth];
        if (rd->failed)
            break;
        if (rd->depth == 0) {
            rd->reply_bytes = 0;
            *out = value;
            return 1;
        }
    }
    return rd->failed;
}

bool vmux__reader_idle(const vmux_reader *rd)
{
    return !rd->failed && rd->depth == 0 && rd->bulk == NULL && rd->pos == rd->len;
}

int vmux__reader_peek(const vmux_reader *rd)
{
    if (rd->failed || rd->depth > 0 || rd->bulk != NULL || rd->pos >= rd->len)
        return -1;
    return (unsigned char)rd->buf[rd->pos];
}

bool vmux__reader_over_limit(const vmux_reader *rd)
{
    return rd->over_limit;
}

const char *vmux__reader_error(const vmux_reader *rd)
{
    return rd->error;
}

uint64_t vmux__reader_scanned(const vmux_reader *rd)
{
    return rd->scanned;
}
