#include "route/slotmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errbuf.h"
#include "vmux/error.h"

/* ---- a map's memory ---- */

static void node_clear(struct vmux_node_addr *n)
{
    free(n->host);
    free(n->id);
    free(n->hostname);
    memset(n, 0, sizeof(*n));
}

static void nodes_free(struct vmux_node_addr *nodes, size_t n)
{
    for (size_t i = 0; nodes != NULL && i < n; i++)
        node_clear(&nodes[i]);
    free(nodes);
}

static struct vmux_slotmap *map_new(uint64_t epoch)
{
    struct vmux_slotmap *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    atomic_init(&m->refs, 1);
    m->epoch = epoch;
    memset(m->owner, 0xff, sizeof(m->owner)); /* VMUX_SLOT_NO_OWNER */
    return m;
}

static void map_free(struct vmux_slotmap *m)
{
    for (size_t i = 0; i < m->nshards; i++)
        nodes_free(m->shards[i].nodes, m->shards[i].nnodes);
    free(m->shards);
    free(m->byaddr);
    free(m);
}

/*
 * Finishes m: its nodes by address (m->byaddr), once its shards are complete. Returns m, or NULL
 * (m freed) when out of memory.
 */
static struct vmux_slotmap *map_done(struct vmux_slotmap *m)
{
    if (vmux__slotmap_index(m) == 0)
        return m;
    map_free(m);
    return NULL;
}

struct vmux_slotmap *vmux__slotmap_ref(struct vmux_slotmap *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void vmux__slotmap_unref(struct vmux_slotmap *m)
{
    if (m != NULL && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        map_free(m);
}

/*
 * Appends a shard of n nodes, which the map owns from then on (also when this fails: they are
 * freed). *cap is the room in m->shards. Returns its index, or -1 when out of memory.
 */
static int append_shard(struct vmux_slotmap *m, size_t *cap, struct vmux_node_addr *nodes, size_t n)
{
    if (m->nshards == *cap) {
        size_t grown = *cap ? *cap * 2 : 4;
        struct vmux_shard *s = realloc(m->shards, grown * sizeof(*s));
        if (s == NULL) {
            nodes_free(nodes, n);
            return -1;
        }
        m->shards = s;
        *cap = grown;
    }
    m->shards[m->nshards] = (struct vmux_shard){.nnodes = n, .nodes = nodes};
    return (int)m->nshards++;
}

static char *dup_bytes(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* Copies a string that may be NULL; false when out of memory. */
static bool dup_opt(const char *s, char **out)
{
    *out = s != NULL ? dup_bytes(s, strlen(s)) : NULL;
    return s == NULL || *out != NULL;
}

/* Moves slot to shard idx. */
static void assign_slot(struct vmux_slotmap *m, unsigned slot, int idx)
{
    if (m->owner[slot] != VMUX_SLOT_NO_OWNER)
        m->shards[m->owner[slot]].nslots--;
    else
        m->covered++;
    m->owner[slot] = (uint16_t)idx;
    m->shards[idx].nslots++;
}

/* ---- reading CLUSTER SLOTS ---- */

struct builder {
    struct vmux_slotmap *m;
    size_t cap;
    const char *asked;
    char *err;
    size_t errlen;
    char where[64]; /* "range 3, node 2": where a message points */
};

static int fail(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct builder *b, const char *fmt, ...)
{
    if (b->err != NULL && b->errlen > 0) {
        int n = snprintf(b->err, b->errlen, "CLUSTER SLOTS: %s: ", b->where);
        if (n >= 0 && (size_t)n < b->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return VMUX_ERR_PROTOCOL;
}

static vmux_reply_kind kind(const vmux_reply *r)
{
    return r != NULL ? vmux_reply_get_kind(r) : (vmux_reply_kind)0;
}

static const char *kind_name(const vmux_reply *r)
{
    return r != NULL ? vmux_reply_kind_name(vmux_reply_get_kind(r)) : "missing";
}

/* Copies a string reply into *out; a NUL byte inside is malformed. */
static int copy_str(struct builder *b, const vmux_reply *r, const char *what, char **out)
{
    size_t len;
    const char *s = vmux_reply_str(r, &len);
    if (memchr(s, '\0', len) != NULL)
        return fail(b, "the %s holds a NUL byte", what);
    *out = dup_bytes(s, len);
    return *out != NULL ? 0 : VMUX_ERR_NOMEM;
}

static int read_host(struct builder *b, const vmux_reply *r, struct vmux_node_addr *n)
{
    if (kind(r) == VMUX_REPLY_NIL || (kind(r) == VMUX_REPLY_STRING && vmux_reply_len(r) == 0)) {
        n->flags |= VMUX_NODE_ASKED_HOST;
        return dup_opt(b->asked, &n->host) ? 0 : VMUX_ERR_NOMEM;
    }
    if (kind(r) != VMUX_REPLY_STRING)
        return fail(b, "the host is %s, not a string", kind_name(r));
    if (vmux_reply_len(r) == 1 && vmux_reply_str(r, NULL)[0] == '?') {
        n->flags |= VMUX_NODE_UNKNOWN;
        return 0;
    }
    return copy_str(b, r, "host", &n->host);
}

static int read_port(struct builder *b, const vmux_reply *r, int *port)
{
    if (kind(r) != VMUX_REPLY_INTEGER)
        return fail(b, "the port is %s, not an integer", kind_name(r));
    int64_t p = vmux_reply_integer(r);
    if (p < 0 || p > 65535)
        return fail(b, "port %lld is outside 0-65535", (long long)p);
    *port = (int)p;
    return 0;
}

static int read_id(struct builder *b, const vmux_reply *r, struct vmux_node_addr *n)
{
    if (kind(r) == VMUX_REPLY_NIL || (kind(r) == VMUX_REPLY_STRING && vmux_reply_len(r) == 0))
        return 0;
    if (kind(r) != VMUX_REPLY_STRING)
        return fail(b, "the node id is %s, not a string", kind_name(r));
    return copy_str(b, r, "node id", &n->id);
}

/*
 * One name and value of a node's metadata; names other than these three are skipped. "ip" is
 * there when the cluster prefers another kind of endpoint (cluster-preferred-endpoint-type
 * hostname): a node that announced no name is "?" then, and its ip is the address to dial.
 */
static int read_meta_pair(struct builder *b, const vmux_reply *name, const vmux_reply *value,
                          struct vmux_node_addr *n)
{
    if (kind(name) != VMUX_REPLY_STRING)
        return fail(b, "a metadata name is %s, not a string", kind_name(name));
    const char *s = vmux_reply_str(name, NULL);
    if (strcmp(s, "hostname") == 0) {
        if (kind(value) != VMUX_REPLY_STRING)
            return fail(b, "the hostname is %s, not a string", kind_name(value));
        free(n->hostname);
        n->hostname = NULL;
        return vmux_reply_len(value) > 0 ? copy_str(b, value, "hostname", &n->hostname) : 0;
    }
    if (strcmp(s, "tls-port") == 0)
        return read_port(b, value, &n->tls_port);
    if (strcmp(s, "ip") == 0) {
        if (kind(value) != VMUX_REPLY_STRING)
            return fail(b, "the ip is %s, not a string", kind_name(value));
        if (!(n->flags & VMUX_NODE_UNKNOWN) || vmux_reply_len(value) == 0 || n->host != NULL)
            return 0;
        n->flags &= ~VMUX_NODE_UNKNOWN;
        return copy_str(b, value, "ip", &n->host);
    }
    return 0;
}

static int read_meta(struct builder *b, const vmux_reply *r, struct vmux_node_addr *n)
{
    if (kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) % 2 != 0)
        return fail(b, "the metadata is %s, not an array of names and values",
                    kind(r) == VMUX_REPLY_ARRAY ? "an array of odd length" : kind_name(r));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < vmux_reply_len(r); i += 2)
        rc = read_meta_pair(b, vmux_reply_element(r, i), vmux_reply_element(r, i + 1), n);
    return rc;
}

static int read_node(struct builder *b, const vmux_reply *r, struct vmux_node_addr *n)
{
    memset(n, 0, sizeof(*n));
    if (kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) < 2)
        return fail(b, "is %s, not an array of host, port, id and metadata",
                    kind(r) == VMUX_REPLY_ARRAY ? "a short array" : kind_name(r));
    size_t len = vmux_reply_len(r);
    int rc = read_host(b, vmux_reply_element(r, 0), n);
    if (rc == 0)
        rc = read_port(b, vmux_reply_element(r, 1), &n->port);
    if (rc == 0 && len > 2)
        rc = read_id(b, vmux_reply_element(r, 2), n);
    if (rc == 0 && len > 3)
        rc = read_meta(b, vmux_reply_element(r, 3), n);
    if (rc == 0 && (n->port == 0 || (n->flags & VMUX_NODE_UNKNOWN))) {
        free(n->host);
        n->host = NULL;
        n->port = 0;
        n->flags = VMUX_NODE_UNKNOWN;
    }
    if (rc != 0)
        node_clear(n);
    return rc;
}

/* Reads the nodes of range i (its elements from 2 on) into a new array of *n nodes. */
static int read_nodes(struct builder *b, size_t i, const vmux_reply *r,
                      struct vmux_node_addr **nodes, size_t *n)
{
    *n = vmux_reply_len(r) - 2;
    *nodes = calloc(*n, sizeof(**nodes));
    if (*nodes == NULL)
        return VMUX_ERR_NOMEM;
    for (size_t j = 0; j < *n; j++) {
        snprintf(b->where, sizeof b->where, "range %zu, node %zu", i, j);
        int rc = read_node(b, vmux_reply_element(r, j + 2), &(*nodes)[j]);
        if (rc != 0) {
            nodes_free(*nodes, j);
            *nodes = NULL;
            return rc;
        }
    }
    snprintf(b->where, sizeof b->where, "range %zu", i);
    return 0;
}

static int read_bounds(struct builder *b, const vmux_reply *r, unsigned *start, unsigned *end)
{
    const vmux_reply *s = vmux_reply_element(r, 0), *e = vmux_reply_element(r, 1);
    if (kind(s) != VMUX_REPLY_INTEGER || kind(e) != VMUX_REPLY_INTEGER)
        return fail(b, "its bounds are %s and %s, not integers", kind_name(s), kind_name(e));
    long long lo = vmux_reply_integer(s), hi = vmux_reply_integer(e);
    if (lo < 0 || hi < 0 || lo >= VMUX_SLOTS || hi >= VMUX_SLOTS)
        return fail(b, "slots %lld-%lld are outside 0-%d", lo, hi, VMUX_SLOTS - 1);
    if (lo > hi)
        return fail(b, "its start %lld is after its end %lld", lo, hi);
    *start = (unsigned)lo;
    *end = (unsigned)hi;
    return 0;
}

static bool str_eq(const char *a, const char *b, bool nocase)
{
    if (a == NULL || b == NULL)
        return a == b;
    return nocase ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

/* Two entries name the same node: by id when both have one, else by address. */
static bool same_node(const struct vmux_node_addr *a, const struct vmux_node_addr *b)
{
    if (a->id != NULL && b->id != NULL)
        return strcmp(a->id, b->id) == 0;
    return a->port == b->port && a->flags == b->flags && str_eq(a->host, b->host, true);
}

static int find_shard(const struct vmux_slotmap *m, const struct vmux_node_addr *primary)
{
    for (size_t i = 0; i < m->nshards; i++)
        if (same_node(&m->shards[i].nodes[0], primary))
            return (int)i;
    return -1;
}

static int assign_range(struct builder *b, int idx, unsigned start, unsigned end)
{
    for (unsigned s = start; s <= end; s++)
        if (b->m->owner[s] != VMUX_SLOT_NO_OWNER)
            return fail(b, "slots %u-%u overlap an earlier range (at slot %u)", start, end, s);
    for (unsigned s = start; s <= end; s++)
        assign_slot(b->m, s, idx);
    return 0;
}

/*
 * One range: its slots go to the shard of its primary, which an earlier range may have named
 * already (a shard may serve several ranges; its first range's replicas are kept).
 */
static int read_range(struct builder *b, size_t i, const vmux_reply *r)
{
    snprintf(b->where, sizeof b->where, "range %zu", i);
    if (kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) < 3)
        return fail(b, "is %s, not an array of start, end, primary and replicas",
                    kind(r) == VMUX_REPLY_ARRAY ? "a short array" : kind_name(r));
    unsigned start = 0, end = 0;
    struct vmux_node_addr *nodes;
    size_t n;
    int rc = read_bounds(b, r, &start, &end);
    if (rc == 0)
        rc = read_nodes(b, i, r, &nodes, &n);
    if (rc != 0)
        return rc;
    int idx = find_shard(b->m, &nodes[0]);
    if (idx >= 0)
        nodes_free(nodes, n);
    else if ((idx = append_shard(b->m, &b->cap, nodes, n)) < 0)
        return VMUX_ERR_NOMEM;
    return assign_range(b, idx, start, end);
}

int vmux__slotmap_from_slots(const vmux_reply *reply, const char *asked_host, uint64_t epoch,
                             struct vmux_slotmap **out, char *err, size_t errlen)
{
    *out = NULL;
    if (reply == NULL || asked_host == NULL) {
        vmux__errbuf_set(err, errlen, "CLUSTER SLOTS: no reply, or no host asked");
        return VMUX_ERR_INVALID_ARG;
    }
    if (kind(reply) == VMUX_REPLY_ERROR) {
        vmux__errbuf_set(err, errlen, "CLUSTER SLOTS: %s", vmux_reply_str(reply, NULL));
        return VMUX_ERR_SERVER;
    }
    struct builder b = {.asked = asked_host, .err = err, .errlen = errlen, .where = "the reply"};
    if (kind(reply) != VMUX_REPLY_ARRAY)
        return fail(&b, "%s, not an array of ranges", kind_name(reply));
    if ((b.m = map_new(epoch)) == NULL)
        return VMUX_ERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < vmux_reply_len(reply); i++)
        rc = read_range(&b, i, vmux_reply_element(reply, i));
    if (rc != 0) {
        if (rc == VMUX_ERR_NOMEM)
            vmux__errbuf_set(err, errlen, "CLUSTER SLOTS: out of memory");
        map_free(b.m);
        return rc;
    }
    if ((*out = map_done(b.m)) == NULL) {
        vmux__errbuf_set(err, errlen, "CLUSTER SLOTS: out of memory");
        return VMUX_ERR_NOMEM;
    }
    return 0;
}

/* ---- other maps ---- */

/* Appends a shard of the one node host:port; its index, or -1 when out of memory. */
static int append_node(struct vmux_slotmap *m, size_t *cap, const char *host, size_t hostlen,
                       int port)
{
    struct vmux_node_addr *node = calloc(1, sizeof(*node));
    if (node == NULL || (node->host = dup_bytes(host, hostlen)) == NULL) {
        free(node);
        return -1;
    }
    node->port = port;
    return append_shard(m, cap, node, 1);
}

int vmux__slotmap_single(const char *host, int port, uint64_t epoch, struct vmux_slotmap **out)
{
    struct vmux_slotmap *m = map_new(epoch);
    size_t cap = 0;
    *out = NULL;
    if (m == NULL || append_node(m, &cap, host, strlen(host), port) < 0) {
        free(m);
        return VMUX_ERR_NOMEM;
    }
    for (unsigned s = 0; s < VMUX_SLOTS; s++)
        assign_slot(m, s, 0);
    return (*out = map_done(m)) != NULL ? 0 : VMUX_ERR_NOMEM;
}

/* Copies host:port into *to (zeroed); false when out of memory. */
static bool node_set(struct vmux_node_addr *to, const char *host, int port)
{
    to->port = port;
    return (to->host = dup_bytes(host, strlen(host))) != NULL;
}

int vmux__slotmap_standalone(const char *host, int port, const struct vmux_node_addr *replicas,
                             size_t n, uint64_t epoch, struct vmux_slotmap **out)
{
    struct vmux_slotmap *m = map_new(epoch);
    struct vmux_node_addr *nodes = calloc(n + 1, sizeof(*nodes));
    size_t k = 0, cap = 0;
    *out = NULL;
    bool ok = m != NULL && nodes != NULL && node_set(&nodes[k++], host, port);
    for (size_t i = 0; ok && i < n; i++)
        if (replicas[i].port != port || strcasecmp(replicas[i].host, host) != 0)
            ok = node_set(&nodes[k++], replicas[i].host, replicas[i].port);
    if (!ok) {
        nodes_free(nodes, k);
        free(m);
        return VMUX_ERR_NOMEM;
    }
    if (append_shard(m, &cap, nodes, k) < 0) {
        free(m);
        return VMUX_ERR_NOMEM;
    }
    for (unsigned s = 0; s < VMUX_SLOTS; s++)
        assign_slot(m, s, 0);
    return (*out = map_done(m)) != NULL ? 0 : VMUX_ERR_NOMEM;
}

static bool node_copy(struct vmux_node_addr *to, const struct vmux_node_addr *from)
{
    *to = *from;
    to->host = to->id = to->hostname = NULL;
    if (dup_opt(from->host, &to->host) && dup_opt(from->id, &to->id) &&
        dup_opt(from->hostname, &to->hostname))
        return true;
    node_clear(to);
    return false;
}

static struct vmux_node_addr *nodes_copy(const struct vmux_shard *s)
{
    struct vmux_node_addr *nodes = calloc(s->nnodes, sizeof(*nodes));
    for (size_t i = 0; nodes != NULL && i < s->nnodes; i++)
        if (!node_copy(&nodes[i], &s->nodes[i])) {
            nodes_free(nodes, i);
            return NULL;
        }
    return nodes;
}

/* A deep copy of m with the given epoch; *cap receives the room in its shard array. */
static struct vmux_slotmap *map_copy(const struct vmux_slotmap *m, uint64_t epoch, size_t *cap)
{
    struct vmux_slotmap *c = map_new(epoch);
    *cap = 0;
    for (size_t i = 0; c != NULL && i < m->nshards; i++) {
        struct vmux_node_addr *nodes = nodes_copy(&m->shards[i]);
        if (nodes == NULL || append_shard(c, cap, nodes, m->shards[i].nnodes) < 0) {
            map_free(c);
            return NULL;
        }
        c->shards[i].nslots = m->shards[i].nslots;
    }
    if (c != NULL) {
        memcpy(c->owner, m->owner, sizeof(c->owner));
        c->covered = m->covered;
    }
    return c;
}

/* The index in s->nodes of the replica at host:port (host compared without case), or 0. */
static size_t find_replica(const struct vmux_shard *s, const char *host, size_t hostlen, int port)
{
    for (size_t k = 1; k < s->nnodes; k++) {
        const struct vmux_node_addr *n = &s->nodes[k];
        if (n->host != NULL && n->port == port && strlen(n->host) == hostlen &&
            strncasecmp(n->host, host, hostlen) == 0)
            return k;
    }
    return 0;
}

/*
 * A failover promoted the replica host:port of slot's shard: swaps it with the primary in c (the
 * old primary, demoted, becomes its replica), for every slot of the shard; returns whether it
 * did (false: host:port is no replica of that shard).
 */
static bool promote_replica(struct vmux_slotmap *c, unsigned slot, const char *host, size_t hostlen,
                            int port)
{
    if (c->owner[slot] == VMUX_SLOT_NO_OWNER)
        return false;
    struct vmux_shard *s = &c->shards[c->owner[slot]];
    size_t k = find_replica(s, host, hostlen, port);
    if (k == 0)
        return false;
    struct vmux_node_addr old = s->nodes[0];
    s->nodes[0] = s->nodes[k];
    s->nodes[k] = old;
    return true;
}

/*
 * vmux__slotmap_moved() (failover false) and vmux__slotmap_failover(): slot goes to host:port's
 * shard (a new one if none), or, for a failover, the replica host:port of slot's shard takes it.
 */
static int patch(const struct vmux_slotmap *m, unsigned slot, const char *host, size_t hostlen,
                 int port, bool failover, struct vmux_slotmap **out)
{
    *out = NULL;
    if (slot >= VMUX_SLOTS || host == NULL || hostlen == 0 || port < 1 || port > 65535)
        return VMUX_ERR_INVALID_ARG;
    size_t cap;
    struct vmux_slotmap *c = map_copy(m, m->epoch + 1, &cap);
    if (c == NULL)
        return VMUX_ERR_NOMEM;
    int idx = vmux__slotmap_find_primary(c, host, hostlen, port);
    if (idx < 0 && failover && promote_replica(c, slot, host, hostlen, port))
        return (*out = map_done(c)) != NULL ? 0 : VMUX_ERR_NOMEM;
    if (idx < 0)
        idx = append_node(c, &cap, host, hostlen, port);
    if (idx < 0) {
        map_free(c);
        return VMUX_ERR_NOMEM;
    }
    assign_slot(c, slot, idx);
    return (*out = map_done(c)) != NULL ? 0 : VMUX_ERR_NOMEM;
}

int vmux__slotmap_moved(const struct vmux_slotmap *m, unsigned slot, const char *host,
                        size_t hostlen, int port, struct vmux_slotmap **out)
{
    return patch(m, slot, host, hostlen, port, false, out);
}

int vmux__slotmap_failover(const struct vmux_slotmap *m, unsigned slot, const char *host,
                           size_t hostlen, int port, struct vmux_slotmap **out)
{
    return patch(m, slot, host, hostlen, port, true, out);
}

/* ---- reading a map ---- */

const struct vmux_shard *vmux__slotmap_owner(const struct vmux_slotmap *m, unsigned slot)
{
    if (slot >= VMUX_SLOTS || m->owner[slot] == VMUX_SLOT_NO_OWNER)
        return NULL;
    return &m->shards[m->owner[slot]];
}

int vmux__slotmap_find_primary(const struct vmux_slotmap *m, const char *host, size_t hostlen,
                               int port)
{
    for (size_t i = 0; i < m->nshards; i++) {
        const struct vmux_node_addr *p = &m->shards[i].nodes[0];
        if (p->host != NULL && p->port == port && strlen(p->host) == hostlen &&
            strncasecmp(p->host, host, hostlen) == 0)
            return (int)i;
    }
    return -1;
}

static bool node_equal(const struct vmux_node_addr *a, const struct vmux_node_addr *b)
{
    return a->port == b->port && a->tls_port == b->tls_port && a->flags == b->flags &&
           str_eq(a->host, b->host, true) && str_eq(a->id, b->id, false) &&
           str_eq(a->hostname, b->hostname, true);
}

/* Same primary, and the same replicas in any order (a shard lists no node twice). */
static bool shard_equal(const struct vmux_shard *a, const struct vmux_shard *b)
{
    if (a->nnodes != b->nnodes || !node_equal(&a->nodes[0], &b->nodes[0]))
        return false;
    for (size_t i = 1; i < a->nnodes; i++) {
        bool found = false;
        for (size_t j = 1; !found && j < b->nnodes; j++)
            found = node_equal(&a->nodes[i], &b->nodes[j]);
        if (!found)
            return false;
    }
    return true;
}

bool vmux__slotmap_equal(const struct vmux_slotmap *a, const struct vmux_slotmap *b)
{
    unsigned last_a = VMUX_SLOT_NO_OWNER, last_b = VMUX_SLOT_NO_OWNER;
    if (a->covered != b->covered)
        return false;
    for (unsigned s = 0; s < VMUX_SLOTS; s++) {
        unsigned oa = a->owner[s], ob = b->owner[s];
        if ((oa == VMUX_SLOT_NO_OWNER) != (ob == VMUX_SLOT_NO_OWNER))
            return false;
        if (oa == VMUX_SLOT_NO_OWNER || (oa == last_a && ob == last_b))
            continue;
        if (!shard_equal(&a->shards[oa], &b->shards[ob]))
            return false;
        last_a = oa;
        last_b = ob;
    }
    /* a shard a MOVED drained names its nodes until a refresh that does not replaces the map */
    return vmux__slotmap_new_nodes(a, b, NULL, NULL) == 0 &&
           vmux__slotmap_new_nodes(b, a, NULL, NULL) == 0;
}
