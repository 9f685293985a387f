#include "report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void report_header(const bench_opts *o, const char *server_note, const char *tls_note)
{
    /* In JSON mode stdout carries only JSON; the context goes to stderr. */
    FILE *f = o->json ? stderr : stdout;
    fprintf(f,
            "vmux-bench: %s; %.1f s per configuration after %.1f s warm-up; GET/SET 50/50, "
            "%d-byte values, %d keys\n",
            server_note, o->seconds, o->warmup, BENCH_VALUE_LEN, BENCH_KEYSPACE);
    if (tls_note[0])
        fprintf(f, "vmux-bench: %s\n", tls_note);
    if (!o->json) {
        /* Written out: printf pads bytes, and "µ" takes two. */
        printf("\nname                  threads  inflight        ops/s     p50 µs     p99 µs\n");
        fflush(stdout);
    }
}

void report_row(const bench_opts *o, const bench_result *r)
{
    if (o->json)
        printf("{\"name\":\"%s\",\"threads\":%d,\"inflight\":%d,\"ops_per_sec\":%.0f,"
               "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
               r->name, r->threads, r->inflight, r->ops_per_sec, r->p50_us, r->p99_us);
    else
        printf("%-21s %7d %9d %12.0f %10.1f %10.1f\n", r->name, r->threads, r->inflight,
               r->ops_per_sec, r->p50_us, r->p99_us);
    fflush(stdout);
}

void report_failed(const bench_opts *o, const char *name, int threads, int inflight)
{
    if (o->json)
        fprintf(stderr, "vmux-bench: %s threads=%d inflight=%d FAILED\n", name, threads, inflight);
    else
        printf("%-21s %7d %9d %12s\n", name, threads, inflight, "FAILED");
    fflush(stdout);
}

static const bench_result *find(const bench_result *all, size_t n, const char *name, int threads,
                                int inflight)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].name, name) == 0 && all[i].threads == threads &&
            all[i].inflight == inflight)
            return &all[i];
    return NULL;
}

#define NRATIOS 8

typedef struct ratio {
    const char *label;
    const char *target_text;
    double target;
    int at_least; /* 1: value >= target passes; 0: value <= target passes */
    double value; /* NAN when a side did not run */
} ratio;

static double quotient(const bench_result *a, const bench_result *b, int latency)
{
    if (!a || !b)
        return NAN;
    double num = latency ? a->p50_us : a->ops_per_sec;
    double den = latency ? b->p50_us : b->ops_per_sec;
    return den > 0 ? num / den : NAN;
}

static void print_ratio_text(const ratio *q)
{
    const char *verdict = isnan(q->value)                                                 ? "n/a"
                          : strcmp(q->target_text, "info") == 0                           ? "-"
                          : (q->at_least ? q->value >= q->target : q->value <= q->target) ? "PASS"
                                                                                          : "MISS";
    if (isnan(q->value))
        printf("%-40s %8s   target %-6s %s\n", q->label, "-", q->target_text, verdict);
    else
        printf("%-40s %8.2f   target %-6s %s\n", q->label, q->value, q->target_text, verdict);
}

static void print_ratio_json(const ratio *q, int last)
{
    printf("{\"ratio\":\"%s\",", q->label);
    if (isnan(q->value))
        printf("\"value\":null,\"target\":\"%s\",\"pass\":null}", q->target_text);
    else
        printf("\"value\":%.3f,\"target\":\"%s\",\"pass\":%s}", q->value, q->target_text,
               (q->at_least ? q->value >= q->target : q->value <= q->target) ? "true" : "false");
    printf("%s", last ? "" : ",");
}

void report_ratios(const bench_opts *o, const bench_result *all, size_t n)
{
    ratio q[NRATIOS] = {
        {"vmux-async@1024 / raw-pipeline", ">=0.6", 0.6, 1,
         quotient(find(all, n, "vmux-async", 1, 1024), find(all, n, "raw-pipeline", 1, 1024), 0)},
        {"vmux-sync@32 / hiredis-sync@32", ">=1.3", 1.3, 1,
         quotient(find(all, n, "vmux-sync", 32, 32), find(all, n, "hiredis-sync", 32, 32), 0)},
        {"p50 vmux-sync@1 / p50 hiredis-sync@1", "<=1.5", 1.5, 0,
         quotient(find(all, n, "vmux-sync", 1, 1), find(all, n, "hiredis-sync", 1, 1), 1)},
        {"vmux-async-tls@1024 / vmux-async@1024", ">=0.7", 0.7, 1,
         quotient(find(all, n, "vmux-async-tls", 1, 1024), find(all, n, "vmux-async", 1, 1024), 0)},
        {"cache-hit@8 / vmux-get@8", ">=0.85", 0.85, 1,
         quotient(find(all, n, "cache-hit", 8, 8), find(all, n, "vmux-get", 8, 8), 0)},
        {"ratelimit-fixed@8 / vmux-incr@8", "info", 0, 1,
         quotient(find(all, n, "ratelimit-fixed", 8, 8), find(all, n, "vmux-incr", 8, 8), 0)},
        {"ratelimit-sliding@8 / vmux-incr@8", "info", 0, 1,
         quotient(find(all, n, "ratelimit-sliding", 8, 8), find(all, n, "vmux-incr", 8, 8), 0)},
        {"ratelimit-gcra@8 / vmux-incr@8", "info", 0, 1,
         quotient(find(all, n, "ratelimit-gcra", 8, 8), find(all, n, "vmux-incr", 8, 8), 0)},
    };
    if (o->json) {
        printf("{\"name\":\"ratios\",\"ratios\":[");
        for (int i = 0; i < NRATIOS; i++)
            print_ratio_json(&q[i], i == NRATIOS - 1);
        printf("]}\n");
    } else {
        printf("\n%-40s %8s   %-13s %s\n", "ratio", "value", "target", "verdict");
        for (int i = 0; i < NRATIOS; i++)
            print_ratio_text(&q[i]);
    }
    fflush(stdout);
}
