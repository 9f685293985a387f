/*
 * hiredis-sync: hiredis's own blocking client, one connection per thread. This is what a C
 * program without a multiplexer does today, and the baseline vmux-sync is compared with.
 */
#include "bench.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>

static int hiredis_op(void *ctx, const bench_cmd *c)
{
    redisContext *rc = ctx;
    /* hiredis 0.14 takes a non-const argv array. */
    const char *argv[3] = {c->argv[0], c->argv[1], c->argv[2]};
    redisReply *reply = redisCommandArgv(rc, c->argc, argv, c->argvlen);
    if (!reply) {
        fprintf(stderr, "vmux-bench: hiredis-sync: %s\n", rc->errstr);
        return -1;
    }
    int bad = reply->type == REDIS_REPLY_ERROR;
    if (bad)
        fprintf(stderr, "vmux-bench: hiredis-sync: server error: %s\n", reply->str);
    freeReplyObject(reply);
    return bad ? -1 : 0;
}

static void free_contexts(redisContext **ctx, int n)
{
    for (int i = 0; i < n; i++)
        if (ctx[i])
            redisFree(ctx[i]);
    free(ctx);
}

int run_hiredis_sync(const bench_opts *o, int threads, bench_result *r)
{
    redisContext **ctx = calloc((size_t)threads, sizeof(*ctx));
    if (!ctx) {
        fprintf(stderr, "vmux-bench: out of memory\n");
        return -1;
    }
    for (int i = 0; i < threads; i++) {
        struct timeval tv = {BENCH_IO_TIMEOUT_S, 0};
        ctx[i] = redisConnect(o->host, o->port);
        /* A stalled server fails the row instead of hanging the bench. */
        if (!ctx[i] || ctx[i]->err || redisSetTimeout(ctx[i], tv) != REDIS_OK) {
            fprintf(stderr, "vmux-bench: hiredis-sync: connect %s:%d: %s\n", o->host, o->port,
                    ctx[i] ? ctx[i]->errstr : "out of memory");
            free_contexts(ctx, threads);
            return -1;
        }
    }
    r->name = "hiredis-sync";
    r->threads = threads;
    r->inflight = threads;
    int rc = drive_sync(o, threads, hiredis_op, (void *const *)ctx, r);
    free_contexts(ctx, threads);
    return rc;
}
