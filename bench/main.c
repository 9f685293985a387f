/*
 * vmux-bench: measures vmux against hiredis, a raw pipelined socket and valkey-benchmark, on
 * one server in one run, and prints the ratios the project targets. See docs/benchmarks.md.
 *
 *   vmux-bench [--seconds N] [--warmup N] [--server HOST:PORT] [--only NAME[,NAME...]] [--json]
 */
#include "bench.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_RESULTS 16

typedef struct family {
    unsigned bit;
    const char *name;
    int sizes[4]; /* threads (sync families) or commands in flight (the others) */
    int nsizes;
} family;

static const family FAMILIES[] = {
    {BENCH_FAM_VMUX_SYNC, "vmux-sync", {1, 8, 32, 128}, 4},
    {BENCH_FAM_VMUX_ASYNC, "vmux-async", {1, 64, 1024}, 3},
    {BENCH_FAM_HIREDIS_SYNC, "hiredis-sync", {1, 8, 32}, 3},
    {BENCH_FAM_RAW_PIPELINE, "raw-pipeline", {1024}, 1},
    {BENCH_FAM_VALKEY_BENCHMARK, "valkey-benchmark", {800}, 1},
};
#define NFAMILIES (sizeof(FAMILIES) / sizeof(FAMILIES[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: vmux-bench [options]\n"
               "  --seconds N          measured seconds per configuration (default 3)\n"
               "  --warmup N           unmeasured warm-up seconds per configuration (default 0.5)\n"
               "  --server HOST:PORT   use this (loopback) server instead of starting one\n"
               "  --only NAME[,NAME]   run only these families: vmux-sync, vmux-async,\n"
               "                       hiredis-sync, raw-pipeline, valkey-benchmark\n"
               "  --json               one JSON object per line instead of the table\n");
}

static int parse_families(const char *list, unsigned *out)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    *out = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < NFAMILIES && strcmp(FAMILIES[i].name, tok) != 0)
            i++;
        if (i == NFAMILIES) {
            fprintf(stderr, "vmux-bench: unknown family '%s'\n", tok);
            return -1;
        }
        *out |= FAMILIES[i].bit;
    }
    return *out ? 0 : -1;
}

/* Only loopback servers: the bench floods its target, and nothing else is ours to flood. */
static int parse_server(const char *arg, bench_opts *o)
{
    const char *colon = strrchr(arg, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    size_t hlen = colon ? (size_t)(colon - arg) : 0;
    if (!colon || *end != '\0' || port < 1 || port > 65535 || hlen == 0 ||
        hlen >= sizeof(o->host)) {
        fprintf(stderr, "vmux-bench: --server wants HOST:PORT, got '%s'\n", arg);
        return -1;
    }
    memcpy(o->host, arg, hlen);
    o->host[hlen] = '\0';
    if (strcasecmp(o->host, "localhost") == 0)
        snprintf(o->host, sizeof(o->host), "127.0.0.1");
    if (strncmp(o->host, "127.", 4) != 0) {
        fprintf(stderr, "vmux-bench: --server must be a 127.x.x.x address, got '%s'\n", o->host);
        return -1;
    }
    o->port = (int)port;
    return 0;
}

static int parse_seconds(const char *arg, double *out)
{
    char *end = NULL;
    double v = arg ? strtod(arg, &end) : -1;
    if (!arg || *end != '\0' || v < 0 || v > 3600) {
        fprintf(stderr, "vmux-bench: bad number of seconds '%s'\n", arg ? arg : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_one(int argc, char **argv, int *i, bench_opts *o, bool *have_server)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--json") == 0) {
        o->json = true;
        return 0;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage(stdout);
        exit(0);
    }
    if (!v) {
        fprintf(stderr, "vmux-bench: unknown option or missing value: '%s'\n", a);
        return -1;
    }
    (*i)++;
    if (strcmp(a, "--seconds") == 0)
        return parse_seconds(v, &o->seconds) != 0 || o->seconds <= 0 ? -1 : 0;
    if (strcmp(a, "--warmup") == 0)
        return parse_seconds(v, &o->warmup);
    if (strcmp(a, "--only") == 0)
        return parse_families(v, &o->families);
    if (strcmp(a, "--server") == 0) {
        *have_server = true;
        return parse_server(v, o);
    }
    fprintf(stderr, "vmux-bench: unknown option '%s'\n", a);
    return -1;
}

static int parse_args(int argc, char **argv, bench_opts *o, bool *have_server)
{
    *o = (bench_opts){.host = "127.0.0.1", .seconds = 3.0, .warmup = 0.5, .families = ~0u};
    *have_server = false;
    for (int i = 1; i < argc; i++)
        if (parse_one(argc, argv, &i, o, have_server) != 0) {
            usage(stderr);
            return -1;
        }
    return 0;
}

static int run_config(const bench_opts *o, const family *f, int size, bench_result *r)
{
    switch (f->bit) {
    case BENCH_FAM_VMUX_SYNC:
        return run_vmux_sync(o, size, r);
    case BENCH_FAM_VMUX_ASYNC:
        return run_vmux_async(o, size, r);
    case BENCH_FAM_HIREDIS_SYNC:
        return run_hiredis_sync(o, size, r);
    case BENCH_FAM_RAW_PIPELINE:
        return run_raw_pipeline(o, size, r);
    default:
        return run_valkey_benchmark(o, r);
    }
}

/* Runs every selected configuration; returns how many failed. */
static int run_all(const bench_opts *o, bench_result *results, size_t *nresults)
{
    int failures = 0;
    *nresults = 0;
    for (size_t fi = 0; fi < NFAMILIES; fi++) {
        const family *f = &FAMILIES[fi];
        if (!(o->families & f->bit))
            continue;
        bool sync = f->bit == BENCH_FAM_VMUX_SYNC || f->bit == BENCH_FAM_HIREDIS_SYNC;
        for (int si = 0; si < f->nsizes; si++) {
            bench_result r = {0};
            if (run_config(o, f, f->sizes[si], &r) == 0 && *nresults < MAX_RESULTS) {
                results[(*nresults)++] = r;
                report_row(o, &r);
            } else {
                failures++;
                report_failed(o, f->name, sync ? f->sizes[si] : 1, f->sizes[si]);
            }
        }
    }
    return failures;
}

static int prepare_server(const bench_opts *o, bool have_server, bench_server *srv, char *note,
                          size_t notelen)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (have_server) {
        if (server_wait_ping(o->host, o->port, 0, 5.0) != 0)
            return -1;
        snprintf(note, notelen, "server %s:%d, %ld cores", o->host, o->port, cores);
    } else {
        if (server_start(srv) != 0)
            return -1;
        snprintf(note, notelen,
                 "throwaway valkey-server on 127.0.0.1:%d (pid %d) sharing the %ld cores",
                 srv->port, srv->pid, cores);
    }
    return server_prefill(o->host, have_server ? o->port : srv->port);
}

int main(int argc, char **argv)
{
    bench_opts o;
    bool have_server;
    if (parse_args(argc, argv, &o, &have_server) != 0)
        return 2;
    server_install_signal_handlers();
    bench_server srv = {0};
    char note[160];
    if (prepare_server(&o, have_server, &srv, note, sizeof(note)) != 0) {
        server_stop(&srv);
        return 1;
    }
    if (!have_server)
        o.port = srv.port;
    report_header(&o, note);
    bench_result results[MAX_RESULTS];
    size_t n = 0;
    int failures = run_all(&o, results, &n);
    report_ratios(&o, results, n);
    server_stop(&srv);
    return failures ? 1 : 0;
}
