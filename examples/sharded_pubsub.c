/*
 * sharded_pubsub: sharded Pub/Sub on a Valkey Cluster (docs/pubsub.md, "Pub/Sub on a cluster").
 * It opens a handle on one node of the cluster, the seed (argv[1], else the VMUX_CONFIG
 * environment variable, else "127.0.0.1:7000"), with cluster=yes added so that a server that is
 * not a cluster node is refused. It subscribes to six shard channels (SSUBSCRIBE) with one
 * bounded queue: the handle subscribes each channel on the primary that serves its slot, one
 * subscriber connection per such primary. It waits until every subscription is live, publishes
 * three messages to each channel with SPUBLISH (routed by the channel's slot, as a key is), reads
 * the eighteen messages back from the queue, and prints each channel's slot and how many messages
 * it received. The handle's event handler prints VMUX_EVENT_SUBSCRIPTION_MOVED, which says that
 * a subscription followed its slot to another node (a resharding or a failover while the program
 * runs). Every failure is reported with vmux_strerror() and the program exits with status 1.
 * Everything it allocates is freed.
 *
 *   sharded_pubsub [CONFIG]        e.g. sharded_pubsub "127.0.0.1:7000,syncTimeout=2000"
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmux/vmux.h>

#define NCHANNELS 6
#define PER_CHANNEL 3

static const char *const CHANNELS[NCHANNELS] = {
    "vmux:example:orders:eu", "vmux:example:orders:us",  "vmux:example:orders:ap",
    "vmux:example:alerts:db", "vmux:example:alerts:net", "vmux:example:alerts:disk"};

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Sharded Pub/Sub (SSUBSCRIBE, SPUBLISH) on a Valkey Cluster through one handle.\n"
            "CONFIG is a vmux configuration string or URL naming one node, such as\n"
            "  127.0.0.1:7000,syncTimeout=2000   or   valkey://user:pass@host:7000\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:7000.\n",
            prog);
}

/* Runs on the I/O thread: be quick. */
static void on_event(const vmux_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == VMUX_EVENT_SUBSCRIPTION_MOVED)
        printf("event: %s\n", ev->reason);
}

static int open_handle(const char *conf, vmux **m)
{
    char err[256] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(conf, &cfg, err, sizeof err);
    if (rc == 0)
        rc = vmux_config_set_cluster(cfg, VMUX_CLUSTER_YES);
    if (rc == 0)
        rc = vmux_config_set_event_handler(cfg, on_event, NULL);
    if (rc == 0)
        rc = vmux_open(cfg, m, err, sizeof err);
    vmux_config_free(cfg);
    if (rc != 0)
        fprintf(stderr, "sharded_pubsub: cannot open: %s (%s): %s\n", vmux_strerror(rc),
                vmux_err_name(rc), err);
    return rc;
}

/* The slot of a channel, as the cluster computes it (CLUSTER KEYSLOT); -1 on failure. */
static int64_t slot_of(vmux *m, const char *channel)
{
    const char *argv[] = {"CLUSTER", "KEYSLOT", channel};
    vmux_reply *r = NULL;
    int64_t slot = -1;
    if (vmux_call(m, NULL, 3, argv, NULL, &r) == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_INTEGER)
        slot = vmux_reply_integer(r);
    vmux_reply_free(r);
    return slot;
}

static int subscribe_all(vmux *m, vmux_msgq *q, vmux_sub **subs)
{
    for (int i = 0; i < NCHANNELS; i++) {
        vmux_str name = {CHANNELS[i], strlen(CHANNELS[i])};
        int rc = vmux_subscribe_queue(m, VMUX_SUB_SHARD, name, q, &subs[i]);
        if (rc == 0)
            rc = vmux_sub_wait_live(subs[i], 10000);
        if (rc != 0) {
            fprintf(stderr, "sharded_pubsub: subscribing to %s: %s (%s)\n", CHANNELS[i],
                    vmux_strerror(rc), vmux_err_name(rc));
            return rc;
        }
    }
    return 0;
}

static int publish_all(vmux *m)
{
    for (int n = 0; n < PER_CHANNEL; n++)
        for (int i = 0; i < NCHANNELS; i++) {
            char text[64];
            snprintf(text, sizeof text, "message %d", n);
            int64_t receivers = 0;
            int rc =
                vmux_publish(m, NULL, VMUX_SUB_SHARD, (vmux_str){CHANNELS[i], strlen(CHANNELS[i])},
                             (vmux_str){text, strlen(text)}, &receivers);
            if (rc != 0) {
                fprintf(stderr, "sharded_pubsub: SPUBLISH %s: %s (%s)\n", CHANNELS[i],
                        vmux_strerror(rc), vmux_err_name(rc));
                return rc;
            }
        }
    return 0;
}

/* Takes every expected message from q; counts them per channel. */
static int receive_all(vmux_msgq *q, int *count)
{
    for (int got = 0; got < NCHANNELS * PER_CHANNEL; got++) {
        vmux_message msg;
        int rc = vmux_msgq_pop(q, 10000, &msg);
        if (rc != 0) {
            fprintf(stderr, "sharded_pubsub: %d of %d messages, then %s (%s)\n", got,
                    NCHANNELS * PER_CHANNEL, vmux_strerror(rc), vmux_err_name(rc));
            return rc;
        }
        for (int i = 0; i < NCHANNELS; i++)
            if (strcmp(msg.channel.ptr, CHANNELS[i]) == 0)
                count[i]++;
        vmux_message_free(&msg);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        usage(argc > 2 ? stderr : stdout, argv[0]);
        return argc > 2 ? 2 : 0;
    }
    const char *conf = argc == 2 ? argv[1] : getenv("VMUX_CONFIG");
    if (conf == NULL)
        conf = "127.0.0.1:7000";
    vmux *m = NULL;
    if (open_handle(conf, &m) != 0)
        return 1;
    vmux_msgq *q = NULL;
    vmux_sub *subs[NCHANNELS] = {NULL};
    int count[NCHANNELS] = {0};
    int rc = vmux_msgq_new(NCHANNELS * PER_CHANNEL, VMUX_OVERFLOW_DROP_NEWEST, &q);
    if (rc == 0 && (rc = subscribe_all(m, q, subs)) == 0 && (rc = publish_all(m)) == 0)
        rc = receive_all(q, count);
    if (rc == 0)
        for (int i = 0; i < NCHANNELS; i++)
            printf("%-26s slot %5" PRId64 ": %d messages\n", CHANNELS[i], slot_of(m, CHANNELS[i]),
                   count[i]);
    for (int i = 0; i < NCHANNELS; i++)
        if (subs[i] != NULL)
            vmux_unsubscribe(m, subs[i]);
    vmux_close(m);
    vmux_msgq_free(q);
    if (rc == 0)
        printf("sharded_pubsub: ok\n");
    return rc == 0 ? 0 : 1;
}
