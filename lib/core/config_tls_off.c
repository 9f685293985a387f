/* The TLS keys set while TLS is off: named in one WARN as a handle opens (config_internal.h). */
#include <stdio.h>

#include "core/config_keys.h"
#include "core/log.h"

void vmux__config_log_tls_off(const vmux_config *cfg)
{
    if (cfg->ssl || cfg->sentinel_tls) /* sentinelTls alone: the sentinels use them */
        return;
    char names[256] = "";
    size_t used = 0, count = 0;
    for (int i = KEY_SSL_HOST; i <= KEY_SSL_PROTOCOLS && used < sizeof names; i++) {
        if (vmux__config_key_is_default(cfg, &vmux__config_keys[i]))
            continue;
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", count++ > 0 ? ", " : "",
                                 vmux__config_keys[i].name);
    }
    if (count > 0)
        vmux__log(cfg, VMUX_LOG_WARN,
                  "%s %s set but ssl=false: connections are NOT encrypted; set ssl=true to use %s",
                  names, count > 1 ? "are" : "is", count > 1 ? "them" : "it");
}
