/* vmux_config_to_string(): a config as text that parses back to it, its password hidden. */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/config_keys.h"
#include "core/strout.h"
#include "core/why.h"
#include "vmux/error.h"

/* The config string being written, and how many items it has so far (for the commas). */
struct out {
    struct vmux_strout s;
    size_t items;
};

static const char *out_sep(struct out *o)
{
    return o->items++ > 0 ? "," : "";
}

bool vmux__config_key_is_default(const vmux_config *cfg, const struct key_def *k)
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
    case KIND_NEAR_MODE:
        return cfg->near_cache_mode == vmux__config_defaults.near_cache_mode;
    case KIND_TLS_VERSIONS:
        return cfg->ssl_protocols == vmux__config_defaults.ssl_protocols;
    default:
        return cfg->backlog_policy == vmux__config_defaults.backlog_policy;
    }
}

static void out_key(struct out *o, const vmux_config *cfg, const struct key_def *k)
{
    const char *sep = out_sep(o);
    switch (k->kind) {
    case KIND_BOOL:
        vmux__strout_put(&o->s, "%s%s=%s", sep, k->name,
                         *(const bool *)cfield(cfg, k) ? "true" : "false");
        break;
    case KIND_TEXT:
        vmux__strout_put(&o->s, "%s%s=%s", sep, k->name, *(char *const *)cfield(cfg, k));
        break;
    case KIND_SECRET:
        vmux__strout_put(&o->s, "%s%s=*****", sep, k->name);
        break;
    case KIND_INT:
        vmux__strout_put(&o->s, "%s%s=%d", sep, k->name, *(const int *)cfield(cfg, k));
        break;
    case KIND_U64:
        vmux__strout_put(&o->s, "%s%s=%" PRIu64, sep, k->name, *(const uint64_t *)cfield(cfg, k));
        break;
    case KIND_CLUSTER:
        vmux__strout_put(&o->s, "%s%s=%s", sep, k->name, vmux__config_cluster_name(cfg->cluster));
        break;
    case KIND_READ_FROM:
        vmux__strout_put(&o->s, "%s%s=%s", sep, k->name,
                         vmux__config_read_from_name(cfg->read_from));
        break;
    case KIND_NEAR_MODE:
        vmux__strout_put(&o->s, "%s%s=%s", sep, k->name,
                         vmux__config_near_mode_name(cfg->near_cache_mode));
        break;
    case KIND_TLS_VERSIONS:
        vmux__strout_put(&o->s, "%s%s=%s", sep, k->name,
                         vmux__config_tls_versions_name(cfg->ssl_protocols));
        break;
    default:
        vmux__strout_put(&o->s, "%s%s=%s", sep, k->name,
                         cfg->backlog_policy == VMUX_BACKLOG_FAIL_FAST ? "failFast" : "queue");
    }
}

int vmux_config_to_string(const vmux_config *cfg, char *buf, size_t len)
{
    if (cfg == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "cfg is NULL");
    if (buf == NULL && len > 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "buf is NULL with len %zu (NULL and 0 measure)",
                             len);
    struct out o = {{buf, len, 0}, 0};
    if (len > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const struct vmux_endpoint *e = &cfg->endpoints[i];
        const char *fmt = strchr(e->host, ':') != NULL ? "%s[%s]:%d" : "%s%s:%d";
        vmux__strout_put(&o.s, fmt, out_sep(&o), e->host, e->port);
    }
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (!vmux__config_key_is_default(cfg, &vmux__config_keys[i]))
            out_key(&o, cfg, &vmux__config_keys[i]);
    }
    /* Not reachable with real hosts and paths, but an int cannot carry more. */
    return o.s.total > INT_MAX ? VMUX_ERR_INVALID_ARG : (int)o.s.total;
}
