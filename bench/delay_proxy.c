/*
 * The user-space stand-in for netem, for kernels without it: a TCP forwarding proxy in a child
 * process (so its CPU time is not the client's) that holds every chunk it reads, in either
 * direction, for the one-way delay before writing it on.
 *
 * Each chunk is released at its own arrival time plus the delay, not after the chunk before
 * it has waited: chunks of all connections wait in one list in arrival order, which (the delay
 * being the same for all) is also the order they fall due in, so the next wake-up is the head's
 * release time. A chunk that falls due is written to its connection's far side behind any
 * earlier chunk of the same direction still waiting for room there, so each direction keeps
 * its byte order. A direction with QUEUE_CAP bytes held stops being read until it drains, as a
 * full link would push back.
 *
 * The parent sets the delay through shared memory, and reads from there how many chunks the
 * proxy forwarded and how long it actually held each one (a histogram), so the bench can show
 * what the emulation cost and how exact it was.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PAIRS 512
#define READ_CAP 65536
#define QUEUE_CAP (4u << 20)
#define LISTEN_TAG UINT64_MAX
#define LEAD_MAX_NS 200000u /* never arm a wait more than this early */

/* Written by the parent (delay_ns) or the proxy (the rest); read by the other. */
struct proxy_shared {
    _Atomic int64_t delay_ns;
    atomic_uint_fast64_t chunks;
    atomic_uint_fast64_t spin_ns; /* time spent spinning to release on time */
    atomic_uint_fast64_t hold[BENCH_HOLD_BUCKETS];
};

typedef struct dir dir;
typedef struct pair pair;

typedef struct chunk {
    struct chunk *next;          /* the next of its direction */
    struct chunk *gnext, *gprev; /* the release list, while in_g */
    bool in_g;
    dir *d;
    uint64_t arrived, release;
    size_t len, off;
    char data[];
} chunk;

struct dir {
    pair *owner;
    int src, dst;
    chunk *head, *tail;
    size_t queued;
    bool blocked; /* dst had no room: waiting for EPOLLOUT on it */
};

/* One proxied connection: fd[0] the client's, fd[1] the server's; d[i] reads fd[i]. */
struct pair {
    int fd[2];
    dir d[2];
    uint32_t mask[2]; /* the epoll events asked for on fd[i] */
    uint32_t gen;
    bool used;
};

typedef struct proxy {
    int ep, lfd;
    struct sockaddr_in up;
    struct proxy_shared *sh;
    chunk *ghead, *gtail;
    uint64_t last_release;
    /* How early to arm the timer, learnt from how late it fires (see next_timeout), and the
     * time the pending wait was armed for (0: the wait did not sleep). */
    uint64_t lead_ns;
    uint64_t armed_for;
    pair pairs[MAX_PAIRS];
} proxy;

static uint64_t tag(const pair *pr, const proxy *p, int side)
{
    return ((uint64_t)pr->gen << 32) | ((uint64_t)(pr - p->pairs) << 1) | (uint64_t)side;
}

static void glist_unlink(proxy *p, chunk *c)
{
    if (!c->in_g)
        return;
    if (c->gprev)
        c->gprev->gnext = c->gnext;
    else
        p->ghead = c->gnext;
    if (c->gnext)
        c->gnext->gprev = c->gprev;
    else
        p->gtail = c->gprev;
    c->in_g = false;
}

static void glist_append(proxy *p, chunk *c)
{
    c->gnext = NULL;
    c->gprev = p->gtail;
    if (p->gtail)
        p->gtail->gnext = c;
    else
        p->ghead = c;
    p->gtail = c;
    c->in_g = true;
}

/* Asks epoll for what fd[side] needs now: reading while its direction has room, writing while
 * the other direction waits for room on it. */
static void update_interest(proxy *p, pair *pr, int side)
{
    uint32_t want =
        (pr->d[side].queued < QUEUE_CAP ? EPOLLIN : 0u) | (pr->d[1 - side].blocked ? EPOLLOUT : 0u);
    if (want == pr->mask[side])
        return;
    struct epoll_event ev = {.events = want, .data.u64 = tag(pr, p, side)};
    epoll_ctl(p->ep, EPOLL_CTL_MOD, pr->fd[side], &ev);
    pr->mask[side] = want;
}

static void close_pair(proxy *p, pair *pr)
{
    for (int i = 0; i < 2; i++) {
        for (chunk *c = pr->d[i].head, *next; c; c = next) {
            next = c->next;
            glist_unlink(p, c);
            free(c);
        }
        close(pr->fd[i]);
    }
    pr->used = false;
    pr->gen++;
}

static void record_hold(proxy *p, uint64_t held_ns)
{
    uint64_t b = held_ns / BENCH_HOLD_BUCKET_NS;
    if (b >= BENCH_HOLD_BUCKETS)
        b = BENCH_HOLD_BUCKETS - 1;
    atomic_fetch_add_explicit(&p->sh->hold[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->sh->chunks, 1, memory_order_relaxed);
}

/* Writes d's chunks that are due, in order, until one does not fit; -1 when dst failed. */
static int flush(proxy *p, dir *d)
{
    uint64_t now = now_ns();
    while (d->head && d->head->release <= now) {
        chunk *c = d->head;
        ssize_t n = send(d->dst, c->data + c->off, c->len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        c->off += n > 0 ? (size_t)n : 0;
        if (c->off < c->len) {
            d->blocked = true;
            break;
        }
        now = now_ns();
        record_hold(p, now - c->arrived);
        d->head = c->next;
        if (!d->head)
            d->tail = NULL;
        d->queued -= c->len;
        glist_unlink(p, c);
        free(c);
    }
    return 0;
}

/* Flushes d and brings both fds' epoll interest up to date; closes the pair on a failure. */
static void flush_dir(proxy *p, dir *d)
{
    pair *pr = d->owner;
    if (flush(p, d) != 0) {
        close_pair(p, pr);
        return;
    }
    update_interest(p, pr, 0);
    update_interest(p, pr, 1);
}

/* Reads what fd[side] has into a chunk due after the delay; closes the pair at EOF or error. */
static void on_readable(proxy *p, pair *pr, int side)
{
    static char buf[READ_CAP];
    ssize_t n = recv(pr->fd[side], buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    chunk *c = n > 0 ? malloc(sizeof(*c) + (size_t)n) : NULL;
    if (!c) {
        close_pair(p, pr);
        return;
    }
    dir *d = &pr->d[side];
    *c = (chunk){.d = d, .arrived = now_ns(), .len = (size_t)n};
    memcpy(c->data, buf, (size_t)n);
    /* Never before an earlier chunk: the list stays in release order if the delay shrinks. */
    uint64_t release =
        c->arrived + (uint64_t)atomic_load_explicit(&p->sh->delay_ns, memory_order_relaxed);
    c->release = release > p->last_release ? release : p->last_release;
    p->last_release = c->release;
    if (d->tail)
        d->tail->next = c;
    else
        d->head = c;
    d->tail = c;
    d->queued += c->len;
    glist_append(p, c);
    update_interest(p, pr, side);
}

static int connect_upstream(const proxy *p)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Blocking: the server is one veth hop away, and connections are made before any clock. */
    if (connect(fd, (const struct sockaddr *)&p->up, sizeof(p->up)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static pair *free_pair(proxy *p)
{
    for (int i = 0; i < MAX_PAIRS; i++)
        if (!p->pairs[i].used)
            return &p->pairs[i];
    return NULL;
}

static void on_accept(proxy *p)
{
    int cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    pair *pr = free_pair(p);
    int ufd = pr ? connect_upstream(p) : -1;
    if (ufd < 0) {
        close(cfd);
        return;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint32_t gen = pr->gen;
    *pr = (pair){.fd = {cfd, ufd}, .gen = gen, .used = true};
    for (int i = 0; i < 2; i++) {
        pr->d[i] = (dir){.owner = pr, .src = pr->fd[i], .dst = pr->fd[1 - i]};
        pr->mask[i] = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag(pr, p, i)};
        epoll_ctl(p->ep, EPOLL_CTL_ADD, pr->fd[i], &ev);
    }
}

static void dispatch(proxy *p, const struct epoll_event *ev)
{
    if (ev->data.u64 == LISTEN_TAG) {
        on_accept(p);
        return;
    }
    pair *pr = &p->pairs[(ev->data.u64 & 0xffffffffu) >> 1];
    int side = (int)(ev->data.u64 & 1u);
    if (!pr->used || pr->gen != (uint32_t)(ev->data.u64 >> 32))
        return; /* closed earlier in this batch */
    if (ev->events & EPOLLOUT) {
        pr->d[1 - side].blocked = false;
        flush_dir(p, &pr->d[1 - side]);
    }
    if (pr->used && pr->gen == (uint32_t)(ev->data.u64 >> 32) &&
        (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable(p, pr, side);
}

/* Writes out every chunk that has fallen due, oldest first. */
static void release_due(proxy *p)
{
    uint64_t now = now_ns();
    while (p->ghead && p->ghead->release <= now) {
        chunk *c = p->ghead;
        glist_unlink(p, c);
        if (!c->d->blocked)
            flush_dir(p, c->d);
    }
}

/*
 * The wait until the head falls due. A timer can fire well after the time it was set for (on
 * the paravirtualised guest this was written on, by about 50 µs, busy cores or not), so the
 * wait is armed lead_ns early and the rest is spun (spin_to_head).
 */
static struct timespec *next_timeout(proxy *p, struct timespec *ts)
{
    p->armed_for = 0;
    if (!p->ghead)
        return NULL;
    uint64_t now = now_ns(), due = p->ghead->release;
    uint64_t at = due > p->lead_ns ? due - p->lead_ns : 0;
    uint64_t left = at > now ? at - now : 0;
    if (left > 0)
        p->armed_for = at;
    ts->tv_sec = (time_t)(left / 1000000000u);
    ts->tv_nsec = (long)(left % 1000000000u);
    return ts;
}

/*
 * Learns from a timed wait that ran out how late the timer fires: lead_ns follows a low
 * quantile of that lateness (down fast, up slowly), so that most waits end a little before
 * the head falls due and few end after it.
 */
static void learn_lateness(proxy *p, uint64_t now)
{
    if (p->armed_for == 0 || now < p->armed_for)
        return;
    uint64_t late = now - p->armed_for;
    if (late > LEAD_MAX_NS)
        late = LEAD_MAX_NS;
    if (late < p->lead_ns)
        p->lead_ns -= (p->lead_ns - late) / 8;
    else
        p->lead_ns += (late - p->lead_ns) / 64;
}

/* After a timed wait ran out: spins the little that is left until the head falls due. */
static void spin_to_head(const proxy *p)
{
    uint64_t start = now_ns(), now = start;
    while (p->ghead && now < p->ghead->release)
        now = now_ns();
    atomic_fetch_add_explicit(&p->sh->spin_ns, now - start, memory_order_relaxed);
}

static void proxy_loop(proxy *p)
{
    struct epoll_event evs[64];
    for (;;) {
        struct timespec ts;
        int n = epoll_pwait2(p->ep, evs, 64, next_timeout(p, &ts), NULL);
        if (n < 0 && errno != EINTR)
            _exit(1);
        if (n == 0) {
            learn_lateness(p, now_ns());
            spin_to_head(p);
        }
        for (int i = 0; i < n; i++)
            dispatch(p, &evs[i]);
        release_due(p);
    }
}

/*
 * The child: dies with the bench, keeps none of the bench's signal handlers (they would kill
 * the bench's servers) and no share of the janitor's pipe, wakes on time (a timer slack of
 * 1 ns, and SCHED_FIFO when allowed: docs/benchmarks.md says why), and forwards until killed.
 */
static void child_main(int lfd, const struct sockaddr_in *up, struct proxy_shared *sh, pid_t parent,
                       bench_netns *ns)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    netns_forget_in_child(ns);
    prctl(PR_SET_TIMERSLACK, 1UL);
    struct sched_param sp = {.sched_priority = 1};
    sched_setscheduler(0, SCHED_FIFO, &sp);
    proxy *p = calloc(1, sizeof(*p));
    if (!p)
        _exit(1);
    p->lfd = lfd;
    p->up = *up;
    p->sh = sh;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
    if (p->ep < 0 || epoll_ctl(p->ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
        _exit(1);
    proxy_loop(p);
}

static int listen_on(const char *host, int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 256) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int delay_proxy_start(delay_proxy *p, const char *listen_host, const char *up_host, int up_port,
                      bench_netns *ns, char *why, size_t whylen)
{
    struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons((uint16_t)up_port)};
    memset(p, 0, sizeof(*p));
    if (inet_pton(AF_INET, up_host, &up.sin_addr) != 1) {
        snprintf(why, whylen, "bad upstream address %s", up_host);
        return -1;
    }
    p->sh = mmap(NULL, sizeof(*p->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int lfd = p->sh != MAP_FAILED ? listen_on(listen_host, &p->port) : -1;
    pid_t parent = getpid(), pid = lfd >= 0 ? fork() : -1;
    if (pid == 0)
        child_main(lfd, &up, p->sh, parent, ns);
    int err = errno;
    if (lfd >= 0)
        close(lfd);
    if (pid < 0) {
        snprintf(why, whylen, "cannot start the delay proxy on %s: %s", listen_host, strerror(err));
        if (p->sh != MAP_FAILED)
            munmap(p->sh, sizeof(*p->sh));
        p->sh = NULL;
        return -1;
    }
    p->pid = (int)pid;
    if (clock_getcpuclockid(pid, &p->cpu_clock) != 0)
        p->cpu_clock = (clockid_t)-1;
    return 0;
}

void delay_proxy_set_delay(delay_proxy *p, int delay_us)
{
    atomic_store(&p->sh->delay_ns, (int64_t)delay_us * 1000);
}

void delay_proxy_sample(const delay_proxy *p, proxy_counters *out)
{
    struct timespec ts = {0, 0};
    if (p->cpu_clock != (clockid_t)-1)
        clock_gettime(p->cpu_clock, &ts);
    out->cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    out->chunks = atomic_load(&p->sh->chunks);
    out->spin_ns = atomic_load(&p->sh->spin_ns);
    for (int i = 0; i < BENCH_HOLD_BUCKETS; i++)
        out->hold[i] = atomic_load_explicit(&p->sh->hold[i], memory_order_relaxed);
}

void delay_proxy_stop(delay_proxy *p)
{
    if (p->pid > 0) {
        kill((pid_t)p->pid, SIGKILL);
        while (waitpid((pid_t)p->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    if (p->sh)
        munmap(p->sh, sizeof(*p->sh));
    p->pid = 0;
    p->sh = NULL;
}
