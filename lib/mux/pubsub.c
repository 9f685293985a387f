/*
 * The pub/sub engine: a registry of subscriptions, a subscriber link that receives pushes
 * instead of replies, delivery to callbacks and queues, and resubscription after reconnects.
 */
#include "vmux/pubsub.h"

#include <stdlib.h>
#include <string.h>

#include "core/counters.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/log.h"
#include "core/msgq.h"
#include "mux/mux.h"
#include "vmux/error.h"

struct vmux_sub {
    struct vmux_sub *next, *prev; /* the handle's list of subscriptions */
    struct vmux_sub *hnext;       /* the same hash bucket */
    struct vmux_sub *gnext;       /* among the graves */
    uint64_t hash;
    vmux_sub_kind kind;
    vmux_bytes name;
    vmux_message_cb cb; /* or */
    vmux_msgq *queue;
    void *userdata;
    bool dead;            /* unsubscribed during a delivery: freed after it */
    int requests;         /* entries of the sent requests that name it */
    const struct vmux *m; /* its handle: vmux_sub_wait_live() must know a fork() child */
    uv_mutex_t mu;
    uv_cond_t cv;
    bool live; /* under mu: the server confirmed its own SUBSCRIBE on the current connection */
};

/*
 * One SUBSCRIBE or UNSUBSCRIBE written on the subscriber connection. sub is the subscription
 * the SUBSCRIBE was sent for; NULL for an UNSUBSCRIBE, or once that subscription has ended.
 */
struct vmux_sub_request {
    struct vmux_sub_request *next;
    struct vmux_sub *sub;
};

static const char *const subscribe_cmd[] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};
static const char *const unsubscribe_cmd[] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};

enum { FIRST_BUCKETS = 16 };

static void set_live(struct vmux_sub *s, bool live)
{
    uv_mutex_lock(&s->mu);
    s->live = live;
    if (live)
        uv_cond_broadcast(&s->cv);
    uv_mutex_unlock(&s->mu);
}

/* FNV-1a over the kind and the name: a channel and a pattern spelled alike differ. */
static uint64_t hash_of(vmux_sub_kind kind, const char *name, size_t len)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t)kind;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    return h;
}

static bool same(const struct vmux_sub *s, uint64_t hash, vmux_sub_kind kind, const char *name,
                 size_t len)
{
    return !s->dead && s->hash == hash && s->kind == kind && s->name.len == len &&
           memcmp(s->name.ptr, name, len) == 0;
}

static struct vmux_sub **bucket_of(struct vmux_pubsub *ps, uint64_t hash)
{
    return &ps->buckets[hash & (ps->nbuckets - 1)];
}

/* The first live subscription of that kind and name, or NULL. */
static struct vmux_sub *find(struct vmux_pubsub *ps, vmux_sub_kind kind, const char *name,
                             size_t len)
{
    uint64_t h = hash_of(kind, name, len);
    struct vmux_sub *s = *bucket_of(ps, h);
    while (s != NULL && !same(s, h, kind, name, len))
        s = s->hnext;
    return s;
}

/* Doubles the table when chains would grow past one entry on average. Not while delivering:
 * a delivery walks a chain. Returns 0 or VMUX_ERR_NOMEM (only on the first allocation). */
static int grow(struct vmux_pubsub *ps)
{
    if (ps->buckets != NULL && (ps->nsubs < ps->nbuckets || ps->delivering > 0))
        return 0;
    size_t n = ps->buckets == NULL ? FIRST_BUCKETS : 2 * ps->nbuckets;
    struct vmux_sub **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return ps->buckets == NULL ? VMUX_ERR_NOMEM : 0; /* longer chains, still correct */
    free(ps->buckets);
    ps->buckets = b;
    ps->nbuckets = n;
    for (struct vmux_sub *s = ps->subs; s != NULL; s = s->next) {
        struct vmux_sub **at = bucket_of(ps, s->hash);
        s->hnext = *at;
        *at = s;
    }
    return 0;
}

/* ---- requests written and their confirmations ---- */

/*
 * Sends "<cmd> name" on the subscriber link if it is ready (else the ready event resubscribes),
 * and notes the request, for its confirmation. sub: what a SUBSCRIBE is for; NULL otherwise.
 */
static void send_one(struct vmux *m, const char *cmd, const vmux_bytes *name, struct vmux_sub *sub)
{
    struct vmux_pubsub *ps = &m->pubsub;
    struct vmux_op *op;
    const char *argv[] = {cmd, name->ptr};
    size_t lens[] = {strlen(cmd), name->len};
    struct vmux_sub_request *rq = malloc(sizeof(*rq));
    if (rq == NULL || vmux__encode_op(2, argv, lens, &op) != 0) {
        free(rq);
        return;
    }
    int rc = vmux__link_send_raw(ps->link, op->cmd, op->len);
    vmux__op_free(op);
    if (rc != 0) {
        free(rq);
        return;
    }
    *rq = (struct vmux_sub_request){NULL, sub};
    if (sub != NULL)
        sub->requests++;
    if (ps->sent_tail != NULL)
        ps->sent_tail->next = rq;
    else
        ps->sent_head = rq;
    ps->sent_tail = rq;
}

/* Takes the oldest request: the one the server has just answered. NULL when none. */
static struct vmux_sub *answered(struct vmux_pubsub *ps)
{
    struct vmux_sub_request *rq = ps->sent_head;
    if (rq == NULL)
        return NULL;
    ps->sent_head = rq->next;
    if (ps->sent_head == NULL)
        ps->sent_tail = NULL;
    struct vmux_sub *s = rq->sub;
    if (s != NULL)
        s->requests--;
    free(rq);
    return s;
}

/* The connection that carried the requests is gone: none of them will be answered. */
static void forget_requests(struct vmux_pubsub *ps)
{
    while (ps->sent_head != NULL)
        answered(ps);
}

/* A subscription about to be freed must not be named by a request any more. */
static void unname(struct vmux_pubsub *ps, struct vmux_sub *s)
{
    for (struct vmux_sub_request *rq = ps->sent_head; rq != NULL && s->requests > 0; rq = rq->next)
        if (rq->sub == s) {
            rq->sub = NULL;
            s->requests--;
        }
}

/* ---- what the subscriber link tells us ---- */

static void on_sub_link_ready(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux *m = arg;
    (void)link;
    vmux__log(m->cfg, VMUX_LOG_INFO, "%s: subscriber connection ready; resubscribing", where);
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next)
        if (!s->dead)
            send_one(m, subscribe_cmd[s->kind], &s->name, s);
}

/* VMUX_EVENT_SUBSCRIBER_LOST; reason starts with "host:port: ". */
static void emit_lost(struct vmux *m, int code, const char *reason)
{
    if (m->cfg->event_fn == NULL)
        return;
    char where[300];
    const char *sep = strstr(reason, ": ");
    vmux__errbuf_set(where, sizeof(where), "%.*s", sep ? (int)(sep - reason) : 0, reason);
    vmux_event ev = {VMUX_EVENT_SUBSCRIBER_LOST, code, where, reason};
    m->cfg->event_fn(&ev, m->cfg->event_userdata);
}

static void on_sub_link_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    struct vmux *m = arg;
    (void)link;
    vmux__log(m->cfg, VMUX_LOG_WARN, "subscriber connection failed (%s): %s", vmux_err_name(code),
              reason);
    forget_requests(&m->pubsub);
    bool was_live = false;
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next) {
        uv_mutex_lock(&s->mu);
        was_live = was_live || (s->live && !s->dead);
        s->live = false;
        uv_mutex_unlock(&s->mu);
    }
    if (!was_live) /* a failed attempt while down: nothing more was lost */
        return;
    vmux__count(&m->ctr.subscriber_lost, 1);
    emit_lost(m, code, reason);
}

static const struct vmux_link_events sub_link_events = {on_sub_link_ready, on_sub_link_failed, NULL,
                                                        NULL};

static vmux_bytes view(const vmux_reply *r)
{
    size_t len = 0;
    const char *s = vmux_reply_str(r, &len);
    return (vmux_bytes){(char *)s, s != NULL ? len : 0};
}

static void free_sub(struct vmux_sub *s)
{
    vmux_bytes_free(&s->name);
    uv_cond_destroy(&s->cv);
    uv_mutex_destroy(&s->mu);
    free(s);
}

/* Takes s out of the list, its bucket and the requests, and frees it. */
static void drop(struct vmux_pubsub *ps, struct vmux_sub *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        ps->subs = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    struct vmux_sub **at = bucket_of(ps, s->hash);
    while (*at != s)
        at = &(*at)->hnext;
    *at = s->hnext;
    ps->nsubs--;
    unname(ps, s);
    free_sub(s);
}

/* Frees the subscriptions unsubscribed while a delivery ran. */
static void reap(struct vmux_pubsub *ps)
{
    while (ps->graves != NULL) {
        struct vmux_sub *s = ps->graves;
        ps->graves = s->gnext;
        drop(ps, s);
    }
    grow(ps); /* subscriptions made by callbacks may have waited for it */
}

/* Ends s now, or after the delivery under way (which may be walking its chain). */
static void bury(struct vmux_pubsub *ps, struct vmux_sub *s)
{
    s->dead = true;
    s->gnext = ps->graves;
    ps->graves = s;
    if (ps->delivering == 0)
        reap(ps);
}

/*
 * The server names the channel (or, for pmessage, the pattern that matched: it did the glob
 * matching), so patterns are found in the table as exactly as channels are.
 */
static void deliver(struct vmux *m, vmux_sub_kind kind, const vmux_reply *name,
                    const vmux_message *msg)
{
    struct vmux_pubsub *ps = &m->pubsub;
    vmux_bytes n = view(name);
    uint64_t h = hash_of(kind, n.ptr, n.len);
    ps->delivering++;
    for (struct vmux_sub *s = *bucket_of(ps, h); s != NULL; s = s->hnext) {
        if (!same(s, h, kind, n.ptr, n.len))
            continue;
        if (s->cb != NULL)
            s->cb(msg, s->userdata);
        else
            vmux__msgq_push(s->queue, msg);
    }
    if (--ps->delivering == 0)
        reap(ps);
}

/* A subscribe confirmation answers the oldest request: that subscription alone is live. */
static void confirm(struct vmux *m, vmux_sub_kind kind, const vmux_reply *name)
{
    struct vmux_sub *s = answered(&m->pubsub);
    vmux_bytes n = view(name);
    if (s != NULL && same(s, s->hash, kind, n.ptr, n.len))
        set_live(s, true);
}

static bool is(const vmux_reply *r, const char *word)
{
    const char *s = vmux_reply_str(r, NULL);
    return s != NULL && strcmp(s, word) == 0;
}

static bool is_unsubscribe(const vmux_reply *e0)
{
    return is(e0, "unsubscribe") || is(e0, "punsubscribe") || is(e0, "sunsubscribe");
}

static void on_push(vmux_reply *r, void *arg)
{
    struct vmux *m = arg;
    const vmux_reply *e0 = vmux_reply_element(r, 0), *e1 = vmux_reply_element(r, 1),
                     *e2 = vmux_reply_element(r, 2), *e3 = vmux_reply_element(r, 3);
    if (is(e0, "message") && e2 != NULL) {
        vmux_message msg = {view(e1), {NULL, 0}, view(e2)};
        deliver(m, VMUX_SUB_CHANNEL, e1, &msg);
    } else if (is(e0, "pmessage") && e3 != NULL) {
        vmux_message msg = {view(e2), view(e1), view(e3)};
        deliver(m, VMUX_SUB_PATTERN, e1, &msg);
    } else if (is(e0, "smessage") && e2 != NULL) {
        vmux_message msg = {view(e1), {NULL, 0}, view(e2)};
        deliver(m, VMUX_SUB_SHARD, e1, &msg);
    } else if (is(e0, "subscribe") || is(e0, "psubscribe") || is(e0, "ssubscribe")) {
        confirm(m,
                is(e0, "subscribe")    ? VMUX_SUB_CHANNEL
                : is(e0, "psubscribe") ? VMUX_SUB_PATTERN
                                       : VMUX_SUB_SHARD,
                e1);
    } else if (is_unsubscribe(e0)) {
        answered(&m->pubsub); /* makes nothing live */
    } else if (vmux_reply_get_kind(r) == VMUX_REPLY_ERROR) {
        answered(&m->pubsub); /* the request it refuses stays not live */
        vmux__log(m->cfg, VMUX_LOG_ERROR, "subscriber connection: %s", vmux_reply_str(r, NULL));
    }
    vmux_reply_free(r);
}

/* ---- registering and unregistering, on the I/O thread ---- */

static int open_sub_link(struct vmux *m)
{
    struct vmux_link *link;
    int rc = vmux__link_new(&m->loop, m->cfg, m->tls_ctx, &m->ctr, &sub_link_events, m, &link);
    if (rc != 0)
        return rc;
    vmux__link_set_push(link, on_push, m);
    vmux__link_set_auxiliary(link);
    vmux__link_set_sentinel(link, m->sentinel);
    m->pubsub.link = link;
    vmux__link_start(link);
    return 0;
}

static int add_on_io(struct vmux *m, void *arg)
{
    struct vmux_pubsub *ps = &m->pubsub;
    struct vmux_sub *s = arg;
    if (ps->closed)
        return VMUX_ERR_CLOSED;
    if (grow(ps) != 0)
        return VMUX_ERR_NOMEM;
    if (ps->link == NULL) {
        int rc = open_sub_link(m);
        if (rc != 0)
            return rc;
    }
    s->next = ps->subs;
    if (ps->subs != NULL)
        ps->subs->prev = s;
    ps->subs = s;
    struct vmux_sub **at = bucket_of(ps, s->hash);
    s->hnext = *at;
    *at = s;
    ps->nsubs++;
    send_one(m, subscribe_cmd[s->kind], &s->name, s);
    return 0;
}

static int remove_on_io(struct vmux *m, void *arg)
{
    struct vmux_pubsub *ps = &m->pubsub;
    struct vmux_sub *target = arg, *s;
    /* A guard against a subscription this handle does not hold, which must not be read. */
    for (s = ps->subs; s != NULL && s != target; s = s->next)
        ;
    if (s == NULL || s->dead)
        return VMUX_ERR_INVALID_ARG;
    s->dead = true;
    if (find(ps, s->kind, s->name.ptr, s->name.len) == NULL)
        send_one(m, unsubscribe_cmd[s->kind], &s->name, NULL);
    bury(ps, s);
    return 0;
}

void vmux__pubsub_close(struct vmux *m)
{
    struct vmux_pubsub *ps = &m->pubsub;
    ps->closed = true;
    struct vmux_sub *next;
    for (struct vmux_sub *s = ps->subs; s != NULL; s = next) {
        next = s->next; /* bury() may free s */
        if (s->queue != NULL)
            vmux_msgq_close(s->queue);
        if (!s->dead)
            bury(ps, s);
    }
    if (ps->link != NULL)
        vmux__link_close(ps->link);
    ps->link = NULL;
    forget_requests(ps);
    if (ps->delivering == 0) {
        free(ps->buckets);
        ps->buckets = NULL;
    }
}

/* ---- the public calls ---- */

static int subscribe(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_message_cb cb, vmux_msgq *q,
                     void *userdata, vmux_sub **out)
{
    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL || (cb == NULL && q == NULL) || name.ptr == NULL ||
        name.len == 0 || kind < VMUX_SUB_CHANNEL || kind > VMUX_SUB_SHARD)
        return VMUX_ERR_INVALID_ARG;
    struct vmux_sub *s = calloc(1, sizeof(*s));
    if (s != NULL)
        s->m = m;
    if (s == NULL || (s->name.ptr = malloc(name.len + 1)) == NULL) {
        free(s);
        return VMUX_ERR_NOMEM;
    }
    memcpy(s->name.ptr, name.ptr, name.len);
    s->name.ptr[name.len] = '\0';
    s->name.len = name.len;
    s->kind = kind;
    s->hash = hash_of(kind, name.ptr, name.len);
    s->cb = cb;
    s->queue = q;
    s->userdata = userdata;
    uv_mutex_init(&s->mu);
    uv_cond_init(&s->cv);
    int rc = vmux__run_on_io(m, add_on_io, s);
    if (rc != 0) {
        free_sub(s);
        return rc;
    }
    *out = s;
    return 0;
}

int vmux_subscribe(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_message_cb cb, void *userdata,
                   vmux_sub **out)
{
    return subscribe(m, kind, name, cb, NULL, userdata, out);
}

int vmux_subscribe_queue(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_msgq *q, vmux_sub **out)
{
    return subscribe(m, kind, name, NULL, q, NULL, out); /* q NULL: refused there */
}

int vmux_sub_wait_live(vmux_sub *sub, int64_t timeout_ms)
{
    if (sub == NULL || timeout_ms < VMUX_FOREVER)
        return VMUX_ERR_INVALID_ARG;
    if (vmux__forked(sub->m))
        return VMUX_ERR_FORKED; /* nothing in this process would ever confirm it */
    uint64_t until = uv_hrtime() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    uv_mutex_lock(&sub->mu);
    while (!sub->live) {
        if (timeout_ms < 0) {
            uv_cond_wait(&sub->cv, &sub->mu);
            continue;
        }
        uint64_t now = uv_hrtime();
        if (now >= until || uv_cond_timedwait(&sub->cv, &sub->mu, until - now) != 0)
            break;
    }
    bool live = sub->live;
    uv_mutex_unlock(&sub->mu);
    return live ? 0 : VMUX_ERR_TIMEOUT;
}

int vmux_unsubscribe(vmux *m, vmux_sub *sub)
{
    if (m == NULL || sub == NULL)
        return VMUX_ERR_INVALID_ARG;
    return vmux__run_on_io(m, remove_on_io, sub);
}
