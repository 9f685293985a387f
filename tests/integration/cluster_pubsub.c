/* The cluster pub/sub harness (cluster_pubsub.h). */
#include "cluster_pubsub.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "testutil.h"

void cp_init(struct cp_run *run, vmux_sub_kind kind, int n, const char *prefix, int maxr)
{
    assert_true(n >= 1 && n <= CP_MAXCH);
    run->kind = kind;
    run->n = n;
    run->maxr = maxr;
    for (int i = 0; i < n; i++)
        snprintf(run->names[i], sizeof run->names[i], "%s%d", prefix, i);
    run->acked = calloc((size_t)n * (size_t)maxr, 1);
    run->got = calloc((size_t)n * (size_t)maxr, 1);
    assert_non_null(run->acked);
    assert_non_null(run->got);
}

/* The channel's index: the number after the last ':' of its name. */
static int index_of(const struct cp_run *run, const vmux_bytes *ch)
{
    size_t k = ch->len;
    while (k > 0 && ch->ptr[k - 1] != ':')
        k--;
    int i = k > 0 ? atoi(ch->ptr + k) : -1;
    return i >= 0 && i < run->n && strcmp(run->names[i], ch->ptr) == 0 ? i : -1;
}

static void on_message(const vmux_message *msg, void *userdata)
{
    struct cp_run *run = userdata;
    int i = index_of(run, &msg->channel);
    int r = atoi(msg->payload.ptr);
    if (i < 0 || r < 0 || r >= run->maxr) {
        atomic_fetch_add(&run->strays, 1);
        return;
    }
    uint64_t now = vt_now_ns();
    if (run->last_ns[i] != 0 && now - run->last_ns[i] > run->max_gap_ns[i])
        run->max_gap_ns[i] = now - run->last_ns[i];
    run->last_ns[i] = now;
    /* last: the test thread reads the gaps once it has seen every message arrive */
    uint8_t *got = &run->got[(size_t)i * (size_t)run->maxr + (size_t)r];
    if (__atomic_exchange_n(got, 1, __ATOMIC_ACQ_REL))
        atomic_fetch_add(&run->dups, 1);
}

void cp_subscribe(struct cp_run *run)
{
    for (int i = 0; i < run->n; i++)
        assert_int_equal(vmux_subscribe(run->sub, run->kind,
                                        (vmux_str){run->names[i], strlen(run->names[i])},
                                        on_message, run, &run->subs[i]),
                         0);
    for (int i = 0; i < run->n; i++)
        assert_int_equal(vmux_sub_wait_live(run->subs[i], 30000), 0);
}

static void *publisher(void *p)
{
    struct cp_run *run = p;
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .timeout_ms = 5000);
    for (int r = 0; r < run->maxr && !atomic_load(&run->stop); r++) {
        char payload[16];
        snprintf(payload, sizeof payload, "%d", r);
        for (int i = 0; i < run->n; i++) {
            int64_t receivers = 0;
            int rc = vmux_publish(run->pub, &opts, run->kind,
                                  (vmux_str){run->names[i], strlen(run->names[i])},
                                  (vmux_str){payload, strlen(payload)}, &receivers);
            if (rc == 0)
                run->acked[(size_t)i * (size_t)run->maxr + (size_t)r] = 1;
            else
                atomic_fetch_add(&run->pub_errors, 1);
        }
        atomic_store(&run->rounds, r + 1);
        uv_sleep(2); /* paces the rounds; nothing waits on it */
    }
    return NULL;
}

void cp_start(struct cp_run *run)
{
    atomic_store(&run->stop, false);
    assert_int_equal(pthread_create(&run->th, NULL, publisher, run), 0);
}

void cp_stop(struct cp_run *run)
{
    atomic_store(&run->stop, true);
    pthread_join(run->th, NULL);
}

struct rounds_wait {
    struct cp_run *run;
    int until;
};

static bool rounds_done(void *p)
{
    struct rounds_wait *w = p;
    return atomic_load(&w->run->rounds) >= w->until;
}

void cp_wait_rounds(struct cp_run *run, int more)
{
    struct rounds_wait w = {run, atomic_load(&run->rounds) + more};
    if (w.until > run->maxr)
        fail_msg("the run needs more than %d rounds", run->maxr);
    if (!vt_wait_until(rounds_done, &w, 120000))
        fail_msg("rounds stuck at %d (waiting for %d)", atomic_load(&run->rounds), w.until);
}

struct arrival_wait {
    struct cp_run *run;
    int mark;
};

/* How many messages acknowledged from round mark on have not arrived. */
static long missing_from(struct cp_run *run, int mark, int *first_ch, int *first_r)
{
    long missing = 0;
    int end = atomic_load(&run->rounds);
    for (int i = 0; i < run->n; i++)
        for (int r = mark; r < end; r++) {
            size_t at = (size_t)i * (size_t)run->maxr + (size_t)r;
            if (run->acked[at] && !__atomic_load_n(&run->got[at], __ATOMIC_ACQUIRE)) {
                if (missing++ == 0 && first_ch != NULL) {
                    *first_ch = i;
                    *first_r = r;
                }
            }
        }
    return missing;
}

static bool all_arrived(void *p)
{
    struct arrival_wait *w = p;
    return missing_from(w->run, w->mark, NULL, NULL) == 0;
}

int cp_check_from(struct cp_run *run, int mark)
{
    struct arrival_wait w = {run, mark};
    if (!vt_wait_until(all_arrived, &w, 30000)) {
        int ch = -1, r = -1;
        long n = missing_from(run, mark, &ch, &r);
        fail_msg("%ld messages acknowledged after the move never arrived (first: %s round %d; "
                 "mark %d, rounds %d)",
                 n, ch >= 0 ? run->names[ch] : "?", r, mark, atomic_load(&run->rounds));
    }
    assert_int_equal(atomic_load(&run->dups), 0);
    assert_int_equal(atomic_load(&run->strays), 0);
    int lost = 0;
    for (int i = 0; i < run->n; i++)
        for (int r = 0; r < mark; r++) {
            size_t at = (size_t)i * (size_t)run->maxr + (size_t)r;
            lost += run->acked[at] && !run->got[at];
        }
    return lost;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void cp_windows(const struct cp_run *run, double *max_ms, double *median_ms)
{
    uint64_t gaps[CP_MAXCH];
    memcpy(gaps, run->max_gap_ns, sizeof(uint64_t) * (size_t)run->n);
    qsort(gaps, (size_t)run->n, sizeof gaps[0], cmp_u64);
    *max_ms = (double)gaps[run->n - 1] / 1e6;
    *median_ms = (double)gaps[run->n / 2] / 1e6;
}

void cp_free(struct cp_run *run)
{
    for (int i = 0; i < run->n; i++)
        if (run->subs[i] != NULL)
            vmux_unsubscribe(run->sub, run->subs[i]);
    free(run->acked);
    free(run->got);
}

long long cp_numsub(int port, vmux_sub_kind kind, const char *channel)
{
    redisReply *r = vt_node_command(port, vt_tls_mode(), "PUBSUB %s %s",
                                    kind == VMUX_SUB_SHARD ? "SHARDNUMSUB" : "NUMSUB", channel);
    long long n = -1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        n = r->element[1]->integer;
    freeReplyObject(r);
    return n;
}
