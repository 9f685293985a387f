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

static void fail(struct shared *sh, const char *who, const char *what, int rc)
{
    fprintf(stderr, "lock: %s: %s failed: %s: %s\n", who, what, vmux_err_name(rc),
            vmux_last_error());
    pthread_mutex_lock(&sh->mu);
    sh->failures++;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

/* GET, then SET: a read-modify-write that only the lock makes safe. */
static int increment(vmux *m)
{
    vmux_bytes v = {0};
    int rc = vmux_get(m, NULL, VMUX_STR(COUNTER_KEY), &v);
    if (rc != 0)
        return rc;
    char text[32];
    snprintf(text, sizeof text, "%ld", (v.ptr != NULL ? strtol(v.ptr, NULL, 10) : 0) + 1);
    vmux_bytes_free(&v);
    return vmux_set(m, NULL, VMUX_STR(COUNTER_KEY), VMUX_STR(text), VMUX_NO_EXPIRY,
                    VMUX_COND_ALWAYS, NULL);
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
    if (rc != 0 || !got) {
        fail(sh, w->name, "acquire", rc);
        return -1;
    }
    printf("%-5s acquired the lock after %5.1f ms, fencing token %" PRIu64 "\n", w->name,
           now_ms() - t0, fence);
    note_acquired(w);
    if (fence <= sh->last_fence) /* read and written only under the lock */
        fprintf(stderr, "lock: %s: token %" PRIu64 " did not increase\n", w->name, fence);
    bool increased = fence > sh->last_fence;
    sh->last_fence = fence;
    rc = increment(sh->m);
    bool stored = store_write(&sh->store, fence);
    sleep_ms(WORK_MS); /* the rest of the work, holding the lock */
    int rrc = vmux_lock_release(l, &was_held);
    printf("%-5s released it (%s)\n", w->name, was_held ? "still held" : "had been lost");
    if (rc != 0 || rrc != 0 || !was_held || !stored || !increased) {
        fail(sh, w->name, "a turn", rc != 0 ? rc : rrc);
        return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    vmux_lock_opts o =
        VMUX_INIT(vmux_lock_opts, .ttl_ms = 5000, .auto_renew = true, .retry_max_ms = 50);
    vmux_lock *l = NULL;
    int rc = vmux_lock_new(w->sh->m, VMUX_STR(LOCK_KEY), &o, &l);
    if (rc != 0) {
        fail(w->sh, w->name, "vmux_lock_new", rc);
        return NULL;
    }
    for (int i = 0; i < ROUNDS && turn(w, l) == 0; i++)
        let_the_other_go(w);
    vmux_lock_free(l);
    return NULL;
}

/* ---- a stale holder: why the fencing token matters ---- */

static bool lock_expired(vmux *m)
{
    int64_t n = 1;
    for (int i = 0; i < 500; i++) {
        if (vmux_exists(m, NULL, &VMUX_STR(LOCK_KEY), 1, &n) == 0 && n == 0)
            return true;
        sleep_ms(10);
    }
    return false;
}

static int stale_holder(struct shared *sh)
{
    vmux_lock_opts shortl = VMUX_INIT(vmux_lock_opts, .ttl_ms = 200),
                   normal = VMUX_INIT(vmux_lock_opts, .ttl_ms = 5000);
    vmux_lock *carol = NULL, *alice = NULL;
    bool got = false, got2 = false, was_held = true;
    uint64_t fc = 0, fa = 0;
    int rc = vmux_lock_new(sh->m, VMUX_STR(LOCK_KEY), &shortl, &carol);
    if (rc == 0)
        rc = vmux_lock_new(sh->m, VMUX_STR(LOCK_KEY), &normal, &alice);
    if (rc == 0)
        rc = vmux_lock_acquire_wait(carol, 5000, &got, &fc);
    if (rc == 0 && got) {
        printf("carol acquired the lock, fencing token %" PRIu64 ", TTL 200 ms, and stalls\n", fc);
        if (!lock_expired(sh->m))
            rc = VMUX_ERR_TIMEOUT;
    }
    if (rc == 0 && got)
        rc = vmux_lock_acquire_wait(alice, 5000, &got2, &fa);
    bool alice_wrote = rc == 0 && got2 && store_write(&sh->store, fa);
    if (alice_wrote)
        printf("alice acquired the expired lock, fencing token %" PRIu64 ", and wrote\n", fa);
    bool carol_wrote = store_write(&sh->store, fc);
    printf("carol wakes up and writes with token %" PRIu64 ": %s\n", fc,
           carol_wrote ? "ACCEPTED (wrong!)" : "refused, stale token");
    if (rc == 0)
        rc = vmux_lock_release(carol, &was_held);
    printf("carol's release: %s\n", was_held ? "released (wrong!)" : "the lock was no longer hers");
    bool alice_held = false;
    if (rc == 0)
        rc = vmux_lock_release(alice, &alice_held);
    vmux_lock_free(carol);
    vmux_lock_free(alice);
    if (rc != 0)
        fprintf(stderr, "lock: stale holder: %s (%s)\n", vmux_strerror(rc), vmux_err_name(rc));
    return rc == 0 && alice_wrote && !carol_wrote && !was_held && alice_held ? 0 : -1;
}

/* ---- main ---- */

static int check_counter(vmux *m, long want)
{
    vmux_bytes v = {0};
    int rc = vmux_get(m, NULL, VMUX_STR(COUNTER_KEY), &v);
    long got = rc == 0 && v.ptr != NULL ? strtol(v.ptr, NULL, 10) : -1;
    vmux_bytes_free(&v);
    printf("counter after %d turns each: %ld (%s)\n", ROUNDS, got,
           got == want ? "no update lost" : "WRONG");
    return got == want ? 0 : -1;
}

static int run(vmux *m)
{
    struct shared sh = {.m = m, .last = -1};
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    pthread_mutex_init(&sh.store.mu, NULL);
    vmux_str keys[] = {VMUX_STR(LOCK_KEY), VMUX_STR(FENCE_KEY), VMUX_STR(COUNTER_KEY)};
    int rc = vmux_del(m, NULL, keys, 3, NULL);

    struct worker w[2] = {{&sh, 0, "alice"}, {&sh, 1, "bob"}};
    pthread_t t[2];
    int started = 0;
    for (; rc == 0 && started < 2; started++)
        if (pthread_create(&t[started], NULL, worker_main, &w[started]) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    if (rc == 0 && (started < 2 || sh.failures != 0))
        rc = -1;
    if (rc == 0)
        rc = check_counter(m, 2 * ROUNDS);
    if (rc == 0)
        rc = stale_holder(&sh);
    int cleanup = vmux_del(m, NULL, keys, 3, NULL);
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
