/* Phases and worker threads shared by the configurations that run blocking calls. */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sys/resource.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sleeps until the monotonic clock reaches end_ns, or until *failed is set. */
static void wait_until(uint64_t end_ns, const atomic_int *failed)
{
    for (;;) {
        uint64_t now = now_ns();
        if (now >= end_ns || atomic_load(failed))
            return;
        uint64_t left = end_ns - now;
        if (left > 50000000u)
            left = 50000000u; /* wake now and then to notice a failed worker */
        struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}

/* Thread tid's time on a CPU (schedstat's first field), in seconds, if it is named name. */
static bool thread_cpu_if_named(const char *tid, const char *name, double *s)
{
    char path[300], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool named = fgets(comm, sizeof comm, f) != NULL && strncmp(comm, name, strlen(name)) == 0 &&
                 comm[strlen(name)] == '\n';
    fclose(f);
    snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", tid);
    unsigned long long ns = 0;
    if (!named || (f = fopen(path, "r")) == NULL)
        return false;
    bool read = fscanf(f, "%llu", &ns) == 1;
    fclose(f);
    *s = (double)ns / 1e9;
    return read;
}

/* The CPU time of this process's threads named vmux-io (vmux's I/O threads), or NAN if none. */
static double io_threads_cpu_s(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return NAN;
    double total = NAN, s;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' && thread_cpu_if_named(e->d_name, "vmux-io", &s))
            total = isnan(total) ? s : total + s;
    closedir(d);
    return total;
}

static void usage_now(bench_usage *u)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    u->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    u->cs = (double)ru.ru_nvcsw + (double)ru.ru_nivcsw;
    u->io_cpu_s = io_threads_cpu_s();
}

/* What the proxy did since before, into d. */
static void proxy_diff(const struct delay_proxy *p, const proxy_counters *before, proxy_counters *d)
{
    delay_proxy_sample(p, d);
    d->cpu_s -= before->cpu_s;
    d->chunks -= before->chunks;
    d->spin_ns -= before->spin_ns;
    for (int i = 0; i < BENCH_HOLD_BUCKETS; i++)
        d->hold[i] -= before->hold[i];
}

double drive_phases(const bench_opts *o, atomic_int *phase, const atomic_int *failed,
                    bench_usage *u)
{
    uint64_t start = now_ns();
    wait_until(start + (uint64_t)(o->warmup * 1e9), failed);
    bench_usage before, after;
    usage_now(&before);
    if (o->proxy)
        delay_proxy_sample(o->proxy, &before.proxy);
    uint64_t t0 = now_ns();
    atomic_store(phase, PHASE_MEASURE);
    wait_until(t0 + (uint64_t)(o->seconds * 1e9), failed);
    atomic_store(phase, PHASE_STOP);
    double window = (double)(now_ns() - t0) / 1e9;
    usage_now(&after);
    u->cpu_s = after.cpu_s - before.cpu_s;
    u->cs = after.cs - before.cs;
    u->io_cpu_s = after.io_cpu_s - before.io_cpu_s; /* NAN without a vmux handle */
    u->proxied = o->proxy != NULL;
    if (o->proxy)
        proxy_diff(o->proxy, &before.proxy, &u->proxy);
    return window;
}

/* The hold time below which a fraction q of the chunks fell, in µs (a bucket's middle). */
static double hold_quantile(const proxy_counters *c, double q)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < BENCH_HOLD_BUCKETS; i++)
        total += c->hold[i];
    for (int i = 0; i < BENCH_HOLD_BUCKETS && total > 0; i++) {
        seen += c->hold[i];
        if ((double)seen >= q * (double)total)
            return ((double)i + 0.5) * BENCH_HOLD_BUCKET_NS / 1000.0;
    }
    return NAN;
}

static void proxy_from_usage(bench_result *r, uint64_t ops, const bench_usage *u)
{
    bool have = u->proxied && ops > 0;
    r->proxy_cpu_us_per_op = have ? u->proxy.cpu_s * 1e6 / (double)ops : NAN;
    r->proxy_spin_us_per_op = have ? (double)u->proxy.spin_ns / 1e3 / (double)ops : NAN;
    r->proxy_chunks_per_op = have ? (double)u->proxy.chunks / (double)ops : NAN;
    r->proxy_hold_p50_us = have ? hold_quantile(&u->proxy, 0.50) : NAN;
    r->proxy_hold_p99_us = have ? hold_quantile(&u->proxy, 0.99) : NAN;
}

void result_from_hist(bench_result *r, const hist *h, double window_s, const bench_usage *u)
{
    r->ops_per_sec = window_s > 0 ? (double)h->count / window_s : 0;
    r->p50_us = (double)hist_quantile(h, 0.50) / 1000.0;
    r->p99_us = (double)hist_quantile(h, 0.99) / 1000.0;
    r->cpu_us_per_op = h->count > 0 ? u->cpu_s * 1e6 / (double)h->count : NAN;
    r->cs_per_op = h->count > 0 ? u->cs / (double)h->count : NAN;
    r->io_cpu_us_per_op = h->count > 0 ? u->io_cpu_s * 1e6 / (double)h->count : NAN;
    proxy_from_usage(r, h->count, u);
}

typedef struct sync_worker {
    pthread_t tid;
    unsigned index;
    void *ctx;
    sync_op_fn op;
    atomic_int *phase;
    atomic_int *failed;
    hist h;
} sync_worker;

/*
 * An op counts when it completes inside the measured window, so the window's ops/s is exact
 * whatever the op's length. The first error ends the worker and the configuration.
 */
static void *sync_worker_main(void *arg)
{
    sync_worker *w = arg;
    uint64_t rng = workload_seed(w->index);
    bench_cmd c = {0};
    while (atomic_load_explicit(w->phase, memory_order_relaxed) != PHASE_STOP) {
        workload_next(&rng, &c);
        uint64_t t0 = now_ns();
        int rc = w->op(w->ctx, &c);
        uint64_t t1 = now_ns();
        if (rc != 0) {
            atomic_store(w->failed, 1);
            break;
        }
        if (atomic_load_explicit(w->phase, memory_order_relaxed) == PHASE_MEASURE)
            hist_record(&w->h, t1 - t0);
    }
    return NULL;
}

static int start_workers(sync_worker *w, int n)
{
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&w[i].tid, NULL, sync_worker_main, &w[i]);
        if (rc != 0) {
            fprintf(stderr, "vmux-bench: pthread_create: %s\n", strerror(rc));
            atomic_store(w[0].failed, 1);
            atomic_store(w[0].phase, PHASE_STOP);
            return i;
        }
    }
    return n;
}

int drive_sync(const bench_opts *o, int nthreads, sync_op_fn op, void *const *ctxs, bench_result *r)
{
    sync_worker *w = calloc((size_t)nthreads, sizeof(*w));
    hist *total = calloc(1, sizeof(*total));
    if (!w || !total) {
        free(w);
        free(total);
        fprintf(stderr, "vmux-bench: out of memory\n");
        return -1;
    }
    atomic_int phase = PHASE_WARMUP, failed = 0;
    for (int i = 0; i < nthreads; i++)
        w[i] = (sync_worker){
            .index = (unsigned)i, .ctx = ctxs[i], .op = op, .phase = &phase, .failed = &failed};
    int started = start_workers(w, nthreads);
    bench_usage u = {0};
    double window = started == nthreads ? drive_phases(o, &phase, &failed, &u) : 0;
    for (int i = 0; i < started; i++) {
        pthread_join(w[i].tid, NULL);
        hist_merge(total, &w[i].h);
    }
    result_from_hist(r, total, window, &u);
    int rc = atomic_load(&failed) ? -1 : 0;
    free(w);
    free(total);
    return rc;
}
