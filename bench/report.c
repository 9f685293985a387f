#include "report.h"

#include "median.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void report_header(const bench_opts *o, const char *server_note, const char *tls_note,
                   const char *cluster_note)
{
    /* In JSON mode stdout carries only JSON; the context goes to stderr. */
    FILE *f = o->json ? stderr : stdout;
    fprintf(f,
            "vmux-bench: %s; %.1f s per configuration after %.1f s warm-up; GET/SET 50/50, "
            "%d-byte values, %d keys\n",
            server_note, o->seconds, o->warmup, BENCH_VALUE_LEN, BENCH_KEYSPACE);
    if (tls_note[0])
        fprintf(f, "vmux-bench: %s\n", tls_note);
    if (cluster_note[0])
        fprintf(f, "vmux-bench: %s\n", cluster_note);
    if (!o->json) {
        /* Written out: printf pads bytes, and "µ" takes two. */
        printf("\nname                  threads  inflight        ops/s     p50 µs     p99 µs  "
               "cpu µs/op    cs/op   io µs/op\n");
        fflush(stdout);
    }
}

void report_note(const bench_opts *o, const char *line)
{
    if (o->json)
        fprintf(stderr, "vmux-bench: %s\n", line);
    else
        printf("%s\n", line);
    fflush(stdout);
}

/* A netlat row's fields beyond the common ones, before the closing brace. */
static void netlat_json(const bench_result *r)
{
    printf(",\"delay\":\"%s\",\"rtt_us\":%d", r->delay, r->rtt_us);
    if (isnan(r->proxy_cpu_us_per_op))
        return;
    printf(",\"proxy_cpu_us_per_op\":%.2f,\"proxy_spin_us_per_op\":%.2f,"
           "\"proxy_chunks_per_op\":%.4f",
           r->proxy_cpu_us_per_op, r->proxy_spin_us_per_op, r->proxy_chunks_per_op);
    if (!isnan(r->proxy_hold_p50_us))
        printf(",\"proxy_hold_p50_us\":%.0f,\"proxy_hold_p99_us\":%.0f", r->proxy_hold_p50_us,
               r->proxy_hold_p99_us);
}

/* Under a netlat row of the table: its delay, and what the proxy did if there is one. */
static void netlat_text(const bench_result *r)
{
    printf("    delay: %s, %d µs round trip", r->delay, r->rtt_us);
    if (!isnan(r->proxy_cpu_us_per_op))
        printf("; proxy %.2f cpu µs/op (%.2f spinning), %.3f chunks/op", r->proxy_cpu_us_per_op,
               r->proxy_spin_us_per_op, r->proxy_chunks_per_op);
    if (!isnan(r->proxy_hold_p50_us))
        printf(", held a chunk p50 %.0f µs, p99 %.0f µs", r->proxy_hold_p50_us,
               r->proxy_hold_p99_us);
    printf("\n");
}

/* A near-cache-hit row's fields beyond the common ones: the server's tracking table, misses. */
static void near_json(const bench_result *r)
{
    printf(",\"tracking_total_keys_before\":%lld,\"tracking_total_items_before\":%lld,"
           "\"tracking_total_keys\":%lld,\"tracking_total_items\":%lld,\"near_misses\":%llu",
           r->tracking_keys_before, r->tracking_items_before, r->tracking_keys, r->tracking_items,
           r->near_misses);
}

/* Under a near-cache-hit row of the table: the same. */
static void near_text(const bench_result *r)
{
    printf("    server tracking table: %lld keys, %lld items after the fill; %lld keys, %lld "
           "items after the window (%d keys read); near cache misses in the row: %llu\n",
           r->tracking_keys_before, r->tracking_items_before, r->tracking_keys, r->tracking_items,
           BENCH_KEYSPACE, r->near_misses);
}

static void row_json(const bench_result *r)
{
    printf("{\"name\":\"%s\",\"threads\":%d,\"inflight\":%d,\"ops_per_sec\":%.0f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,",
           r->name, r->threads, r->inflight, r->ops_per_sec, r->p50_us, r->p99_us);
    if (isnan(r->cpu_us_per_op))
        printf("\"cpu_us_per_op\":null,\"cs_per_op\":null");
    else
        printf("\"cpu_us_per_op\":%.2f,\"cs_per_op\":%.3f", r->cpu_us_per_op, r->cs_per_op);
    if (!isnan(r->io_cpu_us_per_op))
        printf(",\"io_cpu_us_per_op\":%.2f", r->io_cpu_us_per_op);
    if (r->delay)
        netlat_json(r);
    if (r->tracked)
        near_json(r);
    if (r->round > 0)
        printf(",\"round\":%d", r->round);
    if (r->rounds > 0)
        printf(",\"median_of\":%d", r->rounds);
    printf("}\n");
}

void report_row(const bench_opts *o, const bench_result *r)
{
    if (o->json) {
        row_json(r);
    } else {
        printf("%-21s %7d %9d %12.0f %10.1f %10.1f", r->name, r->threads, r->inflight,
               r->ops_per_sec, r->p50_us, r->p99_us);
        if (isnan(r->cpu_us_per_op))
            printf("  %9s %8s", "-", "-");
        else
            printf("  %9.2f %8.3f", r->cpu_us_per_op, r->cs_per_op);
        if (isnan(r->io_cpu_us_per_op))
            printf(" %10s\n", "-");
        else
            printf(" %10.2f\n", r->io_cpu_us_per_op);
        if (r->delay)
            netlat_text(r);
        if (r->tracked)
            near_text(r);
    }
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

#define NRATIOS 24

typedef struct ratio {
    const char *label;
    const char *target_text;
    double target;
    int at_least;      /* 1: value >= target passes; 0: value <= target passes */
    double value;      /* NAN when a side did not run */
    const char *delay; /* the netlat ratios: how the delay was made; NULL for the others */
} ratio;

/* What a ratio compares: CPU is the whole process's, IO its vmux I/O threads' part, REST the
 * other threads' (the callers': their calls, waits and wake-ups). */
enum measure { OPS, P50, CPU, IO, REST };

static double pick(const bench_result *r, enum measure m)
{
    switch (m) {
    case OPS:
        return r->ops_per_sec;
    case P50:
        return r->p50_us;
    case CPU:
        return r->cpu_us_per_op;
    case IO:
        return r->io_cpu_us_per_op;
    default:
        return r->cpu_us_per_op - r->io_cpu_us_per_op;
    }
}

static double quotient(const bench_result *a, const bench_result *b, enum measure m)
{
    if (!a || !b)
        return NAN;
    double num = pick(a, m), den = pick(b, m);
    return den > 0 ? num / den : NAN;
}

static double p50_of(const bench_result *r)
{
    return r ? r->p50_us : NAN;
}

static double cs_of(const bench_result *r)
{
    return r ? r->cs_per_op : NAN;
}

/* How the delay of a netlat ratio's rows was made. */
static const char *delay_of(const bench_result *a, const bench_result *b)
{
    return a ? a->delay : b ? b->delay : NULL;
}

static void print_ratio_text(const ratio *q)
{
    const char *verdict = isnan(q->value)                                                 ? "n/a"
                          : strcmp(q->target_text, "info") == 0                           ? "-"
                          : (q->at_least ? q->value >= q->target : q->value <= q->target) ? "PASS"
                                                                                          : "MISS";
    if (isnan(q->value))
        printf("%-50s %8s   target %-6s %s", q->label, "-", q->target_text, verdict);
    else
        printf("%-50s %8.2f   target %-6s %s", q->label, q->value, q->target_text, verdict);
    if (q->delay)
        printf("   (delay: %s)", q->delay);
    printf("\n");
}

static void print_ratio_json(const ratio *q, int last)
{
    printf("{\"ratio\":\"%s\",", q->label);
    if (q->delay)
        printf("\"delay\":\"%s\",", q->delay);
    if (isnan(q->value))
        printf("\"value\":null,\"target\":\"%s\",\"pass\":null}", q->target_text);
    else
        printf("\"value\":%.3f,\"target\":\"%s\",\"pass\":%s}", q->value, q->target_text,
               (q->at_least ? q->value >= q->target : q->value <= q->target) ? "true" : "false");
    printf("%s", last ? "" : ",");
}

/* The ratios of the rows all[0..n), into q. */
static void fill_ratios(ratio *q, const bench_result *all, size_t n)
{
    const bench_result *s1 = find(all, n, "vmux-sync", 1, 1),
                       *h1 = find(all, n, "hiredis-sync", 1, 1),
                       *s32 = find(all, n, "vmux-sync", 32, 32),
                       *h32 = find(all, n, "hiredis-sync", 32, 32),
                       *sn = find(all, n, "vmux-sync-net", 32, 32),
                       *hn = find(all, n, "hiredis-sync-net", 32, 32),
                       *an = find(all, n, "vmux-async-net", 1, 1024),
                       *a0 = find(all, n, "vmux-async-net0", 1, 1024),
                       *sn0 = find(all, n, "vmux-sync-net0", 32, 32),
                       *hn0 = find(all, n, "hiredis-sync-net0", 32, 32),
                       *a1024 = find(all, n, "vmux-async", 1, 1024),
                       *ac = find(all, n, "vmux-async-cluster", 1, 1024),
                       *sc = find(all, n, "vmux-sync-cluster", 32, 32),
                       *get8 = find(all, n, "vmux-get", 8, 8),
                       *near1 = find(all, n, "near-cache-hit", 1, 1),
                       *near8 = find(all, n, "near-cache-hit", 8, 8);
    const ratio table[NRATIOS] = {
        {"vmux-async@1024 / raw-pipeline", ">=0.9", 0.9, 1,
         quotient(a1024, find(all, n, "raw-pipeline", 1, 1024), OPS), NULL},
        {"vmux-sync@1 / hiredis-sync@1", ">=0.9", 0.9, 1, quotient(s1, h1, OPS), NULL},
        {"cpu/op vmux-sync@1 / hiredis-sync@1", "<=1.5", 1.5, 0, quotient(s1, h1, CPU), NULL},
        {"vmux-sync@32 / hiredis-sync@32", ">=2", 2.0, 1, quotient(s32, h32, OPS), NULL},
        {"cpu/op vmux-sync@32 / hiredis-sync@32", "<=0.7", 0.7, 0, quotient(s32, h32, CPU), NULL},
        {"cs/op vmux-sync@32", "<=1.3", 1.3, 0, cs_of(s32), NULL},
        {"p50 vmux-sync@1 / p50 hiredis-sync@1", "info", 0, 0, quotient(s1, h1, P50), NULL},
        {"vmux-async-tls@1024 / vmux-async@1024", ">=0.7", 0.7, 1,
         quotient(find(all, n, "vmux-async-tls", 1, 1024), a1024, OPS), NULL},
        {"cpu/op vmux-async-cluster@1024 / vmux-async@1024", "<=1.2", 1.2, 0,
         quotient(ac, a1024, CPU), NULL},
        {"cpu/op vmux-sync-cluster@32 / vmux-sync@32", "<=1.2", 1.2, 0, quotient(sc, s32, CPU),
         NULL},
        {"  of which io thread: cluster / standalone", "info", 0, 0, quotient(sc, s32, IO), NULL},
        {"  of which the callers: cluster / standalone", "info", 0, 0, quotient(sc, s32, REST),
         NULL},
        {"vmux-async-cluster@1024 / vmux-async@1024", "info", 0, 1, quotient(ac, a1024, OPS), NULL},
        {"vmux-sync-cluster@32 / vmux-sync@32", "info", 0, 1, quotient(sc, s32, OPS), NULL},
        {"cache-hit@8 / vmux-get@8", ">=0.85", 0.85, 1,
         quotient(find(all, n, "cache-hit", 8, 8), get8, OPS), NULL},
        {"near-cache-hit@8 / vmux-get@8", ">=20", 20.0, 1, quotient(near8, get8, OPS), NULL},
        {"p50 near-cache-hit@1 (us)", "<=1", 1.0, 0, p50_of(near1), NULL},
        {"p50 near-cache-hit@8 (us)", "<=1", 1.0, 0, p50_of(near8), NULL},
        {"ratelimit-fixed@8 / vmux-incr@8", "info", 0, 1,
         quotient(find(all, n, "ratelimit-fixed", 8, 8), find(all, n, "vmux-incr", 8, 8), OPS),
         NULL},
        {"ratelimit-sliding@8 / vmux-incr@8", "info", 0, 1,
         quotient(find(all, n, "ratelimit-sliding", 8, 8), find(all, n, "vmux-incr", 8, 8), OPS),
         NULL},
        {"ratelimit-gcra@8 / vmux-incr@8", "info", 0, 1,
         quotient(find(all, n, "ratelimit-gcra", 8, 8), find(all, n, "vmux-incr", 8, 8), OPS),
         NULL},
        {"vmux-sync-net@32 / hiredis-sync-net@32", ">=0.9", 0.9, 1, quotient(sn, hn, OPS),
         delay_of(sn, hn)},
        {"vmux-async-net@1024 / vmux-async-net0", ">=0.8", 0.8, 1, quotient(an, a0, OPS),
         delay_of(an, a0)},
        {"vmux-sync-net0@32 / hiredis-sync-net0@32", "info", 0, 1, quotient(sn0, hn0, OPS),
         delay_of(sn0, hn0)},
    };
    memcpy(q, table, sizeof table);
}

static void print_ratios(const bench_opts *o, const ratio *q)
{
    if (o->json) {
        printf("{\"name\":\"ratios\",\"ratios\":[");
        for (int i = 0; i < NRATIOS; i++)
            print_ratio_json(&q[i], i == NRATIOS - 1);
        printf("]}\n");
    } else {
        printf("\n%-50s %8s   %-13s %s\n", "ratio", "value", "target", "verdict");
        for (int i = 0; i < NRATIOS; i++)
            print_ratio_text(&q[i]);
    }
    fflush(stdout);
}

void report_ratios(const bench_opts *o, const bench_result *all, size_t n)
{
    ratio q[NRATIOS];
    fill_ratios(q, all, n);
    print_ratios(o, q);
}

void report_ratios_of_rounds(const bench_opts *o, const bench_result *all, size_t n, int reps)
{
    ratio q[NRATIOS], each[NRATIOS];
    double values[NRATIOS][BENCH_MAX_REPS];
    int counts[NRATIOS] = {0};
    const char *delay[NRATIOS] = {0};
    bench_result *round_rows = calloc(n, sizeof *round_rows);
    if (round_rows == NULL) {
        report_note(o, "vmux-bench: out of memory for the ratios");
        return;
    }
    for (int r = 1; r <= reps; r++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (all[i].round == r)
                round_rows[k++] = all[i];
        fill_ratios(each, round_rows, k);
        for (int j = 0; j < NRATIOS; j++) {
            if (!isnan(each[j].value))
                values[j][counts[j]++] = each[j].value;
            if (each[j].delay != NULL)
                delay[j] = each[j].delay;
        }
    }
    free(round_rows);
    fill_ratios(q, all, 0); /* the labels and targets */
    char line[96];
    snprintf(line, sizeof line, "\neach ratio below: the median of its %d rounds' own ratios",
             reps);
    report_note(o, line);
    for (int j = 0; j < NRATIOS; j++) {
        q[j].value = counts[j] > 0 ? bench_median(values[j], counts[j]) : NAN;
        q[j].delay = delay[j];
    }
    print_ratios(o, q);
}
