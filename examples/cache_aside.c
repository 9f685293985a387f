/*
 * cache_aside: a read-through cache in front of a slow "database", with vmux's cache-aside
 * helper (cache.h). It opens a handle from a configuration string (argv[1], else the
 * VMUX_CONFIG environment variable, else "127.0.0.1:6379") and makes a cache with the key
 * prefix "vmux:example:cache:", a 60-second TTL and a 5-second TTL for "not found". The
 * database is a function that takes about 50 ms per lookup and knows users 1 to 3. The program
 * first clears its keys (invalidate), then reads user 1 twice, printing how long each read took
 * and whether it went to the database: the first is a miss (about 50 ms, one lookup), the
 * second a hit (well under a millisecond on a local server, no lookup). It reads user 42, who
 * does not exist, twice: the database is asked once and "not found" is served from the cache
 * the second time. It then starts 8 threads that read user 2 at the same moment, and shows
 * that the database was asked once for all of them (single flight); should a thread fail to
 * start, it lets the started ones go without reading, joins them and says why. The cache is not
 * strict: when Valkey fails it serves from the database and only counts the error, so each read
 * says when a Valkey command failed under it. It prints the cache's counters at the end, frees
 * everything, and exits with status 1 on any failure (Valkey's included) or surprise.
 *
 *   cache_aside [CONFIG]      e.g. cache_aside "127.0.0.1:6379,syncTimeout=2000"
 */
/* clock_gettime and nanosleep are POSIX, outside strict C11 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmux/vmux.h>

#define PREFIX "vmux:example:cache:"
#define DB_LATENCY_MS 50
#define READERS 8

static atomic_int db_lookups;

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Reads through a Valkey cache in front of a slow lookup: a miss, a hit,\n"
            "a cached \"not found\", and %d concurrent readers sharing one lookup.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog, READERS);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The "database": slow, and it knows users 1 to 3. Keys are "user:<n>". */
static int db_load(vmux_str key, vmux_bytes *value, void *arg)
{
    (void)arg;
    atomic_fetch_add(&db_lookups, 1);
    nanosleep(&(struct timespec){0, DB_LATENCY_MS * 1000000L}, NULL);
    char id[32] = "";
    if (key.len < 5 || key.len - 5 >= sizeof id || memcmp(key.ptr, "user:", 5) != 0)
        return VMUX_CACHE_NOT_FOUND;
    memcpy(id, (const char *)key.ptr + 5, key.len - 5);
    int n = atoi(id);
    if (n < 1 || n > 3)
        return VMUX_CACHE_NOT_FOUND;
    char text[64];
    int len = snprintf(text, sizeof text, "{\"id\":%d,\"name\":\"user %d\"}", n, n);
    if ((value->ptr = malloc((size_t)len)) == NULL)
        return -1001; /* our own error code: out of memory in the "database" */
    memcpy(value->ptr, text, (size_t)len);
    value->len = (size_t)len;
    return 0;
}

/* The cache's count of failed Valkey commands: a cache that is not strict goes on without
 * Valkey and returns 0, so this counter is where such a failure shows. */
static uint64_t valkey_errors(const vmux_cache *c)
{
    vmux_cache_stats s = VMUX_INIT(vmux_cache_stats);
    return vmux_cache_read_stats(c, &s) == 0 ? s.errors : 0;
}

/* Reads key through the cache, printing the value, the time taken and the lookups it made. */
static int read_user(vmux_cache *c, const char *key, const char *want)
{
    int before = atomic_load(&db_lookups);
    uint64_t errors = valkey_errors(c);
    double t0 = now_ms();
    vmux_bytes v = {0};
    int rc = vmux_cache_get(c, VMUX_STR(key), db_load, NULL, 0, &v);
    double took = now_ms() - t0;
    if (rc != 0) {
        fprintf(stderr, "cache_aside: get %s failed: %s: %s\n", key, vmux_err_name(rc),
                vmux_last_error());
        return -1;
    }
    int lookups = atomic_load(&db_lookups) - before;
    printf("  %-8s -> %-32s %7.3f ms  %s%s\n", key, v.ptr ? v.ptr : "(not found)", took,
           lookups ? "miss: loaded from the database" : "hit: served from Valkey",
           valkey_errors(c) != errors ? " (a Valkey command failed: not cached)" : "");
    int ok = want == NULL ? v.ptr == NULL : v.ptr != NULL && strcmp(v.ptr, want) == 0;
    vmux_bytes_free(&v);
    if (!ok)
        fprintf(stderr, "cache_aside: %s: unexpected value\n", key);
    return ok ? 0 : -1;
}

/* Holds the readers until all of them have started, so that they read at the same moment; or,
 * when some could not start, lets the others go without reading (a barrier would hold them for
 * ever). */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0: wait, 1: read, -1: go home */
};

static void gate_set(struct gate *g, int state)
{
    pthread_mutex_lock(&g->mu);
    g->state = state;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Waits until the gate is set; true: read. */
static bool gate_pass(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->state == 0)
        pthread_cond_wait(&g->cv, &g->mu);
    bool go = g->state > 0;
    pthread_mutex_unlock(&g->mu);
    return go;
}

struct reader {
    vmux_cache *cache;
    struct gate *start;
    int rc;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    if (!gate_pass(r->start))
        return NULL;
    vmux_bytes v = {0};
    r->rc = vmux_cache_get(r->cache, VMUX_STR("user:2"), db_load, NULL, 0, &v);
    if (r->rc != 0) /* the words are this thread's */
        fprintf(stderr, "cache_aside: a reader's get failed: %s: %s\n", vmux_err_name(r->rc),
                vmux_last_error());
    else if (v.ptr == NULL || strstr(v.ptr, "\"id\":2") == NULL)
        r->rc = -1;
    vmux_bytes_free(&v);
    return NULL;
}

/* READERS threads read one key at once; the database should be asked once. */
static int stampede(vmux_cache *c)
{
    struct reader readers[READERS];
    pthread_t threads[READERS];
    struct gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    int before = atomic_load(&db_lookups), failed = 0, started = 0, rc = 0;
    while (started < READERS && rc == 0) {
        readers[started] = (struct reader){.cache = c, .start = &start};
        rc = pthread_create(&threads[started], NULL, reader_main, &readers[started]);
        started += rc == 0;
    }
    gate_set(&start, rc == 0 ? 1 : -1);
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        failed += readers[i].rc != 0;
    }
    if (rc != 0) {
        fprintf(stderr, "cache_aside: cannot start reader %d of %d: %s\n", started + 1, READERS,
                strerror(rc));
        return -1;
    }
    int lookups = atomic_load(&db_lookups) - before;
    printf("  %d threads read user:2 at once: %d database lookup(s), %d failure(s)\n", READERS,
           lookups, failed);
    if (failed == 0 && lookups == 1)
        return 0;
    fprintf(stderr, "cache_aside: the stampede should have made one lookup, with no failure\n");
    return -1;
}

static int demo(vmux_cache *c)
{
    static const char *const keys[] = {"user:1", "user:2", "user:42"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int rc = vmux_cache_invalidate(c, VMUX_STR(keys[i]));
        if (rc != 0) {
            fprintf(stderr, "cache_aside: invalidate %s failed: %s: %s\n", keys[i],
                    vmux_err_name(rc), vmux_last_error());
            return -1;
        }
    }
    const char *u1 = "{\"id\":1,\"name\":\"user 1\"}";
    printf("reading user:1 twice:\n");
    if (read_user(c, "user:1", u1) != 0 || read_user(c, "user:1", u1) != 0)
        return -1;
    printf("reading user:42 (who does not exist) twice:\n");
    if (read_user(c, "user:42", NULL) != 0 || read_user(c, "user:42", NULL) != 0)
        return -1;
    printf("a stampede:\n");
    return stampede(c);
}

static int run(vmux *m)
{
    vmux_cache_opts o = VMUX_INIT(vmux_cache_opts, .prefix = VMUX_STR(PREFIX), .ttl_ms = 60000,
                                  .negative_ttl_ms = 5000);
    vmux_cache *c = NULL;
    int rc = vmux_cache_new(m, &o, &c);
    if (rc != 0) {
        fprintf(stderr, "cache_aside: vmux_cache_new: %s (%s)\n", vmux_strerror(rc),
                vmux_err_name(rc));
        return -1;
    }
    rc = demo(c);
    vmux_cache_stats s = VMUX_INIT(vmux_cache_stats);
    (void)vmux_cache_read_stats(c, &s); /* fails only for NULL c or a bad size */
    printf("cache counters: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " loads, %" PRIu64
           " shared, %" PRIu64 " errors\n",
           s.hits, s.misses, s.loads, s.shared, s.errors);
    if (s.errors != 0) {
        fprintf(stderr,
                "cache_aside: %" PRIu64
                " Valkey command(s) failed (a cache that is not strict goes "
                "on without Valkey and keeps only this count: set strict to get the errors)\n",
                s.errors);
        rc = -1;
    }
    vmux_cache_free(c);
    return rc;
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
        fprintf(stderr, "cache_aside: cannot open: %s (%s)%s%s\n", vmux_strerror(rc),
                vmux_err_name(rc), err[0] ? ": " : "", err);
        return 1;
    }
    rc = run(m);
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
