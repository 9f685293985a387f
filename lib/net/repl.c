/*
 * A link's server's replication state, for readFrom (docs/replicas.md): whether it is a replica
 * cut off from its primary, and how far behind its primary it is.
 *
 * Offsets count bytes of the primary's replication stream; what readFrom users care about is
 * time (how old may the data a read returns be). So a primary's link remembers when each offset
 * was first seen (once a tick, INFO replication), and a replica's offset is turned into time
 * against that history: the replica lacks every byte past its offset, so it is behind by at
 * least the time since the primary first showed an offset past it. Each sample is kept only when
 * it is at least replicaMaxLag/32 after the one before: 64 of them cover twice the limit, to
 * within about 3 % of it (and the tick's second). I/O thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/link_internal.h"

/* The value of INFO field name (without its colon) in text; NULL when absent. */
static const char *info_field(const char *text, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            *len = strcspn(p + n + 1, "\r\n");
            return p + n + 1;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    return NULL;
}

static bool info_number(const char *text, const char *name, long long *out)
{
    size_t len;
    const char *v = info_field(text, name, &len);
    char *end;
    if (v == NULL || len == 0)
        return false;
    *out = strtoll(v, &end, 10);
    return end == v + len;
}

void vmux__repl_reset(struct vmux_repl *rp)
{
    bool unlinked = rp->unlinked, behind = rp->behind, alien = rp->foreign; /* until judged again */
    memset(rp, 0, sizeof *rp);
    rp->unlinked = unlinked;
    rp->behind = behind;
    rp->foreign = alien;
}

/* A primary's offset at now_ms: kept when it is new and the last one kept is old enough. */
static void remember(struct vmux_repl *rp, long long offset, uint64_t now_ms, uint64_t spacing)
{
    if (rp->hist_len > 0) {
        unsigned last = (rp->hist_start + rp->hist_len - 1) % REPL_HISTORY;
        if (offset <= rp->hist_off[last] || now_ms - rp->hist_ms[last] < spacing)
            return;
    }
    unsigned at = (rp->hist_start + rp->hist_len) % REPL_HISTORY;
    if (rp->hist_len == REPL_HISTORY)
        rp->hist_start = (rp->hist_start + 1) % REPL_HISTORY;
    else
        rp->hist_len++;
    rp->hist_ms[at] = now_ms;
    rp->hist_off[at] = offset;
}

/* The history the offsets count in: another one (a failover, a full resync) voids the samples. */
static void take_replid(struct vmux_repl *rp, const char *text)
{
    size_t len;
    const char *id = info_field(text, "master_replid", &len);
    if (id == NULL || len >= sizeof rp->replid) {
        id = "";
        len = 0;
    }
    if (strlen(rp->replid) != len || strncmp(rp->replid, id, len) != 0) {
        rp->hist_len = rp->hist_start = 0;
        rp->at_ms = 0;
        memcpy(rp->replid, id, len);
        rp->replid[len] = '\0';
    }
}

void vmux__repl_take(struct vmux_link *link, const vmux_reply *info, uint64_t now_ms)
{
    struct vmux_repl *rp = &link->repl;
    const char *text = vmux_reply_str(info, NULL);
    if (text == NULL)
        return;
    rp->replica = strstr(text, "role:slave") != NULL;
    rp->unlinked = rp->replica && strstr(text, "master_link_status:up") == NULL;
    take_replid(rp, text);
    long long offset;
    if (!info_number(text, rp->replica ? "slave_repl_offset" : "master_repl_offset", &offset)) {
        rp->at_ms = 0;
        return;
    }
    rp->offset = offset;
    rp->at_ms = now_ms;
    if (!rp->replica)
        remember(rp, offset, now_ms, (uint64_t)link->cfg->replica_max_lag_ms / 32);
}

/* How long before the replica's answer the primary first had a byte the replica lacked. */
static uint64_t lag_ms(const struct vmux_repl *rep, const struct vmux_repl *pri)
{
    if (!rep->replica || rep->unlinked || rep->at_ms == 0 || pri->replica || pri->at_ms == 0 ||
        rep->replid[0] == '\0' || strcmp(rep->replid, pri->replid) != 0)
        return 0;
    for (unsigned i = 0; i < pri->hist_len; i++) {
        unsigned at = (pri->hist_start + i) % REPL_HISTORY;
        if (pri->hist_off[at] > rep->offset)
            return rep->at_ms > pri->hist_ms[at] ? rep->at_ms - pri->hist_ms[at] : 0;
    }
    return 0;
}

/*
 * Whether the server behind rep is not a replica of the one behind pri: it answers as a primary,
 * or it is linked to its primary with another history. Judged only once both have answered.
 */
static bool foreign(const struct vmux_repl *rep, const struct vmux_repl *pri)
{
    if (rep->at_ms == 0 || pri->at_ms == 0 || pri->replica)
        return false;
    return !rep->replica || (!rep->unlinked && rep->replid[0] != '\0' && pri->replid[0] != '\0' &&
                             strcmp(rep->replid, pri->replid) != 0);
}

static void judge_foreign(struct vmux_link *replica, const struct vmux_link *primary)
{
    bool is = primary != NULL && primary != replica && foreign(&replica->repl, &primary->repl);
    if (is != replica->repl.foreign) {
        const char *where = vmux__link_where(replica);
        vmux__log(replica->cfg, is ? VMUX_LOG_WARN : VMUX_LOG_INFO,
                  is ? "readFrom: %s is not a replica of this primary (%s): reads skip it"
                     : "readFrom: %s is a replica of this primary again%s",
                  where != NULL ? where : "a replica",
                  is ? (replica->repl.replica ? "another replication history" : "a primary") : "");
    }
    replica->repl.foreign = is;
}

uint64_t vmux__link_judge_lag(struct vmux_link *replica, const struct vmux_link *primary,
                              uint64_t max_ms)
{
    judge_foreign(replica, primary);
    uint64_t lag =
        primary != NULL && primary != replica ? lag_ms(&replica->repl, &primary->repl) : 0;
    bool behind = max_ms > 0 && lag > max_ms;
    if (behind != replica->repl.behind) {
        const char *where = vmux__link_where(replica);
        if (behind)
            vmux__log(replica->cfg, VMUX_LOG_WARN,
                      "readFrom: %s is at least %llu ms behind its primary (replicaMaxLag=%llu): "
                      "reads skip it until it catches up",
                      where != NULL ? where : "a replica", (unsigned long long)lag,
                      (unsigned long long)max_ms);
        else
            vmux__log(replica->cfg, VMUX_LOG_INFO, "readFrom: %s caught up with its primary",
                      where != NULL ? where : "a replica");
    }
    replica->repl.behind = behind;
    return lag;
}
