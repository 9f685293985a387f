/*
 * vmux-pipe-bench: short pipelines from one thread, the workload of probe21's p_pipe. A round is
 * BATCH commands (alternately GET and SET of 16-byte values) handed over back to back, then a
 * wait for all their replies; ROUNDS rounds per measurement. Three ways, alternated in one
 * process so that a noisy machine's drift touches each alike:
 *   vmux-async  BATCH vmux_call_async(), the last callback wakes the caller (a condition
 *               variable): the way before batch.h;
 *   vmux-batch  a vmux_batch rebuilt each round (clear, BATCH adds) and vmux_batch_exec();
 *   hiredis     redisAppendCommandArgv() BATCH times, then redisGetReply() BATCH times.
 * Each line gives the median over the repetitions of the process's CPU time per command (every
 * thread: the I/O thread included), context switches per round (getrusage) and commands per
 * second. For system calls per round run one mode alone under perf stat (--mode).
 *
 * usage: vmux-pipe-bench [--batch N]... [--rounds R] [--reps K] [--mode M] [--value BYTES]
 *                        HOST:PORT
 * (docs/benchmarks.md, "Batches")
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "vmux/vmux.h"

enum { NKEYS = 1000, MAX_REPS = 63, MAX_SIZES = 8 };

static const char *const MODES[] = {"vmux-async", "vmux-batch", "hiredis"};
enum { NMODES = 3 };

static char keys[NKEYS][16];
static char *val; /* the SETs' value: --value bytes of 'v' (default 16) */
static size_t val_len = 16;

struct sample {
    double cpu_us_per_op, cs_per_round, ops_per_s;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The process's CPU seconds (every thread) and context switches so far. */
static void usage_now(double *cpu, long *cs)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    *cpu = (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
    *cs = u.ru_nvcsw + u.ru_nivcsw;
}

/* Command n of the stream: GET or SET of one of the keys. */
static int command(long n, const char **av, size_t *al)
{
    av[0] = (n & 1) ? "SET" : "GET";
    av[1] = keys[n % NKEYS];
    av[2] = val;
    al[0] = 3;
    al[1] = strlen(keys[n % NKEYS]);
    al[2] = val_len;
    return (n & 1) ? 3 : 2;
}

/* vmux-async: the callbacks count down; the last wakes the caller. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_long left;
static atomic_long errors;

static void on_reply(int status, vmux_reply *reply, void *ud)
{
    (void)ud;
    if (status != 0)
        atomic_fetch_add(&errors, 1);
    vmux_reply_free(reply);
    if (atomic_fetch_sub(&left, 1) == 1) {
        pthread_mutex_lock(&mu);
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static int round_async(vmux *m, long batch, long *n)
{
    atomic_store(&left, batch);
    for (long i = 0; i < batch; i++, (*n)++) {
        const char *av[3];
        size_t al[3];
        int argc = command(*n, av, al);
        int rc = vmux_call_async(m, NULL, argc, av, al, on_reply, NULL);
        if (rc != 0)
            return rc;
    }
    pthread_mutex_lock(&mu);
    while (atomic_load(&left) > 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return 0;
}

static int round_batch(vmux *m, vmux_batch *b, long batch, long *n)
{
    vmux_batch_clear(b);
    for (long i = 0; i < batch; i++, (*n)++) {
        const char *av[3];
        size_t al[3];
        int argc = command(*n, av, al);
        int rc = vmux_batch_add(b, argc, av, al);
        if (rc != 0)
            return rc;
    }
    int rc = vmux_batch_exec(m, NULL, b, NULL, NULL);
    return rc == VMUX_ERR_SERVER ? 0 : rc;
}

static int round_hiredis(redisContext *c, long batch, long *n)
{
    for (long i = 0; i < batch; i++, (*n)++) {
        const char *av[3];
        size_t al[3];
        int argc = command(*n, av, al);
        redisAppendCommandArgv(c, argc, av, al);
    }
    for (long i = 0; i < batch; i++) {
        redisReply *rep;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK)
            return -1;
        freeReplyObject(rep);
    }
    return 0;
}

struct clients {
    vmux *m;
    vmux_batch *b;
    redisContext *c;
};

/* One measurement: rounds rounds of batch commands the mode's way. */
static int measure(struct clients *cl, int mode, long batch, long rounds, struct sample *out)
{
    double c0, c1;
    long s0, s1, n = 0;
    usage_now(&c0, &s0);
    double t0 = now_s();
    for (long r = 0; r < rounds; r++) {
        int rc = mode == 0   ? round_async(cl->m, batch, &n)
                 : mode == 1 ? round_batch(cl->m, cl->b, batch, &n)
                             : round_hiredis(cl->c, batch, &n);
        if (rc != 0) {
            fprintf(stderr, "%s: %s\n", MODES[mode], rc < 0 ? vmux_strerror(rc) : "failed");
            return -1;
        }
    }
    double t1 = now_s();
    usage_now(&c1, &s1);
    *out = (struct sample){(c1 - c0) * 1e6 / (double)n, (double)(s1 - s0) / (double)rounds,
                           (double)n / (t1 - t0)};
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int open_clients(const char *addr, struct clients *cl)
{
    char conf[512], err[256] = "", host[256];
    int port = 0;
    if (sscanf(addr, "%255[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "HOST:PORT expected, not %s\n", addr);
        return -1;
    }
    snprintf(conf, sizeof conf, "%s,syncTimeout=60000,asyncTimeout=60000", addr);
    if (vmux_open_str(conf, &cl->m, err, sizeof err) != 0 || vmux_batch_new(&cl->b) != 0) {
        fprintf(stderr, "vmux: %s\n", err);
        return -1;
    }
    cl->c = redisConnect(host, port);
    if (cl->c == NULL || cl->c->err) {
        fprintf(stderr, "hiredis: cannot connect to %s\n", addr);
        return -1;
    }
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--batch N]... [--rounds R] [--reps K] [--mode vmux-async|vmux-batch|"
            "hiredis] [--value BYTES] HOST:PORT\n",
            argv0);
}

int main(int argc, char **argv)
{
    long sizes[MAX_SIZES], rounds = 20000;
    int nsizes = 0, reps = 5, only = -1;
    const char *addr = NULL;
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (more && strcmp(argv[i], "--batch") == 0 && nsizes < MAX_SIZES)
            sizes[nsizes++] = atol(argv[++i]);
        else if (more && strcmp(argv[i], "--rounds") == 0)
            rounds = atol(argv[++i]);
        else if (more && strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[++i]);
        else if (more && strcmp(argv[i], "--value") == 0)
            val_len = (size_t)atol(argv[++i]);
        else if (more && strcmp(argv[i], "--mode") == 0) {
            const char *m = argv[++i];
            for (int k = 0; k < NMODES; k++)
                only = strcmp(m, MODES[k]) == 0 ? k : only;
            if (only < 0) {
                usage(argv[0]);
                return 2;
            }
        } else if (argv[i][0] != '-' && addr == NULL)
            addr = argv[i];
        else {
            usage(argv[0]);
            return 2;
        }
    }
    if (addr == NULL || reps < 1 || reps > MAX_REPS || rounds < 1 || val_len < 1) {
        usage(argv[0]);
        return 2;
    }
    if (nsizes == 0) {
        sizes[nsizes++] = 10;
        sizes[nsizes++] = 100;
    }
    for (int i = 0; i < NKEYS; i++)
        snprintf(keys[i], sizeof keys[i], "pipe:k:%04d", i);
    val = malloc(val_len);
    if (val == NULL) {
        fprintf(stderr, "no memory for a %zu-byte value\n", val_len);
        return 1;
    }
    memset(val, 'v', val_len);
    struct clients cl = {0};
    if (open_clients(addr, &cl) != 0)
        return 1;
    printf("%-11s %6s %8s %12s %13s %12s\n", "mode", "batch", "rounds", "cpu_us/op", "cs/round",
           "ops/s");
    for (int s = 0; s < nsizes; s++) {
        double cpu[NMODES][MAX_REPS], cs[NMODES][MAX_REPS], ops[NMODES][MAX_REPS];
        for (int r = 0; r < reps; r++) {
            for (int k = 0; k < NMODES; k++) {
                struct sample x;
                if (only >= 0 && k != only)
                    continue;
                if (measure(&cl, k, sizes[s], rounds, &x) != 0)
                    return 1;
                cpu[k][r] = x.cpu_us_per_op;
                cs[k][r] = x.cs_per_round;
                ops[k][r] = x.ops_per_s;
            }
        }
        for (int k = 0; k < NMODES; k++) {
            if (only >= 0 && k != only)
                continue;
            printf("%-11s %6ld %8ld %12.3f %13.2f %12.0f\n", MODES[k], sizes[s], rounds,
                   median(cpu[k], reps), median(cs[k], reps), median(ops[k], reps));
        }
    }
    if (atomic_load(&errors) != 0)
        fprintf(stderr, "errors: %ld\n", atomic_load(&errors));
    vmux_batch_free(cl.b);
    vmux_close(cl.m);
    redisFree(cl.c);
    free(val);
    return atomic_load(&errors) != 0;
}
