/*
 * Sending the parts of a split multi-key command (api/split.h) and putting their replies back
 * together: the sum of counts, values in the caller's key order, or every part's OK.
 */
#include <stdlib.h>
#include <string.h>

#include "api/split.h"
#include "core/errbuf.h"
#include "core/explain.h"
#include "core/reply_internal.h"
#include "core/sized.h"
#include "core/why.h"
#include "vmux/error.h"

int vmux__split_settle(vmux *m, const vmux_callopts **opts, vmux_callopts *local)
{
    if (vmux__slot_routing(m) != VMUX__SLOTS_UNKNOWN)
        return 0;
    uint32_t left_ms;
    int rc = vmux__settle_sync(m, *opts, &left_ms);
    if (rc != 0)
        return rc;
    *local = vmux__callopts_copy(*opts);
    local->timeout_ms = left_ms;
    *opts = local;
    return 0;
}

/* Reads part g's successful reply r into acc; 0 or why not. */
typedef int (*part_reader)(const struct vmux_split *s, size_t g, const vmux_reply *r, void *acc);

/* opts with the retry-safe flag (every command split here is idempotent), as a full copy. */
static vmux_callopts safe_opts(const vmux_callopts *opts)
{
    vmux_callopts o = vmux__callopts_copy(opts);
    o.flags |= VMUX_CALL_RETRY_SAFE;
    return o;
}

/* Room for a failed part's words: vmux__explain()'s and the part's slot. */
#define PART_WORDS_SIZE (VMUX_REASON_SIZE + 256)

/* What every part's outcome says of whether any ran (core/explain.h): the least sure of them. */
static enum vmux__ran parts_ran(const struct vmux_part_result *res, size_t n)
{
    enum vmux__ran all = VMUX__RAN_UNSENT;
    for (size_t i = 0; i < n && all != VMUX__RAN_MAYBE; i++) {
        enum vmux__ran one = vmux__ran_of(res[i].status, res[i].reply);
        all = one < all ? one : all;
    }
    return all;
}

/* What a failed part's words say of the other parts, as parts_ran() found them. */
static const char *others_words(enum vmux__ran ran)
{
    switch (ran) {
    case VMUX__RAN_UNSENT:
        return "none of them was sent: not executed"; /* cluster=yes waiting for the answer */
    case VMUX__RAN_NOT:
        return "none of them ran: not executed";
    default:
        return "the others may have run";
    }
}

/*
 * Writes into buf (len bytes) what a part that failed with rc and reply says, of a call split
 * into ngroups parts: the server's words for its error reply (as they came, or as vmux worded a
 * refusal kept up to the deadline: "TRYAGAIN ... (refused 10 times over 2000 ms while its slot
 * migrates; not executed)", which is that part's outcome, not the call's); for another failure,
 * what vmux_call() would say of it (core/explain.h: the code's description, and the why that came
 * with reply, such as "waiting for a connection (never sent); last connection failure:
 * host:port: ..." or "written to host:port and not answered in time"); then its slot, and what
 * became of the others (ran: parts_ran()). Failure path only.
 */
static void part_words(char *buf, size_t len, unsigned slot, size_t ngroups, int rc,
                       const vmux_reply *reply, enum vmux__ran ran)
{
    char words[VMUX_REASON_SIZE + 128];
    vmux__explain(words, sizeof words, rc, reply);
    vmux__errbuf_set(buf, len,
                     "%s (the command for slot %u, one of the %zu this call was split into; %s)",
                     words, slot, ngroups, others_words(ran));
}

/* Fills the caller's error buffer for rc: part g's words (part_words(), res every part's
 * outcome), or (g == ngroups) the code's description alone. */
static void explain_part(const vmux_callopts *o, const struct vmux_split *s, size_t g, int rc,
                         const struct vmux_part_result *res)
{
    if (o->errbuf == NULL || o->errlen == 0 || rc == 0)
        return;
    if (g < s->ngroups)
        part_words(o->errbuf, o->errlen, s->groups[g].slot, s->ngroups, rc, res[g].reply,
                   parts_ran(res, s->ngroups));
    else
        vmux__explain(o->errbuf, o->errlen, rc, NULL);
}

/* The first failed part's error, else every part's reply through read. */
static int gather(const vmux_callopts *o, const struct vmux_split *s,
                  const struct vmux_part_result *res, part_reader read, void *acc)
{
    size_t g = vmux__split_failed(res, s->ngroups);
    if (g < s->ngroups) {
        explain_part(o, s, g, res[g].status, res);
        return res[g].status;
    }
    int rc = 0;
    for (g = 0; g < s->ngroups && rc == 0; g++)
        rc = read(s, g, res[g].reply, acc);
    explain_part(o, s, s->ngroups, rc, NULL);
    return rc;
}

/* Sends s's parts, waits for all, reads them with read into acc, and frees s. */
static int run_split(vmux *m, const vmux_callopts *opts, struct vmux_split *s, part_reader read,
                     void *acc)
{
    vmux_callopts o = safe_opts(opts);
    struct vmux_part_result *res = calloc(s->ngroups, sizeof *res);
    int rc = res == NULL ? VMUX_ERR_NOMEM : vmux__batch_call(m, &o, s->parts, s->ngroups, 0, res);
    if (rc == 0)
        rc = gather(&o, s, res, read, acc);
    else if (rc != VMUX_ERR_BACKLOG_FULL) /* keep the door's words */
        explain_part(&o, s, s->ngroups, rc, NULL);
    if (res != NULL)
        vmux__split_results_free(res, s->ngroups);
    free(res);
    vmux__split_free(s);
    return rc;
}

static int add_count(const struct vmux_split *s, size_t g, const vmux_reply *r, void *acc)
{
    (void)s;
    (void)g;
    int64_t v;
    int rc = vmux_reply_to_int(r, &v);
    if (rc == 0)
        *(int64_t *)acc += v;
    return rc;
}

int vmux__split_count(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                      size_t n, int64_t *out)
{
    struct vmux_split s;
    int64_t sum = 0;
    int rc = vmux__split(m, cmd, keys, NULL, n, &s);
    if (rc <= 0)
        return rc == 0 ? VMUX_SPLIT_ONE : rc;
    if (out != NULL)
        *out = 0;
    rc = run_split(m, opts, &s, add_count, &sum);
    if (rc == 0 && out != NULL)
        *out = sum;
    return rc;
}

/* Part g's values, each to its key's place in the caller's list. */
static int put_values(const struct vmux_split *s, size_t g, const vmux_reply *r, void *acc)
{
    vmux_bytes_array *values = acc;
    size_t count = s->groups[g].count;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != count)
        return VMUX_ERR_PROTOCOL;
    for (size_t j = 0; j < count; j++) {
        const vmux_reply *e = vmux_reply_element(r, j);
        if (vmux_reply_get_kind(e) == VMUX_REPLY_ERROR)
            return VMUX_ERR_PROTOCOL;
        int rc = vmux_reply_to_bytes(e, &values->items[vmux__split_key(s, g, j)]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int vmux__split_mget(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                     vmux_bytes_array *values)
{
    struct vmux_split s;
    int rc = vmux__split(m, "MGET", keys, NULL, n, &s);
    if (rc <= 0)
        return rc == 0 ? VMUX_SPLIT_ONE : rc;
    vmux_bytes_array all = {calloc(n, sizeof *all.items), n};
    if (values != NULL)
        memset(values, 0, sizeof *values);
    if (all.items == NULL) {
        vmux__split_free(&s);
        return VMUX_ERR_NOMEM;
    }
    rc = run_split(m, opts, &s, put_values, &all);
    if (rc == 0 && values != NULL)
        *values = all;
    else
        vmux_bytes_array_free(&all);
    return rc;
}

static int check_ok(const struct vmux_split *s, size_t g, const vmux_reply *r, void *acc)
{
    (void)s;
    (void)g;
    (void)acc;
    return vmux_reply_get_kind(r) == VMUX_REPLY_STATUS ? 0 : VMUX_ERR_PROTOCOL;
}

int vmux__split_mset(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                     const vmux_str *values, size_t n)
{
    struct vmux_split s;
    int rc = values != NULL ? vmux__split(m, "MSET", keys, values, n, &s) : 0;
    if (rc <= 0)
        return rc == 0 ? VMUX_SPLIT_ONE : rc;
    return run_split(m, opts, &s, check_ok, NULL);
}

/*
 * An async split count: the caller's completion, until every part has come back, and the split's
 * groups (their slots), which a failed part's words name; freed by count_done().
 */
struct count_wait {
    vmux_reply_cb cb;
    void *userdata;
    struct vmux_split_group *groups;
};

/*
 * Part g of n failed with status and reply (ran: every part's, parts_ran()): its words, as
 * vmux__split_count() puts them in an
 * error buffer, become the callback's vmux_last_error() (core/why.h). Returns the reply the
 * callback gets: NULL for a part unsent or lost (the why its op brought, VMUX_OP_TELL_WHY, is
 * freed), else reply (call.h's vmux_reply_cb).
 */
static vmux_reply *part_why(const struct count_wait *c, size_t n, size_t g, int status,
                            vmux_reply *reply, enum vmux__ran ran)
{
    char words[PART_WORDS_SIZE];
    part_words(words, sizeof words, c->groups[g].slot, n, status, reply, ran);
    reply = vmux__why_completion(status, reply); /* the code's words, then the part's over them */
    (void)vmux__why_set(status, "%s", words);
    return reply;
}

/* The batch's completion: the first failed part's outcome, else the sum as an integer reply. */
static void count_done(size_t n, struct vmux_part_result *res, void *userdata)
{
    struct count_wait c = *(struct count_wait *)userdata;
    free(userdata);
    size_t g = vmux__split_failed(res, n);
    int status = g < n ? res[g].status : 0;
    vmux_reply *reply = NULL;
    if (g < n) {
        reply = part_why(&c, n, g, status, res[g].reply, parts_ran(res, n));
        res[g].reply = NULL;
    } else {
        int64_t sum = 0;
        for (size_t i = 0; i < n && status == 0; i++)
            status = add_count(NULL, i, res[i].reply, &sum);
        reply = status == 0 ? vmux__reply_new_integer(sum) : NULL;
        status = status == 0 && reply == NULL ? VMUX_ERR_NOMEM : status;
        if (status != 0) /* the callback's vmux_last_error() words: the code's */
            reply = vmux__why_completion(status, reply);
    }
    vmux__split_results_free(res, n);
    free(c.groups);
    c.cb(status, reply, c.userdata);
}

int vmux__split_count_async(vmux *m, const vmux_callopts *opts, const char *cmd,
                            const vmux_str *keys, size_t n, vmux_reply_cb cb, void *userdata)
{
    struct vmux_split s;
    if (cb == NULL)
        return VMUX_SPLIT_ONE; /* the ordinary path refuses it */
    if (vmux__slot_routing(m) == VMUX__SLOTS_UNKNOWN)
        return vmux__split_count_later(m, opts, cmd, keys, n, cb, userdata);
    int rc = vmux__split(m, cmd, keys, NULL, n, &s);
    if (rc <= 0)
        return rc == 0 ? VMUX_SPLIT_ONE : rc;
    vmux_callopts o = safe_opts(opts);
    struct count_wait *c = malloc(sizeof *c);
    rc = c == NULL ? VMUX_ERR_NOMEM : 0;
    if (rc == 0) {
        *c = (struct count_wait){cb, userdata, s.groups};
        /* a failed part brings why, for its words (part_why()) */
        rc = vmux__batch_async(m, &o, s.parts, s.ngroups, 0, count_done, c);
    }
    if (rc == 0)
        s.groups = NULL; /* count_done()'s now: it frees them */
    else
        free(c); /* refused: count_done never runs */
    vmux__split_free(&s);
    return rc;
}
