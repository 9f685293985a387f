/* The config's callbacks: logging, connection events and a credentials provider. */
#include <stdarg.h>

#include "core/config_internal.h"
#include "core/why.h"
#include "vmux/error.h"

int vmux_config_set_log(vmux_config *cfg, vmux_log_fn fn, vmux_log_level min_level, void *userdata)
{
    if (cfg == NULL || min_level < VMUX_LOG_DEBUG || min_level > VMUX_LOG_ERROR)
        return VMUX_ERR_INVALID_ARG;
    cfg->log_fn = fn;
    cfg->log_level = min_level;
    cfg->log_userdata = userdata;
    return 0;
}

int vmux_config_set_event_handler(vmux_config *cfg, vmux_event_fn fn, void *userdata)
{
    if (cfg == NULL)
        return VMUX_ERR_INVALID_ARG;
    cfg->event_fn = fn;
    cfg->event_userdata = userdata;
    return 0;
}

int vmux_config_set_credentials_provider(vmux_config *cfg, vmux_credentials_fn fn, void *userdata)
{
    if (cfg == NULL)
        return VMUX_ERR_INVALID_ARG;
    cfg->credentials_fn = fn;
    cfg->credentials_userdata = userdata;
    return 0;
}

int vmux_credentials_failed(int rc, const char *fmt, ...)
{
    vmux__why_begin();
    if (fmt == NULL)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vmux__why_vset(rc, fmt, ap);
    va_end(ap);
    return rc;
}
