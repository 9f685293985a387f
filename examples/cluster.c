/*
 * cluster: one handle on a Valkey Cluster (docs/cluster.md). It opens a handle from a
 * configuration string naming one node of the cluster, the seed (argv[1], else the VMUX_CONFIG
 * environment variable, else "127.0.0.1:7000"), with cluster=yes added so that a server that is
 * not a cluster node is refused. It writes and reads back six keys and shows which primary
 * serves each one (from CLUSTER KEYSLOT and CLUSTER SLOTS: the handle itself routes every key to
 * its node without being told), writes two keys that share a {hash tag} with one MSET and reads
 * them with one MGET, shows the VMUX_ERR_CROSSSLOT error a command gets when its keys are in
 * different slots (nothing is sent), and prints the handle's counters. Every failure is reported
 * with vmux_strerror() and the program exits with status 1. Everything it allocates is freed, and
 * its keys are deleted at the end.
 *
 *   cluster [CONFIG]        e.g. cluster "127.0.0.1:7000,syncTimeout=2000"
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmux/vmux.h>

#define NKEYS 6

static const char *const KEYS[NKEYS] = {"vmux:example:cluster:a", "vmux:example:cluster:b",
                                        "vmux:example:cluster:c", "vmux:example:cluster:d",
                                        "vmux:example:cluster:e", "vmux:example:cluster:f"};
/* One hash tag: only "user42" is hashed, so both keys are in one slot. */
static const char *const TAGGED[2] = {"vmux:example:{user42}:name", "vmux:example:{user42}:mail"};

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Writes and reads keys on a Valkey Cluster through one handle.\n"
            "CONFIG is a vmux configuration string or URL naming one node, such as\n"
            "  127.0.0.1:7000,syncTimeout=2000   or   valkey://user:pass@host:7000\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:7000.\n",
            prog);
}

/* Runs argv and returns its reply, or NULL after printing why. */
static vmux_reply *call(vmux *m, int argc, const char *const *argv)
{
    char err[256] = "";
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &opts, argc, argv, NULL, &r);
    if (rc != 0) {
        fprintf(stderr, "cluster: %s failed: %s (%s): %s\n", argv[0], vmux_strerror(rc),
                vmux_err_name(rc), err);
        vmux_reply_free(r);
        return NULL;
    }
    return r;
}

/* The slot of key, as the cluster computes it (CLUSTER KEYSLOT); -1 on failure. */
static int64_t slot_of(vmux *m, const char *key)
{
    const char *argv[] = {"CLUSTER", "KEYSLOT", key};
    vmux_reply *r = call(m, 3, argv);
    int64_t slot = r ? vmux_reply_integer(r) : -1;
    vmux_reply_free(r);
    return slot;
}

/* Writes "host:port" of the primary serving slot, from a CLUSTER SLOTS reply, into out. */
static void owner_of(const vmux_reply *slots, int64_t slot, char *out, size_t cap)
{
    snprintf(out, cap, "?");
    for (size_t i = 0; i < vmux_reply_len(slots); i++) {
        const vmux_reply *range = vmux_reply_element(slots, i);
        const vmux_reply *primary = vmux_reply_element(range, 2); /* [host, port, id, ...] */
        if (!primary || slot < vmux_reply_integer(vmux_reply_element(range, 0)) ||
            slot > vmux_reply_integer(vmux_reply_element(range, 1)))
            continue;
        snprintf(out, cap, "%s:%" PRId64, vmux_reply_str(vmux_reply_element(primary, 0), NULL),
                 vmux_reply_integer(vmux_reply_element(primary, 1)));
        return;
    }
}

/* SET and GET of each key, with the slot and the primary that serves it. */
static int spread_keys(vmux *m)
{
    const char *cs[] = {"CLUSTER", "SLOTS"};
    vmux_reply *slots = call(m, 2, cs);
    if (!slots)
        return -1;
    printf("six keys, each routed to the primary that serves its slot:\n");
    int rc = 0;
    for (int i = 0; i < NKEYS && rc == 0; i++) {
        char value[32], node[96];
        snprintf(value, sizeof value, "value %d", i);
        const char *set[] = {"SET", KEYS[i], value};
        const char *get[] = {"GET", KEYS[i]};
        vmux_reply *w = call(m, 3, set), *r = w ? call(m, 2, get) : NULL;
        int64_t slot = r ? slot_of(m, KEYS[i]) : -1;
        owner_of(slots, slot, node, sizeof node);
        if (slot < 0 || strcmp(vmux_reply_str(r, NULL), value) != 0) {
            fprintf(stderr, "cluster: %s did not read back\n", KEYS[i]);
            rc = -1;
        } else {
            printf("  %-26s slot %5" PRId64 " on %-21s GET -> \"%s\"\n", KEYS[i], slot, node,
                   vmux_reply_str(r, NULL));
        }
        vmux_reply_free(w);
        vmux_reply_free(r);
    }
    vmux_reply_free(slots);
    return rc;
}

/* Keys with one {hash tag} are in one slot: MSET and MGET take them in one command. */
static int hash_tagged(vmux *m)
{
    const char *mset[] = {"MSET", TAGGED[0], "Ada", TAGGED[1], "ada@example.com"};
    const char *mget[] = {"MGET", TAGGED[0], TAGGED[1]};
    printf("\nkeys with a common {hash tag} share a slot (%" PRId64 " and %" PRId64 "):\n",
           slot_of(m, TAGGED[0]), slot_of(m, TAGGED[1]));
    vmux_reply *w = call(m, 5, mset), *r = w ? call(m, 3, mget) : NULL;
    if (r && vmux_reply_len(r) == 2)
        printf("  MSET, then MGET -> \"%s\", \"%s\"\n",
               vmux_reply_str(vmux_reply_element(r, 0), NULL),
               vmux_reply_str(vmux_reply_element(r, 1), NULL));
    int rc = r && vmux_reply_len(r) == 2 ? 0 : -1;
    vmux_reply_free(w);
    vmux_reply_free(r);
    return rc;
}

/* Keys in different slots: the handle refuses the command before sending anything. */
static int crossslot(vmux *m)
{
    const char *mget[] = {"MGET", KEYS[0], KEYS[1]};
    char err[256] = "";
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &opts, 3, mget, NULL, &r);
    vmux_reply_free(r);
    printf("\nMGET of two keys in different slots:\n  %s: %s\n", vmux_err_name(rc), err);
    if (rc != VMUX_ERR_CROSSSLOT) {
        fprintf(stderr, "cluster: expected VMUX_ERR_CROSSSLOT, got %s\n", vmux_err_name(rc));
        return -1;
    }
    return 0;
}

static int show_stats(vmux *m)
{
    vmux_stats st = VMUX_INIT(vmux_stats);
    int rc = vmux_read_stats(m, &st);
    if (rc != 0) {
        fprintf(stderr, "cluster: vmux_read_stats: %s\n", vmux_strerror(rc));
        return -1;
    }
    printf("\nthe handle's counters:\n"
           "  submitted %" PRIu64 ", replied %" PRIu64 ", failed %" PRIu64 "\n"
           "  connections made %" PRIu64 ", failed %" PRIu64 "\n"
           "  bytes out %" PRIu64 ", in %" PRIu64 "\n",
           st.submitted, st.replied,
           st.timed_out + st.connection_lost + st.closed + st.failed_other, st.connects,
           st.connect_failures, st.bytes_out, st.bytes_in);
    return 0;
}

/* Deletes the keys one by one: a DEL of keys in different slots would be CROSSSLOT too. */
static void cleanup(vmux *m)
{
    for (int i = 0; i < NKEYS + 2; i++) {
        const char *del[] = {"DEL", i < NKEYS ? KEYS[i] : TAGGED[i - NKEYS]};
        vmux_reply_free(call(m, 2, del));
    }
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
        config = "127.0.0.1:7000";

    char err[256] = "", shown[512] = "";
    vmux *m = NULL;
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(config, &cfg, err, sizeof err);
    if (rc == 0)
        rc = vmux_config_set_cluster(cfg, VMUX_CLUSTER_YES);
    if (rc == 0) {
        /* Not config itself, which may hold a password: vmux_config_to_string() masks it. */
        vmux_config_to_string(cfg, shown, sizeof shown);
        printf("vmux %s, connecting with \"%s\"\n", vmux_version(), shown);
        rc = vmux_open(cfg, &m, err, sizeof err);
    }
    vmux_config_free(cfg);
    if (rc != 0) {
        fprintf(stderr, "cluster: cannot open: %s (%s)%s%s\n", vmux_strerror(rc), vmux_err_name(rc),
                err[0] ? ": " : "", err);
        return 1;
    }
    rc = spread_keys(m);
    if (rc == 0)
        rc = hash_tagged(m);
    if (rc == 0)
        rc = crossslot(m);
    cleanup(m);
    if (rc == 0)
        rc = show_stats(m);
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
