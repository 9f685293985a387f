/*
 * lock: two workers taking turns on one distributed lock, with fencing tokens. It opens a
 * handle from a configuration string (argv[1], else the VMUX_CONFIG environment variable, else
 * "127.0.0.1:6379"), and starts two threads, alice and bob, each with its own vmux_lock on the
 * same key (auto-renewed while held). Each in turn waits for the lock, prints the fencing token
 * its acquire returned, increments a shared counter non-atomically (GET, then SET: only safe
 * under the lock), writes to a "fenced store" that refuses any token lower than one it has
 * already seen, and releases; after each release a worker lets the other have a turn first, so
 * the second one is always waiting on the held lock. Then the reason for fencing tokens: carol
 * takes the lock with a short TTL and stalls until it has expired; alice takes it, with a higher
 * token, and writes; carol wakes up still thinking she holds it, and the store refuses her stale
 * token, while her release reports that the lock was no longer hers. The program deletes its
 * keys, frees everything, and exits with status 1 on any failure or surprise (a lost update, a
 * token that did not increase, a stale write accepted).
 *
 *   lock [CONFIG]      e.g. lock "127.0.0.1:6379,syncTimeout=2000"
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime */

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmux/vmux.h>

#define LOCK_KEY "vmux:example:lock"
#define FENCE_KEY "{vmux:example:lock}:fence" /* the default fencing key of LOCK_KEY */
#define COUNTER_KEY "vmux:example:lock:counter"
#define ROUNDS 3
#define WORK_MS 30

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Runs two workers (alice, bob) taking turns on one Valkey lock, printing the\n"
            "fencing token of each acquisition, then shows a stale holder (carol) refused by\n"
            "her fencing token.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- a store that accepts writes only with the highest fencing token seen so far ---- */

struct store {
    pthread_mutex_t mu;
    uint64_t highest;
    int writes;
};

static bool store_write(struct store *s, uint64_t fence)
{
    pthread_mutex_lock(&s->mu);
    bool ok = fence >= s->highest;
    if (ok) {
        s->highest = fence;
        s->writes++;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* ---- the two workers ---- */

struct shared {
    vmux *m;
    struct store store;
    pthread_mutex_t mu; /* turns, below */
    pthread_cond_t cv;
    int acquired[2]; /* acquisitions so far, per worker */
    int last;        /* the worker that acquired last, -1 before the first */
    uint64_t last_fence;
    int failures;
};

struct worker {
    struct shared *sh;
    int id;
    const char *name;
};

/* Reports a failure (rc != 0, with the library's words for it) or a surprise (rc 0), and counts
 * it, so that the other worker stops too. Returns -1. */
static int fail(struct shared *sh, const char *who, const char *what, int rc, const char *words)
{
    if (rc != 0)
        fprintf(stderr, "lock: %s: %s failed: %s: %s\n", who, what, vmux_err_name(rc), words);
    else
        fprintf(stderr, "lock: %s: %s\n", who, what);
    pthread_mutex_lock(&sh->mu);
    sh->failures++;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    return -1;
}

/* GET, then SET: a read-modify-write that only the lock makes safe. On failure, err has the
 * library's words. */
static int increment(vmux *m, char *err, size_t errlen)
{
    vmux_callopts co = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = errlen);
    vmux_bytes v = {0};
    int rc = vmux_get(m, &co, VMUX_STR(COUNTER_KEY), &v);
    if (rc != 0)
        return rc;
    char text[32];
    snprintf(text, sizeof text, "%ld", (v.ptr != NULL ? strtol(v.ptr, NULL, 10) : 0) + 1);
    vmux_bytes_free(&v);
    return vmux_set(m, &co, VMUX_STR(COUNTER_KEY), VMUX_STR(text), VMUX_NO_EXPIRY, VMUX_COND_ALWAYS,
                    NULL);
}

static void note_acquired(struct worker *w)
{
    pthread_mutex_lock(&w->sh->mu);
    w->sh->acquired[w->id]++;
    w->sh->last = w->id;
    pthread_cond_broadcast(&w->sh->cv);
    pthread_mutex_unlock(&w->sh->mu);
}

/* Waits until the other worker has taken the lock since this one did (or is done, or failed). */
static void let_the_other_go(struct worker *w)
{
    struct shared *sh = w->sh;
    pthread_mutex_lock(&sh->mu);
    while (sh->failures == 0 && sh->last == w->id && sh->acquired[1 - w->id] < ROUNDS)
        pthread_cond_wait(&sh->cv, &sh->mu);
    pthread_mutex_unlock(&sh->mu);
}

/* One turn: wait for the lock, use it, release it. */
static int turn(struct worker *w, vmux_lock *l)
{
    struct shared *sh = w->sh;
    double t0 = now_ms();
    bool got = false, was_held = false;
    uint64_t fence = 0;
    int rc = vmux_lock_acquire_wait(l, 10000, &got, &fence);
    if (rc != 0)
        return fail(sh, w->name, "vmux_lock_acquire_wait", rc, vmux_last_error());
    if (!got)
        return fail(sh, w->name, "the lock was not free within 10 s", 0, NULL);
    printf("%-5s acquired the lock after %5.1f ms, fencing token %" PRIu64 "\n", w->name,
           now_ms() - t0, fence);
    note_acquired(w);
    int status = 0; /* sh->last_fence is read and written only under the lock */
    if (fence <= sh->last_fence)
        status = fail(sh, w->name, "the fencing token did not increase", 0, NULL);
    sh->last_fence = fence;
    char err[256] = "";
    rc = increment(sh->m, err, sizeof err);
    if (rc != 0)
        status = fail(sh, w->name, "the increment (GET, then SET)", rc, err);
    else if (!store_write(&sh->store, fence))
        status = fail(sh, w->name, "the fenced store refused the token", 0, NULL);
    sleep_ms(WORK_MS); /* the rest of the work, holding the lock */
    rc = vmux_lock_release(l, &was_held);
    if (rc != 0) /* for VMUX_ERR_CONNECTION_LOST, whether it was still held is not known */
        return fail(sh, w->name, "vmux_lock_release", rc, vmux_last_error());
    printf("%-5s released it (%s)\n", w->name, was_held ? "still held" : "had been lost");
    if (!was_held)
        return fail(sh, w->name, "the lock was lost while held", 0, NULL);
    return status;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    vmux_lock_opts o =
        VMUX_INIT(vmux_lock_opts, .ttl_ms = 5000, .auto_renew = true, .retry_max_ms = 50);
    vmux_lock *l = NULL;
    int rc = vmux_lock_new(w->sh->m, VMUX_STR(LOCK_KEY), &o, &l);
    if (rc != 0) {
        fail(w->sh, w->name, "vmux_lock_new", rc, vmux_last_error());
        return NULL;
    }
    for (int i = 0; i < ROUNDS && turn(w, l) == 0; i++)
        let_the_other_go(w);
    vmux_lock_free(l);
    return NULL;
}

/* ---- a stale holder: why the fencing token matters ---- */

static int stale_failed(const char *what, int rc, const char *words)
{
    if (rc != 0)
        fprintf(stderr, "lock: stale holder: %s failed: %s: %s\n", what, vmux_err_name(rc), words);
    else
        fprintf(stderr, "lock: stale holder: %s\n", what);
    return -1;
}

/* Waits (up to 5 s) for the lock's key to expire. */
static int wait_for_expiry(vmux *m)
{
    char err[256] = "";
    vmux_callopts co = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    for (int i = 0; i < 500; i++) {
        int64_t n = 1;
        int rc = vmux_exists(m, &co, &VMUX_STR(LOCK_KEY), 1, &n);
        if (rc != 0)
            return stale_failed("vmux_exists", rc, err);
        if (n == 0)
            return 0;
        sleep_ms(10);
    }
    return stale_failed("carol's lock did not expire within 5 s", 0, NULL);
}

static int stale_steps(struct shared *sh, vmux_lock *carol, vmux_lock *alice)
{
    bool got = false, was_held = true, alice_held = false;
    uint64_t fc = 0, fa = 0;
    int rc = vmux_lock_acquire_wait(carol, 5000, &got, &fc);
    if (rc != 0 || !got)
        return rc != 0 ? stale_failed("carol's acquire", rc, vmux_last_error())
                       : stale_failed("carol did not get the lock within 5 s", 0, NULL);
    printf("carol acquired the lock, fencing token %" PRIu64 ", TTL 200 ms, and stalls\n", fc);
    if (wait_for_expiry(sh->m) != 0)
        return -1;
    rc = vmux_lock_acquire_wait(alice, 5000, &got, &fa);
    if (rc != 0 || !got)
        return rc != 0 ? stale_failed("alice's acquire", rc, vmux_last_error())
                       : stale_failed("alice did not get the expired lock within 5 s", 0, NULL);
    bool alice_wrote = store_write(&sh->store, fa);
    printf("alice acquired the expired lock, fencing token %" PRIu64 ", and wrote: %s\n", fa,
           alice_wrote ? "accepted" : "REFUSED (wrong!)");
    bool carol_wrote = store_write(&sh->store, fc);
    printf("carol wakes up and writes with token %" PRIu64 ": %s\n", fc,
           carol_wrote ? "ACCEPTED (wrong!)" : "refused, stale token");
    rc = vmux_lock_release(carol, &was_held);
    if (rc != 0)
        return stale_failed("carol's release", rc, vmux_last_error());
    printf("carol's release: %s\n", was_held ? "released (wrong!)" : "the lock was no longer hers");
    rc = vmux_lock_release(alice, &alice_held);
    if (rc != 0)
        return stale_failed("alice's release", rc, vmux_last_error());
    if (!alice_held)
        return stale_failed("alice's lock was lost before her release", 0, NULL);
    return alice_wrote && !carol_wrote && !was_held ? 0 : -1;
}

static int stale_holder(struct shared *sh)
{
    vmux_lock_opts shortl = VMUX_INIT(vmux_lock_opts, .ttl_ms = 200),
                   normal = VMUX_INIT(vmux_lock_opts, .ttl_ms = 5000);
    vmux_lock *carol = NULL, *alice = NULL;
    int rc = vmux_lock_new(sh->m, VMUX_STR(LOCK_KEY), &shortl, &carol);
    if (rc == 0)
        rc = vmux_lock_new(sh->m, VMUX_STR(LOCK_KEY), &normal, &alice);
    rc = rc != 0 ? stale_failed("vmux_lock_new", rc, vmux_last_error())
                 : stale_steps(sh, carol, alice);
    vmux_lock_free(carol); /* releases a lock still held, on an early return */
    vmux_lock_free(alice);
    return rc;
}

/* ---- main ---- */

static int check_counter(vmux *m, long want)
{
    char err[256] = "";
    vmux_callopts co = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_bytes v = {0};
    int rc = vmux_get(m, &co, VMUX_STR(COUNTER_KEY), &v);
    if (rc != 0) {
        fprintf(stderr, "lock: reading the counter failed: %s: %s\n", vmux_err_name(rc), err);
        return -1;
    }
    long got = v.ptr != NULL ? strtol(v.ptr, NULL, 10) : 0;
    vmux_bytes_free(&v);
    printf("counter after %d turns each: %ld (%s)\n", ROUNDS, got,
           got == want ? "no update lost" : "WRONG");
    return got == want ? 0 : -1;
}

/* Deletes the example's keys: those of an earlier, interrupted run, or of this one. */
static int delete_keys(vmux *m, const char *when)
{
    char err[256] = "";
    vmux_callopts co = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_str keys[] = {VMUX_STR(LOCK_KEY), VMUX_STR(FENCE_KEY), VMUX_STR(COUNTER_KEY)};
    int rc = vmux_del(m, &co, keys, 3, NULL);
    if (rc != 0)
        fprintf(stderr, "lock: deleting the keys %s failed: %s: %s\n", when, vmux_err_name(rc),
                err);
    return rc;
}

static int run(vmux *m)
{
    struct shared sh = {.m = m, .last = -1};
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    pthread_mutex_init(&sh.store.mu, NULL);
    int rc = delete_keys(m, "before the run");

    struct worker w[2] = {{&sh, 0, "alice"}, {&sh, 1, "bob"}};
    pthread_t t[2];
    int started = 0;
    for (; rc == 0 && started < 2; started++)
        if (pthread_create(&t[started], NULL, worker_main, &w[started]) != 0) {
            fprintf(stderr, "lock: cannot start a worker thread\n");
            rc = -1;
            break;
        }
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    if (rc == 0 && sh.failures != 0)
        rc = -1;
    if (rc == 0)
        rc = check_counter(m, 2 * ROUNDS);
    if (rc == 0)
        rc = stale_holder(&sh);
    int cleanup = delete_keys(m, "after the run");
    pthread_mutex_destroy(&sh.store.mu);
    pthread_cond_destroy(&sh.cv);
    pthread_mutex_destroy(&sh.mu);
    return rc == 0 && cleanup == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout, argv[0]);
        return 0;
    }
    if (argc > 2) {
        usage(stderr, argv[0]);
        return 2;
    }
    const char *config = argc > 1 ? argv[1] : getenv("VMUX_CONFIG");
    if (config == NULL || config[0] == '\0')
        config = "127.0.0.1:6379";

    char err[256] = "", shown[512] = "";
    vmux_config *cfg = NULL;
    vmux *m = NULL;
    int rc = vmux_config_parse(config, &cfg, err, sizeof err);
    if (rc == 0) {
        /* Not config itself, which may hold a password: vmux_config_to_string() masks it. */
        vmux_config_to_string(cfg, shown, sizeof shown);
        printf("vmux %s, connecting with \"%s\"\n", vmux_version(), shown);
        rc = vmux_open(cfg, &m, err, sizeof err);
    }
    vmux_config_free(cfg);
    if (rc != 0) {
        fprintf(stderr, "lock: cannot open: %s (%s)%s%s\n", vmux_strerror(rc), vmux_err_name(rc),
                err[0] ? ": " : "", err);
        return 1;
    }
    rc = run(m);
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
