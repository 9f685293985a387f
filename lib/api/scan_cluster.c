/*
 * SCAN over a whole cluster (api/scan_cluster.h). The cursor is a record of scanned slots, not a
 * node index, so it survives failovers and migrations: the node that owns the lowest slot not yet
 * scanned is scanned whole with its own SCAN cursor, and the slots it owned both when its scan
 * began and when it ended (as it says itself, migrating slots left out) are then marked done. A
 * slot that moved meanwhile stays to do and is scanned on its new owner: a key may come twice,
 * none is missed. A slot left migrating for a node's whole scan (an open slot: an interrupted
 * reshard) is stable on neither node: its target is scanned next, and the slot done after that;
 * open slots to several targets, one target per scan of their node. A node that took a slot (its
 * config epoch changed) or had keys moved onto it (RESTORE-ASKING) during its scan marks none:
 * a slot's keys may have been away while its cursor passed the slot, and come back.
 */
#include "api/scan_cluster.h"

#include "api/cluster_nodes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/budget.h"
#include "core/sized.h"
#include "mux/fanout.h"
#include "mux/handle.h"
#include "vmux/cluster.h"
#include "vmux/error.h"

/* How many times a node may send the pick to another before it gives up (ownership flapping). */
#define MAX_HOPS 5

/*
 * Walks a CLUSTER NODES text: the primary serving slot (slot >= 0) into *owner, and the line
 * marked myself into *self (either may be NULL), their migration targets read past the slots in
 * done (vmux__node_line_parse()). Returns which were found (1: owner, 2: self).
 */
static int read_nodes(const vmux_reply *r, const uint8_t *done, int slot,
                      struct vmux_node_line *owner, struct vmux_node_line *self, uint8_t *served,
                      char **text)
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
        if (!vmux__node_line_parse(line, done, n))
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

/* Writes a step's failure reason into o's error buffer (if any) and returns rc. */
static int fail(const vmux_callopts *o, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * o for one round trip of the step: what is left of its budget (core/budget.h).
 * VMUX_ERR_TIMEOUT (nothing sent, cs->out_of_time set) when less than a millisecond is left.
 */
static int budget(struct vmux_cscan *cs, const vmux_callopts *o, vmux_callopts *out)
{
    *out = *o;
    if (o->timeout_ms < 0)
        return 0; /* the call refuses it as a bad argument, as for any command */
    uint64_t left = vmux__budget_left_ms(cs->deadline_ns, uv_hrtime());
    out->timeout_ms = (int64_t)left;
    if (left > 0)
        return 0;
    cs->out_of_time = true;
    return fail(o, VMUX_ERR_TIMEOUT, "%s", vmux_strerror(VMUX_ERR_TIMEOUT));
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
static int ask_node(vmux *m, const vmux_callopts *o, struct vmux_cscan *cs, const char *id,
                    const char *host, int port, vmux_reply **r)
{
    static const char *const argv[] = {"CLUSTER", "NODES"};
    vmux_callopts t;
    int rc = budget(cs, o, &t);
    return rc != 0 ? rc : vmux__fanout_call_node_id(m, &t, id, host, port, true, 2, argv, NULL, r);
}

/* What INFO tells of the node being scanned: whether keys may have been skipped meanwhile. */
struct node_state {
    char run_id[41];    /* its process: changes when it restarts ("": INFO refused) */
    long long restores; /* its RESTORE and RESTORE-ASKING calls: keys moved onto it */
};

/* The calls of command name in INFO commandstats text ("cmdstat_<name>:calls=N,..."): 0 when
 * absent (never called). */
static long long calls_of(const char *text, const char *name)
{
    char field[48];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", name);
    const char *at = strstr(text, field);
    return at != NULL ? strtoll(at + strlen(field), NULL, 10) : 0;
}

/* INFO of the node being scanned, sections argc - 1 of argv, into *r (vmux_call()'s codes). */
static int node_info(vmux *m, const vmux_callopts *o, struct vmux_cscan *cs, int argc,
                     const char *const *argv, vmux_reply **r)
{
    vmux_callopts t;
    int rc = budget(cs, o, &t);
    return rc != 0 ? rc
                   : vmux__fanout_call_node_id(m, &t, cs->id[0] != '\0' ? cs->id : NULL, cs->host,
                                               cs->port, true, argc, argv, NULL, r);
}

/*
 * The state of the node being scanned (INFO server commandstats) into *out. A server that takes
 * one INFO section only (before Redis 7.0) is asked INFO server: its run_id alone. A server's
 * refusal (an ACL without INFO) leaves run_id "" and returns 0: the checks are skipped.
 */
static int node_state(vmux *m, const vmux_callopts *o, struct vmux_cscan *cs,
                      struct node_state *out)
{
    static const char *const both[] = {"INFO", "server", "commandstats"};
    vmux_reply *r = NULL;
    int rc = node_info(m, o, cs, 3, both, &r);
    if (rc == VMUX_ERR_SERVER) {
        vmux_reply_free(r);
        r = NULL;
        rc = node_info(m, o, cs, 2, both, &r);
    }
    const char *text = rc == 0 ? vmux_reply_str(r, NULL) : NULL;
    const char *at = text != NULL ? strstr(text, "run_id:") : NULL;
    size_t len = at != NULL ? strcspn(at + 7, "\r\n") : 0;
    out->run_id[0] = '\0';
    out->restores = 0;
    if (len > 0 && len < sizeof out->run_id) {
        memcpy(out->run_id, at + 7, len);
        out->run_id[len] = '\0';
        out->restores = calls_of(text, "restore") + calls_of(text, "restore-asking");
    }
    vmux_reply_free(r);
    return rc == VMUX_ERR_SERVER ? 0 : rc;
}

int vmux__cscan_call(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs, int argc,
                     const char *const *argv, const size_t *argvlen, vmux_reply **out)
{
    vmux_callopts t;
    int rc = budget(cs, opts, &t);
    return rc != 0 ? rc
                   : vmux__fanout_call_node_id(m, &t, cs->id[0] != '\0' ? cs->id : NULL, cs->host,
                                               cs->port, false, argc, argv, argvlen, out);
}

static int fail(const vmux_callopts *o, int rc, const char *fmt, ...)
{
    if (o->errbuf != NULL && o->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->errbuf, o->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/*
 * CLUSTER NODES from every primary of the handle's map; fails only when none answered. They are
 * given half of what is left of the step (at least a millisecond): a primary that does not answer
 * by then (stopped, paused) is left out, as one that fails, and the rest of the step is left for
 * the node chosen. Waiting for it the whole step failed every step while one primary was
 * stopped, those for the slots of the others too.
 */
static int ask_primaries(vmux *m, const vmux_callopts *o, struct vmux_cscan *cs,
                         vmux_node_replies *res)
{
    static const char *const argv[] = {"CLUSTER", "NODES"};
    vmux_callopts t;
    int rc = budget(cs, o, &t);
    if (rc != 0)
        return rc;
    if (t.timeout_ms > 1)
        t.timeout_ms = (t.timeout_ms + 1) / 2;
    rc = vmux__fanout_call_nodes_own(m, &t, VMUX_NODES_PRIMARIES, 2, argv, res);
    for (size_t i = 0; rc == 0 && i < res->count; i++)
        if (res->nodes[i].status == 0)
            return 0;
    if (rc != 0)
        return rc; /* vmux_call_nodes() wrote the error buffer */
    if (res->count == 0)
        return fail(o, VMUX_ERR_NOT_CONNECTED, "CLUSTER NODES: the handle's map has no primary");
    const vmux_node_reply *e = &res->nodes[0];
    const char *why = e->reply != NULL ? vmux_reply_str(e->reply, NULL) : NULL;
    rc = fail(o, e->status, "CLUSTER NODES: no primary of the handle's map answered (%s: %s)",
              e->address, why != NULL ? why : vmux_strerror(e->status));
    vmux_node_replies_free(res);
    return rc;
}

/* Notes the slots of the node being scanned when its scan begins: stable, and migrating away. */
static void note_slots(struct vmux_cscan *cs, const struct vmux_node_line *n)
{
    memcpy(cs->owned, n->stable, sizeof cs->owned);
    for (size_t i = 0; i < sizeof cs->mig; i++)
        cs->mig[i] = n->serves[i] & (uint8_t)~n->stable[i];
    memcpy(cs->moving, n->moving, sizeof cs->moving);
    memcpy(cs->to, n->to, sizeof cs->to);
    cs->epoch = n->epoch;
}

/* The node being scanned := the map's node at address ("host:port") with n's id and slots. */
static bool set_node(struct vmux_cscan *cs, const char *address, const struct vmux_node_line *n)
{
    const char *colon = strrchr(address, ':');
    size_t hostlen = colon != NULL ? (size_t)(colon - address) : 0;
    if (colon == NULL || hostlen == 0 || hostlen >= sizeof cs->host ||
        strlen(n->id) >= sizeof cs->id)
        return false;
    memcpy(cs->host, address, hostlen);
    cs->host[hostlen] = '\0';
    cs->port = atoi(colon + 1);
    memcpy(cs->id, n->id, strlen(n->id) + 1);
    note_slots(cs, n);
    return true;
}

/*
 * The primary of the map that says itself that it serves slot (its line marked myself, in its
 * own answer): 1 with cs set to it, 0 when none does. Of several, the one of the highest config
 * epoch: a primary restarted after a failover claims its old slots until it learns better. No
 * address is read from the text (a node that never met another gives none for itself): the
 * map's name of the node that answered is used, and its id.
 */
static int claimant(const vmux_node_replies *res, int slot, struct vmux_cscan *cs,
                    struct vmux_node_line *n)
{
    int chosen = 0;
    uint64_t best = 0;
    for (size_t i = 0; i < res->count; i++) {
        char *text = NULL;
        int found = res->nodes[i].status == 0
                        ? read_nodes(res->nodes[i].reply, cs->done, -1, NULL, n, NULL, &text)
                        : -1;
        bool claims = found > 0 && (found & 2) && n->primary &&
                      vmux__slot_bit(n->serves, (unsigned)slot) && (!chosen || n->epoch > best);
        if (claims && set_node(cs, res->nodes[i].address, n)) {
            best = n->epoch;
            chosen = 1;
        }
        free(text);
    }
    return chosen;
}

/* The node that view (taken) says serves slot, asked itself: 1 chosen, 0 sent elsewhere. */
static int try_owner(vmux *m, const vmux_callopts *o, struct vmux_cscan *cs, int slot,
                     vmux_reply **view, struct vmux_node_line *n)
{
    char *text = NULL;
    int found = read_nodes(*view, cs->done, slot, n, NULL, NULL, &text);
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
        return fail(o, VMUX_ERR_PROTOCOL,
                    "CLUSTER NODES: no primary with an address serves slot %d, or no such text",
                    slot);
    int rc = ask_node(m, o, cs, id[0] != '\0' ? id : NULL, host, port, view);
    if (rc != 0)
        return rc;
    found = read_nodes(*view, cs->done, -1, NULL, n, NULL, &text);
    free(text);
    if (found < 0 || !(found & 2))
        return fail(o, VMUX_ERR_PROTOCOL, "CLUSTER NODES of %s:%d: no line marked myself", host,
                    port);
    if (!vmux__slot_bit(n->serves, (unsigned)slot))
        return 0; /* it says another node has it: follow its own view */
    memcpy(cs->host, host, strlen(host) + 1);
    memcpy(cs->id, id, sizeof id);
    cs->port = port;
    note_slots(cs, n);
    return 1;
}

/*
 * Marks done the slots that no primary serves in any of the views (a cluster with holes): no key
 * can be in them, and nothing could scan them. The views come from the primaries of the map;
 * none is marked unless one of them could be read: a text with the line of the node that sent
 * it (an empty or garbled answer would make every slot a hole, and the scan end at once).
 */
static void mark_holes(struct vmux_cscan *cs, const vmux_node_replies *res)
{
    uint8_t served[VMUX_SLOTS / 8] = {0};
    bool read = false;
    struct vmux_node_line *self = malloc(sizeof *self);
    for (size_t i = 0; self != NULL && i < res->count; i++) {
        char *text = NULL;
        if (res->nodes[i].status == 0 &&
            read_nodes(res->nodes[i].reply, cs->done, -1, NULL, self, served, &text) >= 2)
            read = true;
        free(text);
    }
    free(self);
    for (size_t i = 0; read && i < sizeof served; i++)
        cs->done[i] |= (uint8_t)~served[i];
}

/* No primary of the map claims slot: follows the first view's owner from node to node. */
static int follow_views(vmux *m, const vmux_callopts *o, struct vmux_cscan *cs, int slot,
                        vmux_node_replies *res, struct vmux_node_line *n)
{
    vmux_reply *view = NULL;
    for (size_t i = 0; view == NULL && i < res->count; i++)
        if (res->nodes[i].status == 0) {
            view = res->nodes[i].reply;
            res->nodes[i].reply = NULL;
        }
    int rc = 0;
    for (int hop = 0; rc == 0 && hop < MAX_HOPS; hop++)
        rc = try_owner(m, o, cs, slot, &view, n);
    vmux_reply_free(view);
    if (rc == 0) /* after MAX_HOPS */
        rc = fail(o, VMUX_ERR_PROTOCOL,
                  "CLUSTER NODES: the nodes keep disagreeing which serves "
                  "slot %d",
                  slot);
    return rc;
}

static void forget_via(struct vmux_cscan *cs)
{
    memset(cs->via, 0, sizeof cs->via);
    cs->via_from[0] = '\0';
    cs->via_id[0] = '\0';
}

/*
 * The answer in res whose own line (myself) has id: its index, *n read from it (past the slots
 * in done) and *text (to free) holding it; -1 when none.
 */
static int find_self(const vmux_node_replies *res, const uint8_t *done, const char *id,
                     struct vmux_node_line *n, char **text)
{
    for (size_t i = 0; i < res->count; i++) {
        *text = NULL;
        if (res->nodes[i].status == 0 &&
            read_nodes(res->nodes[i].reply, done, -1, NULL, n, NULL, text) >= 2 &&
            strcmp(n->id, id) == 0)
            return (int)i;
        free(*text);
    }
    *text = NULL;
    return -1;
}

/* Keeps of cs->via the slots not done that source (its line n) still migrates there; any? */
static bool still_moving(struct vmux_cscan *cs, const struct vmux_node_line *n)
{
    bool any = false;
    for (size_t i = 0; strcmp(n->to, cs->via_id) == 0 && i < sizeof cs->via; i++) {
        cs->via[i] &= n->moving[i] & (uint8_t)~cs->done[i];
        any |= cs->via[i] != 0;
    }
    return any;
}

/*
 * The node the slots of cs->via migrate to, scanned since their source's scan ended: 1 with cs
 * set to it as it answered in res. 0 when the source no longer migrates them there (forgotten:
 * they are picked as any other slot). VMUX_ERR_NOT_CONNECTED when it is no primary of the map
 * (one that serves no slot yet is not in CLUSTER SLOTS): they stay to do, and their source is
 * not scanned again meanwhile, which would bring its keys again and again.
 */
static int pick_via(const vmux_callopts *o, const vmux_node_replies *res, struct vmux_cscan *cs,
                    struct vmux_node_line *n)
{
    char *text = NULL;
    bool moving = find_self(res, cs->done, cs->via_from, n, &text) >= 0 && still_moving(cs, n);
    free(text);
    if (!moving) {
        forget_via(cs);
        return 0;
    }
    int i = find_self(res, cs->done, cs->via_id, n, &text);
    bool ok = i >= 0 && n->primary && set_node(cs, res->nodes[i].address, n);
    free(text);
    if (!ok)
        return fail(o, VMUX_ERR_NOT_CONNECTED,
                    "slots are left migrating to node %s, which is no primary of the handle's map",
                    cs->via_id);
    cs->via_scan = true;
    return 1;
}

/* The next node, at least one of whose slots is to do (the lowest, slot): 1 with cs set to it. */
static int choose(vmux *m, const vmux_callopts *o, struct vmux_cscan *cs, int slot,
                  vmux_node_replies *res, struct vmux_node_line *n)
{
    int rc = cs->via_id[0] != '\0' ? pick_via(o, res, cs, n) : 0;
    if (rc == 0)
        rc = claimant(res, slot, cs, n);
    if (rc == 0)
        rc = follow_views(m, o, cs, slot, res, n);
    return rc;
}

int vmux__cscan_pick(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs)
{
    if (lowest_todo(cs) < 0)
        return 0;
    vmux_callopts o = read_opts(opts);
    vmux_node_replies res = {0};
    int rc = ask_primaries(m, &o, cs, &res);
    if (rc != 0)
        return rc;
    mark_holes(cs, &res);
    int slot = lowest_todo(cs);
    struct vmux_node_line *n = slot >= 0 ? malloc(sizeof *n) : NULL;
    if (slot >= 0 && n == NULL)
        rc = fail(&o, VMUX_ERR_NOMEM, "%s", vmux_strerror(VMUX_ERR_NOMEM));
    else if (slot >= 0)
        rc = choose(m, &o, cs, slot, &res, n);
    vmux_node_replies_free(&res);
    free(n);
    return rc;
}

int vmux__cscan_begin(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs)
{
    if (cs->begun)
        return 0;
    vmux_callopts o = read_opts(opts);
    struct node_state st;
    int rc = node_state(m, &o, cs, &st);
    memcpy(cs->run_id, st.run_id, sizeof cs->run_id);
    cs->restores = st.restores;
    cs->begun = rc == 0;
    return rc;
}

void vmux__cscan_drop(struct vmux_cscan *cs)
{
    cs->host[0] = '\0';
    cs->id[0] = '\0';
    cs->run_id[0] = '\0';
    cs->begun = false;
    cs->finishing = false;
    cs->via_scan = false;
}

/*
 * A node scanned for the slots of cs->via, its scan ended (its line n): those slots' keys not
 * on their source when its scan ended were here from this scan's start (a key moves onto the
 * importing node, never back), so they are done; unless this node was migrating them away
 * itself at its start or end, when keys may have left it meanwhile.
 */
static void finish_via(struct vmux_cscan *cs, const struct vmux_node_line *n)
{
    for (size_t i = 0; cs->via_scan && i < sizeof cs->via; i++) {
        uint8_t leaving = (uint8_t)(n->serves[i] & ~n->stable[i]); /* migrating, at its end */
        cs->done[i] |= cs->via[i] & (uint8_t) ~(cs->mig[i] | leaving);
    }
    if (cs->via_scan)
        forget_via(cs);
}

/*
 * The node just scanned (its line n at the end) migrated slots to one target for its whole scan
 * (an open slot: an interrupted reshard). Their keys are on either node and never stable on
 * either, so they would stay the lowest to do, and this node be picked again forever: its
 * target is scanned next instead (vmux__cscan_pick()), and they are done after that. The target
 * is that of its lowest open slot not done (read_nodes() passes done), so a node with open slots
 * to several targets, picked again for the others, names the next target each time.
 */
static void start_via(struct vmux_cscan *cs, const struct vmux_node_line *n)
{
    bool any = false;
    for (size_t i = 0; n->to[0] != '\0' && strcmp(n->to, cs->to) == 0 && i < sizeof cs->via; i++) {
        cs->via[i] = cs->moving[i] & n->moving[i] & (uint8_t)~cs->done[i];
        any |= cs->via[i] != 0;
    }
    if (any) {
        memcpy(cs->via_id, n->to, sizeof cs->via_id);
        memcpy(cs->via_from, cs->id, sizeof cs->via_from);
    }
}

/*
 * Whether the node just scanned (its line n and state now at the end) kept every key of the
 * slots it owned throughout: the same process (run_id), no key moved onto it (RESTORE and
 * RESTORE-ASKING calls) and the same config epoch (it took no slot). Keys that left a slot and
 * came back while its cursor passed the slot were never returned; when they came back, the node
 * ran RESTORE-ASKING (MIGRATE), or its epoch rose (it took the slot back).
 */
static bool unchanged(const struct vmux_cscan *cs, const struct vmux_node_line *n,
                      const struct node_state *now)
{
    bool checked = cs->run_id[0] != '\0'; /* INFO answered when the scan began */
    return n->epoch == cs->epoch &&
           (!checked || (strcmp(now->run_id, cs->run_id) == 0 && now->restores == cs->restores));
}

int vmux__cscan_node_done(vmux *m, const vmux_callopts *opts, struct vmux_cscan *cs)
{
    vmux_callopts o = read_opts(opts);
    vmux_reply *r = NULL;
    int rc = ask_node(m, &o, cs, cs->id[0] != '\0' ? cs->id : NULL, cs->host, cs->port, &r);
    struct vmux_node_line *n = rc == 0 ? malloc(sizeof *n) : NULL;
    char *text = NULL;
    if (rc == 0 && n == NULL)
        rc = fail(&o, VMUX_ERR_NOMEM, "%s", vmux_strerror(VMUX_ERR_NOMEM));
    else if (rc == 0 && read_nodes(r, cs->done, -1, NULL, n, NULL, &text) < 2)
        rc = fail(&o, VMUX_ERR_PROTOCOL, "CLUSTER NODES of %s:%d: no line marked myself", cs->host,
                  cs->port);
    struct node_state now = {.run_id = ""};
    if (rc == 0 && cs->run_id[0] != '\0')
        rc = node_state(m, &o, cs, &now);
    bool same = rc == 0 && unchanged(cs, n, &now);
    for (size_t i = 0; rc == 0 && same && i < sizeof cs->done; i++)
        cs->done[i] |= cs->owned[i] & n->stable[i];
    if (rc == 0 && same) {
        finish_via(cs, n);
        start_via(cs, n);
    }
    free(text);
    free(n);
    vmux_reply_free(r);
    vmux__cscan_drop(cs);
    return rc;
}
