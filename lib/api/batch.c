/*
 * Batches (batch.h): the caller's commands, copied into one buffer as they are added, and run as
 * one internal batch (mux/batch.h) with each part routed as vmux_call() routes a command.
 */
#include "vmux/batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/errbuf.h"
#include "core/op.h"
#include "core/reply_internal.h"
#include "core/shareable.h"
#include "core/sized.h"
#include "mux/batch.h"
#include "mux/handle.h"
#include "core/explain.h"
#include "core/why.h"
#include "vmux/error.h"

/* Every argument's bytes back to back in data; arglen[k] for argument k; argc[i] for command i. */
struct vmux_batch {
    char *data;
    size_t len, cap;
    size_t *arglen;
    size_t nargs, acap;
    int *argc;
    size_t n, ncap;
};

int vmux_batch_new(vmux_batch **out)
{
    vmux__why_begin();
    if (out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "out is NULL");
    *out = calloc(1, sizeof(**out));
    return vmux__why_end(*out != NULL ? 0 : VMUX_ERR_NOMEM);
}

void vmux_batch_free(vmux_batch *b)
{
    if (b == NULL)
        return;
    free(b->data);
    free(b->arglen);
    free(b->argc);
    free(b);
}

size_t vmux_batch_count(const vmux_batch *b)
{
    return b != NULL ? b->n : 0;
}

void vmux_batch_clear(vmux_batch *b)
{
    if (b != NULL)
        b->len = b->nargs = b->n = 0;
}

/* Makes room for want elements of size each in *p (capacity *cap); false when out of memory. */
static bool reserve(void **p, size_t *cap, size_t want, size_t each)
{
    if (want <= *cap)
        return true;
    size_t cap2 = *cap > 0 ? *cap : 16;
    while (cap2 < want)
        cap2 = cap2 > SIZE_MAX / 2 ? want : cap2 * 2;
    if (cap2 > SIZE_MAX / each)
        return false;
    void *q = realloc(*p, cap2 * each);
    if (q == NULL)
        return false;
    *p = q;
    *cap = cap2;
    return true;
}

static size_t arg_len(const char *const *argv, const size_t *argvlen, int i)
{
    return argvlen != NULL ? argvlen[i] : strlen(argv[i]);
}

/* Checks the arguments and sums their bytes into *bytes: 0, or VMUX_ERR_INVALID_ARG with words
 * for vmux_last_error(). */
static int check_args(int argc, const char *const *argv, const size_t *argvlen, size_t *bytes)
{
    *bytes = 0;
    int rc = vmux__why_argv(argc, argv, argvlen);
    for (int i = 0; rc == 0 && i < argc; i++) {
        size_t len = argv[i] != NULL ? arg_len(argv, argvlen, i) : 0;
        if (len > SIZE_MAX - *bytes)
            return vmux__why_set(VMUX_ERR_INVALID_ARG,
                                 "argvlen[%d] is %zu: the arguments' lengths add up past SIZE_MAX",
                                 i, len);
        *bytes += len;
    }
    return rc;
}

/* vmux_batch_add() but for clearing and ending its words. */
static int batch_add(vmux_batch *b, int argc, const char *const *argv, const size_t *argvlen)
{
    size_t bytes;
    uint32_t flags = 0;
    if (b == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "b is NULL");
    int rc = check_args(argc, argv, argvlen, &bytes);
    if (rc != 0)
        return rc;
    if (vmux__classify(argc, argv, argvlen, &flags) != 0)
        return vmux__why_unsupported(argc, argv, argvlen, NULL);
    if (flags & VMUX_OP_BLOCKING)
        return vmux__why_unsupported(argc, argv, argvlen,
                                     "blocks on the server: it would hold the batch's connection");
    if (bytes > SIZE_MAX - b->len || !reserve((void **)&b->data, &b->cap, b->len + bytes, 1) ||
        !reserve((void **)&b->arglen, &b->acap, b->nargs + (size_t)argc, sizeof *b->arglen) ||
        !reserve((void **)&b->argc, &b->ncap, b->n + 1, sizeof *b->argc))
        return VMUX_ERR_NOMEM;
    for (int i = 0; i < argc; i++) {
        size_t len = argv[i] != NULL ? arg_len(argv, argvlen, i) : 0;
        if (len > 0)
            memcpy(b->data + b->len, argv[i], len);
        b->len += len;
        b->arglen[b->nargs++] = len;
    }
    b->argc[b->n++] = argc;
    return 0;
}

int vmux_batch_add(vmux_batch *b, int argc, const char *const *argv, const size_t *argvlen)
{
    vmux__why_begin();
    return vmux__why_end(batch_add(b, argc, argv, argvlen));
}

/*
 * What one run of b hands the internal batch: a part per command whose argv points into b's
 * buffer, and (for a synchronous run) room for the results. One allocation.
 *
 * Each run encodes b's arguments into ops of their own, a second copy of every value besides
 * b's: a run cannot take b's bytes, which stay b's (b may be run again, by several threads at
 * once), and an op holds its command in its own allocation (core/op.h), which the connections
 * own and free. Sharing them would take a reference-counted buffer that ops point into.
 */
struct run {
    struct vmux_part *parts;
    const char **ptrs;
    struct vmux_part_result *results;
};

static int run_new(const vmux_batch *b, struct run *r)
{
    size_t n = b->n;
    if (n > SIZE_MAX / (sizeof *r->parts + sizeof *r->results) ||
        b->nargs > (SIZE_MAX - n * (sizeof *r->parts + sizeof *r->results)) / sizeof *r->ptrs)
        return VMUX_ERR_NOMEM;
    r->parts = malloc(n * (sizeof *r->parts + sizeof *r->results) + b->nargs * sizeof *r->ptrs);
    if (r->parts == NULL)
        return VMUX_ERR_NOMEM;
    r->results = (struct vmux_part_result *)(r->parts + n);
    r->ptrs = (const char **)(r->results + n);
    const char *at = b->data != NULL ? b->data : ""; /* no bytes at all: empty arguments */
    for (size_t k = 0; k < b->nargs; k++) {
        r->ptrs[k] = at;
        at += b->arglen[k];
    }
    for (size_t i = 0, k = 0; i < n; k += (size_t)b->argc[i], i++)
        r->parts[i] =
            (struct vmux_part){b->argc[i], r->ptrs + k, b->arglen + k, VMUX_OP_SLOT_UNSET};
    return 0;
}

/* The caller's error buffer, if opts has one (read only as far as its size goes, abi.h): "command
 * i: " and what vmux_call() would say of the command (core/explain.h). */
static void explain_command(const vmux_callopts *opts, size_t i, int status,
                            const vmux_reply *reply)
{
    vmux_callopts o;
    if (opts == NULL || vmux__sized_in(&o, sizeof o, opts) != 0 || o.errbuf == NULL ||
        o.errlen == 0)
        return;
    vmux__errbuf_set(o.errbuf, o.errlen, "command %zu: ", i);
    size_t at = strlen(o.errbuf);
    vmux__explain(o.errbuf + at, o.errlen - at, status, reply);
}

/* Whether opts asks for VMUX_CALL_BLOCKING, which a batch refuses (blocking_words). */
static bool asks_blocking(const vmux_callopts *opts)
{
    vmux_callopts o;
    return opts != NULL && vmux__sized_in(&o, sizeof o, opts) == 0 &&
           (o.flags & VMUX_CALL_BLOCKING) != 0;
}

static const char blocking_words[] =
    "opts->flags has VMUX_CALL_BLOCKING, which a batch refuses: each command would take a "
    "blocking-pool connection of its own, and the batch would arrive out of order (a batch holds "
    "no blocking command: vmux_batch_add())";

/* The caller's error buffer, if opts has one: "invalid argument: " and words, of the whole batch
 * (no one command is to blame). */
static void explain_batch(const vmux_callopts *opts, const char *words)
{
    vmux_callopts o;
    if (opts != NULL && vmux__sized_in(&o, sizeof o, opts) == 0)
        vmux__errbuf_set(o.errbuf, o.errlen, "invalid argument: %s", words);
}

/* A refused batch: every command's outcome is the refusal. The door's words (VMUX_ERR_BACKLOG_FULL:
 * the bound the whole batch met, mux/batch.c) are about no one command. */
static int refuse(const vmux_callopts *opts, int rc, size_t n, int *statuses, vmux_reply **replies)
{
    for (size_t i = 0; i < n; i++) {
        if (statuses != NULL)
            statuses[i] = rc;
        if (replies != NULL)
            replies[i] = NULL;
    }
    if (rc != VMUX_ERR_BACKLOG_FULL)
        explain_command(opts, 0, rc, NULL);
    return rc;
}

/* Hands the results to the caller's arrays (or frees the replies); the first failure's code. */
static int deliver(const vmux_callopts *opts, size_t n, struct vmux_part_result *results,
                   int *statuses, vmux_reply **replies)
{
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        if (first == 0 && results[i].status != 0) {
            first = results[i].status;
            explain_command(opts, i, first, results[i].reply);
        }
        if (statuses != NULL)
            statuses[i] = results[i].status;
        /* Words for errbuf only, as vmux_call(): not a reply for the caller. */
        int st = results[i].status;
        if (vmux__words_code(st)) {
            vmux_reply_free(results[i].reply);
            results[i].reply = NULL;
        }
        if (replies != NULL)
            replies[i] = results[i].reply;
        else
            vmux_reply_free(results[i].reply);
    }
    return first;
}

/* Words for a batch refused for b itself (NULL, or holding no command), or "" when b is sound. */
static const char *batch_words(const vmux_batch *b)
{
    if (b == NULL)
        return "b is NULL";
    return b->n == 0 ? "b holds no command (vmux_batch_add() adds them)" : "";
}

int vmux_batch_exec(vmux *m, const vmux_callopts *opts, const vmux_batch *b, int *statuses,
                    vmux_reply **replies)
{
    uint64_t start_ns = uv_hrtime(); /* the deadline's start: batch.h, from submission */
    if (b == NULL || b->n == 0) {
        explain_batch(opts, batch_words(b));
        return VMUX_ERR_INVALID_ARG;
    }
    if (m != NULL && !vmux__hold(m)) /* until the parts are handed over (vmux_close() waits) */
        return refuse(opts, VMUX_ERR_CLOSED, b->n, statuses, replies);
    if (m != NULL && vmux__sync_refused_on_io(m, NULL)) { /* it would wait for itself */
        int rc = refuse(opts, VMUX_ERR_INVALID_ARG, b->n, statuses, replies);
        vmux_callopts o = vmux__callopts_copy(opts); /* read as far as the caller's size goes */
        (void)vmux__sync_refused_on_io(m, &o);       /* its words, over refuse()'s */
        vmux__leave(m);
        return rc;
    }
    struct run r;
    const char *why = m == NULL             ? "the handle is NULL"
                      : asks_blocking(opts) ? blocking_words
                                            : NULL;
    int rc = why == NULL ? run_new(b, &r) : VMUX_ERR_INVALID_ARG;
    if (rc != 0) {
        if (m != NULL)
            vmux__leave(m);
        rc = refuse(opts, rc, b->n, statuses, replies);
        if (why != NULL)
            explain_batch(opts, why); /* over refuse()'s "command 0: " */
        return rc;
    }
    rc = vmux__batch_call_held(m, opts, r.parts, b->n, start_ns, r.results); /* lets go of m */
    if (rc != 0) {
        rc = refuse(opts, rc, b->n, statuses, replies);
        if (rc == VMUX_ERR_INVALID_ARG)
            vmux__batch_opts_why(opts); /* the options, not command 0: over refuse()'s words */
    } else {
        rc = deliver(opts, b->n, r.results, statuses, replies);
    }
    free(r.parts);
    return rc;
}

/* An asynchronous run: the caller's callback and the arrays it gets, in one allocation. */
struct async_run {
    vmux_batch_cb cb;
    void *userdata;
    int *statuses;
    vmux_reply **replies;
};

/*
 * The reply a command of an async batch that failed unsent or lost (core/explain.h's codes) gives
 * the callback, which has no error buffer and one vmux_last_error() for all its commands: an
 * error reply holding what vmux_batch_exec() puts in its error buffer for that command
 * (vmux__explain(): the code's description, and the why its op brought, VMUX_OP_TELL_WHY, which
 * is freed). Any other outcome's reply as it is. NULL when memory ran out. I/O thread, failure
 * path only.
 */
static vmux_reply *worded(int status, vmux_reply *reply)
{
    if (!vmux__words_code(status))
        return reply;
    char words[VMUX_REASON_SIZE + 128];
    vmux__explain(words, sizeof words, status, reply);
    vmux_reply_free(reply);
    return vmux__reply_new_str(VMUX_REPLY_ERROR, words, strlen(words));
}

static void async_done(size_t n, struct vmux_part_result *results, void *userdata)
{
    struct async_run *a = userdata;
    for (size_t i = 0; i < n; i++) {
        a->statuses[i] = results[i].status;
        a->replies[i] = worded(results[i].status, results[i].reply);
    }
    a->cb(n, a->statuses, a->replies, a->userdata);
    free(a);
}

static struct async_run *async_new(size_t n, vmux_batch_cb cb, void *userdata)
{
    size_t each = sizeof(vmux_reply *) + sizeof(int);
    if (n > (SIZE_MAX - sizeof(struct async_run)) / each)
        return NULL;
    struct async_run *a = malloc(sizeof *a + n * each);
    if (a == NULL)
        return NULL;
    a->cb = cb;
    a->userdata = userdata;
    a->replies = (vmux_reply **)(a + 1); /* pointers first: ints need no more alignment */
    a->statuses = (int *)(a->replies + n);
    return a;
}

int vmux_batch_exec_async(vmux *m, const vmux_callopts *opts, const vmux_batch *b, vmux_batch_cb cb,
                          void *userdata)
{
    uint64_t start_ns = uv_hrtime(); /* the deadline's start */
    if (m == NULL || b == NULL || b->n == 0 || cb == NULL || asks_blocking(opts)) {
        explain_batch(opts, m == NULL                ? "the handle is NULL"
                            : b == NULL || b->n == 0 ? batch_words(b)
                            : cb == NULL             ? "cb is NULL"
                                                     : blocking_words);
        return VMUX_ERR_INVALID_ARG;
    }
    if (!vmux__hold(m)) /* until the parts are handed over (vmux_close() waits) */
        return VMUX_ERR_CLOSED;
    struct run r;
    struct async_run *a = async_new(b->n, cb, userdata);
    int rc = a != NULL ? run_new(b, &r) : VMUX_ERR_NOMEM;
    if (rc == 0) {
        /* lets go of m; a command unsent or lost brings why, its reply's words (worded()) */
        rc = vmux__batch_async_held(m, opts, r.parts, b->n, start_ns, async_done, a);
        free(r.parts);
    } else {
        vmux__leave(m);
    }
    if (rc != 0)
        free(a); /* refused: async_done never runs */
    return rc;
}
