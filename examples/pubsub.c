/*
 * pubsub: one thread publishes, another consumes, both through one handle. It opens a handle
 * from a configuration string (argv[1], else the VMUX_CONFIG environment variable, else
 * "127.0.0.1:6379"), subscribes a bounded message queue (256 messages, dropping the oldest when
 * full) to a channel of its own, and waits until the server has confirmed the subscription.
 * Then a publisher thread sends 10,000 numbered messages and a final "end" with PUBLISH, while
 * a consumer thread takes them from the queue, checking that the numbers only go up. A
 * consumer slower than the publisher would lose the oldest waiting messages, never the
 * newest: at the end the program prints how many messages arrived and how many the queue
 * dropped, and checks that the two add up to what was published. When a PUBLISH fails, it
 * prints the library's words for it and stops the consumer at once (it ends the subscription and
 * closes the queue) rather than leave it waiting for messages that will never come. It
 * unsubscribes, closes the handle, frees the queue, and exits with status 1 on any failure or
 * surprise.
 *
 *   pubsub [CONFIG]      e.g. pubsub "127.0.0.1:6379,syncTimeout=2000"
 */
#define _POSIX_C_SOURCE 200809L /* getpid */

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmux/vmux.h>

#define MESSAGES 10000
#define QUEUE_BOUND 256
#define POP_TIMEOUT_MS 10000 /* a consumer waiting longer than this gives up */

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Publishes %d messages on a Valkey channel from one thread and consumes them\n"
            "from a bounded queue subscription in another, through one handle.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog, MESSAGES);
}

struct run {
    vmux *m;
    vmux_msgq *queue;
    char channel[64];
    int64_t receivers; /* what PUBLISH reported for the first message */
    unsigned received; /* numbered messages the consumer took */
    bool publish_failed, consume_failed;
};

static void *publisher(void *arg)
{
    struct run *r = arg;
    for (unsigned i = 0; i <= MESSAGES; i++) {
        char text[32];
        if (i < MESSAGES)
            snprintf(text, sizeof text, "%u", i);
        else
            snprintf(text, sizeof text, "end");
        int64_t receivers = 0;
        char err[256] = ""; /* the server's message, or what else went wrong (call.h) */
        vmux_callopts o = VMUX_INIT(vmux_callopts, .errbuf = err, .errlen = sizeof err);
        int rc = vmux_publish(r->m, &o, VMUX_SUB_CHANNEL, VMUX_STR(r->channel), VMUX_STR(text),
                              &receivers);
        if (rc != 0) {
            fprintf(stderr, "pubsub: PUBLISH %s failed: %s (%s)\n", text,
                    err[0] ? err : vmux_strerror(rc), vmux_err_name(rc));
            r->publish_failed = true;
            return NULL;
        }
        if (i == 0)
            r->receivers = receivers;
    }
    printf("publisher: sent %d messages and \"end\"\n", MESSAGES);
    return NULL;
}

/* Takes one message; returns 1 for a numbered one, 0 for "end", -1 on failure. */
static int consume_one(struct run *r, long *last)
{
    vmux_message msg;
    int rc = vmux_msgq_pop(r->queue, POP_TIMEOUT_MS, &msg);
    if (rc == VMUX_ERR_CLOSED) /* exchange() closed it: the publisher failed and said why */
        return -1;
    if (rc != 0) {
        fprintf(stderr, "pubsub: waiting for a message: %s (%s)\n", vmux_strerror(rc),
                vmux_err_name(rc));
        return -1;
    }
    int result = 1;
    /* payloads are binary-safe bytes; vmux adds a NUL after them, so text can be read as is */
    if (msg.payload.len == 3 && memcmp(msg.payload.ptr, "end", 3) == 0) {
        result = 0;
    } else {
        long n = strtol(msg.payload.ptr, NULL, 10);
        if (n <= *last) {
            fprintf(stderr, "pubsub: message %ld came after message %ld\n", n, *last);
            result = -1;
        }
        *last = n;
    }
    vmux_message_free(&msg);
    return result;
}

static void *consumer(void *arg)
{
    struct run *r = arg;
    long last = -1;
    int rc;
    while ((rc = consume_one(r, &last)) == 1)
        r->received++;
    r->consume_failed = rc < 0;
    if (rc == 0)
        printf("consumer: took %u messages, then \"end\"\n", r->received);
    return NULL;
}

static int subscribe(struct run *r, vmux_sub **sub)
{
    int rc = vmux_msgq_new(QUEUE_BOUND, VMUX_OVERFLOW_DROP_OLDEST, &r->queue);
    if (rc == 0)
        rc = vmux_subscribe_queue(r->m, VMUX_SUB_CHANNEL, VMUX_STR(r->channel), r->queue, sub);
    if (rc != 0) {
        fprintf(stderr, "pubsub: cannot subscribe: %s (%s)\n", vmux_strerror(rc),
                vmux_err_name(rc));
        return -1;
    }
    /* Messages published before the server confirms the subscription would not reach it. */
    rc = vmux_sub_wait_live(*sub, 5000);
    if (rc != 0) {
        fprintf(stderr, "pubsub: the subscription was not confirmed: %s\n", vmux_strerror(rc));
        return -1;
    }
    printf("subscribed to %s (queue of %d messages, dropping the oldest when full)\n", r->channel,
           QUEUE_BOUND);
    return 0;
}

/* Wakes a consumer waiting for messages that will not come: the queue may be closed once no
 * subscription feeds it (pubsub.h). If the unsubscribe fails, the consumer gives up after
 * POP_TIMEOUT_MS instead. */
static void stop_consumer(struct run *r, vmux_sub **sub)
{
    int rc = vmux_unsubscribe(r->m, *sub);
    if (rc != 0) {
        fprintf(stderr, "pubsub: cannot unsubscribe: %s (%s)\n", vmux_strerror(rc),
                vmux_err_name(rc));
        return;
    }
    *sub = NULL; /* freed */
    vmux_msgq_close(r->queue);
}

/* Runs the two threads and checks the books: every message was either taken or dropped. */
static int exchange(struct run *r, vmux_sub **sub)
{
    pthread_t pub, con;
    int rc = pthread_create(&con, NULL, consumer, r);
    if (rc != 0) {
        fprintf(stderr, "pubsub: cannot start the consumer: %s\n", strerror(rc));
        return -1;
    }
    rc = pthread_create(&pub, NULL, publisher, r);
    if (rc != 0) {
        fprintf(stderr, "pubsub: cannot start the publisher: %s\n", strerror(rc));
        r->publish_failed = true;
    } else {
        pthread_join(pub, NULL);
    }
    if (r->publish_failed)
        stop_consumer(r, sub);
    pthread_join(con, NULL);
    if (r->publish_failed || r->consume_failed)
        return -1;
    uint64_t dropped = vmux_msgq_dropped(r->queue);
    printf("PUBLISH reached %" PRId64 " subscriber(s); received %u, dropped %" PRIu64
           " (queue bound %d)\n",
           r->receivers, r->received, dropped, QUEUE_BOUND);
    if (r->received + dropped != MESSAGES) {
        fprintf(stderr, "pubsub: %u received + %" PRIu64 " dropped != %d published\n", r->received,
                dropped, MESSAGES);
        return -1;
    }
    return 0;
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

    struct run r = {0};
    /* A channel of this process's own, so that two runs never see each other's messages. */
    snprintf(r.channel, sizeof r.channel, "vmux:example:pubsub:%ld", (long)getpid());
    char err[256] = "", shown[512] = "";
    vmux_config *cfg = NULL;
    int rc = vmux_config_parse(config, &cfg, err, sizeof err);
    if (rc == 0) {
        /* Not config itself, which may hold a password: vmux_config_to_string() masks it. */
        vmux_config_to_string(cfg, shown, sizeof shown);
        printf("vmux %s, connecting with \"%s\"\n", vmux_version(), shown);
        rc = vmux_open(cfg, &r.m, err, sizeof err);
    }
    vmux_config_free(cfg);
    if (rc != 0) {
        fprintf(stderr, "pubsub: cannot open: %s (%s)%s%s\n", vmux_strerror(rc), vmux_err_name(rc),
                err[0] ? ": " : "", err);
        return 1;
    }
    vmux_sub *sub = NULL;
    rc = subscribe(&r, &sub);
    if (rc == 0)
        rc = exchange(&r, &sub);
    int urc = sub != NULL ? vmux_unsubscribe(r.m, sub) : 0;
    if (urc != 0) { /* vmux_close() ends the subscription anyway */
        fprintf(stderr, "pubsub: cannot unsubscribe: %s (%s)\n", vmux_strerror(urc),
                vmux_err_name(urc));
        rc = -1;
    }
    vmux_close(r.m);
    vmux_msgq_free(r.queue); /* no subscription feeds it any more */
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
