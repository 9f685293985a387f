/* vmux_config_to_string(): a config as text that parses back to it, its password hidden. */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/config_keys.h"
#include "vmux/error.h"

/* An snprintf-like appender: counts every byte, writes what fits. */
struct out {
    char *buf;
    size_t len;
    size_t total;
    size_t items;
};

static void out_put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *at = o->total < o->len ? o->buf + o->total : NULL;
    int n = vsnprintf(at, at != NULL ? o->len - o->total : 0, fmt, ap);
    va_end(ap);
    o->total += n > 0 ? (size_t)n : 0;
}

static const char *out_sep(struct out *o)
{
    return o->items++ > 0 ? "," : "";
}

static bool is_default(const vmux_config *cfg, const struct key_def *k)
{
    switch (k->kind) {
    case KIND_BOOL:
        return *(const bool *)cfield(cfg, k) == *(const bool *)cfield(&vmux__config_defaults, k);
    case KIND_TEXT:
    case KIND_SECRET:
        return *(char *const *)cfield(cfg, k) == NULL;
    case KIND_INT:
        return *(const int *)cfield(cfg, k) == *(const int *)cfield(&vmux__config_defaults, k);
    case KIND_U64:
        return *(const uint64_t *)cfield(cfg, k) ==
               *(const uint64_t *)cfield(&vmux__config_defaults, k);
    case KIND_CLUSTER:
        return cfg->cluster == vmux__config_defaults.cluster;
    case KIND_READ_FROM:
        return cfg->read_from == vmux__config_defaults.read_from;
    default:
        return cfg->backlog_policy == vmux__config_defaults.backlog_policy;
    }
}

static void out_key(struct out *o, const vmux_config *cfg, const struct key_def *k)
{
    const char *sep = out_sep(o);
    switch (k->kind) {
    case KIND_BOOL:
        out_put(o, "%s%s=%s", sep, k->name, *(const bool *)cfield(cfg, k) ? "true" : "false");
        break;
    case KIND_TEXT:
        out_put(o, "%s%s=%s", sep, k->name, *(char *const *)cfield(cfg, k));
        break;
    case KIND_SECRET:
        out_put(o, "%s%s=*****", sep, k->name);
        break;
    case KIND_INT:
        out_put(o, "%s%s=%d", sep, k->name, *(const int *)cfield(cfg, k));
        break;
    case KIND_U64:
        out_put(o, "%s%s=%" PRIu64, sep, k->name, *(const uint64_t *)cfield(cfg, k));
        break;
    case KIND_CLUSTER:
        out_put(o, "%s%s=%s", sep, k->name, vmux__config_cluster_name(cfg->cluster));
        break;
    case KIND_READ_FROM:
        out_put(o, "%s%s=%s", sep, k->name, vmux__config_read_from_name(cfg->read_from));
        break;
    default:
        out_put(o, "%s%s=%s", sep, k->name,
                cfg->backlog_policy == VMUX_BACKLOG_FAIL_FAST ? "failFast" : "queue");
    }
}

int vmux_config_to_string(const vmux_config *cfg, char *buf, size_t len)
{
    if (cfg == NULL || (buf == NULL && len > 0))
        return VMUX_ERR_INVALID_ARG;
    struct out o = {buf, len, 0, 0};
    if (len > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const struct vmux_endpoint *e = &cfg->endpoints[i];
        const char *fmt = strchr(e->host, ':') != NULL ? "%s[%s]:%d" : "%s%s:%d";
        out_put(&o, fmt, out_sep(&o), e->host, e->port);
    }
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (!is_default(cfg, &vmux__config_keys[i]))
            out_key(&o, cfg, &vmux__config_keys[i]);
    }
    /* Not reachable with real hosts and paths, but an int cannot carry more. */
    return o.total > INT_MAX ? VMUX_ERR_INVALID_ARG : (int)o.total;
}
