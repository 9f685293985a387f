#include "core/reader.h"

#include <hiredis/read.h>
#include <hiredis/sds.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reply_internal.h"
#include "vmux/error.h"

struct vmux_reader {
    redisReader *hr;
    struct vmux_reader_limits limits;
    uint64_t reply_bytes; /* memory held by the reply being built */
    int failed;           /* 0, or the VMUX_ERR_* code the reader failed with */
    char error[160];      /* why it failed */
};

static void reader_fail(vmux_reader *rd, int code, const char *fmt, unsigned long long value,
                        unsigned long long limit)
{
    if (rd->failed)
        return;
    rd->failed = code;
    snprintf(rd->error, sizeof(rd->error), fmt, value, limit);
}

/*
 * Counts the memory a value adds to the reply being built: many small elements must not get
 * around the limits that bound one large one.
 */
static bool account(vmux_reader *rd, uint64_t bytes)
{
    rd->reply_bytes += bytes + sizeof(vmux_reply) + sizeof(vmux_reply *);
    if (rd->reply_bytes <= rd->limits.max_buffer)
        return true;
    reader_fail(rd, VMUX_ERR_PROTOCOL, "reply of %llu+ bytes exceeds maxReplyBuffer %llu",
                rd->reply_bytes, rd->limits.max_buffer);
    return false;
}

/* Links a new value into its parent array; on failure the value is freed and NULL returned. */
static void *attach(const redisReadTask *task, vmux_reply *value, uint64_t bytes)
{
    if (value == NULL)
        return NULL;
    if (!account(task->privdata, bytes)) {
        vmux_reply_free(value);
        return NULL;
    }
    if (task->parent != NULL &&
        vmux__reply_array_set(task->parent->obj, (size_t)task->idx, value) != 0) {
        vmux_reply_free(value);
        return NULL;
    }
    return value;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    vmux_reader *rd = task->privdata;
    if (task->type == REDIS_REPLY_STRING && len > rd->limits.max_bulk) {
        reader_fail(rd, VMUX_ERR_PROTOCOL, "bulk string of %llu bytes exceeds maxBulkLength %llu",
                    len, rd->limits.max_bulk);
        return NULL;
    }
    vmux_reply_kind kind = task->type == REDIS_REPLY_STATUS  ? VMUX_REPLY_STATUS
                           : task->type == REDIS_REPLY_ERROR ? VMUX_REPLY_ERROR
                                                             : VMUX_REPLY_STRING;
    return attach(task, vmux__reply_new_str(kind, str, len), len);
}

static void *create_array(const redisReadTask *task, int elements)
{
    vmux_reader *rd = task->privdata;
    if (elements < 0 || (uint64_t)elements > rd->limits.max_elements) {
        reader_fail(rd, VMUX_ERR_PROTOCOL, "array of %llu elements exceeds maxReplyElements %llu",
                    (unsigned long long)(long long)elements, rd->limits.max_elements);
        return NULL;
    }
    return attach(task, vmux__reply_new_array((size_t)elements), 0);
}

static void *create_integer(const redisReadTask *task, long long value)
{
    return attach(task, vmux__reply_new_integer(value), 0);
}

static void *create_nil(const redisReadTask *task)
{
    return attach(task, vmux__reply_new_nil(), 0);
}

static void free_object(void *obj)
{
    vmux_reply_free(obj);
}

static redisReplyObjectFunctions reply_functions = {
    create_string, create_array, create_integer, create_nil, free_object,
};

vmux_reader *vmux__reader_new(const struct vmux_reader_limits *limits)
{
    vmux_reader *rd = calloc(1, sizeof(*rd));
    if (rd == NULL)
        return NULL;
    rd->hr = redisReaderCreateWithFunctions(&reply_functions);
    if (rd->hr == NULL) {
        free(rd);
        return NULL;
    }
    rd->limits = *limits;
    rd->hr->privdata = rd; /* hiredis's macro for this casts a pointer to int */
    return rd;
}

void vmux__reader_free(vmux_reader *rd)
{
    if (rd == NULL)
        return;
    redisReaderFree(rd->hr);
    free(rd);
}

void vmux__reader_wipe(vmux_reader *rd)
{
    if (rd == NULL || rd->hr->buf == NULL)
        return;
    redisReader *hr = rd->hr;
    OPENSSL_cleanse(hr->buf, hr->pos);
    OPENSSL_cleanse(hr->buf + hr->len, sdsavail(hr->buf));
}

/* Adopts hiredis's own error, unless one of our limits already explained it. */
static int take_hiredis_error(vmux_reader *rd)
{
    if (!rd->failed) {
        rd->failed = rd->hr->err == REDIS_ERR_OOM ? VMUX_ERR_NOMEM : VMUX_ERR_PROTOCOL;
        snprintf(rd->error, sizeof(rd->error), "%s", rd->hr->errstr);
    }
    return rd->failed;
}

int vmux__reader_feed(vmux_reader *rd, const char *buf, size_t len)
{
    if (rd->failed)
        return rd->failed;
    if (redisReaderFeed(rd->hr, buf, len) != REDIS_OK)
        return take_hiredis_error(rd);
    return 0;
}

/*
 * hiredis waits for a bulk string's whole body before it looks at its length, so a header such
 * as "$9223372036854775807" would make it buffer forever. While a bulk is incomplete, its
 * length line sits at the reader's cursor: read it there and refuse oversized ones at once.
 */
static int check_pending_bulk(vmux_reader *rd)
{
    redisReader *hr = rd->hr;
    if (hr->ridx < 0 || hr->rstack[hr->ridx].type != REDIS_REPLY_STRING)
        return 0;
    const char *p = hr->buf + hr->pos;
    size_t avail = hr->len - hr->pos;
    unsigned long long n = 0;
    size_t i = 0;
    if (i < avail && p[i] == '-')
        return 0; /* nil bulk: hiredis handles it */
    for (; i < avail && p[i] >= '0' && p[i] <= '9'; i++) {
        if (n > rd->limits.max_bulk)
            break;
        n = n * 10 + (unsigned long long)(p[i] - '0');
    }
    if (n > rd->limits.max_bulk) {
        reader_fail(rd, VMUX_ERR_PROTOCOL, "bulk string of %llu+ bytes exceeds maxBulkLength %llu",
                    n, rd->limits.max_bulk);
        return rd->failed;
    }
    return 0;
}

static int check_incomplete(vmux_reader *rd)
{
    uint64_t buffered = rd->hr->len - rd->hr->pos;
    if (buffered + rd->reply_bytes > rd->limits.max_buffer) {
        reader_fail(rd, VMUX_ERR_PROTOCOL,
                    "incomplete reply of %llu bytes exceeds maxReplyBuffer %llu", buffered,
                    rd->limits.max_buffer);
        return rd->failed;
    }
    return check_pending_bulk(rd);
}

int vmux__reader_next(vmux_reader *rd, vmux_reply **out)
{
    *out = NULL;
    if (rd->failed)
        return rd->failed;
    void *reply = NULL;
    if (redisReaderGetReply(rd->hr, &reply) != REDIS_OK)
        return take_hiredis_error(rd);
    if (reply == NULL)
        return check_incomplete(rd);
    rd->reply_bytes = 0;
    *out = reply;
    return 1;
}

/* Whether no reply is half built: hiredis sets up its first task (type -1, not yet read) even
 * when it is asked for a reply before any byte of it came. */
static bool between_replies(const redisReader *hr)
{
    return hr->ridx < 0 || (hr->ridx == 0 && hr->rstack[0].type < 0);
}

bool vmux__reader_idle(const vmux_reader *rd)
{
    return !rd->failed && between_replies(rd->hr) && rd->hr->pos == rd->hr->len;
}

int vmux__reader_peek(const vmux_reader *rd)
{
    const redisReader *hr = rd->hr;
    if (rd->failed || !between_replies(hr) || hr->pos >= hr->len)
        return -1;
    return (unsigned char)hr->buf[hr->pos];
}

const char *vmux__reader_error(const vmux_reader *rd)
{
    return rd->error;
}
