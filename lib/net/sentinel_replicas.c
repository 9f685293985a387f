/*
 * Sentinel: the service's replicas as the sentinels know them (see sentinel.h).
 *
 * SENTINEL REPLICAS <service> answers one flat list of names and values per replica. A replica
 * serves reads when the sentinel sees it healthy: none of the flags s_down, o_down and
 * disconnected, and master-link-status ok (its link to the primary is up). The question goes on
 * the query link, the one that asks where the primary is; one at a time.
 *
 * A sentinel that holds a connection open and answers nothing (a frozen process, a route that
 * drops packets) would keep the question until the connection is judged dead, twice syncTimeout
 * later: the question has a deadline of its own, connectTimeout, after which the query link moves
 * to the next sentinel and asks it there (the question is safe to send again). Meanwhile the
 * replicas known stay as they are, and the primary serves what they cannot.
 */
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/errbuf.h"
#include "core/log.h"
#include "net/sentinel_internal.h"
#include "vmux/error.h"

/* The value of field name in a flat list of names and values; NULL when absent. */
static const char *field(const vmux_reply *e, const char *name)
{
    size_t n = vmux_reply_len(e);
    for (size_t i = 0; i + 1 < n; i += 2) {
        const char *k = vmux_reply_str(vmux_reply_element(e, i), NULL);
        if (k != NULL && strcmp(k, name) == 0)
            return vmux_reply_str(vmux_reply_element(e, i + 1), NULL);
    }
    return NULL;
}

/* Whether the comma-separated flags hold flag. */
static bool has_flag(const char *flags, const char *flag)
{
    size_t len = strlen(flag);
    for (const char *p = flags; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, flag, len) == 0)
            return true;
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* One replica of the answer; false when it names no usable address. */
static bool parse_replica(const vmux_reply *e, struct vmux_sentinel_replica *out)
{
    const char *ip = field(e, "ip"), *port = field(e, "port"), *flags = field(e, "flags");
    const char *link = field(e, "master-link-status");
    long p = port != NULL ? strtol(port, NULL, 10) : 0;
    if (ip == NULL || ip[0] == '\0' || p <= 0 || p > 65535)
        return false;
    bool down = has_flag(flags, "s_down") || has_flag(flags, "o_down");
    bool unlinked =
        flags == NULL || has_flag(flags, "disconnected") || link == NULL || strcmp(link, "ok") != 0;
    *out = (struct vmux_sentinel_replica){
        .host = ip, .port = (int)p, .usable = !down && !unlinked, .settling = !down && unlinked};
    return true;
}

/* "host:port: <the sentinel's error>", the sentinel user and password masked. */
static void refusal(const struct vmux_sentinel *s, const vmux_reply *r, char *out, size_t size)
{
    char said[256];
    vmux__sentinel_mask(s, r != NULL ? vmux_reply_str(r, NULL) : NULL, "refused", said,
                        sizeof said);
    vmux__errbuf_set(out, size, "%s: %s", vmux__sentinel_query_where(s), said);
}

static void on_replicas(int status, vmux_reply *reply, void *arg)
{
    struct vmux_sentinel *s = arg;
    vmux__sentinel_replicas_fn fn = s->rep_fn;
    void *fn_arg = s->rep_arg;
    s->rep_fn = NULL;
    if (!s->closing)
        uv_timer_stop(&s->rep_timer);
    if (s->closing || fn == NULL) {
        vmux_reply_free(reply);
        return;
    }
    size_t n = status == 0 && vmux_reply_get_kind(reply) == VMUX_REPLY_ARRAY ? vmux_reply_len(reply)
                                                                             : 0,
           k = 0;
    struct vmux_sentinel_replica *reps = calloc(n > 0 ? n : 1, sizeof *reps);
    if (status == 0 && reps == NULL)
        status = VMUX_ERR_NOMEM;
    else if (status == 0 && vmux_reply_get_kind(reply) != VMUX_REPLY_ARRAY)
        status = VMUX_ERR_PROTOCOL;
    for (size_t i = 0; status == 0 && i < n; i++)
        k += parse_replica(vmux_reply_element(reply, i), &reps[k]);
    char why[320];
    if (status == VMUX_ERR_SERVER) {
        refusal(s, reply, why, sizeof why);
        /* another sentinel may allow it: the next question goes there (asked the same one
         * again before, for good, and reads never reached a replica) */
        vmux__link_rotate(s->query, "it refused SENTINEL REPLICAS; asking the next sentinel");
    }
    fn(status, reps, status == 0 ? k : 0, status == VMUX_ERR_SERVER ? why : NULL, fn_arg);
    free(reps);
    vmux_reply_free(reply);
}

/* No answer within connectTimeout: the question moves to the next sentinel, and waits again. */
static void on_replicas_timeout(uv_timer_t *t)
{
    struct vmux_sentinel *s = t->data;
    if (s->closing || s->rep_fn == NULL)
        return;
    if (vmux__link_ready(s->query)) { /* else the link's own connect deadline moves it on */
        vmux__log(s->data_cfg, VMUX_LOG_WARN,
                  "sentinel %s: no answer to SENTINEL REPLICAS within %d ms (connectTimeout); "
                  "asking the next sentinel",
                  s->query->conn->where, s->data_cfg->connect_timeout_ms);
        vmux__link_rotate(s->query, "SENTINEL REPLICAS went unanswered; asking the next sentinel");
    }
    uv_timer_start(&s->rep_timer, on_replicas_timeout, (uint64_t)s->data_cfg->connect_timeout_ms,
                   0);
}

int vmux__sentinel_ask_replicas(struct vmux_sentinel *s, vmux__sentinel_replicas_fn fn, void *arg)
{
    if (s->closing)
        return VMUX_ERR_CLOSED;
    if (s->rep_fn != NULL)
        return VMUX_ERR_INVALID_ARG; /* the caller asks again once the answer came */
    const char *argv[] = {"SENTINEL", "REPLICAS", s->data_cfg->service_name};
    struct vmux_op *op;
    if (vmux__encode_op(3, argv, NULL, &op) != 0)
        return VMUX_ERR_NOMEM;
    op->flags |= VMUX_OP_RETRY_SAFE;
    op->cb = on_replicas;
    op->userdata = s;
    s->rep_fn = fn;
    s->rep_arg = arg;
    uv_timer_start(&s->rep_timer, on_replicas_timeout, (uint64_t)s->data_cfg->connect_timeout_ms,
                   0);
    vmux__link_submit(s->query, op);
    return 0;
}

void vmux__sentinel_set_replicas_hook(struct vmux_sentinel *s, void (*fn)(void *arg), void *arg)
{
    s->rep_hook = fn;
    s->rep_hook_arg = arg;
}
