/*
 * replica_reads: reads from replicas (docs/replicas.md). It opens a handle on a standalone
 * primary whose replicas are listed as endpoints beside it (argv[1], else the VMUX_CONFIG
 * environment variable, else "127.0.0.1:6379"), with readFrom=preferReplica unless the
 * configuration names another policy, and replicaMaxLag=2000 (a replica more than 2 s behind its
 * primary gets no reads) unless it names another limit. It writes a key, reads it back at once from
 * the primary (VMUX_CALL_PRIMARY: read-your-writes), waits until a read under the policy sees the
 * new value (replicas lag behind the primary), reads it 100 times under the policy, and shows which
 * endpoints carried the traffic (each one's bytes sent, from vmux_read_node_stats()). With one
 * endpoint, or a cluster seed, it runs the same; the reads then go where that topology says. Every
 * failure is reported in the library's words (the server's message for a refused command:
 * opts.errbuf, call.h) and the program exits with status 1. Its key is deleted at the end.
 *
 *   replica_reads [CONFIG]   e.g. replica_reads "10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379"
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmux/vmux.h>

#define KEY "vmux:example:replica_reads"
#define READS 100

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Reads from replicas: a primary and its replicas as endpoints.\n"
            "CONFIG is a vmux configuration string, such as\n"
            "  10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379,readFrom=azAffinity,clientAz=eu-west-1a\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog);
}

/* Per-call options whose errbuf gets the library's words for a failure (call.h). */
struct call {
    char err[256];
    vmux_callopts opts;
};

static vmux_callopts *with_err(struct call *c, uint32_t flags)
{
    c->err[0] = '\0';
    c->opts = VMUX_INIT(vmux_callopts, .flags = flags, .errbuf = c->err, .errlen = sizeof c->err);
    return &c->opts;
}

static int fail(const char *what, int rc, const struct call *c)
{
    fprintf(stderr, "replica_reads: %s: %s (%s)\n", what, c->err[0] ? c->err : vmux_strerror(rc),
            vmux_err_name(rc));
    return 1;
}

/* Reads the key with flags (0: under the policy); *equal says whether it reads as want. */
static int read_equals(vmux *m, struct call *c, uint32_t flags, const char *want, int *equal)
{
    vmux_bytes v = {0};
    int rc = vmux_get(m, with_err(c, flags), VMUX_STR(KEY), &v);
    *equal = rc == 0 && v.ptr != NULL && v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0;
    vmux_bytes_free(&v);
    return rc;
}

/* Prints each endpoint's bytes sent: the primary's carry the writes, the replicas' the reads. */
static void show_endpoints(const vmux *m, const vmux_config *cfg)
{
    printf("traffic per endpoint (bytes sent):\n");
    for (size_t i = 0; i < vmux_config_endpoint_count(cfg); i++) {
        const char *host;
        int port;
        if (vmux_config_endpoint(cfg, i, &host, &port) != 0)
            continue;
        vmux_stats st = VMUX_INIT(vmux_stats);
        if (vmux_read_node_stats(m, host, port, &st) == 0)
            printf("  %s:%d  %" PRIu64 "\n", host, port, st.bytes_out);
        else
            printf("  %s:%d  not connected (not used)\n", host, port);
    }
}

/* Waits 10 s at most until a read under the policy sees want: replication is
 * asynchronous, a replica may lag behind. */
static int wait_replicated(vmux *m, const char *want)
{
    time_t start = time(NULL);
    for (int n = 1;; n++) {
        struct call c;
        int equal = 0, rc = read_equals(m, &c, 0, want, &equal);
        if (rc != 0)
            return fail("GET", rc, &c);
        if (equal) {
            printf("a read under the policy sees it after %d read(s)\n", n);
            return 0;
        }
        if (time(NULL) - start > 10) {
            fprintf(stderr, "replica_reads: the new value was not seen within 10 s\n");
            return 1;
        }
    }
}

static int run(vmux *m, const vmux_config *cfg)
{
    char value[64];
    snprintf(value, sizeof value, "written at %ld", (long)time(NULL));
    struct call c;
    int rc = vmux_set(m, with_err(&c, 0), VMUX_STR(KEY), VMUX_STR(value), VMUX_NO_EXPIRY,
                      VMUX_COND_ALWAYS, NULL);
    if (rc != 0)
        return fail("SET", rc, &c);
    /* read-your-writes: a replica may not have the value yet, the primary has */
    int equal = 0;
    if ((rc = read_equals(m, &c, VMUX_CALL_PRIMARY, value, &equal)) != 0)
        return fail("GET from the primary", rc, &c);
    printf("SET %s \"%s\"; GET with VMUX_CALL_PRIMARY: %s\n", KEY, value,
           equal ? "the new value" : "something else");
    if (!equal || wait_replicated(m, value) != 0)
        return 1;
    int seen = 0;
    for (int i = 0; i < READS; i++) {
        if ((rc = read_equals(m, &c, 0, value, &equal)) != 0)
            return fail("GET", rc, &c);
        seen += equal;
    }
    printf("%d reads under the policy, %d of them saw the new value\n", READS, seen);
    show_endpoints(m, cfg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        usage(argc > 2 ? stderr : stdout, argv[0]);
        return argc > 2 ? 2 : 0;
    }
    const char *text = argc == 2 ? argv[1] : getenv("VMUX_CONFIG");
    if (text == NULL || text[0] == '\0')
        text = "127.0.0.1:6379";
    /* The example's policy first, the configuration applied over it: a key it names wins, even
     * when it names the library's default (readFrom=primary, replicaMaxLag=0). */
    char err[256] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_new(&cfg);
    if (rc == 0)
        rc = vmux_config_set_read_from(cfg, VMUX_READ_PREFER_REPLICA);
    if (rc == 0)
        rc = vmux_config_set_replica_max_lag(cfg, 2000);
    if (rc == 0)
        rc = vmux_config_apply(cfg, text, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "replica_reads: bad configuration: %s (%s)\n",
                err[0] ? err : vmux_strerror(rc), vmux_err_name(rc));
        vmux_config_free(cfg);
        return 1;
    }
    vmux *m = NULL;
    if ((rc = vmux_open(cfg, &m, err, sizeof err)) != 0) {
        fprintf(stderr, "replica_reads: cannot open: %s (%s): %s\n", vmux_strerror(rc),
                vmux_err_name(rc), err);
        vmux_config_free(cfg);
        return 1;
    }
    static const char *const policy[] = {"primary", "preferReplica", "replica", "azAffinity",
                                         "azAffinityReplicasAndPrimary"};
    printf("readFrom=%s, replicaMaxLag=%" PRId64 " ms, %zu endpoint(s)\n",
           policy[vmux_config_read_from(cfg)], vmux_config_replica_max_lag(cfg),
           vmux_config_endpoint_count(cfg));
    int status = run(m, cfg);
    vmux_str key = VMUX_STR(KEY);
    struct call c;
    if ((rc = vmux_del(m, with_err(&c, 0), &key, 1, NULL)) != 0)
        status = fail("DEL", rc, &c);
    vmux_close(m);
    vmux_config_free(cfg);
    return status;
}
