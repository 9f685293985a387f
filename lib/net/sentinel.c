/*
 * Sentinel: asking where the primary is, and following +switch-master. See sentinel.h.
 *
 * Links to the sentinels, on configs of their own (the sentinel credentials and TLS, no ROLE
 * check): "query" asks GET-MASTER-ADDR-BY-NAME, with every sentinel as an endpoint, and moves to
 * the next one when its attempt fails or it refuses the question; one "watch" subscriber link per
 * sentinel listens for +switch-master. Each sentinel announces a switch when it learns of it: the
 * leader of the failover at once, the others up to a couple of seconds later (their hello
 * messages), so listening to one would follow late whenever that one is not the leader.
 *
 * Listening is in sentinel_watch.c (it may also pause the links while a failover runs).
 *
 * What is known: primary, the latest address learned, by an answer or an announcement; trusted
 * while no connection to it has failed since, so that the links that connect meanwhile (a pool
 * link, the subscriber link) need not ask again. An announcement is newer than any answer to a
 * question asked before it (gen), so such an answer is not believed. A watcher hears nothing
 * until its SUBSCRIBE is confirmed, so each confirmation asks once more, and a changed answer is
 * followed as an announcement is (vmux__sentinel_recheck()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_keys.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/errclass.h"
#include "core/log.h"
#include "core/redact.h"
#include "net/sentinel_internal.h"
#include "vmux/error.h"

/* ---- configuration ---- */

int vmux__sentinel_check_config(const struct vmux_config *cfg, char *errbuf, size_t errlen)
{
    if (cfg->service_name == NULL) {
        if (cfg->sentinel_user == NULL && cfg->sentinel_password == NULL && !cfg->sentinel_tls)
            return 0;
        vmux__errbuf_set(errbuf, errlen,
                         "sentinelUser, sentinelPassword and sentinelTls need serviceName (the "
                         "Sentinel service whose primary the handle serves)");
        return VMUX_ERR_CONFIG;
    }
    if (cfg->cluster == VMUX_CLUSTER_YES) {
        vmux__errbuf_set(errbuf, errlen,
                         "serviceName (Sentinel) and cluster=yes cannot be combined: a Sentinel "
                         "service is one primary with its replicas");
        return VMUX_ERR_CONFIG;
    }
    return 0;
}

/* The sentinels' config: their endpoints, their credentials and TLS, nothing of the data's. */
static struct vmux_config *sentinel_config(const struct vmux_config *data)
{
    struct vmux_config *c = vmux_config_dup(data);
    if (c == NULL)
        return NULL;
    vmux__config_pin_ports(c); /* still the sentinels' (26379 left out) without serviceName */
    bool ok = vmux_config_set_user(c, data->sentinel_user) == 0 &&
              vmux_config_set_password(c, data->sentinel_password) == 0 &&
              vmux_config_set_service_name(c, NULL) == 0;
    if (!ok) {
        vmux_config_free(c);
        return NULL;
    }
    c->ssl = data->sentinel_tls;
    c->default_database = 0;
    c->credentials_fn = NULL;
    c->cluster = VMUX_CLUSTER_NO;
    c->backlog_policy = VMUX_BACKLOG_QUEUE;
    c->sentinel_conn = true;
    c->read_from = VMUX_READ_PRIMARY; /* a sentinel serves no reads: no READONLY, no zone INFO */
    return c;
}

/* ---- the addresses learned ---- */

/*
 * Whether something still points at e: the primary, or the connection of a link that follows
 * the primary. Nothing else keeps an entry. A connection reads or compares c->ep (conn.c,
 * conn_read.c, link.c) only while it is its link's (link->conn), or in the call that ends it:
 * vmux__link_connect_to() is the only place one is made, a connection leaves link->conn only in
 * vmux__link_conn_failed() and vmux__link_close(), which end it there and then, and an ended
 * one's callbacks stop at CONN_ENDED. Only a link that follows the primary is given an entry (a
 * closing link is detached and its connection ended in one call), and an answer or an
 * announcement uses the entry it looked up before it returns, learning nothing meanwhile.
 */
static bool pinned(const struct vmux_sentinel *s, const struct vmux_endpoint *e)
{
    if (e == s->primary)
        return true;
    for (const struct vmux_link *l = s->links; l != NULL; l = l->s_next)
        if (l->conn != NULL && l->conn->ep == e)
            return true;
    return false;
}

/*
 * A full table's room: an entry nothing points at (pinned()) is freed, its place given to the
 * next address. Before, once MAX_KNOWN addresses had been learned (a deployment announced by
 * IP whose pods change address at each restart), every new primary was refused for good. Only
 * the primary and one entry per following link are pinned, so room runs out only while more
 * than MAX_KNOWN - 1 links hold connections to distinct old addresses. Returns the slot, or
 * NULL then.
 */
static struct vmux_endpoint **free_slot(struct vmux_sentinel *s)
{
    if (s->nknown < MAX_KNOWN)
        return &s->known[s->nknown++];
    for (size_t i = 0; i < MAX_KNOWN; i++) {
        size_t k = (s->reuse_next + i) % MAX_KNOWN; /* the oldest first */
        if (!pinned(s, s->known[k])) {
            s->reuse_next = k + 1;
            free(s->known[k]->host);
            free(s->known[k]); /* the caller fills the slot at once */
            return &s->known[k];
        }
    }
    return NULL;
}

const struct vmux_endpoint *vmux__sentinel_endpoint(struct vmux_sentinel *s, const char *host,
                                                    int port)
{
    for (size_t i = 0; i < s->nknown; i++)
        if (s->known[i]->port == port && strcmp(s->known[i]->host, host) == 0)
            return s->known[i];
    struct vmux_endpoint *e = malloc(sizeof(*e));
    if (e == NULL || (e->host = strdup(host)) == NULL) {
        free(e);
        return NULL;
    }
    e->port = port;
    struct vmux_endpoint **slot = free_slot(s);
    if (slot == NULL) {
        free(e->host);
        free(e);
        return NULL;
    }
    *slot = e;
    return e;
}

/* ---- the links that follow the primary ---- */

static struct vmux_link *first_waiting(struct vmux_sentinel *s)
{
    for (struct vmux_link *l = s->links; l != NULL; l = l->s_next)
        if (l->s_waiting)
            return l;
    return NULL;
}

/* A link may fail or close meanwhile: the walk starts over. */
void vmux__sentinel_connect_waiting(struct vmux_sentinel *s, const struct vmux_endpoint *ep)
{
    struct vmux_link *l;
    while ((l = first_waiting(s)) != NULL) {
        l->s_waiting = false;
        vmux__link_connect_to(l, ep);
    }
}

static void fail_waiting(struct vmux_sentinel *s, int code, const char *reason)
{
    struct vmux_link *l;
    while ((l = first_waiting(s)) != NULL) {
        l->s_waiting = false;
        vmux__link_conn_failed(l, code, "%s", reason);
    }
}

void vmux__sentinel_attach(struct vmux_sentinel *s, struct vmux_link *link)
{
    link->sentinel = s;
    link->s_prev = NULL;
    link->s_next = s->links;
    if (s->links != NULL)
        s->links->s_prev = link;
    s->links = link;
}

void vmux__sentinel_detach(struct vmux_sentinel *s, struct vmux_link *link)
{
    if (link->s_prev != NULL)
        link->s_prev->s_next = link->s_next;
    else
        s->links = link->s_next;
    if (link->s_next != NULL)
        link->s_next->s_prev = link->s_prev;
    link->s_prev = link->s_next = NULL;
    link->s_waiting = false;
    link->sentinel = NULL;
}

/* ---- asking ---- */

const char *vmux__sentinel_query_where(const struct vmux_sentinel *s)
{
    return s->query->conn != NULL ? s->query->conn->where : "sentinels";
}

void vmux__sentinel_mask(const struct vmux_sentinel *s, const char *msg, const char *fallback,
                         char *out, size_t size)
{
    const char *secrets[] = {s->data_cfg->sentinel_user, s->data_cfg->sentinel_password};
    vmux__redact(msg != NULL ? msg : fallback, out, size, secrets, 2);
}

/* An answer: [host, port], or nil when the sentinel knows no such service. */
static void take_answer(struct vmux_sentinel *s, const vmux_reply *r)
{
    const char *name = s->data_cfg->service_name;
    char why[320];
    const char *host = vmux_reply_str(vmux_reply_element(r, 0), NULL);
    const char *port = vmux_reply_str(vmux_reply_element(r, 1), NULL);
    if (vmux_reply_get_kind(r) == VMUX_REPLY_NIL) {
        vmux__errbuf_set(why, sizeof(why),
                         "%s: the sentinel knows no service '%s' (serviceName): SENTINEL "
                         "GET-MASTER-ADDR-BY-NAME answered nil",
                         vmux__sentinel_query_where(s), name);
        fail_waiting(s, VMUX_ERR_CONNECT, why);
        /* another sentinel may know it (this one was reset, or monitors other services) */
        vmux__link_rotate(s->query, "it knows no such service; asking the next sentinel");
        return;
    }
    int p = port != NULL ? atoi(port) : 0;
    const struct vmux_endpoint *ep = NULL;
    if (host != NULL && host[0] != '\0' && p > 0 && p < 65536)
        ep = vmux__sentinel_endpoint(s, host, p);
    if (ep == NULL) {
        vmux__errbuf_set(why, sizeof(why),
                         "%s: unusable answer to SENTINEL GET-MASTER-ADDR-BY-NAME",
                         vmux__sentinel_query_where(s));
        fail_waiting(s, VMUX_ERR_PROTOCOL, why);
        vmux__link_rotate(s->query, "its answer was unusable; asking the next sentinel");
        return;
    }
    bool checking = s->checking;
    s->checking = false;
    if (s->ask_gen != s->gen) { /* an announcement came meanwhile: it is newer */
        vmux__sentinel_connect_waiting(s, s->primary);
    } else if ((s->deaf || checking) && s->primary != NULL && ep != s->primary) {
        vmux__log(s->data_cfg, VMUX_LOG_WARN, "sentinels: %s names %s:%d the primary of %s now",
                  vmux__sentinel_query_where(s), host, p, name);
        vmux__sentinel_follow(s, ep, "the sentinels name another primary");
    } else {
        s->primary = ep;
        s->trusted = true;
        vmux__sentinel_connect_waiting(s, ep);
    }
}

/*
 * What a refused question means: credentials the sentinel does not accept, or a failed setup
 * (msg: the refusal's words, masked, NUL-terminated).
 */
static int answer_code(int status, const char *msg)
{
    if (status != VMUX_ERR_SERVER)
        return status;
    return vmux__errclass_auth(vmux__errclass(msg, strlen(msg))) ? VMUX_ERR_AUTH : VMUX_ERR_SETUP;
}

/*
 * The question was refused with an error reply: an ACL without the command (NOPERM), or an
 * endpoint that is no sentinel ("unknown command 'SENTINEL'"). Another sentinel may answer, so
 * the question moves to the next one and is asked there at once; the waiting links fail only
 * once every listed sentinel in a row refused (as on_query_failed() does). Before, the refusal
 * failed them at once and the next attempt asked the same sentinel again, for good.
 */
static void refused(struct vmux_sentinel *s, int status, const char *said, const char *why)
{
    vmux__link_rotate(s->query, "it refused the question; asking the next sentinel");
    if (++s->refusals < s->cfg->nendpoints) {
        vmux__sentinel_ask(s);
        return;
    }
    s->refusals = 0; /* the next attempt asks them all again */
    fail_waiting(s, answer_code(status, said), why);
}

/* A confirmation came while the question just answered was under way: it is owed one more. */
static void ask_owed(struct vmux_sentinel *s)
{
    if (s->rechecks == 0 || s->asking)
        return;
    s->rechecks--;
    s->checking = true;
    vmux__sentinel_ask(s);
}

static void on_answer(int status, vmux_reply *reply, void *arg)
{
    struct vmux_sentinel *s = arg;
    s->asking = false;
    uv_timer_stop(&s->timer);
    if (s->closing || s->paused) { /* paused: the failover's outcome decides, not this answer */
        s->checking = false;
        s->rechecks = 0;
        vmux_reply_free(reply);
        return;
    }
    if (status != VMUX_ERR_SERVER)
        s->refusals = 0;
    if (status == 0) {
        take_answer(s, reply);
    } else {
        const char *msg = reply != NULL ? vmux_reply_str(reply, NULL) : vmux_strerror(status);
        char said[256], why[320]; /* credentials masked: docs/reliability.md */
        vmux__sentinel_mask(s, msg, "", said, sizeof said);
        vmux__errbuf_set(why, sizeof(why), "%s: SENTINEL GET-MASTER-ADDR-BY-NAME: %s",
                         vmux__sentinel_query_where(s), said);
        if (status == VMUX_ERR_SERVER)
            refused(s, status, said, why);
        else
            fail_waiting(s, status, why);
    }
    vmux_reply_free(reply);
    ask_owed(s);
}

/* A failure that trying again does not cure: the sentinel refused the credentials or TLS. */
static bool lasting(int code)
{
    return code == VMUX_ERR_AUTH || code == VMUX_ERR_TLS;
}

/*
 * No answer within connectTimeout: the connections waiting for the primary fail (and retry with
 * backoff), and a question still out moves to the next sentinel (it is safe to ask again), so
 * that a sentinel that holds its connection open and answers nothing (a frozen process) does
 * not hold every later question until the query connection is judged dead.
 */
static void on_ask_timeout(uv_timer_t *t)
{
    struct vmux_sentinel *s = t->data;
    char why[400];
    if (s->paused)
        return;                                    /* the pause has a deadline of its own */
    if (s->asking && vmux__link_ready(s->query)) { /* else its connect deadline moves it on */
        vmux__log(s->data_cfg, VMUX_LOG_WARN,
                  "sentinel %s: no answer to SENTINEL GET-MASTER-ADDR-BY-NAME within %d ms "
                  "(connectTimeout); asking the next sentinel",
                  s->query->conn->where, s->data_cfg->connect_timeout_ms);
        vmux__link_rotate(s->query, "GET-MASTER-ADDR-BY-NAME went unanswered; asking the next "
                                    "sentinel");
    }
    vmux__errbuf_set(why, sizeof(why), "sentinels: none answered within %d ms (last: %s)",
                     s->data_cfg->connect_timeout_ms,
                     s->query->last_reason[0] != '\0' ? s->query->last_reason : "no failure");
    if (s->primary != NULL && first_waiting(s) != NULL && !lasting(s->query->last_error)) {
        /* No sentinel to ask (all down, say): the primary last named is the best guess, and
         * its ROLE is checked at setup, so a node since demoted is not written to. */
        vmux__log(s->data_cfg, VMUX_LOG_WARN, "%s; trying the last primary they named", why);
        vmux__sentinel_connect_waiting(s, s->primary);
        return;
    }
    fail_waiting(s, lasting(s->query->last_error) ? s->query->last_error : VMUX_ERR_CONNECT, why);
}

void vmux__sentinel_ask(struct vmux_sentinel *s)
{
    if (!uv_is_active((uv_handle_t *)&s->timer))
        uv_timer_start(&s->timer, on_ask_timeout, (uint64_t)s->data_cfg->connect_timeout_ms, 0);
    if (s->asking)
        return;
    const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s->data_cfg->service_name};
    struct vmux_op *op;
    if (vmux__encode_op(3, argv, NULL, &op) != 0) {
        uv_timer_stop(&s->timer);
        fail_waiting(s, VMUX_ERR_NOMEM, "sentinels: out of memory for a question");
        return;
    }
    op->flags |= VMUX_OP_RETRY_SAFE;
    op->cb = on_answer;
    op->userdata = s;
    s->asking = true;
    s->ask_gen = s->gen;
    vmux__link_submit(s->query, op);
}

/*
 * One question per confirmation, and none per command. Before, the address asked for before a
 * watcher's SUBSCRIBE was confirmed (at start-up, after every watcher lost its connection, or
 * while deaf) was kept: a failover completed in between went unnoticed until a write met
 * READONLY, and reads went to the demoted node meanwhile.
 */
void vmux__sentinel_recheck(struct vmux_sentinel *s)
{
    if (s->paused || s->closing || (s->primary == NULL && !s->asking))
        return;
    if (s->asking) {
        s->rechecks++; /* that question may have been answered before the switch */
        return;
    }
    s->checking = true;
    vmux__sentinel_ask(s);
}

void vmux__sentinel_resolve(struct vmux_sentinel *s, struct vmux_link *link)
{
    if (s->paused) {
        link->s_waiting = true; /* for the failover's outcome */
        return;
    }
    if (s->trusted && s->primary != NULL) {
        vmux__link_connect_to(link, s->primary);
        return;
    }
    link->s_waiting = true;
    vmux__sentinel_ask(s);
}

void vmux__sentinel_refused(struct vmux_sentinel *s, const struct vmux_endpoint *ep,
                            bool not_primary)
{
    if (ep != s->primary)
        return;
    s->trusted = false;
    /* The next question goes to the next sentinel: the one that named ep may be stale, or name
     * an address nobody listens on; while the primary is really down, all name it alike. */
    vmux__link_rotate(s->query,
                      not_primary ? "it named a node that is not the primary; asking the next"
                                  : "the connection to the node it named failed; asking the next");
}

static void on_query_ready(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux_sentinel *s = arg;
    (void)link;
    s->lasting_fails = 0;
    vmux__log(s->data_cfg, VMUX_LOG_INFO, "sentinel %s: connection ready", where);
}

static void on_sentinel_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    struct vmux_sentinel *s = arg;
    (void)link;
    vmux__log(s->data_cfg, VMUX_LOG_WARN, "sentinel connection failed (%s): %s",
              vmux_err_name(code), reason);
}

/*
 * The query link failed. Once every sentinel in turn has failed for good (TLS or credentials:
 * each failure moves the link to the next sentinel), waiting out connectTimeout would only delay
 * the same answer, so the connections waiting for the primary fail now, with that code (they
 * retry with backoff, and the question stays on the query link, which retries too).
 */
static void on_query_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    struct vmux_sentinel *s = arg;
    on_sentinel_failed(link, code, reason, arg);
    s->lasting_fails = lasting(code) ? s->lasting_fails + 1 : 0;
    if (s->paused || s->closing || s->lasting_fails < s->cfg->nendpoints)
        return;
    char why[400];
    vmux__errbuf_set(why, sizeof(why), "sentinels: every one failed (last: %s)", reason);
    uv_timer_stop(&s->timer);
    fail_waiting(s, code, why);
}

static void on_watch_failed(struct vmux_link *link, int code, const char *reason, void *arg)
{
    vmux__sentinel_watch_lost(arg);
    on_sentinel_failed(link, code, reason, ((struct vmux__sentinel_watch *)arg)->s);
}

static const struct vmux_link_events query_events = {.ready = on_query_ready,
                                                     .failed = on_query_failed};
static const struct vmux_link_events watch_events = {.ready = vmux__sentinel_watch_ready,
                                                     .failed = on_watch_failed};

/* ---- life ---- */

static void sentinel_free(struct vmux_sentinel *s)
{
    for (size_t i = 0; i < s->nknown; i++) {
        free(s->known[i]->host);
        free(s->known[i]);
    }
    for (size_t i = 0; s->wcfg != NULL && i < s->cfg->nendpoints; i++)
        vmux_config_free(s->wcfg[i]);
    free(s->wcfg);
    free(s->watch);
    vmux__tls_ctx_free(s->tls_ctx);
    vmux_config_free(s->cfg);
    free(s);
}

/* The watchers' configs: the sentinels' config with sentinel i as its one endpoint. */
static int make_watch_configs(struct vmux_sentinel *s)
{
    size_t n = s->cfg->nendpoints;
    if ((s->wcfg = calloc(n, sizeof(*s->wcfg))) == NULL ||
        (s->watch = calloc(n, sizeof(*s->watch))) == NULL)
        return VMUX_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct vmux_endpoint *e = &s->cfg->endpoints[i];
        if ((s->wcfg[i] = vmux_config_dup(s->cfg)) == NULL)
            return VMUX_ERR_NOMEM;
        vmux_config_clear_endpoints(s->wcfg[i]);
        /* not vmux_config_add_endpoint(): its words would replace the opening thread's
         * vmux_last_error(); the endpoint was checked when it was configured */
        if (vmux__config_endpoint_push(s->wcfg[i], e->host, strlen(e->host), e->port) != 0)
            return VMUX_ERR_NOMEM;
    }
    return 0;
}

static int make_links(struct vmux_sentinel *s)
{
    if (make_watch_configs(s) != 0 ||
        vmux__link_new(s->loop, s->cfg, s->tls_ctx, &s->ctr, &query_events, s, &s->query) != 0)
        return VMUX_ERR_NOMEM;
    vmux__link_set_auxiliary(s->query);
    vmux__link_set_own(s->query);
    for (; s->nwatch < s->cfg->nendpoints; s->nwatch++) {
        struct vmux__sentinel_watch *w = &s->watch[s->nwatch];
        w->s = s;
        if (vmux__link_new(s->loop, s->wcfg[s->nwatch], s->tls_ctx, &s->ctr, &watch_events, w,
                           &w->link) != 0)
            return VMUX_ERR_NOMEM;
        vmux__link_set_auxiliary(w->link);
        vmux__link_set_own(w->link);
        /* a failover announcement is never dropped: over a limit, the watcher fails */
        vmux__link_set_push(w->link, vmux__sentinel_on_push, VMUX__PUSH_OVER_LIMIT_FAILS, w);
    }
    return 0;
}

static void close_links(struct vmux_sentinel *s)
{
    if (s->query != NULL)
        vmux__link_close(s->query); /* the question under way completes here (closing) */
    for (size_t i = 0; i < s->nwatch; i++)
        vmux__link_close(s->watch[i].link);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct vmux_sentinel *s = h->data;
    if (--s->open_timers == 0)
        sentinel_free(s);
}

static void close_timers(struct vmux_sentinel *s)
{
    s->open_timers = 3;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    uv_close((uv_handle_t *)&s->pause_timer, on_timer_closed);
    uv_close((uv_handle_t *)&s->rep_timer, on_timer_closed);
}

int vmux__sentinel_new(uv_loop_t *loop, const struct vmux_config *cfg, struct vmux_sentinel **out,
                       char *errbuf, size_t errlen)
{
    struct vmux_sentinel *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->cfg = sentinel_config(cfg)) == NULL) {
        free(s);
        vmux__errbuf_set(errbuf, errlen, "out of memory for the sentinel client");
        return VMUX_ERR_NOMEM;
    }
    s->loop = loop;
    s->data_cfg = cfg;
    uv_timer_init(loop, &s->timer);
    uv_timer_init(loop, &s->pause_timer);
    uv_timer_init(loop, &s->rep_timer);
    s->timer.data = s->pause_timer.data = s->rep_timer.data = s;
    int rc = s->cfg->ssl ? vmux__tls_ctx_new(s->cfg, &s->tls_ctx, errbuf, errlen) : 0;
    if (rc == 0 && (rc = make_links(s)) != 0)
        vmux__errbuf_set(errbuf, errlen, "out of memory for the sentinel client");
    if (rc != 0) {
        s->closing = true;
        close_links(s);
        close_timers(s); /* frees s with the loop's run */
        return rc;
    }
    *out = s;
    return 0;
}

void vmux__sentinel_start(struct vmux_sentinel *s)
{
    vmux__link_start(s->query);
    for (size_t i = 0; i < s->nwatch; i++)
        vmux__link_start(s->watch[i].link);
}

void vmux__sentinel_tick(struct vmux_sentinel *s, bool frozen)
{
    if (s->deaf && s->primary != NULL && !s->paused && !s->closing)
        vmux__sentinel_ask(s); /* no announcements: the primary is asked for (sentinel_watch.c) */
    vmux__link_tick(s->query, frozen);
    for (size_t i = 0; i < s->nwatch; i++)
        vmux__link_tick(s->watch[i].link, frozen);
}

void vmux__sentinel_close(struct vmux_sentinel *s)
{
    s->closing = true;
    while (s->links != NULL)
        vmux__sentinel_detach(s, s->links);
    close_links(s);
    close_timers(s);
}
