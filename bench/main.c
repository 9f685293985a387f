/*
 * vmux-bench: measures vmux against hiredis, a raw pipelined socket and valkey-benchmark, on
 * one server in one run, the same over TLS on a TLS-only server and on a 3-primary cluster, then
 * (as root) across a network namespace with a delay, and prints the ratios the project targets.
 * See docs/benchmarks.md.
 *
 *   vmux-bench [--seconds N] [--warmup N] [--server HOST:PORT] [--only NAME[,NAME...]] [--json]
 *              [--tls-server HOST:PORT --tls-ca FILE [--tls-cert FILE --tls-key FILE]]
 *              [--certs-script FILE] [--latency-us N] [--cluster-primaries N] [--reps N] [--pin]
 */
#include "bench.h"
#include "report.h"
#include "rounds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_RESULTS 32

/* Where the tests keep their certificate generator; CMake passes the source tree's copy. */
#ifndef VMUX_BENCH_CERTS_SCRIPT
#define VMUX_BENCH_CERTS_SCRIPT "tests/support/gen-certs.sh"
#endif

typedef struct family {
    unsigned bit;
    const char *name;
    int sizes[4]; /* threads (sync families) or commands in flight (the others) */
    int nsizes;
} family;

/* Each -tls and -cluster family runs right after its plain twin, so they see the same machine. */
static const family FAMILIES[] = {
    {BENCH_FAM_VMUX_SYNC, "vmux-sync", {1, 8, 32, 128}, 4},
    {BENCH_FAM_VMUX_SYNC_TLS, "vmux-sync-tls", {32}, 1},
    {BENCH_FAM_VMUX_SYNC_CLUSTER, "vmux-sync-cluster", {32}, 1},
    {BENCH_FAM_VMUX_ASYNC, "vmux-async", {1, 64, 1024}, 3},
    {BENCH_FAM_VMUX_ASYNC_TLS, "vmux-async-tls", {1024}, 1},
    {BENCH_FAM_VMUX_ASYNC_CLUSTER, "vmux-async-cluster", {1024}, 1},
    {BENCH_FAM_HIREDIS_SYNC, "hiredis-sync", {1, 8, 32}, 3},
    {BENCH_FAM_RAW_PIPELINE, "raw-pipeline", {1024}, 1},
    {BENCH_FAM_VALKEY_BENCHMARK, "valkey-benchmark", {800}, 1},
    {BENCH_FAM_VALKEY_BENCHMARK_TLS, "valkey-benchmark-tls", {800}, 1},
    {BENCH_FAM_VMUX_GET, "vmux-get", {8}, 1},
    {BENCH_FAM_CACHE_HIT, "cache-hit", {8}, 1},
    {BENCH_FAM_NEAR_HIT, "near-cache-hit", {1, 8}, 2},
    {BENCH_FAM_VMUX_INCR, "vmux-incr", {8}, 1},
    {BENCH_FAM_RL_FIXED, "ratelimit-fixed", {8}, 1},
    {BENCH_FAM_RL_SLIDING, "ratelimit-sliding", {8}, 1},
    {BENCH_FAM_RL_GCRA, "ratelimit-gcra", {8}, 1},
    {BENCH_FAM_LOCK_PAIR, "lock-pair", {8}, 1},
    {BENCH_FAM_NETLAT, "netlat", {0}, 0}, /* its own rows: run_netlat() */
};
#define NFAMILIES (sizeof(FAMILIES) / sizeof(FAMILIES[0]))

/* Everything the options say, beyond the plain rows' bench_opts. */
typedef struct setup {
    bench_opts o;  /* the plain rows, and the settings shared by all rows */
    bench_opts t;  /* the -tls rows: o's settings, the TLS server's host:port, t.tls = &tls */
    bench_tls tls; /* from --tls-ca/--tls-cert/--tls-key, or the generated certificates */
    bench_opts c;  /* the -cluster rows: o's settings, the seed node's port, c.cluster */
    int size;      /* --size: only configurations of this many threads or in flight; 0: all */
    int primaries; /* --cluster-primaries: the -cluster rows' cluster (default 3) */
    int reps;      /* --reps: rounds of the whole selection, reported as medians (default 1) */
    bool have_server;
    bool have_tls_server;
    const char *certs_script;
} setup;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmux-bench [options]\n"
            "  --seconds N          measured seconds per configuration (default 3)\n"
            "  --warmup N           unmeasured warm-up seconds per configuration (default 0.5)\n"
            "  --server HOST:PORT   use this (loopback) server instead of starting one\n"
            "  --tls-server HOST:PORT  use this (loopback) TLS server for the -tls rows\n"
            "  --tls-ca FILE        the CA that signed --tls-server's certificate\n"
            "  --tls-cert FILE      client certificate for --tls-server (with --tls-key)\n"
            "  --tls-key FILE       its private key\n"
            "  --certs-script FILE  the certificate generator for the throwaway TLS server\n"
            "                       (default " VMUX_BENCH_CERTS_SCRIPT ")\n"
            "  --only NAME[,NAME]   run only these families: vmux-sync, vmux-async,\n"
            "                       hiredis-sync, raw-pipeline, valkey-benchmark,\n"
            "                       vmux-sync-tls, vmux-async-tls, valkey-benchmark-tls,\n"
            "                       vmux-sync-cluster, vmux-async-cluster,\n"
            "                       vmux-get, cache-hit, near-cache-hit, vmux-incr,\n"
            "                       ratelimit-fixed, ratelimit-sliding, ratelimit-gcra,\n"
            "                       lock-pair, netlat\n"
            "  --latency-us N       one-way delay of the netlat rows (default 100: a 200 us\n"
            "                       round trip)\n"
            "  --size N             run only the configurations of N threads or N in flight\n"
            "                       (to profile one row, e.g. under callgrind)\n"
            "  --cluster-primaries N  the -cluster rows' cluster: N primaries (1..%d, default\n"
            "                       %d); 1 leaves routing as the only difference from the\n"
            "                       plain rows, 3 adds two connections and two servers\n"
            "  --reps N             run the whole selection N times (1..%d, default 1) and\n"
            "                       report each configuration's medians, and each ratio's\n"
            "                       median over the rounds\n"
            "  --pin                the bench's threads on CPU 0, the servers it starts on\n"
            "                       the others: the client's CPU time without the servers'\n"
            "                       scheduling on its cores (needs 2 CPUs or more)\n"
            "  --json               one JSON object per line instead of the table\n",
            BENCH_CLUSTER_NODES, BENCH_CLUSTER_DEFAULT, BENCH_MAX_REPS);
}

static int parse_size(const char *v, int *out)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || n < 1 || n > 100000) {
        fprintf(stderr, "vmux-bench: --size wants a number from 1 to 100000, not '%s'\n", v);
        return -1;
    }
    *out = (int)n;
    return 0;
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

/*
 * Only loopback servers: the bench floods its target, and nothing else is ours to flood. A
 * "localhost" becomes 127.0.0.1; name (if given) keeps "localhost", the name a TLS
 * certificate for it would carry.
 */
static int parse_server(const char *opt, const char *arg, char *host, size_t hostcap, int *port,
                        char *name, size_t namecap)
{
    const char *colon = strrchr(arg, ':');
    char *end = NULL;
    long p = colon ? strtol(colon + 1, &end, 10) : 0;
    size_t hlen = colon ? (size_t)(colon - arg) : 0;
    if (!colon || *end != '\0' || p < 1 || p > 65535 || hlen == 0 || hlen >= hostcap) {
        fprintf(stderr, "vmux-bench: %s wants HOST:PORT, got '%s'\n", opt, arg);
        return -1;
    }
    memcpy(host, arg, hlen);
    host[hlen] = '\0';
    if (strcasecmp(host, "localhost") == 0) {
        if (name)
            snprintf(name, namecap, "localhost");
        snprintf(host, hostcap, "127.0.0.1");
    }
    if (strncmp(host, "127.", 4) != 0) {
        fprintf(stderr, "vmux-bench: %s must be a 127.x.x.x address, got '%s'\n", opt, host);
        return -1;
    }
    *port = (int)p;
    return 0;
}

static int parse_path(const char *opt, const char *arg, char *out)
{
    if (strlen(arg) >= BENCH_PATH_CAP || access(arg, R_OK) != 0) {
        fprintf(stderr, "vmux-bench: %s: cannot read '%s'\n", opt, arg);
        return -1;
    }
    snprintf(out, BENCH_PATH_CAP, "%s", arg);
    return 0;
}

static int parse_latency(const char *arg, int *out)
{
    char *end = NULL;
    long v = strtol(arg, &end, 10);
    if (*end != '\0' || end == arg || v < 1 || v > 100000) {
        fprintf(stderr, "vmux-bench: --latency-us wants 1..100000, got '%s'\n", arg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A count from 1 to max for option opt; 0, or -1 having said what was wrong. */
static int parse_count(const char *opt, const char *arg, int max, int *out)
{
    char *end = NULL;
    long v = strtol(arg, &end, 10);
    if (*end != '\0' || end == arg || v < 1 || v > max) {
        fprintf(stderr, "vmux-bench: %s wants 1..%d, got '%s'\n", opt, max, arg);
        return -1;
    }
    *out = (int)v;
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

/* The options of the TLS server; returns 1 when a is not one of them. */
static int parse_tls_opt(const char *a, const char *v, setup *st)
{
    bench_tls *t = &st->tls;
    if (strcmp(a, "--tls-server") == 0) {
        st->have_tls_server = true;
        return parse_server(a, v, st->t.host, sizeof(st->t.host), &st->t.port, t->name,
                            sizeof(t->name));
    }
    if (strcmp(a, "--tls-ca") == 0)
        return parse_path(a, v, t->ca_file);
    if (strcmp(a, "--tls-cert") == 0)
        return parse_path(a, v, t->cert_file);
    if (strcmp(a, "--tls-key") == 0)
        return parse_path(a, v, t->key_file);
    if (strcmp(a, "--certs-script") == 0) {
        st->certs_script = v;
        return 0;
    }
    return 1;
}

static int parse_one(int argc, char **argv, int *i, setup *st)
{
    bench_opts *o = &st->o;
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--json") == 0) {
        o->json = true;
        return 0;
    }
    if (strcmp(a, "--pin") == 0)
        return server_pin() == 0 ? 0 : -1;
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
    if (strcmp(a, "--latency-us") == 0)
        return parse_latency(v, &o->latency_us);
    if (strcmp(a, "--size") == 0)
        return parse_size(v, &st->size);
    if (strcmp(a, "--cluster-primaries") == 0)
        return parse_count(a, v, BENCH_CLUSTER_NODES, &st->primaries);
    if (strcmp(a, "--reps") == 0)
        return parse_count(a, v, BENCH_MAX_REPS, &st->reps);
    if (strcmp(a, "--server") == 0) {
        st->have_server = true;
        return parse_server(a, v, o->host, sizeof(o->host), &o->port, NULL, 0);
    }
    int rc = parse_tls_opt(a, v, st);
    if (rc <= 0)
        return rc;
    fprintf(stderr, "vmux-bench: unknown option '%s'\n", a);
    return -1;
}

/* The TLS options make sense only together: a server, its CA, and both halves of a client key. */
static int check_tls_opts(const setup *st)
{
    const bench_tls *t = &st->tls;
    const char *why = NULL;
    if (st->have_tls_server && !t->ca_file[0])
        why = "--tls-server needs --tls-ca";
    else if (!st->have_tls_server && (t->ca_file[0] || t->cert_file[0] || t->key_file[0]))
        why = "--tls-ca, --tls-cert and --tls-key go with --tls-server";
    else if (!t->cert_file[0] != !t->key_file[0])
        why = "--tls-cert and --tls-key go together";
    if (why)
        fprintf(stderr, "vmux-bench: %s\n", why);
    return why ? -1 : 0;
}

static int parse_args(int argc, char **argv, setup *st)
{
    *st = (setup){
        .certs_script = VMUX_BENCH_CERTS_SCRIPT, .primaries = BENCH_CLUSTER_DEFAULT, .reps = 1};
    st->o = (bench_opts){
        .host = "127.0.0.1", .seconds = 3.0, .warmup = 0.5, .families = ~0u, .latency_us = 100};
    for (int i = 1; i < argc; i++)
        if (parse_one(argc, argv, &i, st) != 0) {
            usage(stderr);
            return -1;
        }
    if (check_tls_opts(st) != 0) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static int run_config(const bench_opts *o, const family *f, int size, bench_result *r)
{
    switch (f->bit) {
    case BENCH_FAM_VMUX_SYNC:
    case BENCH_FAM_VMUX_SYNC_TLS:
    case BENCH_FAM_VMUX_SYNC_CLUSTER:
        return run_vmux_sync(o, size, r);
    case BENCH_FAM_VMUX_ASYNC:
    case BENCH_FAM_VMUX_ASYNC_TLS:
    case BENCH_FAM_VMUX_ASYNC_CLUSTER:
        return run_vmux_async(o, size, r);
    case BENCH_FAM_HIREDIS_SYNC:
        return run_hiredis_sync(o, size, r);
    case BENCH_FAM_RAW_PIPELINE:
        return run_raw_pipeline(o, size, r);
    case BENCH_FAM_VMUX_GET:
    case BENCH_FAM_CACHE_HIT:
    case BENCH_FAM_NEAR_HIT:
    case BENCH_FAM_VMUX_INCR:
    case BENCH_FAM_RL_FIXED:
    case BENCH_FAM_RL_SLIDING:
    case BENCH_FAM_RL_GCRA:
    case BENCH_FAM_LOCK_PAIR:
        return run_pattern(o, f->bit, size, r);
    default:
        return run_valkey_benchmark(o, r);
    }
}

/* The options of a family's rows: the plain server's, the TLS server's or the cluster's. */
static const bench_opts *opts_of(const setup *st, unsigned bit)
{
    return bit & BENCH_FAM_TLS ? &st->t : bit & BENCH_FAM_CLUSTER ? &st->c : &st->o;
}

/*
 * Runs every selected configuration once, each on its family's server, appending its rows to
 * results[*n..cap) marked with round (0 when the run has one round); returns how many failed.
 */
static int run_round(const setup *st, int round, bench_result *results, size_t cap, size_t *n)
{
    const bench_opts *o = &st->o;
    const unsigned sync_bits = BENCH_FAM_VMUX_SYNC | BENCH_FAM_VMUX_SYNC_TLS |
                               BENCH_FAM_VMUX_SYNC_CLUSTER | BENCH_FAM_HIREDIS_SYNC |
                               BENCH_FAM_PATTERNS;
    int failures = 0;
    for (size_t fi = 0; fi < NFAMILIES; fi++) {
        const family *f = &FAMILIES[fi];
        if (!(o->families & f->bit))
            continue;
        if (f->bit == BENCH_FAM_NETLAT) {
            size_t first = *n;
            failures += run_netlat(o, results, cap, n);
            for (size_t i = first; i < *n; i++)
                results[i].round = round;
        }
        bool sync = (f->bit & sync_bits) != 0;
        for (int si = 0; si < f->nsizes; si++) {
            if (st->size != 0 && f->sizes[si] != st->size)
                continue;
            bench_result r = {.round = round};
            if (run_config(opts_of(st, f->bit), f, f->sizes[si], &r) == 0 && *n < cap) {
                results[(*n)++] = r;
                report_row(o, &r);
            } else {
                failures++;
                report_failed(o, f->name, sync ? f->sizes[si] : 1, f->sizes[si]);
            }
        }
    }
    return failures;
}

/*
 * Runs the selection st->reps times into all[0..*nall) (cap at most). rows[0..*nrows) gets the
 * one round's rows, or each configuration's medians (reported after the rounds).
 * Returns how many configurations failed, over all rounds.
 */
static int run_all(const setup *st, bench_result *all, size_t cap, size_t *nall, bench_result *rows,
                   size_t *nrows)
{
    char line[64];
    int failures = 0;
    size_t n = 0;
    for (int round = 1; round <= st->reps; round++) {
        if (st->reps > 1) {
            snprintf(line, sizeof(line), "round %d of %d", round, st->reps);
            report_note(&st->o, line);
        }
        failures += run_round(st, st->reps > 1 ? round : 0, all, cap, &n);
    }
    *nall = n;
    if (st->reps == 1) {
        memcpy(rows, all, n * sizeof(*all));
        *nrows = n;
        return failures;
    }
    *nrows = rounds_medians(all, n, rows, MAX_RESULTS);
    snprintf(line, sizeof(line), "\nmedians of %d rounds (each column on its own)", st->reps);
    report_note(&st->o, line);
    for (size_t i = 0; i < *nrows; i++) {
        report_row(&st->o, &rows[i]);
        if (rows[i].rounds < st->reps) {
            snprintf(line, sizeof(line), "    (of %d rounds: it failed in the others)",
                     rows[i].rounds);
            report_note(&st->o, line);
        }
    }
    return failures;
}

static int prepare_server(setup *st, bench_server *srv, char *note, size_t notelen)
{
    bench_opts *o = &st->o;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (!(o->families & ~(unsigned)BENCH_FAM_NETLAT)) {
        snprintf(note, notelen, "only the netlat rows, %ld cores", cores);
        return 0; /* they start their own server */
    }
    if (st->have_server) {
        if (server_wait_ping(o, 0, 5.0) != 0)
            return -1;
        snprintf(note, notelen, "server %s:%d, %ld cores", o->host, o->port, cores);
    } else {
        if (server_start(srv, o, NULL) != 0)
            return -1;
        o->port = srv->port;
        snprintf(note, notelen,
                 "throwaway valkey-server on 127.0.0.1:%d (pid %d) sharing the %ld cores",
                 srv->port, srv->pid, cores);
    }
    return server_prefill(o);
}

/* Starts the throwaway TLS-only server on fresh certificates; 0, or -1 with the note saying why. */
static int start_tls_server(setup *st, bench_server *srv, char *note, size_t notelen)
{
    char certs[BENCH_PATH_CAP - 16], err[BENCH_PATH_CAP + 128];
    if (certs_generate(st->certs_script, certs, sizeof(certs), err, sizeof(err)) != 0) {
        snprintf(note, notelen, "-tls rows skipped: no certificates: %s", err);
        return -1;
    }
    snprintf(st->tls.ca_file, sizeof(st->tls.ca_file), "%s/ca.crt", certs);
    if (server_start(srv, &st->t, certs) != 0) {
        snprintf(note, notelen, "-tls rows skipped: the TLS valkey-server did not start");
        return -1;
    }
    st->t.port = srv->port;
    snprintf(note, notelen,
             "-tls rows: throwaway TLS-only valkey-server on 127.0.0.1:%d (pid %d, "
             "tls-auth-clients no), certificates by %s in %s",
             srv->port, srv->pid, st->certs_script, certs);
    return 0;
}

/*
 * Readies the server of the -tls rows: the given one, else (when the plain server is ours too)
 * a throwaway one. Without either, or when the throwaway one cannot start, the -tls rows are
 * taken out of o.families and the note says why. Returns -1 only when a given TLS server fails.
 */
static int prepare_tls(setup *st, bench_server *srv, char *note, size_t notelen)
{
    bench_opts given = st->t; /* --tls-server's host and port, if any */
    st->t = st->o;
    st->t.tls = &st->tls;
    note[0] = '\0';
    if (!(st->o.families & BENCH_FAM_TLS))
        return 0;
    if (st->have_tls_server) {
        snprintf(st->t.host, sizeof(st->t.host), "%s", given.host);
        st->t.port = given.port;
        if (server_wait_ping(&st->t, 0, 5.0) != 0 || server_prefill(&st->t) != 0)
            return -1;
        snprintf(note, notelen, "-tls rows: TLS server %s:%d, CA %s%s", st->t.host, st->t.port,
                 st->tls.ca_file, st->tls.cert_file[0] ? ", with a client certificate" : "");
        return 0;
    }
    snprintf(st->t.host, sizeof(st->t.host), "127.0.0.1");
    int rc = -1;
    if (st->have_server)
        snprintf(
            note, notelen,
            "-tls rows skipped: no TLS server (with --server, give --tls-server and --tls-ca)");
    else
        rc = start_tls_server(st, srv, note, notelen);
    if (rc == 0 && server_prefill(&st->t) != 0) {
        snprintf(note, notelen, "-tls rows skipped: the prefill of the TLS server failed");
        rc = -1;
    }
    if (rc != 0)
        st->o.families &= ~(unsigned)BENCH_FAM_TLS;
    return 0;
}

/*
 * Readies the cluster of the -cluster rows: a throwaway one, prefilled. When it cannot start, the
 * -cluster rows are taken out of o.families and the note says why; the rest of the run goes on.
 */
static void prepare_cluster(setup *st, bench_cluster *cl, char *note, size_t notelen)
{
    st->c = st->o;
    st->c.cluster = true;
    note[0] = '\0';
    if (!(st->o.families & BENCH_FAM_CLUSTER))
        return;
    char why[256], keys[96], ports[96];
    if (cluster_start(cl, st->primaries, &st->c, why, sizeof(why)) != 0) {
        snprintf(note, notelen, "-cluster rows skipped: %s", why);
    } else if (server_prefill(&st->c) != 0) {
        snprintf(note, notelen, "-cluster rows skipped: the prefill of the cluster failed");
    } else {
        cluster_describe(cl, keys, sizeof(keys));
        cluster_ports(cl, ports, sizeof(ports));
        snprintf(note, notelen,
                 "-cluster rows: throwaway cluster of %d primar%s (no replicas) on 127.0.0.1:%s, "
                 "seed %d; %s",
                 cl->started, cl->started == 1 ? "y" : "ies", ports, cl->nodes[0].port, keys);
        return;
    }
    st->o.families &= ~(unsigned)BENCH_FAM_CLUSTER;
}

int main(int argc, char **argv)
{
    setup st;
    if (parse_args(argc, argv, &st) != 0)
        return 2;
    server_install_signal_handlers();
    bench_server srv = {0}, tls_srv = {0};
    bench_cluster cl = {0};
    char note[160], tls_note[BENCH_PATH_CAP * 2 + 160], cluster_note[512];
    int rc = 1;
    if (prepare_server(&st, &srv, note, sizeof(note)) == 0 &&
        prepare_tls(&st, &tls_srv, tls_note, sizeof(tls_note)) == 0) {
        prepare_cluster(&st, &cl, cluster_note, sizeof(cluster_note));
        report_header(&st.o, note, tls_note, cluster_note);
        size_t cap = (size_t)MAX_RESULTS * (size_t)st.reps, n = 0, nall = 0;
        bench_result *all = calloc(cap, sizeof(*all)), rows[MAX_RESULTS];
        if (all != NULL) {
            int failures = run_all(&st, all, cap, &nall, rows, &n);
            if (st.reps > 1)
                report_ratios_of_rounds(&st.o, all, nall, st.reps);
            else
                report_ratios(&st.o, rows, n);
            rc = failures ? 1 : 0;
        }
        free(all);
    }
    cluster_stop(&cl);
    server_stop(&tls_srv);
    server_stop(&srv);
    certs_remove();
    return rc;
}
