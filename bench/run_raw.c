/*
 * raw-pipeline: the client-side ceiling of this machine. One blocking socket, commands encoded
 * before the run, a fixed number kept outstanding, replies parsed by hiredis's redisReader with
 * its default reply objects; no queue, no locks, no second thread touching the socket. Whatever
 * a multiplexer adds on top of this costs it throughput.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Pre-encoded commands: far more than are ever in flight, so the mix stays random. */
#define POOL_CMDS 65536u
#define POOL_CMD_CAP 64u

typedef struct raw_pool {
    char *bytes;
    size_t *off; /* command i is bytes[off[i] .. off[i+1]) */
} raw_pool;

typedef struct raw_run {
    int inflight;
    int fd;
    raw_pool pool;
    redisReader *reader;
    uint64_t *sent_at; /* ring of inflight send times, in reply order */
    atomic_int phase;
    atomic_int failed;
    hist h;
} raw_run;

static int pool_build(raw_pool *p)
{
    p->bytes = malloc((size_t)POOL_CMDS * POOL_CMD_CAP);
    p->off = malloc((POOL_CMDS + 1) * sizeof(*p->off));
    if (!p->bytes || !p->off)
        return -1;
    uint64_t rng = workload_seed(0x7a7);
    size_t len = 0;
    for (unsigned i = 0; i < POOL_CMDS; i++) {
        p->off[i] = len;
        size_t n = workload_encode(&rng, p->bytes + len, POOL_CMD_CAP);
        if (n == 0)
            return -1;
        len += n;
    }
    p->off[POOL_CMDS] = len;
    return 0;
}

static int connect_loopback(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A stalled server fails the row instead of hanging the bench. */
    struct timeval tv = {BENCH_IO_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all_iov(int fd, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        ssize_t n = writev(fd, iov, iovcnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Sends n commands from the pool, starting at command *next, in one writev. */
static int send_cmds(raw_run *rr, unsigned *next, unsigned n, uint64_t *sent_seq)
{
    unsigned first = *next, end = first + n;
    struct iovec iov[2];
    int cnt = 1;
    if (end <= POOL_CMDS) {
        iov[0] = (struct iovec){rr->pool.bytes + rr->pool.off[first],
                                rr->pool.off[end] - rr->pool.off[first]};
    } else {
        iov[0] = (struct iovec){rr->pool.bytes + rr->pool.off[first],
                                rr->pool.off[POOL_CMDS] - rr->pool.off[first]};
        iov[1] = (struct iovec){rr->pool.bytes, rr->pool.off[end - POOL_CMDS]};
        cnt = 2;
    }
    uint64_t t = now_ns();
    for (unsigned i = 0; i < n; i++)
        rr->sent_at[(*sent_seq)++ % (uint64_t)rr->inflight] = t;
    *next = end % POOL_CMDS;
    return write_all_iov(rr->fd, iov, cnt);
}

/* Takes every complete reply out of the reader; returns how many, or -1 on an error. */
static int take_replies(raw_run *rr, uint64_t *done_seq, uint64_t now, bool measure)
{
    int got = 0;
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(rr->reader, &reply) != REDIS_OK)
            return -1;
        if (!reply)
            return got;
        int bad = ((redisReply *)reply)->type == REDIS_REPLY_ERROR;
        freeReplyObject(reply);
        if (bad)
            return -1;
        uint64_t sent = rr->sent_at[(*done_seq)++ % (uint64_t)rr->inflight];
        if (measure)
            hist_record(&rr->h, now - sent);
        got++;
    }
}

/* Keeps rr->inflight commands outstanding: every reply read lets one more command go. */
static int raw_loop(raw_run *rr)
{
    static char buf[1 << 16];
    unsigned next = 0;
    uint64_t sent = 0, done = 0;
    errno = 0;
    if (send_cmds(rr, &next, (unsigned)rr->inflight, &sent) != 0)
        return -1;
    while (done < sent) {
        ssize_t n = read(rr->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || redisReaderFeed(rr->reader, buf, (size_t)n) != REDIS_OK)
            return -1;
        int ph = atomic_load_explicit(&rr->phase, memory_order_relaxed);
        int got = take_replies(rr, &done, now_ns(), ph == PHASE_MEASURE);
        if (got < 0)
            return -1;
        if (ph != PHASE_STOP && got > 0 && send_cmds(rr, &next, (unsigned)got, &sent) != 0)
            return -1;
    }
    return 0;
}

static void *raw_main(void *arg)
{
    raw_run *rr = arg;
    if (raw_loop(rr) != 0) {
        fprintf(stderr, "vmux-bench: raw-pipeline: connection or protocol error: %s\n",
                errno ? strerror(errno) : "bad reply");
        atomic_store(&rr->failed, 1);
    }
    return NULL;
}

static void raw_free(raw_run *rr)
{
    if (rr->fd >= 0)
        close(rr->fd);
    if (rr->reader)
        redisReaderFree(rr->reader);
    free(rr->pool.bytes);
    free(rr->pool.off);
    free(rr->sent_at);
    free(rr);
}

int run_raw_pipeline(const bench_opts *o, int inflight, bench_result *r)
{
    raw_run *rr = calloc(1, sizeof(*rr));
    if (!rr)
        return -1;
    rr->inflight = inflight;
    rr->fd = -1;
    rr->sent_at = calloc((size_t)inflight, sizeof(*rr->sent_at));
    rr->reader = redisReaderCreate();
    if (!rr->sent_at || !rr->reader || pool_build(&rr->pool) != 0) {
        fprintf(stderr, "vmux-bench: raw-pipeline: out of memory\n");
        raw_free(rr);
        return -1;
    }
    rr->fd = connect_loopback(o->host, o->port);
    if (rr->fd < 0) {
        fprintf(stderr, "vmux-bench: raw-pipeline: connect %s:%d: %s\n", o->host, o->port,
                strerror(errno));
        raw_free(rr);
        return -1;
    }
    pthread_t tid;
    if (pthread_create(&tid, NULL, raw_main, rr) != 0) {
        raw_free(rr);
        return -1;
    }
    bench_usage u = {0};
    double window = drive_phases(o, &rr->phase, &rr->failed, &u);
    pthread_join(tid, NULL);
    r->name = "raw-pipeline";
    r->threads = 1;
    r->inflight = inflight;
    result_from_hist(r, &rr->h, window, &u);
    int rc = atomic_load(&rr->failed) ? -1 : 0;
    raw_free(rr);
    return rc;
}
