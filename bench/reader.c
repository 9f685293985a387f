/*
 * vmux-reader-bench: the reply reader (lib/core/reader.c) against hiredis's reader, in the same
 * process on the same bytes (docs/benchmarks.md, "The reply reader"). Each workload is a stream
 * of replies fed in 16 KiB pieces, as reads from a socket come, and parsed into values that are
 * then freed; hiredis builds its own redisReply values with its default functions. Prints the
 * median of --rounds rounds of each, in ns per reply, and the ratio vmux / hiredis.
 *
 *   vmux-reader-bench [--rounds N]
 */
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/reader.h"
#include "median.h"

enum { PIECE = 16 * 1024, MAX_ROUNDS = 99 };

struct workload {
    const char *name;
    char *bytes;
    size_t len, replies;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A stream of n copies of one reply. */
static struct workload repeat(const char *name, const char *reply, size_t rlen, size_t n)
{
    struct workload w = {name, malloc(rlen * n), rlen * n, n};
    if (w.bytes == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        memcpy(w.bytes + i * rlen, reply, rlen);
    return w;
}

/* An array of 10 bulk strings of 8 bytes (an MGET's or a HGETALL's reply). */
static struct workload arrays(size_t n)
{
    char one[256] = "*10\r\n";
    for (int i = 0; i < 10; i++)
        strcat(one, "$8\r\nvalue-00\r\n");
    return repeat("array of 10 bulk", one, strlen(one), n);
}

/* A bulk string of size bytes. */
static struct workload big(size_t size, size_t n)
{
    char head[32];
    int h = snprintf(head, sizeof head, "$%zu\r\n", size);
    size_t rlen = (size_t)h + size + 2;
    char *one = malloc(rlen);
    if (one == NULL)
        exit(1);
    memcpy(one, head, (size_t)h);
    memset(one + h, 'v', size);
    memcpy(one + h + size, "\r\n", 2);
    struct workload w = repeat("bulk of 1 MiB", one, rlen, n);
    free(one);
    return w;
}

static double run_vmux(const struct workload *w)
{
    struct vmux_reader_limits lim = {1u << 30, 1u << 24, (1u << 30) + 1};
    vmux_reader *rd = vmux__reader_new(&lim);
    size_t got = 0;
    uint64_t t0 = now_ns();
    for (size_t pos = 0; pos < w->len; pos += PIECE) {
        size_t n = w->len - pos < PIECE ? w->len - pos : PIECE;
        if (vmux__reader_feed(rd, w->bytes + pos, n) != 0)
            exit(2);
        vmux_reply *r;
        while (vmux__reader_next(rd, &r) == 1) {
            vmux_reply_free(r);
            got++;
        }
    }
    uint64_t t = now_ns() - t0;
    vmux__reader_free(rd);
    if (got != w->replies)
        exit(3);
    return (double)t / (double)got;
}

static double run_hiredis(const struct workload *w)
{
    redisReader *rd = redisReaderCreate(); /* its default maxbuf, as vmux used it */
    size_t got = 0;
    uint64_t t0 = now_ns();
    for (size_t pos = 0; pos < w->len; pos += PIECE) {
        size_t n = w->len - pos < PIECE ? w->len - pos : PIECE;
        if (redisReaderFeed(rd, w->bytes + pos, n) != REDIS_OK)
            exit(2);
        void *r;
        while (redisReaderGetReply(rd, &r) == REDIS_OK && r != NULL) {
            freeReplyObject(r);
            got++;
        }
    }
    uint64_t t = now_ns() - t0;
    redisReaderFree(rd);
    if (got != w->replies)
        exit(3);
    return (double)t / (double)got;
}

int main(int argc, char **argv)
{
    int rounds = 7;
    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = atoi(argv[2]);
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: vmux-reader-bench [--rounds 1..%d]\n", MAX_ROUNDS);
        return 1;
    }
    struct workload w[] = {
        repeat("status +OK", "+OK\r\n", 5, 2000000),
        repeat("bulk of 16", "$16\r\n0123456789abcdef\r\n", 23, 2000000),
        repeat("integer", ":1234567\r\n", 10, 2000000),
        arrays(200000),
        big(1u << 20, 200),
    };
    printf("%-20s %12s %12s %8s\n", "workload", "vmux ns", "hiredis ns", "ratio");
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        double v[MAX_ROUNDS], h[MAX_ROUNDS];
        for (int r = 0; r < rounds; r++) { /* alternated, so drift hits both alike */
            v[r] = run_vmux(&w[i]);
            h[r] = run_hiredis(&w[i]);
        }
        double mv = bench_median(v, rounds), mh = bench_median(h, rounds);
        printf("%-20s %12.1f %12.1f %8.2f\n", w[i].name, mv, mh, mv / mh);
        free(w[i].bytes);
    }
    return 0;
}
