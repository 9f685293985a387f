/* vmux__script_own_error() (script_err.h). */
#include "core/script_err.h"

#include <strings.h>
#include <string.h>

/* Whether len bytes at s are exactly text. */
static bool same(const char *s, size_t len, const char *text)
{
    return strlen(text) == len && memcmp(s, text, len) == 0;
}

/* Whether op's command (its RESP bytes, "*N\r\n$L\r\nNAME\r\n...") runs a script or function. */
static bool runs_script(const struct vmux_op *op)
{
    static const char *const names[] = {"EVAL",       "EVALSHA", "EVAL_RO",
                                        "EVALSHA_RO", "FCALL",   "FCALL_RO"};
    const char *p = memchr(op->cmd, '\n', op->len);
    if (op->len < 4 || op->cmd[0] != '*' || p == NULL || (size_t)(p + 1 - op->cmd) >= op->len ||
        p[1] != '$')
        return false;
    const char *end = op->cmd + op->len;
    size_t n = 0;
    for (p += 2; p < end && *p >= '0' && *p <= '9' && n < 100; p++)
        n = n * 10 + (size_t)(*p - '0');
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n' || (size_t)(end - p - 2) < n)
        return false;
    p += 2;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && strncasecmp(p, names[i], n) == 0)
            return true;
    return false;
}

/* "LOADING <name> is loading the dataset in memory", the name one word (Valkey, Redis). */
static bool server_loading(const char *msg, size_t len)
{
    static const char tail[] = " is loading the dataset in memory";
    size_t head = sizeof("LOADING ") - 1, tl = sizeof(tail) - 1;
    if (len <= head + tl || memcmp(msg + len - tl, tail, tl) != 0)
        return false;
    return memchr(msg + head, ' ', len - head - tl) == NULL;
}

/* Whether "MOVED <slot> ..." or "ASK <slot> ..." names op's slot (see script_err.h). */
static bool names_own_slot(const struct vmux_op *op, const char *msg, size_t len)
{
    if (op->slot < -1)
        return true; /* not routed by slot yet */
    const char *p = memchr(msg, ' ', len), *end = msg + len;
    long slot = 0;
    int digits = 0;
    for (p = p != NULL ? p + 1 : end; p < end && *p >= '0' && *p <= '9' && digits < 6; p++) {
        slot = slot * 10 + (*p - '0');
        digits++;
    }
    return digits > 0 && p < end && *p == ' ' && slot == op->slot;
}

/* Whether msg, of class cls, is one the server sends itself before running a command. */
static bool server_text(const struct vmux_op *op, const char *msg, size_t len,
                        enum vmux_errclass cls)
{
    switch (cls) {
    case VMUX_ERRCLASS_TRYAGAIN:
        return same(msg, len, "TRYAGAIN Multiple keys request during rehashing of slot");
    case VMUX_ERRCLASS_CLUSTERDOWN:
        return same(msg, len, "CLUSTERDOWN The cluster is down") ||
               same(msg, len, "CLUSTERDOWN The cluster is down and only accepts read commands") ||
               same(msg, len, "CLUSTERDOWN Hash slot not served");
    case VMUX_ERRCLASS_LOADING:
        return server_loading(msg, len);
    case VMUX_ERRCLASS_MASTERDOWN: /* the second: a script without the allow-stale flag, refused
                                      before it runs (script.c scriptPrepareForRun()) */
        return same(msg, len,
                    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to "
                    "'no'.") ||
               same(msg, len,
                    "MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' "
                    "and 'allow-stale' flag is not set on the script.");
    case VMUX_ERRCLASS_READONLY: /* a script with flags, a function that may write, refused by a
                                    replica before it runs; a write inside one that runs fails
                                    "... script: ...", after what it did before */
        return same(msg, len, "READONLY You can't write against a read only replica.");
    case VMUX_ERRCLASS_MOVED:
    case VMUX_ERRCLASS_ASK:
        return names_own_slot(op, msg, len);
    default: /* UNBLOCKED_FAILOVER: a script never blocks */
        return false;
    }
}

bool vmux__script_own_error(const struct vmux_op *op, const char *msg, size_t len,
                            enum vmux_errclass cls)
{
    if (!vmux__errclass_busy(cls) && cls != VMUX_ERRCLASS_MOVED && cls != VMUX_ERRCLASS_ASK &&
        cls != VMUX_ERRCLASS_READONLY)
        return false;
    if ((op->flags & (VMUX_OP_INTERNAL | VMUX_OP_CONTROL)) || !runs_script(op))
        return false;
    return !server_text(op, msg, len, cls);
}
