/* The config's callbacks: logging, connection events and a credentials provider. */
#include <stdarg.h>

#include "core/config_internal.h"
#include "core/why.h"
#include "vmux/error.h"

/* A callback setter's refusal of a NULL cfg, with words (why.h; a success leaves the thread's
 * words as they were, as the typed setters do: config_access.c); 0 for any other. */
static int begin(const vmux_config *cfg)
{
    return cfg == NULL ? vmux__why_set(VMUX_ERR_INVALID_ARG, "cfg is NULL") : 0;
}

int vmux_config_set_log(vmux_config *cfg, vmux_log_fn fn, vmux_log_level min_level, void *userdata)
{
    if (begin(cfg) != 0)
        return VMUX_ERR_INVALID_ARG;
    if (min_level < VMUX_LOG_DEBUG || min_level > VMUX_LOG_ERROR)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "min_level is %d: none of vmux_log_level",
                             (int)min_level);
    cfg->log_fn = fn;
    cfg->log_level = min_level;
    cfg->log_userdata = userdata;
    return 0;
}

int vmux_config_set_event_handler(vmux_config *cfg, vmux_event_fn fn, void *userdata)
{
    if (begin(cfg) != 0)
        return VMUX_ERR_INVALID_ARG;
    cfg->event_fn = fn;
    cfg->event_userdata = userdata;
    return 0;
}

int vmux_config_set_credentials_provider(vmux_config *cfg, vmux_credentials_fn fn, void *userdata)
{
    if (begin(cfg) != 0)
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
    vmux__why_vput(rc, fmt, ap);
    va_end(ap);
    return rc;
}
