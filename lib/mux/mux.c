/*
 * The handle's life: open (start the I/O thread, wait for the first connection if asked),
 * the I/O thread's loop, and close (fail what is pending, join, free).
 */
#include "mux/mux.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/bigmem.h"
#include "core/errbuf.h"
#include "core/explain.h"
#include "core/io_thread.h"
#include "core/log.h"
#include "core/near_prefix.h"
#include "core/nocancel.h"
#include "core/sized.h"
#include "core/wait.h"
#include "core/why.h"
#include "mux/near.h"
#include "net/sentinel.h"
#include "vmux/error.h"

bool vmux__on_io_thread(const vmux *m)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &m->thread) != 0;
}

int vmux__wait_allowed(const vmux *m, int64_t timeout_ms)
{
    int rc = vmux__why_timeout("timeout_ms", timeout_ms);
    if (rc != 0)
        return rc;
    if (vmux__forked(m))
        return VMUX_ERR_FORKED;
    if (vmux__on_io_thread(m))
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s", vmux__on_io_thread_words);
    return 0;
}

static void open_report(vmux *m, enum vmux_open_state state, int code, const char *reason)
{
    uv_mutex_lock(&m->olock);
    if (m->ostate == OPEN_WAITING) {
        m->ostate = state;
        m->oerror = code;
        vmux__errbuf_set(m->oreason, sizeof(m->oreason), "%s", reason ? reason : "");
        uv_cond_broadcast(&m->ocond);
    }
    uv_mutex_unlock(&m->olock);
}

static void emit(vmux *m, vmux_event_type type, int code, const char *where, const char *reason)
{
    vmux__event(m->cfg, type, code, where, reason);
}

static void on_link_ready(struct vmux_link *link, const char *where, void *arg)
{
    vmux *m = arg;
    (void)link;
    vmux__log(m->cfg, VMUX_LOG_INFO, "%s: connection ready", where);
    emit(m, VMUX_EVENT_CONNECTION_RESTORED, 0, where, "");
    if (vmux__router_seed_ready(&m->router, where))
        open_report(m, OPEN_READY, 0, NULL);
}

/* Detection is over: vmux_open() learns the outcome, and the ops that waited for it go on. */
static void on_router_settled(struct vmux_router *r, void *arg)
{
    vmux *m = arg;
    bool failed = vmux__router_mode(r) == VMUX_ROUTER_FAILED;
    if (failed) {
        /* "host:port" of the seed's node (written on this thread, so read without the lock) */
        emit(m, VMUX_EVENT_ERROR, r->fail_code, r->seed_addr, r->fail_reason);
        open_report(m, OPEN_FAILED, r->fail_code, r->fail_reason);
    } else {
        open_report(m, OPEN_READY, 0, NULL);
    }
    vmux__pubsub_map_changed(m); /* subscriptions made while detecting go where they belong */
    vmux__nearc_map_changed(m);  /* the map came before the mode: cluster mode begins here */
    struct vmux_opq q = {0};
    vmux__router_take_parked(r, &q);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL)
        vmux__route(m, op);
}

/* A new slot map: subscriptions and the near cache follow it. */
static void on_map_changed(void *arg)
{
    vmux__pubsub_map_changed(arg);
    vmux__nearc_map_changed(arg);
}

/* A slot map refresh was answered: the control ops that waited for one run again, and typed
 * fan-outs' parts waiting for a node that is no primary any more go on without it. */
static void on_refreshed(void *arg)
{
    vmux *m = arg;
    vmux__fanout_withdraw(m, NULL);
    struct vmux_opq q = {0};
    vmux__router_take_refresh_waiters(&m->router, &q);
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL)
        vmux__run_control(m, op);
}

/* A node link (cluster mode) reports like the main link, but never to vmux_open(). */
static void on_node_ready(struct vmux_link *link, const char *where, void *arg)
{
    vmux *m = arg;
    vmux__log(m->cfg, VMUX_LOG_INFO, "%s: connection ready", where);
    emit(m, VMUX_EVENT_CONNECTION_RESTORED, 0, where, "");
    vmux__nearc_node_ready(m, link);
}

/*
 * Keeps reason (it starts with "host:port: ") as its endpoint's last failure while vmux_open()
 * waits: in place of that endpoint's earlier one, else after the others (the oldest dropped
 * when full). Endpoints are matched by their "host:port: " kept whole beside the reason: a host
 * of up to 253 bytes cut inside the reason no longer made each retry a new endpoint.
 */
static void note_open_failure(vmux *m, const char *reason)
{
    const char *sep = strstr(reason, ": ");
    char at[sizeof m->ofails_at[0]];
    vmux__errbuf_set(at, sizeof at, "%.*s", sep != NULL ? (int)(sep - reason) + 2 : 0, reason);
    int i = 0;
    while (i < m->nofails && strcmp(m->ofails_at[i], at) != 0)
        i++;
    if (i == VMUX_OPEN_FAILS) {
        memmove(m->ofails[0], m->ofails[1], sizeof m->ofails - sizeof m->ofails[0]);
        memmove(m->ofails_at[0], m->ofails_at[1], sizeof m->ofails_at - sizeof m->ofails_at[0]);
        i--;
    } else if (i == m->nofails) {
        m->nofails++;
    }
    memcpy(m->ofails_at[i], at, sizeof at);
    vmux__errbuf_set(m->ofails[i], sizeof m->ofails[i], "%s", reason);
}

/*
 * vmux_open() fails with the last attempt's code. Its reason: that attempt's, or, when several
 * endpoints failed, each one's last failure, so that a dead seed tried last does not hide why
 * a live one was refused ("not the primary (ROLE: slave)", an AUTH failure).
 */
static void open_failed(vmux *m, int code, const char *reason)
{
    if (m->nofails < 2) {
        open_report(m, OPEN_FAILED, code, reason);
        return;
    }
    char all[sizeof m->oreason];
    size_t n = (size_t)snprintf(all, sizeof all, "each endpoint tried failed: ");
    for (int i = 0; i < m->nofails && n < sizeof all; i++)
        n += (size_t)snprintf(all + n, sizeof all - n, "%s%s", i ? "; " : "", m->ofails[i]);
    open_report(m, OPEN_FAILED, code, all);
}

/*
 * How many attempts of the shared link vmux_open() waits for: connectRetry, and at least one per
 * listed endpoint, so that the open tries every seed before it fails (four seeds of which the
 * first three were dead failed after three attempts, never dialling the live fourth). With
 * serviceName the endpoints are sentinels, and one attempt may ask several of them: connectRetry.
 */
static int open_attempts(const vmux *m)
{
    size_t n = m->sentinel == NULL ? m->cfg->nendpoints : 0;
    return n > (size_t)m->cfg->connect_retry ? (int)n : m->cfg->connect_retry;
}

static void on_link_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    vmux *m = arg;
    (void)link;
    vmux__log(m->cfg, VMUX_LOG_WARN, "connection failed (%s): %s", vmux_err_name(code), reason);
    /* reason starts with "host:port: " */
    char where[300];
    const char *sep = strstr(reason, ": ");
    vmux__errbuf_set(where, sizeof(where), "%.*s", sep ? (int)(sep - reason) : 0, reason);
    emit(m, VMUX_EVENT_CONNECTION_FAILED, code, where, reason);
    vmux__router_link_failed(&m->router, link);
    vmux__fanout_withdraw(m, link); /* its node's primary role went while the parts were out */
    if (link != m->link || m->attempts >= open_attempts(m))
        return; /* vmux_open() knows already */
    note_open_failure(m, reason);
    if (++m->attempts >= open_attempts(m))
        open_failed(m, code, reason);
}

/*
 * Once a second. A tick that comes far later than asked means the whole process stood still
 * (a serverless function frozen between invocations, a stopped VM): its connections may have
 * died meanwhile, so they must answer a PING before commands are trusted to them.
 */
static void on_tick(uv_timer_t *t)
{
    vmux *m = t->data;
    uint64_t now = uv_hrtime();
    bool frozen = now - m->last_tick_ns > 3000000000ull;
    m->last_tick_ns = now;
    vmux__publish_wake_by(m);
    vmux__link_tick(m->link, frozen);
    vmux__router_tick(&m->router, frozen);
    vmux__pool_tick(&m->pool, frozen);
    if (m->sentinel != NULL)
        vmux__sentinel_tick(m->sentinel, frozen);
    vmux__pubsub_tick(m, frozen);
    vmux__nearc_tick(m, frozen);
    vmux__bigmem_tick(now);
}

static void on_link_error(struct vmux_link *link, int code, const char *reason, void *arg)
{
    vmux *m = arg;
    (void)link;
    char where[300];
    const char *sep = strstr(reason, ": ");
    vmux__errbuf_set(where, sizeof(where), "%.*s", sep ? (int)(sep - reason) : 0, reason);
    emit(m, VMUX_EVENT_ERROR, code, where, reason);
}

static bool on_link_redirect(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply,
                             void *arg)
{
    vmux *m = arg;
    return vmux__router_redirect(&m->router, link, op, reply);
}

static bool on_link_readonly(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply,
                             void *arg)
{
    vmux *m = arg;
    return vmux__router_readonly(&m->router, link, op, reply);
}

static void on_link_none_counted(struct vmux_link *link, void *arg)
{
    vmux *m = arg;
    vmux__router_stale_hint(&m->router, link);
}

static bool on_link_retry(struct vmux_link *link, struct vmux_op *op, void *arg)
{
    vmux *m = arg;
    return vmux__router_retry(&m->router, link, op);
}

static bool on_link_served(struct vmux_link *link, const struct vmux_endpoint *ep, void *arg)
{
    vmux *m = arg;
    (void)link;
    return vmux__router_node_served(&m->router, ep->host, ep->port);
}

static const struct vmux_link_events link_events = {.ready = on_link_ready,
                                                    .failed = on_link_failed,
                                                    .error = on_link_error,
                                                    .redirect = on_link_redirect,
                                                    .readonly = on_link_readonly,
                                                    .none_counted = on_link_none_counted,
                                                    .retry = on_link_retry,
                                                    .served = on_link_served};
static const struct vmux_link_events node_events = {.ready = on_node_ready,
                                                    .failed = on_link_failed,
                                                    .error = on_link_error,
                                                    .redirect = on_link_redirect,
                                                    .readonly = on_link_readonly,
                                                    .none_counted = on_link_none_counted,
                                                    .retry = on_link_retry};

static void on_wakeup(uv_async_t *a)
{
    vmux *m = a->data;
    if (m->link != NULL)
        vmux__lane_poke(m->link);
    vmux__drain_queue(m);
}

/*
 * After each turn's I/O: the wakes its reads owe (core/wait.h). Only a cluster handle defers them
 * over the turn: its turns read several nodes. A standalone handle's one connection is read once
 * a turn, and its direct lane counts the synchronous callers still waiting: completed callers
 * left asleep to the turn's end made 32 threads find themselves alone at once and crowd the lane
 * (twice the I/O thread's system calls on vmux-sync@32).
 */
static void on_turn_end(uv_check_t *h)
{
    vmux *m = h->data;
    vmux__wait_turn_end();
    if (vmux__router_mode(&m->router) == VMUX_ROUTER_CLUSTER)
        vmux__wait_turns_start();
}

/*
 * Before the loop polls, which may sleep: the wakes owed by reads that ran outside the poll's I/O
 * callbacks, and so before no uv_check: the rest of a reply batch resumed after its slice (an idle
 * handle), a flush turn's direct-lane leftovers. Left to the check, they waited for the poll to
 * end: up to the next timer (the 1 s tick) with nothing else to read.
 */
static void on_before_poll(uv_prepare_t *h)
{
    (void)h;
    vmux__wait_turn_end();
}

/* Closes the loop's own handles: the tick, the wake-up, the deadline timer, the route idler, the
 * turn's end and the one before the poll. */
static void close_loop_handles(vmux *m)
{
    uv_close((uv_handle_t *)&m->tick, NULL);
    uv_close((uv_handle_t *)&m->wakeup, NULL);
    uv_close((uv_handle_t *)&m->deadline_timer, NULL);
    uv_close((uv_handle_t *)&m->route_more, NULL);
    uv_close((uv_handle_t *)&m->turn_end, NULL);
    uv_close((uv_handle_t *)&m->before_poll, NULL);
}

void vmux__shutdown(vmux *m)
{
    m->io_closing = true;
    /* The wakes this turn owes go now, and the shutdown's own at once: a completion's callback
     * may wait for a synchronous caller to return (integration.mux_close holds the close so). */
    vmux__wait_turns_stop();
    /* First what was never routed: its callers need wait for no link to close. */
    vmux__opq_fail_all(&m->inbox, VMUX_ERR_CLOSED);
    vmux__router_close(&m->router);
    vmux__nearc_close(m);
    vmux__link_close(m->link);
    m->link = NULL;
    vmux__pool_close(&m->pool);
    vmux__pubsub_close(m);
    if (m->sentinel != NULL)
        vmux__sentinel_close(m->sentinel); /* after the links that follow it */
    m->sentinel = NULL;
    close_loop_handles(m);
    vmux__opq_fail_all(&m->inbox, VMUX_ERR_CLOSED); /* any a completion above submitted */
}

static void io_main(void *arg)
{
    vmux *m = arg;
    /* A write to a connection the server reset raises SIGPIPE, which would kill the whole
     * process; blocked here, the write fails with EPIPE and the connection is replaced. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    vmux__io_thread_mark(); /* a waiting vmux_msgq_pop() here would wait for itself */
    m->last_tick_ns = uv_hrtime();
    vmux__publish_wake_by(m);
    uv_timer_start(&m->tick, on_tick, 1000, 1000);
    uv_unref((uv_handle_t *)&m->tick);
    if (m->cfg->ssl && !m->cfg->ssl_verify)
        vmux__log(m->cfg, VMUX_LOG_WARN,
                  "sslVerify=false: the server's certificate is NOT verified; anyone on the path "
                  "can read and change this handle's traffic");
    vmux__config_log_compat(m->cfg);
    vmux__config_log_tls_off(m->cfg);
    if (m->sentinel != NULL)
        vmux__sentinel_start(m->sentinel);
    vmux__nearc_start(m); /* before the data link starts: it tracks from its first setup */
    vmux__link_start(m->link);
    uv_check_start(&m->turn_end, on_turn_end); /* until the shutdown closes them */
    uv_prepare_start(&m->before_poll, on_before_poll);
    uv_run(&m->loop, UV_RUN_DEFAULT);
}

/*
 * A near read is answered inside its transaction, an EXEC array of 3; under BCAST its block asks
 * CLIENT TRACKINGINFO, whose answer is 6 elements with an array of the prefixes. A smaller
 * maxReplyElements refuses that answer as a protocol error, which closes the connection that
 * every caller shares: refused here instead.
 */
static int check_near_elements(const struct vmux_config *cfg, char *errbuf, size_t errlen)
{
    if (!cfg->near_cache)
        return 0;
    bool bcast = cfg->near_cache_mode == VMUX_NEAR_BCAST;
    size_t prefixes = bcast ? vmux__near_prefix_count(cfg->near_cache_prefixes) : 0;
    uint64_t least = bcast ? (prefixes > 6 ? prefixes : 6) : 3;
    if (cfg->max_reply_elements >= least)
        return 0;
    vmux__errbuf_set(errbuf, errlen,
                     "nearCache=true needs maxReplyElements of at least %llu (%s), not %llu",
                     (unsigned long long)least,
                     bcast ? "nearCacheMode=bcast: CLIENT TRACKINGINFO's answer of 6 and the "
                             "array of nearCachePrefixes"
                           : "a near read's transaction answers an array of 3",
                     (unsigned long long)cfg->max_reply_elements);
    return VMUX_ERR_CONFIG;
}

/* Rejects settings that are valid one by one but not together. */
static int check_config(const struct vmux_config *cfg, char *errbuf, size_t errlen)
{
    if (cfg->nendpoints == 0) {
        vmux__errbuf_set(errbuf, errlen, "no endpoint in the configuration");
        return VMUX_ERR_CONFIG;
    }
    if (cfg->reconnect_min_ms > cfg->reconnect_max_ms) {
        vmux__errbuf_set(errbuf, errlen, "reconnectMin (%d) exceeds reconnectMax (%d)",
                         cfg->reconnect_min_ms, cfg->reconnect_max_ms);
        return VMUX_ERR_CONFIG;
    }
    if (cfg->max_reply_buffer <= cfg->max_bulk_length) {
        vmux__errbuf_set(errbuf, errlen, "maxReplyBuffer must exceed maxBulkLength");
        return VMUX_ERR_CONFIG;
    }
    if ((cfg->ssl_cert == NULL) != (cfg->ssl_key == NULL)) {
        /* with ssl off too: a client certificate given by half is a mistake either way */
        vmux__errbuf_set(errbuf, errlen, "%s is set without %s: give both or neither",
                         cfg->ssl_cert != NULL ? "sslCert" : "sslKey",
                         cfg->ssl_cert != NULL ? "sslKey" : "sslCert");
        return VMUX_ERR_CONFIG;
    }
    int rc = check_near_elements(cfg, errbuf, errlen);
    return rc != 0 ? rc : vmux__sentinel_check_config(cfg, errbuf, errlen);
}

static void mux_free(vmux *m)
{
    if (m->lane_kick >= 0)
        close(m->lane_kick);
    vmux__deadlines_free(&m->deadlines);
    vmux__router_free(&m->router);
    vmux__pubsub_free(m);
    vmux__nearc_free(m->near);
    uv_mutex_destroy(&m->qlock);
    uv_mutex_destroy(&m->olock);
    uv_cond_destroy(&m->ocond);
    vmux__tls_ctx_free(m->tls_ctx);
    vmux_config_free(m->cfg);
    free(m);
    vmux__bigmem_trim(); /* what its large commands left for the next ones (core/bigmem.h) */
}

/* Runs the loop until every handle it has is closed, then closes it. */
static void loop_finish(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

/* serviceName: the sentinel client; a Sentinel service is never a cluster. */
static int open_sentinel(vmux *m, char *errbuf, size_t errlen)
{
    if (m->cfg->service_name == NULL)
        return 0;
    m->cfg->cluster = VMUX_CLUSTER_NO;
    return vmux__sentinel_new(&m->loop, m->cfg, &m->sentinel, errbuf, errlen);
}

/*
 * libuv before 1.51 leaves the loop's epoll descriptor open when uv_loop_init() fails after
 * making it (1.51 closes it and stores -1): closes it, once it is known to be an epoll.
 */
static void close_leftover_epoll(uv_loop_t *loop)
{
    int fd = uv_backend_fd(loop);
    char path[64], target[32];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = fd > 2 ? readlink(path, target, sizeof(target) - 1) : -1;
    if (n > 0) {
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") == 0)
            close(fd);
    }
}

/*
 * The handle's loop and its wake-up: the descriptors a handle cannot work without (an epoll, a
 * pipe and an eventfd), so the first thing to fail when the process has used up its descriptors
 * (EMFILE). Returns 0, or VMUX_ERR_IO (VMUX_ERR_NOMEM for ENOMEM) with errbuf saying why and
 * nothing left open. (The first loop of the process also makes libuv's signal pipe, and libuv
 * aborts the process when it cannot.)
 */
static int loop_init(vmux *m, char *errbuf, size_t errlen)
{
    const char *what = "event loop";
    int rc = uv_loop_init(&m->loop);
    if (rc != 0) {
        close_leftover_epoll(&m->loop);
    } else {
        what = "wake-up";
        if ((rc = uv_async_init(&m->loop, &m->wakeup, on_wakeup)) == 0)
            return 0;
        loop_finish(&m->loop);
    }
    vmux__errbuf_set(errbuf, errlen, "cannot create the handle's %s: %s", what, uv_strerror(rc));
    return rc == UV_ENOMEM ? VMUX_ERR_NOMEM : VMUX_ERR_IO;
}

/* The three locks of m (qlock, olock, ocond); on failure none is left. */
static int init_locks(vmux *m)
{
    if (uv_mutex_init(&m->qlock) != 0)
        return VMUX_ERR_NOMEM;
    if (uv_mutex_init(&m->olock) == 0) {
        if (uv_cond_init(&m->ocond) == 0)
            return 0;
        uv_mutex_destroy(&m->olock);
    }
    uv_mutex_destroy(&m->qlock);
    return VMUX_ERR_NOMEM; /* what a failed mutex or condition variable gets */
}

static void destroy_locks(vmux *m)
{
    uv_cond_destroy(&m->ocond);
    uv_mutex_destroy(&m->olock);
    uv_mutex_destroy(&m->qlock);
}

/*
 * The handle's parts on its loop: the near cache, the sentinels, the blocking pool, the main link
 * and the router over them, wired together. On failure the caller closes what was made.
 */
static int init_parts(vmux *m, char *errbuf, size_t errlen)
{
    int rc;
    if ((rc = vmux__nearc_new(m->cfg, &m->near, errbuf, errlen)) != 0 ||
        (rc = open_sentinel(m, errbuf, errlen)) != 0 ||
        (rc = vmux__pool_init(&m->pool, &m->loop, m->cfg, m->tls_ctx, &m->ctr)) != 0 ||
        (rc = vmux__link_new(&m->loop, m->cfg, m->tls_ctx, &m->ctr, &link_events, m, &m->link)) !=
            0)
        return rc;
    vmux__link_set_sentinel(m->link, m->sentinel);
    m->pool.sentinel = m->sentinel;
    vmux__router_init(&m->router, &m->loop, m->cfg, m->tls_ctx, &m->ctr, &node_events, m,
                      on_router_settled, m->link, &m->pool);
    vmux__router_use_sentinel(&m->router, m->sentinel); /* readFrom: its replicas */
    m->router.map_changed = on_map_changed;
    m->router.map_changed_arg = m;
    m->router.refreshed = on_refreshed;
    if (m->near != NULL) {
        m->router.redirected = vmux__nearc_redirected;
        m->router.redirected_arg = m;
    }
    /* Without the descriptor callers still write through the lane, but never read. */
    m->lane_kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vmux__lane_enable(m->link, &m->wakeup, m->lane_kick, vmux__adopt_direct, m);
    return 0;
}

/*
 * Prepares m up to (not including) starting the I/O thread. Returns 0, or on failure undoes all
 * of it, frees m and returns the error (errbuf says why).
 */
static int mux_init(vmux *m, const vmux_config *cfg, char *errbuf, size_t errlen)
{
    int rc = VMUX_ERR_NOMEM;
    m->timer_due_ns = UINT64_MAX;
    m->lane_kick = -1;
    if ((m->cfg = vmux_config_dup(cfg)) == NULL)
        goto fail_cfg;
    if ((rc = vmux__config_iam_install(m->cfg, errbuf, errlen)) != 0 ||
        (m->cfg->ssl && (rc = vmux__tls_ctx_new(m->cfg, &m->tls_ctx, errbuf, errlen)) != 0) ||
        (rc = init_locks(m)) != 0)
        goto fail_setup;
    if ((rc = loop_init(m, errbuf, errlen)) != 0)
        goto fail_loop;
    uv_timer_init(&m->loop, &m->deadline_timer);
    uv_timer_init(&m->loop, &m->tick);
    uv_idle_init(&m->loop, &m->route_more);
    uv_check_init(&m->loop, &m->turn_end);
    uv_prepare_init(&m->loop, &m->before_poll);
    m->wakeup.data = m->deadline_timer.data = m->tick.data = m->route_more.data = m;
    m->turn_end.data = m;
    if ((rc = init_parts(m, errbuf, errlen)) == 0)
        return 0;
    vmux__pool_close(&m->pool);
    vmux__nearc_free(m->near);
    if (m->sentinel != NULL)
        vmux__sentinel_close(m->sentinel);
    close_loop_handles(m);
    loop_finish(&m->loop);
fail_loop:
    destroy_locks(m);
fail_setup:
    vmux__tls_ctx_free(m->tls_ctx);
    vmux_config_free(m->cfg);
fail_cfg:
    if (rc == VMUX_ERR_NOMEM) /* else (IAM, TLS, sentinels, near cache bounds) errbuf says why */
        vmux__errbuf_set(errbuf, errlen, "out of memory while creating the handle");
    free(m);
    return rc;
}

/* Stops the I/O thread (or, if it never started, closes the handles here) and frees m. */
static void mux_stop(vmux *m, bool started)
{
    if (started) {
        uv_mutex_lock(&m->qlock);
        m->closing = true;
        uv_async_send(&m->wakeup);
        uv_mutex_unlock(&m->qlock);
        uv_thread_join(&m->thread);
        uv_loop_close(&m->loop);
        vmux__wait_calls_ended(m); /* every command is complete: they are returning */
    } else {
        vmux__shutdown(m);
        loop_finish(&m->loop);
    }
    mux_free(m);
}

static int wait_first_connection(vmux *m, char *errbuf, size_t errlen)
{
    uv_mutex_lock(&m->olock);
    while (m->ostate == OPEN_WAITING)
        uv_cond_wait(&m->ocond, &m->olock);
    int rc = m->ostate == OPEN_READY ? 0 : m->oerror;
    if (rc != 0)
        vmux__errbuf_set(errbuf, errlen, "%s", m->oreason);
    uv_mutex_unlock(&m->olock);
    return rc;
}

/* vmux_open() past its argument checks, with thread cancellation held off (core/nocancel.h). */
static int open_held(const vmux_config *cfg, vmux **out, char *errbuf, size_t errlen)
{
    vmux *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        vmux__errbuf_set(errbuf, errlen, "out of memory while creating the handle");
        return VMUX_ERR_NOMEM;
    }
    vmux__fork_watch();
    m->fork_gen = vmux__fork_generation();
    m->pubsub.idle_close_ms = VMUX__PUBSUB_IDLE_CLOSE_MS;
    int rc = mux_init(m, cfg, errbuf, errlen);
    if (rc != 0)
        return rc; /* mux_init freed m */
    if ((rc = uv_thread_create(&m->thread, io_main, m)) != 0) {
        vmux__errbuf_set(errbuf, errlen, "cannot start the I/O thread: %s", uv_strerror(rc));
        mux_stop(m, false);
        return VMUX_ERR_NOMEM;
    }
    /* Named here, not by the thread itself, so that it has its name when vmux_open() returns: as
     * top -H, ps -L, gdb and perf show it. */
    pthread_setname_np(m->thread, "vmux-io");
    if (m->cfg->abort_connect && (rc = wait_first_connection(m, errbuf, errlen)) != 0) {
        mux_stop(m, true);
        return rc;
    }
    *out = m;
    return 0;
}

int vmux_open(const vmux_config *cfg, vmux **out, char *errbuf, size_t errlen)
{
    if (out != NULL)
        *out = NULL;
    if (cfg == NULL || out == NULL) {
        vmux__errbuf_set(errbuf, errlen, "vmux_open: cfg and out must not be NULL");
        return VMUX_ERR_INVALID_ARG;
    }
    int rc = check_config(cfg, errbuf, errlen);
    if (rc != 0)
        return rc;
    int cancel = vmux__nocancel();
    rc = open_held(cfg, out, errbuf, errlen);
    vmux__cancel_restore(cancel);
    return rc;
}

int vmux_open_str(const char *config, vmux **out, char *errbuf, size_t errlen)
{
    vmux_config *cfg;
    if (out != NULL)
        *out = NULL;
    int rc = vmux_config_parse(config, &cfg, errbuf, errlen);
    if (rc != 0)
        return rc;
    rc = vmux_open(cfg, out, errbuf, errlen);
    vmux_config_free(cfg);
    return rc;
}

/* vmux_drain() but for clearing and ending its words. */
static int drain(vmux *m, int64_t timeout_ms)
{
    if (m == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "the handle is NULL");
    int rc = vmux__wait_allowed(m, timeout_ms); /* forked: nothing here would complete them */
    if (rc != 0)
        return rc;
    int cancel = vmux__nocancel();
    bool drained = vmux__counters_drain(&m->ctr, timeout_ms);
    vmux__cancel_restore(cancel);
    return drained ? 0 : VMUX_ERR_TIMEOUT;
}

int vmux_drain(vmux *m, int64_t timeout_ms)
{
    vmux__why_begin();
    return vmux__why_end(drain(m, timeout_ms));
}

void vmux_close(vmux *m)
{
    if (m == NULL)
        return;
    if (vmux__forked(m)) {
        vmux__close_in_child(m);
        return;
    }
    if (vmux__on_io_thread(m)) {
        fprintf(stderr,
                "vmux_close: called from a vmux callback, on the I/O thread it must join\n");
        abort();
    }
    int cancel = vmux__nocancel();
    mux_stop(m, true);
    vmux__cancel_restore(cancel);
}

/* The refusal of a stats reader's handle or out (NULL), with words; 0 if neither. */
static int refuse_stats(const vmux *m, const vmux_stats *out)
{
    if (m == NULL || out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", m == NULL ? "the handle" : "out");
    if (out->size < sizeof(size_t))
        return vmux__why_sized("out", out->size, sizeof *out);
    return 0;
}

/* vmux_read_stats() but for clearing and ending its words. */
static int read_stats(const vmux *m, vmux_stats *out)
{
    int rc = refuse_stats(m, out);
    if (rc != 0)
        return rc;
    vmux *held = (vmux *)m; /* its close waits while a read is under way (probe 49) */
    if (!vmux__hold(held))
        return VMUX_ERR_CLOSED;
    vmux_stats all = {.size = sizeof all};
    vmux__counters_read(&m->ctr, &all);
    vmux__router_stats_add(&held->router, &all);
    vmux__leave(held);
    return vmux__sized_out(out, &all, sizeof all);
}

int vmux_read_stats(const vmux *m, vmux_stats *out)
{
    vmux__why_begin();
    return vmux__why_end(read_stats(m, out));
}

/* vmux_read_node_stats() but for clearing and ending its words. */
static int read_node_stats(const vmux *m, const char *host, int port, vmux_stats *out)
{
    int rc = refuse_stats(m, out);
    if (rc != 0)
        return rc;
    if (host == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "host is NULL");
    if (port <= 0 || port > 65535)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "port is %d: outside 1..65535", port);
    vmux *held = (vmux *)m;
    if (!vmux__hold(held))
        return VMUX_ERR_CLOSED;
    vmux_stats node = {.size = sizeof node};
    rc = vmux__router_node_stats(&held->router, host, port, &node);
    vmux__leave(held);
    if (rc == VMUX_ERR_INVALID_ARG)
        return vmux__why_set(rc, "%s:%d: a node the handle never dialled", host, port);
    return rc != 0 ? rc : vmux__sized_out(out, &node, sizeof node);
}

int vmux_read_node_stats(const vmux *m, const char *host, int port, vmux_stats *out)
{
    vmux__why_begin();
    return vmux__why_end(read_node_stats(m, host, port, out));
}
