/*
 * The fault-injecting proxy; see faultproxy.h.
 *
 * Each accepted connection becomes a pair: the client's socket and one to the target. Bytes
 * read on one side become chunks queued for the other, each with the loop time it may leave
 * (now, now + delay, or never while blackholed); a per-pair timer writes them when due. Only
 * the proxy's thread touches the loop; other threads hand it one command at a time through a
 * uv_async and wait until it is applied.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "faultproxy.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "testutil.h"
#include "vmux/vmux.h"

#define HELD UINT64_MAX /* a chunk's due time while blackholed */
#define PATTERN_MAX 128

enum dir { TO_SERVER = 0, TO_CLIENT = 1 };

struct chunk {
    struct chunk *next;
    uint64_t due; /* loop ms */
    uv_write_t req;
    size_t len;
    char data[];
};

struct pair {
    vt_proxy *p;
    struct pair *prev, *next;
    uv_tcp_t client, server;
    uv_connect_t creq;
    uv_timer_t timer;
    struct chunk *head[2], *tail[2]; /* queued toward the server / the client */
    uint64_t link_free_us;           /* THROTTLE: when the link toward the server is free */
    size_t waiting;                  /* THROTTLE: bytes queued toward the server */
    bool server_up, closing, trapped, client_held;
    int open_handles;
};

enum cmd_kind { CMD_MODE, CMD_CUT, CMD_TRAP, CMD_TARGET, CMD_STOP };

struct cmd {
    enum cmd_kind kind;
    vt_proxy_mode mode;
    unsigned delay_ms;
    unsigned times;
    char pattern[PATTERN_MAX];
    struct sockaddr_in target;
};

struct vt_proxy {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wakeup;
    uv_thread_t thread;
    struct sockaddr_in target;
    int port;

    /* proxy thread only */
    vt_proxy_mode mode;
    unsigned delay_ms;
    struct pair *pairs;
    unsigned trap_left;
    char trap[PATTERN_MAX];
    char rbuf[64 * 1024];

    /* the command slot, shared */
    uv_mutex_t mu;
    uv_cond_t cv;
    bool pending;
    struct cmd cmd;

    atomic_uint accepted, live, trap_fired;
};

/* ---- pairs ---- */

static void free_queue(struct pair *pr, int d)
{
    struct chunk *c = pr->head[d];
    while (c != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    pr->head[d] = pr->tail[d] = NULL;
}

static void on_pair_handle_closed(uv_handle_t *h)
{
    struct pair *pr = h->data;
    if (--pr->open_handles > 0)
        return;
    free_queue(pr, TO_SERVER);
    free_queue(pr, TO_CLIENT);
    free(pr);
}

static void close_pair(struct pair *pr)
{
    if (pr->closing)
        return;
    pr->closing = true;
    if (pr->prev != NULL)
        pr->prev->next = pr->next;
    else
        pr->p->pairs = pr->next;
    if (pr->next != NULL)
        pr->next->prev = pr->prev;
    atomic_fetch_sub(&pr->p->live, 1);
    uv_close((uv_handle_t *)&pr->client, on_pair_handle_closed);
    uv_close((uv_handle_t *)&pr->server, on_pair_handle_closed);
    uv_close((uv_handle_t *)&pr->timer, on_pair_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

#define THROTTLE_WINDOW (64 * 1024) /* what a throttled pair reads ahead of the link */

/* THROTTLE: the client is read from again once the link has taken what waited. */
static void throttle_release(struct pair *pr, size_t len)
{
    pr->waiting -= len < pr->waiting ? len : pr->waiting;
    if (pr->client_held && pr->waiting < THROTTLE_WINDOW) {
        pr->client_held = false;
        if (uv_read_start((uv_stream_t *)&pr->client, on_alloc, on_read) < 0)
            close_pair(pr);
    }
}

static void on_written(uv_write_t *req, int status)
{
    struct chunk *c = req->data;
    struct pair *pr = req->handle->data;
    free(c);
    if (status < 0)
        close_pair(pr);
}

static void pump(struct pair *pr);

static void on_timer(uv_timer_t *t)
{
    pump(t->data);
}

/* Writes every chunk that is due, in order, then sets the timer for the next one. */
static void pump(struct pair *pr)
{
    if (pr->closing)
        return;
    uint64_t now = uv_now(&pr->p->loop), next = HELD;
    for (int d = 0; d < 2; d++) {
        uv_stream_t *to = d == TO_SERVER ? (uv_stream_t *)&pr->server : (uv_stream_t *)&pr->client;
        if (d == TO_SERVER && !pr->server_up)
            continue;
        struct chunk *c;
        while ((c = pr->head[d]) != NULL && c->due <= now) {
            pr->head[d] = c->next;
            if (pr->head[d] == NULL)
                pr->tail[d] = NULL;
            if (d == TO_SERVER)
                throttle_release(pr, c->len);
            c->req.data = c;
            uv_buf_t b = uv_buf_init(c->data, (unsigned)c->len);
            if (uv_write(&c->req, to, &b, 1, on_written) < 0) {
                free(c);
                close_pair(pr);
                return;
            }
        }
        if (c != NULL && c->due < next)
            next = c->due;
    }
    if (next != HELD)
        uv_timer_start(&pr->timer, on_timer, next - now, 0);
}

static uint64_t due_now(const vt_proxy *p)
{
    if (p->mode == VT_PROXY_BLACKHOLE)
        return HELD;
    return uv_now((uv_loop_t *)&p->loop) + (p->mode == VT_PROXY_DELAY ? p->delay_ms : 0);
}

/* When len bytes toward d may leave: THROTTLE paces the link toward the server. */
static uint64_t due_for(struct pair *pr, int d, size_t len)
{
    vt_proxy *p = pr->p;
    if (p->mode != VT_PROXY_THROTTLE || d != TO_SERVER)
        return due_now(p);
    uint64_t now_us = uv_now(&p->loop) * 1000;
    uint64_t start = pr->link_free_us > now_us ? pr->link_free_us : now_us;
    uint64_t rate = p->delay_ms > 0 ? p->delay_ms : 1; /* KiB per second */
    pr->link_free_us = start + (uint64_t)len * 1000000 / (rate * 1024);
    return (pr->link_free_us + 999) / 1000;
}

static void queue_chunk(struct pair *pr, int d, const char *data, size_t len)
{
    struct chunk *c = malloc(sizeof(*c) + len);
    if (c == NULL) {
        close_pair(pr);
        return;
    }
    c->next = NULL;
    c->due = due_for(pr, d, len);
    c->len = len;
    if (d == TO_SERVER)
        pr->waiting += len;
    if (d == TO_SERVER && pr->p->mode == VT_PROXY_THROTTLE && pr->waiting >= THROTTLE_WINDOW &&
        !pr->client_held) {
        pr->client_held = true;
        uv_read_stop((uv_stream_t *)&pr->client);
    }
    memcpy(c->data, data, len);
    if (pr->tail[d] != NULL)
        pr->tail[d]->next = c;
    else
        pr->head[d] = c;
    pr->tail[d] = c;
    pump(pr);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pair *pr = h->data;
    (void)suggested;
    *buf = uv_buf_init(pr->p->rbuf, sizeof(pr->p->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct pair *pr = s->data;
    vt_proxy *p = pr->p;
    if (pr->closing || nread == 0)
        return;
    if (nread < 0) {
        close_pair(pr); /* either side closed or failed: both go */
        return;
    }
    int d = s == (uv_stream_t *)&pr->client ? TO_SERVER : TO_CLIENT;
    if (d == TO_CLIENT && pr->trapped) {
        atomic_fetch_add(&p->trap_fired, 1);
        close_pair(pr);
        return;
    }
    if (d == TO_SERVER && p->trap_left > 0 && !pr->trapped &&
        memmem(buf->base, (size_t)nread, p->trap, strlen(p->trap)) != NULL) {
        p->trap_left--;
        pr->trapped = true;
    }
    queue_chunk(pr, d, buf->base, (size_t)nread);
}

static void on_server_connected(uv_connect_t *req, int status)
{
    struct pair *pr = req->data;
    if (pr->closing)
        return;
    if (status < 0 || uv_read_start((uv_stream_t *)&pr->server, on_alloc, on_read) < 0) {
        close_pair(pr);
        return;
    }
    pr->server_up = true;
    pump(pr);
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

/* REFUSE: accepts, to take the connection off the backlog, and closes it at once. */
static void refuse(vt_proxy *p)
{
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t == NULL)
        return;
    uv_tcp_init(&p->loop, t);
    if (uv_accept((uv_stream_t *)&p->listener, (uv_stream_t *)t) == 0)
        atomic_fetch_add(&p->accepted, 1);
    uv_close((uv_handle_t *)t, on_refused_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
    vt_proxy *p = listener->data;
    if (status < 0)
        return;
    if (p->mode == VT_PROXY_REFUSE) {
        refuse(p);
        return;
    }
    struct pair *pr = calloc(1, sizeof(*pr));
    if (pr == NULL) {
        refuse(p);
        return;
    }
    pr->p = p;
    uv_tcp_init(&p->loop, &pr->client);
    uv_tcp_init(&p->loop, &pr->server);
    uv_timer_init(&p->loop, &pr->timer);
    pr->client.data = pr->server.data = pr->timer.data = pr->creq.data = pr;
    pr->open_handles = 3;
    pr->next = p->pairs;
    if (p->pairs != NULL)
        p->pairs->prev = pr;
    p->pairs = pr;
    atomic_fetch_add(&p->live, 1);
    if (uv_accept(listener, (uv_stream_t *)&pr->client) != 0) {
        close_pair(pr);
        return;
    }
    atomic_fetch_add(&p->accepted, 1);
    if (p->mode == VT_PROXY_THROTTLE) {
        int size = THROTTLE_WINDOW;
        (void)uv_recv_buffer_size((uv_handle_t *)&pr->client, &size);
    }
    uv_tcp_nodelay(&pr->client, 1);
    uv_tcp_nodelay(&pr->server, 1);
    if (uv_read_start((uv_stream_t *)&pr->client, on_alloc, on_read) < 0 ||
        uv_tcp_connect(&pr->creq, &pr->server, (const struct sockaddr *)&p->target,
                       on_server_connected) < 0)
        close_pair(pr);
}

/* ---- commands, on the proxy thread ---- */

static void cut_all(vt_proxy *p)
{
    while (p->pairs != NULL)
        close_pair(p->pairs);
}

/* Re-times every queued chunk for the new mode: held ones go when it passes again. */
static void apply_mode(vt_proxy *p, vt_proxy_mode mode, unsigned delay_ms)
{
    p->mode = mode;
    p->delay_ms = delay_ms;
    for (struct pair *pr = p->pairs; pr != NULL; pr = pr->next) {
        for (int d = 0; d < 2; d++)
            for (struct chunk *c = pr->head[d]; c != NULL; c = c->next)
                if (mode == VT_PROXY_BLACKHOLE || c->due == HELD)
                    c->due = due_now(p);
        pump(pr);
    }
}

static void apply(vt_proxy *p, const struct cmd *c)
{
    switch (c->kind) {
    case CMD_MODE:
        apply_mode(p, c->mode, c->delay_ms);
        break;
    case CMD_CUT:
        cut_all(p);
        break;
    case CMD_TRAP:
        memcpy(p->trap, c->pattern, sizeof(p->trap));
        p->trap_left = p->trap[0] != '\0' ? c->times : 0;
        break;
    case CMD_TARGET:
        p->target = c->target;
        break;
    case CMD_STOP:
        cut_all(p);
        uv_close((uv_handle_t *)&p->listener, NULL);
        uv_close((uv_handle_t *)&p->wakeup, NULL);
        break;
    }
}

static void on_wakeup(uv_async_t *a)
{
    vt_proxy *p = a->data;
    uv_mutex_lock(&p->mu);
    bool have = p->pending;
    struct cmd c = p->cmd;
    uv_mutex_unlock(&p->mu);
    if (!have)
        return;
    uv_update_time(&p->loop);
    apply(p, &c);
    uv_mutex_lock(&p->mu);
    p->pending = false;
    uv_cond_broadcast(&p->cv);
    uv_mutex_unlock(&p->mu);
}

/* Hands c to the proxy thread and waits until it has been applied. */
static void send_cmd(vt_proxy *p, const struct cmd *c)
{
    uv_mutex_lock(&p->mu);
    while (p->pending)
        uv_cond_wait(&p->cv, &p->mu);
    p->cmd = *c;
    p->pending = true;
    uv_async_send(&p->wakeup);
    while (p->pending)
        uv_cond_wait(&p->cv, &p->mu);
    uv_mutex_unlock(&p->mu);
}

/* ---- public ---- */

static void proxy_main(void *arg)
{
    vt_proxy *p = arg;
    uv_run(&p->loop, UV_RUN_DEFAULT);
}

/* Binds and listens on 127.0.0.1:0; returns the port, or -1. */
static int proxy_listen(vt_proxy *p)
{
    struct sockaddr_in a;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_init(&p->loop, &p->listener) != 0)
        return -1;
    p->listener.data = p;
    int rc = uv_tcp_bind(&p->listener, (const struct sockaddr *)&a, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&p->listener, 128, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len);
    if (rc != 0) {
        fprintf(stderr, "vt_proxy: cannot listen: %s\n", uv_strerror(rc));
        return -1;
    }
    return ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void proxy_free(vt_proxy *p)
{
    uv_loop_close(&p->loop);
    uv_cond_destroy(&p->cv);
    uv_mutex_destroy(&p->mu);
    free(p);
}

vt_proxy *vt_proxy_start(const char *host, int port)
{
    vt_proxy *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    if (uv_ip4_addr(host, port, &p->target) != 0 || uv_loop_init(&p->loop) != 0) {
        fprintf(stderr, "vt_proxy: bad target %s:%d or no loop\n", host, port);
        free(p);
        return NULL;
    }
    uv_mutex_init(&p->mu);
    uv_cond_init(&p->cv);
    uv_async_init(&p->loop, &p->wakeup, on_wakeup);
    p->wakeup.data = p;
    p->mode = VT_PROXY_PASS;
    p->port = proxy_listen(p);
    if (p->port < 0 || uv_thread_create(&p->thread, proxy_main, p) != 0) {
        uv_close((uv_handle_t *)&p->wakeup, NULL);
        uv_close((uv_handle_t *)&p->listener, NULL);
        uv_run(&p->loop, UV_RUN_DEFAULT);
        proxy_free(p);
        return NULL;
    }
    return p;
}

int vt_proxy_port(const vt_proxy *p)
{
    return p->port;
}

int vt_proxy_set_mode(vt_proxy *p, vt_proxy_mode mode, unsigned delay_ms)
{
    if (p == NULL || mode < VT_PROXY_PASS || mode > VT_PROXY_THROTTLE)
        return -1;
    struct cmd c = {.kind = CMD_MODE, .mode = mode, .delay_ms = delay_ms};
    send_cmd(p, &c);
    return 0;
}

int vt_proxy_set_target(vt_proxy *p, const char *host, int port)
{
    struct cmd c = {.kind = CMD_TARGET};
    if (p == NULL || uv_ip4_addr(host, port, &c.target) != 0)
        return -1;
    send_cmd(p, &c);
    return 0;
}

void vt_proxy_cut(vt_proxy *p)
{
    struct cmd c = {.kind = CMD_CUT};
    send_cmd(p, &c);
}

void vt_proxy_trap_reply(vt_proxy *p, const char *pattern, unsigned times)
{
    struct cmd c = {.kind = CMD_TRAP, .times = times};
    snprintf(c.pattern, sizeof(c.pattern), "%s", pattern != NULL ? pattern : "");
    send_cmd(p, &c);
}

unsigned vt_proxy_trap_fired(vt_proxy *p)
{
    return atomic_load(&p->trap_fired);
}

unsigned vt_proxy_accepted(vt_proxy *p)
{
    return atomic_load(&p->accepted);
}

unsigned vt_proxy_live(vt_proxy *p)
{
    return atomic_load(&p->live);
}

void vt_proxy_stop(vt_proxy *p)
{
    if (p == NULL)
        return;
    struct cmd c = {.kind = CMD_STOP};
    send_cmd(p, &c);
    uv_thread_join(&p->thread);
    proxy_free(p);
}

int vt_proxied_setup(void **state, const char *extra)
{
    struct vt_proxied *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    *state = p;
    if (vt_cluster_mode() != NULL)
        return 0;
    p->proxy = vt_proxy_start("127.0.0.1", vt_server_port("plain"));
    if (p->proxy == NULL)
        return -1;
    char conf[256];
    snprintf(conf, sizeof conf, "127.0.0.1:%d%s", vt_proxy_port(p->proxy), extra);
    p->m = vt_open_conf(conf);
    return 0;
}

int vt_proxied_teardown(void **state)
{
    struct vt_proxied *p = *state;
    if (p->proxy != NULL)
        vt_proxy_set_mode(p->proxy, VT_PROXY_PASS, 0);
    if (p->m != NULL)
        vmux_close(p->m);
    if (p->proxy != NULL)
        vt_proxy_stop(p->proxy);
    free(p);
    return 0;
}
