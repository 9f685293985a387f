/*
 * The name a link to one node verifies with TLS and sends as SNI (route/router.h), whatever
 * the link: the router's node links and their blocking pools, the near cache's invalidation
 * links, the subscriber links (all made with vmux__router_node_config()): the node's own
 * host name when the cluster announces one (the map's host when it is a name, a cluster with
 * cluster-preferred-endpoint-type hostname; else the "hostname" metadata of CLUSTER SLOTS, a node
 * with cluster-announce-hostname announced by address), else the handle's sslHost when set, else
 * the node's address. The handle's sslHost names the seed or the configuration endpoint, so it
 * gives way to a name the node announces for itself. I/O thread only (it reads the map).
 */
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "core/config_keys.h"
#include "core/log.h"
#include "route/router.h"

static bool is_ip_literal(const char *host)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    return uv_ip4_addr(host, 0, &a4) == 0 || uv_ip6_addr(host, 0, &a6) == 0;
}

/* The "hostname" metadata of the map's node at host:port, or NULL. */
static const char *announced(const struct vmux_slotmap *m, const char *host, int port)
{
    for (size_t s = 0; m != NULL && s < m->nshards; s++)
        for (size_t i = 0; i < m->shards[s].nnodes; i++) {
            const struct vmux_node_addr *n = &m->shards[s].nodes[i];
            if (n->host != NULL && n->port == port && strcasecmp(n->host, host) == 0 &&
                n->hostname != NULL && n->hostname[0] != '\0')
                return n->hostname;
        }
    return NULL;
}

const char *vmux__router_tls_name(const struct vmux_router *r, const char *host, int port)
{
    if (!is_ip_literal(host))
        return host;
    return announced(r->map, host, port);
}

struct vmux_config *vmux__router_node_config(const struct vmux_router *r, const char *host,
                                             int port)
{
    struct vmux_config *cfg = vmux_config_dup(r->cfg);
    if (cfg == NULL)
        return NULL;
    vmux_config_clear_endpoints(cfg);
    const char *name = r->tls_ctx != NULL ? vmux__router_tls_name(r, host, port) : NULL;
    if (vmux_config_set_service_name(cfg, NULL) == 0 && /* Sentinel: the node itself */
        (name == NULL || vmux_config_set_ssl_host(cfg, name) == 0) &&
        vmux__config_endpoint_push(cfg, host, strlen(host), port) == 0)
        return cfg;
    vmux_config_free(cfg);
    return NULL;
}

bool vmux__router_tls_learn(const struct vmux_router *r, struct vmux_config *cfg, const char *host,
                            int port)
{
    const char *name = r->tls_ctx != NULL ? vmux__router_tls_name(r, host, port) : NULL;
    const char *now = vmux_config_ssl_host(cfg);
    if (name == NULL || (now != NULL && strcmp(now, name) == 0))
        return false;
    return vmux_config_set_ssl_host(cfg, name) == 0;
}

void vmux__router_tls_relearn(struct vmux_router *r)
{
    for (size_t i = 0; r->tls_ctx != NULL && i < r->nnodes; i++) {
        struct vmux_router_node *n = &r->nodes[i];
        if (vmux__router_tls_learn(r, n->cfg, n->host, n->port))
            vmux__log(r->cfg, VMUX_LOG_INFO,
                      "cluster: %s:%d announces the name %s: its link verifies it from its next "
                      "connection",
                      n->host, n->port, vmux_config_ssl_host(n->cfg));
    }
}
