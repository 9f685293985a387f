/*
 * Sentinel: where the service's primary is. With serviceName set, the configured endpoints are
 * Sentinel processes. Before a data link connects, it asks them (SENTINEL
 * GET-MASTER-ADDR-BY-NAME, on one connection that moves to the next sentinel when its sentinel
 * fails) and connects there; the connection's session setup still checks ROLE, and a node that
 * is not the primary sends the next question to another sentinel. A second connection, subscribed
 * to +switch-master, moves every data link to the new primary as soon as a sentinel announces it:
 * the old connection takes no new command, delivers the replies to what it has already written
 * (or breaks, and its commands then follow the connection-loss rules), and the link connects to
 * the new primary at once. From the moment the leading sentinel has chosen the replica to promote
 * (+selected-slave) until the outcome, the links write nowhere (commands wait in the backlog), as
 * the old primary's acknowledgements would be worthless. I/O thread only, except
 * vmux__sentinel_check_config().
 */
#ifndef VMUX_SENTINEL_H
#define VMUX_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/config_internal.h"
#include "net/link.h"

struct vmux_sentinel;

/*
 * Settings that are valid one by one but not together: the sentinel keys without serviceName,
 * serviceName with cluster=yes. Any thread. Returns 0 or VMUX_ERR_CONFIG with a reason in errbuf.
 */
int vmux__sentinel_check_config(const struct vmux_config *cfg, char *errbuf, size_t errlen);

/*
 * Creates the sentinel client of a handle whose config (which must outlive it) names a service.
 * It connects nothing until vmux__sentinel_start(). Returns 0, VMUX_ERR_NOMEM, or VMUX_ERR_TLS
 * (sentinelTls with unusable TLS settings; reason in errbuf).
 */
int vmux__sentinel_new(uv_loop_t *loop, const struct vmux_config *cfg, struct vmux_sentinel **out,
                       char *errbuf, size_t errlen);

/* Connects the watcher (+switch-master). */
void vmux__sentinel_start(struct vmux_sentinel *s);

/* Once a second: its connections' heartbeats. */
void vmux__sentinel_tick(struct vmux_sentinel *s, bool frozen);

/*
 * Closes its connections and frees it once libuv has released them. Links still attached are
 * detached first (a link waiting for an answer is left connecting, for its owner to close).
 */
void vmux__sentinel_close(struct vmux_sentinel *s);

/* ---- the replicas, for readFrom (sentinel_replicas.c) ---- */

/*
 * One replica of the service as SENTINEL REPLICAS lists it: its announced address (host lives
 * only as long as the callback runs); usable when the sentinel sees it healthy (no s_down, o_down
 * or disconnected flag, master-link-status ok); settling when it is unusable only because the
 * sentinel is not connected to it yet or its link to the primary is not up: states that end
 * without an announcement, so the caller asks again later to see them end.
 */
struct vmux_sentinel_replica {
    const char *host;
    int port;
    bool usable, settling;
};

/* status 0 with the n replicas listed (usable or not), or an error code with n 0 and why: the
 * sentinel's refusal ("host:port: NOPERM ...", credentials masked) for VMUX_ERR_SERVER, else
 * NULL. */
typedef void (*vmux__sentinel_replicas_fn)(int status, const struct vmux_sentinel_replica *reps,
                                           size_t n, const char *why, void *arg);

/*
 * Asks the sentinels SENTINEL REPLICAS <serviceName> on the query link (moving to the next
 * sentinel when one fails, like the question for the primary, or does not answer within
 * connectTimeout: then it is asked there again). fn(arg) runs once with the answer,
 * on the I/O thread, unless the client closes first (then never); a refusal (VMUX_ERR_SERVER)
 * moves the query link to the next sentinel, which the next question asks. One at a time.
 * Returns 0; VMUX_ERR_INVALID_ARG while a question is under way; VMUX_ERR_CLOSED while closing;
 * VMUX_ERR_NOMEM.
 */
int vmux__sentinel_ask_replicas(struct vmux_sentinel *s, vmux__sentinel_replicas_fn fn, void *arg);

/*
 * fn(arg) runs on the I/O thread whenever a sentinel announces that a replica of the service
 * appeared (+slave), went down (+sdown) or came back (-sdown): the replicas are worth asking for
 * again. fn NULL removes it. Never called once the client closes.
 */
void vmux__sentinel_set_replicas_hook(struct vmux_sentinel *s, void (*fn)(void *arg), void *arg);

/* ---- for link.c ---- */

/* A link follows the primary (vmux__link_set_sentinel()), or stops following it (link closed). */
void vmux__sentinel_attach(struct vmux_sentinel *s, struct vmux_link *link);
void vmux__sentinel_detach(struct vmux_sentinel *s, struct vmux_link *link);

/*
 * A link (connecting, without a connection) wants the primary's address: later, or at once,
 * vmux__link_connect_to() with it, or vmux__link_conn_failed() with why none is known.
 */
void vmux__sentinel_resolve(struct vmux_sentinel *s, struct vmux_link *link);

/*
 * A connection to ep failed or ended: the address must be asked for again. not_primary: the node
 * said by ROLE that it is not the primary, so the sentinel that named it is stale and the next
 * question goes to another.
 */
void vmux__sentinel_refused(struct vmux_sentinel *s, const struct vmux_endpoint *ep,
                            bool not_primary);

#endif
