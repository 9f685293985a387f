/*
 * vmux-sync and vmux-async: the library under test, always through one handle; with o->tls,
 * the same over TLS as vmux-sync-tls and vmux-async-tls; with o->cluster, on a cluster (the
 * handle opened on its seed node with cluster=yes) as vmux-sync-cluster and vmux-async-cluster.
 *
 * vmux-sync: T threads share the handle and each makes blocking vmux_call()s.
 * vmux-async: exactly K commands in flight. Each slot submits one command; its completion
 * callback, on the I/O thread, records the latency and submits the slot's next command, until
 * the measured window ends. docs/benchmarks.md says why this is the fair way to keep K in flight.
 */
#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <vmux/vmux.h>

/* Adds the TLS keys; the typed setters take any path, where a config string stops at a comma. */
static int apply_tls(vmux_config *cfg, const bench_tls *t)
{
    int rc = vmux_config_set_ssl(cfg, true);
    if (rc == 0)
        rc = vmux_config_set_ssl_ca_file(cfg, t->ca_file);
    if (rc == 0 && t->cert_file[0])
        rc = vmux_config_set_ssl_cert(cfg, t->cert_file);
    if (rc == 0 && t->key_file[0])
        rc = vmux_config_set_ssl_key(cfg, t->key_file);
    if (rc == 0 && t->name[0])
        rc = vmux_config_set_ssl_host(cfg, t->name);
    return rc;
}

int bench_vmux_open(const bench_opts *o, const char *extra, vmux **out, char *err, size_t errlen)
{
    vmux_config *cfg = NULL;
    *out = NULL;
    err[0] = '\0';
    int rc = vmux_config_new(&cfg);
    if (rc == 0)
        rc = vmux_config_add_endpoint(cfg, o->host, o->port);
    if (rc == 0 && o->tls)
        rc = apply_tls(cfg, o->tls);
    if (rc == 0 && o->cluster)
        rc = vmux_config_set_cluster(cfg, VMUX_CLUSTER_YES);
    if (rc == 0 && extra[0])
        rc = vmux_config_apply(cfg, extra, err, errlen);
    if (rc == 0)
        rc = vmux_open(cfg, out, err, errlen);
    else if (!err[0])
        snprintf(err, errlen, "cannot build the config");
    vmux_config_free(cfg);
    return rc;
}

static vmux *open_handle(const bench_opts *o)
{
    char err[256];
    vmux *m = NULL;
    int rc = bench_vmux_open(o, "", &m, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "vmux-bench: vmux_open(%s:%d%s%s): %s: %s\n", o->host, o->port,
                o->tls ? ", ssl=true" : "", o->cluster ? ", cluster=yes" : "", vmux_err_name(rc),
                err);
        return NULL;
    }
    return m;
}

static int vmux_sync_op(void *ctx, const bench_cmd *c)
{
    vmux_reply *reply = NULL;
    int rc = vmux_call(ctx, NULL, c->argc, c->argv, c->argvlen, &reply);
    if (rc != 0)
        fprintf(stderr, "vmux-bench: vmux-sync: vmux_call: %s %s\n", vmux_err_name(rc),
                reply ? vmux_reply_str(reply, NULL) : "");
    vmux_reply_free(reply);
    return rc != 0 ? -1 : 0;
}

int run_vmux_sync(const bench_opts *o, int threads, bench_result *r)
{
    void **ctxs = calloc((size_t)threads, sizeof(*ctxs));
    vmux *m = ctxs ? open_handle(o) : NULL;
    if (!m) {
        free(ctxs);
        return -1;
    }
    for (int i = 0; i < threads; i++)
        ctxs[i] = m;
    r->name = o->tls ? "vmux-sync-tls" : o->cluster ? "vmux-sync-cluster" : "vmux-sync";
    r->threads = threads;
    r->inflight = threads;
    int rc = drive_sync(o, threads, vmux_sync_op, (void *const *)ctxs, r);
    vmux_close(m);
    free(ctxs);
    return rc;
}

typedef struct async_run async_run;

typedef struct async_slot {
    async_run *run;
    uint64_t rng;
    uint64_t sent_at;
    bench_cmd cmd;
} async_slot;

struct async_run {
    vmux *m;
    atomic_int phase;
    atomic_int failed;
    atomic_int first_error;
    atomic_int outstanding; /* slots whose chain has not ended yet */
    pthread_mutex_t mu;
    pthread_cond_t drained;
    hist h; /* written only on the I/O thread, read after vmux_close() joined it */
};

static void note_error(async_run *run, int code)
{
    int none = 0;
    atomic_compare_exchange_strong(&run->first_error, &none, code);
    atomic_store(&run->failed, 1);
}

static void slot_done(async_slot *s)
{
    async_run *run = s->run;
    if (atomic_fetch_sub(&run->outstanding, 1) == 1) {
        pthread_mutex_lock(&run->mu);
        pthread_cond_broadcast(&run->drained);
        pthread_mutex_unlock(&run->mu);
    }
}

static void on_reply(int status, vmux_reply *reply, void *userdata);

static int slot_submit(async_slot *s)
{
    workload_next(&s->rng, &s->cmd);
    s->sent_at = now_ns();
    return vmux_call_async(s->run->m, NULL, s->cmd.argc, s->cmd.argv, s->cmd.argvlen, on_reply, s);
}

static void on_reply(int status, vmux_reply *reply, void *userdata)
{
    async_slot *s = userdata;
    async_run *run = s->run;
    uint64_t done_at = now_ns();
    vmux_reply_free(reply);
    int ph = atomic_load_explicit(&run->phase, memory_order_relaxed);
    if (status != 0) {
        note_error(run, status);
        slot_done(s);
        return;
    }
    if (ph == PHASE_MEASURE)
        hist_record(&run->h, done_at - s->sent_at);
    if (ph == PHASE_STOP) {
        slot_done(s);
        return;
    }
    int rc = slot_submit(s);
    if (rc != 0) {
        note_error(run, rc);
        slot_done(s);
    }
}

/* Waits until every slot's chain has ended, for at most timeout_s. */
static void wait_drained(async_run *run, double timeout_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)timeout_s;
    pthread_mutex_lock(&run->mu);
    while (atomic_load(&run->outstanding) > 0) {
        if (pthread_cond_timedwait(&run->drained, &run->mu, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&run->mu);
}

static int async_init(async_run *run)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&run->drained, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&run->mu, NULL) != 0) {
        pthread_cond_destroy(&run->drained);
        return -1;
    }
    return 0;
}

static void start_slots(async_run *run, async_slot *slots, int inflight)
{
    atomic_store(&run->outstanding, inflight);
    for (int i = 0; i < inflight; i++) {
        slots[i].run = run;
        slots[i].rng = workload_seed(1000u + (unsigned)i);
        int rc = slot_submit(&slots[i]);
        if (rc != 0) {
            note_error(run, rc);
            slot_done(&slots[i]);
        }
    }
}

static int async_measure(const bench_opts *o, async_run *run, async_slot *slots, int inflight,
                         bench_result *r)
{
    start_slots(run, slots, inflight);
    bench_usage u = {0};
    double window = drive_phases(o, &run->phase, &run->failed, &u);
    /* Commands time out after syncTimeout (5 s by default); give them that and more. */
    wait_drained(run, 30.0);
    /* Completes whatever is still pending and joins the I/O thread: slots and h are ours again. */
    vmux_close(run->m);
    run->m = NULL;
    r->name = o->tls ? "vmux-async-tls" : o->cluster ? "vmux-async-cluster" : "vmux-async";
    r->threads = 1;
    r->inflight = inflight;
    result_from_hist(r, &run->h, window, &u);
    int err = atomic_load(&run->first_error);
    if (atomic_load(&run->failed)) {
        fprintf(stderr, "vmux-bench: %s: a command failed: %s\n", r->name, vmux_err_name(err));
        return -1;
    }
    return 0;
}

int run_vmux_async(const bench_opts *o, int inflight, bench_result *r)
{
    async_run *run = calloc(1, sizeof(*run));
    async_slot *slots = calloc((size_t)inflight, sizeof(*slots));
    if (!run || !slots || async_init(run) != 0) {
        fprintf(stderr, "vmux-bench: vmux-async: out of memory\n");
        free(run);
        free(slots);
        return -1;
    }
    int rc = -1;
    run->m = open_handle(o);
    if (run->m)
        rc = async_measure(o, run, slots, inflight, r);
    pthread_cond_destroy(&run->drained);
    pthread_mutex_destroy(&run->mu);
    free(slots);
    free(run);
    return rc;
}
