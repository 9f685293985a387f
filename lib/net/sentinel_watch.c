/*
 * Sentinel: listening to every sentinel (see sentinel.h and sentinel.c).
 *
 * Each watcher subscribes on its sentinel to the failover's events. +switch-master moves every
 * link to the new primary. Before that, once the leading sentinel has chosen the replica it will
 * promote (+selected-slave, published some 100 ms before it sends that replica REPLICAOF NO ONE),
 * the links stop writing to the old primary: their connections retire (what was written there is
 * still answered there) and the links wait for the outcome, until +switch-master, an abort
 * (-failover-abort-...), or syncTimeout. The old primary would go on acknowledging writes until it
 * is made a replica of the new one, which discards them; waiting keeps them in the backlog for
 * the new primary instead. +slave, +sdown and -sdown about one of the service's replicas call the
 * replicas hook (readFrom asks SENTINEL REPLICAS again: sentinel_replicas.c).
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "net/sentinel_internal.h"
#include "vmux/error.h"

static const char SUBSCRIBE_EVENTS[] =
    "*9\r\n$9\r\nSUBSCRIBE\r\n$14\r\n+switch-master\r\n$15\r\n+selected-slave\r\n$27\r\n-failover-"
    "abort-not-elected\r\n$29\r\n-failover-abort-no-good-slave\r\n$29\r\n-failover-abort-slave-"
    "timeout\r\n$6\r\n+slave\r\n$6\r\n+sdown\r\n$6\r\n-sdown\r\n";

/* The service an instance event is about: "<type> <name> <ip> <port> [@ <service> <ip> <port>]". */
static bool about_service(const struct vmux_sentinel *s, const char *payload)
{
    char first[32], name[256];
    const char *at = strstr(payload, " @ ");
    if (at != NULL)
        return sscanf(at + 3, "%255s", name) == 1 && strcmp(name, s->data_cfg->service_name) == 0;
    return sscanf(payload, "%31s %255s", first, name) == 2 && strcmp(first, "master") == 0 &&
           strcmp(name, s->data_cfg->service_name) == 0;
}

/* The end of a pause: the links waiting for an address get the known one, or ask. */
static void unpause(struct vmux_sentinel *s)
{
    s->paused = false;
    uv_timer_stop(&s->pause_timer);
    if (s->trusted && s->primary != NULL)
        vmux__sentinel_connect_waiting(s, s->primary);
    else
        vmux__sentinel_ask(s);
}

static void on_pause_timeout(uv_timer_t *t)
{
    struct vmux_sentinel *s = t->data;
    vmux__log(s->data_cfg, VMUX_LOG_WARN,
              "sentinels: no outcome of the failover of %s within %d ms; asking them",
              s->data_cfg->service_name, s->data_cfg->sync_timeout_ms);
    s->trusted = false;
    unpause(s);
}

/* +selected-slave: the old primary is about to lose its replica; stop writing to it. */
static void on_failover_start(struct vmux_sentinel *s, const char *payload)
{
    if (s->paused || !about_service(s, payload))
        return;
    vmux__log(s->data_cfg, VMUX_LOG_WARN,
              "sentinels: failover of %s under way (+selected-slave %s): commands wait for the "
              "new primary",
              s->data_cfg->service_name, payload);
    s->paused = true;
    uv_timer_start(&s->pause_timer, on_pause_timeout, (uint64_t)s->data_cfg->sync_timeout_ms, 0);
    for (struct vmux_link *l = s->links; l != NULL; l = l->s_next)
        vmux__link_primary_moved(l, NULL, "the sentinels are failing the primary over");
}

/* -failover-abort-...: the primary stays; the links go back to it. */
static void on_failover_abort(struct vmux_sentinel *s, const char *channel, const char *payload)
{
    if (!s->paused || !about_service(s, payload))
        return;
    vmux__log(s->data_cfg, VMUX_LOG_WARN, "sentinels: %s %s: commands go on", channel, payload);
    unpause(s);
}

/*
 * The hosts are read up to Sentinel's own limit: read up to 127 bytes before, a longer hostname
 * (announce-hostnames) failed the match, and the switch was ignored without a word.
 */
bool vmux__sentinel_parse_switch(const char *payload, struct vmux__sentinel_switch *m)
{
    int n = sscanf(payload, "%255s %255s %d %255s %d", m->name, m->old_host, &m->old_port,
                   m->new_host, &m->new_port);
    return n == 5 && m->new_port > 0 && m->new_port <= 65535; /* a longer field fails a %d */
}

/* "<name> <old-ip> <old-port> <new-ip> <new-port>": the service moved. */
static void on_switch(struct vmux_sentinel *s, const char *payload)
{
    struct vmux__sentinel_switch m;
    if (!vmux__sentinel_parse_switch(payload, &m)) {
        vmux__log(s->data_cfg, VMUX_LOG_WARN,
                  "sentinels: unreadable +switch-master ignored: %.300s", payload);
        return;
    }
    if (strcmp(m.name, s->data_cfg->service_name) != 0)
        return;
    const struct vmux_endpoint *ep = vmux__sentinel_endpoint(s, m.new_host, m.new_port);
    if (ep == NULL || (ep == s->primary && s->trusted && !s->paused))
        return; /* another sentinel's word for what one already said */
    vmux__log(s->data_cfg, VMUX_LOG_WARN, "sentinels: +switch-master %s: %s:%d -> %s:%d", m.name,
              m.old_host, m.old_port, m.new_host, m.new_port);
    vmux__sentinel_follow(s, ep, "the sentinels moved the primary (+switch-master)");
}

void vmux__sentinel_follow(struct vmux_sentinel *s, const struct vmux_endpoint *ep, const char *why)
{
    s->gen++;
    s->primary = ep;
    s->trusted = true;
    s->paused = false;
    uv_timer_stop(&s->pause_timer);
    for (struct vmux_link *l = s->links; l != NULL; l = l->s_next)
        vmux__link_primary_moved(l, ep, why);
    vmux__sentinel_connect_waiting(s, ep);
}

/*
 * A refused SUBSCRIBE (a sentinel user without +subscribe or the channels): no announcement will
 * come, so the client asks where the primary is every second (vmux__sentinel_tick()) and follows
 * a changed answer. Unnoticed, the links stayed on the old primary for good (probe39: the
 * writes it acknowledged after the failover were lost).
 */
static void on_refused(struct vmux__sentinel_watch *w, const vmux_reply *r)
{
    struct vmux_sentinel *s = w->s;
    w->heard = VMUX__WATCH_REFUSED;
    if (s->deaf)
        return;
    s->deaf = true;
    char said[256];
    vmux__sentinel_mask(s, vmux_reply_str(r, NULL), "", said, sizeof said);
    vmux__log(s->data_cfg, VMUX_LOG_WARN,
              "sentinels: SUBSCRIBE to the failover events refused (%s): asking where the "
              "primary of %s is every second instead (allow the sentinel user +subscribe)",
              said, s->data_cfg->service_name);
}

static bool some_refused(const struct vmux_sentinel *s)
{
    for (size_t i = 0; i < s->nwatch; i++)
        if (s->watch[i].heard == VMUX__WATCH_REFUSED)
            return true;
    return false;
}

/*
 * Whether a watcher other than w hears announcements now: one whose SUBSCRIBE was confirmed on a
 * connection that has not failed since (vmux__sentinel_watch_lost()). A switch while w was not
 * hearing came through it, so w's confirmation need not ask for the primary again; asking would
 * even be harmful: a sentinel that missed the failover (restarted, cut off from the others)
 * would answer the old primary, and the handle would follow it back off the new one (review
 * helper-227: 299 of 300 GETs answered by the old primary).
 */
static bool another_hears(const struct vmux_sentinel *s, const struct vmux__sentinel_watch *w)
{
    for (size_t i = 0; i < s->nwatch; i++)
        if (&s->watch[i] != w && s->watch[i].heard == VMUX__WATCH_HEARING)
            return true;
    return false;
}

void vmux__sentinel_watch_lost(struct vmux__sentinel_watch *w)
{
    if (w->heard == VMUX__WATCH_HEARING)
        w->heard = VMUX__WATCH_UNASKED; /* a refusal stays: deafness ends on a confirmation */
}

/*
 * The SUBSCRIBE confirmed. Deaf is what the watchers hear now: once no watcher is refused, the
 * announcements come again and the questions stop. Before, a refusal made the handle deaf for
 * good, whatever the sentinels later allowed (a changed ACL, a sentinel restarted).
 */
static void on_hearing(struct vmux__sentinel_watch *w, const char *where)
{
    struct vmux_sentinel *s = w->s;
    bool heard_meanwhile = another_hears(s, w);
    w->heard = VMUX__WATCH_HEARING;
    if (!heard_meanwhile)
        vmux__sentinel_recheck(s); /* a switch before this was not heard */
    if (!s->deaf || some_refused(s))
        return;
    s->deaf = false;
    vmux__log(s->data_cfg, VMUX_LOG_INFO,
              "sentinel %s: SUBSCRIBE to the failover events confirmed, and no sentinel refuses "
              "it: following announcements again, no longer asking for the primary of %s every "
              "second",
              where, s->data_cfg->service_name);
}

/*
 * An error that does not answer SUBSCRIBE (only the first reply after it does): no refusal of
 * the subscription, which goes on. Any error pushed made the handle deaf before.
 */
static void on_stray_error(struct vmux__sentinel_watch *w, const char *where, const vmux_reply *r)
{
    char said[256];
    vmux__sentinel_mask(w->s, vmux_reply_str(r, NULL), "", said, sizeof said);
    vmux__log(w->s->data_cfg, VMUX_LOG_WARN,
              "sentinel %s: error on the connection that watches for failovers, ignored: %s", where,
              said);
}

/* What a push says of the subscription: the first reply after SUBSCRIBE answers it (the first
 * confirmation, or the refusal); an error after that answers nothing of it. */
static void note_subscription(struct vmux__sentinel_watch *w, const vmux_reply *r, const char *kind)
{
    const char *where = w->link->conn != NULL ? w->link->conn->where : "?";
    bool error = vmux_reply_get_kind(r) == VMUX_REPLY_ERROR;
    if (w->heard == VMUX__WATCH_ASKED && error)
        on_refused(w, r);
    else if (w->heard == VMUX__WATCH_ASKED && kind != NULL && strcmp(kind, "subscribe") == 0)
        on_hearing(w, where);
    else if (error)
        on_stray_error(w, where, r);
}

/* +slave, +sdown, -sdown: "<type> <name> <ip> <port> @ <service> ...": a replica came or went. */
static void on_instance(struct vmux_sentinel *s, const char *payload)
{
    if (strncmp(payload, "slave ", 6) == 0 && about_service(s, payload) && s->rep_hook != NULL)
        s->rep_hook(s->rep_hook_arg);
}

void vmux__sentinel_on_push(vmux_reply *r, void *arg)
{
    struct vmux__sentinel_watch *w = arg;
    struct vmux_sentinel *s = w->s;
    const char *kind = vmux_reply_str(vmux_reply_element(r, 0), NULL);
    const char *channel = vmux_reply_str(vmux_reply_element(r, 1), NULL);
    const char *payload = vmux_reply_str(vmux_reply_element(r, 2), NULL);
    if (s->closing) {
        vmux_reply_free(r);
        return;
    }
    note_subscription(w, r, kind);
    if (kind != NULL && strcmp(kind, "message") == 0 && channel != NULL && payload != NULL) {
        if (strcmp(channel, "+switch-master") == 0)
            on_switch(s, payload);
        else if (strcmp(channel, "+selected-slave") == 0)
            on_failover_start(s, payload);
        else if (strncmp(channel, "-failover-abort-", 16) == 0)
            on_failover_abort(s, channel, payload);
        else if (strcmp(channel, "+slave") == 0 || strcmp(channel, "+sdown") == 0 ||
                 strcmp(channel, "-sdown") == 0)
            on_instance(s, payload);
    }
    vmux_reply_free(r);
}

void vmux__sentinel_watch_ready(struct vmux_link *link, const char *where, void *arg)
{
    struct vmux__sentinel_watch *w = arg;
    vmux__log(w->s->data_cfg, VMUX_LOG_INFO, "sentinel %s: watching for failovers", where);
    w->heard = VMUX__WATCH_ASKED; /* a new connection: what the last one got is past */
    if (vmux__link_send_raw(link, SUBSCRIBE_EVENTS, sizeof(SUBSCRIBE_EVENTS) - 1) != 0)
        vmux__link_rotate(link, "out of memory for SUBSCRIBE");
}
