/* Helpers shared by the resilience tests; see resil.h. */
#include "resil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "sidetext.h"
#include "testutil.h"

static int slot(int rc)
{
    return rc <= 0 && rc > -RT_SLOTS ? -rc : RT_SLOTS - 1;
}

void rt_ledger_add(rt_ledger *l, int rc)
{
    atomic_fetch_add(&l->n[slot(rc)], 1);
}

unsigned long rt_ledger_get(rt_ledger *l, int rc)
{
    return atomic_load(&l->n[slot(rc)]);
}

unsigned long rt_ledger_total(rt_ledger *l)
{
    unsigned long t = 0;
    for (int i = 0; i < RT_SLOTS; i++)
        t += atomic_load(&l->n[i]);
    return t;
}

void rt_ledger_bad(rt_ledger *l, const char *fmt, ...)
{
    atomic_fetch_add(&l->bad, 1);
    if (atomic_flag_test_and_set(&l->noted))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->what, sizeof(l->what), fmt, ap);
    va_end(ap);
}

void rt_ledger_print(rt_ledger *l, const char *title)
{
    printf("%s:", title);
    for (int i = 0; i < RT_SLOTS; i++) {
        unsigned long n = atomic_load(&l->n[i]);
        if (n > 0)
            printf(" %s=%lu", vmux_err_name(-i), n);
    }
    printf(" bad=%lu\n", atomic_load(&l->bad));
    fflush(stdout);
}

void rt_ledger_expect(rt_ledger *l, const int *allowed, int n)
{
    if (atomic_load(&l->bad) > 0)
        fail_msg("%lu wrong outcomes; the first: %s", atomic_load(&l->bad), l->what);
    for (int i = 0; i < RT_SLOTS; i++) {
        if (atomic_load(&l->n[i]) == 0)
            continue;
        bool ok = false;
        for (int k = 0; k < n; k++)
            ok = ok || slot(allowed[k]) == i;
        if (!ok)
            fail_msg("%lu commands completed with %s, which this test does not allow",
                     atomic_load(&l->n[i]), vmux_err_name(-i));
    }
}

vmux_stats rt_stats(vmux *m)
{
    vmux_stats s = VMUX_INIT(vmux_stats);
    int rc = vmux_read_stats(m, &s);
    if (rc != 0)
        fail_msg("vmux_read_stats: %s", vmux_err_name(rc));
    return s;
}

void rt_stats_match_ledger(vmux *m, rt_ledger *l)
{
    vmux_stats s = rt_stats(m);
    uint64_t done = s.replied + s.timed_out + s.connection_lost + s.closed + s.failed_other;
    printf("stats: submitted=%llu replied=%llu timed_out=%llu lost=%llu closed=%llu other=%llu "
           "resent=%llu connects=%llu connect_failures=%llu\n",
           (unsigned long long)s.submitted, (unsigned long long)s.replied,
           (unsigned long long)s.timed_out, (unsigned long long)s.connection_lost,
           (unsigned long long)s.closed, (unsigned long long)s.failed_other,
           (unsigned long long)s.resent, (unsigned long long)s.connects,
           (unsigned long long)s.connect_failures);
    assert_int_equal(s.submitted, done);
    assert_int_equal(s.submitted, rt_ledger_total(l));
    assert_int_equal(s.replied, rt_ledger_get(l, 0) + rt_ledger_get(l, VMUX_ERR_SERVER));
    assert_int_equal(s.timed_out, rt_ledger_get(l, VMUX_ERR_TIMEOUT));
    assert_int_equal(s.connection_lost, rt_ledger_get(l, VMUX_ERR_CONNECTION_LOST) +
                                            rt_ledger_get(l, VMUX_ERR_PROTOCOL));
    assert_int_equal(s.closed, rt_ledger_get(l, VMUX_ERR_CLOSED));
}

/* ---- side channel ---- */

static char *reply_text(const redisReply *r)
{
    char *s = NULL;
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        if (asprintf(&s, "%lld", r->integer) < 0)
            s = NULL;
        return s;
    case REDIS_REPLY_NIL:
        return strdup("(nil)");
    case REDIS_REPLY_ERROR:
        if (asprintf(&s, "-%s", r->str) < 0)
            s = NULL;
        return s;
    case REDIS_REPLY_ARRAY: {
        size_t len = 1;
        char **parts = calloc(r->elements + 1, sizeof(char *));
        for (size_t i = 0; parts != NULL && i < r->elements; i++) {
            parts[i] = reply_text(r->element[i]);
            len += (parts[i] != NULL ? strlen(parts[i]) : 0) + 1;
        }
        s = parts != NULL ? calloc(1, len) : NULL;
        for (size_t i = 0; parts != NULL && i < r->elements; i++) {
            if (s != NULL && parts[i] != NULL) {
                strcat(s, parts[i]);
                strcat(s, "\n");
            }
            free(parts[i]);
        }
        free(parts);
        return s;
    }
    default:
        return strndup(r->str, r->len);
    }
}

static char *admin_v(int port, const char *fmt, va_list ap)
{
    return vt_side_vtext(port, reply_text, fmt, ap);
}

char *rt_admin(int port, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = admin_v(port, fmt, ap);
    va_end(ap);
    return out;
}

long long rt_admin_int(int port, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = admin_v(port, fmt, ap);
    va_end(ap);
    if (out == NULL)
        fail_msg("side channel to port %d: no reply to %s", port, fmt);
    char *end = NULL;
    long long v = strtoll(out, &end, 10);
    bool ok = end != out && *end == '\0';
    if (!ok)
        fail_msg("side channel to port %d: '%s' is not an integer (%s)", port, out, fmt);
    free(out);
    return v;
}

/* ---- events, waits, handles ---- */

void rt_on_event(const vmux_event *ev, void *userdata)
{
    rt_events *e = userdata;
    atomic_store(&e->last_code, ev->code);
    if (ev->type == VMUX_EVENT_CONNECTION_FAILED)
        atomic_fetch_add(&e->failed, 1);
    else if (ev->type == VMUX_EVENT_CONNECTION_RESTORED)
        atomic_fetch_add(&e->restored, 1);
    else
        atomic_fetch_add(&e->error, 1);
}

struct stat_wait {
    vmux *m;
    size_t field;
    uint64_t want;
};

static bool stat_reached(void *arg)
{
    struct stat_wait *w = arg;
    vmux_stats s = rt_stats(w->m);
    uint64_t v;
    memcpy(&v, (const char *)&s + w->field, sizeof(v));
    return v >= w->want;
}

bool rt_wait_stat(vmux *m, size_t field, uint64_t want, int deadline_ms)
{
    struct stat_wait w = {m, field, want};
    return vt_wait_until(stat_reached, &w, deadline_ms);
}

struct count_wait {
    atomic_ulong *v;
    unsigned long want;
};

static bool count_reached(void *arg)
{
    struct count_wait *w = arg;
    return atomic_load(w->v) >= w->want;
}

bool rt_wait_count(atomic_ulong *v, unsigned long want, int deadline_ms)
{
    struct count_wait w = {v, want};
    return vt_wait_until(count_reached, &w, deadline_ms);
}

/* The library's warnings, for the test log: why links failed. */
static void print_log(vmux_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    printf("[vmux %s] %s\n", level >= VMUX_LOG_ERROR ? "error" : "warn", message);
}

static vmux *open_with(const char *conf, rt_events *ev)
{
    vmux_config *cfg = vt_config(conf);
    if (ev != NULL)
        vmux_config_set_event_handler(cfg, rt_on_event, ev);
    vmux_config_set_log(cfg, print_log, VMUX_LOG_WARN, NULL);
    vmux *m = vt_open_config(cfg, conf);
    vmux_config_free(cfg);
    return m;
}

vmux *rt_open(const char *conf)
{
    return open_with(conf, NULL);
}

vmux *rt_open_events(const char *conf, rt_events *ev)
{
    return open_with(conf, ev);
}

void rt_unique(char *buf, size_t len, const char *prefix)
{
    static atomic_uint n;
    snprintf(buf, len, "%s:%d:%u", prefix, (int)getpid(), atomic_fetch_add(&n, 1));
}

bool rt_soft_check(rt_soft *s, bool cond, const char *fmt, ...)
{
    if (cond || s->msg[0] != '\0')
        return cond;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
    va_end(ap);
    return false;
}

void rt_soft_finish(rt_soft *s)
{
    if (s->msg[0] != '\0')
        fail_msg("%s", s->msg);
}

rt_proxied *rt_proxied_start(const char *opts)
{
    rt_proxied *f = calloc(1, sizeof(*f));
    if (f == NULL || vt_server_start(&f->server, 0, NULL) != 0) {
        free(f);
        return NULL;
    }
    f->proxy = vt_proxy_start("127.0.0.1", f->server.port);
    if (f->proxy == NULL) {
        vt_server_stop(&f->server);
        free(f);
        return NULL;
    }
    char conf[256];
    snprintf(conf, sizeof(conf), "127.0.0.1:%d,%s", vt_proxy_port(f->proxy), opts);
    f->m = rt_open_events(conf, &f->ev);
    return f;
}

void rt_proxied_stop(rt_proxied *f)
{
    vmux_close(f->m);
    vt_proxy_stop(f->proxy);
    vt_server_stop(&f->server);
    free(f);
}

rt_load *rt_load_new(rt_proxied *f, const char *prefix, void (*round)(rt_worker *, const char *))
{
    rt_load *ld = calloc(1, sizeof(*ld));
    assert_non_null(ld);
    ld->f = f;
    ld->round = round;
    rt_unique(ld->prefix, sizeof(ld->prefix), prefix);
    return ld;
}

static void *load_worker_main(void *arg)
{
    rt_worker *w = arg;
    char key[96];
    snprintf(key, sizeof(key), "%s:t%d", w->load->prefix, w->id);
    while (!atomic_load(&w->load->stop))
        w->load->round(w, key);
    return NULL;
}

void rt_load_run(rt_load *ld, unsigned long warmup,
                 void (*step)(rt_proxied *f, rt_load *ld, rt_soft *soft))
{
    rt_worker *w = ld->workers;
    for (int i = 0; i < RT_LOAD_THREADS; i++) {
        w[i] = (rt_worker){.load = ld, .id = i};
        assert_int_equal(pthread_create(&w[i].thread, NULL, load_worker_main, &w[i]), 0);
    }
    rt_soft soft = {""};
    if (rt_soft_check(&soft, rt_wait_count(&ld->incr_ok, warmup, 30000), "no load within 30 s"))
        step(ld->f, ld, &soft);
    atomic_store(&ld->stop, true);
    for (int i = 0; i < RT_LOAD_THREADS; i++)
        pthread_join(w[i].thread, NULL);
    rt_soft_finish(&soft);
}

void rt_load_check_counts(rt_load *ld)
{
    for (int i = 0; i < RT_LOAD_THREADS; i++) {
        char *v = rt_admin(ld->f->server.port, "GET %s:t%d", ld->prefix, i);
        assert_non_null(v);
        unsigned long server = strtoul(v, NULL, 10), ok = atomic_load(&ld->ok[i]),
                      unknown = atomic_load(&ld->unknown[i]);
        free(v);
        if (server < ok || server > ok + unknown)
            fail_msg("thread %d: the server counted %lu INCRs; %lu succeeded, %lu unknown", i,
                     server, ok, unknown);
    }
}
