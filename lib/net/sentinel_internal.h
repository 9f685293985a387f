/* The sentinel client's state, shared by sentinel.c (asking) and sentinel_watch.c (listening). */
#ifndef VMUX_SENTINEL_INTERNAL_H
#define VMUX_SENTINEL_INTERNAL_H

#include "core/counters.h"
#include "net/link_internal.h"
#include "net/sentinel.h"

/* Distinct addresses kept: a deployment has a handful of nodes at a time, but one announced by
 * IP learns a new one at each restart, so a full table reuses an entry nothing points at. */
#define MAX_KNOWN 64

/* What the SUBSCRIBE of a watcher's connection got (sentinel_watch.c). */
enum vmux__watch_heard {
    VMUX__WATCH_UNASKED, /* no connection has sent it yet */
    VMUX__WATCH_ASKED,   /* sent; its answer, the first reply after it, not read yet */
    VMUX__WATCH_HEARING, /* confirmed: this sentinel's announcements come */
    VMUX__WATCH_REFUSED, /* answered with an error: nothing will come on this connection */
};

/*
 * A watcher: the subscriber link to one sentinel, the arg of its events and pushes. heard is
 * about its latest connection: a new one is ASKED at its ready event; a failed one is no longer
 * HEARING (vmux__sentinel_watch_lost()) but keeps a refusal until a later confirmation. I/O
 * thread.
 */
struct vmux__sentinel_watch {
    struct vmux_sentinel *s;
    struct vmux_link *link;
    enum vmux__watch_heard heard;
};

struct vmux_sentinel {
    uv_loop_t *loop;
    const struct vmux_config *data_cfg; /* the handle's: service name, timeouts, log */
    struct vmux_config *cfg;            /* the sentinels' own: every sentinel */
    struct vmux_config **wcfg;          /* the same with one sentinel each, for the watchers */
    vmux_tls_ctx *tls_ctx;              /* sentinelTls: their TLS context; else NULL */
    struct vmux_counters ctr;           /* their links' counters, apart from the handle's */
    struct vmux_link *query;
    struct vmux__sentinel_watch *watch; /* one per sentinel, nwatch of them made */
    size_t nwatch;
    struct vmux_link *links;             /* the data links that follow the primary */
    uv_timer_t timer;                    /* the deadline of the question under way */
    bool asking;                         /* a question is on the query link */
    size_t lasting_fails;                /* query failures in a row that retrying does not cure */
    size_t refusals;                     /* the question refused in a row (on_answer()) */
    uint64_t gen, ask_gen;               /* announcements heard; gen when the question was asked */
    const struct vmux_endpoint *primary; /* NULL until learned */
    bool trusted;
    struct vmux_endpoint *known[MAX_KNOWN]; /* addresses learned: conns point at them */
    size_t nknown;
    size_t reuse_next; /* full: the entry looked at first for reuse (the oldest, unless pinned) */
    bool paused;       /* a failover is under way: links wait for its outcome */
    uv_timer_t pause_timer; /* ends a pause whose outcome was not heard */
    int open_timers;        /* while closing: timers libuv still holds */
    /* SENTINEL REPLICAS (sentinel_replicas.c): the asker of the question under way, or NULL;
     * and the hook the watchers call when a sentinel announces a change of the replicas. */
    vmux__sentinel_replicas_fn rep_fn;
    void *rep_arg;
    uv_timer_t rep_timer; /* the question's deadline: connectTimeout, then the next sentinel */
    void (*rep_hook)(void *arg);
    void *rep_hook_arg;
    /* A watcher is refused SUBSCRIBE: the primary is asked for every second instead, until a
     * watcher's is confirmed while none is refused (sentinel_watch.c). */
    bool deaf;
    /* A watcher's SUBSCRIBE confirmed: what was learned before may predate a switch no watcher
     * heard, so the primary is asked once more (vmux__sentinel_recheck()). checking: the
     * question under way was asked since, and a changed answer is followed; rechecks: the
     * confirmations that came while an older question was under way, each owed a question. */
    bool checking;
    size_t rechecks;
    bool closing;
};

/*
 * The entry of the address host:port: the one learned already, or a new one, which may take the
 * place of one that nothing points at any more (sentinel.c: pinned()). An entry lives while the
 * primary or a following link's connection points at it. NULL when out of memory, or when every
 * entry is pinned.
 */
const struct vmux_endpoint *vmux__sentinel_endpoint(struct vmux_sentinel *s, const char *host,
                                                    int port);

/* "host:port" of the sentinel the query link is on (or was last on), for messages. */
const char *vmux__sentinel_query_where(const struct vmux_sentinel *s);

/* A sentinel's words msg (NULL: fallback) into out (size bytes), the sentinel user and password
 * masked as the data nodes' credentials are ("NOPERM User <name> has no permissions..."). */
void vmux__sentinel_mask(const struct vmux_sentinel *s, const char *msg, const char *fallback,
                         char *out, size_t size);

/* Every link waiting for an address connects to ep. */
void vmux__sentinel_connect_waiting(struct vmux_sentinel *s, const struct vmux_endpoint *ep);

/* Asks where the primary is, unless a question is already under way; waiting links get it. */
void vmux__sentinel_ask(struct vmux_sentinel *s);

/*
 * A watcher's SUBSCRIBE was confirmed (sentinel_watch.c) while no other watcher was hearing:
 * until then a +switch-master was not heard, so the primary known (or being asked for) may be
 * the one a failover left meanwhile.
 * Asks once more, now or once the question under way is answered, and an answer that names
 * another primary is followed as +switch-master is (vmux__sentinel_follow()). Nothing when no
 * primary is known or asked for (the first question comes after this), nor while paused (the
 * failover's outcome decides) or closing. One question per confirmation. I/O thread.
 */
void vmux__sentinel_recheck(struct vmux_sentinel *s);

/*
 * sentinel_watch.c: a watcher's events, arg its struct vmux__sentinel_watch: the ready callback
 * of its link (sends SUBSCRIBE), and its push callback (owns reply). I/O thread.
 */
void vmux__sentinel_watch_ready(struct vmux_link *link, const char *where, void *arg);
void vmux__sentinel_on_push(vmux_reply *reply, void *arg);

/* A watcher's connection failed: what it heard is past (it hears nothing until a new connection's
 * SUBSCRIBE is confirmed). I/O thread. */
void vmux__sentinel_watch_lost(struct vmux__sentinel_watch *w);

/*
 * A +switch-master message: "<name> <old-ip> <old-port> <new-ip> <new-port>". Each field holds
 * what Sentinel may send: a service name, or a host (an IP, or a hostname under
 * announce-hostnames) of up to 255 bytes (Sentinel's NET_HOST_STR_LEN less its NUL).
 */
#define VMUX_SENTINEL_FIELD_MAX 255
struct vmux__sentinel_switch {
    char name[VMUX_SENTINEL_FIELD_MAX + 1];
    char old_host[VMUX_SENTINEL_FIELD_MAX + 1], new_host[VMUX_SENTINEL_FIELD_MAX + 1];
    int old_port, new_port;
};

/* Reads payload into out; false when it is not such a message, a field is longer than
 * VMUX_SENTINEL_FIELD_MAX, or the new port is not in 1..65535. */
bool vmux__sentinel_parse_switch(const char *payload, struct vmux__sentinel_switch *out);

/* The primary moved to ep (an announcement, or the answer of a deaf client's question): every
 * link leaves the old one for it, and the waiting ones connect. */
void vmux__sentinel_follow(struct vmux_sentinel *s, const struct vmux_endpoint *ep,
                           const char *why);

#endif
