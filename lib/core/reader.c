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
 *
 * A reply to the user over a limit, with refusing set (vmux__reader_refuse_over_limit()), is
 * refused rather than failing the reader: what was built of it is freed (its outermost array's
 * first elements when the refusal is taken: they name a subscriber's message), vmux__reader_next()
 * says so (VMUX__READER_REFUSED), and the rest of it is skipped as it comes, nothing built and
 * its bytes dropped as they are fed (skip_run()), so the next reply is read as if it had not
 * been there. What is left to skip is a count of values and of bytes, not a stack: the reply's
 * shape does not matter once nothing of it is kept.
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

    /* A user's reply over a limit, refused and being skipped (refusing set): */
    bool halted;          /* failed, or skipping: vmux__reader_next() reads no reply */
    bool refusing;        /* refuse such a reply rather than fail */
    bool skipping;        /* one was refused: it is told, then what is left of it skipped */
    bool refused;         /* one was refused and the caller has not taken it yet */
    bool skip_line;       /* inside a status or error line of it, dropped until its CRLF */
    uint64_t skip_bytes;  /* bytes of a bulk string's body and CRLF of it still to drop */
    uint64_t skip_values; /* values of it still to skip after those bytes */
    vmux_reply *part;     /* its outermost array as far as it was built, until taken */
};

/*
 * The most values a refused reply may still owe, and the longest bulk string in it: no server
 * sends more (a list holds 2^32 - 1 elements; proto-max-bulk-len is 512 MiB by default). A reply
 * claiming more is taken for a hostile one and fails the reader, as a reply over a limit did
 * before refusals: skipping it would read on for good, and the replies behind it with it.
 */
#define SKIP_VALUES_MAX (UINT64_C(1) << 32)
#define SKIP_BYTES_MAX (UINT64_C(1) << 32)

/* What read_item() found; the first three are also what vmux__reader_next() returns. */
enum item { ITEM_MORE, ITEM_VALUE, ITEM_REFUSED = VMUX__READER_REFUSED, ITEM_OPENED };

/* Fails the reader for good with code and a reason (the first failure's stays); returns code.
 * limit: the failure is a reply over one of the limits (vmux__reader_over_limit()). */
static int vfail(vmux_reader *rd, int code, bool limit, const char *fmt, va_list ap)
{
    if (!rd->failed) {
        rd->failed = code;
        rd->halted = true;
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

/*
 * The values the reply being built still expects after the item at the cursor: each open array's
 * missing elements, less the arrays open inside it (not attached to it yet, they are counted as
 * missing there) and the item being read (the top array's).
 */
static uint64_t values_after(const vmux_reader *rd)
{
    uint64_t n = 0;
    for (size_t i = 0; i < rd->depth; i++)
        n += rd->stack[i]->u.array.expected - rd->stack[i]->len;
    return n - rd->depth;
}

/* Frees what was built of the reply. */
static void drop_built(vmux_reader *rd)
{
    while (rd->depth > 0)
        vmux_reply_free(rd->stack[--rd->depth]);
    vmux_reply_free(rd->bulk);
    rd->bulk = NULL;
    rd->reply_bytes = 0;
}

/*
 * Frees what was built of a refused reply but its outermost array, kept as rd->part until the
 * refusal is taken (vmux__reader_refused_part()): the arrays open inside it are not attached to
 * it yet, so it holds only its first elements, whole. A subscriber's message over a limit is
 * named by them (its channel comes before its payload).
 */
static void keep_part(vmux_reader *rd)
{
    vmux_reply *outer = NULL;
    if (rd->depth > 0) {
        outer = rd->stack[0];
        rd->stack[0] = NULL; /* drop_built() frees NULL as nothing */
    }
    drop_built(rd);
    rd->part = outer;
}

/*
 * A reply over a limit. A user's, with refusing: refused (ITEM_REFUSED), what was built of it
 * freed, and the rest of it to skip: bytes of the current item, then values (the current item's
 * elements, or itself when not read yet), then what the open arrays still expect. Otherwise, or
 * when that is more than SKIP_VALUES_MAX or SKIP_BYTES_MAX, the reader fails as over a limit
 * (vmux__reader_over_limit()): a well-formed reply that the same command would get again.
 */
__attribute__((cold, format(printf, 4, 5))) static int refuse(vmux_reader *rd, uint64_t bytes,
                                                              uint64_t values, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uint64_t after = values_after(rd);
    if (!rd->refusing || rd->own || bytes > SKIP_BYTES_MAX + 2 || values > SKIP_VALUES_MAX ||
        after > SKIP_VALUES_MAX - values) {
        int rc = vfail(rd, VMUX_ERR_PROTOCOL, true, fmt, ap);
        va_end(ap);
        return rc;
    }
    vsnprintf(rd->error, sizeof(rd->error), fmt, ap);
    va_end(ap);
    keep_part(rd);
    rd->skipping = rd->refused = rd->halted = true;
    rd->skip_bytes = bytes;
    rd->skip_values = after + values;
    return ITEM_REFUSED;
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
    vmux_reply_free(rd->part);
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
    if (rd->skip_bytes > 0 && rd->pos == rd->len) { /* a refused reply's bulk string: dropped */
        size_t take = rd->skip_bytes < len ? (size_t)rd->skip_bytes : len;
        rd->skip_bytes -= take;
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
uint64_t vmux__reader_value_cost(uint64_t bytes)
{
    return bytes + sizeof(vmux_reply) + MALLOC_OVERHEAD + sizeof(vmux_reply *);
}

static bool account(vmux_reader *rd, uint64_t bytes)
{
    rd->reply_bytes += vmux__reader_value_cost(bytes);
    return rd->reply_bytes <= rd->limits.max_buffer;
}

/* The refusals, out of the way of the reads that pass (cold, and not inlined into them). */

/* value took the reply over maxReplyBuffer: freed, and the reply refused. Returns NULL. */
__attribute__((cold, noinline)) static vmux_reply *
over_buffer(vmux_reader *rd, vmux_reply *value, uint64_t rest_bytes, uint64_t rest_values)
{
    vmux_reply_free(value);
    refuse(rd, rest_bytes, rest_values, "reply of %llu+ bytes exceeds maxReplyBuffer %llu",
           (unsigned long long)rd->reply_bytes, (unsigned long long)rd->limits.max_buffer);
    return NULL;
}

/* A bulk string of n bytes over maxBulkLength, its body at body: refused. */
__attribute__((cold, noinline)) static int over_bulk(vmux_reader *rd, const char *body, int64_t n)
{
    consume(rd, body);
    return refuse(rd, (uint64_t)n + 2, 0, "bulk string of %llu bytes exceeds maxBulkLength %llu",
                  (unsigned long long)n, (unsigned long long)rd->limits.max_bulk);
}

/* An array of n elements over maxReplyElements, its header ending at eol: refused. */
__attribute__((cold, noinline)) static int over_elements(vmux_reader *rd, const char *eol,
                                                         int64_t n)
{
    consume(rd, eol + 2);
    return refuse(rd, 0, (uint64_t)n, "array of %llu elements exceeds maxReplyElements %llu",
                  (unsigned long long)n, (unsigned long long)rd->limits.max_elements);
}

/*
 * A new value of bytes, counted; NULL when it cannot be had: the reader failed, or the reply
 * went over maxReplyBuffer and was refused (refuse()): then rest_bytes and rest_values are what
 * is left of the value's item to skip (the value's own bytes consumed).
 */
static vmux_reply *counted_rest(vmux_reader *rd, vmux_reply *value, uint64_t bytes,
                                uint64_t rest_bytes, uint64_t rest_values)
{
    if (value == NULL) {
        reader_fail(rd, VMUX_ERR_NOMEM, "out of memory for a value of %llu bytes",
                    (unsigned long long)bytes);
        return NULL;
    }
    if (!account(rd, bytes))
        return over_buffer(rd, value, rest_bytes, rest_values);
    return value;
}

/* counted_rest() for a value whose item is all consumed. */
static vmux_reply *counted(vmux_reader *rd, vmux_reply *value, uint64_t bytes)
{
    return counted_rest(rd, value, bytes, 0, 0);
}

/* What an item whose value could not be had returns: the failure, or ITEM_REFUSED. */
static int not_had(const vmux_reader *rd)
{
    return rd->failed ? rd->failed : ITEM_REFUSED;
}

/*
 * A large bulk string of n bytes whose body begins at body and has not all come: its value is
 * made now, holding what has come; feed() fills the rest (finish_direct() takes it).
 */
static int start_direct(vmux_reader *rd, const char *body, size_t n)
{
    size_t have = (size_t)(rd->buf + rd->len - body); /* < n + 2, and the CRLF is not in it */
    have = have < n ? have : n;
    consume(rd, body + have); /* the bytes stay where they are until the next feed */
    rd->bulk = counted_rest(rd, vmux__reply_new_str(VMUX_REPLY_STRING, NULL, n), n,
                            (uint64_t)n + 2 - have, 0);
    if (rd->bulk == NULL)
        return not_had(rd);
    memcpy(rd->bulk->str, body, have);
    rd->bulk_have = have;
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
        return (*value = counted(rd, vmux__reply_new_nil(), 0)) ? ITEM_VALUE : not_had(rd);
    }
    if ((uint64_t)n > rd->limits.max_bulk)
        return over_bulk(rd, body, n);
    if ((uint64_t)(end - body) < (uint64_t)n + 2)
        return n >= BULK_DIRECT ? start_direct(rd, body, (size_t)n) : ITEM_MORE;
    if (body[n] != '\r' || body[n + 1] != '\n')
        return reader_fail(rd, VMUX_ERR_PROTOCOL,
                           "Protocol error, bulk string of %llu bytes not ended by CRLF",
                           (unsigned long long)n);
    consume(rd, body + n + 2);
    *value = counted(rd, vmux__reply_new_str(VMUX_REPLY_STRING, body, (size_t)n), (uint64_t)n);
    return *value != NULL ? ITEM_VALUE : not_had(rd);
}

/* An array header [line, eol): nil, an empty array (a value), or an array opened on the stack. */
static int read_array(vmux_reader *rd, const char *line, const char *eol, vmux_reply **value)
{
    int64_t n;
    if (!parse_int64(line, eol, &n) || n < -1)
        return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, bad array length");
    if (n > 0 && (uint64_t)n > rd->limits.max_elements)
        return over_elements(rd, eol, n);
    if (n > 0 && rd->depth >= VMUX_READER_MAX_DEPTH)
        return reader_fail(rd, VMUX_ERR_PROTOCOL, "reply nested deeper than %d levels",
                           VMUX_READER_MAX_DEPTH);
    consume(rd, eol + 2);
    vmux_reply *made = n == -1 ? vmux__reply_new_nil() : vmux__reply_new_array((size_t)n);
    if ((*value = counted_rest(rd, made, 0, 0, n > 0 ? (uint64_t)n : 0)) == NULL)
        return not_had(rd);
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
        return *value != NULL ? ITEM_VALUE : not_had(rd);
    case ':':
        if (!parse_int64(line, eol, &integer))
            return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, bad integer value");
        consume(rd, eol + 2);
        *value = counted(rd, vmux__reply_new_integer(integer), 0);
        return *value != NULL ? ITEM_VALUE : not_had(rd);
    case '$':
        return read_bulk(rd, line, eol, value);
    case '*':
        return read_array(rd, line, eol, value);
    default:
        return bad_type(rd, (unsigned char)*p);
    }
}

/* ---- skipping a refused reply ---- */

/* The rest of a status or error line of a refused reply, dropped as it comes. */
static int skip_line_rest(vmux_reader *rd)
{
    const char *p = rd->buf + rd->pos, *end = rd->buf + rd->len;
    const char *cr = find_crlf(p, end);
    if (cr != NULL) {
        consume(rd, cr + 2);
        rd->skip_line = false;
        return ITEM_VALUE;
    }
    consume(rd, end - (end > p && end[-1] == '\r')); /* all but a CR whose LF may come next */
    return ITEM_MORE;
}

/* The line of a number [line, eol) after type, in a refused reply: its n (-1 for ':'). */
static int skip_number(vmux_reader *rd, char type, const char *line, const char *eol, int64_t *n)
{
    if (!parse_int64(line, eol, n) || (type != ':' && *n < -1))
        return reader_fail(rd, VMUX_ERR_PROTOCOL, "Protocol error, bad %s",
                           type == ':'   ? "integer value"
                           : type == '$' ? "bulk string length"
                                         : "array length");
    if (type == ':')
        *n = -1;
    return 0;
}

/*
 * Skips the item at the cursor of a refused reply: ITEM_VALUE when its header is read (a bulk
 * string's body, a line's rest and an array's elements are left to skip), ITEM_MORE, or a
 * failure. The bytes are checked as read_item() checks them, but nothing is built.
 */
static int skip_item(vmux_reader *rd)
{
    const char *p = rd->buf + rd->pos, *end = rd->buf + rd->len;
    if (p == end)
        return ITEM_MORE;
    if (*p == '+' || *p == '-') {
        consume(rd, p + 1);
        rd->skip_line = true;
        rd->skip_values--;
        return ITEM_VALUE;
    }
    if (*p != ':' && *p != '$' && *p != '*')
        return bad_type(rd, (unsigned char)*p);
    const char *eol = find_eol(rd, p, end);
    if (eol == NULL)
        return read_unended(rd, p, end);
    if ((size_t)(eol - p - 1) > NUMBER_LINE_MAX)
        return number_too_long(rd, *p);
    int64_t n = -1;
    if (skip_number(rd, *p, p + 1, eol, &n) != 0)
        return rd->failed;
    if (*p == '*' && n > 0 && (uint64_t)n > SKIP_VALUES_MAX - rd->skip_values)
        return reader_fail(rd, VMUX_ERR_PROTOCOL,
                           "a reply refused over a limit claims more than %llu values",
                           (unsigned long long)SKIP_VALUES_MAX);
    if (*p == '$' && n > 0 && (uint64_t)n > SKIP_BYTES_MAX)
        return reader_fail(rd, VMUX_ERR_PROTOCOL,
                           "a reply refused over a limit holds a bulk string of %lld bytes",
                           (long long)n);
    consume(rd, eol + 2);
    rd->skip_values--;
    if (*p == '$' && n >= 0)
        rd->skip_bytes = (uint64_t)n + 2;
    else if (*p == '*' && n > 0)
        rd->skip_values += (uint64_t)n;
    return ITEM_VALUE;
}

/* Drops what is left of a refused reply, as far as the bytes held go: ITEM_VALUE once it is all
 * gone, ITEM_MORE, or a failure. */
static int skip_run(vmux_reader *rd)
{
    for (;;) {
        int got = ITEM_VALUE;
        if (rd->skip_bytes > 0) {
            size_t held = rd->len - rd->pos;
            size_t take = rd->skip_bytes < held ? (size_t)rd->skip_bytes : held;
            consume(rd, rd->buf + rd->pos + take);
            rd->skip_bytes -= take;
            if (rd->skip_bytes > 0)
                return ITEM_MORE;
        } else if (rd->skip_line) {
            got = skip_line_rest(rd);
        } else if (rd->skip_values == 0) {
            return ITEM_VALUE;
        } else {
            got = skip_item(rd);
        }
        if (got != ITEM_VALUE)
            return got;
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
    if (buffered + rd->reply_bytes <= rd->limits.max_buffer)
        return 0;
    /* the rest of a large bulk string being filled (its CRLF, then what is held), or the item at
     * the cursor: a status or error line among them, which a script makes as long as it likes,
     * is dropped as it comes (skip_item()) */
    uint64_t bytes = rd->bulk != NULL ? rd->bulk->len - rd->bulk_have + 2 : 0;
    return refuse(rd, bytes, rd->bulk == NULL,
                  "incomplete reply of %llu bytes exceeds maxReplyBuffer %llu",
                  (unsigned long long)buffered, (unsigned long long)rd->limits.max_buffer);
}

/* A refused reply: told until taken, then skipped. 1 once it is all gone, else next()'s answer. */
__attribute__((cold, noinline)) static int refused_reply(vmux_reader *rd)
{
    if (rd->refused)
        return VMUX__READER_REFUSED;
    int got = skip_run(rd);
    if (got != ITEM_VALUE)
        return got == ITEM_MORE ? 0 : rd->failed;
    rd->skipping = rd->halted = false;
    return 1;
}

int vmux__reader_next(vmux_reader *rd, vmux_reply **out)
{
    *out = NULL;
    for (;;) {
        while (!rd->halted) {
            vmux_reply *value = NULL;
            int got = rd->bulk != NULL ? finish_direct(rd, &value) : read_item(rd, &value);
            if (got == ITEM_MORE)
                return check_incomplete(rd);
            if (got == ITEM_OPENED) {
                rd->stack[rd->depth++] = value;
                continue;
            }
            if (got != ITEM_VALUE)
                return got == ITEM_REFUSED ? ITEM_REFUSED : rd->failed;
            /* a finished value: fill its parent, and each parent it completes, up to the root */
            while (rd->depth > 0 && attach(rd, value))
                value = rd->stack[--rd->depth];
            if (rd->failed)
                return rd->failed;
            if (rd->depth == 0) {
                rd->reply_bytes = 0;
                *out = value;
                return 1;
            }
        }
        if (rd->failed)
            return rd->failed;
        int rc = refused_reply(rd); /* halted by a refusal: told, then skipped */
        if (rc != 1)
            return rc;
    }
}

bool vmux__reader_idle(const vmux_reader *rd)
{
    return !rd->failed && !rd->skipping && rd->depth == 0 && rd->bulk == NULL && rd->pos == rd->len;
}

int vmux__reader_peek(const vmux_reader *rd)
{
    if (rd->failed || rd->skipping || rd->depth > 0 || rd->bulk != NULL || rd->pos >= rd->len)
        return -1;
    return (unsigned char)rd->buf[rd->pos];
}

bool vmux__reader_over_limit(const vmux_reader *rd)
{
    return rd->over_limit;
}

void vmux__reader_refuse_over_limit(vmux_reader *rd, bool on)
{
    rd->refusing = on;
}

void vmux__reader_take_refusal(vmux_reader *rd)
{
    VMUX_ASSERT(rd->refused);
    rd->refused = false;
    vmux_reply_free(rd->part);
    rd->part = NULL;
}

const vmux_reply *vmux__reader_refused_part(const vmux_reader *rd)
{
    return rd->refused ? rd->part : NULL;
}

const char *vmux__reader_error(const vmux_reader *rd)
{
    return rd->error;
}

uint64_t vmux__reader_scanned(const vmux_reader *rd)
{
    return rd->scanned;
}
