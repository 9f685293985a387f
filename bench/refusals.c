/*
 * vmux-refusal-bench: what a storm of refused commands costs the client (docs/benchmarks.md,
 * "Refused commands"). A fake server in this process (fake_server.c, a thread of its own)
 * answers every command but a handle's own with LOADING; a handle (cluster=no) submits --ops
 * async GETs with a deadline of --deadline-ms each, and vmux sends each again after its backoff
 * (10 ms doubling to 500 ms, jittered) until the deadline ends it with VMUX_ERR_SERVER and the
 * refusal (or, if it was in flight when the deadline passed, VMUX_ERR_TIMEOUT, as
 * docs/reliability.md says: counted apart, not a failure). Measured from the first submission to
 * the last callback: the resends (vmux_stats retried) and the client's CPU time, the process's
 * (getrusage) less the fake server thread's own (its CPU clock). Before each such run the same GETs
 * go to a server that answers them at once (nil): the plain cost of the ops, so that the difference
 * is the resends' cost. Prints each round and the median of --rounds rounds, column by column. Any
 * outcome other than the refusal (or the nil, in the plain run) is a failure: counted, shown, and
 * the exit status is 1.
 *
 *   vmux-refusal-bench [--ops N] [--deadline-ms MS] [--rounds R]
 *
 * The program links libvmux dynamically and prints the path of the one it loaded, so a build of
 * another commit can be measured with LD_LIBRARY_PATH. A measuring tool, not a test.
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fake_server.h"
#include "median.h"
#include "vmux/vmux.h"

enum { MAX_ROUNDS = 99, STATUS_SLOTS = 32, WAIT_EXTRA_S = 60 };

struct options {
    int ops, deadline_ms, rounds;
};

/* The outcomes of one run's commands: written by the callbacks (I/O thread) under mu. */
struct tally {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool refuse; /* the outcome expected: the LOADING refusal, else a nil reply */
    int expected, done, failed;
    int timeouts; /* refused runs: VMUX_ERR_TIMEOUT, in flight at the deadline (not failures) */
    int by_status[STATUS_SLOTS]; /* failures by -status; [0]: status 0 with another reply */
    char first[200];             /* the first failure, in words */
};

/* One run: the client's CPU time and the rest, from the first submission to the last callback. */
struct sample {
    double cpu_s, server_s, wall_s;
    unsigned long long resends, refused, timeouts;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User and system CPU time of the whole process, every thread, in seconds. */
static double process_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static bool is_loading(const vmux_reply *reply)
{
    size_t len;
    const char *msg = vmux_reply_str(reply, &len);
    return vmux_reply_get_kind(reply) == VMUX_REPLY_ERROR && msg != NULL &&
           len == strlen(FAKE_LOADING) && memcmp(msg, FAKE_LOADING, len) == 0;
}

/* Counts a failure; under t->mu. */
static void note_failure(struct tally *t, const char *when, int status, const vmux_reply *reply)
{
    int slot = status < 0 && -status < STATUS_SLOTS ? -status : 0;
    t->by_status[slot]++;
    if (t->failed++ > 0)
        return;
    const char *msg = reply != NULL ? vmux_reply_str(reply, NULL) : NULL;
    snprintf(t->first, sizeof t->first, "%s: %s%s%s", when,
             status == 0 ? "OK" : vmux_err_name(status), msg != NULL ? ", " : "",
             msg != NULL ? msg : "");
}

static void on_reply(int status, vmux_reply *reply, void *arg)
{
    struct tally *t = arg;
    bool ok = t->refuse ? status == VMUX_ERR_SERVER && is_loading(reply)
                        : status == 0 && vmux_reply_get_kind(reply) == VMUX_REPLY_NIL;
    bool in_flight = t->refuse && status == VMUX_ERR_TIMEOUT;
    pthread_mutex_lock(&t->mu);
    if (in_flight)
        t->timeouts++;
    else if (!ok)
        note_failure(t, "callback", status, reply);
    if (++t->done == t->expected)
        pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    vmux_reply_free(reply);
}

/* Submits the GETs; one the door refuses counts as a failure, and as done (no callback). */
static void submit_all(vmux *m, const struct options *o, struct tally *t)
{
    static const char *const argv[] = {"GET", "refusal-bench:key"};
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .timeout_ms = o->deadline_ms);
    for (int i = 0; i < o->ops; i++) {
        int rc = vmux_call_async(m, &opts, 2, argv, NULL, on_reply, t);
        if (rc == 0)
            continue;
        pthread_mutex_lock(&t->mu);
        note_failure(t, "submit", rc, NULL);
        t->done++;
        pthread_mutex_unlock(&t->mu);
    }
}

/* Waits for every callback, for the deadline and a minute more at most; false if they did not
 * all come (vmux_close() then runs the rest, with VMUX_ERR_CLOSED: failures). */
static bool wait_all(struct tally *t, int deadline_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += deadline_ms / 1000 + 1 + WAIT_EXTRA_S;
    pthread_mutex_lock(&t->mu);
    int rc = 0;
    while (t->done < t->expected && rc == 0)
        rc = pthread_cond_timedwait(&t->cv, &t->mu, &until);
    bool all = t->done == t->expected;
    pthread_mutex_unlock(&t->mu);
    return all;
}

static vmux *open_handle(int port, int ops)
{
    char conf[160], err[256] = "";
    snprintf(conf, sizeof conf, "127.0.0.1:%d,cluster=no,abortConnect=true,maxPending=%d", port,
             ops + 1024);
    vmux *m = NULL;
    int rc = vmux_open_str(conf, &m, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "vmux_open %s: %s: %s\n", conf, vmux_err_name(rc), err);
    return rc == 0 ? m : NULL;
}

/* The GETs, submitted and completed, measured, on a handle and server of their own. */
static int run(const struct options *o, struct tally *t, struct sample *out)
{
    struct fake_server s;
    if (fake_server_start(&s, t->refuse) != 0)
        return -1;
    vmux *m = open_handle(s.port, o->ops);
    if (m == NULL) {
        fake_server_stop(&s);
        return -1;
    }
    double cpu0 = process_cpu_s(), srv0 = fake_server_cpu(&s), t0 = now_s();
    submit_all(m, o, t);
    if (!wait_all(t, o->deadline_ms))
        fprintf(stderr, "%d callbacks of %d did not come\n", t->expected - t->done, t->expected);
    out->wall_s = now_s() - t0;
    out->server_s = fake_server_cpu(&s) - srv0;
    out->cpu_s = process_cpu_s() - cpu0 - out->server_s;
    vmux_stats st = VMUX_INIT(vmux_stats);
    vmux_read_stats(m, &st);
    out->resends = st.retried;
    vmux_close(m);
    fake_server_stop(&s);
    out->refused = s.refused;
    out->timeouts = (unsigned long long)t->timeouts;
    return 0;
}

static void tally_init(struct tally *t, bool refuse, int ops)
{
    *t = (struct tally){.refuse = refuse, .expected = ops};
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
}

/* Prints a run's failures, by outcome; returns how many there were. */
static int report_failures(const char *what, int round, struct tally *t)
{
    if (t->failed == 0)
        return 0;
    fprintf(stderr, "round %d, %s: %d of %d failed (first: %s):", round, what, t->failed,
            t->expected, t->first);
    for (int i = 0; i < STATUS_SLOTS; i++)
        if (t->by_status[i] > 0)
            fprintf(stderr, " %s %d", i == 0 ? "another reply" : vmux_err_name(-i),
                    t->by_status[i]);
    fprintf(stderr, "\n");
    return t->failed;
}

/* One run of each kind; returns the failures, or -1 when a run could not start. */
static int run_kind(const struct options *o, bool refuse, int round, struct sample *out)
{
    struct tally t;
    tally_init(&t, refuse, o->ops);
    int failed =
        run(o, &t, out) != 0 ? -1 : report_failures(refuse ? "refused" : "plain", round, &t);
    pthread_mutex_destroy(&t.mu);
    pthread_cond_destroy(&t.cv);
    return failed;
}

/* The columns of a round; the medians' row is made of the same, each column apart. */
enum { C_RESENDS, C_REFUSED, C_TIMEOUTS, C_CPU, C_PLAIN, C_PER, C_NET, C_SERVER, C_WALL, NCOLS };

static void print_row(const char *label, const double *c)
{
    printf("%-7s %9.0f %9.0f %8.0f %9.1f %9.1f %9.3f %9.3f %9.1f %7.2f\n", label, c[C_RESENDS],
           c[C_REFUSED], c[C_TIMEOUTS], c[C_CPU], c[C_PLAIN], c[C_PER], c[C_NET], c[C_SERVER],
           c[C_WALL]);
}

static void fill_row(const struct sample *refused, const struct sample *plain, double *c)
{
    double resends = refused->resends > 0 ? (double)refused->resends : INFINITY; /* 0 per */
    c[C_RESENDS] = (double)refused->resends;
    c[C_REFUSED] = (double)refused->refused;
    c[C_TIMEOUTS] = (double)refused->timeouts;
    c[C_CPU] = refused->cpu_s * 1e3;
    c[C_PLAIN] = plain->cpu_s * 1e3;
    c[C_PER] = refused->cpu_s * 1e6 / resends;
    c[C_NET] = (refused->cpu_s - plain->cpu_s) * 1e6 / resends;
    c[C_SERVER] = refused->server_s * 1e3;
    c[C_WALL] = refused->wall_s;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.ops = 20000, .deadline_ms = 3000, .rounds = 5};
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        int rc = -1;
        if (strcmp(argv[i], "--ops") == 0)
            rc = parse_int(v, 1, 10000000, &o->ops);
        else if (strcmp(argv[i], "--deadline-ms") == 0)
            rc = parse_int(v, 1, 600000, &o->deadline_ms);
        else if (strcmp(argv[i], "--rounds") == 0)
            rc = parse_int(v, 1, MAX_ROUNDS, &o->rounds);
        if (rc != 0) {
            fprintf(stderr,
                    "usage: vmux-refusal-bench [--ops 1..10000000] [--deadline-ms "
                    "1..600000] [--rounds 1..%d]\n",
                    MAX_ROUNDS);
            return -1;
        }
    }
    return 0;
}

/* Where the libvmux this process runs came from (LD_LIBRARY_PATH may have chosen another). */
static const char *library_path(void)
{
    Dl_info info;
    return dladdr((void *)vmux_version, &info) != 0 && info.dli_fname != NULL ? info.dli_fname
                                                                              : "?";
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0); /* each round's row as it comes, among stderr's lines */
    printf("%d GETs refused with LOADING until their deadline of %d ms; %d rounds; %s\n", o.ops,
           o.deadline_ms, o.rounds, library_path());
    printf("%-7s %9s %9s %8s %9s %9s %9s %9s %9s %7s\n", "round", "resends", "refused", "timeouts",
           "cpu ms", "plain ms", "us/resend", "net us", "server ms", "wall s");
    double cols[NCOLS][MAX_ROUNDS], row[NCOLS];
    int failed = 0;
    for (int r = 0; r < o.rounds; r++) {
        struct sample plain, refused;
        int f1 = run_kind(&o, false, r + 1, &plain);
        int f2 = f1 < 0 ? -1 : run_kind(&o, true, r + 1, &refused);
        if (f1 < 0 || f2 < 0)
            return 1;
        failed += f1 + f2;
        char label[16];
        snprintf(label, sizeof label, "%d", r + 1);
        fill_row(&refused, &plain, row);
        print_row(label, row);
        for (int c = 0; c < NCOLS; c++)
            cols[c][r] = row[c];
    }
    for (int c = 0; c < NCOLS; c++)
        row[c] = bench_median(cols[c], o.rounds);
    print_row("median", row);
    if (failed > 0)
        fprintf(stderr, "%d commands ended otherwise than expected\n", failed);
    return failed > 0 ? 1 : 0;
}
