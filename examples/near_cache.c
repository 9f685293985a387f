/*
 * near_cache: hot keys served from the process's own memory, kept correct by the server's
 * invalidations (near.h, docs/patterns/near-cache.md). It opens two handles from a
 * configuration string (argv[1], else the VMUX_CONFIG environment variable, else
 * "127.0.0.1:6379"): a reader with nearCache=true and a writer without. The writer sets the
 * key "vmux:example:near"; the reader reads it through the near cache until a read is served
 * from memory (the first reads go to the server, and are stored once the invalidation
 * connection is set up). It then times 20000 near hits against 2000 plain GETs of the same key
 * and prints both medians. Then the writer changes the key, and the program prints how long
 * the reader went on seeing the old value before the server's invalidation arrived and it read
 * the new one; it does that 200 times more and prints the median and the 99th percentile of
 * that window (the freshness). Then it does the same for a hash of 10 fields: the median of
 * near HGETALL and HGET hits against plain HGETALLs. It prints the near cache's counters,
 * deletes the keys and exits with status 1 on any failure or surprise, each reported in the
 * library's words (the server's message for a refused command: opts.errbuf, call.h). If no read
 * is served from memory, it says how many reads went to the server untracked, and why that is.
 *
 *   near_cache [CONFIG]      e.g. near_cache "127.0.0.1:6379,syncTimeout=2000"
 */
/* clock_gettime is POSIX, outside strict C11 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmux/vmux.h>

#define KEY "vmux:example:near"
#define HASH "vmux:example:near:hash"
#define FIELDS 10
#define HITS 20000
#define GETS 2000
#define ROUNDS 200
#define WAIT_NS (10ull * 1000000000ull)

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Reads a key through the near cache: a hit's latency against a GET's, and an\n"
            "invalidation arriving after another handle's write.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Per-call options whose errbuf gets the library's words for a failure (call.h). */
struct call {
    char err[256];
    vmux_callopts opts;
};

static const vmux_callopts *with_err(struct call *c)
{
    c->err[0] = '\0';
    c->opts = VMUX_INIT(vmux_callopts, .errbuf = c->err, .errlen = sizeof c->err);
    return &c->opts;
}

/* Reports a failed call in the library's words; returns -1 for the caller. */
static int failed(const char *what, int rc, const struct call *c)
{
    fprintf(stderr, "near_cache: %s failed: %s (%s)\n", what,
            c->err[0] ? c->err : vmux_strerror(rc), vmux_err_name(rc));
    return -1;
}

static vmux *open_handle(const char *conf, bool near)
{
    char err[256] = "";
    vmux_config *cfg = NULL;
    vmux *m = NULL;
    int rc = vmux_config_parse(conf, &cfg, err, sizeof err);
    if (rc == 0 && near)
        rc = vmux_config_set_near_cache(cfg, true);
    if (rc == 0)
        rc = vmux_open(cfg, &m, err, sizeof err);
    vmux_config_free(cfg);
    if (rc != 0)
        fprintf(stderr, "near_cache: cannot open: %s (%s)\n", vmux_strerror(rc), err);
    return m;
}

static vmux_near_stats near_stats(vmux *m)
{
    vmux_near_stats st = VMUX_INIT(vmux_near_stats);
    vmux_near_read_stats(m, &st);
    return st;
}

/* The writer sets KEY to value. */
static int write_key(vmux *writer, const char *value)
{
    struct call c;
    int rc = vmux_set(writer, with_err(&c), VMUX_STR(KEY), VMUX_STR(value), VMUX_NO_EXPIRY,
                      VMUX_COND_ALWAYS, NULL);
    return rc == 0 ? 0 : failed("SET " KEY, rc, &c);
}

static int delete_key(vmux *writer, const char *name)
{
    struct call c;
    vmux_str key = VMUX_STR(name);
    int rc = vmux_del(writer, with_err(&c), &key, 1, NULL);
    return rc == 0 ? 0 : failed("DEL", rc, &c);
}

/* Reads KEY through the near cache; 1 when it holds want, 0 when not, -1 on an error. */
static int near_holds(vmux *m, const char *want)
{
    struct call c;
    vmux_bytes v;
    int rc = vmux_near_get(m, with_err(&c), VMUX_STR(KEY), &v);
    if (rc != 0)
        return failed("vmux_near_get", rc, &c);
    int same = v.ptr != NULL && strcmp(v.ptr, want) == 0;
    vmux_bytes_free(&v);
    return same;
}

/* Says why nothing was served from memory: untracked reads are never stored (near.h). */
static void no_hit(vmux *m, const char *what)
{
    vmux_near_stats st = near_stats(m);
    fprintf(stderr,
            "near_cache: %s was not served from memory within 10 s: of %" PRIu64
            " reads from the server, %" PRIu64 " were untracked, so nothing they read could be "
            "stored (near.h: no invalidation connection yet, or the server's ACL refused one of "
            "the commands the near cache sends, docs/patterns/near-cache.md)\n",
            what, st.misses, st.untracked);
}

/* Until a read of KEY is served from memory: the invalidation connection is set up. */
static int until_hit(vmux *m)
{
    uint64_t end = now_ns() + WAIT_NS;
    while (now_ns() < end) {
        uint64_t hits = near_stats(m).hits;
        int r = near_holds(m, "v1");
        if (r == 0)
            fprintf(stderr, "near_cache: " KEY " does not read as v1, just written\n");
        if (r != 1)
            return -1;
        if (near_stats(m).hits > hits)
            return 0;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    no_hit(m, KEY);
    return -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of n timed reads, near (vmux_near_get) or plain (vmux_get), in ns. */
static int median_ns(vmux *m, bool near, int n, uint64_t *out)
{
    uint64_t *t = malloc((size_t)n * sizeof *t);
    if (t == NULL) {
        fprintf(stderr, "near_cache: out of memory\n");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct call c;
        vmux_bytes v;
        uint64_t t0 = now_ns();
        int rc = near ? vmux_near_get(m, with_err(&c), VMUX_STR(KEY), &v)
                      : vmux_get(m, with_err(&c), VMUX_STR(KEY), &v);
        t[i] = now_ns() - t0;
        vmux_bytes_free(&v);
        if (rc != 0) {
            free(t);
            return failed(near ? "vmux_near_get" : "GET", rc, &c);
        }
    }
    qsort(t, (size_t)n, sizeof *t, cmp_u64);
    *out = t[n / 2];
    free(t);
    return 0;
}

/* The writer changes KEY; how long the reader still sees v1 before it reads v2. */
static int show_invalidation(vmux *reader, vmux *writer)
{
    uint64_t inv = near_stats(reader).invalidations;
    if (write_key(writer, "v2") != 0)
        return -1;
    uint64_t acked = now_ns(), end = acked + WAIT_NS;
    long old_reads = 0;
    int r;
    while ((r = near_holds(reader, "v2")) == 0 && now_ns() < end)
        old_reads++;
    if (r == 0)
        fprintf(stderr, "near_cache: the reader still read the old value after 10 s\n");
    if (r != 1)
        return -1;
    printf("after the writer's SET was acknowledged, the reader saw the old value %ld more "
           "time(s), for %.1f us, until the invalidation arrived (invalidations: %" PRIu64
           " -> %" PRIu64 ")\n",
           old_reads, (double)(now_ns() - acked) / 1e3, inv, near_stats(reader).invalidations);
    return 0;
}

/* Reads KEY until a read is served from memory holding want (it is cached). */
static int until_cached(vmux *m, const char *want)
{
    uint64_t end = now_ns() + WAIT_NS;
    while (now_ns() < end) {
        uint64_t hits = near_stats(m).hits;
        int r = near_holds(m, want);
        if (r < 0)
            return -1;
        if (r == 1 && near_stats(m).hits > hits)
            return 0;
    }
    no_hit(m, want);
    return -1;
}

/*
 * The freshness window, ROUNDS times: KEY cached with one value, the writer's SET of the next
 * acknowledged, then the time until the reader returns the new value. Prints p50 and p99.
 */
static int freshness(vmux *reader, vmux *writer)
{
    uint64_t t[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        char old[32], now[32];
        snprintf(old, sizeof old, "f%d", i);
        snprintf(now, sizeof now, "f%d", i + 1);
        if ((i == 0 && write_key(writer, old) != 0) || until_cached(reader, old) != 0 ||
            write_key(writer, now) != 0)
            return -1;
        uint64_t acked = now_ns(), end = acked + WAIT_NS;
        int r;
        /* A reader polling every 20 us, as a busy service reads, not one spinning flat out:
         * on a machine with fewer free cores than threads, a spinning reader takes the CPU
         * the I/O thread needs to handle the invalidation, and the window grows to the
         * scheduler's time slices. */
        while ((r = near_holds(reader, now)) == 0 && now_ns() < end)
            nanosleep(&(struct timespec){0, 20000}, NULL);
        if (r == 0)
            fprintf(stderr, "near_cache: the reader still read %s 10 s after %s was written\n", old,
                    now);
        if (r != 1)
            return -1;
        t[i] = now_ns() - acked;
    }
    qsort(t, ROUNDS, sizeof t[0], cmp_u64);
    printf("freshness over %d writes (acknowledged SET to the new value read): p50 %.1f us, "
           "p99 %.1f us\n",
           ROUNDS, (double)t[ROUNDS / 2] / 1e3, (double)t[ROUNDS * 99 / 100] / 1e3);
    return 0;
}

/* One timed read of the hash: near HGETALL (0), near HGET (1) or plain HGETALL (2). */
static int hash_read(vmux *m, int how)
{
    static const char *const name[] = {"vmux_near_hgetall", "vmux_near_hget", "HGETALL"};
    struct call c;
    vmux_field_array all;
    vmux_bytes v;
    int rc = how == 1   ? vmux_near_hget(m, with_err(&c), VMUX_STR(HASH), VMUX_STR("f3"), &v)
             : how == 0 ? vmux_near_hgetall(m, with_err(&c), VMUX_STR(HASH), &all)
                        : vmux_hgetall(m, with_err(&c), VMUX_STR(HASH), &all);
    if (rc != 0)
        return failed(name[how], rc, &c);
    if (how == 1)
        vmux_bytes_free(&v);
    else
        vmux_field_array_free(&all);
    return 0;
}

static int hash_median_ns(vmux *m, int how, int n, uint64_t *out)
{
    uint64_t *t = malloc((size_t)n * sizeof *t);
    int rc = t == NULL ? -1 : 0;
    if (t == NULL)
        fprintf(stderr, "near_cache: out of memory\n");
    for (int i = 0; i < n && rc == 0; i++) {
        uint64_t t0 = now_ns();
        rc = hash_read(m, how);
        t[i] = now_ns() - t0;
    }
    if (rc == 0) {
        qsort(t, (size_t)n, sizeof *t, cmp_u64);
        *out = t[n / 2];
    }
    free(t);
    return rc;
}

/* A hash of FIELDS fields: near HGETALL and HGET hits against plain HGETALLs. */
static int typed_reads(vmux *reader, vmux *writer)
{
    vmux_str f[FIELDS], v[FIELDS];
    char names[FIELDS][8], values[FIELDS][16];
    for (int i = 0; i < FIELDS; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        snprintf(values[i], sizeof values[i], "value-%d", i);
        f[i] = (vmux_str){names[i], strlen(names[i])};
        v[i] = (vmux_str){values[i], strlen(values[i])};
    }
    uint64_t all, one, plain;
    uint64_t t0 = now_ns();
    struct call c;
    int rc = vmux_hset(writer, with_err(&c), VMUX_STR(HASH), f, v, FIELDS, NULL);
    if (rc != 0)
        return failed("HSET " HASH, rc, &c);
    for (;;) { /* read until stored and served from memory */
        uint64_t hits = near_stats(reader).hits;
        if (hash_read(reader, 0) != 0)
            return -1;
        if (near_stats(reader).hits > hits)
            break;
        if (now_ns() - t0 > WAIT_NS) {
            no_hit(reader, HASH);
            return -1;
        }
    }
    if (hash_median_ns(reader, 0, HITS, &all) != 0 || hash_median_ns(reader, 1, HITS, &one) != 0 ||
        hash_median_ns(reader, 2, GETS, &plain) != 0)
        return -1;
    printf("hash of %d fields: median near HGETALL hit %.2f us, near HGET hit %.2f us; "
           "plain HGETALL %.2f us\n",
           FIELDS, (double)all / 1e3, (double)one / 1e3, (double)plain / 1e3);
    return delete_key(writer, HASH);
}

static int run(vmux *reader, vmux *writer)
{
    uint64_t hit, get;
    if (write_key(writer, "v1") != 0 || until_hit(reader) != 0 ||
        median_ns(reader, true, HITS, &hit) != 0 || median_ns(reader, false, GETS, &get) != 0)
        return -1;
    printf("median of %d near hits: %.2f us; of %d GETs: %.2f us (%.0fx)\n", HITS,
           (double)hit / 1e3, GETS, (double)get / 1e3, hit ? (double)get / (double)hit : 0.0);
    if (show_invalidation(reader, writer) != 0 || freshness(reader, writer) != 0 ||
        typed_reads(reader, writer) != 0)
        return -1;
    vmux_near_stats st = near_stats(reader);
    printf("near cache: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " stored, %" PRIu64
           " invalidations, %" PRIu64 " entries, %" PRIu64 " bytes\n",
           st.hits, st.misses, st.fills, st.invalidations, st.entries, st.bytes);
    return delete_key(writer, KEY);
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout, argv[0]);
        return 0;
    }
    if (argc > 2) {
        usage(stderr, argv[0]);
        return 2;
    }
    const char *conf = argc > 1 ? argv[1] : getenv("VMUX_CONFIG");
    if (conf == NULL || conf[0] == '\0')
        conf = "127.0.0.1:6379";
    /* The writer only once the reader has opened: a server that cannot be reached would
     * otherwise cost a second connect timeout for the same answer. */
    vmux *reader = open_handle(conf, true), *writer = NULL;
    if (reader != NULL)
        writer = open_handle(conf, false);
    int rc = writer != NULL ? run(reader, writer) : -1;
    vmux_close(reader);
    vmux_close(writer);
    return rc == 0 ? 0 : 1;
}
