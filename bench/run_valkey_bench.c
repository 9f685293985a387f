/*
 * valkey-benchmark: the server's own load generator, 50 connections with 16 commands pipelined
 * on each, as the pipelined ceiling of the server on this machine. It runs SET then GET with
 * -n requests each; one short run first warms up and measures the rate, so the real run can be
 * sized to last about --seconds. With o->tls it runs the same over TLS (--tls --cacert, and the
 * client certificate and name when given) as valkey-benchmark-tls.
 */
#include "bench.h"

#include <math.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VB_CONNS 50
#define VB_PIPELINE 16
#define VB_OUT_CAP 65536

typedef struct vb_test {
    double rps, p50_ms, p99_ms;
    bool seen;
} vb_test;

typedef struct vb_out {
    vb_test set, get;
} vb_out;

/* Appends the TLS options for t to argv from index n; returns the new count. */
static int tls_args(const bench_tls *t, const char **argv, int n)
{
    argv[n++] = "--tls";
    argv[n++] = "--cacert";
    argv[n++] = t->ca_file;
    if (t->cert_file[0]) {
        argv[n++] = "--cert";
        argv[n++] = t->cert_file;
        argv[n++] = "--key";
        argv[n++] = t->key_file;
    }
    if (t->name[0]) {
        argv[n++] = "--sni";
        argv[n++] = t->name;
    }
    return n;
}

static void exec_vb(const bench_opts *o, long n, int out_fd)
{
    char port[16], count[32], conns[16], pipeline[16], keys[16], size[16];
    snprintf(port, sizeof(port), "%d", o->port);
    snprintf(count, sizeof(count), "%ld", n);
    snprintf(conns, sizeof(conns), "%d", VB_CONNS);
    snprintf(pipeline, sizeof(pipeline), "%d", VB_PIPELINE);
    snprintf(keys, sizeof(keys), "%d", BENCH_KEYSPACE);
    snprintf(size, sizeof(size), "%d", BENCH_VALUE_LEN);
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    close(out_fd);
    const char *argv[40] = {
        "valkey-benchmark", "-h", o->host, "-p", port, "-P", pipeline, "-c",   conns, "-t",
        "set,get",          "-d", size,    "-r", keys, "-n", count,    "--csv"};
    if (o->tls)
        tls_args(o->tls, argv, 18);
    execvp("valkey-benchmark", (char *const *)argv);
    fprintf(stderr, "cannot run valkey-benchmark: %s\n", strerror(errno));
    _exit(127);
}

/* Reads the child's output until EOF or the deadline; returns its length, or -1. */
static ssize_t read_output(int fd, char *buf, size_t cap, uint64_t deadline)
{
    size_t len = 0;
    for (;;) {
        if (now_ns() > deadline)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, 200);
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr <= 0)
            continue;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Splits one CSV line into at most max unquoted fields, in place; returns the field count. */
static int csv_fields(char *line, char **f, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
        if (*tok == '"')
            tok++;
        size_t l = strlen(tok);
        while (l > 0 && (tok[l - 1] == '"' || tok[l - 1] == '\r'))
            tok[--l] = '\0';
        f[n++] = tok;
    }
    return n;
}

static int column(char **f, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(f[i], name) == 0)
            return i;
    return -1;
}

/* Finds the rps, p50 and p99 columns from the header line, then reads the SET and GET rows. */
static int parse_csv(char *text, vb_out *out)
{
    int c_rps = -1, c_p50 = -1, c_p99 = -1;
    char *save = NULL;
    memset(out, 0, sizeof(*out));
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[16];
        int n = csv_fields(line, f, 16);
        if (n > 0 && strcmp(f[0], "test") == 0) {
            c_rps = column(f, n, "rps");
            c_p50 = column(f, n, "p50_latency_ms");
            c_p99 = column(f, n, "p99_latency_ms");
            continue;
        }
        vb_test *t = n > 0 && strcmp(f[0], "SET") == 0   ? &out->set
                     : n > 0 && strcmp(f[0], "GET") == 0 ? &out->get
                                                         : NULL;
        if (!t || c_rps < 0 || c_rps >= n)
            continue;
        t->rps = strtod(f[c_rps], NULL);
        t->p50_ms = c_p50 >= 0 && c_p50 < n ? strtod(f[c_p50], NULL) : 0;
        t->p99_ms = c_p99 >= 0 && c_p99 < n ? strtod(f[c_p99], NULL) : 0;
        t->seen = t->rps > 0;
    }
    return out->set.seen && out->get.seen ? 0 : -1;
}

static int wait_child(pid_t pid, bool kill_first)
{
    int status = 0;
    if (kill_first)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Runs valkey-benchmark once with n requests per test and parses its CSV. */
static int run_once(const bench_opts *o, long n, vb_out *out)
{
    static char text[VB_OUT_CAP];
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        exec_vb(o, n, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    /* Generous: a healthy run takes about --seconds; a stuck one must not hang the bench. */
    uint64_t deadline = now_ns() + (uint64_t)((o->seconds * 10 + 30) * 1e9);
    ssize_t len = read_output(fds[0], text, sizeof(text), deadline);
    close(fds[0]);
    int rc = wait_child(pid, len < 0);
    if (rc == 0 && len >= 0 && parse_csv(text, out) == 0)
        return 0;
    fprintf(stderr, "vmux-bench: valkey-benchmark%s failed%s; its output:\n%s\n",
            o->tls ? " --tls" : "", len < 0 ? " (timed out)" : "", len > 0 ? text : "");
    return -1;
}

/* SET and GET run n requests each, one after the other: total ops over total time. */
static double combined_rps(const vb_out *v)
{
    return 2.0 / (1.0 / v->set.rps + 1.0 / v->get.rps);
}

int run_valkey_benchmark(const bench_opts *o, bench_result *r)
{
    vb_out v;
    if (run_once(o, 100000, &v) != 0)
        return -1;
    long n = (long)(combined_rps(&v) * o->seconds / 2.0);
    if (n < 100000)
        n = 100000;
    if (run_once(o, n, &v) != 0)
        return -1;
    r->name = o->tls ? "valkey-benchmark-tls" : "valkey-benchmark";
    r->threads = 1;
    r->inflight = VB_CONNS * VB_PIPELINE;
    r->ops_per_sec = combined_rps(&v);
    r->cpu_us_per_op = r->cs_per_op = r->io_cpu_us_per_op = NAN; /* another process: not ours */
    /* The two tests' percentiles cannot be merged exactly; their mean stands for the mix. */
    r->p50_us = (v.set.p50_ms + v.get.p50_ms) / 2.0 * 1000.0;
    r->p99_us = (v.set.p99_ms + v.get.p99_ms) / 2.0 * 1000.0;
    return 0;
}
