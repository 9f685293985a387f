/*
 * streams: a work queue on a Valkey stream with a consumer group, using vmux's typed stream
 * commands. It opens a handle from a configuration string (argv[1], else the VMUX_CONFIG
 * environment variable, else "127.0.0.1:6379"), creates the stream and the group "workers"
 * (XGROUP CREATE ... MKSTREAM), and starts a producer thread that adds N jobs (XADD, keeping
 * the stream to about 1000 entries with MAXLEN ~). Meanwhile consumer "alice" takes jobs with
 * blocking XREADGROUP reads (they wait on a dedicated connection, never stalling the producer's
 * XADDs on the shared one) and acknowledges (XACK) only the even-numbered ones, as if she
 * crashed in the middle of the others. Consumer "bob" then waits briefly for new work with a
 * blocking read of his own, finds none, lists what is stale (XPENDING), claims the entries
 * alice left idle (XAUTOCLAIM), finishes and acknowledges them, so that in the end every job
 * was acknowledged exactly once and nothing is pending. Each step is printed. The program
 * deletes its stream (and with it the group) when done, frees everything it allocated, and
 * exits with status 1 on any failure or surprise.
 *
 *   streams [CONFIG]      e.g. streams "127.0.0.1:6379,syncTimeout=2000"
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmux/vmux.h>

#define STREAM_KEY "vmux:example:streams"
#define GROUP "workers"
#define JOBS 10
/* Entries idle this long (ms) count as abandoned; bob's wait for new work exceeds it. */
#define STALE_MS 50
#define BOB_WAIT_MS 100

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Runs a producer and a consumer group (alice, bob) on a Valkey stream:\n"
            "reads, acknowledgements, and claiming of stale entries.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog);
}

/* Reports a failed call (with the server's message, if any); returns -1 for the caller. */
static int failed(const char *what, int rc, const char *errbuf)
{
    fprintf(stderr, "streams: %s failed: %s (%s)%s%s\n", what, vmux_strerror(rc), vmux_err_name(rc),
            errbuf[0] ? ": " : "", errbuf);
    return -1;
}

/* Per-call options with an error buffer for the server's message. */
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

/* The job number in an entry's "job" field, or -1. */
static int job_of(const vmux_stream_entry *e)
{
    for (size_t i = 0; i + 1 < e->fields.count; i += 2)
        if (strcmp(e->fields.items[i].ptr, "job") == 0)
            return atoi(e->fields.items[i + 1].ptr);
    return -1;
}

/* ---- the producer ---- */

struct producer {
    vmux *m;
    int rc;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    vmux_xadd_opts keep = VMUX_INIT(
        vmux_xadd_opts, .trim = {.kind = VMUX_TRIM_MAXLEN, .approximate = true, .maxlen = 1000});
    for (int i = 1; i <= JOBS && p->rc == 0; i++) {
        char job[16], task[32];
        snprintf(job, sizeof job, "%d", i);
        snprintf(task, sizeof task, "resize image %d", i);
        vmux_str fields[] = {VMUX_STR("job"), VMUX_STR("task")};
        vmux_str values[] = {VMUX_STR(job), VMUX_STR(task)};
        vmux_bytes id;
        struct call c;
        int rc = vmux_xadd(p->m, with_err(&c), VMUX_STR(STREAM_KEY), VMUX_XID_DEFAULT, fields,
                           values, 2, &keep, &id);
        if (rc != 0) {
            p->rc = failed("producer: XADD", rc, c.err);
            break;
        }
        printf("producer: added job %d as %s\n", i, id.ptr);
        vmux_bytes_free(&id);
    }
    return NULL;
}

/* ---- alice ---- */

/* Acknowledges one entry; counts it in acked[job]. */
static int ack(vmux *m, const char *who, const vmux_stream_entry *e, int *acked)
{
    struct call c;
    int64_t n = 0;
    vmux_str id = VMUX_STRN(e->id.ptr, e->id.len);
    int rc = vmux_xack(m, with_err(&c), VMUX_STR(STREAM_KEY), VMUX_STR(GROUP), &id, 1, &n);
    if (rc != 0)
        return failed("XACK", rc, c.err);
    int job = job_of(e);
    printf("%s: done with job %d (%s), acknowledged: %" PRId64 "\n", who, job, e->id.ptr, n);
    if (n != 1 || job < 1 || job > JOBS) {
        fprintf(stderr, "streams: %s could not acknowledge %s\n", who, e->id.ptr);
        return -1;
    }
    acked[job]++;
    return 0;
}

/* alice reads until she has seen every job, acknowledging the even ones. */
static int alice(vmux *m, int *acked)
{
    vmux_str key = VMUX_STR(STREAM_KEY);
    vmux_xreadgroup_opts ro = VMUX_INIT(vmux_xreadgroup_opts, .count = 4);
    int seen = 0;
    while (seen < JOBS) {
        struct call c;
        vmux_stream_batch_array got;
        /* Waits up to 5 s for new entries, on one of the handle's blocking connections. */
        int rc = vmux_xreadgroup(m, with_err(&c), VMUX_STR(GROUP), VMUX_STR("alice"), &key, NULL, 1,
                                 &ro, 5000, &got);
        if (rc != 0)
            return failed("alice: XREADGROUP", rc, c.err);
        if (got.count == 0) {
            fprintf(stderr, "streams: alice waited 5 s and got nothing\n");
            return -1;
        }
        const vmux_stream_entry_array *es = &got.items[0].entries;
        printf("alice: read a batch of %zu\n", es->count);
        for (size_t i = 0; i < es->count && rc == 0; i++, seen++) {
            if (job_of(&es->items[i]) % 2 == 0)
                rc = ack(m, "alice", &es->items[i], acked);
            else
                printf("alice: took job %d (%s) and never finished it\n", job_of(&es->items[i]),
                       es->items[i].id.ptr);
        }
        vmux_stream_batch_array_free(&got);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- bob ---- */

/* Prints the group's pending entries; stores how many there are in *count. */
static int show_pending(vmux *m, int64_t *count)
{
    struct call c;
    vmux_xpending_summary s;
    int rc = vmux_xpending(m, with_err(&c), VMUX_STR(STREAM_KEY), VMUX_STR(GROUP), &s);
    if (rc != 0)
        return failed("XPENDING", rc, c.err);
    printf("pending: %" PRId64 " entries", s.count);
    for (size_t i = 0; i < s.nconsumers; i++)
        printf("%s %s has %" PRId64, i ? "," : ":", s.consumers[i].name.ptr,
               s.consumers[i].pending);
    printf("\n");
    *count = s.count;
    vmux_xpending_summary_free(&s);
    return 0;
}

/* bob's wait for new work: a blocking read that, with everything taken, times out. */
static int bob_waits(vmux *m)
{
    struct call c;
    vmux_str key = VMUX_STR(STREAM_KEY);
    vmux_stream_batch_array got;
    int rc = vmux_xreadgroup(m, with_err(&c), VMUX_STR(GROUP), VMUX_STR("bob"), &key, NULL, 1, NULL,
                             BOB_WAIT_MS, &got);
    if (rc != 0)
        return failed("bob: XREADGROUP", rc, c.err);
    printf("bob: waited %d ms for new jobs, %s\n", BOB_WAIT_MS,
           got.count == 0 ? "none came" : "some came");
    rc = got.count == 0 ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "streams: bob found new work, but the producer was done\n");
    vmux_stream_batch_array_free(&got);
    return rc;
}

/* Lists the entries idle at least STALE_MS, with their owner and delivery count. */
static int show_stale(vmux *m)
{
    struct call c;
    vmux_xpending_array p;
    int rc = vmux_xpending_range(m, with_err(&c), VMUX_STR(STREAM_KEY), VMUX_STR(GROUP),
                                 VMUX_XID_DEFAULT, VMUX_XID_DEFAULT, 100, VMUX_XID_DEFAULT,
                                 STALE_MS, &p);
    if (rc != 0)
        return failed("XPENDING (extended)", rc, c.err);
    for (size_t i = 0; i < p.count; i++)
        printf("stale: %s owned by %s, idle %" PRId64 " ms, delivered %" PRId64 " time(s)\n",
               p.items[i].id.ptr, p.items[i].consumer.ptr, p.items[i].idle_ms,
               p.items[i].deliveries);
    vmux_xpending_array_free(&p);
    return 0;
}

/* One XAUTOCLAIM step from *cursor: bob finishes and acknowledges what he claims. */
static int bob_claims(vmux *m, vmux_bytes *cursor, int *acked)
{
    struct call c;
    vmux_bytes next;
    vmux_stream_entry_array claimed;
    vmux_bytes_array deleted;
    vmux_str from = cursor->ptr ? VMUX_STRN(cursor->ptr, cursor->len) : VMUX_XID_DEFAULT;
    int rc = vmux_xautoclaim(m, with_err(&c), VMUX_STR(STREAM_KEY), VMUX_STR(GROUP),
                             VMUX_STR("bob"), STALE_MS, from, 0, &next, &claimed, &deleted);
    if (rc != 0)
        return failed("bob: XAUTOCLAIM", rc, c.err);
    printf("bob: claimed %zu stale entries (%zu were deleted meanwhile), next cursor %s\n",
           claimed.count, deleted.count, next.ptr);
    for (size_t i = 0; i < claimed.count && rc == 0; i++)
        rc = ack(m, "bob", &claimed.items[i], acked);
    vmux_stream_entry_array_free(&claimed);
    vmux_bytes_array_free(&deleted);
    vmux_bytes_free(cursor);
    *cursor = next;
    return rc;
}

static int bob(vmux *m, int *acked)
{
    int64_t pending;
    if (bob_waits(m) != 0 || show_pending(m, &pending) != 0 || show_stale(m) != 0)
        return -1;
    vmux_bytes cursor = {0};
    int rc = 0;
    /* XAUTOCLAIM walks the pending list like SCAN: until the cursor comes back as 0-0. */
    do {
        rc = bob_claims(m, &cursor, acked);
    } while (rc == 0 && strcmp(cursor.ptr, "0-0") != 0);
    vmux_bytes_free(&cursor);
    return rc;
}

/* ---- the whole run ---- */

static int delete_stream(vmux *m)
{
    struct call c;
    vmux_str key = VMUX_STR(STREAM_KEY);
    int rc = vmux_del(m, with_err(&c), &key, 1, NULL);
    return rc != 0 ? failed("DEL", rc, c.err) : 0;
}

/* Every job acknowledged exactly once, and nothing left pending. */
static int check(vmux *m, const int *acked)
{
    int64_t pending = -1, length = -1;
    struct call c;
    int rc = vmux_xlen(m, with_err(&c), VMUX_STR(STREAM_KEY), &length);
    if (rc != 0)
        return failed("XLEN", rc, c.err);
    if (show_pending(m, &pending) != 0)
        return -1;
    printf("stream length: %" PRId64 "\n", length);
    for (int i = 1; i <= JOBS; i++)
        if (acked[i] != 1) {
            fprintf(stderr, "streams: job %d was acknowledged %d times\n", i, acked[i]);
            return -1;
        }
    return pending == 0 && length == JOBS ? 0 : -1;
}

static int run(vmux *m)
{
    struct call c;
    int acked[JOBS + 1] = {0};
    if (delete_stream(m) != 0)
        return -1;
    /* "$" (the default ID): the group delivers what is added from now on. */
    int rc = vmux_xgroup_create(m, with_err(&c), VMUX_STR(STREAM_KEY), VMUX_STR(GROUP),
                                VMUX_XID_DEFAULT, true);
    if (rc != 0)
        return failed("XGROUP CREATE", rc, c.err);
    printf("created stream %s with consumer group %s\n", STREAM_KEY, GROUP);

    struct producer p = {.m = m};
    pthread_t t;
    if (pthread_create(&t, NULL, produce, &p) != 0) {
        fprintf(stderr, "streams: cannot start the producer thread\n");
        return -1;
    }
    rc = alice(m, acked);
    pthread_join(t, NULL);
    if (rc == 0 && p.rc == 0)
        rc = bob(m, acked);
    if (rc == 0 && p.rc == 0)
        rc = check(m, acked);
    int cleanup = delete_stream(m);
    return rc == 0 && p.rc == 0 && cleanup == 0 ? 0 : -1;
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
        fprintf(stderr, "streams: cannot open: %s (%s)%s%s\n", vmux_strerror(rc), vmux_err_name(rc),
                err[0] ? ": " : "", err);
        return 1;
    }
    rc = run(m);
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
