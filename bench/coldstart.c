/*
 * vmux-coldstart: what a fresh process pays for its first reply (docs/serverless.md). Each run
 * forks a child that has never touched vmux (nor OpenSSL, nor libuv's loop), as a serverless
 * function's new execution environment has not, and times in it:
 *   open   vmux_open_str() returning (abortConnect=false: at once; true: once connected),
 *   first  from calling vmux_open_str() to the reply of the first PING,
 *   warm   the same for a second handle opened in the same process afterwards;
 * and counts, with CLIENT LIST, the connections the first handle holds (lib-name=vmux) once its
 * first reply came. Each figure is the median, minimum and maximum over the runs.
 *
 *   vmux-coldstart [-n RUNS] CONFIG
 *   vmux-coldstart -i [-n TOKENS]
 *
 * -i measures instead the CPU time an ElastiCache IAM token costs to sign (vmux/iam.h), with
 * example credentials and a clock moved on past the refresh for every token.
 *
 * CONFIG is a configuration string ("127.0.0.1:6379", "127.0.0.1:6380,ssl=true,sslCaFile=...");
 * abortConnect is set by the program, once false and once true. A measuring tool, not a test.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmux/vmux.h"

#define MAX_RUNS 1000

struct sample {
    double open_ms, first_ms, warm_ms;
    int conns;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Opens a handle and waits for its first PING's reply; the times since t0 go to *open, *first. */
static vmux *open_and_ping(const char *conf, double t0, double *open, double *first)
{
    char err[256] = "";
    vmux *m = NULL;
    int rc = vmux_open_str(conf, &m, err, sizeof err);
    *open = now_ms() - t0;
    if (rc != 0) {
        fprintf(stderr, "vmux_open: %s: %s\n", vmux_err_name(rc), err);
        return NULL;
    }
    vmux_reply *r = NULL;
    const char *ping[] = {"PING"};
    rc = vmux_call(m, NULL, 1, ping, NULL, &r);
    *first = now_ms() - t0;
    vmux_reply_free(r);
    if (rc != 0) {
        fprintf(stderr, "PING: %s\n", vmux_err_name(rc));
        vmux_close(m);
        return NULL;
    }
    return m;
}

/* The connections whose CLIENT SETINFO named this library, as the server lists them. */
static int vmux_connections(vmux *m)
{
    vmux_reply *r = NULL;
    const char *argv[] = {"CLIENT", "LIST"};
    int n = -1;
    if (vmux_call(m, NULL, 2, argv, NULL, &r) == 0) {
        const char *s = vmux_reply_str(r, NULL);
        n = 0;
        for (const char *p = s; p != NULL && (p = strstr(p, "lib-name=vmux ")) != NULL; p++)
            n++;
    }
    vmux_reply_free(r);
    return n;
}

/* The child's run: one cold handle, then one warm one. */
static int child_run(const char *conf, struct sample *s)
{
    double unused;
    vmux *m = open_and_ping(conf, now_ms(), &s->open_ms, &s->first_ms);
    if (m == NULL)
        return 1;
    s->conns = vmux_connections(m);
    vmux *w = open_and_ping(conf, now_ms(), &unused, &s->warm_ms);
    if (w == NULL)
        return 1;
    vmux_close(w);
    vmux_close(m);
    return 0;
}

static int one_run(const char *conf, struct sample *s)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        struct sample cs = {0};
        int rc = child_run(conf, &cs);
        if (rc == 0 && write(fd[1], &cs, sizeof cs) != (ssize_t)sizeof cs)
            rc = 1;
        _exit(rc);
    }
    close(fd[1]);
    ssize_t n = pid > 0 ? read(fd[0], s, sizeof *s) : -1;
    close(fd[0]);
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    return n == (ssize_t)sizeof *s && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int64_t token_clock(void *userdata)
{
    return (*(int64_t *)userdata += 600); /* each token older than the refresh: signed anew */
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* -i: the CPU time of signing n tokens, with example credentials (AWS's test suite's). */
static int measure_tokens(int n)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    int64_t now = 1796225400;
    char token[4096], err[256] = "";
    vmux_iam_provider *p = NULL;
    if (vmux_iam_provider_new(&VMUX_INIT(vmux_iam_opts, .user = "app-user", .cache = "my-group",
                                         .region = "eu-west-1", .clock = token_clock,
                                         .clock_userdata = &now),
                              &p, err, sizeof err) != 0) {
        fprintf(stderr, "vmux_iam_provider_new: %s\n", err);
        return 1;
    }
    double t0 = cpu_ms();
    for (int i = 0; i < n; i++)
        if (vmux_iam_token(p, token, sizeof token, err, sizeof err) != 0) {
            fprintf(stderr, "vmux_iam_token: %s\n", err);
            vmux_iam_provider_free(p);
            return 1;
        }
    printf("IAM token: %.3f ms of CPU each (%d tokens, %zu bytes)\n", (cpu_ms() - t0) / n, n,
           strlen(token));
    vmux_iam_provider_free(p);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    printf("  %-6s median %8.3f ms   min %8.3f   max %8.3f\n", what, median, v[0], v[n - 1]);
}

static int measure(const char *base, const char *abort_connect, int runs)
{
    static struct sample s[MAX_RUNS];
    static double open_ms[MAX_RUNS], first_ms[MAX_RUNS], warm_ms[MAX_RUNS];
    char conf[2048];
    snprintf(conf, sizeof conf, "%s,abortConnect=%s", base, abort_connect);
    for (int i = 0; i < runs; i++) {
        if (one_run(conf, &s[i]) != 0) {
            fprintf(stderr, "run %d failed\n", i);
            return 1;
        }
        open_ms[i] = s[i].open_ms;
        first_ms[i] = s[i].first_ms;
        warm_ms[i] = s[i].warm_ms;
    }
    printf("abortConnect=%s, %d runs, connections after the first reply: %d\n", abort_connect, runs,
           s[0].conns);
    report("open", open_ms, runs);
    report("first", first_ms, runs);
    report("warm", warm_ms, runs);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 21, opt;
    bool tokens = false;
    while ((opt = getopt(argc, argv, "in:")) != -1) {
        if (opt == 'i') {
            tokens = true;
        } else if (opt != 'n' || (runs = atoi(optarg)) < 1 || runs > MAX_RUNS) {
            fprintf(stderr, "usage: %s [-n RUNS (1..%d)] CONFIG | -i [-n TOKENS]\n", argv[0],
                    MAX_RUNS);
            return 2;
        }
    }
    if (tokens)
        return measure_tokens(runs);
    if (optind != argc - 1) {
        fprintf(stderr, "usage: %s [-n RUNS] CONFIG\n", argv[0]);
        return 2;
    }
    printf("vmux %s, config %s\n", vmux_version(), argv[optind]);
    return measure(argv[optind], "false", runs) || measure(argv[optind], "true", runs);
}
