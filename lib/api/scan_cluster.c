/*
 * SCAN over a whole cluster (api/scan_cluster.h). The cursor is a record of scanned slots, not a
 * node index, so it survives failovers and migrations: the node that owns the lowest slot not yet
 * scanned is scanned whole with its own SCAN cursor, and the slots it owned both when its scan
 * began and when it ended (as it says itself, migrating slots left out) are then marked done. A
 * slot that moved meanwhile stays to do and is scanned on its new owner: a key may come twice,
 * none is missed.
 */
#include "api/scan_cluster.h"

#include "api/cluster_nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sized.h"
#include "mux/fanout.h"
#include "vmux/cluster.h"
#include "vmux/error.h"

/* How many times a node may send the pick to another before it gives up (ownership flapping). */
#define MAX_HOPS 5

/*
 * Walks a CLUSTER NODES text: the primary serving slot (slot >= 0) into *owner, and the line
 * marked myself into *self (either may be NULL). Returns which were found (1: owner, 2: self).
 */
static int read_nodes(const vmux_reply *r, int slot, struct vmux_node_line *owner,
                      struct vmux_node_line *self, uint8_t *served, char **text)
{
    const char *s = vmux_reply_str(r, NULL);
    int found = 0;
    *text = s != NULL ? strdup(s) : NULL;
    if (*text == NULL)
        return -1;
    struct vmux_node_line *n = malloc(sizeof *n);
    char *save = NULL;
    for (char *line = strtok_r(*text, "\n", &save); n != NULL && line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (!vmux__node_line_parse(line, n))
            continue;
        for (size_t i = 0; served != NULL && n->primary && i < sizeof n->serves; i++)
            served[i] |= n->serves[i];
        if (owner != NULL && n->primary && n->host != NULL && slot >= 0 &&
            vmux__slot_bit(n->serves, (unsigned)slot) && !(found & 1)) {
            *owner = *n;
            found |= 1;
        }
        if (self != NULL && n->myself) {
            *self = *n;
            found |= 2;
        }
    }
    free(n);
    return found;
}

static int lowest_todo(const struct vmux_cscan *cs)
{
    for (unsigned s = 0; s < VMUX_SLOTS; s++)
        if (!vmux__slot_bit(cs->done, s))
            return (int)s;
    return -1;
}

static vmux_callopts read_opts(const vmux_callopts *opts)
{
    vmux_callopts o = vmux__callopts_copy(opts); /* read as far as the caller's size goes */
    o.flags |= VMUX_CALL_RETRY_SAFE;
    return o;
}

/*
 * CLUSTER NODES as one node sees it: the node of id (the map's name for it may differ from the
 * address CLUSTER NODES gives: a host name, or the seed's name for an empty host), else the one
 * at host:port.
 */
static int ask_node(vmux *m, const vmux_callopts *o, const char *id, const char *host, int port,
                    vmux_reply **r)
{
    static const char *const argv[] = {"CLUSTER", "NODES"};
    return vmux__fanout_call_node_id(m, o, id, host, port, 2, argv, NULL, r);
}

int vmux__cscan_call(vmux *m, const vmux_callopts *opts, const struct vmux_cscan *cs, int argc,
                     const char *const *argv, const size_t *argvlen, vmux_reply **out)
{
    return vmux__fanout_call_node_id(m, opts, cs->id[0] != '\0' ? cs->id : NULL, cs->host, cs->port,
                                     argc, argv, argvlen, out);
}

/* CLUSTER NODES from any primary that answers (the first in the map's order). */
static int ask_any(vmux *m, const vmux_callopts *o, vmux_reply **r)
{
    static const char *const argv[] = {"CLUSTER", "NODES"};
    vmux_node_replies res;
    int rc = vmux_call_nodes(m, o, VMUX_NODES_PRIMARIES, 2, argv, NULL, &res);
    for (size_t i = 0; rc == 0 && i < res.count; i++)
        if (res.nodes[i].status == 0) {
            *r = res.nodes[i].reply;
            res.nodes[i].reply = NULL;
            vmux_node_replies_free(&res);
            return 0;
        }
    if (rc == 0)
        rc = res.count > 0 ? res.nodes[0].status : VMUX_ERR_NOT_CONNECTED;
    vmux_node_replies_free(&res);
    return rc;
}

/* The node that view (taken) says serves slot, asked itself: 1 chosen, 0 sent elsewhere. */
static int try_owner(vmux *m, const vmux_callopts *o, struct vmux_cscan *cs, int slot,
                     vmux_reply **view, struct vmux_node_line *n)
{
    char *text = NULL;
    int found = read_nodes(*view, slot, n, NULL, NULL, &text);
    vmux_reply_free(*view);
    *view = NULL;
    char host[sizeof cs->host], id[sizeof cs->id];
    bool ok = found > 0 && (found & 1) && strlen(n->host) < sizeof host;
    if (ok) {
        memcpy(host, n->host, strlen(n->host) + 1);
        snprintf(id, sizeof id, "%s", strlen(n->id) < sizeof id ? n->id : "");
    }
    int port = n->port;
    free(text);
    if (!ok)
        return VMUX_ERR_PROTOCOL; /* no CLUSTER NODES text, or no primary for the slot */
    int rc = ask_node(m, o, id[0] != '\0' ? id : NULL, host, port, view);
    if (rc != 0)
        return rc;
    found = read_nodes(*view, -1, NULL, n, NULL, &text);
    free(text);
    if (found < 0 || !(found & 2))
        return VMUX_ERR_PROTOCOL;
    if (!vmux__slot_bit(n->serves, (unsigned)slot))
        return 0; /* it says another node has it: follow its own view */
    memcpy(cs->host, host, strlen(host) + 1);
    memcpy(cs->id, id, sizeof id);
    cs->port = port;
    memcpy(cs->owned, n->stable, sizeof cs->owned);
    return 1;
}

/*
 * Marks done the slots that no primary of view serves (a cluster with holes): no key can be in
 * them, and nothing could scan them. The view comes from a primary of the handle's map.
 */
static void mark_holes(struct vmux_cscan *cs, const vmux_reply *view)
{
    uint8_t served[VMUX_SLOTS / 8] = {0};
    char *text = NULL;
    if (read_nodes(view, -1, NULL, NULL, served, &text) >= 0)
        for (size_t i = 0; i < sizeof served; i++)
            cs->done[i] |= (uint8_t)~served[i];
    free(text);
}

int vmux__cscan_pick(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs)
{
    if (lowest_todo(cs) < 0)
        return 0;
    vmux_callopts o = read_opts(opts);
    vmux_reply *view = NULL;
    int rc = ask_any(m, &o, &view);
    if (rc == 0)
        mark_holes(cs, view);
    int slot = lowest_todo(cs);
    if (rc == 0 && slot < 0) {
        vmux_reply_free(view);
        return 0;
    }
    struct vmux_node_line *n = malloc(sizeof *n);
    if (n == NULL && rc == 0)
        rc = VMUX_ERR_NOMEM;
    for (int hop = 0; rc == 0 && hop < MAX_HOPS; hop++)
        rc = try_owner(m, &o, cs, slot, &view, n);
    vmux_reply_free(view);
    free(n);
    return rc == 0 ? VMUX_ERR_PROTOCOL : rc; /* 0 after MAX_HOPS: the nodes keep disagreeing */
}

void vmux__cscan_drop(struct vmux_cscan *cs)
{
    cs->host[0] = '\0';
    cs->id[0] = '\0';
    cs->finishing = false;
}

int vmux__cscan_node_done(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs)
{
    vmux_callopts o = read_opts(opts);
    vmux_reply *r = NULL;
    int rc = vmux__cscan_call(m, &o, cs, 2, (const char *const[]){"CLUSTER", "NODES"}, NULL, &r);
    struct vmux_node_line *n = rc == 0 ? malloc(sizeof *n) : NULL;
    char *text = NULL;
    if (rc == 0 && (n == NULL || read_nodes(r, -1, NULL, n, NULL, &text) < 2))
        rc = n == NULL ? VMUX_ERR_NOMEM : VMUX_ERR_PROTOCOL;
    for (size_t i = 0; rc == 0 && i < sizeof cs->done; i++)
        cs->done[i] |= cs->owned[i] & n->stable[i];
    free(text);
    free(n);
    vmux_reply_free(r);
    vmux__cscan_drop(cs);
    return rc;
}
