/*
 * The pub/sub engine: a registry of subscriptions, a subscriber link that receives pushes
 * instead of replies, delivery to callbacks and queues, and resubscription after reconnects.
 */
#include "vmux/pubsub.h"

#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "core/encode.h"
#include "core/log.h"
#include "core/msgq.h"
#include "mux/mux.h"
#include "vmux/error.h"

struct vmux_sub {
    struct vmux_sub *next;
    vmux_sub_kind kind;
    vmux_bytes name;
    vmux_message_cb cb; /* or */
    vmux_msgq *queue;
    void *userdata;
    bool dead; /* unsubscribed during a delivery: freed after it */
    uv_mutex_t mu;
    uv_cond_t cv;
    bool live; /* under mu: the server confirmed it on the current connection */
};

static const char *const subscribe_cmd[] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};
static const char *const unsubscribe_cmd[] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};

static void set_live(struct vmux_sub *s, bool live)
{
    uv_mutex_lock(&s->mu);
    s->live = live;
    if (live)
        uv_cond_broadcast(&s->cv);
    uv_mutex_unlock(&s->mu);
}

static bool same(const struct vmux_sub *s, vmux_sub_kind kind, const char *name, size_t len)
{
    return !s->dead && s->kind == kind && s->name.len == len && memcmp(s->name.ptr, name, len) == 0;
}

/* Sends "<cmd> name" on the subscriber link, if it is ready (else the ready event does). */
static void send_one(struct vmux *m, const char *cmd, const vmux_bytes *name)
{
    struct vmux_op *op;
    const char *argv[] = {cmd, name->ptr};
    size_t lens[] = {strlen(cmd), name->len};
    if (vmux_encode_op(2, argv, lens, &op) != 0)
        return;
    vmux_link_send_raw(m->pubsub.link, op->cmd, op->len);
    vmux_op_free(op);
}

/* ---- what the subscriber link tells us ---- */

static void on_sub_link_ready(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux *m = arg;
    (void)link;
    vmux_log(m->cfg, VMUX_LOG_INFO, "%s: subscriber connection ready; resubscribing", where);
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next)
        if (!s->dead)
            send_one(m, subscribe_cmd[s->kind], &s->name);
}

static void on_sub_link_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    struct vmux *m = arg;
    (void)link;
    vmux_log(m->cfg, VMUX_LOG_WARN, "subscriber connection failed (%s): %s", vmux_err_name(code),
             reason);
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next)
        set_live(s, false);
}

static const struct vmux_link_events sub_link_events = {on_sub_link_ready, on_sub_link_failed,
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

/* Frees the subscriptions unsubscribed while a delivery ran. */
static void reap(struct vmux *m)
{
    struct vmux_sub **at = &m->pubsub.subs;
    while (*at != NULL) {
        struct vmux_sub *s = *at;
        if (s->dead) {
            *at = s->next;
            free_sub(s);
        } else {
            at = &s->next;
        }
    }
}

static void deliver(struct vmux *m, vmux_sub_kind kind, const vmux_reply *name,
                    const vmux_message *msg)
{
    vmux_bytes n = view(name);
    m->pubsub.delivering++;
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next) {
        if (!same(s, kind, n.ptr, n.len))
            continue;
        if (s->cb != NULL)
            s->cb(msg, s->userdata);
        else
            vmux_msgq_push(s->queue, msg);
    }
    if (--m->pubsub.delivering == 0)
        reap(m);
}

static void confirm(struct vmux *m, vmux_sub_kind kind, const vmux_reply *name)
{
    vmux_bytes n = view(name);
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next)
        if (same(s, kind, n.ptr, n.len))
            set_live(s, true);
}

static bool is(const vmux_reply *r, const char *word)
{
    const char *s = vmux_reply_str(r, NULL);
    return s != NULL && strcmp(s, word) == 0;
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
    } else if (vmux_reply_type(r) == VMUX_REPLY_ERROR) {
        vmux_log(m->cfg, VMUX_LOG_ERROR, "subscriber connection: %s", vmux_reply_str(r, NULL));
    }
    vmux_reply_free(r); /* unsubscribe confirmations and anything else: nothing to do */
}

/* ---- registering and unregistering, on the I/O thread ---- */

static int open_sub_link(struct vmux *m)
{
    struct vmux_link *link;
    int rc = vmux_link_new(&m->loop, m->cfg, m->tls_ctx, &m->ctr, &sub_link_events, m, &link);
    if (rc != 0)
        return rc;
    vmux_link_set_push(link, on_push, m);
    vmux_link_set_auxiliary(link);
    m->pubsub.link = link;
    vmux_link_start(link);
    return 0;
}

static int add_on_io(struct vmux *m, void *arg)
{
    struct vmux_sub *s = arg;
    if (m->pubsub.closed)
        return VMUX_ERR_CLOSED;
    if (m->pubsub.link == NULL) {
        int rc = open_sub_link(m);
        if (rc != 0)
            return rc;
    }
    s->next = m->pubsub.subs;
    m->pubsub.subs = s;
    send_one(m, subscribe_cmd[s->kind], &s->name);
    return 0;
}

static int remove_on_io(struct vmux *m, void *arg)
{
    struct vmux_sub *target = arg, *s;
    for (s = m->pubsub.subs; s != NULL && s != target; s = s->next)
        ;
    if (s == NULL || s->dead)
        return VMUX_ERR_INVALID_ARG;
    s->dead = true;
    bool last = true;
    for (struct vmux_sub *o = m->pubsub.subs; o != NULL; o = o->next)
        last = last && !same(o, s->kind, s->name.ptr, s->name.len);
    if (last)
        send_one(m, unsubscribe_cmd[s->kind], &s->name);
    if (m->pubsub.delivering == 0)
        reap(m);
    return 0;
}

void vmux_pubsub_close(struct vmux *m)
{
    m->pubsub.closed = true;
    for (struct vmux_sub *s = m->pubsub.subs; s != NULL; s = s->next) {
        if (s->queue != NULL)
            vmux_msgq_close(s->queue);
        s->dead = true;
    }
    if (m->pubsub.delivering == 0)
        reap(m);
    if (m->pubsub.link != NULL)
        vmux_link_close(m->pubsub.link);
    m->pubsub.link = NULL;
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
    if (s == NULL || (s->name.ptr = malloc(name.len + 1)) == NULL) {
        free(s);
        return VMUX_ERR_NOMEM;
    }
    memcpy(s->name.ptr, name.ptr, name.len);
    s->name.ptr[name.len] = '\0';
    s->name.len = name.len;
    s->kind = kind;
    s->cb = cb;
    s->queue = q;
    s->userdata = userdata;
    uv_mutex_init(&s->mu);
    uv_cond_init(&s->cv);
    int rc = vmux_run_on_io(m, add_on_io, s);
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

int vmux_sub_wait_live(vmux_sub *sub, int timeout_ms)
{
    if (sub == NULL)
        return VMUX_ERR_INVALID_ARG;
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
    return vmux_run_on_io(m, remove_on_io, sub);
}

int vmux_publish(vmux *m, const vmux_callopts *opts, bool shard, vmux_str channel, vmux_str message,
                 int64_t *receivers)
{
    struct vmux_args a;
    int64_t ignored;
    vmux_args_init(&a);
    vmux_args_cstr(&a, shard ? "SPUBLISH" : "PUBLISH");
    vmux_args_str(&a, channel);
    vmux_args_str(&a, message);
    return vmux_typed_run(m, opts, &a, false, vmux_conv_int, receivers ? receivers : &ignored);
}
