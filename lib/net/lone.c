/*
 * A standalone handle whose only endpoint, a fixed address, is a replica (configured so by
 * mistake, or a primary demoted with no other endpoint the handle could find): writes refused
 * READONLY fail at once, and reads go on being served (link_internal.h, "lone replica").
 *
 * A READONLY retires the connection and the link connects again (link_retry.c); with one
 * endpoint and no Sentinel its setup asks ROLE then (not on every connection: a handle whose
 * node stays a primary never pays for it). ROLE naming a replica at an IP literal, no primary
 * may appear there but by that node's own promotion, which nothing the handle knows foretells:
 * the writes held for a primary fail with the server's words and why, and the connection stays,
 * serving reads; a write answered READONLY on it fails the same way, without retiring it. A host
 * name may yet name the primary once resolved anew (an ElastiCache primary endpoint follows a
 * failover so): the writes wait as before, within their deadlines. I/O thread only.
 */
#include <string.h>

#include "core/errbuf.h"
#include "core/errclass.h"
#include "core/log.h"
#include "core/reply_internal.h"
#include "net/link_internal.h"
#include "vmux/error.h"

/* Whether host is an IP literal: no resolution may make it name another node. */
static bool fixed_address(const char *host)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    return uv_ip4_addr(host, 0, &a4) == 0 || uv_ip6_addr(host, 0, &a6) == 0;
}

bool vmux__lone_probes(const struct vmux_link *link, const struct vmux_endpoint *ep)
{
    const struct vmux_config *cfg = link->cfg;
    return link->demoted > 0 && cfg->nendpoints == 1 && link->sentinel == NULL &&
           cfg->service_name == NULL && !cfg->sentinel_conn && cfg->cluster != VMUX_CLUSTER_YES &&
           !link->cluster_only && link->push_fn == NULL && ep != NULL && fixed_address(ep->host);
}

void vmux__lone_role(struct vmux_conn *c, const char *role)
{
    bool replica = role != NULL && strcmp(role, "master") != 0;
    if (replica && !c->lone_replica)
        vmux__log(c->link->cfg, VMUX_LOG_WARN,
                  "%s: a replica (ROLE: %s) and the handle's only endpoint: writes fail "
                  "READONLY at once (not executed), reads are served",
                  c->where, role);
    c->lone_replica = replica;
}

void vmux__lone_fail(struct vmux_conn *c, struct vmux_op *op, vmux_reply *reply)
{
    size_t len;
    const char *said = vmux_reply_str(reply, &len);
    if ((op->flags & VMUX_OP_TELL_WHY) && said != NULL) {
        char words[VMUX_REASON_SIZE + 160];
        vmux__errbuf_set(words, sizeof words,
                         "%.*s (%s is a replica and the handle's only endpoint, a fixed "
                         "address: no other node is tried; not executed)",
                         (int)(len < VMUX_REASON_SIZE ? len : VMUX_REASON_SIZE), said, c->where);
        vmux_reply *worded = vmux__reply_new_str(VMUX_REPLY_ERROR, words, strlen(words));
        if (worded != NULL) {
            vmux_reply_free(reply);
            reply = worded;
        }
    }
    vmux__op_finish(op, VMUX_ERR_SERVER, reply);
}

void vmux__lone_fail_held(struct vmux_link *link)
{
    struct vmux_conn *c = link->conn;
    if (c == NULL || !c->lone_replica)
        return;
    struct vmux_opq q = {0}, keep = {0};
    vmux__opq_take(&q, &link->backlog); /* a completion's new op must not join the walk */
    struct vmux_op *op;
    while ((op = vmux__opq_pop(&q)) != NULL) {
        if (op->refusal == NULL || vmux__errclass_of(op->refusal) != VMUX_ERRCLASS_READONLY) {
            vmux__opq_push(&keep, op); /* a read, or a write not sent yet: goes, in order */
            continue;
        }
        vmux_reply *refusal = op->refusal;
        op->refusal = NULL;
        vmux__lone_fail(c, op, refusal);
    }
    vmux__opq_prepend(&link->backlog, &keep); /* ahead of what the callbacks submitted */
}
