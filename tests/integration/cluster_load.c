/* The ledgered load of the cluster resharding and failover tests: see cluster_load.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster_load.h"
#include "node.h"
#include "route/slot.h"
#include "testutil.h"

#define COUNTER_UNIT 1000000000LL

int64_t cl_counter_base(int t, int i)
{
    return ((int64_t)(t + 1) * 100 + i) * COUNTER_UNIT;
}

void cl_tag_for(bool (*want)(int slot, void *arg), void *arg, int *cursor, char *out, size_t len)
{
    for (int tries = 0; tries < 1000000; tries++) {
        snprintf(out, len, "%d", (*cursor)++);
        if (want((int)vmux__slot_of(out, strlen(out)), arg))
            return;
    }
    fail_msg("no hash tag found for the slots wanted");
}

static int shard_of(struct cl_run *run, const char *key)
{
    return run->slot_shard[vmux__slot_of(key, strlen(key))];
}

void cl_name_string(struct cl_run *run, int t, int i, const char *tag)
{
    struct cl_string *s = &run->t[t].str[i];
    snprintf(s->name, sizeof s->name, "{%s}:%s:t%d:s%d", tag, run->prefix, t, i);
    s->shard = shard_of(run, s->name);
}

void cl_name_counter(struct cl_run *run, int t, int i, const char *tag)
{
    struct cl_counter *c = &run->t[t].ctr[i];
    snprintf(c->name, sizeof c->name, "{%s}:%s:t%d:c%d", tag, run->prefix, t, i);
    c->shard = shard_of(run, c->name);
    c->base = cl_counter_base(t, i);
}

/* ---- one call ---- */

static int call(struct cl_run *run, bool retry_safe, int argc, const char **argv, vmux_reply **r)
{
    char why[256] = "";
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = run->timeout_ms,
                                .flags = retry_safe ? VMUX_CALL_RETRY_SAFE : 0, .errbuf = why,
                                .errlen = sizeof why);
    *r = NULL;
    int rc = vmux_call(run->m, &o, argc, argv, NULL, r);
    if (rc != 0 && rc != VMUX_ERR_CONNECTION_LOST)
        fprintf(stderr, "%s %s: %s (%s)\n", argv[0], argv[1], why, vmux_err_name(rc));
    return rc;
}

/* Called after a success on shard completed at now. */
static void count_success(struct cl_thread *t, int shard, uint64_t now)
{
    struct cl_run *run = t->run;
    uint64_t b = (now - run->start_ns) / (CL_BUCKET_MS * 1000000ULL);
    if (b < CL_BUCKETS && shard >= 0 && shard < CL_SHARDS)
        atomic_fetch_add(&run->done[shard][b], 1);
    uint64_t ev = atomic_load(&run->event_ns), prev = atomic_load(&t->last_ok);
    uint64_t promoted = atomic_load(&run->promoted_ns);
    if (ev != 0 && now > ev && prev != 0 && (promoted == 0 || prev < promoted) &&
        now - prev > t->max_gap) {
        t->max_gap = now - prev;
        t->gap_end = now;
    }
    atomic_store(&t->last_ok, now);
}

/* Whether a write on shard, started at start and acknowledged just now, may be lost. */
static bool maybe_lost(struct cl_run *run, int shard, uint64_t start)
{
    if (shard != run->dead_shard || !atomic_load(&run->barrier))
        return false;
    uint64_t ev = atomic_load(&run->event_ns);
    return ev == 0 || start <= ev;
}

static void wrong(struct cl_thread *t, const char *what, const char *key, const char *got)
{
    fprintf(stderr, "thread %d, %s %s: reply for another call or out of the ledger: %s\n", t->id,
            what, key, got);
    atomic_fetch_add(&t->run->wrong, 1);
}

/*
 * Reads a string value of thread t's string i: its seq in *seq (0 for nil); false (and counted
 * as wrong) when the reply names another key or is of the wrong kind.
 */
static bool own_value(struct cl_thread *t, int i, const vmux_reply *r, uint64_t *seq)
{
    *seq = 0;
    if (vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return true;
    const char *v = vmux_reply_str(r, NULL);
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "t%d:s%d:", t->id, i);
    if (vmux_reply_get_kind(r) != VMUX_REPLY_STRING || strncmp(v, prefix, (size_t)n) != 0) {
        wrong(t, "read", t->str[i].name,
              v != NULL ? v : vmux_reply_kind_name(vmux_reply_get_kind(r)));
        return false;
    }
    *seq = strtoull(v + n, NULL, 10);
    return true;
}

/* Checks a value read from string s against its ledger before this call's own effect. */
static void check_seen(struct cl_thread *t, struct cl_string *s, uint64_t seq)
{
    bool exact = t->run->dead_shard < 0 && s->unknown == 0;
    if (exact ? seq != s->acked : seq < s->safe || seq > s->sent) {
        char got[64];
        snprintf(got, sizeof got, "seq %llu (acked %llu, safe %llu, sent %llu)",
                 (unsigned long long)seq, (unsigned long long)s->acked, (unsigned long long)s->safe,
                 (unsigned long long)s->sent);
        wrong(t, "value", s->name, got);
    }
}

static void op_set(struct cl_thread *t, int i)
{
    struct cl_string *s = &t->str[i];
    char value[64];
    uint64_t seq = ++t->seq;
    snprintf(value, sizeof value, "t%d:s%d:%llu", t->id, i, (unsigned long long)seq);
    const char *argv[] = {"SET", s->name, value, "GET"};
    vmux_reply *r;
    uint64_t start = vt_now_ns();
    uint64_t prev_sent = s->sent;
    s->sent = seq;
    int rc = call(t->run, true, 4, argv, &r);
    uint64_t now = vt_now_ns();
    if (rc != 0) {
        s->unknown = seq;
        atomic_fetch_add(&t->run->errors, 1);
    } else {
        uint64_t old;
        if (own_value(t, i, r, &old)) {
            /* a resent SET may have run already and show its own value as the old one */
            if (old != seq) {
                s->sent = prev_sent;
                check_seen(t, s, old);
                s->sent = seq;
            }
        }
        s->acked = seq;
        if (!maybe_lost(t->run, s->shard, start))
            s->safe = seq;
        count_success(t, s->shard, now);
    }
    vmux_reply_free(r);
}

static void op_get(struct cl_thread *t, int i)
{
    struct cl_string *s = &t->str[i];
    const char *argv[] = {"GET", s->name};
    vmux_reply *r;
    int rc = call(t->run, true, 2, argv, &r);
    uint64_t now = vt_now_ns(), seq;
    if (rc != 0) {
        atomic_fetch_add(&t->run->errors, 1);
    } else {
        if (own_value(t, i, r, &seq))
            check_seen(t, s, seq);
        count_success(t, s->shard, now);
    }
    vmux_reply_free(r);
}

static void op_incr(struct cl_thread *t, int i)
{
    struct cl_counter *c = &t->ctr[i];
    const char *argv[] = {"INCR", c->name};
    vmux_reply *r;
    uint64_t start = vt_now_ns();
    int rc = call(t->run, false, 2, argv, &r);
    uint64_t now = vt_now_ns();
    if (rc == VMUX_ERR_CONNECTION_LOST && t->run->incr_may_be_lost) {
        c->unknown++;
    } else if (rc != 0) {
        if (rc == VMUX_ERR_CONNECTION_LOST)
            fprintf(stderr, "INCR %s: connection lost\n", c->name);
        atomic_fetch_add(&t->run->errors, 1);
    } else {
        c->acked++;
        if (maybe_lost(t->run, c->shard, start))
            c->maybe_lost++;
        int64_t v = vmux_reply_integer(r) - c->base;
        if (vmux_reply_get_kind(r) != VMUX_REPLY_INTEGER || v < 0 || v >= COUNTER_UNIT) {
            char got[64];
            snprintf(got, sizeof got, "%lld", (long long)vmux_reply_integer(r));
            wrong(t, "INCR", c->name, got);
        } else if (v > c->acked + c->unknown) {
            fprintf(stderr, "INCR %s: %lld, more than %lld acknowledged + %lld unknown\n", c->name,
                    (long long)v, (long long)c->acked, (long long)c->unknown);
            atomic_fetch_add(&t->run->twice, 1);
        } else if (v < c->acked - c->maybe_lost) {
            fprintf(stderr, "INCR %s: %lld, fewer than %lld acknowledged - %lld maybe lost\n",
                    c->name, (long long)v, (long long)c->acked, (long long)c->maybe_lost);
            atomic_fetch_add(&t->run->wrong, 1);
        }
        count_success(t, c->shard, now);
    }
    vmux_reply_free(r);
}

/* A paced thread sleeps until its next call is due; calls due too long ago are dropped. */
static void pace(struct cl_thread *t)
{
    if (t->period_ns == 0)
        return;
    uint64_t now = vt_now_ns(), lag = CL_MAX_LAG_MS * 1000000ULL;
    if (t->next_ns == 0)
        t->next_ns = now;
    if (now > t->next_ns + lag)
        t->next_ns += (now - lag - t->next_ns) / t->period_ns * t->period_ns;
    struct timespec due = {(time_t)(t->next_ns / 1000000000ULL),
                           (long)(t->next_ns % 1000000000ULL)};
    while (now < t->next_ns && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
        ;
    t->next_ns += t->period_ns;
}

static void *work(void *p)
{
    struct cl_thread *t = p;
    while (!atomic_load(&t->run->stop)) {
        pace(t);
        int pick = rand_r(&t->rnd) % (2 * CL_STRINGS + CL_COUNTERS);
        if (pick < CL_STRINGS)
            op_set(t, pick);
        else if (pick < 2 * CL_STRINGS)
            op_get(t, pick - CL_STRINGS);
        else
            op_incr(t, pick - 2 * CL_STRINGS);
        atomic_fetch_add(&t->ops, 1);
    }
    return NULL;
}

/* ---- the run ---- */

void cl_start(struct cl_run *run)
{
    for (int t = 0; t < CL_THREADS; t++) {
        struct cl_thread *th = &run->t[t];
        th->run = run;
        th->id = t;
        th->rnd = (unsigned)t * 7919u + 1u;
        for (int i = 0; i < CL_COUNTERS; i++) {
            char base[32];
            snprintf(base, sizeof base, "%lld", (long long)th->ctr[i].base);
            const char *argv[] = {"SET", th->ctr[i].name, base};
            vmux_reply *r;
            assert_int_equal(call(run, true, 3, argv, &r), 0);
            vmux_reply_free(r);
        }
        for (int i = 0; i < CL_STRINGS; i++) {
            const char *argv[] = {"DEL", th->str[i].name};
            vmux_reply *r;
            assert_int_equal(call(run, true, 2, argv, &r), 0);
            vmux_reply_free(r);
        }
    }
    run->start_ns = vt_now_ns();
    for (int t = 0; t < CL_THREADS; t++)
        assert_int_equal(pthread_create(&run->t[t].th, NULL, work, &run->t[t]), 0);
}

void cl_stop(struct cl_run *run)
{
    atomic_store(&run->stop, true);
    for (int t = 0; t < CL_THREADS; t++)
        pthread_join(run->t[t].th, NULL);
}

struct each_did {
    struct cl_run *run;
    int ops[CL_THREADS];
};

static bool each_did(void *arg)
{
    struct each_did *e = arg;
    for (int t = 0; t < CL_THREADS; t++)
        if (atomic_load(&e->run->t[t].ops) < e->ops[t])
            return false;
    return true;
}

void cl_wait_ops(struct cl_run *run, int more)
{
    struct each_did e = {.run = run};
    for (int t = 0; t < CL_THREADS; t++)
        e.ops[t] = atomic_load(&run->t[t].ops) + more;
    if (!vt_wait_until(each_did, &e, 60000))
        fail_msg("the load threads did not do %d more calls each within 60 s", more);
}

uint64_t cl_done_between(struct cl_run *run, int s, bool others, uint64_t from_ns, uint64_t to_ns)
{
    uint64_t unit = CL_BUCKET_MS * 1000000ULL, n = 0;
    uint64_t from = from_ns > run->start_ns ? (from_ns - run->start_ns) / unit : 0;
    uint64_t to = to_ns > run->start_ns ? (to_ns - run->start_ns) / unit : 0;
    for (uint64_t b = from; b < to && b < CL_BUCKETS; b++)
        for (int sh = 0; sh < CL_SHARDS; sh++)
            if (others ? sh != s : sh == s)
                n += atomic_load(&run->done[sh][b]);
    return n;
}

/* ---- the check afterwards ---- */

static vmux_reply *read_key(struct cl_run *run, const char *name)
{
    const char *argv[] = {"GET", name};
    vmux_reply *r;
    int rc = call(run, true, 2, argv, &r);
    if (rc != 0)
        fail_msg("GET %s afterwards: %s", name, vmux_err_name(rc));
    return r;
}

static int check_string(struct cl_thread *t, int i, bool exact)
{
    struct cl_string *s = &t->str[i];
    vmux_reply *r = read_key(t->run, s->name);
    uint64_t seq;
    bool own = own_value(t, i, r, &seq);
    vmux_reply_free(r);
    if (!own)
        fail_msg("%s afterwards: not its own value", s->name);
    if (exact && seq != s->acked)
        fail_msg("%s afterwards: seq %llu, last acknowledged %llu", s->name,
                 (unsigned long long)seq, (unsigned long long)s->acked);
    if (seq < s->safe || seq > s->sent)
        fail_msg("%s afterwards: seq %llu, last safe %llu, last sent %llu", s->name,
                 (unsigned long long)seq, (unsigned long long)s->safe, (unsigned long long)s->sent);
    return seq < s->acked ? 1 : 0;
}

static int check_counter(struct cl_thread *t, int i, bool exact)
{
    struct cl_counter *c = &t->ctr[i];
    vmux_reply *r = read_key(t->run, c->name);
    const char *v = vmux_reply_str(r, NULL);
    if (v == NULL)
        fail_msg("%s afterwards: missing", c->name);
    int64_t n = strtoll(v, NULL, 10) - c->base;
    vmux_reply_free(r);
    int64_t lo = exact ? c->acked : c->acked - c->maybe_lost, hi = c->acked + c->unknown;
    if (n < lo || n > hi)
        fail_msg("%s afterwards: %lld INCRs applied; acknowledged %lld, unknown %lld, maybe "
                 "lost %lld",
                 c->name, (long long)n, (long long)c->acked, (long long)c->unknown,
                 (long long)c->maybe_lost);
    return n < c->acked ? (int)(c->acked - n) : 0;
}

int cl_check_ledger(struct cl_run *run, bool exact)
{
    int missing = 0;
    for (int t = 0; t < CL_THREADS; t++) {
        for (int i = 0; i < CL_STRINGS; i++)
            missing += check_string(&run->t[t], i, exact);
        for (int i = 0; i < CL_COUNTERS; i++)
            missing += check_counter(&run->t[t], i, exact);
    }
    return missing;
}

void cl_totals(struct cl_run *run, long *ops, long *incr_acked, long *incr_unknown,
               long *maybe_lost)
{
    *ops = *incr_acked = *incr_unknown = *maybe_lost = 0;
    for (int t = 0; t < CL_THREADS; t++) {
        struct cl_thread *th = &run->t[t];
        *ops += atomic_load(&th->ops);
        for (int i = 0; i < CL_COUNTERS; i++) {
            *incr_acked += th->ctr[i].acked;
            *incr_unknown += th->ctr[i].unknown;
            *maybe_lost += th->ctr[i].maybe_lost;
        }
        for (int i = 0; i < CL_STRINGS; i++)
            *maybe_lost += th->str[i].acked > th->str[i].safe;
    }
}

void cl_barrier(struct cl_run *run, int port, const char *key)
{
    atomic_store(&run->barrier, true);
    redisContext *c = vt_node_connect(port);
    freeReplyObject(vt_must(c, "SET %s 1", key));
    redisReply *r = vt_must(c, "WAIT 1 10000");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(r->integer >= 1);
    freeReplyObject(r);
    redisFree(c);
}

void cl_read_shards(const char *name, int *slot_shard)
{
    int np = vt_cluster_primaries(name);
    assert_true(np <= CL_SHARDS);
    for (int s = 0; s < VMUX_SLOTS; s++)
        slot_shard[s] = -1;
    redisContext *c = vt_node_connect(vt_cluster_port(name, 0));
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *range = r->element[i];
        int shard = -1; /* the fixture's primary among the range's nodes (a failover swaps) */
        for (size_t n = 2; n < range->elements; n++)
            for (int p = 0; p < np; p++)
                if (range->element[n]->element[1]->integer == vt_cluster_port(name, p))
                    shard = p;
        assert_true(shard >= 0);
        for (long long s = range->element[0]->integer; s <= range->element[1]->integer; s++)
            slot_shard[s] = shard;
    }
    freeReplyObject(r);
    redisFree(c);
}
