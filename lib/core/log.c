#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

void vmux__log(const struct vmux_config *cfg, vmux_log_level level, const char *fmt, ...)
{
    if (cfg->log_fn == NULL || level < cfg->log_level)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    cfg->log_fn(level, line, cfg->log_userdata);
}

void vmux__event(const struct vmux_config *cfg, vmux_event_type type, int code,
                 const char *endpoint, const char *reason)
{
    if (cfg->event_fn == NULL)
        return;
    vmux_event ev = {type, code, endpoint != NULL ? endpoint : "", reason != NULL ? reason : ""};
    cfg->event_fn(&ev, cfg->event_userdata);
}
